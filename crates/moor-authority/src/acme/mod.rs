//! ACME (RFC 8555): the parts of the ACME server that live in the authority.

pub mod nonce;
pub mod service;
pub mod validation;
