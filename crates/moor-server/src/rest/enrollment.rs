//! Enrollment of machines with no identity yet: `POST /api/v1/enroll` with a bootstrap
//! token as the bearer credential and a CSR; and the admin's bootstrap tokens under
//! `/api/v1/bootstrap-tokens` (create, list without secrets, revoke).

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use moor_authority::provisioner::bootstrap_token::BootstrapSpec;
use serde::{Deserialize, Serialize};

use super::Admin;
use super::certificates::{IssuedView, json_error};
use crate::{ApiError, AppState};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EnrollBody {
    /// PEM (or base64 DER) PKCS#10.
    csr: String,
}

/// `POST /api/v1/enroll` — `Authorization: Bearer mbt_…`.
pub(crate) async fn enroll(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<EnrollBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let token = super::auth::bearer(&headers)
        .ok_or_else(|| {
            ApiError::unauthorized("a bootstrap token is required: Authorization: Bearer mbt_…")
        })?
        .to_string();
    let Json(b) = body.map_err(json_error)?;
    let issued = s
        .authority
        .enroll_with_bootstrap_token(&token, b.csr.into_bytes(), Default::default())
        .await?;
    Ok((StatusCode::CREATED, Json(IssuedView::of(issued, None))).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateBody {
    profile: String,
    names: Vec<String>,
    #[serde(default = "one")]
    uses: i64,
    /// `24h`, `7d`, …
    ttl: String,
    #[serde(default)]
    owner: Option<String>,
}

fn one() -> i64 {
    1
}

#[derive(Serialize)]
pub(crate) struct TokenView {
    id: String,
    profile: String,
    names: Vec<String>,
    max_uses: i64,
    uses: i64,
    expires_at: i64,
    owner: Option<String>,
    created_at: i64,
    revoked_at: Option<i64>,
    /// Only in the answer to its creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
}

fn view(t: moor_store::BootstrapToken, token: Option<String>) -> TokenView {
    TokenView {
        id: t.id,
        profile: t.profile,
        names: t.names,
        max_uses: t.max_uses,
        uses: t.uses,
        expires_at: t.expires_at,
        owner: t.owner,
        created_at: t.created_at,
        revoked_at: t.revoked_at,
        token,
    }
}

/// `POST /api/v1/bootstrap-tokens` (admin): the token is in this answer only.
pub(crate) async fn create(
    State(s): State<AppState>,
    Admin(who): Admin,
    body: Result<Json<CreateBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(b) = body.map_err(json_error)?;
    let ttl = moor_core::profile::parse_duration(&b.ttl)
        .and_then(|d| i64::try_from(d.as_secs()).ok())
        .ok_or_else(|| ApiError::bad_request("malformed", "ttl must look like 24h or 7d"))?;
    let t = s
        .authority
        .create_bootstrap_token(
            &who,
            BootstrapSpec {
                profile: b.profile,
                names: b.names,
                uses: b.uses,
                ttl_secs: ttl,
                owner: b.owner,
            },
        )
        .await?;
    let secret = t.token.to_string();
    Ok((StatusCode::CREATED, Json(view(t.record, Some(secret)))).into_response())
}

/// `GET /api/v1/bootstrap-tokens` (admin): every token, without secrets.
pub(crate) async fn list(State(s): State<AppState>, Admin(_): Admin) -> Result<Response, ApiError> {
    let all: Vec<TokenView> = s
        .authority
        .list_bootstrap_tokens()
        .await?
        .into_iter()
        .map(|t| view(t, None))
        .collect();
    Ok(Json(all).into_response())
}

/// `POST /api/v1/bootstrap-tokens/{id}/revoke` (admin).
pub(crate) async fn revoke(
    State(s): State<AppState>,
    Admin(who): Admin,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if id.len() > 64 {
        return Err(ApiError::not_found("no such bootstrap token"));
    }
    s.authority.revoke_bootstrap_token(&who, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RenewBody {
    /// PEM (or base64 DER) PKCS#10 with the same names.
    csr: String,
}

/// `POST /api/v1/renew` over mTLS: the client certificate proves the identity that is
/// renewed (same names and profile; see `moor_authority::renew`).
pub(crate) async fn renew(
    State(s): State<AppState>,
    cert: Option<axum::Extension<crate::ClientCert>>,
    body: Result<Json<RenewBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let der = match cert {
        Some(axum::Extension(crate::ClientCert(Some(der)))) => der,
        _ => {
            return Err(ApiError::unauthorized(
                "renewal needs the current certificate as the TLS client certificate",
            ));
        }
    };
    let Json(b) = body.map_err(json_error)?;
    let issued = s.authority.renew(&der, b.csr.into_bytes(), None).await?;
    Ok((StatusCode::CREATED, Json(IssuedView::of(issued, None))).into_response())
}

/// `POST /api/v1/oidc/{provider}/enroll` — `Authorization: Bearer <the platform's JWT>`.
pub(crate) async fn oidc_enroll(
    State(s): State<AppState>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Result<Json<EnrollBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let oidc = s
        .oidc
        .clone()
        .ok_or_else(|| ApiError::not_found("no OIDC provisioner is configured"))?;
    let token = super::auth::bearer(&headers)
        .ok_or_else(|| ApiError::unauthorized("a token is required: Authorization: Bearer <JWT>"))?
        .to_string();
    let Json(b) = body.map_err(json_error)?;
    let issued = oidc
        .enroll(&s.authority, &provider, &token, b.csr.into_bytes())
        .await?;
    Ok((StatusCode::CREATED, Json(IssuedView::of(issued, None))).into_response())
}
