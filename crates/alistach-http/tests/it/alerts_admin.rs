//! `GET /api/admin/alerts` and the snapshot the alert rules read.

use alistach_service::AlertSnapshot;

use crate::support::{Answer, TestServer, admin_config};

fn admin(s: &TestServer, path: &str) -> reqwest::RequestBuilder {
    s.client
        .get(s.url(path))
        .header("x-admin-key", "admin-secret")
}

#[tokio::test]
async fn alerts_need_the_admin_key_and_show_each_rule() {
    let s = TestServer::start(admin_config()).await;
    Answer::of(s.get("/api/admin/alerts").await)
        .await
        .assert_problem(401, None);

    let a = Answer::of(admin(&s, "/api/admin/alerts").send().await.unwrap()).await;
    assert_eq!(a.status, 200, "{:?}", a.json);
    let rules = a.json["data"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 10);
    assert!(rules.iter().all(|r| r["state"] == "inactive"));
    assert_eq!(a.json["metadata"]["eval_interval_seconds"], 15);

    // The circuit opens: with `for` 0 the rule fires at once, and the report says so.
    let t0 = AlertSnapshot {
        at_ms: 1_000,
        ..AlertSnapshot::default()
    };
    assert!(s.alerts.evaluate(t0).is_empty());
    let open = AlertSnapshot {
        at_ms: 16_000,
        circuit_open: true,
        ..AlertSnapshot::default()
    };
    let fired = s.alerts.evaluate(open);
    assert_eq!(fired.len(), 1);
    let a = Answer::of(admin(&s, "/api/admin/alerts").send().await.unwrap()).await;
    let rule = a.json["data"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == "upstream_circuit_open")
        .unwrap()
        .clone();
    assert_eq!(rule["state"], "firing");
    assert_eq!(rule["value"], 1.0);
    assert_eq!(rule["unit"], "boolean");
    assert!(rule["since"].is_string());
    let history: Vec<_> = rule["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["state"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(history, ["pending", "firing"]);
}

#[tokio::test]
async fn the_snapshot_counts_what_metrics_counts() {
    let s = TestServer::start(admin_config()).await;
    let before = s.app.alert_snapshot().await;
    for _ in 0..3 {
        let _ = s.get("/api/products/search?keywords=phone").await;
    }
    let after = s.app.alert_snapshot().await;
    assert_eq!(after.http_requests - before.http_requests, 3);
    assert_eq!(after.api_latency.count() - before.api_latency.count(), 3);
    assert!(after.at_ms >= before.at_ms);
    assert!(after.order_sync.is_some(), "the test server keeps orders");
}
