//! Integration tests of the Redis backend against a real redis-server started for each test.

use std::sync::Arc;
use std::time::{Duration, Instant};

use alistach_cache::{
    Cache, CacheLayer, CachePolicy, CacheStatus, Clock, Entry, Fetched, ManualClock, MemoryCache,
    MemoryCacheConfig, ReadMode, SharedClock, SystemClock, TieredCache, Transient,
};
use alistach_redis::{Error, RedisCache, RedisCacheConfig};
use alistach_testkit::redis_server::RedisServer;
use bytes::Bytes;

mod ratelimit;

const START: u64 = 1_700_000_000_000;

fn config(server: &RedisServer, namespace: &str) -> RedisCacheConfig {
    RedisCacheConfig {
        namespace: namespace.into(),
        circuit_cooldown: Duration::from_millis(100),
        ..RedisCacheConfig::new(server.url())
    }
}

fn redis(server: &RedisServer, namespace: &str, clock: SharedClock) -> Arc<RedisCache> {
    Arc::new(RedisCache::connect_with_clock(config(server, namespace), clock).unwrap())
}

fn entry(now: u64, value: &'static str) -> Entry {
    Entry {
        value: Bytes::from_static(value.as_bytes()),
        stored_at_ms: now,
        fresh_until_ms: now + 60_000,
        stale_until_ms: now + 120_000,
    }
}

/// A raw connection for looking behind the backend's back.
async fn raw(server: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// Polls `check` (bounded) until it holds: for waiting out the circuit's real-time cool-down.
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn passes_the_conformance_suite() {
    let Some(server) = RedisServer::start_or_skip("passes_the_conformance_suite") else {
        return;
    };
    let clock = Arc::new(ManualClock::new(START));
    alistach_cache::conformance::run_all(redis(&server, "conf", clock.clone()), clock).await;
}

#[tokio::test]
async fn a_tiered_cache_passes_the_conformance_suite() {
    let Some(server) = RedisServer::start_or_skip("a_tiered_cache_passes_the_conformance_suite")
    else {
        return;
    };
    let clock = Arc::new(ManualClock::new(START));
    let memory = Arc::new(MemoryCache::new(MemoryCacheConfig::default(), clock.clone()).unwrap());
    let tiered = TieredCache::new(
        memory,
        redis(&server, "tiered", clock.clone()),
        clock.clone(),
    );
    alistach_cache::conformance::run_all(Arc::new(tiered), clock).await;
}

#[tokio::test]
async fn two_instances_share_one_server() {
    let Some(server) = RedisServer::start_or_skip("two_instances_share_one_server") else {
        return;
    };
    let clock: SharedClock = Arc::new(ManualClock::new(START));
    let (a, b) = (
        redis(&server, "shared", clock.clone()),
        redis(&server, "shared", clock.clone()),
    );
    a.put("products:mock:1", entry(START, "from a"))
        .await
        .unwrap();
    assert_eq!(
        b.get("products:mock:1").await.unwrap(),
        Some(entry(START, "from a"))
    );
    b.put("products:mock:1", entry(START, "from b"))
        .await
        .unwrap();
    assert_eq!(
        a.get("products:mock:1").await.unwrap().unwrap().value,
        "from b"
    );
    assert_eq!(b.clear_prefix("products:").await.unwrap(), 1);
    assert_eq!(a.get("products:mock:1").await.unwrap(), None);
}

#[tokio::test]
async fn namespaces_and_schema_versions_keep_entries_apart() {
    let Some(server) =
        RedisServer::start_or_skip("namespaces_and_schema_versions_keep_entries_apart")
    else {
        return;
    };
    let clock: SharedClock = Arc::new(ManualClock::new(START));
    let current = redis(&server, "app", clock.clone());
    let other_app = redis(&server, "other", clock.clone());
    let old_version = Arc::new(
        RedisCache::connect_with_clock(
            RedisCacheConfig {
                schema_version: "v1".into(),
                ..config(&server, "app")
            },
            clock.clone(),
        )
        .unwrap(),
    );
    for cache in [&current, &other_app, &old_version] {
        cache.put("k", entry(START, "mine")).await.unwrap();
    }
    current.put("k", entry(START, "current")).await.unwrap();
    assert_eq!(old_version.get("k").await.unwrap().unwrap().value, "mine");
    assert_eq!(other_app.get("k").await.unwrap().unwrap().value, "mine");

    let mut conn = raw(&server).await;
    let _: () = redis::cmd("SET")
        .arg("unrelated")
        .arg("x")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        current.clear_prefix("").await.unwrap(),
        1,
        "an empty prefix clears only this namespace and version"
    );
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut conn)
        .await
        .unwrap();
    keys.sort();
    assert_eq!(keys, ["app:v1:k", "other:v2:k", "unrelated"]);
}

