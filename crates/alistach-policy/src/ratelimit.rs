//! Rate limiting with GCRA (the generic cell rate algorithm of governor and redis-cell): per
//! client, several limits at once (per second and per minute), exact, with the numbers the
//! `RateLimit` headers need.
//!
//! The algorithm is pure ([`gcra_apply`], and [`gcra_lease`] for several requests at once);
//! where its state lives is a [`RateLimitStore`]: memory
//! here, Redis in `alistach-redis` (one Lua script, the server's clock), so instances share limits.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

/// One limit: `count` requests per `period`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    /// Requests allowed per period (the burst).
    pub count: u32,
    /// The period.
    pub period: Duration,
}

impl Quota {
    /// `count` per second.
    pub fn per_second(count: u32) -> Self {
        Quota {
            count,
            period: Duration::from_secs(1),
        }
    }

    /// `count` per minute.
    pub fn per_minute(count: u32) -> Self {
        Quota {
            count,
            period: Duration::from_secs(60),
        }
    }

    /// Time between two requests at the sustained rate, in microseconds.
    pub fn emission_interval_us(&self) -> u64 {
        (self.period.as_micros() as u64 / u64::from(self.count.max(1))).max(1)
    }

    /// The period in microseconds.
    pub fn period_us(&self) -> u64 {
        self.period.as_micros() as u64
    }
}

/// The outcome of one check against every quota of a policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// True when the request may proceed (and was counted).
    pub allowed: bool,
    /// The quota that decides the headers: the one with the fewest requests left.
    pub limit: u32,
    /// Its period in seconds.
    pub window_secs: u64,
    /// Requests left in it after this one.
    pub remaining: u32,
    /// Seconds until it is fully replenished.
    pub reset_secs: u64,
    /// When refused: how long until a request would be admitted.
    pub retry_after: Option<Duration>,
}

/// Where GCRA state lives. `check_many` must be atomic per key: evaluate every quota and
/// advance them all by what it admits.
#[async_trait]
pub trait RateLimitStore: Send + Sync + 'static {
    /// Checks and counts up to `want` requests for `key` at once (a lease): admits the largest
    /// `k ≤ want` that every quota allows, and returns `k` (0 when refused) with the decision
    /// for the `k`-th request (for the first when refused).
    async fn check_many(
        &self,
        key: &str,
        quotas: &[Quota],
        want: u32,
    ) -> Result<(u32, Decision), RateLimitError>;
    /// Checks and (when allowed) counts one request for `key`.
    async fn check(&self, key: &str, quotas: &[Quota]) -> Result<Decision, RateLimitError> {
        self.check_many(key, quotas, 1).await.map(|(_, d)| d)
    }
    /// A short name for stats (`memory`, `redis`).
    fn name(&self) -> &'static str;
}

/// A store failure (Redis down ...).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("rate-limit store failed: {0}")]
pub struct RateLimitError(pub String);

/// One GCRA step for all `quotas` at time `now_us`, in place: `tats` (each quota's stored
/// theoretical arrival time, 0 when unknown) are advanced only when the request is allowed.
pub fn gcra_apply(quotas: &[Quota], tats: &mut [u64], now_us: u64) -> Decision {
    let mut allowed = true;
    let mut retry_us = 0u64;
    // The quota with the fewest requests left decides the headers.
    let mut tightest: Option<(u32, Quota, u64)> = None;
    for (q, &stored) in quotas.iter().zip(tats.iter()) {
        let interval = q.emission_interval_us();
        let tat = stored.max(now_us);
        let new_tat = tat + interval;
        let allow_at = new_tat.saturating_sub(q.period_us());
        if allow_at > now_us {
            allowed = false;
            retry_us = retry_us.max(allow_at - now_us);
        }
        let used_after = new_tat.saturating_sub(now_us);
        let remaining = if allow_at > now_us {
            0
        } else {
            ((q.period_us().saturating_sub(used_after)) / interval).min(u64::from(q.count)) as u32
        };
        let reset = if allow_at > now_us {
            tat.saturating_sub(now_us)
        } else {
            used_after
        };
        if tightest.is_none_or(|(r, _, _)| remaining < r) {
            tightest = Some((remaining, *q, reset));
        }
    }
    if allowed {
        for (q, tat) in quotas.iter().zip(tats.iter_mut()) {
            *tat = (*tat).max(now_us) + q.emission_interval_us();
        }
    }
    let (remaining, q, reset_us) = tightest.unwrap_or((u32::MAX, Quota::per_second(u32::MAX), 0));
    Decision {
        allowed,
        limit: q.count,
        window_secs: q.period.as_secs().max(1),
        remaining,
        reset_secs: reset_us.div_ceil(1_000_000),
        retry_after: if allowed {
            None
        } else {
            Some(Duration::from_micros(retry_us))
        },
    }
}

