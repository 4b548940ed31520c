//! PEM text of DER certificates (RFC 7468 §5.1), as files and HTTP answers carry them.

use base64::Engine as _;

/// `-----BEGIN CERTIFICATE-----` blocks for `ders`, in order, lines of 64 characters.
pub fn certificates(ders: &[&[u8]]) -> String {
    let mut out = String::new();
    for der in ders {
        out.push_str("-----BEGIN CERTIFICATE-----\n");
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        for chunk in b64.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
    }
    out
}
