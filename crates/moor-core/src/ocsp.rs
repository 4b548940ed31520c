//! OCSP (RFC 6960) encoding: parse requests, build and assemble responses, and the
//! delegated responder certificate (template and lint-before-sign).
//!
//! Pure formats only. The authority decides each certificate's status from the store
//! and signs the `ResponseData` with a delegated responder key (RFC 6960 §4.2.2.2: a
//! certificate issued by the CA with id-kp-OCSPSigning), or with the issuing CA's own
//! key when no responder certificate could be issued.

use std::time::Duration;

use ::time::OffsetDateTime;
use der::asn1::{GeneralizedTime, Null, ObjectIdentifier, OctetString};
use der::{Decode, Encode};
use spki::AlgorithmIdentifierOwned;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::CrlReason;
use x509_cert::serial_number::SerialNumber;
use x509_ocsp::{
    CertId, CertStatus, OcspGeneralizedTime, OcspRequest, OcspResponseStatus, ResponderId,
    ResponseData, RevokedInfo, SingleResponse, Version,
};
use x509_parser::prelude::{FromDer, ParsedExtension, TbsCertificate, X509Version};

use crate::KeyAlgorithm;
use crate::refusal::{Refusal, RefusalCode};
use crate::serial::Serial;
use crate::template::{BACKDATE, IssuerFacts, der_tlv};

/// id-pkix-ocsp-nonce (RFC 6960 §4.4.1).
pub const OID_NONCE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.2");
/// id-pkix-ocsp-basic.
pub const OID_BASIC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.1");
/// id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1), as rcgen arcs.
pub const OID_OCSP_NOCHECK: [u64; 10] = [1, 3, 6, 1, 5, 5, 7, 48, 1, 5];
const OID_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const OID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
/// Most CertIDs answered in one response.
pub const MAX_REQUESTS: usize = 32;
/// Largest request accepted (bytes).
pub const MAX_REQUEST_BYTES: usize = 8 * 1024;
/// Longest nonce accepted (RFC 8954 §2.1: 1–32 octets).
pub const MAX_NONCE_BYTES: usize = 32;
/// The profile name a delegated responder certificate is recorded under.
pub const RESPONDER_PROFILE: &str = "ocsp-responder";
/// Longest lifetime a responder certificate may have (the lint enforces it).
pub const RESPONDER_MAX_LIFETIME: Duration = Duration::from_secs(10 * 86_400);

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

    /// The issuer's responder id by key (SHA-1 of its key, RFC 6960 §4.2.1), used when the
    /// CA signs its own responses.
    pub fn responder_key_hash(&self) -> &[u8] {
        &self.key_sha1
    }
}

/// The responderID byKey of a key: SHA-1 of its subjectPublicKey BIT STRING value
/// (RFC 6960 §4.2.1), i.e. of a signer's `public_key_raw`.
pub fn key_hash(public_key_raw: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, public_key_raw)
        .as_ref()
        .to_vec()
}

/// How a CertID names its hash algorithm: the response echoes the CertID, so a cached
/// response is only reused for a CertID encoded the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertIdHash {
    /// SHA-1, parameters absent.
    Sha1,
    /// SHA-1 with NULL parameters (what OpenSSL sends).
    Sha1Null,
    /// SHA-256, parameters absent.
    Sha256,
    /// SHA-256 with NULL parameters.
    Sha256Null,
}

