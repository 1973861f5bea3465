//! Protection for the app key's quota: the outbound limiter ([`OutboundLimiter`]) that spaces
//! every HTTP attempt evenly, and a circuit breaker that stops calling a failing upstream,
//! probes it once before trusting it again, and honours the platform's flow-control bans. Also
//! the upstream's counters.
//!
//! [`GuardedApi`] wraps the real client (mock mode needs none of this). It sits above the
//! client's own retries, so one guarded call is one logical call, whatever the client retried;
//! the client asks the guard's limiter (its [`Pacer`]) before each attempt, so retries spend
//! the same budget as first attempts.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use alistach_domain::{
    AffiliateApi, AffiliateLink, ApiMode, Category, DetailsQuery, LinkSource, LinkType, Pacer,
    Product, ProductPage, Promotion, PromotionQuery, SearchQuery, SimilarQuery, UpstreamError,
};
use async_trait::async_trait;
use tokio::time::Instant;

use crate::pacing::OutboundLimiter;
use alistach_domain::{Histogram, HistogramSnapshot};

/// How hard the guard protects the upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuardConfig {
    /// Most HTTP attempts per second to the upstream across the process, retries included
    /// (`ALIEXPRESS_MAX_QPS`); at least 1.
    pub max_qps: u32,
    /// Longest an attempt may wait for its turn (or a call for a short ban to end), within the
    /// call's deadline, before failing fast.
    pub max_wait: Duration,
    /// Consecutive transient failures (timeout, unavailable, malformed) that open the circuit.
    pub failure_threshold: u32,
    /// How long the circuit stays open before one probe call may test the upstream.
    pub open_for: Duration,
}

impl Default for GuardConfig {
    fn default() -> Self {
        GuardConfig {
            max_qps: 5,
            max_wait: Duration::from_secs(2),
            failure_threshold: 5,
            open_for: Duration::from_secs(15),
        }
    }
}

/// The circuit breaker's state, as status and metrics report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CircuitState {
    /// Calls go through.
    Closed,
    /// Calls fail fast: after repeated failures, or during a platform ban.
    Open,
    /// The cool-down is over: the next call probes the upstream, the others fail fast.
    HalfOpen,
}

impl CircuitState {
    /// `closed`, `open` or `half_open`.
    pub const fn as_str(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::Open => "open",
            CircuitState::HalfOpen => "half_open",
        }
    }

    /// Every state, in label order.
    pub const ALL: [CircuitState; 3] = [
        CircuitState::Closed,
        CircuitState::Open,
        CircuitState::HalfOpen,
    ];
}

/// The catalog methods, as metric labels.
pub const UPSTREAM_METHODS: [&str; METHOD_COUNT] = [
    "search_products",
    "hot_products",
    "product_details",
    "categories",
    "generate_links",
    "similar_products",
    "promotions",
    "promotion_products",
];

const METHOD_COUNT: usize = 8;

/// Every outcome of a guarded call, as metric labels: an answer (`ok`, `empty`), an
/// [`UpstreamError::kind`], or a call the guard refused (`short_circuited` by the circuit or a
/// ban, `local_quota` by the limiter).
pub const UPSTREAM_OUTCOMES: [&str; 12] = [
    "ok",
    "empty",
    "bad_credentials",
    "signature_rejected",
    "permission_denied",
    "rate_limited",
    "invalid_request",
    "timeout",
    "unavailable",
    "malformed_response",
    "short_circuited",
    "local_quota",
];

const OK: usize = 0;
const EMPTY: usize = 1;
const UNAVAILABLE: usize = 8;
const SHORT_CIRCUITED: usize = 10;
const LOCAL_QUOTA: usize = 11;

#[derive(Clone, Copy)]
enum Method {
    Search = 0,
    Hot = 1,
    Details = 2,
    Categories = 3,
    Links = 4,
    Similar = 5,
    Promotions = 6,
    PromotionProducts = 7,
}

/// One method's counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MethodStats {
    /// The method label (one of [`UPSTREAM_METHODS`]).
    pub method: &'static str,
    /// Count per outcome label, in [`UPSTREAM_OUTCOMES`] order.
    pub outcomes: Vec<(&'static str, u64)>,
    /// Latency of the calls that reached the upstream.
    pub latency: HistogramSnapshot,
}

