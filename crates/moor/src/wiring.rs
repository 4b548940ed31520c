//! Wiring: config + store + keys → an `Authority`; first-run initialisation.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use moor_authority::config::{Config, Home};
use moor_authority::trust_anchor::{self, NameConstraintOptions, NewHierarchy};
use moor_authority::{Authority, IssueRequest, Requester, SubjectSource};
use moor_core::KeyAlgorithm;
use moor_core::clock::{Clock, SystemClock};
use moor_keys::{KeyError, Passphrase};
use moor_store::{Database, Store};

/// An opened home: configuration and store.
pub struct Env {
    pub home: Home,
    pub config: Config,
    pub store: Arc<dyn Store>,
    /// Which database `store` is.
    pub database: Database,
    pub clock: Arc<dyn Clock>,
}

/// Open the home (creating the directory and database if needed). `database` overrides
/// the config's setting.
pub async fn open(home: &std::path::Path, database: Option<&str>) -> Result<Env> {
    std::fs::create_dir_all(home)
        .with_context(|| format!("cannot create home {}", home.display()))?;
    restrict_dir(home)?;
    let home = Home::new(home.to_path_buf());
    let config = Config::load(&home.config_path())?;
    let setting = database.unwrap_or(&config.database);
    let database = Database::parse(setting, home.dir());
    let store = database
        .open()
        .await
        .with_context(|| format!("cannot open database {}", database.display()))?;
    Ok(Env {
        home,
        config,
        store,
        database,
        clock: Arc::new(SystemClock),
    })
}

fn restrict_dir(dir: &std::path::Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(dir)?;
    if meta.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot restrict {}", dir.display()))?;
    }
    Ok(())
}

/// Whether the home holds a CA.
pub async fn is_initialised(env: &Env) -> Result<bool> {
    Ok(!env.store.list_issuers().await?.is_empty())
}

/// The CA key passphrase: MOORING_CA_PASSPHRASE, else the passphrase file. With `create`,
/// a missing passphrase is generated and written to the passphrase file (0600).
pub fn passphrase(env: &Env, create: bool) -> Result<(Passphrase, Option<std::path::PathBuf>)> {
    let file = env.home.resolve(&env.config.passphrase_file);
    match Passphrase::from_env_or_file(Some(&file)) {
        Ok(p) => Ok((p, None)),
        Err(KeyError::Io { .. }) | Err(KeyError::NoPassphrase) if create && !file.exists() => {
            let p = Passphrase::generate();
            trust_anchor::write_atomic(&file, format!("{}\n", p.expose()).as_bytes(), 0o600)?;
            Ok((p, Some(file)))
        }
        Err(e) => Err(e).with_context(|| {
            format!(
                "no CA key passphrase: set MOORING_CA_PASSPHRASE or create {}",
                file.display()
            )
        }),
    }
}

/// Build the authority from the store's issuers.
pub async fn authority(env: &Env, pass: &Passphrase) -> Result<Authority> {
    let records = env.store.list_issuers().await?;
    let home = env.home.clone();
    let recs = records.clone();
    // Decrypting keys runs the KDF: keep it off the async workers.
    let pass2 = Passphrase::new(pass.expose().to_string());
    let loaded =
        tokio::task::spawn_blocking(move || trust_anchor::load_issuers(&home, &recs, &pass2))
            .await??;
    let profiles = env.config.effective_profiles()?;
    // Profiles whose issuer is missing are dropped with a warning only if they are built-ins
    // pointing at "default"; a configured profile naming a missing issuer is an error.
    let online: Vec<String> = loaded.iter().map(|l| l.facts.id.clone()).collect();
    let mut usable = BTreeMap::new();
    for (name, p) in profiles {
        let configured = env.config.profiles.contains_key(&name);
        let Some(issuer) = loaded.iter().find(|l| l.facts.id == p.issuer) else {
            if configured {
                bail!(
                    "profile {name} names issuer {}, which is not an online issuer ({})",
                    p.issuer,
                    online.join(", ")
                );
            }
            continue;
        };
        // A built-in public-TLS profile needs an RSA/ECDSA issuer (Baseline Requirements);
        // with an Ed25519 or ML-DSA default issuer it is simply not offered.
        if p.public && !configured && !issuer.facts.algorithm.allowed_for_public_tls() {
            tracing::debug!(profile = %name, "not offered: its issuer's algorithm is not allowed for public TLS");
            continue;
        }
        usable.insert(name, p);
    }
    let mut auth = Authority::new(
        env.store.clone(),
        records,
        loaded,
        usable,
        env.config.revocation_url.clone(),
        env.clock.clone(),
    )?;
    let crl_validity =
        moor_core::profile::parse_duration(&env.config.crl_validity).with_context(|| {
            format!(
                "crl_validity = {:?} in mooring.toml is not a duration like 7d or 36h",
                env.config.crl_validity
            )
        })?;
    auth.set_crl_validity(crl_validity)?;
    auth.load_blocked_keys().await?;
    Ok(auth)
}

