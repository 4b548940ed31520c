//! The admin dashboard: server-rendered HTML on the HTTPS listener, no JavaScript.
//!
//! - `session`   — `GET|POST /login` (an admin token, once), `POST /logout`; sessions in
//!   memory, the `__Host-moor_session` cookie (`Secure; HttpOnly; SameSite=Strict`) and the
//!   per-session CSRF token every form carries;
//! - `overview`  — `/`: counts by status, the 90-day expiry chart, issuance per day;
//! - `inventory` — `/inventory?q=…&after=…` (search, quick filters, cursor pages) and
//!   `/inventory/{fingerprint}` (fields, extensions, chain, locations, audit trail, the
//!   revoke form, `POST /inventory/{fingerprint}/revoke`);
//! - `reports`   — `/findings`, `/alerts`, `/issuers` (CRL and OCSP health);
//! - `view`      — dates, links and the SVG bar charts the templates show.
//!
//! Templates are askama files under `crates/moor-server/templates/dashboard/`: every value
//! they print is HTML-escaped. Every response carries a strict Content-Security-Policy,
//! `X-Frame-Options: DENY`, `Referrer-Policy: no-referrer` and `Cache-Control: no-store`.

mod inventory;
mod overview;
mod reports;
mod session;
mod view;

use askama::Template;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use moor_authority::AuthorityError;

use crate::{ApiError, AppState};

pub(crate) use session::AdminSession;

/// The largest dashboard form body (a login token, a CSRF token and a reason).
const MAX_FORM_BYTES: usize = 16 * 1024;

/// The dashboard's routes (HTTPS listener only).
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(overview::page))
        .route("/login", get(session::login_form).post(session::login))
        .route("/logout", post(session::logout))
        .route("/inventory", get(inventory::list))
        .route("/inventory/{fingerprint}", get(inventory::detail))
        .route("/inventory/{fingerprint}/revoke", post(inventory::revoke))
        .route("/findings", get(reports::findings))
        .route("/alerts", get(reports::alerts))
        .route("/issuers", get(reports::issuers))
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
        .layer(axum::middleware::from_fn(security_headers))
}

/// The page chrome: who is signed in, the CSRF token of the logout form, the active tab.
pub(crate) struct Chrome {
    pub who: String,
    pub csrf: String,
    pub tab: &'static str,
}

impl Chrome {
    pub(crate) fn new(s: &AdminSession, tab: &'static str) -> Chrome {
        Chrome {
            who: s.who.id(),
            csrf: s.csrf.clone(),
            tab,
        }
    }
}

#[derive(Template)]
#[template(path = "dashboard/error.html")]
struct ErrorPage<'a> {
    chrome: Option<Chrome>,
    status: u16,
    reason: &'a str,
    message: &'a str,
}

/// An HTML error page with `status` (the message is shown escaped; never internal detail).
pub(crate) fn error_page(chrome: Option<Chrome>, status: StatusCode, message: &str) -> Response {
    let page = ErrorPage {
        chrome,
        status: status.as_u16(),
        reason: status.canonical_reason().unwrap_or("Error"),
        message,
    };
    let mut r = render(&page);
    *r.status_mut() = status;
    r
}

/// An authority error as an HTML page: the status and message the REST API would give
/// (internal errors are logged with a request id and shown only as that id).
pub(crate) fn authority_error(chrome: Option<Chrome>, e: AuthorityError) -> Response {
    let api = ApiError::from(e);
    error_page(chrome, api.status, &api.message)
}

/// Render a template, or a bare 500 if it fails (logged).
pub(crate) fn render<T: Template>(t: &T) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(error) => {
            tracing::error!(%error, "dashboard template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// The page shown when the server runs without an inventory.
pub(crate) fn no_inventory(chrome: Chrome) -> Response {
    error_page(
        Some(chrome),
        StatusCode::NOT_FOUND,
        "the inventory is not enabled on this server",
    )
}

/// Security headers on every dashboard response.
async fn security_headers(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}
