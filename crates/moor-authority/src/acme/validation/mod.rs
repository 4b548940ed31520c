//! The ACME validation authority (VA): proves control of an identifier (RFC 8555 §8) and
//! checks CAA (RFC 8659, RFC 8657) before issuance.
//!
//! The ACME handlers call a [`Validator`] with the identifier, the challenge token and the
//! expected key authorization; it answers with a [`Validation`]: an [`Outcome`] (`Valid` or
//! `Invalid` with a [`Problem`]) and the [`ValidationRecord`]s of what it contacted, for the
//! challenge object and the audit log. Nothing here touches the store.
//!
//! Safety (refuse.md B3, RFC 8555 §10): names are resolved through the ONE configured
//! resolver ([`ValidationConfig::dns_resolver`]), never the OS; every address is classified
//! ([`classify`]) and reserved ranges are refused (private and loopback ones unless the
//! profile allows them); the validator connects to exactly the address it checked, so a
//! second resolution (DNS rebinding) cannot redirect it; every read is bounded and every
//! step has a timeout. No peer input can make it panic.
//!
//! Layout: `address` (classification), `resolver` (our DNS client over hickory-proto's
//! wire format), `http01` (with the redirect policy), `dns01`, `tls_alpn01`, `caa`.

mod address;
mod caa;
mod dns01;
mod http01;
mod resolver;
mod tls_alpn01;

#[cfg(test)]
mod challtestsrv;
#[cfg(test)]
mod live_tests;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use moor_core::identifier::Identifier;

pub use address::{AddressClass, classify};
pub use caa::{CaaDecision, CaaProperty, IssueValue, evaluate_caa, parse_issue_value};
pub use http01::{RedirectTarget, check_redirect};
pub use resolver::{DnsError, Resolver};

/// Largest http-01 response body read (bytes); a longer body is `incorrectResponse`.
pub const MAX_HTTP01_BODY: usize = 1024;
/// Most redirects an http-01 validation follows (RFC 8555 §8.3 leaves it to the server;
/// Boulder follows 10).
pub const MAX_REDIRECTS: usize = 10;
/// Most records of one type the resolver returns from one answer.
pub const MAX_DNS_RECORDS: usize = 100;

/// Per-step time limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// One DNS question (UDP retransmissions and a TCP retry included).
    pub dns: Duration,
    /// One TCP connection attempt.
    pub connect: Duration,
    /// A whole validation: every lookup, connection, redirect and read.
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            dns: Duration::from_secs(5),
            connect: Duration::from_secs(5),
            total: Duration::from_secs(10),
        }
    }
}

/// How and where the VA validates; one per ACME profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationConfig {
    /// Port of http-01 requests (RFC 8555: 80; tests point it at a loopback responder).
    pub http01_port: u16,
    /// Port of tls-alpn-01 handshakes (RFC 8737: 443). Also the one HTTPS port besides
    /// 443 that an http-01 redirect may name.
    pub tlsalpn01_port: u16,
    /// The recursive resolver every name is looked up through (A, AAAA, TXT, CAA).
    pub dns_resolver: SocketAddr,
    /// Whether validation may connect to private addresses (RFC 1918, RFC 6598 shared
    /// space, IPv6 ULA): internal machine identities live there; the public-TLS profile
    /// refuses them.
    pub allow_private_addresses: bool,
    /// Whether validation may connect to loopback addresses (127/8, ::1): the CA's own
    /// host. Only for tests and single-host development; off by default.
    pub allow_loopback: bool,
    /// The domains that identify this CA in CAA `issue`/`issuewild` records
    /// (`meta.caaIdentities` of the directory), e.g. `mooring.example`.
    pub caa_identities: Vec<String>,
    /// Time limits.
    pub timeouts: Timeouts,
}

impl Default for ValidationConfig {
    fn default() -> Self {
        ValidationConfig {
            http01_port: 80,
            tlsalpn01_port: 443,
            dns_resolver: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 53),
            allow_private_addresses: false,
            allow_loopback: false,
            caa_identities: Vec::new(),
            timeouts: Timeouts::default(),
        }
    }
}

