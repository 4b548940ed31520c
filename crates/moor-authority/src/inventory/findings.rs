//! Findings: what in the inventory needs someone's attention, each naming the owner, the
//! places it is served and the action to take. Computed from the store on every call
//! (the dashboard, `moor findings`, the alert rules), so they never go stale.

use std::collections::BTreeMap;

use moor_store::inventory::{FindingKind, FindingParams, InventoryItem, KeyFile};
use serde::Serialize;

use super::{DAY, InventoryService};
use crate::AuthorityError;

/// At most this many locations are named in one finding.
const MAX_LOCATIONS: usize = 10;

/// One finding.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// `expiring`, `expired-served`, `revoked-served`, `weak-key`, `weak-signature`,
    /// `shared-key`, `self-signed-leaf`, `unknown-issuer`, `orphan`, `key-file-readable`;
    /// the event `issued` (alert rules on issuance).
    pub kind: FindingKind,
    /// `critical`, `high`, `medium`, `low`.
    pub severity: &'static str,
    /// The item's fingerprint, or `host:path` of a key file: what an alert is keyed on.
    pub subject_key: String,
    /// The item, for every kind but `key-file-readable`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<InventoryItem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_file: Option<KeyFile>,
    pub owner: Option<String>,
    pub team: Option<String>,
    /// Where it is served or stored now (`10.0.0.5:443`, `host:/etc/ssl/a.pem`).
    pub locations: Vec<String>,
    /// What was found, in a sentence.
    pub detail: String,
    /// What to do about it.
    pub action: String,
}

/// Parse a comma-separated list of finding kinds (empty: none given).
pub fn parse_kinds(s: Option<&str>) -> Result<Vec<FindingKind>, AuthorityError> {
    let mut kinds = Vec::new();
    for k in s
        .unwrap_or("")
        .split(',')
        .filter(|k| !k.is_empty())
        .take(16)
    {
        kinds.push(FindingKind::parse(k.trim()).ok_or_else(|| {
            AuthorityError::BadRequest(format!(
                "unknown finding {:?}",
                k.chars().take(40).collect::<String>()
            ))
        })?);
    }
    Ok(kinds)
}

fn date(ts: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ts)
        .map(|t| format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day()))
        .unwrap_or_else(|_| ts.to_string())
}

fn severity(kind: FindingKind, item: Option<&InventoryItem>, now: i64) -> &'static str {
    match kind {
        FindingKind::ExpiredServed | FindingKind::RevokedServed => "critical",
        FindingKind::Expiring => match item {
            Some(i) if i.not_after - now < 7 * DAY => "high",
            _ => "medium",
        },
        FindingKind::WeakKey | FindingKind::WeakSignature | FindingKind::KeyFileReadable => "high",
        FindingKind::SharedKey | FindingKind::SelfSignedLeaf | FindingKind::UnknownIssuer => {
            "medium"
        }
        FindingKind::Orphan => "low",
        FindingKind::Issued => "info",
    }
}

impl InventoryService {
    /// The findings of `kinds` (every kind when empty), at most `limit` of each kind.
    pub async fn findings(
        &self,
        kinds: &[FindingKind],
        limit: usize,
    ) -> Result<Vec<Finding>, AuthorityError> {
        self.findings_where(kinds, limit, None, &[]).await
    }

    /// The findings alert rule `rule` has not alerted on yet, of items carrying all
    /// `labels`: a rule works through every finding, however many, a page per round.
    pub async fn findings_for_rule(
        &self,
        kinds: &[FindingKind],
        limit: usize,
        rule: &str,
        labels: &[(String, String)],
    ) -> Result<Vec<Finding>, AuthorityError> {
        self.findings_where(kinds, limit, Some(rule), labels).await
    }

