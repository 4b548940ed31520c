//! One job's statements: insert a certificate, revoke, insert an issuer or an
//! admin token, block a key, bump a CRL number, change ACME state, and append its audit
//! entry.

use sqlx::error::ErrorKind;
use sqlx::sqlite::SqliteConnection;

use super::super::{cert_columns, cert_from_row};
use super::{Done, Head, Op};
use crate::{
    AdminTokenRecord, AuditEntry, CertificateRecord, IssuerRecord, NewAuditEntry, NewCertificate,
    StoreError,
};

/// Append `audit` after `head`; the entry written.
async fn append(
    conn: &mut SqliteConnection,
    head: &Head,
    audit: &NewAuditEntry,
) -> Result<AuditEntry, StoreError> {
    let Head { seq, hash } = head.next(audit);
    sqlx::query(
        "INSERT INTO audit_log (seq, ts, actor, action, subject, detail, prev_hash, hash) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .bind(seq)
    .bind(audit.ts)
    .bind(&audit.actor)
    .bind(&audit.action)
    .bind(&audit.subject)
    .bind(&audit.detail)
    .bind(&head.hash)
    .bind(&hash)
    .execute(&mut *conn)
    .await?;
    Ok(AuditEntry {
        seq,
        ts: audit.ts,
        actor: audit.actor.clone(),
        action: audit.action.clone(),
        subject: audit.subject.clone(),
        detail: audit.detail.clone(),
        prev_hash: head.hash.clone(),
        hash,
    })
}

fn kind(e: &sqlx::Error) -> Option<ErrorKind> {
    match e {
        sqlx::Error::Database(db) => Some(db.kind()),
        _ => None,
    }
}

/// Run one job (inside its savepoint); its answer and the new chain head.
pub(super) async fn apply(
    conn: &mut SqliteConnection,
    head: &Head,
    op: &Op,
) -> Result<(Done, Head), StoreError> {
    let (done, audit) = match op {
        Op::Issue { cert, audit } => {
            insert_certificate(conn, cert).await?;
            (Done::Unit, audit)
        }
        Op::Audit { audit } => {
            let entry = append(conn, head, audit).await?;
            let next = Head {
                seq: entry.seq,
                hash: entry.hash.clone(),
            };
            return Ok((Done::Audit(entry), next));
        }
        Op::Revoke {
            serial_hex,
            revoked_at,
            reason,
            audit,
        } => {
            let cert = revoke(conn, serial_hex, *revoked_at, *reason).await?;
            (Done::Certificate(Box::new(cert)), audit)
        }
        Op::Issuer { issuer, audit } => {
            insert_issuer(conn, issuer).await?;
            (Done::Unit, audit)
        }
        Op::Token { token, audit } => {
            insert_token(conn, token).await?;
            (Done::Unit, audit)
        }
        Op::BlockKey {
            spki_sha256,
            reason,
            source_serial,
            at,
            audit,
        } => {
            let done = sqlx::query(
                "INSERT INTO blocked_keys (spki_sha256, reason, source_serial, blocked_at) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (spki_sha256) DO NOTHING",
            )
            .bind(spki_sha256)
            .bind(reason)
            .bind(source_serial)
            .bind(*at)
            .execute(&mut *conn)
            .await?;
            (Done::Number(done.rows_affected() as i64), audit)
        }
        Op::CrlNumber { issuer_id, audit } => {
            let n: i64 = sqlx::query_scalar(
                "INSERT INTO crl_numbers (issuer_id, last_number) VALUES (?1, 1) \
                 ON CONFLICT (issuer_id) DO UPDATE SET last_number = last_number + 1 RETURNING last_number",
            )
            .bind(issuer_id)
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| match kind(&e) {
                Some(ErrorKind::ForeignKeyViolation) => StoreError::NotFound { what: format!("issuer {issuer_id}") },
                _ => e.into(),
            })?;
            (Done::Number(n), audit)
        }
        Op::Enrollment(write) => {
            let (done, changed) = super::super::enrollment::apply(conn, write).await?;
            if !changed {
                // A use of a spent, expired or revoked token: nothing written.
                return Ok((done, head.clone()));
            }
            (done, write.audit())
        }
        Op::Inventory(write) => {
            let (done, changed) = super::super::inventory::apply(conn, write).await?;
            match write.audit() {
                Some(audit) if changed => (done, audit),
                _ => return Ok((done, head.clone())),
            }
        }
        Op::Acme(write) => {
            let (done, changed) = super::super::acme::apply(conn, write).await?;
            match write.audit() {
                Some(audit) if changed => (done, audit),
                // A compare-and-set that lost (nothing written) or a write outside the
                // audit chain (a redeemed nonce): nothing to audit.
                _ => return Ok((done, head.clone())),
            }
        }
    };
    let entry = append(conn, head, audit).await?;
    Ok((
        done,
        Head {
            seq: entry.seq,
            hash: entry.hash,
        },
    ))
}

