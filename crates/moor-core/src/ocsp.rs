//! OCSP (RFC 6960) encoding: parse requests, build and assemble responses.
//!
//! Pure formats only; the authority decides each certificate's status from the store
//! and signs the `ResponseData` with the issuing CA's key (RFC 6960 §2.6: the CA that
//! issued the certificate may sign responses itself).

use der::asn1::{BitString, GeneralizedTime, Null, ObjectIdentifier, OctetString};
use der::{Decode, Encode};
use spki::AlgorithmIdentifierOwned;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::CrlReason;
use x509_cert::serial_number::SerialNumber;
use x509_ocsp::{
    BasicOcspResponse, CertId, CertStatus, OcspGeneralizedTime, OcspRequest, OcspResponse,
    OcspResponseStatus, ResponderId, ResponseBytes, ResponseData, RevokedInfo, SingleResponse,
    Version,
};

use crate::KeyAlgorithm;
use crate::serial::Serial;

/// id-pkix-ocsp-nonce (RFC 6960 §4.4.1).
pub const OID_NONCE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.2");
/// id-pkix-ocsp-basic.
pub const OID_BASIC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.1");
const OID_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const OID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
/// Most CertIDs answered in one response.
pub const MAX_REQUESTS: usize = 32;
/// Largest request accepted (bytes).
pub const MAX_REQUEST_BYTES: usize = 8 * 1024;

/// Why a request cannot be answered with a status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OcspError {
    /// Not a well-formed OCSP request (answered `malformedRequest`).
    #[error("malformed OCSP request: {0}")]
    Malformed(String),
}

/// What identifies an issuer in CertIDs: hashes of its name and key, per hash algorithm.
#[derive(Debug, Clone)]
pub struct OcspIssuer {
    /// Issuer id.
    pub id: String,
    name_sha1: Vec<u8>,
    key_sha1: Vec<u8>,
    name_sha256: Vec<u8>,
    key_sha256: Vec<u8>,
}

impl OcspIssuer {
    /// From the CA certificate (RFC 6960 §4.1.1: hashes of the issuer's DN and of its
    /// subjectPublicKey BIT STRING value).
    pub fn from_cert_der(id: &str, der: &[u8]) -> Result<OcspIssuer, String> {
        use x509_parser::prelude::*;
        let (_, c) = X509Certificate::from_der(der).map_err(|e| format!("issuer {id}: {e}"))?;
        let name = c.tbs_certificate.subject.as_raw();
        let key = c
            .tbs_certificate
            .subject_pki
            .subject_public_key
            .data
            .as_ref();
        let h = |alg: &'static aws_lc_rs::digest::Algorithm, data: &[u8]| {
            aws_lc_rs::digest::digest(alg, data).as_ref().to_vec()
        };
        Ok(OcspIssuer {
            id: id.to_string(),
            name_sha1: h(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, name),
            key_sha1: h(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, key),
            name_sha256: h(&aws_lc_rs::digest::SHA256, name),
            key_sha256: h(&aws_lc_rs::digest::SHA256, key),
        })
    }

    fn matches(&self, id: &CertId) -> bool {
        let (n, k) = match id.hash_algorithm.oid {
            o if o == OID_SHA1 => (&self.name_sha1, &self.key_sha1),
            o if o == OID_SHA256 => (&self.name_sha256, &self.key_sha256),
            _ => return false,
        };
        id.issuer_name_hash.as_bytes() == n.as_slice()
            && id.issuer_key_hash.as_bytes() == k.as_slice()
    }

    /// The responder id by key (SHA-1 of the key, RFC 6960 §4.2.1).
    pub fn responder_key_hash(&self) -> &[u8] {
        &self.key_sha1
    }
}

/// One CertID of a request, with the issuer it names (if ours) and its serial.
#[derive(Debug, Clone)]
pub struct RequestItem {
    /// Echoed in the response.
    pub cert_id: CertId,
    /// Index into the issuers given to [`parse_request`], if the CertID names one of them.
    pub issuer: Option<usize>,
    /// The serial asked about (None if it is not a positive integer of ≤ 20 octets).
    pub serial: Option<Serial>,
}

