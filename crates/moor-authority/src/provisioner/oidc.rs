//! OIDC / JWT provisioners (`[oidc.NAME]`): a workload exchanges its platform token (a
//! Kubernetes service-account token, a CI job's OIDC token) for a certificate. The token's
//! signature is checked against the issuer's JWKS (a file, or a URL refetched every 10
//! minutes and when a token names an unknown key), its issuer, audience, expiry and
//! lifetime against the provider's settings; claims become names through the provider's
//! templates, and the CSR must ask for exactly those names. A token is accepted once: its
//! hash is remembered (in the store, across nodes) until it expires.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use moor_core::identifier::{IdentifierRules, parse_identifier};
use moor_core::jwt::{Expect, Jwks, JwtError};
use moor_store::NewAuditEntry;
use tokio::sync::RwLock;

use crate::config::{Home, OidcProvider};
use crate::{
    Authority, AuthorityError, Credential, IssueRequest, Issued, Requester, SubjectSource,
    audit_detail,
};

/// Clock skew tolerated on token times (seconds).
const LEEWAY_SECS: i64 = 60;
/// How long fetched keys are used before they are fetched again.
const JWKS_TTL: Duration = Duration::from_secs(600);
/// A refetch for an unknown `kid` happens at most this often.
const JWKS_MISS_INTERVAL: Duration = Duration::from_secs(30);
/// How long keys fetched before are used while the issuer cannot be reached.
const JWKS_STALE_LIMIT: Duration = Duration::from_secs(86_400);
/// Largest JWKS document read.
const MAX_JWKS_BYTES: usize = 256 * 1024;

impl Requester {
    /// A workload authenticated by provider `provider`'s token for `subject`.
    pub fn oidc(provider: &str, subject: &str) -> Requester {
        Requester {
            credential: Credential::Oidc {
                provider: provider.to_string(),
                subject: subject.chars().take(128).collect(),
            },
        }
    }
}

struct Provider {
    name: String,
    cfg: OidcProvider,
    max_lifetime_secs: i64,
    jwks_path: Option<std::path::PathBuf>,
    ca_pem: Option<Vec<u8>>,
    keys: RwLock<Option<(Jwks, Instant)>>,
    last_miss_fetch: RwLock<Option<Instant>>,
    fetching: tokio::sync::Mutex<()>,
}

/// Every configured provider.
pub struct OidcProvisioners {
    providers: BTreeMap<String, Arc<Provider>>,
}

impl OidcProvisioners {
    /// Check the configuration (profiles exist, templates and URLs make sense).
    pub fn new(
        home: &Home,
        authority: &Authority,
        config: &BTreeMap<String, OidcProvider>,
    ) -> Result<OidcProvisioners, String> {
        let mut providers = BTreeMap::new();
        for (name, cfg) in config {
            let at = |m: String| format!("oidc.{name}: {m}");
            if !authority.profiles().contains_key(&cfg.profile) {
                return Err(at(format!("no profile {:?}", cfg.profile)));
            }
            if cfg.names.is_empty() || cfg.names.len() > 20 {
                return Err(at("give 1 to 20 name templates".into()));
            }
            if cfg.issuer.is_empty() || cfg.audience.is_empty() {
                return Err(at("issuer and audience are required".into()));
            }
            let max = moor_core::profile::parse_duration(&cfg.max_token_lifetime)
                .and_then(|d| i64::try_from(d.as_secs()).ok())
                .filter(|s| (60..=7 * 86_400).contains(s))
                .ok_or_else(|| at("max_token_lifetime must be 1m to 7d".into()))?;
            match (&cfg.jwks_file, &cfg.jwks_url) {
                (Some(_), None) | (None, Some(_)) => {}
                _ => return Err(at("set exactly one of jwks_file and jwks_url".into())),
            }
            if let Some(url) = &cfg.jwks_url {
                let u = url::Url::parse(url).map_err(|e| at(format!("jwks_url: {e}")))?;
                let loopback = matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
                if !(u.scheme() == "https" || (u.scheme() == "http" && loopback)) {
                    return Err(at("jwks_url must be https (http only on loopback)".into()));
                }
                if u.scheme() == "https" && cfg.jwks_ca_file.is_none() {
                    return Err(at("an https jwks_url needs jwks_ca_file".into()));
                }
            }
            let ca_pem = match &cfg.jwks_ca_file {
                Some(f) => Some(
                    std::fs::read(home.resolve(f))
                        .map_err(|e| at(format!("jwks_ca_file {f}: {e}")))?,
                ),
                None => None,
            };
            providers.insert(
                name.clone(),
                Arc::new(Provider {
                    name: name.clone(),
                    cfg: cfg.clone(),
                    max_lifetime_secs: max,
                    jwks_path: cfg.jwks_file.as_ref().map(|f| home.resolve(f)),
                    ca_pem,
                    keys: RwLock::new(None),
                    last_miss_fetch: RwLock::new(None),
                    fetching: tokio::sync::Mutex::new(()),
                }),
            );
        }
        Ok(OidcProvisioners { providers })
    }

