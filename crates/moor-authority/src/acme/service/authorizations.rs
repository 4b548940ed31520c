//! Authorizations and challenges (RFC 8555 §7.5): reads, deactivation, and validation
//! begun once across nodes and run in the background.

use super::accounts::AccountUpdatePayload;

/// How long a challenge POST waits for the validation it began before answering.
const CHALLENGE_ANSWER_WAIT: std::time::Duration = std::time::Duration::from_millis(1500);
use super::*;

impl AcmeService {
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

    pub(super) async fn owned_authz(
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
        if (chall.status == "pending" || self.abandoned(&chall))
            && let Some(running) = self
                .start_validation(profile_name, &chall, &authz, req, account_uri)
                .await?
        {
            // Most validations take milliseconds: answering with their outcome spares the
            // client a poll and its Retry-After. A slow one goes on in the background.
            let _ = tokio::time::timeout(CHALLENGE_ANSWER_WAIT, running).await;
        }
        store
            .challenge(challenge_id)
            .await
            .map_err(store_err)?
            .ok_or_else(not_found)
    }

    /// A validation begun [`PROCESSING_TAKEOVER_SECS`] ago and never finished: its node
    /// died, and any node may begin it again.
    pub(super) fn abandoned(&self, chall: &AcmeChallenge) -> bool {
        chall.status == "processing"
            && chall
                .processing_since
                .is_some_and(|t| t <= self.now() - PROCESSING_TAKEOVER_SECS)
    }

    /// `begin_validation` (one caller wins, across nodes), then the validation in the
    /// background.
    pub(super) async fn start_validation(
        self: &Arc<Self>,
        profile_name: &str,
        chall: &AcmeChallenge,
        authz: &AcmeAuthorization,
        req: &Authenticated,
        account_uri: &str,
    ) -> Result<Option<tokio::task::JoinHandle<()>>, AcmeError> {
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
            return Ok(Some(tokio::spawn(async move {
                svc.validate(profile, authz, chall, key, actor, account_uri)
                    .await;
            })));
        }
        Ok(None)
    }

    pub(super) async fn validate(
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
        // A valid authorization serves this order until it expires, and later orders of
        // the account for the reuse window.
        let now = self.now();
        let valid_until =
            valid.then(|| (now + self.settings.authz_reuse_secs).max(authz.expires_at));
        if let Err(e) = self
            .authority
            .store()
            .acme()
            .finish_validation(
                &chall.id,
                valid_until,
                error.as_deref(),
                records.as_deref(),
                now,
                audit,
            )
            .await
        {
            tracing::warn!(error = %e, challenge = %chall.id, "could not record the validation");
        }
    }
}

pub(super) fn problem_identifier(
    a: &AcmeIdentifier,
) -> moor_core::acme::problem::ProblemIdentifier {
    if a.kind == "ip" {
        moor_core::acme::problem::ProblemIdentifier::ip(a.value.clone())
    } else {
        moor_core::acme::problem::ProblemIdentifier::dns(a.value.clone())
    }
}

pub(super) fn identifier_of_authz(a: &AcmeAuthorization) -> Option<Identifier> {
    match a.identifier.kind.as_str() {
        "dns" => Some(Identifier::Dns(a.identifier.value.clone())),
        "ip" => a.identifier.value.parse().ok().map(Identifier::Ip),
        _ => None,
    }
}
