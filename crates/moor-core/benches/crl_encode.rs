//! How fast `moor_core::crl` builds a signed CRL (encode + ECDSA P-256 sign + assemble).
//!
//! ```sh
//! cargo bench -p moor-core --bench crl_encode                 # synthetic 100k and 1M entries
//! cargo bench -p moor-core --bench crl_encode -- a/index.txt  # the `R` lines of openssl index files
//! ```
//!
//! Environment: `CRL_BENCH_RUNS` (default 5) timed runs per set, the table shows medians;
//! `CRL_BENCH_CA=DIR` signs with `DIR/ca.key` (PKCS#8 PEM, P-256) under `DIR/ca.pem`
//! instead of a fresh CA; `CRL_BENCH_OUT=DIR` keeps `DIR/<entries>.crl` (DER, last run),
//! `DIR/<entries>.pem` (the end-to-end output) and `DIR/results.tsv`.
//!
//! Columns: *build* = `tbs_cert_list` + sign + `assemble` (the CRL in memory);
//! *end-to-end* = read the index file, parse it, build, write the CRL as PEM to a file —
//! what `openssl ca -gencrl` does with the same file (bench/crl.sh).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
use base64::Engine;
use moor_core::crl::{self, CrlEntry, CrlParams};
use moor_core::template::IssuerFacts;

/// A revoked set: serial magnitudes in one buffer, no allocation per entry.
struct RevokedSet {
    serials: Vec<u8>,
    /// (offset into `serials`, length, revoked_at, reason)
    rows: Vec<(u32, u8, i64, i32)>,
}

impl RevokedSet {
    fn entries(&self) -> Vec<CrlEntry<'_>> {
        self.rows
            .iter()
            .map(|&(off, len, revoked_at, reason)| CrlEntry {
                serial: &self.serials[off as usize..off as usize + len as usize],
                revoked_at,
                reason,
            })
            .collect()
    }

    /// Deterministic 16-octet serials, revocations over the last 90 days, mixed reasons.
    fn synthetic(n: usize, now: i64) -> RevokedSet {
        let mut serials = Vec::with_capacity(16 * n);
        let mut rows = Vec::with_capacity(n);
        for i in 0..n {
            let s = (i as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835) | 1;
            rows.push((
                serials.len() as u32,
                16,
                now - (i as i64 * 7_776_000 / n as i64),
                [0, 1, 2, 3, 4, 5][i % 6],
            ));
            serials.extend_from_slice(&s.to_be_bytes());
        }
        RevokedSet { serials, rows }
    }

    /// The `R` lines of an `openssl ca` index.txt:
    /// `R \t expiry \t revocationDate[,reason] \t serialHex \t file \t DN`.
    fn from_index(text: &str) -> Result<RevokedSet, String> {
        let mut serials = Vec::with_capacity(text.len() / 4);
        let mut rows = Vec::with_capacity(text.len() / 80);
        for (no, line) in text.lines().enumerate() {
            let bad = |what: &str| format!("index line {}: {what}", no + 1);
            let mut f = line.split('\t');
            if f.next() != Some("R") {
                continue;
            }
            let _expiry = f.next();
            let rev = f.next().ok_or_else(|| bad("no revocation field"))?;
            let hex = f.next().ok_or_else(|| bad("no serial"))?;
            let (date, reason) = rev.split_once(',').unwrap_or((rev, ""));
            let reason = match reason {
                "" => 0,
                "unspecified" => 0,
                "keyCompromise" => 1,
                "CACompromise" => 2,
                "affiliationChanged" => 3,
                "superseded" => 4,
                "cessationOfOperation" => 5,
                other => return Err(bad(&format!("reason {other} not used here"))),
            };
            let revoked_at = parse_asn1_time(date).ok_or_else(|| bad("bad revocation date"))?;
            let hex = hex.trim_start_matches('0');
            let len = hex.len().div_ceil(2);
            if len == 0 || len > 20 {
                return Err(bad("bad serial"));
            }
            let off = serials.len();
            serials.resize(off + len, 0);
            if hex.len() % 2 == 1 {
                let padded = format!("0{hex}");
                hex::decode_to_slice(padded, &mut serials[off..])
            } else {
                hex::decode_to_slice(hex, &mut serials[off..])
            }
            .map_err(|_| bad("serial is not hex"))?;
            rows.push((off as u32, len as u8, revoked_at, reason));
        }
        Ok(RevokedSet { serials, rows })
    }
}

