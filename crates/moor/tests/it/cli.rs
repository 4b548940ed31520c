//! The CLI on its own: offline roots, name constraints, signing CSRs, JSON output.

use crate::harness::*;

#[test]
fn offline_root_stays_out_of_the_home_and_serve_does_not_need_it() {
    let home = Home::new(None);
    let keydir = scratch();
    let root_key = keydir.path().join("root.key.pem");
    let out = home.moor_json(&["init", "--offline-root", root_key.to_str().expect("p")]);
    assert_eq!(out["offline_root_key"], root_key.display().to_string());
    assert!(root_key.is_file());
    assert!(
        !home.file("keys/root.key.pem").exists(),
        "the root key is not in the home"
    );
    let cas = home.moor_json(&["ca", "list"]);
    let root = cas
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["kind"] == "root")
        .expect("root");
    assert_eq!(root["key"], "offline");
    // Issuing works without the root key.
    home.moor_ok(&["issue", "--san", "x.example.com"]);
    // A new intermediate under the offline root needs its key, and then works.
    let out = home.moor(&["ca", "add-issuer", "--id", "second"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("offline"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    home.moor_ok(&[
        "ca",
        "add-issuer",
        "--id",
        "second",
        "--root-key",
        root_key.to_str().expect("p"),
    ]);
    assert_eq!(
        home.moor_json(&["ca", "list"])
            .as_array()
            .expect("rows")
            .len(),
        3
    );
}

#[test]
fn name_constrained_intermediate_refuses_names_outside_and_openssl_agrees() {
    let home = Home::new(None);
    home.moor_ok(&[
        "init",
        "--permit-dns",
        "corp.example.com",
        "--exclude-dns",
        "secret.corp.example.com",
    ]);
    let dir = scratch();
    let (_, text) = run(
        &tool("openssl"),
        &[
            "x509",
            "-in",
            home.file("certs/default.pem").to_str().expect("p"),
            "-noout",
            "-text",
        ],
    );
    assert!(
        text.contains("Permitted:") && text.contains("DNS:corp.example.com"),
        "{text}"
    );
    let prefix = dir.path().join("ok");
    home.moor_ok(&[
        "issue",
        "--san",
        "www.corp.example.com",
        "--out",
        prefix.to_str().expect("p"),
    ]);
    let (code, text) = openssl_verify(
        dir.path(),
        &home.read("roots.pem"),
        &home.read("certs/default.pem"),
        &std::fs::read_to_string(dir.path().join("ok.crt")).expect("crt"),
        &[],
    );
    assert_eq!(code, 0, "{text}");
    for bad in ["www.other.org", "a.secret.corp.example.com"] {
        let out = home.moor(&["issue", "--san", bad]);
        assert!(!out.status.success(), "{bad} must be refused");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("name constraints"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn sign_a_csr_from_the_command_line() {
    let home = Home::new(None);
    home.moor_ok(&["init", "--algorithm", "ecdsa-p384"]);
    let dir = scratch();
    openssl_csr(
        dir.path(),
        "svc",
        &["-newkey", "rsa:3072"],
        "/CN=svc.example.com",
        "DNS:svc.example.com,URI:spiffe://example.org/svc",
    );
    let prefix = dir.path().join("svc-out");
    let v = home.moor_json(&[
        "sign",
        "--profile",
        "mtls",
        "--csr",
        dir.path().join("svc.csr").to_str().expect("p"),
        "--lifetime",
        "7d",
        "--out",
        prefix.to_str().expect("p"),
    ]);
    assert_eq!(v["profile"], "mtls");
    let leaf = std::fs::read_to_string(dir.path().join("svc-out.crt")).expect("crt");
    let (code, text) = openssl_verify(
        dir.path(),
        &home.read("roots.pem"),
        &home.read("certs/default.pem"),
        &leaf,
        &["-purpose", "sslserver"],
    );
    assert_eq!(code, 0, "{text}");
    let (code, text) = openssl_verify(
        dir.path(),
        &home.read("roots.pem"),
        &home.read("certs/default.pem"),
        &leaf,
        &["-purpose", "sslclient"],
    );
    assert_eq!(code, 0, "{text}");
    let shown = home.moor_json(&["certs", "show", v["serial"].as_str().expect("serial")]);
    assert_eq!(shown["key_algorithm"], "rsa-3072");
    assert_eq!(
        shown["sans"],
        serde_json::json!(["dns:svc.example.com", "uri:spiffe://example.org/svc"])
    );
    // A bad CSR file is a clear error, not a panic.
    std::fs::write(dir.path().join("junk.csr"), b"\x30\x82\xff\xff junk").expect("write");
    let out = home.moor(&[
        "sign",
        "--csr",
        dir.path().join("junk.csr").to_str().expect("p"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("bad_csr"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn wrong_passphrase_fails_closed() {
    let home = Home::new(None);
    home.moor_ok(&["init"]);
    std::fs::write(home.file("ca-passphrase"), "not-the-passphrase\n").expect("write");
    let out = home.moor(&["issue", "--san", "x.example.com"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.to_lowercase().contains("passphrase"), "{err}");
}

#[test]
fn init_with_ed25519_or_ml_dsa_offers_every_profile_but_public_tls() {
    for alg in ["ed25519", "ml-dsa-44"] {
        let home = Home::new(None);
        home.moor_ok(&["init", "--algorithm", alg]);
        let v = home.moor_json(&["issue", "--profile", "mtls", "--san", "svc.example.com"]);
        assert_eq!(v["issuer"], "default");
        let out = home.moor(&[
            "issue",
            "--profile",
            "public-tls",
            "--san",
            "www.example.com",
        ]);
        assert!(
            !out.status.success(),
            "{alg}: public-tls needs an RSA/ECDSA issuer"
        );
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("unknown_profile"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
