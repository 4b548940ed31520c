//! A fast ACME (RFC 8555) load client: complete orders per second.
//!
//! Each order, end to end: a new account with a fresh ES256 key (JWS with `jwk`, then `kid`),
//! newOrder for one DNS name, POST-as-GET of the authorization, POST `{}` to the http-01
//! challenge, polling the authorization until it is valid, finalize with a fresh P-256 CSR,
//! polling the order until it is valid, and the download of the certificate chain (which must be
//! PEM and name the identifier). The http-01 responses come from a small server in this process
//! (`--http01-listen`), from an in-memory map.
//!
//! Used by `bench/acme.sh`; see bench/README.md.
//!
//! ```text
//! acme_bench --directory https://127.0.0.1:14000/dir --ca-bundle tls.pem \
//!     --http01-listen 127.0.0.1:5002 --concurrency 8 --duration 10
//! ```
//!
//! Polling: sleep 2 ms before the first re-poll, doubling up to 50 ms. A `Retry-After` header is
//! honoured only when it is at most `--max-retry-after-ms` (default 0, so never: it is given
//! in whole seconds, and one second would dominate an order that takes a few milliseconds).
//! How often the server sent one, and the largest value, are printed in the `RESULT` line.
//!
//! Output (stdout, last lines), one `key=value` list each:
//! `STEPS ...` (mean ms per step) and
//! `RESULT orders=N errors=E elapsed_s=S orders_per_s=R p50_ms=A p99_ms=B ...`
//! (`last_ok_s`: when the last order completed; after a server hang, `orders / last_ok_s`
//! is the rate before it).
//! The first few errors, with their problem documents, go to stderr.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};

const USAGE: &str = "usage: acme_bench --directory URL --ca-bundle PEM --http01-listen 127.0.0.1:PORT \
[--concurrency N] [--duration SECS | --orders N] [--domain-suffix bench.example] [--run-id ID] \
[--max-retry-after-ms MS] [--poll-timeout SECS] [--request-timeout SECS] [--show-errors N]";

struct Args {
    directory: String,
    ca_bundle: String,
    http01_listen: SocketAddr,
    concurrency: usize,
    duration: Option<Duration>,
    orders: Option<u64>,
    domain_suffix: String,
    run_id: String,
    max_retry_after: Duration,
    poll_timeout: Duration,
    request_timeout: Duration,
    show_errors: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut kv: HashMap<String, String> = HashMap::new();
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        if k == "-h" || k == "--help" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let Some(name) = k.strip_prefix("--") else {
            return Err(format!("unexpected argument '{k}'"));
        };
        let (name, value) = match name.split_once('=') {
            Some((n, v)) => (n.to_string(), v.to_string()),
            None => (
                name.to_string(),
                it.next().ok_or_else(|| format!("--{name} needs a value"))?,
            ),
        };
        kv.insert(name, value);
    }
    let mut take = |n: &str| kv.remove(n);
    let num = |n: &str, v: Option<String>| -> Result<Option<u64>, String> {
        v.map(|s| {
            s.trim_end_matches('s')
                .parse::<u64>()
                .map_err(|_| format!("--{n}: not a number: {s}"))
        })
        .transpose()
    };
    let directory = take("directory").ok_or("--directory is required")?;
    let ca_bundle = take("ca-bundle").ok_or("--ca-bundle is required")?;
    let http01_listen = take("http01-listen")
        .ok_or("--http01-listen is required")?
        .parse()
        .map_err(|e| format!("--http01-listen: {e}"))?;
    let concurrency = num("concurrency", take("concurrency"))?.unwrap_or(1) as usize;
    let duration = num("duration", take("duration"))?.map(Duration::from_secs);
    let orders = num("orders", take("orders"))?;
    let domain_suffix = take("domain-suffix").unwrap_or_else(|| "bench.example".into());
    let run_id = take("run-id").unwrap_or_else(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        format!("{:x}{:x}", t.as_millis() % 0xffff_ffff, std::process::id())
    });
    let max_retry_after =
        Duration::from_millis(num("max-retry-after-ms", take("max-retry-after-ms"))?.unwrap_or(0));
    let poll_timeout =
        Duration::from_secs(num("poll-timeout", take("poll-timeout"))?.unwrap_or(30));
    let request_timeout =
        Duration::from_secs(num("request-timeout", take("request-timeout"))?.unwrap_or(30));
    let show_errors = num("show-errors", take("show-errors"))?.unwrap_or(5) as usize;
    if let Some(k) = kv.keys().next() {
        return Err(format!("unknown option --{k}"));
    }
    if concurrency == 0 || concurrency > 1024 {
        return Err("--concurrency must be 1..1024".into());
    }
    if duration.is_some() == orders.is_some() {
        return Err("give exactly one of --duration and --orders".into());
    }
    Ok(Args {
        directory,
        ca_bundle,
        http01_listen,
        concurrency,
        duration,
        orders,
        domain_suffix: domain_suffix.trim_matches('.').to_string(),
        run_id,
        max_retry_after,
        poll_timeout,
        request_timeout,
        show_errors,
    })
}

