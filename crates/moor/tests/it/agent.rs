//! `moor agent` against a live server (issue 5 item 6): a certificate obtained with a
//! bootstrap token, then renewed again and again (5-minute certificates backdated by a
//! minute, renewed at 22% of their life, 6 s after issuance) with a new key and the hook
//! run each time; with the server down the files stay untouched and the agent backs off,
//! then renews when the server is back.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::harness::{Home, Server, moor_bin, openssl_verify, scratch, split_pem};

const PROFILE: &str = "[profiles.agent-short]\nkey_algorithms = [\"ecdsa-p256\"]\ndefault_lifetime = \"5m\"\nmax_lifetime = \"5m\"\nextended_key_usage = [\"server-auth\", \"client-auth\"]\nsan_types = [\"dns\"]\nrenewal_requires_new_key = true\n";

fn agent(args: &[&str]) -> (i32, Value, String) {
    let out = Command::new(moor_bin())
        .args(["--output", "json", "agent"])
        .args(args)
        .env("MOORING_LOG", "warn")
        .output()
        .expect("run moor agent");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_str(&stdout).unwrap_or(Value::Null),
        format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)),
    )
}

fn outcome(v: &Value) -> String {
    v[0]["outcome"].as_str().unwrap_or_default().to_string()
}

fn serial(cert_file: &Path) -> String {
    let pem = std::fs::read_to_string(cert_file).expect("cert");
    let der = x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .expect("pem")
        .1
        .contents;
    let (_, c) = x509_parser::parse_x509_certificate(&der).expect("cert");
    hex::encode(c.raw_serial())
}

