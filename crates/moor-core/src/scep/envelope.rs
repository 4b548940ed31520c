//! The messageData envelope: CMS EnvelopedData (RFC 5652 §6) with one
//! KeyTransRecipientInfo per RA key, RSA PKCS#1 v1.5 key transport and a CBC cipher.

use aws_lc_rs::cipher::{
    AES_128, AES_192, AES_256, Algorithm, DecryptionContext, PaddedBlockDecryptingKey,
    UnboundCipherKey,
};
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::rsa::{Pkcs1PrivateDecryptingKey, PrivateDecryptingKey};
use cms::enveloped_data::{RecipientIdentifier, RecipientInfo};
use der::asn1::{ObjectIdentifier, OctetString};
use der::{Decode, Tag, Tagged};
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;

use super::der_util::*;
use super::{MAX_MESSAGE_LEN, ScepError};

/// Most recipientInfos looked at in one envelope.
const MAX_RECIPIENTS: usize = 16;

/// Which content-encryption algorithms a caller accepts.
#[derive(Debug, Clone, Copy)]
pub struct Ciphers {
    /// Accept single DES (desCBC). 3DES and AES-CBC are always accepted.
    pub allow_des: bool,
}

/// One RA key: its certificate (DER) and RSA private key.
pub struct RaKey<'a> {
    /// The RA certificate (DER) clients encrypt to.
    pub cert_der: &'a [u8],
    /// Its RSA private key.
    pub key: &'a PrivateDecryptingKey,
}

