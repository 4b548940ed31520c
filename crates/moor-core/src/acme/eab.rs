//! External account binding (RFC 8555 §7.3.4): the HMAC-signed inner JWS of newAccount.
//!
//! The `externalAccountBinding` member of a newAccount payload is a flattened JWS whose
//! protected header is `{alg: HS256|HS384|HS512, kid: <EAB key id>, url: <newAccount URL>}`
//! (no `nonce`, no `jwk`), whose payload is the account's public JWK, and whose signature
//! is a MAC under the key the CA issued with that key id.
//!
//! The handler: [`ExternalAccountBinding::parse`] (structure, url, payload = the account
//! key), looks up [`ExternalAccountBinding::kid`] (unknown → `unauthorized`, already bound
//! to another account → `unauthorized`), then [`ExternalAccountBinding::verify`] with the
//! MAC key. Every `unauthorized` here is HTTP 401 (refuse.md B4).

use aws_lc_rs::{constant_time, hmac};
use serde_json::{Value, json};

use super::jwk::Jwk;
use super::jws::{Flattened, reject_extensions};
use super::{AcmeError, b64url_encode, json_object};

/// The MAC algorithms of an EAB JWS (RFC 7518 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EabAlg {
    /// HMAC with SHA-256.
    Hs256,
    /// HMAC with SHA-384.
    Hs384,
    /// HMAC with SHA-512.
    Hs512,
}

impl EabAlg {
    /// The `alg` header value.
    pub fn as_str(self) -> &'static str {
        match self {
            EabAlg::Hs256 => "HS256",
            EabAlg::Hs384 => "HS384",
            EabAlg::Hs512 => "HS512",
        }
    }

    fn from_name(name: &str) -> Option<EabAlg> {
        match name {
            "HS256" => Some(EabAlg::Hs256),
            "HS384" => Some(EabAlg::Hs384),
            "HS512" => Some(EabAlg::Hs512),
            _ => None,
        }
    }

    fn hmac(self) -> hmac::Algorithm {
        match self {
            EabAlg::Hs256 => hmac::HMAC_SHA256,
            EabAlg::Hs384 => hmac::HMAC_SHA384,
            EabAlg::Hs512 => hmac::HMAC_SHA512,
        }
    }
}

/// An external account binding whose structure was checked, MAC not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalAccountBinding {
    kid: String,
    alg: EabAlg,
    signing_input: Vec<u8>,
    mac: Vec<u8>,
}

fn unauthorized(detail: &str) -> AcmeError {
    AcmeError::unauthorized(format!("external account binding: {detail}")).with_status(401)
}

fn malformed(detail: impl std::fmt::Display) -> AcmeError {
    AcmeError::malformed(format!("external account binding: {detail}"))
}

impl ExternalAccountBinding {
    /// Checks the `externalAccountBinding` value of a newAccount payload. `outer_url` is
    /// the `url` of the (already parsed) newAccount JWS, `account_key` its `jwk`.
    pub fn parse(
        binding: &Value,
        outer_url: &str,
        account_key: &Jwk,
    ) -> Result<ExternalAccountBinding, AcmeError> {
        let Value::Object(map) = binding else {
            return Err(malformed("not a JSON object"));
        };
        let flat = Flattened::split(map, "external account binding")?;
        let h = &flat.header;
        let alg = match h.get("alg") {
            Some(Value::String(a)) => EabAlg::from_name(a).ok_or_else(|| {
                malformed(format_args!(
                    "alg {a:?} is not accepted; use HS256, HS384 or HS512"
                ))
            })?,
            _ => return Err(malformed("no alg string")),
        };
        reject_extensions(h).map_err(|e| malformed(e.detail()))?;
        if h.contains_key("nonce") {
            return Err(malformed("must not have a nonce (RFC 8555 §7.3.4)"));
        }
        if h.contains_key("jwk") {
            return Err(malformed("must not have a jwk header parameter"));
        }
        let kid = match h.get("kid") {
            Some(Value::String(k)) if !k.is_empty() => k.clone(),
            _ => return Err(malformed("no kid (the EAB key identifier)")),
        };
        match h.get("url") {
            Some(Value::String(u)) if u == outer_url => {}
            Some(Value::String(_)) => {
                return Err(malformed("url differs from the newAccount url"));
            }
            _ => return Err(malformed("no url string")),
        }
        flat.require_signature("external account binding")?;
        if flat.payload_b64_empty {
            return Err(malformed("the payload must be the account key"));
        }
        let payload = json_object(&flat.payload, "external account binding payload")?;
        let key = Jwk::from_value(&Value::Object(payload))?;
        if &key != account_key {
            return Err(unauthorized("the payload is not the account key"));
        }
        Ok(ExternalAccountBinding {
            kid,
            alg,
            signing_input: flat.signing_input,
            mac: flat.signature,
        })
    }

    /// The EAB key identifier, to look up the MAC key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The MAC algorithm.
    pub fn alg(&self) -> EabAlg {
        self.alg
    }

