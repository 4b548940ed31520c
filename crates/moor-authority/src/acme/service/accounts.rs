//! Accounts (RFC 8555 §7.3): newAccount, update, deactivation, key rollover, and
//! external account binding credentials.

use super::*;

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
pub(super) struct AccountUpdatePayload {
    #[serde(default)]
    pub(super) contact: Option<Vec<String>>,
    #[serde(default)]
    pub(super) status: Option<String>,
}

impl AcmeService {
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

pub(super) fn check_contacts(contacts: Vec<String>) -> Result<Vec<String>, AcmeError> {
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
