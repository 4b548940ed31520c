//! The ACME server (RFC 8555) end to end with lego, and the B4 refusals over HTTP.
//!
//! lego answers http-01 on a loopback port our validator is pointed at (`[acme]
//! http01_port`); names resolve through `pebble-challtestsrv` (every A query → 127.0.0.1,
//! TXT records set by lego's exec hook for dns-01), the validator's only resolver.

use std::net::{TcpListener, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::harness::{Home, Server, openssl_verify, pkilint, scratch, split_pem, tool};

pub(crate) fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free tcp port")
}

pub(crate) fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free udp port")
}

/// `pebble-challtestsrv` as the validator's DNS (A → 127.0.0.1), killed on drop.
pub(crate) struct ChallTestSrv {
    child: Child,
    pub(crate) dns: u16,
    pub(crate) management: u16,
}

impl ChallTestSrv {
    pub(crate) fn start() -> ChallTestSrv {
        let dns = free_udp_port();
        let management = free_tcp_port();
        let child = Command::new(tool("pebble-challtestsrv"))
            .args([
                "-defaultIPv6",
                "",
                "-defaultIPv4",
                "127.0.0.1",
                "-dns01",
                &format!("127.0.0.1:{dns}"),
                "-http01",
                "",
                "-https01",
                "",
                "-tlsalpn01",
                "",
                "-management",
                &format!("127.0.0.1:{management}"),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn pebble-challtestsrv");
        // Wait for the management port (the DNS listener starts with it).
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", management)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        ChallTestSrv {
            child,
            dns,
            management,
        }
    }
}

impl Drop for ChallTestSrv {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A home whose ACME validator uses `dns` and connects to `http01_port` on loopback.
pub(crate) fn acme_home(dns: u16, http01_port: u16, extra: &str) -> Home {
    Home::new(Some(&format!(
        "[acme]\nhttp01_port = {http01_port}\ndns_resolver = \"127.0.0.1:{dns}\"\nallow_loopback = true\n{extra}"
    )))
}

fn directory(server: &Server, profile: &str) -> String {
    server.url(&format!("/acme/{profile}/directory"))
}

/// Run lego with the CA bundle; returns (exit code, output).
fn lego(server_home: &Home, dir: &Path, envs: &[(&str, String)], args: &[&str]) -> (i32, String) {
    let mut cmd = Command::new(tool("lego"));
    cmd.current_dir(dir)
        .env("LEGO_CA_CERTIFICATES", server_home.file("roots.pem"))
        .args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run lego");
    let mut text = String::from_utf8_lossy(&out.stdout).to_string();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

fn verify_lego_cert(server: &Server, dir: &Path, lego_path: &str, name: &str) -> String {
    let certs = dir.join(lego_path).join("certificates");
    let bundle = std::fs::read_to_string(certs.join(format!("{name}.crt"))).expect("lego cert");
    let issuer =
        std::fs::read_to_string(certs.join(format!("{name}.issuer.crt"))).expect("lego issuer");
    let leaf = split_pem(&bundle).remove(0);
    let (code, text) = openssl_verify(dir, &server.roots_pem, &issuer, &leaf, &[]);
    assert_eq!(code, 0, "openssl verify of lego's {name}: {text}");
    let mut findings = pkilint(dir, "lint_pkix_cert", &[], &[&leaf]);
    // pkilint's RFC 5280 linter has no wildcard syntax (RFC 6125 / the BRs define it): its
    // finding on a `*.` dNSName is expected for a wildcard certificate, and only then.
    if name.starts_with("lego2.") {
        findings.retain(|f| !f.contains("pkix.invalid_domain_name_syntax"));
    }
    assert!(
        findings.is_empty(),
        "pkilint lint_pkix_cert ({name}): {findings:?}"
    );
    let issuer_pem = split_pem(&issuer).remove(0);
    let findings = pkilint(
        dir,
        "lint_pkix_signer_signee_cert_chain",
        &[],
        &[&issuer_pem, &leaf],
    );
    assert!(findings.is_empty(), "pkilint chain ({name}): {findings:?}");
    leaf
}

fn serial_of(pem: &str) -> String {
    let der = x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .expect("pem")
        .1
        .contents;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).expect("cert");
    hex::encode(cert.raw_serial())
        .trim_start_matches("00")
        .to_string()
}

async fn cert_by_serial(server: &Server, serial: &str) -> Value {
    let (s, v) = server.get(&format!("/api/v1/certificates/{serial}")).await;
    assert_eq!(s, 200, "{v}");
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn acme_lego_http01_issue_renew_revoke() {
    let dns = ChallTestSrv::start();
    let http01 = free_tcp_port();
    let home = acme_home(dns.dns, http01, "");
    let server = home.serve();
    let work = scratch();
    let dir = work.path();
    let dirurl = directory(&server, "tls-server");
    let http_port = format!("127.0.0.1:{http01}");
    let common = [
        "--server",
        &dirurl,
        "--email",
        "t@example.com",
        "--accept-tos",
        "--path",
        "./lego",
        "--http",
        "--http.port",
        &http_port,
        "-d",
        "lego1.example.com",
    ];
    let (code, out) = lego(&home, dir, &[], &[&common[..], &["run"]].concat());
    assert_eq!(code, 0, "lego run: {out}");
    let leaf = verify_lego_cert(&server, dir, "lego", "lego1.example.com");
    let serial = serial_of(&leaf);
    let rec = cert_by_serial(&server, &serial).await;
    assert!(
        rec["requester"]
            .as_str()
            .unwrap_or_default()
            .starts_with("acme:"),
        "{rec}"
    );
    assert_eq!(rec["profile"], "tls-server", "{rec}");

    // ARI (RFC 9773): the renewal window lies within the validity, start before end.
    let der = x509_parser::pem::parse_x509_pem(leaf.as_bytes())
        .expect("pem")
        .1
        .contents;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).expect("cert");
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
    let cert_id = format!("{}.{}", b64(&aki), b64(cert.raw_serial()));
    let (s, dirdoc) = server.get("/acme/tls-server/directory").await;
    assert_eq!(s, 200);
    let ari = dirdoc["renewalInfo"]
        .as_str()
        .expect("renewalInfo")
        .to_string();
    let r = server
        .client
        .get(format!("{ari}/{cert_id}"))
        .send()
        .await
        .expect("ari");
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.headers().get("retry-after").is_some());
    let w: Value = r.json().await.expect("ari json");
    let when = |k: &str| {
        let t = w["suggestedWindow"][k].as_str().expect("time").to_string();
        time::OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339)
            .expect("rfc3339")
            .unix_timestamp()
    };
    let (start, end) = (when("start"), when("end"));
    assert!(
        rec["not_before"].as_i64().expect("nb") < start
            && start < end
            && end < rec["not_after"].as_i64().expect("na"),
        "{w} {rec}"
    );
    let r = server
        .client
        .get(format!("{ari}/AAAA.AQ"))
        .send()
        .await
        .expect("ari");
    assert_eq!(r.status().as_u16(), 404);

