//! Fixtures shared by the CSR tests: DER builders, key and CSR generation, refusal checks.

use rcgen::{CertificateParams, DistinguishedName, KeyPair, RsaKeySize};

use super::{VerifiedCsr, check_public_key, der};
use crate::algorithm::KeyAlgorithm;
use crate::refusal::{Refusal, RefusalCode};

/// DER TLV with a definite minimal length.
pub(super) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
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

pub(super) fn seq(parts: &[&[u8]]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

/// DER OBJECT IDENTIFIER from dotted text.
pub(super) fn oid_der(dotted: &str) -> Vec<u8> {
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

pub(super) fn alg_id(dotted: &str, params: Option<&[u8]>) -> Vec<u8> {
    seq(&[&oid_der(dotted), params.unwrap_or(&[])])
}

pub(super) const NULL: &[u8] = &[0x05, 0x00];

pub(super) fn key_for(alg: KeyAlgorithm) -> KeyPair {
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

pub(super) fn params(sans: &[&str]) -> CertificateParams {
    let mut p =
        CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    p.distinguished_name = DistinguishedName::new();
    p
}

pub(super) fn csr_with(p: &CertificateParams, key: &KeyPair) -> Vec<u8> {
    p.serialize_request(key).unwrap().der().to_vec()
}

pub(super) fn ec_csr() -> (KeyPair, Vec<u8>) {
    let key = key_for(KeyAlgorithm::EcdsaP256);
    let der = csr_with(&params(&["example.com"]), &key);
    (key, der)
}

/// Splits a CSR into (certificationRequestInfo, signatureAlgorithm, signature bytes).
pub(super) fn split(csr: &[u8]) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
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
pub(super) fn assemble(info: &[u8], alg: &[u8], signature: &[u8]) -> Vec<u8> {
    let bits = [&[0u8][..], signature].concat();
    seq(&[info, alg, &tlv(0x03, &bits)])
}

#[track_caller]
pub(super) fn refused(r: Result<VerifiedCsr, Refusal>, code: RefusalCode, needle: &str) {
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
pub(super) fn key_refused(spki: &[u8], needle: &str) {
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

pub(super) fn spki(alg: &[u8], key: &[u8]) -> Vec<u8> {
    let bits = [&[0u8][..], key].concat();
    seq(&[alg, &tlv(0x03, &bits)])
}

/// Deterministic xorshift for the robustness loops.
pub(super) struct Rng(pub(super) u64);
impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub(super) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}
