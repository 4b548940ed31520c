//! Inventory search latency over HTTPS: `GET /api/v1/inventory?q=…` with random values.
//!
//! Used by `bench/inventory.sh` against a server whose inventory was bulk-loaded with the
//! script's rows (`host<n>.bench.example`, `app=app<n % 1000>`, `env` ∈ prod/staging/dev,
//! one TLS location `10.<n>>16>.<n>>8>.<n>:443`, n = 1..=rows); see bench/README.md.
//!
//! ```text
//! inventory_bench --base https://127.0.0.1:8443 --ca-bundle roots.pem --token-file admin.token \
//!     --rows 10000000 --requests 1000 --concurrency 1 --kinds san,label-app,expires-30d
//! ```
//!
//! Kinds (each request draws a fresh random n where the query names one):
//! `san` (`san=host<n>.bench.example`, must return exactly that item), `label-app`
//! (`label:app=app<n%1000>`), `label-env` (`label:env=prod`, first page), `label-env-deep`
//! (`label:env=prod` after a cursor reached by following `next` through 10 pages of 1,000),
//! `expires-30d` (`expires<30d`), `expires-window` (`expires>10d expires<40d`), `location`
//! (`location=10.a.b.c`, must return item n), `combined` (`label:env=prod key.algorithm=rsa-1024`).
//! Pages are `--limit` items (default 50).
//!
//! Output, one line per kind: `RESULT kind=… concurrency=C requests=N errors=E p50_ms=…
//! p99_ms=… max_ms=… mean_ms=… items_mean=… req_per_s=…`. A request is timed from send to the
//! last byte of the body. Errors (status ≠ 200, wrong item, empty page where one is expected)
//! print to stderr (the first `--show-errors`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

const USAGE: &str = "usage: inventory_bench --base URL --ca-bundle PEM --token-file FILE --rows N \
[--requests N] [--concurrency C] [--kinds k1,k2,…] [--limit 50] [--seed S] [--show-errors 5]";

const ALL_KINDS: [&str; 8] = [
    "san",
    "label-app",
    "label-env",
    "label-env-deep",
    "expires-30d",
    "expires-window",
    "location",
    "combined",
];

struct Args {
    base: String,
    ca_bundle: String,
    token: String,
    rows: u64,
    requests: usize,
    concurrency: usize,
    kinds: Vec<String>,
    limit: usize,
    seed: u64,
    show_errors: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        base: String::new(),
        ca_bundle: String::new(),
        token: String::new(),
        rows: 0,
        requests: 1000,
        concurrency: 1,
        kinds: ALL_KINDS.iter().map(|k| k.to_string()).collect(),
        limit: 50,
        seed: 0x9E37_79B9_7F4A_7C15,
        show_errors: 5,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let num = |v: String| {
            v.parse::<u64>()
                .map_err(|_| format!("{flag}: not a number"))
        };
        match flag.as_str() {
            "--base" => a.base = val()?.trim_end_matches('/').to_string(),
            "--ca-bundle" => a.ca_bundle = val()?,
            "--token-file" => {
                let f = val()?;
                a.token = std::fs::read_to_string(&f)
                    .map_err(|e| format!("--token-file {f}: {e}"))?
                    .trim()
                    .to_string();
            }
            "--rows" => a.rows = num(val()?)?,
            "--requests" => a.requests = num(val()?)? as usize,
            "--concurrency" => a.concurrency = num(val()?)?.clamp(1, 256) as usize,
            "--kinds" => {
                a.kinds = val()?.split(',').map(str::to_string).collect();
                if let Some(k) = a.kinds.iter().find(|k| !ALL_KINDS.contains(&k.as_str())) {
                    return Err(format!("unknown kind {k:?} (one of {ALL_KINDS:?})"));
                }
            }
            "--limit" => a.limit = num(val()?)?.clamp(1, 1000) as usize,
            "--seed" => a.seed = num(val()?)?.max(1),
            "--show-errors" => a.show_errors = num(val()?)?,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if a.base.is_empty() || a.ca_bundle.is_empty() || a.token.is_empty() || a.rows == 0 {
        return Err("--base, --ca-bundle, --token-file and --rows are required".into());
    }
    Ok(a)
}

/// xorshift64*: enough to spread the random n over the rows, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// A row number in 1..=rows.
    fn row(&mut self, rows: u64) -> u64 {
        1 + self.next() % rows
    }
}

