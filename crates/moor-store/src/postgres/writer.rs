//! The single writer of a [`super::PostgresStore`] process, with group commit.
//!
//! As in the SQLite backend, every write is a [`Job`] sent to one task, which takes
//! everything queued (up to [`MAX_BATCH`]) and runs it in one transaction, committed
//! once before any caller is answered. Several nodes write to one database, so each
//! transaction first takes a transaction-level advisory lock ([`WRITE_LOCK`]): the
//! audit chain head it reads stays the head until it commits, certificate ids and
//! revocation numbers are handed out one transaction at a time, and the checks it
//! makes (serial taken, issuer known, key blocked) cannot be overtaken by another node.
//!
//! A group runs like this: lock, read the chain head, look up in three queries which
//! serials of the group are taken, which issuers exist and which keys are blocked;
//! the issuances that would fail are answered with their error and write nothing;
//! consecutive issuances and audit entries are inserted with one multi-row
//! `INSERT … SELECT FROM UNNEST(…)` each; any other job (revocation, issuer, token,
//! CRL number, blocked key) runs in a `SAVEPOINT` of its own, so a failing one leaves
//! no trace. Should a bulk INSERT fail anyway, the transaction is rolled back and the
//! group is redone with every job in its own savepoint. If the transaction cannot
//! commit, every caller of the group gets the error and nothing was written.

use std::collections::HashSet;

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{AssertSqlSafe, Connection, Row};
use tokio::sync::{mpsc, watch};

use super::{CERT_COLUMNS, cert_from_row, db_kind};
use crate::write_job::{Done, Head, Job, Op};
use crate::{
    AdminTokenRecord, AuditEntry, CertificateRecord, IssuerRecord, NewAuditEntry, NewCertificate,
    StoreError,
};

/// Most jobs committed by one transaction.
const MAX_BATCH: usize = 512;
/// The advisory lock every write transaction of every node takes first.
pub(super) const WRITE_LOCK: i64 = 0x6d6f_6f72_0001; // "moor" 1
/// The channel a revocation is announced on (delivered at commit).
pub(super) const REVOCATION_CHANNEL: &str = "mooring_revocations";

/// The writer task: runs until every sender is dropped and the queue is empty.
pub(super) async fn run(
    options: PgConnectOptions,
    mut rx: mpsc::Receiver<Job>,
    revoked: watch::Sender<u64>,
) {
    let mut conn: Option<PgConnection> = None;
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let (ops, replies): (Vec<Op>, Vec<_>) = jobs.drain(..).map(|j| (j.op, j.reply)).unzip();
        let outcome = async {
            let c = match &mut conn {
                Some(c) => c,
                None => conn.insert(PgConnection::connect_with(&options).await?),
            };
            match write_batch(c, &ops, false).await? {
                Some(results) => Ok(results),
                None => write_batch(c, &ops, true)
                    .await?
                    .ok_or_else(|| sqlx::Error::Protocol("careful write did not finish".into())),
            }
        }
        .await;
        match outcome {
            Ok(results) => {
                let revocations = ops
                    .iter()
                    .zip(&results)
                    .filter(|(op, r)| matches!(op, Op::Revoke { .. }) && r.is_ok())
                    .count();
                if revocations > 0 {
                    revoked.send_modify(|n| *n += revocations as u64);
                }
                for (reply, result) in replies.into_iter().zip(results) {
                    let _ = reply.send(result);
                }
            }
            Err(error) => {
                tracing::error!(%error, jobs = ops.len(), "postgres write batch failed; nothing of it was written");
                // The connection may be mid-transaction or gone: start afresh.
                if let Some(c) = conn.take() {
                    let _ = c.close().await;
                }
                let shared = format!("write batch failed, nothing was written: {error}");
                let mut first = Some(error);
                for reply in replies {
                    let e = first
                        .take()
                        .unwrap_or_else(|| sqlx::Error::Io(std::io::Error::other(shared.clone())));
                    let _ = reply.send(Err(StoreError::Database(e)));
                }
            }
        }
    }
    if let Some(c) = conn.take() {
        let _ = c.close().await;
    }
}

