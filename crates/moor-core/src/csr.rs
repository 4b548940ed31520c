//! PKCS#10 certification requests (RFC 2986): decode, check, verify (refuse.md B1).
//!
//! [`verify_csr`] turns untrusted bytes into a [`VerifiedCsr`] only when the DER is strict,
//! the proof-of-possession signature verifies with an accepted algorithm, and the public key
//! passes the key policy ([`check_public_key`]). What the CSR *requests* (names, CA bit,
//! key usages, EKUs, extensions) is reported, never trusted: the profile decides what the
//! certificate contains.
//!
//! Layering: a small strict DER reader (this file) checks the whole structure and reads
//! the outer `CertificationRequest`, the algorithm identifiers and the public key;
//! x509-parser reads the subject and the extension request; aws-lc-rs verifies.

use std::sync::LazyLock;

use aws_lc_rs::signature::{
    self as sig, ParsedPublicKey, UnparsedPublicKey, VerificationAlgorithm,
};
use base64::Engine as _;
use x509_parser::asn1_rs::Tag;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::cri_attributes::ParsedCriAttribute;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;

use crate::algorithm::KeyAlgorithm;
use crate::identifier::{self, Identifier, IdentifierRules};
use crate::limits;
use crate::refusal::{Refusal, RefusalCode};

/// A CSR whose self-signature verified and whose key passed the key checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCsr {
    /// The CSR exactly as received (DER).
    pub der: Vec<u8>,
    /// The subject public key, checked against the key policy.
    pub public_key: SubjectKey,
    /// The first commonName of the subject (UTF8String, PrintableString or IA5String).
    /// Not length-checked here: the profile refuses or drops a CN over
    /// [`limits::MAX_COMMON_NAME_LEN`].
    pub common_name: Option<String>,
    /// True when the subject is the empty sequence.
    pub subject_is_empty: bool,
    /// The subjectAltName entries of the extension request, parsed with
    /// [`IdentifierRules::default`] (the profile re-checks with its own rules).
    pub sans: Vec<Identifier>,
    /// basicConstraints with cA=TRUE was requested.
    pub requests_ca: bool,
    /// keyUsage with keyCertSign or cRLSign was requested.
    pub requested_key_usage_cert_sign: bool,
    /// A nameConstraints extension was requested.
    pub requests_name_constraints: bool,
    /// Requested extended key usages, as dotted OIDs.
    pub requested_ekus: Vec<String>,
    /// Dotted OIDs of critical requested extensions other than SAN, KU, EKU and BC.
    pub unknown_critical_extensions: Vec<String>,
}

/// A subject public key that passed the key policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubjectKey {
    /// The algorithm and size of the key.
    pub algorithm: KeyAlgorithm,
    /// The SubjectPublicKeyInfo, DER, as received.
    pub spki_der: Vec<u8>,
    /// The subjectPublicKey BIT STRING content: an RSAPublicKey for RSA, the uncompressed
    /// point for ECDSA, the raw key for Ed25519 and ML-DSA.
    pub raw: Vec<u8>,
}

impl rcgen::PublicKeyData for SubjectKey {
    fn der_bytes(&self) -> &[u8] {
        &self.raw
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        self.algorithm.rcgen_signature_algorithm()
    }

    fn subject_public_key_info(&self) -> Vec<u8> {
        self.spki_der.clone()
    }
}

impl SubjectKey {
    /// The SHA-256 of the SubjectPublicKeyInfo DER, lower-case hex (the key's fingerprint
    /// for block lists and revoke-by-key).
    pub fn spki_sha256_hex(&self) -> String {
        hex::encode(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            &self.spki_der,
        ))
    }
}