#[tokio::test]
async fn entries_expire_in_redis_when_their_stale_window_ends() {
    let Some(server) =
        RedisServer::start_or_skip("entries_expire_in_redis_when_their_stale_window_ends")
    else {
        return;
    };
    let cache = redis(&server, "ttl", Arc::new(SystemClock));
    let now = SystemClock.now_ms();
    cache.put("k", entry(now, "v")).await.unwrap();
    let mut conn = raw(&server).await;
    let pttl: i64 = redis::cmd("PTTL")
        .arg("ttl:v2:k")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        (100_000..=120_000).contains(&pttl),
        "PTTL {pttl} should be about the 120 s until stale_until"
    );

    // A value this version did not write reads as a miss, not an error.
    let _: () = redis::cmd("SET")
        .arg("ttl:v2:foreign")
        .arg("{\"v\":1}")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(cache.get("foreign").await.unwrap(), None);
}

#[tokio::test]
async fn start_up_succeeds_while_redis_is_down_and_failures_are_cheap() {
    let Some(mut server) = RedisServer::start_or_skip("start_up_succeeds_while_redis_is_down")
    else {
        return;
    };
    server.kill();
    let cache = RedisCache::connect_with_clock(
        RedisCacheConfig {
            circuit_cooldown: Duration::from_secs(60),
            ..config(&server, "down")
        },
        Arc::new(ManualClock::new(START)),
    )
    .expect("connecting is lazy");
    let first = cache.get("k").await.unwrap_err();
    assert_eq!(first.backend, "redis");
    assert!(!cache.is_connected());
    let skipped = cache.put("k", entry(START, "v")).await.unwrap_err();
    assert!(skipped.reason.contains("not tried"), "{skipped}");
    let stats = cache.stats().await;
    assert!(!stats[0].connected);
    assert_eq!(stats[0].errors, 3);
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Upstream;

impl Transient for Upstream {
    fn is_transient(&self) -> bool {
        true
    }
}

async fn load(
    layer: &CacheLayer,
    key: &str,
    value: &'static str,
) -> Result<alistach_cache::Lookup, Upstream> {
    let policy = CachePolicy::with_ttl(Duration::from_secs(3600));
    layer
        .get_or_fetch(key, &policy, ReadMode::Normal, move || async move {
            Ok(Fetched::cacheable(value))
        })
        .await
}

#[tokio::test]
async fn a_killed_redis_is_survived_and_a_restarted_one_is_used_again() {
    let Some(mut server) = RedisServer::start_or_skip("a_killed_redis_is_survived") else {
        return;
    };
    let port = server.port();
    let clock: SharedClock = Arc::new(SystemClock);
    let memory = Arc::new(MemoryCache::new(MemoryCacheConfig::default(), clock.clone()).unwrap());
    let shared = redis(&server, "outage", clock.clone());
    let tiered: Arc<dyn Cache> = Arc::new(TieredCache::new(memory, shared.clone(), clock.clone()));
    let layer = CacheLayer::new(tiered.clone(), clock.clone());

    assert_eq!(
        load(&layer, "before", "v1").await.unwrap().status,
        CacheStatus::Miss
    );
    eventually("the entry reaches Redis", async || {
        shared.get("before").await.ok().flatten().is_some()
    })
    .await;

    server.kill();
    for round in 0..20 {
        let started = Instant::now();
        let hit = load(&layer, "before", "unused")
            .await
            .expect("a hit needs no Redis");
        assert_eq!(
            (hit.status, hit.value),
            (CacheStatus::Hit, Bytes::from_static(b"v1"))
        );
        let key = format!("during-{round}");
        let miss = load(&layer, &key, "fresh")
            .await
            .expect("a miss falls through to the upstream");
        assert_eq!(miss.status, CacheStatus::Miss);
        let again = load(&layer, &key, "unused").await.unwrap();
        assert_eq!(
            again.status,
            CacheStatus::Hit,
            "the memory tier still stores while Redis is down"
        );
        // Generous: the bound is the 250 ms op timeout, not machine speed.
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "round {round} took {:?}",
            started.elapsed()
        );
    }
    assert!(!shared.is_connected());
    assert!(
        !tiered.stats().await[1].connected,
        "redis_connected is live"
    );

    let _restarted = RedisServer::start_on_port(port);
    eventually("the same client reconnects", async || {
        tiered.stats().await[1].connected
    })
    .await;
    let key = "after";
    eventually("writes reach the restarted Redis", async || {
        let _ = tiered.put(key, entry(SystemClock.now_ms(), "v2")).await;
        shared.get(key).await.ok().flatten().is_some()
    })
    .await;
    let other_process = redis(&_restarted, "outage", clock.clone());
    assert_eq!(other_process.get(key).await.unwrap().unwrap().value, "v2");
}

