//! Signature algorithms: which AlgorithmIdentifiers are accepted (weak and unknown ones
//! are refused), RSASSA-PSS parameters, and the aws-lc-rs algorithm for a scheme and key.

use aws_lc_rs::signature::{self as sig, VerificationAlgorithm};

use super::{bad_csr, der, oid};
use crate::algorithm::KeyAlgorithm;
use crate::refusal::{Refusal, RefusalCode};

/// An accepted signature scheme, before it is matched to the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scheme {
    Ecdsa(Hash),
    RsaPkcs1(Hash),
    RsaPss(Hash),
    Ed25519,
    MlDsa(KeyAlgorithm),
}

impl Scheme {
    /// The conventional name, for refusal details.
    fn name(self) -> String {
        let bits = |h: Hash| match h {
            Hash::Sha256 => 256,
            Hash::Sha384 => 384,
            Hash::Sha512 => 512,
        };
        match self {
            Scheme::Ecdsa(h) => format!("ecdsa-with-SHA{}", bits(h)),
            Scheme::RsaPkcs1(h) => format!("sha{}WithRSAEncryption", bits(h)),
            Scheme::RsaPss(h) => format!("RSASSA-PSS with SHA-{}", bits(h)),
            Scheme::Ed25519 => "Ed25519".to_string(),
            Scheme::MlDsa(k) => k.name().to_uppercase(),
        }
    }
}

/// A hash function of an accepted signature algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

/// Classifies a signature AlgorithmIdentifier; weak or unknown ones are refused.
pub(super) fn signature_scheme(oid: &str, params: Option<der::Tlv<'_>>) -> Result<Scheme, Refusal> {
    let no_params = |scheme: Scheme, rfc: &str| {
        if params.is_some() {
            Err(bad_csr(format!(
                "signature algorithm {oid} must have absent parameters ({rfc})"
            )))
        } else {
            Ok(scheme)
        }
    };
    let null_params = |scheme: Scheme| {
        // RFC 4055 §5: the parameters for these OIDs MUST be NULL (absent tolerated).
        if params.is_some_and(|p| p.tag != der::NULL) {
            Err(bad_csr(format!(
                "signature algorithm {oid} must have NULL parameters (RFC 4055 §5)"
            )))
        } else {
            Ok(scheme)
        }
    };
    match oid {
        // RFC 5758 §3.2: ECDSA with SHA-2, parameters absent.
        oid::ECDSA_SHA256 => no_params(Scheme::Ecdsa(Hash::Sha256), "RFC 5758 §3.2"),
        oid::ECDSA_SHA384 => no_params(Scheme::Ecdsa(Hash::Sha384), "RFC 5758 §3.2"),
        oid::ECDSA_SHA512 => no_params(Scheme::Ecdsa(Hash::Sha512), "RFC 5758 §3.2"),
        oid::SHA256_RSA => null_params(Scheme::RsaPkcs1(Hash::Sha256)),
        oid::SHA384_RSA => null_params(Scheme::RsaPkcs1(Hash::Sha384)),
        oid::SHA512_RSA => null_params(Scheme::RsaPkcs1(Hash::Sha512)),
        oid::RSASSA_PSS => rsa_pss_params(params).map(Scheme::RsaPss),
        // RFC 8410 §3: parameters absent.
        oid::ED25519 => no_params(Scheme::Ed25519, "RFC 8410 §3"),
        // FIPS 204 / RFC 9881 §2: parameters absent.
        oid::ML_DSA_44 => no_params(Scheme::MlDsa(KeyAlgorithm::MlDsa44), "RFC 9881 §2"),
        oid::ML_DSA_65 => no_params(Scheme::MlDsa(KeyAlgorithm::MlDsa65), "RFC 9881 §2"),
        oid::ML_DSA_87 => no_params(Scheme::MlDsa(KeyAlgorithm::MlDsa87), "RFC 9881 §2"),
        _ => Err(Refusal::new(
            RefusalCode::BadSignatureAlgorithm,
            match oid::weak_signature_name(oid) {
                Some(name) => format!("signature algorithm {name} ({oid}) is too weak"),
                None => format!("signature algorithm {oid} is not supported"),
            },
        )),
    }
}

