//! The agent's configuration (TOML).
//!
//! ```toml
//! server = "https://ca.internal:8443"
//! ca_bundle = "/etc/mooring/roots.pem"
//! state_file = "/var/lib/moor-agent/state.json"
//! renew_fraction = 0.6667      # renew after this share of the lifetime
//! jitter_fraction = 0.05       # ± this share of the lifetime, so a fleet spreads out
//!
//! [[certificate]]
//! name = "web"
//! cert = "/etc/ssl/web.crt"      # leaf, then chain
//! key = "/etc/ssl/web.key"
//! names = ["web1.example.com"]
//! profile = "tls-server"
//! method = "bootstrap-token"     # obtain with a token, renew over mTLS
//! token_file = "/etc/mooring/web.token"
//! hook = "systemctl reload nginx"
//! ```

use std::path::PathBuf;

use serde::Deserialize;

use crate::AgentError;

/// How a certificate is obtained and renewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Obtain with a bootstrap token (`POST /api/v1/enroll`); renew over mTLS, and with the
    /// token again if the server no longer accepts the certificate (expired past grace).
    BootstrapToken,
    /// Renew over mTLS only (the first certificate was put in place by other means).
    MtlsRenew,
    /// EST (RFC 7030): obtain with `simpleenroll` (the token as the HTTP Basic password),
    /// renew with `simplereenroll` (the current certificate over mTLS).
    Est,
    /// ACME (RFC 8555) with http-01 on `http01_listen`; renewal is a new order that
    /// `replaces` the certificate, due early when the server's ARI window opens.
    Acme,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// Base URL of the Mooring server (`https://host:8443`).
    pub server: String,
    /// PEM roots that sign the server's TLS certificate.
    pub ca_bundle: PathBuf,
    /// Where the last result of each certificate is kept (for `status`).
    pub state_file: PathBuf,
    #[serde(default = "two_thirds")]
    pub renew_fraction: f64,
    #[serde(default = "five_percent")]
    pub jitter_fraction: f64,
    /// Longest wait between retries after failures (seconds).
    #[serde(default = "ten_minutes")]
    pub max_backoff_secs: u64,
    #[serde(rename = "certificate", default)]
    pub certificates: Vec<CertificateConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateConfig {
    /// A label for logs and `status`.
    pub name: String,
    /// The certificate file: leaf then chain (PEM).
    pub cert: PathBuf,
    /// The private key file (PKCS#8 PEM, mode 0600).
    pub key: PathBuf,
    /// The names the certificate carries (DNS names or IP addresses).
    pub names: Vec<String>,
    pub profile: String,
    pub method: Method,
    /// File holding the bootstrap token (for `bootstrap-token`).
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// Shell command run after the files changed.
    #[serde(default)]
    pub hook: Option<String>,
    /// ACME: the directory (default `{server}/acme/{profile}/directory`).
    #[serde(default)]
    pub acme_directory: Option<String>,
    /// ACME: where the http-01 answer is served while an order runs.
    #[serde(default = "port_80")]
    pub http01_listen: String,
}

fn port_80() -> String {
    "0.0.0.0:80".into()
}

fn two_thirds() -> f64 {
    2.0 / 3.0
}
fn five_percent() -> f64 {
    0.05
}
fn ten_minutes() -> u64 {
    600
}

impl AgentConfig {
    /// Read and check a configuration file.
    pub fn load(path: &std::path::Path) -> Result<AgentConfig, AgentError> {
        let text = std::fs::read_to_string(path).map_err(|error| AgentError::File {
            path: path.display().to_string(),
            error,
        })?;
        let c: AgentConfig = toml::from_str(&text)
            .map_err(|e| AgentError::Config(format!("{}: {e}", path.display())))?;
        c.check()?;
        Ok(c)
    }

    fn check(&self) -> Result<(), AgentError> {
        let bad = |m: String| Err(AgentError::Config(m));
        if !self.server.starts_with("https://") {
            return bad("server must be an https:// URL".into());
        }
        if !(0.05..=0.95).contains(&self.renew_fraction) {
            return bad("renew_fraction must be 0.05 to 0.95".into());
        }
        if !(0.0..=0.2).contains(&self.jitter_fraction) {
            return bad("jitter_fraction must be 0 to 0.2".into());
        }
        if self.renew_fraction + self.jitter_fraction >= 0.98 {
            return bad(
                "renew_fraction + jitter_fraction must stay below 0.98 (renewal before expiry)"
                    .into(),
            );
        }
        if self.certificates.is_empty() {
            return bad("no [[certificate]]".into());
        }
        for c in &self.certificates {
            if c.names.is_empty() {
                return bad(format!("certificate {}: no names", c.name));
            }
            if c.method == Method::BootstrapToken && c.token_file.is_none() {
                return bad(format!(
                    "certificate {}: bootstrap-token needs token_file",
                    c.name
                ));
            }
        }
        Ok(())
    }
}
