//! The single writer of a [`super::SqliteStore`], with group commit.
//!
//! Every write of the store is a [`Job`] sent over one channel to one task.
//! The task takes everything queued (up to [`MAX_BATCH`]) and runs it in one
//! `BEGIN IMMEDIATE` transaction, committed once (one fsync for the whole
//! group) before any caller is answered.
//!
//! The writer owns its connection (no pool: a pool pings the connection on
//! every acquire and release). sqlx runs each SQLite connection on a thread of
//! its own, and every command handed to that thread costs two context switches
//! — more than most statements here take to run — so a group is sent as few
//! multi-statement commands as possible:
//!
//! - **fast path** — a group of issuances and audit entries only, when the
//!   chain head this writer committed last is known: one command,
//!   `BEGIN IMMEDIATE; INSERT audit_log …; INSERT certificates …; COMMIT`,
//!   the entries chained to the remembered head. The first entry's INSERT
//!   reads the head inside the transaction and fails unless it is still the
//!   remembered one (another process may have appended), so the chain cannot
//!   fork. A duplicate serial or an unknown issuer fails an INSERT too. On any
//!   failure the transaction is rolled back and the group is redone:
//! - **careful path** — one command begins, reads the chain head and finds
//!   which serials are taken and which issuers exist; the jobs that would fail
//!   are answered with `DuplicateSerial` / `NotFound` and write nothing, and
//!   the rest go in with a second command (multi-row INSERTs in a savepoint,
//!   then COMMIT). Should an INSERT fail anyway, the savepoint is rolled back
//!   and the jobs are retried one by one, each in its own savepoint, so a
//!   failing job leaves neither row nor audit entry. Other jobs (revocations,
//!   issuers, tokens) also run one by one. The chain head advances only over
//!   jobs that succeeded.
//!
//! No caller hears "ok" before the commit holding its write returned. If the
//! transaction cannot begin or commit, every caller of the group gets the
//! error and nothing of the group is written; the connection is then replaced.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::error::ErrorKind;
use sqlx::sqlite::{Sqlite, SqliteArguments, SqliteConnectOptions, SqliteConnection, SqliteRow};
use sqlx::{Arguments, AssertSqlSafe, Connection, Row};
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
}

/// What a committed job answers.
pub(super) enum Done {
    Unit,
    Number(i64),
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
    /// Groups whose one-command write failed (another process appended to the
    /// audit log, a duplicate serial, an unknown issuer, a failed INSERT or
    /// COMMIT) and that were rolled back and redone the careful way.
    pub redone: u64,
}

#[derive(Debug, Default)]
pub(super) struct Stats {
    batches: AtomicU64,
    jobs: AtomicU64,
    max_batch: AtomicU64,
    redone: AtomicU64,
}

impl Stats {
    pub(super) fn snapshot(&self) -> WriteStats {
        WriteStats {
            batches: self.batches.load(Ordering::Relaxed),
            jobs: self.jobs.load(Ordering::Relaxed),
            max_batch: self.max_batch.load(Ordering::Relaxed),
            redone: self.redone.load(Ordering::Relaxed),
        }
    }

    fn record(&self, jobs: usize) {
        let jobs = jobs as u64;
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.jobs.fetch_add(jobs, Ordering::Relaxed);
        self.max_batch.fetch_max(jobs, Ordering::Relaxed);
    }
}

/// Batches the writer runs the careful way after the fast path failed, before
/// it tries the fast path again (another process writing to the same file
/// would otherwise make every fast attempt fail and be redone).
const SLOW_AFTER_FAILURE: u32 = 16;

