//! The REST JSON API under `/api/v1/`: certificates, issuers and ACME administration.
//!
//! Every route here needs an admin — a bearer token (`Authorization: Bearer moor_…`)
//! or an mTLS client certificate of the `admin` profile — except `POST /enroll`, whose
//! bearer credential is a bootstrap token (`mbt_…`), and `POST /renew`, whose credential
//! is the TLS client certificate being renewed.

mod acme;
mod auth;
mod certificates;
mod enrollment;
pub(crate) mod inventory;
mod issuers;

use axum::Router;
use axum::routing::{get, post};

use crate::AppState;
pub use auth::Admin;
pub(crate) use auth::bearer;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/certificates",
            post(certificates::issue).get(certificates::list),
        )
        .route("/certificates/{serial}", get(certificates::show))
        .route("/certificates/{serial}/revoke", post(certificates::revoke))
        .route("/issuers", get(issuers::list))
        .route("/enroll", post(enrollment::enroll))
        .route("/renew", post(enrollment::renew))
        .route("/oidc/{provider}/enroll", post(enrollment::oidc_enroll))
        .route(
            "/bootstrap-tokens",
            post(enrollment::create).get(enrollment::list),
        )
        .route("/bootstrap-tokens/{id}/revoke", post(enrollment::revoke))
        .route("/acme/eab", post(acme::create_eab))
        .route("/acme/renewal-overrides", post(acme::override_renewal))
        .route("/inventory", get(inventory::search))
        .route("/inventory/overview", get(inventory::overview))
        .route("/inventory/actions", post(inventory::action))
        .route(
            "/inventory/{fingerprint}",
            get(inventory::show).patch(inventory::update),
        )
        .route("/findings", get(inventory::findings))
        .route("/alerts/deliveries", get(inventory::deliveries))
}

/// `POST /api/v1/inventory/reports`, apart: its body may be up to
/// [`inventory::MAX_REPORT_BYTES`], not the API's usual limit.
pub(crate) fn report_routes() -> Router<AppState> {
    Router::new().route("/api/v1/inventory/reports", post(inventory::report))
}
