//! Tests against a real micromdm `scepclient` request, against openssl, and on
//! hostile input.

use super::*;
use aws_lc_rs::rsa::PrivateDecryptingKey;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use std::path::{Path, PathBuf};
use std::process::Command;

const FIXTURE: &[u8] = include_bytes!("testdata/scepclient-pkcsreq.der");
const RA_PEM: &str = include_str!("testdata/ra.pem");
const RA_KEY_PEM: &str = include_str!("testdata/ra.key.pem");

fn pem_der(pem: &str) -> Vec<u8> {
    let (_, p) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).expect("PEM");
    p.contents
}

fn ra_cert() -> Vec<u8> {
    pem_der(RA_PEM)
}

fn ra_key() -> PrivateDecryptingKey {
    PrivateDecryptingKey::from_pkcs8(&pem_der(RA_KEY_PEM)).expect("RA key")
}

const DES_OK: Ciphers = Ciphers { allow_des: true };
const NO_DES: Ciphers = Ciphers { allow_des: false };

/// A self-signed RSA-2048 certificate made with rcgen: (cert DER, cert PEM, key).
struct Party {
    cert_der: Vec<u8>,
    cert_pem: String,
    key: rcgen::KeyPair,
}

fn party(cn: &str) -> Party {
    let key = rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
        .expect("RSA key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "Mooring test");
    let cert = params.self_signed(&key).expect("self-signed");
    Party {
        cert_der: cert.der().to_vec(),
        cert_pem: cert.pem(),
        key,
    }
}

impl Party {
    fn decrypting_key(&self) -> PrivateDecryptingKey {
        PrivateDecryptingKey::from_pkcs8(&self.key.serialize_der()).expect("pkcs8")
    }

    fn signer(&self) -> impl Fn(&[u8]) -> Result<Vec<u8>, String> {
        let kp = RsaKeyPair::from_pkcs8(&self.key.serialize_der()).expect("pkcs8");
        move |msg: &[u8]| {
            let mut sig = vec![0u8; kp.public_modulus_len()];
            kp.sign(
                &RSA_PKCS1_SHA256,
                &aws_lc_rs::rand::SystemRandom::new(),
                msg,
                &mut sig,
            )
            .map_err(|e| e.to_string())?;
            Ok(sig)
        }
    }
}

/// A fresh temporary directory for openssl files.
fn tmpdir(name: &str) -> PathBuf {
    let mut n = [0u8; 8];
    aws_lc_rs::rand::fill(&mut n).unwrap();
    let d = std::env::temp_dir().join(format!("moor-scep-{name}-{}", hex::encode(n)));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Run openssl in `dir`; panics with a clear message if it is missing or fails.
fn openssl(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the `openssl` CLI is required by these tests but could not be run");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn try_openssl(dir: &Path, args: &[&str]) -> bool {
    Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the `openssl` CLI is required by these tests but could not be run")
        .status
        .success()
}

fn csr_cn(csr: &[u8]) -> String {
    use x509_parser::prelude::{FromDer, X509CertificationRequest};
    let (_, csr) = X509CertificationRequest::from_der(csr).expect("CSR parses");
    csr.certification_request_info
        .subject
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .expect("CN")
        .to_owned()
}

// 1. The real micromdm scepclient request.

#[test]
fn fixture_parses_verifies_and_opens() {
    let req = parse_request(FIXTURE).expect("fixture verifies");
    assert_eq!(req.message_type, MessageType::PkcsReq);
    assert_eq!(req.ids.sender_nonce.len(), 16);
    assert!(!req.ids.transaction_id.is_empty());
    assert!(req.ids.transaction_id.bytes().all(|b| b.is_ascii_graphic()));
    // The signer is the throwaway self-signed cert.
    let (_, signer) =
        x509_parser::parse_x509_certificate(&req.signer_cert_der).expect("signer cert");
    assert!(signer.subject().to_string().contains("SCEP SIGNER"));

    let key = ra_key();
    let ra = ra_cert();
    let ras = [RaKey {
        cert_der: &ra,
        key: &key,
    }];
    let csr = open_envelope(&req.envelope_der, &ras, DES_OK).expect("opens");
    assert_eq!(csr_cn(&csr), "dev1");
    assert_eq!(challenge_password(&csr).as_deref(), Some("secret"));

    let err = open_envelope(&req.envelope_der, &ras, NO_DES).unwrap_err();
    assert_eq!(err.fail_info, FailInfo::BadAlg);
}

#[test]
fn fixture_opens_with_several_ra_keys() {
    let other = party("Other RA");
    let other_key = other.decrypting_key();
    let key = ra_key();
    let ra = ra_cert();
    let req = parse_request(FIXTURE).unwrap();
    let ras = [
        RaKey {
            cert_der: &other.cert_der,
            key: &other_key,
        },
        RaKey {
            cert_der: &ra,
            key: &key,
        },
    ];
    let csr = open_envelope(&req.envelope_der, &ras, DES_OK).unwrap();
    assert_eq!(csr_cn(&csr), "dev1");
}

// 2. Tampering and hostile input.

fn position(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("needle present")
}

#[test]
fn tampered_content_fails_the_digest() {
    let req = parse_request(FIXTURE).unwrap();
    let pos = position(FIXTURE, &req.envelope_der) + req.envelope_der.len() - 5;
    let mut bad = FIXTURE.to_vec();
    bad[pos] ^= 0x01;
    let err = parse_request(&bad).unwrap_err();
    assert_eq!(err.fail_info, FailInfo::BadMessageCheck, "{err}");
    assert!(err.detail.contains("messageDigest"), "{err}");
    // The ids were read before failing.
    assert_eq!(err.ids, req.ids);
}

#[test]
fn tampered_signature_fails() {
    // No unsigned attributes: the signature is the last bytes of the message.
    let mut bad = FIXTURE.to_vec();
    let n = bad.len();
    bad[n - 10] ^= 0x80;
    let err = parse_request(&bad).unwrap_err();
    assert_eq!(err.fail_info, FailInfo::BadMessageCheck, "{err}");
    assert!(err.detail.contains("signature"), "{err}");
    assert_eq!(err.ids.sender_nonce.len(), 16);
}

#[test]
fn tampered_signed_attribute_fails_the_signature() {
    // Change a byte of the senderNonce: still parses, but the signature breaks.
    let req = parse_request(FIXTURE).unwrap();
    let pos = position(FIXTURE, &req.ids.sender_nonce);
    let mut bad = FIXTURE.to_vec();
    bad[pos] ^= 0x01;
    let err = parse_request(&bad).unwrap_err();
    assert_eq!(err.fail_info, FailInfo::BadMessageCheck, "{err}");
    assert_ne!(err.ids.sender_nonce, req.ids.sender_nonce);
}

#[test]
fn unknown_message_type_is_bad_request() {
    // messageType OID, SET { PrintableString "19" } → "99".
    let pat = [0x31, 0x04, 0x13, 0x02, b'1', b'9'];
    let pos = position(FIXTURE, &pat);
    let mut bad = FIXTURE.to_vec();
    bad[pos + 4] = b'9';
    let err = parse_request(&bad).unwrap_err();
    assert_eq!(err.fail_info, FailInfo::BadRequest, "{err}");
    assert!(!err.ids.transaction_id.is_empty());
}

#[test]
fn truncations_mutations_and_garbage_never_panic() {
    for cut in 0..FIXTURE.len() {
        let err = parse_request(&FIXTURE[..cut]).err();
        assert!(err.is_some(), "truncated at {cut} accepted");
    }
    // Single-byte mutations everywhere: no panic (some, e.g. in the unchecked
    // signature of the signer certificate itself, may legitimately still verify).
    for i in (0..FIXTURE.len()).step_by(3) {
        let mut m = FIXTURE.to_vec();
        m[i] ^= 0x5a;
        let _ = parse_request(&m);
    }
    let req = parse_request(FIXTURE).unwrap();
    let key = ra_key();
    let ra = ra_cert();
    let ras = [RaKey {
        cert_der: &ra,
        key: &key,
    }];
    for cut in 0..req.envelope_der.len() {
        assert!(open_envelope(&req.envelope_der[..cut], &ras, DES_OK).is_err());
    }
    for i in 0..req.envelope_der.len() {
        let mut m = req.envelope_der.clone();
        m[i] ^= 0xa5;
        let _ = open_envelope(&m, &ras, DES_OK);
    }
    let mut garbage = vec![0u8; 4096];
    for len in [0usize, 1, 2, 3, 16, 100, 1000, 4096] {
        for _ in 0..20 {
            aws_lc_rs::rand::fill(&mut garbage[..len]).unwrap();
            assert!(parse_request(&garbage[..len]).is_err());
            assert!(open_envelope(&garbage[..len], &ras, DES_OK).is_err());
            let _ = challenge_password(&garbage[..len]);
            // A plausible header followed by garbage.
            let mut g = vec![0x30, 0x82, 0x0f, 0xff, 0x06, 0x09];
            g.extend_from_slice(&garbage[..len]);
            assert!(parse_request(&g).is_err());
            assert!(open_envelope(&g, &ras, DES_OK).is_err());
        }
    }
    // Oversized input.
    let big = vec![0x30; MAX_MESSAGE_LEN + 1];
    assert_eq!(
        parse_request(&big).unwrap_err().fail_info,
        FailInfo::BadRequest
    );
    assert!(open_envelope(&big, &ras, DES_OK).is_err());
}

#[test]
fn corrupted_encrypted_key_is_bad_message_check() {
    // Implicit rejection: a CEK that does not decrypt looks like a wrong key.
    let req = parse_request(FIXTURE).unwrap();
    let key = ra_key();
    let ra = ra_cert();
    let ras = [RaKey {
        cert_der: &ra,
        key: &key,
    }];
    // The encrypted key is the 256-byte OCTET STRING (04 82 01 00).
    let pos = position(&req.envelope_der, &[0x04, 0x82, 0x01, 0x00]) + 4 + 100;
    let mut bad = req.envelope_der.clone();
    bad[pos] ^= 0x01;
    let err = open_envelope(&bad, &ras, DES_OK).unwrap_err();
    assert_eq!(err.fail_info, FailInfo::BadMessageCheck, "{err}");
    // The last ciphertext byte: bad padding (almost surely) → badMessageCheck too.
    let mut bad = req.envelope_der.clone();
    let n = bad.len();
    bad[n - 1] ^= 0x01;
    let err = open_envelope(&bad, &ras, DES_OK).unwrap_err();
    assert_eq!(err.fail_info, FailInfo::BadMessageCheck, "{err}");
}

#[test]
fn envelope_for_another_ra_is_bad_message_check() {
    let other = party("Other RA");
    let other_key = other.decrypting_key();
    let req = parse_request(FIXTURE).unwrap();
    let ras = [RaKey {
        cert_der: &other.cert_der,
        key: &other_key,
    }];
    let err = open_envelope(&req.envelope_der, &ras, DES_OK).unwrap_err();
    assert_eq!(err.fail_info, FailInfo::BadMessageCheck);
    assert!(err.detail.contains("not encrypted to our RA"), "{err}");
    // No RA at all.
    let err = open_envelope(&req.envelope_der, &[], DES_OK).unwrap_err();
    assert_eq!(err.fail_info, FailInfo::BadMessageCheck);
}

// 3. CertRep, checked by openssl.

fn ids() -> TransactionIds {
    TransactionIds {
        transaction_id: "ABCDEF0123456789+/=".into(),
        sender_nonce: (0u8..16).collect(),
    }
}

#[test]
fn success_cert_rep_verifies_and_decrypts_with_openssl() {
    let ra = party("Test RA");
    let requester = party("dev1");
    let issued = party("dev1 issued");
    let chain = party("Issuing CA");
    let certs: [&[u8]; 2] = [&issued.cert_der, &chain.cert_der];
    let sign = ra.signer();
    let now = 1_795_000_000; // 2026-11-18
    let rep = cert_rep(
        &ids(),
        Outcome::Success { certs: &certs },
        &requester.cert_der,
        &ra.cert_der,
        now,
        &sign,
    )
    .expect("CertRep");

    let dir = tmpdir("certrep");
    std::fs::write(dir.join("rep.der"), &rep).unwrap();
    std::fs::write(dir.join("req.pem"), &requester.cert_pem).unwrap();
    std::fs::write(dir.join("req.key"), requester.key.serialize_pem()).unwrap();
    openssl(
        &dir,
        &[
            "cms",
            "-verify",
            "-inform",
            "DER",
            "-noverify",
            "-in",
            "rep.der",
            "-out",
            "env.der",
        ],
    );
    openssl(
        &dir,
        &[
            "cms",
            "-decrypt",
            "-inform",
            "DER",
            "-in",
            "env.der",
            "-recip",
            "req.pem",
            "-inkey",
            "req.key",
            "-out",
            "certs.p7b",
        ],
    );
    let plain = std::fs::read(dir.join("certs.p7b")).unwrap();
    assert_eq!(plain, crate::pkcs7::certs_only(&certs));
    let printed = openssl(
        &dir,
        &[
            "pkcs7",
            "-inform",
            "DER",
            "-in",
            "certs.p7b",
            "-print_certs",
        ],
    );
    assert!(printed.contains("CN = dev1 issued"), "{printed}");
    assert!(printed.contains("CN = Issuing CA"), "{printed}");

    let dump = openssl(
        &dir,
        &[
            "cms", "-cmsout", "-print", "-inform", "DER", "-in", "rep.der",
        ],
    );
    let attr = |oid: &str| -> String {
        let at = dump
            .find(&format!("({oid})"))
            .unwrap_or_else(|| panic!("attribute {oid} missing:\n{dump}"));
        dump[at..]
            .lines()
            .nth(2)
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    assert_eq!(attr("2.16.840.1.113733.1.9.2"), "PRINTABLESTRING:3");
    assert_eq!(attr("2.16.840.1.113733.1.9.3"), "PRINTABLESTRING:0");
    assert_eq!(
        attr("2.16.840.1.113733.1.9.7"),
        "PRINTABLESTRING:ABCDEF0123456789+/="
    );
    assert!(!dump.contains("(2.16.840.1.113733.1.9.4)"), "no failInfo");
    assert!(dump.contains("UTCTIME:Nov 18"), "{dump}");

    // Our own parser reads it back too: RA signature, ids, nonce echo.
    let back = parse_request(&rep).expect("our CertRep verifies");
    assert_eq!(back.message_type, MessageType::CertRep);
    assert_eq!(back.ids.transaction_id, ids().transaction_id);
    assert_eq!(back.ids.sender_nonce.len(), 16);
    assert_ne!(back.ids.sender_nonce, ids().sender_nonce);
    assert_eq!(back.signer_cert_der, ra.cert_der);
    let rkey = requester.decrypting_key();
    let opened = open_envelope(
        &back.envelope_der,
        &[RaKey {
            cert_der: &requester.cert_der,
            key: &rkey,
        }],
        NO_DES,
    )
    .unwrap();
    assert_eq!(opened, crate::pkcs7::certs_only(&certs));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn failure_and_pending_cert_reps() {
    let ra = party("Test RA");
    let requester = party("dev1");
    let sign = ra.signer();
    let dir = tmpdir("certrep-fail");
    std::fs::write(dir.join("empty"), b"").unwrap();
    for (outcome, status, fail) in [
        (Outcome::Failure(FailInfo::BadRequest), "2", Some("2")),
        (Outcome::Failure(FailInfo::BadCertId), "2", Some("4")),
        (Outcome::Pending, "3", None),
    ] {
        let rep = cert_rep(
            &ids(),
            outcome,
            &requester.cert_der,
            &ra.cert_der,
            1_795_000_000,
            &sign,
        )
        .unwrap();
        std::fs::write(dir.join("rep.der"), &rep).unwrap();
        let dump = openssl(
            &dir,
            &[
                "cms", "-cmsout", "-print", "-inform", "DER", "-in", "rep.der",
            ],
        );
        let attr = |oid: &str| -> Option<String> {
            let at = dump.find(&format!("({oid})"))?;
            Some(
                dump[at..]
                    .lines()
                    .nth(2)
                    .unwrap_or_default()
                    .trim()
                    .to_owned(),
            )
        };
        assert_eq!(
            attr("2.16.840.1.113733.1.9.3").as_deref(),
            Some(format!("PRINTABLESTRING:{status}").as_str())
        );
        assert_eq!(
            attr("2.16.840.1.113733.1.9.4"),
            fail.map(|f| format!("PRINTABLESTRING:{f}"))
        );
        // recipientNonce = the request's senderNonce.
        assert!(
            dump.contains("(2.16.840.1.113733.1.9.6)"),
            "recipientNonce missing"
        );
        assert!(dump.contains("eContent: <ABSENT>"), "{dump}");
        // Signature and messageDigest (of the empty string) verify.
        openssl(
            &dir,
            &[
                "cms",
                "-verify",
                "-inform",
                "DER",
                "-noverify",
                "-in",
                "rep.der",
                "-content",
                "empty",
            ],
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn success_to_a_non_rsa_requester_is_bad_alg() {
    let ra = party("Test RA");
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let ec = rcgen::CertificateParams::new(vec!["ec.example".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let certs: [&[u8]; 1] = [ec.der()];
    let err = cert_rep(
        &ids(),
        Outcome::Success { certs: &certs },
        ec.der(),
        &ra.cert_der,
        1_795_000_000,
        &ra.signer(),
    )
    .unwrap_err();
    assert_eq!(err.fail_info, FailInfo::BadAlg);
    assert_eq!(err.ids, ids());
    // A failing signer is an error, not a panic.
    let err = cert_rep(
        &ids(),
        Outcome::Pending,
        ec.der(),
        &ra.cert_der,
        1_795_000_000,
        &|_: &[u8]| Err("HSM offline".to_string()),
    )
    .unwrap_err();
    assert!(err.detail.contains("HSM offline"));
}

// 4. Envelopes made by openssl.

#[test]
fn openssl_envelopes_open() {
    let key = ra_key();
    let ra = ra_cert();
    let ras = [RaKey {
        cert_der: &ra,
        key: &key,
    }];
    let csr = open_envelope(&parse_request(FIXTURE).unwrap().envelope_der, &ras, DES_OK).unwrap();
    let dir = tmpdir("envelopes");
    std::fs::write(dir.join("csr.der"), &csr).unwrap();
    std::fs::write(dir.join("ra.pem"), RA_PEM).unwrap();
    for (flag, des) in [
        ("-aes256", false),
        ("-aes192", false),
        ("-aes128", false),
        ("-des3", false),
    ] {
        openssl(
            &dir,
            &[
                "cms", "-encrypt", "-binary", "-outform", "DER", flag, "-in", "csr.der", "-out",
                "env.der", "ra.pem",
            ],
        );
        let env = std::fs::read(dir.join("env.der")).unwrap();
        let ciphers = Ciphers { allow_des: des };
        assert_eq!(
            open_envelope(&env, &ras, ciphers).expect(flag),
            csr,
            "{flag}"
        );
    }
    // Single DES needs openssl's legacy provider; the fixture covers DES otherwise.
    if try_openssl(
        &dir,
        &[
            "cms",
            "-encrypt",
            "-binary",
            "-outform",
            "DER",
            "-des",
            "-provider",
            "legacy",
            "-provider",
            "default",
            "-in",
            "csr.der",
            "-out",
            "env-des.der",
            "ra.pem",
        ],
    ) {
        let env = std::fs::read(dir.join("env-des.der")).unwrap();
        assert_eq!(open_envelope(&env, &ras, DES_OK).unwrap(), csr);
        assert_eq!(
            open_envelope(&env, &ras, NO_DES).unwrap_err().fail_info,
            FailInfo::BadAlg
        );
    } else {
        eprintln!("openssl refuses single DES (no legacy provider): covered by the fixture");
    }
    // Encrypted to someone else.
    let other = party("Other RA");
    std::fs::write(dir.join("other.pem"), &other.cert_pem).unwrap();
    openssl(
        &dir,
        &[
            "cms",
            "-encrypt",
            "-binary",
            "-outform",
            "DER",
            "-aes256",
            "-in",
            "csr.der",
            "-out",
            "env-other.der",
            "other.pem",
        ],
    );
    let env = std::fs::read(dir.join("env-other.der")).unwrap();
    assert_eq!(
        open_envelope(&env, &ras, DES_OK).unwrap_err().fail_info,
        FailInfo::BadMessageCheck
    );
    // Unsupported cipher (AES-GCM in an AuthEnvelopedData, or camellia): refused.
    if try_openssl(
        &dir,
        &[
            "cms",
            "-encrypt",
            "-binary",
            "-outform",
            "DER",
            "-camellia128",
            "-in",
            "csr.der",
            "-out",
            "env-cam.der",
            "ra.pem",
        ],
    ) {
        let env = std::fs::read(dir.join("env-cam.der")).unwrap();
        assert_eq!(
            open_envelope(&env, &ras, DES_OK).unwrap_err().fail_info,
            FailInfo::BadAlg
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn small_pieces() {
    assert_eq!(FailInfo::BadMessageCheck.name(), "badMessageCheck");
    assert_eq!(FailInfo::BadCertId.code(), "4");
    for t in [
        MessageType::CertRep,
        MessageType::RenewalReq,
        MessageType::UpdateReq,
        MessageType::PkcsReq,
        MessageType::CertPoll,
        MessageType::GetCert,
        MessageType::GetCrl,
    ] {
        assert_eq!(MessageType::from_code(t.code()), Some(t));
    }
    assert_eq!(MessageType::from_code("19 "), None);
    assert!(CA_CAPS.lines().any(|l| l == "SCEPStandard"));
    let ra = [0x30, 0x03, 0x02, 0x01, 0x05];
    let ca = [0x30, 0x00];
    assert_eq!(
        crate::pkcs7::certificates(&ca_ra_certs(&ra, &[&ca])).unwrap(),
        vec![ra.to_vec(), ca.to_vec()]
    );
    assert_eq!(challenge_password(b"not a csr"), None);
}

// Requests built here: another encoder's choices (attribute order, algorithms).

type SignFn<'a> = dyn Fn(&[u8]) -> Result<Vec<u8>, String> + 'a;

/// A PKCSReq SignedData around `envelope`, signed by `cert_der`'s key through `sign`, with
/// the signed attributes in the order given (not necessarily DER order).
fn build_request(
    cert_der: &[u8],
    sign: &SignFn<'_>,
    sig_alg: &der::asn1::ObjectIdentifier,
    envelope: &[u8],
    reverse_attrs: bool,
) -> Vec<u8> {
    use super::der_util::*;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, envelope);
    let attr = |oid: &der::asn1::ObjectIdentifier, v: Vec<u8>| {
        tlv(0x30, &[oid_tlv(oid), tlv(0x31, &v)].concat())
    };
    let mut attrs = [
        attr(&ATTR_MESSAGE_TYPE, tlv(0x13, b"19")),
        attr(&ATTR_CONTENT_TYPE, oid_tlv(&ID_DATA)),
        attr(&ATTR_MESSAGE_DIGEST, tlv(0x04, digest.as_ref())),
        attr(&ATTR_SENDER_NONCE, tlv(0x04, &[7u8; 16])),
        attr(&ATTR_TRANSACTION_ID, tlv(0x13, b"tx-built-here")),
    ];
    attrs.sort();
    if reverse_attrs {
        attrs.reverse();
    }
    let attrs = attrs.concat();
    let signature = sign(&tlv(0x31, &attrs)).unwrap();
    let parts = cert_parts(cert_der).unwrap();
    let null_params = if *sig_alg == RSA_ENCRYPTION || *sig_alg == SHA256_WITH_RSA {
        vec![0x05, 0x00]
    } else {
        vec![]
    };
    let signer_info = tlv(
        0x30,
        &[
            tlv(0x02, &[0x01]),
            tlv(0x30, &[parts.issuer, parts.serial].concat()),
            tlv(0x30, &oid_tlv(&SHA256)),
            tlv(0xa0, &attrs),
            tlv(0x30, &[oid_tlv(sig_alg), null_params].concat()),
            tlv(0x04, &signature),
        ]
        .concat(),
    );
    let signed = tlv(
        0x30,
        &[
            tlv(0x02, &[0x01]),
            tlv(0x31, &tlv(0x30, &oid_tlv(&SHA256))),
            tlv(
                0x30,
                &[oid_tlv(&ID_DATA), tlv(0xa0, &tlv(0x04, envelope))].concat(),
            ),
            tlv(0xa0, cert_der),
            tlv(0x31, &signer_info),
        ]
        .concat(),
    );
    tlv(
        0x30,
        &[oid_tlv(&ID_SIGNED_DATA), tlv(0xa0, &signed)].concat(),
    )
}

#[test]
fn request_with_unsorted_attributes_and_openssl_envelope() {
    use super::der_util::{RSA_ENCRYPTION, SHA256_WITH_RSA, SHA512_WITH_RSA};
    let key = ra_key();
    let ra = ra_cert();
    let ras = [RaKey {
        cert_der: &ra,
        key: &key,
    }];
    let csr = open_envelope(&parse_request(FIXTURE).unwrap().envelope_der, &ras, DES_OK).unwrap();
    let dir = tmpdir("request");
    std::fs::write(dir.join("csr.der"), &csr).unwrap();
    std::fs::write(dir.join("ra.pem"), RA_PEM).unwrap();
    openssl(
        &dir,
        &[
            "cms", "-encrypt", "-binary", "-outform", "DER", "-aes256", "-in", "csr.der", "-out",
            "env.der", "ra.pem",
        ],
    );
    let envelope = std::fs::read(dir.join("env.der")).unwrap();
    let _ = std::fs::remove_dir_all(dir);

    let client = party("client");
    let sign = client.signer();
    for (sig_alg, reverse) in [
        (RSA_ENCRYPTION, true),
        (SHA256_WITH_RSA, true),
        (RSA_ENCRYPTION, false),
    ] {
        let msg = build_request(&client.cert_der, &sign, &sig_alg, &envelope, reverse);
        let req = parse_request(&msg).unwrap_or_else(|e| panic!("{sig_alg} {reverse}: {e}"));
        assert_eq!(req.message_type, MessageType::PkcsReq);
        assert_eq!(req.ids.transaction_id, "tx-built-here");
        assert_eq!(req.ids.sender_nonce, [7u8; 16]);
        assert_eq!(req.signer_cert_der, client.cert_der);
        assert_eq!(open_envelope(&req.envelope_der, &ras, NO_DES).unwrap(), csr);
    }
    // Signature algorithm disagreeing with the digest algorithm: badAlg.
    let msg = build_request(&client.cert_der, &sign, &SHA512_WITH_RSA, &envelope, false);
    let err = parse_request(&msg).unwrap_err();
    assert_eq!(err.fail_info, FailInfo::BadAlg, "{err}");
    assert_eq!(err.ids.transaction_id, "tx-built-here");
    // Signed by someone else's key: badMessageCheck.
    let other = party("other");
    let msg = build_request(
        &client.cert_der,
        &other.signer(),
        &RSA_ENCRYPTION,
        &envelope,
        true,
    );
    assert_eq!(
        parse_request(&msg).unwrap_err().fail_info,
        FailInfo::BadMessageCheck
    );
    // A non-RSA requester: badAlg (the answer could not be encrypted to it).
    let ec_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let ec = rcgen::CertificateParams::new(vec!["ec.example".to_string()])
        .unwrap()
        .self_signed(&ec_key)
        .unwrap();
    let msg = build_request(ec.der(), &sign, &RSA_ENCRYPTION, &envelope, false);
    assert_eq!(parse_request(&msg).unwrap_err().fail_info, FailInfo::BadAlg);
}

/// A SET of thousands of elements (the `der` crate sorts SETs quadratically) or deep
/// nesting is refused before any typed decoding, quickly.
#[test]
fn hostile_shapes_are_refused_before_decoding() {
    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        crate::crl::tlv(tag, content)
    }
    // digestAlgorithms with 4,000 distinct AlgorithmIdentifiers, descending.
    let mut set = Vec::new();
    for i in (0..4000u32).rev() {
        let oid = [0x2a, 0x03, (i >> 7) as u8 | 0x80, (i & 0x7f) as u8];
        set.extend(tlv(0x30, &tlv(0x06, &oid)));
    }
    let mut signed = tlv(0x02, &[1]);
    signed.extend(tlv(0x31, &set));
    let mut info = tlv(
        0x06,
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02],
    );
    info.extend(tlv(0xa0, &tlv(0x30, &signed)));
    let msg = tlv(0x30, &info);
    let t = std::time::Instant::now();
    let err = parse_request(&msg).expect_err("refused");
    assert_eq!(err.fail_info, FailInfo::BadRequest);
    assert!(err.detail.contains("too many elements"), "{}", err.detail);
    assert!(t.elapsed() < std::time::Duration::from_millis(100));
    let key = ra_key();
    let ra = ra_cert();
    let ras = [RaKey {
        cert_der: &ra,
        key: &key,
    }];
    assert!(open_envelope(&msg, &ras, DES_OK).is_err());

    // 100 levels of nesting.
    let mut deep = tlv(0x05, &[]);
    for _ in 0..100 {
        deep = tlv(0x30, &deep);
    }
    let err = parse_request(&deep).expect_err("refused");
    assert!(err.detail.contains("nested too deeply"), "{}", err.detail);
}

/// A badly padded RSA key transport gives the same substitute key on every retry (and a
/// different one for another ciphertext), so retries reveal nothing about the padding.
#[test]
fn implicit_rejection_is_deterministic() {
    let key = ra_key();
    let junk_a = vec![0x5au8; 256];
    let mut junk_b = junk_a.clone();
    junk_b[17] ^= 1;
    let a1 = super::envelope::decrypt_cek(&junk_a, &key, 32);
    let a2 = super::envelope::decrypt_cek(&junk_a, &key, 32);
    let b = super::envelope::decrypt_cek(&junk_b, &key, 32);
    assert_eq!(a1.len(), 32);
    assert_eq!(a1, a2, "same ciphertext, same substitute");
    assert_ne!(a1, b, "another ciphertext, another substitute");
    assert_eq!(super::envelope::decrypt_cek(&junk_a, &key, 8).len(), 8);
    // A wrong-length ciphertext too.
    assert_eq!(
        super::envelope::decrypt_cek(&[1, 2, 3], &key, 16),
        super::envelope::decrypt_cek(&[1, 2, 3], &key, 16)
    );
}

/// Re-encode DER as BER the way streaming encoders do: every constructed value with an
/// indefinite length, every OCTET STRING over 64 bytes as a constructed string of chunks.
fn berify(der: &[u8]) -> Vec<u8> {
    fn one(b: &[u8], out: &mut Vec<u8>) -> usize {
        let (tag, whole, content, rest) = super::der_util::read_tlv(b).expect("DER");
        let _ = whole;
        if tag & 0x20 != 0 {
            out.extend([tag, 0x80]);
            let mut c = content;
            while !c.is_empty() {
                let used = one(c, out);
                c = &c[used..];
            }
            out.extend([0, 0]);
        } else if tag == 0x04 && content.len() > 64 {
            out.extend([0x24, 0x80]);
            for chunk in content.chunks(64) {
                out.extend(crate::crl::tlv(0x04, chunk));
            }
            out.extend([0, 0]);
        } else {
            out.extend_from_slice(whole);
        }
        b.len() - rest.len()
    }
    let mut out = Vec::new();
    one(der, &mut out);
    out
}

/// BER messages (indefinite lengths, constructed OCTET STRINGs: Apple devices,
/// BouncyCastle, `openssl cms -stream`) parse, verify and open as their DER form does.
#[test]
fn ber_messages_parse_verify_and_open() {
    let ber = berify(FIXTURE);
    assert_ne!(ber, FIXTURE, "the test message really is BER");
    assert!(ber.windows(2).any(|w| w == [0x24, 0x80]));
    let der_req = parse_request(FIXTURE).unwrap();
    let ber_req = parse_request(&ber).expect("BER PKIMessage");
    assert_eq!(ber_req.ids, der_req.ids);
    assert_eq!(ber_req.signer_cert_der, der_req.signer_cert_der);
    let key = ra_key();
    let ra = ra_cert();
    let ras = [RaKey {
        cert_der: &ra,
        key: &key,
    }];
    let csr = open_envelope(&ber_req.envelope_der, &ras, DES_OK).expect("opens");
    assert_eq!(csr_cn(&csr), "dev1");
    // A BER envelope on its own, too.
    let env_ber = berify(&der_req.envelope_der);
    assert_eq!(
        open_envelope(&env_ber, &ras, DES_OK).expect("BER envelope"),
        csr
    );

    // openssl's streaming (BER) output.
    let dir = tmpdir("ber");
    std::fs::write(dir.join("csr.der"), &csr).unwrap();
    std::fs::write(dir.join("ra.pem"), RA_PEM).unwrap();
    openssl(
        &dir,
        &[
            "cms", "-encrypt", "-stream", "-binary", "-outform", "DER", "-aes256", "-in",
            "csr.der", "-out", "env.ber", "ra.pem",
        ],
    );
    let env = std::fs::read(dir.join("env.ber")).unwrap();
    assert!(
        env.windows(2).any(|w| w[1] == 0x80 && w[0] & 0x20 != 0),
        "openssl -stream writes BER"
    );
    assert_eq!(open_envelope(&env, &ras, DES_OK).expect("openssl BER"), csr);

    // A tampered BER message still fails the signature, and broken BER is refused.
    let mut bad = ber.clone();
    let at = bad.len() - 40;
    bad[at] ^= 1;
    assert!(parse_request(&bad).is_err());
    assert!(parse_request(&ber[..ber.len() - 2]).is_err());
    assert!(parse_request(&[0x30, 0x80, 0x04, 0x80, 0x00, 0x00]).is_err());
}