/// The writer task: runs until every sender is dropped and the queue is empty.
pub(super) async fn run(
    options: SqliteConnectOptions,
    conn: SqliteConnection,
    mut rx: mpsc::Receiver<Job>,
    stats: Arc<Stats>,
) {
    let mut writer = Writer {
        options,
        conn: Some(conn),
        head: None,
        slow: 0,
        stats: Arc::clone(&stats),
    };
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let (ops, replies): (Vec<Op>, Vec<_>) = jobs.drain(..).map(|j| (j.op, j.reply)).unzip();
        stats.record(ops.len());
        match writer.write_batch(&ops).await {
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
    if let Some(conn) = writer.conn.take()
        && let Err(error) = conn.close().await
    {
        tracing::warn!(%error, "closing the sqlite writer connection failed");
    }
}

/// The audit chain's last (seq, hash).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Head {
    seq: i64,
    hash: String,
}

impl Head {
    fn genesis() -> Head {
        Head {
            seq: 0,
            hash: GENESIS_HASH.to_owned(),
        }
    }
}

/// The writer's connection and what it remembers between batches.
struct Writer {
    /// To open a new connection after one was dropped.
    options: SqliteConnectOptions,
    /// `None` after a failed batch: the next one opens a new connection.
    conn: Option<SqliteConnection>,
    /// The chain head as this writer's last commit left it; `None` when unknown.
    head: Option<Head>,
    /// Batches left to run the careful way before trying the fast path again.
    slow: u32,
    stats: Arc<Stats>,
}

impl Writer {
    /// Run `ops` in one transaction; the per-job results, or the error that
    /// stopped the whole transaction (nothing committed).
    async fn write_batch(
        &mut self,
        ops: &[Op],
    ) -> Result<Vec<Result<Done, StoreError>>, sqlx::Error> {
        let conn = match &mut self.conn {
            Some(conn) => conn,
            None => self
                .conn
                .insert(SqliteConnection::connect_with(&self.options).await?),
        };
        // Forgotten unless this batch commits.
        let cached = self.head.take();
        let fast_ok = self.slow == 0
            && ops
                .iter()
                .all(|op| matches!(op, Op::Issue { .. } | Op::Audit { .. }));
        self.slow = self.slow.saturating_sub(1);

        let mut result = None;
        if let Some(head) = cached.filter(|_| fast_ok) {
            match write_fast(conn, &head, ops).await {
                Ok(Some(done)) => result = Some(Ok(done)),
                Ok(None) => {
                    self.stats.redone.fetch_add(1, Ordering::Relaxed);
                    self.slow = SLOW_AFTER_FAILURE;
                }
                Err(e) => result = Some(Err(e)),
            }
        }
        let result = match result {
            Some(result) => result,
            None => write_slow(conn, ops).await,
        };
        match result {
            Ok((results, head)) => {
                self.head = Some(head);
                Ok(results)
            }
            Err(error) => {
                // After an error SQLite may have rolled the transaction back on
                // its own (I/O error, disk full), or it may still be open (failed
                // COMMIT). Closing the handle ends any transaction for sure; the
                // next batch opens a new connection.
                if let Some(conn) = self.conn.take()
                    && let Err(close) = conn.close().await
                {
                    tracing::warn!(%close, "closing the failed sqlite writer connection failed");
                }
                Err(error)
            }
        }
    }
}

type Written = (Vec<Result<Done, StoreError>>, Head);

/// Several statements (separated by `;`) and their arguments, in order, sent to
/// SQLite's worker thread as one command: each hand-off to that thread costs
/// two context switches, more than most of these statements take to run.
///
/// The statements use plain `?` placeholders only: sqlx binds a multi-statement
/// query's arguments statement after statement, continuing the count, whereas
/// `?NNN` would index the arguments of the whole command.
#[derive(Default)]
struct Command {
    sql: String,
    args: SqliteArguments,
}

impl Command {
    fn push(&mut self, sql: &str) {
        if !self.sql.is_empty() {
            self.sql.push_str(";\n");
        }
        self.sql.push_str(sql);
    }

    fn bind<'t, T>(&mut self, value: T) -> Result<(), sqlx::Error>
    where
        T: sqlx::Encode<'t, Sqlite> + sqlx::Type<Sqlite>,
    {
        self.args.add(value).map_err(sqlx::Error::Encode)
    }

