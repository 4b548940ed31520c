//! `moor scan tls` against real servers on loopback: a Mooring server (a certificate our
//! CA issued), and `openssl s_server` with a self-signed RSA-2048, an expired and an
//! RSA-1024 certificate; a closed port, a CIDR block and a bad target. Every recorded leaf
//! fingerprint is checked against `openssl x509 -fingerprint -sha256` of the file served.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{Home, run, scratch, tool};

/// An `openssl s_server`, killed when dropped.
pub(crate) struct SServer(Child);

impl Drop for SServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback port nothing listens on (bound, then released).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// `openssl s_server -www` with `cert`/`key` on 127.0.0.1:`port`, once it accepts.
pub(crate) fn s_server(dir: &Path, name: &str, port: u16) -> SServer {
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).expect("log");
    let child = Command::new(tool("openssl"))
        .args(["s_server", "-accept", &format!("127.0.0.1:{port}"), "-cert"])
        .arg(dir.join(format!("{name}.pem")))
        .arg("-key")
        .arg(dir.join(format!("{name}.key")))
        // RSA-1024 is below the default security level of some distributions.
        .args(["-www", "-cipher", "DEFAULT:@SECLEVEL=0"])
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("spawn openssl s_server");
    let server = SServer(child);
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "openssl s_server {name} did not start: {}",
            std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

/// A self-signed certificate `name.pem` with key `name.key`; `wrapper` runs openssl
/// (e.g. under faketime).
pub(crate) fn self_signed(dir: &Path, name: &str, key: &[&str], days: &str, wrapper: &[&str]) {
    let openssl = tool("openssl");
    let cert = dir.join(format!("{name}.pem")).display().to_string();
    let keyf = dir.join(format!("{name}.key")).display().to_string();
    let subj = format!("/CN={name}.scan.test");
    let mut args: Vec<&str> = vec!["req", "-x509", "-nodes"];
    args.extend_from_slice(key);
    args.extend_from_slice(&[
        "-keyout", &keyf, "-out", &cert, "-days", days, "-subj", &subj,
    ]);
    let (code, text) = match wrapper.split_first() {
        Some((w, wargs)) => {
            let mut a: Vec<String> = wargs.iter().map(|s| s.to_string()).collect();
            a.push(openssl.display().to_string());
            a.extend(args.iter().map(|s| s.to_string()));
            let refs: Vec<&str> = a.iter().map(|s| s.as_str()).collect();
            run(&tool(w), &refs)
        }
        None => run(&openssl, &args),
    };
    assert_eq!(code, 0, "openssl req {name}: {text}");
}

/// `openssl x509 -fingerprint -sha256` of the first certificate in `pem`, lower-case hex.
pub(crate) fn fingerprint(pem: &Path) -> String {
    let (code, text) = run(
        &tool("openssl"),
        &[
            "x509",
            "-in",
            &pem.display().to_string(),
            "-noout",
            "-fingerprint",
            "-sha256",
        ],
    );
    assert_eq!(code, 0, "{text}");
    text.trim()
        .rsplit_once('=')
        .map(|(_, f)| f.replace(':', "").to_ascii_lowercase())
        .expect("fingerprint line")
}

fn by_port(results: &[Value], port: u16) -> &Value {
    let hits: Vec<&Value> = results
        .iter()
        .filter(|r| r["port"].as_u64() == Some(u64::from(port)))
        .collect();
    assert_eq!(hits.len(), 1, "one result for port {port}: {results:?}");
    hits[0]
}

