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

use std::collections::HashSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

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

/// Parses a DNS name (RFC 1035 §2.3.1 preferred syntax, RFC 5890 A-labels), lower-casing it.
///
/// A wildcard is accepted only as the whole leftmost label of a name with at least two
/// further labels whose base is not a public suffix.
pub fn parse_dns(input: &str, rules: IdentifierRules) -> Result<Identifier, Refusal> {
    check_dns_name(input, rules, true, "DNS name").map(Identifier::Dns)
}

/// Parses an IP address in its canonical text form (RFC 8738 §3: RFC 1123 §2.1 dotted
/// quad for IPv4, RFC 5952 §4 for IPv6).
pub fn parse_ip(input: &str, rules: IdentifierRules) -> Result<Identifier, Refusal> {
    if input.is_empty() {
        return Err(reject("empty IP address".to_string()));
    }
    if input.len() > 64 {
        return Err(reject(format!("IP address {} is too long", shown(input))));
    }
    if input.starts_with('[') || input.ends_with(']') {
        return Err(reject(format!(
            "IP address {} must be given without brackets",
            shown(input)
        )));
    }
    if input.contains('%') {
        return Err(reject(format!(
            "IP address {} has a zone identifier; zones are not allowed in certificates",
            shown(input)
        )));
    }
    let ip = if input.contains(':') {
        let lower = input.to_ascii_lowercase();
        let v6: Ipv6Addr = lower
            .parse()
            .map_err(|_| reject(format!("{} is not a valid IPv6 address", shown(input))))?;
        if v6.to_ipv4_mapped().is_some() {
            return Err(reject(format!(
                "IP address {} is an IPv4-mapped IPv6 address; give the IPv4 address itself",
                shown(input)
            )));
        }
        // RFC 5952 §4: exactly one textual form per address (lower case, shortest, `::` for
        // the longest run of zero groups); Rust's Display produces exactly that form.
        let canonical = v6.to_string();
        if canonical != lower {
            return Err(reject(format!(
                "IPv6 address {} is not in canonical form (RFC 5952); write {canonical}",
                shown(input)
            )));
        }
        IpAddr::V6(v6)
    } else {
        let v4: Ipv4Addr = input.parse().map_err(|_| {
            reject(format!(
                "{} is not a valid IPv4 address (four decimal octets without leading zeros)",
                shown(input)
            ))
        })?;
        // RFC 1123 §2.1 dotted decimal; leading zeros would be read as octal by some parsers.
        if v4.to_string() != input {
            return Err(reject(format!(
                "IPv4 address {} is not in canonical dotted-decimal form",
                shown(input)
            )));
        }
        IpAddr::V4(v4)
    };
    if rules.public
        && let Some(range) = reserved_range(ip)
    {
        return Err(reject(format!(
            "IP address {ip} is in the reserved or special-purpose range {range}"
        )));
    }
    Ok(Identifier::Ip(ip))
}

/// Parses an email address `local@domain` (RFC 5321 §4.1.2 dot-string local part),
/// lower-casing the domain.
pub fn parse_email(input: &str) -> Result<Identifier, Refusal> {
    if input.len() > limits::MAX_EMAIL_LEN {
        return Err(reject(format!(
            "email address {} is longer than {} characters",
            shown(input),
            limits::MAX_EMAIL_LEN
        )));
    }
    let Some((local, domain)) = input.split_once('@') else {
        return Err(reject(format!("email address {} has no '@'", shown(input))));
    };
    if domain.contains('@') {
        return Err(reject(format!(
            "email address {} has more than one '@'",
            shown(input)
        )));
    }
    if local.is_empty() {
        return Err(reject(format!(
            "email address {} has an empty local part",
            shown(input)
        )));
    }
    if local.len() > 64 {
        // RFC 5321 §4.5.3.1.1: local part at most 64 octets.
        return Err(reject(format!(
            "email address {} has a local part longer than 64 characters",
            shown(input)
        )));
    }
    // RFC 5321 §4.1.2: Dot-string = Atom *("." Atom); quoted strings are refused.
    if let Some(c) = local.chars().find(|&c| !(is_atext(c) || c == '.')) {
        return Err(reject(format!(
            "email address {} has the character {c:?} in its local part",
            shown(input)
        )));
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err(reject(format!(
            "email address {} has an empty atom in its local part",
            shown(input)
        )));
    }
    let domain = check_dns_name(domain, IdentifierRules::PRIVATE, false, "email domain")?;
    Ok(Identifier::Email(format!("{local}@{domain}")))
}

/// Parses a URI: printable ASCII with a lower-case scheme (RFC 3986 §3.1); SPIFFE IDs are
/// checked against the SPIFFE ID specification §2.
pub fn parse_uri(input: &str) -> Result<Identifier, Refusal> {
    if input.is_empty() {
        return Err(reject("empty URI".to_string()));
    }
    if input.len() > limits::MAX_URI_LEN {
        return Err(reject(format!(
            "URI {} is longer than {} characters",
            shown(input),
            limits::MAX_URI_LEN
        )));
    }
    // RFC 3986 §2: only unreserved, reserved and '%' characters; no spaces or controls.
    if let Some(c) = input.chars().find(|&c| !is_uri_char(c)) {
        return Err(reject(format!(
            "URI {} contains the character {c:?}, which is not allowed in a URI",
            shown(input)
        )));
    }
    // RFC 3986 §2.1: '%' must start a two-hex-digit escape.
    let bytes = input.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'%'
            && !(bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
        {
            return Err(reject(format!(
                "URI {} has a '%' not followed by two hex digits",
                shown(input)
            )));
        }
    }
    let Some((scheme, rest)) = input.split_once(':') else {
        return Err(reject(format!("URI {} has no scheme", shown(input))));
    };
    // RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ); we require the
    // canonical lower-case spelling.
    let mut sb = scheme.bytes();
    let scheme_ok = sb.next().is_some_and(|b| b.is_ascii_lowercase())
        && sb.all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.')
        });
    if !scheme_ok {
        return Err(reject(format!(
            "URI {} does not start with a lower-case scheme",
            shown(input)
        )));
    }
    if rest.is_empty() {
        return Err(reject(format!(
            "URI {} has nothing after its scheme",
            shown(input)
        )));
    }
    if scheme == "spiffe" {
        check_spiffe_id(input, rest)?;
    }
    Ok(Identifier::Uri(input.to_string()))
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

