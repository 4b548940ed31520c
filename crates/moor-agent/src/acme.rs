//! The agent as an ACME client (RFC 8555) of a Mooring directory: an ES256 account key
//! kept beside the state file, http-01 answered by a short-lived listener, `replaces` on
//! renewal, and the server's ARI window (RFC 9773) consulted to decide when a
//! certificate is due, so an admin's "renew now" reaches the fleet.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine as _;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::AgentError;
use crate::client::Obtained;

fn b64(b: impl AsRef<[u8]>) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn bad(m: impl Into<String>) -> AgentError {
    AgentError::BadAnswer(m.into())
}

/// An ACME session with one directory.
pub struct AcmeClient {
    http: reqwest::Client,
    dir: Value,
    key: EcdsaKeyPair,
    kid: Option<String>,
    nonce: Option<String>,
}

/// Load the account key (PKCS#8) from `path`, or make one and keep it there (0600).
fn account_key(path: &Path) -> Result<EcdsaKeyPair, AgentError> {
    if let Ok(der) = std::fs::read(path) {
        return EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der)
            .map_err(|_| AgentError::Key(format!("{}: not a P-256 PKCS#8 key", path.display())));
    }
    let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
        .map_err(|_| AgentError::Key("key generation failed".into()))?;
    crate::files::write_atomic(path, doc.as_ref(), 0o600)?;
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref())
        .map_err(|_| AgentError::Key("key generation failed".into()))
}

impl AcmeClient {
    /// Open the directory and make sure the account exists.
    pub async fn connect(
        http: reqwest::Client,
        directory: &str,
        account_key_path: &Path,
    ) -> Result<AcmeClient, AgentError> {
        let dir: Value = http
            .get(directory)
            .send()
            .await
            .map_err(|e| AgentError::Unreachable(e.to_string()))?
            .json()
            .await
            .map_err(|e| bad(format!("directory: {e}")))?;
        let mut c = AcmeClient {
            http,
            dir,
            key: account_key(account_key_path)?,
            kid: None,
            nonce: None,
        };
        let url = c.endpoint("newAccount")?;
        let (status, body, headers) = c
            .post(&url, Some(json!({"termsOfServiceAgreed": true})))
            .await?;
        if status != 200 && status != 201 {
            return Err(AgentError::Refused {
                status,
                message: body.to_string(),
            });
        }
        c.kid = headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if c.kid.is_none() {
            return Err(bad("newAccount without Location"));
        }
        Ok(c)
    }

