//! The hash-chained audit log: appending, reading, verifying, and tampering found.

use moor_store::{AdminTokenRecord, GENESIS_HASH, Store, audit_entry_hash};

use crate::backend::Backend;
use crate::fixtures::*;

/// Writes of every kind, including refused ones; returns how many entries the log should hold.
async fn mixed_writes(store: &dyn Store) -> usize {
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
    assert_eq!(
        store
            .next_crl_number("default", audit("crl.issue", "default"))
            .await
            .unwrap(),
        1
    );
    assert!(
        store
            .block_key(
                &"ab".repeat(32),
                "keyCompromise",
                &serial(2),
                NOW,
                audit("key.block", "ab")
            )
            .await
            .unwrap()
    );
    store
        .append_audit(audit("refuse", "dns:evil2.example"))
        .await
        .unwrap();
    1 + 5 + 1 + 1 + 1 + 1 + 1 + 1
}

pub async fn audit_chain_verifies_after_mixed_writes(b: Backend) {
    let store = b.open().await;
    let n = mixed_writes(&*store).await;
    let log = all_audit(&*store).await;
    assert_eq!(log.len(), n);
    assert_eq!(
        log.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=n as i64).collect::<Vec<_>>()
    );
    let actions: Vec<_> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "issuer.create",
            "issue",
            "issue",
            "issue",
            "issue",
            "issue",
            "refuse",
            "revoke",
            "token.create",
            "crl.issue",
            "key.block",
            "refuse"
        ]
    );
    assert_eq!(log[0].prev_hash, GENESIS_HASH);
    for pair in log.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash);
    }
    for e in &log {
        assert_eq!(
            e.hash,
            audit_entry_hash(
                &e.prev_hash,
                e.seq,
                e.ts,
                &e.actor,
                &e.action,
                &e.subject,
                &e.detail
            ),
            "entry {}",
            e.seq
        );
    }
    let v = store.verify_audit().await.unwrap();
    assert!(v.ok(), "{v:?}");
    assert_eq!(v.entries, n as i64);
    assert_eq!(v.head_hash, log[n - 1].hash);
    // Paging.
    assert_eq!(store.audit_entries(3, 2).await.unwrap(), log[3..5].to_vec());
    assert_eq!(
        store.audit_entries(n as i64 - 1, 10).await.unwrap(),
        log[n - 1..].to_vec()
    );
    assert!(store.audit_entries(n as i64, 10).await.unwrap().is_empty());
    assert!(store.audit_entries(0, 0).await.unwrap().is_empty());
    assert!(
        store.audit_entries(0, -1).await.unwrap().is_empty(),
        "a negative page size is an empty page"
    );
    // A store opened later sees and verifies the same chain.
    let again = b.open().await;
    assert_eq!(all_audit(&*again).await, log);
    assert_eq!(again.verify_audit().await.unwrap(), v);
}

pub async fn empty_and_single_entry_logs_verify(b: Backend) {
    let store = b.open().await;
    let v = store.verify_audit().await.unwrap();
    assert!(v.ok(), "{v:?}");
    assert_eq!((v.entries, v.head_hash.as_str()), (0, GENESIS_HASH));

    let mut new = audit("refuse", "x");
    new.detail = r#"{"note":"ünïcode ✓, quotes \" and \\ backslashes"}"#.into();
    let entry = store.append_audit(new.clone()).await.unwrap();
    assert_eq!((entry.seq, entry.prev_hash.as_str()), (1, GENESIS_HASH));
    assert_eq!(
        (
            entry.ts,
            &entry.actor,
            &entry.action,
            &entry.subject,
            &entry.detail
        ),
        (new.ts, &new.actor, &new.action, &new.subject, &new.detail)
    );
    assert_eq!(
        entry.hash,
        audit_entry_hash(
            GENESIS_HASH,
            1,
            entry.ts,
            &entry.actor,
            &entry.action,
            &entry.subject,
            &entry.detail
        )
    );
    assert_eq!(all_audit(&*store).await, vec![entry.clone()]);
    let v = store.verify_audit().await.unwrap();
    assert!(v.ok(), "{v:?}");
    assert_eq!((v.entries, v.head_hash), (1, entry.hash.clone()));

    let second = store.append_audit(audit("refuse", "y")).await.unwrap();
    assert_eq!((second.seq, second.prev_hash), (2, entry.hash));
}

