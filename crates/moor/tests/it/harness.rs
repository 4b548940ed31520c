//! Test harness: temporary homes, the `moor` binary, a running server, peer tools.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The `moor` binary under test.
pub fn moor_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_moor"))
}

/// Find a required third-party tool on PATH, or fail the test saying how to get it.
pub fn tool(name: &str) -> PathBuf {
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let p = dir.join(name);
            if p.is_file() {
                return p;
            }
        }
    }
    panic!(
        "required test tool `{name}` is missing: run `scripts/install-peers` and `source target/peers/env.sh` (scripts/test does both)"
    );
}

/// The independent ML-DSA verifier script and the Python that runs it.
pub fn mldsa_verifier() -> (PathBuf, PathBuf) {
    let script = std::env::var_os("MOORING_MLDSA_VERIFY")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../tests/tools/mldsa_verify.py"
            ))
        });
    let python = std::env::var_os("MOORING_PYTHON").map(PathBuf::from).unwrap_or_else(|| panic!("MOORING_PYTHON is not set: run `scripts/install-peers` and `source target/peers/env.sh` (scripts/test does both)"));
    assert!(
        script.is_file(),
        "ML-DSA verifier {} is missing",
        script.display()
    );
    (python, script)
}

/// A temporary home directory.
pub struct Home {
    pub dir: tempfile::TempDir,
}

