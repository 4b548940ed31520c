//! Mooring core: pure, synchronous, no I/O.
//!
//! What a request *is* and whether it is acceptable lives here: algorithms,
//! identifiers, CSR verification, profiles, serial numbers, the certificate
//! template and the lints run on it before signing. The authority crate wires
//! these to keys and the store; nothing here sees tokio, sqlx or axum.

#![forbid(unsafe_code)]

pub mod acme;
pub mod algorithm;
pub mod clock;
pub mod crl;
pub mod csr;
pub mod discovery;
pub mod identifier;
pub mod jwt;
pub mod limits;
pub mod lint;
pub mod ocsp;
pub mod pem;
pub mod pkcs7;
pub mod profile;
pub mod refusal;
pub mod scep;
pub mod serial;
pub mod template;

pub use algorithm::KeyAlgorithm;
pub use refusal::{Refusal, RefusalCode};
