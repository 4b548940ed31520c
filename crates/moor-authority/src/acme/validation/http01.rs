//! http-01 (RFC 8555 §8.3): GET `http://{identifier}:{port}/.well-known/acme-challenge/{token}`
//! and compare the body with the key authorization.
//!
//! Each hop resolves its host through our resolver, keeps the allowed addresses and
//! connects to one of exactly those (no second resolution), speaks HTTP/1.1 with hyper on
//! that socket, and reads at most [`MAX_HTTP01_BODY`] + 1 bytes of body. Redirects
//! (301/302/303/307/308) are followed at most [`MAX_REDIRECTS`] times, each checked by
//! [`check_redirect`] first: http or https only, port 80/443 or the configured
//! http-01/tls-alpn-01 port, no credentials, an IP literal only in an allowed range; a URL
//! seen before is a loop. A refused redirect is never requested (refuse.md B3 row 1).
//!
//! Problem details never quote the foreign body: on a private network a redirect could
//! otherwise read the start of any internal page (SSRF read primitive).

use std::collections::HashSet;
use std::net::IpAddr;
use std::pin::Pin;

use hyper::body::{Body, Incoming};
use hyper::header::{ACCEPT, CONNECTION, HOST, HeaderValue, LOCATION, USER_AGENT};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use moor_core::identifier::Identifier;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use url::Url;

use super::{
    Host, MAX_HTTP01_BODY, MAX_REDIRECTS, Problem, ProblemKind, Validation, ValidationConfig,
    ValidationRecord, Validator, attempt_order, canonical_ip, connect_first, resolver,
};

/// Longest `Location` header value followed.
const MAX_LOCATION_LEN: usize = 2048;
/// Longest response head hyper buffers (status line and headers).
const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Most response headers accepted.
const MAX_HEADERS: usize = 100;
/// The User-Agent of every validation request.
const USER_AGENT_VALUE: &str = "Mooring-VA (ACME validation; RFC 8555)";

/// Where a request goes: the URL, its host and port, and whether it is https.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectTarget {
    /// The absolute URL, without fragment.
    pub url: Url,
    /// The host to resolve (or the IP literal).
    pub host: Host,
    /// The port to connect to.
    pub port: u16,
    /// True for https.
    pub https: bool,
}

/// Checks a redirect from `current` to `location` (a `Location` header value, absolute or
/// relative) against the policy. Returns the target, or why it is refused.
pub fn check_redirect(
    current: &Url,
    location: &str,
    config: &ValidationConfig,
) -> Result<RedirectTarget, String> {
    if location.is_empty() {
        return Err("empty Location header".into());
    }
    if location.len() > MAX_LOCATION_LEN {
        return Err(format!(
            "Location header longer than {MAX_LOCATION_LEN} bytes"
        ));
    }
    let mut url = current.join(location).map_err(|e| {
        format!(
            "invalid redirect target {:?}: {e}",
            super::shown(location.as_bytes(), 100)
        )
    })?;
    url.set_fragment(None);
    target_of(url, config)
}

/// The policy for one URL (the first request's or a redirect's).
fn target_of(url: Url, config: &ValidationConfig) -> Result<RedirectTarget, String> {
    let shown_url = super::shown(url.as_str().as_bytes(), 200);
    let https = match url.scheme() {
        "http" => false,
        "https" => true,
        other => {
            return Err(format!(
                "redirect to {shown_url}: scheme {other} is not http or https"
            ));
        }
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("redirect to {shown_url}: URL carries credentials"));
    }
    let port = url
        .port_or_known_default()
        .ok_or_else(|| format!("redirect to {shown_url}: no port"))?;
    let allowed_ports: [u16; 2] = if https {
        [443, config.tlsalpn01_port]
    } else {
        [80, config.http01_port]
    };
    if !allowed_ports.contains(&port) {
        return Err(format!(
            "redirect to {shown_url}: port {port} is not allowed for {} (only {} or {})",
            url.scheme(),
            allowed_ports[0],
            allowed_ports[1]
        ));
    }
    let host = match url.host() {
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            resolver::fqdn(&d).map_err(|e| format!("redirect to {shown_url}: {e}"))?;
            if !d.contains('.') {
                return Err(format!(
                    "redirect to {shown_url}: {d} is not a fully qualified domain name"
                ));
            }
            Host::Dns(d)
        }
        Some(url::Host::Ipv4(ip)) => Host::Ip(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Host::Ip(canonical_ip(IpAddr::V6(ip))),
        None => return Err(format!("redirect to {shown_url}: no host")),
    };
    if let Host::Ip(ip) = host
        && !config.address_allowed(ip)
    {
        return Err(format!(
            "redirect to {shown_url}: address {ip} is {} and may not be contacted",
            super::classify(ip)
        ));
    }
    Ok(RedirectTarget {
        url,
        host,
        port,
        https,
    })
}