/// `YYMMDDHHMMSSZ` (UTCTime) or `YYYYMMDDHHMMSSZ` → unix seconds.
fn parse_asn1_time(s: &str) -> Option<i64> {
    let digits = s.strip_suffix('Z')?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let num = |r: std::ops::Range<usize>| digits.get(r)?.parse::<i64>().ok();
    let (year, rest) = match digits.len() {
        12 => {
            let yy = num(0..2)?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, 2)
        }
        14 => (num(0..4)?, 4),
        _ => return None,
    };
    let (mo, d) = (num(rest..rest + 2)?, num(rest + 2..rest + 4)?);
    let (h, mi, sec) = (
        num(rest + 4..rest + 6)?,
        num(rest + 6..rest + 8)?,
        num(rest + 8..rest + 10)?,
    );
    // Days from civil (H. Hinnant).
    let y = if mo <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + sec)
}

struct Ca {
    cert_pem: String,
    facts: IssuerFacts,
    key: EcdsaKeyPair,
}

fn load_ca(dir: Option<PathBuf>) -> Ca {
    let (cert_der, key_der) = match dir {
        Some(dir) => {
            let pem = |name: &str| {
                let bytes = std::fs::read(dir.join(name))
                    .unwrap_or_else(|e| panic!("{}: {e}", dir.join(name).display()));
                x509_parser::pem::parse_x509_pem(&bytes)
                    .unwrap_or_else(|e| panic!("{name}: not PEM: {e}"))
                    .1
                    .contents
            };
            (pem("ca.pem"), pem("ca.key"))
        }
        None => {
            let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
            let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
            p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            p.key_usages = vec![
                rcgen::KeyUsagePurpose::KeyCertSign,
                rcgen::KeyUsagePurpose::CrlSign,
            ];
            p.distinguished_name
                .push(rcgen::DnType::CommonName, "Bench CRL CA");
            let cert = p.self_signed(&key).expect("CA");
            (cert.der().to_vec(), key.serialize_der())
        }
    };
    let facts = IssuerFacts::from_cert_der("bench", &cert_der).expect("CA facts");
    let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &key_der)
        .expect("CA key must be a P-256 PKCS#8 key");
    let cert_pem = pem("CERTIFICATE", &cert_der);
    Ca {
        cert_pem,
        facts,
        key,
    }
}

/// Build and sign the CRL; returns (DER, encode, sign, assemble durations).
fn build(ca: &Ca, alg: &[u8], now: i64, set: &RevokedSet) -> (Vec<u8>, [Duration; 3]) {
    let entries = set.entries();
    let params = CrlParams {
        issuer_name_der: &ca.facts.subject_der,
        authority_key_id: &ca.facts.ski,
        number: 1,
        this_update: now,
        next_update: now + 7 * 86_400,
        delta_base: None,
        freshest_crl_url: None,
        signature_algorithm_der: alg,
    };
    let t0 = Instant::now();
    let tbs = crl::tbs_cert_list(&params, &entries).expect("encode");
    let t1 = Instant::now();
    let sig = ca.key.sign(&SystemRandom::new(), &tbs).expect("sign");
    let t2 = Instant::now();
    let der = crl::assemble(&tbs, alg, sig.as_ref());
    let t3 = Instant::now();
    (der, [t1 - t0, t2 - t1, t3 - t2])
}

