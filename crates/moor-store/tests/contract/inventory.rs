//! The inventory (issue 6): issued certificates enter it with their issuance and follow
//! revocation and renewal; reports add discovered ones with their locations and mark
//! what is no longer seen; searches page through every match once; findings and alerts.

use std::collections::BTreeMap;

use moor_store::Store;
use moor_store::inventory::{
    DeliveryOutcome, FindingKind, FindingParams, InventoryReport, ItemUpdate, NewAlert,
    NewInventoryItem, Search, Sighting, Status, query,
};

use crate::backend::Backend;
use crate::fixtures::*;

fn found(fp: &str, subject: &str, issuer: &str, sans: &[&str], not_after: i64) -> NewInventoryItem {
    NewInventoryItem {
        fingerprint: format!("{fp:a>64}"),
        kind: "x509".into(),
        subject: subject.into(),
        issuer: issuer.into(),
        serial_hex: fp.into(),
        sans: sans.iter().map(|s| s.to_string()).collect(),
        key_algorithm: "ecdsa-p256".into(),
        signature_algorithm: "ecdsa-with-SHA256".into(),
        spki_sha256: format!("{fp:b>64}"),
        not_before: not_after - 90 * DAY,
        not_after,
        chain_position: "leaf".into(),
        self_signed: false,
        der: vec![0x30, 0x00, fp.len() as u8],
    }
}

fn tls(endpoint: &str, items: Vec<NewInventoryItem>, authoritative: bool) -> Sighting {
    Sighting {
        kind: "tls".into(),
        host: endpoint
            .rsplit_once(':')
            .map(|(h, _)| h)
            .unwrap_or(endpoint)
            .into(),
        endpoint: endpoint.into(),
        sni: String::new(),
        items,
        authoritative,
    }
}

fn file(host: &str, path: &str, items: Vec<NewInventoryItem>) -> Sighting {
    Sighting {
        kind: "file".into(),
        host: host.into(),
        endpoint: path.into(),
        sni: String::new(),
        items,
        authoritative: true,
    }
}

async fn search(s: &dyn Store, q: &str, now: i64) -> Vec<String> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = s
            .inventory()
            .search_inventory(&Search {
                query: query::parse(q, now).expect("query"),
                after: after.clone(),
                limit: 2,
                now,
                expiring_window: 30 * DAY,
            })
            .await
            .expect("search");
        out.extend(page.items.iter().map(|i| i.serial_hex.clone()));
        match page.next {
            Some(n) => after = Some(n),
            None => return out,
        }
    }
}

pub async fn issued_certificates_enter_and_follow_revocation_and_renewal(b: Backend) {
    let s = b.open().await;
    s.insert_issuer(&issuer("root", None), audit("issuer.create", "root"))
        .await
        .unwrap();
    let mut c = cert(
        "a1",
        "root",
        "server",
        &["dns:Web.Example.com", "ip:10.0.0.1"],
        NOW + 60 * DAY,
    );
    c.requester = "acme:acct1".into();
    s.record_issuance(c, audit("certificate.issue", "a1"))
        .await
        .unwrap();
    s.record_issuance(
        cert(
            "a2",
            "root",
            "server",
            &["dns:web.example.com"],
            NOW + 10 * DAY,
        ),
        audit("certificate.issue", "a2"),
    )
    .await
    .unwrap();

    assert_eq!(search(&*s, "web.example.com", NOW).await, vec!["a1", "a2"]);
    // Per day: both issued the day before NOW; one ends in 10 days, one in 60.
    let issued = s
        .inventory()
        .issuance_histogram(NOW - 2 * DAY, NOW)
        .await
        .unwrap();
    assert_eq!(issued, vec![((NOW - DAY) / DAY, 2)]);
    let ending = s
        .inventory()
        .expiry_histogram(NOW, NOW + 30 * DAY)
        .await
        .unwrap();
    assert_eq!(ending, vec![((NOW + 10 * DAY) / DAY, 1)]);
    assert_eq!(search(&*s, "ip=10.0.0.1", NOW).await, vec!["a1"]);
    assert_eq!(search(&*s, "source=acme", NOW).await, vec!["a1"]);
    assert_eq!(
        search(&*s, "issuer=root status=expiring", NOW).await,
        vec!["a2"]
    );
    let (item, locations, der) = s
        .inventory()
        .inventory_item(&format!("{:f>64}", "a1"))
        .await
        .unwrap()
        .expect("item");
    assert_eq!(item.issuer_id.as_deref(), Some("root"));
    assert_eq!(item.signature_algorithm, "ecdsa-with-SHA256");
    assert_eq!(item.status_at(NOW, 30 * DAY), Status::Active);
    assert!(locations.is_empty());
    assert_eq!(
        der,
        [&[0x30, 0x00, 0xff][..], b"a1"].concat(),
        "the DER comes from certificates"
    );

    s.revoke_certificate("a2", NOW, 1, audit("certificate.revoke", "a2"))
        .await
        .unwrap();
    s.enrollment()
        .record_renewal("a2", "a1", NOW, audit("certificate.renew", "a2"))
        .await
        .unwrap();
    assert_eq!(search(&*s, "status=revoked", NOW).await, vec!["a2"]);
    assert_eq!(search(&*s, "status=superseded", NOW).await, vec!["a1"]);
    assert_eq!(
        search(&*s, "status=active", NOW).await,
        Vec::<String>::new()
    );
    let counts = s.inventory().inventory_counts(NOW, 30 * DAY).await.unwrap();
    assert_eq!(
        (counts["total"], counts["revoked"], counts["superseded"]),
        (2, 1, 1)
    );
    assert!(s.verify_audit().await.unwrap().first_failure.is_none());
}

