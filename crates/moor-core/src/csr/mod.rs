//! PKCS#10 certification requests (RFC 2986): decode, check, verify (refuse.md B1).
//!
//! [`verify_csr`] turns untrusted bytes into a [`VerifiedCsr`] only when the DER is strict,
//! the proof-of-possession signature verifies with an accepted algorithm, and the public key
//! passes the key policy ([`check_public_key`]). What the CSR *requests* (names, CA bit,
//! key usages, EKUs, extensions) is reported, never trusted: the profile decides what the
//! certificate contains.
//!
//! Layering: a small strict DER reader (`der`) checks the whole structure and reads the
//! outer `CertificationRequest`, the algorithm identifiers and the public key; x509-parser
//! reads the subject (`subject`) and the extension request (`extensions`); aws-lc-rs
//! verifies.
//!
//! Layout: this file holds [`verify_csr`] and its result types; [`decode_csr_input`] (PEM,
//! base64 or DER from a client) is in `input`, signature algorithms in `signature`, the key
//! policy ([`check_public_key`]) in `key_policy`, object identifiers in `oid`.

mod der;
mod extensions;
mod input;
mod key_policy;
mod oid;
mod signature;
mod subject;
#[cfg(test)]
mod test_support;

pub use input::decode_csr_input;
pub use key_policy::check_public_key;

use aws_lc_rs::signature::UnparsedPublicKey;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::prelude::FromDer;

use crate::algorithm::KeyAlgorithm;
use crate::identifier::Identifier;
use crate::limits;
use crate::refusal::{Refusal, RefusalCode};

use extensions::read_extension_request;
use signature::{signature_scheme, verification_algorithm};
use subject::subject_summary;

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
    /// [`IdentifierRules::default`](crate::identifier::IdentifierRules::default) (the
    /// profile re-checks with its own rules).
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csr::test_support::{
        Rng, assemble, csr_with, ec_csr, key_for, params, refused, split,
    };
    use rcgen::{BasicConstraints, DnType, IsCa, PublicKeyData, SigningKey};

    // ---- B1 row 1: proof of possession ----------------------------------------------------

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
}
