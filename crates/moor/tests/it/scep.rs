//! SCEP (RFC 8894) with micromdm's `scepclient` (Debian package `scep`) as the client,
//! over the plain-HTTP listener: GetCACaps, GetCACert (RA + chain), PKCSReq with a
//! bootstrap token as the challenge password, a wrong or spent challenge refused with
//! badRequest, RenewalReq signed with the issued certificate, single DES refused unless
//! allowed, and malformed messages answered with a signed failure.

use std::path::Path;

use crate::harness::{Home, Server, openssl_verify, pkcs7_certs, pkilint, run, scratch, tool};

/// curl `url` over plain HTTP; (status, headers lower-cased, body).
fn curl(dir: &Path, url: &str, args: &[&str]) -> (u16, String, Vec<u8>) {
    let out = dir.join("scep-out.bin");
    let hdr = dir.join("scep-headers.txt");
    let _ = std::fs::remove_file(&out);
    let _ = std::fs::remove_file(&hdr);
    let mut a = vec![
        "-s",
        "--max-time",
        "30",
        "-o",
        out.to_str().expect("p"),
        "-D",
        hdr.to_str().expect("p"),
        "-w",
        "%{http_code}",
    ];
    a.extend_from_slice(args);
    a.push(url);
    let (_, text) = run(&tool("curl"), &a);
    (
        text.trim().parse().unwrap_or(0),
        std::fs::read_to_string(&hdr)
            .unwrap_or_default()
            .to_ascii_lowercase(),
        std::fs::read(&out).unwrap_or_default(),
    )
}

fn scep_url(server: &Server, path: &str) -> String {
    format!("http://{}{path}", server.http)
}

/// `openssl x509 -noout` with `args` on `pem`.
fn x509(dir: &Path, pem: &str, args: &[&str]) -> String {
    let f = dir.join("x509.pem");
    std::fs::write(&f, pem).expect("write");
    let mut a = vec!["x509", "-noout", "-in", f.to_str().expect("p")];
    a.extend_from_slice(args);
    let (code, text) = run(&tool("openssl"), &a);
    assert_eq!(code, 0, "openssl x509: {text}");
    text
}

/// The SHA-256 fingerprint of a PEM certificate as openssl prints it (what
/// `scepclient -ca-fingerprint` takes).
fn sha256_fingerprint(dir: &Path, pem: &str) -> String {
    let text = x509(dir, pem, &["-fingerprint", "-sha256"]);
    text.trim()
        .rsplit('=')
        .next()
        .expect("fingerprint")
        .to_string()
}

/// Run scepclient in its own directory (it keeps csr.pem / self.pem beside the key).
fn scepclient(dir: &Path, url: &str, challenge: Option<&str>, cn: &str, fp: &str) -> (i32, String) {
    std::fs::create_dir_all(dir).expect("dir");
    let key = dir.join("client.key");
    let cert = dir.join("client.pem");
    let mut a = vec![
        "-server-url",
        url,
        "-private-key",
        key.to_str().expect("p"),
        "-certificate",
        cert.to_str().expect("p"),
        "-cn",
        cn,
        "-ca-fingerprint",
        fp,
    ];
    if let Some(c) = challenge {
        a.extend(["-challenge", c]);
    }
    run(&tool("scepclient"), &a)
}

