//! Certificate revocation lists (RFC 5280 §5): a fast DER encoder for full and delta CRLs.
//!
//! Pure encoding, no I/O and no signing. [`tbs_cert_list`] writes the `TBSCertList` into
//! one pre-sized buffer: it first validates every entry and adds up the lengths, then
//! writes the DER by hand, with no allocation per entry (a million entries encode in a
//! few tens of milliseconds). The caller signs those bytes with the CA key and
//! [`assemble`] wraps TBS, algorithm and signature into the `CertificateList`.
//!
//! What is written (RFC 5280 §5, CA/B Forum Baseline Requirements §7.2):
//! - version v2; thisUpdate, nextUpdate and every revocationDate as UTCTime up to 2049,
//!   GeneralizedTime from 2050 on (§5.1.2.4);
//! - CRL extensions, all non-critical except the delta indicator: authorityKeyIdentifier
//!   (keyIdentifier only), cRLNumber, deltaCRLIndicator (**critical**, delta CRLs only),
//!   freshestCRL (full CRLs only: one DistributionPoint whose fullName is the URI);
//! - `revokedCertificates` is omitted when there are no entries (never an empty SEQUENCE);
//! - each serial as a positive, minimal DER INTEGER (`00` prefix when the high bit is set);
//! - reasonCode (non-critical ENUMERATED) for codes 1–5, 9 and 10; `unspecified` (0) is
//!   written as no reasonCode at all (§5.3.1); certificateHold (6), removeFromCRL (8),
//!   the unassigned 7 and anything else are refused with [`CrlError::Reason`].
//!
//! Entries are written in the order given. Invalid input is an error, never a panic.
//!
//! # Building a full CRL and its delta
//!
//! Full and delta CRLs of one issuer share **one** CRL-number sequence (§5.2.3): each
//! CRL, full or delta, takes the next number. A delta CRL names in `delta_base` the
//! number of the full CRL it is relative to and lists what changed since that full CRL
//! was built: Mooring never un-revokes (no certificateHold), so that is just the
//! certificates revoked since then (certificates that expired meanwhile need no entry).
//!
//! ```
//! use moor_core::KeyAlgorithm;
//! use moor_core::crl::{self, CrlEntry, CrlParams};
//!
//! # fn sign(_tbs: &[u8]) -> Vec<u8> { vec![0x30, 0x00] }
//! # let ca_subject_der = [0x30, 0x0e, 0x31, 0x0c, 0x30, 0x0a, 0x06, 0x03, 0x55, 0x04,
//! #                      0x03, 0x0c, 0x03, b'C', b'A', b'1'];
//! # let ca_ski = [0x42u8; 20];
//! # let now = 1_764_000_000i64;
//! let alg = crl::algorithm_identifier_der(KeyAlgorithm::EcdsaP256);
//! // Serials as big-endian magnitudes (`Serial::as_bytes()`); for large lists decode the
//! // stored hex into one contiguous buffer and borrow slices of it.
//! let serials: [[u8; 16]; 2] = [[0x81; 16], [0x17; 16]];
//! let all = [
//!     CrlEntry { serial: &serials[0], revoked_at: now - 86_400, reason: 1 },
//!     CrlEntry { serial: &serials[1], revoked_at: now - 60, reason: 0 },
//! ];
//!
//! // Full CRL number 41, pointing relying parties at the delta CRL.
//! let full = CrlParams {
//!     issuer_name_der: &ca_subject_der,
//!     authority_key_id: &ca_ski,
//!     number: 41,
//!     this_update: now,
//!     next_update: now + 7 * 86_400,
//!     delta_base: None,
//!     freshest_crl_url: Some("http://ca.example/crl/issuing-delta.crl"),
//!     signature_algorithm_der: &alg,
//! };
//! let tbs = crl::tbs_cert_list(&full, &all)?;
//! let full_der = crl::assemble(&tbs, &alg, &sign(&tbs));
//!
//! // An hour later: delta CRL number 42 relative to base 41, listing only what was
//! // revoked since CRL 41 was built. No freshestCRL in a delta (§5.2.6).
//! let later = now + 3_600;
//! let revoked_since: [CrlEntry; 0] = [];
//! let delta = CrlParams {
//!     number: 42,
//!     this_update: later,
//!     next_update: later + 86_400,
//!     delta_base: Some(41),
//!     freshest_crl_url: None,
//!     ..full
//! };
//! let tbs = crl::tbs_cert_list(&delta, &revoked_since)?;
//! let delta_der = crl::assemble(&tbs, &alg, &sign(&tbs));
//! # let _ = (full_der, delta_der);
//! # Ok::<(), crl::CrlError>(())
//! ```

use crate::KeyAlgorithm;

/// One revoked certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrlEntry<'a> {
    /// Serial number as big-endian magnitude bytes (what `Serial::as_bytes` gives).
    /// Leading zero bytes are ignored; at most 20 significant octets, not zero.
    pub serial: &'a [u8],
    /// Revocation time, unix seconds.
    pub revoked_at: i64,
    /// RFC 5280 CRLReason code: 0 (written as no reasonCode), 1–5, 9 or 10.
    pub reason: i32,
}

/// Everything about a CRL except its entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrlParams<'a> {
    /// The issuing CA certificate's subject Name, DER, copied verbatim as the CRL issuer.
    pub issuer_name_der: &'a [u8],
    /// The CA's subjectKeyIdentifier (written as the AKI keyIdentifier).
    pub authority_key_id: &'a [u8],
    /// CRL number, at least 1; full and delta CRLs of an issuer share the sequence.
    pub number: i64,
    /// thisUpdate, unix seconds.
    pub this_update: i64,
    /// nextUpdate, unix seconds; after `this_update`.
    pub next_update: i64,
    /// `Some(base)` makes a delta CRL relative to full CRL number `base` (1 ≤ base < number):
    /// a critical deltaCRLIndicator is written.
    pub delta_base: Option<i64>,
    /// Full CRLs only: the URL of the delta CRL, written as a non-critical freshestCRL.
    pub freshest_crl_url: Option<&'a str>,
    /// The signature AlgorithmIdentifier, DER (see [`algorithm_identifier_der`]); the same
    /// bytes must be given to [`assemble`].
    pub signature_algorithm_der: &'a [u8],
}

