//! The SCEP registration authority (RFC 8894 §2.1.1) of each issuer: an RSA-2048 key
//! certified by the issuer (keyEncipherment for the requests clients encrypt to it,
//! digitalSignature for the CertReps it signs). CA keys of any algorithm stay out of
//! SCEP's RSA-only envelopes.
//!
//! One key per issuer and [`PERIOD`], valid for [`LIFETIME`] (capped at the issuer's
//! notAfter): the first node that needs one makes it and stores it (PKCS#8 encrypted
//! under the CA key passphrase, `scep_ra_keys`); a node that loses the race uses the
//! stored one. Requests encrypted to an older RA still open while its certificate is
//! valid. Each RA certificate is recorded and audited like any issued certificate
//! (profile `scep-ra`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use moor_core::KeyAlgorithm;
use moor_core::serial::Serial;
use moor_keys::{Passphrase, RcgenSigner, Signer, SoftwareKey};
use moor_store::{NewAuditEntry, NewCertificate, ScepRaKey};

use crate::trust_anchor::LoadedIssuer;
use crate::{Authority, AuthorityError, audit_detail};

/// A new RA key per issuer every period.
pub const PERIOD: Duration = Duration::from_secs(30 * 86_400);
/// How long an RA certificate is valid (so a request made with the previous period's
/// GetCACert still opens).
pub const LIFETIME: Duration = Duration::from_secs(90 * 86_400);
/// The store's requester id and profile of RA certificates.
pub const RA_REQUESTER: &str = "system:scep-ra";
pub const RA_PROFILE: &str = "scep-ra";

/// An RA key ready to use.
pub struct Ra {
    pub issuer_id: String,
    pub period: i64,
    pub cert_der: Vec<u8>,
    pub not_after: i64,
    /// Signs CertReps (RSA PKCS#1 v1.5 SHA-256).
    pub signer: SoftwareKey,
    /// Opens the requests' envelopes.
    pub decrypting: aws_lc_rs::rsa::PrivateDecryptingKey,
}

/// The RA keys this process has decrypted, by (issuer, period).
#[derive(Default)]
pub(crate) struct RaCache {
    keys: std::sync::RwLock<HashMap<(String, i64), Arc<Ra>>>,
    /// Stored keys that did not open (another passphrase, a damaged row): skipped, not
    /// decrypted again on every request.
    broken: std::sync::Mutex<std::collections::HashSet<(String, i64, String)>>,
    /// One node-local maker at a time (key generation and the KDF are slow).
    making: tokio::sync::Mutex<()>,
}

fn period_of(now: i64) -> i64 {
    now.div_euclid(PERIOD.as_secs() as i64)
}