impl ValidationConfig {
    /// Whether the policy lets the VA connect to `ip` (after classifying it).
    pub fn address_allowed(&self, ip: IpAddr) -> bool {
        match classify(ip) {
            AddressClass::Public => true,
            AddressClass::Private => self.allow_private_addresses,
            AddressClass::Loopback => self.allow_loopback,
            AddressClass::Reserved(_) => false,
        }
    }
}

/// The challenge types the VA performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChallengeType {
    /// `http-01` (RFC 8555 §8.3).
    Http01,
    /// `dns-01` (RFC 8555 §8.4).
    Dns01,
    /// `tls-alpn-01` (RFC 8737).
    TlsAlpn01,
}

impl ChallengeType {
    /// The ACME spelling: `http-01`, `dns-01`, `tls-alpn-01` (also the CAA
    /// `validationmethods` label, RFC 8657 §4).
    pub fn as_str(self) -> &'static str {
        match self {
            ChallengeType::Http01 => "http-01",
            ChallengeType::Dns01 => "dns-01",
            ChallengeType::TlsAlpn01 => "tls-alpn-01",
        }
    }

    /// Parses the ACME spelling.
    pub fn parse(s: &str) -> Option<ChallengeType> {
        match s {
            "http-01" => Some(ChallengeType::Http01),
            "dns-01" => Some(ChallengeType::Dns01),
            "tls-alpn-01" => Some(ChallengeType::TlsAlpn01),
            _ => None,
        }
    }

    /// The challenge types offered for an identifier: only dns-01 for a wildcard
    /// (RFC 8555 §7.1.3), http-01 and tls-alpn-01 for an IP address (RFC 8738 §7), all
    /// three for other DNS names, none for other kinds.
    pub fn offered_for(identifier: &Identifier) -> &'static [ChallengeType] {
        match identifier {
            Identifier::Dns(_) if identifier.is_wildcard() => &[ChallengeType::Dns01],
            Identifier::Dns(_) => &[
                ChallengeType::Http01,
                ChallengeType::Dns01,
                ChallengeType::TlsAlpn01,
            ],
            Identifier::Ip(_) => &[ChallengeType::Http01, ChallengeType::TlsAlpn01],
            _ => &[],
        }
    }
}

impl fmt::Display for ChallengeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The ACME problem types a validation can end with (RFC 8555 §6.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProblemKind {
    /// Could not connect, a redirect was refused, a timeout, a forbidden address.
    Connection,
    /// A DNS lookup failed (NXDOMAIN, SERVFAIL, timeout, malformed answer).
    Dns,
    /// The TLS handshake failed or did not negotiate `acme-tls/1`.
    Tls,
    /// The response did not match the challenge (key authorization, certificate).
    IncorrectResponse,
    /// The server answered without the proof (HTTP status other than 200, no TXT record).
    Unauthorized,
    /// CAA forbids issuance.
    Caa,
    /// The challenge does not apply to this identifier.
    RejectedIdentifier,
    /// The request to the VA itself was malformed (e.g. a token outside base64url).
    Malformed,
}

impl ProblemKind {
    /// The problem type URN, `urn:ietf:params:acme:error:…`.
    pub fn urn(self) -> &'static str {
        match self {
            ProblemKind::Connection => "urn:ietf:params:acme:error:connection",
            ProblemKind::Dns => "urn:ietf:params:acme:error:dns",
            ProblemKind::Tls => "urn:ietf:params:acme:error:tls",
            ProblemKind::IncorrectResponse => "urn:ietf:params:acme:error:incorrectResponse",
            ProblemKind::Unauthorized => "urn:ietf:params:acme:error:unauthorized",
            ProblemKind::Caa => "urn:ietf:params:acme:error:caa",
            ProblemKind::RejectedIdentifier => "urn:ietf:params:acme:error:rejectedIdentifier",
            ProblemKind::Malformed => "urn:ietf:params:acme:error:malformed",
        }
    }
}

/// Why a validation failed: the problem type and a human-readable detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The ACME problem type.
    pub kind: ProblemKind,
    /// What happened, for the client (never the body of a foreign response).
    pub detail: String,
}

impl Problem {
    /// A problem of `kind` with `detail`.
    pub fn new(kind: ProblemKind, detail: impl Into<String>) -> Problem {
        Problem {
            kind,
            detail: detail.into(),
        }
    }

