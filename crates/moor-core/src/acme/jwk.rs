//! JSON Web Keys (RFC 7517/7518/8037) as ACME account keys, with the RFC 7638 thumbprint.
//!
//! Accepted: `EC` on P-256 and P-384 (full-size `x`, `y`; the point must be on the curve),
//! `RSA` with a 2048- to 8192-bit modulus and an odd exponent > 1 (minimal encodings,
//! RFC 7518 §6.3.1), `OKP` Ed25519 (RFC 8037 §2). A JWK carrying private members (`d`,
//! `p`, `q`, `dp`, `dq`, `qi`, `oth`, `k`) is `malformed`; an unsupported key type, curve
//! or size is `badPublicKey`. Other members (`kid`, `use`, `alg`, …) are ignored: a key is
//! identified by its required members only, as the thumbprint is.

use aws_lc_rs::digest;
use aws_lc_rs::signature::{self as sig, ParsedPublicKey, UnparsedPublicKey};
use serde_json::{Map, Value};

use super::jws::JwsAlg;
use super::{AcmeError, b64url_decode, b64url_encode, json_object};
use crate::csr::{SubjectKey, check_public_key};

/// Members that only a private (or symmetric) key has (RFC 7518 §6.2.2, §6.3.2, §6.4.1;
/// RFC 8037 §2).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Smallest and largest RSA modulus accepted for a JWS key (bits).
pub const RSA_MIN_BITS: usize = 2048;
/// Largest RSA modulus accepted (bits); aws-lc's `RSA_PKCS1_2048_8192_SHA256` bound.
pub const RSA_MAX_BITS: usize = 8192;

/// The kind of an accepted JWK.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JwkType {
    /// `kty: EC`, `crv: P-256`.
    EcP256,
    /// `kty: EC`, `crv: P-384`.
    EcP384,
    /// `kty: RSA`.
    Rsa,
    /// `kty: OKP`, `crv: Ed25519`.
    Ed25519,
}

impl JwkType {
    /// The one JWS algorithm ACME accepts with this key type.
    pub fn jws_alg(self) -> JwsAlg {
        match self {
            JwkType::EcP256 => JwsAlg::Es256,
            JwkType::EcP384 => JwsAlg::Es384,
            JwkType::Rsa => JwsAlg::Rs256,
            JwkType::Ed25519 => JwsAlg::EdDsa,
        }
    }
}

/// A validated public JWK.
///
/// Equality is key equality: two JWKs are equal when their required members are, whatever
/// optional members they carried.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Jwk {
    kind: JwkType,
    /// The canonical JSON of the required members (RFC 7638 §3.2): the thumbprint input.
    canonical: String,
    thumbprint: String,
    /// What `UnparsedPublicKey` takes: the uncompressed point, the RSAPublicKey DER, or
    /// the raw Ed25519 key.
    verify_key: Vec<u8>,
    spki_der: Vec<u8>,
}

impl Jwk {
    /// Parses and validates a JWK given as a JSON value (the `jwk` header member, an
    /// `oldKey`, an EAB payload).
    pub fn from_value(value: &Value) -> Result<Jwk, AcmeError> {
        match value {
            Value::Object(map) => Jwk::from_map(map),
            _ => Err(AcmeError::malformed("jwk is not a JSON object")),
        }
    }

    /// Parses and validates a JWK from JSON text (e.g. as stored with an account).
    pub fn from_json(json: &[u8]) -> Result<Jwk, AcmeError> {
        Jwk::from_map(&json_object(json, "jwk")?)
    }

