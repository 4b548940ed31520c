//! SCEP (RFC 8894): the operations behind `/scep` and `/scep/{profile}`.
//!
//! - GetCACaps: what we support ([`moor_core::scep::CA_CAPS`]).
//! - GetCACert: the RA certificate ([`ra`]) then the CA chain.
//! - PKIOperation: a signed, encrypted PKCS#10 request.
//!   - PKCSReq: the CSR's challengePassword is a bootstrap token
//!     ([`Authority::enroll_with_bootstrap_token`]: scope, uses, audit). Without a
//!     challenge, a request signed with a certificate we issued is a renewal.
//!   - RenewalReq / UpdateReq: signed with the current certificate (proof of its key);
//!     [`Authority::renew`] keeps the names and the profile.
//!
//! Every answer to a PKIOperation is a CertRep signed by the RA: the certificate
//! (encrypted to the requester's signer certificate) or a failInfo. Only a failure of
//! ours (the store unreachable, …) is an HTTP error, so that the client retries.

pub mod ra;

use std::sync::Arc;

use moor_core::scep::{self as fmt, FailInfo, MessageType, Outcome};
use moor_keys::{Passphrase, Signer};

use crate::config::ScepConfig;
use crate::provisioner::bootstrap_token::EnrollOptions;
use crate::{Authority, AuthorityError, Issued};

/// The SCEP server of one process.
pub struct ScepService {
    auth: Arc<Authority>,
    config: ScepConfig,
    pass: Passphrase,
    ras: ra::RaCache,
}

/// A PKIOperation that could not be answered with a CertRep (our side failed).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ScepServerError(pub AuthorityError);

impl ScepService {
    /// `pass` encrypts the RA keys at rest (the CA key passphrase).
    pub fn new(
        auth: Arc<Authority>,
        config: ScepConfig,
        pass: Passphrase,
    ) -> Result<ScepService, AuthorityError> {
        if !auth.profiles().contains_key(&config.default_profile) {
            return Err(AuthorityError::Config(format!(
                "[scep] default_profile = {:?} is not a profile",
                config.default_profile
            )));
        }
        Ok(ScepService {
            auth,
            config,
            pass,
            ras: ra::RaCache::default(),
        })
    }