/// Decodes a CSR as sent by a client: PEM (`CERTIFICATE REQUEST` or `NEW CERTIFICATE
/// REQUEST`, RFC 7468 §7), bare base64 (as in EST bodies, RFC 7030 §4.2.1) or raw DER.
/// Refuses anything whose DER exceeds [`limits::MAX_CSR_DER_BYTES`].
pub fn decode_csr_input(input: &[u8]) -> Result<Vec<u8>, Refusal> {
    // Base64 and PEM armour cost at most ~1.4x plus line breaks; anything longer is oversized.
    if input.len() > limits::MAX_CSR_DER_BYTES * 2 + 256 {
        return Err(too_big(input.len()));
    }
    let der = if input.first() == Some(&0x30) && input.get(1).is_some_and(|b| *b >= 0x80) {
        input.to_vec()
    } else if let Some(text) = std::str::from_utf8(input)
        .ok()
        .filter(|t| t.trim_start().starts_with("-----BEGIN"))
    {
        decode_pem(text)?
    } else if input.iter().all(|b| {
        b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=') || b.is_ascii_whitespace()
    }) && !input.is_empty()
    {
        decode_base64(input)?
    } else {
        input.to_vec()
    };
    if der.len() > limits::MAX_CSR_DER_BYTES {
        return Err(too_big(der.len()));
    }
    if der.is_empty() {
        return Err(bad_csr("empty CSR"));
    }
    Ok(der)
}

/// Parses a DER CSR, verifies its self-signature and checks its public key.
pub fn verify_csr(der: &[u8]) -> Result<VerifiedCsr, Refusal> {
    if der.len() > limits::MAX_CSR_DER_BYTES {
        return Err(too_big(der.len()));
    }
    der::check_strict(der).map_err(|e| bad_csr(format!("CSR is not valid DER: {e}")))?;

    // RFC 2986 §4.2: CertificationRequest ::= SEQUENCE { certificationRequestInfo,
    // signatureAlgorithm, signature BIT STRING }.
    let structure = |e: &str| bad_csr(format!("CSR structure: {e}"));
    let (outer, _) = der::read(der, der::SEQUENCE).map_err(structure)?;
    let (info, rest) = der::read(outer.content, der::SEQUENCE).map_err(structure)?;
    let (alg, rest) = der::read(rest, der::SEQUENCE).map_err(structure)?;
    let (signature, rest) = der::read(rest, der::BIT_STRING).map_err(structure)?;
    if !rest.is_empty() {
        return Err(structure("data after the signature"));
    }
    let signature = match signature.content.split_first() {
        Some((0, bits)) => bits,
        _ => return Err(structure("signature BIT STRING has unused bits")),
    };
    let (alg_oid, alg_params) = der::algorithm_identifier(alg.content).map_err(structure)?;

    let (rem, csr) = X509CertificationRequest::from_der(der)
        .map_err(|e| bad_csr(format!("not a PKCS#10 certification request: {e}")))?;
    if !rem.is_empty() {
        return Err(bad_csr("trailing bytes after the CSR"));
    }
    let cri = &csr.certification_request_info;
    if cri.version.0 != 0 {
        return Err(bad_csr(format!(
            "CSR version {} is not v1(0) (RFC 2986 §4.1)",
            cri.version.0
        )));
    }

    let public_key = check_public_key(cri.subject_pki.raw)?;
    let scheme = signature_scheme(&alg_oid, alg_params)?;
    let algorithm = verification_algorithm(scheme, public_key.algorithm)?;
    // RFC 2986 §3 step 2: the signature is over the DER of certificationRequestInfo.
    UnparsedPublicKey::new(algorithm, &public_key.raw)
        .verify(info.raw, signature)
        .map_err(|_| bad_csr("CSR signature does not verify"))?;

    let (common_name, subject_is_empty) = subject_summary(&csr)?;
    let mut verified = VerifiedCsr {
        der: der.to_vec(),
        public_key,
        common_name,
        subject_is_empty,
        sans: Vec::new(),
        requests_ca: false,
        requested_key_usage_cert_sign: false,
        requests_name_constraints: false,
        requested_ekus: Vec::new(),
        unknown_critical_extensions: Vec::new(),
    };
    read_extension_request(&csr, &mut verified)?;
    Ok(verified)
}

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

// ---------------------------------------------------------------------------------------
// Signature algorithms
// ---------------------------------------------------------------------------------------

/// A hash function of an accepted signature algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

/// An accepted signature scheme, before it is matched to the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Ecdsa(Hash),
    RsaPkcs1(Hash),
    RsaPss(Hash),
    Ed25519,
    MlDsa(KeyAlgorithm),
}

/// Classifies a signature AlgorithmIdentifier; weak or unknown ones are refused.
fn signature_scheme(oid: &str, params: Option<der::Tlv<'_>>) -> Result<Scheme, Refusal> {
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

/// The aws-lc-rs verification algorithm for a scheme and key; refuses mismatches.
fn verification_algorithm(
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
                "CSR signature algorithm {scheme:?} does not match its {key} key"
            )));
        }
    };
    Ok(alg)
}

