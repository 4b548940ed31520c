//! The SQLite backend against the `Store` contract.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use moor_store::sqlite::SqliteStore;
use moor_store::{
    AdminTokenRecord, AuditEntry, CertificateFilter, CertificateRecord, GENESIS_HASH, IssuerRecord,
    NewAuditEntry, NewCertificate, Store, StoreError,
};
use sqlx::{ConnectOptions, Connection, Row};

const NOW: i64 = 1_800_000_000;
const DAY: i64 = 86_400;

fn db(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("mooring.db")
}

async fn open(path: &Path) -> SqliteStore {
    SqliteStore::open(path).await.expect("open store")
}

/// A second, independent connection for inspecting and tampering with the file.
async fn raw(path: &Path) -> sqlx::SqliteConnection {
    sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .connect()
        .await
        .expect("raw connection")
}

fn issuer(id: &str, parent: Option<&str>) -> IssuerRecord {
    IssuerRecord {
        id: id.into(),
        kind: if parent.is_some() {
            "intermediate"
        } else {
            "root"
        }
        .into(),
        algorithm: "ecdsa-p256".into(),
        cert_der: vec![0x30, 0x82, 0x01, id.len() as u8],
        parent_id: parent.map(Into::into),
        key_ref: format!("keys/{id}.p8"),
        fingerprint: format!("{:0>64}", id.len()),
        created_at: NOW - 10 * DAY,
    }
}

fn audit(action: &str, subject: &str) -> NewAuditEntry {
    NewAuditEntry {
        ts: NOW,
        actor: "cli".into(),
        action: action.into(),
        subject: subject.into(),
        detail: format!(r#"{{"subject":"{subject}"}}"#),
    }
}

fn cert(
    serial: &str,
    issuer: &str,
    profile: &str,
    sans: &[&str],
    not_after: i64,
) -> NewCertificate {
    NewCertificate {
        serial_hex: serial.into(),
        issuer_id: issuer.into(),
        profile: profile.into(),
        subject: format!("CN={serial}"),
        sans: sans.iter().map(|s| s.to_string()).collect(),
        not_before: not_after - 30 * DAY,
        not_after,
        requester: "admin:tok_1".into(),
        key_algorithm: "ecdsa-p256".into(),
        fingerprint: format!("{serial:f>64}"),
        spki_sha256: format!("{serial:e>64}"),
        der: serial.as_bytes().to_vec(),
        created_at: NOW - DAY,
    }
}

fn serial(i: usize) -> String {
    format!(
        "{:032x}",
        0x5a5a_0000_0000_0000_0000_0000_0000_0000u128 + i as u128
    )
}

fn filter() -> CertificateFilter {
    CertificateFilter {
        limit: 1000,
        now: NOW,
        ..Default::default()
    }
}

async fn store_with_issuer(path: &Path) -> SqliteStore {
    let store = open(path).await;
    store
        .insert_issuer(&issuer("default", None), audit("issuer.create", "default"))
        .await
        .expect("issuer");
    store
}

async fn all_audit(store: &SqliteStore) -> Vec<AuditEntry> {
    store
        .audit_entries(0, i64::MAX)
        .await
        .expect("audit entries")
}

fn serials(certs: &[CertificateRecord]) -> Vec<String> {
    certs.iter().map(|c| c.serial_hex.clone()).collect()
}

#[tokio::test]
async fn issuers_certificates_and_tokens_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&db(&dir)).await;

    let root = issuer("root", None);
    let mut inter = issuer("default", Some("root"));
    inter.created_at += 1;
    store
        .insert_issuer(&root, audit("issuer.create", "root"))
        .await
        .unwrap();
    store
        .insert_issuer(&inter, audit("issuer.create", "default"))
        .await
        .unwrap();
    assert_eq!(
        store.list_issuers().await.unwrap(),
        vec![root.clone(), inter.clone()]
    );
    assert!(matches!(
        store
            .insert_issuer(&root, audit("issuer.create", "root"))
            .await,
        Err(StoreError::Conflict { .. })
    ));
    assert!(matches!(
        store
            .insert_issuer(
                &issuer("orphan", Some("nope")),
                audit("issuer.create", "orphan")
            )
            .await,
        Err(StoreError::NotFound { .. })
    ));

    let new = cert(
        "0a1b2c",
        "default",
        "tls-server",
        &["dns:a.example", "ip:2001:db8::1"],
        NOW + 30 * DAY,
    );
    store
        .record_issuance(new.clone(), audit("issue", "0a1b2c"))
        .await
        .unwrap();
    let got = store
        .get_certificate("0a1b2c")
        .await
        .unwrap()
        .expect("stored");
    let expected = CertificateRecord {
        id: got.id,
        serial_hex: new.serial_hex,
        issuer_id: new.issuer_id,
        profile: new.profile,
        subject: new.subject,
        sans: new.sans,
        not_before: new.not_before,
        not_after: new.not_after,
        requester: new.requester,
        key_algorithm: new.key_algorithm,
        fingerprint: new.fingerprint,
        spki_sha256: new.spki_sha256,
        der: new.der,
        status: "valid".into(),
        revoked_at: None,
        revocation_reason: None,
        created_at: new.created_at,
    };
    assert_eq!(got, expected);
    assert!(got.id > 0);
    assert_eq!(store.get_certificate("ffff").await.unwrap(), None);

    // An unknown issuer writes nothing, not even its audit entry.
    let before = all_audit(&store).await.len();
    assert!(matches!(
        store
            .record_issuance(
                cert("77", "missing", "tls-server", &[], NOW),
                audit("issue", "77")
            )
            .await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(all_audit(&store).await.len(), before);

    let token = AdminTokenRecord {
        id: "tok_1".into(),
        secret_sha256: vec![7; 32],
        name: "first admin".into(),
        created_at: NOW,
    };
    store
        .insert_admin_token(&token, audit("token.create", "tok_1"))
        .await
        .unwrap();
    assert_eq!(
        store.active_admin_tokens().await.unwrap(),
        vec![token.clone()]
    );
    assert!(matches!(
        store
            .insert_admin_token(&token, audit("token.create", "tok_1"))
            .await,
        Err(StoreError::Conflict { .. })
    ));
    let mut conn = raw(&db(&dir)).await;
    sqlx::query("UPDATE admin_tokens SET revoked_at = 1 WHERE id = 'tok_1'")
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(store.active_admin_tokens().await.unwrap(), vec![]);

    let log = all_audit(&store).await;
    let actions: Vec<_> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["issuer.create", "issuer.create", "issue", "token.create"]
    );
    assert!(store.verify_audit().await.unwrap().ok());
}

