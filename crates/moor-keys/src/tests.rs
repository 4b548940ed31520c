//! Tests for key generation, signing, PKCS#8 (plain and encrypted), key
//! files, passphrases and the rcgen adapter.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use moor_core::KeyAlgorithm;

use crate::*;

/// One key per algorithm, generated once for the whole test binary (RSA-4096
/// generation is slow, so it happens exactly once).
fn keys() -> &'static [SoftwareKey] {
    static KEYS: OnceLock<Vec<SoftwareKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        KeyAlgorithm::ALL
            .into_iter()
            .map(|alg| SoftwareKey::generate(alg).unwrap())
            .collect()
    })
}

fn key(alg: KeyAlgorithm) -> &'static SoftwareKey {
    keys().iter().find(|k| k.algorithm() == alg).unwrap()
}

fn verification_alg(alg: KeyAlgorithm) -> &'static dyn VerificationAlgorithm {
    match alg {
        KeyAlgorithm::EcdsaP256 => &signature::ECDSA_P256_SHA256_ASN1,
        KeyAlgorithm::EcdsaP384 => &signature::ECDSA_P384_SHA384_ASN1,
        KeyAlgorithm::Ed25519 => &signature::ED25519,
        KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => {
            &signature::RSA_PKCS1_2048_8192_SHA256
        }
        KeyAlgorithm::MlDsa44 => &signature::ML_DSA_44,
        KeyAlgorithm::MlDsa65 => &signature::ML_DSA_65,
        KeyAlgorithm::MlDsa87 => &signature::ML_DSA_87,
    }
}

fn verify(alg: KeyAlgorithm, public_raw: &[u8], msg: &[u8], sig: &[u8]) -> bool {
    UnparsedPublicKey::new(verification_alg(alg), public_raw)
        .verify(msg, sig)
        .is_ok()
}

/// The SPKI rcgen would build from the raw key and algorithm.
struct RawPublic<'a>(&'a [u8], KeyAlgorithm);

impl rcgen::PublicKeyData for RawPublic<'_> {
    fn der_bytes(&self) -> &[u8] {
        self.0
    }
    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        self.1.rcgen_signature_algorithm()
    }
}

fn test_pass() -> Passphrase {
    Passphrase::new("correct horse battery staple".to_owned())
}

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Runs openssl; a missing binary fails the test (never skipped).
fn openssl(args: &[&str]) -> std::process::Output {
    match Command::new("openssl").args(args).output() {
        Ok(out) => out,
        Err(e) => panic!(
            "cannot run `openssl` ({e}): this test needs the OpenSSL 3 command line tool \
             (Debian: apt-get install openssl); it is never skipped"
        ),
    }
}

#[test]
fn generate_sign_verify_all_algorithms() {
    let msg = b"to be signed: a TBSCertificate stand-in";
    for key in keys() {
        let alg = key.algorithm();
        let sig = key.sign(msg).unwrap();
        assert!(
            verify(alg, key.public_key_raw(), msg, &sig),
            "{alg}: signature does not verify"
        );
        assert!(
            !verify(alg, key.public_key_raw(), b"other message", &sig),
            "{alg}: verifies a different message"
        );

        match alg {
            KeyAlgorithm::Ed25519 => assert_eq!(key.public_key_raw().len(), 32),
            KeyAlgorithm::EcdsaP256 => assert_eq!(key.public_key_raw().len(), 65),
            KeyAlgorithm::EcdsaP384 => assert_eq!(key.public_key_raw().len(), 97),
            KeyAlgorithm::MlDsa44 => assert_eq!(key.public_key_raw().len(), 1312),
            KeyAlgorithm::MlDsa65 => assert_eq!(key.public_key_raw().len(), 1952),
            KeyAlgorithm::MlDsa87 => assert_eq!(key.public_key_raw().len(), 2592),
            _ => {
                let bits = alg.rsa_bits().unwrap();
                assert_eq!(sig.len() * 8, bits, "{alg}: signature length");
            }
        }

        // The SPKI agrees with what rcgen derives from the raw key, and parses.
        let spki = key.spki_der();
        assert_eq!(
            spki,
            rcgen::PublicKeyData::subject_public_key_info(&RawPublic(key.public_key_raw(), alg)),
            "{alg}: SPKI differs from rcgen's encoding"
        );
        let (rest, parsed) =
            <x509_parser::x509::SubjectPublicKeyInfo as x509_parser::prelude::FromDer<_>>::from_der(&spki)
                .unwrap();
        assert!(rest.is_empty());
        assert_eq!(
            parsed.subject_public_key.data.as_ref(),
            key.public_key_raw()
        );

        // Works as a trait object, and describes itself without key material.
        let dynamic: &dyn Signer = key;
        assert_eq!(dynamic.algorithm(), alg);
        assert!(dynamic.describe().starts_with("memory:"));
    }
}

