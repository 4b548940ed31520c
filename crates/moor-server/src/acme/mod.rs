//! The ACME front door (RFC 8555) under `/acme/{profile}/`.
//!
//! Each handler checks the content type, hands the body to
//! [`AcmeService::authenticate`] (parse → url → nonce → key → signature), calls one
//! operation of the service and renders the result. Every response carries a fresh
//! `Replay-Nonce` and `Link: <directory>;rel="index"`; every error is a problem document
//! (`application/problem+json`). Nothing is kept in memory: the service keeps every
//! state in the store.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use moor_authority::acme::service::{AcmeService, Authenticated, KeyMode, rfc3339};
use moor_core::acme::{AcmeError, Problem, ProblemType};
use moor_store::{AcmeAccount, AcmeAuthorization, AcmeChallenge, AcmeOrder};
use serde_json::{Value, json};

use crate::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/acme/{profile}/directory", get(directory))
        .route("/acme/{profile}/new-nonce", get(new_nonce).head(new_nonce))
        .route("/acme/{profile}/new-account", post(new_account))
        .route("/acme/{profile}/acct/{id}", post(account))
        .route("/acme/{profile}/acct/{id}/orders", post(account_orders))
        .route("/acme/{profile}/key-change", post(key_change))
        .route("/acme/{profile}/new-order", post(new_order))
        .route("/acme/{profile}/order/{id}", post(order))
        .route("/acme/{profile}/order/{id}/finalize", post(finalize))
        .route("/acme/{profile}/authz/{id}", post(authz))
        .route("/acme/{profile}/chall/{id}", post(challenge))
        .route("/acme/{profile}/cert/{id}", post(certificate))
        .route(
            "/acme/{profile}/cert/{id}/{chain}",
            post(alternate_certificate),
        )
        .route("/acme/{profile}/revoke-cert", post(revoke_cert))
        .route("/acme/{profile}/renewal-info/{id}", get(renewal_info))
}

/// One directory's request context.
struct Ctx {
    svc: Arc<AcmeService>,
    /// `https://host/acme/{profile}`.
    base: String,
    profile: String,
}

/// A successful answer.
struct Reply {
    status: StatusCode,
    body: Vec<u8>,
    content_type: &'static str,
    location: Option<String>,
    links: Vec<String>,
    /// `Retry-After` seconds for a resource still being worked on (RFC 8555 §7.5.1, §7.4).
    retry_after: Option<u64>,
}

impl Reply {
    fn json(status: StatusCode, v: &Value) -> Reply {
        Reply {
            status,
            body: serde_json::to_vec(v).unwrap_or_default(),
            content_type: "application/json",
            location: None,
            links: Vec::new(),
            retry_after: None,
        }
    }

    fn location(mut self, l: String) -> Reply {
        self.location = Some(l);
        self
    }

    fn link(mut self, l: String) -> Reply {
        self.links.push(l);
        self
    }
}

