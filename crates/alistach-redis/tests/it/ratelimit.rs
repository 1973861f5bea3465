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
