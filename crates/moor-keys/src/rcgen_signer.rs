//! Lets rcgen sign certificates, CSRs and CRLs with any [`Signer`].

use crate::Signer;

/// Adapter that lets rcgen sign with any [`Signer`]: implements
/// [`rcgen::SigningKey`] and [`rcgen::PublicKeyData`].
///
/// ```
/// use moor_keys::{KeyAlgorithm, RcgenSigner, SoftwareKey};
///
/// let key = SoftwareKey::generate(KeyAlgorithm::Ed25519)?;
/// let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
/// params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
/// let cert = params.self_signed(&RcgenSigner(&key))?;
/// assert!(!cert.der().is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RcgenSigner<'a>(pub &'a dyn Signer);

impl std::fmt::Debug for RcgenSigner<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("RcgenSigner")
            .field(&self.0.describe())
            .finish()
    }
}

impl rcgen::PublicKeyData for RcgenSigner<'_> {
    fn subject_public_key_info(&self) -> Vec<u8> {
        self.0.spki_der()
    }

    fn der_bytes(&self) -> &[u8] {
        self.0.public_key_raw()
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        self.0.algorithm().rcgen_signature_algorithm()
    }
}

impl rcgen::SigningKey for RcgenSigner<'_> {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        self.0.sign(msg).map_err(|_| rcgen::Error::RemoteKeyError)
    }
}
