//! Admin API bearer tokens: `moor_<id>_<secret>`; only SHA-256(secret) is stored,
//! and the check compares hashes in constant time.

use base64::Engine;
use moor_store::{AdminTokenRecord, NewAuditEntry};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::{Authority, AuthorityError, Credential, Requester, audit_detail};

const PREFIX: &str = "moor_";

/// A freshly created token: the secret is shown once and never stored.
pub struct NewToken {
    /// The public id (`tok…`), safe to log.
    pub id: String,
    /// The whole bearer token.
    pub token: Zeroizing<String>,
    /// What goes into the store.
    pub record: AdminTokenRecord,
}

/// Make a new token named `name` at time `now`.
pub fn generate(name: &str, now: i64) -> Result<NewToken, AuthorityError> {
    use aws_lc_rs::rand::{SecureRandom, SystemRandom};
    let rng = SystemRandom::new();
    let mut id = [0u8; 8];
    let mut secret = Zeroizing::new([0u8; 32]);
    rng.fill(&mut id)
        .map_err(|_| AuthorityError::Internal("CSPRNG failed".into()))?;
    rng.fill(secret.as_mut())
        .map_err(|_| AuthorityError::Internal("CSPRNG failed".into()))?;
    let id = format!("tok{}", hex::encode(id));
    let secret_b64 =
        Zeroizing::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret.as_ref()));
    let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret_b64.as_bytes())
        .as_ref()
        .to_vec();
    Ok(NewToken {
        token: Zeroizing::new(format!("{PREFIX}{id}_{}", secret_b64.as_str())),
        record: AdminTokenRecord {
            id: id.clone(),
            secret_sha256: hash,
            name: name.chars().take(64).collect(),
            created_at: now,
        },
        id,
    })
}

/// Split a bearer token into (id, secret) without allocating the secret twice.
fn split(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    if id.len() != 19 || !id.starts_with("tok") || secret.is_empty() || secret.len() > 64 {
        return None;
    }
    Some((id, secret))
}

impl Authority {
    /// Create and store an admin token; returns it once.
    pub async fn create_admin_token(
        &self,
        who: &Requester,
        name: &str,
    ) -> Result<NewToken, AuthorityError> {
        let t = generate(name, self.now_unix())?;
        let audit = NewAuditEntry {
            ts: self.now_unix(),
            actor: who.id(),
            action: "token.create".into(),
            subject: t.id.clone(),
            detail: audit_detail(&[("name", &t.record.name)]),
        };
        self.store.insert_admin_token(&t.record, audit).await?;
        Ok(t)
    }

    /// Authenticate a bearer token. Unknown ids re-read the store once (tokens made by the CLI).
    pub async fn authenticate_token(&self, token: &str) -> Result<Requester, AuthorityError> {
        let deny = || AuthorityError::Unauthorized("invalid admin token".into());
        let (id, secret) = split(token.trim()).ok_or_else(deny)?;
        let presented = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes());
        let cached = self
            .token_cache
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned();
        let stored = match cached {
            Some(h) => h,
            None => {
                let all = self.store.active_admin_tokens().await?;
                let mut cache = self.token_cache.write().unwrap_or_else(|e| e.into_inner());
                cache.clear();
                for t in all {
                    cache.insert(t.id, t.secret_sha256);
                }
                cache.get(id).cloned().ok_or_else(deny)?
            }
        };
        if bool::from(presented.as_ref().ct_eq(stored.as_slice())) {
            Ok(Requester {
                credential: Credential::AdminToken {
                    token_id: id.to_string(),
                },
            })
        } else {
            Err(deny())
        }
    }
}

impl Authority {
    /// Authenticate a TLS client certificate (already chain-verified by the TLS layer
    /// against our roots): it must be one we issued under the `admin` profile, not
    /// revoked and not expired.
    pub async fn authenticate_admin_certificate(
        &self,
        der: &[u8],
    ) -> Result<Requester, AuthorityError> {
        use x509_parser::prelude::*;
        let deny = |m: &str| AuthorityError::Unauthorized(m.to_string());
        let (_, cert) = X509Certificate::from_der(der)
            .map_err(|_| deny("client certificate does not parse"))?;
        let serial = moor_core::serial::Serial::from_magnitude(cert.raw_serial()).to_hex();
        let rec = self
            .store
            .get_certificate(&serial)
            .await?
            .ok_or_else(|| deny("client certificate was not issued by this CA"))?;
        if rec.der != der {
            return Err(deny("client certificate does not match the issued one"));
        }
        if rec.profile != "admin" {
            return Err(deny("client certificate is not of the admin profile"));
        }
        if rec.status != "valid" {
            return Err(deny("client certificate is revoked"));
        }
        if rec.not_after < self.now_unix() {
            return Err(deny("client certificate has expired"));
        }
        Ok(Requester {
            credential: Credential::AdminCertificate { serial },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_format() {
        let t = generate("x", 0).unwrap();
        let (id, secret) = split(&t.token).unwrap();
        assert_eq!(id, t.id);
        let h = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes());
        assert_eq!(h.as_ref(), t.record.secret_sha256.as_slice());
        assert!(split("moor_tok_x").is_none());
        assert!(split("Bearer x").is_none());
        assert!(split("").is_none());
    }
}
