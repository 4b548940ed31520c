//! ACME problem documents (RFC 8555 §6.7 over RFC 7807): the error type of the ACME layer.
//!
//! Every refusal of the ACME message layer is an [`AcmeError`], which carries one
//! [`Problem`]: a [`ProblemType`] (serialised as its `urn:ietf:params:acme:error:…` URN), a
//! human `detail`, the HTTP `status` (the type's default, overridable with
//! [`Problem::with_status`]), and optionally `subproblems` (RFC 8555 §6.7.1), the
//! `identifier` a subproblem is about, and the supported `algorithms` of a
//! `badSignatureAlgorithm` problem (§6.2). The server writes [`Problem::to_json`] with the
//! content type [`PROBLEM_CONTENT_TYPE`].

use std::fmt;

use serde::{Deserialize, Serialize};

/// The media type of a problem document (RFC 7807 §3).
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// The namespace of the ACME error types (RFC 8555 §6.7).
pub const ERROR_NAMESPACE: &str = "urn:ietf:params:acme:error:";

/// An ACME error type: the 24 of RFC 8555 §6.7 plus `conflict` (Boulder, key change to a
/// key in use), `alreadyReplaced` (RFC 9773 ARI) and `invalidProfile` (ACME profiles draft).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
#[non_exhaustive]
pub enum ProblemType {
    /// The request specified an account that does not exist.
    AccountDoesNotExist,
    /// The request specified a certificate to be revoked that has already been revoked.
    AlreadyRevoked,
    /// The CSR is unacceptable (e.g., due to a short key).
    BadCsr,
    /// The client sent an unacceptable anti-replay nonce.
    BadNonce,
    /// The JWS was signed by a public key the server does not support.
    BadPublicKey,
    /// The revocation reason provided is not allowed by the server.
    BadRevocationReason,
    /// The JWS was signed with an algorithm the server does not support.
    BadSignatureAlgorithm,
    /// Certification Authority Authorization (CAA) records forbid the CA from issuing.
    Caa,
    /// Specific error conditions are indicated in the `subproblems` array.
    Compound,
    /// The server could not connect to the validation target.
    Connection,
    /// There was a problem with a DNS query during identifier validation.
    Dns,
    /// The request must include a value for the `externalAccountBinding` field.
    ExternalAccountRequired,
    /// Response received didn't match the challenge's requirements.
    IncorrectResponse,
    /// A contact URL for an account was invalid.
    InvalidContact,
    /// The request message was malformed.
    Malformed,
    /// The request attempted to finalize an order that is not ready to be finalized.
    OrderNotReady,
    /// The request exceeds a rate limit.
    RateLimited,
    /// The server will not issue certificates for the identifier.
    RejectedIdentifier,
    /// The server experienced an internal error.
    ServerInternal,
    /// The server received a TLS error during validation.
    Tls,
    /// The client lacks sufficient authorization.
    Unauthorized,
    /// A contact URL for an account used an unsupported protocol scheme.
    UnsupportedContact,
    /// An identifier is of an unsupported type.
    UnsupportedIdentifier,
    /// Visit the `instance` URL and take actions specified there.
    UserActionRequired,
    /// The request conflicts with the state of another resource (HTTP 409): a key change
    /// to a key that another account already uses (Boulder `probs.Conflict`).
    Conflict,
    /// The certificate named in `replaces` was already replaced (RFC 9773 §5).
    AlreadyReplaced,
    /// The `profile` of a newOrder is not offered (ACME profiles draft).
    InvalidProfile,
}

impl ProblemType {
    /// Every type, in declaration order.
    pub const ALL: [ProblemType; 27] = [
        ProblemType::AccountDoesNotExist,
        ProblemType::AlreadyRevoked,
        ProblemType::BadCsr,
        ProblemType::BadNonce,
        ProblemType::BadPublicKey,
        ProblemType::BadRevocationReason,
        ProblemType::BadSignatureAlgorithm,
        ProblemType::Caa,
        ProblemType::Compound,
        ProblemType::Connection,
        ProblemType::Dns,
        ProblemType::ExternalAccountRequired,
        ProblemType::IncorrectResponse,
        ProblemType::InvalidContact,
        ProblemType::Malformed,
        ProblemType::OrderNotReady,
        ProblemType::RateLimited,
        ProblemType::RejectedIdentifier,
        ProblemType::ServerInternal,
        ProblemType::Tls,
        ProblemType::Unauthorized,
        ProblemType::UnsupportedContact,
        ProblemType::UnsupportedIdentifier,
        ProblemType::UserActionRequired,
        ProblemType::Conflict,
        ProblemType::AlreadyReplaced,
        ProblemType::InvalidProfile,
    ];

