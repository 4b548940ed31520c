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
        .route("/crl/{file}", get(crl))
        .route("/metrics", get(metrics))
        .route("/ocsp", axum::routing::post(ocsp_post))
        .route("/ocsp/{*request}", get(ocsp_get))
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

/// `/crl/{issuer}.crl`: the issuer's current full CRL, DER (the CRL distribution point
/// written into its certificates).
async fn crl(
    State(s): State<AppState>,
    Path(file): Path<String>,
) -> Result<axum::response::Response, ApiError> {
    let id = file
        .strip_suffix(".crl")
        .ok_or_else(|| ApiError::not_found("no such CRL"))?;
    if s.authority.issuer_cert(id).is_none() {
        return Err(ApiError::not_found("no such CRL"));
    }
    let crl = s.authority.crl(id).await?;
    let max_age = format!("public, max-age={}", 300);
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
/// contain raw `/` from unencoded base64, hence the wildcard.
async fn ocsp_get(
    State(s): State<AppState>,
    Path(request): Path<String>,
) -> axum::response::Response {
    use base64::Engine;
    let text: String = request.chars().filter(|c| !c.is_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(text.as_bytes())
        .or_else(|_| {
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(text.trim_end_matches('=').as_bytes())
        });
    let der = match der {
        Ok(d) => d,
        Err(_) => {
            return (
                [(header::CONTENT_TYPE, OCSP_RESPONSE)],
                moor_core::ocsp::error_response(x509_ocsp::OcspResponseStatus::MalformedRequest),
            )
                .into_response();
        }
    };
    let (der, _) = s.authority.ocsp(&der).await;
    ([(header::CONTENT_TYPE, OCSP_RESPONSE)], der).into_response()
}

/// `/metrics`: Prometheus text exposition (counters from the authority, CRL and issuer gauges).
async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    use std::fmt::Write as _;
    let a = &s.authority;
    let mut out = String::new();
    a.metrics.render(&mut out);
    let _ = writeln!(
        out,
        "# HELP mooring_crl_age_seconds Seconds since the current CRL's thisUpdate.\n# TYPE mooring_crl_age_seconds gauge"
    );
    let stats = a.crl_stats().await;
    for (id, age, _, _) in &stats {
        let _ = writeln!(out, "mooring_crl_age_seconds{{issuer=\"{id}\"}} {age}");
    }
    let _ = writeln!(
        out,
        "# HELP mooring_crl_entries Revoked certificates listed on the current CRL.\n# TYPE mooring_crl_entries gauge"
    );
    for (id, _, n, _) in &stats {
        let _ = writeln!(out, "mooring_crl_entries{{issuer=\"{id}\"}} {n}");
    }
    let _ = writeln!(
        out,
        "# HELP mooring_crl_number CRL number of the current CRL.\n# TYPE mooring_crl_number gauge"
    );
    for (id, _, _, number) in &stats {
        let _ = writeln!(out, "mooring_crl_number{{issuer=\"{id}\"}} {number}");
    }
    let _ = writeln!(
        out,
        "# HELP mooring_issuer_not_after_timestamp_seconds When each CA certificate expires (alert well before).\n# TYPE mooring_issuer_not_after_timestamp_seconds gauge"
    );
    for r in a.issuer_records() {
        if let Ok(na) = moor_authority::trust_anchor::cert_not_after(&r.cert_der) {
            let _ = writeln!(
                out,
                "mooring_issuer_not_after_timestamp_seconds{{issuer=\"{}\",kind=\"{}\"}} {na}",
                r.id, r.kind
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP mooring_certificates_expiring Valid certificates expiring within the window, by issuer.\n# TYPE mooring_certificates_expiring gauge"
    );
    let now = a.clock().now().unix_timestamp();
    for (window, secs) in [("1d", 86_400i64), ("7d", 7 * 86_400), ("30d", 30 * 86_400)] {
        match a.store().expiring_counts(now, now + secs).await {
            Ok(counts) => {
                for (issuer, n) in counts {
                    let _ = writeln!(
                        out,
                        "mooring_certificates_expiring{{issuer=\"{issuer}\",within=\"{window}\"}} {n}"
                    );
                }
            }
            Err(e) => tracing::warn!(error = %e, "metrics: expiring count failed"),
        }
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}
