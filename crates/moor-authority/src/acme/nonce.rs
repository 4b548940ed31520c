//! Replay nonces (RFC 8555 §6.5) without a write per nonce: a nonce is its issue time, 64
//! random bits and a truncated HMAC-SHA256 of both under a key every node shares (kept in
//! the store). Checking one is arithmetic; only a redeemed nonce is written (once, until it
//! expires), which is what makes each one single-use across nodes.

use aws_lc_rs::hmac;
use moor_core::acme::{AcmeError, b64url_decode, b64url_encode};

/// Version byte of the layout below.
const VERSION: u8 = 1;
/// version (1) ‖ issued_at (8, big-endian) ‖ random (8) ‖ HMAC-SHA256 prefix (16).
const LEN: usize = 1 + 8 + 8 + 16;
/// How far in the future an issue time may be (another node's clock).
const CLOCK_SKEW_SECS: i64 = 300;

/// The deployment's nonce key.
pub struct NonceKey(hmac::Key);

impl NonceKey {
    /// The key from its stored bytes.
    pub fn new(bytes: &[u8]) -> NonceKey {
        NonceKey(hmac::Key::new(hmac::HMAC_SHA256, bytes))
    }

    /// A fresh nonce issued at `now`.
    pub fn issue(&self, now: i64) -> Result<String, AcmeError> {
        let mut b = [0u8; LEN];
        b[0] = VERSION;
        b[1..9].copy_from_slice(&now.to_be_bytes());
        aws_lc_rs::rand::fill(&mut b[9..17])
            .map_err(|_| super::service::internal("the OS random generator failed"))?;
        let tag = hmac::sign(&self.0, &b[..17]);
        b[17..].copy_from_slice(&tag.as_ref()[..16]);
        Ok(b64url_encode(b))
    }

    /// Checks a nonce this deployment issued that has not expired (`ttl` seconds); returns
    /// when it expires. Whether it was redeemed before is the store's question.
    pub fn check(&self, nonce: &str, now: i64, ttl: i64) -> Result<i64, AcmeError> {
        let bad = || AcmeError::bad_nonce("the nonce is unknown, expired or already used");
        if nonce.len() != LEN.div_ceil(3) * 4 {
            return Err(bad());
        }
        let b = b64url_decode(nonce, "nonce").map_err(|_| bad())?;
        if b.len() != LEN || b[0] != VERSION {
            return Err(bad());
        }
        let tag = hmac::sign(&self.0, &b[..17]);
        if aws_lc_rs::constant_time::verify_slices_are_equal(&tag.as_ref()[..16], &b[17..]).is_err()
        {
            return Err(bad());
        }
        let mut t = [0u8; 8];
        t.copy_from_slice(&b[1..9]);
        let issued = i64::from_be_bytes(t);
        if issued > now + CLOCK_SKEW_SECS || issued.saturating_add(ttl) <= now {
            return Err(bad());
        }
        Ok(issued.saturating_add(ttl))
    }
}

/// Forget redeemed single-use values (ACME nonces, used OIDC tokens) once they expired,
/// every 10 minutes, while the authority lives.
pub fn spawn_purge(authority: &std::sync::Arc<crate::Authority>) {
    let weak = std::sync::Arc::downgrade(authority);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(600));
        loop {
            tick.tick().await;
            let Some(auth) = weak.upgrade() else { return };
            // Kept CLOCK_SKEW_SECS longer: a node whose clock is behind still accepts them.
            match auth
                .store()
                .acme()
                .purge_nonces(auth.now_unix() - CLOCK_SKEW_SECS)
                .await
            {
                Ok(n) if n > 0 => {
                    tracing::debug!(purged = n, "expired single-use values forgotten")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "purging used nonces failed; retried later"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn issued_nonces_check_until_they_expire() {
        let k = NonceKey::new(&[7u8; 32]);
        let n = k.issue(NOW).unwrap();
        assert_eq!(n.len(), 44);
        assert_eq!(k.check(&n, NOW, 3600).unwrap(), NOW + 3600);
        assert_eq!(k.check(&n, NOW + 3599, 3600).unwrap(), NOW + 3600);
        assert!(k.check(&n, NOW + 3600, 3600).is_err(), "expired");
        assert!(k.check(&n, NOW - 301, 3600).is_err(), "from the future");
        assert_ne!(k.issue(NOW).unwrap(), n, "random part");
    }

    #[test]
    fn forged_altered_and_foreign_nonces_are_bad_nonce() {
        let k = NonceKey::new(&[7u8; 32]);
        let other = NonceKey::new(&[8u8; 32]);
        let n = k.issue(NOW).unwrap();
        assert!(
            other.check(&n, NOW, 3600).is_err(),
            "another deployment's key"
        );
        // Every single-character change is refused.
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        for i in 0..n.len() {
            let mut m = n.clone().into_bytes();
            m[i] = alphabet[(alphabet.iter().position(|c| *c == m[i]).unwrap() + 1) % 64];
            let m = String::from_utf8(m).unwrap();
            let r = k.check(&m, NOW, 3600);
            // The last character carries 2 padding bits: a change there may decode to the
            // same bytes, which is the same nonce.
            if b64url_decode(&m, "n").ok() != b64url_decode(&n, "n").ok() {
                assert!(r.is_err(), "changed at {i}: {m}");
            }
        }
        for junk in [
            "",
            "a",
            &"A".repeat(44),
            &"A".repeat(10_000),
            "not base64 at all!!!!!!!!!!!!!!!!!!!!!!!!!!",
        ] {
            let e = k.check(junk, NOW, 3600).unwrap_err();
            assert_eq!(e.kind(), moor_core::acme::ProblemType::BadNonce);
        }
    }
}
