//! The certificate template: request + profile + issuer → the exact TBS fields.
//!
//! [`prepare`] checks the request against its profile (key algorithm, SAN
//! types, name patterns, lifetime, what the CSR asked for) and builds the
//! rcgen parameters together with the [`Expectations`] that the lint
//! (`crate::lint`) checks on the encoded TBS before anything is signed.

use std::time::Duration;

use ::time::OffsetDateTime;
use x509_parser::prelude::{FromDer, ParsedExtension, X509Certificate};

use crate::csr::SubjectKey;
use crate::identifier::{Identifier, IdentifierRules, SanKind, matches_pattern};
use crate::profile::Profile;
use crate::refusal::{Refusal, RefusalCode, refuse};
use crate::serial::Serial;
use crate::{KeyAlgorithm, limits};

/// How far notBefore is backdated to absorb clock skew (issue: at most a minute).
pub const BACKDATE: Duration = Duration::from_secs(60);

/// What the template needs to know about the issuing CA, parsed once from its certificate.
#[derive(Debug, Clone)]
pub struct IssuerFacts {
    /// Issuer id (store key, URL component).
    pub id: String,
    /// The CA certificate, DER.
    pub cert_der: Vec<u8>,
    /// The CA subject Name, DER (the leaf's issuer must be these exact bytes).
    pub subject_der: Vec<u8>,
    /// The CA's subjectKeyIdentifier (the leaf's AKI keyIdentifier).
    pub ski: Vec<u8>,
    /// The CA certificate's notAfter.
    pub not_after: OffsetDateTime,
    /// The CA key's algorithm (what leaves are signed with).
    pub algorithm: KeyAlgorithm,
    /// DNS name constraints of the CA certificate: permitted subtrees (empty = any).
    pub permitted_dns: Vec<String>,
    /// DNS name constraints: excluded subtrees.
    pub excluded_dns: Vec<String>,
}

impl IssuerFacts {
    /// Parse the facts out of a CA certificate.
    pub fn from_cert_der(id: &str, der: &[u8]) -> Result<IssuerFacts, String> {
        let (rest, cert) = X509Certificate::from_der(der)
            .map_err(|e| format!("issuer {id}: certificate does not parse: {e}"))?;
        if !rest.is_empty() {
            return Err(format!("issuer {id}: trailing bytes after certificate"));
        }
        let ski = cert
            .extensions()
            .iter()
            .find_map(|e| match e.parsed_extension() {
                ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
                _ => None,
            })
            .ok_or_else(|| format!("issuer {id}: CA certificate has no subjectKeyIdentifier"))?;
        let key = crate::csr::check_public_key(cert.tbs_certificate.subject_pki.raw)
            .map_err(|e| format!("issuer {id}: {e}"))?;
        let not_after = OffsetDateTime::from_unix_timestamp(cert.validity().not_after.timestamp())
            .map_err(|e| format!("issuer {id}: notAfter: {e}"))?;
        let (mut permitted_dns, mut excluded_dns) = (Vec::new(), Vec::new());
        for ext in cert.extensions() {
            if let ParsedExtension::NameConstraints(nc) = ext.parsed_extension() {
                for (list, out) in [
                    (&nc.permitted_subtrees, &mut permitted_dns),
                    (&nc.excluded_subtrees, &mut excluded_dns),
                ] {
                    for sub in list.iter().flatten() {
                        if let x509_parser::extensions::GeneralName::DNSName(d) = sub.base {
                            out.push(d.trim_start_matches('.').to_ascii_lowercase());
                        }
                    }
                }
            }
        }
        Ok(IssuerFacts {
            permitted_dns,
            excluded_dns,
            id: id.to_string(),
            cert_der: der.to_vec(),
            subject_der: cert.tbs_certificate.subject.as_raw().to_vec(),
            ski,
            not_after,
            algorithm: key.algorithm,
        })
    }
}

