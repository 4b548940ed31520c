//! Identifiers a certificate may name: DNS names, IP addresses, email addresses and URIs.
//!
//! Every identifier that reaches a profile, a policy or a certificate went through one of
//! the parsers here (refuse.md B2): they accept only the canonical textual form, normalise
//! case, and refuse names a CA must never certify. [`IdentifierRules::public`] switches on
//! the CA/Browser Forum Baseline Requirements checks (IANA TLD, public suffixes, reserved
//! IP ranges) for the public-TLS profile.
//!
//! Internationalised names must arrive as A-labels (`xn--…`); their Punycode (RFC 3492)
//! is decoded and re-encoded here to prove it is well formed. Public suffixes come from the
//! Mozilla Public Suffix List vendored in `data/public_suffix_list.dat` (ICANN section).
//!
//! Layout: this file holds the identifier types, [`parse_identifier`] (which detects the
//! kind from the text) and [`normalize_set`]. The per-kind parsers live in `dns`, `ip` and
//! `email_uri` (re-exported here); `punycode` and `public_suffix` back the DNS checks;
//! `pattern` holds [`matches_pattern`] for profile allow/deny lists.

mod dns;
mod email_uri;
mod ip;
mod pattern;
mod public_suffix;
mod punycode;
#[cfg(test)]
mod test_support;

pub use dns::parse_dns;
pub use email_uri::{parse_email, parse_uri};
pub use ip::parse_ip;
pub use pattern::matches_pattern;

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::limits;
use crate::refusal::{Refusal, RefusalCode};

/// The kind of a subject alternative name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SanKind {
    /// A DNS name (dNSName).
    Dns,
    /// An IPv4 or IPv6 address (iPAddress).
    Ip,
    /// An email address (rfc822Name).
    Email,
    /// A URI (uniformResourceIdentifier), e.g. a SPIFFE ID.
    Uri,
}

impl SanKind {
    /// The stable lower-case spelling (`dns`, `ip`, `email`, `uri`).
    pub fn as_str(self) -> &'static str {
        match self {
            SanKind::Dns => "dns",
            SanKind::Ip => "ip",
            SanKind::Email => "email",
            SanKind::Uri => "uri",
        }
    }
}

impl fmt::Display for SanKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed, normalised identifier. Only the parsers in this module construct them from text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Identifier {
    /// A lower-case DNS name in A-label form, possibly with a leftmost `*` label.
    Dns(String),
    /// An IP address.
    Ip(IpAddr),
    /// An email address `local@domain` with a lower-case domain.
    Email(String),
    /// A URI.
    Uri(String),
}

impl Identifier {
    /// The kind of this identifier.
    pub fn kind(&self) -> SanKind {
        match self {
            Identifier::Dns(_) => SanKind::Dns,
            Identifier::Ip(_) => SanKind::Ip,
            Identifier::Email(_) => SanKind::Email,
            Identifier::Uri(_) => SanKind::Uri,
        }
    }

    /// The value as text, without the kind: `example.com`, `10.0.0.1`, `a@b.example`.
    pub fn value(&self) -> String {
        match self {
            Identifier::Dns(s) | Identifier::Email(s) | Identifier::Uri(s) => s.clone(),
            Identifier::Ip(ip) => ip.to_string(),
        }
    }

    /// The value prefixed with its kind: `dns:example.com`, `ip:10.0.0.1`.
    pub fn tagged(&self) -> String {
        format!("{}:{}", self.kind(), self.value())
    }

    /// True for a DNS name whose leftmost label is `*`.
    pub fn is_wildcard(&self) -> bool {
        matches!(self, Identifier::Dns(s) if s.starts_with("*."))
    }
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.tagged())
    }
}

/// Which rule set the parsers apply.
#[derive(Debug, Clone, Copy, Default)]
pub struct IdentifierRules {
    /// The CA/Browser Forum Baseline Requirements apply (public-TLS profile): names must
    /// be under an IANA TLD and not public suffixes, IP addresses must be publicly routable.
    pub public: bool,
}

impl IdentifierRules {
    /// Rules for a private (machine-identity) profile.
    pub const PRIVATE: IdentifierRules = IdentifierRules { public: false };
    /// Rules for the public-TLS profile (Baseline Requirements).
    pub const PUBLIC: IdentifierRules = IdentifierRules { public: true };
}

