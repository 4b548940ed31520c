//! ACME Renewal Information (RFC 9773).

use super::*;

impl AcmeService {
    /// ARI (RFC 9773 §4.1): the suggested renewal window `(start, end)` of the certificate
    /// named by `cert_id` (`base64url(AKI keyIdentifier) "." base64url(serial)`). The
    /// window is the sixth of the lifetime after its first two thirds; a revoked
    /// certificate should be replaced at once (a window ending now).
    pub async fn renewal_info(&self, cert_id: &str) -> Result<(i64, i64), AcmeError> {
        let (aki_b64, serial_b64) = cert_id
            .split_once('.')
            .ok_or_else(|| AcmeError::malformed("a certificate id is AKI.serial (RFC 9773)"))?;
        let aki = b64url_decode(aki_b64, "certificate id keyIdentifier")?;
        let serial = b64url_decode(serial_b64, "certificate id serial")?;
        if serial.is_empty() || serial.len() > 21 {
            return Err(AcmeError::malformed("the serial is 1 to 20 octets"));
        }
        let serial_hex = hex::encode(&serial);
        let not_found = || AcmeError::malformed("no such certificate").with_status(404);
        let rec = self
            .authority
            .store()
            .get_certificate(serial_hex.trim_start_matches("00"))
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
        let now = self.now();
        if rec.status == "revoked" {
            return Ok((now - 3600, now));
        }
        let lifetime = (rec.not_after - rec.not_before).max(3);
        let start = rec.not_before + lifetime * 2 / 3;
        Ok((start, start + lifetime / 6))
    }
}