fn token(home: &Home, san: &str, uses: &str) -> String {
    home.moor_json(&[
        "token",
        "create",
        "--profile",
        "device",
        "--san",
        san,
        "--uses",
        uses,
        "--ttl",
        "1h",
    ])["token"]
        .as_str()
        .expect("token")
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn scep_with_micromdm_scepclient() {
    let home = Home::new(Some("[scep]\nallow_des = true\n"));
    let server = home.serve();
    let work = scratch();
    let dir = work.path();

    // GetCACaps: what RFC 8894 §3.5.2 lets a client rely on.
    let (s, _, caps) = curl(dir, &scep_url(&server, "/scep?operation=GetCACaps"), &[]);
    assert_eq!(s, 200);
    let caps = String::from_utf8_lossy(&caps).to_string();
    for cap in ["POSTPKIOperation", "SHA-256", "AES", "Renewal"] {
        assert!(
            caps.lines().any(|l| l.trim() == cap),
            "{cap} missing from {caps:?}"
        );
    }

    // GetCACert: the RA certificate first (RSA, keyEncipherment), then issuer and root.
    let (s, h, body) = curl(dir, &scep_url(&server, "/scep?operation=GetCACert"), &[]);
    assert_eq!(s, 200);
    assert!(
        h.contains("content-type: application/x-x509-ca-ra-cert"),
        "{h}"
    );
    let cas = pkcs7_certs(dir, &body);
    assert_eq!(cas.len(), 3, "RA, issuer, root");
    assert!(
        server.roots_pem.contains(cas[2].trim()),
        "the last is our root"
    );
    let ra_text = x509(dir, &cas[0], &["-text"]);
    assert!(ra_text.contains("Key Encipherment"), "{ra_text}");
    assert!(ra_text.contains("rsaEncryption"), "{ra_text}");
    let (code, text) = openssl_verify(dir, &server.roots_pem, &cas[1], &cas[0], &[]);
    assert_eq!(code, 0, "the RA chains to our root: {text}");
    assert!(pkilint(dir, "lint_pkix_cert", &[], &[&cas[0]]).is_empty());
    // The same RA on the next call (stored, not made again).
    let (_, _, again) = curl(dir, &scep_url(&server, "/scep?operation=GetCACert"), &[]);
    assert_eq!(pkcs7_certs(dir, &again)[0], cas[0]);
    let fp = sha256_fingerprint(dir, &cas[0]);
    let url = scep_url(&server, "/scep");

    // A forged challenge: refused with badRequest, nothing written.
    let (code, out) = scepclient(
        &dir.join("forged"),
        &url,
        Some("mbt_nope_nope"),
        "dev1",
        &fp,
    );
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("failInfo: badRequest") || out.contains("failInfo: 2"),
        "{out}"
    );
    assert!(!dir.join("forged/client.pem").exists());

    // The right challenge: a certificate for dev1 that chains to our root.
    let tok = token(&home, "dev1", "1");
    let (code, out) = scepclient(&dir.join("dev1"), &url, Some(&tok), "dev1", &fp);
    assert_eq!(code, 0, "scepclient: {out}");
    let cert = std::fs::read_to_string(dir.join("dev1/client.pem")).expect("certificate written");
    let subject = x509(dir, &cert, &["-subject"]);
    assert!(
        subject.contains("CN=dev1") || subject.contains("CN = dev1"),
        "{subject}"
    );
    let (code, text) = openssl_verify(
        dir,
        &server.roots_pem,
        &cas[1],
        &cert,
        &["-purpose", "sslclient"],
    );
    assert_eq!(code, 0, "{text}");
    assert!(pkilint(dir, "lint_pkix_cert", &[], &[&cert]).is_empty());
    let serial1 = x509(dir, &cert, &["-serial"]);

    // The single-use token again (another key): spent, badRequest.
    let (code, out) = scepclient(&dir.join("dev1-again"), &url, Some(&tok), "dev1", &fp);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("failInfo: badRequest") || out.contains("failInfo: 2"),
        "{out}"
    );

    // A token for other names: badRequest.
    let other = token(&home, "dev9", "1");
    let (code, out) = scepclient(&dir.join("dev1-other"), &url, Some(&other), "dev1", &fp);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("failInfo: badRequest") || out.contains("failInfo: 2"),
        "{out}"
    );

    // RenewalReq: the client signs with the certificate it holds; a successor for dev1.
    let (code, out) = scepclient(&dir.join("dev1"), &url, None, "dev1", &fp);
    assert_eq!(code, 0, "renewal: {out}");
    let renewed = std::fs::read_to_string(dir.join("dev1/client.pem")).expect("renewed");
    assert_ne!(
        x509(dir, &renewed, &["-serial"]),
        serial1,
        "a new certificate"
    );
    let subject = x509(dir, &renewed, &["-subject"]);
    assert!(subject.contains("dev1"), "{subject}");
    let (code, text) = openssl_verify(dir, &server.roots_pem, &cas[1], &renewed, &[]);
    assert_eq!(code, 0, "{text}");

    // A renewal signed by a certificate we did not issue (scepclient's self-signed one
    // with no challenge): refused.
    let (code, out) = scepclient(&dir.join("stranger"), &url, None, "dev1", &fp);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("failInfo"), "{out}");

    // Malformed messages: a signed CertRep with pkiStatus FAILURE, never an error page.
    let junk = dir.join("junk.bin");
    std::fs::write(&junk, b"\x30\x03\x02\x01\x01 definitely not CMS").expect("junk");
    let data = format!("@{}", junk.display());
    let (s, h, body) = curl(
        dir,
        &scep_url(&server, "/scep?operation=PKIOperation"),
        &[
            "-H",
            "Content-Type: application/x-pki-message",
            "--data-binary",
            &data,
        ],
    );
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&body));
    assert!(h.contains("application/x-pki-message"), "{h}");
    let rep = dir.join("rep.der");
    std::fs::write(&rep, &body).expect("rep");
    let (code, printed) = run(
        &tool("openssl"),
        &[
            "cms",
            "-inform",
            "DER",
            "-in",
            rep.to_str().expect("p"),
            "-cmsout",
            "-print",
        ],
    );
    assert_eq!(code, 0, "{printed}");
    assert!(
        printed.contains("2.16.840.1.113733.1.9.3"),
        "pkiStatus: {printed}"
    );
    // The answer is signed by the RA: openssl checks the signature (not the chain) over
    // the absent (empty) content.
    let empty = dir.join("empty");
    std::fs::write(&empty, b"").expect("empty");
    let (code, text) = run(
        &tool("openssl"),
        &[
            "cms",
            "-verify",
            "-noverify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            rep.to_str().expect("p"),
            "-content",
            empty.to_str().expect("p"),
            "-out",
            "/dev/null",
        ],
    );
    assert_eq!(code, 0, "{text}");

    // Unknown profile, unknown operation.
    let (s, _, _) = curl(
        dir,
        &scep_url(&server, "/scep/no-such-profile?operation=GetCACaps"),
        &[],
    );
    assert_eq!(s, 404);
    let (s, _, _) = curl(dir, &scep_url(&server, "/scep?operation=Nope"), &[]);
    assert_eq!(s, 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn scep_refuses_single_des_by_default() {
    let home = Home::new(None);
    let server = home.serve();
    let work = scratch();
    let dir = work.path();
    let (_, _, body) = curl(dir, &scep_url(&server, "/scep?operation=GetCACert"), &[]);
    let cas = pkcs7_certs(dir, &body);
    let fp = sha256_fingerprint(dir, &cas[0]);
    let tok = token(&home, "dev2", "1");
    // scepclient 2.1.0 encrypts with single DES whatever GetCACaps says: badAlg.
    let (code, out) = scepclient(
        &dir.join("dev2"),
        &scep_url(&server, "/scep"),
        Some(&tok),
        "dev2",
        &fp,
    );
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("failInfo: badAlg") || out.contains("failInfo: 0"),
        "{out}"
    );
    // The token was not used: it still lists with 0 uses.
    let list = home.moor_json(&["token", "list"]);
    let uses = list
        .as_array()
        .and_then(|a| a.first())
        .and_then(|t| t["uses"].as_i64());
    assert_eq!(uses, Some(0), "{list}");
}

