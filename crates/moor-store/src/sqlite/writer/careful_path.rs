//! The careful path: `BEGIN IMMEDIATE`, bulk runs in a savepoint, and job by
//! job retry in savepoints of their own.

use std::collections::HashSet;

use sqlx::Row;
use sqlx::sqlite::SqliteConnection;

use super::bulk_insert::{Command, chain, push_audit, push_certificates};
use super::statements::apply;
use super::{Done, Head, Op, Written};
use crate::{NewCertificate, StoreError};

/// The careful path: begin and read the chain head, and — for issuances —
/// which serials are taken and which issuers exist, in one command; then
///
/// - a run of consecutive issuances and audit entries is written in bulk:
///   the jobs that would fail are answered with `DuplicateSerial` /
///   `NotFound` and write nothing, the others go in with two multi-row
///   INSERTs inside a savepoint (and the COMMIT, if it is the last run: one
///   more command). Should an INSERT fail anyway, the run is rolled back to
///   the savepoint and retried job by job;
/// - any other job (and the retry) runs in its own `SAVEPOINT`: if it fails
///   it is rolled back to it, leaving neither row nor audit entry;
/// - the chain head advances only over jobs that succeeded.
pub(super) async fn write_slow(
    conn: &mut SqliteConnection,
    ops: &[Op],
) -> Result<Written, sqlx::Error> {
    let serials: Vec<&str> = ops
        .iter()
        .filter_map(|op| match op {
            Op::Issue { cert, .. } => Some(cert.serial_hex.as_str()),
            _ => None,
        })
        .collect();
    let issuers: Vec<&str> = ops
        .iter()
        .filter_map(|op| match op {
            Op::Issue { cert, .. } => Some(cert.issuer_id.as_str()),
            _ => None,
        })
        .collect();

    let mut cmd = Command::default();
    cmd.push("BEGIN IMMEDIATE");
    cmd.push("SELECT 2 AS what, seq AS n, hash AS v FROM audit_log ORDER BY seq DESC LIMIT 1");
    if !serials.is_empty() {
        cmd.push(
            "SELECT 0 AS what, NULL AS n, serial_hex AS v FROM certificates \
             WHERE serial_hex IN (SELECT value FROM json_each(?)) \
             UNION ALL SELECT 1, NULL, id FROM issuers \
             WHERE id IN (SELECT value FROM json_each(?))",
        );
        cmd.bind(serde_json::Value::from(serials).to_string())?;
        cmd.bind(serde_json::Value::from(issuers).to_string())?;
    }
    // Should this fail after BEGIN, the caller closes the connection, which
    // rolls the transaction back.
    let rows = cmd.run(conn).await?;
    let mut head = Head::genesis();
    let mut taken = HashSet::new();
    let mut known = HashSet::new();
    for row in rows {
        let what: i64 = row.try_get("what")?;
        let v: String = row.try_get("v")?;
        match what {
            0 => {
                taken.insert(v);
            }
            1 => {
                known.insert(v);
            }
            _ => {
                head = Head {
                    seq: row.try_get("n")?,
                    hash: v,
                }
            }
        }
    }

    let mut results: Vec<Option<Result<Done, StoreError>>> = Vec::with_capacity(ops.len());
    let mut committed = false;
    let mut i = 0;
    while i < ops.len() {
        let run = ops[i..]
            .iter()
            .take_while(|op| matches!(op, Op::Issue { .. } | Op::Audit { .. }))
            .count();
        if run == 0 {
            let op = &ops[i];
            let result = apply_alone(conn, &mut head, op).await?;
            if result.is_ok()
                && let Op::Issuer { issuer, .. } = op
            {
                known.insert(issuer.id.clone());
            }
            results.push(Some(result));
            i += 1;
            continue;
        }
        let jobs = &ops[i..i + run];
        i += run;

        // The same answers, in the same order of precedence, as one INSERT per
        // job (SQLite checks UNIQUE before FOREIGN KEY); earlier jobs win a serial.
        let first = results.len();
        let mut accepted = Vec::with_capacity(run);
        for op in jobs {
            let answer = match op {
                Op::Issue { cert, .. } if taken.contains(&cert.serial_hex) => {
                    Some(Err(StoreError::DuplicateSerial {
                        issuer_id: cert.issuer_id.clone(),
                        serial: cert.serial_hex.clone(),
                    }))
                }
                Op::Issue { cert, .. } if !known.contains(&cert.issuer_id) => {
                    Some(Err(StoreError::NotFound {
                        what: format!("issuer {}", cert.issuer_id),
                    }))
                }
                Op::Issue { cert, .. } => {
                    taken.insert(cert.serial_hex.clone());
                    accepted.push(results.len());
                    None
                }
                _ => {
                    accepted.push(results.len());
                    None
                }
            };
            results.push(answer);
        }
        if accepted.is_empty() {
            continue;
        }
        let op_of = |k: usize| &jobs[k - first];
        let certs: Vec<&NewCertificate> = accepted
            .iter()
            .filter_map(|&k| match op_of(k) {
                Op::Issue { cert, .. } => Some(cert),
                _ => None,
            })
            .collect();
        let (entries, new_head) = chain(
            &head,
            accepted.iter().filter_map(|&k| match op_of(k) {
                Op::Issue { audit, .. } | Op::Audit { audit } => Some(audit),
                _ => None,
            }),
        );
        let last = i == ops.len();
        let mut cmd = Command::default();
        cmd.push("SAVEPOINT bulk");
        push_audit(&mut cmd, &entries, None)?;
        if !certs.is_empty() {
            push_certificates(&mut cmd, &certs)?;
        }
        cmd.push("RELEASE bulk");
        if last {
            cmd.push("COMMIT");
        }
        match cmd.run(conn).await {
            Ok(_) => {
                for (&k, entry) in accepted.iter().zip(&entries) {
                    results[k] = Some(Ok(match op_of(k) {
                        Op::Audit { .. } => Done::Audit(entry.written()),
                        _ => Done::Unit,
                    }));
                }
                head = new_head;
                committed = last;
            }
            Err(error) => {
                // Still there only if the failure was before RELEASE: a failed
                // COMMIT (or a transaction SQLite rolled back) fails the group.
                if let Err(rollback) = sqlx::raw_sql("ROLLBACK TO bulk; RELEASE bulk")
                    .execute(&mut *conn)
                    .await
                {
                    tracing::debug!(%rollback, "no savepoint to roll back to");
                    return Err(error);
                }
                tracing::warn!(
                    %error,
                    jobs = accepted.len(),
                    "bulk write failed; retrying job by job"
                );
                for &k in &accepted {
                    let op = op_of(k);
                    let result = apply_alone(conn, &mut head, op).await?;
                    if result.is_err()
                        && let Op::Issue { cert, .. } = op
                    {
                        taken.remove(&cert.serial_hex);
                    }
                    results[k] = Some(result);
                }
            }
        }
    }
    if !committed {
        sqlx::query("COMMIT").execute(&mut *conn).await?;
    }
    let results = results
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| {
                Err(StoreError::Corrupt(
                    "internal: a job of the group got no answer".into(),
                ))
            })
        })
        .collect();
    Ok((results, head))
}

/// Run one job in its own savepoint, advancing `head` if it succeeded; its
/// answer, or the error that fails the whole group.
async fn apply_alone(
    conn: &mut SqliteConnection,
    head: &mut Head,
    op: &Op,
) -> Result<Result<Done, StoreError>, sqlx::Error> {
    sqlx::query("SAVEPOINT job").execute(&mut *conn).await?;
    match apply(conn, head, op).await {
        Ok((done, new_head)) => {
            sqlx::query("RELEASE job").execute(&mut *conn).await?;
            *head = new_head;
            Ok(Ok(done))
        }
        Err(e) => {
            // If SQLite already rolled the whole transaction back (I/O error,
            // disk full), the savepoint is gone and this fails the group.
            sqlx::raw_sql("ROLLBACK TO job; RELEASE job")
                .execute(&mut *conn)
                .await?;
            Ok(Err(e))
        }
    }
}
