//! The authority: where a request becomes a certificate.
//!
//! Front doors hand an [`Authority`] a [`Requester`] and a request; it checks
//! the request against its profile (`moor_core`), lints the TBS and signs it
//! with the issuer's key (`moor_keys`), and records the certificate with its
//! audit entry (`moor_store`) before returning it.

#![forbid(unsafe_code)]

pub mod acme;
pub mod admin_token;
pub mod config;
pub mod crl;
pub mod cross_sign;
mod error;
mod http_client;
pub mod inventory;
pub mod issue;
pub mod metrics;
pub mod ocsp;
pub mod provisioner;
pub mod renew;
pub mod requester;
pub mod revocation_feed;
pub mod revoke;
pub mod scep;
mod signing;
#[cfg(test)]
mod test_fixture;
pub mod trust_anchor;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

pub use error::AuthorityError;
pub use issue::{IssueRequest, Issued, SubjectSource};
use moor_core::clock::Clock;
use moor_core::profile::Profile;
use moor_store::{IssuerRecord, Store};
pub use requester::{Credential, Requester};
use trust_anchor::LoadedIssuer;

/// The certificate authority: issuers, profiles, store and clock.
pub struct Authority {
    store: Arc<dyn Store>,
    issuers: HashMap<String, LoadedIssuer>,
    issuer_records: Vec<IssuerRecord>,
    profiles: BTreeMap<String, Profile>,
    revocation_url: String,
    clock: Arc<dyn Clock>,
    token_cache: RwLock<HashMap<String, Vec<u8>>>,
    /// SHA-256 (hex) of every CA public key: never certified for a subscriber.
    ca_key_hashes: std::collections::HashSet<String>,
    /// The CRLs of each online issuer, behind a lock so one task builds them.
    crl_slots: HashMap<String, tokio::sync::Mutex<crl::CrlSlot>>,
    /// Wakes the CRL builder after a revocation.
    crl_wake: tokio::sync::Notify,
    /// This node's place in the database's revocation order.
    revocation_feed: revocation_feed::RevocationFeed,
    /// This process among the nodes sharing the database (lease holder name).
    node_id: String,
    /// Whether this node held the CRL builder lease when it last asked.
    crl_builder: std::sync::atomic::AtomicBool,
    /// nextUpdate − thisUpdate of the CRLs this node builds.
    crl_validity: std::time::Duration,
    /// CertID hashes of each online issuer, for the OCSP responder.
    ocsp_issuers: Vec<moor_core::ocsp::OcspIssuer>,
    /// OCSP: delegated responder certificates and the pre-signed response cache.
    ocsp: ocsp::OcspState,
    /// Keys blocked for key compromise (SPKI SHA-256, hex): checked before signing. The
    /// store's trigger is the authority for keys blocked by other processes since.
    blocked_keys: RwLock<std::collections::HashSet<String>>,
    /// Counters for `/metrics`.
    pub metrics: metrics::Metrics,
}

impl Authority {
    /// Assemble an authority. Every profile must name a loaded issuer.
    pub fn new(
        store: Arc<dyn Store>,
        issuer_records: Vec<IssuerRecord>,
        issuers: Vec<LoadedIssuer>,
        profiles: BTreeMap<String, Profile>,
        revocation_url: String,
        clock: Arc<dyn Clock>,
    ) -> Result<Authority, AuthorityError> {
        let issuers: HashMap<String, LoadedIssuer> = issuers
            .into_iter()
            .map(|i| (i.facts.id.clone(), i))
            .collect();
        for p in profiles.values() {
            let Some(issuer) = issuers.get(&p.issuer) else {
                return Err(AuthorityError::Config(format!(
                    "profile {} names issuer {}, which is not an online intermediate",
                    p.name, p.issuer
                )));
            };
            if p.public && !issuer.facts.algorithm.allowed_for_public_tls() {
                return Err(AuthorityError::Config(format!(
                    "profile {} is public but issuer {} signs with {}; the Baseline Requirements allow only RSA and ECDSA",
                    p.name, p.issuer, issuer.facts.algorithm
                )));
            }
        }
        let ca_key_hashes = issuer_records
            .iter()
            .filter_map(|r| trust_anchor::spki_sha256_of_cert(&r.cert_der))
            .collect();
        let crl_slots = issuers
            .keys()
            .map(|k| (k.clone(), tokio::sync::Mutex::new(crl::CrlSlot::default())))
            .collect();
        let node_id = node_id()?;
        let ocsp_issuers = issuers
            .values()
            .map(|i| moor_core::ocsp::OcspIssuer::from_cert_der(&i.facts.id, &i.facts.cert_der))
            .collect::<Result<Vec<_>, _>>()
            .map_err(AuthorityError::Config)?;
        let ocsp = ocsp::OcspState::new(&store, &clock, &issuers, &ocsp_issuers);
        Ok(Authority {
            store,
            issuers,
            issuer_records,
            profiles,
            revocation_url,
            clock,
            token_cache: RwLock::new(HashMap::new()),
            ca_key_hashes,
            crl_slots,
            crl_wake: tokio::sync::Notify::new(),
            revocation_feed: revocation_feed::RevocationFeed::default(),
            node_id,
            crl_builder: std::sync::atomic::AtomicBool::new(false),
            crl_validity: crl::CRL_VALIDITY,
            ocsp_issuers,
            ocsp,
            blocked_keys: RwLock::new(std::collections::HashSet::new()),
            metrics: metrics::Metrics::default(),
        })
    }

