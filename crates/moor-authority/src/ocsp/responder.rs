//! The delegated OCSP responder of one issuer (RFC 6960 §4.2.2.2).
//!
//! Each server process generates the responder key in memory (same algorithm as the
//! issuer, `moor_keys::SoftwareKey`; it never touches disk) and has the issuer certify it
//! for [`RESPONDER_LIFETIME`] with id-kp-OCSPSigning and id-pkix-ocsp-nocheck. The
//! certificate is linted before the issuer signs it and recorded in the store with its
//! audit entry like any issued certificate (profile `ocsp-responder`).
//!
//! Lazily: the first OCSP request for the issuer waits for it; afterwards, a request that
//! finds the responder past half its life starts a replacement in the background and
//! carries on with the current one (still valid for two more days). Every replacement
//! bumps the generation, which makes every cached response stale. When issuance fails the
//! failure is logged, the issuer's own key signs in the meantime, and issuance is retried
//! after [`RETRY_AFTER_FAILURE`].

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use moor_core::clock::Clock;
use moor_core::ocsp::{self as core_ocsp, ResponderExpectations};
use moor_core::serial::Serial;
use moor_core::template::IssuerFacts;
use moor_core::{KeyAlgorithm, Refusal};
use moor_keys::{RcgenSigner, Signer, SoftwareKey};
use moor_store::{NewAuditEntry, NewCertificate, Store};

use super::OCSP_VALIDITY;
use super::cache::Cache;
use crate::AuthorityError;

/// Lifetime of a responder certificate (≥ the response validity; rotated at half).
pub const RESPONDER_LIFETIME: Duration = Duration::from_secs(4 * 86_400);
/// After a failed responder issuance, the issuer signs and issuance is retried after this.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(60);
/// The store's requester id of responder certificates.
pub const RESPONDER_REQUESTER: &str = "system:ocsp-responder";

/// A responder key with its certificate.
pub(crate) struct Responder {
    pub signer: Arc<dyn Signer>,
    pub cert_der: Vec<u8>,
    /// SHA-1 of the responder's public key: responderID byKey.
    pub key_hash: Vec<u8>,
    pub serial_hex: String,
    pub not_after: i64,
    /// Replace it from this time on (half its life).
    pub rotate_at: i64,
    /// 1, 2, 3, … (0 stands for "the issuer signs").
    pub generation: u64,
}

impl Responder {
    /// Can it sign a response at `now` whose nextUpdate is a full validity period away?
    pub fn usable(&self, now: i64) -> bool {
        now + OCSP_VALIDITY.as_secs() as i64 <= self.not_after
    }
}

/// Everything needed to issue a responder certificate, shareable with a background task.
pub(crate) struct IssuerCtx {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub facts: IssuerFacts,
    pub issuer_signer: Arc<dyn Signer>,
}

/// The responder and response cache of one online issuer.
pub(crate) struct IssuerOcsp {
    pub ctx: IssuerCtx,
    pub cache: Cache,
    current: RwLock<Option<Arc<Responder>>>,
    /// Mirrors of the current responder for the hot path (no lock).
    generation: AtomicU64,
    rotate_at: AtomicI64,
    /// Not before this time again after a failed issuance.
    retry_at: AtomicI64,
    /// A background rotation is running.
    rotating: AtomicBool,
    /// One issuance at a time; first requests wait on it.
    issuing: tokio::sync::Mutex<()>,
    next_generation: Mutex<u64>,
}

impl IssuerOcsp {
    pub fn new(ctx: IssuerCtx, cache_bytes: usize) -> IssuerOcsp {
        IssuerOcsp {
            ctx,
            cache: Cache::new(cache_bytes),
            current: RwLock::new(None),
            generation: AtomicU64::new(0),
            rotate_at: AtomicI64::new(i64::MIN),
            retry_at: AtomicI64::new(i64::MIN),
            rotating: AtomicBool::new(false),
            issuing: tokio::sync::Mutex::new(()),
            next_generation: Mutex::new(1),
        }
    }

