//! Trust anchors: creating roots and issuing intermediates, loading issuers.
//!
//! `moor init` creates a root (the trust anchor) and an online issuing
//! intermediate; `moor ca add-issuer` adds more (e.g. an ML-DSA hierarchy
//! beside a classic one). With `--offline-root` the root key is written to a
//! separate file meant to leave the machine: `serve` never needs a root key.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use moor_core::KeyAlgorithm;
use moor_core::clock::Clock;
use moor_core::serial::Serial;
use moor_keys::{Passphrase, RcgenSigner, Signer, SoftwareKey};
use moor_store::{IssuerRecord, NewAuditEntry, Store};
use time::OffsetDateTime;

use crate::config::Home;
use crate::{AuthorityError, audit_detail};

/// Root certificate lifetime.
pub const ROOT_LIFETIME: Duration = Duration::from_secs(20 * 365 * 86_400);
/// Intermediate certificate lifetime.
pub const INTERMEDIATE_LIFETIME: Duration = Duration::from_secs(10 * 365 * 86_400);

/// Optional DNS/IP name constraints on an intermediate (RFC 5280 §4.2.1.10).
#[derive(Debug, Clone, Default)]
pub struct NameConstraintOptions {
    /// Permitted DNS subtrees (`example.com` permits it and every name below).
    pub permitted_dns: Vec<String>,
    /// Excluded DNS subtrees.
    pub excluded_dns: Vec<String>,
}

impl NameConstraintOptions {
    fn to_rcgen(&self) -> Option<rcgen::NameConstraints> {
        if self.permitted_dns.is_empty() && self.excluded_dns.is_empty() {
            return None;
        }
        Some(rcgen::NameConstraints {
            permitted_subtrees: self
                .permitted_dns
                .iter()
                .map(|d| rcgen::GeneralSubtree::DnsName(d.clone()))
                .collect(),
            excluded_subtrees: self
                .excluded_dns
                .iter()
                .map(|d| rcgen::GeneralSubtree::DnsName(d.clone()))
                .collect(),
        })
    }
}

/// What to create.
#[derive(Debug, Clone)]
pub struct NewHierarchy {
    /// Id of the issuing intermediate (`default`, `pq`, …).
    pub issuer_id: String,
    /// Algorithm of both keys.
    pub algorithm: KeyAlgorithm,
    /// Create a new root (else sign with the root `parent_root`).
    pub new_root: bool,
    /// Existing root to sign under when `new_root` is false.
    pub parent_root: Option<String>,
    /// Where to find the key of an existing offline root.
    pub root_key_file: Option<PathBuf>,
    /// Write the new root's key to this file instead of the home (offline root).
    pub offline_root_key: Option<PathBuf>,
    /// Name constraints for the intermediate.
    pub name_constraints: NameConstraintOptions,
    /// Organisation written into CA subjects.
    pub organization: String,
}

/// The outcome of creating a hierarchy.
#[derive(Debug, Clone)]
pub struct CreatedHierarchy {
    /// The root (new or existing).
    pub root: IssuerRecord,
    /// The new issuing intermediate.
    pub intermediate: IssuerRecord,
}

/// SHA-256 of `der`, hex (a certificate's fingerprint).
pub(crate) fn fingerprint(der: &[u8]) -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der).as_ref())
}

fn valid_issuer_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= moor_core::limits::MAX_NAME_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn ca_params(
    cn: &str,
    org: &str,
    now: OffsetDateTime,
    lifetime: Duration,
    path_len: Option<u8>,
) -> Result<rcgen::CertificateParams, AuthorityError> {
    let mut p = rcgen::CertificateParams::default();
    let serial = Serial::random().map_err(|e| AuthorityError::Internal(e.to_string()))?;
    p.serial_number = Some(serial.to_rcgen());
    let now = now.replace_nanosecond(0).unwrap_or(now);
    p.not_before = now - moor_core::template::BACKDATE;
    p.not_after = p.not_before + lifetime;
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name
        .push(rcgen::DnType::OrganizationName, org);
    p.distinguished_name.push(rcgen::DnType::CommonName, cn);
    p.is_ca = match path_len {
        Some(n) => rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(n)),
        None => rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained),
    };
    // RFC 5280 §4.2.1.3 / BR 7.1.2: keyCertSign and cRLSign; digitalSignature so the CA can sign OCSP responses.
    p.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    Ok(p)
}

