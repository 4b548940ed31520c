//! The inventory on SQLite: the shared statements of [`crate::inventory`], reading from
//! the read-only pool, every write an [`Op::Inventory`] job of the writer.

crate::inventory::inventory_backend!(super::SqliteStore, sqlx::Sqlite, reader: reader);
