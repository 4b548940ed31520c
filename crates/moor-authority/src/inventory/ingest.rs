//! A scanner's report becomes store sightings. Nothing in a report is believed but the
//! bytes of each certificate (described again here) and where it was seen; every field
//! is bounded before it reaches the store.

use base64::Engine as _;
use moor_core::discovery::{self, Report};
use moor_store::inventory::{InventoryReport, NewInventoryItem, Sighting};

use crate::AuthorityError;

/// The longest host name, SNI or path kept.
const MAX_NAME: usize = 4096;
/// The largest certificate or SSH blob read.
const MAX_DER: usize = 64 * 1024;

fn bad(msg: String) -> AuthorityError {
    AuthorityError::BadRequest(msg)
}

fn bounded(what: &str, v: &str) -> Result<(), AuthorityError> {
    if v.len() > MAX_NAME || v.chars().any(char::is_control) {
        return Err(bad(format!(
            "{what} {:?}: at most {MAX_NAME} bytes, no control characters",
            v.chars().take(60).collect::<String>()
        )));
    }
    Ok(())
}

/// One certificate of a location, from its base64 DER; None when it is not readable.
/// `served`: its place in a TLS chain (0 = the end-entity); None for a stored certificate.
fn certificate(b64: &str, served: Option<usize>, now: i64) -> Option<NewInventoryItem> {
    if b64.len() > MAX_DER * 4 / 3 + 4 {
        return None;
    }
    let der = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    let info = match served {
        Some(i) => discovery::describe(&der, i == 0, now),
        None => discovery::describe_stored(&der, now),
    };
    if info.error.is_some() {
        return None;
    }
    Some(NewInventoryItem {
        fingerprint: info.fingerprint_sha256,
        kind: "x509".into(),
        subject: info.subject,
        issuer: info.issuer,
        serial_hex: info.serial,
        sans: info.sans,
        key_algorithm: info.key_algorithm,
        signature_algorithm: info.signature_algorithm,
        spki_sha256: info.spki_sha256,
        not_before: info.not_before,
        not_after: info.not_after,
        chain_position: info.position,
        self_signed: info.self_signed,
        der,
    })
}

/// An OpenSSH key or certificate, described again from its blob (only a plain key's
/// comment comes from the report, bounded); None when the blob does not parse.
fn ssh_item(k: &discovery::SshKeyInfo) -> Option<NewInventoryItem> {
    if k.blob.len() > MAX_DER * 4 / 3 + 4 || k.key_type.len() > 64 {
        return None;
    }
    let blob = base64::engine::general_purpose::STANDARD
        .decode(&k.blob)
        .ok()?;
    let clip = |s: &str, n: usize| {
        s.chars()
            .filter(|c| !c.is_control())
            .take(n)
            .collect::<String>()
    };
    let info = discovery::ssh::parse_blob(&k.key_type, &blob, &clip(&k.comment, 256)).ok()?;
    let cert = info.kind == "ssh-cert";
    Some(NewInventoryItem {
        fingerprint: hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &blob)),
        kind: if cert { "ssh-cert" } else { "ssh-key" }.into(),
        subject: clip(&info.comment, 256),
        issuer: info.signing_ca.unwrap_or_default(),
        serial_hex: info.serial.map(|s| format!("{s:x}")).unwrap_or_default(),
        sans: info
            .principals
            .iter()
            .take(256)
            .map(|p| clip(p, 256))
            .collect(),
        key_algorithm: info.key_algorithm,
        signature_algorithm: info.key_type,
        // The key's own fingerprint (the certified key's for a certificate): the same key
        // in several files or certificates shares it.
        spki_sha256: info.fingerprint,
        not_before: info.valid_after.unwrap_or(0),
        not_after: info.valid_before.unwrap_or(i64::MAX),
        chain_position: "leaf".into(),
        self_signed: false,
        der: blob,
    })
}

/// The sightings of a report, and how many certificates could not be read.
pub(super) fn prepare(
    report: Report,
    now: i64,
) -> Result<(InventoryReport, usize), AuthorityError> {
    let items = report.tls.len() + report.files.len();
    if items > discovery::MAX_REPORT_ITEMS || report.file_roots.len() > 1024 {
        return Err(bad(format!(
            "a report has at most {} locations and 1024 roots",
            discovery::MAX_REPORT_ITEMS
        )));
    }
    let host = report.host.trim().to_owned();
    bounded("host", &host)?;
    if host.is_empty() && (!report.files.is_empty() || !report.file_roots.is_empty()) {
        return Err(bad("a file report names its host".into()));
    }
    let mut out = InventoryReport {
        now,
        ..Default::default()
    };
    let mut skipped = 0usize;
    for r in &report.tls {
        bounded("address", &r.address)?;
        let sni = r.sni.clone().unwrap_or_default();
        bounded("sni", &sni)?;
        if r.chain.len() > discovery::MAX_CERTS_PER_LOCATION {
            return Err(bad("a location has at most 64 certificates".into()));
        }
        let endpoint = if r.address.contains(':') {
            format!("[{}]:{}", r.address, r.port)
        } else {
            format!("{}:{}", r.address, r.port)
        };
        let mut items = Vec::new();
        for (i, c) in r.chain.iter().enumerate() {
            match certificate(&c.der, Some(i), now) {
                Some(it) => items.push(it),
                None => skipped += 1,
            }
        }
        out.sightings.push(Sighting {
            kind: "tls".into(),
            host: r.address.clone(),
            endpoint,
            sni,
            authoritative: r.reachable && (r.error.is_none() || !items.is_empty()),
            items,
        });
    }
    for f in &report.files {
        bounded("path", &f.path)?;
        if !f.path.starts_with('/') {
            return Err(bad(format!(
                "file paths are absolute: {:?}",
                f.path.chars().take(60).collect::<String>()
            )));
        }
        if f.certificates.len() + f.ssh.len() > discovery::MAX_CERTS_PER_LOCATION * 16 {
            return Err(bad("a file has at most 1024 certificates and keys".into()));
        }
        let mut items = Vec::new();
        for c in &f.certificates {
            match certificate(&c.der, None, now) {
                Some(it) => items.push(it),
                None => skipped += 1,
            }
        }
        for k in &f.ssh {
            match ssh_item(k) {
                Some(it) => items.push(it),
                None => skipped += 1,
            }
        }
        if let Some(k) = &f.private_key {
            out.key_files.push((
                host.clone(),
                f.path.clone(),
                k.key_type.chars().take(64).collect(),
                i64::from(k.mode & 0o7777),
                i64::from(k.uid),
            ));
        }
        // An unreadable file (or directory) proves nothing about what it holds: its
        // sighting keeps what was recorded there from being marked gone.
        let authoritative = f.error.is_none() || !items.is_empty();
        out.sightings.push(Sighting {
            kind: "file".into(),
            host: host.clone(),
            endpoint: f.path.clone(),
            sni: String::new(),
            items,
            authoritative,
        });
    }
    if !report.file_roots.is_empty() {
        for r in &report.file_roots {
            bounded("root", r)?;
            if !r.starts_with('/') {
                return Err(bad("file roots are absolute paths".into()));
            }
        }
        out.file_scope = Some((host, report.file_roots));
    }
    Ok((out, skipped))
}
