//! `/api/v1/inventory`, `/api/v1/findings`, `/api/v1/alerts`: the inventory over HTTP.
//!
//! - `POST /inventory/reports` — a scanner's report (`moor scan … --report-to`);
//! - `GET /inventory?q=…&after=…&limit=…[&format=csv]` — search, cursor pages, or the
//!   whole result as CSV (at most [`MAX_EXPORT`] rows);
//! - `GET /inventory/overview` — counts by status and the timelines;
//! - `GET|PATCH /inventory/{fingerprint}` — one item; set owner, team, labels;
//! - `POST /inventory/actions` — a group action (dry run first);
//! - `GET /findings?kind=…&limit=…`, `GET /alerts/deliveries`.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use moor_authority::inventory::InventoryService;
use moor_authority::inventory::actions::GroupAction;
use moor_core::discovery::Report;
use moor_store::inventory::{FindingKind, InventoryItem, ItemUpdate};
use serde::Deserialize;

use super::Admin;
use super::certificates::json_error;
use crate::{ApiError, AppState};

/// The most rows one CSV export holds.
pub const MAX_EXPORT: usize = 100_000;
/// The largest report body.
pub const MAX_REPORT_BYTES: usize = 32 * 1024 * 1024;

fn service(s: &AppState) -> Result<&Arc<InventoryService>, ApiError> {
    s.inventory.as_ref().ok_or_else(|| ApiError {
        status: StatusCode::NOT_FOUND,
        code: "not_found",
        message: "the inventory is not enabled on this server".into(),
    })
}

pub(crate) async fn report(
    State(s): State<AppState>,
    Admin(who): Admin,
    body: Result<Json<Report>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(r) = body.map_err(|e| match e {
        JsonRejection::BytesRejection(_) => ApiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            code: "payload_too_large",
            message: format!("a report is at most {MAX_REPORT_BYTES} bytes"),
        },
        other => json_error(other),
    })?;
    let ack = service(&s)?.ingest(&who, r).await?;
    Ok(Json(ack).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SearchQuery {
    #[serde(default)]
    q: String,
    after: Option<String>,
    limit: Option<i64>,
    /// `json` (a page) or `csv` (everything, at most MAX_EXPORT rows).
    format: Option<String>,
}

pub(crate) async fn search(
    State(s): State<AppState>,
    Admin(_): Admin,
    Query(q): Query<SearchQuery>,
) -> Result<Response, ApiError> {
    let inv = service(&s)?;
    match q.format.as_deref().unwrap_or("json") {
        "json" => {
            let page = inv.search(&q.q, q.after, q.limit.unwrap_or(100)).await?;
            Ok(Json(page).into_response())
        }
        "csv" => {
            let mut out = String::from(CSV_HEADER);
            let mut after = q.after;
            let mut rows = 0usize;
            let mut truncated = false;
            loop {
                let page = inv.search(&q.q, after, 1000).await?;
                for item in &page.items {
                    if rows == MAX_EXPORT {
                        truncated = true;
                        break;
                    }
                    csv_row(&mut out, item, inv);
                    rows += 1;
                }
                match page.next {
                    Some(n) if !truncated => after = Some(n),
                    _ => break,
                }
            }
            let mut r = (
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                    (
                        header::CONTENT_DISPOSITION,
                        "attachment; filename=\"inventory.csv\"",
                    ),
                ],
                out,
            )
                .into_response();
            if truncated {
                r.headers_mut().insert(
                    "x-mooring-truncated",
                    axum::http::HeaderValue::from_static("true"),
                );
            }
            Ok(r)
        }
        other => Err(ApiError::bad_request(
            "malformed",
            format!(
                "format {:?}: json or csv",
                other.chars().take(20).collect::<String>()
            ),
        )),
    }
}

const CSV_HEADER: &str = "fingerprint,kind,source,status,subject,sans,issuer,serial,key_algorithm,signature_algorithm,not_before,not_after,owner,team,labels,first_seen,last_seen\r\n";

/// One CSV field: quoted when needed, and a leading `= + - @` defused (spreadsheet
/// formula injection).
fn csv_field(out: &mut String, v: &str) {
    let defuse = v.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if defuse || v.contains([',', '"', '\n', '\r']) {
        out.push('"');
        if defuse {
            out.push('\'');
        }
        out.push_str(&v.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(v);
    }
}

fn csv_row(out: &mut String, i: &InventoryItem, inv: &InventoryService) {
    let now = inv.now();
    let status = i.status_at(now, inv.threshold_of(i)).as_str();
    let labels: Vec<String> = i.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let opt = |v: Option<i64>| v.map(|t| t.to_string()).unwrap_or_default();
    let fields: [&str; 17] = [
        &i.fingerprint,
        &i.kind,
        &i.source,
        status,
        &i.subject,
        &i.sans.join(" "),
        &i.issuer,
        &i.serial_hex,
        &i.key_algorithm,
        &i.signature_algorithm,
        &i.not_before.to_string(),
        &i.not_after.to_string(),
        i.owner.as_deref().unwrap_or(""),
        i.team.as_deref().unwrap_or(""),
        &labels.join(" "),
        &opt(i.first_seen),
        &opt(i.last_seen),
    ];
    for (n, f) in fields.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        csv_field(out, f);
    }
    out.push_str("\r\n");
}