/// Run `ops` in one transaction. `Ok(None)`: a bulk INSERT failed and the transaction
/// was rolled back (redo with `careful`). In `careful` mode every job runs in its own
/// savepoint.
async fn write_batch(
    conn: &mut PgConnection,
    ops: &[Op],
    careful: bool,
) -> Result<Option<Vec<Result<Done, StoreError>>>, sqlx::Error> {
    // Round trips are what a group costs here, so: BEGIN and the lock in one (simple
    // protocol), the chain head and the lookups in one, each bulk run's INSERTs in one, and
    // COMMIT. No transaction guard: on an error the caller closes the connection, which
    // ends the transaction.
    sqlx::raw_sql(AssertSqlSafe(format!(
        "BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK})"
    )))
    .execute(&mut *conn)
    .await?;

    let certs: Vec<&NewCertificate> = ops
        .iter()
        .filter_map(|op| match op {
            Op::Issue { cert, .. } => Some(cert),
            _ => None,
        })
        .collect();
    let serials: Vec<&str> = certs.iter().map(|c| c.serial_hex.as_str()).collect();
    let issuers: Vec<&str> = certs.iter().map(|c| c.issuer_id.as_str()).collect();
    let keys: Vec<&str> = certs.iter().map(|c| c.spki_sha256.as_str()).collect();
    let rows = sqlx::query(
        "SELECT 3 AS what, hash AS v, seq AS n FROM \
           (SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1) AS head \
         UNION ALL SELECT 0, serial_hex, NULL::int8 FROM certificates WHERE serial_hex = ANY($1) \
         UNION ALL SELECT 1, id, NULL::int8 FROM issuers WHERE id = ANY($2) \
         UNION ALL SELECT 2, spki_sha256, NULL::int8 FROM blocked_keys WHERE spki_sha256 = ANY($3)",
    )
    .bind(&serials)
    .bind(&issuers)
    .bind(&keys)
    .fetch_all(&mut *conn)
    .await?;
    let mut head = Head::genesis();
    let (mut taken, mut known, mut blocked) = (HashSet::new(), HashSet::new(), HashSet::new());
    for row in rows {
        let what: i32 = row.try_get("what")?;
        let v: String = row.try_get("v")?;
        match what {
            0 => {
                taken.insert(v);
            }
            1 => {
                known.insert(v);
            }
            2 => {
                blocked.insert(v);
            }
            _ => {
                head = Head {
                    seq: row.try_get("n")?,
                    hash: v,
                }
            }
        }
    }

    let mut results: Vec<Result<Done, StoreError>> = Vec::with_capacity(ops.len());
    let mut bulk = Bulk::default();
    for op in ops {
        let quick = !careful && matches!(op, Op::Issue { .. } | Op::Audit { .. });
        if let Op::Issue { cert, .. } = op {
            let refusal = if taken.contains(&cert.serial_hex) {
                Some(StoreError::DuplicateSerial {
                    issuer_id: cert.issuer_id.clone(),
                    serial: cert.serial_hex.clone(),
                })
            } else if !known.contains(&cert.issuer_id) {
                Some(StoreError::NotFound {
                    what: format!("issuer {}", cert.issuer_id),
                })
            } else if blocked.contains(&cert.spki_sha256) {
                Some(StoreError::KeyBlocked {
                    spki_sha256: cert.spki_sha256.clone(),
                })
            } else {
                None
            };
            if let Some(e) = refusal {
                results.push(Err(e));
                continue;
            }
        }
        if quick {
            match op {
                Op::Issue { cert, audit } => {
                    bulk.audit(&mut head, audit);
                    bulk.certs.push(cert);
                    taken.insert(cert.serial_hex.clone());
                    results.push(Ok(Done::Unit));
                }
                Op::Audit { audit } => {
                    let entry = bulk.audit(&mut head, audit);
                    results.push(Ok(Done::Audit(entry)));
                }
                _ => unreachable!("quick jobs are issuances and audit entries"),
            }
            continue;
        }
        if !bulk.flush(conn).await? {
            sqlx::query("ROLLBACK").execute(&mut *conn).await?;
            return Ok(None);
        }
        sqlx::query("SAVEPOINT job").execute(&mut *conn).await?;
        match apply(conn, &head, op).await {
            Ok((done, next)) => {
                sqlx::query("RELEASE SAVEPOINT job")
                    .execute(&mut *conn)
                    .await?;
                head = next;
                match op {
                    Op::Issuer { issuer, .. } => {
                        known.insert(issuer.id.clone());
                    }
                    Op::BlockKey { spki_sha256, .. } => {
                        blocked.insert(spki_sha256.clone());
                    }
                    Op::Issue { cert, .. } => {
                        taken.insert(cert.serial_hex.clone());
                    }
                    _ => {}
                }
                results.push(Ok(done));
            }
            Err(StoreError::Database(e)) if db_kind(&e).is_none() => {
                // Not a refusal by the database but a broken connection or protocol.
                return Err(e);
            }
            Err(e) => {
                sqlx::query("ROLLBACK TO SAVEPOINT job")
                    .execute(&mut *conn)
                    .await?;
                results.push(Err(e));
            }
        }
    }
    if !bulk.flush(conn).await? {
        sqlx::query("ROLLBACK").execute(&mut *conn).await?;
        return Ok(None);
    }
    sqlx::query("COMMIT").execute(&mut *conn).await?;
    Ok(Some(results))
}

