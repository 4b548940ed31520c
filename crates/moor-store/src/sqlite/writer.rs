//! The single writer of a [`super::SqliteStore`], with group commit.
//!
//! Every write of the store is a [`Job`] sent over one channel to one task.
//! The task takes everything queued (up to [`MAX_BATCH`]) and runs it in one
//! `BEGIN IMMEDIATE` transaction:
//!
//! 1. read the audit chain's head (seq, hash) inside the transaction — another
//!    process may have appended since the last group;
//! 2. write the jobs in arrival order:
//!    - a run of consecutive issuances is written in bulk: one query finds the
//!      serials already taken and the issuers that exist, the jobs that would
//!      fail are answered with `DuplicateSerial` / `NotFound` and write
//!      nothing, the others go in with a few multi-row INSERTs (certificates,
//!      then their audit entries). The run sits in a savepoint; should an
//!      INSERT fail anyway, it is rolled back and the run retried job by job;
//!    - any other job (and the retry) runs in its own `SAVEPOINT`: if it fails
//!      it is rolled back to it, leaving neither row nor audit entry;
//!    - the chain head advances only over jobs that succeeded;
//! 3. commit once (one fsync for the whole group), then answer every caller.
//!
//! A group of one skips the savepoints (its failure rolls back the transaction).
//! No caller hears "ok" before the commit holding its write returned. If the
//! transaction cannot begin or commit, every caller of the group gets the
//! error and nothing of the group is written; the connection is then replaced.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::error::ErrorKind;
use sqlx::sqlite::{SqliteConnection, SqlitePool};
use sqlx::{AssertSqlSafe, Connection, Row};
use tokio::sync::{mpsc, oneshot};

use super::{cert_columns, cert_from_row};
use crate::{
    AdminTokenRecord, AuditEntry, CertificateRecord, GENESIS_HASH, IssuerRecord, NewAuditEntry,
    NewCertificate, StoreError, audit_entry_hash,
};

/// Most jobs committed by one transaction.
pub(super) const MAX_BATCH: usize = 512;

/// One write, as the writer task receives it.
pub(super) struct Job {
    pub(super) op: Op,
    pub(super) reply: oneshot::Sender<Result<Done, StoreError>>,
}

/// What to write.
pub(super) enum Op {
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
}

/// What a committed job answers.
pub(super) enum Done {
    Unit,
    Audit(AuditEntry),
    Certificate(Box<CertificateRecord>),
}

/// Counters of the writer since the store was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Transactions run (committed or not).
    pub batches: u64,
    /// Jobs handled (each write call is one job).
    pub jobs: u64,
    /// The largest group committed by one transaction.
    pub max_batch: u64,
}

#[derive(Debug, Default)]
pub(super) struct Stats {
    batches: AtomicU64,
    jobs: AtomicU64,
    max_batch: AtomicU64,
}

impl Stats {
    pub(super) fn snapshot(&self) -> WriteStats {
        WriteStats {
            batches: self.batches.load(Ordering::Relaxed),
            jobs: self.jobs.load(Ordering::Relaxed),
            max_batch: self.max_batch.load(Ordering::Relaxed),
        }
    }

    fn record(&self, jobs: usize) {
        let jobs = jobs as u64;
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.jobs.fetch_add(jobs, Ordering::Relaxed);
        self.max_batch.fetch_max(jobs, Ordering::Relaxed);
    }
}

/// The writer task: runs until every sender is dropped and the queue is empty.
pub(super) async fn run(pool: SqlitePool, mut rx: mpsc::Receiver<Job>, stats: Arc<Stats>) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let (ops, replies): (Vec<Op>, Vec<_>) = jobs.drain(..).map(|j| (j.op, j.reply)).unzip();
        stats.record(ops.len());
        match write_batch(&pool, &ops).await {
            Ok(results) => {
                for (reply, result) in replies.into_iter().zip(results) {
                    // A caller that went away still had its write committed.
                    let _ = reply.send(result);
                }
            }
            Err(error) => {
                tracing::error!(%error, jobs = ops.len(), "sqlite write batch failed; nothing of it was written");
                let shared = format!("write batch failed, nothing was written: {error}");
                let mut first = Some(error);
                for reply in replies {
                    // sqlx::Error is not Clone: the first caller gets the original,
                    // the others an I/O error carrying its text.
                    let e = first
                        .take()
                        .unwrap_or_else(|| sqlx::Error::Io(std::io::Error::other(shared.clone())));
                    let _ = reply.send(Err(StoreError::Database(e)));
                }
            }
        }
    }
    pool.close().await;
}

/// The audit chain's last (seq, hash).
#[derive(Debug, Clone)]
struct Head {
    seq: i64,
    hash: String,
}

