//! The PKCS#9 extensionRequest: requested subjectAltNames, CA bit, key usages, EKUs and
//! critical extensions, reported for the profile to judge.

use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::cri_attributes::ParsedCriAttribute;
use x509_parser::extensions::{GeneralName, ParsedExtension};

use super::{VerifiedCsr, bad_csr, oid};
use crate::identifier::{self, Identifier, IdentifierRules};
use crate::limits;
use crate::refusal::{Refusal, RefusalCode};

/// Reads the PKCS#9 extensionRequest attribute (RFC 2985 §5.4.2) into `out`.
pub(super) fn read_extension_request(
    csr: &X509CertificationRequest<'_>,
    out: &mut VerifiedCsr,
) -> Result<(), Refusal> {
    let mut requests = csr
        .certification_request_info
        .iter_attributes()
        .filter_map(|a| match a.parsed_attribute() {
            ParsedCriAttribute::ExtensionRequest(r) => Some(r),
            _ => None,
        });
    let Some(request) = requests.next() else {
        return Ok(());
    };
    if requests.next().is_some() {
        return Err(bad_csr("CSR has more than one extensionRequest attribute"));
    }
    let mut seen: Vec<String> = Vec::new();
    for ext in &request.extensions {
        let oid = ext.oid.to_id_string();
        // RFC 5280 §4.2: a certificate MUST NOT include more than one instance of an extension.
        if seen.contains(&oid) {
            return Err(bad_csr(format!("CSR requests extension {oid} twice")));
        }
        seen.push(oid.clone());
        match ext.parsed_extension() {
            ParsedExtension::ParseError { .. } => {
                return Err(bad_csr(format!("requested extension {oid} is malformed")));
            }
            ParsedExtension::SubjectAlternativeName(san) => {
                if san.general_names.is_empty() {
                    return Err(bad_csr("requested subjectAltName is empty"));
                }
                if san.general_names.len() > limits::MAX_SANS {
                    return Err(Refusal::new(
                        RefusalCode::TooManyIdentifiers,
                        format!(
                            "CSR requests {} subject alternative names; at most {} are allowed",
                            san.general_names.len(),
                            limits::MAX_SANS
                        ),
                    ));
                }
                for name in &san.general_names {
                    out.sans.push(general_name(name)?);
                }
            }
            ParsedExtension::BasicConstraints(bc) => out.requests_ca = bc.ca,
            ParsedExtension::KeyUsage(ku) => {
                out.requested_key_usage_cert_sign = ku.key_cert_sign() || ku.crl_sign();
            }
            ParsedExtension::ExtendedKeyUsage(eku) => {
                let flags = [
                    (eku.any, oid::EKU_ANY),
                    (eku.server_auth, oid::EKU_SERVER_AUTH),
                    (eku.client_auth, oid::EKU_CLIENT_AUTH),
                    (eku.code_signing, oid::EKU_CODE_SIGNING),
                    (eku.email_protection, oid::EKU_EMAIL_PROTECTION),
                    (eku.time_stamping, oid::EKU_TIME_STAMPING),
                    (eku.ocsp_signing, oid::EKU_OCSP_SIGNING),
                ];
                out.requested_ekus.extend(
                    flags
                        .iter()
                        .filter(|(set, _)| *set)
                        .map(|(_, o)| (*o).to_string()),
                );
                out.requested_ekus
                    .extend(eku.other.iter().map(|o| o.to_id_string()));
            }
            ParsedExtension::NameConstraints(_) => out.requests_name_constraints = true,
            _ => {}
        }
        if oid == oid::NAME_CONSTRAINTS {
            out.requests_name_constraints = true;
        }
        if ext.critical
            && ![
                oid::EXT_SAN,
                oid::EXT_KEY_USAGE,
                oid::EXT_EKU,
                oid::EXT_BASIC_CONSTRAINTS,
            ]
            .contains(&oid.as_str())
        {
            out.unknown_critical_extensions.push(oid);
        }
    }
    Ok(())
}

