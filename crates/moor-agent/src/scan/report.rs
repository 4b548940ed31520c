//! Sending a scan's [`Report`] to the inventory: `POST {server}/api/v1/inventory/reports`
//! with an admin bearer token, over TLS trusting only the given roots (as the agent does
//! for enrollment).

use moor_core::discovery::Report;
use serde::{Deserialize, Serialize};

/// The largest report sent (JSON bytes).
pub const MAX_REPORT_BYTES: usize = 32 * 1024 * 1024;

/// What the server counted from a report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportAck {
    /// Certificates in the report.
    #[serde(default)]
    pub certificates: u64,
    /// Certificates the inventory had not seen before.
    #[serde(default)]
    pub new: u64,
    /// Locations (endpoints and files) recorded.
    #[serde(default)]
    pub locations: u64,
    /// Locations no longer seen.
    #[serde(default)]
    pub gone: u64,
    /// OpenSSH keys and certificates.
    #[serde(default)]
    pub ssh_keys: u64,
    /// Private-key files.
    #[serde(default)]
    pub key_files: u64,
}

/// Why a report was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The report is over [`MAX_REPORT_BYTES`] or has too many items.
    #[error("the report is too large: {0}")]
    TooLarge(String),
    /// A bad server URL or CA bundle.
    #[error("{0}")]
    Config(String),
    /// The server could not be reached.
    #[error("the server is unreachable: {0}")]
    Unreachable(String),
    /// The server refused the report.
    #[error("the server refused the report ({status}, {code}): {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The error code in the answer, if any.
        code: String,
        /// The error message in the answer (at most 300 characters).
        message: String,
    },
    /// A 200 whose body is not the expected JSON.
    #[error("the server's answer is not usable: {0}")]
    BadAnswer(String),
}

/// Post `report` to `server` (its base URL, `https://…`) with the admin `token`, trusting
/// the roots in `roots_pem`.
pub async fn post_report(
    server: &str,
    token: &str,
    roots_pem: &[u8],
    report: &Report,
) -> Result<ReportAck, ReportError> {
    let url = reports_url(server)?;
    let items = report.tls.len() + report.files.len();
    if items > moor_core::discovery::MAX_REPORT_ITEMS {
        return Err(ReportError::TooLarge(format!(
            "{items} items (at most {})",
            moor_core::discovery::MAX_REPORT_ITEMS
        )));
    }
    let body = serde_json::to_vec(report).map_err(|e| ReportError::Config(e.to_string()))?;
    if body.len() > MAX_REPORT_BYTES {
        return Err(ReportError::TooLarge(format!(
            "{} bytes (at most {MAX_REPORT_BYTES})",
            body.len()
        )));
    }
    let client = crate::client::client(roots_pem, None).map_err(|e| match e {
        crate::AgentError::Config(m) => ReportError::Config(m),
        other => ReportError::Config(other.to_string()),
    })?;
    let r = client
        .post(url)
        .bearer_auth(token.trim())
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| ReportError::Unreachable(e.to_string()))?;
    let status = r.status().as_u16();
    let bytes = r
        .bytes()
        .await
        .map_err(|e| ReportError::Unreachable(e.to_string()))?;
    if status != 200 {
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        // `{"code", "message"}`, or the same under `"error"`.
        let e = if v["error"].is_object() {
            &v["error"]
        } else {
            &v
        };
        let message = match e["message"].as_str() {
            Some(m) => m.to_string(),
            None => String::from_utf8_lossy(&bytes).trim().to_string(),
        };
        return Err(ReportError::Refused {
            status,
            code: e["code"].as_str().unwrap_or("").chars().take(64).collect(),
            message: message.chars().take(300).collect(),
        });
    }
    serde_json::from_slice(&bytes).map_err(|e| ReportError::BadAnswer(e.to_string()))
}

/// `{server}/api/v1/inventory/reports`; only `https` (the token is an admin credential).
fn reports_url(server: &str) -> Result<String, ReportError> {
    let server = server.trim().trim_end_matches('/');
    let bad = |why: &str| {
        ReportError::Config(format!(
            "bad server URL {:?}: {why}",
            server.chars().take(80).collect::<String>()
        ))
    };
    let Some(rest) = server.strip_prefix("https://") else {
        return Err(bad("it must start with https://"));
    };
    if rest.is_empty() || rest.contains(['?', '#', ' ']) || server.len() > 2048 {
        return Err(bad("no host, or a query or fragment"));
    }
    Ok(format!("{server}/api/v1/inventory/reports"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            reports_url("https://ca:8443/").unwrap(),
            "https://ca:8443/api/v1/inventory/reports"
        );
        for bad in ["http://ca", "https://", "ca:8443", "https://ca/?x"] {
            assert!(reports_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn acks_tolerate_missing_counts() {
        let a: ReportAck = serde_json::from_str(r#"{"certificates":2,"new":1}"#).unwrap();
        assert_eq!((a.certificates, a.new, a.gone), (2, 1, 0));
    }
}
