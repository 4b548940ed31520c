//! Every classical algorithm × every profile, issued through the HTTPS API and
//! checked with openssl and pkilint; ML-DSA hierarchies checked with an
//! independent ML-DSA implementation.

use serde_json::{Value, json};

use crate::harness::*;

const CLASSICAL: [&str; 6] = [
    "ecdsa-p256",
    "ecdsa-p384",
    "ed25519",
    "rsa-2048",
    "rsa-3072",
    "rsa-4096",
];

/// (profile, extended_key_usage, san_types, extra TOML, request sans, common name)
type ProfileKind = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Vec<&'static str>,
    Option<&'static str>,
);

fn profile_kinds() -> Vec<ProfileKind> {
    vec![
        (
            "tls-server",
            r#"["server-auth"]"#,
            r#"["dns", "ip"]"#,
            "",
            vec!["svc.example.com", "10.1.2.3"],
            None,
        ),
        (
            "public-tls",
            r#"["server-auth"]"#,
            r#"["dns", "ip"]"#,
            "public = true\npolicies = [\"2.23.140.1.2.1\"]\n",
            vec!["www.example.com"],
            None,
        ),
        (
            "tls-client",
            r#"["client-auth"]"#,
            r#"["dns", "ip", "uri", "email"]"#,
            "allow_cn_only = true\n",
            vec!["client@example.com", "https://id.example.com/client1"],
            None,
        ),
        (
            "mtls",
            r#"["server-auth", "client-auth"]"#,
            r#"["dns", "ip", "uri"]"#,
            "",
            vec!["api.example.com", "192.168.7.1"],
            None,
        ),
        (
            "code-signing",
            r#"["code-signing"]"#,
            r#"["email", "uri"]"#,
            "allow_cn_only = true\nallow_wildcards = false\n",
            vec!["signer@example.com"],
            Some("Example Build Signer"),
        ),
        (
            "device",
            r#"["client-auth"]"#,
            r#"["dns", "ip", "uri"]"#,
            "allow_cn_only = true\n",
            vec!["device-42.example.com"],
            Some("device-42"),
        ),
    ]
}

fn matrix_config() -> String {
    let mut c = String::from("revocation_url = \"http://pki.example.com\"\n");
    for alg in CLASSICAL.iter().skip(1) {
        for (name, eku, sans, extra, _, _) in profile_kinds() {
            if name == "public-tls" && *alg == "ed25519" {
                continue; // the Baseline Requirements allow only RSA and ECDSA issuers
            }
            let extra = if name == "public-tls" {
                format!(
                    "{extra}key_algorithms = [\"ecdsa-p256\", \"ecdsa-p384\", \"rsa-2048\", \"rsa-3072\", \"rsa-4096\"]\n"
                )
            } else {
                extra.to_string()
            };
            c.push_str(&format!("\n[profiles.{name}-{alg}]\nissuer = \"{alg}\"\ndefault_lifetime = \"30d\"\nmax_lifetime = \"90d\"\nextended_key_usage = {eku}\nsan_types = {sans}\n{extra}"));
        }
    }
    c
}

