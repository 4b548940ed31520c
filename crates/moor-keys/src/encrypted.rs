//! Password-encrypted PKCS#8 (`ENCRYPTED PRIVATE KEY`, PBES2, RFC 8018).
//!
//! KDF: PBKDF2-HMAC-SHA256 with [`PBKDF2_ITERATIONS`] iterations and a
//! 16-byte random salt; cipher AES-256-CBC with a random IV. scrypt with
//! N=2^15, r=8, p=1 was the alternative, but OpenSSL 3.0 refuses it
//! ("scrypt_alg:memory limit exceeded": its PBES2 path caps scrypt at 32 MiB
//! and N=2^15,r=8 needs slightly more), and the key files must open with
//! `openssl pkey`. PBKDF2-HMAC-SHA256 at 600 000 iterations is OWASP's 2023
//! recommendation, is approved by NIST SP 800-132, and every PKCS#8 reader
//! understands it. Decryption also accepts scrypt-protected files (e.g. from
//! `openssl pkcs8 -topk8 -scrypt`), with bounded parameters.

use pkcs8::der::{Document, Encode as _};
use pkcs8::pkcs5::pbes2::{self, Kdf};
use pkcs8::pkcs5::{self, EncryptionScheme};
use pkcs8::{EncryptedPrivateKeyInfo, LineEnding, PrivateKeyInfo};
use zeroize::Zeroizing;

use crate::{KeyError, Passphrase};

/// PBKDF2-HMAC-SHA256 iteration count for newly encrypted keys (OWASP 2023).
pub const PBKDF2_ITERATIONS: u32 = 600_000;

/// Highest PBKDF2 iteration count accepted when decrypting (bounds the work a
/// crafted file can demand).
const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;
/// Highest scrypt N accepted when decrypting.
const MAX_SCRYPT_N: u64 = 1 << 20;
/// Highest scrypt r·p accepted when decrypting.
const MAX_SCRYPT_RP: u64 = 64;

const ENCRYPTED_LABEL: &str = "ENCRYPTED PRIVATE KEY";

fn random<const N: usize>() -> Result<[u8; N], KeyError> {
    let mut out = [0u8; N];
    aws_lc_rs::rand::fill(&mut out).map_err(|_| KeyError::Encoding("random salt/IV".into()))?;
    Ok(out)
}

/// Encrypts an unencrypted PKCS#8 DER private key under `pass` and returns
/// the PEM (`-----BEGIN ENCRYPTED PRIVATE KEY-----`).
///
/// PBES2 with PBKDF2-HMAC-SHA256 ([`PBKDF2_ITERATIONS`]) and AES-256-CBC;
/// readable by `openssl pkey -in f -passin pass:…`.
pub fn encrypt_pkcs8_pem(pkcs8_der: &[u8], pass: &Passphrase) -> Result<String, KeyError> {
    if pass.expose().is_empty() {
        return Err(KeyError::EmptyPassphrase(
            "refusing to encrypt a key under it".into(),
        ));
    }
    PrivateKeyInfo::try_from(pkcs8_der)
        .map_err(|e| KeyError::Malformed(format!("not a PKCS#8 PrivateKeyInfo: {e}")))?;
    let salt: [u8; 16] = random()?;
    let iv: [u8; 16] = random()?;
    let params = pbes2::Parameters::pbkdf2_sha256_aes256cbc(PBKDF2_ITERATIONS, &salt, &iv)
        .map_err(|e| KeyError::Encoding(format!("PBES2 parameters: {e}")))?;
    // Encrypts in place in its own buffer: no plaintext copy survives.
    let ciphertext = params
        .encrypt(pass.expose().as_bytes(), pkcs8_der)
        .map_err(|e| KeyError::Encoding(format!("PBES2 encryption: {e}")))?;
    let info = EncryptedPrivateKeyInfo {
        encryption_algorithm: params.into(),
        encrypted_data: &ciphertext,
    };
    let der = info
        .to_der()
        .map_err(|e| KeyError::Encoding(format!("EncryptedPrivateKeyInfo: {e}")))?;
    let doc = Document::try_from(der)
        .map_err(|e| KeyError::Encoding(format!("EncryptedPrivateKeyInfo: {e}")))?;
    doc.to_pem(ENCRYPTED_LABEL, LineEnding::LF)
        .map_err(|e| KeyError::Encoding(format!("PEM: {e}")))
}