    // Renewal reuses the valid authorization and issues a new certificate.
    let (code, out) = lego(
        &home,
        dir,
        &[],
        &[
            &common[..],
            &["renew", "--days", "365", "--no-random-sleep"],
        ]
        .concat(),
    );
    assert_eq!(code, 0, "lego renew: {out}");
    let renewed = verify_lego_cert(&server, dir, "lego", "lego1.example.com");
    let renewed_serial = serial_of(&renewed);
    assert_ne!(renewed_serial, serial, "renew must issue a new certificate");

    // Revocation by the account (superseded), through the REST revocation path.
    let (code, out) = lego(
        &home,
        dir,
        &[],
        &[&common[..], &["revoke", "--reason", "4"]].concat(),
    );
    assert_eq!(code, 0, "lego revoke: {out}");
    let rec = cert_by_serial(&server, &renewed_serial).await;
    assert_eq!(rec["status"], "revoked", "{rec}");
    // Revoking again is alreadyRevoked.
    let (code, out) = lego(
        &home,
        dir,
        &[],
        &[&common[..], &["revoke", "--reason", "4", "--keep"]].concat(),
    );
    assert_ne!(code, 0, "second revoke: {out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn acme_lego_dns01_wildcard() {
    let dns = ChallTestSrv::start();
    let http01 = free_tcp_port();
    let home = acme_home(dns.dns, http01, "");
    let server = home.serve();
    let work = scratch();
    let dir = work.path();
    let hook = dir.join("hook.sh");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\ncase \"$1\" in\n  present) curl -s -X POST -d \"{{\\\"host\\\":\\\"$2\\\",\\\"value\\\":\\\"$3\\\"}}\" http://127.0.0.1:{m}/set-txt ;;\n  cleanup) curl -s -X POST -d \"{{\\\"host\\\":\\\"$2\\\"}}\" http://127.0.0.1:{m}/clear-txt ;;\nesac\n",
            m = dns.management
        ),
    )
    .expect("hook");
    let _ = Command::new("chmod").arg("+x").arg(&hook).status();
    let (code, out) = lego(
        &home,
        dir,
        &[
            ("EXEC_PATH", hook.display().to_string()),
            ("EXEC_PROPAGATION_TIMEOUT", "10".into()),
            ("EXEC_POLLING_INTERVAL", "1".into()),
        ],
        &[
            "--server",
            &directory(&server, "tls-server"),
            "--email",
            "w@example.com",
            "--accept-tos",
            "--path",
            "./lego",
            "-d",
            "lego2.example.com",
            "-d",
            "*.lego2.example.com",
            "--key-type",
            "ec256",
            "--http",
            "--http.port",
            &format!("127.0.0.1:{http01}"),
            "--dns",
            "exec",
            "--dns.resolvers",
            &format!("127.0.0.1:{}", dns.dns),
            "--dns.disable-cp",
            "run",
        ],
    );
    assert_eq!(code, 0, "lego dns-01 wildcard: {out}");
    let leaf = verify_lego_cert(&server, dir, "lego", "lego2.example.com");
    let rec = cert_by_serial(&server, &serial_of(&leaf)).await;
    let sans = rec["sans"].to_string();
    assert!(sans.contains("*.lego2.example.com"), "{rec}");
}