/// Issuances and audit entries waiting to be inserted in bulk, in order.
#[derive(Default)]
struct Bulk<'a> {
    audits: Vec<AuditEntry>,
    certs: Vec<&'a NewCertificate>,
}

impl<'a> Bulk<'a> {
    /// Chain `audit` after `head` (advancing it) and queue it.
    fn audit(&mut self, head: &mut Head, audit: &NewAuditEntry) -> AuditEntry {
        let next = head.next(audit);
        let entry = AuditEntry {
            seq: next.seq,
            ts: audit.ts,
            actor: audit.actor.clone(),
            action: audit.action.clone(),
            subject: audit.subject.clone(),
            detail: audit.detail.clone(),
            prev_hash: std::mem::replace(head, next).hash,
            hash: head.hash.clone(),
        };
        self.audits.push(entry.clone());
        entry
    }

    /// Insert what is queued, in one statement (the audit rows in a data-modifying CTE
    /// when there are certificates too). False if it failed (the transaction is then
    /// aborted).
    async fn flush(&mut self, conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
        const AUDIT: &str = "INSERT INTO audit_log (seq, ts, actor, action, subject, detail, prev_hash, hash) \
             SELECT * FROM UNNEST($1::int8[], $2::int8[], $3::text[], $4::text[], $5::text[], \
             $6::text[], $7::text[], $8::text[])";
        // WITH ORDINALITY … ORDER BY: ids follow the order of the group. Placeholders from $9.
        const CERTS: &str = "INSERT INTO certificates (serial_hex, issuer_id, profile, subject, sans, not_before, \
             not_after, requester, key_algorithm, fingerprint, spki_sha256, der, created_at) \
             SELECT s, i, p, sub, sa, nb, na, r, k, f, sp, d, ca FROM UNNEST($9::text[], $10::text[], \
             $11::text[], $12::text[], $13::text[], $14::int8[], $15::int8[], $16::text[], $17::text[], \
             $18::text[], $19::text[], $20::bytea[], $21::int8[]) WITH ORDINALITY \
             AS t(s, i, p, sub, sa, nb, na, r, k, f, sp, d, ca, o) ORDER BY o";
        if self.audits.is_empty() && self.certs.is_empty() {
            return Ok(true);
        }
        let a = std::mem::take(&mut self.audits);
        let c = std::mem::take(&mut self.certs);
        let mut sans = Vec::with_capacity(c.len());
        for cert in &c {
            sans.push(
                serde_json::to_string(&cert.sans)
                    .map_err(|e| sqlx::Error::Protocol(format!("sans do not encode: {e}")))?,
            );
        }
        let sql = match (a.is_empty(), c.is_empty()) {
            (false, true) => AUDIT.to_owned(),
            // $1..$8 are bound (empty arrays) and unused: a certificate always comes with
            // its audit entry, so this is only a safety net.
            (true, false) => format!(
                "WITH unused AS (SELECT $1::int8[], $2::int8[], $3::text[], \
                 $4::text[], $5::text[], $6::text[], $7::text[], $8::text[]) {CERTS}"
            ),
            _ => format!("WITH audit AS ({AUDIT}) {CERTS}"),
        };
        let mut query = sqlx::query(AssertSqlSafe(sql))
            .bind(a.iter().map(|e| e.seq).collect::<Vec<_>>())
            .bind(a.iter().map(|e| e.ts).collect::<Vec<_>>())
            .bind(a.iter().map(|e| e.actor.as_str()).collect::<Vec<_>>())
            .bind(a.iter().map(|e| e.action.as_str()).collect::<Vec<_>>())
            .bind(a.iter().map(|e| e.subject.as_str()).collect::<Vec<_>>())
            .bind(a.iter().map(|e| e.detail.as_str()).collect::<Vec<_>>())
            .bind(a.iter().map(|e| e.prev_hash.as_str()).collect::<Vec<_>>())
            .bind(a.iter().map(|e| e.hash.as_str()).collect::<Vec<_>>());
        if !c.is_empty() {
            query = query
                .bind(c.iter().map(|x| x.serial_hex.as_str()).collect::<Vec<_>>())
                .bind(c.iter().map(|x| x.issuer_id.as_str()).collect::<Vec<_>>())
                .bind(c.iter().map(|x| x.profile.as_str()).collect::<Vec<_>>())
                .bind(c.iter().map(|x| x.subject.as_str()).collect::<Vec<_>>())
                .bind(sans)
                .bind(c.iter().map(|x| x.not_before).collect::<Vec<_>>())
                .bind(c.iter().map(|x| x.not_after).collect::<Vec<_>>())
                .bind(c.iter().map(|x| x.requester.as_str()).collect::<Vec<_>>())
                .bind(
                    c.iter()
                        .map(|x| x.key_algorithm.as_str())
                        .collect::<Vec<_>>(),
                )
                .bind(c.iter().map(|x| x.fingerprint.as_str()).collect::<Vec<_>>())
                .bind(c.iter().map(|x| x.spki_sha256.as_str()).collect::<Vec<_>>())
                .bind(c.iter().map(|x| x.der.as_slice()).collect::<Vec<_>>())
                .bind(c.iter().map(|x| x.created_at).collect::<Vec<_>>());
        }
        match query.execute(&mut *conn).await {
            Ok(_) => Ok(true),
            Err(error) => refused(error),
        }
    }
}