/// The URLs of this deployment written into certificates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Urls {
    /// AIA id-ad-ocsp (RFC 5280 §4.2.2.1).
    pub ocsp: Option<String>,
    /// AIA id-ad-caIssuers.
    pub ca_issuers: Option<String>,
    /// CRL distribution point (RFC 5280 §4.2.1.13).
    pub crl: Option<String>,
}

impl Urls {
    /// The standard layout under `base` (e.g. `https://ca.example.net:8443`) for issuer `id`.
    pub fn for_issuer(base: &str, id: &str) -> Urls {
        let base = base.trim_end_matches('/');
        Urls {
            ocsp: Some(format!("{base}/ocsp")),
            ca_issuers: Some(format!("{base}/ca/{id}.crt")),
            crl: Some(format!("{base}/crl/{id}.crl")),
        }
    }
}

/// What the subscriber asked for (from a verified CSR, or for a server-generated key).
#[derive(Debug, Clone)]
pub struct SubscriberRequest {
    /// The subscriber's public key (already key-policy checked).
    pub key: SubjectKey,
    /// Requested SANs.
    pub sans: Vec<Identifier>,
    /// Requested subject CN.
    pub common_name: Option<String>,
    /// Requested lifetime (None = profile default).
    pub lifetime: Option<Duration>,
    /// The CSR asked for cA=TRUE.
    pub requests_ca: bool,
    /// The CSR asked for keyCertSign/cRLSign.
    pub requests_cert_sign: bool,
    /// The CSR asked for name constraints.
    pub requests_name_constraints: bool,
    /// EKU OIDs the CSR asked for.
    pub requested_ekus: Vec<String>,
    /// Unknown critical extensions in the CSR.
    pub unknown_critical_extensions: Vec<String>,
}

impl SubscriberRequest {
    /// A plain request for `key` and `sans` (server-side key generation): asks for
    /// nothing beyond names, default lifetime.
    pub fn new(
        key: SubjectKey,
        sans: Vec<Identifier>,
        common_name: Option<String>,
        lifetime: Option<Duration>,
    ) -> SubscriberRequest {
        SubscriberRequest {
            key,
            sans,
            common_name,
            lifetime,
            requests_ca: false,
            requests_cert_sign: false,
            requests_name_constraints: false,
            requested_ekus: vec![],
            unknown_critical_extensions: vec![],
        }
    }

    /// A request carried by a verified CSR.
    pub fn from_csr(
        csr: &crate::csr::VerifiedCsr,
        lifetime: Option<Duration>,
    ) -> SubscriberRequest {
        SubscriberRequest {
            key: csr.public_key.clone(),
            sans: csr.sans.clone(),
            common_name: csr.common_name.clone(),
            lifetime,
            requests_ca: csr.requests_ca,
            requests_cert_sign: csr.requested_key_usage_cert_sign,
            requests_name_constraints: csr.requests_name_constraints,
            requested_ekus: csr.requested_ekus.clone(),
            unknown_critical_extensions: csr.unknown_critical_extensions.clone(),
        }
    }
}

/// What the encoded TBS must contain; checked by [`crate::lint::lint_tbs`].
#[derive(Debug, Clone)]
pub struct Expectations {
    pub serial: Serial,
    pub issuer_subject_der: Vec<u8>,
    pub issuer_ski: Vec<u8>,
    pub issuer_not_after: OffsetDateTime,
    pub issuer_algorithm: KeyAlgorithm,
    pub spki_der: Vec<u8>,
    pub subscriber_algorithm: KeyAlgorithm,
    pub sans: Vec<Identifier>,
    pub common_name: Option<String>,
    /// The CN must be one of the SANs (TLS server profiles).
    pub cn_must_be_san: bool,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub max_lifetime: Duration,
    pub key_encipherment: bool,
    pub ekus: Vec<String>,
    pub urls: Urls,
    pub policies: Vec<String>,
}

