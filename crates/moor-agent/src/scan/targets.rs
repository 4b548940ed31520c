//! Parsing `--targets` and `--ports`, and expanding them into endpoints.
//!
//! A target is an IPv4 or IPv6 address, a CIDR block, or a host name, each optionally
//! followed by `:port` (IPv6 addresses then in brackets: `[::1]:443`). Every input is
//! bounded: the length of the whole list, of one target, the number of targets and
//! ports, and the number of addresses a list expands to.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use super::ScanError;

/// At most this many addresses in one scan (CIDR blocks and resolved names together).
pub const MAX_ADDRESSES: u128 = 65_536;
/// At most this many (address, port) endpoints in one scan.
pub const MAX_ENDPOINTS: usize = 262_144;
/// At most this many bytes in the `--targets` list.
pub const MAX_TARGETS_LEN: usize = 65_536;
/// At most this many bytes in one target.
pub const MAX_TARGET_LEN: usize = 300;
/// At most this many targets in one list.
pub const MAX_TARGETS: usize = 4_096;
/// At most this many ports in `--ports`.
pub const MAX_PORTS: usize = 1_024;
/// At most this many bytes in a host name (RFC 1035).
pub const MAX_NAME_LEN: usize = 253;
/// How long resolving one host name may take.
pub const RESOLVE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a target points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetHost {
    /// One address.
    Ip(IpAddr),
    /// Every address of a block (the network address, host bits cleared, and the prefix).
    Cidr(IpAddr, u8),
    /// A host name, resolved to every address it has.
    Name(String),
}

/// One parsed target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The address, block or name.
    pub host: TargetHost,
    /// The port given with the target; `None`: every `--ports` port.
    pub port: Option<u16>,
}

impl Target {
    /// How many addresses the target stands for (names: unknown before resolution, 1).
    pub fn address_count(&self) -> u128 {
        match &self.host {
            TargetHost::Ip(_) | TargetHost::Name(_) => 1,
            TargetHost::Cidr(ip, prefix) => {
                let bits: u32 = if ip.is_ipv4() { 32 } else { 128 };
                let host_bits = bits - u32::from(*prefix);
                1u128.checked_shl(host_bits).unwrap_or(u128::MAX)
            }
        }
    }
}

/// One (address, port) to scan.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// The address to connect to, or the host name when it could not be resolved.
    pub address: String,
    /// The IP to connect to; `None` when the name did not resolve.
    pub ip: Option<IpAddr>,
    /// The TCP port.
    pub port: u16,
    /// The server name to send (SNI), if any.
    pub sni: Option<String>,
    /// Why the endpoint cannot be scanned (a name that did not resolve).
    pub error: Option<String>,
}

fn bad(target: &str, why: impl Into<String>) -> ScanError {
    let mut shown: String = target.chars().take(80).collect();
    if shown.len() < target.len() {
        shown.push('…');
    }
    ScanError::BadTarget {
        target: shown,
        reason: why.into(),
    }
}

/// Parse a comma-separated list of targets.
pub fn parse_targets(list: &str) -> Result<Vec<Target>, ScanError> {
    if list.len() > MAX_TARGETS_LEN {
        return Err(ScanError::TooLarge(format!(
            "the target list is {} bytes; at most {MAX_TARGETS_LEN}",
            list.len()
        )));
    }
    let mut out = Vec::new();
    for item in list.split(',') {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        if out.len() >= MAX_TARGETS {
            return Err(ScanError::TooLarge(format!(
                "more than {MAX_TARGETS} targets"
            )));
        }
        out.push(parse_target(item)?);
    }
    if out.is_empty() {
        return Err(ScanError::BadTarget {
            target: list.chars().take(80).collect(),
            reason: "no target given".into(),
        });
    }
    let total: u128 = out
        .iter()
        .map(Target::address_count)
        .fold(0u128, |a, b| a.saturating_add(b));
    if total > MAX_ADDRESSES {
        return Err(ScanError::TooLarge(format!(
            "the targets expand to {total} addresses; at most {MAX_ADDRESSES} per scan"
        )));
    }
    Ok(out)
}