/// Open a ContentInfo(EnvelopedData) encrypted to one of `ras` and return the plaintext
/// (the CSR DER for PKCSReq/RenewalReq).
///
/// Picks the KeyTransRecipientInfo whose rid (issuerAndSerialNumber or
/// subjectKeyIdentifier) names one of `ras` (none → badMessageCheck), RSA PKCS#1
/// v1.5-decrypts the content-encryption key — on failure it continues with a random key
/// of the right length (implicit rejection: no padding oracle) — then decrypts the
/// content (CBC, PKCS#7 padding). Unknown algorithm, or single DES when not allowed →
/// badAlg; bad padding or wrong key → badMessageCheck; unparseable → badRequest.
pub fn open_envelope(
    envelope_der: &[u8],
    ras: &[RaKey<'_>],
    ciphers: Ciphers,
) -> Result<Vec<u8>, ScepError> {
    open_envelope_for(envelope_der, ras, ciphers).map(|(plain, _)| plain)
}

/// [`open_envelope`], also saying which of `ras` (its index) the envelope was for: that
/// RA signs the answer, the certificate the client fetched with GetCACert.
pub fn open_envelope_for(
    envelope_der: &[u8],
    ras: &[RaKey<'_>],
    ciphers: Ciphers,
) -> Result<(Vec<u8>, usize), ScepError> {
    if envelope_der.len() > MAX_MESSAGE_LEN {
        return Err(ScepError::bad_request("envelope larger than 64 KiB"));
    }
    let envelope_der = &*super::der_util::ber_to_der(envelope_der)?;
    super::der_util::check_shape(envelope_der)?;
    let env = parse_envelope(envelope_der)?;

    // The content algorithm first: no RSA work for what we would refuse anyway.
    let (alg, key_len, iv) = content_cipher(&env.content_enc_alg, ciphers)?;
    let ciphertext = &env.ciphertext;
    if ciphertext.is_empty() || ciphertext.len() % alg.block_len() != 0 {
        return Err(ScepError::bad_check(
            "encrypted content is not a whole number of blocks",
        ));
    }

    // The recipient that is us.
    let (enc_key, ra) = find_recipient(&env, ras)?;
    let index = ras
        .iter()
        .position(|r| std::ptr::eq(r, ra))
        .unwrap_or_default();
    let cek = decrypt_cek(enc_key, ra.key, key_len);

    let weak = || ScepError::bad_check("content decryption failed");
    let key = UnboundCipherKey::new(alg, &cek).map_err(|_| weak())?;
    let key = PaddedBlockDecryptingKey::cbc_pkcs7(key).map_err(|_| weak())?;
    let mut buf = ciphertext.clone();
    let plain = key.decrypt(&mut buf, iv).map_err(|_| weak())?;
    Ok((plain.to_vec(), index))
}

/// The parts of an EnvelopedData we use.
struct Envelope {
    recipients: Vec<RecipientInfo>,
    content_enc_alg: AlgorithmIdentifierOwned,
    ciphertext: Vec<u8>,
}

/// ContentInfo(EnvelopedData), walked by hand: encryptedContent is `[0] IMPLICIT OCTET
/// STRING` and some clients (Go's pkcs7, hence micromdm) send it in the BER constructed
/// form (`A0 { 04 .. 04 .. }`), which the DER-only `cms` types refuse.
fn parse_envelope(der: &[u8]) -> Result<Envelope, ScepError> {
    let bad = |what: &str| ScepError::bad_request(format!("bad EnvelopedData: {what}"));
    let (0x30, _, info, _) = read_tlv(der).ok_or_else(|| bad("not a ContentInfo"))? else {
        return Err(bad("ContentInfo is not a SEQUENCE"));
    };
    let (0x06, oid_tlv, _, rest) = read_tlv(info).ok_or_else(|| bad("no content type"))? else {
        return Err(bad("no content type"));
    };
    if ObjectIdentifier::from_der(oid_tlv).ok() != Some(ID_ENVELOPED_DATA) {
        return Err(ScepError::bad_request("messageData is not EnvelopedData"));
    }
    let (0xa0, _, explicit, _) = read_tlv(rest).ok_or_else(|| bad("no content"))? else {
        return Err(bad("no [0] content"));
    };
    let (0x30, _, env, _) = read_tlv(explicit).ok_or_else(|| bad("truncated"))? else {
        return Err(bad("EnvelopedData is not a SEQUENCE"));
    };
    // version, [0] originatorInfo OPTIONAL, recipientInfos, encryptedContentInfo, ...
    let (0x02, _, _, mut rest) = read_tlv(env).ok_or_else(|| bad("truncated"))? else {
        return Err(bad("no version"));
    };
    let (mut tag, _, mut content, mut after) = read_tlv(rest).ok_or_else(|| bad("truncated"))?;
    if tag == 0xa0 {
        rest = after;
        (tag, _, content, after) = read_tlv(rest).ok_or_else(|| bad("truncated"))?;
    }
    if tag != 0x31 {
        return Err(bad("no recipientInfos"));
    }
    let mut recipients = Vec::new();
    let mut ris = content;
    while !ris.is_empty() {
        let (_, whole, _, next) = read_tlv(ris).ok_or_else(|| bad("truncated recipientInfo"))?;
        if recipients.len() >= MAX_RECIPIENTS {
            return Err(bad("too many recipientInfos"));
        }
        // Recipient kinds we cannot parse cannot be us: skip them.
        if let Ok(ri) = RecipientInfo::from_der(whole) {
            recipients.push(ri);
        }
        ris = next;
    }
    let (0x30, _, eci, _) = read_tlv(after).ok_or_else(|| bad("truncated"))? else {
        return Err(bad("no encryptedContentInfo"));
    };
    let (0x06, oid_tlv, _, rest) = read_tlv(eci).ok_or_else(|| bad("truncated"))? else {
        return Err(bad("no encrypted content type"));
    };
    if ObjectIdentifier::from_der(oid_tlv).ok() != Some(ID_DATA) {
        return Err(ScepError::bad_request("encrypted content is not id-data"));
    }
    let (0x30, alg_tlv, _, rest) = read_tlv(rest).ok_or_else(|| bad("truncated"))? else {
        return Err(bad("no contentEncryptionAlgorithm"));
    };
    let content_enc_alg = AlgorithmIdentifierOwned::from_der(alg_tlv)
        .map_err(|_| bad("bad contentEncryptionAlgorithm"))?;
    let ciphertext = match read_tlv(rest) {
        Some((0x80, _, c, _)) => c.to_vec(),
        Some((0xa0, _, mut segments, _)) => {
            let mut c = Vec::with_capacity(segments.len());
            while !segments.is_empty() {
                let (0x04, _, seg, next) =
                    read_tlv(segments).ok_or_else(|| bad("truncated encryptedContent"))?
                else {
                    return Err(bad("encryptedContent segment is not an OCTET STRING"));
                };
                c.extend_from_slice(seg);
                segments = next;
            }
            c
        }
        _ => return Err(ScepError::bad_request("no encrypted content")),
    };
    Ok(Envelope {
        recipients,
        content_enc_alg,
        ciphertext,
    })
}

/// The cipher and IV named by a contentEncryptionAlgorithm.
fn content_cipher(
    alg: &AlgorithmIdentifierOwned,
    ciphers: Ciphers,
) -> Result<(&'static Algorithm, usize, DecryptionContext), ScepError> {
    #[allow(deprecated)]
    let (cipher, key_len, iv_len): (&'static Algorithm, usize, usize) = match alg.oid {
        AES128_CBC => (&AES_128, 16, 16),
        AES192_CBC => (&AES_192, 24, 16),
        AES256_CBC => (&AES_256, 32, 16),
        DES_EDE3_CBC => (&aws_lc_rs::cipher::DES_EDE3_FOR_LEGACY_USE_ONLY, 24, 8),
        DES_CBC if ciphers.allow_des => (&aws_lc_rs::cipher::DES_FOR_LEGACY_USE_ONLY, 8, 8),
        DES_CBC => return Err(ScepError::bad_alg("single DES is not accepted")),
        other => {
            return Err(ScepError::bad_alg(format!(
                "unsupported content encryption algorithm {other}"
            )));
        }
    };
    let params = alg
        .parameters
        .as_ref()
        .ok_or_else(|| ScepError::bad_request("content encryption algorithm has no IV"))?;
    if params.tag() != Tag::OctetString {
        return Err(ScepError::bad_request("IV is not an OCTET STRING"));
    }
    let iv = params
        .decode_as::<OctetString>()
        .map_err(|_| ScepError::bad_request("IV is not an OCTET STRING"))?;
    let iv = iv.as_bytes();
    let ctx = match iv_len {
        16 => FixedLength::<16>::try_from(iv).map(DecryptionContext::Iv128),
        _ => FixedLength::<8>::try_from(iv).map(DecryptionContext::Iv64),
    }
    .map_err(|_| ScepError::bad_request(format!("IV must be {iv_len} bytes")))?;
    Ok((cipher, key_len, ctx))
}

/// The encrypted key of the KeyTransRecipientInfo addressed to one of `ras`.
fn find_recipient<'e, 'r>(
    env: &'e Envelope,
    ras: &'r [RaKey<'r>],
) -> Result<(&'e [u8], &'r RaKey<'r>), ScepError> {
    let parsed: Vec<(Certificate, &RaKey<'_>)> = ras
        .iter()
        .filter_map(|ra| Certificate::from_der(ra.cert_der).ok().map(|c| (c, ra)))
        .collect();
    let mut unsupported = false;
    for ri in &env.recipients {
        let RecipientInfo::Ktri(ktri) = ri else {
            continue;
        };
        let hit = parsed.iter().find(|(cert, _)| match &ktri.rid {
            RecipientIdentifier::IssuerAndSerialNumber(ias) => matches_issuer_serial(cert, ias),
            RecipientIdentifier::SubjectKeyIdentifier(ski) => {
                subject_key_id(cert).as_deref() == Some(ski.0.as_bytes())
            }
        });
        if let Some((_, ra)) = hit {
            if ktri.key_enc_alg.oid != RSA_ENCRYPTION {
                unsupported = true;
                continue;
            }
            return Ok((ktri.enc_key.as_bytes(), ra));
        }
    }
    if unsupported {
        return Err(ScepError::bad_alg(
            "key transport algorithm is not rsaEncryption (PKCS#1 v1.5)",
        ));
    }
    Err(ScepError::bad_check("not encrypted to our RA"))
}

/// RSA PKCS#1 v1.5 decryption of the content-encryption key, with implicit rejection:
/// any failure (bad padding, wrong length) yields a key of `key_len` bytes derived from
/// the RA's private key and the ciphertext (HMAC-SHA256), so the caller fails later, at
/// the content padding, exactly as for a wrong key — and the same way on every retry
/// of the same ciphertext (a fresh random key would tell a retrying attacker which
/// ciphertexts were well padded).
pub(crate) fn decrypt_cek(enc_key: &[u8], key: &PrivateDecryptingKey, key_len: usize) -> Vec<u8> {
    use aws_lc_rs::encoding::AsDer;
    let fallback = || -> Vec<u8> {
        let secret = match key.as_der() {
            Ok(der) => {
                let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
                ctx.update(b"mooring scep implicit rejection\0");
                ctx.update(der.as_ref());
                ctx.finish().as_ref().to_vec()
            }
            // Cannot happen for a loaded key; a fixed secret still fails closed.
            Err(_) => vec![0u8; 32],
        };
        let mac_key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &secret);
        let tag = aws_lc_rs::hmac::sign(&mac_key, enc_key);
        let mut out = tag.as_ref().to_vec();
        out.resize(key_len, 0);
        out
    };
    let Ok(rsa) = Pkcs1PrivateDecryptingKey::new(key.clone()) else {
        return fallback();
    };
    if enc_key.len() != rsa.key_size_bytes() {
        return fallback();
    }
    let mut out = vec![0u8; rsa.min_output_size().max(rsa.key_size_bytes())];
    match rsa.decrypt(enc_key, &mut out) {
        Ok(cek) if cek.len() == key_len => cek.to_vec(),
        _ => fallback(),
    }
}
