//! The OCSP responder over HTTP with real clients: OpenSSL and GnuTLS verify responses
//! signed by the delegated responder certificate, pkilint lints responses and the
//! responder certificate, and cached responses follow revocations.

use std::path::{Path, PathBuf};

use base64::Engine;
use moor_core::ocsp::{CertIdHash, Status, request_der, summarize_response};
use moor_core::serial::Serial;
use serde_json::{Value, json};

use crate::harness::*;

/// A server with a few issued certificates written to files.
struct Setup {
    home: Home,
    server: Server,
    _scratch: tempfile::TempDir,
    dir: PathBuf,
    /// (serial hex, certificate file)
    leaves: Vec<(String, PathBuf)>,
    /// The issuing intermediate, PEM file.
    issuer: PathBuf,
    /// The trust anchors, PEM file.
    roots: PathBuf,
    url: String,
}

async fn setup(n: usize) -> Setup {
    let home = Home::new(None);
    let server = home.serve();
    let scratch = scratch();
    let dir = scratch.path().to_path_buf();
    let mut leaves = Vec::new();
    for i in 0..n {
        let (s, v) = server
            .post(
                "/api/v1/certificates",
                &json!({"profile": "tls-server", "sans": [format!("ocsp{i}.example.com")]}),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        let f = dir.join(format!("leaf{i}.pem"));
        std::fs::write(&f, v["certificate"].as_str().expect("pem")).expect("write");
        leaves.push((v["serial"].as_str().expect("serial").to_string(), f));
    }
    let url = format!("http://{}/ocsp", server.http);
    Setup {
        issuer: home.file("certs/default.pem"),
        roots: home.file("roots.pem"),
        home,
        server,
        _scratch: scratch,
        dir,
        leaves,
        url,
    }
}

impl Setup {
    fn p(path: &Path) -> &str {
        path.to_str().expect("utf-8 path")
    }

    /// `openssl ocsp -issuer … -url … -CAfile roots.pem -resp_text` + `extra`.
    fn openssl(&self, extra: &[&str]) -> (i32, String) {
        let mut args = vec![
            "ocsp",
            "-issuer",
            Self::p(&self.issuer),
            "-url",
            &self.url,
            "-CAfile",
            Self::p(&self.roots),
            "-resp_text",
        ];
        args.extend_from_slice(extra);
        run(&tool("openssl"), &args)
    }

    fn issuer_der(&self) -> Vec<u8> {
        pem_to_der(&std::fs::read_to_string(&self.issuer).expect("issuer"))
    }

    /// GET /ocsp/{url-encoded base64 of `req`}; returns the body.
    async fn get(&self, req: &[u8]) -> Vec<u8> {
        let b64 = base64::engine::general_purpose::STANDARD.encode(req);
        let enc = b64
            .replace('+', "%2B")
            .replace('/', "%2F")
            .replace('=', "%3D");
        let r = reqwest::get(format!("{}/{enc}", self.url))
            .await
            .expect("get");
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "application/ocsp-response");
        r.bytes().await.expect("body").to_vec()
    }

    async fn post(&self, body: Vec<u8>) -> Vec<u8> {
        let r = reqwest::Client::new()
            .post(&self.url)
            .header("Content-Type", "application/ocsp-request")
            .body(body)
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), 200);
        r.bytes().await.expect("body").to_vec()
    }

    /// `openssl ocsp -respin` verifying a saved response against roots.pem.
    fn openssl_verify_saved(&self, name: &str, der: &[u8]) -> (i32, String) {
        let f = self.dir.join(name);
        std::fs::write(&f, der).expect("write");
        run(
            &tool("openssl"),
            &[
                "ocsp",
                "-respin",
                Self::p(&f),
                "-issuer",
                Self::p(&self.issuer),
                "-CAfile",
                Self::p(&self.roots),
                "-resp_text",
            ],
        )
    }
}

fn pem_to_der(pem: &str) -> Vec<u8> {
    let b64: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("base64")
}

fn der_to_pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).expect("ascii"));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

fn serial(hex: &str) -> Serial {
    Serial::from_hex(hex).expect("serial")
}

/// The responderID byKey of the issuer (what a CA-signed response would carry).
fn key_hash_of_cert(der: &[u8]) -> Vec<u8> {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let (_, c) = X509Certificate::from_der(der).expect("cert");
    moor_core::ocsp::key_hash(&c.tbs_certificate.subject_pki.subject_public_key.data)
}

