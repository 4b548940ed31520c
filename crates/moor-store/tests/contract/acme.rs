//! ACME state (issue 4 item 11): nonces used once across nodes, accounts and EAB
//! binding, orders with authorizations and challenges, and the compare-and-set steps
//! that several nodes race on. Every audited change leaves exactly one audit entry; a
//! refused or lost one leaves none.

use std::collections::BTreeMap;
use std::sync::Arc;

use moor_store::{
    AcmeAccount, AcmeAuthorization, AcmeChallenge, AcmeEab, AcmeIdentifier, AcmeOrder,
    PROCESSING_TAKEOVER_SECS, Store, StoreError,
};

use crate::backend::Backend;
use crate::fixtures::*;

fn account(id: &str, thumbprint: &str, eab_kid: Option<&str>) -> AcmeAccount {
    AcmeAccount {
        id: id.into(),
        key_thumbprint: thumbprint.into(),
        jwk: format!(r#"{{"crv":"P-256","kty":"EC","x":"{thumbprint}","y":"y"}}"#),
        status: "valid".into(),
        contacts: vec![format!("mailto:{id}@example.com")],
        directory: "tls".into(),
        eab_kid: eab_kid.map(Into::into),
        created_at: NOW,
        updated_at: NOW,
    }
}

fn eab(kid: &str, directory: Option<&str>) -> AcmeEab {
    AcmeEab {
        kid: kid.into(),
        // Bytes a text column would mangle.
        mac_key: vec![0x00, 0xff, 0x80, kid.len() as u8],
        directory: directory.map(Into::into),
        created_at: NOW - DAY,
        bound_account: None,
        bound_at: None,
    }
}

fn dns(name: &str) -> AcmeIdentifier {
    AcmeIdentifier {
        kind: "dns".into(),
        value: name.into(),
    }
}

/// A pending authorization `id` for `name` with http-01, dns-01 and tls-alpn-01
/// challenges `{id}-http`, `{id}-dns`, `{id}-alpn`.
fn authz(id: &str, account_id: &str, name: &str) -> AcmeAuthorization {
    let challenge = |kind: &str, suffix: &str| AcmeChallenge {
        id: format!("{id}-{suffix}"),
        authz_id: id.into(),
        kind: kind.into(),
        token: format!("token-{id}-{suffix}"),
        status: "pending".into(),
        validated_at: None,
        error: None,
        records: None,
        processing_since: None,
    };
    AcmeAuthorization {
        id: id.into(),
        account_id: account_id.into(),
        identifier: dns(name),
        wildcard: false,
        status: "pending".into(),
        expires_at: NOW + 7 * DAY,
        created_at: NOW,
        updated_at: NOW,
        challenges: vec![
            challenge("dns-01", "dns"),
            challenge("http-01", "http"),
            challenge("tls-alpn-01", "alpn"),
        ],
    }
}

fn order(id: &str, account_id: &str, authzs: &[&AcmeAuthorization]) -> AcmeOrder {
    AcmeOrder {
        id: id.into(),
        account_id: account_id.into(),
        directory: "tls".into(),
        status: "pending".into(),
        identifiers: authzs.iter().map(|a| a.identifier.clone()).collect(),
        not_before: None,
        not_after: Some(NOW + 90 * DAY),
        expires_at: NOW + 7 * DAY,
        error: None,
        certificate_serial: None,
        replaces: Some(format!("aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE-{id}")),
        profile: Some("shortlived".into()),
        csr: None,
        processing_since: None,
        authorizations: authzs.iter().map(|a| a.id.clone()).collect(),
        created_at: NOW,
        updated_at: NOW,
    }
}

/// An account `acct` and an order `o1` with authorizations `a1` (a.example) and `a2`
/// (b.example), three challenges each: two audit entries (account, order).
async fn with_order(store: &dyn Store) -> (AcmeOrder, AcmeAuthorization, AcmeAuthorization) {
    let acme = store.acme();
    acme.create_account(
        &account("acct", "tp-acct", None),
        audit("acme.account.create", "acct"),
    )
    .await
    .expect("create account");
    let (a1, a2) = (
        authz("a1", "acct", "a.example"),
        authz("a2", "acct", "b.example"),
    );
    let o1 = order("o1", "acct", &[&a1, &a2]);
    acme.create_order(
        &o1,
        &[a1.clone(), a2.clone()],
        audit("acme.order.create", "o1"),
    )
    .await
    .expect("create order");
    (o1, a1, a2)
}

async fn audit_count(store: &dyn Store) -> usize {
    all_audit(store).await.len()
}

async fn assert_chain_ok(store: &dyn Store, entries: i64) {
    let v = store.verify_audit().await.expect("verify audit");
    assert!(v.ok(), "{v:?}");
    assert_eq!(v.entries, entries, "audit entries");
}

fn is_conflict<T: std::fmt::Debug>(r: Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::Conflict { .. }))
}

fn is_not_found<T: std::fmt::Debug>(r: Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::NotFound { .. }))
}