/// The TLS endpoint host the bulk load gave row n.
fn row_ip(n: u64) -> String {
    format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255)
}

/// What one request asks and what its answer must hold.
struct Request {
    q: String,
    after: Option<String>,
    /// The item (by subject) that must be in the answer.
    must_have: Option<String>,
    /// At least one item is expected.
    non_empty: bool,
}

fn request(kind: &str, rng: &mut Rng, rows: u64, deep: &[String]) -> Request {
    let n = rng.row(rows);
    let host = format!("host{n}.bench.example");
    let (q, after, must_have, non_empty) = match kind {
        "san" => (
            format!("san={host}"),
            None,
            Some(format!("CN={host}")),
            true,
        ),
        "label-app" => (
            format!("label:app=app{}", n % 1000),
            None,
            None,
            rows >= 1000,
        ),
        "label-env" => ("label:env=prod".to_string(), None, None, true),
        "label-env-deep" => {
            let c = deep[(rng.next() as usize) % deep.len()].clone();
            ("label:env=prod".to_string(), Some(c), None, true)
        }
        "expires-30d" => ("expires<30d".to_string(), None, None, true),
        "expires-window" => ("expires>10d expires<40d".to_string(), None, None, true),
        "location" => (
            format!("location={}", row_ip(n)),
            None,
            Some(format!("CN={host}")),
            true,
        ),
        "combined" => (
            "label:env=prod key.algorithm=rsa-1024".to_string(),
            None,
            None,
            rows >= 300,
        ),
        _ => unreachable!("kinds are checked in parse_args"),
    };
    Request {
        q,
        after,
        must_have,
        non_empty,
    }
}

struct Shared {
    args: Args,
    errors: AtomicU64,
    items: AtomicU64,
}

impl Shared {
    fn error(&self, what: String) {
        let n = self.errors.fetch_add(1, Ordering::Relaxed);
        if n < self.args.show_errors {
            eprintln!("inventory_bench: {what}");
        }
    }
}

fn build_client(ca_bundle: &str) -> Result<reqwest::Client, String> {
    let pem = std::fs::read(ca_bundle).map_err(|e| format!("--ca-bundle {ca_bundle}: {e}"))?;
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .timeout(Duration::from_secs(120))
        .pool_max_idle_per_host(2);
    for cert in reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| format!("--ca-bundle {ca_bundle}: {e}"))?
    {
        b = b.add_root_certificate(cert);
    }
    b.build().map_err(|e| format!("HTTP client: {e}"))
}

