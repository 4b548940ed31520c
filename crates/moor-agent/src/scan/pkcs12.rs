//! Reading what a PKCS#12 / PFX file (RFC 7292) holds, for discovery: its certificates
//! and whether it holds a private key. Never decrypts a key.
//!
//! ```text
//! PFX { version 3, authSafe ContentInfo data → AuthenticatedSafe, macData? }   §4
//! AuthenticatedSafe = SEQUENCE OF ContentInfo: `data` (SafeContents) or
//!                     `encryptedData` (SafeContents under a password)          §4.1
//! SafeBag { bagId, [0] bagValue, attributes? }                                 §4.2
//! ```
//!
//! Certificates inside `encryptedData` are read when the password is empty — what
//! `openssl pkcs12 -export -passout pass:` writes (PBES2, PBKDF2-HMAC, AES-CBC,
//! RFC 8018 §6.2). The MAC is not checked: the certificates are described from their own
//! bytes, and the server re-reads them anyway.

use std::num::NonZeroU32;

/// What a PKCS#12 file holds.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pkcs12Contents {
    /// DER certificates, in file order.
    pub certificates: Vec<Vec<u8>>,
    /// A key bag or shrouded key bag is present.
    pub has_key: bool,
    /// Some content could not be decrypted with the empty password.
    pub encrypted: bool,
}

/// Not a PKCS#12 file (or a broken one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not PKCS#12: {0}")]
pub struct Pkcs12Error(pub &'static str);

/// The most PBKDF2 iterations tried (a file cannot make the scan spin).
const MAX_ITERATIONS: u32 = 1_000_000;
/// The most bags read (nested `safeContentsBag`s count).
const MAX_BAGS: usize = 1_024;

const OID_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01];
const OID_ENCRYPTED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x06];
const OID_ENVELOPED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x03];
/// pkcs-12 bag types 1.2.840.113549.1.12.10.1.{1..6}
const OID_BAG_PREFIX: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x0a, 0x01];
const OID_X509_CERT: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x16, 0x01];
const OID_PBES2: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0d];
const OID_PBKDF2: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0c];
const OID_HMAC_SHA1: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x07];
const OID_HMAC_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x09];
const OID_HMAC_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x0a];
const OID_HMAC_SHA512: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x0b];
const OID_AES128_CBC: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x02];
const OID_AES192_CBC: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x16];
const OID_AES256_CBC: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a];

/// Whether `der` looks like a PFX: `SEQUENCE { INTEGER 3, SEQUENCE { OID data, … } … }`.
pub fn looks_like_pkcs12(der: &[u8]) -> bool {
    let Ok((0x30, pfx, _)) = tlv(der) else {
        return false;
    };
    let Ok((0x02, version, rest)) = tlv(pfx) else {
        return false;
    };
    let Ok((0x30, auth_safe, _)) = tlv(rest) else {
        return false;
    };
    version == [3] && matches!(tlv(auth_safe), Ok((0x06, OID_DATA, _)))
}

/// The certificates and key presence of a PFX.
pub fn read(der: &[u8]) -> Result<Pkcs12Contents, Pkcs12Error> {
    if !looks_like_pkcs12(der) {
        return Err(Pkcs12Error("not a PFX"));
    }
    let (_, pfx, _) = tlv(der)?;
    let (_, _, rest) = tlv(pfx)?;
    let (_, auth_safe, _) = tlv(rest)?;
    let safes = data_content(auth_safe)?;
    let (tag, mut safes, _) = tlv(safes)?;
    if tag != 0x30 {
        return Err(Pkcs12Error("AuthenticatedSafe is not a SEQUENCE"));
    }
    let mut out = Pkcs12Contents::default();
    let mut budget = MAX_BAGS;
    while !safes.is_empty() {
        let (tag, info, after) = tlv(safes)?;
        safes = after;
        if tag != 0x30 {
            return Err(Pkcs12Error("a ContentInfo is not a SEQUENCE"));
        }
        let (_, oid, _) = tlv(info)?;
        if oid == OID_DATA {
            bags(data_content(info)?, &mut out, &mut budget, 0)?;
        } else if oid == OID_ENCRYPTED_DATA {
            match decrypt_encrypted_data(info)? {
                Some(plain) => bags(&plain, &mut out, &mut budget, 0)?,
                None => out.encrypted = true,
            }
        } else if oid == OID_ENVELOPED_DATA {
            out.encrypted = true;
        } else {
            return Err(Pkcs12Error("unknown ContentInfo type"));
        }
    }
    Ok(out)
}

/// The octets of a `ContentInfo { data, [0] EXPLICIT OCTET STRING }` (given its content).
fn data_content(info: &[u8]) -> Result<&[u8], Pkcs12Error> {
    let (_, _, rest) = tlv(info)?;
    let (tag, explicit, _) = tlv(rest)?;
    if tag != 0xa0 {
        return Err(Pkcs12Error("no [0] content"));
    }
    let (tag, octets, _) = tlv(explicit)?;
    if tag != 0x04 {
        return Err(Pkcs12Error("data is not an OCTET STRING"));
    }
    Ok(octets)
}

