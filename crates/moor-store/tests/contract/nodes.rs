//! Several stores (nodes, processes) on one database: one audit chain, unique serials,
//! migrations run once, and leases.

use std::collections::BTreeSet;
use std::sync::Arc;

use moor_store::{Store, StoreError};

use crate::backend::Backend;
use crate::fixtures::*;

pub async fn two_stores_open_a_new_database_at_once(b: Backend) {
    let (a, other) = tokio::join!(b.open(), b.open());
    with_issuer(&*a).await;
    issue(&*other, "01").await;
    assert_eq!(
        serials(&all_certificates(&*a).await),
        ["01"],
        "one schema, shared"
    );
    // Opening again (migrations already applied) changes nothing.
    let third = b.open().await;
    assert_eq!(third.list_issuers().await.unwrap().len(), 1);
    let v = third.verify_audit().await.unwrap();
    assert!(v.ok(), "{v:?}");
    assert_eq!(v.entries, 2);
}

pub async fn two_stores_keep_one_chain_and_never_a_duplicate_serial(b: Backend) {
    let a = b.open().await;
    with_issuer(&*a).await;
    let other = b.open().await;
    const TASKS: usize = 4;
    const EACH: usize = 60;
    let mut tasks = Vec::new();
    for (name, store) in [("a", &a), ("b", &other)] {
        for t in 0..TASKS {
            let store = Arc::clone(store);
            tasks.push(tokio::spawn(async move {
                let mut won = Vec::new();
                let mut appended = Vec::new();
                for i in 0..EACH {
                    // Distinct serials per node, plus serials both nodes race for.
                    let own = format!("{name}{t:02}{i:04}");
                    match i % 4 {
                        0 => {
                            appended.push(store.append_audit(audit("refuse", &own)).await.unwrap());
                        }
                        1 | 2 => {
                            store
                                .record_issuance(
                                    cert(&own, "default", "tls-server", &[], NOW + DAY),
                                    audit("issue", &own),
                                )
                                .await
                                .unwrap_or_else(|e| panic!("issue {own}: {e}"));
                        }
                        _ => {
                            let shared = format!("5{t:02}{i:04}");
                            match store
                                .record_issuance(
                                    cert(&shared, "default", name, &[], NOW + DAY),
                                    audit("issue", &shared),
                                )
                                .await
                            {
                                Ok(()) => won.push(shared),
                                Err(StoreError::DuplicateSerial { .. }) => {}
                                Err(e) => panic!("issue {shared}: {e}"),
                            }
                        }
                    }
                }
                (name, won, appended)
            }));
        }
    }
    let mut won_by = std::collections::BTreeMap::new();
    let mut appended = Vec::new();
    for t in tasks {
        let (name, won, entries) = t.await.unwrap();
        appended.extend(entries);
        for s in won {
            assert!(
                won_by.insert(s.clone(), name).is_none(),
                "{s} recorded by both nodes"
            );
        }
    }
    let shared_serials = TASKS * EACH / 4;
    assert_eq!(won_by.len(), shared_serials, "every raced serial won once");

    let own_issued = 2 * TASKS * EACH / 2;
    let refusals = 2 * TASKS * EACH / 4;
    let certs = all_certificates(&*a).await;
    assert_eq!(certs.len(), own_issued + shared_serials);
    let unique: BTreeSet<_> = certs.iter().map(|c| c.serial_hex.clone()).collect();
    assert_eq!(unique.len(), certs.len(), "no serial twice");
    for c in &certs {
        if let Some(winner) = won_by.get(&c.serial_hex) {
            assert_eq!(&c.profile, winner, "{}: the winner's record", c.serial_hex);
        }
    }
    let ids: BTreeSet<_> = certs.iter().map(|c| c.id).collect();
    assert_eq!(ids.len(), certs.len(), "no id twice");

    let expected = 1 + own_issued + shared_serials + refusals;
    for (name, store) in [("first", &a), ("second", &other)] {
        let v = store.verify_audit().await.unwrap();
        assert!(v.ok(), "{name} store: {v:?}");
        assert_eq!(v.entries, expected as i64, "{name} store");
    }
    let log = all_audit(&*a).await;
    assert_eq!(log.len(), expected);
    // append_audit answered with the entries as stored, whichever node wrote them.
    assert_eq!(appended.len(), refusals);
    for e in &appended {
        assert_eq!(Some(e), log.get(e.seq as usize - 1), "entry {}", e.seq);
    }
    let issued: Vec<_> = log.iter().filter(|e| e.action == "issue").collect();
    assert_eq!(
        issued.len(),
        own_issued + shared_serials,
        "one audit entry per recorded certificate, none for a lost race"
    );

    // A third store, opened afterwards, continues the same chain.
    let third = b.open().await;
    let next = third.append_audit(audit("refuse", "late")).await.unwrap();
    assert_eq!(next.seq, expected as i64 + 1);
    assert_eq!(next.prev_hash, log[expected - 1].hash);
    assert!(a.verify_audit().await.unwrap().ok());
}