    /// The short name after the namespace, e.g. `badNonce`.
    pub fn name(self) -> &'static str {
        match self {
            ProblemType::AccountDoesNotExist => "accountDoesNotExist",
            ProblemType::AlreadyRevoked => "alreadyRevoked",
            ProblemType::BadCsr => "badCSR",
            ProblemType::BadNonce => "badNonce",
            ProblemType::BadPublicKey => "badPublicKey",
            ProblemType::BadRevocationReason => "badRevocationReason",
            ProblemType::BadSignatureAlgorithm => "badSignatureAlgorithm",
            ProblemType::Caa => "caa",
            ProblemType::Compound => "compound",
            ProblemType::Connection => "connection",
            ProblemType::Dns => "dns",
            ProblemType::ExternalAccountRequired => "externalAccountRequired",
            ProblemType::IncorrectResponse => "incorrectResponse",
            ProblemType::InvalidContact => "invalidContact",
            ProblemType::Malformed => "malformed",
            ProblemType::OrderNotReady => "orderNotReady",
            ProblemType::RateLimited => "rateLimited",
            ProblemType::RejectedIdentifier => "rejectedIdentifier",
            ProblemType::ServerInternal => "serverInternal",
            ProblemType::Tls => "tls",
            ProblemType::Unauthorized => "unauthorized",
            ProblemType::UnsupportedContact => "unsupportedContact",
            ProblemType::UnsupportedIdentifier => "unsupportedIdentifier",
            ProblemType::UserActionRequired => "userActionRequired",
            ProblemType::Conflict => "conflict",
            ProblemType::AlreadyReplaced => "alreadyReplaced",
            ProblemType::InvalidProfile => "invalidProfile",
        }
    }

    /// The full URN, e.g. `urn:ietf:params:acme:error:badNonce`.
    pub fn urn(self) -> String {
        format!("{ERROR_NAMESPACE}{}", self.name())
    }

    /// Parses a full URN (as found in a problem document's `type`).
    pub fn from_urn(urn: &str) -> Option<ProblemType> {
        let name = urn.strip_prefix(ERROR_NAMESPACE)?;
        ProblemType::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The default HTTP status of a response carrying this problem (RFC 8555 where it
    /// says, Boulder otherwise).
    pub fn default_status(self) -> u16 {
        match self {
            // §7.4: "403 (Forbidden) ... orderNotReady"; §7.3.3: userActionRequired is 403;
            // Boulder answers caa and unauthorized with 403.
            ProblemType::OrderNotReady
            | ProblemType::UserActionRequired
            | ProblemType::Unauthorized
            | ProblemType::Caa => 403,
            ProblemType::RateLimited => 429,
            ProblemType::ServerInternal => 500,
            ProblemType::Conflict | ProblemType::AlreadyReplaced => 409,
            ProblemType::AccountDoesNotExist
            | ProblemType::AlreadyRevoked
            | ProblemType::BadCsr
            | ProblemType::BadNonce
            | ProblemType::BadPublicKey
            | ProblemType::BadRevocationReason
            | ProblemType::BadSignatureAlgorithm
            | ProblemType::Compound
            | ProblemType::Connection
            | ProblemType::Dns
            | ProblemType::ExternalAccountRequired
            | ProblemType::IncorrectResponse
            | ProblemType::InvalidContact
            | ProblemType::Malformed
            | ProblemType::RejectedIdentifier
            | ProblemType::Tls
            | ProblemType::UnsupportedContact
            | ProblemType::UnsupportedIdentifier
            | ProblemType::InvalidProfile => 400,
        }
    }
}

impl fmt::Display for ProblemType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl From<ProblemType> for String {
    fn from(t: ProblemType) -> String {
        t.urn()
    }
}

impl TryFrom<String> for ProblemType {
    type Error = String;

    fn try_from(urn: String) -> Result<Self, Self::Error> {
        ProblemType::from_urn(&urn).ok_or_else(|| format!("unknown ACME problem type {urn:?}"))
    }
}

/// The identifier a (sub)problem is about (RFC 8555 §6.7.1): `{"type": "dns", "value": …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProblemIdentifier {
    /// `dns` or `ip`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The name or address.
    pub value: String,
}

impl ProblemIdentifier {
    /// A `dns` identifier.
    pub fn dns(value: impl Into<String>) -> Self {
        ProblemIdentifier {
            kind: "dns".into(),
            value: value.into(),
        }
    }

    /// An `ip` identifier (RFC 8738).
    pub fn ip(value: impl Into<String>) -> Self {
        ProblemIdentifier {
            kind: "ip".into(),
            value: value.into(),
        }
    }
}

