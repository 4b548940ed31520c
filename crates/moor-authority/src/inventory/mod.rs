//! The inventory as the front doors use it: reports from scanners, search, ownership and
//! labels, findings, group actions and the dashboard's overview.
//!
//! - `ingest.rs`   — a scanner's [`Report`] becomes store sightings (every certificate
//!   re-read from its DER);
//! - `findings.rs` — the findings (expiring, weak keys, orphans, …) with owner, locations
//!   and the action to take;
//! - `actions.rs`  — group actions: select by query, dry-run, then revoke or renew;
//! - `alerts.rs`   — alert rules over findings and webhook delivery with retries.
//!
//! [`InventoryService`] holds the authority and the `[inventory]` / `[alerts]` settings.

pub mod actions;
pub mod alerts;
pub mod export;
pub mod findings;
mod ingest;

use std::collections::BTreeMap;
use std::sync::Arc;

use moor_core::discovery::Report;
use moor_store::NewAuditEntry;
use moor_store::inventory::{
    InventoryItem, ItemUpdate, Location, Page, ReportAck, Search, Status, query,
};
use serde::Serialize;

use crate::config::{AlertsConfig, InventoryConfig};
use crate::{Authority, AuthorityError, Requester, audit_detail};

pub use findings::Finding;

/// Days in seconds.
const DAY: i64 = 86_400;

/// The inventory service of a deployment.
pub struct InventoryService {
    authority: Arc<Authority>,
    config: InventoryConfig,
    alerts: AlertsConfig,
    orphan_after: i64,
    /// Per-label thresholds, parsed: (name, value, seconds).
    thresholds: Vec<(String, String, i64)>,
    /// The overview reads the whole table: computed at most every [`OVERVIEW_TTL`], one
    /// caller at a time.
    overview: tokio::sync::Mutex<Option<(std::time::Instant, Overview)>>,
}

/// Places per part of a report (one transaction each).
pub const REPORT_PART: usize = 2_000;

/// How long an overview is served before it is counted again.
const OVERVIEW_TTL: std::time::Duration = std::time::Duration::from_secs(30);

/// One item with everything the detail page shows.
#[derive(Debug, Clone, Serialize)]
pub struct ItemDetail {
    #[serde(flatten)]
    pub item: InventoryItem,
    /// `active`, `expiring`, `expired`, `revoked`, `superseded`.
    pub status: Status,
    pub locations: Vec<Location>,
    /// The certificate (x509) PEM, or the SSH blob in base64.
    pub pem: String,
}

/// The overview: counts by status, expiries per day ahead, issuance per day behind.
#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    pub counts: BTreeMap<String, i64>,
    /// (day start, Unix seconds; count) for the next 90 days.
    pub expiring_per_day: Vec<(i64, i64)>,
    /// (day start; count) for the last 30 days.
    pub issued_per_day: Vec<(i64, i64)>,
}

impl InventoryService {
    /// Check the settings and build the service.
    pub fn new(
        authority: Arc<Authority>,
        config: InventoryConfig,
        alerts: AlertsConfig,
    ) -> Result<InventoryService, AuthorityError> {
        let orphan_after = moor_core::profile::parse_duration(&config.orphan_after)
            .and_then(|d| i64::try_from(d.as_secs()).ok())
            .ok_or_else(|| {
                AuthorityError::Config(format!(
                    "[inventory] orphan_after {:?} is not a duration like 7d",
                    config.orphan_after
                ))
            })?;
        if config.expiring_days > 3650 {
            return Err(AuthorityError::Config(
                "[inventory] expiring_days is at most 3650".into(),
            ));
        }
        let mut thresholds = Vec::new();
        for t in &config.thresholds {
            let (n, v) = t.label.split_once('=').ok_or_else(|| {
                AuthorityError::Config(format!(
                    "[[inventory.thresholds]] label {:?} is not name=value",
                    t.label
                ))
            })?;
            if t.days > 3650 {
                return Err(AuthorityError::Config(
                    "[[inventory.thresholds]] days is at most 3650".into(),
                ));
            }
            thresholds.push((n.to_owned(), v.to_owned(), i64::from(t.days) * DAY));
        }
        alerts::check_config(&alerts)?;
        Ok(InventoryService {
            authority,
            config,
            alerts,
            orphan_after,
            thresholds,
            overview: tokio::sync::Mutex::new(None),
        })
    }

