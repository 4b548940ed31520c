//! Where the CPU of one issuance goes, step by step, per CA algorithm (no HTTP, no store).
//!
//! `cargo bench -p moor-authority --bench issue_path` prints a table of microseconds per
//! step (median of 5 rounds) and the implied single-core issuances per second.

use std::time::Instant;

use moor_authority::issue::sign_prepared;
use moor_core::KeyAlgorithm;
use moor_core::profile::Profile;
use moor_core::serial::Serial;
use moor_core::template::{IssuerFacts, SubscriberRequest, Urls, prepare};
use moor_keys::{RcgenSigner, Signer, SoftwareKey};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    v[v.len() / 2]
}

/// Microseconds per call of `f`, median of 5 rounds of `n` calls.
fn time<T>(n: usize, mut f: impl FnMut() -> T) -> f64 {
    let mut rounds = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        for _ in 0..n {
            std::hint::black_box(f());
        }
        rounds.push(t.elapsed().as_secs_f64() * 1e6 / n as f64);
    }
    median(rounds)
}

fn main() {
    // A CSR for a P-256 subscriber key, as a client would send.
    let sub = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let mut csr_params =
        rcgen::CertificateParams::new(vec!["bench.example.com".to_string()]).expect("params");
    csr_params.distinguished_name = rcgen::DistinguishedName::new();
    csr_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "bench.example.com");
    let csr_pem = csr_params
        .serialize_request(&sub)
        .expect("csr")
        .pem()
        .expect("pem");
    let profile = Profile::builtins()["tls-server"].clone();
    println!(
        "| CA algorithm | CSR decode+verify µs | prepare µs | lint+sign µs | total µs | issuances/s/core |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for alg in [
        KeyAlgorithm::EcdsaP256,
        KeyAlgorithm::EcdsaP384,
        KeyAlgorithm::Ed25519,
        KeyAlgorithm::Rsa2048,
        KeyAlgorithm::MlDsa65,
    ] {
        let ca = SoftwareKey::generate(alg).expect("ca key");
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
        p.distinguished_name
            .push(rcgen::DnType::CommonName, "Bench CA");
        let ca_der = p.self_signed(&RcgenSigner(&ca)).expect("ca").der().to_vec();
        let facts = IssuerFacts::from_cert_der("bench", &ca_der).expect("facts");
        let urls = Urls::for_issuer("http://pki.example.com", "bench");
        let n = if alg.is_ml_dsa() || alg.is_rsa() {
            200
        } else {
            2000
        };

        let verify = time(n, || {
            let der = moor_core::csr::decode_csr_input(csr_pem.as_bytes()).expect("decode");
            moor_core::csr::verify_csr(&der).expect("verify")
        });
        let csr = moor_core::csr::verify_csr(
            &moor_core::csr::decode_csr_input(csr_pem.as_bytes()).expect("decode"),
        )
        .expect("verify");
        let req = SubscriberRequest::from_csr(&csr, None);
        let now = time::OffsetDateTime::now_utc();
        let prep = time(n, || {
            prepare(
                &profile,
                &facts,
                &urls,
                req.clone(),
                Serial::random().expect("serial"),
                now,
            )
            .expect("prepare")
        });
        let sign = time(n, || {
            let prepared = prepare(
                &profile,
                &facts,
                &urls,
                req.clone(),
                Serial::random().expect("serial"),
                now,
            )
            .expect("prepare");
            sign_prepared(&ca as &dyn Signer, &ca_der, &req.key, &prepared).expect("sign")
        }) - prep;
        let total = verify + prep + sign;
        println!(
            "| {alg} | {verify:.1} | {prep:.1} | {sign:.1} | {total:.1} | {:.0} |",
            1e6 / total
        );
    }
}