    /// Exchange `token` from provider `name` for a certificate for `csr` (PEM or DER).
    /// Every refused token is `Unauthorized` with an audit entry saying why.
    pub async fn enroll(
        &self,
        authority: &Authority,
        name: &str,
        token: &str,
        csr: Vec<u8>,
    ) -> Result<Issued, AuthorityError> {
        let p = self
            .providers
            .get(name)
            .ok_or_else(|| AuthorityError::NotFound(format!("OIDC provider {name}")))?;
        let refuse = |why: String| async move {
            let entry = NewAuditEntry {
                ts: authority.now_unix(),
                actor: format!("oidc:{name}"),
                action: "oidc.refuse".into(),
                subject: name.to_string(),
                detail: audit_detail(&[("reason", &why)]),
            };
            if let Err(e) = authority.store().append_audit(entry).await {
                tracing::warn!(error = %e, "could not audit a refused OIDC token");
            }
            AuthorityError::Unauthorized(format!("token refused: {why}"))
        };
        let now = authority.now_unix();
        let verified = match p.verify(token, now).await {
            Ok(v) => v,
            Err(e) => return Err(refuse(e.to_string()).await),
        };
        // Names from the templates; the CSR must ask for exactly these.
        let profile = authority
            .profiles()
            .get(&p.cfg.profile)
            .ok_or_else(|| AuthorityError::Config(format!("profile {} is gone", p.cfg.profile)))?;
        let rules = IdentifierRules {
            public: profile.public,
        };
        let mut want = BTreeSet::new();
        for t in &p.cfg.names {
            let rendered = match moor_core::jwt::render(
                t,
                &verified.claims,
                &[("trust_domain", p.cfg.trust_domain.as_str())],
            ) {
                Ok(r) => r,
                Err(e) => return Err(refuse(e.to_string()).await),
            };
            want.insert(parse_identifier(&rendered, rules)?.tagged());
        }
        let der = moor_core::csr::decode_csr_input(&csr)?;
        let parsed = moor_core::csr::verify_csr(&der)?;
        let asked: BTreeSet<String> = parsed.sans.iter().map(|i| i.tagged()).collect();
        // A CN, if any, must be one of the names: a free-form CN would be an identity the
        // token never vouched for (relying parties map CNs to users).
        let cn_ok = parsed.common_name.as_ref().is_none_or(|cn| {
            want.iter().any(|w| {
                w.split_once(':')
                    .is_some_and(|(_, v)| v.eq_ignore_ascii_case(cn))
            })
        });
        if asked != want || !cn_ok {
            return Err(AuthorityError::BadRequest(format!(
                "the CSR must ask for exactly [{}] (and a CN, if any, among them)",
                want.into_iter().collect::<Vec<_>>().join(", ")
            )));
        }
        // Once per token, across nodes, until it expires.
        let digest = verified.replay_key.clone();
        let fresh = authority
            .store()
            .acme()
            .redeem_nonce(&format!("oidc:{digest}"), verified.expires_at + LEEWAY_SECS)
            .await?;
        if !fresh {
            return Err(refuse("the token was used before".into()).await);
        }
        let sub = verified
            .claims
            .get("sub")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string();
        authority
            .issue(
                &Requester::oidc(&p.name, &sub),
                IssueRequest {
                    profile: p.cfg.profile.clone(),
                    subject: SubjectSource::Csr(der),
                    lifetime: None,
                },
            )
            .await
    }
}