    /// The problem type URN.
    pub fn urn(&self) -> &'static str {
        self.kind.urn()
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.urn(), self.detail)
    }
}

/// The result of one validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Control of the identifier was proved.
    Valid,
    /// It was not.
    Invalid(Problem),
}

impl Outcome {
    /// True for [`Outcome::Valid`].
    pub fn is_valid(&self) -> bool {
        matches!(self, Outcome::Valid)
    }

    /// The problem of an invalid outcome.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            Outcome::Valid => None,
            Outcome::Invalid(p) => Some(p),
        }
    }
}

/// What the VA contacted in one step (RFC 8555 §8.3 leaves the `validationRecord` shape
/// to the server; this is Boulder's): one per http-01 request (redirects add more), one
/// per tls-alpn-01 handshake, one per DNS question for dns-01.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ValidationRecord {
    /// The URL requested (http-01) or `None`.
    pub url: Option<String>,
    /// The host name (or IP literal) contacted or looked up.
    pub hostname: String,
    /// The port connected to (none for dns-01).
    pub port: Option<u16>,
    /// Every address the name resolved to, allowed or not.
    pub addresses_resolved: Vec<IpAddr>,
    /// The address actually connected to.
    pub address_used: Option<IpAddr>,
}

/// A validation's outcome and its records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validation {
    /// Valid or invalid with a problem.
    pub outcome: Outcome,
    /// What was contacted, in order.
    pub records: Vec<ValidationRecord>,
}

impl Validation {
    fn invalid(problem: Problem, records: Vec<ValidationRecord>) -> Validation {
        Validation {
            outcome: Outcome::Invalid(problem),
            records,
        }
    }
}

/// SHA-256 of a key authorization (tls-alpn-01's acmeIdentifier, dns-01's TXT digest).
pub fn key_authorization_digest(key_authorization: &str) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key_authorization.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// The dns-01 TXT value: base64url (no padding) of SHA-256(keyAuthorization) (RFC 8555 §8.4).
pub fn dns01_txt_value(key_authorization: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(key_authorization_digest(key_authorization))
}

