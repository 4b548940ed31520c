//! Certificate profiles: what a class of certificate looks like and who may ask for what.
//!
//! A profile fixes the issuer, the allowed subscriber key algorithms, lifetimes,
//! key usage and extended key usage, which SAN types are allowed and name
//! allow/deny patterns. The requester never sets CA bits, key usage or EKU.
//! Built-in profiles: `tls-server`, `public-tls`, `tls-client`, `mtls`,
//! `code-signing`, `device`, `admin`; custom ones come from `mooring.toml` (`[profiles.NAME]`).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::KeyAlgorithm;
use crate::identifier::SanKind;
use crate::refusal::{Refusal, RefusalCode};

/// An extended key usage a profile can grant.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum ExtendedKeyUsage {
    /// id-kp-serverAuth (1.3.6.1.5.5.7.3.1)
    ServerAuth,
    /// id-kp-clientAuth (1.3.6.1.5.5.7.3.2)
    ClientAuth,
    /// id-kp-codeSigning (1.3.6.1.5.5.7.3.3)
    CodeSigning,
    /// id-kp-emailProtection (1.3.6.1.5.5.7.3.4)
    EmailProtection,
    /// id-kp-timeStamping (1.3.6.1.5.5.7.3.8)
    TimeStamping,
}

impl ExtendedKeyUsage {
    /// Dotted OID.
    pub fn oid(&self) -> &'static str {
        match self {
            ExtendedKeyUsage::ServerAuth => "1.3.6.1.5.5.7.3.1",
            ExtendedKeyUsage::ClientAuth => "1.3.6.1.5.5.7.3.2",
            ExtendedKeyUsage::CodeSigning => "1.3.6.1.5.5.7.3.3",
            ExtendedKeyUsage::EmailProtection => "1.3.6.1.5.5.7.3.4",
            ExtendedKeyUsage::TimeStamping => "1.3.6.1.5.5.7.3.8",
        }
    }

    /// The rcgen value.
    pub fn to_rcgen(&self) -> rcgen::ExtendedKeyUsagePurpose {
        use rcgen::ExtendedKeyUsagePurpose as E;
        match self {
            ExtendedKeyUsage::ServerAuth => E::ServerAuth,
            ExtendedKeyUsage::ClientAuth => E::ClientAuth,
            ExtendedKeyUsage::CodeSigning => E::CodeSigning,
            ExtendedKeyUsage::EmailProtection => E::EmailProtection,
            ExtendedKeyUsage::TimeStamping => E::TimeStamping,
        }
    }
}

/// A certificate profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// The profile's name (set from the map key for configured profiles).
    #[serde(default)]
    pub name: String,
    /// Issuer id that signs certificates of this profile.
    #[serde(default = "default_issuer")]
    pub issuer: String,
    /// Subscriber key algorithms allowed.
    #[serde(default = "all_algorithms")]
    pub key_algorithms: Vec<KeyAlgorithm>,
    /// Lifetime when the request names none (`90d`, `12h`, `30m`, `45s`).
    #[serde(with = "duration_text")]
    pub default_lifetime: Duration,
    /// Longest lifetime a request may ask for.
    #[serde(with = "duration_text")]
    pub max_lifetime: Duration,
    /// Extended key usages written (exactly these).
    pub extended_key_usage: Vec<ExtendedKeyUsage>,
    /// SAN types a request may contain.
    pub san_types: Vec<SanKind>,
    /// When non-empty, every SAN must match one of these patterns (`*.example.com`, `10.0.0.0/8`).
    #[serde(default)]
    pub allow: Vec<String>,
    /// No SAN may match any of these patterns.
    #[serde(default)]
    pub deny: Vec<String>,
    /// Apply the CA/Browser Forum Baseline Requirements to identifiers (public TLS).
    #[serde(default)]
    pub public: bool,
    /// Whether wildcard DNS names are allowed.
    #[serde(default = "yes")]
    pub allow_wildcards: bool,
    /// Whether a certificate may have a subject CN and no SAN (devices, code signing).
    #[serde(default)]
    pub allow_cn_only: bool,
    /// certificatePolicies OIDs to assert (dotted).
    #[serde(default)]
    pub policies: Vec<String>,
    /// Whether the server may generate the subscriber key.
    #[serde(default = "yes")]
    pub allow_server_keygen: bool,
    /// How long after expiry a certificate may still prove itself to renew (devices that
    /// were offline); never for a revoked one. `0s` (the default): not after expiry.
    #[serde(default, with = "duration_text")]
    pub renewal_grace: Duration,
    /// Whether renewal must bring a new key (else the current key may be kept).
    #[serde(default)]
    pub renewal_requires_new_key: bool,
    /// Whether a certificate may renew itself by proof (`POST /api/v1/renew`, EST
    /// `simplereenroll`). Off for `admin`: an administrator's certificate is re-approved,
    /// never extended by itself.
    #[serde(default = "yes")]
    pub renewable: bool,
}

