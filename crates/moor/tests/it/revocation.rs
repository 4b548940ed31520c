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

#[tokio::test(flavor = "multi_thread")]
async fn ocsp_answers_good_revoked_unknown_and_unauthorized_to_openssl_and_gnutls() {
    let home = Home::new(None);
    let server = home.serve();
    let d = scratch();
    let dir = d.path();
    let mut files = Vec::new();
    let mut serials = Vec::new();
    for name in ["good", "bad"] {
        let (s, v) = server
            .post(
                "/api/v1/certificates",
                &json!({"profile": "tls-server", "sans": [format!("{name}.example.com")]}),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        let f = dir.join(format!("{name}.pem"));
        std::fs::write(&f, v["certificate"].as_str().expect("pem")).expect("write");
        files.push(f);
        serials.push(v["serial"].as_str().expect("serial").to_string());
    }
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
    let openssl = tool("openssl");
    let ocsp = |extra: &[&str]| {
        let mut args = vec![
            "ocsp",
            "-issuer",
            issuer.to_str().expect("p"),
            "-url",
            &url,
            "-CAfile",
            trust.to_str().expect("p"),
            "-resp_text",
        ];
        args.extend_from_slice(extra);
        run(&openssl, &args)
    };

    // Both good, several CertIDs in one POST, nonce echoed and verified by openssl.
    let (code, out) = ocsp(&[
        "-cert",
        files[0].to_str().expect("p"),
        "-cert",
        files[1].to_str().expect("p"),
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Response verify OK"), "{out}");
    assert!(
        out.contains("good.pem: good") && out.contains("bad.pem: good"),
        "{out}"
    );
    assert!(out.contains("OCSP Nonce"), "{out}");

    // Revoke: OCSP says revoked at once, with the reason and the time the CRL shows.
    let (s, rec) = server
        .post(
            &format!("/api/v1/certificates/{}/revoke", serials[1]),
            &json!({"reason": "key-compromise"}),
        )
        .await;
    assert_eq!(s, 200);
    let (code, out) = ocsp(&["-sha256", "-cert", files[1].to_str().expect("p")]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("bad.pem: revoked"), "{out}");
    assert!(out.contains("keyCompromise"), "{out}");
    let revoked_at =
        time::OffsetDateTime::from_unix_timestamp(rec["revoked_at"].as_i64().expect("ts"))
            .expect("time");
    let (_, crl_text) = fetch_crl(&server, dir, "crl").await;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][revoked_at.month() as usize - 1];
    let stamp = format!(
        "{month} {:>2} {:02}:{:02}:{:02} {} GMT",
        revoked_at.day(),
        revoked_at.hour(),
        revoked_at.minute(),
        revoked_at.second(),
        revoked_at.year()
    );
    assert!(
        out.contains(&format!("Revocation Time: {stamp}")),
        "OCSP time {stamp}: {out}"
    );
    assert!(
        crl_text.contains(&format!("Revocation Date: {stamp}")),
        "CRL time {stamp}: {crl_text}"
    );

    // A serial we never issued: unknown, never good (BR 4.9.10).
    let (code, out) = ocsp(&["-serial", "0x1234567890abcdef1234"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(": unknown"), "{out}");
    assert!(!out.contains(": good"), "{out}");

    // Another CA's certificate: unauthorized.
    let other = Home::new(None);
    other.moor_ok(&["init"]);
    let (code, out) = run(
        &openssl,
        &[
            "ocsp",
            "-issuer",
            other.file("certs/default.pem").to_str().expect("p"),
            "-serial",
            "0x01",
            "-url",
            &url,
            "-noverify",
            "-resp_text",
        ],
    );
    assert!(out.contains("unauthorized"), "exit {code}: {out}");

    // GET form (RFC 6960 §A.1), and junk.
    let (_, req_b64) = {
        let req = dir.join("req.der");
        let (c, t) = run(
            &openssl,
            &[
                "ocsp",
                "-issuer",
                issuer.to_str().expect("p"),
                "-cert",
                files[0].to_str().expect("p"),
                "-no_nonce",
                "-reqout",
                req.to_str().expect("p"),
            ],
        );
        assert_eq!(c, 0, "{t}");
        use base64::Engine;
        (
            0,
            base64::engine::general_purpose::STANDARD.encode(std::fs::read(req).expect("req")),
        )
    };
    let enc: String = req_b64
        .chars()
        .map(|c| match c {
            '+' => "%2B".to_string(),
            '/' => "%2F".to_string(),
            '=' => "%3D".to_string(),
            c => c.to_string(),
        })
        .collect();
    let r = reqwest::get(format!("{url}/{enc}")).await.expect("get");
    assert_eq!(r.headers()["content-type"], "application/ocsp-response");
    let resp = dir.join("resp.der");
    std::fs::write(&resp, r.bytes().await.expect("body")).expect("write");
    let (code, out) = run(
        &openssl,
        &[
            "ocsp",
            "-respin",
            resp.to_str().expect("p"),
            "-verify_other",
            issuer.to_str().expect("p"),
            "-CAfile",
            trust.to_str().expect("p"),
            "-resp_text",
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("Cert Status: good") && out.contains("Response verify OK"),
        "{out}"
    );
    let (lint_code, lint_out) = run(
        &tool("lint_ocsp_response"),
        &["lint", "-s", "ERROR", resp.to_str().expect("p")],
    );
    assert_eq!(lint_code, 0, "pkilint lint_ocsp_response: {lint_out}");
    let r = reqwest::Client::new()
        .post(&url)
        .header("Content-Type", "application/ocsp-request")
        .body("junk")
        .send()
        .await
        .expect("post");
    let body = r.bytes().await.expect("body");
    assert_eq!(
        &body[..],
        &[0x30, 0x03, 0x0a, 0x01, 0x01],
        "malformedRequest"
    );
    let r = reqwest::Client::new()
        .post(&url)
        .header("Content-Type", "text/plain")
        .body("x")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 415);

    // GnuTLS agrees (the issuing CA signs its own responses, so it is the signer).
    let (code, out) = run(
        &tool("ocsptool"),
        &[
            &format!("--ask={url}"),
            &format!("--load-issuer={}", issuer.display()),
            &format!("--load-cert={}", files[0].display()),
            &format!("--load-signer={}", issuer.display()),
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Verifying OCSP Response: Success"), "{out}");
    assert!(out.contains("Certificate Status: good"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn key_compromise_revokes_every_certificate_of_the_key_and_blocks_it() {
    let home = Home::new(None);
    let server = home.serve();
    let d = scratch();
    let dir = d.path();
    // Two certificates for one key (two CSRs from the same key), one for another key.
    let first = openssl_csr(
        dir,
        "k",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "/CN=one.example.com",
        "DNS:one.example.com",
    );
    let key = dir.join("k.key");
    let second_csr = openssl_csr_for_key(dir, &key, "k2", "two.example.com", "DNS:two.example.com");
    let second = second_csr;
    let a = server.issue_csr("tls-server", &first).await;
    let b = server.issue_csr("tls-server", &second).await;
    let other = openssl_csr(
        dir,
        "o",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "/CN=other.example.com",
        "DNS:other.example.com",
    );
    let c_cert = server.issue_csr("tls-server", &other).await;

    let (s, v) = server
        .post(
            &format!(
                "/api/v1/certificates/{}/revoke",
                a["serial"].as_str().expect("s")
            ),
            &json!({"reason": "key-compromise"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (_, vb) = server
        .get(&format!(
            "/api/v1/certificates/{}",
            b["serial"].as_str().expect("s")
        ))
        .await;
    assert_eq!(
        vb["status"], "revoked",
        "the other certificate of the same key: {vb}"
    );
    assert_eq!(vb["revocation_reason"], "key-compromise");
    let (_, vc) = server
        .get(&format!(
            "/api/v1/certificates/{}",
            c_cert["serial"].as_str().expect("s")
        ))
        .await;
    assert_eq!(
        vc["status"], "valid",
        "a certificate of another key is untouched"
    );

    // The key is blocked for good: a new CSR with it is refused and nothing is stored.
    let third_csr = openssl_csr_for_key(
        dir,
        &key,
        "k3",
        "three.example.com",
        "DNS:three.example.com",
    );
    let before = server.list_all("").await.len();
    let (s, v) = server
        .post(
            "/api/v1/certificates",
            &json!({"profile": "tls-server", "csr": third_csr}),
        )
        .await;
    assert_eq!((s, v["code"].as_str()), (403, Some("blocked_key")), "{v}");
    assert_eq!(server.list_all("").await.len(), before);

    // Both show up on the CRL as keyCompromise.
    let (_, text) = fetch_crl(&server, dir, "kc").await;
    assert_eq!(text.matches("Key Compromise").count(), 2, "{text}");
    // And the CLI path does the same.
    let (s, v) = server
        .post(
            "/api/v1/certificates",
            &json!({"profile": "tls-server", "csr": other}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    home.moor_ok(&[
        "revoke",
        c_cert["serial"].as_str().expect("s"),
        "--reason",
        "key-compromise",
    ]);
    let (_, vd) = server
        .get(&format!(
            "/api/v1/certificates/{}",
            v["serial"].as_str().expect("s")
        ))
        .await;
    assert_eq!(vd["status"], "revoked", "{vd}");
    // The server did not see that block happen (another process): the store refuses the
    // certificate atomically, and the server answers blocked_key.
    let before = server.list_all("").await.len();
    let (s, v) = server
        .post(
            "/api/v1/certificates",
            &json!({"profile": "tls-server", "csr": other}),
        )
        .await;
    assert_eq!((s, v["code"].as_str()), (403, Some("blocked_key")), "{v}");
    assert_eq!(server.list_all("").await.len(), before);
    assert!(home.moor_json(&["audit", "verify"])["first_failure"].is_null());
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_issuance_refusals_revocations_ocsp_and_crls() {
    let home = Home::new(None);
    let server = home.serve();
    let (s, v) = server
        .post(
            "/api/v1/certificates",
            &json!({"profile": "tls-server", "sans": ["m.example.com"]}),
        )
        .await;
    assert_eq!(s, 201);
    let (s, _) = server
        .post(
            "/api/v1/certificates",
            &json!({"profile": "tls-server", "sans": ["bad_name.example.com"]}),
        )
        .await;
    assert_eq!(s, 400);
    let (s, _) = server
        .post(
            "/api/v1/certificates",
            &json!({"profile": "tls-server", "sans": ["soon.example.com"], "lifetime": "2d"}),
        )
        .await;
    assert_eq!(s, 201);
    let (s, _) = server
        .post(
            &format!(
                "/api/v1/certificates/{}/revoke",
                v["serial"].as_str().expect("s")
            ),
            &json!({"reason": "superseded"}),
        )
        .await;
    assert_eq!(s, 200);
    let r = reqwest::get(format!("http://{}/crl/default.crl", server.http))
        .await
        .expect("crl");
    assert_eq!(r.status(), 200);
    let r = reqwest::Client::new()
        .post(format!("http://{}/ocsp", server.http))
        .header("Content-Type", "application/ocsp-request")
        .body("junk")
        .send()
        .await
        .expect("ocsp");
    assert_eq!(r.status(), 200);
    let text = reqwest::get(format!("http://{}/metrics", server.http))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for want in [
        "mooring_issuances_total{issuer=\"default\",profile=\"tls-server\",result=\"issued\"} 2",
        "mooring_issuances_total{issuer=\"default\",profile=\"tls-server\",result=\"rejected_identifier\"} 1",
        "mooring_revocations_total{reason=\"superseded\"} 1",
        "mooring_ocsp_requests_total{status=\"malformed_request\"} 1",
        "mooring_crl_entries{issuer=\"default\"} 1",
        "mooring_issuer_not_after_timestamp_seconds{issuer=\"root\",kind=\"root\"}",
        "mooring_store_issuance_write_seconds_count 2",
        "mooring_certificates_expiring{issuer=\"default\",within=\"7d\"} 1",
        "mooring_certificates_expiring{issuer=\"default\",within=\"30d\"} 1",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    // Every sample line is `name{labels} number`.
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        assert!(
            line.rsplit(' ')
                .next()
                .and_then(|n| n.parse::<f64>().ok())
                .is_some(),
            "{line}"
        );
    }
}