#[tokio::test]
async fn certificate_filters() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_issuer(&db(&dir)).await;
    store
        .insert_issuer(&issuer("pq", None), audit("issuer.create", "pq"))
        .await
        .unwrap();

    let certs = [
        cert(
            "01",
            "default",
            "tls-server",
            &["dns:a.example", "dns:www.a.example"],
            NOW + 30 * DAY,
        ),
        cert(
            "02",
            "default",
            "tls-client",
            &["email:ops@a.example"],
            NOW + 5 * DAY,
        ),
        cert(
            "03",
            "pq",
            "tls-server",
            &["dns:b.example", "ip:10.0.0.1"],
            NOW + 60 * DAY,
        ),
        cert("04", "pq", "tls-server", &["dns:a.example"], NOW - DAY), // expired
        cert(
            "05",
            "default",
            "tls-server",
            &["uri:spiffe://a.example/web"],
            NOW + 2 * DAY,
        ), // revoked below
        cert("06", "default", "device", &[], NOW - 2 * DAY), // expired, then revoked: counts as revoked
    ];
    for c in &certs {
        store
            .record_issuance(c.clone(), audit("issue", &c.serial_hex))
            .await
            .unwrap();
    }
    store
        .revoke_certificate("05", NOW, 1, audit("revoke", "05"))
        .await
        .unwrap();
    store
        .revoke_certificate("06", NOW, 4, audit("revoke", "06"))
        .await
        .unwrap();

    let list = |f: CertificateFilter| {
        let store = &store;
        async move { serials(&store.list_certificates(&f).await.unwrap()) }
    };
    assert_eq!(list(filter()).await, ["01", "02", "03", "04", "05", "06"]);
    // SAN, tagged and bare.
    assert_eq!(
        list(CertificateFilter {
            san: Some("dns:a.example".into()),
            ..filter()
        })
        .await,
        ["01", "04"]
    );
    assert_eq!(
        list(CertificateFilter {
            san: Some("a.example".into()),
            ..filter()
        })
        .await,
        ["01", "04"]
    );
    assert_eq!(
        list(CertificateFilter {
            san: Some("ip:10.0.0.1".into()),
            ..filter()
        })
        .await,
        ["03"]
    );
    assert_eq!(
        list(CertificateFilter {
            san: Some("10.0.0.1".into()),
            ..filter()
        })
        .await,
        ["03"]
    );
    assert_eq!(
        list(CertificateFilter {
            san: Some("spiffe://a.example/web".into()),
            ..filter()
        })
        .await,
        ["05"]
    );
    assert_eq!(
        list(CertificateFilter {
            san: Some("ops@a.example".into()),
            ..filter()
        })
        .await,
        ["02"]
    );
    assert_eq!(
        list(CertificateFilter {
            san: Some("dns:www".into()),
            ..filter()
        })
        .await,
        Vec::<String>::new()
    );
    assert_eq!(
        list(CertificateFilter {
            san: Some("ip:a.example".into()),
            ..filter()
        })
        .await,
        Vec::<String>::new()
    );
    // Profile and issuer.
    assert_eq!(
        list(CertificateFilter {
            profile: Some("tls-server".into()),
            ..filter()
        })
        .await,
        ["01", "03", "04", "05"]
    );
    assert_eq!(
        list(CertificateFilter {
            issuer_id: Some("pq".into()),
            ..filter()
        })
        .await,
        ["03", "04"]
    );
    // Status, judged at `now`.
    assert_eq!(
        list(CertificateFilter {
            status: Some("valid".into()),
            ..filter()
        })
        .await,
        ["01", "02", "03"]
    );
    assert_eq!(
        list(CertificateFilter {
            status: Some("revoked".into()),
            ..filter()
        })
        .await,
        ["05", "06"]
    );
    assert_eq!(
        list(CertificateFilter {
            status: Some("expired".into()),
            ..filter()
        })
        .await,
        ["04"]
    );
    assert_eq!(
        list(CertificateFilter {
            status: Some("valid".into()),
            now: NOW + 10 * DAY,
            ..filter()
        })
        .await,
        ["01", "03"]
    );
    assert_eq!(
        list(CertificateFilter {
            status: Some("bogus".into()),
            ..filter()
        })
        .await,
        Vec::<String>::new()
    );
    // Expiring before.
    assert_eq!(
        list(CertificateFilter {
            expiring_before: Some(NOW + 10 * DAY),
            ..filter()
        })
        .await,
        ["02", "04", "05", "06"]
    );
    // Combined with AND.
    assert_eq!(
        list(CertificateFilter {
            status: Some("valid".into()),
            expiring_before: Some(NOW + 40 * DAY),
            profile: Some("tls-server".into()),
            ..filter()
        })
        .await,
        ["01"]
    );
    assert_eq!(
        list(CertificateFilter {
            san: Some("a.example".into()),
            issuer_id: Some("pq".into()),
            ..filter()
        })
        .await,
        ["04"]
    );
    // Limit and cursor.
    assert_eq!(
        list(CertificateFilter {
            limit: 2,
            ..filter()
        })
        .await,
        ["01", "02"]
    );
    assert_eq!(
        list(CertificateFilter {
            limit: 0,
            ..filter()
        })
        .await,
        Vec::<String>::new()
    );
    let first = store.get_certificate("02").await.unwrap().unwrap();
    assert_eq!(
        list(CertificateFilter {
            after_id: Some(first.id),
            limit: 2,
            ..filter()
        })
        .await,
        ["03", "04"]
    );

    // The revoked rows carry their revocation.
    let revoked = store.get_certificate("06").await.unwrap().unwrap();
    assert_eq!(
        (
            revoked.status.as_str(),
            revoked.revoked_at,
            revoked.revocation_reason
        ),
        ("revoked", Some(NOW), Some(4))
    );
}

