//! The embedded SQLite backend.
//!
//! One database file, opened in WAL mode with `synchronous=FULL` (a commit that
//! returned is on disk). Reads go through a small pool of read-only
//! connections, which WAL lets run beside the writer. Every write goes through
//! one writer task that owns the only writing connection of this process and
//! commits in groups (see [`writer`]): concurrent `record_issuance` calls share
//! one transaction and one fsync, which is what makes a durable store fast.
//!
//! Each write transaction starts with `BEGIN IMMEDIATE` and reads the audit
//! chain's head inside it, so several processes on one file (the server and a
//! CLI command) serialise on SQLite's write lock and never fork the chain.

mod acme;
mod enrollment;
mod inventory;
mod writer;

use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteRow, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Connection, Row, SqlSafeStr};
use tokio::sync::{mpsc, oneshot};

use crate::enrollment::EnrollmentStore;
use crate::{
    AcmeStore, AdminTokenRecord, AuditEntry, CertificateFilter, CertificateRecord, CrlRecord,
    IssuerRecord, NewAuditEntry, NewCertificate, RevocationEvent, RevokedEntry, Store, StoreError,
};

pub use writer::WriteStats;

use writer::{Done, Job, Op};

/// How long a statement waits for another process's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Read-only connections.
const READERS: u32 = 8;
/// Write requests that may wait for the writer before callers are slowed down.
const QUEUE: usize = 8192;
/// Stored CRLs kept per issuer and kind (full, delta).
const CRLS_KEPT: i64 = 3;

/// Open the writing connection. Switching a new file to WAL needs a moment of exclusive
/// access, and SQLite answers SQLITE_BUSY at once (no busy handler) when another process
/// opens the same new file at that moment: retry that for up to the busy timeout.
async fn connect_writer(options: &SqliteConnectOptions) -> Result<SqliteConnection, StoreError> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match SqliteConnection::connect_with(options).await {
            Err(sqlx::Error::Database(e))
                if e.code().as_deref() == Some("5") && std::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => return Ok(other?),
        }
    }
}

fn db_kind(e: &sqlx::Error) -> Option<sqlx::error::ErrorKind> {
    match e {
        sqlx::Error::Database(db) => Some(db.kind()),
        _ => None,
    }
}

/// Columns of `certificates`, in the order [`cert_from_row`] reads them by name.
macro_rules! cert_columns {
    () => {
        "id, serial_hex, issuer_id, profile, subject, sans, not_before, not_after, requester, key_algorithm, \
         fingerprint, spki_sha256, der, status, revoked_at, revocation_reason, created_at"
    };
}
pub(crate) use cert_columns;

