//! tls-alpn-01 (RFC 8737): a TLS handshake to the identifier on the configured port with
//! ALPN `acme-tls/1` and SNI the name (for an IP, its reverse name, RFC 8738 §6), whose
//! self-signed certificate carries exactly one SAN, equal to the identifier, and the
//! critical acmeIdentifier extension (1.3.6.1.5.5.7.1.31) holding an OCTET STRING of
//! SHA-256(keyAuthorization).
//!
//! rustls speaks only TLS 1.2 and 1.3, so older versions fail the handshake (refuse.md B3).
//! The certificate is not chained to anything (it cannot be), but the handshake signature
//! is still verified against its key, so the server holds that key.

use std::net::IpAddr;
use std::sync::Arc;

use moor_core::identifier::Identifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls13_signature_with_raw_key};
use rustls::pki_types::{CertificateDer, ServerName, SubjectPublicKeyInfoDer, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::{
    Host, Outcome, Problem, ProblemKind, Validation, ValidationRecord, Validator, attempt_order,
    connect_first, key_authorization_digest,
};

/// The ALPN protocol of tls-alpn-01.
pub(crate) const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";
/// id-pe-acmeIdentifier (RFC 8737 §6.1).
const OID_ACME_IDENTIFIER: &str = "1.3.6.1.5.5.7.1.31";
/// The draft's id-pe-acmeIdentifier-v1, refused.
const OID_ACME_IDENTIFIER_LEGACY: &str = "1.3.6.1.5.5.7.1.30.1";

/// A TLS client (aws-lc-rs, TLS 1.2/1.3) offering `alpn`, accepting any certificate (the
/// caller checks it) but verifying handshake signatures, without session resumption.
pub(crate) fn client_config(alpn: Vec<Vec<u8>>) -> Result<Arc<ClientConfig>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate { provider }))
        .with_no_client_auth();
    config.alpn_protocols = alpn;
    config.resumption = rustls::client::Resumption::disabled();
    Ok(Arc::new(config))
}

/// The SubjectPublicKeyInfo of a certificate, parsed leniently: webpki refuses the
/// critical acmeIdentifier extension it does not know, so the handshake signature is
/// checked against the raw key.
fn spki_of(cert: &CertificateDer<'_>) -> Result<SubjectPublicKeyInfoDer<'static>, rustls::Error> {
    let (_, parsed) = X509Certificate::from_der(cert.as_ref())
        .map_err(|_| rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding))?;
    Ok(SubjectPublicKeyInfoDer::from(
        parsed.public_key().raw.to_vec(),
    ))
}

fn bad_key(e: webpki::Error) -> rustls::Error {
    rustls::Error::InvalidCertificate(rustls::CertificateError::Other(rustls::OtherError(
        std::sync::Arc::new(e),
    )))
}

