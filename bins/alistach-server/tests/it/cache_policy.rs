//! `CACHE_POLICY=adaptive` through the real binary: reported in `/api/status` and `/metrics`,
//! a hot key refreshed ahead of expiry (seen in the fake gateway's request count), and what was
//! learned restored after a restart from the SQLite store in `DATA_DIR`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use alistach_testkit::gateway::{FakeConfig, FakeGateway};
use alistach_testkit::prometheus;
use alistach_testkit::redis_server::RedisServer;
use serde_json::{Value, json};

use crate::support::{Server, client, temp_dir};

const KEY: &str = "34567890";
const SECRET: &str = "fake-gateway-app-secret-9f3a";
const QUERY: &str = "aliexpress.affiliate.product.query";
const ADMIN: &str = "admin-key-for-e2e-abcdefghijkl";

async fn status(c: &reqwest::Client, server: &Server) -> Value {
    let r = c.get(server.url("/api/status")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    v["data"]["cache_policy"].clone()
}

async fn scrape(c: &reqwest::Client, server: &Server) -> HashMap<String, f64> {
    let r = c
        .get(server.url("/metrics"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    prometheus::promtool_check_or_skip("cache_policy::scrape", &text);
    prometheus::samples(&text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_is_the_default_and_is_reported() {
    let server = Server::start(&[("ADMIN_API_KEY", ADMIN)]);
    let c = client();
    let policy = status(&c, &server).await;
    assert_eq!(policy["policy"], "static");
    assert_eq!(policy["refresh_ahead_calls"], 0);
    let samples = scrape(&c, &server).await;
    assert_eq!(
        samples.get(r#"alistach_cache_policy{policy="static"}"#),
        Some(&1.0)
    );
    assert!(
        !samples
            .keys()
            .any(|k| k.starts_with("alistach_cache_learned_ttl"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hot_key_is_refreshed_ahead_of_expiry_within_its_budget() {
    let fake = FakeGateway::start(FakeConfig::new(KEY, SECRET)).await;
    let url = fake.url();
    let server = Server::start(&[
        ("ALIEXPRESS_APP_KEY", KEY),
        ("ALIEXPRESS_APP_SECRET", SECRET),
        ("ALIEXPRESS_TRACKING_ID", "e2e_tracking"),
        ("ALIEXPRESS_API_URL", url.as_str()),
        ("ADMIN_API_KEY", ADMIN),
        ("CACHE_POLICY", "adaptive"),
        // Short lives so a few seconds hold several; the bounds hold every learned TTL.
        ("CACHE_TTL", "2"),
        ("CACHE_TTL_MIN", "1"),
        ("CACHE_TTL_MAX", "2"),
        ("CACHE_POPULARITY_HALF_LIFE", "5"),
    ]);
    let c = client();
    let body = json!({"keywords": "wireless earbuds", "page_size": 5});
    let started = Instant::now();
    let mut statuses: HashMap<String, u32> = HashMap::new();
    while started.elapsed() < Duration::from_secs(6) {
        let r = c
            .post(server.url("/api/products/search"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let x_cache = r.headers()["x-cache"].to_str().unwrap().to_owned();
        *statuses.entry(x_cache).or_default() += 1;
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    let policy = status(&c, &server).await;
    assert_eq!(policy["policy"], "adaptive", "{policy}");
    assert_eq!(policy["call_budget"], 1.0, "{policy}");
    assert!(policy["call_share"].as_f64().is_some(), "{policy}");
    let refreshed = policy["refresh_ahead_calls"].as_u64().unwrap();
    assert!(
        refreshed >= 1,
        "no refresh ahead of expiry: {policy} {statuses:?}"
    );
    // Every refresh ahead is an upstream call of its own, beside the first miss.
    let calls = fake.requests(QUERY) as u64;
    assert!(
        calls > refreshed,
        "{calls} calls, {refreshed} refreshes ahead"
    );
    assert_eq!(statuses.get("MISS"), Some(&1), "{statuses:?}");
    // No learned TTL left its bounds: every one was stored at 1 or 2 s (the first bucket).
    let buckets = policy["ttl_distribution"].as_array().unwrap();
    assert_eq!(buckets[0]["le_seconds"], 60);
    let stored: u64 = buckets.iter().map(|b| b["count"].as_u64().unwrap()).sum();
    assert_eq!(buckets[0]["count"].as_u64().unwrap(), stored);
    assert!(stored >= 2, "{policy}");
    let mean = policy["mean_ttl_seconds"].as_f64().unwrap();
    assert!((1.0..=2.0).contains(&mean), "{mean}");

    let samples = scrape(&c, &server).await;
    assert_eq!(
        samples.get(r#"alistach_cache_policy{policy="adaptive"}"#),
        Some(&1.0)
    );
    let started_total = samples
        .get(r#"alistach_cache_refresh_ahead_total{outcome="started"}"#)
        .copied()
        .unwrap_or(0.0);
    assert!(started_total >= refreshed as f64, "{started_total}");
    assert!(
        samples
            .get("alistach_cache_learned_ttl_seconds_count")
            .copied()
            .unwrap_or(0.0)
            >= 2.0
    );
    assert!(samples.contains_key("alistach_cache_estimated_stale_share"));
    assert!(samples.contains_key("alistach_cache_call_share"));
    // The default budget: no more upstream calls than fixed TTLs would make.
    assert_eq!(samples.get("alistach_cache_call_budget_share"), Some(&1.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn learned_state_survives_a_restart() {
    let data = temp_dir("learn");
    let data_dir = data.to_string_lossy().into_owned();
    let env = [
        ("DATA_DIR", data_dir.as_str()),
        ("CACHE_POLICY", "adaptive"),
    ];
    let c = client();
    let body = json!({"keywords": "wireless earbuds", "page_size": 5});
    let mut first = Server::start(&env);
    assert_eq!(status(&c, &first).await["keys_tracked"], 0);
    let r = c
        .post(first.url("/api/products/search"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(status(&c, &first).await["keys_tracked"], 1);
    first.terminate();
    assert!(first.wait_exit(Duration::from_secs(20)).is_some());
    assert!(
        first.logs().contains("cache learning saved"),
        "{}",
        first.logs()
    );
    drop(first);

    let second = Server::start(&env);
    let policy = status(&c, &second).await;
    assert_eq!(
        policy["keys_tracked"], 1,
        "restored before any request: {policy}"
    );
    assert_eq!(policy["refetches_compared"], 0);
    // The first fetch after the restart is compared with the answer fetched before it: the
    // mock catalog's answer has not changed.
    let r = c
        .post(second.url("/api/products/search"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-cache"], "MISS");
    let policy = status(&c, &second).await;
    assert_eq!(policy["refetches_compared"], 1, "{policy}");
    assert_eq!(policy["changes_observed"], 0, "{policy}");
    drop(second);
    let _ = std::fs::remove_dir_all(&data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_on_one_redis_share_what_they_learn() {
    let Some(redis) = RedisServer::start_or_skip("instances_on_one_redis_share_what_they_learn")
    else {
        return;
    };
    let url = redis.url();
    // Each instance its own SQLite (Server::start gives each a private DATA_DIR): only Redis is
    // common.
    let env = [("REDIS_URL", url.as_str()), ("CACHE_POLICY", "adaptive")];
    let c = client();
    let body = json!({"keywords": "wireless earbuds", "page_size": 5});
    let mut first = Server::start(&env);
    let r = c
        .post(first.url("/api/products/search"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    first.terminate();
    assert!(first.wait_exit(Duration::from_secs(20)).is_some());
    drop(first);
    let second = Server::start(&env);
    let policy = status(&c, &second).await;
    assert_eq!(
        policy["keys_tracked"], 1,
        "learned by the other instance: {policy}"
    );
}
