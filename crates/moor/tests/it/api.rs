//! The REST API: authentication, listing, formats, revocation, public endpoints.

use serde_json::json;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread")]
async fn first_serve_initialises_and_public_endpoints_answer() {
    let home = Home::new(None);
    let server = home.serve();
    let log = std::fs::read_to_string(&server.stdout_path).expect("log");
    assert!(
        log.contains("root fingerprint: SHA256:"),
        "first start prints the root fingerprint: {log}"
    );
    assert!(
        log.contains("admin.token"),
        "and where the admin token is: {log}"
    );
    assert!(log.contains(&server.https), "and the URL: {log}");
    let r = server
        .client
        .get(server.url("/health"))
        .send()
        .await
        .expect("health");
    assert_eq!(r.status(), 200);
    let roots = server
        .client
        .get(server.url("/roots.pem"))
        .send()
        .await
        .expect("roots")
        .text()
        .await
        .expect("text");
    assert_eq!(roots, home.read("roots.pem"));
    // Plain HTTP: CA certificate (AIA caIssuers target) and trust bundle.
    let plain = reqwest::Client::new();
    let der = plain
        .get(format!("http://{}/ca/default.crt", server.http))
        .send()
        .await
        .expect("ca")
        .bytes()
        .await
        .expect("body");
    assert_eq!(der[0], 0x30, "DER certificate");
    let r = plain
        .get(format!("http://{}/api/v1/issuers", server.http))
        .send()
        .await
        .expect("req");
    assert_eq!(
        r.status(),
        404,
        "the admin API is not on the plain-HTTP listener"
    );
    // Key files are private, the passphrase was generated with 0600.
    use std::os::unix::fs::PermissionsExt;
    for f in [
        "keys/root.key.pem",
        "keys/default.key.pem",
        "keys/server-tls.key.pem",
        "admin.token",
        "ca-passphrase",
    ] {
        let mode = std::fs::metadata(home.file(f))
            .expect(f)
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{f} mode {mode:o}");
        if f.starts_with("keys/") {
            assert!(
                home.read(f)
                    .starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"),
                "{f} encrypted at rest"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn authentication_is_required_and_checked() {
    let home = Home::new(None);
    let server = home.serve();
    let body = json!({"profile": "tls-server", "sans": ["a.example.com"]});
    let r = server
        .client
        .post(server.url("/api/v1/certificates"))
        .json(&body)
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 401);
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(v["code"], "unauthorized");
    for bad in [
        "moor_tok0000000000000000_AAAA",
        "nonsense",
        &format!("{}x", server.token),
        "",
    ] {
        let r = server
            .client
            .get(server.url("/api/v1/issuers"))
            .bearer_auth(bad)
            .send()
            .await
            .expect("req");
        assert_eq!(r.status(), 401, "token {bad:?}");
    }
    // A token created by the CLI while the server runs works at once.
    let t = home.moor_json(&["token", "create", "--name", "ci"]);
    let r = server
        .client
        .get(server.url("/api/v1/issuers"))
        .bearer_auth(t["token"].as_str().expect("token"))
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn mtls_admin_certificates_authenticate_and_others_do_not() {
    let home = Home::new(None);
    home.moor_ok(&["init"]);
    let prefix = home.file("admin1");
    home.moor_ok(&[
        "issue",
        "--profile",
        "admin",
        "--san",
        "ops@example.com",
        "--out",
        prefix.to_str().expect("p"),
    ]);
    let client_prefix = home.file("client1");
    home.moor_ok(&[
        "issue",
        "--profile",
        "tls-client",
        "--san",
        "app@example.com",
        "--out",
        client_prefix.to_str().expect("p"),
    ]);
    let server = home.serve();
    let id = format!(
        "{}{}",
        home.read("admin1.chain.pem"),
        home.read("admin1.key")
    );
    let admin = client_with(&server.roots_pem, Some(&id));
    let r = admin
        .get(server.url("/api/v1/issuers"))
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 200, "admin certificate authenticates");
    let r = admin
        .post(server.url("/api/v1/certificates"))
        .json(&json!({"profile": "tls-server", "sans": ["m.example.com"]}))
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 201);
    let v: serde_json::Value = r.json().await.expect("json");
    let (_, shown) = server
        .get(&format!(
            "/api/v1/certificates/{}",
            v["serial"].as_str().expect("serial")
        ))
        .await;
    assert!(
        shown["requester"]
            .as_str()
            .expect("requester")
            .starts_with("mtls:"),
        "{shown}"
    );

    let id = format!(
        "{}{}",
        home.read("client1.chain.pem"),
        home.read("client1.key")
    );
    let other = client_with(&server.roots_pem, Some(&id));
    let r = other
        .get(server.url("/api/v1/issuers"))
        .send()
        .await
        .expect("req");
    assert_eq!(
        r.status(),
        401,
        "a tls-client certificate is not an admin credential"
    );

    // Revoking the admin certificate ends its access.
    let serial = home
        .moor_json(&["certs", "list", "--profile", "admin"])
        .as_array()
        .expect("rows")[0]["serial"]
        .as_str()
        .expect("s")
        .to_string();
    home.moor_ok(&["revoke", &serial, "--reason", "key-compromise"]);
    let admin = client_with(
        &server.roots_pem,
        Some(&format!(
            "{}{}",
            home.read("admin1.chain.pem"),
            home.read("admin1.key")
        )),
    );
    let r = admin
        .get(server.url("/api/v1/issuers"))
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 401, "revoked admin certificate");
}

#[tokio::test(flavor = "multi_thread")]
async fn list_filters_pagination_formats_and_revocation() {
    let home = Home::new(None);
    let server = home.serve();
    let mut serials = Vec::new();
    for i in 0..25 {
        let profile = if i % 5 == 0 {
            "tls-client"
        } else {
            "tls-server"
        };
        let san = if profile == "tls-client" {
            format!("user{i}@example.com")
        } else {
            format!("host{i}.example.com")
        };
        let (s, v) = server.post("/api/v1/certificates", &json!({"profile": profile, "sans": [san], "lifetime": if i == 3 { "1d" } else { "30d" }})).await;
        assert_eq!(s, 201, "{v}");
        serials.push(v["serial"].as_str().expect("serial").to_string());
    }
    // Cursor pagination: each certificate exactly once.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let (s, v) = server
            .get(&format!("/api/v1/certificates?limit=7{cursor}"))
            .await;
        assert_eq!(s, 200);
        let items = v["items"].as_array().expect("items");
        assert!(items.len() <= 7);
        seen.extend(
            items
                .iter()
                .map(|i| i["serial"].as_str().expect("s").to_string()),
        );
        match v["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(
        seen.len(),
        27,
        "25 + the server certificate + the default issuer's delegated OCSP responder"
    );
    for s in &serials {
        assert_eq!(seen.iter().filter(|x| *x == s).count(), 1);
    }
    assert_eq!(server.list_all("&profile=tls-client").await.len(), 5);
    let by_san = server.list_all("&san=host7.example.com").await;
    assert_eq!(by_san.len(), 1);
    assert_eq!(by_san[0]["serial"], serials[7]);
    assert_eq!(server.list_all("&san=dns:host7.example.com").await.len(), 1);
    let soon = time::OffsetDateTime::now_utc().unix_timestamp() + 2 * 86_400;
    let expiring = server.list_all(&format!("&expiring_before={soon}")).await;
    assert_eq!(expiring.len(), 1);
    assert_eq!(expiring[0]["serial"], serials[3]);
    assert_eq!(server.list_all("&issuer=default").await.len(), 27);
    assert_eq!(server.list_all("&issuer=nope").await.len(), 0);
    let (s, v) = server.get("/api/v1/certificates?status=bogus").await;
    assert_eq!((s, v["code"].as_str()), (400, Some("malformed")));

    // Formats.
    let path = format!("/api/v1/certificates/{}", serials[1]);
    let (s, v) = server.get(&path).await;
    assert_eq!(s, 200);
    assert_eq!(v["sans"], json!(["dns:host1.example.com"]));
    assert_eq!(v["status"], "valid");
    let der = server
        .client
        .get(server.url(&path))
        .bearer_auth(&server.token)
        .header("Accept", "application/pkix-cert")
        .send()
        .await
        .expect("req")
        .bytes()
        .await
        .expect("der");
    assert_eq!(der[0], 0x30);
    let pem = server
        .client
        .get(server.url(&path))
        .bearer_auth(&server.token)
        .header("Accept", "application/pem-certificate-chain")
        .send()
        .await
        .expect("req")
        .text()
        .await
        .expect("pem");
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
    let (s, _) = server.get("/api/v1/certificates/00ff00ff").await;
    assert_eq!(s, 404);
    let (s, v) = server.get("/api/v1/certificates/not-hex").await;
    assert_eq!((s, v["code"].as_str()), (400, Some("bad_request")));

    // Revocation.
    let rpath = format!("/api/v1/certificates/{}/revoke", serials[2]);
    let (s, v) = server
        .post(&rpath, &json!({"reason": "key-compromise"}))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], "revoked");
    assert_eq!(v["revocation_reason"], "key-compromise");
    let (s, v) = server.post(&rpath, &json!({"reason": "superseded"})).await;
    assert_eq!((s, v["code"].as_str()), (409, Some("already_revoked")));
    let (s, v) = server
        .post(
            &format!("/api/v1/certificates/{}/revoke", serials[4]),
            &json!({"reason": "certificateHold"}),
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (400, Some("bad_request")),
        "certificateHold is refused: {v}"
    );
    assert_eq!(server.list_all("&status=revoked").await.len(), 1);
    // 27 listed, one revoked.
    assert_eq!(server.list_all("&status=valid").await.len(), 26);

    // The CLI sees the same store, with JSON output.
    let rows = home.moor_json(&["certs", "list", "--status", "revoked"]);
    assert_eq!(rows.as_array().expect("rows").len(), 1);
    assert_eq!(rows[0]["serial"], serials[2]);
    let v = home.moor_json(&["audit", "verify"]);
    assert!(v["entries"].as_i64().expect("n") >= 27);
    assert!(v["first_failure"].is_null());
}

