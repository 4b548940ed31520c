//! ACME state on SQLite: the shared statements of [`crate::acme`], reading from the
//! read-only pool, every write an [`Op::Acme`] job of the writer (careful path, in a
//! savepoint of its own) — redeemed nonces too, though not audited: a second writing
//! connection would meet the writer's lock and sleep in SQLite's busy handler.

crate::acme::acme_backend!(super::SqliteStore, sqlx::Sqlite, reader: reader, side: side);

impl super::SqliteStore {
    async fn redeem_nonce_write(&self, value: &str, expires_at: i64) -> Result<bool, StoreError> {
        let write = AcmeWrite::RedeemNonce {
            value: value.to_owned(),
            expires_at,
        };
        match self.acme_write(write, "redeem_nonce").await? {
            Done::Number(n) => Ok(n > 0),
            _ => Err(StoreError::Corrupt(
                "redeem_nonce: unexpected answer".into(),
            )),
        }
    }
}