impl MethodStats {
    fn count(&self, label: &str) -> u64 {
        self.outcomes
            .iter()
            .find(|(l, _)| *l == label)
            .map_or(0, |(_, n)| *n)
    }

    /// Calls that reached the upstream (answered or failed).
    pub fn calls(&self) -> u64 {
        self.outcomes
            .iter()
            .filter(|(l, _)| *l != "short_circuited" && *l != "local_quota")
            .map(|(_, n)| n)
            .sum()
    }

    /// Calls that reached the upstream and failed, whatever the cause.
    pub fn failures(&self) -> u64 {
        self.calls() - self.count("ok") - self.count("empty")
    }

    /// Calls refused by the circuit (or a ban) without reaching the upstream.
    pub fn short_circuited(&self) -> u64 {
        self.count("short_circuited")
    }

    /// Calls refused by the outbound limiter.
    pub fn local_quota(&self) -> u64 {
        self.count("local_quota")
    }
}

/// The guard's counters and state, for status and metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuardStats {
    /// The circuit now.
    pub circuit: CircuitState,
    /// Times the circuit opened (failures, failed probes and platform bans).
    pub opens: u64,
    /// Transient failures in a row so far.
    pub consecutive_failures: u32,
    /// Time left of a platform ban, when one is in force.
    pub ban_remaining: Option<Duration>,
    /// The configured limits.
    pub config: GuardConfig,
    /// Per method, in [`UPSTREAM_METHODS`] order.
    pub methods: Vec<MethodStats>,
}

impl GuardStats {
    /// Calls that reached the upstream.
    pub fn calls(&self) -> u64 {
        self.methods.iter().map(MethodStats::calls).sum()
    }
    /// Calls that reached the upstream and failed.
    pub fn failures(&self) -> u64 {
        self.methods.iter().map(MethodStats::failures).sum()
    }
    /// Calls refused by the circuit or a ban.
    pub fn short_circuited(&self) -> u64 {
        self.methods.iter().map(MethodStats::short_circuited).sum()
    }
    /// Calls refused by the outbound limiter.
    pub fn local_quota(&self) -> u64 {
        self.methods.iter().map(MethodStats::local_quota).sum()
    }
}

enum Circuit {
    Closed,
    Open { until: Instant },
    HalfOpen { probing: bool },
}

struct Ban {
    until: Instant,
    code: String,
}

struct Shared {
    circuit: Circuit,
    failures: u32,
    ban: Option<Ban>,
}

impl Shared {
    /// Moves an open circuit whose cool-down is over to half-open, and forgets ended bans.
    fn refresh(&mut self, now: Instant) {
        if let Circuit::Open { until } = self.circuit
            && now >= until
        {
            self.circuit = Circuit::HalfOpen { probing: false };
        }
        if self.ban.as_ref().is_some_and(|b| now >= b.until) {
            self.ban = None;
        }
    }
}

/// Why the guard refused a call.
enum Refusal {
    Open { retry_in: Duration, failures: u32 },
    Probing,
    Banned { remaining: Duration, code: String },
}

/// An [`AffiliateApi`] that limits, and stops calling, the one it wraps.
pub struct GuardedApi {
    inner: Arc<dyn AffiliateApi>,
    core: Arc<GuardCore>,
}

/// What guards spending one app's quota share: the limiter, the circuit and the counters
/// (several [`GuardedApi`]s over one app, tenants' clients with their own tracking ids, share
/// one, see [`GuardedApi::sharing`]).
pub struct GuardCore {
    config: GuardConfig,
    limiter: Arc<OutboundLimiter>,
    state: Mutex<Shared>,
    opens: AtomicU64,
    counters: [[AtomicU64; 12]; METHOD_COUNT],
    latency: [Histogram; METHOD_COUNT],
}

impl std::ops::Deref for GuardedApi {
    type Target = GuardCore;
    fn deref(&self) -> &GuardCore {
        &self.core
    }
}

impl std::fmt::Debug for GuardedApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardedApi")
            .field("config", &self.config)
            .field("circuit", &self.circuit_state())
            .finish_non_exhaustive()
    }
}

