//! Store errors.

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The certificate serial already exists for this issuer; nothing was written.
    #[error("duplicate serial {serial} for issuer {issuer_id}")]
    DuplicateSerial { issuer_id: String, serial: String },
    /// A unique key (issuer id, token id) already exists.
    #[error("{what} already exists")]
    Conflict { what: String },
    /// The object does not exist.
    #[error("{what} not found")]
    NotFound { what: String },
    /// The certificate's public key is blocked (revoked for key compromise); nothing was written.
    #[error("key {spki_sha256} is blocked")]
    KeyBlocked { spki_sha256: String },
    /// The certificate is already revoked.
    #[error("certificate {serial} is already revoked")]
    AlreadyRevoked { serial: String },
    /// Stored data does not decode (corrupt or from a newer version).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Schema migration failed.
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}
