//! Which addresses the VA may connect to (RFC 8555 §10.4 server-side request forgery).
//!
//! Every address is put in one class from the IANA IPv4 and IPv6 Special-Purpose Address
//! Registries (RFC 6890 and successors): public, private (internal networks: allowed when
//! the profile says so), loopback (the CA's own host: tests only) or reserved (never:
//! unspecified, link-local — the cloud metadata service lives there —, multicast,
//! documentation, benchmarking, transition prefixes…). An IPv4-mapped IPv6 address
//! (`::ffff:a.b.c.d`) reaches the IPv4 address, so it is classified as that address.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The class of an address for the connection policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressClass {
    /// Globally routable: always allowed.
    Public,
    /// RFC 1918, RFC 6598 shared address space (100.64/10), IPv6 unique local (fc00::/7):
    /// allowed when `allow_private_addresses`.
    Private,
    /// 127/8 and ::1: allowed when `allow_loopback`.
    Loopback,
    /// Never connected to; the range is named.
    Reserved(&'static str),
}

impl fmt::Display for AddressClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddressClass::Public => f.write_str("public"),
            AddressClass::Private => f.write_str("private"),
            AddressClass::Loopback => f.write_str("loopback"),
            AddressClass::Reserved(r) => write!(f, "reserved {r}"),
        }
    }
}

const V4_PRIVATE: [([u8; 4], u8); 4] = [
    ([10, 0, 0, 0], 8),
    ([172, 16, 0, 0], 12),
    ([192, 168, 0, 0], 16),
    ([100, 64, 0, 0], 10),
];

const V4_RESERVED: [([u8; 4], u8, &str); 11] = [
    ([0, 0, 0, 0], 8, "0.0.0.0/8"),
    ([169, 254, 0, 0], 16, "169.254.0.0/16"),
    ([192, 0, 0, 0], 24, "192.0.0.0/24"),
    ([192, 0, 2, 0], 24, "192.0.2.0/24"),
    ([192, 31, 196, 0], 24, "192.31.196.0/24"),
    ([192, 52, 193, 0], 24, "192.52.193.0/24"),
    ([192, 88, 99, 0], 24, "192.88.99.0/24"),
    ([198, 18, 0, 0], 15, "198.18.0.0/15"),
    ([198, 51, 100, 0], 24, "198.51.100.0/24"),
    ([203, 0, 113, 0], 24, "203.0.113.0/24"),
    // Multicast, the old class E and the limited broadcast address.
    ([224, 0, 0, 0], 3, "224.0.0.0/3"),
];

const V6_RESERVED: [(u128, u8, &str); 14] = [
    (0, 128, "::/128"),
    // IPv4-compatible (deprecated, RFC 4291 §2.5.5.1); ::1 and :: are matched before.
    (0, 96, "::/96"),
    (0xffff_0000_0000_0000, 96, "::ffff:0:0:0/96"),
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
    (0x2001_0000_0000_0000_0000_0000_0000_0000, 23, "2001::/23"),
    (
        0x2001_0db8_0000_0000_0000_0000_0000_0000,
        32,
        "2001:db8::/32",
    ),
    (0x2002_0000_0000_0000_0000_0000_0000_0000, 16, "2002::/16"),
    (0x3fff_0000_0000_0000_0000_0000_0000_0000, 20, "3fff::/20"),
    (0x5f00_0000_0000_0000_0000_0000_0000_0000, 16, "5f00::/16"),
    (0xfe80_0000_0000_0000_0000_0000_0000_0000, 10, "fe80::/10"),
    (0xfec0_0000_0000_0000_0000_0000_0000_0000, 10, "fec0::/10"),
    (0xff00_0000_0000_0000_0000_0000_0000_0000, 8, "ff00::/8"),
];

/// Classifies an address for the connection policy.
pub fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return classify_v4(v4);
            }
            classify_v6(v6)
        }
    }
}

fn classify_v4(a: Ipv4Addr) -> AddressClass {
    if in_v4(a, [127, 0, 0, 0], 8) {
        return AddressClass::Loopback;
    }
    if V4_PRIVATE.iter().any(|(net, len)| in_v4(a, *net, *len)) {
        return AddressClass::Private;
    }
    if let Some((_, _, name)) = V4_RESERVED
        .iter()
        .find(|(net, len, _)| in_v4(a, *net, *len))
    {
        return AddressClass::Reserved(name);
    }
    AddressClass::Public
}

