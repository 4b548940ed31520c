//! The inventory: every certificate and key the deployment knows of — issued here (they
//! enter by trigger with the issuance) or discovered by scans — with locations, owners,
//! labels; the findings computed over it; and the alerts raised from findings.
//!
//! - `query.rs` — the search language (`label:env=prod AND key.algorithm=rsa-2048`);
//! - this file — records, the [`InventoryStore`] trait, and the statements of both
//!   backends ([`inventory_backend!`], expanded in `sqlite/inventory.rs` and
//!   `postgres/inventory.rs`). Schema: `migrations/sqlite/0009_inventory.sql`,
//!   `migrations/postgres/0005_inventory.sql`.
//!
//! Searches are planned around one "driving" index (fingerprint, serial, SAN, label,
//! location, expiry, issuer/owner/team, else the id) so that a page of results reads a
//! page of index entries, whatever the table's size.

pub mod query;

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{NewAuditEntry, StoreError};
pub use query::{Field, Query, QueryError, Seen, Status, Term};

/// At most this many items in one search page.
pub const MAX_PAGE: i64 = 1000;
/// At most this many labels on one item.
pub const MAX_LABELS: usize = 32;

/// An item as listed (no DER).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryItem {
    pub id: i64,
    pub fingerprint: String,
    /// `x509`, `ssh-key`, `ssh-cert`.
    pub kind: String,
    /// `issued`, `acme`, `enrollment`, `renewal`, `oidc`, `internal`, `discovered`.
    pub source: String,
    pub subject: String,
    /// Our issuer id for what we issued; the issuer DN (SSH: CA fingerprint) otherwise.
    pub issuer: String,
    pub issuer_id: Option<String>,
    pub serial_hex: String,
    pub sans: Vec<String>,
    pub key_algorithm: String,
    pub signature_algorithm: String,
    pub spki_sha256: String,
    pub not_before: i64,
    pub not_after: i64,
    /// `leaf`, `intermediate`, `root`.
    pub chain_position: String,
    pub self_signed: bool,
    pub revoked_at: Option<i64>,
    /// Serial of the certificate that renewed this one.
    pub superseded_by: Option<String>,
    pub owner: Option<String>,
    pub team: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub first_seen: Option<i64>,
    pub last_seen: Option<i64>,
    pub created_at: i64,
}

impl InventoryItem {
    /// The status at `now`, `expiring` meaning within `window` seconds of its end.
    pub fn status_at(&self, now: i64, window: i64) -> Status {
        if self.revoked_at.is_some() {
            Status::Revoked
        } else if self.not_after < now {
            Status::Expired
        } else if self.superseded_by.is_some() {
            Status::Superseded
        } else if self.not_after < now.saturating_add(window) {
            Status::Expiring
        } else {
            Status::Active
        }
    }
}

/// A place an item was seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    /// `tls` or `file`.
    pub kind: String,
    /// TLS: the address scanned; file: the host the file is on.
    pub host: String,
    /// TLS: `host:port` (`[v6]:port`); file: the absolute path.
    pub endpoint: String,
    /// TLS: the server name sent ('' for none).
    pub sni: String,
    pub first_seen: i64,
    pub last_seen: i64,
    /// When a later scan of this place no longer found the item.
    pub gone_at: Option<i64>,
}

/// A private-key file a scan found (never its content).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyFile {
    pub host: String,
    pub path: String,
    pub key_type: String,
    /// Permission bits.
    pub mode: i64,
    pub uid: i64,
    pub first_seen: i64,
    pub last_seen: i64,
    pub gone_at: Option<i64>,
}

/// An item as a scan found it (described by the server from the DER / blob).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInventoryItem {
    pub fingerprint: String,
    pub kind: String,
    pub subject: String,
    pub issuer: String,
    pub serial_hex: String,
    pub sans: Vec<String>,
    pub key_algorithm: String,
    pub signature_algorithm: String,
    pub spki_sha256: String,
    pub not_before: i64,
    pub not_after: i64,
    pub chain_position: String,
    pub self_signed: bool,
    pub der: Vec<u8>,
}

/// A place a report covers, and what it found there now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sighting {
    /// `tls` or `file`.
    pub kind: String,
    pub host: String,
    pub endpoint: String,
    pub sni: String,
    pub items: Vec<NewInventoryItem>,
    /// The report speaks for the whole place: an item seen here before and not in
    /// `items` is gone (a reachable endpoint; a file read). False for an unreachable
    /// endpoint: nothing is concluded.
    pub authoritative: bool,
}

/// What a report adds to the inventory, prepared by the authority.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InventoryReport {
    pub now: i64,
    pub sightings: Vec<Sighting>,
    /// File scans: the host and the roots walked. File locations and key files of that
    /// host under a root that this report did not see are gone.
    pub file_scope: Option<(String, Vec<String>)>,
    pub key_files: Vec<(String, String, String, i64, i64)>,
    /// What this report's places are marked with ([`report_mark`]); 0: a new one. A
    /// report sent in parts gives every part the same mark, and the file scope to the
    /// last part only.
    pub mark: i64,
}

/// What ingesting a report changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportAck {
    /// Items in the report.
    pub certificates: i64,
    /// Items not in the inventory before.
    pub new: i64,
    /// Locations recorded (new or seen again).
    pub locations: i64,
    /// Locations and key files marked gone.
    pub gone: i64,
    /// Private-key files recorded.
    pub key_files: i64,
}

/// How a search is run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Search {
    pub query: Query,
    /// Opaque cursor from the previous page's [`Page::next`].
    pub after: Option<String>,
    pub limit: i64,
    pub now: i64,
    /// `expiring` means ending within this many seconds.
    pub expiring_window: i64,
}

/// One page of results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    pub items: Vec<InventoryItem>,
    /// The cursor of the next page, if there may be one.
    pub next: Option<String>,
}

/// Changes to an item's ownership (None = leave as is; Some(None) = clear).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemUpdate {
    pub owner: Option<Option<String>>,
    pub team: Option<Option<String>>,
    /// Replace the whole label set.
    pub labels: Option<BTreeMap<String, String>>,
}

/// A kind of finding and its candidates, as the store can select them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    /// Ends within the item's threshold (selected with the longest threshold).
    Expiring,
    ExpiredServed,
    RevokedServed,
    WeakKey,
    WeakSignature,
    SharedKey,
    SelfSignedLeaf,
    UnknownIssuer,
    Orphan,
    KeyFileReadable,
    /// An event, not a problem: a certificate issued here in the last day (for alert rules
    /// on issuance; never part of "every kind").
    Issued,
}

impl FindingKind {
    pub const ALL: [FindingKind; 10] = [
        FindingKind::Expiring,
        FindingKind::ExpiredServed,
        FindingKind::RevokedServed,
        FindingKind::WeakKey,
        FindingKind::WeakSignature,
        FindingKind::SharedKey,
        FindingKind::SelfSignedLeaf,
        FindingKind::UnknownIssuer,
        FindingKind::Orphan,
        FindingKind::KeyFileReadable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::Expiring => "expiring",
            FindingKind::ExpiredServed => "expired-served",
            FindingKind::RevokedServed => "revoked-served",
            FindingKind::WeakKey => "weak-key",
            FindingKind::WeakSignature => "weak-signature",
            FindingKind::SharedKey => "shared-key",
            FindingKind::SelfSignedLeaf => "self-signed-leaf",
            FindingKind::UnknownIssuer => "unknown-issuer",
            FindingKind::Orphan => "orphan",
            FindingKind::KeyFileReadable => "key-file-readable",
            FindingKind::Issued => "issued",
        }
    }

    /// A kind by name: a problem of [`FindingKind::ALL`], or the `issued` event.
    pub fn parse(s: &str) -> Option<FindingKind> {
        FindingKind::ALL
            .into_iter()
            .chain([FindingKind::Issued])
            .find(|k| k.as_str() == s)
    }
}