#[test]
fn debug_output_has_no_key_material() {
    for key in keys() {
        let debug = format!("{key:?}");
        assert!(debug.starts_with("SoftwareKey {"), "{debug}");
        assert!(debug.len() < 200, "{debug}");
        let der = key.to_pkcs8_der().unwrap();
        let hex: String = der
            .iter()
            .rev()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(!debug.contains(&hex));
    }
    assert_eq!(format!("{:?}", test_pass()), "Passphrase(..)");
}

#[test]
fn pkcs8_round_trip_all_algorithms() {
    for key in keys() {
        let alg = key.algorithm();
        let der = key.to_pkcs8_der().unwrap();
        let back = SoftwareKey::from_pkcs8_der(&der, None).unwrap();
        assert_eq!(back.algorithm(), alg);
        assert_eq!(back.public_key_raw(), key.public_key_raw());
        assert_eq!(back.spki_der(), key.spki_der());
        let again = SoftwareKey::from_pkcs8_der(&der, Some(alg)).unwrap();
        let sig = again.sign(b"m").unwrap();
        assert!(verify(alg, key.public_key_raw(), b"m", &sig), "{alg}");
        if let Some(bits) = alg.rsa_bits() {
            assert_eq!(
                crate::software::rsa_modulus_bits(key.public_key_raw()).unwrap(),
                bits
            );
        }
        // Re-serialising gives the same document.
        assert_eq!(*back.to_pkcs8_der().unwrap(), *der, "{alg}");

        let pem = key.to_pkcs8_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{alg}");
        assert!(
            pem.trim_end().ends_with("-----END PRIVATE KEY-----"),
            "{alg}"
        );
    }
}

#[test]
fn pkcs8_algorithm_mismatch_and_garbage() {
    let der = key(KeyAlgorithm::EcdsaP256).to_pkcs8_der().unwrap();
    match SoftwareKey::from_pkcs8_der(&der, Some(KeyAlgorithm::EcdsaP384)) {
        Err(KeyError::AlgorithmMismatch { expected, found }) => {
            assert_eq!(expected, KeyAlgorithm::EcdsaP384);
            assert_eq!(found, KeyAlgorithm::EcdsaP256);
        }
        other => panic!("expected AlgorithmMismatch, got {other:?}"),
    }
    let der = key(KeyAlgorithm::Rsa2048).to_pkcs8_der().unwrap();
    assert!(matches!(
        SoftwareKey::from_pkcs8_der(&der, Some(KeyAlgorithm::Rsa3072)),
        Err(KeyError::AlgorithmMismatch {
            found: KeyAlgorithm::Rsa2048,
            ..
        })
    ));
    let der = key(KeyAlgorithm::MlDsa65).to_pkcs8_der().unwrap();
    assert!(matches!(
        SoftwareKey::from_pkcs8_der(&der, Some(KeyAlgorithm::MlDsa44)),
        Err(KeyError::AlgorithmMismatch {
            found: KeyAlgorithm::MlDsa65,
            ..
        })
    ));

    assert!(matches!(
        SoftwareKey::from_pkcs8_der(b"\x30\x03\x02\x01\x00", None),
        Err(KeyError::Malformed(_))
    ));
    assert!(matches!(
        SoftwareKey::from_pkcs8_der(&[], None),
        Err(KeyError::Malformed(_))
    ));
    // A truncated key never panics.
    let der = key(KeyAlgorithm::Ed25519).to_pkcs8_der().unwrap();
    for n in 0..der.len() {
        assert!(SoftwareKey::from_pkcs8_der(&der[..n], None).is_err());
    }

    // P-521 is a real key but not one Mooring supports.
    let p521 = aws_lc_rs::signature::EcdsaKeyPair::generate(
        &aws_lc_rs::signature::ECDSA_P521_SHA512_ASN1_SIGNING,
    )
    .unwrap()
    .to_pkcs8v1()
    .unwrap();
    assert!(matches!(
        SoftwareKey::from_pkcs8_der(p521.as_ref(), None),
        Err(KeyError::UnsupportedAlgorithm(_))
    ));
}

