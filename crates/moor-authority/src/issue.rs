//! Issuance: the one path every front door uses to turn a request into a certificate.
//!
//! authenticate (caller) → profile → CSR verify or key generation → template
//! (`moor_core::template::prepare`) → lint-before-sign → sign → record with its
//! audit entry (durable) → respond. A refusal is audited and nothing is signed
//! or stored for it.

use std::sync::Mutex;
use std::time::Duration;

use moor_core::csr::SubjectKey;
use moor_core::identifier::{IdentifierRules, parse_identifier};
use moor_core::serial::Serial;
use moor_core::template::{SubscriberRequest, Urls, prepare};
use moor_core::{KeyAlgorithm, Refusal, RefusalCode};
use moor_keys::{Signer, SoftwareKey};
use moor_store::{CertificateRecord, NewAuditEntry, NewCertificate, StoreError};
use zeroize::Zeroizing;

use crate::signing::LintingSigner;
use crate::trust_anchor::pem_certs;
use crate::{Authority, AuthorityError, Requester, audit_detail};

const BLOCKED: &str = "the request's key was revoked for key compromise";

/// Where the subscriber key comes from.
#[derive(Debug, Clone)]
pub enum SubjectSource {
    /// A PKCS#10 CSR (PEM or DER); its signature is verified.
    Csr(Vec<u8>),
    /// Server-side key generation for these names.
    Generate {
        /// Key algorithm to generate.
        algorithm: KeyAlgorithm,
        /// SANs (auto-detected type: DNS, IP, email, URI).
        sans: Vec<String>,
        /// Optional subject CN.
        common_name: Option<String>,
    },
}

/// A request for a certificate.
#[derive(Debug, Clone)]
pub struct IssueRequest {
    /// Profile name.
    pub profile: String,
    /// CSR or key generation.
    pub subject: SubjectSource,
    /// Requested lifetime (None = profile default).
    pub lifetime: Option<Duration>,
}

/// An issued certificate.
pub struct Issued {
    /// Serial, lower-case hex.
    pub serial: String,
    /// The certificate, DER.
    pub cert_der: Vec<u8>,
    /// The certificate, PEM.
    pub cert_pem: String,
    /// Intermediates from the issuer up to (excluding) the root, PEM.
    pub chain_pem: String,
    /// The root that anchors this chain, PEM.
    pub root_pem: String,
    /// The generated private key (PKCS#8 PEM) for server-side key generation.
    pub private_key_pem: Option<Zeroizing<String>>,
    /// The generated private key (PKCS#8 DER).
    pub private_key_der: Option<Zeroizing<Vec<u8>>>,
    /// Intermediates from the issuer up to (excluding) the root, DER.
    pub chain_der: Vec<Vec<u8>>,
    /// The stored record.
    pub record: CertificateRecord,
}

impl Issued {
    /// The generated key with the certificate and chain as a PKCS#12 file (RFC 7292)
    /// protected by `password`; None when the key was not generated here.
    pub fn pkcs12(
        &self,
        password: &moor_keys::Passphrase,
    ) -> Result<Option<Vec<u8>>, AuthorityError> {
        let Some(key) = &self.private_key_der else {
            return Ok(None);
        };
        let mut certs: Vec<&[u8]> = vec![&self.cert_der];
        certs.extend(self.chain_der.iter().map(|c| c.as_slice()));
        let name = self
            .record
            .sans
            .first()
            .map(|s| s.split_once(':').map(|(_, v)| v).unwrap_or(s))
            .unwrap_or(&self.serial)
            .to_string();
        Ok(Some(moor_keys::to_pkcs12(key, &certs, password, &name)?))
    }
}

