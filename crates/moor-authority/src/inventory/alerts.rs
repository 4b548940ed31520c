//! Alert rules over findings, delivered to webhooks and the log.
//!
//! Every `[alerts] interval` the node holding the [`LEASE`] lease (one node of a
//! deployment) does one round ([`run_once`]):
//!
//! 1. **Evaluate.** Each `[[alerts.rules]]` selects findings by kind and by the labels of
//!    their item; each match raises an alert once per (rule, finding, subject) — the store
//!    refuses a repeat — with a JSON [`payload`] naming the certificate, its owner, where it
//!    is served and the action to take, and one delivery per target (each webhook, and
//!    `log` unless the rule says `log = false`).
//! 2. **Deliver.** Due deliveries are attempted: `log` is a `WARN` line; a webhook gets
//!    the payload as a JSON POST (10 s timeout). A 2xx answer delivers it; anything else
//!    is retried after [`backoff`] (1 s, 2 s, 4 s, … at most 1 h) until `max_attempts`,
//!    then given up. Every attempt is recorded (`GET /api/v1/alerts/deliveries`).
//!
//! Webhooks are https, or http to loopback. An https webhook's certificate is verified
//! against this deployment's roots and the system's CA bundle (`SSL_CERT_FILE`, else the
//! usual locations). Webhook URLs may carry secrets (chat hooks do): logs name only
//! their origin.

use std::collections::HashSet;
use std::sync::{Arc, Weak};
use std::time::Duration;

use moor_store::inventory::{AlertDelivery, DeliveryOutcome, FindingKind, NewAlert};
use serde_json::{Value, json};

use super::{Finding, InventoryService};
use crate::AuthorityError;
use crate::config::{AlertRule, AlertsConfig};

/// The lease of the node that evaluates rules and delivers alerts.
pub const LEASE: &str = "alerts";
/// The longest wait between two attempts of one delivery, seconds.
pub const MAX_BACKOFF_SECS: i64 = 3600;
/// How long one webhook POST may take.
pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);
/// At most this many findings of each kind are evaluated per round.
const MAX_FINDINGS: usize = 10_000;
/// At most this many deliveries are attempted per round (the rest wait for the next).
const DELIVERIES_PER_ROUND: i64 = 200;
/// At most this many webhook POSTs at once.
const CONCURRENT_POSTS: usize = 16;
/// The engine remembers at most this many raised (rule, finding, subject) keys.
const MAX_REMEMBERED: usize = 200_000;
/// A webhook's answer is read no further than this.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

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
            if w.len() > 2048 || !webhook_allowed(w) {
                return Err(bad(format!(
                    "rule {}: webhook {:?} must be https (or http to loopback)",
                    r.name,
                    origin(w)
                )));
            }
        }
    }
    Ok(())
}

/// Run the engine: a round every `[alerts] interval` until `service` is dropped.
pub fn spawn(service: Arc<InventoryService>) -> tokio::task::JoinHandle<()> {
    let every = moor_core::profile::parse_duration(&service.alerts_config().interval)
        .filter(|d| d.as_secs() >= 1)
        .unwrap_or(Duration::from_secs(60));
    let weak: Weak<InventoryService> = Arc::downgrade(&service);
    drop(service);
    tokio::spawn(async move {
        let mut engine = Engine::default();
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(service) = weak.upgrade() else {
                return;
            };
            match engine.round(&service, lease_ttl(every)).await {
                Ok((raised, attempted)) if raised + attempted > 0 => {
                    tracing::debug!(raised, attempted, "alert round");
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "alert round failed; retried next interval"),
            }
        }
    })
}

/// One round (if this node holds or takes the [`LEASE`]): raise the alerts the rules
/// find, then attempt the due deliveries. Returns (alerts raised, deliveries attempted);
/// (0, 0) on a node that does not hold the lease.
pub async fn run_once(service: &InventoryService) -> Result<(usize, usize), AuthorityError> {
    let every = moor_core::profile::parse_duration(&service.alerts_config().interval)
        .unwrap_or(Duration::from_secs(60));
    Engine::default().round(service, lease_ttl(every)).await
}

/// The wait before the next attempt after `failed` failed attempts (1 s, 2 s, 4 s, …, at
/// most [`MAX_BACKOFF_SECS`]).
pub fn backoff(failed: u32) -> i64 {
    let exp = failed.saturating_sub(1).min(62);
    (1i64 << exp).min(MAX_BACKOFF_SECS)
}

