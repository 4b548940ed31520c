//! ACME JWS (RFC 7515 as profiled by RFC 8555 §6.2): parse, check the protected header,
//! verify; the key-change inner JWS (§7.3.5).
//!
//! Only the flattened JSON serialization `{"protected", "payload", "signature"}` is
//! accepted: the compact form, the general serialization (`signatures`), an unprotected
//! `header` and unknown top-level members are `malformed`. Every field is strict unpadded
//! base64url; JSON objects with duplicate member names are refused. The body is bounded by
//! [`MAX_JWS_BYTES`], the encoded protected header by [`MAX_PROTECTED_BYTES`].
//!
//! Protected header: `alg` ∈ {ES256, ES384, RS256, EdDSA} (anything else, `none` and the
//! HMAC algorithms included, is `badSignatureAlgorithm` listing the supported ones) and
//! matching the key type; exactly one of `jwk` and `kid`; `nonce` (base64url; missing or
//! invalid is `badNonce`); `url`; no `crit`, no `b64`. ES signatures are the fixed-width
//! R||S form (RFC 7518 §3.4). The signing input is `protected || "." || payload` as sent.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::jwk::Jwk;
use super::{AcmeError, b64url_decode, json_object};
use crate::limits;

/// Largest JWS body accepted (bytes): the body limit of every front door.
pub const MAX_JWS_BYTES: usize = limits::MAX_BODY_BYTES;
/// Largest base64url-encoded protected header accepted (bytes).
pub const MAX_PROTECTED_BYTES: usize = 8 * 1024;
/// The JWS algorithms ACME requests may be signed with, as listed in a
/// `badSignatureAlgorithm` problem.
pub const SUPPORTED_ALGORITHMS: [&str; 4] = ["ES256", "ES384", "RS256", "EdDSA"];

/// A supported JWS signature algorithm (RFC 7518 §3.1, RFC 8037 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JwsAlg {
    /// ECDSA P-256 with SHA-256, R||S.
    Es256,
    /// ECDSA P-384 with SHA-384, R||S.
    Es384,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// Ed25519.
    EdDsa,
}

impl JwsAlg {
    /// The `alg` header value.
    pub fn as_str(self) -> &'static str {
        match self {
            JwsAlg::Es256 => "ES256",
            JwsAlg::Es384 => "ES384",
            JwsAlg::Rs256 => "RS256",
            JwsAlg::EdDsa => "EdDSA",
        }
    }

    /// Parses an `alg` value (case-sensitive, RFC 7515 §4.1.1).
    pub fn from_name(name: &str) -> Option<JwsAlg> {
        match name {
            "ES256" => Some(JwsAlg::Es256),
            "ES384" => Some(JwsAlg::Es384),
            "RS256" => Some(JwsAlg::Rs256),
            "EdDSA" => Some(JwsAlg::EdDsa),
            _ => None,
        }
    }
}

/// How the request names its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRef {
    /// An embedded public key (newAccount, revokeCert signed by the certificate key).
    Jwk(Jwk),
    /// An account URL (every other request).
    Kid(String),
}

/// A protected header that passed the RFC 8555 §6.2 rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtectedHeader {
    /// The signature algorithm; matches the key type when `key` is a `jwk`.
    pub alg: JwsAlg,
    /// `jwk` or `kid`, exactly one.
    pub key: KeyRef,
    /// The anti-replay nonce, base64url. Empty only in a key-change inner JWS, which must
    /// not have one.
    pub nonce: String,
    /// The URL the client addressed the request to.
    pub url: String,
}

/// A parsed, not yet verified, ACME JWS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedJws {
    /// The checked protected header.
    pub header: ProtectedHeader,
    /// The decoded payload; empty for POST-as-GET.
    pub payload: Vec<u8>,
    post_as_get: bool,
    signing_input: Vec<u8>,
    signature: Vec<u8>,
}

/// Parses an ACME request body (RFC 8555 §6.2): a flattened JSON JWS with a `nonce`.
pub fn parse(body: &[u8]) -> Result<ParsedJws, AcmeError> {
    parse_as(body, Mode::Request)
}

impl ParsedJws {
    /// Verifies the signature with `key`: the embedded `jwk` or the account key of `kid`.
    /// An `alg` that does not fit the key is `badSignatureAlgorithm`; a signature that does
    /// not verify is `malformed`.
    pub fn verify(&self, key: &Jwk) -> Result<(), AcmeError> {
        key.verify_signature(self.header.alg, &self.signing_input, &self.signature)
    }

    /// For requests that must carry a `jwk` (newAccount): verifies with it and returns it.
    pub fn verify_with_embedded_jwk(&self) -> Result<&Jwk, AcmeError> {
        let jwk = self.require_jwk()?;
        self.verify(jwk)?;
        Ok(jwk)
    }

    /// The embedded key, if the header has `jwk`.
    pub fn jwk(&self) -> Option<&Jwk> {
        match &self.header.key {
            KeyRef::Jwk(k) => Some(k),
            KeyRef::Kid(_) => None,
        }
    }

    /// The account URL, if the header has `kid`.
    pub fn kid(&self) -> Option<&str> {
        match &self.header.key {
            KeyRef::Kid(k) => Some(k),
            KeyRef::Jwk(_) => None,
        }
    }

    /// The embedded `jwk`, or `malformed` when the request used `kid` (RFC 8555 §6.2:
    /// newAccount and revokeCert-by-key requests carry `jwk`).
    pub fn require_jwk(&self) -> Result<&Jwk, AcmeError> {
        self.jwk().ok_or_else(|| {
            AcmeError::malformed("this request must carry a jwk header parameter, not kid")
        })
    }

    /// The `kid`, or `malformed` when the request embedded a `jwk` (every request but
    /// newAccount and revokeCert must name its account).
    pub fn require_kid(&self) -> Result<&str, AcmeError> {
        self.kid().ok_or_else(|| {
            AcmeError::malformed("this request must carry a kid header parameter, not jwk")
        })
    }

    /// The `nonce` header parameter, for the nonce store.
    pub fn nonce(&self) -> &str {
        &self.header.nonce
    }

