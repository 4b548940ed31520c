//! The authority: where a request becomes a certificate.
//!
//! Front doors hand an [`Authority`] a [`Requester`] and a request; it checks
//! the request against its profile (`moor_core`), lints the TBS and signs it
//! with the issuer's key (`moor_keys`), and records the certificate with its
//! audit entry (`moor_store`) before returning it.

#![forbid(unsafe_code)]

pub mod admin_token;
pub mod config;
pub mod crl;
mod error;
pub mod issue;
pub mod metrics;
pub mod ocsp;
pub mod requester;
pub mod revoke;
mod signing;
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
    /// The cached CRL of each online issuer, behind a lock so one request builds it.
    crl_locks: HashMap<String, tokio::sync::Mutex<Option<Arc<crl::CachedCrl>>>>,
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
        let crl_locks = issuers
            .keys()
            .map(|k| (k.clone(), tokio::sync::Mutex::new(None)))
            .collect();
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
            crl_locks,
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

/// A canonical JSON object from string pairs, for audit details.
pub fn audit_detail(pairs: &[(&str, &str)]) -> String {
    let map: BTreeMap<&str, &str> = pairs.iter().copied().collect();
    serde_json::to_string(&map).unwrap_or_else(|_| "{}".into())
}
