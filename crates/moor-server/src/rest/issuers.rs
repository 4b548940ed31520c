//! `GET /api/v1/issuers`.

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use super::Admin;
use crate::AppState;

#[derive(Serialize)]
pub(crate) struct IssuerView {
    id: String,
    kind: String,
    algorithm: String,
    parent: Option<String>,
    fingerprint: String,
    subject: String,
    not_after: i64,
    key: &'static str,
    certificate: String,
}

pub(crate) async fn list(State(s): State<AppState>, _admin: Admin) -> Json<Vec<IssuerView>> {
    let views = s
        .authority
        .issuer_records()
        .iter()
        .map(|r| IssuerView {
            id: r.id.clone(),
            kind: r.kind.clone(),
            algorithm: r.algorithm.clone(),
            parent: r.parent_id.clone(),
            fingerprint: r.fingerprint.clone(),
            subject: moor_authority::trust_anchor::cert_subject(&r.cert_der).unwrap_or_default(),
            not_after: moor_authority::trust_anchor::cert_not_after(&r.cert_der)
                .unwrap_or_default(),
            key: if r.key_ref == "offline" {
                "offline"
            } else {
                "online"
            },
            certificate: moor_authority::trust_anchor::pem_certs(&[&r.cert_der]),
        })
        .collect();
    Json(views)
}
