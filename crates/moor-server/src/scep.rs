//! SCEP (RFC 8894 §4) at `/scep` and `/scep/{profile}`, on both listeners (requests are
//! signed and encrypted; clients such as micromdm's `scepclient` speak plain HTTP).
//!
//! - `GET ?operation=GetCACaps` → text/plain capabilities
//! - `GET ?operation=GetCACert` → `application/x-x509-ca-ra-cert` (RA, then CA chain)
//! - `POST ?operation=PKIOperation` (body: the DER message), or `GET` with
//!   `message=<base64>` → `application/x-pki-message` CertRep
//!
//! Client mistakes get a signed CertRep with a failInfo (HTTP 200, as RFC 8894 wants);
//! a malformed HTTP request gets 400 text, an unknown profile 404, our own failure 500.

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;

use crate::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/scep", get(get_default).post(post_default))
        .route("/scep/{label}", get(get_label).post(post_label))
}

fn text(status: StatusCode, msg: impl Into<String>) -> Response {
    let mut r = (status, format!("{}\n", msg.into())).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn binary(content_type: &'static str, body: Vec<u8>) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

async fn get_default(
    State(s): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    answer(&s, None, &q, None).await
}

async fn get_label(
    State(s): State<AppState>,
    Path(label): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    answer(&s, Some(&label), &q, None).await
}

async fn post_default(
    State(s): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    answer(&s, None, &q, Some(body)).await
}

async fn post_label(
    State(s): State<AppState>,
    Path(label): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    answer(&s, Some(&label), &q, Some(body)).await
}

async fn answer(
    s: &AppState,
    label: Option<&str>,
    q: &HashMap<String, String>,
    body: Option<Bytes>,
) -> Response {
    let Some(scep) = &s.scep else {
        return text(
            StatusCode::NOT_FOUND,
            "SCEP is not enabled ([scep] enabled)",
        );
    };
    let Some((profile, explicit)) = scep.profile(label) else {
        return text(
            StatusCode::NOT_FOUND,
            format!("no SCEP profile {:?}", label.unwrap_or_default()),
        );
    };
    let operation = q.get("operation").map(String::as_str).unwrap_or_default();
    match operation {
        "GetCACaps" => text(StatusCode::OK, moor_core::scep::CA_CAPS.trim_end()),
        "GetCACert" => match scep.ca_certs(profile).await {
            Ok(der) => binary("application/x-x509-ca-ra-cert", der),
            Err(e) => {
                tracing::error!(error = %e, "SCEP GetCACert failed");
                text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the RA certificate is unavailable",
                )
            }
        },
        "PKIOperation" => {
            let message = match body {
                Some(b) => b.to_vec(),
                None => {
                    // GET: base64 in `message` (a `+` may arrive as a space).
                    let Some(m) = q.get("message") else {
                        return text(StatusCode::BAD_REQUEST, "PKIOperation needs a message");
                    };
                    let m: String = m
                        .chars()
                        .filter(|c| *c != '\n' && *c != '\r')
                        .map(|c| if c == ' ' { '+' } else { c })
                        .collect();
                    match base64::engine::general_purpose::STANDARD.decode(m.as_bytes()) {
                        Ok(d) => d,
                        Err(_) => {
                            return text(StatusCode::BAD_REQUEST, "message is not base64");
                        }
                    }
                }
            };
            if message.is_empty() {
                return text(
                    StatusCode::BAD_REQUEST,
                    "PKIOperation with an empty message",
                );
            }
            match scep.pki_operation(profile, explicit, &message).await {
                Ok(der) => binary("application/x-pki-message", der),
                Err(e) => {
                    tracing::error!(error = %e, "SCEP PKIOperation failed on our side");
                    text(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "the request could not be processed; try again",
                    )
                }
            }
        }
        "" => text(StatusCode::BAD_REQUEST, "missing ?operation="),
        other => text(
            StatusCode::BAD_REQUEST,
            format!("operation {other:?} is not supported (GetCACaps, GetCACert, PKIOperation)"),
        ),
    }
}
