//! `mooring.toml`: every field has a safe default, so an empty file (or none) works.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use moor_core::profile::Profile;
use serde::{Deserialize, Serialize};

use crate::AuthorityError;

/// The deployment configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address `moor serve` listens on.
    pub listen: String,
    /// Base URL of the HTTPS API (the server certificate covers its host).
    pub public_url: String,
    /// Plain-HTTP listener for the public read-only endpoints (CA certificates, trust
    /// bundle, later CRL and OCSP); empty to disable.
    pub http_listen: String,
    /// Base URL written into certificates for OCSP, caIssuers and the CRL distribution
    /// point. Plain HTTP, as RFC 5280 §4.2.1.13 / §4.2.2.1 and the Baseline Requirements expect.
    pub revocation_url: String,
    /// nextUpdate − thisUpdate of CRLs (`7d` by default; 1 hour to 10 days).
    pub crl_validity: String,
    /// The database: a SQLite file relative to the home (embedded, one node), or a
    /// `postgres://user[:password]@host[:port]/db` URL (several nodes share it).
    pub database: String,
    /// File holding the CA key passphrase (relative to the home) when MOORING_CA_PASSPHRASE is unset.
    pub passphrase_file: String,
    /// Custom profiles (and overrides of built-in ones), by name.
    pub profiles: BTreeMap<String, Profile>,
    /// The ACME server (RFC 8555) at `/acme/{profile}/directory`.
    pub acme: AcmeConfig,
    /// OIDC / JWT provisioners by name (`[oidc.NAME]`): workloads exchange a platform
    /// token for a certificate at `POST /api/v1/oidc/NAME/enroll`.
    pub oidc: BTreeMap<String, OidcProvider>,
    /// SCEP (RFC 8894) at `/scep` and `/scep/{profile}`, on both listeners.
    pub scep: ScepConfig,
    /// The inventory: expiry thresholds and orphan detection.
    pub inventory: InventoryConfig,
    /// Alert rules over findings, delivered to webhooks and the log.
    pub alerts: AlertsConfig,
}

/// `[inventory]`: how findings are judged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InventoryConfig {
    /// A certificate is `expiring` this many days before its end, unless a threshold of
    /// one of its labels says otherwise.
    pub expiring_days: u32,
    /// Per-label thresholds (`[[inventory.thresholds]] label = "env=prod"  days = 45`);
    /// the first that matches an item's labels applies.
    pub thresholds: Vec<ExpiryThreshold>,
    /// An issued certificate no scan has seen deployed this long after its issuance is
    /// an orphan (`7d`; `0s` at once).
    pub orphan_after: String,
}

/// One per-label expiry threshold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpiryThreshold {
    /// `name=value`.
    pub label: String,
    pub days: u32,
}

impl Default for InventoryConfig {
    fn default() -> Self {
        InventoryConfig {
            expiring_days: 30,
            thresholds: Vec::new(),
            orphan_after: "7d".into(),
        }
    }
}

/// `[alerts]`: rules over findings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// How often findings are evaluated and due deliveries attempted (`60s`).
    pub interval: String,
    /// Attempts per delivery before it is given up (backoff doubles from 1 s, at most 1 h).
    pub max_attempts: u32,
    /// The rules (`[[alerts.rules]]`).
    pub rules: Vec<AlertRule>,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            interval: "60s".into(),
            max_attempts: 8,
            rules: Vec::new(),
        }
    }
}

/// One alert rule: which findings, delivered where. Each (rule, finding, item) alerts once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRule {
    pub name: String,
    /// Finding kinds (`expiring`, `expired-served`, …); empty: every kind.
    #[serde(default)]
    pub findings: Vec<String>,
    /// Only items carrying all these labels (`name=value`).
    #[serde(default)]
    pub labels: Vec<String>,
    /// Webhook URLs (JSON POST; https, or http to loopback).
    #[serde(default)]
    pub webhooks: Vec<String>,
    /// Also write each alert to the log (default true).
    #[serde(default = "yes")]
    pub log: bool,
}

fn yes() -> bool {
    true
}

/// `[scep]`: the SCEP server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScepConfig {
    /// Serve SCEP (default true).
    pub enabled: bool,
    /// The profile of `/scep` without a profile in the path (default `device`).
    pub default_profile: String,
    /// Accept requests encrypted with single DES (56-bit key). Some clients, micromdm's
    /// `scepclient` among them, send nothing else whatever GetCACaps says; the request
    /// carries the challenge password (a bootstrap token). Off by default; 3DES and AES
    /// are always accepted.
    pub allow_des: bool,
}

