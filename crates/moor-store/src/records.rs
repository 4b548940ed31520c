//! Plain data that goes in and out of the store. Times are unix seconds (UTC).

use serde::{Deserialize, Serialize};

/// An issuing (or root) CA known to this deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuerRecord {
    /// Short stable id used in URLs and profiles (`default`, `pq`, …).
    pub id: String,
    /// `root` or `intermediate`.
    pub kind: String,
    /// Key algorithm name (`ecdsa-p256`, …).
    pub algorithm: String,
    /// The CA certificate, DER.
    pub cert_der: Vec<u8>,
    /// Id of the issuer that signed this one (None for a root).
    pub parent_id: Option<String>,
    /// Where the private key lives: a path relative to the home, or `offline`.
    pub key_ref: String,
    /// SHA-256 of the certificate DER, lower-case hex.
    pub fingerprint: String,
    /// Creation time.
    pub created_at: i64,
}

/// A certificate to record (issuance).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCertificate {
    /// Serial, lower-case hex of the DER integer content (positive, no sign padding).
    pub serial_hex: String,
    pub issuer_id: String,
    pub profile: String,
    /// RFC 4514 subject string (may be empty).
    pub subject: String,
    /// SANs as `dns:…`, `ip:…`, `email:…`, `uri:…`.
    pub sans: Vec<String>,
    pub not_before: i64,
    pub not_after: i64,
    /// Who asked (`admin:<token-id>`, `mtls:<serial>`, `cli`, …).
    pub requester: String,
    pub key_algorithm: String,
    /// SHA-256 of the certificate DER, lower-case hex.
    pub fingerprint: String,
    /// SHA-256 of the SubjectPublicKeyInfo DER, lower-case hex (revoke-by-key, blocked keys).
    pub spki_sha256: String,
    pub der: Vec<u8>,
    pub created_at: i64,
}

/// A stored certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateRecord {
    /// Monotonic row id (the pagination cursor).
    pub id: i64,
    pub serial_hex: String,
    pub issuer_id: String,
    pub profile: String,
    pub subject: String,
    pub sans: Vec<String>,
    pub not_before: i64,
    pub not_after: i64,
    pub requester: String,
    pub key_algorithm: String,
    pub fingerprint: String,
    pub spki_sha256: String,
    #[serde(skip)]
    pub der: Vec<u8>,
    /// `valid` or `revoked` (expiry is computed from `not_after`).
    pub status: String,
    pub revoked_at: Option<i64>,
    pub revocation_reason: Option<i32>,
    pub created_at: i64,
}

impl CertificateRecord {
    /// The status as shown to people at `now`: `valid`, `revoked`, or `expired` (a valid
    /// certificate past its notAfter; expiry is computed, never stored).
    pub fn status_at(&self, now: i64) -> &str {
        if self.status == "valid" && self.not_after < now {
            "expired"
        } else {
            &self.status
        }
    }
}

/// Filters for listing certificates. Every field is optional; all given ones must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertificateFilter {
    /// A SAN (exact, in the `dns:…` form or bare value matched against any type).
    pub san: Option<String>,
    pub profile: Option<String>,
    pub issuer_id: Option<String>,
    /// `valid`, `revoked` or `expired` (expired uses `now`).
    pub status: Option<String>,
    /// Only certificates with `not_after < expiring_before`.
    pub expiring_before: Option<i64>,
    /// Cursor: only rows with id > after_id.
    pub after_id: Option<i64>,
    /// Page size (capped by the caller).
    pub limit: i64,
    /// The time `expired`/`valid` are judged at.
    pub now: i64,
}

/// An audit entry to append. `seq`, `prev_hash` and `hash` are assigned by the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewAuditEntry {
    pub ts: i64,
    /// Who acted (`admin:<token-id>`, `cli`, `system`, …).
    pub actor: String,
    /// What happened (`issue`, `refuse`, `revoke`, `issuer.create`, `token.create`, …).
    pub action: String,
    /// What it happened to (a serial, an issuer id, …).
    pub subject: String,
    /// Canonical JSON detail (object), never secrets or keys.
    pub detail: String,
}

/// A stored audit entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub seq: i64,
    pub ts: i64,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub detail: String,
    /// Hash of the previous entry (hex), [`crate::GENESIS_HASH`] for the first.
    pub prev_hash: String,
    /// SHA-256 over prev_hash and this entry's fields, hex.
    pub hash: String,
}

/// An admin API token (only its hash is stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminTokenRecord {
    /// Public id (`tok_…`), safe to log.
    pub id: String,
    /// SHA-256 of the secret, 32 bytes.
    pub secret_sha256: Vec<u8>,
    pub name: String,
    pub created_at: i64,
}

/// One entry of a CRL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokedEntry {
    pub serial_hex: String,
    pub revoked_at: i64,
    /// RFC 5280 CRLReason code.
    pub reason: i32,
    /// Where this revocation stands in the order of all revocations of the database
    /// (a delta CRL lists the entries newer than its base CRL's `revocation_seq`).
    pub revocation_seq: i64,
    /// The certificate's notAfter: the entry leaves the CRL after it.
    pub not_after: i64,
}

/// A revocation as every node learns of it, in database order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationEvent {
    /// Increases by one with every revocation in the database (across all nodes).
    pub seq: i64,
    pub serial_hex: String,
    pub issuer_id: String,
    pub revoked_at: i64,
    /// RFC 5280 CRLReason code.
    pub reason: i32,
    /// The certificate's notAfter.
    pub not_after: i64,
}

/// A signed CRL as stored for every node to serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrlRecord {
    pub issuer_id: String,
    /// Its CRL number (full and delta CRLs of an issuer share one sequence).
    pub number: i64,
    /// For a delta CRL, the number of the full CRL it is based on.
    pub delta_base: Option<i64>,
    pub this_update: i64,
    pub next_update: i64,
    /// The highest revocation seq it reflects.
    pub revocation_seq: i64,
    /// Entries it lists.
    pub entries: i64,
    /// DER of the CertificateList.
    pub der: Vec<u8>,
}