    /// Load the blocked keys from the store (at start-up).
    pub async fn load_blocked_keys(&self) -> Result<(), AuthorityError> {
        let keys = self.store.blocked_keys().await?;
        *self.blocked_keys.write().unwrap_or_else(|e| e.into_inner()) = keys.into_iter().collect();
        Ok(())
    }

    pub(crate) fn key_is_blocked(&self, spki_sha256: &str) -> bool {
        self.blocked_keys
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(spki_sha256)
    }

    pub(crate) fn remember_blocked_key(&self, spki_sha256: &str) {
        self.blocked_keys
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(spki_sha256.to_string());
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Every issuer record (roots and intermediates).
    pub fn issuer_records(&self) -> &[IssuerRecord] {
        &self.issuer_records
    }

    /// The profiles, by name.
    pub fn profiles(&self) -> &BTreeMap<String, Profile> {
        &self.profiles
    }

    /// DER of every root certificate (the trust bundle).
    pub fn roots(&self) -> Vec<&[u8]> {
        self.issuer_records
            .iter()
            .filter(|i| i.kind == "root")
            .map(|i| i.cert_der.as_slice())
            .collect()
    }

    /// The CA certificates behind `profile` (EST `cacerts`): its issuer's chain, issuer
    /// first, then the root (DER). None for an unknown profile.
    pub fn ca_certificates(&self, profile: &str) -> Option<Vec<Vec<u8>>> {
        let issuer = self.issuers.get(&self.profiles.get(profile)?.issuer)?;
        let mut out = issuer.chain.clone();
        out.push(issuer.root.clone());
        Some(out)
    }

    /// An online issuer: its certificate facts, key and chain.
    pub(crate) fn loaded_issuer(&self, id: &str) -> Option<&LoadedIssuer> {
        self.issuers.get(id)
    }

    /// An issuer's certificate, DER.
    pub fn issuer_cert(&self, id: &str) -> Option<&[u8]> {
        self.issuer_records
            .iter()
            .find(|i| i.id == id)
            .map(|i| i.cert_der.as_slice())
    }

    pub(crate) fn now_unix(&self) -> i64 {
        self.clock.now().unix_timestamp()
    }
}

/// A name for this process among the nodes of a deployment: host, pid and 64 random bits.
fn node_id() -> Result<String, AuthorityError> {
    let mut r = [0u8; 8];
    aws_lc_rs::rand::fill(&mut r)
        .map_err(|_| AuthorityError::Internal("the OS random generator failed".into()))?;
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "node".into());
    Ok(format!("{host}/{}/{}", std::process::id(), hex::encode(r)))
}

impl Authority {
    /// Set nextUpdate − thisUpdate of CRLs: at least an hour (they are rebuilt daily and
    /// after every revocation), at most the 10 days the Baseline Requirements allow.
    pub fn set_crl_validity(
        &mut self,
        validity: std::time::Duration,
    ) -> Result<(), AuthorityError> {
        if validity < std::time::Duration::from_secs(3_600)
            || validity > std::time::Duration::from_secs(10 * 86_400)
        {
            return Err(AuthorityError::Config(format!(
                "crl_validity must be between 1h and 10d, not {} s",
                validity.as_secs()
            )));
        }
        self.crl_validity = validity;
        Ok(())
    }

    /// This process's name among the nodes sharing the database.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }
}

/// A canonical JSON object from string pairs, for audit details.
pub fn audit_detail(pairs: &[(&str, &str)]) -> String {
    let map: BTreeMap<&str, &str> = pairs.iter().copied().collect();
    serde_json::to_string(&map).unwrap_or_else(|_| "{}".into())
}
