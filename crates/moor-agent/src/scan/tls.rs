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

use moor_core::discovery::describe;

use super::{Endpoint, ScanResult};

/// At most this many certificates of one chain are recorded.
pub const MAX_CHAIN: usize = 16;

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

#[cfg(test)]
mod tests {
    use super::*;

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
