//! Dashboard sign-in: an admin token exchanged once for a session.
//!
//! - `GET /login` shows the form with a fresh login CSRF token, also set as the
//!   `__Host-moor_login` cookie (double submit: a cross-site page cannot read or set it, so it
//!   cannot sign a victim in to the attacker's session);
//! - `POST /login` checks that pair, authenticates the token
//!   ([`moor_authority::Authority::authenticate_token`]) and starts a session: a random
//!   256-bit id in the `__Host-moor_session` cookie (`Secure; HttpOnly; SameSite=Strict`), kept in
//!   memory for at most [`IDLE`] without use, with its own random CSRF token;
//! - `POST /logout` ends it.
//!
//! The token itself is never kept, logged or put in a URL; sessions are looked up by the
//! SHA-256 of their id. A session whose admin token was revoked ends within
//! [`TOKEN_RECHECK`]. Sessions live in this process: a restart signs everyone out.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use askama::Template;
use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use moor_authority::{AuthorityError, Credential, Requester};
use moor_store::NewAuditEntry;
use serde::Deserialize;

use super::{Chrome, authority_error, error_page, render};
use crate::AppState;

/// A session unused this long is over.
pub(crate) const IDLE: Duration = Duration::from_secs(8 * 3600);
/// How often a session's admin token is checked to still be active.
pub(crate) const TOKEN_RECHECK: Duration = Duration::from_secs(60);
/// At most this many sessions at once (the least recently used one goes first).
const MAX_SESSIONS: usize = 1024;
/// The longest admin token accepted from the form.
const MAX_TOKEN_LEN: usize = 512;
/// The session cookie.
pub(crate) const SESSION_COOKIE: &str = "__Host-moor_session";
/// The login CSRF cookie (double submit).
const LOGIN_COOKIE: &str = "__Host-moor_login";

/// A signed-in admin. Dashboard handlers that take it cannot run without a session;
/// without one the request is redirected to `/login`.
pub(crate) struct AdminSession {
    /// Who signed in: the actor of everything done in this session.
    pub who: Requester,
    /// The session's CSRF token (hex), the hidden `csrf` field of every form.
    pub csrf: String,
    /// SHA-256 of the session id (hex): the key in the session table.
    key: String,
}

impl AdminSession {
    /// Check the `csrf` field of a form against the session's token, in constant time:
    /// a missing or wrong one gives the 403 page to answer with.
    pub(crate) fn refuse_csrf(&self, presented: Option<&str>) -> Option<Response> {
        match presented {
            Some(p) if same(p, &self.csrf) => None,
            _ => Some(error_page(
                Some(Chrome::new(self, "")),
                StatusCode::FORBIDDEN,
                "The form's CSRF token is missing or wrong. Reload the page and try again.",
            )),
        }
    }
}

struct Session {
    who: Requester,
    csrf: String,
    last_used: Instant,
    /// When the admin token was last found active.
    checked: Instant,
}

fn table() -> MutexGuard<'static, HashMap<String, Session>> {
    static SESSIONS: OnceLock<Mutex<HashMap<String, Session>>> = OnceLock::new();
    SESSIONS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

impl FromRequestParts<AppState> for AdminSession {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let to_login = || Redirect::to("/login").into_response();
        let id = cookie(&parts.headers, SESSION_COOKIE)
            .filter(|v| is_token(v))
            .ok_or_else(to_login)?;
        let key = digest_hex(id);
        let now = Instant::now();
        let (who, csrf, recheck) = {
            let mut t = table();
            match t.get_mut(&key) {
                Some(s) if now.duration_since(s.last_used) < IDLE => {
                    s.last_used = now;
                    let recheck = now.duration_since(s.checked) >= TOKEN_RECHECK;
                    if recheck {
                        s.checked = now;
                    }
                    (s.who.clone(), s.csrf.clone(), recheck)
                }
                Some(_) => {
                    t.remove(&key);
                    return Err(to_login());
                }
                None => return Err(to_login()),
            }
        };
        if recheck && !token_active(state, &who).await {
            table().remove(&key);
            return Err(to_login());
        }
        Ok(AdminSession { who, csrf, key })
    }
}

/// Whether the admin token behind `who` is still active (fails closed on a store error).
async fn token_active(state: &AppState, who: &Requester) -> bool {
    let Credential::AdminToken { token_id } = &who.credential else {
        return who.is_admin();
    };
    match state.authority.store().active_admin_tokens().await {
        Ok(tokens) => tokens.iter().any(|t| &t.id == token_id),
        Err(error) => {
            tracing::warn!(%error, "dashboard: admin tokens could not be read; session ended");
            false
        }
    }
}

#[derive(Template)]
#[template(path = "dashboard/login.html")]
struct LoginPage {
    chrome: Option<Chrome>,
    csrf: String,
    error: Option<&'static str>,
}

/// `GET /login`.
pub(crate) async fn login_form() -> Response {
    login_page(StatusCode::OK, None)
}

