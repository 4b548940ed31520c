//! Revocation: record status and reason (CRL and OCSP serving follow in a later issue).

use moor_store::{CertificateRecord, NewAuditEntry, StoreError};

use crate::{Authority, AuthorityError, Requester, audit_detail};

/// RFC 5280 §5.3.1 CRLReason values we accept. certificateHold (6) and
/// removeFromCRL (8) are refused; 7 is unassigned.
pub const REASONS: [(i32, &str); 9] = [
    (0, "unspecified"),
    (1, "key-compromise"),
    (2, "ca-compromise"),
    (3, "affiliation-changed"),
    (4, "superseded"),
    (5, "cessation-of-operation"),
    (9, "privilege-withdrawn"),
    (10, "aa-compromise"),
    (1, "keycompromise"),
];

/// RFC 5280 CRLReason keyCompromise.
pub const KEY_COMPROMISE: i32 = 1;

/// Parse a reason given as a number or a name (`key-compromise`, `keyCompromise`, `superseded`, …).
pub fn parse_reason(s: &str) -> Result<i32, AuthorityError> {
    let norm: String = s
        .trim()
        .chars()
        .filter(|c| *c != '-' && *c != '_')
        .flat_map(char::to_lowercase)
        .collect();
    let code = match norm.parse::<i32>() {
        Ok(n) => n,
        Err(_) => REASONS
            .iter()
            .find(|(_, name)| name.replace('-', "") == norm)
            .map(|(n, _)| *n)
            .ok_or_else(|| bad_reason(s))?,
    };
    match code {
        0..=5 | 9 | 10 => Ok(code),
        _ => Err(bad_reason(s)),
    }
}

fn bad_reason(s: &str) -> AuthorityError {
    AuthorityError::BadRequest(format!(
        "revocation reason {:?} is not accepted; use unspecified, key-compromise, ca-compromise, affiliation-changed, superseded, cessation-of-operation, privilege-withdrawn or aa-compromise (certificateHold is never used)",
        s.chars().take(40).collect::<String>()
    ))
}

/// The name of a reason code.
pub fn reason_name(code: i32) -> &'static str {
    REASONS
        .iter()
        .find(|(n, _)| *n == code)
        .map(|(_, s)| *s)
        .unwrap_or("unknown")
}

impl Authority {
    /// Revoke the certificate with `serial_hex` for `reason`.
    ///
    /// For keyCompromise (1) the key is compromised, not just this certificate: every other
    /// unrevoked certificate for the same public key is revoked too, and the key is blocked
    /// from any future issuance (refuse.md B1, Boulder's blocked keys).
    pub async fn revoke(
        &self,
        who: &Requester,
        serial_hex: &str,
        reason: i32,
    ) -> Result<CertificateRecord, AuthorityError> {
        let serial = moor_core::serial::Serial::from_hex(serial_hex).ok_or_else(|| {
            AuthorityError::BadRequest("serial must be hex, at most 20 octets".into())
        })?;
        let now = self.now_unix();
        let rec = self
            .revoke_one(who, &serial.to_hex(), reason, now, None)
            .await?;
        if reason == KEY_COMPROMISE {
            self.revoke_key(who, &rec, now).await?;
        }
        // Committed: this node's OCSP answers and CRLs reflect it before the caller hears back.
        if let Err(error) = self.catch_up_revocations().await {
            tracing::warn!(%error, "revocation committed but the revocation feed could not be read; the follower retries");
        }
        Ok(rec)
    }

    async fn revoke_one(
        &self,
        who: &Requester,
        serial_hex: &str,
        reason: i32,
        now: i64,
        because_of: Option<&str>,
    ) -> Result<CertificateRecord, AuthorityError> {
        let mut pairs = vec![("reason", reason_name(reason))];
        if let Some(s) = because_of {
            pairs.push(("same_key_as", s));
        }
        let audit = NewAuditEntry {
            ts: now,
            actor: who.id(),
            action: "revoke".into(),
            subject: serial_hex.to_string(),
            detail: audit_detail(&pairs),
        };
        match self
            .store
            .revoke_certificate(serial_hex, now, reason, audit)
            .await
        {
            Ok(r) => {
                self.metrics.revocation(reason_name(reason));
                Ok(r)
            }
            Err(StoreError::NotFound { .. }) => Err(AuthorityError::NotFound(format!(
                "certificate {serial_hex}"
            ))),
            Err(StoreError::AlreadyRevoked { serial }) => {
                Err(AuthorityError::AlreadyRevoked(serial))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Block the key of `rec` and revoke every other certificate that shares it.
    async fn revoke_key(
        &self,
        who: &Requester,
        rec: &CertificateRecord,
        now: i64,
    ) -> Result<(), AuthorityError> {
        let audit = NewAuditEntry {
            ts: now,
            actor: who.id(),
            action: "key.block".into(),
            subject: rec.spki_sha256.clone(),
            detail: audit_detail(&[("reason", "key-compromise"), ("serial", &rec.serial_hex)]),
        };
        self.store
            .block_key(
                &rec.spki_sha256,
                "key-compromise",
                &rec.serial_hex,
                now,
                audit,
            )
            .await?;
        self.remember_blocked_key(&rec.spki_sha256);
        for other in self.store.certificates_by_key(&rec.spki_sha256).await? {
            if other.status == "revoked" {
                continue;
            }
            match self
                .revoke_one(
                    who,
                    &other.serial_hex,
                    KEY_COMPROMISE,
                    now,
                    Some(&rec.serial_hex),
                )
                .await
            {
                Ok(_) | Err(AuthorityError::AlreadyRevoked(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// One certificate by serial.
    pub async fn certificate(&self, serial_hex: &str) -> Result<CertificateRecord, AuthorityError> {
        let serial = moor_core::serial::Serial::from_hex(serial_hex).ok_or_else(|| {
            AuthorityError::BadRequest("serial must be hex, at most 20 octets".into())
        })?;
        self.store
            .get_certificate(&serial.to_hex())
            .await?
            .ok_or_else(|| AuthorityError::NotFound(format!("certificate {}", serial.to_hex())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons() {
        assert_eq!(parse_reason("keyCompromise").unwrap(), 1);
        assert_eq!(parse_reason("key-compromise").unwrap(), 1);
        assert_eq!(parse_reason("4").unwrap(), 4);
        assert_eq!(parse_reason("superseded").unwrap(), 4);
        assert!(parse_reason("certificateHold").is_err());
        assert!(parse_reason("6").is_err());
        assert!(parse_reason("7").is_err());
        assert!(parse_reason("8").is_err());
        assert!(parse_reason("11").is_err());
        assert!(parse_reason("nonsense").is_err());
    }
}
