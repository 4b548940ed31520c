//! The agent's loop: one pass over the certificates (`--once`), or passes forever, each
//! sleeping until the next renewal time or retry. A failure never touches the files in
//! place; it is retried with exponential backoff (5 s doubling up to `max_backoff_secs`).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::client::{self, Obtained};
use crate::config::{AgentConfig, CertificateConfig, Method};
use crate::{AgentError, files};

/// What one pass did for a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// There was none; one was obtained.
    Obtained,
    /// It was due; its successor (with a new key) replaced it.
    Renewed,
    /// Not due until then (unix seconds).
    Fresh { renew_at: i64 },
    /// It failed; retried at (unix seconds).
    Failed { error: String, retry_at: i64 },
}

/// The last known state of a certificate (kept in the state file, shown by `status`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertStatus {
    pub name: String,
    pub not_after: Option<i64>,
    pub renew_at: Option<i64>,
    pub last_attempt: Option<i64>,
    pub last_result: String,
    pub failures: u32,
    pub retry_at: Option<i64>,
    pub hook: Option<String>,
    /// The files changed but the hook failed: it runs again on the next passes until it
    /// succeeds.
    #[serde(default)]
    pub hook_pending: bool,
}

/// A number in [0, 1) fixed for a certificate: two bytes of its SHA-256 from `at`.
fn spread(der: &[u8], at: usize) -> f64 {
    let h = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
    f64::from(u16::from_be_bytes([h.as_ref()[at], h.as_ref()[at + 1]])) / 65_536.0
}

/// Run the certificate's hook (after the files changed, or again while it last failed).
fn run_hook(c: &CertificateConfig) -> Result<(), AgentError> {
    let Some(hook) = &c.hook else { return Ok(()) };
    let mut child = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(hook)
        .env("MOOR_CERT", &c.cert)
        .env("MOOR_KEY", &c.key)
        .env("MOOR_NAME", &c.name)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| AgentError::Hook {
            command: hook.clone(),
            detail: e.to_string(),
        })?;
    // A hook that hangs must not stall every other certificate: killed after a minute.
    let started = std::time::Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() < HOOK_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(AgentError::Hook {
                    command: hook.clone(),
                    detail: format!("still running after {} s; killed", HOOK_TIMEOUT.as_secs()),
                });
            }
            Err(e) => {
                return Err(AgentError::Hook {
                    command: hook.clone(),
                    detail: e.to_string(),
                });
            }
        }
    };
    if !status.success() {
        return Err(AgentError::Hook {
            command: hook.clone(),
            detail: format!("exit {:?}", status.code()),
        });
    }
    Ok(())
}

/// Longest a hook may run.
const HOOK_TIMEOUT: Duration = Duration::from_secs(60);

/// The agent with its configuration and state.
pub struct Agent {
    config: AgentConfig,
    roots_pem: Vec<u8>,
    state: BTreeMap<String, CertStatus>,
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

impl Agent {
    /// The agent for `config` (state read from its state file when present).
    pub fn new(config: AgentConfig) -> Result<Agent, AgentError> {
        let roots_pem = std::fs::read(&config.ca_bundle).map_err(|error| AgentError::File {
            path: config.ca_bundle.display().to_string(),
            error,
        })?;
        let state = Agent::read_state(&config.state_file);
        Ok(Agent {
            config,
            roots_pem,
            state,
        })
    }