impl Authority {
    /// Issue a certificate for `who`. Refusals are audited; nothing is signed for them.
    pub async fn issue(
        &self,
        who: &Requester,
        req: IssueRequest,
    ) -> Result<Issued, AuthorityError> {
        let issuer = self
            .profiles
            .get(&req.profile)
            .map(|p| p.issuer.clone())
            .unwrap_or_default();
        let profile = if self.profiles.contains_key(&req.profile) {
            req.profile.clone()
        } else {
            "unknown".to_string()
        };
        let result = self.issue_inner(who, &req).await;
        let outcome = match &result {
            Ok(_) => "issued",
            Err(e) => e.code(),
        };
        self.metrics.issuance(&issuer, &profile, outcome);
        match result {
            Ok(i) => Ok(i),
            Err(AuthorityError::Refused(r)) => {
                let detail = audit_detail(&[
                    ("profile", &req.profile),
                    ("code", r.code.as_str()),
                    ("reason", &r.detail),
                ]);
                self.store
                    .append_audit(NewAuditEntry {
                        ts: self.now_unix(),
                        actor: who.id(),
                        action: "issue.refuse".into(),
                        subject: req.profile.clone(),
                        detail,
                    })
                    .await?;
                Err(AuthorityError::Refused(r))
            }
            Err(e) => Err(e),
        }
    }