fn check_cert(dir: &std::path::Path, roots: &str, profile_kind: &str, v: &Value) {
    let leaf = v["certificate"].as_str().expect("certificate");
    let chain = v["chain"].as_str().expect("chain");
    let (code, text) = openssl_verify(dir, roots, chain, leaf, &[]);
    assert_eq!(
        code, 0,
        "openssl verify -x509_strict ({profile_kind}): {text}"
    );
    let findings = pkilint(dir, "lint_pkix_cert", &[], &[leaf]);
    assert!(
        findings.is_empty(),
        "pkilint lint_pkix_cert ({profile_kind}): {findings:?}"
    );
    let issuer = split_pem(chain)
        .into_iter()
        .next()
        .expect("issuer in chain");
    let findings = pkilint(
        dir,
        "lint_pkix_signer_signee_cert_chain",
        &[],
        &[&issuer, leaf],
    );
    assert!(
        findings.is_empty(),
        "pkilint chain ({profile_kind}): {findings:?}"
    );
    if profile_kind == "public-tls" {
        let findings = pkilint(dir, "lint_cabf_serverauth_cert", &["-d"], &[leaf]);
        assert!(
            findings.is_empty(),
            "pkilint lint_cabf_serverauth_cert: {findings:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_classical_algorithm_and_profile_verifies_and_lints_clean() {
    let home = Home::new(Some("revocation_url = \"http://pki.example.com\"\n"));
    home.moor_ok(&["init", "--algorithm", "ecdsa-p256"]);
    for alg in CLASSICAL.iter().skip(1) {
        home.moor_ok(&[
            "ca",
            "add-issuer",
            "--id",
            alg,
            "--algorithm",
            alg,
            "--new-root",
        ]);
    }
    std::fs::write(home.file("mooring.toml"), matrix_config()).expect("config");
    let server = home.serve();
    let dir = scratch();

    // The CA certificates themselves.
    let issuers = server.get("/api/v1/issuers").await.1;
    let issuers = issuers.as_array().expect("issuers");
    assert_eq!(issuers.len(), 12, "6 roots + 6 intermediates");
    for i in issuers {
        let pem = i["certificate"].as_str().expect("pem");
        let findings = pkilint(dir.path(), "lint_pkix_cert", &[], &[pem]);
        assert!(
            findings.is_empty(),
            "CA certificate {}: {findings:?}",
            i["id"]
        );
        if i["kind"] == "intermediate" {
            let parent = issuers
                .iter()
                .find(|p| p["id"] == i["parent"])
                .expect("parent");
            let findings = pkilint(
                dir.path(),
                "lint_pkix_signer_signee_cert_chain",
                &[],
                &[parent["certificate"].as_str().expect("pem"), pem],
            );
            assert!(findings.is_empty(), "chain {}: {findings:?}", i["id"]);
        }
    }

    let mut n = 0;
    for (ai, alg) in CLASSICAL.iter().enumerate() {
        for (kind, _, _, _, sans, cn) in profile_kinds() {
            let profile = if ai == 0 {
                kind.to_string()
            } else {
                format!("{kind}-{alg}")
            };
            if kind == "public-tls" && *alg == "ed25519" {
                continue;
            }
            // Subscriber keys cycle through every classical algorithm too.
            let mut sub_alg = CLASSICAL[(ai + n) % CLASSICAL.len()];
            n += 1;
            if kind == "public-tls" && sub_alg == "ed25519" {
                sub_alg = "ecdsa-p384";
            }
            let mut body = json!({"profile": profile, "sans": sans, "algorithm": sub_alg});
            if let Some(cn) = cn {
                body["common_name"] = json!(cn);
            }
            let (s, v) = server.post("/api/v1/certificates", &body).await;
            assert_eq!(s, 201, "{profile} with {sub_alg} key: {v}");
            assert_eq!(v["issuer"], if ai == 0 { "default" } else { alg });
            assert!(
                v["private_key"]
                    .as_str()
                    .expect("key")
                    .starts_with("-----BEGIN PRIVATE KEY-----")
            );
            check_cert(dir.path(), &server.roots_pem, kind, &v);
        }
    }

    // And the admin profile of the default issuer.
    let (s, v) = server
        .post(
            "/api/v1/certificates",
            &json!({"profile": "admin", "sans": ["admin@example.com"]}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    check_cert(dir.path(), &server.roots_pem, "admin", &v);
    let all = server.list_all("").await;
    let responders = all
        .iter()
        .filter(|c| c["profile"] == "ocsp-responder")
        .count();
    assert_eq!(
        responders, 6,
        "one delegated OCSP responder per online issuer"
    );
    assert_eq!(
        all.len() - responders,
        6 * 6 - 1 + 1 + 1,
        "every certificate is listed (plus the server's own)"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn csr_keys_from_openssl_are_certified_exactly() {
    let home = Home::new(None);
    let server = home.serve();
    let dir = scratch();
    let cases: [(&str, Vec<&str>); 4] = [
        (
            "ec256",
            vec!["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        ),
        (
            "ec384",
            vec!["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
        ),
        ("ed25519", vec!["-newkey", "ed25519"]),
        ("rsa2048", vec!["-newkey", "rsa:2048"]),
    ];
    for (name, args) in cases {
        let csr = openssl_csr(
            dir.path(),
            name,
            &args,
            "/CN=web.example.com",
            "DNS:web.example.com,DNS:Alt.Example.com,IP:10.0.0.1",
        );
        let v = server.issue_csr("tls-server", &csr).await;
        check_cert(dir.path(), &server.roots_pem, "tls-server", &v);
        // The certified key is the CSR's key.
        let leaf = dir.path().join(format!("{name}.crt"));
        std::fs::write(&leaf, v["certificate"].as_str().expect("cert")).expect("write");
        let (_, cert_pub) = run(
            &tool("openssl"),
            &[
                "x509",
                "-in",
                leaf.to_str().expect("p"),
                "-noout",
                "-pubkey",
            ],
        );
        let (_, csr_pub) = run(
            &tool("openssl"),
            &[
                "req",
                "-in",
                dir.path().join(format!("{name}.csr")).to_str().expect("p"),
                "-noout",
                "-pubkey",
            ],
        );
        assert_eq!(
            cert_pub, csr_pub,
            "{name}: certificate key differs from the CSR key"
        );
        let (_, text) = run(
            &tool("openssl"),
            &["x509", "-in", leaf.to_str().expect("p"), "-noout", "-text"],
        );
        assert!(
            text.contains("DNS:alt.example.com"),
            "SANs are lower-cased: {text}"
        );
        assert!(text.contains("IP Address:10.0.0.1"));
        assert_eq!(
            text.contains("Key Encipherment"),
            name == "rsa2048",
            "keyEncipherment only for RSA: {text}"
        );
        assert!(!text.contains("Certificate Sign"));
        // notBefore is backdated by at most a minute.
        let nb = v["not_before"].as_i64().expect("nb");
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        assert!(
            now - nb <= 61 + 30 && now - nb >= 59,
            "notBefore backdated {}s",
            now - nb
        );
        // Default lifetime of tls-server: 90 days, inclusive.
        assert_eq!(v["not_after"].as_i64().expect("na") - nb + 1, 90 * 86_400);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ml_dsa_hierarchies_verify_with_an_independent_implementation() {
    let (python, script) = mldsa_verifier();
    let home = Home::new(None);
    home.moor_ok(&["init"]);
    let levels = ["ml-dsa-44", "ml-dsa-65", "ml-dsa-87"];
    let mut config = String::new();
    for l in levels {
        home.moor_ok(&[
            "ca",
            "add-issuer",
            "--id",
            l,
            "--algorithm",
            l,
            "--new-root",
        ]);
        config.push_str(&format!("[profiles.pq-{l}]\nissuer = \"{l}\"\ndefault_lifetime = \"30d\"\nmax_lifetime = \"90d\"\nextended_key_usage = [\"server-auth\", \"client-auth\"]\nsan_types = [\"dns\"]\n\n"));
    }
    std::fs::write(home.file("mooring.toml"), config).expect("config");
    let server = home.serve();
    let dir = scratch();
    let issuers = server.get("/api/v1/issuers").await.1;
    for l in levels {
        let inter = issuers
            .as_array()
            .expect("list")
            .iter()
            .find(|i| i["id"] == l)
            .expect("issuer");
        let root = issuers
            .as_array()
            .expect("list")
            .iter()
            .find(|i| i["id"] == inter["parent"])
            .expect("root");
        assert_eq!(root["algorithm"], l);
        let root_f = dir.path().join(format!("{l}-root.pem"));
        let inter_f = dir.path().join(format!("{l}-inter.pem"));
        std::fs::write(&root_f, root["certificate"].as_str().expect("pem")).expect("write");
        std::fs::write(&inter_f, inter["certificate"].as_str().expect("pem")).expect("write");
        let (code, text) = run(
            &python,
            &[
                script.to_str().expect("p"),
                root_f.to_str().expect("p"),
                root_f.to_str().expect("p"),
            ],
        );
        assert_eq!(code, 0, "{l} root self-signature: {text}");
        let (code, text) = run(
            &python,
            &[
                script.to_str().expect("p"),
                root_f.to_str().expect("p"),
                inter_f.to_str().expect("p"),
            ],
        );
        assert_eq!(code, 0, "{l} root → intermediate: {text}");
        for leaf_alg in [l, "ecdsa-p256"] {
            let (s, v) = server.post("/api/v1/certificates", &json!({"profile": format!("pq-{l}"), "sans": ["pq.example.com"], "algorithm": leaf_alg})).await;
            assert_eq!(s, 201, "{v}");
            let leaf_f = dir.path().join(format!("{l}-{leaf_alg}-leaf.pem"));
            std::fs::write(&leaf_f, v["certificate"].as_str().expect("pem")).expect("write");
            let (code, text) = run(
                &python,
                &[
                    script.to_str().expect("p"),
                    inter_f.to_str().expect("p"),
                    leaf_f.to_str().expect("p"),
                ],
            );
            assert_eq!(code, 0, "{l} intermediate → {leaf_alg} leaf: {text}");
            assert!(text.contains("OK"), "{text}");
            let findings = pkilint(
                dir.path(),
                "lint_pkix_cert",
                &[],
                &[v["certificate"].as_str().expect("pem")],
            );
            let real: Vec<_> = findings
                .iter()
                .filter(|f| {
                    !f.contains("unknown_public_key_algorithm") && !f.contains("unsupported")
                })
                .collect();
            assert!(real.is_empty(), "pkilint on ML-DSA leaf: {findings:?}");
        }
        // The verifier is not a rubber stamp: a flipped signature byte fails.
        let pem = std::fs::read_to_string(&inter_f).expect("read");
        let der = pem_to_der(&pem);
        let mut bad = der.clone();
        let last = bad.len() - 10;
        bad[last] ^= 0x01;
        let bad_f = dir.path().join(format!("{l}-bad.der"));
        std::fs::write(&bad_f, &bad).expect("write");
        let (code, text) = run(
            &python,
            &[
                script.to_str().expect("p"),
                root_f.to_str().expect("p"),
                bad_f.to_str().expect("p"),
            ],
        );
        assert_ne!(code, 0, "tampered {l} signature must fail: {text}");
    }
}

fn pem_to_der(pem: &str) -> Vec<u8> {
    use base64::Engine;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .expect("base64")
}
