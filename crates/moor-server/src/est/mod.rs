//! EST (RFC 7030) under `/.well-known/est/` and `/.well-known/est/{profile}/`.
//!
//! - `cacerts` (public): the CA certificates behind the profile, certs-only PKCS#7.
//! - `simpleenroll`: HTTP Basic with a bootstrap token as the password (the user name is
//!   ignored), or a TLS client certificate we issued (then it is a re-enrollment).
//! - `simplereenroll`: the TLS client certificate; the CSR keeps its names
//!   ([`moor_authority::Authority::renew`]).
//! - `serverkeygen`: like `simpleenroll`, the key made here; `multipart/mixed` with the
//!   PKCS#8 key and the certs-only PKCS#7.
//! - `csrattrs`: none are required (204).
//!
//! Requests are base64 DER `application/pkcs10`; answers base64 DER
//! `application/pkcs7-mime; smime-type=certs-only` (with the issuing chain, so the
//! certificate can be presented for re-enrollment). Errors are plain text with the
//! status RFC 7030 names; 401 carries `WWW-Authenticate: Basic`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use moor_authority::provisioner::bootstrap_token::EnrollOptions;
use moor_authority::{AuthorityError, Issued};

use crate::{AppState, ClientCert};

/// The profile of `/.well-known/est/…` without a label.
const DEFAULT_PROFILE: &str = "tls-client";

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/.well-known/est/cacerts", get(cacerts_default))
        .route("/.well-known/est/{label}/cacerts", get(cacerts))
        .route("/.well-known/est/csrattrs", get(csrattrs))
        .route("/.well-known/est/{label}/csrattrs", get(csrattrs))
        .route("/.well-known/est/simpleenroll", post(enroll_default))
        .route("/.well-known/est/{label}/simpleenroll", post(enroll))
        .route("/.well-known/est/simplereenroll", post(reenroll_default))
        .route("/.well-known/est/{label}/simplereenroll", post(reenroll))
        .route("/.well-known/est/serverkeygen", post(keygen_default))
        .route("/.well-known/est/{label}/serverkeygen", post(keygen))
}

/// An EST error answer: plain text, the status, and `WWW-Authenticate` on 401.
struct EstError(StatusCode, String);

impl IntoResponse for EstError {
    fn into_response(self) -> Response {
        let mut r = (self.0, format!("{}\n", self.1)).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        if self.0 == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"mooring-est\""),
            );
        }
        r
    }
}

impl From<AuthorityError> for EstError {
    fn from(e: AuthorityError) -> EstError {
        let api = crate::ApiError::from(e);
        EstError(api.status, api.message)
    }
}

fn base64_body(der: &[u8]) -> String {
    let b = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::with_capacity(b.len() + b.len() / 64 + 1);
    for chunk in b.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push_str("\r\n");
    }
    out
}

fn pkcs7_response(certs: &[&[u8]]) -> Response {
    let mut r = (
        StatusCode::OK,
        base64_body(&moor_core::pkcs7::certs_only(certs)),
    )
        .into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/pkcs7-mime; smime-type=certs-only"),
    );
    h.insert(
        "content-transfer-encoding",
        HeaderValue::from_static("base64"),
    );
    r
}

fn issued_response(issued: &Issued) -> Response {
    let mut certs: Vec<&[u8]> = vec![&issued.cert_der];
    certs.extend(issued.chain_der.iter().map(|c| c.as_slice()));
    pkcs7_response(&certs)
}

fn profile_of(s: &AppState, label: Option<&str>) -> Result<String, EstError> {
    let p = label.unwrap_or(DEFAULT_PROFILE);
    if p.len() > 64 || !s.authority.profiles().contains_key(p) {
        return Err(EstError(
            StatusCode::NOT_FOUND,
            format!("no EST label {p:?}"),
        ));
    }
    Ok(p.to_string())
}

/// The CSR of a request: `Content-Type: application/pkcs10`, base64 DER body.
fn csr_of(headers: &HeaderMap, body: &Bytes) -> Result<Vec<u8>, EstError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let media = ct.split(';').next().unwrap_or_default().trim();
    if !media.eq_ignore_ascii_case("application/pkcs10") {
        return Err(EstError(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the request must be Content-Type: application/pkcs10 (base64 DER)".into(),
        ));
    }
    let text: Vec<u8> = body
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(&text)
        .map_err(|_| EstError(StatusCode::BAD_REQUEST, "the body is not base64".into()))?;
    if der.first() != Some(&0x30) {
        return Err(EstError(
            StatusCode::BAD_REQUEST,
            "the body is not a DER PKCS#10 request".into(),
        ));
    }
    Ok(der)
}

/// The password of `Authorization: Basic …` (the bootstrap token).
fn basic_password(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let b64 = v
        .strip_prefix("Basic ")
        .or_else(|| v.strip_prefix("basic "))?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    text.split_once(':').map(|(_, p)| p.to_string())
}

fn client_cert(cert: &Option<axum::Extension<ClientCert>>) -> Option<Vec<u8>> {
    match cert {
        Some(axum::Extension(ClientCert(Some(der)))) => Some(der.to_vec()),
        _ => None,
    }
}

async fn cacerts_default(State(s): State<AppState>) -> Response {
    cacerts_for(&s, None)
}

