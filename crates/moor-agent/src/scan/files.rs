//! `moor scan files`: walk paths and record the certificates, OpenSSH keys and private-key
//! files found in them, recognised by content, never by name.
//!
//! Recognised: PEM (`CERTIFICATE`, `TRUSTED CERTIFICATE`, `PKCS7`, `CMS`, every
//! `… PRIVATE KEY`), a DER certificate, DER PKCS#7 certs-only, PKCS#12 (certificates
//! readable with the empty password; a key bag counts as a private key), PKCS#8 DER keys,
//! PuTTY keys, and OpenSSH public keys and certificates (one per line, as in
//! `authorized_keys`). A private key is recorded as existing, with its mode and owner;
//! its content is never read into a result.
//!
//! The walk is bounded ([`FileScanOptions`]): symlinked directories are not followed,
//! symlinked files are, and each file (device and inode) is read once, a regular path
//! preferred over a symlink to it; special files and files over the size limit are
//! skipped. What cannot be read is an `unreadable` result and the walk goes on.

use std::io::Read as _;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use moor_core::discovery::{
    FileResult, KeyFileInfo, MAX_CERTS_PER_LOCATION, MAX_REPORT_ITEMS, SshKeyInfo, describe_stored,
    ssh,
};

use super::ScanError;
use super::pkcs12;

/// The most files one scan may walk.
pub const MAX_FILES: usize = MAX_REPORT_ITEMS;
/// The deepest directory nesting walked.
pub const MAX_DEPTH: usize = 64;
/// The largest file read.
pub const MAX_FILE_SIZE: u64 = 1024 * 1024;

/// How to walk.
#[derive(Debug, Clone)]
pub struct FileScanOptions {
    /// Stop after this many files (1 to [`MAX_FILES`]).
    pub max_files: usize,
    /// Directory levels below a root (at most [`MAX_DEPTH`]).
    pub max_depth: usize,
    /// Larger files are skipped (at most [`MAX_FILE_SIZE`] × 16).
    pub max_file_size: u64,
}

impl Default for FileScanOptions {
    fn default() -> Self {
        FileScanOptions {
            max_files: MAX_FILES,
            max_depth: MAX_DEPTH,
            max_file_size: MAX_FILE_SIZE,
        }
    }
}

impl FileScanOptions {
    /// Check the bounds.
    pub fn validate(&self) -> Result<(), ScanError> {
        if self.max_files == 0 || self.max_files > MAX_FILES {
            return Err(ScanError::BadOption(format!(
                "max files must be 1 to {MAX_FILES}"
            )));
        }
        if self.max_depth > MAX_DEPTH {
            return Err(ScanError::BadOption(format!(
                "max depth must be at most {MAX_DEPTH}"
            )));
        }
        if self.max_file_size == 0 || self.max_file_size > MAX_FILE_SIZE * 16 {
            return Err(ScanError::BadOption(format!(
                "max file size must be 1 to {} bytes",
                MAX_FILE_SIZE * 16
            )));
        }
        Ok(())
    }
}

/// What a file scan found.
#[derive(Debug, Clone, Default)]
pub struct FileScan {
    /// The roots walked, canonical and absolute (those that could be resolved).
    pub roots: Vec<String>,
    /// One result per file holding something (or unreadable), sorted by path.
    pub files: Vec<FileResult>,
    /// Files looked at.
    pub walked: usize,
    /// The walk stopped at `max_files`.
    pub truncated: bool,
}

