//! CRLs served at the distribution point written into certificates, checked with
//! openssl and pkilint.

use serde_json::json;

use crate::harness::*;

async fn fetch_crl(
    server: &Server,
    dir: &std::path::Path,
    name: &str,
) -> (std::path::PathBuf, String) {
    let r = reqwest::get(format!("http://{}/crl/default.crl", server.http))
        .await
        .expect("crl");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/pkix-crl");
    let der = r.bytes().await.expect("body");
    let der_path = dir.join(format!("{name}.der"));
    let pem_path = dir.join(format!("{name}.pem"));
    std::fs::write(&der_path, &der).expect("write");
    let (code, text) = run(
        &tool("openssl"),
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            der_path.to_str().expect("p"),
            "-out",
            pem_path.to_str().expect("p"),
        ],
    );
    assert_eq!(code, 0, "{text}");
    let (_, text) = run(
        &tool("openssl"),
        &[
            "crl",
            "-in",
            pem_path.to_str().expect("p"),
            "-noout",
            "-text",
        ],
    );
    (pem_path, text)
}

#[tokio::test(flavor = "multi_thread")]
async fn revoked_certificates_appear_on_the_crl_and_openssl_rejects_them() {
    let home = Home::new(None);
    let server = home.serve();
    let d = scratch();
    let dir = d.path();
    let mut leaves = Vec::new();
    for name in ["a", "b", "c"] {
        let (s, v) = server
            .post(
                "/api/v1/certificates",
                &json!({"profile": "tls-server", "sans": [format!("{name}.example.com")]}),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        leaves.push(v);
    }
    let serial = |i: usize| leaves[i]["serial"].as_str().expect("serial").to_string();
    let chain = leaves[0]["chain"].as_str().expect("chain").to_string();
    assert_eq!(
        server
            .post(
                &format!("/api/v1/certificates/{}/revoke", serial(0)),
                &json!({"reason": "key-compromise"})
            )
            .await
            .0,
        200
    );
    assert_eq!(
        server
            .post(
                &format!("/api/v1/certificates/{}/revoke", serial(1)),
                &json!({"reason": "unspecified"})
            )
            .await
            .0,
        200
    );

    let (crl1, text) = fetch_crl(&server, dir, "crl1").await;
    // Signed by the issuing CA; v2; the two revoked serials, the right reasons.
    std::fs::write(dir.join("issuer.pem"), &chain).expect("write");
    let (code, out) = run(
        &tool("openssl"),
        &[
            "crl",
            "-in",
            crl1.to_str().expect("p"),
            "-CAfile",
            dir.join("issuer.pem").to_str().expect("p"),
            "-noout",
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("verify OK"), "{out}");
    assert!(text.contains("Version 2"), "{text}");
    assert!(text.contains("X509v3 CRL Number"), "{text}");
    assert!(text.contains("X509v3 Authority Key Identifier"), "{text}");
    assert!(
        text.to_uppercase().contains(&serial(0).to_uppercase())
            && text.to_uppercase().contains(&serial(1).to_uppercase()),
        "{text}"
    );
    assert!(!text.to_uppercase().contains(&serial(2).to_uppercase()));
    assert_eq!(text.matches("Key Compromise").count(), 1, "{text}");
    assert!(
        !text.contains("Unspecified"),
        "reason unspecified is not written: {text}"
    );
    let findings = pkilint(
        dir,
        "lint_crl",
        &["-t", "CRL", "-p", "BR"],
        &[&std::fs::read_to_string(&crl1).expect("crl")],
    );
    assert!(findings.is_empty(), "pkilint lint_crl: {findings:?}");

    // openssl verify with CRL checking: revoked → error 23, the other one → OK.
    let roots = home.read("roots.pem");
    for (i, want_revoked) in [(0, true), (2, false)] {
        let leaf = leaves[i]["certificate"].as_str().expect("pem");
        let (code, out) = openssl_verify(
            dir,
            &roots,
            &chain,
            leaf,
            &["-crl_check", "-CRLfile", crl1.to_str().expect("p")],
        );
        if want_revoked {
            assert_ne!(code, 0);
            assert!(out.contains("certificate revoked"), "{out}");
        } else {
            assert_eq!(code, 0, "{out}");
        }
    }

    // Unchanged: the cached CRL (same number). A new revocation: a new, higher number.
    let number = |t: &str| {
        t.split("X509v3 CRL Number:")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .map(|s| {
                i64::from_str_radix(s.trim_start_matches("0x"), 16).or_else(|_| s.parse::<i64>())
            })
            .and_then(|r| r.ok())
            .expect("crl number")
    };
    let (_, again) = fetch_crl(&server, dir, "crl1b").await;
    assert_eq!(number(&again), number(&text));
    assert_eq!(
        server
            .post(
                &format!("/api/v1/certificates/{}/revoke", serial(2)),
                &json!({"reason": "superseded"})
            )
            .await
            .0,
        200
    );
    let (crl2, text2) = fetch_crl(&server, dir, "crl2").await;
    assert!(
        number(&text2) > number(&text),
        "CRL numbers increase: {} then {}",
        number(&text),
        number(&text2)
    );
    let leaf = leaves[2]["certificate"].as_str().expect("pem");
    let (code, out) = openssl_verify(
        dir,
        &roots,
        &chain,
        leaf,
        &["-crl_check", "-CRLfile", crl2.to_str().expect("p")],
    );
    assert_ne!(code, 0, "{out}");
    // An unknown issuer has no CRL.
    let r = reqwest::get(format!("http://{}/crl/nope.crl", server.http))
        .await
        .expect("req");
    assert_eq!(r.status(), 404);
}
