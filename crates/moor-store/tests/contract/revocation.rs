//! Revocation: revoking, what a CRL lists, CRL numbers, the revocation feed and its
//! signal, and stored CRLs.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use moor_store::{RevocationEvent, StoreError};

use crate::backend::{Backend, Kind};
use crate::fixtures::*;

pub async fn revoke_then_already_revoked_and_not_found(b: Backend) {
    let store = b.open().await;
    with_issuer(&*store).await;
    issue(&*store, "aa").await;
    issue(&*store, "bb").await;
    let before = store.get_certificate("aa").await.unwrap().unwrap();
    let revoked = store
        .revoke_certificate("aa", NOW + 5, 1, audit("revoke", "aa"))
        .await
        .unwrap();
    assert_eq!(
        revoked,
        moor_store::CertificateRecord {
            status: "revoked".into(),
            revoked_at: Some(NOW + 5),
            revocation_reason: Some(1),
            ..before
        },
        "the revoked record is returned, every other field unchanged"
    );
    assert_eq!(
        store.get_certificate("aa").await.unwrap(),
        Some(revoked.clone())
    );
    let entries = all_audit(&*store).await;
    assert_eq!(
        entries
            .last()
            .map(|e| (e.action.as_str(), e.subject.as_str())),
        Some(("revoke", "aa"))
    );

    match store
        .revoke_certificate("aa", NOW + 9, 4, audit("revoke", "aa"))
        .await
    {
        Err(StoreError::AlreadyRevoked { serial }) => assert_eq!(serial, "aa"),
        other => panic!("expected AlreadyRevoked, got {other:?}"),
    }
    // From another store too.
    let other = b.open().await;
    assert!(matches!(
        other
            .revoke_certificate("aa", NOW + 9, 4, audit("revoke", "aa"))
            .await,
        Err(StoreError::AlreadyRevoked { .. })
    ));
    match store
        .revoke_certificate("cc", NOW, 1, audit("revoke", "cc"))
        .await
    {
        Err(StoreError::NotFound { .. }) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert_eq!(
        all_audit(&*store).await,
        entries,
        "refused revocations leave no audit entry"
    );
    assert_eq!(
        store.get_certificate("aa").await.unwrap(),
        Some(revoked),
        "first revocation kept"
    );
    assert_eq!(
        store.get_certificate("bb").await.unwrap().unwrap().status,
        "valid"
    );
    assert_eq!(
        store.revocations_since(0, 100).await.unwrap().len(),
        1,
        "refused revocations are not in the feed"
    );
}

pub async fn revoked_certificates_list_unexpired_with_revocation_seq(b: Backend) {
    let store = b.open().await;
    with_issuer(&*store).await;
    store
        .insert_issuer(&issuer("pq", None), audit("issuer.create", "pq"))
        .await
        .unwrap();
    for (s, issuer, not_after) in [
        ("aa", "default", NOW + DAY),
        ("bb", "default", NOW + DAY),
        ("cc", "default", NOW - 10),
        ("dd", "default", NOW + DAY),
        ("ee", "pq", NOW + DAY),
        ("ff", "default", NOW), // expires exactly now: still listed
    ] {
        store
            .record_issuance(
                cert(s, issuer, "tls-server", &[], not_after),
                audit("issue", s),
            )
            .await
            .unwrap();
    }
    assert!(
        store
            .revoked_certificates("default", NOW)
            .await
            .unwrap()
            .is_empty()
    );
    for (s, at, reason) in [
        ("bb", NOW + 1, 0),
        ("ee", NOW + 2, 5),
        ("aa", NOW + 3, 1),
        ("cc", NOW + 4, 4),
        ("ff", NOW + 5, 9),
    ] {
        store
            .revoke_certificate(s, at, reason, audit("revoke", s))
            .await
            .unwrap();
    }
    // Expired (cc) drops off, unrevoked (dd) and the other issuer's (ee) are not listed;
    // ordered by serial; each with its place in the order of revocations.
    let list = store.revoked_certificates("default", NOW).await.unwrap();
    let got: Vec<(&str, i64, i32, i64)> = list
        .iter()
        .map(|e| {
            (
                e.serial_hex.as_str(),
                e.revoked_at,
                e.reason,
                e.revocation_seq,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("aa", NOW + 3, 1, 3),
            ("bb", NOW + 1, 0, 1),
            ("ff", NOW + 5, 9, 5)
        ]
    );
    let pq = store.revoked_certificates("pq", NOW).await.unwrap();
    assert_eq!(
        pq.iter()
            .map(|e| (e.serial_hex.as_str(), e.revocation_seq))
            .collect::<Vec<_>>(),
        [("ee", 2)]
    );
    // Later, ff has expired too; earlier, cc had not.
    assert_eq!(
        serials_of(
            &store
                .revoked_certificates("default", NOW + 1)
                .await
                .unwrap()
        ),
        ["aa", "bb"]
    );
    assert_eq!(
        serials_of(
            &store
                .revoked_certificates("default", NOW - 10)
                .await
                .unwrap()
        ),
        ["aa", "bb", "cc", "ff"]
    );
    assert!(
        store
            .revoked_certificates("other", NOW)
            .await
            .unwrap()
            .is_empty()
    );
    // The same seqs as the revocation feed.
    let feed = store.revocations_since(0, 100).await.unwrap();
    for e in list.iter().chain(&pq) {
        let f = feed
            .iter()
            .find(|f| f.serial_hex == e.serial_hex)
            .expect("in the feed");
        assert_eq!(f.seq, e.revocation_seq);
    }
}

fn serials_of(entries: &[moor_store::RevokedEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.serial_hex.as_str()).collect()
}

pub async fn crl_numbers_count_per_issuer(b: Backend) {
    let store = b.open().await;
    with_issuer(&*store).await;
    store
        .insert_issuer(&issuer("pq", None), audit("issuer.create", "pq"))
        .await
        .unwrap();
    let next = |store: &Arc<dyn moor_store::Store>, id: &'static str| {
        let store = Arc::clone(store);
        async move {
            store
                .next_crl_number(id, audit("crl.issue", id))
                .await
                .unwrap()
        }
    };
    assert_eq!(next(&store, "default").await, 1);
    assert_eq!(next(&store, "default").await, 2);
    assert_eq!(next(&store, "pq").await, 1);
    assert_eq!(next(&store, "default").await, 3);
    assert_eq!(next(&store, "pq").await, 2);
    match store
        .next_crl_number("nope", audit("crl.issue", "nope"))
        .await
    {
        Err(StoreError::NotFound { .. }) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
    // Another store (node) continues the same sequence.
    let other = b.open().await;
    assert_eq!(next(&other, "default").await, 4);
    assert_eq!(next(&store, "default").await, 5);

    // Concurrent allocations from both stores: never a number twice, no gaps.
    let mut tasks = Vec::new();
    for i in 0..40 {
        let s = if i % 2 == 0 { &store } else { &other };
        tasks.push(tokio::spawn(next(s, "pq")));
    }
    let mut got = Vec::new();
    for t in tasks {
        got.push(t.await.unwrap());
    }
    got.sort();
    assert_eq!(got, (3..43).collect::<Vec<i64>>());

    let log = all_audit(&*store).await;
    assert_eq!(log.iter().filter(|e| e.action == "crl.issue").count(), 47);
    let v = store.verify_audit().await.unwrap();
    assert!(v.ok(), "{v:?}");
}

pub async fn revocations_since_in_seq_order_across_two_stores(b: Backend) {
    let a = b.open().await;
    with_issuer(&*a).await;
    let other = b.open().await;
    assert!(a.revocations_since(0, 100).await.unwrap().is_empty());
    const N: usize = 60;
    for i in 0..N {
        issue(&*a, &serial(i)).await;
    }
    // Both stores revoke at once, several tasks each.
    let mut tasks = Vec::new();
    for t in 0..6 {
        let store = Arc::clone(if t % 2 == 0 { &a } else { &other });
        tasks.push(tokio::spawn(async move {
            for i in (t..N).step_by(6) {
                let s = serial(i);
                store
                    .revoke_certificate(&s, NOW + i as i64, (i % 10) as i32, audit("revoke", &s))
                    .await
                    .unwrap_or_else(|e| panic!("revoke {s}: {e}"));
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    for (name, store) in [("first", &a), ("second", &other)] {
        let feed = store.revocations_since(0, 1000).await.unwrap();
        assert_eq!(
            feed.iter().map(|e| e.seq).collect::<Vec<_>>(),
            (1..=N as i64).collect::<Vec<_>>(),
            "{name} store: seqs 1..n in order"
        );
        let serials: BTreeSet<_> = feed.iter().map(|e| e.serial_hex.clone()).collect();
        assert_eq!(serials.len(), N, "{name} store: every revocation once");
        for e in &feed {
            let i = (0..N).find(|i| serial(*i) == e.serial_hex).unwrap();
            assert_eq!(
                e,
                &RevocationEvent {
                    seq: e.seq,
                    serial_hex: serial(i),
                    issuer_id: "default".into(),
                    revoked_at: NOW + i as i64,
                    reason: (i % 10) as i32,
                    not_after: e.not_after,
                }
            );
        }
        // Paged by seq, the same events.
        let mut paged = Vec::new();
        let mut after = 0;
        loop {
            let page = store.revocations_since(after, 7).await.unwrap();
            assert!(page.len() <= 7);
            let Some(last) = page.last() else { break };
            after = last.seq;
            paged.extend(page);
        }
        assert_eq!(paged, feed, "{name} store: paging");
        assert_eq!(
            store.revocations_since(N as i64 - 2, 100).await.unwrap(),
            feed[N - 2..].to_vec()
        );
        assert!(store.revocations_since(0, 0).await.unwrap().is_empty());
        assert!(
            store.revocations_since(0, -1).await.unwrap().is_empty(),
            "a negative page size is an empty page"
        );
    }
    // The feed's seq is the one CRL entries carry.
    let entries = a.revoked_certificates("default", NOW).await.unwrap();
    assert_eq!(entries.len(), N);
    let feed = a.revocations_since(0, 1000).await.unwrap();
    for e in entries {
        assert!(
            feed.iter()
                .any(|f| f.serial_hex == e.serial_hex && f.seq == e.revocation_seq)
        );
    }
    let v = a.verify_audit().await.unwrap();
    assert!(v.ok(), "{v:?}");
}

pub async fn revocation_signal_moves(b: Backend) {
    let a = b.open().await;
    with_issuer(&*a).await;
    let other = b.open().await;
    for s in ["01", "02", "03"] {
        issue(&*a, s).await;
    }
    let mut on_a = a.revocation_signal();
    let mut on_other = other.revocation_signal();
    on_a.borrow_and_update();
    on_other.borrow_and_update();
    assert!(!on_a.has_changed().unwrap(), "no revocation yet");

    // A revocation by this store moves its signal by the time revoke returns.
    let start = *on_a.borrow();
    a.revoke_certificate("01", NOW, 1, audit("revoke", "01"))
        .await
        .unwrap();
    assert!(
        on_a.has_changed().unwrap(),
        "the signal moved when revoke_certificate returned"
    );
    let after_one = *on_a.borrow_and_update();
    assert_ne!(after_one, start);
    // Subscribing later sees the current value, and the next revocation moves it again.
    let mut late = a.revocation_signal();
    late.borrow_and_update();
    a.revoke_certificate("02", NOW, 1, audit("revoke", "02"))
        .await
        .unwrap();
    assert!(on_a.has_changed().unwrap());
    assert!(late.has_changed().unwrap());

    // postgres only: a revocation by another node moves this node's signal (NOTIFY).
    if b.kind() == Kind::Postgres {
        on_other.borrow_and_update();
        a.revoke_certificate("03", NOW, 1, audit("revoke", "03"))
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(2), on_other.changed())
            .await
            .expect("postgres only: another node's revocation moved the signal within 2 s")
            .expect("signal sender alive");
        // And the other way round.
        issue(&*a, "04").await;
        on_a.borrow_and_update();
        other
            .revoke_certificate("04", NOW, 1, audit("revoke", "04"))
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(2), on_a.changed())
            .await
            .expect("postgres only: another node's revocation moved the signal within 2 s")
            .expect("signal sender alive");
    }
}

pub async fn save_crl_and_latest_crl(b: Backend) {
    let store = b.open().await;
    with_issuer(&*store).await;
    store
        .insert_issuer(&issuer("pq", None), audit("issuer.create", "pq"))
        .await
        .unwrap();
    let audit_before = all_audit(&*store).await;
    assert_eq!(store.latest_crl("default", false).await.unwrap(), None);
    assert_eq!(store.latest_crl("default", true).await.unwrap(), None);

    // Full and delta kept apart; the newest of each wins.
    store.save_crl(&crl("default", 1, None)).await.unwrap();
    assert_eq!(
        store.latest_crl("default", false).await.unwrap(),
        Some(crl("default", 1, None))
    );
    assert_eq!(store.latest_crl("default", true).await.unwrap(), None);
    store.save_crl(&crl("default", 2, Some(1))).await.unwrap();
    store.save_crl(&crl("default", 3, None)).await.unwrap();
    store.save_crl(&crl("default", 4, Some(3))).await.unwrap();
    store.save_crl(&crl("pq", 1, None)).await.unwrap();
    assert_eq!(
        store.latest_crl("default", false).await.unwrap(),
        Some(crl("default", 3, None))
    );
    assert_eq!(
        store.latest_crl("default", true).await.unwrap(),
        Some(crl("default", 4, Some(3)))
    );
    assert_eq!(
        store.latest_crl("pq", false).await.unwrap(),
        Some(crl("pq", 1, None))
    );
    assert_eq!(store.latest_crl("pq", true).await.unwrap(), None);
    assert_eq!(store.latest_crl("nope", false).await.unwrap(), None);

    // A number is stored once, whatever its kind.
    for again in [
        crl("default", 3, None),
        crl("default", 4, Some(3)),
        crl("default", 3, Some(1)),
        crl("default", 2, None),
    ] {
        match store.save_crl(&again).await {
            Err(StoreError::Conflict { .. }) => {}
            other => panic!("saving {again:?} again: expected Conflict, got {other:?}"),
        }
    }
    assert_eq!(
        store.latest_crl("default", false).await.unwrap(),
        Some(crl("default", 3, None)),
        "a refused save changes nothing"
    );
    // Unknown issuer.
    match store.save_crl(&crl("nope", 1, None)).await {
        Err(StoreError::NotFound { .. }) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }

    // Another node sees them, and its newer one wins everywhere.
    let other = b.open().await;
    assert_eq!(
        other.latest_crl("default", true).await.unwrap(),
        Some(crl("default", 4, Some(3)))
    );
    other.save_crl(&crl("default", 5, None)).await.unwrap();
    assert_eq!(
        store.latest_crl("default", false).await.unwrap(),
        Some(crl("default", 5, None))
    );

    // Only the last few of an issuer and kind are kept; the other kind is untouched.
    for n in 6..=20 {
        store.save_crl(&crl("default", n, None)).await.unwrap();
    }
    let fulls = b
        .count("SELECT COUNT(*) FROM crls WHERE issuer_id = 'default' AND delta_base IS NULL")
        .await;
    assert!(
        (1..=5).contains(&fulls),
        "{fulls} full CRLs kept of 17 saved"
    );
    assert_eq!(
        store.latest_crl("default", false).await.unwrap(),
        Some(crl("default", 20, None))
    );
    assert_eq!(
        store.latest_crl("default", true).await.unwrap(),
        Some(crl("default", 4, Some(3))),
        "saving full CRLs keeps the latest delta"
    );
    assert_eq!(
        store.latest_crl("pq", false).await.unwrap(),
        Some(crl("pq", 1, None)),
        "another issuer's CRLs are kept"
    );
    for n in 21..=30 {
        store.save_crl(&crl("default", n, Some(20))).await.unwrap();
    }
    let deltas = b
        .count("SELECT COUNT(*) FROM crls WHERE issuer_id = 'default' AND delta_base IS NOT NULL")
        .await;
    assert!(
        (1..=5).contains(&deltas),
        "{deltas} delta CRLs kept of 12 saved"
    );
    assert_eq!(
        store.latest_crl("default", true).await.unwrap(),
        Some(crl("default", 30, Some(20)))
    );
    assert_eq!(
        store.latest_crl("default", false).await.unwrap(),
        Some(crl("default", 20, None)),
        "saving deltas keeps the latest full CRL"
    );
    assert_eq!(
        all_audit(&*store).await,
        audit_before,
        "stored CRLs are not audit events (their numbers are)"
    );
}

pub async fn one_certificate_revoked_by_two_stores_at_once_is_revoked_once(b: Backend) {
    let a = b.open().await;
    with_issuer(&*a).await;
    let other = b.open().await;
    const CERTS: usize = 10;
    const RACERS: usize = 6;
    for i in 0..CERTS {
        issue(&*a, &serial(i)).await;
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(CERTS * RACERS));
    let mut tasks = Vec::new();
    for i in 0..CERTS {
        for r in 0..RACERS {
            let store = Arc::clone(if r % 2 == 0 { &a } else { &other });
            let barrier = Arc::clone(&barrier);
            tasks.push(tokio::spawn(async move {
                let s = serial(i);
                barrier.wait().await;
                let result = store
                    .revoke_certificate(&s, NOW + r as i64, r as i32, audit("revoke", &s))
                    .await;
                (i, r, result)
            }));
        }
    }
    let mut winners = vec![Vec::new(); CERTS];
    for t in tasks {
        match t.await.unwrap() {
            (i, r, Ok(record)) => {
                assert_eq!(
                    (record.revoked_at, record.revocation_reason),
                    (Some(NOW + r as i64), Some(r as i32))
                );
                winners[i].push(r);
            }
            (_, _, Err(StoreError::AlreadyRevoked { .. })) => {}
            (i, r, Err(e)) => panic!("{i}/{r}: expected Ok or AlreadyRevoked, got {e}"),
        }
    }
    for (i, w) in winners.iter().enumerate() {
        assert_eq!(w.len(), 1, "certificate {i} revoked by {w:?}");
        let stored = a.get_certificate(&serial(i)).await.unwrap().unwrap();
        assert_eq!(
            stored.revocation_reason,
            Some(w[0] as i32),
            "the winner's revocation is kept"
        );
    }
    let feed = other.revocations_since(0, 1000).await.unwrap();
    assert_eq!(
        feed.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=CERTS as i64).collect::<Vec<_>>()
    );
    let log = all_audit(&*a).await;
    assert_eq!(
        log.iter().filter(|e| e.action == "revoke").count(),
        CERTS,
        "one audit entry per revocation, none for the refused ones"
    );
    let v = other.verify_audit().await.unwrap();
    assert!(v.ok(), "{v:?}");
}
