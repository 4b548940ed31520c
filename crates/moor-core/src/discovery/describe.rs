//! What the inventory keeps of one certificate, read from its DER: [`describe`] never
//! panics and never trusts anything but the bytes (the server re-reads every certificate a
//! scanner reports).

use serde::{Deserialize, Serialize};
use x509_parser::prelude::*;

/// One certificate of a presented chain.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CertInfo {
    /// `leaf` (the first), `root` (a later self-signed one) or `intermediate`.
    pub position: String,
    /// The subject distinguished name (RFC 4514 style, as x509-parser prints it).
    pub subject: String,
    /// The issuer distinguished name.
    pub issuer: String,
    /// The serial number: lower-case hex of its magnitude (the form Mooring stores).
    pub serial: String,
    /// Start of validity, Unix seconds.
    pub not_before: i64,
    /// End of validity, Unix seconds.
    pub not_after: i64,
    /// Subject alternative names: `dns:…`, `ip:…`, `email:…`, `uri:…`.
    pub sans: Vec<String>,
    /// The key: `rsa-2048`, `ecdsa-p256`, `ecdsa-p384`, `ed25519`, `ml-dsa-65`, …
    pub key_algorithm: String,
    /// The signature algorithm: `sha256WithRSAEncryption`, `ecdsa-with-SHA256`, …
    pub signature_algorithm: String,
    /// SHA-256 of the DER, lower-case hex.
    pub fingerprint_sha256: String,
    /// Issuer equals subject (and the key identifiers agree when both are present).
    pub self_signed: bool,
    /// `not_after` is in the past.
    pub expired: bool,
    /// SHA-256 of the SubjectPublicKeyInfo DER, lower-case hex (keys shared by several
    /// certificates; empty when unparsable).
    #[serde(default)]
    pub spki_sha256: String,
    /// The basicConstraints cA flag, when the extension is present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_ca: Option<bool>,
    /// Why the certificate could not be parsed (the other fields then are empty).
    pub error: Option<String>,
    /// The certificate itself, DER in standard base64: what a report carries, so the server
    /// reads it for itself.
    #[serde(default)]
    pub der: String,
}

/// Describe a certificate found stored (a file), where no chain order says what it is:
/// basicConstraints does (a CA is a root when self-signed, else an intermediate); without
/// it, a self-signed certificate is taken for a root and any other for a leaf.
pub fn describe_stored(der: &[u8], now: i64) -> CertInfo {
    let mut info = describe(der, false, now);
    if info.error.is_none() {
        info.position = match (info.is_ca, info.self_signed) {
            (Some(true), true) | (None, true) => "root",
            (Some(true), false) => "intermediate",
            (Some(false), _) | (None, false) => "leaf",
        }
        .into();
    }
    info
}