impl Default for ScepConfig {
    fn default() -> Self {
        ScepConfig {
            enabled: true,
            default_profile: "device".into(),
            allow_des: false,
        }
    }
}

/// `[oidc.NAME]`: a token issuer whose tokens a workload may exchange for a certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcProvider {
    /// The `iss` claim tokens must carry.
    pub issuer: String,
    /// The `aud` value tokens must carry.
    pub audience: String,
    /// The issuer's keys: a JWKS file (relative to the home) …
    #[serde(default)]
    pub jwks_file: Option<String>,
    /// … or a JWKS URL (https, or http on loopback only), refetched every 10 minutes and
    /// when a token names an unknown key.
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// PEM CA bundle that signs the JWKS URL's TLS certificate.
    #[serde(default)]
    pub jwks_ca_file: Option<String>,
    /// The profile certificates are issued under.
    pub profile: String,
    /// Name templates: `{claim}` or `{a/b}` (nested claim), `{trust_domain}`, e.g.
    /// `spiffe://{trust_domain}/ns/{kubernetes.io/namespace}/sa/{kubernetes.io/serviceaccount/name}`.
    pub names: Vec<String>,
    /// `{trust_domain}` in the templates.
    #[serde(default)]
    pub trust_domain: String,
    /// Longest token lifetime accepted (exp − iat).
    #[serde(default = "default_max_token_lifetime")]
    pub max_token_lifetime: String,
}

fn default_max_token_lifetime() -> String {
    "24h".into()
}

/// `[acme]`: the ACME server and its validation authority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AcmeConfig {
    /// Serve ACME directories for every profile.
    pub enabled: bool,
    /// Port the http-01 validation connects to (80 in production).
    pub http01_port: u16,
    /// Port the tls-alpn-01 validation connects to (443 in production).
    pub tlsalpn01_port: u16,
    /// The DNS resolver every validation lookup goes through (`ip:port`).
    pub dns_resolver: String,
    /// Let validations connect to loopback addresses (tests only).
    pub allow_loopback: bool,
    /// Profiles whose validations may target private addresses (RFC 1918, ULA). Public
    /// profiles (`public = true`) never do; by default every other profile may.
    pub private_address_profiles: Option<Vec<String>>,
    /// Profiles whose directory requires external account binding (RFC 8555 §7.3.4).
    pub eab_required_profiles: Vec<String>,
    /// `meta.termsOfService` of every directory (empty: none).
    pub terms_of_service: String,
    /// `meta.caaIdentities`: the CAA issuer domain names of this CA (RFC 8659).
    pub caa_identities: Vec<String>,
    /// How long after its validation an authorization may serve later orders of the same
    /// account (a duration like `7d`; `0s`: never reused).
    pub authz_reuse: String,
    /// At finalize, CAA is checked again for every authorization validated longer ago than
    /// this (CA/B Forum BR 3.2.2.8 allows 8 hours).
    pub caa_recheck_after: String,
    /// The ACME profiles extension: more profiles a directory offers (`profile` in
    /// newOrder), by directory. Every directory offers its own profile; the ones listed
    /// must be public exactly when the directory's profile is.
    pub directory_profiles: BTreeMap<String, Vec<String>>,
    /// Rate limits, answered with `rateLimited` and `Retry-After`.
    pub rate_limits: AcmeRateLimits,
}

/// `[acme.rate_limits]`: sliding windows over what the store holds, so every node counts
/// the same. Each is `"N/duration"` (`"300/3h"`); an empty string turns it off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AcmeRateLimits {
    /// New orders of one account.
    pub orders_per_account: String,
    /// Certificates naming one identifier (whoever ordered them), checked at newOrder.
    pub certificates_per_identifier: String,
}

impl Default for AcmeRateLimits {
    fn default() -> Self {
        AcmeRateLimits {
            orders_per_account: "300/3h".into(),
            certificates_per_identifier: "50/7d".into(),
        }
    }
}