impl Provider {
    async fn verify(&self, token: &str, now: i64) -> Result<moor_core::jwt::VerifiedJwt, JwtError> {
        let expect = Expect {
            issuer: &self.cfg.issuer,
            audience: &self.cfg.audience,
            now,
            leeway_secs: LEEWAY_SECS,
            max_lifetime_secs: self.max_lifetime_secs,
        };
        let jwks = self.jwks(false).await?;
        match moor_core::jwt::verify(token, &jwks, &expect) {
            Err(JwtError::UnknownKey(kid)) => {
                // Keys rotate: fetch again (rate-limited) before giving up.
                let refetch = {
                    let last = self.last_miss_fetch.read().await;
                    last.is_none_or(|t| t.elapsed() >= JWKS_MISS_INTERVAL)
                };
                if !refetch {
                    return Err(JwtError::UnknownKey(kid));
                }
                *self.last_miss_fetch.write().await = Some(Instant::now());
                let jwks = self.jwks(true).await?;
                moor_core::jwt::verify(token, &jwks, &expect)
            }
            other => other,
        }
    }

    async fn jwks(&self, force: bool) -> Result<Jwks, JwtError> {
        if !force
            && let Some((k, at)) = self.keys.read().await.as_ref()
            && at.elapsed() < JWKS_TTL
        {
            return Ok(k.clone());
        }
        // One fetch at a time: the others wait for it and use what it got.
        let _fetching = self.fetching.lock().await;
        if !force
            && let Some((k, at)) = self.keys.read().await.as_ref()
            && at.elapsed() < JWKS_TTL
        {
            return Ok(k.clone());
        }
        let fetched = match (&self.jwks_path, &self.cfg.jwks_url) {
            (Some(path), _) => tokio::fs::read(path)
                .await
                .map_err(|e| JwtError::Jwks(format!("{}: {e}", path.display()))),
            (None, Some(url)) => fetch(url, self.ca_pem.as_deref())
                .await
                .map_err(JwtError::Jwks),
            _ => Err(JwtError::Jwks("no JWKS source".into())),
        }
        .and_then(|bytes| Jwks::parse(&bytes));
        match fetched {
            Ok(jwks) => {
                *self.keys.write().await = Some((jwks.clone(), Instant::now()));
                Ok(jwks)
            }
            // The issuer is unreachable for a while: keys fetched less than a day ago still
            // verify (a rotated-out key is refused once a fetch succeeds again).
            Err(e) => match self.keys.read().await.as_ref() {
                Some((k, at)) if at.elapsed() < JWKS_STALE_LIMIT => {
                    tracing::warn!(provider = %self.name, error = %e, "JWKS fetch failed; using the keys fetched before");
                    Ok(k.clone())
                }
                _ => Err(e),
            },
        }
    }
}

/// GET `url` (https with `ca_pem`, or http on loopback), at most [`MAX_JWKS_BYTES`],
/// within 10 seconds.
async fn fetch(url: &str, ca_pem: Option<&[u8]>) -> Result<Vec<u8>, String> {
    let tls = if url.starts_with("https://") {
        let mut roots = rustls::RootCertStore::empty();
        let pem = ca_pem.ok_or("an https jwks_url needs jwks_ca_file")?;
        for c in rustls_pki_types::pem::PemObject::pem_slice_iter(pem) {
            let c: rustls_pki_types::CertificateDer<'static> = c.map_err(|e| e.to_string())?;
            roots.add(c).map_err(|e| e.to_string())?;
        }
        let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Some(Arc::new(cfg))
    } else {
        None
    };
    let answer = crate::http_client::request(
        hyper::Method::GET,
        url,
        &[],
        String::new(),
        tls,
        MAX_JWKS_BYTES,
        Duration::from_secs(10),
    )
    .await
    .map_err(|e| format!("{url}: {e}"))?;
    if answer.status != hyper::StatusCode::OK {
        return Err(format!("{url}: HTTP {}", answer.status));
    }
    if let Some(e) = answer.read_error {
        return Err(format!("{url}: {e}"));
    }
    if answer.truncated {
        return Err(format!("{url}: the JWKS is over {MAX_JWKS_BYTES} bytes"));
    }
    Ok(answer.body)
}