/// Read the SafeBags of one SafeContents into `out`.
fn bags(
    safe_contents: &[u8],
    out: &mut Pkcs12Contents,
    budget: &mut usize,
    depth: u8,
) -> Result<(), Pkcs12Error> {
    if depth > 4 {
        return Err(Pkcs12Error("bags nested too deep"));
    }
    let (tag, mut rest, _) = tlv(safe_contents)?;
    if tag != 0x30 {
        return Err(Pkcs12Error("SafeContents is not a SEQUENCE"));
    }
    while !rest.is_empty() {
        *budget = budget.checked_sub(1).ok_or(Pkcs12Error("too many bags"))?;
        let (tag, bag, after) = tlv(rest)?;
        rest = after;
        if tag != 0x30 {
            return Err(Pkcs12Error("a SafeBag is not a SEQUENCE"));
        }
        let (tag, oid, value) = tlv(bag)?;
        if tag != 0x06 {
            return Err(Pkcs12Error("a SafeBag has no type"));
        }
        let (tag, value, _) = tlv(value)?;
        if tag != 0xa0 {
            return Err(Pkcs12Error("a SafeBag has no value"));
        }
        match oid.strip_prefix(OID_BAG_PREFIX) {
            // keyBag, pkcs8ShroudedKeyBag
            Some([1] | [2]) => out.has_key = true,
            // certBag { certId, [0] EXPLICIT OCTET STRING }
            Some([3]) => {
                let (_, cert_bag, _) = tlv(value)?;
                let (tag, cert_id, rest) = tlv(cert_bag)?;
                if tag == 0x06 && cert_id == OID_X509_CERT {
                    let (_, explicit, _) = tlv(rest)?;
                    let (tag, cert, _) = tlv(explicit)?;
                    if tag != 0x04 {
                        return Err(Pkcs12Error("a certBag value is not an OCTET STRING"));
                    }
                    out.certificates.push(cert.to_vec());
                }
            }
            // safeContentsBag
            Some([6]) => bags(value, out, budget, depth + 1)?,
            // crlBag, secretBag, anything else: nothing to report.
            _ => {}
        }
    }
    Ok(())
}

/// Decrypt an `EncryptedData` (RFC 5652 §8) with the empty password: `None` when it is
/// not PBES2 or the password is not empty.
fn decrypt_encrypted_data(info: &[u8]) -> Result<Option<Vec<u8>>, Pkcs12Error> {
    let (_, _, rest) = tlv(info)?;
    let (_, explicit, _) = tlv(rest)?;
    let (_, encrypted_data, _) = tlv(explicit)?;
    let (_, _version, rest) = tlv(encrypted_data)?;
    let (tag, eci, _) = tlv(rest)?;
    if tag != 0x30 {
        return Err(Pkcs12Error("EncryptedContentInfo is not a SEQUENCE"));
    }
    let (_, _content_type, rest) = tlv(eci)?;
    let (_, algorithm, rest) = tlv(rest)?;
    let (tag, ciphertext, _) = tlv(rest)?;
    if tag != 0x80 {
        // Absent or constructed (BER) content: not what OpenSSL writes.
        return Ok(None);
    }
    Ok(pbes2_decrypt(algorithm, ciphertext, b""))
}