/// Parse one target: `ip`, `ip:port`, `[ipv6]`, `[ipv6]:port`, `ip/prefix`,
/// `ip/prefix:port` (IPv4), `[ipv6/prefix]:port`, `name`, `name:port`.
pub fn parse_target(s: &str) -> Result<Target, ScanError> {
    if s.len() > MAX_TARGET_LEN {
        return Err(bad(s, format!("longer than {MAX_TARGET_LEN} bytes")));
    }
    if let Some(rest) = s.strip_prefix('[') {
        let Some((inside, after)) = rest.split_once(']') else {
            return Err(bad(s, "missing `]`"));
        };
        let port = match after {
            "" => None,
            p => match p.strip_prefix(':') {
                Some(p) => Some(parse_port(p).map_err(|e| bad(s, e))?),
                None => return Err(bad(s, "expected `:port` after `]`")),
            },
        };
        let host = if let Some((addr, prefix)) = inside.split_once('/') {
            let ip: Ipv6Addr = addr
                .parse()
                .map_err(|_| bad(s, "not an IPv6 address inside brackets"))?;
            cidr(IpAddr::V6(ip), prefix).map_err(|e| bad(s, e))?
        } else {
            let ip: Ipv6Addr = inside
                .parse()
                .map_err(|_| bad(s, "not an IPv6 address inside brackets"))?;
            TargetHost::Ip(IpAddr::V6(ip))
        };
        return Ok(Target { host, port });
    }
    if let Some((addr, rest)) = s.split_once('/') {
        let ip: IpAddr = addr
            .parse()
            .map_err(|_| bad(s, "not an IP address before `/`"))?;
        // `10.0.0.0/24:443`: the prefix is digits, so a colon after it starts the port.
        let (prefix, port) = match rest.split_once(':') {
            Some((p, port)) => (p, Some(parse_port(port).map_err(|e| bad(s, e))?)),
            None => (rest, None),
        };
        let host = cidr(ip, prefix).map_err(|e| bad(s, e))?;
        return Ok(Target { host, port });
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(Target {
            host: TargetHost::Ip(ip),
            port: None,
        });
    }
    let (host, port) = match s.split_once(':') {
        Some((h, p)) => {
            if p.contains(':') {
                return Err(bad(
                    s,
                    "not an address (an IPv6 address with a port goes in brackets: [::1]:443)",
                ));
            }
            (h, Some(parse_port(p).map_err(|e| bad(s, e))?))
        }
        None => (s, None),
    };
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return Ok(Target {
            host: TargetHost::Ip(IpAddr::V4(ip)),
            port,
        });
    }
    check_name(host).map_err(|e| bad(s, e))?;
    Ok(Target {
        host: TargetHost::Name(host.trim_end_matches('.').to_ascii_lowercase()),
        port,
    })
}

fn cidr(ip: IpAddr, prefix: &str) -> Result<TargetHost, String> {
    let max: u8 = if ip.is_ipv4() { 32 } else { 128 };
    let p: u8 = prefix
        .parse()
        .ok()
        .filter(|p| *p <= max)
        .ok_or_else(|| format!("the prefix length must be 0 to {max}"))?;
    let network = match ip {
        IpAddr::V4(v4) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(p)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask))
        }
        IpAddr::V6(v6) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(p)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
        }
    };
    Ok(TargetHost::Cidr(network, p))
}

/// A host name: at most 253 bytes, labels of 1 to 63 letters, digits, `-` or `_`, not
/// starting or ending with `-`, and a last label that is not all digits (so `300.1.1.1`
/// is refused as a bad address rather than looked up).
fn check_name(name: &str) -> Result<(), String> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() {
        return Err("empty host name".into());
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!("host name longer than {MAX_NAME_LEN} bytes"));
    }
    let labels: Vec<&str> = name.split('.').collect();
    for label in &labels {
        if label.is_empty() || label.len() > 63 {
            return Err("each host name label must be 1 to 63 characters".into());
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err("not a valid IP address or host name".into());
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("a host name label may not start or end with `-`".into());
        }
    }
    if labels
        .last()
        .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err("not a valid IP address or host name".into());
    }
    Ok(())
}

fn parse_port(p: &str) -> Result<u16, String> {
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "bad port {:?}",
            p.chars().take(8).collect::<String>()
        ));
    }
    match p.parse::<u16>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("port {p} is not 1 to 65535")),
    }
}

/// Parse a comma-separated list of ports (duplicates dropped, order kept).
pub fn parse_ports(list: &str) -> Result<Vec<u16>, ScanError> {
    if list.len() > MAX_PORTS * 6 {
        return Err(ScanError::TooLarge(format!("more than {MAX_PORTS} ports")));
    }
    let mut out = Vec::new();
    for p in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let n = parse_port(p).map_err(ScanError::BadPorts)?;
        if !out.contains(&n) {
            out.push(n);
        }
    }
    if out.is_empty() {
        return Err(ScanError::BadPorts("no port given".into()));
    }
    if out.len() > MAX_PORTS {
        return Err(ScanError::TooLarge(format!("more than {MAX_PORTS} ports")));
    }
    Ok(out)
}