impl RaCache {
    fn cached(&self, issuer: &str, period: i64) -> Option<Arc<Ra>> {
        self.keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(issuer.to_string(), period))
            .cloned()
    }

    fn keep(&self, ra: Ra) -> Arc<Ra> {
        let ra = Arc::new(ra);
        let mut keys = self.keys.write().unwrap_or_else(|p| p.into_inner());
        let now_min = ra.period - (LIFETIME.as_secs() / PERIOD.as_secs()) as i64 - 1;
        keys.retain(|(_, p), _| *p >= now_min);
        keys.insert((ra.issuer_id.clone(), ra.period), ra.clone());
        ra
    }

    /// The RA of `issuer` for the current period, made (and stored) if there is none.
    pub(crate) async fn current(
        &self,
        auth: &Authority,
        pass: &Passphrase,
        issuer: &LoadedIssuer,
    ) -> Result<Arc<Ra>, AuthorityError> {
        let now = auth.now_unix();
        let period = period_of(now);
        let id = issuer.facts.id.as_str();
        if let Some(ra) = self.cached(id, period) {
            return Ok(ra);
        }
        let _one = self.making.lock().await;
        if let Some(ra) = self.cached(id, period) {
            return Ok(ra);
        }
        let stored = auth.store().enrollment().scep_ra_keys(id, now).await?;
        if let Some(row) = stored.into_iter().find(|r| r.period == period) {
            return Ok(self.keep(open(row, pass).await?));
        }
        let made = make(auth, pass, issuer, period).await?;
        let audit = NewAuditEntry {
            ts: auth.now_unix(),
            actor: RA_REQUESTER.into(),
            action: "scep.ra.create".into(),
            subject: id.into(),
            detail: audit_detail(&[
                ("period", &period.to_string()),
                ("serial", &made.serial_hex),
            ]),
        };
        let row = auth
            .store()
            .enrollment()
            .put_scep_ra_key(&made, audit)
            .await?;
        // Another node may have stored its key for this period first: use that one.
        Ok(self.keep(open(row, pass).await?))
    }

    /// Every valid RA key of `issuer` (to open a request encrypted to any of them).
    /// A stored key that does not open is logged once and skipped.
    pub(crate) async fn all(
        &self,
        auth: &Authority,
        pass: &Passphrase,
        issuer_id: &str,
    ) -> Result<Vec<Arc<Ra>>, AuthorityError> {
        let now = auth.now_unix();
        let rows = auth
            .store()
            .enrollment()
            .scep_ra_keys(issuer_id, now)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            if let Some(ra) = self.cached(issuer_id, row.period) {
                out.push(ra);
                continue;
            }
            let mark = (row.issuer_id.clone(), row.period, row.serial_hex.clone());
            if self
                .broken
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains(&mark)
            {
                continue;
            }
            // One KDF per key and process, however many requests arrive at once.
            let _one = self.making.lock().await;
            if let Some(ra) = self.cached(issuer_id, row.period) {
                out.push(ra);
                continue;
            }
            match open(row, pass).await {
                Ok(ra) => out.push(self.keep(ra)),
                Err(e) => {
                    tracing::error!(issuer = %mark.0, period = mark.1, error = %e, "a stored SCEP RA key does not open; skipped");
                    self.broken
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(mark);
                }
            }
        }
        Ok(out)
    }
}

/// Decrypt a stored RA key (the KDF runs off the async workers).
async fn open(row: ScepRaKey, pass: &Passphrase) -> Result<Ra, AuthorityError> {
    let pass = Passphrase::new(pass.expose().to_string());
    tokio::task::spawn_blocking(move || -> Result<Ra, AuthorityError> {
        let der = moor_keys::decrypt_pkcs8_pem(&row.key_pem, &pass)?;
        let signer = SoftwareKey::from_pkcs8_der(&der, Some(KeyAlgorithm::Rsa2048))?;
        let decrypting = aws_lc_rs::rsa::PrivateDecryptingKey::from_pkcs8(&der).map_err(|_| {
            AuthorityError::Internal(format!(
                "SCEP RA key of {} is not an RSA key",
                row.issuer_id
            ))
        })?;
        if crate::trust_anchor::spki_sha256_of_cert(&row.cert_der)
            != Some(crate::trust_anchor::fingerprint(&signer.spki_der()))
        {
            return Err(AuthorityError::Internal(format!(
                "SCEP RA key of {} period {} does not match its certificate",
                row.issuer_id, row.period
            )));
        }
        Ok(Ra {
            issuer_id: row.issuer_id,
            period: row.period,
            cert_der: row.cert_der,
            not_after: row.not_after,
            signer,
            decrypting,
        })
    })
    .await
    .map_err(|e| AuthorityError::Internal(e.to_string()))?
}