/// PBES2 decryption (RFC 8018 §6.2.2) with `password`; `None` on any failure.
fn pbes2_decrypt(algorithm: &[u8], ciphertext: &[u8], password: &[u8]) -> Option<Vec<u8>> {
    use aws_lc_rs::cipher::{
        AES_128, AES_192, AES_256, DecryptionContext, PaddedBlockDecryptingKey, UnboundCipherKey,
    };
    use aws_lc_rs::pbkdf2;

    let (_, oid, rest) = tlv(algorithm).ok()?;
    if oid != OID_PBES2 {
        return None;
    }
    let (_, params, _) = tlv(rest).ok()?;
    let (_, kdf, rest) = tlv(params).ok()?;
    let (_, scheme, _) = tlv(rest).ok()?;
    let (_, kdf_oid, rest) = tlv(kdf).ok()?;
    if kdf_oid != OID_PBKDF2 {
        return None;
    }
    let (_, kdf_params, _) = tlv(rest).ok()?;
    let (tag, salt, rest) = tlv(kdf_params).ok()?;
    if tag != 0x04 {
        return None;
    }
    let (tag, iterations, mut rest) = tlv(rest).ok()?;
    if tag != 0x02 || iterations.is_empty() || iterations.len() > 4 {
        return None;
    }
    let iterations = iterations
        .iter()
        .fold(0u32, |a, &b| (a << 8) | u32::from(b));
    if iterations > MAX_ITERATIONS {
        return None;
    }
    let iterations = NonZeroU32::new(iterations)?;
    let mut prf = pbkdf2::PBKDF2_HMAC_SHA1;
    while !rest.is_empty() {
        let (tag, field, after) = tlv(rest).ok()?;
        rest = after;
        // keyLength INTEGER OPTIONAL is implied by the cipher; prf AlgorithmIdentifier.
        if tag == 0x30 {
            let (_, prf_oid, _) = tlv(field).ok()?;
            prf = match prf_oid {
                OID_HMAC_SHA1 => pbkdf2::PBKDF2_HMAC_SHA1,
                OID_HMAC_SHA256 => pbkdf2::PBKDF2_HMAC_SHA256,
                OID_HMAC_SHA384 => pbkdf2::PBKDF2_HMAC_SHA384,
                OID_HMAC_SHA512 => pbkdf2::PBKDF2_HMAC_SHA512,
                _ => return None,
            };
        }
    }
    let (_, cipher_oid, rest) = tlv(scheme).ok()?;
    let (cipher, key_len) = match cipher_oid {
        OID_AES128_CBC => (&AES_128, 16),
        OID_AES192_CBC => (&AES_192, 24),
        OID_AES256_CBC => (&AES_256, 32),
        _ => return None,
    };
    let (tag, iv, _) = tlv(rest).ok()?;
    let iv: [u8; 16] = iv.try_into().ok()?;
    if tag != 0x04 || ciphertext.is_empty() || !ciphertext.len().is_multiple_of(16) {
        return None;
    }
    let mut key = [0u8; 32];
    let key = key.get_mut(..key_len)?;
    pbkdf2::derive(prf, iterations, salt, password, key);
    let key = PaddedBlockDecryptingKey::cbc_pkcs7(UnboundCipherKey::new(cipher, key).ok()?).ok()?;
    let mut buf = ciphertext.to_vec();
    let plain = key
        .decrypt(&mut buf, DecryptionContext::Iv128(iv.into()))
        .ok()?;
    let plain = plain.to_vec();
    // A wrong password passes the padding check one time in 256: the DER must parse too.
    match tlv(&plain) {
        Ok((0x30, _, [])) => Some(plain),
        _ => None,
    }
}

/// One DER TLV at the start of `b`: (tag, content, rest). Definite lengths only.
pub(crate) fn tlv(b: &[u8]) -> Result<(u8, &[u8], &[u8]), Pkcs12Error> {
    moor_core::pkcs7::parse_tlv(b).ok_or(Pkcs12Error("truncated or bad length"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut v = vec![tag];
        if content.len() < 0x80 {
            v.push(content.len() as u8);
        } else {
            v.push(0x82);
            v.extend_from_slice(&(content.len() as u16).to_be_bytes());
        }
        v.extend_from_slice(content);
        v
    }

    /// A PFX with one plain certBag (`cert`) and one shrouded key bag (opaque content).
    fn pfx(cert: &[u8]) -> Vec<u8> {
        let mut bag_oid = OID_BAG_PREFIX.to_vec();
        bag_oid.push(3);
        let cert_bag = t(
            0x30,
            &[t(0x06, OID_X509_CERT), t(0xa0, &t(0x04, cert))].concat(),
        );
        let bag1 = t(0x30, &[t(0x06, &bag_oid), t(0xa0, &cert_bag)].concat());
        let mut key_oid = OID_BAG_PREFIX.to_vec();
        key_oid.push(2);
        let bag2 = t(0x30, &[t(0x06, &key_oid), t(0xa0, &t(0x30, &[]))].concat());
        let safe_contents = t(0x30, &[bag1, bag2].concat());
        let info = t(
            0x30,
            &[t(0x06, OID_DATA), t(0xa0, &t(0x04, &safe_contents))].concat(),
        );
        let auth_safe = t(0x30, &info);
        let outer = t(
            0x30,
            &[t(0x06, OID_DATA), t(0xa0, &t(0x04, &auth_safe))].concat(),
        );
        t(0x30, &[t(0x02, &[3]), outer].concat())
    }

    #[test]
    fn reads_plain_cert_bags_and_notes_keys() {
        let cert = t(0x30, &[1, 2, 3]);
        let p = pfx(&cert);
        assert!(looks_like_pkcs12(&p));
        let c = read(&p).unwrap();
        assert_eq!(c.certificates, vec![cert]);
        assert!(c.has_key && !c.encrypted);
    }

    #[test]
    fn truncated_or_garbage_never_panics() {
        let p = pfx(&t(0x30, &[1, 2, 3]));
        for n in 0..p.len() {
            let _ = read(&p[..n]);
        }
        let mut x: u32 = 3;
        for i in 0..p.len() {
            let mut d = p.clone();
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            d[i] ^= (x >> 16) as u8 | 1;
            let _ = read(&d);
        }
        assert!(read(b"").is_err());
        assert!(read(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(pbes2_decrypt(&[], &[], b"").is_none());
    }
}
