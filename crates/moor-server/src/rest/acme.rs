//! ACME administration: external account binding credentials (RFC 8555 §7.3.4) and the
//! "renew now" override of ARI windows (RFC 9773) for a set of certificates.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use moor_authority::acme::service::{
    AcmeService, DEFAULT_OVERRIDE_WINDOW_SECS, RenewalSelector, rfc3339,
};
use serde::{Deserialize, Serialize};

use super::Admin;
use super::certificates::json_error;
use crate::{ApiError, AppState};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EabBody {
    /// The directory (profile) the credential is valid for; none: any.
    #[serde(default)]
    profile: Option<String>,
}

#[derive(Serialize)]
struct EabView {
    kid: String,
    /// base64url, as clients (`lego --eab --hmac`, certbot `--eab-hmac-key`) take it.
    hmac_key: String,
    profile: Option<String>,
}

/// `POST /api/v1/acme/eab`: a new credential, shown once.
pub(crate) async fn create_eab(
    State(s): State<AppState>,
    Admin(who): Admin,
    body: Result<Json<EabBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(b) = body.map_err(json_error)?;
    if let Some(p) = &b.profile
        && !s.authority.profiles().contains_key(p)
    {
        return Err(ApiError::not_found(format!("no profile named {p:?}")));
    }
    let eab = AcmeService::create_eab(&s.authority, &who, b.profile.as_deref()).await?;
    let view = EabView {
        kid: eab.kid,
        hmac_key: moor_core::acme::b64url_encode(&eab.mac_key),
        profile: eab.directory,
    };
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OverrideBody {
    #[serde(default)]
    issuer: Option<String>,
    #[serde(default)]
    profile: Option<String>,
    #[serde(default)]
    serial: Option<String>,
    /// How long the window stays open from now (`1h`, `30m`); default 1 hour.
    #[serde(default)]
    window: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Serialize)]
struct OverrideView {
    id: String,
    issuer: Option<String>,
    profile: Option<String>,
    serial: Option<String>,
    window_start: String,
    window_end: String,
    reason: String,
}

/// `POST /api/v1/acme/renewal-overrides`: every selected certificate that exists now gets
/// the ARI window `[now, now + window)`, so ACME clients that poll renewalInfo renew
/// within it.
pub(crate) async fn override_renewal(
    State(s): State<AppState>,
    Admin(who): Admin,
    body: Result<Json<OverrideBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(b) = body.map_err(json_error)?;
    let window_secs = match &b.window {
        Some(w) => moor_core::profile::parse_duration(w)
            .and_then(|d| i64::try_from(d.as_secs()).ok())
            .ok_or_else(|| ApiError::bad_request("malformed", "window must look like 1h or 30m"))?,
        None => DEFAULT_OVERRIDE_WINDOW_SECS,
    };
    let o = AcmeService::override_renewal(
        &s.authority,
        &who,
        RenewalSelector {
            issuer_id: b.issuer,
            profile: b.profile,
            serial_hex: b.serial,
        },
        window_secs,
        b.reason.as_deref().unwrap_or(""),
    )
    .await?;
    let view = OverrideView {
        id: o.id,
        issuer: o.issuer_id,
        profile: o.profile,
        serial: o.serial_hex,
        window_start: rfc3339(o.window_start),
        window_end: rfc3339(o.window_end),
        reason: o.reason,
    };
    Ok((StatusCode::CREATED, Json(view)).into_response())
}