pub async fn reports_record_locations_and_mark_what_is_gone(b: Backend) {
    let s = b.open().await;
    let x = found(
        "0x",
        "CN=x",
        "CN=Other CA",
        &["dns:x.example"],
        NOW + 100 * DAY,
    );
    let y = found(
        "0y",
        "CN=y",
        "CN=Other CA",
        &["dns:y.example"],
        NOW + 100 * DAY,
    );
    let k = found(
        "0k",
        "CN=k",
        "CN=Other CA",
        &["dns:k.example"],
        NOW + 100 * DAY,
    );
    let ack = s
        .inventory()
        .ingest_report(
            InventoryReport {
                now: NOW,
                sightings: vec![
                    tls("10.0.0.5:443", vec![x.clone()], true),
                    tls("10.0.0.6:443", vec![x.clone()], true),
                    file("h1", "/etc/ssl/k.pem", vec![k.clone()]),
                ],
                file_scope: Some(("h1".into(), vec!["/etc/ssl".into()])),
                key_files: vec![(
                    "h1".into(),
                    "/etc/ssl/k.key".into(),
                    "pkcs8".into(),
                    0o644,
                    0,
                )],
                mark: 0,
            },
            audit("inventory.report", "h1"),
        )
        .await
        .unwrap();
    assert_eq!(
        (
            ack.certificates,
            ack.new,
            ack.locations,
            ack.gone,
            ack.key_files
        ),
        (3, 2, 3, 0, 1)
    );
    assert_eq!(search(&*s, "location=10.0.0.5", NOW).await, vec!["0x"]);
    assert_eq!(
        search(&*s, "location=/etc/ssl seen=live", NOW).await,
        vec!["0k"]
    );
    let (item, locs, der) = s
        .inventory()
        .inventory_item(&x.fingerprint)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (item.source.as_str(), item.first_seen, item.last_seen),
        ("discovered", Some(NOW), Some(NOW))
    );
    assert_eq!(locs.len(), 2);
    assert_eq!(der, x.der);

    // A day later: .5 serves y now, .6 is unreachable, the file is gone.
    let later = NOW + DAY;
    let ack = s
        .inventory()
        .ingest_report(
            InventoryReport {
                now: later,
                sightings: vec![
                    tls("10.0.0.5:443", vec![y.clone()], true),
                    tls("10.0.0.6:443", vec![], false),
                ],
                file_scope: Some(("h1".into(), vec!["/etc/ssl/".into()])),
                key_files: vec![],
                mark: 0,
            },
            audit("inventory.report", "h1"),
        )
        .await
        .unwrap();
    assert_eq!(
        (ack.new, ack.gone),
        (1, 3),
        "x at .5, the certificate file and the key file"
    );
    let (_, locs, _) = s
        .inventory()
        .inventory_item(&x.fingerprint)
        .await
        .unwrap()
        .unwrap();
    let gone: BTreeMap<_, _> = locs
        .iter()
        .map(|l| (l.endpoint.clone(), l.gone_at))
        .collect();
    assert_eq!(gone["10.0.0.5:443"], Some(later));
    assert_eq!(
        gone["10.0.0.6:443"], None,
        "unreachable is not proof it is gone"
    );
    assert_eq!(search(&*s, "seen=gone", later).await, vec!["0k"]);
    assert_eq!(search(&*s, "seen=live", later).await, vec!["0x", "0y"]);
    let (yi, _, _) = s
        .inventory()
        .inventory_item(&y.fingerprint)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(yi.first_seen, Some(later));
    // Seen again: the location is live again, first_seen kept.
    s.inventory()
        .ingest_report(
            InventoryReport {
                now: later + 10,
                sightings: vec![tls("10.0.0.5:443", vec![x.clone(), y.clone()], true)],
                ..Default::default()
            },
            audit("inventory.report", "h1"),
        )
        .await
        .unwrap();
    let (xi, locs, _) = s
        .inventory()
        .inventory_item(&x.fingerprint)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((xi.first_seen, xi.last_seen), (Some(NOW), Some(later + 10)));
    assert!(
        locs.iter()
            .all(|l| l.endpoint != "10.0.0.5:443" || l.gone_at.is_none())
    );
    assert!(s.verify_audit().await.unwrap().first_failure.is_none());
}