async fn cacerts(State(s): State<AppState>, Path(label): Path<String>) -> Response {
    cacerts_for(&s, Some(&label))
}

fn cacerts_for(s: &AppState, label: Option<&str>) -> Response {
    let profile = match profile_of(s, label) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    match s.authority.ca_certificates(&profile) {
        Some(certs) => {
            let refs: Vec<&[u8]> = certs.iter().map(|c| c.as_slice()).collect();
            pkcs7_response(&refs)
        }
        None => {
            EstError(StatusCode::NOT_FOUND, format!("no CA behind {profile:?}")).into_response()
        }
    }
}

/// No CSR attributes are required (RFC 7030 §4.5.2: 204).
async fn csrattrs() -> StatusCode {
    StatusCode::NO_CONTENT
}

async fn enroll_default(
    State(s): State<AppState>,
    cert: Option<axum::Extension<ClientCert>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    enroll_as(&s, None, &cert, &headers, &body, false).await
}

async fn enroll(
    State(s): State<AppState>,
    Path(label): Path<String>,
    cert: Option<axum::Extension<ClientCert>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    enroll_as(&s, Some(&label), &cert, &headers, &body, false).await
}

async fn keygen_default(
    State(s): State<AppState>,
    cert: Option<axum::Extension<ClientCert>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    enroll_as(&s, None, &cert, &headers, &body, true).await
}

async fn keygen(
    State(s): State<AppState>,
    Path(label): Path<String>,
    cert: Option<axum::Extension<ClientCert>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    enroll_as(&s, Some(&label), &cert, &headers, &body, true).await
}

/// simpleenroll / serverkeygen: a bootstrap token (Basic password), else a client
/// certificate (a re-enrollment).
async fn enroll_as(
    s: &AppState,
    label: Option<&str>,
    cert: &Option<axum::Extension<ClientCert>>,
    headers: &HeaderMap,
    body: &Bytes,
    server_keygen: bool,
) -> Response {
    let result = async {
        let profile = profile_of(s, label)?;
        let csr = csr_of(headers, body)?;
        if let Some(token) = basic_password(headers) {
            let issued = s
                .authority
                .enroll_with_bootstrap_token(
                    &token,
                    csr,
                    EnrollOptions {
                        profile: Some(&profile),
                        server_keygen,
                    },
                )
                .await?;
            return Ok(if server_keygen {
                keygen_response(&issued)?
            } else {
                issued_response(&issued)
            });
        }
        match client_cert(cert) {
            Some(der) if !server_keygen => Ok(issued_response(
                &s.authority.renew(&der, csr, label.map(|_| profile.as_str())).await?,
            )),
            _ => Err(EstError(
                StatusCode::UNAUTHORIZED,
                "authenticate with HTTP Basic (a bootstrap token as the password) or a client certificate".into(),
            )),
        }
    }
    .await;
    result.unwrap_or_else(|e: EstError| e.into_response())
}

async fn reenroll_default(
    State(s): State<AppState>,
    cert: Option<axum::Extension<ClientCert>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    reenroll_as(&s, None, &cert, &headers, &body).await
}

async fn reenroll(
    State(s): State<AppState>,
    Path(label): Path<String>,
    cert: Option<axum::Extension<ClientCert>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    reenroll_as(&s, Some(&label), &cert, &headers, &body).await
}

async fn reenroll_as(
    s: &AppState,
    label: Option<&str>,
    cert: &Option<axum::Extension<ClientCert>>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let result = async {
        let profile = profile_of(s, label)?;
        let Some(der) = client_cert(cert) else {
            return Err(EstError(
                StatusCode::UNAUTHORIZED,
                "re-enrollment needs the current certificate as the TLS client certificate".into(),
            ));
        };
        let csr = csr_of(headers, body)?;
        Ok(issued_response(
            &s.authority
                .renew(&der, csr, label.map(|_| profile.as_str()))
                .await?,
        ))
    }
    .await;
    result.unwrap_or_else(|e: EstError| e.into_response())
}

/// serverkeygen's answer (RFC 7030 §4.4.2): `multipart/mixed`, the PKCS#8 key then the
/// certs-only PKCS#7, both base64.
fn keygen_response(issued: &Issued) -> Result<Response, EstError> {
    let key = issued.private_key_der.as_ref().ok_or_else(|| {
        EstError(
            StatusCode::INTERNAL_SERVER_ERROR,
            "no key was generated".into(),
        )
    })?;
    let mut certs: Vec<&[u8]> = vec![&issued.cert_der];
    certs.extend(issued.chain_der.iter().map(|c| c.as_slice()));
    let p7 = moor_core::pkcs7::certs_only(&certs);
    let boundary = format!("est-{}", &issued.serial[..issued.serial.len().min(16)]);
    let body = format!(
        "--{boundary}\r\nContent-Type: application/pkcs8\r\nContent-Transfer-Encoding: base64\r\n\r\n{}--{boundary}\r\nContent-Type: application/pkcs7-mime; smime-type=certs-only\r\nContent-Transfer-Encoding: base64\r\n\r\n{}--{boundary}--\r\n",
        base64_body(key),
        base64_body(&p7),
    );
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&format!("multipart/mixed; boundary={boundary}"))
            .map_err(|_| EstError(StatusCode::INTERNAL_SERVER_ERROR, "boundary".into()))?,
    );
    Ok(r)
}
