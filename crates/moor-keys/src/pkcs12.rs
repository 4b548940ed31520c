//! PKCS#12 / PFX export (RFC 7292) of a private key with its certificate
//! chain, for server-side key generation.
//!
//! [`to_pkcs12`] writes the layout OpenSSL 3's `openssl pkcs12 -export`
//! writes by default, except that the certificates are not encrypted:
//!
//! ```text
//! PFX, version 3                                                 RFC 7292 §4
//! ├─ authSafe: ContentInfo `data` → AuthenticatedSafe            §4.1
//! │  ├─ ContentInfo `data` → SafeContents                        §4.2
//! │  │  ├─ certBag x509Certificate: the leaf  [friendlyName, localKeyId]  §4.2.3
//! │  │  └─ certBag x509Certificate: each chain certificate, in order
//! │  └─ ContentInfo `data` → SafeContents
//! │     └─ pkcs8ShroudedKeyBag                [friendlyName, localKeyId]  §4.2.2
//! └─ macData: HMAC-SHA256, key from the Appendix B KDF           §4, App. B
//! ```
//!
//! Choices:
//!
//! - The key is PBES2-encrypted (RFC 8018 §6.2): PBKDF2-HMAC-SHA256 with
//!   [`PKCS12_PBKDF2_ITERATIONS`] (100 000) iterations and a 16-byte random
//!   salt, AES-256-CBC with a random IV. Not the 600 000 of our CA key files: a
//!   PFX is a transport container opened once, by any client, and .NET's
//!   `X509CertificateLoader` refuses by default a PFX whose MAC or any one KDF
//!   takes more than 300 000 iterations, or whose KDFs take more than
//!   1 000 000 together (`Pkcs12LoaderLimits`). 100 000 is ~50 times OpenSSL
//!   3.0's default of 2048.
//! - The MAC key comes from the RFC 7292 Appendix B KDF with SHA-256 and
//!   [`PKCS12_MAC_ITERATIONS`] (200 000) iterations. The MAC checks a password
//!   guess just as well as the key encryption does, so with OpenSSL's 2048
//!   MAC iterations it would be the cheap way to brute-force the password.
//!   One Appendix B iteration is one SHA-256 compression while one PBKDF2-HMAC
//!   iteration is two, so 200 000 makes both checks cost the same (and stays
//!   under .NET's 300 000 MAC limit).
//! - The certificates are stored unencrypted in a plain `data` ContentInfo
//!   (`openssl pkcs12 -export -certpbe NONE`): they are public, encrypting them
//!   would add another 100 000-iteration PBKDF2 to every import (which also
//!   counts against .NET's total), and the MAC still protects their integrity.
//!   Anyone holding the file without the password can read them.
//! - `localKeyId` is the SHA-256 of the leaf certificate (OpenSSL uses SHA-1;
//!   the value is opaque, readers only match it between bags).
//!
//! The DER is written by the small helpers below; object identifiers are
//! `pkcs8::ObjectIdentifier` constants, checked at compile time.

use std::num::NonZeroU32;

use aws_lc_rs::cipher::{AES_256, EncryptionContext, PaddedBlockEncryptingKey, UnboundCipherKey};
use aws_lc_rs::digest;
use aws_lc_rs::hmac;
use aws_lc_rs::pbkdf2;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use pkcs8::ObjectIdentifier;
use pkcs8::der::asn1::AnyRef;
use pkcs8::der::{Decode as _, Reader as _, SliceReader, Tag, TagNumber, Tagged as _};
use zeroize::Zeroizing;

use crate::{KeyError, Passphrase, Signer as _, SoftwareKey};

/// PBKDF2-HMAC-SHA256 iterations protecting the key in a PKCS#12 file (see
/// the module documentation for why not 600 000).
pub const PKCS12_PBKDF2_ITERATIONS: u32 = 100_000;

/// Iterations of the RFC 7292 Appendix B KDF deriving the PKCS#12 MAC key
/// (twice [`PKCS12_PBKDF2_ITERATIONS`]: same cost per password guess).
pub const PKCS12_MAC_ITERATIONS: u32 = 200_000;

/// `PKCS12_PBKDF2_ITERATIONS` as the non-zero type aws-lc-rs wants. Evaluated
/// at compile time: a zero constant fails the build, never a running server.
const KEY_ITERATIONS: NonZeroU32 = const_nonzero(PKCS12_PBKDF2_ITERATIONS);
/// `PKCS12_MAC_ITERATIONS`, likewise checked at compile time.
const MAC_ITERATIONS: NonZeroU32 = const_nonzero(PKCS12_MAC_ITERATIONS);

/// The RFC 7292 Appendix B.3 ID byte for deriving MAC keys.
const KDF_ID_MAC: u8 = 3;
/// Length of every random salt and of the AES-CBC IV.
const SALT_LEN: usize = 16;

// Object identifiers (RFC 7292 Appendix D, RFC 8018 Appendix C, RFC 5652).
/// id-data (PKCS#7 / CMS data content type).
const OID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
/// pkcs-12 pkcs8ShroudedKeyBag.
const OID_SHROUDED_KEY_BAG: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.10.1.2");
/// pkcs-12 certBag.
const OID_CERT_BAG: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.10.1.3");
/// pkcs-9 certTypes x509Certificate.
const OID_X509_CERTIFICATE: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.22.1");
/// pkcs-9 friendlyName.
const OID_FRIENDLY_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.20");
/// pkcs-9 localKeyId.
const OID_LOCAL_KEY_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.21");
/// id-PBES2.
const OID_PBES2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.5.13");
/// id-PBKDF2.
const OID_PBKDF2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.5.12");
/// id-hmacWithSHA256.
const OID_HMAC_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.2.9");
/// aes256-CBC-PAD.
const OID_AES_256_CBC: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.42");
/// id-sha256.
const OID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");