/// What one request returned.
enum Fetched {
    /// A redirect status with this `Location`.
    Redirect(String),
    /// A status other than 200 or a followable redirect.
    Status(StatusCode),
    /// A 200 body of at most [`MAX_HTTP01_BODY`] bytes.
    Body(Vec<u8>),
    /// A 200 body longer than the cap.
    TooLarge,
}

/// Runs an http-01 validation (the caller checked the identifier kind and the token).
pub(super) async fn validate(
    v: &Validator,
    identifier: &Identifier,
    token: &str,
    key_authorization: &str,
) -> Validation {
    let host = match identifier {
        Identifier::Dns(n) => n.clone(),
        Identifier::Ip(IpAddr::V6(ip)) => format!("[{ip}]"),
        Identifier::Ip(ip) => ip.to_string(),
        other => {
            return Validation::invalid(
                Problem::new(
                    ProblemKind::RejectedIdentifier,
                    format!("http-01 cannot validate {other}"),
                ),
                Vec::new(),
            );
        }
    };
    let config = v.config();
    let first = Url::parse(&format!(
        "http://{host}:{}/.well-known/acme-challenge/{token}",
        config.http01_port
    ))
    .map_err(|e| e.to_string())
    .and_then(|url| {
        // The identifier itself is checked by address, not by the redirect rules.
        let host = match url.host() {
            Some(url::Host::Domain(d)) => Host::Dns(d.to_ascii_lowercase()),
            Some(url::Host::Ipv4(ip)) => Host::Ip(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Host::Ip(canonical_ip(IpAddr::V6(ip))),
            None => return Err("no host".into()),
        };
        Ok(RedirectTarget {
            url,
            host,
            port: config.http01_port,
            https: false,
        })
    });
    let mut target = match first {
        Ok(t) => t,
        Err(e) => {
            return Validation::invalid(
                Problem::new(
                    ProblemKind::RejectedIdentifier,
                    format!("cannot build the http-01 URL for {identifier}: {e}"),
                ),
                Vec::new(),
            );
        }
    };
    let mut records = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    seen.insert(target.url.to_string());
    let mut redirects = 0usize;
    loop {
        let mut record = ValidationRecord {
            url: Some(target.url.to_string()),
            hostname: target.host.to_string(),
            port: Some(target.port),
            ..ValidationRecord::default()
        };
        let fetched = fetch(v, &target, &mut record).await;
        records.push(record);
        let url = target.url.to_string();
        match fetched {
            Err(p) => return Validation::invalid(p, records),
            Ok(Fetched::Redirect(location)) => {
                if redirects >= MAX_REDIRECTS {
                    return Validation::invalid(
                        Problem::new(
                            ProblemKind::Connection,
                            format!(
                                "too many redirects: more than {MAX_REDIRECTS} from {}",
                                records[0].url.as_deref().unwrap_or("")
                            ),
                        ),
                        records,
                    );
                }
                redirects += 1;
                let next = match check_redirect(&target.url, &location, config) {
                    Ok(t) => t,
                    Err(why) => {
                        return Validation::invalid(
                            Problem::new(ProblemKind::Connection, format!("{url}: {why}")),
                            records,
                        );
                    }
                };
                if !seen.insert(next.url.to_string()) {
                    return Validation::invalid(
                        Problem::new(
                            ProblemKind::Connection,
                            format!(
                                "redirect loop: {url} redirects to {}, seen before",
                                next.url
                            ),
                        ),
                        records,
                    );
                }
                target = next;
            }
            Ok(Fetched::Status(status)) => {
                return Validation::invalid(
                    Problem::new(
                        ProblemKind::Unauthorized,
                        format!(
                            "{url} answered HTTP {status}; expected 200 with the key authorization"
                        ),
                    ),
                    records,
                );
            }
            Ok(Fetched::TooLarge) => {
                return Validation::invalid(
                    Problem::new(
                        ProblemKind::IncorrectResponse,
                        format!("{url}: the response body is longer than {MAX_HTTP01_BODY} bytes"),
                    ),
                    records,
                );
            }
            Ok(Fetched::Body(body)) => {
                let trimmed = body.trim_ascii();
                if trimmed == key_authorization.as_bytes() {
                    return Validation {
                        outcome: super::Outcome::Valid,
                        records,
                    };
                }
                return Validation::invalid(
                    Problem::new(
                        ProblemKind::IncorrectResponse,
                        format!(
                            "{url}: the {}-byte response body is not the expected key authorization",
                            body.len()
                        ),
                    ),
                    records,
                );
            }
        }
    }
}

/// One request: resolve, check, connect (TLS for https), GET, read a bounded body.
async fn fetch(
    v: &Validator,
    target: &RedirectTarget,
    record: &mut ValidationRecord,
) -> Result<Fetched, Problem> {
    let allowed = v.allowed_addresses(&target.host, record).await?;
    let order = attempt_order(&allowed);
    let (tcp, used) = connect_first(&order, target.port, v.config().timeouts.connect).await?;
    record.address_used = Some(used);
    let request = build_request(&target.url)?;
    let url = target.url.as_str();
    if target.https {
        let name = match &target.host {
            Host::Dns(d) => ServerName::try_from(d.clone()).map_err(|e| {
                Problem::new(
                    ProblemKind::Connection,
                    format!("{url}: invalid TLS server name: {e}"),
                )
            })?,
            Host::Ip(ip) => ServerName::IpAddress((*ip).into()),
        };
        let tls = tokio_rustls::TlsConnector::from(v.https_tls.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| {
                Problem::new(
                    ProblemKind::Tls,
                    format!("{url}: TLS handshake failed: {e}"),
                )
            })?;
        exchange(tls, request, url).await
    } else {
        exchange(tcp, request, url).await
    }
}

/// The GET request for `url`: origin-form target, Host, User-Agent, Accept, Connection.
fn build_request(url: &Url) -> Result<Request<String>, Problem> {
    let host = url.host_str().unwrap_or_default();
    let host = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    };
    let mut target = url.path().to_string();
    if let Some(q) = url.query() {
        target.push('?');
        target.push_str(q);
    }
    let bad = |e: hyper::http::Error| {
        Problem::new(
            ProblemKind::Connection,
            format!("{url}: cannot build the request: {e}"),
        )
    };
    let host = HeaderValue::from_str(&host).map_err(|e| bad(e.into()))?;
    Request::get(target)
        .header(HOST, host)
        .header(USER_AGENT, USER_AGENT_VALUE)
        .header(ACCEPT, "*/*")
        .header(CONNECTION, "close")
        .body(String::new())
        .map_err(bad)
}

