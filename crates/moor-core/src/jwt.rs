//! JSON Web Tokens (RFC 7519) from an OIDC issuer (a Kubernetes service-account token, a
//! CI job's OIDC token): compact JWS parsing, signature verification against the issuer's
//! JWKS (ES256, ES384, RS256 ≥ 2048, EdDSA; never `none` or HMAC), and the claims that
//! make a token acceptable — issuer, audience, expiry, not-before, a bounded lifetime —
//! plus the name templates that turn claims into certificate names. Pure: the caller
//! fetches the JWKS, gives the time, and remembers used tokens.

use serde_json::{Map, Value};

use crate::acme::jws::JwsAlg;
use crate::acme::{Jwk, b64url_decode};

/// Longest token accepted (bytes).
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Why a token is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("the token is not a compact JWS: {0}")]
    Malformed(String),
    #[error("alg {0:?} is not accepted (ES256, ES384, RS256, EdDSA)")]
    Algorithm(String),
    #[error("no key {0:?} in the issuer's JWKS")]
    UnknownKey(String),
    #[error("the signature does not verify")]
    Signature,
    #[error("issuer {0:?} is not the configured one")]
    Issuer(String),
    #[error("the audience does not include {0:?}")]
    Audience(String),
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token lives longer than {0} s")]
    TooLong(i64),
    #[error("claim {0:?} is missing or not usable in a name")]
    Claim(String),
    #[error("the JWKS is not usable: {0}")]
    Jwks(String),
}

/// An issuer's public keys.
#[derive(Debug, Clone, Default)]
pub struct Jwks {
    keys: Vec<(Option<String>, Jwk)>,
}

impl Jwks {
    /// Parses `{"keys": [...]}`. Keys of unsupported types are skipped; none usable is an
    /// error.
    pub fn parse(json: &[u8]) -> Result<Jwks, JwtError> {
        let v: Value =
            serde_json::from_slice(json).map_err(|e| JwtError::Jwks(format!("not JSON: {e}")))?;
        let list = v
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| JwtError::Jwks("no keys array".into()))?;
        let mut keys = Vec::new();
        for k in list.iter().take(100) {
            let Some(obj) = k.as_object() else { continue };
            let kid = obj.get("kid").and_then(Value::as_str).map(str::to_string);
            // Only the public members the key parser knows.
            let mut public = Map::new();
            for m in ["kty", "crv", "x", "y", "n", "e"] {
                if let Some(x) = obj.get(m) {
                    public.insert(m.into(), x.clone());
                }
            }
            if let Ok(jwk) = Jwk::from_json(Value::Object(public).to_string().as_bytes()) {
                keys.push((kid, jwk));
            }
        }
        if keys.is_empty() {
            return Err(JwtError::Jwks("no usable key".into()));
        }
        Ok(Jwks { keys })
    }

    /// Whether a key named `kid` is present.
    pub fn has(&self, kid: &str) -> bool {
        self.keys.iter().any(|(k, _)| k.as_deref() == Some(kid))
    }
}

/// What a token must satisfy.
#[derive(Debug, Clone)]
pub struct Expect<'a> {
    pub issuer: &'a str,
    pub audience: &'a str,
    /// Unix seconds.
    pub now: i64,
    /// Clock skew tolerated on exp / nbf / iat.
    pub leeway_secs: i64,
    /// exp − iat (or exp − now) may not exceed this.
    pub max_lifetime_secs: i64,
}

/// A token that verified.
#[derive(Debug, Clone)]
pub struct VerifiedJwt {
    pub claims: Map<String, Value>,
    pub expires_at: i64,
    /// The `kid` of the header (for a JWKS refresh on a miss).
    pub kid: Option<String>,
    /// What makes the token single-use: `iss` and `jti` when it has one, else a hash of its
    /// header and claims — never of the signature, which a third party can re-encode
    /// (ECDSA's (r, n−s)) into another valid token with the same claims.
    pub replay_key: String,
}

/// The header's `kid`, without verifying anything (to decide on a JWKS refresh).
pub fn header_kid(token: &str) -> Option<String> {
    let h = token.split('.').next()?;
    let v: Value = serde_json::from_slice(&b64url_decode(h, "header").ok()?).ok()?;
    v.get("kid").and_then(Value::as_str).map(str::to_string)
}

