//! PKCS#7 / CMS "certs-only" messages (RFC 5652 §5 degenerate SignedData; RFC 7030 §4.1.3,
//! RFC 8894 §3.4): a SignedData with no content and no signers that carries certificates.
//! EST answers `cacerts`, `simpleenroll` and `simplereenroll` with one, base64-encoded.

use crate::crl::tlv;

/// id-signedData 1.2.840.113549.1.7.2
const ID_SIGNED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];
/// id-data 1.2.840.113549.1.7.1
const ID_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01];

/// The DER ContentInfo of a certs-only SignedData holding `certs` (DER certificates, in
/// the given order).
pub fn certs_only(certs: &[&[u8]]) -> Vec<u8> {
    // SignedData ::= SEQUENCE { version 1, digestAlgorithms SET {}, encapContentInfo
    //   SEQUENCE { id-data }, certificates [0] IMPLICIT SET OF Certificate, signerInfos SET {} }
    let mut set = Vec::new();
    for c in certs {
        set.extend_from_slice(c);
    }
    let mut signed = Vec::new();
    signed.extend(tlv(0x02, &[0x01]));
    signed.extend(tlv(0x31, &[]));
    signed.extend(tlv(0x30, &tlv(0x06, ID_DATA)));
    signed.extend(tlv(0xa0, &set));
    signed.extend(tlv(0x31, &[]));
    let mut info = tlv(0x06, ID_SIGNED_DATA);
    info.extend(tlv(0xa0, &tlv(0x30, &signed)));
    tlv(0x30, &info)
}

/// A certs-only message that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a certs-only PKCS#7: {0}")]
pub struct Pkcs7Error(&'static str);

/// One DER TLV at the start of `b`: (tag, content, rest); definite lengths of at most
/// four octets. None when truncated or malformed.
pub fn parse_tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = b.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |a, &x| (a << 8) | usize::from(x));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

fn read_tlv(b: &[u8]) -> Result<(u8, &[u8], &[u8]), Pkcs7Error> {
    parse_tlv(b).ok_or(Pkcs7Error("truncated or bad length"))
}

/// The certificates (DER, in order) of a certs-only ContentInfo(SignedData), as EST and
/// SCEP servers answer.
pub fn certificates(der: &[u8]) -> Result<Vec<Vec<u8>>, Pkcs7Error> {
    let (tag, info, _) = read_tlv(der)?;
    if tag != 0x30 {
        return Err(Pkcs7Error("ContentInfo is not a SEQUENCE"));
    }
    let (tag, oid, rest) = read_tlv(info)?;
    if tag != 0x06 || oid != ID_SIGNED_DATA {
        return Err(Pkcs7Error("not signedData"));
    }
    let (tag, explicit, _) = read_tlv(rest)?;
    if tag != 0xa0 {
        return Err(Pkcs7Error("no [0] content"));
    }
    let (tag, signed, _) = read_tlv(explicit)?;
    if tag != 0x30 {
        return Err(Pkcs7Error("SignedData is not a SEQUENCE"));
    }
    // version, digestAlgorithms, encapContentInfo, then [0] certificates.
    let mut rest = signed;
    for _ in 0..3 {
        rest = read_tlv(rest)?.2;
    }
    let (tag, mut certs, _) = read_tlv(rest)?;
    if tag != 0xa0 {
        return Err(Pkcs7Error("no certificates"));
    }
    let mut out = Vec::new();
    while !certs.is_empty() {
        let (tag, _, after) = read_tlv(certs)?;
        if tag != 0x30 {
            return Err(Pkcs7Error("a certificate is not a SEQUENCE"));
        }
        out.push(certs[..certs.len() - after.len()].to_vec());
        certs = after;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificates_round_trip_and_junk_is_an_error() {
        let a = [0x30, 0x03, 0x02, 0x01, 0x05];
        let b = [0x30, 0x00];
        assert_eq!(
            certificates(&certs_only(&[&a, &b])).unwrap(),
            vec![a.to_vec(), b.to_vec()]
        );
        let good = certs_only(&[&a]);
        for cut in 0..good.len() {
            assert!(certificates(&good[..cut]).is_err(), "truncated at {cut}");
        }
        for junk in [
            &[][..],
            &[0x30, 0x80],
            &[0x04, 0x00],
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
        ] {
            assert!(certificates(junk).is_err());
        }
    }

    #[test]
    fn certs_only_is_a_content_info_of_signed_data() {
        // Two fake "certificates" (any DER works for the framing).
        let a = [0x30, 0x03, 0x02, 0x01, 0x05];
        let b = [0x30, 0x00];
        let der = certs_only(&[&a, &b]);
        assert_eq!(der[0], 0x30);
        assert!(
            der.windows(ID_SIGNED_DATA.len())
                .any(|w| w == ID_SIGNED_DATA)
        );
        // The certificates appear in order inside [0].
        let pos = der.windows(a.len()).position(|w| w == a).unwrap();
        assert_eq!(&der[pos + a.len()..pos + a.len() + 2], &b);
        assert_eq!(der.len(), 2 + 2 + 9 + 2 + 2 + 3 + 2 + 2 + 11 + 2 + 7 + 2);
        // No certificates: still well formed (an empty SET).
        let empty = certs_only(&[]);
        assert_eq!(empty[0], 0x30);
        assert_eq!(usize::from(empty[1]) + 2, empty.len());
    }
}
