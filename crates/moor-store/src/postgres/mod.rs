//! The PostgreSQL backend: one database shared by every node of a deployment.
//!
//! Reads go through a connection pool. Writes go through one writer task per process
//! with group commit (see [`writer`]); every write transaction of every node first
//! takes one advisory lock, so the audit chain, certificate ids and the revocation
//! order stay single-file across nodes. A committed revocation is announced with
//! `NOTIFY mooring_revocations`; each store listens and moves its
//! [`Store::revocation_signal`], so other nodes learn of it within milliseconds.
//!
//! The schema is versioned in `migrations/postgres/` and applied (under sqlx's own
//! advisory lock, so nodes starting together do not race) when the store opens.

mod acme;
mod enrollment;
mod inventory;
mod writer;

use std::borrow::Cow;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions, PgRow};
use sqlx::{AssertSqlSafe, Connection, Row, SqlSafeStr};
use tokio::sync::{mpsc, oneshot, watch};

use crate::enrollment::EnrollmentStore;
use crate::write_job::{Done, Job, Op};
use crate::{
    AcmeStore, AdminTokenRecord, AuditEntry, CertificateFilter, CertificateRecord, CrlRecord,
    IssuerRecord, NewAuditEntry, NewCertificate, RevocationEvent, RevokedEntry, Store, StoreError,
};

/// Pooled connections for reads.
const READERS: u32 = 8;
/// Write requests that may wait for the writer before callers are slowed down.
const QUEUE: usize = 8192;
/// Stored CRLs kept per issuer and kind (full, delta).
const CRLS_KEPT: i64 = 3;
/// How long to wait for a connection (a database that is down fails requests fast).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// Columns of `certificates`, in the order [`cert_from_row`] reads them by name.
pub(crate) const CERT_COLUMNS: &str = "id, serial_hex, issuer_id, profile, subject, sans, not_before, not_after, \
     requester, key_algorithm, fingerprint, spki_sha256, der, status, revoked_at, revocation_reason, created_at";

