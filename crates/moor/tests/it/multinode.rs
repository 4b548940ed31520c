//! Several `moor serve` nodes on one PostgreSQL database act as one CA: concurrent
//! issuance without a duplicate serial, a revocation on one node answered `revoked` by
//! the other's OCSP (checked with openssl), one CRL builder at a time, and another node
//! taking over when the builder dies.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::*;

/// A new, empty database on the test PostgreSQL (scripts/test starts it).
pub fn fresh_postgres_database() -> String {
    let admin = std::env::var("MOORING_TEST_POSTGRES").unwrap_or_else(|_| {
        panic!("MOORING_TEST_POSTGRES is not set: run scripts/test, which starts PostgreSQL")
    });
    let mut r = [0u8; 8];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut r))
        .expect("urandom");
    let name = format!("mooring_it_{}", hex_lower(&r));
    let (code, out) = run(
        &tool("psql"),
        &[
            &admin,
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            &format!("CREATE DATABASE {name}"),
        ],
    );
    assert_eq!(code, 0, "create database: {out}");
    let base = admin.rsplit_once('/').expect("url has a database").0;
    format!("{base}/{name}")
}

fn hex_lower(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Copy a home (keys, passphrase, config, certificates) to a second node's directory.
pub(crate) fn copy_home(from: &Home) -> Home {
    let to = Home::new(None);
    let (code, out) = run(
        std::path::Path::new("/bin/cp"),
        &[
            "-a",
            &format!("{}/.", from.path().display()),
            to.path().to_str().expect("path"),
        ],
    );
    assert_eq!(code, 0, "copy home: {out}");
    for f in std::fs::read_dir(to.path()).expect("dir").flatten() {
        let n = f.file_name().to_string_lossy().to_string();
        if n.starts_with("serve-") || n == "addr.txt" {
            let _ = std::fs::remove_file(f.path());
        }
    }
    to
}

async fn metric(server: &Server, name: &str) -> Option<f64> {
    let text = reqwest::get(format!("http://{}/metrics", server.http))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find(|l| l.starts_with(name) && !l.starts_with('#'))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Serials (upper-case hex as openssl prints them) on `server`'s full CRL, and its number.
async fn crl_serials(server: &Server, dir: &std::path::Path) -> (HashSet<String>, u64) {
    let der = reqwest::get(format!("http://{}/crl/default.crl", server.http))
        .await
        .expect("crl")
        .bytes()
        .await
        .expect("body");
    let p = dir.join("x.crl");
    std::fs::write(&p, &der).expect("write");
    let (code, text) = run(
        &tool("openssl"),
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            p.to_str().expect("p"),
            "-noout",
            "-text",
        ],
    );
    assert_eq!(code, 0, "{text}");
    let mut serials = HashSet::new();
    let mut number = 0;
    let mut lines = text.lines().peekable();
    while let Some(l) = lines.next() {
        let t = l.trim();
        if let Some(s) = t.strip_prefix("Serial Number: ") {
            serials.insert(s.to_ascii_lowercase());
        }
        if t.starts_with("X509v3 CRL Number:") {
            number = lines
                .next()
                .map(|n| n.trim().parse().unwrap_or(0))
                .unwrap_or(0);
        }
    }
    (serials, number)
}

/// openssl's view of one serial on `server`'s OCSP responder.
fn ocsp_status(home: &Home, server: &Server, dir: &std::path::Path, serial: &str) -> String {
    let trust = dir.join("trust.pem");
    std::fs::write(
        &trust,
        format!(
            "{}{}",
            home.read("certs/default.pem"),
            home.read("roots.pem")
        ),
    )
    .expect("write");
    let (code, out) = run(
        &tool("openssl"),
        &[
            "ocsp",
            "-issuer",
            home.file("certs/default.pem").to_str().expect("p"),
            "-serial",
            &format!("0x{serial}"),
            "-url",
            &format!("http://{}/ocsp", server.http),
            "-CAfile",
            trust.to_str().expect("p"),
        ],
    );
    assert_eq!(code, 0, "openssl ocsp: {out}");
    assert!(out.contains("Response verify OK"), "{out}");
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn two_nodes_on_one_postgres_are_one_ca() {
    let url = fresh_postgres_database();
    let a = Home::new(Some(&format!("database = \"{url}\"\n")));
    a.moor_ok(&["init"]);
    let b = copy_home(&a);
    let d = scratch();
    let dir = d.path();

    // Node A starts first and becomes the CRL builder.
    let mut na = a.serve();
    let _ = crl_serials(&na, dir).await;
    let nb = b.serve();
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric(&na, "mooring_crl_builder").await != Some(1.0) {
        assert!(Instant::now() < deadline, "node A never took the CRL lease");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(metric(&nb, "mooring_crl_builder").await, Some(0.0));

    // Concurrent issuance on both nodes: no duplicate serial, both list them all.
    let csr = openssl_csr(
        dir,
        "leaf",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "/CN=multi.example.com",
        "DNS:multi.example.com",
    );
    let mut tasks = Vec::new();
    for node in [&na, &nb] {
        for _ in 0..4 {
            let client = node.client.clone();
            let base = node.base.clone();
            let token = node.token.clone();
            let csr = csr.clone();
            tasks.push(tokio::spawn(async move {
                let mut serials = Vec::new();
                for _ in 0..25 {
                    let r = client
                        .post(format!("{base}/api/v1/certificates"))
                        .bearer_auth(&token)
                        .json(&json!({"profile": "tls-server", "csr": csr}))
                        .send()
                        .await
                        .expect("issue");
                    assert_eq!(r.status(), 201);
                    let v: serde_json::Value = r.json().await.expect("json");
                    serials.push(v["serial"].as_str().expect("serial").to_string());
                }
                serials
            }));
        }
    }
    let mut serials = Vec::new();
    for t in tasks {
        serials.extend(t.await.expect("task"));
    }
    let unique: HashSet<&String> = serials.iter().collect();
    assert_eq!((serials.len(), unique.len()), (200, 200));
    let listed_a: HashSet<String> = na
        .list_all("&profile=tls-server")
        .await
        .iter()
        .map(|c| c["serial"].as_str().expect("serial").to_string())
        .collect();
    let listed_b: HashSet<String> = nb
        .list_all("&profile=tls-server")
        .await
        .iter()
        .map(|c| c["serial"].as_str().expect("serial").to_string())
        .collect();
    assert_eq!(listed_a, listed_b);
    assert!(serials.iter().all(|s| listed_a.contains(s)));

    // B answers good, A revokes, B's OCSP says revoked at once (after the revoke returned,
    // within the time NOTIFY takes to arrive).
    let victim = serials[7].clone();
    assert!(ocsp_status(&b, &nb, dir, &victim).contains(": good"));
    let (s, v) = na
        .post(
            &format!("/api/v1/certificates/{victim}/revoke"),
            &json!({"reason": "superseded"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let revoked_at = Instant::now();
    let seen = loop {
        let out = ocsp_status(&b, &nb, dir, &victim);
        if out.contains(": revoked") {
            assert!(out.contains("Reason: superseded"), "{out}");
            break revoked_at.elapsed();
        }
        assert!(
            revoked_at.elapsed() < Duration::from_secs(2),
            "B still not revoked after 2 s: {out}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    eprintln!("revocation on A seen by B's OCSP after {seen:?}");

    // Both nodes serve the same newest CRL listing it (B takes what A built).
    let deadline = Instant::now() + Duration::from_secs(10);
    let (on_a, number_a) = crl_serials(&na, dir).await;
    assert!(on_a.contains(&victim), "A's CRL lacks {victim}");
    loop {
        let (on_b, number_b) = crl_serials(&nb, dir).await;
        if on_b.contains(&victim) {
            assert!(number_b >= number_a, "B serves an older CRL than A");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "B never served a CRL with {victim}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(metric(&nb, "mooring_crl_builder").await, Some(0.0));

    // Kill the builder: B takes the lease over and builds the next CRL itself.
    na.kill();
    let second = serials[150].clone();
    let (s, v) = nb
        .post(
            &format!("/api/v1/certificates/{second}/revoke"),
            &json!({"reason": "cessationOfOperation"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert!(ocsp_status(&b, &nb, dir, &second).contains(": revoked"));
    let deadline = Instant::now() + Duration::from_secs(40);
    let took_over = Instant::now();
    loop {
        let (on_b, number) = crl_serials(&nb, dir).await;
        if on_b.contains(&second) && on_b.contains(&victim) {
            assert!(number > number_a, "CRL number did not advance: {number}");
            break;
        }
        assert!(Instant::now() < deadline, "B never took over CRL building");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    eprintln!(
        "B built the CRL {:?} after A was killed",
        took_over.elapsed()
    );
    assert_eq!(metric(&nb, "mooring_crl_builder").await, Some(1.0));
}

#[test]
fn migrate_reports_the_schema_on_both_backends_and_a_bad_database_is_a_clear_error() {
    // SQLite: a new home's file is created and brought to the newest schema.
    let home = Home::new(None);
    let v = home.moor_json(&["migrate"]);
    assert_eq!(v["migrations"], json!([1, 2, 3, 4, 5, 6, 7, 8, 9]), "{v}");
    assert_eq!(v["schema_version"], 9);
    assert!(
        v["database"].as_str().expect("db").starts_with("sqlite "),
        "{v}"
    );
    // Running it again changes nothing.
    assert_eq!(home.moor_json(&["migrate"]), v);

    // PostgreSQL: its own version history; the password never appears in the output.
    let url = fresh_postgres_database();
    let with_password = url.replacen("postgres@", "postgres:s3cret-pw@", 1);
    let v = home.moor_json(&["--database", &with_password, "migrate"]);
    assert_eq!(v["migrations"], json!([1, 2, 3, 4, 5]), "{v}");
    let shown = v["database"].as_str().expect("db");
    assert!(shown.starts_with("postgres://postgres@"), "{shown}");
    assert!(!shown.contains("s3cret"), "{shown}");

    // Nothing listens there: an error naming the database, no panic, no password.
    let out = home.moor(&[
        "--database",
        "postgres://u:hunter2@127.0.0.1:1/nope",
        "migrate",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot open database postgres://u@127.0.0.1:1/nope"),
        "{err}"
    );
    assert!(
        !err.contains("hunter2") && !err.contains("panicked"),
        "{err}"
    );
}