/// True if `token` is a plausible ACME token: 1 to 256 base64url characters (RFC 8555
/// §8.1). Anything else never reaches a URL path or a log line.
pub fn token_is_well_formed(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= 256
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The validation authority: one per profile configuration, shared by all handlers.
#[derive(Clone)]
pub struct Validator {
    config: Arc<ValidationConfig>,
    resolver: Resolver,
    /// TLS client for tls-alpn-01 (ALPN `acme-tls/1`, any certificate, checked afterwards).
    alpn_tls: Arc<rustls::ClientConfig>,
    /// TLS client for http-01 redirects to https (ALPN `http/1.1`, certificate not checked:
    /// RFC 8555 §8.3 proves control by the body, as Boulder does).
    https_tls: Arc<rustls::ClientConfig>,
}

impl fmt::Debug for Validator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Validator")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Validator {
    /// A validator for `config`.
    pub fn new(config: ValidationConfig) -> Result<Validator, rustls::Error> {
        let resolver = Resolver::new(config.dns_resolver, config.timeouts.dns);
        Ok(Validator {
            alpn_tls: tls_alpn01::client_config(vec![tls_alpn01::ACME_TLS_ALPN.to_vec()])?,
            https_tls: tls_alpn01::client_config(vec![b"http/1.1".to_vec()])?,
            config: Arc::new(config),
            resolver,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ValidationConfig {
        &self.config
    }

    /// The resolver every lookup goes through.
    pub fn resolver(&self) -> &Resolver {
        &self.resolver
    }

    /// Validates one challenge. `key_authorization` is `token || '.' || thumbprint`
    /// (RFC 8555 §8.1), computed by the caller. The whole validation is bounded by
    /// [`Timeouts::total`].
    pub async fn validate(
        &self,
        challenge: ChallengeType,
        identifier: &Identifier,
        token: &str,
        key_authorization: &str,
    ) -> Validation {
        if !ChallengeType::offered_for(identifier).contains(&challenge) {
            return Validation::invalid(
                Problem::new(
                    ProblemKind::RejectedIdentifier,
                    format!("{challenge} cannot validate {identifier}"),
                ),
                Vec::new(),
            );
        }
        if !token_is_well_formed(token) {
            return Validation::invalid(
                Problem::new(
                    ProblemKind::Malformed,
                    "the challenge token is not 1 to 256 base64url characters",
                ),
                Vec::new(),
            );
        }
        let work = async {
            match challenge {
                ChallengeType::Http01 => {
                    http01::validate(self, identifier, token, key_authorization).await
                }
                ChallengeType::Dns01 => dns01::validate(self, identifier, key_authorization).await,
                ChallengeType::TlsAlpn01 => {
                    tls_alpn01::validate(self, identifier, key_authorization).await
                }
            }
        };
        match tokio::time::timeout(self.config.timeouts.total, work).await {
            Ok(v) => v,
            Err(_) => Validation::invalid(
                Problem::new(
                    ProblemKind::Connection,
                    format!(
                        "{challenge} validation of {identifier} timed out after {} ms",
                        self.config.timeouts.total.as_millis()
                    ),
                ),
                Vec::new(),
            ),
        }
    }

    /// Checks CAA for `identifier` (RFC 8659 tree climbing; `issuewild` for a wildcard;
    /// `accounturi` and `validationmethods` of RFC 8657). Fails closed: a DNS error forbids.
    /// IP identifiers have no CAA (RFC 8738 §7) and are permitted.
    pub async fn check_caa(
        &self,
        identifier: &Identifier,
        account_uri: &str,
        method: ChallengeType,
    ) -> CaaDecision {
        let work = caa::check(self, identifier, account_uri, method);
        match tokio::time::timeout(self.config.timeouts.total, work).await {
            Ok(d) => d,
            Err(_) => CaaDecision::forbidden(
                None,
                format!(
                    "CAA lookup for {identifier} timed out after {} ms",
                    self.config.timeouts.total.as_millis()
                ),
            ),
        }
    }

    /// Resolves `host` (a DNS name) through our resolver, or takes an IP literal as is,
    /// and keeps only the addresses the policy allows. Fills `record.addresses_resolved`.
    async fn allowed_addresses(
        &self,
        host: &Host,
        record: &mut ValidationRecord,
    ) -> Result<Vec<IpAddr>, Problem> {
        let all = match host {
            Host::Ip(ip) => vec![canonical_ip(*ip)],
            Host::Dns(name) => {
                let mut ips: Vec<IpAddr> = self
                    .resolver
                    .lookup_ip(name)
                    .await
                    .map_err(|e| {
                        Problem::new(
                            ProblemKind::Dns,
                            format!("looking up addresses of {name}: {e}"),
                        )
                    })?
                    .into_iter()
                    .map(canonical_ip)
                    .collect();
                ips.dedup();
                ips
            }
        };
        record.addresses_resolved = all.clone();
        if all.is_empty() {
            return Err(Problem::new(
                ProblemKind::Dns,
                format!("{host} has no A or AAAA record"),
            ));
        }
        let allowed: Vec<IpAddr> = all
            .iter()
            .copied()
            .filter(|ip| self.config.address_allowed(*ip))
            .collect();
        if allowed.is_empty() {
            let shown: Vec<String> = all
                .iter()
                .take(4)
                .map(|ip| format!("{ip} ({})", classify(*ip)))
                .collect();
            return Err(Problem::new(
                ProblemKind::Connection,
                format!(
                    "{host} resolves only to addresses validation may not connect to: {}",
                    shown.join(", ")
                ),
            ));
        }
        Ok(allowed)
    }
}

/// A host to contact: a DNS name (lower case, no trailing dot) or an IP address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// A DNS name, looked up through the configured resolver.
    Dns(String),
    /// An IP address (IPv4-mapped IPv6 addresses are stored as IPv4).
    Ip(IpAddr),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Dns(n) => f.write_str(n),
            Host::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it reaches; others unchanged.
pub(crate) fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        v4 => v4,
    }
}

/// The order in which to try addresses: the first IPv6, then the first IPv4 (as Boulder
/// does); at most two connection attempts per host.
pub(crate) fn attempt_order(allowed: &[IpAddr]) -> Vec<IpAddr> {
    let mut out = Vec::with_capacity(2);
    if let Some(v6) = allowed.iter().find(|ip| ip.is_ipv6()) {
        out.push(*v6);
    }
    if let Some(v4) = allowed.iter().find(|ip| ip.is_ipv4()) {
        out.push(*v4);
    }
    out
}

/// Connects to the first address of `order` that answers on `port`, each attempt bounded
/// by the connect timeout. Returns the stream and the address used.
pub(crate) async fn connect_first(
    order: &[IpAddr],
    port: u16,
    timeout: Duration,
) -> Result<(tokio::net::TcpStream, IpAddr), Problem> {
    let mut last = String::from("no address to connect to");
    for ip in order {
        let addr = SocketAddr::new(*ip, port);
        match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(s)) => {
                let _ = s.set_nodelay(true);
                return Ok((s, *ip));
            }
            Ok(Err(e)) => last = format!("connecting to {addr}: {e}"),
            Err(_) => {
                last = format!(
                    "connecting to {addr}: timed out after {} ms",
                    timeout.as_millis()
                )
            }
        }
    }
    Err(Problem::new(ProblemKind::Connection, last))
}