/// Parses an identifier of any kind, detecting it from its text.
///
/// `scheme://…` is a URI, text with `@` an email address, text that looks like an IP
/// address (digits and dots only, or any `:`) is parsed as an IP address, anything else as
/// a DNS name.
pub fn parse_identifier(input: &str, rules: IdentifierRules) -> Result<Identifier, Refusal> {
    if let Some(i) = input.find("://") {
        let scheme = &input[..i];
        if !scheme.is_empty()
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        {
            return parse_uri(input);
        }
    }
    if input.contains('@') {
        return parse_email(input);
    }
    if looks_like_ip(input) {
        return parse_ip(input, rules);
    }
    parse_dns(input, rules)
}

/// Normalises a set of identifiers: lower-cases DNS names and email domains, sorts and
/// removes duplicates; refuses more than [`limits::MAX_SANS`] distinct identifiers.
pub fn normalize_set(ids: Vec<Identifier>) -> Result<Vec<Identifier>, Refusal> {
    let mut out: Vec<Identifier> = ids
        .into_iter()
        .map(|id| match id {
            Identifier::Dns(s) => Identifier::Dns(s.to_ascii_lowercase()),
            Identifier::Email(s) => Identifier::Email(lower_email_domain(&s)),
            other => other,
        })
        .collect();
    out.sort();
    out.dedup();
    if out.len() > limits::MAX_SANS {
        return Err(Refusal::new(
            RefusalCode::TooManyIdentifiers,
            format!(
                "{} identifiers requested; at most {} are allowed",
                out.len(),
                limits::MAX_SANS
            ),
        ));
    }
    Ok(out)
}

