//! Enrollment credentials of machines that have no identity yet: bootstrap tokens
//! (a limited-use secret baked into an image). Only the SHA-256 of a token's secret is
//! stored. Taking a use is one compare-and-set UPDATE through the audited writer, so a
//! single-use token used at once by two clients (or on two nodes) issues once.
//!
//! Both backends share these statements, expanded for each by [`enrollment_backend!`] in
//! `sqlite/enrollment.rs` and `postgres/enrollment.rs`. Schema:
//! `migrations/sqlite/0007_acme_limits_renewal.sql`, `migrations/postgres/0003_…`.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{NewAuditEntry, StoreError};

/// A bootstrap token as stored (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootstrapToken {
    /// Public id (`btk…`), safe to log and to list.
    pub id: String,
    /// SHA-256 of the secret part.
    pub secret_sha256: Vec<u8>,
    /// The profile it enrolls in.
    pub profile: String,
    /// The names a certificate may carry: exact names or patterns (`*.example.com`).
    pub names: Vec<String>,
    /// How many certificates it may obtain.
    pub max_uses: i64,
    /// How many it obtained.
    pub uses: i64,
    pub expires_at: i64,
    /// Who answers for the machines enrolled with it.
    pub owner: Option<String>,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// A SCEP registration-authority key of one issuer and period, shared by every node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScepRaKey {
    pub issuer_id: String,
    /// `now / period length`: a new key per period.
    pub period: i64,
    /// The PKCS#8 key, encrypted under the CA key passphrase (PEM).
    pub key_pem: String,
    pub cert_der: Vec<u8>,
    pub serial_hex: String,
    pub not_after: i64,
    pub created_at: i64,
}

/// Enrollment credentials of a deployment; reached through [`crate::Store::enrollment`].
#[async_trait]
pub trait EnrollmentStore: Send + Sync {
    /// Store a new token (audited). Conflict if the id exists.
    async fn create_bootstrap_token(
        &self,
        token: &BootstrapToken,
        audit: NewAuditEntry,
    ) -> Result<(), StoreError>;

    async fn bootstrap_token(&self, id: &str) -> Result<Option<BootstrapToken>, StoreError>;

    /// Every token, newest first, at most `limit`.
    async fn list_bootstrap_tokens(&self, limit: i64) -> Result<Vec<BootstrapToken>, StoreError>;

    /// Take one use of a token that is unexpired at `now`, not revoked and not used up:
    /// true (and the audit entry appended) for exactly as many callers as it had uses
    /// left, whichever node they ask; false (nothing written) otherwise.
    async fn use_bootstrap_token(
        &self,
        id: &str,
        now: i64,
        audit: NewAuditEntry,
    ) -> Result<bool, StoreError>;

    /// Give back a use taken for an issuance that then failed (audited).
    async fn refund_bootstrap_token(
        &self,
        id: &str,
        audit: NewAuditEntry,
    ) -> Result<(), StoreError>;

    /// Link a certificate to the one it renewed (audited).
    async fn record_renewal(
        &self,
        serial_hex: &str,
        predecessor_serial: &str,
        at: i64,
        audit: NewAuditEntry,
    ) -> Result<(), StoreError>;

    /// The certificate `serial_hex` renewed, if it was a renewal.
    async fn predecessor_of(&self, serial_hex: &str) -> Result<Option<String>, StoreError>;

    /// Revoke a token (audited). NotFound; Conflict if it was revoked already.
    async fn revoke_bootstrap_token(
        &self,
        id: &str,
        now: i64,
        audit: NewAuditEntry,
    ) -> Result<(), StoreError>;

    /// Store the RA key of `(issuer_id, period)` unless one is there already (then
    /// nothing is written and `audit` is dropped), and return the stored one: every node
    /// racing for a period ends up with the same key.
    async fn put_scep_ra_key(
        &self,
        key: &ScepRaKey,
        audit: NewAuditEntry,
    ) -> Result<ScepRaKey, StoreError>;