/// Refuses key-derivation parameters that would make decryption very slow.
fn check_kdf_cost(scheme: &EncryptionScheme<'_>) -> Result<(), KeyError> {
    let params = match scheme {
        EncryptionScheme::Pbes2(params) => params,
        _ => {
            return Err(KeyError::UnsupportedAlgorithm(
                "PBES1 key encryption (re-encrypt the key with PBES2)".into(),
            ));
        }
    };
    match &params.kdf {
        Kdf::Pbkdf2(p) if p.iteration_count > MAX_PBKDF2_ITERATIONS => {
            Err(KeyError::Malformed(format!(
                "PBKDF2 iteration count {} exceeds the limit of {MAX_PBKDF2_ITERATIONS}",
                p.iteration_count
            )))
        }
        Kdf::Scrypt(s)
            if s.cost_parameter > MAX_SCRYPT_N
                || u64::from(s.block_size) * u64::from(s.parallelization) > MAX_SCRYPT_RP =>
        {
            Err(KeyError::Malformed(format!(
                "scrypt parameters N={} r={} p={} exceed the limits N<={MAX_SCRYPT_N}, r*p<={MAX_SCRYPT_RP}",
                s.cost_parameter, s.block_size, s.parallelization
            )))
        }
        _ => Ok(()),
    }
}

/// Decrypts an `ENCRYPTED PRIVATE KEY` PEM with `pass` and returns the
/// PKCS#8 DER, wiped on drop.
///
/// A wrong passphrase (or corrupted ciphertext) gives
/// [`KeyError::WrongPassphrase`]; an unencrypted `PRIVATE KEY` or other
/// structural problems give [`KeyError::Malformed`].
pub fn decrypt_pkcs8_pem(pem: &str, pass: &Passphrase) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let (label, doc) = Document::from_pem(pem.trim())
        .map_err(|e| KeyError::Malformed(format!("not a PEM document: {e}")))?;
    if label != ENCRYPTED_LABEL {
        return Err(KeyError::Malformed(format!(
            "expected an {ENCRYPTED_LABEL} PEM block, found {label:?}"
        )));
    }
    let info = EncryptedPrivateKeyInfo::try_from(doc.as_bytes())
        .map_err(|e| KeyError::Malformed(format!("EncryptedPrivateKeyInfo: {e}")))?;
    check_kdf_cost(&info.encryption_algorithm)?;
    let plain = info
        .decrypt(pass.expose().as_bytes())
        .map_err(|e| match e {
            // Bad padding after CBC decryption (pkcs5 0.7 reports it as
            // `EncryptFailed`), or plaintext that is not DER: the outcomes of
            // a wrong passphrase (or of a corrupted ciphertext).
            pkcs8::Error::EncryptedPrivateKey(
                pkcs5::Error::DecryptFailed | pkcs5::Error::EncryptFailed,
            )
            | pkcs8::Error::Asn1(_) => KeyError::WrongPassphrase,
            pkcs8::Error::EncryptedPrivateKey(pkcs5::Error::UnsupportedAlgorithm { oid }) => {
                KeyError::UnsupportedAlgorithm(format!("key encryption algorithm {oid}"))
            }
            other => KeyError::Malformed(format!("encrypted private key: {other}")),
        })?;
    if PrivateKeyInfo::try_from(plain.as_bytes()).is_err() {
        // Valid padding and a DER header by chance, but not a PKCS#8 key.
        return Err(KeyError::WrongPassphrase);
    }
    Ok(plain.to_bytes())
}
