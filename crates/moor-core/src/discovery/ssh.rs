//! OpenSSH public keys and certificates as they appear in text files (`id_ed25519.pub`,
//! `authorized_keys`, `known_hosts`, `*-cert.pub`): one key per line, `TYPE BASE64
//! [COMMENT]`, possibly after options or host names.
//!
//! The blob is the SSH wire format (RFC 4251 §5: `string`, `mpint`, `uint32`, `uint64`),
//! read here by hand; certificates follow OpenSSH's PROTOCOL.certkeys. [`parse_line`]
//! never panics and reads nothing past the end of its input.

use base64::Engine as _;

use super::SshKeyInfo;

/// The longest line considered (an RSA-16384 certificate is about 5 KiB of base64).
pub const MAX_LINE: usize = 64 * 1024;

/// A key blob that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad OpenSSH key: {0}")]
pub struct SshError(&'static str);

/// The plain key types, and what their fields after the type are.
const KEY_TYPES: &[(&str, Fields)] = &[
    ("ssh-ed25519", Fields::Ed25519),
    ("ssh-rsa", Fields::Rsa),
    ("ecdsa-sha2-nistp256", Fields::Ecdsa),
    ("ecdsa-sha2-nistp384", Fields::Ecdsa),
    ("ecdsa-sha2-nistp521", Fields::Ecdsa),
    ("sk-ssh-ed25519@openssh.com", Fields::SkEd25519),
    ("sk-ecdsa-sha2-nistp256@openssh.com", Fields::SkEcdsa),
    ("ssh-dss", Fields::Dsa),
];

/// The suffix that turns a key type into its certificate type.
const CERT_SUFFIX: &str = "-cert-v01@openssh.com";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fields {
    Ed25519,
    Rsa,
    Ecdsa,
    SkEd25519,
    SkEcdsa,
    Dsa,
}

impl Fields {
    /// How many wire strings (or mpints) the public key has after its type.
    fn count(self) -> usize {
        match self {
            Fields::Ed25519 => 1,
            Fields::Rsa | Fields::Ecdsa | Fields::SkEd25519 => 2,
            Fields::SkEcdsa => 3,
            Fields::Dsa => 4,
        }
    }
}

/// The plain key type of `t` (a key or certificate type) and whether it is a certificate.
fn key_type(t: &str) -> Option<(&'static str, Fields, bool)> {
    let (plain, cert) = match t.strip_suffix(CERT_SUFFIX) {
        Some(p) => (p, true),
        None => (t, false),
    };
    // The certificate names of the sk types put the suffix before `@openssh.com`.
    let plain = match plain {
        "sk-ssh-ed25519" => "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256" => "sk-ecdsa-sha2-nistp256@openssh.com",
        p => p,
    };
    KEY_TYPES
        .iter()
        .find(|(n, _)| *n == plain)
        .map(|(n, f)| (*n, *f, cert))
}

/// Whether `token` is a key or certificate type this module reads.
pub fn is_key_type(token: &str) -> bool {
    key_type(token).is_some()
}

/// The first key or certificate on one line of a public-key file: `TYPE BASE64 [COMMENT]`,
/// possibly after `authorized_keys` options or `known_hosts` host names. `None` for a
/// line without one (comments, blank lines, anything else).
pub fn parse_line(line: &str) -> Option<Result<SshKeyInfo, SshError>> {
    if line.len() > MAX_LINE {
        return None;
    }
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let tokens: Vec<&str> = line.split_ascii_whitespace().collect();
    let i = tokens.iter().position(|t| is_key_type(t))?;
    let b64 = tokens.get(i + 1)?;
    let comment = tokens.get(i + 2..).map(|c| c.join(" ")).unwrap_or_default();
    let blob = match base64::engine::general_purpose::STANDARD.decode(b64) {
        Ok(b) => b,
        Err(_) => return Some(Err(SshError("the key is not base64"))),
    };
    Some(parse_blob(tokens[i], &blob, &comment))
}

/// Describe one key or certificate blob whose line named `line_type`.
pub fn parse_blob(line_type: &str, blob: &[u8], comment: &str) -> Result<SshKeyInfo, SshError> {
    let mut r = Reader(blob);
    let t = r.str()?;
    if t != line_type.as_bytes() {
        return Err(SshError("the blob's type is not the line's"));
    }
    let (plain, fields, cert) = key_type(line_type).ok_or(SshError("unknown key type"))?;
    let blob_b64 = base64::engine::general_purpose::STANDARD.encode(blob);
    if !cert {
        let key: Vec<&[u8]> = (0..fields.count())
            .map(|_| r.str())
            .collect::<Result<_, _>>()?;
        return Ok(SshKeyInfo {
            kind: "ssh-key".into(),
            key_type: line_type.into(),
            key_algorithm: algorithm(plain, &key),
            fingerprint: fingerprint(blob),
            comment: comment.into(),
            principals: Vec::new(),
            valid_after: None,
            valid_before: None,
            serial: None,
            signing_ca: None,
            blob: blob_b64,
        });
    }
    // PROTOCOL.certkeys: type, nonce, the key's fields, serial, type, key id, principals,
    // valid after, valid before, critical options, extensions, reserved, signature key,
    // signature.
    let _nonce = r.str()?;
    let key: Vec<&[u8]> = (0..fields.count())
        .map(|_| r.str())
        .collect::<Result<_, _>>()?;
    let serial = r.u64()?;
    let _cert_type = r.u32()?;
    let key_id = r.str()?;
    let mut names = Reader(r.str()?);
    let mut principals = Vec::new();
    while !names.0.is_empty() {
        principals.push(String::from_utf8_lossy(names.str()?).into_owned());
    }
    let valid_after = r.u64()?;
    let valid_before = r.u64()?;
    let _critical = r.str()?;
    let _extensions = r.str()?;
    let _reserved = r.str()?;
    let ca = r.str()?;
    let _signature = r.str()?;
    // The certified key as a plain public key blob: what `ssh-keygen -l` fingerprints.
    let mut plain_blob = Vec::new();
    put_str(&mut plain_blob, plain.as_bytes());
    for f in &key {
        put_str(&mut plain_blob, f);
    }
    Ok(SshKeyInfo {
        kind: "ssh-cert".into(),
        key_type: line_type.into(),
        key_algorithm: algorithm(plain, &key),
        fingerprint: fingerprint(&plain_blob),
        comment: String::from_utf8_lossy(key_id).into_owned(),
        principals,
        valid_after: Some(i64::try_from(valid_after).unwrap_or(i64::MAX)),
        valid_before: Some(i64::try_from(valid_before).unwrap_or(i64::MAX)),
        serial: Some(serial),
        signing_ca: Some(fingerprint(ca)),
        blob: blob_b64,
    })
}

/// `SHA256:` and unpadded base64 of SHA-256 of `blob`, as `ssh-keygen -l` prints.
pub fn fingerprint(blob: &[u8]) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, blob);
    format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(d.as_ref())
    )
}

