//! Lint before sign: the encoded TBS certificate is checked against what the
//! profile and RFC 5280 demand *before* the CA key signs it (Boulder's
//! lint-before-sign; refuse.md B5).
//!
//! The authority calls [`lint_tbs`] from inside its signing adapter, with the
//! exact bytes about to be signed, so a certificate that fails a lint is never
//! signed at all.

use std::collections::HashSet;
use std::net::IpAddr;

use x509_parser::prelude::*;

use crate::identifier::Identifier;
use crate::refusal::{Refusal, RefusalCode};
use crate::template::Expectations;

const OID_SAN: &str = "2.5.29.17";
const OID_KU: &str = "2.5.29.15";
const OID_EKU: &str = "2.5.29.37";
const OID_BC: &str = "2.5.29.19";
const OID_SKI: &str = "2.5.29.14";
const OID_AKI: &str = "2.5.29.35";
const OID_CRLDP: &str = "2.5.29.31";
const OID_AIA: &str = "1.3.6.1.5.5.7.1.1";
const OID_CP: &str = "2.5.29.32";
const OID_ANY_EKU: &str = "2.5.29.37.0";
const OID_OCSP_SIGNING: &str = "1.3.6.1.5.5.7.3.9";

fn fail(rule: &str, detail: impl std::fmt::Display) -> Refusal {
    Refusal::new(RefusalCode::LintFailed, format!("{rule}: {detail}"))
}