// DER tags (X.690).
const TAG_INTEGER: u8 = 0x02;
const TAG_OCTET_STRING: u8 = 0x04;
const TAG_NULL: u8 = 0x05;
const TAG_OID: u8 = 0x06;
const TAG_BMP_STRING: u8 = 0x1E;
const TAG_SEQUENCE: u8 = 0x30;
const TAG_SET: u8 = 0x31;
/// `[0]` constructed, for `[0] EXPLICIT`.
const TAG_EXPLICIT_0: u8 = 0xA0;

/// Builds a PKCS#12 PFX (RFC 7292) holding the private key `pkcs8_der`
/// (unencrypted PKCS#8 DER) and `certs` (DER; the leaf first, then its chain),
/// protected by `password`, that `openssl pkcs12` and other PKCS#12 readers
/// import.
///
/// - The key goes into a pkcs8ShroudedKeyBag (§4.2.2): PBES2 with
///   PBKDF2-HMAC-SHA256 ([`PKCS12_PBKDF2_ITERATIONS`]) and AES-256-CBC; the
///   PBKDF2 password is the UTF-8 passphrase, as OpenSSL uses it.
/// - Each certificate goes into a certBag (§4.2.3, x509Certificate), all in one
///   unencrypted `data` ContentInfo (§4.1).
/// - The key bag and the leaf's certBag carry a localKeyId attribute (SHA-256
///   of the leaf) and, unless `friendly_name` is empty, a friendlyName (§4.2,
///   PKCS#9) — the name readers show for the entry.
/// - The whole is authenticated by MacData (§4): HMAC-SHA256 under a key from
///   the Appendix B KDF (ID 3, SHA-256, [`PKCS12_MAC_ITERATIONS`]) over the
///   passphrase as a NUL-terminated big-endian UTF-16 string (Appendix B.1).
///
/// Errors: [`KeyError::EmptyPassphrase`] for an empty passphrase;
/// [`KeyError::Malformed`] or [`KeyError::UnsupportedAlgorithm`] if
/// `pkcs8_der` is not a key [`SoftwareKey`] reads; [`KeyError::Malformed`] if
/// `certs` is empty, a certificate is not DER, the leaf certifies another key,
/// or `friendly_name` has a character outside the Basic Multilingual Plane
/// (a BMPString cannot hold it); [`KeyError::Encoding`] if the crypto library
/// fails.
pub fn to_pkcs12(
    pkcs8_der: &[u8],
    certs: &[&[u8]],
    password: &Passphrase,
    friendly_name: &str,
) -> Result<Vec<u8>, KeyError> {
    if password.expose().is_empty() {
        return Err(KeyError::EmptyPassphrase(
            "refusing to protect a PKCS#12 file with it".into(),
        ));
    }
    let Some((&leaf, chain)) = certs.split_first() else {
        return Err(KeyError::Malformed(
            "a PKCS#12 export needs the certificate of the key".into(),
        ));
    };
    check_leaf_matches_key(pkcs8_der, leaf)?;
    for (i, cert) in chain.iter().enumerate() {
        let any = AnyRef::from_der(cert).map_err(|e| {
            KeyError::Malformed(format!("chain certificate {} is not DER: {e}", i + 1))
        })?;
        if any.tag() != Tag::Sequence {
            return Err(KeyError::Malformed(format!(
                "chain certificate {} is not an X.509 certificate",
                i + 1
            )));
        }
    }
    let name = if friendly_name.is_empty() {
        None
    } else {
        Some(bmp_string(friendly_name)?)
    };
    let local_key_id = digest::digest(&digest::SHA256, leaf);
    let attributes = bag_attributes(name.as_deref(), local_key_id.as_ref());

    // SafeContents with the certificates (§4.2.3): the leaf carries the attributes.
    let mut cert_bags = Vec::with_capacity(certs.len());
    for (i, cert) in certs.iter().enumerate() {
        let cert_bag = seq(&[
            &oid(&OID_X509_CERTIFICATE),
            &tlv(TAG_EXPLICIT_0, &octet_string(cert)),
        ]);
        let bag_attrs: &[u8] = if i == 0 { &attributes } else { &[] };
        cert_bags.push(seq(&[
            &oid(&OID_CERT_BAG),
            &tlv(TAG_EXPLICIT_0, &cert_bag),
            bag_attrs,
        ]));
    }
    let cert_safe = tlv(TAG_SEQUENCE, &cert_bags.concat());

    // SafeContents with the key (§4.2.2).
    let shrouded = encrypt_private_key(pkcs8_der, password.expose().as_bytes(), KEY_ITERATIONS)?;
    let key_bag = seq(&[
        &oid(&OID_SHROUDED_KEY_BAG),
        &tlv(TAG_EXPLICIT_0, &shrouded),
        &attributes,
    ]);
    let key_safe = seq(&[&key_bag]);

    // AuthenticatedSafe (§4.1), the content the MAC covers.
    let auth_safe = seq(&[
        &content_info_data(&cert_safe),
        &content_info_data(&key_safe),
    ]);

    // MacData (§4, Appendix B).
    let mac_salt: [u8; SALT_LEN] = random()?;
    let bmp_password = bmp_password(password.expose());
    let mut mac_key = Zeroizing::new([0u8; 32]);
    pkcs12_kdf(
        &digest::SHA256,
        KDF_ID_MAC,
        &bmp_password,
        &mac_salt,
        MAC_ITERATIONS,
        mac_key.as_mut(),
    );
    // `Key::new` panics only if aws-lc's HMAC_Init_ex fails: with SHA-256 and
    // a 32-byte key, only on allocation failure, which aborts anyway.
    let tag = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, mac_key.as_ref()),
        &auth_safe,
    );
    let mac_data = seq(&[
        &seq(&[
            &seq(&[&oid(&OID_SHA256), &null()]),
            &octet_string(tag.as_ref()),
        ]),
        &octet_string(&mac_salt),
        &integer(PKCS12_MAC_ITERATIONS),
    ]);

    Ok(seq(&[
        &integer(3),
        &content_info_data(&auth_safe),
        &mac_data,
    ]))
}