/// Two nodes on one PostgreSQL database asked for the RA at once agree on one RA key
/// (one node makes it, the other uses the stored one), and a client enrolls through
/// either.
#[tokio::test(flavor = "multi_thread")]
async fn scep_ra_is_shared_by_two_nodes_on_postgres() {
    let url = crate::multinode::fresh_postgres_database();
    let a = Home::new(Some(&format!(
        "database = \"{url}\"\n[scep]\nallow_des = true\n"
    )));
    a.moor_ok(&["init"]);
    let b = crate::multinode::copy_home(&a);
    let (na, nb) = (a.serve(), b.serve());
    let work = scratch();
    let dir = work.path();

    let http = reqwest::Client::new();
    let mut calls = Vec::new();
    for node in [&na, &nb, &na, &nb] {
        let u = scep_url(node, "/scep?operation=GetCACert");
        let http = http.clone();
        calls.push(tokio::spawn(async move {
            let r = http.get(&u).send().await.expect("GetCACert");
            assert_eq!(r.status(), 200);
            r.bytes().await.expect("body").to_vec()
        }));
    }
    let mut ras = Vec::new();
    for c in calls {
        let body = c.await.expect("task");
        ras.push(pkcs7_certs(dir, &body)[0].clone());
    }
    assert!(ras.iter().all(|r| *r == ras[0]), "one RA for both nodes");

    let fp = sha256_fingerprint(dir, &ras[0]);
    for (i, node) in [&na, &nb].into_iter().enumerate() {
        let name = format!("node{i}-dev");
        let tok = token(&a, &name, "1");
        let (code, out) = scepclient(
            &dir.join(&name),
            &scep_url(node, "/scep"),
            Some(&tok),
            &name,
            &fp,
        );
        assert_eq!(code, 0, "enroll through node {i}: {out}");
    }
}