impl GuardedApi {
    /// Guards an `inner` that makes its HTTP attempts through the [`Pacer`] it is given (the
    /// guard's limiter), as `AliExpressClient::with_pacer` does. A `max_qps` or
    /// `failure_threshold` of 0 counts as 1. Time is tokio's, so tests can pause it.
    pub fn paced(
        config: GuardConfig,
        inner: impl FnOnce(Arc<dyn Pacer>) -> Arc<dyn AffiliateApi>,
    ) -> Self {
        let config = GuardConfig {
            max_qps: config.max_qps.max(1),
            failure_threshold: config.failure_threshold.max(1),
            ..config
        };
        let limiter = Arc::new(OutboundLimiter::new(config.max_qps, config.max_wait));
        GuardedApi {
            inner: inner(limiter.clone()),
            core: Arc::new(GuardCore {
                limiter,
                config,
                state: Mutex::new(Shared {
                    circuit: Circuit::Closed,
                    failures: 0,
                    ban: None,
                }),
                opens: AtomicU64::new(0),
                counters: Default::default(),
                latency: Default::default(),
            }),
        }
    }

    /// A guard over another client of the same app (a tenant's, with its own tracking id),
    /// made by `inner` from this guard's pacer: it shares this guard's limiter, circuit and
    /// counters, so the app's quota is spent once.
    pub fn sharing(
        &self,
        inner: impl FnOnce(Arc<dyn Pacer>) -> Arc<dyn AffiliateApi>,
    ) -> GuardedApi {
        GuardedApi {
            inner: inner(self.core.limiter.clone()),
            core: self.core.clone(),
        }
    }

    /// True when the outbound limiter would let a call leave now without delaying anyone: the
    /// gate refresh-ahead takes before spending its share of `ALIEXPRESS_MAX_QPS`.
    pub fn has_spare_turn(&self) -> bool {
        self.limiter.has_turn_now()
    }

    /// Guards an `inner` that makes no paced attempts of its own (a fake): the circuit, bans
    /// and counters apply; the limiter paces nothing.
    pub fn new(inner: Arc<dyn AffiliateApi>, config: GuardConfig) -> Self {
        Self::paced(config, |_| inner)
    }

    /// The limiter every attempt of the inner client waits for.
    pub fn limiter(&self) -> &Arc<OutboundLimiter> {
        &self.limiter
    }

    /// The configuration in force.
    pub fn config(&self) -> &GuardConfig {
        &self.config
    }

    /// The circuit now (open during a platform ban).
    pub fn circuit_state(&self) -> CircuitState {
        let mut s = self.lock();
        s.refresh(Instant::now());
        match (&s.ban, &s.circuit) {
            (Some(_), _) | (None, Circuit::Open { .. }) => CircuitState::Open,
            (None, Circuit::HalfOpen { .. }) => CircuitState::HalfOpen,
            (None, Circuit::Closed) => CircuitState::Closed,
        }
    }