    /// Checks the `url` header parameter against the URL the request was received on
    /// (RFC 8555 §6.4: mismatch is `unauthorized`).
    pub fn check_url(&self, request_url: &str) -> Result<(), AcmeError> {
        if self.header.url == request_url {
            Ok(())
        } else {
            Err(AcmeError::unauthorized(format!(
                "JWS url {:?} is not the URL the request was sent to ({request_url:?})",
                self.header.url
            )))
        }
    }

    /// True when the payload was the empty string (POST-as-GET, RFC 8555 §6.3). A payload
    /// of `{}` is not POST-as-GET.
    pub fn is_post_as_get(&self) -> bool {
        self.post_as_get
    }

    /// `malformed` unless this is POST-as-GET (for resources only fetched that way).
    pub fn expect_post_as_get(&self) -> Result<(), AcmeError> {
        if self.post_as_get {
            Ok(())
        } else {
            Err(AcmeError::malformed(
                "POST-as-GET requires an empty payload (RFC 8555 §6.3)",
            ))
        }
    }

    /// The payload as a JSON object (duplicate members refused); `malformed` for
    /// POST-as-GET or anything else.
    pub fn payload_object(&self) -> Result<Map<String, Value>, AcmeError> {
        if self.post_as_get {
            return Err(AcmeError::malformed(
                "this request needs a JSON payload, not POST-as-GET",
            ));
        }
        json_object(&self.payload, "JWS payload")
    }

    /// The payload deserialised into `T` (after the checks of
    /// [`ParsedJws::payload_object`]); a type mismatch is `malformed`.
    pub fn payload_json<T: DeserializeOwned>(&self) -> Result<T, AcmeError> {
        let object = self.payload_object()?;
        serde_json::from_value(Value::Object(object))
            .map_err(|e| AcmeError::malformed(format!("JWS payload: {e}")))
    }
}

/// Verifies a key-change request (RFC 8555 §7.3.5) and returns the new key.
///
/// `outer` is the parsed request to the keyChange URL; `account_url` the account its `kid`
/// must name and `current_key` that account's key. Checked here: the outer JWS uses `kid`
/// = `account_url` and verifies with `current_key`; its payload is a flattened JWS with a
/// `jwk` (the new key), no `nonce`, the outer `url`, signed by the new key; the inner
/// payload is `{"account": account_url, "oldKey": current_key}`; the new key differs from
/// the old. Left to the handler: the new key's policy ([`Jwk::check_key_policy`]) and
/// `409 conflict` when another account already has it.
pub fn verify_key_change(
    outer: &ParsedJws,
    account_url: &str,
    current_key: &Jwk,
) -> Result<Jwk, AcmeError> {
    let kid = outer.require_kid()?;
    if kid != account_url {
        return Err(AcmeError::unauthorized(
            "key change: the outer JWS kid is not the account",
        ));
    }
    outer.verify(current_key)?;
    if outer.post_as_get {
        return Err(AcmeError::malformed(
            "key change: the payload must be the inner JWS",
        ));
    }
    let inner = parse_as(&outer.payload, Mode::KeyChangeInner).map_err(|e| {
        let mut p = *e.problem;
        p.detail = format!("key change inner JWS: {}", p.detail);
        AcmeError::from(p)
    })?;
    let new_key = inner.verify_with_embedded_jwk()?.clone();
    if inner.header.url != outer.header.url {
        return Err(AcmeError::malformed(
            "key change: the inner and outer JWS url differ (RFC 8555 §7.3.5)",
        ));
    }
    let payload = inner.payload_object()?;
    match payload.get("account") {
        Some(Value::String(a)) if a == account_url => {}
        Some(Value::String(_)) => {
            return Err(AcmeError::unauthorized(
                "key change: the inner payload names another account",
            ));
        }
        _ => {
            return Err(AcmeError::malformed(
                "key change: the inner payload has no account URL string",
            ));
        }
    }
    let old = payload
        .get("oldKey")
        .ok_or_else(|| AcmeError::malformed("key change: the inner payload has no oldKey"))?;
    let old = Jwk::from_value(old)?;
    if &old != current_key {
        return Err(AcmeError::unauthorized(
            "key change: oldKey is not the account's current key",
        ));
    }
    if &new_key == current_key {
        return Err(AcmeError::malformed(
            "key change: the new key is the account's current key",
        ));
    }
    Ok(new_key)
}

/// Which JWS is being parsed: they differ in the `nonce` and `jwk` rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A request body: `nonce` required, `jwk` or `kid`.
    Request,
    /// The inner JWS of a key change: `jwk` required, `nonce` forbidden.
    KeyChangeInner,
}

