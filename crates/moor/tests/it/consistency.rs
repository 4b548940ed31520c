//! Revocation consistency (refuse.md B6): after random revocations among 1,000 issued
//! certificates, every serial's status is the same in the API, in openssl's reading of
//! the OCSP responder's answers and in openssl's reading of the next CRL — serial, time
//! and reason.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use crate::harness::*;

const CERTS: usize = 1_000;
/// Reasons used (not keyCompromise: all certificates here share one key).
const REASONS: [(&str, Option<&str>); 5] = [
    ("unspecified", None),
    ("affiliationChanged", Some("affiliationChanged")),
    ("superseded", Some("superseded")),
    ("cessationOfOperation", Some("cessationOfOperation")),
    ("privilegeWithdrawn", Some("privilegeWithdrawn")),
];

fn random_bytes(n: usize) -> Vec<u8> {
    let mut r = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut r))
        .expect("urandom");
    r
}

/// (revocation time as openssl prints it, reason as openssl prints it) per revoked serial.
type Revoked = BTreeMap<String, (String, Option<String>)>;

#[tokio::test(flavor = "multi_thread")]
async fn ocsp_crl_and_api_agree_after_random_revocations() {
    let home = Home::new(None);
    let server = home.serve();
    let d = scratch();
    let dir = d.path();
    let csr = openssl_csr(
        dir,
        "leaf",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "/CN=consistency.example.com",
        "DNS:consistency.example.com",
    );

    // 1,000 certificates, 8 clients at once.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (client, base, token, csr) = (
            server.client.clone(),
            server.base.clone(),
            server.token.clone(),
            csr.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for _ in 0..CERTS / 8 {
                let r = client
                    .post(format!("{base}/api/v1/certificates"))
                    .bearer_auth(&token)
                    .json(&json!({"profile": "tls-server", "csr": csr}))
                    .send()
                    .await
                    .expect("issue");
                assert_eq!(r.status(), 201);
                let v: serde_json::Value = r.json().await.expect("json");
                out.push(v["serial"].as_str().expect("serial").to_string());
            }
            out
        }));
    }
    let mut serials = Vec::new();
    for t in tasks {
        serials.extend(t.await.expect("task"));
    }
    assert_eq!(serials.len(), CERTS);

    // Revoke about one in eight, at random, with random reasons; interleave CRL fetches
    // so that CRLs are rebuilt in between (the last one must still list everything).
    let coin = random_bytes(CERTS * 2);
    let mut expected: BTreeMap<String, Option<&str>> = BTreeMap::new();
    for (i, serial) in serials.iter().enumerate() {
        if coin[i] >= 32 {
            continue;
        }
        let (name, shown) = REASONS[coin[CERTS + i] as usize % REASONS.len()];
        let (s, v) = server
            .post(
                &format!("/api/v1/certificates/{serial}/revoke"),
                &json!({"reason": name}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        expected.insert(serial.clone(), shown);
        if expected.len().is_multiple_of(40) {
            let _ = reqwest::get(format!("http://{}/crl/default.crl", server.http)).await;
        }
    }
    assert!(
        expected.len() > 60,
        "too few revocations: {}",
        expected.len()
    );

    // The API.
    let api: BTreeSet<String> = server
        .list_all("&profile=tls-server&status=revoked")
        .await
        .iter()
        .map(|c| c["serial"].as_str().expect("serial").to_string())
        .collect();
    assert_eq!(api, expected.keys().cloned().collect::<BTreeSet<_>>());

    // The CRL, as openssl reads it.
    let der = reqwest::get(format!("http://{}/crl/default.crl", server.http))
        .await
        .expect("crl")
        .bytes()
        .await
        .expect("body");
    let crl_path = dir.join("now.crl");
    std::fs::write(&crl_path, &der).expect("write");
    let (code, text) = run(
        &tool("openssl"),
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            crl_path.to_str().expect("p"),
            "-noout",
            "-text",
        ],
    );
    assert_eq!(code, 0, "{text}");
    let mut on_crl: Revoked = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines().map(str::trim) {
        if let Some(s) = line.strip_prefix("Serial Number: ") {
            let s = s.to_ascii_lowercase().trim_start_matches('0').to_string();
            on_crl.insert(s.clone(), (String::new(), None));
            current = Some(s);
        } else if let Some(t) = line.strip_prefix("Revocation Date: ") {
            if let Some(c) = &current {
                on_crl.get_mut(c).expect("entry").0 = t.to_string();
            }
        } else if line == "X509v3 CRL Reason Code:" {
            if let Some(c) = &current {
                on_crl.get_mut(c).expect("entry").1 = Some(String::new());
            }
        } else if let Some(c) = &current
            && on_crl[c].1.as_deref() == Some("")
        {
            on_crl.get_mut(c).expect("entry").1 = Some(line.to_string());
        }
    }

    // OCSP, as openssl reads it: every issued serial, 20 CertIDs per request.
    let issuer = home.file("certs/default.pem");
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
    let url = format!("http://{}/ocsp", server.http);
    let mut by_ocsp: Revoked = BTreeMap::new();
    let mut good = 0usize;
    for chunk in serials.chunks(20) {
        let mut args = vec![
            "ocsp".to_string(),
            "-issuer".into(),
            issuer.to_str().expect("p").into(),
            "-url".into(),
            url.clone(),
            "-CAfile".into(),
            trust.to_str().expect("p").into(),
        ];
        for s in chunk {
            args.push("-serial".into());
            args.push(format!("0x{s}"));
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, out) = run(&tool("openssl"), &refs);
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("Response verify OK"), "{out}");
        let mut current: Option<String> = None;
        for line in out.lines() {
            let t = line.trim();
            if let Some((serial, status)) = t.strip_prefix("0x").and_then(|r| r.split_once(": ")) {
                let serial = serial.to_ascii_lowercase();
                match status {
                    "good" => {
                        good += 1;
                        current = None;
                    }
                    "revoked" => {
                        by_ocsp.insert(serial.clone(), (String::new(), None));
                        current = Some(serial);
                    }
                    other => panic!("{serial}: {other}"),
                }
            } else if let Some(c) = &current {
                if let Some(r) = t.strip_prefix("Reason: ") {
                    by_ocsp.get_mut(c).expect("entry").1 = Some(r.to_string());
                } else if let Some(at) = t.strip_prefix("Revocation Time: ") {
                    by_ocsp.get_mut(c).expect("entry").0 = at.to_string();
                }
            }
        }
    }
    assert_eq!(good + by_ocsp.len(), CERTS);

    // Serial, time and reason agree: OCSP = CRL, and both = what was asked. openssl names
    // reasons differently in its CRL printer ("Affiliation Changed") and its OCSP one
    // ("affiliationChanged"), and the OCSP one has no name for codes 9 and 10: it prints
    // "(UNKNOWN)", which may only stand for those.
    let canon = |r: &Option<String>| r.as_ref().map(|r| r.replace(' ', "").to_ascii_lowercase());
    let norm = |m: &Revoked| -> BTreeMap<String, (String, Option<String>)> {
        m.iter()
            .map(|(k, (at, r))| {
                (
                    k.trim_start_matches('0').to_string(),
                    (at.clone(), canon(r)),
                )
            })
            .collect()
    };
    let (ocsp_view, crl_view) = (norm(&by_ocsp), norm(&on_crl));
    assert_eq!(
        ocsp_view.keys().collect::<Vec<_>>(),
        crl_view.keys().collect::<Vec<_>>(),
        "OCSP and CRL list different serials"
    );
    for (serial, (at, reason)) in &ocsp_view {
        let (crl_at, crl_reason) = &crl_view[serial];
        assert_eq!(at, crl_at, "{serial}: revocation time differs");
        if reason.as_deref() == Some("(unknown)") {
            assert!(
                matches!(
                    crl_reason.as_deref(),
                    Some("privilegewithdrawn" | "aacompromise")
                ),
                "{serial}: OCSP reason unknown to openssl but CRL says {crl_reason:?}"
            );
        } else {
            assert_eq!(reason, crl_reason, "{serial}: reason differs");
        }
    }
    for (serial, reason) in &expected {
        let (at, shown) = &on_crl[serial.trim_start_matches('0')];
        assert!(!at.is_empty(), "{serial}: no revocation date");
        assert_eq!(
            canon(shown),
            reason.map(|r| r.to_ascii_lowercase()),
            "{serial}: reason on the CRL"
        );
    }
}