#[test]
fn scan_tls_records_every_chain_trusted_or_not() {
    let dir = scratch();
    let d = dir.path();
    let home = Home::new(None);
    let server = home.serve();
    let mooring_port: u16 = server
        .https
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .expect("https port");

    self_signed(d, "rsa2048", &["-newkey", "rsa:2048"], "30", &[]);
    self_signed(
        d,
        "expired",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "1",
        &["faketime", "2020-01-01 00:00:00"],
    );
    self_signed(d, "rsa1024", &["-newkey", "rsa:1024"], "30", &[]);
    let (p_self, p_expired, p_weak, p_closed) =
        (free_port(), free_port(), free_port(), free_port());
    let _s1 = s_server(d, "rsa2048", p_self);
    let _s2 = s_server(d, "expired", p_expired);
    let _s3 = s_server(d, "rsa1024", p_weak);

    let ports = format!("{mooring_port},{p_self},{p_expired},{p_weak},{p_closed}");
    let v = home.moor_json(&[
        "scan",
        "tls",
        "--targets",
        "127.0.0.1",
        "--ports",
        &ports,
        "--timeout",
        "3s",
    ]);
    let results = v.as_array().expect("a JSON array").clone();
    assert_eq!(results.len(), 5, "{v:#}");
    for r in &results {
        assert_eq!(r["address"], "127.0.0.1", "{r:#}");
        assert!(r["sni"].is_null(), "{r:#}");
    }

    // Our own server: a leaf issued by our intermediate, the intermediate sent with it.
    let m = by_port(&results, mooring_port);
    assert_eq!(m["reachable"], true, "{m:#}");
    assert!(m["error"].is_null(), "{m:#}");
    assert!(
        m["tls_version"]
            .as_str()
            .is_some_and(|t| t.starts_with("TLSv1.")),
        "{m:#}"
    );
    let chain = m["chain"].as_array().expect("chain");
    assert!(chain.len() >= 2, "{m:#}");
    assert_eq!(chain[0]["position"], "leaf");
    assert_eq!(chain[1]["position"], "intermediate");
    assert_eq!(chain[0]["issuer"], chain[1]["subject"], "{m:#}");
    assert_eq!(chain[0]["self_signed"], false);
    assert_eq!(chain[0]["expired"], false);
    assert_eq!(
        chain[0]["fingerprint_sha256"],
        fingerprint(&home.file("certs/server-tls.pem")),
        "{m:#}"
    );
    let cas = home.moor_json(&["ca", "list"]);
    let intermediate = cas
        .as_array()
        .expect("issuers")
        .iter()
        .find(|c| c["kind"] == "intermediate")
        .expect("an intermediate");
    assert_eq!(
        chain[1]["fingerprint_sha256"], intermediate["fingerprint"],
        "{m:#}"
    );
    assert_eq!(
        chain[1]["fingerprint_sha256"],
        fingerprint(&home.file("certs/default.pem"))
    );
    assert!(
        chain[0]["sans"].as_array().is_some_and(|s| !s.is_empty()),
        "{m:#}"
    );

    // Self-signed RSA-2048.
    let s = by_port(&results, p_self);
    assert_eq!(s["reachable"], true, "{s:#}");
    assert!(s["error"].is_null(), "{s:#}");
    let leaf = &s["chain"][0];
    assert_eq!(leaf["self_signed"], true, "{s:#}");
    assert_eq!(leaf["key_algorithm"], "rsa-2048", "{s:#}");
    assert_eq!(
        leaf["signature_algorithm"], "sha256WithRSAEncryption",
        "{s:#}"
    );
    assert_eq!(leaf["subject"], "CN=rsa2048.scan.test", "{s:#}");
    assert_eq!(leaf["expired"], false);
    assert_eq!(
        leaf["fingerprint_sha256"],
        fingerprint(&d.join("rsa2048.pem"))
    );

    // Expired (made under faketime in 2020, valid one day).
    let e = by_port(&results, p_expired);
    assert_eq!(e["reachable"], true, "{e:#}");
    assert!(e["error"].is_null(), "{e:#}");
    let leaf = &e["chain"][0];
    assert_eq!(leaf["expired"], true, "{e:#}");
    assert_eq!(leaf["key_algorithm"], "ecdsa-p256", "{e:#}");
    assert_eq!(leaf["signature_algorithm"], "ecdsa-with-SHA256", "{e:#}");
    assert!(
        leaf["not_after"]
            .as_i64()
            .is_some_and(|t| t < 1_600_000_000),
        "{e:#}"
    );
    assert_eq!(
        leaf["fingerprint_sha256"],
        fingerprint(&d.join("expired.pem"))
    );

    // RSA-1024: the chain is recorded even though the handshake signature of a key that
    // short is refused by the verifier (the error says so).
    let w = by_port(&results, p_weak);
    assert_eq!(w["reachable"], true, "{w:#}");
    let leaf = &w["chain"][0];
    assert_eq!(leaf["key_algorithm"], "rsa-1024", "{w:#}");
    assert_eq!(
        leaf["fingerprint_sha256"],
        fingerprint(&d.join("rsa1024.pem"))
    );

    // Closed port.
    let c = by_port(&results, p_closed);
    assert_eq!(c["reachable"], false, "{c:#}");
    assert!(c["error"].as_str().is_some_and(|e| !e.is_empty()), "{c:#}");
    assert_eq!(c["chain"].as_array().map(Vec::len), Some(0));

    // The text form: one line per endpoint.
    let text = home.moor_ok(&[
        "scan",
        "tls",
        "--targets",
        &format!("127.0.0.1:{p_self},127.0.0.1:{p_closed}"),
        "--timeout",
        "3s",
    ]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with(&format!("127.0.0.1:{p_self} "))
            && lines[0].contains("CN=rsa2048.scan.test")
            && lines[0].contains("rsa-2048"),
        "{text}"
    );
    assert!(
        lines[1].starts_with(&format!("127.0.0.1:{p_closed} ")),
        "{text}"
    );

    // A CIDR block: every address of it, in order.
    let v = home.moor_json(&[
        "scan",
        "tls",
        "--targets",
        "127.0.0.0/30",
        "--ports",
        &p_closed.to_string(),
        "--timeout",
        "3s",
    ]);
    let addrs: Vec<&str> = v
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|r| r["address"].as_str())
        .collect();
    assert_eq!(
        addrs,
        ["127.0.0.0", "127.0.0.1", "127.0.0.2", "127.0.0.3"],
        "{v:#}"
    );

    // A bad target is refused, named, before anything is scanned.
    for bad in ["300.1.1.1", "10.0.0.0/8", "[::1", "host:99999"] {
        let out = home.moor(&["scan", "tls", "--targets", bad]);
        assert!(!out.status.success(), "{bad} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(bad) || err.contains("65536"), "{bad}: {err}");
        assert!(!err.contains("panicked"), "{bad}: {err}");
    }
    drop(server);
}