/// Token → key authorization, served on `/.well-known/acme-challenge/{token}`.
type Tokens = Arc<RwLock<HashMap<String, String>>>;

async fn serve_http01(listen: SocketAddr, tokens: Tokens) -> Result<(), String> {
    use axum::extract::{Path, State};
    use axum::http::StatusCode;
    use axum::routing::get;
    async fn answer(State(t): State<Tokens>, Path(token): Path<String>) -> (StatusCode, String) {
        match t.read().expect("tokens lock").get(&token) {
            Some(ka) => (StatusCode::OK, ka.clone()),
            None => (StatusCode::NOT_FOUND, String::new()),
        }
    }
    let app = axum::Router::new()
        .route("/.well-known/acme-challenge/{token}", get(answer))
        .with_state(tokens);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("http-01 responder: bind {listen}: {e}"))?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(())
}

/// What went wrong in one order: the step, the URL, and the problem document (or transport error).
#[derive(Debug)]
struct Failure {
    step: &'static str,
    url: String,
    status: u16,
    detail: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "step={} url={} status={} problem={}",
            self.step, self.url, self.status, self.detail
        )
    }
}

/// An error with its sources (reqwest's Display alone says only "error sending request").
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

fn fail(step: &'static str, url: &str, status: u16, detail: impl Into<String>) -> Failure {
    Failure {
        step,
        url: url.to_string(),
        status,
        detail: detail.into(),
    }
}

/// Step names, in order; mean times per step are printed in the `STEPS` line.
const STEPS: [&str; 8] = [
    "account",
    "new_order",
    "authz",
    "challenge",
    "validation_wait",
    "finalize",
    "order_wait",
    "download",
];

#[derive(Default)]
struct Stats {
    latencies_us: Vec<u64>,
    /// When (since the start) the last order of this worker completed.
    last_ok: Duration,
    step_us: [u64; STEPS.len()],
    polls_authz: u64,
    polls_order: u64,
    bad_nonce_retries: u64,
}

struct Shared {
    args: Args,
    dir: Directory,
    tokens: Tokens,
    rng: SystemRandom,
    errors: AtomicU64,
    started: AtomicU64,
    retry_after_seen: AtomicU64,
    retry_after_max_s: AtomicU64,
    first_errors: Mutex<Vec<String>>,
    deadline: Option<Instant>,
    start: Instant,
}

#[derive(Clone)]
struct Directory {
    new_nonce: String,
    new_account: String,
    new_order: String,
}

struct Response {
    status: u16,
    location: Option<String>,
    retry_after: Option<u64>,
    body: Vec<u8>,
}

impl Response {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body)
            .chars()
            .take(600)
            .collect()
    }
}

/// An account key: ES256 over P-256.
struct AccountKey {
    key: EcdsaKeyPair,
    jwk: Value,
    thumbprint: String,
}

impl AccountKey {
    fn generate() -> Self {
        let key = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("P-256 keygen");
        let point = key.public_key().as_ref();
        assert_eq!(point.len(), 65, "uncompressed P-256 point");
        let x = B64.encode(&point[1..33]);
        let y = B64.encode(&point[33..65]);
        // RFC 7638: the members in lexicographic order, no whitespace.
        let canon = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        let thumbprint = B64.encode(digest(&SHA256, canon.as_bytes()).as_ref());
        let jwk = json!({"crv": "P-256", "kty": "EC", "x": x, "y": y});
        AccountKey {
            key,
            jwk,
            thumbprint,
        }
    }
}

struct Worker {
    id: usize,
    shared: Arc<Shared>,
    http: reqwest::Client,
    nonces: Vec<String>,
    stats: Stats,
}

