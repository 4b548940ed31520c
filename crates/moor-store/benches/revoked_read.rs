//! How long the store takes to hand a CRL builder its revoked entries, at 100,000 and
//! 1,000,000 revoked certificates, on SQLite and (when MOORING_TEST_POSTGRES names a
//! server, e.g. from `scripts/postgres start`) on PostgreSQL.
//!
//! `cargo bench -p moor-store --bench revoked_read` prints a table: rows are written with
//! one SQL statement (not through the issuance path: this measures the read), then
//! `Store::revoked_certificates` is timed; median of 5 reads.

use std::time::Instant;

use moor_store::postgres::PostgresStore;
use moor_store::sqlite::SqliteStore;
use moor_store::{IssuerRecord, NewAuditEntry, Store};
use sqlx::Connection;

const NOW: i64 = 1_800_000_000;

fn issuer() -> IssuerRecord {
    IssuerRecord {
        id: "bench".into(),
        kind: "root".into(),
        algorithm: "ecdsa-p256".into(),
        cert_der: vec![0x30, 0x00],
        parent_id: None,
        key_ref: "keys/bench.p8".into(),
        fingerprint: "00".into(),
        created_at: NOW,
    }
}

fn audit() -> NewAuditEntry {
    NewAuditEntry {
        ts: NOW,
        actor: "bench".into(),
        action: "issuer.create".into(),
        subject: "bench".into(),
        detail: "{}".into(),
    }
}

/// Rows `from..=to`: revoked, unexpired, random-looking 128-bit serials.
fn fill_sql(postgres: bool, from: i64, to: i64) -> String {
    let serial = if postgres {
        "md5(g::text)"
    } else {
        "lower(hex(randomblob(16)))"
    };
    let rows = if postgres {
        format!("generate_series({from}, {to}) AS g")
    } else {
        format!(
            "(WITH RECURSIVE c(g) AS (SELECT {from} UNION ALL SELECT g + 1 FROM c WHERE g < {to}) SELECT g FROM c)"
        )
    };
    format!(
        "INSERT INTO certificates (serial_hex, issuer_id, profile, subject, sans, not_before, not_after, requester, \
         key_algorithm, fingerprint, spki_sha256, der, status, revoked_at, revocation_reason, created_at, revocation_seq) \
         SELECT {serial}, 'bench', 'tls-server', 'CN=x', '[]', {nb}, {na}, 'bench', 'ecdsa-p256', 'f', 's' || g, \
         {der}, 'revoked', {NOW}, g % 6, {NOW}, g FROM {rows}",
        nb = NOW - 86_400,
        na = NOW + 86_400 * 90,
        der = if postgres {
            "'\\x3000'::bytea"
        } else {
            "x'3000'"
        },
    )
}

async fn measure(store: &dyn Store, n: usize) -> f64 {
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let rows = store
            .revoked_certificates("bench", NOW)
            .await
            .expect("read");
        times.push(t.elapsed().as_secs_f64());
        assert_eq!(rows.len(), n);
    }
    times.sort_by(f64::total_cmp);
    times[2]
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let sizes = [100_000i64, 1_000_000];
    println!("| backend | revoked entries | revoked_certificates() median (s) |");
    println!("|---|---:|---:|");

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bench.db");
    let store = SqliteStore::open(&path).await.expect("open");
    store
        .insert_issuer(&issuer(), audit())
        .await
        .expect("issuer");
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("raw");
    let mut have = 0;
    for n in sizes {
        sqlx::query(sqlx::AssertSqlSafe(fill_sql(false, have + 1, n)))
            .execute(&mut conn)
            .await
            .expect("fill");
        have = n;
        println!(
            "| SQLite | {n} | {:.3} |",
            measure(&store, n as usize).await
        );
    }
    drop(conn);
    store.close().await;

    let Ok(admin) = std::env::var("MOORING_TEST_POSTGRES") else {
        println!(
            "\n(PostgreSQL not measured: MOORING_TEST_POSTGRES is not set; `eval \"$(scripts/postgres start)\"` first)"
        );
        return;
    };
    let mut a = sqlx::PgConnection::connect(&admin).await.expect("admin");
    let name = format!("mooring_bench_{}", std::process::id());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut a)
        .await
        .expect("create db");
    let url = format!("{}/{name}", admin.rsplit_once('/').expect("url").0);
    let store = PostgresStore::open(&url).await.expect("open pg");
    store
        .insert_issuer(&issuer(), audit())
        .await
        .expect("issuer");
    let mut conn = sqlx::PgConnection::connect(&url).await.expect("raw");
    let mut have = 0;
    for n in sizes {
        sqlx::query(sqlx::AssertSqlSafe(fill_sql(true, have + 1, n)))
            .execute(&mut conn)
            .await
            .expect("fill");
        sqlx::query("ANALYZE certificates")
            .execute(&mut conn)
            .await
            .expect("analyze");
        have = n;
        println!(
            "| PostgreSQL | {n} | {:.3} |",
            measure(&store, n as usize).await
        );
    }
    drop(conn);
    store.close().await;
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {name} WITH (FORCE)"
    )))
    .execute(&mut a)
    .await;
}