/// Why a CRL cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CrlError {
    /// The CRL number is below 1.
    #[error("CRL number must be at least 1, got {0}")]
    Number(i64),
    /// The delta CRL's base number is not in `1..number`.
    #[error("delta CRL base {base} must be at least 1 and below the CRL number {number}")]
    DeltaBase {
        /// The base CRL number given.
        base: i64,
        /// The CRL number given.
        number: i64,
    },
    /// nextUpdate is not after thisUpdate.
    #[error("nextUpdate ({next_update}) must be after thisUpdate ({this_update})")]
    UpdateOrder {
        /// thisUpdate, unix seconds.
        this_update: i64,
        /// nextUpdate, unix seconds.
        next_update: i64,
    },
    /// A time outside 1970-01-01 ..= 9999-12-31T23:59:59Z.
    #[error("{field} {value} is outside 1970..=9999 (unix seconds)")]
    TimeRange {
        /// Which time (`thisUpdate`, `nextUpdate`, `revocationDate`).
        field: &'static str,
        /// The unix time given.
        value: i64,
    },
    /// An entry's revocation time is outside 1970 ..= 9999.
    #[error("entry {index}: revocationDate {value} is outside 1970..=9999 (unix seconds)")]
    EntryTime {
        /// Position in the entry list.
        index: usize,
        /// The unix time given.
        value: i64,
    },
    /// An entry's serial is zero or longer than 20 octets.
    #[error("entry {index}: serial must be a positive integer of at most 20 octets")]
    Serial {
        /// Position in the entry list.
        index: usize,
    },
    /// An entry's reason code is refused (hold, removeFromCRL, unassigned, unknown).
    #[error(
        "entry {index}: reason code {code} is refused (allowed: 0-5, 9, 10; certificateHold and removeFromCRL are never used)"
    )]
    Reason {
        /// Position in the entry list.
        index: usize,
        /// The code given.
        code: i32,
    },
    /// freshestCRL was asked for on a delta CRL (RFC 5280 §5.2.6 forbids it).
    #[error("a delta CRL must not carry the freshest CRL extension")]
    FreshestOnDelta,
    /// The freshest CRL URL is empty or not printable ASCII (IA5String, no spaces).
    #[error("freshest CRL URL must be non-empty printable ASCII without spaces")]
    FreshestUrl,
    /// The authority key identifier is empty or longer than 64 octets.
    #[error("authority key identifier must be 1 to 64 octets")]
    KeyId,
    /// `issuer_name_der` or `signature_algorithm_der` is not one non-empty DER SEQUENCE.
    #[error("{0} is not one non-empty DER SEQUENCE")]
    NotSequence(&'static str),
}

/// Unix time of 2050-01-01T00:00:00Z: from here on times are GeneralizedTime.
const Y2050: i64 = 2_524_608_000;
/// Unix time of 9999-12-31T23:59:59Z, the last representable second.
const MAX_TIME: i64 = 253_402_300_799;
/// Longest serial magnitude accepted (RFC 5280 §4.1.2.2).
const MAX_SERIAL: usize = 20;

/// id-ce-cRLReasons extension of an entry, with the ENUMERATED header: append the code.
/// Extensions { Extension { 2.5.29.21, OCTET STRING { ENUMERATED code } } }.
const REASON_EXT: [u8; 13] = [
    0x30, 0x0c, 0x30, 0x0a, 0x06, 0x03, 0x55, 0x1d, 0x15, 0x04, 0x03, 0x0a, 0x01,
];
const OID_AKI: [u8; 3] = [0x55, 0x1d, 0x23];
const OID_CRL_NUMBER: [u8; 3] = [0x55, 0x1d, 0x14];
const OID_DELTA_CRL_INDICATOR: [u8; 3] = [0x55, 0x1d, 0x1b];
const OID_FRESHEST_CRL: [u8; 3] = [0x55, 0x1d, 0x2e];

/// The signature AlgorithmIdentifier of `alg`, DER (the same as
/// [`crate::ocsp::signature_algorithm`], explicit NULL parameters for RSA).
pub fn algorithm_identifier_der(alg: KeyAlgorithm) -> Vec<u8> {
    let id = crate::ocsp::signature_algorithm(alg);
    let oid = id.oid.as_bytes();
    let params: &[u8] = if id.parameters.is_some() {
        &[0x05, 0x00]
    } else {
        &[]
    };
    let mut oid_tlv = Vec::with_capacity(oid.len() + 2 + params.len());
    push_tlv(&mut oid_tlv, 0x06, oid);
    oid_tlv.extend_from_slice(params);
    tlv(0x30, &oid_tlv)
}

/// The DER `TBSCertList` of a full or delta CRL (see the module documentation).
pub fn tbs_cert_list(params: &CrlParams, entries: &[CrlEntry]) -> Result<Vec<u8>, CrlError> {
    validate(params)?;
    let mut entries_len = 0usize;
    for (index, e) in entries.iter().enumerate() {
        entries_len += entry_len(index, e)?;
    }

    // Everything before revokedCertificates: version, signature, issuer, thisUpdate, nextUpdate.
    let mut head = Vec::with_capacity(
        3 + params.signature_algorithm_der.len() + params.issuer_name_der.len() + 34,
    );
    head.extend_from_slice(&[0x02, 0x01, 0x01]);
    head.extend_from_slice(params.signature_algorithm_der);
    head.extend_from_slice(params.issuer_name_der);
    let mut clock = TimeWriter::default();
    let mut t = [0u8; 17];
    let n = clock.write(params.this_update, &mut t);
    head.extend_from_slice(&t[..n]);
    let n = clock.write(params.next_update, &mut t);
    head.extend_from_slice(&t[..n]);

    let extensions = crl_extensions(params);
    let revoked_len = if entries.is_empty() {
        0
    } else {
        tlv_len(entries_len)
    };
    let body = head.len() + revoked_len + extensions.len();
    let mut out = Vec::with_capacity(tlv_len(body));
    out.push(0x30);
    push_len(&mut out, body);
    out.extend_from_slice(&head);
    if !entries.is_empty() {
        out.push(0x30);
        push_len(&mut out, entries_len);
        let mut buf = [0u8; MAX_ENTRY];
        for e in entries {
            let n = write_entry(e, &mut clock, &mut buf);
            out.extend_from_slice(&buf[..n]);
        }
    }
    out.extend_from_slice(&extensions);
    debug_assert_eq!(out.len(), tlv_len(body));
    Ok(out)
}