impl Worker {
    fn note_retry_after(&self, r: &Response) {
        if let Some(s) = r.retry_after {
            self.shared.retry_after_seen.fetch_add(1, Ordering::Relaxed);
            self.shared
                .retry_after_max_s
                .fetch_max(s, Ordering::Relaxed);
        }
    }

    async fn nonce(&mut self, step: &'static str) -> Result<String, Failure> {
        if let Some(n) = self.nonces.pop() {
            return Ok(n);
        }
        let url = self.shared.dir.new_nonce.clone();
        let r = self
            .http
            .head(&url)
            .send()
            .await
            .map_err(|e| fail(step, &url, 0, format!("newNonce: {}", chain(&e))))?;
        let status = r.status().as_u16();
        match r
            .headers()
            .get("replay-nonce")
            .and_then(|v| v.to_str().ok())
        {
            Some(n) => Ok(n.to_string()),
            None => Err(fail(step, &url, status, "newNonce: no Replay-Nonce header")),
        }
    }

    /// A signed POST (payload `None` = POST-as-GET). Retries once on `badNonce`.
    async fn post(
        &mut self,
        step: &'static str,
        url: &str,
        key: &AccountKey,
        kid: Option<&str>,
        payload: Option<&Value>,
    ) -> Result<Response, Failure> {
        let payload_b64 = match payload {
            Some(p) => B64.encode(serde_json::to_vec(p).expect("json")),
            None => String::new(),
        };
        let mut retried = false;
        loop {
            let nonce = self.nonce(step).await?;
            let mut protected = json!({"alg": "ES256", "nonce": nonce, "url": url});
            match kid {
                Some(k) => protected["kid"] = json!(k),
                None => protected["jwk"] = key.jwk.clone(),
            }
            let protected_b64 = B64.encode(serde_json::to_vec(&protected).expect("json"));
            let signing_input = format!("{protected_b64}.{payload_b64}");
            let sig = key
                .key
                .sign(&self.shared.rng, signing_input.as_bytes())
                .map_err(|_| fail(step, url, 0, "ES256 signing failed"))?;
            let body = json!({
                "protected": protected_b64,
                "payload": payload_b64,
                "signature": B64.encode(sig.as_ref()),
            });
            let r = self
                .http
                .post(url)
                .header("content-type", "application/jose+json")
                .body(serde_json::to_vec(&body).expect("json"))
                .send()
                .await
                .map_err(|e| fail(step, url, 0, format!("transport: {}", chain(&e))))?;
            let status = r.status().as_u16();
            let h = r.headers();
            if let Some(n) = h.get("replay-nonce").and_then(|v| v.to_str().ok()) {
                self.nonces.push(n.to_string());
            }
            let location = h
                .get("location")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let retry_after = h
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            let bytes = r
                .bytes()
                .await
                .map_err(|e| fail(step, url, status, format!("reading body: {}", chain(&e))))?;
            let resp = Response {
                status,
                location,
                retry_after,
                body: bytes.to_vec(),
            };
            if status >= 400 {
                let p = resp.json();
                if !retried && p["type"] == "urn:ietf:params:acme:error:badNonce" {
                    retried = true;
                    self.stats.bad_nonce_retries += 1;
                    continue;
                }
                return Err(fail(step, url, status, resp.text()));
            }
            return Ok(resp);
        }
    }

    async fn poll_sleep(&self, attempt: u32, r: &Response) {
        self.note_retry_after(r);
        let backoff = Duration::from_millis((2u64 << attempt.min(5)).min(50));
        let wait = match r.retry_after {
            Some(s) if Duration::from_secs(s) <= self.shared.args.max_retry_after => {
                Duration::from_secs(s)
            }
            _ => backoff,
        };
        tokio::time::sleep(wait).await;
    }