#[test]
fn encrypted_pem_round_trip_all_algorithms() {
    let pass = test_pass();
    for key in keys() {
        let alg = key.algorithm();
        let der = key.to_pkcs8_der().unwrap();
        let pem = encrypt_pkcs8_pem(&der, &pass).unwrap();
        assert!(
            pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"),
            "{alg}"
        );
        let back = decrypt_pkcs8_pem(&pem, &pass).unwrap();
        assert_eq!(*back, *der, "{alg}");
        let loaded = SoftwareKey::from_pkcs8_der(&back, Some(alg)).unwrap();
        assert_eq!(loaded.public_key_raw(), key.public_key_raw());
    }
}

#[test]
fn encryption_uses_pbkdf2_sha256_600k_aes256cbc() {
    use pkcs8::der::Document;
    use pkcs8::pkcs5::{EncryptionScheme, pbes2};

    let der = key(KeyAlgorithm::EcdsaP256).to_pkcs8_der().unwrap();
    let started = std::time::Instant::now();
    let pem = encrypt_pkcs8_pem(&der, &test_pass()).unwrap();
    let encrypt_time = started.elapsed();
    let (_, doc) = Document::from_pem(&pem).unwrap();
    let info = pkcs8::EncryptedPrivateKeyInfo::try_from(doc.as_bytes()).unwrap();
    let EncryptionScheme::Pbes2(params) = &info.encryption_algorithm else {
        panic!("not PBES2");
    };
    let pbes2::Kdf::Pbkdf2(kdf) = &params.kdf else {
        panic!("not PBKDF2");
    };
    assert_eq!(kdf.iteration_count, PBKDF2_ITERATIONS);
    assert_eq!(kdf.iteration_count, 600_000);
    assert_eq!(kdf.prf, pbes2::Pbkdf2Prf::HmacWithSha256);
    assert_eq!(kdf.salt.len(), 16);
    assert!(matches!(
        params.encryption,
        pbes2::EncryptionScheme::Aes256Cbc { .. }
    ));

    // Two encryptions of the same key differ (fresh salt and IV).
    let pem2 = encrypt_pkcs8_pem(&der, &test_pass()).unwrap();
    assert_ne!(pem, pem2);

    let started = std::time::Instant::now();
    decrypt_pkcs8_pem(&pem, &test_pass()).unwrap();
    eprintln!(
        "PBKDF2-HMAC-SHA256 x{PBKDF2_ITERATIONS}: encrypt {encrypt_time:?}, decrypt {:?}",
        started.elapsed()
    );
}

#[test]
fn wrong_passphrase_is_reported_as_such() {
    let der = key(KeyAlgorithm::Ed25519).to_pkcs8_der().unwrap();
    let pem = encrypt_pkcs8_pem(&der, &test_pass()).unwrap();
    for wrong in [
        "Correct horse battery staple",
        "x",
        "correct horse battery staple ",
    ] {
        match decrypt_pkcs8_pem(&pem, &Passphrase::new(wrong.to_owned())) {
            Err(KeyError::WrongPassphrase) => {}
            other => panic!("expected WrongPassphrase, got {other:?}"),
        }
    }
}

#[test]
fn decrypt_rejects_unencrypted_and_garbage() {
    let pass = test_pass();
    let plain = key(KeyAlgorithm::EcdsaP256).to_pkcs8_pem().unwrap();
    assert!(matches!(
        decrypt_pkcs8_pem(&plain, &pass),
        Err(KeyError::Malformed(_))
    ));
    assert!(matches!(
        decrypt_pkcs8_pem("hello", &pass),
        Err(KeyError::Malformed(_))
    ));
    assert!(matches!(
        decrypt_pkcs8_pem(
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----\n",
            &pass
        ),
        Err(KeyError::Malformed(_))
    ));
    // Empty passphrases are refused when encrypting.
    let der = key(KeyAlgorithm::EcdsaP256).to_pkcs8_der().unwrap();
    assert!(matches!(
        encrypt_pkcs8_pem(&der, &Passphrase::new(String::new())),
        Err(KeyError::EmptyPassphrase(_))
    ));
    assert!(matches!(
        encrypt_pkcs8_pem(b"not der", &pass),
        Err(KeyError::Malformed(_))
    ));
}