    /// The generation of the current responder (0: none, the issuer signs).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The current responder, if any.
    pub fn current(&self) -> Option<Arc<Responder>> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn due(&self, now: i64) -> bool {
        now >= self.rotate_at.load(Ordering::Acquire)
            && now >= self.retry_at.load(Ordering::Acquire)
    }

    /// Start a background replacement if the responder is due (hot path: two atomic loads).
    pub fn kick_if_due(self: &Arc<Self>, now: i64) {
        if !self.due(now) || self.rotating.swap(true, Ordering::AcqRel) {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            this.ensure().await;
            this.rotating.store(false, Ordering::Release);
        });
    }

    /// The responder to sign with at `now`: the current one if it can cover a full
    /// validity period (starting a background replacement when it is past half its life),
    /// else a new one issued now. None: none could be issued; the issuer signs.
    pub async fn responder(self: &Arc<Self>, now: i64) -> Option<Arc<Responder>> {
        let current = self.current().filter(|r| r.usable(now));
        if current.is_some() || !self.due(now) {
            self.kick_if_due(now);
            return current;
        }
        // Issued in a task of its own, so that a client going away cannot cancel it halfway.
        let this = self.clone();
        match tokio::spawn(async move { this.ensure().await }).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(issuer = %self.ctx.facts.id, error = %e, "OCSP responder task failed");
                None
            }
        }
    }

    /// Issue a responder if the current one is due (or missing) and issuance is not in its
    /// back-off; return the responder to use (None: the issuer signs).
    pub async fn ensure(&self) -> Option<Arc<Responder>> {
        let _one = self.issuing.lock().await;
        let now = self.ctx.clock.now().unix_timestamp();
        let current = self.current().filter(|r| r.usable(now));
        if !self.due(now) {
            return current;
        }
        let generation = {
            let mut g = self
                .next_generation
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let n = *g;
            *g += 1;
            n
        };
        match issue(&self.ctx, generation).await {
            Ok(r) => {
                tracing::info!(
                    issuer = %self.ctx.facts.id,
                    serial = %r.serial_hex,
                    not_after = r.not_after,
                    generation,
                    "OCSP responder certificate issued"
                );
                let r = Arc::new(r);
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some(r.clone());
                self.rotate_at.store(r.rotate_at, Ordering::Release);
                self.generation.store(generation, Ordering::Release);
                Some(r)
            }
            Err(e) => {
                let retry = now + RETRY_AFTER_FAILURE.as_secs() as i64;
                self.retry_at.store(retry, Ordering::Release);
                if current.is_some() {
                    tracing::error!(issuer = %self.ctx.facts.id, error = %e,
                        "OCSP responder rotation failed; the current responder signs until it is retried");
                } else {
                    tracing::error!(issuer = %self.ctx.facts.id, error = %e,
                        "OCSP responder issuance failed; the issuing CA signs OCSP responses itself until it is retried");
                }
                current
            }
        }
    }
}

/// Runs `f` inline when it takes microseconds (ECDSA, Ed25519), else on the blocking pool.
pub(crate) async fn cpu<T: Send + 'static>(
    alg: KeyAlgorithm,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AuthorityError> {
    let fast = matches!(
        alg,
        KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384 | KeyAlgorithm::Ed25519
    );
    if fast {
        Ok(f())
    } else {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| AuthorityError::Internal(e.to_string()))
    }
}

/// rcgen signing key that runs the responder lint before the issuer key signs.
struct Linting<'a> {
    signer: &'a dyn Signer,
    expect: &'a ResponderExpectations,
    failure: Mutex<Option<Refusal>>,
}

impl rcgen::PublicKeyData for Linting<'_> {
    fn der_bytes(&self) -> &[u8] {
        self.signer.public_key_raw()
    }
    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        self.signer.algorithm().rcgen_signature_algorithm()
    }
    fn subject_public_key_info(&self) -> Vec<u8> {
        self.signer.spki_der()
    }
}

