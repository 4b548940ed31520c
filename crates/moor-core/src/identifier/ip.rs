//! IP addresses: canonical text forms (RFC 1123, RFC 5952) and the reserved and
//! special-purpose ranges refused under the public rules.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{Identifier, IdentifierRules, reject, shown};
use crate::refusal::Refusal;

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

/// True if `addr` is in the IPv4 block `net`/`len`.
pub(super) fn in_v4(addr: Ipv4Addr, net: Ipv4Addr, len: u8) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
    u32::from(addr) & mask == u32::from(net) & mask
}

/// True if `addr` is in the IPv6 block `net`/`len`.
pub(super) fn in_v6(addr: Ipv6Addr, net: Ipv6Addr, len: u8) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
    u128::from(addr) & mask == u128::from(net) & mask
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identifier::test_support::{PRIVATE, PUBLIC, refused};

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
}