    async fn issue_inner(
        &self,
        who: &Requester,
        req: &IssueRequest,
    ) -> Result<Issued, AuthorityError> {
        let profile = self.profiles.get(&req.profile).ok_or_else(|| {
            Refusal::new(
                RefusalCode::UnknownProfile,
                format!("no profile named {:?}", truncate(&req.profile, 64)),
            )
        })?;
        let issuer = self.issuers.get(&profile.issuer).ok_or_else(|| {
            AuthorityError::Config(format!("issuer {} not loaded", profile.issuer))
        })?;

        // The subscriber key and requested names: verified CSR, or a key we generate.
        let rules = IdentifierRules {
            public: profile.public,
        };
        let (sub_req, generated) = match &req.subject {
            SubjectSource::Csr(input) => {
                let input = input.clone();
                let lifetime = req.lifetime;
                // Verifying any accepted CSR signature takes well under a millisecond: inline.
                let csr = cpu(true, move || -> Result<_, Refusal> {
                    let der = moor_core::csr::decode_csr_input(&input)?;
                    moor_core::csr::verify_csr(&der)
                })
                .await??;
                (SubscriberRequest::from_csr(&csr, lifetime), None)
            }
            SubjectSource::Generate {
                algorithm,
                sans,
                common_name,
            } => {
                if !profile.allow_server_keygen {
                    return Err(Refusal::new(
                        RefusalCode::ProfileViolation,
                        format!(
                            "profile {} does not allow server-side key generation",
                            profile.name
                        ),
                    )
                    .into());
                }
                if sans.len() > moor_core::limits::MAX_SANS {
                    return Err(Refusal::new(
                        RefusalCode::TooManyIdentifiers,
                        format!("at most {} names", moor_core::limits::MAX_SANS),
                    )
                    .into());
                }
                let ids = sans
                    .iter()
                    .map(|s| parse_identifier(s, rules))
                    .collect::<Result<Vec<_>, _>>()?;
                if !profile.key_algorithms.contains(algorithm) {
                    return Err(Refusal::new(
                        RefusalCode::BadPublicKey,
                        format!("profile {} does not allow {} keys", profile.name, algorithm),
                    )
                    .into());
                }
                let alg = *algorithm;
                let key = cpu(!alg.is_rsa(), move || SoftwareKey::generate(alg)).await??;
                let subject_key = moor_core::csr::check_public_key(&key.spki_der())?;
                let sub =
                    SubscriberRequest::new(subject_key, ids, common_name.clone(), req.lifetime);
                (sub, Some(key))
            }
        };

        // Never certify a CA's own key for a subscriber (refuse.md B1).
        let spki_sha256 = sub_req.key.spki_sha256_hex();
        if self.ca_key_hashes.contains(&spki_sha256) {
            return Err(
                Refusal::new(RefusalCode::BlockedKey, "the request's key is a CA key").into(),
            );
        }
        // Keys revoked for keyCompromise are never certified again.
        if self.key_is_blocked(&spki_sha256) {
            return Err(Refusal::new(RefusalCode::BlockedKey, BLOCKED).into());
        }

        let serial = Serial::random().map_err(|e| AuthorityError::Internal(e.to_string()))?;
        let urls = Urls::for_issuer(&self.revocation_url, &issuer.facts.id);
        let now = self.clock.now();
        let prepared = prepare(
            profile,
            &issuer.facts,
            &urls,
            sub_req.clone(),
            serial.clone(),
            now,
        )?;

        // What gets stored: the lint proves the certificate carries exactly these values.
        let not_before = prepared.expect.not_before.unix_timestamp();
        let not_after = prepared.expect.not_after.unix_timestamp();
        let sans: Vec<String> = prepared.sans.iter().map(|s| s.tagged()).collect();
        let subject = prepared
            .common_name
            .as_ref()
            .map(|cn| format!("CN={}", rfc4514_escape(cn)))
            .unwrap_or_default();

        // Lint, then sign (blocking: RSA and ML-DSA signing take milliseconds).
        let signer = issuer.signer.clone();
        let issuer_der = issuer.facts.cert_der.clone();
        let key = sub_req.key.clone();
        let fast = matches!(
            signer.algorithm(),
            KeyAlgorithm::EcdsaP256 | KeyAlgorithm::EcdsaP384 | KeyAlgorithm::Ed25519
        );
        let cert_der = cpu(fast, move || {
            sign_prepared(&*signer, &issuer_der, &key, &prepared)
        })
        .await??;

        // Record it with its audit entry, durably, before anyone sees it.
        let fingerprint =
            hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &cert_der).as_ref());
        let new = NewCertificate {
            serial_hex: serial.to_hex(),
            issuer_id: issuer.facts.id.clone(),
            profile: profile.name.clone(),
            subject: subject.clone(),
            sans: sans.clone(),
            not_before,
            not_after,
            requester: who.id(),
            key_algorithm: sub_req.key.algorithm.name().into(),
            fingerprint: fingerprint.clone(),
            spki_sha256,
            der: cert_der.clone(),
            created_at: now.unix_timestamp(),
        };
        let detail = serde_json::json!({
            "profile": profile.name, "issuer": issuer.facts.id, "sans": sans, "subject": subject,
            "not_after": not_after, "key_algorithm": sub_req.key.algorithm.name(), "fingerprint": fingerprint,
            "server_keygen": generated.is_some(),
        })
        .to_string();
        let audit = NewAuditEntry {
            ts: now.unix_timestamp(),
            actor: who.id(),
            action: "issue".into(),
            subject: serial.to_hex(),
            detail,
        };
        let started = std::time::Instant::now();
        let recorded = self.store.record_issuance(new.clone(), audit).await;
        self.metrics.store_write(started.elapsed().as_secs_f64());
        match recorded {
            Ok(()) => {}
            // 128-bit serials collide only if the CSPRNG is broken; fail closed, never overwrite.
            Err(e @ StoreError::DuplicateSerial { .. }) => {
                return Err(AuthorityError::Internal(e.to_string()));
            }
            // Blocked by another process after our check: the store refused it atomically.
            Err(StoreError::KeyBlocked { spki_sha256 }) => {
                self.remember_blocked_key(&spki_sha256);
                return Err(Refusal::new(RefusalCode::BlockedKey, BLOCKED).into());
            }
            Err(e) => return Err(e.into()),
        }
        let (private_key_pem, private_key_der) = match generated {
            Some(k) => (Some(k.to_pkcs8_pem()?), Some(k.to_pkcs8_der()?)),
            None => (None, None),
        };
        Ok(Issued {
            serial: serial.to_hex(),
            cert_pem: pem_certs(&[&cert_der]),
            chain_pem: issuer.chain_pem.clone(),
            root_pem: issuer.root_pem.clone(),
            private_key_pem,
            private_key_der,
            chain_der: issuer.chain.clone(),
            record: CertificateRecord {
                id: 0,
                serial_hex: new.serial_hex,
                issuer_id: new.issuer_id,
                profile: new.profile,
                subject: new.subject,
                sans: new.sans,
                not_before,
                not_after,
                requester: new.requester,
                key_algorithm: new.key_algorithm,
                fingerprint: new.fingerprint,
                spki_sha256: new.spki_sha256,
                der: Vec::new(),
                status: "valid".into(),
                revoked_at: None,
                revocation_reason: None,
                created_at: new.created_at,
            },
            cert_der,
        })
    }
}