fn parse_as(body: &[u8], mode: Mode) -> Result<ParsedJws, AcmeError> {
    if body.len() > MAX_JWS_BYTES {
        return Err(
            AcmeError::malformed(format!("JWS is over {MAX_JWS_BYTES} bytes")).with_status(413),
        );
    }
    let text = body.trim_ascii();
    if !text.starts_with(b"{") {
        let compact = text.iter().filter(|&&b| b == b'.').count() == 2
            && text
                .iter()
                .all(|&b| b == b'.' || b == b'-' || b == b'_' || b.is_ascii_alphanumeric());
        return Err(AcmeError::malformed(if compact {
            "the JWS compact serialization is not accepted; send the flattened JSON \
             serialization (RFC 8555 §6.2)"
        } else {
            "the body is not a flattened JSON JWS object"
        }));
    }
    let outer = json_object(body, "JWS")?;
    let flat = Flattened::split(&outer, "JWS")?;
    let h = &flat.header;
    let alg = match h.get("alg") {
        Some(Value::String(name)) => JwsAlg::from_name(name).ok_or_else(|| refuse_alg(name))?,
        Some(_) => return Err(AcmeError::malformed("alg is not a string")),
        None => return Err(AcmeError::malformed("the protected header has no alg")),
    };
    reject_extensions(h)?;
    let key = match (h.get("jwk"), h.get("kid")) {
        (Some(_), Some(_)) => {
            return Err(AcmeError::malformed(
                "the protected header has both jwk and kid; exactly one is allowed",
            ));
        }
        (None, None) => {
            return Err(AcmeError::malformed(
                "the protected header has neither jwk nor kid",
            ));
        }
        (Some(jwk), None) => {
            let jwk = Jwk::from_value(jwk)?;
            if jwk.kind().jws_alg() != alg {
                return Err(AcmeError::bad_signature_algorithm(format!(
                    "alg {} does not match the jwk (a {:?} key signs with {})",
                    alg.as_str(),
                    jwk.kind(),
                    jwk.kind().jws_alg().as_str()
                )));
            }
            KeyRef::Jwk(jwk)
        }
        (None, Some(Value::String(kid))) if !kid.is_empty() => KeyRef::Kid(kid.clone()),
        (None, Some(_)) => return Err(AcmeError::malformed("kid is not a non-empty string")),
    };
    let url = match h.get("url") {
        Some(Value::String(u)) if !u.is_empty() => u.clone(),
        Some(_) => return Err(AcmeError::malformed("url is not a non-empty string")),
        None => {
            return Err(AcmeError::malformed(
                "the protected header has no url (RFC 8555 §6.4)",
            ));
        }
    };
    let nonce = match (mode, h.get("nonce")) {
        (Mode::Request, Some(Value::String(n))) => {
            if n.is_empty() || b64url_decode(n, "nonce").is_err() {
                return Err(AcmeError::bad_nonce("nonce is not a base64url string"));
            }
            n.clone()
        }
        (Mode::Request, Some(_)) => return Err(AcmeError::bad_nonce("nonce is not a string")),
        (Mode::Request, None) => {
            return Err(AcmeError::bad_nonce(
                "the protected header has no nonce (RFC 8555 §6.5)",
            ));
        }
        (Mode::KeyChangeInner, Some(_)) => {
            return Err(AcmeError::malformed(
                "must not have a nonce (RFC 8555 §7.3.5)",
            ));
        }
        (Mode::KeyChangeInner, None) => String::new(),
    };
    if mode == Mode::KeyChangeInner && !matches!(key, KeyRef::Jwk(_)) {
        return Err(AcmeError::malformed(
            "must carry the new key as jwk (RFC 8555 §7.3.5)",
        ));
    }
    flat.require_signature("JWS")?;
    Ok(ParsedJws {
        header: ProtectedHeader {
            alg,
            key,
            nonce,
            url,
        },
        payload: flat.payload,
        post_as_get: flat.payload_b64_empty,
        signing_input: flat.signing_input,
        signature: flat.signature,
    })
}

/// The `badSignatureAlgorithm` error for an `alg` that is not supported.
fn refuse_alg(name: &str) -> AcmeError {
    let why = match name {
        "none" => "alg none (an unsecured JWS) is not accepted".to_owned(),
        n if n.starts_with("HS") => {
            format!("alg {n:?} is a MAC: ACME requests are signed with the account key")
        }
        n => format!("alg {n:?} is not supported"),
    };
    AcmeError::bad_signature_algorithm(format!(
        "{why}; supported: {}",
        SUPPORTED_ALGORITHMS.join(", ")
    ))
}

/// `crit` (RFC 7515 §4.1.11) and `b64` (RFC 7797) are refused: ACME defines no extension
/// the server would understand, and the payload is always base64url.
pub(crate) fn reject_extensions(h: &Map<String, Value>) -> Result<(), AcmeError> {
    if h.contains_key("crit") {
        return Err(AcmeError::malformed(
            "crit is not accepted: the server understands no JWS extensions",
        ));
    }
    if h.contains_key("b64") {
        return Err(AcmeError::malformed(
            "b64 (RFC 7797 unencoded payload) is not accepted",
        ));
    }
    Ok(())
}

/// The decoded parts of a flattened JSON JWS object (RFC 7515 §7.2.2).
pub(crate) struct Flattened {
    /// The protected header as a JSON object.
    pub header: Map<String, Value>,
    /// The decoded payload.
    pub payload: Vec<u8>,
    /// The payload member was the empty string.
    pub payload_b64_empty: bool,
    /// `protected || "." || payload`, as sent.
    pub signing_input: Vec<u8>,
    /// The decoded signature (may be empty: checked after the header, so that `alg: none`
    /// with no signature is reported as the algorithm problem).
    pub signature: Vec<u8>,
}

impl Flattened {
    /// `malformed` when the signature is empty.
    pub fn require_signature(&self, what: &str) -> Result<(), AcmeError> {
        if self.signature.is_empty() {
            Err(AcmeError::malformed(format!(
                "{what} has an empty signature"
            )))
        } else {
            Ok(())
        }
    }
}

