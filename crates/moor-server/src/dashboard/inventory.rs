//! `/inventory`: the searchable table, one item's page, and revoking it.

use askama::Template;
use axum::Form;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use moor_authority::inventory::ItemDetail;
use moor_store::inventory::query::MAX_QUERY;
use serde::Deserialize;

use super::view::{self, date, datetime, maybe_datetime};
use super::{AdminSession, Chrome, authority_error, error_page, no_inventory, render};
use crate::AppState;

/// Rows per page of the table.
const PAGE_ROWS: i64 = 50;
/// Audit entries shown on an item's page.
const AUDIT_ROWS: i64 = 100;
/// Issuer links followed up a chain at most.
const MAX_CHAIN: usize = 8;

/// The quick filters above the table: (label, query).
const FILTERS: [(&str, &str); 8] = [
    ("all", ""),
    ("active", "status=active"),
    ("expiring", "status=expiring"),
    ("expires < 30 d", "expires<30d"),
    ("expired", "status=expired"),
    ("revoked", "status=revoked"),
    ("superseded", "status=superseded"),
    ("discovered", "source=discovered"),
];

#[derive(Deserialize)]
pub(crate) struct ListQuery {
    q: Option<String>,
    after: Option<String>,
}

#[derive(Template)]
#[template(path = "dashboard/inventory.html")]
struct ListPage {
    chrome: Option<Chrome>,
    q: String,
    filters: Vec<Filter>,
    rows: Vec<Row>,
    next: Option<String>,
    error: Option<String>,
}

struct Filter {
    label: &'static str,
    href: String,
    on: bool,
}

struct Row {
    fingerprint: String,
    subject: String,
    sans: String,
    issuer: String,
    status: &'static str,
    not_after: String,
    owner: String,
    source: String,
}

