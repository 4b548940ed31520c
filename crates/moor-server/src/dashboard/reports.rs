//! `/findings`, `/alerts` and `/issuers` (with their CRL and OCSP health).

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use moor_store::inventory::FindingKind;
use serde::Deserialize;

use super::inventory::cert_subject_and_end;
use super::view::{self, datetime};
use super::{AdminSession, Chrome, authority_error, error_page, no_inventory, render};
use crate::AppState;

/// Findings of each kind shown at most.
const FINDINGS_PER_KIND: usize = 500;
/// Alert deliveries shown.
const DELIVERIES: i64 = 200;

#[derive(Deserialize)]
pub(crate) struct FindingsQuery {
    kind: Option<String>,
}

#[derive(Template)]
#[template(path = "dashboard/findings.html")]
struct FindingsPage {
    chrome: Option<Chrome>,
    kinds: Vec<KindLink>,
    rows: Vec<FindingRow>,
}

struct KindLink {
    name: &'static str,
    href: String,
    on: bool,
}

struct FindingRow {
    severity: &'static str,
    kind: &'static str,
    /// The item's page, for findings about an item.
    href: Option<String>,
    what: String,
    owner: String,
    locations: Vec<String>,
    detail: String,
    action: String,
}

/// `GET /findings[?kind=…]`.
pub(crate) async fn findings(
    State(s): State<AppState>,
    session: AdminSession,
    query: Result<Query<FindingsQuery>, QueryRejection>,
) -> Response {
    let chrome = || Chrome::new(&session, "findings");
    let Some(inv) = s.inventory.as_deref() else {
        return no_inventory(chrome());
    };
    let kind = query.ok().and_then(|Query(q)| q.kind).unwrap_or_default();
    let kinds = match kind.as_str() {
        "" => Vec::new(),
        k => match FindingKind::parse(k) {
            Some(k) => vec![k],
            None => {
                return error_page(
                    Some(chrome()),
                    StatusCode::BAD_REQUEST,
                    "No such kind of finding.",
                );
            }
        },
    };
    let found = match inv.findings(&kinds, FINDINGS_PER_KIND).await {
        Ok(f) => f,
        Err(e) => return authority_error(Some(chrome()), e),
    };
    let mut kind_links = vec![KindLink {
        name: "all",
        href: "/findings".into(),
        on: kind.is_empty(),
    }];
    kind_links.extend(FindingKind::ALL.iter().map(|k| KindLink {
        name: k.as_str(),
        href: format!("/findings?kind={}", view::urlencode(k.as_str())),
        on: kind == k.as_str(),
    }));
    let rows = found
        .into_iter()
        .map(|f| {
            let (href, what) = match (&f.item, &f.key_file) {
                (Some(i), _) => (
                    Some(format!("/inventory/{}", i.fingerprint)),
                    if i.subject.is_empty() {
                        i.sans.join(", ")
                    } else {
                        i.subject.clone()
                    },
                ),
                (None, Some(k)) => (None, format!("{}:{}", k.host, k.path)),
                (None, None) => (None, f.subject_key.clone()),
            };
            let owner = match (&f.owner, &f.team) {
                (Some(o), Some(t)) => format!("{o} ({t})"),
                (Some(o), None) => o.clone(),
                (None, Some(t)) => t.clone(),
                (None, None) => String::new(),
            };
            FindingRow {
                severity: f.severity,
                kind: f.kind.as_str(),
                href,
                what,
                owner,
                locations: f.locations,
                detail: f.detail,
                action: f.action,
            }
        })
        .collect();
    render(&FindingsPage {
        chrome: Some(chrome()),
        kinds: kind_links,
        rows,
    })
}

#[derive(Template)]
#[template(path = "dashboard/alerts.html")]
struct AlertsPage {
    chrome: Option<Chrome>,
    rows: Vec<DeliveryRow>,
}

struct DeliveryRow {
    created: String,
    rule: String,
    finding: String,
    subject_key: String,
    href: Option<String>,
    target: String,
    state: String,
    attempts: i64,
    last_error: String,
}