/// The versioned PostgreSQL migrations, embedded in the binary.
pub fn migrator() -> Migrator {
    Migrator::with_migrations(vec![
        Migration::new(
            1,
            Cow::Borrowed("initial"),
            MigrationType::Simple,
            include_str!("../../migrations/postgres/0001_initial.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            2,
            Cow::Borrowed("acme"),
            MigrationType::Simple,
            include_str!("../../migrations/postgres/0002_acme.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            3,
            Cow::Borrowed("acme limits renewal"),
            MigrationType::Simple,
            include_str!("../../migrations/postgres/0003_acme_limits_renewal.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            4,
            Cow::Borrowed("scep ra keys"),
            MigrationType::Simple,
            include_str!("../../migrations/postgres/0004_scep_ra_keys.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            5,
            Cow::Borrowed("inventory"),
            MigrationType::Simple,
            include_str!("../../migrations/postgres/0005_inventory.sql").into_sql_str(),
            false,
        ),
    ])
}

pub(crate) fn db_kind(e: &sqlx::Error) -> Option<sqlx::error::ErrorKind> {
    match e {
        sqlx::Error::Database(db) => Some(db.kind()),
        _ => None,
    }
}

/// The PostgreSQL implementation of [`Store`].
///
/// Must be opened (and used) inside a tokio runtime: it spawns its writer and listener.
pub struct PostgresStore {
    pool: PgPool,
    /// Connections with `synchronous_commit = off` for writes that need no fsync: ACME
    /// nonces (a crash forgets the newest; clients get badNonce and retry; never corrupt).
    side: PgPool,
    jobs: mpsc::Sender<Job>,
    writer: tokio::task::JoinHandle<()>,
    listener: tokio::task::JoinHandle<()>,
    revoked: watch::Sender<u64>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the URL: it may carry a password.
        f.debug_struct("PostgresStore").finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connect to `url` (`postgres://user[:password]@host[:port]/database`) and bring
    /// the schema up to date.
    pub async fn open(url: &str) -> Result<PostgresStore, StoreError> {
        let options = PgConnectOptions::from_str(url)?.application_name("mooring");
        // One plain connection first: a server that is down or refuses us fails here at
        // once with its own error, instead of after the pool's acquire timeout.
        sqlx::PgConnection::connect_with(&options)
            .await?
            .close()
            .await?;
        let pool = PgPoolOptions::new()
            .max_connections(READERS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.clone())
            .await?;
        migrator().run(&pool).await?;
        let side = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.clone().options([("synchronous_commit", "off")]))
            .await?;

        let revoked = watch::Sender::new(0u64);
        let mut listener = PgListener::connect_with(&pool).await?;
        listener.listen(writer::REVOCATION_CHANNEL).await?;
        let listener = tokio::spawn(listen(listener, revoked.clone()));
        let (jobs, rx) = mpsc::channel(QUEUE);
        let writer = tokio::spawn(writer::run(options, rx, revoked.clone()));
        Ok(PostgresStore {
            pool,
            side,
            jobs,
            writer,
            listener,
            revoked,
        })
    }

    /// Finish queued writes and close every connection.
    pub async fn close(self) {
        let PostgresStore {
            pool,
            side,
            jobs,
            writer,
            listener,
            ..
        } = self;
        drop(jobs);
        if let Err(e) = writer.await {
            tracing::error!(error = %e, "postgres writer task failed");
        }
        listener.abort();
        side.close().await;
        pool.close().await;
    }

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

/// Move the revocation signal on every NOTIFY, and after a reconnect (notifications
/// sent while disconnected are lost: watchers re-read the revocation feed).
async fn listen(mut listener: PgListener, revoked: watch::Sender<u64>) {
    loop {
        match listener.try_recv().await {
            Ok(Some(_)) => revoked.send_modify(|n| *n += 1),
            Ok(None) => {
                tracing::warn!("revocation listener lost its connection; reconnecting");
                revoked.send_modify(|n| *n += 1);
            }
            Err(error) => {
                tracing::warn!(%error, "revocation listener failed; retrying in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

fn unexpected(what: &str) -> StoreError {
    StoreError::Corrupt(format!(
        "internal: writer answered {what} with the wrong kind of result"
    ))
}

#[async_trait]
impl Store for PostgresStore {
    async fn insert_issuer(
        &self,
        issuer: &IssuerRecord,
        audit: NewAuditEntry,
    ) -> Result<(), StoreError> {
        let op = Op::Issuer {
            issuer: issuer.clone(),
            audit,
        };
        match self.write(op).await? {
            Done::Unit => Ok(()),
            _ => Err(unexpected("insert_issuer")),
        }
    }

    async fn list_issuers(&self) -> Result<Vec<IssuerRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, kind, algorithm, cert_der, parent_id, key_ref, fingerprint, created_at \
             FROM issuers ORDER BY created_at, ord",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(crate::rows::Rows::<PgRow>::issuer)
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
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {CERT_COLUMNS} FROM certificates WHERE serial_hex = $1"
        )))
        .bind(serial_hex)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(cert_from_row).transpose()
    }

    async fn list_certificates(
        &self,
        filter: &CertificateFilter,
    ) -> Result<Vec<CertificateRecord>, StoreError> {
        if filter.limit <= 0 {
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
        let rows = query.fetch_all(&self.pool).await?;
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
            Done::Certificate(cert) => Ok(*cert),
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
             FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after_seq)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(crate::rows::Rows::<PgRow>::audit).collect()
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
        let marks: Vec<String> = (2..subjects.len() + 2).map(|n| format!("${n}")).collect();
        let mut q = sqlx::query(AssertSqlSafe(format!(
            "SELECT seq, ts, actor, action, subject, detail, prev_hash, hash \
             FROM audit_log WHERE subject IN ({}) ORDER BY seq DESC LIMIT $1",
            marks.join(", ")
        )))
        .bind(limit);
        for s in subjects {
            q = q.bind(s.as_str());
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter().map(crate::rows::Rows::<PgRow>::audit).collect()
    }

    async fn insert_admin_token(
        &self,
        token: &AdminTokenRecord,
        audit: NewAuditEntry,
    ) -> Result<(), StoreError> {
        let op = Op::Token {
            token: token.clone(),
            audit,
        };
        match self.write(op).await? {
            Done::Unit => Ok(()),
            _ => Err(unexpected("insert_admin_token")),
        }
    }

    async fn revoked_certificates(
        &self,
        issuer_id: &str,
        now: i64,
    ) -> Result<Vec<RevokedEntry>, StoreError> {
        // COLLATE "C": byte order, the same order as SQLite's (hex is ASCII).
        let rows = sqlx::query(
            "SELECT serial_hex, revoked_at, revocation_reason, revocation_seq, not_after FROM certificates \
             WHERE status = 'revoked' AND issuer_id = $1 AND not_after >= $2 \
             ORDER BY serial_hex COLLATE \"C\"",
        )
        .bind(issuer_id)
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(crate::rows::Rows::<PgRow>::revoked)
            .collect()
    }

    async fn next_crl_number(
        &self,
        issuer_id: &str,
        audit: NewAuditEntry,
    ) -> Result<i64, StoreError> {
        let op = Op::CrlNumber {
            issuer_id: issuer_id.to_owned(),
            audit,
        };
        match self.write(op).await? {
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
        Ok(sqlx::query_scalar(
            "SELECT spki_sha256 FROM blocked_keys ORDER BY spki_sha256 COLLATE \"C\"",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    async fn certificates_by_key(
        &self,
        spki_sha256: &str,
    ) -> Result<Vec<CertificateRecord>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {CERT_COLUMNS} FROM certificates WHERE spki_sha256 = $1 ORDER BY id"
        )))
        .bind(spki_sha256)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(cert_from_row).collect()
    }

    async fn expiring_counts(
        &self,
        now: i64,
        until: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT issuer_id, COUNT(*) AS n FROM certificates \
             WHERE not_after >= $1 AND not_after < $2 AND status = 'valid' \
             AND profile <> 'ocsp-responder' GROUP BY issuer_id ORDER BY issuer_id COLLATE \"C\"",
        )
        .bind(now)
        .bind(until)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("issuer_id")?, r.try_get("n")?)))
            .collect()
    }

    async fn active_admin_tokens(&self) -> Result<Vec<AdminTokenRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, secret_sha256, name, created_at FROM admin_tokens \
             WHERE revoked_at IS NULL ORDER BY created_at, id COLLATE \"C\"",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(crate::rows::Rows::<PgRow>::admin_token)
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
            "SELECT revocation_seq, serial_hex, issuer_id, revoked_at, revocation_reason, not_after \
             FROM certificates WHERE revocation_seq > $1 ORDER BY revocation_seq LIMIT $2",
        )
        .bind(after_seq)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(crate::rows::Rows::<PgRow>::revocation)
            .collect()
    }

    fn revocation_signal(&self) -> watch::Receiver<u64> {
        self.revoked.subscribe()
    }

    async fn save_crl(&self, crl: &CrlRecord) -> Result<(), StoreError> {
        use sqlx::error::ErrorKind;
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO crls (issuer_id, number, delta_base, this_update, next_update, revocation_seq, entries, der) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
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
            Err(e) if db_kind(&e) == Some(ErrorKind::UniqueViolation) => {
                return Err(StoreError::Conflict {
                    what: format!("CRL {} of issuer {}", crl.number, crl.issuer_id),
                });
            }
            Err(e) if db_kind(&e) == Some(ErrorKind::ForeignKeyViolation) => {
                return Err(StoreError::NotFound {
                    what: format!("issuer {}", crl.issuer_id),
                });
            }
            Err(e) => return Err(e.into()),
        }
        sqlx::query(
            "DELETE FROM crls WHERE issuer_id = $1 AND (delta_base IS NULL) = $2 AND number < ( \
               SELECT MIN(number) FROM (SELECT number FROM crls WHERE issuer_id = $1 \
               AND (delta_base IS NULL) = $2 ORDER BY number DESC LIMIT $3) AS newest)",
        )
        .bind(&crl.issuer_id)
        .bind(crl.delta_base.is_none())
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
             FROM crls WHERE issuer_id = $1 AND (delta_base IS NOT NULL) = $2 ORDER BY number DESC LIMIT 1",
        )
        .bind(issuer_id)
        .bind(delta)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref()
            .map(crate::rows::Rows::<PgRow>::crl)
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
            "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at \
             WHERE leases.holder = EXCLUDED.holder OR leases.expires_at <= $4 \
             RETURNING holder",
        )
        .bind(name)
        .bind(holder)
        .bind(now.saturating_add(ttl_secs))
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(held.as_deref() == Some(holder))
    }

    async fn schema_versions(&self) -> Result<Vec<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(&self.pool)
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
    let mut sql = format!("SELECT {CERT_COLUMNS} FROM certificates WHERE TRUE");
    let mut args = Vec::new();
    let next = |args: &mut Vec<Arg<'_>>| format!("${}", args.len() + 1);
    if let Some(san) = &filter.san {
        args.push(Arg::Text(san));
        let p = format!("${}", args.len());
        sql.push_str(&format!(
            " AND id IN (SELECT certificate_id FROM certificate_sans WHERE san IN \
             ({p}, 'dns:' || {p}, 'ip:' || {p}, 'email:' || {p}, 'uri:' || {p}))"
        ));
    }
    if let Some(profile) = &filter.profile {
        sql.push_str(&format!(" AND profile = {}", next(&mut args)));
        args.push(Arg::Text(profile));
    }
    if let Some(issuer) = &filter.issuer_id {
        sql.push_str(&format!(" AND issuer_id = {}", next(&mut args)));
        args.push(Arg::Text(issuer));
    }
    match filter.status.as_deref() {
        None => {}
        Some("valid") => {
            sql.push_str(&format!(
                " AND status = 'valid' AND not_after >= {}",
                next(&mut args)
            ));
            args.push(Arg::Int(filter.now));
        }
        Some("expired") => {
            sql.push_str(&format!(
                " AND status = 'valid' AND not_after < {}",
                next(&mut args)
            ));
            args.push(Arg::Int(filter.now));
        }
        Some("revoked") => sql.push_str(" AND status = 'revoked'"),
        Some(other) => {
            sql.push_str(&format!(" AND status = {}", next(&mut args)));
            args.push(Arg::Text(other));
        }
    }
    if let Some(before) = filter.expiring_before {
        sql.push_str(&format!(" AND not_after < {}", next(&mut args)));
        args.push(Arg::Int(before));
    }
    if let Some(after) = filter.after_id {
        sql.push_str(&format!(" AND id > {}", next(&mut args)));
        args.push(Arg::Int(after));
    }
    sql.push_str(&format!(" ORDER BY id LIMIT {}", next(&mut args)));
    args.push(Arg::Int(filter.limit));
    (sql, args)
}

/// A `certificates` row selected with [`CERT_COLUMNS`].
pub(crate) fn cert_from_row(row: &PgRow) -> Result<CertificateRecord, StoreError> {
    crate::rows::Rows::<PgRow>::certificate(row)
}
