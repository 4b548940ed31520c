//! Certificate revocation lists (RFC 5280 §5): per issuing CA, a full CRL and a delta CRL.
//!
//! **Who builds.** Every node can serve CRLs; one node at a time builds them: the holder
//! of the `crl` lease in the store ([`CRL_LEASE_TTL`]). A node that dies stops renewing
//! it and another takes over within that time. Every CRL built is saved in the store, so
//! every node serves the newest one.
//!
//! **When.** A CRL is *stale* when a revocation of its issuer newer than the CRL is known
//! (the revocation feed, `revocation_feed.rs`), or when it is older than [`CRL_REFRESH`]
//! (expired certificates leave the list; nextUpdate is never reached). A revocation wakes
//! the builder, which waits [`CRL_DEBOUNCE`] so that a burst of revocations makes one
//! CRL; a request that finds the CRL stale on the building node builds it at once, so
//! the CRL fetched after a revocation returned lists it.
//!
//! **Delta CRLs** (§5.2.4). Each build makes a full CRL (number N, with a freshestCRL
//! pointer to `/crl/{issuer}-delta.crl`) and a delta CRL (N+1) relative to a *base*: a
//! full CRL chosen at most [`DELTA_BASE_AGE`] ago. The delta lists every certificate
//! revoked since the base (Mooring never un-revokes), so a relying party holding the
//! base, or any newer full CRL, is current with the delta alone. The base is held by the
//! building node; a node that takes over starts a new base with its first build.
//!
//! Entries stay until the certificate expires (Vault CVE-2021-29653). certificateHold is
//! never used; reason `unspecified` is written as no reasonCode extension (§5.3.1). The
//! DER is written by `moor_core::crl` (a million entries build and sign in well under a
//! second).

use std::sync::Arc;
use std::time::Duration;

use moor_core::crl::{CrlEntry, CrlParams};
use moor_store::{CrlRecord, NewAuditEntry, StoreError};

use crate::{Authority, AuthorityError, audit_detail};

/// nextUpdate − thisUpdate by default (`crl_validity` in mooring.toml; the Baseline
/// Requirements allow at most 10 days).
pub const CRL_VALIDITY: Duration = Duration::from_secs(7 * 86_400);
/// A CRL older than this is rebuilt even if nothing was revoked.
pub const CRL_REFRESH: Duration = Duration::from_secs(86_400);
/// How long the builder waits after a revocation for more before building.
pub const CRL_DEBOUNCE: Duration = Duration::from_millis(200);
/// The CRL builder's lease; renewed on every maintenance round.
pub const CRL_LEASE_TTL: Duration = Duration::from_secs(10);
/// How often each node checks its CRLs (and the builder renews its lease).
pub const CRL_TICK: Duration = Duration::from_secs(2);
/// A delta CRL's base full CRL is replaced once it is older than this.
pub const DELTA_BASE_AGE: Duration = Duration::from_secs(86_400);
/// The lease name.
const CRL_LEASE: &str = "crl-builder";

/// A signed CRL as served.
#[derive(Debug)]
pub struct CachedCrl {
    /// DER of the CertificateList.
    pub der: Vec<u8>,
    /// Its CRL number.
    pub number: i64,
    /// For a delta CRL, its base CRL number.
    pub delta_base: Option<i64>,
    /// thisUpdate, unix seconds.
    pub this_update: i64,
    /// nextUpdate, unix seconds.
    pub next_update: i64,
    /// The revocation feed position it reflects.
    pub revocation_seq: i64,
    /// How many entries it lists.
    pub entries: usize,
}

impl From<CrlRecord> for CachedCrl {
    fn from(r: CrlRecord) -> CachedCrl {
        CachedCrl {
            der: r.der,
            number: r.number,
            delta_base: r.delta_base,
            this_update: r.this_update,
            next_update: r.next_update,
            revocation_seq: r.revocation_seq,
            entries: usize::try_from(r.entries).unwrap_or(0),
        }
    }
}

/// The base of the delta CRLs being built: a full CRL.
#[derive(Debug, Clone, Copy)]
struct DeltaBase {
    number: i64,
    revocation_seq: i64,
    this_update: i64,
}

