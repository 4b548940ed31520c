//! A small strict DER reader (X.690 §10): definite, minimal lengths of at most four
//! octets, low tag numbers, bounded nesting. Never panics; every index is checked.

use crate::limits;

pub const INTEGER: u8 = 0x02;
pub const BIT_STRING: u8 = 0x03;
pub const NULL: u8 = 0x05;
pub const OID: u8 = 0x06;
pub const SEQUENCE: u8 = 0x30;

/// One element: its identifier octet, contents and complete encoding.
#[derive(Debug, Clone, Copy)]
pub struct Tlv<'a> {
    pub tag: u8,
    pub content: &'a [u8],
    pub raw: &'a [u8],
}

/// Checks that `input` is exactly one element, strictly DER-encoded throughout.
pub fn check_strict(input: &[u8]) -> Result<(), &'static str> {
    let (_, rest) = walk(input, 1)?;
    if rest.is_empty() {
        Ok(())
    } else {
        Err("trailing bytes after the outer element")
    }
}

/// Reads an element with `tag` and returns it with the bytes after it.
pub fn read(input: &[u8], tag: u8) -> Result<(Tlv<'_>, &[u8]), &'static str> {
    let (tlv, rest) = read_any(input)?;
    if tlv.tag != tag {
        return Err("unexpected element");
    }
    Ok((tlv, rest))
}

/// Reads one element of any tag.
pub fn read_any(input: &[u8]) -> Result<(Tlv<'_>, &[u8]), &'static str> {
    let (&tag, after_tag) = input.split_first().ok_or("truncated: missing tag")?;
    // X.690 §8.1.2.4: tag numbers >= 31 use the high-tag-number form; none are used here.
    if tag & 0x1f == 0x1f {
        return Err("high tag numbers are not allowed");
    }
    let (&first, mut after_len) = after_tag.split_first().ok_or("truncated: missing length")?;
    let len = if first < 0x80 {
        usize::from(first)
    } else if first == 0x80 {
        // X.690 §10.1: DER uses the definite form only.
        return Err("indefinite length (BER) is not allowed");
    } else {
        let count = usize::from(first & 0x7f);
        if count > 4 {
            return Err("length has more than 4 octets");
        }
        let octets = after_len.get(..count).ok_or("truncated length")?;
        after_len = &after_len[count..];
        if octets.first() == Some(&0) {
            return Err("non-minimal length (leading zero octet)");
        }
        let len = octets
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        if len < 0x80 {
            // X.690 §10.1: the short form must be used for lengths below 128.
            return Err("non-minimal length (long form for a short length)");
        }
        len
    };
    let content = after_len
        .get(..len)
        .ok_or("truncated: content shorter than its length")?;
    let header = input.len() - after_len.len();
    Ok((
        Tlv {
            tag,
            content,
            raw: &input[..header + len],
        },
        &after_len[len..],
    ))
}

/// Checks one element and everything inside it; returns the bytes after it.
fn walk(input: &[u8], depth: usize) -> Result<(Tlv<'_>, &[u8]), &'static str> {
    if depth > limits::MAX_ASN1_DEPTH {
        return Err("nesting too deep");
    }
    let (tlv, rest) = read_any(input)?;
    let constructed = tlv.tag & 0x20 != 0;
    let universal = tlv.tag & 0xc0 == 0;
    let number = tlv.tag & 0x1f;
    if universal {
        // X.690 §10.2: string types use the primitive form; SEQUENCE/SET are constructed.
        let must_construct = matches!(number, 0x10 | 0x11);
        if constructed != must_construct {
            return Err("wrong constructed/primitive form for a universal type");
        }
        check_primitive(number, tlv.content)?;
    }
    if constructed {
        let mut inner = tlv.content;
        while !inner.is_empty() {
            let (_, r) = walk(inner, depth + 1)?;
            inner = r;
        }
    }
    Ok((tlv, rest))
}

/// Checks the contents of universal primitive types with DER-specific rules.
fn check_primitive(number: u8, content: &[u8]) -> Result<(), &'static str> {
    match number {
        0 => Err("end-of-contents octets are not allowed"),
        // X.690 §11.1: BOOLEAN TRUE is 0xff.
        1 if content != [0x00] && content != [0xff] => Err("invalid BOOLEAN"),
        // X.690 §8.3.2: INTEGER contents are minimal two's complement.
        2 | 10 => match content {
            [] => Err("empty INTEGER"),
            [0x00, b, ..] if b & 0x80 == 0 => Err("non-minimal INTEGER"),
            [0xff, b, ..] if b & 0x80 != 0 => Err("non-minimal INTEGER"),
            _ => Ok(()),
        },
        // X.690 §11.2: unused bits 0..7, zero when empty, and the unused bits are zero.
        3 => match content {
            [] => Err("empty BIT STRING"),
            [unused, ..] if *unused > 7 => Err("BIT STRING with more than 7 unused bits"),
            [unused] if *unused != 0 => Err("empty BIT STRING with unused bits"),
            [unused, .., last] if last & ((1u8 << unused) - 1) != 0 => {
                Err("BIT STRING with non-zero padding bits")
            }
            _ => Ok(()),
        },
        5 if !content.is_empty() => Err("NULL with contents"),
        // X.690 §8.19.2: sub-identifiers are minimal and the last octet ends one.
        6 => {
            if content.is_empty() || content.last().is_some_and(|b| b & 0x80 != 0) {
                return Err("malformed OBJECT IDENTIFIER");
            }
            let mut start = true;
            for &b in content {
                if start && b == 0x80 {
                    return Err("non-minimal OBJECT IDENTIFIER");
                }
                start = b & 0x80 == 0;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Reads AlgorithmIdentifier contents (RFC 5280 §4.1.1.2): the dotted OID and the
/// optional parameters.
pub fn algorithm_identifier(content: &[u8]) -> Result<(String, Option<Tlv<'_>>), &'static str> {
    let (oid, rest) = read(content, OID)?;
    let oid = oid_to_string(oid.content).ok_or("malformed algorithm OID")?;
    if rest.is_empty() {
        return Ok((oid, None));
    }
    let (params, rest) = read_any(rest)?;
    if !rest.is_empty() {
        return Err("data after the algorithm parameters");
    }
    Ok((oid, Some(params)))
}

/// A small non-negative INTEGER (at most 4 content octets).
pub fn small_uint(tlv: Tlv<'_>) -> Result<u32, &'static str> {
    if tlv.tag != INTEGER || tlv.content.is_empty() || tlv.content.len() > 4 {
        return Err("expected a small INTEGER");
    }
    if tlv.content[0] & 0x80 != 0 {
        return Err("negative INTEGER");
    }
    Ok(tlv
        .content
        .iter()
        .fold(0u32, |acc, &b| (acc << 8) | u32::from(b)))
}

/// The dotted text of OBJECT IDENTIFIER contents (X.690 §8.19); `None` if malformed.
pub fn oid_to_string(content: &[u8]) -> Option<String> {
    let mut arcs: Vec<u64> = Vec::new();
    let mut value: u64 = 0;
    let mut pending = false;
    for &b in content {
        if value > (u64::MAX >> 7) {
            return None;
        }
        value = (value << 7) | u64::from(b & 0x7f);
        pending = true;
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let (first, second) = match value {
                    0..40 => (0, value),
                    40..80 => (1, value - 40),
                    _ => (2, value - 80),
                };
                arcs.push(first);
                arcs.push(second);
            } else {
                arcs.push(value);
            }
            value = 0;
            pending = false;
        }
    }
    if pending || arcs.is_empty() {
        return None;
    }
    Some(
        arcs.iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join("."),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csr::test_support::{ec_csr, oid_der, refused, seq, split, tlv};
    use crate::csr::verify_csr;
    use crate::refusal::RefusalCode;

    // ---- B1 row 11: malformed DER -----------------------------------------------------------

    #[test]
    fn malformed_der_refused() {
        let (_, der) = ec_csr();
        assert!(verify_csr(&der).is_ok());
        // Trailing byte.
        let mut trailing = der.clone();
        trailing.push(0);
        refused(verify_csr(&trailing), RefusalCode::BadCsr, "trailing");
        // Non-minimal length: the outer length with an extra leading zero octet.
        assert_eq!(der[1], 0x81, "test CSR outer length form");
        let body = &der[3..];
        let non_min = [&[0x30, 0x82, 0x00, der[2]][..], body].concat();
        refused(verify_csr(&non_min), RefusalCode::BadCsr, "non-minimal");
        // Long form for a length below 128 (an inner element).
        let mut long_short = vec![0x30];
        let inner = [&[0x02, 0x81, 0x01, 0x00][..]].concat();
        long_short.push(inner.len() as u8);
        long_short.extend(&inner);
        refused(verify_csr(&long_short), RefusalCode::BadCsr, "non-minimal");
        // Five length octets.
        let five = [&[0x30, 0x85, 0x00, 0x00, 0x00, 0x00, 0x01][..], &[0x05]].concat();
        refused(verify_csr(&five), RefusalCode::BadCsr, "more than 4");
        // BER indefinite length.
        let indefinite = [&[0x30, 0x80][..], body, &[0x00, 0x00]].concat();
        refused(verify_csr(&indefinite), RefusalCode::BadCsr, "indefinite");
        // Wrong tag class for the outer element ([APPLICATION 16] constructed).
        let mut wrong_class = der.clone();
        wrong_class[0] = 0x70;
        refused(
            verify_csr(&wrong_class),
            RefusalCode::BadCsr,
            "unexpected element",
        );
        // Constructed OCTET STRING / primitive SEQUENCE.
        refused(
            verify_csr(&[0x24, 0x00]),
            RefusalCode::BadCsr,
            "constructed/primitive",
        );
        refused(
            verify_csr(&[0x10, 0x00]),
            RefusalCode::BadCsr,
            "constructed/primitive",
        );
        // Bad BOOLEAN, non-minimal INTEGER, high tag number.
        refused(
            verify_csr(&[0x30, 0x03, 0x01, 0x01, 0x01]),
            RefusalCode::BadCsr,
            "BOOLEAN",
        );
        refused(
            verify_csr(&[0x30, 0x04, 0x02, 0x02, 0x00, 0x01]),
            RefusalCode::BadCsr,
            "INTEGER",
        );
        refused(
            verify_csr(&[0x30, 0x03, 0x1f, 0x21, 0x00]),
            RefusalCode::BadCsr,
            "high tag",
        );
        // Deep nesting: 33 levels is one too many; 100k levels is refused without recursion.
        let mut deep = vec![0x05, 0x00];
        for _ in 0..limits::MAX_ASN1_DEPTH {
            deep = seq(&[&deep]);
        }
        refused(verify_csr(&deep), RefusalCode::BadCsr, "too deep");
        let mut very_deep = Vec::new();
        for _ in 0..10_000 {
            very_deep.extend([0x30, 0x84, 0xff, 0xff, 0xff, 0xff]);
        }
        assert!(verify_csr(&very_deep).is_err());
        // Signature BIT STRING with unused bits.
        let (info, alg, signature) = split(&der);
        let mut bits = vec![0x04];
        bits.extend(&signature);
        *bits.last_mut().unwrap() &= 0xf0;
        let csr = seq(&[&info, &alg, &tlv(0x03, &bits)]);
        refused(verify_csr(&csr), RefusalCode::BadCsr, "unused bits");
    }

    #[test]
    fn oid_text() {
        assert_eq!(
            oid_to_string(&oid_der("1.2.840.113549.1.1.11")[2..]).as_deref(),
            Some("1.2.840.113549.1.1.11")
        );
        assert_eq!(
            oid_to_string(&oid_der("2.999.3")[2..]).as_deref(),
            Some("2.999.3")
        );
        assert_eq!(oid_to_string(&[0x81]), None);
        assert_eq!(oid_to_string(&[0xff; 12]), None);
        assert_eq!(oid_to_string(&[]), None);
    }
}
