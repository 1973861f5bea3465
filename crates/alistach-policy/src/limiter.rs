//! The rate limiter the HTTP edge calls: a shared store (Redis) when configured, the local
//! memory store otherwise, and the local store as a fallback while the shared one fails.
//!
//! # Leases
//!
//! A round trip to the shared store per request costs more than the rest of a cached answer.
//! A client with large limits therefore takes its admissions from the shared store in leases:
//! one atomic check admits up to `n` requests at once ([`RateLimitStore::check_many`]), counted
//! there at once, and this instance spends them locally within [`LEASE_LIFE`]. A lease is at
//! most 1/[`LEASE_SHARE`] of the client's smallest quota (so with 5 a second, the default, it is
//! one: every request is its own check) and at most [`MAX_LEASE`]; it doubles while the client
//! spends it within its life and halves when part of it expires unused. Counting at lease time
//! keeps the shared limit: instances together never admit more than the store granted. What
//! a lease costs is precision: a client may be refused by one instance while another holds
//! admissions it leased but has not spent (at most one lease per instance, under 5% of a quota).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::{Decision, MemoryRateLimitStore, MicrosClock, MonotonicClock, Quota, RateLimitStore};

/// A lease is at most this fraction (1/n) of the client's smallest quota.
pub const LEASE_SHARE: u32 = 20;
/// The largest lease, in requests.
pub const MAX_LEASE: u32 = 256;
/// How long leased admissions stay spendable.
pub const LEASE_LIFE: Duration = Duration::from_millis(100);
/// Clients holding a lease at once, at most.
const MAX_LEASED_CLIENTS: usize = 10_000;

/// Admissions one instance holds for one client.
#[derive(Clone, Copy, Debug)]
struct Lease {
    /// Admissions left to spend.
    left: u32,
    /// The size of the last lease asked for.
    size: u32,
    /// When the admissions left lapse (the limiter's clock, µs).
    expires_us: u64,
    /// The shared store's decision for the lease's last admission.
    decision: Decision,
}

/// The lease size for `quotas`: 1 (no leasing) unless every quota is large.
fn lease_cap(quotas: &[Quota]) -> u32 {
    quotas
        .iter()
        .map(|q| q.count / LEASE_SHARE)
        .min()
        .unwrap_or(1)
        .clamp(1, MAX_LEASE)
}

/// `decision` (the shared store's, for a lease's last admission) as seen by a request while
/// `held` admissions of the lease are still unspent: they count as remaining.
fn holding(decision: Decision, held: u32) -> Decision {
    Decision {
        remaining: decision.remaining.saturating_add(held).min(decision.limit),
        ..decision
    }
}

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
    /// Requests admitted from a lease held by this instance, without a round trip to the
    /// shared store.
    pub leased: u64,
}

