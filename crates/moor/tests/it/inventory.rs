//! The inventory end to end (issue 6): a scan of real TLS servers on loopback (a Mooring
//! server, `openssl s_server` with a self-signed, an expired and an RSA-1024 certificate)
//! is reported to the server; the REST API and the CLI then find each item with its
//! location, the right findings, owner and labels, a CSV export; a group action revokes
//! by query after a dry run; a rescan marks what is no longer served.

use serde_json::{Value, json};

use crate::harness::{Home, Server, scratch};
use crate::scan::{fingerprint, free_port, s_server, self_signed};

const CONFIG: &str = r#"
[inventory]
expiring_days = 30
orphan_after = "0s"

[[inventory.thresholds]]
label = "env=prod"
days = 400
"#;

/// `moor scan tls` as JSON, wrapped into a report and posted; the server's answer.
async fn scan_and_report(home: &Home, server: &Server, ports: &str) -> Value {
    let results = home.moor_json(&[
        "scan",
        "tls",
        "--targets",
        "127.0.0.1",
        "--ports",
        ports,
        "--timeout",
        "3s",
    ]);
    let (s, ack) = server
        .post(
            "/api/v1/inventory/reports",
            &json!({"host": "scanner-1", "tls": results}),
        )
        .await;
    assert_eq!(s, 200, "{ack}");
    ack
}

/// Every item a query selects (following cursors, two per page).
async fn search(server: &Server, q: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut url = reqwest::Url::parse(&server.url("/api/v1/inventory")).expect("url");
        url.query_pairs_mut()
            .append_pair("q", q)
            .append_pair("limit", "2");
        if let Some(a) = &after {
            url.query_pairs_mut().append_pair("after", a);
        }
        let path = format!("/api/v1/inventory?{}", url.query().unwrap_or(""));
        let (s, v) = server.get(&path).await;
        assert_eq!(s, 200, "{q}: {v}");
        out.extend(v["items"].as_array().expect("items").iter().cloned());
        match v["next"].as_str() {
            Some(n) => after = Some(n.to_string()),
            None => return out,
        }
    }
}

fn fps(items: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = items
        .iter()
        .map(|i| i["fingerprint"].as_str().expect("fingerprint").to_string())
        .collect();
    v.sort();
    v
}

async fn findings(server: &Server, kind: &str) -> Vec<Value> {
    let (s, v) = server.get(&format!("/api/v1/findings?kind={kind}")).await;
    assert_eq!(s, 200, "{v}");
    v.as_array().expect("findings").clone()
}

