//! Our DNS client: questions to ONE configured recursive resolver, over UDP with a TCP
//! retry on truncation, with hickory-proto for the wire format only.
//!
//! The OS resolver is never used: the profile names the resolver (tests point it at
//! pebble-challtestsrv). Answers are checked (transaction id, source, question echoed),
//! CNAME chains inside the answer are followed (at most 8 links), and at most
//! [`MAX_DNS_RECORDS`] records of the asked type are returned. A message is at most
//! 64 KiB by its framing, so nothing a server sends can make us allocate more.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::Instant;

use super::MAX_DNS_RECORDS;
use super::caa::CaaProperty;

/// Largest UDP answer we advertise (EDNS0) and read; DNS flag day 2020 value.
const UDP_PAYLOAD: u16 = 1232;
/// Interval between UDP retransmissions of the same question.
const UDP_RETRANSMIT: Duration = Duration::from_millis(1000);
/// Longest CNAME chain followed inside one answer.
const MAX_CNAME_CHAIN: usize = 8;

/// Why a lookup failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsError {
    /// The name does not exist (RCODE 3).
    NxDomain,
    /// The resolver failed (RCODE 2).
    ServFail,
    /// Another error RCODE (REFUSED, FORMERR, NOTIMP…).
    Rcode(String),
    /// No answer within the timeout.
    Timeout,
    /// The answer could not be parsed or did not answer our question.
    Malformed(String),
    /// A socket error.
    Io(String),
    /// The name is not a valid DNS name.
    BadName(String),
}

impl fmt::Display for DnsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DnsError::NxDomain => f.write_str("NXDOMAIN (the name does not exist)"),
            DnsError::ServFail => f.write_str("SERVFAIL from the resolver"),
            DnsError::Rcode(r) => write!(f, "the resolver answered {r}"),
            DnsError::Timeout => f.write_str("the resolver did not answer in time"),
            DnsError::Malformed(m) => write!(f, "malformed DNS answer: {m}"),
            DnsError::Io(m) => write!(f, "DNS transport error: {m}"),
            DnsError::BadName(m) => write!(f, "invalid DNS name: {m}"),
        }
    }
}

/// A client of one recursive resolver.
#[derive(Debug, Clone)]
pub struct Resolver {
    server: SocketAddr,
    timeout: Duration,
}

impl Resolver {
    /// A client asking `server`, each question bounded by `timeout`.
    pub fn new(server: SocketAddr, timeout: Duration) -> Resolver {
        Resolver { server, timeout }
    }

    /// The resolver's address.
    pub fn server(&self) -> SocketAddr {
        self.server
    }

    /// A and AAAA records of `name` (asked concurrently). One of the two failing is
    /// tolerated when the other answers; NXDOMAIN or both failing is an error.
    pub async fn lookup_ip(&self, name: &str) -> Result<Vec<IpAddr>, DnsError> {
        let (a, aaaa) = tokio::join!(
            self.lookup(name, RecordType::A),
            self.lookup(name, RecordType::AAAA)
        );
        let mut out = Vec::new();
        match (a, aaaa) {
            (Err(e), Err(_)) => return Err(e),
            (Err(DnsError::NxDomain), _) | (_, Err(DnsError::NxDomain)) => {
                return Err(DnsError::NxDomain);
            }
            (a, aaaa) => {
                for rdata in a.into_iter().chain(aaaa).flatten() {
                    match rdata {
                        RData::A(a) => out.push(IpAddr::V4(a.0)),
                        RData::AAAA(a) => out.push(IpAddr::V6(a.0)),
                        _ => {}
                    }
                }
            }
        }
        out.truncate(MAX_DNS_RECORDS);
        Ok(out)
    }

    /// TXT records of `name`, each the concatenation of its character-strings.
    pub async fn lookup_txt(&self, name: &str) -> Result<Vec<Vec<u8>>, DnsError> {
        Ok(self
            .lookup(name, RecordType::TXT)
            .await?
            .into_iter()
            .filter_map(|r| match r {
                RData::TXT(t) => Some(t.txt_data.iter().flat_map(|s| s.iter().copied()).collect()),
                _ => None,
            })
            .collect())
    }

    /// CAA records of `name`. NXDOMAIN is an error here; the CAA climb treats it as empty.
    pub async fn lookup_caa(&self, name: &str) -> Result<Vec<CaaProperty>, DnsError> {
        Ok(self
            .lookup(name, RecordType::CAA)
            .await?
            .into_iter()
            .filter_map(|r| match r {
                RData::CAA(c) => Some(CaaProperty {
                    flags: c.flags(),
                    tag: c.tag.clone(),
                    value: c.value.clone(),
                }),
                _ => None,
            })
            .collect())
    }

