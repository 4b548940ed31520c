//! Orders (RFC 8555 §7.4): newOrder with identifiers checked against the profile, reads,
//! and the identifier helpers finalize shares.

use super::*;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct NewOrderPayload {
    identifiers: Vec<AcmeIdentifier>,
    #[serde(default)]
    not_before: Option<String>,
    #[serde(default)]
    not_after: Option<String>,
    /// ACME profiles extension: one of the directory's `meta.profiles`.
    #[serde(default)]
    profile: Option<String>,
    /// RFC 9773 §5: the certificate id (AKI.serial) this order replaces.
    #[serde(default)]
    replaces: Option<String>,
}

/// An ACME identifier as moor-core's [`Identifier`] (checked against `rules`).
pub(super) fn parse_acme_identifier(
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

pub(super) fn to_acme_identifier(id: &Identifier) -> AcmeIdentifier {
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
pub(super) fn authz_identifier(id: &Identifier) -> (AcmeIdentifier, bool) {
    let mut a = to_acme_identifier(id);
    let wildcard = id.is_wildcard();
    if wildcard {
        a.value = a.value.trim_start_matches("*.").to_string();
    }
    (a, wildcard)
}

/// Checks an identifier against the profile's SAN rules (the same ones issuance applies).
pub(super) fn check_against_profile(profile: &Profile, id: &Identifier) -> Result<(), AcmeError> {
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

pub(super) fn parse_rfc3339(s: &str) -> Result<i64, AcmeError> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|e| AcmeError::malformed(format!("bad RFC 3339 date {s:?}: {e}")))
}

impl AcmeService {
    /// newOrder (RFC 8555 §7.4): identifiers checked against the profile (the directory's,
    /// or the one `profile` selects among those it offers); the rate limits; `replaces`
    /// (RFC 9773 §5); valid authorizations of the account are reused within the reuse
    /// window.
    pub async fn new_order(
        &self,
        profile_name: &str,
        req: &Authenticated,
    ) -> Result<AcmeOrder, AcmeError> {
        let account = req.account()?;
        let payload: NewOrderPayload = req.jws.payload_json()?;
        let offered = self.offered_profiles(profile_name);
        let profile = match payload.profile.as_deref() {
            None => *offered
                .first()
                .ok_or_else(|| AcmeError::malformed("no such directory"))?,
            Some(wanted) => *offered.iter().find(|p| p.name == wanted).ok_or_else(|| {
                let names: Vec<&str> = offered.iter().map(|p| p.name.as_str()).collect();
                AcmeError::new(
                    ProblemType::InvalidProfile,
                    format!(
                        "profile {:?} is not offered by this directory (offered: {})",
                        wanted.chars().take(64).collect::<String>(),
                        names.join(", ")
                    ),
                )
            })?,
        };
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
        self.check_rate_limits(account, &ids, now).await?;
        let replaces = match payload.replaces.as_deref() {
            Some(cert_id) => Some(self.check_replaces(cert_id, account, &ids).await?),
            None => None,
        };
        let order_id = random_id()?;
        let mut authz_ids = Vec::new();
        let mut new_authzs = Vec::new();
        let reuse = self.settings.authz_reuse_secs > 0;
        for id in &ids {
            let (aid, wildcard) = authz_identifier(id);
            if reuse
                && let Some(reuse) = store
                    .reusable_authorization(
                        &account.id,
                        &aid,
                        wildcard,
                        now,
                        now - self.settings.authz_reuse_secs,
                    )
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
            replaces: replaces.clone(),
            profile: Some(profile.name.clone()),
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
                ("profile", &profile.name),
                ("identifiers", &names.join(",")),
                ("replaces", replaces.as_deref().unwrap_or("")),
            ],
        );
        match store.create_order(&order, &new_authzs, audit).await {
            Ok(()) => Ok(order),
            Err(StoreError::Conflict { what }) if replaces.is_some() => Err(AcmeError::new(
                ProblemType::AlreadyReplaced,
                format!("the certificate is already being replaced ({what})"),
            )),
            Err(e) => Err(store_err(e)),
        }
    }

    /// The rate limits (`[acme.rate_limits]`): orders of the account, then certificates
    /// naming each identifier, over sliding windows of what the store holds.
    async fn check_rate_limits(
        &self,
        account: &AcmeAccount,
        ids: &BTreeSet<Identifier>,
        now: i64,
    ) -> Result<(), AcmeError> {
        let store = self.authority.store().acme();
        if let Some(limit) = self.settings.orders_per_account
            && let Some(t) = store
                .nth_newest_order_since(&account.id, now - limit.window_secs, limit.count)
                .await
                .map_err(store_err)?
        {
            let retry = (t + limit.window_secs - now).max(1);
            return Err(AcmeError::rate_limited(
                format!(
                    "too many new orders: {} per {} for an account; retry after {}",
                    limit.count,
                    moor_core::profile::format_duration(std::time::Duration::from_secs(
                        limit.window_secs as u64
                    )),
                    rfc3339(now + retry)
                ),
                retry as u64,
            ));
        }
        if let Some(limit) = self.settings.certificates_per_identifier {
            for id in ids {
                if let Some(t) = store
                    .nth_newest_certificate_naming_since(
                        &id.tagged(),
                        now - limit.window_secs,
                        limit.count,
                    )
                    .await
                    .map_err(store_err)?
                {
                    let retry = (t + limit.window_secs - now).max(1);
                    return Err(AcmeError::rate_limited(
                        format!(
                            "too many certificates for {}: {} per {}; retry after {}",
                            id.value(),
                            limit.count,
                            moor_core::profile::format_duration(std::time::Duration::from_secs(
                                limit.window_secs as u64
                            )),
                            rfc3339(now + retry)
                        ),
                        retry as u64,
                    ));
                }
            }
        }
        Ok(())
    }

    /// `replaces` (RFC 9773 §5): the certificate exists, was ordered by this account and
    /// shares an identifier with the order. Returns the certificate id as given. (That no
    /// other live order replaces it is checked when the order is written.)
    async fn check_replaces(
        &self,
        cert_id: &str,
        account: &AcmeAccount,
        ids: &BTreeSet<Identifier>,
    ) -> Result<String, AcmeError> {
        let rec = self
            .certificate_by_ari_id(cert_id)
            .await
            .map_err(|e| AcmeError::malformed(format!("replaces: {}", e.detail())))?;
        if rec.requester != format!("acme:{}", account.id) {
            return Err(AcmeError::malformed(
                "replaces: the certificate was not ordered by this account",
            ));
        }
        let names: BTreeSet<String> = ids.iter().map(|i| i.tagged()).collect();
        if !rec.sans.iter().any(|s| names.contains(s)) {
            return Err(AcmeError::malformed(
                "replaces: the order shares no identifier with the certificate",
            ));
        }
        Ok(cert_id.to_string())
    }

    /// An order of the account (POST-as-GET). Clients poll a processing order: one whose
    /// node died mid-issuance is finished here.
    pub async fn order(&self, order_id: &str, req: &Authenticated) -> Result<AcmeOrder, AcmeError> {
        req.jws.expect_post_as_get()?;
        let account = req.account()?;
        let order = self.owned_order(order_id, account).await?;
        self.resume_if_abandoned(order, account).await
    }

    pub(super) async fn owned_order(
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
}

/// An order that is still pending or ready past its expiry is invalid (RFC 8555 §7.1.6);
/// it is shown so, and finalize refuses it (`orderNotReady`).
pub(super) fn expire_order(mut order: AcmeOrder, now: i64) -> AcmeOrder {
    if matches!(order.status.as_str(), "pending" | "ready") && order.expires_at <= now {
        order.status = "invalid".into();
        if order.error.is_none() {
            let p = moor_core::acme::Problem::new(ProblemType::Malformed, "the order expired");
            order.error = Some(String::from_utf8_lossy(&p.to_json()).into_owned());
        }
    }
    order
}
