//! Cross-signing: a certificate for an existing issuer's name and key, signed by another
//! root. Certificates of that issuer then also chain to the other root, which is how a
//! fleet moves to a new root without reissuing (clients that trust only the new root
//! verify through the cross certificate). ACME offers the cross chain as an alternate
//! chain (RFC 8555 §7.4.2).

use std::path::PathBuf;

use ::time::OffsetDateTime;
use moor_core::clock::Clock;
use moor_core::serial::Serial;
use moor_keys::{Passphrase, RcgenSigner};
use moor_store::{CrossCertificate, NewAuditEntry, Store};
use x509_parser::prelude::*;

use crate::config::Home;
use crate::trust_anchor::{load_root_key, write_pem};
use crate::{AuthorityError, audit_detail};

/// What to cross-sign.
#[derive(Debug, Clone)]
pub struct CrossSignRequest {
    /// The issuer whose name and key are certified.
    pub issuer_id: String,
    /// The root that signs.
    pub by_root: String,
    /// The root's key file, for an offline root.
    pub root_key_file: Option<PathBuf>,
}

/// Sign the issuer's name and key with the root (whose key is in the home, or in
/// `root_key_file` for an offline root). The new certificate keeps the issuer's subject,
/// subject key identifier and path length, and ends when the first of the two ends.
/// Stored and audited; also written to `certs/{issuer}-by-{root}.pem`.
pub async fn cross_sign(
    home: &Home,
    store: &dyn Store,
    pass: &Passphrase,
    clock: &dyn Clock,
    actor: &str,
    req: CrossSignRequest,
) -> Result<CrossCertificate, AuthorityError> {
    let (issuer_id, by_root) = (req.issuer_id.as_str(), req.by_root.as_str());
    let root_key_file = req.root_key_file;
    let issuers = store.list_issuers().await?;
    let issuer = issuers
        .iter()
        .find(|i| i.id == issuer_id)
        .ok_or_else(|| AuthorityError::NotFound(format!("issuer {issuer_id}")))?;
    let root = issuers
        .iter()
        .find(|i| i.id == by_root)
        .ok_or_else(|| AuthorityError::NotFound(format!("issuer {by_root}")))?;
    if root.kind != "root" {
        return Err(AuthorityError::BadRequest(format!(
            "{by_root} is not a root: cross-sign with a root"
        )));
    }
    if issuer.id == root.id || issuer.parent_id.as_deref() == Some(by_root) {
        return Err(AuthorityError::BadRequest(format!(
            "{issuer_id} already chains to {by_root}"
        )));
    }
    let root_key = load_root_key(home, pass, root, root_key_file)?;

    let (_, cert) = X509Certificate::from_der(&issuer.cert_der)
        .map_err(|e| AuthorityError::Internal(format!("issuer {issuer_id} certificate: {e}")))?;
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = distinguished_name(cert.subject())?;
    let mut path_len = None;
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => {
                params.key_identifier_method = rcgen::KeyIdMethod::PreSpecified(k.0.to_vec());
            }
            ParsedExtension::BasicConstraints(bc) => path_len = Some(bc.path_len_constraint),
            ParsedExtension::NameConstraints(_) => {
                return Err(AuthorityError::BadRequest(format!(
                    "{issuer_id} has name constraints, which cross-signing does not carry over yet"
                )));
            }
            _ => {}
        }
    }
    params.is_ca = match path_len {
        Some(Some(n)) => rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(
            u8::try_from(n).unwrap_or(u8::MAX),
        )),
        Some(None) => rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained),
        None => {
            return Err(AuthorityError::BadRequest(format!(
                "{issuer_id}'s certificate is not a CA certificate"
            )));
        }
    };
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    params.use_authority_key_identifier_extension = true;
    let serial = Serial::random().map_err(|e| AuthorityError::Internal(e.to_string()))?;
    params.serial_number = Some(serial.to_rcgen());
    let now = clock.now();
    let now = now.replace_nanosecond(0).unwrap_or(now);
    params.not_before = now - moor_core::template::BACKDATE;
    let ends = crate::trust_anchor::cert_not_after(&issuer.cert_der)?
        .min(crate::trust_anchor::cert_not_after(&root.cert_der)?);
    params.not_after = OffsetDateTime::from_unix_timestamp(ends)
        .map_err(|e| AuthorityError::Internal(e.to_string()))?;
    if params.not_after <= now {
        return Err(AuthorityError::BadRequest(format!(
            "{issuer_id} or {by_root} has expired"
        )));
    }
    let spki = rcgen::SubjectPublicKeyInfo::from_der(cert.public_key().raw).map_err(|e| {
        AuthorityError::BadRequest(format!(
            "{issuer_id}'s key cannot be cross-signed here ({e})"
        ))
    })?;
    let signer =
        rcgen::Issuer::from_ca_cert_der(&root.cert_der.clone().into(), RcgenSigner(&root_key))
            .map_err(|e| AuthorityError::Internal(format!("root certificate: {e}")))?;
    let der = params
        .signed_by(&spki, &signer)
        .map_err(|e| AuthorityError::Internal(format!("cross-signing: {e}")))?
        .der()
        .to_vec();

    // The cross certificate must name the issuer exactly as its own certificate does, or
    // nothing chains through it.
    let (_, made) = X509Certificate::from_der(&der)
        .map_err(|e| AuthorityError::Internal(format!("cross certificate: {e}")))?;
    if made.subject().as_raw() != cert.subject().as_raw()
        || made.public_key().raw != cert.public_key().raw
    {
        return Err(AuthorityError::Internal(
            "the cross certificate's subject or key differs from the issuer's".into(),
        ));
    }

    let ts = now.unix_timestamp();
    let cross = CrossCertificate {
        id: format!("{issuer_id}-by-{by_root}-{}", serial.to_hex()),
        issuer_id: issuer_id.to_string(),
        signed_by: by_root.to_string(),
        not_after: ends,
        created_at: ts,
        der,
    };
    store
        .acme()
        .add_cross_certificate(
            &cross,
            NewAuditEntry {
                ts,
                actor: actor.into(),
                action: "issuer.cross-sign".into(),
                subject: issuer_id.into(),
                detail: audit_detail(&[
                    ("signed_by", by_root),
                    ("serial", &serial.to_hex()),
                    ("id", &cross.id),
                ]),
            },
        )
        .await?;
    write_pem(
        &home
            .certs_dir()
            .join(format!("{issuer_id}-by-{by_root}.pem")),
        &[&cross.der],
    )?;
    Ok(cross)
}