/// How many of `want` requests every quota admits now, given each quota's stored theoretical
/// arrival time (0 when unknown): the request `j` (from 1) fits a quota when
/// `max(tat, now) + j × interval − period ≤ now`.
fn gcra_fit(quotas: &[Quota], tats: &[u64], now_us: u64, want: u32) -> u32 {
    quotas
        .iter()
        .zip(tats)
        .map(|(q, &stored)| {
            let tat = stored.max(now_us);
            let room = (now_us + q.period_us()).saturating_sub(tat);
            u32::try_from(room / q.emission_interval_us()).unwrap_or(u32::MAX)
        })
        .fold(want, u32::min)
}

/// [`gcra_apply`] for a lease of up to `want` requests at once, in place: admits the `k` of
/// them that fit every quota, advancing every arrival time by `k` intervals, and returns `k`
/// with the decision for the `k`-th request, or 0 and the refusal when none fits.
pub fn gcra_lease(quotas: &[Quota], tats: &mut [u64], now_us: u64, want: u32) -> (u32, Decision) {
    let k = gcra_fit(quotas, tats, now_us, want.max(1));
    if k > 1 {
        // The first k − 1 are admitted in one step; the last one decides the headers.
        for (q, tat) in quotas.iter().zip(tats.iter_mut()) {
            *tat = (*tat).max(now_us) + u64::from(k - 1) * q.emission_interval_us();
        }
    }
    let decision = gcra_apply(quotas, tats, now_us);
    debug_assert_eq!(decision.allowed, k > 0);
    (k, decision)
}

/// The clock the memory store reads (injected for tests).
pub trait MicrosClock: Send + Sync + 'static {
    /// Monotonic microseconds.
    fn now_us(&self) -> u64;
}

/// A monotonic clock.
#[derive(Debug)]
pub struct MonotonicClock(std::time::Instant);

impl Default for MonotonicClock {
    fn default() -> Self {
        MonotonicClock(std::time::Instant::now())
    }
}

impl MicrosClock for MonotonicClock {
    fn now_us(&self) -> u64 {
        // Offset by a day so a fresh key's TAT of 0 is always in the past.
        self.0.elapsed().as_micros() as u64 + 86_400_000_000
    }
}

/// GCRA state in process memory, bounded: when it holds more than `max_keys`, idle keys (whose
/// every TAT has passed, so they are indistinguishable from new ones) are forgotten.
pub struct MemoryRateLimitStore {
    state: Mutex<HashMap<String, Vec<u64>>>,
    clock: Box<dyn MicrosClock>,
    max_keys: usize,
}

impl MemoryRateLimitStore {
    /// A store holding at most about `max_keys` clients.
    pub fn new(max_keys: usize) -> Self {
        Self::with_clock(max_keys, Box::new(MonotonicClock::default()))
    }

    /// With an injected clock.
    pub fn with_clock(max_keys: usize, clock: Box<dyn MicrosClock>) -> Self {
        MemoryRateLimitStore {
            state: Mutex::new(HashMap::new()),
            clock,
            max_keys: max_keys.max(16),
        }
    }

    /// Clients tracked now.
    pub fn len(&self) -> usize {
        self.state.lock().map(|s| s.len()).unwrap_or(0)
    }

    /// True when no client is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The decision a check would give now, without counting anything.
    pub fn peek_now(&self, key: &str, quotas: &[Quota]) -> Decision {
        let now = self.clock.now_us();
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut tats = match state.get(key).filter(|t| t.len() == quotas.len()) {
            Some(t) => t.clone(),
            None => vec![0; quotas.len()],
        };
        gcra_apply(quotas, &mut tats, now)
    }

    /// The decision, synchronously.
    pub fn check_now(&self, key: &str, quotas: &[Quota]) -> Decision {
        self.lease_now(key, quotas, 1).1
    }

    /// Up to `want` requests at once, synchronously ([`gcra_lease`]).
    pub fn lease_now(&self, key: &str, quotas: &[Quota], want: u32) -> (u32, Decision) {
        let now = self.clock.now_us();
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.len() >= self.max_keys && !state.contains_key(key) {
            state.retain(|_, tats| tats.iter().any(|&t| t > now));
            if state.len() >= self.max_keys {
                // Everyone is active: drop an arbitrary tenth rather than grow without bound.
                let drop: Vec<String> =
                    state.keys().take(self.max_keys / 10 + 1).cloned().collect();
                for k in drop {
                    state.remove(&k);
                }
            }
        }
        // Existing clients are updated in place: no allocation on the hot path.
        if let Some(tats) = state.get_mut(key).filter(|t| t.len() == quotas.len()) {
            return gcra_lease(quotas, tats, now, want);
        }
        let mut tats = vec![0; quotas.len()];
        let (k, decision) = gcra_lease(quotas, &mut tats, now, want);
        if k > 0 {
            state.insert(key.to_owned(), tats);
        }
        (k, decision)
    }
}