#[tokio::test(flavor = "multi_thread")]
async fn acme_lego_eab_required_and_not_reusable() {
    let dns = ChallTestSrv::start();
    let http01 = free_tcp_port();
    let home = acme_home(
        dns.dns,
        http01,
        "eab_required_profiles = [\"tls-server\"]\n",
    );
    let server = home.serve();
    let work = scratch();
    let dir = work.path();
    let dirurl = directory(&server, "tls-server");
    let http_port = format!("127.0.0.1:{http01}");
    let args = |email: &'static str, path: &'static str| {
        vec![
            "--server".to_string(),
            dirurl.clone(),
            "--email".into(),
            email.into(),
            "--accept-tos".into(),
            "--path".into(),
            path.into(),
            "--http".into(),
            "--http.port".into(),
            http_port.clone(),
            "-d".into(),
            "eab.example.com".into(),
        ]
    };
    let run = |v: Vec<String>| {
        let refs: Vec<&str> = v.iter().map(String::as_str).collect();
        lego(&home, dir, &[], &refs)
    };
    // Without a binding: externalAccountRequired.
    let mut a = args("a@example.com", "./a");
    a.push("run".into());
    let (code, out) = run(a);
    assert_ne!(code, 0, "{out}");
    // lego reads meta.externalAccountRequired from the directory and stops before asking.
    assert!(
        out.contains("externalAccountRequired") || out.contains("External Account Binding"),
        "{out}"
    );

    let eab = home.moor_json(&["acme", "eab", "create", "--profile", "tls-server"]);
    let kid = eab["kid"].as_str().expect("kid").to_string();
    let hmac = eab["hmac_key"].as_str().expect("hmac").to_string();
    let mut b = args("b@example.com", "./b");
    b.extend([
        "--eab".into(),
        "--kid".into(),
        kid.clone(),
        "--hmac".into(),
        hmac.clone(),
        "run".into(),
    ]);
    let (code, out) = run(b);
    assert_eq!(code, 0, "lego with EAB: {out}");
    verify_lego_cert(&server, dir, "b", "eab.example.com");

    // The same binding for a second account: unauthorized.
    let mut c = args("c@example.com", "./c");
    c.extend([
        "--eab".into(),
        "--kid".into(),
        kid,
        "--hmac".into(),
        hmac,
        "run".into(),
    ]);
    let (code, out) = run(c);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("urn:ietf:params:acme:error:unauthorized"),
        "{out}"
    );
}

// ---- B4 refusals over HTTP, with a minimal Ed25519 JWS client ----

pub(crate) fn b64(bytes: impl AsRef<[u8]>) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub(crate) struct Client<'a> {
    pub(crate) server: &'a Server,
    pub(crate) key: Ed25519KeyPair,
    pub(crate) base: String,
}

impl<'a> Client<'a> {
    pub(crate) fn new(server: &'a Server) -> Client<'a> {
        let key = Ed25519KeyPair::generate().expect("ed25519");
        Client {
            server,
            key,
            base: server.url("/acme/tls-server"),
        }
    }

    pub(crate) fn jwk(&self) -> Value {
        json!({"kty": "OKP", "crv": "Ed25519", "x": b64(self.key.public_key().as_ref())})
    }

    pub(crate) async fn nonce(&self) -> String {
        let r = self
            .server
            .client
            .head(format!("{}/new-nonce", self.base))
            .send()
            .await
            .expect("nonce");
        assert_eq!(r.status().as_u16(), 200);
        r.headers()["replay-nonce"]
            .to_str()
            .expect("nonce")
            .to_string()
    }

    pub(crate) fn sign(&self, protected: &Value, payload: &str) -> Value {
        let p = b64(protected.to_string());
        let input = format!("{p}.{payload}");
        let sig = self.key.sign(input.as_bytes());
        json!({"protected": p, "payload": payload, "signature": b64(sig.as_ref())})
    }

    /// A JWS body for `url` with `key` = ("jwk", jwk) or ("kid", url).
    pub(crate) fn body(
        &self,
        url: &str,
        nonce: &str,
        key: (&str, Value),
        payload: Option<&Value>,
    ) -> Value {
        let mut protected = json!({"alg": "EdDSA", "nonce": nonce, "url": url});
        protected[key.0] = key.1;
        let payload = payload.map(|p| b64(p.to_string())).unwrap_or_default();
        self.sign(&protected, &payload)
    }

    pub(crate) async fn post_raw(
        &self,
        url: &str,
        content_type: &str,
        body: &Value,
    ) -> (u16, Option<String>, Value) {
        let r = self
            .server
            .client
            .post(url)
            .header("content-type", content_type)
            .body(body.to_string())
            .send()
            .await
            .expect("post");
        let status = r.status().as_u16();
        let nonce = r
            .headers()
            .get("replay-nonce")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let link = r
            .headers()
            .get_all("link")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|l| l.contains("rel=\"index\""));
        assert!(link, "every ACME response carries Link rel=index");
        let ct = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let text = r.text().await.unwrap_or_default();
        if status >= 400 {
            assert_eq!(ct, "application/problem+json", "{text}");
        }
        (
            status,
            nonce,
            serde_json::from_str(&text).unwrap_or(Value::Null),
        )
    }

    pub(crate) async fn post(&self, url: &str, body: &Value) -> (u16, Option<String>, Value) {
        self.post_raw(url, "application/jose+json", body).await
    }

    /// Creates the account; returns its URL.
    pub(crate) async fn register(&self) -> String {
        let url = format!("{}/new-account", self.base);
        let nonce = self.nonce().await;
        let body = self.body(
            &url,
            &nonce,
            ("jwk", self.jwk()),
            Some(&json!({"termsOfServiceAgreed": true})),
        );
        let r = self
            .server
            .client
            .post(&url)
            .header("content-type", "application/jose+json")
            .body(body.to_string())
            .send()
            .await
            .expect("post");
        assert!(matches!(r.status().as_u16(), 200 | 201), "{}", r.status());
        r.headers()["location"]
            .to_str()
            .expect("location")
            .to_string()
    }
}

pub(crate) fn problem_type(v: &Value) -> &str {
    v["type"]
        .as_str()
        .unwrap_or_default()
        .trim_start_matches("urn:ietf:params:acme:error:")
}