    async fn findings_where(
        &self,
        kinds: &[FindingKind],
        limit: usize,
        unalerted: Option<&str>,
        labels: &[(String, String)],
    ) -> Result<Vec<Finding>, AuthorityError> {
        let now = self.authority.now_unix();
        let limit = limit.clamp(1, 10_000);
        let params = FindingParams {
            now,
            expiring_within: self.expiring_window(),
            thresholds: self.thresholds.clone(),
            orphan_after: self.orphan_after,
            limit: limit as i64,
            unalerted: unalerted.map(str::to_owned),
            labels: labels.to_vec(),
        };
        let kinds: Vec<FindingKind> = if kinds.is_empty() {
            FindingKind::ALL.to_vec()
        } else {
            kinds.to_vec()
        };
        let inv = self.authority.store().inventory();
        let mut out = Vec::new();
        for kind in kinds {
            let rows = inv.finding_rows(kind, &params).await?;
            for kf in rows.key_files {
                out.push(Finding {
                    kind,
                    severity: severity(kind, None, now),
                    subject_key: format!("{}:{}", kf.host, kf.path),
                    owner: None,
                    team: None,
                    locations: vec![format!("{}:{}", kf.host, kf.path)],
                    detail: format!(
                        "private key file {} on {} has mode {:04o}: readable by {}",
                        kf.path,
                        kf.host,
                        kf.mode,
                        if kf.mode & 0o004 != 0 {
                            "everyone"
                        } else {
                            "its group"
                        }
                    ),
                    action: format!(
                        "chmod 600 {} on {} (and rotate the key if others read it)",
                        kf.path, kf.host
                    ),
                    key_file: Some(kf),
                    item: None,
                });
            }
            // Items sharing a key: say how many.
            let mut shared: BTreeMap<String, usize> = BTreeMap::new();
            if kind == FindingKind::SharedKey {
                for i in &rows.items {
                    *shared.entry(i.spki_sha256.clone()).or_default() += 1;
                }
            }
            // Where each is served now: one query per 500 items.
            let ids: Vec<i64> = rows.items.iter().map(|i| i.id).collect();
            let mut places = inv.live_locations(&ids, MAX_LOCATIONS).await?;
            for item in rows.items {
                let locations: Vec<String> = places
                    .remove(&item.id)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|l| match l.kind.as_str() {
                        "file" => format!("{}:{}", l.host, l.endpoint),
                        _ if l.sni.is_empty() => l.endpoint,
                        _ => format!("{} (SNI {})", l.endpoint, l.sni),
                    })
                    .collect();
                let (detail, action) = self.describe(kind, &item, &locations, &shared, now);
                out.push(Finding {
                    kind,
                    severity: severity(kind, Some(&item), now),
                    subject_key: item.fingerprint.clone(),
                    owner: item.owner.clone(),
                    team: item.team.clone(),
                    locations,
                    detail,
                    action,
                    key_file: None,
                    item: Some(item),
                });
            }
        }
        Ok(out)
    }

    fn describe(
        &self,
        kind: FindingKind,
        i: &InventoryItem,
        locations: &[String],
        shared: &BTreeMap<String, usize>,
        now: i64,
    ) -> (String, String) {
        let name = if i.subject.is_empty() {
            i.sans
                .first()
                .cloned()
                .unwrap_or_else(|| i.fingerprint[..16].to_owned())
        } else {
            i.subject.clone()
        };
        let at = if locations.is_empty() {
            String::new()
        } else {
            format!(" at {}", locations.join(", "))
        };
        let ours = i.issuer_id.is_some();
        let fp = &i.fingerprint;
        match kind {
            FindingKind::Expiring => {
                let days = (i.not_after - now) / DAY;
                (
                    format!("{name} expires on {} (in {days} days){at}", date(i.not_after)),
                    if ours {
                        format!(
                            "renew it: its agent or ACME client renews within the renewal window; to renew now: moor certs act 'fingerprint={fp}' --renew (a dry run first)"
                        )
                    } else {
                        format!("replace it{at} before {}", date(i.not_after))
                    },
                )
            }
            FindingKind::ExpiredServed => (
                format!("{name} expired on {} and is still served{at}", date(i.not_after)),
                format!("install a current certificate{at} now: clients refuse this one"),
            ),
            FindingKind::RevokedServed => (
                format!(
                    "{name} was revoked on {} and is still served{at}",
                    date(i.revoked_at.unwrap_or(0))
                ),
                format!("install a new certificate{at}: clients checking revocation refuse this one"),
            ),
            FindingKind::WeakKey => (
                format!("{name} has a weak key ({})", i.key_algorithm),
                "reissue it with an ECDSA P-256 key or an RSA key of at least 2048 bits".into(),
            ),
            FindingKind::WeakSignature => (
                format!("{name} is signed with {}", i.signature_algorithm),
                "reissue it with a SHA-256 (or stronger) signature: SHA-1 and MD5 are refused by browsers and TLS libraries".into(),
            ),
            FindingKind::SharedKey => (
                format!(
                    "{name} shares its key with {} other certificate(s) of other identities",
                    shared.get(&i.spki_sha256).copied().unwrap_or(2).saturating_sub(1).max(1)
                ),
                "give each identity its own key: a compromise of one exposes all".into(),
            ),
            FindingKind::SelfSignedLeaf => (
                format!("{name} is a self-signed leaf certificate{at}"),
                "replace it with a certificate issued by the CA, so clients can verify it".into(),
            ),
            FindingKind::UnknownIssuer => (
                format!("{name} was issued by an unknown CA ({})", i.issuer),
                "find who issued it: bring it under management (issue it here) or replace it".into(),
            ),
            FindingKind::Orphan => (
                format!(
                    "{name} was issued {} days ago and has not been seen deployed",
                    (now - i.created_at) / DAY
                ),
                format!(
                    "deploy it, or revoke it if unused: moor revoke {} (scan where it should be to record its location)",
                    i.serial_hex
                ),
            ),
            FindingKind::Issued => (
                format!(
                    "{name} was issued ({}) on {}",
                    i.source,
                    date(i.created_at)
                ),
                format!(
                    "nothing if it was expected; if not, find who asked (moor audit) and revoke it: moor revoke {}",
                    i.serial_hex
                ),
            ),
            FindingKind::KeyFileReadable => (String::new(), String::new()),
        }
    }
}