    /// Run every statement; the rows of those that return any. On the first
    /// error SQLite's worker stops: the statements after it do not run, the
    /// ones before it stay done (a transaction they opened is still open).
    async fn run(self, conn: &mut SqliteConnection) -> Result<Vec<SqliteRow>, sqlx::Error> {
        sqlx::query_with(AssertSqlSafe(self.sql), self.args)
            .fetch_all(&mut *conn)
            .await
    }
}

/// Rows in a multi-row INSERT: exact up to 16, then rounded up to 3·2ⁿ or 2ⁿ
/// (24, 32, 48, 64, …, 512) so about 25 statement shapes are ever prepared and
/// cached; the padding rows are all NULL and filtered out.
fn padded_rows(n: usize) -> usize {
    if n <= 16 {
        return n;
    }
    let pow = n.next_power_of_two();
    let three_quarters = pow / 4 * 3;
    if n <= three_quarters {
        three_quarters
    } else {
        pow
    }
}

// 512 rows × 13 columns stays well below SQLite's 32766 bound parameters.
const _: () = assert!(MAX_BATCH <= 512);

/// Append `INSERT INTO {table} ({columns}) SELECT * FROM (VALUES …) WHERE column1
/// IS NOT NULL` for `rows` real rows (padded with NULL rows, see [`padded_rows`]).
/// `first` replaces the first row's placeholders when given.
fn push_insert(cmd: &mut Command, table: &str, columns: &[&str], rows: usize, first: Option<&str>) {
    let row = format!("({})", vec!["?"; columns.len()].join(", "));
    let mut sql = format!(
        "INSERT INTO {table} ({}) SELECT * FROM (VALUES ",
        columns.join(", ")
    );
    for i in 0..padded_rows(rows) {
        if i > 0 {
            sql.push_str(", ");
        }
        match first {
            Some(first) if i == 0 => sql.push_str(first),
            _ => sql.push_str(&row),
        }
    }
    sql.push_str(") WHERE column1 IS NOT NULL");
    cmd.push(&sql);
}

/// Bind the NULLs of the padding rows.
fn bind_padding(cmd: &mut Command, columns: usize, rows: usize) -> Result<(), sqlx::Error> {
    for _ in 0..(padded_rows(rows) - rows) * columns {
        cmd.bind(None::<i64>)?;
    }
    Ok(())
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

/// The first audit row of a fast group: its `prev_hash` is NULL — and the
/// INSERT fails on the NOT NULL constraint — unless the chain head read inside
/// this transaction is the one the entries were chained to.
const GUARDED_AUDIT_ROW: &str = "(?, ?, ?, ?, ?, ?, \
     (SELECT ? WHERE coalesce( \
         (SELECT seq || ' ' || hash FROM audit_log ORDER BY seq DESC LIMIT 1), ?) = ?), \
     ?)";

/// `INSERT` the certificates (the AFTER INSERT trigger fills certificate_sans).
fn push_certificates(cmd: &mut Command, certs: &[&NewCertificate]) -> Result<(), sqlx::Error> {
    push_insert(cmd, "certificates", &CERT_INSERT_COLUMNS, certs.len(), None);
    for cert in certs {
        let sans = serde_json::to_string(&cert.sans).map_err(|e| sqlx::Error::Encode(e.into()))?;
        cmd.bind(cert.serial_hex.as_str())?;
        cmd.bind(cert.issuer_id.as_str())?;
        cmd.bind(cert.profile.as_str())?;
        cmd.bind(cert.subject.as_str())?;
        cmd.bind(sans)?;
        cmd.bind(cert.not_before)?;
        cmd.bind(cert.not_after)?;
        cmd.bind(cert.requester.as_str())?;
        cmd.bind(cert.key_algorithm.as_str())?;
        cmd.bind(cert.fingerprint.as_str())?;
        cmd.bind(cert.spki_sha256.as_str())?;
        cmd.bind(cert.der.as_slice())?;
        cmd.bind(cert.created_at)?;
    }
    bind_padding(cmd, CERT_INSERT_COLUMNS.len(), certs.len())
}

/// An audit entry ready to be written.
struct Entry<'a> {
    seq: i64,
    audit: &'a NewAuditEntry,
    prev_hash: String,
    hash: String,
}