    fn from_map(map: &Map<String, Value>) -> Result<Jwk, AcmeError> {
        if let Some(m) = PRIVATE_MEMBERS.iter().find(|m| map.contains_key(**m)) {
            return Err(AcmeError::malformed(format!(
                "jwk has the private member {m:?}: send only the public key"
            )));
        }
        let kty = string(map, "kty")?;
        match kty {
            "EC" => {
                let crv = string(map, "crv")?;
                let (kind, len, alg): (_, _, &'static sig::EcdsaVerificationAlgorithm) = match crv {
                    "P-256" => (JwkType::EcP256, 32, &sig::ECDSA_P256_SHA256_FIXED),
                    "P-384" => (JwkType::EcP384, 48, &sig::ECDSA_P384_SHA384_FIXED),
                    other => {
                        return Err(AcmeError::bad_public_key(format!(
                            "EC curve {other:?} is not supported; use P-256 or P-384"
                        )));
                    }
                };
                let x_b64 = string(map, "x")?;
                let y_b64 = string(map, "y")?;
                let x = b64url_decode(x_b64, "jwk x")?;
                let y = b64url_decode(y_b64, "jwk y")?;
                // RFC 7518 §6.2.1.2/3: the full coordinate size, leading zeros included.
                for (name, c) in [("x", &x), ("y", &y)] {
                    if c.len() != len {
                        return Err(AcmeError::malformed(format!(
                            "jwk {name} is {} bytes; {crv} coordinates are {len} bytes",
                            c.len()
                        )));
                    }
                }
                let mut point = Vec::with_capacity(1 + 2 * len);
                point.push(0x04);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                ParsedPublicKey::new(alg, &point).map_err(|_| {
                    AcmeError::bad_public_key(format!("jwk is not a point on {crv}"))
                })?;
                let curve_oid: &[u8] = match kind {
                    JwkType::EcP256 => OID_P256,
                    _ => OID_P384,
                };
                let spki_der = spki(&[OID_EC_PUBLIC_KEY, curve_oid].concat(), &point);
                Ok(Jwk::build(
                    kind,
                    format!(r#"{{"crv":"{crv}","kty":"EC","x":"{x_b64}","y":"{y_b64}"}}"#),
                    point,
                    spki_der,
                ))
            }
            "RSA" => {
                let n_b64 = string(map, "n")?;
                let e_b64 = string(map, "e")?;
                let n = b64url_decode(n_b64, "jwk n")?;
                let e = b64url_decode(e_b64, "jwk e")?;
                // RFC 7518 §6.3.1: base64urlUInt, the minimum number of octets.
                for (name, v) in [("n", &n), ("e", &e)] {
                    match v.first() {
                        None => return Err(AcmeError::malformed(format!("jwk {name} is empty"))),
                        Some(0) => {
                            return Err(AcmeError::malformed(format!(
                                "jwk {name} has a leading zero octet (RFC 7518 §6.3.1)"
                            )));
                        }
                        Some(_) => {}
                    }
                }
                let bits = bit_len(&n);
                if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) {
                    return Err(AcmeError::bad_public_key(format!(
                        "RSA modulus is {bits} bits; accepted are {RSA_MIN_BITS} to {RSA_MAX_BITS}"
                    )));
                }
                if n.last().is_some_and(|b| b & 1 == 0) {
                    return Err(AcmeError::bad_public_key("RSA modulus is even"));
                }
                if e.len() > 8 {
                    return Err(AcmeError::bad_public_key(
                        "RSA public exponent is longer than 64 bits",
                    ));
                }
                if e == [1] || e.last().is_some_and(|b| b & 1 == 0) {
                    return Err(AcmeError::bad_public_key(
                        "RSA public exponent must be odd and greater than 1",
                    ));
                }
                let rsa_key = der_tlv(0x30, &[der_uint(&n), der_uint(&e)].concat());
                ParsedPublicKey::new(&sig::RSA_PKCS1_2048_8192_SHA256, &rsa_key).map_err(|e| {
                    AcmeError::bad_public_key(format!("RSA key is not accepted: {e}"))
                })?;
                let spki_der = spki(&[OID_RSA_ENCRYPTION, DER_NULL].concat(), &rsa_key);
                Ok(Jwk::build(
                    JwkType::Rsa,
                    format!(r#"{{"e":"{e_b64}","kty":"RSA","n":"{n_b64}"}}"#),
                    rsa_key,
                    spki_der,
                ))
            }
            "OKP" => {
                let crv = string(map, "crv")?;
                if crv != "Ed25519" {
                    return Err(AcmeError::bad_public_key(format!(
                        "OKP curve {crv:?} is not supported; use Ed25519"
                    )));
                }
                let x_b64 = string(map, "x")?;
                let x = b64url_decode(x_b64, "jwk x")?;
                if x.len() != 32 {
                    return Err(AcmeError::malformed(format!(
                        "jwk x is {} bytes; Ed25519 keys are 32 bytes",
                        x.len()
                    )));
                }
                ParsedPublicKey::new(&sig::ED25519, &x)
                    .map_err(|_| AcmeError::bad_public_key("jwk is not a valid Ed25519 key"))?;
                let spki_der = spki(OID_ED25519, &x);
                Ok(Jwk::build(
                    JwkType::Ed25519,
                    format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x_b64}"}}"#),
                    x,
                    spki_der,
                ))
            }
            "oct" => Err(AcmeError::bad_public_key(
                "symmetric (oct) keys cannot sign ACME requests",
            )),
            other => Err(AcmeError::bad_public_key(format!(
                "key type {other:?} is not supported; use EC, RSA or OKP"
            ))),
        }
    }