#[test]
fn key_file_is_0600_loads_and_is_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ca.key");
    let key = key(KeyAlgorithm::EcdsaP384);
    let pass = test_pass();
    write_key_file(&path, key, &pass).unwrap();
    assert_eq!(mode_of(&path), 0o600);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"));

    let loaded = load_key_file(&path, &pass, Some(KeyAlgorithm::EcdsaP384)).unwrap();
    assert_eq!(loaded.public_key_raw(), key.public_key_raw());
    assert_eq!(loaded.describe(), format!("file:{}", path.display()));
    let loaded = load_key_file(&path, &pass, None).unwrap();
    assert_eq!(loaded.algorithm(), KeyAlgorithm::EcdsaP384);

    // Never overwrites, and leaves no temporary file behind.
    match write_key_file(&path, keys().first().unwrap(), &pass) {
        Err(KeyError::Io { source, .. }) => {
            assert_eq!(source.kind(), std::io::ErrorKind::AlreadyExists)
        }
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("ca.key")]);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);

    // Wrong passphrase and algorithm mismatch through the file path.
    assert!(matches!(
        load_key_file(&path, &Passphrase::new("nope".into()), None),
        Err(KeyError::WrongPassphrase)
    ));
    match load_key_file(&path, &pass, Some(KeyAlgorithm::MlDsa87)) {
        Err(KeyError::AlgorithmMismatch { expected, found }) => {
            assert_eq!(expected, KeyAlgorithm::MlDsa87);
            assert_eq!(found, KeyAlgorithm::EcdsaP384);
        }
        other => panic!("expected AlgorithmMismatch, got {other:?}"),
    }

    // A missing directory is an Io error naming the path.
    let missing = dir.path().join("no/such/dir/ca.key");
    assert!(matches!(
        write_key_file(&missing, key, &pass),
        Err(KeyError::Io { .. })
    ));
    assert!(matches!(
        load_key_file(&missing, &pass, None),
        Err(KeyError::Io { .. })
    ));
}

#[test]
fn load_refuses_group_or_world_accessible_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ca.key");
    let pass = test_pass();
    write_key_file(&path, key(KeyAlgorithm::Ed25519), &pass).unwrap();
    for mode in [0o644, 0o640, 0o604, 0o660] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        match load_key_file(&path, &pass, None) {
            Err(KeyError::Permissions { path: p, mode: m }) => {
                assert_eq!(p, path);
                assert_eq!(m, mode);
            }
            other => panic!("mode {mode:o}: expected Permissions, got {other:?}"),
        }
    }
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
    load_key_file(&path, &pass, Some(KeyAlgorithm::Ed25519)).unwrap();
}