impl Flattened {
    /// Splits and decodes `jws`; `what` names it in errors.
    pub fn split(jws: &Map<String, Value>, what: &str) -> Result<Flattened, AcmeError> {
        if jws.contains_key("signatures") {
            return Err(AcmeError::malformed(format!(
                "{what} uses the general JSON serialization (signatures); exactly one \
                 signature in the flattened serialization is accepted"
            )));
        }
        if jws.contains_key("header") {
            return Err(AcmeError::malformed(format!(
                "{what} has an unprotected header; every header parameter must be protected"
            )));
        }
        if let Some(k) = jws
            .keys()
            .find(|k| !matches!(k.as_str(), "protected" | "payload" | "signature"))
        {
            return Err(AcmeError::malformed(format!(
                "{what} has the unknown member {k:?}"
            )));
        }
        let member = |name: &str| match jws.get(name) {
            Some(Value::String(s)) => Ok(s.as_str()),
            Some(_) => Err(AcmeError::malformed(format!(
                "{what} {name} is not a string"
            ))),
            None => Err(AcmeError::malformed(format!("{what} has no {name}"))),
        };
        let protected = member("protected")?;
        let payload = member("payload")?;
        let signature = member("signature")?;
        if protected.is_empty() {
            return Err(AcmeError::malformed(format!(
                "{what} has an empty protected header"
            )));
        }
        if protected.len() > MAX_PROTECTED_BYTES {
            return Err(AcmeError::malformed(format!(
                "{what} protected header is over {MAX_PROTECTED_BYTES} bytes"
            )));
        }
        let header = json_object(
            &b64url_decode(protected, &format!("{what} protected"))?,
            &format!("{what} protected header"),
        )?;
        let payload_bytes = b64url_decode(payload, &format!("{what} payload"))?;
        let signature_bytes = b64url_decode(signature, &format!("{what} signature"))?;
        let mut signing_input = Vec::with_capacity(protected.len() + 1 + payload.len());
        signing_input.extend_from_slice(protected.as_bytes());
        signing_input.push(b'.');
        signing_input.extend_from_slice(payload.as_bytes());
        Ok(Flattened {
            header,
            payload: payload_bytes,
            payload_b64_empty: payload.is_empty(),
            signing_input,
            signature: signature_bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acme::jwk::JwkType;
    use crate::acme::test_support::{TestKey, key};
    use crate::acme::{ProblemType, b64url_encode};
    use serde_json::json;

    const URL: &str = "https://ca.example/acme/tls/new-order";
    const ACCOUNT: &str = "https://ca.example/acme/tls/acct/1";

    fn es256() -> &'static TestKey {
        key(JwkType::EcP256)
    }

    /// The problem type of parsing `body`, or of verifying it with its embedded key.
    fn problem(body: &[u8]) -> ProblemType {
        match parse(body) {
            Err(e) => e.kind(),
            Ok(jws) => jws
                .verify(jws.jwk().expect("test bodies carry a jwk"))
                .expect_err("expected a refusal")
                .kind(),
        }
    }

    /// A body over `header` (a JSON object given as text, so duplicates can be made),
    /// signed by `key` with the given `alg` bytes untouched.
    fn raw_jws(key: &TestKey, header: &str, payload: &str) -> Vec<u8> {
        let protected = b64url_encode(header);
        let sig = key.sign(format!("{protected}.{payload}").as_bytes());
        json!({"protected": protected, "payload": payload, "signature": b64url_encode(sig)})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn acme_jws_every_algorithm_signs_and_verifies() {
        for k in TestKey::all() {
            let payload = br#"{"identifiers":[{"type":"dns","value":"a.example"}]}"#;
            let body = k.jws(&k.jwk_header(URL), Some(payload));
            let jws = parse(&body).unwrap_or_else(|e| panic!("{:?}: {e}", k.kind));
            assert_eq!(jws.header.alg, k.kind.jws_alg());
            assert_eq!(jws.nonce(), "bm9uY2U");
            assert_eq!(jws.header.url, URL);
            jws.check_url(URL).unwrap();
            let jwk = jws.verify_with_embedded_jwk().unwrap();
            assert_eq!(jwk, &Jwk::from_value(&k.jwk()).unwrap());
            assert!(!jws.is_post_as_get());
            assert_eq!(jws.payload, payload);
            let v: Value = jws.payload_json().unwrap();
            assert_eq!(v["identifiers"][0]["value"], "a.example");
            assert_eq!(
                jws.expect_post_as_get().unwrap_err().kind(),
                ProblemType::Malformed
            );
            assert_eq!(
                jws.require_kid().unwrap_err().kind(),
                ProblemType::Malformed
            );

            // kid form, POST-as-GET, verified with the account's stored key.
            let body = k.jws(&k.kid_header(ACCOUNT, URL), None);
            let jws = parse(&body).unwrap();
            assert_eq!(jws.require_kid().unwrap(), ACCOUNT);
            assert_eq!(
                jws.require_jwk().unwrap_err().kind(),
                ProblemType::Malformed
            );
            let stored = Jwk::from_json(jwk.to_json().as_bytes()).unwrap();
            jws.verify(&stored).unwrap();
            assert!(jws.is_post_as_get());
            jws.expect_post_as_get().unwrap();
            assert!(jws.payload.is_empty());
            assert_eq!(
                jws.payload_object().unwrap_err().kind(),
                ProblemType::Malformed
            );
            // A payload of {} is not POST-as-GET.
            let jws = parse(&k.jws(&k.kid_header(ACCOUNT, URL), Some(b"{}"))).unwrap();
            assert!(!jws.is_post_as_get());
            assert!(jws.payload_object().unwrap().is_empty());
        }
    }

    #[test]
    fn acme_jws_b4_alg_refusals() {
        let k = es256();
        for alg in [
            "none", "HS256", "HS384", "HS512", "PS256", "ES512", "RS512", "es256", "",
        ] {
            let mut h = k.jwk_header(URL);
            h["alg"] = json!(alg);
            let e = parse(&k.jws(&h, Some(b"{}"))).unwrap_err();
            assert_eq!(e.kind(), ProblemType::BadSignatureAlgorithm, "{alg}");
            assert_eq!(e.problem.algorithms, SUPPORTED_ALGORITHMS, "{alg}");
            assert_eq!(e.status(), 400);
        }
        // alg: none with an empty signature (the classic attack) is refused on alg.
        let protected = b64url_encode(
            json!({"alg": "none", "jwk": k.jwk(), "nonce": "bm9uY2U", "url": URL}).to_string(),
        );
        let body = json!({"protected": protected, "payload": "e30", "signature": ""});
        assert_eq!(
            problem(body.to_string().as_bytes()),
            ProblemType::BadSignatureAlgorithm
        );
        // alg that does not match the embedded key, for every pair of key types.
        for a in TestKey::all() {
            for b in TestKey::all() {
                if a.kind == b.kind {
                    continue;
                }
                let mut h = a.jwk_header(URL);
                h["alg"] = json!(b.alg());
                let body = b.jws(&h, Some(b"{}"));
                assert_eq!(
                    problem(&body),
                    ProblemType::BadSignatureAlgorithm,
                    "{:?} key, alg {}",
                    a.kind,
                    b.alg()
                );
            }
        }
        // The same mismatch with kid is found at verify time.
        let rsa = key(JwkType::Rsa);
        let jws = parse(&k.jws(&k.kid_header(ACCOUNT, URL), Some(b"{}"))).unwrap();
        let rsa_jwk = Jwk::from_value(&rsa.jwk()).unwrap();
        let e = jws.verify(&rsa_jwk).unwrap_err();
        assert_eq!(e.kind(), ProblemType::BadSignatureAlgorithm);
        // alg not a string or missing.
        let mut h = k.jwk_header(URL);
        h["alg"] = json!(1);
        assert_eq!(problem(&k.jws(&h, Some(b"{}"))), ProblemType::Malformed);
        h.as_object_mut().unwrap().remove("alg");
        assert_eq!(problem(&k.jws(&h, Some(b"{}"))), ProblemType::Malformed);
    }

    #[test]
    fn acme_jws_b4_header_refusals() {
        use ProblemType::{BadNonce, BadPublicKey, Malformed};
        let k = es256();
        let cases: Vec<(&str, Value, ProblemType)> = vec![
            (
                "both jwk and kid",
                json!({"alg": "ES256", "jwk": k.jwk(), "kid": ACCOUNT, "nonce": "bm9uY2U", "url": URL}),
                Malformed,
            ),
            (
                "neither jwk nor kid",
                json!({"alg": "ES256", "nonce": "bm9uY2U", "url": URL}),
                Malformed,
            ),
            (
                "empty kid",
                json!({"alg": "ES256", "kid": "", "nonce": "bm9uY2U", "url": URL}),
                Malformed,
            ),
            (
                "kid not a string",
                json!({"alg": "ES256", "kid": 7, "nonce": "bm9uY2U", "url": URL}),
                Malformed,
            ),
            (
                "missing nonce",
                json!({"alg": "ES256", "jwk": k.jwk(), "url": URL}),
                BadNonce,
            ),
            (
                "empty nonce",
                json!({"alg": "ES256", "jwk": k.jwk(), "nonce": "", "url": URL}),
                BadNonce,
            ),
            (
                "nonce not base64url",
                json!({"alg": "ES256", "jwk": k.jwk(), "nonce": "bm9uY2U=", "url": URL}),
                BadNonce,
            ),
            (
                "nonce not a string",
                json!({"alg": "ES256", "jwk": k.jwk(), "nonce": 1, "url": URL}),
                BadNonce,
            ),
            (
                "missing url",
                json!({"alg": "ES256", "jwk": k.jwk(), "nonce": "bm9uY2U"}),
                Malformed,
            ),
            (
                "empty url",
                json!({"alg": "ES256", "jwk": k.jwk(), "nonce": "bm9uY2U", "url": ""}),
                Malformed,
            ),
            (
                "crit",
                json!({"alg": "ES256", "jwk": k.jwk(), "nonce": "bm9uY2U", "url": URL, "crit": ["b64"], "b64": false}),
                Malformed,
            ),
            (
                "crit with an unknown extension",
                json!({"alg": "ES256", "jwk": k.jwk(), "nonce": "bm9uY2U", "url": URL, "crit": ["exp"], "exp": 1}),
                Malformed,
            ),
            (
                "b64 false",
                json!({"alg": "ES256", "jwk": k.jwk(), "nonce": "bm9uY2U", "url": URL, "b64": false}),
                Malformed,
            ),
            (
                "jwk with d",
                json!({"alg": "ES256", "jwk": {"d": "AQAB", "kty": "EC", "crv": "P-256",
                    "x": k.jwk()["x"], "y": k.jwk()["y"]}, "nonce": "bm9uY2U", "url": URL}),
                Malformed,
            ),
            (
                "jwk not an object",
                json!({"alg": "ES256", "jwk": "key", "nonce": "bm9uY2U", "url": URL}),
                Malformed,
            ),
        ];
        for (what, header, expect) in cases {
            let e = parse(&k.jws(&header, Some(b"{}"))).unwrap_err();
            assert_eq!(e.kind(), expect, "{what}: {e}");
        }
        // RSA 1024-bit key (signature made by the real 2048-bit key; refused on the key).
        let rsa = key(JwkType::Rsa);
        let mut jwk = rsa.jwk();
        let n = crate::acme::b64url_decode(jwk["n"].as_str().unwrap(), "n").unwrap();
        jwk["n"] = json!(b64url_encode(&n[..128]));
        let h = json!({"alg": "RS256", "jwk": jwk, "nonce": "bm9uY2U", "url": URL});
        assert_eq!(problem(&rsa.jws(&h, Some(b"{}"))), BadPublicKey);
        // Duplicate header parameters (e.g. a second alg) are refused, not last-wins.
        let body = raw_jws(
            k,
            &format!(
                r#"{{"alg":"ES256","alg":"none","jwk":{},"nonce":"bm9uY2U","url":"{URL}"}}"#,
                k.jwk()
            ),
            "e30",
        );
        assert_eq!(problem(&body), Malformed);
        // The url check: unauthorized.
        let jws = parse(&k.jws(&k.jwk_header(URL), Some(b"{}"))).unwrap();
        let e = jws
            .check_url("https://ca.example/acme/tls/new-account")
            .unwrap_err();
        assert_eq!(e.kind(), ProblemType::Unauthorized);
    }

    #[test]
    fn acme_jws_b4_serialization_refusals() {
        use ProblemType::Malformed;
        let k = es256();
        let good = k.jws_value(&k.jwk_header(URL), Some(b"{}"));
        let with = |name: &str, v: Value| {
            let mut o = good.clone();
            o[name] = v;
            o.to_string().into_bytes()
        };
        // Unprotected header (even empty), general serialization, unknown members.
        assert_eq!(problem(&with("header", json!({"kid": ACCOUNT}))), Malformed);
        assert_eq!(problem(&with("header", json!({}))), Malformed);
        let general = json!({"payload": good["payload"], "signatures": [
            {"protected": good["protected"], "signature": good["signature"]}]});
        let e = parse(general.to_string().as_bytes()).unwrap_err();
        assert_eq!(e.kind(), Malformed);
        assert!(e.detail().contains("signatures"), "{e}");
        assert_eq!(problem(&with("signatures", json!([]))), Malformed);
        assert_eq!(problem(&with("extra", json!(1))), Malformed);
        // Compact serialization.
        let compact = format!(
            "{}.{}.{}",
            good["protected"].as_str().unwrap(),
            good["payload"].as_str().unwrap(),
            good["signature"].as_str().unwrap()
        );
        let e = parse(compact.as_bytes()).unwrap_err();
        assert_eq!(e.kind(), Malformed);
        assert!(e.detail().contains("compact"), "{e}");
        // Padded or standard-alphabet base64 in each member.
        for member in ["protected", "payload", "signature"] {
            let s = good[member].as_str().unwrap();
            let padded = match s.len() % 4 {
                2 => format!("{s}=="),
                3 => format!("{s}="),
                _ => format!("{s}===="),
            };
            assert_eq!(problem(&with(member, json!(padded))), Malformed, "{member}");
            let std_alphabet = s.replace('-', "+").replace('_', "/") + "+";
            assert_eq!(
                problem(&with(member, json!(std_alphabet))),
                Malformed,
                "{member}"
            );
            assert_eq!(problem(&with(member, json!(1))), Malformed, "{member}");
            let mut missing = good.clone();
            missing.as_object_mut().unwrap().remove(member);
            assert_eq!(
                problem(missing.to_string().as_bytes()),
                Malformed,
                "{member}"
            );
        }
        // A padded payload of an otherwise correctly signed body: signed over the padded
        // text, still refused.
        let h = b64url_encode(k.jwk_header(URL).to_string());
        let padded_payload = "e30=";
        let sig = k.sign(format!("{h}.{padded_payload}").as_bytes());
        let body = json!({"protected": h, "payload": padded_payload,
                          "signature": b64url_encode(sig)});
        assert_eq!(problem(body.to_string().as_bytes()), Malformed);
        // Empty protected header, empty signature, header not an object.
        assert_eq!(problem(&with("protected", json!(""))), Malformed);
        assert_eq!(problem(&with("signature", json!(""))), Malformed);
        assert_eq!(
            problem(&with("protected", json!(b64url_encode("[1]")))),
            Malformed
        );
        // Not JSON, not an object, empty, oversized.
        for body in [&b""[..], b"null", b"[]", b"\"x\"", b"{", b"\xff\xfe"] {
            assert_eq!(problem(body), Malformed, "{body:?}");
        }
        let mut big = good.clone();
        big["payload"] = json!(b64url_encode(vec![b' '; MAX_JWS_BYTES]));
        let e = parse(big.to_string().as_bytes()).unwrap_err();
        assert_eq!((e.kind(), e.status()), (Malformed, 413));
        let mut big_header = k.jwk_header(URL);
        big_header["pad"] = json!("x".repeat(MAX_PROTECTED_BYTES));
        assert_eq!(problem(&k.jws(&big_header, Some(b"{}"))), Malformed);
        // Duplicate top-level members.
        let dup = format!(
            r#"{{"protected":{},"payload":"e30","payload":"","signature":{}}}"#,
            good["protected"], good["signature"]
        );
        assert_eq!(problem(dup.as_bytes()), Malformed);
    }

    #[test]
    fn acme_jws_b4_signature_refusals() {
        use ProblemType::Malformed;
        for k in TestKey::all() {
            let good = k.jws_value(&k.jwk_header(URL), Some(br#"{"a":1}"#));
            assert!(
                parse(good.to_string().as_bytes())
                    .unwrap()
                    .verify_with_embedded_jwk()
                    .is_ok()
            );
            // Payload swapped after signing.
            let mut swapped = good.clone();
            swapped["payload"] = json!(b64url_encode(br#"{"a":2}"#));
            assert_eq!(
                problem(swapped.to_string().as_bytes()),
                Malformed,
                "{:?}",
                k.kind
            );
            // Signature bit flipped, truncated, extended, DER-encoded (ES) or empty payload.
            let sig = crate::acme::b64url_decode(good["signature"].as_str().unwrap(), "s").unwrap();
            let mut flipped = sig.clone();
            flipped[5] ^= 1;
            for bad in [
                flipped,
                sig[..sig.len() - 1].to_vec(),
                [&sig[..], &[0]].concat(),
            ] {
                let mut o = good.clone();
                o["signature"] = json!(b64url_encode(bad));
                assert_eq!(problem(o.to_string().as_bytes()), Malformed, "{:?}", k.kind);
            }
            let mut post_as_get = good.clone();
            post_as_get["payload"] = json!("");
            assert_eq!(problem(post_as_get.to_string().as_bytes()), Malformed);
            // Signed by key B under the kid of A: verification with A's key fails.
            let other = TestKey::generate(k.kind);
            let jws = parse(&other.jws(&other.kid_header(ACCOUNT, URL), None)).unwrap();
            let a = Jwk::from_value(&k.jwk()).unwrap();
            assert_eq!(jws.verify(&a).unwrap_err().kind(), Malformed);
            // Truncated bodies.
            let body = good.to_string();
            for cut in [1, body.len() / 2, body.len() - 1] {
                assert!(parse(&body.as_bytes()[..cut]).is_err());
            }
        }
        // An ES256 signature in DER form is refused with a clear message.
        let k = es256();
        let good = k.jws_value(&k.jwk_header(URL), None);
        let sig = crate::acme::b64url_decode(good["signature"].as_str().unwrap(), "s").unwrap();
        let der = [
            &[0x30, 0x46, 0x02, 0x21, 0x00][..],
            &sig[..32],
            &[0x02, 0x21, 0x00],
            &sig[32..],
        ]
        .concat();
        let mut o = good.clone();
        o["signature"] = json!(b64url_encode(der));
        let jws = parse(o.to_string().as_bytes()).unwrap();
        let e = jws.verify_with_embedded_jwk().unwrap_err();
        assert!(e.detail().contains("R||S"), "{e}");
    }

    #[test]
    fn acme_jws_payload_json_types() {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Revoke {
            #[allow(dead_code)]
            certificate: String,
            reason: Option<u8>,
        }
        let k = es256();
        let jws = parse(&k.jws(
            &k.kid_header(ACCOUNT, URL),
            Some(br#"{"certificate":"MII","reason":4}"#),
        ))
        .unwrap();
        let r: Revoke = jws.payload_json().unwrap();
        assert_eq!(r.reason, Some(4));
        for bad in [
            &br#"{"certificate":1}"#[..],
            br#"{"certificate":"a","certificate":"b"}"#,
            b"[]",
            b"x",
        ] {
            let jws = parse(&k.jws(&k.kid_header(ACCOUNT, URL), Some(bad))).unwrap();
            let e = jws.payload_json::<Revoke>().map(|_| ()).unwrap_err();
            assert_eq!(e.kind(), ProblemType::Malformed, "{bad:?}");
        }
    }

    /// The outer keyChange request of `old` for the new key `new`, with the inner header
    /// and payload modified by `edit`.
    fn key_change(
        old: &TestKey,
        new: &TestKey,
        edit: impl FnOnce(&mut Value, &mut Value),
    ) -> ParsedJws {
        let url = "https://ca.example/acme/tls/key-change";
        let mut inner_header = json!({"alg": new.alg(), "jwk": new.jwk(), "url": url});
        let mut inner_payload = json!({"account": ACCOUNT, "oldKey": old.jwk()});
        edit(&mut inner_header, &mut inner_payload);
        let inner = new.jws(&inner_header, Some(inner_payload.to_string().as_bytes()));
        parse(&old.jws(&old.kid_header(ACCOUNT, url), Some(&inner))).unwrap()
    }

    #[test]
    fn acme_jws_key_change() {
        use ProblemType::{BadSignatureAlgorithm, Malformed, Unauthorized};
        let old = es256();
        let old_jwk = Jwk::from_value(&old.jwk()).unwrap();
        for new in TestKey::all().iter().filter(|k| k.kind != JwkType::EcP256) {
            let outer = key_change(old, new, |_, _| {});
            let got = verify_key_change(&outer, ACCOUNT, &old_jwk).unwrap();
            assert_eq!(got, Jwk::from_value(&new.jwk()).unwrap());
        }
        let new = key(JwkType::Ed25519);
        let run = |edit: &dyn Fn(&mut Value, &mut Value)| {
            let outer = key_change(old, new, |h, p| edit(h, p));
            verify_key_change(&outer, ACCOUNT, &old_jwk)
                .unwrap_err()
                .kind()
        };
        assert_eq!(run(&|h, _| h["nonce"] = json!("bm9uY2U")), Malformed);
        assert_eq!(
            run(&|h, _| h["url"] = json!("https://ca.example/other")),
            Malformed
        );
        assert_eq!(
            run(&|h, _| {
                h.as_object_mut().unwrap().remove("jwk");
                h["kid"] = json!(ACCOUNT);
            }),
            Malformed
        );
        assert_eq!(
            run(&|h, _| h["alg"] = json!("ES256")),
            BadSignatureAlgorithm
        );
        assert_eq!(run(&|h, _| h["crit"] = json!(["x"])), Malformed);
        assert_eq!(
            run(&|_, p| p["account"] = json!("https://ca.example/acme/tls/acct/2")),
            Unauthorized
        );
        assert_eq!(run(&|_, p| p["account"] = json!(1)), Malformed);
        assert_eq!(
            run(&|_, p| {
                p.as_object_mut().unwrap().remove("oldKey");
            }),
            Malformed
        );
        assert_eq!(
            run(&|_, p| p["oldKey"] = key(JwkType::EcP384).jwk()),
            Unauthorized
        );
        // Inner signed by a key other than its jwk.
        let outer = {
            let url = "https://ca.example/acme/tls/key-change";
            let h = json!({"alg": "EdDSA", "jwk": new.jwk(), "url": url});
            let other = TestKey::generate(JwkType::Ed25519);
            let p = json!({"account": ACCOUNT, "oldKey": old.jwk()});
            let inner = other.jws(&h, Some(p.to_string().as_bytes()));
            parse(&old.jws(&old.kid_header(ACCOUNT, url), Some(&inner))).unwrap()
        };
        assert_eq!(
            verify_key_change(&outer, ACCOUNT, &old_jwk)
                .unwrap_err()
                .kind(),
            Malformed
        );
        // New key equal to the old one.
        let same = key_change(old, old, |_, _| {});
        assert_eq!(
            verify_key_change(&same, ACCOUNT, &old_jwk)
                .unwrap_err()
                .kind(),
            Malformed
        );
        // Outer kid for another account; outer not signed by the current key.
        let outer = key_change(old, new, |_, _| {});
        assert_eq!(
            verify_key_change(&outer, "https://ca.example/acme/tls/acct/9", &old_jwk)
                .unwrap_err()
                .kind(),
            Unauthorized
        );
        let p384 = Jwk::from_value(&key(JwkType::EcP384).jwk()).unwrap();
        assert!(verify_key_change(&outer, ACCOUNT, &p384).is_err());
        // Outer with an embedded jwk instead of kid, or an empty payload.
        let url = "https://ca.example/acme/tls/key-change";
        let jws = parse(&old.jws(&old.jwk_header(url), Some(b"{}"))).unwrap();
        assert_eq!(
            verify_key_change(&jws, ACCOUNT, &old_jwk)
                .unwrap_err()
                .kind(),
            Malformed
        );
        let jws = parse(&old.jws(&old.kid_header(ACCOUNT, url), None)).unwrap();
        assert_eq!(
            verify_key_change(&jws, ACCOUNT, &old_jwk)
                .unwrap_err()
                .kind(),
            Malformed
        );
    }

    /// A tiny deterministic PRNG (xorshift64*), so failures reproduce.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    /// Runs every entry point on `body`; returns whether it verified.
    fn exercise(body: &[u8]) -> bool {
        let Ok(jws) = parse(body) else {
            return false;
        };
        let _ = jws.payload_object();
        let _ = jws.expect_post_as_get();
        let _ = jws.check_url(URL);
        let ok = match jws.jwk() {
            Some(k) => jws.verify(k).is_ok(),
            None => false,
        };
        for k in TestKey::all() {
            let jwk = Jwk::from_value(&k.jwk()).unwrap();
            let _ = jws.verify(&jwk);
            let _ = verify_key_change(&jws, ACCOUNT, &jwk);
        }
        ok
    }

    #[test]
    fn acme_jws_fuzz_random_and_mutated_bodies_never_panic() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let k = es256();
        let seeds: Vec<Vec<u8>> = TestKey::all()
            .iter()
            .flat_map(|k| {
                [
                    k.jws(&k.jwk_header(URL), Some(br#"{"a":[1,2,{"b":null}]}"#)),
                    k.jws(&k.kid_header(ACCOUNT, URL), None),
                ]
            })
            .chain([key_change_body(k)])
            .collect();
        let alphabet = b"{}[]\":,.=+/-_ \\0123456789abcdefABCDEFeyJ\x00\xff";
        let old_jwk = Jwk::from_value(&k.jwk()).unwrap();
        let (mut parsed, mut verified, mut key_changes_ok) = (0, 0, 0);
        for i in 0..4000 {
            let body: Vec<u8> = if i % 4 == 0 {
                // Random bytes, biased to JSON and base64url characters.
                let len = rng.below(300);
                (0..len)
                    .map(|_| {
                        if rng.below(2) == 0 {
                            alphabet[rng.below(alphabet.len())]
                        } else {
                            rng.next() as u8
                        }
                    })
                    .collect()
            } else if i % 4 == 1 {
                // Structure-aware: mutate the decoded protected header or payload and
                // re-encode it, so the header rules and the key-change code are reached.
                let seed = &seeds[rng.below(seeds.len())];
                let mut v: Value = serde_json::from_slice(seed).unwrap();
                let member = ["protected", "payload"][rng.below(2)];
                let mut decoded =
                    crate::acme::b64url_decode(v[member].as_str().unwrap(), "m").unwrap();
                mutate(&mut rng, &mut decoded, alphabet);
                v[member] = json!(b64url_encode(decoded));
                v.to_string().into_bytes()
            } else if i % 4 == 2 {
                // A key change whose inner JWS is mutated, the outer correctly signed by
                // the account key: reaches the inner-JWS checks.
                let mut inner = key_change_inner(k);
                if rng.below(2) == 0 {
                    mutate(&mut rng, &mut inner, alphabet);
                } else {
                    let mut v: Value = serde_json::from_slice(&inner).unwrap();
                    let member = ["protected", "payload"][rng.below(2)];
                    let mut decoded =
                        crate::acme::b64url_decode(v[member].as_str().unwrap(), "m").unwrap();
                    mutate(&mut rng, &mut decoded, alphabet);
                    v[member] = json!(b64url_encode(decoded));
                    inner = v.to_string().into_bytes();
                }
                let url = "https://ca.example/acme/tls/key-change";
                let outer = k.jws(&k.kid_header(ACCOUNT, url), Some(&inner));
                let jws = parse(&outer).unwrap();
                if verify_key_change(&jws, ACCOUNT, &old_jwk).is_ok() {
                    key_changes_ok += 1;
                    let signed =
                        |b: &[u8]| parse_as(b, Mode::KeyChangeInner).unwrap().signing_input;
                    assert_eq!(
                        signed(&inner),
                        signed(&key_change_inner(k)),
                        "a mutated inner JWS verified: {}",
                        String::from_utf8_lossy(&inner)
                    );
                }
                outer
            } else {
                let mut b = seeds[rng.below(seeds.len())].clone();
                mutate(&mut rng, &mut b, alphabet);
                b
            };
            if parse(&body).is_ok() {
                parsed += 1;
            }
            if exercise(&body) {
                verified += 1;
                // A mutation may only verify if the signed bytes are untouched.
                let jws = parse(&body).unwrap();
                assert!(
                    seeds
                        .iter()
                        .any(|s| { parse(s).is_ok_and(|p| p.signing_input == jws.signing_input) }),
                    "a mutated body verified: {}",
                    String::from_utf8_lossy(&body)
                );
            }
        }
        // Mutations in the JSON whitespace keep a body valid now and then; most fail.
        assert!(verified < 1000, "{verified}");
        // ... and enough mutations parse to reach the signature and key-change code.
        assert!(parsed > 200, "only {parsed} mutated bodies parsed");
        // A mutated inner JWS passes only when the mutation left its signed bytes alone.
        assert!(key_changes_ok < 200, "{key_changes_ok}");
        eprintln!(
            "fuzz: 4000 bodies, {parsed} parsed, {verified} verified, \
             {key_changes_ok} mutated key changes accepted"
        );
        // Oversized and deeply nested inputs.
        assert!(parse(&vec![b'{'; MAX_JWS_BYTES + 1]).is_err());
        assert!(parse(&vec![b'{'; MAX_JWS_BYTES]).is_err());
        let nested = format!("{{\"protected\":{}}}", "[".repeat(10_000));
        assert!(parse(nested.as_bytes()).is_err());
        let deep_header = b64url_encode(format!("{{\"a\":{}}}", "[".repeat(5_000)));
        let body = json!({"protected": deep_header, "payload": "", "signature": "AA"});
        assert!(parse(body.to_string().as_bytes()).is_err());
    }

    /// Applies one to five random edits to `b`.
    fn mutate(rng: &mut Rng, b: &mut Vec<u8>, alphabet: &[u8]) {
        for _ in 0..=rng.below(4) {
            match rng.below(5) {
                0 if !b.is_empty() => {
                    let at = rng.below(b.len());
                    b[at] ^= 1 << rng.below(8);
                }
                1 => b.truncate(rng.below(b.len() + 1)),
                2 => {
                    let at = rng.below(b.len() + 1);
                    b.insert(at, alphabet[rng.below(alphabet.len())]);
                }
                3 if !b.is_empty() => {
                    let at = rng.below(b.len());
                    b.remove(at);
                }
                _ => {
                    let at = rng.below(b.len() + 1);
                    let from = rng.below(b.len() + 1);
                    let chunk: Vec<u8> = b[from..].iter().take(40).copied().collect();
                    b.splice(at..at, chunk);
                }
            }
        }
    }

    fn key_change_body(old: &TestKey) -> Vec<u8> {
        let url = "https://ca.example/acme/tls/key-change";
        old.jws(&old.kid_header(ACCOUNT, url), Some(&key_change_inner(old)))
    }

    fn key_change_inner(old: &TestKey) -> Vec<u8> {
        let new = key(JwkType::Ed25519);
        let url = "https://ca.example/acme/tls/key-change";
        new.jws(
            &json!({"alg": "EdDSA", "jwk": new.jwk(), "url": url}),
            Some(
                json!({"account": ACCOUNT, "oldKey": old.jwk()})
                    .to_string()
                    .as_bytes(),
            ),
        )
    }
}