/// Parameters of the finding selections.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FindingParams {
    pub now: i64,
    /// The default expiry threshold (seconds): `expiring` items end within it …
    pub expiring_within: i64,
    /// … unless one of these labels (`name`, `value`, seconds) says otherwise: the first
    /// an item carries applies.
    pub thresholds: Vec<(String, String, i64)>,
    /// An issued certificate never seen after this many seconds is an orphan.
    pub orphan_after: i64,
    pub limit: i64,
    /// Only what alert rule `unalerted` has not alerted on yet (so a rule works through
    /// every finding, not the same first page each round).
    pub unalerted: Option<String>,
    /// Only items carrying all these labels (`name`, `value`).
    pub labels: Vec<(String, String)>,
}

/// Candidates of one finding kind: items, or key files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FindingRows {
    pub items: Vec<InventoryItem>,
    pub key_files: Vec<KeyFile>,
}

/// An alert to raise once per (rule, finding, subject).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAlert {
    pub rule: String,
    pub finding: String,
    pub subject_key: String,
    pub payload: String,
    /// Where to deliver: webhook URLs, or `log`.
    pub targets: Vec<String>,
    pub now: i64,
}

/// A delivery waiting for its next attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertDelivery {
    pub id: i64,
    pub alert_id: i64,
    pub rule: String,
    pub finding: String,
    pub subject_key: String,
    pub target: String,
    pub payload: String,
    pub attempts: i64,
    pub next_attempt: i64,
    pub delivered_at: Option<i64>,
    pub failed_at: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
}

/// The outcome of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Delivered {
        at: i64,
    },
    /// Failed; try again at `next_attempt`.
    Retry {
        next_attempt: i64,
        error: String,
    },
    /// Failed for good.
    GaveUp {
        at: i64,
        error: String,
    },
}

/// The inventory of a deployment; reached through [`crate::Store::inventory`].
#[async_trait]
pub trait InventoryStore: Send + Sync {
    /// Record what a scan found (one transaction, one audit entry).
    async fn ingest_report(
        &self,
        report: InventoryReport,
        audit: NewAuditEntry,
    ) -> Result<ReportAck, StoreError>;

    /// One page of the items matching `search`.
    async fn search_inventory(&self, search: &Search) -> Result<Page, StoreError>;

    /// One item by fingerprint, with its locations and DER (x509) or blob (SSH).
    async fn inventory_item(
        &self,
        fingerprint: &str,
    ) -> Result<Option<(InventoryItem, Vec<Location>, Vec<u8>)>, StoreError>;

    /// Change owner, team or labels (audited). NotFound if there is no such item.
    async fn update_inventory_item(
        &self,
        fingerprint: &str,
        update: ItemUpdate,
        audit: NewAuditEntry,
    ) -> Result<InventoryItem, StoreError>;

    /// How many items have each status at `now` (the dashboard's overview).
    async fn inventory_counts(
        &self,
        now: i64,
        expiring_window: i64,
    ) -> Result<BTreeMap<String, i64>, StoreError>;

    /// Per day (`floor(t / 86400)`), how many items end in `[from, until)`.
    async fn expiry_histogram(&self, from: i64, until: i64) -> Result<Vec<(i64, i64)>, StoreError>;

    /// Per day, how many certificates were issued here in `[from, until)`.
    async fn issuance_histogram(
        &self,
        from: i64,
        until: i64,
    ) -> Result<Vec<(i64, i64)>, StoreError>;

    /// The candidates of one finding kind, at most `params.limit`.
    async fn finding_rows(
        &self,
        kind: FindingKind,
        params: &FindingParams,
    ) -> Result<FindingRows, StoreError>;

    /// The live locations (not gone) of items by id, at most `per_item` each, newest first.
    async fn live_locations(
        &self,
        ids: &[i64],
        per_item: usize,
    ) -> Result<BTreeMap<i64, Vec<Location>>, StoreError>;

    /// Claim a due delivery for one attempt: move its `next_attempt` from `due` to
    /// `until`, unless someone else did first. True when this caller has it.
    async fn claim_delivery(&self, id: i64, due: i64, until: i64) -> Result<bool, StoreError>;

    /// Raise an alert and queue its deliveries, unless the same (rule, finding, subject)
    /// was raised before: then nothing is written and None is returned.
    async fn raise_alert(&self, alert: NewAlert) -> Result<Option<i64>, StoreError>;

    /// Deliveries due at `now` (neither delivered nor given up), oldest first.
    async fn due_deliveries(&self, now: i64, limit: i64) -> Result<Vec<AlertDelivery>, StoreError>;

    /// Record a delivery attempt.
    async fn record_delivery(&self, id: i64, outcome: DeliveryOutcome) -> Result<(), StoreError>;

    /// The latest alert deliveries, newest first.
    async fn recent_deliveries(&self, limit: i64) -> Result<Vec<AlertDelivery>, StoreError>;
}

/// An inventory write, as the writer receives it ([`crate::write_job::Op::Inventory`]).
pub(crate) enum InventoryWrite {
    Report {
        report: InventoryReport,
        audit: NewAuditEntry,
    },
    Update {
        fingerprint: String,
        update: ItemUpdate,
        audit: NewAuditEntry,
    },
    RaiseAlert(NewAlert),
    Claim {
        id: i64,
        due: i64,
        until: i64,
    },
    Delivery {
        id: i64,
        outcome: DeliveryOutcome,
    },
}

impl InventoryWrite {
    /// The audit entry appended when the write changes something (alerts and their
    /// deliveries have their own record, not the audit chain).
    pub(crate) fn audit(&self) -> Option<&NewAuditEntry> {
        match self {
            InventoryWrite::Report { audit, .. } | InventoryWrite::Update { audit, .. } => {
                Some(audit)
            }
            InventoryWrite::RaiseAlert(_)
            | InventoryWrite::Claim { .. }
            | InventoryWrite::Delivery { .. } => None,
        }
    }
}

/// A bind argument of a query built at run time.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Text(String),
    Int(i64),
}

/// A statement being built: SQL text and its arguments in `$n` order.
#[derive(Debug, Default)]
pub(crate) struct Sql {
    pub(crate) text: String,
    pub(crate) args: Vec<Arg>,
}

impl Sql {
    /// Add an argument; its placeholder.
    pub(crate) fn arg(&mut self, a: Arg) -> String {
        self.args.push(a);
        format!("${}", self.args.len())
    }
    pub(crate) fn text(&mut self, v: &str) -> String {
        self.arg(Arg::Text(v.to_owned()))
    }
    pub(crate) fn int(&mut self, v: i64) -> String {
        self.arg(Arg::Int(v))
    }
}

/// Columns of [`InventoryItem`], qualified by `i.`.
pub(crate) const ITEM_COLUMNS: &str = "i.id, i.fingerprint, i.kind, i.source, i.subject, i.issuer, \
     i.issuer_id, i.serial_hex, i.sans, i.key_algorithm, i.signature_algorithm, i.spki_sha256, \
     i.not_before, i.not_after, i.chain_position, i.self_signed, i.revoked_at, i.superseded_by, \
     i.owner, i.team, i.labels, i.first_seen, i.last_seen, i.created_at";

