//! Durability and integrity: SIGKILL under load loses no certificate a client
//! received; audit tampering is detected; 10,000 serials are unique and random.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::Mutex;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_under_concurrent_issuance_loses_nothing_a_client_received() {
    let home = Home::new(None);
    let mut server = home.serve();
    let received = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut tasks = Vec::new();
    for t in 0..8 {
        let client = server.client.clone();
        let url = server.url("/api/v1/certificates");
        let token = server.token.clone();
        let received = received.clone();
        tasks.push(tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(20);
            let mut i = 0;
            while Instant::now() < deadline {
                i += 1;
                let body =
                    json!({"profile": "tls-server", "sans": [format!("t{t}-{i}.example.com")]});
                let r = match client
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await
                {
                    Ok(r) => r,
                    Err(_) => return, // the server is gone
                };
                if r.status() != 201 {
                    continue;
                }
                if let Ok(v) = r.json::<serde_json::Value>().await {
                    received
                        .lock()
                        .await
                        .push(v["serial"].as_str().unwrap_or_default().to_string());
                }
            }
        }));
    }
    // Let load build up, then kill -9 in the middle of it.
    let start = Instant::now();
    while received.lock().await.len() < 40 && start.elapsed() < Duration::from_secs(15) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill();
    for t in tasks {
        let _ = t.await;
    }
    let received = received.lock().await.clone();
    assert!(
        received.len() >= 40,
        "clients received {} certificates before the kill",
        received.len()
    );

    let server = home.serve();
    let listed: HashSet<String> = server
        .list_all("")
        .await
        .into_iter()
        .map(|v| v["serial"].as_str().unwrap_or_default().to_string())
        .collect();
    let missing: Vec<_> = received.iter().filter(|s| !listed.contains(*s)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} received certificates are missing after SIGKILL: {missing:?}",
        missing.len(),
        received.len()
    );
    let v = home.moor_json(&["audit", "verify"]);
    assert!(v["first_failure"].is_null(), "audit chain after crash: {v}");
    assert!(v["entries"].as_i64().unwrap_or(0) as usize >= received.len());
    // And the restarted server keeps issuing.
    let (s, _) = server
        .post(
            "/api/v1/certificates",
            &json!({"profile": "tls-server", "sans": ["after.example.com"]}),
        )
        .await;
    assert_eq!(s, 201);
}

#[tokio::test(flavor = "multi_thread")]
async fn editing_an_audit_row_is_detected_and_named() {
    let sqlite = tool("sqlite3");
    let home = Home::new(None);
    home.moor_ok(&["init"]);
    for i in 0..4 {
        home.moor_ok(&["issue", "--san", &format!("a{i}.example.com")]);
    }
    let ok = home.moor(&["audit", "verify"]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    let db = home.file("mooring.db");
    let (c, t) = run(
        &sqlite,
        &[
            db.to_str().expect("p"),
            "UPDATE audit_log SET detail = replace(detail, 'a2.example.com', 'evil.example.com') WHERE detail LIKE '%a2.example.com%';",
        ],
    );
    assert_eq!(c, 0, "{t}");
    let (_, seq) = run(
        &sqlite,
        &[
            db.to_str().expect("p"),
            "SELECT seq FROM audit_log WHERE detail LIKE '%evil.example.com%';",
        ],
    );
    let seq = seq.trim().to_string();
    assert!(!seq.is_empty(), "the edit hit a row");
    let out = home.moor(&["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1), "verify must fail");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("entry {seq}")),
        "the failure names entry {seq}: {text}"
    );
    let v: serde_json::Value =
        serde_json::from_slice(&home.moor(&["--output", "json", "audit", "verify"]).stdout)
            .expect("json");
    assert_eq!(
        v["first_failure"]["seq"].as_i64().map(|s| s.to_string()),
        Some(seq.clone())
    );
    assert_eq!(v["first_failure"]["kind"], "hash_mismatch");

    // Deleting an entry is detected at the one after it.
    let home2 = Home::new(None);
    home2.moor_ok(&["init"]);
    home2.moor_ok(&["issue", "--san", "b.example.com"]);
    home2.moor_ok(&["issue", "--san", "c.example.com"]);
    let db2 = home2.file("mooring.db");
    let (c, t) = run(
        &sqlite,
        &[
            db2.to_str().expect("p"),
            "DELETE FROM audit_log WHERE seq = 3;",
        ],
    );
    assert_eq!(c, 0, "{t}");
    let out = home2.moor(&["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("entry 4"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_thousand_issued_serials_are_unique_and_look_random() {
    let home = Home::new(None);
    let server = home.serve();
    let n = 10_000usize;
    let serials = Arc::new(Mutex::new(Vec::with_capacity(n)));
    let mut tasks = Vec::new();
    let csr = openssl_csr(
        scratch().path(),
        "s",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "/CN=serial.example.com",
        "DNS:serial.example.com",
    );
    for _ in 0..16 {
        let client = server.client.clone();
        let url = server.url("/api/v1/certificates");
        let token = server.token.clone();
        let serials = serials.clone();
        let csr = csr.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                if serials.lock().await.len() >= n {
                    return;
                }
                let r = client
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&json!({"profile": "tls-server", "csr": csr}))
                    .send()
                    .await
                    .expect("request");
                assert_eq!(r.status(), 201);
                let v: serde_json::Value = r.json().await.expect("json");
                serials
                    .lock()
                    .await
                    .push(v["serial"].as_str().expect("serial").to_string());
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let serials = serials.lock().await.clone();
    let unique: HashSet<&String> = serials.iter().collect();
    assert_eq!(unique.len(), serials.len(), "duplicate serials");
    // Every bit position of the 128-bit serials is set about half the time (6 sigma bounds).
    let mut ones = [0usize; 128];
    for s in &serials {
        let bytes = hex::decode(s).expect("hex");
        assert!(
            bytes.len() <= 16 && bytes.len() >= 8,
            "serial {s} has {} octets",
            bytes.len()
        );
        let mut full = [0u8; 16];
        full[16 - bytes.len()..].copy_from_slice(&bytes);
        for (i, b) in full.iter().enumerate() {
            for bit in 0..8 {
                if b & (0x80 >> bit) != 0 {
                    ones[i * 8 + bit] += 1;
                }
            }
        }
    }
    let m = serials.len() as f64;
    let sigma = (m * 0.25).sqrt();
    for (pos, c) in ones.iter().enumerate() {
        assert!(
            ((*c as f64) - m / 2.0).abs() < 6.0 * sigma,
            "bit {pos} set {c} times of {m}"
        );
    }
    // The store agrees (and holds the server's certificate and the OCSP responder's).
    assert_eq!(
        server.list_all("&profile=tls-server").await.len(),
        serials.len() + 1
    );
    assert_eq!(server.list_all("&profile=ocsp-responder").await.len(), 1);
}
