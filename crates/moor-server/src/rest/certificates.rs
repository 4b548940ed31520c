//! `/api/v1/certificates`: issue, list, show, revoke.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use moor_authority::{IssueRequest, SubjectSource};
use moor_core::KeyAlgorithm;
use moor_store::{CertificateFilter, CertificateRecord};
use serde::{Deserialize, Serialize};

use super::Admin;
use crate::{ApiError, AppState};

/// `POST /api/v1/certificates` body: `{profile, csr}` or `{profile, sans, algorithm}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct IssueBody {
    profile: String,
    csr: Option<String>,
    sans: Option<Vec<String>>,
    algorithm: Option<String>,
    common_name: Option<String>,
    /// `90d`, `12h`, …
    lifetime: Option<String>,
    /// With server-side key generation: also return the key and chain as PKCS#12 under this password.
    pkcs12_password: Option<String>,
}

#[derive(Serialize)]
pub(crate) struct IssuedView {
    serial: String,
    certificate: String,
    chain: String,
    root: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    private_key: Option<String>,
    /// Base64 PKCS#12 (key + certificate + chain), when `pkcs12_password` was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pkcs12: Option<String>,
    not_before: i64,
    not_after: i64,
    profile: String,
    issuer: String,
}

pub(super) fn json_error(e: JsonRejection) -> ApiError {
    match e {
        JsonRejection::MissingJsonContentType(_) => ApiError {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code: "unsupported_media_type",
            message: "Content-Type must be application/json".into(),
        },
        JsonRejection::BytesRejection(_) => ApiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            code: "payload_too_large",
            message: format!(
                "request body exceeds {} bytes",
                moor_core::limits::MAX_BODY_BYTES
            ),
        },
        other => ApiError::bad_request("malformed", other.body_text()),
    }
}

pub(crate) async fn issue(
    State(s): State<AppState>,
    Admin(who): Admin,
    body: Result<Json<IssueBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(b) = body.map_err(json_error)?;
    let lifetime = match &b.lifetime {
        Some(l) => Some(moor_core::profile::parse_duration(l).ok_or_else(|| {
            ApiError::bad_request("malformed", "lifetime must look like 90d, 12h, 30m or 45s")
        })?),
        None => None,
    };
    let pkcs12_password = match b.pkcs12_password {
        Some(p) if p.is_empty() || p.len() > 1024 => {
            return Err(ApiError::bad_request(
                "malformed",
                "pkcs12_password must be 1-1024 bytes",
            ));
        }
        Some(p) => Some(moor_keys::Passphrase::new(p)),
        None => None,
    };
    let subject = match (b.csr, b.sans) {
        (Some(csr), None) => {
            if b.algorithm.is_some() || b.common_name.is_some() || pkcs12_password.is_some() {
                return Err(ApiError::bad_request(
                    "malformed",
                    "algorithm, common_name and pkcs12_password go with sans (server-side key generation), not with csr",
                ));
            }
            SubjectSource::Csr(csr.into_bytes())
        }
        (None, Some(sans)) => {
            let algorithm: KeyAlgorithm = b
                .algorithm
                .as_deref()
                .unwrap_or("ecdsa-p256")
                .parse()
                .map_err(|e: moor_core::algorithm::UnknownAlgorithm| {
                    ApiError::bad_request("malformed", e.to_string())
                })?;
            SubjectSource::Generate {
                algorithm,
                sans,
                common_name: b.common_name,
            }
        }
        _ => {
            return Err(ApiError::bad_request(
                "malformed",
                "give exactly one of csr or sans",
            ));
        }
    };
    let issued = s
        .authority
        .issue(
            &who,
            IssueRequest {
                profile: b.profile,
                subject,
                lifetime,
            },
        )
        .await?;
    let pkcs12 = match &pkcs12_password {
        Some(p) => issued
            .pkcs12(p)?
            .map(|der| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, der)),
        None => None,
    };
    Ok((StatusCode::CREATED, Json(IssuedView::of(issued, pkcs12))).into_response())
}

impl IssuedView {
    /// The answer to an issuance (REST issue, bootstrap enrollment, renewal).
    pub(crate) fn of(issued: moor_authority::Issued, pkcs12: Option<String>) -> IssuedView {
        IssuedView {
            pkcs12,
            serial: issued.serial,
            certificate: issued.cert_pem,
            chain: issued.chain_pem,
            root: issued.root_pem,
            private_key: issued.private_key_pem.map(|k| k.to_string()),
            not_before: issued.record.not_before,
            not_after: issued.record.not_after,
            profile: issued.record.profile,
            issuer: issued.record.issuer_id,
        }
    }
}

