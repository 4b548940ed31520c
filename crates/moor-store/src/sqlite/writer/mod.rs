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

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use tokio::sync::mpsc;

use crate::StoreError;
use crate::acme::AcmeWrite;
pub(super) use crate::write_job::{Done, Head, Job, Op};
use bulk_insert::Command;

mod bulk_insert;
mod careful_path;
mod fast_path;
mod statements;

use careful_path::write_slow;
use fast_path::write_fast;

/// Most jobs committed by one transaction.
pub(super) const MAX_BATCH: usize = 512;

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
        let (nonces, others): (Vec<Job>, Vec<Job>) = jobs.drain(..).partition(
            |j| matches!(&j.op, Op::Acme(w) if matches!(**w, AcmeWrite::RedeemNonce { .. })),
        );
        if !nonces.is_empty() {
            writer.redeem_nonces(nonces).await;
        }
        if others.is_empty() {
            continue;
        }
        let (ops, replies): (Vec<Op>, Vec<_>) = others.into_iter().map(|j| (j.op, j.reply)).unzip();
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
    /// Redeemed ACME nonces of a group (not audited): one command, one multi-row INSERT
    /// in a transaction of their own, committed without an fsync (`synchronous=NORMAL`
    /// for it: the next durable commit's fsync covers its WAL frames; a crash before that
    /// forgets the newest redemptions, as a crash forgets nonces anyway). A value redeemed
    /// twice in one group is new for its first job only.
    async fn redeem_nonces(&mut self, jobs: Vec<Job>) {
        let mut cmd = Command::default();
        cmd.push("PRAGMA synchronous = NORMAL");
        cmd.push("BEGIN IMMEDIATE");
        let mut values = Vec::with_capacity(jobs.len());
        let mut sql = String::from("INSERT INTO acme_used_nonces (value, expires_at) VALUES ");
        let mut bound = Ok(());
        for (i, job) in jobs.iter().enumerate() {
            if let Op::Acme(w) = &job.op
                && let AcmeWrite::RedeemNonce { value, expires_at } = &**w
            {
                sql.push_str(if i == 0 { "(?, ?)" } else { ", (?, ?)" });
                bound = bound
                    .and(cmd.bind(value.as_str()))
                    .and(cmd.bind(*expires_at));
                values.push(value.clone());
            }
        }
        sql.push_str(" ON CONFLICT (value) DO NOTHING RETURNING value");
        cmd.push(&sql);
        cmd.push("COMMIT");
        cmd.push("PRAGMA synchronous = FULL");
        let result = match bound {
            Ok(()) => match self.connection().await {
                Ok(conn) => cmd.run(conn).await,
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        self.stats.record(jobs.len());
        match result {
            Ok(rows) => {
                let mut fresh: std::collections::HashSet<String> = rows
                    .iter()
                    .filter_map(|r| sqlx::Row::try_get::<String, _>(r, "value").ok())
                    .collect();
                for (job, value) in jobs.into_iter().zip(values.iter()) {
                    let n = i64::from(fresh.remove(value));
                    let _ = job.reply.send(Ok(Done::Number(n)));
                }
            }
            Err(error) => {
                tracing::error!(%error, "sqlite: redeeming nonces failed");
                self.drop_connection().await;
                let text = error.to_string();
                for job in jobs {
                    let _ = job.reply.send(Err(StoreError::Database(sqlx::Error::Io(
                        std::io::Error::other(text.clone()),
                    ))));
                }
            }
        }
    }

    /// The connection, opened anew after a failure.
    async fn connection(&mut self) -> Result<&mut SqliteConnection, sqlx::Error> {
        if self.conn.is_none() {
            self.conn = Some(SqliteConnection::connect_with(&self.options).await?);
        }
        self.conn
            .as_mut()
            .ok_or_else(|| sqlx::Error::Io(std::io::Error::other("no writer connection")))
    }

    /// Close the connection after an error (ending any transaction it left open).
    async fn drop_connection(&mut self) {
        self.head = None;
        if let Some(conn) = self.conn.take()
            && let Err(close) = conn.close().await
        {
            tracing::warn!(%close, "closing the failed sqlite writer connection failed");
        }
    }

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