/// Accepts any server certificate; verifies the handshake signatures with its key.
#[derive(Debug)]
struct AnyCertificate {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // TLS 1.2 names no curve/hash pairing: try every algorithm mapped to the scheme.
        let spki = spki_of(cert)?;
        let key = webpki::RawPublicKeyEntity::try_from(&spki).map_err(bad_key)?;
        let algs = &self.provider.signature_verification_algorithms;
        let candidates = algs
            .mapping
            .iter()
            .filter(|(scheme, _)| *scheme == dss.scheme)
            .flat_map(|(_, algs)| algs.iter());
        for alg in candidates {
            match key.verify_signature(*alg, message, dss.signature()) {
                Ok(()) => return Ok(HandshakeSignatureValid::assertion()),
                Err(webpki::Error::UnsupportedSignatureAlgorithmForPublicKeyContext(_)) => {}
                Err(e) => return Err(bad_key(e)),
            }
        }
        Err(rustls::Error::PeerMisbehaved(
            rustls::PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme,
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature_with_raw_key(
            message,
            &spki_of(cert)?,
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

/// The reverse-mapping name of an address (RFC 8738 §6 SNI): `4.3.2.1.in-addr.arpa`,
/// nibbles for IPv6 under `ip6.arpa`.
pub(crate) fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => {
            let mut s = String::with_capacity(72);
            for byte in v6.octets().iter().rev() {
                s.push_str(&format!("{:x}.{:x}.", byte & 0x0f, byte >> 4));
            }
            s.push_str("ip6.arpa");
            s
        }
    }
}

/// Checks the certificate of a tls-alpn-01 answer (RFC 8737 §3): exactly one SAN, equal
/// to the identifier; one critical acmeIdentifier extension whose value is the DER OCTET
/// STRING of SHA-256(keyAuthorization). Returns why not.
pub(crate) fn check_certificate(
    der: &[u8],
    identifier: &Identifier,
    key_authorization: &str,
) -> Result<(), String> {
    let (rest, cert) = X509Certificate::from_der(der)
        .map_err(|e| format!("the certificate cannot be parsed: {e}"))?;
    if !rest.is_empty() {
        return Err("the certificate has trailing bytes".into());
    }
    let san = cert
        .subject_alternative_name()
        .map_err(|e| format!("invalid subjectAltName extension: {e}"))?
        .ok_or("the certificate has no subjectAltName")?;
    let names = &san.value.general_names;
    if names.len() != 1 {
        return Err(format!(
            "the certificate has {} subjectAltNames; exactly one is required",
            names.len()
        ));
    }
    let matches = match (&names[0], identifier) {
        (GeneralName::DNSName(d), Identifier::Dns(want)) => d.eq_ignore_ascii_case(want),
        (GeneralName::IPAddress(bytes), Identifier::Ip(IpAddr::V4(want))) => {
            *bytes == want.octets().as_slice()
        }
        (GeneralName::IPAddress(bytes), Identifier::Ip(IpAddr::V6(want))) => {
            *bytes == want.octets().as_slice()
        }
        _ => false,
    };
    if !matches {
        return Err(format!(
            "the certificate's subjectAltName is not {}",
            identifier.value()
        ));
    }
    let acme: Vec<_> = cert
        .extensions()
        .iter()
        .filter(|e| e.oid.to_id_string() == OID_ACME_IDENTIFIER)
        .collect();
    let ext = match acme.as_slice() {
        [one] => one,
        [] => {
            let legacy = cert
                .extensions()
                .iter()
                .any(|e| e.oid.to_id_string() == OID_ACME_IDENTIFIER_LEGACY);
            return Err(if legacy {
                format!(
                    "the certificate carries only the obsolete {OID_ACME_IDENTIFIER_LEGACY}; RFC 8737 requires {OID_ACME_IDENTIFIER}"
                )
            } else {
                format!("the certificate lacks the acmeIdentifier extension {OID_ACME_IDENTIFIER}")
            });
        }
        _ => return Err("the certificate has more than one acmeIdentifier extension".into()),
    };
    if !ext.critical {
        return Err("the acmeIdentifier extension is not critical".into());
    }
    let digest = key_authorization_digest(key_authorization);
    let mut expected = Vec::with_capacity(34);
    expected.extend_from_slice(&[0x04, 0x20]);
    expected.extend_from_slice(&digest);
    if ext.value != expected.as_slice() {
        return Err(
            "the acmeIdentifier extension does not hold SHA-256 of the expected key authorization"
                .into(),
        );
    }
    Ok(())
}

/// Runs a tls-alpn-01 validation (the caller checked the identifier kind).
pub(super) async fn validate(
    v: &Validator,
    identifier: &Identifier,
    key_authorization: &str,
) -> Validation {
    let (host, sni) = match identifier {
        Identifier::Dns(n) => (Host::Dns(n.clone()), n.clone()),
        Identifier::Ip(ip) => (Host::Ip(super::canonical_ip(*ip)), reverse_name(*ip)),
        other => {
            return Validation::invalid(
                Problem::new(
                    ProblemKind::RejectedIdentifier,
                    format!("tls-alpn-01 cannot validate {other}"),
                ),
                Vec::new(),
            );
        }
    };
    let port = v.config().tlsalpn01_port;
    let mut record = ValidationRecord {
        hostname: host.to_string(),
        port: Some(port),
        ..ValidationRecord::default()
    };
    let result = handshake_and_check(
        v,
        &host,
        &sni,
        port,
        identifier,
        key_authorization,
        &mut record,
    )
    .await;
    let records = vec![record];
    match result {
        Ok(()) => Validation {
            outcome: Outcome::Valid,
            records,
        },
        Err(p) => Validation::invalid(p, records),
    }
}

async fn handshake_and_check(
    v: &Validator,
    host: &Host,
    sni: &str,
    port: u16,
    identifier: &Identifier,
    key_authorization: &str,
    record: &mut ValidationRecord,
) -> Result<(), Problem> {
    let allowed = v.allowed_addresses(host, record).await?;
    let order = attempt_order(&allowed);
    let (tcp, used) = connect_first(&order, port, v.config().timeouts.connect).await?;
    record.address_used = Some(used);
    let server_name = ServerName::try_from(sni.to_string()).map_err(|e| {
        Problem::new(
            ProblemKind::RejectedIdentifier,
            format!("{sni} is not a valid TLS server name: {e}"),
        )
    })?;
    let tls = tokio_rustls::TlsConnector::from(v.alpn_tls.clone())
        .connect(server_name, tcp)
        .await
        .map_err(|e| {
            Problem::new(
                ProblemKind::Tls,
                format!("TLS handshake with {used} port {port} for {sni} failed: {e}"),
            )
        })?;
    let (_, conn) = tls.get_ref();
    if conn.alpn_protocol() != Some(ACME_TLS_ALPN) {
        return Err(Problem::new(
            ProblemKind::Tls,
            format!("{used} port {port} did not negotiate the ALPN protocol acme-tls/1"),
        ));
    }
    let Some(cert) = conn.peer_certificates().and_then(|c| c.first()) else {
        return Err(Problem::new(
            ProblemKind::Tls,
            format!("{used} port {port} sent no certificate"),
        ));
    };
    check_certificate(cert.as_ref(), identifier, key_authorization).map_err(|why| {
        Problem::new(
            ProblemKind::IncorrectResponse,
            format!("tls-alpn-01 certificate from {used} port {port}: {why}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, CustomExtension, KeyPair, SanType};

    const KA: &str = "token.thumbprint";

    fn cert_with(sans: Vec<SanType>, exts: Vec<CustomExtension>) -> Vec<u8> {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::default();
        p.subject_alt_names = sans;
        p.custom_extensions = exts;
        p.self_signed(&key).unwrap().der().to_vec()
    }

    fn dns(s: &str) -> SanType {
        SanType::DnsName(s.try_into().unwrap())
    }

    fn good_ext() -> CustomExtension {
        CustomExtension::new_acme_identifier(&key_authorization_digest(KA))
    }

    fn id() -> Identifier {
        Identifier::Dns("a.example.com".into())
    }

    #[test]
    fn a_correct_certificate_passes() {
        let der = cert_with(vec![dns("a.example.com")], vec![good_ext()]);
        check_certificate(&der, &id(), KA).unwrap();
        let der = cert_with(vec![dns("A.Example.COM")], vec![good_ext()]);
        check_certificate(&der, &id(), KA).unwrap();
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let der = cert_with(vec![SanType::IpAddress(ip)], vec![good_ext()]);
        check_certificate(&der, &Identifier::Ip(ip), KA).unwrap();
    }

    #[test]
    fn wrong_certificates_fail() {
        let wrong = |der: Vec<u8>, needle: &str| {
            let e = check_certificate(&der, &id(), KA).unwrap_err();
            assert!(e.contains(needle), "{e:?} lacks {needle:?}");
        };
        wrong(
            cert_with(
                vec![dns("a.example.com"), dns("b.example.com")],
                vec![good_ext()],
            ),
            "2 subjectAltNames",
        );
        wrong(
            cert_with(vec![dns("b.example.com")], vec![good_ext()]),
            "is not a.example.com",
        );
        wrong(cert_with(vec![], vec![good_ext()]), "no subjectAltName");
        wrong(
            cert_with(vec![dns("a.example.com")], vec![]),
            "lacks the acmeIdentifier",
        );
        let mut noncritical = good_ext();
        noncritical.set_criticality(false);
        wrong(
            cert_with(vec![dns("a.example.com")], vec![noncritical]),
            "not critical",
        );
        let wrong_digest = CustomExtension::new_acme_identifier(&key_authorization_digest("other"));
        wrong(
            cert_with(vec![dns("a.example.com")], vec![wrong_digest]),
            "does not hold",
        );
        let mut legacy = CustomExtension::from_oid_content(
            &[1, 3, 6, 1, 5, 5, 7, 1, 30, 1],
            [&[0x04, 0x20][..], &key_authorization_digest(KA)].concat(),
        );
        legacy.set_criticality(true);
        wrong(
            cert_with(vec![dns("a.example.com")], vec![legacy]),
            "obsolete",
        );
        // A bare digest without the OCTET STRING wrapper.
        let mut bare = CustomExtension::from_oid_content(
            &[1, 3, 6, 1, 5, 5, 7, 1, 31],
            key_authorization_digest(KA).to_vec(),
        );
        bare.set_criticality(true);
        wrong(
            cert_with(vec![dns("a.example.com")], vec![bare]),
            "does not hold",
        );
        // An IP SAN for a DNS identifier.
        wrong(
            cert_with(
                vec![SanType::IpAddress("192.0.2.1".parse().unwrap())],
                vec![good_ext()],
            ),
            "is not a.example.com",
        );
    }

    #[test]
    fn garbage_certificates_do_not_panic() {
        let der = cert_with(vec![dns("a.example.com")], vec![good_ext()]);
        for cut in 0..der.len() {
            assert!(check_certificate(&der[..cut], &id(), KA).is_err());
        }
        let mut flipped = der.clone();
        for i in (0..flipped.len()).step_by(7) {
            flipped[i] ^= 0x5a;
            let _ = check_certificate(&flipped, &id(), KA);
            flipped[i] ^= 0x5a;
        }
    }

    #[test]
    fn reverse_names() {
        assert_eq!(
            reverse_name("192.0.2.7".parse().unwrap()),
            "7.2.0.192.in-addr.arpa"
        );
        assert_eq!(
            reverse_name("2001:db8::1".parse().unwrap()),
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa"
        );
    }
}