/// Walk `roots` (files or directories) and describe what each file holds; `now` (Unix
/// seconds) decides `expired`. `progress(done, total)` is called after each file read.
pub fn scan_files(
    roots: &[PathBuf],
    options: &FileScanOptions,
    now: i64,
    mut progress: impl FnMut(usize, usize),
) -> Result<FileScan, ScanError> {
    options.validate()?;
    if roots.is_empty() {
        return Err(ScanError::BadOption("no paths to scan".into()));
    }
    if roots.len() > MAX_FILES {
        return Err(ScanError::TooLarge(format!("more than {MAX_FILES} paths")));
    }
    let mut walk = Walk {
        options,
        scan: FileScan::default(),
        candidates: Vec::new(),
        dirs_seen: std::collections::HashSet::new(),
    };
    for root in roots {
        let shown = std::path::absolute(root).unwrap_or_else(|_| root.clone());
        match std::fs::canonicalize(root) {
            Ok(canonical) => {
                let text = canonical.to_string_lossy().into_owned();
                if !walk.scan.roots.contains(&text) {
                    walk.scan.roots.push(text);
                }
                walk.visit_root(&canonical);
            }
            Err(e) => walk.unreadable(&shown, &e),
        }
        if walk.scan.truncated {
            break;
        }
    }
    // Regular paths first, then symlinks: each file is read once, under its own name
    // when the walk met it.
    let mut candidates = std::mem::take(&mut walk.candidates);
    candidates.sort_by(|a, b| (a.via_link, &a.path).cmp(&(b.via_link, &b.path)));
    let mut seen = std::collections::HashSet::new();
    candidates.retain(|c| seen.insert(c.id));
    let total = candidates.len();
    let mut scan = walk.scan;
    scan.walked = total;
    for (i, c) in candidates.iter().enumerate() {
        if let Some(r) = scan_file(&c.path, options.max_file_size, now) {
            scan.files.push(r);
        }
        progress(i + 1, total);
    }
    scan.files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(scan)
}

/// Read one file and describe what it holds: `None` when it holds nothing recognised (or
/// is not a regular file, or is over `max_size`).
pub fn scan_file(path: &Path, max_size: u64, now: i64) -> Option<FileResult> {
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(O_NONBLOCK)
        .open(path)
    {
        Ok(f) => f,
        Err(e) => return Some(unreadable(path, &e)),
    };
    let meta = match file.metadata() {
        Ok(m) => m,
        Err(e) => return Some(unreadable(path, &e)),
    };
    if !meta.is_file() || meta.len() > max_size {
        return None;
    }
    let mut bytes = Vec::new();
    if let Err(e) = file.take(max_size + 1).read_to_end(&mut bytes) {
        return Some(unreadable(path, &e));
    }
    if bytes.len() as u64 > max_size {
        return None;
    }
    let found = classify(&bytes, now)?;
    let mode = meta.mode() & 0o7777;
    Some(FileResult {
        path: path.to_string_lossy().into_owned(),
        format: found.format.into(),
        certificates: found.certificates,
        ssh: found.ssh,
        private_key: found.key_type.map(|key_type| KeyFileInfo {
            key_type,
            mode,
            uid: meta.uid(),
            readable_by_others: mode & 0o044 != 0,
        }),
        error: found.error,
    })
}

/// What the content of one file holds.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Found {
    /// `pem`, `der`, `pkcs7`, `pkcs12`, `openssh-public-key`, `openssh-certificate`,
    /// `private-key`.
    pub format: &'static str,
    pub certificates: Vec<moor_core::discovery::CertInfo>,
    pub ssh: Vec<SshKeyInfo>,
    /// The kind of private key present (`pkcs8`, `rsa`, `openssh`, `pkcs12`, …).
    pub key_type: Option<String>,
    pub error: Option<String>,
}

/// Recognise the content of a file: `None` when nothing in it is a certificate or key.
pub fn classify(bytes: &[u8], now: i64) -> Option<Found> {
    if bytes.first() == Some(&0x30)
        && let Some(found) = classify_der(bytes, now)
    {
        return Some(found);
    }
    let mut found = Found::default();
    if contains(bytes, b"-----BEGIN ") {
        pem(bytes, now, &mut found);
    }
    if bytes.starts_with(b"PuTTY-User-Key-File-") {
        found.key_type.get_or_insert_with(|| "putty".into());
    }
    if contains(bytes, b"ssh-") || contains(bytes, b"ecdsa-sha2-") {
        ssh_lines(bytes, &mut found);
    }
    found.format = if !found.certificates.is_empty() {
        if found.format.is_empty() {
            "pem"
        } else {
            found.format
        }
    } else if found.ssh.iter().any(|k| k.kind == "ssh-key") {
        "openssh-public-key"
    } else if !found.ssh.is_empty() {
        "openssh-certificate"
    } else if found.key_type.is_some() {
        "private-key"
    } else if !found.format.is_empty() {
        // PKCS#7 blocks with no certificate in them, or a bad one.
        found.format
    } else {
        return None;
    };
    Some(found)
}