/// The subject as rcgen rebuilds it: each attribute with its OID and string type (our
/// issuers' names are UTF8String or PrintableString attributes).
fn distinguished_name(name: &X509Name<'_>) -> Result<rcgen::DistinguishedName, AuthorityError> {
    let mut dn = rcgen::DistinguishedName::new();
    for attr in name.iter_attributes() {
        let oid: Vec<u64> = attr
            .attr_type()
            .iter()
            .ok_or_else(|| AuthorityError::Internal("subject OID too large".into()))?
            .collect();
        let value = attr.attr_value();
        let text = std::str::from_utf8(value.data)
            .map_err(|_| AuthorityError::BadRequest("subject attribute is not text".into()))?
            .to_string();
        let v = match value.tag() {
            x509_parser::der_parser::asn1_rs::Tag::Utf8String => rcgen::DnValue::Utf8String(text),
            x509_parser::der_parser::asn1_rs::Tag::PrintableString => {
                rcgen::DnValue::PrintableString(
                    text.try_into()
                        .map_err(|_| AuthorityError::BadRequest("bad PrintableString".into()))?,
                )
            }
            other => {
                return Err(AuthorityError::BadRequest(format!(
                    "subject attribute of type {other} cannot be reproduced"
                )));
            }
        };
        dn.push(rcgen::DnType::from_oid(&oid), v);
    }
    Ok(dn)
}
