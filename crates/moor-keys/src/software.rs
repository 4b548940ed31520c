//! Keys held in memory by aws-lc-rs: generation, PKCS#8 import/export, signing.

use std::fmt;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING, EcdsaKeyPair,
    EcdsaSigningAlgorithm, Ed25519KeyPair, KeyPair, ML_DSA_44_SIGNING, ML_DSA_65_SIGNING,
    ML_DSA_87_SIGNING, PqdsaKeyPair, PqdsaSigningAlgorithm, RSA_PKCS1_SHA256, RsaKeyPair,
};
use moor_core::KeyAlgorithm;
use pkcs8::ObjectIdentifier;
use zeroize::Zeroizing;

use crate::{KeyError, Signer};

/// id-ecPublicKey (RFC 5480).
const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// secp256r1 / P-256.
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
/// secp384r1 / P-384.
const OID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
/// id-Ed25519 (RFC 8410).
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
/// rsaEncryption (RFC 8017).
const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// id-ml-dsa-44 (FIPS 204, RFC 9881).
const OID_ML_DSA_44: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.3.17");
/// id-ml-dsa-65.
const OID_ML_DSA_65: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.3.18");
/// id-ml-dsa-87.
const OID_ML_DSA_87: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.3.19");

/// The aws-lc-rs key pair behind a [`SoftwareKey`].
enum Inner {
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
    Rsa(RsaKeyPair),
    MlDsa(PqdsaKeyPair),
}

/// A key held in memory (decrypted from a file, or freshly generated).
///
/// Implements [`Signer`]. Its `Debug` output names the algorithm and where
/// the key came from, never key material.
pub struct SoftwareKey {
    alg: KeyAlgorithm,
    inner: Inner,
    /// Cached `SubjectPublicKeyInfo` DER.
    spki: Vec<u8>,
    /// Where the key came from, for [`Signer::describe`].
    origin: String,
}

impl fmt::Debug for SoftwareKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoftwareKey")
            .field("algorithm", &self.alg)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

fn ecdsa_alg(alg: KeyAlgorithm) -> Option<&'static EcdsaSigningAlgorithm> {
    match alg {
        KeyAlgorithm::EcdsaP256 => Some(&ECDSA_P256_SHA256_ASN1_SIGNING),
        KeyAlgorithm::EcdsaP384 => Some(&ECDSA_P384_SHA384_ASN1_SIGNING),
        _ => None,
    }
}

fn ml_dsa_alg(alg: KeyAlgorithm) -> Option<&'static PqdsaSigningAlgorithm> {
    match alg {
        KeyAlgorithm::MlDsa44 => Some(&ML_DSA_44_SIGNING),
        KeyAlgorithm::MlDsa65 => Some(&ML_DSA_65_SIGNING),
        KeyAlgorithm::MlDsa87 => Some(&ML_DSA_87_SIGNING),
        _ => None,
    }
}

fn rsa_size(alg: KeyAlgorithm) -> Option<KeySize> {
    match alg {
        KeyAlgorithm::Rsa2048 => Some(KeySize::Rsa2048),
        KeyAlgorithm::Rsa3072 => Some(KeySize::Rsa3072),
        KeyAlgorithm::Rsa4096 => Some(KeySize::Rsa4096),
        _ => None,
    }
}

/// Encodes a public key as `SubjectPublicKeyInfo` DER.
fn spki_of<P: AsDer<PublicKeyX509Der<'static>>>(
    public: &P,
    alg: KeyAlgorithm,
) -> Result<Vec<u8>, KeyError> {
    public
        .as_der()
        .map(|der| der.as_ref().to_vec())
        .map_err(|_| KeyError::Encoding(format!("{alg} SubjectPublicKeyInfo")))
}

/// Which algorithm a PKCS#8 `PrivateKeyInfo` says it holds, as far as the
/// `AlgorithmIdentifier` tells (RSA size needs the key itself).
enum Detected {
    Known(KeyAlgorithm),
    /// id-ecPublicKey without a named curve in the AlgorithmIdentifier.
    EcUnknownCurve,
    Rsa,
}