#[tokio::test]
async fn cursor_pagination_sees_every_row_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_issuer(&db(&dir)).await;
    for i in 0..250 {
        let s = serial(i);
        store
            .record_issuance(
                cert(&s, "default", "tls-server", &["dns:x.example"], NOW + DAY),
                audit("issue", &s),
            )
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut pages = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .list_certificates(&CertificateFilter {
                after_id: cursor,
                limit: 100,
                san: Some("x.example".into()),
                ..filter()
            })
            .await
            .unwrap();
        pages.push(page.len());
        let Some(last) = page.last() else { break };
        cursor = Some(last.id);
        seen.extend(serials(&page));
    }
    assert_eq!(pages, [100, 100, 50, 0]);
    assert_eq!(seen, (0..250).map(serial).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn duplicate_serial_fails_alone_in_a_concurrent_batch() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(store_with_issuer(&db(&dir)).await);
    let taken = serial(100_000);
    store
        .record_issuance(
            cert(&taken, "default", "tls-server", &[], NOW + DAY),
            audit("issue", &taken),
        )
        .await
        .unwrap();

    let mut tasks = Vec::new();
    for i in 0..200 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let s = serial(i);
            store
                .record_issuance(
                    cert(&s, "default", "tls-server", &["dns:ok.example"], NOW + DAY),
                    audit("issue", &s),
                )
                .await
        }));
    }
    let mut dups = Vec::new();
    for i in 0..5 {
        let store = Arc::clone(&store);
        let taken = taken.clone();
        dups.push(tokio::spawn(async move {
            let mut a = audit("issue", &taken);
            a.detail = format!(r#"{{"duplicate":{i}}}"#);
            store
                .record_issuance(
                    cert(&taken, "default", "dup", &["dns:dup.example"], NOW + DAY),
                    a,
                )
                .await
        }));
        // Interleave with the good ones so they land in the same groups.
        tokio::task::yield_now().await;
    }
    // Two racing new certificates with one serial: exactly one wins.
    let racing = serial(200_000);
    let race: Vec<_> = (0..2)
        .map(|_| {
            let store = Arc::clone(&store);
            let racing = racing.clone();
            tokio::spawn(async move {
                store
                    .record_issuance(
                        cert(&racing, "default", "race", &[], NOW + DAY),
                        audit("issue", &racing),
                    )
                    .await
            })
        })
        .collect();

    for t in tasks {
        t.await.unwrap().expect("every distinct serial is recorded");
    }
    for t in dups {
        match t.await.unwrap() {
            Err(StoreError::DuplicateSerial { serial, .. }) => assert_eq!(serial, taken),
            other => panic!("expected DuplicateSerial, got {other:?}"),
        }
    }
    let race: Vec<_> = {
        let mut out = Vec::new();
        for t in race {
            out.push(t.await.unwrap());
        }
        out
    };
    assert_eq!(race.iter().filter(|r| r.is_ok()).count(), 1, "{race:?}");
    assert!(
        race.iter()
            .any(|r| matches!(r, Err(StoreError::DuplicateSerial { .. })))
    );

    let log = all_audit(&store).await;
    assert_eq!(
        log.len(),
        1 + 1 + 200 + 1,
        "issuer, first cert, 200, one racer"
    );
    assert!(
        log.iter().all(|e| !e.detail.contains("duplicate")),
        "a refused duplicate left an audit entry"
    );
    let all = store
        .list_certificates(&CertificateFilter {
            limit: 10_000,
            ..filter()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 1 + 200 + 1);
    assert_eq!(
        store
            .get_certificate(&taken)
            .await
            .unwrap()
            .unwrap()
            .profile,
        "tls-server",
        "never overwritten"
    );
    assert!(
        store
            .list_certificates(&CertificateFilter {
                san: Some("dup.example".into()),
                ..filter()
            })
            .await
            .unwrap()
            .is_empty()
    );
    let v = store.verify_audit().await.unwrap();
    assert!(v.ok(), "{v:?}");
    assert_eq!(v.entries, log.len() as i64);
    let stats = store.write_stats();
    println!("group commit: {stats:?}");
    assert!(stats.batches <= stats.jobs);
    // The first group holding a duplicate was tried in one command, failed,
    // and was redone with the up-front checks.
    assert!(stats.redone >= 1, "{stats:?}");
}

/// Writes of every kind, including refused ones; returns the entries the log should hold.
async fn mixed_writes(store: &SqliteStore) -> usize {
    store
        .insert_issuer(&issuer("default", None), audit("issuer.create", "default"))
        .await
        .unwrap();
    for i in 0..5 {
        let s = serial(i);
        store
            .record_issuance(
                cert(&s, "default", "tls-server", &["dns:m.example"], NOW + DAY),
                audit("issue", &s),
            )
            .await
            .unwrap();
    }
    store
        .append_audit(audit("refuse", "dns:evil.example"))
        .await
        .unwrap();
    store
        .revoke_certificate(&serial(2), NOW, 1, audit("revoke", &serial(2)))
        .await
        .unwrap();
    assert!(
        store
            .revoke_certificate(&serial(2), NOW, 1, audit("revoke", &serial(2)))
            .await
            .is_err()
    );
    let token = AdminTokenRecord {
        id: "tok_a".into(),
        secret_sha256: vec![1; 32],
        name: "a".into(),
        created_at: NOW,
    };
    store
        .insert_admin_token(&token, audit("token.create", "tok_a"))
        .await
        .unwrap();
    assert!(
        store
            .record_issuance(
                cert(&serial(0), "default", "x", &[], NOW),
                audit("issue", "again")
            )
            .await
            .is_err()
    );
    store
        .append_audit(audit("refuse", "dns:evil2.example"))
        .await
        .unwrap();
    1 + 5 + 1 + 1 + 1 + 1
}

#[tokio::test]
async fn audit_chain_verifies_after_mixed_writes() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&db(&dir)).await;
    let n = mixed_writes(&store).await;
    let log = all_audit(&store).await;
    assert_eq!(log.len(), n);
    assert_eq!(
        log.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=n as i64).collect::<Vec<_>>()
    );
    assert_eq!(log[0].prev_hash, GENESIS_HASH);
    for pair in log.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash);
    }
    let v = store.verify_audit().await.unwrap();
    assert!(v.ok(), "{v:?}");
    assert_eq!(v.entries, n as i64);
    assert_eq!(v.head_hash, log[n - 1].hash);
    // Paging of audit_entries.
    assert_eq!(store.audit_entries(3, 2).await.unwrap(), log[3..5].to_vec());
}

