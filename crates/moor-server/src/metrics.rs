//! `/metrics`: Prometheus text exposition.

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

/// `/metrics`: Prometheus text exposition (counters from the authority, CRL and issuer gauges).
async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    use std::fmt::Write as _;
    let a = &s.authority;
    let mut out = String::new();
    a.metrics.render(&mut out);
    let _ = writeln!(
        out,
        "# HELP mooring_crl_age_seconds Seconds since the current CRL's thisUpdate.\n# TYPE mooring_crl_age_seconds gauge"
    );
    let stats = a.crl_stats().await;
    let _ = writeln!(
        out,
        "# HELP mooring_crl_builder 1 if this node holds the CRL builder lease (one node of a deployment does).\n# TYPE mooring_crl_builder gauge\nmooring_crl_builder {}",
        u8::from(a.is_crl_builder())
    );
    for (id, age, _, _) in &stats {
        let _ = writeln!(out, "mooring_crl_age_seconds{{issuer=\"{id}\"}} {age}");
    }
    let _ = writeln!(
        out,
        "# HELP mooring_crl_entries Revoked certificates listed on the current CRL.\n# TYPE mooring_crl_entries gauge"
    );
    for (id, _, n, _) in &stats {
        let _ = writeln!(out, "mooring_crl_entries{{issuer=\"{id}\"}} {n}");
    }
    let _ = writeln!(
        out,
        "# HELP mooring_crl_number CRL number of the current CRL.\n# TYPE mooring_crl_number gauge"
    );
    for (id, _, _, number) in &stats {
        let _ = writeln!(out, "mooring_crl_number{{issuer=\"{id}\"}} {number}");
    }
    let _ = writeln!(
        out,
        "# HELP mooring_issuer_not_after_timestamp_seconds When each CA certificate expires (alert well before).\n# TYPE mooring_issuer_not_after_timestamp_seconds gauge"
    );
    for r in a.issuer_records() {
        if let Ok(na) = moor_authority::trust_anchor::cert_not_after(&r.cert_der) {
            let _ = writeln!(
                out,
                "mooring_issuer_not_after_timestamp_seconds{{issuer=\"{}\",kind=\"{}\"}} {na}",
                r.id, r.kind
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP mooring_certificates_expiring Valid certificates expiring within the window, by issuer.\n# TYPE mooring_certificates_expiring gauge"
    );
    let now = a.clock().now().unix_timestamp();
    for (window, secs) in [("1d", 86_400i64), ("7d", 7 * 86_400), ("30d", 30 * 86_400)] {
        match a.store().expiring_counts(now, now + secs).await {
            Ok(counts) => {
                for (issuer, n) in counts {
                    let _ = writeln!(
                        out,
                        "mooring_certificates_expiring{{issuer=\"{issuer}\",within=\"{window}\"}} {n}"
                    );
                }
            }
            Err(e) => tracing::warn!(error = %e, "metrics: expiring count failed"),
        }
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}
