//! The VA against a real pebble-challtestsrv (DNS, http-01, tls-alpn-01 responders) and,
//! for misbehaving servers, small loopback servers of our own. Rows B3 of refuse.md.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use moor_core::identifier::Identifier;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::challtestsrv::ChallTestSrv;
use super::{
    ChallengeType, Outcome, ProblemKind, Timeouts, Validation, ValidationConfig, Validator,
    dns01_txt_value,
};

const ACCOUNT: &str = "https://ca.test/acme/acct/1";

fn dns(name: &str) -> Identifier {
    Identifier::Dns(name.into())
}

fn ka(token: &str) -> String {
    format!("{token}.LPJNul-wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ")
}

fn validator(cfg: ValidationConfig) -> Validator {
    Validator::new(cfg).expect("validator")
}

#[track_caller]
fn assert_valid(v: &Validation) {
    assert_eq!(v.outcome, Outcome::Valid, "records: {:?}", v.records);
}

#[track_caller]
fn assert_invalid(v: &Validation, kind: ProblemKind, needle: &str) {
    match &v.outcome {
        Outcome::Invalid(p) => {
            assert_eq!(p.kind, kind, "{p}");
            assert!(p.detail.contains(needle), "{p} lacks {needle:?}");
        }
        Outcome::Valid => panic!("valid, expected {kind:?} ({needle})"),
    }
}

async fn http01(cfg: ValidationConfig, name: &str, token: &str) -> Validation {
    validator(cfg)
        .validate(ChallengeType::Http01, &dns(name), token, &ka(token))
        .await
}

// ---------------------------------------------------------------- http-01 ----

#[tokio::test]
async fn http01_valid() {
    let srv = ChallTestSrv::start().await;
    srv.post(
        "/add-http01",
        json!({"token": "tokValid", "content": ka("tokValid")}),
    )
    .await;
    let v = http01(srv.config(), "valid.example.com", "tokValid").await;
    assert_valid(&v);
    assert_eq!(v.records.len(), 1);
    let r = &v.records[0];
    assert_eq!(
        r.url.as_deref(),
        Some(
            format!(
                "http://valid.example.com:{}/.well-known/acme-challenge/tokValid",
                srv.http01
            )
            .as_str()
        )
    );
    assert_eq!(r.address_used, Some("127.0.0.1".parse().unwrap()));
    assert_eq!(
        r.addresses_resolved,
        vec!["127.0.0.1".parse::<IpAddr>().unwrap()]
    );
}

#[tokio::test]
async fn http01_wrong_body_is_incorrect_response() {
    let srv = ChallTestSrv::start().await;
    srv.post(
        "/add-http01",
        json!({"token": "tokWrong", "content": ka("someoneElse")}),
    )
    .await;
    let v = http01(srv.config(), "wrong.example.com", "tokWrong").await;
    assert_invalid(
        &v,
        ProblemKind::IncorrectResponse,
        "not the expected key authorization",
    );
}

#[tokio::test]
async fn http01_unknown_token_and_error_status() {
    // challtestsrv answers an unknown token with an empty 200.
    let srv = ChallTestSrv::start().await;
    let v = http01(srv.config(), "missing.example.com", "tokMissing").await;
    assert_invalid(&v, ProblemKind::IncorrectResponse, "0-byte response body");
    // A 404 is unauthorized.
    let port = misbehaving_server(
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec(),
        Duration::ZERO,
    )
    .await;
    let ip = Identifier::Ip("127.0.0.1".parse().unwrap());
    let v = validator(loopback_cfg(port))
        .validate(ChallengeType::Http01, &ip, "tok404", &ka("tok404"))
        .await;
    assert_invalid(&v, ProblemKind::Unauthorized, "HTTP 404");
}