#[tokio::test]
async fn a_frozen_redis_costs_one_short_timeout_not_one_per_request() {
    let Some(server) = RedisServer::start_or_skip("a_frozen_redis_costs_one_short_timeout") else {
        return;
    };
    let clock: SharedClock = Arc::new(SystemClock);
    let memory = Arc::new(MemoryCache::new(MemoryCacheConfig::default(), clock.clone()).unwrap());
    let shared = Arc::new(
        RedisCache::connect_with_clock(
            RedisCacheConfig {
                circuit_cooldown: Duration::from_secs(60),
                ..config(&server, "frozen")
            },
            clock.clone(),
        )
        .unwrap(),
    );
    let tiered: Arc<dyn Cache> = Arc::new(TieredCache::new(memory, shared.clone(), clock.clone()));
    let layer = CacheLayer::new(tiered, clock.clone());
    assert_eq!(
        load(&layer, "warm", "v").await.unwrap().status,
        CacheStatus::Miss
    );
    assert!(shared.is_connected());

    server.freeze();
    let started = Instant::now();
    let first = load(&layer, "k0", "v0")
        .await
        .expect("served without Redis");
    let first_took = started.elapsed();
    assert_eq!(first.status, CacheStatus::Miss);
    assert!(
        first_took >= Duration::from_millis(200),
        "the first call waits for the timeout: {first_took:?}"
    );
    assert!(
        first_took < Duration::from_secs(5),
        "but not much longer: {first_took:?}"
    );
    assert!(!shared.is_connected());

    let started = Instant::now();
    for i in 1..50 {
        let key = format!("k{i}");
        assert_eq!(
            load(&layer, &key, "v").await.unwrap().status,
            CacheStatus::Miss
        );
    }
    // With the circuit open no call touches the network; 49 timeouts would take over 12 s.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    server.thaw();
}