/// The login form with a fresh login CSRF token (field and cookie).
fn login_page(status: StatusCode, error: Option<&'static str>) -> Response {
    let Some(token) = random_hex() else {
        return no_randomness();
    };
    let mut r = render(&LoginPage {
        chrome: None,
        csrf: token.clone(),
        error,
    });
    *r.status_mut() = status;
    set_cookie(
        &mut r,
        &format!("{LOGIN_COOKIE}={token}; Path=/; Max-Age=3600; Secure; HttpOnly; SameSite=Strict"),
    );
    r
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    token: Option<String>,
    csrf: Option<String>,
}

/// `POST /login`: check the login CSRF pair, authenticate the token, start a session.
pub(crate) async fn login(
    State(s): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    let Ok(Form(f)) = form else {
        return error_page(None, StatusCode::BAD_REQUEST, "malformed login form");
    };
    let pair_ok = match (cookie(&headers, LOGIN_COOKIE), f.csrf.as_deref()) {
        (Some(c), Some(p)) => is_token(c) && same(p, c),
        _ => false,
    };
    if !pair_ok {
        return error_page(
            None,
            StatusCode::FORBIDDEN,
            "The login form's CSRF token is missing or wrong. Reload the login page and try again.",
        );
    }
    let token = f.token.unwrap_or_default();
    let token = token.trim();
    if token.is_empty() || token.len() > MAX_TOKEN_LEN {
        return login_page(StatusCode::UNAUTHORIZED, Some("Invalid admin token."));
    }
    let who = match s.authority.authenticate_token(token).await {
        Ok(who) if who.is_admin() => who,
        Ok(_) | Err(AuthorityError::Unauthorized(_)) => {
            return login_page(StatusCode::UNAUTHORIZED, Some("Invalid admin token."));
        }
        Err(e) => return authority_error(None, e),
    };
    let (Some(id), Some(csrf)) = (random_hex(), random_hex()) else {
        return no_randomness();
    };
    let audit = NewAuditEntry {
        ts: s.authority.clock().now().unix_timestamp(),
        actor: who.id(),
        action: "dashboard.login".into(),
        subject: "dashboard".into(),
        detail: moor_authority::audit_detail(&[]),
    };
    if let Err(e) = s.authority.store().append_audit(audit).await {
        return authority_error(None, AuthorityError::from(e));
    }
    start(digest_hex(&id), who, csrf);
    let mut r = Redirect::to("/").into_response();
    set_cookie(
        &mut r,
        &format!("{SESSION_COOKIE}={id}; Path=/; Secure; HttpOnly; SameSite=Strict"),
    );
    set_cookie(
        &mut r,
        &format!("{LOGIN_COOKIE}=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Strict"),
    );
    r
}

/// Record a new session, first dropping idle ones and, when full, the least recently used.
fn start(key: String, who: Requester, csrf: String) {
    let now = Instant::now();
    let mut t = table();
    t.retain(|_, s| now.duration_since(s.last_used) < IDLE);
    while t.len() >= MAX_SESSIONS {
        let Some(oldest) = t
            .iter()
            .min_by_key(|(_, s)| s.last_used)
            .map(|(k, _)| k.clone())
        else {
            break;
        };
        t.remove(&oldest);
    }
    t.insert(
        key,
        Session {
            who,
            csrf,
            last_used: now,
            checked: now,
        },
    );
}

/// A form with only the CSRF token.
#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    csrf: Option<String>,
}

/// `POST /logout`: end the session.
pub(crate) async fn logout(
    session: AdminSession,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Response {
    let csrf = form.ok().and_then(|Form(f)| f.csrf);
    if let Some(r) = session.refuse_csrf(csrf.as_deref()) {
        return r;
    }
    table().remove(&session.key);
    let mut r = Redirect::to("/login").into_response();
    set_cookie(
        &mut r,
        &format!("{SESSION_COOKIE}=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Strict"),
    );
    r
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

fn set_cookie(r: &mut Response, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// 256 random bits from the system CSPRNG, hex.
fn random_hex() -> Option<String> {
    let mut b = [0u8; 32];
    aws_lc_rs::rand::fill(&mut b).ok()?;
    Some(hex::encode(b))
}

/// Whether `v` looks like one of our tokens (64 hex digits).
fn is_token(v: &str) -> bool {
    v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Constant-time equality of two tokens.
fn same(a: &str, b: &str) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a.as_bytes(), b.as_bytes()).is_ok()
}

fn digest_hex(v: &str) -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, v.as_bytes()).as_ref())
}

fn no_randomness() -> Response {
    tracing::error!("dashboard: the system random generator failed");
    error_page(
        None,
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal error: no randomness",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; __Host-moor_session=abc"),
        );
        h.append(
            header::COOKIE,
            HeaderValue::from_static("__Host-moor_login=def"),
        );
        assert_eq!(cookie(&h, "__Host-moor_session"), Some("abc"));
        assert_eq!(cookie(&h, "__Host-moor_login"), Some("def"));
        assert_eq!(cookie(&h, "moor"), None);
    }

    #[test]
    fn tokens_are_random_hex_and_compared_exactly() {
        let a = random_hex().expect("rand");
        let b = random_hex().expect("rand");
        assert!(is_token(&a) && is_token(&b) && a != b);
        assert!(same(&a, &a.clone()));
        assert!(!same(&a, &b));
        assert!(!same(&a, &a[..63]));
        assert!(!is_token("zz"));
    }
}
