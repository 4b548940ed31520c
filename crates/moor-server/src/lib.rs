//! The network edge: HTTPS with optional client certificates, and the front doors.
//!
//! - `rest/`    — the JSON REST API under `/api/v1/` (admin: bearer token or mTLS admin certificate)
//! - `public`   — unauthenticated: `/health`, `/roots.pem`, `/ca/{issuer}.crt`
//! - `revocation` — CRLs (`/crl/{issuer}.crl`) and OCSP (`/ocsp`)
//! - `metrics`  — `/metrics` (Prometheus)
//! - `tls`      — the TLS listener and accept loop (client certificate → request extension)
//! - `error`    — the one place errors become JSON `{code, message, request_id}`
//!
//! - `acme`     — the ACME server (RFC 8555) under `/acme/{profile}/`
//!
//! - `est`      — EST (RFC 7030) under `/.well-known/est/`
//! - `scep`     — SCEP (RFC 8894) at `/scep` and `/scep/{profile}` (both listeners)

#![forbid(unsafe_code)]

pub mod acme;
mod dashboard;
mod error;
mod est;
mod metrics;
mod public;
pub mod rest;
mod revocation;
mod scep;
pub mod tls;

use std::sync::Arc;

use axum::Router;
use moor_authority::Authority;
use moor_authority::acme::service::AcmeService;

pub use error::ApiError;
pub use tls::{ClientCert, serve_tls};

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    /// The authority behind every front door.
    pub authority: Arc<Authority>,
    /// The ACME server, when enabled.
    pub acme: Option<Arc<AcmeService>>,
    /// The OIDC / JWT provisioners (`[oidc.NAME]`).
    pub oidc: Option<Arc<moor_authority::provisioner::oidc::OidcProvisioners>>,
    /// The SCEP server, when enabled.
    pub scep: Option<Arc<moor_authority::scep::ScepService>>,
    /// The inventory (search, reports, findings, group actions, the dashboard).
    pub inventory: Option<Arc<moor_authority::inventory::InventoryService>>,
}

/// The public read-only endpoints alone, for the plain-HTTP listener
/// (CA certificates and the trust bundle, CRL and OCSP, SCEP).
pub fn public_app(
    authority: Arc<Authority>,
    scep: Option<Arc<moor_authority::scep::ScepService>>,
) -> Router {
    let state = AppState {
        authority,
        acme: None,
        oidc: None,
        scep,
        inventory: None,
    };
    public_routes()
        .layer(axum::extract::DefaultBodyLimit::max(
            moor_core::limits::MAX_BODY_BYTES,
        ))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            moor_core::limits::MAX_BODY_BYTES,
        ))
        .with_state(state)
}

/// The whole HTTP application (all front doors), without the TLS layer.
pub fn app(authority: Arc<Authority>) -> Router {
    app_with_acme(authority, None)
}

/// The whole HTTP application with the ACME server (`/acme/{profile}/…`) when `acme` is set.
pub fn app_with_acme(authority: Arc<Authority>, acme: Option<Arc<AcmeService>>) -> Router {
    app_with(authority, acme, None, None, None)
}

/// The whole HTTP application with ACME, the OIDC provisioners and SCEP when given.
pub fn app_with(
    authority: Arc<Authority>,
    acme: Option<Arc<AcmeService>>,
    oidc: Option<Arc<moor_authority::provisioner::oidc::OidcProvisioners>>,
    scep: Option<Arc<moor_authority::scep::ScepService>>,
    inventory: Option<Arc<moor_authority::inventory::InventoryService>>,
) -> Router {
    let state = AppState {
        authority,
        acme,
        oidc,
        scep,
        inventory,
    };
    let reports = rest::report_routes()
        .layer(axum::extract::DefaultBodyLimit::max(
            rest::inventory::MAX_REPORT_BYTES,
        ))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            rest::inventory::MAX_REPORT_BYTES,
        ));
    Router::new()
        .merge(public_routes())
        .merge(acme::routes())
        .merge(est::routes())
        .nest("/api/v1", rest::routes())
        .merge(dashboard::routes())
        .layer(axum::extract::DefaultBodyLimit::max(
            moor_core::limits::MAX_BODY_BYTES,
        ))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            moor_core::limits::MAX_BODY_BYTES,
        ))
        .merge(reports)
        .layer(axum::middleware::from_fn(oversize_as_document))
        .with_state(state)
}

/// A body over [`moor_core::limits::MAX_BODY_BYTES`] is refused (413) by the limit layer
/// before any handler runs, as plain text; ACME clients get an RFC 8555 problem document
/// and REST clients the API's JSON error instead.
async fn oversize_as_document(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    let acme = req.uri().path().starts_with("/acme/");
    let http1 = req.version() <= axum::http::Version::HTTP_11;
    let resp = next.run(req).await;
    if resp.status() != StatusCode::PAYLOAD_TOO_LARGE {
        return resp;
    }
    let plain = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|ct| !ct.contains("json"));
    let mut r = if !plain {
        resp
    } else {
        let detail = format!(
            "request body exceeds {} bytes",
            moor_core::limits::MAX_BODY_BYTES
        );
        if acme {
            let p = moor_core::acme::Problem::new(moor_core::acme::ProblemType::Malformed, detail)
                .with_status(413);
            let mut r = (StatusCode::PAYLOAD_TOO_LARGE, p.to_json()).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("application/problem+json"),
            );
            r
        } else {
            ApiError {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                code: "payload_too_large",
                message: detail,
            }
            .into_response()
        }
    };
    // The body was not read: the connection cannot carry another request. Say so, or a
    // client reuses it and fails (HTTP/1.1 only; HTTP/2 resets just the stream).
    if http1 {
        r.headers_mut().insert(
            header::CONNECTION,
            header::HeaderValue::from_static("close"),
        );
    }
    r
}

/// Every unauthenticated route (both listeners).
fn public_routes() -> Router<AppState> {
    public::routes()
        .merge(revocation::routes())
        .merge(scep::routes())
        .merge(metrics::routes())
}
