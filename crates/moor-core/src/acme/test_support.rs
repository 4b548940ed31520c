//! Test keys of every JWS algorithm and a JWS signer built on aws-lc-rs.

use std::sync::OnceLock;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self as sig, KeyPair};
use serde_json::{Value, json};

use super::b64url_encode;
use super::jwk::JwkType;

pub(crate) enum Signer {
    Ec(sig::EcdsaKeyPair),
    Rsa(sig::RsaKeyPair),
    Ed(sig::Ed25519KeyPair),
}

/// A key pair that signs JWS.
pub(crate) struct TestKey {
    pub kind: JwkType,
    signer: Signer,
}

impl TestKey {
    /// One key of each accepted type: P-256, P-384, RSA-2048, Ed25519 (generated once).
    pub fn all() -> &'static [TestKey] {
        static KEYS: OnceLock<Vec<TestKey>> = OnceLock::new();
        KEYS.get_or_init(|| {
            vec![
                TestKey::generate(JwkType::EcP256),
                TestKey::generate(JwkType::EcP384),
                TestKey::generate(JwkType::Rsa),
                TestKey::generate(JwkType::Ed25519),
            ]
        })
    }

    /// A fresh key of `kind`.
    pub fn generate(kind: JwkType) -> TestKey {
        let signer = match kind {
            JwkType::EcP256 => Signer::Ec(
                sig::EcdsaKeyPair::generate(&sig::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap(),
            ),
            JwkType::EcP384 => Signer::Ec(
                sig::EcdsaKeyPair::generate(&sig::ECDSA_P384_SHA384_FIXED_SIGNING).unwrap(),
            ),
            JwkType::Rsa => Signer::Rsa(sig::RsaKeyPair::generate(KeySize::Rsa2048).unwrap()),
            JwkType::Ed25519 => Signer::Ed(sig::Ed25519KeyPair::generate().unwrap()),
        };
        TestKey { kind, signer }
    }

    /// The JWS `alg` of this key.
    pub fn alg(&self) -> &'static str {
        self.kind.jws_alg().as_str()
    }

    /// The public JWK as a JSON value.
    pub fn jwk(&self) -> Value {
        match &self.signer {
            Signer::Ec(k) => {
                let point = k.public_key().as_ref();
                let len = (point.len() - 1) / 2;
                let crv = if len == 32 { "P-256" } else { "P-384" };
                json!({"kty": "EC", "crv": crv,
                       "x": b64url_encode(&point[1..1 + len]),
                       "y": b64url_encode(&point[1 + len..])})
            }
            Signer::Rsa(k) => {
                let (n, e) = rsa_public_numbers(k.public_key().as_ref());
                json!({"kty": "RSA", "n": b64url_encode(n), "e": b64url_encode(e)})
            }
            Signer::Ed(k) => {
                json!({"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(k.public_key())})
            }
        }
    }

    /// The SubjectPublicKeyInfo as aws-lc encodes it.
    pub fn spki_der(&self) -> Vec<u8> {
        match &self.signer {
            Signer::Ec(k) => k.public_key().as_der().unwrap().as_ref().to_vec(),
            Signer::Rsa(k) => k.public_key().as_der().unwrap().as_ref().to_vec(),
            Signer::Ed(k) => k.public_key().as_der().unwrap().as_ref().to_vec(),
        }
    }

    /// Signs `msg` with the key's JWS algorithm.
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.signer {
            Signer::Ec(k) => k.sign(&rng, msg).unwrap().as_ref().to_vec(),
            Signer::Rsa(k) => {
                let mut out = vec![0u8; k.public_modulus_len()];
                k.sign(&sig::RSA_PKCS1_SHA256, &rng, msg, &mut out).unwrap();
                out
            }
            Signer::Ed(k) => k.sign(msg).as_ref().to_vec(),
        }
    }

    /// A flattened JWS object over the protected header `header` and `payload`
    /// (`None`: the empty payload of POST-as-GET).
    pub fn jws_value(&self, header: &Value, payload: Option<&[u8]>) -> Value {
        let protected = b64url_encode(header.to_string());
        let payload = payload.map(b64url_encode).unwrap_or_default();
        let signature = self.sign(format!("{protected}.{payload}").as_bytes());
        json!({"protected": protected, "payload": payload,
               "signature": b64url_encode(signature)})
    }

    /// [`TestKey::jws_value`] as body bytes.
    pub fn jws(&self, header: &Value, payload: Option<&[u8]>) -> Vec<u8> {
        self.jws_value(header, payload).to_string().into_bytes()
    }

    /// The usual newAccount-style header with an embedded `jwk`.
    pub fn jwk_header(&self, url: &str) -> Value {
        json!({"alg": self.alg(), "jwk": self.jwk(), "nonce": "bm9uY2U", "url": url})
    }

    /// The usual header of an account request, with `kid`.
    pub fn kid_header(&self, kid: &str, url: &str) -> Value {
        json!({"alg": self.alg(), "kid": kid, "nonce": "bm9uY2U", "url": url})
    }
}

/// The shared RSA-2048 test key.
pub(crate) fn rsa_2048() -> &'static TestKey {
    TestKey::all()
        .iter()
        .find(|k| k.kind == JwkType::Rsa)
        .unwrap()
}

/// The shared test key of `kind`.
pub(crate) fn key(kind: JwkType) -> &'static TestKey {
    TestKey::all().iter().find(|k| k.kind == kind).unwrap()
}

/// n and e (magnitudes without leading zeros) from an RSAPublicKey DER.
fn rsa_public_numbers(der: &[u8]) -> (Vec<u8>, Vec<u8>) {
    fn tlv(input: &[u8]) -> (&[u8], &[u8]) {
        let (len, hdr) = match input[1] {
            l if l < 0x80 => (usize::from(l), 2),
            0x81 => (usize::from(input[2]), 3),
            0x82 => (usize::from(input[2]) << 8 | usize::from(input[3]), 4),
            _ => panic!("unexpected length"),
        };
        (&input[hdr..hdr + len], &input[hdr + len..])
    }
    let (seq, _) = tlv(der);
    let (n, rest) = tlv(seq);
    let (e, _) = tlv(rest);
    let strip = |v: &[u8]| {
        v.iter()
            .skip_while(|&&b| b == 0)
            .copied()
            .collect::<Vec<u8>>()
    };
    (strip(n), strip(e))
}