#[tokio::test(flavor = "multi_thread")]
async fn request_bodies_are_bounded_and_checked() {
    let home = Home::new(None);
    let server = home.serve();
    let huge = "A".repeat(moor_core::limits::MAX_BODY_BYTES + 10);
    // The server answers 413 from the Content-Length alone and closes the connection, so
    // the client sees either the 413 or a broken pipe while still sending; never a 2xx.
    let before = server.list_all("").await.len();
    match server
        .client
        .post(server.url("/api/v1/certificates"))
        .bearer_auth(&server.token)
        .json(&json!({"profile": "tls-server", "csr": huge}))
        .send()
        .await
    {
        Ok(r) => assert_eq!(r.status(), 413),
        Err(e) => assert!(e.is_request(), "unexpected error: {e:?}"),
    }
    assert_eq!(server.list_all("").await.len(), before);
    let r = server
        .client
        .post(server.url("/api/v1/certificates"))
        .bearer_auth(&server.token)
        .header("Content-Type", "text/plain")
        .body("{}")
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 415);
    let (s, v) = server
        .post(
            "/api/v1/certificates",
            &json!({"profile": "tls-server", "csr": "x", "sans": ["a.example.com"]}),
        )
        .await;
    assert_eq!((s, v["code"].as_str()), (400, Some("malformed")));
    let (s, v) = server
        .post(
            "/api/v1/certificates",
            &json!({"profile": "tls-server", "sans": ["a.example.com"], "is_ca": true}),
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (400, Some("malformed")),
        "unknown fields are refused: {v}"
    );
    let r = server
        .client
        .post(server.url("/api/v1/certificates"))
        .bearer_auth(&server.token)
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("req");
    assert_eq!(r.status(), 400);
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(v["code"], "malformed");
}

