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
use moor_authority::inventory::actions::GroupAction;
use moor_authority::inventory::{InventoryService, export};
use moor_core::discovery::Report;
use moor_store::inventory::ItemUpdate;
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
            let mut out = String::from(export::CSV_HEADER);
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
                    export::csv_row(&mut out, item, inv);
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
    /// `revoke` or `renew`.
    action: String,
    /// For `revoke`: the RFC 5280 reason code (default 0).
    reason: Option<i32>,
    /// For `renew`: how long the renewal window stays open (default 1 day).
    window_secs: Option<i64>,
    /// Default true: nothing happens unless `dry_run: false` is sent.
    #[serde(default = "yes")]
    dry_run: bool,
    /// The `selection` the dry run showed: required to act; the run stops if the items
    /// changed since.
    selection: Option<String>,
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
    let action = match (b.action.as_str(), b.reason, b.window_secs) {
        ("revoke", reason, None) => GroupAction::Revoke {
            reason: reason.unwrap_or(0),
        },
        ("renew", None, window) => GroupAction::Renew {
            window_secs: window.unwrap_or(86_400),
        },
        _ => {
            return Err(ApiError::bad_request(
                "malformed",
                "action is revoke (with an optional reason) or renew (with an optional window_secs)",
            ));
        }
    };
    let r = service(&s)?
        .group_action(
            &who,
            &b.query,
            action,
            b.dry_run,
            b.selection.as_deref(),
            |_, _| {},
        )
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

pub(crate) async fn findings(
    State(s): State<AppState>,
    Admin(_): Admin,
    Query(q): Query<FindingsQuery>,
) -> Result<Response, ApiError> {
    let kinds = moor_authority::inventory::findings::parse_kinds(q.kind.as_deref())?;
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
        .map_err(moor_authority::AuthorityError::from)?
        .into_iter()
        .map(|mut d| {
            // Webhook URLs often carry a secret (chat hooks): the origin only, as in logs.
            d.target = moor_authority::inventory::alerts::origin(&d.target);
            d
        })
        .collect::<Vec<_>>();
    Ok(Json(d).into_response())
}