/// The DER `CertificateList`: the signed `tbs`, the AlgorithmIdentifier (the same bytes as
/// `CrlParams::signature_algorithm_der`) and the signature value (for ECDSA the
/// DER `Ecdsa-Sig-Value`).
pub fn assemble(tbs: &[u8], signature_algorithm_der: &[u8], signature: &[u8]) -> Vec<u8> {
    let sig_len = tlv_len(signature.len() + 1);
    let body = tbs.len() + signature_algorithm_der.len() + sig_len;
    let mut out = Vec::with_capacity(tlv_len(body));
    out.push(0x30);
    push_len(&mut out, body);
    out.extend_from_slice(tbs);
    out.extend_from_slice(signature_algorithm_der);
    out.push(0x03);
    push_len(&mut out, signature.len() + 1);
    out.push(0x00); // no unused bits
    out.extend_from_slice(signature);
    out
}

fn validate(p: &CrlParams) -> Result<(), CrlError> {
    if p.number < 1 {
        return Err(CrlError::Number(p.number));
    }
    if let Some(base) = p.delta_base {
        if base < 1 || base >= p.number {
            return Err(CrlError::DeltaBase {
                base,
                number: p.number,
            });
        }
        if p.freshest_crl_url.is_some() {
            return Err(CrlError::FreshestOnDelta);
        }
    }
    for (field, value) in [("thisUpdate", p.this_update), ("nextUpdate", p.next_update)] {
        if !(0..=MAX_TIME).contains(&value) {
            return Err(CrlError::TimeRange { field, value });
        }
    }
    if p.next_update <= p.this_update {
        return Err(CrlError::UpdateOrder {
            this_update: p.this_update,
            next_update: p.next_update,
        });
    }
    if let Some(url) = p.freshest_crl_url
        && (url.is_empty() || !url.bytes().all(|b| b.is_ascii_graphic()))
    {
        return Err(CrlError::FreshestUrl);
    }
    if p.authority_key_id.is_empty() || p.authority_key_id.len() > 64 {
        return Err(CrlError::KeyId);
    }
    if !is_one_sequence(p.issuer_name_der) {
        return Err(CrlError::NotSequence("issuer_name_der"));
    }
    if !is_one_sequence(p.signature_algorithm_der) {
        return Err(CrlError::NotSequence("signature_algorithm_der"));
    }
    Ok(())
}

/// Whether `der` is exactly one SEQUENCE TLV with non-empty content.
fn is_one_sequence(der: &[u8]) -> bool {
    let [0x30, first, rest @ ..] = der else {
        return false;
    };
    let (len, rest) = match *first {
        n if n < 0x80 => (n as usize, rest),
        n @ 0x81..=0x84 => {
            let k = (n & 0x7f) as usize;
            if rest.len() < k {
                return false;
            }
            let len = rest[..k]
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | *b as usize);
            (len, &rest[k..])
        }
        _ => return false,
    };
    len > 0 && len == rest.len()
}

/// The crlExtensions field: `[0] EXPLICIT Extensions`.
fn crl_extensions(p: &CrlParams) -> Vec<u8> {
    let mut exts = Vec::with_capacity(128);
    // AKI ::= SEQUENCE { keyIdentifier [0] IMPLICIT OCTET STRING }
    extension(
        &mut exts,
        &OID_AKI,
        false,
        &tlv(0x30, &tlv(0x80, p.authority_key_id)),
    );
    extension(&mut exts, &OID_CRL_NUMBER, false, &integer(p.number));
    if let Some(base) = p.delta_base {
        extension(&mut exts, &OID_DELTA_CRL_INDICATOR, true, &integer(base));
    }
    if let Some(url) = p.freshest_crl_url {
        // CRLDistributionPoints ::= SEQUENCE OF DistributionPoint { distributionPoint [0]
        // DistributionPointName { fullName [0] GeneralNames { uniformResourceIdentifier [6] } } }
        let uri = tlv(0x86, url.as_bytes());
        let dp = tlv(0x30, &tlv(0xa0, &tlv(0xa0, &uri)));
        extension(&mut exts, &OID_FRESHEST_CRL, false, &tlv(0x30, &dp));
    }
    tlv(0xa0, &tlv(0x30, &exts))
}

/// Append `Extension ::= SEQUENCE { extnID, critical DEFAULT FALSE, extnValue }`.
fn extension(out: &mut Vec<u8>, oid: &[u8], critical: bool, value: &[u8]) {
    let mut body = Vec::with_capacity(value.len() + 16);
    push_tlv(&mut body, 0x06, oid);
    if critical {
        body.extend_from_slice(&[0x01, 0x01, 0xff]);
    }
    push_tlv(&mut body, 0x04, value);
    push_tlv(out, 0x30, &body);
}

/// A positive INTEGER TLV of `n` (n ≥ 1 after validation).
fn integer(n: i64) -> Vec<u8> {
    let bytes = n.to_be_bytes();
    let mag = strip_zeros(&bytes);
    let mut out = Vec::with_capacity(11);
    out.push(0x02);
    out.push(int_content_len(mag) as u8);
    if mag[0] & 0x80 != 0 {
        out.push(0x00);
    }
    out.extend_from_slice(mag);
    out
}

/// Longest encoded entry: SEQUENCE header 2 + serial 2+21 + GeneralizedTime 17 + reason 14.
const MAX_ENTRY: usize = 56;