#[tokio::test(flavor = "multi_thread")]
async fn acme_b4_refusals_over_http() {
    let home = Home::new(None);
    let server = home.serve();
    let c = Client::new(&server);
    let new_account = format!("{}/new-account", c.base);
    let new_order = format!("{}/new-order", c.base);

    // Directory and nonces.
    let (s, dir) = server.get("/acme/tls-server/directory").await;
    assert_eq!(s, 200, "{dir}");
    assert_eq!(dir["newAccount"], new_account.as_str());
    let (s, _) = server.get("/acme/no-such-profile/directory").await;
    assert_eq!(s, 404);

    // Wrong content type: 415 malformed.
    let nonce = c.nonce().await;
    let body = c.body(&new_account, &nonce, ("jwk", c.jwk()), Some(&json!({})));
    let (s, fresh, p) = c.post_raw(&new_account, "application/json", &body).await;
    assert_eq!((s, problem_type(&p)), (415, "malformed"), "{p}");
    assert!(fresh.is_some());

    // Unknown nonce: badNonce with a fresh Replay-Nonce.
    let body = c.body(
        &new_account,
        "bm90LWEtbm9uY2U",
        ("jwk", c.jwk()),
        Some(&json!({})),
    );
    let (s, fresh, p) = c.post(&new_account, &body).await;
    assert_eq!((s, problem_type(&p)), (400, "badNonce"), "{p}");
    let fresh = fresh.expect("badNonce carries a fresh nonce");

    // The fresh nonce works once; replayed, it is badNonce.
    let body = c.body(
        &new_account,
        &fresh,
        ("jwk", c.jwk()),
        Some(&json!({"termsOfServiceAgreed": true})),
    );
    let (s, _, p) = c.post(&new_account, &body).await;
    assert_eq!(s, 201, "{p}");
    let (s, _, p) = c.post(&new_account, &body).await;
    assert_eq!(
        (s, problem_type(&p)),
        (400, "badNonce"),
        "replayed nonce: {p}"
    );

    // url header ≠ request URL: unauthorized.
    let nonce = c.nonce().await;
    let body = c.body(&new_order, &nonce, ("jwk", c.jwk()), Some(&json!({})));
    let (s, _, p) = c.post(&new_account, &body).await;
    assert_eq!(problem_type(&p), "unauthorized", "{s} {p}");

    // alg none: badSignatureAlgorithm.
    let nonce = c.nonce().await;
    let protected = json!({"alg": "none", "nonce": nonce, "url": new_account, "jwk": c.jwk()});
    let body =
        json!({"protected": b64(protected.to_string()), "payload": b64("{}"), "signature": ""});
    let (s, _, p) = c.post(&new_account, &body).await;
    assert_eq!((s, problem_type(&p)), (400, "badSignatureAlgorithm"), "{p}");

    // An unprotected header, several signatures, crit: malformed.
    let nonce = c.nonce().await;
    let mut body = c.body(&new_account, &nonce, ("jwk", c.jwk()), Some(&json!({})));
    body["header"] = json!({"kid": "x"});
    let (s, _, p) = c.post(&new_account, &body).await;
    assert_eq!(
        (s, problem_type(&p)),
        (400, "malformed"),
        "unprotected header: {p}"
    );
    let nonce = c.nonce().await;
    let one = c.body(&new_account, &nonce, ("jwk", c.jwk()), Some(&json!({})));
    let body = json!({"payload": one["payload"], "signatures": [
        {"protected": one["protected"], "signature": one["signature"]},
        {"protected": one["protected"], "signature": one["signature"]},
    ]});
    let (s, _, p) = c.post(&new_account, &body).await;
    assert_eq!(
        (s, problem_type(&p)),
        (400, "malformed"),
        "two signatures: {p}"
    );
    let nonce = c.nonce().await;
    let protected = json!({"alg": "EdDSA", "nonce": nonce, "url": new_account, "jwk": c.jwk(), "crit": ["exp"], "exp": 1});
    let body = c.sign(&protected, &b64("{}"));
    let (s, _, p) = c.post(&new_account, &body).await;
    assert_eq!((s, problem_type(&p)), (400, "malformed"), "crit: {p}");

    // Unknown kid: accountDoesNotExist.
    let nonce = c.nonce().await;
    let kid = format!("{}/acct/nosuchaccount", c.base);
    let body = c.body(
        &new_order,
        &nonce,
        ("kid", json!(kid)),
        Some(&json!({"identifiers": [{"type": "dns", "value": "a.example.com"}]})),
    );
    let (s, _, p) = c.post(&new_order, &body).await;
    assert_eq!((s, problem_type(&p)), (400, "accountDoesNotExist"), "{p}");

    // onlyReturnExisting for an unknown key: accountDoesNotExist.
    let other = Client::new(&server);
    let nonce = other.nonce().await;
    let body = other.body(
        &new_account,
        &nonce,
        ("jwk", other.jwk()),
        Some(&json!({"onlyReturnExisting": true})),
    );
    let (s, _, p) = other.post(&new_account, &body).await;
    assert_eq!((s, problem_type(&p)), (400, "accountDoesNotExist"), "{p}");

    // POST-as-GET with a payload: malformed.
    let acct = c.register().await;
    let nonce = c.nonce().await;
    let body = c.body(
        &new_order,
        &nonce,
        ("kid", json!(acct)),
        Some(&json!({"identifiers": [{"type": "dns", "value": "b4.example.com"}]})),
    );
    let (s, _, order) = c.post(&new_order, &body).await;
    assert_eq!(s, 201, "{order}");
    let authz_url = order["authorizations"][0]
        .as_str()
        .expect("authz")
        .to_string();
    let nonce = c.nonce().await;
    let body = c.body(
        &authz_url,
        &nonce,
        ("kid", json!(acct)),
        Some(&json!({"x": 1})),
    );
    let (s, _, p) = c.post(&authz_url, &body).await;
    assert_eq!((s, problem_type(&p)), (400, "malformed"), "{p}");
    // POST-as-GET proper works.
    let nonce = c.nonce().await;
    let body = c.body(&authz_url, &nonce, ("kid", json!(acct)), None);
    let (s, _, authz) = c.post(&authz_url, &body).await;
    assert_eq!(s, 200, "{authz}");
    assert_eq!(authz["status"], "pending");

    // Finalize before the order is ready: orderNotReady.
    let finalize = order["finalize"].as_str().expect("finalize").to_string();
    let nonce = c.nonce().await;
    let body = c.body(
        &finalize,
        &nonce,
        ("kid", json!(acct)),
        Some(&json!({"csr": "AAAA"})),
    );
    let (s, _, p) = c.post(&finalize, &body).await;
    assert_eq!((s, problem_type(&p)), (403, "orderNotReady"), "{p}");

    // GET on a POST-only resource: 405.
    let r = server.client.get(&new_order).send().await.expect("get");
    assert_eq!(r.status().as_u16(), 405);

    // A deactivated account is unauthorized.
    let nonce = c.nonce().await;
    let body = c.body(
        &acct,
        &nonce,
        ("kid", json!(acct)),
        Some(&json!({"status": "deactivated"})),
    );
    let (s, _, v) = c.post(&acct, &body).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("deactivated")), "{v}");
    let nonce = c.nonce().await;
    let body = c.body(&acct, &nonce, ("kid", json!(acct)), None);
    let (s, _, p) = c.post(&acct, &body).await;
    assert_eq!((s, problem_type(&p)), (401, "unauthorized"), "{p}");
}