pub async fn searches_by_label_owner_expiry_and_page_every_match_once(b: Backend) {
    let s = b.open().await;
    let items: Vec<_> = (0..9)
        .map(|n| {
            found(
                &format!("{n:02}"),
                &format!("CN=svc{n}"),
                "CN=Other CA",
                &[&format!("dns:svc{n}.example")],
                NOW + (9 - n) * DAY,
            )
        })
        .collect();
    s.inventory()
        .ingest_report(
            InventoryReport {
                now: NOW,
                sightings: vec![tls("10.1.1.1:443", items.clone(), true)],
                ..Default::default()
            },
            audit("inventory.report", "scan"),
        )
        .await
        .unwrap();
    for (n, it) in items.iter().enumerate().filter(|(n, _)| n % 3 == 0) {
        let labels = BTreeMap::from([
            ("env".to_string(), "prod".to_string()),
            ("app".to_string(), format!("a{n}")),
        ]);
        let updated = s
            .inventory()
            .update_inventory_item(
                &it.fingerprint,
                ItemUpdate {
                    owner: Some(Some("alice@example.com".into())),
                    team: Some(Some("payments".into())),
                    labels: Some(labels.clone()),
                },
                audit("inventory.update", &it.fingerprint),
            )
            .await
            .unwrap();
        assert_eq!(updated.labels, labels);
    }
    assert_eq!(
        search(&*s, "label:env=prod", NOW).await,
        vec!["00", "03", "06"]
    );
    assert_eq!(
        search(&*s, "label:env=prod label:app=a3", NOW).await,
        vec!["03"]
    );
    assert_eq!(
        search(&*s, "team=payments owner~ALICE", NOW).await,
        vec!["00", "03", "06"]
    );
    assert_eq!(
        search(&*s, "subject~svc_", NOW).await,
        Vec::<String>::new(),
        "_ is literal"
    );
    // Expiry order, soonest first, paged two at a time.
    assert_eq!(
        search(&*s, "expires<5d", NOW).await,
        vec!["08", "07", "06", "05"]
    );
    assert_eq!(
        search(&*s, "expires>5d expires<8d label:env=prod", NOW).await,
        vec!["03"]
    );
    assert_eq!(search(&*s, "", NOW).await.len(), 9);
    // Clearing owner and labels.
    s.inventory()
        .update_inventory_item(
            &items[0].fingerprint,
            ItemUpdate {
                owner: Some(None),
                team: None,
                labels: Some(BTreeMap::new()),
            },
            audit("inventory.update", "00"),
        )
        .await
        .unwrap();
    assert_eq!(search(&*s, "label:env=prod", NOW).await, vec!["03", "06"]);
    // Refusals: unknown item, bad labels, a forged cursor.
    assert!(
        s.inventory()
            .update_inventory_item("nope", ItemUpdate::default(), audit("x", "y"))
            .await
            .is_err()
    );
    let bad = ItemUpdate {
        labels: Some(BTreeMap::from([("bad name".to_string(), "v".to_string())])),
        ..Default::default()
    };
    assert!(
        s.inventory()
            .update_inventory_item(&items[1].fingerprint, bad, audit("x", "y"))
            .await
            .is_err()
    );
    let forged = s
        .inventory()
        .search_inventory(&Search {
            query: query::parse("expires<5d", NOW).unwrap(),
            after: Some("i5".into()),
            limit: 10,
            now: NOW,
            expiring_window: 0,
        })
        .await;
    assert!(forged.is_err());
}

