//! The one interface every CA key is used through.

use moor_core::KeyAlgorithm;

use crate::KeyError;

/// Signs with a CA key, wherever it lives (memory, file, PKCS#11 token).
///
/// Implementations must never expose private key material through any method,
/// `Debug` output or error.
pub trait Signer: Send + Sync + 'static {
    /// The key's algorithm (and so its signature scheme).
    fn algorithm(&self) -> KeyAlgorithm;

    /// The subjectPublicKey BIT STRING content: the uncompressed EC point, the
    /// 32 Ed25519 bytes, the PKCS#1 `RSAPublicKey` DER, or the raw ML-DSA key.
    fn public_key_raw(&self) -> &[u8];

    /// The full `SubjectPublicKeyInfo` DER.
    fn spki_der(&self) -> Vec<u8>;

    /// Signs `msg` with the algorithm's signature scheme.
    ///
    /// ECDSA: ASN.1 DER `Ecdsa-Sig-Value` over SHA-256 (P-256) / SHA-384 (P-384)
    /// of `msg`; RSA: PKCS#1 v1.5 with SHA-256; Ed25519 (pure); ML-DSA: pure
    /// with an empty context.
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, KeyError>;

    /// Where the key lives, for logs (`file:/path`, later `pkcs11:…`). Never
    /// key material.
    fn describe(&self) -> String;
}
