//! Builders for the records the tests write, and small readers.

use moor_store::{
    AuditEntry, CertificateFilter, CertificateRecord, CrlRecord, IssuerRecord, NewAuditEntry,
    NewCertificate, Store,
};

pub const NOW: i64 = 1_800_000_000;
pub const DAY: i64 = 86_400;

pub fn issuer(id: &str, parent: Option<&str>) -> IssuerRecord {
    IssuerRecord {
        id: id.into(),
        kind: if parent.is_some() {
            "intermediate"
        } else {
            "root"
        }
        .into(),
        algorithm: "ecdsa-p256".into(),
        cert_der: vec![0x30, 0x82, 0x01, id.len() as u8, 0x00, 0xff],
        parent_id: parent.map(Into::into),
        key_ref: format!("keys/{id}.p8"),
        fingerprint: format!("{:0>64}", id.len()),
        created_at: NOW - 10 * DAY,
    }
}

pub fn audit(action: &str, subject: &str) -> NewAuditEntry {
    NewAuditEntry {
        ts: NOW,
        actor: "cli".into(),
        action: action.into(),
        subject: subject.into(),
        detail: format!(r#"{{"subject":"{subject}"}}"#),
    }
}

pub fn cert(
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
        // Bytes a text column would mangle (NUL, invalid UTF-8).
        der: [&[0x30, 0x00, 0xff][..], serial.as_bytes()].concat(),
        created_at: NOW - DAY,
    }
}

/// `cert` for the public key `spki`.
pub fn cert_for_key(serial: &str, spki: &str) -> NewCertificate {
    NewCertificate {
        spki_sha256: spki.into(),
        ..cert(serial, "default", "tls-server", &[], NOW + DAY)
    }
}

pub fn serial(i: usize) -> String {
    format!(
        "{:032x}",
        0x5a5a_0000_0000_0000_0000_0000_0000_0000u128 + i as u128
    )
}

pub fn filter() -> CertificateFilter {
    CertificateFilter {
        limit: 1000,
        now: NOW,
        ..Default::default()
    }
}

pub fn crl(issuer_id: &str, number: i64, delta_base: Option<i64>) -> CrlRecord {
    CrlRecord {
        issuer_id: issuer_id.into(),
        number,
        delta_base,
        this_update: NOW + number,
        next_update: NOW + number + DAY,
        revocation_seq: number * 10,
        entries: number + 1,
        der: [
            &[0x30, 0x00, 0xff][..],
            format!("{issuer_id}-{number}").as_bytes(),
        ]
        .concat(),
    }
}

/// Insert the issuer `default` (a root).
pub async fn with_issuer(store: &dyn Store) {
    store
        .insert_issuer(&issuer("default", None), audit("issuer.create", "default"))
        .await
        .expect("insert issuer default");
}

/// Issue `serial` under `default` (tls-server, valid a day past NOW).
pub async fn issue(store: &dyn Store, serial: &str) {
    store
        .record_issuance(
            cert(serial, "default", "tls-server", &[], NOW + DAY),
            audit("issue", serial),
        )
        .await
        .unwrap_or_else(|e| panic!("issue {serial}: {e}"));
}

pub async fn all_audit(store: &dyn Store) -> Vec<AuditEntry> {
    store
        .audit_entries(0, i64::MAX)
        .await
        .expect("audit entries")
}

pub async fn all_certificates(store: &dyn Store) -> Vec<CertificateRecord> {
    store
        .list_certificates(&CertificateFilter {
            limit: 100_000,
            ..filter()
        })
        .await
        .expect("list certificates")
}

pub fn serials(certs: &[CertificateRecord]) -> Vec<String> {
    certs.iter().map(|c| c.serial_hex.clone()).collect()
}

/// What `store` holds for `new`, right after recording it.
pub fn stored(new: &NewCertificate, id: i64) -> CertificateRecord {
    CertificateRecord {
        id,
        serial_hex: new.serial_hex.clone(),
        issuer_id: new.issuer_id.clone(),
        profile: new.profile.clone(),
        subject: new.subject.clone(),
        sans: new.sans.clone(),
        not_before: new.not_before,
        not_after: new.not_after,
        requester: new.requester.clone(),
        key_algorithm: new.key_algorithm.clone(),
        fingerprint: new.fingerprint.clone(),
        spki_sha256: new.spki_sha256.clone(),
        der: new.der.clone(),
        status: "valid".into(),
        revoked_at: None,
        revocation_reason: None,
        created_at: new.created_at,
    }
}
