//! Observability and quota protection through the real binary: `/metrics` counters move by
//! exactly the requests made, `/api/status` agrees, and against a failing fake gateway the
//! circuit opens, stops the calls, answers 503 problem+json and serves cached data stale.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use alistach_testkit::gateway::{FakeConfig, FakeGateway, Fault};
use alistach_testkit::prometheus;
use serde_json::{Value, json};

use crate::support::{Server, client};

const KEY: &str = "34567890";
const SECRET: &str = "fake-gateway-app-secret-9f3a";
const ADMIN: &str = "admin-key-for-e2e-abcdefghijkl";

/// `/metrics` as series text → value, after promtool has checked the exposition.
async fn scrape(c: &reqwest::Client, server: &Server, admin: Option<&str>) -> HashMap<String, f64> {
    let mut req = c.get(server.url("/metrics"));
    if let Some(key) = admin {
        req = req.bearer_auth(key);
    }
    let r = req.send().await.unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    prometheus::promtool_check_or_skip("observability::scrape", &text);
    prometheus::samples(&text)
}

fn value(samples: &HashMap<String, f64>, series: &str) -> f64 {
    samples.get(series).copied().unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_counters_and_status_follow_the_requests_made() {
    let server = Server::start(&[("METRICS_PUBLIC", "true")]);
    let c = client();
    let before = scrape(&c, &server, None).await;

    const N: usize = 6;
    for i in 0..N {
        let r = c
            .get(server.url(&format!("/api/products/search?keywords=lamp+{}", i % 2)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    for _ in 0..2 {
        let r = c
            .post(server.url("/api/products/search"))
            .json(&json!({"page_size": 5}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422, "a search needs keywords or a category");
    }
    let after = scrape(&c, &server, None).await;
    let moved = |series: &str| value(&after, series) - value(&before, series);
    assert_eq!(
        moved(
            "alistach_http_requests_total{route=\"/api/products/search\",method=\"GET\",status=\"200\"}"
        ),
        N as f64
    );
    assert_eq!(
        moved(
            "alistach_http_requests_total{route=\"/api/products/search\",method=\"POST\",status=\"422\"}"
        ),
        2.0
    );
    assert_eq!(
        moved(
            "alistach_http_request_duration_seconds_count{route=\"/api/products/search\",method=\"GET\"}"
        ),
        N as f64
    );
    assert_eq!(
        moved("alistach_cache_results_total{status=\"miss\",tier=\"layer\"}"),
        2.0
    );
    // A repeat that arrives while the first answer is still being stored joins that fetch
    // (coalesced) instead of reading the store (hit); either way the upstream is not called.
    assert_eq!(
        moved("alistach_cache_results_total{status=\"hit\",tier=\"layer\"}")
            + moved("alistach_cache_results_total{status=\"coalesced\",tier=\"layer\"}"),
        (N - 2) as f64
    );
    assert_eq!(
        moved("alistach_ratelimit_decisions_total{decision=\"allowed\"}"),
        (N + 2) as f64
    );
    assert_eq!(value(&after, "alistach_mock_mode"), 1.0);
    assert!(
        after
            .keys()
            .any(|k| k.starts_with("alistach_build_info{version=\"")),
        "build info missing"
    );

    // METRICS_PUBLIC opened /api/status too (no API keys here, so it was open anyway).
    let v: Value = c
        .get(server.url("/api/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let d = &v["data"];
    assert_eq!(d["mode"], "mock");
    assert_eq!(d["integration_mode"], "mock");
    let routes = d["requests"]["routes"].as_array().unwrap();
    let route = |path: &str, method: &str| {
        routes
            .iter()
            .find(|r| r["route"] == path && r["method"] == method)
            .unwrap()
            .clone()
    };
    let get = route("/api/products/search", "GET");
    assert_eq!(get["requests"], N);
    assert_eq!(get["client_errors"], 0);
    let post = route("/api/products/search", "POST");
    assert_eq!(post["requests"], 2);
    assert_eq!(post["client_errors"], 2);
    assert_eq!(route("/metrics", "GET")["requests"], 2);
    assert_eq!(d["requests"]["total"], N + 2 + 2);
    assert_eq!(d["upstream"]["guarded"], false, "mock mode is not guarded");
    assert_eq!(d["upstream"]["circuit_state"], "none");
    assert_eq!(d["upstream"]["calls"], 2);
    assert_eq!(d["rate_limits"]["allowed"], N + 2 + 1);
    assert_eq!(d["api_status"], "operational");

    let live = c.get(server.url("/livez")).send().await.unwrap();
    assert_eq!(live.status(), 200);
    let ready = c.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_need_the_admin_key_unless_public() {
    let server = Server::start(&[("ADMIN_API_KEY", ADMIN)]);
    let c = client();
    assert_eq!(
        c.get(server.url("/metrics")).send().await.unwrap().status(),
        401
    );
    let samples = scrape(&c, &server, Some(ADMIN)).await;
    assert_eq!(value(&samples, "alistach_mock_mode"), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_circuit_opens_on_a_failing_gateway_and_stale_data_stands_in() {
    let fake = FakeGateway::start(FakeConfig::new(KEY, SECRET)).await;
    let server = Server::start(&[
        ("ALIEXPRESS_APP_KEY", KEY),
        ("ALIEXPRESS_APP_SECRET", SECRET),
        ("ALIEXPRESS_API_URL", &fake.url()),
        ("ALIEXPRESS_TIMEOUT", "2"),
        ("ALIEXPRESS_MAX_QPS", "50"),
        ("CACHE_TTL", "1"),
        ("ADMIN_API_KEY", ADMIN),
    ]);
    let c = client();
    let search = |keywords: &str| {
        c.post(server.url("/api/products/search"))
            .json(&json!({"keywords": keywords, "page_size": 4}))
            .send()
    };

    let cached_at = Instant::now();
    let first: Value = search("wireless").await.unwrap().json().await.unwrap();
    assert_eq!(first["data"]["cache_hit"], false);
    assert!(!first["data"]["products"].as_array().unwrap().is_empty());

    fake.fail_always(Fault::Status(503));
    // The default threshold is five transient failures in a row (each after the client's
    // own retries).
    for i in 0..5 {
        let r = search(&format!("failing {i}")).await.unwrap();
        assert_eq!(r.status(), 503);
    }
    let reached = fake.total_requests();
    assert!(reached >= 6, "the failures reached the gateway: {reached}");

    // Open: fail fast, nothing reaches the gateway.
    for i in 0..3 {
        let r = search(&format!("while open {i}")).await.unwrap();
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["status"], 503);
        assert_eq!(v["upstream"]["kind"], "unavailable", "{v}");
    }
    assert_eq!(
        fake.total_requests(),
        reached,
        "calls reached an open circuit"
    );

    // The entry cached before the outage is served stale while the circuit is open (it must
    // first expire: CACHE_TTL=1 plus the 0.1 s revalidation window).
    let expired = cached_at + Duration::from_millis(1300);
    if let Some(left) = expired.checked_duration_since(Instant::now()) {
        tokio::time::sleep(left).await;
    }
    let r = search("wireless").await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-cache"], "STALE");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["metadata"]["stale"], true);
    assert_eq!(v["data"]["products"], first["data"]["products"]);
    assert_eq!(fake.total_requests(), reached);

    let m = scrape(&c, &server, Some(ADMIN)).await;
    assert_eq!(value(&m, "alistach_circuit_state{state=\"open\"}"), 1.0);
    assert_eq!(value(&m, "alistach_circuit_opens_total"), 1.0);
    assert_eq!(
        value(
            &m,
            "alistach_upstream_calls_total{method=\"search_products\",outcome=\"unavailable\"}"
        ),
        5.0
    );
    assert_eq!(
        value(
            &m,
            "alistach_upstream_calls_total{method=\"search_products\",outcome=\"short_circuited\"}"
        ),
        4.0
    );
    assert_eq!(
        value(
            &m,
            "alistach_upstream_calls_total{method=\"search_products\",outcome=\"ok\"}"
        ),
        1.0
    );
    assert_eq!(value(&m, "alistach_mock_mode"), 0.0);

    let v: Value = c
        .get(server.url("/api/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let up = &v["data"]["upstream"];
    assert_eq!(up["guarded"], true);
    assert_eq!(up["circuit_state"], "open");
    assert_eq!(up["calls"], 6);
    assert_eq!(up["failures"], 5);
    assert_eq!(up["short_circuited"], 4);
    assert_eq!(up["max_qps"], 50);
    assert_eq!(v["data"]["api_status"], "degraded");
    fake.clear_faults();
}