/// The aws-lc-rs verification algorithm for a scheme and key; refuses mismatches.
pub(super) fn verification_algorithm(
    scheme: Scheme,
    key: KeyAlgorithm,
) -> Result<&'static dyn VerificationAlgorithm, Refusal> {
    use KeyAlgorithm as K;
    let alg: &'static dyn VerificationAlgorithm = match (scheme, key) {
        (Scheme::Ecdsa(Hash::Sha256), K::EcdsaP256) => &sig::ECDSA_P256_SHA256_ASN1,
        (Scheme::Ecdsa(Hash::Sha384), K::EcdsaP256) => &sig::ECDSA_P256_SHA384_ASN1,
        (Scheme::Ecdsa(Hash::Sha512), K::EcdsaP256) => &sig::ECDSA_P256_SHA512_ASN1,
        (Scheme::Ecdsa(Hash::Sha256), K::EcdsaP384) => &sig::ECDSA_P384_SHA256_ASN1,
        (Scheme::Ecdsa(Hash::Sha384), K::EcdsaP384) => &sig::ECDSA_P384_SHA384_ASN1,
        (Scheme::Ecdsa(Hash::Sha512), K::EcdsaP384) => &sig::ECDSA_P384_SHA512_ASN1,
        (Scheme::RsaPkcs1(h), k) if k.is_rsa() => match h {
            Hash::Sha256 => &sig::RSA_PKCS1_2048_8192_SHA256,
            Hash::Sha384 => &sig::RSA_PKCS1_2048_8192_SHA384,
            Hash::Sha512 => &sig::RSA_PKCS1_2048_8192_SHA512,
        },
        (Scheme::RsaPss(h), k) if k.is_rsa() => match h {
            Hash::Sha256 => &sig::RSA_PSS_2048_8192_SHA256,
            Hash::Sha384 => &sig::RSA_PSS_2048_8192_SHA384,
            Hash::Sha512 => &sig::RSA_PSS_2048_8192_SHA512,
        },
        (Scheme::Ed25519, K::Ed25519) => &sig::ED25519,
        (Scheme::MlDsa(K::MlDsa44), K::MlDsa44) => &sig::ML_DSA_44,
        (Scheme::MlDsa(K::MlDsa65), K::MlDsa65) => &sig::ML_DSA_65,
        (Scheme::MlDsa(K::MlDsa87), K::MlDsa87) => &sig::ML_DSA_87,
        (scheme, key) => {
            return Err(bad_csr(format!(
                "CSR signature algorithm {} does not match its {key} key",
                scheme.name()
            )));
        }
    };
    Ok(alg)
}

