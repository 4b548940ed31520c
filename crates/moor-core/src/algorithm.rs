//! Key and signature algorithms Mooring issues with and accepts.
//!
//! One enum names every algorithm a CA key or a subscriber key may use; the
//! names (`ecdsa-p256`, `ml-dsa-65`, …) are the stable spelling used by the
//! CLI, the REST API, `mooring.toml` and the store.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A public-key algorithm with its parameters (curve, modulus size, ML-DSA level).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
pub enum KeyAlgorithm {
    /// ECDSA on NIST P-256, signatures with SHA-256.
    #[serde(rename = "ecdsa-p256")]
    EcdsaP256,
    /// ECDSA on NIST P-384, signatures with SHA-384.
    #[serde(rename = "ecdsa-p384")]
    EcdsaP384,
    /// Ed25519 (RFC 8032 / RFC 8410).
    #[serde(rename = "ed25519")]
    Ed25519,
    /// RSA 2048-bit modulus, PKCS#1 v1.5 with SHA-256.
    #[serde(rename = "rsa-2048")]
    Rsa2048,
    /// RSA 3072-bit modulus, PKCS#1 v1.5 with SHA-256.
    #[serde(rename = "rsa-3072")]
    Rsa3072,
    /// RSA 4096-bit modulus, PKCS#1 v1.5 with SHA-256.
    #[serde(rename = "rsa-4096")]
    Rsa4096,
    /// ML-DSA-44 (FIPS 204, security category 2).
    #[serde(rename = "ml-dsa-44")]
    MlDsa44,
    /// ML-DSA-65 (FIPS 204, security category 3).
    #[serde(rename = "ml-dsa-65")]
    MlDsa65,
    /// ML-DSA-87 (FIPS 204, security category 5).
    #[serde(rename = "ml-dsa-87")]
    MlDsa87,
}

impl KeyAlgorithm {
    /// Every algorithm, in a stable order.
    pub const ALL: [KeyAlgorithm; 9] = [
        KeyAlgorithm::EcdsaP256,
        KeyAlgorithm::EcdsaP384,
        KeyAlgorithm::Ed25519,
        KeyAlgorithm::Rsa2048,
        KeyAlgorithm::Rsa3072,
        KeyAlgorithm::Rsa4096,
        KeyAlgorithm::MlDsa44,
        KeyAlgorithm::MlDsa65,
        KeyAlgorithm::MlDsa87,
    ];

    /// The stable name (`ecdsa-p256`, `rsa-3072`, `ml-dsa-65`, …).
    pub fn name(self) -> &'static str {
        match self {
            KeyAlgorithm::EcdsaP256 => "ecdsa-p256",
            KeyAlgorithm::EcdsaP384 => "ecdsa-p384",
            KeyAlgorithm::Ed25519 => "ed25519",
            KeyAlgorithm::Rsa2048 => "rsa-2048",
            KeyAlgorithm::Rsa3072 => "rsa-3072",
            KeyAlgorithm::Rsa4096 => "rsa-4096",
            KeyAlgorithm::MlDsa44 => "ml-dsa-44",
            KeyAlgorithm::MlDsa65 => "ml-dsa-65",
            KeyAlgorithm::MlDsa87 => "ml-dsa-87",
        }
    }

    /// Whether the CA/Browser Forum Baseline Requirements (7.1.3) allow this key for
    /// publicly-trusted TLS: RSA and ECDSA P-256/P-384 only.
    pub fn allowed_for_public_tls(self) -> bool {
        matches!(
            self,
            KeyAlgorithm::EcdsaP256
                | KeyAlgorithm::EcdsaP384
                | KeyAlgorithm::Rsa2048
                | KeyAlgorithm::Rsa3072
                | KeyAlgorithm::Rsa4096
        )
    }

    /// True for the RSA family.
    pub fn is_rsa(self) -> bool {
        matches!(
            self,
            KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096
        )
    }

    /// True for the ML-DSA (FIPS 204) family.
    pub fn is_ml_dsa(self) -> bool {
        matches!(
            self,
            KeyAlgorithm::MlDsa44 | KeyAlgorithm::MlDsa65 | KeyAlgorithm::MlDsa87
        )
    }

    /// RSA modulus size in bits, if RSA.
    pub fn rsa_bits(self) -> Option<usize> {
        match self {
            KeyAlgorithm::Rsa2048 => Some(2048),
            KeyAlgorithm::Rsa3072 => Some(3072),
            KeyAlgorithm::Rsa4096 => Some(4096),
            _ => None,
        }
    }

    /// The RSA algorithm for a modulus size in bits (only the sizes we issue for).
    pub fn from_rsa_bits(bits: usize) -> Option<KeyAlgorithm> {
        match bits {
            2048 => Some(KeyAlgorithm::Rsa2048),
            3072 => Some(KeyAlgorithm::Rsa3072),
            4096 => Some(KeyAlgorithm::Rsa4096),
            _ => None,
        }
    }

    /// The rcgen signature algorithm a CA key of this type signs with.
    pub fn rcgen_signature_algorithm(self) -> &'static rcgen::SignatureAlgorithm {
        match self {
            KeyAlgorithm::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            KeyAlgorithm::EcdsaP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            KeyAlgorithm::Ed25519 => &rcgen::PKCS_ED25519,
            KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => {
                &rcgen::PKCS_RSA_SHA256
            }
            KeyAlgorithm::MlDsa44 => &rcgen::PKCS_ML_DSA_44,
            KeyAlgorithm::MlDsa65 => &rcgen::PKCS_ML_DSA_65,
            KeyAlgorithm::MlDsa87 => &rcgen::PKCS_ML_DSA_87,
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error for an algorithm name we do not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown key algorithm {0:?}; expected one of ecdsa-p256, ecdsa-p384, ed25519, rsa-2048, rsa-3072, rsa-4096, ml-dsa-44, ml-dsa-65, ml-dsa-87"
)]
pub struct UnknownAlgorithm(pub String);

impl FromStr for KeyAlgorithm {
    type Err = UnknownAlgorithm;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        KeyAlgorithm::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownAlgorithm(s.chars().take(64).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for a in KeyAlgorithm::ALL {
            assert_eq!(a.name().parse::<KeyAlgorithm>().unwrap(), a);
            // The serde spelling (config files, JSON) is the stable name too.
            let v: Wrapper = toml::from_str(&format!("a = \"{}\"", a.name())).unwrap();
            assert_eq!(v.a, a);
            assert_eq!(
                toml::to_string(&v).unwrap().trim(),
                format!("a = \"{}\"", a.name())
            );
        }
        assert!("dsa-1024".parse::<KeyAlgorithm>().is_err());
    }

    #[derive(serde::Serialize, serde::Deserialize)]
    struct Wrapper {
        a: KeyAlgorithm,
    }
}
