//! ACME state on PostgreSQL: the shared statements of [`crate::acme`], reading and
//! writing nonces through the pool (not audited), every other write an [`Op::Acme`] job
//! of the writer (under its advisory lock, in a savepoint of its own).

crate::acme::acme_backend!(super::PostgresStore, sqlx::Postgres, reader: pool, side: side);
