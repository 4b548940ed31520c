//! Multi-statement commands and the multi-row INSERTs of a group write: the
//! audit entries chained in memory and the certificates, each as one statement.

use sqlx::sqlite::{Sqlite, SqliteArguments, SqliteConnection, SqliteRow};
use sqlx::{Arguments, AssertSqlSafe};

use super::{Head, MAX_BATCH};
use crate::{AuditEntry, NewAuditEntry, NewCertificate};

/// Several statements (separated by `;`) and their arguments, in order, sent to
/// SQLite's worker thread as one command: each hand-off to that thread costs
/// two context switches, more than most of these statements take to run.
///
/// The statements use plain `?` placeholders only: sqlx binds a multi-statement
/// query's arguments statement after statement, continuing the count, whereas
/// `?NNN` would index the arguments of the whole command.
#[derive(Default)]
pub(super) struct Command {
    sql: String,
    args: SqliteArguments,
}

impl Command {
    pub(super) fn push(&mut self, sql: &str) {
        if !self.sql.is_empty() {
            self.sql.push_str(";\n");
        }
        self.sql.push_str(sql);
    }

    pub(super) fn bind<'t, T>(&mut self, value: T) -> Result<(), sqlx::Error>
    where
        T: sqlx::Encode<'t, Sqlite> + sqlx::Type<Sqlite>,
    {
        self.args.add(value).map_err(sqlx::Error::Encode)
    }

    /// Run every statement; the rows of those that return any. On the first
    /// error SQLite's worker stops: the statements after it do not run, the
    /// ones before it stay done (a transaction they opened is still open).
    pub(super) async fn run(
        self,
        conn: &mut SqliteConnection,
    ) -> Result<Vec<SqliteRow>, sqlx::Error> {
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
pub(super) fn push_certificates(
    cmd: &mut Command,
    certs: &[&NewCertificate],
) -> Result<(), sqlx::Error> {
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
pub(super) struct Entry<'a> {
    seq: i64,
    audit: &'a NewAuditEntry,
    prev_hash: String,
    hash: String,
}

impl Entry<'_> {
    pub(super) fn written(&self) -> AuditEntry {
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
pub(super) fn chain<'a>(
    head: &Head,
    audits: impl IntoIterator<Item = &'a NewAuditEntry>,
) -> (Vec<Entry<'a>>, Head) {
    let mut next = head.clone();
    let entries = audits
        .into_iter()
        .map(|audit| {
            let after = next.next(audit);
            let prev_hash = std::mem::replace(&mut next, after).hash;
            let Head { seq, hash } = next.clone();
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
pub(super) fn push_audit(
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
