//! Alert rules over findings, delivered to webhooks and the log.

use moor_store::inventory::FindingKind;

use crate::AuthorityError;
use crate::config::AlertsConfig;

/// Check `[alerts]` at start-up: durations, finding names, labels and webhook URLs.
pub fn check_config(c: &AlertsConfig) -> Result<(), AuthorityError> {
    let bad = |m: String| AuthorityError::Config(format!("[alerts] {m}"));
    moor_core::profile::parse_duration(&c.interval)
        .filter(|d| d.as_secs() >= 1)
        .ok_or_else(|| {
            bad(format!(
                "interval {:?} is not a duration like 60s",
                c.interval
            ))
        })?;
    if c.max_attempts == 0 || c.max_attempts > 100 {
        return Err(bad("max_attempts is 1 to 100".into()));
    }
    for r in &c.rules {
        if r.name.is_empty() || r.name.len() > 64 {
            return Err(bad("every rule has a name of 1 to 64 characters".into()));
        }
        for f in &r.findings {
            if FindingKind::parse(f).is_none() {
                return Err(bad(format!("rule {}: unknown finding {f:?}", r.name)));
            }
        }
        for l in &r.labels {
            if !l.contains('=') {
                return Err(bad(format!(
                    "rule {}: label {l:?} is not name=value",
                    r.name
                )));
            }
        }
        for w in &r.webhooks {
            let ok = w.starts_with("https://")
                || w.starts_with("http://127.")
                || w.starts_with("http://localhost")
                || w.starts_with("http://[::1]");
            if !ok || w.len() > 2048 {
                return Err(bad(format!(
                    "rule {}: webhook {w:?} must be https (or http to loopback)",
                    r.name
                )));
            }
        }
    }
    Ok(())
}