/// A parsed request.
#[derive(Debug, Clone)]
pub struct ParsedRequest {
    /// The CertIDs asked about.
    pub items: Vec<RequestItem>,
    /// The nonce to echo (RFC 8954: 1–32 octets).
    pub nonce: Option<Vec<u8>>,
}

/// Parse a DER OCSPRequest and match each CertID against `issuers`.
pub fn parse_request(der: &[u8], issuers: &[OcspIssuer]) -> Result<ParsedRequest, OcspError> {
    if der.is_empty() || der.len() > MAX_REQUEST_BYTES {
        return Err(OcspError::Malformed(format!(
            "request must be 1..{MAX_REQUEST_BYTES} bytes"
        )));
    }
    let req = OcspRequest::from_der(der).map_err(|e| OcspError::Malformed(e.to_string()))?;
    let list = &req.tbs_request.request_list;
    if list.is_empty() || list.len() > MAX_REQUESTS {
        return Err(OcspError::Malformed(format!(
            "request must name 1..{MAX_REQUESTS} certificates"
        )));
    }
    let mut nonce = None;
    for ext in req.tbs_request.request_extensions.iter().flatten() {
        if ext.extn_id == OID_NONCE {
            // The extension value is an OCTET STRING holding the nonce (RFC 8954 §2.1).
            let inner = OctetString::from_der(ext.extn_value.as_bytes())
                .map(|o| o.as_bytes().to_vec())
                .unwrap_or_else(|_| ext.extn_value.as_bytes().to_vec());
            if inner.is_empty() || inner.len() > 32 {
                return Err(OcspError::Malformed(
                    "nonce must be 1-32 octets (RFC 8954)".into(),
                ));
            }
            nonce = Some(inner);
        } else if ext.critical {
            return Err(OcspError::Malformed(format!(
                "unsupported critical extension {}",
                ext.extn_id
            )));
        }
    }
    let items = list
        .iter()
        .map(|r| {
            let raw = r.req_cert.serial_number.as_bytes();
            let serial = (!raw.is_empty() && raw.len() <= 21 && raw[0] & 0x80 == 0)
                .then(|| Serial::from_magnitude(raw))
                .filter(|s| !s.as_bytes().is_empty() && s.as_bytes().len() <= 20);
            RequestItem {
                cert_id: r.req_cert.clone(),
                issuer: issuers.iter().position(|i| i.matches(&r.req_cert)),
                serial,
            }
        })
        .collect();
    Ok(ParsedRequest { items, nonce })
}

/// The status of one certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Issued by us and not revoked.
    Good,
    /// Revoked at (unix seconds) for reason (RFC 5280 code; 0 is sent without a reason).
    Revoked { at: i64, reason: i32 },
    /// Not issued by us (never `good`, BR 4.9.10).
    Unknown,
}

fn gtime(unix: i64) -> Result<OcspGeneralizedTime, String> {
    let secs = u64::try_from(unix).map_err(|_| "time before 1970".to_string())?;
    GeneralizedTime::from_unix_duration(std::time::Duration::from_secs(secs))
        .map(OcspGeneralizedTime)
        .map_err(|e| e.to_string())
}

/// Build the `ResponseData` (the signed part) for `answers`, DER.
pub fn response_data(
    issuer: &OcspIssuer,
    answers: &[(CertId, Status)],
    produced_at: i64,
    this_update: i64,
    next_update: i64,
    nonce: Option<&[u8]>,
) -> Result<Vec<u8>, String> {
    let mut responses = Vec::with_capacity(answers.len());
    for (id, status) in answers {
        let cert_status = match *status {
            Status::Good => CertStatus::Good(Null),
            Status::Unknown => CertStatus::Unknown(Null),
            Status::Revoked { at, reason } => CertStatus::Revoked(RevokedInfo {
                revocation_time: gtime(at)?,
                revocation_reason: crl_reason(reason),
            }),
        };
        responses.push(SingleResponse {
            cert_id: id.clone(),
            cert_status,
            this_update: gtime(this_update)?,
            next_update: Some(gtime(next_update)?),
            single_extensions: None,
        });
    }
    let response_extensions = match nonce {
        Some(n) => {
            let value = OctetString::new(n.to_vec())
                .and_then(|o| o.to_der())
                .map_err(|e| e.to_string())?;
            Some(vec![Extension {
                extn_id: OID_NONCE,
                critical: false,
                extn_value: OctetString::new(value).map_err(|e| e.to_string())?,
            }])
        }
        None => None,
    };
    let data = ResponseData {
        version: Version::V1,
        responder_id: ResponderId::ByKey(
            OctetString::new(issuer.responder_key_hash().to_vec()).map_err(|e| e.to_string())?,
        ),
        produced_at: gtime(produced_at)?,
        responses,
        response_extensions,
    };
    data.to_der().map_err(|e| e.to_string())
}