/// The key of the root `rec`: from the home, or from `root_key_file` (an offline root's
/// key must be given).
pub fn load_root_key(
    home: &Home,
    pass: &Passphrase,
    rec: &IssuerRecord,
    root_key_file: Option<PathBuf>,
) -> Result<SoftwareKey, AuthorityError> {
    let alg: KeyAlgorithm =
        rec.algorithm
            .parse()
            .map_err(|e: moor_core::algorithm::UnknownAlgorithm| {
                AuthorityError::Internal(e.to_string())
            })?;
    let path = match (root_key_file, rec.key_ref.as_str()) {
        (Some(p), _) => p,
        (None, "offline") => {
            return Err(AuthorityError::BadRequest(format!(
                "root {} is offline; pass --root-key FILE",
                rec.id
            )));
        }
        (None, r) => home.resolve(r),
    };
    Ok(moor_keys::load_key_file(&path, pass, Some(alg))?)
}

/// Create a root (or reuse one) and an issuing intermediate; store both and audit it.
pub async fn create_hierarchy(
    home: &Home,
    store: &dyn Store,
    pass: &Passphrase,
    clock: &dyn Clock,
    actor: &str,
    req: NewHierarchy,
) -> Result<CreatedHierarchy, AuthorityError> {
    if !valid_issuer_id(&req.issuer_id) {
        return Err(AuthorityError::BadRequest(format!(
            "issuer id {:?} must be 1-64 characters of a-z, 0-9 and '-'",
            req.issuer_id
        )));
    }
    let existing = store.list_issuers().await?;
    if existing.iter().any(|i| i.id == req.issuer_id) {
        return Err(AuthorityError::BadRequest(format!(
            "issuer {} already exists",
            req.issuer_id
        )));
    }
    std::fs::create_dir_all(home.keys_dir())
        .map_err(|e| AuthorityError::Config(format!("{}: {e}", home.keys_dir().display())))?;
    std::fs::create_dir_all(home.certs_dir())
        .map_err(|e| AuthorityError::Config(format!("{}: {e}", home.certs_dir().display())))?;
    let now = clock.now();
    let alg = req.algorithm;
    let org = req.organization.clone();

    // The root: new, or an existing one whose key we can reach.
    let (root_rec, root_key, root_is_new) = if req.new_root {
        let root_id = if existing.is_empty() {
            "root".to_string()
        } else {
            format!("{}-root", req.issuer_id)
        };
        if existing.iter().any(|i| i.id == root_id) {
            return Err(AuthorityError::BadRequest(format!(
                "issuer {root_id} already exists"
            )));
        }
        let key = tokio::task::spawn_blocking(move || SoftwareKey::generate(alg))
            .await
            .map_err(|e| AuthorityError::Internal(e.to_string()))??;
        let params = ca_params(
            &format!("Mooring Root CA {} ({})", root_id, alg),
            &org,
            now,
            ROOT_LIFETIME,
            None,
        )?;
        let cert = params
            .self_signed(&RcgenSigner(&key))
            .map_err(|e| AuthorityError::Internal(format!("root signing: {e}")))?;
        let (key_ref, key_path) = match &req.offline_root_key {
            Some(p) => ("offline".to_string(), p.clone()),
            None => (
                format!("keys/{root_id}.key.pem"),
                home.keys_dir().join(format!("{root_id}.key.pem")),
            ),
        };
        moor_keys::write_key_file(&key_path, &key, pass)?;
        let der = cert.der().to_vec();
        let rec = IssuerRecord {
            id: root_id,
            kind: "root".into(),
            algorithm: alg.name().into(),
            fingerprint: fingerprint(&der),
            cert_der: der,
            parent_id: None,
            key_ref,
            created_at: now.unix_timestamp(),
        };
        (rec, key, true)
    } else {
        let root_id = req
            .parent_root
            .clone()
            .or_else(|| {
                existing
                    .iter()
                    .find(|i| i.kind == "root")
                    .map(|i| i.id.clone())
            })
            .ok_or_else(|| {
                AuthorityError::BadRequest("no root to sign under; use --new-root".into())
            })?;
        let rec = existing
            .iter()
            .find(|i| i.id == root_id && i.kind == "root")
            .cloned()
            .ok_or_else(|| AuthorityError::NotFound(format!("root {root_id}")))?;
        let key = load_root_key(home, pass, &rec, req.root_key_file.clone())?;
        (rec, key, false)
    };

    // The intermediate.
    let ikey = tokio::task::spawn_blocking(move || SoftwareKey::generate(alg))
        .await
        .map_err(|e| AuthorityError::Internal(e.to_string()))??;
    let mut params = ca_params(
        &format!("Mooring Issuing CA {} ({})", req.issuer_id, alg),
        &org,
        now,
        INTERMEDIATE_LIFETIME,
        Some(0),
    )?;
    params.use_authority_key_identifier_extension = true;
    params.name_constraints = req.name_constraints.to_rcgen();
    let root_not_after = OffsetDateTime::from_unix_timestamp(cert_not_after(&root_rec.cert_der)?)
        .map_err(|e| AuthorityError::Internal(e.to_string()))?;
    if params.not_after > root_not_after {
        params.not_after = root_not_after;
    }
    let issuer =
        rcgen::Issuer::from_ca_cert_der(&root_rec.cert_der.clone().into(), RcgenSigner(&root_key))
            .map_err(|e| AuthorityError::Internal(format!("root certificate: {e}")))?;
    let icert = params
        .signed_by(&RcgenSigner(&ikey), &issuer)
        .map_err(|e| AuthorityError::Internal(format!("intermediate signing: {e}")))?;
    let ikey_ref = format!("keys/{}.key.pem", req.issuer_id);
    moor_keys::write_key_file(&home.resolve(&ikey_ref), &ikey, pass)?;
    let ider = icert.der().to_vec();
    let irec = IssuerRecord {
        id: req.issuer_id.clone(),
        kind: "intermediate".into(),
        algorithm: alg.name().into(),
        fingerprint: fingerprint(&ider),
        cert_der: ider,
        parent_id: Some(root_rec.id.clone()),
        key_ref: ikey_ref,
        created_at: now.unix_timestamp(),
    };

    let ts = now.unix_timestamp();
    if root_is_new {
        store
            .insert_issuer(
                &root_rec,
                NewAuditEntry {
                    ts,
                    actor: actor.into(),
                    action: "issuer.create".into(),
                    subject: root_rec.id.clone(),
                    detail: audit_detail(&[
                        ("kind", "root"),
                        ("algorithm", &root_rec.algorithm),
                        ("fingerprint", &root_rec.fingerprint),
                        ("key", &root_rec.key_ref),
                    ]),
                },
            )
            .await?;
    }
    store
        .insert_issuer(
            &irec,
            NewAuditEntry {
                ts,
                actor: actor.into(),
                action: "issuer.create".into(),
                subject: irec.id.clone(),
                detail: audit_detail(&[
                    ("kind", "intermediate"),
                    ("algorithm", &irec.algorithm),
                    ("fingerprint", &irec.fingerprint),
                    ("parent", &root_rec.id),
                ]),
            },
        )
        .await?;
    write_pem(
        &home.certs_dir().join(format!("{}.pem", root_rec.id)),
        &[&root_rec.cert_der],
    )?;
    write_pem(
        &home.certs_dir().join(format!("{}.pem", irec.id)),
        &[&irec.cert_der],
    )?;
    write_roots(home, store).await?;
    Ok(CreatedHierarchy {
        root: root_rec,
        intermediate: irec,
    })
}