/// Tells whether `id` matches a profile allow/deny pattern.
///
/// Patterns, all case-insensitive for DNS names and email domains:
/// - `example.com` — exactly that name;
/// - `*.example.com` — any name with one or more labels under `example.com` (not
///   `example.com` itself), including the wildcard `*.example.com`;
/// - `*` — any DNS name;
/// - `10.0.0.0/8`, `2001:db8::/32` — IP addresses in the CIDR block; `10.0.0.1` — that address;
/// - `*@example.com` / `@example.com` — email addresses at a domain (the domain part may itself be
///   a `*.` glob); `a@example.com` — that address;
/// - `spiffe://example.org/ns/*` — URIs starting with the text before `*`; otherwise exact.
///
/// A pattern may carry a kind prefix (`dns:`, `ip:`, `email:`, `uri:`) to match only that kind.
pub fn matches_pattern(id: &Identifier, pattern: &str) -> bool {
    let mut pat = pattern.trim();
    for kind in [SanKind::Dns, SanKind::Ip, SanKind::Email, SanKind::Uri] {
        if let Some(rest) = strip_prefix_ci(pat, kind.as_str()).and_then(|r| r.strip_prefix(':')) {
            // "uri:" is only a kind tag when it is not itself a URI scheme "uri://…".
            if !rest.starts_with("//") {
                if kind != id.kind() {
                    return false;
                }
                pat = rest;
                break;
            }
        }
    }
    match id {
        Identifier::Dns(name) => dns_glob(name, pat),
        Identifier::Ip(ip) => ip_pattern(*ip, pat),
        Identifier::Email(addr) => {
            let (local, domain) = addr.rsplit_once('@').unwrap_or(("", addr.as_str()));
            if let Some(dom_pat) = pat.strip_prefix("*@").or_else(|| pat.strip_prefix('@')) {
                dns_glob(domain, dom_pat)
            } else if let Some((pl, pd)) = pat.rsplit_once('@') {
                pl == local && pd.eq_ignore_ascii_case(domain)
            } else {
                false
            }
        }
        Identifier::Uri(uri) => match pat.strip_suffix('*') {
            Some(prefix) => uri.starts_with(prefix),
            None => uri == pat,
        },
    }
}

// ---------------------------------------------------------------------------------------
// DNS names
// ---------------------------------------------------------------------------------------

/// Special-use and non-delegated top-level names refused under the public rules
/// (RFC 6761 §6, RFC 6762 §3, RFC 7686 §2, RFC 9476, ICANN `.internal` reservation).
const RESERVED_TLDS: [&str; 9] = [
    "local",
    "internal",
    "test",
    "localhost",
    "example",
    "invalid",
    "arpa",
    "onion",
    "alt",
];

/// Checks a DNS name and returns it lower-cased; `what` names it in refusals.
fn check_dns_name(
    input: &str,
    rules: IdentifierRules,
    allow_wildcard: bool,
    what: &str,
) -> Result<String, Refusal> {
    if input.is_empty() {
        return Err(reject(format!("empty {what}")));
    }
    // RFC 1035 §2.3.4: at most 255 octets on the wire, i.e. 253 characters of text.
    if input.len() > limits::MAX_DNS_NAME_LEN {
        return Err(reject(format!(
            "{what} {} is longer than {} characters",
            shown(input),
            limits::MAX_DNS_NAME_LEN
        )));
    }
    if input.ends_with('.') && input.len() > 1 {
        return Err(reject(format!(
            "{what} {} has a trailing dot; give the name without it",
            shown(input)
        )));
    }
    if input.parse::<IpAddr>().is_ok() || input.contains(':') || input.starts_with('[') {
        return Err(reject(format!(
            "{what} {} is an IP address, not a DNS name; request it as an IP identifier",
            shown(input)
        )));
    }
    if !input.is_ascii() {
        return Err(reject(format!(
            "{what} {} contains non-ASCII characters; internationalised names must be given as A-labels (xn--)",
            shown(input)
        )));
    }
    let name = input.to_ascii_lowercase();
    let labels: Vec<&str> = name.split('.').collect();
    for (i, label) in labels.iter().enumerate() {
        check_label(label, i, allow_wildcard, what, input)?;
    }
    let wildcard = labels.first() == Some(&"*");
    let base_labels = if wildcard { &labels[1..] } else { &labels[..] };
    if wildcard && base_labels.len() < 2 {
        return Err(reject(format!(
            "wildcard {what} {} covers a whole top-level domain",
            shown(input)
        )));
    }
    // RFC 3696 §2: a top-level domain is never all-numeric; such names are IP-like.
    if let Some(top) = labels.last()
        && top.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(reject(format!(
            "{what} {} ends in an all-numeric label; IP addresses must be requested as IP identifiers",
            shown(input)
        )));
    }
    if wildcard {
        let base = base_labels.join(".");
        let top = base_labels.last().copied().unwrap_or_default();
        if psl().is_icann_tld(top) && psl().is_public_suffix(&base) {
            return Err(reject(format!(
                "wildcard {what} {} is directly under the public suffix {base}",
                shown(input)
            )));
        }
    }
    if rules.public {
        check_public_dns(&name, base_labels, what, input)?;
    }
    Ok(name)
}