#[tokio::test]
async fn http01_redirect_within_policy_is_followed() {
    let srv = ChallTestSrv::start().await;
    srv.post(
        "/add-redirect",
        json!({"path": "/.well-known/acme-challenge/tokFrom",
               "targetURL": format!("http://other.example.com:{}/.well-known/acme-challenge/tokTo", srv.http01)}),
    )
    .await;
    srv.post(
        "/add-http01",
        json!({"token": "tokTo", "content": ka("tokFrom")}),
    )
    .await;
    let v = http01(srv.config(), "from.example.com", "tokFrom").await;
    assert_valid(&v);
    assert_eq!(v.records.len(), 2);
    assert_eq!(v.records[1].hostname, "other.example.com");
}

#[tokio::test]
async fn http01_redirect_to_disallowed_port_is_refused_without_request() {
    let srv = ChallTestSrv::start().await;
    // Something listens on the forbidden port, and must never see a request.
    let trap = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let trap_port = trap.local_addr().unwrap().port();
    srv.post(
        "/add-redirect",
        json!({"path": "/.well-known/acme-challenge/tokPort",
               "targetURL": format!("http://trap.example.com:{trap_port}/.well-known/acme-challenge/tokPort")}),
    )
    .await;
    let v = http01(srv.config(), "port.example.com", "tokPort").await;
    assert_invalid(
        &v,
        ProblemKind::Connection,
        &format!("port {trap_port} is not allowed"),
    );
    assert_eq!(v.records.len(), 1, "the refused target was not contacted");
    assert!(
        tokio::time::timeout(Duration::from_millis(200), trap.accept())
            .await
            .is_err(),
        "no connection reached the forbidden port"
    );
}

#[tokio::test]
async fn http01_redirect_to_reserved_literal_and_scheme_are_refused() {
    let srv = ChallTestSrv::start().await;
    srv.post(
        "/add-redirect",
        json!({"path": "/.well-known/acme-challenge/tokMeta",
               "targetURL": "http://169.254.169.254/latest/meta-data/"}),
    )
    .await;
    srv.post(
        "/add-redirect",
        json!({"path": "/.well-known/acme-challenge/tokFtp",
               "targetURL": "ftp://files.example.com/x"}),
    )
    .await;
    let v = http01(srv.config(), "meta.example.com", "tokMeta").await;
    assert_invalid(&v, ProblemKind::Connection, "169.254.0.0/16");
    let v = http01(srv.config(), "ftp.example.com", "tokFtp").await;
    assert_invalid(&v, ProblemKind::Connection, "scheme ftp");
}

#[tokio::test]
async fn http01_redirect_loop_and_too_many_redirects() {
    let srv = ChallTestSrv::start().await;
    let base = format!(
        "http://loop.example.com:{}/.well-known/acme-challenge",
        srv.http01
    );
    srv.post(
        "/add-redirect",
        json!({"path": "/.well-known/acme-challenge/tokA", "targetURL": format!("{base}/tokB")}),
    )
    .await;
    srv.post(
        "/add-redirect",
        json!({"path": "/.well-known/acme-challenge/tokB", "targetURL": format!("{base}/tokA")}),
    )
    .await;
    let v = http01(srv.config(), "loop.example.com", "tokA").await;
    assert_invalid(&v, ProblemKind::Connection, "redirect loop");
    // A chain of 12 distinct URLs: more than 10 redirects.
    for i in 0..12 {
        srv.post(
            "/add-redirect",
            json!({"path": format!("/.well-known/acme-challenge/tokChain{i}"),
                   "targetURL": format!("{base}/tokChain{}", i + 1)}),
        )
        .await;
    }
    let v = http01(srv.config(), "loop.example.com", "tokChain0").await;
    assert_invalid(&v, ProblemKind::Connection, "too many redirects");
    assert_eq!(v.records.len(), 11);
}