/// A whole-file DER structure: PKCS#12, PKCS#7, a certificate or a PKCS#8 key.
fn classify_der(bytes: &[u8], now: i64) -> Option<Found> {
    if pkcs12::looks_like_pkcs12(bytes) {
        let mut found = Found {
            format: "pkcs12",
            ..Found::default()
        };
        match pkcs12::read(bytes) {
            Ok(c) => {
                add_certificates(&mut found, c.certificates, now);
                if c.has_key {
                    found.key_type = Some("pkcs12".into());
                }
                if c.encrypted {
                    found.error = Some("encrypted".into());
                }
            }
            Err(e) => found.error = Some(e.to_string()),
        }
        return Some(found);
    }
    if is_signed_data(bytes) {
        let mut found = Found {
            format: "pkcs7",
            ..Found::default()
        };
        match moor_core::pkcs7::certificates(bytes) {
            Ok(certs) => add_certificates(&mut found, certs, now),
            Err(e) => found.error = Some(e.to_string()),
        }
        return Some(found);
    }
    if let Ok((rest, _)) = x509_parser::parse_x509_certificate(bytes) {
        let der = &bytes[..bytes.len() - rest.len()];
        return Some(Found {
            format: "der",
            certificates: vec![describe_stored(der, now)],
            ..Found::default()
        });
    }
    let key_type = der_private_key(bytes)?;
    Some(Found {
        format: "private-key",
        key_type: Some(key_type.into()),
        ..Found::default()
    })
}

/// `ContentInfo { id-signedData, … }`.
fn is_signed_data(bytes: &[u8]) -> bool {
    const ID_SIGNED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];
    matches!(pkcs12::tlv(bytes), Ok((0x30, info, _))
        if matches!(pkcs12::tlv(info), Ok((0x06, ID_SIGNED_DATA, _))))
}

/// PKCS#8 (RFC 5958): `SEQUENCE { INTEGER 0|1, AlgorithmIdentifier, OCTET STRING … }` or
/// `EncryptedPrivateKeyInfo { AlgorithmIdentifier, OCTET STRING }`. Only the framing is
/// looked at, never the key.
fn der_private_key(bytes: &[u8]) -> Option<&'static str> {
    let (tag, seq, rest) = pkcs12::tlv(bytes).ok()?;
    if tag != 0x30 || !rest.is_empty() {
        return None;
    }
    let (tag, first, after) = pkcs12::tlv(seq).ok()?;
    match tag {
        0x02 if first == [0] || first == [1] => {
            let (tag, alg, after) = pkcs12::tlv(after).ok()?;
            let (oid_tag, _, _) = pkcs12::tlv(alg).ok()?;
            let (key_tag, _, _) = pkcs12::tlv(after).ok()?;
            (tag == 0x30 && oid_tag == 0x06 && key_tag == 0x04).then_some("pkcs8")
        }
        0x30 => {
            let (oid_tag, _, _) = pkcs12::tlv(first).ok()?;
            let (key_tag, _, end) = pkcs12::tlv(after).ok()?;
            (oid_tag == 0x06 && key_tag == 0x04 && end.is_empty()).then_some("encrypted-pkcs8")
        }
        _ => None,
    }
}

