//! The server's CertRep (RFC 8894 §3.3.2): a SignedData signed by the RA whose
//! content, on success, is an EnvelopedData encrypted to the requester and holding a
//! certs-only PKCS#7 with the issued certificate.

use aws_lc_rs::cipher::{AES_256, PaddedBlockEncryptingKey, UnboundCipherKey};
use aws_lc_rs::rsa::{Pkcs1PublicEncryptingKey, PublicEncryptingKey};
use der::asn1::ObjectIdentifier;

use super::der_util::*;
use super::{FailInfo, ScepError, TransactionIds};

/// What the CertRep says.
#[derive(Debug, Clone, Copy)]
pub enum Outcome<'a> {
    /// pkiStatus SUCCESS ("0"). certs: the issued certificate first, then its chain.
    Success {
        /// DER certificates: the issued one first, then its chain.
        certs: &'a [&'a [u8]],
    },
    /// pkiStatus FAILURE ("2") with this failInfo.
    Failure(FailInfo),
    /// pkiStatus PENDING ("3"): the client polls with CertPoll.
    Pending,
}

/// Build the CertRep (DER ContentInfo(SignedData)), as RFC 8894 §3.3.2 describes.
///
/// SignedData v1, digestAlgorithms {sha256}, encapContentInfo id-data; on Success the
/// eContent is ContentInfo(EnvelopedData v0: one KeyTransRecipientInfo v0 addressed by the
/// issuer and serial of `recipient_cert_der` (copied byte for byte), the AES-256 key
/// encrypted RSA PKCS#1 v1.5 to its public key, content aes256-CBC with a random IV of
/// `certs_only(certs)`); on Failure/Pending there is no eContent. certificates =
/// [`ra_cert_der`]; one SignerInfo v1 (sid issuerAndSerialNumber of the RA certificate,
/// sha256, rsaEncryption) whose signed attributes (DER-sorted) are contentType,
/// signingTime (`now_unix`), messageDigest, messageType "3", pkiStatus, failInfo (Failure
/// only), transactionID, recipientNonce (= the request's senderNonce) and a fresh 16-byte
/// senderNonce. transactionID and recipientNonce are left out when empty (a request
/// too broken to name them).
///
/// `sign` receives the DER signed attributes (SET tag) and returns an RSA PKCS#1 v1.5
/// SHA-256 signature by the RA key. Errors: requester key not RSA on Success → badAlg;
/// unparseable certificate, failing `sign` or RNG → badRequest (an internal failure:
/// the caller should answer with a server error, there is no CertRep to send).
// The signature spelled out in full, as the callers were promised.
#[allow(clippy::type_complexity)]
pub fn cert_rep(
    ids: &TransactionIds,
    outcome: Outcome<'_>,
    recipient_cert_der: &[u8],
    ra_cert_der: &[u8],
    now_unix: i64,
    sign: &dyn Fn(&[u8]) -> Result<Vec<u8>, String>,
) -> Result<Vec<u8>, ScepError> {
    let fail = |e: ScepError| e.with_ids(ids);
    let (status, fail_info) = match outcome {
        Outcome::Success { .. } => ("0", None),
        Outcome::Failure(f) => ("2", Some(f)),
        Outcome::Pending => ("3", None),
    };
    let econtent = match outcome {
        Outcome::Success { certs } => {
            Some(envelope_to(recipient_cert_der, &crate::pkcs7::certs_only(certs)).map_err(fail)?)
        }
        _ => None,
    };

    let ra = cert_parts(ra_cert_der)
        .ok_or_else(|| fail(ScepError::bad_request("RA certificate does not parse")))?;

    // Signed attributes.
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        econtent.as_deref().unwrap_or_default(),
    );
    let mut nonce = [0u8; 16];
    aws_lc_rs::rand::fill(&mut nonce)
        .map_err(|_| fail(ScepError::bad_request("random number generator failed")))?;
    let time = signing_time(now_unix).map_err(fail)?;
    let mut attrs = vec![
        attribute(&ATTR_CONTENT_TYPE, &oid_tlv(&ID_DATA)),
        attribute(&ATTR_SIGNING_TIME, &time),
        attribute(&ATTR_MESSAGE_DIGEST, &tlv(0x04, digest.as_ref())),
        attribute(&ATTR_MESSAGE_TYPE, &tlv(0x13, b"3")),
        attribute(&ATTR_PKI_STATUS, &tlv(0x13, status.as_bytes())),
        attribute(&ATTR_SENDER_NONCE, &tlv(0x04, &nonce)),
    ];
    if let Some(f) = fail_info {
        attrs.push(attribute(&ATTR_FAIL_INFO, &tlv(0x13, f.code().as_bytes())));
    }
    if !ids.transaction_id.is_empty() {
        attrs.push(attribute(
            &ATTR_TRANSACTION_ID,
            &directory_string(&ids.transaction_id),
        ));
    }
    if !ids.sender_nonce.is_empty() {
        attrs.push(attribute(
            &ATTR_RECIPIENT_NONCE,
            &tlv(0x04, &ids.sender_nonce),
        ));
    }
    // DER SET OF: elements in ascending order of their encodings.
    attrs.sort();
    let attrs = attrs.concat();
    let signature = sign(&tlv(0x31, &attrs)).map_err(|e| {
        fail(ScepError::bad_request(format!(
            "signing the CertRep failed: {e}"
        )))
    })?;

    let sha256_alg = tlv(0x30, &oid_tlv(&SHA256));
    let rsa_alg = tlv(0x30, &[oid_tlv(&RSA_ENCRYPTION), vec![0x05, 0x00]].concat());
    let signer_info = tlv(
        0x30,
        &[
            tlv(0x02, &[0x01]),
            tlv(0x30, &[ra.issuer, ra.serial].concat()),
            sha256_alg.clone(),
            tlv(0xa0, &attrs),
            rsa_alg,
            tlv(0x04, &signature),
        ]
        .concat(),
    );
    let mut encap = oid_tlv(&ID_DATA);
    if let Some(c) = &econtent {
        encap.extend(tlv(0xa0, &tlv(0x04, c)));
    }
    let signed = tlv(
        0x30,
        &[
            tlv(0x02, &[0x01]),
            tlv(0x31, &sha256_alg),
            tlv(0x30, &encap),
            tlv(0xa0, ra_cert_der),
            tlv(0x31, &signer_info),
        ]
        .concat(),
    );
    Ok(tlv(
        0x30,
        &[oid_tlv(&ID_SIGNED_DATA), tlv(0xa0, &signed)].concat(),
    ))
}