    async fn one_order(&mut self, name: &str) -> Result<(), Failure> {
        let mut t = Instant::now();
        let mut lap = |stats: &mut Stats, i: usize| {
            let now = Instant::now();
            stats.step_us[i] += now.duration_since(t).as_micros() as u64;
            t = now;
        };
        let dir = self.shared.dir.clone();
        let key = AccountKey::generate();

        // 1. Account (jwk).
        let r = self
            .post(
                "account",
                &dir.new_account,
                &key,
                None,
                Some(&json!({"termsOfServiceAgreed": true})),
            )
            .await?;
        let kid = r
            .location
            .clone()
            .ok_or_else(|| fail("account", &dir.new_account, r.status, "no Location"))?;
        lap(&mut self.stats, 0);

        // 2. Order.
        let r = self
            .post(
                "new_order",
                &dir.new_order,
                &key,
                Some(&kid),
                Some(&json!({"identifiers": [{"type": "dns", "value": name}]})),
            )
            .await?;
        let order_url = r
            .location
            .clone()
            .ok_or_else(|| fail("new_order", &dir.new_order, r.status, "no Location"))?;
        let order = r.json();
        let authz_url = order["authorizations"][0]
            .as_str()
            .ok_or_else(|| fail("new_order", &dir.new_order, r.status, r.text()))?
            .to_string();
        let finalize_url = order["finalize"]
            .as_str()
            .ok_or_else(|| fail("new_order", &dir.new_order, r.status, r.text()))?
            .to_string();
        lap(&mut self.stats, 1);

        // 3. Authorization (POST-as-GET) → the http-01 challenge.
        let r = self
            .post("authz", &authz_url, &key, Some(&kid), None)
            .await?;
        let authz = r.json();
        let chall = authz["challenges"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == "http-01"))
            .ok_or_else(|| fail("authz", &authz_url, r.status, r.text()))?;
        let (Some(token), Some(chall_url)) = (chall["token"].as_str(), chall["url"].as_str())
        else {
            return Err(fail("authz", &authz_url, r.status, r.text()));
        };
        let (token, chall_url) = (token.to_string(), chall_url.to_string());
        self.shared
            .tokens
            .write()
            .expect("tokens lock")
            .insert(token.clone(), format!("{token}.{}", key.thumbprint));
        lap(&mut self.stats, 2);

        // 4. Respond to the challenge.
        let result = self
            .validate_and_finish(
                name,
                &key,
                &kid,
                &chall_url,
                &authz_url,
                &order_url,
                &finalize_url,
                &mut t,
            )
            .await;
        self.shared
            .tokens
            .write()
            .expect("tokens lock")
            .remove(&token);
        result
    }

    #[allow(clippy::too_many_arguments)]
    async fn validate_and_finish(
        &mut self,
        name: &str,
        key: &AccountKey,
        kid: &str,
        chall_url: &str,
        authz_url: &str,
        order_url: &str,
        finalize_url: &str,
        t: &mut Instant,
    ) -> Result<(), Failure> {
        let lap = |stats: &mut Stats, t: &mut Instant, i: usize| {
            let now = Instant::now();
            stats.step_us[i] += now.duration_since(*t).as_micros() as u64;
            *t = now;
        };
        let poll_deadline = Instant::now() + self.shared.args.poll_timeout;
        self.post("challenge", chall_url, key, Some(kid), Some(&json!({})))
            .await?;
        lap(&mut self.stats, t, 3);

        // 5. Poll the authorization until valid.
        let mut attempt = 0;
        loop {
            let r = self
                .post("validation_wait", authz_url, key, Some(kid), None)
                .await?;
            self.stats.polls_authz += 1;
            let a = r.json();
            match a["status"].as_str() {
                Some("valid") => break,
                Some("pending") | Some("processing") => {}
                _ => {
                    let detail = a["challenges"]
                        .as_array()
                        .and_then(|cs| cs.iter().find(|c| c["type"] == "http-01"))
                        .map(|c| c["error"].to_string())
                        .unwrap_or_default();
                    return Err(fail(
                        "validation_wait",
                        authz_url,
                        r.status,
                        format!("authorization {}; challenge error {detail}", a["status"]),
                    ));
                }
            }
            if Instant::now() > poll_deadline {
                return Err(fail("validation_wait", authz_url, r.status, "poll timeout"));
            }
            self.poll_sleep(attempt, &r).await;
            attempt += 1;
        }
        lap(&mut self.stats, t, 4);

        // 6. Finalize with a fresh P-256 CSR.
        let csr = csr_der(name).map_err(|e| fail("finalize", finalize_url, 0, e))?;
        let r = self
            .post(
                "finalize",
                finalize_url,
                key,
                Some(kid),
                Some(&json!({"csr": B64.encode(csr)})),
            )
            .await?;
        lap(&mut self.stats, t, 5);

        // 7. Poll the order until valid.
        let mut order = r.json();
        let mut attempt = 0;
        let mut last = r;
        loop {
            match order["status"].as_str() {
                Some("valid") => break,
                Some("processing") | Some("ready") | Some("pending") => {}
                _ => {
                    return Err(fail(
                        "order_wait",
                        order_url,
                        last.status,
                        format!("order {}: {}", order["status"], order["error"]),
                    ));
                }
            }
            if Instant::now() > poll_deadline {
                return Err(fail("order_wait", order_url, last.status, "poll timeout"));
            }
            self.poll_sleep(attempt, &last).await;
            attempt += 1;
            last = self
                .post("order_wait", order_url, key, Some(kid), None)
                .await?;
            self.stats.polls_order += 1;
            order = last.json();
        }
        let cert_url = order["certificate"]
            .as_str()
            .ok_or_else(|| fail("order_wait", order_url, last.status, last.text()))?
            .to_string();
        lap(&mut self.stats, t, 6);

        // 8. Download the chain.
        let r = self
            .post("download", &cert_url, key, Some(kid), None)
            .await?;
        check_chain(&r.body, name).map_err(|e| fail("download", &cert_url, r.status, e))?;
        lap(&mut self.stats, t, 7);
        Ok(())
    }

    async fn run(mut self) -> Stats {
        let mut i = 0u64;
        loop {
            if let Some(d) = self.shared.deadline
                && Instant::now() >= d
            {
                break;
            }
            if let Some(n) = self.shared.args.orders
                && self.shared.started.fetch_add(1, Ordering::Relaxed) >= n
            {
                break;
            }
            let name = format!(
                "o{}-{}-{i}.{}",
                self.shared.args.run_id, self.id, self.shared.args.domain_suffix
            );
            i += 1;
            let start = Instant::now();
            let steps_before = self.stats.step_us;
            match self.one_order(&name).await {
                Ok(()) => {
                    self.stats
                        .latencies_us
                        .push(start.elapsed().as_micros() as u64);
                    self.stats.last_ok = self.shared.start.elapsed();
                }
                Err(f) => {
                    // Step times count completed orders only.
                    self.stats.step_us = steps_before;
                    self.shared.errors.fetch_add(1, Ordering::Relaxed);
                    let mut first = self.shared.first_errors.lock().expect("errors lock");
                    if first.len() < self.shared.args.show_errors {
                        first.push(format!("{name}: {f}"));
                    }
                    // A failed exchange can leave a stale nonce behind; start clean.
                    self.nonces.clear();
                }
            }
        }
        self.stats
    }
}