impl Home {
    /// An empty home, optionally with a `mooring.toml`.
    pub fn new(config: Option<&str>) -> Home {
        let dir = tempfile::Builder::new()
            .prefix("moor-it-")
            .tempdir()
            .expect("tempdir");
        if let Some(c) = config {
            std::fs::write(dir.path().join("mooring.toml"), c).expect("write config");
        }
        Home { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Run `moor --home <home> args…`, returning the output (any exit status).
    pub fn moor(&self, args: &[&str]) -> Output {
        Command::new(moor_bin())
            .arg("--home")
            .arg(self.path())
            .args(args)
            .env_remove("MOORING_CA_PASSPHRASE")
            .env("MOORING_LOG", "warn")
            .output()
            .expect("run moor")
    }

    /// Run moor and require success; returns stdout.
    pub fn moor_ok(&self, args: &[&str]) -> String {
        let out = self.moor(args);
        assert!(
            out.status.success(),
            "moor {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stdout).expect("utf8")
    }

    /// Run moor with `--output json` and parse stdout.
    pub fn moor_json(&self, args: &[&str]) -> Value {
        let mut a = vec!["--output", "json"];
        a.extend_from_slice(args);
        serde_json::from_str(&self.moor_ok(&a)).expect("json output")
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path().join(name)
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.file(name)).unwrap_or_else(|e| panic!("read {name}: {e}"))
    }

    pub fn token(&self) -> String {
        self.read("admin.token").trim().to_string()
    }

    /// Start `moor serve` on loopback ports.
    pub fn serve(&self) -> Server {
        Server::start(self)
    }
}

/// A running `moor serve`.
pub struct Server {
    child: Child,
    pub https: String,
    pub http: String,
    pub base: String,
    pub token: String,
    pub client: reqwest::Client,
    pub roots_pem: String,
    pub stdout_path: PathBuf,
}

impl Server {
    pub fn start(home: &Home) -> Server {
        Server::start_under(home, &[])
    }

    /// `moor serve` run through `wrapper` (e.g. `["faketime", "-f", "+36h"]`: the server's
    /// clock runs ahead; the test's does not).
    pub fn start_under(home: &Home, wrapper: &[&str]) -> Server {
        let addr_file = home.file("addr.txt");
        let _ = std::fs::remove_file(&addr_file);
        let log = home.file(&format!(
            "serve-{}.log",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        let out = std::fs::File::create(&log).expect("log");
        let err = out.try_clone().expect("log");
        let mut cmd = match wrapper.split_first() {
            Some((tool_name, args)) => {
                let mut c = Command::new(tool(tool_name));
                c.args(args).arg(moor_bin());
                c
            }
            None => Command::new(moor_bin()),
        };
        let child = cmd
            .arg("--home")
            .arg(home.path())
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--http-listen",
                "127.0.0.1:0",
                "--addr-file",
            ])
            .arg(&addr_file)
            .env_remove("MOORING_CA_PASSPHRASE")
            .env("MOORING_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn moor serve");
        let start = Instant::now();
        let text = loop {
            if let Ok(t) = std::fs::read_to_string(&addr_file)
                && t.lines().count() >= 2
            {
                break t;
            }
            if start.elapsed() > Duration::from_secs(60) {
                panic!(
                    "moor serve did not start within 60 s: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut lines = text.lines();
        let https = lines.next().expect("https addr").to_string();
        let http = lines.next().expect("http addr").to_string();
        let roots_pem = home.read("roots.pem");
        let token = home.token();
        let client = client_with(&roots_pem, None);
        Server {
            child,
            base: format!("https://{https}"),
            https,
            http,
            token,
            client,
            roots_pem,
            stdout_path: log,
        }
    }

    /// SIGKILL the server (no chance to clean up).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POST JSON with the admin token; returns (status, body JSON).
    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .client
            .post(self.url(path))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .expect("request");
        status_and_json(r).await
    }

    /// GET with the admin token; returns (status, body JSON).
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .client
            .get(self.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("request");
        status_and_json(r).await
    }

    /// Issue with a CSR (PEM) under `profile`; panics unless 201.
    pub async fn issue_csr(&self, profile: &str, csr_pem: &str) -> Value {
        let (s, v) = self
            .post(
                "/api/v1/certificates",
                &serde_json::json!({"profile": profile, "csr": csr_pem}),
            )
            .await;
        assert_eq!(s, 201, "issue {profile}: {v}");
        v
    }

    /// Every certificate the API lists, following cursors.
    pub async fn list_all(&self, query: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut q = format!("/api/v1/certificates?limit=500{query}");
            if let Some(c) = &cursor {
                q.push_str(&format!("&cursor={c}"));
            }
            let (s, v) = self.get(&q).await;
            assert_eq!(s, 200, "{v}");
            out.extend(v["items"].as_array().expect("items").iter().cloned());
            match v["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return out,
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A reqwest client trusting `roots_pem`, optionally presenting a client identity (cert+key PEM).
pub fn client_with(roots_pem: &str, identity_pem: Option<&str>) -> reqwest::Client {
    client_builder(roots_pem, identity_pem)
        .http1_only()
        .build()
        .expect("client")
}

/// The same client speaking HTTP/2 only (ALPN h2): a refused request body does not
/// break the connection the answer comes back on.
pub fn h2_client(roots_pem: &str) -> reqwest::Client {
    client_builder(roots_pem, None)
        .http2_prior_knowledge()
        .build()
        .expect("client")
}

fn client_builder(roots_pem: &str, identity_pem: Option<&str>) -> reqwest::ClientBuilder {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .timeout(Duration::from_secs(60));
    for cert in reqwest::Certificate::from_pem_bundle(roots_pem.as_bytes()).expect("roots") {
        b = b.add_root_certificate(cert);
    }
    if let Some(id) = identity_pem {
        b = b.identity(reqwest::Identity::from_pem(id.as_bytes()).expect("identity"));
    }
    b
}

/// A scratch directory for files handed to tools.
pub fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("moor-it-scratch-")
        .tempdir()
        .expect("tempdir")
}

/// Run a tool; returns (exit code, stdout+stderr).
pub fn run(program: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    let mut text = String::from_utf8_lossy(&out.stdout).to_string();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

/// Make a key and CSR with openssl. `key_args` like `["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]`.
pub fn openssl_csr(dir: &Path, name: &str, key_args: &[&str], subj: &str, sans: &str) -> String {
    let openssl = tool("openssl");
    let key = dir.join(format!("{name}.key"));
    let csr = dir.join(format!("{name}.csr"));
    let mut args: Vec<String> = vec!["req".into(), "-new".into()];
    args.extend(key_args.iter().map(|s| s.to_string()));
    args.extend([
        "-nodes".into(),
        "-keyout".into(),
        key.display().to_string(),
        "-subj".into(),
        subj.into(),
        "-out".into(),
        csr.display().to_string(),
    ]);
    if !sans.is_empty() {
        args.extend(["-addext".into(), format!("subjectAltName={sans}")]);
    }
    let refs: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let (code, text) = run(&openssl, &refs);
    assert_eq!(code, 0, "openssl req: {text}");
    std::fs::read_to_string(csr).expect("csr")
}

/// `openssl verify -x509_strict` of `leaf` against `roots` with `chain` untrusted intermediates.
pub fn openssl_verify(
    dir: &Path,
    roots_pem: &str,
    chain_pem: &str,
    leaf_pem: &str,
    extra: &[&str],
) -> (i32, String) {
    let roots = dir.join("verify-roots.pem");
    let chain = dir.join("verify-chain.pem");
    let leaf = dir.join("verify-leaf.pem");
    std::fs::write(&roots, roots_pem).expect("write");
    std::fs::write(&chain, chain_pem).expect("write");
    std::fs::write(&leaf, leaf_pem).expect("write");
    let mut args = vec![
        "verify",
        "-x509_strict",
        "-CAfile",
        roots.to_str().unwrap_or_default(),
        "-untrusted",
        chain.to_str().unwrap_or_default(),
    ];
    args.extend_from_slice(extra);
    args.push(leaf.to_str().unwrap_or_default());
    run(&tool("openssl"), &args)
}

/// pkilint: `linter` on `pem`, at severity ERROR; returns the findings (empty = clean).
pub fn pkilint(dir: &Path, linter: &str, extra: &[&str], pems: &[&str]) -> Vec<String> {
    let mut files = Vec::new();
    for (i, p) in pems.iter().enumerate() {
        let f = dir.join(format!("lint-{i}.pem"));
        std::fs::write(&f, p).expect("write");
        files.push(f.display().to_string());
    }
    let mut args = vec!["lint", "-s", "ERROR", "-f", "JSON"];
    args.extend_from_slice(extra);
    args.extend(files.iter().map(|s| s.as_str()));
    let (code, text) = run(&tool(linter), &args);
    let v: Value = serde_json::from_str(text.trim())
        .unwrap_or_else(|_| panic!("{linter} did not print JSON (exit {code}): {text}"));
    let mut findings = Vec::new();
    for r in v["results"].as_array().cloned().unwrap_or_default() {
        for f in r["finding_descriptions"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            findings.push(format!(
                "{} {} at {}",
                f["severity"], f["code"], r["node_path"]
            ));
        }
    }
    if findings.is_empty() {
        assert_eq!(code, 0, "{linter} exited {code} without findings: {text}");
    }
    findings
}

/// The certificates (PEM, in order) of a DER certs-only PKCS#7, read by openssl.
pub fn pkcs7_certs(dir: &Path, der: &[u8]) -> Vec<String> {
    let f = dir.join("certs-only.p7");
    std::fs::write(&f, der).expect("write PKCS#7");
    let (code, pem) = run(
        &tool("openssl"),
        &[
            "pkcs7",
            "-inform",
            "DER",
            "-in",
            f.to_str().expect("p"),
            "-print_certs",
        ],
    );
    assert_eq!(code, 0, "openssl pkcs7: {pem}");
    split_pem(&pem)
}

/// Split a PEM bundle into single-certificate PEM strings.
pub fn split_pem(bundle: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in bundle.lines() {
        if line.starts_with("-----BEGIN") {
            cur.clear();
        }
        cur.push_str(line);
        cur.push('\n');
        if line.starts_with("-----END") {
            out.push(cur.clone());
        }
    }
    out
}

/// A response's status and its body as JSON (or as a JSON string if it is not JSON).
async fn status_and_json(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// A CSR (PEM) for an existing key file, made by openssl.
pub fn openssl_csr_for_key(dir: &Path, key: &Path, name: &str, cn: &str, san: &str) -> String {
    let out = dir.join(format!("{name}.csr"));
    let subj = format!("/CN={cn}");
    let ext = format!("subjectAltName={san}");
    let (c, t) = run(
        &tool("openssl"),
        &[
            "req",
            "-new",
            "-key",
            key.to_str().expect("p"),
            "-subj",
            &subj,
            "-addext",
            &ext,
            "-out",
            out.to_str().expect("p"),
        ],
    );
    assert_eq!(c, 0, "openssl req: {t}");
    std::fs::read_to_string(out).expect("csr")
}