#[tokio::test(flavor = "multi_thread")]
async fn acme_lego_tls_alpn01() {
    let dns = ChallTestSrv::start();
    let http01 = free_tcp_port();
    let alpn = free_tcp_port();
    let home = acme_home(dns.dns, http01, &format!("tlsalpn01_port = {alpn}\n"));
    let server = home.serve();
    let work = scratch();
    let dir = work.path();
    let (code, out) = lego(
        &home,
        dir,
        &[],
        &[
            "--server",
            &directory(&server, "tls-server"),
            "--email",
            "alpn@example.com",
            "--accept-tos",
            "--path",
            "./lego",
            "--tls",
            "--tls.port",
            &format!("127.0.0.1:{alpn}"),
            "-d",
            "alpn.example.com",
            "run",
        ],
    );
    assert_eq!(code, 0, "lego tls-alpn-01: {out}");
    let leaf = verify_lego_cert(&server, dir, "lego", "alpn.example.com");
    let rec = cert_by_serial(&server, &serial_of(&leaf)).await;
    assert!(
        rec["requester"]
            .as_str()
            .unwrap_or_default()
            .starts_with("acme:"),
        "{rec}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn acme_certbot_standalone_issue_renew_revoke() {
    let dns = ChallTestSrv::start();
    let http01 = free_tcp_port();
    let home = acme_home(dns.dns, http01, "");
    let server = home.serve();
    let work = scratch();
    let dir = work.path();
    let dirurl = directory(&server, "tls-server");
    let port = http01.to_string();
    let certbot = |args: &[&str]| {
        let out = Command::new(tool("certbot"))
            .current_dir(dir)
            .env("REQUESTS_CA_BUNDLE", home.file("roots.pem"))
            .args(args)
            .args([
                "--non-interactive",
                "--server",
                &dirurl,
                "--config-dir",
                "cb/etc",
                "--work-dir",
                "cb/work",
                "--logs-dir",
                "cb/logs",
            ])
            .output()
            .expect("run certbot");
        let mut text = String::from_utf8_lossy(&out.stdout).to_string();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        (out.status.code().unwrap_or(-1), text)
    };
    let (code, out) = certbot(&[
        "certonly",
        "--agree-tos",
        "--register-unsafely-without-email",
        "--standalone",
        "--http-01-port",
        &port,
        "--http-01-address",
        "127.0.0.1",
        "-d",
        "certbot1.example.com",
        "--key-type",
        "ecdsa",
    ]);
    assert_eq!(code, 0, "certbot certonly: {out}");
    let live = dir.join("cb/etc/live/certbot1.example.com");
    let read = |f: &str| std::fs::read_to_string(live.join(f)).expect("certbot file");
    let (code, text) = openssl_verify(
        dir,
        &server.roots_pem,
        &read("chain.pem"),
        &read("cert.pem"),
        &[],
    );
    assert_eq!(code, 0, "openssl verify of certbot's cert: {text}");
    let first = serial_of(&read("cert.pem"));
    let rec = cert_by_serial(&server, &first).await;
    assert!(
        rec["requester"]
            .as_str()
            .unwrap_or_default()
            .starts_with("acme:"),
        "{rec}"
    );

    let (code, out) = certbot(&[
        "renew",
        "--force-renewal",
        "--no-random-sleep-on-renew",
        "--standalone",
        "--http-01-port",
        &port,
        "--http-01-address",
        "127.0.0.1",
    ]);
    assert_eq!(code, 0, "certbot renew: {out}");
    let renewed = serial_of(&read("cert.pem"));
    assert_ne!(renewed, first, "renew must issue a new certificate");

    // The first certificate, revoked by a request signed with its own key (no account).
    let archive = dir.join("cb/etc/archive/certbot1.example.com");
    let (code, out) = certbot(&[
        "revoke",
        "--cert-path",
        &archive.join("cert1.pem").display().to_string(),
        "--key-path",
        &archive.join("privkey1.pem").display().to_string(),
        "--reason",
        "superseded",
        "--no-delete-after-revoke",
    ]);
    assert_eq!(code, 0, "certbot revoke by certificate key: {out}");
    let rec = cert_by_serial(&server, &first).await;
    assert_eq!(rec["status"], "revoked", "{rec}");

    let cert_path = live.join("cert.pem").display().to_string();
    let (code, out) = certbot(&[
        "revoke",
        "--cert-path",
        &cert_path,
        "--reason",
        "keycompromise",
        "--no-delete-after-revoke",
    ]);
    assert_eq!(code, 0, "certbot revoke: {out}");
    let rec = cert_by_serial(&server, &renewed).await;
    assert_eq!(rec["status"], "revoked", "{rec}");
    assert_eq!(rec["revocation_reason"], "key-compromise", "{rec}");
}

#[tokio::test(flavor = "multi_thread")]
async fn acme_b4_key_binding_and_revocation_refusals() {
    let home = Home::new(None);
    let server = home.serve();
    let a = Client::new(&server);
    let b = Client::new(&server);
    let acct_a = a.register().await;
    let acct_b = b.register().await;
    let new_order = format!("{}/new-order", a.base);
    let new_account = format!("{}/new-account", a.base);
    let order_payload = json!({"identifiers": [{"type": "dns", "value": "k.example.com"}]});

    // Signed by key B under the kid of A: malformed (the signature does not verify).
    let nonce = b.nonce().await;
    let body = b.body(
        &new_order,
        &nonce,
        ("kid", json!(acct_a)),
        Some(&order_payload),
    );
    let (s, _, p) = b.post(&new_order, &body).await;
    assert_eq!((s, problem_type(&p)), (400, "malformed"), "{p}");

    // jwk and kid both: malformed.
    let nonce = a.nonce().await;
    let mut protected = json!({"alg": "EdDSA", "nonce": nonce, "url": new_order, "kid": acct_a});
    protected["jwk"] = a.jwk();
    let body = a.sign(&protected, &b64(order_payload.to_string()));
    let (s, _, p) = a.post(&new_order, &body).await;
    assert_eq!((s, problem_type(&p)), (400, "malformed"), "{p}");

    // jwk where kid is required: malformed.
    let nonce = a.nonce().await;
    let body = a.body(&new_order, &nonce, ("jwk", a.jwk()), Some(&order_payload));
    let (s, _, p) = a.post(&new_order, &body).await;
    assert_eq!((s, problem_type(&p)), (400, "malformed"), "{p}");

    // Key change to the key of another account: 409 conflict.
    let key_change = format!("{}/key-change", a.base);
    let inner_protected = json!({"alg": "EdDSA", "jwk": b.jwk(), "url": key_change});
    let inner = b.sign(
        &inner_protected,
        &b64(json!({"account": acct_a, "oldKey": a.jwk()}).to_string()),
    );
    let nonce = a.nonce().await;
    let body = a.body(&key_change, &nonce, ("kid", json!(acct_a)), Some(&inner));
    let (s, _, p) = a.post(&key_change, &body).await;
    assert_eq!((s, problem_type(&p)), (409, "conflict"), "{p}");

    // Key change to a fresh key: the account answers to the new key only.
    let d = Client::new(&server);
    let inner = d.sign(
        &json!({"alg": "EdDSA", "jwk": d.jwk(), "url": key_change}),
        &b64(json!({"account": acct_a, "oldKey": a.jwk()}).to_string()),
    );
    let nonce = a.nonce().await;
    let body = a.body(&key_change, &nonce, ("kid", json!(acct_a)), Some(&inner));
    let (s, _, v) = a.post(&key_change, &body).await;
    assert_eq!(s, 200, "{v}");
    let nonce = d.nonce().await;
    let body = d.body(&acct_a, &nonce, ("kid", json!(acct_a)), None);
    let (s, _, v) = d.post(&acct_a, &body).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("valid")), "{v}");
    let nonce = a.nonce().await;
    let body = a.body(&acct_a, &nonce, ("kid", json!(acct_a)), None);
    let (s, _, p) = a.post(&acct_a, &body).await;
    assert_eq!((s, problem_type(&p)), (400, "malformed"), "old key: {p}");
    let a = d;

    // Revocation reasons 6 and 7 (and > 10): badRevocationReason.
    let revoke = format!("{}/revoke-cert", a.base);
    for reason in [6, 7, 11] {
        let nonce = a.nonce().await;
        let body = a.body(
            &revoke,
            &nonce,
            ("kid", json!(acct_a)),
            Some(&json!({"certificate": "AAAA", "reason": reason})),
        );
        let (s, _, p) = a.post(&revoke, &body).await;
        assert_eq!(
            (s, problem_type(&p)),
            (400, "badRevocationReason"),
            "reason {reason}: {p}"
        );
    }

    // Revocation by an account that did not order the certificate: unauthorized.
    let dir = scratch();
    let csr = crate::harness::openssl_csr(
        dir.path(),
        "r",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "/CN=r.example.com",
        "DNS:r.example.com",
    );
    let issued = server.issue_csr("tls-server", &csr).await;
    let pem = issued["certificate"].as_str().expect("cert").to_string();
    let der = x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .expect("pem")
        .1
        .contents;
    let nonce = a.nonce().await;
    let body = a.body(
        &revoke,
        &nonce,
        ("kid", json!(acct_a)),
        Some(&json!({"certificate": b64(&der), "reason": 1})),
    );
    let (s, _, p) = a.post(&revoke, &body).await;
    assert_eq!((s, problem_type(&p)), (403, "unauthorized"), "{p}");

    // EAB: a bad MAC, and an unknown kid: 401 unauthorized.
    let eab = home.moor_json(&["acme", "eab", "create", "--profile", "tls-server"]);
    let kid = eab["kid"].as_str().expect("kid").to_string();
    let c = Client::new(&server);
    let binding = |kid: &str, mac_key: &[u8]| {
        let protected = b64(json!({"alg": "HS256", "kid": kid, "url": new_account}).to_string());
        let payload = b64(c.jwk().to_string());
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, mac_key);
        let tag = aws_lc_rs::hmac::sign(&key, format!("{protected}.{payload}").as_bytes());
        json!({"protected": protected, "payload": payload, "signature": b64(tag.as_ref())})
    };
    for (kid, key) in [
        (kid.as_str(), &[7u8; 32][..]),
        ("no-such-kid", &[7u8; 32][..]),
    ] {
        let nonce = c.nonce().await;
        let body = c.body(
            &new_account,
            &nonce,
            ("jwk", c.jwk()),
            Some(
                &json!({"termsOfServiceAgreed": true, "externalAccountBinding": binding(kid, key)}),
            ),
        );
        let (s, _, p) = c.post(&new_account, &body).await;
        assert_eq!((s, problem_type(&p)), (401, "unauthorized"), "{kid}: {p}");
    }
    let _ = acct_b;
}