/// Run `ops` in one transaction; the per-job results, or the error that
/// stopped the whole transaction (nothing committed).
async fn write_batch(
    pool: &SqlitePool,
    ops: &[Op],
) -> Result<Vec<Result<Done, StoreError>>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let result = write_batch_on(&mut conn, ops).await;
    if result.is_err() {
        // After an error SQLite may have rolled the transaction back on its own
        // (I/O error, disk full), and then sqlx's own ROLLBACK fails and leaves
        // the connection believing it is still inside a transaction. Closing
        // the handle ends any transaction for sure; the pool opens a new one.
        conn.close_on_drop();
    }
    result
}

async fn write_batch_on(
    conn: &mut SqliteConnection,
    ops: &[Op],
) -> Result<Vec<Result<Done, StoreError>>, sqlx::Error> {
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    let mut head = read_head(&mut tx).await?;

    if let [op] = ops {
        // Alone in its transaction: no savepoint needed, a failure rolls it all back.
        return match apply(&mut tx, &head, op).await {
            Ok((done, _)) => {
                tx.commit().await?;
                Ok(vec![Ok(done)])
            }
            Err(e) => match tx.rollback().await {
                Ok(()) => Ok(vec![Err(e)]),
                Err(rollback) => {
                    tracing::error!(error = %e, %rollback, "sqlite rollback failed after a refused write");
                    Err(rollback)
                }
            },
        };
    }

    let mut results = Vec::with_capacity(ops.len());
    let mut i = 0;
    while i < ops.len() {
        // A run of issuances is written with a few multi-row statements.
        let run = ops[i..]
            .iter()
            .take_while(|op| matches!(op, Op::Issue { .. }))
            .count();
        // If the bulk insert fails it is rolled back, and the run is taken one
        // job at a time below, so each job gets its own answer.
        if run >= 2
            && let Some((done, new_head)) = bulk_issue(&mut tx, &head, &ops[i..i + run]).await?
        {
            results.extend(done);
            head = new_head;
            i += run;
            continue;
        }
        for op in &ops[i..i + run.max(1)] {
            sqlx::query("SAVEPOINT job").execute(&mut *tx).await?;
            match apply(&mut tx, &head, op).await {
                Ok((done, new_head)) => {
                    sqlx::query("RELEASE job").execute(&mut *tx).await?;
                    head = new_head;
                    results.push(Ok(done));
                }
                Err(e) => {
                    // If SQLite already rolled the whole transaction back (I/O error,
                    // disk full), the savepoint is gone and this fails the batch.
                    sqlx::query("ROLLBACK TO job").execute(&mut *tx).await?;
                    sqlx::query("RELEASE job").execute(&mut *tx).await?;
                    results.push(Err(e));
                }
            }
        }
        i += run.max(1);
    }
    tx.commit().await?;
    Ok(results)
}

/// Row counts up to this get a statement of their own size.
const EXACT_ROWS: usize = 32;
/// Largest number of rows in one multi-row INSERT.
const MAX_ROWS: usize = 256;

/// Split `n` rows into chunks: exact below [`EXACT_ROWS`], powers of two up to
/// [`MAX_ROWS`] above, so a group is at most a few statements and only about
/// 35 distinct statements per table are ever prepared (and cached).
fn chunk_sizes(mut n: usize) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        let size = match n {
            0 => return None,
            n if n <= EXACT_ROWS => n,
            n => (1 << n.ilog2()).min(MAX_ROWS),
        };
        n -= size;
        Some(size)
    })
}

/// `INSERT INTO {table} ({columns}) VALUES (?, …), …` for `rows` rows: placeholders only.
fn multi_row_insert(table: &str, columns: &[&str], rows: usize) -> String {
    let row = format!("({})", vec!["?"; columns.len()].join(", "));
    format!(
        "INSERT INTO {table} ({}) VALUES {}",
        columns.join(", "),
        vec![row; rows].join(", ")
    )
}

const CERT_INSERT_COLUMNS: [&str; 13] = [
    "serial_hex",
    "issuer_id",
    "profile",
    "subject",
    "sans",
    "not_before",
    "not_after",
    "requester",
    "key_algorithm",
    "fingerprint",
    "spki_sha256",
    "der",
    "created_at",
];
const AUDIT_INSERT_COLUMNS: [&str; 8] = [
    "seq",
    "ts",
    "actor",
    "action",
    "subject",
    "detail",
    "prev_hash",
    "hash",
];

