//! DNS names: LDH syntax, lengths, wildcards, A-labels (RFC 1035, RFC 5890/5891) and the
//! Baseline Requirements checks for public names (IANA TLD, public suffixes, special-use
//! names).

use std::net::IpAddr;

use super::public_suffix::psl;
use super::punycode::{punycode_decode, punycode_encode};
use super::{Identifier, IdentifierRules, reject, shown};
use crate::limits;
use crate::refusal::Refusal;

/// Parses a DNS name (RFC 1035 §2.3.1 preferred syntax, RFC 5890 A-labels), lower-casing it.
///
/// A wildcard is accepted only as the whole leftmost label of a name with at least two
/// further labels whose base is not a public suffix.
pub fn parse_dns(input: &str, rules: IdentifierRules) -> Result<Identifier, Refusal> {
    check_dns_name(input, rules, true, "DNS name").map(Identifier::Dns)
}

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
pub(super) fn check_dns_name(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identifier::parse_email;
    use crate::identifier::test_support::{PRIVATE, PUBLIC, dns, refused};

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

    // B2 row 6: IP address submitted as DNS.
    #[test]
    fn ip_as_dns_refused() {
        refused(parse_dns("10.0.0.1", PRIVATE), "IP address");
        refused(parse_dns("::1", PRIVATE), "IP address");
        refused(parse_dns("1.2.3", PRIVATE), "all-numeric");
        refused(parse_dns("010.1.1.1", PRIVATE), "all-numeric");
        refused(parse_dns("[::1]", PRIVATE), "IP address");
    }
}