/// Read every PEM block: certificates are described, PKCS#7 opened, private keys only
/// named (their body is never decoded).
fn pem(bytes: &[u8], now: i64, found: &mut Found) {
    let text = String::from_utf8_lossy(bytes);
    let mut rest: &str = &text;
    let mut certs = Vec::new();
    let mut cert_blocks = 0usize;
    let mut pkcs7_blocks = 0usize;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + "-----BEGIN ".len()..];
        let Some(end_label) = after.find("-----") else {
            break;
        };
        let label = &after[..end_label];
        if label.len() > 64 || label.contains('\n') {
            rest = after;
            continue;
        }
        let body_start = &after[end_label + 5..];
        let end_marker = format!("-----END {label}-----");
        let Some(body_end) = body_start.find(&end_marker) else {
            break;
        };
        let body = &body_start[..body_end];
        rest = &body_start[body_end + end_marker.len()..];
        match label {
            "CERTIFICATE" | "X509 CERTIFICATE" | "TRUSTED CERTIFICATE" => {
                cert_blocks += 1;
                match decode_body(body) {
                    Some(der) => certs.push(first_tlv(&der).to_vec()),
                    None => {
                        found.error = Some(format!("a {label} block is not base64"));
                    }
                }
            }
            "PKCS7" | "CMS" => {
                pkcs7_blocks += 1;
                match decode_body(body).map(|d| moor_core::pkcs7::certificates(&d)) {
                    Some(Ok(c)) => certs.extend(c),
                    Some(Err(e)) => found.error = Some(e.to_string()),
                    None => found.error = Some(format!("a {label} block is not base64")),
                }
            }
            _ => {
                if let Some(kind) = label.strip_suffix("PRIVATE KEY") {
                    found
                        .key_type
                        .get_or_insert_with(|| private_key_type(kind.trim()));
                }
            }
        }
    }
    if cert_blocks == 0 && pkcs7_blocks > 0 {
        found.format = "pkcs7";
    } else if cert_blocks > 0 {
        found.format = "pem";
    }
    add_certificates(found, certs, now);
}

/// The `key_type` of a `… PRIVATE KEY` PEM label (given without the suffix).
fn private_key_type(prefix: &str) -> String {
    match prefix {
        "" => "pkcs8".into(),
        "ENCRYPTED" => "encrypted-pkcs8".into(),
        p => p.to_ascii_lowercase().replace(' ', "-"),
    }
}

/// Describe `certs` into `found`, at most [`MAX_CERTS_PER_LOCATION`].
fn add_certificates(found: &mut Found, certs: Vec<Vec<u8>>, now: i64) {
    let n = certs.len();
    for der in certs.into_iter().take(MAX_CERTS_PER_LOCATION) {
        found.certificates.push(describe_stored(&der, now));
    }
    if n > MAX_CERTS_PER_LOCATION {
        found.error = Some(format!(
            "{n} certificates: only the first {MAX_CERTS_PER_LOCATION} are recorded"
        ));
    }
}

/// OpenSSH public keys and certificates, one per line.
fn ssh_lines(bytes: &[u8], found: &mut Found) {
    let text = String::from_utf8_lossy(bytes);
    let mut n = 0usize;
    for line in text.lines() {
        if let Some(Ok(k)) = ssh::parse_line(line) {
            n += 1;
            if found.ssh.len() < MAX_CERTS_PER_LOCATION {
                found.ssh.push(k);
            }
        }
    }
    if n > MAX_CERTS_PER_LOCATION {
        found.error = Some(format!(
            "{n} OpenSSH keys: only the first {MAX_CERTS_PER_LOCATION} are recorded"
        ));
    }
}