fn csr_der(name: &str) -> Result<Vec<u8>, String> {
    let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|e| format!("CSR key: {e}"))?;
    let mut params =
        rcgen::CertificateParams::new(vec![name.to_string()]).map_err(|e| format!("CSR: {e}"))?;
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, name);
    params.distinguished_name = dn;
    let csr = params
        .serialize_request(&kp)
        .map_err(|e| format!("CSR: {e}"))?;
    Ok(csr.der().to_vec())
}

/// The body must be a PEM chain whose first certificate names `name` in its SAN.
fn check_chain(body: &[u8], name: &str) -> Result<(), String> {
    let text =
        std::str::from_utf8(body).map_err(|_| "certificate chain is not UTF-8".to_string())?;
    if !text.trim_start().starts_with("-----BEGIN CERTIFICATE-----") {
        return Err(format!(
            "not a PEM chain: {}",
            text.chars().take(200).collect::<String>()
        ));
    }
    let (_, pem) = x509_parser::pem::parse_x509_pem(body).map_err(|e| format!("leaf PEM: {e}"))?;
    let cert = pem.parse_x509().map_err(|e| format!("leaf: {e}"))?;
    let san = cert
        .subject_alternative_name()
        .map_err(|e| format!("leaf SAN: {e}"))?
        .ok_or("leaf has no SAN")?;
    let found = san.value.general_names.iter().any(|g| {
        matches!(g, x509_parser::extensions::GeneralName::DNSName(d) if d.eq_ignore_ascii_case(name))
    });
    if found {
        Ok(())
    } else {
        Err(format!("leaf does not name {name}"))
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)] as f64 / 1000.0
}