pub async fn leases_are_taken_renewed_expire_and_are_released(b: Backend) {
    let a = b.open().await;
    let other = b.open().await;
    const TTL: i64 = 60;
    // A takes it.
    assert!(a.try_lease("crl", "A", NOW, TTL).await.unwrap());
    // B is refused while it runs, on either store.
    assert!(!other.try_lease("crl", "B", NOW + 10, TTL).await.unwrap());
    assert!(!a.try_lease("crl", "B", NOW + 10, TTL).await.unwrap());
    // Another lease name is independent.
    assert!(other.try_lease("scan", "B", NOW + 10, TTL).await.unwrap());
    // A renews (until NOW + 30 + TTL).
    assert!(a.try_lease("crl", "A", NOW + 30, TTL).await.unwrap());
    // Past the first term, before the renewed one: still A's.
    assert!(
        !other
            .try_lease("crl", "B", NOW + TTL + 10, TTL)
            .await
            .unwrap()
    );
    // Expired: B gets it, and A is now refused.
    assert!(
        other
            .try_lease("crl", "B", NOW + 30 + TTL, TTL)
            .await
            .unwrap()
    );
    assert!(
        !a.try_lease("crl", "A", NOW + 30 + TTL + 1, TTL)
            .await
            .unwrap()
    );
    // Releasing a lease one does not hold does nothing.
    a.release_lease("crl", "A").await.unwrap();
    assert!(
        !a.try_lease("crl", "A", NOW + 30 + TTL + 2, TTL)
            .await
            .unwrap()
    );
    // The holder releases it: free at once for anyone.
    other.release_lease("crl", "B").await.unwrap();
    assert!(
        a.try_lease("crl", "A", NOW + 30 + TTL + 3, TTL)
            .await
            .unwrap()
    );
    // Releasing an unknown lease is fine.
    other.release_lease("nothing", "B").await.unwrap();
    // The other lease was untouched by all this.
    assert!(!a.try_lease("scan", "A", NOW + 20, TTL).await.unwrap());
    assert!(other.try_lease("scan", "B", NOW + 20, TTL).await.unwrap());
}

pub async fn concurrent_try_lease_has_exactly_one_winner(b: Backend) {
    let a = b.open().await;
    let other = b.open().await;
    const ROUNDS: i64 = 10;
    const HOLDERS: usize = 8;
    for round in 0..ROUNDS {
        // A new lease, then the same lease once the previous winner's term ran out.
        for (name, now) in [
            (format!("job-{round}"), NOW),
            (format!("job-{round}"), NOW + 1000),
        ] {
            let barrier = Arc::new(tokio::sync::Barrier::new(HOLDERS));
            let mut tasks = Vec::new();
            for h in 0..HOLDERS {
                let store: Arc<dyn Store> = Arc::clone(if h % 2 == 0 { &a } else { &other });
                let barrier = Arc::clone(&barrier);
                let name = name.clone();
                tasks.push(tokio::spawn(async move {
                    let holder = format!("node-{h}");
                    barrier.wait().await;
                    let got = store.try_lease(&name, &holder, now, 100).await.unwrap();
                    (holder, got)
                }));
            }
            let mut winners = Vec::new();
            for t in tasks {
                let (holder, got) = t.await.unwrap();
                if got {
                    winners.push(holder);
                }
            }
            assert_eq!(winners.len(), 1, "{name} at {now}: winners {winners:?}");
            // The winner holds it; everyone else is still refused.
            let winner = &winners[0];
            assert!(a.try_lease(&name, winner, now + 1, 100).await.unwrap());
            assert!(
                !other
                    .try_lease(&name, "latecomer", now + 2, 100)
                    .await
                    .unwrap()
            );
        }
    }
}