    /// The RA keys of an issuer whose certificate is valid at `now`, newest period first.
    async fn scep_ra_keys(&self, issuer_id: &str, now: i64) -> Result<Vec<ScepRaKey>, StoreError>;
}

/// An audited enrollment write, as the writer receives it
/// ([`crate::write_job::Op::Enrollment`]).
pub(crate) enum EnrollmentWrite {
    Create {
        token: BootstrapToken,
        audit: NewAuditEntry,
    },
    Use {
        id: String,
        now: i64,
        audit: NewAuditEntry,
    },
    Refund {
        id: String,
        audit: NewAuditEntry,
    },
    Revoke {
        id: String,
        now: i64,
        audit: NewAuditEntry,
    },
    Renewal {
        serial_hex: String,
        predecessor_serial: String,
        at: i64,
        audit: NewAuditEntry,
    },
    ScepRa {
        key: ScepRaKey,
        audit: NewAuditEntry,
    },
}

impl EnrollmentWrite {
    /// The audit entry appended when the write changes something.
    pub(crate) fn audit(&self) -> &NewAuditEntry {
        match self {
            EnrollmentWrite::Create { audit, .. }
            | EnrollmentWrite::Use { audit, .. }
            | EnrollmentWrite::Refund { audit, .. }
            | EnrollmentWrite::Revoke { audit, .. }
            | EnrollmentWrite::Renewal { audit, .. }
            | EnrollmentWrite::ScepRa { audit, .. } => audit,
        }
    }
}

