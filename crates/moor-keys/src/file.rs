//! Encrypted key files: atomic, no-clobber, owner-only writes and checked loads.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use moor_core::KeyAlgorithm;

use crate::{KeyError, Passphrase, SoftwareKey, decrypt_pkcs8_pem, encrypt_pkcs8_pem};

/// Largest key file we read; an ML-DSA-87 key in any encoding is far smaller.
const MAX_KEY_FILE: u64 = 1 << 20;

/// Removes the temporary file on every early return.
struct TempGuard(Option<PathBuf>);

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn already_exists(path: &Path) -> KeyError {
    KeyError::io(
        path,
        io::Error::new(
            io::ErrorKind::AlreadyExists,
            "refusing to overwrite an existing key file",
        ),
    )
}

/// Writes `key` encrypted under `pass` to `path`, atomically and without
/// ever overwriting an existing file (then [`KeyError::Io`] with
/// `ErrorKind::AlreadyExists`).
///
/// The PEM goes to a temporary file created with mode 0600 in the same
/// directory, is fsynced, hard-linked to `path` (which fails if `path`
/// exists), and the directory is fsynced. On file systems without hard links
/// it falls back to an existence check plus `rename`.
pub fn write_key_file(path: &Path, key: &SoftwareKey, pass: &Passphrase) -> Result<(), KeyError> {
    let pem = {
        let der = key.to_pkcs8_der()?;
        encrypt_pkcs8_pem(&der, pass)?
    };
    let name = path.file_name().ok_or_else(|| {
        KeyError::io(
            path,
            io::Error::new(io::ErrorKind::InvalidInput, "key path has no file name"),
        )
    })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if path.symlink_metadata().is_ok() {
        return Err(already_exists(path));
    }

    let mut suffix = [0u8; 8];
    aws_lc_rs::rand::fill(&mut suffix)
        .map_err(|_| KeyError::Encoding("random file name".into()))?;
    let suffix: String = suffix.iter().map(|b| format!("{b:02x}")).collect();
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp-{suffix}"));
    let tmp = dir.join(tmp_name);

    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| KeyError::io(&tmp, e))?;
    let mut guard = TempGuard(Some(tmp.clone()));
    // The umask can only clear bits of 0600; set it exactly anyway.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(|e| KeyError::io(&tmp, e))?;
    file.write_all(pem.as_bytes())
        .map_err(|e| KeyError::io(&tmp, e))?;
    file.sync_all().map_err(|e| KeyError::io(&tmp, e))?;
    drop(file);

    match std::fs::hard_link(&tmp, path) {
        Ok(()) => {
            // `guard` removes the temporary name; the key stays at `path`.
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(already_exists(path)),
        Err(_) => {
            // No hard links here (e.g. some FUSE or FAT mounts): check, then rename.
            if path.symlink_metadata().is_ok() {
                return Err(already_exists(path));
            }
            std::fs::rename(&tmp, path).map_err(|e| KeyError::io(path, e))?;
            guard.0 = None;
        }
    }
    drop(guard);
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| KeyError::io(dir, e))?;
    Ok(())
}

/// Loads an encrypted key file written by [`write_key_file`] (or any
/// PBES2-encrypted PKCS#8 PEM), refusing a file accessible by group or others
/// ([`KeyError::Permissions`]), detecting the algorithm, and checking it
/// against `expected` if given ([`KeyError::AlgorithmMismatch`]).
pub fn load_key_file(
    path: &Path,
    pass: &Passphrase,
    expected: Option<KeyAlgorithm>,
) -> Result<SoftwareKey, KeyError> {
    let file = File::open(path).map_err(|e| KeyError::io(path, e))?;
    // Check the opened file, not the path, so a swap in between is harmless.
    let meta = file.metadata().map_err(|e| KeyError::io(path, e))?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(KeyError::Permissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    if !meta.is_file() {
        return Err(KeyError::Malformed(format!(
            "{} is not a regular file",
            path.display()
        )));
    }
    let mut pem = String::new();
    file.take(MAX_KEY_FILE + 1)
        .read_to_string(&mut pem)
        .map_err(|e| KeyError::io(path, e))?;
    if pem.len() as u64 > MAX_KEY_FILE {
        return Err(KeyError::Malformed(format!(
            "{} is larger than {MAX_KEY_FILE} bytes",
            path.display()
        )));
    }
    let der = decrypt_pkcs8_pem(&pem, pass)?;
    SoftwareKey::from_pkcs8_der_with_origin(&der, expected, format!("file:{}", path.display()))
}
