//! The client's PKIMessage: a CMS SignedData (RFC 5652 §5) with SCEP signed
//! attributes (RFC 8894 §3.2), whose content is the encrypted messageData.

use aws_lc_rs::signature::{self, UnparsedPublicKey};
use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use der::asn1::{Any, ObjectIdentifier, OctetString};
use der::{Decode, Encode, Tag, Tagged};
use x509_cert::Certificate;
use x509_cert::attr::Attributes;

use super::der_util::*;
use super::{MAX_MESSAGE_LEN, MessageType, ScepError, TransactionIds};

/// Longest transactionID accepted (characters).
const MAX_TRANSACTION_ID_LEN: usize = 256;
/// Longest senderNonce accepted (RFC 8894: 16 bytes).
const MAX_NONCE_LEN: usize = 64;

/// A parsed, signature-verified PKIMessage from a client.
#[derive(Debug, Clone)]
pub struct PkiRequest {
    /// The messageType attribute. `CertRep` is never a valid request: callers reject it.
    pub message_type: MessageType,
    /// transactionID and senderNonce, to be echoed in the answer.
    pub ids: TransactionIds,
    /// The certificate whose key signed the message (DER), from `certificates`, matched by
    /// the SignerInfo's sid. For PKCSReq usually self-signed; for RenewalReq the current
    /// certificate. The CertRep is encrypted to its key (always RSA, at least 2048 bits).
    pub signer_cert_der: Vec<u8>,
    /// The eContent: ContentInfo(EnvelopedData) DER.
    pub envelope_der: Vec<u8>,
}

