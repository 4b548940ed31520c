//! The key policy: which subject public keys are accepted (RSA, ECDSA P-256/P-384,
//! Ed25519, ML-DSA), with the RSA weak-key checks in `rsa` and `fermat`.

mod fermat;
mod rsa;

use aws_lc_rs::signature::{self as sig, ParsedPublicKey};

use super::{SubjectKey, bad_key, der, oid};
use crate::algorithm::KeyAlgorithm;
use crate::refusal::Refusal;

/// Parses a SubjectPublicKeyInfo (RFC 5280 §4.1.2.7) and applies the key policy.
///
/// Accepted: RSA with a 2048-, 3072- or 4096-bit modulus and e = 65537, without small
/// factors or the ROCA fingerprint; ECDSA on P-256 or P-384 (named curve, uncompressed
/// point on the curve); Ed25519; ML-DSA-44/65/87. Everything else is `BadPublicKey`.
pub fn check_public_key(spki_der: &[u8]) -> Result<SubjectKey, Refusal> {
    der::check_strict(spki_der)
        .map_err(|e| bad_key(format!("public key is not valid DER: {e}")))?;
    let structure = |e: &str| bad_key(format!("SubjectPublicKeyInfo structure: {e}"));
    let (spki, _) = der::read(spki_der, der::SEQUENCE).map_err(structure)?;
    let (alg, rest) = der::read(spki.content, der::SEQUENCE).map_err(structure)?;
    let (bits, rest) = der::read(rest, der::BIT_STRING).map_err(structure)?;
    if !rest.is_empty() {
        return Err(structure("data after the subjectPublicKey"));
    }
    let raw = match bits.content.split_first() {
        Some((0, raw)) => raw,
        _ => return Err(structure("subjectPublicKey BIT STRING has unused bits")),
    };
    let (oid, params) = der::algorithm_identifier(alg.content).map_err(structure)?;
    let algorithm = match oid.as_str() {
        oid::RSA_ENCRYPTION => {
            // RFC 3279 §2.3.1: parameters MUST be NULL (absent tolerated).
            if params.is_some_and(|p| p.tag != der::NULL) {
                return Err(bad_key("RSA key algorithm parameters must be NULL"));
            }
            rsa::check(raw)?
        }
        oid::EC_PUBLIC_KEY => check_ec(params, raw)?,
        oid::ED25519 => {
            // RFC 8410 §3: parameters MUST be absent; §4: the key is 32 octets.
            if params.is_some() {
                return Err(bad_key("Ed25519 key algorithm must have no parameters"));
            }
            if raw.len() != 32 {
                return Err(bad_key(format!(
                    "Ed25519 public key is {} bytes, expected 32",
                    raw.len()
                )));
            }
            ParsedPublicKey::new(&sig::ED25519, raw)
                .map_err(|_| bad_key("Ed25519 public key is not a valid point"))?;
            KeyAlgorithm::Ed25519
        }
        oid::ML_DSA_44 | oid::ML_DSA_65 | oid::ML_DSA_87 => check_ml_dsa(&oid, params, raw)?,
        oid::RSASSA_PSS => {
            return Err(bad_key(
                "RSASSA-PSS-restricted RSA keys are not accepted; use an rsaEncryption key",
            ));
        }
        oid::DSA => return Err(bad_key("DSA keys are not accepted")),
        oid::X25519 | oid::X448 => return Err(bad_key("X25519/X448 keys cannot sign")),
        oid::ED448 => return Err(bad_key("Ed448 keys are not accepted")),
        other => {
            return Err(bad_key(format!(
                "public key algorithm {other} is not accepted"
            )));
        }
    };
    Ok(SubjectKey {
        algorithm,
        spki_der: spki_der.to_vec(),
        raw: raw.to_vec(),
    })
}