/// The enrollment statements and the [`EnrollmentStore`] implementation of one backend:
/// `apply(conn, write) -> (Done, changed)` for the writer, and the trait reading from
/// `self.$reader` and writing through `self.write(Op)`.
macro_rules! enrollment_backend {
    ($store:ty, $db:ty, reader: $reader:ident) => {
        use async_trait::async_trait;
        use sqlx::Row;

        use $crate::NewAuditEntry;
        use $crate::StoreError;
        use $crate::acme::{from_json, refusal, to_json};
        use $crate::enrollment::{BootstrapToken, EnrollmentStore, EnrollmentWrite, ScepRaKey};
        use $crate::write_job::{Done, Op};

        type Conn = <$db as sqlx::Database>::Connection;
        type DbRow = <$db as sqlx::Database>::Row;

        const TOKEN_COLUMNS: &str = "id, secret_sha256, profile, names, max_uses, uses, expires_at, owner, \
             created_at, revoked_at";

        fn token_from_row(r: &DbRow) -> Result<BootstrapToken, StoreError> {
            let names: String = r.try_get("names")?;
            Ok(BootstrapToken {
                id: r.try_get("id")?,
                secret_sha256: r.try_get("secret_sha256")?,
                profile: r.try_get("profile")?,
                names: from_json(&names, "bootstrap_tokens.names")?,
                max_uses: r.try_get("max_uses")?,
                uses: r.try_get("uses")?,
                expires_at: r.try_get("expires_at")?,
                owner: r.try_get("owner")?,
                created_at: r.try_get("created_at")?,
                revoked_at: r.try_get("revoked_at")?,
            })
        }

        const RA_COLUMNS: &str =
            "issuer_id, period, key_pem, cert_der, serial_hex, not_after, created_at";

        fn ra_from_row(r: &DbRow) -> Result<ScepRaKey, StoreError> {
            Ok(ScepRaKey {
                issuer_id: r.try_get("issuer_id")?,
                period: r.try_get("period")?,
                key_pem: r.try_get("key_pem")?,
                cert_der: r.try_get("cert_der")?,
                serial_hex: r.try_get("serial_hex")?,
                not_after: r.try_get("not_after")?,
                created_at: r.try_get("created_at")?,
            })
        }

        /// Run one write inside the writer's savepoint; the bool says whether it changed
        /// anything (then the writer appends its audit entry).
        pub(crate) async fn apply(
            conn: &mut Conn,
            write: &EnrollmentWrite,
        ) -> Result<(Done, bool), StoreError> {
            match write {
                EnrollmentWrite::Create { token: t, .. } => {
                    sqlx::query(
                        "INSERT INTO bootstrap_tokens (id, secret_sha256, profile, names, max_uses, uses, \
                         expires_at, owner, created_at, revoked_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                    )
                    .bind(&t.id)
                    .bind(&t.secret_sha256)
                    .bind(&t.profile)
                    .bind(to_json(&t.names, "names")?)
                    .bind(t.max_uses)
                    .bind(t.uses)
                    .bind(t.expires_at)
                    .bind(&t.owner)
                    .bind(t.created_at)
                    .bind(t.revoked_at)
                    .execute(&mut *conn)
                    .await
                    .map_err(|e| refusal(e, &format!("bootstrap token {}", t.id), "bootstrap token"))?;
                    Ok((Done::Unit, true))
                }
                EnrollmentWrite::Use { id, now, .. } => {
                    let n = sqlx::query(
                        "UPDATE bootstrap_tokens SET uses = uses + 1 \
                         WHERE id = $1 AND uses < max_uses AND expires_at > $2 AND revoked_at IS NULL",
                    )
                    .bind(id)
                    .bind(*now)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                    Ok((Done::Number(n as i64), n > 0))
                }
                EnrollmentWrite::Refund { id, .. } => {
                    let n = sqlx::query(
                        "UPDATE bootstrap_tokens SET uses = uses - 1 WHERE id = $1 AND uses > 0",
                    )
                    .bind(id)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                    Ok((Done::Number(n as i64), n > 0))
                }
                EnrollmentWrite::Renewal { serial_hex, predecessor_serial, at, .. } => {
                    sqlx::query(
                        "INSERT INTO certificate_renewals (serial_hex, predecessor_serial, renewed_at) \
                         VALUES ($1, $2, $3)",
                    )
                    .bind(serial_hex)
                    .bind(predecessor_serial)
                    .bind(*at)
                    .execute(&mut *conn)
                    .await
                    .map_err(|e| refusal(e, &format!("renewal of {serial_hex}"), "certificate"))?;
                    Ok((Done::Unit, true))
                }
                EnrollmentWrite::ScepRa { key: k, .. } => {
                    let n = sqlx::query(
                        "INSERT INTO scep_ra_keys (issuer_id, period, key_pem, cert_der, serial_hex, \
                         not_after, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                         ON CONFLICT (issuer_id, period) DO NOTHING",
                    )
                    .bind(&k.issuer_id)
                    .bind(k.period)
                    .bind(&k.key_pem)
                    .bind(&k.cert_der)
                    .bind(&k.serial_hex)
                    .bind(k.not_after)
                    .bind(k.created_at)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                    Ok((Done::Number(n as i64), n > 0))
                }
                EnrollmentWrite::Revoke { id, now, .. } => {
                    let n = sqlx::query(
                        "UPDATE bootstrap_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
                    )
                    .bind(id)
                    .bind(*now)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                    if n == 0 {
                        let exists: Option<String> =
                            sqlx::query_scalar("SELECT id FROM bootstrap_tokens WHERE id = $1")
                                .bind(id)
                                .fetch_optional(&mut *conn)
                                .await?;
                        return Err(match exists {
                            Some(_) => StoreError::Conflict {
                                what: format!("revocation of bootstrap token {id}"),
                            },
                            None => StoreError::NotFound {
                                what: format!("bootstrap token {id}"),
                            },
                        });
                    }
                    Ok((Done::Unit, true))
                }
            }
        }

        impl $store {
            async fn enrollment_write(&self, write: EnrollmentWrite) -> Result<Done, StoreError> {
                self.write(Op::Enrollment(Box::new(write))).await
            }
        }

        #[async_trait]
        impl EnrollmentStore for $store {
            async fn create_bootstrap_token(
                &self,
                token: &BootstrapToken,
                audit: NewAuditEntry,
            ) -> Result<(), StoreError> {
                self.enrollment_write(EnrollmentWrite::Create {
                    token: token.clone(),
                    audit,
                })
                .await
                .map(drop)
            }

            async fn bootstrap_token(&self, id: &str) -> Result<Option<BootstrapToken>, StoreError> {
                let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {TOKEN_COLUMNS} FROM bootstrap_tokens WHERE id = $1"
                )))
                .bind(id)
                .fetch_optional(&self.$reader)
                .await?;
                row.as_ref().map(token_from_row).transpose()
            }

            async fn list_bootstrap_tokens(
                &self,
                limit: i64,
            ) -> Result<Vec<BootstrapToken>, StoreError> {
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {TOKEN_COLUMNS} FROM bootstrap_tokens ORDER BY created_at DESC, id LIMIT $1"
                )))
                .bind(limit)
                .fetch_all(&self.$reader)
                .await?;
                rows.iter().map(token_from_row).collect()
            }

            async fn use_bootstrap_token(
                &self,
                id: &str,
                now: i64,
                audit: NewAuditEntry,
            ) -> Result<bool, StoreError> {
                match self
                    .enrollment_write(EnrollmentWrite::Use {
                        id: id.to_owned(),
                        now,
                        audit,
                    })
                    .await?
                {
                    Done::Number(n) => Ok(n > 0),
                    _ => Err(StoreError::Corrupt("use_bootstrap_token: unexpected answer".into())),
                }
            }

            async fn refund_bootstrap_token(
                &self,
                id: &str,
                audit: NewAuditEntry,
            ) -> Result<(), StoreError> {
                self.enrollment_write(EnrollmentWrite::Refund {
                    id: id.to_owned(),
                    audit,
                })
                .await
                .map(drop)
            }

            async fn record_renewal(
                &self,
                serial_hex: &str,
                predecessor_serial: &str,
                at: i64,
                audit: NewAuditEntry,
            ) -> Result<(), StoreError> {
                self.enrollment_write(EnrollmentWrite::Renewal {
                    serial_hex: serial_hex.to_owned(),
                    predecessor_serial: predecessor_serial.to_owned(),
                    at,
                    audit,
                })
                .await
                .map(drop)
            }

            async fn predecessor_of(&self, serial_hex: &str) -> Result<Option<String>, StoreError> {
                Ok(sqlx::query_scalar(
                    "SELECT predecessor_serial FROM certificate_renewals WHERE serial_hex = $1",
                )
                .bind(serial_hex)
                .fetch_optional(&self.$reader)
                .await?)
            }

            async fn revoke_bootstrap_token(
                &self,
                id: &str,
                now: i64,
                audit: NewAuditEntry,
            ) -> Result<(), StoreError> {
                self.enrollment_write(EnrollmentWrite::Revoke {
                    id: id.to_owned(),
                    now,
                    audit,
                })
                .await
                .map(drop)
            }

            async fn put_scep_ra_key(
                &self,
                key: &ScepRaKey,
                audit: NewAuditEntry,
            ) -> Result<ScepRaKey, StoreError> {
                self.enrollment_write(EnrollmentWrite::ScepRa {
                    key: key.clone(),
                    audit,
                })
                .await?;
                // Read through the writer's side: the row may have been written just now.
                let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {RA_COLUMNS} FROM scep_ra_keys WHERE issuer_id = $1 AND period = $2"
                )))
                .bind(&key.issuer_id)
                .bind(key.period)
                .fetch_optional(&self.$reader)
                .await?;
                match row {
                    Some(r) => ra_from_row(&r),
                    None => Err(StoreError::Corrupt(format!(
                        "SCEP RA key of {} period {} vanished after it was stored",
                        key.issuer_id, key.period
                    ))),
                }
            }

            async fn scep_ra_keys(
                &self,
                issuer_id: &str,
                now: i64,
            ) -> Result<Vec<ScepRaKey>, StoreError> {
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {RA_COLUMNS} FROM scep_ra_keys WHERE issuer_id = $1 AND not_after > $2 \
                     ORDER BY period DESC LIMIT 16"
                )))
                .bind(issuer_id)
                .bind(now)
                .fetch_all(&self.$reader)
                .await?;
                rows.iter().map(ra_from_row).collect()
            }
        }
    };
}
pub(crate) use enrollment_backend;
