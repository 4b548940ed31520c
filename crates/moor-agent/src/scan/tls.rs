//! One TLS handshake per endpoint, recording whatever chain the server presents.
//!
//! The certificate verifier accepts every chain — the point is discovery, trusted or not —
//! and records it (leaf and intermediates, DER). The handshake's own signature is still
//! verified with the provider's algorithms, so a result says the server holds the key of
//! the leaf it presented. When that verification fails (for example an RSA key shorter
//! than the provider accepts), the chain is kept and the error says why.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde::{Deserialize, Serialize};
use x509_parser::prelude::*;

use super::{Endpoint, ScanResult};

/// At most this many certificates of one chain are recorded.
pub const MAX_CHAIN: usize = 16;

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
    /// Why the certificate could not be parsed (the other fields then are empty).
    pub error: Option<String>,
}

#[derive(Debug, Default)]
struct Seen {
    chain: Vec<CertificateDer<'static>>,
    version: Option<&'static str>,
}

/// Accepts any chain and records it; verifies the handshake signatures.
#[derive(Debug)]
struct RecordingVerifier {
    provider: Arc<CryptoProvider>,
    seen: Arc<Mutex<Seen>>,
}

impl RecordingVerifier {
    fn note_version(&self, v: &'static str) {
        if let Ok(mut s) = self.seen.lock() {
            s.version = Some(v);
        }
    }
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Ok(mut s) = self.seen.lock() {
            s.chain = std::iter::once(end_entity)
                .chain(intermediates)
                .take(MAX_CHAIN)
                .map(|c| c.clone().into_owned())
                .collect();
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.note_version("TLSv1.2");
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.note_version("TLSv1.3");
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn version_name(v: rustls::ProtocolVersion) -> String {
    match v {
        rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".into(),
        rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".into(),
        other => format!("{other:?}"),
    }
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Connect to one endpoint and record what it presents; never fails: every problem is
/// the result's `error`. `timeout` bounds the connection and the handshake together.
pub async fn scan_one(
    ep: Endpoint,
    provider: Arc<CryptoProvider>,
    timeout: Duration,
) -> ScanResult {
    let mut result = ScanResult {
        address: ep.address.clone(),
        port: ep.port,
        sni: ep.sni.clone(),
        reachable: false,
        error: ep.error.clone(),
        tls_version: None,
        chain: Vec::new(),
    };
    let Some(ip) = ep.ip else {
        if result.error.is_none() {
            result.error = Some("no address".into());
        }
        return result;
    };
    let server_name: ServerName<'static> = match &ep.sni {
        Some(name) => match ServerName::try_from(name.clone()) {
            Ok(n) => n,
            Err(e) => {
                result.error = Some(format!("bad server name {name:?}: {e}"));
                return result;
            }
        },
        None => ServerName::IpAddress(ip.into()),
    };
    let seen = Arc::new(Mutex::new(Seen::default()));
    let verifier = RecordingVerifier {
        provider: provider.clone(),
        seen: seen.clone(),
    };
    let config = match rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
    {
        Ok(b) => b
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth(),
        Err(e) => {
            result.error = Some(format!("TLS configuration: {e}"));
            return result;
        }
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let mut reachable = false;
    let mut negotiated: Option<String> = None;
    let attempt = async {
        let tcp = tokio::net::TcpStream::connect(SocketAddr::new(ip, ep.port))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        reachable = true;
        let tls = connector
            .connect(server_name, tcp)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        negotiated = tls.get_ref().1.protocol_version().map(version_name);
        Ok::<(), String>(())
    };
    let outcome = tokio::time::timeout(timeout, attempt).await;
    result.reachable = reachable;
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(e)) => result.error = Some(e),
        Err(_) => {
            result.error = Some(if reachable {
                format!("timed out after {timeout:?} during the handshake")
            } else {
                format!("timed out after {timeout:?} connecting")
            })
        }
    }
    let (chain, version) = match seen.lock() {
        Ok(mut s) => (std::mem::take(&mut s.chain), s.version),
        Err(_) => (Vec::new(), None),
    };
    result.tls_version = negotiated.or_else(|| version.map(str::to_string));
    let now = now_unix();
    result.chain = chain
        .iter()
        .enumerate()
        .map(|(i, der)| describe(der, i == 0, now))
        .collect();
    if let (Some(e), Some(leaf)) = (&mut result.error, result.chain.first())
        && e.contains("BadSignature")
        && leaf
            .key_algorithm
            .strip_prefix("rsa-")
            .and_then(|b| b.parse::<u32>().ok())
            .is_some_and(|bits| bits < 2048)
    {
        e.push_str(" (the server's RSA key is shorter than 2048 bits: its handshake signature is not accepted)");
    }
    result
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Describe one DER certificate; `leaf` for the first of a chain. Never panics: what
/// cannot be parsed leaves the fields empty and sets `error`.
pub fn describe(der: &[u8], leaf: bool, now: i64) -> CertInfo {
    let fingerprint = hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der).as_ref());
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
        error: None,
    };
    let cert = match X509Certificate::from_der(der) {
        Ok((_, c)) => c,
        Err(e) => {
            info.error = Some(format!("cannot parse the certificate: {e}"));
            return info;
        }
    };
    info.subject = cert.subject().to_string();
    info.issuer = cert.issuer().to_string();
    info.serial = moor_core::serial::Serial::from_magnitude(cert.raw_serial()).to_hex();
    info.not_before = cert.validity().not_before.timestamp();
    info.not_after = cert.validity().not_after.timestamp();
    info.expired = info.not_after < now;
    info.key_algorithm = key_algorithm(cert.public_key());
    info.signature_algorithm = signature_algorithm(&cert.signature_algorithm.algorithm);
    let mut ski: Option<&[u8]> = None;
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
            _ => {}
        }
    }
    let keys_agree = match (ski, aki) {
        (Some(s), Some(a)) => s == a,
        _ => true,
    };
    info.self_signed = cert.subject().as_raw() == cert.issuer().as_raw() && keys_agree;
    if !leaf && info.self_signed {
        info.position = "root".into();
    }
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
            _ => format!("ip:{}", hex(b)),
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

    #[tokio::test]
    async fn a_silent_server_times_out() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        // Accept and hold the connection without ever answering.
        let hold = tokio::spawn(async move {
            let conn = listener.accept().await;
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(conn);
        });
        let ep = Endpoint {
            address: "127.0.0.1".into(),
            ip: Some("127.0.0.1".parse().expect("ip")),
            port,
            sni: Some("silent.example".into()),
            error: None,
        };
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let start = std::time::Instant::now();
        let r = scan_one(ep, provider, Duration::from_millis(300)).await;
        assert!(start.elapsed() < Duration::from_secs(3));
        assert!(r.reachable);
        assert!(
            r.error.as_deref().is_some_and(|e| e.contains("timed out")),
            "{r:?}"
        );
        assert_eq!(r.sni.as_deref(), Some("silent.example"));
        hold.abort();
    }

    #[tokio::test]
    async fn unreachable_is_a_result() {
        // Bind then release a port so nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("port");
        let ep = Endpoint {
            address: "127.0.0.1".into(),
            ip: Some("127.0.0.1".parse().expect("ip")),
            port,
            sni: None,
            error: None,
        };
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let r = scan_one(ep, provider, Duration::from_secs(3)).await;
        assert!(!r.reachable);
        assert!(r.error.is_some());
        assert!(r.chain.is_empty());
    }
}
