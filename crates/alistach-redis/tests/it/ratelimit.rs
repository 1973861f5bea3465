//! The shared rate-limit store against a real redis-server: one global limit across instances,
//! numbers that match the limiter's state, and a fall-back to local limits when Redis dies.

use std::sync::Arc;
use std::time::Duration;

use alistach_policy::{Quota, RateLimitStore, RateLimiter};
use alistach_redis::{RedisRateLimitConfig, RedisRateLimitStore};
use alistach_testkit::redis_server::RedisServer;

fn store(server: &RedisServer) -> Arc<RedisRateLimitStore> {
    Arc::new(RedisRateLimitStore::new(&server.url(), RedisRateLimitConfig::default()).unwrap())
}

#[tokio::test]
async fn two_instances_together_admit_the_limit_not_twice_it() {
    let Some(server) = RedisServer::start_or_skip("two_instances_together_admit_the_limit") else {
        return;
    };
    // A per-minute quota, so the test's own duration cannot refill it.
    let quotas = [Quota::per_minute(10)];
    let (a, b) = (store(&server), store(&server));
    let mut admitted = 0;
    for i in 0..30 {
        let s = if i % 2 == 0 { &a } else { &b };
        let d = s.check("client-1", &quotas).await.unwrap();
        if d.allowed {
            admitted += 1;
            assert_eq!(
                d.remaining,
                10 - admitted,
                "remaining after {admitted} admitted"
            );
        } else {
            assert_eq!(d.remaining, 0);
            let retry = d.retry_after.expect("a refusal says when to retry");
            // One request every 6 s at the sustained rate.
            assert!(
                retry > Duration::from_secs(4) && retry <= Duration::from_secs(6),
                "{retry:?}"
            );
        }
    }
    assert_eq!(admitted, 10);
    // Another client has its own budget.
    assert!(a.check("client-2", &quotas).await.unwrap().allowed);
}

#[tokio::test]
async fn a_dead_redis_falls_back_to_local_limits_without_errors() {
    let Some(mut server) = RedisServer::start_or_skip("a_dead_redis_falls_back") else {
        return;
    };
    let shared: Arc<dyn RateLimitStore> = store(&server);
    let limiter = RateLimiter::new(vec![Quota::per_minute(3)], Some(shared));
    assert!(limiter.check("c").await.allowed);
    assert!(!limiter.stats().degraded);
    server.kill();
    let mut admitted = 0;
    for _ in 0..10 {
        if limiter.check("c").await.allowed {
            admitted += 1;
        }
    }
    // The local store starts from scratch, but still limits.
    assert_eq!(admitted, 3);
    let stats = limiter.stats();
    assert!(stats.degraded && stats.fallbacks >= 10, "{stats:?}");
}

#[tokio::test]
async fn leases_cut_round_trips_and_two_instances_still_admit_no_more_than_the_limit() {
    let Some(server) = RedisServer::start_or_skip("leases_cut_round_trips") else {
        return;
    };
    // Large enough to lease (1/20 of 4,000 = up to 200 at once); per minute, so the test's own
    // duration refills at most a few.
    let quotas = vec![Quota::per_minute(4000)];
    let a = RateLimiter::new(
        quotas.clone(),
        Some(store(&server) as Arc<dyn RateLimitStore>),
    );
    let b = RateLimiter::new(quotas, Some(store(&server) as Arc<dyn RateLimitStore>));
    let mut admitted = 0u64;
    for i in 0..6000 {
        let limiter = if i % 2 == 0 { &a } else { &b };
        if limiter.check("busy").await.allowed {
            admitted += 1;
        }
    }
    let leased = a.stats().leased + b.stats().leased;
    // Never more than the shared limit (plus what the clock refilled: 4,000 a minute).
    assert!(admitted <= 4000 + 200, "admitted {admitted}");
    // A lease held by one instance when the other ran dry is all that is lost.
    assert!(admitted >= 4000 - 2 * 200, "admitted {admitted}");
    assert!(leased > 3000, "most admissions came from leases: {leased}");
    // The shared store saw one script call per lease, not per request.
    let calls = server
        .command_calls(|name| name == "evalsha" || name == "eval")
        .unwrap();
    assert!(
        calls > 0 && calls < 6000 - leased + 100,
        "script calls {calls}, leased {leased}"
    );
    // A small client is still exact: every request is its own check.
    let small = RateLimiter::new(
        vec![Quota::per_minute(10)],
        Some(store(&server) as Arc<dyn RateLimitStore>),
    );
    let mut n = 0;
    for _ in 0..15 {
        n += u32::from(small.check("small").await.allowed);
    }
    assert_eq!(n, 10);
    assert_eq!(small.stats().leased, 0);
}
