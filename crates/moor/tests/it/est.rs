//! EST (RFC 7030) with `curl` and `openssl` as the client (no EST client is packaged):
//! cacerts, simpleenroll with a bootstrap token, simplereenroll with the issued
//! certificate, serverkeygen, csrattrs, and the B7 refusals of `../shared/refuse.md`.

use std::path::Path;

use base64::Engine as _;

use crate::harness::{Home, Server, openssl_verify, pkcs7_certs, pkilint, run, scratch, tool};

struct Curl<'a> {
    server: &'a Server,
    dir: &'a Path,
}

impl Curl<'_> {
    /// curl with `args` to `path`; (HTTP status or 0 when the request failed, headers, body).
    fn call(&self, path: &str, args: &[&str]) -> (u16, String, Vec<u8>) {
        let ca = self.dir.join("est-ca.pem");
        std::fs::write(&ca, &self.server.roots_pem).expect("ca");
        let out = self.dir.join("est-out.bin");
        let hdr = self.dir.join("est-headers.txt");
        let _ = std::fs::remove_file(&out);
        let _ = std::fs::remove_file(&hdr);
        let mut a = vec![
            "-s".to_string(),
            "--max-time".into(),
            "30".into(),
            "--cacert".into(),
            ca.display().to_string(),
            "-o".into(),
            out.display().to_string(),
            "-D".into(),
            hdr.display().to_string(),
            "-w".into(),
            "%{http_code}".into(),
        ];
        a.extend(args.iter().map(|s| s.to_string()));
        a.push(self.server.url(path));
        let refs: Vec<&str> = a.iter().map(|s| s.as_str()).collect();
        let (_, text) = run(&tool("curl"), &refs);
        let code = text.trim().parse().unwrap_or(0);
        (
            code,
            std::fs::read_to_string(&hdr)
                .unwrap_or_default()
                .to_ascii_lowercase(),
            std::fs::read(&out).unwrap_or_default(),
        )
    }
}

/// A key and a DER CSR (base64 in a file) for `name`; (key path, CSR base64 path).
fn est_csr(dir: &Path, tag: &str, name: &str) -> (String, String) {
    let key = dir.join(format!("{tag}.key"));
    let der = dir.join(format!("{tag}.csr.der"));
    let (code, text) = run(
        &tool("openssl"),
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            key.to_str().expect("p"),
            "-subj",
            &format!("/CN={name}"),
            "-addext",
            &format!("subjectAltName=DNS:{name}"),
            "-outform",
            "DER",
            "-out",
            der.to_str().expect("p"),
        ],
    );
    assert_eq!(code, 0, "{text}");
    let b64 = dir.join(format!("{tag}.csr.b64"));
    let body = base64::engine::general_purpose::STANDARD.encode(std::fs::read(&der).expect("der"));
    std::fs::write(&b64, body).expect("b64");
    (key.display().to_string(), b64.display().to_string())
}

/// The PEM certificates of a base64 certs-only PKCS#7, read by openssl.
fn p7_certs(dir: &Path, body: &[u8]) -> Vec<String> {
    let text: Vec<u8> = body
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(text)
        .expect("base64 PKCS#7");
    pkcs7_certs(dir, &der)
}

