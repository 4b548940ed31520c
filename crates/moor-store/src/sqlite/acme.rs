//! ACME state on SQLite: the shared statements of [`crate::acme`], reading from the
//! read-only pool, nonces on the `side` connection (not audited), every other write an
//! [`Op::Acme`] job of the writer (careful path, in a savepoint of its own).

crate::acme::acme_backend!(super::SqliteStore, sqlx::Sqlite, reader: reader, side: side);
