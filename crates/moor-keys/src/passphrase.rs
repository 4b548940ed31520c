//! The CA key passphrase: where it comes from, and wiping it after use.

use std::fmt;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use base64::Engine;
use zeroize::Zeroizing;

use crate::KeyError;

/// The environment variable [`Passphrase::from_env_or_file`] reads first.
pub const PASSPHRASE_ENV: &str = "MOORING_CA_PASSPHRASE";

/// Longest passphrase file we read (a passphrase, not a document).
const MAX_PASSPHRASE_FILE: u64 = 4096;

/// A passphrase, zeroized on drop; `Debug` prints `Passphrase(..)`.
pub struct Passphrase(Zeroizing<String>);

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passphrase(..)")
    }
}

impl Passphrase {
    /// Wraps a passphrase; the string is wiped when the `Passphrase` drops.
    pub fn new(s: String) -> Self {
        Passphrase(Zeroizing::new(s))
    }

    /// Reads the passphrase from the environment variable
    /// `MOORING_CA_PASSPHRASE` if it is set and non-empty, else from the file
    /// at `file` (one trailing newline trimmed; the file must not be group or
    /// world accessible), else fails with [`KeyError::NoPassphrase`].
    pub fn from_env_or_file(file: Option<&Path>) -> Result<Self, KeyError> {
        match std::env::var(PASSPHRASE_ENV) {
            Ok(value) => {
                let value = Zeroizing::new(value);
                if !value.is_empty() {
                    return Ok(Passphrase(value));
                }
            }
            Err(std::env::VarError::NotPresent) => {}
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(KeyError::Malformed(format!(
                    "{PASSPHRASE_ENV} is not valid UTF-8"
                )));
            }
        }
        match file {
            Some(path) => Self::from_file(path),
            None => Err(KeyError::NoPassphrase),
        }
    }

    /// Reads a passphrase file, refusing one accessible by group or others.
    fn from_file(path: &Path) -> Result<Self, KeyError> {
        let mut f = std::fs::File::open(path).map_err(|e| KeyError::io(path, e))?;
        // Check the opened file itself, not the path, so a swap in between is harmless.
        let meta = f.metadata().map_err(|e| KeyError::io(path, e))?;
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(KeyError::Permissions {
                path: path.to_path_buf(),
                mode,
            });
        }
        if meta.len() > MAX_PASSPHRASE_FILE {
            return Err(KeyError::Malformed(format!(
                "passphrase file {} is larger than {MAX_PASSPHRASE_FILE} bytes",
                path.display()
            )));
        }
        // Pre-size so reading never reallocates (and leaves no unwiped copy).
        let mut bytes = Zeroizing::new(Vec::with_capacity(MAX_PASSPHRASE_FILE as usize + 1));
        (&mut f)
            .take(MAX_PASSPHRASE_FILE + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| KeyError::io(path, e))?;
        if bytes.len() as u64 > MAX_PASSPHRASE_FILE {
            return Err(KeyError::Malformed(format!(
                "passphrase file {} is larger than {MAX_PASSPHRASE_FILE} bytes",
                path.display()
            )));
        }
        if bytes.last() == Some(&b'\n') {
            bytes.pop();
            if bytes.last() == Some(&b'\r') {
                bytes.pop();
            }
        }
        if bytes.is_empty() {
            return Err(KeyError::EmptyPassphrase(path.display().to_string()));
        }
        let s = std::str::from_utf8(&bytes).map_err(|_| {
            KeyError::Malformed(format!(
                "passphrase file {} is not valid UTF-8",
                path.display()
            ))
        })?;
        Ok(Passphrase::new(s.to_owned()))
    }

    /// Generates a random passphrase: 32 bytes from the system CSPRNG
    /// (aws-lc-rs), base64url without padding (43 characters).
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        // aws-lc's RAND_bytes "writes |len| bytes of random data to |buf| and
        // returns one. In the event that sufficient random data can not be
        // obtained, |abort| is called" (openssl/rand.h), so `fill` cannot
        // return Err here.
        #[allow(clippy::expect_used)]
        aws_lc_rs::rand::fill(bytes.as_mut()).expect("aws-lc RAND_bytes never fails");
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        // Exactly 43 characters: pre-sized so encoding never reallocates.
        let mut s = Zeroizing::new(String::with_capacity(44));
        engine.encode_string(bytes.as_ref(), &mut s);
        Passphrase(s)
    }

    /// The passphrase text. Do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}
