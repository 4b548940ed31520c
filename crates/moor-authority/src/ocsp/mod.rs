//! The OCSP responder (RFC 6960) with delegated responder certificates and a pre-signed
//! response cache.
//!
//! - **Signer**: per online issuer, a responder key generated in memory by this process
//!   and certified by the issuer (id-kp-OCSPSigning, id-pkix-ocsp-nocheck, 4 days,
//!   replaced at half its life; see [`responder`]). Responses carry its certificate in
//!   `certs` and name it byKey. Only when its issuance fails does the issuing CA sign
//!   (logged, retried after a minute).
//! - **Cache**: a single-CertID request without a nonce is answered from a cache of
//!   signed responses keyed by (issuer, serial, CertID hash form) — a lookup, no store
//!   read, no signature (see [`cache`]). Entries are re-signed after half their validity
//!   or when the responder rotated; `unknown` is never cached; [`Authority::ocsp_revoked`]
//!   drops a serial at once. Requests with a nonce or with several CertIDs are signed
//!   afresh (with their statuses read from the store) and not cached.
//! - Never `good` for a serial we did not issue (BR 4.9.10: `unknown`); `unauthorized`
//!   when the first CertID names none of our issuers; `malformedRequest` for anything that
//!   does not parse or exceeds the bounds of [`moor_core::ocsp::parse_request`].
//! - Validity: thisUpdate = signing time, nextUpdate = thisUpdate + [`OCSP_VALIDITY`] (1
//!   day; the Baseline Requirements allow 8 hours to 10 days), never past the signer's
//!   certificate. The nonce (RFC 8954) is echoed.

mod cache;
pub mod responder;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use moor_core::clock::Clock;
use moor_core::ocsp::{self, OcspError, OcspIssuer, Status};
use moor_store::Store;
use x509_ocsp::OcspResponseStatus;

use crate::Authority;
use crate::trust_anchor::LoadedIssuer;
use cache::{Entry, Ticket};
use responder::{IssuerCtx, IssuerOcsp, cpu};

/// nextUpdate − thisUpdate of every response.
pub const OCSP_VALIDITY: Duration = Duration::from_secs(86_400);
/// Most bytes of cached responses per issuer (plus ~100 bytes of overhead per entry):
/// about 90,000 ECDSA P-256 responses, 8,000 RSA-4096 or 5,000 ML-DSA-87 ones.
pub const CACHE_MAX_BYTES: usize = 64 << 20;

/// What the responder answered (for metrics and logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OcspOutcome {
    /// Statuses were given.
    Answered,
    /// The request did not parse.
    Malformed,
    /// None of our issuers was named.
    Unauthorized,
    /// Signing or the store failed.
    InternalError,
}

/// Counters of the responder (for tests and benchmarks).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OcspStats {
    /// Responses served from the cache.
    pub cache_hits: u64,
    /// Responses signed.
    pub signed: u64,
}

/// The OCSP state of an authority: per online issuer, its responder and response cache.
pub struct OcspState {
    issuers: Vec<Arc<IssuerOcsp>>,
    hits: AtomicU64,
    signed: AtomicU64,
}

impl OcspState {
    /// One entry per `ocsp_issuers` (same order). Cheap: nothing is issued until the
    /// first OCSP request (CLI commands build an authority too).
    pub(crate) fn new(
        store: &Arc<dyn Store>,
        clock: &Arc<dyn Clock>,
        issuers: &HashMap<String, LoadedIssuer>,
        ocsp_issuers: &[OcspIssuer],
    ) -> OcspState {
        let issuers = ocsp_issuers
            .iter()
            .filter_map(|o| issuers.get(&o.id))
            .map(|i| {
                Arc::new(IssuerOcsp::new(
                    IssuerCtx {
                        store: store.clone(),
                        clock: clock.clone(),
                        facts: i.facts.clone(),
                        issuer_signer: i.signer.clone(),
                    },
                    CACHE_MAX_BYTES,
                ))
            })
            .collect();
        OcspState {
            issuers,
            hits: AtomicU64::new(0),
            signed: AtomicU64::new(0),
        }
    }