// ---------------------------------------------------------------------------------------
// Key checks
// ---------------------------------------------------------------------------------------

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

/// RSA key policy: modulus size, exponent, parity, small factors, ROCA.
mod rsa {
    use super::{LazyLock, bad_key, der};
    use crate::algorithm::KeyAlgorithm;
    use crate::refusal::Refusal;

    /// Checks an RSAPublicKey (RFC 8017 §A.1.1) against the key policy.
    pub(super) fn check(raw: &[u8]) -> Result<KeyAlgorithm, Refusal> {
        let structure = |e: &str| bad_key(format!("RSAPublicKey structure: {e}"));
        der::check_strict(raw).map_err(structure)?;
        let (key, rest) = der::read(raw, der::SEQUENCE).map_err(structure)?;
        if !rest.is_empty() {
            return Err(structure("data after the key"));
        }
        let (n, rest) = der::read(key.content, der::INTEGER).map_err(structure)?;
        let (e, rest) = der::read(rest, der::INTEGER).map_err(structure)?;
        if !rest.is_empty() {
            return Err(structure("data after the exponent"));
        }
        let n = positive(n.content).ok_or_else(|| bad_key("RSA modulus is not positive"))?;
        let e = positive(e.content).ok_or_else(|| bad_key("RSA exponent is not positive"))?;
        let bits = bit_len(n);
        // Boulder goodkey: the modulus must be a whole number of octets.
        if !bits.is_multiple_of(8) {
            return Err(bad_key(format!(
                "RSA modulus is {bits} bits, not a multiple of 8"
            )));
        }
        let algorithm = KeyAlgorithm::from_rsa_bits(bits).ok_or_else(|| {
            bad_key(format!(
                "RSA modulus is {bits} bits; accepted sizes are 2048, 3072 and 4096"
            ))
        })?;
        // BR 6.1.6: e odd, >= 3; we accept exactly 65537 (Boulder goodkey).
        if e != [0x01, 0x00, 0x01] {
            let shown = if e.len() <= 8 {
                format!("0x{}", hex::encode(e))
            } else {
                format!("a {}-bit number", bit_len(e))
            };
            return Err(bad_key(format!(
                "RSA public exponent is {shown}; only 65537 is accepted"
            )));
        }
        if n.last().is_some_and(|b| b & 1 == 0) {
            return Err(bad_key("RSA modulus is even"));
        }
        if let Some(p) = SMALL_PRIMES.iter().find(|&&p| rem(n, p) == 0) {
            return Err(bad_key(format!("RSA modulus has the small factor {p}")));
        }
        if roca_fingerprint(n) {
            return Err(bad_key(
                "RSA key has the ROCA fingerprint (CVE-2017-15361, Infineon RSALib)",
            ));
        }
        Ok(algorithm)
    }

    /// The magnitude of a DER INTEGER without its sign octet; `None` if not positive.
    fn positive(int: &[u8]) -> Option<&[u8]> {
        match int {
            [0, rest @ ..] if !rest.is_empty() => Some(rest),
            [b, ..] if b & 0x80 == 0 && *b != 0 => Some(int),
            _ => None,
        }
    }

    /// The bit length of a big-endian magnitude with a non-zero first octet.
    fn bit_len(mag: &[u8]) -> usize {
        match mag.first() {
            Some(&b) => (mag.len() - 1) * 8 + (8 - b.leading_zeros() as usize),
            None => 0,
        }
    }

    /// `n mod p` for a big-endian magnitude, one octet at a time.
    pub(super) fn rem(n: &[u8], p: u32) -> u32 {
        n.iter().fold(0u32, |r, &b| ((r << 8) | u32::from(b)) % p)
    }

    /// Odd primes below 10,000 (the BR 6.1.1.3 weak-key small-factor check).
    static SMALL_PRIMES: LazyLock<Vec<u32>> = LazyLock::new(|| primes_below(10_000));

    fn primes_below(limit: u32) -> Vec<u32> {
        let size = limit as usize;
        let mut composite = vec![false; size];
        let mut out = Vec::new();
        for i in 2..size {
            if !composite[i] {
                if i > 2 {
                    // Fits: i < limit, which is a u32.
                    out.push(i as u32);
                }
                let mut j = i * i;
                while j < size {
                    composite[j] = true;
                    j += i;
                }
            }
        }
        out
    }