#[tokio::test]
async fn http01_private_and_loopback_addresses_are_refused_unless_allowed() {
    let srv = ChallTestSrv::start().await;
    srv.post(
        "/add-a",
        json!({"host": "private.example.com.", "addresses": ["10.0.0.1"]}),
    )
    .await;
    srv.post(
        "/add-aaaa",
        json!({"host": "private.example.com.", "addresses": ["fd00::2"]}),
    )
    .await;
    let v = http01(srv.config(), "private.example.com", "tokPriv").await;
    assert_invalid(&v, ProblemKind::Connection, "10.0.0.1 (private)");
    assert_invalid(&v, ProblemKind::Connection, "fd00::2 (private)");
    assert_eq!(v.records[0].address_used, None);

    // The default answer, 127.0.0.1, with loopback not allowed (any real profile).
    srv.post(
        "/add-http01",
        json!({"token": "tokLo", "content": ka("tokLo")}),
    )
    .await;
    let mut cfg = srv.config();
    cfg.allow_loopback = false;
    cfg.allow_private_addresses = true;
    let v = http01(cfg, "lo.example.com", "tokLo").await;
    assert_invalid(&v, ProblemKind::Connection, "127.0.0.1 (loopback)");

    // Private allowed: the VA tries 10.0.0.1 (nobody there, short connect timeout).
    let mut cfg = srv.config();
    cfg.allow_private_addresses = true;
    cfg.timeouts.connect = Duration::from_millis(300);
    let v = http01(cfg, "private.example.com", "tokPriv").await;
    assert_invalid(&v, ProblemKind::Connection, "connecting to");
    assert_ne!(
        v.records[0].address_used,
        Some("127.0.0.1".parse().unwrap())
    );
}

#[tokio::test]
async fn http01_servfail_is_a_dns_problem() {
    let srv = ChallTestSrv::start().await;
    srv.post("/set-servfail", json!({"host": "broken.example.com."}))
        .await;
    let v = http01(srv.config(), "broken.example.com", "tokSf").await;
    assert_invalid(&v, ProblemKind::Dns, "SERVFAIL");
}

/// A one-shot HTTP server on loopback that answers every request with `response` after
/// `delay`; for an IP identifier no DNS is involved.
async fn misbehaving_server(response: Vec<u8>, delay: Duration) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let response = response.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                let _ = s.read(&mut buf).await;
                tokio::time::sleep(delay).await;
                let _ = s.write_all(&response).await;
                let _ = s.shutdown().await;
            });
        }
    });
    port
}

fn loopback_cfg(port: u16) -> ValidationConfig {
    ValidationConfig {
        http01_port: port,
        allow_loopback: true,
        timeouts: Timeouts {
            dns: Duration::from_secs(1),
            connect: Duration::from_secs(1),
            total: Duration::from_secs(2),
        },
        ..ValidationConfig::default()
    }
}

#[tokio::test]
async fn http01_oversized_body_is_invalid() {
    let token = "tokBig";
    let mut body = ka(token).into_bytes();
    body.resize(4000, b' ');
    let mut resp = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    resp.extend_from_slice(&body);
    let port = misbehaving_server(resp, Duration::ZERO).await;
    let ip = Identifier::Ip("127.0.0.1".parse().unwrap());
    let v = validator(loopback_cfg(port))
        .validate(ChallengeType::Http01, &ip, token, &ka(token))
        .await;
    assert_invalid(&v, ProblemKind::IncorrectResponse, "longer than 1024 bytes");

    // The same key authorization with a little trailing whitespace is fine.
    let body = format!("{}\r\n\t ", ka(token));
    let resp = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let port = misbehaving_server(resp.into_bytes(), Duration::ZERO).await;
    let v = validator(loopback_cfg(port))
        .validate(ChallengeType::Http01, &ip, token, &ka(token))
        .await;
    assert_valid(&v);
}

#[tokio::test]
async fn http01_slow_server_times_out() {
    let port =
        misbehaving_server(b"HTTP/1.1 200 OK\r\n\r\n".to_vec(), Duration::from_secs(30)).await;
    let ip = Identifier::Ip("127.0.0.1".parse().unwrap());
    let t0 = Instant::now();
    let v = validator(loopback_cfg(port))
        .validate(ChallengeType::Http01, &ip, "tokSlow", &ka("tokSlow"))
        .await;
    assert_invalid(&v, ProblemKind::Connection, "timed out");
    assert!(t0.elapsed() < Duration::from_secs(4));
}

