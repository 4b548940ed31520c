//! The inventory on PostgreSQL: the shared statements of [`crate::inventory`], reading
//! through the pool, every write an [`Op::Inventory`] job of the writer.

crate::inventory::inventory_backend!(super::PostgresStore, sqlx::Postgres, reader: pool);