/// One entry of `subproblems` (RFC 8555 §6.7.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subproblem {
    /// The error type.
    #[serde(rename = "type")]
    pub kind: ProblemType,
    /// What went wrong for this identifier.
    pub detail: String,
    /// The identifier this subproblem is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<ProblemIdentifier>,
}

/// A problem document (RFC 7807 + RFC 8555 §6.7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// The error type, serialised as its URN.
    #[serde(rename = "type")]
    pub kind: ProblemType,
    /// A human-readable explanation.
    pub detail: String,
    /// The HTTP status of the response.
    pub status: u16,
    /// The identifier this problem is about (in an authorization's challenge error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<ProblemIdentifier>,
    /// Per-identifier problems (usually with `compound`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subproblems: Vec<Subproblem>,
    /// The supported JWS algorithms (only with `badSignatureAlgorithm`, RFC 8555 §6.2).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub algorithms: Vec<String>,
    /// Seconds after which the client may try again: the `Retry-After` header of the
    /// response (with `rateLimited`, RFC 8555 §6.6), not part of the document.
    #[serde(skip)]
    pub retry_after: Option<u64>,
}

impl Problem {
    /// A problem of `kind` with its default status.
    pub fn new(kind: ProblemType, detail: impl Into<String>) -> Self {
        Problem {
            kind,
            detail: detail.into(),
            status: kind.default_status(),
            identifier: None,
            subproblems: Vec::new(),
            algorithms: Vec::new(),
            retry_after: None,
        }
    }

    /// Overrides the HTTP status (e.g. 401 for an `unauthorized` EAB failure, 413 for an
    /// oversized body).
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// Sets the identifier the problem is about.
    pub fn with_identifier(mut self, identifier: ProblemIdentifier) -> Self {
        self.identifier = Some(identifier);
        self
    }

    /// Adds a subproblem.
    pub fn with_subproblem(mut self, subproblem: Subproblem) -> Self {
        self.subproblems.push(subproblem);
        self
    }

    /// A `compound` problem from per-identifier subproblems (RFC 8555 §6.7.1).
    pub fn compound(detail: impl Into<String>, subproblems: Vec<Subproblem>) -> Self {
        let mut p = Problem::new(ProblemType::Compound, detail);
        p.subproblems = subproblems;
        p
    }

    /// The document as `application/problem+json` bytes.
    pub fn to_json(&self) -> Vec<u8> {
        // Serialising plain strings, integers and vectors cannot fail.
        serde_json::to_vec(self).unwrap_or_else(|_| {
            br#"{"type":"urn:ietf:params:acme:error:serverInternal","detail":"problem encoding failed","status":500}"#
                .to_vec()
        })
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.kind, self.status, self.detail)
    }
}

/// The error of the ACME message layer: one problem document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{problem}")]
pub struct AcmeError {
    /// The problem to send (boxed: errors stay small on the happy path).
    pub problem: Box<Problem>,
}

impl AcmeError {
    /// An error of `kind` with its default status.
    pub fn new(kind: ProblemType, detail: impl Into<String>) -> Self {
        AcmeError::from(Problem::new(kind, detail))
    }

    /// `malformed` (400).
    pub fn malformed(detail: impl Into<String>) -> Self {
        AcmeError::new(ProblemType::Malformed, detail)
    }

    /// `badNonce` (400). The server must add a fresh `Replay-Nonce` to the response.
    pub fn bad_nonce(detail: impl Into<String>) -> Self {
        AcmeError::new(ProblemType::BadNonce, detail)
    }

    /// `unauthorized` (403 by default).
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        AcmeError::new(ProblemType::Unauthorized, detail)
    }

    /// `rateLimited` (429) with `Retry-After: retry_after_secs` (at least 1).
    pub fn rate_limited(detail: impl Into<String>, retry_after_secs: u64) -> Self {
        let mut p = Problem::new(ProblemType::RateLimited, detail);
        p.retry_after = Some(retry_after_secs.max(1));
        AcmeError::from(p)
    }

    /// `badPublicKey` (400).
    pub fn bad_public_key(detail: impl Into<String>) -> Self {
        AcmeError::new(ProblemType::BadPublicKey, detail)
    }

    /// `badSignatureAlgorithm` (400) listing the supported JWS algorithms (RFC 8555 §6.2).
    pub fn bad_signature_algorithm(detail: impl Into<String>) -> Self {
        let mut p = Problem::new(ProblemType::BadSignatureAlgorithm, detail);
        p.algorithms = super::jws::SUPPORTED_ALGORITHMS
            .iter()
            .map(|a| (*a).to_owned())
            .collect();
        AcmeError::from(p)
    }

    /// Overrides the HTTP status.
    pub fn with_status(mut self, status: u16) -> Self {
        self.problem.status = status;
        self
    }

    /// The error type.
    pub fn kind(&self) -> ProblemType {
        self.problem.kind
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.problem.status
    }

    /// The human detail.
    pub fn detail(&self) -> &str {
        &self.problem.detail
    }
}