/// A failed bulk INSERT: a refusal by the database means "redo carefully"; anything
/// else (connection lost) fails the group.
fn refused(error: sqlx::Error) -> Result<bool, sqlx::Error> {
    if db_kind(&error).is_some() || matches!(error, sqlx::Error::Database(_)) {
        tracing::info!(%error, "bulk write refused; redoing the group job by job");
        Ok(false)
    } else {
        Err(error)
    }
}

/// Append `audit` after `head`; the entry written.
async fn append(
    conn: &mut PgConnection,
    head: &Head,
    audit: &NewAuditEntry,
) -> Result<AuditEntry, StoreError> {
    let Head { seq, hash } = head.next(audit);
    sqlx::query(
        "INSERT INTO audit_log (seq, ts, actor, action, subject, detail, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(seq)
    .bind(audit.ts)
    .bind(&audit.actor)
    .bind(&audit.action)
    .bind(&audit.subject)
    .bind(&audit.detail)
    .bind(&head.hash)
    .bind(&hash)
    .execute(&mut *conn)
    .await?;
    Ok(AuditEntry {
        seq,
        ts: audit.ts,
        actor: audit.actor.clone(),
        action: audit.action.clone(),
        subject: audit.subject.clone(),
        detail: audit.detail.clone(),
        prev_hash: head.hash.clone(),
        hash,
    })
}

/// Run one job (inside its savepoint); its answer and the new chain head.
async fn apply(conn: &mut PgConnection, head: &Head, op: &Op) -> Result<(Done, Head), StoreError> {
    use sqlx::error::ErrorKind;
    let (done, audit) = match op {
        Op::Issue { cert, audit } => {
            insert_certificate(conn, cert).await?;
            (Done::Unit, audit)
        }
        Op::Audit { audit } => {
            let entry = append(conn, head, audit).await?;
            let next = Head {
                seq: entry.seq,
                hash: entry.hash.clone(),
            };
            return Ok((Done::Audit(entry), next));
        }
        Op::Revoke {
            serial_hex,
            revoked_at,
            reason,
            audit,
        } => {
            let cert = revoke(conn, serial_hex, *revoked_at, *reason).await?;
            (Done::Certificate(Box::new(cert)), audit)
        }
        Op::Issuer { issuer, audit } => {
            insert_issuer(conn, issuer).await?;
            (Done::Unit, audit)
        }
        Op::Token { token, audit } => {
            insert_token(conn, token).await?;
            (Done::Unit, audit)
        }
        Op::BlockKey {
            spki_sha256,
            reason,
            source_serial,
            at,
            audit,
        } => {
            let done = sqlx::query(
                "INSERT INTO blocked_keys (spki_sha256, reason, source_serial, blocked_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (spki_sha256) DO NOTHING",
            )
            .bind(spki_sha256)
            .bind(reason)
            .bind(source_serial)
            .bind(*at)
            .execute(&mut *conn)
            .await?;
            (Done::Number(done.rows_affected() as i64), audit)
        }
        Op::CrlNumber { issuer_id, audit } => {
            let n: i64 = sqlx::query_scalar(
                "INSERT INTO crl_numbers (issuer_id, last_number) VALUES ($1, 1) \
                 ON CONFLICT (issuer_id) DO UPDATE SET last_number = crl_numbers.last_number + 1 \
                 RETURNING last_number",
            )
            .bind(issuer_id)
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| match db_kind(&e) {
                Some(ErrorKind::ForeignKeyViolation) => StoreError::NotFound {
                    what: format!("issuer {issuer_id}"),
                },
                _ => e.into(),
            })?;
            (Done::Number(n), audit)
        }
        Op::Enrollment(write) => {
            let (done, changed) = super::enrollment::apply(conn, write).await?;
            if !changed {
                // A use of a spent, expired or revoked token: nothing written.
                return Ok((done, head.clone()));
            }
            (done, write.audit())
        }
        Op::Inventory(write) => {
            let (done, changed) = super::inventory::apply(conn, write).await?;
            match write.audit() {
                Some(audit) if changed => (done, audit),
                _ => return Ok((done, head.clone())),
            }
        }
        Op::Acme(write) => {
            let (done, changed) = super::acme::apply(conn, write).await?;
            match write.audit() {
                Some(audit) if changed => (done, audit),
                // A compare-and-set that lost (nothing written) or a write outside the
                // audit chain (a redeemed nonce): nothing to audit.
                _ => return Ok((done, head.clone())),
            }
        }
    };
    let entry = append(conn, head, audit).await?;
    Ok((
        done,
        Head {
            seq: entry.seq,
            hash: entry.hash,
        },
    ))
}