/// PEM with 64-column lines, written in one pass into one buffer.
fn pem(label: &str, der: &[u8]) -> String {
    let lines = der.len().div_ceil(48);
    let mut out = String::with_capacity(lines * 65 + 2 * label.len() + 40);
    out.push_str(&format!("-----BEGIN {label}-----\n"));
    let mut buf = [0u8; 64];
    for chunk in der.chunks(48) {
        let n = base64::engine::general_purpose::STANDARD
            .encode_slice(chunk, &mut buf)
            .expect("64 bytes hold 48 encoded");
        out.push_str(std::str::from_utf8(&buf[..n]).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn main() {
    let runs: usize = std::env::var("CRL_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n >= 1)
        .unwrap_or(5);
    let out_dir = std::env::var_os("CRL_BENCH_OUT").map(PathBuf::from);
    if let Some(d) = &out_dir {
        std::fs::create_dir_all(d).expect("CRL_BENCH_OUT");
    }
    let ca = load_ca(std::env::var_os("CRL_BENCH_CA").map(PathBuf::from));
    let alg = crl::algorithm_identifier_der(ca.facts.algorithm);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    // `cargo bench` appends `--bench`; everything else is an index file.
    let indexes: Vec<PathBuf> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .map(PathBuf::from)
        .collect();
    let scratch = out_dir.clone().unwrap_or_else(std::env::temp_dir);
    if let Some(d) = &out_dir {
        std::fs::write(d.join("ca.pem"), &ca.cert_pem).expect("write ca.pem");
    }

    let mut tsv = String::from(
        "entries\tbuild_median_s\tbuild_min_s\tbuild_max_s\te2e_median_s\tcrl_bytes\n",
    );
    println!(
        "| entries | encode s | sign s | assemble s | build+sign s (median) | min–max | end-to-end s (median) | CRL MB |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    let sets: Vec<(Option<&Path>, RevokedSet)> = if indexes.is_empty() {
        vec![
            (None, RevokedSet::synthetic(100_000, now)),
            (None, RevokedSet::synthetic(1_000_000, now)),
        ]
    } else {
        indexes
            .iter()
            .map(|p| {
                let text =
                    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                let set = RevokedSet::from_index(&text).unwrap_or_else(|e| panic!("{e}"));
                (Some(p.as_path()), set)
            })
            .collect()
    };
    for (index, set) in &sets {
        let n = set.rows.len();
        let _ = build(&ca, &alg, now, set); // warm-up
        let (mut enc, mut sig, mut asm, mut total) = (vec![], vec![], vec![], vec![]);
        let mut last = Vec::new();
        for _ in 0..runs {
            let (der, [a, b, c]) = build(&ca, &alg, now, set);
            enc.push(a.as_secs_f64());
            sig.push(b.as_secs_f64());
            asm.push(c.as_secs_f64());
            total.push((a + b + c).as_secs_f64());
            last = der;
        }
        // End to end, as `openssl ca -gencrl` does it: read + parse the index, build, write PEM.
        let mut e2e = vec![];
        let pem_path = scratch.join(format!("{n}.pem"));
        if let Some(path) = index {
            for _ in 0..runs {
                let t = Instant::now();
                let text = std::fs::read_to_string(path).expect("index");
                let set = RevokedSet::from_index(&text).expect("index");
                let (der, _) = build(&ca, &alg, now, &set);
                std::fs::write(&pem_path, pem("X509 CRL", &der)).expect("write PEM");
                e2e.push(t.elapsed().as_secs_f64());
            }
        }
        let (lo, hi) = (
            total.iter().copied().fold(f64::INFINITY, f64::min),
            total.iter().copied().fold(0.0, f64::max),
        );
        let e2e_median = if e2e.is_empty() {
            f64::NAN
        } else {
            median(&mut e2e)
        };
        let build_median = median(&mut total);
        println!(
            "| {n} | {:.4} | {:.4} | {:.4} | {build_median:.4} | {lo:.4}–{hi:.4} | {} | {:.1} |",
            median(&mut enc),
            median(&mut sig),
            median(&mut asm),
            if e2e_median.is_nan() {
                "—".to_string()
            } else {
                format!("{e2e_median:.4}")
            },
            last.len() as f64 / 1e6
        );
        tsv.push_str(&format!(
            "{n}\t{build_median:.4}\t{lo:.4}\t{hi:.4}\t{e2e_median:.4}\t{}\n",
            last.len()
        ));
        if let Some(d) = &out_dir {
            std::fs::write(d.join(format!("{n}.crl")), &last).expect("write CRL");
        } else {
            std::fs::remove_file(&pem_path).ok();
        }
    }
    if let Some(d) = &out_dir {
        std::fs::write(d.join("results.tsv"), tsv).expect("results.tsv");
    }
}