    /// Records of `rtype` at `name`, following CNAMEs inside the answer.
    pub async fn lookup(&self, name: &str, rtype: RecordType) -> Result<Vec<RData>, DnsError> {
        let qname = fqdn(name)?;
        let response = self.exchange(&qname, rtype).await?;
        match response.metadata.response_code {
            ResponseCode::NoError => {}
            ResponseCode::NXDomain => return Err(DnsError::NxDomain),
            ResponseCode::ServFail => return Err(DnsError::ServFail),
            other => return Err(DnsError::Rcode(other.to_string())),
        }
        Ok(records_for(&response, &qname, rtype))
    }

    /// Sends one question and returns the matching answer (UDP, then TCP if truncated).
    async fn exchange(&self, qname: &Name, rtype: RecordType) -> Result<Message, DnsError> {
        let deadline = Instant::now() + self.timeout;
        let (id, packet) = query_packet(qname, rtype)?;
        let response = tokio::time::timeout_at(deadline, self.udp(&packet, id, qname, rtype))
            .await
            .map_err(|_| DnsError::Timeout)??;
        if !response.metadata.truncation {
            return Ok(response);
        }
        tokio::time::timeout_at(deadline, self.tcp(&packet, id, qname, rtype))
            .await
            .map_err(|_| DnsError::Timeout)?
    }

    async fn udp(
        &self,
        packet: &[u8],
        id: u16,
        qname: &Name,
        rtype: RecordType,
    ) -> Result<Message, DnsError> {
        let bind = if self.server.is_ipv4() {
            SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))
        } else {
            SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0))
        };
        let sock = UdpSocket::bind(bind).await.map_err(io)?;
        // connect() makes the kernel drop datagrams from any other source.
        sock.connect(self.server).await.map_err(io)?;
        let mut buf = vec![0u8; usize::from(UDP_PAYLOAD).max(512) + 1];
        loop {
            sock.send(packet).await.map_err(io)?;
            let resend_at = Instant::now() + UDP_RETRANSMIT;
            loop {
                let n = match tokio::time::timeout_at(resend_at, sock.recv(&mut buf)).await {
                    Err(_) => break, // retransmit
                    Ok(Err(e)) => {
                        // ICMP port unreachable shows up here on a connected socket.
                        return Err(io(e));
                    }
                    Ok(Ok(n)) => n,
                };
                let Ok(msg) = Message::from_vec(&buf[..n]) else {
                    continue; // garbage: keep waiting for the real answer
                };
                if answers(&msg, id, qname, rtype) {
                    return Ok(msg);
                }
            }
        }
    }

    async fn tcp(
        &self,
        packet: &[u8],
        id: u16,
        qname: &Name,
        rtype: RecordType,
    ) -> Result<Message, DnsError> {
        let mut stream = TcpStream::connect(self.server).await.map_err(io)?;
        let len = u16::try_from(packet.len())
            .map_err(|_| DnsError::Malformed("question too long".into()))?;
        let mut framed = Vec::with_capacity(packet.len() + 2);
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(packet);
        stream.write_all(&framed).await.map_err(io)?;
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).await.map_err(io)?;
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut buf).await.map_err(io)?;
        let msg = Message::from_vec(&buf).map_err(|e| DnsError::Malformed(e.to_string()))?;
        if !answers(&msg, id, qname, rtype) {
            return Err(DnsError::Malformed(
                "the TCP answer does not match the question".into(),
            ));
        }
        Ok(msg)
    }
}

fn io(e: std::io::Error) -> DnsError {
    DnsError::Io(e.to_string())
}

/// `name` as an absolute DNS name (a trailing dot is accepted).
pub(crate) fn fqdn(name: &str) -> Result<Name, DnsError> {
    if name.is_empty() || name.len() > 254 {
        return Err(DnsError::BadName(format!("{} bytes", name.len())));
    }
    let mut n = Name::from_ascii(name).map_err(|e| DnsError::BadName(e.to_string()))?;
    n.set_fqdn(true);
    Ok(n)
}

/// A recursive query for `qname`/`rtype` with EDNS0, and its random id.
fn query_packet(qname: &Name, rtype: RecordType) -> Result<(u16, Vec<u8>), DnsError> {
    let mut id = [0u8; 2];
    aws_lc_rs::rand::fill(&mut id).map_err(|_| DnsError::Io("no randomness".into()))?;
    let id = u16::from_be_bytes(id);
    let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(qname.clone(), rtype));
    let mut edns = Edns::new();
    edns.set_max_payload(UDP_PAYLOAD);
    msg.set_edns(edns);
    let packet = msg.to_vec().map_err(|e| DnsError::BadName(e.to_string()))?;
    Ok((id, packet))
}