/// Check the DER TBSCertificate `tbs` against `expect`. Returns the first failure.
pub fn lint_tbs(tbs: &[u8], expect: &Expectations) -> Result<(), Refusal> {
    let (rest, tbs) = TbsCertificate::from_der(tbs).map_err(|e| fail("tbs.decode", e))?;
    if !rest.is_empty() {
        return Err(fail("tbs.trailing", "trailing bytes after TBSCertificate"));
    }
    if tbs.version != X509Version::V3 {
        return Err(fail("version", "certificate is not v3"));
    }
    // Serial (RFC 5280 §4.1.2.2): positive, at most 20 octets, the one we chose.
    let raw_serial = tbs.raw_serial();
    if raw_serial.is_empty() || raw_serial.len() > 20 || raw_serial[0] & 0x80 != 0 {
        return Err(fail(
            "serial.encoding",
            "serial must be a positive INTEGER of at most 20 octets",
        ));
    }
    let magnitude = crate::serial::Serial::from_magnitude(raw_serial);
    if magnitude != expect.serial {
        return Err(fail(
            "serial.value",
            "serial differs from the one allocated",
        ));
    }
    if magnitude.as_bytes().len() < 8 {
        return Err(fail("serial.entropy", "serial has fewer than 64 bits"));
    }
    // Name chaining: the issuer field must be the CA's subject, byte for byte.
    if tbs.issuer.as_raw() != expect.issuer_subject_der.as_slice() {
        return Err(fail(
            "issuer.name",
            "issuer name differs from the CA certificate's subject",
        ));
    }
    // Validity.
    let nb = tbs.validity.not_before.timestamp();
    let na = tbs.validity.not_after.timestamp();
    if nb != expect.not_before.unix_timestamp() || na != expect.not_after.unix_timestamp() {
        return Err(fail("validity.value", "validity differs from the template"));
    }
    if na < nb {
        return Err(fail("validity.order", "notAfter before notBefore"));
    }
    let inclusive = (na - nb + 1) as u64;
    if inclusive > expect.max_lifetime.as_secs() {
        return Err(fail(
            "validity.length",
            format!(
                "{inclusive}s exceeds the profile maximum {}s",
                expect.max_lifetime.as_secs()
            ),
        ));
    }
    if na > expect.issuer_not_after.unix_timestamp() {
        return Err(fail("validity.issuer", "certificate outlives its issuer"));
    }
    // Subject public key: exactly the requester's.
    if tbs.subject_pki.raw != expect.spki_der.as_slice() {
        return Err(fail(
            "spki",
            "subjectPublicKeyInfo differs from the requested key",
        ));
    }
    // Subject: CN (if any) ≤ 64 and among the SANs; nothing but the expected CN.
    let cns: Vec<String> = tbs
        .subject
        .iter_common_name()
        .map(|cn| {
            cn.as_str()
                .map(str::to_string)
                .map_err(|_| fail("subject.cn", "commonName is not a string"))
        })
        .collect::<Result<_, _>>()?;
    if cns.len() > 1 {
        return Err(fail("subject.cn", "more than one commonName"));
    }
    if cns.first() != expect.common_name.as_ref() {
        return Err(fail("subject.cn", "commonName differs from the template"));
    }
    if tbs.subject.iter_attributes().count() != cns.len() {
        return Err(fail(
            "subject.attributes",
            "subject has attributes other than the commonName",
        ));
    }
    if let Some(cn) = cns.first() {
        if cn.chars().count() > crate::limits::MAX_COMMON_NAME_LEN {
            return Err(fail("subject.cn", "commonName longer than 64 characters"));
        }
        if expect.cn_must_be_san && !expect.sans.iter().any(|s| s.value() == *cn) {
            return Err(fail(
                "subject.cn",
                "commonName is not among the subjectAltNames",
            ));
        }
    }
    let subject_empty = cns.is_empty();

    // Extensions: no duplicates, only the ones we write.
    let mut seen = HashSet::new();
    let mut found = FoundExtensions::default();
    for ext in tbs.extensions() {
        let oid = ext.oid.to_id_string();
        if !seen.insert(oid.clone()) {
            return Err(fail(
                "extensions.duplicate",
                format!("extension {oid} appears twice"),
            ));
        }
        if ext.value.is_empty() {
            return Err(fail(
                "extensions.empty",
                format!("extension {oid} is empty"),
            ));
        }
        match (oid.as_str(), ext.parsed_extension()) {
            (OID_BC, ParsedExtension::BasicConstraints(bc)) => {
                if bc.ca || bc.path_len_constraint.is_some() {
                    return Err(fail(
                        "basic_constraints",
                        "subscriber certificate must have cA=FALSE",
                    ));
                }
            }
            (OID_KU, ParsedExtension::KeyUsage(ku)) => {
                if !ext.critical {
                    return Err(fail("key_usage.critical", "keyUsage must be critical"));
                }
                if ku.key_cert_sign() || ku.crl_sign() {
                    return Err(fail(
                        "key_usage.ca",
                        "subscriber certificate asserts keyCertSign or cRLSign",
                    ));
                }
                if !ku.digital_signature() {
                    return Err(fail(
                        "key_usage.digital_signature",
                        "digitalSignature missing",
                    ));
                }
                if ku.key_encipherment() != expect.key_encipherment {
                    return Err(fail(
                        "key_usage.key_encipherment",
                        "keyEncipherment only for RSA TLS server keys, never EC",
                    ));
                }
                let allowed = 0x0001 | if expect.key_encipherment { 0x0004 } else { 0 };
                // x509-parser flags: bit 0 = digitalSignature, bit 2 = keyEncipherment.
                if ku.flags & !allowed != 0 {
                    return Err(fail(
                        "key_usage.extra",
                        format!("unexpected key usage bits {:#x}", ku.flags),
                    ));
                }
                found.ku = true;
            }
            (OID_EKU, ParsedExtension::ExtendedKeyUsage(eku)) => {
                let mut oids = Vec::new();
                if eku.any {
                    oids.push(OID_ANY_EKU.to_string());
                }
                if eku.ocsp_signing {
                    oids.push(OID_OCSP_SIGNING.to_string());
                }
                for (flag, o) in [
                    (eku.server_auth, "1.3.6.1.5.5.7.3.1"),
                    (eku.client_auth, "1.3.6.1.5.5.7.3.2"),
                    (eku.code_signing, "1.3.6.1.5.5.7.3.3"),
                    (eku.email_protection, "1.3.6.1.5.5.7.3.4"),
                    (eku.time_stamping, "1.3.6.1.5.5.7.3.8"),
                ] {
                    if flag {
                        oids.push(o.to_string());
                    }
                }
                oids.extend(eku.other.iter().map(|o| o.to_id_string()));
                if oids
                    .iter()
                    .any(|o| o == OID_ANY_EKU || o == OID_OCSP_SIGNING)
                {
                    return Err(fail(
                        "eku.forbidden",
                        "anyExtendedKeyUsage or OCSPSigning in a subscriber certificate",
                    ));
                }
                let mut want = expect.ekus.clone();
                want.sort();
                oids.sort();
                if oids != want {
                    return Err(fail(
                        "eku.value",
                        format!("EKUs {oids:?} differ from the profile's {want:?}"),
                    ));
                }
                found.eku = true;
            }
            (OID_SAN, ParsedExtension::SubjectAlternativeName(san)) => {
                if subject_empty && !ext.critical {
                    return Err(fail(
                        "san.critical",
                        "subjectAltName must be critical when the subject is empty",
                    ));
                }
                let mut got = Vec::new();
                for gn in &san.general_names {
                    got.push(match gn {
                        GeneralName::DNSName(d) => Identifier::Dns(d.to_string()),
                        GeneralName::RFC822Name(e) => Identifier::Email(e.to_string()),
                        GeneralName::URI(u) => Identifier::Uri(u.to_string()),
                        GeneralName::IPAddress(b) => match ip_from_bytes(b) {
                            Some(ip) => Identifier::Ip(ip),
                            None => return Err(fail("san.ip", "IP address of bad length")),
                        },
                        other => {
                            return Err(fail(
                                "san.type",
                                format!("unexpected name type {other:?}"),
                            ));
                        }
                    });
                }
                let mut want = expect.sans.clone();
                want.sort();
                got.sort();
                if got != want {
                    return Err(fail(
                        "san.value",
                        "subjectAltNames differ from the validated identifiers",
                    ));
                }
                found.san = true;
            }
            (OID_SKI, ParsedExtension::SubjectKeyIdentifier(_)) => found.ski = true,
            (OID_AKI, ParsedExtension::AuthorityKeyIdentifier(aki)) => {
                if aki.key_identifier.as_ref().map(|k| k.0) != Some(expect.issuer_ski.as_slice()) {
                    return Err(fail(
                        "aki",
                        "authorityKeyIdentifier does not match the issuer's subjectKeyIdentifier",
                    ));
                }
                found.aki = true;
            }
            (OID_CRLDP, ParsedExtension::CRLDistributionPoints(_)) => found.crldp = true,
            (OID_AIA, ParsedExtension::AuthorityInfoAccess(_)) => found.aia = true,
            (OID_CP, ParsedExtension::CertificatePolicies(cp)) => {
                let mut got: Vec<String> = cp.iter().map(|p| p.policy_id.to_id_string()).collect();
                let mut want = expect.policies.clone();
                got.sort();
                want.sort();
                if got != want {
                    return Err(fail(
                        "policies",
                        "certificatePolicies differ from the profile",
                    ));
                }
                found.cp = true;
            }
            (o, _) => {
                return Err(fail(
                    "extensions.unexpected",
                    format!("unexpected or unparsable extension {o}"),
                ));
            }
        }
    }
    if !found.ku || !found.eku || !found.ski || !found.aki {
        return Err(fail(
            "extensions.missing",
            "keyUsage, extendedKeyUsage, subjectKeyIdentifier and authorityKeyIdentifier are required",
        ));
    }
    if !expect.sans.is_empty() && !found.san {
        return Err(fail("san.missing", "subjectAltName missing"));
    }
    if expect.urls.crl.is_some() != found.crldp {
        return Err(fail(
            "crldp",
            "CRL distribution point presence differs from configuration",
        ));
    }
    if (expect.urls.ocsp.is_some() || expect.urls.ca_issuers.is_some()) != found.aia {
        return Err(fail(
            "aia",
            "authorityInfoAccess presence differs from configuration",
        ));
    }
    if !expect.policies.is_empty() && !found.cp {
        return Err(fail("policies", "certificatePolicies missing"));
    }
    Ok(())
}