/// Run `--once` until the outcome starts with `want` (renewal times are seconds away).
fn once_until(config: &str, want: &str) -> Value {
    for _ in 0..40 {
        let (_, v, text) = agent(&["run", "--config", config, "--once"]);
        if outcome(&v).starts_with(want) {
            return v;
        }
        assert!(
            outcome(&v).starts_with("Fresh") || want == "Failed",
            "unexpected: {text}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!("no {want} within 20 s");
}

#[tokio::test(flavor = "multi_thread")]
async fn agent_obtains_renews_with_new_keys_runs_hooks_and_survives_an_outage() {
    let home = Home::new(Some(PROFILE));
    let server = home.serve();
    let token = home.moor_json(&[
        "token",
        "create",
        "--profile",
        "agent-short",
        "--san",
        "*.agent.example.com",
        "--uses",
        "2",
        "--ttl",
        "1h",
    ])["token"]
        .as_str()
        .expect("token")
        .to_string();
    let work = scratch();
    let dir = work.path();
    std::fs::write(dir.join("token"), &token).expect("token");
    let (cert, key, hook_log) = (
        dir.join("tls/web.pem"),
        dir.join("tls/web.key"),
        dir.join("hook.log"),
    );
    let config = dir.join("agent.toml");
    let write_config = |base: &str| {
        std::fs::write(
            &config,
            format!(
                "server = \"{base}\"\nca_bundle = \"{}\"\nstate_file = \"{}\"\nrenew_fraction = 0.22\njitter_fraction = 0.0\nmax_backoff_secs = 2\n\n[[certificate]]\nname = \"web\"\ncert = \"{}\"\nkey = \"{}\"\nnames = [\"web.agent.example.com\"]\nprofile = \"agent-short\"\nmethod = \"bootstrap-token\"\ntoken_file = \"{}\"\nhook = \"echo \\\"$MOOR_NAME\\\" >> {}\"\n",
                home.file("roots.pem").display(),
                dir.join("state.json").display(),
                cert.display(),
                key.display(),
                dir.join("token").display(),
                hook_log.display(),
            ),
        )
        .expect("config");
    };
    write_config(&server.base);
    let cfg = config.to_str().expect("path");
    let hooks = || {
        std::fs::read_to_string(&hook_log)
            .unwrap_or_default()
            .lines()
            .count()
    };

    // Obtained with the token: the files, the key 0600, the hook once.
    let (code, v, text) = agent(&["run", "--config", cfg, "--once"]);
    assert_eq!((code, outcome(&v).as_str()), (0, "Obtained"), "{text}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key).expect("key").permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(hooks(), 1);
    let pem = std::fs::read_to_string(&cert).expect("cert");
    let parts = split_pem(&pem);
    let (vc, vt) = openssl_verify(dir, &server.roots_pem, &parts[1..].concat(), &parts[0], &[]);
    assert_eq!(vc, 0, "{vt}");
    // Not due yet.
    let (_, v, _) = agent(&["run", "--config", cfg, "--once"]);
    assert!(outcome(&v).starts_with("Fresh"), "{v}");

    // Renewed twice over mTLS (the single-use token is spent): new serial, new key, hook.
    for round in 2..=3 {
        let (s0, k0) = (serial(&cert), std::fs::read(&key).expect("key"));
        once_until(cfg, "Renewed");
        assert_ne!(serial(&cert), s0, "round {round}");
        assert_ne!(
            std::fs::read(&key).expect("key"),
            k0,
            "a new key in round {round}"
        );
        assert_eq!(hooks(), round);
    }

    // The server goes away when a renewal is due: nothing is touched, the agent backs off.
    let (s0, k0, c0) = (
        serial(&cert),
        std::fs::read(&key).expect("key"),
        std::fs::read(&cert).expect("cert"),
    );
    drop(server);
    let v = once_until(cfg, "Failed");
    assert!(
        v[0]["outcome"]
            .as_str()
            .unwrap_or_default()
            .contains("unreachable"),
        "{v}"
    );
    assert_eq!(
        std::fs::read(&cert).expect("cert"),
        c0,
        "certificate untouched"
    );
    assert_eq!(std::fs::read(&key).expect("key"), k0, "key untouched");
    let (_, status, _) = agent(&["status", "--config", cfg]);
    assert!(status[0]["failures"].as_u64().unwrap_or(0) >= 1, "{status}");
    assert!(status[0]["not_after"].as_i64().is_some(), "{status}");

    // Back (same home, new port): renewed after the backoff.
    let server = Server::start(&home);
    write_config(&server.base);
    std::thread::sleep(Duration::from_secs(3));
    once_until(cfg, "Renewed");
    assert_ne!(serial(&cert), s0);
    assert_eq!(hooks(), 4);
    let (_, status, _) = agent(&["status", "--config", cfg]);
    assert_eq!(status[0]["failures"].as_u64(), Some(0), "{status}");

    // A key that is not the certificate's (as a crash between the two renames would leave):
    // the agent starts over with its token (the second use).
    let stray = dir.join("stray.key");
    let (c, t) = crate::harness::run(
        &crate::harness::tool("openssl"),
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            stray.to_str().expect("p"),
        ],
    );
    assert_eq!(c, 0, "{t}");
    std::fs::copy(&stray, &key).expect("stray key");
    let (code, v, text) = agent(&["run", "--config", cfg, "--once"]);
    assert_eq!((code, outcome(&v).as_str()), (0, "Obtained"), "{text}");
    let (vc, vt) = {
        let pem = std::fs::read_to_string(&cert).expect("cert");
        let parts = split_pem(&pem);
        openssl_verify(dir, &server.roots_pem, &parts[1..].concat(), &parts[0], &[])
    };
    assert_eq!(vc, 0, "{vt}");
}

/// The same agent speaking EST: `simpleenroll` with the token, then `simplereenroll` with
/// the certificate it holds.
#[tokio::test(flavor = "multi_thread")]
async fn agent_over_est_obtains_and_renews() {
    let home = Home::new(Some(PROFILE));
    let server = home.serve();
    let token = home.moor_json(&[
        "token",
        "create",
        "--profile",
        "agent-short",
        "--san",
        "est.agent.example.com",
        "--uses",
        "1",
        "--ttl",
        "1h",
    ])["token"]
        .as_str()
        .expect("token")
        .to_string();
    let work = scratch();
    let dir = work.path();
    std::fs::write(dir.join("token"), &token).expect("token");
    let (cert, key) = (dir.join("est.pem"), dir.join("est.key"));
    let config = dir.join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "server = \"{}\"\nca_bundle = \"{}\"\nstate_file = \"{}\"\nrenew_fraction = 0.22\njitter_fraction = 0.0\n\n[[certificate]]\nname = \"est\"\ncert = \"{}\"\nkey = \"{}\"\nnames = [\"est.agent.example.com\"]\nprofile = \"agent-short\"\nmethod = \"est\"\ntoken_file = \"{}\"\n",
            server.base,
            home.file("roots.pem").display(),
            dir.join("state.json").display(),
            cert.display(),
            key.display(),
            dir.join("token").display(),
        ),
    )
    .expect("config");
    let cfg = config.to_str().expect("path");
    let (code, v, text) = agent(&["run", "--config", cfg, "--once"]);
    assert_eq!((code, outcome(&v).as_str()), (0, "Obtained"), "{text}");
    let pem = std::fs::read_to_string(&cert).expect("cert");
    let parts = split_pem(&pem);
    assert_eq!(parts.len(), 2, "leaf and issuer from the PKCS#7");
    let (vc, vt) = openssl_verify(dir, &server.roots_pem, &parts[1], &parts[0], &[]);
    assert_eq!(vc, 0, "{vt}");
    let s0 = serial(&cert);
    once_until(cfg, "Renewed");
    assert_ne!(serial(&cert), s0);
    let (_, rec) = server
        .get(&format!(
            "/api/v1/certificates/{}",
            serial(&cert).trim_start_matches("00")
        ))
        .await;
    assert_eq!(
        rec["requester"],
        format!("renew:{}", s0.trim_start_matches("00")),
        "{rec}"
    );
}

