//! `moor scan files` over a tree made with `openssl` and `ssh-keygen`: every format
//! (PEM, DER, PKCS#7 PEM and DER, PKCS#12 with the empty and with a real password, PEM
//! private keys 0600 and 0644, OpenSSH public keys, a user certificate, `authorized_keys`
//! with two keys, OpenSSH private keys), a nested directory, a symlinked directory loop,
//! a symlink to a file already in the tree, a dangling and a self-referencing symlink, a
//! FIFO, a text file and an empty file. Each item is found exactly once, fingerprints
//! agree with `openssl x509 -fingerprint -sha256` and `ssh-keygen -lf`, and no key material
//! reaches the output. `--report-to` is checked against a stub HTTPS server.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use crate::harness::{Home, run, scratch, tool};

fn openssl(args: &[&str]) {
    let (code, text) = run(&tool("openssl"), args);
    assert_eq!(code, 0, "openssl {args:?}: {text}");
}

fn ssh_keygen(args: &[&str]) -> String {
    let (code, text) = run(&tool("ssh-keygen"), args);
    assert_eq!(code, 0, "ssh-keygen {args:?}: {text}");
    text
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// A self-signed certificate `name.pem` with key `name.key`.
fn self_signed(dir: &Path, name: &str, key: &[&str]) -> PathBuf {
    let cert = dir.join(format!("{name}.pem"));
    let keyf = dir.join(format!("{name}.key"));
    let mut args = vec!["req", "-x509", "-nodes"];
    args.extend_from_slice(key);
    let (c, k, subj) = (s(&cert), s(&keyf), format!("/CN={name}.files.test"));
    args.extend_from_slice(&["-keyout", &k, "-out", &c, "-days", "30", "-subj", &subj]);
    openssl(&args);
    cert
}

/// `openssl x509 -fingerprint -sha256`, lower-case hex.
fn fingerprint(pem: &Path) -> String {
    let (code, text) = run(
        &tool("openssl"),
        &["x509", "-in", &s(pem), "-noout", "-fingerprint", "-sha256"],
    );
    assert_eq!(code, 0, "{text}");
    text.trim()
        .rsplit_once('=')
        .map(|(_, f)| f.replace(':', "").to_ascii_lowercase())
        .expect("fingerprint line")
}

/// The `SHA256:…` fingerprints `ssh-keygen -lf` prints for a file, in line order.
fn ssh_fingerprints(path: &Path) -> Vec<String> {
    ssh_keygen(&["-lf", &s(path)])
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
        .collect()
}

fn ssh_fps(r: &Value) -> Vec<String> {
    r["ssh"]
        .as_array()
        .expect("ssh")
        .iter()
        .map(|k| k["fingerprint"].as_str().expect("fingerprint").to_string())
        .collect()
}

fn cert_fps(r: &Value) -> Vec<String> {
    r["certificates"]
        .as_array()
        .expect("certificates")
        .iter()
        .map(|c| c["fingerprint_sha256"].as_str().expect("fp").to_string())
        .collect()
}

/// The lines of a PEM or OpenSSH private key's base64 body.
fn key_body_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .expect("key")
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() >= 40)
        .map(str::to_string)
        .collect()
}

struct Tree {
    root: PathBuf,
    certs: BTreeMap<&'static str, String>,
}