#[tokio::test(flavor = "multi_thread")]
async fn server_side_keygen_returns_pkcs12_that_openssl_opens() {
    use base64::Engine;
    let home = Home::new(None);
    let server = home.serve();
    let dir = scratch();
    let (s, v) = server.post("/api/v1/certificates", &json!({"profile": "tls-client", "sans": ["laptop@example.com"], "algorithm": "ecdsa-p384", "pkcs12_password": "s3cret pass"})).await;
    assert_eq!(s, 201, "{v}");
    let p12 = base64::engine::general_purpose::STANDARD
        .decode(v["pkcs12"].as_str().expect("pkcs12"))
        .expect("b64");
    let f = dir.path().join("laptop.p12");
    std::fs::write(&f, p12).expect("write");
    let (code, text) = run(
        &tool("openssl"),
        &[
            "pkcs12",
            "-in",
            f.to_str().expect("p"),
            "-passin",
            "pass:s3cret pass",
            "-nodes",
            "-info",
        ],
    );
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("BEGIN PRIVATE KEY") && text.matches("BEGIN CERTIFICATE").count() == 2,
        "key, leaf and intermediate: {text}"
    );
    let (code, _) = run(
        &tool("openssl"),
        &[
            "pkcs12",
            "-in",
            f.to_str().expect("p"),
            "-passin",
            "pass:wrong",
            "-nodes",
        ],
    );
    assert_ne!(code, 0, "wrong password");
    // pkcs12 only with server-side key generation.
    let csr = openssl_csr(
        dir.path(),
        "c",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "/CN=x",
        "email:x@example.com",
    );
    let (s, v) = server
        .post(
            "/api/v1/certificates",
            &json!({"profile": "tls-client", "csr": csr, "pkcs12_password": "x"}),
        )
        .await;
    assert_eq!((s, v["code"].as_str()), (400, Some("malformed")));
}