    /// The profile of a request path and whether the path named it: no label (or
    /// `pkiclient.exe`, the path some clients append) is the default profile, not named;
    /// `None` for an unknown profile.
    pub fn profile<'a>(&'a self, label: Option<&'a str>) -> Option<(&'a str, bool)> {
        match label {
            None | Some("pkiclient.exe") => Some((self.config.default_profile.as_str(), false)),
            Some(p) if p.len() <= 64 && self.auth.profiles().contains_key(p) => Some((p, true)),
            Some(_) => None,
        }
    }

    fn issuer_of(
        &self,
        profile: &str,
    ) -> Result<&crate::trust_anchor::LoadedIssuer, AuthorityError> {
        let p = self
            .auth
            .profiles()
            .get(profile)
            .ok_or_else(|| AuthorityError::NotFound(format!("profile {profile}")))?;
        self.auth
            .loaded_issuer(&p.issuer)
            .ok_or_else(|| AuthorityError::Config(format!("issuer {} is not online", p.issuer)))
    }

    /// GetCACert: certs-only PKCS#7 of the RA certificate, then the issuer chain and root
    /// (`application/x-x509-ca-ra-cert`).
    pub async fn ca_certs(&self, profile: &str) -> Result<Vec<u8>, AuthorityError> {
        let issuer = self.issuer_of(profile)?;
        let ra = self.ras.current(&self.auth, &self.pass, issuer).await?;
        let mut chain: Vec<&[u8]> = issuer.chain.iter().map(|c| c.as_slice()).collect();
        chain.push(&issuer.root);
        Ok(fmt::ca_ra_certs(&ra.cert_der, &chain))
    }

    /// PKIOperation: the CertRep (DER) for `message`.
    pub async fn pki_operation(
        &self,
        profile: &str,
        explicit_profile: bool,
        message: &[u8],
    ) -> Result<Vec<u8>, ScepServerError> {
        let issuer = self.issuer_of(profile).map_err(ScepServerError)?;
        // The RA that signs the answer: the one the request was encrypted to, else the
        // current one.
        let mut signing = None;
        let (ids, signer_cert, outcome) = match fmt::parse_request(message) {
            Err(e) => {
                tracing::info!(fail_info = e.fail_info.name(), detail = %e.detail, "SCEP request refused");
                (e.ids, Vec::new(), Err(e.fail_info))
            }
            Ok(req) => {
                let ras = self
                    .ras
                    .all(&self.auth, &self.pass, &issuer.facts.id)
                    .await
                    .map_err(ScepServerError)?;
                let r = self
                    .handle(profile, explicit_profile, &req, &ras, &mut signing)
                    .await;
                match r {
                    Ok(issued) => (req.ids, req.signer_cert_der, Ok(issued)),
                    Err(Failure::Client(fail, detail)) => {
                        tracing::info!(fail_info = fail.name(), detail = %detail, transaction = %req.ids.transaction_id, "SCEP request refused");
                        (req.ids, req.signer_cert_der, Err(fail))
                    }
                    Err(Failure::Server(e)) => return Err(ScepServerError(e)),
                }
            }
        };
        let current = match signing {
            Some(ra) => ra,
            None => self
                .ras
                .current(&self.auth, &self.pass, issuer)
                .await
                .map_err(ScepServerError)?,
        };
        let chain: Vec<&[u8]>;
        let out = match &outcome {
            Ok(issued) => {
                let mut c: Vec<&[u8]> = vec![&issued.cert_der];
                c.extend(issued.chain_der.iter().map(|d| d.as_slice()));
                chain = c;
                Outcome::Success { certs: &chain }
            }
            Err(f) => Outcome::Failure(*f),
        };
        let sign = |tbs: &[u8]| current.signer.sign(tbs).map_err(|e| e.to_string());
        let now = self.auth.now_unix();
        match fmt::cert_rep(&ids, out, &signer_cert, &current.cert_der, now, &sign) {
            Ok(der) => Ok(der),
            // The certificate was issued but cannot be encrypted to the requester (its
            // signer key is not RSA): say so in a failure the client can read.
            Err(e) if outcome.is_ok() => fmt::cert_rep(
                &ids,
                Outcome::Failure(e.fail_info),
                &signer_cert,
                &current.cert_der,
                now,
                &sign,
            )
            .map_err(|e| ScepServerError(AuthorityError::Internal(e.detail))),
            Err(e) => Err(ScepServerError(AuthorityError::Internal(e.detail))),
        }
    }

    async fn handle(
        &self,
        profile: &str,
        explicit_profile: bool,
        req: &fmt::PkiRequest,
        ras: &[Arc<ra::Ra>],
        signing: &mut Option<Arc<ra::Ra>>,
    ) -> Result<Issued, Failure> {
        let keys: Vec<fmt::RaKey<'_>> = ras
            .iter()
            .map(|r| fmt::RaKey {
                cert_der: &r.cert_der,
                key: &r.decrypting,
            })
            .collect();
        let ciphers = fmt::Ciphers {
            allow_des: self.config.allow_des,
        };
        let (csr, index) =
            fmt::open_envelope_for(&req.envelope_der, &keys, ciphers).map_err(|e| {
                let detail = if e.fail_info == FailInfo::BadAlg && !self.config.allow_des {
                    format!(
                        "{} (single DES is accepted only with [scep] allow_des = true)",
                        e.detail
                    )
                } else {
                    e.detail
                };
                Failure::Client(e.fail_info, detail)
            })?;
        *signing = ras.get(index).cloned();
        let renew = |csr: Vec<u8>| async move {
            self.auth
                .renew(
                    &req.signer_cert_der,
                    csr,
                    explicit_profile.then_some(profile),
                )
                .await
                .map_err(Failure::from)
        };
        match req.message_type {
            MessageType::PkcsReq => match fmt::challenge_password(&csr) {
                Some(token) => self
                    .auth
                    .enroll_with_bootstrap_token(
                        &token,
                        csr,
                        EnrollOptions {
                            profile: Some(profile),
                            server_keygen: false,
                        },
                    )
                    .await
                    .map_err(Failure::from),
                // Without a challenge, only a certificate we issued may sign (a renewal).
                None => renew(csr).await,
            },
            MessageType::RenewalReq | MessageType::UpdateReq => renew(csr).await,
            other => Err(Failure::Client(
                FailInfo::BadRequest,
                format!("messageType {other:?} is not served (requests are never pending)"),
            )),
        }
    }
}

enum Failure {
    Client(FailInfo, String),
    Server(AuthorityError),
}

impl From<AuthorityError> for Failure {
    fn from(e: AuthorityError) -> Failure {
        match e {
            AuthorityError::Store(_)
            | AuthorityError::Internal(_)
            | AuthorityError::Key(_)
            | AuthorityError::Config(_) => Failure::Server(e),
            other => Failure::Client(FailInfo::BadRequest, other.to_string()),
        }
    }
}