    /// The ROCA test (Nemec et al., CCS 2017; crocs-muni/roca detect.py): keys made by
    /// Infineon's RSALib have n ≡ 65537^k (mod p) for every prime p ≤ 167, i.e. n mod p
    /// lies in the subgroup generated by 65537. A random modulus passes all 38 primes
    /// with negligible probability.
    pub(super) fn roca_fingerprint(n: &[u8]) -> bool {
        const PRIMES: [u32; 38] = [
            3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83,
            89, 97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167,
        ];
        PRIMES.iter().all(|&p| {
            let r = rem(n, p);
            let g = 65537 % p;
            let mut x = 1;
            loop {
                if x == r {
                    return true;
                }
                x = x * g % p;
                if x == 1 {
                    return false;
                }
            }
        })
    }
}

// ---------------------------------------------------------------------------------------
// Subject and extension request
// ---------------------------------------------------------------------------------------

/// The first commonName as text, and whether the subject is empty.
fn subject_summary(csr: &X509CertificationRequest<'_>) -> Result<(Option<String>, bool), Refusal> {
    let subject = &csr.certification_request_info.subject;
    let is_empty = subject.iter_rdn().next().is_none();
    let Some(cn) = subject.iter_common_name().next() else {
        return Ok((None, is_empty));
    };
    let value = cn.attr_value();
    if !matches!(
        value.tag(),
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String
    ) {
        return Err(bad_csr(format!(
            "commonName has the unsupported string type {}",
            value.tag()
        )));
    }
    let text =
        std::str::from_utf8(value.data).map_err(|_| bad_csr("commonName is not valid UTF-8"))?;
    if text.chars().any(char::is_control) {
        return Err(bad_csr("commonName contains control characters"));
    }
    if text.is_empty() {
        return Err(bad_csr("commonName is empty"));
    }
    Ok((Some(text.to_string()), is_empty))
}

/// Reads the PKCS#9 extensionRequest attribute (RFC 2985 §5.4.2) into `out`.
fn read_extension_request(
    csr: &X509CertificationRequest<'_>,
    out: &mut VerifiedCsr,
) -> Result<(), Refusal> {
    let mut requests = csr
        .certification_request_info
        .iter_attributes()
        .filter_map(|a| match a.parsed_attribute() {
            ParsedCriAttribute::ExtensionRequest(r) => Some(r),
            _ => None,
        });
    let Some(request) = requests.next() else {
        return Ok(());
    };
    if requests.next().is_some() {
        return Err(bad_csr("CSR has more than one extensionRequest attribute"));
    }
    let mut seen: Vec<String> = Vec::new();
    for ext in &request.extensions {
        let oid = ext.oid.to_id_string();
        // RFC 5280 §4.2: a certificate MUST NOT include more than one instance of an extension.
        if seen.contains(&oid) {
            return Err(bad_csr(format!("CSR requests extension {oid} twice")));
        }
        seen.push(oid.clone());
        match ext.parsed_extension() {
            ParsedExtension::ParseError { .. } => {
                return Err(bad_csr(format!("requested extension {oid} is malformed")));
            }
            ParsedExtension::SubjectAlternativeName(san) => {
                if san.general_names.is_empty() {
                    return Err(bad_csr("requested subjectAltName is empty"));
                }
                if san.general_names.len() > limits::MAX_SANS {
                    return Err(Refusal::new(
                        RefusalCode::TooManyIdentifiers,
                        format!(
                            "CSR requests {} subject alternative names; at most {} are allowed",
                            san.general_names.len(),
                            limits::MAX_SANS
                        ),
                    ));
                }
                for name in &san.general_names {
                    out.sans.push(general_name(name)?);
                }
            }
            ParsedExtension::BasicConstraints(bc) => out.requests_ca = bc.ca,
            ParsedExtension::KeyUsage(ku) => {
                out.requested_key_usage_cert_sign = ku.key_cert_sign() || ku.crl_sign();
            }
            ParsedExtension::ExtendedKeyUsage(eku) => {
                let flags = [
                    (eku.any, oid::EKU_ANY),
                    (eku.server_auth, oid::EKU_SERVER_AUTH),
                    (eku.client_auth, oid::EKU_CLIENT_AUTH),
                    (eku.code_signing, oid::EKU_CODE_SIGNING),
                    (eku.email_protection, oid::EKU_EMAIL_PROTECTION),
                    (eku.time_stamping, oid::EKU_TIME_STAMPING),
                    (eku.ocsp_signing, oid::EKU_OCSP_SIGNING),
                ];
                out.requested_ekus.extend(
                    flags
                        .iter()
                        .filter(|(set, _)| *set)
                        .map(|(_, o)| (*o).to_string()),
                );
                out.requested_ekus
                    .extend(eku.other.iter().map(|o| o.to_id_string()));
            }
            ParsedExtension::NameConstraints(_) => out.requests_name_constraints = true,
            _ => {}
        }
        if oid == oid::NAME_CONSTRAINTS {
            out.requests_name_constraints = true;
        }
        if ext.critical
            && ![
                oid::EXT_SAN,
                oid::EXT_KEY_USAGE,
                oid::EXT_EKU,
                oid::EXT_BASIC_CONSTRAINTS,
            ]
            .contains(&oid.as_str())
        {
            out.unknown_critical_extensions.push(oid);
        }
    }
    Ok(())
}