#[tokio::test]
async fn edited_audit_entry_is_a_hash_mismatch_at_its_seq() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&db(&dir)).await;
    let n = mixed_writes(&store).await;
    let log = all_audit(&store).await;
    let mut conn = raw(&db(&dir)).await;
    sqlx::query("UPDATE audit_log SET detail = '{\"subject\":\"someone else\"}' WHERE seq = 4")
        .execute(&mut conn)
        .await
        .unwrap();
    let v = store.verify_audit().await.unwrap();
    let failure = v.first_failure.clone().expect("tampering detected");
    assert_eq!(
        (failure.seq, failure.kind.as_str()),
        (4, "hash_mismatch"),
        "{v:?}"
    );
    assert_eq!(v.entries, 3);
    assert_eq!(v.head_hash, log[2].hash);
    assert!(n > 4);
}

#[tokio::test]
async fn deleted_audit_entry_fails_at_the_following_seq() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&db(&dir)).await;
    mixed_writes(&store).await;
    let mut conn = raw(&db(&dir)).await;
    sqlx::query("DELETE FROM audit_log WHERE seq = 5")
        .execute(&mut conn)
        .await
        .unwrap();
    let failure = store
        .verify_audit()
        .await
        .unwrap()
        .first_failure
        .expect("deletion detected");
    assert_eq!(failure.seq, 6, "{failure:?}");
    assert_eq!(failure.kind, "seq_gap");

    // Deleting and renumbering the rest to hide the gap breaks the link instead.
    sqlx::query("UPDATE audit_log SET seq = 1 - seq WHERE seq > 5")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("UPDATE audit_log SET seq = -seq WHERE seq < 0")
        .execute(&mut conn)
        .await
        .unwrap();
    let failure = store
        .verify_audit()
        .await
        .unwrap()
        .first_failure
        .expect("deletion detected");
    assert_eq!(
        (failure.seq, failure.kind.as_str()),
        (5, "broken_link"),
        "{failure:?}"
    );
}

#[tokio::test]
async fn reordered_audit_entries_fail() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&db(&dir)).await;
    mixed_writes(&store).await;
    let mut conn = raw(&db(&dir)).await;
    // Swap the whole contents of rows 3 and 6 (every column but seq).
    let mut tx = conn.begin().await.unwrap();
    sqlx::query("UPDATE audit_log SET seq = -3 WHERE seq = 3")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("UPDATE audit_log SET seq = 3 WHERE seq = 6")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("UPDATE audit_log SET seq = 6 WHERE seq = -3")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let failure = store
        .verify_audit()
        .await
        .unwrap()
        .first_failure
        .expect("reorder detected");
    assert_eq!(failure.seq, 3, "{failure:?}");
    assert_eq!(failure.kind, "broken_link");

    // Swapping only the described event (keeping the hashes in place) is an edit.
    let dir = tempfile::tempdir().unwrap();
    let store = open(&db(&dir)).await;
    mixed_writes(&store).await;
    let mut conn = raw(&db(&dir)).await;
    let rows = sqlx::query("SELECT seq, ts, actor, action, subject, detail FROM audit_log WHERE seq IN (3, 6) ORDER BY seq")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    for (row, target) in rows.iter().zip([6i64, 3]) {
        sqlx::query("UPDATE audit_log SET ts = ?, actor = ?, action = ?, subject = ?, detail = ? WHERE seq = ?")
            .bind(row.get::<i64, _>("ts"))
            .bind(row.get::<String, _>("actor"))
            .bind(row.get::<String, _>("action"))
            .bind(row.get::<String, _>("subject"))
            .bind(row.get::<String, _>("detail"))
            .bind(target)
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let failure = store
        .verify_audit()
        .await
        .unwrap()
        .first_failure
        .expect("reorder detected");
    assert_eq!(
        (failure.seq, failure.kind.as_str()),
        (3, "hash_mismatch"),
        "{failure:?}"
    );
}

#[tokio::test]
async fn an_entry_slipped_in_before_the_first_fails() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&db(&dir)).await;
    mixed_writes(&store).await;
    let mut conn = raw(&db(&dir)).await;
    sqlx::query(
        "INSERT INTO audit_log (seq, ts, actor, action, subject, detail, prev_hash, hash) \
         SELECT 0, ts, actor, action, subject, detail, prev_hash, hash FROM audit_log WHERE seq = 1",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let v = store.verify_audit().await.unwrap();
    let failure = v.first_failure.expect("insertion detected");
    assert_eq!((failure.seq, failure.kind.as_str()), (0, "seq_gap"));
    assert_eq!((v.entries, v.head_hash.as_str()), (0, GENESIS_HASH));
}

#[tokio::test]
async fn empty_and_single_entry_logs_verify() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&db(&dir)).await;
    let v = store.verify_audit().await.unwrap();
    assert!(v.ok());
    assert_eq!((v.entries, v.head_hash.as_str()), (0, GENESIS_HASH));

    let entry = store.append_audit(audit("refuse", "x")).await.unwrap();
    assert_eq!((entry.seq, entry.prev_hash.as_str()), (1, GENESIS_HASH));
    assert_eq!(
        entry.hash,
        moor_store::audit_entry_hash(
            GENESIS_HASH,
            1,
            entry.ts,
            &entry.actor,
            &entry.action,
            &entry.subject,
            &entry.detail
        )
    );
    let v = store.verify_audit().await.unwrap();
    assert!(v.ok());
    assert_eq!((v.entries, v.head_hash), (1, entry.hash));
}