impl Default for AcmeConfig {
    fn default() -> Self {
        AcmeConfig {
            enabled: true,
            http01_port: 80,
            tlsalpn01_port: 443,
            dns_resolver: "127.0.0.1:53".into(),
            allow_loopback: false,
            private_address_profiles: None,
            eab_required_profiles: Vec::new(),
            terms_of_service: String::new(),
            caa_identities: Vec::new(),
            authz_reuse: "7d".into(),
            caa_recheck_after: "8h".into(),
            directory_profiles: BTreeMap::new(),
            rate_limits: AcmeRateLimits::default(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8443".into(),
            public_url: "https://localhost:8443".into(),
            http_listen: "127.0.0.1:8080".into(),
            revocation_url: "http://127.0.0.1:8080".into(),
            crl_validity: "7d".into(),
            database: "mooring.db".into(),
            passphrase_file: "ca-passphrase".into(),
            profiles: BTreeMap::new(),
            acme: AcmeConfig::default(),
            scep: ScepConfig::default(),
            oidc: BTreeMap::new(),
            inventory: InventoryConfig::default(),
            alerts: AlertsConfig::default(),
        }
    }
}

impl Config {
    /// Read `path`; a missing file gives the defaults.
    pub fn load(path: &Path) -> Result<Config, AuthorityError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(e) => return Err(AuthorityError::Config(format!("{}: {e}", path.display()))),
        };
        Config::parse(&text).map_err(|e| AuthorityError::Config(format!("{}: {e}", path.display())))
    }

    /// Parse TOML text.
    pub fn parse(text: &str) -> Result<Config, String> {
        let mut c: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        for (name, p) in c.profiles.iter_mut() {
            p.name = name.clone();
        }
        Ok(c)
    }

    /// Built-in profiles overlaid with the configured ones, each validated.
    pub fn effective_profiles(&self) -> Result<BTreeMap<String, Profile>, AuthorityError> {
        let mut all = Profile::builtins();
        for (name, p) in &self.profiles {
            p.validate().map_err(|e| AuthorityError::Config(e.detail))?;
            all.insert(name.clone(), p.clone());
        }
        Ok(all)
    }
}

/// Where everything lives under the home directory.
#[derive(Debug, Clone)]
pub struct Home {
    /// The home directory.
    pub dir: PathBuf,
}

impl Home {
    /// The home at `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Home {
        Home { dir: dir.into() }
    }
    /// The directory itself.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// `mooring.toml`.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("mooring.toml")
    }
    /// Directory of encrypted CA keys.
    pub fn keys_dir(&self) -> PathBuf {
        self.dir.join("keys")
    }
    /// Directory of CA and server certificates (PEM).
    pub fn certs_dir(&self) -> PathBuf {
        self.dir.join("certs")
    }
    /// The trust bundle (every root).
    pub fn roots_path(&self) -> PathBuf {
        self.dir.join("roots.pem")
    }
    /// The first admin token, written at init.
    pub fn admin_token_path(&self) -> PathBuf {
        self.dir.join("admin.token")
    }
    /// Resolve a path relative to the home.
    pub fn resolve(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.dir.join(p)
        }
    }
    /// The server's TLS key (encrypted like CA keys).
    pub fn server_key_path(&self) -> PathBuf {
        self.keys_dir().join("server-tls.key.pem")
    }
    /// The server's TLS certificate chain (leaf first).
    pub fn server_cert_path(&self) -> PathBuf {
        self.certs_dir().join("server-tls.pem")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_is_default() {
        assert_eq!(Config::parse("").unwrap(), Config::default());
    }

    #[test]
    fn custom_profile_parses_and_validates() {
        let c = Config::parse(
            r#"
listen = "0.0.0.0:9443"
[profiles.web]
issuer = "pq"
key_algorithms = ["ecdsa-p256", "ml-dsa-65"]
default_lifetime = "7d"
max_lifetime = "30d"
extended_key_usage = ["server-auth"]
san_types = ["dns"]
allow = ["*.example.com"]
deny = ["admin.example.com"]
"#,
        )
        .unwrap();
        let p = &c.effective_profiles().unwrap()["web"];
        assert_eq!(p.issuer, "pq");
        assert_eq!(p.max_lifetime.as_secs(), 30 * 86400);
        assert!(c.effective_profiles().unwrap().contains_key("tls-server"));
    }

    #[test]
    fn unknown_fields_and_bad_profiles_are_errors() {
        assert!(Config::parse("lisen = 1").is_err());
        let c = Config::parse(
            r#"
[profiles.web]
default_lifetime = "90d"
max_lifetime = "30d"
extended_key_usage = ["server-auth"]
san_types = ["dns"]
"#,
        )
        .unwrap();
        assert!(c.effective_profiles().is_err());
    }
}