fn detect(der: &[u8]) -> Result<Detected, KeyError> {
    let info = pkcs8::PrivateKeyInfo::try_from(der)
        .map_err(|e| KeyError::Malformed(format!("not a PKCS#8 PrivateKeyInfo: {e}")))?;
    let oid = info.algorithm.oid;
    let found = if oid == OID_EC_PUBLIC_KEY {
        match info.algorithm.parameters {
            None => Detected::EcUnknownCurve,
            Some(_) => {
                let curve = info.algorithm.parameters_oid().map_err(|_| {
                    KeyError::UnsupportedAlgorithm("EC key with explicit curve parameters".into())
                })?;
                if curve == OID_P256 {
                    Detected::Known(KeyAlgorithm::EcdsaP256)
                } else if curve == OID_P384 {
                    Detected::Known(KeyAlgorithm::EcdsaP384)
                } else {
                    return Err(KeyError::UnsupportedAlgorithm(format!(
                        "EC key on curve {curve}"
                    )));
                }
            }
        }
    } else if oid == OID_ED25519 {
        Detected::Known(KeyAlgorithm::Ed25519)
    } else if oid == OID_RSA {
        Detected::Rsa
    } else if oid == OID_ML_DSA_44 {
        Detected::Known(KeyAlgorithm::MlDsa44)
    } else if oid == OID_ML_DSA_65 {
        Detected::Known(KeyAlgorithm::MlDsa65)
    } else if oid == OID_ML_DSA_87 {
        Detected::Known(KeyAlgorithm::MlDsa87)
    } else {
        return Err(KeyError::UnsupportedAlgorithm(format!(
            "private key algorithm {oid}"
        )));
    };
    Ok(found)
}

/// The exact bit length of the modulus in a PKCS#1 `RSAPublicKey` DER.
pub(crate) fn rsa_modulus_bits(rsa_public_key: &[u8]) -> Result<usize, KeyError> {
    use pkcs8::der::{Decode as _, Reader as _, SliceReader, asn1::UintRef};

    let malformed = |e: pkcs8::der::Error| KeyError::Malformed(format!("RSA public key: {e}"));
    let mut reader = SliceReader::new(rsa_public_key).map_err(malformed)?;
    let modulus = reader
        .sequence(|r| {
            let n = UintRef::decode(r)?;
            UintRef::decode(r)?;
            Ok(n)
        })
        .map_err(malformed)?;
    let bytes = modulus.as_bytes();
    Ok(match bytes.first() {
        Some(first) => bytes.len() * 8 - first.leading_zeros() as usize,
        None => 0,
    })
}

fn rejected(alg: KeyAlgorithm, e: aws_lc_rs::error::KeyRejected) -> KeyError {
    KeyError::Malformed(format!("{alg} private key rejected: {e}"))
}

impl SoftwareKey {
    fn from_inner(alg: KeyAlgorithm, inner: Inner, origin: String) -> Result<Self, KeyError> {
        let spki = match &inner {
            Inner::Ecdsa(k) => spki_of(k.public_key(), alg)?,
            Inner::Ed25519(k) => spki_of(k.public_key(), alg)?,
            Inner::Rsa(k) => spki_of(k.public_key(), alg)?,
            Inner::MlDsa(k) => spki_of(k.public_key(), alg)?,
        };
        Ok(SoftwareKey {
            alg,
            inner,
            spki,
            origin,
        })
    }

    /// Generates a fresh key of `alg` from the system CSPRNG.
    ///
    /// RSA-4096 generation takes around a second or more.
    pub fn generate(alg: KeyAlgorithm) -> Result<SoftwareKey, KeyError> {
        let failed = |_| KeyError::Generation(alg);
        let inner = if let Some(ec) = ecdsa_alg(alg) {
            Inner::Ecdsa(EcdsaKeyPair::generate(ec).map_err(failed)?)
        } else if let Some(size) = rsa_size(alg) {
            Inner::Rsa(RsaKeyPair::generate(size).map_err(failed)?)
        } else if let Some(pq) = ml_dsa_alg(alg) {
            Inner::MlDsa(PqdsaKeyPair::generate(pq).map_err(failed)?)
        } else if alg == KeyAlgorithm::Ed25519 {
            Inner::Ed25519(Ed25519KeyPair::generate().map_err(failed)?)
        } else {
            return Err(KeyError::UnsupportedAlgorithm(alg.to_string()));
        };
        Self::from_inner(alg, inner, format!("memory:generated-{alg}"))
    }

    /// Parses an unencrypted PKCS#8 (v1 or v2) private key, detecting its
    /// algorithm from the `AlgorithmIdentifier` (curve, RSA modulus size,
    /// ML-DSA level); if `expected` is given, a different algorithm is an
    /// [`KeyError::AlgorithmMismatch`].
    pub fn from_pkcs8_der(
        der: &[u8],
        expected: Option<KeyAlgorithm>,
    ) -> Result<SoftwareKey, KeyError> {
        Self::from_pkcs8_der_with_origin(der, expected, "memory:pkcs8".to_owned())
    }