/// Record a run of issuances (all `Op::Issue`) with multi-row statements.
///
/// Duplicate serials (already stored, or earlier in the run) and unknown
/// issuers are found by query first — the write lock is held, so nothing can
/// change in between — and answered with their error; the rest are inserted.
/// Everything happens inside one savepoint: if an insert fails anyway, the
/// run is rolled back and `Ok(None)` asks the caller to retry it job by job.
async fn bulk_issue(
    conn: &mut SqliteConnection,
    head: &Head,
    run: &[Op],
) -> Result<Option<(Vec<Result<Done, StoreError>>, Head)>, sqlx::Error> {
    sqlx::query("SAVEPOINT bulk").execute(&mut *conn).await?;
    match try_bulk_issue(conn, head, run).await {
        Ok(done) => {
            sqlx::query("RELEASE bulk").execute(&mut *conn).await?;
            Ok(Some(done))
        }
        Err(error) => {
            tracing::warn!(%error, jobs = run.len(), "bulk issuance insert failed; retrying job by job");
            sqlx::query("ROLLBACK TO bulk").execute(&mut *conn).await?;
            sqlx::query("RELEASE bulk").execute(&mut *conn).await?;
            Ok(None)
        }
    }
}

async fn try_bulk_issue(
    conn: &mut SqliteConnection,
    head: &Head,
    run: &[Op],
) -> Result<(Vec<Result<Done, StoreError>>, Head), sqlx::Error> {
    let jobs: Vec<(&NewCertificate, &NewAuditEntry)> = run
        .iter()
        .filter_map(|op| match op {
            Op::Issue { cert, audit } => Some((cert, audit)),
            _ => None,
        })
        .collect();
    if jobs.len() != run.len() {
        return Err(sqlx::Error::Protocol(
            "internal: bulk_issue given a job that is not an issuance".into(),
        ));
    }

    // Which serials are taken and which issuers exist, in one round trip.
    let serials = serde_json::Value::from(
        jobs.iter()
            .map(|(c, _)| c.serial_hex.as_str())
            .collect::<Vec<_>>(),
    )
    .to_string();
    let issuers = serde_json::Value::from(
        jobs.iter()
            .map(|(c, _)| c.issuer_id.as_str())
            .collect::<Vec<_>>(),
    )
    .to_string();
    let rows = sqlx::query(
        "SELECT 0 AS what, serial_hex AS v FROM certificates WHERE serial_hex IN (SELECT value FROM json_each(?1)) \
         UNION ALL SELECT 1, id FROM issuers WHERE id IN (SELECT value FROM json_each(?2))",
    )
    .bind(&serials)
    .bind(&issuers)
    .fetch_all(&mut *conn)
    .await?;
    let mut taken = HashSet::new();
    let mut known = HashSet::new();
    for row in rows {
        let what: i64 = row.try_get("what")?;
        let v: String = row.try_get("v")?;
        if what == 0 {
            taken.insert(v)
        } else {
            known.insert(v)
        };
    }

    let mut results = Vec::with_capacity(jobs.len());
    let mut accepted = Vec::with_capacity(jobs.len());
    // The same answers, in the same order of precedence, as one INSERT per job
    // (SQLite checks UNIQUE before FOREIGN KEY); earlier jobs win a serial.
    for &(cert, audit) in &jobs {
        if taken.contains(&cert.serial_hex) {
            results.push(Err(StoreError::DuplicateSerial {
                issuer_id: cert.issuer_id.clone(),
                serial: cert.serial_hex.clone(),
            }));
        } else if !known.contains(&cert.issuer_id) {
            results.push(Err(StoreError::NotFound {
                what: format!("issuer {}", cert.issuer_id),
            }));
        } else {
            taken.insert(cert.serial_hex.clone());
            results.push(Ok(Done::Unit));
            accepted.push((cert, audit));
        }
    }

    // Certificates (the AFTER INSERT trigger fills certificate_sans).
    let mut rest = accepted.as_slice();
    for size in chunk_sizes(accepted.len()) {
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        let sql = multi_row_insert("certificates", &CERT_INSERT_COLUMNS, size);
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for (cert, _) in chunk {
            let sans = serde_json::Value::from(cert.sans.clone()).to_string();
            query = query
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
                .bind(cert.created_at);
        }
        query.execute(&mut *conn).await?;
    }

    // Their audit entries, chained in the order the certificates were accepted.
    let mut entries = Vec::with_capacity(accepted.len());
    let mut next = head.clone();
    for (_, audit) in &accepted {
        let seq = next.seq + 1;
        let hash = audit_entry_hash(
            &next.hash,
            seq,
            audit.ts,
            &audit.actor,
            &audit.action,
            &audit.subject,
            &audit.detail,
        );
        entries.push((
            seq,
            *audit,
            std::mem::replace(
                &mut next,
                Head {
                    seq,
                    hash: hash.clone(),
                },
            )
            .hash,
            hash,
        ));
    }
    let mut rest = entries.as_slice();
    for size in chunk_sizes(entries.len()) {
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        let sql = multi_row_insert("audit_log", &AUDIT_INSERT_COLUMNS, size);
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for (seq, audit, prev_hash, hash) in chunk {
            query = query
                .bind(*seq)
                .bind(audit.ts)
                .bind(&audit.actor)
                .bind(&audit.action)
                .bind(&audit.subject)
                .bind(&audit.detail)
                .bind(prev_hash)
                .bind(hash);
        }
        query.execute(&mut *conn).await?;
    }
    Ok((results, next))
}