fn crl_reason(code: i32) -> Option<CrlReason> {
    Some(match code {
        1 => CrlReason::KeyCompromise,
        2 => CrlReason::CaCompromise,
        3 => CrlReason::AffiliationChanged,
        4 => CrlReason::Superseded,
        5 => CrlReason::CessationOfOperation,
        9 => CrlReason::PrivilegeWithdrawn,
        10 => CrlReason::AaCompromise,
        _ => return None,
    })
}

/// The AlgorithmIdentifier of signatures made by a CA key of `alg`.
pub fn signature_algorithm(alg: KeyAlgorithm) -> AlgorithmIdentifierOwned {
    let (oid, null_params) = match alg {
        KeyAlgorithm::EcdsaP256 => ("1.2.840.10045.4.3.2", false),
        KeyAlgorithm::EcdsaP384 => ("1.2.840.10045.4.3.3", false),
        KeyAlgorithm::Ed25519 => ("1.3.101.112", false),
        // RSA PKCS#1 v1.5 with SHA-256; RFC 4055 wants explicit NULL parameters.
        KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => {
            ("1.2.840.113549.1.1.11", true)
        }
        KeyAlgorithm::MlDsa44 => ("2.16.840.1.101.3.4.3.17", false),
        KeyAlgorithm::MlDsa65 => ("2.16.840.1.101.3.4.3.18", false),
        KeyAlgorithm::MlDsa87 => ("2.16.840.1.101.3.4.3.19", false),
    };
    AlgorithmIdentifierOwned {
        oid: ObjectIdentifier::new_unwrap(oid),
        parameters: null_params.then(|| der::Any::from(Null)),
    }
}

/// Assemble a successful response from the signed `ResponseData` DER and its signature.
pub fn assemble(
    response_data_der: &[u8],
    alg: KeyAlgorithm,
    signature: &[u8],
) -> Result<Vec<u8>, String> {
    let tbs = ResponseData::from_der(response_data_der).map_err(|e| e.to_string())?;
    let basic = BasicOcspResponse {
        tbs_response_data: tbs,
        signature_algorithm: signature_algorithm(alg),
        signature: BitString::from_bytes(signature).map_err(|e| e.to_string())?,
        certs: None,
    };
    let resp = OcspResponse {
        response_status: OcspResponseStatus::Successful,
        response_bytes: Some(ResponseBytes {
            response_type: OID_BASIC,
            response: OctetString::new(basic.to_der().map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?,
        }),
    };
    resp.to_der().map_err(|e| e.to_string())
}

/// An unsuccessful response (`malformedRequest`, `unauthorized`, `internalError`, …).
pub fn error_response(status: OcspResponseStatus) -> Vec<u8> {
    // OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED } — 5 bytes, cannot fail.
    vec![0x30, 0x03, 0x0a, 0x01, status as u8]
}

/// Serial of a request item as x509-cert's type (for tests and clients).
pub fn serial_number(s: &Serial) -> Option<SerialNumber> {
    SerialNumber::new(s.as_bytes()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junk_is_malformed_and_error_responses_decode() {
        for junk in [&b""[..], b"\x30\x00", b"hello", &[0x30u8; 9000][..]] {
            assert!(parse_request(junk, &[]).is_err());
        }
        for s in [
            OcspResponseStatus::MalformedRequest,
            OcspResponseStatus::Unauthorized,
            OcspResponseStatus::InternalError,
        ] {
            let r = OcspResponse::from_der(&error_response(s)).unwrap();
            assert_eq!(r.response_status, s);
            assert!(r.response_bytes.is_none());
        }
    }
}