    fn by_id(&self, issuer_id: &str) -> Option<&Arc<IssuerOcsp>> {
        self.issuers.iter().find(|i| i.ctx.facts.id == issuer_id)
    }
}

fn error(status: OcspResponseStatus, outcome: OcspOutcome) -> (Vec<u8>, OcspOutcome) {
    (ocsp::error_response(status), outcome)
}

fn internal() -> (Vec<u8>, OcspOutcome) {
    error(
        OcspResponseStatus::InternalError,
        OcspOutcome::InternalError,
    )
}

impl Authority {
    /// Answer a DER OCSPRequest with a DER OCSPResponse.
    pub async fn ocsp(&self, request: &[u8]) -> (Vec<u8>, OcspOutcome) {
        let (der, outcome) = self.ocsp_inner(request).await;
        self.metrics.ocsp(match outcome {
            OcspOutcome::Answered => "successful",
            OcspOutcome::Malformed => "malformed_request",
            OcspOutcome::Unauthorized => "unauthorized",
            OcspOutcome::InternalError => "internal_error",
        });
        (der, outcome)
    }

    /// Drop the cached OCSP response of `serial_hex` (issued by `issuer_id`) at once, so the
    /// next request reads its status from the store. Call it after a revocation is stored,
    /// here or on another node. Unknown issuers or malformed serials are ignored.
    pub fn ocsp_revoked(&self, issuer_id: &str, serial_hex: &str) {
        let Some(serial) = moor_core::serial::Serial::from_hex(serial_hex) else {
            return;
        };
        match self.ocsp.by_id(issuer_id) {
            Some(i) => i.cache.invalidate(serial.as_bytes()),
            // An issuer id we do not know: drop the serial everywhere rather than miss it.
            None => {
                for i in &self.ocsp.issuers {
                    i.cache.invalidate(serial.as_bytes());
                }
            }
        }
    }

    /// Issue (or rotate) the delegated responder certificate of every online issuer now if
    /// it is missing or due, and wait for it. Optional: the first OCSP request does it too;
    /// calling this at server start takes that latency off the first client.
    pub async fn ocsp_prepare_responders(&self) {
        for i in &self.ocsp.issuers {
            i.ensure().await;
        }
    }

    /// The current delegated responder certificate (DER) of `issuer_id`, if one was issued.
    pub fn ocsp_responder_cert(&self, issuer_id: &str) -> Option<Vec<u8>> {
        self.ocsp
            .by_id(issuer_id)?
            .current()
            .map(|r| r.cert_der.clone())
    }

    /// Responses served from the cache and responses signed since start.
    pub fn ocsp_stats(&self) -> OcspStats {
        OcspStats {
            cache_hits: self.ocsp.hits.load(Ordering::Relaxed),
            signed: self.ocsp.signed.load(Ordering::Relaxed),
        }
    }