#[tokio::test]
async fn http01_garbage_and_huge_headers_do_not_panic() {
    let ip = Identifier::Ip("127.0.0.1".parse().unwrap());
    let mut huge = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..2000 {
        huge.extend_from_slice(format!("X-H{i}: {}\r\n", "v".repeat(50)).as_bytes());
    }
    huge.extend_from_slice(b"\r\nbody");
    for resp in [
        b"\x00\xff garbage\r\n\r\n".to_vec(),
        b"HTTP/1.1 301 Moved\r\nLocation: \xff\xfe\r\n\r\n".to_vec(),
        b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n".to_vec(),
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\n".to_vec(),
        huge,
        Vec::new(),
    ] {
        let port = misbehaving_server(resp, Duration::ZERO).await;
        let v = validator(loopback_cfg(port))
            .validate(ChallengeType::Http01, &ip, "tokJunk", &ka("tokJunk"))
            .await;
        assert!(!v.outcome.is_valid(), "{v:?}");
    }
}

#[tokio::test]
async fn http01_refuses_loopback_ip_identifier_by_default() {
    let port = misbehaving_server(b"HTTP/1.1 200 OK\r\n\r\n".to_vec(), Duration::ZERO).await;
    let mut cfg = loopback_cfg(port);
    cfg.allow_loopback = false;
    let ip = Identifier::Ip("127.0.0.1".parse().unwrap());
    let v = validator(cfg)
        .validate(ChallengeType::Http01, &ip, "tokIp", &ka("tokIp"))
        .await;
    assert_invalid(&v, ProblemKind::Connection, "loopback");
}

#[tokio::test]
async fn wildcards_are_only_for_dns01() {
    let v = validator(ValidationConfig::default());
    for t in [ChallengeType::Http01, ChallengeType::TlsAlpn01] {
        let r = v.validate(t, &dns("*.example.com"), "tok", "tok.x").await;
        assert_invalid(&r, ProblemKind::RejectedIdentifier, "cannot validate");
    }
    let ip = Identifier::Ip("192.0.2.1".parse().unwrap());
    let r = v.validate(ChallengeType::Dns01, &ip, "tok", "tok.x").await;
    assert_invalid(&r, ProblemKind::RejectedIdentifier, "cannot validate");
    let r = v
        .validate(
            ChallengeType::Http01,
            &dns("a.example.com"),
            "../x",
            "tok.x",
        )
        .await;
    assert_invalid(&r, ProblemKind::Malformed, "base64url");
}

// ----------------------------------------------------------------- dns-01 ----

#[tokio::test]
async fn dns01_valid_and_wildcard() {
    let srv = ChallTestSrv::start().await;
    let v = validator(srv.config());
    srv.post(
        "/set-txt",
        json!({"host": "_acme-challenge.dns.example.com.", "value": dns01_txt_value(&ka("tokD"))}),
    )
    .await;
    let r = v
        .validate(
            ChallengeType::Dns01,
            &dns("dns.example.com"),
            "tokD",
            &ka("tokD"),
        )
        .await;
    assert_valid(&r);
    assert_eq!(r.records[0].hostname, "_acme-challenge.dns.example.com");
    // The wildcard is validated at the base name.
    srv.post(
        "/set-txt",
        json!({"host": "_acme-challenge.wild.example.com.", "value": dns01_txt_value(&ka("tokW"))}),
    )
    .await;
    let r = v
        .validate(
            ChallengeType::Dns01,
            &dns("*.wild.example.com"),
            "tokW",
            &ka("tokW"),
        )
        .await;
    assert_valid(&r);
}