/// How a search page is read: which index drives it and how the cursor is kept.
enum Order {
    /// `ORDER BY i.id`; the cursor is the last id.
    Id,
    /// `ORDER BY i.not_after, i.id`; the cursor is `not_after.id`.
    NotAfter,
}

fn bad_cursor() -> StoreError {
    StoreError::NotFound {
        what: "page (the cursor is not one this search gave)".into(),
    }
}

/// Build the SELECT of a search page (`limit + 1` rows, to tell whether there is more).
pub(crate) fn search_sql(s: &Search) -> Result<(Sql, bool), StoreError> {
    let mut sql = Sql::default();
    let mut from = String::from("inventory i");
    let mut conds: Vec<String> = Vec::new();
    // The driving term: the most selective index, which also gives the order.
    let rank = |t: &Term| match t {
        Term::Hex(_) => 0,
        Term::Eq(Field::Fingerprint | Field::Serial | Field::Spki, _) => 0,
        Term::San(_) => 1,
        Term::Location(_) => 2,
        Term::Label(..) => 3,
        // Expired, expiring and active are ranges of not_after too.
        Term::ExpiresBefore(_)
        | Term::ExpiresAfter(_)
        | Term::Status(Status::Expired | Status::Expiring | Status::Active) => 4,
        Term::Eq(Field::Issuer | Field::Owner | Field::Team, _) => 5,
        _ => 9,
    };
    let driving = s
        .query
        .terms
        .iter()
        .enumerate()
        .min_by_key(|(_, t)| rank(t))
        .filter(|(_, t)| rank(t) < 9)
        .map(|(i, t)| (i, rank(t)));
    let mut order = Order::Id;
    let mut id_col = "i.id".to_owned();
    if let Some((idx, r)) = driving {
        match (&s.query.terms[idx], r) {
            (Term::San(v), _) => {
                from = "inventory_sans d JOIN inventory i ON i.id = d.inventory_id".into();
                let p = sql.text(v);
                conds.push(format!("d.value = {p}"));
                id_col = "d.inventory_id".into();
            }
            (Term::Label(n, v), _) => {
                from = "inventory_labels d JOIN inventory i ON i.id = d.inventory_id".into();
                let (pn, pv) = (sql.text(n), sql.text(v));
                conds.push(format!("d.name = {pn} AND d.value = {pv}"));
                id_col = "d.inventory_id".into();
            }
            (_, 4) => order = Order::NotAfter,
            _ => {}
        }
    }
    for (i, t) in s.query.terms.iter().enumerate() {
        if let Some((idx, _)) = driving
            && idx == i
            && matches!(t, Term::San(_) | Term::Label(..))
        {
            continue;
        }
        conds.push(term_sql(&mut sql, t, s)?);
    }
    let limit = s.limit.clamp(1, MAX_PAGE);
    match (&order, s.after.as_deref()) {
        (_, None) => {}
        (Order::Id, Some(c)) => {
            let id: i64 = c
                .strip_prefix('i')
                .and_then(|v| v.parse().ok())
                .ok_or_else(bad_cursor)?;
            let p = sql.int(id);
            conds.push(format!("{id_col} > {p}"));
            if id_col != "i.id" {
                // The joined table's order is the driver's; saying it of `i` too lets
                // PostgreSQL start its scan of inventory at the cursor.
                let p2 = sql.int(id);
                conds.push(format!("i.id > {p2}"));
            }
        }
        (Order::NotAfter, Some(c)) => {
            let (na, id) = c
                .strip_prefix('n')
                .and_then(|v| v.split_once('.'))
                .and_then(|(a, b)| Some((a.parse::<i64>().ok()?, b.parse::<i64>().ok()?)))
                .ok_or_else(bad_cursor)?;
            let (pa, pb) = (sql.int(na), sql.int(id));
            conds.push(format!("(i.not_after, i.id) > ({pa}, {pb})"));
        }
    }
    let order_by = match order {
        Order::Id => id_col.clone(),
        Order::NotAfter => "i.not_after, i.id".into(),
    };
    let p = sql.int(limit + 1);
    sql.text = format!(
        "SELECT {ITEM_COLUMNS} FROM {from}{}{} ORDER BY {order_by} LIMIT {p}",
        if conds.is_empty() { "" } else { " WHERE " },
        conds.join(" AND ")
    );
    Ok((sql, matches!(order, Order::NotAfter)))
}

/// The cursor that follows `item` in a search ordered by expiry (`by_expiry`) or id.
pub(crate) fn cursor_after(item: &InventoryItem, by_expiry: bool) -> String {
    if by_expiry {
        format!("n{}.{}", item.not_after, item.id)
    } else {
        format!("i{}", item.id)
    }
}

fn like_pattern(v: &str) -> String {
    let mut p = String::with_capacity(v.len() + 2);
    p.push('%');
    for c in v.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// The condition of one term.
fn term_sql(sql: &mut Sql, t: &Term, s: &Search) -> Result<String, StoreError> {
    let now = s.now;
    let soon = now.saturating_add(s.expiring_window);
    Ok(match t {
        Term::Eq(f, v) => {
            let p = sql.text(v);
            format!("i.{} = {p}", f.column())
        }
        Term::Contains(f, v) => {
            let p = sql.text(&like_pattern(v));
            format!("lower(i.{}) LIKE {p} ESCAPE '\\'", f.column())
        }
        Term::Hex(v) => {
            let (a, b) = (sql.text(v), sql.text(v));
            format!("(i.fingerprint = {a} OR i.serial_hex = {b})")
        }
        Term::San(v) => {
            let p = sql.text(v);
            format!("i.id IN (SELECT inventory_id FROM inventory_sans WHERE value = {p})")
        }
        Term::Label(n, v) => {
            let (pn, pv) = (sql.text(n), sql.text(v));
            format!(
                "i.id IN (SELECT inventory_id FROM inventory_labels WHERE name = {pn} AND value = {pv})"
            )
        }
        Term::Location(v) => {
            let exact = sql.text(v);
            // A host (every port) or a directory (every file below it): a range on the
            // endpoint index. `;` and `0` are the characters after `:` and `/`.
            let prefix = if v.starts_with('/') {
                Some((format!("{}/", v.trim_end_matches('/')), '0'))
            } else if v
                .rsplit_once(':')
                .is_none_or(|(_, p)| p.parse::<u16>().is_err())
            {
                Some((format!("{v}:"), ';'))
            } else {
                None
            };
            match prefix {
                Some((lo, next)) => {
                    let hi = format!("{}{next}", &lo[..lo.len() - 1]);
                    let (plo, phi) = (sql.text(&lo), sql.text(&hi));
                    format!(
                        "i.id IN (SELECT inventory_id FROM inventory_locations WHERE endpoint = {exact} \
                         OR (endpoint >= {plo} AND endpoint < {phi}))"
                    )
                }
                None => format!(
                    "i.id IN (SELECT inventory_id FROM inventory_locations WHERE endpoint = {exact})"
                ),
            }
        }
        Term::ExpiresBefore(t) => format!("i.not_after < {}", sql.int(*t)),
        Term::ExpiresAfter(t) => format!("i.not_after >= {}", sql.int(*t)),
        Term::Status(st) => {
            let n = sql.int(now);
            let w = sql.int(soon);
            match st {
                Status::Revoked => "i.revoked_at IS NOT NULL".into(),
                Status::Expired => format!("i.revoked_at IS NULL AND i.not_after < {n}"),
                Status::Superseded => format!(
                    "i.revoked_at IS NULL AND i.not_after >= {n} AND i.superseded_by IS NOT NULL"
                ),
                Status::Expiring => format!(
                    "i.revoked_at IS NULL AND i.superseded_by IS NULL AND i.not_after >= {n} \
                     AND i.not_after < {w}"
                ),
                Status::Active => format!(
                    "i.revoked_at IS NULL AND i.superseded_by IS NULL AND i.not_after >= {w}"
                ),
            }
        }
        Term::Seen(seen) => match seen {
            Seen::Live => {
                "EXISTS (SELECT 1 FROM inventory_locations l WHERE l.inventory_id = i.id \
                 AND l.gone_at IS NULL)"
                    .into()
            }
            Seen::Gone => {
                "EXISTS (SELECT 1 FROM inventory_locations l WHERE l.inventory_id = i.id) \
                 AND NOT EXISTS (SELECT 1 FROM inventory_locations l WHERE l.inventory_id = i.id \
                 AND l.gone_at IS NULL)"
                    .into()
            }
            Seen::Never => {
                "NOT EXISTS (SELECT 1 FROM inventory_locations l WHERE l.inventory_id = i.id)"
                    .into()
            }
        },
    })
}

/// The WHERE clause of a finding kind's candidates (items `i`), or None for key files.
pub(crate) fn finding_sql(kind: FindingKind, p: &FindingParams, sql: &mut Sql) -> Option<String> {
    let base = finding_base_sql(kind, p, sql)?;
    let mut cond = format!("({base})");
    for (n, v) in &p.labels {
        let (pn, pv) = (sql.text(n), sql.text(v));
        cond.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM inventory_labels fl WHERE fl.inventory_id = i.id \
             AND fl.name = {pn} AND fl.value = {pv})"
        ));
    }
    if let Some(rule) = &p.unalerted {
        let (pr, pk) = (sql.text(rule), sql.text(kind.as_str()));
        cond.push_str(&format!(
            " AND NOT EXISTS (SELECT 1 FROM alerts fa WHERE fa.rule = {pr} AND fa.finding = {pk} \
             AND fa.subject_key = i.fingerprint)"
        ));
    }
    Some(cond)
}