fn finding_fps(f: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = f
        .iter()
        .map(|x| x["subject_key"].as_str().expect("subject_key").to_string())
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scans_reported_searched_found_tagged_exported_and_acted_on() {
    let dir = scratch();
    let d = dir.path();
    let home = Home::new(Some(CONFIG));
    let server = home.serve();
    let mooring_port: u16 = server
        .https
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .expect("https port");

    self_signed(d, "rsa2048", &["-newkey", "rsa:2048"], "20", &[]);
    self_signed(
        d,
        "expired",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "1",
        &["faketime", "2020-01-01 00:00:00"],
    );
    self_signed(d, "rsa1024", &["-newkey", "rsa:1024"], "30", &[]);
    let (p_self, p_expired, p_weak) = (free_port(), free_port(), free_port());
    let _s1 = s_server(d, "rsa2048", p_self);
    let s2 = s_server(d, "expired", p_expired);
    let _s3 = s_server(d, "rsa1024", p_weak);
    let fp_self = fingerprint(&d.join("rsa2048.pem"));
    let fp_expired = fingerprint(&d.join("expired.pem"));
    let fp_weak = fingerprint(&d.join("rsa1024.pem"));
    let fp_ours = fingerprint(&home.file("certs/server-tls.pem"));

    // Issued here and never deployed anywhere a scan looks: an orphan.
    let (s, orphan) = server
        .post(
            "/api/v1/certificates",
            &json!({"profile": "tls-server", "sans": ["orphan.inventory.test"]}),
        )
        .await;
    assert_eq!(s, 201, "{orphan}");

    let ports = format!("{mooring_port},{p_self},{p_expired},{p_weak}");
    let ack = scan_and_report(&home, &server, &ports).await;
    // Our leaf and intermediate, and the three openssl certificates.
    assert_eq!(ack["certificates"], 5, "{ack}");
    assert_eq!(ack["locations"], 5, "{ack}");
    assert_eq!(ack["gone"], 0, "{ack}");

    let here = search(&server, "location=127.0.0.1").await;
    assert_eq!(here.len(), 5, "{here:#?}");
    let ours = here
        .iter()
        .find(|i| i["fingerprint"] == fp_ours.as_str())
        .expect("our server's certificate");
    assert_ne!(ours["source"], "discovered", "issued here: {ours}");
    assert!(ours["issuer_id"].is_string(), "{ours}");
    assert_eq!(
        fps(&search(&server, &format!("location=127.0.0.1:{p_weak}")).await),
        vec![fp_weak.clone()]
    );
    assert_eq!(
        fps(&search(&server, "source=discovered chain=leaf").await),
        {
            let mut v = vec![fp_self.clone(), fp_expired.clone(), fp_weak.clone()];
            v.sort();
            v
        }
    );
    assert_eq!(
        fps(&search(&server, "key.algorithm=rsa-1024").await),
        vec![fp_weak.clone()]
    );
    assert_eq!(
        fps(&search(&server, "san=orphan.inventory.test").await).len(),
        1
    );

    // The detail: locations with first/last seen, the PEM.
    let (s, item) = server.get(&format!("/api/v1/inventory/{fp_self}")).await;
    assert_eq!(s, 200, "{item}");
    assert_eq!(item["subject"], "CN=rsa2048.scan.test");
    assert_eq!(item["self_signed"], true);
    assert_eq!(
        item["locations"][0]["endpoint"],
        format!("127.0.0.1:{p_self}")
    );
    assert!(item["locations"][0]["first_seen"].is_i64(), "{item}");
    assert!(
        item["pem"]
            .as_str()
            .is_some_and(|p| p.starts_with("-----BEGIN CERTIFICATE-----"))
    );

    // Findings.
    assert_eq!(
        finding_fps(&findings(&server, "weak-key").await),
        vec![fp_weak.clone()]
    );
    assert_eq!(
        finding_fps(&findings(&server, "expired-served").await),
        vec![fp_expired.clone()]
    );
    let mut selfs = vec![fp_self.clone(), fp_expired.clone(), fp_weak.clone()];
    selfs.sort();
    assert_eq!(
        finding_fps(&findings(&server, "self-signed-leaf").await),
        selfs
    );
    let orphans = findings(&server, "orphan").await;
    let orphan_fp = orphans
        .iter()
        .find(|f| f["item"]["serial_hex"] == orphan["serial"])
        .expect("the REST-issued certificate is an orphan");
    assert!(
        orphan_fp["action"]
            .as_str()
            .is_some_and(|a| a.contains("revoke")),
        "{orphan_fp}"
    );
    assert!(
        !orphans.iter().any(|f| f["subject_key"] == fp_ours.as_str()),
        "our server's certificate is deployed: {orphans:#?}"
    );
    let expired = &findings(&server, "expired-served").await[0];
    assert_eq!(expired["severity"], "critical");
    assert_eq!(expired["locations"][0], format!("127.0.0.1:{p_expired}"));
    // The self-signed RSA-2048 is valid 20 days: `expiring` (default 30 days) …
    assert!(finding_fps(&findings(&server, "expiring").await).contains(&fp_self));

    // … owner and labels, audited; env=prod makes its threshold 400 days.
    let client = &server.client;
    let r = client
        .patch(server.url(&format!("/api/v1/inventory/{fp_self}")))
        .bearer_auth(&server.token)
        .json(&json!({"owner": "alice@example.com", "team": "payments", "labels": {"env": "prod", "app": "=cmd"}}))
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), 200);
    assert_eq!(
        fps(&search(&server, "label:env=prod").await),
        vec![fp_self.clone()]
    );
    assert_eq!(
        fps(&search(&server, "owner=alice@example.com team=payments").await),
        vec![fp_self.clone()]
    );
    let expiring = findings(&server, "expiring").await;
    let mine = expiring
        .iter()
        .find(|f| f["subject_key"] == fp_self.as_str())
        .expect("still expiring under the 400-day threshold");
    assert_eq!(mine["owner"], "alice@example.com");
    assert_eq!(mine["team"], "payments");
    // Bad labels are refused with a stable code.
    let r = client
        .patch(server.url(&format!("/api/v1/inventory/{fp_self}")))
        .bearer_auth(&server.token)
        .json(&json!({"labels": {"bad name": "x"}}))
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["code"], "bad_request", "{v}");

    // CSV export of a query: a header, one row per item, formula-looking values defused.
    let r = client
        .get(server.url("/api/v1/inventory?q=location%3D127.0.0.1&format=csv"))
        .bearer_auth(&server.token)
        .send()
        .await
        .expect("csv");
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap_or("")
            .starts_with("text/csv")
    );
    let csv = r.text().await.expect("text");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 6, "{csv}");
    assert!(lines[0].starts_with("fingerprint,kind,source,status,"));
    let row = lines.iter().find(|l| l.starts_with(&fp_self)).expect("row");
    assert!(
        row.contains("alice@example.com") && row.contains("app==cmd env=prod"),
        "{row}"
    );

    // The CLI reads the same inventory.
    let v = home.moor_json(&["certs", "search", "label:env=prod"]);
    assert_eq!(v["items"][0]["fingerprint"], fp_self.as_str(), "{v}");
    let v = home.moor_json(&["findings", "--kind", "weak-key"]);
    assert_eq!(v[0]["subject_key"], fp_weak.as_str(), "{v}");

    // A group action: the dry run lists, changes nothing; then it revokes.
    let q = "san=orphan.inventory.test";
    let (s, dry) = server
        .post(
            "/api/v1/inventory/actions",
            &json!({"query": q, "action": "revoke", "reason": 5}),
        )
        .await;
    assert_eq!(s, 200, "{dry}");
    assert_eq!(
        (dry["dry_run"].clone(), dry["actionable"].clone()),
        (json!(true), json!(1)),
        "{dry}"
    );
    assert_eq!(search(&server, "status=revoked").await.len(), 0);
    let (s, stale) = server
        .post(
            "/api/v1/inventory/actions",
            &json!({"query": q, "action": "revoke", "reason": 5, "dry_run": false, "selection": "00"}),
        )
        .await;
    assert_eq!(s, 400, "another selection stops the run: {stale}");
    let (s, blind) = server
        .post(
            "/api/v1/inventory/actions",
            &json!({"query": q, "action": "revoke", "reason": 5, "dry_run": false}),
        )
        .await;
    assert_eq!(s, 400, "no run without its dry run's selection: {blind}");
    // The selection is of the action too: a renewal's does not revoke.
    let (_, renew_dry) = server
        .post(
            "/api/v1/inventory/actions",
            &json!({"query": q, "action": "renew"}),
        )
        .await;
    assert_ne!(renew_dry["selection"], dry["selection"]);
    let (s, done) = server
        .post(
            "/api/v1/inventory/actions",
            &json!({"query": q, "action": "revoke", "reason": 5, "dry_run": false, "selection": dry["selection"]}),
        )
        .await;
    assert_eq!(s, 200, "{done}");
    assert_eq!(done["done"], 1, "{done}");
    assert_eq!(done["targets"][0]["outcome"], "revoked", "{done}");
    let revoked = search(&server, "status=revoked").await;
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0]["serial_hex"], orphan["serial"]);
    // Discovered items cannot be revoked here: skipped, not failed.
    let (_, skip_dry) = server
        .post(
            "/api/v1/inventory/actions",
            &json!({"query": "source=discovered", "action": "revoke"}),
        )
        .await;
    let (_, skip) = server
        .post(
            "/api/v1/inventory/actions",
            &json!({"query": "source=discovered", "action": "revoke", "dry_run": false, "selection": skip_dry["selection"]}),
        )
        .await;
    assert_eq!(
        (skip["done"].clone(), skip["failed"].clone()),
        (json!(0), json!(0)),
        "{skip}"
    );
    assert!(
        skip["targets"]
            .as_array()
            .expect("targets")
            .iter()
            .all(|t| t["outcome"] == "skipped: not issued here")
    );

    // The CLI: the dry run gives the selection; --yes needs it; then the renewal window
    // (ARI) opens for our server's certificate.
    let q = format!("fingerprint={fp_ours}");
    let dry = home.moor_json(&["certs", "act", &q, "--renew"]);
    assert_eq!(dry["actionable"], 1, "{dry}");
    assert_eq!(dry["targets"][0]["outcome"], "will renew", "{dry}");
    assert!(
        !home
            .moor(&["certs", "act", &q, "--renew", "--yes"])
            .status
            .success()
    );
    let sel = dry["selection"].as_str().expect("selection");
    let done = home.moor_json(&["certs", "act", &q, "--renew", "--yes", "--selection", sel]);
    assert_eq!(
        done["targets"][0]["outcome"], "renewal window set",
        "{done}"
    );

    // A rescan: the expired server now serves a new certificate; the old one is gone
    // from that place (and no longer "expired but served").
    drop(s2);
    self_signed(
        d,
        "expired",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "30",
        &[],
    );
    let _s2 = s_server(d, "expired", p_expired);
    let ack = scan_and_report(&home, &server, &ports).await;
    assert_eq!(ack["new"], 1, "{ack}");
    assert_eq!(ack["gone"], 1, "{ack}");
    assert_eq!(
        fps(&search(&server, "seen=gone").await),
        vec![fp_expired.clone()]
    );
    assert!(findings(&server, "expired-served").await.is_empty());

    // The audit chain holds every report, update and revocation.
    let v = home.moor_json(&["audit", "verify"]);
    assert!(v["first_failure"].is_null(), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_reports_and_queries_are_refused_clearly() {
    let home = Home::new(None);
    let server = home.serve();
    // Unauthenticated.
    let r = server
        .client
        .get(server.url("/api/v1/inventory"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 401);
    // Bad query, bad cursor, bad format, bad fingerprint.
    for (path, code) in [
        ("/api/v1/inventory?q=nosuch%3D1", 400),
        ("/api/v1/inventory?q=expires%3C5d&after=i7", 400),
        ("/api/v1/inventory?format=xml", 400),
        ("/api/v1/inventory/zz", 400),
        (&format!("/api/v1/inventory/{}", "ab".repeat(32)), 404),
        ("/api/v1/findings?kind=nonsense", 400),
    ] {
        let (s, v) = server.get(path).await;
        assert_eq!(s, code, "{path}: {v}");
        assert!(v["code"].is_string(), "{path}: {v}");
    }
    // Reports: relative paths, junk certificates (skipped, not stored), a wrong shape.
    let (s, v) = server
        .post(
            "/api/v1/inventory/reports",
            &json!({"host": "h", "files": [{"path": "etc/x.pem", "format": "pem"}]}),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    let junk = json!({"host": "h", "tls": [{
        "address": "10.9.9.9", "port": 443, "sni": null, "reachable": true, "error": null,
        "tls_version": "TLSv1.3",
        "chain": [{"position": "leaf", "subject": "CN=lie", "issuer": "CN=lie", "serial": "01",
                   "not_before": 0, "not_after": 1, "sans": [], "key_algorithm": "rsa-8192",
                   "signature_algorithm": "x", "fingerprint_sha256": "00", "self_signed": false,
                   "expired": false, "error": null, "der": "bm90IGEgY2VydGlmaWNhdGU="}]}]});
    let (s, v) = server.post("/api/v1/inventory/reports", &junk).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["certificates"], 0,
        "an unreadable certificate is not stored: {v}"
    );
    let (s, v) = server
        .post("/api/v1/inventory/reports", &json!({"host": 5}))
        .await;
    assert_eq!(s, 400, "{v}");
    // A report over the API's usual 64 KiB limit is accepted (reports have their own).
    let big = json!({"host": "h", "tls": (0..600).map(|i| json!({
        "address": format!("10.0.{}.{}", i / 250, i % 250), "port": 443, "sni": null,
        "reachable": false, "error": "connect: refused", "tls_version": null, "chain": []
    })).collect::<Vec<_>>()});
    assert!(big.to_string().len() > 64 * 1024);
    let (s, v) = server.post("/api/v1/inventory/reports", &big).await;
    assert_eq!(s, 200, "{v}");
}

/// Run `moor scan files DIR --report-to` against `server`; the server's answer.
fn report_files(
    home: &Home,
    server: &Server,
    roots: &std::path::Path,
    dir: &std::path::Path,
) -> Value {
    home.moor_json(&[
        "scan",
        "files",
        &dir.display().to_string(),
        "--host",
        "web-7",
        "--report-to",
        &server.base,
        "--token",
        &server.token,
        "--ca-bundle",
        &roots.display().to_string(),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_scans_report_certificates_keys_and_what_disappears() {
    use std::os::unix::fs::PermissionsExt as _;
    let scratch_dir = scratch();
    let tree = scratch_dir.path().join("etc");
    std::fs::create_dir_all(tree.join("ssl")).expect("mkdir");
    let home = Home::new(None);
    let server = home.serve();
    let roots = scratch_dir.path().join("roots.pem");
    std::fs::write(&roots, &server.roots_pem).expect("roots");
    self_signed(
        &tree.join("ssl"),
        "site",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "200",
        &[],
    );
    let key = tree.join("ssl/site.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let fp_site = fingerprint(&tree.join("ssl/site.pem"));
    let ssh_key = tree.join("id_ed25519");
    let (code, text) = crate::harness::run(
        &crate::harness::tool("ssh-keygen"),
        &[
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "deploy@web-7",
            "-f",
            &ssh_key.display().to_string(),
        ],
    );
    assert_eq!(code, 0, "{text}");
    let (code, text) = crate::harness::run(
        &crate::harness::tool("ssh-keygen"),
        &[
            "-l",
            "-f",
            &tree.join("id_ed25519.pub").display().to_string(),
        ],
    );
    assert_eq!(code, 0, "{text}");
    let ssh_fp = text
        .split_whitespace()
        .nth(1)
        .expect("SHA256:…")
        .to_string();

    // Through the real client and server: the certificate and the readable key file.
    let ack = report_files(&home, &server, &roots, &tree);
    // The certificate and the SSH public key; the TLS key and the SSH private key files.
    assert_eq!(ack["certificates"], 2, "{ack}");
    assert_eq!(ack["key_files"], 2, "{ack}");
    let ssh = search(&server, "kind=ssh-key").await;
    assert_eq!(ssh.len(), 1, "{ssh:#?}");
    assert_eq!(ssh[0]["key_algorithm"], "ed25519");
    assert_eq!(ssh[0]["subject"], "deploy@web-7");
    assert_eq!(
        ssh[0]["spki_sha256"],
        ssh_fp.as_str(),
        "the key's ssh-keygen fingerprint"
    );
    let canonical = std::fs::canonicalize(&tree).expect("canonical");
    let here = search(&server, &format!("location={}/ssl", canonical.display())).await;
    assert_eq!(fps(&here), vec![fp_site.clone()]);
    assert_eq!(
        search(&server, &format!("location={}", canonical.display()))
            .await
            .len(),
        2
    );
    let (_, item) = server.get(&format!("/api/v1/inventory/{fp_site}")).await;
    assert_eq!(item["locations"][0]["kind"], "file", "{item}");
    assert_eq!(item["locations"][0]["host"], "web-7", "{item}");
    let readable = findings(&server, "key-file-readable").await;
    let key_path = format!("web-7:{}", canonical.join("ssl/site.key").display());
    assert_eq!(
        finding_fps(&readable),
        vec![key_path.clone()],
        "{readable:#?}"
    );
    assert!(
        readable[0]["action"]
            .as_str()
            .is_some_and(|a| a.contains("chmod 600"))
    );

    // Fixed and removed: the key is no longer a finding, the certificate no longer seen.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    std::fs::remove_file(tree.join("ssl/site.pem")).expect("rm");
    let ack = report_files(&home, &server, &roots, &tree);
    assert_eq!(ack["gone"], 1, "{ack}");
    assert!(findings(&server, "key-file-readable").await.is_empty());
    assert_eq!(
        fps(&search(&server, "seen=gone").await),
        vec![fp_site.clone()]
    );
    // A wrong token is refused, and says so.
    let out = home.moor(&[
        "scan",
        "files",
        &tree.display().to_string(),
        "--report-to",
        &server.base,
        "--token",
        "moor_wrong",
        "--ca-bundle",
        &roots.display().to_string(),
    ]);
    assert!(!out.status.success());
}