fn default_issuer() -> String {
    "default".into()
}
fn all_algorithms() -> Vec<KeyAlgorithm> {
    KeyAlgorithm::ALL.to_vec()
}
fn yes() -> bool {
    true
}

const DAY: u64 = 86_400;

impl Profile {
    fn builtin(
        name: &str,
        default_days: u64,
        max_days: u64,
        eku: Vec<ExtendedKeyUsage>,
        san_types: Vec<SanKind>,
        allow_cn_only: bool,
    ) -> Profile {
        Profile {
            name: name.into(),
            issuer: default_issuer(),
            key_algorithms: all_algorithms(),
            default_lifetime: Duration::from_secs(default_days * DAY),
            max_lifetime: Duration::from_secs(max_days * DAY),
            extended_key_usage: eku,
            san_types,
            allow: vec![],
            deny: vec![],
            public: false,
            allow_wildcards: true,
            allow_cn_only,
            policies: vec![],
            allow_server_keygen: true,
            renewal_grace: Duration::ZERO,
            renewal_requires_new_key: false,
            renewable: true,
        }
    }

    /// The built-in profiles, by name.
    pub fn builtins() -> BTreeMap<String, Profile> {
        use ExtendedKeyUsage::*;
        use SanKind::*;
        let list = [
            // TLS servers: 199 days max keeps within the CA/B Forum limit of 200 days (2026-03-15).
            Profile::builtin(
                "tls-server",
                90,
                199,
                vec![ServerAuth],
                vec![Dns, Ip],
                false,
            ),
            // Publicly-trusted-style TLS: Baseline Requirements identifier rules and the DV policy OID.
            Profile {
                public: true,
                policies: vec!["2.23.140.1.2.1".into()],
                key_algorithms: KeyAlgorithm::ALL
                    .into_iter()
                    .filter(|a| a.allowed_for_public_tls())
                    .collect(),
                ..Profile::builtin(
                    "public-tls",
                    90,
                    199,
                    vec![ServerAuth],
                    vec![Dns, Ip],
                    false,
                )
            },
            Profile::builtin(
                "tls-client",
                90,
                397,
                vec![ClientAuth],
                vec![Dns, Ip, Uri, Email],
                true,
            ),
            Profile::builtin(
                "mtls",
                90,
                199,
                vec![ServerAuth, ClientAuth],
                vec![Dns, Ip, Uri],
                false,
            ),
            Profile {
                allow_wildcards: false,
                ..Profile::builtin(
                    "code-signing",
                    30,
                    397,
                    vec![CodeSigning],
                    vec![Email, Uri],
                    true,
                )
            },
            Profile {
                allow_wildcards: false,
                ..Profile::builtin(
                    "device",
                    365,
                    825,
                    vec![ClientAuth],
                    vec![Dns, Ip, Uri],
                    true,
                )
            },
            Profile {
                allow_wildcards: false,
                renewable: false,
                ..Profile::builtin(
                    "admin",
                    30,
                    90,
                    vec![ClientAuth],
                    vec![Email, Uri, Dns],
                    true,
                )
            },
        ];
        list.into_iter().map(|p| (p.name.clone(), p)).collect()
    }