/// The condition of a finding kind alone.
fn finding_base_sql(kind: FindingKind, p: &FindingParams, sql: &mut Sql) -> Option<String> {
    const LIVE_TLS: &str = "EXISTS (SELECT 1 FROM inventory_locations l WHERE l.inventory_id = i.id \
         AND l.kind = 'tls' AND l.gone_at IS NULL)";
    Some(match kind {
        FindingKind::Expiring => {
            let longest = p
                .thresholds
                .iter()
                .map(|t| t.2)
                .chain([p.expiring_within])
                .max()
                .unwrap_or(0);
            let (n, w) = (sql.int(p.now), sql.int(p.now.saturating_add(longest)));
            let mut cond = format!(
                "i.not_after >= {n} AND i.not_after < {w} AND i.revoked_at IS NULL \
                 AND i.superseded_by IS NULL AND i.source <> 'internal'"
            );
            if !p.thresholds.is_empty() {
                // Each item's own threshold: the first of its labels that has one.
                let mut case = String::from("CASE");
                for (name, value, secs) in &p.thresholds {
                    let (pn, pv, ps) = (sql.text(name), sql.text(value), sql.int(*secs));
                    case.push_str(&format!(
                        " WHEN EXISTS (SELECT 1 FROM inventory_labels tl WHERE tl.inventory_id = i.id \
                         AND tl.name = {pn} AND tl.value = {pv}) THEN {ps}"
                    ));
                }
                let (pd, pn2) = (sql.int(p.expiring_within), sql.int(p.now));
                case.push_str(&format!(" ELSE {pd} END"));
                cond.push_str(&format!(" AND i.not_after - {pn2} < {case}"));
            }
            cond
        }
        FindingKind::ExpiredServed => {
            let n = sql.int(p.now);
            format!("i.not_after < {n} AND {LIVE_TLS}")
        }
        FindingKind::RevokedServed => format!("i.revoked_at IS NOT NULL AND {LIVE_TLS}"),
        // RSA under 2048 bits: `rsa-` and three digits, or four below `2048` (same length,
        // so the text order is the number order); DSA; RSA of unknown size.
        FindingKind::WeakKey => {
            "(i.key_algorithm IN ('dsa', 'rsa') OR (i.key_algorithm LIKE 'rsa-%' \
             AND (length(i.key_algorithm) < 8 OR (length(i.key_algorithm) = 8 \
             AND i.key_algorithm < 'rsa-2048'))))"
                .into()
        }
        FindingKind::WeakSignature => "i.signature_algorithm IN ('sha1WithRSAEncryption', \
             'ecdsa-with-SHA1', 'dsa-with-sha1', 'md5WithRSAEncryption', 'md2WithRSAEncryption')"
            .into(),
        FindingKind::SharedKey => {
            let n = sql.int(p.now);
            format!(
                "i.spki_sha256 IN (SELECT spki_sha256 FROM inventory WHERE spki_sha256 <> '' \
                 GROUP BY spki_sha256 HAVING COUNT(*) > 1) \
                 AND i.kind = 'x509' AND i.chain_position = 'leaf' AND i.revoked_at IS NULL \
                 AND i.not_after >= {n} AND i.spki_sha256 <> '' AND EXISTS (SELECT 1 FROM inventory o \
                 WHERE o.spki_sha256 = i.spki_sha256 AND o.id <> i.id AND o.kind = 'x509' \
                 AND o.chain_position = 'leaf' AND o.revoked_at IS NULL AND o.not_after >= {n} \
                 AND (o.subject <> i.subject OR o.sans <> i.sans))"
            )
        }
        FindingKind::SelfSignedLeaf => {
            "i.kind = 'x509' AND i.chain_position = 'leaf' AND i.self_signed = 1".into()
        }
        FindingKind::UnknownIssuer => {
            "i.kind = 'x509' AND i.issuer_id IS NULL AND i.self_signed = 0 \
             AND i.chain_position = 'leaf' AND NOT EXISTS (SELECT 1 FROM inventory c \
             WHERE c.subject = i.issuer AND c.chain_position <> 'leaf') \
             AND i.issuer NOT IN (SELECT id FROM issuers)"
                .into()
        }
        FindingKind::Orphan => {
            let (n, c) = (
                sql.int(p.now),
                sql.int(p.now.saturating_sub(p.orphan_after)),
            );
            format!(
                "i.kind = 'x509' AND i.source NOT IN ('discovered', 'internal') \
                 AND i.revoked_at IS NULL AND i.superseded_by IS NULL AND i.not_after >= {n} \
                 AND i.created_at <= {c} AND NOT EXISTS (SELECT 1 FROM inventory_locations l \
                 WHERE l.inventory_id = i.id)"
            )
        }
        FindingKind::Issued => {
            let since = sql.int(p.now.saturating_sub(86_400));
            format!(
                "i.kind = 'x509' AND i.source NOT IN ('discovered', 'internal') \
                 AND i.created_at >= {since}"
            )
        }
        FindingKind::KeyFileReadable => return None,
    })
}

