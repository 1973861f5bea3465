//! Redis in operation, through the real binary and real redis-server processes: probes that
//! cost Redis at most one command a second, deployments on one Redis that never share answers,
//! a bounded Redis footprint, and a full Redis that degrades caching but never the limits.

use std::time::{Duration, Instant};

use alistach_testkit::gateway::{FakeConfig, FakeGateway};
use alistach_testkit::redis_server::RedisServer;
use serde_json::{Value, json};

use crate::support::{Server, client, get_json};

const KEY: &str = "34567890";
const SECRET: &str = "fake-gateway-app-secret-9f3a";
const LINKS: &str = "aliexpress.affiliate.link.generate";

/// Calls Redis counted since the last `CONFIG RESETSTAT`, the test's own `CONFIG` aside.
fn commands_since_reset(redis: &RedisServer) -> u64 {
    redis.command_calls(|name| name != "config").unwrap()
}

async fn health_redis_connected(c: &reqwest::Client, s: &Server) -> bool {
    let v: Value = get_json(c, s.url("/health")).await;
    v["redis_connected"].as_bool().unwrap()
}

/// Polls `/health` (the only traffic) until `redis_connected` is `want`, returning how long it took.
async fn until_health_says(c: &reqwest::Client, s: &Server, want: bool) -> Duration {
    let started = Instant::now();
    loop {
        if health_redis_connected(c, s).await == want {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "/health never said redis_connected={want}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_cost_redis_at_most_one_command_a_second_and_still_follow_it() {
    let Some(mut redis) = RedisServer::start_or_skip("probes_cost_redis_at_most_one_command")
    else {
        return;
    };
    let port = redis.port();
    let server = Server::start(&[("REDIS_URL", redis.url().as_str())]);
    let c = client();
    until_health_says(&c, &server, true).await;

    redis.command(&["CONFIG", "RESETSTAT"]).unwrap();
    let started = Instant::now();
    let mut probes = 0u64;
    while started.elapsed() < Duration::from_millis(2500) || probes < 300 {
        for path in ["/health", "/readyz", "/livez"] {
            let r = c.get(server.url(path)).send().await.unwrap();
            assert_eq!(r.status(), 200, "{path}");
            probes += 1;
        }
    }
    let elapsed = started.elapsed();
    let commands = commands_since_reset(&redis);
    // One check per started second, and one more for the second the burst began in.
    let allowed = elapsed.as_secs() + 2;
    assert!(
        commands <= allowed,
        "{probes} probes in {elapsed:?} sent Redis {commands} commands (at most {allowed} allowed)"
    );
    assert!(commands >= 1, "the probes never checked Redis at all");

    // With nothing but probes coming, a killed Redis shows within a couple of seconds ...
    redis.kill();
    let noticed = until_health_says(&c, &server, false).await;
    assert!(noticed < Duration::from_secs(3), "took {noticed:?}");
    let ready: Value = get_json(&c, server.url("/readyz")).await;
    assert_eq!(ready["status"], "ready", "memory still serves: {ready}");
    // ... and so does a restarted one (after the circuit's 2 s cool-down).
    let _redis = RedisServer::start_on_port(port);
    let back = until_health_says(&c, &server, true).await;
    assert!(back < Duration::from_secs(5), "took {back:?}");
}

fn real_env<'a>(fake: &'a str, redis: &'a str, tracking_id: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("ALIEXPRESS_APP_KEY", KEY),
        ("ALIEXPRESS_APP_SECRET", SECRET),
        ("ALIEXPRESS_API_URL", fake),
        ("ALIEXPRESS_TRACKING_ID", tracking_id),
        ("ALIEXPRESS_TIMEOUT", "2"),
        ("REDIS_URL", redis),
    ]
}

