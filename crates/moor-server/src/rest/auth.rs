//! Admin authentication for the REST API: bearer token, else mTLS admin certificate.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use moor_authority::Requester;

use crate::{ApiError, AppState, ClientCert};

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
            let token = value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
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
