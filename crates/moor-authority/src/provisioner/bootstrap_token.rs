//! Bootstrap tokens: `mbt_<id>_<secret>`, a limited-use secret baked into an image, so a
//! machine with no identity yet can get its first certificate. A token is scoped to a
//! profile and to names (exact or patterns such as `*.devices.example.com`), has a use
//! count and expires. Only SHA-256(secret) is stored and compared in constant time; a
//! use is taken by compare-and-set in the store before issuing (so a single-use token
//! used twice at once, on any nodes, issues once) and given back if issuance then fails.
//! Every refusal is audited.

use base64::Engine;
use moor_core::identifier::{IdentifierRules, matches_pattern, parse_identifier};
use moor_store::{BootstrapToken, NewAuditEntry, StoreError};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::{
    Authority, AuthorityError, Credential, IssueRequest, Issued, Requester, SubjectSource,
    audit_detail,
};

const PREFIX: &str = "mbt_";
/// Most names (or patterns) one token may carry.
pub const MAX_NAMES: usize = 100;
/// Most uses of one token.
pub const MAX_USES: i64 = 1_000_000;
/// Longest lifetime of a token (seconds).
pub const MAX_TTL_SECS: i64 = 366 * 86_400;

/// What a new token allows.
#[derive(Debug, Clone)]
pub struct BootstrapSpec {
    pub profile: String,
    /// Exact names or patterns (`*.example.com`, `ip:10.0.0.0/8`).
    pub names: Vec<String>,
    pub uses: i64,
    pub ttl_secs: i64,
    pub owner: Option<String>,
}

/// How an enrollment is asked for.
#[derive(Debug, Clone, Copy, Default)]
pub struct EnrollOptions<'a> {
    /// The profile the request names (an EST label); it must be the token's.
    pub profile: Option<&'a str>,
    /// Generate the key here (EST serverkeygen): the CSR only names the identity.
    pub server_keygen: bool,
}

/// A new token: the whole secret is shown once.
pub struct NewBootstrapToken {
    pub token: Zeroizing<String>,
    pub record: BootstrapToken,
}

fn split(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    if id.len() != 19 || !id.starts_with("btk") || secret.is_empty() || secret.len() > 64 {
        return None;
    }
    Some((id, secret))
}

/// Whether a token's names cover `n`. A token never yields a wildcard certificate (a
/// pattern `*.x` covers each machine under x, not one certificate for all of them); a URI
/// or email address needs a pattern that says `uri:` / `email:` (a bare `*` is for hosts).
fn covers(patterns: &[String], n: &moor_core::identifier::Identifier) -> bool {
    use moor_core::identifier::SanKind;
    if n.is_wildcard() {
        return false;
    }
    let tagged_only = matches!(n.kind(), SanKind::Uri | SanKind::Email);
    patterns.iter().any(|p| {
        (!tagged_only
            || p.split_once(':')
                .is_some_and(|(k, _)| k.eq_ignore_ascii_case(n.kind().as_str())))
            && matches_pattern(n, p)
    })
}

impl Requester {
    /// A machine that authenticated with a bootstrap token.
    pub fn bootstrap_token(token_id: &str) -> Requester {
        Requester {
            credential: Credential::BootstrapToken {
                token_id: token_id.to_string(),
            },
        }
    }
}

/// The refusal reason of a token lookup the store could not answer.
const STORE_UNAVAILABLE: &str = "store unavailable";

