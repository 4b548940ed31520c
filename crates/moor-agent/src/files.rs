//! Files on the machine: the current certificate, and atomic replacement of the
//! certificate and key (temporary files in the same directory, both written and fsynced
//! before either is renamed, then the directory fsynced). A crash between the two renames
//! can still leave a new key beside the old certificate; the agent checks that the pair
//! matches before every use and starts over (with its token) when it does not.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::AgentError;

fn file_err(path: &Path) -> impl Fn(std::io::Error) -> AgentError + '_ {
    move |error| AgentError::File {
        path: path.display().to_string(),
        error,
    }
}

/// Write `bytes` to `path` atomically with `mode` (an existing file's mode is kept for
/// certificates; keys are always 0600).
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), AgentError> {
    let tmp = write_temp(path, bytes, mode)?;
    commit(&tmp, path)
}

/// Write `bytes` beside `path` under a fresh random name (created exclusively, so a planted
/// file or symlink is never followed), fsynced; returns the temporary path.
pub fn write_temp(path: &Path, bytes: &[u8], mode: u32) -> Result<std::path::PathBuf, AgentError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(file_err(dir))?;
    let mut rnd = [0u8; 8];
    aws_lc_rs::rand::fill(&mut rnd)
        .map_err(|_| AgentError::Key("the OS random generator failed".into()))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("moor"),
        rnd.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(file_err(&tmp))?;
    f.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(file_err(&tmp))?;
    f.write_all(bytes).map_err(file_err(&tmp))?;
    f.sync_all().map_err(file_err(&tmp))?;
    Ok(tmp)
}

/// Rename a temporary file written by [`write_temp`] over `path`, then fsync the directory.
pub fn commit(tmp: &Path, path: &Path) -> Result<(), AgentError> {
    std::fs::rename(tmp, path).map_err(file_err(path))?;
    if let Ok(d) = std::fs::File::open(path.parent().unwrap_or(Path::new("."))) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// The SubjectPublicKeyInfo (DER) of a PEM private key.
pub fn key_spki(key_pem: &str) -> Option<Vec<u8>> {
    rcgen::KeyPair::from_pem(key_pem)
        .ok()
        .map(|k| rcgen::PublicKeyData::subject_public_key_info(&k))
}

/// The SubjectPublicKeyInfo (DER) of a DER certificate.
pub fn cert_spki(der: &[u8]) -> Option<Vec<u8>> {
    let (_, c) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(c.public_key().raw.to_vec())
}

/// Whether the key file holds the key of the certificate `der`.
pub fn key_matches(der: &[u8], key: &Path) -> bool {
    let Ok(key_pem) = std::fs::read_to_string(key) else {
        return false;
    };
    match (cert_spki(der), key_spki(&key_pem)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// The mode a certificate file keeps (0644 when new).
pub fn cert_mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(0o644)
}

/// The current certificate's validity `(not_before, not_after)` and DER, if the file holds
/// a certificate.
pub fn current(path: &Path) -> Option<(i64, i64, Vec<u8>)> {
    let pem = std::fs::read(path).ok()?;
    let (_, p) = x509_parser::pem::parse_x509_pem(&pem).ok()?;
    let (_, cert) = x509_parser::parse_x509_certificate(&p.contents).ok()?;
    let v = cert.validity();
    Some((
        v.not_before.timestamp(),
        v.not_after.timestamp(),
        p.contents.clone(),
    ))
}
