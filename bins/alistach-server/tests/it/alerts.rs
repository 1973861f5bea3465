//! The built-in alerts through the binary: with ALERT_EVAL_INTERVAL=1 and ALERT_FOR=2, the
//! fake gateway rejecting every call while searches run makes the upstream error-ratio alert
//! fire (GET /api/admin/alerts shows it, one `alert.firing` webhook arrives at a receiver on
//! 127.0.0.1, and one Slack message); good searches after the faults are cleared resolve it
//! (one `alert.resolved`, one Slack message).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use alistach_testkit::gateway::{FakeConfig, FakeGateway, Fault};
use serde_json::{Value, json};

use crate::support::{Server, client, temp_dir};
use crate::webhooks::{Received, Receiver};

const KEY: &str = "34567890";
const SECRET: &str = "fake-gateway-app-secret-9f3a";
const ADMIN: &str = "admin-key-for-alerts-0123456789";
const RULE: &str = "upstream_error_ratio_high";

async fn rule(server: &Server) -> Value {
    let r = client()
        .get(server.url("/api/admin/alerts"))
        .header("x-admin-key", ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    v["data"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == RULE)
        .cloned()
        .unwrap()
}

async fn wait_state(server: &Server, state: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = rule(server).await;
        if r["state"] == state {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "never {state}: {r}\n{}",
            server.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The alert events of [`RULE`] received, as (type, id).
fn alert_events(got: &[Received]) -> Vec<(String, String)> {
    got.iter()
        .filter(|r| r.answered == 200)
        .filter_map(|r| {
            let body: Value = serde_json::from_slice(&r.body).ok()?;
            (body["data"]["rule"] == RULE)
                .then(|| (body["type"].as_str().unwrap_or("").to_owned(), r.id.clone()))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_upstream_error_ratio_alert_fires_and_resolves_once_each() {
    let fake = FakeGateway::start(FakeConfig::new(KEY, SECRET)).await;
    let dir = temp_dir("alerts");
    let data = dir.display().to_string();
    let url = fake.url();
    let receiver = Receiver::start(200).await;
    let slack = Receiver::start(200).await;
    let slack_url = format!("{}/slack-token-5fa1c9", slack.url());
    let server = Server::start(&[
        ("ALERT_SLACK_WEBHOOK_URL", slack_url.as_str()),
        ("ALIEXPRESS_APP_KEY", KEY),
        ("ALIEXPRESS_APP_SECRET", SECRET),
        ("ALIEXPRESS_API_URL", url.as_str()),
        ("ALIEXPRESS_TIMEOUT", "2"),
        ("ALIEXPRESS_MAX_QPS", "100"),
        ("RATE_LIMIT_ENABLED", "false"),
        ("ADMIN_API_KEY", ADMIN),
        ("DATA_DIR", data.as_str()),
        ("WEBHOOK_ALLOW_PRIVATE", "true"),
        ("WEBHOOK_TIMEOUT", "2"),
        ("ALERT_EVAL_INTERVAL", "1"),
        ("ALERT_FOR", "2"),
    ]);
    let r = client()
        .post(server.url("/api/admin/webhooks"))
        .header("x-admin-key", ADMIN)
        .json(&json!({"url": receiver.url(), "events": ["alert.firing", "alert.resolved"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(rule(&server).await["state"], "inactive");

    // Searches run all along (distinct keywords: nothing is served from the cache), so every
    // evaluation window has calls in it.
    let stop = Arc::new(AtomicBool::new(false));
    let n = Arc::new(AtomicU64::new(0));
    let searches = {
        let (stop, n, base) = (stop.clone(), n.clone(), server.url("/api/products/search"));
        tokio::spawn(async move {
            let c = client();
            while !stop.load(Ordering::SeqCst) {
                let i = n.fetch_add(1, Ordering::SeqCst);
                let _ = c
                    .post(&base)
                    .json(&json!({"keywords": format!("alert probe {i}"), "page_size": 2}))
                    .send()
                    .await;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };

    // The platform rejects every call's signature: failures that reach it (not transient, so
    // the circuit stays closed and calls keep reaching it).
    fake.fail_always(Fault::ErrorResponse {
        error_type: "ISV".into(),
        code: "IncompleteSignature".into(),
        msg: "invalid signature".into(),
    });
    let firing = wait_state(&server, "firing").await;
    assert!(firing["value"].as_f64().unwrap() > 0.10, "{firing}");
    assert_eq!(firing["threshold"], 0.10);
    let history: Vec<_> = firing["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["state"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(history, ["pending", "firing"], "{firing}");
    receiver
        .wait("one alert.firing", |got| !alert_events(got).is_empty())
        .await;

    fake.clear_faults();
    wait_state(&server, "resolved").await;
    receiver
        .wait("alert.resolved", |got| {
            alert_events(got).iter().any(|(t, _)| t == "alert.resolved")
        })
        .await;
    // A few more evaluations with good searches: nothing else is sent.
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::SeqCst);
    searches.await.unwrap();
    let events = alert_events(&receiver.received());
    let kinds: Vec<_> = events.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(kinds, ["alert.firing", "alert.resolved"], "{events:?}");
    assert_ne!(events[0].1, events[1].1, "one id per notification");
    assert!(n.load(Ordering::SeqCst) > 10);
    assert_eq!(rule(&server).await["state"], "resolved");

    // Slack got the same two notifications as {"text": ...}, unsigned; its URL is never logged.
    let texts: Vec<String> = slack
        .received()
        .iter()
        .filter_map(|r| {
            let v: Value = serde_json::from_slice(&r.body).ok()?;
            let text = v["text"].as_str()?.to_owned();
            text.contains(RULE).then_some(text)
        })
        .collect();
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(
        texts[0].contains("FIRING") && texts[1].contains("RESOLVED"),
        "{texts:?}"
    );
    assert!(
        slack.received().iter().all(|r| r.id.is_empty()),
        "not signed"
    );
    assert!(!server.logs().contains("slack-token-5fa1c9"));
}
