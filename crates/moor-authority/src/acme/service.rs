//! The ACME server's orchestration (RFC 8555 §7): accounts, orders, authorizations,
//! challenges, finalization, certificates and revocation.
//!
//! The HTTP handlers (`moor-server/src/acme`) check the content type, then call
//! [`AcmeService::authenticate`] (parse → url → nonce → key → signature) and one operation
//! here; they own URLs and rendering. Every piece of state is in the store
//! ([`moor_store::AcmeStore`]): a second node continues any order. Validation runs in the
//! background after [`moor_store::AcmeStore::begin_validation`] picked exactly one caller;
//! finalization issues through [`Authority::issue`] after
//! [`moor_store::AcmeStore::begin_finalize`], with the requester `acme:<account id>`.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;

use moor_core::acme::eab::ExternalAccountBinding;
use moor_core::acme::{AcmeError, Jwk, ParsedJws, ProblemType, b64url_decode, b64url_encode, jws};
use moor_core::identifier::{Identifier, IdentifierRules, matches_pattern, parse_identifier};
use moor_core::profile::Profile;
use moor_store::{
    AcmeAccount, AcmeAuthorization, AcmeChallenge, AcmeEab, AcmeIdentifier, AcmeOrder,
    CertificateRecord, NewAuditEntry, PROCESSING_TAKEOVER_SECS, StoreError,
};
use serde::Deserialize;
use serde_json::Value;

mod accounts;
mod authorizations;
mod finalize;
mod orders;
mod renewal_info;
mod revocation;

pub use renewal_info::{DEFAULT_OVERRIDE_WINDOW_SECS, RenewalSelector};

use super::nonce::NonceKey;
use super::validation::{ChallengeType, ValidationConfig, Validator};
use crate::config::AcmeConfig;
use crate::{Authority, AuthorityError, IssueRequest, Requester, SubjectSource, audit_detail};

/// How long a nonce stays usable (seconds).
pub const NONCE_TTL_SECS: i64 = 3600;
/// How long an order (and a new authorization) may stay unfinished (seconds).
pub const ORDER_TTL_SECS: i64 = 7 * 24 * 3600;
/// How long a valid authorization may be reused (seconds).
pub const AUTHZ_TTL_SECS: i64 = 30 * 24 * 3600;
/// Most identifiers in one order.
pub const MAX_ORDER_IDENTIFIERS: usize = 100;

/// What a request must use to name its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyMode {
    /// `jwk` (newAccount).
    Jwk,
    /// `kid` naming an existing, valid account (every other request).
    Kid,
    /// Either (revokeCert: by the account or by the certificate key).
    Either,
}

/// A request that passed the RFC 8555 §6 checks.
pub struct Authenticated {
    /// The parsed and verified JWS.
    pub jws: ParsedJws,
    /// The key that verified it.
    pub key: Jwk,
    /// The account of a `kid` request.
    pub account: Option<AcmeAccount>,
}

impl Authenticated {
    /// The account (for `kid` requests).
    pub fn account(&self) -> Result<&AcmeAccount, AcmeError> {
        self.account
            .as_ref()
            .ok_or_else(|| AcmeError::malformed("this request must carry a kid"))
    }
}

/// The outcome of newAccount.
pub struct AccountOutcome {
    /// The account.
    pub account: AcmeAccount,
    /// True when it was created by this request (201), false when it existed (200).
    pub created: bool,
}

/// A rate limit: at most `count` per `window_secs` (sliding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Events allowed in the window.
    pub count: u32,
    /// The window (seconds).
    pub window_secs: i64,
}

