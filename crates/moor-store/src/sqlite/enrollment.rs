//! Enrollment credentials on SQLite: the shared statements of [`crate::enrollment`],
//! reading from the read-only pool, every write an [`Op::Enrollment`] job of the writer.

crate::enrollment::enrollment_backend!(super::SqliteStore, sqlx::Sqlite, reader: reader);