fn problem_response(p: &Problem) -> Response {
    let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut r = (status, p.to_json()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    if let Some(secs) = p.retry_after {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    r
}

fn host(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| uri.authority().map(|a| a.to_string()))
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
}

fn context(
    s: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    profile: &str,
) -> Result<Ctx, Box<Response>> {
    let not_found = || {
        Box::new(problem_response(
            &Problem::new(ProblemType::Malformed, "no such ACME directory").with_status(404),
        ))
    };
    let svc = s.acme.clone().ok_or_else(not_found)?;
    if svc.profile(profile).is_none() {
        return Err(not_found());
    }
    let host = host(headers, uri).ok_or_else(|| {
        Box::new(problem_response(&Problem::new(
            ProblemType::Malformed,
            "the request has no valid Host",
        )))
    })?;
    Ok(Ctx {
        svc,
        base: format!("https://{host}/acme/{profile}"),
        profile: profile.to_string(),
    })
}

impl Ctx {
    fn url(&self, rest: &str) -> String {
        format!("{}/{rest}", self.base)
    }

    fn account_url(&self, id: &str) -> String {
        self.url(&format!("acct/{id}"))
    }

    fn request_url(&self, uri: &Uri) -> String {
        // base is https://host/acme/{profile}; the path starts with /acme/{profile}.
        let origin = self
            .base
            .strip_suffix(&format!("/acme/{}", self.profile))
            .unwrap_or(&self.base);
        format!("{origin}{}", uri.path())
    }

    /// Adds `Replay-Nonce`, `Link: rel="index"` and `Cache-Control` to any answer.
    async fn finish(&self, r: Result<Reply, AcmeError>) -> Response {
        let mut resp = match r {
            Ok(reply) => {
                let mut resp = (reply.status, reply.body).into_response();
                let h = resp.headers_mut();
                h.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(reply.content_type),
                );
                if let Some(l) = reply.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
                    h.insert(header::LOCATION, l);
                }
                if let Some(secs) = reply.retry_after {
                    h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
                }
                for l in reply.links {
                    if let Ok(v) = HeaderValue::from_str(&l) {
                        h.append(header::LINK, v);
                    }
                }
                resp
            }
            Err(e) => problem_response(&e.problem),
        };
        let h = resp.headers_mut();
        if let Ok(n) = self.svc.new_nonce().await
            && let Ok(v) = HeaderValue::from_str(&n)
        {
            h.insert("replay-nonce", v);
        }
        if let Ok(v) = HeaderValue::from_str(&format!("<{}>;rel=\"index\"", self.url("directory")))
        {
            h.append(header::LINK, v);
        }
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        resp
    }

    /// Content type, then the service's JWS checks.
    async fn authenticate(
        &self,
        headers: &HeaderMap,
        uri: &Uri,
        body: &[u8],
        mode: KeyMode,
    ) -> Result<Authenticated, AcmeError> {
        moor_core::acme::check_content_type(
            headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
        )?;
        let account_url = |id: &str| self.account_url(id);
        self.svc
            .authenticate(body, &self.request_url(uri), mode, &account_url)
            .await
    }

    fn account_json(&self, a: &AcmeAccount) -> Value {
        let mut v = json!({
            "status": a.status,
            "contact": a.contacts,
            "orders": self.url(&format!("acct/{}/orders", a.id)),
        });
        if a.eab_kid.is_some() {
            v["externalAccountBinding"] = json!({ "kid": a.eab_kid });
        }
        v
    }

    fn order_json(&self, o: &AcmeOrder) -> Value {
        let mut v = json!({
            "status": o.status,
            "expires": rfc3339(o.expires_at),
            "identifiers": o.identifiers,
            "authorizations": o.authorizations.iter().map(|a| self.url(&format!("authz/{a}"))).collect::<Vec<_>>(),
            "finalize": self.url(&format!("order/{}/finalize", o.id)),
        });
        if o.certificate_serial.is_some() {
            v["certificate"] = json!(self.url(&format!("cert/{}", o.id)));
        }
        if let Some(p) = &o.profile {
            v["profile"] = json!(p);
        }
        if let Some(r) = &o.replaces {
            v["replaces"] = json!(r);
        }
        if let Some(e) = o
            .error
            .as_deref()
            .and_then(|e| serde_json::from_str::<Value>(e).ok())
        {
            v["error"] = e;
        }
        v
    }

    fn challenge_json(&self, c: &AcmeChallenge) -> Value {
        let mut v = json!({
            "type": c.kind,
            "url": self.url(&format!("chall/{}", c.id)),
            "token": c.token,
            "status": c.status,
        });
        if let Some(t) = c.validated_at {
            v["validated"] = json!(rfc3339(t));
        }
        if let Some(e) = c
            .error
            .as_deref()
            .and_then(|e| serde_json::from_str::<Value>(e).ok())
        {
            v["error"] = e;
        }
        if let Some(r) = c
            .records
            .as_deref()
            .and_then(|r| serde_json::from_str::<Value>(r).ok())
        {
            v["validationRecord"] = r;
        }
        v
    }

    fn authz_json(&self, a: &AcmeAuthorization) -> Value {
        let mut v = json!({
            "status": a.status,
            "expires": rfc3339(a.expires_at),
            "identifier": a.identifier,
            "challenges": a.challenges.iter().map(|c| self.challenge_json(c)).collect::<Vec<_>>(),
        });
        if a.wildcard {
            v["wildcard"] = json!(true);
        }
        v
    }
}

/// One line about a profile for `meta.profiles`.
fn profile_description(p: &moor_core::profile::Profile) -> String {
    format!(
        "issuer {}, certificates valid {}{}",
        p.issuer,
        moor_core::profile::format_duration(p.default_lifetime),
        if p.public { ", public-TLS rules" } else { "" }
    )
}