pub async fn edited_audit_entry_is_a_hash_mismatch_at_its_seq(b: Backend) {
    let store = b.open().await;
    let n = mixed_writes(&*store).await;
    assert!(n > 4);
    let log = all_audit(&*store).await;
    b.exec(r#"UPDATE audit_log SET detail = '{"subject":"someone else"}' WHERE seq = 4"#)
        .await;
    let v = store.verify_audit().await.unwrap();
    let failure = v.first_failure.clone().expect("tampering detected");
    assert_eq!(
        (failure.seq, failure.kind.as_str()),
        (4, "hash_mismatch"),
        "{v:?}"
    );
    assert_eq!(v.entries, 3);
    assert_eq!(v.head_hash, log[2].hash);

    // Another field of another entry, with the first edit undone: found there.
    b.exec(&format!(
        "UPDATE audit_log SET detail = '{}' WHERE seq = 4",
        log[3].detail
    ))
    .await;
    assert!(store.verify_audit().await.unwrap().ok());
    b.exec("UPDATE audit_log SET ts = ts + 1 WHERE seq = 9")
        .await;
    let v = store.verify_audit().await.unwrap();
    assert_eq!(
        v.first_failure.map(|f| (f.seq, f.kind)),
        Some((9, "hash_mismatch".to_string()))
    );
    assert_eq!(v.entries, 8);
}

pub async fn deleted_audit_entry_fails(b: Backend) {
    let store = b.open().await;
    mixed_writes(&*store).await;
    b.exec("DELETE FROM audit_log WHERE seq = 5").await;
    let v = store.verify_audit().await.unwrap();
    let failure = v.first_failure.clone().expect("deletion detected");
    assert_eq!(
        (failure.seq, failure.kind.as_str()),
        (6, "seq_gap"),
        "{failure:?}"
    );
    assert_eq!(v.entries, 4);

    // Renumbering the rest to hide the gap breaks the link instead.
    b.exec("UPDATE audit_log SET seq = 1 - seq WHERE seq > 5")
        .await;
    b.exec("UPDATE audit_log SET seq = -seq WHERE seq < 0")
        .await;
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

    // Deleting the newest entry cannot be seen in the chain itself, but the head moves back.
    let b2 = crate::backend::fresh(b.kind()).await;
    let store = b2.open().await;
    let n = mixed_writes(&*store).await as i64;
    let log = all_audit(&*store).await;
    b2.exec(&format!("DELETE FROM audit_log WHERE seq = {n}"))
        .await;
    let v = store.verify_audit().await.unwrap();
    assert!(v.ok(), "{v:?}");
    assert_eq!(
        (v.entries, &v.head_hash),
        (n - 1, &log[n as usize - 2].hash)
    );
}

pub async fn entry_slipped_in_before_the_first_fails(b: Backend) {
    let store = b.open().await;
    mixed_writes(&*store).await;
    b.exec(
        "INSERT INTO audit_log (seq, ts, actor, action, subject, detail, prev_hash, hash) \
         SELECT 0, ts, actor, action, subject, detail, prev_hash, hash FROM audit_log WHERE seq = 1",
    )
    .await;
    let v = store.verify_audit().await.unwrap();
    let failure = v.first_failure.expect("insertion detected");
    assert_eq!((failure.seq, failure.kind.as_str()), (0, "seq_gap"));
    assert_eq!((v.entries, v.head_hash.as_str()), (0, GENESIS_HASH));
}

pub async fn verify_pages_through_a_long_log(b: Backend) {
    let store = b.open().await;
    let mut tasks = Vec::new();
    for t in 0..8 {
        let store = std::sync::Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            for i in 0..1_300 {
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
    assert_eq!(v.entries, 10_400);
    // A break past the first 10,000 entries is found and named.
    b.exec("UPDATE audit_log SET actor = 'root' WHERE seq = 10001")
        .await;
    let v = store.verify_audit().await.unwrap();
    assert_eq!(
        v.first_failure.map(|f| (f.seq, f.kind)),
        Some((10_001, "hash_mismatch".to_string()))
    );
    assert_eq!(v.entries, 10_000);
}