/// Makes `n` a `NonZeroU32`; used only in `const` items, so a zero fails
/// compilation.
const fn const_nonzero(n: u32) -> NonZeroU32 {
    match NonZeroU32::new(n) {
        Some(n) => n,
        None => panic!("iteration counts must not be zero"),
    }
}

/// Random bytes from the system CSPRNG (aws-lc).
fn random<const N: usize>() -> Result<[u8; N], KeyError> {
    let mut out = [0u8; N];
    SystemRandom::new()
        .fill(&mut out)
        .map_err(|_| KeyError::Encoding("random salt/IV".into()))?;
    Ok(out)
}

/// Checks that `pkcs8_der` is a key we read and that the `leaf` certificate
/// (DER) holds its public key, so the PFX cannot pair a key with another
/// key's certificate.
fn check_leaf_matches_key(pkcs8_der: &[u8], leaf: &[u8]) -> Result<(), KeyError> {
    let key = SoftwareKey::from_pkcs8_der(pkcs8_der, None)?;
    let certified = certified_public_key(leaf)
        .map_err(|e| KeyError::Malformed(format!("leaf certificate is not DER X.509: {e}")))?;
    if certified != Some(key.public_key_raw()) {
        return Err(KeyError::Malformed(
            "the leaf certificate certifies another key than the private key".into(),
        ));
    }
    Ok(())
}

/// The subjectPublicKey BIT STRING contents of an X.509 certificate (RFC 5280
/// §4.1), or `None` if it has unused bits.
fn certified_public_key(cert: &[u8]) -> Result<Option<&[u8]>, pkcs8::der::Error> {
    let mut reader = SliceReader::new(cert)?;
    let key = reader.sequence(|certificate| {
        let key = certificate.sequence(|tbs| {
            let version = Tag::ContextSpecific {
                constructed: true,
                number: TagNumber::N0,
            };
            if tbs.peek_tag()? == version {
                AnyRef::decode(tbs)?;
            }
            // serialNumber, signature, issuer, validity, subject.
            for _ in 0..5 {
                AnyRef::decode(tbs)?;
            }
            let spki = pkcs8::SubjectPublicKeyInfoRef::decode(tbs)?;
            // Unique identifiers and extensions.
            tbs.read_slice(tbs.remaining_len())?;
            Ok(spki.subject_public_key.as_bytes())
        })?;
        // signatureAlgorithm, signatureValue.
        certificate.read_slice(certificate.remaining_len())?;
        Ok(key)
    })?;
    reader.finish(key)
}

/// Encrypts a PKCS#8 key as an `EncryptedPrivateKeyInfo` (RFC 5958 §3, the
/// value of a pkcs8ShroudedKeyBag, RFC 7292 §4.2.2) with PBES2 (RFC 8018
/// §6.2): PBKDF2-HMAC-SHA256 over `password` with `iterations` and a random
/// salt, AES-256-CBC with PKCS#7 padding and a random IV.
fn encrypt_private_key(
    pkcs8_der: &[u8],
    password: &[u8],
    iterations: NonZeroU32,
) -> Result<Vec<u8>, KeyError> {
    let failed = |what: &str| KeyError::Encoding(format!("PKCS#12 key encryption: {what}"));
    let salt: [u8; SALT_LEN] = random()?;
    let iv: [u8; 16] = random()?;
    let mut key = Zeroizing::new([0u8; 32]);
    // `derive` panics only if aws-lc's PKCS5_PBKDF2_HMAC fails, which with a
    // known digest, non-zero iterations and a 32-byte output (far below its
    // limit) leaves only an allocation failure, which aborts anyway.
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        iterations,
        &salt,
        password,
        key.as_mut(),
    );
    let cipher = UnboundCipherKey::new(&AES_256, key.as_ref())
        .and_then(PaddedBlockEncryptingKey::cbc_pkcs7)
        .map_err(|_| failed("AES-256 key"))?;
    // Room for the padding (at most one block), so encrypting in place never
    // reallocates and leaves no plaintext copy behind.
    let mut data = Zeroizing::new(Vec::with_capacity(pkcs8_der.len() + 16));
    data.extend_from_slice(pkcs8_der);
    cipher
        .less_safe_encrypt(&mut *data, EncryptionContext::Iv128(iv.into()))
        .map_err(|_| failed("AES-256-CBC"))?;

    let algorithm = seq(&[
        &oid(&OID_PBES2),
        &seq(&[
            // keyDerivationFunc: PBKDF2-params without keyLength (AES-256 fixes it).
            &seq(&[
                &oid(&OID_PBKDF2),
                &seq(&[
                    &octet_string(&salt),
                    &integer(iterations.get()),
                    &seq(&[&oid(&OID_HMAC_SHA256), &null()]),
                ]),
            ]),
            // encryptionScheme.
            &seq(&[&oid(&OID_AES_256_CBC), &octet_string(&iv)]),
        ]),
    ]);
    Ok(seq(&[&algorithm, &octet_string(&data)]))
}