/// One page: (status, elapsed µs, body). Timed from send to the body's last byte.
async fn get_page(
    http: &reqwest::Client,
    s: &Shared,
    q: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<(u64, Value), String> {
    let url = format!("{}/api/v1/inventory", s.args.base);
    let limit = limit.to_string();
    let mut params = vec![("q", q), ("limit", limit.as_str())];
    if let Some(a) = after {
        params.push(("after", a));
    }
    let t = Instant::now();
    let r = http
        .get(&url)
        .bearer_auth(&s.args.token)
        .query(&params)
        .send()
        .await
        .map_err(|e| format!("GET {q:?}: {e}"))?;
    let status = r.status();
    let body = r
        .bytes()
        .await
        .map_err(|e| format!("GET {q:?}: body: {e}"))?;
    let us = t.elapsed().as_micros() as u64;
    if status != reqwest::StatusCode::OK {
        return Err(format!(
            "GET {q:?}: {status}: {}",
            String::from_utf8_lossy(&body)
        ));
    }
    let v: Value = serde_json::from_slice(&body).map_err(|e| format!("GET {q:?}: {e}"))?;
    Ok((us, v))
}

async fn worker(
    s: Arc<Shared>,
    kind: String,
    count: usize,
    seed: u64,
    deep: Arc<Vec<String>>,
) -> Result<Vec<u64>, String> {
    let http = build_client(&s.args.ca_bundle)?;
    let mut rng = Rng(seed);
    let mut times = Vec::with_capacity(count);
    for _ in 0..count {
        let req = request(&kind, &mut rng, s.args.rows, &deep);
        match get_page(&http, &s, &req.q, req.after.as_deref(), s.args.limit).await {
            Ok((us, v)) => {
                times.push(us);
                let items = v["items"].as_array().map(Vec::as_slice).unwrap_or(&[]);
                s.items.fetch_add(items.len() as u64, Ordering::Relaxed);
                if req.non_empty && items.is_empty() {
                    s.error(format!("{kind}: {:?} returned no item", req.q));
                }
                if let Some(want) = &req.must_have
                    && !items.iter().any(|i| i["subject"].as_str() == Some(want))
                {
                    s.error(format!("{kind}: {:?} did not return {want}", req.q));
                }
            }
            Err(e) => s.error(format!("{kind}: {e}")),
        }
    }
    Ok(times)
}

/// Cursors deep into `label:env=prod`: follow `next` through 10 pages of 1,000.
async fn deep_cursors(s: &Shared) -> Result<Vec<String>, String> {
    let http = build_client(&s.args.ca_bundle)?;
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..10 {
        let (_, v) = get_page(&http, s, "label:env=prod", after.as_deref(), 1000).await?;
        match v["next"].as_str() {
            Some(n) => {
                out.push(n.to_string());
                after = Some(n.to_string());
            }
            None => break,
        }
    }
    if out.is_empty() {
        return Err("label:env=prod has no second page (too few rows?)".into());
    }
    Ok(out)
}

fn pct(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    // Nearest rank: the smallest value with at least p of the samples at or below it.
    let rank = ((sorted.len() as f64) * p).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1000.0
}

#[tokio::main]
async fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("inventory_bench: {e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    if let Err(e) = run(args).await {
        eprintln!("inventory_bench: {e}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<(), String> {
    let kinds = args.kinds.clone();
    let shared = Arc::new(Shared {
        args,
        errors: AtomicU64::new(0),
        items: AtomicU64::new(0),
    });
    let deep = Arc::new(if kinds.iter().any(|k| k == "label-env-deep") {
        deep_cursors(&shared).await?
    } else {
        Vec::new()
    });
    let mut failed = false;
    for (ki, kind) in kinds.iter().enumerate() {
        let (c, n) = (shared.args.concurrency, shared.args.requests);
        let errors_before = shared.errors.load(Ordering::Relaxed);
        let items_before = shared.items.load(Ordering::Relaxed);
        let start = Instant::now();
        let mut handles = Vec::new();
        for w in 0..c {
            let count = n / c + usize::from(w < n % c);
            let seed = shared.args.seed
                ^ ((ki as u64 + 1) << 32)
                ^ (w as u64 + 1).wrapping_mul(0x9E37_79B9);
            handles.push(tokio::spawn(worker(
                shared.clone(),
                kind.clone(),
                count,
                seed.max(1),
                deep.clone(),
            )));
        }
        let mut times = Vec::with_capacity(n);
        for h in handles {
            times.extend(h.await.map_err(|e| format!("worker: {e}"))??);
        }
        let elapsed = start.elapsed().as_secs_f64();
        times.sort_unstable();
        let errors = shared.errors.load(Ordering::Relaxed) - errors_before;
        let items = shared.items.load(Ordering::Relaxed) - items_before;
        let mean = times.iter().sum::<u64>() as f64 / times.len().max(1) as f64 / 1000.0;
        failed |= errors > 0 || times.is_empty();
        println!(
            "RESULT kind={kind} concurrency={c} requests={} errors={errors} p50_ms={:.2} p99_ms={:.2} \
             max_ms={:.2} mean_ms={mean:.2} items_mean={:.1} req_per_s={:.0}",
            times.len(),
            pct(&times, 0.50),
            pct(&times, 0.99),
            pct(&times, 1.0),
            items as f64 / times.len().max(1) as f64,
            times.len() as f64 / elapsed.max(1e-9),
        );
    }
    if failed {
        return Err("some requests failed (see above)".into());
    }
    Ok(())
}