#[tokio::test]
async fn clearing_uses_scan_in_batches() {
    let Some(server) = RedisServer::start_or_skip("clearing_uses_scan_in_batches") else {
        return;
    };
    let cache = redis(&server, "scan", Arc::new(ManualClock::new(START)));
    for i in 0..1_500 {
        cache
            .put(&format!("products:mock:{i}"), entry(START, "v"))
            .await
            .unwrap();
    }
    cache
        .put("categories:mock:1", entry(START, "v"))
        .await
        .unwrap();
    let mut conn = raw(&server).await;
    let _: () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(cache.clear_prefix("products:").await.unwrap(), 1_500);
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut conn)
        .await
        .unwrap();
    let calls = |command: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("cmdstat_{command}:calls=")))
            .and_then(|rest| rest.split(',').next()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    assert!(calls("scan") >= 2, "{info}");
    assert!(calls("unlink") >= 1, "{info}");
    assert_eq!(calls("keys"), 0, "KEYS must never be used: {info}");
    assert!(cache.get("categories:mock:1").await.unwrap().is_some());
}

#[test]
fn a_malformed_url_is_refused_without_echoing_it() {
    let err = RedisCache::connect(RedisCacheConfig::new("http://user:hunter2@host/")).unwrap_err();
    assert!(matches!(err, Error::InvalidUrl { .. }), "{err:?}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[tokio::test]
async fn health_asks_redis_at_most_once_a_second() {
    let Some(server) = RedisServer::start_or_skip("health_asks_redis_at_most_once_a_second") else {
        return;
    };
    let cache = redis(&server, "health", Arc::new(SystemClock));
    let mut conn = raw(&server).await;
    let _: () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async(&mut conn)
        .await
        .unwrap();
    let started = Instant::now();
    for _ in 0..500 {
        let health = cache.health().await;
        assert_eq!(health.len(), 1);
        assert!(health[0].connected);
    }
    let elapsed = started.elapsed();
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut conn)
        .await
        .unwrap();
    let pings = info
        .lines()
        .find_map(|l| l.strip_prefix("cmdstat_ping:calls="))
        .and_then(|rest| rest.split(',').next()?.parse::<u64>().ok())
        .unwrap_or(0);
    assert!(pings >= 1, "health never asked Redis: {info}");
    assert!(
        pings <= elapsed.as_secs() + 1,
        "500 health checks in {elapsed:?} sent {pings} PINGs"
    );
    // Past the interval, the next check asks again.
    tokio::time::sleep(alistach_redis::HEALTH_REFRESH).await;
    cache.health().await;
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        info.contains(&format!("cmdstat_ping:calls={}", pings + 1)),
        "{info}"
    );
}

#[tokio::test]
async fn a_redis_refusing_writes_keeps_serving_reads_without_opening_the_circuit() {
    let Some(server) = RedisServer::start_or_skip_with(
        "a_redis_refusing_writes_keeps_serving_reads",
        &["--maxmemory", "1", "--maxmemory-policy", "noeviction"],
    ) else {
        return;
    };
    let clock = Arc::new(ManualClock::new(START));
    // An entry written while Redis still had room; then every write is refused.
    server
        .command(&["CONFIG", "SET", "maxmemory", "0"])
        .unwrap();
    let writer = redis(&server, "full", clock.clone());
    writer.put("old", entry(START, "kept")).await.unwrap();
    server
        .command(&["CONFIG", "SET", "maxmemory", "1"])
        .unwrap();

    let cache = redis(&server, "full", clock.clone());
    let refused = cache.put("new", entry(START, "v")).await.unwrap_err();
    assert!(refused.reason.contains("OOM"), "{refused}");
    assert!(cache.is_connected(), "a refusal is not an outage");
    // Not short-circuited: the next command still reaches Redis, and reads still hit.
    assert_eq!(
        cache.get("old").await.unwrap().map(|e| e.value),
        Some(Bytes::from_static(b"kept"))
    );
    let again = cache.put("new2", entry(START, "v")).await.unwrap_err();
    assert!(!again.reason.contains("not tried"), "{again}");
    assert_eq!(cache.get("new").await.unwrap(), None);
    let stats = cache.stats().await;
    assert!(stats[0].connected);
    assert_eq!(stats[0].errors, 2);
}