/// The base64 body of a PEM block, headers (`Proc-Type: …`) skipped.
fn decode_body(body: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let b64: String = body
        .lines()
        .filter(|l| !l.contains(':'))
        .flat_map(|l| l.chars().filter(|c| !c.is_ascii_whitespace()))
        .collect();
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

/// The first DER TLV of `der` (an OpenSSL `TRUSTED CERTIFICATE` has trust settings after
/// the certificate), or all of it when it does not parse.
fn first_tlv(der: &[u8]) -> &[u8] {
    match pkcs12::tlv(der) {
        Ok((_, _, rest)) => &der[..der.len() - rest.len()],
        Err(_) => der,
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn unreadable(path: &Path, e: &std::io::Error) -> FileResult {
    FileResult {
        path: path.to_string_lossy().into_owned(),
        format: "unreadable".into(),
        certificates: Vec::new(),
        ssh: Vec::new(),
        private_key: None,
        error: Some(e.to_string()),
    }
}

/// Opening a FIFO that turned up between the check and the open must not block.
#[cfg(any(target_os = "linux", target_os = "android"))]
const O_NONBLOCK: i32 = 0o4000;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const O_NONBLOCK: i32 = 0x0004;

/// A file to read, and how the walk reached it.
struct Candidate {
    path: PathBuf,
    via_link: bool,
    /// Device and inode of the file itself.
    id: (u64, u64),
}

struct Walk<'a> {
    options: &'a FileScanOptions,
    scan: FileScan,
    candidates: Vec<Candidate>,
    /// Directories already walked (device, inode): overlapping roots are walked once.
    dirs_seen: std::collections::HashSet<(u64, u64)>,
}

impl Walk<'_> {
    fn unreadable(&mut self, path: &Path, e: &std::io::Error) {
        self.scan.files.push(unreadable(path, e));
    }

    fn add_file(&mut self, path: PathBuf, via_link: bool, meta: &std::fs::Metadata) {
        if self.candidates.len() >= self.options.max_files {
            self.scan.truncated = true;
            return;
        }
        self.candidates.push(Candidate {
            path,
            via_link,
            id: (meta.dev(), meta.ino()),
        });
    }

    /// A root: a file (even reached through a symlink), or a directory walked depth first
    /// with a stack (no recursion), entries in name order.
    fn visit_root(&mut self, root: &Path) {
        let meta = match std::fs::metadata(root) {
            Ok(m) => m,
            Err(e) => return self.unreadable(root, &e),
        };
        if meta.is_file() {
            return self.add_file(root.to_path_buf(), false, &meta);
        }
        if !meta.is_dir() {
            return;
        }
        let mut stack = vec![(root.to_path_buf(), 0usize)];
        while let Some((dir, depth)) = stack.pop() {
            if self.scan.truncated {
                return;
            }
            match std::fs::symlink_metadata(&dir) {
                Ok(m) if self.dirs_seen.insert((m.dev(), m.ino())) => {}
                Ok(_) => continue,
                Err(e) => {
                    self.unreadable(&dir, &e);
                    continue;
                }
            }
            let entries = match std::fs::read_dir(&dir) {
                Ok(rd) => rd,
                Err(e) => {
                    self.unreadable(&dir, &e);
                    continue;
                }
            };
            let mut paths = Vec::new();
            for entry in entries {
                match entry {
                    Ok(e) => paths.push(e.path()),
                    Err(e) => self.unreadable(&dir, &e),
                }
                if paths.len() >= MAX_FILES {
                    // A directory this large is not walked to its end.
                    self.scan.truncated = true;
                    break;
                }
            }
            paths.sort();
            // Reversed onto the stack so directories are walked in name order.
            let mut subdirs = Vec::new();
            for path in paths {
                let meta = match std::fs::symlink_metadata(&path) {
                    Ok(m) => m,
                    Err(e) => {
                        self.unreadable(&path, &e);
                        continue;
                    }
                };
                let ft = meta.file_type();
                if ft.is_dir() {
                    if depth < self.options.max_depth {
                        subdirs.push((path, depth + 1));
                    }
                } else if ft.is_file() {
                    self.add_file(path, false, &meta);
                } else if ft.is_symlink() {
                    // Follow to a file; never into a directory (no loops, no escaping).
                    match std::fs::metadata(&path) {
                        Ok(target) if target.is_file() => self.add_file(path, true, &target),
                        Ok(_) => {}
                        Err(e) => self.unreadable(&path, &e),
                    }
                }
                // FIFOs, sockets and devices are skipped.
                if self.scan.truncated {
                    return;
                }
            }
            stack.extend(subdirs.into_iter().rev());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert_der() -> Vec<u8> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let params = rcgen::CertificateParams::new(vec!["a.example".into()]).unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    fn pem_of(label: &str, der: &[u8]) -> String {
        use base64::Engine as _;
        let b = base64::engine::general_purpose::STANDARD.encode(der);
        let mut s = format!("-----BEGIN {label}-----\n");
        for chunk in b.as_bytes().chunks(64) {
            s.push_str(std::str::from_utf8(chunk).unwrap());
            s.push('\n');
        }
        s.push_str(&format!("-----END {label}-----\n"));
        s
    }

    #[test]
    fn recognises_formats_by_content() {
        let der = cert_der();
        let f = classify(&der, 0).unwrap();
        assert_eq!((f.format, f.certificates.len()), ("der", 1));
        let f = classify(pem_of("CERTIFICATE", &der).as_bytes(), 0).unwrap();
        assert_eq!((f.format, f.certificates.len()), ("pem", 1));
        assert!(f.certificates[0].error.is_none());
        let p7 = moor_core::pkcs7::certs_only(&[&der, &der]);
        let f = classify(&p7, 0).unwrap();
        assert_eq!((f.format, f.certificates.len()), ("pkcs7", 2));
        let f = classify(pem_of("PKCS7", &p7).as_bytes(), 0).unwrap();
        assert_eq!((f.format, f.certificates.len()), ("pkcs7", 2));
        // A key with its certificate: one certificate, and the key named, not read.
        let both = format!(
            "{}{}",
            pem_of("EC PRIVATE KEY", b"secret"),
            pem_of("CERTIFICATE", &der)
        );
        let f = classify(both.as_bytes(), 0).unwrap();
        assert_eq!(f.format, "pem");
        assert_eq!(f.key_type.as_deref(), Some("ec"));
        let f = classify(pem_of("OPENSSH PRIVATE KEY", b"x").as_bytes(), 0).unwrap();
        assert_eq!(
            (f.format, f.key_type.as_deref()),
            ("private-key", Some("openssh"))
        );
        let f = classify(pem_of("ENCRYPTED PRIVATE KEY", b"x").as_bytes(), 0).unwrap();
        assert_eq!(f.key_type.as_deref(), Some("encrypted-pkcs8"));
        // Nothing recognised: no result.
        for nothing in [
            &b""[..],
            b"hello",
            b"-----BEGIN CERTIFICATE REQUEST-----\nAA==\n-----END CERTIFICATE REQUEST-----\n",
            &[0x30, 0x03, 0x02, 0x01, 0x00],
        ] {
            assert!(classify(nothing, 0).is_none(), "{nothing:?}");
        }
    }

    #[test]
    fn garbage_never_panics() {
        let der = cert_der();
        let pem = pem_of("CERTIFICATE", &der);
        for n in 0..pem.len() {
            let _ = classify(&pem.as_bytes()[..n], 0);
        }
        for n in 0..der.len() {
            let _ = classify(&der[..n], 0);
        }
        let _ = classify(b"-----BEGIN -----BEGIN ", 0);
        let _ = classify(
            b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----",
            0,
        );
    }

    #[test]
    fn walks_a_tree_and_keeps_going() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("sub")).unwrap();
        std::fs::write(d.join("sub/a.pem"), pem_of("CERTIFICATE", &cert_der())).unwrap();
        std::fs::write(d.join("b.der"), cert_der()).unwrap();
        std::fs::write(d.join("note.txt"), "nothing").unwrap();
        std::os::unix::fs::symlink("sub/a.pem", d.join("link.pem")).unwrap();
        std::os::unix::fs::symlink("missing", d.join("dangling")).unwrap();
        std::os::unix::fs::symlink(".", d.join("loop")).unwrap();
        let mut calls = 0;
        let scan = scan_files(
            &[d.to_path_buf()],
            &FileScanOptions::default(),
            0,
            |_, _| calls += 1,
        )
        .unwrap();
        let got: Vec<(String, String)> = scan
            .files
            .iter()
            .map(|f| {
                let rel = f
                    .path
                    .rsplit_once(d.file_name().unwrap().to_str().unwrap())
                    .unwrap()
                    .1;
                (rel.to_string(), f.format.clone())
            })
            .collect();
        assert_eq!(
            got,
            [
                ("/b.der".to_string(), "der".to_string()),
                ("/dangling".into(), "unreadable".into()),
                ("/sub/a.pem".into(), "pem".into()),
            ]
        );
        assert_eq!(calls, 3);
        assert_eq!(scan.walked, 3);
        assert!(!scan.truncated);
        let scan = scan_files(
            &[d.to_path_buf()],
            &FileScanOptions {
                max_files: 1,
                ..Default::default()
            },
            0,
            |_, _| {},
        )
        .unwrap();
        assert!(scan.truncated);
        assert!(scan_files(&[], &FileScanOptions::default(), 0, |_, _| {}).is_err());
        // A root that does not exist is a result, not a failure.
        let scan =
            scan_files(&[d.join("nope")], &FileScanOptions::default(), 0, |_, _| {}).unwrap();
        assert_eq!(scan.files[0].format, "unreadable");
        assert!(scan.roots.is_empty());
    }
}
