//! The pre-signed response cache of one issuer: (serial, CertID hash form) → the DER
//! OCSPResponse, so that a repeated request without a nonce is a lookup (no store read,
//! no signature).
//!
//! - Sharded by serial (16 shards, one `RwLock` each): readers on the hot path only take
//!   a read lock and clone an `Arc`.
//! - An entry is served while `now < refresh_at` (half its thisUpdate..nextUpdate window)
//!   and while it was signed by the current responder generation; otherwise the caller
//!   signs afresh and replaces it.
//! - Only `good` and `revoked` answers are cached, never `unknown` (a serial may be
//!   issued later; this cache never has to learn about issuance).
//! - [`Cache::invalidate`] drops a serial at once (revocation). A response whose status
//!   was read from the store before an invalidation of its shard is not inserted after
//!   it: callers take a [`Ticket`] before the store read and [`Cache::insert`] refuses a
//!   stale ticket, so a `good` read just before a revocation can never be cached after it.
//! - Bounded by bytes ([`Cache::new`]): each shard holds at most 1/16 of the budget. An
//!   insert into a full shard first drops stale entries, then arbitrary ones until the
//!   shard is at 3/4 of its share (random replacement: no bookkeeping on the hit path).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use moor_core::ocsp::CertIdHash;

const SHARDS: usize = 16;
/// Bytes charged per entry on top of its response and serial (map slot, Arc, Vec).
const ENTRY_OVERHEAD: usize = 96;

/// One cached response.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// The CertID hash form it answers.
    pub hash: CertIdHash,
    /// The DER OCSPResponse.
    pub der: Arc<[u8]>,
    /// Re-sign from this time on (unix seconds).
    pub refresh_at: i64,
    /// The responder generation that signed it.
    pub generation: u64,
}

/// The invalidation count of a serial's shard, taken before reading its status.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket(u64);

#[derive(Default)]
struct ShardMap {
    map: HashMap<Box<[u8]>, Vec<Entry>>,
    bytes: usize,
}

#[derive(Default)]
struct Shard {
    inner: RwLock<ShardMap>,
    /// Bumped (under the write lock) by every invalidation in this shard.
    invalidations: AtomicU64,
}

/// The cache of one issuer.
pub(crate) struct Cache {
    shards: Vec<Shard>,
    shard_budget: usize,
}

fn cost(serial: &[u8], e: &Entry) -> usize {
    e.der.len() + serial.len() + ENTRY_OVERHEAD
}

impl Cache {
    /// A cache holding at most `max_bytes` of responses (plus per-entry overhead).
    pub fn new(max_bytes: usize) -> Cache {
        Cache {
            shards: (0..SHARDS).map(|_| Shard::default()).collect(),
            shard_budget: (max_bytes / SHARDS).max(1),
        }
    }

    fn shard(&self, serial: &[u8]) -> &Shard {
        // Our serials are random; fold all bytes so any serial spreads.
        let h = serial
            .iter()
            .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(*b as usize));
        &self.shards[h % SHARDS]
    }

    /// The cached response for (`serial`, `hash`) if it is fresh at `now` and was signed
    /// by responder `generation`.
    pub fn get(
        &self,
        serial: &[u8],
        hash: CertIdHash,
        now: i64,
        generation: u64,
    ) -> Option<Arc<[u8]>> {
        let shard = self
            .shard(serial)
            .inner
            .read()
            .unwrap_or_else(|e| e.into_inner());
        shard
            .map
            .get(serial)?
            .iter()
            .find(|e| e.hash == hash && e.generation == generation && now < e.refresh_at)
            .map(|e| e.der.clone())
    }

    /// Take before reading the status that goes into a response to be inserted.
    pub fn ticket(&self, serial: &[u8]) -> Ticket {
        Ticket(self.shard(serial).invalidations.load(Ordering::Acquire))
    }

    /// Insert (or replace) the response for (`serial`, `entry.hash`), unless the shard saw
    /// an invalidation since `ticket` was taken. Returns whether it was inserted.
    pub fn insert(
        &self,
        serial: &[u8],
        entry: Entry,
        ticket: Ticket,
        now: i64,
        generation: u64,
    ) -> bool {
        let shard = self.shard(serial);
        let mut m = shard.inner.write().unwrap_or_else(|e| e.into_inner());
        if shard.invalidations.load(Ordering::Acquire) != ticket.0 {
            return false;
        }
        let add = cost(serial, &entry);
        if add > self.shard_budget {
            return false;
        }
        if m.bytes + add > self.shard_budget {
            evict(&mut m, now, generation, self.shard_budget * 3 / 4);
        }
        let slot = m.map.entry(serial.into()).or_default();
        let removed = match slot.iter().position(|e| e.hash == entry.hash) {
            Some(i) => cost(serial, &std::mem::replace(&mut slot[i], entry)),
            None => {
                slot.push(entry);
                0
            }
        };
        m.bytes = m.bytes + add - removed;
        true
    }

    /// Drop every cached response for `serial` now.
    pub fn invalidate(&self, serial: &[u8]) {
        let shard = self.shard(serial);
        let mut m = shard.inner.write().unwrap_or_else(|e| e.into_inner());
        shard.invalidations.fetch_add(1, Ordering::AcqRel);
        if let Some(slot) = m.map.remove(serial) {
            let freed: usize = slot.iter().map(|e| cost(serial, e)).sum();
            m.bytes -= freed;
        }
    }

    /// How many entries and bytes the cache holds.
    #[cfg(test)]
    pub fn entries_and_bytes(&self) -> (usize, usize) {
        self.shards.iter().fold((0, 0), |(n, b), s| {
            let m = s.inner.read().unwrap_or_else(|e| e.into_inner());
            (n + m.map.values().map(Vec::len).sum::<usize>(), b + m.bytes)
        })
    }
}

