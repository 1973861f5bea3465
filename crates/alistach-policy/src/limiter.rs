//! The rate limiter the HTTP edge calls: a shared store (Redis) when configured, the local
//! memory store otherwise, and the local store as a fallback while the shared one fails.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::{Decision, MemoryRateLimitStore, Quota, RateLimitStore};

/// Counters for status and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LimiterStats {
    /// Requests admitted.
    pub allowed: u64,
    /// Requests refused with 429.
    pub rejected: u64,
    /// Checks answered by the local store because the shared one failed.
    pub fallbacks: u64,
    /// True while the shared store is failing and local limits apply.
    pub degraded: bool,
    /// True when a shared store is configured.
    pub shared: bool,
}

/// Per-client GCRA limiting over several quotas.
pub struct RateLimiter {
    quotas: Vec<Quota>,
    overrides: std::collections::HashMap<String, Vec<Quota>>,
    shared: Option<Arc<dyn RateLimitStore>>,
    local: MemoryRateLimitStore,
    retry_shared_after: Duration,
    down_since: std::sync::Mutex<Option<Instant>>,
    degraded: AtomicBool,
    allowed: AtomicU64,
    rejected: AtomicU64,
    fallbacks: AtomicU64,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("quotas", &self.quotas)
            .field("shared", &self.shared.as_ref().map(|s| s.name()))
            .finish_non_exhaustive()
    }
}

impl RateLimiter {
    /// Limits every client to all of `quotas`, with state in `shared` when given.
    pub fn new(quotas: Vec<Quota>, shared: Option<Arc<dyn RateLimitStore>>) -> Self {
        RateLimiter {
            quotas,
            overrides: std::collections::HashMap::new(),
            shared,
            local: MemoryRateLimitStore::new(100_000),
            retry_shared_after: Duration::from_secs(2),
            down_since: std::sync::Mutex::new(None),
            degraded: AtomicBool::new(false),
            allowed: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            fallbacks: AtomicU64::new(0),
        }
    }

    /// Gives `client` its own quotas instead of the defaults (per-key overrides).
    pub fn with_override(mut self, client: impl Into<String>, quotas: Vec<Quota>) -> Self {
        self.overrides.insert(client.into(), quotas);
        self
    }

    /// The default quotas.
    pub fn quotas(&self) -> &[Quota] {
        &self.quotas
    }

    /// The quotas that apply to `client`.
    pub fn quotas_for(&self, client: &str) -> &[Quota] {
        if self.overrides.is_empty() {
            return &self.quotas;
        }
        self.overrides
            .get(client)
            .map_or(&self.quotas, Vec::as_slice)
    }

    /// Checks and counts one request from `client`.
    pub async fn check(&self, client: &str) -> Decision {
        self.check_with(client, self.quotas_for(client)).await
    }

    /// Checks and counts one request from `client` against `quotas` (a tenant's own limits,
    /// whose identity is the tenant's), in the same store as every other client.
    pub async fn check_with(&self, client: &str, quotas: &[Quota]) -> Decision {
        let decision = match &self.shared {
            Some(shared) if self.shared_worth_trying() => {
                match shared.check(client, quotas).await {
                    Ok(d) => {
                        self.mark_shared(true);
                        d
                    }
                    Err(e) => {
                        if !self.degraded.load(Ordering::Relaxed) {
                            tracing::warn!(error = %e, "shared rate-limit store failed; using local limits");
                        }
                        self.mark_shared(false);
                        self.fallbacks.fetch_add(1, Ordering::Relaxed);
                        self.local.check_now(client, quotas)
                    }
                }
            }
            Some(_) => {
                self.fallbacks.fetch_add(1, Ordering::Relaxed);
                self.local.check_now(client, quotas)
            }
            None => self.local.check_now(client, quotas),
        };
        if decision.allowed {
            self.allowed.fetch_add(1, Ordering::Relaxed);
        } else {
            self.rejected.fetch_add(1, Ordering::Relaxed);
        }
        decision
    }

    fn shared_worth_trying(&self) -> bool {
        let down = self.down_since.lock().unwrap_or_else(|p| p.into_inner());
        down.is_none_or(|since| since.elapsed() >= self.retry_shared_after)
    }

    fn mark_shared(&self, ok: bool) {
        let mut down = self.down_since.lock().unwrap_or_else(|p| p.into_inner());
        if ok {
            if self.degraded.swap(false, Ordering::Relaxed) {
                tracing::info!("shared rate-limit store is back");
            }
            *down = None;
        } else {
            self.degraded.store(true, Ordering::Relaxed);
            *down = Some(Instant::now());
        }
    }

    /// Counters.
    pub fn stats(&self) -> LimiterStats {
        LimiterStats {
            allowed: self.allowed.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            fallbacks: self.fallbacks.load(Ordering::Relaxed),
            degraded: self.degraded.load(Ordering::Relaxed),
            shared: self.shared.is_some(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RateLimitError;
    use async_trait::async_trait;

    struct Broken;
    #[async_trait]
    impl RateLimitStore for Broken {
        async fn check(&self, _: &str, _: &[Quota]) -> Result<Decision, RateLimitError> {
            Err(RateLimitError("down".into()))
        }
        fn name(&self) -> &'static str {
            "broken"
        }
    }

    #[tokio::test]
    async fn a_client_with_an_override_gets_its_own_quota() {
        let limiter = RateLimiter::new(vec![Quota::per_minute(2)], None)
            .with_override("key:big", vec![Quota::per_minute(5)]);
        let mut admitted = (0, 0);
        for _ in 0..10 {
            admitted.0 += u32::from(limiter.check("key:small").await.allowed);
            admitted.1 += u32::from(limiter.check("key:big").await.allowed);
        }
        assert_eq!(admitted, (2, 5));
        assert_eq!(limiter.quotas_for("key:big")[0].count, 5);
        assert_eq!(limiter.quotas_for("key:other")[0].count, 2);
    }

    #[tokio::test]
    async fn a_failing_shared_store_falls_back_to_local_limits() {
        let limiter = RateLimiter::new(vec![Quota::per_second(3)], Some(Arc::new(Broken)));
        let admitted = {
            let mut n = 0;
            for _ in 0..10 {
                if limiter.check("a").await.allowed {
                    n += 1;
                }
            }
            n
        };
        assert_eq!(admitted, 3, "local limits still apply");
        let s = limiter.stats();
        assert!(s.degraded && s.shared);
        assert_eq!(s.fallbacks, 10);
        assert_eq!((s.allowed, s.rejected), (3, 7));
    }
}