#[async_trait]
impl RateLimitStore for MemoryRateLimitStore {
    async fn check_many(
        &self,
        key: &str,
        quotas: &[Quota],
        want: u32,
    ) -> Result<(u32, Decision), RateLimitError> {
        Ok(self.lease_now(key, quotas, want))
    }

    fn name(&self) -> &'static str {
        "memory"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[derive(Clone)]
    struct Manual(Arc<AtomicU64>);
    impl MicrosClock for Manual {
        fn now_us(&self) -> u64 {
            self.0.load(Ordering::SeqCst)
        }
    }

    fn store() -> (MemoryRateLimitStore, Arc<AtomicU64>) {
        let t = Arc::new(AtomicU64::new(1_000_000_000));
        (
            MemoryRateLimitStore::with_clock(1000, Box::new(Manual(t.clone()))),
            t,
        )
    }

    #[test]
    fn admits_exactly_the_burst_then_refuses_with_a_computed_retry_after() {
        let (s, t) = store();
        let q = [Quota::per_second(5), Quota::per_minute(60)];
        for i in 0..5 {
            let d = s.check_now("a", &q);
            assert!(d.allowed, "request {i}");
            assert_eq!(d.remaining, 4 - i);
        }
        let d = s.check_now("a", &q);
        assert!(!d.allowed);
        assert_eq!(d.remaining, 0);
        assert_eq!(d.retry_after, Some(Duration::from_millis(200)));
        // Another client is unaffected.
        assert!(s.check_now("b", &q).allowed);
        // After the retry-after, exactly one more.
        t.fetch_add(200_000, Ordering::SeqCst);
        assert!(s.check_now("a", &q).allowed);
        assert!(!s.check_now("a", &q).allowed);
    }

    #[test]
    fn the_minute_quota_binds_over_many_seconds() {
        let (s, t) = store();
        let q = [Quota::per_second(5), Quota::per_minute(12)];
        let mut admitted = 0;
        for _ in 0..60 {
            for _ in 0..5 {
                if s.check_now("a", &q).allowed {
                    admitted += 1;
                }
            }
            t.fetch_add(1_000_000, Ordering::SeqCst);
        }
        // 12 at once, then one every 5 s for the remaining ~55 s.
        assert!((22..=24).contains(&admitted), "admitted {admitted}");
    }

    #[test]
    fn refused_requests_do_not_consume_quota() {
        let (s, t) = store();
        let q = [Quota::per_second(2)];
        assert!(s.check_now("a", &q).allowed);
        assert!(s.check_now("a", &q).allowed);
        for _ in 0..100 {
            assert!(!s.check_now("a", &q).allowed);
        }
        t.fetch_add(500_000, Ordering::SeqCst);
        assert!(
            s.check_now("a", &q).allowed,
            "hammering while refused must not extend the ban"
        );
    }

    #[test]
    fn a_lease_admits_what_fits_and_counts_it_like_single_checks() {
        let (s, t) = store();
        let q = [Quota::per_second(100), Quota::per_minute(1000)];
        let (k, d) = s.lease_now("a", &q, 30);
        assert_eq!(k, 30);
        assert!(d.allowed);
        assert_eq!(d.remaining, 70, "the decision is the 30th request's");
        // The burst of 100 a second binds: 70 more fit, not 80.
        let (k, d) = s.lease_now("a", &q, 80);
        assert_eq!((k, d.remaining), (70, 0));
        let (k, d) = s.lease_now("a", &q, 5);
        assert_eq!(k, 0);
        assert!(!d.allowed);
        assert_eq!(d.retry_after, Some(Duration::from_millis(10)));
        // Single checks see the same state.
        assert!(!s.check_now("a", &q).allowed);
        t.fetch_add(10_000, Ordering::SeqCst);
        assert!(s.check_now("a", &q).allowed);
        // The tighter quota of a client decides how many fit.
        let q = [Quota::per_second(1000), Quota::per_minute(50)];
        let (k, d) = s.lease_now("b", &q, 80);
        assert_eq!((k, d.remaining, d.limit), (50, 0, 50));
    }

    #[test]
    fn memory_is_bounded() {
        let (s, t) = store();
        let q = [Quota::per_second(1)];
        for i in 0..5000 {
            s.check_now(&format!("client-{i}"), &q);
            t.fetch_add(1_000, Ordering::SeqCst);
        }
        assert!(s.len() <= 1000, "{}", s.len());
    }
}