async fn insert_certificate(
    conn: &mut PgConnection,
    cert: &NewCertificate,
) -> Result<(), StoreError> {
    use sqlx::error::ErrorKind;
    let sans = serde_json::to_string(&cert.sans)
        .map_err(|e| StoreError::Corrupt(format!("sans do not encode: {e}")))?;
    let inserted = sqlx::query(
        "INSERT INTO certificates (serial_hex, issuer_id, profile, subject, sans, not_before, not_after, \
         requester, key_algorithm, fingerprint, spki_sha256, der, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(&cert.serial_hex)
    .bind(&cert.issuer_id)
    .bind(&cert.profile)
    .bind(&cert.subject)
    .bind(sans)
    .bind(cert.not_before)
    .bind(cert.not_after)
    .bind(&cert.requester)
    .bind(&cert.key_algorithm)
    .bind(&cert.fingerprint)
    .bind(&cert.spki_sha256)
    .bind(&cert.der)
    .bind(cert.created_at)
    .execute(&mut *conn)
    .await;
    match inserted {
        Ok(_) => Ok(()),
        Err(e) if db_kind(&e) == Some(ErrorKind::UniqueViolation) => {
            Err(StoreError::DuplicateSerial {
                issuer_id: cert.issuer_id.clone(),
                serial: cert.serial_hex.clone(),
            })
        }
        Err(e) if db_kind(&e) == Some(ErrorKind::ForeignKeyViolation) => {
            Err(StoreError::NotFound {
                what: format!("issuer {}", cert.issuer_id),
            })
        }
        Err(e) if e.to_string().contains("mooring: blocked key") => Err(StoreError::KeyBlocked {
            spki_sha256: cert.spki_sha256.clone(),
        }),
        Err(e) => Err(e.into()),
    }
}

async fn revoke(
    conn: &mut PgConnection,
    serial_hex: &str,
    revoked_at: i64,
    reason: i32,
) -> Result<CertificateRecord, StoreError> {
    let status: Option<String> =
        sqlx::query_scalar("SELECT status FROM certificates WHERE serial_hex = $1")
            .bind(serial_hex)
            .fetch_optional(&mut *conn)
            .await?;
    match status.as_deref() {
        None => {
            return Err(StoreError::NotFound {
                what: format!("certificate {serial_hex}"),
            });
        }
        Some("revoked") => {
            return Err(StoreError::AlreadyRevoked {
                serial: serial_hex.to_owned(),
            });
        }
        Some(_) => {}
    }
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE certificates SET status = 'revoked', revoked_at = $2, revocation_reason = $3, \
         revocation_seq = (SELECT COALESCE(MAX(revocation_seq), 0) + 1 FROM certificates \
         WHERE revocation_seq IS NOT NULL) WHERE serial_hex = $1 RETURNING {CERT_COLUMNS}"
    )))
    .bind(serial_hex)
    .bind(revoked_at)
    .bind(reason)
    .fetch_one(&mut *conn)
    .await?;
    // Delivered to every listening node when the transaction commits.
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(REVOCATION_CHANNEL)
        .bind(serial_hex)
        .execute(&mut *conn)
        .await?;
    cert_from_row(&row)
}