pub async fn findings_select_their_candidates(b: Backend) {
    let s = b.open().await;
    s.insert_issuer(&issuer("root", None), audit("issuer.create", "root"))
        .await
        .unwrap();
    // Issued: one deployed, one orphan, one revoked but served.
    for serial in ["d1", "o1", "r1"] {
        s.record_issuance(
            cert(
                serial,
                "root",
                "server",
                &[&format!("dns:{serial}.example")],
                NOW + 200 * DAY,
            ),
            audit("certificate.issue", serial),
        )
        .await
        .unwrap();
    }
    s.revoke_certificate("r1", NOW, 1, audit("certificate.revoke", "r1"))
        .await
        .unwrap();
    let issued = |serial: &str| {
        let mut f = found(
            serial,
            &format!("CN={serial}"),
            "root",
            &[],
            NOW + 200 * DAY,
        );
        f.fingerprint = format!("{serial:f>64}");
        f
    };
    let mut weak = found("w1", "CN=w1", "CN=Other CA", &[], NOW + 100 * DAY);
    weak.key_algorithm = "rsa-1024".into();
    weak.signature_algorithm = "sha1WithRSAEncryption".into();
    let mut big = found("b1", "CN=b1", "CN=Other CA", &[], NOW + 100 * DAY);
    big.key_algorithm = "rsa-4096".into();
    let mut selfsigned = found("s1", "CN=s1", "CN=s1", &[], NOW + 100 * DAY);
    selfsigned.self_signed = true;
    let expired = found("e1", "CN=e1", "CN=Other CA", &[], NOW - DAY);
    let soon = found("x1", "CN=x1", "CN=Other CA", &[], NOW + 5 * DAY);
    let mut ca = found("ca", "CN=Other CA", "CN=Root", &[], NOW + 900 * DAY);
    ca.chain_position = "intermediate".into();
    let mut stranger = found("u1", "CN=u1", "CN=Nobody", &[], NOW + 100 * DAY);
    let mut twin = found("u2", "CN=u2", "CN=Nobody", &[], NOW + 100 * DAY);
    twin.spki_sha256 = stranger.spki_sha256.clone();
    stranger.sans = vec!["dns:u1.example".into()];
    s.inventory()
        .ingest_report(
            InventoryReport {
                now: NOW,
                sightings: vec![
                    tls("10.2.0.1:443", vec![issued("d1")], true),
                    tls("10.2.0.2:443", vec![issued("r1")], true),
                    tls("10.2.0.3:443", vec![weak, ca.clone()], true),
                    tls("10.2.0.4:443", vec![big, selfsigned, expired, soon], true),
                    tls("10.2.0.5:443", vec![stranger, twin], true),
                ],
                file_scope: None,
                key_files: vec![
                    ("h".into(), "/k/open.key".into(), "pkcs8".into(), 0o644, 0),
                    ("h".into(), "/k/group.key".into(), "pkcs8".into(), 0o640, 0),
                    ("h".into(), "/k/closed.key".into(), "pkcs8".into(), 0o600, 0),
                ],
                mark: 0,
            },
            audit("inventory.report", "scan"),
        )
        .await
        .unwrap();
    let params = FindingParams {
        now: NOW,
        expiring_within: 30 * DAY,
        orphan_after: 0,
        limit: 100,
        ..Default::default()
    };
    let mut got = BTreeMap::new();
    for kind in FindingKind::ALL {
        let rows = s.inventory().finding_rows(kind, &params).await.unwrap();
        let mut names: Vec<String> = rows.items.iter().map(|i| i.serial_hex.clone()).collect();
        names.extend(rows.key_files.iter().map(|k| k.path.clone()));
        got.insert(kind.as_str(), names);
    }
    let want: BTreeMap<&str, Vec<String>> = [
        ("expiring", vec!["x1"]),
        ("expired-served", vec!["e1"]),
        ("revoked-served", vec!["r1"]),
        ("weak-key", vec!["w1"]),
        ("weak-signature", vec!["w1"]),
        ("shared-key", vec!["u1", "u2"]),
        ("self-signed-leaf", vec!["s1"]),
        ("unknown-issuer", vec!["u1", "u2"]),
        ("orphan", vec!["o1"]),
        ("key-file-readable", vec!["/k/group.key", "/k/open.key"]),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(got, want);
}

pub async fn alerts_are_raised_once_and_deliveries_retried(b: Backend) {
    let (s, other) = (b.open().await, b.open().await);
    let alert = |target: &str| NewAlert {
        rule: "expiry".into(),
        finding: "expiring".into(),
        subject_key: "abc".into(),
        payload: r#"{"finding":"expiring"}"#.into(),
        targets: vec![target.into(), "log".into()],
        now: NOW,
    };
    let id = s
        .inventory()
        .raise_alert(alert("http://hook/1"))
        .await
        .unwrap();
    assert!(id.is_some());
    assert_eq!(
        other
            .inventory()
            .raise_alert(alert("http://hook/1"))
            .await
            .unwrap(),
        None
    );
    let due = s.inventory().due_deliveries(NOW, 10).await.unwrap();
    assert_eq!(due.len(), 2);
    let hook = due
        .iter()
        .find(|d| d.target == "http://hook/1")
        .expect("hook");
    assert_eq!((hook.rule.as_str(), hook.attempts), ("expiry", 0));
    s.inventory()
        .record_delivery(
            hook.id,
            DeliveryOutcome::Retry {
                next_attempt: NOW + 5,
                error: "503".into(),
            },
        )
        .await
        .unwrap();
    let log = due.iter().find(|d| d.target == "log").expect("log");
    s.inventory()
        .record_delivery(log.id, DeliveryOutcome::Delivered { at: NOW })
        .await
        .unwrap();
    assert!(
        s.inventory()
            .due_deliveries(NOW, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let due = s.inventory().due_deliveries(NOW + 5, 10).await.unwrap();
    assert_eq!(
        (due.len(), due[0].attempts, due[0].last_error.as_deref()),
        (1, 1, Some("503"))
    );
    s.inventory()
        .record_delivery(due[0].id, DeliveryOutcome::Delivered { at: NOW + 5 })
        .await
        .unwrap();
    let all = s.inventory().recent_deliveries(10).await.unwrap();
    assert!(all.iter().all(|d| d.delivered_at.is_some()));
    assert_eq!(all.iter().map(|d| d.attempts).sum::<i64>(), 3);
}

pub async fn finding_thresholds_labels_unalerted_locations_and_claims(b: Backend) {
    let (s, other) = (b.open().await, b.open().await);
    let a = found("fa", "CN=a", "CN=X", &[], NOW + 20 * DAY);
    let p = found("fb", "CN=b", "CN=X", &[], NOW + 40 * DAY);
    let c = found("fc", "CN=c", "CN=X", &[], NOW + 40 * DAY);
    s.inventory()
        .ingest_report(
            InventoryReport {
                now: NOW,
                sightings: vec![
                    tls("10.3.0.1:443", vec![a.clone(), p.clone()], true),
                    tls("10.3.0.2:443", vec![c.clone(), a.clone()], true),
                ],
                ..Default::default()
            },
            audit("inventory.report", "scan"),
        )
        .await
        .unwrap();
    s.inventory()
        .update_inventory_item(
            &p.fingerprint,
            ItemUpdate {
                labels: Some(BTreeMap::from([("env".to_string(), "prod".to_string())])),
                ..Default::default()
            },
            audit("inventory.update", "fb"),
        )
        .await
        .unwrap();
    let serials = |rows: &moor_store::inventory::FindingRows| {
        rows.items
            .iter()
            .map(|i| i.serial_hex.clone())
            .collect::<Vec<_>>()
    };
    let mut params = FindingParams {
        now: NOW,
        expiring_within: 30 * DAY,
        thresholds: vec![("env".into(), "prod".into(), 45 * DAY)],
        limit: 100,
        ..Default::default()
    };
    let rows = s
        .inventory()
        .finding_rows(FindingKind::Expiring, &params)
        .await
        .unwrap();
    assert_eq!(
        serials(&rows),
        vec!["fa", "fb"],
        "b by its label's 45 days, c not"
    );
    params.labels = vec![("env".into(), "prod".into())];
    let rows = s
        .inventory()
        .finding_rows(FindingKind::Expiring, &params)
        .await
        .unwrap();
    assert_eq!(serials(&rows), vec!["fb"]);
    params.labels.clear();
    // A rule sees what it has not alerted on yet.
    let id = s
        .inventory()
        .raise_alert(NewAlert {
            rule: "r".into(),
            finding: "expiring".into(),
            subject_key: a.fingerprint.clone(),
            payload: "{}".into(),
            targets: vec!["http://127.0.0.1:9/x".into()],
            now: NOW,
        })
        .await
        .unwrap();
    assert!(id.is_some());
    params.unalerted = Some("r".into());
    let rows = s
        .inventory()
        .finding_rows(FindingKind::Expiring, &params)
        .await
        .unwrap();
    assert_eq!(serials(&rows), vec!["fb"]);
    params.unalerted = Some("another-rule".into());
    let rows = s
        .inventory()
        .finding_rows(FindingKind::Expiring, &params)
        .await
        .unwrap();
    assert_eq!(serials(&rows).len(), 2);
    // Live locations in one query.
    let ids: Vec<i64> = rows.items.iter().map(|i| i.id).collect();
    let places = s.inventory().live_locations(&ids, 10).await.unwrap();
    let a_id = rows.items.iter().find(|i| i.serial_hex == "fa").unwrap().id;
    let mut ends: Vec<String> = places[&a_id].iter().map(|l| l.endpoint.clone()).collect();
    ends.sort();
    assert_eq!(ends, vec!["10.3.0.1:443", "10.3.0.2:443"]);
    assert_eq!(
        s.inventory().live_locations(&ids, 1).await.unwrap()[&a_id].len(),
        1
    );
    // A delivery is claimed once, whichever store asks.
    let due = s.inventory().due_deliveries(NOW, 10).await.unwrap();
    assert_eq!(due.len(), 1);
    let (d, at) = (due[0].id, due[0].next_attempt);
    assert!(
        s.inventory()
            .claim_delivery(d, at, NOW + 120)
            .await
            .unwrap()
    );
    assert!(
        !other
            .inventory()
            .claim_delivery(d, at, NOW + 120)
            .await
            .unwrap()
    );
    assert!(
        s.inventory()
            .due_deliveries(NOW, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.inventory()
            .due_deliveries(NOW + 120, 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

pub async fn a_report_in_parts_sweeps_once_and_spares_what_it_could_not_read(b: Backend) {
    let s = b.open().await;
    let a = found("pa", "CN=a", "CN=X", &[], NOW + 100 * DAY);
    let c = found("pc", "CN=c", "CN=X", &[], NOW + 100 * DAY);
    let d = found("pd", "CN=d", "CN=X", &[], NOW + 100 * DAY);
    let report = |now, sightings, scope: bool, mark| InventoryReport {
        now,
        sightings,
        file_scope: scope.then(|| ("h".to_string(), vec!["/p".to_string()])),
        key_files: vec![],
        mark,
    };
    s.inventory()
        .ingest_report(
            report(
                NOW,
                vec![
                    file("h", "/p/a.pem", vec![a.clone()]),
                    file("h", "/p/sub/c.pem", vec![c.clone()]),
                    file("h", "/p/d.pem", vec![d.clone()]),
                ],
                true,
                0,
            ),
            audit("inventory.report", "h"),
        )
        .await
        .unwrap();
    // Later, in two parts with one mark: a.pem seen in the first, /p/sub unreadable in the
    // first, the sweep with the second; d.pem is gone.
    let mark = moor_store::inventory::report_mark().unwrap();
    let mut unreadable = file("h", "/p/sub", vec![]);
    unreadable.authoritative = false;
    let ack1 = s
        .inventory()
        .ingest_report(
            report(
                NOW + DAY,
                vec![file("h", "/p/a.pem", vec![a.clone()]), unreadable],
                false,
                mark,
            ),
            audit("inventory.report", "h"),
        )
        .await
        .unwrap();
    assert_eq!(ack1.gone, 0);
    let ack2 = s
        .inventory()
        .ingest_report(
            report(NOW + DAY + 1, vec![], true, mark),
            audit("inventory.report", "h"),
        )
        .await
        .unwrap();
    assert_eq!(ack2.gone, 1, "only d.pem");
    for (it, gone) in [(&a, false), (&c, false), (&d, true)] {
        let (_, locs, _) = s
            .inventory()
            .inventory_item(&it.fingerprint)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(locs[0].gone_at.is_some(), gone, "{}", it.serial_hex);
    }
}