async fn insert_certificate(
    conn: &mut SqliteConnection,
    cert: &NewCertificate,
) -> Result<(), StoreError> {
    let sans = serde_json::to_string(&cert.sans)
        .map_err(|e| StoreError::Corrupt(format!("sans do not encode: {e}")))?;
    // The AFTER INSERT trigger fills certificate_sans in this same statement.
    let inserted = sqlx::query(
        "INSERT INTO certificates (serial_hex, issuer_id, profile, subject, sans, not_before, not_after, requester, \
         key_algorithm, fingerprint, spki_sha256, der, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )
    .bind(&cert.serial_hex)
    .bind(&cert.issuer_id)
    .bind(&cert.profile)
    .bind(&cert.subject)
    .bind(sans)
    .bind(cert.not_before)
    .bind(cert.not_after)
    .bind(&cert.requester)
    .bind(&cert.key_algorithm)
    .bind(&cert.fingerprint)
    .bind(&cert.spki_sha256)
    .bind(&cert.der)
    .bind(cert.created_at)
    .execute(&mut *conn)
    .await;
    match inserted {
        Ok(_) => Ok(()),
        // The only unique key of certificates besides its generated id is serial_hex.
        Err(e) if kind(&e) == Some(ErrorKind::UniqueViolation) => {
            Err(StoreError::DuplicateSerial {
                issuer_id: cert.issuer_id.clone(),
                serial: cert.serial_hex.clone(),
            })
        }
        Err(e) if kind(&e) == Some(ErrorKind::ForeignKeyViolation) => Err(StoreError::NotFound {
            what: format!("issuer {}", cert.issuer_id),
        }),
        // Raised by the certificates_refuse_blocked_keys trigger.
        Err(e) if e.to_string().contains("mooring: blocked key") => Err(StoreError::KeyBlocked {
            spki_sha256: cert.spki_sha256.clone(),
        }),
        Err(e) => Err(e.into()),
    }
}

async fn revoke(
    conn: &mut SqliteConnection,
    serial_hex: &str,
    revoked_at: i64,
    reason: i32,
) -> Result<CertificateRecord, StoreError> {
    let status: Option<String> =
        sqlx::query_scalar("SELECT status FROM certificates WHERE serial_hex = ?1")
            .bind(serial_hex)
            .fetch_optional(&mut *conn)
            .await?;
    match status.as_deref() {
        None => {
            return Err(StoreError::NotFound {
                what: format!("certificate {serial_hex}"),
            });
        }
        Some("revoked") => {
            return Err(StoreError::AlreadyRevoked {
                serial: serial_hex.to_owned(),
            });
        }
        Some(_) => {}
    }
    let row = sqlx::query(concat!(
        "UPDATE certificates SET status = 'revoked', revoked_at = ?2, revocation_reason = ?3, \
         revocation_seq = (SELECT COALESCE(MAX(revocation_seq), 0) + 1 FROM certificates WHERE revocation_seq IS NOT NULL) \
         WHERE serial_hex = ?1 RETURNING ",
        cert_columns!()
    ))
    .bind(serial_hex)
    .bind(revoked_at)
    .bind(reason)
    .fetch_one(&mut *conn)
    .await?;
    cert_from_row(&row)
}

async fn insert_issuer(
    conn: &mut SqliteConnection,
    issuer: &IssuerRecord,
) -> Result<(), StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO issuers (id, kind, algorithm, cert_der, parent_id, key_ref, fingerprint, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .bind(&issuer.id)
    .bind(&issuer.kind)
    .bind(&issuer.algorithm)
    .bind(&issuer.cert_der)
    .bind(&issuer.parent_id)
    .bind(&issuer.key_ref)
    .bind(&issuer.fingerprint)
    .bind(issuer.created_at)
    .execute(&mut *conn)
    .await;
    match inserted {
        Ok(_) => Ok(()),
        Err(e) if kind(&e) == Some(ErrorKind::UniqueViolation) => Err(StoreError::Conflict {
            what: format!("issuer {}", issuer.id),
        }),
        Err(e) if kind(&e) == Some(ErrorKind::ForeignKeyViolation) => Err(StoreError::NotFound {
            what: format!(
                "parent issuer {}",
                issuer.parent_id.as_deref().unwrap_or("")
            ),
        }),
        Err(e) => Err(e.into()),
    }
}

async fn insert_token(
    conn: &mut SqliteConnection,
    token: &AdminTokenRecord,
) -> Result<(), StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO admin_tokens (id, secret_sha256, name, created_at) VALUES (?1, ?2, ?3, ?4)",
    )
    .bind(&token.id)
    .bind(&token.secret_sha256)
    .bind(&token.name)
    .bind(token.created_at)
    .execute(&mut *conn)
    .await;
    match inserted {
        Ok(_) => Ok(()),
        Err(e) if kind(&e) == Some(ErrorKind::UniqueViolation) => Err(StoreError::Conflict {
            what: format!("admin token {}", token.id),
        }),
        Err(e) => Err(e.into()),
    }
}