/// The versioned SQLite migrations, embedded in the binary.
fn migrator() -> Migrator {
    let migrations = vec![
        Migration::new(
            1,
            Cow::Borrowed("initial"),
            MigrationType::Simple,
            include_str!("../migrations/sqlite/0001_initial.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            2,
            Cow::Borrowed("leaner indexes"),
            MigrationType::Simple,
            include_str!("../migrations/sqlite/0002_leaner_indexes.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            3,
            Cow::Borrowed("crl numbers"),
            MigrationType::Simple,
            include_str!("../migrations/sqlite/0003_crl_numbers.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            4,
            Cow::Borrowed("blocked keys"),
            MigrationType::Simple,
            include_str!("../migrations/sqlite/0004_blocked_keys.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            5,
            Cow::Borrowed("revocation feed crls leases"),
            MigrationType::Simple,
            include_str!("../migrations/sqlite/0005_revocation_feed_crls_leases.sql")
                .into_sql_str(),
            false,
        ),
        Migration::new(
            6,
            Cow::Borrowed("acme"),
            MigrationType::Simple,
            include_str!("../migrations/sqlite/0006_acme.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            7,
            Cow::Borrowed("acme limits renewal"),
            MigrationType::Simple,
            include_str!("../migrations/sqlite/0007_acme_limits_renewal.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            8,
            Cow::Borrowed("scep ra keys"),
            MigrationType::Simple,
            include_str!("../migrations/sqlite/0008_scep_ra_keys.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            9,
            Cow::Borrowed("inventory"),
            MigrationType::Simple,
            include_str!("../migrations/sqlite/0009_inventory.sql").into_sql_str(),
            false,
        ),
    ];
    Migrator::with_migrations(migrations)
}

/// The SQLite implementation of [`Store`].
///
/// Must be opened (and used) inside a tokio runtime: it spawns its writer task.
pub struct SqliteStore {
    reader: SqlitePool,
    /// One writing connection for writes outside the audit chain (stored CRLs, leases, ACME
    /// nonces): they never wait behind a group of issuances, and the writer's chain head is
    /// unaffected. It commits with `synchronous=NORMAL` (no fsync per commit; WAL keeps the
    /// file consistent): a power loss may forget its last writes, each of which is
    /// recreated on demand — a nonce is answered badNonce and the client retries, a lease is
    /// taken again, a stored CRL is rebuilt.
    side: SqlitePool,
    revoked: tokio::sync::watch::Sender<u64>,
    jobs: mpsc::Sender<Job>,
    writer: tokio::task::JoinHandle<()>,
    stats: Arc<writer::Stats>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("stats", &self.write_stats())
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Open (creating if missing) the database at `path` and bring its schema
    /// up to date. The parent directory must exist.
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let base = SqliteConnectOptions::new()
            .filename(path)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            .synchronous(SqliteSynchronous::Full)
            // Random 128-bit serials and key hashes make index inserts land on random
            // pages: a 16 MiB page cache and memory-mapped reads keep them off the
            // read() syscall path once the file outgrows SQLite's 2 MiB default cache.
            // Checkpoints every 8000 WAL pages (32 MiB) instead of 1000: hot pages are
            // copied once per checkpoint, not eight times (measured +10% issuance/s at 16
            // clients); the WAL file is truncated back to 64 MiB after a checkpoint.
            .pragma("cache_size", "-16384")
            .pragma("mmap_size", "1073741824")
            .pragma("temp_store", "memory")
            .pragma("wal_autocheckpoint", "8000")
            .pragma("journal_size_limit", "67108864");

        // The writer: the only connection of this process that writes, owned by
        // the writer task. WAL is a persistent property of the file, so only this
        // connection asks for it. Its statement cache holds the multi-row
        // INSERTs of group commit.
        let writer_options = base
            .clone()
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .statement_cache_capacity(256);
        let mut writer_conn = connect_writer(&writer_options).await?;

        // Migrations run inside one BEGIN IMMEDIATE transaction (sqlx applies
        // each migration in a savepoint), so two processes opening a new file
        // at once serialise instead of both creating the tables.
        {
            let mut tx = writer_conn.begin_with("BEGIN IMMEDIATE").await?;
            migrator().run(&mut *tx).await?;
            tx.commit().await?;
        }

        let side = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .connect_with(base.clone().synchronous(SqliteSynchronous::Normal))
            .await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(READERS)
            // A local file cannot hang up: no ping before every acquire (one
            // more hand-off to the connection's thread).
            .test_before_acquire(false)
            // Readers map nothing and keep 8 MiB of cache each: every reader's mapping of
            // a large file counted in the server's RSS (340 MiB while searching 10 M
            // inventory rows, 2.7 GiB during full scans; 182 MiB at most now). 4 MiB
            // doubled the p99 of a search that reads thousands of rows per page (70 ms at
            // 8 clients), 16 MiB took the RSS to 229 MiB (docs/benchmarks.md).
            .connect_with(
                base.read_only(true)
                    .pragma("mmap_size", "0")
                    .pragma("cache_size", "-8192"),
            )
            .await?;

        let stats = Arc::new(writer::Stats::default());
        let (jobs, rx) = mpsc::channel(QUEUE);
        let writer = tokio::spawn(writer::run(
            writer_options,
            writer_conn,
            rx,
            Arc::clone(&stats),
        ));
        Ok(SqliteStore {
            reader,
            side,
            revoked: tokio::sync::watch::Sender::new(0),
            jobs,
            writer,
            stats,
        })
    }

    /// Finish queued writes and close every connection.
    pub async fn close(self) {
        let SqliteStore {
            reader,
            side,
            jobs,
            writer,
            ..
        } = self;
        drop(jobs);
        if let Err(e) = writer.await {
            tracing::error!(error = %e, "sqlite writer task failed");
        }
        side.close().await;
        reader.close().await;
    }

    /// Counters of the group-commit writer (for metrics and benchmarks).
    pub fn write_stats(&self) -> WriteStats {
        self.stats.snapshot()
    }

    /// Hand `op` to the writer task and wait until its transaction committed.
    async fn write(&self, op: Op) -> Result<Done, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { op, reply })
            .await
            .map_err(|_| StoreError::Database(sqlx::Error::PoolClosed))?;
        answer
            .await
            .map_err(|_| StoreError::Database(sqlx::Error::WorkerCrashed))?
    }
}

fn unexpected(what: &str) -> StoreError {
    StoreError::Corrupt(format!(
        "internal: writer answered {what} with the wrong kind of result"
    ))
}

#[async_trait]
impl Store for SqliteStore {
    async fn insert_issuer(
        &self,
        issuer: &IssuerRecord,
        audit: NewAuditEntry,
    ) -> Result<(), StoreError> {
        match self
            .write(Op::Issuer {
                issuer: issuer.clone(),
                audit,
            })
            .await?
        {
            Done::Unit => Ok(()),
            _ => Err(unexpected("insert_issuer")),
        }
    }

    async fn list_issuers(&self) -> Result<Vec<IssuerRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, kind, algorithm, cert_der, parent_id, key_ref, fingerprint, created_at \
             FROM issuers ORDER BY created_at, rowid",
        )
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(crate::rows::Rows::<SqliteRow>::issuer)
            .collect()
    }

    async fn record_issuance(
        &self,
        cert: NewCertificate,
        audit: NewAuditEntry,
    ) -> Result<(), StoreError> {
        match self.write(Op::Issue { cert, audit }).await? {
            Done::Unit => Ok(()),
            _ => Err(unexpected("record_issuance")),
        }
    }

    async fn append_audit(&self, audit: NewAuditEntry) -> Result<AuditEntry, StoreError> {
        match self.write(Op::Audit { audit }).await? {
            Done::Audit(entry) => Ok(entry),
            _ => Err(unexpected("append_audit")),
        }
    }

    async fn get_certificate(
        &self,
        serial_hex: &str,
    ) -> Result<Option<CertificateRecord>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            cert_columns!(),
            " FROM certificates WHERE serial_hex = ?1"
        ))
        .bind(serial_hex)
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(cert_from_row).transpose()
    }

    async fn list_certificates(
        &self,
        filter: &CertificateFilter,
    ) -> Result<Vec<CertificateRecord>, StoreError> {
        if filter.limit <= 0 {
            // SQLite reads a negative LIMIT as "no limit"; a page of nothing is what was asked.
            return Ok(Vec::new());
        }
        let (sql, args) = certificate_query(filter);
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for arg in args {
            query = match arg {
                Arg::Text(s) => query.bind(s),
                Arg::Int(i) => query.bind(i),
            };
        }
        let rows = query.fetch_all(&self.reader).await?;
        rows.iter().map(cert_from_row).collect()
    }

    async fn revoke_certificate(
        &self,
        serial_hex: &str,
        revoked_at: i64,
        reason: i32,
        audit: NewAuditEntry,
    ) -> Result<CertificateRecord, StoreError> {
        let op = Op::Revoke {
            serial_hex: serial_hex.to_owned(),
            revoked_at,
            reason,
            audit,
        };
        match self.write(op).await? {
            Done::Certificate(cert) => {
                self.revoked.send_modify(|n| *n += 1);
                Ok(*cert)
            }
            _ => Err(unexpected("revoke_certificate")),
        }
    }

    async fn audit_entries(
        &self,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        if limit <= 0 {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "SELECT seq, ts, actor, action, subject, detail, prev_hash, hash \
             FROM audit_log WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )
        .bind(after_seq)
        .bind(limit)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(crate::rows::Rows::<SqliteRow>::audit)
            .collect()
    }

    async fn audit_for_subject(
        &self,
        subjects: &[String],
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let subjects = &subjects[..subjects.len().min(crate::MAX_AUDIT_SUBJECTS)];
        if limit <= 0 || subjects.is_empty() {
            return Ok(Vec::new());
        }
        let marks: Vec<String> = (2..subjects.len() + 2).map(|n| format!("?{n}")).collect();
        let mut q = sqlx::query(AssertSqlSafe(format!(
            "SELECT seq, ts, actor, action, subject, detail, prev_hash, hash \
             FROM audit_log WHERE subject IN ({}) ORDER BY seq DESC LIMIT ?1",
            marks.join(", ")
        )))
        .bind(limit);
        for s in subjects {
            q = q.bind(s.as_str());
        }
        let rows = q.fetch_all(&self.reader).await?;
        rows.iter()
            .map(crate::rows::Rows::<SqliteRow>::audit)
            .collect()
    }

    async fn insert_admin_token(
        &self,
        token: &AdminTokenRecord,
        audit: NewAuditEntry,
    ) -> Result<(), StoreError> {
        match self
            .write(Op::Token {
                token: token.clone(),
                audit,
            })
            .await?
        {
            Done::Unit => Ok(()),
            _ => Err(unexpected("insert_admin_token")),
        }
    }

    async fn revoked_certificates(
        &self,
        issuer_id: &str,
        now: i64,
    ) -> Result<Vec<RevokedEntry>, StoreError> {
        // The partial index certificates_revoked holds exactly the revoked rows.
        let rows = sqlx::query(
            "SELECT serial_hex, revoked_at, revocation_reason, revocation_seq, not_after FROM certificates \
             WHERE status = 'revoked' AND issuer_id = ?1 AND not_after >= ?2 ORDER BY serial_hex",
        )
        .bind(issuer_id)
        .bind(now)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(crate::rows::Rows::<SqliteRow>::revoked)
            .collect()
    }

    async fn next_crl_number(
        &self,
        issuer_id: &str,
        audit: NewAuditEntry,
    ) -> Result<i64, StoreError> {
        match self
            .write(Op::CrlNumber {
                issuer_id: issuer_id.to_owned(),
                audit,
            })
            .await?
        {
            Done::Number(n) => Ok(n),
            _ => Err(unexpected("next_crl_number")),
        }
    }

    async fn block_key(
        &self,
        spki_sha256: &str,
        reason: &str,
        source_serial: &str,
        at: i64,
        audit: NewAuditEntry,
    ) -> Result<bool, StoreError> {
        let op = Op::BlockKey {
            spki_sha256: spki_sha256.to_owned(),
            reason: reason.to_owned(),
            source_serial: source_serial.to_owned(),
            at,
            audit,
        };
        match self.write(op).await? {
            Done::Number(n) => Ok(n > 0),
            _ => Err(unexpected("block_key")),
        }
    }

    async fn blocked_keys(&self) -> Result<Vec<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT spki_sha256 FROM blocked_keys ORDER BY spki_sha256")
                .fetch_all(&self.reader)
                .await?,
        )
    }

    async fn certificates_by_key(
        &self,
        spki_sha256: &str,
    ) -> Result<Vec<CertificateRecord>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            cert_columns!(),
            " FROM certificates WHERE spki_sha256 = ?1 ORDER BY id"
        ))
        .bind(spki_sha256)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(cert_from_row).collect()
    }

    async fn expiring_counts(
        &self,
        now: i64,
        until: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        // A range over the not_after index.
        let rows = sqlx::query(
            "SELECT issuer_id, COUNT(*) AS n FROM certificates \
             WHERE not_after >= ?1 AND not_after < ?2 AND status = 'valid' AND profile <> 'ocsp-responder' GROUP BY issuer_id ORDER BY issuer_id",
        )
        .bind(now)
        .bind(until)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("issuer_id")?, r.try_get("n")?)))
            .collect()
    }

    async fn active_admin_tokens(&self) -> Result<Vec<AdminTokenRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, secret_sha256, name, created_at FROM admin_tokens \
             WHERE revoked_at IS NULL ORDER BY created_at, id",
        )
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(crate::rows::Rows::<SqliteRow>::admin_token)
            .collect()
    }

    async fn revocations_since(
        &self,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<RevocationEvent>, StoreError> {
        if limit <= 0 {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "SELECT revocation_seq, serial_hex, issuer_id, revoked_at, revocation_reason, not_after FROM certificates \
             WHERE revocation_seq > ?1 ORDER BY revocation_seq LIMIT ?2",
        )
        .bind(after_seq)
        .bind(limit)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(crate::rows::Rows::<SqliteRow>::revocation)
            .collect()
    }

    fn revocation_signal(&self) -> tokio::sync::watch::Receiver<u64> {
        self.revoked.subscribe()
    }

    async fn save_crl(&self, crl: &CrlRecord) -> Result<(), StoreError> {
        let mut tx = self.side.begin_with("BEGIN IMMEDIATE").await?;
        let inserted = sqlx::query(
            "INSERT INTO crls (issuer_id, number, delta_base, this_update, next_update, revocation_seq, entries, der) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .bind(&crl.issuer_id)
        .bind(crl.number)
        .bind(crl.delta_base)
        .bind(crl.this_update)
        .bind(crl.next_update)
        .bind(crl.revocation_seq)
        .bind(crl.entries)
        .bind(&crl.der)
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(e) if db_kind(&e) == Some(sqlx::error::ErrorKind::UniqueViolation) => {
                return Err(StoreError::Conflict {
                    what: format!("CRL {} of issuer {}", crl.number, crl.issuer_id),
                });
            }
            Err(e) if db_kind(&e) == Some(sqlx::error::ErrorKind::ForeignKeyViolation) => {
                return Err(StoreError::NotFound {
                    what: format!("issuer {}", crl.issuer_id),
                });
            }
            Err(e) => return Err(e.into()),
        }
        sqlx::query(
            "DELETE FROM crls WHERE issuer_id = ?1 AND (delta_base IS NULL) = (?2 IS NULL) AND number < ( \
               SELECT MIN(number) FROM (SELECT number FROM crls WHERE issuer_id = ?1 \
               AND (delta_base IS NULL) = (?2 IS NULL) ORDER BY number DESC LIMIT ?3))",
        )
        .bind(&crl.issuer_id)
        .bind(crl.delta_base)
        .bind(CRLS_KEPT)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn latest_crl(
        &self,
        issuer_id: &str,
        delta: bool,
    ) -> Result<Option<CrlRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT issuer_id, number, delta_base, this_update, next_update, revocation_seq, entries, der \
             FROM crls WHERE issuer_id = ?1 AND (delta_base IS NOT NULL) = ?2 ORDER BY number DESC LIMIT 1",
        )
        .bind(issuer_id)
        .bind(delta)
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref()
            .map(crate::rows::Rows::<SqliteRow>::crl)
            .transpose()
    }

    async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        now: i64,
        ttl_secs: i64,
    ) -> Result<bool, StoreError> {
        let held: Option<String> = sqlx::query_scalar(
            "INSERT INTO leases (name, holder, expires_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
             WHERE leases.holder = excluded.holder OR leases.expires_at <= ?4 \
             RETURNING holder",
        )
        .bind(name)
        .bind(holder)
        .bind(now.saturating_add(ttl_secs))
        .bind(now)
        .fetch_optional(&self.side)
        .await?;
        Ok(held.as_deref() == Some(holder))
    }

    async fn schema_versions(&self) -> Result<Vec<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version",
        )
        .fetch_all(&self.reader)
        .await?)
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM leases WHERE name = ?1 AND holder = ?2")
            .bind(name)
            .bind(holder)
            .execute(&self.side)
            .await?;
        Ok(())
    }

    fn acme(&self) -> &dyn AcmeStore {
        self
    }

    fn inventory(&self) -> &dyn crate::inventory::InventoryStore {
        self
    }

    fn enrollment(&self) -> &dyn EnrollmentStore {
        self
    }
}