/// Build the tree under `dir/tree`; the work files stay in `dir/work`.
fn build_tree(dir: &Path) -> Tree {
    let work = dir.join("work");
    let root = dir.join("tree");
    for d in [
        "work",
        "tree/certs",
        "tree/keys",
        "tree/ssh",
        "tree/nested/a/b/c",
    ] {
        std::fs::create_dir_all(dir.join(d)).expect("mkdir");
    }
    let rsa = ["-newkey", "rsa:2048"];
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"];
    let mut certs = BTreeMap::new();
    for (name, key) in [
        ("pem", &rsa[..]),
        ("der", &ec[..]),
        ("p7a", &ec[..]),
        ("p7b", &ec[..]),
        ("p12", &ec[..]),
        ("p12pw", &ec[..]),
        ("nested", &ec[..]),
    ] {
        certs.insert(name, fingerprint(&self_signed(&work, name, key)));
    }
    let w = |n: &str| s(&work.join(n));
    let t = |n: &str| s(&root.join(n));
    std::fs::copy(work.join("pem.pem"), root.join("certs/server.crt")).expect("copy");
    openssl(&[
        "x509",
        "-in",
        &w("der.pem"),
        "-outform",
        "DER",
        "-out",
        &t("certs/server.cer"),
    ]);
    for (form, out) in [("PEM", "certs/bundle.p7b"), ("DER", "certs/bundle.p7c")] {
        openssl(&[
            "crl2pkcs7",
            "-nocrl",
            "-certfile",
            &w("p7a.pem"),
            "-certfile",
            &w("p7b.pem"),
            "-outform",
            form,
            "-out",
            &t(out),
        ]);
    }
    openssl(&[
        "pkcs12",
        "-export",
        "-in",
        &w("p12.pem"),
        "-inkey",
        &w("p12.key"),
        "-out",
        &t("certs/nopass.p12"),
        "-passout",
        "pass:",
    ]);
    openssl(&[
        "pkcs12",
        "-export",
        "-in",
        &w("p12pw.pem"),
        "-inkey",
        &w("p12pw.key"),
        "-out",
        &t("certs/secret.pfx"),
        "-passout",
        "pass:hunter2",
    ]);
    std::fs::copy(work.join("nested.pem"), root.join("nested/a/b/c/deep.pem")).expect("copy");

    // PEM private keys: PKCS#8 0600, and a traditional EC key 0644.
    openssl(&[
        "genpkey",
        "-algorithm",
        "ed25519",
        "-out",
        &t("keys/private.key"),
    ]);
    openssl(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-out",
        &t("keys/ec.key"),
    ]);
    std::fs::set_permissions(
        root.join("keys/private.key"),
        PermissionsExt::from_mode(0o600),
    )
    .expect("chmod");
    std::fs::set_permissions(root.join("keys/ec.key"), PermissionsExt::from_mode(0o644))
        .expect("chmod");

    // OpenSSH: three key types, a CA and a user certificate, authorized_keys.
    for (name, ty, bits) in [
        ("id_ed25519", "ed25519", None),
        ("id_ecdsa", "ecdsa", Some("256")),
        ("id_rsa", "rsa", Some("3072")),
        ("user_ca", "ed25519", None),
    ] {
        let f = t(&format!("ssh/{name}"));
        let mut args = vec!["-q", "-t", ty, "-N", "", "-C", name, "-f", &f];
        if let Some(b) = bits {
            args.extend_from_slice(&["-b", b]);
        }
        ssh_keygen(&args);
    }
    ssh_keygen(&[
        "-q",
        "-s",
        &t("ssh/user_ca"),
        "-I",
        "alice-key",
        "-n",
        "alice,deploy",
        "-V",
        "20250101000000Z:20350101000000Z",
        "-z",
        "4711",
        &t("ssh/id_ed25519.pub"),
    ]);
    let ecdsa = std::fs::read_to_string(root.join("ssh/id_ecdsa.pub")).expect("pub");
    let rsa_pub = std::fs::read_to_string(root.join("ssh/id_rsa.pub")).expect("pub");
    std::fs::write(
        root.join("ssh/authorized_keys"),
        format!("# deploy keys\n{ecdsa}\nno-pty,command=\"/bin/true\" {rsa_pub}\n"),
    )
    .expect("authorized_keys");

    // The broken and the boring.
    std::os::unix::fs::symlink("..", root.join("nested/a/loop")).expect("symlink");
    std::os::unix::fs::symlink("certs/server.crt", root.join("alias.crt")).expect("symlink");
    std::os::unix::fs::symlink("does-not-exist", root.join("dangling")).expect("symlink");
    std::os::unix::fs::symlink("selfloop", root.join("selfloop")).expect("symlink");
    let (code, text) = run(&tool("mkfifo"), &[&t("fifo")]);
    assert_eq!(code, 0, "mkfifo: {text}");
    std::fs::write(
        root.join("notes.txt"),
        "ssh-ed25519 is a key type; nothing here\n",
    )
    .expect("write");
    std::fs::write(root.join("empty"), "").expect("write");
    Tree { root, certs }
}

