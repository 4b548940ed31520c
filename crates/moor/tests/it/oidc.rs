//! OIDC / JWT provisioner (issue 5 item 5): tokens of a test issuer whose JWKS is served on
//! loopback are exchanged for certificates whose names come from the claims; a wrong
//! audience, an expired token, a token signed by another key, a replayed token and a CSR
//! for other names are refused. A key the issuer rotates in is fetched on first sight.

use std::sync::{Arc, Mutex};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};

use crate::acme::b64;
use crate::harness::{Home, Server, openssl_csr, openssl_verify, pkilint, scratch};

const ISSUER: &str = "https://kubernetes.default.svc";

struct TestIssuer {
    keys: Vec<(String, EcdsaKeyPair)>,
}

impl TestIssuer {
    fn key(kid: &str) -> (String, EcdsaKeyPair) {
        (
            kid.to_string(),
            EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("key"),
        )
    }

    fn jwks(&self) -> Value {
        let keys: Vec<Value> = self
            .keys
            .iter()
            .map(|(kid, k)| {
                let p = k.public_key().as_ref();
                json!({"kty": "EC", "crv": "P-256", "x": b64(&p[1..33]), "y": b64(&p[33..65]), "kid": kid, "use": "sig", "alg": "ES256"})
            })
            .collect();
        json!({ "keys": keys })
    }