/// Parse a PKIMessage (DER, at most 64 KiB) and verify its signature.
///
/// Checks that it is SignedData with exactly one SignerInfo, finds the signer certificate
/// (by issuerAndSerialNumber or subjectKeyIdentifier), checks contentType = id-data and
/// messageDigest = digest(eContent) with the SignerInfo's digest algorithm
/// (SHA-1/256/384/512), and verifies the RSA PKCS#1 v1.5 signature over the signed
/// attributes as their raw bytes in the message with the `[0]` tag replaced by SET.
///
/// Errors: requester key not RSA (or under 2048 bits), unknown digest or signature
/// algorithm → badAlg; bad signature or digest → badMessageCheck; unparseable or unknown
/// messageType → badRequest. The error carries the transaction ids when they could be read.
pub fn parse_request(der: &[u8]) -> Result<PkiRequest, ScepError> {
    if der.len() > MAX_MESSAGE_LEN {
        return Err(ScepError::bad_request("PKIMessage larger than 64 KiB"));
    }
    let der = &*super::der_util::ber_to_der(der)?;
    super::der_util::check_shape(der)?;
    let info = ContentInfo::from_der(der)
        .map_err(|e| ScepError::bad_request(format!("PKIMessage is not a ContentInfo: {e}")))?;
    if info.content_type != ID_SIGNED_DATA {
        return Err(ScepError::bad_request("PKIMessage is not SignedData"));
    }
    let signed: SignedData = info
        .content
        .decode_as()
        .map_err(|e| ScepError::bad_request(format!("bad SignedData: {e}")))?;
    let signer = match signed.signer_infos.0.as_slice() {
        [one] => one,
        _ => {
            return Err(ScepError::bad_request(
                "SignedData must have exactly one SignerInfo",
            ));
        }
    };
    let attrs = signer
        .signed_attrs
        .as_ref()
        .ok_or_else(|| ScepError::bad_request("SignerInfo has no signed attributes"))?;

    // The identifiers first, so that any later failure can still be answered.
    let ids = read_ids(attrs)?;
    let fail = |e: ScepError| e.with_ids(&ids);

    let message_type = {
        let v = single_attr(attrs, &ATTR_MESSAGE_TYPE)
            .map_err(fail)?
            .ok_or_else(|| fail(ScepError::bad_request("no messageType attribute")))?;
        let s = any_string(v)
            .ok_or_else(|| fail(ScepError::bad_request("messageType is not a string")))?;
        MessageType::from_code(&s)
            .ok_or_else(|| fail(ScepError::bad_request(format!("unknown messageType {s:?}"))))?
    };

    // Content: id-data with an OCTET STRING eContent.
    if signed.encap_content_info.econtent_type != ID_DATA {
        return Err(fail(ScepError::bad_request("eContentType is not id-data")));
    }
    let econtent = signed
        .encap_content_info
        .econtent
        .as_ref()
        .ok_or_else(|| fail(ScepError::bad_request("no eContent (messageData)")))?;
    if econtent.tag() != Tag::OctetString {
        return Err(fail(ScepError::bad_request(
            "eContent is not an OCTET STRING",
        )));
    }
    let content = econtent.value();
    match single_attr(attrs, &ATTR_CONTENT_TYPE).map_err(fail)? {
        Some(v) if v.decode_as::<ObjectIdentifier>().ok() == Some(ID_DATA) => {}
        Some(_) => {
            return Err(fail(ScepError::bad_request(
                "contentType attribute is not id-data",
            )));
        }
        None => return Err(fail(ScepError::bad_request("no contentType attribute"))),
    }

    // The signer's certificate and key.
    let cert = find_signer(&signed, signer).map_err(fail)?;
    let signer_cert_der = cert
        .to_der()
        .map_err(|e| fail(ScepError::bad_request(format!("signer certificate: {e}"))))?;
    let spki = &cert.tbs_certificate.subject_public_key_info;
    if spki.algorithm.oid != RSA_ENCRYPTION {
        return Err(fail(ScepError::bad_alg(format!(
            "requester key algorithm {} is not RSA",
            spki.algorithm.oid
        ))));
    }
    let spki_der = spki
        .to_der()
        .map_err(|e| fail(ScepError::bad_request(format!("signer key: {e}"))))?;
    aws_lc_rs::rsa::PublicEncryptingKey::from_der(&spki_der).map_err(|e| {
        fail(ScepError::bad_alg(format!(
            "requester RSA key not usable (2048 to 8192 bits): {e}"
        )))
    })?;
    let rsa_public_key = spki.subject_public_key.raw_bytes();

    // messageDigest.
    let digest = digest_alg(&signer.digest_alg.oid).ok_or_else(|| {
        fail(ScepError::bad_alg(format!(
            "unsupported digest algorithm {}",
            signer.digest_alg.oid
        )))
    })?;
    let claimed = single_attr(attrs, &ATTR_MESSAGE_DIGEST)
        .map_err(fail)?
        .ok_or_else(|| fail(ScepError::bad_request("no messageDigest attribute")))?
        .decode_as::<OctetString>()
        .map_err(|_| {
            fail(ScepError::bad_request(
                "messageDigest is not an OCTET STRING",
            ))
        })?;
    if aws_lc_rs::digest::digest(digest, content).as_ref() != claimed.as_bytes() {
        return Err(fail(ScepError::bad_check(
            "messageDigest does not match the content",
        )));
    }

    // Signature over the signed attributes, as sent.
    let verify_alg = signature_alg(&signer.signature_algorithm.oid, &signer.digest_alg.oid)
        .ok_or_else(|| {
            fail(ScepError::bad_alg(format!(
                "unsupported signature algorithm {} with digest {}",
                signer.signature_algorithm.oid, signer.digest_alg.oid
            )))
        })?;
    let mut signed_attrs = raw_signed_attrs(der)
        .ok_or_else(|| fail(ScepError::bad_request("signed attributes not found")))?;
    if let Some(first) = signed_attrs.first_mut() {
        *first = 0x31;
    }
    UnparsedPublicKey::new(verify_alg, rsa_public_key)
        .verify(&signed_attrs, signer.signature.as_bytes())
        .map_err(|_| fail(ScepError::bad_check("signature does not verify")))?;

    Ok(PkiRequest {
        message_type,
        ids,
        signer_cert_der,
        envelope_der: content.to_vec(),
    })
}

/// transactionID and senderNonce (both required).
fn read_ids(attrs: &Attributes) -> Result<TransactionIds, ScepError> {
    let tid = single_attr(attrs, &ATTR_TRANSACTION_ID)?;
    let nonce = single_attr(attrs, &ATTR_SENDER_NONCE)?;
    let transaction_id = tid.and_then(any_string).unwrap_or_default();
    let sender_nonce = nonce
        .and_then(|v| v.decode_as::<OctetString>().ok())
        .map(|o| o.as_bytes().to_vec())
        .unwrap_or_default();
    let bounded_tid = transaction_id.len() <= MAX_TRANSACTION_ID_LEN;
    let bounded_nonce = sender_nonce.len() <= MAX_NONCE_LEN;
    let ids = TransactionIds {
        transaction_id: if bounded_tid {
            transaction_id
        } else {
            String::new()
        },
        sender_nonce: if bounded_nonce {
            sender_nonce
        } else {
            Vec::new()
        },
    };
    if !bounded_tid || !bounded_nonce {
        return Err(ScepError::bad_request("transactionID or senderNonce too long").with_ids(&ids));
    }
    if ids.transaction_id.is_empty() {
        return Err(ScepError::bad_request("no transactionID attribute").with_ids(&ids));
    }
    if ids.sender_nonce.is_empty() {
        return Err(ScepError::bad_request("no senderNonce attribute").with_ids(&ids));
    }
    Ok(ids)
}

