//! Counters for `/metrics` (Prometheus text exposition format 0.0.4).
//!
//! Kept in the authority so every front door counts the same events; rendered by the
//! server. Labels are fixed sets (issuer ids, profile names, reason and result codes),
//! never request data, so the series stay bounded.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// A family of counters keyed by label values.
#[derive(Debug, Default)]
struct Family(Mutex<BTreeMap<Vec<String>, u64>>);

impl Family {
    fn inc(&self, labels: &[&str]) {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *m.entry(labels.iter().map(|s| s.to_string()).collect())
            .or_insert(0) += 1;
    }

    fn render(&self, out: &mut String, name: &str, help: &str, label_names: &[&str]) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        let m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for (values, n) in m.iter() {
            let _ = writeln!(out, "{name}{{{}}} {n}", labels(label_names, values));
        }
    }
}

/// `a="x",b="y"` with Prometheus escaping.
pub fn labels(names: &[&str], values: &[String]) -> String {
    names
        .iter()
        .zip(values)
        .map(|(n, v)| {
            format!(
                "{n}=\"{}\"",
                v.replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n")
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The authority's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    issuances: Family,
    revocations: Family,
    ocsp: Family,
    store_seconds: Mutex<(u64, f64)>,
}

impl Metrics {
    /// An issuance attempt ended with `result` (`issued` or a refusal code).
    pub fn issuance(&self, issuer: &str, profile: &str, result: &str) {
        self.issuances.inc(&[issuer, profile, result]);
    }
    /// A certificate was revoked for `reason`.
    pub fn revocation(&self, reason: &str) {
        self.revocations.inc(&[reason]);
    }
    /// An OCSP request was answered with `status`.
    pub fn ocsp(&self, status: &str) {
        self.ocsp.inc(&[status]);
    }
    /// A durable store write took `secs`.
    pub fn store_write(&self, secs: f64) {
        let mut s = self.store_seconds.lock().unwrap_or_else(|e| e.into_inner());
        s.0 += 1;
        s.1 += secs;
    }

    /// The counters in exposition format.
    pub fn render(&self, out: &mut String) {
        self.issuances.render(
            out,
            "mooring_issuances_total",
            "Issuance requests by issuer, profile and result (issued or refusal code).",
            &["issuer", "profile", "result"],
        );
        self.revocations.render(
            out,
            "mooring_revocations_total",
            "Certificates revoked, by RFC 5280 reason.",
            &["reason"],
        );
        self.ocsp.render(
            out,
            "mooring_ocsp_requests_total",
            "OCSP requests by response status.",
            &["status"],
        );
        let s = *self.store_seconds.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(
            out,
            "# HELP mooring_store_issuance_write_seconds Time to commit a certificate with its audit entry.\n# TYPE mooring_store_issuance_write_seconds summary\nmooring_store_issuance_write_seconds_sum {}\nmooring_store_issuance_write_seconds_count {}",
            s.1, s.0
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_exposition_format() {
        let m = Metrics::default();
        m.issuance("default", "tls-server", "issued");
        m.issuance("default", "tls-server", "issued");
        m.issuance("default", "tls\"x", "bad_csr");
        m.revocation("key-compromise");
        m.ocsp("successful");
        m.store_write(0.5);
        let mut s = String::new();
        m.render(&mut s);
        assert!(s.contains("mooring_issuances_total{issuer=\"default\",profile=\"tls-server\",result=\"issued\"} 2"), "{s}");
        assert!(
            s.contains("profile=\"tls\\\"x\""),
            "label values are escaped: {s}"
        );
        assert!(s.contains("mooring_revocations_total{reason=\"key-compromise\"} 1"));
        assert!(s.contains("mooring_store_issuance_write_seconds_count 1"));
        for line in s.lines().filter(|l| !l.starts_with('#')) {
            assert!(
                line.rsplit(' ').next().unwrap().parse::<f64>().is_ok(),
                "{line}"
            );
        }
    }
}