/// notAfter of a DER certificate, unix seconds.
pub fn cert_not_after(der: &[u8]) -> Result<i64, AuthorityError> {
    use x509_parser::prelude::*;
    let (_, c) = X509Certificate::from_der(der)
        .map_err(|e| AuthorityError::Internal(format!("stored certificate does not parse: {e}")))?;
    Ok(c.validity().not_after.timestamp())
}

/// PEM-encode DER certificates.
pub fn pem_certs(ders: &[&[u8]]) -> String {
    moor_core::pem::certificates(ders)
}

/// Write PEM certificates (public data) atomically.
pub fn write_pem(path: &Path, ders: &[&[u8]]) -> Result<(), AuthorityError> {
    write_atomic(path, pem_certs(ders).as_bytes(), 0o644)
}

/// Write a file atomically (temp + fsync + rename) with `mode`.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), AuthorityError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let err = |e: std::io::Error| AuthorityError::Config(format!("{}: {e}", path.display()));
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(err)?;
    f.write_all(bytes).map_err(err)?;
    f.sync_all().map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)?;
    Ok(())
}

/// Rewrite `roots.pem` from every root in the store.
pub async fn write_roots(home: &Home, store: &dyn Store) -> Result<(), AuthorityError> {
    let issuers = store.list_issuers().await?;
    let roots: Vec<&[u8]> = issuers
        .iter()
        .filter(|i| i.kind == "root")
        .map(|i| i.cert_der.as_slice())
        .collect();
    write_pem(&home.roots_path(), &roots)
}

/// An issuing CA whose key is loaded, with its chain up to (excluding) the root.
pub struct LoadedIssuer {
    /// Parsed facts for templates.
    pub facts: moor_core::template::IssuerFacts,
    /// The CA key.
    pub signer: Arc<dyn Signer>,
    /// DER certificates from this issuer up to, not including, the root.
    pub chain: Vec<Vec<u8>>,
    /// The root's DER certificate.
    pub root: Vec<u8>,
    /// `chain` as PEM (computed once: it goes into every response).
    pub chain_pem: String,
    /// `root` as PEM.
    pub root_pem: String,
}

