//! Email addresses (RFC 5321 dot-string local part) and URIs (RFC 3986), including SPIFFE
//! IDs.

use super::dns::check_dns_name;
use super::{Identifier, IdentifierRules, reject, shown};
use crate::limits;
use crate::refusal::Refusal;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identifier::test_support::refused;

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
}