async fn directory(
    State(s): State<AppState>,
    Path(profile): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let c = match context(&s, &headers, &uri, &profile) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let cfg = c.svc.config();
    let mut meta = json!({ "externalAccountRequired": c.svc.eab_required(&profile) });
    if !cfg.terms_of_service.is_empty() {
        meta["termsOfService"] = json!(cfg.terms_of_service);
    }
    if !cfg.caa_identities.is_empty() {
        meta["caaIdentities"] = json!(cfg.caa_identities);
    }
    // ACME profiles extension: what `profile` in newOrder may select.
    let profiles: serde_json::Map<String, Value> = c
        .svc
        .offered_profiles(&profile)
        .into_iter()
        .map(|p| (p.name.clone(), json!(profile_description(p))))
        .collect();
    meta["profiles"] = Value::Object(profiles);
    let v = json!({
        "newNonce": c.url("new-nonce"),
        "newAccount": c.url("new-account"),
        "newOrder": c.url("new-order"),
        "revokeCert": c.url("revoke-cert"),
        "keyChange": c.url("key-change"),
        "renewalInfo": c.url("renewal-info"),
        "meta": meta,
    });
    let mut r = axum::Json(v).into_response();
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=0, no-cache"),
    );
    r
}

async fn new_nonce(
    State(s): State<AppState>,
    Path(profile): Path<String>,
    method: Method,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let c = match context(&s, &headers, &uri, &profile) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    // RFC 8555 §7.2: 200 for HEAD, 204 for GET.
    let status = if method == Method::HEAD {
        StatusCode::OK
    } else {
        StatusCode::NO_CONTENT
    };
    c.finish(Ok(Reply {
        status,
        body: Vec::new(),
        content_type: "text/plain",
        location: None,
        links: Vec::new(),
        retry_after: None,
    }))
    .await
}

/// The shared start of every POST handler: context and authentication; on failure the
/// finished problem response.
macro_rules! begin {
    ($s:expr, $profile:expr, $headers:expr, $uri:expr, $body:expr, $mode:expr) => {{
        let c = match context(&$s, &$headers, &$uri, &$profile) {
            Ok(c) => c,
            Err(r) => return *r,
        };
        match c.authenticate(&$headers, &$uri, &$body, $mode).await {
            Ok(req) => (c, req),
            Err(e) => return c.finish(Err(e)).await,
        }
    }};
}

async fn new_account(
    State(s): State<AppState>,
    Path(profile): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let (c, req) = begin!(s, profile, headers, uri, body, KeyMode::Jwk);
    let r = async {
        let out = c.svc.new_account(&c.profile, &req).await?;
        let status = if out.created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        Ok(Reply::json(status, &c.account_json(&out.account))
            .location(c.account_url(&out.account.id)))
    }
    .await;
    c.finish(r).await
}

