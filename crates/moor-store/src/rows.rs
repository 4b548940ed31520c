//! Rows → records, written once for both backends.
//!
//! Both schemas name their columns alike, so one generic decoder serves SQLite and
//! PostgreSQL rows; the bounds say which Rust types each database must decode.

use std::marker::PhantomData;

use sqlx::{ColumnIndex, Decode, Row, Type};

use crate::{
    AdminTokenRecord, AuditEntry, CertificateRecord, CrlRecord, IssuerRecord, RevocationEvent,
    RevokedEntry, StoreError,
};

/// The decoders for rows of type `R`.
pub(crate) struct Rows<R>(PhantomData<R>);

impl<R: Row> Rows<R>
where
    for<'a> &'a str: ColumnIndex<R>,
    for<'a> String: Decode<'a, R::Database> + Type<R::Database>,
    for<'a> Option<String>: Decode<'a, R::Database> + Type<R::Database>,
    for<'a> Vec<u8>: Decode<'a, R::Database> + Type<R::Database>,
    for<'a> i64: Decode<'a, R::Database> + Type<R::Database>,
    for<'a> Option<i64>: Decode<'a, R::Database> + Type<R::Database>,
    for<'a> Option<i32>: Decode<'a, R::Database> + Type<R::Database>,
{
    pub(crate) fn issuer(r: &R) -> Result<IssuerRecord, StoreError> {
        Ok(IssuerRecord {
            id: r.try_get("id")?,
            kind: r.try_get("kind")?,
            algorithm: r.try_get("algorithm")?,
            cert_der: r.try_get("cert_der")?,
            parent_id: r.try_get("parent_id")?,
            key_ref: r.try_get("key_ref")?,
            fingerprint: r.try_get("fingerprint")?,
            created_at: r.try_get("created_at")?,
        })
    }

    pub(crate) fn audit(r: &R) -> Result<AuditEntry, StoreError> {
        Ok(AuditEntry {
            seq: r.try_get("seq")?,
            ts: r.try_get("ts")?,
            actor: r.try_get("actor")?,
            action: r.try_get("action")?,
            subject: r.try_get("subject")?,
            detail: r.try_get("detail")?,
            prev_hash: r.try_get("prev_hash")?,
            hash: r.try_get("hash")?,
        })
    }

    pub(crate) fn admin_token(r: &R) -> Result<AdminTokenRecord, StoreError> {
        Ok(AdminTokenRecord {
            id: r.try_get("id")?,
            secret_sha256: r.try_get("secret_sha256")?,
            name: r.try_get("name")?,
            created_at: r.try_get("created_at")?,
        })
    }

    /// `revoked_at` of a revoked row (never NULL there).
    fn revoked_at(r: &R) -> Result<i64, StoreError> {
        r.try_get::<Option<i64>, _>("revoked_at")?
            .ok_or_else(|| StoreError::Corrupt("revoked row without revoked_at".into()))
    }

    fn reason(r: &R) -> Result<i32, StoreError> {
        Ok(r.try_get::<Option<i32>, _>("revocation_reason")?
            .unwrap_or(0))
    }

    pub(crate) fn revoked(r: &R) -> Result<RevokedEntry, StoreError> {
        Ok(RevokedEntry {
            serial_hex: r.try_get("serial_hex")?,
            revoked_at: Self::revoked_at(r)?,
            reason: Self::reason(r)?,
            revocation_seq: r.try_get::<Option<i64>, _>("revocation_seq")?.unwrap_or(0),
            not_after: r.try_get("not_after")?,
        })
    }

    pub(crate) fn revocation(r: &R) -> Result<RevocationEvent, StoreError> {
        Ok(RevocationEvent {
            seq: r.try_get("revocation_seq")?,
            serial_hex: r.try_get("serial_hex")?,
            issuer_id: r.try_get("issuer_id")?,
            revoked_at: Self::revoked_at(r)?,
            reason: Self::reason(r)?,
            not_after: r.try_get("not_after")?,
        })
    }

    pub(crate) fn crl(r: &R) -> Result<CrlRecord, StoreError> {
        Ok(CrlRecord {
            issuer_id: r.try_get("issuer_id")?,
            number: r.try_get("number")?,
            delta_base: r.try_get("delta_base")?,
            this_update: r.try_get("this_update")?,
            next_update: r.try_get("next_update")?,
            revocation_seq: r.try_get("revocation_seq")?,
            entries: r.try_get("entries")?,
            der: r.try_get("der")?,
        })
    }

    /// A `certificates` row selected with the backend's certificate column list.
    pub(crate) fn certificate(r: &R) -> Result<CertificateRecord, StoreError> {
        let sans: String = r.try_get("sans")?;
        let sans: Vec<String> = serde_json::from_str(&sans).map_err(|e| {
            StoreError::Corrupt(format!("certificates.sans is not a JSON string array: {e}"))
        })?;
        Ok(CertificateRecord {
            id: r.try_get("id")?,
            serial_hex: r.try_get("serial_hex")?,
            issuer_id: r.try_get("issuer_id")?,
            profile: r.try_get("profile")?,
            subject: r.try_get("subject")?,
            sans,
            not_before: r.try_get("not_before")?,
            not_after: r.try_get("not_after")?,
            requester: r.try_get("requester")?,
            key_algorithm: r.try_get("key_algorithm")?,
            fingerprint: r.try_get("fingerprint")?,
            spki_sha256: r.try_get("spki_sha256")?,
            der: r.try_get("der")?,
            status: r.try_get("status")?,
            revoked_at: r.try_get("revoked_at")?,
            revocation_reason: r.try_get("revocation_reason")?,
            created_at: r.try_get("created_at")?,
        })
    }
}