/// Checks an id-ecPublicKey (RFC 5480 §2.1.1): named curve P-256 or P-384, uncompressed
/// point (§2.2) on the curve.
fn check_ec(params: Option<der::Tlv<'_>>, raw: &[u8]) -> Result<KeyAlgorithm, Refusal> {
    let Some(params) = params else {
        return Err(bad_key("EC key has no curve parameters"));
    };
    if params.tag == der::SEQUENCE {
        // RFC 5480 §2.1.1: specifiedCurve MUST NOT be used.
        return Err(bad_key(
            "EC key with explicit curve parameters is not accepted",
        ));
    }
    if params.tag != der::OID {
        return Err(bad_key("EC key parameters are not a named curve"));
    }
    let curve =
        der::oid_to_string(params.content).ok_or_else(|| bad_key("EC curve OID is malformed"))?;
    let (algorithm, verifier, len): (_, &'static sig::EcdsaVerificationAlgorithm, _) =
        match curve.as_str() {
            oid::P256 => (KeyAlgorithm::EcdsaP256, &sig::ECDSA_P256_SHA256_ASN1, 65),
            oid::P384 => (KeyAlgorithm::EcdsaP384, &sig::ECDSA_P384_SHA384_ASN1, 97),
            oid::P521 => {
                return Err(bad_key(
                    "EC keys on P-521 are not accepted; use P-256 or P-384",
                ));
            }
            oid::SECP256K1 => return Err(bad_key("EC keys on secp256k1 are not accepted")),
            other => return Err(bad_key(format!("EC curve {other} is not accepted"))),
        };
    match raw.first() {
        Some(0x04) => {}
        Some(0x02 | 0x03) => {
            return Err(bad_key(
                "compressed EC points are not accepted (RFC 5480 §2.2)",
            ));
        }
        Some(0x00) => return Err(bad_key("EC public key is the point at infinity")),
        _ => return Err(bad_key("EC public key is not an uncompressed point")),
    }
    if raw.len() != len {
        return Err(bad_key(format!(
            "EC public key is {} bytes, expected {len} for {algorithm}",
            raw.len()
        )));
    }
    // aws-lc's EC_POINT_oct2point checks the point is on the curve and not infinity.
    ParsedPublicKey::new(verifier, raw)
        .map_err(|_| bad_key("EC public key is not a point on the curve"))?;
    Ok(algorithm)
}

/// Checks an ML-DSA key (FIPS 204 Table 2 sizes; RFC 9881 §4: parameters absent).
fn check_ml_dsa(
    oid: &str,
    params: Option<der::Tlv<'_>>,
    raw: &[u8],
) -> Result<KeyAlgorithm, Refusal> {
    if params.is_some() {
        return Err(bad_key("ML-DSA key algorithm must have no parameters"));
    }
    let (algorithm, verifier, len): (_, &'static sig::PqdsaVerificationAlgorithm, _) = match oid {
        oid::ML_DSA_44 => (KeyAlgorithm::MlDsa44, &sig::ML_DSA_44, 1312),
        oid::ML_DSA_65 => (KeyAlgorithm::MlDsa65, &sig::ML_DSA_65, 1952),
        _ => (KeyAlgorithm::MlDsa87, &sig::ML_DSA_87, 2592),
    };
    if raw.len() != len {
        return Err(bad_key(format!(
            "{algorithm} public key is {} bytes, expected {len}",
            raw.len()
        )));
    }
    ParsedPublicKey::new(verifier, raw)
        .map_err(|_| bad_key(format!("{algorithm} public key is malformed")))?;
    Ok(algorithm)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csr::test_support::{NULL, alg_id, key_for, key_refused, oid_der, seq, spki};
    use rcgen::{KeyPair, PublicKeyData};

    // ---- B1 rows 3-5: key policy ---------------------------------------------------------

    #[test]
    fn ec_key_policy() {
        let p256 = key_for(KeyAlgorithm::EcdsaP256);
        let point = p256.der_bytes().to_vec();
        let ec_alg = |curve: &str| alg_id(oid::EC_PUBLIC_KEY, Some(&oid_der(curve)));
        assert!(check_public_key(&spki(&ec_alg(oid::P256), &point)).is_ok());
        // P-521 and secp256k1 are refused by curve, before the point is looked at.
        let p521 = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512).unwrap();
        key_refused(&p521.subject_public_key_info(), "P-521");
        key_refused(&spki(&ec_alg(oid::SECP256K1), &point), "secp256k1");
        key_refused(&spki(&ec_alg("1.3.132.0.33"), &point), "not accepted");
        // Explicit parameters (RFC 5480 §2.1.1 specifiedCurve).
        let explicit = seq(&[&[0x02, 0x01, 0x01], &seq(&[&oid_der("1.2.840.10045.1.1")])]);
        key_refused(
            &spki(&alg_id(oid::EC_PUBLIC_KEY, Some(&explicit)), &point),
            "explicit",
        );
        key_refused(&spki(&alg_id(oid::EC_PUBLIC_KEY, None), &point), "no curve");
        // Compressed point, infinity, wrong length, off-curve.
        let mut compressed = vec![0x02 | (point[64] & 1)];
        compressed.extend_from_slice(&point[1..33]);
        key_refused(&spki(&ec_alg(oid::P256), &compressed), "compressed");
        key_refused(&spki(&ec_alg(oid::P256), &[0x00]), "infinity");
        key_refused(&spki(&ec_alg(oid::P384), &point), "expected 97");
        let mut off = point.clone();
        off[64] ^= 0x01;
        key_refused(&spki(&ec_alg(oid::P256), &off), "not a point on the curve");
        let mut zero = vec![0x04];
        zero.extend([0u8; 64]);
        key_refused(&spki(&ec_alg(oid::P256), &zero), "not a point on the curve");
    }

    #[test]
    fn other_key_types() {
        let ed = key_for(KeyAlgorithm::Ed25519);
        let raw = ed.der_bytes();
        key_refused(
            &spki(&alg_id(oid::ED25519, None), &raw[..31]),
            "expected 32",
        );
        key_refused(
            &spki(&alg_id(oid::ED25519, Some(NULL)), raw),
            "no parameters",
        );
        let ml = key_for(KeyAlgorithm::MlDsa44);
        let raw = ml.der_bytes();
        assert_eq!(raw.len(), 1312);
        key_refused(
            &spki(&alg_id(oid::ML_DSA_44, None), &raw[..1311]),
            "expected 1312",
        );
        key_refused(&spki(&alg_id(oid::ML_DSA_65, None), raw), "expected 1952");
        key_refused(&spki(&alg_id(oid::ML_DSA_87, None), raw), "expected 2592");
        key_refused(&spki(&alg_id(oid::DSA, None), &[0x02, 0x01, 0x01]), "DSA");
        key_refused(&spki(&alg_id(oid::X25519, None), &[0; 32]), "cannot sign");
        key_refused(&spki(&alg_id(oid::ED448, None), &[0; 57]), "Ed448");
        key_refused(&spki(&alg_id("1.2.3.4", None), &[0; 32]), "not accepted");
        key_refused(
            &spki(&alg_id(oid::RSASSA_PSS, None), &[0; 32]),
            "RSASSA-PSS",
        );
        // Structure: trailing data, unused bits, non-DER.
        let good = ed.subject_public_key_info();
        key_refused(&[&good[..], &[0]].concat(), "trailing");
        let mut unused = good.clone();
        let pos = unused.len() - 33;
        assert_eq!(unused[pos], 0);
        unused[pos] = 1;
        let last = unused.len() - 1;
        unused[last] |= 1;
        key_refused(&unused, "non-zero padding bits");
        unused[last] &= 0xfe;
        key_refused(&unused, "unused bits");
        key_refused(&[], "DER");
    }
}
