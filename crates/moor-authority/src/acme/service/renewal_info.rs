//! ACME Renewal Information (RFC 9773): the suggested window of a certificate, the
//! certificate an order `replaces`, and the admin's "renew now" for a set of certificates.

use moor_store::RenewalOverride;

use super::*;

/// How long the window of a "renew now" override lasts by default (seconds): clients
/// pick a random time inside it, so a fleet does not come back in one second.
pub const DEFAULT_OVERRIDE_WINDOW_SECS: i64 = 3600;

/// Which certificates an admin moves the renewal window of.
#[derive(Debug, Clone, Default)]
pub struct RenewalSelector {
    /// Certificates of this issuer.
    pub issuer_id: Option<String>,
    /// Certificates of this profile.
    pub profile: Option<String>,
    /// This certificate (hex serial).
    pub serial_hex: Option<String>,
}

impl AcmeService {
    /// The certificate named by an RFC 9773 certificate id
    /// (`base64url(AKI keyIdentifier) "." base64url(serial)`); 404 if there is none or its
    /// AKI differs.
    pub(super) async fn certificate_by_ari_id(
        &self,
        cert_id: &str,
    ) -> Result<CertificateRecord, AcmeError> {
        if cert_id.len() > 200 {
            return Err(AcmeError::malformed("the certificate id is too long"));
        }
        let (aki_b64, serial_b64) = cert_id
            .split_once('.')
            .ok_or_else(|| AcmeError::malformed("a certificate id is AKI.serial (RFC 9773)"))?;
        let aki = b64url_decode(aki_b64, "certificate id keyIdentifier")?;
        let serial = b64url_decode(serial_b64, "certificate id serial")?;
        if serial.is_empty() || serial.len() > 21 {
            return Err(AcmeError::malformed("the serial is 1 to 20 octets"));
        }
        let serial_hex = moor_core::serial::Serial::from_magnitude(&serial).to_hex();
        let not_found = || AcmeError::malformed("no such certificate").with_status(404);
        let rec = self
            .authority
            .store()
            .get_certificate(&serial_hex)
            .await
            .map_err(store_err)?
            .ok_or_else(not_found)?;
        let (_, cert) = x509_parser::parse_x509_certificate(&rec.der)
            .map_err(|_| internal("stored certificate does not parse"))?;
        let cert_aki = cert
            .extensions()
            .iter()
            .find_map(|e| match e.parsed_extension() {
                x509_parser::extensions::ParsedExtension::AuthorityKeyIdentifier(a) => {
                    a.key_identifier.as_ref().map(|k| k.0.to_vec())
                }
                _ => None,
            });
        if cert_aki.as_deref() != Some(aki.as_slice()) {
            return Err(not_found());
        }
        Ok(rec)
    }

    /// ARI (RFC 9773 §4.1): the suggested renewal window `(start, end)` of the certificate
    /// named by `cert_id`. The window is the sixth of the lifetime after its first two
    /// thirds; a revoked certificate should be replaced at once (a window ending now); an
    /// admin's override ([`AcmeService::override_renewal`]) replaces the window of every
    /// certificate it selects that existed when it was made.
    pub async fn renewal_info(&self, cert_id: &str) -> Result<(i64, i64), AcmeError> {
        let rec = self.certificate_by_ari_id(cert_id).await?;
        let now = self.now();
        if rec.status == "revoked" {
            return Ok((now - 3600, now));
        }
        if let Some(o) = self
            .authority
            .store()
            .acme()
            .renewal_override_for(
                &rec.issuer_id,
                &rec.profile,
                &rec.serial_hex,
                rec.created_at,
            )
            .await
            .map_err(store_err)?
        {
            return Ok((o.window_start, o.window_end));
        }
        let lifetime = (rec.not_after - rec.not_before).max(3);
        let start = rec.not_before + lifetime * 2 / 3;
        Ok((start, start + lifetime / 6))
    }

    /// An admin's "renew now": every certificate `selector` matches that exists now gets
    /// the renewal window `[now, now + window_secs)` (so clients polling ARI renew within
    /// it). At least one selector must be set; the issuer, profile or certificate must
    /// exist. Audited; returns the override.
    pub async fn override_renewal(
        authority: &Authority,
        who: &Requester,
        selector: RenewalSelector,
        window_secs: i64,
        reason: &str,
    ) -> Result<RenewalOverride, AuthorityError> {
        if selector.issuer_id.is_none()
            && selector.profile.is_none()
            && selector.serial_hex.is_none()
        {
            return Err(AuthorityError::BadRequest(
                "select the certificates: an issuer, a profile or a serial".into(),
            ));
        }
        if !(60..=30 * 86_400).contains(&window_secs) {
            return Err(AuthorityError::BadRequest(
                "the renewal window lasts 1 minute to 30 days".into(),
            ));
        }
        if reason.len() > 1024 {
            return Err(AuthorityError::BadRequest(
                "the reason is at most 1024 bytes".into(),
            ));
        }
        if let Some(issuer) = &selector.issuer_id
            && authority.issuer_cert(issuer).is_none()
        {
            return Err(AuthorityError::NotFound(format!("issuer {issuer}")));
        }
        if let Some(profile) = &selector.profile
            && !authority.profiles().contains_key(profile)
        {
            return Err(AuthorityError::NotFound(format!("profile {profile}")));
        }
        let serial_hex = match &selector.serial_hex {
            Some(s) => {
                let s = moor_core::serial::Serial::from_hex(s)
                    .ok_or_else(|| {
                        AuthorityError::BadRequest("serial must be hex, at most 20 octets".into())
                    })?
                    .to_hex();
                if authority.store().get_certificate(&s).await?.is_none() {
                    return Err(AuthorityError::NotFound(format!("certificate {s}")));
                }
                Some(s)
            }
            None => None,
        };
        let now = authority.now_unix();
        let o = RenewalOverride {
            id: random_id().map_err(|e| AuthorityError::Internal(e.to_string()))?,
            issuer_id: selector.issuer_id,
            profile: selector.profile,
            serial_hex,
            window_start: now,
            window_end: now + window_secs,
            reason: reason.to_string(),
            created_at: now,
        };
        let audit = NewAuditEntry {
            ts: now,
            actor: who.id(),
            action: "ari.override".into(),
            subject: o.id.clone(),
            detail: audit_detail(&[
                ("issuer", o.issuer_id.as_deref().unwrap_or("")),
                ("profile", o.profile.as_deref().unwrap_or("")),
                ("serial", o.serial_hex.as_deref().unwrap_or("")),
                ("window_end", &rfc3339(o.window_end)),
                ("reason", reason),
            ]),
        };
        authority
            .store()
            .acme()
            .add_renewal_override(&o, audit)
            .await?;
        Ok(o)
    }
}
