//! refuse.md rows B1 (CSR and key), B2 (identifiers) and B5 (profile) through the
//! REST API: each refusal has a stable code, nothing is signed or stored, and
//! every refusal is in the audit log.

use serde_json::{Value, json};

use crate::harness::*;

struct Case {
    what: &'static str,
    body: Value,
    status: u16,
    code: &'static str,
}

fn csr_case(what: &'static str, profile: &str, csr: String, code: &'static str) -> Case {
    Case {
        what,
        body: json!({"profile": profile, "csr": csr}),
        status: 400,
        code,
    }
}

fn sans_case(what: &'static str, profile: &str, sans: Vec<String>, code: &'static str) -> Case {
    Case {
        what,
        body: json!({"profile": profile, "sans": sans}),
        status: 400,
        code,
    }
}

fn tamper(pem: &str, at_end: usize) -> String {
    use base64::Engine;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let mut der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .expect("b64");
    let i = der.len() - at_end;
    der[i] ^= 0x01;
    format!(
        "-----BEGIN CERTIFICATE REQUEST-----\n{}\n-----END CERTIFICATE REQUEST-----\n",
        base64::engine::general_purpose::STANDARD.encode(der)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_are_refused_with_stable_codes_and_nothing_is_stored() {
    let home = Home::new(Some(
        "[profiles.ec-only]\nkey_algorithms = [\"ecdsa-p256\"]\ndefault_lifetime = \"30d\"\nmax_lifetime = \"60d\"\nextended_key_usage = [\"server-auth\"]\nsan_types = [\"dns\"]\nallow = [\"*.corp.example.com\"]\ndeny = [\"secret.corp.example.com\"]\n",
    ));
    home.moor_ok(&["init"]);
    let server = home.serve();
    let d = scratch();
    let dir = d.path();
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"];
    let good_sans = "DNS:ok.example.com";
    let mut cases = vec![
        // B1: CSR and key material.
        csr_case("garbage CSR", "tls-server", "hello".into(), "bad_csr"),
        csr_case("empty CSR", "tls-server", String::new(), "bad_csr"),
        csr_case(
            "RSA 1024",
            "tls-server",
            openssl_csr(
                dir,
                "rsa1024",
                &["-newkey", "rsa:1024"],
                "/CN=ok.example.com",
                good_sans,
            ),
            "bad_public_key",
        ),
        csr_case(
            "secp256k1",
            "tls-server",
            openssl_csr(
                dir,
                "k1",
                &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:secp256k1"],
                "/CN=ok.example.com",
                good_sans,
            ),
            "bad_public_key",
        ),
        csr_case(
            "P-521 (not offered)",
            "tls-server",
            openssl_csr(
                dir,
                "p521",
                &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-521"],
                "/CN=ok.example.com",
                good_sans,
            ),
            "bad_public_key",
        ),
        csr_case(
            "SHA-1 signature",
            "tls-server",
            openssl_csr(
                dir,
                "sha1",
                &["-sha1", "-newkey", "rsa:2048"],
                "/CN=ok.example.com",
                good_sans,
            ),
            "bad_signature_algorithm",
        ),
        csr_case(
            "signature does not verify",
            "tls-server",
            tamper(
                &openssl_csr(dir, "tamper", &ec, "/CN=ok.example.com", good_sans),
                5,
            ),
            "bad_csr",
        ),
        csr_case(
            "requests CA:TRUE",
            "tls-server",
            openssl_csr(
                dir,
                "ca",
                &[
                    "-addext",
                    "basicConstraints=critical,CA:TRUE",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:P-256",
                ],
                "/CN=ok.example.com",
                good_sans,
            ),
            "profile_violation",
        ),
        csr_case(
            "requests keyCertSign",
            "tls-server",
            openssl_csr(
                dir,
                "kcs",
                &[
                    "-addext",
                    "keyUsage=critical,keyCertSign",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:P-256",
                ],
                "/CN=ok.example.com",
                good_sans,
            ),
            "profile_violation",
        ),
        csr_case(
            "requests codeSigning EKU",
            "tls-server",
            openssl_csr(
                dir,
                "eku",
                &[
                    "-addext",
                    "extendedKeyUsage=codeSigning",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:P-256",
                ],
                "/CN=ok.example.com",
                good_sans,
            ),
            "profile_violation",
        ),
        csr_case(
            "CN not among SANs",
            "tls-server",
            openssl_csr(dir, "cn", &ec, "/CN=other.example.com", good_sans),
            "bad_csr",
        ),
        csr_case(
            "IP address in CN",
            "tls-server",
            openssl_csr(dir, "ipcn", &ec, "/CN=10.0.0.1", "IP:10.0.0.1"),
            "bad_csr",
        ),
        csr_case(
            "email SAN in a TLS profile",
            "tls-server",
            openssl_csr(
                dir,
                "email",
                &ec,
                "/CN=ok.example.com",
                "DNS:ok.example.com,email:a@example.com",
            ),
            "rejected_identifier",
        ),
        csr_case(
            "IP as dNSName",
            "tls-server",
            openssl_csr(
                dir,
                "ipdns",
                &ec,
                "/CN=ok.example.com",
                "DNS:ok.example.com,DNS:10.0.0.1",
            ),
            "rejected_identifier",
        ),
        csr_case(
            "no names at all",
            "tls-server",
            openssl_csr(dir, "none", &ec, "/O=Nobody", ""),
            "bad_csr",
        ),
        csr_case(
            "key algorithm outside the profile",
            "ec-only",
            openssl_csr(
                dir,
                "ed",
                &["-newkey", "ed25519"],
                "/CN=a.corp.example.com",
                "DNS:a.corp.example.com",
            ),
            "bad_public_key",
        ),
        csr_case(
            "the CA's own key",
            "tls-server",
            {
                let key = home.file("keys/default.key.pem");
                let pass = format!("file:{}", home.file("ca-passphrase").display());
                let out = dir.join("cakey.csr");
                let (c, t) = run(
                    &tool("openssl"),
                    &[
                        "req",
                        "-new",
                        "-key",
                        key.to_str().expect("p"),
                        "-passin",
                        &pass,
                        "-subj",
                        "/CN=ok.example.com",
                        "-addext",
                        "subjectAltName=DNS:ok.example.com",
                        "-out",
                        out.to_str().expect("p"),
                    ],
                );
                assert_eq!(c, 0, "{t}");
                std::fs::read_to_string(out).expect("csr")
            },
            "blocked_key",
        ),
        Case {
            what: "public profile with an Ed25519 key",
            body: json!({"profile": "public-tls", "sans": ["www.example.com"], "algorithm": "ed25519"}),
            status: 400,
            code: "bad_public_key",
        },
    ];
    {
        let mut many = String::from("DNS:n0.example.com");
        for i in 1..=100 {
            many.push_str(&format!(",DNS:n{i}.example.com"));
        }
        cases.push(csr_case(
            "101 SANs",
            "tls-server",
            openssl_csr(dir, "many", &ec, "/CN=n0.example.com", &many),
            "too_many_identifiers",
        ));
    }
    // B2: identifiers (server-side key generation, names in JSON).
    let bad_names: Vec<(&str, String)> = vec![
        ("underscore", "a_b.example.com".into()),
        ("empty label", "a..example.com".into()),
        ("leading hyphen", "-a.example.com".into()),
        ("trailing hyphen", "a-.example.com".into()),
        ("label over 63", format!("{}.example.com", "a".repeat(64))),
        (
            "name over 253",
            format!("{}example.com", "abcdefghi.".repeat(25)),
        ),
        ("trailing dot", "example.com.".into()),
        ("R-LDH not xn--", "ab--cd.example.com".into()),
        ("bad punycode", "xn--.example.com".into()),
        ("wildcard not leftmost", "a.*.example.com".into()),
        ("two wildcards", "*.*.example.com".into()),
        ("partial wildcard", "f*o.example.com".into()),
        ("non-LDH", "exa$mple.com".into()),
        ("non-canonical IPv4", "010.1.1.1".into()),
        ("IPv6 zone", "fe80::1%eth0".into()),
        ("IPv4-mapped IPv6", "::ffff:1.2.3.4".into()),
    ];
    for (what, name) in bad_names {
        cases.push(sans_case(
            what,
            "tls-server",
            vec![name],
            "rejected_identifier",
        ));
    }
    for (what, name) in [
        ("public: wildcard over a public suffix", "*.co.uk"),
        ("public: bare TLD wildcard", "*.com"),
        ("public: .local", "printer.local"),
        ("public: single label", "localhost"),
        ("public: private IP", "10.0.0.1"),
        ("public: loopback IPv6", "::1"),
        ("public: .internal", "db.internal"),
    ] {
        cases.push(sans_case(
            what,
            "public-tls",
            vec![name.into()],
            "rejected_identifier",
        ));
    }
    cases.push(sans_case(
        "name not in allow list",
        "ec-only",
        vec!["www.example.com".into()],
        "rejected_identifier",
    ));
    cases.push(sans_case(
        "name in deny list",
        "ec-only",
        vec!["secret.corp.example.com".into()],
        "rejected_identifier",
    ));
    cases.push(sans_case(
        "wildcard in code-signing",
        "code-signing",
        vec!["*.example.com".into()],
        "rejected_identifier",
    ));
    // B5: lifetime and profiles.
    cases.push(Case {
        what: "lifetime over the maximum",
        body: json!({"profile": "tls-server", "sans": ["ok.example.com"], "lifetime": "200d"}),
        status: 400,
        code: "profile_violation",
    });
    cases.push(Case {
        what: "unknown profile",
        body: json!({"profile": "nope", "sans": ["ok.example.com"]}),
        status: 404,
        code: "unknown_profile",
    });
    cases.push(Case {
        what: "unknown algorithm",
        body: json!({"profile": "tls-server", "sans": ["ok.example.com"], "algorithm": "dsa-1024"}),
        status: 400,
        code: "malformed",
    });

    let before = server.list_all("").await.len();
    let audit_before = home.moor_json(&["audit", "verify"])["entries"]
        .as_i64()
        .expect("n");
    let mut refusals_audited = 0;
    for c in cases.iter_mut() {
        if c.code == "blocked_key" {
            c.status = 403;
        }
    }
    for c in &cases {
        let (s, v) = server.post("/api/v1/certificates", &c.body).await;
        assert_eq!(
            (s, v["code"].as_str().unwrap_or("")),
            (c.status, c.code),
            "{}: {v}",
            c.what
        );
        assert!(
            !v["message"].as_str().unwrap_or("").is_empty(),
            "{}: a message explains the refusal",
            c.what
        );
        if c.code != "malformed" {
            refusals_audited += 1;
        }
    }
    assert_eq!(
        server.list_all("").await.len(),
        before,
        "nothing was stored for a refused request"
    );
    let audit = home.moor_json(&["audit", "verify"]);
    assert!(audit["first_failure"].is_null());
    assert_eq!(
        audit["entries"].as_i64().expect("n"),
        audit_before + refusals_audited,
        "every refusal is audited"
    );

    // And the good versions of the same requests do issue.
    for (profile, san) in [
        ("tls-server", "ok.example.com"),
        ("ec-only", "a.corp.example.com"),
        ("public-tls", "www.example.com"),
        ("tls-server", "*.example.com"),
        ("tls-server", "xn--bcher-kva.example.com"),
        ("tls-server", "10.0.0.1"),
    ] {
        let (s, v) = server
            .post(
                "/api/v1/certificates",
                &json!({"profile": profile, "sans": [san]}),
            )
            .await;
        assert_eq!(s, 201, "{profile} {san}: {v}");
    }
}
