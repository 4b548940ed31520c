//! `moor agent`: runs on the machines that hold certificates. For each certificate in its
//! configuration it obtains one if absent (a bootstrap token over REST or EST, or ACME),
//! renews it at a fraction of its lifetime or inside the server's ARI window (by proving
//! the current certificate over mTLS or EST, falling back to the token when the server
//! refuses the proof; by a new ACME order that `replaces` it), with jitter and a new key
//! each time; writes the
//! files atomically (temporary file, fsync, rename; the key 0600); runs a hook after a
//! change; and backs off exponentially while the server is unreachable, never touching a
//! still-valid certificate. It depends on neither the store nor the CA keys.
//!
//! - `config.rs` — the agent's TOML configuration;
//! - `files.rs` — atomic writes and reading the current certificate;
//! - `client.rs` — the Mooring REST and EST calls (enroll, renew);
//! - `acme.rs` — the ACME client (http-01, `replaces`, the ARI window);
//! - `run.rs` — the loop, one pass (`--once`), the state file and `status`;
//! - `scan/` — discovery: `moor scan tls` records the chains TLS endpoints present.

pub mod acme;
pub mod client;
pub mod config;
pub mod files;
pub mod run;
pub mod scan;

pub use config::{AgentConfig, CertificateConfig, Method};
pub use run::{Agent, CertStatus, Outcome};

/// Everything that can go wrong for one certificate.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("{path}: {error}")]
    File { path: String, error: std::io::Error },
    #[error("key or CSR: {0}")]
    Key(String),
    #[error("the server refused ({status}): {message}")]
    Refused { status: u16, message: String },
    #[error("the server is unreachable: {0}")]
    Unreachable(String),
    #[error("the server's answer is not usable: {0}")]
    BadAnswer(String),
    #[error("hook {command:?} failed: {detail}")]
    Hook { command: String, detail: String },
}
