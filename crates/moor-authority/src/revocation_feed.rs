//! The revocation feed: how this node learns of every revocation, whichever node made it.
//!
//! The store numbers revocations 1, 2, 3, … across the whole database
//! (`Store::revocations_since`). This node keeps its place in that order; whenever the
//! store signals a revocation (this process at once; other nodes via PostgreSQL NOTIFY)
//! and at least every [`FEED_POLL`], it reads what is new and
//! - drops the cached OCSP response of each revoked serial (the next answer says revoked),
//! - marks the issuer's CRLs stale and wakes the CRL builder,
//! - reloads the blocked keys after a keyCompromise revocation.
//!
//! A revocation made through this node is applied before the revoke call returns.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::{Authority, AuthorityError};

/// The longest this node goes without reading the feed (covers notifications lost while
/// a database connection was down, and other processes on one SQLite file).
pub const FEED_POLL: Duration = Duration::from_secs(1);
/// Revocations read per query.
const FEED_PAGE: i64 = 10_000;

/// This node's place in the revocation order.
#[derive(Debug, Default)]
pub(crate) struct RevocationFeed {
    /// The last revocation seq applied.
    cursor: AtomicI64,
    /// Per issuer, the last revocation seq seen for it.
    by_issuer: RwLock<HashMap<String, i64>>,
    /// One reader at a time.
    reading: tokio::sync::Mutex<()>,
}

impl RevocationFeed {
    /// The last revocation seq applied.
    pub(crate) fn cursor(&self) -> i64 {
        self.cursor.load(Ordering::Acquire)
    }

    /// The last revocation seq seen for `issuer` (0 if none).
    pub(crate) fn issuer_seq(&self, issuer: &str) -> i64 {
        self.by_issuer
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(issuer)
            .copied()
            .unwrap_or(0)
    }
}

impl Authority {
    /// Read and apply the revocations committed since the last look; how many there were.
    pub async fn catch_up_revocations(&self) -> Result<usize, AuthorityError> {
        let _one = self.revocation_feed.reading.lock().await;
        let mut applied = 0usize;
        let mut key_compromise = false;
        loop {
            let after = self.revocation_feed.cursor();
            let page = self.store.revocations_since(after, FEED_PAGE).await?;
            for ev in &page {
                self.ocsp_revoked(&ev.issuer_id, &ev.serial_hex);
                key_compromise |= ev.reason == crate::revoke::KEY_COMPROMISE;
                let mut by = self
                    .revocation_feed
                    .by_issuer
                    .write()
                    .unwrap_or_else(|e| e.into_inner());
                let s = by.entry(ev.issuer_id.clone()).or_insert(0);
                *s = (*s).max(ev.seq);
            }
            if let Some(last) = page.last() {
                self.revocation_feed
                    .cursor
                    .store(last.seq, Ordering::Release);
            }
            applied += page.len();
            if (page.len() as i64) < FEED_PAGE {
                break;
            }
        }
        if key_compromise {
            self.load_blocked_keys().await?;
        }
        if applied > 0 {
            self.crl_wake.notify_one();
        }
        Ok(applied)
    }

    /// Follow the feed until everyone else dropped the authority.
    pub async fn follow_revocations(self: Arc<Self>) {
        let mut signal = self.store.revocation_signal();
        loop {
            tokio::select! {
                _ = signal.changed() => {}
                _ = tokio::time::sleep(FEED_POLL) => {}
            }
            if let Err(error) = self.catch_up_revocations().await {
                tracing::warn!(%error, "reading the revocation feed failed; retrying");
            }
            if Arc::strong_count(&self) == 1 {
                return;
            }
        }
    }
}
