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

#[cfg(test)]
mod tests {
    use super::*;

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