/// Reads RSASSA-PSS-params (RFC 4055 §3.1) and accepts SHA-256/384/512 with MGF1 of the
/// same hash, salt length equal to the hash length and trailerField 1.
fn rsa_pss_params(params: Option<der::Tlv<'_>>) -> Result<Hash, Refusal> {
    let bad = |why: &str| bad_csr(format!("RSASSA-PSS parameters: {why}"));
    let Some(params) = params.filter(|p| p.tag == der::SEQUENCE) else {
        return Err(bad("missing (SHA-1 defaults are refused)"));
    };
    let mut rest = params.content;
    let mut hash = None;
    let mut mgf_hash = None;
    let mut salt = None;
    while !rest.is_empty() {
        let (field, r) = der::read_any(rest).map_err(bad)?;
        rest = r;
        let (inner, after) = der::read_any(field.content).map_err(bad)?;
        if !after.is_empty() {
            return Err(bad("extra data in a field"));
        }
        match field.tag {
            0xa0 => hash = Some(hash_algorithm(inner).map_err(bad)?),
            0xa1 => {
                if inner.tag != der::SEQUENCE {
                    return Err(bad("maskGenAlgorithm is not a SEQUENCE"));
                }
                let (mgf, p) = der::algorithm_identifier(inner.content).map_err(bad)?;
                if mgf != oid::MGF1 {
                    return Err(bad("mask generation function is not MGF1"));
                }
                let p = p.ok_or("MGF1 has no hash").map_err(bad)?;
                mgf_hash = Some(hash_algorithm(p).map_err(bad)?);
            }
            0xa2 => salt = Some(der::small_uint(inner).map_err(bad)?),
            0xa3 => {
                if der::small_uint(inner).map_err(bad)? != 1 {
                    return Err(bad("trailerField is not 1"));
                }
            }
            _ => return Err(bad("unknown field")),
        }
    }
    let hash = hash.ok_or("SHA-1 default hash is refused").map_err(bad)?;
    if mgf_hash != Some(hash) {
        return Err(bad("MGF1 hash differs from the message hash"));
    }
    let expected = match hash {
        Hash::Sha256 => 32,
        Hash::Sha384 => 48,
        Hash::Sha512 => 64,
    };
    if salt != Some(expected) {
        return Err(bad("salt length must equal the hash length"));
    }
    Ok(hash)
}

