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

/// The newAccount payload (RFC 8555 §7.3).
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct NewAccountPayload {
    #[serde(default)]
    contact: Option<Vec<String>>,
    #[serde(default)]
    terms_of_service_agreed: Option<bool>,
    #[serde(default)]
    only_return_existing: Option<bool>,
    #[serde(default)]
    external_account_binding: Option<Value>,
}

/// An account update (RFC 8555 §7.3.2, §7.3.6).
#[derive(Debug, Deserialize, Default)]
struct AccountUpdatePayload {
    #[serde(default)]
    contact: Option<Vec<String>>,
    #[serde(default)]
    status: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewOrderPayload {
    identifiers: Vec<AcmeIdentifier>,
    #[serde(default)]
    not_before: Option<String>,
    #[serde(default)]
    not_after: Option<String>,
}

#[derive(Debug, Deserialize)]
struct FinalizePayload {
    csr: String,
}

#[derive(Debug, Deserialize)]
struct RevokePayload {
    certificate: String,
    #[serde(default)]
    reason: Option<i32>,
}

/// The outcome of newAccount.
pub struct AccountOutcome {
    /// The account.
    pub account: AcmeAccount,
    /// True when it was created by this request (201), false when it existed (200).
    pub created: bool,
}

/// The ACME server state machine over the store.
pub struct AcmeService {
    authority: Arc<Authority>,
    config: AcmeConfig,
    /// Validator that may reach private addresses, and one that may not.
    private_validator: Validator,
    public_validator: Validator,
}

fn internal(e: impl std::fmt::Display) -> AcmeError {
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

/// An ACME identifier as moor-core's [`Identifier`] (checked against `rules`).
fn parse_acme_identifier(
    id: &AcmeIdentifier,
    rules: IdentifierRules,
) -> Result<Identifier, AcmeError> {
    let parsed = match id.kind.as_str() {
        "dns" => {
            if id.value.parse::<std::net::IpAddr>().is_ok() {
                return Err(AcmeError::new(
                    ProblemType::Malformed,
                    format!(
                        "{:?} is an IP address: use the ip identifier type",
                        id.value
                    ),
                ));
            }
            parse_identifier(&id.value, rules)
        }
        "ip" => moor_core::identifier::parse_ip(&id.value, rules),
        other => {
            return Err(AcmeError::new(
                ProblemType::UnsupportedIdentifier,
                format!("identifier type {other:?} is not supported (dns, ip)"),
            ));
        }
    }
    .map_err(|r| AcmeError::new(ProblemType::RejectedIdentifier, r.detail))?;
    let expected = match id.kind.as_str() {
        "dns" => matches!(parsed, Identifier::Dns(_)),
        _ => matches!(parsed, Identifier::Ip(_)),
    };
    if !expected {
        return Err(AcmeError::new(
            ProblemType::RejectedIdentifier,
            format!("{:?} is not a {} identifier", id.value, id.kind),
        ));
    }
    Ok(parsed)
}

fn to_acme_identifier(id: &Identifier) -> AcmeIdentifier {
    AcmeIdentifier {
        kind: match id {
            Identifier::Ip(_) => "ip".into(),
            _ => "dns".into(),
        },
        value: id.value(),
    }
}

/// The authorization identifier of an order identifier: a wildcard is authorized on its
/// base name (RFC 8555 §7.1.3).
fn authz_identifier(id: &Identifier) -> (AcmeIdentifier, bool) {
    let mut a = to_acme_identifier(id);
    let wildcard = id.is_wildcard();
    if wildcard {
        a.value = a.value.trim_start_matches("*.").to_string();
    }
    (a, wildcard)
}

/// Checks an identifier against the profile's SAN rules (the same ones issuance applies).
fn check_against_profile(profile: &Profile, id: &Identifier) -> Result<(), AcmeError> {
    let reject = |m: String| Err(AcmeError::new(ProblemType::RejectedIdentifier, m));
    if !profile.san_types.contains(&id.kind()) {
        return reject(format!(
            "profile {} does not allow {} identifiers",
            profile.name,
            id.kind()
        ));
    }
    if id.is_wildcard() && !profile.allow_wildcards {
        return reject(format!(
            "profile {} does not allow wildcard names ({})",
            profile.name,
            id.value()
        ));
    }
    if profile.deny.iter().any(|p| matches_pattern(id, p)) {
        return reject(format!(
            "{} is denied by profile {}",
            id.value(),
            profile.name
        ));
    }
    if !profile.allow.is_empty() && !profile.allow.iter().any(|p| matches_pattern(id, p)) {
        return reject(format!(
            "{} is not allowed by profile {}",
            id.value(),
            profile.name
        ));
    }
    Ok(())
}

fn parse_rfc3339(s: &str) -> Result<i64, AcmeError> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|e| AcmeError::malformed(format!("bad RFC 3339 date {s:?}: {e}")))
}