/// The agent as an ACME client: http-01 on its own listener, then early renewal (a new
/// order that `replaces` the certificate) as soon as the admin opens the ARI window.
#[tokio::test(flavor = "multi_thread")]
async fn agent_over_acme_renews_when_the_ari_window_opens() {
    let dns = crate::acme::ChallTestSrv::start();
    let http01 = crate::acme::free_tcp_port();
    let home = crate::acme::acme_home(dns.dns, http01, "");
    let server = home.serve();
    let work = scratch();
    let dir = work.path();
    let cert = dir.join("acme.pem");
    let config = dir.join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "server = \"{}\"\nca_bundle = \"{}\"\nstate_file = \"{}\"\n\n[[certificate]]\nname = \"site\"\ncert = \"{}\"\nkey = \"{}\"\nnames = [\"agent-acme.example.com\"]\nprofile = \"tls-server\"\nmethod = \"acme\"\nhttp01_listen = \"127.0.0.1:{http01}\"\n",
            server.base,
            home.file("roots.pem").display(),
            dir.join("state.json").display(),
            cert.display(),
            dir.join("acme.key").display(),
        ),
    )
    .expect("config");
    let cfg = config.to_str().expect("path");
    let (code, v, text) = agent(&["run", "--config", cfg, "--once"]);
    assert_eq!((code, outcome(&v).as_str()), (0, "Obtained"), "{text}");
    let s0 = serial(&cert);
    let (_, rec) = server
        .get(&format!(
            "/api/v1/certificates/{}",
            s0.trim_start_matches("00")
        ))
        .await;
    assert!(
        rec["requester"]
            .as_str()
            .unwrap_or_default()
            .starts_with("acme:"),
        "{rec}"
    );
    // A 90-day certificate is not due…
    let (_, v, _) = agent(&["run", "--config", cfg, "--once"]);
    assert!(outcome(&v).starts_with("Fresh"), "{v}");
    // … until the admin moves its renewal window to now.
    home.moor_ok(&[
        "acme",
        "renew-now",
        "--serial",
        s0.trim_start_matches("00"),
        "--window",
        "1m",
    ]);
    // The agent picks its own time inside the window (RFC 9773 §4.2): within a minute.
    let mut renewed = false;
    let mut last = String::new();
    for _ in 0..75 {
        let (code, v, text) = agent(&["run", "--config", cfg, "--once"]);
        if code == 0 && outcome(&v) == "Renewed" {
            renewed = true;
            break;
        }
        assert!(outcome(&v).starts_with("Fresh"), "{text}");
        last = text;
        std::thread::sleep(Duration::from_secs(1));
    }
    assert!(renewed, "not renewed inside the one-minute window: {last}");
    assert_ne!(serial(&cert), s0);
    let pem = std::fs::read_to_string(&cert).expect("cert");
    let parts = split_pem(&pem);
    let (vc, vt) = openssl_verify(dir, &server.roots_pem, &parts[1..].concat(), &parts[0], &[]);
    assert_eq!(vc, 0, "{vt}");
    // The same account both times (its key kept beside the state file).
    assert!(dir.join("state.acme-account.key").exists());
    // The order `replaces` the old certificate: the inventory calls it superseded.
    let (s, v) = server.get("/api/v1/inventory?q=status%3Dsuperseded").await;
    assert_eq!(s, 200, "{v}");
    let superseded: Vec<&str> = v["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["serial_hex"].as_str())
        .collect();
    // (The store keeps serials without a DER sign byte.)
    let bare = |s: &str| s.strip_prefix("00").unwrap_or(s).to_string();
    assert_eq!(superseded, vec![bare(&s0).as_str()], "{v}");
    assert_eq!(
        v["items"][0]["superseded_by"],
        bare(&serial(&cert)).as_str(),
        "{v}"
    );
}