/// `ed25519`, `ecdsa-p256`, `rsa-3072`, … from the plain type and the key's fields.
fn algorithm(plain: &str, key: &[&[u8]]) -> String {
    match plain {
        "ssh-ed25519" => "ed25519".into(),
        "sk-ssh-ed25519@openssh.com" => "sk-ed25519".into(),
        "ecdsa-sha2-nistp256" => "ecdsa-p256".into(),
        "ecdsa-sha2-nistp384" => "ecdsa-p384".into(),
        "ecdsa-sha2-nistp521" => "ecdsa-p521".into(),
        "sk-ecdsa-sha2-nistp256@openssh.com" => "sk-ecdsa-p256".into(),
        "ssh-dss" => "dsa".into(),
        // mpint e, mpint n (RFC 4253 §6.6).
        "ssh-rsa" => format!("rsa-{}", key.get(1).map_or(0, |n| bits(n))),
        other => other.into(),
    }
}

/// The bit length of a big-endian unsigned integer (leading zero bytes ignored).
fn bits(n: &[u8]) -> usize {
    let start = n.iter().position(|b| *b != 0).unwrap_or(n.len());
    match n.get(start) {
        Some(first) => (n.len() - start) * 8 - first.leading_zeros() as usize,
        None => 0,
    }
}

fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    // Fields came out of a blob whose lengths were u32, so they fit.
    out.extend_from_slice(&u32::try_from(s.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(s);
}

/// A cursor over SSH wire data: every read checks the length left.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], SshError> {
        if self.0.len() < n {
            return Err(SshError("truncated"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32, SshError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, SshError> {
        let hi = u64::from(self.u32()?);
        let lo = u64::from(self.u32()?);
        Ok(hi << 32 | lo)
    }

    fn str(&mut self) -> Result<&'a [u8], SshError> {
        let n = usize::try_from(self.u32()?).map_err(|_| SshError("too long"))?;
        self.take(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(b: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(b)
    }

    fn ed25519_blob() -> Vec<u8> {
        let mut b = Vec::new();
        put_str(&mut b, b"ssh-ed25519");
        put_str(&mut b, &[7u8; 32]);
        b
    }

    fn cert_blob() -> Vec<u8> {
        let mut b = Vec::new();
        put_str(&mut b, b"ssh-ed25519-cert-v01@openssh.com");
        put_str(&mut b, &[1u8; 32]); // nonce
        put_str(&mut b, &[7u8; 32]); // the key
        b.extend_from_slice(&42u64.to_be_bytes());
        b.extend_from_slice(&1u32.to_be_bytes());
        put_str(&mut b, b"alice@example");
        let mut names = Vec::new();
        put_str(&mut names, b"alice");
        put_str(&mut names, b"root");
        put_str(&mut b, &names);
        b.extend_from_slice(&1_700_000_000u64.to_be_bytes());
        b.extend_from_slice(&u64::MAX.to_be_bytes());
        put_str(&mut b, b"");
        put_str(&mut b, b"");
        put_str(&mut b, b"");
        put_str(&mut b, &ed25519_blob()); // the CA key (the same key will do)
        put_str(&mut b, b"signature");
        b
    }

    #[test]
    fn reads_a_public_key_line() {
        let blob = ed25519_blob();
        let line = format!("ssh-ed25519 {} me@host  laptop", b64(&blob));
        let k = parse_line(&line).expect("a key").expect("parses");
        assert_eq!(k.kind, "ssh-key");
        assert_eq!(k.key_algorithm, "ed25519");
        assert_eq!(k.comment, "me@host laptop");
        assert_eq!(k.fingerprint, fingerprint(&blob));
        assert!(k.fingerprint.starts_with("SHA256:") && !k.fingerprint.ends_with('='));
        // After authorized_keys options, and in known_hosts form.
        let line = format!("no-pty,command=\"x\" ssh-ed25519 {}", b64(&blob));
        assert_eq!(parse_line(&line).unwrap().unwrap().comment, "");
        let line = format!("host1,10.0.0.1 ssh-ed25519 {}", b64(&blob));
        assert!(parse_line(&line).unwrap().is_ok());
        for none in ["", "# ssh-ed25519 AAAA", "hello world", "ssh-ed25519"] {
            assert!(parse_line(none).is_none(), "{none}");
        }
    }

    #[test]
    fn reads_a_certificate_and_fingerprints_the_certified_key() {
        let line = format!("ssh-ed25519-cert-v01@openssh.com {} x", b64(&cert_blob()));
        let c = parse_line(&line).unwrap().unwrap();
        assert_eq!(c.kind, "ssh-cert");
        assert_eq!(c.key_algorithm, "ed25519");
        assert_eq!(c.fingerprint, fingerprint(&ed25519_blob()));
        assert_eq!(c.signing_ca, Some(fingerprint(&ed25519_blob())));
        assert_eq!(c.comment, "alice@example");
        assert_eq!(c.principals, ["alice", "root"]);
        assert_eq!(c.serial, Some(42));
        assert_eq!(c.valid_after, Some(1_700_000_000));
        assert_eq!(c.valid_before, Some(i64::MAX));
    }

    #[test]
    fn rsa_bits() {
        let mut b = Vec::new();
        put_str(&mut b, b"ssh-rsa");
        put_str(&mut b, &[1, 0, 1]);
        let mut n = vec![0u8];
        n.extend_from_slice(&[0xc3; 256]);
        put_str(&mut b, &n);
        let k = parse_blob("ssh-rsa", &b, "").unwrap();
        assert_eq!(k.key_algorithm, "rsa-2048");
    }

    #[test]
    fn truncated_or_garbage_never_panics() {
        let cert = cert_blob();
        for n in 0..cert.len() {
            assert!(
                parse_blob("ssh-ed25519-cert-v01@openssh.com", &cert[..n], "").is_err(),
                "{n}"
            );
        }
        let mut x: u32 = 11;
        for i in 0..cert.len() {
            let mut c = cert.clone();
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            c[i] ^= (x >> 16) as u8 | 1;
            let _ = parse_blob("ssh-ed25519-cert-v01@openssh.com", &c, "");
        }
        // A length field claiming 4 GiB.
        let mut b = Vec::new();
        put_str(&mut b, b"ssh-ed25519");
        b.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 1]);
        assert!(parse_blob("ssh-ed25519", &b, "").is_err());
        // The blob's type differs from the line's.
        assert!(parse_blob("ssh-rsa", &ed25519_blob(), "").is_err());
        assert!(parse_line("ssh-ed25519 !!!notbase64").unwrap().is_err());
        assert!(parse_line(&"a".repeat(MAX_LINE + 1)).is_none());
    }
}