pub(crate) async fn overview(
    State(s): State<AppState>,
    Admin(_): Admin,
) -> Result<Response, ApiError> {
    Ok(Json(service(&s)?.overview().await?).into_response())
}

pub(crate) async fn show(
    State(s): State<AppState>,
    Admin(_): Admin,
    Path(fp): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(service(&s)?.item(&fp).await?).into_response())
}

/// `PATCH` body: any of `owner`, `team` (a string, or null to clear), `labels` (an
/// object of strings, replacing the set).
pub(crate) async fn update(
    State(s): State<AppState>,
    Admin(who): Admin,
    Path(fp): Path<String>,
    body: Result<Json<serde_json::Map<String, serde_json::Value>>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(b) = body.map_err(json_error)?;
    let update = parse_update(&b)?;
    Ok(Json(service(&s)?.update(&who, &fp, update).await?).into_response())
}

/// Read an update object (`null` clears owner or team).
pub fn parse_update(
    b: &serde_json::Map<String, serde_json::Value>,
) -> Result<ItemUpdate, ApiError> {
    use serde_json::Value;
    let mut u = ItemUpdate::default();
    let text = |k: &str, v: &Value| -> Result<Option<String>, ApiError> {
        match v {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s.clone())),
            _ => Err(ApiError::bad_request(
                "malformed",
                format!("{k} is a string or null"),
            )),
        }
    };
    for (k, v) in b {
        match k.as_str() {
            "owner" => u.owner = Some(text(k, v)?),
            "team" => u.team = Some(text(k, v)?),
            "labels" => {
                let Value::Object(m) = v else {
                    return Err(ApiError::bad_request(
                        "malformed",
                        "labels is an object of strings",
                    ));
                };
                let mut labels = std::collections::BTreeMap::new();
                for (lk, lv) in m {
                    let Value::String(s) = lv else {
                        return Err(ApiError::bad_request(
                            "malformed",
                            "labels is an object of strings",
                        ));
                    };
                    labels.insert(lk.clone(), s.clone());
                }
                u.labels = Some(labels);
            }
            other => {
                return Err(ApiError::bad_request(
                    "malformed",
                    format!(
                        "unknown field {:?} (owner, team, labels)",
                        other.chars().take(40).collect::<String>()
                    ),
                ));
            }
        }
    }
    Ok(u)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ActionBody {
    query: String,
    #[serde(flatten)]
    action: GroupAction,
    /// Default true: nothing happens unless `dry_run: false` is sent.
    #[serde(default = "yes")]
    dry_run: bool,
    /// The number of items the dry run showed; the run stops if it changed.
    expect: Option<usize>,
}

fn yes() -> bool {
    true
}

pub(crate) async fn action(
    State(s): State<AppState>,
    Admin(who): Admin,
    body: Result<Json<ActionBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(b) = body.map_err(json_error)?;
    let r = service(&s)?
        .group_action(&who, &b.query, b.action, b.dry_run, b.expect, |_, _| {})
        .await?;
    Ok(Json(r).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FindingsQuery {
    /// Comma-separated kinds; all when absent.
    kind: Option<String>,
    limit: Option<usize>,
}

/// Parse a comma-separated list of finding kinds.
pub fn parse_kinds(s: Option<&str>) -> Result<Vec<FindingKind>, ApiError> {
    let mut kinds = Vec::new();
    for k in s
        .unwrap_or("")
        .split(',')
        .filter(|k| !k.is_empty())
        .take(16)
    {
        kinds.push(FindingKind::parse(k).ok_or_else(|| {
            ApiError::bad_request(
                "malformed",
                format!(
                    "unknown finding {:?}",
                    k.chars().take(40).collect::<String>()
                ),
            )
        })?);
    }
    Ok(kinds)
}

pub(crate) async fn findings(
    State(s): State<AppState>,
    Admin(_): Admin,
    Query(q): Query<FindingsQuery>,
) -> Result<Response, ApiError> {
    let kinds = parse_kinds(q.kind.as_deref())?;
    let f = service(&s)?
        .findings(&kinds, q.limit.unwrap_or(500))
        .await?;
    Ok(Json(f).into_response())
}

pub(crate) async fn deliveries(
    State(s): State<AppState>,
    Admin(_): Admin,
) -> Result<Response, ApiError> {
    let inv = service(&s)?;
    let d = inv
        .authority()
        .store()
        .inventory()
        .recent_deliveries(200)
        .await
        .map_err(moor_authority::AuthorityError::from)?;
    Ok(Json(d).into_response())
}