#[test]
fn openssl_reads_our_encrypted_key_files() {
    let dir = tempfile::tempdir().unwrap();
    let pass = Passphrase::generate();
    let passin = format!("pass:{}", pass.expose());
    for alg in [
        KeyAlgorithm::EcdsaP256,
        KeyAlgorithm::Ed25519,
        KeyAlgorithm::Rsa2048,
    ] {
        let key = key(alg);
        let path = dir.path().join(format!("{alg}.key"));
        write_key_file(&path, key, &pass).unwrap();
        let file = path.to_str().unwrap();

        let out = openssl(&["pkey", "-in", file, "-passin", &passin, "-noout"]);
        assert!(
            out.status.success(),
            "{alg}: openssl pkey rejected our key: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // openssl derives the same public key.
        let out = openssl(&[
            "pkey", "-in", file, "-passin", &passin, "-pubout", "-outform", "DER",
        ]);
        assert!(
            out.status.success(),
            "{alg}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.stdout, key.spki_der(), "{alg}: openssl's SPKI differs");
        // And refuses a wrong passphrase.
        let out = openssl(&["pkey", "-in", file, "-passin", "pass:wrong", "-noout"]);
        assert!(
            !out.status.success(),
            "{alg}: openssl accepted a wrong passphrase"
        );
    }
}

#[test]
fn we_read_keys_encrypted_by_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain.pem");
    let out = openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        plain.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pass = test_pass();
    let passout = format!("pass:{}", pass.expose());
    for (name, extra) in [
        ("pbkdf2", &["-v2", "aes-256-cbc", "-iter", "100000"][..]),
        ("scrypt", &["-scrypt"][..]),
    ] {
        let enc = dir.path().join(format!("{name}.pem"));
        let mut args = vec![
            "pkcs8",
            "-topk8",
            "-in",
            plain.to_str().unwrap(),
            "-out",
            enc.to_str().unwrap(),
            "-passout",
            &passout,
        ];
        args.extend_from_slice(extra);
        let out = openssl(&args);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::set_permissions(&enc, std::fs::Permissions::from_mode(0o600)).unwrap();
        let key = load_key_file(&enc, &pass, Some(KeyAlgorithm::EcdsaP256))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let sig = key.sign(b"m").unwrap();
        assert!(verify(
            KeyAlgorithm::EcdsaP256,
            key.public_key_raw(),
            b"m",
            &sig
        ));
    }
}

#[test]
fn rsa_size_is_detected_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let der_path = dir.path().join("rsa3000.der");
    let pem_path = dir.path().join("rsa3000.pem");
    let out = openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:3000",
        "-out",
        pem_path.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = openssl(&[
        "pkcs8",
        "-topk8",
        "-nocrypt",
        "-in",
        pem_path.to_str().unwrap(),
        "-outform",
        "DER",
        "-out",
        der_path.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let der = std::fs::read(&der_path).unwrap();
    match SoftwareKey::from_pkcs8_der(&der, None) {
        Err(KeyError::UnsupportedAlgorithm(what)) => assert_eq!(what, "RSA-3000"),
        other => panic!("expected UnsupportedAlgorithm, got {other:?}"),
    }
}

#[test]
fn rcgen_self_signs_a_ca_certificate_with_every_algorithm() {
    use x509_parser::prelude::FromDer;

    for key in keys() {
        let alg = key.algorithm();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            format!("Mooring test root {alg}"),
        );
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let cert = params
            .self_signed(&RcgenSigner(key))
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
        let (rest, x509) = x509_parser::certificate::X509Certificate::from_der(cert.der())
            .unwrap_or_else(|e| panic!("{alg}: x509-parser: {e}"));
        assert!(rest.is_empty());
        assert_eq!(x509.public_key().raw, key.spki_der().as_slice(), "{alg}");
        assert!(x509.is_ca(), "{alg}");
        assert_eq!(x509.subject(), x509.issuer());
        // The signature over the TBS verifies with the key's public half.
        assert!(
            verify(
                alg,
                key.public_key_raw(),
                x509.tbs_certificate.as_ref(),
                &x509.signature_value.data
            ),
            "{alg}: certificate signature does not verify"
        );
    }
}

#[test]
fn rcgen_signer_maps_errors_to_remote_key_error() {
    struct Broken;
    impl Signer for Broken {
        fn algorithm(&self) -> KeyAlgorithm {
            KeyAlgorithm::EcdsaP256
        }
        fn public_key_raw(&self) -> &[u8] {
            &[4; 65]
        }
        fn spki_der(&self) -> Vec<u8> {
            Vec::new()
        }
        fn sign(&self, _msg: &[u8]) -> Result<Vec<u8>, KeyError> {
            Err(KeyError::Signing)
        }
        fn describe(&self) -> String {
            "test:broken".into()
        }
    }
    let params = rcgen::CertificateParams::new(vec!["x.example".to_owned()]).unwrap();
    assert!(matches!(
        params.self_signed(&RcgenSigner(&Broken)),
        Err(rcgen::Error::RemoteKeyError)
    ));
}

#[test]
fn passphrase_generate_and_file() {
    let a = Passphrase::generate();
    let b = Passphrase::generate();
    assert_eq!(a.expose().len(), 43);
    assert_ne!(a.expose(), b.expose());
    assert!(
        a.expose()
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
    );

    let env = std::env::var(PASSPHRASE_ENV).ok().filter(|v| !v.is_empty());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pass");
    std::fs::write(&file, "s3cret phrase\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let got = Passphrase::from_env_or_file(Some(&file)).unwrap();
    // The environment wins when set (tests cannot change it: no unsafe here).
    assert_eq!(got.expose(), env.as_deref().unwrap_or("s3cret phrase"));

    if env.is_none() {
        std::fs::write(&file, "crlf\r\n").unwrap();
        assert_eq!(
            Passphrase::from_env_or_file(Some(&file)).unwrap().expose(),
            "crlf"
        );
        std::fs::write(&file, "two\n\n").unwrap();
        assert_eq!(
            Passphrase::from_env_or_file(Some(&file)).unwrap().expose(),
            "two\n"
        );
        std::fs::write(&file, "\n").unwrap();
        assert!(matches!(
            Passphrase::from_env_or_file(Some(&file)),
            Err(KeyError::EmptyPassphrase(_))
        ));
        std::fs::write(&file, "ok").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            Passphrase::from_env_or_file(Some(&file)),
            Err(KeyError::Permissions { mode: 0o644, .. })
        ));
        assert!(matches!(
            Passphrase::from_env_or_file(None),
            Err(KeyError::NoPassphrase)
        ));
        assert!(matches!(
            Passphrase::from_env_or_file(Some(&dir.path().join("missing"))),
            Err(KeyError::Io { .. })
        ));
    }
}