#[tokio::test]
async fn dns01_invalid() {
    let srv = ChallTestSrv::start().await;
    let v = validator(srv.config());
    // A TXT record for another account's key authorization.
    srv.post(
        "/set-txt",
        json!({"host": "_acme-challenge.other.example.com.", "value": dns01_txt_value("tokO.otheraccount")}),
    )
    .await;
    let r = v
        .validate(
            ChallengeType::Dns01,
            &dns("other.example.com"),
            "tokO",
            &ka("tokO"),
        )
        .await;
    assert_invalid(&r, ProblemKind::IncorrectResponse, "expected digest");
    // No TXT record at all.
    let r = v
        .validate(
            ChallengeType::Dns01,
            &dns("none.example.com"),
            "tokN",
            &ka("tokN"),
        )
        .await;
    assert_invalid(&r, ProblemKind::Unauthorized, "no TXT record");
    // SERVFAIL fails closed.
    srv.post(
        "/set-servfail",
        json!({"host": "_acme-challenge.sf.example.com."}),
    )
    .await;
    let r = v
        .validate(
            ChallengeType::Dns01,
            &dns("sf.example.com"),
            "tokS",
            &ka("tokS"),
        )
        .await;
    assert_invalid(&r, ProblemKind::Dns, "SERVFAIL");
}

// ------------------------------------------------------------ tls-alpn-01 ----

#[tokio::test]
async fn tls_alpn01_valid() {
    let srv = ChallTestSrv::start().await;
    srv.post(
        "/add-tlsalpn01",
        json!({"host": "tls.example.com", "content": ka("tokT")}),
    )
    .await;
    let r = validator(srv.config())
        .validate(
            ChallengeType::TlsAlpn01,
            &dns("tls.example.com"),
            "tokT",
            &ka("tokT"),
        )
        .await;
    assert_valid(&r);
    assert_eq!(r.records[0].port, Some(srv.tlsalpn01));
    assert_eq!(
        r.records[0].address_used,
        Some("127.0.0.1".parse().unwrap())
    );
}

#[tokio::test]
async fn tls_alpn01_invalid() {
    let srv = ChallTestSrv::start().await;
    let v = validator(srv.config());
    srv.post(
        "/add-tlsalpn01",
        json!({"host": "tlswrong.example.com", "content": ka("someoneElse")}),
    )
    .await;
    let r = v
        .validate(
            ChallengeType::TlsAlpn01,
            &dns("tlswrong.example.com"),
            "tokX",
            &ka("tokX"),
        )
        .await;
    assert_invalid(&r, ProblemKind::IncorrectResponse, "does not hold SHA-256");
    // No certificate for this name: the responder aborts the handshake.
    let r = v
        .validate(
            ChallengeType::TlsAlpn01,
            &dns("tlsnone.example.com"),
            "tokY",
            &ka("tokY"),
        )
        .await;
    assert_invalid(&r, ProblemKind::Tls, "handshake");
    // Plain HTTP on the port is not TLS.
    let mut cfg = srv.config();
    cfg.tlsalpn01_port = srv.http01;
    let r = validator(cfg)
        .validate(
            ChallengeType::TlsAlpn01,
            &dns("tls.example.com"),
            "tokZ",
            &ka("tokZ"),
        )
        .await;
    assert_invalid(&r, ProblemKind::Tls, "handshake");
}

#[derive(Debug)]
struct FixedCert(std::sync::Arc<rustls::sign::CertifiedKey>);

impl rustls::server::ResolvesServerCert for FixedCert {
    fn resolve(
        &self,
        _hello: rustls::server::ClientHello<'_>,
    ) -> Option<std::sync::Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }
}

