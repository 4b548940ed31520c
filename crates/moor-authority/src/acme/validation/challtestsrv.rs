//! Test harness: a real `pebble-challtestsrv` (Debian package `pebble`) on free loopback
//! ports, as the DNS resolver and the http-01 / tls-alpn-01 responders of the VA under test.
//! Records are set through its management API with plain HTTP/1.1 over a TcpStream.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use hickory_proto::rr::RecordType;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Resolver, Timeouts, ValidationConfig};

/// One running pebble-challtestsrv; killed when dropped.
pub(super) struct ChallTestSrv {
    child: Child,
    pub dns: SocketAddr,
    pub http01: u16,
    pub tlsalpn01: u16,
    pub management: SocketAddr,
}

impl Drop for ChallTestSrv {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port free for both TCP and UDP right now.
fn free_port() -> u16 {
    loop {
        let tcp = TcpListener::bind("127.0.0.1:0").expect("bind a loopback TCP port");
        let port = tcp.local_addr().expect("local address").port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

impl ChallTestSrv {
    /// Starts pebble-challtestsrv (DNS answering A queries with 127.0.0.1 and no AAAA,
    /// http-01, tls-alpn-01 and management listeners on loopback) and waits until its
    /// DNS server answers. Panics with an install hint if the binary is missing.
    pub async fn start() -> ChallTestSrv {
        let mut last_err = String::new();
        for _ in 0..5 {
            let (dns, http01, tlsalpn01, mgmt) =
                (free_port(), free_port(), free_port(), free_port());
            let spawned = Command::new("pebble-challtestsrv")
                .args(["-dns01", &format!("127.0.0.1:{dns}")])
                .args(["-http01", &format!("127.0.0.1:{http01}")])
                .args(["-https01", ""])
                .args(["-tlsalpn01", &format!("127.0.0.1:{tlsalpn01}")])
                .args(["-management", &format!("127.0.0.1:{mgmt}")])
                .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn();
            let child = match spawned {
                Ok(c) => c,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                    "pebble-challtestsrv is not installed (needed by the ACME validation tests): \
                     run `apt-get install -y pebble` or scripts/install-peers"
                ),
                Err(e) => panic!("cannot start pebble-challtestsrv: {e}"),
            };
            let mut srv = ChallTestSrv {
                child,
                dns: SocketAddr::from(([127, 0, 0, 1], dns)),
                http01,
                tlsalpn01,
                management: SocketAddr::from(([127, 0, 0, 1], mgmt)),
            };
            match srv.wait_ready().await {
                Ok(()) => return srv,
                Err(e) => last_err = e, // a port was taken in between: try new ones
            }
        }
        panic!("pebble-challtestsrv did not come up: {last_err}");
    }

    async fn wait_ready(&mut self) -> Result<(), String> {
        let probe = Resolver::new(self.dns, Duration::from_millis(300));
        for _ in 0..50 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("exited with {status}"));
            }
            let mgmt_up = tokio::net::TcpStream::connect(self.management)
                .await
                .is_ok();
            let http_up = tokio::net::TcpStream::connect(("127.0.0.1", self.http01))
                .await
                .is_ok();
            if mgmt_up && http_up && probe.lookup("ready.test", RecordType::A).await.is_ok() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err("not ready after 5 s".into())
    }

    /// A VA configuration pointed at this server: its resolver and ports, loopback
    /// allowed (everything here is 127.0.0.1), private addresses not, CAA identity
    /// `mooring.example`, short timeouts.
    pub fn config(&self) -> ValidationConfig {
        ValidationConfig {
            http01_port: self.http01,
            tlsalpn01_port: self.tlsalpn01,
            dns_resolver: self.dns,
            allow_private_addresses: false,
            allow_loopback: true,
            caa_identities: vec!["mooring.example".into()],
            timeouts: Timeouts {
                dns: Duration::from_secs(2),
                connect: Duration::from_secs(2),
                total: Duration::from_secs(8),
            },
        }
    }

    /// POSTs `body` (JSON) to the management API at `path`; panics unless it answers 200.
    pub async fn post(&self, path: &str, body: serde_json::Value) {
        let body = body.to_string();
        let mut s = tokio::net::TcpStream::connect(self.management)
            .await
            .expect("connect to the challtestsrv management port");
        let req = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.management,
            body.len()
        );
        s.write_all(req.as_bytes()).await.expect("send");
        let mut resp = Vec::new();
        s.read_to_end(&mut resp).await.expect("read");
        let resp = String::from_utf8_lossy(&resp);
        assert!(
            resp.starts_with("HTTP/1.1 200"),
            "challtestsrv {path} {body}: {resp}"
        );
    }
}