/// Converts one requested GeneralName (RFC 5280 §4.2.1.6) into an identifier.
fn general_name(name: &GeneralName<'_>) -> Result<Identifier, Refusal> {
    let rules = IdentifierRules::default();
    let id = match name {
        GeneralName::DNSName(s) => identifier::parse_dns(s, rules),
        GeneralName::RFC822Name(s) => identifier::parse_email(s),
        GeneralName::URI(s) => identifier::parse_uri(s),
        GeneralName::IPAddress(bytes) => {
            let ip: std::net::IpAddr = match bytes.len() {
                4 => <[u8; 4]>::try_from(*bytes)
                    .map(std::net::IpAddr::from)
                    .map_err(|_| ()),
                16 => <[u8; 16]>::try_from(*bytes)
                    .map(std::net::IpAddr::from)
                    .map_err(|_| ()),
                _ => Err(()),
            }
            .map_err(|_| {
                bad_csr(format!(
                    "subjectAltName iPAddress has {} octets; expected 4 or 16",
                    bytes.len()
                ))
            })?;
            identifier::parse_ip(&ip.to_string(), rules)
        }
        other => {
            return Err(bad_csr(format!(
                "subjectAltName entry {} is not supported (only dNSName, iPAddress, rfc822Name, URI)",
                general_name_kind(other)
            )));
        }
    };
    id.map_err(|r| Refusal::new(r.code, format!("CSR subjectAltName: {}", r.detail)))
}

