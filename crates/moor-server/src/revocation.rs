//! Revocation front doors: CRLs (`/crl/{issuer}.crl`) and OCSP (`/ocsp`), served on
//! both listeners (the plain-HTTP one is what certificates point at).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};

use crate::{ApiError, AppState};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/crl/{file}", get(crl))
        .route("/ocsp", post(ocsp_post))
        .route("/ocsp/{*request}", get(ocsp_get))
}

/// `/crl/{issuer}.crl`: the issuer's current full CRL, DER (the CRL distribution point
/// written into its certificates); `/crl/{issuer}-delta.crl`: its delta CRL (the
/// freshestCRL pointer of the full one).
async fn crl(
    State(s): State<AppState>,
    Path(file): Path<String>,
) -> Result<axum::response::Response, ApiError> {
    let name = file
        .strip_suffix(".crl")
        .ok_or_else(|| ApiError::not_found("no such CRL"))?;
    let (id, delta) = match name.strip_suffix("-delta") {
        Some(id) if s.authority.issuer_cert(name).is_none() => (id, true),
        _ => (name, false),
    };
    if s.authority.issuer_cert(id).is_none() {
        return Err(ApiError::not_found("no such CRL"));
    }
    let crl = if delta {
        s.authority.delta_crl(id).await?
    } else {
        s.authority.crl(id).await?
    };
    // A CRL changes after every revocation: caches may keep it only briefly.
    let max_age = format!("public, max-age={}", 60);
    Ok((
        [
            (header::CONTENT_TYPE, "application/pkix-crl".to_string()),
            (header::CACHE_CONTROL, max_age),
        ],
        crl.der.clone(),
    )
        .into_response())
}

const OCSP_RESPONSE: &str = "application/ocsp-response";

/// `POST /ocsp` with a DER OCSPRequest (RFC 6960 §A.1).
async fn ocsp_post(
    State(s): State<AppState>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::response::Response {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct.eq_ignore_ascii_case("application/ocsp-request") {
        return (
            axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            [(header::CONTENT_TYPE, "text/plain")],
            "Content-Type must be application/ocsp-request\n",
        )
            .into_response();
    }
    let (der, _) = s.authority.ocsp(&body).await;
    ([(header::CONTENT_TYPE, OCSP_RESPONSE)], der).into_response()
}

/// `GET /ocsp/{base64 of the DER request, URL-encoded}` (RFC 6960 §A.1). The path may
/// contain raw `/` from unencoded base64, hence the wildcard. Padding may be missing;
/// whitespace is ignored. Anything longer than a request of
/// [`moor_core::ocsp::MAX_REQUEST_BYTES`] could encode is `malformedRequest` at once.
async fn ocsp_get(
    State(s): State<AppState>,
    Path(request): Path<String>,
) -> axum::response::Response {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let malformed = || {
        (
            [(header::CONTENT_TYPE, OCSP_RESPONSE)],
            moor_core::ocsp::error_response(x509_ocsp::OcspResponseStatus::MalformedRequest),
        )
            .into_response()
    };
    if request.len() > moor_core::ocsp::MAX_REQUEST_BYTES / 3 * 4 + 64 {
        return malformed();
    }
    let text: std::borrow::Cow<'_, str> = if request.contains(char::is_whitespace) {
        request.chars().filter(|c| !c.is_whitespace()).collect()
    } else {
        request.as_str().into()
    };
    let der = STANDARD
        .decode(text.as_bytes())
        .or_else(|_| STANDARD_NO_PAD.decode(text.trim_end_matches('=').as_bytes()))
        .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=').as_bytes()));
    match der {
        Ok(der) => {
            let (der, outcome) = s.authority.ocsp(&der).await;
            // RFC 5019 §6: GET responses may be cached by HTTP caches. Briefly: a
            // revocation must reach relying parties behind a cache within a minute.
            let cache = if outcome == moor_authority::ocsp::OcspOutcome::Answered {
                "public, max-age=60, no-transform, must-revalidate"
            } else {
                "no-store"
            };
            (
                [
                    (header::CONTENT_TYPE, OCSP_RESPONSE),
                    (header::CACHE_CONTROL, cache),
                ],
                der,
            )
                .into_response()
        }
        Err(_) => malformed(),
    }
}
