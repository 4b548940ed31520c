//! A write as the writer of a backend receives it: every backend funnels its writes
//! through one task that commits them in groups, so the job types are shared.

use tokio::sync::oneshot;

use crate::acme::AcmeWrite;
use crate::{
    AdminTokenRecord, AuditEntry, CertificateRecord, GENESIS_HASH, IssuerRecord, NewAuditEntry,
    NewCertificate, StoreError, audit_entry_hash,
};

/// One write, as the writer task receives it.
pub(crate) struct Job {
    pub(crate) op: Op,
    pub(crate) reply: oneshot::Sender<Result<Done, StoreError>>,
}

/// What to write.
pub(crate) enum Op {
    Issue {
        cert: NewCertificate,
        audit: NewAuditEntry,
    },
    Audit {
        audit: NewAuditEntry,
    },
    Revoke {
        serial_hex: String,
        revoked_at: i64,
        reason: i32,
        audit: NewAuditEntry,
    },
    Issuer {
        issuer: IssuerRecord,
        audit: NewAuditEntry,
    },
    Token {
        token: AdminTokenRecord,
        audit: NewAuditEntry,
    },
    CrlNumber {
        issuer_id: String,
        audit: NewAuditEntry,
    },
    BlockKey {
        spki_sha256: String,
        reason: String,
        source_serial: String,
        at: i64,
        audit: NewAuditEntry,
    },
    /// An audited ACME state change (never on the SQLite fast path).
    Acme(Box<AcmeWrite>),
    /// An audited enrollment change (bootstrap tokens).
    Enrollment(Box<crate::enrollment::EnrollmentWrite>),
    /// An inventory change (reports, owners and labels audited; alerts not).
    Inventory(Box<crate::inventory::InventoryWrite>),
}

/// What a committed job answers.
pub(crate) enum Done {
    Unit,
    Number(i64),
    Audit(AuditEntry),
    Certificate(Box<CertificateRecord>),
    /// A serialised answer (JSON).
    Json(String),
}

/// The audit chain's last (seq, hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Head {
    pub(crate) seq: i64,
    pub(crate) hash: String,
}

impl Head {
    /// The head after appending `audit` to this one: the next seq and its chained hash.
    pub(crate) fn next(&self, audit: &NewAuditEntry) -> Head {
        let seq = self.seq + 1;
        let hash = audit_entry_hash(
            &self.hash,
            seq,
            audit.ts,
            &audit.actor,
            &audit.action,
            &audit.subject,
            &audit.detail,
        );
        Head { seq, hash }
    }

    pub(crate) fn genesis() -> Head {
        Head {
            seq: 0,
            hash: GENESIS_HASH.to_owned(),
        }
    }
}