/// Every address of a block, in order.
fn cidr_addresses(network: IpAddr, prefix: u8) -> impl Iterator<Item = IpAddr> {
    let (base, count, v4) = match network {
        IpAddr::V4(v4) => (
            u128::from(u32::from(v4)),
            1u128 << (32 - u32::from(prefix)),
            true,
        ),
        IpAddr::V6(v6) => (
            u128::from(v6),
            1u128
                .checked_shl(128 - u32::from(prefix))
                .unwrap_or(u128::MAX),
            false,
        ),
    };
    let count = count.min(MAX_ADDRESSES);
    (0..count).map(move |i| {
        let n = base.wrapping_add(i);
        if v4 {
            IpAddr::V4(Ipv4Addr::from(n as u32))
        } else {
            IpAddr::V6(Ipv6Addr::from(n))
        }
    })
}

/// Expand targets into endpoints: CIDR blocks into addresses, names into every address
/// they resolve to (a name that does not resolve gives one endpoint per port carrying the
/// error), each with its own port or every one of `ports`. SNI: `sni` if given, else the
/// name of a name target, else none. Duplicates are dropped; the order is kept.
pub async fn expand(
    targets: &[Target],
    ports: &[u16],
    sni: Option<&str>,
) -> Result<Vec<Endpoint>, ScanError> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut addresses: u128 = 0;
    let mut push = |e: Endpoint, out: &mut Vec<Endpoint>| -> Result<(), ScanError> {
        if seen.insert(e.clone()) {
            if out.len() >= MAX_ENDPOINTS {
                return Err(ScanError::TooLarge(format!(
                    "more than {MAX_ENDPOINTS} address and port pairs"
                )));
            }
            out.push(e);
        }
        Ok(())
    };
    for t in targets {
        let t_ports: Vec<u16> = match t.port {
            Some(p) => vec![p],
            None => ports.to_vec(),
        };
        let (ips, name): (Vec<IpAddr>, Option<&str>) = match &t.host {
            TargetHost::Ip(ip) => (vec![*ip], None),
            TargetHost::Cidr(net, prefix) => (cidr_addresses(*net, *prefix).collect(), None),
            TargetHost::Name(n) => match resolve(n).await {
                Ok(ips) => (ips, Some(n.as_str())),
                Err(e) => {
                    for &port in &t_ports {
                        push(
                            Endpoint {
                                address: n.clone(),
                                ip: None,
                                port,
                                sni: sni.map(str::to_string).or_else(|| Some(n.clone())),
                                error: Some(e.clone()),
                            },
                            &mut out,
                        )?;
                    }
                    continue;
                }
            },
        };
        addresses = addresses.saturating_add(ips.len() as u128);
        if addresses > MAX_ADDRESSES {
            return Err(ScanError::TooLarge(format!(
                "the targets expand to more than {MAX_ADDRESSES} addresses"
            )));
        }
        let endpoint_sni = sni.or(name).map(str::to_string);
        for ip in ips {
            for &port in &t_ports {
                push(
                    Endpoint {
                        address: ip.to_string(),
                        ip: Some(ip),
                        port,
                        sni: endpoint_sni.clone(),
                        error: None,
                    },
                    &mut out,
                )?;
            }
        }
    }
    Ok(out)
}