/// Generate an RA key, have the issuer certify it, record the certificate.
async fn make(
    auth: &Authority,
    pass: &Passphrase,
    issuer: &LoadedIssuer,
    period: i64,
) -> Result<ScepRaKey, AuthorityError> {
    let now = auth.clock().now();
    let now = now.replace_nanosecond(0).unwrap_or(now);
    let not_after = (now + LIFETIME).min(issuer.facts.not_after);
    if not_after - now < time::Duration::days(1) {
        return Err(AuthorityError::Config(format!(
            "issuer {} expires within a day: no SCEP RA certificate can be made",
            issuer.facts.id
        )));
    }
    let serial = Serial::random().map_err(|e| AuthorityError::Internal(e.to_string()))?;
    let pass = Passphrase::new(pass.expose().to_string());
    let issuer_der = issuer.facts.cert_der.clone();
    let issuer_signer = issuer.signer.clone();
    let issuer_id = issuer.facts.id.clone();
    let common_name = format!("Mooring SCEP RA {issuer_id}");
    let cn = common_name.clone();
    let serial2 = serial.clone();
    // RSA key generation takes a while: off the async workers, with the signing and the KDF.
    let (cert_der, key_pem, spki) = tokio::task::spawn_blocking(
        move || -> Result<(Vec<u8>, String, Vec<u8>), AuthorityError> {
            let key = SoftwareKey::generate(KeyAlgorithm::Rsa2048)?;
            let mut params = rcgen::CertificateParams::default();
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, cn);
            params.is_ca = rcgen::IsCa::ExplicitNoCa;
            params.key_usages = vec![
                rcgen::KeyUsagePurpose::DigitalSignature,
                rcgen::KeyUsagePurpose::KeyEncipherment,
            ];
            params.use_authority_key_identifier_extension = true;
            params.serial_number = Some(serial2.to_rcgen());
            params.not_before = now - moor_core::template::BACKDATE;
            params.not_after = not_after;
            let signer =
                rcgen::Issuer::from_ca_cert_der(&issuer_der.into(), RcgenSigner(&*issuer_signer))
                    .map_err(|e| AuthorityError::Internal(format!("issuer certificate: {e}")))?;
            let der = params
                .signed_by(&RcgenSigner(&key), &signer)
                .map_err(|e| AuthorityError::Internal(format!("signing the SCEP RA: {e}")))?
                .der()
                .to_vec();
            let pkcs8 = key.to_pkcs8_der()?;
            let pem = moor_keys::encrypt_pkcs8_pem(&pkcs8, &pass)?;
            Ok((der, pem, key.spki_der()))
        },
    )
    .await
    .map_err(|e| AuthorityError::Internal(e.to_string()))??;

    let ts = now.unix_timestamp();
    let subject = format!("CN={common_name}");
    let not_before = (now - moor_core::template::BACKDATE).unix_timestamp();
    let not_after = not_after.unix_timestamp();
    let fingerprint = crate::trust_anchor::fingerprint(&cert_der);
    auth.store()
        .record_issuance(
            NewCertificate {
                serial_hex: serial.to_hex(),
                issuer_id: issuer_id.clone(),
                profile: RA_PROFILE.into(),
                subject: subject.clone(),
                sans: vec![],
                not_before,
                not_after,
                requester: RA_REQUESTER.into(),
                key_algorithm: KeyAlgorithm::Rsa2048.name().into(),
                fingerprint: fingerprint.clone(),
                spki_sha256: crate::trust_anchor::fingerprint(&spki),
                der: cert_der.clone(),
                created_at: ts,
            },
            NewAuditEntry {
                ts,
                actor: RA_REQUESTER.into(),
                action: "issue".into(),
                subject: serial.to_hex(),
                detail: serde_json::json!({
                    "profile": RA_PROFILE, "issuer": issuer_id, "subject": subject,
                    "not_after": not_after, "key_algorithm": KeyAlgorithm::Rsa2048.name(),
                    "fingerprint": fingerprint, "period": period,
                    "purpose": "SCEP registration authority (key stored encrypted, shared by every node)",
                })
                .to_string(),
            },
        )
        .await?;
    Ok(ScepRaKey {
        issuer_id,
        period,
        key_pem,
        cert_der,
        serial_hex: serial.to_hex(),
        not_after,
        created_at: ts,
    })
}