impl RateLimit {
    /// `"N/duration"` (`"300/3h"`); empty: no limit.
    pub fn parse(s: &str) -> Result<Option<RateLimit>, String> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(None);
        }
        let bad = || format!("{s:?} is not a rate limit like \"300/3h\"");
        let (n, d) = s.split_once('/').ok_or_else(bad)?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        let window = moor_core::profile::parse_duration(d).ok_or_else(bad)?;
        let window_secs = i64::try_from(window.as_secs()).map_err(|_| bad())?;
        if window_secs == 0 || window_secs > 366 * 86_400 {
            return Err(format!("{s:?}: the window must be 1s to 366d"));
        }
        Ok(Some(RateLimit { count, window_secs }))
    }
}

/// The `[acme]` settings parsed once.
#[derive(Debug, Clone)]
struct Settings {
    authz_reuse_secs: i64,
    caa_recheck_after_secs: i64,
    orders_per_account: Option<RateLimit>,
    certificates_per_identifier: Option<RateLimit>,
}

fn seconds(what: &str, s: &str, max_days: i64) -> Result<i64, String> {
    let d = moor_core::profile::parse_duration(s)
        .ok_or_else(|| format!("acme.{what} = {s:?} is not a duration like 7d or 8h"))?;
    let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    if secs > max_days * 86_400 {
        return Err(format!("acme.{what} = {s:?} is longer than {max_days}d"));
    }
    Ok(secs)
}

/// The ACME server state machine over the store.
pub struct AcmeService {
    authority: Arc<Authority>,
    config: AcmeConfig,
    settings: Settings,
    nonce_key: tokio::sync::OnceCell<NonceKey>,
    /// Validator that may reach private addresses, and one that may not.
    private_validator: Validator,
    public_validator: Validator,
}

pub(crate) fn internal(e: impl std::fmt::Display) -> AcmeError {
    tracing::error!(error = %e, "ACME internal error");
    AcmeError::new(ProblemType::ServerInternal, "internal error")
}

fn store_err(e: StoreError) -> AcmeError {
    internal(e)
}

/// A random URL-safe identifier (128 bits).
pub fn random_id() -> Result<String, AcmeError> {
    let mut b = [0u8; 16];
    aws_lc_rs::rand::fill(&mut b).map_err(|_| internal("the OS random generator failed"))?;
    Ok(b64url_encode(b))
}