async fn resolve(name: &str) -> Result<Vec<IpAddr>, String> {
    let lookup = tokio::net::lookup_host((name, 0));
    match tokio::time::timeout(RESOLVE_TIMEOUT, lookup).await {
        Err(_) => Err(format!("resolving {name} timed out")),
        Ok(Err(e)) => Err(format!("cannot resolve {name}: {e}")),
        Ok(Ok(addrs)) => {
            let mut ips = Vec::new();
            for a in addrs {
                if !ips.contains(&a.ip()) {
                    ips.push(a.ip());
                }
            }
            if ips.is_empty() {
                Err(format!("{name} has no address"))
            } else {
                Ok(ips)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(s: &str) -> Target {
        parse_target(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn addresses_and_ports() {
        assert_eq!(
            one("10.1.2.3"),
            Target {
                host: TargetHost::Ip("10.1.2.3".parse().unwrap()),
                port: None
            }
        );
        assert_eq!(one("10.1.2.3:8443").port, Some(8443));
        assert_eq!(
            one("::1").host,
            TargetHost::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST))
        );
        let t = one("[::1]:443");
        assert_eq!(t.host, TargetHost::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST)));
        assert_eq!(t.port, Some(443));
        assert_eq!(one("[2001:db8::1]").port, None);
        assert_eq!(
            one("Example.COM.").host,
            TargetHost::Name("example.com".into())
        );
        let t = one("host:8443");
        assert_eq!(t.host, TargetHost::Name("host".into()));
        assert_eq!(t.port, Some(8443));
    }

    #[test]
    fn cidr_sizes() {
        assert_eq!(one("10.0.0.0/24").address_count(), 256);
        assert_eq!(
            one("10.0.0.7/30").host,
            TargetHost::Cidr("10.0.0.4".parse().unwrap(), 30)
        );
        assert_eq!(one("10.0.0.0/32").address_count(), 1);
        assert_eq!(one("10.0.0.0/16").address_count(), 65_536);
        assert_eq!(one("10.0.0.0/24:8443").port, Some(8443));
        assert_eq!(one("2001:db8::/120").address_count(), 256);
        assert_eq!(one("[2001:db8::/126]:443").address_count(), 4);
        assert_eq!(one("::/0").address_count(), u128::MAX);
        let all: Vec<IpAddr> = cidr_addresses("127.0.0.0".parse().unwrap(), 30).collect();
        assert_eq!(all.len(), 4);
        assert_eq!(all[3], "127.0.0.3".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn the_cap() {
        assert!(parse_targets("10.0.0.0/16").is_ok());
        let e = parse_targets("10.0.0.0/15").unwrap_err().to_string();
        assert!(e.contains("65536"), "{e}");
        assert!(parse_targets("10.0.0.0/16,10.1.0.0/32").is_err());
        assert!(parse_targets("2001:db8::/64").is_err());
        assert!(parse_targets("::/0").is_err());
        assert!(parse_targets("0.0.0.0/0").is_err());
        let long = "a,".repeat(MAX_TARGETS + 1);
        assert!(parse_targets(&long).is_err());
        assert!(parse_targets(&"x".repeat(MAX_TARGETS_LEN + 1)).is_err());
    }

    #[test]
    fn bad_inputs_name_the_target() {
        for s in [
            "300.1.1.1",
            "1.2.3",
            "10.0.0.0/33",
            "10.0.0.0/",
            "10.0.0.0/-1",
            "::1/129",
            "[::1",
            "[::1]x",
            "[::1]:",
            "[::1]:0",
            "[::1]:65536",
            "[10.0.0.1]:443",
            "2001:db8::1:443:x",
            "host:",
            "host:99999",
            "host:abc",
            "ho st",
            "-host",
            "host-.example",
            "a..b",
            "exa$mple.com",
            "10.0.0.1/24/3",
            "żółw.example",
        ] {
            let e = parse_target(s).expect_err(s).to_string();
            assert!(e.contains(s), "{s}: {e}");
        }
        let e = parse_target(&format!("{}.com", "a".repeat(300)))
            .expect_err("too long")
            .to_string();
        assert!(e.contains("longer than"), "{e}");
        assert!(parse_target(&format!("{}.com", "a".repeat(64))).is_err());
        assert!(parse_targets("").is_err());
        assert!(parse_targets(" , ").is_err());
    }

    #[test]
    fn ports() {
        assert_eq!(parse_ports("443, 8443,443").unwrap(), vec![443, 8443]);
        for s in ["", "0", "65536", "x", "443,-1", "1e3"] {
            assert!(parse_ports(s).is_err(), "{s}");
        }
    }

    #[test]
    fn random_inputs_never_panic() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let alphabet = b"0123456789abcdef.:/[],-x ";
        for _ in 0..20_000 {
            let len = (x % 40) as usize;
            let mut s = String::new();
            for _ in 0..len {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                s.push(alphabet[(x % alphabet.len() as u64) as usize] as char);
            }
            let _ = parse_targets(&s);
            let _ = parse_ports(&s);
        }
    }

    #[tokio::test]
    async fn expansion() {
        let t = parse_targets("127.0.0.0/30,127.0.0.1:8443,[::1]:443,127.0.0.1").unwrap();
        let e = expand(&t, &[443, 8443], None).await.unwrap();
        // 4 addresses × 2 ports, plus [::1]:443; the rest are duplicates.
        assert_eq!(e.len(), 9);
        assert!(e.iter().all(|e| e.sni.is_none() && e.error.is_none()));
        let t = parse_targets("localhost:1").unwrap();
        let e = expand(&t, &[443], Some("override.example")).await.unwrap();
        assert!(!e.is_empty());
        assert!(
            e.iter()
                .all(|e| e.port == 1 && e.sni.as_deref() == Some("override.example"))
        );
        let t = parse_targets("no-such-host.invalid").unwrap();
        let e = expand(&t, &[443], None).await.unwrap();
        assert_eq!(e.len(), 1);
        assert!(e[0].ip.is_none() && e[0].error.is_some());
    }
}