impl From<Problem> for AcmeError {
    fn from(problem: Problem) -> Self {
        AcmeError {
            problem: Box::new(problem),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acme_problem_urns_round_trip_and_are_distinct() {
        let mut seen = std::collections::HashSet::new();
        for t in ProblemType::ALL {
            let urn = t.urn();
            assert!(urn.starts_with("urn:ietf:params:acme:error:"), "{urn}");
            assert!(seen.insert(urn.clone()), "duplicate {urn}");
            assert_eq!(ProblemType::from_urn(&urn), Some(t));
            assert!((400..600).contains(&t.default_status()), "{t}");
        }
        assert_eq!(seen.len(), 27);
        assert_eq!(
            ProblemType::from_urn("urn:ietf:params:acme:error:nope"),
            None
        );
        assert_eq!(ProblemType::from_urn("badNonce"), None);
        // The RFC 8555 §6.7 spellings that are easy to get wrong.
        assert_eq!(
            ProblemType::BadCsr.urn(),
            "urn:ietf:params:acme:error:badCSR"
        );
        assert_eq!(ProblemType::Caa.urn(), "urn:ietf:params:acme:error:caa");
        assert_eq!(ProblemType::Tls.urn(), "urn:ietf:params:acme:error:tls");
    }

    #[test]
    fn acme_problem_statuses() {
        assert_eq!(ProblemType::BadNonce.default_status(), 400);
        assert_eq!(ProblemType::Malformed.default_status(), 400);
        assert_eq!(ProblemType::OrderNotReady.default_status(), 403);
        assert_eq!(ProblemType::Unauthorized.default_status(), 403);
        assert_eq!(ProblemType::RateLimited.default_status(), 429);
        assert_eq!(ProblemType::Conflict.default_status(), 409);
        assert_eq!(ProblemType::ServerInternal.default_status(), 500);
        assert_eq!(AcmeError::unauthorized("x").with_status(401).status(), 401);
    }

    #[test]
    fn acme_problem_json_shape() {
        let e = AcmeError::bad_signature_algorithm("alg none is not accepted");
        let v: serde_json::Value = serde_json::from_slice(&e.problem.to_json()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "type": "urn:ietf:params:acme:error:badSignatureAlgorithm",
                "detail": "alg none is not accepted",
                "status": 400,
                "algorithms": ["ES256", "ES384", "RS256", "EdDSA"],
            })
        );
        let p = Problem::compound(
            "2 identifiers refused",
            vec![
                Subproblem {
                    kind: ProblemType::RejectedIdentifier,
                    detail: "policy forbids".into(),
                    identifier: Some(ProblemIdentifier::dns("evil.example")),
                },
                Subproblem {
                    kind: ProblemType::UnsupportedIdentifier,
                    detail: "no email".into(),
                    identifier: None,
                },
            ],
        );
        let v: serde_json::Value = serde_json::from_slice(&p.to_json()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "type": "urn:ietf:params:acme:error:compound",
                "detail": "2 identifiers refused",
                "status": 400,
                "subproblems": [
                    {"type": "urn:ietf:params:acme:error:rejectedIdentifier",
                     "detail": "policy forbids",
                     "identifier": {"type": "dns", "value": "evil.example"}},
                    {"type": "urn:ietf:params:acme:error:unsupportedIdentifier",
                     "detail": "no email"},
                ],
            })
        );
        let back: Problem = serde_json::from_slice(&p.to_json()).unwrap();
        assert_eq!(back, p);
        let with_id = Problem::new(ProblemType::Dns, "NXDOMAIN")
            .with_identifier(ProblemIdentifier::ip("192.0.2.1"));
        let v: serde_json::Value = serde_json::from_slice(&with_id.to_json()).unwrap();
        assert_eq!(v["identifier"]["type"], "ip");
        assert!(
            serde_json::from_str::<Problem>(
                r#"{"type":"urn:ietf:params:acme:error:bogus","detail":"","status":400}"#
            )
            .is_err()
        );
        assert_eq!(
            e.to_string(),
            "badSignatureAlgorithm (400): alg none is not accepted"
        );
    }
}