    /// Counters and state.
    pub fn stats(&self) -> GuardStats {
        let circuit = self.circuit_state();
        let (consecutive_failures, ban_remaining) = {
            let s = self.lock();
            let now = Instant::now();
            (
                s.failures,
                s.ban
                    .as_ref()
                    .map(|b| b.until.saturating_duration_since(now)),
            )
        };
        GuardStats {
            circuit,
            opens: self.opens.load(Ordering::Relaxed),
            consecutive_failures,
            ban_remaining,
            config: self.config,
            methods: UPSTREAM_METHODS
                .iter()
                .zip(self.counters.iter().zip(&self.latency))
                .map(|(method, (counts, latency))| MethodStats {
                    method,
                    outcomes: UPSTREAM_OUTCOMES
                        .iter()
                        .zip(counts)
                        .map(|(label, n)| (*label, n.load(Ordering::Relaxed)))
                        .collect(),
                    latency: latency.snapshot(),
                })
                .collect(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        // The state stays consistent between statements, so a panic elsewhere cannot poison it
        // into something unusable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn count(&self, method: Method, outcome: usize) {
        self.counters[method as usize][outcome].fetch_add(1, Ordering::Relaxed);
    }

    /// Runs `call` when the circuit and the limiter allow, and learns from its result.
    async fn guarded<T, F>(
        &self,
        method: Method,
        call: F,
        is_empty: impl Fn(&T) -> bool,
    ) -> Result<T, UpstreamError>
    where
        F: Future<Output = Result<T, UpstreamError>>,
    {
        let mut probe = ProbeGuard {
            api: self,
            held: false,
        };
        if let Err(refusal) = self.admit(&mut probe).await {
            let (outcome, error) = self.refusal_error(refusal);
            self.count(method, outcome);
            return Err(error);
        }
        let started = Instant::now();
        let result = call.await;
        if let Err(e) = &result
            && e.is_local_quota()
        {
            // Our own limiter refused the first attempt: nothing reached the upstream, so the
            // circuit learns nothing, and a held probe goes back (ProbeGuard's drop).
            self.count(method, LOCAL_QUOTA);
            return result;
        }
        self.latency[method as usize].observe(started.elapsed());
        let outcome = match &result {
            Ok(v) if is_empty(v) => EMPTY,
            Ok(_) => OK,
            Err(e) => UPSTREAM_OUTCOMES
                .iter()
                .position(|l| *l == e.kind())
                .unwrap_or(UNAVAILABLE),
        };
        self.count(method, outcome);
        self.settle(result.as_ref().err(), probe.held);
        probe.held = false;
        result
    }

    /// Waits for the call's turn: the circuit must let it through, and a platform ban must end
    /// within `max_wait`. Each HTTP attempt then waits for its own turn with the limiter.
    async fn admit(&self, probe: &mut ProbeGuard<'_>) -> Result<(), Refusal> {
        let deadline = Instant::now() + self.config.max_wait;
        loop {
            let now = Instant::now();
            let banned_until = {
                let mut s = self.lock();
                s.refresh(now);
                if !probe.held {
                    match s.circuit {
                        Circuit::Closed => {}
                        Circuit::Open { until } => {
                            return Err(Refusal::Open {
                                retry_in: until - now,
                                failures: s.failures,
                            });
                        }
                        Circuit::HalfOpen { probing: true } => return Err(Refusal::Probing),
                        Circuit::HalfOpen { probing: false } => {
                            s.circuit = Circuit::HalfOpen { probing: true };
                            probe.held = true;
                        }
                    }
                }
                let Some((until, code)) = s.ban.as_ref().map(|b| (b.until, b.code.clone())) else {
                    return Ok(());
                };
                if until > deadline {
                    if probe.held {
                        // Give the probe to a later call that can actually make it.
                        s.circuit = Circuit::HalfOpen { probing: false };
                        probe.held = false;
                    }
                    return Err(Refusal::Banned {
                        remaining: until - now,
                        code,
                    });
                }
                until
            };
            // After the wait the loop looks again: the circuit may have opened, or a ban grown.
            tokio::time::sleep_until(banned_until).await;
        }
    }

    fn refusal_error(&self, refusal: Refusal) -> (usize, UpstreamError) {
        let secs = |d: Duration| d.as_millis().div_ceil(1000).max(1);
        match refusal {
            Refusal::Open { retry_in, failures } => (
                SHORT_CIRCUITED,
                UpstreamError::Unavailable {
                    reason: format!(
                        "circuit open: {failures} upstream failures in a row; next probe in {}s",
                        secs(retry_in)
                    ),
                },
            ),
            Refusal::Probing => (
                SHORT_CIRCUITED,
                UpstreamError::Unavailable {
                    reason: "circuit open: a probe call is testing the upstream".into(),
                },
            ),
            Refusal::Banned { remaining, code } => (
                SHORT_CIRCUITED,
                UpstreamError::RateLimited {
                    retry_after: Some(remaining),
                    code,
                    message: format!(
                        "circuit open: the platform's flow-control ban lasts {}s more",
                        secs(remaining)
                    ),
                },
            ),
        }
    }

    /// Updates the circuit from one call's result.
    fn settle(&self, error: Option<&UpstreamError>, was_probe: bool) {
        let now = Instant::now();
        let mut s = self.lock();
        match error {
            Some(
                limited @ UpstreamError::RateLimited {
                    retry_after: Some(_),
                    code,
                    ..
                },
            ) => {
                // The platform named the ban: nothing reaches it until the ban ends, and then
                // calls resume without a probe, since the platform said when. The length is
                // capped (MAX_RETRY_AFTER), so a wild hint neither stops calls for good nor
                // overflows the clock.
                let ban = limited.retry_after().unwrap_or_default();
                let until = now + ban;
                if s.ban.as_ref().is_none_or(|b| b.until < until) {
                    if s.ban.is_none() {
                        self.opens.fetch_add(1, Ordering::Relaxed);
                    }
                    tracing::warn!(
                        ban_ms = ban.as_millis() as u64,
                        code = %code,
                        "upstream flow-control ban: circuit open until it ends"
                    );
                    s.ban = Some(Ban {
                        until,
                        code: code.clone(),
                    });
                }
                if was_probe {
                    s.circuit = Circuit::HalfOpen { probing: false };
                }
            }
            Some(e) if e.is_transient() => {
                s.failures = s.failures.saturating_add(1);
                let trip = if was_probe {
                    true
                } else {
                    matches!(s.circuit, Circuit::Closed)
                        && s.failures >= self.config.failure_threshold
                };
                if trip {
                    s.circuit = Circuit::Open {
                        until: now + self.config.open_for,
                    };
                    self.opens.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        failures = s.failures,
                        open_for_s = self.config.open_for.as_secs(),
                        error = %e,
                        "upstream circuit opened: calls fail fast until a probe succeeds"
                    );
                }
            }
            // An answer, even a refusal of our request, shows the upstream is healthy.
            _ => {
                s.failures = 0;
                if was_probe {
                    s.circuit = Circuit::Closed;
                    tracing::info!("upstream circuit closed: the probe call succeeded");
                }
            }
        }
    }
}

/// Hands the half-open probe back when a probing call is dropped before it finished, so the
/// circuit cannot stay half-open with nobody probing.
struct ProbeGuard<'a> {
    api: &'a GuardedApi,
    held: bool,
}