/// `GET /alerts`: the most recent webhook deliveries.
pub(crate) async fn alerts(State(s): State<AppState>, session: AdminSession) -> Response {
    let chrome = || Chrome::new(&session, "alerts");
    let Some(inv) = s.inventory.as_deref() else {
        return no_inventory(chrome());
    };
    let deliveries = match inv
        .authority()
        .store()
        .inventory()
        .recent_deliveries(DELIVERIES)
        .await
    {
        Ok(d) => d,
        Err(e) => return authority_error(Some(chrome()), e.into()),
    };
    let rows = deliveries
        .into_iter()
        .map(|d| DeliveryRow {
            created: datetime(d.created_at),
            href: is_fingerprint(&d.subject_key).then(|| format!("/inventory/{}", d.subject_key)),
            rule: d.rule,
            finding: d.finding,
            subject_key: d.subject_key,
            target: moor_authority::inventory::alerts::origin(&d.target),
            state: match (d.delivered_at, d.failed_at) {
                (Some(t), _) => format!("delivered {}", datetime(t)),
                (None, Some(t)) => format!("failed {}", datetime(t)),
                (None, None) => format!("next attempt {}", datetime(d.next_attempt)),
            },
            attempts: d.attempts,
            last_error: d.last_error.unwrap_or_default(),
        })
        .collect();
    render(&AlertsPage {
        chrome: Some(chrome()),
        rows,
    })
}

fn is_fingerprint(v: &str) -> bool {
    v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit())
}

#[derive(Template)]
#[template(path = "dashboard/issuers.html")]
struct IssuersPage {
    chrome: Option<Chrome>,
    rows: Vec<IssuerRow>,
    ocsp_signed: u64,
    ocsp_cache_hits: u64,
    crl_builder: bool,
}

struct IssuerRow {
    id: String,
    kind: String,
    algorithm: String,
    parent: String,
    subject: String,
    not_after: String,
    fingerprint: String,
    /// `ok`, `stale`, `none`.
    crl_health: &'static str,
    crl: String,
    /// `ok`, `none`.
    ocsp_health: &'static str,
    ocsp: String,
}

/// `GET /issuers`: every CA certificate with its CRL and OCSP state.
pub(crate) async fn issuers(State(s): State<AppState>, session: AdminSession) -> Response {
    let chrome = || Chrome::new(&session, "issuers");
    let a = &s.authority;
    let now = a.clock().now().unix_timestamp();
    let stats = a.crl_stats().await;
    let mut rows = Vec::new();
    for r in a.issuer_records() {
        let (subject, not_after) = cert_subject_and_end(&r.cert_der);
        let stat = stats.iter().find(|(id, ..)| *id == r.id);
        let latest = match a.store().latest_crl(&r.id, false).await {
            Ok(l) => l,
            Err(e) => return authority_error(Some(chrome()), e.into()),
        };
        // Roots and offline keys sign no CRLs or OCSP responses on this server.
        let offline = r.key_ref == "offline" || r.kind == "root";
        let (crl_health, crl) = match (stat, latest) {
            (None, None) if offline => (
                "none",
                "not an online issuer: its CRLs are signed at a key ceremony".into(),
            ),
            (_, Some(l)) => {
                let (age, entries, number) = match stat {
                    Some((_, age, entries, number)) => (*age, *entries as i64, *number),
                    None => (now - l.this_update, l.entries, l.number),
                };
                (
                    if l.next_update > now { "ok" } else { "stale" },
                    format!(
                        "number {number}, {entries} entries, {} old, next update {}",
                        view::duration(age),
                        datetime(l.next_update)
                    ),
                )
            }
            (Some((_, age, entries, number)), None) => (
                "ok",
                format!(
                    "number {number}, {entries} entries, {} old",
                    view::duration(*age)
                ),
            ),
            (None, None) => ("none", "no CRL signed yet".into()),
        };
        let (ocsp_health, ocsp) = match a.ocsp_responder_cert(&r.id) {
            Some(der) => {
                let (_, end) = cert_subject_and_end(&der);
                ("ok", format!("delegated responder certificate until {end}"))
            }
            None if offline => ("none", "not an online issuer: no responder here".into()),
            None => (
                "none",
                "no responder certificate yet (issued on the first request)".into(),
            ),
        };
        rows.push(IssuerRow {
            id: r.id.clone(),
            kind: r.kind.clone(),
            algorithm: r.algorithm.clone(),
            parent: r.parent_id.clone().unwrap_or_else(|| "—".into()),
            subject,
            not_after,
            fingerprint: r.fingerprint.clone(),
            crl_health,
            crl,
            ocsp_health,
            ocsp,
        });
    }
    let o = a.ocsp_stats();
    render(&IssuersPage {
        chrome: Some(chrome()),
        rows,
        ocsp_signed: o.signed,
        ocsp_cache_hits: o.cache_hits,
        crl_builder: a.is_crl_builder(),
    })
}
