//! Profile allow/deny patterns: DNS globs, CIDR blocks, email domains, URI prefixes.

use std::net::IpAddr;

use super::ip::{in_v4, in_v6};
use super::{Identifier, SanKind};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identifier::test_support::dns;

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
}
