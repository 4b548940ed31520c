//! Errors of the authority, each with a stable code for the wire.

use moor_core::{Refusal, RefusalCode};
use moor_keys::KeyError;
use moor_store::StoreError;

/// What can go wrong between a request and a certificate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthorityError {
    /// The request was refused by a rule (bad CSR, profile, identifier, lint…).
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The caller is not authenticated or not allowed.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// The named object does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The certificate is already revoked.
    #[error("certificate {0} is already revoked")]
    AlreadyRevoked(String),
    /// A bad argument that is not a certificate-request refusal (bad reason code…).
    #[error("{0}")]
    BadRequest(String),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// A key operation failed.
    #[error("key: {0}")]
    Key(#[from] KeyError),
    /// A configuration problem found at start-up or while loading.
    #[error("configuration: {0}")]
    Config(String),
    /// Anything else (never shown to clients in detail).
    #[error("internal: {0}")]
    Internal(String),
}

impl AuthorityError {
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            AuthorityError::Refused(r) => r.code.as_str(),
            AuthorityError::Unauthorized(_) => "unauthorized",
            AuthorityError::NotFound(_) => "not_found",
            AuthorityError::AlreadyRevoked(_) => "already_revoked",
            AuthorityError::BadRequest(_) => "bad_request",
            AuthorityError::Store(StoreError::DuplicateSerial { .. }) => "internal",
            AuthorityError::Store(_)
            | AuthorityError::Key(_)
            | AuthorityError::Internal(_)
            | AuthorityError::Config(_) => "internal",
        }
    }

    /// A refusal's code, if this is a refusal.
    pub fn refusal_code(&self) -> Option<RefusalCode> {
        match self {
            AuthorityError::Refused(r) => Some(r.code),
            _ => None,
        }
    }

    /// True when the detail may be shown to the client.
    pub fn is_client_error(&self) -> bool {
        !matches!(self.code(), "internal")
    }
}