/// Bring a shard down to `target` bytes: stale entries first, then arbitrary ones.
fn evict(m: &mut ShardMap, now: i64, generation: u64, target: usize) {
    let mut freed = 0;
    m.map.retain(|serial, slot| {
        slot.retain(|e| {
            let keep = e.generation == generation && now < e.refresh_at;
            if !keep {
                freed += cost(serial, e);
            }
            keep
        });
        !slot.is_empty()
    });
    m.bytes -= freed;
    if m.bytes <= target {
        return;
    }
    let mut victims = Vec::new();
    let mut bytes = m.bytes;
    for (serial, slot) in &m.map {
        if bytes <= target {
            break;
        }
        bytes -= slot.iter().map(|e| cost(serial, e)).sum::<usize>();
        victims.push(serial.clone());
    }
    for v in victims {
        m.map.remove(&v);
    }
    m.bytes = bytes;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(hash: CertIdHash, n: usize, refresh_at: i64, generation: u64) -> Entry {
        Entry {
            hash,
            der: vec![7u8; n].into(),
            refresh_at,
            generation,
        }
    }

    #[test]
    fn hits_need_the_same_form_generation_and_freshness() {
        let c = Cache::new(1 << 20);
        let s = [1u8, 2, 3];
        let t = c.ticket(&s);
        assert!(c.insert(&s, entry(CertIdHash::Sha1Null, 10, 100, 1), t, 0, 1));
        assert!(c.get(&s, CertIdHash::Sha1Null, 99, 1).is_some());
        assert!(c.get(&s, CertIdHash::Sha1Null, 100, 1).is_none(), "stale");
        assert!(c.get(&s, CertIdHash::Sha1Null, 50, 2).is_none(), "rotated");
        assert!(c.get(&s, CertIdHash::Sha1, 50, 1).is_none(), "other form");
        assert!(c.get(&[1, 2], CertIdHash::Sha1Null, 50, 1).is_none());
        // A second form sits beside the first; replacing keeps the byte count exact.
        assert!(c.insert(&s, entry(CertIdHash::Sha256, 20, 100, 1), t, 0, 1));
        assert!(c.insert(&s, entry(CertIdHash::Sha256, 30, 100, 1), t, 0, 1));
        assert_eq!(
            c.entries_and_bytes(),
            (2, 10 + 30 + 2 * (3 + ENTRY_OVERHEAD))
        );
        c.invalidate(&s);
        assert_eq!(c.entries_and_bytes(), (0, 0));
    }

    #[test]
    fn a_response_read_before_an_invalidation_is_not_cached_after_it() {
        let c = Cache::new(1 << 20);
        let s = [9u8; 16];
        let before = c.ticket(&s);
        c.invalidate(&s); // the revocation lands between the store read and the insert
        assert!(!c.insert(&s, entry(CertIdHash::Sha1, 10, 100, 1), before, 0, 1));
        assert!(c.get(&s, CertIdHash::Sha1, 0, 1).is_none());
        let after = c.ticket(&s);
        assert!(c.insert(&s, entry(CertIdHash::Sha1, 10, 100, 1), after, 0, 1));
    }

    #[test]
    fn the_byte_budget_holds() {
        let budget = 64 * 1024;
        let c = Cache::new(budget);
        for i in 0u32..5000 {
            let s = i.to_be_bytes();
            let t = c.ticket(&s);
            c.insert(&s, entry(CertIdHash::Sha1Null, 500, 100, 1), t, 0, 1);
            let (_, bytes) = c.entries_and_bytes();
            assert!(bytes <= budget, "{bytes} > {budget} after {i}");
        }
        let (n, _) = c.entries_and_bytes();
        assert!(n > 50, "the cache still holds entries: {n}");
        // Stale entries go first: after a rotation everything old can be dropped.
        let s = 99_999u32.to_be_bytes();
        for g in 2..40 {
            let t = c.ticket(&s);
            c.insert(&s, entry(CertIdHash::Sha1Null, 500, 100, g), t, 0, g);
        }
        assert!(c.get(&s, CertIdHash::Sha1Null, 0, 39).is_some());
    }
}