/// Checks one label: LDH (RFC 5890 §2.3.1), length, hyphens, A-labels, wildcard placement.
fn check_label(
    label: &str,
    index: usize,
    allow_wildcard: bool,
    what: &str,
    input: &str,
) -> Result<(), Refusal> {
    if label.is_empty() {
        return Err(reject(format!(
            "{what} {} has an empty label",
            shown(input)
        )));
    }
    if label.contains('*') {
        if label != "*" || index != 0 {
            return Err(reject(format!(
                "{what} {} has a wildcard that is not the entire leftmost label",
                shown(input)
            )));
        }
        if !allow_wildcard {
            return Err(reject(format!(
                "{what} {} may not be a wildcard",
                shown(input)
            )));
        }
        return Ok(());
    }
    if label.len() > limits::MAX_DNS_LABEL_LEN {
        return Err(reject(format!(
            "{what} {} has a label longer than {} characters",
            shown(input),
            limits::MAX_DNS_LABEL_LEN
        )));
    }
    if label.contains('_') {
        return Err(reject(format!(
            "{what} {} contains '_', which is not allowed in a host name",
            shown(input)
        )));
    }
    if let Some(c) = label
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
    {
        return Err(reject(format!(
            "{what} {} contains the character {c:?}; only letters, digits and '-' are allowed",
            shown(input)
        )));
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(reject(format!(
            "{what} {} has a label that starts or ends with '-'",
            shown(input)
        )));
    }
    // RFC 5890 §2.3.1: labels with "--" in the third and fourth positions are reserved
    // (R-LDH); only "xn--" (A-labels) is defined.
    if label.len() >= 4 && &label[2..4] == "--" {
        let Some(encoded) = label.strip_prefix("xn--") else {
            return Err(reject(format!(
                "{what} {} has the reserved label {label:?} ('--' in positions 3-4 is only allowed for xn--)",
                shown(input)
            )));
        };
        check_a_label(encoded).map_err(|why| {
            reject(format!(
                "{what} {} has the invalid A-label {label:?}: {why}",
                shown(input)
            ))
        })?;
    }
    Ok(())
}

/// Checks the Punycode part of an A-label (RFC 5891 §5.4): it must decode, contain a
/// non-ASCII character, re-encode to the same text, and pass a subset of IDNA2008 rules.
fn check_a_label(encoded: &str) -> Result<(), &'static str> {
    let decoded = punycode_decode(encoded).ok_or("not valid Punycode")?;
    if decoded.iter().all(char::is_ascii) {
        return Err("decodes to plain ASCII");
    }
    if punycode_encode(&decoded).as_deref() != Some(encoded) {
        return Err("does not re-encode to the same A-label");
    }
    // A subset of the IDNA2008 DISALLOWED set (RFC 5892) that needs no Unicode tables:
    // upper case, controls, spaces, ASCII punctuation and label separators.
    for &c in &decoded {
        if c.is_uppercase() {
            return Err("decodes to upper-case characters");
        }
        if c.is_control() || c.is_whitespace() {
            return Err("decodes to control or space characters");
        }
        if c.is_ascii() && !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
            return Err("decodes to ASCII characters that are not letters, digits or '-'");
        }
        if matches!(c, '\u{3002}' | '\u{ff0e}' | '\u{ff61}' | '\u{fffd}') {
            return Err("decodes to a label separator or replacement character");
        }
    }
    if decoded.first() == Some(&'-') || decoded.last() == Some(&'-') {
        return Err("decodes to a label that starts or ends with '-'");
    }
    Ok(())
}

/// The Baseline Requirements checks for DNS names (BR 3.2.2.4, 4.2.2; BR 7.1.4.2.1).
fn check_public_dns(
    name: &str,
    base_labels: &[&str],
    what: &str,
    input: &str,
) -> Result<(), Refusal> {
    let Some(top) = base_labels.last() else {
        return Err(reject(format!("empty {what}")));
    };
    if base_labels.len() == 1 && !name.starts_with("*.") {
        return Err(reject(format!(
            "{what} {} is a single label; public certificates need a fully qualified name",
            shown(input)
        )));
    }
    if RESERVED_TLDS.contains(top) {
        return Err(reject(format!(
            "{what} {} is under the special-use or reserved name .{top}",
            shown(input)
        )));
    }
    if !psl().is_icann_tld(top) {
        return Err(reject(format!(
            "{what} {} is not under an IANA top-level domain",
            shown(input)
        )));
    }
    let base = base_labels.join(".");
    if psl().is_public_suffix(&base) {
        return Err(reject(format!(
            "{what} {} is a public suffix",
            shown(input)
        )));
    }
    Ok(())
}

/// RFC 5322 §3.2.3 atext.
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c)
}

/// RFC 3986 §2.2–2.3: unreserved, gen-delims, sub-delims, plus '%' for escapes.
fn is_uri_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~:/?#[]@!$&'()*+,;=%".contains(c)
}

/// Checks a `spiffe:` URI (SPIFFE ID specification §2.1–2.2).
fn check_spiffe_id(input: &str, rest: &str) -> Result<(), Refusal> {
    let Some(after) = rest.strip_prefix("//") else {
        return Err(reject(format!(
            "SPIFFE ID {} must start with spiffe://",
            shown(input)
        )));
    };
    let (trust_domain, path) = match after.find('/') {
        Some(i) => (&after[..i], &after[i..]),
        None => (after, ""),
    };
    if trust_domain.is_empty() {
        return Err(reject(format!(
            "SPIFFE ID {} has an empty trust domain",
            shown(input)
        )));
    }
    // §2.1: trust domain characters are lower-case letters, digits, '.', '-' and '_';
    // this also excludes ports and user info.
    if let Some(c) = trust_domain
        .chars()
        .find(|&c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_')))
    {
        return Err(reject(format!(
            "SPIFFE ID {} has the character {c:?} in its trust domain (lower-case letters, digits, '.', '-', '_' only)",
            shown(input)
        )));
    }
    if trust_domain.len() > 255 {
        return Err(reject(format!(
            "SPIFFE ID {} has a trust domain longer than 255 characters",
            shown(input)
        )));
    }
    if path.is_empty() {
        return Ok(());
    }
    // §2.2: segments are non-empty, not "." or "..", of letters, digits, '.', '-', '_'.
    for segment in path[1..].split('/') {
        if segment.is_empty() {
            return Err(reject(format!(
                "SPIFFE ID {} has an empty path segment",
                shown(input)
            )));
        }
        if segment == "." || segment == ".." {
            return Err(reject(format!(
                "SPIFFE ID {} has a '.' or '..' path segment",
                shown(input)
            )));
        }
        if let Some(c) = segment
            .chars()
            .find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
        {
            return Err(reject(format!(
                "SPIFFE ID {} has the character {c:?} in its path",
                shown(input)
            )));
        }
    }
    Ok(())
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

/// ASCII case-insensitive `strip_prefix`.
fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// DNS pattern match: exact, `*.base` (one or more labels under base), or `*` (anything).
fn dns_glob(name: &str, pat: &str) -> bool {
    if pat == "*" {
        return true;
    }
    match pat.strip_prefix("*.") {
        Some(base) => {
            // Byte-wise, so a hand-built non-ASCII identifier cannot split a character.
            let (name, base) = (name.as_bytes(), base.as_bytes());
            name.len() > base.len() + 1
                && name[name.len() - base.len() - 1] == b'.'
                && name[name.len() - base.len()..].eq_ignore_ascii_case(base)
        }
        None => name.eq_ignore_ascii_case(pat),
    }
}

/// IP pattern match: an address or a CIDR block of the same family.
fn ip_pattern(ip: IpAddr, pat: &str) -> bool {
    let Some((addr, len)) = pat.split_once('/') else {
        return pat.parse::<IpAddr>().is_ok_and(|p| p == ip);
    };
    let (Ok(net), Ok(len)) = (addr.parse::<IpAddr>(), len.parse::<u8>()) else {
        return false;
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) if len <= 32 => in_v4(a, n, len),
        (IpAddr::V6(n), IpAddr::V6(a)) if len <= 128 => in_v6(a, n, len),
        _ => false,
    }
}

fn in_v4(addr: Ipv4Addr, net: Ipv4Addr, len: u8) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
    u32::from(addr) & mask == u32::from(net) & mask
}