/// Verify `token` against `jwks` and `expect`.
pub fn verify(token: &str, jwks: &Jwks, expect: &Expect<'_>) -> Result<VerifiedJwt, JwtError> {
    let m = |s: &str| JwtError::Malformed(s.into());
    if token.len() > MAX_TOKEN_LEN {
        return Err(m("too long"));
    }
    let mut parts = token.split('.');
    let (Some(h64), Some(p64), Some(s64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(m("three dot-separated parts expected"));
    };
    let header: Map<String, Value> = serde_json::from_slice(
        &b64url_decode(h64, "header").map_err(|_| m("header is not base64url"))?,
    )
    .map_err(|_| m("header is not a JSON object"))?;
    let alg_name = header
        .get("alg")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let alg = JwsAlg::from_name(alg_name).ok_or_else(|| JwtError::Algorithm(alg_name.into()))?;
    if header.contains_key("crit") {
        return Err(m("crit is not supported"));
    }
    let kid = header
        .get("kid")
        .and_then(Value::as_str)
        .map(str::to_string);
    let signature = b64url_decode(s64, "signature").map_err(|_| m("signature is not base64url"))?;
    let input = format!("{h64}.{p64}");
    let mut candidates: Vec<&Jwk> = jwks
        .keys
        .iter()
        .filter(|(k, _)| kid.is_none() || k.as_deref() == kid.as_deref())
        .map(|(_, j)| j)
        .collect();
    // An issuer whose keys carry no kid: any of them may have signed.
    if candidates.is_empty() && jwks.keys.iter().all(|(k, _)| k.is_none()) {
        candidates = jwks.keys.iter().map(|(_, j)| j).collect();
    }
    if candidates.is_empty() {
        return Err(JwtError::UnknownKey(kid.unwrap_or_default()));
    }
    if !candidates.iter().any(|k| {
        k.verify_signature(alg, input.as_bytes(), &signature)
            .is_ok()
    }) {
        return Err(JwtError::Signature);
    }
    let claims: Map<String, Value> = serde_json::from_slice(
        &b64url_decode(p64, "payload").map_err(|_| m("payload is not base64url"))?,
    )
    .map_err(|_| m("payload is not a JSON object"))?;

    let iss = claims
        .get("iss")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if iss != expect.issuer {
        return Err(JwtError::Issuer(iss.chars().take(128).collect()));
    }
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == expect.audience,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(expect.audience)),
        _ => false,
    };
    if !aud_ok {
        return Err(JwtError::Audience(expect.audience.into()));
    }
    // NumericDate: present means an integer (a float or a string is refused, not ignored).
    for k in ["exp", "nbf", "iat"] {
        if let Some(v) = claims.get(k)
            && v.as_i64().is_none()
        {
            return Err(JwtError::Claim(k.into()));
        }
    }
    let num = |k: &str| claims.get(k).and_then(Value::as_i64);
    let exp = num("exp").ok_or_else(|| JwtError::Claim("exp".into()))?;
    if exp + expect.leeway_secs <= expect.now {
        return Err(JwtError::Expired);
    }
    if let Some(nbf) = num("nbf")
        && nbf - expect.leeway_secs > expect.now
    {
        return Err(JwtError::NotYetValid);
    }
    if let Some(iat) = num("iat")
        && iat - expect.leeway_secs > expect.now
    {
        return Err(JwtError::NotYetValid);
    }
    let start = num("iat").unwrap_or(expect.now).min(expect.now);
    if exp - start > expect.max_lifetime_secs {
        return Err(JwtError::TooLong(expect.max_lifetime_secs));
    }
    let replay_key = match claims.get("jti").and_then(Value::as_str) {
        Some(jti) if !jti.is_empty() && jti.len() <= 256 => {
            hex_sha256(format!("{iss}\u{0}{jti}").as_bytes())
        }
        _ => hex_sha256(input.as_bytes()),
    };
    Ok(VerifiedJwt {
        claims,
        expires_at: exp,
        kid,
        replay_key,
    })
}

fn hex_sha256(b: &[u8]) -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b))
}