/// The JSON an alert carries: the rule and finding, the certificate (or key file), its
/// owner and team, where it is, what was found and what to do. Never key material.
pub fn payload(rule: &str, f: &Finding, raised_at: i64) -> Value {
    let item = f.item.as_ref();
    json!({
        // One line for chat webhooks (Slack, Mattermost and the like show `text`).
        "text": format!(
            "[{}] {}: {} Action: {}",
            f.severity,
            f.kind.as_str(),
            f.detail,
            f.action
        ),
        "rule": rule,
        "finding": f.kind.as_str(),
        "severity": f.severity,
        "subject_key": f.subject_key,
        "subject": item.map(|i| i.subject.as_str()),
        "sans": item.map(|i| i.sans.clone()).unwrap_or_default(),
        "serial": item.map(|i| i.serial_hex.as_str()),
        "issuer": item.map(|i| i.issuer.as_str()),
        "not_after": item.map(|i| rfc3339(i.not_after)),
        "owner": f.owner,
        "team": f.team,
        "locations": f.locations,
        "detail": f.detail,
        "action": f.action,
        "fingerprint": item.map(|i| i.fingerprint.as_str()),
        "raised_at": rfc3339(raised_at),
    })
}

/// Whether `rule` applies to `f`: its kind is one of the rule's (any when none is named)
/// and its item carries every label the rule names.
pub fn rule_matches(rule: &AlertRule, f: &Finding) -> bool {
    if !rule.findings.is_empty() && !rule.findings.iter().any(|k| k == f.kind.as_str()) {
        return false;
    }
    if rule.labels.is_empty() {
        return true;
    }
    let Some(item) = &f.item else {
        return false;
    };
    rule.labels.iter().all(|l| {
        l.split_once('=')
            .is_some_and(|(n, v)| item.labels.get(n).is_some_and(|have| have == v))
    })
}

/// The engine's memory across rounds: which alerts are known raised, so that a round
/// does not ask the store again for each.
#[derive(Default)]
struct Engine {
    raised: HashSet<(String, &'static str, String)>,
}

impl Engine {
    async fn round(
        &mut self,
        service: &InventoryService,
        ttl: i64,
    ) -> Result<(usize, usize), AuthorityError> {
        let auth = service.authority();
        let store = auth.store();
        if !store
            .try_lease(LEASE, auth.node_id(), service.now(), ttl)
            .await?
        {
            return Ok((0, 0));
        }
        let raised = self.evaluate(service).await?;
        let attempted = deliver_due(service).await?;
        Ok((raised, attempted))
    }

