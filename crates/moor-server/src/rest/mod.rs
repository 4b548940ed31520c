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
mod issuers;

use axum::Router;
use axum::routing::{get, post};

use crate::AppState;
pub use auth::Admin;

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
}