#[tokio::test(flavor = "multi_thread")]
async fn openssl_post_and_get_verify_the_delegated_responder() {
    let s = setup(3).await;
    let leaf = |i: usize| Setup::p(&s.leaves[i].1).to_string();

    // POST, several -cert, nonce (openssl's default), SHA-1 CertIDs.
    let (code, out) = s.openssl(&["-cert", &leaf(0), "-cert", &leaf(1), "-cert", &leaf(2)]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Response verify OK"), "{out}");
    for i in 0..3 {
        assert!(out.contains(&format!("leaf{i}.pem: good")), "{out}");
    }
    assert!(out.contains("OCSP Nonce"), "nonce echoed: {out}");
    // The signer is the delegated responder, whose certificate rides along.
    assert!(out.contains("CN=default OCSP Responder"), "{out}");
    assert!(
        out.contains("OCSP Signing") && out.contains("OCSP No Check"),
        "{out}"
    );
    let issuer_hash = hex::encode_upper(key_hash_of_cert(&s.issuer_der()));
    assert!(
        out.contains("Responder Id: ") && !out.contains(&format!("Responder Id: {issuer_hash}")),
        "responderID byKey of the responder, not of the CA: {out}"
    );

    // -serial with SHA-256 CertIDs, no nonce, plus a serial never issued.
    let (code, out) = s.openssl(&[
        "-sha256",
        "-no_nonce",
        "-serial",
        &format!("0x{}", s.leaves[0].0),
        "-serial",
        "0x1234567890abcdef1234",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Response verify OK"), "{out}");
    assert!(out.contains("Hash Algorithm: sha256"), "{out}");
    assert!(out.contains(&format!("0x{}: good", s.leaves[0].0)), "{out}");
    assert!(out.contains("0x1234567890abcdef1234: unknown"), "{out}");
    assert!(!out.contains("OCSP Nonce"), "{out}");

    // GET (RFC 6960 §A.1) of an openssl-made request without a nonce: verifies, and the
    // second answer is the cached one, byte for byte.
    let req = s.dir.join("req.der");
    let (c, t) = run(
        &tool("openssl"),
        &[
            "ocsp",
            "-issuer",
            Setup::p(&s.issuer),
            "-cert",
            &leaf(1),
            "-no_nonce",
            "-reqout",
            Setup::p(&req),
        ],
    );
    assert_eq!(c, 0, "{t}");
    let req = std::fs::read(&req).expect("req");
    let first = s.get(&req).await;
    let second = s.get(&req).await;
    assert_eq!(first, second, "served from the pre-signed cache");
    let (code, out) = s.openssl_verify_saved("get.der", &first);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("Response verify OK") && out.contains("Cert Status: good"),
        "{out}"
    );
    // GET with unencoded base64 ('/' and '+' raw, '=' kept) works too.
    let raw = base64::engine::general_purpose::STANDARD.encode(&req);
    let r = reqwest::get(format!("{}/{raw}", s.url)).await.expect("get");
    let body = r.bytes().await.expect("body");
    let summary = summarize_response(&body).expect("decodes");
    assert_eq!(summary.answers[0].status, Status::Good);

    // POST of the same request: the same cached response.
    assert_eq!(s.post(req.clone()).await, first);
    let summary = summarize_response(&first).expect("decodes");
    assert_eq!(summary.certs.len(), 1);
    let validity =
        summary.answers[0].next_update.expect("nextUpdate") - summary.answers[0].this_update;
    assert!(
        (8 * 3600..=10 * 86_400).contains(&validity),
        "thisUpdate..nextUpdate {validity}s"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn gnutls_ocsptool_verifies_the_delegated_responder() {
    let s = setup(1).await;
    let leaf = s.leaves[0].1.display().to_string();
    let issuer = s.issuer.display().to_string();
    let ocsptool = tool("ocsptool");
    // --ask, trusting the issuing CA (GnuTLS wants the responder's issuer as an anchor).
    let outfile = s.dir.join("gnutls.der");
    let (code, out) = run(
        &ocsptool,
        &[
            &format!("--ask={}", s.url),
            &format!("--load-issuer={issuer}"),
            &format!("--load-cert={leaf}"),
            &format!("--load-trust={issuer}"),
            &format!("--outfile={}", outfile.display()),
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Verifying OCSP Response: Success"), "{out}");
    assert!(out.contains("Certificate Status: good"), "{out}");
    // The responder certificate from the response, as the explicit signer (-e).
    let der = std::fs::read(&outfile).expect("response");
    let summary = summarize_response(&der).expect("decodes");
    let responder = s.dir.join("responder.pem");
    std::fs::write(&responder, der_to_pem(&summary.certs[0])).expect("write");
    for signer in [responder.display().to_string(), issuer.clone()] {
        let (code, out) = run(
            &ocsptool,
            &[
                "-e",
                &format!("--load-signer={signer}"),
                &format!("--infile={}", outfile.display()),
            ],
        );
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("Verifying OCSP Response: Success"), "{out}");
    }
    // Another CA's key as the signer: refused.
    let other = Home::new(None);
    other.moor_ok(&["init"]);
    let (code, out) = run(
        &ocsptool,
        &[
            "-e",
            &format!(
                "--load-signer={}",
                other.file("certs/default.pem").display()
            ),
            &format!("--infile={}", outfile.display()),
        ],
    );
    assert!(
        code != 0 || !out.contains("Verifying OCSP Response: Success"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn pkilint_finds_no_errors_in_responses_or_the_responder_certificate() {
    let s = setup(2).await;
    // good (GET, cached), revoked (POST with nonce), unknown.
    let issuer = s.issuer_der();
    let good = s
        .get(
            &request_der(
                &issuer,
                &[serial(&s.leaves[0].0)],
                CertIdHash::Sha1Null,
                None,
            )
            .expect("req"),
        )
        .await;
    let (st, _) = s
        .server
        .post(
            &format!("/api/v1/certificates/{}/revoke", s.leaves[1].0),
            &json!({"reason": "superseded"}),
        )
        .await;
    assert_eq!(st, 200);
    let revoked = s
        .post(
            request_der(
                &issuer,
                &[serial(&s.leaves[1].0)],
                CertIdHash::Sha256,
                Some(&[3; 16]),
            )
            .expect("req"),
        )
        .await;
    let unknown = s
        .get(
            &request_der(&issuer, &[serial("0badc0ffee")], CertIdHash::Sha1Null, None)
                .expect("req"),
        )
        .await;
    for (name, der, want) in [
        ("good", &good, Status::Good),
        ("unknown", &unknown, Status::Unknown),
    ] {
        assert_eq!(
            summarize_response(der).expect("decodes").answers[0].status,
            want
        );
        let f = s.dir.join(format!("{name}.der"));
        std::fs::write(&f, der).expect("write");
        let (code, out) = run(
            &tool("lint_ocsp_response"),
            &["lint", "-s", "ERROR", Setup::p(&f)],
        );
        assert_eq!(code, 0, "pkilint lint_ocsp_response {name}: {out}");
    }
    assert!(matches!(
        summarize_response(&revoked).expect("decodes").answers[0].status,
        Status::Revoked { reason: 4, .. }
    ));
    let f = s.dir.join("revoked.der");
    std::fs::write(&f, &revoked).expect("write");
    let (code, out) = run(
        &tool("lint_ocsp_response"),
        &["lint", "-s", "ERROR", Setup::p(&f)],
    );
    assert_eq!(code, 0, "pkilint lint_ocsp_response revoked: {out}");

    // The responder certificate: pkilint clean, openssl-verifiable for OCSP signing.
    let responder_der = summarize_response(&good).expect("decodes").certs[0].clone();
    let pem = der_to_pem(&responder_der);
    let findings = pkilint(&s.dir, "lint_pkix_cert", &[], &[&pem]);
    assert!(findings.is_empty(), "lint_pkix_cert: {findings:?}");
    let (code, out) = openssl_verify(
        &s.dir,
        &std::fs::read_to_string(&s.roots).expect("roots"),
        &std::fs::read_to_string(&s.issuer).expect("issuer"),
        &pem,
        &["-purpose", "ocsphelper"],
    );
    assert_eq!(code, 0, "{out}");

    // The inventory knows it: it is in the store like any issued certificate.
    let listed = s.server.list_all("&profile=ocsp-responder").await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    let serial_hex = listed[0]["serial"].as_str().expect("serial");
    let r = s
        .server
        .client
        .get(s.server.url(&format!("/api/v1/certificates/{serial_hex}")))
        .bearer_auth(&s.server.token)
        .header("Accept", "application/pkix-cert")
        .send()
        .await
        .expect("get");
    assert_eq!(r.bytes().await.expect("der").to_vec(), responder_der);
    assert!(s.home.moor_json(&["audit", "verify"])["first_failure"].is_null());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revocation_through_the_api_replaces_the_cached_good_response() {
    let s = setup(1).await;
    let req = request_der(
        &s.issuer_der(),
        &[serial(&s.leaves[0].0)],
        CertIdHash::Sha1Null,
        None,
    )
    .expect("req");
    let good = s.get(&req).await;
    assert_eq!(good, s.get(&req).await, "cached");
    assert_eq!(
        summarize_response(&good).expect("decodes").answers[0].status,
        Status::Good
    );
    let (st, rec): (u16, Value) = s
        .server
        .post(
            &format!("/api/v1/certificates/{}/revoke", s.leaves[0].0),
            &json!({"reason": "key-compromise"}),
        )
        .await;
    assert_eq!(st, 200, "{rec}");
    let at = rec["revoked_at"].as_i64().expect("revoked_at");
    // The revoke path calls Authority::ocsp_revoked: the very next cached-path answer says so.
    let after = s.get(&req).await;
    let summary = summarize_response(&after).expect("decodes");
    assert_eq!(
        summary.answers[0].status,
        Status::Revoked { at, reason: 1 },
        "the cached good response was dropped on revocation"
    );
    let (code, out) = s.openssl_verify_saved("revoked.der", &after);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Cert Status: revoked"), "{out}");
    assert!(
        out.contains("Key Compromise") || out.contains("keyCompromise"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn foreign_junk_truncated_and_oversized_requests_get_ocsp_errors() {
    let s = setup(1).await;
    const MALFORMED: [u8; 5] = [0x30, 0x03, 0x0a, 0x01, 0x01];
    const UNAUTHORIZED: [u8; 5] = [0x30, 0x03, 0x0a, 0x01, 0x06];
    // Another CA's CertID: unauthorized (openssl reports it too).
    let other = Home::new(None);
    other.moor_ok(&["init"]);
    let (_, out) = run(
        &tool("openssl"),
        &[
            "ocsp",
            "-issuer",
            Setup::p(&other.file("certs/default.pem")),
            "-serial",
            "0x01",
            "-url",
            &s.url,
            "-noverify",
        ],
    );
    assert!(out.contains("unauthorized"), "{out}");
    let foreign_issuer = pem_to_der(&other.read("certs/default.pem"));
    let foreign =
        request_der(&foreign_issuer, &[serial("01")], CertIdHash::Sha1, None).expect("req");
    assert_eq!(s.get(&foreign).await, UNAUTHORIZED);
    // Junk, truncated and oversized bodies; nonces of 0 and 33 octets.
    let good = request_der(
        &s.issuer_der(),
        &[serial(&s.leaves[0].0)],
        CertIdHash::Sha256,
        Some(&[1; 8]),
    )
    .expect("req");
    assert_eq!(s.post(b"junk".to_vec()).await, MALFORMED);
    for n in [1, good.len() / 2, good.len() - 1] {
        assert_eq!(
            s.post(good[..n].to_vec()).await,
            MALFORMED,
            "truncated to {n}"
        );
    }
    let mut big = good.clone();
    big.resize(moor_core::ocsp::MAX_REQUEST_BYTES + 1, 0);
    assert_eq!(s.post(big.clone()).await, MALFORMED);
    assert_eq!(s.get(&big).await, MALFORMED);
    for n in [0usize, 33] {
        let req = request_der(
            &s.issuer_der(),
            &[serial(&s.leaves[0].0)],
            CertIdHash::Sha1,
            Some(&vec![9; n]),
        )
        .expect("req");
        assert_eq!(s.post(req).await, MALFORMED, "nonce of {n} octets");
    }
    let r = reqwest::get(format!("{}/not-base64!!", s.url))
        .await
        .expect("get");
    assert_eq!(r.bytes().await.expect("body").to_vec(), MALFORMED);
    // Wrong content type: 415, no OCSP answer.
    let r = reqwest::Client::new()
        .post(&s.url)
        .header("Content-Type", "text/plain")
        .body(good)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 415);
}

#[tokio::test(flavor = "multi_thread")]
async fn get_answers_over_http2_cleartext_with_cache_headers() {
    let s = setup(1).await;
    let req = request_der(
        &s.issuer_der(),
        &[serial(&s.leaves[0].0)],
        CertIdHash::Sha1Null,
        None,
    )
    .expect("req");
    let b64 = base64::engine::general_purpose::STANDARD.encode(&req);
    let url = format!(
        "{}/{}",
        s.url,
        b64.replace('+', "%2B")
            .replace('/', "%2F")
            .replace('=', "%3D")
    );
    // curl speaks HTTP/2 with prior knowledge (h2c), as a caching proxy in front would.
    let body = s.dir.join("h2.der");
    let (code, out) = run(
        &tool("curl"),
        &[
            "-sS",
            "--http2-prior-knowledge",
            "-D",
            "-",
            "-o",
            Setup::p(&body),
            "-w",
            "version=%{http_version} status=%{http_code}\n",
            &url,
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("version=2 status=200"), "{out}");
    let headers = out.to_ascii_lowercase();
    assert!(
        headers.contains("content-type: application/ocsp-response"),
        "{out}"
    );
    assert!(
        headers.contains("cache-control: public, max-age=60, no-transform, must-revalidate"),
        "{out}"
    );
    let der = std::fs::read(&body).expect("body");
    let (code, out) = s.openssl_verify_saved("h2-verify.der", &der);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("Response verify OK") && out.contains("Cert Status: good"),
        "{out}"
    );
    // Junk over GET: a malformedRequest answer, never cached by intermediaries.
    let (code, out) = run(
        &tool("curl"),
        &[
            "-sS",
            "-D",
            "-",
            "-o",
            "/dev/null",
            &format!("{}/AAAA", s.url),
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(!out.to_ascii_lowercase().contains("max-age"), "{out}");
}