async fn account(
    State(s): State<AppState>,
    Path((profile, id)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let (c, req) = begin!(s, profile, headers, uri, body, KeyMode::Kid);
    let r = async {
        let a = c.svc.update_account(&id, &req).await?;
        Ok(Reply::json(StatusCode::OK, &c.account_json(&a)).location(c.account_url(&a.id)))
    }
    .await;
    c.finish(r).await
}

async fn account_orders(
    State(s): State<AppState>,
    Path((profile, id)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let (c, req) = begin!(s, profile, headers, uri, body, KeyMode::Kid);
    let r = async {
        req.jws.expect_post_as_get()?;
        let a = req.account()?;
        if a.id != id {
            return Err(AcmeError::unauthorized(
                "the kid does not name this account",
            ));
        }
        let ids = c.svc.orders_of_account(a).await?;
        let urls: Vec<String> = ids.iter().map(|o| c.url(&format!("order/{o}"))).collect();
        Ok(Reply::json(StatusCode::OK, &json!({ "orders": urls })))
    }
    .await;
    c.finish(r).await
}

async fn key_change(
    State(s): State<AppState>,
    Path(profile): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let (c, req) = begin!(s, profile, headers, uri, body, KeyMode::Kid);
    let r = async {
        let url = c.account_url(&req.account()?.id);
        let a = c.svc.key_change(&req, &url).await?;
        Ok(Reply::json(StatusCode::OK, &c.account_json(&a)).location(url))
    }
    .await;
    c.finish(r).await
}

async fn new_order(
    State(s): State<AppState>,
    Path(profile): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let (c, req) = begin!(s, profile, headers, uri, body, KeyMode::Kid);
    let r = async {
        let o = c.svc.new_order(&c.profile, &req).await?;
        Ok(Reply::json(StatusCode::CREATED, &c.order_json(&o))
            .location(c.url(&format!("order/{}", o.id))))
    }
    .await;
    c.finish(r).await
}

async fn order(
    State(s): State<AppState>,
    Path((profile, id)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let (c, req) = begin!(s, profile, headers, uri, body, KeyMode::Kid);
    let r = async {
        let o = c.svc.order(&id, &req).await?;
        let mut reply = Reply::json(StatusCode::OK, &c.order_json(&o));
        if o.status == "processing" {
            reply.retry_after = Some(1);
        }
        Ok(reply)
    }
    .await;
    c.finish(r).await
}

async fn finalize(
    State(s): State<AppState>,
    Path((profile, id)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let (c, req) = begin!(s, profile, headers, uri, body, KeyMode::Kid);
    let r = async {
        let account_uri = c.account_url(&req.account()?.id);
        let o = c.svc.finalize(&id, &req, &account_uri).await?;
        Ok(Reply::json(StatusCode::OK, &c.order_json(&o))
            .location(c.url(&format!("order/{}", o.id))))
    }
    .await;
    c.finish(r).await
}

async fn authz(
    State(s): State<AppState>,
    Path((profile, id)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let (c, req) = begin!(s, profile, headers, uri, body, KeyMode::Kid);
    let r = async {
        let account_uri = c.account_url(&req.account()?.id);
        let a = c
            .svc
            .authorization(&c.profile, &id, &req, &account_uri)
            .await?;
        let mut reply = Reply::json(StatusCode::OK, &c.authz_json(&a));
        if a.status == "pending" {
            reply.retry_after = Some(1);
        }
        Ok(reply)
    }
    .await;
    c.finish(r).await
}

async fn challenge(
    State(s): State<AppState>,
    Path((profile, id)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let (c, req) = begin!(s, profile, headers, uri, body, KeyMode::Kid);
    let r = async {
        let account_uri = c.account_url(&req.account()?.id);
        let ch = c.svc.challenge(&c.profile, &id, &req, &account_uri).await?;
        Ok(
            Reply::json(StatusCode::OK, &c.challenge_json(&ch)).link(format!(
                "<{}>;rel=\"up\"",
                c.url(&format!("authz/{}", ch.authz_id))
            )),
        )
    }
    .await;
    c.finish(r).await
}

async fn certificate(
    State(s): State<AppState>,
    Path((profile, id)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let (c, req) = begin!(s, profile, headers, uri, body, KeyMode::Kid);
    let r = certificate_reply(&c, &req, &id, 0).await;
    c.finish(r).await
}

/// An alternate chain (RFC 8555 §7.4.2): `…/cert/{id}/{n}`, n ≥ 1.
async fn alternate_certificate(
    State(s): State<AppState>,
    Path((profile, id, chain)): Path<(String, String, String)>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let (c, req) = begin!(s, profile, headers, uri, body, KeyMode::Kid);
    let r = match chain.parse::<usize>() {
        Ok(n) if (1..=64).contains(&n) => certificate_reply(&c, &req, &id, n).await,
        _ => Err(AcmeError::malformed("no such chain").with_status(404)),
    };
    c.finish(r).await
}

/// Chain `n` of the order's certificate, with `Link: rel="alternate"` to every other.
async fn certificate_reply(
    c: &Ctx,
    req: &Authenticated,
    id: &str,
    n: usize,
) -> Result<Reply, AcmeError> {
    let (pem, chains) = c.svc.certificate_chain(id, req, n).await?;
    let url = |i: usize| {
        if i == 0 {
            c.url(&format!("cert/{id}"))
        } else {
            c.url(&format!("cert/{id}/{i}"))
        }
    };
    Ok(Reply {
        status: StatusCode::OK,
        body: pem.into_bytes(),
        content_type: "application/pem-certificate-chain",
        location: None,
        links: (0..chains)
            .filter(|i| *i != n)
            .map(|i| format!("<{}>;rel=\"alternate\"", url(i)))
            .collect(),
        retry_after: None,
    })
}

async fn revoke_cert(
    State(s): State<AppState>,
    Path(profile): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let (c, req) = begin!(s, profile, headers, uri, body, KeyMode::Either);
    let r = async {
        c.svc.revoke(&req).await?;
        Ok(Reply {
            status: StatusCode::OK,
            body: Vec::new(),
            content_type: "text/plain",
            location: None,
            links: Vec::new(),
            retry_after: None,
        })
    }
    .await;
    c.finish(r).await
}

/// ARI (RFC 9773): `GET renewalInfo/{certID}`, unauthenticated.
async fn renewal_info(
    State(s): State<AppState>,
    Path((profile, id)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let c = match context(&s, &headers, &uri, &profile) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let r = async {
        let (start, end) = c.svc.renewal_info(&id).await?;
        let mut reply = Reply::json(
            StatusCode::OK,
            &json!({"suggestedWindow": {"start": rfc3339(start), "end": rfc3339(end)}}),
        );
        // RFC 9773 §4.2: clients poll again after Retry-After (6 hours).
        reply.retry_after = Some(21600);
        Ok(reply)
    }
    .await;
    c.finish(r).await
}