fn in_v6(addr: Ipv6Addr, net: Ipv6Addr, len: u8) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
    u128::from(addr) & mask == u128::from(net) & mask
}

/// The reserved or special-purpose range an address is in, if any (IANA IPv4/IPv6
/// Special-Purpose Address Registries, RFC 6890; BR 7.1.4.2.1 forbids reserved IPs).
fn reserved_range(ip: IpAddr) -> Option<&'static str> {
    const V4: [([u8; 4], u8, &str); 16] = [
        ([0, 0, 0, 0], 8, "0.0.0.0/8"),
        ([10, 0, 0, 0], 8, "10.0.0.0/8"),
        ([100, 64, 0, 0], 10, "100.64.0.0/10"),
        ([127, 0, 0, 0], 8, "127.0.0.0/8"),
        ([169, 254, 0, 0], 16, "169.254.0.0/16"),
        ([172, 16, 0, 0], 12, "172.16.0.0/12"),
        ([192, 0, 0, 0], 24, "192.0.0.0/24"),
        ([192, 0, 2, 0], 24, "192.0.2.0/24"),
        ([192, 88, 99, 0], 24, "192.88.99.0/24"),
        ([192, 168, 0, 0], 16, "192.168.0.0/16"),
        ([198, 18, 0, 0], 15, "198.18.0.0/15"),
        ([198, 51, 100, 0], 24, "198.51.100.0/24"),
        ([203, 0, 113, 0], 24, "203.0.113.0/24"),
        ([224, 0, 0, 0], 4, "224.0.0.0/4"),
        ([240, 0, 0, 0], 4, "240.0.0.0/4"),
        ([255, 255, 255, 255], 32, "255.255.255.255/32"),
    ];
    const V6: [(u128, u8, &str); 11] = [
        (0, 128, "::/128"),
        (1, 128, "::1/128"),
        (0xffff_0000_0000, 96, "::ffff:0:0/96"),
        (
            0x0064_ff9b_0000_0000_0000_0000_0000_0000,
            96,
            "64:ff9b::/96",
        ),
        (
            0x0064_ff9b_0001_0000_0000_0000_0000_0000,
            48,
            "64:ff9b:1::/48",
        ),
        (0x0100_0000_0000_0000_0000_0000_0000_0000, 64, "100::/64"),
        (
            0x2001_0db8_0000_0000_0000_0000_0000_0000,
            32,
            "2001:db8::/32",
        ),
        (0x2002_0000_0000_0000_0000_0000_0000_0000, 16, "2002::/16"),
        (0xfc00_0000_0000_0000_0000_0000_0000_0000, 7, "fc00::/7"),
        (0xfe80_0000_0000_0000_0000_0000_0000_0000, 10, "fe80::/10"),
        (0xff00_0000_0000_0000_0000_0000_0000_0000, 8, "ff00::/8"),
    ];
    match ip {
        IpAddr::V4(a) => V4
            .iter()
            .find(|(net, len, _)| in_v4(a, Ipv4Addr::from(*net), *len))
            .map(|r| r.2),
        IpAddr::V6(a) => {
            if let Some(r) = V6
                .iter()
                .find(|(net, len, _)| in_v6(a, Ipv6Addr::from(*net), *len))
            {
                return Some(r.2);
            }
            // 2001::/23 IETF protocol assignments (RFC 2928), minus nothing we issue for.
            in_v6(
                a,
                Ipv6Addr::from(0x2001_0000_0000_0000_0000_0000_0000_0000),
                23,
            )
            .then_some("2001::/23")
        }
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

// ---------------------------------------------------------------------------------------
// Punycode (RFC 3492)
// ---------------------------------------------------------------------------------------

const PUNY_BASE: u32 = 36;
const PUNY_TMIN: u32 = 1;
const PUNY_TMAX: u32 = 26;
const PUNY_SKEW: u32 = 38;
const PUNY_DAMP: u32 = 700;
const PUNY_INITIAL_BIAS: u32 = 72;
const PUNY_INITIAL_N: u32 = 128;

/// RFC 3492 §6.1 bias adaptation.
fn puny_adapt(delta: u32, num_points: u32, first_time: bool) -> u32 {
    let mut delta = if first_time {
        delta / PUNY_DAMP
    } else {
        delta / 2
    };
    delta += delta / num_points;
    let mut k = 0;
    while delta > ((PUNY_BASE - PUNY_TMIN) * PUNY_TMAX) / 2 {
        delta /= PUNY_BASE - PUNY_TMIN;
        k += PUNY_BASE;
    }
    k + (PUNY_BASE - PUNY_TMIN + 1) * delta / (delta + PUNY_SKEW)
}

/// RFC 3492 §6.2 threshold t for position k.
fn puny_threshold(k: u32, bias: u32) -> u32 {
    if k <= bias {
        PUNY_TMIN
    } else if k >= bias + PUNY_TMAX {
        PUNY_TMAX
    } else {
        k - bias
    }
}

/// Decodes Punycode (RFC 3492 §6.2) of lower-case ASCII; `None` on any error or overflow.
fn punycode_decode(input: &str) -> Option<Vec<char>> {
    if !input.is_ascii() {
        return None;
    }
    let (basic, extended) = match input.rfind('-') {
        Some(i) => (&input[..i], &input[i + 1..]),
        None => ("", input),
    };
    let mut output: Vec<char> = basic.chars().collect();
    let mut n = PUNY_INITIAL_N;
    let mut i: u32 = 0;
    let mut bias = PUNY_INITIAL_BIAS;
    let mut digits = extended.bytes();
    let mut next = digits.next();
    while next.is_some() {
        let old_i = i;
        let mut w: u32 = 1;
        let mut k = PUNY_BASE;
        loop {
            let digit = match next? {
                c @ b'a'..=b'z' => u32::from(c - b'a'),
                c @ b'0'..=b'9' => u32::from(c - b'0') + 26,
                _ => return None,
            };
            next = digits.next();
            i = i.checked_add(digit.checked_mul(w)?)?;
            let t = puny_threshold(k, bias);
            if digit < t {
                break;
            }
            w = w.checked_mul(PUNY_BASE - t)?;
            k += PUNY_BASE;
        }
        let len = u32::try_from(output.len()).ok()?.checked_add(1)?;
        bias = puny_adapt(i - old_i, len, old_i == 0);
        n = n.checked_add(i / len)?;
        i %= len;
        let c = char::from_u32(n)?;
        if c.is_ascii() {
            return None;
        }
        output.insert(usize::try_from(i).ok()?, c);
        i += 1;
        if output.len() > limits::MAX_DNS_LABEL_LEN {
            return None;
        }
    }
    Some(output)
}

/// Encodes to Punycode (RFC 3492 §6.3); `None` on overflow.
fn punycode_encode(input: &[char]) -> Option<String> {
    let mut output: String = input.iter().filter(|c| c.is_ascii()).collect();
    let basic = u32::try_from(output.len()).ok()?;
    let total = u32::try_from(input.len()).ok()?;
    if basic > 0 {
        output.push('-');
    }
    let mut n = PUNY_INITIAL_N;
    let mut delta: u32 = 0;
    let mut bias = PUNY_INITIAL_BIAS;
    let mut h = basic;
    while h < total {
        let m = input.iter().map(|&c| c as u32).filter(|&c| c >= n).min()?;
        delta = delta.checked_add((m - n).checked_mul(h + 1)?)?;
        n = m;
        for &c in input {
            let c = c as u32;
            if c < n {
                delta = delta.checked_add(1)?;
            }
            if c == n {
                let mut q = delta;
                let mut k = PUNY_BASE;
                loop {
                    let t = puny_threshold(k, bias);
                    if q < t {
                        break;
                    }
                    output.push(puny_digit(t + (q - t) % (PUNY_BASE - t))?);
                    q = (q - t) / (PUNY_BASE - t);
                    k += PUNY_BASE;
                }
                output.push(puny_digit(q)?);
                bias = puny_adapt(delta, h + 1, h == basic);
                delta = 0;
                h += 1;
            }
        }
        delta = delta.checked_add(1)?;
        n = n.checked_add(1)?;
    }
    Some(output)
}

/// The Punycode digit for a value 0..36 (lower case).
fn puny_digit(d: u32) -> Option<char> {
    match d {
        0..=25 => char::from_u32(u32::from(b'a') + d),
        26..=35 => char::from_u32(u32::from(b'0') + d - 26),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------
// Public Suffix List (ICANN section)
// ---------------------------------------------------------------------------------------

/// The ICANN section of the Mozilla Public Suffix List, with every rule in A-label form.
struct PublicSuffixList {
    /// Plain rules, e.g. `com`, `co.uk`.
    rules: HashSet<String>,
    /// Wildcard rules without their `*.`, e.g. `ck` for `*.ck`.
    wildcards: HashSet<String>,
    /// Exception rules without their `!`, e.g. `www.ck`.
    exceptions: HashSet<String>,
    /// Top-level labels of all rules: the ICANN TLDs.
    tlds: HashSet<String>,
}

static PSL: LazyLock<PublicSuffixList> =
    LazyLock::new(|| PublicSuffixList::parse(include_str!("../data/public_suffix_list.dat")));

fn psl() -> &'static PublicSuffixList {
    &PSL
}

impl PublicSuffixList {
    /// Parses the list's ICANN section (https://publicsuffix.org/list/ format).
    fn parse(text: &str) -> PublicSuffixList {
        let mut list = PublicSuffixList {
            rules: HashSet::new(),
            wildcards: HashSet::new(),
            exceptions: HashSet::new(),
            tlds: HashSet::new(),
        };
        let mut in_icann = false;
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with("// ===BEGIN ICANN DOMAINS===") {
                in_icann = true;
                continue;
            }
            if line.starts_with("// ===END ICANN DOMAINS===") {
                break;
            }
            if !in_icann || line.is_empty() || line.starts_with("//") {
                continue;
            }
            let Some(rule) = line.split_whitespace().next() else {
                continue;
            };
            let Some(rule) = to_a_labels(rule) else {
                continue;
            };
            if let Some(top) = rule.rsplit('.').next() {
                list.tlds.insert(top.to_string());
            }
            if let Some(r) = rule.strip_prefix('!') {
                list.exceptions.insert(r.to_string());
            } else if let Some(r) = rule.strip_prefix("*.") {
                list.wildcards.insert(r.to_string());
            } else {
                list.rules.insert(rule);
            }
        }
        list
    }

    /// True if `label` is a top-level domain in the ICANN section.
    fn is_icann_tld(&self, label: &str) -> bool {
        self.tlds.contains(label)
    }

    /// True if `name` (lower-case A-labels) is itself a public suffix under the list's
    /// algorithm: matched by a rule, by a wildcard rule, or a bare TLD (the default `*`
    /// rule), unless an exception rule names it.
    fn is_public_suffix(&self, name: &str) -> bool {
        if self.exceptions.contains(name) {
            return false;
        }
        if self.rules.contains(name) {
            return true;
        }
        match name.split_once('.') {
            Some((_, parent)) => self.wildcards.contains(parent),
            None => true,
        }
    }
}

/// Converts a rule's labels to lower-case A-labels (`!` and `*.` prefixes kept).
fn to_a_labels(rule: &str) -> Option<String> {
    if rule.is_ascii() {
        return Some(rule.to_ascii_lowercase());
    }
    let labels: Option<Vec<String>> = rule
        .split('.')
        .map(|label| {
            if label.is_ascii() {
                Some(label.to_ascii_lowercase())
            } else {
                let chars: Vec<char> = label.to_lowercase().chars().collect();
                punycode_encode(&chars).map(|p| format!("xn--{p}"))
            }
        })
        .collect();
    labels.map(|l| l.join("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUBLIC: IdentifierRules = IdentifierRules::PUBLIC;
    const PRIVATE: IdentifierRules = IdentifierRules::PRIVATE;

    fn dns(s: &str) -> Identifier {
        Identifier::Dns(s.to_string())
    }

    /// Asserts a refusal with code RejectedIdentifier whose detail contains `needle`.
    #[track_caller]
    fn refused(r: Result<Identifier, Refusal>, needle: &str) {
        match r {
            Ok(id) => panic!("accepted {id:?}, expected a refusal mentioning {needle:?}"),
            Err(e) => {
                assert_eq!(e.code, RefusalCode::RejectedIdentifier, "{e}");
                assert!(
                    e.detail.contains(needle),
                    "detail {:?} lacks {needle:?}",
                    e.detail
                );
            }
        }
    }

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

    // B2 row 1: LDH, '_', empty label, hyphens, label/name length, trailing dot.
    #[test]
    fn dns_ldh_rules() {
        assert_eq!(
            parse_dns("Www.Example.COM", PUBLIC).unwrap(),
            dns("www.example.com")
        );
        assert_eq!(
            parse_dns("a-b.example.com", PUBLIC).unwrap(),
            dns("a-b.example.com")
        );
        assert_eq!(
            parse_dns("3com.example", PRIVATE).unwrap(),
            dns("3com.example")
        );
        refused(parse_dns("_acme.example.com", PRIVATE), "'_'");
        refused(parse_dns("a_b.example.com", PRIVATE), "'_'");
        refused(parse_dns("a b.example.com", PRIVATE), "' '");
        refused(parse_dns("a!.example.com", PRIVATE), "'!'");
        refused(parse_dns("a..b", PRIVATE), "empty label");
        refused(parse_dns(".example.com", PRIVATE), "empty label");
        refused(parse_dns("", PRIVATE), "empty");
        refused(
            parse_dns("-a.example.com", PRIVATE),
            "starts or ends with '-'",
        );
        refused(
            parse_dns("a-.example.com", PRIVATE),
            "starts or ends with '-'",
        );
        let label63 = "a".repeat(63);
        assert!(parse_dns(&format!("{label63}.example.com"), PUBLIC).is_ok());
        refused(
            parse_dns(&format!("a{label63}.example.com"), PRIVATE),
            "longer than 63",
        );
        let long = format!("{0}.{0}.{0}.{1}.com", "a".repeat(63), "b".repeat(57));
        assert_eq!(long.len(), 253);
        assert!(parse_dns(&long, PUBLIC).is_ok());
        refused(parse_dns(&format!("a{long}"), PRIVATE), "longer than 253");
        refused(parse_dns("example.com.", PRIVATE), "trailing dot");
        refused(parse_dns("exämple.com", PRIVATE), "A-labels");
    }

    #[test]
    fn refusal_detail_is_truncated() {
        let e = parse_dns(&"_".repeat(300), PRIVATE).unwrap_err();
        assert!(e.detail.len() < 200, "{}", e.detail);
    }

    // B2 row 2: xn-- with invalid punycode; R-LDH; IDNA subset.
    #[test]
    fn idn_a_labels() {
        assert_eq!(
            parse_dns("xn--bcher-kva.example.de", PUBLIC).unwrap(),
            dns("xn--bcher-kva.example.de")
        );
        assert!(parse_dns("XN--MNCHEN-3YA.de", PUBLIC).is_ok());
        refused(parse_dns("xn--abc.example", PRIVATE), "invalid A-label");
        refused(parse_dns("xn--a.example", PRIVATE), "invalid A-label");
        refused(
            parse_dns("xn--zzzzzzzzzzzzzzz.example", PRIVATE),
            "invalid A-label",
        );
        // "xn--abc-" would decode to plain ASCII "abc"; its trailing '-' is refused first.
        refused(parse_dns("xn--abc-.example", PRIVATE), "ends with '-'");
        assert_eq!(check_a_label("abc-"), Err("decodes to plain ASCII"));
        refused(parse_dns("ab--x.example", PRIVATE), "reserved label");
        refused(parse_dns("r3--x.example", PRIVATE), "reserved label");
        // A well-formed encoding of a U-label with an upper-case non-ASCII letter.
        let upper: Vec<char> = "Übung".chars().collect();
        let enc = punycode_encode(&upper).unwrap();
        refused(
            parse_dns(&format!("xn--{enc}.example"), PRIVATE),
            "invalid A-label",
        );
    }

    #[test]
    fn punycode_rfc3492_vectors() {
        let cases = [
            ("bücher", "bcher-kva"),
            ("münchen", "mnchen-3ya"),
            // RFC 3492 §7.1 (A) Arabic (Egyptian), (B) Chinese (simplified), (L) Japanese.
            (
                "\u{644}\u{64a}\u{647}\u{645}\u{627}\u{628}\u{62a}\u{643}\u{644}\u{645}\u{648}\u{634}\u{639}\u{631}\u{628}\u{64a}\u{61f}",
                "egbpdaj6bu4bxfgehfvwxn",
            ),
            ("他们为什么不说中文", "ihqwcrb4cv8a8dqg056pqjye"),
            ("3年b組金八先生", "3b-ww4c5e180e575a65lsy2b"),
            ("ü", "tda"),
        ];
        for (unicode, puny) in cases {
            let chars: Vec<char> = unicode.chars().collect();
            assert_eq!(punycode_encode(&chars).as_deref(), Some(puny), "{unicode}");
            assert_eq!(punycode_decode(puny), Some(chars), "{puny}");
        }
        for junk in [
            "",
            "-",
            "99999999999999",
            "a-!",
            "zzzzzzzzzzzzzzzzzzzzz9",
            "\u{e9}",
        ] {
            let _ = punycode_decode(junk);
        }
    }

    // B2 row 3: wildcards.
    #[test]
    fn wildcards() {
        assert_eq!(
            parse_dns("*.Example.com", PUBLIC).unwrap(),
            dns("*.example.com")
        );
        assert!(parse_dns("*.a.b.example.com", PUBLIC).is_ok());
        refused(
            parse_dns("*.*.example.com", PRIVATE),
            "not the entire leftmost label",
        );
        refused(
            parse_dns("a.*.example.com", PRIVATE),
            "not the entire leftmost label",
        );
        refused(
            parse_dns("f*o.example.com", PRIVATE),
            "not the entire leftmost label",
        );
        refused(
            parse_dns("*foo.example.com", PRIVATE),
            "not the entire leftmost label",
        );
        refused(parse_dns("*", PRIVATE), "whole top-level domain");
        refused(parse_dns("*.com", PRIVATE), "whole top-level domain");
        refused(parse_dns("*.com", PUBLIC), "whole top-level domain");
        refused(parse_dns("*.co.uk", PUBLIC), "public suffix");
        refused(parse_dns("*.co.uk", PRIVATE), "public suffix");
        // github.io is only in the list's PRIVATE section, which is not used.
        assert!(parse_dns("*.github.io", PUBLIC).is_ok());
        assert!(parse_dns("*.corp.internal", PRIVATE).is_ok());
        assert!(parse_dns("*.anything.ck", PUBLIC).is_err()); // *.ck: anything.ck is a suffix
        refused(parse_email("a@*.example.com"), "may not be a wildcard");
    }

    // B2 row 4: public rules — bare TLD, non-IANA TLDs, special-use names, public suffixes.
    #[test]
    fn public_rules() {
        for ok in [
            "example.com",
            "a.b.example.co.uk",
            "www.ck",
            "xn--bcher-kva.de",
            "example.xn--p1ai",
        ] {
            assert!(parse_dns(ok, PUBLIC).is_ok(), "{ok}");
        }
        refused(parse_dns("com", PUBLIC), "single label");
        refused(parse_dns("localhost", PUBLIC), "single label");
        refused(parse_dns("server1", PUBLIC), "single label");
        assert!(parse_dns("localhost", PRIVATE).is_ok());
        assert!(parse_dns("server1", PRIVATE).is_ok());
        for reserved in [
            "printer.local",
            "db.internal",
            "a.test",
            "foo.localhost",
            "www.example",
            "x.invalid",
            "1.in-addr.arpa",
            "abc.onion",
        ] {
            refused(parse_dns(reserved, PUBLIC), "special-use or reserved");
            assert!(parse_dns(reserved, PRIVATE).is_ok(), "{reserved}");
        }
        refused(
            parse_dns("example.notatld", PUBLIC),
            "not under an IANA top-level domain",
        );
        refused(parse_dns("co.uk", PUBLIC), "is a public suffix");
        refused(parse_dns("foo.kawasaki.jp", PUBLIC), "is a public suffix");
        assert!(parse_dns("city.kawasaki.jp", PUBLIC).is_ok());
        // The private section of the list is not used.
        assert!(parse_dns("github.io", PUBLIC).is_ok());
    }

    #[test]
    fn public_suffix_list_loaded() {
        let psl = psl();
        assert!(psl.rules.len() > 5000, "{}", psl.rules.len());
        assert!(psl.is_icann_tld("com") && psl.is_icann_tld("uk") && psl.is_icann_tld("bd"));
        assert!(psl.is_icann_tld("xn--p1ai"));
        assert!(!psl.is_icann_tld("local") && !psl.is_icann_tld("internal"));
        assert!(psl.is_public_suffix("com"));
        assert!(psl.is_public_suffix("co.uk"));
        assert!(psl.is_public_suffix("anything.bd"));
        assert!(!psl.is_public_suffix("www.ck"));
        assert!(!psl.is_public_suffix("example.com"));
    }

    // B2 row 5: IP ranges, zones, non-canonical text.
    #[test]
    fn ip_addresses() {
        assert_eq!(
            parse_ip("8.8.8.8", PUBLIC).unwrap(),
            Identifier::Ip("8.8.8.8".parse().unwrap())
        );
        assert_eq!(
            parse_ip("2606:4700:4700::1111", PUBLIC).unwrap().value(),
            "2606:4700:4700::1111"
        );
        assert_eq!(
            parse_ip("2606:4700:4700::ABCD", PUBLIC).unwrap().value(),
            "2606:4700:4700::abcd"
        );
        refused(parse_ip("010.1.1.1", PRIVATE), "not a valid IPv4");
        refused(parse_ip("1.2.3", PRIVATE), "not a valid IPv4");
        refused(parse_ip("1.2.3.4.5", PRIVATE), "not a valid IPv4");
        refused(parse_ip("256.1.1.1", PRIVATE), "not a valid IPv4");
        refused(parse_ip("::ffff:1.2.3.4", PRIVATE), "IPv4-mapped");
        refused(parse_ip("fe80::1%eth0", PRIVATE), "zone");
        refused(parse_ip("[::1]", PRIVATE), "brackets");
        refused(parse_ip("2001:0db8::1", PRIVATE), "canonical form");
        refused(
            parse_ip("2001:db8:0:0:0:0:0:1", PRIVATE),
            "write 2001:db8::1",
        );
        refused(parse_ip("::", PUBLIC), "reserved");
        refused(parse_ip("", PRIVATE), "empty");
        for private in [
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.1.2.3",
            "192.0.0.8",
            "192.0.2.1",
            "198.18.0.1",
            "198.19.255.1",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "64:ff9b::808:808",
        ] {
            refused(parse_ip(private, PUBLIC), "reserved or special-purpose");
            assert!(parse_ip(private, PRIVATE).is_ok(), "{private}");
        }
        for public in ["172.32.0.1", "100.128.0.1", "1.1.1.1", "2a00:1450::1"] {
            assert!(parse_ip(public, PUBLIC).is_ok(), "{public}");
        }
    }

    // B2 row 6: IP address submitted as DNS.
    #[test]
    fn ip_as_dns_refused() {
        refused(parse_dns("10.0.0.1", PRIVATE), "IP address");
        refused(parse_dns("::1", PRIVATE), "IP address");
        refused(parse_dns("1.2.3", PRIVATE), "all-numeric");
        refused(parse_dns("010.1.1.1", PRIVATE), "all-numeric");
        refused(parse_dns("[::1]", PRIVATE), "IP address");
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

    #[test]
    fn emails() {
        assert_eq!(
            parse_email("first.last+tag@Mail.Example.com")
                .unwrap()
                .value(),
            "first.last+tag@mail.example.com"
        );
        refused(parse_email("no-at-sign"), "no '@'");
        refused(parse_email("a@b@c.example"), "more than one '@'");
        refused(parse_email("@example.com"), "empty local part");
        refused(parse_email("a b@example.com"), "' '");
        refused(parse_email("\"ab\"@example.com"), "'\"'");
        refused(parse_email(".a@example.com"), "empty atom");
        refused(parse_email("a..b@example.com"), "empty atom");
        refused(
            parse_email(&format!("{}@example.com", "a".repeat(65))),
            "64",
        );
        refused(parse_email("a@exa_mple.com"), "'_'");
        refused(parse_email("a@[10.0.0.1]"), "IP address");
        refused(parse_email("a@"), "empty email domain");
        let long = format!("a@{}.com", vec!["b".repeat(60); 5].join("."));
        refused(parse_email(&long), "longer than");
    }

    #[test]
    fn uris() {
        assert!(parse_uri("https://example.com/a?b=c#d").is_ok());
        assert!(parse_uri("urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6").is_ok());
        assert!(parse_uri("spiffe://example.org").is_ok());
        assert!(parse_uri("spiffe://prod.example_org/ns/default/sa/web-1").is_ok());
        refused(parse_uri("no-scheme"), "no scheme");
        refused(parse_uri("HTTPS://example.com"), "lower-case scheme");
        refused(parse_uri("1http://example.com"), "lower-case scheme");
        refused(parse_uri("https:"), "nothing after");
        refused(parse_uri("https://exa mple.com"), "' '");
        refused(parse_uri("https://example.com/\n"), "'\\n'");
        refused(parse_uri("https://example.com/é"), "'é'");
        refused(parse_uri("https://example.com/<x>"), "'<'");
        refused(parse_uri("https://example.com/%zz"), "'%'");
        refused(
            parse_uri(&format!("https://example.com/{}", "a".repeat(2048))),
            "longer than",
        );
        refused(parse_uri("spiffe://Example.org/x"), "trust domain");
        refused(parse_uri("spiffe://example.org:8443/x"), "trust domain");
        refused(parse_uri("spiffe://user@example.org/x"), "trust domain");
        refused(parse_uri("spiffe:///x"), "empty trust domain");
        refused(parse_uri("spiffe:example.org"), "spiffe://");
        refused(parse_uri("spiffe://example.org/a//b"), "empty path segment");
        refused(parse_uri("spiffe://example.org/a/"), "empty path segment");
        refused(parse_uri("spiffe://example.org/a/../b"), "'.' or '..'");
        refused(parse_uri("spiffe://example.org/./b"), "'.' or '..'");
        refused(parse_uri("spiffe://example.org/a?b"), "in its path");
        refused(parse_uri("spiffe://example.org/a%41"), "in its path");
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

    #[test]
    fn patterns() {
        let www = dns("www.example.com");
        assert!(matches_pattern(&www, "*.example.com"));
        assert!(matches_pattern(&www, "*.EXAMPLE.com"));
        assert!(matches_pattern(&dns("a.b.example.com"), "*.example.com"));
        assert!(matches_pattern(&dns("*.example.com"), "*.example.com"));
        assert!(!matches_pattern(&dns("example.com"), "*.example.com"));
        assert!(!matches_pattern(&dns("badexample.com"), "*.example.com"));
        assert!(matches_pattern(&dns("example.com"), "Example.com"));
        assert!(!matches_pattern(&www, "example.com"));
        assert!(matches_pattern(&www, "*"));
        assert!(matches_pattern(&www, "dns:*.example.com"));
        assert!(!matches_pattern(&www, "ip:*.example.com"));
        let ip = Identifier::Ip("10.1.2.3".parse().unwrap());
        assert!(matches_pattern(&ip, "10.0.0.0/8"));
        assert!(matches_pattern(&ip, "ip:10.1.2.3"));
        assert!(matches_pattern(&ip, "0.0.0.0/0"));
        assert!(!matches_pattern(&ip, "11.0.0.0/8"));
        assert!(!matches_pattern(&ip, "10.0.0.0/33"));
        assert!(!matches_pattern(&ip, "::/0"));
        assert!(!matches_pattern(&ip, "*.example.com"));
        let v6 = Identifier::Ip("2001:db8::5".parse().unwrap());
        assert!(matches_pattern(&v6, "2001:db8::/32"));
        assert!(!matches_pattern(&v6, "2001:db9::/32"));
        let mail = Identifier::Email("ops@mail.example.com".into());
        assert!(matches_pattern(&mail, "*@*.example.com"));
        assert!(matches_pattern(&mail, "@mail.example.com"));
        assert!(matches_pattern(&mail, "ops@MAIL.example.com"));
        assert!(!matches_pattern(&mail, "dev@mail.example.com"));
        let uri = Identifier::Uri("spiffe://example.org/ns/prod/sa/web".into());
        assert!(matches_pattern(&uri, "spiffe://example.org/ns/prod/*"));
        assert!(matches_pattern(
            &uri,
            "uri:spiffe://example.org/ns/prod/sa/web"
        ));
        assert!(!matches_pattern(&uri, "spiffe://example.org/ns/dev/*"));
        // Hand-built identifiers that no parser would return never make matching panic.
        assert!(!matches_pattern(&dns("ééé.example.com"), "*.é.example.com"));
        assert!(!matches_pattern(&dns("é"), "*.x"));
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
}