impl AcmeService {
    /// The service for `authority` with `config`.
    pub fn new(authority: Arc<Authority>, config: AcmeConfig) -> Result<AcmeService, String> {
        let resolver: SocketAddr = config
            .dns_resolver
            .parse()
            .map_err(|e| format!("acme.dns_resolver {:?}: {e}", config.dns_resolver))?;
        // BR 4.2.1: validation data is reused for at most 398 days.
        let settings = Settings {
            authz_reuse_secs: seconds("authz_reuse", &config.authz_reuse, 398)?,
            caa_recheck_after_secs: seconds("caa_recheck_after", &config.caa_recheck_after, 30)?,
            orders_per_account: RateLimit::parse(&config.rate_limits.orders_per_account)
                .map_err(|e| format!("acme.rate_limits.orders_per_account: {e}"))?,
            certificates_per_identifier: RateLimit::parse(
                &config.rate_limits.certificates_per_identifier,
            )
            .map_err(|e| format!("acme.rate_limits.certificates_per_identifier: {e}"))?,
        };
        let profiles = authority.profiles();
        for (directory, offered) in &config.directory_profiles {
            let own = profiles.get(directory).ok_or_else(|| {
                format!("acme.directory_profiles: no profile {directory:?} to serve a directory")
            })?;
            for name in offered {
                let p = profiles.get(name).ok_or_else(|| {
                    format!("acme.directory_profiles.{directory}: no profile {name:?}")
                })?;
                if p.public != own.public {
                    return Err(format!(
                        "acme.directory_profiles.{directory}: profile {name:?} is {} but the \
                         directory's profile is {} (validation rules differ)",
                        if p.public { "public" } else { "private" },
                        if own.public { "public" } else { "private" },
                    ));
                }
            }
        }
        let base = ValidationConfig {
            http01_port: config.http01_port,
            tlsalpn01_port: config.tlsalpn01_port,
            dns_resolver: resolver,
            allow_private_addresses: false,
            allow_loopback: config.allow_loopback,
            caa_identities: config.caa_identities.clone(),
            ..ValidationConfig::default()
        };
        let public_validator = Validator::new(base.clone()).map_err(|e| e.to_string())?;
        let private_validator = Validator::new(ValidationConfig {
            allow_private_addresses: true,
            ..base
        })
        .map_err(|e| e.to_string())?;
        Ok(AcmeService {
            authority,
            config,
            settings,
            nonce_key: tokio::sync::OnceCell::new(),
            private_validator,
            public_validator,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &AcmeConfig {
        &self.config
    }

    /// The authority.
    pub fn authority(&self) -> &Arc<Authority> {
        &self.authority
    }

    /// The profile a directory serves; `None` if there is no such profile.
    pub fn profile(&self, name: &str) -> Option<&Profile> {
        if !self.config.enabled {
            return None;
        }
        self.authority.profiles().get(name)
    }

    /// The profiles the directory `directory` offers (ACME profiles extension): its own
    /// first, then the configured ones.
    pub fn offered_profiles(&self, directory: &str) -> Vec<&Profile> {
        let mut out: Vec<&Profile> = self.profile(directory).into_iter().collect();
        for name in self
            .config
            .directory_profiles
            .get(directory)
            .into_iter()
            .flatten()
        {
            if let Some(p) = self.authority.profiles().get(name)
                && !out.iter().any(|o| o.name == p.name)
            {
                out.push(p);
            }
        }
        out
    }

    /// Whether the directory of `profile` requires external account binding.
    pub fn eab_required(&self, profile: &str) -> bool {
        self.config
            .eab_required_profiles
            .iter()
            .any(|p| p == profile)
    }

    fn validator(&self, profile: &Profile) -> &Validator {
        let private = !profile.public
            && match &self.config.private_address_profiles {
                None => true,
                Some(list) => list.iter().any(|p| p == &profile.name),
            };
        if private {
            &self.private_validator
        } else {
            &self.public_validator
        }
    }

    fn now(&self) -> i64 {
        self.authority.now_unix()
    }

    fn audit(
        &self,
        actor: &str,
        action: &str,
        subject: &str,
        pairs: &[(&str, &str)],
    ) -> NewAuditEntry {
        NewAuditEntry {
            ts: self.now(),
            actor: actor.to_string(),
            action: action.to_string(),
            subject: subject.to_string(),
            detail: audit_detail(pairs),
        }
    }

    // ---- nonces ----

    /// The deployment's nonce key (read from the store once).
    async fn nonce_key(&self) -> Result<&NonceKey, AcmeError> {
        self.nonce_key
            .get_or_try_init(|| async {
                let bytes = self
                    .authority
                    .store()
                    .acme()
                    .nonce_key()
                    .await
                    .map_err(store_err)?;
                Ok(NonceKey::new(&bytes))
            })
            .await
    }

    /// A fresh nonce; any node accepts it once (nothing is written until it is used).
    pub async fn new_nonce(&self) -> Result<String, AcmeError> {
        self.nonce_key().await?.issue(self.now())
    }

    /// Steps 2–6 of the handler flow (RFC 8555 §6.2–6.5) on a body whose content type was
    /// checked: parse, `url`, nonce, key, signature. `account_url` turns an account id into
    /// its URL (the `kid`).
    pub async fn authenticate(
        &self,
        body: &[u8],
        request_url: &str,
        mode: KeyMode,
        account_url: &(dyn Fn(&str) -> String + Sync),
    ) -> Result<Authenticated, AcmeError> {
        let parsed = jws::parse(body)?;
        parsed.check_url(request_url)?;
        // Authentic and unexpired now; redeemed (written) only once the signature verified,
        // so a forged request costs no write.
        let nonce_expires =
            self.nonce_key()
                .await?
                .check(parsed.nonce(), self.now(), NONCE_TTL_SECS)?;
        let verified = self.verify_key(parsed, mode, account_url).await?;
        let fresh = self
            .authority
            .store()
            .acme()
            .redeem_nonce(verified.jws.nonce(), nonce_expires)
            .await
            .map_err(store_err)?;
        if !fresh {
            return Err(AcmeError::bad_nonce(
                "the nonce is unknown, expired or already used",
            ));
        }
        Ok(verified)
    }

    /// The key rules (`jwk` vs `kid`) and the signature.
    async fn verify_key(
        &self,
        parsed: ParsedJws,
        mode: KeyMode,
        account_url: &(dyn Fn(&str) -> String + Sync),
    ) -> Result<Authenticated, AcmeError> {
        match (&parsed.header.key, mode) {
            (moor_core::acme::KeyRef::Jwk(_), KeyMode::Jwk | KeyMode::Either) => {
                let key = parsed.verify_with_embedded_jwk()?.clone();
                Ok(Authenticated {
                    jws: parsed,
                    key,
                    account: None,
                })
            }
            (moor_core::acme::KeyRef::Kid(kid), KeyMode::Kid | KeyMode::Either) => {
                let account = self.account_of_kid(kid, account_url).await?;
                let key = Jwk::from_json(account.jwk.as_bytes())?;
                parsed.verify(&key)?;
                Ok(Authenticated {
                    jws: parsed,
                    key,
                    account: Some(account),
                })
            }
            (_, KeyMode::Jwk) => Err(parsed.require_jwk().map(|_| ()).unwrap_err()),
            (_, KeyMode::Kid) => Err(parsed.require_kid().map(|_| ()).unwrap_err()),
        }
    }

    async fn account_of_kid(
        &self,
        kid: &str,
        account_url: &(dyn Fn(&str) -> String + Sync),
    ) -> Result<AcmeAccount, AcmeError> {
        let unknown = || {
            AcmeError::new(
                ProblemType::AccountDoesNotExist,
                format!("no account with URL {kid:?}"),
            )
        };
        let id = kid.rsplit('/').next().unwrap_or_default();
        if id.is_empty() || account_url(id) != kid {
            return Err(unknown());
        }
        let account = self
            .authority
            .store()
            .acme()
            .account(id)
            .await
            .map_err(store_err)?
            .ok_or_else(unknown)?;
        if account.status != "valid" {
            return Err(
                AcmeError::unauthorized(format!("the account is {}", account.status))
                    .with_status(401),
            );
        }
        Ok(account)
    }
}

/// An authority error as an ACME problem.
pub fn authority_problem(e: &AuthorityError) -> moor_core::acme::Problem {
    use moor_core::acme::Problem;
    match e {
        AuthorityError::Refused(r) => {
            let kind = match r.code {
                moor_core::RefusalCode::BadPublicKey | moor_core::RefusalCode::BlockedKey => {
                    ProblemType::BadPublicKey
                }
                moor_core::RefusalCode::RejectedIdentifier => ProblemType::RejectedIdentifier,
                _ => ProblemType::BadCsr,
            };
            Problem::new(kind, r.detail.clone())
        }
        AuthorityError::Unauthorized(m) => Problem::new(ProblemType::Unauthorized, m.clone()),
        AuthorityError::AlreadyRevoked(s) => Problem::new(
            ProblemType::AlreadyRevoked,
            format!("certificate {s} is already revoked"),
        ),
        AuthorityError::BadRequest(m) => Problem::new(ProblemType::Malformed, m.clone()),
        AuthorityError::NotFound(m) => {
            Problem::new(ProblemType::Malformed, format!("{m} not found")).with_status(404)
        }
        other => {
            tracing::error!(error = %other, "ACME: authority error");
            Problem::new(ProblemType::ServerInternal, "internal error")
        }
    }
}

/// A Unix time as RFC 3339 (`2026-01-02T03:04:05Z`), as ACME objects carry times.
pub fn rfc3339(ts: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ts)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}