    fn build(kind: JwkType, canonical: String, verify_key: Vec<u8>, spki_der: Vec<u8>) -> Jwk {
        let thumbprint = b64url_encode(digest::digest(&digest::SHA256, canonical.as_bytes()));
        Jwk {
            kind,
            canonical,
            thumbprint,
            verify_key,
            spki_der,
        }
    }

    /// The key type.
    pub fn kind(&self) -> JwkType {
        self.kind
    }

    /// The RFC 7638 thumbprint: base64url(SHA-256(canonical JSON of the required members)).
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// A stable identifier of the key, to index accounts by key: the thumbprint.
    pub fn key_id(&self) -> &str {
        &self.thumbprint
    }

    /// The public JWK with only its required members, canonical JSON (RFC 7638 §3.2):
    /// what to store with an account and return in account objects.
    pub fn to_json(&self) -> &str {
        &self.canonical
    }

    /// [`Jwk::to_json`] as a JSON value.
    pub fn to_value(&self) -> Value {
        // The canonical form is built from validated base64url strings: always valid JSON.
        serde_json::from_str(&self.canonical).unwrap_or(Value::Null)
    }

    /// The SubjectPublicKeyInfo DER, byte for byte as an X.509 certificate for this key
    /// carries it (RFC 5480, RFC 3279 with NULL parameters, RFC 8410).
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// Applies the certificate key policy (RSA 2048/3072/4096 with e = 65537 and the weak-key
    /// checks, P-256/P-384, Ed25519) to this key: stricter than what a JWS may be signed
    /// with, and what new account keys should pass.
    pub fn check_key_policy(&self) -> Result<SubjectKey, AcmeError> {
        check_public_key(&self.spki_der).map_err(|r| AcmeError::bad_public_key(r.detail))
    }

    /// The key authorization for a challenge token (RFC 8555 §8.1): `token.thumbprint`.
    pub fn key_authorization(&self, token: &str) -> String {
        format!("{token}.{}", self.thumbprint)
    }

    /// The dns-01 TXT record value (RFC 8555 §8.4): base64url(SHA-256(key authorization)).
    pub fn dns01_txt_value(&self, token: &str) -> String {
        b64url_encode(self.key_authorization_sha256(token))
    }

