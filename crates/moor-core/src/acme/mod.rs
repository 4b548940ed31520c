//! The pure ACME message layer (RFC 8555 §6–7): JWS, JWK, problem documents, EAB.
//!
//! Nothing here does I/O or keeps state: the server's ACME handlers call these functions
//! and own nonces, accounts and the store. For every POST a handler does, in order:
//!
//! 1. [`check_content_type`] (`application/jose+json`, else 415) and refuse a body over
//!    [`crate::limits::MAX_BODY_BYTES`] (413) before reading it all;
//! 2. [`jws::parse`] the body: flattened JSON serialization only, strict base64url, the
//!    protected-header rules of RFC 8555 §6.2 (`alg` supported and matching an embedded
//!    `jwk`, exactly one of `jwk`/`kid`, `nonce` and `url` present, no `crit`, no `b64`);
//! 3. [`jws::ParsedJws::check_url`] against the URL the request was made to (`unauthorized`);
//! 4. consume the header's `nonce` in the nonce store (`badNonce`, always answered with a
//!    fresh `Replay-Nonce`);
//! 5. resolve the key: [`jws::ParsedJws::require_jwk`] for newAccount (and revokeCert by
//!    certificate key), else [`jws::ParsedJws::require_kid`] and the account it names
//!    (unknown → `accountDoesNotExist`, deactivated → `unauthorized`); a stored account key
//!    is a [`jwk::Jwk`] re-read with [`jwk::Jwk::from_json`];
//! 6. [`jws::ParsedJws::verify`] the signature with that key (alg/key mismatch →
//!    `badSignatureAlgorithm`, bad signature → `malformed`);
//! 7. read the payload: [`jws::ParsedJws::expect_post_as_get`] for POST-as-GET resources,
//!    else [`jws::ParsedJws::payload_json`].
//!
//! Special payloads: newAccount's `externalAccountBinding` goes through
//! [`eab::ExternalAccountBinding::parse`] and, with the MAC key looked up by its `kid`,
//! [`eab::ExternalAccountBinding::verify`]; keyChange goes through
//! [`jws::verify_key_change`], which yields the new key (the handler then answers 409
//! `conflict` when another account holds it). New account keys should also pass
//! [`jwk::Jwk::check_key_policy`] (the certificate key policy, `badPublicKey`).
//!
//! Challenges use [`jwk::Jwk::key_authorization`] (http-01, RFC 8555 §8.3),
//! [`jwk::Jwk::dns01_txt_value`] (dns-01, §8.4) and
//! [`jwk::Jwk::key_authorization_sha256`] (tls-alpn-01, RFC 8737 §3). Accounts are indexed
//! by [`jwk::Jwk::key_id`] (the RFC 7638 thumbprint); [`jwk::Jwk::spki_der`] is the key as an
//! X.509 certificate carries it (revoke by key, blocked keys).
//!
//! Every error is an [`AcmeError`] holding the [`Problem`] document to send.

pub mod eab;
pub mod jwk;
pub mod jws;
pub mod problem;
#[cfg(test)]
mod test_support;

pub use jwk::Jwk;
pub use jws::{KeyRef, ParsedJws, ProtectedHeader};
pub use problem::{AcmeError, Problem, ProblemType};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// The media type of every ACME POST body (RFC 8555 §6.2).
pub const JOSE_CONTENT_TYPE: &str = "application/jose+json";

/// Checks a request's `Content-Type` (RFC 8555 §6.2): `application/jose+json`, compared
/// case-insensitively, parameters ignored. Anything else, or none, is `malformed` with HTTP
/// status 415.
pub fn check_content_type(content_type: Option<&str>) -> Result<(), AcmeError> {
    let media_type = content_type
        .and_then(|ct| ct.split(';').next())
        .map(str::trim)
        .unwrap_or_default();
    if media_type.eq_ignore_ascii_case(JOSE_CONTENT_TYPE) {
        Ok(())
    } else {
        Err(AcmeError::malformed(format!(
            "Content-Type must be {JOSE_CONTENT_TYPE}, not {:?}",
            content_type.unwrap_or("")
        ))
        .with_status(415))
    }
}

