//! Alerts: a rule over `expiring` findings delivers to a loopback webhook that fails
//! twice, then takes it — the alert arrives on the third attempt, once, with the
//! certificate, owner, locations and action; the deliveries are recorded (webhook and
//! log); `/metrics` shows the certificate's expiry.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::harness::Home;

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    request_line: String,
    headers: Vec<(String, String)>,
    body: String,
    /// The status it was answered with.
    status: u16,
}

/// A loopback HTTP/1.1 receiver answering 500 to the first `failures` requests, then 200.
async fn receiver(failures: usize) -> (u16, Arc<Mutex<Vec<Received>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let got: Arc<Mutex<Vec<Received>>> = Arc::default();
    let seen = got.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let head_end = loop {
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i;
                    }
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let mut lines = head.split("\r\n");
                let request_line = lines.next().unwrap_or_default().to_string();
                let headers: Vec<(String, String)> = lines
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                    .collect();
                let len: usize = headers
                    .iter()
                    .find(|(k, _)| k == "content-length")
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(0);
                let mut body = buf[head_end + 4..].to_vec();
                while body.len() < len {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => body.extend_from_slice(&chunk[..n]),
                    }
                }
                let status = {
                    let mut v = seen.lock().expect("lock");
                    let status = if v.len() < failures { 500 } else { 200 };
                    v.push(Received {
                        request_line,
                        headers,
                        body: String::from_utf8_lossy(&body).to_string(),
                        status,
                    });
                    status
                };
                let reason = if status == 200 {
                    "OK"
                } else {
                    "Internal Server Error"
                };
                let answer = format!(
                    "HTTP/1.1 {status} {reason}\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                );
                let _ = sock.write_all(answer.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    (port, got)
}

fn header<'a>(r: &'a Received, name: &str) -> Option<&'a str> {
    r.headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test(flavor = "multi_thread")]