/// Run CPU work inline when it is short (tens of microseconds: ECDSA, Ed25519), else on
/// the blocking pool (RSA signing and key generation, ML-DSA) so it never stalls the
/// async workers. The thread hop costs more than a fast signature.
async fn cpu<T: Send + 'static>(
    inline: bool,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AuthorityError> {
    if inline {
        Ok(f())
    } else {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| AuthorityError::Internal(e.to_string()))
    }
}

/// Lint the prepared certificate and sign it with `signer` (the CA key signs only if the lint passes).
pub fn sign_prepared(
    signer: &dyn Signer,
    issuer_der: &[u8],
    key: &SubjectKey,
    prepared: &moor_core::template::Prepared,
) -> Result<Vec<u8>, AuthorityError> {
    let linting = LintingSigner {
        signer,
        expect: &prepared.expect,
        failure: Mutex::new(None),
    };
    let issuer = rcgen::Issuer::from_ca_cert_der(&issuer_der.to_vec().into(), linting)
        .map_err(|e| AuthorityError::Internal(format!("issuer certificate: {e}")))?;
    match prepared.params.signed_by(key, &issuer) {
        Ok(cert) => Ok(cert.der().to_vec()),
        Err(e) => {
            if let Some(r) = issuer
                .key()
                .failure
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take()
            {
                return Err(AuthorityError::Refused(r));
            }
            Err(AuthorityError::Internal(format!("signing failed: {e}")))
        }
    }
}

/// Escape an attribute value for an RFC 4514 string (§2.4).
fn rfc4514_escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for (i, c) in v.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i + 1 == v.chars().count() && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use moor_core::identifier::{IdentifierRules, parse_identifier};
    use moor_core::profile::Profile;
    use moor_keys::{KeyError, RcgenSigner};

    use super::*;

    /// A CA signer that counts how often it is asked to sign.
    struct Counting {
        key: SoftwareKey,
        signs: AtomicUsize,
    }
    impl Signer for Counting {
        fn algorithm(&self) -> KeyAlgorithm {
            self.key.algorithm()
        }
        fn public_key_raw(&self) -> &[u8] {
            self.key.public_key_raw()
        }
        fn spki_der(&self) -> Vec<u8> {
            self.key.spki_der()
        }
        fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, KeyError> {
            self.signs.fetch_add(1, Ordering::SeqCst);
            self.key.sign(msg)
        }
        fn describe(&self) -> String {
            "test".into()
        }
    }

    #[test]
    fn a_lint_failure_means_the_ca_key_never_signs() {
        let ca = Counting {
            key: SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap(),
            signs: AtomicUsize::new(0),
        };
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
        p.distinguished_name
            .push(rcgen::DnType::CommonName, "Test CA");
        let ca_der = p.self_signed(&RcgenSigner(&ca.key)).unwrap().der().to_vec();
        let facts = moor_core::template::IssuerFacts::from_cert_der("t", &ca_der).unwrap();
        let sub = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let key = moor_core::csr::check_public_key(&sub.spki_der()).unwrap();
        let req = SubscriberRequest::new(
            key.clone(),
            vec![parse_identifier("a.example.com", IdentifierRules::default()).unwrap()],
            None,
            None,
        );
        let profile = &Profile::builtins()["tls-server"];
        let urls = Urls::for_issuer("http://pki.example.com", "t");
        let now = time::OffsetDateTime::now_utc();

        let good = prepare(
            profile,
            &facts,
            &urls,
            req.clone(),
            Serial::random().unwrap(),
            now,
        )
        .unwrap();
        let der = sign_prepared(&ca, &ca_der, &key, &good).unwrap();
        assert_eq!(ca.signs.load(Ordering::SeqCst), 1);
        assert!(der.len() > 200);

        // A template that asks for something the expectations do not allow (a CA flag).
        let mut bad = prepare(profile, &facts, &urls, req, Serial::random().unwrap(), now).unwrap();
        bad.params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        match sign_prepared(&ca, &ca_der, &key, &bad) {
            Err(AuthorityError::Refused(r)) => assert_eq!(r.code, RefusalCode::LintFailed, "{r}"),
            other => panic!("expected a lint refusal, got {:?}", other.map(|d| d.len())),
        }
        assert_eq!(
            ca.signs.load(Ordering::SeqCst),
            1,
            "the CA key was not used for the refused certificate"
        );
    }
}