/// HTTP/1.1 over `io`: send `request`, read the head and at most the body cap + 1 bytes.
/// The connection task runs in this future (no spawn), so a timeout ends it too.
async fn exchange<S>(io: S, request: Request<String>, url: &str) -> Result<Fetched, Problem>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let conn_err = |e: hyper::Error| Problem::new(ProblemKind::Connection, format!("{url}: {e}"));
    let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
        .max_buf_size(MAX_HEAD_BYTES)
        .max_headers(MAX_HEADERS)
        .handshake::<_, String>(TokioIo::new(io))
        .await
        .map_err(conn_err)?;
    let work = async move {
        let response = sender.send_request(request).await.map_err(conn_err)?;
        let status = response.status();
        if matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308) {
            let Some(location) = response.headers().get(LOCATION) else {
                return Ok(Fetched::Status(status));
            };
            let location = location.to_str().map_err(|_| {
                Problem::new(
                    ProblemKind::Connection,
                    format!("{url}: redirect with a Location that is not visible ASCII"),
                )
            })?;
            return Ok(Fetched::Redirect(location.to_string()));
        }
        if status != StatusCode::OK {
            return Ok(Fetched::Status(status));
        }
        let mut body = response.into_body();
        read_bounded(&mut body, url).await
    };
    tokio::pin!(conn);
    tokio::pin!(work);
    let mut conn_done = false;
    loop {
        tokio::select! {
            r = &mut work => return r,
            // The connection ending first is not an error by itself: the response (or the
            // error) reaches `work` through hyper's channels.
            _ = &mut conn, if !conn_done => conn_done = true,
        }
    }
}

