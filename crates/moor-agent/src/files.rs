//! Files on the machine: the current certificate, and atomic replacement of the
//! certificate and key (temporary file in the same directory, fsync, rename, then the
//! directory fsynced), so a crash leaves the old pair or the new one, never half of one.

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
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(file_err(dir))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("moor"),
        std::process::id()
    ));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(file_err(&tmp))?;
    f.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(file_err(&tmp))?;
    f.write_all(bytes).map_err(file_err(&tmp))?;
    f.sync_all().map_err(file_err(&tmp))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(file_err(path))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
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