    fn endpoint(&self, name: &str) -> Result<String, AgentError> {
        self.dir[name]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| bad(format!("the directory has no {name}")))
    }

    fn jwk(&self) -> Value {
        let p = self.key.public_key().as_ref();
        json!({"crv": "P-256", "kty": "EC", "x": b64(&p[1..33]), "y": b64(&p[33..65])})
    }

    fn thumbprint(&self) -> String {
        let p = self.key.public_key().as_ref();
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            b64(&p[1..33]),
            b64(&p[33..65])
        );
        b64(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            canonical.as_bytes(),
        ))
    }

    async fn fresh_nonce(&mut self) -> Result<String, AgentError> {
        if let Some(n) = self.nonce.take() {
            return Ok(n);
        }
        let url = self.endpoint("newNonce")?;
        let r = self
            .http
            .head(url)
            .send()
            .await
            .map_err(|e| AgentError::Unreachable(e.to_string()))?;
        r.headers()
            .get("replay-nonce")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| bad("no Replay-Nonce"))
    }

    /// A JWS POST (`payload` None: POST-as-GET), retried once on badNonce.
    async fn post(
        &mut self,
        url: &str,
        payload: Option<Value>,
    ) -> Result<(u16, Value, reqwest::header::HeaderMap), AgentError> {
        for attempt in 0..2 {
            let nonce = self.fresh_nonce().await?;
            let mut protected = json!({"alg": "ES256", "nonce": nonce, "url": url});
            match &self.kid {
                Some(kid) => protected["kid"] = json!(kid),
                None => protected["jwk"] = self.jwk(),
            }
            let p = b64(protected.to_string());
            let body = payload
                .as_ref()
                .map(|v| b64(v.to_string()))
                .unwrap_or_default();
            let input = format!("{p}.{body}");
            let sig = self
                .key
                .sign(&SystemRandom::new(), input.as_bytes())
                .map_err(|_| AgentError::Key("signing failed".into()))?;
            let jws = json!({"protected": p, "payload": body, "signature": b64(sig.as_ref())});
            let r = self
                .http
                .post(url)
                .header("content-type", "application/jose+json")
                .body(jws.to_string())
                .send()
                .await
                .map_err(|e| AgentError::Unreachable(e.to_string()))?;
            let status = r.status().as_u16();
            let headers = r.headers().clone();
            self.nonce = headers
                .get("replay-nonce")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let text = r.text().await.unwrap_or_default();
            let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
            if status == 400 && v["type"] == "urn:ietf:params:acme:error:badNonce" && attempt == 0 {
                continue;
            }
            return Ok((status, v, headers));
        }
        Err(bad("badNonce twice"))
    }

    /// The RFC 9773 window `(start, end)` of `cert_der`, if the server serves one.
    pub async fn renewal_window(&self, cert_der: &[u8]) -> Option<(i64, i64)> {
        let base = self.dir["renewalInfo"].as_str()?;
        let id = cert_id(cert_der)?;
        let v: Value = self
            .http
            .get(format!("{base}/{id}"))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let t = |k: &str| {
            time::OffsetDateTime::parse(
                v["suggestedWindow"][k].as_str()?,
                &time::format_description::well_known::Rfc3339,
            )
            .ok()
            .map(|t| t.unix_timestamp())
        };
        Some((t("start")?, t("end")?))
    }

    /// Order, answer http-01 on `http01_listen`, finalize with `csr_der`, download.
    pub async fn obtain(
        &mut self,
        names: &[String],
        csr_der: &[u8],
        http01_listen: SocketAddr,
        replaces: Option<&[u8]>,
    ) -> Result<Obtained, AgentError> {
        let tokens: Arc<Mutex<HashMap<String, String>>> = Arc::default();
        let listener = tokio::net::TcpListener::bind(http01_listen)
            .await
            .map_err(|e| AgentError::Config(format!("http01_listen {http01_listen}: {e}")))?;
        let responder = tokio::spawn(serve_http01(listener, tokens.clone()));
        let result = self.order(names, csr_der, &tokens, replaces).await;
        responder.abort();
        result
    }

    async fn order(
        &mut self,
        names: &[String],
        csr_der: &[u8],
        tokens: &Arc<Mutex<HashMap<String, String>>>,
        replaces: Option<&[u8]>,
    ) -> Result<Obtained, AgentError> {
        let refused = |status: u16, v: &Value| AgentError::Refused {
            status,
            message: v.to_string(),
        };
        let ids: Vec<Value> = names
            .iter()
            .map(|n| {
                let kind = if n.parse::<std::net::IpAddr>().is_ok() {
                    "ip"
                } else {
                    "dns"
                };
                json!({"type": kind, "value": n})
            })
            .collect();
        let mut payload = json!({ "identifiers": ids });
        if let Some(id) = replaces.and_then(cert_id) {
            payload["replaces"] = json!(id);
        }
        let url = self.endpoint("newOrder")?;
        let (s, mut order, h) = self.post(&url, Some(payload.clone())).await?;
        // A certificate already being replaced (a previous try died): order without it.
        let (s, order_body, h) = if s == 409 {
            payload.as_object_mut().map(|m| m.remove("replaces"));
            self.post(&url, Some(payload)).await?
        } else {
            (s, std::mem::take(&mut order), h)
        };
        if s != 201 {
            return Err(refused(s, &order_body));
        }
        let order_url = h
            .get("location")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| bad("newOrder without Location"))?
            .to_string();
        let thumb = self.thumbprint();
        for authz_url in order_body["authorizations"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            let authz_url = authz_url
                .as_str()
                .ok_or_else(|| bad("authorization URL"))?
                .to_string();
            let (s, authz, _) = self.post(&authz_url, None).await?;
            if s != 200 {
                return Err(refused(s, &authz));
            }
            if authz["status"] == "valid" {
                continue;
            }
            let ch = authz["challenges"]
                .as_array()
                .and_then(|cs| cs.iter().find(|c| c["type"] == "http-01"))
                .ok_or_else(|| bad("no http-01 challenge offered"))?
                .clone();
            let token = ch["token"]
                .as_str()
                .ok_or_else(|| bad("challenge token"))?
                .to_string();
            tokens
                .lock()
                .map_err(|_| bad("lock"))?
                .insert(token.clone(), format!("{token}.{thumb}"));
            let ch_url = ch["url"]
                .as_str()
                .ok_or_else(|| bad("challenge URL"))?
                .to_string();
            let (s, v, _) = self.post(&ch_url, Some(json!({}))).await?;
            if s != 200 {
                return Err(refused(s, &v));
            }
            let mut status = Value::Null;
            for _ in 0..60 {
                let (_, a, _) = self.post(&authz_url, None).await?;
                status = a["status"].clone();
                if status != "pending" {
                    if status != "valid" {
                        return Err(refused(403, &a));
                    }
                    break;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            if status != "valid" {
                return Err(bad("the authorization did not become valid"));
            }
        }
        let finalize = order_body["finalize"]
            .as_str()
            .ok_or_else(|| bad("finalize URL"))?
            .to_string();
        let (s, v, _) = self
            .post(&finalize, Some(json!({"csr": b64(csr_der)})))
            .await?;
        if s != 200 {
            return Err(refused(s, &v));
        }
        let mut order = v;
        for _ in 0..60 {
            if order["status"] == "valid" || order["status"] == "invalid" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            order = self.post(&order_url, None).await?.1;
        }
        let cert_url = order["certificate"]
            .as_str()
            .ok_or_else(|| refused(403, &order))?
            .to_string();
        let (s, chain, _) = self.post(&cert_url, None).await?;
        let chain = chain
            .as_str()
            .filter(|_| s == 200)
            .ok_or_else(|| bad("certificate download"))?;
        let end = "-----END CERTIFICATE-----";
        let cut = chain
            .find(end)
            .map(|i| i + end.len())
            .ok_or_else(|| bad("no PEM"))?;
        Ok(Obtained {
            cert_pem: format!("{}\n", &chain[..cut]),
            chain_pem: chain[cut..].trim_start().to_string(),
        })
    }
}