/// Converts one requested GeneralName (RFC 5280 §4.2.1.6) into an identifier.
fn general_name(name: &GeneralName<'_>) -> Result<Identifier, Refusal> {
    let rules = IdentifierRules::default();
    let id = match name {
        GeneralName::DNSName(s) => identifier::parse_dns(s, rules),
        GeneralName::RFC822Name(s) => identifier::parse_email(s),
        GeneralName::URI(s) => identifier::parse_uri(s),
        GeneralName::IPAddress(bytes) => {
            let ip: std::net::IpAddr = match bytes.len() {
                4 => <[u8; 4]>::try_from(*bytes)
                    .map(std::net::IpAddr::from)
                    .map_err(|_| ()),
                16 => <[u8; 16]>::try_from(*bytes)
                    .map(std::net::IpAddr::from)
                    .map_err(|_| ()),
                _ => Err(()),
            }
            .map_err(|_| {
                bad_csr(format!(
                    "subjectAltName iPAddress has {} octets; expected 4 or 16",
                    bytes.len()
                ))
            })?;
            identifier::parse_ip(&ip.to_string(), rules)
        }
        other => {
            return Err(bad_csr(format!(
                "subjectAltName entry {} is not supported (only dNSName, iPAddress, rfc822Name, URI)",
                general_name_kind(other)
            )));
        }
    };
    id.map_err(|r| Refusal::new(r.code, format!("CSR subjectAltName: {}", r.detail)))
}

