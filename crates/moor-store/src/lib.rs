//! The store: where issuers, certificates and the audit log live.
//!
//! Callers see only the [`Store`] trait; `sqlite` is the embedded backend
//! (PostgreSQL follows behind the same trait). Every write that produces
//! something a client will see (a certificate) is committed together with its
//! audit entry before the call returns.

#![forbid(unsafe_code)]

mod audit;
mod error;
mod records;
pub mod sqlite;

pub use audit::{AuditFailure, AuditVerification, GENESIS_HASH, audit_entry_hash, verify_run};
pub use error::StoreError;
pub use records::*;

use async_trait::async_trait;

/// Persistent state of a Mooring deployment.
///
/// Implementations are safe to share between tasks (`Arc<dyn Store>`).
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Insert a new issuer. Fails with [`StoreError::Conflict`] if the id exists.
    async fn insert_issuer(
        &self,
        issuer: &IssuerRecord,
        audit: NewAuditEntry,
    ) -> Result<(), StoreError>;

    /// All issuers, oldest first.
    async fn list_issuers(&self) -> Result<Vec<IssuerRecord>, StoreError>;

    /// Record an issued certificate and its audit entry in one transaction.
    ///
    /// A duplicate `(issuer_id, serial)` fails with [`StoreError::DuplicateSerial`]
    /// and writes nothing (never overwrites). Returns once the transaction is
    /// durable.
    async fn record_issuance(
        &self,
        cert: NewCertificate,
        audit: NewAuditEntry,
    ) -> Result<(), StoreError>;

    /// Append an audit entry on its own (refusals, admin actions).
    async fn append_audit(&self, audit: NewAuditEntry) -> Result<AuditEntry, StoreError>;

    /// One certificate by issuer-independent serial (hex, lower case, no leading zeros stripped).
    async fn get_certificate(
        &self,
        serial_hex: &str,
    ) -> Result<Option<CertificateRecord>, StoreError>;

    /// Certificates matching `filter`, ordered by id; `filter.after_id` is the cursor.
    async fn list_certificates(
        &self,
        filter: &CertificateFilter,
    ) -> Result<Vec<CertificateRecord>, StoreError>;

    /// Mark a certificate revoked and append the audit entry in one transaction.
    /// Fails with [`StoreError::AlreadyRevoked`] if it is, [`StoreError::NotFound`] if absent.
    async fn revoke_certificate(
        &self,
        serial_hex: &str,
        revoked_at: i64,
        reason: i32,
        audit: NewAuditEntry,
    ) -> Result<CertificateRecord, StoreError>;

    /// Audit entries with `seq > after_seq`, at most `limit`, in order.
    async fn audit_entries(
        &self,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StoreError>;

    /// Walk the whole audit chain and check every link and hash.
    async fn verify_audit(&self) -> Result<AuditVerification, StoreError>;

    /// Store an admin API token hash (SHA-256 of the secret).
    async fn insert_admin_token(
        &self,
        token: &AdminTokenRecord,
        audit: NewAuditEntry,
    ) -> Result<(), StoreError>;

    /// Revoked certificates of `issuer_id` that have not expired at `now` (what a CRL lists;
    /// RFC 5280 §3.3: entries stay until the certificate expires), ordered by serial.
    async fn revoked_certificates(
        &self,
        issuer_id: &str,
        now: i64,
    ) -> Result<Vec<RevokedEntry>, StoreError>;

    /// Allocate the next CRL number of `issuer_id` (1, 2, 3, … never reused) and audit it.
    async fn next_crl_number(
        &self,
        issuer_id: &str,
        audit: NewAuditEntry,
    ) -> Result<i64, StoreError>;

    /// Block a public key (by SPKI SHA-256, hex) from any future issuance, with its audit
    /// entry. Returns false if it was already blocked (nothing written but the audit entry).
    async fn block_key(
        &self,
        spki_sha256: &str,
        reason: &str,
        source_serial: &str,
        at: i64,
        audit: NewAuditEntry,
    ) -> Result<bool, StoreError>;

    /// Every blocked key (SPKI SHA-256, hex).
    async fn blocked_keys(&self) -> Result<Vec<String>, StoreError>;

    /// Every certificate for a public key (SPKI SHA-256, hex), oldest first.
    async fn certificates_by_key(
        &self,
        spki_sha256: &str,
    ) -> Result<Vec<CertificateRecord>, StoreError>;

    /// Per issuer, how many valid (unrevoked) certificates expire in `[now, until)`.
    async fn expiring_counts(&self, now: i64, until: i64)
    -> Result<Vec<(String, i64)>, StoreError>;

    /// All active (not revoked) admin token hashes.
    async fn active_admin_tokens(&self) -> Result<Vec<AdminTokenRecord>, StoreError>;
}