    async fn ocsp_inner(&self, request: &[u8]) -> (Vec<u8>, OcspOutcome) {
        let parsed = match ocsp::parse_request(request, &self.ocsp_issuers) {
            Ok(p) => p,
            Err(OcspError::Malformed(why)) => {
                tracing::debug!(%why, "malformed OCSP request");
                return error(OcspResponseStatus::MalformedRequest, OcspOutcome::Malformed);
            }
        };
        // One response is signed by one responder: that of the first CertID's issuer.
        let Some(idx) = parsed.items.first().and_then(|i| i.issuer) else {
            return error(OcspResponseStatus::Unauthorized, OcspOutcome::Unauthorized);
        };
        let ocsp_issuer = &self.ocsp_issuers[idx];
        let (Some(st), Some(issuer)) = (
            self.ocsp.by_id(&ocsp_issuer.id),
            self.issuers.get(&ocsp_issuer.id),
        ) else {
            return error(OcspResponseStatus::Unauthorized, OcspOutcome::Unauthorized);
        };

        // Hot path: one CertID, no nonce, a fresh cached response.
        let cache_key = match (parsed.nonce.is_none(), parsed.items.as_slice()) {
            (true, [item]) => item.serial.as_ref().zip(item.hash),
            _ => None,
        };
        let now = self.now_unix();
        if let Some((serial, hash)) = cache_key {
            st.kick_if_due(now);
            if let Some(der) = st.cache.get(serial.as_bytes(), hash, now, st.generation()) {
                self.ocsp.hits.fetch_add(1, Ordering::Relaxed);
                return (der.to_vec(), OcspOutcome::Answered);
            }
        }

        // Sign afresh: the responder (issued now on the very first request), then statuses.
        let responder = st.responder(now).await;
        let ticket: Option<Ticket> = cache_key.map(|(s, _)| st.cache.ticket(s.as_bytes()));
        let mut answers = Vec::with_capacity(parsed.items.len());
        for item in &parsed.items {
            let status = match (&item.serial, item.issuer == Some(idx)) {
                (Some(serial), true) => match self.store.get_certificate(&serial.to_hex()).await {
                    Ok(Some(rec)) if rec.issuer_id == ocsp_issuer.id => {
                        match (rec.status.as_str(), rec.revoked_at) {
                            ("revoked", Some(at)) => Status::Revoked {
                                at,
                                reason: rec.revocation_reason.unwrap_or(0),
                            },
                            _ => Status::Good,
                        }
                    }
                    Ok(_) => Status::Unknown,
                    Err(e) => {
                        tracing::error!(error = %e, "OCSP status lookup failed");
                        return internal();
                    }
                },
                // Another issuer's CertID in the same request, or a serial that cannot be ours.
                _ => Status::Unknown,
            };
            answers.push((item.cert_id.clone(), status));
        }

        let now = self.now_unix();
        let (signer, key_hash, certs, signer_not_after, generation) = match &responder {
            Some(r) => (
                r.signer.clone(),
                r.key_hash.as_slice(),
                vec![r.cert_der.as_slice()],
                r.not_after,
                r.generation,
            ),
            None => (
                issuer.signer.clone(),
                ocsp_issuer.responder_key_hash(),
                vec![],
                issuer.facts.not_after.unix_timestamp(),
                0,
            ),
        };
        let next_update = (now + OCSP_VALIDITY.as_secs() as i64).min(signer_not_after);
        let data = match ocsp::response_data(
            key_hash,
            &answers,
            now,
            now,
            next_update,
            parsed.nonce.as_deref(),
        ) {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "OCSP response encoding failed");
                return internal();
            }
        };
        let alg = signer.algorithm();
        let signed = cpu(alg, move || signer.sign(&data).map(|sig| (data, sig))).await;
        let (data, sig) = match signed {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "OCSP response signing failed");
                return internal();
            }
            Err(e) => {
                tracing::error!(error = %e, "OCSP response signing failed");
                return internal();
            }
        };
        self.ocsp.signed.fetch_add(1, Ordering::Relaxed);
        let der = match ocsp::assemble(&data, alg, &sig, &certs) {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "OCSP response assembly failed");
                return internal();
            }
        };
        if let (Some((serial, hash)), Some(ticket)) = (cache_key, ticket)
            && answers[0].1 != Status::Unknown
        {
            let half = (next_update - now) / 2;
            st.cache.insert(
                serial.as_bytes(),
                Entry {
                    hash,
                    der: der.as_slice().into(),
                    refresh_at: now + half,
                    generation,
                },
                ticket,
                now,
                st.generation(),
            );
        }
        (der, OcspOutcome::Answered)
    }
}

#[cfg(test)]
mod tests {
    use moor_core::KeyAlgorithm;
    use moor_core::ocsp::{CertIdHash, ResponseSummary, request_der, summarize_response};
    use moor_core::serial::Serial;
    use moor_store::NewAuditEntry;
    use x509_parser::prelude::{FromDer, X509Certificate};

    use super::*;
    use crate::test_fixture::{Fixture, fixture};

    impl Fixture {
        async fn issue(&self) -> Serial {
            self.issue_for("ocsp.example.com", None).await
        }

