//! ACME state on PostgreSQL: the shared statements of [`crate::acme`], reading and
//! writing nonces through the pool (not audited), every other write an [`Op::Acme`] job
//! of the writer (under its advisory lock, in a savepoint of its own).

crate::acme::acme_backend!(super::PostgresStore, sqlx::Postgres, reader: pool, side: side);

impl super::PostgresStore {
    /// Row locks suffice: no advisory lock, no audit, no wait for a group commit.
    async fn redeem_nonce_write(&self, value: &str, expires_at: i64) -> Result<bool, StoreError> {
        let mut conn = self.side.acquire().await?;
        Ok(redeem_nonce(&mut conn, value, expires_at).await? > 0)
    }
}
