//! Lint-before-sign: an rcgen signing key that lints the TBS before the CA key signs it.

use std::sync::Mutex;

use moor_core::Refusal;
use moor_core::template::Expectations;
use moor_keys::{RcgenSigner, Signer};

/// Wraps the CA signer; `sign(tbs)` runs the lint first and refuses to sign on failure.
pub(crate) struct LintingSigner<'a> {
    pub signer: &'a dyn Signer,
    pub expect: &'a Expectations,
    /// The lint failure, if signing was refused.
    pub failure: Mutex<Option<Refusal>>,
}

impl rcgen::PublicKeyData for LintingSigner<'_> {
    fn der_bytes(&self) -> &[u8] {
        self.signer.public_key_raw()
    }
    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        self.signer.algorithm().rcgen_signature_algorithm()
    }
    fn subject_public_key_info(&self) -> Vec<u8> {
        self.signer.spki_der()
    }
}

impl rcgen::SigningKey for LintingSigner<'_> {
    fn sign(&self, tbs: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        if let Err(r) = moor_core::lint::lint_tbs(tbs, self.expect) {
            *self.failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
            return Err(rcgen::Error::RemoteKeyError);
        }
        rcgen::SigningKey::sign(&RcgenSigner(self.signer), tbs)
    }
}
