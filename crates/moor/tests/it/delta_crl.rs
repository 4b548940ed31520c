//! Delta CRLs (RFC 5280 §5.2.4): the full CRL points at its delta (freshestCRL), the delta
//! lists what was revoked since its base, and relying parties combine them: openssl
//! `verify -use_deltas` sees a certificate revoked after the base as revoked with the old
//! base and the new delta; certtool verifies both CRLs' signatures; pkilint finds no error.

use serde_json::json;

use crate::harness::*;

/// Fetch `/crl/{name}.crl`; its PEM path and openssl's text.
async fn fetch(
    server: &Server,
    dir: &std::path::Path,
    name: &str,
    as_file: &str,
) -> (std::path::PathBuf, String) {
    let r = reqwest::get(format!("http://{}/crl/{name}.crl", server.http))
        .await
        .expect("crl");
    assert_eq!(r.status(), 200, "{name}");
    assert_eq!(r.headers()["content-type"], "application/pkix-crl");
    let der = r.bytes().await.expect("body");
    let der_path = dir.join(format!("{as_file}.der"));
    let pem_path = dir.join(format!("{as_file}.pem"));
    std::fs::write(&der_path, &der).expect("write");
    let openssl = tool("openssl");
    let (code, out) = run(
        &openssl,
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
    assert_eq!(code, 0, "{out}");
    let (code, text) = run(
        &openssl,
        &[
            "crl",
            "-in",
            pem_path.to_str().expect("p"),
            "-noout",
            "-text",
        ],
    );
    assert_eq!(code, 0, "{text}");
    (pem_path, text)
}

/// The decimal number after `label` in openssl's text.
fn number_after(text: &str, label: &str) -> i64 {
    let rest = text
        .split(label)
        .nth(1)
        .unwrap_or_else(|| panic!("no {label} in {text}"));
    rest.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("critical"))
        .and_then(|l| {
            let l = l.trim_start_matches("critical").trim();
            l.parse::<i64>()
                .ok()
                .or_else(|| i64::from_str_radix(l.trim_start_matches("0x"), 16).ok())
        })
        .unwrap_or_else(|| panic!("no number after {label} in {text}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn delta_crls_list_revocations_since_their_base_for_openssl_and_certtool() {
    let home = Home::new(None);
    let server = home.serve();
    let d = scratch();
    let dir = d.path();
    let mut leaves = Vec::new();
    for i in 0..3 {
        let (s, v) = server
            .post(
                "/api/v1/certificates",
                &json!({"profile": "tls-server", "sans": [format!("delta{i}.example.com")]}),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        leaves.push(v);
    }
    let serial = |i: usize| leaves[i]["serial"].as_str().expect("serial").to_string();
    let chain = leaves[0]["chain"].as_str().expect("chain").to_string();
    let roots = home.read("roots.pem");

    // Revoke #0, then take the full CRL: this is the base the relying party holds.
    let revoke = |i: usize, reason: &'static str| {
        let s = serial(i);
        let server = &server;
        async move {
            let (code, v) = server
                .post(
                    &format!("/api/v1/certificates/{s}/revoke"),
                    &json!({"reason": reason}),
                )
                .await;
            assert_eq!(code, 200, "{v}");
        }
    };
    revoke(0, "superseded").await;
    let (base, base_text) = fetch(&server, dir, "default", "base").await;
    let base_number = number_after(&base_text, "X509v3 CRL Number:");
    assert!(base_text.contains("X509v3 Freshest CRL"), "{base_text}");
    assert!(
        base_text.contains(&format!("URI:http://{}/crl/default-delta.crl", "127.0.0.1"))
            || base_text.contains("/crl/default-delta.crl"),
        "{base_text}"
    );

    // Revoke #1 afterwards: the delta lists it, relative to a base no newer than ours.
    revoke(1, "cessationOfOperation").await;
    let (delta, delta_text) = fetch(&server, dir, "default-delta", "delta").await;
    assert!(
        delta_text.contains("X509v3 Delta CRL Indicator: critical"),
        "{delta_text}"
    );
    let delta_base = number_after(&delta_text, "X509v3 Delta CRL Indicator: critical");
    let delta_number = number_after(&delta_text, "X509v3 CRL Number:");
    assert!(
        delta_base <= base_number,
        "delta base {delta_base} is newer than our base {base_number}"
    );
    assert!(
        delta_number > base_number,
        "delta {delta_number} not newer than base {base_number}"
    );
    assert!(!delta_text.contains("Freshest CRL"), "{delta_text}");
    let upper = delta_text.to_uppercase();
    assert!(upper.contains(&serial(1).to_uppercase()), "{delta_text}");
    assert!(!upper.contains(&serial(2).to_uppercase()), "{delta_text}");
    // Our base does not list #1: only the delta tells.
    assert!(!base_text.to_uppercase().contains(&serial(1).to_uppercase()));

    // openssl with base + delta: #1 revoked, #2 fine; with the base alone #1 passes.
    let crl_args = |with_delta: bool| {
        let mut a = vec![
            "-crl_check".to_string(),
            "-CRLfile".into(),
            base.to_str().expect("p").into(),
        ];
        if with_delta {
            a.extend([
                "-use_deltas".into(),
                "-CRLfile".into(),
                delta.to_str().expect("p").into(),
            ]);
        }
        a
    };
    let verify = |i: usize, with_delta: bool| {
        let args = crl_args(with_delta);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        openssl_verify(
            dir,
            &roots,
            &chain,
            leaves[i]["certificate"].as_str().expect("pem"),
            &refs,
        )
    };
    let (code, out) = verify(1, true);
    assert_ne!(code, 0, "revoked by the delta: {out}");
    assert!(out.contains("certificate revoked"), "{out}");
    let (code, out) = verify(1, false);
    assert_eq!(code, 0, "the base alone predates the revocation: {out}");
    let (code, out) = verify(2, true);
    assert_eq!(code, 0, "{out}");
    let (code, out) = verify(0, true);
    assert_ne!(code, 0, "{out}");

    // GnuTLS checks both signatures against the issuing CA.
    let issuer = home.file("certs/default.pem");
    for crl in [&base, &delta] {
        let (code, out) = run(
            &tool("certtool"),
            &[
                "--verify-crl",
                "--load-ca-certificate",
                issuer.to_str().expect("p"),
                "--infile",
                crl.to_str().expect("p"),
            ],
        );
        assert_eq!(code, 0, "certtool --verify-crl {}: {out}", crl.display());
        assert!(out.contains("Verified"), "{out}");
    }

    // pkilint: no finding at ERROR on the full CRL or the delta.
    for crl in [&base, &delta] {
        let findings = pkilint(
            dir,
            "lint_crl",
            &["-t", "CRL", "-p", "BR"],
            &[&std::fs::read_to_string(crl).expect("crl")],
        );
        assert!(
            findings.is_empty(),
            "pkilint lint_crl {}: {findings:?}",
            crl.display()
        );
    }
}