fn build_client(ca_bundle: &str, timeout: Duration) -> Result<reqwest::Client, String> {
    let pem = std::fs::read(ca_bundle).map_err(|e| format!("--ca-bundle {ca_bundle}: {e}"))?;
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .timeout(timeout)
        .pool_max_idle_per_host(4);
    for cert in reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| format!("--ca-bundle {ca_bundle}: {e}"))?
    {
        b = b.add_root_certificate(cert);
    }
    b.build().map_err(|e| format!("HTTP client: {e}"))
}

async fn fetch_directory(http: &reqwest::Client, url: &str) -> Result<Directory, String> {
    let r = http
        .get(url)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {}", chain(&e)))?;
    let status = r.status();
    let v: Value = r
        .json()
        .await
        .map_err(|e| format!("GET {url}: {status}: {e}"))?;
    let field = |n: &str| {
        v[n].as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("directory {url} has no {n}: {v}"))
    };
    Ok(Directory {
        new_nonce: field("newNonce")?,
        new_account: field("newAccount")?,
        new_order: field("newOrder")?,
    })
}

#[tokio::main]
async fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("acme_bench: {e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    if let Err(e) = run(args).await {
        eprintln!("acme_bench: {e}");
        println!("RESULT orders=0 errors=1 elapsed_s=0 orders_per_s=0 p50_ms=0 p99_ms=0 fatal=1");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<(), String> {
    let tokens: Tokens = Arc::default();
    serve_http01(args.http01_listen, tokens.clone()).await?;
    let probe = build_client(&args.ca_bundle, args.request_timeout)?;
    let dir = fetch_directory(&probe, &args.directory).await?;
    let concurrency = args.concurrency;
    let start = Instant::now();
    let shared = Arc::new(Shared {
        deadline: args.duration.map(|d| start + d),
        start,
        args,
        dir,
        tokens,
        rng: SystemRandom::new(),
        errors: AtomicU64::new(0),
        started: AtomicU64::new(0),
        retry_after_seen: AtomicU64::new(0),
        retry_after_max_s: AtomicU64::new(0),
        first_errors: Mutex::new(Vec::new()),
    });
    let mut handles = Vec::new();
    for id in 0..concurrency {
        let w = Worker {
            id,
            shared: shared.clone(),
            http: build_client(&shared.args.ca_bundle, shared.args.request_timeout)?,
            nonces: Vec::new(),
            stats: Stats::default(),
        };
        handles.push(tokio::spawn(w.run()));
    }
    let mut all = Stats::default();
    for h in handles {
        let s = h.await.map_err(|e| format!("worker panicked: {e}"))?;
        all.latencies_us.extend(s.latencies_us);
        all.last_ok = all.last_ok.max(s.last_ok);
        for (a, b) in all.step_us.iter_mut().zip(s.step_us) {
            *a += b;
        }
        all.polls_authz += s.polls_authz;
        all.polls_order += s.polls_order;
        all.bad_nonce_retries += s.bad_nonce_retries;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let errors = shared.errors.load(Ordering::Relaxed);
    for e in shared.first_errors.lock().expect("errors lock").iter() {
        eprintln!("ERROR {e}");
    }
    let n = all.latencies_us.len() as u64;
    all.latencies_us.sort_unstable();
    let per = |us: u64| {
        if n == 0 {
            0.0
        } else {
            us as f64 / n as f64 / 1000.0
        }
    };
    let steps: Vec<String> = STEPS
        .iter()
        .zip(all.step_us)
        .map(|(s, us)| format!("{s}_ms={:.2}", per(us)))
        .collect();
    println!(
        "STEPS {} authz_polls_per_order={:.2} order_polls_per_order={:.2}",
        steps.join(" "),
        if n == 0 {
            0.0
        } else {
            all.polls_authz as f64 / n as f64
        },
        if n == 0 {
            0.0
        } else {
            all.polls_order as f64 / n as f64
        },
    );
    println!(
        "RESULT orders={n} errors={errors} elapsed_s={elapsed:.3} orders_per_s={:.2} p50_ms={:.2} p99_ms={:.2} \
         concurrency={concurrency} bad_nonce_retries={} retry_after_seen={} retry_after_max_s={} \
         last_ok_s={:.3}",
        n as f64 / elapsed,
        percentile(&all.latencies_us, 0.50),
        percentile(&all.latencies_us, 0.99),
        all.bad_nonce_retries,
        shared.retry_after_seen.load(Ordering::Relaxed),
        shared.retry_after_max_s.load(Ordering::Relaxed),
        all.last_ok.as_secs_f64(),
    );
    Ok(())
}