    /// SHA-256 of the key authorization: the tls-alpn-01 `acmeIdentifier` extension value
    /// (RFC 8737 §3).
    pub fn key_authorization_sha256(&self, token: &str) -> [u8; 32] {
        let d = digest::digest(&digest::SHA256, self.key_authorization(token).as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        out
    }

    /// Verifies `signature` over `message` with `alg`, which must be this key's algorithm.
    pub fn verify_signature(
        &self,
        alg: JwsAlg,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), AcmeError> {
        if alg != self.kind.jws_alg() {
            return Err(AcmeError::bad_signature_algorithm(format!(
                "alg {} does not match the {:?} key (expected {})",
                alg.as_str(),
                self.kind,
                self.kind.jws_alg().as_str()
            )));
        }
        let (verifier, fixed_len): (&'static dyn sig::VerificationAlgorithm, _) = match alg {
            JwsAlg::Es256 => (&sig::ECDSA_P256_SHA256_FIXED, Some(64)),
            JwsAlg::Es384 => (&sig::ECDSA_P384_SHA384_FIXED, Some(96)),
            JwsAlg::EdDsa => (&sig::ED25519, Some(64)),
            JwsAlg::Rs256 => (&sig::RSA_PKCS1_2048_8192_SHA256, None),
        };
        if let Some(len) = fixed_len
            && signature.len() != len
        {
            return Err(AcmeError::malformed(format!(
                "{} signature is {} bytes, expected {len} (JWS uses the fixed-width R||S form, \
                 not DER)",
                alg.as_str(),
                signature.len()
            )));
        }
        UnparsedPublicKey::new(verifier, &self.verify_key)
            .verify(message, signature)
            .map_err(|_| AcmeError::malformed("JWS signature does not verify"))
    }
}

/// A required string member of a JWK.
fn string<'a>(map: &'a Map<String, Value>, name: &str) -> Result<&'a str, AcmeError> {
    match map.get(name) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(AcmeError::malformed(format!("jwk {name} is not a string"))),
        None => Err(AcmeError::malformed(format!("jwk has no {name}"))),
    }
}

fn bit_len(mag: &[u8]) -> usize {
    match mag.first() {
        Some(&b) => (mag.len() - 1) * 8 + (8 - b.leading_zeros() as usize),
        None => 0,
    }
}

const OID_RSA_ENCRYPTION: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
];
const DER_NULL: &[u8] = &[0x05, 0x00];
const OID_EC_PUBLIC_KEY: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
const OID_ED25519: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];

/// SubjectPublicKeyInfo ::= SEQUENCE { AlgorithmIdentifier, BIT STRING } (RFC 5280).
fn spki(algorithm_content: &[u8], key: &[u8]) -> Vec<u8> {
    let mut bits = Vec::with_capacity(key.len() + 1);
    bits.push(0);
    bits.extend_from_slice(key);
    der_tlv(
        0x30,
        &[der_tlv(0x30, algorithm_content), der_tlv(0x03, &bits)].concat(),
    )
}

/// A DER INTEGER of a positive big-endian magnitude without leading zeros.
fn der_uint(mag: &[u8]) -> Vec<u8> {
    if mag.first().is_some_and(|b| b & 0x80 != 0) {
        der_tlv(0x02, &[&[0u8][..], mag].concat())
    } else {
        der_tlv(0x02, mag)
    }
}

fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let len = content.len();
    let mut out = Vec::with_capacity(len + 6);
    out.push(tag);
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let octets = len.to_be_bytes();
        let skip = octets.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (octets.len() - skip) as u8);
        out.extend_from_slice(&octets[skip..]);
    }
    out.extend_from_slice(content);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acme::ProblemType;
    use crate::acme::test_support::{TestKey, key, rsa_2048};
    use serde_json::json;

    /// RFC 7638 §3.1: the example RSA key and its thumbprint.
    const RFC7638_N: &str = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";

    fn rfc7638_jwk() -> Value {
        json!({"kty": "RSA", "n": RFC7638_N, "e": "AQAB", "alg": "RS256",
               "kid": "2011-04-29"})
    }

    #[test]
    fn acme_jwk_rfc7638_thumbprint() {
        let jwk = Jwk::from_value(&rfc7638_jwk()).unwrap();
        assert_eq!(
            jwk.thumbprint(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
        assert_eq!(jwk.key_id(), jwk.thumbprint());
        assert_eq!(jwk.kind(), JwkType::Rsa);
        assert_eq!(
            jwk.to_json(),
            format!(r#"{{"e":"AQAB","kty":"RSA","n":"{RFC7638_N}"}}"#)
        );
        // Optional members do not change the key or its thumbprint; order does not matter.
        let bare =
            Jwk::from_json(format!(r#"{{"n":"{RFC7638_N}","kty":"RSA","e":"AQAB"}}"#).as_bytes())
                .unwrap();
        assert_eq!(bare, jwk);
        assert_eq!(Jwk::from_value(&jwk.to_value()).unwrap(), jwk);
        // RFC 8555 §8.1 key authorization and §8.4 dns-01 value.
        assert_eq!(
            jwk.key_authorization("evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"),
            "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
        let txt = jwk.dns01_txt_value("tok");
        let expect = b64url_encode(digest::digest(
            &digest::SHA256,
            b"tok.NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs",
        ));
        assert_eq!(txt, expect);
        assert_eq!(txt.len(), 43);
        assert_eq!(b64url_encode(jwk.key_authorization_sha256("tok")), expect);
    }

    #[test]
    fn acme_jwk_rfc8037_ed25519_thumbprint() {
        // RFC 8037 §A.3: the thumbprint of the Ed25519 example key.
        let jwk = Jwk::from_value(&json!({"kty": "OKP", "crv": "Ed25519",
            "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}))
        .unwrap();
        assert_eq!(
            jwk.thumbprint(),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
        assert_eq!(jwk.kind(), JwkType::Ed25519);
    }

    #[test]
    fn acme_jwk_spki_matches_the_certificate_encoding() {
        for key in TestKey::all() {
            let jwk = Jwk::from_value(&key.jwk()).unwrap();
            assert_eq!(jwk.kind(), key.kind);
            assert_eq!(
                jwk.spki_der(),
                key.spki_der().as_slice(),
                "{:?}: SPKI differs from aws-lc's",
                key.kind
            );
            let checked = jwk.check_key_policy().unwrap();
            assert_eq!(checked.spki_der, jwk.spki_der());
            assert_eq!(jwk.thumbprint().len(), 43);
        }
        // The RFC 7638 example key is a well-formed 2048-bit key with e = 65537: it passes
        // the certificate key policy too.
        let jwk = Jwk::from_value(&rfc7638_jwk()).unwrap();
        assert!(jwk.check_key_policy().is_ok());
        // e = 3 is a valid JWS key but fails the certificate key policy.
        let key = rsa_2048();
        let mut v = key.jwk();
        v["e"] = json!("Aw");
        let e3 = Jwk::from_value(&v).unwrap();
        assert_eq!(
            e3.check_key_policy().unwrap_err().kind(),
            ProblemType::BadPublicKey
        );
    }

    fn kind_of(v: Value) -> ProblemType {
        Jwk::from_value(&v).unwrap_err().kind()
    }

    #[test]
    fn acme_jwk_refusals() {
        use ProblemType::{BadPublicKey, Malformed};
        let ec = key(JwkType::EcP256).jwk();
        let rsa = rsa_2048().jwk();
        let with = |base: &Value, k: &str, v: Value| {
            let mut o = base.clone();
            o[k] = v;
            o
        };
        let without = |base: &Value, k: &str| {
            let mut o = base.clone();
            o.as_object_mut().unwrap().remove(k);
            o
        };
        // Private members.
        for m in PRIVATE_MEMBERS {
            assert_eq!(kind_of(with(&ec, m, json!("AQAB"))), Malformed, "{m}");
        }
        assert_eq!(kind_of(with(&rsa, "d", json!("AQAB"))), Malformed);
        // Structure.
        assert_eq!(kind_of(json!("x")), Malformed);
        assert_eq!(kind_of(json!([])), Malformed);
        assert_eq!(kind_of(without(&ec, "kty")), Malformed);
        assert_eq!(kind_of(without(&ec, "crv")), Malformed);
        assert_eq!(kind_of(without(&ec, "y")), Malformed);
        assert_eq!(kind_of(with(&ec, "x", json!(1))), Malformed);
        assert_eq!(kind_of(with(&ec, "kty", json!(null))), Malformed);
        // Lengths and encodings.
        let x = ec["x"].as_str().unwrap();
        assert_eq!(kind_of(with(&ec, "x", json!(&x[..42]))), Malformed);
        assert_eq!(kind_of(with(&ec, "x", json!(format!("{x}=")))), Malformed);
        assert_eq!(
            kind_of(with(&ec, "x", json!(b64url_encode([1u8; 31])))),
            Malformed
        );
        assert_eq!(kind_of(with(&ec, "crv", json!("P-384"))), Malformed);
        // Not on the curve: (1, 1).
        let mut one = [0u8; 32];
        one[31] = 1;
        let off = with(
            &with(&ec, "x", json!(b64url_encode(one))),
            "y",
            json!(b64url_encode(one)),
        );
        assert_eq!(kind_of(off), BadPublicKey);
        // Unsupported types and curves.
        assert_eq!(kind_of(with(&ec, "crv", json!("P-521"))), BadPublicKey);
        assert_eq!(kind_of(with(&ec, "crv", json!("secp256k1"))), BadPublicKey);
        assert_eq!(kind_of(with(&ec, "kty", json!("DSA"))), BadPublicKey);
        assert_eq!(kind_of(json!({"kty": "oct"})), BadPublicKey);
        assert_eq!(
            kind_of(json!({"kty": "OKP", "crv": "Ed448", "x": "AA"})),
            BadPublicKey
        );
        assert_eq!(
            kind_of(json!({"kty": "OKP", "crv": "X25519", "x": b64url_encode([9u8; 32])})),
            BadPublicKey
        );
        assert_eq!(
            kind_of(json!({"kty": "OKP", "crv": "Ed25519", "x": b64url_encode([9u8; 31])})),
            Malformed
        );
        // RSA sizes and exponents.
        let n = b64url_decode(rsa["n"].as_str().unwrap(), "n").unwrap();
        let n1024 = b64url_encode(&n[..128]);
        assert_eq!(kind_of(with(&rsa, "n", json!(n1024))), BadPublicKey);
        let mut n2047 = n.clone();
        n2047[0] = 0x7f;
        let n2047 = b64url_encode(&n2047);
        assert_eq!(kind_of(with(&rsa, "n", json!(n2047))), BadPublicKey);
        let mut big = vec![0xffu8; 1025];
        big[1024] = 0xfd;
        assert_eq!(
            kind_of(with(&rsa, "n", json!(b64url_encode(&big)))),
            BadPublicKey
        );
        let mut even = n.clone();
        even[255] &= 0xfe;
        assert_eq!(
            kind_of(with(&rsa, "n", json!(b64url_encode(&even)))),
            BadPublicKey
        );
        let padded = b64url_encode([&[0u8][..], &n].concat());
        assert_eq!(kind_of(with(&rsa, "n", json!(padded))), Malformed);
        assert_eq!(kind_of(with(&rsa, "n", json!(""))), Malformed);
        assert_eq!(kind_of(with(&rsa, "e", json!(""))), Malformed);
        assert_eq!(kind_of(with(&rsa, "e", json!("AAEAAQ"))), Malformed);
        assert_eq!(kind_of(with(&rsa, "e", json!("AQ"))), BadPublicKey);
        assert_eq!(kind_of(with(&rsa, "e", json!("AQA"))), BadPublicKey);
        assert_eq!(
            kind_of(with(&rsa, "e", json!(b64url_encode([1u8; 9])))),
            BadPublicKey
        );
        assert_eq!(kind_of(without(&rsa, "e")), Malformed);
        // JSON text.
        assert!(Jwk::from_json(br#"{"kty":"EC","kty":"EC"}"#).is_err());
        assert!(Jwk::from_json(b"not json").is_err());
    }
}