impl Authority {
    /// Create a bootstrap token (audited); returns it once.
    pub async fn create_bootstrap_token(
        &self,
        who: &Requester,
        spec: BootstrapSpec,
    ) -> Result<NewBootstrapToken, AuthorityError> {
        let bad = |m: String| AuthorityError::BadRequest(m);
        let profile = self
            .profiles()
            .get(&spec.profile)
            .ok_or_else(|| AuthorityError::NotFound(format!("profile {}", spec.profile)))?;
        if spec.names.is_empty() || spec.names.len() > MAX_NAMES {
            return Err(bad(format!("give 1 to {MAX_NAMES} names or patterns")));
        }
        for n in &spec.names {
            if n.is_empty()
                || n.len() > 255
                || n.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                return Err(bad(format!(
                    "{:?} is not a name or pattern",
                    n.chars().take(64).collect::<String>()
                )));
            }
            // An exact name must be one the profile could issue; a pattern is checked
            // when a CSR is matched against it.
            if !n.contains('*') && !n.contains('/') && !n.contains(':') {
                parse_identifier(
                    n,
                    IdentifierRules {
                        public: profile.public,
                    },
                )
                .map_err(|r| bad(format!("{n}: {}", r.detail)))?;
            }
        }
        if !(1..=MAX_USES).contains(&spec.uses) {
            return Err(bad(format!("uses must be 1 to {MAX_USES}")));
        }
        if !(60..=MAX_TTL_SECS).contains(&spec.ttl_secs) {
            return Err(bad("a token lives 1 minute to 366 days".into()));
        }
        if spec.owner.as_ref().is_some_and(|o| o.len() > 128) {
            return Err(bad("owner is at most 128 bytes".into()));
        }
        use aws_lc_rs::rand::{SecureRandom, SystemRandom};
        let rng = SystemRandom::new();
        let mut id = [0u8; 8];
        let mut secret = Zeroizing::new([0u8; 32]);
        rng.fill(&mut id)
            .map_err(|_| AuthorityError::Internal("CSPRNG failed".into()))?;
        rng.fill(secret.as_mut())
            .map_err(|_| AuthorityError::Internal("CSPRNG failed".into()))?;
        let id = format!("btk{}", hex::encode(id));
        let secret_b64 = Zeroizing::new(
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret.as_ref()),
        );
        let now = self.now_unix();
        let record = BootstrapToken {
            id: id.clone(),
            secret_sha256: aws_lc_rs::digest::digest(
                &aws_lc_rs::digest::SHA256,
                secret_b64.as_bytes(),
            )
            .as_ref()
            .to_vec(),
            profile: spec.profile.clone(),
            names: spec.names.clone(),
            max_uses: spec.uses,
            uses: 0,
            expires_at: now + spec.ttl_secs,
            owner: spec.owner.clone(),
            created_at: now,
            revoked_at: None,
        };
        let audit = NewAuditEntry {
            ts: now,
            actor: who.id(),
            action: "token.bootstrap.create".into(),
            subject: id.clone(),
            detail: audit_detail(&[
                ("profile", &spec.profile),
                ("names", &spec.names.join(",")),
                ("uses", &spec.uses.to_string()),
                ("expires_at", &record.expires_at.to_string()),
                ("owner", spec.owner.as_deref().unwrap_or("")),
            ]),
        };
        self.store()
            .enrollment()
            .create_bootstrap_token(&record, audit)
            .await?;
        Ok(NewBootstrapToken {
            token: Zeroizing::new(format!("{PREFIX}{id}_{}", secret_b64.as_str())),
            record,
        })
    }

    /// Enroll: issue for `csr` (PEM or DER) under the token's profile, if the token is
    /// genuine, unexpired, not revoked, has a use left and covers every name of the CSR.
    /// Any failure to authenticate is `Unauthorized` with an audit entry saying why.
    pub async fn enroll_with_bootstrap_token(
        &self,
        token: &str,
        csr: Vec<u8>,
        options: EnrollOptions<'_>,
    ) -> Result<Issued, AuthorityError> {
        let (id, record) = match self.check_bootstrap_token(token).await {
            Ok(v) => v,
            // Our failure, not the client's: it may try again (HTTP 500, not 401).
            Err((_, STORE_UNAVAILABLE)) => {
                return Err(AuthorityError::Internal(
                    "the bootstrap token could not be looked up (store unavailable)".into(),
                ));
            }
            Err((id, why)) => return Err(self.refuse_token(&id, why).await),
        };
        if let Some(p) = options.profile
            && p != record.profile
        {
            return Err(self.refuse_token(&id, "made for another profile").await);
        }
        // The CSR's names against the token's scope, before a use is taken.
        let der = moor_core::csr::decode_csr_input(&csr)?;
        let parsed = moor_core::csr::verify_csr(&der)?;
        let profile = self
            .profiles()
            .get(&record.profile)
            .ok_or_else(|| AuthorityError::Config(format!("profile {} is gone", record.profile)))?;
        let rules = IdentifierRules {
            public: profile.public,
        };
        let mut names: Vec<moor_core::identifier::Identifier> = parsed.sans.clone();
        if let Some(cn) = &parsed.common_name {
            names.push(parse_identifier(cn, rules)?);
        }
        if names.is_empty() {
            return Err(self.refuse_token(&id, "the CSR names nothing").await);
        }
        for n in &names {
            if !covers(&record.names, n) {
                let why = format!("{} is outside the token's names", n.value());
                return Err(self.refuse_token(&id, &why).await);
            }
        }
        let now = self.now_unix();
        let who = Requester::bootstrap_token(&id);
        let audit = NewAuditEntry {
            ts: now,
            actor: who.id(),
            action: "token.bootstrap.use".into(),
            subject: id.clone(),
            detail: audit_detail(&[("profile", &record.profile)]),
        };
        if !self
            .store()
            .enrollment()
            .use_bootstrap_token(&id, now, audit)
            .await?
        {
            return Err(self.refuse_token(&id, "used up, expired or revoked").await);
        }
        let subject = if options.server_keygen {
            // The key type the CSR shows, made here; the names the CSR asks for.
            SubjectSource::Generate {
                algorithm: parsed.public_key.algorithm,
                sans: parsed.sans.iter().map(|n| n.value()).collect(),
                common_name: parsed.common_name.clone(),
            }
        } else {
            SubjectSource::Csr(der)
        };
        let issued = self
            .issue(
                &who,
                IssueRequest {
                    profile: record.profile.clone(),
                    subject,
                    lifetime: None,
                },
            )
            .await;
        if issued.is_err() {
            let audit = NewAuditEntry {
                ts: self.now_unix(),
                actor: who.id(),
                action: "token.bootstrap.refund".into(),
                subject: id.clone(),
                detail: audit_detail(&[("reason", "issuance refused")]),
            };
            if let Err(e) = self
                .store()
                .enrollment()
                .refund_bootstrap_token(&id, audit)
                .await
            {
                tracing::warn!(error = %e, token = %id, "could not give back a bootstrap token use");
            }
        }
        issued
    }

    /// The token's record if the secret matches; else (id or "unknown", why).
    async fn check_bootstrap_token(
        &self,
        token: &str,
    ) -> Result<(String, BootstrapToken), (String, &'static str)> {
        let Some((id, secret)) = split(token.trim()) else {
            return Err(("unknown".into(), "malformed token"));
        };
        let record = match self.store().enrollment().bootstrap_token(id).await {
            Ok(Some(r)) => r,
            Ok(None) => return Err((id.into(), "unknown token")),
            Err(e) => {
                tracing::error!(error = %e, "bootstrap token lookup failed");
                return Err((id.into(), STORE_UNAVAILABLE));
            }
        };
        let presented = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes());
        if !bool::from(presented.as_ref().ct_eq(record.secret_sha256.as_slice())) {
            return Err((id.into(), "wrong secret"));
        }
        let now = self.now_unix();
        if record.revoked_at.is_some() {
            return Err((id.into(), "revoked"));
        }
        if record.expires_at <= now {
            return Err((id.into(), "expired"));
        }
        if record.uses >= record.max_uses {
            return Err((id.into(), "used up"));
        }
        Ok((id.into(), record))
    }

    /// Audit a refused token and answer 401 (the reason stays in the audit log).
    async fn refuse_token(&self, id: &str, why: &str) -> AuthorityError {
        let entry = NewAuditEntry {
            ts: self.now_unix(),
            actor: format!("bootstrap:{id}"),
            action: "token.bootstrap.refuse".into(),
            subject: id.to_string(),
            detail: audit_detail(&[("reason", why)]),
        };
        if let Err(e) = self.store().append_audit(entry).await {
            tracing::warn!(error = %e, "could not audit a refused bootstrap token");
        }
        // The reason stays in the audit log: telling a caller "wrong secret" from "unknown
        // token" or "used up" helps whoever guesses.
        AuthorityError::Unauthorized("bootstrap token refused".into())
    }

    /// Every token (no secrets), newest first.
    pub async fn list_bootstrap_tokens(&self) -> Result<Vec<BootstrapToken>, AuthorityError> {
        Ok(self
            .store()
            .enrollment()
            .list_bootstrap_tokens(10_000)
            .await?)
    }

    /// Revoke a token (audited).
    pub async fn revoke_bootstrap_token(
        &self,
        who: &Requester,
        id: &str,
    ) -> Result<(), AuthorityError> {
        let now = self.now_unix();
        let audit = NewAuditEntry {
            ts: now,
            actor: who.id(),
            action: "token.bootstrap.revoke".into(),
            subject: id.to_string(),
            detail: "{}".into(),
        };
        match self
            .store()
            .enrollment()
            .revoke_bootstrap_token(id, now, audit)
            .await
        {
            Ok(()) => Ok(()),
            Err(StoreError::NotFound { .. }) => {
                Err(AuthorityError::NotFound(format!("bootstrap token {id}")))
            }
            Err(StoreError::Conflict { .. }) => Err(AuthorityError::BadRequest(format!(
                "bootstrap token {id} is already revoked"
            ))),
            Err(e) => Err(e.into()),
        }
    }
}