/// The file places a scan covers: (table, path column, extra condition).
pub(crate) const FILE_PLACES: [(&str, &str, &str); 2] = [
    ("inventory_locations", "endpoint", " AND kind = 'file'"),
    ("inventory_key_files", "path", ""),
];

/// The range of paths strictly below `path` (a directory): `[path/, path0)` (`0` is the
/// character after `/`), so an index on the path answers it.
pub(crate) fn below(path: &str) -> (String, String) {
    let p = path.trim_end_matches('/');
    (format!("{p}/"), format!("{p}0"))
}

/// A random mark for the places one report saw (never 0, the column's default).
pub fn report_mark() -> Result<i64, StoreError> {
    let mut b = [0u8; 8];
    aws_lc_rs::rand::fill(&mut b)
        .map_err(|_| StoreError::Corrupt("the system random generator failed".into()))?;
    Ok(i64::from_le_bytes(b) | 1)
}

/// Check an update's bounds before it reaches the database (a Conflict naming what is
/// wrong).
pub fn check_update(u: &ItemUpdate) -> Result<(), StoreError> {
    let bad = |what: String| StoreError::Conflict { what };
    for v in [&u.owner, &u.team].into_iter().flatten().flatten() {
        if v.is_empty() || v.len() > 256 || v.chars().any(char::is_control) {
            return Err(bad(format!(
                "owner/team {:?}: 1 to 256 printable characters",
                v.chars().take(40).collect::<String>()
            )));
        }
    }
    if let Some(labels) = &u.labels {
        if labels.len() > MAX_LABELS {
            return Err(bad(format!("more than {MAX_LABELS} labels")));
        }
        for (k, v) in labels {
            let ok_name = !k.is_empty()
                && k.len() <= 64
                && k.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b));
            if !ok_name || v.len() > 256 || v.chars().any(|c| c.is_control() || c.is_whitespace()) {
                return Err(bad(format!(
                    "label {:?}: names are 1 to 64 of [A-Za-z0-9-_./], values up to 256 characters without spaces",
                    k.chars().take(40).collect::<String>()
                )));
            }
        }
    }
    Ok(())
}