    /// Raise the alerts of every rule; returns how many were new.
    async fn evaluate(&mut self, service: &InventoryService) -> Result<usize, AuthorityError> {
        let rules = &service.alerts_config().rules;
        if rules.is_empty() {
            return Ok(0);
        }
        let inv = service.authority().store().inventory();
        let mut new = 0;
        for rule in rules {
            let kinds: Vec<FindingKind> = if rule.findings.is_empty() {
                FindingKind::ALL.to_vec()
            } else {
                rule.findings
                    .iter()
                    .filter_map(|k| FindingKind::parse(k))
                    .collect()
            };
            let labels: Vec<(String, String)> = rule
                .labels
                .iter()
                .filter_map(|l| l.split_once('='))
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .collect();
            // What this rule has not alerted on yet (the store leaves the rest out), so
            // each round moves on to new findings however many there are.
            let found = service
                .findings_for_rule(&kinds, MAX_FINDINGS, &rule.name, &labels)
                .await?;
            let mut targets = rule.webhooks.clone();
            if rule.log {
                targets.push("log".into());
            }
            for f in &found {
                if !rule_matches(rule, f) {
                    continue;
                }
                let key = (rule.name.clone(), f.kind.as_str(), f.subject_key.clone());
                if self.raised.contains(&key) {
                    continue;
                }
                let now = service.now();
                let alert = NewAlert {
                    rule: rule.name.clone(),
                    finding: f.kind.as_str().into(),
                    subject_key: f.subject_key.clone(),
                    payload: payload(&rule.name, f, now).to_string(),
                    targets: targets.clone(),
                    now,
                };
                if inv.raise_alert(alert).await?.is_some() {
                    new += 1;
                }
                if self.raised.len() >= MAX_REMEMBERED {
                    self.raised.clear();
                }
                self.raised.insert(key);
            }
        }
        Ok(new)
    }
}

/// Attempt the due deliveries (webhooks concurrently) and record each outcome.
/// How long a claimed delivery is someone's before it is due again (longer than one POST).
const CLAIM_SECS: i64 = 120;

async fn deliver_due(service: &InventoryService) -> Result<usize, AuthorityError> {
    let inv = service.authority().store().inventory();
    let due = inv
        .due_deliveries(service.now(), DELIVERIES_PER_ROUND)
        .await?;
    if due.is_empty() {
        return Ok(0);
    }
    let max_attempts = i64::from(service.alerts_config().max_attempts);
    let attempted = due.len();
    let mut tls: Option<Arc<rustls::ClientConfig>> = None;
    let mut tls_built = false;
    let mut posts = tokio::task::JoinSet::new();
    let mut waiting: Vec<AlertDelivery> = Vec::new();
    for d in due {
        // Claimed before it is sent: a node whose lease lapsed mid-round, or another
        // round, finds it no longer due and leaves it alone (at-most-once per claim; a
        // claim whose outcome is never recorded is due again after CLAIM_SECS).
        let now = service.now();
        if !inv
            .claim_delivery(d.id, d.next_attempt, now.saturating_add(CLAIM_SECS))
            .await?
        {
            continue;
        }
        if d.target == "log" {
            log_alert(&d);
            inv.record_delivery(d.id, DeliveryOutcome::Delivered { at: service.now() })
                .await?;
            continue;
        }
        if !tls_built && d.target.starts_with("https://") {
            tls = client_config(service);
            tls_built = true;
        }
        waiting.push(d);
    }
    let mut waiting = waiting.into_iter();
    loop {
        while posts.len() < CONCURRENT_POSTS {
            let Some(d) = waiting.next() else { break };
            let tls = tls.clone();
            posts.spawn(async move {
                let result = post_json(&d.target, d.payload.clone(), tls).await;
                (d, result)
            });
        }
        let Some(joined) = posts.join_next().await else {
            break;
        };
        let Ok((d, result)) = joined else {
            // A POST task panicked: its delivery stays due and is tried next round.
            continue;
        };
        let now = service.now();
        let failed = d.attempts.saturating_add(1);
        let outcome = match result {
            Ok(()) => DeliveryOutcome::Delivered { at: now },
            Err(error) if failed >= max_attempts => {
                tracing::warn!(
                    delivery = d.id,
                    rule = %d.rule,
                    webhook = %origin(&d.target),
                    attempts = failed,
                    %error,
                    "alert webhook failed; given up"
                );
                DeliveryOutcome::GaveUp { at: now, error }
            }
            Err(error) => {
                let wait = backoff(u32::try_from(failed).unwrap_or(u32::MAX));
                tracing::info!(
                    delivery = d.id,
                    rule = %d.rule,
                    webhook = %origin(&d.target),
                    attempts = failed,
                    retry_in_secs = wait,
                    %error,
                    "alert webhook failed; will retry"
                );
                DeliveryOutcome::Retry {
                    next_attempt: now.saturating_add(wait),
                    error,
                }
            }
        };
        inv.record_delivery(d.id, outcome).await?;
    }
    Ok(attempted)
}

/// Write an alert to the log (its payload's fields; payloads never hold key material).
fn log_alert(d: &AlertDelivery) {
    let p: Value = serde_json::from_str(&d.payload).unwrap_or(Value::Null);
    let text = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let locations = p
        .get("locations")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    tracing::warn!(
        alert = d.alert_id,
        rule = %d.rule,
        finding = %d.finding,
        severity = %text("severity"),
        subject_key = %d.subject_key,
        subject = %text("subject"),
        serial = %text("serial"),
        not_after = %text("not_after"),
        owner = %text("owner"),
        team = %text("team"),
        locations = %locations,
        action = %text("action"),
        "alert: {}",
        text("detail")
    );
}

/// The lease outlives a round and the next tick: the interval twice, plus room for slow
/// webhooks.
fn lease_ttl(every: Duration) -> i64 {
    i64::try_from(every.as_secs())
        .unwrap_or(86_400)
        .saturating_mul(2)
        .saturating_add(60)
}

fn rfc3339(ts: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ts)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| ts.to_string())
}

