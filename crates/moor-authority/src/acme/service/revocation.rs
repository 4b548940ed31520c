//! revokeCert (RFC 8555 §7.6).

use super::*;

#[derive(Debug, Deserialize)]
pub(super) struct RevokePayload {
    certificate: String,
    #[serde(default)]
    reason: Option<i32>,
}

impl AcmeService {
    /// revokeCert (RFC 8555 §7.6): by the account that ordered the certificate, or signed
    /// with the certificate's key; through [`Authority::revoke`].
    pub async fn revoke(&self, req: &Authenticated) -> Result<(), AcmeError> {
        let payload: RevokePayload = req.jws.payload_json()?;
        let reason = payload.reason.unwrap_or(0);
        if !(0..=10).contains(&reason) || reason == 6 || reason == 7 {
            return Err(AcmeError::new(
                ProblemType::BadRevocationReason,
                format!("reason {reason} is not allowed (0-5, 8-10)"),
            ));
        }
        let der = b64url_decode(&payload.certificate, "certificate")?;
        let (_, cert) = x509_parser::parse_x509_certificate(&der)
            .map_err(|_| AcmeError::malformed("the certificate does not parse"))?;
        let serial = hex::encode(cert.raw_serial());
        let serial = serial.trim_start_matches("00");
        let rec = self.certificate_record(serial).await?;
        if rec.der != der {
            return Err(AcmeError::malformed("unknown certificate").with_status(404));
        }
        let who = match &req.account {
            Some(a) if rec.requester == format!("acme:{}", a.id) => Requester::acme_account(&a.id),
            Some(_) => {
                return Err(AcmeError::unauthorized(
                    "this account did not order the certificate",
                ));
            }
            None => {
                if req.key.spki_der() != cert.tbs_certificate.subject_pki.raw {
                    return Err(AcmeError::unauthorized(
                        "the request is not signed by the certificate's key",
                    ));
                }
                Requester::acme_account(&format!("certkey:{}", rec.spki_sha256))
            }
        };
        match self.authority.revoke(&who, &rec.serial_hex, reason).await {
            Ok(_) => Ok(()),
            Err(AuthorityError::AlreadyRevoked(s)) => Err(AcmeError::new(
                ProblemType::AlreadyRevoked,
                format!("certificate {s} is already revoked"),
            )),
            Err(e) => Err(AcmeError::from(authority_problem(&e))),
        }
    }
}
