//! The coalescing loader the service layer calls: cache-aside with one upstream call per key at a
//! time, stale-while-revalidate with a single background refresh, and stale-if-error for
//! transient upstream failures. Errors are never stored.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;

use crate::adaptive::{Learner, TtlBounds};
use crate::{Cache, CacheStatus, Entry, SharedClock, duration_ms};

/// How long a kind of answer stays fresh, and how long it may be served stale after that.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CachePolicy {
    /// Fresh for this long after it is fetched.
    pub ttl: Duration,
    /// After expiry, served at once for this long while one background refresh runs.
    pub stale_while_revalidate: Duration,
    /// After expiry, served for this long when the upstream fails with a transient error.
    pub stale_if_error: Duration,
    /// With a [`Learner`] attached to the layer, the range its learned TTL (which replaces
    /// `ttl`) must stay in; `None` keeps `ttl` fixed and the key unlearned.
    pub adaptive: Option<TtlBounds>,
}

impl CachePolicy {
    /// The default stale-if-error window.
    pub const DEFAULT_STALE_IF_ERROR: Duration = Duration::from_secs(24 * 60 * 60);

    /// `ttl` with the default windows: stale-while-revalidate for a tenth of it, stale-if-error
    /// for 24 hours.
    pub fn with_ttl(ttl: Duration) -> Self {
        CachePolicy {
            ttl,
            stale_while_revalidate: ttl / 10,
            stale_if_error: Self::DEFAULT_STALE_IF_ERROR,
            adaptive: None,
        }
    }

    /// The entry to store for a value fetched at `now_ms`, kept as long as either window needs.
    pub fn entry(&self, value: Bytes, now_ms: u64) -> Entry {
        let fresh_until_ms = now_ms.saturating_add(duration_ms(self.ttl));
        let stale_for = duration_ms(self.stale_while_revalidate.max(self.stale_if_error));
        Entry {
            value,
            stored_at_ms: now_ms,
            fresh_until_ms,
            stale_until_ms: fresh_until_ms.saturating_add(stale_for),
        }
    }

    /// How long after its expiry `entry` may be served while it revalidates. An entry stored
    /// with a learned TTL gets the same share of its own TTL, never more than the window: a
    /// key learned to change every few minutes is not served minutes past its expiry.
    pub fn revalidate_window(&self, entry: &Entry) -> Duration {
        if self.adaptive.is_none() || self.ttl.is_zero() {
            return self.stale_while_revalidate;
        }
        let life = entry.fresh_until_ms.saturating_sub(entry.stored_at_ms);
        let scaled = u128::from(life) * self.stale_while_revalidate.as_millis()
            / self.ttl.as_millis().max(1);
        self.stale_while_revalidate.min(Duration::from_millis(
            u64::try_from(scaled).unwrap_or(u64::MAX),
        ))
    }

    /// False when an entry would be unusable the moment it is stored.
    fn stores(&self) -> bool {
        !(self.ttl.is_zero()
            && self.stale_while_revalidate.is_zero()
            && self.stale_if_error.is_zero())
    }
}

/// Whether a lookup may be answered from the cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ReadMode {
    /// Serve fresh (or allowed stale) entries.
    #[default]
    Normal,
    /// Skip the read, call the upstream (joining an identical call already in flight), and store
    /// the result.
    Bypass,
}

/// What a fetch produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetched {
    /// The ready-to-send bytes.
    pub value: Bytes,
    /// False for answers that must not be stored (they are still returned).
    pub cacheable: bool,
}

impl Fetched {
    /// A value to store.
    pub fn cacheable(value: impl Into<Bytes>) -> Self {
        Fetched {
            value: value.into(),
            cacheable: true,
        }
    }
}

/// The answer to one lookup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lookup {
    /// The ready-to-send bytes.
    pub value: Bytes,
    /// How they were obtained.
    pub status: CacheStatus,
    /// Time since the value was fetched from the upstream.
    pub age: Duration,
    /// Time it stays fresh (zero when stale or not stored).
    pub ttl_remaining: Duration,
}

/// Classifies a fetch error: only transient ones (timeouts, 5xx, flow control, unavailable) let a
/// stale entry be served instead.
pub trait Transient {
    /// True when the same request may well succeed later.
    fn is_transient(&self) -> bool;
}

/// Counters a [`CacheLayer`] keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LayerStats {
    /// Fresh entries served.
    pub hits: u64,
    /// Normal lookups that had to call the upstream themselves.
    pub misses: u64,
    /// Expired entries served: while revalidating, or because the upstream failed (those
    /// lookups also count as a miss or a coalesced wait, as they did wait on the upstream).
    pub stale_served: u64,
    /// Lookups that waited on an identical call already in flight.
    pub coalesced_waits: u64,
    /// Lookups that skipped the read on request.
    pub bypasses: u64,
    /// Upstream calls made (foreground and background).
    pub upstream_fetches: u64,
    /// Background refreshes started by stale-while-revalidate.
    pub background_refreshes: u64,
    /// Upstream calls that failed.
    pub fetch_errors: u64,
    /// Cache reads that failed (treated as misses).
    pub read_errors: u64,
    /// Cache writes that failed (the value was still returned).
    pub store_errors: u64,
    /// Upstream calls avoided: hits, stale serves and coalesced waits.
    pub upstream_calls_saved: u64,
}

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    stale_served: AtomicU64,
    coalesced_waits: AtomicU64,
    bypasses: AtomicU64,
    upstream_fetches: AtomicU64,
    background_refreshes: AtomicU64,
    fetch_errors: AtomicU64,
    read_errors: AtomicU64,
    store_errors: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// A finished upstream call as every waiter sees it.