/// A certificate ready to be linted and signed.
#[derive(Debug)]
pub struct Prepared {
    /// The rcgen parameters (serial, validity, names, extensions).
    pub params: rcgen::CertificateParams,
    /// What the lint must find in the TBS.
    pub expect: Expectations,
    /// The normalised SANs.
    pub sans: Vec<Identifier>,
    /// The subject CN, if any.
    pub common_name: Option<String>,
}

/// Check `req` against `profile` and build the certificate template.
pub fn prepare(
    profile: &Profile,
    issuer: &IssuerFacts,
    urls: &Urls,
    req: SubscriberRequest,
    serial: Serial,
    now: OffsetDateTime,
) -> Result<Prepared, Refusal> {
    // Key algorithm (refuse.md B1).
    if !profile.key_algorithms.contains(&req.key.algorithm) {
        return refuse(
            RefusalCode::BadPublicKey,
            format!(
                "profile {} does not allow {} keys",
                profile.name, req.key.algorithm
            ),
        );
    }
    // What the CSR asked for that only the profile decides (B1: reject explicit conflicts).
    if req.requests_ca {
        return refuse(
            RefusalCode::ProfileViolation,
            "the request asks for basicConstraints cA=TRUE; subscriber certificates are never CAs",
        );
    }
    if req.requests_cert_sign {
        return refuse(
            RefusalCode::ProfileViolation,
            "the request asks for keyCertSign/cRLSign key usage",
        );
    }
    if req.requests_name_constraints {
        return refuse(
            RefusalCode::ProfileViolation,
            "the request asks for name constraints",
        );
    }
    if let Some(oid) = req.unknown_critical_extensions.first() {
        return refuse(
            RefusalCode::BadCsr,
            format!("the request carries an unknown critical extension {oid}"),
        );
    }
    let granted: Vec<&str> = profile.extended_key_usage.iter().map(|e| e.oid()).collect();
    if let Some(eku) = req
        .requested_ekus
        .iter()
        .find(|e| !granted.contains(&e.as_str()))
    {
        return refuse(
            RefusalCode::ProfileViolation,
            format!(
                "the request asks for extended key usage {eku}, which profile {} does not grant",
                profile.name
            ),
        );
    }

    // Identifiers (B2): re-parse with the profile's rules, normalise, check types and patterns.
    let rules = IdentifierRules {
        public: profile.public,
    };
    let mut sans = Vec::with_capacity(req.sans.len());
    for id in &req.sans {
        let checked = match id {
            Identifier::Dns(d) => crate::identifier::parse_dns(d, rules)?,
            Identifier::Ip(ip) => crate::identifier::parse_ip(&ip.to_string(), rules)?,
            other => other.clone(),
        };
        sans.push(checked);
    }
    let sans = crate::identifier::normalize_set(sans)?;
    for id in &sans {
        if !profile.san_types.contains(&id.kind()) {
            return refuse(
                RefusalCode::RejectedIdentifier,
                format!(
                    "profile {} does not allow {:?} names ({})",
                    profile.name,
                    id.kind(),
                    id.tagged()
                ),
            );
        }
        if id.is_wildcard() && !profile.allow_wildcards {
            return refuse(
                RefusalCode::RejectedIdentifier,
                format!(
                    "profile {} does not allow wildcard names ({})",
                    profile.name,
                    id.value()
                ),
            );
        }
        if profile.deny.iter().any(|p| matches_pattern(id, p)) {
            return refuse(
                RefusalCode::RejectedIdentifier,
                format!("{} is denied by profile {}", id.value(), profile.name),
            );
        }
        if let Identifier::Dns(name) = id {
            let base = name.trim_start_matches("*.");
            // RFC 5280 §4.2.1.10: a DNS subtree matches the name itself and every name below it.
            let within = |sub: &String| base == sub.as_str() || base.ends_with(&format!(".{sub}"));
            if issuer.excluded_dns.iter().any(within)
                || (!issuer.permitted_dns.is_empty() && !issuer.permitted_dns.iter().any(within))
            {
                return refuse(
                    RefusalCode::RejectedIdentifier,
                    format!(
                        "{name} is outside the name constraints of issuer {}",
                        issuer.id
                    ),
                );
            }
        }
        if !profile.allow.is_empty() && !profile.allow.iter().any(|p| matches_pattern(id, p)) {
            return refuse(
                RefusalCode::RejectedIdentifier,
                format!(
                    "{} is not among the names profile {} allows",
                    id.value(),
                    profile.name
                ),
            );
        }
    }

    // Subject CN (B1): at most 64 characters, never an IP address. For TLS server
    // profiles it must be one of the SANs (BR 7.1.4.3); other profiles (devices, code
    // signing) may carry a free-form name, and CN-only certificates where allowed.
    let cn_must_be_san = profile
        .extended_key_usage
        .contains(&crate::profile::ExtendedKeyUsage::ServerAuth);
    let common_name = match req.common_name.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(cn) => {
            if cn.chars().count() > limits::MAX_COMMON_NAME_LEN {
                return refuse(
                    RefusalCode::BadCsr,
                    format!(
                        "commonName is longer than {} characters",
                        limits::MAX_COMMON_NAME_LEN
                    ),
                );
            }
            if cn.parse::<std::net::IpAddr>().is_ok() {
                return refuse(
                    RefusalCode::BadCsr,
                    "an IP address in the commonName is refused; put it in the subjectAltName",
                );
            }
            if cn.chars().any(|c| c.is_control()) {
                return refuse(
                    RefusalCode::BadCsr,
                    "commonName contains control characters",
                );
            }
            if sans.is_empty() {
                if !profile.allow_cn_only {
                    return refuse(
                        RefusalCode::BadCsr,
                        format!("profile {} needs at least one subjectAltName", profile.name),
                    );
                }
                Some(cn.to_string())
            } else if !cn_must_be_san {
                Some(cn.to_string())
            } else {
                let lower = cn.to_ascii_lowercase();
                if !sans.iter().any(|s| s.value() == lower || s.value() == cn) {
                    return refuse(
                        RefusalCode::BadCsr,
                        format!("commonName {cn:?} is not among the subjectAltNames"),
                    );
                }
                // Keep the normalised (lower-case) spelling for DNS names.
                Some(
                    sans.iter()
                        .find(|s| s.value() == lower)
                        .map(|s| s.value())
                        .unwrap_or_else(|| cn.to_string()),
                )
            }
        }
    };
    if sans.is_empty() && common_name.is_none() {
        return refuse(
            RefusalCode::BadCsr,
            "the request names no subject: give at least one subjectAltName",
        );
    }
    // When no CN was requested, use the first DNS name that fits, as most TLS clients still look.
    let common_name = common_name.or_else(|| {
        sans.iter()
            .find(|s| s.kind() == SanKind::Dns && s.value().len() <= limits::MAX_COMMON_NAME_LEN)
            .map(|s| s.value())
    });

    // Lifetime (B5): at most the profile maximum; never past the issuer's own notAfter.
    let lifetime = req.lifetime.unwrap_or(profile.default_lifetime);
    if lifetime > profile.max_lifetime {
        return refuse(
            RefusalCode::ProfileViolation,
            format!(
                "requested lifetime {} exceeds the maximum {} of profile {}",
                crate::profile::format_duration(lifetime),
                crate::profile::format_duration(profile.max_lifetime),
                profile.name
            ),
        );
    }
    if lifetime < Duration::from_secs(60) {
        return refuse(
            RefusalCode::ProfileViolation,
            "lifetime must be at least 60 seconds",
        );
    }
    let now = now.replace_nanosecond(0).unwrap_or(now);
    let not_before = now - BACKDATE;
    // Inclusive validity (RFC 5280 §4.1.2.5): notAfter - notBefore + 1s == lifetime.
    let mut not_after = not_before + lifetime - Duration::from_secs(1);
    if not_after > issuer.not_after {
        not_after = issuer.not_after;
    }
    if not_after <= now {
        return refuse(
            RefusalCode::ProfileViolation,
            format!("issuer {} expires too soon to issue", issuer.id),
        );
    }

    let key_encipherment = req.key.algorithm.is_rsa()
        && profile
            .extended_key_usage
            .iter()
            .any(|e| matches!(e, crate::profile::ExtendedKeyUsage::ServerAuth));
    let mut params = rcgen::CertificateParams::default();
    params.serial_number = Some(serial.to_rcgen());
    params.not_before = not_before;
    params.not_after = not_after;
    params.distinguished_name = rcgen::DistinguishedName::new();
    if let Some(cn) = &common_name {
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn.as_str());
    }
    params.subject_alt_names = sans.iter().map(to_rcgen_san).collect::<Result<_, _>>()?;
    params.is_ca = rcgen::IsCa::ExplicitNoCa;
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    if key_encipherment {
        params
            .key_usages
            .push(rcgen::KeyUsagePurpose::KeyEncipherment);
    }
    params.extended_key_usages = profile
        .extended_key_usage
        .iter()
        .map(|e| e.to_rcgen())
        .collect();
    params.use_authority_key_identifier_extension = true;
    if let Some(crl) = &urls.crl {
        params.crl_distribution_points = vec![rcgen::CrlDistributionPoint {
            uris: vec![crl.clone()],
        }];
    }
    if let Some(aia) = authority_info_access(urls) {
        params
            .custom_extensions
            .push(rcgen::CustomExtension::from_oid_content(&OID_AIA, aia));
    }
    if !profile.policies.is_empty() {
        params
            .custom_extensions
            .push(rcgen::CustomExtension::from_oid_content(
                &OID_CERT_POLICIES,
                certificate_policies(&profile.policies)?,
            ));
    }

    let expect = Expectations {
        serial,
        issuer_subject_der: issuer.subject_der.clone(),
        issuer_ski: issuer.ski.clone(),
        issuer_not_after: issuer.not_after,
        issuer_algorithm: issuer.algorithm,
        spki_der: req.key.spki_der.clone(),
        subscriber_algorithm: req.key.algorithm,
        sans: sans.clone(),
        common_name: common_name.clone(),
        cn_must_be_san,
        not_before,
        not_after,
        max_lifetime: profile.max_lifetime,
        key_encipherment,
        ekus: granted.iter().map(|s| s.to_string()).collect(),
        urls: urls.clone(),
        policies: profile.policies.clone(),
    };
    Ok(Prepared {
        params,
        expect,
        sans,
        common_name,
    })
}

