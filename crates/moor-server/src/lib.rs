//! The network edge: HTTPS with optional client certificates, and the front doors.
//!
//! - `rest/`    — the JSON REST API under `/api/v1/` (admin: bearer token or mTLS admin certificate)
//! - `public`   — unauthenticated: `/health`, `/roots.pem`, `/ca/{issuer}.crt`
//! - `revocation` — CRLs (`/crl/{issuer}.crl`) and OCSP (`/ocsp`)
//! - `metrics`  — `/metrics` (Prometheus)
//! - `tls`      — the TLS listener and accept loop (client certificate → request extension)
//! - `error`    — the one place errors become JSON `{code, message, request_id}`
//!
//! Later front doors (ACME, EST, SCEP) are modules beside `rest`.

#![forbid(unsafe_code)]

mod error;
mod metrics;
mod public;
pub mod rest;
mod revocation;
pub mod tls;

use std::sync::Arc;

use axum::Router;
use moor_authority::Authority;

pub use error::ApiError;
pub use tls::{ClientCert, serve_tls};

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    /// The authority behind every front door.
    pub authority: Arc<Authority>,
}

/// The public read-only endpoints alone, for the plain-HTTP listener
/// (CA certificates and the trust bundle; CRL and OCSP join them).
pub fn public_app(authority: Arc<Authority>) -> Router {
    let state = AppState { authority };
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
    let state = AppState { authority };
    Router::new()
        .merge(public_routes())
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
