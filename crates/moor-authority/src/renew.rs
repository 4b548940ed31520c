//! Renewal by proof of the current certificate (`POST /api/v1/renew` over mTLS): the
//! client certificate (chain-verified by the TLS layer against our roots, expired ones
//! let through so that this check can apply the profile's grace) must be one we issued,
//! unrevoked, and unexpired or within its profile's `renewal_grace`. The successor has
//! the same names and profile; its key is new when the profile says
//! `renewal_requires_new_key`. The two are linked in the store.

use std::collections::BTreeSet;

use moor_store::NewAuditEntry;

use crate::{
    Authority, AuthorityError, Credential, IssueRequest, Issued, Requester, SubjectSource,
    audit_detail,
};

impl Requester {
    /// A machine renewing with the certificate `serial`.
    pub fn renewal(serial: &str) -> Requester {
        Requester {
            credential: Credential::Renewal {
                serial: serial.to_string(),
            },
        }
    }
}

impl Authority {
    /// Issue the successor of `client_cert` (DER) for `csr` (PEM or DER); with `profile`,
    /// the certificate must be of that profile (an EST label).
    pub async fn renew(
        &self,
        client_cert: &[u8],
        csr: Vec<u8>,
        profile: Option<&str>,
    ) -> Result<Issued, AuthorityError> {
        use x509_parser::prelude::*;
        let deny = |m: &str| AuthorityError::Unauthorized(m.to_string());
        let (_, cert) = X509Certificate::from_der(client_cert)
            .map_err(|_| deny("the client certificate does not parse"))?;
        let serial = moor_core::serial::Serial::from_magnitude(cert.raw_serial()).to_hex();
        let rec = self
            .store()
            .get_certificate(&serial)
            .await?
            .ok_or_else(|| deny("the client certificate was not issued by this CA"))?;
        if rec.der != client_cert {
            return Err(deny("the client certificate does not match the issued one"));
        }
        if rec.status != "valid" {
            return Err(deny("the client certificate is revoked"));
        }
        if let Some(p) = profile
            && p != rec.profile
        {
            return Err(AuthorityError::BadRequest(format!(
                "the certificate is of profile {}, not {p}",
                rec.profile
            )));
        }
        let profile = self
            .profiles()
            .get(&rec.profile)
            .ok_or_else(|| {
                AuthorityError::BadRequest(format!("profile {} no longer exists", rec.profile))
            })?
            .clone();
        if !profile.renewable {
            return Err(deny(
                "certificates of this profile are not renewed by proof; ask an administrator",
            ));
        }
        let now = self.now_unix();
        let grace = i64::try_from(profile.renewal_grace.as_secs()).unwrap_or(i64::MAX);
        if now > rec.not_after.saturating_add(grace) {
            return Err(deny(if grace == 0 {
                "the client certificate has expired"
            } else {
                "the client certificate expired longer ago than the profile's renewal grace"
            }));
        }

        let der = moor_core::csr::decode_csr_input(&csr)?;
        let parsed = moor_core::csr::verify_csr(&der)?;
        let mut asked = BTreeSet::new();
        for id in &parsed.sans {
            asked.insert(id.tagged());
        }
        // The subject stays the same (RFC 7030 §4.2.2): a CN-only certificate cannot turn
        // into another CN; one whose CN is one of its names may drop it.
        let old_cn = cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map(str::to_string);
        let same_cn = match (&parsed.common_name, &old_cn) {
            (Some(new), Some(old)) => new.eq_ignore_ascii_case(old),
            (None, None) => true,
            (None, Some(old)) => rec.sans.iter().any(|s| {
                s.split_once(':')
                    .is_some_and(|(_, v)| v.eq_ignore_ascii_case(old))
            }),
            (Some(_), None) => false,
        };
        if !same_cn {
            return Err(AuthorityError::BadRequest(format!(
                "a renewal keeps the subject: the CSR's CN is {:?}, the certificate's {:?}",
                parsed.common_name, old_cn
            )));
        }
        let current: BTreeSet<String> = rec.sans.iter().cloned().collect();
        if asked != current {
            return Err(AuthorityError::BadRequest(format!(
                "a renewal keeps the names: the CSR asks for [{}], the certificate has [{}]",
                asked.into_iter().collect::<Vec<_>>().join(", "),
                current.into_iter().collect::<Vec<_>>().join(", ")
            )));
        }
        let new_key = parsed.public_key.spki_sha256_hex() != rec.spki_sha256;
        if profile.renewal_requires_new_key && !new_key {
            return Err(AuthorityError::BadRequest(format!(
                "profile {} requires a new key at renewal",
                profile.name
            )));
        }

        let who = Requester::renewal(&serial);
        let issued = self
            .issue(
                &who,
                IssueRequest {
                    profile: rec.profile.clone(),
                    subject: SubjectSource::Csr(der),
                    lifetime: None,
                },
            )
            .await?;
        let audit = NewAuditEntry {
            ts: self.now_unix(),
            actor: who.id(),
            action: "renew".into(),
            subject: issued.serial.clone(),
            detail: audit_detail(&[
                ("predecessor", &serial),
                ("new_key", if new_key { "true" } else { "false" }),
                (
                    "after_expiry",
                    if now > rec.not_after { "true" } else { "false" },
                ),
            ]),
        };
        self.store()
            .enrollment()
            .record_renewal(&issued.serial, &serial, now, audit)
            .await?;
        Ok(issued)
    }
}