/// One issuer's CRLs on this node.
#[derive(Debug, Default)]
pub(crate) struct CrlSlot {
    full: Option<Arc<CachedCrl>>,
    delta: Option<Arc<CachedCrl>>,
    base: Option<DeltaBase>,
    /// The builder's copy of the issuer's revoked, unexpired certificates: read from the
    /// store once, then brought up to date from the revocation feed (incremental).
    revoked: Option<Arc<RevokedSet>>,
}

/// One CRL entry as the builder keeps it (keyed by its serial).
#[derive(Debug, Clone)]
struct Listed {
    revoked_at: i64,
    reason: i32,
    revocation_seq: i64,
    not_after: i64,
}

/// An issuer's revoked certificates, by serial, as of revocation `seq`.
#[derive(Debug, Clone, Default)]
struct RevokedSet {
    by_serial: std::collections::BTreeMap<moor_core::serial::Serial, Listed>,
    seq: i64,
}

impl RevokedSet {
    /// Add (or replace) the entry of `serial_hex`.
    fn insert(&mut self, serial_hex: &str, listed: Listed) -> Result<(), AuthorityError> {
        let serial = moor_core::serial::Serial::from_hex(serial_hex).ok_or_else(|| {
            AuthorityError::Internal(format!("stored serial {serial_hex} is not hex"))
        })?;
        self.by_serial.insert(serial, listed);
        Ok(())
    }
}

impl Authority {
    /// The current full CRL of issuer `id`; built first if stale and this node may build.
    pub async fn crl(&self, id: &str) -> Result<Arc<CachedCrl>, AuthorityError> {
        Ok(self.current_crls(id, true).await?.0)
    }

    /// The current delta CRL of issuer `id`.
    pub async fn delta_crl(&self, id: &str) -> Result<Arc<CachedCrl>, AuthorityError> {
        Ok(self.current_crls(id, true).await?.1)
    }

    /// (full, delta) of issuer `id`. Stale ones are rebuilt if this node holds (or can
    /// take) the builder lease; otherwise the newest stored ones are taken. `serve`:
    /// called for a request (a node that cannot build still answers with what it has).
    async fn current_crls(
        &self,
        id: &str,
        serve: bool,
    ) -> Result<(Arc<CachedCrl>, Arc<CachedCrl>), AuthorityError> {
        let lock = self
            .crl_slots
            .get(id)
            .ok_or_else(|| AuthorityError::NotFound(format!("issuer {id}")))?;
        let mut slot = lock.lock().await;
        let now = self.now_unix();
        let known = self.revocation_feed.issuer_seq(id);
        let fresh = |c: &CachedCrl| {
            c.revocation_seq >= known && now - c.this_update < CRL_REFRESH.as_secs() as i64
        };
        if let (Some(f), Some(d)) = (&slot.full, &slot.delta)
            && fresh(f)
        {
            return Ok((f.clone(), d.clone()));
        }
        if !self.take_crl_lease().await? {
            // Another node builds: take the newest it saved.
            let stored = self.store.latest_crl(id, false).await?;
            let stored_delta = self.store.latest_crl(id, true).await?;
            if let (Some(f), Some(d)) = (stored, stored_delta) {
                let newer = slot.full.as_ref().is_none_or(|c| f.number > c.number);
                if newer {
                    slot.full = Some(Arc::new(f.into()));
                    slot.delta = Some(Arc::new(d.into()));
                }
            }
            if let (Some(f), Some(d)) = (&slot.full, &slot.delta)
                && (serve || fresh(f))
            {
                return Ok((f.clone(), d.clone()));
            }
            if !serve {
                return Err(AuthorityError::Internal(
                    "no CRL stored yet by the building node".into(),
                ));
            }
            // Nothing stored at all yet: build one here (numbers come from the store, so
            // two builders never reuse one).
        }
        let (full, delta) = self.build_crls(id, &mut slot).await?;
        Ok((full, delta))
    }

