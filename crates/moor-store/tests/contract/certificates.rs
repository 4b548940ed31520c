//! Issuers, certificates (recording, reading, listing), keys, expiry counts, admin tokens.

use std::sync::Arc;

use moor_store::{AdminTokenRecord, CertificateFilter, StoreError};

use crate::backend::Backend;
use crate::fixtures::*;

pub async fn issuers_round_trip_and_conflict(b: Backend) {
    let store = b.open().await;
    assert_eq!(store.list_issuers().await.unwrap(), vec![]);

    let root = issuer("root", None);
    let mut inter = issuer("default", Some("root"));
    inter.created_at += 1;
    // Listed oldest first, and in insertion order when created together.
    let mut late = issuer("late", Some("root"));
    late.created_at += 2;
    let mut also_late = issuer("also-late", Some("root"));
    also_late.created_at += 2;
    for i in [&root, &late, &inter, &also_late] {
        store
            .insert_issuer(i, audit("issuer.create", &i.id))
            .await
            .unwrap();
    }
    assert_eq!(
        store.list_issuers().await.unwrap(),
        vec![root.clone(), inter.clone(), late.clone(), also_late.clone()]
    );

    let entries = all_audit(&*store).await.len();
    assert_eq!(entries, 4);
    // The same id again, even with other fields: Conflict, nothing overwritten.
    let mut again = root.clone();
    again.key_ref = "offline".into();
    match store
        .insert_issuer(&again, audit("issuer.create", "root"))
        .await
    {
        Err(StoreError::Conflict { .. }) => {}
        other => panic!("expected Conflict, got {other:?}"),
    }
    // A parent that does not exist.
    match store
        .insert_issuer(
            &issuer("orphan", Some("nope")),
            audit("issuer.create", "orphan"),
        )
        .await
    {
        Err(StoreError::NotFound { .. }) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert_eq!(
        store.list_issuers().await.unwrap(),
        vec![root, inter, late, also_late],
        "refused issuers change nothing"
    );
    assert_eq!(
        all_audit(&*store).await.len(),
        entries,
        "refused issuers leave no audit entry"
    );

    // Another store on the same database sees the same.
    let other = b.open().await;
    assert_eq!(
        other.list_issuers().await.unwrap(),
        store.list_issuers().await.unwrap()
    );
}

pub async fn certificate_round_trip_and_unknown_issuer(b: Backend) {
    let store = b.open().await;
    with_issuer(&*store).await;

    let new = cert(
        "0a1b2c",
        "default",
        "tls-server",
        &["dns:a.example", "ip:2001:db8::1", "dns:b.example"],
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
    assert!(got.id > 0);
    assert_eq!(got, stored(&new, got.id));
    assert_eq!(got.status_at(NOW), "valid");
    assert_eq!(store.get_certificate("ffff").await.unwrap(), None);
    assert_eq!(store.get_certificate("0A1B2C").await.unwrap(), None);

    // Ids increase with every certificate.
    let second = cert("0a1b2d", "default", "device", &[], NOW + DAY);
    store
        .record_issuance(second.clone(), audit("issue", "0a1b2d"))
        .await
        .unwrap();
    let got2 = store.get_certificate("0a1b2d").await.unwrap().unwrap();
    assert!(got2.id > got.id, "{} after {}", got2.id, got.id);
    assert_eq!(got2, stored(&second, got2.id));

    // An unknown issuer: NotFound, and nothing is written, not even the audit entry.
    let entries = all_audit(&*store).await;
    match store
        .record_issuance(
            cert("77", "missing", "tls-server", &["dns:m.example"], NOW),
            audit("issue", "77"),
        )
        .await
    {
        Err(StoreError::NotFound { .. }) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert_eq!(all_audit(&*store).await, entries);
    assert_eq!(store.get_certificate("77").await.unwrap(), None);
    assert!(
        store
            .list_certificates(&CertificateFilter {
                san: Some("m.example".into()),
                ..filter()
            })
            .await
            .unwrap()
            .is_empty()
    );

    // Audit entries of the issuances, in order.
    let actions: Vec<_> = entries
        .iter()
        .map(|e| (e.action.as_str(), e.subject.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("issuer.create", "default"),
            ("issue", "0a1b2c"),
            ("issue", "0a1b2d")
        ]
    );

    // A second store reads the same rows.
    let other = b.open().await;
    assert_eq!(other.get_certificate("0a1b2c").await.unwrap(), Some(got));
}

pub async fn certificate_filters(b: Backend) {
    let store = b.open().await;
    with_issuer(&*store).await;
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
        cert("07", "default", "tls-server", &["dns:a.example"], NOW), // expires exactly now: still valid
        cert(
            "08",
            "pq",
            "device",
            &["ip:2001:db8::1", "dns:Zoë.example", "ip:2001:db8::1"], // a SAN twice
            NOW + 90 * DAY,
        ),
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
        async move {
            let page = store
                .list_certificates(&f)
                .await
                .unwrap_or_else(|e| panic!("{f:?}: {e}"));
            serials(&page)
        }
    };
    let none = Vec::<String>::new();
    assert_eq!(
        list(filter()).await,
        ["01", "02", "03", "04", "05", "06", "07", "08"]
    );
    // SANs come back as given (order, repeats).
    assert_eq!(
        store.get_certificate("08").await.unwrap().unwrap().sans,
        ["ip:2001:db8::1", "dns:Zoë.example", "ip:2001:db8::1"]
    );

    // SAN: tagged, and bare (any type).
    let by_san = |san: &str| CertificateFilter {
        san: Some(san.into()),
        ..filter()
    };
    assert_eq!(list(by_san("dns:a.example")).await, ["01", "04", "07"]);
    assert_eq!(list(by_san("a.example")).await, ["01", "04", "07"]);
    assert_eq!(list(by_san("dns:www.a.example")).await, ["01"]);
    assert_eq!(list(by_san("ip:10.0.0.1")).await, ["03"]);
    assert_eq!(list(by_san("10.0.0.1")).await, ["03"]);
    assert_eq!(list(by_san("spiffe://a.example/web")).await, ["05"]);
    assert_eq!(list(by_san("uri:spiffe://a.example/web")).await, ["05"]);
    assert_eq!(list(by_san("ops@a.example")).await, ["02"]);
    assert_eq!(list(by_san("email:ops@a.example")).await, ["02"]);
    // A bare value holding colons; a SAN given twice lists its certificate once.
    assert_eq!(list(by_san("2001:db8::1")).await, ["08"]);
    assert_eq!(list(by_san("ip:2001:db8::1")).await, ["08"]);
    assert_eq!(list(by_san("Zoë.example")).await, ["08"]);
    assert_eq!(list(by_san("db8::1")).await, none);
    // Exact, never a prefix or a substring, and the tag must match.
    assert_eq!(list(by_san("dns:www")).await, none);
    assert_eq!(list(by_san("example")).await, none);
    assert_eq!(list(by_san("ip:a.example")).await, none);
    assert_eq!(list(by_san("A.EXAMPLE")).await, none);
    assert_eq!(list(by_san("%")).await, none);

    // Profile and issuer.
    assert_eq!(
        list(CertificateFilter {
            profile: Some("tls-server".into()),
            ..filter()
        })
        .await,
        ["01", "03", "04", "05", "07"]
    );
    assert_eq!(
        list(CertificateFilter {
            profile: Some("nope".into()),
            ..filter()
        })
        .await,
        none
    );
    assert_eq!(
        list(CertificateFilter {
            issuer_id: Some("pq".into()),
            ..filter()
        })
        .await,
        ["03", "04", "08"]
    );
    assert_eq!(
        list(CertificateFilter {
            issuer_id: Some("default".into()),
            ..filter()
        })
        .await,
        ["01", "02", "05", "06", "07"]
    );

    // Status, judged at `now`.
    let by_status = |status: &str, now: i64| CertificateFilter {
        status: Some(status.into()),
        now,
        ..filter()
    };
    assert_eq!(
        list(by_status("valid", NOW)).await,
        ["01", "02", "03", "07", "08"]
    );
    assert_eq!(list(by_status("revoked", NOW)).await, ["05", "06"]);
    assert_eq!(list(by_status("expired", NOW)).await, ["04"]);
    assert_eq!(
        list(by_status("valid", NOW + 10 * DAY)).await,
        ["01", "03", "08"]
    );
    assert_eq!(
        list(by_status("expired", NOW + 10 * DAY)).await,
        ["02", "04", "07"]
    );
    assert_eq!(
        list(by_status("revoked", NOW + 100 * DAY)).await,
        ["05", "06"]
    );
    assert_eq!(list(by_status("bogus", NOW)).await, none);

    // Expiring before (strictly).
    assert_eq!(
        list(CertificateFilter {
            expiring_before: Some(NOW + 10 * DAY),
            ..filter()
        })
        .await,
        ["02", "04", "05", "06", "07"]
    );
    assert_eq!(
        list(CertificateFilter {
            expiring_before: Some(NOW),
            ..filter()
        })
        .await,
        ["04", "06"]
    );

    // All given filters must match.
    assert_eq!(
        list(CertificateFilter {
            status: Some("valid".into()),
            expiring_before: Some(NOW + 40 * DAY),
            profile: Some("tls-server".into()),
            ..filter()
        })
        .await,
        ["01", "07"]
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
    assert_eq!(
        list(CertificateFilter {
            san: Some("a.example".into()),
            status: Some("valid".into()),
            issuer_id: Some("default".into()),
            ..filter()
        })
        .await,
        ["01", "07"]
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
        none
    );
    assert_eq!(
        list(CertificateFilter {
            limit: -1,
            ..filter()
        })
        .await,
        none,
        "a negative page size is an empty page"
    );
    let second = store.get_certificate("02").await.unwrap().unwrap();
    assert_eq!(
        list(CertificateFilter {
            after_id: Some(second.id),
            limit: 2,
            ..filter()
        })
        .await,
        ["03", "04"]
    );
    assert_eq!(
        list(CertificateFilter {
            after_id: Some(second.id),
            profile: Some("tls-server".into()),
            ..filter()
        })
        .await,
        ["03", "04", "05", "07"]
    );

    // The revoked rows carry their revocation, and status_at reads them.
    let revoked = store.get_certificate("06").await.unwrap().unwrap();
    assert_eq!(
        (
            revoked.status.as_str(),
            revoked.revoked_at,
            revoked.revocation_reason,
            revoked.status_at(NOW)
        ),
        ("revoked", Some(NOW), Some(4), "revoked")
    );
    let expired = store.get_certificate("04").await.unwrap().unwrap();
    assert_eq!(
        (expired.status.as_str(), expired.status_at(NOW)),
        ("valid", "expired")
    );
}

pub async fn cursor_pagination_sees_every_row_once(b: Backend) {
    let store = b.open().await;
    with_issuer(&*store).await;
    store
        .insert_issuer(&issuer("pq", None), audit("issuer.create", "pq"))
        .await
        .unwrap();
    // 250 matching rows interleaved with 50 that do not match.
    let mut want = Vec::new();
    for i in 0..300 {
        let s = serial(i);
        let (issuer, san) = if i % 6 == 5 {
            ("pq", "dns:y.example")
        } else {
            want.push(s.clone());
            ("default", "dns:x.example")
        };
        store
            .record_issuance(
                cert(&s, issuer, "tls-server", &[san], NOW + DAY),
                audit("issue", &s),
            )
            .await
            .unwrap();
    }
    assert_eq!(want.len(), 250);

    for f in [
        CertificateFilter {
            san: Some("x.example".into()),
            ..filter()
        },
        CertificateFilter {
            issuer_id: Some("default".into()),
            ..filter()
        },
        CertificateFilter {
            status: Some("valid".into()),
            san: Some("dns:x.example".into()),
            ..filter()
        },
    ] {
        let mut seen = Vec::new();
        let mut pages = Vec::new();
        let mut cursor = None;
        let mut last_id = i64::MIN;
        loop {
            let page = store
                .list_certificates(&CertificateFilter {
                    after_id: cursor,
                    limit: 100,
                    ..f.clone()
                })
                .await
                .unwrap();
            pages.push(page.len());
            for c in &page {
                assert!(c.id > last_id, "ids increase within and across pages");
                last_id = c.id;
            }
            let Some(last) = page.last() else { break };
            cursor = Some(last.id);
            seen.extend(serials(&page));
        }
        assert_eq!(pages, [100, 100, 50, 0], "{f:?}");
        assert_eq!(seen, want, "{f:?}");
    }

    // Rows written while paging appear once, at the end (ids are never reused).
    let first = store
        .list_certificates(&CertificateFilter {
            limit: 299,
            ..filter()
        })
        .await
        .unwrap();
    issue(&*store, "ab").await;
    let rest = store
        .list_certificates(&CertificateFilter {
            after_id: first.last().map(|c| c.id),
            ..filter()
        })
        .await
        .unwrap();
    assert_eq!(serials(&rest), [serial(299), "ab".to_string()]);
}

pub async fn duplicate_serial_fails_alone_in_a_concurrent_burst(b: Backend) {
    let store = b.open().await;
    with_issuer(&*store).await;
    let taken = serial(100_000);
    store
        .record_issuance(
            cert(
                &taken,
                "default",
                "tls-server",
                &["dns:first.example"],
                NOW + DAY,
            ),
            audit("issue", &taken),
        )
        .await
        .unwrap();

    let mut good = Vec::new();
    let mut dups = Vec::new();
    for i in 0..200 {
        let writer = Arc::clone(&store);
        good.push(tokio::spawn(async move {
            let s = serial(i);
            writer
                .record_issuance(
                    cert(&s, "default", "tls-server", &["dns:ok.example"], NOW + DAY),
                    audit("issue", &s),
                )
                .await
        }));
        if i % 40 == 20 {
            // Duplicates in the middle of the burst, so they share groups with good ones.
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
        }
    }
    // Two new certificates racing with one serial: exactly one wins.
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

    for t in good {
        t.await.unwrap().expect("every distinct serial is recorded");
    }
    assert_eq!(dups.len(), 5);
    for t in dups {
        match t.await.unwrap() {
            Err(StoreError::DuplicateSerial { serial, issuer_id }) => {
                assert_eq!((serial.as_str(), issuer_id.as_str()), (&*taken, "default"))
            }
            other => panic!("expected DuplicateSerial, got {other:?}"),
        }
    }
    let mut results = Vec::new();
    for t in race {
        results.push(t.await.unwrap());
    }
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    assert!(
        results
            .iter()
            .any(|r| matches!(r, Err(StoreError::DuplicateSerial { .. }))),
        "{results:?}"
    );

    let log = all_audit(&*store).await;
    assert_eq!(
        log.len(),
        1 + 1 + 200 + 1,
        "issuer, first cert, 200, one racer"
    );
    assert!(
        log.iter().all(|e| !e.detail.contains("duplicate")),
        "a refused duplicate left an audit entry"
    );
    let all = all_certificates(&*store).await;
    assert_eq!(all.len(), 1 + 200 + 1);
    let mut unique = serials(&all);
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), all.len());
    let kept = store.get_certificate(&taken).await.unwrap().unwrap();
    assert_eq!(
        (kept.profile.as_str(), kept.sans.as_slice()),
        ("tls-server", &["dns:first.example".to_string()][..]),
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
            .is_empty(),
        "a refused duplicate left SAN rows"
    );
    assert_eq!(
        b.count("SELECT COUNT(*) FROM certificate_sans WHERE san = 'dns:dup.example'")
            .await,
        0
    );
    let v = store.verify_audit().await.unwrap();
    assert!(v.ok(), "{v:?}");
    assert_eq!(v.entries, log.len() as i64);
}

pub async fn certificates_by_key(b: Backend) {
    let store = b.open().await;
    with_issuer(&*store).await;
    let key = "ab".repeat(32);
    let other_key = "cd".repeat(32);
    for (s, k) in [("01", &key), ("02", &other_key), ("03", &key)] {
        store
            .record_issuance(cert_for_key(s, k), audit("issue", s))
            .await
            .unwrap();
    }
    store
        .revoke_certificate("01", NOW, 1, audit("revoke", "01"))
        .await
        .unwrap();
    let found = store.certificates_by_key(&key).await.unwrap();
    assert_eq!(serials(&found), ["01", "03"], "oldest first, revoked too");
    assert_eq!(found[0].status, "revoked");
    assert_eq!(found[1], stored(&cert_for_key("03", &key), found[1].id));
    assert_eq!(
        serials(&store.certificates_by_key(&other_key).await.unwrap()),
        ["02"]
    );
    assert!(
        store
            .certificates_by_key(&"00".repeat(32))
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn blocked_key_refuses_issuance_on_every_store(b: Backend) {
    let a = b.open().await;
    with_issuer(&*a).await;
    // Opened before the key is blocked: nothing it remembers can help it.
    let other = b.open().await;
    let key = "ab".repeat(32);
    a.record_issuance(cert_for_key("01", &key), audit("issue", "01"))
        .await
        .unwrap();
    assert!(a.blocked_keys().await.unwrap().is_empty());

    assert!(
        a.block_key(&key, "keyCompromise", "01", NOW, audit("key.block", &key))
            .await
            .unwrap(),
        "newly blocked"
    );
    assert!(
        !other
            .block_key(&key, "keyCompromise", "01", NOW, audit("key.block", &key))
            .await
            .unwrap(),
        "already blocked"
    );
    assert_eq!(a.blocked_keys().await.unwrap(), vec![key.clone()]);
    assert_eq!(other.blocked_keys().await.unwrap(), vec![key.clone()]);

    let entries = all_audit(&*a).await.len();
    for (name, store) in [("first", &a), ("second", &other)] {
        let s = format!("0{}", name.len());
        match store
            .record_issuance(cert_for_key(&s, &key), audit("issue", &s))
            .await
        {
            Err(StoreError::KeyBlocked { spki_sha256 }) => assert_eq!(spki_sha256, key),
            other => panic!("{name} store: expected KeyBlocked, got {other:?}"),
        }
        assert_eq!(store.get_certificate(&s).await.unwrap(), None);
    }
    assert_eq!(
        all_audit(&*a).await.len(),
        entries,
        "a refused issuance leaves no audit entry"
    );
    // Other keys still issue, on both stores; the blocked key's old certificate stays.
    a.record_issuance(cert_for_key("10", &"cd".repeat(32)), audit("issue", "10"))
        .await
        .unwrap();
    other
        .record_issuance(cert_for_key("11", &"ef".repeat(32)), audit("issue", "11"))
        .await
        .unwrap();
    assert_eq!(serials(&a.certificates_by_key(&key).await.unwrap()), ["01"]);
    // A second blocked key.
    let key2 = "cd".repeat(32);
    assert!(
        other
            .block_key(&key2, "keyCompromise", "10", NOW, audit("key.block", &key2))
            .await
            .unwrap()
    );
    let mut want = vec![key.clone(), key2.clone()];
    want.sort();
    assert_eq!(a.blocked_keys().await.unwrap(), want);
    assert!(matches!(
        a.record_issuance(cert_for_key("12", &key2), audit("issue", "12"))
            .await,
        Err(StoreError::KeyBlocked { .. })
    ));
    let v = a.verify_audit().await.unwrap();
    assert!(v.ok(), "{v:?}");
}

pub async fn expiring_counts(b: Backend) {
    let store = b.open().await;
    with_issuer(&*store).await;
    store
        .insert_issuer(&issuer("pq", None), audit("issuer.create", "pq"))
        .await
        .unwrap();
    assert!(
        store
            .expiring_counts(NOW, NOW + 30 * DAY)
            .await
            .unwrap()
            .is_empty()
    );
    for (s, issuer, not_after) in [
        ("01", "default", NOW),           // at now: counted
        ("02", "default", NOW + DAY),     // counted
        ("03", "default", NOW + 7 * DAY), // at until: not counted
        ("04", "default", NOW - 1),       // expired: not counted
        ("05", "pq", NOW + 2 * DAY),      // counted
        ("06", "pq", NOW + 3 * DAY),      // revoked below: not counted
        ("07", "pq", NOW + 6 * DAY),      // counted
    ] {
        store
            .record_issuance(
                cert(s, issuer, "tls-server", &[], not_after),
                audit("issue", s),
            )
            .await
            .unwrap();
    }
    // A delegated OCSP responder certificate rotates itself: never an expiry alert.
    store
        .record_issuance(
            cert("08", "default", "ocsp-responder", &[], NOW + DAY),
            audit("issue", "08"),
        )
        .await
        .unwrap();
    store
        .revoke_certificate("06", NOW, 1, audit("revoke", "06"))
        .await
        .unwrap();
    assert_eq!(
        store.expiring_counts(NOW, NOW + 7 * DAY).await.unwrap(),
        vec![("default".to_string(), 2), ("pq".to_string(), 2)]
    );
    assert_eq!(
        store
            .expiring_counts(NOW + 2 * DAY, NOW + 8 * DAY)
            .await
            .unwrap(),
        vec![("default".to_string(), 1), ("pq".to_string(), 2)]
    );
    assert_eq!(
        store
            .expiring_counts(NOW + DAY + 1, NOW + 7 * DAY)
            .await
            .unwrap(),
        vec![("pq".to_string(), 2)],
        "issuers with none are left out"
    );
    assert!(
        store
            .expiring_counts(NOW + DAY, NOW + DAY)
            .await
            .unwrap()
            .is_empty(),
        "an empty window counts nothing"
    );
}

pub async fn admin_tokens(b: Backend) {
    let store = b.open().await;
    assert!(store.active_admin_tokens().await.unwrap().is_empty());
    let token = AdminTokenRecord {
        id: "tok_1".into(),
        secret_sha256: (0u8..32).collect(),
        name: "first admin".into(),
        created_at: NOW,
    };
    let token2 = AdminTokenRecord {
        id: "tok_2".into(),
        secret_sha256: vec![0xff; 32],
        name: "second".into(),
        created_at: NOW + 1,
    };
    store
        .insert_admin_token(&token, audit("token.create", "tok_1"))
        .await
        .unwrap();
    store
        .insert_admin_token(&token2, audit("token.create", "tok_2"))
        .await
        .unwrap();
    assert_eq!(
        store.active_admin_tokens().await.unwrap(),
        vec![token.clone(), token2.clone()]
    );
    let entries = all_audit(&*store).await.len();
    let mut again = token.clone();
    again.name = "impostor".into();
    match store
        .insert_admin_token(&again, audit("token.create", "tok_1"))
        .await
    {
        Err(StoreError::Conflict { .. }) => {}
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert_eq!(all_audit(&*store).await.len(), entries);
    assert_eq!(
        b.open().await.active_admin_tokens().await.unwrap(),
        vec![token.clone(), token2.clone()],
        "seen by another store, not overwritten"
    );
    b.exec("UPDATE admin_tokens SET revoked_at = 1 WHERE id = 'tok_1'")
        .await;
    assert_eq!(store.active_admin_tokens().await.unwrap(), vec![token2]);
    let actions: Vec<_> = all_audit(&*store)
        .await
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, ["token.create", "token.create"]);
}