        fn request(&self, serials: &[Serial], hash: CertIdHash, nonce: Option<&[u8]>) -> Vec<u8> {
            request_der(&self.issuer_der, serials, hash, nonce).unwrap()
        }

        async fn ask(&self, req: &[u8]) -> (Vec<u8>, ResponseSummary) {
            let (der, outcome) = self.auth.ocsp(req).await;
            assert_eq!(outcome, OcspOutcome::Answered);
            let s = summarize_response(&der).unwrap();
            assert_eq!(s.status, OcspResponseStatus::Successful);
            (der, s)
        }
    }

    /// Verify the response signature with the key of `signer_der` (ECDSA P-256).
    fn verify(s: &ResponseSummary, signer_der: &[u8]) {
        let (_, c) = X509Certificate::from_der(signer_der).unwrap();
        let key = aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1,
            c.tbs_certificate
                .subject_pki
                .subject_public_key
                .data
                .to_vec(),
        );
        key.verify(&s.signed_der, &s.signature)
            .expect("response signature verifies with the responder key");
        assert_eq!(
            s.responder_key_hash.as_deref(),
            Some(ocsp::key_hash(&c.tbs_certificate.subject_pki.subject_public_key.data).as_slice())
        );
    }

    #[tokio::test]
    async fn responses_are_signed_by_a_recorded_delegated_responder_and_cached() {
        let f = fixture(KeyAlgorithm::EcdsaP256).await;
        let serial = f.issue().await;
        let req = f.request(std::slice::from_ref(&serial), CertIdHash::Sha1Null, None);
        let (first, s) = f.ask(&req).await;
        assert_eq!(s.answers.len(), 1);
        assert_eq!(s.answers[0].status, Status::Good);
        assert_eq!(s.answers[0].serial, serial);
        assert_eq!(s.answers[0].hash, Some(CertIdHash::Sha1Null));
        let validity = s.answers[0].next_update.unwrap() - s.answers[0].this_update;
        assert_eq!(validity, OCSP_VALIDITY.as_secs() as i64);
        assert!((8 * 3600..=10 * 86_400).contains(&validity));

        // The responder certificate rides along, is the current one, and signed the response.
        assert_eq!(s.certs.len(), 1);
        let responder = f.auth.ocsp_responder_cert("default").unwrap();
        assert_eq!(s.certs[0], responder);
        verify(&s, &responder);
        let (_, rc) = X509Certificate::from_der(&responder).unwrap();
        let (_, ic) = X509Certificate::from_der(&f.issuer_der).unwrap();
        rc.verify_signature(Some(ic.public_key()))
            .expect("the issuer signed the responder certificate");
        assert_eq!(rc.issuer().as_raw(), ic.subject().as_raw());
        let lifetime =
            rc.validity().not_after.timestamp() - rc.validity().not_before.timestamp() + 1;
        assert_eq!(lifetime, responder::RESPONDER_LIFETIME.as_secs() as i64);
        assert!(lifetime >= validity);
        let eku = rc.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.ocsp_signing && !eku.server_auth && !eku.client_auth);
        let ku = rc.key_usage().unwrap().unwrap();
        assert!(ku.critical && ku.value.digital_signature() && ku.value.flags == 1);
        let nocheck = rc
            .extensions()
            .iter()
            .find(|e| e.oid.to_id_string() == "1.3.6.1.5.5.7.48.1.5")
            .unwrap();
        assert!(!nocheck.critical && nocheck.value == [0x05, 0x00]);

        // Recorded in the store, with an audit entry, like any certificate.
        let serial_hex = hex::encode(rc.raw_serial());
        let serial_hex = Serial::from_hex(&serial_hex).unwrap().to_hex();
        let rec = f
            .auth
            .store
            .get_certificate(&serial_hex)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(rec.profile, "ocsp-responder");
        assert_eq!(rec.issuer_id, "default");
        assert_eq!(rec.der, responder);
        let audit = f.auth.store.audit_entries(0, 1000).await.unwrap();
        assert!(
            audit
                .iter()
                .any(|a| a.action == "issue" && a.subject == serial_hex),
            "audited"
        );

        // The same request again, an hour later: the same bytes, from the cache.
        let before = f.auth.ocsp_stats();
        f.advance(3600);
        let (again, _) = f.ask(&req).await;
        assert_eq!(again, first);
        let after = f.auth.ocsp_stats();
        assert_eq!(after.cache_hits, before.cache_hits + 1);
        assert_eq!(after.signed, before.signed);
        // Another CertID hash form is another entry (its CertID is echoed as sent).
        let req256 = f.request(std::slice::from_ref(&serial), CertIdHash::Sha256, None);
        let (_, s256) = f.ask(&req256).await;
        assert_eq!(s256.answers[0].hash, Some(CertIdHash::Sha256));
        assert_eq!(f.auth.ocsp_stats().signed, before.signed + 1);

        // Past half the validity: re-signed, with a later thisUpdate.
        f.advance(OCSP_VALIDITY.as_secs() as i64 / 2);
        let (third, s3) = f.ask(&req).await;
        assert_ne!(third, first);
        assert!(s3.answers[0].this_update > s.answers[0].this_update);
        assert_eq!(f.auth.ocsp_stats().signed, before.signed + 2);
    }

    #[tokio::test]
    async fn nonces_are_echoed_and_never_cached_and_several_certids_are_answered() {
        let f = fixture(KeyAlgorithm::EcdsaP256).await;
        let (a, b) = (f.issue().await, f.issue().await);
        let never = Serial::from_hex("1234567890abcdef1234").unwrap();
        let req = f.request(
            &[a.clone(), b.clone(), never.clone()],
            CertIdHash::Sha256,
            Some(&[7; 32]),
        );
        let (r1, s) = f.ask(&req).await;
        assert_eq!(s.nonce.as_deref(), Some(&[7u8; 32][..]));
        let statuses: Vec<_> = s
            .answers
            .iter()
            .map(|x| (x.serial.clone(), x.status))
            .collect();
        assert_eq!(
            statuses,
            vec![
                (a.clone(), Status::Good),
                (b, Status::Good),
                (never.clone(), Status::Unknown)
            ]
        );
        let hits = f.auth.ocsp_stats().cache_hits;
        let (r2, _) = f.ask(&req).await;
        assert_ne!(r1, r2, "signed afresh");
        let one = f.request(std::slice::from_ref(&a), CertIdHash::Sha1, Some(b"n"));
        f.ask(&one).await;
        f.ask(&one).await;
        assert_eq!(f.auth.ocsp_stats().cache_hits, hits);
        // Nonces of 0 or 33 octets are malformed.
        for n in [&[][..], &[1u8; 33][..]] {
            let bad = f.request(std::slice::from_ref(&a), CertIdHash::Sha1, Some(n));
            let (der, outcome) = f.auth.ocsp(&bad).await;
            assert_eq!(outcome, OcspOutcome::Malformed);
            assert_eq!(
                der,
                ocsp::error_response(OcspResponseStatus::MalformedRequest)
            );
        }
    }

    #[tokio::test]
    async fn unknown_is_never_cached_and_turns_good_once_issued() {
        let f = fixture(KeyAlgorithm::EcdsaP256).await;
        let serial = Serial::random().unwrap();
        let req = f.request(std::slice::from_ref(&serial), CertIdHash::Sha1Null, None);
        for _ in 0..2 {
            let (_, s) = f.ask(&req).await;
            assert_eq!(s.answers[0].status, Status::Unknown);
        }
        assert_eq!(f.auth.ocsp_stats().cache_hits, 0);
        // That serial is issued now (recorded as any certificate is).
        let now = f.auth.now_unix();
        f.auth
            .store
            .record_issuance(
                moor_store::NewCertificate {
                    serial_hex: serial.to_hex(),
                    issuer_id: "default".into(),
                    profile: "tls-server".into(),
                    subject: String::new(),
                    sans: vec!["dns:late.example.com".into()],
                    not_before: now,
                    not_after: now + 86_400,
                    requester: "cli".into(),
                    key_algorithm: "ecdsa-p256".into(),
                    fingerprint: hex::encode([1u8; 32]),
                    spki_sha256: hex::encode([2u8; 32]),
                    der: vec![0x30, 0x00],
                    created_at: now,
                },
                NewAuditEntry {
                    ts: now,
                    actor: "cli".into(),
                    action: "issue".into(),
                    subject: serial.to_hex(),
                    detail: "{}".into(),
                },
            )
            .await
            .unwrap();
        let (_, s) = f.ask(&req).await;
        assert_eq!(s.answers[0].status, Status::Good);
    }

    #[tokio::test]
    async fn ocsp_revoked_drops_the_cached_good_response_at_once() {
        let f = fixture(KeyAlgorithm::EcdsaP256).await;
        let serial = f.issue().await;
        let req = f.request(std::slice::from_ref(&serial), CertIdHash::Sha1Null, None);
        let (good, s) = f.ask(&req).await;
        assert_eq!(s.answers[0].status, Status::Good);
        // Revoked in the store (here, or by another node): the cache still has `good` …
        f.advance(5);
        let audit = NewAuditEntry {
            ts: f.auth.now_unix(),
            actor: "cli".into(),
            action: "revoke".into(),
            subject: serial.to_hex(),
            detail: "{}".into(),
        };
        let rec = f
            .auth
            .store
            .revoke_certificate(&serial.to_hex(), f.auth.now_unix(), 1, audit)
            .await
            .unwrap();
        let (still, _) = f.ask(&req).await;
        assert_eq!(still, good, "served from the cache until the hook runs");
        // … until the hook drops it: the next answer is revoked, with the stored time and reason.
        f.auth.ocsp_revoked("default", &serial.to_hex());
        let (revoked, s) = f.ask(&req).await;
        assert_ne!(revoked, good);
        assert_eq!(
            s.answers[0].status,
            Status::Revoked {
                at: rec.revoked_at.unwrap(),
                reason: 1
            }
        );
        // And that revoked answer is what the cache serves now.
        let (again, _) = f.ask(&req).await;
        assert_eq!(again, revoked);
        // Upper-case hex and an unknown issuer id are accepted too.
        f.auth.ocsp_revoked("nope", &serial.to_hex().to_uppercase());
        let (fresh, s) = f.ask(&req).await;
        assert_ne!(fresh, revoked);
        assert!(matches!(
            s.answers[0].status,
            Status::Revoked { reason: 1, .. }
        ));
    }

    #[tokio::test]
    async fn the_responder_rotates_before_half_its_life_and_cached_responses_follow() {
        let f = fixture(KeyAlgorithm::EcdsaP256).await;
        let serial = f.issue().await;
        let req = f.request(std::slice::from_ref(&serial), CertIdHash::Sha1Null, None);
        let (_, s1) = f.ask(&req).await;
        let first = f.auth.ocsp_responder_cert("default").unwrap();
        // Just before half its life: no rotation.
        let half = responder::RESPONDER_LIFETIME.as_secs() as i64 / 2;
        f.advance(half - 120);
        f.ask(&req).await;
        f.auth.ocsp_prepare_responders().await;
        assert_eq!(f.auth.ocsp_responder_cert("default").unwrap(), first);
        // Past half: the next request starts the replacement; it is recorded, and the
        // cached response signed by the old responder is not served any more.
        f.advance(180);
        f.ask(&req).await;
        f.auth.ocsp_prepare_responders().await;
        let second = f.auth.ocsp_responder_cert("default").unwrap();
        assert_ne!(second, first);
        let (_, s2) = f.ask(&req).await;
        assert_eq!(s2.certs, vec![second.clone()]);
        verify(&s2, &second);
        assert_ne!(s2.responder_key_hash, s1.responder_key_hash);
        let responders = f
            .auth
            .store
            .list_certificates(&moor_store::CertificateFilter {
                profile: Some("ocsp-responder".into()),
                limit: 100,
                now: f.auth.now_unix(),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(responders.len(), 2);
        // A response never outlives the certificate of its signer.
        let (_, rc) = X509Certificate::from_der(&second).unwrap();
        assert!(s2.answers[0].next_update.unwrap() <= rc.validity().not_after.timestamp());
        // Far past the end of both (a process asleep for a week): a new one before answering.
        f.advance(7 * 86_400);
        let (_, s3) = f.ask(&req).await;
        let third = f.auth.ocsp_responder_cert("default").unwrap();
        assert_ne!(third, second);
        assert_eq!(s3.certs, vec![third.clone()]);
        verify(&s3, &third);
    }

    #[tokio::test]
    async fn the_issuer_signs_when_no_responder_can_be_issued() {
        let f = fixture(KeyAlgorithm::EcdsaP256).await;
        let serial = f.issue().await;
        // Twelve hours before the issuer expires, no responder certificate could cover a
        // day of validity: issuance fails (logged) and the issuer signs.
        let (_, ic) = X509Certificate::from_der(&f.issuer_der).unwrap();
        let left = ic.validity().not_after.timestamp() - f.auth.now_unix();
        f.advance(left - 12 * 3600);
        let req = f.request(std::slice::from_ref(&serial), CertIdHash::Sha1, None);
        let (_, s) = f.ask(&req).await;
        assert!(s.certs.is_empty());
        assert!(f.auth.ocsp_responder_cert("default").is_none());
        verify(&s, &f.issuer_der);
        assert!(s.answers[0].next_update.unwrap() <= ic.validity().not_after.timestamp());
    }

    #[tokio::test]
    async fn junk_foreign_and_mutated_requests_get_error_responses_never_a_panic() {
        let f = fixture(KeyAlgorithm::EcdsaP256).await;
        let serial = f.issue().await;
        // A foreign issuer's CertID: unauthorized.
        let other = fixture(KeyAlgorithm::EcdsaP256).await;
        let foreign = other.request(std::slice::from_ref(&serial), CertIdHash::Sha1, None);
        let (der, outcome) = f.auth.ocsp(&foreign).await;
        assert_eq!(outcome, OcspOutcome::Unauthorized);
        assert_eq!(der, ocsp::error_response(OcspResponseStatus::Unauthorized));
        // Oversized and truncated: malformed.
        let (_, outcome) = f.auth.ocsp(&vec![0x30; ocsp::MAX_REQUEST_BYTES + 1]).await;
        assert_eq!(outcome, OcspOutcome::Malformed);
        let good = f.request(
            &[serial.clone(), serial.clone()],
            CertIdHash::Sha256Null,
            Some(&[5; 16]),
        );
        for n in 0..good.len() {
            let (_, outcome) = f.auth.ocsp(&good[..n]).await;
            assert_eq!(outcome, OcspOutcome::Malformed, "truncated at {n}");
        }
        // Thousands of mutations and random strings: every answer is a decodable response.
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut answered = 0;
        for i in 0..4000 {
            let mut m = good.clone();
            match i % 4 {
                0 => {
                    for _ in 0..(next() % 6 + 1) {
                        let at = (next() as usize) % m.len();
                        m[at] ^= 1 << (next() % 8);
                    }
                }
                1 => {
                    let at = (next() as usize) % m.len();
                    m[at] = next() as u8;
                }
                2 => {
                    let at = (next() as usize) % m.len();
                    let len = (next() % 24) as usize;
                    let ins: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                    m.splice(at..at, ins);
                }
                _ => m = (0..next() % 400).map(|_| next() as u8).collect(),
            }
            let (der, outcome) = f.auth.ocsp(&m).await;
            let s = summarize_response(&der).expect("every answer decodes");
            if outcome == OcspOutcome::Answered {
                answered += 1;
                assert_eq!(s.status, OcspResponseStatus::Successful);
                assert!(
                    s.answers
                        .iter()
                        .all(|a| a.status != Status::Good || a.serial == serial)
                );
            }
        }
        assert!(answered > 0, "some mutations still parse");
    }
}