pub async fn nonces_are_used_once_across_two_stores(b: Backend) {
    let (a, other) = (b.open().await, b.open().await);
    // One key for the deployment, whichever store asks first.
    let (ka, kb) = tokio::join!(a.acme().nonce_key(), other.acme().nonce_key());
    let (ka, kb) = (ka.unwrap(), kb.unwrap());
    assert_eq!(ka.len(), 32);
    assert_eq!(ka, kb);
    assert_eq!(a.acme().nonce_key().await.unwrap(), ka, "stable");

    // Both stores redeem every nonce at once: each is accepted exactly once.
    const N: usize = 100;
    let mut tasks = Vec::new();
    for store in [&a, &other] {
        for i in 0..N {
            let store = Arc::clone(store);
            tasks.push(tokio::spawn(async move {
                let value = format!("nonce-{i:03}");
                let ok = store.acme().redeem_nonce(&value, NOW + 60).await.unwrap();
                (value, ok)
            }));
        }
    }
    let mut accepted: BTreeMap<String, usize> = BTreeMap::new();
    for t in tasks {
        let (value, ok) = t.await.unwrap();
        *accepted.entry(value).or_default() += usize::from(ok);
    }
    assert_eq!(accepted.len(), N);
    assert!(accepted.values().all(|&n| n == 1), "{accepted:?}");
    // A replay is refused, whichever store sees it.
    assert!(!a.acme().redeem_nonce("nonce-000", NOW + 60).await.unwrap());
    assert!(
        !other
            .acme()
            .redeem_nonce("nonce-001", NOW + 60)
            .await
            .unwrap()
    );

    // Purging forgets expired ones only.
    assert!(a.acme().redeem_nonce("short", NOW + 10).await.unwrap());
    assert!(a.acme().redeem_nonce("long", NOW + 1000).await.unwrap());
    assert_eq!(a.acme().purge_nonces(NOW + 60).await.unwrap(), N as u64 + 1);
    assert_eq!(b.count("SELECT COUNT(*) FROM acme_used_nonces").await, 1);
    assert!(!other.acme().redeem_nonce("long", NOW + 1000).await.unwrap());
    // Nonces are not audited.
    assert_chain_ok(&*a, 0).await;
}

pub async fn accounts_create_find_update_deactivate(b: Backend) {
    let store = b.open().await;
    let acme = store.acme();
    let acct = account("acct1", "tp1", None);
    acme.create_account(&acct, audit("acme.account.create", "acct1"))
        .await
        .unwrap();
    assert_eq!(acme.account("acct1").await.unwrap(), Some(acct.clone()));
    assert_eq!(
        acme.account_by_thumbprint("tp1").await.unwrap(),
        Some(acct.clone())
    );
    assert_eq!(acme.account("nope").await.unwrap(), None);
    assert_eq!(acme.account_by_thumbprint("nope").await.unwrap(), None);

    // The same key, or the same id, again: Conflict, nothing written.
    assert!(is_conflict(
        acme.create_account(
            &account("acct2", "tp1", None),
            audit("acme.account.create", "acct2")
        )
        .await
    ));
    assert!(is_conflict(
        acme.create_account(
            &account("acct1", "tp2", None),
            audit("acme.account.create", "acct1")
        )
        .await
    ));
    assert_eq!(acme.account("acct2").await.unwrap(), None);
    assert_eq!(acme.account_by_thumbprint("tp2").await.unwrap(), None);
    assert_eq!(audit_count(&*store).await, 1);

    let contacts = vec![
        "mailto:ops@example.com".to_owned(),
        "mailto:x@example.com".into(),
    ];
    acme.update_account_contacts(
        "acct1",
        &contacts,
        NOW + 5,
        audit("acme.account.update", "acct1"),
    )
    .await
    .unwrap();
    let updated = acme.account("acct1").await.unwrap().unwrap();
    assert_eq!(updated.contacts, contacts);
    assert_eq!(updated.updated_at, NOW + 5);
    assert!(is_not_found(
        acme.update_account_contacts("nope", &contacts, NOW, audit("acme.account.update", "nope"))
            .await
    ));

    acme.deactivate_account("acct1", NOW + 6, audit("acme.account.deactivate", "acct1"))
        .await
        .unwrap();
    assert_eq!(
        acme.account("acct1").await.unwrap().unwrap().status,
        "deactivated"
    );
    // A deactivated account stays so.
    assert!(is_conflict(
        acme.deactivate_account("acct1", NOW + 7, audit("acme.account.deactivate", "acct1"))
            .await
    ));
    assert!(is_conflict(
        acme.update_account_contacts("acct1", &[], NOW + 7, audit("acme.account.update", "acct1"))
            .await
    ));
    assert!(is_not_found(
        acme.deactivate_account("nope", NOW, audit("acme.account.deactivate", "nope"))
            .await
    ));
    assert_chain_ok(&*store, 3).await;
}