fn classify_v6(a: Ipv6Addr) -> AddressClass {
    if a == Ipv6Addr::LOCALHOST {
        return AddressClass::Loopback;
    }
    if in_v6(a, 0xfc00_0000_0000_0000_0000_0000_0000_0000, 7) {
        return AddressClass::Private;
    }
    if let Some((_, _, name)) = V6_RESERVED
        .iter()
        .find(|(net, len, _)| in_v6(a, *net, *len))
    {
        return AddressClass::Reserved(name);
    }
    // Only 2000::/3 is allocated for global unicast; anything else is unassigned.
    if !in_v6(a, 0x2000_0000_0000_0000_0000_0000_0000_0000, 3) {
        return AddressClass::Reserved("outside 2000::/3");
    }
    AddressClass::Public
}

fn in_v4(addr: Ipv4Addr, net: [u8; 4], len: u8) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
    u32::from(addr) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn in_v6(addr: Ipv6Addr, net: u128, len: u8) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
    u128::from(addr) & mask == net & mask
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> AddressClass {
        classify(s.parse().unwrap())
    }

    #[test]
    fn public_addresses() {
        for a in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2a00:1450:4001::1",
            "::ffff:8.8.8.8",
        ] {
            assert_eq!(c(a), AddressClass::Public, "{a}");
        }
    }

    #[test]
    fn private_addresses() {
        for a in [
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "fd00::1",
            "fc12:3456::1",
        ] {
            assert_eq!(c(a), AddressClass::Private, "{a}");
        }
    }

    #[test]
    fn loopback_addresses() {
        for a in ["127.0.0.1", "127.255.0.1", "::1"] {
            assert_eq!(c(a), AddressClass::Loopback, "{a}");
        }
    }

    #[test]
    fn ipv4_mapped_ipv6_is_classified_as_its_ipv4_address() {
        assert_eq!(c("::ffff:127.0.0.1"), AddressClass::Loopback);
        assert_eq!(c("::ffff:10.1.2.3"), AddressClass::Private);
        assert_eq!(c("::ffff:192.168.0.1"), AddressClass::Private);
        assert_eq!(
            c("::ffff:169.254.169.254"),
            AddressClass::Reserved("169.254.0.0/16")
        );
        assert_eq!(c("::ffff:0.0.0.0"), AddressClass::Reserved("0.0.0.0/8"));
        // IPv4-translated (SIIT) and IPv4-compatible forms are not the mapped form.
        assert!(matches!(c("::ffff:0:7f00:1"), AddressClass::Reserved(_)));
        assert!(matches!(c("::7f00:1"), AddressClass::Reserved("::/96")));
    }

    #[test]
    fn reserved_addresses() {
        for (a, range) in [
            ("0.0.0.0", "0.0.0.0/8"),
            ("169.254.169.254", "169.254.0.0/16"),
            ("192.0.0.8", "192.0.0.0/24"),
            ("192.0.2.1", "192.0.2.0/24"),
            ("192.88.99.1", "192.88.99.0/24"),
            ("198.19.0.1", "198.18.0.0/15"),
            ("198.51.100.7", "198.51.100.0/24"),
            ("203.0.113.9", "203.0.113.0/24"),
            ("224.0.0.1", "224.0.0.0/3"),
            ("239.255.255.250", "224.0.0.0/3"),
            ("240.0.0.1", "224.0.0.0/3"),
            ("255.255.255.255", "224.0.0.0/3"),
            ("::", "::/128"),
            ("64:ff9b::a00:1", "64:ff9b::/96"),
            ("100::1", "100::/64"),
            ("2001::1", "2001::/23"),
            ("2001:db8::1", "2001:db8::/32"),
            ("2002:a00:1::1", "2002::/16"),
            ("3fff::1", "3fff::/20"),
            ("fe80::1", "fe80::/10"),
            ("fec0::1", "fec0::/10"),
            ("ff02::1", "ff00::/8"),
            ("4000::1", "outside 2000::/3"),
        ] {
            assert_eq!(c(a), AddressClass::Reserved(range), "{a}");
        }
    }

    #[test]
    fn policy_by_config() {
        use super::super::ValidationConfig;
        let mut cfg = ValidationConfig::default();
        let private: IpAddr = "10.0.0.1".parse().unwrap();
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let meta: IpAddr = "169.254.169.254".parse().unwrap();
        let public: IpAddr = "8.8.8.8".parse().unwrap();
        assert!(cfg.address_allowed(public));
        assert!(!cfg.address_allowed(private));
        assert!(!cfg.address_allowed(lo));
        cfg.allow_private_addresses = true;
        assert!(cfg.address_allowed(private));
        assert!(!cfg.address_allowed(lo));
        cfg.allow_loopback = true;
        assert!(cfg.address_allowed(lo));
        assert!(!cfg.address_allowed(meta), "link-local is never allowed");
    }
}