async fn read_head(conn: &mut SqliteConnection) -> Result<Head, sqlx::Error> {
    let row = sqlx::query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        Some(row) => Ok(Head {
            seq: row.try_get("seq")?,
            hash: row.try_get("hash")?,
        }),
        None => Ok(Head {
            seq: 0,
            hash: GENESIS_HASH.to_owned(),
        }),
    }
}

/// Append `audit` after `head`; the entry written.
async fn append(
    conn: &mut SqliteConnection,
    head: &Head,
    audit: &NewAuditEntry,
) -> Result<AuditEntry, StoreError> {
    let seq = head.seq + 1;
    let hash = audit_entry_hash(
        &head.hash,
        seq,
        audit.ts,
        &audit.actor,
        &audit.action,
        &audit.subject,
        &audit.detail,
    );
    sqlx::query(
        "INSERT INTO audit_log (seq, ts, actor, action, subject, detail, prev_hash, hash) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
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

fn kind(e: &sqlx::Error) -> Option<ErrorKind> {
    match e {
        sqlx::Error::Database(db) => Some(db.kind()),
        _ => None,
    }
}

/// Run one job (inside its savepoint); its answer and the new chain head.
async fn apply(
    conn: &mut SqliteConnection,
    head: &Head,
    op: &Op,
) -> Result<(Done, Head), StoreError> {
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
    conn: &mut SqliteConnection,
    cert: &NewCertificate,
) -> Result<(), StoreError> {
    let sans = serde_json::to_string(&cert.sans)
        .map_err(|e| StoreError::Corrupt(format!("sans do not encode: {e}")))?;
    // The AFTER INSERT trigger fills certificate_sans in this same statement.
    let inserted = sqlx::query(
        "INSERT INTO certificates (serial_hex, issuer_id, profile, subject, sans, not_before, not_after, requester, \
         key_algorithm, fingerprint, spki_sha256, der, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
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
        // The only unique key of certificates besides its generated id is serial_hex.
        Err(e) if kind(&e) == Some(ErrorKind::UniqueViolation) => {
            Err(StoreError::DuplicateSerial {
                issuer_id: cert.issuer_id.clone(),
                serial: cert.serial_hex.clone(),
            })
        }
        Err(e) if kind(&e) == Some(ErrorKind::ForeignKeyViolation) => Err(StoreError::NotFound {
            what: format!("issuer {}", cert.issuer_id),
        }),
        Err(e) => Err(e.into()),
    }
}

async fn revoke(
    conn: &mut SqliteConnection,
    serial_hex: &str,
    revoked_at: i64,
    reason: i32,
) -> Result<CertificateRecord, StoreError> {
    let status: Option<String> =
        sqlx::query_scalar("SELECT status FROM certificates WHERE serial_hex = ?1")
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
    let row = sqlx::query(concat!(
        "UPDATE certificates SET status = 'revoked', revoked_at = ?2, revocation_reason = ?3 WHERE serial_hex = ?1 RETURNING ",
        cert_columns!()
    ))
    .bind(serial_hex)
    .bind(revoked_at)
    .bind(reason)
    .fetch_one(&mut *conn)
    .await?;
    cert_from_row(&row)
}

async fn insert_issuer(
    conn: &mut SqliteConnection,
    issuer: &IssuerRecord,
) -> Result<(), StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO issuers (id, kind, algorithm, cert_der, parent_id, key_ref, fingerprint, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
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
        Err(e) if kind(&e) == Some(ErrorKind::UniqueViolation) => Err(StoreError::Conflict {
            what: format!("issuer {}", issuer.id),
        }),
        Err(e) if kind(&e) == Some(ErrorKind::ForeignKeyViolation) => Err(StoreError::NotFound {
            what: format!(
                "parent issuer {}",
                issuer.parent_id.as_deref().unwrap_or("")
            ),
        }),
        Err(e) => Err(e.into()),
    }
}

async fn insert_token(
    conn: &mut SqliteConnection,
    token: &AdminTokenRecord,
) -> Result<(), StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO admin_tokens (id, secret_sha256, name, created_at) VALUES (?1, ?2, ?3, ?4)",
    )
    .bind(&token.id)
    .bind(&token.secret_sha256)
    .bind(&token.name)
    .bind(token.created_at)
    .execute(&mut *conn)
    .await;
    match inserted {
        Ok(_) => Ok(()),
        Err(e) if kind(&e) == Some(ErrorKind::UniqueViolation) => Err(StoreError::Conflict {
            what: format!("admin token {}", token.id),
        }),
        Err(e) => Err(e.into()),
    }
}