fn general_name_kind(name: &GeneralName<'_>) -> &'static str {
    match name {
        GeneralName::OtherName(..) => "otherName",
        GeneralName::RFC822Name(_) => "rfc822Name",
        GeneralName::DNSName(_) => "dNSName",
        GeneralName::X400Address(_) => "x400Address",
        GeneralName::DirectoryName(_) => "directoryName",
        GeneralName::EDIPartyName(_) => "ediPartyName",
        GeneralName::URI(_) => "uniformResourceIdentifier",
        GeneralName::IPAddress(_) => "iPAddress",
        GeneralName::RegisteredID(_) => "registeredID",
        GeneralName::Invalid(..) => "an invalid entry",
    }
}

// ---------------------------------------------------------------------------------------
// Input decoding and refusals
// ---------------------------------------------------------------------------------------

/// Decodes one PEM block labelled CERTIFICATE REQUEST or NEW CERTIFICATE REQUEST.
fn decode_pem(text: &str) -> Result<Vec<u8>, Refusal> {
    let text = text.trim();
    for label in ["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"] {
        let begin = format!("-----BEGIN {label}-----");
        let end = format!("-----END {label}-----");
        if let Some(body) = text.strip_prefix(begin.as_str()) {
            let Some(body) = body.strip_suffix(end.as_str()) else {
                return Err(bad_csr(format!(
                    "PEM block does not end with {end} (or has data after it)"
                )));
            };
            return decode_base64(body.as_bytes());
        }
    }
    Err(bad_csr(
        "PEM block is not a CERTIFICATE REQUEST or NEW CERTIFICATE REQUEST",
    ))
}

/// Decodes standard base64 with any whitespace between characters.
fn decode_base64(input: &[u8]) -> Result<Vec<u8>, Refusal> {
    let compact: Vec<u8> = input
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(&compact)
        .map_err(|e| bad_csr(format!("CSR base64 is invalid: {e}")))
}

fn too_big(len: usize) -> Refusal {
    bad_csr(format!(
        "CSR is {len} bytes; at most {} bytes of DER are accepted",
        limits::MAX_CSR_DER_BYTES
    ))
}

fn bad_csr(detail: impl Into<String>) -> Refusal {
    Refusal::new(RefusalCode::BadCsr, detail)
}

fn bad_key(detail: impl Into<String>) -> Refusal {
    Refusal::new(RefusalCode::BadPublicKey, detail)
}

// ---------------------------------------------------------------------------------------
// Object identifiers
// ---------------------------------------------------------------------------------------

/// Dotted object identifiers used here.
mod oid {
    pub const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
    pub const SHA256_RSA: &str = "1.2.840.113549.1.1.11";
    pub const SHA384_RSA: &str = "1.2.840.113549.1.1.12";
    pub const SHA512_RSA: &str = "1.2.840.113549.1.1.13";
    pub const RSASSA_PSS: &str = "1.2.840.113549.1.1.10";
    pub const MGF1: &str = "1.2.840.113549.1.1.8";
    pub const SHA256: &str = "2.16.840.1.101.3.4.2.1";
    pub const SHA384: &str = "2.16.840.1.101.3.4.2.2";
    pub const SHA512: &str = "2.16.840.1.101.3.4.2.3";
    pub const EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
    pub const ECDSA_SHA256: &str = "1.2.840.10045.4.3.2";
    pub const ECDSA_SHA384: &str = "1.2.840.10045.4.3.3";
    pub const ECDSA_SHA512: &str = "1.2.840.10045.4.3.4";
    pub const P256: &str = "1.2.840.10045.3.1.7";
    pub const P384: &str = "1.3.132.0.34";
    pub const P521: &str = "1.3.132.0.35";
    pub const SECP256K1: &str = "1.3.132.0.10";
    pub const ED25519: &str = "1.3.101.112";
    pub const ED448: &str = "1.3.101.113";
    pub const X25519: &str = "1.3.101.110";
    pub const X448: &str = "1.3.101.111";
    pub const DSA: &str = "1.2.840.10040.4.1";
    pub const ML_DSA_44: &str = "2.16.840.1.101.3.4.3.17";
    pub const ML_DSA_65: &str = "2.16.840.1.101.3.4.3.18";
    pub const ML_DSA_87: &str = "2.16.840.1.101.3.4.3.19";
    pub const EXT_KEY_USAGE: &str = "2.5.29.15";
    pub const EXT_SAN: &str = "2.5.29.17";
    pub const EXT_BASIC_CONSTRAINTS: &str = "2.5.29.19";
    pub const NAME_CONSTRAINTS: &str = "2.5.29.30";
    pub const EXT_EKU: &str = "2.5.29.37";
    pub const EKU_ANY: &str = "2.5.29.37.0";
    pub const EKU_SERVER_AUTH: &str = "1.3.6.1.5.5.7.3.1";
    pub const EKU_CLIENT_AUTH: &str = "1.3.6.1.5.5.7.3.2";
    pub const EKU_CODE_SIGNING: &str = "1.3.6.1.5.5.7.3.3";
    pub const EKU_EMAIL_PROTECTION: &str = "1.3.6.1.5.5.7.3.4";
    pub const EKU_TIME_STAMPING: &str = "1.3.6.1.5.5.7.3.8";
    pub const EKU_OCSP_SIGNING: &str = "1.3.6.1.5.5.7.3.9";

    /// The name of a known weak signature algorithm (MD2/MD4/MD5/SHA-1/SHA-224, DSA).
    pub fn weak_signature_name(oid: &str) -> Option<&'static str> {
        Some(match oid {
            "1.2.840.113549.1.1.2" => "md2WithRSAEncryption",
            "1.2.840.113549.1.1.3" => "md4WithRSAEncryption",
            "1.2.840.113549.1.1.4" => "md5WithRSAEncryption",
            "1.2.840.113549.1.1.5" => "sha1WithRSAEncryption",
            "1.3.14.3.2.29" => "sha1WithRSA (OIW)",
            "1.2.840.113549.1.1.14" => "sha224WithRSAEncryption",
            "1.2.840.10045.4.1" => "ecdsa-with-SHA1",
            "1.2.840.10045.4.3.1" => "ecdsa-with-SHA224",
            "1.2.840.10040.4.3" => "dsa-with-sha1",
            "2.16.840.1.101.3.4.3.1" => "dsa-with-sha224",
            "2.16.840.1.101.3.4.3.2" => "dsa-with-sha256",
            _ => return None,
        })
    }
}