    fn sign(key: &EcdsaKeyPair, kid: &str, claims: &Value) -> String {
        let h = b64(json!({"alg": "ES256", "kid": kid, "typ": "JWT"}).to_string());
        let p = b64(claims.to_string());
        let input = format!("{h}.{p}");
        let sig = key
            .sign(&SystemRandom::new(), input.as_bytes())
            .expect("sign");
        format!("{input}.{}", b64(sig.as_ref()))
    }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn claims(ns: &str, sa: &str, aud: &str, iat: i64, exp: i64) -> Value {
    json!({
        "iss": ISSUER, "aud": [aud], "sub": format!("system-serviceaccount-{ns}-{sa}"),
        "iat": iat, "exp": exp,
        "kubernetes.io": {"namespace": ns, "serviceaccount": {"name": sa, "uid": "1234"}}
    })
}

async fn exchange(server: &Server, token: &str, csr: &str) -> (u16, Value) {
    let r = server
        .client
        .post(server.url("/api/v1/oidc/k8s/enroll"))
        .bearer_auth(token)
        .json(&json!({ "csr": csr }))
        .send()
        .await
        .expect("post");
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread")]
async fn oidc_tokens_become_certificates_once_and_bad_tokens_are_refused() {
    // The issuer's JWKS on loopback (it can rotate keys in).
    let issuer = Arc::new(Mutex::new(TestIssuer {
        keys: vec![TestIssuer::key("k1")],
    }));
    let served = issuer.clone();
    let app = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            let v = served.lock().expect("lock").jwks();
            async move { axum::Json(v) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let home = Home::new(Some(&format!(
        "[oidc.k8s]\nissuer = \"{ISSUER}\"\naudience = \"mooring\"\njwks_url = \"http://127.0.0.1:{port}/jwks\"\nprofile = \"mtls\"\nnames = [\"spiffe://{{trust_domain}}/ns/{{kubernetes.io/namespace}}/sa/{{kubernetes.io/serviceaccount/name}}\"]\ntrust_domain = \"example.org\"\nmax_token_lifetime = \"2h\"\n"
    )));
    let server = home.serve();
    let work = scratch();
    let dir = work.path();
    let spiffe = "spiffe://example.org/ns/prod/sa/web";
    let csr = openssl_csr(
        dir,
        "web",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "/O=test",
        &format!("URI:{spiffe}"),
    );
    let t0 = now();
    let sign = |kid: &str, c: &Value| {
        let g = issuer.lock().expect("lock");
        let key = &g.keys.iter().find(|(k, _)| k == kid).expect("kid").1;
        TestIssuer::sign(key, kid, c)
    };

    // A good token: a certificate for the SPIFFE ID its claims name.
    let good = sign("k1", &claims("prod", "web", "mooring", t0, t0 + 600));
    let (s, v) = exchange(&server, &good, &csr).await;
    assert_eq!(s, 201, "{v}");
    let leaf = v["certificate"].as_str().expect("cert");
    let (code, text) = openssl_verify(
        dir,
        &server.roots_pem,
        v["chain"].as_str().expect("chain"),
        leaf,
        &[],
    );
    assert_eq!(code, 0, "{text}");
    let findings: Vec<String> = pkilint(dir, "lint_pkix_cert", &[], &[leaf])
        .into_iter()
        .filter(|f| !f.contains("pkix.invalid_uri_syntax")) // peers.md: false positive on spiffe://
        .collect();
    assert!(findings.is_empty(), "{findings:?}");
    let (_, rec) = server
        .get(&format!(
            "/api/v1/certificates/{}",
            v["serial"].as_str().expect("serial")
        ))
        .await;
    assert_eq!(rec["sans"], json!([format!("uri:{spiffe}")]));
    assert_eq!(rec["requester"], "oidc:k8s:system-serviceaccount-prod-web");

    // The same token again: replay.
    let (s, v) = exchange(&server, &good, &csr).await;
    assert_eq!(s, 401, "replay: {v}");
    // Wrong audience; expired; too long-lived; another key under the same kid.
    for (what, token) in [
        (
            "audience",
            sign("k1", &claims("prod", "web", "someone-else", t0, t0 + 600)),
        ),
        (
            "expired",
            sign(
                "k1",
                &claims("prod", "web", "mooring", t0 - 7200, t0 - 3600),
            ),
        ),
        (
            "lifetime",
            sign("k1", &claims("prod", "web", "mooring", t0, t0 + 86_400)),
        ),
        (
            "signature",
            TestIssuer::sign(
                &TestIssuer::key("k1").1,
                "k1",
                &claims("prod", "web", "mooring", t0, t0 + 600),
            ),
        ),
    ] {
        let (s, v) = exchange(&server, &token, &csr).await;
        assert_eq!(s, 401, "{what}: {v}");
    }
    // Garbage and alg none.
    let none = format!(
        "{}.{}.",
        b64(json!({"alg": "none"}).to_string()),
        b64(claims("prod", "web", "mooring", t0, t0 + 600).to_string())
    );
    for junk in ["x", "a.b.c", none.as_str()] {
        let (s, _) = exchange(&server, junk, &csr).await;
        assert_eq!(s, 401, "{junk}");
    }
    // A valid token for another service account: the CSR's name is not its name.
    let other = sign("k1", &claims("prod", "db", "mooring", t0, t0 + 600));
    let (s, v) = exchange(&server, &other, &csr).await;
    assert_eq!(s, 400, "{v}");

    // The right SAN with a free-form CN (an identity the token never vouched for): 400.
    let cn_csr = openssl_csr(
        dir,
        "cn",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "/CN=postgres",
        &format!("URI:{spiffe}"),
    );
    let again = sign("k1", &claims("prod", "web", "mooring", t0 + 1, t0 + 601));
    let (s, v) = exchange(&server, &again, &cn_csr).await;
    assert_eq!(s, 400, "free-form CN: {v}");

    // The issuer rotates in k2: a token with it works (the JWKS is fetched again).
    issuer
        .lock()
        .expect("lock")
        .keys
        .push(TestIssuer::key("k2"));
    let csr2 = openssl_csr(
        dir,
        "db",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "/O=test",
        "URI:spiffe://example.org/ns/prod/sa/db",
    );
    let rotated = sign("k2", &claims("prod", "db", "mooring", t0, t0 + 600));
    let (s, v) = exchange(&server, &rotated, &csr2).await;
    assert_eq!(s, 201, "rotated key: {v}");

    // Refusals are audited.
    let store = moor_store::Database::Sqlite(home.path().join("mooring.db"))
        .open()
        .await
        .expect("store");
    let refused = store
        .audit_entries(0, i64::MAX)
        .await
        .expect("audit")
        .into_iter()
        .filter(|e| e.action == "oidc.refuse")
        .count();
    assert!(refused >= 7, "{refused} refusals audited");
}