    /// Verifies the MAC with `mac_key` (the decoded key the CA issued), in constant time.
    pub fn verify(&self, mac_key: &[u8]) -> Result<(), AcmeError> {
        if mac_key.is_empty() {
            return Err(unauthorized("no MAC key"));
        }
        let key = hmac::Key::new(self.alg.hmac(), mac_key);
        let tag = hmac::sign(&key, &self.signing_input);
        constant_time::verify_slices_are_equal(tag.as_ref(), &self.mac)
            .map_err(|_| unauthorized("the MAC does not verify"))
    }
}

/// Builds an `externalAccountBinding` value (what an ACME client sends): for clients and
/// tests.
pub fn sign_binding(alg: EabAlg, kid: &str, mac_key: &[u8], url: &str, account_key: &Jwk) -> Value {
    let protected = b64url_encode(json!({"alg": alg.as_str(), "kid": kid, "url": url}).to_string());
    let payload = b64url_encode(account_key.to_json());
    let key = hmac::Key::new(alg.hmac(), mac_key);
    let tag = hmac::sign(&key, format!("{protected}.{payload}").as_bytes());
    json!({"protected": protected, "payload": payload, "signature": b64url_encode(tag)})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acme::ProblemType;
    use crate::acme::jwk::JwkType;
    use crate::acme::test_support::{TestKey, key};

    const URL: &str = "https://ca.example/acme/tls/new-account";
    const MAC_KEY: &[u8] = b"an EAB MAC key of 32 bytes......";

    fn account() -> Jwk {
        Jwk::from_value(&key(JwkType::EcP256).jwk()).unwrap()
    }

    fn binding_with(header: Value, payload: &str, mac_key: &[u8]) -> Value {
        let protected = b64url_encode(header.to_string());
        let tag = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, mac_key),
            format!("{protected}.{payload}").as_bytes(),
        );
        json!({"protected": protected, "payload": payload, "signature": b64url_encode(tag)})
    }

    #[test]
    fn acme_eab_round_trip_every_alg() {
        let acct = account();
        for alg in [EabAlg::Hs256, EabAlg::Hs384, EabAlg::Hs512] {
            let v = sign_binding(alg, "kid-1", MAC_KEY, URL, &acct);
            let b = ExternalAccountBinding::parse(&v, URL, &acct).unwrap();
            assert_eq!(b.kid(), "kid-1");
            assert_eq!(b.alg(), alg);
            b.verify(MAC_KEY).unwrap();
            let e = b.verify(b"another key").unwrap_err();
            assert_eq!((e.kind(), e.status()), (ProblemType::Unauthorized, 401));
            assert!(b.verify(b"").is_err());
        }
    }

    #[test]
    fn acme_eab_refusals() {
        use ProblemType::{Malformed, Unauthorized};
        let acct = account();
        let payload = b64url_encode(acct.to_json());
        let good = json!({"alg": "HS256", "kid": "kid-1", "url": URL});
        let parse = |v: &Value| ExternalAccountBinding::parse(v, URL, &acct);
        let kind = |v: Value| parse(&v).unwrap_err().kind();
        assert!(parse(&binding_with(good.clone(), &payload, MAC_KEY)).is_ok());
        let edit = |k: &str, v: Value| {
            let mut h = good.clone();
            h[k] = v;
            binding_with(h, &payload, MAC_KEY)
        };
        assert_eq!(kind(edit("alg", json!("ES256"))), Malformed);
        assert_eq!(kind(edit("alg", json!("none"))), Malformed);
        assert_eq!(kind(edit("nonce", json!("bm9uY2U"))), Malformed);
        assert_eq!(kind(edit("jwk", acct.to_value())), Malformed);
        assert_eq!(kind(edit("kid", json!(""))), Malformed);
        assert_eq!(
            kind(edit("url", json!("https://ca.example/other"))),
            Malformed
        );
        assert_eq!(kind(edit("crit", json!(["b64"]))), Malformed);
        assert_eq!(kind(json!("binding")), Malformed);
        let mut general = binding_with(good.clone(), &payload, MAC_KEY);
        general["header"] = json!({});
        assert_eq!(kind(general), Malformed);
        // Payload: another key, empty, a private key.
        let other = Jwk::from_value(&TestKey::generate(JwkType::EcP256).jwk()).unwrap();
        let v = binding_with(good.clone(), &b64url_encode(other.to_json()), MAC_KEY);
        assert_eq!(kind(v), Unauthorized);
        assert_eq!(kind(binding_with(good.clone(), "", MAC_KEY)), Malformed);
        let mut private = acct.to_value();
        private["d"] = json!("AQAB");
        let v = binding_with(good.clone(), &b64url_encode(private.to_string()), MAC_KEY);
        assert_eq!(kind(v), Malformed);
        // A tampered MAC.
        let mut v = binding_with(good, &payload, MAC_KEY);
        v["signature"] = json!(b64url_encode([0u8; 32]));
        let b = parse(&v).unwrap();
        assert_eq!(b.verify(MAC_KEY).unwrap_err().status(), 401);
    }
}
