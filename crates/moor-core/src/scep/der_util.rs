//! Small DER helpers shared by the SCEP modules: a bounded TLV reader (for the raw
//! bytes that must not be re-encoded), object identifiers and certificate fields.

use der::asn1::ObjectIdentifier;
use der::{Decode, Encode};
use x509_cert::Certificate;

pub(crate) use crate::crl::tlv;

/// id-data 1.2.840.113549.1.7.1
pub(crate) const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
/// id-signedData 1.2.840.113549.1.7.2
pub(crate) const ID_SIGNED_DATA: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
/// id-envelopedData 1.2.840.113549.1.7.3
pub(crate) const ID_ENVELOPED_DATA: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.3");
/// rsaEncryption 1.2.840.113549.1.1.1
pub(crate) const RSA_ENCRYPTION: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
pub(crate) const SHA1_WITH_RSA: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.5");
pub(crate) const SHA256_WITH_RSA: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
pub(crate) const SHA384_WITH_RSA: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
pub(crate) const SHA512_WITH_RSA: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
pub(crate) const SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
pub(crate) const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
pub(crate) const SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
pub(crate) const SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
/// desCBC 1.3.14.3.2.7
pub(crate) const DES_CBC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.7");
/// des-ede3-cbc 1.2.840.113549.3.7
pub(crate) const DES_EDE3_CBC: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.3.7");
pub(crate) const AES128_CBC: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.2");
pub(crate) const AES192_CBC: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.22");
pub(crate) const AES256_CBC: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.42");
/// PKCS#9 contentType, messageDigest, signingTime.
pub(crate) const ATTR_CONTENT_TYPE: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
pub(crate) const ATTR_MESSAGE_DIGEST: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
pub(crate) const ATTR_SIGNING_TIME: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");
/// SCEP attributes, 2.16.840.1.113733.1.9.x (RFC 8894 §3.2.1).
pub(crate) const ATTR_MESSAGE_TYPE: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.16.840.1.113733.1.9.2");
pub(crate) const ATTR_PKI_STATUS: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.16.840.1.113733.1.9.3");
pub(crate) const ATTR_FAIL_INFO: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.16.840.1.113733.1.9.4");
pub(crate) const ATTR_SENDER_NONCE: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.16.840.1.113733.1.9.5");
pub(crate) const ATTR_RECIPIENT_NONCE: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.16.840.1.113733.1.9.6");
pub(crate) const ATTR_TRANSACTION_ID: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.16.840.1.113733.1.9.7");
/// subjectKeyIdentifier 2.5.29.14
const EXT_SKI: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.14");

/// (tag, whole TLV, content, rest)
pub(crate) type Tlv<'a> = (u8, &'a [u8], &'a [u8], &'a [u8]);

/// One DER TLV at the start of `b` (single-byte tags, definite lengths of at most
/// 4 length octets): (tag, whole TLV, content, rest). None when truncated.
pub(crate) fn read_tlv(b: &[u8]) -> Option<Tlv<'_>> {
    let (&tag, rest) = b.split_first()?;
    if tag & 0x1f == 0x1f {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let (len_bytes, rest) = rest.split_at_checked(n)?;
        let len = len_bytes
            .iter()
            .fold(0usize, |a, &x| (a << 8) | usize::from(x));
        (len, rest)
    };
    let (content, after) = rest.split_at_checked(len)?;
    let whole = b.get(..b.len() - after.len())?;
    Some((tag, whole, content, after))
}