fn to_rcgen_san(id: &Identifier) -> Result<rcgen::SanType, Refusal> {
    let ia5 = |s: &str| {
        rcgen::string::Ia5String::try_from(s.to_string()).map_err(|_| {
            Refusal::new(
                RefusalCode::RejectedIdentifier,
                format!("{s:?} is not IA5 (ASCII)"),
            )
        })
    };
    Ok(match id {
        Identifier::Dns(d) => rcgen::SanType::DnsName(ia5(d)?),
        Identifier::Ip(ip) => rcgen::SanType::IpAddress(*ip),
        Identifier::Email(e) => rcgen::SanType::Rfc822Name(ia5(e)?),
        Identifier::Uri(u) => rcgen::SanType::URI(ia5(u)?),
    })
}

/// id-pe-authorityInfoAccess (1.3.6.1.5.5.7.1.1).
pub const OID_AIA: [u64; 9] = [1, 3, 6, 1, 5, 5, 7, 1, 1];
/// id-ce-certificatePolicies (2.5.29.32).
pub const OID_CERT_POLICIES: [u64; 4] = [2, 5, 29, 32];

/// The AuthorityInfoAccessSyntax value (RFC 5280 §4.2.2.1), or None without URLs.
pub fn authority_info_access(urls: &Urls) -> Option<Vec<u8>> {
    let mut items = Vec::new();
    if let Some(ocsp) = &urls.ocsp {
        items.extend(access_description(&[1, 3, 6, 1, 5, 5, 7, 48, 1], ocsp));
    }
    if let Some(ca) = &urls.ca_issuers {
        items.extend(access_description(&[1, 3, 6, 1, 5, 5, 7, 48, 2], ca));
    }
    (!items.is_empty()).then(|| der_tlv(0x30, &items))
}