/// `GET /inventory?q=…&after=…`.
pub(crate) async fn list(
    State(s): State<AppState>,
    session: AdminSession,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Response {
    let chrome = || Chrome::new(&session, "inventory");
    let Some(inv) = s.inventory.as_deref() else {
        return no_inventory(chrome());
    };
    let (q, after) = match query {
        Ok(Query(l)) => (l.q.unwrap_or_default(), l.after),
        Err(_) => (String::new(), None),
    };
    let mut page = ListPage {
        chrome: Some(chrome()),
        filters: FILTERS
            .iter()
            .map(|(label, fq)| Filter {
                label,
                href: view::search_href(fq),
                on: q.trim() == *fq,
            })
            .collect(),
        q: String::new(),
        rows: Vec::new(),
        next: None,
        error: None,
    };
    if q.len() > MAX_QUERY {
        page.error = Some(format!("A search is at most {MAX_QUERY} bytes."));
        let mut r = render(&page);
        *r.status_mut() = StatusCode::BAD_REQUEST;
        return r;
    }
    page.q = q;
    match inv.search(&page.q, after, PAGE_ROWS).await {
        Ok(p) => {
            let now = inv.now();
            page.rows = p
                .items
                .iter()
                .map(|i| Row {
                    fingerprint: i.fingerprint.clone(),
                    subject: i.subject.clone(),
                    sans: i.sans.join(", "),
                    issuer: i.issuer.clone(),
                    status: i.status_at(now, inv.expiring_window()).as_str(),
                    not_after: date(i.not_after),
                    owner: i.owner.clone().unwrap_or_default(),
                    source: i.source.clone(),
                })
                .collect();
            page.next = p.next.map(|n| {
                format!(
                    "{}&after={}",
                    view::search_href(&page.q),
                    view::urlencode(&n)
                )
            });
            render(&page)
        }
        Err(e) => {
            let api = crate::ApiError::from(e);
            page.error = Some(api.message);
            let mut r = render(&page);
            *r.status_mut() = api.status;
            r
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct DetailQuery {
    done: Option<String>,
}

#[derive(Template)]
#[template(path = "dashboard/detail.html")]
struct DetailPage {
    chrome: Option<Chrome>,
    fingerprint: String,
    title: String,
    status: &'static str,
    notice: Option<&'static str>,
    fields: Vec<Field>,
    sans: Vec<String>,
    labels: Vec<String>,
    locations: Vec<LocationRow>,
    extensions: Vec<Extension>,
    chain: Vec<ChainLink>,
    chain_note: String,
    audit: Vec<AuditRow>,
    can_revoke: bool,
    reasons: Vec<Reason>,
    pem: String,
}

struct Field {
    label: &'static str,
    value: String,
}

struct LocationRow {
    kind: String,
    host: String,
    endpoint: String,
    sni: String,
    first_seen: String,
    last_seen: String,
    state: String,
}

/// One X.509 extension: OID, short name, critical flag, a readable value.
struct Extension {
    oid: String,
    name: String,
    critical: bool,
    value: String,
}

struct ChainLink {
    id: String,
    kind: String,
    algorithm: String,
    subject: String,
    not_after: String,
    fingerprint: String,
}

struct AuditRow {
    seq: i64,
    when: String,
    actor: String,
    action: String,
    subject: String,
    detail: String,
}

struct Reason {
    code: i32,
    name: &'static str,
}

/// `GET /inventory/{fingerprint}`.
pub(crate) async fn detail(
    State(s): State<AppState>,
    session: AdminSession,
    Path(fp): Path<String>,
    query: Result<Query<DetailQuery>, QueryRejection>,
) -> Response {
    let chrome = || Chrome::new(&session, "inventory");
    let Some(inv) = s.inventory.as_deref() else {
        return no_inventory(chrome());
    };
    let d = match inv.item(&fp).await {
        Ok(d) => d,
        Err(e) => return authority_error(Some(chrome()), e),
    };
    let notice = match query.ok().and_then(|Query(q)| q.done).as_deref() {
        Some("revoked") => Some("The certificate was revoked."),
        _ => None,
    };
    let subjects = [d.item.serial_hex.clone(), d.item.fingerprint.clone()];
    let audit = match s
        .authority
        .store()
        .audit_for_subject(&subjects, AUDIT_ROWS)
        .await
    {
        Ok(a) => a,
        Err(e) => return authority_error(Some(chrome()), e.into()),
    };
    let (chain, chain_note) = chain(&s, &d);
    let can_revoke = d.item.kind == "x509"
        && d.item.issuer_id.is_some()
        && d.item.revoked_at.is_none()
        && d.item.source != "discovered";
    let page = DetailPage {
        chrome: Some(chrome()),
        fingerprint: d.item.fingerprint.clone(),
        title: if d.item.subject.is_empty() {
            d.item.sans.first().cloned().unwrap_or_default()
        } else {
            d.item.subject.clone()
        },
        status: d.status.as_str(),
        notice,
        fields: fields(&d),
        sans: d.item.sans.clone(),
        labels: d
            .item
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect(),
        locations: d
            .locations
            .iter()
            .map(|l| LocationRow {
                kind: l.kind.clone(),
                host: l.host.clone(),
                endpoint: l.endpoint.clone(),
                sni: l.sni.clone(),
                first_seen: datetime(l.first_seen),
                last_seen: datetime(l.last_seen),
                state: match l.gone_at {
                    Some(t) => format!("gone since {}", datetime(t)),
                    None => "live".into(),
                },
            })
            .collect(),
        extensions: if d.item.kind == "x509" {
            extensions(&d.pem)
        } else {
            Vec::new()
        },
        chain,
        chain_note,
        audit: audit
            .into_iter()
            .map(|a| AuditRow {
                seq: a.seq,
                when: datetime(a.ts),
                actor: a.actor,
                action: a.action,
                subject: a.subject,
                detail: a.detail,
            })
            .collect(),
        can_revoke,
        reasons: moor_authority::revoke::REASONS
            .iter()
            .filter(|(_, name)| *name != "keycompromise")
            .map(|(code, name)| Reason { code: *code, name })
            .collect(),
        pem: d.pem,
    };
    render(&page)
}

fn fields(d: &ItemDetail) -> Vec<Field> {
    let i = &d.item;
    let f = |label, value: String| Field { label, value };
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "—".into());
    vec![
        f("Fingerprint (SHA-256)", i.fingerprint.clone()),
        f("Kind", i.kind.clone()),
        f("Source", i.source.clone()),
        f("Subject", i.subject.clone()),
        f("Issuer", i.issuer.clone()),
        f("Serial", i.serial_hex.clone()),
        f("Key algorithm", i.key_algorithm.clone()),
        f("Signature algorithm", i.signature_algorithm.clone()),
        f("Not before", datetime(i.not_before)),
        f("Not after", datetime(i.not_after)),
        f("Chain position", i.chain_position.clone()),
        f(
            "Self-signed",
            if i.self_signed { "yes" } else { "no" }.into(),
        ),
        f("Revoked at", maybe_datetime(i.revoked_at)),
        f("Superseded by", opt(&i.superseded_by)),
        f("Owner", opt(&i.owner)),
        f("Team", opt(&i.team)),
        f("First seen", maybe_datetime(i.first_seen)),
        f("Last seen", maybe_datetime(i.last_seen)),
    ]
}

/// The issuer chain of an item issued here (its issuer, then each parent up to a root),
/// or a note saying where it came from.
fn chain(s: &AppState, d: &ItemDetail) -> (Vec<ChainLink>, String) {
    let Some(first) = d.item.issuer_id.as_deref() else {
        return (
            Vec::new(),
            format!(
                "Not issued here: issuer {}",
                if d.item.issuer.is_empty() {
                    "unknown"
                } else {
                    &d.item.issuer
                }
            ),
        );
    };
    let records = s.authority.issuer_records();
    let mut out = Vec::new();
    let mut next = Some(first.to_owned());
    while let Some(id) = next.take() {
        if out.len() == MAX_CHAIN {
            break;
        }
        let Some(r) = records.iter().find(|r| r.id == id) else {
            break;
        };
        let (subject, not_after) = cert_subject_and_end(&r.cert_der);
        out.push(ChainLink {
            id: r.id.clone(),
            kind: r.kind.clone(),
            algorithm: r.algorithm.clone(),
            subject,
            not_after,
            fingerprint: r.fingerprint.clone(),
        });
        next = r.parent_id.clone().filter(|p| *p != r.id);
    }
    let note = if out.is_empty() {
        format!("Issuer {first} is not loaded on this server.")
    } else {
        String::new()
    };
    (out, note)
}

/// Subject and notAfter of a DER certificate (placeholders if it does not parse).
pub(crate) fn cert_subject_and_end(der: &[u8]) -> (String, String) {
    use x509_parser::prelude::*;
    match X509Certificate::from_der(der) {
        Ok((_, c)) => (
            c.subject().to_string(),
            datetime(c.validity().not_after.timestamp()),
        ),
        Err(_) => ("(does not parse)".into(), "—".into()),
    }
}

/// The extensions of the certificate in `pem`, named and summarised.
fn extensions(pem: &str) -> Vec<Extension> {
    use x509_parser::objects::{oid_registry, oid2sn};
    let Ok((_, p)) = x509_parser::pem::parse_x509_pem(pem.as_bytes()) else {
        return Vec::new();
    };
    let Ok(cert) = p.parse_x509() else {
        return Vec::new();
    };
    cert.extensions()
        .iter()
        .take(64)
        .map(|e| Extension {
            oid: e.oid.to_id_string(),
            name: oid2sn(&e.oid, oid_registry())
                .map(str::to_owned)
                .unwrap_or_else(|_| "unknown".into()),
            critical: e.critical,
            value: describe(e),
        })
        .collect()
}

/// A one-line reading of an extension's value.
fn describe(e: &x509_parser::extensions::X509Extension<'_>) -> String {
    use x509_parser::extensions::{DistributionPointName, ParsedExtension as P};
    let names = |g: &[x509_parser::extensions::GeneralName<'_>]| {
        g.iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let text = match e.parsed_extension() {
        P::BasicConstraints(b) => match (b.ca, b.path_len_constraint) {
            (true, Some(n)) => format!("CA: true, path length ≤ {n}"),
            (true, None) => "CA: true".into(),
            (false, _) => "CA: false".into(),
        },
        P::KeyUsage(k) => k.to_string(),
        P::ExtendedKeyUsage(k) => {
            let mut v: Vec<String> = [
                (k.any, "any"),
                (k.server_auth, "serverAuth"),
                (k.client_auth, "clientAuth"),
                (k.code_signing, "codeSigning"),
                (k.email_protection, "emailProtection"),
                (k.time_stamping, "timeStamping"),
                (k.ocsp_signing, "OCSPSigning"),
            ]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, n)| (*n).to_owned())
            .collect();
            v.extend(k.other.iter().map(|o| o.to_id_string()));
            v.join(", ")
        }
        P::SubjectAlternativeName(san) => names(&san.general_names),
        P::SubjectKeyIdentifier(k) => hex::encode(k.0),
        P::AuthorityKeyIdentifier(a) => a
            .key_identifier
            .as_ref()
            .map(|k| hex::encode(k.0))
            .unwrap_or_default(),
        P::AuthorityInfoAccess(a) => a
            .accessdescs
            .iter()
            .map(|d| {
                let method = match d.access_method.to_id_string().as_str() {
                    "1.3.6.1.5.5.7.48.1" => "OCSP".to_owned(),
                    "1.3.6.1.5.5.7.48.2" => "caIssuers".to_owned(),
                    other => other.to_owned(),
                };
                format!("{method}: {}", d.access_location)
            })
            .collect::<Vec<_>>()
            .join(", "),
        P::CRLDistributionPoints(c) => c
            .points
            .iter()
            .filter_map(|p| match &p.distribution_point {
                Some(DistributionPointName::FullName(g)) => Some(names(g)),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join(", "),
        P::CertificatePolicies(p) => p
            .iter()
            .map(|i| i.policy_id.to_id_string())
            .collect::<Vec<_>>()
            .join(", "),
        _ => {
            let v = e.value;
            let shown = &v[..v.len().min(48)];
            format!(
                "{} bytes: {}{}",
                v.len(),
                hex::encode(shown),
                if v.len() > shown.len() { "…" } else { "" }
            )
        }
    };
    text.chars().take(2000).collect()
}

#[derive(Deserialize)]
pub(crate) struct RevokeForm {
    csrf: Option<String>,
    reason: Option<String>,
}

/// `POST /inventory/{fingerprint}/revoke` (CSRF-checked): revoke a certificate issued
/// here, audited as the signed-in admin, then back to its page.
pub(crate) async fn revoke(
    State(s): State<AppState>,
    session: AdminSession,
    Path(fp): Path<String>,
    form: Result<Form<RevokeForm>, FormRejection>,
) -> Response {
    let chrome = || Chrome::new(&session, "inventory");
    let f = form.ok().map(|Form(f)| f);
    if let Some(r) = session.refuse_csrf(f.as_ref().and_then(|f| f.csrf.as_deref())) {
        return r;
    }
    let reason = f
        .and_then(|f| f.reason)
        .unwrap_or_else(|| "unspecified".into());
    let reason = match moor_authority::revoke::parse_reason(&reason) {
        Ok(r) => r,
        Err(e) => return authority_error(Some(chrome()), e),
    };
    let Some(inv) = s.inventory.as_deref() else {
        return no_inventory(chrome());
    };
    let d = match inv.item(&fp).await {
        Ok(d) => d,
        Err(e) => return authority_error(Some(chrome()), e),
    };
    if d.item.kind != "x509" || d.item.issuer_id.is_none() || d.item.source == "discovered" {
        return error_page(
            Some(chrome()),
            StatusCode::BAD_REQUEST,
            "Only certificates issued by this CA can be revoked here.",
        );
    }
    if let Err(e) = s
        .authority
        .revoke(&session.who, &d.item.serial_hex, reason)
        .await
    {
        return authority_error(Some(chrome()), e);
    }
    Redirect::to(&format!("/inventory/{}?done=revoked", d.item.fingerprint)).into_response()
}
