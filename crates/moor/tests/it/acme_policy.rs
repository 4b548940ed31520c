//! ACME policy end to end, step by step with a scripted client (dns-01 through
//! `pebble-challtestsrv`): the profiles extension, `replaces` and the admin's renew-now
//! override of ARI windows (RFC 9773), rate limits, authorization reuse, CAA rechecked at
//! finalize, the takeover of a finalization whose node died, and oversized bodies.
//! lego and certbot cover the common flows in `acme.rs`; these paths need control over
//! each request.

use std::time::Duration;

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::signature::KeyPair;
use base64::Engine as _;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::acme::{ChallTestSrv, Client, acme_home, b64, free_tcp_port, problem_type};
use crate::harness::{Home, Server, openssl_csr, scratch};

/// A registered account driving orders one request at a time.
struct Flow<'a> {
    c: Client<'a>,
    acct: String,
    dns: &'a ChallTestSrv,
    plain: reqwest::Client,
}

impl<'a> Flow<'a> {
    async fn new(server: &'a Server, dns: &'a ChallTestSrv) -> Flow<'a> {
        let c = Client::new(server);
        let acct = c.register().await;
        Flow {
            c,
            acct,
            dns,
            plain: server.client.clone(),
        }
    }

    fn url(&self, rest: &str) -> String {
        format!("{}/{rest}", self.c.base)
    }

    /// A `kid` POST (`payload` None: POST-as-GET); (status, body, headers).
    async fn post(&self, url: &str, payload: Option<&Value>) -> (u16, Value, HeaderMap) {
        let nonce = self.c.nonce().await;
        let body = self.c.body(url, &nonce, ("kid", json!(self.acct)), payload);
        let r = self
            .c
            .server
            .client
            .post(url)
            .header("content-type", "application/jose+json")
            .body(body.to_string())
            .send()
            .await
            .expect("post");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap_or_default();
        if status >= 400 {
            assert_eq!(
                headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default(),
                "application/problem+json",
                "{text}"
            );
        }
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, v, headers)
    }

    /// newOrder for `names` with `extra` members; (status, order, headers).
    async fn new_order(&self, names: &[&str], extra: Value) -> (u16, Value, HeaderMap) {
        let mut payload = json!({
            "identifiers": names.iter().map(|n| json!({"type": "dns", "value": n})).collect::<Vec<_>>()
        });
        if let Value::Object(m) = extra {
            for (k, v) in m {
                payload[k] = v;
            }
        }
        self.post(&self.url("new-order"), Some(&payload)).await
    }

    fn thumbprint(&self) -> String {
        let x = b64(self.c.key.public_key().as_ref());
        let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
        b64(digest(&SHA256, canonical.as_bytes()))
    }

    /// Answer every pending authorization of `order` with dns-01 and wait until valid.
    async fn validate(&self, order: &Value) {
        for authz_url in order["authorizations"].as_array().expect("authorizations") {
            let authz_url = authz_url.as_str().expect("authz url");
            let (s, authz, _) = self.post(authz_url, None).await;
            assert_eq!(s, 200, "{authz}");
            if authz["status"] == "valid" {
                continue;
            }
            let ch = authz["challenges"]
                .as_array()
                .expect("challenges")
                .iter()
                .find(|c| c["type"] == "dns-01")
                .expect("dns-01 offered")
                .clone();
            let key_authz = format!(
                "{}.{}",
                ch["token"].as_str().expect("token"),
                self.thumbprint()
            );
            let value = b64(digest(&SHA256, key_authz.as_bytes()));
            let host = format!(
                "_acme-challenge.{}.",
                authz["identifier"]["value"].as_str().expect("name")
            );
            let r = self
                .plain
                .post(format!("http://127.0.0.1:{}/set-txt", self.dns.management))
                .body(json!({"host": host, "value": value}).to_string())
                .send()
                .await
                .expect("set-txt");
            assert!(r.status().is_success());
            let (s, v, _) = self
                .post(ch["url"].as_str().expect("url"), Some(&json!({})))
                .await;
            assert_eq!(s, 200, "{v}");
            let mut last = Value::Null;
            for _ in 0..200 {
                let (_, a, _) = self.post(authz_url, None).await;
                if a["status"] != "pending" {
                    last = a;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            assert_eq!(last["status"], "valid", "{last}");
        }
    }

    /// Finalize with a fresh P-256 CSR for `names`; (status, order or problem).
    async fn finalize(&self, order: &Value, names: &[&str]) -> (u16, Value) {
        let dir = scratch();
        let sans: Vec<String> = names.iter().map(|n| format!("DNS:{n}")).collect();
        let pem = openssl_csr(
            dir.path(),
            "csr",
            &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
            &format!("/CN={}", names[0]),
            &sans.join(","),
        );
        let der = pem_der(&pem);
        let (s, v, _) = self
            .post(
                order["finalize"].as_str().expect("finalize"),
                Some(&json!({"csr": b64(der)})),
            )
            .await;
        (s, v)
    }

    /// Poll the order until it leaves `processing`/`ready`/`pending`.
    async fn settle(&self, order_url: &str) -> Value {
        let mut o = Value::Null;
        for _ in 0..200 {
            let (s, v, _) = self.post(order_url, None).await;
            assert_eq!(s, 200, "{v}");
            o = v;
            if o["status"] == "valid" || o["status"] == "invalid" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        o
    }

    /// newOrder → dns-01 → finalize → valid order; returns (order, leaf PEM).
    async fn issue(&self, names: &[&str], extra: Value) -> (Value, String) {
        let (s, order, h) = self.new_order(names, extra).await;
        assert_eq!(s, 201, "{order}");
        let url = location(&h);
        self.validate(&order).await;
        let (s, v) = self.finalize(&order, names).await;
        assert_eq!(s, 200, "{v}");
        let order = self.settle(&url).await;
        assert_eq!(order["status"], "valid", "{order}");
        let (s, chain, _) = self
            .post(order["certificate"].as_str().expect("certificate"), None)
            .await;
        assert_eq!(s, 200);
        let chain = chain.as_str().expect("PEM chain").to_string();
        let leaf = chain
            .split_inclusive("-----END CERTIFICATE-----\n")
            .next()
            .expect("leaf")
            .to_string();
        (order, leaf)
    }
}

fn location(h: &HeaderMap) -> String {
    h.get("location")
        .and_then(|v| v.to_str().ok())
        .expect("Location")
        .to_string()
}

fn pem_der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .expect("PEM base64")
}

/// The RFC 9773 certificate id (AKI keyIdentifier . serial) and the hex serial.
fn ari_id(leaf_pem: &str) -> (String, String) {
    let der = pem_der(leaf_pem);
    let (_, cert) = x509_parser::parse_x509_certificate(&der).expect("certificate");
    let aki = cert
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            x509_parser::extensions::ParsedExtension::AuthorityKeyIdentifier(a) => {
                a.key_identifier.as_ref().map(|k| k.0.to_vec())
            }
            _ => None,
        })
        .expect("AKI");
    (
        format!("{}.{}", b64(aki), b64(cert.raw_serial())),
        hex::encode(cert.raw_serial()),
    )
}