/// True if `msg` is the response to our question.
fn answers(msg: &Message, id: u16, qname: &Name, rtype: RecordType) -> bool {
    msg.metadata.id == id
        && msg.metadata.message_type == MessageType::Response
        && msg.queries.len() == 1
        && msg.queries[0].name() == qname
        && msg.queries[0].query_type() == rtype
}

/// The records of `rtype` in the answer section owned by `qname` or by a name its CNAME
/// chain (inside the answer) leads to; at most [`MAX_DNS_RECORDS`].
fn records_for(msg: &Message, qname: &Name, rtype: RecordType) -> Vec<RData> {
    let mut owners = vec![qname.clone()];
    for _ in 0..MAX_CNAME_CHAIN {
        let Some(current) = owners.last() else { break };
        let next = msg.answers.iter().find_map(|r| match &r.data {
            RData::CNAME(c) if &r.name == current && rtype != RecordType::CNAME => {
                Some(c.0.clone())
            }
            _ => None,
        });
        match next {
            Some(n) if !owners.contains(&n) => owners.push(n),
            _ => break,
        }
    }
    msg.answers
        .iter()
        .filter(|r| r.record_type() == rtype && owners.contains(&r.name))
        .take(MAX_DNS_RECORDS)
        .map(|r| r.data.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::Record;
    use hickory_proto::rr::rdata::{A, CNAME, TXT};

    fn n(s: &str) -> Name {
        fqdn(s).unwrap()
    }

    #[test]
    fn cname_chains_are_followed_inside_the_answer() {
        let mut msg = Message::new(7, MessageType::Response, OpCode::Query);
        msg.add_query(Query::query(n("a.example"), RecordType::A));
        msg.add_answer(Record::from_rdata(
            n("a.example"),
            60,
            RData::CNAME(CNAME(n("b.example"))),
        ));
        msg.add_answer(Record::from_rdata(
            n("b.example"),
            60,
            RData::A(A::new(192, 0, 2, 1)),
        ));
        // Not on the chain: ignored.
        msg.add_answer(Record::from_rdata(
            n("c.example"),
            60,
            RData::A(A::new(192, 0, 2, 2)),
        ));
        let got = records_for(&msg, &n("a.example"), RecordType::A);
        assert_eq!(got, vec![RData::A(A::new(192, 0, 2, 1))]);
        assert!(answers(&msg, 7, &n("A.EXAMPLE"), RecordType::A));
        assert!(!answers(&msg, 8, &n("a.example"), RecordType::A));
        assert!(!answers(&msg, 7, &n("a.example"), RecordType::AAAA));
    }

    #[test]
    fn cname_loops_end() {
        let mut msg = Message::new(7, MessageType::Response, OpCode::Query);
        msg.add_answer(Record::from_rdata(
            n("a.example"),
            60,
            RData::CNAME(CNAME(n("b.example"))),
        ));
        msg.add_answer(Record::from_rdata(
            n("b.example"),
            60,
            RData::CNAME(CNAME(n("a.example"))),
        ));
        assert!(records_for(&msg, &n("a.example"), RecordType::TXT).is_empty());
    }

    #[test]
    fn answers_are_capped() {
        let mut msg = Message::new(7, MessageType::Response, OpCode::Query);
        for i in 0..300 {
            msg.add_answer(Record::from_rdata(
                n("t.example"),
                60,
                RData::TXT(TXT::new(vec![format!("v{i}")])),
            ));
        }
        assert_eq!(
            records_for(&msg, &n("t.example"), RecordType::TXT).len(),
            MAX_DNS_RECORDS
        );
    }

    #[test]
    fn bad_names_and_garbage_do_not_panic() {
        assert!(fqdn("").is_err());
        assert!(fqdn(&"a".repeat(300)).is_err());
        assert!(fqdn(&format!("{}.example", "a".repeat(64))).is_err());
        for len in 0..64 {
            let junk: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let _ = Message::from_vec(&junk);
        }
        let (_, packet) = query_packet(&n("x.example"), RecordType::CAA).unwrap();
        for cut in 0..packet.len() {
            let _ = Message::from_vec(&packet[..cut]);
        }
    }

    #[tokio::test]
    async fn silent_resolver_times_out() {
        // A UDP socket that never answers.
        let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let r = Resolver::new(silent.local_addr().unwrap(), Duration::from_millis(300));
        let t0 = std::time::Instant::now();
        assert_eq!(
            r.lookup("x.example", RecordType::A).await,
            Err(DnsError::Timeout)
        );
        assert!(t0.elapsed() < Duration::from_secs(2));
    }
}