#[derive(Default)]
struct FoundExtensions {
    ku: bool,
    eku: bool,
    san: bool,
    ski: bool,
    aki: bool,
    crldp: bool,
    aia: bool,
    cp: bool,
}

fn ip_from_bytes(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => <[u8; 4]>::try_from(b).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(b).ok().map(IpAddr::from),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::identifier::IdentifierRules;
    use crate::profile::Profile;
    use crate::serial::Serial;
    use crate::template::{IssuerFacts, SubscriberRequest, Urls, prepare};

    /// Captures the TBS rcgen asks to sign, and signs with a real key.
    struct Capture<'a> {
        key: &'a rcgen::KeyPair,
        tbs: Mutex<Vec<u8>>,
    }
    impl rcgen::PublicKeyData for Capture<'_> {
        fn der_bytes(&self) -> &[u8] {
            self.key.der_bytes()
        }
        fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
            rcgen::PublicKeyData::algorithm(self.key)
        }
    }
    impl rcgen::SigningKey for Capture<'_> {
        fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
            *self.tbs.lock().unwrap() = msg.to_vec();
            self.key.sign(msg)
        }
    }

    fn ca() -> (rcgen::KeyPair, Vec<u8>) {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
        p.distinguished_name
            .push(rcgen::DnType::CommonName, "Test CA");
        p.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let cert = p.self_signed(&key).unwrap();
        (key, cert.der().to_vec())
    }

    fn request(alg: &'static rcgen::SignatureAlgorithm, sans: &[&str]) -> SubscriberRequest {
        let key = rcgen::KeyPair::generate_for(alg).unwrap();
        let spki = rcgen::PublicKeyData::subject_public_key_info(&key);
        let subject = crate::csr::check_public_key(&spki).unwrap();
        SubscriberRequest::new(
            subject,
            sans.iter()
                .map(|s| {
                    crate::identifier::parse_identifier(s, IdentifierRules::default()).unwrap()
                })
                .collect(),
            None,
            None,
        )
    }

    /// Prepare and encode a TBS for `profile`, returning it with its expectations.
    fn tbs_for(profile: &str, req: SubscriberRequest) -> (Vec<u8>, Expectations) {
        let (ca_key, ca_der) = ca();
        let facts = IssuerFacts::from_cert_der("test", &ca_der).unwrap();
        let profile = &Profile::builtins()[profile];
        let prepared = prepare(
            profile,
            &facts,
            &Urls::for_issuer("http://pki.example.com", "test"),
            req.clone(),
            Serial::random().unwrap(),
            ::time::OffsetDateTime::now_utc(),
        )
        .unwrap();
        let capture = Capture {
            key: &ca_key,
            tbs: Mutex::new(vec![]),
        };
        let issuer = rcgen::Issuer::from_ca_cert_der(&ca_der.clone().into(), &capture).unwrap();
        prepared.params.signed_by(&req.key, &issuer).unwrap();
        let tbs = capture.tbs.lock().unwrap().clone();
        (tbs, prepared.expect)
    }

    #[test]
    fn prepared_certificates_pass_their_own_lint() {
        for (profile, alg, sans) in [
            (
                "tls-server",
                &rcgen::PKCS_ECDSA_P256_SHA256,
                vec!["a.example.com", "10.0.0.1"],
            ),
            ("mtls", &rcgen::PKCS_ED25519, vec!["b.example.com"]),
            (
                "tls-client",
                &rcgen::PKCS_ECDSA_P384_SHA384,
                vec!["user@example.com", "spiffe://example.org/x"],
            ),
            ("device", &rcgen::PKCS_ML_DSA_65, vec!["dev.example.com"]),
        ] {
            let (tbs, expect) = tbs_for(profile, request(alg, &sans));
            lint_tbs(&tbs, &expect).unwrap_or_else(|e| panic!("{profile}: {e}"));
        }
    }

    fn rule_of(r: Refusal) -> String {
        assert_eq!(r.code, RefusalCode::LintFailed);
        r.detail.split(':').next().unwrap().to_string()
    }

    #[test]
    fn each_deviation_from_the_template_is_caught() {
        let (tbs, expect) = tbs_for(
            "tls-server",
            request(&rcgen::PKCS_ECDSA_P256_SHA256, &["a.example.com"]),
        );
        type Mutation = fn(&mut Expectations);
        let cases: Vec<(&str, Mutation)> = vec![
            ("serial.value", |e| e.serial = Serial::random().unwrap()),
            ("issuer.name", |e| e.issuer_subject_der = vec![0x30, 0x00]),
            ("validity.value", |e| {
                e.not_after += ::time::Duration::seconds(1)
            }),
            ("validity.length", |e| {
                e.max_lifetime = std::time::Duration::from_secs(3600)
            }),
            ("validity.issuer", |e| e.issuer_not_after = e.not_before),
            ("spki", |e| e.spki_der = vec![0x30, 0x00]),
            ("subject.cn", |e| {
                e.common_name = Some("other.example.com".into())
            }),
            ("key_usage.key_encipherment", |e| e.key_encipherment = true),
            ("eku.value", |e| e.ekus = vec!["1.3.6.1.5.5.7.3.2".into()]),
            ("san.value", |e| {
                e.sans.push(Identifier::Dns("b.example.com".into()))
            }),
            ("aki", |e| e.issuer_ski = vec![1, 2, 3]),
            ("crldp", |e| e.urls.crl = None),
            ("aia", |e| {
                e.urls.ocsp = None;
                e.urls.ca_issuers = None
            }),
            ("policies", |e| e.policies = vec!["2.23.140.1.2.1".into()]),
        ];
        for (rule, mutate) in cases {
            let mut e = expect.clone();
            mutate(&mut e);
            let err = lint_tbs(&tbs, &e).expect_err(rule);
            assert_eq!(rule_of(err), rule);
        }
    }

    #[test]
    fn garbage_and_truncated_tbs_are_refused_without_panic() {
        let (tbs, expect) = tbs_for(
            "tls-server",
            request(&rcgen::PKCS_ECDSA_P256_SHA256, &["a.example.com"]),
        );
        for n in 0..tbs.len() {
            assert!(lint_tbs(&tbs[..n], &expect).is_err());
        }
        let mut extra = tbs.clone();
        extra.push(0);
        assert!(lint_tbs(&extra, &expect).is_err());
    }
}
