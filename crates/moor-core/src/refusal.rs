//! Why a request is refused: a stable machine-readable code plus a human detail.
//!
//! Every check in the core (identifiers, CSRs, keys, profiles, lints) returns a
//! [`Refusal`]. The front doors map [`RefusalCode`] to their wire format in one
//! place each (REST JSON `{code, message}`, later ACME problem documents).

use std::fmt;

use serde::{Deserialize, Serialize};

/// The stable code of a refusal. The snake_case spelling is part of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RefusalCode {
    /// The CSR could not be parsed, or its proof-of-possession signature is bad.
    BadCsr,
    /// The public key is of a refused type, size, curve, exponent or is weak.
    BadPublicKey,
    /// The signature algorithm is refused (MD5, SHA-1, unknown).
    BadSignatureAlgorithm,
    /// An identifier (DNS name, IP address, email, URI) is malformed or refused.
    RejectedIdentifier,
    /// The request is syntactically malformed (not a CSR problem).
    Malformed,
    /// The request asks for something its profile does not allow.
    ProfileViolation,
    /// The named profile does not exist.
    UnknownProfile,
    /// More identifiers than the limit.
    TooManyIdentifiers,
    /// The key was blocked (revoked for key compromise, or it is a CA key).
    BlockedKey,
    /// The prepared certificate failed a lint before signing.
    LintFailed,
}

impl RefusalCode {
    /// The stable snake_case spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RefusalCode::BadCsr => "bad_csr",
            RefusalCode::BadPublicKey => "bad_public_key",
            RefusalCode::BadSignatureAlgorithm => "bad_signature_algorithm",
            RefusalCode::RejectedIdentifier => "rejected_identifier",
            RefusalCode::Malformed => "malformed",
            RefusalCode::ProfileViolation => "profile_violation",
            RefusalCode::UnknownProfile => "unknown_profile",
            RefusalCode::TooManyIdentifiers => "too_many_identifiers",
            RefusalCode::BlockedKey => "blocked_key",
            RefusalCode::LintFailed => "lint_failed",
        }
    }
}

impl fmt::Display for RefusalCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused request: what rule was broken and a detail safe to show the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {detail}")]
pub struct Refusal {
    /// The stable code.
    pub code: RefusalCode,
    /// A human-readable explanation; never contains secrets or internal state.
    pub detail: String,
}

impl Refusal {
    /// A refusal with `code` and `detail`.
    pub fn new(code: RefusalCode, detail: impl Into<String>) -> Self {
        Refusal {
            code,
            detail: detail.into(),
        }
    }
}

/// Shorthand for `Err(Refusal::new(code, detail))`.
pub fn refuse<T>(code: RefusalCode, detail: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal::new(code, detail))
}
