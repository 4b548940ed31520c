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
                "CSR signature algorithm {} does not match its {key} key",
                scheme.name()
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
    use super::{LazyLock, bad_key, der, fermat};
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
        if fermat::factors_close(n) {
            return Err(bad_key(
                "RSA modulus factors by Fermat's method: its primes are too close together",
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
    pub(super) static SMALL_PRIMES: LazyLock<Vec<u32>> = LazyLock::new(|| primes_below(10_000));

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

/// Fermat's factorisation test for RSA moduli whose primes are close (badkeys `fermat`,
/// CVE-2022-26320 Canon/Fujifilm printers; BR 6.1.1.3 weak-key ballot). With
/// a = ⌈√n⌉, tries a, a+1, … and refuses when a² − n is a perfect square b², since then
/// n = (a − b)(a + b). Arithmetic on little-endian u32 limbs; no bigint crate.
mod fermat {
    use std::cmp::Ordering;

    /// How many values of a are tried (badkeys uses 100).
    const ROUNDS: usize = 100;

    type Limbs = Vec<u32>;

    /// True if `n` (big-endian magnitude) factors within [`ROUNDS`] Fermat steps.
    pub(super) fn factors_close(n: &[u8]) -> bool {
        let n = from_be_bytes(n);
        if n.is_empty() {
            return false;
        }
        let (root, rem) = isqrt_rem(&n);
        if rem.is_empty() {
            return true;
        }
        // a = root + 1; a² − n = root² + 2·root + 1 − n = 2·root + 1 − rem, and rem ≤ 2·root.
        let mut a = root.clone();
        add_small(&mut a, 1);
        let mut b2 = root.clone();
        add_assign(&mut b2, &root);
        add_small(&mut b2, 1);
        sub_assign(&mut b2, &rem);
        for _ in 0..ROUNDS {
            if is_square(&b2) {
                return true;
            }
            // (a + 1)² − n = a² − n + 2a + 1.
            add_assign(&mut b2, &a);
            add_assign(&mut b2, &a);
            add_small(&mut b2, 1);
            add_small(&mut a, 1);
        }
        false
    }

    /// True if `v` is a perfect square; cheap quadratic-residue filters first.
    fn is_square(v: &Limbs) -> bool {
        for m in [64u32, 63, 65, 11] {
            let r = rem_small(v, m);
            if !(0..m).any(|x| x * x % m == r) {
                return false;
            }
        }
        isqrt_rem(v).1.is_empty()
    }

    /// Integer square root and remainder by the binary digit-by-digit method.
    fn isqrt_rem(n: &Limbs) -> (Limbs, Limbs) {
        let mut rem = n.clone();
        let mut root: Limbs = Vec::new();
        let bits = bit_len(n);
        if bits == 0 {
            return (root, rem);
        }
        // The highest power of four not above n.
        let shift = (bits - 1) & !1;
        let mut bit: Limbs = vec![0; shift / 32 + 1];
        bit[shift / 32] = 1 << (shift % 32);
        while !bit.is_empty() {
            let mut t = root.clone();
            add_assign(&mut t, &bit);
            shr_assign(&mut root, 1);
            if cmp(&rem, &t) != Ordering::Less {
                sub_assign(&mut rem, &t);
                add_assign(&mut root, &bit);
            }
            shr_assign(&mut bit, 2);
        }
        (root, rem)
    }

    fn from_be_bytes(bytes: &[u8]) -> Limbs {
        let mut out: Limbs = bytes
            .rchunks(4)
            .map(|c| c.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b)))
            .collect();
        trim(&mut out);
        out
    }

    fn trim(v: &mut Limbs) {
        while v.last() == Some(&0) {
            v.pop();
        }
    }

    fn bit_len(v: &Limbs) -> usize {
        match v.last() {
            Some(&top) => (v.len() - 1) * 32 + (32 - top.leading_zeros() as usize),
            None => 0,
        }
    }

    fn cmp(a: &Limbs, b: &Limbs) -> Ordering {
        a.len()
            .cmp(&b.len())
            .then_with(|| a.iter().rev().cmp(b.iter().rev()))
    }

    fn add_assign(a: &mut Limbs, b: &Limbs) {
        if a.len() < b.len() {
            a.resize(b.len(), 0);
        }
        let mut carry = 0u64;
        for (i, limb) in a.iter_mut().enumerate() {
            let sum = u64::from(*limb) + u64::from(b.get(i).copied().unwrap_or(0)) + carry;
            *limb = sum as u32; // keeps the low 32 bits by design
            carry = sum >> 32;
        }
        if carry != 0 {
            a.push(1);
        }
    }

    fn add_small(a: &mut Limbs, v: u32) {
        add_assign(a, &vec![v]);
    }

    /// a −= b; callers guarantee a ≥ b.
    fn sub_assign(a: &mut Limbs, b: &Limbs) {
        let mut borrow = 0i64;
        for (i, limb) in a.iter_mut().enumerate() {
            let mut d = i64::from(*limb) - i64::from(b.get(i).copied().unwrap_or(0)) - borrow;
            borrow = 0;
            if d < 0 {
                d += 1 << 32;
                borrow = 1;
            }
            *limb = d as u32; // 0 <= d < 2^32 here
        }
        trim(a);
    }

    fn shr_assign(a: &mut Limbs, bits: u32) {
        let mut carry = 0u32;
        for limb in a.iter_mut().rev() {
            let next = *limb << (32 - bits);
            *limb = (*limb >> bits) | carry;
            carry = next;
        }
        trim(a);
    }

    fn rem_small(a: &Limbs, m: u32) -> u32 {
        let m = u64::from(m);
        let r = a
            .iter()
            .rev()
            .fold(0u64, |r, &limb| ((r << 32) | u64::from(limb)) % m);
        r as u32 // r < m <= u32::MAX
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn isqrt_small_values() {
            for n in 0u64..2000 {
                let limbs = from_be_bytes(&n.to_be_bytes());
                let (r, rem) = isqrt_rem(&limbs);
                let r = r.iter().rev().fold(0u64, |a, &l| (a << 32) | u64::from(l));
                let rem = rem
                    .iter()
                    .rev()
                    .fold(0u64, |a, &l| (a << 32) | u64::from(l));
                assert!(r * r <= n && (r + 1) * (r + 1) > n, "{n}");
                assert_eq!(r * r + rem, n);
            }
            let big = from_be_bytes(&u128::MAX.to_be_bytes());
            let (r, _) = isqrt_rem(&big);
            assert_eq!(r, vec![u32::MAX, u32::MAX]);
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, DnValue,
        ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, PublicKeyData, RsaKeySize,
        SanType, SigningKey,
    };

    // ---- helpers ----------------------------------------------------------------------

    /// DER TLV with a definite minimal length.
    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let n = content.len();
        let mut v = vec![tag];
        if n < 0x80 {
            v.push(n as u8);
        } else if n < 0x100 {
            v.extend([0x81, n as u8]);
        } else {
            v.extend([0x82, (n >> 8) as u8, n as u8]);
        }
        v.extend_from_slice(content);
        v
    }

    fn seq(parts: &[&[u8]]) -> Vec<u8> {
        tlv(0x30, &parts.concat())
    }

    /// DER OBJECT IDENTIFIER from dotted text.
    fn oid_der(dotted: &str) -> Vec<u8> {
        let arcs: Vec<u64> = dotted.split('.').map(|a| a.parse().unwrap()).collect();
        let mut content = Vec::new();
        let mut push = |mut v: u64| {
            let mut tmp = vec![(v & 0x7f) as u8];
            v >>= 7;
            while v > 0 {
                tmp.push((v & 0x7f) as u8 | 0x80);
                v >>= 7;
            }
            tmp.reverse();
            content.extend(tmp);
        };
        push(arcs[0] * 40 + arcs[1]);
        for &a in &arcs[2..] {
            push(a);
        }
        tlv(0x06, &content)
    }

    fn arcs(dotted: &str) -> Vec<u64> {
        dotted.split('.').map(|a| a.parse().unwrap()).collect()
    }

    fn alg_id(dotted: &str, params: Option<&[u8]>) -> Vec<u8> {
        seq(&[&oid_der(dotted), params.unwrap_or(&[])])
    }

    const NULL: &[u8] = &[0x05, 0x00];

    fn key_for(alg: KeyAlgorithm) -> KeyPair {
        match alg {
            KeyAlgorithm::Rsa2048 => {
                KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_2048).unwrap()
            }
            KeyAlgorithm::Rsa3072 => {
                KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_3072).unwrap()
            }
            KeyAlgorithm::Rsa4096 => {
                KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_4096).unwrap()
            }
            other => KeyPair::generate_for(other.rcgen_signature_algorithm()).unwrap(),
        }
    }

    fn params(sans: &[&str]) -> CertificateParams {
        let mut p =
            CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        p.distinguished_name = DistinguishedName::new();
        p
    }

    fn csr_with(p: &CertificateParams, key: &KeyPair) -> Vec<u8> {
        p.serialize_request(key).unwrap().der().to_vec()
    }

    fn ec_csr() -> (KeyPair, Vec<u8>) {
        let key = key_for(KeyAlgorithm::EcdsaP256);
        let der = csr_with(&params(&["example.com"]), &key);
        (key, der)
    }

    /// Splits a CSR into (certificationRequestInfo, signatureAlgorithm, signature bytes).
    fn split(csr: &[u8]) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let (outer, _) = der::read(csr, der::SEQUENCE).unwrap();
        let (info, rest) = der::read(outer.content, der::SEQUENCE).unwrap();
        let (alg, rest) = der::read(rest, der::SEQUENCE).unwrap();
        let (sig, _) = der::read(rest, der::BIT_STRING).unwrap();
        (
            info.raw.to_vec(),
            alg.raw.to_vec(),
            sig.content[1..].to_vec(),
        )
    }

    /// Assembles a CSR from its three parts.
    fn assemble(info: &[u8], alg: &[u8], signature: &[u8]) -> Vec<u8> {
        let bits = [&[0u8][..], signature].concat();
        seq(&[info, alg, &tlv(0x03, &bits)])
    }

    #[track_caller]
    fn refused(r: Result<VerifiedCsr, Refusal>, code: RefusalCode, needle: &str) {
        match r {
            Ok(_) => panic!("accepted; expected {code} mentioning {needle:?}"),
            Err(e) => {
                assert_eq!(e.code, code, "{e}");
                assert!(
                    e.detail.contains(needle),
                    "detail {:?} lacks {needle:?}",
                    e.detail
                );
            }
        }
    }

    #[track_caller]
    fn key_refused(spki: &[u8], needle: &str) {
        match check_public_key(spki) {
            Ok(k) => panic!(
                "accepted {:?}; expected refusal mentioning {needle:?}",
                k.algorithm
            ),
            Err(e) => {
                assert_eq!(e.code, RefusalCode::BadPublicKey, "{e}");
                assert!(
                    e.detail.contains(needle),
                    "detail {:?} lacks {needle:?}",
                    e.detail
                );
            }
        }
    }

    fn spki(alg: &[u8], key: &[u8]) -> Vec<u8> {
        let bits = [&[0u8][..], key].concat();
        seq(&[alg, &tlv(0x03, &bits)])
    }

    fn rsa_spki(n: &[u8], e: &[u8]) -> Vec<u8> {
        let int = |m: &[u8]| {
            if m[0] & 0x80 != 0 {
                tlv(0x02, &[&[0u8][..], m].concat())
            } else {
                tlv(0x02, m)
            }
        };
        let key = seq(&[&int(n), &int(e)]);
        spki(&alg_id(oid::RSA_ENCRYPTION, Some(NULL)), &key)
    }

    /// The modulus of a generated RSA key.
    fn rsa_modulus(key: &KeyPair) -> Vec<u8> {
        let raw = key.der_bytes();
        let (k, _) = der::read(raw, der::SEQUENCE).unwrap();
        let (n, _) = der::read(k.content, der::INTEGER).unwrap();
        n.content.strip_prefix(&[0]).unwrap_or(n.content).to_vec()
    }

    /// Deterministic xorshift for the robustness loops.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    // ---- B1 row 1: proof of possession, weak signature algorithms -----------------------

    #[test]
    fn all_algorithms_verify() {
        for alg in KeyAlgorithm::ALL {
            let key = key_for(alg);
            let mut p = params(&["www.example.com", "10.0.0.1"]);
            p.distinguished_name
                .push(DnType::CommonName, "www.example.com");
            let der = csr_with(&p, &key);
            let v = verify_csr(&der).unwrap_or_else(|e| panic!("{alg}: {e}"));
            assert_eq!(v.public_key.algorithm, alg);
            assert_eq!(
                v.public_key.spki_der,
                key.subject_public_key_info(),
                "{alg}"
            );
            assert_eq!(v.public_key.raw, key.der_bytes(), "{alg}");
            assert_eq!(v.common_name.as_deref(), Some("www.example.com"));
            assert!(!v.subject_is_empty);
            assert_eq!(
                v.sans,
                vec![
                    Identifier::Dns("www.example.com".into()),
                    Identifier::Ip("10.0.0.1".parse().unwrap())
                ]
            );
            assert_eq!(v.der, der);
            assert!(!v.requests_ca && !v.requested_key_usage_cert_sign);
            // The key checks alone accept the same key.
            let k = check_public_key(&key.subject_public_key_info()).unwrap();
            assert_eq!(k, v.public_key);
            assert_eq!(k.spki_sha256_hex().len(), 64);
        }
    }

    #[test]
    fn subject_key_signs_with_rcgen() {
        // The verified key goes straight into rcgen as the certificate's subject key.
        let subject = key_for(KeyAlgorithm::MlDsa65);
        let v = verify_csr(&csr_with(&params(&["a.example.com"]), &subject)).unwrap();
        let ca_key = key_for(KeyAlgorithm::EcdsaP256);
        let mut ca_params = params(&[]);
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let cert = params(&["a.example.com"])
            .signed_by(&v.public_key, &issuer)
            .unwrap();
        let (_, parsed) = x509_parser::parse_x509_certificate(cert.der()).unwrap();
        assert_eq!(
            parsed.tbs_certificate.subject_pki.raw,
            &v.public_key.spki_der[..]
        );
    }

    #[test]
    fn flipped_signature_or_body_does_not_verify() {
        for alg in [
            KeyAlgorithm::EcdsaP256,
            KeyAlgorithm::Ed25519,
            KeyAlgorithm::MlDsa44,
            KeyAlgorithm::Rsa2048,
        ] {
            let key = key_for(alg);
            let der = csr_with(&params(&["example.com"]), &key);
            let (info, alg_id, mut signature) = split(&der);
            let last = signature.len() - 1;
            signature[last] ^= 0x01;
            refused(
                verify_csr(&assemble(&info, &alg_id, &signature)),
                RefusalCode::BadCsr,
                "does not verify",
            );
            // Change one letter of the requested name: still well formed, signature fails.
            let pos = der.windows(11).position(|w| w == b"example.com").unwrap();
            let mut tampered = der.clone();
            tampered[pos] = b'f';
            refused(
                verify_csr(&tampered),
                RefusalCode::BadCsr,
                "does not verify",
            );
        }
    }

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

    // ---- B1 rows 3-5: key policy ---------------------------------------------------------

    #[test]
    fn rsa_sizes_and_exponents() {
        for alg in [
            KeyAlgorithm::Rsa2048,
            KeyAlgorithm::Rsa3072,
            KeyAlgorithm::Rsa4096,
        ] {
            let key = key_for(alg);
            assert_eq!(
                check_public_key(&key.subject_public_key_info())
                    .unwrap()
                    .algorithm,
                alg
            );
        }
        let key = key_for(KeyAlgorithm::Rsa2048);
        let n = rsa_modulus(&key);
        assert_eq!(n.len(), 256);
        assert!(check_public_key(&rsa_spki(&n, &[1, 0, 1])).is_ok());
        key_refused(&rsa_spki(&n[..128], &[1, 0, 1]), "1024 bits");
        key_refused(&rsa_spki(&n[..200], &[1, 0, 1]), "accepted sizes");
        let mut n2047 = n.clone();
        n2047[0] = 0x7f;
        key_refused(&rsa_spki(&n2047, &[1, 0, 1]), "not a multiple of 8");
        key_refused(&rsa_spki(&n, &[3]), "only 65537");
        key_refused(&rsa_spki(&n, &[1, 0, 0]), "only 65537");
        key_refused(&rsa_spki(&n, &[1, 0, 0, 1]), "only 65537");
        let mut even = n.clone();
        even[255] &= 0xfe;
        key_refused(&rsa_spki(&even, &[1, 0, 1]), "even");
        // Parameters other than NULL.
        let raw = &key.der_bytes();
        key_refused(
            &spki(&alg_id(oid::RSA_ENCRYPTION, Some(&oid_der("1.2.3"))), raw),
            "NULL",
        );
        // Negative modulus.
        let neg = seq(&[&tlv(0x02, &n), &tlv(0x02, &[1, 0, 1])]);
        key_refused(
            &spki(&alg_id(oid::RSA_ENCRYPTION, Some(NULL)), &neg),
            "not positive",
        );
    }

    /// Subtracts a small value from a big-endian magnitude.
    fn sub_small(n: &mut [u8], mut v: u32) {
        for b in n.iter_mut().rev() {
            let cur = u32::from(*b);
            let take = v & 0xff;
            v >>= 8;
            if cur >= take {
                *b = (cur - take) as u8;
            } else {
                *b = (cur + 256 - take) as u8;
                v += 1;
            }
            if v == 0 {
                break;
            }
        }
    }

    #[test]
    fn rsa_small_factors_refused() {
        let n = rsa_modulus(&key_for(KeyAlgorithm::Rsa2048));
        for p in [3u32, 5, 7919, 9973] {
            let mut m = n.clone();
            sub_small(&mut m, rsa::rem(&n, p));
            if m[255] & 1 == 0 {
                sub_small(&mut m, p);
            }
            // Step by 2p (odd, still divisible by p) until p is the smallest factor.
            while rsa::SMALL_PRIMES
                .iter()
                .take_while(|&&q| q < p)
                .any(|&q| rsa::rem(&m, q) == 0)
            {
                sub_small(&mut m, 2 * p);
            }
            assert_eq!(rsa::rem(&m, p), 0);
            key_refused(&rsa_spki(&m, &[1, 0, 1]), &format!("small factor {p}"));
        }
        // 10007 is the first prime above the bound and is not checked.
        let mut m = n.clone();
        sub_small(&mut m, rsa::rem(&n, 10007));
        if m[255] & 1 == 0 {
            sub_small(&mut m, 10007);
        }
        if let Err(e) = check_public_key(&rsa_spki(&m, &[1, 0, 1])) {
            assert!(!e.detail.contains("10007"), "{e}");
        }
    }

    /// Big-endian helpers for building a ROCA-shaped modulus.
    fn mul_small(n: &[u8], m: u32) -> Vec<u8> {
        let mut out = vec![0u8; n.len() + 4];
        let mut carry: u64 = 0;
        for i in (0..n.len()).rev() {
            let v = u64::from(n[i]) * u64::from(m) + carry;
            out[i + 4] = v as u8;
            carry = v >> 8;
        }
        for i in (0..4).rev() {
            out[i] = carry as u8;
            carry >>= 8;
        }
        trim(out)
    }

    fn add(a: &[u8], b: &[u8]) -> Vec<u8> {
        let len = a.len().max(b.len()) + 1;
        let mut out = vec![0u8; len];
        let mut carry = 0u16;
        for i in 0..len {
            let x = if i < a.len() {
                u16::from(a[a.len() - 1 - i])
            } else {
                0
            };
            let y = if i < b.len() {
                u16::from(b[b.len() - 1 - i])
            } else {
                0
            };
            let s = x + y + carry;
            out[len - 1 - i] = s as u8;
            carry = s >> 8;
        }
        trim(out)
    }

    fn trim(v: Vec<u8>) -> Vec<u8> {
        let first = v.iter().position(|&b| b != 0).unwrap_or(v.len() - 1);
        v[first..].to_vec()
    }

    #[test]
    fn roca_fingerprint_refused() {
        // 65537^k has the fingerprint by construction; so does anything congruent to it
        // modulo M = 3·5·…·167. Build n = 65537^127 + M·2^s + j·2M with 2048 bits, odd,
        // and without small factors, then expect the ROCA refusal.
        let mut g = vec![1u8];
        for _ in 0..127 {
            g = mul_small(&g, 65537);
        }
        assert!(rsa::roca_fingerprint(&g));
        let mut m = vec![1u8];
        for p in [
            3u32, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83,
            89, 97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167,
        ] {
            m = mul_small(&m, p);
        }
        // Shift M left until M·2^s has exactly 2048 bits.
        let mut big_m = m.clone();
        while big_m.len() < 256 || big_m[0] < 0x80 {
            big_m = mul_small(&big_m, 2);
        }
        let two_m = mul_small(&m, 2);
        let mut n = add(&g, &big_m);
        let mut found = false;
        for _ in 0..2000 {
            assert!(rsa::roca_fingerprint(&n));
            if n.len() == 256 {
                let r = check_public_key(&rsa_spki(&n, &[1, 0, 1]));
                if let Err(e) = &r
                    && e.detail.contains("ROCA")
                {
                    found = true;
                    break;
                }
            }
            n = add(&n, &two_m);
        }
        assert!(found, "no ROCA-shaped modulus without small factors found");
        // Real keys do not have the fingerprint.
        for _ in 0..3 {
            assert!(!rsa::roca_fingerprint(&rsa_modulus(&key_for(
                KeyAlgorithm::Rsa2048
            ))));
        }
    }

    fn mul(a: &[u8], b: &[u8]) -> Vec<u8> {
        let mut out = vec![0u32; a.len() + b.len()];
        for (i, &x) in a.iter().rev().enumerate() {
            for (j, &y) in b.iter().rev().enumerate() {
                out[i + j] += u32::from(x) * u32::from(y);
                // Propagate eagerly so no cell overflows.
                let mut k = i + j;
                while out[k] > 0xff {
                    let c = out[k] >> 8;
                    out[k] &= 0xff;
                    out[k + 1] += c;
                    k += 1;
                }
            }
        }
        trim(out.iter().rev().map(|&v| v as u8).collect())
    }

    #[test]
    fn fermat_close_factors_refused() {
        // n = x·(x + d) with x, x + d free of small factors: Fermat finds a = x + d/2.
        let mut rng = Rng(42);
        let one_k = |rng: &mut Rng| {
            let mut x: Vec<u8> = (0..128).map(|_| rng.next() as u8).collect();
            x[0] |= 0xc0;
            x[127] |= 1;
            x
        };
        let clean = |v: &[u8]| rsa::SMALL_PRIMES.iter().all(|&p| rsa::rem(v, p) != 0);
        let mut d_large = vec![0u8; 64];
        d_large[0] = 0x01; // 2^504: still within the first Fermat step for 2048-bit n
        for d in [vec![2u8], vec![0x01, 0x00, 0x00, 0x00, 0x00, 0x02], d_large] {
            let (x, y) = loop {
                let x = one_k(&mut rng);
                let y = add(&x, &d);
                if clean(&x) && clean(&y) {
                    break (x, y);
                }
            };
            let n = mul(&x, &y);
            assert_eq!(n.len(), 256);
            key_refused(&rsa_spki(&n, &[1, 0, 1]), "Fermat");
        }
        // A perfect square.
        let x = loop {
            let x = one_k(&mut rng);
            if clean(&x) {
                break x;
            }
        };
        key_refused(&rsa_spki(&mul(&x, &x), &[1, 0, 1]), "Fermat");
        // Far-apart factors of the same shape pass every check.
        let (x, y) = loop {
            let (x, y) = (one_k(&mut rng), one_k(&mut rng));
            if clean(&x) && clean(&y) {
                break (x, y);
            }
        };
        assert!(check_public_key(&rsa_spki(&mul(&x, &y), &[1, 0, 1])).is_ok());
    }

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

    // ---- B1 row 8: what the CSR requests ---------------------------------------------------

    #[test]
    fn requested_extensions_are_reported() {
        let key = key_for(KeyAlgorithm::EcdsaP256);
        let mut p = params(&["example.com"]);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyCertSign,
        ];
        p.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::CodeSigning,
            ExtendedKeyUsagePurpose::Other(vec![1, 3, 6, 1, 4, 1, 99999, 1]),
        ];
        let mut unknown = CustomExtension::from_oid_content(&arcs("1.2.3.4"), vec![0x05, 0x00]);
        unknown.set_criticality(true);
        let noncritical = CustomExtension::from_oid_content(&arcs("1.2.3.5"), vec![0x05, 0x00]);
        // nameConstraints: permittedSubtrees [0] { GeneralSubtree { dNSName "example.com" } }.
        let nc_content = seq(&[&tlv(0xa0, &seq(&[&tlv(0x82, b"example.com")]))]);
        let mut nc = CustomExtension::from_oid_content(&arcs(oid::NAME_CONSTRAINTS), nc_content);
        nc.set_criticality(true);
        p.custom_extensions = vec![unknown, noncritical, nc];
        let v = verify_csr(&csr_with(&p, &key)).unwrap();
        assert!(v.requests_ca);
        assert!(v.requested_key_usage_cert_sign);
        assert!(v.requests_name_constraints);
        let mut ekus = v.requested_ekus.clone();
        ekus.sort();
        assert_eq!(
            ekus,
            vec![
                "1.3.6.1.4.1.99999.1",
                oid::EKU_SERVER_AUTH,
                oid::EKU_CODE_SIGNING
            ]
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>()
            .tap_sort()
        );
        assert_eq!(
            v.unknown_critical_extensions,
            vec!["1.2.3.4".to_string(), oid::NAME_CONSTRAINTS.to_string()]
        );
        // cA=FALSE and crlSign.
        let mut p = params(&["example.com"]);
        p.is_ca = IsCa::ExplicitNoCa;
        p.key_usages = vec![KeyUsagePurpose::CrlSign];
        let v = verify_csr(&csr_with(&p, &key)).unwrap();
        assert!(!v.requests_ca);
        assert!(v.requested_key_usage_cert_sign);
        assert!(!v.requests_name_constraints);
        assert!(v.unknown_critical_extensions.is_empty());
    }

    trait TapSort {
        fn tap_sort(self) -> Self;
    }
    impl TapSort for Vec<String> {
        fn tap_sort(mut self) -> Self {
            self.sort();
            self
        }
    }

    #[test]
    fn duplicate_or_malformed_extensions_refused() {
        let key = key_for(KeyAlgorithm::EcdsaP256);
        let mut p = params(&[]);
        p.custom_extensions = vec![
            CustomExtension::from_oid_content(&arcs("1.2.3.4"), vec![0x05, 0x00]),
            CustomExtension::from_oid_content(&arcs("1.2.3.4"), vec![0x05, 0x00]),
        ];
        refused(
            verify_csr(&csr_with(&p, &key)),
            RefusalCode::BadCsr,
            "twice",
        );
        let mut p = params(&[]);
        p.custom_extensions = vec![CustomExtension::from_oid_content(
            &arcs(oid::EXT_BASIC_CONSTRAINTS),
            vec![0x04, 0x00],
        )];
        refused(
            verify_csr(&csr_with(&p, &key)),
            RefusalCode::BadCsr,
            "malformed",
        );
    }

    // ---- B1 row 9: SAN types, identifiers in the CSR, CN ------------------------------------

    fn san_csr(general_names: &[u8]) -> Vec<u8> {
        let key = key_for(KeyAlgorithm::EcdsaP256);
        let mut p = params(&[]);
        p.custom_extensions = vec![CustomExtension::from_oid_content(
            &arcs(oid::EXT_SAN),
            seq(&[general_names]),
        )];
        csr_with(&p, &key)
    }

    #[test]
    fn san_entries() {
        let key = key_for(KeyAlgorithm::EcdsaP256);
        let mut p = params(&[]);
        p.subject_alt_names = vec![
            SanType::DnsName("WWW.Example.com".try_into().unwrap()),
            SanType::IpAddress("2001:db8::1".parse().unwrap()),
            SanType::Rfc822Name("ops@Example.com".try_into().unwrap()),
            SanType::URI("spiffe://example.org/ns/a".try_into().unwrap()),
        ];
        let v = verify_csr(&csr_with(&p, &key)).unwrap();
        assert_eq!(
            v.sans,
            vec![
                Identifier::Dns("www.example.com".into()),
                Identifier::Ip("2001:db8::1".parse().unwrap()),
                Identifier::Email("ops@example.com".into()),
                Identifier::Uri("spiffe://example.org/ns/a".into()),
            ]
        );
        assert!(v.subject_is_empty);
        assert_eq!(v.common_name, None);

        let mut p = params(&[]);
        p.subject_alt_names = vec![SanType::DnsName("a_b.example.com".try_into().unwrap())];
        refused(
            verify_csr(&csr_with(&p, &key)),
            RefusalCode::RejectedIdentifier,
            "CSR subjectAltName",
        );
        refused(
            verify_csr(&san_csr(&tlv(0x88, &oid_der("1.2.3")[2..]))),
            RefusalCode::BadCsr,
            "registeredID",
        );
        refused(
            verify_csr(&san_csr(&tlv(0xa4, &seq(&[])))),
            RefusalCode::BadCsr,
            "directoryName",
        );
        refused(
            verify_csr(&san_csr(&tlv(0x87, &[10, 0, 0, 1, 2]))),
            RefusalCode::BadCsr,
            "5 octets",
        );
        refused(verify_csr(&san_csr(&[])), RefusalCode::BadCsr, "empty");
        let many: Vec<u8> = (0..=limits::MAX_SANS)
            .flat_map(|i| tlv(0x82, format!("h{i}.example.com").as_bytes()))
            .collect();
        refused(
            verify_csr(&san_csr(&many)),
            RefusalCode::TooManyIdentifiers,
            "at most",
        );
    }

    #[test]
    fn common_name() {
        let key = key_for(KeyAlgorithm::EcdsaP256);
        let mut p = params(&["example.com"]);
        p.distinguished_name.push(DnType::OrganizationName, "Org");
        p.distinguished_name.push(
            DnType::CommonName,
            DnValue::PrintableString("example.com".try_into().unwrap()),
        );
        let v = verify_csr(&csr_with(&p, &key)).unwrap();
        assert_eq!(v.common_name.as_deref(), Some("example.com"));
        assert!(!v.subject_is_empty);
        let mut p = params(&["example.com"]);
        p.distinguished_name
            .push(DnType::OrganizationName, "Org only");
        let v = verify_csr(&csr_with(&p, &key)).unwrap();
        assert_eq!(v.common_name, None);
        assert!(!v.subject_is_empty);
        let mut p = params(&["example.com"]);
        p.distinguished_name.push(
            DnType::CommonName,
            DnValue::BmpString("example.com".try_into().unwrap()),
        );
        refused(
            verify_csr(&csr_with(&p, &key)),
            RefusalCode::BadCsr,
            "string type",
        );
        let mut p = params(&["example.com"]);
        p.distinguished_name
            .push(DnType::CommonName, "exa\u{0}mple.com");
        refused(
            verify_csr(&csr_with(&p, &key)),
            RefusalCode::BadCsr,
            "control",
        );
    }

    #[test]
    fn version_must_be_v1() {
        let key = key_for(KeyAlgorithm::EcdsaP256);
        let der = csr_with(&params(&["example.com"]), &key);
        let (info, alg, _) = split(&der);
        // certificationRequestInfo starts 30 LL 02 01 00 (or 30 81 LL …).
        let mut info2 = info.clone();
        let pos = info2
            .windows(3)
            .position(|w| w == [0x02, 0x01, 0x00])
            .unwrap();
        info2[pos + 2] = 0x01;
        let sig = key.sign(&info2).unwrap();
        refused(
            verify_csr(&assemble(&info2, &alg, &sig)),
            RefusalCode::BadCsr,
            "version",
        );
    }

    // ---- B1 row 10: size limits -----------------------------------------------------------

    #[test]
    fn oversized_refused() {
        refused(
            verify_csr(&vec![0x30; limits::MAX_CSR_DER_BYTES + 1]),
            RefusalCode::BadCsr,
            "at most",
        );
        assert!(decode_csr_input(&vec![0x30; limits::MAX_CSR_DER_BYTES * 3]).is_err());
        let big =
            base64::engine::general_purpose::STANDARD
                .encode(vec![0u8; limits::MAX_CSR_DER_BYTES + 3]);
        let e = decode_csr_input(big.as_bytes()).unwrap_err();
        assert!(e.detail.contains("at most"), "{e}");
    }

    // ---- B1 row 11: malformed DER -----------------------------------------------------------

    #[test]
    fn input_decoding() {
        let key = key_for(KeyAlgorithm::EcdsaP256);
        let csr = params(&["example.com"]).serialize_request(&key).unwrap();
        let der = csr.der().to_vec();
        let pem = csr.pem().unwrap();
        assert_eq!(decode_csr_input(pem.as_bytes()).unwrap(), der);
        let new_label = pem.replace("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST");
        assert_eq!(decode_csr_input(new_label.as_bytes()).unwrap(), der);
        assert_eq!(decode_csr_input(&der).unwrap(), der);
        let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
        assert_eq!(decode_csr_input(b64.as_bytes()).unwrap(), der);
        let wrapped: String = b64
            .as_bytes()
            .chunks(64)
            .map(|c| format!("{}\r\n", std::str::from_utf8(c).unwrap()))
            .collect();
        assert_eq!(decode_csr_input(wrapped.as_bytes()).unwrap(), der);
        let cert_label = pem.replace("CERTIFICATE REQUEST", "CERTIFICATE");
        assert!(decode_csr_input(cert_label.as_bytes()).is_err());
        let extra = format!("{pem}junk");
        assert!(decode_csr_input(extra.as_bytes()).is_err());
        let broken = pem.replacen('M', "*", 1);
        assert!(decode_csr_input(broken.as_bytes()).is_err());
        assert!(decode_csr_input(b"").is_err());
    }

    #[test]
    fn malformed_der_refused() {
        let (_, der) = ec_csr();
        assert!(verify_csr(&der).is_ok());
        // Trailing byte.
        let mut trailing = der.clone();
        trailing.push(0);
        refused(verify_csr(&trailing), RefusalCode::BadCsr, "trailing");
        // Non-minimal length: the outer length with an extra leading zero octet.
        assert_eq!(der[1], 0x81, "test CSR outer length form");
        let body = &der[3..];
        let non_min = [&[0x30, 0x82, 0x00, der[2]][..], body].concat();
        refused(verify_csr(&non_min), RefusalCode::BadCsr, "non-minimal");
        // Long form for a length below 128 (an inner element).
        let mut long_short = vec![0x30];
        let inner = [&[0x02, 0x81, 0x01, 0x00][..]].concat();
        long_short.push(inner.len() as u8);
        long_short.extend(&inner);
        refused(verify_csr(&long_short), RefusalCode::BadCsr, "non-minimal");
        // Five length octets.
        let five = [&[0x30, 0x85, 0x00, 0x00, 0x00, 0x00, 0x01][..], &[0x05]].concat();
        refused(verify_csr(&five), RefusalCode::BadCsr, "more than 4");
        // BER indefinite length.
        let indefinite = [&[0x30, 0x80][..], body, &[0x00, 0x00]].concat();
        refused(verify_csr(&indefinite), RefusalCode::BadCsr, "indefinite");
        // Wrong tag class for the outer element ([APPLICATION 16] constructed).
        let mut wrong_class = der.clone();
        wrong_class[0] = 0x70;
        refused(
            verify_csr(&wrong_class),
            RefusalCode::BadCsr,
            "unexpected element",
        );
        // Constructed OCTET STRING / primitive SEQUENCE.
        refused(
            verify_csr(&[0x24, 0x00]),
            RefusalCode::BadCsr,
            "constructed/primitive",
        );
        refused(
            verify_csr(&[0x10, 0x00]),
            RefusalCode::BadCsr,
            "constructed/primitive",
        );
        // Bad BOOLEAN, non-minimal INTEGER, high tag number.
        refused(
            verify_csr(&[0x30, 0x03, 0x01, 0x01, 0x01]),
            RefusalCode::BadCsr,
            "BOOLEAN",
        );
        refused(
            verify_csr(&[0x30, 0x04, 0x02, 0x02, 0x00, 0x01]),
            RefusalCode::BadCsr,
            "INTEGER",
        );
        refused(
            verify_csr(&[0x30, 0x03, 0x1f, 0x21, 0x00]),
            RefusalCode::BadCsr,
            "high tag",
        );
        // Deep nesting: 33 levels is one too many; 100k levels is refused without recursion.
        let mut deep = vec![0x05, 0x00];
        for _ in 0..limits::MAX_ASN1_DEPTH {
            deep = seq(&[&deep]);
        }
        refused(verify_csr(&deep), RefusalCode::BadCsr, "too deep");
        let mut very_deep = Vec::new();
        for _ in 0..10_000 {
            very_deep.extend([0x30, 0x84, 0xff, 0xff, 0xff, 0xff]);
        }
        assert!(verify_csr(&very_deep).is_err());
        // Signature BIT STRING with unused bits.
        let (info, alg, signature) = split(&der);
        let mut bits = vec![0x04];
        bits.extend(&signature);
        *bits.last_mut().unwrap() &= 0xf0;
        let csr = seq(&[&info, &alg, &tlv(0x03, &bits)]);
        refused(verify_csr(&csr), RefusalCode::BadCsr, "unused bits");
    }

    #[test]
    fn every_truncation_is_refused() {
        for alg in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::Rsa2048] {
            let key = key_for(alg);
            let der = csr_with(&params(&["example.com", "10.0.0.1"]), &key);
            for len in 0..der.len() {
                assert!(
                    verify_csr(&der[..len]).is_err(),
                    "{alg} prefix {len} accepted"
                );
            }
        }
    }

    #[test]
    fn random_inputs_and_bit_flips_never_panic() {
        let mut rng = Rng(0x0123_4567_89ab_cdef);
        let (_, der) = ec_csr();
        let spki_der = key_for(KeyAlgorithm::Ed25519).subject_public_key_info();
        for _ in 0..1000 {
            let len = rng.below(300);
            let mut junk: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            if !junk.is_empty() && rng.below(2) == 0 {
                junk[0] = 0x30;
            }
            let _ = verify_csr(&junk);
            let _ = check_public_key(&junk);
            let _ = decode_csr_input(&junk);
        }
        for _ in 0..1500 {
            let mut m = der.clone();
            for _ in 0..=rng.below(3) {
                let i = rng.below(m.len());
                m[i] ^= 1 << rng.below(8);
            }
            // Two flips of the same bit cancel out; anything else must not verify.
            if m != der {
                assert!(verify_csr(&m).is_err(), "bit-flipped CSR verified");
            }
            let mut k = spki_der.clone();
            let i = rng.below(k.len());
            k[i] ^= 1 << rng.below(8);
            let _ = check_public_key(&k);
        }
    }

    #[test]
    fn oid_text() {
        assert_eq!(
            der::oid_to_string(&oid_der("1.2.840.113549.1.1.11")[2..]).as_deref(),
            Some("1.2.840.113549.1.1.11")
        );
        assert_eq!(
            der::oid_to_string(&oid_der("2.999.3")[2..]).as_deref(),
            Some("2.999.3")
        );
        assert_eq!(der::oid_to_string(&[0x81]), None);
        assert_eq!(der::oid_to_string(&[0xff; 12]), None);
        assert_eq!(der::oid_to_string(&[]), None);
    }
}
