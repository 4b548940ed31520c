//! Signs for the CA: one [`Signer`] trait in front of every CA key, and the
//! storage of software keys as encrypted PKCS#8 files.
//!
//! - [`Signer`] is what the rest of Mooring signs with (certificates, CRLs,
//!   OCSP responses, audit checkpoints). [`RcgenSigner`] adapts any signer to
//!   rcgen.
//! - [`SoftwareKey`] is a key held in memory (aws-lc-rs), generated or
//!   decrypted from a file.
//! - [`write_key_file`] / [`load_key_file`] store a key as an
//!   `ENCRYPTED PRIVATE KEY` PEM (PBES2: PBKDF2-HMAC-SHA256, 600 000
//!   iterations, AES-256-CBC) that `openssl pkey` reads.
//! - [`Passphrase`] holds the passphrase and wipes it on drop.
//!
//! Key material never appears in `Debug` output, errors or logs.

#![forbid(unsafe_code)]

mod encrypted;
mod error;
mod file;
mod passphrase;
pub mod pkcs12;
mod rcgen_signer;
mod signer;
mod software;

pub use encrypted::{PBKDF2_ITERATIONS, decrypt_pkcs8_pem, encrypt_pkcs8_pem};
pub use error::KeyError;
pub use file::{load_key_file, write_key_file};
pub use moor_core::KeyAlgorithm;
pub use passphrase::{PASSPHRASE_ENV, Passphrase};
pub use pkcs12::to_pkcs12;
pub use rcgen_signer::RcgenSigner;
pub use signer::Signer;
pub use software::SoftwareKey;

#[cfg(test)]
mod tests;