/// Asks `s` for links to two products: (X-Cache, the affiliate URLs).
async fn links(c: &reqwest::Client, s: &Server) -> (String, Vec<String>) {
    let r = c
        .post(s.url("/api/affiliate/links"))
        .json(&json!({"urls": ["https://www.aliexpress.com/item/1005006123456789.html", "32759108484"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let x_cache = r.headers()["x-cache"].to_str().unwrap().to_owned();
    let v: Value = r.json().await.unwrap();
    let urls = v["data"]["affiliate_links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["affiliate_url"].as_str().unwrap().to_owned())
        .collect();
    (x_cache, urls)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployments_sharing_a_redis_never_serve_each_others_links() {
    let Some(redis) = RedisServer::start_or_skip("deployments_sharing_a_redis") else {
        return;
    };
    let fake = FakeGateway::start(FakeConfig::new(KEY, SECRET)).await;
    let (fake_url, redis_url) = (fake.url(), redis.url());
    let prod = Server::start(&real_env(&fake_url, &redis_url, "prod_tracking"));
    let other_account = Server::start(&real_env(&fake_url, &redis_url, "other_tracking"));
    let prod_again = Server::start(&real_env(&fake_url, &redis_url, "prod_tracking"));
    let mut staging_env = real_env(&fake_url, &redis_url, "prod_tracking");
    staging_env.push(("REDIS_NAMESPACE", "staging"));
    let staging = Server::start(&staging_env);
    let c = client();

    let (cache, prod_links) = links(&c, &prod).await;
    assert_eq!(cache, "MISS");
    let sent = fake.last_request(LINKS).unwrap();
    assert_eq!(sent.params["tracking_id"], "prod_tracking");

    // Another tracking id on the same Redis: its own upstream call, its own links.
    let (cache, other_links) = links(&c, &other_account).await;
    assert_eq!(cache, "MISS", "the other account was served prod's entry");
    assert_eq!(fake.requests(LINKS), 2);
    assert_eq!(
        fake.last_request(LINKS).unwrap().params["tracking_id"],
        "other_tracking"
    );
    assert_eq!(other_links.len(), prod_links.len());
    for (theirs, ours) in other_links.iter().zip(&prod_links) {
        assert_ne!(theirs, ours, "a link carried the other account's tracking");
    }

    // The same settings still share: the second prod instance hits Redis.
    let (cache, again) = links(&c, &prod_again).await;
    assert_eq!(
        cache, "HIT",
        "identical deployments no longer share entries"
    );
    assert_eq!(again, prod_links);
    assert_eq!(fake.requests(LINKS), 2);

    // Another namespace is another deployment, even with identical settings.
    let (cache, staged) = links(&c, &staging).await;
    assert_eq!(cache, "MISS");
    assert_eq!(staged, prod_links, "same account, same links");
    assert_eq!(fake.requests(LINKS), 3);

    // What the keys reveal: the namespace and a fingerprint, never the settings themselves.
    let keys = redis.command(&["KEYS", "*"]).unwrap();
    assert!(!keys.is_empty());
    for key in keys.lines() {
        assert!(
            key.starts_with("alistach:") || key.starts_with("staging:"),
            "{key}"
        );
        for secret_ish in [KEY, SECRET, "prod_tracking", "other_tracking"] {
            assert!(!key.contains(secret_ish), "{key} shows {secret_ish}");
        }
    }
    assert!(keys.lines().any(|k| k.starts_with("staging:")), "{keys}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_keeps_an_entry_at_most_redis_stale_max_past_its_ttl() {
    let Some(redis) = RedisServer::start_or_skip("redis_keeps_an_entry_at_most_stale_max") else {
        return;
    };
    let server = Server::start(&[
        ("REDIS_URL", redis.url().as_str()),
        ("CACHE_TTL", "100"),
        // A day of stale-if-error for the memory tier; Redis keeps 30 s of it.
        ("CACHE_STALE_IF_ERROR", "86400"),
        ("REDIS_STALE_MAX", "30"),
    ]);
    let c = client();
    let r = c
        .post(server.url("/api/products/search"))
        .json(&json!({"keywords": "desk lamp", "page_size": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The Redis write may land just after the answer: wait for it, briefly.
    let deadline = Instant::now() + Duration::from_secs(3);
    let keys = loop {
        let keys = redis.command(&["KEYS", "alistach:*:products:*"]).unwrap();
        if !keys.trim().is_empty() || Instant::now() > deadline {
            break keys;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let key = keys.lines().next().expect("the search was stored in Redis");
    let pttl: u64 = redis.command(&["PTTL", key]).unwrap().parse().unwrap();
    assert!(
        (100_000..=130_000).contains(&pttl),
        "PTTL {pttl} ms: not ttl + REDIS_STALE_MAX"
    );
}

/// Searches `s` (mock mode) and returns (status, X-Cache).
async fn search(c: &reqwest::Client, s: &Server, keywords: &str) -> (u16, String) {
    let r = c
        .post(s.url("/api/products/search"))
        .json(&json!({"keywords": keywords, "page_size": 3}))
        .send()
        .await
        .unwrap();
    let x_cache = r
        .headers()
        .get("x-cache")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (r.status().as_u16(), x_cache)
}

/// A Redis that refuses every write: `maxmemory` far below what an empty Redis uses.
const FULL: [&str; 4] = ["--maxmemory", "1", "--maxmemory-policy", "noeviction"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_cache_redis_degrades_caching_while_a_separate_limits_redis_stays_exact() {
    let Some(cache_redis) = RedisServer::start_or_skip_with("a_full_cache_redis_separate", &FULL)
    else {
        return;
    };
    let limits_redis = RedisServer::start();
    assert!(
        cache_redis.command(&["SET", "probe", "x"]).is_err(),
        "not full"
    );
    let (cache_url, limits_url) = (cache_redis.url(), limits_redis.url());
    let env = [
        ("REDIS_URL", cache_url.as_str()),
        ("RATE_LIMIT_REDIS_URL", limits_url.as_str()),
        ("MAX_REQUESTS_PER_MINUTE", "8"),
        ("MAX_REQUESTS_PER_SECOND", "1000"),
    ];
    let one = Server::start(&env);
    let two = Server::start(&env);
    let c = client();

    let mut admitted = 0;
    for i in 0..16 {
        let s = if i % 2 == 0 { &one } else { &two };
        // Each server sees each question twice: the second answer comes from its memory.
        let (status, cache) = search(&c, s, &format!("garden hose {}", i / 4)).await;
        match status {
            200 => {
                admitted += 1;
                assert!(cache == "MISS" || cache == "HIT", "{cache}");
            }
            429 => {}
            other => panic!("request {i}: unexpected status {other}"),
        }
    }
    assert_eq!(admitted, 8, "the limits stayed shared and exact");
    assert_eq!(
        cache_redis.command(&["DBSIZE"]).unwrap(),
        "0",
        "the full Redis stored nothing"
    );
    assert_ne!(limits_redis.command(&["DBSIZE"]).unwrap(), "0");
    // Memory still caches while Redis refuses writes.
    let fresh = Server::start(&[("REDIS_URL", cache_url.as_str())]);
    assert_eq!(search(&c, &fresh, "rain boots").await, (200, "MISS".into()));
    assert_eq!(search(&c, &fresh, "rain boots").await, (200, "HIT".into()));
    assert_eq!(search(&c, &fresh, "umbrella").await, (200, "MISS".into()));
    assert_eq!(
        fresh.logs().matches("Redis refuses writes").count(),
        1,
        "a full Redis is reported once, not per write: {}",
        fresh.logs()
    );
    assert!(
        health_redis_connected(&c, &fresh).await,
        "a Redis refusing writes is still reachable"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_shared_redis_falls_back_to_local_limits_that_still_enforce() {
    let Some(redis) = RedisServer::start_or_skip_with("a_full_shared_redis", &FULL) else {
        return;
    };
    let url = redis.url();
    let server = Server::start(&[
        ("REDIS_URL", url.as_str()),
        ("MAX_REQUESTS_PER_MINUTE", "5"),
        ("MAX_REQUESTS_PER_SECOND", "1000"),
    ]);
    let c = client();
    let mut statuses = Vec::new();
    for i in 0..10 {
        statuses.push(search(&c, &server, &format!("kettle {i}")).await.0);
    }
    assert_eq!(
        statuses,
        [200, 200, 200, 200, 200, 429, 429, 429, 429, 429],
        "local limits must keep enforcing while Redis refuses writes"
    );
    assert_eq!(redis.command(&["DBSIZE"]).unwrap(), "0");
}
