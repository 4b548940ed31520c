//! The admin dashboard: headless Chromium (Debian's, driven by playwright-core through
//! `crates/moor/tests/browser/dashboard.mjs`) signs in, searches, opens a certificate,
//! revokes it, sees the expiring finding and the chart; screenshots go to
//! `target/test-artifacts/dashboard/`. Over plain HTTP (both store backends): the cookie
//! flags, redirects without a session, a bad token, CSRF refusals, escaping, security
//! headers, the audit actor of a dashboard revocation, and signing out.

use std::path::{Path, PathBuf};
use std::process::Command;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use serde_json::{Value, json};

use crate::harness::{Home, Server, tool};

/// Issue a server certificate for `san` with `lifetime`; returns (serial, fingerprint).
async fn issue(server: &Server, san: &str, lifetime: &str) -> (String, String) {
    let (s, v) = server
        .post(
            "/api/v1/certificates",
            &json!({"profile": "tls-server", "sans": [san], "lifetime": lifetime}),
        )
        .await;
    assert_eq!(s, 201, "issue {san}: {v}");
    let serial = v["serial"].as_str().expect("serial").to_string();
    let (s, v) = server
        .get(&format!("/api/v1/inventory?q=serial={serial}"))
        .await;
    assert_eq!(s, 200, "{v}");
    let fp = v["items"][0]["fingerprint"]
        .as_str()
        .unwrap_or_else(|| panic!("inventory has {serial}: {v}"))
        .to_string();
    (serial, fp)
}

async fn certificate_status(server: &Server, serial: &str) -> String {
    let (s, v) = server.get(&format!("/api/v1/certificates/{serial}")).await;
    assert_eq!(s, 200, "{v}");
    v["status"].as_str().expect("status").to_string()
}

/// A required environment variable set by `target/peers/env.sh`.
fn peer_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run `scripts/install-peers` and `source target/peers/env.sh` (scripts/test does both)")
    })
}

fn artifacts_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-artifacts/dashboard");
    std::fs::create_dir_all(&dir).expect("create target/test-artifacts/dashboard");
    dir.canonicalize().expect("artifacts dir")
}

#[tokio::test(flavor = "multi_thread")]
async fn dashboard_in_headless_chromium() {
    let node = tool("node");
    let playwright = peer_env("MOORING_PLAYWRIGHT");
    let chromium = peer_env("MOORING_CHROMIUM");
    assert!(
        Path::new(&playwright).join("package.json").is_file(),
        "playwright-core is missing at {playwright}: run `scripts/install-peers`"
    );
    assert!(
        Path::new(&chromium).is_file(),
        "chromium is missing at {chromium}: run `scripts/install-peers` (apt-get install chromium)"
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/dashboard.mjs");

    let home = Home::new(None);
    let server = home.serve();
    let (serial, _) = issue(&server, "web.dash.test", "60d").await;
    let (soon, _) = issue(&server, "soon.dash.test", "10d").await;

    let artifacts = artifacts_dir();
    for f in std::fs::read_dir(&artifacts).expect("artifacts").flatten() {
        if f.path().extension().is_some_and(|e| e == "png") {
            let _ = std::fs::remove_file(f.path());
        }
    }
    let out = Command::new(&node)
        .arg(&script)
        .env("MOORING_URL", &server.base)
        .env("MOORING_TOKEN", &server.token)
        .env("MOORING_SEARCH", "web.dash.test")
        .env("MOORING_EXPIRING", "soon.dash.test")
        .env("MOORING_ARTIFACTS", &artifacts)
        .env("MOORING_PLAYWRIGHT", &playwright)
        .env("MOORING_CHROMIUM", &chromium)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "dashboard.mjs failed ({}):\n{stdout}\n{stderr}\nscreenshots: {}",
        out.status,
        artifacts.display()
    );
    assert!(stdout.contains("all checks passed"), "{stdout}\n{stderr}");

    // What the browser did is what the CA did.
    assert_eq!(certificate_status(&server, &serial).await, "revoked");
    assert_eq!(certificate_status(&server, &soon).await, "valid");
    for shot in [
        "01-login",
        "02-overview",
        "03-search",
        "04-detail",
        "05-revoked",
        "06-findings",
        "07-issuers",
        "08-alerts",
        "expiry-chart",
    ] {
        let p = artifacts.join(format!("{shot}.png"));
        let len = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
        assert!(len > 1000, "screenshot {} is missing or empty", p.display());
    }
}

/// A client that keeps redirects and cookies to itself (the test reads them).
fn raw_client(server: &Server) -> reqwest::Client {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .http1_only()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(60));
    for cert in reqwest::Certificate::from_pem_bundle(server.roots_pem.as_bytes()).expect("roots") {
        b = b.add_root_certificate(cert);
    }
    b.build().expect("client")
}