/// A certificate as listed.
#[derive(Serialize)]
pub(crate) struct CertView {
    serial: String,
    issuer: String,
    profile: String,
    subject: String,
    sans: Vec<String>,
    not_before: i64,
    not_after: i64,
    status: String,
    revoked_at: Option<i64>,
    revocation_reason: Option<&'static str>,
    requester: String,
    key_algorithm: String,
    fingerprint: String,
}

fn view(r: CertificateRecord, now: i64) -> CertView {
    let status = r.status_at(now).to_string();
    CertView {
        serial: r.serial_hex,
        issuer: r.issuer_id,
        profile: r.profile,
        subject: r.subject,
        sans: r.sans,
        not_before: r.not_before,
        not_after: r.not_after,
        status,
        revoked_at: r.revoked_at,
        revocation_reason: r.revocation_reason.map(moor_authority::revoke::reason_name),
        requester: r.requester,
        key_algorithm: r.key_algorithm,
        fingerprint: r.fingerprint,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    san: Option<String>,
    profile: Option<String>,
    issuer: Option<String>,
    status: Option<String>,
    /// Unix seconds.
    expiring_before: Option<i64>,
    cursor: Option<String>,
    limit: Option<usize>,
}

#[derive(Serialize)]
pub(crate) struct ListView {
    items: Vec<CertView>,
    next_cursor: Option<String>,
}

pub(crate) async fn list(
    State(s): State<AppState>,
    _admin: Admin,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ListView>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_request("malformed", e.body_text()))?;
    if let Some(st) = &q.status
        && !matches!(st.as_str(), "valid" | "revoked" | "expired")
    {
        return Err(ApiError::bad_request(
            "malformed",
            "status must be valid, revoked or expired",
        ));
    }
    let limit = q
        .limit
        .unwrap_or(100)
        .clamp(1, moor_core::limits::MAX_PAGE_SIZE);
    let after_id = match &q.cursor {
        Some(c) => Some(
            c.parse::<i64>()
                .map_err(|_| ApiError::bad_request("malformed", "bad cursor"))?,
        ),
        None => None,
    };
    let now = s.authority.clock().now().unix_timestamp();
    let filter = CertificateFilter {
        san: q.san,
        profile: q.profile,
        issuer_id: q.issuer,
        status: q.status,
        expiring_before: q.expiring_before,
        after_id,
        limit: limit as i64 + 1,
        now,
    };
    let mut rows = s
        .authority
        .store()
        .list_certificates(&filter)
        .await
        .map_err(|e| ApiError::from(moor_authority::AuthorityError::from(e)))?;
    let next_cursor = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|r| r.id.to_string())
    } else {
        None
    };
    Ok(Json(ListView {
        items: rows.into_iter().map(|r| view(r, now)).collect(),
        next_cursor,
    }))
}

pub(crate) async fn show(
    State(s): State<AppState>,
    _admin: Admin,
    Path(serial): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let rec = s.authority.certificate(&serial).await?;
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    if accept.contains("application/pkix-cert") {
        return Ok(([(header::CONTENT_TYPE, "application/pkix-cert")], rec.der).into_response());
    }
    if accept.contains("application/pem-certificate-chain")
        || accept.contains("application/x-pem-file")
    {
        return Ok((
            [(header::CONTENT_TYPE, "application/pem-certificate-chain")],
            moor_authority::trust_anchor::pem_certs(&[&rec.der]),
        )
            .into_response());
    }
    let now = s.authority.clock().now().unix_timestamp();
    let pem = moor_authority::trust_anchor::pem_certs(&[&rec.der]);
    let mut v = serde_json::to_value(view(rec, now))
        .map_err(|e| ApiError::from(moor_authority::AuthorityError::Internal(e.to_string())))?;
    v["certificate"] = serde_json::Value::String(pem);
    Ok(Json(v).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RevokeBody {
    reason: Option<String>,
}

pub(crate) async fn revoke(
    State(s): State<AppState>,
    Admin(who): Admin,
    Path(serial): Path<String>,
    body: Result<Json<RevokeBody>, JsonRejection>,
) -> Result<Json<CertView>, ApiError> {
    let Json(b) = body.map_err(json_error)?;
    let reason =
        moor_authority::revoke::parse_reason(b.reason.as_deref().unwrap_or("unspecified"))?;
    let rec = s.authority.revoke(&who, &serial, reason).await?;
    Ok(Json(view(rec, s.authority.clock().now().unix_timestamp())))
}