    /// Check the profile itself is coherent (used when loading configuration).
    pub fn validate(&self) -> Result<(), Refusal> {
        let bad = |m: String| Err(Refusal::new(RefusalCode::ProfileViolation, m));
        if self.renewal_grace > Duration::from_secs(365 * DAY) {
            return bad(format!(
                "profile {}: renewal_grace is at most 365d",
                self.name
            ));
        }
        if self.name.is_empty()
            || self.name.len() > crate::limits::MAX_NAME_LEN
            || !self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return bad(format!(
                "profile name {:?} must be 1-64 characters of a-z, 0-9 and '-'",
                self.name
            ));
        }
        if self.default_lifetime > self.max_lifetime {
            return bad(format!(
                "profile {}: default_lifetime exceeds max_lifetime",
                self.name
            ));
        }
        if self.max_lifetime < Duration::from_secs(60) {
            return bad(format!(
                "profile {}: max_lifetime must be at least 60s",
                self.name
            ));
        }
        if self.extended_key_usage.is_empty() {
            return bad(format!(
                "profile {}: extended_key_usage must not be empty",
                self.name
            ));
        }
        if self.key_algorithms.is_empty() {
            return bad(format!(
                "profile {}: key_algorithms must not be empty",
                self.name
            ));
        }
        if self.san_types.is_empty() && !self.allow_cn_only {
            return bad(format!(
                "profile {}: san_types is empty and allow_cn_only is false",
                self.name
            ));
        }
        if self.public
            && let Some(a) = self
                .key_algorithms
                .iter()
                .find(|a| !a.allowed_for_public_tls())
        {
            return bad(format!(
                "profile {}: public profiles allow only RSA and ECDSA P-256/P-384 keys (Baseline Requirements 6.1.5), not {a}",
                self.name
            ));
        }
        for p in &self.policies {
            if crate::template::parse_oid(p).is_none() {
                return bad(format!(
                    "profile {}: policy {p:?} is not a dotted OID",
                    self.name
                ));
            }
        }
        Ok(())
    }
}

/// Parse `90d`, `12h`, `30m`, `45s` (and plain seconds).
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: u64 = num.parse().ok()?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => DAY,
        _ => return None,
    };
    n.checked_mul(mult).map(Duration::from_secs)
}

/// Format a duration the way [`parse_duration`] reads it.
pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s.is_multiple_of(DAY) {
        format!("{}d", s / DAY)
    } else if s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

mod duration_text {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_duration(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_duration(&text).ok_or_else(|| {
            serde::de::Error::custom(format!("bad duration {text:?}; use e.g. 90d, 12h, 30m"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_are_valid() {
        let b = Profile::builtins();
        for name in [
            "tls-server",
            "public-tls",
            "tls-client",
            "mtls",
            "code-signing",
            "device",
            "admin",
        ] {
            let p = &b[name];
            p.validate().unwrap();
            assert_eq!(p.name, name);
        }
        assert!(b["tls-server"].max_lifetime <= Duration::from_secs(200 * DAY));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90d"), Some(Duration::from_secs(90 * DAY)));
        assert_eq!(parse_duration("12h"), Some(Duration::from_secs(12 * 3600)));
        assert_eq!(parse_duration("30"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("1w"), None);
        assert_eq!(parse_duration("d"), None);
        assert_eq!(parse_duration("99999999999999999999d"), None);
        assert_eq!(format_duration(Duration::from_secs(7200)), "2h");
    }

    #[test]
    fn invalid_profiles_are_refused() {
        let mut p = Profile::builtins()["tls-server"].clone();
        p.default_lifetime = p.max_lifetime + Duration::from_secs(1);
        assert!(p.validate().is_err());
        let mut p = Profile::builtins()["tls-server"].clone();
        p.name = "Bad Name".into();
        assert!(p.validate().is_err());
        let mut p = Profile::builtins()["tls-server"].clone();
        p.policies = vec!["not.an.oid".into()];
        assert!(p.validate().is_err());
    }
}
