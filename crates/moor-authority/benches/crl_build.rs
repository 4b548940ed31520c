//! How long a full CRL takes to build and sign at scale (issue 3 target: 1,000,000 entries
//! in under 1 s). `cargo bench -p moor-authority --bench crl_build [N]` prints a table.

use std::time::Instant;

use moor_authority::crl::sign_crl;
use moor_core::KeyAlgorithm;
use moor_core::crl::CrlEntry;
use moor_core::serial::Serial;
use moor_keys::{RcgenSigner, SoftwareKey};
use moor_store::RevokedEntry;

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![1_000, 100_000, 1_000_000]
    } else {
        sizes
    };
    let ca = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).expect("key");
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    p.distinguished_name
        .push(rcgen::DnType::CommonName, "Bench CA");
    let ca_der = p.self_signed(&RcgenSigner(&ca)).expect("ca").der().to_vec();
    let facts = moor_core::template::IssuerFacts::from_cert_der("bench", &ca_der).expect("facts");
    println!("| entries | build+sign (s) | CRL size (MB) |");
    println!("|---:|---:|---:|");
    for n in sizes {
        let entries: Vec<RevokedEntry> = (0..n)
            .map(|i| RevokedEntry {
                serial_hex: format!(
                    "{:032x}",
                    (i as u128).wrapping_mul(0x9e3779b97f4a7c15f39cc0605cedc835) | (1 << 120)
                ),
                revoked_at: 1_700_000_000 + i as i64,
                reason: (i % 6) as i32,
                revocation_seq: i as i64 + 1,
                not_after: 1_900_000_000,
            })
            .collect();
        let t = Instant::now();
        // What the builder does per build: decoded serials in, encode + sign.
        let serials: Vec<Serial> = entries
            .iter()
            .map(|e| Serial::from_hex(&e.serial_hex).expect("hex"))
            .collect();
        let list: Vec<CrlEntry<'_>> = entries
            .iter()
            .zip(&serials)
            .map(|(e, s)| CrlEntry {
                serial: s.as_bytes(),
                revoked_at: e.revoked_at,
                reason: e.reason,
            })
            .collect();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let der = sign_crl(
            &ca,
            &ca_der,
            &facts.ski,
            1,
            None,
            Some("http://127.0.0.1:8080/crl/bench-delta.crl"),
            now,
            now + 7 * 86_400,
            &list,
        )
        .expect("crl");
        println!(
            "| {n} | {:.3} | {:.1} |",
            t.elapsed().as_secs_f64(),
            der.len() as f64 / 1e6
        );
    }
}