/// Describe one DER certificate; `leaf` for the first of a chain. Never panics: what
/// cannot be parsed leaves the fields empty and sets `error`.
pub fn describe(der: &[u8], leaf: bool, now: i64) -> CertInfo {
    use base64::Engine as _;
    let fingerprint = hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der));
    let mut info = CertInfo {
        position: if leaf { "leaf" } else { "intermediate" }.into(),
        subject: String::new(),
        issuer: String::new(),
        serial: String::new(),
        not_before: 0,
        not_after: 0,
        sans: Vec::new(),
        key_algorithm: String::new(),
        signature_algorithm: String::new(),
        fingerprint_sha256: fingerprint,
        self_signed: false,
        expired: false,
        spki_sha256: String::new(),
        is_ca: None,
        error: None,
        der: base64::engine::general_purpose::STANDARD.encode(der),
    };
    let cert = match X509Certificate::from_der(der) {
        Ok(([], c)) => c,
        Ok(_) => {
            info.error = Some("bytes follow the certificate".into());
            return info;
        }
        Err(e) => {
            info.error = Some(format!("cannot parse the certificate: {e}"));
            return info;
        }
    };
    info.subject = cert.subject().to_string();
    info.issuer = cert.issuer().to_string();
    info.serial = crate::serial::Serial::from_magnitude(cert.raw_serial()).to_hex();
    info.not_before = cert.validity().not_before.timestamp();
    info.not_after = cert.validity().not_after.timestamp();
    info.expired = info.not_after < now;
    info.key_algorithm = key_algorithm(cert.public_key());
    info.spki_sha256 = hex::encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        cert.public_key().raw,
    ));
    info.signature_algorithm = signature_algorithm(&cert.signature_algorithm.algorithm);
    let mut ski: Option<&[u8]> = None;
    let mut ca: Option<bool> = None;
    let mut aki: Option<&[u8]> = None;
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => ski = Some(k.0),
            ParsedExtension::AuthorityKeyIdentifier(a) => {
                aki = a.key_identifier.as_ref().map(|k| k.0)
            }
            ParsedExtension::SubjectAlternativeName(san) => {
                info.sans = san.general_names.iter().filter_map(san_text).collect();
            }
            ParsedExtension::BasicConstraints(bc) => ca = Some(bc.ca),
            _ => {}
        }
    }
    let keys_agree = match (ski, aki) {
        (Some(s), Some(a)) => s == a,
        _ => true,
    };
    info.self_signed = cert.subject().as_raw() == cert.issuer().as_raw() && keys_agree;
    // The first certificate a server presents is its end-entity certificate whatever it
    // claims (`openssl req -x509` marks self-signed server certificates CA:TRUE). Further
    // in a chain: a root when self-signed, else an intermediate.
    info.position = if leaf {
        "leaf"
    } else if info.self_signed {
        "root"
    } else {
        "intermediate"
    }
    .into();
    info.is_ca = ca;
    info
}

fn san_text(n: &GeneralName<'_>) -> Option<String> {
    Some(match n {
        GeneralName::DNSName(d) => format!("dns:{d}"),
        GeneralName::RFC822Name(e) => format!("email:{e}"),
        GeneralName::URI(u) => format!("uri:{u}"),
        GeneralName::IPAddress(b) => match b.len() {
            4 => {
                let a: [u8; 4] = (*b).try_into().ok()?;
                format!("ip:{}", std::net::Ipv4Addr::from(a))
            }
            16 => {
                let a: [u8; 16] = (*b).try_into().ok()?;
                format!("ip:{}", std::net::Ipv6Addr::from(a))
            }
            _ => format!("ip:{}", hex::encode(b)),
        },
        GeneralName::DirectoryName(d) => format!("dirname:{d}"),
        _ => return None,
    })
}

fn key_algorithm(spki: &SubjectPublicKeyInfo<'_>) -> String {
    let oid = spki.algorithm.algorithm.to_id_string();
    match oid.as_str() {
        "1.2.840.113549.1.1.1" | "1.2.840.113549.1.1.10" => match spki.parsed() {
            Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => {
                let m = rsa.modulus;
                let start = m.iter().position(|b| *b != 0).unwrap_or(m.len());
                let bits = match m.get(start) {
                    Some(first) => (m.len() - start) * 8 - first.leading_zeros() as usize,
                    None => 0,
                };
                format!("rsa-{bits}")
            }
            _ => "rsa".into(),
        },
        "1.2.840.10045.2.1" => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string());
            match curve.as_deref() {
                Some("1.2.840.10045.3.1.7") => "ecdsa-p256".into(),
                Some("1.3.132.0.34") => "ecdsa-p384".into(),
                Some("1.3.132.0.35") => "ecdsa-p521".into(),
                Some(other) => format!("ecdsa-{other}"),
                None => "ecdsa".into(),
            }
        }
        "1.3.101.112" => "ed25519".into(),
        "1.3.101.113" => "ed448".into(),
        "2.16.840.1.101.3.4.3.17" => "ml-dsa-44".into(),
        "2.16.840.1.101.3.4.3.18" => "ml-dsa-65".into(),
        "2.16.840.1.101.3.4.3.19" => "ml-dsa-87".into(),
        "1.2.840.10040.4.1" => "dsa".into(),
        other => format!("unknown-{other}"),
    }
}

