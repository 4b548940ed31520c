//! Unauthenticated endpoints: health, the trust bundle and CA certificates.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::{ApiError, AppState};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/roots.pem", get(roots))
        .route("/ca/{file}", get(ca_cert))
}

async fn health(State(s): State<AppState>) -> impl IntoResponse {
    let issuers = s.authority.issuer_records().len();
    axum::Json(serde_json::json!({ "status": "ok", "issuers": issuers }))
}

/// The trust bundle: every root, PEM.
async fn roots(State(s): State<AppState>) -> impl IntoResponse {
    let pem = moor_authority::trust_anchor::pem_certs(&s.authority.roots());
    (
        [(header::CONTENT_TYPE, "application/pem-certificate-chain")],
        pem,
    )
}

/// `/ca/{issuer}.crt` (DER, the AIA caIssuers target) or `/ca/{issuer}.pem`.
async fn ca_cert(
    State(s): State<AppState>,
    Path(file): Path<String>,
) -> Result<axum::response::Response, ApiError> {
    let (id, ext) = file
        .rsplit_once('.')
        .ok_or_else(|| ApiError::not_found("no such CA certificate"))?;
    let der = s
        .authority
        .issuer_cert(id)
        .ok_or_else(|| ApiError::not_found("no such CA certificate"))?;
    match ext {
        "crt" | "cer" | "der" => Ok((
            [(header::CONTENT_TYPE, "application/pkix-cert")],
            der.to_vec(),
        )
            .into_response()),
        "pem" => Ok((
            [(header::CONTENT_TYPE, "application/pem-certificate-chain")],
            moor_authority::trust_anchor::pem_certs(&[der]),
        )
            .into_response()),
        _ => Err(ApiError::not_found("no such CA certificate")),
    }
}