/// A tls-alpn-01 responder of our own (rustls) on loopback, for what challtestsrv does
/// not do: TLS 1.2 only, no ALPN, IP identifiers.
async fn local_tls_responder(tls12_only: bool, alpn: bool, ip: IpAddr, key_auth: &str) -> u16 {
    use rustls::pki_types::PrivateKeyDer;
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::default();
    params.subject_alt_names = vec![rcgen::SanType::IpAddress(ip)];
    params.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(
        &super::key_authorization_digest(key_auth),
    )];
    let cert = params.self_signed(&key).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] = if tls12_only {
        &[&rustls::version::TLS12]
    } else {
        rustls::DEFAULT_VERSIONS
    };
    // with_single_cert would parse the certificate with webpki, which refuses the critical
    // acmeIdentifier extension: hand rustls the key directly.
    let signing_key = provider
        .key_provider
        .load_private_key(PrivateKeyDer::Pkcs8(key.serialize_der().into()))
        .unwrap();
    let certified = std::sync::Arc::new(rustls::sign::CertifiedKey::new(
        vec![cert.der().clone()],
        signing_key,
    ));
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(std::sync::Arc::new(FixedCert(certified)));
    if alpn {
        cfg.alpn_protocols = vec![b"acme-tls/1".to_vec()];
    }
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(cfg));
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut t) = acceptor.accept(s).await {
                    let _ = t.shutdown().await;
                }
            });
        }
    });
    port
}

fn tls_cfg(port: u16) -> ValidationConfig {
    ValidationConfig {
        tlsalpn01_port: port,
        ..loopback_cfg(0)
    }
}

#[tokio::test]
async fn tls_alpn01_tls12_with_ip_identifier() {
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    let port = local_tls_responder(true, true, ip, &ka("tokIp")).await;
    let r = validator(tls_cfg(port))
        .validate(
            ChallengeType::TlsAlpn01,
            &Identifier::Ip(ip),
            "tokIp",
            &ka("tokIp"),
        )
        .await;
    assert_valid(&r);
    let r = validator(tls_cfg(port))
        .validate(
            ChallengeType::TlsAlpn01,
            &Identifier::Ip(ip),
            "tokIp2",
            &ka("tokIp2"),
        )
        .await;
    assert_invalid(&r, ProblemKind::IncorrectResponse, "does not hold SHA-256");
}

#[tokio::test]
async fn tls_alpn01_without_acme_alpn_is_refused() {
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    let port = local_tls_responder(false, false, ip, &ka("tokNa")).await;
    let r = validator(tls_cfg(port))
        .validate(
            ChallengeType::TlsAlpn01,
            &Identifier::Ip(ip),
            "tokNa",
            &ka("tokNa"),
        )
        .await;
    assert_invalid(&r, ProblemKind::Tls, "acme-tls/1");
}

// -------------------------------------------------------------------- CAA ----

async fn add_caa(srv: &ChallTestSrv, host: &str, policies: serde_json::Value) {
    srv.post("/add-caa", json!({"host": host, "policies": policies}))
        .await;
}

#[tokio::test]
async fn caa_permit_and_forbid() {
    let srv = ChallTestSrv::start().await;
    let v = validator(srv.config());
    let http = ChallengeType::Http01;
    // No CAA anywhere.
    let d = v.check_caa(&dns("nocaa.example.com"), ACCOUNT, http).await;
    assert!(d.permitted, "{d:?}");
    assert!(d.problem().is_none());
    // Ours at the parent, found by climbing.
    add_caa(
        &srv,
        "ours.example.com.",
        json!([{"tag": "issue", "value": "mooring.example"}]),
    )
    .await;
    let d = v
        .check_caa(&dns("a.b.ours.example.com"), ACCOUNT, http)
        .await;
    assert!(d.permitted, "{d:?}");
    assert_eq!(d.relevant_domain.as_deref(), Some("ours.example.com"));
    // Another CA only.
    add_caa(
        &srv,
        "theirs.example.com.",
        json!([{"tag": "issue", "value": "other-ca.example"}]),
    )
    .await;
    let d = v
        .check_caa(&dns("www.theirs.example.com"), ACCOUNT, http)
        .await;
    assert!(!d.permitted, "{d:?}");
    assert_eq!(d.problem().unwrap().kind, ProblemKind::Caa);
    assert!(d.reason.contains("names another CA"), "{d:?}");
    // The first non-empty RRset decides: a permissive child under a forbidding parent.
    add_caa(
        &srv,
        "child.theirs.example.com.",
        json!([{"tag": "issue", "value": "mooring.example"}]),
    )
    .await;
    let d = v
        .check_caa(&dns("child.theirs.example.com"), ACCOUNT, http)
        .await;
    assert!(d.permitted, "{d:?}");
    // An IP address has no CAA.
    let d = v
        .check_caa(&Identifier::Ip("192.0.2.1".parse().unwrap()), ACCOUNT, http)
        .await;
    assert!(d.permitted);
}