    /// Build, sign and save the full and delta CRLs of `id`.
    async fn build_crls(
        &self,
        id: &str,
        slot: &mut CrlSlot,
    ) -> Result<(Arc<CachedCrl>, Arc<CachedCrl>), AuthorityError> {
        let issuer = self
            .issuers
            .get(id)
            .ok_or_else(|| AuthorityError::NotFound(format!("issuer {id}")))?;
        let now = self.clock.now();
        let now_unix = now.unix_timestamp();
        let set = self.revoked_set(id, slot.revoked.take(), now_unix).await?;
        slot.revoked = Some(set.clone());
        let seq = set.seq;
        let n_full = set.by_serial.len();

        let audit = |kind: &str, n: usize| NewAuditEntry {
            ts: now_unix,
            actor: "system".into(),
            action: "crl.issue".into(),
            subject: id.to_string(),
            detail: audit_detail(&[("kind", kind), ("entries", &n.to_string())]),
        };
        let full_number = self
            .store
            .next_crl_number(id, audit("full", n_full))
            .await?;
        let base = match slot.base {
            Some(b) if now_unix - b.this_update < DELTA_BASE_AGE.as_secs() as i64 => b,
            _ => DeltaBase {
                number: full_number,
                revocation_seq: seq,
                this_update: now_unix,
            },
        };
        let n_delta = set
            .by_serial
            .values()
            .filter(|e| e.revocation_seq > base.revocation_seq)
            .count();
        let delta_number = self
            .store
            .next_crl_number(id, audit("delta", n_delta))
            .await?;

        let next_update = now_unix + self.crl_validity.as_secs() as i64;
        let delta_url = format!("{}/crl/{id}-delta.crl", self.revocation_url);
        let signer = issuer.signer.clone();
        let ca_der = issuer.facts.cert_der.clone();
        let ski = issuer.facts.ski.clone();
        let (full_der, delta_der) = tokio::task::spawn_blocking(move || {
            fn entry<'a>((serial, e): (&'a moor_core::serial::Serial, &Listed)) -> CrlEntry<'a> {
                CrlEntry {
                    serial: serial.as_bytes(),
                    revoked_at: e.revoked_at,
                    reason: e.reason,
                }
            }
            let all: Vec<CrlEntry<'_>> = set.by_serial.iter().map(entry).collect();
            let since_base: Vec<CrlEntry<'_>> = set
                .by_serial
                .iter()
                .filter(|(_, e)| e.revocation_seq > base.revocation_seq)
                .map(entry)
                .collect();
            let full = sign_crl(
                &*signer,
                &ca_der,
                &ski,
                full_number,
                None,
                Some(&delta_url),
                now_unix,
                next_update,
                &all,
            )?;
            let delta = sign_crl(
                &*signer,
                &ca_der,
                &ski,
                delta_number,
                Some(base.number),
                None,
                now_unix,
                next_update,
                &since_base,
            )?;
            Ok::<_, AuthorityError>((full, delta))
        })
        .await
        .map_err(|e| AuthorityError::Internal(e.to_string()))??;

        let full = CrlRecord {
            issuer_id: id.to_string(),
            number: full_number,
            delta_base: None,
            this_update: now_unix,
            next_update,
            revocation_seq: seq,
            entries: n_full as i64,
            der: full_der,
        };
        let delta = CrlRecord {
            issuer_id: id.to_string(),
            number: delta_number,
            delta_base: Some(base.number),
            this_update: now_unix,
            next_update,
            revocation_seq: seq,
            entries: n_delta as i64,
            der: delta_der,
        };
        for crl in [&full, &delta] {
            match self.store.save_crl(crl).await {
                Ok(()) => {}
                // Saved already (cannot happen: numbers are never reused); serve it anyway.
                Err(StoreError::Conflict { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let full = Arc::new(CachedCrl::from(full));
        let delta = Arc::new(CachedCrl::from(delta));
        slot.full = Some(full.clone());
        slot.delta = Some(delta.clone());
        slot.base = Some(base);
        Ok((full, delta))
    }

    /// The issuer's revoked, unexpired certificates now: `previous` brought up to date
    /// with the revocations since (a few rows), or — the first time — read whole.
    async fn revoked_set(
        &self,
        id: &str,
        previous: Option<Arc<RevokedSet>>,
        now: i64,
    ) -> Result<Arc<RevokedSet>, AuthorityError> {
        const PAGE: i64 = 10_000;
        let mut set = match previous {
            Some(set) => set,
            None => {
                // Revocations are numbered in commit order: everything up to `seq` is in
                // the rows read next; anything later is read again below (idempotent).
                self.catch_up_revocations().await?;
                let seq = self.revocation_feed.cursor();
                let mut set = RevokedSet {
                    seq,
                    ..RevokedSet::default()
                };
                for e in self.store.revoked_certificates(id, now).await? {
                    set.insert(
                        &e.serial_hex,
                        Listed {
                            revoked_at: e.revoked_at,
                            reason: e.reason,
                            revocation_seq: e.revocation_seq,
                            not_after: e.not_after,
                        },
                    )?;
                }
                Arc::new(set)
            }
        };
        let updated = Arc::make_mut(&mut set);
        loop {
            let page = self.store.revocations_since(updated.seq, PAGE).await?;
            for ev in page.iter().filter(|ev| ev.issuer_id == id) {
                updated.insert(
                    &ev.serial_hex,
                    Listed {
                        revoked_at: ev.revoked_at,
                        reason: ev.reason,
                        revocation_seq: ev.seq,
                        not_after: ev.not_after,
                    },
                )?;
            }
            if let Some(last) = page.last() {
                updated.seq = last.seq;
            }
            if (page.len() as i64) < PAGE {
                break;
            }
        }
        // RFC 5280 §3.3: an entry may leave the CRL once the certificate has expired.
        updated.by_serial.retain(|_, e| e.not_after >= now);
        Ok(set)
    }

    /// Keep every issuer's CRLs current: after a revocation (debounced) and every
    /// [`CRL_TICK`]. Each round the node takes or renews the builder lease; the holder
    /// builds what is stale, the others pick up what it saved. Runs forever.
    pub async fn maintain_crls(self: Arc<Self>) {
        loop {
            tokio::select! {
                _ = self.crl_wake.notified() => tokio::time::sleep(CRL_DEBOUNCE).await,
                _ = tokio::time::sleep(CRL_TICK) => {}
            }
            if let Err(error) = self.take_crl_lease().await {
                tracing::warn!(%error, "CRL builder lease");
                continue;
            }
            let ids: Vec<String> = self.crl_slots.keys().cloned().collect();
            for id in ids {
                if let Err(error) = self.current_crls(&id, false).await {
                    tracing::debug!(issuer = %id, %error, "CRL maintenance round");
                }
            }
        }
    }

    /// Take or renew the builder lease; whether this node builds the CRLs now.
    async fn take_crl_lease(&self) -> Result<bool, AuthorityError> {
        let held = self
            .store
            .try_lease(
                CRL_LEASE,
                &self.node_id,
                self.now_unix(),
                CRL_LEASE_TTL.as_secs() as i64,
            )
            .await?;
        self.crl_builder
            .store(held, std::sync::atomic::Ordering::Relaxed);
        Ok(held)
    }

    /// Whether this node held the CRL builder lease when it last asked.
    pub fn is_crl_builder(&self) -> bool {
        self.crl_builder.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Give the builder lease up (on shutdown), so another node takes over at once.
    pub async fn release_crl_lease(&self) {
        self.crl_builder
            .store(false, std::sync::atomic::Ordering::Relaxed);
        if let Err(error) = self.store.release_lease(CRL_LEASE, &self.node_id).await {
            tracing::warn!(%error, "releasing the CRL builder lease failed");
        }
    }

    /// (issuer id, age in seconds, entries, CRL number) of every full CRL held so far.
    pub async fn crl_stats(&self) -> Vec<(String, i64, usize, i64)> {
        let now = self.now_unix();
        let mut out = Vec::new();
        for (id, lock) in &self.crl_slots {
            if let Some(c) = lock.lock().await.full.as_ref() {
                out.push((id.clone(), now - c.this_update, c.entries, c.number));
            }
        }
        out.sort();
        out
    }
}

/// Sign a CRL over `entries` with the CA key (RFC 5280 §5.1: v2, AKI, CRL number; a delta
/// CRL when `delta_base` is given, a freshestCRL pointer when `freshest` is).
#[allow(clippy::too_many_arguments)]
pub fn sign_crl(
    signer: &dyn moor_keys::Signer,
    ca_der: &[u8],
    ski: &[u8],
    number: i64,
    delta_base: Option<i64>,
    freshest: Option<&str>,
    this_update: i64,
    next_update: i64,
    entries: &[CrlEntry<'_>],
) -> Result<Vec<u8>, AuthorityError> {
    use x509_parser::prelude::FromDer;
    let (_, ca) = x509_parser::certificate::X509Certificate::from_der(ca_der)
        .map_err(|e| AuthorityError::Internal(format!("issuer certificate: {e}")))?;
    let alg = moor_core::crl::algorithm_identifier_der(signer.algorithm());
    let params = CrlParams {
        issuer_name_der: ca.tbs_certificate.subject.as_raw(),
        authority_key_id: ski,
        number,
        this_update,
        next_update,
        delta_base,
        freshest_crl_url: freshest,
        signature_algorithm_der: &alg,
    };
    let tbs = moor_core::crl::tbs_cert_list(&params, entries)
        .map_err(|e| AuthorityError::Internal(format!("CRL encoding: {e}")))?;
    let sig = signer.sign(&tbs)?;
    Ok(moor_core::crl::assemble(&tbs, &alg, &sig))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use moor_core::KeyAlgorithm;
    use x509_parser::prelude::FromDer;
    use x509_parser::revocation_list::CertificateRevocationList;

    use super::*;
    use crate::Requester;
    use crate::test_fixture::fixture;

    /// (serials, number, thisUpdate, nextUpdate, delta base) of a DER CRL.
    fn read(der: &[u8]) -> (BTreeSet<String>, i64, i64, i64, Option<i64>) {
        let (_, crl) = CertificateRevocationList::from_der(der).expect("CRL parses");
        let serials = crl
            .iter_revoked_certificates()
            .map(|r| {
                hex::encode(r.raw_serial())
                    .trim_start_matches('0')
                    .to_string()
            })
            .collect();
        let number = crl
            .crl_number()
            .and_then(|n| n.to_u64_digits().first().copied())
            .unwrap_or(0) as i64;
        let mut base = None;
        for ext in crl.extensions() {
            if ext.oid.to_id_string() == "2.5.29.27" {
                let (_, b) =
                    x509_parser::der_parser::der::parse_der_integer(ext.value).expect("base");
                base = b.as_u64().ok().map(|v| v as i64);
            }
        }
        (
            serials,
            number,
            crl.last_update().timestamp(),
            crl.next_update().map(|t| t.timestamp()).unwrap_or(0),
            base,
        )
    }

    fn hex_of(s: &moor_core::serial::Serial) -> String {
        s.to_hex().trim_start_matches('0').to_string()
    }

    #[tokio::test]
    async fn crls_are_refreshed_before_they_go_stale() {
        let f = fixture(KeyAlgorithm::EcdsaP256).await;
        let first = f.auth.crl("default").await.unwrap();
        let (_, n1, this1, next1, _) = read(&first.der);
        let now = f.auth.now_unix();
        assert!(this1 <= now, "thisUpdate {this1} is not ≤ now {now}");
        assert_eq!(next1 - this1, CRL_VALIDITY.as_secs() as i64);
        // Nothing changed and it is fresh: the same CRL.
        f.advance(CRL_REFRESH.as_secs() as i64 - 60);
        assert_eq!(f.auth.crl("default").await.unwrap().number, n1);
        // A day old: rebuilt with the next numbers, long before nextUpdate (7 days).
        f.advance(120);
        let second = f.auth.crl("default").await.unwrap();
        let (_, n2, this2, next2, _) = read(&second.der);
        assert!(n2 > n1, "number {n2} after {n1}");
        assert_eq!(this2, f.auth.now_unix());
        assert!(
            next2 > this2 && this2 < next1,
            "rebuilt before the old one went stale"
        );
    }

    #[tokio::test]
    async fn incremental_builds_list_exactly_what_the_store_says() {
        let f = fixture(KeyAlgorithm::EcdsaP256).await;
        let mut serials = Vec::new();
        for i in 0..12 {
            serials.push(f.issue_for(&format!("inc{i}.example.com"), None).await);
        }
        let who = Requester::cli();
        for s in &serials[..4] {
            f.auth.revoke(&who, &s.to_hex(), 4).await.unwrap();
        }
        let (on_first, ..) = read(&f.auth.crl("default").await.unwrap().der);
        // More revocations: the next build adds them to its copy without a full read.
        for s in &serials[4..9] {
            f.auth.revoke(&who, &s.to_hex(), 5).await.unwrap();
        }
        let full = f.auth.crl("default").await.unwrap();
        let (on_crl, ..) = read(&full.der);
        let in_store: BTreeSet<String> = f
            .auth
            .store()
            .revoked_certificates("default", f.auth.now_unix())
            .await
            .unwrap()
            .iter()
            .map(|e| e.serial_hex.trim_start_matches('0').to_string())
            .collect();
        assert_eq!(on_crl, in_store);
        assert_eq!(on_crl.len(), 9);
        assert_eq!(on_first.len(), 4);
        assert!(on_first.is_subset(&on_crl));
        assert!(!on_crl.contains(&hex_of(&serials[10])));
    }

    #[tokio::test]
    async fn expired_certificates_leave_the_crl() {
        let f = fixture(KeyAlgorithm::EcdsaP256).await;
        let short = f
            .issue_for("short.example.com", Some(Duration::from_secs(2 * 86_400)))
            .await;
        let long = f.issue_for("long.example.com", None).await;
        let who = Requester::cli();
        f.auth.revoke(&who, &short.to_hex(), 4).await.unwrap();
        f.auth.revoke(&who, &long.to_hex(), 4).await.unwrap();
        let (listed, ..) = read(&f.auth.crl("default").await.unwrap().der);
        assert!(listed.contains(&hex_of(&short)) && listed.contains(&hex_of(&long)));
        // Three days on, the short one has expired: gone from the next (daily) CRL.
        f.advance(3 * 86_400);
        let (listed, ..) = read(&f.auth.crl("default").await.unwrap().der);
        assert!(!listed.contains(&hex_of(&short)), "{listed:?}");
        assert!(listed.contains(&hex_of(&long)));
    }

    #[tokio::test]
    async fn deltas_list_revocations_since_their_base_and_the_base_moves_on() {
        let f = fixture(KeyAlgorithm::EcdsaP256).await;
        let a = f.issue_for("a.example.com", None).await;
        let b = f.issue_for("b.example.com", None).await;
        let who = Requester::cli();
        let base_crl = f.auth.crl("default").await.unwrap();
        let (_, base_number, ..) = read(&base_crl.der);
        let (empty, _, _, _, base) = read(&f.auth.delta_crl("default").await.unwrap().der);
        assert!(empty.is_empty());
        assert_eq!(base, Some(base_number));

        f.auth.revoke(&who, &a.to_hex(), 3).await.unwrap();
        f.advance(60);
        let (full, n_full, ..) = read(&f.auth.crl("default").await.unwrap().der);
        let (delta, n_delta, _, _, base) = read(&f.auth.delta_crl("default").await.unwrap().der);
        assert!(full.contains(&hex_of(&a)));
        assert_eq!(delta, BTreeSet::from([hex_of(&a)]));
        assert_eq!(base, Some(base_number), "the base stays for a day");
        assert!(n_delta > n_full && n_full > base_number);

        // A day later the newest full CRL becomes the base: the delta starts empty again,
        // and lists what comes after.
        f.advance(DELTA_BASE_AGE.as_secs() as i64 + 1);
        let (_, n_new_base, ..) = read(&f.auth.crl("default").await.unwrap().der);
        let (delta, _, _, _, base) = read(&f.auth.delta_crl("default").await.unwrap().der);
        assert_eq!(base, Some(n_new_base));
        assert!(delta.is_empty(), "{delta:?}");
        f.auth.revoke(&who, &b.to_hex(), 5).await.unwrap();
        let (delta, _, _, _, base) = read(&f.auth.delta_crl("default").await.unwrap().der);
        assert_eq!(base, Some(n_new_base));
        assert_eq!(delta, BTreeSet::from([hex_of(&b)]));
    }

    #[tokio::test]
    async fn crl_validity_is_bounded() {
        let mut f = fixture(KeyAlgorithm::EcdsaP256).await;
        assert!(f.auth.set_crl_validity(Duration::from_secs(60)).is_err());
        assert!(
            f.auth
                .set_crl_validity(Duration::from_secs(11 * 86_400))
                .is_err()
        );
        f.auth
            .set_crl_validity(Duration::from_secs(36 * 3_600))
            .unwrap();
        let (_, _, this, next, _) = read(&f.auth.crl("default").await.unwrap().der);
        assert_eq!(next - this, 36 * 3_600);
    }
}