/// A BER message in DER form (X.690 §10): indefinite lengths become definite, a
/// constructed OCTET STRING becomes one primitive OCTET STRING of its parts' contents,
/// and lengths are minimal. DER input comes back unchanged (borrowed). Apple devices and
/// BouncyCastle-based clients send BER; the `cms` crate reads DER only. The signature is
/// over the DER of the signed attributes (RFC 5652 §5.4) and messageDigest over the
/// content octets, so both still verify on the result. Depth and size stay bounded.
pub(crate) fn ber_to_der(b: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, super::ScepError> {
    let bad = |why: &str| super::ScepError::bad_request(format!("not BER/DER: {why}"));
    // One BER element at the start of `b`: (tag, constructed content or primitive
    // value, rest). Children of a constructed element come back as their own elements.
    enum Body<'a> {
        Primitive(&'a [u8]),
        Constructed(Vec<Element<'a>>),
    }
    struct Element<'a> {
        tag: u8,
        body: Body<'a>,
    }
    fn element(b: &[u8], depth: usize) -> Result<(Element<'_>, &[u8]), &'static str> {
        if depth > MAX_DEPTH {
            return Err("nested too deeply");
        }
        let (&tag, rest) = b.split_first().ok_or("truncated")?;
        if tag & 0x1f == 0x1f {
            return Err("multi-byte tag");
        }
        let (&first, rest) = rest.split_first().ok_or("truncated")?;
        let constructed = tag & 0x20 != 0;
        if first == 0x80 {
            if !constructed {
                return Err("indefinite length on a primitive value");
            }
            let mut children = Vec::new();
            let mut rest = rest;
            loop {
                if let Some(after) = rest.strip_prefix(&[0u8, 0u8][..]) {
                    return Ok((
                        Element {
                            tag,
                            body: Body::Constructed(children),
                        },
                        after,
                    ));
                }
                if children.len() >= MAX_CHILDREN * 16 {
                    return Err("too many elements");
                }
                let (child, r) = element(rest, depth + 1)?;
                children.push(child);
                rest = r;
            }
        }
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let n = usize::from(first & 0x7f);
            if n > 4 {
                return Err("length too long");
            }
            let (lb, rest) = rest.split_at_checked(n).ok_or("truncated")?;
            (
                lb.iter().fold(0usize, |a, &x| (a << 8) | usize::from(x)),
                rest,
            )
        };
        let (content, after) = rest.split_at_checked(len).ok_or("truncated")?;
        if !constructed {
            return Ok((
                Element {
                    tag,
                    body: Body::Primitive(content),
                },
                after,
            ));
        }
        let mut children = Vec::new();
        let mut c = content;
        while !c.is_empty() {
            if children.len() >= MAX_CHILDREN * 16 {
                return Err("too many elements");
            }
            let (child, r) = element(c, depth + 1)?;
            children.push(child);
            c = r;
        }
        Ok((
            Element {
                tag,
                body: Body::Constructed(children),
            },
            after,
        ))
    }
    /// The contents of a (possibly constructed) OCTET STRING.
    fn octets(e: &Element<'_>, out: &mut Vec<u8>) -> Result<(), &'static str> {
        match &e.body {
            Body::Primitive(v) if e.tag == 0x04 => {
                out.extend_from_slice(v);
                Ok(())
            }
            Body::Constructed(parts) if e.tag == 0x24 || e.tag == 0x04 => {
                parts.iter().try_for_each(|p| octets(p, out))
            }
            _ => Err("a constructed OCTET STRING holds something else"),
        }
    }
    fn encode(e: &Element<'_>, out: &mut Vec<u8>) -> Result<(), &'static str> {
        match &e.body {
            Body::Primitive(v) => out.extend(tlv(e.tag, v)),
            Body::Constructed(_) if e.tag == 0x24 => {
                let mut v = Vec::new();
                octets(e, &mut v)?;
                out.extend(tlv(0x04, &v));
            }
            Body::Constructed(children) => {
                let mut inner = Vec::new();
                for c in children {
                    encode(c, &mut inner)?;
                }
                out.extend(tlv(e.tag, &inner));
            }
        }
        Ok(())
    }
    let (e, rest) = element(b, 0).map_err(bad)?;
    if !rest.is_empty() {
        return Err(bad("bytes after the message"));
    }
    let mut out = Vec::with_capacity(b.len());
    encode(&e, &mut out).map_err(bad)?;
    if out == b {
        Ok(std::borrow::Cow::Borrowed(b))
    } else {
        Ok(std::borrow::Cow::Owned(out))
    }
}

/// Most elements a constructed value may hold, and deepest nesting, in a message we
/// parse: far beyond any real SCEP message, small enough that the `der` crate's SET OF
/// sorting (quadratic) and our recursion stay cheap on hostile input.
pub(crate) const MAX_CHILDREN: usize = 64;
pub(crate) const MAX_DEPTH: usize = 32;

/// Refuse a DER value with a constructed element of more than [`MAX_CHILDREN`]
/// elements or nested deeper than [`MAX_DEPTH`] (before any typed decoding).
pub(crate) fn check_shape(der: &[u8]) -> Result<(), super::ScepError> {
    fn walk(mut b: &[u8], depth: usize) -> Result<(), &'static str> {
        if depth > MAX_DEPTH {
            return Err("nested too deeply");
        }
        let mut n = 0usize;
        while !b.is_empty() {
            let Some((tag, _, content, rest)) = read_tlv(b) else {
                // Not our shape to judge: the typed decoder reports the error.
                return Ok(());
            };
            n += 1;
            if n > MAX_CHILDREN {
                return Err("too many elements in one SET or SEQUENCE");
            }
            if tag & 0x20 != 0 {
                walk(content, depth + 1)?;
            }
            b = rest;
        }
        Ok(())
    }
    walk(der, 0).map_err(|why| super::ScepError::bad_request(format!("refused message: {why}")))
}

/// The raw (exactly as encoded) issuer Name TLV, serial INTEGER TLV and
/// SubjectPublicKeyInfo TLV of a DER certificate.
pub(crate) struct CertParts<'a> {
    pub issuer: &'a [u8],
    pub serial: &'a [u8],
    pub spki: &'a [u8],
}

pub(crate) fn cert_parts(cert_der: &[u8]) -> Option<CertParts<'_>> {
    let (tag, _, cert, _) = read_tlv(cert_der)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, _, tbs, _) = read_tlv(cert)?;
    if tag != 0x30 {
        return None;
    }
    let (mut tag, mut whole, _, mut rest) = read_tlv(tbs)?;
    if tag == 0xa0 {
        (tag, whole, _, rest) = read_tlv(rest)?;
    }
    if tag != 0x02 {
        return None;
    }
    let serial = whole;
    let (_sig_alg, _, _, rest) = read_tlv(rest)?;
    let (tag, issuer, _, rest) = read_tlv(rest)?;
    if tag != 0x30 {
        return None;
    }
    let (_validity, _, _, rest) = read_tlv(rest)?;
    let (_subject, _, _, rest) = read_tlv(rest)?;
    let (tag, spki, _, _) = read_tlv(rest)?;
    if tag != 0x30 {
        return None;
    }
    Some(CertParts {
        issuer,
        serial,
        spki,
    })
}