/// The single value of the attribute `oid`, if present (several attributes or values of
/// one type are an error).
fn single_attr<'a>(
    attrs: &'a Attributes,
    oid: &ObjectIdentifier,
) -> Result<Option<&'a Any>, ScepError> {
    let mut found = attrs.iter().filter(|a| &a.oid == oid);
    let Some(attr) = found.next() else {
        return Ok(None);
    };
    if found.next().is_some() {
        return Err(ScepError::bad_request(format!("attribute {oid} repeated")));
    }
    match attr.values.as_slice() {
        [one] => Ok(Some(one)),
        _ => Err(ScepError::bad_request(format!(
            "attribute {oid} must have exactly one value"
        ))),
    }
}

/// A PrintableString (or, leniently, UTF8String / IA5String) value.
fn any_string(v: &Any) -> Option<String> {
    match v.tag() {
        Tag::PrintableString | Tag::Utf8String | Tag::Ia5String => {
            std::str::from_utf8(v.value()).ok().map(str::to_owned)
        }
        _ => None,
    }
}

/// The certificate named by the SignerInfo's sid.
fn find_signer<'a>(
    signed: &'a SignedData,
    signer: &SignerInfo,
) -> Result<&'a Certificate, ScepError> {
    let certs = signed
        .certificates
        .as_ref()
        .ok_or_else(|| ScepError::bad_request("no certificates in the PKIMessage"))?;
    certs
        .0
        .iter()
        .filter_map(|c| match c {
            CertificateChoices::Certificate(c) => Some(c),
            CertificateChoices::Other(_) => None,
        })
        .find(|c| match &signer.sid {
            SignerIdentifier::IssuerAndSerialNumber(ias) => matches_issuer_serial(c, ias),
            SignerIdentifier::SubjectKeyIdentifier(ski) => {
                subject_key_id(c).as_deref() == Some(ski.0.as_bytes())
            }
        })
        .ok_or_else(|| ScepError::bad_request("signer certificate not in the PKIMessage"))
}

/// The RSA PKCS#1 v1.5 verification algorithm for a SignerInfo's signatureAlgorithm
/// (rsaEncryption takes the hash from digestAlgorithm; shaNWithRSAEncryption must agree
/// with it).
fn signature_alg(
    sig: &ObjectIdentifier,
    digest: &ObjectIdentifier,
) -> Option<&'static signature::RsaParameters> {
    let hash = match *sig {
        RSA_ENCRYPTION => *digest,
        SHA1_WITH_RSA => SHA1,
        SHA256_WITH_RSA => SHA256,
        SHA384_WITH_RSA => SHA384,
        SHA512_WITH_RSA => SHA512,
        _ => return None,
    };
    if hash != *digest {
        return None;
    }
    Some(match hash {
        SHA1 => &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
        SHA256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        SHA384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        SHA512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        _ => return None,
    })
}

/// The signed attributes `[0] IMPLICIT SET OF Attribute` TLV of the (only) SignerInfo,
/// byte for byte as it appears in `der`.
fn raw_signed_attrs(der: &[u8]) -> Option<Vec<u8>> {
    // ContentInfo SEQUENCE { contentType, [0] EXPLICIT SignedData }
    let (_, _, info, _) = read_tlv(der)?;
    let (_, _, _, rest) = read_tlv(info)?;
    let (0xa0, _, explicit, _) = read_tlv(rest)? else {
        return None;
    };
    // SignedData SEQUENCE { version, digestAlgorithms, encapContentInfo,
    //   [0] certificates OPTIONAL, [1] crls OPTIONAL, signerInfos }
    let (0x30, _, signed, _) = read_tlv(explicit)? else {
        return None;
    };
    let mut rest = signed;
    for _ in 0..3 {
        rest = read_tlv(rest)?.3;
    }
    let (mut tag, _, mut content, _) = read_tlv(rest)?;
    while tag == 0xa0 || tag == 0xa1 {
        rest = read_tlv(rest)?.3;
        (tag, _, content, _) = read_tlv(rest)?;
    }
    if tag != 0x31 {
        return None;
    }
    // SignerInfo SEQUENCE { version, sid, digestAlgorithm, [0] signedAttrs, ... }
    let (0x30, _, signer_info, _) = read_tlv(content)? else {
        return None;
    };
    let mut rest = signer_info;
    for _ in 0..3 {
        rest = read_tlv(rest)?.3;
    }
    let (0xa0, whole, _, _) = read_tlv(rest)? else {
        return None;
    };
    Some(whole.to_vec())
}