#[tokio::test]
async fn verify_pages_through_a_long_log() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(&db(&dir)).await);
    let mut tasks = Vec::new();
    for t in 0..8 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            for i in 0..2_600 {
                store
                    .append_audit(audit("refuse", &format!("{t}-{i}")))
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let v = store.verify_audit().await.unwrap();
    assert!(v.ok(), "{v:?}");
    assert_eq!(v.entries, 20_800);
    // A break in the third page is found and named.
    let mut conn = raw(&db(&dir)).await;
    sqlx::query("UPDATE audit_log SET actor = 'root' WHERE seq = 20001")
        .execute(&mut conn)
        .await
        .unwrap();
    let v = store.verify_audit().await.unwrap();
    assert_eq!(
        v.first_failure.map(|f| (f.seq, f.kind)),
        Some((20_001, "hash_mismatch".to_string()))
    );
    assert_eq!(v.entries, 20_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_on_one_file_keep_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let a = Arc::new(store_with_issuer(&path).await);
    let b = Arc::new(open(&path).await);
    let mut tasks = Vec::new();
    for (name, store) in [("a", &a), ("b", &b)] {
        for t in 0..4 {
            let store = Arc::clone(store);
            tasks.push(tokio::spawn(async move {
                for i in 0..75 {
                    let s = format!("{name}{t:02}{i:04}");
                    if i % 3 == 0 {
                        store.append_audit(audit("refuse", &s)).await.unwrap();
                    } else {
                        store
                            .record_issuance(
                                cert(&s, "default", "tls-server", &[], NOW + DAY),
                                audit("issue", &s),
                            )
                            .await
                            .unwrap();
                    }
                }
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    for store in [&a, &b] {
        let v = store.verify_audit().await.unwrap();
        assert!(v.ok(), "{v:?}");
        assert_eq!(v.entries, 1 + 2 * 4 * 75);
    }
    println!(
        "store a: {:?}\nstore b: {:?}",
        a.write_stats(),
        b.write_stats()
    );
}

/// Spawned by `a_second_process_keeps_one_chain`: appends to the file named by
/// MOOR_STORE_CHILD_DB. Without that variable it does nothing.
#[tokio::test]
async fn child_appender() {
    let Ok(path) = std::env::var("MOOR_STORE_CHILD_DB") else {
        return;
    };
    let store = Arc::new(open(Path::new(&path)).await);
    let mut tasks = Vec::new();
    for t in 0..4 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            for i in 0..100 {
                store
                    .append_audit(audit("child", &format!("{t}-{i}")))
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_second_process_keeps_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let store = Arc::new(open(&path).await);
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_appender", "--test-threads=1", "--quiet"])
        .env("MOOR_STORE_CHILD_DB", &path)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn child test process");
    let mut tasks = Vec::new();
    for t in 0..4 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            for i in 0..100 {
                store
                    .append_audit(audit("parent", &format!("{t}-{i}")))
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "child process failed: {status}");
    let v = store.verify_audit().await.unwrap();
    assert!(v.ok(), "{v:?}");
    assert_eq!(v.entries, 800);
    let log = all_audit(&store).await;
    assert_eq!(log.iter().filter(|e| e.action == "child").count(), 400);
}

#[tokio::test]
async fn revoke_twice_and_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_issuer(&db(&dir)).await;
    store
        .record_issuance(
            cert("aa", "default", "tls-server", &[], NOW + DAY),
            audit("issue", "aa"),
        )
        .await
        .unwrap();
    let revoked = store
        .revoke_certificate("aa", NOW + 5, 1, audit("revoke", "aa"))
        .await
        .unwrap();
    assert_eq!(
        (
            revoked.status.as_str(),
            revoked.revoked_at,
            revoked.revocation_reason
        ),
        ("revoked", Some(NOW + 5), Some(1))
    );
    assert_eq!(
        store.get_certificate("aa").await.unwrap(),
        Some(revoked.clone())
    );
    let entries = all_audit(&store).await.len();
    assert!(matches!(
        store.revoke_certificate("aa", NOW + 9, 4, audit("revoke", "aa")).await,
        Err(StoreError::AlreadyRevoked { serial }) if serial == "aa"
    ));
    assert!(matches!(
        store
            .revoke_certificate("bb", NOW, 1, audit("revoke", "bb"))
            .await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(
        all_audit(&store).await.len(),
        entries,
        "refused revocations leave no audit entry"
    );
    assert_eq!(
        store.get_certificate("aa").await.unwrap(),
        Some(revoked),
        "first revocation kept"
    );
}

#[tokio::test]
async fn everything_survives_reopen_and_migrations_are_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let store = open(&path).await;
    let n = mixed_writes(&store).await;
    let certs = store.list_certificates(&filter()).await.unwrap();
    let issuers = store.list_issuers().await.unwrap();
    let tokens = store.active_admin_tokens().await.unwrap();
    let log = all_audit(&store).await;
    store.close().await;

    let schema = |path: PathBuf| async move {
        let mut conn = raw(&path).await;
        let objects: Vec<String> =
            sqlx::query_scalar("SELECT type || ' ' || name FROM sqlite_schema ORDER BY 1")
                .fetch_all(&mut conn)
                .await
                .unwrap();
        let migrations: Vec<(i64, i64)> = sqlx::query(
            "SELECT version, CAST(success AS INTEGER) FROM _sqlx_migrations ORDER BY version",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
        let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        (objects, migrations, journal)
    };
    let first = schema(path.clone()).await;
    assert_eq!(
        first.1,
        vec![
            (1, 1),
            (2, 1),
            (3, 1),
            (4, 1),
            (5, 1),
            (6, 1),
            (7, 1),
            (8, 1),
            (9, 1)
        ]
    );
    assert_eq!(first.2, "wal");

    for _ in 0..2 {
        let store = open(&path).await;
        assert_eq!(store.list_certificates(&filter()).await.unwrap(), certs);
        assert_eq!(store.list_issuers().await.unwrap(), issuers);
        assert_eq!(store.active_admin_tokens().await.unwrap(), tokens);
        assert_eq!(all_audit(&store).await, log);
        let v = store.verify_audit().await.unwrap();
        assert!(v.ok() && v.entries == n as i64, "{v:?}");
        store.close().await;
        assert_eq!(
            schema(path.clone()).await,
            first,
            "reopening changed the schema"
        );
    }

    // The chain continues across reopen.
    let store = open(&path).await;
    let next = store
        .append_audit(audit("refuse", "after reopen"))
        .await
        .unwrap();
    assert_eq!(
        (next.seq, next.prev_hash.as_str()),
        (n as i64 + 1, log[n - 1].hash.as_str())
    );
    assert!(store.verify_audit().await.unwrap().ok());
}

#[tokio::test]
async fn a_changed_applied_migration_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    open(&path).await.close().await;
    let mut conn = raw(&path).await;
    sqlx::query("UPDATE _sqlx_migrations SET checksum = x'00' WHERE version = 1")
        .execute(&mut conn)
        .await
        .unwrap();
    assert!(matches!(
        SqliteStore::open(&path).await,
        Err(StoreError::Migrate(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_group_that_fails_to_insert_is_retried_job_by_job() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(store_with_issuer(&db(&dir)).await);
    // A constraint the writer does not check up front: the multi-row INSERT of
    // any group holding a "poison" certificate fails as a whole.
    let mut conn = raw(&db(&dir)).await;
    sqlx::query(
        "CREATE TRIGGER test_poison BEFORE INSERT ON certificates WHEN NEW.profile = 'poison' \
         BEGIN SELECT RAISE(ABORT, 'poisoned certificate'); END",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let mut tasks = Vec::new();
    for i in 0..100 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let s = serial(i);
            let profile = if i % 25 == 7 { "poison" } else { "tls-server" };
            let r = store
                .record_issuance(
                    cert(&s, "default", profile, &["dns:p.example"], NOW + DAY),
                    audit("issue", &s),
                )
                .await;
            (profile, r)
        }));
    }
    for t in tasks {
        match t.await.unwrap() {
            ("poison", r) => assert!(matches!(r, Err(StoreError::Database(_))), "{r:?}"),
            (_, r) => r.expect("the others are recorded"),
        }
    }
    let certs = store.list_certificates(&filter()).await.unwrap();
    assert_eq!(certs.len(), 96);
    let sans = store
        .list_certificates(&CertificateFilter {
            san: Some("p.example".into()),
            ..filter()
        })
        .await
        .unwrap();
    assert_eq!(sans.len(), 96);
    let v = store.verify_audit().await.unwrap();
    assert!(v.ok(), "{v:?}");
    assert_eq!(v.entries, 1 + 96);
    let stats = store.write_stats();
    println!("poisoned groups: {stats:?}");
    assert!(stats.redone >= 1, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_commit_fails_its_whole_group_and_the_writer_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(store_with_issuer(&db(&dir)).await);
    // A deferred foreign key is checked only at COMMIT: a "commit-fail"
    // certificate makes the COMMIT of its whole group fail.
    let mut conn = raw(&db(&dir)).await;
    sqlx::raw_sql(
        "CREATE TABLE test_parent (id INTEGER PRIMARY KEY); \
         CREATE TABLE test_child (pid INTEGER REFERENCES test_parent (id) DEFERRABLE INITIALLY DEFERRED); \
         CREATE TRIGGER test_commit_fail AFTER INSERT ON certificates WHEN NEW.profile = 'commit-fail' \
         BEGIN INSERT INTO test_child VALUES (42); END;",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let mut tasks = Vec::new();
    for i in 0..200 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let s = serial(i);
            let profile = if i == 100 {
                "commit-fail"
            } else {
                "tls-server"
            };
            let r = store
                .record_issuance(
                    cert(&s, "default", profile, &[], NOW + DAY),
                    audit("issue", &s),
                )
                .await;
            (s, r)
        }));
    }
    let mut ok = BTreeSet::new();
    let mut failed = 0;
    for t in tasks {
        let (s, r) = t.await.unwrap();
        match r {
            Ok(()) => {
                ok.insert(s);
            }
            Err(StoreError::Database(_)) => failed += 1,
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert!(!ok.contains(&serial(100)));
    assert!(failed >= 1);
    // Its group failed to commit in one command, was rolled back, redone the
    // careful way and failed to commit again.
    assert!(store.write_stats().redone >= 1);
    println!(
        "{failed} callers shared the failed commit; {:?}",
        store.write_stats()
    );
    // Exactly the callers told "ok" have their certificate and audit entry.
    let stored: BTreeSet<_> = serials(&store.list_certificates(&filter()).await.unwrap())
        .into_iter()
        .collect();
    assert_eq!(stored, ok);
    let log = all_audit(&store).await;
    assert_eq!(log.len(), 1 + ok.len());
    assert!(store.verify_audit().await.unwrap().ok());

    // The writer goes on with a fresh connection.
    let s = serial(1_000);
    store
        .record_issuance(
            cert(&s, "default", "tls-server", &[], NOW + DAY),
            audit("issue", &s),
        )
        .await
        .unwrap();
    assert!(store.get_certificate(&s).await.unwrap().is_some());
    assert!(store.verify_audit().await.unwrap().ok());
}

#[tokio::test]
async fn a_write_by_another_store_between_groups_is_chained_after() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let a = store_with_issuer(&path).await;
    let b = open(&path).await;
    let s = serial(1);
    a.record_issuance(
        cert(&s, "default", "tls-server", &["dns:a.example"], NOW + DAY),
        audit("issue", &s),
    )
    .await
    .unwrap();
    assert_eq!(
        a.write_stats().redone,
        0,
        "the head a committed last is still the head"
    );
    // `b` appends behind `a`'s back: the head `a` remembers is stale.
    let refusal = b
        .append_audit(audit("refuse", "dns:b.example"))
        .await
        .unwrap();
    let s = serial(2);
    a.record_issuance(
        cert(&s, "default", "tls-server", &["dns:a.example"], NOW + DAY),
        audit("issue", &s),
    )
    .await
    .unwrap();
    assert_eq!(
        a.write_stats().redone,
        1,
        "a's one-command write noticed the new head"
    );
    let entry = a
        .append_audit(audit("refuse", "dns:c.example"))
        .await
        .unwrap();
    let log = all_audit(&a).await;
    assert_eq!(log.len(), 5);
    assert_eq!(log[2], refusal);
    assert_eq!(log[3].prev_hash, refusal.hash, "chained after b's entry");
    assert_eq!(log[4], entry);
    let v = a.verify_audit().await.unwrap();
    assert!(v.ok(), "{v:?}");
    assert_eq!(v.head_hash, entry.hash);
    assert_eq!(a.list_certificates(&filter()).await.unwrap().len(), 2);
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn refused_issuance_alone_in_its_group_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_issuer(&db(&dir)).await;
    let s = serial(1);
    store
        .record_issuance(
            cert(&s, "default", "tls-server", &["dns:one.example"], NOW + DAY),
            audit("issue", &s),
        )
        .await
        .unwrap();
    let before = all_audit(&store).await;
    assert_eq!(store.write_stats().redone, 0);

    // Each is tried in one command, fails, is rolled back and redone with the
    // up-front checks, which answer it.
    let t = serial(2);
    let unknown = store
        .record_issuance(
            cert(&t, "nobody", "tls-server", &["dns:two.example"], NOW + DAY),
            audit("issue", &t),
        )
        .await;
    assert!(
        matches!(unknown, Err(StoreError::NotFound { .. })),
        "{unknown:?}"
    );
    assert_eq!(store.write_stats().redone, 1);
    assert_eq!(
        all_audit(&store).await,
        before,
        "a refused write left an audit entry"
    );
    // After a redone group the writer takes the careful way for a while.
    for i in 100..120 {
        let s = serial(i);
        store
            .record_issuance(
                cert(&s, "default", "tls-server", &[], NOW + DAY),
                audit("issue", &s),
            )
            .await
            .unwrap();
    }
    let before = all_audit(&store).await;
    let mut again = audit("issue", &s);
    again.detail = "again".into();
    let dup = store
        .record_issuance(
            cert(&s, "default", "dup", &["dns:dup.example"], NOW + DAY),
            again,
        )
        .await;
    assert!(
        matches!(&dup, Err(StoreError::DuplicateSerial { serial, .. }) if *serial == s),
        "{dup:?}"
    );
    assert_eq!(store.write_stats().redone, 2);
    assert_eq!(
        all_audit(&store).await,
        before,
        "a refused write left an audit entry"
    );

    assert_eq!(
        store.get_certificate(&s).await.unwrap().unwrap().profile,
        "tls-server",
        "never overwritten"
    );
    assert!(store.get_certificate(&t).await.unwrap().is_none());
    for san in ["dup.example", "two.example"] {
        let found = store
            .list_certificates(&CertificateFilter {
                san: Some(san.into()),
                ..filter()
            })
            .await
            .unwrap();
        assert!(found.is_empty(), "{san}");
    }
    let v = store.verify_audit().await.unwrap();
    assert!(v.ok(), "{v:?}");
    assert_eq!(v.entries, 1 + 1 + 20);
}

/// On a current-thread runtime the tasks spawned here all queue their job
/// before the writer task runs again, so they form one group, in this order.
#[tokio::test]
async fn a_mixed_group_answers_each_job_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(store_with_issuer(&db(&dir)).await);
    let (a, b, c, d) = (serial(1), serial(2), serial(3), serial(4));
    store
        .record_issuance(
            cert(&a, "default", "tls-server", &["dns:a.example"], NOW + DAY),
            audit("issue", &a),
        )
        .await
        .unwrap();
    let before = store.write_stats();

    type Answer = Result<Option<AuditEntry>, StoreError>;
    let mut jobs: Vec<tokio::task::JoinHandle<Answer>> = Vec::new();
    macro_rules! job {
        (|$s:ident| $body:expr) => {{
            let $s = Arc::clone(&store);
            jobs.push(tokio::spawn(async move { $body }));
        }};
    }
    // An issuer, and a certificate of it in the same group.
    job!(|s| s
        .insert_issuer(
            &issuer("sub", Some("default")),
            audit("issuer.create", "sub")
        )
        .await
        .map(|()| None));
    let (b2, c2, a2, d2) = (b.clone(), c.clone(), a.clone(), d.clone());
    job!(|s| s
        .record_issuance(
            cert(&b2, "sub", "tls-server", &["dns:b.example"], NOW + DAY),
            audit("issue", &b2)
        )
        .await
        .map(|()| None));
    job!(|s| s
        .record_issuance(
            cert(&c2, "ghost", "tls-server", &["dns:c.example"], NOW + DAY),
            audit("issue", &c2)
        )
        .await
        .map(|()| None));
    let a3 = a.clone();
    job!(|s| s
        .revoke_certificate(&a3, NOW, 1, audit("revoke", &a3))
        .await
        .map(|_| None));
    job!(|s| s
        .record_issuance(
            cert(&a2, "default", "dup", &["dns:dup.example"], NOW + DAY),
            audit("issue", "dup")
        )
        .await
        .map(|()| None));
    job!(|s| s
        .append_audit(audit("refuse", "dns:evil.example"))
        .await
        .map(Some));
    let b3 = b.clone();
    job!(|s| s
        .revoke_certificate(&b3, NOW, 4, audit("revoke", &b3))
        .await
        .map(|_| None));
    job!(|s| s
        .insert_admin_token(
            &AdminTokenRecord {
                id: "tok_m".into(),
                secret_sha256: vec![7; 32],
                name: "m".into(),
                created_at: NOW,
            },
            audit("token.create", "tok_m")
        )
        .await
        .map(|()| None));
    job!(|s| s
        .record_issuance(
            cert(&d2, "default", "tls-server", &["dns:d.example"], NOW + DAY),
            audit("issue", &d2)
        )
        .await
        .map(|()| None));
    job!(|s| s
        .revoke_certificate("ffff", NOW, 1, audit("revoke", "ffff"))
        .await
        .map(|_| None));

    let mut answers = Vec::new();
    for j in jobs {
        answers.push(j.await.unwrap());
    }
    let stats = store.write_stats();
    assert_eq!(stats.batches, before.batches + 1, "one group: {stats:?}");
    assert_eq!(stats.max_batch, 10);

    assert!(matches!(answers[0], Ok(None)), "{:?}", answers[0]);
    assert!(matches!(answers[1], Ok(None)), "{:?}", answers[1]);
    assert!(
        matches!(answers[2], Err(StoreError::NotFound { .. })),
        "{:?}",
        answers[2]
    );
    assert!(matches!(answers[3], Ok(None)), "{:?}", answers[3]);
    assert!(
        matches!(&answers[4], Err(StoreError::DuplicateSerial { serial, .. }) if *serial == a),
        "{:?}",
        answers[4]
    );
    let Ok(Some(refusal)) = &answers[5] else {
        panic!("{:?}", answers[5]);
    };
    assert!(matches!(answers[6], Ok(None)), "{:?}", answers[6]);
    assert!(matches!(answers[7], Ok(None)), "{:?}", answers[7]);
    assert!(matches!(answers[8], Ok(None)), "{:?}", answers[8]);
    assert!(
        matches!(answers[9], Err(StoreError::NotFound { .. })),
        "{:?}",
        answers[9]
    );

    // The log holds the successful jobs, in the order they were sent.
    let log = all_audit(&store).await;
    let actions: Vec<_> = log
        .iter()
        .skip(2)
        .map(|e| (e.action.as_str(), e.subject.as_str()))
        .collect();
    assert_eq!(
        actions,
        vec![
            ("issuer.create", "sub"),
            ("issue", b.as_str()),
            ("revoke", a.as_str()),
            ("refuse", "dns:evil.example"),
            ("revoke", b.as_str()),
            ("token.create", "tok_m"),
            ("issue", d.as_str()),
        ]
    );
    assert_eq!(&log[5], refusal);
    let v = store.verify_audit().await.unwrap();
    assert!(v.ok(), "{v:?}");

    let certs = store.list_certificates(&filter()).await.unwrap();
    assert_eq!(serials(&certs), vec![a.clone(), b.clone(), d.clone()]);
    let status: Vec<_> = certs
        .iter()
        .map(|c| (c.status.as_str(), c.profile.as_str()))
        .collect();
    assert_eq!(
        status,
        vec![
            ("revoked", "tls-server"),
            ("revoked", "tls-server"),
            ("valid", "tls-server")
        ]
    );
    assert_eq!(certs[1].issuer_id, "sub");
    assert_eq!(store.list_issuers().await.unwrap().len(), 2);
    assert_eq!(store.active_admin_tokens().await.unwrap().len(), 1);
    for (san, n) in [
        ("b.example", 1),
        ("c.example", 0),
        ("dup.example", 0),
        ("d.example", 1),
    ] {
        let found = store
            .list_certificates(&CertificateFilter {
                san: Some(san.into()),
                ..filter()
            })
            .await
            .unwrap();
        assert_eq!(found.len(), n, "{san}");
    }
}

async fn measure_issuance(total: usize, tasks_n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(store_with_issuer(&db(&dir)).await);
    let der = vec![0x30; 600]; // about the size of a P-256 leaf certificate
    let start = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..tasks_n {
        let store = Arc::clone(&store);
        let der = der.clone();
        tasks.push(tokio::spawn(async move {
            for i in (t..total).step_by(tasks_n) {
                let s = serial(i);
                let mut c = cert(
                    &s,
                    "default",
                    "tls-server",
                    &["dns:svc.example", "dns:svc.internal"],
                    NOW + 7 * DAY,
                );
                c.der = der.clone();
                store.record_issuance(c, audit("issue", &s)).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = start.elapsed();
    let stats = store.write_stats();
    println!(
        "record_issuance: {total} certificates from {tasks_n} tasks in {:.2} s = {:.0} certs/s \
         ({} transactions, {:.1} per commit on average, largest {})",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        stats.batches,
        stats.jobs as f64 / stats.batches as f64,
        stats.max_batch
    );
    let unique: BTreeSet<_> = serials(
        &store
            .list_certificates(&CertificateFilter {
                limit: 2 * total as i64,
                ..filter()
            })
            .await
            .unwrap(),
    )
    .into_iter()
    .collect();
    assert_eq!(unique.len(), total);
    assert!(store.verify_audit().await.unwrap().ok());
}

/// Prints certificates per second (no assertion on time): 10,000 durable
/// `record_issuance` calls from 16 concurrent tasks, then from 256.
/// MOOR_STORE_BENCH_TASKS=n measures n tasks instead.
#[tokio::test(flavor = "multi_thread")]
async fn throughput_of_record_issuance() {
    let tasks: Vec<usize> = match std::env::var("MOOR_STORE_BENCH_TASKS") {
        Ok(v) => vec![v.parse().expect("MOOR_STORE_BENCH_TASKS is a number")],
        Err(_) => vec![16, 256],
    };
    for n in tasks {
        measure_issuance(10_000, n).await;
    }
}

#[tokio::test]
async fn crl_entries_and_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let path = db(&dir);
    let store = store_with_issuer(&path).await;
    for (s, not_after) in [
        ("aa", NOW + DAY),
        ("bb", NOW + DAY),
        ("cc", NOW - 10),
        ("dd", NOW + DAY),
    ] {
        store
            .record_issuance(
                cert(s, "default", "tls-server", &[], not_after),
                audit("issue", s),
            )
            .await
            .unwrap();
    }
    store
        .revoke_certificate("bb", NOW + 1, 0, audit("revoke", "bb"))
        .await
        .unwrap();
    store
        .revoke_certificate("aa", NOW + 2, 1, audit("revoke", "aa"))
        .await
        .unwrap();
    store
        .revoke_certificate("cc", NOW + 3, 4, audit("revoke", "cc"))
        .await
        .unwrap();
    // Expired (cc) drops off; unrevoked (dd) is not listed; ordered by serial.
    let list = store.revoked_certificates("default", NOW).await.unwrap();
    let got: Vec<(&str, i64, i32)> = list
        .iter()
        .map(|e| (e.serial_hex.as_str(), e.revoked_at, e.reason))
        .collect();
    assert_eq!(got, vec![("aa", NOW + 2, 1), ("bb", NOW + 1, 0)]);
    assert!(
        store
            .revoked_certificates("other", NOW)
            .await
            .unwrap()
            .is_empty()
    );
    // CRL numbers: 1, 2, 3 … per issuer, kept across reopen, audited; unknown issuer refused.
    for want in 1..=3 {
        assert_eq!(
            store
                .next_crl_number("default", audit("crl.issue", "default"))
                .await
                .unwrap(),
            want
        );
    }
    assert!(matches!(
        store
            .next_crl_number("nope", audit("crl.issue", "nope"))
            .await,
        Err(StoreError::NotFound { .. })
    ));
    store.close().await;
    let store = open(&path).await;
    assert_eq!(
        store
            .next_crl_number("default", audit("crl.issue", "default"))
            .await
            .unwrap(),
        4
    );
    let v = store.verify_audit().await.unwrap();
    assert!(v.ok());
    assert_eq!(
        all_audit(&store)
            .await
            .iter()
            .filter(|e| e.action == "crl.issue")
            .count(),
        4
    );
}