#[derive(Clone)]
struct Done {
    value: Bytes,
    cacheable: bool,
    fetched_at_ms: u64,
    /// The TTL it was stored with.
    ttl: Duration,
}

type Outcome<E> = Result<Done, E>;
type FlightRx<E> = watch::Receiver<Option<Outcome<E>>>;

/// A call in flight: its id (so a finished flight never removes its successor) and a receiver,
/// type-erased because each call site picks its own error type.
struct Flight {
    id: u64,
    rx: Box<dyn Any + Send + Sync>,
}

struct Inner {
    cache: Arc<dyn Cache>,
    clock: SharedClock,
    flights: Mutex<HashMap<String, Flight>>,
    next_id: AtomicU64,
    counters: Counters,
    learner: Option<Arc<Learner>>,
}

impl Inner {
    fn flights(&self) -> MutexGuard<'_, HashMap<String, Flight>> {
        // The map is only touched in short sections that cannot leave it half-updated.
        self.flights
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Removes a flight from the map when its task ends, even by panic, so later callers start anew.
struct FlightGuard {
    inner: Arc<Inner>,
    key: String,
    id: u64,
}

impl Drop for FlightGuard {
    fn drop(&mut self) {
        let mut flights = self.inner.flights();
        if flights.get(&self.key).is_some_and(|f| f.id == self.id) {
            flights.remove(&self.key);
        }
    }
}

type FlightHandle = tokio::task::JoinHandle<()>;

enum Role<E, F> {
    Led(FlightRx<E>, FlightHandle),
    Joined(FlightRx<E>, F),
}

/// Cache-aside over any [`Cache`], coalescing identical concurrent misses. Cheap to clone.
#[derive(Clone)]
pub struct CacheLayer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for CacheLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheLayer")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl CacheLayer {
    /// A loader over `cache`, judging freshness by `clock`.
    pub fn new(cache: Arc<dyn Cache>, clock: SharedClock) -> Self {
        CacheLayer {
            inner: Arc::new(Inner {
                cache,
                clock,
                flights: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(0),
                counters: Counters::default(),
                learner: None,
            }),
        }
    }

    /// A loader over `cache` whose TTLs `learner` learns (for policies with
    /// [`CachePolicy::adaptive`] bounds), refreshing hot entries ahead of expiry.
    pub fn with_learner(cache: Arc<dyn Cache>, clock: SharedClock, learner: Arc<Learner>) -> Self {
        CacheLayer {
            inner: Arc::new(Inner {
                cache,
                clock,
                flights: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(0),
                counters: Counters::default(),
                learner: Some(learner),
            }),
        }
    }

    /// The learner, in adaptive mode.
    pub fn learner(&self) -> Option<&Arc<Learner>> {
        self.inner.learner.as_ref()
    }

    /// The store underneath (for clearing and its stats).
    pub fn cache(&self) -> &Arc<dyn Cache> {
        &self.inner.cache
    }

    /// Upstream calls running now.
    pub fn in_flight(&self) -> usize {
        self.inner.flights().len()
    }

    /// The counters so far.
    pub fn stats(&self) -> LayerStats {
        let c = &self.inner.counters;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let (hits, stale_served, coalesced_waits) = (
            load(&c.hits),
            load(&c.stale_served),
            load(&c.coalesced_waits),
        );
        LayerStats {
            hits,
            misses: load(&c.misses),
            stale_served,
            coalesced_waits,
            bypasses: load(&c.bypasses),
            upstream_fetches: load(&c.upstream_fetches),
            background_refreshes: load(&c.background_refreshes),
            fetch_errors: load(&c.fetch_errors),
            read_errors: load(&c.read_errors),
            store_errors: load(&c.store_errors),
            upstream_calls_saved: hits + stale_served + coalesced_waits,
        }
    }

    /// [`CacheLayer::get_or_fetch_with`] for error types that classify themselves.
    pub async fn get_or_fetch<E, F, Fut>(
        &self,
        key: &str,
        policy: &CachePolicy,
        read: ReadMode,
        fetch: F,
    ) -> Result<Lookup, E>
    where
        E: Transient + Clone + Send + Sync + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<Fetched, E>> + Send + 'static,
    {
        self.get_or_fetch_with(key, policy, read, E::is_transient, fetch)
            .await
    }