/// Render a name template: `{claim}` or `{a/b/c}` (a path into nested claims) is replaced
/// by that claim's string value, `{var}` by `vars` first. Values may only hold
/// `A-Za-z0-9_-` (and `.` in URI templates), so a claim cannot add a path segment, a DNS
/// label, a wildcard or another name.
pub fn render(
    template: &str,
    claims: &Map<String, Value>,
    vars: &[(&str, &str)],
) -> Result<String, JwtError> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| JwtError::Claim(format!("unclosed {{ in {template:?}")))?;
        let key = &after[..close];
        let value = match vars.iter().find(|(k, _)| *k == key) {
            Some((_, v)) => (*v).to_string(),
            None => {
                let mut cur: Option<&Value> = None;
                for (i, seg) in key.split('/').enumerate() {
                    cur = if i == 0 {
                        claims.get(seg)
                    } else {
                        cur.and_then(|c| c.get(seg))
                    };
                }
                cur.and_then(Value::as_str)
                    .ok_or_else(|| JwtError::Claim(key.into()))?
                    .to_string()
            }
        };
        // In a DNS name a value is one label (a '.' would let two claim values render the
        // same name); in a URI path dots are allowed, never '..'.
        let dots = template.contains("://");
        if value.is_empty()
            || value.len() > 128
            || !value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || (dots && b == b'.'))
            || value.starts_with('.')
            || value.contains("..")
        {
            return Err(JwtError::Claim(key.into()));
        }
        out.push_str(&value);
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn templates_take_nested_claims_and_refuse_unsafe_values() {
        let claims = json!({"sub": "system:serviceaccount:ns:web", "kubernetes.io": {"namespace": "prod", "serviceaccount": {"name": "web"}}});
        let c = claims.as_object().unwrap();
        assert_eq!(
            render(
                "spiffe://{trust_domain}/ns/{kubernetes.io/namespace}/sa/{kubernetes.io/serviceaccount/name}",
                c,
                &[("trust_domain", "example.org")]
            )
            .unwrap(),
            "spiffe://example.org/ns/prod/sa/web"
        );
        // ':' in sub is not allowed in a name; a missing claim is refused.
        assert!(render("{sub}.svc", c, &[]).is_err());
        assert!(render("{nope}.svc", c, &[]).is_err());
        let evil = json!({"ns": "a/../b", "w": "*", "dots": ".."});
        for k in ["ns", "w", "dots"] {
            assert!(
                render(&format!("{{{k}}}.x"), evil.as_object().unwrap(), &[]).is_err(),
                "{k}"
            );
        }
        assert!(render("{unclosed", c, &[]).is_err());
        // One label per value in a DNS name: "a.b"+"c" and "a"+"b.c" cannot collide.
        let dotted = json!({"job": "a.b", "ns": "c"});
        assert!(
            render(
                "{job}.{ns}.svc.example.com",
                dotted.as_object().unwrap(),
                &[]
            )
            .is_err()
        );
        assert_eq!(
            render("spiffe://td/{job}", dotted.as_object().unwrap(), &[]).unwrap(),
            "spiffe://td/a.b"
        );
    }

    #[test]
    fn junk_tokens_are_refused_without_panic() {
        let jwks = Jwks::parse(br#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"k"}]}"#).unwrap();
        let expect = Expect {
            issuer: "i",
            audience: "a",
            now: 0,
            leeway_secs: 60,
            max_lifetime_secs: 3600,
        };
        for t in [
            "",
            ".",
            "..",
            "a.b.c",
            "a.b.c.d",
            "eyJhbGciOiJub25lIn0.e30.",
            "eyJhbGciOiJIUzI1NiJ9.e30.AAAA",
        ] {
            assert!(verify(t, &jwks, &expect).is_err(), "{t}");
        }
        assert!(matches!(
            verify("eyJhbGciOiJub25lIn0.e30.", &jwks, &expect),
            Err(JwtError::Algorithm(_))
        ));
        assert!(matches!(
            verify("eyJhbGciOiJIUzI1NiJ9.e30.AAAA", &jwks, &expect),
            Err(JwtError::Algorithm(_))
        ));
        assert!(Jwks::parse(b"{}").is_err());
        assert!(Jwks::parse(br#"{"keys":[{"kty":"oct","k":"AAAA"}]}"#).is_err());
    }
}
