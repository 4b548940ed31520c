//! Admin authentication for the REST API: bearer token, else mTLS admin certificate.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use moor_authority::Requester;

use crate::{ApiError, AppState, ClientCert};

/// The credential of an `Authorization: Bearer …` value.
fn bearer_value(value: &str) -> Option<&str> {
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
}

/// The bearer credential of a request (an admin token, a bootstrap token, a JWT), if any.
pub(crate) fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    bearer_value(headers.get(AUTHORIZATION)?.to_str().ok()?)
}

/// An authenticated admin. Handlers that take it cannot run without one.
pub struct Admin(pub Requester);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(value) = parts.headers.get(AUTHORIZATION) {
            let value = value
                .to_str()
                .map_err(|_| ApiError::unauthorized("malformed Authorization header"))?;
            let token = bearer_value(value)
                .ok_or_else(|| ApiError::unauthorized("Authorization must be 'Bearer <token>'"))?;
            return state
                .authority
                .authenticate_token(token)
                .await
                .map(Admin)
                .map_err(ApiError::from);
        }
        if let Some(ClientCert(Some(der))) = parts.extensions.get::<ClientCert>() {
            return state
                .authority
                .authenticate_admin_certificate(der)
                .await
                .map(Admin)
                .map_err(ApiError::from);
        }
        Err(ApiError::unauthorized(
            "authentication required: a bearer token or an admin client certificate",
        ))
    }
}