impl CertIdHash {
    fn of(alg: &AlgorithmIdentifierOwned) -> Option<CertIdHash> {
        let null = match &alg.parameters {
            None => false,
            Some(p) if der::Tagged::tag(p) == der::Tag::Null && p.value().is_empty() => true,
            Some(_) => return None,
        };
        Some(match (alg.oid, null) {
            (o, false) if o == OID_SHA1 => CertIdHash::Sha1,
            (o, true) if o == OID_SHA1 => CertIdHash::Sha1Null,
            (o, false) if o == OID_SHA256 => CertIdHash::Sha256,
            (o, true) if o == OID_SHA256 => CertIdHash::Sha256Null,
            _ => return None,
        })
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
    /// The CertID's hash algorithm encoding (None: not SHA-1/SHA-256 with absent or NULL
    /// parameters).
    pub hash: Option<CertIdHash>,
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
///
/// Bounded: at most [`MAX_REQUEST_BYTES`], 1..=[`MAX_REQUESTS`] CertIDs, a nonce of
/// 1..=[`MAX_NONCE_BYTES`] octets; an unknown critical extension is refused. Never panics.
pub fn parse_request(der: &[u8], issuers: &[OcspIssuer]) -> Result<ParsedRequest, OcspError> {
    if der.is_empty() || der.len() > MAX_REQUEST_BYTES {
        return Err(OcspError::Malformed(format!(
            "request must be 1..{MAX_REQUEST_BYTES} bytes"
        )));
    }
    let req = OcspRequest::from_der(der).map_err(|e| OcspError::Malformed(e.to_string()))?;
    let tbs = req.tbs_request;
    if tbs.request_list.is_empty() || tbs.request_list.len() > MAX_REQUESTS {
        return Err(OcspError::Malformed(format!(
            "request must name 1..{MAX_REQUESTS} certificates"
        )));
    }
    let mut nonce = None;
    for ext in tbs.request_extensions.iter().flatten() {
        if ext.extn_id == OID_NONCE {
            if nonce.is_some() {
                return Err(OcspError::Malformed("two nonce extensions".into()));
            }
            // The extension value is an OCTET STRING holding the nonce (RFC 8954 §2.1).
            let inner = OctetString::from_der(ext.extn_value.as_bytes())
                .map(|o| o.as_bytes().to_vec())
                .unwrap_or_else(|_| ext.extn_value.as_bytes().to_vec());
            if inner.is_empty() || inner.len() > MAX_NONCE_BYTES {
                return Err(OcspError::Malformed(format!(
                    "nonce must be 1-{MAX_NONCE_BYTES} octets (RFC 8954)"
                )));
            }
            nonce = Some(inner);
        } else if ext.critical {
            return Err(OcspError::Malformed(format!(
                "unsupported critical extension {}",
                ext.extn_id
            )));
        }
    }
    let items = tbs
        .request_list
        .into_iter()
        .map(|r| {
            let raw = r.req_cert.serial_number.as_bytes();
            let serial = (!raw.is_empty() && raw.len() <= 21 && raw[0] & 0x80 == 0)
                .then(|| Serial::from_magnitude(raw))
                .filter(|s| !s.as_bytes().is_empty() && s.as_bytes().len() <= 20);
            RequestItem {
                issuer: issuers.iter().position(|i| i.matches(&r.req_cert)),
                hash: CertIdHash::of(&r.req_cert.hash_algorithm),
                cert_id: r.req_cert,
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

/// Build the `ResponseData` (the signed part) for `answers`, DER. `responder_key_hash`
/// is the SHA-1 of the signing key ([`key_hash`]): responderID byKey.
pub fn response_data(
    responder_key_hash: &[u8],
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
            OctetString::new(responder_key_hash.to_vec()).map_err(|e| e.to_string())?,
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

/// The AlgorithmIdentifier of signatures made by a key of `alg`.
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

/// Assemble a successful response from the signed `ResponseData` DER, its signature and
/// the certificates that help verify it (the delegated responder's certificate; none when
/// the issuing CA signed).
///
/// ```text
/// OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED (0), responseBytes [0] EXPLICIT
///   SEQUENCE { responseType id-pkix-ocsp-basic, response OCTET STRING (BasicOCSPResponse) } }
/// BasicOCSPResponse ::= SEQUENCE { tbsResponseData, signatureAlgorithm, signature BIT STRING,
///   certs [0] EXPLICIT SEQUENCE OF Certificate OPTIONAL }
/// ```
pub fn assemble(
    response_data_der: &[u8],
    alg: KeyAlgorithm,
    signature: &[u8],
    certs: &[&[u8]],
) -> Result<Vec<u8>, String> {
    // Concatenated from DER parts (the ResponseData is embedded byte for byte as signed).
    let (tag, _) = der_header(response_data_der).ok_or("ResponseData is not DER")?;
    if tag != 0x30 {
        return Err("ResponseData is not a SEQUENCE".into());
    }
    let mut basic = Vec::with_capacity(response_data_der.len() + signature.len() + 64);
    basic.extend_from_slice(response_data_der);
    basic.extend(
        signature_algorithm(alg)
            .to_der()
            .map_err(|e| e.to_string())?,
    );
    let mut bits = Vec::with_capacity(signature.len() + 1);
    bits.push(0); // no unused bits
    bits.extend_from_slice(signature);
    basic.extend(der_tlv(0x03, &bits));
    if !certs.is_empty() {
        let mut seq = Vec::new();
        for c in certs {
            if der_header(c).map(|(t, _)| t) != Some(0x30) {
                return Err("certificate is not DER".into());
            }
            seq.extend_from_slice(c);
        }
        basic.extend(der_tlv(0xa0, &der_tlv(0x30, &seq)));
    }
    let basic = der_tlv(0x30, &basic);
    let mut bytes = der_tlv(0x06, OID_BASIC.as_bytes());
    bytes.extend(der_tlv(0x04, &basic));
    let mut resp = vec![0x0a, 0x01, 0x00]; // successful
    resp.extend(der_tlv(0xa0, &der_tlv(0x30, &bytes)));
    Ok(der_tlv(0x30, &resp))
}

/// Tag and total length of the DER TLV that `der` must consist of exactly.
fn der_header(der: &[u8]) -> Option<(u8, usize)> {
    let tag = *der.first()?;
    let first = *der.get(1)?;
    let (len, hdr) = if first < 0x80 {
        (first as usize, 2)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for b in der.get(2..2 + n)? {
            len = (len << 8) | *b as usize;
        }
        (len, 2 + n)
    };
    (hdr + len == der.len()).then_some((tag, der.len()))
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

// ------------------------------------------------------------- client side ----

/// A DER OCSPRequest for `serials` of the CA certificate `issuer_cert_der`, with CertIDs
/// hashed as `hash` and an optional nonce (tests, benchmarks, tooling).
pub fn request_der(
    issuer_cert_der: &[u8],
    serials: &[Serial],
    hash: CertIdHash,
    nonce: Option<&[u8]>,
) -> Result<Vec<u8>, String> {
    use x509_ocsp::{Request, TbsRequest};
    use x509_parser::prelude::X509Certificate;
    let (_, c) = X509Certificate::from_der(issuer_cert_der).map_err(|e| e.to_string())?;
    let (alg, oid, null) = match hash {
        CertIdHash::Sha1 => (
            &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
            OID_SHA1,
            false,
        ),
        CertIdHash::Sha1Null => (&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, OID_SHA1, true),
        CertIdHash::Sha256 => (&aws_lc_rs::digest::SHA256, OID_SHA256, false),
        CertIdHash::Sha256Null => (&aws_lc_rs::digest::SHA256, OID_SHA256, true),
    };
    let h = |d: &[u8]| {
        OctetString::new(aws_lc_rs::digest::digest(alg, d).as_ref().to_vec())
            .map_err(|e| e.to_string())
    };
    let name_hash = h(c.tbs_certificate.subject.as_raw())?;
    let key_hash = h(&c.tbs_certificate.subject_pki.subject_public_key.data)?;
    let request_list = serials
        .iter()
        .map(|s| {
            Ok(Request {
                req_cert: CertId {
                    hash_algorithm: AlgorithmIdentifierOwned {
                        oid,
                        parameters: null.then(|| der::Any::from(Null)),
                    },
                    issuer_name_hash: name_hash.clone(),
                    issuer_key_hash: key_hash.clone(),
                    serial_number: serial_number(s).ok_or("bad serial")?,
                },
                single_request_extensions: None,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let request_extensions = match nonce {
        Some(n) => {
            let inner = OctetString::new(n.to_vec())
                .and_then(|o| o.to_der())
                .map_err(|e| e.to_string())?;
            Some(vec![Extension {
                extn_id: OID_NONCE,
                critical: false,
                extn_value: OctetString::new(inner).map_err(|e| e.to_string())?,
            }])
        }
        None => None,
    };
    OcspRequest {
        tbs_request: TbsRequest {
            version: Version::V1,
            requestor_name: None,
            request_list,
            request_extensions,
        },
        optional_signature: None,
    }
    .to_der()
    .map_err(|e| e.to_string())
}

/// One SingleResponse as a client reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The serial of the CertID.
    pub serial: Serial,
    /// Its hash form.
    pub hash: Option<CertIdHash>,
    /// The status (revocation reason 0 when none was given).
    pub status: Status,
    /// thisUpdate (unix seconds).
    pub this_update: i64,
    /// nextUpdate (unix seconds).
    pub next_update: Option<i64>,
}

/// A decoded OCSPResponse (tests, benchmarks, tooling). The signature is not verified.
#[derive(Debug, Clone)]
pub struct ResponseSummary {
    /// responseStatus.
    pub status: OcspResponseStatus,
    /// responderID byKey (None for byName or without response bytes).
    pub responder_key_hash: Option<Vec<u8>>,
    /// producedAt (unix seconds; 0 without response bytes).
    pub produced_at: i64,
    /// The echoed nonce.
    pub nonce: Option<Vec<u8>>,
    /// The SingleResponses.
    pub answers: Vec<Answer>,
    /// The certificates in `certs`, DER.
    pub certs: Vec<Vec<u8>>,
    /// The signed tbsResponseData, DER.
    pub signed_der: Vec<u8>,
    /// The signature value.
    pub signature: Vec<u8>,
    /// The signature algorithm.
    pub signature_algorithm: AlgorithmIdentifierOwned,
}

fn unix(t: &OcspGeneralizedTime) -> i64 {
    t.0.to_unix_duration().as_secs() as i64
}

/// Decode a DER OCSPResponse.
pub fn summarize_response(der: &[u8]) -> Result<ResponseSummary, String> {
    use x509_ocsp::{BasicOcspResponse, OcspResponse};
    let r = OcspResponse::from_der(der).map_err(|e| e.to_string())?;
    let mut out = ResponseSummary {
        status: r.response_status,
        responder_key_hash: None,
        produced_at: 0,
        nonce: None,
        answers: vec![],
        certs: vec![],
        signed_der: vec![],
        signature: vec![],
        signature_algorithm: signature_algorithm(KeyAlgorithm::EcdsaP256),
    };
    let Some(bytes) = r.response_bytes else {
        return Ok(out);
    };
    if bytes.response_type != OID_BASIC {
        return Err("not a basic OCSP response".into());
    }
    let basic =
        BasicOcspResponse::from_der(bytes.response.as_bytes()).map_err(|e| e.to_string())?;
    let data = &basic.tbs_response_data;
    if let ResponderId::ByKey(k) = &data.responder_id {
        out.responder_key_hash = Some(k.as_bytes().to_vec());
    }
    out.produced_at = unix(&data.produced_at);
    for ext in data.response_extensions.iter().flatten() {
        if ext.extn_id == OID_NONCE {
            let n = OctetString::from_der(ext.extn_value.as_bytes()).map_err(|e| e.to_string())?;
            out.nonce = Some(n.as_bytes().to_vec());
        }
    }
    for single in &data.responses {
        let status = match &single.cert_status {
            CertStatus::Good(_) => Status::Good,
            CertStatus::Unknown(_) => Status::Unknown,
            CertStatus::Revoked(info) => Status::Revoked {
                at: unix(&info.revocation_time),
                reason: info.revocation_reason.map(|r| r as i32).unwrap_or(0),
            },
        };
        out.answers.push(Answer {
            serial: Serial::from_magnitude(single.cert_id.serial_number.as_bytes()),
            hash: CertIdHash::of(&single.cert_id.hash_algorithm),
            status,
            this_update: unix(&single.this_update),
            next_update: single.next_update.as_ref().map(unix),
        });
    }
    for c in basic.certs.iter().flatten() {
        out.certs.push(c.to_der().map_err(|e| e.to_string())?);
    }
    out.signed_der = data.to_der().map_err(|e| e.to_string())?;
    out.signature = basic.signature.raw_bytes().to_vec();
    out.signature_algorithm = basic.signature_algorithm;
    Ok(out)
}

// ----------------------------------------------------- responder certificate ----

/// What the responder certificate's TBS must contain; checked by [`lint_responder_tbs`].
#[derive(Debug, Clone)]
pub struct ResponderExpectations {
    pub serial: Serial,
    pub issuer_subject_der: Vec<u8>,
    pub issuer_ski: Vec<u8>,
    pub issuer_not_after: OffsetDateTime,
    pub spki_der: Vec<u8>,
    pub common_name: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

/// A responder certificate ready to be linted and signed.
#[derive(Debug)]
pub struct ResponderTemplate {
    /// The rcgen parameters.
    pub params: rcgen::CertificateParams,
    /// What the lint must find in the TBS.
    pub expect: ResponderExpectations,
}

/// The subject CN of `issuer_id`'s responder: `<issuer id> OCSP Responder`, ≤ 64 characters.
pub fn responder_common_name(issuer_id: &str) -> String {
    let suffix = " OCSP Responder";
    let keep = crate::limits::MAX_COMMON_NAME_LEN - suffix.len();
    let id: String = issuer_id.chars().take(keep).collect();
    format!("{id}{suffix}")
}

/// The delegated OCSP responder certificate for `issuer` and the key `spki_der`
/// (RFC 6960 §4.2.2.2): cA=FALSE, keyUsage digitalSignature (critical), EKU
/// id-kp-OCSPSigning only, id-pkix-ocsp-nocheck (NULL, non-critical), SKI and AKI.
/// Validity starts [`BACKDATE`] before `now` and lasts `lifetime` (inclusive), capped at
/// the issuer's notAfter.
pub fn responder_template(
    issuer: &IssuerFacts,
    spki_der: &[u8],
    serial: Serial,
    now: OffsetDateTime,
    lifetime: Duration,
) -> Result<ResponderTemplate, Refusal> {
    if lifetime > RESPONDER_MAX_LIFETIME || lifetime < Duration::from_secs(3600) {
        return Err(Refusal::new(
            RefusalCode::ProfileViolation,
            "responder certificate lifetime must be 1 hour to 10 days",
        ));
    }
    let now = now.replace_nanosecond(0).unwrap_or(now);
    let not_before = now - BACKDATE;
    let mut not_after = not_before + lifetime - Duration::from_secs(1);
    if not_after > issuer.not_after {
        not_after = issuer.not_after;
    }
    if not_after <= now {
        return Err(Refusal::new(
            RefusalCode::ProfileViolation,
            format!(
                "issuer {} expires too soon to certify a responder",
                issuer.id
            ),
        ));
    }
    let common_name = responder_common_name(&issuer.id);
    let mut params = rcgen::CertificateParams::default();
    params.serial_number = Some(serial.to_rcgen());
    params.not_before = not_before;
    params.not_after = not_after;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, common_name.as_str());
    params.is_ca = rcgen::IsCa::ExplicitNoCa;
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::OcspSigning];
    params.use_authority_key_identifier_extension = true;
    params
        .custom_extensions
        .push(rcgen::CustomExtension::from_oid_content(
            &OID_OCSP_NOCHECK,
            vec![0x05, 0x00],
        ));
    Ok(ResponderTemplate {
        params,
        expect: ResponderExpectations {
            serial,
            issuer_subject_der: issuer.subject_der.clone(),
            issuer_ski: issuer.ski.clone(),
            issuer_not_after: issuer.not_after,
            spki_der: spki_der.to_vec(),
            common_name,
            not_before,
            not_after,
        },
    })
}

fn fail(rule: &str, detail: impl std::fmt::Display) -> Refusal {
    Refusal::new(RefusalCode::LintFailed, format!("{rule}: {detail}"))
}

/// Lint-before-sign for the responder certificate: the DER TBSCertificate `tbs` must be
/// exactly what [`responder_template`] promised. Returns the first failure.
pub fn lint_responder_tbs(tbs: &[u8], expect: &ResponderExpectations) -> Result<(), Refusal> {
    let (rest, tbs) = TbsCertificate::from_der(tbs).map_err(|e| fail("tbs.decode", e))?;
    if !rest.is_empty() {
        return Err(fail("tbs.trailing", "trailing bytes after TBSCertificate"));
    }
    if tbs.version != X509Version::V3 {
        return Err(fail("version", "certificate is not v3"));
    }
    let raw_serial = tbs.raw_serial();
    if raw_serial.is_empty() || raw_serial.len() > 20 || raw_serial[0] & 0x80 != 0 {
        return Err(fail(
            "serial.encoding",
            "serial must be a positive INTEGER of at most 20 octets",
        ));
    }
    let serial = Serial::from_magnitude(raw_serial);
    if serial != expect.serial {
        return Err(fail(
            "serial.value",
            "serial differs from the one allocated",
        ));
    }
    if serial.as_bytes().len() < 8 {
        return Err(fail("serial.entropy", "serial has fewer than 64 bits"));
    }
    if tbs.issuer.as_raw() != expect.issuer_subject_der.as_slice() {
        return Err(fail(
            "issuer.name",
            "issuer name differs from the CA certificate's subject",
        ));
    }
    let nb = tbs.validity.not_before.timestamp();
    let na = tbs.validity.not_after.timestamp();
    if nb != expect.not_before.unix_timestamp() || na != expect.not_after.unix_timestamp() {
        return Err(fail("validity.value", "validity differs from the template"));
    }
    if na < nb || (na - nb + 1) as u64 > RESPONDER_MAX_LIFETIME.as_secs() {
        return Err(fail(
            "validity.length",
            "a responder certificate lives at most 10 days",
        ));
    }
    if na > expect.issuer_not_after.unix_timestamp() {
        return Err(fail("validity.issuer", "certificate outlives its issuer"));
    }
    if tbs.subject_pki.raw != expect.spki_der.as_slice() {
        return Err(fail(
            "spki",
            "subjectPublicKeyInfo differs from the responder key",
        ));
    }
    let cns: Vec<&str> = tbs
        .subject
        .iter_common_name()
        .map(|cn| cn.as_str().map_err(|_| fail("subject.cn", "not a string")))
        .collect::<Result<_, _>>()?;
    if cns != [expect.common_name.as_str()] || tbs.subject.iter_attributes().count() != 1 {
        return Err(fail(
            "subject",
            "subject must be exactly the responder's commonName",
        ));
    }
    let (mut bc, mut ku, mut eku, mut nocheck, mut ski, mut aki) =
        (false, false, false, false, false, false);
    let mut seen = std::collections::HashSet::new();
    for ext in tbs.extensions() {
        let oid = ext.oid.to_id_string();
        if !seen.insert(oid.clone()) {
            return Err(fail(
                "extensions.duplicate",
                format!("extension {oid} appears twice"),
            ));
        }
        match (oid.as_str(), ext.parsed_extension()) {
            ("2.5.29.19", ParsedExtension::BasicConstraints(b)) => {
                if b.ca || b.path_len_constraint.is_some() {
                    return Err(fail("basic_constraints", "a responder is never a CA"));
                }
                bc = true;
            }
            ("2.5.29.15", ParsedExtension::KeyUsage(k)) => {
                if !ext.critical {
                    return Err(fail("key_usage.critical", "keyUsage must be critical"));
                }
                // x509-parser flags: bit 0 = digitalSignature.
                if k.flags != 0x0001 {
                    return Err(fail(
                        "key_usage.value",
                        format!("keyUsage must be digitalSignature only, got {:#x}", k.flags),
                    ));
                }
                ku = true;
            }
            ("2.5.29.37", ParsedExtension::ExtendedKeyUsage(e)) => {
                let only_ocsp = e.ocsp_signing
                    && !e.any
                    && !e.server_auth
                    && !e.client_auth
                    && !e.code_signing
                    && !e.email_protection
                    && !e.time_stamping
                    && e.other.is_empty();
                if !only_ocsp {
                    return Err(fail("eku.value", "EKU must be id-kp-OCSPSigning only"));
                }
                eku = true;
            }
            ("1.3.6.1.5.5.7.48.1.5", _) => {
                if ext.critical || ext.value != [0x05, 0x00] {
                    return Err(fail(
                        "ocsp_nocheck",
                        "id-pkix-ocsp-nocheck must be a non-critical NULL",
                    ));
                }
                nocheck = true;
            }
            ("2.5.29.14", ParsedExtension::SubjectKeyIdentifier(_)) => ski = true,
            ("2.5.29.35", ParsedExtension::AuthorityKeyIdentifier(a)) => {
                if a.key_identifier.as_ref().map(|k| k.0) != Some(expect.issuer_ski.as_slice()) {
                    return Err(fail(
                        "aki",
                        "authorityKeyIdentifier does not match the issuer's subjectKeyIdentifier",
                    ));
                }
                aki = true;
            }
            (o, _) => {
                return Err(fail(
                    "extensions.unexpected",
                    format!("unexpected or unparsable extension {o}"),
                ));
            }
        }
    }
    if !(bc && ku && eku && nocheck && ski && aki) {
        return Err(fail(
            "extensions.missing",
            "basicConstraints, keyUsage, extendedKeyUsage, ocsp-nocheck, SKI and AKI are required",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use x509_ocsp::{BasicOcspResponse, OcspResponse, Request, TbsRequest};

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

    fn ca() -> (rcgen::KeyPair, Vec<u8>) {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
        p.distinguished_name
            .push(rcgen::DnType::CommonName, "Test CA");
        p.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let cert = p.self_signed(&key).unwrap();
        (key, cert.der().to_vec())
    }

    fn cert_id(issuer_der: &[u8], hash: CertIdHash, serial: &[u8]) -> CertId {
        use x509_parser::prelude::X509Certificate;
        let (_, c) = X509Certificate::from_der(issuer_der).unwrap();
        let (alg, oid, null) = match hash {
            CertIdHash::Sha1 => (
                &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
                OID_SHA1,
                false,
            ),
            CertIdHash::Sha1Null => (&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, OID_SHA1, true),
            CertIdHash::Sha256 => (&aws_lc_rs::digest::SHA256, OID_SHA256, false),
            CertIdHash::Sha256Null => (&aws_lc_rs::digest::SHA256, OID_SHA256, true),
        };
        let h = |d: &[u8]| {
            OctetString::new(aws_lc_rs::digest::digest(alg, d).as_ref().to_vec()).unwrap()
        };
        CertId {
            hash_algorithm: AlgorithmIdentifierOwned {
                oid,
                parameters: null.then(|| der::Any::from(Null)),
            },
            issuer_name_hash: h(c.tbs_certificate.subject.as_raw()),
            issuer_key_hash: h(&c.tbs_certificate.subject_pki.subject_public_key.data),
            serial_number: SerialNumber::new(serial).unwrap(),
        }
    }

    fn request(ids: Vec<CertId>, nonce: Option<&[u8]>) -> Vec<u8> {
        OcspRequest {
            tbs_request: TbsRequest {
                version: Version::V1,
                requestor_name: None,
                request_list: ids
                    .into_iter()
                    .map(|req_cert| Request {
                        req_cert,
                        single_request_extensions: None,
                    })
                    .collect(),
                request_extensions: nonce.map(|n| {
                    vec![Extension {
                        extn_id: OID_NONCE,
                        critical: false,
                        extn_value: OctetString::new(
                            OctetString::new(n.to_vec()).unwrap().to_der().unwrap(),
                        )
                        .unwrap(),
                    }]
                }),
            },
            optional_signature: None,
        }
        .to_der()
        .unwrap()
    }

    #[test]
    fn requests_parse_with_issuer_serial_hash_form_and_nonce_bounds() {
        let (_, ca_der) = ca();
        let issuers = vec![OcspIssuer::from_cert_der("t", &ca_der).unwrap()];
        let (_, other_der) = ca();
        let der = request(
            vec![
                cert_id(&ca_der, CertIdHash::Sha1Null, &[0x01, 0x02]),
                cert_id(&ca_der, CertIdHash::Sha256, &[0x7f; 20]),
                cert_id(&other_der, CertIdHash::Sha1, &[0x05]),
            ],
            Some(b"0123456789abcdef"),
        );
        let p = parse_request(&der, &issuers).unwrap();
        assert_eq!(p.nonce.as_deref(), Some(&b"0123456789abcdef"[..]));
        assert_eq!(p.items.len(), 3);
        assert_eq!(p.items[0].issuer, Some(0));
        assert_eq!(p.items[0].hash, Some(CertIdHash::Sha1Null));
        assert_eq!(p.items[0].serial.as_ref().unwrap().to_hex(), "0102");
        assert_eq!(p.items[1].hash, Some(CertIdHash::Sha256));
        assert_eq!(p.items[2].issuer, None);
        // Nonce sizes: 1 and 32 accepted, 0 and 33 refused.
        for (n, ok) in [(1usize, true), (32, true), (0, false), (33, false)] {
            let der = request(
                vec![cert_id(&ca_der, CertIdHash::Sha1, &[1])],
                Some(&vec![7u8; n]),
            );
            assert_eq!(parse_request(&der, &issuers).is_ok(), ok, "nonce of {n}");
        }
        // Too many CertIDs.
        let many = (0..=MAX_REQUESTS)
            .map(|i| cert_id(&ca_der, CertIdHash::Sha1, &[1, i as u8]))
            .collect();
        assert!(parse_request(&request(many, None), &issuers).is_err());
        // Every truncation is an error, never a panic.
        for n in 0..der.len() {
            assert!(parse_request(&der[..n], &issuers).is_err());
        }
    }

    #[test]
    fn random_and_mutated_requests_never_panic() {
        let (_, ca_der) = ca();
        let issuers = vec![OcspIssuer::from_cert_der("t", &ca_der).unwrap()];
        let good = request(
            vec![
                cert_id(&ca_der, CertIdHash::Sha1Null, &[0x11; 16]),
                cert_id(&ca_der, CertIdHash::Sha256, &[0x22; 16]),
            ],
            Some(&[9u8; 16]),
        );
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for i in 0..5000 {
            let mut m = good.clone();
            match i % 4 {
                0 => {
                    let n = (next() % 8 + 1) as usize;
                    for _ in 0..n {
                        let at = (next() as usize) % m.len();
                        m[at] ^= 1 << (next() % 8);
                    }
                }
                1 => {
                    let at = (next() as usize) % m.len();
                    m[at] = next() as u8;
                    m.truncate((next() as usize) % (m.len() + 1));
                }
                2 => {
                    let at = (next() as usize) % m.len();
                    let ins: Vec<u8> = (0..next() % 40).map(|_| next() as u8).collect();
                    m.splice(at..at, ins);
                }
                _ => {
                    m = (0..next() % 300).map(|_| next() as u8).collect();
                    if !m.is_empty() {
                        m[0] = 0x30;
                    }
                }
            }
            let _ = parse_request(&m, &issuers);
        }
    }

    struct Capture<'a> {
        key: &'a rcgen::KeyPair,
        tbs: Mutex<Vec<u8>>,
    }
    impl rcgen::PublicKeyData for Capture<'_> {
        fn der_bytes(&self) -> &[u8] {
            self.key.der_bytes()
        }
        fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
            rcgen::PublicKeyData::algorithm(self.key)
        }
    }
    impl rcgen::SigningKey for Capture<'_> {
        fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
            *self.tbs.lock().unwrap() = msg.to_vec();
            self.key.sign(msg)
        }
    }

    fn responder_tbs() -> (Vec<u8>, ResponderExpectations, Vec<u8>) {
        let (ca_key, ca_der) = ca();
        let facts = IssuerFacts::from_cert_der("default", &ca_der).unwrap();
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let spki = rcgen::PublicKeyData::subject_public_key_info(&key);
        let t = responder_template(
            &facts,
            &spki,
            Serial::random().unwrap(),
            OffsetDateTime::now_utc(),
            Duration::from_secs(4 * 86_400),
        )
        .unwrap();
        let capture = Capture {
            key: &ca_key,
            tbs: Mutex::new(vec![]),
        };
        let issuer = rcgen::Issuer::from_ca_cert_der(&ca_der.clone().into(), &capture).unwrap();
        let cert = t.params.signed_by(&key, &issuer).unwrap();
        let tbs = capture.tbs.lock().unwrap().clone();
        (tbs, t.expect, cert.der().to_vec())
    }

    #[test]
    fn the_responder_certificate_passes_its_lint_and_deviations_are_caught() {
        let (tbs, expect, der) = responder_tbs();
        lint_responder_tbs(&tbs, &expect).unwrap();
        let (_, c) = x509_parser::prelude::X509Certificate::from_der(&der).unwrap();
        let nocheck = c
            .extensions()
            .iter()
            .find(|e| e.oid.to_id_string() == "1.3.6.1.5.5.7.48.1.5")
            .expect("ocsp-nocheck");
        assert!(!nocheck.critical);
        assert_eq!(nocheck.value, [0x05, 0x00]);
        assert_eq!(
            (c.validity().not_after.timestamp() - c.validity().not_before.timestamp() + 1),
            4 * 86_400
        );
        type Mutation = fn(&mut ResponderExpectations);
        let cases: Vec<(&str, Mutation)> = vec![
            ("serial.value", |e| e.serial = Serial::random().unwrap()),
            ("issuer.name", |e| e.issuer_subject_der = vec![0x30, 0x00]),
            ("validity.value", |e| {
                e.not_after += ::time::Duration::seconds(1)
            }),
            ("validity.issuer", |e| e.issuer_not_after = e.not_before),
            ("spki", |e| e.spki_der = vec![0x30, 0x00]),
            ("subject", |e| e.common_name = "other".into()),
            ("aki", |e| e.issuer_ski = vec![1, 2, 3]),
        ];
        for (rule, mutate) in cases {
            let mut e = expect.clone();
            mutate(&mut e);
            let err = lint_responder_tbs(&tbs, &e).expect_err(rule);
            assert!(err.detail.starts_with(rule), "{rule}: {err}");
        }
        for n in 0..tbs.len() {
            assert!(lint_responder_tbs(&tbs[..n], &expect).is_err());
        }
        // A subscriber-style certificate (no OCSPSigning, no nocheck) is refused.
        let (ca_key, ca_der) = ca();
        let facts = IssuerFacts::from_cert_der("default", &ca_der).unwrap();
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut t = responder_template(
            &facts,
            &rcgen::PublicKeyData::subject_public_key_info(&key),
            Serial::random().unwrap(),
            OffsetDateTime::now_utc(),
            Duration::from_secs(86_400),
        )
        .unwrap();
        t.params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let capture = Capture {
            key: &ca_key,
            tbs: Mutex::new(vec![]),
        };
        let issuer = rcgen::Issuer::from_ca_cert_der(&ca_der.into(), &capture).unwrap();
        t.params.signed_by(&key, &issuer).unwrap();
        let tbs = capture.tbs.lock().unwrap().clone();
        assert!(lint_responder_tbs(&tbs, &t.expect).is_err());
    }

    #[test]
    fn assembled_responses_decode_with_the_responder_certificate() {
        let (ca_key, ca_der) = ca();
        let issuers = [OcspIssuer::from_cert_der("t", &ca_der).unwrap()];
        let (_, _, responder_der) = responder_tbs();
        let id = cert_id(&ca_der, CertIdHash::Sha1Null, &[1, 2, 3]);
        let data = response_data(
            &key_hash(ca_key.public_key_raw()),
            &[(
                id.clone(),
                Status::Revoked {
                    at: 1_700_000_000,
                    reason: 1,
                },
            )],
            1_700_000_100,
            1_700_000_100,
            1_700_086_500,
            Some(&[1, 2, 3]),
        )
        .unwrap();
        let sig = rcgen::SigningKey::sign(&ca_key, &data).unwrap();
        for certs in [vec![], vec![responder_der.as_slice()]] {
            let der = assemble(&data, KeyAlgorithm::EcdsaP256, &sig, &certs).unwrap();
            let r = OcspResponse::from_der(&der).unwrap();
            assert_eq!(r.response_status, OcspResponseStatus::Successful);
            let b = r.response_bytes.unwrap();
            assert_eq!(b.response_type, OID_BASIC);
            let basic = BasicOcspResponse::from_der(b.response.as_bytes()).unwrap();
            assert_eq!(basic.tbs_response_data.to_der().unwrap(), data);
            assert_eq!(basic.signature.raw_bytes(), sig.as_slice());
            assert_eq!(basic.certs.map(|c| c.len()).unwrap_or(0), certs.len());
            assert_eq!(basic.tbs_response_data.responses[0].cert_id, id);
            let s = summarize_response(&der).unwrap();
            assert_eq!(s.signed_der, data);
            assert_eq!(s.signature, sig);
            assert_eq!(s.produced_at, 1_700_000_100);
            assert_eq!(s.nonce.as_deref(), Some(&[1u8, 2, 3][..]));
            assert_eq!(s.certs.len(), certs.len());
            assert_eq!(
                s.answers,
                vec![Answer {
                    serial: Serial::from_magnitude(&[1, 2, 3]),
                    hash: Some(CertIdHash::Sha1Null),
                    status: Status::Revoked {
                        at: 1_700_000_000,
                        reason: 1
                    },
                    this_update: 1_700_000_100,
                    next_update: Some(1_700_086_500),
                }]
            );
        }
        // request_der builds what parse_request reads back.
        let serials = [
            Serial::from_magnitude(&[0x80, 1]),
            Serial::from_magnitude(&[5]),
        ];
        for hash in [
            CertIdHash::Sha1,
            CertIdHash::Sha1Null,
            CertIdHash::Sha256,
            CertIdHash::Sha256Null,
        ] {
            let req = request_der(&ca_der, &serials, hash, Some(b"xyz")).unwrap();
            let p = parse_request(&req, &issuers).unwrap();
            assert_eq!(p.nonce.as_deref(), Some(&b"xyz"[..]));
            for (item, serial) in p.items.iter().zip(&serials) {
                assert_eq!(item.issuer, Some(0));
                assert_eq!(item.hash, Some(hash));
                assert_eq!(item.serial.as_ref(), Some(serial));
            }
        }
        assert_eq!(
            issuers[0].responder_key_hash(),
            key_hash(ca_key.public_key_raw())
        );
        assert!(assemble(b"\x30\x01", KeyAlgorithm::EcdsaP256, &sig, &[]).is_err());
    }
}