    pub fn authority(&self) -> &Arc<Authority> {
        &self.authority
    }

    /// The authority's clock, Unix seconds.
    pub fn now(&self) -> i64 {
        self.authority.now_unix()
    }

    pub fn alerts_config(&self) -> &AlertsConfig {
        &self.alerts
    }

    /// The `expiring` window of an item's status, seconds (the same for every item, in SQL
    /// and here; per-label thresholds decide the `expiring` finding only).
    pub fn expiring_window(&self) -> i64 {
        i64::from(self.config.expiring_days) * DAY
    }

    /// Record what a scanner found: in parts of [`REPORT_PART`] places, each its own
    /// transaction and audit entry (a large report never holds the writer for long), all
    /// with one mark; the sweep of what a file scan no longer found runs with the last.
    pub async fn ingest(
        &self,
        who: &Requester,
        report: Report,
    ) -> Result<ReportAck, AuthorityError> {
        let now = self.authority.now_unix();
        let host = report.host.clone();
        let (mut prepared, skipped) = ingest::prepare(report, now)?;
        prepared.mark = moor_store::inventory::report_mark()?;
        let mut sightings = std::mem::take(&mut prepared.sightings);
        let mut key_files = std::mem::take(&mut prepared.key_files);
        let file_scope = prepared.file_scope.take();
        let parts = sightings
            .len()
            .max(key_files.len())
            .div_ceil(REPORT_PART)
            .max(1);
        let mut total = ReportAck::default();
        for part in 1..=parts {
            let last = part == parts;
            let rest_s = sightings.split_off(sightings.len().min(REPORT_PART));
            let rest_k = key_files.split_off(key_files.len().min(REPORT_PART));
            let chunk = moor_store::inventory::InventoryReport {
                now,
                sightings: std::mem::replace(&mut sightings, rest_s),
                key_files: std::mem::replace(&mut key_files, rest_k),
                file_scope: if last { file_scope.clone() } else { None },
                mark: prepared.mark,
            };
            let detail = audit_detail(&[
                ("host", &host),
                ("part", &format!("{part}/{parts}")),
                ("locations", &chunk.sightings.len().to_string()),
                ("key_files", &chunk.key_files.len().to_string()),
                (
                    "unreadable_certificates",
                    &if last { skipped } else { 0 }.to_string(),
                ),
            ]);
            let audit = NewAuditEntry {
                ts: now,
                actor: who.id(),
                action: "inventory.report".into(),
                subject: host.clone(),
                detail,
            };
            let ack = self
                .authority
                .store()
                .inventory()
                .ingest_report(chunk, audit)
                .await?;
            total.certificates += ack.certificates;
            total.new += ack.new;
            total.locations += ack.locations;
            total.gone += ack.gone;
            total.key_files += ack.key_files;
        }
        Ok(total)
    }

    /// One page of the items matching `text` (the search language of
    /// [`moor_store::inventory::query`]).
    pub async fn search(
        &self,
        text: &str,
        after: Option<String>,
        limit: i64,
    ) -> Result<Page, AuthorityError> {
        let now = self.authority.now_unix();
        let query =
            query::parse(text, now).map_err(|e| AuthorityError::BadRequest(e.to_string()))?;
        if after.as_ref().is_some_and(|a| a.len() > 64) {
            return Err(AuthorityError::BadRequest("bad cursor".into()));
        }
        let search = Search {
            query,
            after,
            limit: limit.clamp(1, moor_store::inventory::MAX_PAGE),
            now,
            expiring_window: self.expiring_window(),
        };
        match self
            .authority
            .store()
            .inventory()
            .search_inventory(&search)
            .await
        {
            Err(moor_store::StoreError::NotFound { .. }) => Err(AuthorityError::BadRequest(
                "bad cursor: not one this search gave".into(),
            )),
            other => Ok(other?),
        }
    }

