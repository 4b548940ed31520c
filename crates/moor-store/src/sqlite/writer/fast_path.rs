//! The fast path: a group of issuances and audit entries in one command.

use sqlx::sqlite::SqliteConnection;

use super::bulk_insert::{Command, chain, push_audit, push_certificates};
use super::{Done, Head, Op, Written};

/// The fast path, for a group of issuances and audit entries only, when the
/// chain head this writer committed last is known: ONE command to SQLite's
/// worker —
///
/// ```sql
/// BEGIN IMMEDIATE; INSERT INTO audit_log …; INSERT INTO certificates …; COMMIT
/// ```
///
/// The entries are chained to the remembered head, and the first of them
/// checks, inside the transaction, that it still is the head (another process
/// may have appended since): if not, the INSERT fails. Duplicate serials and
/// unknown issuers (rare: serials are 128-bit random) are not checked up
/// front; they make an INSERT fail too. After any failure the transaction is
/// rolled back and `Ok(None)` asks for the careful path, which sorts it out.
/// If even the rollback fails, no transaction was open (BEGIN failed, or SQLite
/// rolled back on its own): the whole group fails with the error.
pub(super) async fn write_fast(
    conn: &mut SqliteConnection,
    head: &Head,
    ops: &[Op],
) -> Result<Option<Written>, sqlx::Error> {
    let mut certs = Vec::with_capacity(ops.len());
    let mut audits = Vec::with_capacity(ops.len());
    for op in ops {
        match op {
            Op::Issue { cert, audit } => {
                certs.push(cert);
                audits.push(audit);
            }
            Op::Audit { audit } => audits.push(audit),
            _ => {
                return Err(sqlx::Error::Protocol(
                    "internal: write_fast given a job that is not an issuance or an audit entry"
                        .into(),
                ));
            }
        }
    }
    let (entries, new_head) = chain(head, audits);

    let mut cmd = Command::default();
    cmd.push("BEGIN IMMEDIATE");
    push_audit(&mut cmd, &entries, Some(head))?;
    if !certs.is_empty() {
        push_certificates(&mut cmd, &certs)?;
    }
    cmd.push("COMMIT");
    match cmd.run(conn).await {
        Ok(_) => {
            let results = ops
                .iter()
                .zip(&entries)
                .map(|(op, entry)| match op {
                    Op::Audit { .. } => Ok(Done::Audit(entry.written())),
                    _ => Ok(Done::Unit),
                })
                .collect();
            Ok(Some((results, new_head)))
        }
        Err(error) => {
            if let Err(rollback) = sqlx::query("ROLLBACK").execute(&mut *conn).await {
                tracing::debug!(%rollback, "no transaction to roll back after a failed fast write");
                return Err(error);
            }
            tracing::info!(
                %error,
                jobs = ops.len(),
                "fast group write failed; redoing it the careful way"
            );
            Ok(None)
        }
    }
}