fn general_name_kind(name: &GeneralName<'_>) -> &'static str {
    match name {
        GeneralName::OtherName(..) => "otherName",
        GeneralName::RFC822Name(_) => "rfc822Name",
        GeneralName::DNSName(_) => "dNSName",
        GeneralName::X400Address(_) => "x400Address",
        GeneralName::DirectoryName(_) => "directoryName",
        GeneralName::EDIPartyName(_) => "ediPartyName",
        GeneralName::URI(_) => "uniformResourceIdentifier",
        GeneralName::IPAddress(_) => "iPAddress",
        GeneralName::RegisteredID(_) => "registeredID",
        GeneralName::Invalid(..) => "an invalid entry",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algorithm::KeyAlgorithm;
    use crate::csr::test_support::{csr_with, key_for, oid_der, params, refused, seq, tlv};
    use crate::csr::verify_csr;
    use rcgen::{
        BasicConstraints, CustomExtension, ExtendedKeyUsagePurpose, IsCa, KeyUsagePurpose, SanType,
    };

    fn arcs(dotted: &str) -> Vec<u64> {
        dotted.split('.').map(|a| a.parse().unwrap()).collect()
    }

    // ---- B1 row 8: what the CSR requests ---------------------------------------------------

    #[test]
    fn requested_extensions_are_reported() {
        let key = key_for(KeyAlgorithm::EcdsaP256);
        let mut p = params(&["example.com"]);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyCertSign,
        ];
        p.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::CodeSigning,
            ExtendedKeyUsagePurpose::Other(vec![1, 3, 6, 1, 4, 1, 99999, 1]),
        ];
        let mut unknown = CustomExtension::from_oid_content(&arcs("1.2.3.4"), vec![0x05, 0x00]);
        unknown.set_criticality(true);
        let noncritical = CustomExtension::from_oid_content(&arcs("1.2.3.5"), vec![0x05, 0x00]);
        // nameConstraints: permittedSubtrees [0] { GeneralSubtree { dNSName "example.com" } }.
        let nc_content = seq(&[&tlv(0xa0, &seq(&[&tlv(0x82, b"example.com")]))]);
        let mut nc = CustomExtension::from_oid_content(&arcs(oid::NAME_CONSTRAINTS), nc_content);
        nc.set_criticality(true);
        p.custom_extensions = vec![unknown, noncritical, nc];
        let v = verify_csr(&csr_with(&p, &key)).unwrap();
        assert!(v.requests_ca);
        assert!(v.requested_key_usage_cert_sign);
        assert!(v.requests_name_constraints);
        let mut ekus = v.requested_ekus.clone();
        ekus.sort();
        assert_eq!(
            ekus,
            vec![
                "1.3.6.1.4.1.99999.1",
                oid::EKU_SERVER_AUTH,
                oid::EKU_CODE_SIGNING
            ]
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>()
            .tap_sort()
        );
        assert_eq!(
            v.unknown_critical_extensions,
            vec!["1.2.3.4".to_string(), oid::NAME_CONSTRAINTS.to_string()]
        );
        // cA=FALSE and crlSign.
        let mut p = params(&["example.com"]);
        p.is_ca = IsCa::ExplicitNoCa;
        p.key_usages = vec![KeyUsagePurpose::CrlSign];
        let v = verify_csr(&csr_with(&p, &key)).unwrap();
        assert!(!v.requests_ca);
        assert!(v.requested_key_usage_cert_sign);
        assert!(!v.requests_name_constraints);
        assert!(v.unknown_critical_extensions.is_empty());
    }

    trait TapSort {
        fn tap_sort(self) -> Self;
    }
    impl TapSort for Vec<String> {
        fn tap_sort(mut self) -> Self {
            self.sort();
            self
        }
    }

    #[test]
    fn duplicate_or_malformed_extensions_refused() {
        let key = key_for(KeyAlgorithm::EcdsaP256);
        let mut p = params(&[]);
        p.custom_extensions = vec![
            CustomExtension::from_oid_content(&arcs("1.2.3.4"), vec![0x05, 0x00]),
            CustomExtension::from_oid_content(&arcs("1.2.3.4"), vec![0x05, 0x00]),
        ];
        refused(
            verify_csr(&csr_with(&p, &key)),
            RefusalCode::BadCsr,
            "twice",
        );
        let mut p = params(&[]);
        p.custom_extensions = vec![CustomExtension::from_oid_content(
            &arcs(oid::EXT_BASIC_CONSTRAINTS),
            vec![0x04, 0x00],
        )];
        refused(
            verify_csr(&csr_with(&p, &key)),
            RefusalCode::BadCsr,
            "malformed",
        );
    }

    // ---- B1 row 9: SAN types, identifiers in the CSR ----------------------------------------

    fn san_csr(general_names: &[u8]) -> Vec<u8> {
        let key = key_for(KeyAlgorithm::EcdsaP256);
        let mut p = params(&[]);
        p.custom_extensions = vec![CustomExtension::from_oid_content(
            &arcs(oid::EXT_SAN),
            seq(&[general_names]),
        )];
        csr_with(&p, &key)
    }

    #[test]
    fn san_entries() {
        let key = key_for(KeyAlgorithm::EcdsaP256);
        let mut p = params(&[]);
        p.subject_alt_names = vec![
            SanType::DnsName("WWW.Example.com".try_into().unwrap()),
            SanType::IpAddress("2001:db8::1".parse().unwrap()),
            SanType::Rfc822Name("ops@Example.com".try_into().unwrap()),
            SanType::URI("spiffe://example.org/ns/a".try_into().unwrap()),
        ];
        let v = verify_csr(&csr_with(&p, &key)).unwrap();
        assert_eq!(
            v.sans,
            vec![
                Identifier::Dns("www.example.com".into()),
                Identifier::Ip("2001:db8::1".parse().unwrap()),
                Identifier::Email("ops@example.com".into()),
                Identifier::Uri("spiffe://example.org/ns/a".into()),
            ]
        );
        assert!(v.subject_is_empty);
        assert_eq!(v.common_name, None);

        let mut p = params(&[]);
        p.subject_alt_names = vec![SanType::DnsName("a_b.example.com".try_into().unwrap())];
        refused(
            verify_csr(&csr_with(&p, &key)),
            RefusalCode::RejectedIdentifier,
            "CSR subjectAltName",
        );
        refused(
            verify_csr(&san_csr(&tlv(0x88, &oid_der("1.2.3")[2..]))),
            RefusalCode::BadCsr,
            "registeredID",
        );
        refused(
            verify_csr(&san_csr(&tlv(0xa4, &seq(&[])))),
            RefusalCode::BadCsr,
            "directoryName",
        );
        refused(
            verify_csr(&san_csr(&tlv(0x87, &[10, 0, 0, 1, 2]))),
            RefusalCode::BadCsr,
            "5 octets",
        );
        refused(verify_csr(&san_csr(&[])), RefusalCode::BadCsr, "empty");
        let many: Vec<u8> = (0..=limits::MAX_SANS)
            .flat_map(|i| tlv(0x82, format!("h{i}.example.com").as_bytes()))
            .collect();
        refused(
            verify_csr(&san_csr(&many)),
            RefusalCode::TooManyIdentifiers,
            "at most",
        );
    }
}