/// What init created, for the report.
pub struct InitReport {
    pub root_fingerprint: String,
    pub root_id: String,
    pub issuer_id: String,
    pub algorithm: String,
    pub admin_token_path: std::path::PathBuf,
    pub passphrase_file: Option<std::path::PathBuf>,
    pub offline_root: Option<std::path::PathBuf>,
}

/// Create the first hierarchy, the first admin token and the server certificate.
pub async fn initialise(
    env: &Env,
    algorithm: KeyAlgorithm,
    offline_root: Option<std::path::PathBuf>,
    constraints: NameConstraintOptions,
    organization: String,
) -> Result<InitReport> {
    if is_initialised(env).await? {
        bail!(
            "{} already holds a CA; use `moor ca add-issuer` to add issuers",
            env.home.dir.display()
        );
    }
    if !env.home.config_path().exists() {
        trust_anchor::write_atomic(&env.home.config_path(), DEFAULT_CONFIG.as_bytes(), 0o644)?;
    }
    let (pass, pass_file) = passphrase(env, true)?;
    let created = trust_anchor::create_hierarchy(
        &env.home,
        env.store.as_ref(),
        &pass,
        env.clock.as_ref(),
        "cli",
        NewHierarchy {
            issuer_id: "default".into(),
            algorithm,
            new_root: true,
            parent_root: None,
            root_key_file: None,
            offline_root_key: offline_root.clone(),
            name_constraints: constraints,
            organization,
        },
    )
    .await?;
    let auth = authority(env, &pass).await?;
    let token = auth
        .create_admin_token(&Requester::cli(), "initial admin")
        .await?;
    trust_anchor::write_atomic(
        &env.home.admin_token_path(),
        format!("{}\n", token.token.as_str()).as_bytes(),
        0o600,
    )?;
    ensure_server_certificate(env, &auth, &pass, &[]).await?;
    Ok(InitReport {
        root_fingerprint: created.root.fingerprint,
        root_id: created.root.id,
        issuer_id: created.intermediate.id,
        algorithm: algorithm.name().into(),
        admin_token_path: env.home.admin_token_path(),
        passphrase_file: pass_file,
        offline_root,
    })
}

/// Make sure the server has a TLS certificate from its own CA that is valid for
/// at least 30 more days and covers `extra_names`; issue a new one otherwise.
pub async fn ensure_server_certificate(
    env: &Env,
    auth: &Authority,
    pass: &Passphrase,
    extra_names: &[String],
) -> Result<()> {
    let cert_path = env.home.server_cert_path();
    let key_path = env.home.server_key_path();
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    if let Some(host) = url_host(&env.config.public_url)
        && !names.contains(&host)
    {
        names.push(host);
    }
    for n in extra_names {
        if !names.contains(n) {
            names.push(n.clone());
        }
    }
    if let Ok(pem) = std::fs::read_to_string(&cert_path)
        && key_path.exists()
        && server_cert_ok(&pem, &names, env.clock.now().unix_timestamp())
    {
        return Ok(());
    }
    let profile = if auth.profiles().contains_key("tls-server") {
        "tls-server"
    } else {
        bail!("the tls-server profile is needed for the server certificate")
    };
    let request = |sans: Vec<String>| IssueRequest {
        profile: profile.into(),
        subject: SubjectSource::Generate {
            algorithm: KeyAlgorithm::EcdsaP256,
            sans,
            common_name: None,
        },
        lifetime: None,
    };
    let issued = match auth.issue(&Requester::cli(), request(names.clone())).await {
        Ok(i) => i,
        // A name-constrained issuer may not cover `localhost`: fall back to the IP addresses.
        Err(moor_authority::AuthorityError::Refused(r))
            if r.code == moor_core::RefusalCode::RejectedIdentifier =>
        {
            let ips: Vec<String> = names
                .iter()
                .filter(|n| n.parse::<std::net::IpAddr>().is_ok())
                .cloned()
                .collect();
            tracing::warn!(
                "server certificate: {}; using the IP addresses only",
                r.detail
            );
            auth.issue(&Requester::cli(), request(ips))
                .await
                .context("issuing the server's own TLS certificate")?
        }
        Err(e) => return Err(e).context("issuing the server's own TLS certificate"),
    };
    let der = issued
        .private_key_der
        .as_ref()
        .context("no key generated")?;
    let key = moor_keys::SoftwareKey::from_pkcs8_der(der, Some(KeyAlgorithm::EcdsaP256))?;
    let _ = std::fs::remove_file(&key_path);
    moor_keys::write_key_file(&key_path, &key, pass)?;
    trust_anchor::write_atomic(
        &cert_path,
        format!("{}{}", issued.cert_pem, issued.chain_pem).as_bytes(),
        0o644,
    )?;
    Ok(())
}