impl Entry<'_> {
    fn written(&self) -> AuditEntry {
        AuditEntry {
            seq: self.seq,
            ts: self.audit.ts,
            actor: self.audit.actor.clone(),
            action: self.audit.action.clone(),
            subject: self.audit.subject.clone(),
            detail: self.audit.detail.clone(),
            prev_hash: self.prev_hash.clone(),
            hash: self.hash.clone(),
        }
    }
}

/// Chain `audits` after `head`; the entries and the new head.
fn chain<'a>(
    head: &Head,
    audits: impl IntoIterator<Item = &'a NewAuditEntry>,
) -> (Vec<Entry<'a>>, Head) {
    let mut next = head.clone();
    let entries = audits
        .into_iter()
        .map(|audit| {
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
            let prev_hash = std::mem::replace(
                &mut next,
                Head {
                    seq,
                    hash: hash.clone(),
                },
            )
            .hash;
            Entry {
                seq,
                audit,
                prev_hash,
                hash,
            }
        })
        .collect();
    (entries, next)
}

/// `INSERT` the audit entries; with `guard`, only if the chain head is still `guard`.
fn push_audit(
    cmd: &mut Command,
    entries: &[Entry<'_>],
    guard: Option<&Head>,
) -> Result<(), sqlx::Error> {
    push_insert(
        cmd,
        "audit_log",
        &AUDIT_INSERT_COLUMNS,
        entries.len(),
        guard.map(|_| GUARDED_AUDIT_ROW),
    );
    for (i, e) in entries.iter().enumerate() {
        cmd.bind(e.seq)?;
        cmd.bind(e.audit.ts)?;
        cmd.bind(e.audit.actor.as_str())?;
        cmd.bind(e.audit.action.as_str())?;
        cmd.bind(e.audit.subject.as_str())?;
        cmd.bind(e.audit.detail.as_str())?;
        cmd.bind(e.prev_hash.as_str())?;
        if let Some(head) = guard.filter(|_| i == 0) {
            let genesis = Head::genesis();
            cmd.bind(format!("{} {}", genesis.seq, genesis.hash))?;
            cmd.bind(format!("{} {}", head.seq, head.hash))?;
        }
        cmd.bind(e.hash.as_str())?;
    }
    bind_padding(cmd, AUDIT_INSERT_COLUMNS.len(), entries.len())
}

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
async fn write_fast(
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
async fn write_slow(conn: &mut SqliteConnection, ops: &[Op]) -> Result<Written, sqlx::Error> {
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
        Op::BlockKey {
            spki_sha256,
            reason,
            source_serial,
            at,
            audit,
        } => {
            let done = sqlx::query(
                "INSERT INTO blocked_keys (spki_sha256, reason, source_serial, blocked_at) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (spki_sha256) DO NOTHING",
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
                "INSERT INTO crl_numbers (issuer_id, last_number) VALUES (?1, 1) \
                 ON CONFLICT (issuer_id) DO UPDATE SET last_number = last_number + 1 RETURNING last_number",
            )
            .bind(issuer_id)
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| match kind(&e) {
                Some(ErrorKind::ForeignKeyViolation) => StoreError::NotFound { what: format!("issuer {issuer_id}") },
                _ => e.into(),
            })?;
            (Done::Number(n), audit)
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
        // Raised by the certificates_refuse_blocked_keys trigger.
        Err(e) if e.to_string().contains("mooring: blocked key") => Err(StoreError::KeyBlocked {
            spki_sha256: cert.spki_sha256.clone(),
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
