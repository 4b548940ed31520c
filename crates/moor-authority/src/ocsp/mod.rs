//! The OCSP responder (RFC 6960): each response is signed by the issuing CA itself.
//!
//! Never `good` for a serial we did not issue (BR 4.9.10: `unknown`); `unauthorized`
//! when the request names none of our issuers; `malformedRequest` for anything that
//! does not parse. Validity: thisUpdate = now, nextUpdate = now + 1 day (between the
//! 8 hours and 10 days the Baseline Requirements allow). The nonce (RFC 8954) is echoed.

use std::time::Duration;

use moor_core::ocsp::{self, OcspError, Status};
use x509_ocsp::OcspResponseStatus;

use crate::Authority;

/// nextUpdate − thisUpdate of every response.
pub const OCSP_VALIDITY: Duration = Duration::from_secs(86_400);

/// What the responder answered (for metrics and logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OcspOutcome {
    /// Statuses were given.
    Answered,
    /// The request did not parse.
    Malformed,
    /// None of our issuers was named.
    Unauthorized,
    /// Signing or the store failed.
    InternalError,
}

impl Authority {
    /// Answer a DER OCSPRequest with a DER OCSPResponse.
    pub async fn ocsp(&self, request: &[u8]) -> (Vec<u8>, OcspOutcome) {
        let (der, outcome) = self.ocsp_inner(request).await;
        self.metrics.ocsp(match outcome {
            OcspOutcome::Answered => "successful",
            OcspOutcome::Malformed => "malformed_request",
            OcspOutcome::Unauthorized => "unauthorized",
            OcspOutcome::InternalError => "internal_error",
        });
        (der, outcome)
    }

    async fn ocsp_inner(&self, request: &[u8]) -> (Vec<u8>, OcspOutcome) {
        let parsed = match ocsp::parse_request(request, &self.ocsp_issuers) {
            Ok(p) => p,
            Err(OcspError::Malformed(why)) => {
                tracing::debug!(%why, "malformed OCSP request");
                return (
                    ocsp::error_response(OcspResponseStatus::MalformedRequest),
                    OcspOutcome::Malformed,
                );
            }
        };
        // One response is signed by one CA: the issuer of the first CertID.
        let Some(idx) = parsed.items.first().and_then(|i| i.issuer) else {
            return (
                ocsp::error_response(OcspResponseStatus::Unauthorized),
                OcspOutcome::Unauthorized,
            );
        };
        let ocsp_issuer = &self.ocsp_issuers[idx];
        let Some(issuer) = self.issuers.get(&ocsp_issuer.id) else {
            return (
                ocsp::error_response(OcspResponseStatus::Unauthorized),
                OcspOutcome::Unauthorized,
            );
        };
        let mut answers = Vec::with_capacity(parsed.items.len());
        for item in &parsed.items {
            let status = match (&item.serial, item.issuer == Some(idx)) {
                (Some(serial), true) => match self.store.get_certificate(&serial.to_hex()).await {
                    Ok(Some(rec)) if rec.issuer_id == ocsp_issuer.id => {
                        match (rec.status.as_str(), rec.revoked_at) {
                            ("revoked", Some(at)) => Status::Revoked {
                                at,
                                reason: rec.revocation_reason.unwrap_or(0),
                            },
                            _ => Status::Good,
                        }
                    }
                    Ok(_) => Status::Unknown,
                    Err(e) => {
                        tracing::error!(error = %e, "OCSP status lookup failed");
                        return (
                            ocsp::error_response(OcspResponseStatus::InternalError),
                            OcspOutcome::InternalError,
                        );
                    }
                },
                // Another issuer's CertID in the same request, or a serial that cannot be ours.
                _ => Status::Unknown,
            };
            answers.push((item.cert_id.clone(), status));
        }
        let now = self.clock.now().unix_timestamp();
        let data = match ocsp::response_data(
            ocsp_issuer,
            &answers,
            now,
            now,
            now + OCSP_VALIDITY.as_secs() as i64,
            parsed.nonce.as_deref(),
        ) {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "OCSP response encoding failed");
                return (
                    ocsp::error_response(OcspResponseStatus::InternalError),
                    OcspOutcome::InternalError,
                );
            }
        };
        let signer = issuer.signer.clone();
        let alg = signer.algorithm();
        let signed =
            tokio::task::spawn_blocking(move || signer.sign(&data).map(|sig| (data, sig))).await;
        match signed {
            Ok(Ok((data, sig))) => match ocsp::assemble(&data, alg, &sig) {
                Ok(der) => (der, OcspOutcome::Answered),
                Err(e) => {
                    tracing::error!(error = %e, "OCSP response assembly failed");
                    (
                        ocsp::error_response(OcspResponseStatus::InternalError),
                        OcspOutcome::InternalError,
                    )
                }
            },
            _ => (
                ocsp::error_response(OcspResponseStatus::InternalError),
                OcspOutcome::InternalError,
            ),
        }
    }
}