/// Reads `body` up to [`MAX_HTTP01_BODY`] bytes; one byte more means too large.
async fn read_bounded(body: &mut Incoming, url: &str) -> Result<Fetched, Problem> {
    let mut out: Vec<u8> = Vec::with_capacity(256);
    loop {
        let frame = std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await;
        match frame {
            None => return Ok(Fetched::Body(out)),
            Some(Err(e)) => {
                return Err(Problem::new(
                    ProblemKind::Connection,
                    format!("{url}: reading the body: {e}"),
                ));
            }
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    if out.len() + data.len() > MAX_HTTP01_BODY {
                        return Ok(Fetched::TooLarge);
                    }
                    out.extend_from_slice(data);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> ValidationConfig {
        ValidationConfig {
            http01_port: 5002,
            tlsalpn01_port: 5001,
            ..ValidationConfig::default()
        }
    }

    fn from() -> Url {
        Url::parse("http://a.example.com/.well-known/acme-challenge/tok").unwrap()
    }

    fn refused(location: &str, needle: &str) {
        match check_redirect(&from(), location, &cfg()) {
            Ok(t) => panic!("{location} was allowed: {t:?}"),
            Err(e) => assert!(e.contains(needle), "{location}: {e:?} lacks {needle:?}"),
        }
    }

    #[test]
    fn allowed_redirects() {
        let c = cfg();
        let t = check_redirect(&from(), "https://b.example.com/x?y=1#frag", &c).unwrap();
        assert_eq!(t.port, 443);
        assert!(t.https);
        assert_eq!(t.host, Host::Dns("b.example.com".into()));
        assert_eq!(t.url.as_str(), "https://b.example.com/x?y=1");
        let t = check_redirect(&from(), "/other", &c).unwrap();
        assert_eq!(t.url.as_str(), "http://a.example.com/other");
        assert_eq!(t.port, 80);
        let t = check_redirect(&from(), "http://B.Example.COM.:5002/p", &c).unwrap();
        assert_eq!(t.host, Host::Dns("b.example.com".into()));
        assert_eq!(t.port, 5002);
        let t = check_redirect(&from(), "https://b.example.com:5001/p", &c).unwrap();
        assert_eq!(t.port, 5001);
        let t = check_redirect(&from(), "http://8.8.8.8/p", &c).unwrap();
        assert_eq!(t.host, Host::Ip("8.8.8.8".parse().unwrap()));
        let t = check_redirect(&from(), "//c.example.org/p", &c).unwrap();
        assert_eq!(t.url.as_str(), "http://c.example.org/p");
    }

    #[test]
    fn refused_ports_and_schemes() {
        refused("http://b.example.com:8080/x", "port 8080");
        refused("http://b.example.com:443/x", "port 443");
        refused("https://b.example.com:80/x", "port 80");
        refused("https://b.example.com:5002/x", "port 5002");
        refused("ftp://b.example.com/x", "scheme ftp");
        refused("file:///etc/passwd", "scheme file");
        refused("gopher://b.example.com:70/x", "scheme gopher");
        refused("javascript:alert(1)", "scheme javascript");
        refused("http://user:pw@b.example.com/x", "credentials");
        refused("", "empty");
        refused(&format!("/{}", "a".repeat(3000)), "longer than");
        refused("http://[::1", "invalid redirect target");
    }

    #[test]
    fn refused_ip_literals() {
        refused("http://127.0.0.1/x", "loopback");
        refused("http://10.0.0.1/x", "private");
        refused("http://169.254.169.254/latest/meta-data/", "169.254.0.0/16");
        refused("http://[::1]/x", "loopback");
        refused("http://[::ffff:127.0.0.1]/x", "loopback");
        refused("http://[::ffff:a9fe:a9fe]/x", "169.254.0.0/16");
        refused("http://[fe80::1]/x", "fe80::/10");
        refused("http://0.0.0.0/x", "0.0.0.0/8");
        // Integer and shortened IPv4 forms are IP literals to the URL parser too.
        refused("http://2130706433/x", "loopback");
        refused("http://0x7f.1/x", "loopback");
        refused("http://localhost/x", "not a fully qualified");
    }

    #[test]
    fn private_literals_follow_the_profile() {
        let mut c = cfg();
        c.allow_private_addresses = true;
        assert!(check_redirect(&from(), "http://10.0.0.1/x", &c).is_ok());
        assert!(check_redirect(&from(), "http://127.0.0.1/x", &c).is_err());
        assert!(check_redirect(&from(), "http://169.254.169.254/x", &c).is_err());
        c.allow_loopback = true;
        assert!(check_redirect(&from(), "http://127.0.0.1:5002/x", &c).is_ok());
    }

    #[test]
    fn request_shape() {
        let r = build_request(&Url::parse("http://[::1]:5002/a/b?c=d").unwrap()).unwrap();
        assert_eq!(r.uri().to_string(), "/a/b?c=d");
        assert_eq!(r.headers()[HOST], "[::1]:5002");
        let r = build_request(&Url::parse("http://a.example/x").unwrap()).unwrap();
        assert_eq!(r.headers()[HOST], "a.example");
        assert_eq!(r.headers()[CONNECTION], "close");
    }
}