impl AcmeService {
    /// The service for `authority` with `config`.
    pub fn new(authority: Arc<Authority>, config: AcmeConfig) -> Result<AcmeService, String> {
        let resolver: SocketAddr = config
            .dns_resolver
            .parse()
            .map_err(|e| format!("acme.dns_resolver {:?}: {e}", config.dns_resolver))?;
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

    /// A fresh nonce, stored so any node accepts it once.
    pub async fn new_nonce(&self) -> Result<String, AcmeError> {
        let n = random_id()?;
        self.authority
            .store()
            .acme()
            .insert_nonce(&n, self.now() + NONCE_TTL_SECS)
            .await
            .map_err(store_err)?;
        Ok(n)
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
        let fresh = self
            .authority
            .store()
            .acme()
            .consume_nonce(parsed.nonce(), self.now())
            .await
            .map_err(store_err)?;
        if !fresh {
            return Err(AcmeError::bad_nonce(
                "the nonce is unknown, expired or already used",
            ));
        }
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

    // ---- accounts ----

    /// newAccount (RFC 8555 §7.3): find by key, or create (with EAB when required).
    pub async fn new_account(
        &self,
        profile: &str,
        req: &Authenticated,
    ) -> Result<AccountOutcome, AcmeError> {
        let payload: NewAccountPayload = req.jws.payload_json()?;
        let store = self.authority.store().acme();
        if let Some(existing) = store
            .account_by_thumbprint(req.key.key_id())
            .await
            .map_err(store_err)?
        {
            if existing.status != "valid" {
                return Err(
                    AcmeError::unauthorized(format!("the account is {}", existing.status))
                        .with_status(401),
                );
            }
            return Ok(AccountOutcome {
                account: existing,
                created: false,
            });
        }
        if payload.only_return_existing == Some(true) {
            return Err(AcmeError::new(
                ProblemType::AccountDoesNotExist,
                "no account has this key",
            ));
        }
        if !self.config.terms_of_service.is_empty() && payload.terms_of_service_agreed != Some(true)
        {
            return Err(AcmeError::new(
                ProblemType::UserActionRequired,
                "the terms of service must be agreed to",
            ));
        }
        let contacts = check_contacts(payload.contact.unwrap_or_default())?;
        req.key.check_key_policy()?;
        let mut eab_kid = None;
        match &payload.external_account_binding {
            Some(binding) => {
                let eab = ExternalAccountBinding::parse(binding, &req.jws.header.url, &req.key)?;
                let bad = |d: &str| {
                    AcmeError::unauthorized(format!("external account binding: {d}"))
                        .with_status(401)
                };
                let cred: AcmeEab = store
                    .eab(eab.kid())
                    .await
                    .map_err(store_err)?
                    .ok_or_else(|| bad("unknown kid"))?;
                if cred.directory.as_deref().is_some_and(|d| d != profile) {
                    return Err(bad("the credential is for another directory"));
                }
                if cred.bound_account.is_some() {
                    return Err(bad("the credential is already bound to an account"));
                }
                eab.verify(&cred.mac_key)?;
                eab_kid = Some(cred.kid);
            }
            None if self.eab_required(profile) => {
                return Err(AcmeError::new(
                    ProblemType::ExternalAccountRequired,
                    "this directory requires external account binding",
                ));
            }
            None => {}
        }
        let now = self.now();
        let account = AcmeAccount {
            id: random_id()?,
            key_thumbprint: req.key.key_id().to_string(),
            jwk: req.key.to_json().to_string(),
            status: "valid".into(),
            contacts,
            directory: profile.to_string(),
            eab_kid: eab_kid.clone(),
            created_at: now,
            updated_at: now,
        };
        let actor = format!("acme:{}", account.id);
        let audit = self.audit(
            &actor,
            "acme.account.create",
            &account.id,
            &[
                ("directory", profile),
                ("eab_kid", eab_kid.as_deref().unwrap_or("")),
            ],
        );
        match store.create_account(&account, audit).await {
            Ok(()) => Ok(AccountOutcome {
                account,
                created: true,
            }),
            Err(StoreError::Conflict { .. }) if eab_kid.is_some() => Err(AcmeError::unauthorized(
                "external account binding: the credential is already bound to an account",
            )
            .with_status(401)),
            Err(StoreError::Conflict { .. }) => {
                // Raced with a request creating the same key's account: that one wins.
                let existing = store
                    .account_by_thumbprint(req.key.key_id())
                    .await
                    .map_err(store_err)?
                    .ok_or_else(|| internal("account conflict without an account"))?;
                Ok(AccountOutcome {
                    account: existing,
                    created: false,
                })
            }
            Err(StoreError::NotFound { .. }) => Err(AcmeError::unauthorized(
                "external account binding: unknown credential",
            )
            .with_status(401)),
            Err(e) => Err(store_err(e)),
        }
    }

    /// POST to the account URL: POST-as-GET, contact update or deactivation.
    pub async fn update_account(
        &self,
        account_id: &str,
        req: &Authenticated,
    ) -> Result<AcmeAccount, AcmeError> {
        let account = req.account()?;
        if account.id != account_id {
            return Err(AcmeError::unauthorized(
                "the kid does not name this account",
            ));
        }
        if req.jws.is_post_as_get() {
            return Ok(account.clone());
        }
        let payload: AccountUpdatePayload = req.jws.payload_json()?;
        let store = self.authority.store().acme();
        let actor = format!("acme:{}", account.id);
        let now = self.now();
        if let Some(contacts) = payload.contact {
            let contacts = check_contacts(contacts)?;
            let audit = self.audit(&actor, "acme.account.update", &account.id, &[]);
            store
                .update_account_contacts(&account.id, &contacts, now, audit)
                .await
                .map_err(store_err)?;
        }
        match payload.status.as_deref() {
            None => {}
            Some("deactivated") => {
                let audit = self.audit(&actor, "acme.account.deactivate", &account.id, &[]);
                store
                    .deactivate_account(&account.id, now, audit)
                    .await
                    .map_err(store_err)?;
            }
            Some(other) => {
                return Err(AcmeError::malformed(format!(
                    "an account can only be set to deactivated, not {other:?}"
                )));
            }
        }
        store
            .account(&account.id)
            .await
            .map_err(store_err)?
            .ok_or_else(|| internal("account vanished"))
    }

    /// keyChange (RFC 8555 §7.3.5). 409 `conflict` when another account has the new key.
    pub async fn key_change(
        &self,
        req: &Authenticated,
        account_url: &str,
    ) -> Result<AcmeAccount, AcmeError> {
        let account = req.account()?;
        let new_key = jws::verify_key_change(&req.jws, account_url, &req.key)?;
        new_key.check_key_policy()?;
        let store = self.authority.store().acme();
        let conflict = || {
            AcmeError::new(
                ProblemType::Conflict,
                "another account already uses the new key",
            )
            .with_status(409)
        };
        if store
            .account_by_thumbprint(new_key.key_id())
            .await
            .map_err(store_err)?
            .is_some()
        {
            return Err(conflict());
        }
        let actor = format!("acme:{}", account.id);
        let audit = self.audit(
            &actor,
            "acme.account.key_change",
            &account.id,
            &[("new_key", new_key.key_id())],
        );
        match store
            .change_account_key(
                &account.id,
                new_key.key_id(),
                new_key.to_json(),
                self.now(),
                audit,
            )
            .await
        {
            Ok(()) => {}
            Err(StoreError::Conflict { .. }) => return Err(conflict()),
            Err(e) => return Err(store_err(e)),
        }
        store
            .account(&account.id)
            .await
            .map_err(store_err)?
            .ok_or_else(|| internal("account vanished"))
    }

    // ---- orders ----

    /// newOrder (RFC 8555 §7.4): identifiers checked against the profile; valid
    /// authorizations of the account are reused.
    pub async fn new_order(
        &self,
        profile_name: &str,
        req: &Authenticated,
    ) -> Result<AcmeOrder, AcmeError> {
        let account = req.account()?;
        let profile = self
            .profile(profile_name)
            .ok_or_else(|| AcmeError::malformed("no such directory"))?;
        let payload: NewOrderPayload = req.jws.payload_json()?;
        if payload.identifiers.is_empty() {
            return Err(AcmeError::malformed(
                "an order needs at least one identifier",
            ));
        }
        if payload.identifiers.len() > MAX_ORDER_IDENTIFIERS {
            return Err(AcmeError::new(
                ProblemType::RejectedIdentifier,
                format!("at most {MAX_ORDER_IDENTIFIERS} identifiers per order"),
            ));
        }
        let not_before = payload
            .not_before
            .as_deref()
            .map(parse_rfc3339)
            .transpose()?;
        let not_after = payload
            .not_after
            .as_deref()
            .map(parse_rfc3339)
            .transpose()?;
        if not_before.is_some() || not_after.is_some() {
            return Err(AcmeError::malformed(
                "notBefore and notAfter are not supported: the profile sets the validity",
            ));
        }
        let rules = IdentifierRules {
            public: profile.public,
        };
        let mut ids = BTreeSet::new();
        for raw in &payload.identifiers {
            let id = parse_acme_identifier(raw, rules)?;
            check_against_profile(profile, &id)?;
            ids.insert(id);
        }
        let store = self.authority.store().acme();
        let now = self.now();
        let order_id = random_id()?;
        let mut authz_ids = Vec::new();
        let mut new_authzs = Vec::new();
        for id in &ids {
            let (aid, wildcard) = authz_identifier(id);
            if let Some(reuse) = store
                .reusable_authorization(&account.id, &aid, wildcard, now)
                .await
                .map_err(store_err)?
            {
                authz_ids.push(reuse.id);
                continue;
            }
            let authz_id = random_id()?;
            let mut challenges = Vec::new();
            for kind in ChallengeType::offered_for(id) {
                challenges.push(AcmeChallenge {
                    id: random_id()?,
                    authz_id: authz_id.clone(),
                    kind: kind.as_str().to_string(),
                    token: random_id()?,
                    status: "pending".into(),
                    validated_at: None,
                    error: None,
                    records: None,
                    processing_since: None,
                });
            }
            authz_ids.push(authz_id.clone());
            new_authzs.push(AcmeAuthorization {
                id: authz_id,
                account_id: account.id.clone(),
                identifier: aid,
                wildcard,
                status: "pending".into(),
                expires_at: now + ORDER_TTL_SECS,
                created_at: now,
                updated_at: now,
                challenges,
            });
        }
        // All reused: the order is ready at once.
        let status = if new_authzs.is_empty() {
            "ready"
        } else {
            "pending"
        };
        let order = AcmeOrder {
            id: order_id,
            account_id: account.id.clone(),
            directory: profile_name.to_string(),
            status: status.into(),
            identifiers: ids.iter().map(to_acme_identifier).collect(),
            not_before,
            not_after,
            expires_at: now + ORDER_TTL_SECS,
            error: None,
            certificate_serial: None,
            replaces: None,
            profile: Some(profile_name.to_string()),
            csr: None,
            processing_since: None,
            authorizations: authz_ids,
            created_at: now,
            updated_at: now,
        };
        let names: Vec<String> = ids.iter().map(|i| i.tagged()).collect();
        let audit = self.audit(
            &format!("acme:{}", account.id),
            "acme.order.create",
            &order.id,
            &[
                ("directory", profile_name),
                ("identifiers", &names.join(",")),
            ],
        );
        store
            .create_order(&order, &new_authzs, audit)
            .await
            .map_err(store_err)?;
        Ok(order)
    }

    /// An order of the account (POST-as-GET).
    pub async fn order(&self, order_id: &str, req: &Authenticated) -> Result<AcmeOrder, AcmeError> {
        req.jws.expect_post_as_get()?;
        self.owned_order(order_id, req.account()?).await
    }

    async fn owned_order(
        &self,
        order_id: &str,
        account: &AcmeAccount,
    ) -> Result<AcmeOrder, AcmeError> {
        let order = self
            .authority
            .store()
            .acme()
            .order(order_id)
            .await
            .map_err(store_err)?
            .filter(|o| o.account_id == account.id)
            .ok_or_else(|| AcmeError::malformed("no such order").with_status(404))?;
        Ok(expire_order(order, self.now()))
    }

    /// The order's authorizations for the orders list of the account.
    pub async fn orders_of_account(&self, account: &AcmeAccount) -> Result<Vec<String>, AcmeError> {
        self.authority
            .store()
            .acme()
            .orders_of_account(&account.id, None, 1000)
            .await
            .map_err(store_err)
    }

    /// An authorization of the account: POST-as-GET, or deactivation.
    pub async fn authorization(
        self: &Arc<Self>,
        profile_name: &str,
        authz_id: &str,
        req: &Authenticated,
        account_uri: &str,
    ) -> Result<AcmeAuthorization, AcmeError> {
        let account = req.account()?;
        let store = self.authority.store().acme();
        let authz = self.owned_authz(authz_id, account).await?;
        if req.jws.is_post_as_get() {
            // Clients poll the authorization: a validation whose node died is begun again.
            let stale: Vec<&AcmeChallenge> = authz
                .challenges
                .iter()
                .filter(|c| self.abandoned(c))
                .collect();
            if stale.is_empty() {
                return Ok(authz);
            }
            for c in stale {
                self.start_validation(profile_name, c, &authz, req, account_uri)
                    .await?;
            }
            return self.owned_authz(authz_id, account).await;
        }
        let payload: AccountUpdatePayload = req.jws.payload_json()?;
        if payload.status.as_deref() != Some("deactivated") || payload.contact.is_some() {
            return Err(AcmeError::malformed(
                "an authorization can only be updated to status deactivated",
            ));
        }
        let audit = self.audit(
            &format!("acme:{}", account.id),
            "acme.authz.deactivate",
            authz_id,
            &[],
        );
        match store
            .deactivate_authorization(authz_id, self.now(), audit)
            .await
        {
            Ok(()) => {}
            Err(StoreError::Conflict { .. }) => {
                return Err(AcmeError::malformed(format!(
                    "an authorization that is {} cannot be deactivated",
                    authz.status
                )));
            }
            Err(e) => return Err(store_err(e)),
        }
        self.owned_authz(authz_id, account).await
    }

    async fn owned_authz(
        &self,
        authz_id: &str,
        account: &AcmeAccount,
    ) -> Result<AcmeAuthorization, AcmeError> {
        self.authority
            .store()
            .acme()
            .authorization(authz_id)
            .await
            .map_err(store_err)?
            .filter(|a| a.account_id == account.id)
            .map(|mut a| {
                // An unfinished authorization past its expiry is invalid (RFC 8555 §7.1.6).
                if a.status == "pending" && a.expires_at <= self.now() {
                    a.status = "invalid".into();
                }
                a
            })
            .ok_or_else(|| AcmeError::malformed("no such authorization").with_status(404))
    }

    /// POST to a challenge: an empty object starts validation (once, whichever node
    /// is asked, RFC 8555 §7.5.1); POST-as-GET reads it. Returns the challenge and its
    /// authorization id.
    pub async fn challenge(
        self: &Arc<Self>,
        profile_name: &str,
        challenge_id: &str,
        req: &Authenticated,
        account_uri: &str,
    ) -> Result<AcmeChallenge, AcmeError> {
        let account = req.account()?;
        let store = self.authority.store().acme();
        let not_found = || AcmeError::malformed("no such challenge").with_status(404);
        let chall = store
            .challenge(challenge_id)
            .await
            .map_err(store_err)?
            .ok_or_else(not_found)?;
        let authz = self
            .owned_authz(&chall.authz_id, account)
            .await
            .map_err(|_| not_found())?;
        if req.jws.is_post_as_get() {
            return Ok(chall);
        }
        // The payload is `{}` (RFC 8555 §7.5.1); its members are ignored.
        req.jws.payload_object()?;
        if chall.status == "pending" || self.abandoned(&chall) {
            self.start_validation(profile_name, &chall, &authz, req, account_uri)
                .await?;
        }
        store
            .challenge(challenge_id)
            .await
            .map_err(store_err)?
            .ok_or_else(not_found)
    }

    /// A validation begun [`PROCESSING_TAKEOVER_SECS`] ago and never finished: its node
    /// died, and any node may begin it again.
    fn abandoned(&self, chall: &AcmeChallenge) -> bool {
        chall.status == "processing"
            && chall
                .processing_since
                .is_some_and(|t| t <= self.now() - PROCESSING_TAKEOVER_SECS)
    }

    /// `begin_validation` (one caller wins, across nodes), then the validation in the
    /// background.
    async fn start_validation(
        self: &Arc<Self>,
        profile_name: &str,
        chall: &AcmeChallenge,
        authz: &AcmeAuthorization,
        req: &Authenticated,
        account_uri: &str,
    ) -> Result<(), AcmeError> {
        let account = req.account()?;
        let actor = format!("acme:{}", account.id);
        let audit = self.audit(
            &actor,
            "acme.challenge.begin",
            &chall.id,
            &[("type", &chall.kind)],
        );
        if self
            .authority
            .store()
            .acme()
            .begin_validation(&chall.id, self.now(), audit)
            .await
            .map_err(store_err)?
        {
            let profile = self
                .profile(profile_name)
                .ok_or_else(|| AcmeError::malformed("no such directory"))?
                .clone();
            let svc = self.clone();
            let key = req.key.clone();
            let account_uri = account_uri.to_string();
            let (chall, authz) = (chall.clone(), authz.clone());
            tokio::spawn(async move {
                svc.validate(profile, authz, chall, key, actor, account_uri)
                    .await;
            });
        }
        Ok(())
    }

    async fn validate(
        &self,
        profile: Profile,
        authz: AcmeAuthorization,
        chall: AcmeChallenge,
        key: Jwk,
        actor: String,
        account_uri: String,
    ) {
        let validator = self.validator(&profile);
        let (valid, error, records) = match (
            ChallengeType::parse(&chall.kind),
            identifier_of_authz(&authz),
        ) {
            (Some(kind), Some(id)) => {
                let key_authz = key.key_authorization(&chall.token);
                let v = validator
                    .validate(kind, &id, &chall.token, &key_authz)
                    .await;
                let records: Vec<Value> = v
                    .records
                    .iter()
                    .map(|r| {
                        serde_json::json!({
                            "url": r.url,
                            "hostname": r.hostname,
                            "port": r.port.map(|p| p.to_string()),
                            "addressesResolved": r.addresses_resolved.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
                            "addressUsed": r.address_used.map(|a| a.to_string()),
                        })
                    })
                    .collect();
                let records = serde_json::to_string(&records).ok();
                match v.outcome.problem() {
                    None => {
                        // CAA (RFC 8659) for the name actually issued (the wildcard, if any).
                        let caa_id = if authz.wildcard {
                            Identifier::Dns(format!("*.{}", authz.identifier.value))
                        } else {
                            id.clone()
                        };
                        let caa = validator.check_caa(&caa_id, &account_uri, kind).await;
                        if caa.permitted {
                            (true, None, records)
                        } else {
                            let p = moor_core::acme::Problem::new(ProblemType::Caa, caa.reason);
                            (
                                false,
                                Some(String::from_utf8_lossy(&p.to_json()).into_owned()),
                                records,
                            )
                        }
                    }
                    Some(problem) => {
                        let kind = ProblemType::from_urn(problem.urn())
                            .unwrap_or(ProblemType::IncorrectResponse);
                        let p = moor_core::acme::Problem::new(kind, problem.detail.clone())
                            .with_identifier(problem_identifier(&authz.identifier));
                        (
                            false,
                            Some(String::from_utf8_lossy(&p.to_json()).into_owned()),
                            records,
                        )
                    }
                }
            }
            _ => {
                let p = moor_core::acme::Problem::new(
                    ProblemType::Malformed,
                    "unsupported challenge or identifier",
                );
                (
                    false,
                    Some(String::from_utf8_lossy(&p.to_json()).into_owned()),
                    None,
                )
            }
        };
        let result = if valid { "valid" } else { "invalid" };
        let audit = self.audit(
            &actor,
            "acme.challenge.finish",
            &chall.id,
            &[
                ("type", &chall.kind),
                ("identifier", &authz.identifier.value),
                ("result", result),
            ],
        );
        if let Err(e) = self
            .authority
            .store()
            .acme()
            .finish_validation(
                &chall.id,
                valid,
                error.as_deref(),
                records.as_deref(),
                self.now(),
                audit,
            )
            .await
        {
            tracing::warn!(error = %e, challenge = %chall.id, "could not record the validation");
        }
    }

    /// finalize (RFC 8555 §7.4): the CSR must name exactly the order's identifiers; the
    /// certificate is issued through [`Authority::issue`] by `acme:<account id>`.
    pub async fn finalize(
        &self,
        order_id: &str,
        req: &Authenticated,
    ) -> Result<AcmeOrder, AcmeError> {
        let account = req.account()?;
        let order = self.owned_order(order_id, account).await?;
        let payload: FinalizePayload = req.jws.payload_json()?;
        if order.status != "ready" {
            if order.status == "processing" || order.status == "valid" {
                return Ok(order);
            }
            return Err(AcmeError::new(
                ProblemType::OrderNotReady,
                format!("the order is {}, not ready", order.status),
            ));
        }
        let der = b64url_decode(&payload.csr, "csr")?;
        let bad_csr = |d: String| AcmeError::new(ProblemType::BadCsr, d);
        let csr = moor_core::csr::verify_csr(&der).map_err(|r| bad_csr(r.detail))?;
        let profile = self
            .profile(&order.directory)
            .ok_or_else(|| AcmeError::malformed("no such directory"))?;
        let rules = IdentifierRules {
            public: profile.public,
        };
        let mut csr_ids = BTreeSet::new();
        for id in &csr.sans {
            let a = to_acme_identifier(id);
            let checked =
                parse_acme_identifier(&a, rules).map_err(|e| bad_csr(e.detail().to_string()))?;
            csr_ids.insert(checked);
        }
        if let Some(cn) = &csr.common_name {
            let a = AcmeIdentifier {
                kind: if cn.parse::<std::net::IpAddr>().is_ok() {
                    "ip"
                } else {
                    "dns"
                }
                .into(),
                value: cn.clone(),
            };
            let checked = parse_acme_identifier(&a, rules)
                .map_err(|e| bad_csr(format!("CN: {}", e.detail())))?;
            if !csr_ids.contains(&checked) {
                return Err(bad_csr("the CSR's CN is not one of its SANs".into()));
            }
        }
        let mut order_ids = BTreeSet::new();
        for a in &order.identifiers {
            order_ids.insert(parse_acme_identifier(a, rules)?);
        }
        if csr_ids != order_ids {
            return Err(bad_csr(
                "the CSR's names are not exactly the order's identifiers".into(),
            ));
        }
        let store = self.authority.store().acme();
        let actor = format!("acme:{}", account.id);
        let audit = self.audit(&actor, "acme.order.finalize", &order.id, &[]);
        if !store
            .begin_finalize(&order.id, &der, self.now(), audit)
            .await
            .map_err(store_err)?
        {
            return self.owned_order(order_id, account).await;
        }
        let issued = self
            .authority
            .issue(
                &Requester::acme_account(&account.id),
                IssueRequest {
                    profile: order.directory.clone(),
                    subject: SubjectSource::Csr(der),
                    lifetime: None,
                },
            )
            .await;
        let (outcome, err) = match &issued {
            Ok(i) => (Ok(i.serial.clone()), None),
            Err(e) => {
                let p = authority_problem(e);
                (
                    Err(String::from_utf8_lossy(&p.to_json()).into_owned()),
                    Some(p),
                )
            }
        };
        let audit = self.audit(
            &actor,
            "acme.order.finish",
            &order.id,
            &[("serial", outcome.as_ref().map(|s| s.as_str()).unwrap_or(""))],
        );
        store
            .finish_order(
                &order.id,
                outcome.as_ref().map(|s| s.as_str()).map_err(|s| s.as_str()),
                self.now(),
                audit,
            )
            .await
            .map_err(store_err)?;
        if let Some(p) = err {
            return Err(AcmeError::from(p));
        }
        self.owned_order(order_id, account).await
    }

    /// The certificate of a valid order with its chain, PEM (RFC 8555 §7.4.2).
    pub async fn certificate_chain(
        &self,
        order_id: &str,
        req: &Authenticated,
    ) -> Result<String, AcmeError> {
        req.jws.expect_post_as_get()?;
        let order = self.owned_order(order_id, req.account()?).await?;
        let serial = order
            .certificate_serial
            .ok_or_else(|| AcmeError::malformed("the order has no certificate").with_status(404))?;
        let rec = self.certificate_record(&serial).await?;
        let mut pem = pem_block(&rec.der);
        if let Some(issuer) = self.authority.issuer_cert(&rec.issuer_id) {
            pem.push_str(&pem_block(issuer));
        }
        Ok(pem)
    }

    async fn certificate_record(&self, serial: &str) -> Result<CertificateRecord, AcmeError> {
        self.authority
            .store()
            .get_certificate(serial)
            .await
            .map_err(store_err)?
            .ok_or_else(|| AcmeError::malformed("no such certificate").with_status(404))
    }

    /// revokeCert (RFC 8555 §7.6): by the account that ordered the certificate, or signed
    /// with the certificate's key; through [`Authority::revoke`].
    pub async fn revoke(&self, req: &Authenticated) -> Result<(), AcmeError> {
        let payload: RevokePayload = req.jws.payload_json()?;
        let reason = payload.reason.unwrap_or(0);
        if !(0..=10).contains(&reason) || reason == 6 || reason == 7 {
            return Err(AcmeError::new(
                ProblemType::BadRevocationReason,
                format!("reason {reason} is not allowed (0-5, 8-10)"),
            ));
        }
        let der = b64url_decode(&payload.certificate, "certificate")?;
        let (_, cert) = x509_parser::parse_x509_certificate(&der)
            .map_err(|_| AcmeError::malformed("the certificate does not parse"))?;
        let serial = hex::encode(cert.raw_serial());
        let serial = serial.trim_start_matches("00");
        let rec = self.certificate_record(serial).await?;
        if rec.der != der {
            return Err(AcmeError::malformed("unknown certificate").with_status(404));
        }
        let who = match &req.account {
            Some(a) if rec.requester == format!("acme:{}", a.id) => Requester::acme_account(&a.id),
            Some(_) => {
                return Err(AcmeError::unauthorized(
                    "this account did not order the certificate",
                ));
            }
            None => {
                if req.key.spki_der() != cert.tbs_certificate.subject_pki.raw {
                    return Err(AcmeError::unauthorized(
                        "the request is not signed by the certificate's key",
                    ));
                }
                Requester::acme_account(&format!("certkey:{}", rec.spki_sha256))
            }
        };
        match self.authority.revoke(&who, &rec.serial_hex, reason).await {
            Ok(_) => Ok(()),
            Err(AuthorityError::AlreadyRevoked(s)) => Err(AcmeError::new(
                ProblemType::AlreadyRevoked,
                format!("certificate {s} is already revoked"),
            )),
            Err(e) => Err(AcmeError::from(authority_problem(&e))),
        }
    }

    /// ARI (RFC 9773 §4.1): the suggested renewal window `(start, end)` of the certificate
    /// named by `cert_id` (`base64url(AKI keyIdentifier) "." base64url(serial)`). The
    /// window is the sixth of the lifetime after its first two thirds; a revoked
    /// certificate should be replaced at once (a window ending now).
    pub async fn renewal_info(&self, cert_id: &str) -> Result<(i64, i64), AcmeError> {
        let (aki_b64, serial_b64) = cert_id
            .split_once('.')
            .ok_or_else(|| AcmeError::malformed("a certificate id is AKI.serial (RFC 9773)"))?;
        let aki = b64url_decode(aki_b64, "certificate id keyIdentifier")?;
        let serial = b64url_decode(serial_b64, "certificate id serial")?;
        if serial.is_empty() || serial.len() > 21 {
            return Err(AcmeError::malformed("the serial is 1 to 20 octets"));
        }
        let serial_hex = hex::encode(&serial);
        let not_found = || AcmeError::malformed("no such certificate").with_status(404);
        let rec = self
            .authority
            .store()
            .get_certificate(serial_hex.trim_start_matches("00"))
            .await
            .map_err(store_err)?
            .ok_or_else(not_found)?;
        let (_, cert) = x509_parser::parse_x509_certificate(&rec.der)
            .map_err(|_| internal("stored certificate does not parse"))?;
        let cert_aki = cert
            .extensions()
            .iter()
            .find_map(|e| match e.parsed_extension() {
                x509_parser::extensions::ParsedExtension::AuthorityKeyIdentifier(a) => {
                    a.key_identifier.as_ref().map(|k| k.0.to_vec())
                }
                _ => None,
            });
        if cert_aki.as_deref() != Some(aki.as_slice()) {
            return Err(not_found());
        }
        let now = self.now();
        if rec.status == "revoked" {
            return Ok((now - 3600, now));
        }
        let lifetime = (rec.not_after - rec.not_before).max(3);
        let start = rec.not_before + lifetime * 2 / 3;
        Ok((start, start + lifetime / 6))
    }

    /// Create an EAB credential for `directory` (`None`: any); returns it with its key.
    pub async fn create_eab(
        authority: &Authority,
        who: &Requester,
        directory: Option<&str>,
    ) -> Result<AcmeEab, AuthorityError> {
        let kid = random_id().map_err(|e| AuthorityError::Internal(e.to_string()))?;
        let mut mac_key = vec![0u8; 32];
        aws_lc_rs::rand::fill(&mut mac_key)
            .map_err(|_| AuthorityError::Internal("the OS random generator failed".into()))?;
        let eab = AcmeEab {
            kid: kid.clone(),
            mac_key,
            directory: directory.map(str::to_string),
            created_at: authority.now_unix(),
            bound_account: None,
            bound_at: None,
        };
        let audit = NewAuditEntry {
            ts: authority.now_unix(),
            actor: who.id(),
            action: "acme.eab.create".into(),
            subject: kid,
            detail: audit_detail(&[("directory", directory.unwrap_or(""))]),
        };
        authority.store().acme().create_eab(&eab, audit).await?;
        Ok(eab)
    }
}

/// An order that is still pending or ready past its expiry is invalid (RFC 8555 §7.1.6);
/// it is shown so, and finalize refuses it (`orderNotReady`).
fn expire_order(mut order: AcmeOrder, now: i64) -> AcmeOrder {
    if matches!(order.status.as_str(), "pending" | "ready") && order.expires_at <= now {
        order.status = "invalid".into();
        if order.error.is_none() {
            let p = moor_core::acme::Problem::new(ProblemType::Malformed, "the order expired");
            order.error = Some(String::from_utf8_lossy(&p.to_json()).into_owned());
        }
    }
    order
}

fn problem_identifier(a: &AcmeIdentifier) -> moor_core::acme::problem::ProblemIdentifier {
    if a.kind == "ip" {
        moor_core::acme::problem::ProblemIdentifier::ip(a.value.clone())
    } else {
        moor_core::acme::problem::ProblemIdentifier::dns(a.value.clone())
    }
}

fn identifier_of_authz(a: &AcmeAuthorization) -> Option<Identifier> {
    match a.identifier.kind.as_str() {
        "dns" => Some(Identifier::Dns(a.identifier.value.clone())),
        "ip" => a.identifier.value.parse().ok().map(Identifier::Ip),
        _ => None,
    }
}

fn pem_block(der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
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

fn check_contacts(contacts: Vec<String>) -> Result<Vec<String>, AcmeError> {
    if contacts.len() > 10 {
        return Err(AcmeError::new(
            ProblemType::InvalidContact,
            "at most 10 contacts",
        ));
    }
    for c in &contacts {
        let Some(addr) = c.strip_prefix("mailto:") else {
            return Err(AcmeError::new(
                ProblemType::UnsupportedContact,
                format!("only mailto: contacts are supported, not {c:?}"),
            ));
        };
        if addr.len() > 254 || !addr.contains('@') || addr.contains([',', '?', ' ', '<', '>']) {
            return Err(AcmeError::new(
                ProblemType::InvalidContact,
                format!("{c:?} is not a single email address"),
            ));
        }
    }
    Ok(contacts)
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