// ---------------------------------------------------------------------------------------
// Strict DER
// ---------------------------------------------------------------------------------------

/// A small strict DER reader (X.690 §10): definite, minimal lengths of at most four
/// octets, low tag numbers, bounded nesting. Never panics; every index is checked.
mod der {
    use crate::limits;

    pub const INTEGER: u8 = 0x02;
    pub const BIT_STRING: u8 = 0x03;
    pub const NULL: u8 = 0x05;
    pub const OID: u8 = 0x06;
    pub const SEQUENCE: u8 = 0x30;

    /// One element: its identifier octet, contents and complete encoding.
    #[derive(Debug, Clone, Copy)]
    pub struct Tlv<'a> {
        pub tag: u8,
        pub content: &'a [u8],
        pub raw: &'a [u8],
    }

    /// Checks that `input` is exactly one element, strictly DER-encoded throughout.
    pub fn check_strict(input: &[u8]) -> Result<(), &'static str> {
        let (_, rest) = walk(input, 1)?;
        if rest.is_empty() {
            Ok(())
        } else {
            Err("trailing bytes after the outer element")
        }
    }

    /// Reads an element with `tag` and returns it with the bytes after it.
    pub fn read(input: &[u8], tag: u8) -> Result<(Tlv<'_>, &[u8]), &'static str> {
        let (tlv, rest) = read_any(input)?;
        if tlv.tag != tag {
            return Err("unexpected element");
        }
        Ok((tlv, rest))
    }

    /// Reads one element of any tag.
    pub fn read_any(input: &[u8]) -> Result<(Tlv<'_>, &[u8]), &'static str> {
        let (&tag, after_tag) = input.split_first().ok_or("truncated: missing tag")?;
        // X.690 §8.1.2.4: tag numbers >= 31 use the high-tag-number form; none are used here.
        if tag & 0x1f == 0x1f {
            return Err("high tag numbers are not allowed");
        }
        let (&first, mut after_len) = after_tag.split_first().ok_or("truncated: missing length")?;
        let len = if first < 0x80 {
            usize::from(first)
        } else if first == 0x80 {
            // X.690 §10.1: DER uses the definite form only.
            return Err("indefinite length (BER) is not allowed");
        } else {
            let count = usize::from(first & 0x7f);
            if count > 4 {
                return Err("length has more than 4 octets");
            }
            let octets = after_len.get(..count).ok_or("truncated length")?;
            after_len = &after_len[count..];
            if octets.first() == Some(&0) {
                return Err("non-minimal length (leading zero octet)");
            }
            let len = octets
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            if len < 0x80 {
                // X.690 §10.1: the short form must be used for lengths below 128.
                return Err("non-minimal length (long form for a short length)");
            }
            len
        };
        let content = after_len
            .get(..len)
            .ok_or("truncated: content shorter than its length")?;
        let header = input.len() - after_len.len();
        Ok((
            Tlv {
                tag,
                content,
                raw: &input[..header + len],
            },
            &after_len[len..],
        ))
    }

    /// Checks one element and everything inside it; returns the bytes after it.
    fn walk(input: &[u8], depth: usize) -> Result<(Tlv<'_>, &[u8]), &'static str> {
        if depth > limits::MAX_ASN1_DEPTH {
            return Err("nesting too deep");
        }
        let (tlv, rest) = read_any(input)?;
        let constructed = tlv.tag & 0x20 != 0;
        let universal = tlv.tag & 0xc0 == 0;
        let number = tlv.tag & 0x1f;
        if universal {
            // X.690 §10.2: string types use the primitive form; SEQUENCE/SET are constructed.
            let must_construct = matches!(number, 0x10 | 0x11);
            if constructed != must_construct {
                return Err("wrong constructed/primitive form for a universal type");
            }
            check_primitive(number, tlv.content)?;
        }
        if constructed {
            let mut inner = tlv.content;
            while !inner.is_empty() {
                let (_, r) = walk(inner, depth + 1)?;
                inner = r;
            }
        }
        Ok((tlv, rest))
    }

    /// Checks the contents of universal primitive types with DER-specific rules.
    fn check_primitive(number: u8, content: &[u8]) -> Result<(), &'static str> {
        match number {
            0 => Err("end-of-contents octets are not allowed"),
            // X.690 §11.1: BOOLEAN TRUE is 0xff.
            1 if content != [0x00] && content != [0xff] => Err("invalid BOOLEAN"),
            // X.690 §8.3.2: INTEGER contents are minimal two's complement.
            2 | 10 => match content {
                [] => Err("empty INTEGER"),
                [0x00, b, ..] if b & 0x80 == 0 => Err("non-minimal INTEGER"),
                [0xff, b, ..] if b & 0x80 != 0 => Err("non-minimal INTEGER"),
                _ => Ok(()),
            },
            // X.690 §11.2: unused bits 0..7, zero when empty, and the unused bits are zero.
            3 => match content {
                [] => Err("empty BIT STRING"),
                [unused, ..] if *unused > 7 => Err("BIT STRING with more than 7 unused bits"),
                [unused] if *unused != 0 => Err("empty BIT STRING with unused bits"),
                [unused, .., last] if last & ((1u8 << unused) - 1) != 0 => {
                    Err("BIT STRING with non-zero padding bits")
                }
                _ => Ok(()),
            },
            5 if !content.is_empty() => Err("NULL with contents"),
            // X.690 §8.19.2: sub-identifiers are minimal and the last octet ends one.
            6 => {
                if content.is_empty() || content.last().is_some_and(|b| b & 0x80 != 0) {
                    return Err("malformed OBJECT IDENTIFIER");
                }
                let mut start = true;
                for &b in content {
                    if start && b == 0x80 {
                        return Err("non-minimal OBJECT IDENTIFIER");
                    }
                    start = b & 0x80 == 0;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Reads AlgorithmIdentifier contents (RFC 5280 §4.1.1.2): the dotted OID and the
    /// optional parameters.
    pub fn algorithm_identifier(content: &[u8]) -> Result<(String, Option<Tlv<'_>>), &'static str> {
        let (oid, rest) = read(content, OID)?;
        let oid = oid_to_string(oid.content).ok_or("malformed algorithm OID")?;
        if rest.is_empty() {
            return Ok((oid, None));
        }
        let (params, rest) = read_any(rest)?;
        if !rest.is_empty() {
            return Err("data after the algorithm parameters");
        }
        Ok((oid, Some(params)))
    }

    /// A small non-negative INTEGER (at most 4 content octets).
    pub fn small_uint(tlv: Tlv<'_>) -> Result<u32, &'static str> {
        if tlv.tag != INTEGER || tlv.content.is_empty() || tlv.content.len() > 4 {
            return Err("expected a small INTEGER");
        }
        if tlv.content[0] & 0x80 != 0 {
            return Err("negative INTEGER");
        }
        Ok(tlv
            .content
            .iter()
            .fold(0u32, |acc, &b| (acc << 8) | u32::from(b)))
    }

    /// The dotted text of OBJECT IDENTIFIER contents (X.690 §8.19); `None` if malformed.
    pub fn oid_to_string(content: &[u8]) -> Option<String> {
        let mut arcs: Vec<u64> = Vec::new();
        let mut value: u64 = 0;
        let mut pending = false;
        for &b in content {
            if value > (u64::MAX >> 7) {
                return None;
            }
            value = (value << 7) | u64::from(b & 0x7f);
            pending = true;
            if b & 0x80 == 0 {
                if arcs.is_empty() {
                    let (first, second) = match value {
                        0..40 => (0, value),
                        40..80 => (1, value - 40),
                        _ => (2, value - 80),
                    };
                    arcs.push(first);
                    arcs.push(second);
                } else {
                    arcs.push(value);
                }
                value = 0;
                pending = false;
            }
        }
        if pending || arcs.is_empty() {
            return None;
        }
        Some(
            arcs.iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join("."),
        )
    }
}