/// Per-client GCRA limiting over several quotas.
pub struct RateLimiter {
    quotas: Vec<Quota>,
    overrides: HashMap<String, Vec<Quota>>,
    shared: Option<Arc<dyn RateLimitStore>>,
    local: MemoryRateLimitStore,
    retry_shared_after: Duration,
    down_since: std::sync::Mutex<Option<Instant>>,
    degraded: AtomicBool,
    allowed: AtomicU64,
    rejected: AtomicU64,
    fallbacks: AtomicU64,
    leases: std::sync::Mutex<HashMap<String, Lease>>,
    leased: AtomicU64,
    clock: Arc<dyn MicrosClock>,
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
            overrides: HashMap::new(),
            shared,
            local: MemoryRateLimitStore::new(100_000),
            retry_shared_after: Duration::from_secs(2),
            down_since: std::sync::Mutex::new(None),
            degraded: AtomicBool::new(false),
            allowed: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            fallbacks: AtomicU64::new(0),
            leases: std::sync::Mutex::new(HashMap::new()),
            leased: AtomicU64::new(0),
            clock: Arc::new(MonotonicClock::default()),
        }
    }

    /// Reads lease lifetimes from `clock` (tests).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn MicrosClock>) -> Self {
        self.clock = clock;
        self
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
                let cap = lease_cap(quotas);
                let want = if cap > 1 {
                    match self.spend_lease(client, cap) {
                        Ok(d) => return self.count(d),
                        Err(want) => want,
                    }
                } else {
                    1
                };
                match shared.check_many(client, quotas, want).await {
                    Ok((k, d)) => {
                        self.mark_shared(true);
                        if cap > 1 && k > 0 {
                            self.keep_lease(client, k - 1, want, d);
                        }
                        holding(d, k.saturating_sub(1))
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
        self.count(decision)
    }

    fn count(&self, decision: Decision) -> Decision {
        if decision.allowed {
            self.allowed.fetch_add(1, Ordering::Relaxed);
        } else {
            self.rejected.fetch_add(1, Ordering::Relaxed);
        }
        decision
    }

    /// Spends one admission of `client`'s lease, or says how many to lease next (at most `cap`).
    fn spend_lease(&self, client: &str, cap: u32) -> Result<Decision, u32> {
        let now = self.clock.now_us();
        let mut leases = self.leases.lock().unwrap_or_else(|p| p.into_inner());
        let Some(lease) = leases.get_mut(client) else {
            return Err(1);
        };
        if now >= lease.expires_us {
            // Spent too slowly: the next lease is smaller when this one lapsed unused.
            let size = if lease.left > 0 {
                lease.size / 2
            } else {
                lease.size
            };
            return Err(size.clamp(1, cap));
        }
        if lease.left == 0 {
            // Spent within its life: the next one is larger.
            return Err(lease.size.saturating_mul(2).clamp(1, cap));
        }
        lease.left -= 1;
        self.leased.fetch_add(1, Ordering::Relaxed);
        Ok(holding(lease.decision, lease.left))
    }

    /// Keeps `extra` admissions leased for `client` (asked for `size`), decided by `decision`.
    fn keep_lease(&self, client: &str, extra: u32, size: u32, decision: Decision) {
        let now = self.clock.now_us();
        let mut leases = self.leases.lock().unwrap_or_else(|p| p.into_inner());
        if leases.len() >= MAX_LEASED_CLIENTS && !leases.contains_key(client) {
            leases.retain(|_, l| l.expires_us > now);
            if leases.len() >= MAX_LEASED_CLIENTS {
                // Every lease is live: this one's admissions lapse (stricter, never looser).
                return;
            }
        }
        let expires_us = now + LEASE_LIFE.as_micros() as u64;
        let lease = leases.entry(client.to_owned()).or_insert(Lease {
            left: 0,
            size,
            expires_us,
            decision,
        });
        if lease.expires_us <= now {
            lease.left = 0;
        }
        lease.left = lease.left.saturating_add(extra);
        lease.size = size;
        lease.expires_us = expires_us;
        lease.decision = decision;
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
            leased: self.leased.load(Ordering::Relaxed),
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
        async fn check_many(
            &self,
            _: &str,
            _: &[Quota],
            _: u32,
        ) -> Result<(u32, Decision), RateLimitError> {
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

    #[derive(Clone)]
    struct Manual(Arc<AtomicU64>);
    impl MicrosClock for Manual {
        fn now_us(&self) -> u64 {
            self.0.load(Ordering::SeqCst)
        }
    }

    /// A shared store in memory that counts its round trips.
    struct Counting {
        inner: MemoryRateLimitStore,
        trips: AtomicU64,
    }
    #[async_trait]
    impl RateLimitStore for Counting {
        async fn check_many(
            &self,
            key: &str,
            quotas: &[Quota],
            want: u32,
        ) -> Result<(u32, Decision), RateLimitError> {
            self.trips.fetch_add(1, Ordering::SeqCst);
            Ok(self.inner.lease_now(key, quotas, want))
        }
        fn name(&self) -> &'static str {
            "counting"
        }
    }

    fn shared_pair(quotas: &[Quota]) -> (RateLimiter, RateLimiter, Arc<Counting>, Arc<AtomicU64>) {
        let t = Arc::new(AtomicU64::new(1_000_000_000));
        let store = Arc::new(Counting {
            inner: MemoryRateLimitStore::with_clock(1000, Box::new(Manual(t.clone()))),
            trips: AtomicU64::new(0),
        });
        let make = || {
            RateLimiter::new(
                quotas.to_vec(),
                Some(store.clone() as Arc<dyn RateLimitStore>),
            )
            .with_clock(Arc::new(Manual(t.clone())))
        };
        (make(), make(), store, t)
    }

    #[tokio::test]
    async fn small_quotas_are_never_leased_every_request_is_a_shared_check() {
        let (a, b, store, _) = shared_pair(&[Quota::per_second(5), Quota::per_minute(60)]);
        let mut admitted = 0;
        for i in 0..20 {
            let limiter = if i % 2 == 0 { &a } else { &b };
            let d = limiter.check("c").await;
            if d.allowed {
                admitted += 1;
                assert_eq!(
                    d.remaining,
                    5 - admitted,
                    "exact remaining across instances"
                );
            }
        }
        assert_eq!(admitted, 5);
        assert_eq!(store.trips.load(Ordering::SeqCst), 20);
        assert_eq!(a.stats().leased + b.stats().leased, 0);
    }

    #[tokio::test]
    async fn leases_grow_and_two_instances_never_admit_more_than_the_shared_limit() {
        // 2,000 a minute: leases of up to 100.
        let (a, b, store, _) = shared_pair(&[Quota::per_minute(2000)]);
        let mut admitted = 0u32;
        let mut last_remaining = u32::MAX;
        for i in 0..5000 {
            let limiter = if i % 3 == 0 { &a } else { &b };
            let d = limiter.check("c").await;
            if d.allowed {
                admitted += 1;
                assert!(
                    d.remaining <= 2000 - admitted + 2 * 100,
                    "{} after {admitted}",
                    d.remaining
                );
                last_remaining = d.remaining;
            } else {
                assert!(d.retry_after.is_some());
            }
        }
        // The clock did not move: the shared store granted 2,000 and no instance went past it;
        // what a lease still held when the other ran dry is the precision leases cost.
        assert!(
            (2000 - 2 * 100..=2000).contains(&admitted),
            "admitted {admitted}"
        );
        assert!(last_remaining < 200);
        let trips = store.trips.load(Ordering::SeqCst);
        let leased = a.stats().leased + b.stats().leased;
        assert!(leased > 1500, "leased {leased}");
        assert!(
            trips < 3100,
            "trips {trips}: refused requests still ask, admitted ones mostly not"
        );
        assert_eq!(a.stats().allowed + b.stats().allowed, u64::from(admitted));
    }

    #[tokio::test]
    async fn a_lease_spent_slowly_lapses_and_the_next_is_smaller() {
        let (a, _, store, t) = shared_pair(&[Quota::per_minute(100_000)]);
        // Grow: 1, 2, 4, ..., 256 within one lease life.
        for _ in 0..1000 {
            assert!(a.check("c").await.allowed);
        }
        let trips = store.trips.load(Ordering::SeqCst);
        assert!(trips <= 12, "trips {trips}");
        // Let what is left lapse: the next request goes to the store.
        t.fetch_add(LEASE_LIFE.as_micros() as u64, Ordering::SeqCst);
        assert!(a.check("c").await.allowed);
        assert_eq!(store.trips.load(Ordering::SeqCst), trips + 1);
        let lease = *a.leases.lock().unwrap().get("c").unwrap();
        assert!(lease.size < MAX_LEASE, "{lease:?}");
        // Another client starts with a lease of one.
        assert!(a.check("d").await.allowed);
        assert_eq!(a.leases.lock().unwrap().get("d").unwrap().size, 1);
    }
}
