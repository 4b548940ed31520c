//! The error type of every key operation.

use std::path::PathBuf;

use moor_core::KeyAlgorithm;

/// Why a key operation failed. Never carries key material or passphrases.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Reading or writing a key or passphrase file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file (or directory) concerned.
        path: PathBuf,
        /// The underlying error (`AlreadyExists` when refusing to overwrite).
        #[source]
        source: std::io::Error,
    },
    /// The passphrase does not decrypt the key (or the ciphertext is corrupted).
    #[error("wrong passphrase for the encrypted private key (or the key file is corrupted)")]
    WrongPassphrase,
    /// The key data is not well-formed (PEM, PKCS#8, or the key itself).
    #[error("malformed key: {0}")]
    Malformed(String),
    /// The key uses an algorithm (or parameter set) Mooring does not support.
    #[error("unsupported key algorithm: {0}")]
    UnsupportedAlgorithm(String),
    /// The key is of a different algorithm than the one configured.
    #[error("key algorithm mismatch: expected {expected}, found {found}")]
    AlgorithmMismatch {
        /// The algorithm the caller asked for.
        expected: KeyAlgorithm,
        /// The algorithm of the key actually found.
        found: KeyAlgorithm,
    },
    /// The cryptographic library failed to produce a signature.
    #[error("signing failed")]
    Signing,
    /// Key generation failed in the cryptographic library.
    #[error("generating a {0} key failed")]
    Generation(KeyAlgorithm),
    /// Encrypting or encoding a private key failed.
    #[error("encoding the private key failed: {0}")]
    Encoding(String),
    /// A key or passphrase file is accessible by group or others.
    #[error(
        "{} has mode {mode:04o}; key and passphrase files must not be accessible by group or others (chmod 600)",
        path.display()
    )]
    Permissions {
        /// The file concerned.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// No passphrase was configured.
    #[error("no CA key passphrase: set MOORING_CA_PASSPHRASE or configure a passphrase file")]
    NoPassphrase,
    /// The passphrase source exists but holds an empty passphrase.
    #[error("empty passphrase ({0})")]
    EmptyPassphrase(String),
}

impl KeyError {
    /// Wraps an I/O error with the path it happened on.
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        KeyError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