/// The `Set-Cookie` line of cookie `name`, if any.
fn set_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

/// The value of a cookie in its `Set-Cookie` line.
fn cookie_value(line: &str) -> String {
    line.split(';')
        .next()
        .and_then(|p| p.split_once('='))
        .map(|(_, v)| v.to_string())
        .expect("cookie value")
}

/// The value of the first hidden `csrf` field in a page.
fn csrf_field(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("a csrf field") + marker.len();
    let end = html[start..].find('"').expect("end of value") + start;
    html[start..end].to_string()
}

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// Sign in through the form; returns (session cookie value, Set-Cookie line).
async fn sign_in(client: &reqwest::Client, server: &Server) -> (String, String) {
    let r = client
        .get(server.url("/login"))
        .send()
        .await
        .expect("login form");
    assert_eq!(r.status(), StatusCode::OK);
    let login_cookie =
        cookie_value(&set_cookie(r.headers(), "__Host-moor_login").expect("login cookie"));
    let csrf = csrf_field(&r.text().await.expect("body"));
    let r = client
        .post(server.url("/login"))
        .header("cookie", format!("__Host-moor_login={login_cookie}"))
        .form(&[("csrf", csrf.as_str()), ("token", server.token.as_str())])
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/");
    let line = set_cookie(r.headers(), "__Host-moor_session").expect("session cookie");
    (cookie_value(&line), line)
}

