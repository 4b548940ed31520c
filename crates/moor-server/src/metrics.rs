//! `/metrics`: Prometheus text exposition.

use std::fmt::Write as _;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use moor_authority::inventory::InventoryService;
use moor_store::inventory::FindingKind;

use crate::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

/// `/metrics`: Prometheus text exposition (counters from the authority, CRL and issuer
/// gauges). The inventory's series (per-certificate expiry with subject and owner, findings)
/// name what the deployment holds: they are added only for a scrape with an admin bearer
/// token (Prometheus `authorization` / `bearer_token_file`).
async fn metrics(State(s): State<AppState>, headers: axum::http::HeaderMap) -> impl IntoResponse {
    let admin = match crate::rest::bearer(&headers) {
        Some(token) => s.authority.authenticate_token(token).await.is_ok(),
        None => false,
    };
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
    if let Some(inv) = s.inventory.as_ref().filter(|_| admin) {
        certificate_expiry(inv, &mut out).await;
        findings(inv, &mut out).await;
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}

/// At most this many per-certificate expiry series (the soonest to expire).
const MAX_CERTIFICATE_SERIES: usize = 10_000;
/// Findings are counted at most this often (each count reads the inventory).
const FINDINGS_TTL: Duration = Duration::from_secs(60);
/// Findings of one kind are counted up to this many.
const MAX_FINDINGS_PER_KIND: usize = 10_000;

/// `mooring_certificate_not_after_timestamp_seconds`: every inventory certificate that is
/// neither revoked nor expired, soonest first, at most [`MAX_CERTIFICATE_SERIES`].
async fn certificate_expiry(inv: &InventoryService, out: &mut String) {
    let _ = writeln!(
        out,
        "# HELP mooring_certificate_not_after_timestamp_seconds When each certificate in the inventory (not revoked, not expired) expires.\n# TYPE mooring_certificate_not_after_timestamp_seconds gauge"
    );
    let mut written = 0usize;
    let mut truncated = false;
    let mut after: Option<String> = None;
    // Pages of MAX_PAGE (1,000) items; revoked ones are skipped, so a few more pages
    // than the series cap needs may be read.
    for _ in 0..15 {
        let page = match inv
            .search("expires>0d", after.take(), moor_store::inventory::MAX_PAGE)
            .await
        {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "metrics: inventory search failed");
                break;
            }
        };
        for i in &page.items {
            if i.revoked_at.is_some() || i.kind == "ssh-key" {
                continue;
            }
            if written == MAX_CERTIFICATE_SERIES {
                truncated = true;
                break;
            }
            let _ = writeln!(
                out,
                "mooring_certificate_not_after_timestamp_seconds{{fingerprint=\"{}\",subject=\"{}\",issuer=\"{}\",source=\"{}\",owner=\"{}\",team=\"{}\"}} {}",
                escape(&i.fingerprint),
                escape(&i.subject),
                escape(&i.issuer),
                escape(&i.source),
                escape(i.owner.as_deref().unwrap_or("")),
                escape(i.team.as_deref().unwrap_or("")),
                i.not_after
            );
            written += 1;
        }
        if truncated {
            break;
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    // Pages ran out before the inventory did: say so too.
    truncated |= after.is_some();
    let _ = writeln!(
        out,
        "# HELP mooring_certificate_series_truncated 1 if more certificates exist than mooring_certificate_not_after_timestamp_seconds shows.\n# TYPE mooring_certificate_series_truncated gauge\nmooring_certificate_series_truncated {}",
        u8::from(truncated)
    );
}

/// Findings counted by [`findings`], kept for [`FINDINGS_TTL`].
struct FindingCounts {
    of: Weak<InventoryService>,
    at: Instant,
    counts: Vec<(&'static str, usize)>,
}

static FINDING_COUNTS: tokio::sync::Mutex<Option<FindingCounts>> =
    tokio::sync::Mutex::const_new(None);

/// `mooring_findings{kind=…}`: findings of each kind (at most [`MAX_FINDINGS_PER_KIND`]),
/// counted at most every [`FINDINGS_TTL`] (concurrent scrapes wait for one count).
async fn findings(inv: &Arc<InventoryService>, out: &mut String) {
    let mut cached = FINDING_COUNTS.lock().await;
    let fresh = cached.as_ref().is_some_and(|c| {
        c.at.elapsed() < FINDINGS_TTL && Weak::ptr_eq(&c.of, &Arc::downgrade(inv))
    });
    if !fresh {
        let mut counts = Vec::new();
        for kind in FindingKind::ALL {
            match inv.findings(&[kind], MAX_FINDINGS_PER_KIND).await {
                Ok(f) => counts.push((kind.as_str(), f.len())),
                Err(e) => {
                    tracing::warn!(error = %e, finding = kind.as_str(), "metrics: findings failed");
                }
            }
        }
        *cached = Some(FindingCounts {
            of: Arc::downgrade(inv),
            at: Instant::now(),
            counts,
        });
    }
    let _ = writeln!(
        out,
        "# HELP mooring_findings Findings of each kind (at most {MAX_FINDINGS_PER_KIND}; counted at most every {} s).\n# TYPE mooring_findings gauge",
        FINDINGS_TTL.as_secs()
    );
    for (kind, n) in cached.iter().flat_map(|c| c.counts.iter()) {
        let _ = writeln!(out, "mooring_findings{{kind=\"{kind}\"}} {n}");
    }
}

/// A label value in the Prometheus text format: backslash, double quote and newline
/// escaped.
fn escape(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("CN=a"), "CN=a");
        assert_eq!(escape("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
    }
}