/// base64url without padding (RFC 7515 §2), as every ACME field is encoded.
pub fn b64url_encode(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Strict base64url decoding: URL-safe alphabet only (no `+` or `/`), no padding, no
/// whitespace, no non-zero trailing bits. `what` names the field in the error.
pub fn b64url_decode(s: &str, what: &str) -> Result<Vec<u8>, AcmeError> {
    URL_SAFE_NO_PAD.decode(s).map_err(|e| {
        AcmeError::malformed(format!(
            "{what} is not unpadded base64url (RFC 7515 §2): {e}"
        ))
    })
}

/// Parses `bytes` as one JSON object, refusing duplicate member names at any depth
/// (RFC 7515 §4: a JWS parser must not pick one of several duplicates silently).
pub(crate) fn json_object(bytes: &[u8], what: &str) -> Result<Map<String, Value>, AcmeError> {
    let StrictValue(value) = serde_json::from_slice(bytes)
        .map_err(|e| AcmeError::malformed(format!("{what} is not valid JSON: {e}")))?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(AcmeError::malformed(format!("{what} is not a JSON object"))),
    }
}

/// A JSON value deserialised with duplicate object members refused.
struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(StrictValue(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let StrictValue(v) = map.next_value()?;
            if out.contains_key(&key) {
                return Err(de::Error::custom(format_args!("duplicate member {key:?}")));
            }
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acme_content_type() {
        for ok in [
            "application/jose+json",
            "Application/JOSE+JSON",
            "application/jose+json; charset=utf-8",
        ] {
            assert!(check_content_type(Some(ok)).is_ok(), "{ok}");
        }
        for bad in [
            None,
            Some(""),
            Some("application/json"),
            Some("application/jose"),
            Some("application/jose+json2"),
        ] {
            let e = check_content_type(bad).unwrap_err();
            assert_eq!(
                (e.kind(), e.status()),
                (ProblemType::Malformed, 415),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn acme_b64url_is_strict() {
        assert_eq!(b64url_decode("AQAB", "x").unwrap(), vec![1, 0, 1]);
        assert_eq!(b64url_decode("", "x").unwrap(), Vec::<u8>::new());
        assert_eq!(b64url_encode([0xfb, 0xff]), "-_8");
        for bad in [
            "AQ==", "AQ=", "+/8", "-_8=", "AQ AB", "AQAB\n", "AR", "A", "é",
        ] {
            let e = b64url_decode(bad, "field").unwrap_err();
            assert_eq!(e.kind(), ProblemType::Malformed, "{bad:?}");
            assert!(e.detail().starts_with("field "), "{}", e.detail());
        }
    }

    #[test]
    fn acme_json_object_refuses_duplicates_and_non_objects() {
        assert!(json_object(br#"{"a":1,"b":{"c":[1,{"d":null}]}}"#, "x").is_ok());
        for bad in [
            &br#"{"a":1,"a":2}"#[..],
            br#"{"a":{"b":1,"b":1}}"#,
            br#"{"a":[{"b":1,"b":2}]}"#,
            b"[1]",
            b"\"s\"",
            b"{",
            b"{}x",
            b"\xff",
        ] {
            let e = json_object(bad, "x").unwrap_err();
            assert_eq!(e.kind(), ProblemType::Malformed, "{bad:?}");
        }
        // Deep nesting is an error (serde_json's recursion limit), not a stack overflow.
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(json_object(deep.as_bytes(), "x").is_err());
    }

    /// The project venv's python ($MOORING_PYTHON, else target/peers/venv), which must have
    /// pyca/cryptography. Missing is a failure, never a skip.
    fn python() -> std::path::PathBuf {
        let python = std::env::var_os("MOORING_PYTHON")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../../target/peers/venv/bin/python")
            });
        let probe = std::process::Command::new(&python)
            .args(["-c", "import cryptography"])
            .output();
        match probe {
            Ok(out) if out.status.success() => python,
            Ok(out) => panic!(
                "{} cannot import pyca/cryptography ({}): run `scripts/install-peers` and \
                 `source target/peers/env.sh`",
                python.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            Err(e) => panic!(
                "this test needs the project venv's python with pyca/cryptography \
                 ({}: {e}): run `scripts/install-peers` and `source target/peers/env.sh`",
                python.display()
            ),
        }
    }

    /// Third-party cross-check: keys, JWS signatures (ES256, ES384, RS256 2048/3072,
    /// EdDSA), RFC 7638 thumbprints, key authorizations, dns-01 values, SPKI DER and an EAB
    /// HMAC produced by pyca/cryptography and Python's hashlib/hmac are accepted and match.
    #[test]
    fn acme_third_party_python_cryptography_cross_check() {
        const URL: &str = "https://ca.example/acme/tls/new-account";
        const ACCOUNT: &str = "https://ca.example/acme/tls/acct/7";
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/src/acme/testdata/pyca_jws.py");
        let out = std::process::Command::new(python())
            .arg(script)
            .args([URL, ACCOUNT])
            .output()
            .expect("run python");
        assert!(
            out.status.success(),
            "pyca_jws.py failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let cases: Vec<Value> = serde_json::from_slice(&out.stdout).expect("python output");
        let mut algs: Vec<&str> = cases.iter().map(|c| c["alg"].as_str().unwrap()).collect();
        algs.dedup();
        assert_eq!(algs, ["ES256", "ES384", "RS256", "EdDSA"]);
        let s = |c: &Value, k: &str| c[k].as_str().unwrap().to_owned();
        for c in &cases {
            let alg = s(c, "alg");
            let jwk = Jwk::from_value(&c["jwk"]).unwrap_or_else(|e| panic!("{alg}: {e}"));
            assert_eq!(jwk.thumbprint(), s(c, "thumbprint"), "{alg} thumbprint");
            assert_eq!(
                jwk.spki_der(),
                b64url_decode(&s(c, "spki"), "spki").unwrap(),
                "{alg}: SPKI differs from pyca/cryptography's"
            );
            assert!(jwk.check_key_policy().is_ok(), "{alg}");
            let token = s(c, "token");
            assert_eq!(jwk.key_authorization(&token), s(c, "key_authorization"));
            assert_eq!(jwk.dns01_txt_value(&token), s(c, "dns01"), "{alg} dns-01");

            // newAccount with jwk, payload carrying an EAB made with Python's hmac.
            let body = c["jwk_body"].to_string();
            let jws = jws::parse(body.as_bytes()).unwrap_or_else(|e| panic!("{alg}: {e}"));
            jws.check_url(URL).unwrap();
            assert_eq!(jws.nonce(), "cHl0aG9uLW5vbmNl");
            let key = jws
                .verify_with_embedded_jwk()
                .unwrap_or_else(|e| panic!("{alg}: python's signature refused: {e}"));
            assert_eq!(key, &jwk);
            let payload = jws.payload_object().unwrap();
            assert_eq!(payload["termsOfServiceAgreed"], true);
            let eab = eab::ExternalAccountBinding::parse(
                &payload["externalAccountBinding"],
                &jws.header.url,
                key,
            )
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
            assert_eq!(eab.kid(), "py-kid");
            eab.verify(&b64url_decode(&s(c, "eab_mac_key"), "mac").unwrap())
                .unwrap_or_else(|e| panic!("{alg}: python's EAB MAC refused: {e}"));
            assert!(eab.verify(b"wrong key").is_err());

            // POST-as-GET with kid, verified with the stored key.
            let body = c["kid_body"].to_string();
            let jws = jws::parse(body.as_bytes()).unwrap();
            assert_eq!(jws.require_kid().unwrap(), ACCOUNT);
            assert!(jws.is_post_as_get());
            jws.verify(&Jwk::from_json(jwk.to_json().as_bytes()).unwrap())
                .unwrap_or_else(|e| panic!("{alg}: python's signature refused: {e}"));

            // The same body with its signature tampered or payload swapped is refused.
            let mut bad = c["kid_body"].clone();
            bad["payload"] = Value::from("e30");
            let jws = jws::parse(bad.to_string().as_bytes()).unwrap();
            assert_eq!(jws.verify(&jwk).unwrap_err().kind(), ProblemType::Malformed);
        }
    }
}
