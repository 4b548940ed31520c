//! `/`: counts by status, certificates expiring per day over the next 90 days, and
//! certificates issued per day over the last 30.

use askama::Template;
use axum::extract::State;
use axum::response::Response;

use super::view::{self, Chart, DAY};
use super::{AdminSession, Chrome, authority_error, no_inventory, render};
use crate::AppState;

#[derive(Template)]
#[template(path = "dashboard/overview.html")]
struct OverviewPage {
    chrome: Option<Chrome>,
    counts: Vec<Count>,
    charts: Vec<Chart>,
}

/// One status and how many items have it, linking to them.
struct Count {
    name: &'static str,
    n: i64,
    href: String,
}

/// The statuses shown, in order, with the search each links to.
const STATUSES: [(&str, &str); 7] = [
    ("total", ""),
    ("active", "status=active"),
    ("expiring", "status=expiring"),
    ("expired", "status=expired"),
    ("revoked", "status=revoked"),
    ("superseded", "status=superseded"),
    ("discovered", "source=discovered"),
];

/// `GET /`.
pub(crate) async fn page(State(s): State<AppState>, session: AdminSession) -> Response {
    let chrome = || Chrome::new(&session, "overview");
    let Some(inv) = s.inventory.as_deref() else {
        return no_inventory(chrome());
    };
    let o = match inv.overview().await {
        Ok(o) => o,
        Err(e) => return authority_error(Some(chrome()), e),
    };
    let counts = STATUSES
        .iter()
        .map(|(name, q)| Count {
            name,
            n: o.counts.get(*name).copied().unwrap_or(0),
            href: view::search_href(q),
        })
        .collect();
    let now = inv.now();
    let today = now - now.rem_euclid(DAY);
    let charts = vec![
        view::bar_chart(
            "expiry-chart",
            "Certificates expiring per day, next 90 days".into(),
            today,
            91,
            &o.expiring_per_day,
            15,
        ),
        view::bar_chart(
            "issuance-chart",
            "Certificates issued per day, last 30 days".into(),
            today - 29 * DAY,
            30,
            &o.issued_per_day,
            5,
        ),
    ];
    render(&OverviewPage {
        chrome: Some(chrome()),
        counts,
        charts,
    })
}