/// https anywhere, http only to a loopback host.
fn webhook_allowed(w: &str) -> bool {
    let Ok(u) = url::Url::parse(w) else {
        return false;
    };
    match u.scheme() {
        "https" => u.host().is_some(),
        "http" => match u.host() {
            Some(url::Host::Ipv4(a)) => a.is_loopback(),
            Some(url::Host::Ipv6(a)) => a.is_loopback(),
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            None => false,
        },
        _ => false,
    }
}

/// `scheme://host:port` of a webhook: what logs may show (paths and queries may hold
/// secrets).
pub fn origin(w: &str) -> String {
    if w == "log" {
        return w.to_owned();
    }
    url::Url::parse(w)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_else(|_| "(not a URL)".into())
}

/// TLS for https webhooks: this deployment's roots and the system's CA bundle.
fn client_config(service: &InventoryService) -> Option<Arc<rustls::ClientConfig>> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(
        service
            .authority()
            .roots()
            .into_iter()
            .map(|d| CertificateDer::from(d.to_vec())),
    );
    let bundle = std::env::var_os("SSL_CERT_FILE")
        .map(std::path::PathBuf::from)
        .into_iter()
        .chain(
            [
                "/etc/ssl/certs/ca-certificates.crt",
                "/etc/pki/tls/certs/ca-bundle.crt",
                "/etc/ssl/ca-bundle.pem",
                "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
                "/etc/ssl/cert.pem",
            ]
            .map(std::path::PathBuf::from),
        )
        .find_map(|p| std::fs::read(p).ok());
    if let Some(pem) = bundle {
        roots
            .add_parsable_certificates(CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    match rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
    {
        Ok(b) => Some(Arc::new(
            b.with_root_certificates(roots).with_no_client_auth(),
        )),
        Err(error) => {
            tracing::warn!(%error, "no TLS client for https webhooks");
            None
        }
    }
}

/// POST `body` as JSON to `url` within [`WEBHOOK_TIMEOUT`]; Ok on a 2xx answer. Errors
/// name the status or the failure, never the URL.
async fn post_json(
    url: &str,
    body: String,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> Result<(), String> {
    let answer = crate::http_client::request(
        hyper::Method::POST,
        url,
        &[
            (hyper::header::CONTENT_TYPE, "application/json"),
            (
                hyper::header::USER_AGENT,
                concat!("mooring/", env!("CARGO_PKG_VERSION")),
            ),
        ],
        body,
        tls,
        // Read (a bounded part of) the answer so the exchange completes cleanly.
        MAX_ANSWER_BYTES,
        WEBHOOK_TIMEOUT,
    )
    .await?;
    if answer.status.is_success() {
        Ok(())
    } else {
        Err(format!("HTTP {}", answer.status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use moor_store::inventory::InventoryItem;

    fn item() -> InventoryItem {
        InventoryItem {
            id: 7,
            fingerprint: "ab".repeat(32),
            kind: "x509".into(),
            source: "issued".into(),
            subject: "CN=web.example.com".into(),
            issuer: "intermediate".into(),
            issuer_id: Some("intermediate".into()),
            serial_hex: "0a1b2c".into(),
            sans: vec!["web.example.com".into()],
            key_algorithm: "ecdsa-p256".into(),
            signature_algorithm: "ecdsa-sha256".into(),
            spki_sha256: "cd".repeat(32),
            not_before: 1_700_000_000,
            not_after: 1_767_225_600,
            chain_position: "leaf".into(),
            self_signed: false,
            revoked_at: None,
            superseded_by: None,
            owner: Some("alice@example.com".into()),
            team: Some("web".into()),
            labels: [("env".to_string(), "prod".to_string())].into(),
            first_seen: None,
            last_seen: None,
            created_at: 1_700_000_000,
        }
    }

    fn finding(kind: FindingKind, item: Option<InventoryItem>) -> Finding {
        Finding {
            kind,
            severity: "high",
            subject_key: item
                .as_ref()
                .map(|i| i.fingerprint.clone())
                .unwrap_or_else(|| "h1:/etc/k.pem".into()),
            owner: item.as_ref().and_then(|i| i.owner.clone()),
            team: item.as_ref().and_then(|i| i.team.clone()),
            item,
            key_file: None,
            locations: vec!["10.0.0.5:443".into()],
            detail: "web.example.com expires on 2026-01-01".into(),
            action: "renew it".into(),
        }
    }

    fn rule(findings: &[&str], labels: &[&str]) -> AlertRule {
        AlertRule {
            name: "r".into(),
            findings: findings.iter().map(|s| s.to_string()).collect(),
            labels: labels.iter().map(|s| s.to_string()).collect(),
            webhooks: Vec::new(),
            log: true,
        }
    }

    #[test]
    fn backoff_doubles_from_one_second_to_an_hour() {
        assert_eq!(backoff(0), 1);
        assert_eq!(backoff(1), 1);
        assert_eq!(backoff(2), 2);
        assert_eq!(backoff(3), 4);
        assert_eq!(backoff(12), 2048);
        assert_eq!(backoff(13), MAX_BACKOFF_SECS);
        assert_eq!(backoff(100), MAX_BACKOFF_SECS);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF_SECS);
    }

    #[test]
    fn payload_names_the_certificate_owner_locations_and_action() {
        let f = finding(FindingKind::Expiring, Some(item()));
        let p = payload("expiry", &f, 1_767_000_000);
        assert_eq!(p["rule"], "expiry");
        assert_eq!(p["finding"], "expiring");
        assert_eq!(p["severity"], "high");
        assert_eq!(p["fingerprint"], "ab".repeat(32));
        assert_eq!(p["subject_key"], "ab".repeat(32));
        assert_eq!(p["serial"], "0a1b2c");
        assert_eq!(p["subject"], "CN=web.example.com");
        assert_eq!(p["sans"], json!(["web.example.com"]));
        assert_eq!(p["issuer"], "intermediate");
        assert_eq!(p["not_after"], "2026-01-01T00:00:00Z");
        assert_eq!(p["owner"], "alice@example.com");
        assert_eq!(p["team"], "web");
        assert_eq!(p["locations"], json!(["10.0.0.5:443"]));
        assert_eq!(p["action"], "renew it");
        assert_eq!(
            p["text"],
            "[high] expiring: web.example.com expires on 2026-01-01 Action: renew it"
        );
        assert!(p["detail"].as_str().is_some_and(|d| d.contains("expires")));
        assert!(p["raised_at"].as_str().is_some_and(|t| t.ends_with('Z')));
        // A key-file finding has no certificate fields.
        let k = payload("keys", &finding(FindingKind::KeyFileReadable, None), 0);
        assert_eq!(k["fingerprint"], Value::Null);
        assert_eq!(k["sans"], json!([]));
        assert_eq!(k["subject_key"], "h1:/etc/k.pem");
    }

    #[test]
    fn rules_select_by_kind_and_every_label() {
        let f = finding(FindingKind::Expiring, Some(item()));
        assert!(rule_matches(&rule(&[], &[]), &f));
        assert!(rule_matches(&rule(&["expiring"], &["env=prod"]), &f));
        assert!(!rule_matches(&rule(&["weak-key"], &[]), &f));
        assert!(!rule_matches(&rule(&[], &["env=prod", "tier=1"]), &f));
        assert!(!rule_matches(&rule(&[], &["env=dev"]), &f));
        let k = finding(FindingKind::KeyFileReadable, None);
        assert!(rule_matches(&rule(&[], &[]), &k));
        assert!(!rule_matches(&rule(&[], &["env=prod"]), &k));
    }

    #[test]
    fn webhooks_are_https_or_loopback_http() {
        for ok in [
            "https://hooks.example.com/x?token=s",
            "http://127.0.0.1:8080/hook",
            "http://localhost/hook",
            "http://[::1]:9/x",
        ] {
            assert!(webhook_allowed(ok), "{ok}");
        }
        for bad in [
            "http://example.com/hook",
            "http://localhost.evil.example/hook",
            "http://127.0.0.1.evil.example/",
            "ftp://127.0.0.1/",
            "not a url",
        ] {
            assert!(!webhook_allowed(bad), "{bad}");
        }
        assert_eq!(
            origin("https://hooks.example.com/services/SECRET?k=v"),
            "https://hooks.example.com"
        );
    }

    #[test]
    fn config_check_refuses_bad_rules() {
        let mut c = AlertsConfig::default();
        assert!(check_config(&c).is_ok());
        c.rules.push(rule(&["expiring"], &["env=prod"]));
        assert!(check_config(&c).is_ok());
        c.rules[0].webhooks.push("http://example.com/hook".into());
        assert!(check_config(&c).is_err());
        c.rules[0].webhooks = vec!["https://example.com/hook".into()];
        c.rules[0].findings.push("sleepy".into());
        assert!(check_config(&c).is_err());
    }
}