    pub(crate) fn from_pkcs8_der_with_origin(
        der: &[u8],
        expected: Option<KeyAlgorithm>,
        origin: String,
    ) -> Result<SoftwareKey, KeyError> {
        let check = |found: KeyAlgorithm| match expected {
            Some(expected) if expected != found => {
                Err(KeyError::AlgorithmMismatch { expected, found })
            }
            _ => Ok(found),
        };
        let (alg, inner) = match detect(der)? {
            Detected::Known(alg) => {
                let alg = check(alg)?;
                let inner = if let Some(ec) = ecdsa_alg(alg) {
                    Inner::Ecdsa(EcdsaKeyPair::from_pkcs8(ec, der).map_err(|e| rejected(alg, e))?)
                } else if let Some(pq) = ml_dsa_alg(alg) {
                    Inner::MlDsa(PqdsaKeyPair::from_pkcs8(pq, der).map_err(|e| rejected(alg, e))?)
                } else if alg == KeyAlgorithm::Ed25519 {
                    Inner::Ed25519(Ed25519KeyPair::from_pkcs8(der).map_err(|e| rejected(alg, e))?)
                } else {
                    return Err(KeyError::UnsupportedAlgorithm(alg.to_string()));
                };
                (alg, inner)
            }
            Detected::EcUnknownCurve => {
                // The curve is then only inside ECPrivateKey; let aws-lc tell.
                let (alg, key) = [KeyAlgorithm::EcdsaP256, KeyAlgorithm::EcdsaP384]
                    .into_iter()
                    .find_map(|alg| {
                        let ec = ecdsa_alg(alg)?;
                        EcdsaKeyPair::from_pkcs8(ec, der).ok().map(|k| (alg, k))
                    })
                    .ok_or_else(|| {
                        KeyError::UnsupportedAlgorithm("EC key on an unknown curve".into())
                    })?;
                (check(alg)?, Inner::Ecdsa(key))
            }
            Detected::Rsa => {
                let key = RsaKeyPair::from_pkcs8(der)
                    .map_err(|e| KeyError::Malformed(format!("RSA private key rejected: {e}")))?;
                let bits = rsa_modulus_bits(key.public_key().as_ref())?;
                let alg = KeyAlgorithm::from_rsa_bits(bits)
                    .ok_or_else(|| KeyError::UnsupportedAlgorithm(format!("RSA-{bits}")))?;
                (check(alg)?, Inner::Rsa(key))
            }
        };
        Self::from_inner(alg, inner, origin)
    }

    /// Serialises the private key as unencrypted PKCS#8 v1 DER (e.g. for
    /// server-side key generation returned to a client). Wiped on drop.
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let failed = |_| KeyError::Encoding(format!("{} PKCS#8", self.alg));
        // aws-lc-rs `Document` and `Pkcs8V1Der` zeroize their own buffers on drop.
        let der = match &self.inner {
            Inner::Ecdsa(k) => Zeroizing::new(k.to_pkcs8v1().map_err(failed)?.as_ref().to_vec()),
            Inner::Ed25519(k) => Zeroizing::new(k.to_pkcs8v1().map_err(failed)?.as_ref().to_vec()),
            Inner::Rsa(k) => {
                let der: Pkcs8V1Der<'static> = k.as_der().map_err(failed)?;
                Zeroizing::new(der.as_ref().to_vec())
            }
            Inner::MlDsa(k) => Zeroizing::new(k.to_pkcs8v1().map_err(failed)?.as_ref().to_vec()),
        };
        Ok(der)
    }

    /// Serialises the private key as an unencrypted PKCS#8 PEM
    /// (`-----BEGIN PRIVATE KEY-----`). Wiped on drop.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, KeyError> {
        let der = self.to_pkcs8_der()?;
        let doc = pkcs8::SecretDocument::try_from(der.as_slice())
            .map_err(|e| KeyError::Encoding(format!("PKCS#8 DER: {e}")))?;
        doc.to_pem("PRIVATE KEY", pkcs8::LineEnding::LF)
            .map_err(|e| KeyError::Encoding(format!("PEM: {e}")))
    }
}

impl Signer for SoftwareKey {
    fn algorithm(&self) -> KeyAlgorithm {
        self.alg
    }

    fn public_key_raw(&self) -> &[u8] {
        match &self.inner {
            Inner::Ecdsa(k) => k.public_key().as_ref(),
            Inner::Ed25519(k) => k.public_key().as_ref(),
            Inner::Rsa(k) => k.public_key().as_ref(),
            Inner::MlDsa(k) => k.public_key().as_ref(),
        }
    }

    fn spki_der(&self) -> Vec<u8> {
        self.spki.clone()
    }

    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, KeyError> {
        match &self.inner {
            Inner::Ecdsa(k) => k
                .sign(&SystemRandom::new(), msg)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| KeyError::Signing),
            Inner::Ed25519(k) => k
                .try_sign(msg)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| KeyError::Signing),
            Inner::Rsa(k) => {
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), msg, &mut sig)
                    .map_err(|_| KeyError::Signing)?;
                Ok(sig)
            }
            Inner::MlDsa(k) => {
                let mut sig = vec![0u8; k.algorithm().signature_len()];
                let len = k.sign(msg, &mut sig).map_err(|_| KeyError::Signing)?;
                sig.truncate(len);
                Ok(sig)
            }
        }
    }

    fn describe(&self) -> String {
        self.origin.clone()
    }
}
