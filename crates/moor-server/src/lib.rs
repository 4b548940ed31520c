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
//! Later front doors (EST, SCEP) are modules beside `rest`.

#![forbid(unsafe_code)]

pub mod acme;
mod error;
mod metrics;
mod public;
pub mod rest;
mod revocation;
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
}

/// The public read-only endpoints alone, for the plain-HTTP listener
/// (CA certificates and the trust bundle; CRL and OCSP join them).
pub fn public_app(authority: Arc<Authority>) -> Router {
    let state = AppState {
        authority,
        acme: None,
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
    let state = AppState { authority, acme };
    Router::new()
        .merge(public_routes())
        .merge(acme::routes())
        .nest("/api/v1", rest::routes())
        .layer(axum::extract::DefaultBodyLimit::max(
            moor_core::limits::MAX_BODY_BYTES,
        ))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            moor_core::limits::MAX_BODY_BYTES,
        ))
        .with_state(state)
}

/// Every unauthenticated route (both listeners).
fn public_routes() -> Router<AppState> {
    public::routes()
        .merge(revocation::routes())
        .merge(metrics::routes())
}