    /// The value under `key`: fresh from the cache (`Hit`); expired but within
    /// stale-while-revalidate (`Stale`, with one background refresh); otherwise from `fetch`,
    /// shared with identical concurrent lookups (`Miss` for the caller that started it,
    /// `Coalesced` for the others, `Bypass` when asked to skip the read). When the fetch fails
    /// with an error `is_transient` accepts and an entry within stale-if-error exists, that
    /// entry is served `Stale`; any other error is returned. The fetch runs in its own task, so
    /// it completes (and its result is stored) even if every caller gives up.
    pub async fn get_or_fetch_with<E, F, Fut>(
        &self,
        key: &str,
        policy: &CachePolicy,
        read: ReadMode,
        is_transient: fn(&E) -> bool,
        fetch: F,
    ) -> Result<Lookup, E>
    where
        E: Clone + Send + Sync + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<Fetched, E>> + Send + 'static,
    {
        let counters = &self.inner.counters;
        let now = self.inner.clock.now_ms();
        let mut fallback = None;
        if read == ReadMode::Normal {
            let learning = match (&self.inner.learner, policy.adaptive) {
                (Some(learner), Some(_)) => Some((learner, learner.touch(key, now, policy.ttl))),
                _ => None,
            };
            match self.inner.cache.get(key).await {
                Ok(Some(entry)) if entry.is_fresh(now) => {
                    if let Some((learner, rate)) = learning
                        && learner.wants_refresh(
                            rate,
                            now,
                            entry.stored_at_ms,
                            entry.fresh_until_ms,
                        )
                        && !self.inner.flights().contains_key(key)
                        && learner.take_budget()
                    {
                        self.refresh_in_background(key, policy, fetch);
                    }
                    bump(&counters.hits);
                    return Ok(Lookup {
                        age: entry.age(now),
                        ttl_remaining: Duration::from_millis(entry.fresh_until_ms - now),
                        value: entry.value,
                        status: CacheStatus::Hit,
                    });
                }
                Ok(Some(entry)) if now < entry.stale_until_ms => {
                    let expired_for = now - entry.fresh_until_ms;
                    if expired_for < duration_ms(policy.revalidate_window(&entry)) {
                        self.refresh_in_background(key, policy, fetch);
                        bump(&counters.stale_served);
                        return Ok(stale(entry, now));
                    }
                    if expired_for < duration_ms(policy.stale_if_error) {
                        fallback = Some(entry);
                    }
                }
                Ok(_) => {}
                Err(_) => bump(&counters.read_errors),
            }
        }

        // A flight whose answer is already published (it is being written to the store) serves
        // this caller without waiting: that is a hit, not a wait.
        let (outcome, led, ready) = match self.join_or_lead(key, policy, fetch) {
            Role::Led(mut rx, handle) => (finish(&mut rx, handle).await, true, false),
            Role::Joined(mut rx, fetch) => {
                let ready = rx.borrow().is_some();
                match wait(&mut rx).await {
                    Some(outcome) => (outcome, false, ready),
                    // The flight died without an answer (its fetch panicked): make our own call.
                    None => {
                        let (mut rx, handle) = self.lead_alone(key, policy, fetch);
                        (finish(&mut rx, handle).await, true, false)
                    }
                }
            }
        };
        let status = match (read, led, ready) {
            (ReadMode::Bypass, _, _) => CacheStatus::Bypass,
            (ReadMode::Normal, true, _) => CacheStatus::Miss,
            (ReadMode::Normal, false, true) => CacheStatus::Hit,
            (ReadMode::Normal, false, false) => CacheStatus::Coalesced,
        };
        match status {
            CacheStatus::Bypass => bump(&counters.bypasses),
            CacheStatus::Miss => bump(&counters.misses),
            CacheStatus::Hit => bump(&counters.hits),
            _ => bump(&counters.coalesced_waits),
        }
        match outcome {
            Ok(done) => {
                let age = Duration::from_millis(
                    self.inner.clock.now_ms().saturating_sub(done.fetched_at_ms),
                );
                let ttl_remaining = if done.cacheable {
                    done.ttl.saturating_sub(age)
                } else {
                    Duration::ZERO
                };
                Ok(Lookup {
                    value: done.value,
                    status,
                    age,
                    ttl_remaining,
                })
            }
            Err(err) => match fallback {
                Some(entry) if is_transient(&err) => {
                    bump(&counters.stale_served);
                    Ok(stale(entry, self.inner.clock.now_ms()))
                }
                _ => Err(err),
            },
        }
    }

    /// Starts one refresh for `key` unless a call for it is already running.
    fn refresh_in_background<E, F, Fut>(&self, key: &str, policy: &CachePolicy, fetch: F)
    where
        E: Clone + Send + Sync + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<Fetched, E>> + Send + 'static,
    {
        if self.inner.flights().contains_key(key) {
            return;
        }
        if let Role::Led(_unwatched, _detached) = self.join_or_lead(key, policy, fetch) {
            bump(&self.inner.counters.background_refreshes);
        }
    }

    /// Joins the flight for `key` if one of the same error type is running, else starts one that
    /// others can join.
    fn join_or_lead<E, F, Fut>(&self, key: &str, policy: &CachePolicy, fetch: F) -> Role<E, F>
    where
        E: Clone + Send + Sync + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<Fetched, E>> + Send + 'static,
    {
        let (tx, rx) = watch::channel::<Option<Outcome<E>>>(None);
        let guard = {
            let mut flights = self.inner.flights();
            match flights
                .get(key)
                .map(|flight| flight.rx.downcast_ref::<FlightRx<E>>())
            {
                Some(Some(running)) => return Role::Joined(running.clone(), fetch),
                // Another call site uses this key with another error type: run alongside it.
                Some(None) => None,
                None => {
                    let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
                    flights.insert(
                        key.to_owned(),
                        Flight {
                            id,
                            rx: Box::new(rx.clone()),
                        },
                    );
                    Some(FlightGuard {
                        inner: Arc::clone(&self.inner),
                        key: key.to_owned(),
                        id,
                    })
                }
            }
        };
        Role::Led(rx, self.spawn_flight(key, policy, fetch, tx, guard))
    }

    /// Starts a call nobody else can join.
    fn lead_alone<E, F, Fut>(
        &self,
        key: &str,
        policy: &CachePolicy,
        fetch: F,
    ) -> (FlightRx<E>, FlightHandle)
    where
        E: Clone + Send + Sync + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<Fetched, E>> + Send + 'static,
    {
        let (tx, rx) = watch::channel::<Option<Outcome<E>>>(None);
        (rx, self.spawn_flight(key, policy, fetch, tx, None))
    }

