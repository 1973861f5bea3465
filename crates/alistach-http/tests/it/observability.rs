//! `/metrics`, `/api/status`, `/livez` and `/readyz` against a guarded catalog: counters move
//! by exactly what the test did, the status figures agree, and `METRICS_PUBLIC` opens both.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use alistach_cache::{Cache, ManualClock, MemoryCache, MemoryCacheConfig};
use alistach_domain::{ApiMode, UpstreamError};
use alistach_http::{ApiKey, App, HttpConfig, serve};
use alistach_policy::{Quota, RateLimiter};
use alistach_service::{CacheTtls, Catalog, GuardConfig, GuardedApi};
use alistach_testkit::prometheus;
use serde_json::Value;
use tokio::sync::oneshot;

use crate::support::TestApi;

const ADMIN: &str = "admin-secret";

/// A server over a guarded scriptable catalog, shut down on drop.
struct Guarded {
    base: String,
    client: reqwest::Client,
    api: Arc<TestApi>,
    _stop: oneshot::Sender<()>,
}

impl Guarded {
    async fn start(config: HttpConfig, guard: GuardConfig) -> Guarded {
        let api = TestApi::new(ApiMode::Real);
        let clock = Arc::new(ManualClock::new(1_700_000_000_000));
        let store: Arc<dyn Cache> =
            Arc::new(MemoryCache::new(MemoryCacheConfig::default(), clock.clone()).unwrap());
        let guarded = Arc::new(GuardedApi::new(api.clone(), guard));
        let catalog = Catalog::guarded(guarded, store, clock, CacheTtls::default());
        let app = Arc::new(App::new(catalog, config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(serve(listener, app, async {
            let _ = rx.await;
        }));
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        Guarded {
            base,
            client,
            api,
            _stop: tx,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn search(&self, keywords: &str) -> u16 {
        self.client
            .post(self.url("/api/products/search"))
            .header("content-type", "application/json")
            .body(serde_json::json!({ "keywords": keywords }).to_string())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// Every sample of `/metrics` by series text, after promtool has checked the exposition.
    async fn scrape(&self) -> HashMap<String, f64> {
        let r = self
            .client
            .get(self.url("/metrics"))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.headers()["content-type"],
            "text/plain; version=0.0.4; charset=utf-8"
        );
        let text = r.text().await.unwrap();
        prometheus::promtool_check_or_skip("observability::scrape", &text);
        prometheus::samples(&text)
    }

    async fn status(&self) -> Value {
        let r = self
            .client
            .get(self.url("/api/status"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        serde_json::from_str(&r.text().await.unwrap()).unwrap()
    }
}

fn config() -> HttpConfig {
    HttpConfig {
        admin_key: Some(ApiKey::new(ADMIN)),
        rate_limiter: Some(Arc::new(RateLimiter::new(
            vec![Quota::per_minute(10_000)],
            None,
        ))),
        ..HttpConfig::default()
    }
}

fn unlimited() -> GuardConfig {
    GuardConfig {
        max_qps: 1000,
        ..GuardConfig::default()
    }
}

fn get(samples: &HashMap<String, f64>, series: &str) -> f64 {
    samples.get(series).copied().unwrap_or(0.0)
}

const SEARCH_200: &str =
    "alistach_http_requests_total{route=\"/api/products/search\",method=\"POST\",status=\"200\"}";
const SEARCH_COUNT: &str =
    "alistach_http_request_duration_seconds_count{route=\"/api/products/search\",method=\"POST\"}";

#[tokio::test]
async fn counters_move_by_exactly_the_requests_made() {
    let s = Guarded::start(config(), unlimited()).await;
    // Warm one entry so the run has both misses and hits.
    assert_eq!(s.search("lamp").await, 200);
    let before = s.scrape().await;

    const N: usize = 7;
    for i in 0..N {
        // Three distinct queries (misses), the rest repeats (hits).
        let q = if i < 3 {
            format!("desk {i}")
        } else {
            "lamp".into()
        };
        assert_eq!(s.search(&q).await, 200);
    }
    s.api.fail_with(Some(UpstreamError::Timeout));
    assert_eq!(s.search("uncached chair").await, 504);
    let after = s.scrape().await;

    let moved = |series: &str| get(&after, series) - get(&before, series);
    assert_eq!(moved(SEARCH_200), N as f64);
    assert_eq!(
        moved(
            "alistach_http_requests_total{route=\"/api/products/search\",method=\"POST\",status=\"504\"}"
        ),
        1.0
    );
    assert_eq!(moved(SEARCH_COUNT), N as f64 + 1.0);
    assert_eq!(
        moved(
            "alistach_http_request_duration_seconds_bucket{route=\"/api/products/search\",method=\"POST\",le=\"+Inf\"}"
        ),
        N as f64 + 1.0
    );
    // The first scrape is counted by the second.
    assert_eq!(
        moved("alistach_http_requests_total{route=\"/metrics\",method=\"GET\",status=\"200\"}"),
        1.0
    );
    assert_eq!(
        moved("alistach_upstream_calls_total{method=\"search_products\",outcome=\"ok\"}"),
        3.0
    );
    assert_eq!(
        moved("alistach_upstream_calls_total{method=\"search_products\",outcome=\"timeout\"}"),
        1.0
    );
    assert_eq!(
        moved("alistach_upstream_duration_seconds_count{method=\"search_products\"}"),
        4.0
    );
    // A repeat arriving while the first answer is still being stored joins that fetch.
    assert_eq!(
        moved("alistach_cache_results_total{status=\"hit\",tier=\"layer\"}")
            + moved("alistach_cache_results_total{status=\"coalesced\",tier=\"layer\"}"),
        4.0
    );
    assert_eq!(
        moved("alistach_cache_results_total{status=\"miss\",tier=\"layer\"}"),
        4.0
    );
    assert_eq!(
        moved("alistach_ratelimit_decisions_total{decision=\"allowed\"}"),
        N as f64 + 1.0
    );
    assert_eq!(get(&after, "alistach_circuit_state{state=\"closed\"}"), 1.0);
    assert_eq!(get(&after, "alistach_mock_mode"), 0.0);
    assert!(
        after
            .keys()
            .any(|k| k.starts_with("alistach_build_info{version="))
    );
}

#[tokio::test]
async fn status_figures_agree_with_what_was_done() {
    let s = Guarded::start(
        config(),
        GuardConfig {
            max_qps: 1000,
            failure_threshold: 2,
            ..GuardConfig::default()
        },
    )
    .await;
    for q in ["a", "b", "a", "a"] {
        assert_eq!(s.search(q).await, 200);
    }
    assert_eq!(
        s.client
            .get(s.url("/api/nowhere"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    s.api.fail_with(Some(UpstreamError::Unavailable {
        reason: "HTTP 503".into(),
    }));
    assert_eq!(s.search("c").await, 503);
    assert_eq!(s.search("d").await, 503);
    // Open now: the upstream is not called.
    let calls = s.api.calls();
    assert_eq!(s.search("e").await, 503);
    assert_eq!(s.api.calls(), calls);

    let v = s.status().await;
    let d = &v["data"];
    // The v1.1.0 fields are all still there.
    for field in [
        "api_status",
        "integration_mode",
        "capabilities",
        "performance",
        "cache_performance",
    ] {
        assert!(d.get(field).is_some(), "{field} missing: {d}");
    }
    assert_eq!(d["api_status"], "degraded", "the circuit is open");
    assert_eq!(d["mode"], "real");
    let routes = d["requests"]["routes"].as_array().unwrap();
    let route = |path: &str, method: &str| {
        routes
            .iter()
            .find(|r| r["route"] == path && r["method"] == method)
            .unwrap_or_else(|| panic!("{method} {path} missing"))
    };
    let search = route("/api/products/search", "POST");
    assert_eq!(search["requests"], 7);
    assert_eq!(search["server_errors"], 3);
    assert_eq!(search["client_errors"], 0);
    assert!(search["latency_ms"]["p50"].as_f64().unwrap() > 0.0);
    assert!(
        search["latency_ms"]["p99"].as_f64().unwrap()
            >= search["latency_ms"]["p50"].as_f64().unwrap()
    );
    assert_eq!(route("unmatched", "*")["client_errors"], 1);
    // This status request is counted after it is answered.
    assert_eq!(route("/api/status", "GET")["requests"], 0);
    assert_eq!(d["requests"]["total"], 8);

    let up = &d["upstream"];
    assert_eq!(up["guarded"], true);
    assert_eq!(up["circuit_state"], "open");
    assert_eq!(up["circuit_opens"], 1);
    assert_eq!(up["calls"], 4, "{up}");
    assert_eq!(up["failures"], 2);
    assert_eq!(up["short_circuited"], 1);
    assert_eq!(up["max_qps"], 1000);

    let memory = d["cache_tiers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tier"] == "memory")
        .unwrap();
    assert_eq!(memory["hits"], 2);
    assert!(memory["hit_rate_percent"].as_f64().unwrap() > 0.0);

    assert_eq!(d["rate_limits"]["enabled"], true);
    // Seven searches and this status request are API calls; the unmatched path is not.
    assert_eq!(d["rate_limits"]["allowed"], 8, "{}", d["rate_limits"]);
    assert_eq!(d["rate_limits"]["rejected"], 0);
    assert_eq!(d["redis_connected"], false);

    let again = s.status().await;
    assert_eq!(
        again["data"]["requests"]["total"], 9,
        "the first status request is counted"
    );
}

#[tokio::test]
async fn metrics_and_status_are_restricted_unless_metrics_public() {
    let keyed = |public: bool| HttpConfig {
        api_keys: vec![ApiKey::named("gpt", "api-key-0123456789")],
        metrics_public: public,
        ..config()
    };
    let s = Guarded::start(keyed(false), unlimited()).await;
    let code = |path: &'static str| {
        let req = s.client.get(s.url(path));
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(code("/metrics").await, 401);
    assert_eq!(code("/api/status").await, 401);
    assert_eq!(code("/api/categories").await, 401);

    let s = Guarded::start(keyed(true), unlimited()).await;
    let code = |path: &'static str| {
        let req = s.client.get(s.url(path));
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(code("/metrics").await, 200);
    assert_eq!(code("/api/status").await, 200);
    assert_eq!(
        code("/api/categories").await,
        401,
        "only metrics and status open up"
    );
    assert_eq!(code("/api/cache/stats").await, 401);
}

#[tokio::test]
async fn liveness_and_readiness() {
    let s = Guarded::start(config(), unlimited()).await;
    let live = s.client.get(s.url("/livez")).send().await.unwrap();
    assert_eq!(live.status(), 200);
    let v: Value = serde_json::from_str(&live.text().await.unwrap()).unwrap();
    assert_eq!(v["status"], "ok");
    let ready = s.client.get(s.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let v: Value = serde_json::from_str(&ready.text().await.unwrap()).unwrap();
    assert_eq!(v["status"], "ready");
    assert_eq!(v["checks"][0]["name"], "cache:memory");
    assert_eq!(v["checks"][0]["ok"], true);
}
