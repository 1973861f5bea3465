//! The Redis tier through two real server processes: they serve each other's entries, survive
//! the redis-server dying mid-test without a failed request, and use a restarted one again.

use std::time::Duration;

use alistach_testkit::redis_server::RedisServer;
use serde_json::{Value, json};

use crate::support::{Server, client, metric};

const ADMIN: &str = "admin-key-shared-cache-0001";

async fn search(c: &reqwest::Client, s: &Server, keywords: &str) -> (u16, String, Value) {
    let r = c
        .post(s.url("/api/products/search"))
        .json(&json!({"keywords": keywords, "page_size": 5}))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let x_cache = r
        .headers()
        .get("x-cache")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, x_cache, r.json().await.unwrap_or(Value::Null))
}

async fn redis_connected(c: &reqwest::Client, s: &Server) -> bool {
    let v: Value = c
        .get(s.url("/api/cache/stats"))
        .header("x-admin-key", ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["data"]["cache_config"]["redis_connected"]
        .as_bool()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_entries_and_survive_a_redis_restart() {
    let Some(mut redis) = RedisServer::start_or_skip("two_instances_share_entries") else {
        return;
    };
    let port = redis.port();
    let url = redis.url();
    let env = [("REDIS_URL", url.as_str()), ("ADMIN_API_KEY", ADMIN)];
    let one = Server::start(&env);
    let two = Server::start(&env);
    let c = client();

    let (status, cache, first) = search(&c, &one, "phone case").await;
    assert_eq!((status, cache.as_str()), (200, "MISS"));
    // The second process has never seen this question: it comes from the shared Redis tier.
    let (status, cache, second) = search(&c, &two, "phone case").await;
    assert_eq!(
        (status, cache.as_str()),
        (200, "HIT"),
        "the second instance did not find the shared entry"
    );
    assert_eq!(first["data"]["products"], second["data"]["products"]);
    assert!(redis_connected(&c, &one).await);

    // Redis dies: no request fails, new questions are answered, cached ones still hit in memory.
    redis.kill();
    for i in 0..10 {
        let (status, _, _) = search(&c, &two, &format!("led strip {i}")).await;
        assert_eq!(status, 200, "a request failed while Redis was down");
    }
    let (status, cache, _) = search(&c, &two, "phone case").await;
    assert_eq!((status, cache.as_str()), (200, "HIT"));
    assert!(
        !redis_connected(&c, &one).await,
        "redis_connected must be live"
    );

    // A restarted redis-server on the same port is used again, without restarting the servers.
    let _redis = RedisServer::start_on_port(port);
    let mut back = false;
    for _ in 0..50 {
        if redis_connected(&c, &one).await {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back, "the restarted Redis was not picked up");
    let (_, cache, _) = search(&c, &one, "yoga mat").await;
    assert_eq!(cache, "MISS");
    let mut shared = false;
    for _ in 0..20 {
        let (_, cache, _) = search(&c, &two, "yoga mat").await;
        if cache == "HIT" {
            shared = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(shared, "entries are shared again after the restart");
}

/// A busy client with large limits is counted in leases (one Redis script call admits several
/// requests), and two instances on one Redis still admit no more than the one shared limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_lease_a_busy_clients_admissions_and_keep_its_one_limit() {
    let Some(redis) = RedisServer::start_or_skip("two_instances_lease_admissions") else {
        return;
    };
    let url = redis.url();
    // 400 a minute and a second: leases of up to 400 / 20 = 20 admissions.
    let env = [
        ("REDIS_URL", url.as_str()),
        ("ADMIN_API_KEY", ADMIN),
        ("METRICS_PUBLIC", "true"),
        ("MAX_REQUESTS_PER_MINUTE", "400"),
        ("MAX_REQUESTS_PER_SECOND", "400"),
    ];
    let (one, two) = (Server::start(&env), Server::start(&env));
    let c = client();
    let (mut admitted, mut refused) = (0u32, 0u32);
    for i in 0..700 {
        let s = if i % 2 == 0 { &one } else { &two };
        let r = c.get(s.url("/api/categories")).send().await.unwrap();
        match r.status().as_u16() {
            200 => admitted += 1,
            429 => {
                refused += 1;
                assert!(r.headers().contains_key("retry-after"));
            }
            other => panic!("unexpected status {other}"),
        }
    }
    // One limit for both: 400 (plus what the test's own duration refilled, at 400 a minute),
    // less at most one lease held by each instance when the other ran dry.
    assert!(
        (400 - 2 * 20..=400 + 40).contains(&admitted),
        "admitted {admitted}"
    );
    assert_eq!(admitted + refused, 700);
    let leased = metric(&c, &one, "alistach_ratelimit_leased_total").await
        + metric(&c, &two, "alistach_ratelimit_leased_total").await;
    assert!(leased > 200.0, "most admissions came from leases: {leased}");
    drop(redis);
}
