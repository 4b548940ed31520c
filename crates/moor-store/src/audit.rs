//! The hash chain over audit entries.
//!
//! `hash_n = SHA-256("mooring-audit-v1" ‖ prev_hash ‖ len‖seq ‖ len‖ts ‖ len‖actor ‖ len‖action ‖ len‖subject ‖ len‖detail)`
//! with every field length-prefixed (u64 big-endian) so no two entries share
//! an encoding. Editing any field breaks that entry's hash; deleting or
//! reordering breaks the `prev_hash` link or the `seq` sequence.

use serde::{Deserialize, Serialize};

/// `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The hash of an entry given its predecessor's hash, lower-case hex.
pub fn audit_entry_hash(
    prev_hash: &str,
    seq: i64,
    ts: i64,
    actor: &str,
    action: &str,
    subject: &str,
    detail: &str,
) -> String {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(b"mooring-audit-v1");
    let seq_s = seq.to_be_bytes();
    let ts_s = ts.to_be_bytes();
    for field in [
        prev_hash.as_bytes(),
        &seq_s,
        &ts_s,
        actor.as_bytes(),
        action.as_bytes(),
        subject.as_bytes(),
        detail.as_bytes(),
    ] {
        ctx.update(&(field.len() as u64).to_be_bytes());
        ctx.update(field);
    }
    hex::encode(ctx.finish().as_ref())
}

/// The result of walking the audit chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditVerification {
    /// Entries checked.
    pub entries: i64,
    /// Hash of the last entry (GENESIS_HASH for an empty log).
    pub head_hash: String,
    /// The first entry that does not verify, with why; None when all verify.
    pub first_failure: Option<AuditFailure>,
}

/// Where and why the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditFailure {
    /// The seq of the entry that fails (as stored).
    pub seq: i64,
    /// `hash_mismatch` (entry edited), `broken_link` (entry before it deleted or reordered), `seq_gap`.
    pub kind: String,
    pub detail: String,
}

impl AuditVerification {
    /// True when every entry verified.
    pub fn ok(&self) -> bool {
        self.first_failure.is_none()
    }
}

/// Check a run of entries continuing from (`expected_seq`, `prev_hash`).
/// Returns the failure, or the new (next seq, head hash).
pub fn verify_run(
    entries: &[crate::AuditEntry],
    mut expected_seq: i64,
    mut prev: String,
) -> Result<(i64, String), AuditFailure> {
    for e in entries {
        if e.seq != expected_seq {
            return Err(AuditFailure {
                seq: e.seq,
                kind: "seq_gap".into(),
                detail: format!(
                    "expected entry {expected_seq}, found {} (entries deleted or reordered)",
                    e.seq
                ),
            });
        }
        if e.prev_hash != prev {
            return Err(AuditFailure {
                seq: e.seq,
                kind: "broken_link".into(),
                detail: format!(
                    "entry {} does not follow the entry before it (deleted, inserted or reordered entries)",
                    e.seq
                ),
            });
        }
        let h = audit_entry_hash(
            &e.prev_hash,
            e.seq,
            e.ts,
            &e.actor,
            &e.action,
            &e.subject,
            &e.detail,
        );
        if h != e.hash {
            return Err(AuditFailure {
                seq: e.seq,
                kind: "hash_mismatch".into(),
                detail: format!("entry {} was modified after it was written", e.seq),
            });
        }
        prev = e.hash.clone();
        expected_seq += 1;
    }
    Ok((expected_seq, prev))
}
