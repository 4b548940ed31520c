//! Discovery scans: find the certificates machines present, whoever issued them.
//!
//! - `targets.rs` — parsing `--targets` and `--ports` and expanding them into endpoints;
//! - `tls.rs` — one TLS handshake per endpoint that accepts and records any chain, and the
//!   certificate details the inventory keeps;
//! - `files.rs` — walking paths for certificates, OpenSSH keys and private-key files
//!   ([`scan_files`]), with `pkcs12.rs` reading what a PKCS#12 file holds;
//! - `report.rs` — sending a [`Report`] to the server's inventory ([`post_report`]).
//!
//! [`scan_tls`] runs the handshakes with bounded concurrency; every endpoint gives one
//! [`ScanResult`], failed or not: a scan never aborts because one host is unreachable.

pub mod files;
pub mod pkcs12;
pub mod report;
pub mod targets;
pub mod tls;

use std::sync::Arc;
use std::time::Duration;

pub use files::{FileScan, FileScanOptions, scan_files};
pub use moor_core::discovery::{CertInfo, FileResult, Report, ScanResult};
pub use report::{ReportAck, ReportError, post_report};
pub use targets::{Endpoint, Target, TargetHost, expand, parse_ports, parse_targets};

/// At most this many handshakes at once.
pub const MAX_CONCURRENCY: usize = 4_096;
/// The longest timeout for one endpoint.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(600);

/// Why a scan could not start (a bad input). Failures of single endpoints are results.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// A target that is not an address, block or host name.
    #[error("bad target {target:?}: {reason}")]
    BadTarget {
        /// The target as given (at most 80 characters).
        target: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A bad `--ports` list.
    #[error("bad ports: {0}")]
    BadPorts(String),
    /// An input over its bound.
    #[error("too large: {0}")]
    TooLarge(String),
    /// Another bad option (SNI, timeout, concurrency).
    #[error("{0}")]
    BadOption(String),
}

/// How to scan.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Handshakes at once (1 to [`MAX_CONCURRENCY`]).
    pub concurrency: usize,
    /// The whole attempt per endpoint: connect and handshake.
    pub timeout: Duration,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            concurrency: 64,
            timeout: Duration::from_secs(5),
        }
    }
}

impl ScanOptions {
    /// Check the bounds.
    pub fn validate(&self) -> Result<(), ScanError> {
        if self.concurrency == 0 || self.concurrency > MAX_CONCURRENCY {
            return Err(ScanError::BadOption(format!(
                "concurrency must be 1 to {MAX_CONCURRENCY}"
            )));
        }
        if self.timeout.is_zero() || self.timeout > MAX_TIMEOUT {
            return Err(ScanError::BadOption(format!(
                "the timeout must be more than 0 and at most {} s",
                MAX_TIMEOUT.as_secs()
            )));
        }
        Ok(())
    }
}

/// Parse a duration: `5s`, `500ms`, `2m`, or a number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, ScanError> {
    let s = s.trim();
    let err = || {
        ScanError::BadOption(format!(
            "bad duration {:?} (like 5s, 500ms, 2m)",
            s.chars().take(20).collect::<String>()
        ))
    };
    if s.is_empty() || s.len() > 20 {
        return Err(err());
    }
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| err())?;
    let d = match unit {
        "" | "s" => Duration::from_secs(n),
        "ms" => Duration::from_millis(n),
        "m" => Duration::from_secs(n.checked_mul(60).ok_or_else(err)?),
        _ => return Err(err()),
    };
    Ok(d)
}

/// Scan every endpoint: at most `options.concurrency` at once, each within
/// `options.timeout`. `progress(done, total)` is called after each endpoint. The results
/// are in the order of `endpoints`.
pub async fn scan_tls(
    endpoints: Vec<Endpoint>,
    options: &ScanOptions,
    mut progress: impl FnMut(usize, usize),
) -> Result<Vec<ScanResult>, ScanError> {
    options.validate()?;
    let total = endpoints.len();
    let timeout = options.timeout;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut slots: Vec<Option<ScanResult>> = vec![None; total];
    let mut set = tokio::task::JoinSet::new();
    let mut done = 0usize;
    let mut finish = |r: Result<(usize, ScanResult), tokio::task::JoinError>,
                      slots: &mut Vec<Option<ScanResult>>| {
        if let Ok((i, res)) = r
            && let Some(slot) = slots.get_mut(i)
        {
            *slot = Some(res);
        }
        done += 1;
        progress(done, total);
    };
    for (i, ep) in endpoints.iter().cloned().enumerate() {
        while set.len() >= options.concurrency {
            if let Some(r) = set.join_next().await {
                finish(r, &mut slots);
            }
        }
        let provider = provider.clone();
        set.spawn(async move { (i, tls::scan_one(ep, provider, timeout).await) });
    }
    while let Some(r) = set.join_next().await {
        finish(r, &mut slots);
    }
    Ok(slots
        .into_iter()
        .zip(endpoints)
        .map(|(slot, ep)| {
            slot.unwrap_or_else(|| ScanResult {
                address: ep.address,
                port: ep.port,
                sni: ep.sni,
                reachable: false,
                error: Some("the scan task failed".into()),
                tls_version: None,
                chain: Vec::new(),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("5").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        for s in ["", "s", "5h", "-1s", "1.5s", "99999999999999999999s", "5 s"] {
            assert!(parse_duration(s).is_err(), "{s}");
        }
        let o = ScanOptions {
            concurrency: 0,
            ..Default::default()
        };
        assert!(o.validate().is_err());
    }
}