fn unix(rfc3339: &Value) -> i64 {
    time::OffsetDateTime::parse(
        rfc3339.as_str().expect("time"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("RFC 3339")
    .unix_timestamp()
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

async fn renewal_window(server: &Server, cert_id: &str) -> (i64, i64, HeaderMap) {
    let r = server
        .client
        .get(server.url(&format!("/acme/tls-server/renewal-info/{cert_id}")))
        .send()
        .await
        .expect("renewalInfo");
    assert_eq!(r.status().as_u16(), 200);
    let h = r.headers().clone();
    let v: Value = r.json().await.expect("json");
    (
        unix(&v["suggestedWindow"]["start"]),
        unix(&v["suggestedWindow"]["end"]),
        h,
    )
}

const SHORT_PROFILE: &str = "[profiles.short]\nissuer = \"default\"\nkey_algorithms = [\"ecdsa-p256\"]\ndefault_lifetime = \"2d\"\nmax_lifetime = \"2d\"\nextended_key_usage = [\"server-auth\"]\nsan_types = [\"dns\"]\n";

#[tokio::test(flavor = "multi_thread")]
async fn acme_profiles_replaces_and_renew_now() {
    let dns = ChallTestSrv::start();
    let home = acme_home(
        dns.dns,
        free_tcp_port(),
        &format!("\n[acme.directory_profiles]\ntls-server = [\"short\"]\n\n{SHORT_PROFILE}"),
    );
    let server = home.serve();

    // meta.profiles lists the directory's own profile and the offered one.
    let (s, dir) = server.get("/acme/tls-server/directory").await;
    assert_eq!(s, 200);
    let profiles = dir["meta"]["profiles"].as_object().expect("meta.profiles");
    assert!(
        profiles.contains_key("tls-server") && profiles.contains_key("short"),
        "{dir}"
    );
    assert!(
        profiles["short"]
            .as_str()
            .expect("description")
            .contains("2d")
    );

    let f = Flow::new(&server, &dns).await;
    // A profile the directory does not offer: invalidProfile.
    let (s, p, _) = f
        .new_order(&["p0.example.com"], json!({"profile": "mtls"}))
        .await;
    assert_eq!((s, problem_type(&p)), (400, "invalidProfile"), "{p}");

    // profile=short issues with short's 2-day lifetime (tls-server's default is longer).
    let (order, leaf) = f
        .issue(&["p1.example.com"], json!({"profile": "short"}))
        .await;
    assert_eq!(order["profile"], "short");
    let (cert_id, serial) = ari_id(&leaf);
    let (s, rec) = server.get(&format!("/api/v1/certificates/{serial}")).await;
    assert_eq!(s, 200, "{rec}");
    assert_eq!(rec["profile"], "short");
    let lifetime =
        rec["not_after"].as_i64().expect("not_after") - rec["not_before"].as_i64().expect("nb");
    assert!((2 * 86_400 - 1..=2 * 86_400).contains(&lifetime), "{rec}");
    // And without profile, the directory's own.
    let (order2, leaf2) = f.issue(&["p2.example.com"], json!({})).await;
    assert_eq!(order2["profile"], "tls-server");
    let (cert_id2, _) = ari_id(&leaf2);

    // ARI: the usual window lies ahead (after two thirds of the lifetime).
    let (start, end, h) = renewal_window(&server, &cert_id).await;
    assert!(start > now() + 86_400 && end > start, "{start} {end}");
    assert!(h.get("retry-after").is_some());

    // replaces: one live order per certificate; the second is alreadyReplaced.
    let (s, o, _) = f
        .new_order(
            &["p1.example.com"],
            json!({"replaces": cert_id, "profile": "short"}),
        )
        .await;
    assert_eq!(s, 201, "{o}");
    assert_eq!(o["replaces"], cert_id.as_str());
    let (s, p, _) = f
        .new_order(&["p1.example.com"], json!({"replaces": cert_id}))
        .await;
    assert_eq!((s, problem_type(&p)), (409, "alreadyReplaced"), "{p}");
    // A certificate id that names nothing, or one of another account: malformed.
    let (s, p, _) = f
        .new_order(&["p1.example.com"], json!({"replaces": "AAAA.AQID"}))
        .await;
    assert_eq!((s, problem_type(&p)), (400, "malformed"), "{p}");
    let other = Flow::new(&server, &dns).await;
    let (s, p, _) = other
        .new_order(&["p2.example.com"], json!({"replaces": cert_id2}))
        .await;
    assert_eq!((s, problem_type(&p)), (400, "malformed"), "{p}");
    assert!(
        p["detail"].as_str().unwrap_or_default().contains("account"),
        "{p}"
    );

    // Renew now, by profile over REST: short's certificates get [now, now + 30m); the
    // tls-server certificate keeps its own window.
    let (s, v) = server
        .post(
            "/api/v1/acme/renewal-overrides",
            &json!({"profile": "short", "window": "30m", "reason": "test incident"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let (start, end, _) = renewal_window(&server, &cert_id).await;
    assert!((start - now()).abs() < 60, "window starts now: {start}");
    assert_eq!(end - start, 1800);
    let (start2, _, _) = renewal_window(&server, &cert_id2).await;
    assert!(start2 > now() + 86_400, "other profile untouched");
    // By issuer from the CLI: every certificate of the default issuer.
    let out = home.moor_json(&["acme", "renew-now", "--issuer", "default", "--window", "2h"]);
    assert!(out["id"].is_string(), "{out}");
    let (start2, end2, _) = renewal_window(&server, &cert_id2).await;
    assert!((start2 - now()).abs() < 60 && end2 - start2 == 7200);
    // A certificate issued after the override has its own window again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (_, leaf3) = f.issue(&["p3.example.com"], json!({})).await;
    let (start3, _, _) = renewal_window(&server, &ari_id(&leaf3).0).await;
    assert!(start3 > now() + 86_400, "issued after the override");
    // Selecting nothing, or an unknown issuer: refused.
    let (s, v) = server
        .post("/api/v1/acme/renewal-overrides", &json!({"window": "1h"}))
        .await;
    assert_eq!((s, v["code"].as_str()), (400, Some("bad_request")), "{v}");
    let (s, _) = server
        .post("/api/v1/acme/renewal-overrides", &json!({"issuer": "nope"}))
        .await;
    assert_eq!(s, 404);
    // The audit chain (with the overrides) verifies.
    let v = home.moor_json(&["audit", "verify"]);
    assert!(v["first_failure"].is_null(), "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn acme_rate_limits_answer_rate_limited_with_retry_after() {
    let dns = ChallTestSrv::start();
    let home = acme_home(
        dns.dns,
        free_tcp_port(),
        "\n[acme.rate_limits]\norders_per_account = \"3/1h\"\ncertificates_per_identifier = \"1/1h\"\n",
    );
    let server = home.serve();
    // A certificate for rl.example.com issued over REST counts for the identifier limit.
    let (s, v) = server
        .post(
            "/api/v1/certificates",
            &json!({"profile": "tls-server", "sans": ["rl.example.com"]}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let f = Flow::new(&server, &dns).await;
    let (s, p, h) = f.new_order(&["rl.example.com"], json!({})).await;
    assert_eq!((s, problem_type(&p)), (429, "rateLimited"), "{p}");
    let retry: i64 = h["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((3000..=3600).contains(&retry), "Retry-After {retry}");
    assert!(
        p["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("rl.example.com"),
        "{p}"
    );

    // Three orders per account per hour: the fourth is limited; another account is not.
    for i in 0..3 {
        let (s, o, _) = f
            .new_order(&[&format!("o{i}.example.com")], json!({}))
            .await;
        assert_eq!(s, 201, "{o}");
    }
    let (s, p, h) = f.new_order(&["o3.example.com"], json!({})).await;
    assert_eq!((s, problem_type(&p)), (429, "rateLimited"), "{p}");
    let retry: i64 = h["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((3000..=3600).contains(&retry), "Retry-After {retry}");
    let other = Flow::new(&server, &dns).await;
    let (s, o, _) = other.new_order(&["o3.example.com"], json!({})).await;
    assert_eq!(s, 201, "{o}");

    // A body over the limit is a problem document (413), before any JWS parsing.
    let h2 = crate::harness::h2_client(&home.read("roots.pem"));
    let r = h2
        .post(server.url("/acme/tls-server/new-order"))
        .header("content-type", "application/jose+json")
        .body(vec![b'a'; moor_core::limits::MAX_BODY_BYTES + 1])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 413);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let p: Value = r.json().await.expect("problem");
    assert_eq!(problem_type(&p), "malformed", "{p}");
}

#[tokio::test(flavor = "multi_thread")]
async fn acme_authz_reuse_window_and_caa_recheck_at_finalize() {
    let dns = ChallTestSrv::start();

    // Defaults: a validated name is reused by the account's next order (ready at once),
    // and a CAA change after a recent validation does not stop finalize.
    let home = acme_home(dns.dns, free_tcp_port(), "");
    let server = home.serve();
    let mgmt = server.client.clone();
    let f = Flow::new(&server, &dns).await;
    let (s, first, _) = f.new_order(&["reuse.example.com"], json!({})).await;
    assert_eq!(s, 201);
    f.validate(&first).await;
    let (s, second, _) = f.new_order(&["reuse.example.com"], json!({})).await;
    assert_eq!(s, 201);
    assert_eq!(second["status"], "ready", "{second}");
    assert_eq!(second["authorizations"], first["authorizations"]);
    let r = mgmt
        .post(format!("http://127.0.0.1:{}/add-caa", dns.management))
        .body(
            json!({"host": "reuse.example.com.", "policies": [{"tag": "issue", "value": "other-ca.example"}]})
                .to_string(),
        )
        .send()
        .await
        .expect("add-caa");
    assert!(r.status().is_success());
    let (s, v) = f.finalize(&second, &["reuse.example.com"]).await;
    assert_eq!(s, 200, "validated moments ago: no recheck: {v}");
    drop(server);

    // authz_reuse = 0s and caa_recheck_after = 0s: a new authorization each order, and
    // finalize sees the CAA record that now forbids this CA.
    let home = acme_home(
        dns.dns,
        free_tcp_port(),
        "authz_reuse = \"0s\"\ncaa_recheck_after = \"0s\"\n",
    );
    let server = home.serve();
    let f = Flow::new(&server, &dns).await;
    let (s, first, _) = f.new_order(&["caa2.example.com"], json!({})).await;
    assert_eq!(s, 201);
    f.validate(&first).await;
    let (_, second, _) = f.new_order(&["caa2.example.com"], json!({})).await;
    assert_eq!(second["status"], "pending", "no reuse: {second}");
    assert_ne!(second["authorizations"], first["authorizations"]);
    let r = mgmt
        .post(format!("http://127.0.0.1:{}/add-caa", dns.management))
        .body(
            json!({"host": "caa2.example.com.", "policies": [{"tag": "issue", "value": "other-ca.example"}]})
                .to_string(),
        )
        .send()
        .await
        .expect("add-caa");
    assert!(r.status().is_success());
    let (s, p) = f.finalize(&first, &["caa2.example.com"]).await;
    assert_eq!((s, problem_type(&p)), (403, "caa"), "{p}");
    assert_eq!(p["identifier"]["value"], "caa2.example.com", "{p}");
}

#[tokio::test(flavor = "multi_thread")]
async fn acme_order_abandoned_mid_finalize_is_finished_by_the_next_poll() {
    let dns = ChallTestSrv::start();
    let home = acme_home(dns.dns, free_tcp_port(), "");
    let server = home.serve();
    let f = Flow::new(&server, &dns).await;
    let (s, order, h) = f.new_order(&["takeover.example.com"], json!({})).await;
    assert_eq!(s, 201);
    let url = location(&h);
    f.validate(&order).await;
    // A node began finalizing five minutes ago and died before issuing: the order is
    // `processing` with its CSR in the database and no certificate.
    let work = scratch();
    let csr = openssl_csr(
        work.path(),
        "t",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "/CN=takeover.example.com",
        "DNS:takeover.example.com",
    );
    let order_id = url.rsplit('/').next().expect("order id").to_string();
    abandon_finalization(&home, &order_id, &pem_der(&csr)).await;
    let (_, o, _) = f.post(&url, None).await;
    // The poll took it over: issued with the stored CSR.
    let o = if o["status"] == "valid" {
        o
    } else {
        f.settle(&url).await
    };
    assert_eq!(o["status"], "valid", "{o}");
    let (s, chain, _) = f
        .post(o["certificate"].as_str().expect("certificate"), None)
        .await;
    assert_eq!(s, 200);
    assert!(chain.as_str().expect("pem").contains("BEGIN CERTIFICATE"));
    let v = home.moor_json(&["audit", "verify"]);
    assert!(v["first_failure"].is_null(), "{v}");
}

/// What a node that died mid-finalize leaves: `begin_finalize` five minutes ago.
async fn abandon_finalization(home: &Home, order_id: &str, csr_der: &[u8]) {
    let store = moor_store::Database::Sqlite(home.path().join("mooring.db"))
        .open()
        .await
        .expect("open the server's store");
    let then = now() - 300;
    let began = store
        .acme()
        .begin_finalize(
            order_id,
            csr_der,
            then,
            moor_store::NewAuditEntry {
                ts: then,
                actor: "test:dead-node".into(),
                action: "acme.order.finalize".into(),
                subject: order_id.into(),
                detail: "{}".into(),
            },
        )
        .await
        .expect("begin_finalize");
    assert!(began);
}