    /// Runs `fetch` in its own task, publishes the outcome on `tx`, then stores a cacheable value.
    fn spawn_flight<E, F, Fut>(
        &self,
        key: &str,
        policy: &CachePolicy,
        fetch: F,
        tx: watch::Sender<Option<Outcome<E>>>,
        guard: Option<FlightGuard>,
    ) -> FlightHandle
    where
        E: Clone + Send + Sync + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<Fetched, E>> + Send + 'static,
    {
        bump(&self.inner.counters.upstream_fetches);
        let inner = Arc::clone(&self.inner);
        let key = key.to_owned();
        let policy = *policy;
        tokio::spawn(async move {
            let _guard = guard;
            let result = fetch().await;
            let fetched_at_ms = inner.clock.now_ms();
            let outcome = result.map(|f| {
                let ttl = match (&inner.learner, policy.adaptive) {
                    (Some(learner), Some(bounds)) if f.cacheable && policy.stores() => {
                        learner.learn(&key, &f.value, fetched_at_ms, policy.ttl, bounds)
                    }
                    _ => policy.ttl,
                };
                Done {
                    value: f.value,
                    cacheable: f.cacheable,
                    fetched_at_ms,
                    ttl,
                }
            });
            if outcome.is_err() {
                bump(&inner.counters.fetch_errors);
            }
            // Waiters are answered before the store write, and the flight stays registered until
            // the write is done, so a caller arriving in between joins instead of fetching again.
            tx.send_replace(Some(outcome.clone()));
            if let Ok(done) = &outcome
                && done.cacheable
                && policy.stores()
            {
                let policy = CachePolicy {
                    ttl: done.ttl,
                    ..policy
                };
                let entry = policy.entry(done.value.clone(), fetched_at_ms);
                if inner.cache.put(&key, entry).await.is_err() {
                    bump(&inner.counters.store_errors);
                }
            }
        })
    }
}

fn stale(entry: Entry, now: u64) -> Lookup {
    Lookup {
        age: entry.age(now),
        value: entry.value,
        status: CacheStatus::Stale,
        ttl_remaining: Duration::ZERO,
    }
}

async fn wait<E: Clone>(rx: &mut FlightRx<E>) -> Option<Outcome<E>> {
    match rx.wait_for(Option::is_some).await {
        Ok(outcome) => outcome.clone(),
        Err(_closed) => None,
    }
}