/// The RFC 9773 certificate id: base64url(AKI keyIdentifier) "." base64url(serial).
pub fn cert_id(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let aki = cert
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            x509_parser::extensions::ParsedExtension::AuthorityKeyIdentifier(a) => {
                a.key_identifier.as_ref().map(|k| k.0.to_vec())
            }
            _ => None,
        })?;
    Some(format!("{}.{}", b64(aki), b64(cert.raw_serial())))
}

/// A minimal http-01 responder: `GET /.well-known/acme-challenge/{token}`.
async fn serve_http01(
    listener: tokio::net::TcpListener,
    tokens: Arc<Mutex<HashMap<String, String>>>,
) {
    loop {
        let Ok((mut sock, _)) = listener.accept().await else {
            continue;
        };
        let tokens = tokens.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let mut n = 0;
            while n < buf.len() {
                match tokio::time::timeout(Duration::from_secs(5), sock.read(&mut buf[n..])).await {
                    Ok(Ok(0)) | Err(_) | Ok(Err(_)) => break,
                    Ok(Ok(k)) => n += k,
                }
                if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            let head = String::from_utf8_lossy(&buf[..n]);
            let path = head.split_whitespace().nth(1).unwrap_or_default();
            let answer = path
                .strip_prefix("/.well-known/acme-challenge/")
                .and_then(|t| tokens.lock().ok()?.get(t).cloned());
            let reply = match answer {
                Some(body) => format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                ),
                None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_string(),
            };
            let _ = sock.write_all(reply.as_bytes()).await;
            let _ = sock.shutdown().await;
        });
    }
}
