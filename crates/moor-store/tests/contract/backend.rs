//! One empty database per test, of either backend, and ways to open stores on it and to
//! reach past the store with raw SQL.

use std::sync::Arc;

use moor_store::Store;
use sqlx::{AssertSqlSafe, ConnectOptions, Connection};

/// The environment variable naming a PostgreSQL server the tests may create databases on.
pub const POSTGRES_ENV: &str = "MOORING_TEST_POSTGRES";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

/// An empty database for one test. Dropping it removes the database (best effort).
pub enum Backend {
    /// A fresh directory holding `mooring.db`.
    Sqlite { dir: tempfile::TempDir },
    /// A fresh database `db_name` on the server of `admin_url` (the URL of
    /// [`POSTGRES_ENV`], which names the database the test connects to for administration).
    Postgres { admin_url: String, db_name: String },
}

/// A new empty database of `kind`.
pub async fn fresh(kind: Kind) -> Backend {
    match kind {
        Kind::Sqlite => Backend::Sqlite {
            dir: tempfile::tempdir().expect("temporary directory"),
        },
        Kind::Postgres => {
            let admin_url = std::env::var(POSTGRES_ENV).unwrap_or_else(|_| {
                panic!("{POSTGRES_ENV} is not set: run scripts/test, which starts PostgreSQL")
            });
            let db_name = format!("mooring_t_{}", random_hex(8));
            let mut admin = sqlx::PgConnection::connect(&admin_url)
                .await
                .unwrap_or_else(|e| panic!("cannot connect to {POSTGRES_ENV}={admin_url}: {e}"));
            sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {db_name}")))
                .execute(&mut admin)
                .await
                .unwrap_or_else(|e| panic!("CREATE DATABASE {db_name}: {e}"));
            admin.close().await.ok();
            Backend::Postgres { admin_url, db_name }
        }
    }
}

fn random_hex(bytes: usize) -> String {
    use aws_lc_rs::rand::SecureRandom;
    let mut buf = vec![0u8; bytes];
    aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut buf)
        .expect("OS random");
    hex::encode(buf)
}

/// `url` with its database name replaced by `db_name`.
fn with_database(url: &str, db_name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    // postgres://user@host:port/dbname: the path starts at the first '/' after "//".
    let authority_start = base.find("//").map_or(0, |i| i + 2);
    let path_start = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{db_name}", &base[..path_start]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

impl Backend {
    pub fn kind(&self) -> Kind {
        match self {
            Backend::Sqlite { .. } => Kind::Sqlite,
            Backend::Postgres { .. } => Kind::Postgres,
        }
    }

    fn sqlite_path(dir: &tempfile::TempDir) -> std::path::PathBuf {
        dir.path().join("mooring.db")
    }

    /// The URL of this test's PostgreSQL database.
    fn postgres_url(admin_url: &str, db_name: &str) -> String {
        with_database(admin_url, db_name)
    }

    /// A store on this database. Each call is a separate store (its own connections and
    /// writer): two calls are two nodes, or two processes, sharing the database.
    pub async fn open(&self) -> Arc<dyn Store> {
        match self {
            Backend::Sqlite { dir } => Arc::new(
                moor_store::sqlite::SqliteStore::open(&Self::sqlite_path(dir))
                    .await
                    .expect("open SQLite store"),
            ),
            Backend::Postgres { admin_url, db_name } => {
                open_postgres(&Self::postgres_url(admin_url, db_name)).await
            }
        }
    }

    /// Run `sql` on the database directly, past the store (tampering, inspection).
    pub async fn exec(&self, sql: &str) {
        match self {
            Backend::Sqlite { dir } => {
                let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(Self::sqlite_path(dir))
                    .busy_timeout(std::time::Duration::from_secs(10))
                    .connect()
                    .await
                    .expect("raw SQLite connection");
                sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
                    .execute(&mut conn)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
                conn.close().await.ok();
            }
            Backend::Postgres { admin_url, db_name } => {
                let mut conn = sqlx::PgConnection::connect(&Self::postgres_url(admin_url, db_name))
                    .await
                    .expect("raw PostgreSQL connection");
                sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
                    .execute(&mut conn)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
                conn.close().await.ok();
            }
        }
    }

    /// The single integer `sql` selects (a count), read directly from the database.
    pub async fn count(&self, sql: &str) -> i64 {
        match self {
            Backend::Sqlite { dir } => {
                let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(Self::sqlite_path(dir))
                    .read_only(true)
                    .connect()
                    .await
                    .expect("raw SQLite connection");
                let n = sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql.to_owned()))
                    .fetch_one(&mut conn)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
                conn.close().await.ok();
                n
            }
            Backend::Postgres { admin_url, db_name } => {
                let mut conn = sqlx::PgConnection::connect(&Self::postgres_url(admin_url, db_name))
                    .await
                    .expect("raw PostgreSQL connection");
                let n = sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql.to_owned()))
                    .fetch_one(&mut conn)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
                conn.close().await.ok();
                n
            }
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        let Backend::Postgres { admin_url, db_name } = self else {
            return; // TempDir removes itself.
        };
        // Best effort, on a thread of its own: Drop cannot await, and this may run on a
        // runtime worker. FORCE ends the connections stores that were not closed still hold.
        let admin_url = admin_url.clone();
        let sql = format!("DROP DATABASE IF EXISTS {db_name} WITH (FORCE)");
        let dropper = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
                    if let Err(e) = sqlx::raw_sql(AssertSqlSafe(sql.clone()))
                        .execute(&mut admin)
                        .await
                    {
                        eprintln!("{sql}: {e}");
                    }
                    admin.close().await.ok();
                }
            });
        });
        let _ = dropper.join();
    }
}

/// `moor_store::postgres::PostgresStore` on `url`.
async fn open_postgres(url: &str) -> Arc<dyn Store> {
    Arc::new(
        moor_store::postgres::PostgresStore::open(url)
            .await
            .unwrap_or_else(|e| panic!("open PostgreSQL store on {url}: {e}")),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_name_is_replaced_in_the_url() {
        assert_eq!(
            super::with_database("postgres://postgres@127.0.0.1:54329/postgres", "t1"),
            "postgres://postgres@127.0.0.1:54329/t1"
        );
        assert_eq!(
            super::with_database("postgres://u:p@h/db?sslmode=disable", "t2"),
            "postgres://u:p@h/t2?sslmode=disable"
        );
        assert_eq!(
            super::with_database("postgres://h:1", "t3"),
            "postgres://h:1/t3"
        );
    }
}