fn signature_algorithm(oid: &x509_parser::der_parser::oid::Oid<'_>) -> String {
    let id = oid.to_id_string();
    let name = match id.as_str() {
        "1.2.840.113549.1.1.4" => "md5WithRSAEncryption",
        "1.2.840.113549.1.1.5" => "sha1WithRSAEncryption",
        "1.2.840.113549.1.1.11" => "sha256WithRSAEncryption",
        "1.2.840.113549.1.1.12" => "sha384WithRSAEncryption",
        "1.2.840.113549.1.1.13" => "sha512WithRSAEncryption",
        "1.2.840.113549.1.1.14" => "sha224WithRSAEncryption",
        "1.2.840.113549.1.1.10" => "rsassaPss",
        "1.2.840.10045.4.1" => "ecdsa-with-SHA1",
        "1.2.840.10045.4.3.1" => "ecdsa-with-SHA224",
        "1.2.840.10045.4.3.2" => "ecdsa-with-SHA256",
        "1.2.840.10045.4.3.3" => "ecdsa-with-SHA384",
        "1.2.840.10045.4.3.4" => "ecdsa-with-SHA512",
        "1.3.101.112" => "ed25519",
        "1.3.101.113" => "ed448",
        "2.16.840.1.101.3.4.3.17" => "ml-dsa-44",
        "2.16.840.1.101.3.4.3.18" => "ml-dsa-65",
        "2.16.840.1.101.3.4.3.19" => "ml-dsa-87",
        "1.2.840.10040.4.3" => "dsa-with-sha1",
        _ => return id,
    };
    name.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn self_signed(alg: &'static rcgen::SignatureAlgorithm) -> Vec<u8> {
        let key = rcgen::KeyPair::generate_for(alg).expect("key");
        let mut params = rcgen::CertificateParams::new(vec!["a.example".into(), "10.0.0.1".into()])
            .expect("params");
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x00, 0x8a, 0x01]));
        params.self_signed(&key).expect("cert").der().to_vec()
    }

    #[test]
    fn describes_a_certificate() {
        let der = self_signed(&rcgen::PKCS_ECDSA_P256_SHA256);
        let i = describe(&der, true, 0);
        assert_eq!(i.position, "leaf");
        assert_eq!(i.key_algorithm, "ecdsa-p256");
        assert_eq!(i.signature_algorithm, "ecdsa-with-SHA256");
        assert_eq!(i.serial, "8a01");
        assert_eq!(i.sans, vec!["dns:a.example", "ip:10.0.0.1"]);
        assert!(i.self_signed && !i.expired && i.error.is_none());
        assert_eq!(i.fingerprint_sha256.len(), 64);
        let i = describe(&der, false, i64::MAX);
        assert_eq!(i.position, "root");
        assert!(i.expired);
        let i = describe(&self_signed(&rcgen::PKCS_ED25519), true, 0);
        assert_eq!(i.key_algorithm, "ed25519");
        assert_eq!(i.signature_algorithm, "ed25519");
    }

    #[test]
    fn malformed_certificates_never_panic() {
        let der = self_signed(&rcgen::PKCS_ECDSA_P384_SHA384);
        for n in 0..der.len() {
            let _ = describe(&der[..n], true, 0);
        }
        let mut x: u32 = 7;
        for i in 0..der.len() {
            let mut d = der.clone();
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            d[i] ^= (x >> 16) as u8 | 1;
            let _ = describe(&d, false, 0);
        }
        let i = describe(b"not a certificate", true, 0);
        assert!(i.error.is_some());
        assert_eq!(i.fingerprint_sha256.len(), 64);
    }
}