/// The PKCS#12 key derivation function of RFC 7292 Appendix B.2: fills `out`
/// from the formatted password (`password_bmp`, Appendix B.1), `salt`, the
/// purpose byte `id` (Appendix B.3: 1 key, 2 IV, 3 MAC key) and `iterations`,
/// with the hash `md` (u = output length, v = block length).
fn pkcs12_kdf(
    md: &'static digest::Algorithm,
    id: u8,
    password_bmp: &[u8],
    salt: &[u8],
    iterations: NonZeroU32,
    out: &mut [u8],
) {
    let u = md.output_len();
    let v = md.block_len();
    // Steps 1-4: D = v copies of ID; I = S || P, each repeated to a multiple of v.
    let diversifier = vec![id; v];
    let stretched = |input: &[u8]| input.len().div_ceil(v) * v;
    let mut i_buf = Zeroizing::new(Vec::with_capacity(
        stretched(salt) + stretched(password_bmp),
    ));
    i_buf.extend(salt.iter().cycle().take(stretched(salt)));
    i_buf.extend(password_bmp.iter().cycle().take(stretched(password_bmp)));

    // Steps 5-7: one hash chain per u-byte block of output.
    let blocks = out.len().div_ceil(u);
    for (n, chunk) in out.chunks_mut(u).enumerate() {
        let mut ctx = digest::Context::new(md);
        ctx.update(&diversifier);
        ctx.update(&i_buf);
        let mut a = Zeroizing::new(ctx.finish().as_ref().to_vec());
        for _ in 1..iterations.get() {
            let next = digest::digest(md, &a);
            a.copy_from_slice(next.as_ref());
        }
        chunk.copy_from_slice(&a[..chunk.len()]);
        if n + 1 == blocks {
            break;
        }
        // Step 6B-C: B = A repeated to v bytes; each v-byte block I_j of I
        // becomes (I_j + B + 1) mod 2^(8v), as big-endian integers.
        let b = Zeroizing::new(a.iter().cycle().take(v).copied().collect::<Vec<u8>>());
        for block in i_buf.chunks_mut(v) {
            let mut carry = 1u16;
            for (x, y) in block.iter_mut().zip(b.iter()).rev() {
                let sum = u16::from(*x) + u16::from(*y) + carry;
                *x = (sum & 0xFF) as u8;
                carry = sum >> 8;
            }
        }
    }
}

/// Formats a password for the Appendix B KDF (RFC 7292 Appendix B.1):
/// big-endian UTF-16 with a two-byte NUL terminator. Characters outside the
/// BMP become surrogate pairs, as OpenSSL 3 (`OPENSSL_utf82uni`) does.
fn bmp_password(password: &str) -> Zeroizing<Vec<u8>> {
    // A UTF-16 string has at most as many code units as the UTF-8 has bytes,
    // so this capacity never reallocates (no unwiped copy left behind).
    let mut out = Zeroizing::new(Vec::with_capacity(2 * password.len() + 2));
    for unit in password.encode_utf16() {
        out.extend_from_slice(&unit.to_be_bytes());
    }
    out.extend_from_slice(&[0, 0]);
    out
}

/// The contents of a BMPString (big-endian UCS-2) holding `s`; fails on a
/// character outside the Basic Multilingual Plane.
fn bmp_string(s: &str) -> Result<Vec<u8>, KeyError> {
    let mut out = Vec::with_capacity(2 * s.len());
    for c in s.chars() {
        let unit = u16::try_from(u32::from(c)).map_err(|_| {
            KeyError::Malformed(format!(
                "PKCS#12 friendly name: {c:?} is outside the Basic Multilingual Plane"
            ))
        })?;
        out.extend_from_slice(&unit.to_be_bytes());
    }
    Ok(out)
}

/// The bagAttributes of the key bag and the leaf's certBag (RFC 7292 §4.2):
/// localKeyId and, if given, friendlyName (BMPString contents).
fn bag_attributes(friendly_name: Option<&[u8]>, local_key_id: &[u8]) -> Vec<u8> {
    let mut attributes = vec![seq(&[
        &oid(&OID_LOCAL_KEY_ID),
        &set_of(vec![octet_string(local_key_id)]),
    ])];
    if let Some(name) = friendly_name {
        attributes.push(seq(&[
            &oid(&OID_FRIENDLY_NAME),
            &set_of(vec![tlv(TAG_BMP_STRING, name)]),
        ]));
    }
    set_of(attributes)
}

/// A ContentInfo (RFC 5652 §3) of type `data` holding `content`, as RFC 7292
/// §4.1 uses for the authSafe and for unencrypted SafeContents.
fn content_info_data(content: &[u8]) -> Vec<u8> {
    seq(&[
        &oid(&OID_DATA),
        &tlv(TAG_EXPLICIT_0, &octet_string(content)),
    ])
}

// DER helpers (X.690 §8, §10, §11).

/// Appends the DER length octets of `len`: short form below 128, else the
/// long form with the fewest length bytes (X.690 §10.1).
fn push_length(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        // At most size_of::<usize>() (8) bytes follow.
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// One DER tag-length-value.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 10);
    out.push(tag);
    push_length(&mut out, content.len());
    out.extend_from_slice(content);
    out
}

/// A SEQUENCE of already-encoded elements.
fn seq(elements: &[&[u8]]) -> Vec<u8> {
    tlv(TAG_SEQUENCE, &elements.concat())
}

/// A SET OF already-encoded elements, sorted as DER requires (X.690 §11.6).
fn set_of(mut elements: Vec<Vec<u8>>) -> Vec<u8> {
    elements.sort();
    tlv(TAG_SET, &elements.concat())
}