#[tokio::test]
async fn caa_issuewild() {
    let srv = ChallTestSrv::start().await;
    let v = validator(srv.config());
    add_caa(
        &srv,
        "wild.example.com.",
        json!([{"tag": "issue", "value": "mooring.example"}, {"tag": "issuewild", "value": ";"}]),
    )
    .await;
    let d = v
        .check_caa(&dns("*.wild.example.com"), ACCOUNT, ChallengeType::Dns01)
        .await;
    assert!(!d.permitted, "{d:?}");
    assert!(d.reason.contains("issuewild"), "{d:?}");
    let d = v
        .check_caa(&dns("wild.example.com"), ACCOUNT, ChallengeType::Dns01)
        .await;
    assert!(d.permitted, "{d:?}");
}

#[tokio::test]
async fn caa_accounturi_and_validationmethods() {
    let srv = ChallTestSrv::start().await;
    let v = validator(srv.config());
    add_caa(
        &srv,
        "acct.example.com.",
        json!([{"tag": "issue", "value": format!("mooring.example; accounturi={ACCOUNT}")}]),
    )
    .await;
    let d = v
        .check_caa(&dns("acct.example.com"), ACCOUNT, ChallengeType::Http01)
        .await;
    assert!(d.permitted, "{d:?}");
    let d = v
        .check_caa(
            &dns("acct.example.com"),
            "https://ca.test/acme/acct/2",
            ChallengeType::Http01,
        )
        .await;
    assert!(!d.permitted, "{d:?}");
    assert!(d.reason.contains("accounturi"), "{d:?}");

    add_caa(
        &srv,
        "methods.example.com.",
        json!([{"tag": "issue", "value": "mooring.example; validationmethods=dns-01"}]),
    )
    .await;
    let d = v
        .check_caa(&dns("methods.example.com"), ACCOUNT, ChallengeType::Dns01)
        .await;
    assert!(d.permitted, "{d:?}");
    let d = v
        .check_caa(&dns("methods.example.com"), ACCOUNT, ChallengeType::Http01)
        .await;
    assert!(!d.permitted, "{d:?}");
    assert!(d.reason.contains("validationmethods"), "{d:?}");
}

#[tokio::test]
async fn caa_lookup_failure_forbids() {
    let srv = ChallTestSrv::start().await;
    let v = validator(srv.config());
    srv.post("/set-servfail", json!({"host": "sf.example.com."}))
        .await;
    let d = v
        .check_caa(&dns("www.sf.example.com"), ACCOUNT, ChallengeType::Http01)
        .await;
    assert!(!d.permitted, "{d:?}");
    assert!(d.reason.contains("SERVFAIL"), "{d:?}");
    assert_eq!(d.problem().unwrap().kind, ProblemKind::Caa);
    // A resolver that does not answer at all also forbids.
    let silent = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut cfg = srv.config();
    cfg.dns_resolver = silent.local_addr().unwrap();
    cfg.timeouts.dns = Duration::from_millis(300);
    let d = validator(cfg)
        .check_caa(&dns("x.example.com"), ACCOUNT, ChallengeType::Http01)
        .await;
    assert!(!d.permitted, "{d:?}");
}