/// A copy of `from` (keys, passphrase, config) for a second node on the same database.
pub(crate) fn copy_home(from: &Home) -> Home {
    let to = Home::new(None);
    let (code, out) = crate::harness::run(
        Path::new("/bin/cp"),
        &[
            "-a",
            &format!("{}/.", from.path().display()),
            to.path().to_str().expect("path"),
        ],
    );
    assert_eq!(code, 0, "copy home: {out}");
    for f in std::fs::read_dir(to.path()).expect("dir").flatten() {
        let n = f.file_name().to_string_lossy().to_string();
        if n.starts_with("serve-") || n == "addr.txt" {
            let _ = std::fs::remove_file(f.path());
        }
    }
    to
}

/// POST `body` to `url` through `node`, keeping the Host of `url` (a load balancer in front
/// of several nodes serves one name).
async fn post_via(
    node: &Server,
    origin: &str,
    url: &str,
    body: &Value,
) -> (u16, Option<String>, Value) {
    let path = url.strip_prefix(origin).expect("url under origin");
    let host = origin.trim_start_matches("https://");
    let r = node
        .client
        .post(node.url(path))
        .header("host", host)
        .header("content-type", "application/jose+json")
        .body(body.to_string())
        .send()
        .await
        .expect("post");
    let status = r.status().as_u16();
    let nonce = r
        .headers()
        .get("replay-nonce")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let text = r.text().await.unwrap_or_default();
    (
        status,
        nonce,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn acme_order_alternating_two_nodes_on_one_postgres() {
    let dns = ChallTestSrv::start();
    let http01 = free_tcp_port();
    let db = crate::multinode::fresh_postgres_database();
    let home_a = acme_home(dns.dns, http01, "");
    let cfg = format!(
        "database = \"{db}\"\n{}",
        std::fs::read_to_string(home_a.file("mooring.toml")).expect("config")
    );
    std::fs::write(home_a.file("mooring.toml"), &cfg).expect("config");
    let node_a = home_a.serve();
    let home_b = copy_home(&home_a);
    let node_b = home_b.serve();
    let c = Client::new(&node_a);
    let origin = node_a.base.clone();
    let nodes = [&node_a, &node_b];

    // A nonce from node A is good once on node B.
    let acct = c.register().await;
    let mut nonce = c.nonce().await;
    let mut step = 0usize;
    let mut post = async |url: &str, payload: Option<&Value>| {
        let body = c.body(url, &nonce, ("kid", json!(acct)), payload);
        let node = nodes[step % 2];
        step += 1;
        let (s, n, v) = post_via(node, &origin, url, &body).await;
        nonce = n.expect("every response carries a nonce");
        (s, v)
    };
    let (s, order) = post(
        &format!("{origin}/acme/tls-server/new-order"),
        Some(&json!({"identifiers": [{"type": "dns", "value": "multi.example.com"}]})),
    )
    .await;
    assert_eq!(s, 201, "{order}");
    let authz_url = order["authorizations"][0]
        .as_str()
        .expect("authz")
        .to_string();
    let (s, authz) = post(&authz_url, None).await;
    assert_eq!(s, 200, "{authz}");
    let ch = authz["challenges"]
        .as_array()
        .expect("challenges")
        .iter()
        .find(|c| c["type"] == "http-01")
        .expect("http-01")
        .clone();
    let token = ch["token"].as_str().expect("token").to_string();

    // Serve the key authorization on the http-01 port.
    let jwk = c.jwk();
    let canonical = format!("{{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":{}}}", jwk["x"]);
    let thumb = b64(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        canonical.as_bytes(),
    ));
    let key_authz = format!("{token}.{thumb}");
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", http01))
        .await
        .expect("bind http-01");
    let fetches = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = fetches.clone();
    let app = axum::Router::new().route(
        &format!("/.well-known/acme-challenge/{token}"),
        axum::routing::get(move || async move {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            key_authz
        }),
    );
    let responder = tokio::spawn(async move { axum::serve(listener, app).await });

    // The challenge is answered four times at once on both nodes: one validation runs
    // (one fetch of the key authorization); it is polled on either node.
    let chall_url = ch["url"].as_str().expect("url").to_string();
    let mut bodies = Vec::new();
    for _ in 0..4 {
        let n = c.nonce().await;
        bodies.push(c.body(&chall_url, &n, ("kid", json!(acct)), Some(&json!({}))));
    }
    let (r1, r2, r3, r4) = tokio::join!(
        post_via(&node_a, &origin, &chall_url, &bodies[0]),
        post_via(&node_b, &origin, &chall_url, &bodies[1]),
        post_via(&node_a, &origin, &chall_url, &bodies[2]),
        post_via(&node_b, &origin, &chall_url, &bodies[3]),
    );
    for (s, _, v) in [r1, r2, r3, r4] {
        assert_eq!(s, 200, "{v}");
    }
    let mut status = String::new();
    for _ in 0..100 {
        let (s, a) = post(&authz_url, None).await;
        assert_eq!(s, 200, "{a}");
        status = a["status"].as_str().unwrap_or_default().to_string();
        if status != "pending" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, "valid");
    assert_eq!(
        fetches.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "concurrent challenge requests must validate once"
    );
    let dir = scratch();
    let csr_pem = crate::harness::openssl_csr(
        dir.path(),
        "m",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "/CN=multi.example.com",
        "DNS:multi.example.com",
    );
    let csr_der = x509_parser::pem::parse_x509_pem(csr_pem.as_bytes())
        .expect("csr pem")
        .1
        .contents;
    let finalize = order["finalize"].as_str().expect("finalize").to_string();
    // A CSR naming something else than the order's identifiers: badCSR, order stays ready.
    let other_pem = crate::harness::openssl_csr(
        dir.path(),
        "o",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "/CN=multi.example.com",
        "DNS:multi.example.com,DNS:other.example.com",
    );
    let other_der = x509_parser::pem::parse_x509_pem(other_pem.as_bytes())
        .expect("csr pem")
        .1
        .contents;
    let (s, p) = post(&finalize, Some(&json!({"csr": b64(&other_der)}))).await;
    assert_eq!((s, problem_type(&p)), (400, "badCSR"), "{p}");
    let (s, done) = post(&finalize, Some(&json!({"csr": b64(&csr_der)}))).await;
    assert_eq!(s, 200, "{done}");
    assert_eq!(done["status"], "valid", "{done}");
    let cert_url = done["certificate"]
        .as_str()
        .expect("certificate")
        .to_string();
    let (s, chain) = post(&cert_url, None).await;
    assert_eq!(s, 200);
    let chain = chain.as_str().expect("pem chain").to_string();
    let pems = split_pem(&chain);
    assert!(pems.len() >= 2, "{chain}");
    let (code, text) = openssl_verify(
        dir.path(),
        &node_a.roots_pem,
        &pems[1..].concat(),
        &pems[0],
        &[],
    );
    assert_eq!(code, 0, "{text}");
    let rec = cert_by_serial(&node_b, &serial_of(&pems[0])).await;
    assert_eq!(
        rec["requester"],
        format!("acme:{}", acct.rsplit('/').next().unwrap_or_default())
    );
    responder.abort();
}