    /// An item by fingerprint (hex, any case, colons allowed).
    pub async fn item(&self, fingerprint: &str) -> Result<ItemDetail, AuthorityError> {
        let fp = normalise_fingerprint(fingerprint)?;
        let (item, locations, der) = self
            .authority
            .store()
            .inventory()
            .inventory_item(&fp)
            .await?
            .ok_or_else(|| AuthorityError::NotFound(format!("inventory item {fp}")))?;
        let pem = if item.kind == "x509" {
            moor_core::pem::certificates(&[&der])
        } else {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(&der)
        };
        Ok(ItemDetail {
            status: item.status_at(self.authority.now_unix(), self.expiring_window()),
            item,
            locations,
            pem,
        })
    }

    /// Set owner, team or labels of an item (audited).
    pub async fn update(
        &self,
        who: &Requester,
        fingerprint: &str,
        update: ItemUpdate,
    ) -> Result<InventoryItem, AuthorityError> {
        let fp = normalise_fingerprint(fingerprint)?;
        check_update(&update)?;
        let mut detail = Vec::new();
        if let Some(o) = &update.owner {
            detail.push(("owner", o.clone().unwrap_or_default()));
        }
        if let Some(t) = &update.team {
            detail.push(("team", t.clone().unwrap_or_default()));
        }
        if let Some(l) = &update.labels {
            detail.push((
                "labels",
                l.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(","),
            ));
        }
        let pairs: Vec<(&str, &str)> = detail.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let audit = NewAuditEntry {
            ts: self.authority.now_unix(),
            actor: who.id(),
            action: "inventory.update".into(),
            subject: fp.clone(),
            detail: audit_detail(&pairs),
        };
        match self
            .authority
            .store()
            .inventory()
            .update_inventory_item(&fp, update, audit)
            .await
        {
            Err(moor_store::StoreError::NotFound { .. }) => {
                Err(AuthorityError::NotFound(format!("inventory item {fp}")))
            }
            other => Ok(other?),
        }
    }

    /// Counts by status and the two timelines (at most [`OVERVIEW_TTL`] old).
    pub async fn overview(&self) -> Result<Overview, AuthorityError> {
        let mut cached = self.overview.lock().await;
        if let Some((at, o)) = cached.as_ref()
            && at.elapsed() < OVERVIEW_TTL
        {
            return Ok(o.clone());
        }
        let o = self.count_overview().await?;
        *cached = Some((std::time::Instant::now(), o.clone()));
        Ok(o)
    }

    async fn count_overview(&self) -> Result<Overview, AuthorityError> {
        let now = self.authority.now_unix();
        let inv = self.authority.store().inventory();
        let today = now - now.rem_euclid(DAY);
        Ok(Overview {
            counts: inv.inventory_counts(now, self.expiring_window()).await?,
            expiring_per_day: inv
                .expiry_histogram(now, now + 90 * DAY)
                .await?
                .into_iter()
                .map(|(d, n)| (d * DAY, n))
                .collect(),
            issued_per_day: inv
                .issuance_histogram(today - 29 * DAY, now + 1)
                .await?
                .into_iter()
                .map(|(d, n)| (d * DAY, n))
                .collect(),
        })
    }
}

/// A fingerprint as stored: 64 lower-case hex digits (colons and case forgiven).
pub fn normalise_fingerprint(s: &str) -> Result<String, AuthorityError> {
    let fp: String = s
        .chars()
        .filter(|c| *c != ':')
        .take(130)
        .collect::<String>()
        .to_ascii_lowercase();
    if fp.len() != 64 || !fp.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AuthorityError::BadRequest(
            "a fingerprint is 64 hex digits (SHA-256)".into(),
        ));
    }
    Ok(fp)
}

/// Bounds of owner, team and labels (the store's own check), as a client error.
fn check_update(u: &ItemUpdate) -> Result<(), AuthorityError> {
    moor_store::inventory::check_update(u).map_err(|e| match e {
        moor_store::StoreError::Conflict { what } => AuthorityError::BadRequest(what),
        other => AuthorityError::Store(other),
    })
}
