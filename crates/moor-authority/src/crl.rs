//! Certificate revocation lists (RFC 5280 §5): one full CRL per issuing CA.
//!
//! A CRL is built from the store on request and cached; it is rebuilt (with the next
//! CRL number) as soon as the set of revoked, unexpired certificates changes, and
//! well before its nextUpdate. Entries stay until the certificate expires (Vault
//! CVE-2021-29653). certificateHold is never used; reason `unspecified` is written
//! as no reasonCode extension (RFC 5280 §5.3.1).

use std::sync::Arc;
use std::time::Duration;

use moor_store::{NewAuditEntry, RevokedEntry};
use time::OffsetDateTime;

use crate::{Authority, AuthorityError, audit_detail};

/// nextUpdate − thisUpdate (the Baseline Requirements allow at most 10 days).
pub const CRL_VALIDITY: Duration = Duration::from_secs(7 * 86_400);
/// A cached CRL older than this is rebuilt even if nothing changed.
pub const CRL_REFRESH: Duration = Duration::from_secs(86_400);

/// A signed CRL and what it was built from.
#[derive(Debug)]
pub struct CachedCrl {
    /// DER of the CertificateList.
    pub der: Vec<u8>,
    /// Its CRL number.
    pub number: i64,
    /// thisUpdate, unix seconds.
    pub this_update: i64,
    /// The entries it lists (the cache key).
    pub entries: Vec<RevokedEntry>,
}

impl Authority {
    /// The current full CRL of issuer `id`, DER; rebuilt when stale.
    pub async fn crl(&self, id: &str) -> Result<Arc<CachedCrl>, AuthorityError> {
        let issuer = self
            .issuers
            .get(id)
            .ok_or_else(|| AuthorityError::NotFound(format!("issuer {id}")))?;
        let now = self.clock.now();
        let entries = self
            .store
            .revoked_certificates(id, now.unix_timestamp())
            .await?;
        // One builder per issuer at a time; the others wait and take its result.
        let lock = self
            .crl_locks
            .get(id)
            .ok_or_else(|| AuthorityError::NotFound(format!("issuer {id}")))?;
        let mut slot = lock.lock().await;
        if let Some(c) = slot.as_ref()
            && c.entries == entries
            && now.unix_timestamp() - c.this_update < CRL_REFRESH.as_secs() as i64
        {
            return Ok(c.clone());
        }
        let audit = NewAuditEntry {
            ts: now.unix_timestamp(),
            actor: "system".into(),
            action: "crl.issue".into(),
            subject: id.to_string(),
            detail: audit_detail(&[("entries", &entries.len().to_string())]),
        };
        let number = self.store.next_crl_number(id, audit).await?;
        let signer = issuer.signer.clone();
        let ca_der = issuer.facts.cert_der.clone();
        let ski = issuer.facts.ski.clone();
        let list = entries.clone();
        let der = tokio::task::spawn_blocking(move || {
            build_crl(&*signer, &ca_der, ski, number, now, &list)
        })
        .await
        .map_err(|e| AuthorityError::Internal(e.to_string()))??;
        let built = Arc::new(CachedCrl {
            der,
            number,
            this_update: now.unix_timestamp(),
            entries,
        });
        *slot = Some(built.clone());
        Ok(built)
    }
}

fn reason(code: i32) -> Option<rcgen::RevocationReason> {
    use rcgen::RevocationReason as R;
    match code {
        1 => Some(R::KeyCompromise),
        2 => Some(R::CaCompromise),
        3 => Some(R::AffiliationChanged),
        4 => Some(R::Superseded),
        5 => Some(R::CessationOfOperation),
        9 => Some(R::PrivilegeWithdrawn),
        10 => Some(R::AaCompromise),
        // unspecified (0) is written as no reasonCode; hold (6) and removeFromCRL (8) never occur.
        _ => None,
    }
}

/// Sign a CRL over `entries` with the CA key (RFC 5280 §5.1: v2, AKI, CRL number).
pub fn build_crl(
    signer: &dyn moor_keys::Signer,
    ca_der: &[u8],
    ski: Vec<u8>,
    number: i64,
    now: OffsetDateTime,
    entries: &[RevokedEntry],
) -> Result<Vec<u8>, AuthorityError> {
    let this_update = now.replace_nanosecond(0).unwrap_or(now);
    let mut revoked = Vec::with_capacity(entries.len());
    for e in entries {
        let serial = moor_core::serial::Serial::from_hex(&e.serial_hex).ok_or_else(|| {
            AuthorityError::Internal(format!("stored serial {} is not hex", e.serial_hex))
        })?;
        revoked.push(rcgen::RevokedCertParams {
            serial_number: serial.to_rcgen(),
            revocation_time: OffsetDateTime::from_unix_timestamp(e.revoked_at)
                .map_err(|err| AuthorityError::Internal(err.to_string()))?,
            reason_code: reason(e.reason),
            invalidity_date: None,
        });
    }
    let params = rcgen::CertificateRevocationListParams {
        this_update,
        next_update: this_update + CRL_VALIDITY,
        crl_number: rcgen::SerialNumber::from_slice(&number.to_be_bytes()),
        issuing_distribution_point: None,
        revoked_certs: revoked,
        key_identifier_method: rcgen::KeyIdMethod::PreSpecified(ski),
    };
    let issuer =
        rcgen::Issuer::from_ca_cert_der(&ca_der.to_vec().into(), moor_keys::RcgenSigner(signer))
            .map_err(|e| AuthorityError::Internal(format!("issuer certificate: {e}")))?;
    let crl = params
        .signed_by(&issuer)
        .map_err(|e| AuthorityError::Internal(format!("CRL signing: {e}")))?;
    Ok(crl.der().to_vec())
}

impl Authority {
    /// (issuer id, age in seconds, entries, CRL number) of every CRL built so far.
    pub async fn crl_stats(&self) -> Vec<(String, i64, usize, i64)> {
        let now = self.clock.now().unix_timestamp();
        let mut out = Vec::new();
        for (id, lock) in &self.crl_locks {
            if let Some(c) = lock.lock().await.as_ref() {
                out.push((id.clone(), now - c.this_update, c.entries.len(), c.number));
            }
        }
        out.sort();
        out
    }
}