/// Text from a peer made safe for a problem detail: printable ASCII, at most `max` chars.
pub(crate) fn shown(bytes: &[u8], max: usize) -> String {
    let mut s: String = bytes
        .iter()
        .take(max)
        .map(|&b| {
            if (0x20..0x7f).contains(&b) {
                b as char
            } else {
                '?'
            }
        })
        .collect();
    if bytes.len() > max {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_urns() {
        assert_eq!(
            ProblemKind::IncorrectResponse.urn(),
            "urn:ietf:params:acme:error:incorrectResponse"
        );
        assert_eq!(
            ProblemKind::RejectedIdentifier.urn(),
            "urn:ietf:params:acme:error:rejectedIdentifier"
        );
        assert_eq!(ProblemKind::Caa.urn(), "urn:ietf:params:acme:error:caa");
    }

    #[test]
    fn challenge_types_offered() {
        let wild = Identifier::Dns("*.example.com".into());
        assert_eq!(ChallengeType::offered_for(&wild), &[ChallengeType::Dns01]);
        let ip = Identifier::Ip("192.0.2.1".parse().unwrap());
        assert!(!ChallengeType::offered_for(&ip).contains(&ChallengeType::Dns01));
        assert!(ChallengeType::offered_for(&Identifier::Email("a@b.example".into())).is_empty());
        for t in [
            ChallengeType::Http01,
            ChallengeType::Dns01,
            ChallengeType::TlsAlpn01,
        ] {
            assert_eq!(ChallengeType::parse(t.as_str()), Some(t));
        }
    }

    #[test]
    fn dns01_digest_matches_rfc8555_example_shape() {
        // base64url without padding of a 32-byte digest is 43 characters.
        let v = dns01_txt_value("token.thumbprint");
        assert_eq!(v.len(), 43);
        assert!(!v.contains('=') && !v.contains('+') && !v.contains('/'));
    }

    #[test]
    fn tokens() {
        assert!(token_is_well_formed(
            "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"
        ));
        assert!(!token_is_well_formed(""));
        assert!(!token_is_well_formed("../../etc/passwd"));
        assert!(!token_is_well_formed("a b"));
        assert!(!token_is_well_formed(&"a".repeat(257)));
    }

    #[test]
    fn mapped_addresses_are_canonicalised_and_ordered() {
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(canonical_ip(mapped), "10.0.0.1".parse::<IpAddr>().unwrap());
        let order = attempt_order(&[
            "192.0.2.1".parse().unwrap(),
            "2001:db8::1".parse().unwrap(),
            "192.0.2.2".parse().unwrap(),
        ]);
        assert_eq!(
            order,
            vec![
                "2001:db8::1".parse::<IpAddr>().unwrap(),
                "192.0.2.1".parse().unwrap()
            ]
        );
    }

    #[test]
    fn shown_is_printable_and_bounded() {
        assert_eq!(shown(b"ab\x00\xffc", 10), "ab??c");
        assert_eq!(shown(b"abcdef", 3), "abc…");
    }
}