impl Drop for ProbeGuard<'_> {
    fn drop(&mut self) {
        if self.held {
            let mut s = self.api.lock();
            if let Circuit::HalfOpen { probing: true } = s.circuit {
                s.circuit = Circuit::HalfOpen { probing: false };
            }
        }
    }
}

#[async_trait]
impl AffiliateApi for GuardedApi {
    fn mode(&self) -> ApiMode {
        self.inner.mode()
    }

    fn answer_scope(&self) -> Vec<(&'static str, String)> {
        self.inner.answer_scope()
    }

    async fn search_products(&self, query: &SearchQuery) -> Result<ProductPage, UpstreamError> {
        let call = self.inner.search_products(query);
        self.guarded(Method::Search, call, |p: &ProductPage| {
            p.products.is_empty()
        })
        .await
    }

    async fn hot_products(&self, query: &SearchQuery) -> Result<ProductPage, UpstreamError> {
        let call = self.inner.hot_products(query);
        self.guarded(Method::Hot, call, |p: &ProductPage| p.products.is_empty())
            .await
    }

    async fn product_details(&self, query: &DetailsQuery) -> Result<Vec<Product>, UpstreamError> {
        let call = self.inner.product_details(query);
        self.guarded(Method::Details, call, Vec::is_empty).await
    }

    async fn categories(&self) -> Result<Vec<Category>, UpstreamError> {
        let call = self.inner.categories();
        self.guarded(Method::Categories, call, Vec::is_empty).await
    }

    async fn generate_links(
        &self,
        sources: &[LinkSource],
        link_type: LinkType,
        tracking_id: Option<&str>,
    ) -> Result<Vec<AffiliateLink>, UpstreamError> {
        let call = self.inner.generate_links(sources, link_type, tracking_id);
        self.guarded(Method::Links, call, Vec::is_empty).await
    }

    async fn similar_products(&self, query: &SimilarQuery) -> Result<Vec<Product>, UpstreamError> {
        let call = self.inner.similar_products(query);
        self.guarded(Method::Similar, call, Vec::is_empty).await
    }

    async fn promotions(&self) -> Result<Vec<Promotion>, UpstreamError> {
        let call = self.inner.promotions();
        self.guarded(Method::Promotions, call, Vec::is_empty).await
    }

    async fn promotion_products(
        &self,
        query: &PromotionQuery,
    ) -> Result<ProductPage, UpstreamError> {
        let call = self.inner.promotion_products(query);
        self.guarded(Method::PromotionProducts, call, |p: &ProductPage| {
            p.products.is_empty()
        })
        .await
    }
}
