//! Enrollment with bootstrap tokens (issue 5 item 1): `moor token create --profile …`,
//! `POST /api/v1/enroll` with the token as bearer credential, a single-use token raced by
//! two clients (and by two nodes on one PostgreSQL) issuing once, and forged, expired,
//! revoked, used-up and out-of-scope tokens refused with 401 and an audit entry.

use serde_json::{Value, json};

use crate::harness::{Home, Server, openssl_csr, openssl_verify, pkilint, scratch, split_pem};

fn csr(dir: &std::path::Path, name: &str) -> String {
    openssl_csr(
        dir,
        &name.replace('.', "_"),
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        &format!("/CN={name}"),
        &format!("DNS:{name}"),
    )
}

async fn enroll(server: &Server, token: &str, csr_pem: &str) -> (u16, Value) {
    let r = server
        .client
        .post(server.url("/api/v1/enroll"))
        .bearer_auth(token)
        .json(&json!({ "csr": csr_pem }))
        .send()
        .await
        .expect("enroll");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn bootstrap(home: &Home, sans: &[&str], uses: &str) -> Value {
    let mut args = vec![
        "token",
        "create",
        "--profile",
        "tls-server",
        "--uses",
        uses,
        "--ttl",
        "1h",
        "--owner",
        "team-edge",
    ];
    for s in sans {
        args.extend(["--san", s]);
    }
    home.moor_json(&args)
}

/// Audit entries with `action`, read from the server's SQLite store.
async fn audit_actions(home: &Home, action: &str) -> Vec<moor_store::AuditEntry> {
    let store = moor_store::Database::Sqlite(home.path().join("mooring.db"))
        .open()
        .await
        .expect("store");
    store
        .audit_entries(0, i64::MAX)
        .await
        .expect("audit")
        .into_iter()
        .filter(|e| e.action == action)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn bootstrap_token_enrolls_once_and_refusals_are_401_and_audited() {
    let home = Home::new(None);
    let server = home.serve();
    let work = scratch();
    let dir = work.path();

    // A single-use token for *.devices.example.com, raced by two clients.
    let t = bootstrap(&home, &["*.devices.example.com"], "1");
    let token = t["token"].as_str().expect("token").to_string();
    assert!(token.starts_with("mbt_btk"), "{t}");
    let (a, b) = (
        csr(dir, "a.devices.example.com"),
        csr(dir, "b.devices.example.com"),
    );
    let ((sa, va), (sb, vb)) =
        tokio::join!(enroll(&server, &token, &a), enroll(&server, &token, &b));
    let mut statuses = [sa, sb];
    statuses.sort();
    assert_eq!(statuses, [201, 401], "{va} {vb}");
    let issued = if sa == 201 { va } else { vb };
    let leaf = issued["certificate"].as_str().expect("certificate");
    let chain = issued["chain"].as_str().expect("chain");
    let (code, text) = openssl_verify(dir, &server.roots_pem, chain, leaf, &[]);
    assert_eq!(code, 0, "{text}");
    assert!(pkilint(dir, "lint_pkix_cert", &[], &[leaf]).is_empty());
    let issuer = split_pem(chain).remove(0);
    assert!(
        pkilint(
            dir,
            "lint_pkix_signer_signee_cert_chain",
            &[],
            &[&issuer, leaf]
        )
        .is_empty()
    );
    let (s, rec) = server
        .get(&format!(
            "/api/v1/certificates/{}",
            issued["serial"].as_str().expect("serial")
        ))
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        rec["requester"],
        format!("bootstrap:{}", t["id"].as_str().expect("id"))
    );
    // Used up now.
    let (s, v) = enroll(&server, &token, &csr(dir, "c.devices.example.com")).await;
    assert_eq!((s, v["code"].as_str()), (401, Some("unauthorized")), "{v}");

    // A three-use token: a name outside its scope is refused and costs no use.
    let t3 = bootstrap(&home, &["*.devices.example.com", "gw.example.com"], "3");
    let token3 = t3["token"].as_str().expect("token").to_string();
    let (s, v) = enroll(&server, &token3, &csr(dir, "evil.example.com")).await;
    assert_eq!(s, 401, "{v}");
    let (s, v) = enroll(&server, &token3, &csr(dir, "gw.example.com")).await;
    assert_eq!(s, 201, "{v}");
    // A pattern covers the machines under it, not a wildcard certificate for all of them.
    let (s, v) = enroll(&server, &token3, &csr(dir, "*.devices.example.com")).await;
    assert_eq!(s, 401, "wildcard from a pattern: {v}");
    // Forged: right id, wrong secret; and junk.
    let id3 = t3["id"].as_str().expect("id");
    let forged = format!("mbt_{id3}_{}", "A".repeat(43));
    let (s, v) = enroll(&server, &forged, &csr(dir, "d.devices.example.com")).await;
    assert_eq!(s, 401);
    assert_eq!(
        v["message"], "unauthorized: bootstrap token refused",
        "the reason is for the audit log only"
    );
    let (s, _) = enroll(&server, "not-a-token", &csr(dir, "d.devices.example.com")).await;
    assert_eq!(s, 401);
    let r = server
        .client
        .post(server.url("/api/v1/enroll"))
        .json(&json!({"csr": csr(dir, "d.devices.example.com")}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 401, "no credential");
    // An admin token is not a bootstrap token.
    let (s, _) = enroll(&server, &home.token(), &csr(dir, "d.devices.example.com")).await;
    assert_eq!(s, 401);

    // Listed without secrets (CLI and REST), then revoked: refused.
    let listed = home.moor_json(&["token", "list"]);
    let row = listed
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["id"] == id3)
        .expect("listed");
    assert_eq!(
        (row["uses"].as_i64(), row["max_uses"].as_i64()),
        (Some(1), Some(3))
    );
    assert!(
        !listed.to_string().contains(&token3[20..]),
        "no secret in the list"
    );
    let (s, rest) = server.get("/api/v1/bootstrap-tokens").await;
    assert_eq!(s, 200);
    assert!(
        rest.as_array()
            .expect("rows")
            .iter()
            .all(|r| r.get("token").is_none())
    );
    let (s, _) = server
        .post(
            &format!("/api/v1/bootstrap-tokens/{id3}/revoke"),
            &json!({}),
        )
        .await;
    assert_eq!(s, 204);
    let (s, _) = enroll(&server, &token3, &csr(dir, "e.devices.example.com")).await;
    assert_eq!(s, 401);

    // Tokens made over REST work the same; the secret is in the creation answer only.
    let (s, made) = server
        .post(
            "/api/v1/bootstrap-tokens",
            &json!({"profile": "tls-server", "names": ["api.example.com"], "uses": 1, "ttl": "10m"}),
        )
        .await;
    assert_eq!(s, 201, "{made}");
    let (s, v) = enroll(
        &server,
        made["token"].as_str().expect("token"),
        &csr(dir, "api.example.com"),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    // Bad creations: unknown profile, no names, zero uses.
    for (body, want) in [
        (
            json!({"profile": "nope", "names": ["x.example.com"], "ttl": "1h"}),
            404,
        ),
        (
            json!({"profile": "tls-server", "names": [], "ttl": "1h"}),
            400,
        ),
        (
            json!({"profile": "tls-server", "names": ["x.example.com"], "uses": 0, "ttl": "1h"}),
            400,
        ),
    ] {
        let (s, v) = server.post("/api/v1/bootstrap-tokens", &body).await;
        assert_eq!(s, want, "{body} → {v}");
    }

    // Every refusal is audited with its reason; uses are audited too.
    let refused = audit_actions(&home, "token.bootstrap.refuse").await;
    let reasons: Vec<String> = refused.iter().map(|e| e.detail.clone()).collect();
    for why in [
        "used up",
        "outside the token",
        "wrong secret",
        "malformed token",
        "revoked",
    ] {
        assert!(
            reasons.iter().any(|r| r.contains(why)),
            "{why} in {reasons:?}"
        );
    }
    assert_eq!(audit_actions(&home, "token.bootstrap.use").await.len(), 3);
    let v = home.moor_json(&["audit", "verify"]);
    assert!(v["first_failure"].is_null(), "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn single_use_bootstrap_token_on_two_nodes_issues_once() {
    let db = crate::multinode::fresh_postgres_database();
    let home_a = Home::new(Some(&format!("database = \"{db}\"\n")));
    let node_a = home_a.serve();
    let home_b = crate::acme::copy_home(&home_a);
    let node_b = home_b.serve();
    let work = scratch();
    let dir = work.path();
    for round in 0..5 {
        let t = bootstrap(&home_a, &["*.fleet.example.com"], "1");
        let token = t["token"].as_str().expect("token").to_string();
        let (a, b) = (
            csr(dir, &format!("a{round}.fleet.example.com")),
            csr(dir, &format!("b{round}.fleet.example.com")),
        );
        let ((sa, _), (sb, _)) =
            tokio::join!(enroll(&node_a, &token, &a), enroll(&node_b, &token, &b));
        let mut s = [sa, sb];
        s.sort();
        assert_eq!(s, [201, 401], "round {round}");
    }
}

// ---- renewal by proof of the current certificate (issue 5 item 2) ----

const RENEW_PROFILE: &str = "[profiles.device-short]\nkey_algorithms = [\"ecdsa-p256\"]\ndefault_lifetime = \"1d\"\nmax_lifetime = \"1d\"\nextended_key_usage = [\"server-auth\", \"client-auth\"]\nsan_types = [\"dns\"]\nrenewal_grace = \"2d\"\nrenewal_requires_new_key = true\n";

/// Issue under device-short with a server-made key; (certificate and chain PEM, key PEM, serial).
async fn device_cert(server: &Server, name: &str) -> (String, String, String) {
    let (s, v) = server
        .post(
            "/api/v1/certificates",
            &json!({"profile": "device-short", "sans": [name], "algorithm": "ecdsa-p256"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    // The client certificate goes with its chain (the server trusts only roots).
    (
        format!(
            "{}{}",
            v["certificate"].as_str().expect("cert"),
            v["chain"].as_str().expect("chain")
        ),
        v["private_key"].as_str().expect("key").to_string(),
        v["serial"].as_str().expect("serial").to_string(),
    )
}

async fn renew(server: &Server, cert_pem: &str, key_pem: &str, csr_pem: &str) -> (u16, Value) {
    let client =
        crate::harness::client_with(&server.roots_pem, Some(&format!("{cert_pem}{key_pem}")));
    let r = client
        .post(server.url("/api/v1/renew"))
        .json(&json!({ "csr": csr_pem }))
        .send()
        .await
        .expect("renew");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread")]
async fn renewal_over_mtls_keeps_names_needs_a_new_key_and_honours_the_grace() {
    let home = Home::new(Some(RENEW_PROFILE));
    let server = home.serve();
    let work = scratch();
    let dir = work.path();
    let (cert, key, serial) = device_cert(&server, "d1.devices.example.com").await;

    // A new key, the same name: the successor, linked to its predecessor.
    let (s, v) = renew(&server, &cert, &key, &csr(dir, "d1.devices.example.com")).await;
    assert_eq!(s, 201, "{v}");
    let next = v["serial"].as_str().expect("serial").to_string();
    let (s, rec) = server.get(&format!("/api/v1/certificates/{next}")).await;
    assert_eq!(s, 200);
    assert_eq!(rec["profile"], "device-short");
    assert_eq!(rec["sans"], json!(["dns:d1.devices.example.com"]));
    assert_eq!(rec["requester"], format!("renew:{serial}"));
    let (code, text) = openssl_verify(
        dir,
        &server.roots_pem,
        v["chain"].as_str().expect("chain"),
        v["certificate"].as_str().expect("cert"),
        &[],
    );
    assert_eq!(code, 0, "{text}");
    let store = moor_store::Database::Sqlite(home.path().join("mooring.db"))
        .open()
        .await
        .expect("store");
    assert_eq!(
        store
            .enrollment()
            .predecessor_of(&next)
            .await
            .expect("link"),
        Some(serial.clone())
    );

    // Other names, or the same key (the profile wants a new one): 400.
    let (s, v) = renew(&server, &cert, &key, &csr(dir, "other.devices.example.com")).await;
    assert_eq!(s, 400, "{v}");
    let key_file = dir.join("current.key");
    std::fs::write(&key_file, &key).expect("key");
    let same_key = crate::harness::openssl_csr_for_key(
        dir,
        &key_file,
        "same",
        "d1.devices.example.com",
        "DNS:d1.devices.example.com",
    );
    let (s, v) = renew(&server, &cert, &key, &same_key).await;
    assert_eq!(s, 400, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap_or_default()
            .contains("new key"),
        "{v}"
    );
    // Without a client certificate: 401.
    let r = server
        .client
        .post(server.url("/api/v1/renew"))
        .json(&json!({"csr": csr(dir, "d1.devices.example.com")}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 401);

    // A CN-only certificate keeps its CN: renewing as another device is refused.
    let (s, v) = server
        .post(
            "/api/v1/certificates",
            &json!({"profile": "device", "sans": [], "common_name": "device-001", "algorithm": "ecdsa-p256"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let dev_cert = format!(
        "{}{}",
        v["certificate"].as_str().expect("cert"),
        v["chain"].as_str().expect("chain")
    );
    let dev_key = v["private_key"].as_str().expect("key").to_string();
    let other_cn = openssl_csr(
        dir,
        "dev2",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "/CN=device-002",
        "",
    );
    let (s, v) = renew(&server, &dev_cert, &dev_key, &other_cn).await;
    assert_eq!(s, 400, "another CN: {v}");
    let same_cn = openssl_csr(
        dir,
        "dev1",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "/CN=device-001",
        "",
    );
    let (s, v) = renew(&server, &dev_cert, &dev_key, &same_cn).await;
    assert_eq!(s, 201, "the same CN: {v}");

    // An admin certificate never extends itself.
    let (s, v) = server
        .post(
            "/api/v1/certificates",
            &json!({"profile": "admin", "sans": ["ops.example.com"], "algorithm": "ecdsa-p256"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let admin_cert = format!(
        "{}{}",
        v["certificate"].as_str().expect("cert"),
        v["chain"].as_str().expect("chain")
    );
    let admin_key = v["private_key"].as_str().expect("key").to_string();
    let (s, v) = renew(
        &server,
        &admin_cert,
        &admin_key,
        &csr(dir, "ops.example.com"),
    )
    .await;
    assert_eq!(s, 401, "admin renewal: {v}");

    // A revoked certificate never renews.
    let (cert2, key2, serial2) = device_cert(&server, "d2.devices.example.com").await;
    let (s, _) = server
        .post(
            &format!("/api/v1/certificates/{serial2}/revoke"),
            &json!({"reason": "superseded"}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, v) = renew(&server, &cert2, &key2, &csr(dir, "d2.devices.example.com")).await;
    assert_eq!(s, 401, "{v}");

    // Expired 12 h ago (server clock 36 h ahead): inside the 2-day grace, it renews.
    let (cert3, key3, _) = device_cert(&server, "d3.devices.example.com").await;
    let (cert4, key4, _) = device_cert(&server, "d4.devices.example.com").await;
    drop(server);
    let later = Server::start_under(&home, &["faketime", "-f", "+36h"]);
    let (s, v) = renew(&later, &cert3, &key3, &csr(dir, "d3.devices.example.com")).await;
    assert_eq!(s, 201, "within the grace: {v}");
    drop(later);
    // Expired 3 days ago: beyond it.
    let much_later = Server::start_under(&home, &["faketime", "-f", "+4d"]);
    let (s, v) = renew(
        &much_later,
        &cert4,
        &key4,
        &csr(dir, "d4.devices.example.com"),
    )
    .await;
    assert_eq!(s, 401, "beyond the grace: {v}");
    assert!(
        v["message"].as_str().unwrap_or_default().contains("grace"),
        "{v}"
    );
}

#[test]
fn token_create_with_names_but_no_profile_is_refused_not_an_admin_token() {
    let home = Home::new(None);
    home.moor_ok(&["init"]);
    let out = home.moor(&["token", "create", "--san", "x.example.com"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--profile"), "{err}");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("moor_"),
        "no admin token printed"
    );
}