/// The subjectKeyIdentifier extension value of a certificate, if present.
pub(crate) fn subject_key_id(cert: &Certificate) -> Option<Vec<u8>> {
    let ext = cert
        .tbs_certificate
        .extensions
        .as_ref()?
        .iter()
        .find(|e| e.extn_id == EXT_SKI)?;
    let ski = der::asn1::OctetString::from_der(ext.extn_value.as_bytes()).ok()?;
    Some(ski.as_bytes().to_vec())
}

/// Whether `cert` is the one named by an issuerAndSerialNumber.
pub(crate) fn matches_issuer_serial(
    cert: &Certificate,
    ias: &cms::cert::IssuerAndSerialNumber,
) -> bool {
    // Compare the encodings: both sides were decoded from DER.
    cert.tbs_certificate.serial_number == ias.serial_number
        && match (cert.tbs_certificate.issuer.to_der(), ias.issuer.to_der()) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
}

/// A supported digest algorithm (by OID).
pub(crate) fn digest_alg(oid: &ObjectIdentifier) -> Option<&'static aws_lc_rs::digest::Algorithm> {
    #[allow(deprecated)]
    let sha1 = &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY;
    Some(match *oid {
        SHA1 => sha1,
        SHA256 => &aws_lc_rs::digest::SHA256,
        SHA384 => &aws_lc_rs::digest::SHA384,
        SHA512 => &aws_lc_rs::digest::SHA512,
        _ => return None,
    })
}

/// TLV of an OBJECT IDENTIFIER.
pub(crate) fn oid_tlv(oid: &ObjectIdentifier) -> Vec<u8> {
    tlv(0x06, oid.as_bytes())
}
