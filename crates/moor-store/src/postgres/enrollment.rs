//! Enrollment credentials on PostgreSQL: the shared statements of [`crate::enrollment`],
//! reading through the pool, every write an [`Op::Enrollment`] job of the writer (under its
//! advisory lock).

crate::enrollment::enrollment_backend!(super::PostgresStore, sqlx::Postgres, reader: pool);