/// An OBJECT IDENTIFIER.
fn oid(oid: &ObjectIdentifier) -> Vec<u8> {
    tlv(TAG_OID, oid.as_bytes())
}

/// An OCTET STRING.
fn octet_string(bytes: &[u8]) -> Vec<u8> {
    tlv(TAG_OCTET_STRING, bytes)
}

/// NULL.
fn null() -> Vec<u8> {
    tlv(TAG_NULL, &[])
}

/// A non-negative INTEGER, in the fewest two's-complement octets (X.690 §8.3).
fn integer(n: u32) -> Vec<u8> {
    let bytes = n.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count().min(3);
    let mut content = Vec::with_capacity(5);
    if bytes[skip] & 0x80 != 0 {
        content.push(0);
    }
    content.extend_from_slice(&bytes[skip..]);
    tlv(TAG_INTEGER, &content)
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::process::{Command, Output};

    use base64::Engine as _;
    use moor_core::KeyAlgorithm;

    use super::*;
    use crate::RcgenSigner;

    const PW: &str = "pfx export: correct horse";

    /// Runs the OpenSSL 3 command line tool; a missing binary fails the test.
    fn openssl(args: &[&str]) -> Output {
        match Command::new("openssl").args(args).output() {
            Ok(out) => out,
            Err(e) => panic!(
                "cannot run `openssl` ({e}): the PKCS#12 tests need the OpenSSL 3 command \
                 line tool as their oracle (Debian: apt-get install openssl); they are never \
                 skipped"
            ),
        }
    }

    fn require_openssl_3() {
        let out = openssl(&["version"]);
        let version = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && version.starts_with("OpenSSL 3"),
            "the PKCS#12 tests need OpenSSL 3 as `openssl`, found: {version}"
        );
    }

    /// stdout and stderr of a run, for messages and `contains` checks.
    fn text(out: &Output) -> String {
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02X}")).collect()
    }

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// The DER of every `-----BEGIN {label}-----` block in `text`.
    fn pem_blocks(text: &str, label: &str) -> Vec<Vec<u8>> {
        let begin = format!("-----BEGIN {label}-----");
        let end = format!("-----END {label}-----");
        let mut blocks = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find(&begin) {
            let body = &rest[start + begin.len()..];
            let stop = body.find(&end).unwrap();
            let b64: String = body[..stop].split_whitespace().collect();
            blocks.push(
                base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .unwrap(),
            );
            rest = &body[stop + end.len()..];
        }
        blocks
    }

    fn self_signed(key: &SoftwareKey, cn: &str) -> Vec<u8> {
        let mut params = rcgen::CertificateParams::new(vec![format!("{cn}.example")]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        params
            .self_signed(&RcgenSigner(key))
            .unwrap()
            .der()
            .to_vec()
    }

    /// Writes `pfx`, and checks with `openssl pkcs12` that `password` opens
    /// it, that it holds `key` and `certs` (in order) linked by localKeyID and
    /// named `name`, and that a wrong password is refused.
    fn check_with_openssl(
        dir: &Path,
        pfx: &[u8],
        password: &str,
        key: &SoftwareKey,
        certs: &[&[u8]],
        name: &str,
    ) -> String {
        let alg = key.algorithm();
        let path = dir.join(format!("{alg}.p12"));
        std::fs::write(&path, pfx).unwrap();
        let file = path.to_str().unwrap();
        let passin = format!("pass:{password}");

        let out = openssl(&["pkcs12", "-in", file, "-passin", &passin, "-info", "-nodes"]);
        let info = text(&out);
        assert!(
            out.status.success(),
            "{alg}: openssl pkcs12 failed:\n{info}"
        );
        for expected in [
            format!("MAC: sha256, Iteration {PKCS12_MAC_ITERATIONS}"),
            format!(
                "Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration \
                 {PKCS12_PBKDF2_ITERATIONS}, PRF hmacWithSHA256"
            ),
            "Certificate bag".to_owned(),
        ] {
            assert!(
                info.contains(&expected),
                "{alg}: no {expected:?} in:\n{info}"
            );
        }
        assert!(
            !info.contains("Encrypted data"),
            "{alg}: certificates should not be encrypted:\n{info}"
        );
        let key_id = digest::digest(&digest::SHA256, certs[0]);
        let key_id_line = format!(
            "localKeyID: {}",
            key_id
                .as_ref()
                .iter()
                .map(|b| format!("{b:02X}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        // On the key bag and on the leaf's certBag.
        assert_eq!(info.matches(&key_id_line).count(), 2, "{alg}:\n{info}");
        // OpenSSL 3.0 prints a BMPString friendlyName one byte per character
        // (OPENSSL_uni2asc keeps the low byte), so "Zoë" shows as b"Zo\xEB".
        let printed: Vec<u8> = name.chars().map(|c| (u32::from(c) & 0xFF) as u8).collect();
        let name_line = [&b"friendlyName: "[..], &printed, b"\n"].concat();
        let names = if name.is_empty() { 0 } else { 2 };
        assert_eq!(
            info.matches("friendlyName:").count(),
            names,
            "{alg}:\n{info}"
        );
        let raw = [out.stdout.as_slice(), out.stderr.as_slice()].concat();
        let name_lines = raw
            .windows(name_line.len())
            .filter(|w| *w == name_line)
            .count();
        assert_eq!(name_lines, names, "{alg}: friendly name:\n{info}");

        // The private key openssl extracts is ours.
        let keys = pem_blocks(&info, "PRIVATE KEY");
        assert_eq!(keys.len(), 1, "{alg}:\n{info}");
        let key_path = dir.join(format!("{alg}.key.der"));
        std::fs::write(&key_path, &keys[0]).unwrap();
        let out = openssl(&[
            "pkey",
            "-inform",
            "DER",
            "-in",
            key_path.to_str().unwrap(),
            "-pubout",
            "-outform",
            "DER",
        ]);
        assert!(out.status.success(), "{alg}: {}", text(&out));
        assert_eq!(out.stdout, key.spki_der(), "{alg}: extracted key differs");

        // The certificates, in order.
        let found = pem_blocks(&info, "CERTIFICATE");
        assert_eq!(found, certs, "{alg}: certificates differ");

        // localKeyID links the leaf (and only it) to the key.
        let out = openssl(&[
            "pkcs12", "-in", file, "-passin", &passin, "-nokeys", "-clcerts",
        ]);
        assert!(out.status.success(), "{alg}: {}", text(&out));
        assert_eq!(pem_blocks(&text(&out), "CERTIFICATE"), &certs[..1], "{alg}");

        // A wrong password fails the MAC check.
        let out = openssl(&[
            "pkcs12",
            "-in",
            file,
            "-passin",
            "pass:wrong",
            "-info",
            "-nodes",
        ]);
        assert!(
            !out.status.success(),
            "{alg}: openssl accepted a wrong password"
        );
        assert!(
            text(&out).contains("Mac verify error"),
            "{alg}: {}",
            text(&out)
        );
        info
    }

    #[test]
    fn openssl_reads_our_pkcs12_for_each_algorithm() {
        require_openssl_3();
        let dir = tempfile::tempdir().unwrap();
        let password = Passphrase::new(PW.to_owned());
        for alg in [
            KeyAlgorithm::EcdsaP256,
            KeyAlgorithm::Ed25519,
            KeyAlgorithm::Rsa2048,
        ] {
            let key = SoftwareKey::generate(alg).unwrap();
            let cert = self_signed(&key, &format!("pfx-{alg}"));
            let name = format!("Zoë's {alg} key");
            let pfx = to_pkcs12(&key.to_pkcs8_der().unwrap(), &[&cert], &password, &name).unwrap();
            let info = check_with_openssl(dir.path(), &pfx, PW, &key, &[&cert], &name);
            if alg == KeyAlgorithm::EcdsaP256 {
                eprintln!("openssl pkcs12 -info -nodes for {alg}:\n{info}");
            }
        }
    }

    #[test]
    fn openssl_reads_our_pkcs12_with_a_chain() {
        require_openssl_3();
        let dir = tempfile::tempdir().unwrap();
        let ca_key = SoftwareKey::generate(KeyAlgorithm::Ed25519).unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "PFX test CA");
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, RcgenSigner(&ca_key)).unwrap();
        let key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["leaf.example".to_owned()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "leaf");
        let leaf = params.signed_by(&RcgenSigner(&key), &ca).unwrap();
        let certs: [&[u8]; 2] = [leaf.der(), ca.der()];
        let password = Passphrase::new(PW.to_owned());
        let pfx = to_pkcs12(&key.to_pkcs8_der().unwrap(), &certs, &password, "leaf").unwrap();
        check_with_openssl(dir.path(), &pfx, PW, &key, &certs, "leaf");

        let path = dir.path().join("chain.p12");
        std::fs::write(&path, &pfx).unwrap();
        let passin = format!("pass:{PW}");
        let out = openssl(&[
            "pkcs12",
            "-in",
            path.to_str().unwrap(),
            "-passin",
            &passin,
            "-nokeys",
            "-cacerts",
        ]);
        assert!(out.status.success(), "{}", text(&out));
        assert_eq!(pem_blocks(&text(&out), "CERTIFICATE"), &certs[1..]);
    }

    #[test]
    fn non_ascii_password_and_no_friendly_name() {
        require_openssl_3();
        let dir = tempfile::tempdir().unwrap();
        // 🔑 is outside the BMP: a surrogate pair in the MAC KDF password.
        let pw = "pässwörd 🔑";
        let key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let cert = self_signed(&key, "unicode");
        let pfx = to_pkcs12(
            &key.to_pkcs8_der().unwrap(),
            &[&cert],
            &Passphrase::new(pw.to_owned()),
            "",
        )
        .unwrap();
        check_with_openssl(dir.path(), &pfx, pw, &key, &[&cert], "");
    }

    #[test]
    fn shrouded_key_decrypts_with_the_pkcs8_crate() {
        let key = SoftwareKey::generate(KeyAlgorithm::Ed25519).unwrap();
        let der = key.to_pkcs8_der().unwrap();
        let iterations = NonZeroU32::new(2048).unwrap();
        let encrypted = encrypt_private_key(&der, PW.as_bytes(), iterations).unwrap();
        let info = pkcs8::EncryptedPrivateKeyInfo::try_from(encrypted.as_slice()).unwrap();
        let pkcs8::pkcs5::EncryptionScheme::Pbes2(params) = &info.encryption_algorithm else {
            panic!("not PBES2");
        };
        let pkcs8::pkcs5::pbes2::Kdf::Pbkdf2(kdf) = &params.kdf else {
            panic!("not PBKDF2");
        };
        assert_eq!(kdf.iteration_count, 2048);
        assert_eq!(kdf.salt.len(), SALT_LEN);
        assert_eq!(kdf.prf, pkcs8::pkcs5::pbes2::Pbkdf2Prf::HmacWithSha256);
        assert!(matches!(
            params.encryption,
            pkcs8::pkcs5::pbes2::EncryptionScheme::Aes256Cbc { .. }
        ));
        let plain = info.decrypt(PW).unwrap();
        assert_eq!(plain.as_bytes(), der.as_slice());
        assert!(info.decrypt("wrong").is_err());
    }

    /// Vectors from the OpenSSL PKCS#12 FAQ (drh-consultancy test.txt), also
    /// in OpenSSL's test/evppbe_pkcs12.txt and Crypto++'s validat: SHA-1,
    /// passwords "smeg" and "queeg". 24-byte keys take two SHA-1 blocks, so
    /// they exercise step 6C (updating I).
    #[test]
    fn kdf_matches_published_sha1_vectors() {
        let vectors = [
            (
                1,
                1,
                "0073006D006500670000",
                "0A58CF64530D823F",
                "8AAAE6297B6CB04642AB5B077851284EB7128F1A2A7FBCA3",
            ),
            (
                2,
                1,
                "0073006D006500670000",
                "0A58CF64530D823F",
                "79993DFE048D3B76",
            ),
            (
                1,
                1,
                "0073006D006500670000",
                "642B99AB44FB4B1F",
                "F3A95FEC48D7711E985CFE67908C5AB79FA3D7C5CAA5D966",
            ),
            (
                2,
                1,
                "0073006D006500670000",
                "642B99AB44FB4B1F",
                "C0A38D64A79BEA1D",
            ),
            (
                3,
                1,
                "0073006D006500670000",
                "3D83C0E4546AC140",
                "8D967D88F6CAA9D714800AB3D48051D63F73A312",
            ),
            (
                1,
                1000,
                "007100750065006500670000",
                "05DEC959ACFF72F7",
                "ED2034E36328830FF09DF1E1A07DD357185DAC0D4F9EB3D4",
            ),
            (
                2,
                1000,
                "007100750065006500670000",
                "05DEC959ACFF72F7",
                "11DEDAD7758D4860",
            ),
            (
                1,
                1000,
                "007100750065006500670000",
                "1682C0FC5B3F7EC5",
                "483DD6E919D7DE2E8E648BA8F862F3FBFBDC2BCB2C02957F",
            ),
            (
                2,
                1000,
                "007100750065006500670000",
                "1682C0FC5B3F7EC5",
                "9D461D1B00355C50",
            ),
            (
                3,
                1000,
                "007100750065006500670000",
                "263216FCC2FAB31C",
                "5EC4C7A80DF652294C3925B6489A7AB857C83476",
            ),
        ];
        for (id, iterations, password, salt, expected) in vectors {
            let mut out = vec![0u8; expected.len() / 2];
            pkcs12_kdf(
                &digest::SHA1_FOR_LEGACY_USE_ONLY,
                id,
                &unhex(password),
                &unhex(salt),
                NonZeroU32::new(iterations).unwrap(),
                &mut out,
            );
            assert_eq!(
                hex(&out),
                expected,
                "id {id}, {iterations} iterations, salt {salt}"
            );
        }
        // The password formatting of Appendix B.1.
        assert_eq!(hex(&bmp_password("smeg")), "0073006D006500670000");
        assert_eq!(hex(&bmp_password("queeg")), "007100750065006500670000");
        assert_eq!(hex(&bmp_password("é🔑")), "00E9D83DDD110000");
    }

    /// SHA-256 MAC-key vector from the Crypt::OpenSSL::PKCS::Func test suite
    /// (PKCS12_key_gen("123456", e241f01650dbeae4, id 3, 2048 iterations)).
    #[test]
    fn kdf_matches_published_sha256_vector() {
        let mut out = [0u8; 32];
        pkcs12_kdf(
            &digest::SHA256,
            KDF_ID_MAC,
            &bmp_password("123456"),
            &unhex("E241F01650DBEAE4"),
            NonZeroU32::new(2048).unwrap(),
            &mut out,
        );
        assert_eq!(
            hex(&out),
            "721259F14AAD70B58839F71566B433DA1B8AD08F650F4D02FAAA0B9B095BB51D"
        );
    }

    /// `openssl kdf … PKCS12KDF` as the oracle for SHA-256: several lengths
    /// (multi-block outputs update I), salts longer than a block, passwords
    /// with surrogate pairs.
    #[test]
    fn kdf_matches_openssl_kdf() {
        require_openssl_3();
        let long_salt: Vec<u8> = (0u8..70).collect();
        let cases: [(u8, u32, &str, &[u8], usize); 6] = [
            (3, 2048, PW, b"\x01\x02\x03\x04\x05\x06\x07\x08", 32),
            (3, 1, "a", b"salt", 32),
            (1, 3, "smeg", b"\x0A\x58\xCF\x64\x53\x0D\x82\x3F", 70),
            (2, 1000, "pässwörd 🔑", &long_salt, 16),
            (
                3,
                200,
                "a password longer than one sixty-four byte SHA-256 block, to wrap",
                &long_salt,
                100,
            ),
            (1, 5, "x", b"", 33),
        ];
        for (id, iterations, password, salt, len) in cases {
            let bmp = bmp_password(password);
            let out = openssl(&[
                "kdf",
                "-binary",
                "-keylen",
                &len.to_string(),
                "-kdfopt",
                "digest:SHA256",
                "-kdfopt",
                &format!("hexpass:{}", hex(&bmp)),
                "-kdfopt",
                &format!("hexsalt:{}", hex(salt)),
                "-kdfopt",
                &format!("iter:{iterations}"),
                "-kdfopt",
                &format!("id:{id}"),
                "PKCS12KDF",
            ]);
            assert!(out.status.success(), "{}", text(&out));
            let mut ours = vec![0u8; len];
            pkcs12_kdf(
                &digest::SHA256,
                id,
                &bmp,
                salt,
                NonZeroU32::new(iterations).unwrap(),
                &mut ours,
            );
            assert_eq!(
                hex(&ours),
                hex(&out.stdout),
                "id {id}, {iterations} iterations, {len} bytes"
            );
        }
    }

    #[test]
    fn der_helpers_encode_minimally() {
        let header = |len: usize| {
            let encoded = tlv(0x04, &vec![0u8; len]);
            hex(&encoded[..encoded.len() - len])
        };
        assert_eq!(header(0), "0400");
        assert_eq!(header(127), "047F");
        assert_eq!(header(128), "048180");
        assert_eq!(header(255), "0481FF");
        assert_eq!(header(256), "04820100");
        assert_eq!(header(65535), "0482FFFF");
        assert_eq!(header(65536), "0483010000");

        assert_eq!(hex(&integer(0)), "020100");
        assert_eq!(hex(&integer(3)), "020103");
        assert_eq!(hex(&integer(127)), "02017F");
        assert_eq!(hex(&integer(128)), "02020080");
        assert_eq!(hex(&integer(2048)), "02020800");
        assert_eq!(hex(&integer(100_000)), "02030186A0");
        assert_eq!(hex(&integer(u32::MAX)), "020500FFFFFFFF");

        assert_eq!(hex(&oid(&OID_DATA)), "06092A864886F70D010701");
        assert_eq!(hex(&oid(&OID_AES_256_CBC)), "060960864801650304012A");
        assert_eq!(hex(&null()), "0500");

        // SET OF sorts its encodings: shorter-length element first here.
        let long = octet_string(&[0u8; 3]);
        let short = octet_string(&[0xFF]);
        for elements in [
            vec![long.clone(), short.clone()],
            vec![short.clone(), long.clone()],
        ] {
            assert_eq!(
                hex(&set_of(elements)),
                format!("3108{}{}", hex(&short), hex(&long))
            );
        }

        assert_eq!(hex(&bmp_string("Zoë").unwrap()), "005A006F00EB");
        assert!(bmp_string("key 🔑").is_err());
    }

    /// Walks every TLV (descending into constructed values and into OCTET
    /// STRINGs that hold DER), checking minimal lengths (the der crate refuses
    /// others) and the order of SET OF elements.
    fn assert_strict_der(bytes: &[u8]) {
        let mut reader = SliceReader::new(bytes).unwrap();
        while !reader.is_finished() {
            let any = AnyRef::decode(&mut reader).unwrap();
            let value = any.value();
            if any.tag().is_constructed() {
                assert_strict_der(value);
                if any.tag() == Tag::Set {
                    let mut inner = SliceReader::new(value).unwrap();
                    let mut elements = Vec::new();
                    while !inner.is_finished() {
                        elements.push(inner.tlv_bytes().unwrap());
                    }
                    assert!(elements.is_sorted(), "SET OF out of order");
                }
            } else if any.tag() == Tag::OctetString
                && value.first() == Some(&TAG_SEQUENCE)
                && AnyRef::from_der(value).is_ok()
            {
                assert_strict_der(value);
            }
        }
    }

    #[test]
    fn pfx_is_strict_der() {
        let key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let cert = self_signed(&key, "der");
        let pfx = to_pkcs12(
            &key.to_pkcs8_der().unwrap(),
            &[&cert, &cert],
            &Passphrase::new(PW.to_owned()),
            "a friendly name long enough to sort after localKeyId",
        )
        .unwrap();
        assert_strict_der(&pfx);
        // PFX version 3 (RFC 7292 §4).
        let mut reader = SliceReader::new(&pfx).unwrap();
        let version = reader
            .sequence(|pfx| {
                let version = u8::decode(pfx)?;
                pfx.read_slice(pfx.remaining_len())?;
                Ok(version)
            })
            .unwrap();
        assert_eq!(version, 3);
    }

    #[test]
    fn refuses_bad_input() {
        let key = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let der = key.to_pkcs8_der().unwrap();
        let cert = self_signed(&key, "bad-input");
        let pass = Passphrase::new(PW.to_owned());

        assert!(matches!(
            to_pkcs12(&der, &[&cert], &Passphrase::new(String::new()), "n"),
            Err(KeyError::EmptyPassphrase(_))
        ));
        assert!(matches!(
            to_pkcs12(&der, &[], &pass, "n"),
            Err(KeyError::Malformed(_))
        ));
        assert!(matches!(
            to_pkcs12(b"not a key", &[&cert], &pass, "n"),
            Err(KeyError::Malformed(_))
        ));
        assert!(matches!(
            to_pkcs12(&der, &[b"not a certificate"], &pass, "n"),
            Err(KeyError::Malformed(_))
        ));
        assert!(matches!(
            to_pkcs12(&der, &[&cert, b"\x30\x03\x02\x01"], &pass, "n"),
            Err(KeyError::Malformed(_))
        ));
        assert!(matches!(
            to_pkcs12(&der, &[&cert], &pass, "key 🔑"),
            Err(KeyError::Malformed(_))
        ));
        // A certificate of another key.
        let other = SoftwareKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let other_cert = self_signed(&other, "other");
        match to_pkcs12(&der, &[&other_cert], &pass, "n") {
            Err(KeyError::Malformed(msg)) => assert!(msg.contains("another key"), "{msg}"),
            other => panic!("expected a mismatch error, got {other:?}"),
        }
        // Errors never carry the password.
        let err = to_pkcs12(&der, &[&other_cert], &pass, "n").unwrap_err();
        assert!(!format!("{err} {err:?}").contains(PW));
    }
}
