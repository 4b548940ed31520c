//! Group actions: select items by query, see the list first (dry run), then revoke or
//! renew every one, each audited on its own (the revocation or the renewal window).

use serde::{Deserialize, Serialize};

use super::InventoryService;
use crate::acme::service::{AcmeService, RenewalSelector};
use crate::{AuthorityError, Requester};

/// At most this many items in one group action.
pub const MAX_GROUP: usize = 10_000;

/// What to do to each selected item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum GroupAction {
    /// Revoke with an RFC 5280 reason code.
    Revoke {
        #[serde(default)]
        reason: i32,
    },
    /// Open a renewal window now (ARI, RFC 9773: clients and agents renew within it).
    Renew {
        /// Seconds the window stays open (60 to 30 days).
        #[serde(default = "default_window")]
        window_secs: i64,
    },
}

fn default_window() -> i64 {
    86_400
}

/// One selected item and what happens (or would happen) to it.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub fingerprint: String,
    pub serial: String,
    pub subject: String,
    pub not_after: i64,
    /// `will revoke`, `will renew`, `revoked`, `renewal window set`, or why it is skipped
    /// / failed (`skipped: not issued here`, `failed: …`).
    pub outcome: String,
}

/// A dry run or the result of a run.
#[derive(Debug, Clone, Serialize)]
pub struct GroupReport {
    pub query: String,
    pub action: GroupAction,
    pub dry_run: bool,
    /// Items the query selected.
    pub selected: usize,
    /// Items acted upon (or that would be).
    pub actionable: usize,
    /// Items done (0 in a dry run).
    pub done: usize,
    /// A digest of the action and of the items it acts on: a run must present the one its
    /// dry run showed, so it acts on exactly what was listed.
    pub selection: String,
    pub failed: usize,
    pub targets: Vec<Target>,
}

impl InventoryService {
    /// Run `action` over the items `query` selects: a dry run lists them (and gives their
    /// `selection`); a run needs that `selection` — it stops before acting if the items
    /// changed since — then acts on each in turn (`progress(done, total)` after each).
    pub async fn group_action(
        &self,
        who: &Requester,
        query: &str,
        action: GroupAction,
        dry_run: bool,
        selection: Option<&str>,
        mut progress: impl FnMut(usize, usize) + Send,
    ) -> Result<GroupReport, AuthorityError> {
        if !who.is_admin() {
            return Err(AuthorityError::Unauthorized(
                "group actions are for administrators".into(),
            ));
        }
        if query.trim().is_empty() {
            return Err(AuthorityError::BadRequest(
                "a group action needs a query (select everything explicitly, e.g. kind=x509)"
                    .into(),
            ));
        }
        if let GroupAction::Renew { window_secs } = action
            && !(60..=30 * 86_400).contains(&window_secs)
        {
            return Err(AuthorityError::BadRequest(
                "the renewal window lasts 1 minute to 30 days".into(),
            ));
        }
        if let GroupAction::Revoke { reason } = action
            && !matches!(reason, 0..=6 | 8..=10)
        {
            return Err(AuthorityError::BadRequest(format!(
                "revocation reason {reason} is not an RFC 5280 reason code"
            )));
        }
        let mut items = Vec::new();
        let mut after = None;
        loop {
            let page = self.search(query, after, 1000).await?;
            items.extend(page.items);
            if items.len() > MAX_GROUP {
                return Err(AuthorityError::BadRequest(format!(
                    "the query selects more than {MAX_GROUP} items: narrow it"
                )));
            }
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        let now = self.authority.now_unix();
        let mut targets: Vec<Target> = items
            .iter()
            .map(|i| {
                let outcome = if i.kind != "x509" || i.issuer_id.is_none() {
                    "skipped: not issued here".to_string()
                } else if i.revoked_at.is_some() {
                    "skipped: already revoked".into()
                } else if i.not_after < now {
                    "skipped: expired".into()
                } else {
                    match action {
                        GroupAction::Revoke { .. } => "will revoke".into(),
                        GroupAction::Renew { .. } => "will renew".into(),
                    }
                };
                Target {
                    fingerprint: i.fingerprint.clone(),
                    serial: i.serial_hex.clone(),
                    subject: i.subject.clone(),
                    not_after: i.not_after,
                    outcome,
                }
            })
            .collect();
        let actionable = targets
            .iter()
            .filter(|t| t.outcome.starts_with("will "))
            .count();
        let digest = {
            let mut fps: Vec<&str> = targets
                .iter()
                .filter(|t| t.outcome.starts_with("will "))
                .map(|t| t.fingerprint.as_str())
                .collect();
            fps.sort_unstable();
            let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
            ctx.update(format!("{action:?}\n").as_bytes());
            for f in fps {
                ctx.update(f.as_bytes());
                ctx.update(b"\n");
            }
            hex::encode(&ctx.finish().as_ref()[..16])
        };
        let mut report = GroupReport {
            query: query.to_owned(),
            action: action.clone(),
            dry_run,
            selected: targets.len(),
            actionable,
            done: 0,
            failed: 0,
            selection: digest.clone(),
            targets: Vec::new(),
        };
        if dry_run {
            report.targets = targets;
            return Ok(report);
        }
        match selection {
            None => {
                return Err(AuthorityError::BadRequest(
                    "a run needs the selection its dry run showed (see the list first)".into(),
                ));
            }
            Some(sel)
                if aws_lc_rs::constant_time::verify_slices_are_equal(
                    sel.as_bytes(),
                    digest.as_bytes(),
                )
                .is_err() =>
            {
                return Err(AuthorityError::BadRequest(format!(
                    "the selection changed since the dry run ({actionable} items to act on now): run the dry run again"
                )));
            }
            Some(_) => {}
        }
        let mut seen = 0;
        for t in targets
            .iter_mut()
            .filter(|t| t.outcome.starts_with("will "))
        {
            let result = match action {
                GroupAction::Revoke { reason } => self
                    .authority
                    .revoke(who, &t.serial, reason)
                    .await
                    .map(|_| "revoked".to_string()),
                GroupAction::Renew { window_secs } => AcmeService::override_renewal(
                    &self.authority,
                    who,
                    RenewalSelector {
                        issuer_id: None,
                        profile: None,
                        serial_hex: Some(t.serial.clone()),
                    },
                    window_secs,
                    &format!(
                        "group action: {}",
                        query.chars().take(200).collect::<String>()
                    ),
                )
                .await
                .map(|_| "renewal window set".to_string()),
            };
            match result {
                Ok(o) => {
                    t.outcome = o;
                    report.done += 1;
                }
                Err(AuthorityError::AlreadyRevoked(_)) => {
                    t.outcome = "skipped: already revoked".into();
                }
                Err(e) => {
                    t.outcome = format!("failed: {e}");
                    report.failed += 1;
                }
            }
            seen += 1;
            progress(seen, actionable);
        }
        report.targets = targets;
        Ok(report)
    }
}