    /// The state file's contents (empty when missing or unreadable).
    pub fn read_state(path: &std::path::Path) -> BTreeMap<String, CertStatus> {
        std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// One pass over every certificate.
    pub async fn pass(&mut self) -> Vec<(String, Outcome)> {
        let mut out = Vec::new();
        for c in self.config.certificates.clone() {
            let prior = self.state.get(&c.name).cloned().unwrap_or_default();
            let t = now();
            // Backing off after a failure: not before its retry time.
            if let Some(retry) = prior.retry_at
                && prior.failures > 0
                && t < retry
            {
                out.push((
                    c.name.clone(),
                    Outcome::Failed {
                        error: prior.last_result.clone(),
                        retry_at: retry,
                    },
                ));
                continue;
            }
            let result = self.handle(&c, t).await;
            let installed = files::current(&c.cert);
            let next_renewal = installed.as_ref().map(|cur| self.renew_at(cur));
            let status = self.state.entry(c.name.clone()).or_default();
            status.name = c.name.clone();
            let changed = matches!(result, Ok(Outcome::Obtained | Outcome::Renewed));
            let result = match result {
                Ok(o) if changed || prior.hook_pending => match run_hook(&c) {
                    Ok(()) => Ok(o),
                    Err(e) => Err((e, true)),
                },
                Ok(o) => Ok(o),
                Err(e) => Err((e, false)),
            };
            let outcome = match result {
                Ok(o) => {
                    status.hook_pending = false;
                    status.failures = 0;
                    status.retry_at = None;
                    if let Some((_, na, _)) = &installed {
                        status.not_after = Some(*na);
                    }
                    match &o {
                        Outcome::Fresh { renew_at } => status.renew_at = Some(*renew_at),
                        _ => {
                            status.last_attempt = Some(t);
                            status.last_result = format!("{o:?}");
                            status.renew_at = next_renewal;
                        }
                    }
                    if status.last_result.is_empty() {
                        status.last_result = "ok".into();
                    }
                    o
                }
                Err((e, hook_failed)) => {
                    status.hook_pending = hook_failed || prior.hook_pending;
                    status.failures += 1;
                    // 5 s, 10 s, 20 s, … up to max_backoff_secs.
                    let backoff =
                        (5u64 << (status.failures - 1).min(16)).min(self.config.max_backoff_secs);
                    let retry_at = t + backoff as i64;
                    status.last_attempt = Some(t);
                    status.last_result = e.to_string();
                    status.retry_at = Some(retry_at);
                    tracing::warn!(certificate = %c.name, error = %e, retry_in_secs = backoff, "certificate not renewed");
                    Outcome::Failed {
                        error: e.to_string(),
                        retry_at,
                    }
                }
            };
            out.push((c.name.clone(), outcome));
        }
        self.save_state();
        out
    }

    /// Passes forever, sleeping until the next renewal or retry (at most 10 minutes).
    pub async fn run_forever(&mut self) -> ! {
        loop {
            let outcomes = self.pass().await;
            let t = now();
            let next = outcomes
                .iter()
                .map(|(_, o)| match o {
                    Outcome::Fresh { renew_at } => *renew_at,
                    Outcome::Failed { retry_at, .. } => *retry_at,
                    Outcome::Obtained | Outcome::Renewed => t + 1,
                })
                .min()
                .unwrap_or(t + 600);
            let wait = (next - t).clamp(1, 600) as u64;
            tokio::time::sleep(Duration::from_secs(wait)).await;
        }
    }

    /// When a certificate valid `nb`..`na` (DER `der`) is due: its renew fraction of the
    /// lifetime, moved by a jitter that is fixed for one certificate (so restarts do not
    /// change it) and differs between certificates (so a fleet spreads out).
    fn renew_at(&self, (nb, na, der): &(i64, i64, Vec<u8>)) -> i64 {
        let life = (na - nb).max(1) as f64;
        let jitter = (spread(der, 0) * 2.0 - 1.0) * self.config.jitter_fraction * life;
        nb + (self.config.renew_fraction * life + jitter) as i64
    }

    async fn handle(&self, c: &CertificateConfig, t: i64) -> Result<Outcome, AgentError> {
        // A key that is not the certificate's (a crash between the two renames): the pair
        // cannot prove anything; start over with the token when there is one.
        let found = files::current(&c.cert);
        let usable = found
            .as_ref()
            .is_some_and(|(_, _, der)| files::key_matches(der, &c.key));
        if found.is_some() && !usable {
            tracing::warn!(certificate = %c.name, "the key does not match the certificate; obtaining a new pair");
        }
        let Some(current) = found.filter(|_| usable) else {
            let kc = client::new_key_and_csr(&c.names)?;
            let got = self.obtain(c, &kc).await?;
            self.install(c, &kc.key_pem, &got)?;
            return Ok(Outcome::Obtained);
        };
        let der = &current.2;
        let mut renew_at = self.renew_at(&current);
        // One ACME session per pass: for the renewal window and, when due, the order.
        let mut acme = None;
        if c.method == Method::Acme {
            // The server's ARI window (RFC 9773) may open earlier (an admin's "renew now");
            // the time is chosen at random inside it (§4.2), fixed per certificate, so a
            // fleet spreads out.
            if let Ok(session) = self.acme(c).await {
                if let Some((start, end)) = session.renewal_window(der).await {
                    let at = start + ((end - start).max(0) as f64 * spread(der, 2)) as i64;
                    renew_at = renew_at.min(at);
                }
                acme = Some(session);
            }
        }
        if t < renew_at {
            return Ok(Outcome::Fresh { renew_at });
        }
        let kc = client::new_key_and_csr(&c.names)?;
        if c.method == Method::Acme {
            let mut session = match acme {
                Some(session) => session,
                None => self.acme(c).await?,
            };
            let got = session
                .obtain(&c.names, &kc.csr_der, self.http01(c)?, Some(der))
                .await?;
            self.install(c, &kc.key_pem, &got)?;
            return Ok(Outcome::Renewed);
        }
        let mut identity = std::fs::read(&c.cert).map_err(|error| AgentError::File {
            path: c.cert.display().to_string(),
            error,
        })?;
        identity.extend(std::fs::read(&c.key).map_err(|error| AgentError::File {
            path: c.key.display().to_string(),
            error,
        })?);
        let (server, roots) = (&self.config.server, &self.roots_pem);
        let renewed = match c.method {
            Method::Est => {
                client::est_reenroll(server, roots, &c.profile, &identity, &kc.csr_der).await
            }
            Method::BootstrapToken | Method::MtlsRenew | Method::Acme => {
                client::renew(server, roots, &identity, &kc.csr_pem).await
            }
        };
        let got = match renewed {
            Ok(got) => got,
            // The server no longer takes the certificate as proof (expired past the grace,
            // revoked): a token, if there is one, gets a new identity.
            Err(AgentError::Refused { status: 401, .. }) if c.token_file.is_some() => {
                self.obtain(c, &kc).await?
            }
            Err(e) => return Err(e),
        };
        self.install(c, &kc.key_pem, &got)?;
        Ok(Outcome::Renewed)
    }

    /// An ACME session with the certificate's directory (the account key is kept beside the
    /// state file).
    async fn acme(&self, c: &CertificateConfig) -> Result<crate::acme::AcmeClient, AgentError> {
        let directory = c.acme_directory.clone().unwrap_or_else(|| {
            format!(
                "{}/acme/{}/directory",
                self.config.server.trim_end_matches('/'),
                c.profile
            )
        });
        let key = self.config.state_file.with_extension("acme-account.key");
        crate::acme::AcmeClient::connect(client::client(&self.roots_pem, None)?, &directory, &key)
            .await
    }

    fn http01(&self, c: &CertificateConfig) -> Result<std::net::SocketAddr, AgentError> {
        c.http01_listen
            .parse()
            .map_err(|_| AgentError::Config(format!("{}: http01_listen", c.name)))
    }

    /// A first certificate (or a new start) with the token, by the configured method.
    async fn obtain(
        &self,
        c: &CertificateConfig,
        kc: &client::KeyAndCsr,
    ) -> Result<Obtained, AgentError> {
        if c.method == Method::Acme {
            return self
                .acme(c)
                .await?
                .obtain(&c.names, &kc.csr_der, self.http01(c)?, None)
                .await;
        }
        let token = self.token(c)?;
        match c.method {
            Method::Est => {
                client::est_enroll(
                    &self.config.server,
                    &self.roots_pem,
                    &c.profile,
                    &token,
                    &kc.csr_der,
                )
                .await
            }
            _ => client::enroll(&self.config.server, &self.roots_pem, &token, &kc.csr_pem).await,
        }
    }

    fn token(&self, c: &CertificateConfig) -> Result<String, AgentError> {
        let path = c.token_file.as_ref().ok_or_else(|| {
            AgentError::Config(format!(
                "certificate {}: no token_file to obtain it",
                c.name
            ))
        })?;
        std::fs::read_to_string(path)
            .map(|t| t.trim().to_string())
            .map_err(|error| AgentError::File {
                path: path.display().to_string(),
                error,
            })
    }

    /// Check that the issued leaf is for the new key, write both files to temporary names,
    /// rename the key then the certificate (leaf and chain); then the hook.
    fn install(
        &self,
        c: &CertificateConfig,
        key_pem: &str,
        got: &Obtained,
    ) -> Result<(), AgentError> {
        let leaf = x509_parser::pem::parse_x509_pem(got.cert_pem.as_bytes())
            .map_err(|_| AgentError::BadAnswer("the certificate is not PEM".into()))?
            .1
            .contents;
        if files::cert_spki(&leaf).is_none() || files::cert_spki(&leaf) != files::key_spki(key_pem)
        {
            return Err(AgentError::BadAnswer(
                "the issued certificate is not for the key this agent made".into(),
            ));
        }
        let mode = files::cert_mode(&c.cert);
        let key_tmp = files::write_temp(&c.key, key_pem.as_bytes(), 0o600)?;
        let cert_tmp = match files::write_temp(
            &c.cert,
            format!("{}{}", got.cert_pem, got.chain_pem).as_bytes(),
            mode,
        ) {
            Ok(t) => t,
            Err(e) => {
                let _ = std::fs::remove_file(&key_tmp);
                return Err(e);
            }
        };
        files::commit(&key_tmp, &c.key)?;
        files::commit(&cert_tmp, &c.cert)?;
        tracing::info!(certificate = %c.name, "certificate installed");
        Ok(())
    }

    fn save_state(&self) {
        if let Ok(bytes) = serde_json::to_vec_pretty(&self.state)
            && let Err(e) = files::write_atomic(&self.config.state_file, &bytes, 0o600)
        {
            tracing::warn!(error = %e, "could not write the agent state file");
        }
    }
}