#[test]
fn scan_files_finds_every_format_once() {
    let dir = scratch();
    let tree = build_tree(dir.path());
    let root = std::fs::canonicalize(&tree.root).expect("canonical");
    let home = Home::new(None);
    let out = home.moor(&["--output", "json", "scan", "files", &s(&tree.root)]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "moor scan files failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(&stdout).expect("json");
    let results = v.as_array().expect("array");

    // One result per file, sorted, and exactly the files expected.
    let paths: Vec<String> = results
        .iter()
        .map(|r| r["path"].as_str().expect("path").to_string())
        .collect();
    let mut sorted = paths.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(paths, sorted, "sorted, each path once");
    let rel = |p: &str| {
        p.strip_prefix(&format!("{}/", root.display()))
            .map(str::to_string)
    };
    let found: BTreeMap<String, &Value> = results
        .iter()
        .map(|r| {
            (
                rel(r["path"].as_str().unwrap_or("")).expect("under the root"),
                r,
            )
        })
        .collect();
    let expected = [
        ("certs/bundle.p7b", "pkcs7"),
        ("certs/bundle.p7c", "pkcs7"),
        ("certs/nopass.p12", "pkcs12"),
        ("certs/secret.pfx", "pkcs12"),
        ("certs/server.cer", "der"),
        ("certs/server.crt", "pem"),
        ("dangling", "unreadable"),
        ("keys/ec.key", "private-key"),
        ("keys/private.key", "private-key"),
        ("nested/a/b/c/deep.pem", "pem"),
        ("selfloop", "unreadable"),
        ("ssh/authorized_keys", "openssh-public-key"),
        ("ssh/id_ecdsa", "private-key"),
        ("ssh/id_ecdsa.pub", "openssh-public-key"),
        ("ssh/id_ed25519", "private-key"),
        ("ssh/id_ed25519-cert.pub", "openssh-certificate"),
        ("ssh/id_ed25519.pub", "openssh-public-key"),
        ("ssh/id_rsa", "private-key"),
        ("ssh/id_rsa.pub", "openssh-public-key"),
        ("ssh/user_ca", "private-key"),
        ("ssh/user_ca.pub", "openssh-public-key"),
    ];
    let got: Vec<(&str, &str)> = found
        .iter()
        .map(|(p, r)| (p.as_str(), r["format"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(got, expected, "{v:#}");

    // Every certificate once, where it was put, with openssl's fingerprint.
    let c = &tree.certs;
    let all: Vec<String> = results.iter().flat_map(cert_fps).collect();
    for (name, fp) in c {
        // The password-protected PKCS#12 keeps its certificate to itself; the PKCS#7
        // certificates are in two files, the PEM and the DER bundle.
        let times = match *name {
            "p12pw" => 0,
            "p7a" | "p7b" => 2,
            _ => 1,
        };
        assert_eq!(
            all.iter().filter(|f| *f == fp).count(),
            times,
            "{name}: {v:#}"
        );
    }
    assert_eq!(all.len(), c.len() + 1, "{v:#}");
    assert_eq!(cert_fps(found["certs/server.crt"]), [c["pem"].clone()]);
    assert_eq!(cert_fps(found["certs/server.cer"]), [c["der"].clone()]);
    assert_eq!(
        cert_fps(found["certs/bundle.p7b"]),
        [c["p7a"].clone(), c["p7b"].clone()]
    );
    assert_eq!(
        cert_fps(found["certs/bundle.p7c"]),
        [c["p7a"].clone(), c["p7b"].clone()]
    );
    assert_eq!(cert_fps(found["certs/nopass.p12"]), [c["p12"].clone()]);
    assert_eq!(
        cert_fps(found["nested/a/b/c/deep.pem"]),
        [c["nested"].clone()]
    );
    let pem = &found["certs/server.crt"]["certificates"][0];
    assert_eq!(pem["key_algorithm"], "rsa-2048");
    assert_eq!(pem["subject"], "CN=pem.files.test");
    // Self-signed and CA:TRUE (openssl req -x509): stored alone, it reads as a root (only
    // a server presenting it makes it a leaf).
    assert_eq!(pem["position"], "root");
    assert_eq!(pem["is_ca"], true);
    assert!(pem["der"].as_str().is_some_and(|d| !d.is_empty()));

    // PKCS#12: the key is noted with the file's mode; a real password hides the
    // certificates.
    let p12 = found["certs/nopass.p12"];
    assert_eq!(p12["private_key"]["key_type"], "pkcs12", "{p12:#}");
    assert!(p12["error"].is_null(), "{p12:#}");
    let pw = found["certs/secret.pfx"];
    assert_eq!(pw["error"], "encrypted", "{pw:#}");
    assert_eq!(pw["private_key"]["key_type"], "pkcs12", "{pw:#}");
    assert_eq!(cert_fps(pw).len(), 0);

    // Private keys: type, mode, owner, who may read.
    let uid = std::fs::metadata(&root).map(|m| std::os::unix::fs::MetadataExt::uid(&m));
    for (path, key_type, mode) in [
        ("keys/private.key", "pkcs8", 0o600),
        ("keys/ec.key", "ec", 0o644),
        ("ssh/id_ed25519", "openssh", 0o600),
        ("ssh/user_ca", "openssh", 0o600),
    ] {
        let k = &found[path]["private_key"];
        assert_eq!(k["key_type"], key_type, "{path}: {k:#}");
        assert_eq!(k["mode"], mode, "{path}: {k:#}");
        assert_eq!(k["readable_by_others"], mode & 0o044 != 0, "{path}: {k:#}");
        assert_eq!(k["uid"].as_u64(), uid.as_ref().ok().map(|u| u64::from(*u)));
        assert_eq!(
            found[path]["certificates"].as_array().map(Vec::len),
            Some(0)
        );
    }

    // OpenSSH: ssh-keygen's fingerprints, algorithms, comments.
    let sd = root.join("ssh");
    for (file, alg) in [
        ("id_ed25519.pub", "ed25519"),
        ("id_ecdsa.pub", "ecdsa-p256"),
        ("id_rsa.pub", "rsa-3072"),
        ("user_ca.pub", "ed25519"),
    ] {
        let r = &found[&format!("ssh/{file}")];
        assert_eq!(ssh_fps(r), ssh_fingerprints(&sd.join(file)), "{file}");
        assert_eq!(r["ssh"][0]["key_algorithm"], alg, "{file}");
        assert_eq!(r["ssh"][0]["kind"], "ssh-key", "{file}");
        assert_eq!(
            r["ssh"][0]["comment"],
            file.trim_end_matches(".pub"),
            "{file}"
        );
    }
    let ak = found["ssh/authorized_keys"];
    assert_eq!(ssh_fps(ak).len(), 2, "{ak:#}");
    assert_eq!(ssh_fps(ak), ssh_fingerprints(&sd.join("authorized_keys")));
    let cert = &found["ssh/id_ed25519-cert.pub"]["ssh"];
    assert_eq!(cert.as_array().map(Vec::len), Some(1));
    let cert = &cert[0];
    assert_eq!(cert["kind"], "ssh-cert");
    assert_eq!(cert["key_type"], "ssh-ed25519-cert-v01@openssh.com");
    assert_eq!(
        vec![cert["fingerprint"].as_str().unwrap_or("").to_string()],
        ssh_fingerprints(&sd.join("id_ed25519-cert.pub"))
    );
    assert_eq!(cert["fingerprint"], ssh_fps(found["ssh/id_ed25519.pub"])[0]);
    assert_eq!(cert["signing_ca"], ssh_fps(found["ssh/user_ca.pub"])[0]);
    assert_eq!(cert["comment"], "alice-key");
    assert_eq!(cert["principals"], serde_json::json!(["alice", "deploy"]));
    assert_eq!(cert["serial"], 4711);
    assert_eq!(cert["valid_after"], 1_735_689_600);
    assert_eq!(cert["valid_before"], 2_051_222_400);

    // The unreadable say why.
    for p in ["dangling", "selfloop"] {
        assert!(
            found[p]["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{p}: {:#}",
            found[p]
        );
    }

    // No key material anywhere in the output.
    for key in [
        root.join("keys/private.key"),
        root.join("keys/ec.key"),
        root.join("ssh/id_ed25519"),
        root.join("ssh/id_rsa"),
        root.join("ssh/user_ca"),
    ] {
        let lines = key_body_lines(&key);
        assert!(!lines.is_empty(), "{}", key.display());
        for l in lines {
            assert!(!stdout.contains(&l), "{} leaked: {l}", key.display());
        }
    }

    // The text form: one line per certificate, key and private key.
    let text = home.moor_ok(&["scan", "files", &s(&root.join("ssh"))]);
    assert!(
        text.lines()
            .any(|l| l.contains("id_ed25519-cert.pub") && l.contains("alice-key")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains("ssh/id_rsa ") && l.contains("mode 0600")),
        "{text}"
    );
    // A single file as the root, and --max-files.
    let one = home.moor_json(&["scan", "files", &s(&root.join("certs/server.crt"))]);
    assert_eq!(one.as_array().map(Vec::len), Some(1), "{one:#}");
    let out = home.moor(&["scan", "files", "--max-files", "2", &s(&root)]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--max-files"));
}

/// A one-request HTTPS server: answers `status` with `body`, hands back what it received.
fn stub_server(status: u16, body: &'static str) -> (u16, String, std::thread::JoinHandle<String>) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&key).expect("ca");
    let issuer = rcgen::Issuer::new(ca_params, &key);
    let leaf_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .expect("params")
        .signed_by(&leaf_key, &issuer)
        .expect("leaf");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(
        vec![leaf.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
    )
    .expect("server config");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let handle = std::thread::spawn(move || {
        let (tcp, _) = listener.accept().expect("accept");
        let conn = rustls::ServerConnection::new(Arc::new(config)).expect("conn");
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        let mut reader = BufReader::new(&mut tls);
        let mut head = String::new();
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("header");
            if let Some((k, v)) = line.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().expect("length");
            }
            head.push_str(&line);
            if line == "\r\n" || line.is_empty() {
                break;
            }
        }
        let mut req_body = vec![0u8; length];
        reader.read_exact(&mut req_body).expect("body");
        let answer = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        tls.write_all(answer.as_bytes()).expect("answer");
        tls.flush().expect("flush");
        tls.conn.send_close_notify();
        let _ = tls.flush();
        format!("{head}{}", String::from_utf8_lossy(&req_body))
    });
    (port, ca.pem(), handle)
}

#[test]
fn scan_files_report_to_posts_one_report() {
    let dir = scratch();
    let tree = dir.path().join("t");
    std::fs::create_dir(&tree).expect("mkdir");
    let work = dir.path().join("w");
    std::fs::create_dir(&work).expect("mkdir");
    let cert = self_signed(
        &work,
        "report",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
    );
    std::fs::copy(&cert, tree.join("a.pem")).expect("copy");
    let home = Home::new(None);

    let (port, ca_pem, server) = stub_server(
        200,
        r#"{"certificates":1,"new":1,"locations":1,"gone":0,"ssh_keys":0,"key_files":0}"#,
    );
    let bundle = work.join("roots.pem");
    std::fs::write(&bundle, ca_pem).expect("bundle");
    let v = home.moor_json(&[
        "scan",
        "files",
        &s(&tree),
        "--host",
        "web1.example",
        "--report-to",
        &format!("https://127.0.0.1:{port}"),
        "--token",
        "tok123",
        "--ca-bundle",
        &s(&bundle),
    ]);
    assert_eq!(v["certificates"], 1, "{v:#}");
    assert_eq!(v["new"], 1, "{v:#}");
    let request = server.join().expect("stub");
    assert!(
        request.starts_with("POST /api/v1/inventory/reports HTTP/1.1\r\n"),
        "{request}"
    );
    assert!(
        request
            .to_ascii_lowercase()
            .contains("authorization: bearer tok123\r\n"),
        "{request}"
    );
    let body: Value =
        serde_json::from_str(request.split("\r\n\r\n").nth(1).expect("body")).expect("json body");
    assert_eq!(body["host"], "web1.example");
    let canonical = std::fs::canonicalize(&tree).expect("canonical");
    assert_eq!(body["file_roots"], serde_json::json!([s(&canonical)]));
    assert_eq!(body["files"][0]["path"], s(&canonical.join("a.pem")));
    assert_eq!(
        body["files"][0]["certificates"][0]["fingerprint_sha256"],
        fingerprint(&cert)
    );
    assert_eq!(body["tls"], serde_json::json!([]));

    // A refusal is an error naming the server's message; missing options are refused
    // before anything is scanned.
    let (port, ca_pem, server) =
        stub_server(401, r#"{"code":"unauthorized","message":"bad token"}"#);
    std::fs::write(&bundle, ca_pem).expect("bundle");
    let out = home.moor(&[
        "scan",
        "files",
        &s(&tree),
        "--report-to",
        &format!("https://127.0.0.1:{port}"),
        "--token",
        "nope",
        "--ca-bundle",
        &s(&bundle),
    ]);
    let _ = server.join();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad token") && err.contains("401"), "{err}");
    let out = home.moor(&[
        "scan",
        "files",
        &s(&tree),
        "--report-to",
        "https://127.0.0.1:1",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("token"));
}