fn access_description(method: &[u64], uri: &str) -> Vec<u8> {
    let mut inner = der_tlv(0x06, &oid_content(method));
    inner.extend(der_tlv(0x86, uri.as_bytes())); // [6] IMPLICIT IA5String uniformResourceIdentifier
    der_tlv(0x30, &inner)
}

/// certificatePolicies with bare policy OIDs (RFC 5280 §4.2.1.4).
pub fn certificate_policies(oids: &[String]) -> Result<Vec<u8>, Refusal> {
    let mut items = Vec::new();
    for o in oids {
        let arcs = parse_oid(o).ok_or_else(|| {
            Refusal::new(
                RefusalCode::ProfileViolation,
                format!("policy {o:?} is not an OID"),
            )
        })?;
        items.extend(der_tlv(0x30, &der_tlv(0x06, &oid_content(&arcs))));
    }
    Ok(der_tlv(0x30, &items))
}

/// Parse a dotted OID (at least two arcs, first arc 0-2).
pub fn parse_oid(s: &str) -> Option<Vec<u64>> {
    let arcs: Vec<u64> = s
        .split('.')
        .map(|a| {
            if a.is_empty() || (a.len() > 1 && a.starts_with('0')) {
                None
            } else {
                a.parse().ok()
            }
        })
        .collect::<Option<_>>()?;
    if arcs.len() < 2 || arcs[0] > 2 || (arcs[0] < 2 && arcs[1] >= 40) {
        return None;
    }
    Some(arcs)
}