async fn webhook_failing_twice_gets_the_alert_on_retry_once() {
    let (port, got) = receiver(2).await;
    // The rule needs a label: the alert is raised only once the owner is set with it.
    let home = Home::new(Some(&format!(
        r#"[inventory]
expiring_days = 30

[alerts]
interval = "1s"
max_attempts = 5

[[alerts.rules]]
name = "expiring-soon"
findings = ["expiring"]
labels = ["alert=yes"]
webhooks = ["http://127.0.0.1:{port}/hook?token=s3cret"]

[[alerts.rules]]
name = "issuance"
findings = ["issued"]
log = true
"#
    )));
    let server = home.serve();
    let (s, issued) = server
        .post(
            "/api/v1/certificates",
            &json!({"profile": "tls-server", "sans": ["alerted.example.com"], "lifetime": "10d"}),
        )
        .await;
    assert_eq!(s, 201, "{issued}");
    let serial = issued["serial"].as_str().expect("serial").to_string();
    let (s, page) = server.get("/api/v1/inventory?q=alerted.example.com").await;
    assert_eq!(s, 200, "{page}");
    let items = page["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{page}");
    let fingerprint = items[0]["fingerprint"]
        .as_str()
        .expect("fingerprint")
        .to_string();
    // Nothing is alerted before the label is set.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(got.lock().expect("lock").is_empty(), "alerted too early");
    let r = server
        .client
        .patch(server.url(&format!("/api/v1/inventory/{fingerprint}")))
        .bearer_auth(&server.token)
        .json(&json!({"owner": "alice@example.com", "team": "web", "labels": {"alert": "yes"}}))
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());

    // Two failures, then the third attempt is taken (backoff 1 s, 2 s).
    let start = Instant::now();
    loop {
        let delivered = got.lock().expect("lock").iter().any(|r| r.status == 200);
        if delivered {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no delivery within 30 s: {:?}",
            got.lock().expect("lock")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // No duplicate afterwards.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let requests = got.lock().expect("lock").clone();
    assert_eq!(
        requests.iter().map(|r| r.status).collect::<Vec<_>>(),
        [500, 500, 200],
        "{requests:?}"
    );
    for r in &requests {
        assert_eq!(r.request_line, "POST /hook?token=s3cret HTTP/1.1");
        assert_eq!(header(r, "content-type"), Some("application/json"));
        assert!(
            header(r, "user-agent").is_some_and(|u| u.starts_with("mooring/")),
            "{r:?}"
        );
        assert_eq!(
            r.body, requests[0].body,
            "every attempt carries the same alert"
        );
    }
    let alert: Value = serde_json::from_str(&requests[2].body).expect("json body");
    assert_eq!(alert["rule"], "expiring-soon");
    assert_eq!(alert["finding"], "expiring");
    assert_eq!(alert["fingerprint"], fingerprint.as_str());
    assert_eq!(alert["subject_key"], fingerprint.as_str());
    assert_eq!(
        alert["serial"].as_str().map(str::to_ascii_lowercase),
        Some(serial.to_ascii_lowercase().replace(':', ""))
    );
    assert_eq!(alert["sans"], json!(["dns:alerted.example.com"]));
    assert_eq!(alert["owner"], "alice@example.com");
    assert_eq!(alert["team"], "web");
    assert!(alert["locations"].is_array(), "{alert}");
    assert!(
        alert["action"]
            .as_str()
            .is_some_and(|a| a.contains("renew")),
        "{alert}"
    );
    assert!(
        alert["detail"]
            .as_str()
            .is_some_and(|d| d.contains("expires")),
        "{alert}"
    );
    assert!(
        alert["not_after"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );

    // The deliveries as recorded: the webhook after 3 attempts, the log at once.
    let (s, deliveries) = server.get("/api/v1/alerts/deliveries").await;
    assert_eq!(s, 200, "{deliveries}");
    let ours: Vec<&Value> = deliveries
        .as_array()
        .expect("deliveries")
        .iter()
        .filter(|d| d["subject_key"] == fingerprint.as_str() && d["rule"] == "expiring-soon")
        .collect();
    assert_eq!(ours.len(), 2, "{deliveries}");
    // The issuance event: one log delivery for the certificate, whatever its labels.
    let issued_events: Vec<&Value> = deliveries
        .as_array()
        .expect("deliveries")
        .iter()
        .filter(|d| d["rule"] == "issuance" && d["finding"] == "issued")
        .collect();
    assert!(
        issued_events
            .iter()
            .any(|d| d["subject_key"] == fingerprint.as_str() && d["target"] == "log"),
        "{deliveries}"
    );
    assert!(
        !deliveries.to_string().contains("s3cret"),
        "the webhook's secret path is not shown: {deliveries}"
    );
    let hook = ours
        .iter()
        .find(|d| {
            d["target"]
                .as_str()
                .is_some_and(|t| t.starts_with("http://"))
        })
        .expect("webhook delivery");
    assert_eq!(hook["attempts"], 3, "{hook}");
    assert!(hook["delivered_at"].is_i64(), "{hook}");
    assert!(hook["failed_at"].is_null(), "{hook}");
    let log = ours
        .iter()
        .find(|d| d["target"] == "log")
        .expect("log delivery");
    assert_eq!(log["attempts"], 1, "{log}");
    assert!(log["delivered_at"].is_i64(), "{log}");
    // The log line names the alert; the webhook's secret never reaches the log.
    let text = std::fs::read_to_string(&server.stdout_path).expect("server log");
    assert!(
        text.lines()
            .any(|l| l.contains("expiring-soon") && l.contains(&fingerprint)),
        "no alert in the log: {text}"
    );
    assert!(
        !text.contains("s3cret"),
        "the webhook token was logged: {text}"
    );

    // Prometheus: without a token, no inventory series (they name what we hold) …
    let anonymous = server
        .client
        .get(server.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(anonymous.contains("mooring_crl_builder"), "{anonymous}");
    assert!(
        !anonymous.contains("mooring_certificate_not_after_timestamp_seconds")
            && !anonymous.contains(&fingerprint),
        "{anonymous}"
    );
    // … with an admin token, the certificate's expiry by fingerprint, with its owner.
    let metrics = server
        .client
        .get(server.url("/metrics"))
        .bearer_auth(&server.token)
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let line = metrics
        .lines()
        .find(|l| {
            l.starts_with("mooring_certificate_not_after_timestamp_seconds{")
                && l.contains(&format!("fingerprint=\"{fingerprint}\""))
        })
        .unwrap_or_else(|| panic!("no expiry series for {fingerprint}: {metrics}"));
    assert!(line.contains("owner=\"alice@example.com\""), "{line}");
    let not_after: i64 = line
        .rsplit(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .expect("value");
    assert_eq!(Some(not_after), issued["not_after"].as_i64(), "{line}");
    assert!(metrics.contains("mooring_certificate_series_truncated 0"));
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("mooring_findings{kind=\"expiring\"} ") && !l.ends_with(" 0")),
        "{metrics}"
    );
}