/// ContentInfo(EnvelopedData) of `plain` for the RSA key of `recipient_cert_der`.
fn envelope_to(recipient_cert_der: &[u8], plain: &[u8]) -> Result<Vec<u8>, ScepError> {
    let rcpt = cert_parts(recipient_cert_der)
        .ok_or_else(|| ScepError::bad_request("recipient certificate does not parse"))?;
    // AlgorithmIdentifier SEQUENCE { OID, ... }: the key must be rsaEncryption.
    let key_alg = read_tlv(rcpt.spki)
        .and_then(|(_, _, spki, _)| read_tlv(spki))
        .and_then(|(_, _, alg, _)| read_tlv(alg))
        .filter(|(tag, _, _, _)| *tag == 0x06)
        .map(|(_, _, oid, _)| oid);
    if key_alg != Some(RSA_ENCRYPTION.as_bytes()) {
        return Err(ScepError::bad_alg(
            "requester key is not RSA: cannot encrypt the answer to it",
        ));
    }
    let unusable = || ScepError::bad_alg("requester RSA key not usable (2048 to 8192 bits)");
    let public = PublicEncryptingKey::from_der(rcpt.spki).map_err(|_| unusable())?;
    let public = Pkcs1PublicEncryptingKey::new(public).map_err(|_| unusable())?;

    let internal = |what: &str| ScepError::bad_request(format!("{what} failed"));
    let mut cek = [0u8; 32];
    aws_lc_rs::rand::fill(&mut cek).map_err(|_| internal("random number generator"))?;
    let key = UnboundCipherKey::new(&AES_256, &cek).map_err(|_| internal("AES key"))?;
    let key = PaddedBlockEncryptingKey::cbc_pkcs7(key).map_err(|_| internal("AES key"))?;
    let mut ciphertext = plain.to_vec();
    let ctx = key
        .encrypt(&mut ciphertext)
        .map_err(|_| internal("AES encryption"))?;
    let iv: &[u8] = (&ctx).try_into().map_err(|_| internal("AES IV"))?;

    let mut enc_key = vec![0u8; public.ciphertext_size()];
    let enc_key = public
        .encrypt(&cek, &mut enc_key)
        .map_err(|_| internal("RSA encryption"))?;

    let ktri = tlv(
        0x30,
        &[
            tlv(0x02, &[0x00]),
            tlv(0x30, &[rcpt.issuer, rcpt.serial].concat()),
            tlv(0x30, &[oid_tlv(&RSA_ENCRYPTION), vec![0x05, 0x00]].concat()),
            tlv(0x04, enc_key),
        ]
        .concat(),
    );
    let eci = tlv(
        0x30,
        &[
            oid_tlv(&ID_DATA),
            tlv(0x30, &[oid_tlv(&AES256_CBC), tlv(0x04, iv)].concat()),
            tlv(0x80, &ciphertext),
        ]
        .concat(),
    );
    let env = tlv(0x30, &[tlv(0x02, &[0x00]), tlv(0x31, &ktri), eci].concat());
    Ok(tlv(
        0x30,
        &[oid_tlv(&ID_ENVELOPED_DATA), tlv(0xa0, &env)].concat(),
    ))
}

/// Attribute ::= SEQUENCE { attrType OID, attrValues SET { value } }
fn attribute(oid: &ObjectIdentifier, value: &[u8]) -> Vec<u8> {
    tlv(0x30, &[oid_tlv(oid), tlv(0x31, value)].concat())
}

/// A PrintableString if every character allows it, else a UTF8String.
fn directory_string(s: &str) -> Vec<u8> {
    let printable = s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b" '()+,-./:=?".contains(&b));
    tlv(if printable { 0x13 } else { 0x0c }, s.as_bytes())
}

/// signingTime: UTCTime for 1950–2049, GeneralizedTime otherwise (RFC 5652 §11.3).
fn signing_time(now_unix: i64) -> Result<Vec<u8>, ScepError> {
    let t = time::OffsetDateTime::from_unix_timestamp(now_unix)
        .map_err(|_| ScepError::bad_request("signing time out of range"))?;
    let (y, mo, d, h, mi, s) = (
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
    );
    Ok(if (1950..2050).contains(&y) {
        tlv(
            0x17,
            format!("{:02}{mo:02}{d:02}{h:02}{mi:02}{s:02}Z", y % 100).as_bytes(),
        )
    } else if (0..=9999).contains(&y) {
        tlv(
            0x18,
            format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}Z").as_bytes(),
        )
    } else {
        return Err(ScepError::bad_request("signing time out of range"));
    })
}