/// The inventory statements and the [`InventoryStore`] implementation of one backend.
macro_rules! inventory_backend {
    ($store:ty, $db:ty, reader: $reader:ident) => {
        use std::collections::BTreeMap;

        use async_trait::async_trait;
        use sqlx::Row;

        use $crate::NewAuditEntry;
        use $crate::StoreError;
        use $crate::acme::{from_json, to_json};
        use $crate::inventory::{
            AlertDelivery, Arg, DeliveryOutcome, FindingKind, FindingParams, FindingRows,
            ITEM_COLUMNS, InventoryItem, InventoryReport, InventoryStore, InventoryWrite,
            ItemUpdate, KeyFile, Location, NewAlert, Page, ReportAck, Search, Sql,
        };
        use $crate::write_job::{Done, Op};

        type Conn = <$db as sqlx::Database>::Connection;
        type DbRow = <$db as sqlx::Database>::Row;

        fn item_from_row(r: &DbRow) -> Result<InventoryItem, StoreError> {
            let sans: String = r.try_get("sans")?;
            let labels: String = r.try_get("labels")?;
            let self_signed: i64 = r.try_get("self_signed")?;
            Ok(InventoryItem {
                id: r.try_get("id")?,
                fingerprint: r.try_get("fingerprint")?,
                kind: r.try_get("kind")?,
                source: r.try_get("source")?,
                subject: r.try_get("subject")?,
                issuer: r.try_get("issuer")?,
                issuer_id: r.try_get("issuer_id")?,
                serial_hex: r.try_get("serial_hex")?,
                sans: from_json(&sans, "inventory.sans")?,
                key_algorithm: r.try_get("key_algorithm")?,
                signature_algorithm: r.try_get("signature_algorithm")?,
                spki_sha256: r.try_get("spki_sha256")?,
                not_before: r.try_get("not_before")?,
                not_after: r.try_get("not_after")?,
                chain_position: r.try_get("chain_position")?,
                self_signed: self_signed != 0,
                revoked_at: r.try_get("revoked_at")?,
                superseded_by: r.try_get("superseded_by")?,
                owner: r.try_get("owner")?,
                team: r.try_get("team")?,
                labels: from_json(&labels, "inventory.labels")?,
                first_seen: r.try_get("first_seen")?,
                last_seen: r.try_get("last_seen")?,
                created_at: r.try_get("created_at")?,
            })
        }

        fn location_from_row(r: &DbRow) -> Result<Location, StoreError> {
            Ok(Location {
                kind: r.try_get("kind")?,
                host: r.try_get("host")?,
                endpoint: r.try_get("endpoint")?,
                sni: r.try_get("sni")?,
                first_seen: r.try_get("first_seen")?,
                last_seen: r.try_get("last_seen")?,
                gone_at: r.try_get("gone_at")?,
            })
        }

        fn key_file_from_row(r: &DbRow) -> Result<KeyFile, StoreError> {
            Ok(KeyFile {
                host: r.try_get("host")?,
                path: r.try_get("path")?,
                key_type: r.try_get("key_type")?,
                mode: r.try_get("mode")?,
                uid: r.try_get("uid")?,
                first_seen: r.try_get("first_seen")?,
                last_seen: r.try_get("last_seen")?,
                gone_at: r.try_get("gone_at")?,
            })
        }

        const DELIVERY_COLUMNS: &str = "d.id, d.alert_id, a.rule, a.finding, a.subject_key, d.target, \
             a.payload, d.attempts, d.next_attempt, d.delivered_at, d.failed_at, d.last_error, \
             a.created_at";

        fn delivery_from_row(r: &DbRow) -> Result<AlertDelivery, StoreError> {
            Ok(AlertDelivery {
                id: r.try_get("id")?,
                alert_id: r.try_get("alert_id")?,
                rule: r.try_get("rule")?,
                finding: r.try_get("finding")?,
                subject_key: r.try_get("subject_key")?,
                target: r.try_get("target")?,
                payload: r.try_get("payload")?,
                attempts: r.try_get("attempts")?,
                next_attempt: r.try_get("next_attempt")?,
                delivered_at: r.try_get("delivered_at")?,
                failed_at: r.try_get("failed_at")?,
                last_error: r.try_get("last_error")?,
                created_at: r.try_get("created_at")?,
            })
        }

        fn bind_all<'q>(
            mut q: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments>,
            args: &'q [Arg],
        ) -> sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments> {
            for a in args {
                q = match a {
                    Arg::Text(s) => q.bind(s.as_str()),
                    Arg::Int(n) => q.bind(*n),
                };
            }
            q
        }

        /// Upsert a sighted item; (id, whether it is new).
        async fn upsert_item(
            conn: &mut Conn,
            it: &$crate::inventory::NewInventoryItem,
            now: i64,
        ) -> Result<(i64, bool), StoreError> {
            let existing: Option<i64> =
                sqlx::query_scalar("SELECT id FROM inventory WHERE fingerprint = $1")
                    .bind(&it.fingerprint)
                    .fetch_optional(&mut *conn)
                    .await?;
            if let Some(id) = existing {
                sqlx::query(
                    // A certificate served as an end-entity is a leaf, whatever a file
                    // suggested before.
                    "UPDATE inventory SET last_seen = $2, first_seen = COALESCE(first_seen, $2), \
                     chain_position = CASE WHEN $3 = 'leaf' THEN 'leaf' ELSE chain_position END \
                     WHERE id = $1",
                )
                .bind(id)
                .bind(now)
                .bind(&it.chain_position)
                .execute(&mut *conn)
                .await?;
                return Ok((id, false));
            }
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO inventory (fingerprint, kind, source, subject, issuer, serial_hex, sans, \
                 key_algorithm, signature_algorithm, spki_sha256, not_before, not_after, chain_position, \
                 self_signed, first_seen, last_seen, created_at, der) \
                 VALUES ($1, $2, 'discovered', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14, $14, $15) \
                 RETURNING id",
            )
            .bind(&it.fingerprint)
            .bind(&it.kind)
            .bind(&it.subject)
            .bind(&it.issuer)
            .bind(&it.serial_hex)
            .bind(to_json(&it.sans, "sans")?)
            .bind(&it.key_algorithm)
            .bind(&it.signature_algorithm)
            .bind(&it.spki_sha256)
            .bind(it.not_before)
            .bind(it.not_after)
            .bind(&it.chain_position)
            .bind(i64::from(it.self_signed))
            .bind(now)
            .bind(&it.der)
            .fetch_one(&mut *conn)
            .await?;
            Ok((id, true))
        }

        async fn apply_report(
            conn: &mut Conn,
            report: &InventoryReport,
        ) -> Result<ReportAck, StoreError> {
            let now = report.now;
            // What this report saw carries its mark; the rest of a place it covers is gone.
            let mark = match report.mark {
                0 => $crate::inventory::report_mark()?,
                m => m,
            };
            let mut ack = ReportAck::default();
            for s in &report.sightings {
                let mut ids = Vec::with_capacity(s.items.len());
                for it in &s.items {
                    let (id, new) = upsert_item(conn, it, now).await?;
                    ack.certificates += 1;
                    ack.new += i64::from(new);
                    if ids.contains(&id) {
                        continue;
                    }
                    ids.push(id);
                    sqlx::query(
                        "INSERT INTO inventory_locations (inventory_id, kind, host, endpoint, sni, \
                         first_seen, last_seen, seen_mark) VALUES ($1, $2, $3, $4, $5, $6, $6, $7) \
                         ON CONFLICT (kind, host, endpoint, sni, inventory_id) \
                         DO UPDATE SET last_seen = excluded.last_seen, gone_at = NULL, \
                         seen_mark = excluded.seen_mark",
                    )
                    .bind(id)
                    .bind(&s.kind)
                    .bind(&s.host)
                    .bind(&s.endpoint)
                    .bind(&s.sni)
                    .bind(now)
                    .bind(mark)
                    .execute(&mut *conn)
                    .await?;
                    ack.locations += 1;
                }
                if s.authoritative {
                    // What was here before and is not now.
                    let gone = sqlx::query(
                        "UPDATE inventory_locations SET gone_at = $5 WHERE kind = $1 AND host = $2 \
                         AND endpoint = $3 AND sni = $4 AND gone_at IS NULL AND seen_mark <> $6",
                    )
                    .bind(&s.kind)
                    .bind(&s.host)
                    .bind(&s.endpoint)
                    .bind(&s.sni)
                    .bind(now)
                    .bind(mark)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                    ack.gone += gone as i64;
                }
            }
            for (host, path, key_type, mode, uid) in &report.key_files {
                sqlx::query(
                    "INSERT INTO inventory_key_files (host, path, key_type, mode, uid, first_seen, last_seen, \
                     seen_mark) VALUES ($1, $2, $3, $4, $5, $6, $6, $7) ON CONFLICT (host, path) DO UPDATE SET \
                     key_type = excluded.key_type, mode = excluded.mode, uid = excluded.uid, \
                     last_seen = excluded.last_seen, gone_at = NULL, seen_mark = excluded.seen_mark",
                )
                .bind(host)
                .bind(path)
                .bind(key_type)
                .bind(*mode)
                .bind(*uid)
                .bind(now)
                .bind(mark)
                .execute(&mut *conn)
                .await?;
                ack.key_files += 1;
            }
            // A file or directory that could not be read this time proves nothing:
            // what was recorded there (below it) takes this report's mark, unchanged
            // otherwise, so the sweep below leaves it alone.
            for s in report.sightings.iter().filter(|s| s.kind == "file" && !s.authoritative) {
                let (below, end) = $crate::inventory::below(&s.endpoint);
                for (table, col, kind) in $crate::inventory::FILE_PLACES {
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "UPDATE {table} SET seen_mark = $5 WHERE host = $1{kind} AND gone_at IS NULL \
                         AND ({col} = $2 OR ({col} >= $3 AND {col} < $4))"
                    )))
                    .bind(&s.host)
                    .bind(&s.endpoint)
                    .bind(&below)
                    .bind(&end)
                    .bind(mark)
                    .execute(&mut *conn)
                    .await?;
                }
            }
            if let Some((host, roots)) = &report.file_scope {
                for root in roots {
                    // The root itself (a file) or everything below it (a directory).
                    let (lo, hi) = $crate::inventory::below(root);
                    for (table, col, kind) in $crate::inventory::FILE_PLACES {
                        let gone = sqlx::query(sqlx::AssertSqlSafe(format!(
                            "UPDATE {table} SET gone_at = $2 WHERE host = $1{kind} \
                             AND gone_at IS NULL AND seen_mark <> $6 \
                             AND ({col} = $3 OR ({col} >= $4 AND {col} < $5))"
                        )))
                        .bind(host)
                        .bind(now)
                        .bind(root)
                        .bind(&lo)
                        .bind(&hi)
                        .bind(mark)
                        .execute(&mut *conn)
                        .await?
                        .rows_affected();
                        ack.gone += gone as i64;
                    }
                }
            }
            Ok(ack)
        }

        async fn apply_update(
            conn: &mut Conn,
            fingerprint: &str,
            u: &ItemUpdate,
        ) -> Result<i64, StoreError> {
            let id: Option<i64> =
                sqlx::query_scalar("SELECT id FROM inventory WHERE fingerprint = $1")
                    .bind(fingerprint)
                    .fetch_optional(&mut *conn)
                    .await?;
            let id = id.ok_or_else(|| StoreError::NotFound {
                what: format!("inventory item {fingerprint}"),
            })?;
            if let Some(owner) = &u.owner {
                sqlx::query("UPDATE inventory SET owner = $2 WHERE id = $1")
                    .bind(id)
                    .bind(owner)
                    .execute(&mut *conn)
                    .await?;
            }
            if let Some(team) = &u.team {
                sqlx::query("UPDATE inventory SET team = $2 WHERE id = $1")
                    .bind(id)
                    .bind(team)
                    .execute(&mut *conn)
                    .await?;
            }
            if let Some(labels) = &u.labels {
                sqlx::query("UPDATE inventory SET labels = $2 WHERE id = $1")
                    .bind(id)
                    .bind(to_json(labels, "labels")?)
                    .execute(&mut *conn)
                    .await?;
                sqlx::query("DELETE FROM inventory_labels WHERE inventory_id = $1")
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
                for (k, v) in labels {
                    sqlx::query(
                        "INSERT INTO inventory_labels (name, value, inventory_id) VALUES ($1, $2, $3)",
                    )
                    .bind(k)
                    .bind(v)
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
                }
            }
            Ok(id)
        }

        /// Run one write inside the writer's savepoint; the bool says whether it changed
        /// anything.
        pub(crate) async fn apply(
            conn: &mut Conn,
            write: &InventoryWrite,
        ) -> Result<(Done, bool), StoreError> {
            match write {
                InventoryWrite::Report { report, .. } => {
                    let ack = apply_report(conn, report).await?;
                    Ok((Done::Json(to_json(&ack, "report ack")?), true))
                }
                InventoryWrite::Update { fingerprint, update, .. } => {
                    let id = apply_update(conn, fingerprint, update).await?;
                    Ok((Done::Number(id), true))
                }
                InventoryWrite::RaiseAlert(a) => {
                    let id: Option<i64> = sqlx::query_scalar(
                        "INSERT INTO alerts (rule, finding, subject_key, payload, created_at) \
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (rule, finding, subject_key) DO NOTHING \
                         RETURNING id",
                    )
                    .bind(&a.rule)
                    .bind(&a.finding)
                    .bind(&a.subject_key)
                    .bind(&a.payload)
                    .bind(a.now)
                    .fetch_optional(&mut *conn)
                    .await?;
                    let Some(id) = id else {
                        return Ok((Done::Number(0), false));
                    };
                    for t in &a.targets {
                        sqlx::query(
                            "INSERT INTO alert_deliveries (alert_id, target, next_attempt) VALUES ($1, $2, $3)",
                        )
                        .bind(id)
                        .bind(t)
                        .bind(a.now)
                        .execute(&mut *conn)
                        .await?;
                    }
                    Ok((Done::Number(id), true))
                }
                InventoryWrite::Claim { id, due, until } => {
                    let n = sqlx::query(
                        "UPDATE alert_deliveries SET next_attempt = $3 WHERE id = $1 \
                         AND next_attempt = $2 AND delivered_at IS NULL AND failed_at IS NULL",
                    )
                    .bind(*id)
                    .bind(*due)
                    .bind(*until)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                    Ok((Done::Number(n as i64), n > 0))
                }
                InventoryWrite::Delivery { id, outcome } => {
                    let q = match outcome {
                        DeliveryOutcome::Delivered { at } => sqlx::query(
                            "UPDATE alert_deliveries SET attempts = attempts + 1, delivered_at = $2, \
                             last_error = NULL WHERE id = $1",
                        )
                        .bind(*id)
                        .bind(*at),
                        DeliveryOutcome::Retry { next_attempt, error } => sqlx::query(
                            "UPDATE alert_deliveries SET attempts = attempts + 1, next_attempt = $2, \
                             last_error = $3 WHERE id = $1",
                        )
                        .bind(*id)
                        .bind(*next_attempt)
                        .bind(error.as_str()),
                        DeliveryOutcome::GaveUp { at, error } => sqlx::query(
                            "UPDATE alert_deliveries SET attempts = attempts + 1, failed_at = $2, \
                             last_error = $3 WHERE id = $1",
                        )
                        .bind(*id)
                        .bind(*at)
                        .bind(error.as_str()),
                    };
                    let n = q.execute(&mut *conn).await?.rows_affected();
                    Ok((Done::Number(n as i64), n > 0))
                }
            }
        }

        impl $store {
            async fn inventory_write(&self, write: InventoryWrite) -> Result<Done, StoreError> {
                self.write(Op::Inventory(Box::new(write))).await
            }

            /// (day, count) rows of a `day, n` query over `[$1, $2)`.
            async fn per_day(
                &self,
                sql: &'static str,
                from: i64,
                until: i64,
            ) -> Result<Vec<(i64, i64)>, StoreError> {
                let rows = sqlx::query(sql)
                    .bind(from)
                    .bind(until)
                    .fetch_all(&self.$reader)
                    .await?;
                rows.iter()
                    .map(|r| Ok((r.try_get("day")?, r.try_get("n")?)))
                    .collect()
            }
        }

        #[async_trait]
        impl InventoryStore for $store {
            async fn ingest_report(
                &self,
                report: InventoryReport,
                audit: NewAuditEntry,
            ) -> Result<ReportAck, StoreError> {
                match self
                    .inventory_write(InventoryWrite::Report { report, audit })
                    .await?
                {
                    Done::Json(j) => from_json(&j, "report ack"),
                    _ => Err(StoreError::Corrupt("ingest_report: unexpected answer".into())),
                }
            }

            async fn search_inventory(&self, search: &Search) -> Result<Page, StoreError> {
                let (sql, by_expiry) = $crate::inventory::search_sql(search)?;
                let rows = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql.text.clone())), &sql.args)
                    .fetch_all(&self.$reader)
                    .await?;
                let mut items = rows.iter().map(item_from_row).collect::<Result<Vec<_>, _>>()?;
                let limit = search.limit.clamp(1, $crate::inventory::MAX_PAGE) as usize;
                let next = if items.len() > limit {
                    items.truncate(limit);
                    items
                        .last()
                        .map(|i| $crate::inventory::cursor_after(i, by_expiry))
                } else {
                    None
                };
                Ok(Page { items, next })
            }

            async fn inventory_item(
                &self,
                fingerprint: &str,
            ) -> Result<Option<(InventoryItem, Vec<Location>, Vec<u8>)>, StoreError> {
                let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {ITEM_COLUMNS}, COALESCE(i.der, c.der) AS der FROM inventory i \
                     LEFT JOIN certificates c ON c.serial_hex = i.serial_hex AND c.fingerprint = i.fingerprint \
                     AND i.der IS NULL \
                     WHERE i.fingerprint = $1"
                )))
                .bind(fingerprint)
                .fetch_optional(&self.$reader)
                .await?;
                let Some(row) = row else { return Ok(None) };
                let item = item_from_row(&row)?;
                let der: Option<Vec<u8>> = row.try_get("der")?;
                let locations = sqlx::query(
                    "SELECT kind, host, endpoint, sni, first_seen, last_seen, gone_at \
                     FROM inventory_locations WHERE inventory_id = $1 ORDER BY last_seen DESC, id LIMIT 1000",
                )
                .bind(item.id)
                .fetch_all(&self.$reader)
                .await?
                .iter()
                .map(location_from_row)
                .collect::<Result<Vec<_>, _>>()?;
                Ok(Some((item, locations, der.unwrap_or_default())))
            }

            async fn update_inventory_item(
                &self,
                fingerprint: &str,
                update: ItemUpdate,
                audit: NewAuditEntry,
            ) -> Result<InventoryItem, StoreError> {
                $crate::inventory::check_update(&update)?;
                self.inventory_write(InventoryWrite::Update {
                    fingerprint: fingerprint.to_owned(),
                    update,
                    audit,
                })
                .await?;
                match self.inventory_item(fingerprint).await? {
                    Some((item, _, _)) => Ok(item),
                    None => Err(StoreError::NotFound {
                        what: format!("inventory item {fingerprint}"),
                    }),
                }
            }

            async fn inventory_counts(
                &self,
                now: i64,
                expiring_window: i64,
            ) -> Result<BTreeMap<String, i64>, StoreError> {
                let row = sqlx::query(
                    "SELECT \
                     COUNT(*) AS total, \
                     COALESCE(SUM(CASE WHEN revoked_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS revoked, \
                     COALESCE(SUM(CASE WHEN revoked_at IS NULL AND not_after < $1 THEN 1 ELSE 0 END), 0) AS expired, \
                     COALESCE(SUM(CASE WHEN revoked_at IS NULL AND not_after >= $1 AND superseded_by IS NOT NULL THEN 1 ELSE 0 END), 0) AS superseded, \
                     COALESCE(SUM(CASE WHEN revoked_at IS NULL AND superseded_by IS NULL AND not_after >= $1 AND not_after < $2 THEN 1 ELSE 0 END), 0) AS expiring, \
                     COALESCE(SUM(CASE WHEN source = 'discovered' THEN 1 ELSE 0 END), 0) AS discovered \
                     FROM inventory",
                )
                .bind(now)
                .bind(now.saturating_add(expiring_window))
                .fetch_one(&self.$reader)
                .await?;
                let mut out = BTreeMap::new();
                for k in ["total", "revoked", "expired", "superseded", "expiring", "discovered"] {
                    let v: i64 = row.try_get(k)?;
                    out.insert(k.to_owned(), v);
                }
                let active = out["total"] - out["revoked"] - out["expired"] - out["superseded"]
                    - out["expiring"];
                out.insert("active".into(), active);
                Ok(out)
            }

            async fn expiry_histogram(
                &self,
                from: i64,
                until: i64,
            ) -> Result<Vec<(i64, i64)>, StoreError> {
                self.per_day(
                    "SELECT not_after / 86400 AS day, COUNT(*) AS n FROM inventory \
                     WHERE not_after >= $1 AND not_after < $2 AND revoked_at IS NULL \
                     GROUP BY not_after / 86400 ORDER BY day",
                    from,
                    until,
                )
                .await
            }

            async fn issuance_histogram(
                &self,
                from: i64,
                until: i64,
            ) -> Result<Vec<(i64, i64)>, StoreError> {
                self.per_day(
                    "SELECT created_at / 86400 AS day, COUNT(*) AS n FROM certificates \
                     WHERE created_at >= $1 AND created_at < $2 \
                     GROUP BY created_at / 86400 ORDER BY day",
                    from,
                    until,
                )
                .await
            }

            async fn finding_rows(
                &self,
                kind: FindingKind,
                params: &FindingParams,
            ) -> Result<FindingRows, StoreError> {
                let mut sql = Sql::default();
                let limit = params.limit.clamp(1, 100_000);
                match $crate::inventory::finding_sql(kind, params, &mut sql) {
                    Some(cond) => {
                        let order = if kind == FindingKind::Expiring {
                            "i.not_after, i.id"
                        } else {
                            "i.id"
                        };
                        let p = sql.int(limit);
                        sql.text = format!(
                            "SELECT {ITEM_COLUMNS} FROM inventory i WHERE {cond} ORDER BY {order} LIMIT {p}"
                        );
                        let rows =
                            bind_all(sqlx::query(sqlx::AssertSqlSafe(sql.text.clone())), &sql.args)
                                .fetch_all(&self.$reader)
                                .await?;
                        Ok(FindingRows {
                            items: rows.iter().map(item_from_row).collect::<Result<_, _>>()?,
                            key_files: Vec::new(),
                        })
                    }
                    None => {
                        if !params.labels.is_empty() {
                            // Key files carry no labels.
                            return Ok(FindingRows::default());
                        }
                        // Readable by group or others: mode & 0o044 (36), without bit operators.
                        let rows = sqlx::query(
                            "SELECT k.host, k.path, k.key_type, k.mode, k.uid, k.first_seen, k.last_seen, \
                             k.gone_at FROM inventory_key_files k WHERE k.gone_at IS NULL \
                             AND ((k.mode / 32) % 2 = 1 OR (k.mode / 4) % 2 = 1) \
                             AND ($2 = '' OR NOT EXISTS (SELECT 1 FROM alerts fa WHERE fa.rule = $2 \
                             AND fa.finding = 'key-file-readable' AND fa.subject_key = k.host || ':' || k.path)) \
                             ORDER BY k.host, k.path LIMIT $1",
                        )
                        .bind(limit)
                        .bind(params.unalerted.as_deref().unwrap_or(""))
                        .fetch_all(&self.$reader)
                        .await?;
                        Ok(FindingRows {
                            items: Vec::new(),
                            key_files: rows.iter().map(key_file_from_row).collect::<Result<_, _>>()?,
                        })
                    }
                }
            }

            async fn live_locations(
                &self,
                ids: &[i64],
                per_item: usize,
            ) -> Result<BTreeMap<i64, Vec<Location>>, StoreError> {
                let mut out: BTreeMap<i64, Vec<Location>> = BTreeMap::new();
                for chunk in ids.chunks(500) {
                    let mut sql = Sql::default();
                    let list: Vec<String> = chunk.iter().map(|id| sql.int(*id)).collect();
                    sql.text = format!(
                        "SELECT inventory_id, kind, host, endpoint, sni, first_seen, last_seen, gone_at \
                         FROM inventory_locations WHERE gone_at IS NULL AND inventory_id IN ({}) \
                         ORDER BY inventory_id, last_seen DESC, id",
                        list.join(", ")
                    );
                    let rows =
                        bind_all(sqlx::query(sqlx::AssertSqlSafe(sql.text.clone())), &sql.args)
                            .fetch_all(&self.$reader)
                            .await?;
                    for r in &rows {
                        let id: i64 = r.try_get("inventory_id")?;
                        let v = out.entry(id).or_default();
                        if v.len() < per_item {
                            v.push(location_from_row(r)?);
                        }
                    }
                }
                Ok(out)
            }

            async fn claim_delivery(
                &self,
                id: i64,
                due: i64,
                until: i64,
            ) -> Result<bool, StoreError> {
                match self
                    .inventory_write(InventoryWrite::Claim { id, due, until })
                    .await?
                {
                    Done::Number(n) => Ok(n > 0),
                    _ => Err(StoreError::Corrupt("claim_delivery: unexpected answer".into())),
                }
            }

            async fn raise_alert(&self, alert: NewAlert) -> Result<Option<i64>, StoreError> {
                match self.inventory_write(InventoryWrite::RaiseAlert(alert)).await? {
                    Done::Number(0) => Ok(None),
                    Done::Number(id) => Ok(Some(id)),
                    _ => Err(StoreError::Corrupt("raise_alert: unexpected answer".into())),
                }
            }

            async fn due_deliveries(
                &self,
                now: i64,
                limit: i64,
            ) -> Result<Vec<AlertDelivery>, StoreError> {
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {DELIVERY_COLUMNS} FROM alert_deliveries d JOIN alerts a ON a.id = d.alert_id \
                     WHERE d.delivered_at IS NULL AND d.failed_at IS NULL AND d.next_attempt <= $1 \
                     ORDER BY d.next_attempt, d.id LIMIT $2"
                )))
                .bind(now)
                .bind(limit.clamp(1, 10_000))
                .fetch_all(&self.$reader)
                .await?;
                rows.iter().map(delivery_from_row).collect()
            }

            async fn record_delivery(
                &self,
                id: i64,
                outcome: DeliveryOutcome,
            ) -> Result<(), StoreError> {
                self.inventory_write(InventoryWrite::Delivery { id, outcome })
                    .await
                    .map(drop)
            }

            async fn recent_deliveries(
                &self,
                limit: i64,
            ) -> Result<Vec<AlertDelivery>, StoreError> {
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {DELIVERY_COLUMNS} FROM alert_deliveries d JOIN alerts a ON a.id = d.alert_id \
                     ORDER BY d.id DESC LIMIT $1"
                )))
                .bind(limit.clamp(1, 10_000))
                .fetch_all(&self.$reader)
                .await?;
                rows.iter().map(delivery_from_row).collect()
            }
        }
    };
}
pub(crate) use inventory_backend;
