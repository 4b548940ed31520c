//! API errors: the one place internal errors become JSON `{code, message, request_id}`.
//!
//! Client errors carry their detail; internal ones are logged with the request
//! id and answered with a generic message.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use moor_authority::AuthorityError;
use moor_core::RefusalCode;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// Message safe to show.
    pub message: String,
}

impl ApiError {
    /// A 400 with `code`.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code,
            message: message.into(),
        }
    }
    /// A 401.
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            code: "unauthorized",
            message: message.into(),
        }
    }
    /// A 404.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            message: message.into(),
        }
    }
}

impl From<AuthorityError> for ApiError {
    fn from(e: AuthorityError) -> ApiError {
        let status = match &e {
            AuthorityError::Refused(r) => match r.code {
                RefusalCode::UnknownProfile => StatusCode::NOT_FOUND,
                RefusalCode::BlockedKey => StatusCode::FORBIDDEN,
                _ => StatusCode::BAD_REQUEST,
            },
            AuthorityError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AuthorityError::NotFound(_) => StatusCode::NOT_FOUND,
            AuthorityError::AlreadyRevoked(_) => StatusCode::CONFLICT,
            AuthorityError::BadRequest(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            let id = request_id();
            tracing::error!(request_id = %id, error = %e, "internal error");
            return ApiError {
                status,
                code: "internal",
                message: format!("internal error (request id {id})"),
            };
        }
        let message = match &e {
            AuthorityError::Refused(r) => r.detail.clone(),
            other => other.to_string(),
        };
        ApiError {
            status,
            code: e.code(),
            message,
        }
    }
}

/// A short random id that ties a client-visible error to the server log.
pub fn request_id() -> String {
    use aws_lc_rs::rand::{SecureRandom, SystemRandom};
    let mut b = [0u8; 8];
    let _ = SystemRandom::new().fill(&mut b);
    hex::encode(b)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "code": self.code, "message": self.message });
        (self.status, Json(body)).into_response()
    }
}
