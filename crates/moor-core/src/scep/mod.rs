//! SCEP (RFC 8894) message format: the client's PKIMessage (a CMS SignedData whose
//! content is a CMS EnvelopedData encrypted to the RA), and the server's CertRep.
//!
//! Everything here is pure: parsing, signature verification and decryption use
//! aws-lc-rs and the `cms`/`der`/`x509-cert` ASN.1 types; the caller holds the keys
//! (for signing, [`cert_rep`] takes a closure) and decides what to issue.
//!
//! * [`parse_request`] checks the outer SignedData (message digest and the RSA
//!   signature over the signed attributes, exactly as sent) and returns the
//!   transaction identifiers and the still-encrypted envelope;
//! * [`open_envelope`] decrypts that envelope with one of the RA keys;
//! * [`cert_rep`] builds the answer (issued certificate encrypted to the requester,
//!   or a failure/pending status), [`ca_ra_certs`] the GetCACert answer and
//!   [`CA_CAPS`] the GetCACaps text.

mod cert_rep;
mod der_util;
mod envelope;
mod request;
#[cfg(test)]
mod tests;

pub use cert_rep::{Outcome, cert_rep};
pub use envelope::{Ciphers, RaKey, open_envelope, open_envelope_for};
pub use request::{PkiRequest, parse_request};

/// The largest PKIMessage (and envelope) accepted, in bytes.
pub const MAX_MESSAGE_LEN: usize = 64 * 1024;

/// messageType values (RFC 8894 §3.2.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    /// "3": the server's response.
    CertRep,
    /// "17": renewal of an existing certificate, signed with its key.
    RenewalReq,
    /// "18": update request (draft SCEP, obsolete in RFC 8894).
    UpdateReq,
    /// "19": initial enrollment.
    PkcsReq,
    /// "20": poll for a pending request (CertPoll / GetCertInitial).
    CertPoll,
    /// "21": retrieve a certificate by issuer and serial.
    GetCert,
    /// "22": retrieve a CRL.
    GetCrl,
}

impl MessageType {
    /// The decimal string carried in the messageType attribute.
    pub fn code(self) -> &'static str {
        match self {
            MessageType::CertRep => "3",
            MessageType::RenewalReq => "17",
            MessageType::UpdateReq => "18",
            MessageType::PkcsReq => "19",
            MessageType::CertPoll => "20",
            MessageType::GetCert => "21",
            MessageType::GetCrl => "22",
        }
    }

    /// The message type named by a messageType attribute value, if known.
    pub fn from_code(code: &str) -> Option<Self> {
        Some(match code {
            "3" => MessageType::CertRep,
            "17" => MessageType::RenewalReq,
            "18" => MessageType::UpdateReq,
            "19" => MessageType::PkcsReq,
            "20" => MessageType::CertPoll,
            "21" => MessageType::GetCert,
            "22" => MessageType::GetCrl,
            _ => return None,
        })
    }
}

/// failInfo values (RFC 8894 §3.2.1.4): badAlg 0, badMessageCheck 1, badRequest 2,
/// badTime 3, badCertId 4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailInfo {
    /// "0": unrecognized or unsupported algorithm.
    BadAlg,
    /// "1": integrity check (signature, digest, decryption) failed.
    BadMessageCheck,
    /// "2": transaction not permitted or supported.
    BadRequest,
    /// "3": the signingTime attribute was not close enough to the system time.
    BadTime,
    /// "4": no certificate could be identified matching the provided criteria.
    BadCertId,
}

impl FailInfo {
    /// The RFC 8894 name: "badAlg", "badMessageCheck", "badRequest", "badTime", "badCertId".
    pub fn name(self) -> &'static str {
        match self {
            FailInfo::BadAlg => "badAlg",
            FailInfo::BadMessageCheck => "badMessageCheck",
            FailInfo::BadRequest => "badRequest",
            FailInfo::BadTime => "badTime",
            FailInfo::BadCertId => "badCertId",
        }
    }

    /// The decimal string carried in the failInfo attribute ("0".."4").
    pub fn code(self) -> &'static str {
        match self {
            FailInfo::BadAlg => "0",
            FailInfo::BadMessageCheck => "1",
            FailInfo::BadRequest => "2",
            FailInfo::BadTime => "3",
            FailInfo::BadCertId => "4",
        }
    }
}

/// What identifies a transaction in the answer, read from the request's signed
/// attributes (even when the signature then fails, so a failure answer can still name it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransactionIds {
    /// The transactionID attribute (RFC 8894 §3.2.1.1), copied into the answer.
    pub transaction_id: String,
    /// The request's senderNonce, returned as the answer's recipientNonce.
    pub sender_nonce: Vec<u8>,
}

/// A SCEP message that could not be accepted, with the failInfo to answer.
#[derive(Debug, thiserror::Error)]
#[error("{detail}")]
pub struct ScepError {
    /// The failInfo a CertRep FAILURE should carry.
    pub fail_info: FailInfo,
    /// What went wrong, for logs (not sent to the client).
    pub detail: String,
    /// What could be read before failing (empty when even those could not be read).
    pub ids: TransactionIds,
}

impl ScepError {
    pub(crate) fn new(fail_info: FailInfo, detail: impl Into<String>) -> Self {
        ScepError {
            fail_info,
            detail: detail.into(),
            ids: TransactionIds::default(),
        }
    }

    pub(crate) fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(FailInfo::BadRequest, detail)
    }

    pub(crate) fn bad_alg(detail: impl Into<String>) -> Self {
        Self::new(FailInfo::BadAlg, detail)
    }

    pub(crate) fn bad_check(detail: impl Into<String>) -> Self {
        Self::new(FailInfo::BadMessageCheck, detail)
    }

    pub(crate) fn with_ids(mut self, ids: &TransactionIds) -> Self {
        self.ids = ids.clone();
        self
    }
}

/// GetCACert answer body for an RA: certs-only PKCS#7 of [ra, then the CA chain]
/// (content type `application/x-x509-ca-ra-cert`, RFC 8894 §4.2.1.2).
pub fn ca_ra_certs(ra_cert_der: &[u8], ca_chain: &[&[u8]]) -> Vec<u8> {
    let mut all: Vec<&[u8]> = Vec::with_capacity(ca_chain.len() + 1);
    all.push(ra_cert_der);
    all.extend_from_slice(ca_chain);
    crate::pkcs7::certs_only(&all)
}

/// The GetCACaps text we answer (RFC 8894 §3.5.2), one keyword per line.
///
/// "SCEPStandard" implies AES, POSTPKIOperation and SHA-256; they are listed anyway
/// for older clients that only look for the individual keywords.
pub const CA_CAPS: &str = "POSTPKIOperation\nSHA-256\nSHA-512\nAES\nSCEPStandard\nRenewal\n";

/// The challengePassword attribute (1.2.840.113549.1.9.7, a DirectoryString) of a
/// DER PKCS#10 CSR, if any (None also when the CSR does not parse).
pub fn challenge_password(csr_der: &[u8]) -> Option<String> {
    use x509_parser::cri_attributes::ParsedCriAttribute;
    use x509_parser::prelude::{FromDer, X509CertificationRequest};
    if csr_der.len() > MAX_MESSAGE_LEN {
        return None;
    }
    let (_, csr) = X509CertificationRequest::from_der(csr_der).ok()?;
    csr.certification_request_info
        .iter_attributes()
        .find_map(|a| match a.parsed_attribute() {
            ParsedCriAttribute::ChallengePassword(p) => Some(p.0.clone()),
            _ => None,
        })
}