/// Validate one entry and return its encoded length.
#[inline]
fn entry_len(index: usize, e: &CrlEntry) -> Result<usize, CrlError> {
    let mag = strip_zeros(e.serial);
    if mag.is_empty() || mag.len() > MAX_SERIAL {
        return Err(CrlError::Serial { index });
    }
    if !(0..=MAX_TIME).contains(&e.revoked_at) {
        return Err(CrlError::EntryTime {
            index,
            value: e.revoked_at,
        });
    }
    let ext = match e.reason {
        0 => 0,
        1..=5 | 9 | 10 => REASON_EXT.len() + 1,
        code => return Err(CrlError::Reason { index, code }),
    };
    Ok(2 + 2 + int_content_len(mag) + time_len(e.revoked_at) + ext)
}

/// Write one (validated) entry into `buf`, returning its length (always < 128, so the
/// SEQUENCE length is one octet).
#[inline]
fn write_entry(e: &CrlEntry, clock: &mut TimeWriter, buf: &mut [u8; MAX_ENTRY]) -> usize {
    let mag = strip_zeros(e.serial);
    let pad = (mag[0] >> 7) as usize;
    buf[0] = 0x30;
    buf[2] = 0x02;
    buf[3] = (mag.len() + pad) as u8;
    buf[4] = 0;
    let mut i = 4 + pad;
    buf[i..i + mag.len()].copy_from_slice(mag);
    i += mag.len();
    let mut t = [0u8; 17];
    let n = clock.write(e.revoked_at, &mut t);
    buf[i..i + n].copy_from_slice(&t[..n]);
    i += n;
    if e.reason != 0 {
        buf[i..i + REASON_EXT.len()].copy_from_slice(&REASON_EXT);
        i += REASON_EXT.len();
        buf[i] = e.reason as u8;
        i += 1;
    }
    buf[1] = (i - 2) as u8;
    i
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|x| *x != 0).unwrap_or(b.len());
    &b[start..]
}

/// Content length of the positive INTEGER with magnitude `mag` (non-empty, no leading 0).
#[inline]
fn int_content_len(mag: &[u8]) -> usize {
    mag.len() + (mag[0] >> 7) as usize
}

#[inline]
fn time_len(t: i64) -> usize {
    if t < Y2050 { 15 } else { 17 }
}

/// Formats UTCTime / GeneralizedTime TLVs, remembering the last day's date digits
/// (revocation times of a CRL cluster on few days).
#[derive(Default)]
struct TimeWriter {
    day: Option<i64>,
    /// YYYYMMDD of `day`.
    date: [u8; 8],
}

impl TimeWriter {
    /// Write the Time TLV of validated unix time `t` into `out`, returning its length.
    #[inline]
    fn write(&mut self, t: i64, out: &mut [u8; 17]) -> usize {
        let day = t.div_euclid(86_400);
        let secs = t.rem_euclid(86_400) as u32;
        if self.day != Some(day) {
            let (y, m, d) = civil_from_days(day);
            let y = y as u32;
            self.date = [
                b'0' + (y / 1000 % 10) as u8,
                b'0' + (y / 100 % 10) as u8,
                b'0' + (y / 10 % 10) as u8,
                b'0' + (y % 10) as u8,
                b'0' + (m / 10) as u8,
                b'0' + (m % 10) as u8,
                b'0' + (d / 10) as u8,
                b'0' + (d % 10) as u8,
            ];
            self.day = Some(day);
        }
        let (h, mi, s) = (secs / 3600, secs / 60 % 60, secs % 60);
        let hms = [
            b'0' + (h / 10) as u8,
            b'0' + (h % 10) as u8,
            b'0' + (mi / 10) as u8,
            b'0' + (mi % 10) as u8,
            b'0' + (s / 10) as u8,
            b'0' + (s % 10) as u8,
            b'Z',
        ];
        if t < Y2050 {
            out[0] = 0x17;
            out[1] = 13;
            out[2..8].copy_from_slice(&self.date[2..]);
            out[8..15].copy_from_slice(&hms);
            15
        } else {
            out[0] = 0x18;
            out[1] = 15;
            out[2..10].copy_from_slice(&self.date);
            out[10..17].copy_from_slice(&hms);
            17
        }
    }
}

/// Proleptic Gregorian (year, month, day) of days since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn len_len(n: usize) -> usize {
    if n < 0x80 {
        1
    } else {
        1 + (usize::BITS - n.leading_zeros()).div_ceil(8) as usize
    }
}

fn tlv_len(content: usize) -> usize {
    1 + len_len(content) + content
}

fn push_len(out: &mut Vec<u8>, n: usize) {
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes = n.to_be_bytes();
        let skip = n.leading_zeros() as usize / 8;
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

fn push_tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    push_len(out, content.len());
    out.extend_from_slice(content);
}