/// A cross-signed issuer: lego's `--preferred-chain` picks the alternate chain (offered with
/// `Link: rel="alternate"`) that ends at the other root, and that chain verifies against
/// the other root alone; without it lego keeps the default chain.
#[tokio::test(flavor = "multi_thread")]
async fn acme_lego_alternate_chain_through_a_cross_signed_issuer() {
    let dns = ChallTestSrv::start();
    let http01 = free_tcp_port();
    let home = acme_home(dns.dns, http01, "");
    home.moor_ok(&["init"]);
    home.moor_ok(&["ca", "add-issuer", "--id", "other", "--new-root"]);
    let cross = home.moor_json(&[
        "ca",
        "cross-sign",
        "--issuer",
        "default",
        "--by",
        "other-root",
    ]);
    let cross_pem = std::fs::read_to_string(cross["file"].as_str().expect("file")).expect("cross");
    let other_root = home.read("certs/other-root.pem");
    let own_root = home.read("certs/root.pem");
    let work = scratch();
    let dir = work.path();
    // The cross certificate itself: a valid CA certificate under the other root.
    assert!(pkilint(dir, "lint_pkix_cert", &[], &[&cross_pem]).is_empty());
    let findings = pkilint(
        dir,
        "lint_pkix_signer_signee_cert_chain",
        &[],
        &[&other_root, &cross_pem],
    );
    assert!(findings.is_empty(), "{findings:?}");
    let server = home.serve();
    let other_cn = {
        let der = x509_parser::pem::parse_x509_pem(other_root.as_bytes())
            .expect("pem")
            .1
            .contents;
        let (_, c) = x509_parser::parse_x509_certificate(&der).expect("root");
        c.subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .expect("CN")
            .to_string()
    };
    let dir_url = directory(&server, "tls-server");
    let http_port = format!("127.0.0.1:{http01}");
    for (name, preferred) in [
        ("alt1.example.com", Some(other_cn.as_str())),
        ("alt2.example.com", None),
    ] {
        let mut args = vec![
            "--server",
            &dir_url,
            "--email",
            "alt@example.com",
            "--accept-tos",
            "--path",
            "./lego",
            "--http",
            "--http.port",
            &http_port,
            "-d",
            name,
            "run",
        ];
        if let Some(cn) = preferred {
            args.extend(["--preferred-chain", cn]);
        }
        let (code, out) = lego(&home, dir, &[], &args);
        assert_eq!(code, 0, "lego: {out}");
        let bundle =
            std::fs::read_to_string(dir.join("lego/certificates").join(format!("{name}.crt")))
                .expect("lego cert");
        let certs = split_pem(&bundle);
        assert_eq!(certs.len(), 2, "leaf and one CA certificate");
        let (leaf, ca) = (&certs[0], &certs[1]);
        let (code, text) = openssl_verify(dir, &other_root, ca, leaf, &[]);
        let (own_code, own_text) = openssl_verify(dir, &own_root, ca, leaf, &[]);
        if preferred.is_some() {
            assert_eq!(ca.trim(), cross_pem.trim(), "the alternate chain");
            assert_eq!(code, 0, "verifies against the other root: {text}");
            assert_ne!(
                own_code, 0,
                "the cross chain does not end at our root: {own_text}"
            );
        } else {
            assert_ne!(ca.trim(), cross_pem.trim(), "the default chain");
            assert_eq!(own_code, 0, "{own_text}");
            assert_ne!(code, 0, "{text}");
        }
    }
}
