//! Bootstrap tokens (issue 5 item 1): stored without their secret, a use taken once per
//! use left even when two stores race, expiry, revocation and refunds, each audited.

use std::sync::Arc;

use moor_store::{BootstrapToken, ScepRaKey, StoreError};

use crate::backend::Backend;
use crate::fixtures::*;

fn token(id: &str, max_uses: i64, expires_at: i64) -> BootstrapToken {
    BootstrapToken {
        id: id.into(),
        // Bytes a text column would mangle.
        secret_sha256: vec![0x00, 0xff, 0x80, id.len() as u8],
        profile: "device".into(),
        names: vec!["*.devices.example.com".into(), "gw.example.com".into()],
        max_uses,
        uses: 0,
        expires_at,
        owner: Some("team-iot".into()),
        created_at: NOW,
        revoked_at: None,
    }
}

pub async fn bootstrap_tokens_are_used_once_per_use_across_two_stores(b: Backend) {
    let (a, other) = (b.open().await, b.open().await);
    let t = token("btk1", 1, NOW + 3600);
    a.enrollment()
        .create_bootstrap_token(&t, audit("token.bootstrap.create", "btk1"))
        .await
        .unwrap();
    assert_eq!(
        a.enrollment().bootstrap_token("btk1").await.unwrap(),
        Some(t.clone())
    );
    assert!(matches!(
        a.enrollment()
            .create_bootstrap_token(&t, audit("token.bootstrap.create", "btk1"))
            .await,
        Err(StoreError::Conflict { .. })
    ));

    // Twenty tries at once from two stores: one wins.
    let mut tasks = Vec::new();
    for store in [&a, &other] {
        for _ in 0..10 {
            let store = Arc::clone(store);
            tasks.push(tokio::spawn(async move {
                store
                    .enrollment()
                    .use_bootstrap_token("btk1", NOW, audit("token.bootstrap.use", "btk1"))
                    .await
                    .unwrap()
            }));
        }
    }
    let mut won = 0;
    for t in tasks {
        won += usize::from(t.await.unwrap());
    }
    assert_eq!(won, 1);
    assert_eq!(
        a.enrollment()
            .bootstrap_token("btk1")
            .await
            .unwrap()
            .unwrap()
            .uses,
        1
    );
    // Refunded (its issuance failed), it can be used once more.
    a.enrollment()
        .refund_bootstrap_token("btk1", audit("token.bootstrap.refund", "btk1"))
        .await
        .unwrap();
    assert!(
        other
            .enrollment()
            .use_bootstrap_token("btk1", NOW, audit("token.bootstrap.use", "btk1"))
            .await
            .unwrap()
    );

    // Expired and revoked tokens give no use.
    let t2 = token("btk2", 5, NOW + 10);
    a.enrollment()
        .create_bootstrap_token(&t2, audit("token.bootstrap.create", "btk2"))
        .await
        .unwrap();
    assert!(
        !a.enrollment()
            .use_bootstrap_token("btk2", NOW + 10, audit("token.bootstrap.use", "btk2"))
            .await
            .unwrap()
    );
    assert!(
        a.enrollment()
            .use_bootstrap_token("btk2", NOW + 9, audit("token.bootstrap.use", "btk2"))
            .await
            .unwrap()
    );
    a.enrollment()
        .revoke_bootstrap_token("btk2", NOW + 1, audit("token.bootstrap.revoke", "btk2"))
        .await
        .unwrap();
    assert!(
        !a.enrollment()
            .use_bootstrap_token("btk2", NOW + 2, audit("token.bootstrap.use", "btk2"))
            .await
            .unwrap()
    );
    assert!(matches!(
        a.enrollment()
            .revoke_bootstrap_token("btk2", NOW + 3, audit("token.bootstrap.revoke", "btk2"))
            .await,
        Err(StoreError::Conflict { .. })
    ));
    assert!(matches!(
        a.enrollment()
            .revoke_bootstrap_token("nope", NOW + 3, audit("token.bootstrap.revoke", "nope"))
            .await,
        Err(StoreError::NotFound { .. })
    ));
    let listed = other.enrollment().list_bootstrap_tokens(10).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(
        listed.iter().find(|t| t.id == "btk2").unwrap().revoked_at,
        Some(NOW + 1)
    );

    // Audited: 2 creations, 3 uses, 1 refund, 1 revocation; refused uses leave nothing.
    let actions: Vec<String> = all_audit(&*a).await.into_iter().map(|e| e.action).collect();
    let count = |x: &str| actions.iter().filter(|a| *a == x).count();
    assert_eq!(
        (
            count("token.bootstrap.create"),
            count("token.bootstrap.use"),
            count("token.bootstrap.refund"),
            count("token.bootstrap.revoke")
        ),
        (2, 3, 1, 1)
    );
}

fn ra(issuer: &str, period: i64, tag: u8, not_after: i64) -> ScepRaKey {
    ScepRaKey {
        issuer_id: issuer.into(),
        period,
        key_pem: format!("-----BEGIN ENCRYPTED PRIVATE KEY-----\n{tag}\n"),
        // Bytes a text column would mangle.
        cert_der: vec![0x30, 0x00, 0xff, tag],
        serial_hex: format!("{tag:02x}"),
        not_after,
        created_at: NOW,
    }
}

/// Two nodes making the RA key of the same issuer and period at once both end up with
/// the one stored first; only that write is audited; expired ones are not listed.
pub async fn scep_ra_keys_race_to_one_per_period(b: Backend) {
    let (a, other) = (b.open().await, b.open().await);
    let before = a.audit_entries(0, 100_000).await.unwrap().len();
    let (k1, k2) = (ra("ca1", 7, 1, NOW + 1000), ra("ca1", 7, 2, NOW + 1000));
    let (x, y) = tokio::join!(
        a.enrollment()
            .put_scep_ra_key(&k1, audit("scep.ra.create", "ca1")),
        other
            .enrollment()
            .put_scep_ra_key(&k2, audit("scep.ra.create", "ca1")),
    );
    let (x, y) = (x.unwrap(), y.unwrap());
    assert_eq!(x, y, "both see the same key");
    assert!(x == ra("ca1", 7, 1, NOW + 1000) || x == ra("ca1", 7, 2, NOW + 1000));
    let after = a.audit_entries(0, 100_000).await.unwrap();
    assert_eq!(
        after[before..]
            .iter()
            .filter(|e| e.action == "scep.ra.create")
            .count(),
        1,
        "the losing write is not audited"
    );
    // Another period, another issuer, an expired one.
    a.enrollment()
        .put_scep_ra_key(&ra("ca1", 8, 3, NOW + 2000), audit("scep.ra.create", "ca1"))
        .await
        .unwrap();
    a.enrollment()
        .put_scep_ra_key(&ra("ca1", 5, 4, NOW - 1), audit("scep.ra.create", "ca1"))
        .await
        .unwrap();
    a.enrollment()
        .put_scep_ra_key(&ra("ca2", 8, 5, NOW + 2000), audit("scep.ra.create", "ca2"))
        .await
        .unwrap();
    let listed = other.enrollment().scep_ra_keys("ca1", NOW).await.unwrap();
    assert_eq!(
        listed.iter().map(|k| k.period).collect::<Vec<_>>(),
        vec![8, 7],
        "valid ones of ca1, newest first"
    );
    let v = a.verify_audit().await.unwrap();
    assert!(v.ok(), "{v:?}");
}