pub(crate) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(tlv_len(content.len()));
    push_tlv(&mut out, tag, content);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use der::asn1::ObjectIdentifier;
    use der::{Decode, Encode};
    use x509_cert::crl::CertificateList;
    use x509_cert::ext::Extension;
    use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
    use x509_cert::ext::pkix::{
        AuthorityKeyIdentifier, BaseCrlNumber, CrlNumber, CrlReason, FreshestCrl,
    };
    use x509_cert::time::Time;

    const NOW: i64 = 1_764_000_000; // 2025-11-24T16:00:00Z
    const URL: &str = "http://ca.example/crl/issuing-delta.crl";

    fn name() -> Vec<u8> {
        // Name: SEQUENCE { SET { SEQUENCE { CN, UTF8String "Test CA" } } }
        let atv = [&[0x06, 0x03, 0x55, 0x04, 0x03][..], &tlv(0x0c, b"Test CA")].concat();
        tlv(0x30, &tlv(0x31, &tlv(0x30, &atv)))
    }

    struct Fixture {
        name: Vec<u8>,
        alg: Vec<u8>,
        ski: Vec<u8>,
    }

    impl Fixture {
        fn new() -> Fixture {
            Fixture {
                name: name(),
                alg: algorithm_identifier_der(KeyAlgorithm::EcdsaP256),
                ski: (1..=20).collect(),
            }
        }
        fn full(&self) -> CrlParams<'_> {
            CrlParams {
                issuer_name_der: &self.name,
                authority_key_id: &self.ski,
                number: 7,
                this_update: NOW,
                next_update: NOW + 7 * 86_400,
                delta_base: None,
                freshest_crl_url: Some(URL),
                signature_algorithm_der: &self.alg,
            }
        }
        fn delta(&self) -> CrlParams<'_> {
            CrlParams {
                number: 8,
                delta_base: Some(7),
                freshest_crl_url: None,
                next_update: NOW + 86_400,
                ..self.full()
            }
        }
    }

    /// Encode, assemble with a dummy signature, decode, and check the DER is canonical
    /// (x509-cert re-encodes it to the same bytes).
    fn decode(params: &CrlParams, entries: &[CrlEntry]) -> CertificateList {
        let tbs = tbs_cert_list(params, entries).expect("encodes");
        let der = assemble(&tbs, params.signature_algorithm_der, &[0x30, 0x00]);
        let crl = CertificateList::from_der(&der).expect("x509-cert decodes it");
        assert_eq!(crl.to_der().expect("re-encode"), der, "DER is canonical");
        assert_eq!(crl.tbs_cert_list.to_der().expect("tbs"), tbs);
        crl
    }

    /// INTEGER content octets of a (minimal) magnitude.
    fn int_content(mag: &[u8]) -> Vec<u8> {
        if mag[0] & 0x80 != 0 {
            [[0u8].as_slice(), mag].concat()
        } else {
            mag.to_vec()
        }
    }

    fn unix(t: &Time) -> i64 {
        t.to_unix_duration().as_secs() as i64
    }

    fn ext<'c>(crl: &'c CertificateList, oid: &str) -> Option<&'c Extension> {
        let oid = ObjectIdentifier::new_unwrap(oid);
        crl.tbs_cert_list
            .crl_extensions
            .as_ref()?
            .iter()
            .find(|e| e.extn_id == oid)
    }

    #[test]
    fn full_crl_fields_decode() {
        let f = Fixture::new();
        let serials: Vec<[u8; 16]> = (0u8..12).map(|i| [i.wrapping_mul(37) | 1; 16]).collect();
        let entries: Vec<CrlEntry> = serials
            .iter()
            .enumerate()
            .map(|(i, s)| CrlEntry {
                serial: s,
                revoked_at: NOW - 1000 * i as i64,
                reason: [0, 1, 2, 3, 4, 5, 9, 10][i % 8],
            })
            .collect();
        let crl = decode(&f.full(), &entries);
        let tbs = &crl.tbs_cert_list;
        assert_eq!(tbs.version, x509_cert::Version::V2);
        assert_eq!(tbs.signature.to_der().unwrap(), f.alg);
        assert_eq!(crl.signature_algorithm.to_der().unwrap(), f.alg);
        assert_eq!(tbs.issuer.to_der().unwrap(), f.name);
        assert!(matches!(tbs.this_update, Time::UtcTime(_)));
        assert_eq!(unix(&tbs.this_update), NOW);
        assert_eq!(unix(tbs.next_update.as_ref().unwrap()), NOW + 7 * 86_400);

        let revoked = tbs.revoked_certificates.as_ref().expect("entries");
        assert_eq!(revoked.len(), entries.len());
        for (r, e) in revoked.iter().zip(&entries) {
            assert_eq!(r.serial_number.as_bytes(), int_content(e.serial));
            assert!(matches!(r.revocation_date, Time::UtcTime(_)));
            assert_eq!(unix(&r.revocation_date), e.revoked_at);
            match (&r.crl_entry_extensions, e.reason) {
                (None, 0) => {}
                (Some(exts), code) if code != 0 => {
                    assert_eq!(exts.len(), 1);
                    let x = &exts[0];
                    assert_eq!(x.extn_id, ObjectIdentifier::new_unwrap("2.5.29.21"));
                    assert!(!x.critical);
                    let reason = CrlReason::from_der(x.extn_value.as_bytes()).unwrap();
                    assert_eq!(reason as i32, code);
                }
                (other, code) => panic!("reason {code} encoded as {other:?}"),
            }
        }

        let exts = tbs.crl_extensions.as_ref().unwrap();
        assert_eq!(exts.len(), 3, "AKI, CRL number, freshest CRL");
        assert!(exts.iter().all(|e| !e.critical));
        let aki = ext(&crl, "2.5.29.35").expect("AKI");
        let aki = AuthorityKeyIdentifier::from_der(aki.extn_value.as_bytes()).unwrap();
        assert_eq!(aki.key_identifier.unwrap().as_bytes(), f.ski);
        assert!(aki.authority_cert_issuer.is_none() && aki.authority_cert_serial_number.is_none());
        let num = ext(&crl, "2.5.29.20").expect("CRL number");
        let num = CrlNumber::from_der(num.extn_value.as_bytes()).unwrap();
        assert_eq!(num.0.as_bytes(), [7]);
        assert!(ext(&crl, "2.5.29.27").is_none(), "no delta indicator");
        let fresh = ext(&crl, "2.5.29.46").expect("freshest CRL");
        let dps = FreshestCrl::from_der(fresh.extn_value.as_bytes())
            .unwrap()
            .0;
        assert_eq!(dps.len(), 1);
        assert!(dps[0].reasons.is_none() && dps[0].crl_issuer.is_none());
        match &dps[0].distribution_point {
            Some(DistributionPointName::FullName(names)) => {
                assert_eq!(names.len(), 1);
                match &names[0] {
                    GeneralName::UniformResourceIdentifier(u) => assert_eq!(u.as_str(), URL),
                    other => panic!("not a URI: {other:?}"),
                }
            }
            other => panic!("distributionPoint: {other:?}"),
        }
    }

    #[test]
    fn delta_crl_has_critical_indicator_and_no_freshest() {
        let f = Fixture::new();
        let serial = [0x55u8; 16];
        let crl = decode(
            &f.delta(),
            &[CrlEntry {
                serial: &serial,
                revoked_at: NOW - 5,
                reason: 1,
            }],
        );
        let ind = ext(&crl, "2.5.29.27").expect("delta indicator");
        assert!(ind.critical);
        let base = BaseCrlNumber::from_der(ind.extn_value.as_bytes()).unwrap();
        assert_eq!(base.0.as_bytes(), [7]);
        let num = ext(&crl, "2.5.29.20").expect("CRL number");
        assert!(!num.critical);
        assert_eq!(
            CrlNumber::from_der(num.extn_value.as_bytes())
                .unwrap()
                .0
                .as_bytes(),
            [8]
        );
        assert!(ext(&crl, "2.5.29.46").is_none());
        assert!(!ext(&crl, "2.5.29.35").unwrap().critical);
        let exts = crl.tbs_cert_list.crl_extensions.as_ref().unwrap();
        assert_eq!(exts.iter().filter(|e| e.critical).count(), 1);
    }

    #[test]
    fn empty_entry_list_omits_revoked_certificates() {
        let f = Fixture::new();
        for params in [f.full(), f.delta()] {
            let crl = decode(&params, &[]);
            assert!(crl.tbs_cert_list.revoked_certificates.is_none());
            // No empty SEQUENCE anywhere between nextUpdate and the [0] extensions.
            let tbs = tbs_cert_list(&params, &[]).unwrap();
            let this_update = tbs.windows(2).position(|w| w == [0x17, 13]).unwrap();
            assert_eq!(tbs[this_update + 15], 0x17, "nextUpdate");
            assert_eq!(
                tbs[this_update + 30],
                0xa0,
                "extensions follow nextUpdate directly"
            );
        }
    }

    #[test]
    fn serial_encoding_is_positive_minimal_der() {
        let f = Fixture::new();
        let cases: [(&[u8], &[u8]); 5] = [
            (&[0x80, 1, 2], &[0x02, 0x04, 0x00, 0x80, 1, 2]),
            (&[0x7f, 0xff], &[0x02, 0x02, 0x7f, 0xff]),
            (&[0, 0, 0x12], &[0x02, 0x01, 0x12]),
            (&[0, 0xff], &[0x02, 0x02, 0x00, 0xff]),
            (&[1], &[0x02, 0x01, 0x01]),
        ];
        for (input, der) in cases {
            let e = CrlEntry {
                serial: input,
                revoked_at: NOW,
                reason: 0,
            };
            let tbs = tbs_cert_list(&f.full(), &[e]).unwrap();
            assert!(
                tbs.windows(der.len()).any(|w| w == der),
                "{input:02x?} must encode as {der:02x?}"
            );
            let crl = decode(&f.full(), &[e]);
            let r = &crl.tbs_cert_list.revoked_certificates.unwrap()[0];
            assert_eq!(r.serial_number.as_bytes(), &der[2..]);
        }
    }

    #[test]
    fn twenty_octet_serials() {
        let f = Fixture::new();
        let low = [0x7eu8; 20];
        let high = [0xfeu8; 20];
        let with_zeros = [[0u8; 5].as_slice(), &low].concat();
        let entries = [
            CrlEntry {
                serial: &low,
                revoked_at: NOW,
                reason: 4,
            },
            CrlEntry {
                serial: &high,
                revoked_at: NOW,
                reason: 0,
            },
            CrlEntry {
                serial: &with_zeros,
                revoked_at: NOW,
                reason: 0,
            },
        ];
        let crl = decode(&f.full(), &entries);
        let revoked = crl.tbs_cert_list.revoked_certificates.unwrap();
        assert_eq!(revoked[0].serial_number.as_bytes(), low);
        // A 20-octet magnitude with the high bit set needs the 0x00 prefix (21 octets),
        // exactly as the certificate carrying it did.
        assert_eq!(
            revoked[1].serial_number.as_bytes(),
            [[0u8].as_slice(), &high].concat()
        );
        assert_eq!(revoked[2].serial_number.as_bytes(), low);

        let too_long = [0x01u8; 21];
        let zero = [0u8; 4];
        for (serial, index) in [(&too_long[..], 0), (&zero[..], 0), (&[][..], 0)] {
            let e = CrlEntry {
                serial,
                revoked_at: NOW,
                reason: 0,
            };
            assert_eq!(
                tbs_cert_list(&f.full(), &[e]),
                Err(CrlError::Serial { index })
            );
        }
    }

    #[test]
    fn times_switch_to_generalized_time_in_2050() {
        let f = Fixture::new();
        let last_utc = Y2050 - 1; // 2049-12-31T23:59:59Z
        let s = [9u8];
        let entries = [
            CrlEntry {
                serial: &s,
                revoked_at: last_utc,
                reason: 0,
            },
            CrlEntry {
                serial: &s,
                revoked_at: Y2050,
                reason: 1,
            },
            CrlEntry {
                serial: &s,
                revoked_at: MAX_TIME,
                reason: 0,
            },
            CrlEntry {
                serial: &s,
                revoked_at: 951_782_400, // 2000-02-29T00:00:00Z
                reason: 0,
            },
        ];
        let params = CrlParams {
            this_update: last_utc,
            next_update: Y2050 + 86_400,
            ..f.full()
        };
        let tbs = tbs_cert_list(&params, &entries).unwrap();
        for needle in [
            &b"\x17\x0d491231235959Z"[..],
            b"\x18\x0f20500101000000Z",
            b"\x18\x0f20500102000000Z",
            b"\x18\x0f99991231235959Z",
            b"\x17\x0d000229000000Z",
        ] {
            assert!(
                tbs.windows(needle.len()).any(|w| w == needle),
                "{}",
                String::from_utf8_lossy(needle)
            );
        }
        let crl = decode(&params, &entries);
        let tbs = &crl.tbs_cert_list;
        assert!(matches!(tbs.this_update, Time::UtcTime(_)));
        assert!(matches!(tbs.next_update, Some(Time::GeneralTime(_))));
        assert_eq!(unix(tbs.next_update.as_ref().unwrap()), Y2050 + 86_400);
        let revoked = tbs.revoked_certificates.as_ref().unwrap();
        assert!(matches!(revoked[0].revocation_date, Time::UtcTime(_)));
        assert!(matches!(revoked[1].revocation_date, Time::GeneralTime(_)));
        for (r, e) in revoked.iter().zip(&entries) {
            assert_eq!(unix(&r.revocation_date), e.revoked_at);
        }
    }

    #[test]
    fn civil_dates_match_the_time_crate() {
        let mut clock = TimeWriter::default();
        let mut out = [0u8; 17];
        let mut t = 0i64;
        while t <= MAX_TIME {
            let n = clock.write(t, &mut out);
            let dt = time::OffsetDateTime::from_unix_timestamp(t).unwrap();
            let want = if t < Y2050 {
                format!(
                    "{:02}{:02}{:02}{:02}{:02}{:02}Z",
                    dt.year() % 100,
                    dt.month() as u8,
                    dt.day(),
                    dt.hour(),
                    dt.minute(),
                    dt.second()
                )
            } else {
                format!(
                    "{:04}{:02}{:02}{:02}{:02}{:02}Z",
                    dt.year(),
                    dt.month() as u8,
                    dt.day(),
                    dt.hour(),
                    dt.minute(),
                    dt.second()
                )
            };
            assert_eq!(&out[2..n], want.as_bytes(), "t = {t}");
            t += 86_400 * 7 + 3_607;
        }
    }

    #[test]
    fn reason_codes() {
        let f = Fixture::new();
        let s = [0x42u8; 16];
        for code in [1, 2, 3, 4, 5, 9, 10] {
            let crl = decode(
                &f.full(),
                &[CrlEntry {
                    serial: &s,
                    revoked_at: NOW,
                    reason: code,
                }],
            );
            let r = &crl.tbs_cert_list.revoked_certificates.unwrap()[0];
            let exts = r.crl_entry_extensions.as_ref().expect("reasonCode");
            assert!(!exts[0].critical);
            let reason = CrlReason::from_der(exts[0].extn_value.as_bytes()).unwrap();
            assert_eq!(reason as i32, code);
        }
        let crl = decode(
            &f.full(),
            &[CrlEntry {
                serial: &s,
                revoked_at: NOW,
                reason: 0,
            }],
        );
        let r = &crl.tbs_cert_list.revoked_certificates.unwrap()[0];
        assert!(
            r.crl_entry_extensions.is_none(),
            "unspecified: no reasonCode"
        );

        for code in [6, 8, 7, 11, -1, i32::MAX] {
            let entries = [
                CrlEntry {
                    serial: &s,
                    revoked_at: NOW,
                    reason: 1,
                },
                CrlEntry {
                    serial: &s,
                    revoked_at: NOW,
                    reason: code,
                },
            ];
            assert_eq!(
                tbs_cert_list(&f.full(), &entries),
                Err(CrlError::Reason { index: 1, code })
            );
        }
    }

    #[test]
    fn crl_numbers_are_positive_integers() {
        let f = Fixture::new();
        for (number, content) in [
            (1i64, vec![1u8]),
            (127, vec![0x7f]),
            (128, vec![0x00, 0x80]),
            (65_536, vec![1, 0, 0]),
            (i64::MAX, i64::MAX.to_be_bytes().to_vec()),
        ] {
            let params = CrlParams {
                number,
                delta_base: Some(1).filter(|_| number > 1),
                freshest_crl_url: None,
                ..f.full()
            };
            let crl = decode(&params, &[]);
            let n = ext(&crl, "2.5.29.20").unwrap();
            assert_eq!(n.extn_value.as_bytes()[0], 0x02);
            assert_eq!(&n.extn_value.as_bytes()[2..], content);
        }
    }

    #[test]
    fn invalid_params_are_errors() {
        let f = Fixture::new();
        let full = f.full();
        let delta = f.delta();
        let bad_der = [0x30, 0x05, 0x01];
        let empty_seq = [0x30, 0x00];
        let cases: Vec<(CrlParams, CrlError)> = vec![
            (CrlParams { number: 0, ..full }, CrlError::Number(0)),
            (CrlParams { number: -3, ..full }, CrlError::Number(-3)),
            (
                CrlParams {
                    delta_base: Some(8),
                    ..delta
                },
                CrlError::DeltaBase { base: 8, number: 8 },
            ),
            (
                CrlParams {
                    delta_base: Some(9),
                    ..delta
                },
                CrlError::DeltaBase { base: 9, number: 8 },
            ),
            (
                CrlParams {
                    delta_base: Some(0),
                    ..delta
                },
                CrlError::DeltaBase { base: 0, number: 8 },
            ),
            (
                CrlParams {
                    freshest_crl_url: Some(URL),
                    ..delta
                },
                CrlError::FreshestOnDelta,
            ),
            (
                CrlParams {
                    next_update: NOW,
                    ..full
                },
                CrlError::UpdateOrder {
                    this_update: NOW,
                    next_update: NOW,
                },
            ),
            (
                CrlParams {
                    next_update: NOW - 1,
                    ..full
                },
                CrlError::UpdateOrder {
                    this_update: NOW,
                    next_update: NOW - 1,
                },
            ),
            (
                CrlParams {
                    this_update: -1,
                    ..full
                },
                CrlError::TimeRange {
                    field: "thisUpdate",
                    value: -1,
                },
            ),
            (
                CrlParams {
                    next_update: MAX_TIME + 1,
                    ..full
                },
                CrlError::TimeRange {
                    field: "nextUpdate",
                    value: MAX_TIME + 1,
                },
            ),
            (
                CrlParams {
                    freshest_crl_url: Some(""),
                    ..full
                },
                CrlError::FreshestUrl,
            ),
            (
                CrlParams {
                    freshest_crl_url: Some("http://ca.example/a b"),
                    ..full
                },
                CrlError::FreshestUrl,
            ),
            (
                CrlParams {
                    freshest_crl_url: Some("http://ca.éxample/"),
                    ..full
                },
                CrlError::FreshestUrl,
            ),
            (
                CrlParams {
                    authority_key_id: &[],
                    ..full
                },
                CrlError::KeyId,
            ),
            (
                CrlParams {
                    authority_key_id: &[1; 65],
                    ..full
                },
                CrlError::KeyId,
            ),
            (
                CrlParams {
                    issuer_name_der: &bad_der,
                    ..full
                },
                CrlError::NotSequence("issuer_name_der"),
            ),
            (
                CrlParams {
                    issuer_name_der: &empty_seq,
                    ..full
                },
                CrlError::NotSequence("issuer_name_der"),
            ),
            (
                CrlParams {
                    signature_algorithm_der: &[],
                    ..full
                },
                CrlError::NotSequence("signature_algorithm_der"),
            ),
        ];
        for (params, want) in cases {
            assert_eq!(tbs_cert_list(&params, &[]), Err(want));
        }
        let s = [1u8];
        for (value, index) in [(-1i64, 1usize), (MAX_TIME + 1, 1)] {
            let entries = [
                CrlEntry {
                    serial: &s,
                    revoked_at: NOW,
                    reason: 0,
                },
                CrlEntry {
                    serial: &s,
                    revoked_at: value,
                    reason: 0,
                },
            ];
            assert_eq!(
                tbs_cert_list(&full, &entries),
                Err(CrlError::EntryTime { index, value })
            );
        }
    }

    #[test]
    fn many_entries_use_long_form_lengths() {
        let f = Fixture::new();
        let n = 70_000usize; // ~2.8 MB of entries: 3-octet lengths
        let serials: Vec<u8> = (0..n as u64)
            .flat_map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes())
            .map(|b| b | 1)
            .collect();
        let entries: Vec<CrlEntry> = serials
            .chunks(8)
            .enumerate()
            .map(|(i, s)| CrlEntry {
                serial: s,
                revoked_at: NOW - i as i64 * 37,
                reason: [0, 1, 4, 5][i % 4],
            })
            .collect();
        let crl = decode(&f.full(), &entries);
        let revoked = crl.tbs_cert_list.revoked_certificates.unwrap();
        assert_eq!(revoked.len(), n);
        for (r, e) in revoked.iter().zip(&entries) {
            assert_eq!(r.serial_number.as_bytes(), int_content(e.serial));
            assert_eq!(unix(&r.revocation_date), e.revoked_at);
        }
    }

    #[test]
    fn algorithm_identifiers_match_ocsp() {
        for alg in KeyAlgorithm::ALL {
            let want = crate::ocsp::signature_algorithm(alg).to_der().unwrap();
            assert_eq!(algorithm_identifier_der(alg), want, "{alg:?}");
        }
    }

    /// Sign real CRLs with a throwaway P-256 CA and let OpenSSL verify and print them.
    #[test]
    fn openssl_verifies_signed_full_and_delta_crl() {
        use aws_lc_rs::rand::SystemRandom;
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};

        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        p.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        p.distinguished_name
            .push(rcgen::DnType::CommonName, "Mooring CRL Test CA");
        p.distinguished_name
            .push(rcgen::DnType::OrganizationName, "Mooring");
        let ca = p.self_signed(&key).unwrap();
        let facts = crate::template::IssuerFacts::from_cert_der("test", ca.der()).unwrap();
        let signer =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &key.serialize_der())
                .unwrap();
        let alg = algorithm_identifier_der(facts.algorithm);

        let serials: Vec<[u8; 16]> = (0u8..40).map(|i| [0x80 | i; 16]).collect();
        let entries: Vec<CrlEntry> = serials
            .iter()
            .enumerate()
            .map(|(i, s)| CrlEntry {
                serial: s,
                revoked_at: NOW - 600 * i as i64,
                reason: [0, 1, 3, 4, 5][i % 5],
            })
            .collect();
        let full = CrlParams {
            issuer_name_der: &facts.subject_der,
            authority_key_id: &facts.ski,
            number: 41,
            this_update: NOW,
            next_update: NOW + 7 * 86_400,
            delta_base: None,
            freshest_crl_url: Some(URL),
            signature_algorithm_der: &alg,
        };
        let delta = CrlParams {
            number: 42,
            this_update: NOW + 3600,
            next_update: NOW + 3600 + 86_400,
            delta_base: Some(41),
            freshest_crl_url: None,
            ..full
        };
        let sign = |params: &CrlParams, entries: &[CrlEntry]| {
            let tbs = tbs_cert_list(params, entries).unwrap();
            let sig = signer.sign(&SystemRandom::new(), &tbs).unwrap();
            assemble(&tbs, &alg, sig.as_ref())
        };

        let dir = std::env::temp_dir().join(format!(
            "moor-crl-test-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let ca_pem = dir.join("ca.pem");
        std::fs::write(&ca_pem, ca.pem()).unwrap();
        let cases = [
            ("full.crl", sign(&full, &entries), "full"),
            ("delta.crl", sign(&delta, &entries[..3]), "delta"),
            ("empty-delta.crl", sign(&delta, &[]), "empty delta"),
        ];
        for (file, der, what) in &cases {
            let path = dir.join(file);
            std::fs::write(&path, der).unwrap();
            let out = match std::process::Command::new("openssl")
                .args(["crl", "-inform", "DER", "-in"])
                .arg(&path)
                .arg("-CAfile")
                .arg(&ca_pem)
                .args(["-noout", "-text"])
                .output()
            {
                Ok(out) => out,
                Err(e) => panic!(
                    "this test needs the `openssl` command on PATH (Debian package openssl): {e}"
                ),
            };
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            let all = format!("{stdout}\n{stderr}");
            assert!(out.status.success(), "{what}: openssl failed:\n{all}");
            assert!(all.contains("verify OK"), "{what}: no 'verify OK':\n{all}");
            assert!(
                stdout.contains("Version 2 (0x1)"),
                "{what}: version:\n{stdout}"
            );
            assert!(stdout.contains("CN = Mooring CRL Test CA"), "{stdout}");
            assert!(stdout.contains("X509v3 Authority Key Identifier"));
            assert!(stdout.contains("X509v3 CRL Number"));
            match *what {
                "full" => {
                    assert!(stdout.contains("X509v3 Freshest CRL"), "{stdout}");
                    assert!(stdout.contains(&format!("URI:{URL}")), "{stdout}");
                    assert!(!stdout.contains("Delta CRL Indicator"), "{stdout}");
                    assert!(stdout.contains("Key Compromise"), "{stdout}");
                    assert_eq!(stdout.matches("Serial Number:").count(), 40);
                }
                _ => {
                    assert!(
                        stdout.contains("X509v3 Delta CRL Indicator: critical"),
                        "{stdout}"
                    );
                    assert!(!stdout.contains("Freshest CRL"), "{stdout}");
                }
            }
            if *what == "empty delta" {
                assert!(stdout.contains("No Revoked Certificates"), "{stdout}");
            }
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}
