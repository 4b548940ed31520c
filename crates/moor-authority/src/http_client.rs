//! The authority's outgoing HTTP: one HTTP/1.1 request per connection (hyper's client
//! connection, over TLS for https), bounded in time and in the answer read. Used for OIDC
//! JWKS fetches and alert webhooks. (ACME validation has its own client: it pins the
//! address it checked and follows no redirects.)

use std::sync::Arc;
use std::time::Duration;

use hyper::body::Body as _;
use hyper_util::rt::TokioIo;

/// An answer: its status and up to `max_body` bytes of its body.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: hyper::StatusCode,
    pub(crate) body: Vec<u8>,
    /// The body went on past `max_body` (what is in `body` is its start).
    pub(crate) truncated: bool,
    /// Reading the body failed part way (what is in `body` is what came).
    pub(crate) read_error: Option<String>,
}

/// Send `method` `body` to `url` with `headers` (Host, Connection: close and, for a
/// body, Content-Length are added) within `timeout`, and read at most `max_body` bytes of
/// the answer. An https URL needs `tls`. Errors say what failed, never the URL (callers
/// add it when it may be shown).
pub(crate) async fn request(
    method: hyper::Method,
    url: &str,
    headers: &[(hyper::header::HeaderName, &str)],
    body: String,
    tls: Option<Arc<rustls::ClientConfig>>,
    max_body: usize,
    timeout: Duration,
) -> Result<Answer, String> {
    let u = url::Url::parse(url).map_err(|_| "not a URL".to_string())?;
    let host = u.host_str().ok_or("no host")?.to_string();
    let port = u.port_or_known_default().ok_or("no port")?;
    let host_header = match u.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.clone(),
    };
    let path = match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_string(),
    };
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, host_header)
        .header(hyper::header::CONNECTION, "close");
    if !body.is_empty() {
        req = req.header(hyper::header::CONTENT_LENGTH, body.len());
    }
    for (name, value) in headers {
        req = req.header(name, *value);
    }
    let req = req.body(body).map_err(|e| e.to_string())?;
    let work = async {
        let tcp = tokio::net::TcpStream::connect((host.trim_matches(['[', ']']), port))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        if u.scheme() == "https" {
            let cfg = tls.ok_or("no TLS configuration for https")?;
            let name =
                rustls_pki_types::ServerName::try_from(host.trim_matches(['[', ']']).to_string())
                    .map_err(|e| e.to_string())?;
            let tls = tokio_rustls::TlsConnector::from(cfg)
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS: {e}"))?;
            exchange(tls, req, max_body).await
        } else {
            exchange(tcp, req, max_body).await
        }
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| format!("timed out after {} s", timeout.as_secs()))?
}

async fn exchange<Io>(
    io: Io,
    req: hyper::Request<String>,
    max_body: usize,
) -> Result<Answer, String>
where
    Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake::<_, String>(TokioIo::new(io))
        .await
        .map_err(|e| format!("HTTP: {e}"))?;
    tokio::spawn(conn);
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("HTTP: {e}"))?;
    let status = resp.status();
    let mut answer = resp.into_body();
    let mut body = Vec::new();
    let mut truncated = false;
    let mut read_error = None;
    while let Some(frame) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut answer).poll_frame(cx)).await
    {
        let frame = match frame {
            Ok(f) => f,
            Err(e) => {
                read_error = Some(format!("HTTP: {e}"));
                break;
            }
        };
        if let Ok(data) = frame.into_data() {
            let room = max_body - body.len();
            if data.len() > room {
                body.extend_from_slice(&data[..room]);
                truncated = true;
                break;
            }
            body.extend_from_slice(&data);
        }
    }
    Ok(Answer {
        status,
        body,
        truncated,
        read_error,
    })
}