/// DER content octets of an OID.
pub fn oid_content(arcs: &[u64]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encode = |mut v: u64| {
        let mut tmp = vec![(v & 0x7f) as u8];
        v >>= 7;
        while v > 0 {
            tmp.push(((v & 0x7f) as u8) | 0x80);
            v >>= 7;
        }
        tmp.reverse();
        out.extend(tmp);
    };
    if arcs.len() >= 2 {
        encode(arcs[0] * 40 + arcs[1]);
        for a in &arcs[2..] {
            encode(*a);
        }
    }
    out
}

/// One DER TLV with a definite, minimal length.
pub fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let first = bytes
            .iter()
            .position(|b| *b != 0)
            .unwrap_or(bytes.len() - 1);
        out.push(0x80 | (bytes.len() - first) as u8);
        out.extend_from_slice(&bytes[first..]);
    }
    out.extend_from_slice(content);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oids_encode() {
        assert_eq!(
            oid_content(&[1, 2, 840, 113549]),
            vec![0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d]
        );
        assert_eq!(parse_oid("2.23.140.1.2.1"), Some(vec![2, 23, 140, 1, 2, 1]));
        assert_eq!(parse_oid("1.40"), None);
        assert_eq!(parse_oid("1..2"), None);
        assert_eq!(parse_oid("1.02"), None);
        assert_eq!(parse_oid("x"), None);
    }

    #[test]
    fn long_lengths() {
        let c = vec![0u8; 300];
        let t = der_tlv(0x04, &c);
        assert_eq!(&t[..4], &[0x04, 0x82, 0x01, 0x2c]);
        assert_eq!(t.len(), 304);
    }
}