/// True for text that should be parsed as an IP address rather than a DNS name.
fn looks_like_ip(input: &str) -> bool {
    input.contains(':')
        || input.starts_with('[')
        || (!input.is_empty() && input.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
}

/// Lower-cases the domain part of an email address.
fn lower_email_domain(addr: &str) -> String {
    match addr.rsplit_once('@') {
        Some((local, domain)) => format!("{local}@{}", domain.to_ascii_lowercase()),
        None => addr.to_string(),
    }
}

/// A refusal with code RejectedIdentifier.
fn reject(detail: String) -> Refusal {
    Refusal::new(RefusalCode::RejectedIdentifier, detail)
}

/// The input as shown in a refusal: quoted, escaped, at most 100 characters.
fn shown(input: &str) -> String {
    let mut s: String = input.chars().take(100).collect();
    if s.len() < input.len() {
        s.push('…');
    }
    format!("{s:?}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identifier::punycode::punycode_decode;
    use crate::identifier::test_support::{PRIVATE, PUBLIC, dns, refused};

    #[test]
    fn accessors() {
        let id = dns("example.com");
        assert_eq!(id.kind(), SanKind::Dns);
        assert_eq!(id.value(), "example.com");
        assert_eq!(id.tagged(), "dns:example.com");
        assert!(!id.is_wildcard());
        assert!(dns("*.example.com").is_wildcard());
        let ip = Identifier::Ip("10.0.0.1".parse().unwrap());
        assert_eq!(ip.tagged(), "ip:10.0.0.1");
        assert_eq!(
            Identifier::Email("a@b.example".into()).tagged(),
            "email:a@b.example"
        );
        assert_eq!(
            Identifier::Uri("spiffe://x/y".into()).tagged(),
            "uri:spiffe://x/y"
        );
        assert_eq!(serde_json_kind(SanKind::Email), "email");
    }

    fn serde_json_kind(k: SanKind) -> String {
        // serde's lowercase spelling must agree with as_str(); checked via a tiny serializer.
        struct S(String);
        impl std::fmt::Write for S {
            fn write_str(&mut self, s: &str) -> std::fmt::Result {
                self.0.push_str(s);
                Ok(())
            }
        }
        let mut s = S(String::new());
        std::fmt::write(&mut s, format_args!("{k}")).unwrap();
        s.0
    }

    #[test]
    fn refusal_detail_is_truncated() {
        let e = parse_dns(&"_".repeat(300), PRIVATE).unwrap_err();
        assert!(e.detail.len() < 200, "{}", e.detail);
    }

    #[test]
    fn auto_detect() {
        assert_eq!(
            parse_identifier("Example.COM", PUBLIC).unwrap(),
            dns("example.com")
        );
        assert_eq!(
            parse_identifier("10.0.0.1", PRIVATE).unwrap().kind(),
            SanKind::Ip
        );
        assert_eq!(
            parse_identifier("::1", PRIVATE).unwrap().kind(),
            SanKind::Ip
        );
        assert_eq!(
            parse_identifier("Ops@Example.COM", PRIVATE).unwrap(),
            Identifier::Email("Ops@example.com".into())
        );
        assert_eq!(
            parse_identifier("spiffe://example.org/ns/prod/sa/web", PRIVATE)
                .unwrap()
                .kind(),
            SanKind::Uri
        );
        assert_eq!(
            parse_identifier("https://user@example.org/", PRIVATE)
                .unwrap()
                .kind(),
            SanKind::Uri
        );
        refused(parse_identifier("010.1.1.1", PRIVATE), "IPv4");
        refused(parse_identifier("10.0.0.1", PUBLIC), "reserved");
    }

    // B2 row 7: upper case / duplicates normalised.
    #[test]
    fn normalize_dedups_and_limits() {
        let ids = vec![
            Identifier::Dns("B.example.com".into()),
            dns("a.example.com"),
            dns("b.example.com"),
            Identifier::Email("x@EXAMPLE.com".into()),
            Identifier::Email("x@example.com".into()),
            Identifier::Ip("10.0.0.1".parse().unwrap()),
            Identifier::Ip("10.0.0.1".parse().unwrap()),
        ];
        let out = normalize_set(ids).unwrap();
        assert_eq!(
            out,
            vec![
                dns("a.example.com"),
                dns("b.example.com"),
                Identifier::Ip("10.0.0.1".parse().unwrap()),
                Identifier::Email("x@example.com".into()),
            ]
        );
        let many: Vec<Identifier> = (0..=limits::MAX_SANS)
            .map(|i| dns(&format!("h{i}.example.com")))
            .collect();
        let e = normalize_set(many.clone()).unwrap_err();
        assert_eq!(e.code, RefusalCode::TooManyIdentifiers);
        let mut dup = many[..limits::MAX_SANS].to_vec();
        dup.push(dns("H0.EXAMPLE.COM"));
        assert_eq!(normalize_set(dup).unwrap().len(), limits::MAX_SANS);
    }

    /// Random and mutated inputs never panic, whatever the parser.
    #[test]
    fn robustness() {
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet: Vec<char> = "abcxyz019-_.*@:/%[]!é\u{0}xn--XN ".chars().collect();
        for _ in 0..3000 {
            let len = (next() % 40) as usize;
            let s: String = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            for rules in [PUBLIC, PRIVATE] {
                let _ = parse_identifier(&s, rules);
                let _ = parse_dns(&s, rules);
                let _ = parse_ip(&s, rules);
            }
            let _ = parse_email(&s);
            let _ = parse_uri(&s);
            let _ = matches_pattern(&dns("a.example.com"), &s);
            let _ = matches_pattern(&Identifier::Ip("10.0.0.1".parse().unwrap()), &s);
            if let Some(rest) = s.strip_prefix("xn--") {
                let _ = punycode_decode(rest);
            }
        }
    }

    /// No byte string panics any identifier parser or the pattern matcher; every
    /// outcome is a value or a refusal (refuse.md: "no panic on any byte string").
    #[test]
    fn random_and_hostile_inputs_never_panic() {
        use aws_lc_rs::rand::{SecureRandom, SystemRandom};
        let rng = SystemRandom::new();
        let alphabet = b"abcXYZ019-_.*@:/%[]\x00\xff xn--";
        let mut buf = [0u8; 96];
        for round in 0..20_000 {
            rng.fill(&mut buf).unwrap();
            let len = (buf[0] as usize) % 80;
            let s: String = if round % 2 == 0 {
                buf[1..=len]
                    .iter()
                    .map(|b| alphabet[*b as usize % alphabet.len()] as char)
                    .collect()
            } else {
                String::from_utf8_lossy(&buf[1..=len]).into_owned()
            };
            for rules in [
                IdentifierRules { public: false },
                IdentifierRules { public: true },
            ] {
                if let Ok(id) = parse_identifier(&s, rules) {
                    // Whatever parses re-parses to itself (normalised form is stable).
                    assert_eq!(
                        parse_identifier(&id.value(), rules).ok(),
                        Some(id.clone()),
                        "{s:?}"
                    );
                    let _ = matches_pattern(&id, &s);
                }
            }
        }
        for s in [
            "",
            ".",
            "..",
            "*",
            "*.",
            "@",
            "a@",
            "@b",
            "xn--",
            "[::1]",
            "::",
            "0",
            &"a.".repeat(200),
            &"x".repeat(5000),
        ] {
            let _ = parse_identifier(s, IdentifierRules::default());
            let _ = parse_identifier(s, IdentifierRules { public: true });
        }
    }
}