fn server_cert_ok(pem: &str, names: &[String], now: i64) -> bool {
    let Some(der) = first_pem_der(pem) else {
        return false;
    };
    let Ok((_, na)) = trust_anchor::cert_validity(&der) else {
        return false;
    };
    let Ok(sans) = trust_anchor::cert_sans(&der) else {
        return false;
    };
    // Every wanted IP address must be covered; DNS names too unless the certificate has none
    // (a name-constrained issuer may only allow the IP addresses).
    let has = |n: &String| {
        sans.iter()
            .any(|s| s.split_once(':').map(|(_, v)| v) == Some(n.as_str()))
    };
    let has_dns = sans.iter().any(|s| s.starts_with("dns:"));
    na - now > 30 * 86_400
        && names
            .iter()
            .all(|n| has(n) || (!has_dns && n.parse::<std::net::IpAddr>().is_err()))
}

/// The host part of a URL like `https://host:port/path`.
pub fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let hostport = rest.split('/').next()?;
    let host = if let Some(h) = hostport.strip_prefix('[') {
        h.split(']').next()?
    } else {
        hostport
            .rsplit_once(':')
            .map(|(h, _)| h)
            .unwrap_or(hostport)
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

fn first_pem_der(pem: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let start = pem.find("-----BEGIN CERTIFICATE-----")? + "-----BEGIN CERTIFICATE-----".len();
    let end = pem[start..].find("-----END CERTIFICATE-----")? + start;
    let b64: String = pem[start..end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

/// All certificates in a PEM string, DER.
pub fn pem_certs_der(pem: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = pem;
    while let Some(i) = rest.find("-----BEGIN CERTIFICATE-----") {
        let chunk = &rest[i..];
        if let Some(d) = first_pem_der(chunk) {
            out.push(d);
        }
        let Some(end) = chunk.find("-----END CERTIFICATE-----") else {
            break;
        };
        rest = &chunk[end + 25..];
    }
    out
}

/// The configuration written at init: every field at its default, documented.
pub const DEFAULT_CONFIG: &str = r#"# Mooring configuration. Every field has a safe default; uncomment to change.

# Address `moor serve` listens on.
# listen = "127.0.0.1:8443"

# Base URL written into certificates (OCSP, caIssuers and CRL distribution point URLs).
# public_url = "https://localhost:8443"

# Plain-HTTP listener for public read-only endpoints (CA certificates, trust bundle,
# CRLs, OCSP); "" disables it.
# http_listen = "127.0.0.1:8080"

# Base URL written into certificates for OCSP, caIssuers and CRL distribution points
# (plain HTTP, as RFC 5280 and the Baseline Requirements expect).
# revocation_url = "http://127.0.0.1:8080"

# How long each CRL is valid (nextUpdate - thisUpdate); CRLs are rebuilt after every
# revocation and daily anyway. 1h to 10d.
# crl_validity = "7d"

# Database: a SQLite file (relative to this directory), or a PostgreSQL URL
# (postgres://user:password@host:5432/mooring) that several nodes share.
# database = "mooring.db"

# File with the CA key passphrase, used when MOORING_CA_PASSPHRASE is not set.
# passphrase_file = "ca-passphrase"

# Custom profiles (built-in: tls-server, tls-client, mtls, code-signing, device, admin).
# [profiles.web]
# issuer = "default"
# key_algorithms = ["ecdsa-p256", "ecdsa-p384", "ed25519", "rsa-2048"]
# default_lifetime = "30d"
# max_lifetime = "90d"
# extended_key_usage = ["server-auth"]
# san_types = ["dns"]
# allow = ["*.example.com"]
# deny = ["admin.example.com"]
# renewable = true                 # may renew by proof (POST /api/v1/renew, EST simplereenroll)
# renewal_grace = "0s"             # … this long after expiry (devices that were offline)
# renewal_requires_new_key = false

# The ACME server (RFC 8555): a directory per profile at /acme/{profile}/directory.
# [acme]
# enabled = true
# http01_port = 80                 # where http-01 validation connects
# tlsalpn01_port = 443             # where tls-alpn-01 validation connects
# dns_resolver = "127.0.0.1:53"    # every validation lookup (A/AAAA, TXT, CAA) goes here
# private_address_profiles = ["tls-server"]  # default: every non-public profile
# eab_required_profiles = []       # directories that need external account binding
# terms_of_service = ""
# caa_identities = []              # this CA's CAA issuer domain names
# authz_reuse = "7d"               # a valid authorization serves later orders this long ("0s": never)
# caa_recheck_after = "8h"         # finalize rechecks CAA for authorizations validated longer ago
# [acme.directory_profiles]        # profiles extension: more profiles a directory offers
# tls-server = ["web"]
# [oidc.k8s]                       # workloads exchange platform tokens (README: Workload tokens)
# issuer = "https://kubernetes.default.svc"
# audience = "mooring"
# jwks_file = "k8s-jwks.json"
# profile = "mtls"
# names = ["spiffe://{trust_domain}/ns/{kubernetes.io/namespace}/sa/{kubernetes.io/serviceaccount/name}"]
# trust_domain = "example.org"
# [acme.rate_limits]               # "N/window"; "" turns a limit off
# orders_per_account = "300/3h"
# certificates_per_identifier = "50/7d"
"#;
