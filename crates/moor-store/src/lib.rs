//! The store: where issuers, certificates and the audit log live.
//!
//! Callers see only the [`Store`] trait; `sqlite` is the embedded backend
//! (PostgreSQL follows behind the same trait). Every write that produces
//! something a client will see (a certificate) is committed together with its
//! audit entry before the call returns.

#![forbid(unsafe_code)]

mod acme;
mod audit;
mod enrollment;
mod error;
pub mod inventory;
pub mod postgres;
mod records;
mod rows;
pub mod sqlite;
mod write_job;

pub use acme::{
    AcmeAccount, AcmeAuthorization, AcmeChallenge, AcmeEab, AcmeIdentifier, AcmeOrder, AcmeStore,
    CrossCertificate, PROCESSING_TAKEOVER_SECS, RenewalOverride,
};
pub use audit::{AuditFailure, AuditVerification, GENESIS_HASH, audit_entry_hash, verify_run};
pub use enrollment::{BootstrapToken, EnrollmentStore, ScepRaKey};
pub use error::StoreError;
pub use inventory::InventoryStore;
pub use records::*;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;

/// Which backend a `database` setting names: a `postgres://` or `postgresql://` URL is
/// PostgreSQL, anything else a SQLite file (relative paths resolved against `base`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// An embedded SQLite file.
    Sqlite(std::path::PathBuf),
    /// A PostgreSQL server (the URL may carry a password: see [`Database::display`]).
    Postgres(String),
}

impl Database {
    /// Parse a `database` setting.
    pub fn parse(setting: &str, base: &Path) -> Database {
        if setting.starts_with("postgres://") || setting.starts_with("postgresql://") {
            Database::Postgres(setting.to_owned())
        } else {
            Database::Sqlite(base.join(setting))
        }
    }

    /// For messages and logs: the SQLite path, or the PostgreSQL URL without its password.
    pub fn display(&self) -> String {
        match self {
            Database::Sqlite(p) => format!("sqlite {}", p.display()),
            Database::Postgres(url) => {
                let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
                let rest = match rest.split_once('@') {
                    Some((user, host)) => {
                        format!("{}@{host}", user.split(':').next().unwrap_or(""))
                    }
                    None => rest.to_owned(),
                };
                format!("{scheme}://{rest}")
            }
        }
    }

    /// Open the store (creating an empty SQLite file or schema as needed, and applying
    /// pending migrations).
    pub async fn open(&self) -> Result<Arc<dyn Store>, StoreError> {
        Ok(match self {
            Database::Sqlite(p) => Arc::new(sqlite::SqliteStore::open(p).await?),
            Database::Postgres(url) => Arc::new(postgres::PostgresStore::open(url).await?),
        })
    }
}

/// At most this many subjects in one [`Store::audit_for_subject`] call.
pub const MAX_AUDIT_SUBJECTS: usize = 16;

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

    /// The newest audit entries (highest `seq` first, at most `limit`) whose subject is one
    /// of `subjects` (at most [`MAX_AUDIT_SUBJECTS`] are used): a certificate's serial and
    /// fingerprint, say, for its audit trail.
    async fn audit_for_subject(
        &self,
        subjects: &[String],
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StoreError>;

    /// Walk the whole audit chain and check every link and hash.
    ///
    /// Walks the log in pages of 10,000. On failure, `entries` counts the
    /// entries that verified before it and `head_hash` is the last of them.
    async fn verify_audit(&self) -> Result<AuditVerification, StoreError> {
        const VERIFY_PAGE: i64 = 10_000;
        let mut verified = 0i64;
        let mut next_seq = 1i64;
        let mut head = GENESIS_HASH.to_owned();
        // From the very bottom, so a row slipped in below seq 1 is seen too.
        let mut after = i64::MIN;
        loop {
            // The log is append-only, so paging by seq sees every entry once;
            // a gap left by a deleted row is reported by verify_run.
            let page = self.audit_entries(after, VERIFY_PAGE).await?;
            if page.is_empty() {
                break;
            }
            match verify_run(&page, next_seq, head.clone()) {
                Ok((next, hash)) => {
                    verified += page.len() as i64;
                    next_seq = next;
                    after = next - 1;
                    head = hash;
                }
                Err(failure) => {
                    let before = page.iter().position(|e| e.seq == failure.seq).unwrap_or(0);
                    if let Some(ok) = before.checked_sub(1).and_then(|i| page.get(i)) {
                        head = ok.hash.clone();
                    }
                    return Ok(AuditVerification {
                        entries: verified + before as i64,
                        head_hash: head,
                        first_failure: Some(failure),
                    });
                }
            }
            if (page.len() as i64) < VERIFY_PAGE {
                break;
            }
        }
        Ok(AuditVerification {
            entries: verified,
            head_hash: head,
            first_failure: None,
        })
    }

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

    /// Per issuer, how many valid (unrevoked) certificates expire in `[now, until)` (for
    /// expiry alerts: the self-rotating `ocsp-responder` certificates are not counted).
    async fn expiring_counts(&self, now: i64, until: i64)
    -> Result<Vec<(String, i64)>, StoreError>;

    /// All active (not revoked) admin token hashes.
    async fn active_admin_tokens(&self) -> Result<Vec<AdminTokenRecord>, StoreError>;

    /// Revocations with `seq > after_seq`, in seq order, at most `limit` (how a node learns
    /// of revocations made by any node).
    async fn revocations_since(
        &self,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<RevocationEvent>, StoreError>;

    /// A counter that moves whenever this store learns that a revocation was committed:
    /// by this process at once, by other nodes as soon as the backend tells (PostgreSQL
    /// NOTIFY). Not every revocation is signalled (another process on one SQLite file is
    /// not): watchers poll [`Store::revocations_since`] as well.
    fn revocation_signal(&self) -> tokio::sync::watch::Receiver<u64>;

    /// Keep a signed CRL for every node to serve (the older ones of its issuer and kind
    /// beyond the last few are dropped). A CRL number is stored once: saving it again
    /// is a [`StoreError::Conflict`].
    async fn save_crl(&self, crl: &CrlRecord) -> Result<(), StoreError>;

    /// The newest stored full (`delta = false`) or delta CRL of `issuer_id`.
    async fn latest_crl(
        &self,
        issuer_id: &str,
        delta: bool,
    ) -> Result<Option<CrlRecord>, StoreError>;

    /// Take or renew the lease `name` for `holder` until `now + ttl_secs`. True if `holder`
    /// holds it now (it was free, expired, or already its own); false if another holder's
    /// lease is still running. Leases are how one node of several does a periodic job.
    async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        now: i64,
        ttl_secs: i64,
    ) -> Result<bool, StoreError>;

    /// Versions of the schema migrations applied to this database, oldest first.
    async fn schema_versions(&self) -> Result<Vec<i64>, StoreError>;

    /// Give the lease up if `holder` has it (on shutdown).
    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError>;

    /// The ACME state of this deployment (accounts, nonces, orders, …) in the same database.
    fn acme(&self) -> &dyn AcmeStore;

    /// Enrollment credentials (bootstrap tokens) in the same database.
    fn enrollment(&self) -> &dyn EnrollmentStore;

    /// The inventory (issued and discovered certificates, locations, findings, alerts).
    fn inventory(&self) -> &dyn inventory::InventoryStore;
}