/// Reads a hash AlgorithmIdentifier (RFC 4055 §2.1) of SHA-256/384/512.
fn hash_algorithm(tlv: der::Tlv<'_>) -> Result<Hash, &'static str> {
    if tlv.tag != der::SEQUENCE {
        return Err("hash algorithm is not a SEQUENCE");
    }
    let (oid, params) = der::algorithm_identifier(tlv.content)?;
    if params.is_some_and(|p| p.tag != der::NULL) {
        return Err("hash algorithm parameters must be NULL or absent");
    }
    match oid.as_str() {
        oid::SHA256 => Ok(Hash::Sha256),
        oid::SHA384 => Ok(Hash::Sha384),
        oid::SHA512 => Ok(Hash::Sha512),
        _ => Err("hash algorithm is not SHA-256, SHA-384 or SHA-512"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csr::test_support::{
        NULL, alg_id, assemble, csr_with, ec_csr, key_for, params, refused, seq, split, tlv,
    };
    use crate::csr::verify_csr;
    use rcgen::PublicKeyData;

    // ---- B1 row 1: weak signature algorithms -----------------------------------------------

    #[test]
    fn weak_or_unknown_signature_algorithms_refused() {
        let key = key_for(KeyAlgorithm::Rsa2048);
        let der = csr_with(&params(&["example.com"]), &key);
        let (info, _, signature) = split(&der);
        // The algorithm is refused before any verification, so the bytes of a SHA-256
        // signature stand in (aws-lc-rs cannot sign with SHA-1).
        for (oid, name) in [
            ("1.2.840.113549.1.1.5", "sha1WithRSAEncryption"),
            ("1.2.840.113549.1.1.4", "md5WithRSAEncryption"),
            ("1.2.840.113549.1.1.2", "md2WithRSAEncryption"),
            ("1.3.14.3.2.29", "sha1WithRSA"),
        ] {
            refused(
                verify_csr(&assemble(&info, &alg_id(oid, Some(NULL)), &signature)),
                RefusalCode::BadSignatureAlgorithm,
                name,
            );
        }
        refused(
            verify_csr(&assemble(&info, &alg_id("1.2.3.4.5", None), &signature)),
            RefusalCode::BadSignatureAlgorithm,
            "not supported",
        );
        let (key, der) = ec_csr();
        let _ = key;
        let (info, _, signature) = split(&der);
        refused(
            verify_csr(&assemble(
                &info,
                &alg_id("1.2.840.10045.4.1", None),
                &signature,
            )),
            RefusalCode::BadSignatureAlgorithm,
            "ecdsa-with-SHA1",
        );
    }

    #[test]
    fn signature_algorithm_must_match_key() {
        let (_, der) = ec_csr();
        let (info, _, signature) = split(&der);
        refused(
            verify_csr(&assemble(
                &info,
                &alg_id(oid::SHA256_RSA, Some(NULL)),
                &signature,
            )),
            RefusalCode::BadCsr,
            "does not match",
        );
        refused(
            verify_csr(&assemble(&info, &alg_id(oid::ML_DSA_44, None), &signature)),
            RefusalCode::BadCsr,
            "does not match",
        );
        let key = key_for(KeyAlgorithm::MlDsa65);
        let (info, _, signature) = split(&csr_with(&params(&["example.com"]), &key));
        refused(
            verify_csr(&assemble(&info, &alg_id(oid::ML_DSA_44, None), &signature)),
            RefusalCode::BadCsr,
            "does not match",
        );
        // ECDSA parameters must be absent.
        let (_, der) = ec_csr();
        let (info, _, signature) = split(&der);
        refused(
            verify_csr(&assemble(
                &info,
                &alg_id(oid::ECDSA_SHA256, Some(NULL)),
                &signature,
            )),
            RefusalCode::BadCsr,
            "absent parameters",
        );
    }

    #[test]
    fn ecdsa_with_other_hash_and_rsa_sha512_verify() {
        // P-256 key signing with SHA-384 (ECDSA_P256_SHA384_ASN1) via aws-lc-rs directly.
        use aws_lc_rs::signature::{
            ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _, RsaKeyPair,
        };
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let key = key_for(KeyAlgorithm::EcdsaP256);
        let (info, _, _) = split(&csr_with(&params(&["example.com"]), &key));
        let ec = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &key.serialize_der())
            .unwrap();
        assert_eq!(ec.public_key().as_ref(), key.der_bytes());
        let sig256 = ec.sign(&rng, &info).unwrap();
        assert!(
            verify_csr(&assemble(
                &info,
                &alg_id(oid::ECDSA_SHA256, None),
                sig256.as_ref()
            ))
            .is_ok()
        );
        // The same signature under the SHA-384 OID does not verify.
        refused(
            verify_csr(&assemble(
                &info,
                &alg_id(oid::ECDSA_SHA384, None),
                sig256.as_ref(),
            )),
            RefusalCode::BadCsr,
            "does not verify",
        );
        let rsa = key_for(KeyAlgorithm::Rsa2048);
        let (info, _, _) = split(&csr_with(&params(&["example.com"]), &rsa));
        let kp = RsaKeyPair::from_pkcs8(&rsa.serialize_der()).unwrap();
        let mut sig = vec![0; kp.public_modulus_len()];
        kp.sign(
            &aws_lc_rs::signature::RSA_PKCS1_SHA512,
            &rng,
            &info,
            &mut sig,
        )
        .unwrap();
        assert!(verify_csr(&assemble(&info, &alg_id(oid::SHA512_RSA, Some(NULL)), &sig)).is_ok());
        // Absent NULL is tolerated for PKCS#1 v1.5.
        assert!(verify_csr(&assemble(&info, &alg_id(oid::SHA512_RSA, None), &sig)).is_ok());
    }

    fn pss_params(hash: &str, mgf_hash: &str, salt: u8) -> Vec<u8> {
        seq(&[
            &tlv(0xa0, &alg_id(hash, Some(NULL))),
            &tlv(
                0xa1,
                &alg_id(oid::MGF1, Some(&alg_id(mgf_hash, Some(NULL)))),
            ),
            &tlv(0xa2, &tlv(0x02, &[salt])),
        ])
    }

    #[test]
    fn rsa_pss_verifies() {
        use aws_lc_rs::signature::RsaKeyPair;
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let rsa = key_for(KeyAlgorithm::Rsa2048);
        let (info, _, _) = split(&csr_with(&params(&["example.com"]), &rsa));
        let kp = RsaKeyPair::from_pkcs8(&rsa.serialize_der()).unwrap();
        let mut sig = vec![0; kp.public_modulus_len()];
        kp.sign(&aws_lc_rs::signature::RSA_PSS_SHA256, &rng, &info, &mut sig)
            .unwrap();
        let good = pss_params(oid::SHA256, oid::SHA256, 32);
        let v = verify_csr(&assemble(
            &info,
            &alg_id(oid::RSASSA_PSS, Some(&good)),
            &sig,
        ))
        .unwrap();
        assert_eq!(v.public_key.algorithm, KeyAlgorithm::Rsa2048);
        for (params, needle) in [
            (pss_params(oid::SHA256, oid::SHA256, 20), "salt length"),
            (pss_params(oid::SHA256, oid::SHA384, 32), "MGF1 hash"),
            (
                pss_params("1.3.14.3.2.26", "1.3.14.3.2.26", 20),
                "not SHA-256",
            ),
            (seq(&[]), "SHA-1 default"),
        ] {
            refused(
                verify_csr(&assemble(
                    &info,
                    &alg_id(oid::RSASSA_PSS, Some(&params)),
                    &sig,
                )),
                RefusalCode::BadCsr,
                needle,
            );
        }
        refused(
            verify_csr(&assemble(&info, &alg_id(oid::RSASSA_PSS, None), &sig)),
            RefusalCode::BadCsr,
            "missing",
        );
        // A PSS signature under the PKCS#1 v1.5 OID does not verify.
        refused(
            verify_csr(&assemble(&info, &alg_id(oid::SHA256_RSA, Some(NULL)), &sig)),
            RefusalCode::BadCsr,
            "does not verify",
        );
    }

    // ---- B1 row 2: ECDSA r=0 / s=0, non-canonical DER signatures -------------------------

    #[test]
    fn ecdsa_degenerate_and_non_canonical_signatures_refused() {
        let (_, der) = ec_csr();
        let (info, alg, signature) = split(&der);
        let zero_r = seq(&[&[0x02, 0x01, 0x00], &[0x02, 0x01, 0x01]]);
        let zero_s = seq(&[&[0x02, 0x01, 0x01], &[0x02, 0x01, 0x00]]);
        let zero_both = seq(&[&[0x02, 0x01, 0x00], &[0x02, 0x01, 0x00]]);
        for bad in [zero_r, zero_s, zero_both] {
            refused(
                verify_csr(&assemble(&info, &alg, &bad)),
                RefusalCode::BadCsr,
                "does not verify",
            );
        }
        // Re-encode the real (r, s) non-canonically: an extra leading zero on r, and a
        // long-form length on the outer SEQUENCE.
        let (sig_seq, _) = der::read(&signature, der::SEQUENCE).unwrap();
        let (r, rest) = der::read(sig_seq.content, der::INTEGER).unwrap();
        let (s, _) = der::read(rest, der::INTEGER).unwrap();
        let padded_r = tlv(0x02, &[&[0u8][..], r.content].concat());
        let non_minimal = seq(&[&padded_r, s.raw]);
        refused(
            verify_csr(&assemble(&info, &alg, &non_minimal)),
            RefusalCode::BadCsr,
            "does not verify",
        );
        let body = [r.raw, s.raw].concat();
        let long_form = [&[0x30, 0x81, body.len() as u8][..], &body].concat();
        refused(
            verify_csr(&assemble(&info, &alg, &long_form)),
            RefusalCode::BadCsr,
            "does not verify",
        );
        let trailing = [&signature[..], &[0x00]].concat();
        refused(
            verify_csr(&assemble(&info, &alg, &trailing)),
            RefusalCode::BadCsr,
            "does not verify",
        );
        // The original still verifies.
        assert!(verify_csr(&assemble(&info, &alg, &signature)).is_ok());
    }
}