async fn sessions_csrf_and_escaping(home: Home) {
    let server = home.serve();
    let client = raw_client(&server);
    let (serial, fp) = issue(&server, "csrf.dash.test", "60d").await;
    // An owner with markup: it must come out escaped.
    let (s, v) = server
        .client
        .patch(server.url(&format!("/api/v1/inventory/{fp}")))
        .bearer_auth(&server.token)
        .json(&json!({"owner": "<script>alert(1)</script>"}))
        .send()
        .await
        .map(|r| (r.status(), r))
        .expect("patch");
    assert_eq!(s, StatusCode::OK, "{:?}", v.text().await);

    // No session: every page and form redirects to the login form.
    for path in [
        "/",
        "/inventory",
        &format!("/inventory/{fp}"),
        "/findings",
        "/alerts",
        "/issuers",
    ] {
        let r = client.get(server.url(path)).send().await.expect("get");
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(location(&r), "/login", "{path}");
    }
    let r = client
        .post(server.url(&format!("/inventory/{fp}/revoke")))
        .form(&[("reason", "1")])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login");
    // A made-up session id is no session either.
    let r = client
        .get(server.url("/"))
        .header("cookie", format!("__Host-moor_session={}", "ab".repeat(32)))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    // The login form: its CSRF cookie, security headers.
    let r = client
        .get(server.url("/login"))
        .send()
        .await
        .expect("login form");
    assert_eq!(r.status(), StatusCode::OK);
    let h = r.headers().clone();
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["referrer-policy"], "no-referrer");
    let csp = h["content-security-policy"].to_str().expect("csp");
    assert!(
        csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    let login_line = set_cookie(&h, "__Host-moor_login").expect("login cookie");
    for flag in ["Secure", "HttpOnly", "SameSite=Strict"] {
        assert!(login_line.contains(flag), "{login_line}");
    }
    let login_cookie = cookie_value(&login_line);
    let login_csrf = csrf_field(&r.text().await.expect("body"));
    assert_eq!(login_csrf, login_cookie);

    // A bad token: refused, no session.
    let r = client
        .post(server.url("/login"))
        .header("cookie", format!("__Host-moor_login={login_cookie}"))
        .form(&[("csrf", login_csrf.as_str()), ("token", "mooring_tok_nope")])
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(set_cookie(r.headers(), "__Host-moor_session").is_none());
    assert!(
        r.text()
            .await
            .expect("body")
            .contains("Invalid admin token")
    );
    // The right token without the login CSRF pair: refused.
    let r = client
        .post(server.url("/login"))
        .form(&[
            ("csrf", login_csrf.as_str()),
            ("token", server.token.as_str()),
        ])
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(set_cookie(r.headers(), "__Host-moor_session").is_none());

    // The right token: a session cookie with every flag.
    let (session, line) = sign_in(&client, &server).await;
    assert_eq!(session.len(), 64, "{line}");
    assert!(session.bytes().all(|b| b.is_ascii_hexdigit()), "{line}");
    for flag in ["Path=/", "Secure", "HttpOnly", "SameSite=Strict"] {
        assert!(line.contains(flag), "{line}");
    }
    assert!(
        !line.contains(&server.token),
        "the token is not in the cookie"
    );
    let cookie = format!("__Host-moor_session={session}");
    let get = |path: String| {
        let c = client.clone();
        let cookie = cookie.clone();
        let url = server.url(&path);
        async move {
            let r = c
                .get(url)
                .header("cookie", cookie)
                .send()
                .await
                .expect("get");
            let status = r.status();
            (status, r.text().await.expect("body"))
        }
    };

    // Pages render; the owner is escaped.
    let (s, html) = get("/".into()).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("id=\"expiry-chart\""), "{html}");
    let (s, html) = get("/inventory?q=csrf.dash.test".into()).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        html.contains("&#60;script&#62;alert(1)&#60;/script&#62;")
            || html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(!html.contains("<script>"), "{html}");
    let (s, html) = get("/inventory?q=status%3Dnonsense".into()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{html}");
    let (s, _) = get(format!("/inventory?q={}", "a".repeat(5000))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = get("/inventory/not-a-fingerprint".into()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = get(format!("/inventory/{}", "0".repeat(64))).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    for path in [
        "/findings",
        "/findings?kind=expiring",
        "/alerts",
        "/issuers",
    ] {
        let (s, html) = get(path.into()).await;
        assert_eq!(s, StatusCode::OK, "{path}: {html}");
    }
    let (s, html) = get(format!("/inventory/{fp}")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(!html.contains("<script>"));
    let csrf = csrf_field(&html);
    assert_eq!(csrf.len(), 64);

    // The revoke form without its CSRF token, or with a wrong one: refused.
    let revoke = |fields: Vec<(&'static str, String)>| {
        let c = client.clone();
        let cookie = cookie.clone();
        let url = server.url(&format!("/inventory/{fp}/revoke"));
        async move {
            c.post(url)
                .header("cookie", cookie)
                .form(&fields)
                .send()
                .await
                .expect("post")
        }
    };
    let r = revoke(vec![("reason", "1".into())]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let mut wrong = csrf.clone().into_bytes();
    wrong[0] = if wrong[0] == b'0' { b'1' } else { b'0' };
    let wrong = String::from_utf8(wrong).expect("hex");
    let r = revoke(vec![("reason", "1".into()), ("csrf", wrong)]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = revoke(vec![("reason", "1".into()), ("csrf", String::new())]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Another session's token does not do either.
    let (other, _) = sign_in(&client, &server).await;
    let (_, other_html) = {
        let r = client
            .get(server.url(&format!("/inventory/{fp}")))
            .header("cookie", format!("__Host-moor_session={other}"))
            .send()
            .await
            .expect("get");
        (r.status(), r.text().await.expect("body"))
    };
    let other_csrf = csrf_field(&other_html);
    assert_ne!(other_csrf, csrf);
    let r = revoke(vec![("reason", "1".into()), ("csrf", other_csrf)]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(certificate_status(&server, &serial).await, "valid");
    // A bad reason with the right token: refused, nothing revoked.
    let r = revoke(vec![("reason", "6".into()), ("csrf", csrf.clone())]).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(certificate_status(&server, &serial).await, "valid");

    // With it: revoked, audited as the token's requester.
    let r = revoke(vec![
        ("reason", "superseded".into()),
        ("csrf", csrf.clone()),
    ])
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), format!("/inventory/{fp}?done=revoked"));
    assert_eq!(certificate_status(&server, &serial).await, "revoked");
    let (_, html) = get(format!("/inventory/{fp}?done=revoked")).await;
    assert!(html.contains("id=\"notice\""));
    let revoke_row = html
        .split("<tr class=\"audit-revoke\">")
        .nth(1)
        .and_then(|r| r.split("</tr>").next())
        .unwrap_or_else(|| panic!("an audit row for the revocation: {html}"));
    assert!(revoke_row.contains("token:tok"), "{revoke_row}");
    assert!(revoke_row.contains(&serial), "{revoke_row}");
    // Again: already revoked.
    let r = revoke(vec![
        ("reason", "superseded".into()),
        ("csrf", csrf.clone()),
    ])
    .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);

    // Sign out (CSRF-checked too); the session is gone.
    let r = client
        .post(server.url("/logout"))
        .header("cookie", &cookie)
        .form(&[("csrf", "00")])
        .send()
        .await
        .expect("logout");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = client
        .post(server.url("/logout"))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("logout");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login");
    let r = client
        .get(server.url("/"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    // The admin API is untouched by the dashboard.
    let (s, v): (u16, Value) = server.get("/api/v1/inventory/overview").await;
    assert_eq!(s, 200, "{v}");
}

#[tokio::test(flavor = "multi_thread")]
async fn dashboard_sessions_and_csrf_sqlite() {
    sessions_csrf_and_escaping(Home::new(None)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dashboard_sessions_and_csrf_postgres() {
    let url = crate::multinode::fresh_postgres_database();
    let home = Home::new(Some(&format!("database = \"{url}\"\n")));
    home.moor_ok(&["init"]);
    sessions_csrf_and_escaping(home).await;
}
