//! Discovery: what scanners report about the certificates and keys they find, and how
//! the inventory reads it.
//!
//! - `describe.rs` — the facts kept of one certificate, read from its DER;
//! - this file — the report a scanner sends (`moor scan … --report-to`): TLS endpoints
//!   and files, each with what was found there, certificates always as DER.
//!
//! The server trusts nothing in a report but the DER it carries and where it was seen:
//! every certificate is described again from its bytes.

pub mod describe;
pub mod ssh;

use serde::{Deserialize, Serialize};

pub use describe::{CertInfo, describe, describe_stored};

/// At most this many endpoints or files in one report.
pub const MAX_REPORT_ITEMS: usize = 100_000;
/// At most this many certificates at one location.
pub const MAX_CERTS_PER_LOCATION: usize = 64;

/// What one endpoint presented: the inventory ingests these.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ScanResult {
    /// The IP address connected to (the host name when it did not resolve).
    pub address: String,
    /// The TCP port.
    pub port: u16,
    /// The server name sent (SNI), if any.
    pub sni: Option<String>,
    /// Whether the TCP connection was established.
    pub reachable: bool,
    /// Why the scan of this endpoint failed (connection, timeout, handshake), if it did.
    pub error: Option<String>,
    /// The negotiated protocol (`TLSv1.2`, `TLSv1.3`), when the handshake got that far.
    pub tls_version: Option<String>,
    /// The chain the server sent, leaf first (recorded even when the handshake then failed).
    pub chain: Vec<CertInfo>,
}

/// One file a file scan found something in.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileResult {
    /// The absolute path.
    pub path: String,
    /// What the file holds: `pem`, `der`, `pkcs7`, `pkcs12`, `openssh-public-key`,
    /// `openssh-certificate`, `private-key`, `unreadable`, …
    pub format: String,
    /// The certificates in it (X.509), in file order.
    #[serde(default)]
    pub certificates: Vec<CertInfo>,
    /// The OpenSSH public keys and certificates in it.
    #[serde(default)]
    pub ssh: Vec<SshKeyInfo>,
    /// A private key lives here (its content is never read into a report).
    #[serde(default)]
    pub private_key: Option<KeyFileInfo>,
    /// Why the file could not be read or parsed, if it could not.
    #[serde(default)]
    pub error: Option<String>,
}

/// An OpenSSH public key or certificate.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SshKeyInfo {
    /// `ssh-key` or `ssh-cert`.
    pub kind: String,
    /// The wire type (`ssh-ed25519`, `ecdsa-sha2-nistp256-cert-v01@openssh.com`, …).
    pub key_type: String,
    /// `ed25519`, `ecdsa-p256`, `rsa-3072`, … (the certified key for a certificate).
    pub key_algorithm: String,
    /// `SHA256:` and unpadded base64 of the key blob, as `ssh-keygen -l` prints it (for a
    /// certificate: of the certified public key).
    pub fingerprint: String,
    /// The comment of a public key, the key id of a certificate.
    pub comment: String,
    /// A certificate's principals.
    #[serde(default)]
    pub principals: Vec<String>,
    /// A certificate's validity, Unix seconds (`valid_before` u64::MAX becomes i64::MAX).
    #[serde(default)]
    pub valid_after: Option<i64>,
    #[serde(default)]
    pub valid_before: Option<i64>,
    /// A certificate's serial.
    #[serde(default)]
    pub serial: Option<u64>,
    /// `SHA256:` fingerprint of the CA key that signed a certificate.
    #[serde(default)]
    pub signing_ca: Option<String>,
    /// The blob (key or certificate) in standard base64, as in the file.
    pub blob: String,
}

/// A private key file: that it exists and who may read it; never its content.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct KeyFileInfo {
    /// `pkcs8`, `encrypted-pkcs8`, `rsa`, `ec`, `openssh`, `pkcs12`, …
    pub key_type: String,
    /// The permission bits (`0o600` is 384).
    pub mode: u32,
    /// The owning user id.
    pub uid: u32,
    /// Readable by group or others (`mode & 0o044 != 0`).
    pub readable_by_others: bool,
}

/// What a scan sends to the inventory (`POST /api/v1/inventory/reports`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Report {
    /// The host that ran the scan: file locations are on it.
    pub host: String,
    /// TLS endpoints scanned (every one, reachable or not).
    #[serde(default)]
    pub tls: Vec<ScanResult>,
    /// The roots a file scan walked: a file location under one of them that is not in
    /// `files` any more is no longer seen.
    #[serde(default)]
    pub file_roots: Vec<String>,
    /// Files found holding something.
    #[serde(default)]
    pub files: Vec<FileResult>,
}