#[tokio::test(flavor = "multi_thread")]
async fn est_with_curl_and_openssl() {
    let home = Home::new(None);
    let server = home.serve();
    let work = scratch();
    let dir = work.path();
    let curl = Curl {
        server: &server,
        dir,
    };
    let token = home.moor_json(&[
        "token",
        "create",
        "--profile",
        "tls-client",
        "--san",
        "*.est.example.com",
        "--uses",
        "5",
        "--ttl",
        "1h",
    ])["token"]
        .as_str()
        .expect("token")
        .to_string();
    let user = format!("device:{token}");
    let pkcs10 = [
        "-H",
        "Content-Type: application/pkcs10",
        "-H",
        "Content-Transfer-Encoding: base64",
    ];

    // cacerts: public, certs-only PKCS#7 of the issuing CA and the root.
    let (s, h, body) = curl.call("/.well-known/est/cacerts", &[]);
    assert_eq!(s, 200);
    assert!(
        h.contains("content-type: application/pkcs7-mime; smime-type=certs-only"),
        "{h}"
    );
    let cas = p7_certs(dir, &body);
    assert_eq!(cas.len(), 2, "issuer and root");
    assert!(
        server.roots_pem.contains(cas[1].trim()),
        "the second is our root"
    );
    let (s, _, _) = curl.call("/.well-known/est/no-such-profile/cacerts", &[]);
    assert_eq!(s, 404);

    // simpleenroll with the bootstrap token as the Basic password.
    let (key, csr) = est_csr(dir, "dev1", "dev1.est.example.com");
    let data = format!("@{csr}");
    let mut args = vec!["--user", user.as_str(), "--data-binary", data.as_str()];
    args.extend(pkcs10);
    let (s, h, body) = curl.call("/.well-known/est/simpleenroll", &args);
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&body));
    assert!(h.contains("application/pkcs7-mime"), "{h}");
    let certs = p7_certs(dir, &body);
    assert_eq!(certs.len(), 2, "the certificate and its issuer");
    let (code, text) = openssl_verify(
        dir,
        &server.roots_pem,
        &certs[1],
        &certs[0],
        &["-purpose", "sslclient"],
    );
    assert_eq!(code, 0, "{text}");
    assert!(pkilint(dir, "lint_pkix_cert", &[], &[&certs[0]]).is_empty());
    let dev_pem = dir.join("dev1.pem");
    std::fs::write(&dev_pem, format!("{}{}", certs[0], certs[1])).expect("pem");

    // simplereenroll with it as the client certificate (same name, new key).
    let (_, csr2) = est_csr(dir, "dev1b", "dev1.est.example.com");
    let data2 = format!("@{csr2}");
    let dev = dev_pem.display().to_string();
    let mut args = vec![
        "--cert",
        dev.as_str(),
        "--key",
        key.as_str(),
        "--data-binary",
        data2.as_str(),
    ];
    args.extend(pkcs10);
    let (s, _, body) = curl.call("/.well-known/est/simplereenroll", &args);
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&body));
    let renewed = p7_certs(dir, &body);
    assert_ne!(renewed[0], certs[0]);
    // … but not for another name (RFC 7030 §4.2.2): 400.
    let (_, other) = est_csr(dir, "dev1c", "other.est.example.com");
    let data3 = format!("@{other}");
    let mut args = vec![
        "--cert",
        dev.as_str(),
        "--key",
        key.as_str(),
        "--data-binary",
        data3.as_str(),
    ];
    args.extend(pkcs10);
    let (s, _, _) = curl.call("/.well-known/est/simplereenroll", &args);
    assert_eq!(s, 400);
    // … nor under another label than its profile's.
    let (_, csr_lbl) = est_csr(dir, "dev1e", "dev1.est.example.com");
    let data_lbl = format!("@{csr_lbl}");
    let mut args = vec![
        "--cert",
        dev.as_str(),
        "--key",
        key.as_str(),
        "--data-binary",
        data_lbl.as_str(),
    ];
    args.extend(pkcs10);
    let (s, _, _) = curl.call("/.well-known/est/tls-server/simplereenroll", &args);
    assert_eq!(s, 400, "label of another profile");

    // serverkeygen: the key and the certificate as multipart/mixed.
    let (_, csr4) = est_csr(dir, "dev2", "dev2.est.example.com");
    let data4 = format!("@{csr4}");
    let mut args = vec!["--user", user.as_str(), "--data-binary", data4.as_str()];
    args.extend(pkcs10);
    let (s, h, body) = curl.call("/.well-known/est/serverkeygen", &args);
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&body));
    assert!(h.contains("multipart/mixed; boundary="), "{h}");
    let text = String::from_utf8(body).expect("text");
    let parts: Vec<&str> = text.split("\r\n\r\n").collect();
    assert!(parts.len() >= 3, "{text}");
    let key_b64: String = parts[1]
        .split("--")
        .next()
        .expect("key part")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let key_der = base64::engine::general_purpose::STANDARD
        .decode(key_b64)
        .expect("key base64");
    let key_file = dir.join("dev2.key.der");
    std::fs::write(&key_file, &key_der).expect("key");
    let p7_part = parts[2].split("--").next().expect("p7 part");
    let kc = p7_certs(dir, p7_part.as_bytes());
    // The key is the certificate's.
    let (c1, pub_from_key) = run(
        &tool("openssl"),
        &[
            "pkey",
            "-inform",
            "DER",
            "-in",
            key_file.to_str().expect("p"),
            "-pubout",
        ],
    );
    assert_eq!(c1, 0, "{pub_from_key}");
    let cert_file = dir.join("dev2.pem");
    std::fs::write(&cert_file, &kc[0]).expect("cert");
    let (c2, pub_from_cert) = run(
        &tool("openssl"),
        &[
            "x509",
            "-in",
            cert_file.to_str().expect("p"),
            "-noout",
            "-pubkey",
        ],
    );
    assert_eq!(c2, 0);
    assert_eq!(pub_from_key.trim(), pub_from_cert.trim());

    // csrattrs: none required.
    let (s, _, _) = curl.call("/.well-known/est/csrattrs", &[]);
    assert_eq!(s, 204);

    // B7 refusals.
    let (_, csr5) = est_csr(dir, "dev3", "dev3.est.example.com");
    let data5 = format!("@{csr5}");
    // No credentials / a wrong password: 401 with WWW-Authenticate.
    let mut args = vec!["--data-binary", data5.as_str()];
    args.extend(pkcs10);
    let (s, h, _) = curl.call("/.well-known/est/simpleenroll", &args);
    assert_eq!(s, 401);
    assert!(h.contains("www-authenticate: basic"), "{h}");
    let wrong = format!("device:mbt_btk0000000000000000_{}", "A".repeat(43));
    let mut args = vec!["--user", wrong.as_str(), "--data-binary", data5.as_str()];
    args.extend(pkcs10);
    let (s, h, _) = curl.call("/.well-known/est/simpleenroll", &args);
    assert_eq!(s, 401);
    assert!(h.contains("www-authenticate: basic"), "{h}");
    // The token belongs to tls-client, not to the tls-server label: 401.
    let mut args = vec!["--user", user.as_str(), "--data-binary", data5.as_str()];
    args.extend(pkcs10);
    let (s, _, _) = curl.call("/.well-known/est/tls-server/simpleenroll", &args);
    assert_eq!(s, 401);
    // Wrong content type: 415.
    let (s, _, _) = curl.call(
        "/.well-known/est/simpleenroll",
        &[
            "--user",
            &user,
            "--data-binary",
            &data5,
            "-H",
            "Content-Type: text/plain",
        ],
    );
    assert_eq!(s, 415);
    // Not base64; base64 of something that is not DER: 400.
    let junk = dir.join("junk.txt");
    std::fs::write(&junk, "this is !!! not base64").expect("junk");
    let at_junk = format!("@{}", junk.display());
    let mut args = vec!["--user", user.as_str(), "--data-binary", at_junk.as_str()];
    args.extend(pkcs10);
    let (s, _, _) = curl.call("/.well-known/est/simpleenroll", &args);
    assert_eq!(s, 400);
    std::fs::write(
        &junk,
        base64::engine::general_purpose::STANDARD.encode(b"hello"),
    )
    .expect("junk");
    let (s, _, _) = curl.call("/.well-known/est/simpleenroll", &args);
    assert_eq!(s, 400);
    // A CSR whose signature does not verify: 400.
    let mut der = std::fs::read(dir.join("dev3.csr.der")).expect("der");
    let last = der.len() - 3;
    der[last] ^= 0x55;
    std::fs::write(
        &junk,
        base64::engine::general_purpose::STANDARD.encode(&der),
    )
    .expect("junk");
    let (s, _, body) = curl.call("/.well-known/est/simpleenroll", &args);
    assert_eq!(s, 400, "{}", String::from_utf8_lossy(&body));
    // simplereenroll without a client certificate: 401; with a revoked one: 401.
    let mut args = vec!["--data-binary", data5.as_str()];
    args.extend(pkcs10);
    let (s, _, _) = curl.call("/.well-known/est/simplereenroll", &args);
    assert_eq!(s, 401);
    let renewed_pem = dir.join("renewed.pem");
    let serial = {
        let der = x509_parser::pem::parse_x509_pem(renewed[0].as_bytes())
            .expect("pem")
            .1
            .contents;
        let (_, c) = x509_parser::parse_x509_certificate(&der).expect("cert");
        moor_core::serial::Serial::from_magnitude(c.raw_serial()).to_hex()
    };
    let (s, _) = server
        .post(
            &format!("/api/v1/certificates/{serial}/revoke"),
            &serde_json::json!({"reason": "superseded"}),
        )
        .await;
    assert_eq!(s, 200);
    std::fs::write(&renewed_pem, format!("{}{}", renewed[0], renewed[1])).expect("pem");
    let (keyb, _) = (dir.join("dev1b.key"), ());
    let rp = renewed_pem.display().to_string();
    let kb = keyb.display().to_string();
    let (_, csr6) = est_csr(dir, "dev1d", "dev1.est.example.com");
    let data6 = format!("@{csr6}");
    let mut args = vec![
        "--cert",
        rp.as_str(),
        "--key",
        kb.as_str(),
        "--data-binary",
        data6.as_str(),
    ];
    args.extend(pkcs10);
    let (s, _, _) = curl.call("/.well-known/est/simplereenroll", &args);
    assert_eq!(s, 401, "revoked client certificate");
    // A client certificate we did not issue is refused in the TLS handshake (no status).
    let (c, t) = run(
        &tool("openssl"),
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            dir.join("rogue.key").to_str().expect("p"),
            "-out",
            dir.join("rogue.pem").to_str().expect("p"),
            "-subj",
            "/CN=dev1.est.example.com",
            "-days",
            "1",
        ],
    );
    assert_eq!(c, 0, "{t}");
    let rogue = dir.join("rogue.pem").display().to_string();
    let rogue_key = dir.join("rogue.key").display().to_string();
    let mut args = vec![
        "--cert",
        rogue.as_str(),
        "--key",
        rogue_key.as_str(),
        "--data-binary",
        data6.as_str(),
    ];
    args.extend(pkcs10);
    let (s, _, _) = curl.call("/.well-known/est/simplereenroll", &args);
    assert!(
        s == 0 || s == 401,
        "an untrusted client certificate gets no certificate: {s}"
    );
}