impl rcgen::SigningKey for Linting<'_> {
    fn sign(&self, tbs: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        if let Err(r) = core_ocsp::lint_responder_tbs(tbs, self.expect) {
            *self.failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
            return Err(rcgen::Error::RemoteKeyError);
        }
        rcgen::SigningKey::sign(&RcgenSigner(self.signer), tbs)
    }
}

/// Generate a responder key, have the issuer certify it (lint first), record it.
async fn issue(ctx: &IssuerCtx, generation: u64) -> Result<Responder, AuthorityError> {
    let alg = ctx.facts.algorithm;
    // Key generation takes up to a second for RSA-4096: always off the async workers.
    let key = tokio::task::spawn_blocking(move || SoftwareKey::generate(alg))
        .await
        .map_err(|e| AuthorityError::Internal(e.to_string()))??;
    let key: Arc<dyn Signer> = Arc::new(key);
    let serial = Serial::random().map_err(|e| AuthorityError::Internal(e.to_string()))?;
    let now = ctx.clock.now();
    let template = core_ocsp::responder_template(
        &ctx.facts,
        &key.spki_der(),
        serial.clone(),
        now,
        RESPONDER_LIFETIME,
    )?;
    let not_before = template.expect.not_before.unix_timestamp();
    let not_after = template.expect.not_after.unix_timestamp();
    if not_after < now.unix_timestamp() + OCSP_VALIDITY.as_secs() as i64 {
        return Err(AuthorityError::Config(format!(
            "issuer {} expires before a responder certificate could cover one response validity period",
            ctx.facts.id
        )));
    }
    let common_name = template.expect.common_name.clone();
    let issuer_signer = ctx.issuer_signer.clone();
    let issuer_der = ctx.facts.cert_der.clone();
    let subject = key.clone();
    let cert_der = cpu(alg, move || -> Result<Vec<u8>, AuthorityError> {
        let linting = Linting {
            signer: &*issuer_signer,
            expect: &template.expect,
            failure: Mutex::new(None),
        };
        let issuer = rcgen::Issuer::from_ca_cert_der(&issuer_der.into(), linting)
            .map_err(|e| AuthorityError::Internal(format!("issuer certificate: {e}")))?;
        match template.params.signed_by(&RcgenSigner(&*subject), &issuer) {
            Ok(c) => Ok(c.der().to_vec()),
            Err(e) => match issuer
                .key()
                .failure
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take()
            {
                Some(r) => Err(AuthorityError::Refused(r)),
                None => Err(AuthorityError::Internal(format!("signing failed: {e}"))),
            },
        }
    })
    .await??;

    let sha256 = |d: &[u8]| hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, d));
    let fingerprint = sha256(&cert_der);
    let subject = format!("CN={common_name}");
    let detail = serde_json::json!({
        "profile": core_ocsp::RESPONDER_PROFILE, "issuer": ctx.facts.id, "subject": subject,
        "not_after": not_after, "key_algorithm": alg.name(), "fingerprint": fingerprint,
        "purpose": "delegated OCSP responder (key in memory of this process)",
        "process": std::process::id(), "generation": generation,
    })
    .to_string();
    ctx.store
        .record_issuance(
            NewCertificate {
                serial_hex: serial.to_hex(),
                issuer_id: ctx.facts.id.clone(),
                profile: core_ocsp::RESPONDER_PROFILE.into(),
                subject,
                sans: vec![],
                not_before,
                not_after,
                requester: RESPONDER_REQUESTER.into(),
                key_algorithm: alg.name().into(),
                fingerprint,
                spki_sha256: sha256(&key.spki_der()),
                der: cert_der.clone(),
                created_at: now.unix_timestamp(),
            },
            NewAuditEntry {
                ts: now.unix_timestamp(),
                actor: RESPONDER_REQUESTER.into(),
                action: "issue".into(),
                subject: serial.to_hex(),
                detail,
            },
        )
        .await?;
    Ok(Responder {
        key_hash: core_ocsp::key_hash(key.public_key_raw()),
        signer: key,
        cert_der,
        serial_hex: serial.to_hex(),
        not_after,
        rotate_at: not_before + (not_after - not_before + 1) / 2,
        generation,
    })
}