/// Load every intermediate's key (roots stay unloaded: `serve` never needs a root key).
pub fn load_issuers(
    home: &Home,
    records: &[IssuerRecord],
    pass: &Passphrase,
) -> Result<Vec<LoadedIssuer>, AuthorityError> {
    let mut out = Vec::new();
    for rec in records.iter().filter(|r| r.kind == "intermediate") {
        let alg: KeyAlgorithm =
            rec.algorithm
                .parse()
                .map_err(|e: moor_core::algorithm::UnknownAlgorithm| {
                    AuthorityError::Config(e.to_string())
                })?;
        let key = moor_keys::load_key_file(&home.resolve(&rec.key_ref), pass, Some(alg))?;
        let facts = moor_core::template::IssuerFacts::from_cert_der(&rec.id, &rec.cert_der)
            .map_err(AuthorityError::Config)?;
        if key.spki_der() != spki_of(&rec.cert_der)? {
            return Err(AuthorityError::Config(format!(
                "issuer {}: key file does not match the certificate",
                rec.id
            )));
        }
        let mut chain = vec![rec.cert_der.clone()];
        let mut parent = rec.parent_id.clone();
        let mut root = Vec::new();
        let mut depth = 0;
        while let Some(pid) = parent {
            depth += 1;
            if depth > 8 {
                return Err(AuthorityError::Config(format!(
                    "issuer {}: chain too deep or cyclic",
                    rec.id
                )));
            }
            let p = records.iter().find(|r| r.id == pid).ok_or_else(|| {
                AuthorityError::Config(format!("issuer {}: parent {pid} missing", rec.id))
            })?;
            if p.kind == "root" {
                root = p.cert_der.clone();
                break;
            }
            chain.push(p.cert_der.clone());
            parent = p.parent_id.clone();
        }
        let chain_refs: Vec<&[u8]> = chain.iter().map(|c| c.as_slice()).collect();
        let chain_pem = pem_certs(&chain_refs);
        let root_pem = pem_certs(&[&root]);
        out.push(LoadedIssuer {
            facts,
            signer: Arc::new(key),
            chain,
            root,
            chain_pem,
            root_pem,
        });
    }
    Ok(out)
}

fn spki_of(der: &[u8]) -> Result<Vec<u8>, AuthorityError> {
    use x509_parser::prelude::*;
    let (_, c) = X509Certificate::from_der(der)
        .map_err(|e| AuthorityError::Config(format!("issuer certificate: {e}")))?;
    Ok(c.tbs_certificate.subject_pki.raw.to_vec())
}

/// SHA-256 of a certificate's SubjectPublicKeyInfo, hex.
pub fn spki_sha256_of_cert(der: &[u8]) -> Option<String> {
    let spki = spki_of(der).ok()?;
    Some(hex::encode(
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &spki).as_ref(),
    ))
}

/// (notBefore, notAfter) of a DER certificate, unix seconds.
pub fn cert_validity(der: &[u8]) -> Result<(i64, i64), AuthorityError> {
    use x509_parser::prelude::*;
    let (_, c) = X509Certificate::from_der(der)
        .map_err(|e| AuthorityError::Internal(format!("certificate does not parse: {e}")))?;
    Ok((
        c.validity().not_before.timestamp(),
        c.validity().not_after.timestamp(),
    ))
}

/// RFC 4514-style subject string of a DER certificate.
pub fn cert_subject(der: &[u8]) -> Result<String, AuthorityError> {
    use x509_parser::prelude::*;
    let (_, c) = X509Certificate::from_der(der)
        .map_err(|e| AuthorityError::Internal(format!("certificate does not parse: {e}")))?;
    Ok(c.subject().to_string())
}

/// SANs of a DER certificate in tagged form (`dns:…`, `ip:…`, `email:…`, `uri:…`).
pub fn cert_sans(der: &[u8]) -> Result<Vec<String>, AuthorityError> {
    use x509_parser::prelude::*;
    let (_, c) = X509Certificate::from_der(der)
        .map_err(|e| AuthorityError::Internal(format!("certificate does not parse: {e}")))?;
    let mut out = Vec::new();
    if let Ok(Some(san)) = c.subject_alternative_name() {
        for gn in &san.value.general_names {
            match gn {
                GeneralName::DNSName(d) => out.push(format!("dns:{d}")),
                GeneralName::RFC822Name(e) => out.push(format!("email:{e}")),
                GeneralName::URI(u) => out.push(format!("uri:{u}")),
                GeneralName::IPAddress(b) => {
                    let ip = match b.len() {
                        4 => <[u8; 4]>::try_from(*b).ok().map(std::net::IpAddr::from),
                        16 => <[u8; 16]>::try_from(*b).ok().map(std::net::IpAddr::from),
                        _ => None,
                    };
                    if let Some(ip) = ip {
                        out.push(format!("ip:{ip}"));
                    }
                }
                _ => {}
            }
        }
    }
    Ok(out)
}