/// The outcome of a flight this caller started, taken as soon as it is published (before the
/// store write); a panic in the fetch is re-raised here, as it would have been had the fetch run
/// inline.
async fn finish<E: Clone>(rx: &mut FlightRx<E>, handle: FlightHandle) -> Outcome<E> {
    if let Some(outcome) = wait(rx).await {
        return outcome;
    }
    match handle.await {
        Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
        _ => panic!("the cache fetch task ended without an outcome: the runtime is shutting down"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CacheError, ManualClock, MemoryCache, MemoryCacheConfig, TierStats};
    use async_trait::async_trait;
    use std::sync::atomic::AtomicUsize;

    const START: u64 = 1_700_000_000_000;

    #[derive(Clone, Debug, PartialEq, Eq)]
    enum TestError {
        Timeout,
        BadRequest,
    }

    impl Transient for TestError {
        fn is_transient(&self) -> bool {
            matches!(self, TestError::Timeout)
        }
    }

    struct Setup {
        layer: CacheLayer,
        clock: Arc<ManualClock>,
        calls: Arc<AtomicUsize>,
    }

    fn setup() -> Setup {
        let clock = Arc::new(ManualClock::new(START));
        let cache =
            Arc::new(MemoryCache::new(MemoryCacheConfig::default(), clock.clone()).unwrap());
        Setup {
            layer: CacheLayer::new(cache, clock.clone()),
            clock,
            calls: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn policy() -> CachePolicy {
        CachePolicy {
            ttl: Duration::from_secs(100),
            stale_while_revalidate: Duration::from_secs(10),
            stale_if_error: Duration::from_secs(3600),
            adaptive: None,
        }
    }

    /// A fetch that counts its calls, takes `delay` (in paused tokio time) and then answers.
    fn fetch(
        calls: &Arc<AtomicUsize>,
        delay: Duration,
        answer: Result<&'static str, TestError>,
    ) -> impl FnOnce() -> std::pin::Pin<Box<dyn Future<Output = Result<Fetched, TestError>> + Send>>
    + Send
    + 'static {
        let calls = Arc::clone(calls);
        move || {
            Box::pin(async move {
                calls.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(delay).await;
                answer.map(Fetched::cacheable)
            })
        }
    }

    async fn load(
        s: &Setup,
        read: ReadMode,
        answer: Result<&'static str, TestError>,
    ) -> Result<Lookup, TestError> {
        s.layer
            .get_or_fetch(
                "k",
                &policy(),
                read,
                fetch(&s.calls, Duration::from_millis(50), answer),
            )
            .await
    }

    /// Lets spawned tasks run to completion (paused time advances on its own while all are idle).
    async fn settle() {
        tokio::time::sleep(Duration::from_secs(60)).await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_hundred_concurrent_misses_make_one_upstream_call() {
        let s = setup();
        let mut tasks = Vec::new();
        for _ in 0..100 {
            let layer = s.layer.clone();
            let f = fetch(&s.calls, Duration::from_millis(200), Ok("value"));
            tasks.push(tokio::spawn(async move {
                layer
                    .get_or_fetch("k", &policy(), ReadMode::Normal, f)
                    .await
            }));
        }
        let mut statuses = HashMap::new();
        for task in tasks {
            let lookup = task.await.unwrap().unwrap();
            assert_eq!(lookup.value, "value");
            *statuses.entry(lookup.status).or_insert(0) += 1;
        }
        assert_eq!(s.calls.load(Ordering::SeqCst), 1);
        assert_eq!(
            statuses,
            HashMap::from([(CacheStatus::Miss, 1), (CacheStatus::Coalesced, 99)])
        );
        let stats = s.layer.stats();
        assert_eq!(
            (stats.misses, stats.coalesced_waits, stats.upstream_fetches),
            (1, 99, 1)
        );
        assert_eq!(stats.upstream_calls_saved, 99);

        settle().await;
        assert_eq!(s.layer.in_flight(), 0);
        let hit = load(&s, ReadMode::Normal, Ok("unused")).await.unwrap();
        assert_eq!(
            (hit.status, hit.value),
            (CacheStatus::Hit, Bytes::from_static(b"value"))
        );
        assert_eq!(s.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_fresh_entry_is_a_hit_with_its_age() {
        let s = setup();
        let miss = load(&s, ReadMode::Normal, Ok("v1")).await.unwrap();
        assert_eq!(
            (miss.status, miss.age, miss.ttl_remaining),
            (CacheStatus::Miss, Duration::ZERO, policy().ttl)
        );
        settle().await;
        s.clock.advance(Duration::from_secs(30));
        let hit = load(&s, ReadMode::Normal, Ok("v2")).await.unwrap();
        assert_eq!(hit.status, CacheStatus::Hit);
        assert_eq!(hit.value, "v1");
        assert_eq!(hit.age, Duration::from_secs(30));
        assert_eq!(hit.ttl_remaining, Duration::from_secs(70));
        assert_eq!(s.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn within_stale_while_revalidate_stale_is_served_and_one_refresh_runs() {
        let s = setup();
        load(&s, ReadMode::Normal, Ok("v1")).await.unwrap();
        settle().await;
        s.clock.advance(Duration::from_secs(105));
        for _ in 0..5 {
            let lookup = load(&s, ReadMode::Normal, Ok("v2")).await.unwrap();
            assert_eq!(
                (lookup.status, lookup.value.clone()),
                (CacheStatus::Stale, Bytes::from_static(b"v1"))
            );
            assert_eq!(lookup.age, Duration::from_secs(105));
            assert_eq!(lookup.ttl_remaining, Duration::ZERO);
        }
        assert_eq!(s.layer.in_flight(), 1);
        settle().await;
        assert_eq!(
            s.calls.load(Ordering::SeqCst),
            2,
            "one initial fetch and exactly one refresh"
        );
        let hit = load(&s, ReadMode::Normal, Ok("v3")).await.unwrap();
        assert_eq!(
            (hit.status, hit.value),
            (CacheStatus::Hit, Bytes::from_static(b"v2"))
        );
        let stats = s.layer.stats();
        assert_eq!(
            (stats.stale_served, stats.background_refreshes, stats.hits),
            (5, 1, 1)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_refresh_stores_nothing_and_a_later_one_is_tried() {
        let s = setup();
        load(&s, ReadMode::Normal, Ok("v1")).await.unwrap();
        settle().await;
        s.clock.advance(Duration::from_secs(101));
        assert_eq!(
            load(&s, ReadMode::Normal, Err(TestError::Timeout))
                .await
                .unwrap()
                .status,
            CacheStatus::Stale
        );
        settle().await;
        assert_eq!(
            load(&s, ReadMode::Normal, Ok("v2")).await.unwrap().value,
            "v1"
        );
        settle().await;
        assert_eq!(s.calls.load(Ordering::SeqCst), 3);
        assert_eq!(
            load(&s, ReadMode::Normal, Ok("v3")).await.unwrap().value,
            "v2"
        );
        assert_eq!(s.layer.stats().fetch_errors, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn stale_if_error_serves_the_old_entry_on_transient_errors_only() {
        let s = setup();
        load(&s, ReadMode::Normal, Ok("v1")).await.unwrap();
        settle().await;
        // Past the revalidate window, inside stale-if-error.
        s.clock.advance(Duration::from_secs(200));
        let served = load(&s, ReadMode::Normal, Err(TestError::Timeout))
            .await
            .unwrap();
        assert_eq!(
            (served.status, served.value),
            (CacheStatus::Stale, Bytes::from_static(b"v1"))
        );
        assert_eq!(served.age, Duration::from_secs(200));
        assert_eq!(
            load(&s, ReadMode::Normal, Err(TestError::BadRequest)).await,
            Err(TestError::BadRequest)
        );
        // Past stale-if-error: the error goes through.
        s.clock.advance(Duration::from_secs(3600));
        assert_eq!(
            load(&s, ReadMode::Normal, Err(TestError::Timeout)).await,
            Err(TestError::Timeout)
        );
        assert_eq!(s.calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn the_stale_if_error_window_is_the_policys_not_the_stores() {
        let s = setup();
        load(&s, ReadMode::Normal, Ok("v1")).await.unwrap();
        settle().await;
        s.clock.advance(Duration::from_secs(200));
        let short = CachePolicy {
            stale_if_error: Duration::from_secs(50),
            ..policy()
        };
        let f = fetch(&s.calls, Duration::ZERO, Err(TestError::Timeout));
        assert_eq!(
            s.layer.get_or_fetch("k", &short, ReadMode::Normal, f).await,
            Err(TestError::Timeout)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn errors_are_never_cached() {
        let s = setup();
        assert_eq!(
            load(&s, ReadMode::Normal, Err(TestError::Timeout)).await,
            Err(TestError::Timeout)
        );
        settle().await;
        let lookup = load(&s, ReadMode::Normal, Ok("v1")).await.unwrap();
        assert_eq!(
            (lookup.status, lookup.value),
            (CacheStatus::Miss, Bytes::from_static(b"v1"))
        );
        assert_eq!(s.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_waiters_all_get_the_error() {
        let s = setup();
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let layer = s.layer.clone();
            let f = fetch(
                &s.calls,
                Duration::from_millis(100),
                Err(TestError::BadRequest),
            );
            tasks.push(tokio::spawn(async move {
                layer
                    .get_or_fetch("k", &policy(), ReadMode::Normal, f)
                    .await
            }));
        }
        for task in tasks {
            assert_eq!(task.await.unwrap(), Err(TestError::BadRequest));
        }
        assert_eq!(s.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn bypass_skips_the_read_and_refreshes_the_entry() {
        let s = setup();
        load(&s, ReadMode::Normal, Ok("v1")).await.unwrap();
        settle().await;
        let fresh = load(&s, ReadMode::Bypass, Ok("v2")).await.unwrap();
        assert_eq!(
            (fresh.status, fresh.value),
            (CacheStatus::Bypass, Bytes::from_static(b"v2"))
        );
        settle().await;
        let hit = load(&s, ReadMode::Normal, Ok("v3")).await.unwrap();
        assert_eq!(
            (hit.status, hit.value),
            (CacheStatus::Hit, Bytes::from_static(b"v2"))
        );
        assert_eq!(s.calls.load(Ordering::SeqCst), 2);
        assert_eq!(s.layer.stats().bypasses, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn bypass_errors_are_returned_even_with_a_stale_entry() {
        let s = setup();
        load(&s, ReadMode::Normal, Ok("v1")).await.unwrap();
        settle().await;
        s.clock.advance(Duration::from_secs(200));
        assert_eq!(
            load(&s, ReadMode::Bypass, Err(TestError::Timeout)).await,
            Err(TestError::Timeout)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn uncacheable_answers_are_returned_but_not_stored() {
        let s = setup();
        for _ in 0..2 {
            let calls = Arc::clone(&s.calls);
            let lookup = s
                .layer
                .get_or_fetch("k", &policy(), ReadMode::Normal, move || async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, TestError>(Fetched {
                        value: Bytes::from_static(b"once"),
                        cacheable: false,
                    })
                })
                .await
                .unwrap();
            assert_eq!(
                (lookup.status, lookup.ttl_remaining),
                (CacheStatus::Miss, Duration::ZERO)
            );
            settle().await;
        }
        assert_eq!(s.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn the_fetch_finishes_and_is_stored_when_its_caller_gives_up() {
        let s = setup();
        let layer = s.layer.clone();
        let f = fetch(&s.calls, Duration::from_secs(5), Ok("late"));
        let caller = tokio::spawn(async move {
            layer
                .get_or_fetch("k", &policy(), ReadMode::Normal, f)
                .await
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        caller.abort();
        assert!(caller.await.unwrap_err().is_cancelled());
        settle().await;
        let hit = load(&s, ReadMode::Normal, Ok("other")).await.unwrap();
        assert_eq!(
            (hit.status, hit.value),
            (CacheStatus::Hit, Bytes::from_static(b"late"))
        );
        assert_eq!(s.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_fetch_panics_its_caller_and_waiters_fetch_for_themselves() {
        let s = setup();
        let layer = s.layer.clone();
        let leader = tokio::spawn(async move {
            layer
                .get_or_fetch("k", &policy(), ReadMode::Normal, || async {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    panic!("fetch bug");
                    #[allow(unreachable_code)]
                    Ok::<Fetched, TestError>(Fetched::cacheable("never"))
                })
                .await
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        let waiter = load(&s, ReadMode::Normal, Ok("own")).await.unwrap();
        assert_eq!(
            (waiter.status, waiter.value),
            (CacheStatus::Miss, Bytes::from_static(b"own"))
        );
        assert!(leader.await.unwrap_err().is_panic());
        assert_eq!(s.layer.in_flight(), 0);
    }

    /// A store whose every operation fails, standing in for an unreachable backend.
    struct Broken;

    #[async_trait]
    impl Cache for Broken {
        async fn get(&self, _key: &str) -> Result<Option<Entry>, CacheError> {
            Err(CacheError {
                backend: "broken",
                reason: "down".into(),
            })
        }
        async fn put(&self, _key: &str, _entry: Entry) -> Result<(), CacheError> {
            Err(CacheError {
                backend: "broken",
                reason: "down".into(),
            })
        }
        async fn clear_prefix(&self, _prefix: &str) -> Result<u64, CacheError> {
            Err(CacheError {
                backend: "broken",
                reason: "down".into(),
            })
        }
        async fn stats(&self) -> Vec<TierStats> {
            Vec::new()
        }
    }

    /// A store that takes a second to write, so a caller can arrive between the published
    /// answer and the stored one.
    struct SlowWrites(MemoryCache);

    #[async_trait]
    impl Cache for SlowWrites {
        async fn get(&self, key: &str) -> Result<Option<Entry>, CacheError> {
            self.0.get(key).await
        }
        async fn put(&self, key: &str, entry: Entry) -> Result<(), CacheError> {
            tokio::time::sleep(Duration::from_secs(1)).await;
            self.0.put(key, entry).await
        }
        async fn clear_prefix(&self, prefix: &str) -> Result<u64, CacheError> {
            self.0.clear_prefix(prefix).await
        }
        async fn stats(&self) -> Vec<TierStats> {
            self.0.stats().await
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_published_but_not_yet_stored_is_a_hit_for_the_next_caller() {
        let clock = Arc::new(ManualClock::new(START));
        let memory = MemoryCache::new(MemoryCacheConfig::default(), clock.clone()).unwrap();
        let layer = CacheLayer::new(Arc::new(SlowWrites(memory)), clock);
        let calls = Arc::new(AtomicUsize::new(0));
        let first = layer
            .get_or_fetch(
                "k",
                &policy(),
                ReadMode::Normal,
                fetch(&calls, Duration::ZERO, Ok("v")),
            )
            .await
            .unwrap();
        assert_eq!(first.status, CacheStatus::Miss);
        // The write is still under way: the next caller takes the published answer at once.
        let second = layer
            .get_or_fetch(
                "k",
                &policy(),
                ReadMode::Normal,
                fetch(&calls, Duration::ZERO, Ok("other")),
            )
            .await
            .unwrap();
        assert_eq!(
            (second.status, second.value),
            (CacheStatus::Hit, Bytes::from_static(b"v"))
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let stats = layer.stats();
        assert_eq!((stats.hits, stats.misses, stats.coalesced_waits), (1, 1, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_store_degrades_to_calling_the_upstream() {
        let clock = Arc::new(ManualClock::new(START));
        let layer = CacheLayer::new(Arc::new(Broken), clock);
        let calls = Arc::new(AtomicUsize::new(0));
        for _ in 0..2 {
            let f = fetch(&calls, Duration::ZERO, Ok("v"));
            let lookup = layer
                .get_or_fetch("k", &policy(), ReadMode::Normal, f)
                .await
                .unwrap();
            assert_eq!(
                (lookup.status, lookup.value),
                (CacheStatus::Miss, Bytes::from_static(b"v"))
            );
            settle().await;
        }
        let stats = layer.stats();
        assert_eq!(
            (
                stats.read_errors,
                stats.store_errors,
                stats.upstream_fetches
            ),
            (2, 2, 2)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_plain_classifier_function_works_too() {
        let s = setup();
        load(&s, ReadMode::Normal, Ok("v1")).await.unwrap();
        settle().await;
        s.clock.advance(Duration::from_secs(200));
        let f = fetch(&s.calls, Duration::ZERO, Err(TestError::BadRequest));
        let everything_transient: fn(&TestError) -> bool = |_| true;
        let lookup = s
            .layer
            .get_or_fetch_with("k", &policy(), ReadMode::Normal, everything_transient, f)
            .await;
        assert_eq!(lookup.unwrap().status, CacheStatus::Stale);
    }

    fn adaptive_setup(budget_per_s: f64) -> (Setup, Arc<crate::Learner>) {
        let clock = Arc::new(ManualClock::new(START));
        let cache =
            Arc::new(MemoryCache::new(MemoryCacheConfig::default(), clock.clone()).unwrap());
        let budget = crate::RateBudget::new(clock.clone(), budget_per_s, || true);
        let learner = Arc::new(crate::Learner::new(
            crate::AdaptiveConfig {
                popularity_half_life: Duration::from_secs(60),
                ..crate::AdaptiveConfig::default()
            },
            clock.clone(),
            Some(Arc::new(budget)),
        ));
        let setup = Setup {
            layer: CacheLayer::with_learner(cache, clock.clone(), learner.clone()),
            clock,
            calls: Arc::new(AtomicUsize::new(0)),
        };
        (setup, learner)
    }

    fn adaptive_policy() -> CachePolicy {
        CachePolicy {
            adaptive: Some(crate::TtlBounds::new(
                Duration::from_secs(50),
                Duration::from_secs(400),
            )),
            ..policy()
        }
    }

    async fn adaptive_load(
        s: &Setup,
        answer: Result<&'static str, TestError>,
    ) -> Result<Lookup, TestError> {
        s.layer
            .get_or_fetch(
                "products:real:x:k",
                &adaptive_policy(),
                ReadMode::Normal,
                fetch(&s.calls, Duration::ZERO, answer),
            )
            .await
    }

    #[tokio::test(start_paused = true)]
    async fn adaptive_ttls_are_learned_within_bounds_and_reported_to_callers() {
        let (s, learner) = adaptive_setup(0.001);
        let bounds = adaptive_policy().adaptive.unwrap();
        let mut ttls = Vec::new();
        for _ in 0..6 {
            let miss = adaptive_load(&s, Ok("same")).await.unwrap();
            assert_eq!(miss.status, CacheStatus::Miss);
            settle().await;
            assert!(miss.ttl_remaining >= bounds.min && miss.ttl_remaining <= bounds.max);
            // The stored entry carries the learned TTL: a hit just before it ends, none after.
            s.clock
                .advance(miss.ttl_remaining - Duration::from_millis(1));
            assert_eq!(
                adaptive_load(&s, Ok("same")).await.unwrap().status,
                CacheStatus::Hit
            );
            // That hit, late in the entry's life, may refresh it ahead of expiry.
            settle().await;
            // Well past the revalidate window, so the next lookup is a plain miss, and an
            // hour of exposure without a change.
            s.clock.advance(Duration::from_secs(3600));
            ttls.push(miss.ttl_remaining);
        }
        assert!(ttls.windows(2).all(|w| w[1] >= w[0]), "{ttls:?}");
        assert!(
            ttls[5] > ttls[0],
            "never seen changing: the TTL grows {ttls:?}"
        );
        let stats = learner.stats();
        // Every fetch but the first is compared with the one before it.
        assert_eq!(stats.observations, 5 + stats.refresh_ahead, "{stats:?}");
        assert_eq!(stats.changes_observed, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_hot_entry_is_refreshed_ahead_of_expiry_and_stays_a_hit() {
        let (s, learner) = adaptive_setup(1.0);
        let first = adaptive_load(&s, Ok("v1")).await.unwrap();
        settle().await;
        let life = first.ttl_remaining;
        // Requests every second: hot. Early in the life, hits only.
        for _ in 0..10 {
            s.clock.advance(Duration::from_secs(1));
            assert_eq!(
                adaptive_load(&s, Ok("v2")).await.unwrap().status,
                CacheStatus::Hit
            );
        }
        settle().await;
        assert_eq!(s.calls.load(Ordering::SeqCst), 1);
        // In the last tenth of its life: still a hit, and one refresh ahead of expiry.
        s.clock
            .set(START + duration_ms(life) - duration_ms(life / 20));
        let near = adaptive_load(&s, Ok("v2")).await.unwrap();
        assert_eq!(
            (near.status, near.value),
            (CacheStatus::Hit, Bytes::from_static(b"v1"))
        );
        settle().await;
        assert_eq!(s.calls.load(Ordering::SeqCst), 2);
        assert_eq!(learner.stats().refresh_ahead, 1);
        // Past the old expiry the refreshed entry is a hit: no miss, no stale answer.
        s.clock.advance(life / 10);
        let after = adaptive_load(&s, Ok("v3")).await.unwrap();
        assert_eq!(
            (after.status, after.value),
            (CacheStatus::Hit, Bytes::from_static(b"v2"))
        );
        assert_eq!(learner.stats().changes_observed, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn refresh_ahead_waits_for_its_budget() {
        let (s, learner) = adaptive_setup(1.0 / 3600.0);
        // The budget's one turn of the hour is spent on a first hot key.
        assert!(learner.take_budget());
        let first = adaptive_load(&s, Ok("v1")).await.unwrap();
        settle().await;
        for _ in 0..10 {
            s.clock.advance(Duration::from_secs(1));
            adaptive_load(&s, Ok("v2")).await.unwrap();
        }
        s.clock.set(START + duration_ms(first.ttl_remaining) - 1000);
        assert_eq!(
            adaptive_load(&s, Ok("v2")).await.unwrap().status,
            CacheStatus::Hit
        );
        settle().await;
        assert_eq!(
            s.calls.load(Ordering::SeqCst),
            1,
            "no refresh without a turn"
        );
        assert_eq!(learner.stats().refresh_ahead_denied, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn stale_if_error_still_serves_in_adaptive_mode() {
        let (s, _) = adaptive_setup(0.001);
        let first = adaptive_load(&s, Ok("v1")).await.unwrap();
        settle().await;
        // Past the TTL and the revalidate window, inside stale-if-error.
        s.clock
            .advance(first.ttl_remaining + Duration::from_secs(200));
        let served = adaptive_load(&s, Err(TestError::Timeout)).await.unwrap();
        assert_eq!(
            (served.status, served.value),
            (CacheStatus::Stale, Bytes::from_static(b"v1"))
        );
    }

    #[test]
    fn a_learned_entry_revalidates_for_its_share_of_its_own_ttl() {
        let fixed = CachePolicy::with_ttl(Duration::from_secs(3600));
        let learned = CachePolicy {
            adaptive: Some(crate::TtlBounds::new(
                Duration::from_secs(60),
                Duration::from_secs(86_400),
            )),
            ..fixed
        };
        let short = fixed.entry(Bytes::from_static(b"x"), 0);
        let short = Entry {
            fresh_until_ms: 60_000,
            ..short
        };
        // A tenth of 60 s, not of the kind's hour; the static policy keeps its window.
        assert_eq!(learned.revalidate_window(&short), Duration::from_secs(6));
        assert_eq!(fixed.revalidate_window(&short), Duration::from_secs(360));
        // A day-long learned TTL never gets more than the kind's window.
        let long = Entry {
            fresh_until_ms: 86_400_000,
            ..short
        };
        assert_eq!(learned.revalidate_window(&long), Duration::from_secs(360));
    }

    #[test]
    fn default_windows_follow_the_ttl() {
        let p = CachePolicy::with_ttl(Duration::from_secs(3600));
        assert_eq!(p.stale_while_revalidate, Duration::from_secs(360));
        assert_eq!(p.stale_if_error, Duration::from_secs(86_400));
        let e = p.entry(Bytes::from_static(b"x"), 1_000);
        assert_eq!(
            (e.stored_at_ms, e.fresh_until_ms, e.stale_until_ms),
            (1_000, 3_601_000, 3_601_000 + 86_400_000)
        );
    }
}
