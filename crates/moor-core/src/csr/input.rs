//! Decoding a CSR as sent by a client: PEM, bare base64 or raw DER.

use base64::Engine as _;

use super::{bad_csr, too_big};
use crate::limits;
use crate::refusal::Refusal;

/// Decodes a CSR as sent by a client: PEM (`CERTIFICATE REQUEST` or `NEW CERTIFICATE
/// REQUEST`, RFC 7468 §7), bare base64 (as in EST bodies, RFC 7030 §4.2.1) or raw DER.
/// Refuses anything whose DER exceeds [`limits::MAX_CSR_DER_BYTES`].
pub fn decode_csr_input(input: &[u8]) -> Result<Vec<u8>, Refusal> {
    // Base64 and PEM armour cost at most ~1.4x plus line breaks; anything longer is oversized.
    if input.len() > limits::MAX_CSR_DER_BYTES * 2 + 256 {
        return Err(too_big(input.len()));
    }
    let der = if input.first() == Some(&0x30) && input.get(1).is_some_and(|b| *b >= 0x80) {
        input.to_vec()
    } else if let Some(text) = std::str::from_utf8(input)
        .ok()
        .filter(|t| t.trim_start().starts_with("-----BEGIN"))
    {
        decode_pem(text)?
    } else if input.iter().all(|b| {
        b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=') || b.is_ascii_whitespace()
    }) && !input.is_empty()
    {
        decode_base64(input)?
    } else {
        input.to_vec()
    };
    if der.len() > limits::MAX_CSR_DER_BYTES {
        return Err(too_big(der.len()));
    }
    if der.is_empty() {
        return Err(bad_csr("empty CSR"));
    }
    Ok(der)
}

/// Decodes one PEM block labelled CERTIFICATE REQUEST or NEW CERTIFICATE REQUEST.
fn decode_pem(text: &str) -> Result<Vec<u8>, Refusal> {
    let text = text.trim();
    for label in ["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"] {
        let begin = format!("-----BEGIN {label}-----");
        let end = format!("-----END {label}-----");
        if let Some(body) = text.strip_prefix(begin.as_str()) {
            let Some(body) = body.strip_suffix(end.as_str()) else {
                return Err(bad_csr(format!(
                    "PEM block does not end with {end} (or has data after it)"
                )));
            };
            return decode_base64(body.as_bytes());
        }
    }
    Err(bad_csr(
        "PEM block is not a CERTIFICATE REQUEST or NEW CERTIFICATE REQUEST",
    ))
}

/// Decodes standard base64 with any whitespace between characters.
fn decode_base64(input: &[u8]) -> Result<Vec<u8>, Refusal> {
    let compact: Vec<u8> = input
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(&compact)
        .map_err(|e| bad_csr(format!("CSR base64 is invalid: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algorithm::KeyAlgorithm;
    use crate::csr::test_support::{key_for, params, refused};
    use crate::csr::verify_csr;
    use crate::refusal::RefusalCode;

    // ---- B1 row 10: size limits -----------------------------------------------------------

    #[test]
    fn oversized_refused() {
        refused(
            verify_csr(&vec![0x30; limits::MAX_CSR_DER_BYTES + 1]),
            RefusalCode::BadCsr,
            "at most",
        );
        assert!(decode_csr_input(&vec![0x30; limits::MAX_CSR_DER_BYTES * 3]).is_err());
        let big =
            base64::engine::general_purpose::STANDARD
                .encode(vec![0u8; limits::MAX_CSR_DER_BYTES + 3]);
        let e = decode_csr_input(big.as_bytes()).unwrap_err();
        assert!(e.detail.contains("at most"), "{e}");
    }

    #[test]
    fn input_decoding() {
        let key = key_for(KeyAlgorithm::EcdsaP256);
        let csr = params(&["example.com"]).serialize_request(&key).unwrap();
        let der = csr.der().to_vec();
        let pem = csr.pem().unwrap();
        assert_eq!(decode_csr_input(pem.as_bytes()).unwrap(), der);
        let new_label = pem.replace("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST");
        assert_eq!(decode_csr_input(new_label.as_bytes()).unwrap(), der);
        assert_eq!(decode_csr_input(&der).unwrap(), der);
        let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
        assert_eq!(decode_csr_input(b64.as_bytes()).unwrap(), der);
        let wrapped: String = b64
            .as_bytes()
            .chunks(64)
            .map(|c| format!("{}\r\n", std::str::from_utf8(c).unwrap()))
            .collect();
        assert_eq!(decode_csr_input(wrapped.as_bytes()).unwrap(), der);
        let cert_label = pem.replace("CERTIFICATE REQUEST", "CERTIFICATE");
        assert!(decode_csr_input(cert_label.as_bytes()).is_err());
        let extra = format!("{pem}junk");
        assert!(decode_csr_input(extra.as_bytes()).is_err());
        let broken = pem.replacen('M', "*", 1);
        assert!(decode_csr_input(broken.as_bytes()).is_err());
        assert!(decode_csr_input(b"").is_err());
    }
}