async fn insert_issuer(conn: &mut PgConnection, issuer: &IssuerRecord) -> Result<(), StoreError> {
    use sqlx::error::ErrorKind;
    let inserted = sqlx::query(
        "INSERT INTO issuers (id, kind, algorithm, cert_der, parent_id, key_ref, fingerprint, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&issuer.id)
    .bind(&issuer.kind)
    .bind(&issuer.algorithm)
    .bind(&issuer.cert_der)
    .bind(&issuer.parent_id)
    .bind(&issuer.key_ref)
    .bind(&issuer.fingerprint)
    .bind(issuer.created_at)
    .execute(&mut *conn)
    .await;
    match inserted {
        Ok(_) => Ok(()),
        Err(e) if db_kind(&e) == Some(ErrorKind::UniqueViolation) => Err(StoreError::Conflict {
            what: format!("issuer {}", issuer.id),
        }),
        Err(e) if db_kind(&e) == Some(ErrorKind::ForeignKeyViolation) => {
            Err(StoreError::NotFound {
                what: format!(
                    "parent issuer {}",
                    issuer.parent_id.as_deref().unwrap_or("")
                ),
            })
        }
        Err(e) => Err(e.into()),
    }
}

async fn insert_token(conn: &mut PgConnection, token: &AdminTokenRecord) -> Result<(), StoreError> {
    use sqlx::error::ErrorKind;
    let inserted = sqlx::query(
        "INSERT INTO admin_tokens (id, secret_sha256, name, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(&token.id)
    .bind(&token.secret_sha256)
    .bind(&token.name)
    .bind(token.created_at)
    .execute(&mut *conn)
    .await;
    match inserted {
        Ok(_) => Ok(()),
        Err(e) if db_kind(&e) == Some(ErrorKind::UniqueViolation) => Err(StoreError::Conflict {
            what: format!("admin token {}", token.id),
        }),
        Err(e) => Err(e.into()),
    }
}