pub async fn eab_binds_one_account_once(b: Backend) {
    let (store, other) = (b.open().await, b.open().await);
    let acme = store.acme();
    acme.create_eab(&eab("kid-1", None), audit("acme.eab.create", "kid-1"))
        .await
        .unwrap();
    acme.create_eab(
        &eab("kid-tls", Some("tls")),
        audit("acme.eab.create", "kid-tls"),
    )
    .await
    .unwrap();
    acme.create_eab(&eab("kid-race", None), audit("acme.eab.create", "kid-race"))
        .await
        .unwrap();
    assert!(is_conflict(
        acme.create_eab(&eab("kid-1", None), audit("acme.eab.create", "kid-1"))
            .await
    ));
    assert_eq!(acme.eab("kid-1").await.unwrap(), Some(eab("kid-1", None)));
    assert_eq!(
        acme.eab("kid-1").await.unwrap().unwrap().mac_key,
        eab("kid-1", None).mac_key
    );
    assert_eq!(acme.eab("nope").await.unwrap(), None);

    // An unknown kid, or one for another directory: NotFound, nothing written.
    assert!(is_not_found(
        acme.create_account(
            &account("x", "tp-x", Some("nope")),
            audit("acme.account.create", "x")
        )
        .await
    ));
    let mut elsewhere = account("y", "tp-y", Some("kid-tls"));
    elsewhere.directory = "internal".into();
    assert!(is_not_found(
        acme.create_account(&elsewhere, audit("acme.account.create", "y"))
            .await
    ));
    assert_eq!(acme.account("x").await.unwrap(), None);
    assert_eq!(acme.account("y").await.unwrap(), None);

    acme.create_account(
        &account("acct1", "tp1", Some("kid-1")),
        audit("acme.account.create", "acct1"),
    )
    .await
    .unwrap();
    let bound = acme.eab("kid-1").await.unwrap().unwrap();
    assert_eq!(bound.bound_account.as_deref(), Some("acct1"));
    assert_eq!(bound.bound_at, Some(NOW));
    assert_eq!(
        acme.account("acct1")
            .await
            .unwrap()
            .unwrap()
            .eab_kid
            .as_deref(),
        Some("kid-1")
    );
    // The same credential again, from either store: Conflict, no account, no entry.
    let before = audit_count(&*store).await;
    for s in [&store, &other] {
        assert!(is_conflict(
            s.acme()
                .create_account(
                    &account("acct2", "tp2", Some("kid-1")),
                    audit("acme.account.create", "acct2")
                )
                .await
        ));
    }
    assert_eq!(acme.account("acct2").await.unwrap(), None);
    assert_eq!(acme.account_by_thumbprint("tp2").await.unwrap(), None);
    assert_eq!(audit_count(&*store).await, before);
    assert_eq!(
        acme.eab("kid-1")
            .await
            .unwrap()
            .unwrap()
            .bound_account
            .as_deref(),
        Some("acct1")
    );

    // Two nodes racing to bind one credential: one account exists, bound to it.
    let mut tasks = Vec::new();
    for (i, s) in [&store, &other, &store, &other].into_iter().enumerate() {
        let s = Arc::clone(s);
        tasks.push(tokio::spawn(async move {
            let id = format!("racer{i}");
            s.acme()
                .create_account(
                    &account(&id, &format!("tp-r{i}"), Some("kid-race")),
                    audit("acme.account.create", &id),
                )
                .await
                .map(|()| id)
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(id) => winners.push(id),
            Err(StoreError::Conflict { .. }) => {}
            Err(e) => panic!("racing create_account: {e}"),
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    assert_eq!(
        acme.eab("kid-race").await.unwrap().unwrap().bound_account,
        Some(winners[0].clone())
    );
    assert_eq!(b.count("SELECT COUNT(*) FROM acme_accounts").await, 2);
    // 3 credentials, 2 accounts.
    assert_chain_ok(&*store, 5).await;
}

pub async fn key_change_moves_the_key_and_refuses_a_taken_one(b: Backend) {
    let store = b.open().await;
    let acme = store.acme();
    for (id, tp) in [("a", "tp-a"), ("b", "tp-b")] {
        acme.create_account(&account(id, tp, None), audit("acme.account.create", id))
            .await
            .unwrap();
    }
    assert!(is_conflict(
        acme.change_account_key(
            "a",
            "tp-b",
            "{}",
            NOW + 1,
            audit("acme.account.key-change", "a")
        )
        .await
    ));
    assert!(is_not_found(
        acme.change_account_key(
            "nope",
            "tp-new",
            "{}",
            NOW + 1,
            audit("acme.account.key-change", "nope")
        )
        .await
    ));
    assert_eq!(audit_count(&*store).await, 2);
    acme.change_account_key(
        "a",
        "tp-new",
        r#"{"kty":"OKP"}"#,
        NOW + 1,
        audit("acme.account.key-change", "a"),
    )
    .await
    .unwrap();
    assert_eq!(acme.account_by_thumbprint("tp-a").await.unwrap(), None);
    let moved = acme.account_by_thumbprint("tp-new").await.unwrap().unwrap();
    assert_eq!(
        (moved.id.as_str(), moved.jwk.as_str()),
        ("a", r#"{"kty":"OKP"}"#)
    );
    // The old key is free again.
    acme.create_account(
        &account("c", "tp-a", None),
        audit("acme.account.create", "c"),
    )
    .await
    .unwrap();
    assert_chain_ok(&*store, 4).await;
}

pub async fn order_with_authorizations_and_challenges_round_trips(b: Backend) {
    let store = b.open().await;
    let acme = store.acme();
    let (o1, a1, a2) = with_order(&*store).await;

    assert_eq!(acme.order("o1").await.unwrap(), Some(o1.clone()));
    assert_eq!(acme.order("nope").await.unwrap(), None);
    assert_eq!(acme.authorization("a1").await.unwrap(), Some(a1.clone()));
    assert_eq!(acme.authorization("nope").await.unwrap(), None);
    assert_eq!(
        acme.authorizations_of_order("o1").await.unwrap(),
        vec![a1.clone(), a2.clone()]
    );
    assert_eq!(
        acme.challenge("a2-http").await.unwrap().as_ref(),
        Some(&a2.challenges[1])
    );
    assert_eq!(acme.challenge("nope").await.unwrap(), None);

    // A second order reusing a1 (listed second) with one new authorization.
    let a3 = authz("a3", "acct", "c.example");
    let o2 = order("o2", "acct", &[&a3, &a1]);
    acme.create_order(
        &o2,
        std::slice::from_ref(&a3),
        audit("acme.order.create", "o2"),
    )
    .await
    .unwrap();
    assert_eq!(
        acme.authorizations_of_order("o2").await.unwrap(),
        vec![a3.clone(), a1.clone()]
    );

    // Refusals write nothing: a taken challenge token, an unknown account, an unknown
    // reused authorization, a taken order id.
    let before = audit_count(&*store).await;
    let mut a4 = authz("a4", "acct", "d.example");
    a4.challenges[0].token = a1.challenges[0].token.clone();
    assert!(is_conflict(
        acme.create_order(
            &order("o3", "acct", &[&a4]),
            std::slice::from_ref(&a4),
            audit("acme.order.create", "o3")
        )
        .await
    ));
    let a5 = authz("a5", "ghost", "e.example");
    assert!(is_not_found(
        acme.create_order(
            &order("o4", "ghost", &[&a5]),
            std::slice::from_ref(&a5),
            audit("acme.order.create", "o4")
        )
        .await
    ));
    let ghost = authz("ghost-authz", "acct", "f.example");
    assert!(is_not_found(
        acme.create_order(
            &order("o5", "acct", &[&ghost]),
            &[],
            audit("acme.order.create", "o5")
        )
        .await
    ));
    let a6 = authz("a6", "acct", "g.example");
    assert!(is_conflict(
        acme.create_order(
            &order("o1", "acct", &[&a6]),
            std::slice::from_ref(&a6),
            audit("acme.order.create", "o1")
        )
        .await
    ));
    assert_eq!(audit_count(&*store).await, before);
    for id in ["o3", "o4", "o5"] {
        assert_eq!(acme.order(id).await.unwrap(), None, "{id}");
    }
    for id in ["a4", "a5", "a6"] {
        assert_eq!(acme.authorization(id).await.unwrap(), None, "{id}");
    }
    assert_eq!(b.count("SELECT COUNT(*) FROM acme_challenges").await, 9);

    // The account's orders, paged by id.
    assert_eq!(
        acme.orders_of_account("acct", None, 10).await.unwrap(),
        ["o1", "o2"]
    );
    assert_eq!(
        acme.orders_of_account("acct", None, 1).await.unwrap(),
        ["o1"]
    );
    assert_eq!(
        acme.orders_of_account("acct", Some("o1"), 10)
            .await
            .unwrap(),
        ["o2"]
    );
    assert!(
        acme.orders_of_account("acct", Some("o2"), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        acme.orders_of_account("other", None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_chain_ok(&*store, 3).await;
}

pub async fn begin_validation_happens_once_across_two_stores(b: Backend) {
    let (store, other) = (b.open().await, b.open().await);
    let (_, a1, a2) = with_order(&*store).await;
    let challenges: Vec<String> = a1
        .challenges
        .iter()
        .chain(&a2.challenges)
        .map(|c| c.id.clone())
        .collect();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        for s in [&store, &other] {
            for id in &challenges {
                let (s, id) = (Arc::clone(s), id.clone());
                tasks.push(tokio::spawn(async move {
                    let won = s
                        .acme()
                        .begin_validation(&id, NOW + 1, audit("acme.challenge.begin", &id))
                        .await
                        .unwrap();
                    (id, won)
                }));
            }
        }
    }
    let mut wins: BTreeMap<String, usize> = BTreeMap::new();
    for t in tasks {
        let (id, won) = t.await.unwrap();
        *wins.entry(id).or_default() += usize::from(won);
    }
    assert_eq!(wins.len(), 6);
    assert!(wins.values().all(|&n| n == 1), "{wins:?}");
    let ch = store.acme().challenge("a1-http").await.unwrap().unwrap();
    assert_eq!(
        (ch.status.as_str(), ch.processing_since),
        ("processing", Some(NOW + 1))
    );
    assert!(is_not_found(
        store
            .acme()
            .begin_validation("nope", NOW, audit("acme.challenge.begin", "nope"))
            .await
    ));
    // Account, order, one entry per won begin.
    assert_chain_ok(&*store, 2 + 6).await;

    // A validation abandoned (its node died) is taken over, once, after the timeout.
    let late = NOW + 1 + PROCESSING_TAKEOVER_SECS;
    assert!(
        !other
            .acme()
            .begin_validation(
                "a1-http",
                late - 1,
                audit("acme.challenge.begin", "a1-http")
            )
            .await
            .unwrap()
    );
    assert!(
        other
            .acme()
            .begin_validation("a1-http", late, audit("acme.challenge.begin", "a1-http"))
            .await
            .unwrap()
    );
    assert!(
        !store
            .acme()
            .begin_validation("a1-http", late, audit("acme.challenge.begin", "a1-http"))
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .acme()
            .challenge("a1-http")
            .await
            .unwrap()
            .unwrap()
            .processing_since,
        Some(late)
    );
    // Not after the authorization expired.
    assert!(
        !store
            .acme()
            .begin_validation(
                "a1-dns",
                NOW + 8 * DAY,
                audit("acme.challenge.begin", "a1-dns")
            )
            .await
            .unwrap()
    );
    assert_chain_ok(&*store, 2 + 7).await;
}

pub async fn finish_validation_moves_authorizations_and_orders(b: Backend) {
    let (store, other) = (b.open().await, b.open().await);
    let acme = store.acme();
    let (_, _, _) = with_order(&*store).await;
    // A second order of the same account sharing a2, plus one of its own that will fail.
    let a3 = authz("a3", "acct", "c.example");
    let a2 = acme.authorization("a2").await.unwrap().unwrap();
    acme.create_order(
        &order("o2", "acct", &[&a2, &a3]),
        std::slice::from_ref(&a3),
        audit("acme.order.create", "o2"),
    )
    .await
    .unwrap();

    // finish before begin: Conflict; unknown: NotFound.
    assert!(is_conflict(
        acme.finish_validation(
            "a1-http",
            Some(NOW + 7 * DAY),
            None,
            None,
            NOW,
            audit("acme.challenge.finish", "a1-http")
        )
        .await
    ));
    assert!(is_not_found(
        acme.finish_validation(
            "nope",
            Some(NOW + 7 * DAY),
            None,
            None,
            NOW,
            audit("acme.challenge.finish", "nope")
        )
        .await
    ));

    let records =
        r#"[{"url":"http://a.example/.well-known/acme-challenge/t","addressUsed":"192.0.2.1"}]"#;
    assert!(
        acme.begin_validation("a1-http", NOW + 1, audit("acme.challenge.begin", "a1-http"))
            .await
            .unwrap()
    );
    other
        .acme()
        .finish_validation(
            "a1-http",
            Some(NOW + 30 * DAY),
            None,
            Some(records),
            NOW + 2,
            audit("acme.challenge.finish", "a1-http"),
        )
        .await
        .unwrap();
    let ch = acme.challenge("a1-http").await.unwrap().unwrap();
    assert_eq!(ch.status, "valid");
    assert_eq!(ch.validated_at, Some(NOW + 2));
    assert_eq!(ch.records.as_deref(), Some(records));
    let a1 = acme.authorization("a1").await.unwrap().unwrap();
    assert_eq!(
        (a1.status.as_str(), a1.expires_at, a1.updated_at),
        ("valid", NOW + 30 * DAY, NOW + 2),
        "a valid authorization lasts as long as the validation said"
    );
    assert_eq!(
        acme.order("o1").await.unwrap().unwrap().status,
        "pending",
        "a2 still pending"
    );
    // The same challenge finished again (by the other node): Conflict.
    assert!(is_conflict(
        acme.finish_validation(
            "a1-http",
            None,
            None,
            None,
            NOW + 3,
            audit("acme.challenge.finish", "a1-http")
        )
        .await
    ));
    // Another challenge of a now valid authorization cannot begin.
    assert!(
        !acme
            .begin_validation("a1-dns", NOW + 3, audit("acme.challenge.begin", "a1-dns"))
            .await
            .unwrap()
    );

    // a2 valid: o1 is ready; o2 still waits for a3.
    assert!(
        acme.begin_validation("a2-dns", NOW + 4, audit("acme.challenge.begin", "a2-dns"))
            .await
            .unwrap()
    );
    acme.finish_validation(
        "a2-dns",
        Some(NOW + 7 * DAY),
        None,
        None,
        NOW + 5,
        audit("acme.challenge.finish", "a2-dns"),
    )
    .await
    .unwrap();
    let o1 = acme.order("o1").await.unwrap().unwrap();
    assert_eq!((o1.status.as_str(), o1.updated_at), ("ready", NOW + 5));
    assert_eq!(acme.order("o2").await.unwrap().unwrap().status, "pending");

    // a3 fails: a3 and o2 invalid, with the problem; o1 untouched.
    let problem =
        r#"{"type":"urn:ietf:params:acme:error:unauthorized","detail":"wrong key authorization"}"#;
    assert!(
        acme.begin_validation("a3-http", NOW + 6, audit("acme.challenge.begin", "a3-http"))
            .await
            .unwrap()
    );
    acme.finish_validation(
        "a3-http",
        None,
        Some(problem),
        None,
        NOW + 7,
        audit("acme.challenge.finish", "a3-http"),
    )
    .await
    .unwrap();
    let ch = acme.challenge("a3-http").await.unwrap().unwrap();
    assert_eq!(
        (ch.status.as_str(), ch.validated_at, ch.error.as_deref()),
        ("invalid", None, Some(problem))
    );
    assert_eq!(
        acme.authorization("a3").await.unwrap().unwrap().status,
        "invalid"
    );
    let o2 = acme.order("o2").await.unwrap().unwrap();
    assert_eq!(
        (o2.status.as_str(), o2.error.as_deref()),
        ("invalid", Some(problem))
    );
    assert_eq!(acme.order("o1").await.unwrap().unwrap().status, "ready");

    // The valid authorizations are reusable until they expire; wildcard is its own.
    let reuse = acme
        .reusable_authorization("acct", &dns("a.example"), false, NOW + 8, NOW)
        .await
        .unwrap();
    assert_eq!(reuse.map(|a| a.id), Some("a1".into()));
    assert_eq!(
        acme.reusable_authorization("acct", &dns("a.example"), true, NOW + 8, NOW)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        acme.reusable_authorization("acct", &dns("a.example"), false, NOW + 30 * DAY, NOW)
            .await
            .unwrap(),
        None,
        "expired"
    );
    assert_eq!(
        acme.reusable_authorization("acct", &dns("a.example"), false, NOW + 8, NOW + 3)
            .await
            .unwrap(),
        None,
        "validated before the reuse window"
    );
    assert_eq!(
        acme.reusable_authorization("acct", &dns("a.example"), false, NOW + 7 * DAY, NOW + 2)
            .await
            .unwrap()
            .map(|a| a.id),
        Some("a1".into()),
        "validated at the start of the window"
    );
    assert_eq!(
        acme.reusable_authorization("other", &dns("a.example"), false, NOW + 8, NOW)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        acme.reusable_authorization("acct", &dns("c.example"), false, NOW + 8, NOW)
            .await
            .unwrap(),
        None
    );
    // 2 + o2 + 3 × (begin, finish).
    assert_chain_ok(&*store, 3 + 6).await;
}

pub async fn deactivated_authorization_invalidates_its_orders(b: Backend) {
    let store = b.open().await;
    let acme = store.acme();
    with_order(&*store).await;
    acme.deactivate_authorization("a1", NOW + 1, audit("acme.authz.deactivate", "a1"))
        .await
        .unwrap();
    assert_eq!(
        acme.authorization("a1").await.unwrap().unwrap().status,
        "deactivated"
    );
    assert_eq!(acme.order("o1").await.unwrap().unwrap().status, "invalid");
    assert!(is_conflict(
        acme.deactivate_authorization("a1", NOW + 2, audit("acme.authz.deactivate", "a1"))
            .await
    ));
    assert!(is_not_found(
        acme.deactivate_authorization("nope", NOW + 2, audit("acme.authz.deactivate", "nope"))
            .await
    ));
    // Its challenges can no longer begin.
    assert!(
        !acme
            .begin_validation("a1-http", NOW + 3, audit("acme.challenge.begin", "a1-http"))
            .await
            .unwrap()
    );
    assert_chain_ok(&*store, 3).await;
}

/// Validate both authorizations of `o1` so it is ready.
async fn make_ready(store: &dyn Store) {
    for ch in ["a1-http", "a2-http"] {
        assert!(
            store
                .acme()
                .begin_validation(ch, NOW + 1, audit("acme.challenge.begin", ch))
                .await
                .unwrap()
        );
        store
            .acme()
            .finish_validation(
                ch,
                Some(NOW + 7 * DAY),
                None,
                None,
                NOW + 2,
                audit("acme.challenge.finish", ch),
            )
            .await
            .unwrap();
    }
    assert_eq!(
        store.acme().order("o1").await.unwrap().unwrap().status,
        "ready"
    );
}

pub async fn finalize_begins_once_and_finishes(b: Backend) {
    let (store, other) = (b.open().await, b.open().await);
    with_order(&*store).await;
    // Not ready yet.
    assert!(
        !store
            .acme()
            .begin_finalize("o1", b"csr", NOW, audit("acme.order.finalize", "o1"))
            .await
            .unwrap()
    );
    assert!(is_not_found(
        store
            .acme()
            .begin_finalize("nope", b"csr", NOW, audit("acme.order.finalize", "nope"))
            .await
    ));
    assert!(is_conflict(
        store
            .acme()
            .finish_order("o1", Ok("01"), NOW, audit("acme.order.finish", "o1"))
            .await
    ));
    make_ready(&*store).await;

    let mut tasks = Vec::new();
    for i in 0..8 {
        let s = Arc::clone(if i % 2 == 0 { &store } else { &other });
        tasks.push(tokio::spawn(async move {
            let csr = vec![0x30, 0x00, 0xff, i as u8];
            let won = s
                .acme()
                .begin_finalize("o1", &csr, NOW + 3, audit("acme.order.finalize", "o1"))
                .await
                .unwrap();
            (csr, won)
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        let (csr, won) = t.await.unwrap();
        if won {
            winners.push(csr);
        }
    }
    assert_eq!(winners.len(), 1);
    let o1 = store.acme().order("o1").await.unwrap().unwrap();
    assert_eq!(o1.status, "processing");
    assert_eq!(
        o1.csr.as_ref(),
        Some(&winners[0]),
        "the winner's CSR is kept"
    );
    assert_eq!(o1.processing_since, Some(NOW + 3));

    other
        .acme()
        .finish_order(
            "o1",
            Ok("5a5a01"),
            NOW + 4,
            audit("acme.order.finish", "o1"),
        )
        .await
        .unwrap();
    let o1 = store.acme().order("o1").await.unwrap().unwrap();
    assert_eq!(
        (o1.status.as_str(), o1.certificate_serial.as_deref()),
        ("valid", Some("5a5a01"))
    );
    assert!(is_conflict(
        store
            .acme()
            .finish_order("o1", Err("{}"), NOW + 5, audit("acme.order.finish", "o1"))
            .await
    ));
    assert!(
        !store
            .acme()
            .begin_finalize("o1", b"csr", NOW + 5, audit("acme.order.finalize", "o1"))
            .await
            .unwrap()
    );
    // 2 + 2 × 2 validations + finalize + finish.
    assert_chain_ok(&*store, 2 + 4 + 2).await;
}

pub async fn failed_or_abandoned_finalization(b: Backend) {
    let (store, other) = (b.open().await, b.open().await);
    with_order(&*store).await;
    make_ready(&*store).await;
    assert!(
        store
            .acme()
            .begin_finalize("o1", b"first", NOW + 3, audit("acme.order.finalize", "o1"))
            .await
            .unwrap()
    );
    // The node that began it died: another takes it over after the timeout, once.
    let late = NOW + 3 + PROCESSING_TAKEOVER_SECS;
    assert!(
        !other
            .acme()
            .begin_finalize(
                "o1",
                b"second",
                late - 1,
                audit("acme.order.finalize", "o1")
            )
            .await
            .unwrap()
    );
    assert!(
        other
            .acme()
            .begin_finalize("o1", b"second", late, audit("acme.order.finalize", "o1"))
            .await
            .unwrap()
    );
    assert!(
        !store
            .acme()
            .begin_finalize("o1", b"third", late, audit("acme.order.finalize", "o1"))
            .await
            .unwrap()
    );
    let o1 = store.acme().order("o1").await.unwrap().unwrap();
    assert_eq!(o1.csr.as_deref(), Some(&b"second"[..]));
    let problem = r#"{"type":"urn:ietf:params:acme:error:badCSR","detail":"names differ"}"#;
    other
        .acme()
        .finish_order(
            "o1",
            Err(problem),
            late + 1,
            audit("acme.order.finish", "o1"),
        )
        .await
        .unwrap();
    let o1 = store.acme().order("o1").await.unwrap().unwrap();
    assert_eq!(
        (
            o1.status.as_str(),
            o1.error.as_deref(),
            o1.certificate_serial
        ),
        ("invalid", Some(problem), None)
    );
    assert_chain_ok(&*store, 2 + 4 + 3).await;
}

pub async fn audit_entries_of_acme_changes_are_in_order(b: Backend) {
    let store = b.open().await;
    with_order(&*store).await;
    make_ready(&*store).await;
    assert!(
        store
            .acme()
            .begin_finalize("o1", b"csr", NOW + 3, audit("acme.order.finalize", "o1"))
            .await
            .unwrap()
    );
    // Interleaved with an ordinary write of the store.
    store.append_audit(audit("refuse", "x")).await.unwrap();
    store
        .acme()
        .finish_order("o1", Ok("01"), NOW + 4, audit("acme.order.finish", "o1"))
        .await
        .unwrap();
    let actions: Vec<String> = all_audit(&*store)
        .await
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions,
        [
            "acme.account.create",
            "acme.order.create",
            "acme.challenge.begin",
            "acme.challenge.finish",
            "acme.challenge.begin",
            "acme.challenge.finish",
            "acme.order.finalize",
            "refuse",
            "acme.order.finish",
        ]
    );
    assert_chain_ok(&*store, 9).await;
}

pub async fn an_order_begun_on_a_store_that_dies_is_finished_on_another(b: Backend) {
    let first = b.open().await;
    with_order(&*first).await;
    assert!(
        first
            .acme()
            .begin_validation("a1-http", NOW + 1, audit("acme.challenge.begin", "a1-http"))
            .await
            .unwrap()
    );
    assert!(first.acme().redeem_nonce("n1", NOW + 60).await.unwrap());
    drop(first); // The node dies mid-validation.

    let second = b.open().await;
    let acme = second.acme();
    assert!(
        !acme.redeem_nonce("n1", NOW + 60).await.unwrap(),
        "still redeemed"
    );
    let order = acme.order("o1").await.unwrap().expect("order survives");
    assert_eq!(order.status, "pending");
    let authzs = acme.authorizations_of_order("o1").await.unwrap();
    assert_eq!(authzs[0].challenges[1].status, "processing");
    // The abandoned validation is taken over once the timeout has passed.
    let late = NOW + 1 + PROCESSING_TAKEOVER_SECS;
    for (ch, at) in [("a1-http", late), ("a2-http", late)] {
        assert!(
            acme.begin_validation(ch, at, audit("acme.challenge.begin", ch))
                .await
                .unwrap()
        );
        acme.finish_validation(
            ch,
            Some(NOW + 7 * DAY),
            None,
            None,
            at + 1,
            audit("acme.challenge.finish", ch),
        )
        .await
        .unwrap();
    }
    assert!(
        acme.begin_finalize("o1", b"csr", late + 2, audit("acme.order.finalize", "o1"))
            .await
            .unwrap()
    );
    acme.finish_order("o1", Ok("01"), late + 3, audit("acme.order.finish", "o1"))
        .await
        .unwrap();
    assert_eq!(acme.order("o1").await.unwrap().unwrap().status, "valid");
    // account, order, 3 begins, 2 finishes, finalize, finish.
    assert_chain_ok(&*second, 9).await;
}

pub async fn rate_limit_windows_count_orders_and_certificates(b: Backend) {
    let store = b.open().await;
    let acme = store.acme();
    acme.create_account(
        &account("acct", "tp-acct", None),
        audit("acme.account.create", "acct"),
    )
    .await
    .unwrap();
    // Orders at NOW, NOW+10, NOW+20 (no replaces: none conflicts).
    for (i, t) in [(0, NOW), (1, NOW + 10), (2, NOW + 20)] {
        let a = authz(&format!("r{i}"), "acct", &format!("r{i}.example"));
        let mut o = order(&format!("ro{i}"), "acct", &[&a]);
        o.replaces = None;
        o.created_at = t;
        acme.create_order(&o, &[a], audit("acme.order.create", &o.id))
            .await
            .unwrap();
    }
    // Room for 4 in the window; 3 reached: the 3rd newest is NOW.
    assert_eq!(
        acme.nth_newest_order_since("acct", NOW, 4).await.unwrap(),
        None
    );
    assert_eq!(
        acme.nth_newest_order_since("acct", NOW, 3).await.unwrap(),
        Some(NOW)
    );
    assert_eq!(
        acme.nth_newest_order_since("acct", NOW, 1).await.unwrap(),
        Some(NOW + 20)
    );
    // The window starts after the first: only two inside.
    assert_eq!(
        acme.nth_newest_order_since("acct", NOW + 1, 3)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        acme.nth_newest_order_since("other", NOW, 1).await.unwrap(),
        None
    );

    // Certificates naming dns:x.example (created at NOW - DAY by the fixture).
    with_issuer(&*store).await;
    for s in [serial(1), serial(2)] {
        store
            .record_issuance(
                cert(&s, "default", "tls-server", &["dns:x.example"], NOW + DAY),
                audit("issue", &s),
            )
            .await
            .unwrap();
    }
    let n = |san: &'static str, since: i64, n: u32| {
        let acme = store.acme();
        async move {
            acme.nth_newest_certificate_naming_since(san, since, n)
                .await
                .unwrap()
        }
    };
    assert_eq!(n("dns:x.example", NOW - DAY, 2).await, Some(NOW - DAY));
    assert_eq!(n("dns:x.example", NOW - DAY, 3).await, None);
    assert_eq!(n("dns:x.example", NOW, 1).await, None, "outside the window");
    assert_eq!(n("dns:y.example", NOW - DAY, 1).await, None);
}

pub async fn one_live_order_replaces_a_certificate(b: Backend) {
    let (store, other) = (b.open().await, b.open().await);
    let acme = store.acme();
    // o1 replaces the fixture's certificate id.
    let (o1, _, _) = with_order(&*store).await;
    let before = all_audit(&*store).await.len();
    let a = authz("b1", "acct", "a.example");
    let o2 = AcmeOrder {
        replaces: o1.replaces.clone(),
        ..order("o2", "acct", &[&a])
    };
    let err = other
        .acme()
        .create_order(
            &o2,
            std::slice::from_ref(&a),
            audit("acme.order.create", "o2"),
        )
        .await;
    assert!(
        is_conflict(err),
        "a second live order replacing the same certificate"
    );
    assert_eq!(all_audit(&*store).await.len(), before, "nothing written");
    assert_eq!(acme.order("o2").await.unwrap(), None);
    assert_eq!(acme.authorization("b1").await.unwrap(), None);

    // Once o1 is invalid (its authorization deactivated), another order may replace it.
    acme.deactivate_authorization("a1", NOW + 1, audit("acme.authz.deactivate", "a1"))
        .await
        .unwrap();
    assert_eq!(acme.order("o1").await.unwrap().unwrap().status, "invalid");
    other
        .acme()
        .create_order(
            &o2,
            std::slice::from_ref(&a),
            audit("acme.order.create", "o2"),
        )
        .await
        .unwrap();
}

pub async fn renewal_overrides_apply_to_older_matching_certificates(b: Backend) {
    use moor_store::RenewalOverride;
    let store = b.open().await;
    let acme = store.acme();
    let ov = |id: &str, issuer: Option<&str>, serial: Option<&str>, at: i64| RenewalOverride {
        id: id.into(),
        issuer_id: issuer.map(Into::into),
        profile: None,
        serial_hex: serial.map(Into::into),
        window_start: at,
        window_end: at + 3600,
        reason: format!("incident {id}"),
        created_at: at,
    };
    assert_eq!(
        acme.renewal_override_for("int", "tls", "aa", NOW)
            .await
            .unwrap(),
        None
    );
    acme.add_renewal_override(
        &ov("o1", Some("int"), None, NOW + 10),
        audit("ari.override", "o1"),
    )
    .await
    .unwrap();
    acme.add_renewal_override(
        &ov("o2", None, Some("bb"), NOW + 20),
        audit("ari.override", "o2"),
    )
    .await
    .unwrap();
    let got = |issuer: &'static str, serial: &'static str, created: i64| {
        let acme = store.acme();
        async move {
            acme.renewal_override_for(issuer, "tls", serial, created)
                .await
                .unwrap()
                .map(|o| o.id)
        }
    };
    assert_eq!(got("int", "aa", NOW).await, Some("o1".into()));
    assert_eq!(got("int", "aa", NOW + 11).await, None, "issued after it");
    assert_eq!(got("other", "aa", NOW).await, None, "another issuer");
    assert_eq!(
        got("int", "bb", NOW).await,
        Some("o2".into()),
        "the newest wins"
    );
    assert_eq!(got("other", "bb", NOW + 15).await, Some("o2".into()));
    let full = acme
        .renewal_override_for("int", "tls", "aa", NOW)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(full, ov("o1", Some("int"), None, NOW + 10));
    assert!(
        all_audit(&*store)
            .await
            .iter()
            .any(|e| e.action == "ari.override" && e.subject == "o2")
    );
}

pub async fn cross_certificates_of_an_issuer(b: Backend) {
    use moor_store::CrossCertificate;
    let store = b.open().await;
    let acme = store.acme();
    with_issuer(&*store).await;
    store
        .insert_issuer(
            &issuer("other-root", None),
            audit("issuer.create", "other-root"),
        )
        .await
        .unwrap();
    let cross = |id: &str, not_after: i64, created_at: i64| CrossCertificate {
        id: id.into(),
        issuer_id: "default".into(),
        signed_by: "other-root".into(),
        // Bytes a text column would mangle.
        der: vec![0x30, 0x00, 0xff, id.len() as u8],
        not_after,
        created_at,
    };
    acme.add_cross_certificate(
        &cross("x2", NOW + DAY, NOW + 2),
        audit("issuer.cross-sign", "x2"),
    )
    .await
    .unwrap();
    acme.add_cross_certificate(
        &cross("x1", NOW + DAY, NOW + 1),
        audit("issuer.cross-sign", "x1"),
    )
    .await
    .unwrap();
    acme.add_cross_certificate(&cross("old", NOW, NOW), audit("issuer.cross-sign", "old"))
        .await
        .unwrap();
    // Unexpired ones, oldest first, bytes intact.
    assert_eq!(
        acme.cross_certificates("default", NOW).await.unwrap(),
        vec![
            cross("x1", NOW + DAY, NOW + 1),
            cross("x2", NOW + DAY, NOW + 2)
        ]
    );
    assert!(
        acme.cross_certificates("other-root", NOW)
            .await
            .unwrap()
            .is_empty()
    );
    // An unknown issuer: NotFound, nothing written.
    let before = all_audit(&*store).await.len();
    let mut bad = cross("x3", NOW + DAY, NOW);
    bad.signed_by = "nope".into();
    assert!(is_not_found(
        acme.add_cross_certificate(&bad, audit("issuer.cross-sign", "x3"))
            .await
    ));
    assert_eq!(all_audit(&*store).await.len(), before);
}