/// A bind value of a query built at run time.
enum Arg<'a> {
    Text(&'a str),
    Int(i64),
}

/// The SELECT for `filter` (placeholders only, never values) and its arguments in order.
fn certificate_query(filter: &CertificateFilter) -> (String, Vec<Arg<'_>>) {
    let mut sql = String::from(concat!(
        "SELECT ",
        cert_columns!(),
        " FROM certificates WHERE 1 = 1"
    ));
    let mut args = Vec::new();
    if let Some(san) = &filter.san {
        // Tagged (`dns:a.example`) or bare (`a.example`, any type).
        // The bare form is looked up under each of the four tags (primary-key lookups).
        sql.push_str(
            " AND id IN (SELECT certificate_id FROM certificate_sans \
             WHERE san IN (?, 'dns:' || ?, 'ip:' || ?, 'email:' || ?, 'uri:' || ?))",
        );
        for _ in 0..5 {
            args.push(Arg::Text(san));
        }
    }
    if let Some(profile) = &filter.profile {
        sql.push_str(" AND profile = ?");
        args.push(Arg::Text(profile));
    }
    if let Some(issuer) = &filter.issuer_id {
        sql.push_str(" AND issuer_id = ?");
        args.push(Arg::Text(issuer));
    }
    match filter.status.as_deref() {
        None => {}
        Some("valid") => {
            sql.push_str(" AND status = 'valid' AND not_after >= ?");
            args.push(Arg::Int(filter.now));
        }
        Some("expired") => {
            sql.push_str(" AND status = 'valid' AND not_after < ?");
            args.push(Arg::Int(filter.now));
        }
        Some("revoked") => sql.push_str(" AND status = 'revoked'"),
        // Any other word is compared with the stored status, so it matches nothing.
        Some(other) => {
            sql.push_str(" AND status = ?");
            args.push(Arg::Text(other));
        }
    }
    if let Some(before) = filter.expiring_before {
        sql.push_str(" AND not_after < ?");
        args.push(Arg::Int(before));
    }
    if let Some(after) = filter.after_id {
        sql.push_str(" AND id > ?");
        args.push(Arg::Int(after));
    }
    sql.push_str(" ORDER BY id LIMIT ?");
    args.push(Arg::Int(filter.limit));
    (sql, args)
}

/// A `certificates` row selected with [`cert_columns`].
fn cert_from_row(row: &SqliteRow) -> Result<CertificateRecord, StoreError> {
    crate::rows::Rows::<SqliteRow>::certificate(row)
}
