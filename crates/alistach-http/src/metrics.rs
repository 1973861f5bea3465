//! Per-route request counters and latency histograms kept in atomics, and the Prometheus text
//! exposition of everything the gateway counts (requests, connections, cache, upstream, rate
//! limits, Redis), encoded by the `prometheus-client` crate.
//!
//! Why collectors and not `prometheus-client`'s own `Family` metrics: a `Family` finds a label
//! set's counter in a hash map behind a `RwLock`, and the status label is open-ended (any code),
//! so pre-registered handles would not cover it. The hot path therefore stays a few relaxed
//! atomic increments in `RouteCounters`, and the other counters stay where they are kept (cache
//! tiers, the upstream guard, the rate limiter), free of any exposition concern. At scrape time
//! each source is read once into a snapshot, and one `Collector` per concern encodes it through
//! the crate's text encoder, which owns the format: names, `_total` suffixes, label escaping,
//! cumulative buckets. Every name gets the `alistach_` prefix from the registry.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use alistach_api::{ROUTES, RouteId};
use alistach_domain::ApiMode;
use alistach_policy::LimiterStats;
use alistach_service::TTL_BUCKETS_S;
use alistach_service::{
    CacheReport, CircuitState, ClickStats, GuardStats, Histogram, HistogramSnapshot,
    LATENCY_BUCKETS, LearnerStats, SyncStats, WebhookStats,
};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeGaugeValue, EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet,
    prometheus_text,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit};

/// Status codes are counted exactly, one slot per code in 100..=599.
const STATUS_SLOTS: usize = 500;

/// The prefix of every metric name.
const PREFIX: &str = "alistach";

struct RouteCounters {
    by_status: Box<[AtomicU64]>,
    latency: Histogram,
}

impl Default for RouteCounters {
    fn default() -> Self {
        RouteCounters {
            by_status: (0..STATUS_SLOTS).map(|_| AtomicU64::new(0)).collect(),
            latency: Histogram::default(),
        }
    }
}

impl RouteCounters {
    fn count_where(&self, pick: impl Fn(u16) -> bool) -> u64 {
        self.statuses()
            .filter(|(s, _)| pick(*s))
            .map(|(_, n)| n)
            .sum()
    }

    /// `(status, count)` for every status seen at least once.
    fn statuses(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        self.by_status.iter().enumerate().filter_map(|(i, n)| {
            let n = n.load(Ordering::Relaxed);
            (n > 0).then_some((i as u16 + 100, n))
        })
    }

    fn snapshot(&self) -> RouteSnapshot {
        RouteSnapshot {
            requests: self.count_where(|_| true),
            client_errors: self.count_where(|s| (400..500).contains(&s)),
            server_errors: self.count_where(|s| s >= 500),
        }
    }
}

/// Connection-level counters: what the accept loop and the timeouts did.
#[derive(Debug, Default)]
pub struct ConnectionStats {
    open: AtomicU64,
    accepted: AtomicU64,
    /// Connections refused because their address was at `MAX_CONNECTIONS_PER_IP`.
    pub(crate) refused_per_ip: AtomicU64,
    /// Connections closed because the client stopped reading its answer.
    pub(crate) write_timeouts: AtomicU64,
    /// Connections closed because no request head came within `HEADER_READ_TIMEOUT` (idle
    /// keep-alive connections included).
    pub(crate) header_timeouts: AtomicU64,
    /// Requests answered 408 because the body stopped arriving.
    pub(crate) body_timeouts: AtomicU64,
    /// Requests answered 504 at `REQUEST_TIMEOUT`.
    pub(crate) request_timeouts: AtomicU64,
    /// Key attempts refused because the address failed too often.
    pub(crate) auth_throttled: AtomicU64,
}

impl ConnectionStats {
    pub(crate) fn opened(&self) {
        self.open.fetch_add(1, Ordering::Relaxed);
        self.accepted.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn closed(&self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }

    /// Connections open now.
    pub fn open(&self) -> u64 {
        self.open.load(Ordering::Relaxed)
    }

    fn snapshot(&self) -> ConnectionCounts {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ConnectionCounts {
            open: self.open(),
            accepted: load(&self.accepted),
            refused_per_ip: load(&self.refused_per_ip),
            write_timeouts: load(&self.write_timeouts),
            header_timeouts: load(&self.header_timeouts),
            body_timeouts: load(&self.body_timeouts),
            request_timeouts: load(&self.request_timeouts),
            auth_throttled: load(&self.auth_throttled),
        }
    }
}

/// Counters for every route, plus requests that matched none.
pub struct Metrics {
    routes: HashMap<RouteId, RouteCounters>,
    unmatched: RouteCounters,
    /// Connection-level counters.
    pub connections: ConnectionStats,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            routes: ROUTES
                .iter()
                .map(|r| (r.id, RouteCounters::default()))
                .collect(),
            unmatched: Default::default(),
            connections: ConnectionStats::default(),
        }
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("requests", &self.total_requests())
            .finish_non_exhaustive()
    }
}

/// A snapshot of one route's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RouteSnapshot {
    /// Requests answered.
    pub requests: u64,
    /// 4xx answers.
    pub client_errors: u64,
    /// 5xx answers.
    pub server_errors: u64,
}

/// One route's counters with its latency, for the status document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteReport {
    /// The route template, or `unmatched`.
    pub route: &'static str,
    /// The route's method (`*` for unmatched requests).
    pub method: &'static str,
    /// The counters.
    pub counts: RouteSnapshot,
    /// Answer latency.
    pub latency: HistogramSnapshot,
}

impl Metrics {
    /// Counts one answered request: a few relaxed atomic increments, no lock, no allocation.
    pub fn record(&self, route: Option<RouteId>, status: u16, latency: Duration) {
        let c = route
            .and_then(|id| self.routes.get(&id))
            .unwrap_or(&self.unmatched);
        // Codes outside 100..=599 cannot be sent by hyper; should one appear it counts as 599.
        let slot = usize::from(status.clamp(100, 599) - 100);
        c.by_status[slot].fetch_add(1, Ordering::Relaxed);
        c.latency.observe(latency);
    }

    /// One route's counters.
    pub fn route(&self, id: RouteId) -> RouteSnapshot {
        self.routes
            .get(&id)
            .map(RouteCounters::snapshot)
            .unwrap_or_default()
    }

    /// Requests over all routes.
    pub fn total_requests(&self) -> u64 {
        self.rows().map(|(_, _, c)| c.count_where(|_| true)).sum()
    }

    /// Every route (route-table order, then `unmatched`) with its counters and latency.
    pub fn report(&self) -> Vec<RouteReport> {
        self.rows()
            .map(|(method, route, c)| RouteReport {
                route,
                method,
                counts: c.snapshot(),
                latency: c.latency.snapshot(),
            })
            .collect()
    }

    fn rows(&self) -> impl Iterator<Item = (&'static str, &'static str, &RouteCounters)> {
        ROUTES
            .iter()
            .filter_map(|r| self.routes.get(&r.id).map(|c| (r.method, r.path, c)))
            .chain(std::iter::once(("*", "unmatched", &self.unmatched)))
    }

    /// The counters as they are now, for one scrape.
    fn snapshot(&self) -> HttpFamilies {
        HttpFamilies {
            routes: self
                .rows()
                .map(|(method, route, c)| RouteRow {
                    method,
                    route,
                    statuses: c.statuses().collect(),
                    latency: c.latency.snapshot(),
                })
                .collect(),
            connections: self.connections.snapshot(),
        }
    }
}

/// Everything besides the HTTP counters that the exposition reports.
pub(crate) struct Exposition<'a> {
    pub metrics: &'a Metrics,
    pub cache: &'a CacheReport,
    pub upstream: Option<&'a GuardStats>,
    pub limiter: Option<LimiterStats>,
    pub mode: ApiMode,
    pub version: &'a str,
    pub uptime: Duration,
    /// Click tracking's counters, when `LINK_TRACKING=redirect`.
    pub clicks: Option<ClickStats>,
    /// The order sync's counters, when the deployment keeps orders.
    pub orders: Option<SyncStats>,
    /// The webhook dispatcher's counters, when it runs.
    pub webhooks: Option<WebhookStats>,
}

impl Exposition<'_> {
    /// The `Content-Type` of what [`Exposition::render`] writes: the encoder's own.
    pub(crate) const CONTENT_TYPE: &'static str = prometheus_text::CONTENT_TYPE;

    /// The whole exposition in the Prometheus text format (version 0.0.4).
    ///
    /// The registry lives for one scrape: it holds this scrape's snapshots (a collector must own
    /// what it encodes, and the cache report is gathered asynchronously by the handler).
    pub(crate) fn render(&self) -> String {
        let mut registry = Registry::with_prefix(PREFIX);
        registry.register_collector(Box::new(self.metrics.snapshot()));
        registry.register_collector(Box::new(CacheFamilies(self.cache.clone())));
        registry.register_collector(Box::new(UpstreamFamilies(self.upstream.cloned())));
        registry.register_collector(Box::new(LimiterFamilies(self.limiter)));
        registry.register_collector(Box::new(ClickFamilies(self.clicks)));
        registry.register_collector(Box::new(OrderSyncFamilies(self.orders)));
        registry.register_collector(Box::new(WebhookFamilies(self.webhooks)));
        registry.register_collector(Box::new(ProcessFamilies {
            mode: self.mode,
            version: self.version.to_owned(),
            uptime: self.uptime,
        }));
        let mut out = String::with_capacity(32 * 1024);
        // Writing to a String cannot fail, and the collectors only pass the encoder's result on.
        prometheus_text::encode(&mut out, &registry)
            .expect("encoding metrics into a String cannot fail");
        out
    }
}

/// One route's counters at scrape time.
#[derive(Debug)]
struct RouteRow {
    method: &'static str,
    route: &'static str,
    statuses: Vec<(u16, u64)>,
    latency: HistogramSnapshot,
}

/// [`ConnectionStats`] at scrape time.
#[derive(Clone, Copy, Debug)]
struct ConnectionCounts {
    open: u64,
    accepted: u64,
    refused_per_ip: u64,
    write_timeouts: u64,
    header_timeouts: u64,
    body_timeouts: u64,
    request_timeouts: u64,
    auth_throttled: u64,
}

/// Requests by route and status, answer latency, connections and timeouts.
#[derive(Debug)]
struct HttpFamilies {
    routes: Vec<RouteRow>,
    connections: ConnectionCounts,
}

impl Collector for HttpFamilies {
    fn encode(&self, mut e: DescriptorEncoder<'_>) -> fmt::Result {
        let mut m = e.encode_descriptor(
            "http_requests",
            "Requests answered, by route template, method and status code.",
            None,
            MetricType::Counter,
        )?;
        for r in &self.routes {
            for &(status, n) in &r.statuses {
                let labels = (
                    [("route", r.route), ("method", r.method)],
                    [("status", status)],
                );
                counter(&mut m, &labels, n)?;
            }
        }
        let mut m = e.encode_descriptor(
            "http_request_duration",
            "Time to answer, by route template.",
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?;
        for r in &self.routes {
            let labels = [("route", r.route), ("method", r.method)];
            histogram(m.encode_family(&labels)?, &r.latency)?;
        }

        let c = self.connections;
        let m = e.encode_descriptor(
            "http_connections_open",
            "Client connections open now.",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(c.open).encode(m)?;
        let m = e.encode_descriptor(
            "http_connections",
            "Client connections accepted and served.",
            None,
            MetricType::Counter,
        )?;
        ConstCounter::new(c.accepted).encode(m)?;
        let mut m = e.encode_descriptor(
            "http_connections_refused",
            "Client connections refused at once, by reason.",
            None,
            MetricType::Counter,
        )?;
        counter(&mut m, &[("reason", "per_ip_cap")], c.refused_per_ip)?;
        let mut m = e.encode_descriptor(
            "http_timeouts",
            "Requests or connections cut off by a timeout, by kind.",
            None,
            MetricType::Counter,
        )?;
        for (kind, n) in [
            ("response_write", c.write_timeouts),
            ("header_read", c.header_timeouts),
            ("body_read", c.body_timeouts),
            ("request", c.request_timeouts),
        ] {
            counter(&mut m, &[("kind", kind)], n)?;
        }
        let m = e.encode_descriptor(
            "auth_throttled",
            "Key attempts refused with 429 because the address failed too many times.",
            None,
            MetricType::Counter,
        )?;
        ConstCounter::new(c.auth_throttled).encode(m)
    }
}

/// Cache results per tier, entries, bytes, errors, fetches, and whether Redis answers.
#[derive(Debug)]
struct CacheFamilies(CacheReport);

impl Collector for CacheFamilies {
    fn encode(&self, mut e: DescriptorEncoder<'_>) -> fmt::Result {
        let CacheFamilies(report) = self;
        let l = &report.layer;
        let mut m = e.encode_descriptor(
            "cache_results",
            "Cache lookups by result: tier=\"layer\" is what callers got (hit, miss, stale, coalesced, bypass); each storage tier reports its own hits and misses.",
            None,
            MetricType::Counter,
        )?;
        for (status, n) in [
            ("hit", l.hits),
            ("miss", l.misses),
            ("stale", l.stale_served),
            ("coalesced", l.coalesced_waits),
            ("bypass", l.bypasses),
        ] {
            counter(&mut m, &[("status", status), ("tier", "layer")], n)?;
        }
        for t in &report.tiers {
            for (status, n) in [("hit", t.hits), ("miss", t.misses)] {
                counter(&mut m, &[("status", status), ("tier", t.name)], n)?;
            }
        }
        let mut m = e.encode_descriptor(
            "cache_entries",
            "Entries held, by storage tier.",
            None,
            MetricType::Gauge,
        )?;
        for t in &report.tiers {
            gauge(&mut m, &[("tier", t.name)], t.entries)?;
        }
        let mut m = e.encode_descriptor(
            "cache",
            "Bytes held, by storage tier.",
            Some(&Unit::Bytes),
            MetricType::Gauge,
        )?;
        for t in &report.tiers {
            gauge(&mut m, &[("tier", t.name)], t.bytes)?;
        }
        let mut m = e.encode_descriptor(
            "cache_errors",
            "Storage errors, by tier.",
            None,
            MetricType::Counter,
        )?;
        for t in &report.tiers {
            counter(&mut m, &[("tier", t.name)], t.errors)?;
        }
        let m = e.encode_descriptor(
            "upstream_fetches",
            "Fetches the cache layer started (one per miss after coalescing), mock or real.",
            None,
            MetricType::Counter,
        )?;
        ConstCounter::new(l.upstream_fetches).encode(m)?;
        let m = e.encode_descriptor(
            "upstream_fetch_errors",
            "Fetches that failed.",
            None,
            MetricType::Counter,
        )?;
        ConstCounter::new(l.fetch_errors).encode(m)?;
        let m = e.encode_descriptor(
            "redis_up",
            "1 when the Redis cache tier answers, 0 when it does not; absent without Redis.",
            None,
            MetricType::Gauge,
        )?;
        if let Some(redis) = report.tiers.iter().find(|t| t.name == "redis") {
            ConstGauge::new(u64::from(redis.connected)).encode(m)?;
        }
        learner_families(&mut e, report.learner.as_ref())
    }
}

/// `CACHE_POLICY`, and with the adaptive policy what it learned: the TTLs it chose, its
/// refresh-ahead calls, its expected stale share against the target.
fn learner_families(e: &mut DescriptorEncoder<'_>, learner: Option<&LearnerStats>) -> fmt::Result {
    let mut m = e.encode_descriptor(
        "cache_policy",
        "1 for the cache policy in use (CACHE_POLICY: static or adaptive).",
        None,
        MetricType::Gauge,
    )?;
    let policy = if learner.is_some() {
        "adaptive"
    } else {
        "static"
    };
    gauge(&mut m, &[("policy", policy)], 1u64)?;
    let Some(l) = learner else {
        return Ok(());
    };
    let mut m = e.encode_descriptor(
        "cache_learned_ttl",
        "TTLs the adaptive policy gave entries when storing them.",
        Some(&Unit::Seconds),
        MetricType::Histogram,
    )?;
    let mut buckets = Vec::with_capacity(TTL_BUCKETS_S.len() + 1);
    #[allow(clippy::cast_precision_loss)]
    let bounds = TTL_BUCKETS_S
        .iter()
        .map(|s| *s as f64)
        .chain([f64::INFINITY]);
    for (le, n) in bounds.zip(l.ttl_histogram.iter().copied()) {
        buckets.push((le, n));
    }
    let stored: u64 = l.ttl_histogram.iter().sum();
    m.encode_histogram::<NoLabelSet>(l.ttl_sum_s, stored, &buckets, None)?;
    let mut m = e.encode_descriptor(
        "cache_refresh_ahead",
        "Refreshes of hot entries ahead of expiry: started, or denied by their budget (CACHE_REFRESH_QPS_SHARE, a free limiter turn).",
        None,
        MetricType::Counter,
    )?;
    counter(&mut m, &[("outcome", "started")], l.refresh_ahead)?;
    counter(&mut m, &[("outcome", "denied")], l.refresh_ahead_denied)?;
    let mut m = e.encode_descriptor(
        "cache_refetches",
        "Refetches compared with the answer stored before, by whether it had changed.",
        None,
        MetricType::Counter,
    )?;
    counter(&mut m, &[("changed", "true")], l.changes_observed)?;
    counter(
        &mut m,
        &[("changed", "false")],
        l.observations.saturating_sub(l.changes_observed),
    )?;
    let m = e.encode_descriptor(
        "cache_learned_keys",
        "Keys the adaptive policy remembers (at most CACHE_LEARN_MAX_KEYS).",
        None,
        MetricType::Gauge,
    )?;
    ConstGauge::new(l.keys).encode(m)?;
    let m = e.encode_descriptor(
        "cache_estimated_stale_share",
        "Expected share of answers served after their data changed, weighted by request rate.",
        None,
        MetricType::Gauge,
    )?;
    ConstGauge::new(l.estimated_stale).encode(m)?;
    let m = e.encode_descriptor(
        "cache_stale_target_share",
        "The target share of stale answers (CACHE_STALE_TARGET).",
        None,
        MetricType::Gauge,
    )?;
    ConstGauge::new(l.target_stale).encode(m)?;
    let m = e.encode_descriptor(
        "cache_call_share",
        "Upstream calls made lately as a share of what fixed TTLs would have made for the same requests.",
        None,
        MetricType::Gauge,
    )?;
    ConstGauge::new(l.call_share).encode(m)?;
    let m = e.encode_descriptor(
        "cache_call_budget_share",
        "The cap on that share (CACHE_CALL_BUDGET; 0 for none).",
        None,
        MetricType::Gauge,
    )?;
    ConstGauge::new(l.call_budget).encode(m)
}

/// The upstream guard: calls by outcome, latency, circuit state; real mode only.
#[derive(Debug)]
struct UpstreamFamilies(Option<GuardStats>);

impl Collector for UpstreamFamilies {
    fn encode(&self, mut e: DescriptorEncoder<'_>) -> fmt::Result {
        let methods = self.0.as_ref().map_or(&[][..], |g| &g.methods[..]);
        let mut m = e.encode_descriptor(
            "upstream_calls",
            "Guarded upstream calls by method and outcome (ok, empty, an error kind, short_circuited, local_quota); real mode only.",
            None,
            MetricType::Counter,
        )?;
        for s in methods {
            for &(outcome, n) in &s.outcomes {
                counter(&mut m, &[("method", s.method), ("outcome", outcome)], n)?;
            }
        }
        let mut m = e.encode_descriptor(
            "upstream_duration",
            "Latency of upstream calls (retries included), by method.",
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?;
        for s in methods {
            histogram(m.encode_family(&[("method", s.method)])?, &s.latency)?;
        }
        let mut m = e.encode_descriptor(
            "circuit_state",
            "1 for the upstream circuit breaker's current state (closed, open, half_open).",
            None,
            MetricType::Gauge,
        )?;
        if let Some(g) = &self.0 {
            for s in CircuitState::ALL {
                gauge(&mut m, &[("state", s.as_str())], u64::from(g.circuit == s))?;
            }
        }
        let m = e.encode_descriptor(
            "circuit_opens",
            "Times the upstream circuit opened (failures, failed probes, platform bans).",
            None,
            MetricType::Counter,
        )?;
        if let Some(g) = &self.0 {
            ConstCounter::new(g.opens).encode(m)?;
        }
        Ok(())
    }
}

/// Per-client rate-limit decisions, when a limiter is configured.
#[derive(Debug)]
struct LimiterFamilies(Option<LimiterStats>);

impl Collector for LimiterFamilies {
    fn encode(&self, mut e: DescriptorEncoder<'_>) -> fmt::Result {
        let mut m = e.encode_descriptor(
            "ratelimit_decisions",
            "Per-client rate-limit decisions (allowed, rejected, fallback = answered locally while the shared store failed).",
            None,
            MetricType::Counter,
        )?;
        if let Some(r) = self.0 {
            for (decision, n) in [
                ("allowed", r.allowed),
                ("rejected", r.rejected),
                ("fallback", r.fallbacks),
            ] {
                counter(&mut m, &[("decision", decision)], n)?;
            }
        }
        let m = e.encode_descriptor(
            "ratelimit_leased",
            "Requests admitted from a lease this instance took from the shared rate-limit store (no round trip).",
            None,
            MetricType::Counter,
        )?;
        if let Some(r) = self.0 {
            ConstCounter::new(r.leased).encode(m)?;
        }
        let m = e.encode_descriptor(
            "ratelimit_degraded",
            "1 while the shared rate-limit store fails and local limits apply.",
            None,
            MetricType::Gauge,
        )?;
        if let Some(r) = self.0 {
            ConstGauge::new(u64::from(r.degraded)).encode(m)?;
        }
        Ok(())
    }
}

/// The order sync: runs by outcome, orders fetched, status changes, the last success.
#[derive(Debug)]
struct OrderSyncFamilies(Option<SyncStats>);

impl Collector for OrderSyncFamilies {
    fn encode(&self, mut e: DescriptorEncoder<'_>) -> fmt::Result {
        let mut m = e.encode_descriptor(
            "order_sync_runs",
            "Order sync runs of this instance by outcome (ran, not_due = another instance ran within the interval, leased = another instance was syncing, failed).",
            None,
            MetricType::Counter,
        )?;
        if let Some(s) = self.0 {
            for (outcome, n) in [
                ("ran", s.runs),
                ("not_due", s.not_due),
                ("leased", s.leased),
                ("failed", s.failures),
            ] {
                counter(&mut m, &[("outcome", outcome)], n)?;
            }
        }
        let m = e.encode_descriptor(
            "order_sync_orders_fetched",
            "Orders the order sync of this instance listed from the platform.",
            None,
            MetricType::Counter,
        )?;
        if let Some(s) = self.0 {
            ConstCounter::new(s.fetched).encode(m)?;
        }
        let m = e.encode_descriptor(
            "order_sync_status_changes",
            "Order status changes the order sync of this instance recorded.",
            None,
            MetricType::Counter,
        )?;
        if let Some(s) = self.0 {
            ConstCounter::new(s.status_changes).encode(m)?;
        }
        let m = e.encode_descriptor(
            "order_sync_last_success_timestamp_seconds",
            "Unix time of this instance's last successful order sync (absent before the first).",
            None,
            MetricType::Gauge,
        )?;
        if let Some(s) = self.0.filter(|s| s.last_success_ms > 0) {
            ConstGauge::new(s.last_success_ms / 1000).encode(m)?;
        }
        Ok(())
    }
}

#[derive(Debug)]
struct WebhookFamilies(Option<WebhookStats>);

impl Collector for WebhookFamilies {
    fn encode(&self, mut e: DescriptorEncoder<'_>) -> fmt::Result {
        let mut m = e.encode_descriptor(
            "webhook_attempts",
            "Webhook delivery attempts of this instance by outcome: ok (a 2xx), failed (another status, a redirect, a timeout, a refused or failed connection).",
            None,
            MetricType::Counter,
        )?;
        if let Some(w) = self.0 {
            for (outcome, n) in [("ok", w.attempts_ok), ("failed", w.attempts_failed)] {
                counter(&mut m, &[("outcome", outcome)], n)?;
            }
        }
        let mut m = e.encode_descriptor(
            "webhook_deliveries",
            "Webhook deliveries this instance finished: delivered, or failed for good (retried for 3 days; retryable by hand).",
            None,
            MetricType::Counter,
        )?;
        if let Some(w) = self.0 {
            for (outcome, n) in [("delivered", w.delivered), ("failed", w.failed)] {
                counter(&mut m, &[("outcome", outcome)], n)?;
            }
        }
        let mut m = e.encode_descriptor(
            "webhook_passes",
            "Passes of the webhook dispatcher by outcome: ran, leased (another instance delivers), failed (the store failed).",
            None,
            MetricType::Counter,
        )?;
        if let Some(w) = self.0 {
            for (outcome, n) in [
                ("ran", w.passes),
                ("leased", w.leased),
                ("failed", w.store_failures),
            ] {
                counter(&mut m, &[("outcome", outcome)], n)?;
            }
        }
        let m = e.encode_descriptor(
            "webhook_endpoints_disabled",
            "Webhook endpoints this instance disabled because they kept failing for days.",
            None,
            MetricType::Counter,
        )?;
        if let Some(w) = self.0 {
            ConstCounter::new(w.endpoints_disabled).encode(m)?;
        }
        let m = e.encode_descriptor(
            "webhook_due_deliveries",
            "Webhook deliveries due at the dispatcher's last pass (at most a batch).",
            None,
            MetricType::Gauge,
        )?;
        if let Some(w) = self.0 {
            ConstGauge::new(w.due_last_pass).encode(m)?;
        }
        Ok(())
    }
}

/// What runs: mode, build and uptime.
#[derive(Debug)]
struct ClickFamilies(Option<ClickStats>);

impl Collector for ClickFamilies {
    fn encode(&self, mut e: DescriptorEncoder<'_>) -> fmt::Result {
        let mut m = e.encode_descriptor(
            "clicks",
            "Follows of tracked links (/r/{token}) by outcome: recorded (stored), dropped (the queue was full), not_counted (HEAD, link previews, bots, prefetches), failed (the store kept failing); LINK_TRACKING=redirect only.",
            None,
            MetricType::Counter,
        )?;
        if let Some(c) = self.0 {
            for (outcome, n) in [
                ("recorded", c.recorded),
                ("dropped", c.dropped),
                ("not_counted", c.not_counted),
                ("failed", c.failed),
            ] {
                counter(&mut m, &[("outcome", outcome)], n)?;
            }
        }
        let m = e.encode_descriptor(
            "click_queue_depth",
            "Clicks waiting to be written to the click store.",
            None,
            MetricType::Gauge,
        )?;
        if let Some(c) = self.0 {
            ConstGauge::new(c.queued).encode(m)?;
        }
        Ok(())
    }
}

#[derive(Debug)]
struct ProcessFamilies {
    mode: ApiMode,
    version: String,
    uptime: Duration,
}

impl Collector for ProcessFamilies {
    fn encode(&self, mut e: DescriptorEncoder<'_>) -> fmt::Result {
        let m = e.encode_descriptor(
            "mock_mode",
            "1 when answers come from the labelled mock catalog.",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(u64::from(self.mode.is_mock())).encode(m)?;
        // An info metric: the encoder appends `_info` and writes it as a gauge of 1.
        let mut m = e.encode_descriptor(
            "build",
            "Always 1; the labels name the build.",
            None,
            MetricType::Info,
        )?;
        m.encode_info(&[
            ("version", self.version.as_str()),
            ("mode", self.mode.as_str()),
        ])?;
        let m = e.encode_descriptor(
            "uptime",
            "Seconds since the process started serving.",
            Some(&Unit::Seconds),
            MetricType::Gauge,
        )?;
        ConstGauge::new(self.uptime.as_secs_f64()).encode(m)
    }
}

/// One sample of a labelled counter family.
fn counter(m: &mut MetricEncoder<'_>, labels: &impl EncodeLabelSet, n: u64) -> fmt::Result {
    ConstCounter::new(n).encode(m.encode_family(labels)?)
}

/// One sample of a labelled gauge family.
fn gauge(
    m: &mut MetricEncoder<'_>,
    labels: &impl EncodeLabelSet,
    v: impl EncodeGaugeValue,
) -> fmt::Result {
    ConstGauge::new(v).encode(m.encode_family(labels)?)
}

/// A histogram with the service's buckets: the encoder takes per-bucket counts and writes them
/// cumulative, ending with `+Inf`.
fn histogram(mut m: MetricEncoder<'_>, h: &HistogramSnapshot) -> fmt::Result {
    let mut buckets = [(0.0, 0); 14];
    let bounds = LATENCY_BUCKETS.iter().copied().chain([f64::INFINITY]);
    for ((slot, le), n) in buckets.iter_mut().zip(bounds).zip(h.counts) {
        *slot = (le, n);
    }
    m.encode_histogram::<NoLabelSet>(h.sum_seconds(), h.count(), &buckets, None)
}

#[cfg(test)]
mod tests {
    use alistach_cache::TierStats;
    use alistach_domain::AffiliateApi;
    use alistach_service::{GuardConfig, GuardedApi};
    use alistach_testkit::prometheus::{promtool_check_or_skip, samples};

    use super::*;

    /// The exposition of `m` alone (no upstream, no limiter, an empty cache).
    fn render(m: &Metrics, version: &str) -> String {
        Exposition {
            metrics: m,
            cache: &CacheReport::default(),
            upstream: None,
            limiter: None,
            mode: ApiMode::Mock,
            version,
            uptime: Duration::from_millis(1500),
            clicks: None,
            orders: None,
            webhooks: None,
        }
        .render()
    }

    #[test]
    fn counts_by_route_and_class() {
        let m = Metrics::default();
        m.record(Some(RouteId::Health), 200, Duration::from_millis(2));
        m.record(Some(RouteId::SearchPost), 422, Duration::from_millis(1));
        m.record(Some(RouteId::SearchPost), 503, Duration::from_millis(1));
        m.record(None, 404, Duration::ZERO);
        assert_eq!(
            m.route(RouteId::SearchPost),
            RouteSnapshot {
                requests: 2,
                client_errors: 1,
                server_errors: 1
            }
        );
        assert_eq!(m.total_requests(), 4);
        let text = render(&m, "1.0.0");
        assert!(
            text.contains(
                "alistach_http_requests_total{route=\"/health\",method=\"GET\",status=\"200\"} 1\n"
            ),
            "{text}"
        );
        assert!(text.contains(
            "alistach_http_requests_total{route=\"/api/products/search\",method=\"POST\",status=\"503\"} 1\n"
        ));
        assert!(text.contains("route=\"unmatched\",method=\"*\",status=\"404\"} 1\n"));
        let report = m.report();
        let search = report
            .iter()
            .find(|r| r.route == "/api/products/search" && r.method == "POST")
            .unwrap();
        assert_eq!(search.latency.count(), 2);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_exposition_passes_promtool_and_reports_every_part() {
        let m = Metrics::default();
        for _ in 0..3 {
            m.record(Some(RouteId::SearchPost), 200, Duration::from_millis(40));
        }
        m.record(Some(RouteId::SearchPost), 503, Duration::from_millis(3));
        m.record(None, 404, Duration::from_micros(80));
        m.connections.opened();
        m.connections
            .request_timeouts
            .fetch_add(2, Ordering::Relaxed);
        let fake: std::sync::Arc<dyn AffiliateApi> =
            std::sync::Arc::new(alistach_mock::MockCatalog::new());
        let guard = GuardedApi::new(fake, GuardConfig::default());
        guard.categories().await.unwrap();
        let stats = guard.stats();
        let cache = CacheReport {
            tiers: vec![
                TierStats {
                    name: "memory",
                    hits: 5,
                    misses: 2,
                    entries: 3,
                    bytes: 4096,
                    connected: true,
                    ..TierStats::default()
                },
                TierStats {
                    name: "redis",
                    hits: 1,
                    misses: 1,
                    connected: false,
                    ..TierStats::default()
                },
            ],
            layer: Default::default(),
            learner: None,
        };
        let text = Exposition {
            metrics: &m,
            cache: &cache,
            upstream: Some(&stats),
            limiter: Some(LimiterStats {
                allowed: 7,
                rejected: 2,
                ..LimiterStats::default()
            }),
            mode: ApiMode::Real,
            version: "1.2.3",
            uptime: Duration::from_secs(5),
            clicks: None,
            orders: Some(SyncStats {
                runs: 4,
                not_due: 2,
                failures: 1,
                fetched: 30,
                status_changes: 5,
                last_success_ms: 1_700_000_000_500,
                ..SyncStats::default()
            }),
            webhooks: Some(WebhookStats {
                attempts_ok: 5,
                attempts_failed: 3,
                delivered: 5,
                failed: 1,
                endpoints_disabled: 1,
                due_last_pass: 2,
                ..WebhookStats::default()
            }),
        }
        .render();
        promtool_check_or_skip(
            "the_exposition_passes_promtool_and_reports_every_part",
            &text,
        );
        let samples = samples(&text);
        let get = |k: &str| {
            *samples
                .get(k)
                .unwrap_or_else(|| panic!("{k} missing:\n{text}"))
        };
        assert_eq!(
            get(
                "alistach_http_requests_total{route=\"/api/products/search\",method=\"POST\",status=\"200\"}"
            ),
            3.0
        );
        assert_eq!(
            get(
                "alistach_http_request_duration_seconds_count{route=\"/api/products/search\",method=\"POST\"}"
            ),
            4.0
        );
        assert_eq!(get("alistach_order_sync_runs_total{outcome=\"ran\"}"), 4.0);
        assert_eq!(
            get("alistach_order_sync_runs_total{outcome=\"not_due\"}"),
            2.0
        );
        assert_eq!(
            get("alistach_order_sync_runs_total{outcome=\"leased\"}"),
            0.0
        );
        assert_eq!(
            get("alistach_order_sync_runs_total{outcome=\"failed\"}"),
            1.0
        );
        assert_eq!(get("alistach_order_sync_orders_fetched_total"), 30.0);
        assert_eq!(
            get("alistach_webhook_attempts_total{outcome=\"failed\"}"),
            3.0
        );
        assert_eq!(
            get("alistach_webhook_deliveries_total{outcome=\"delivered\"}"),
            5.0
        );
        assert_eq!(get("alistach_webhook_endpoints_disabled_total"), 1.0);
        assert_eq!(get("alistach_webhook_due_deliveries"), 2.0);
        assert_eq!(get("alistach_order_sync_status_changes_total"), 5.0);
        assert_eq!(
            get("alistach_order_sync_last_success_timestamp_seconds"),
            1_700_000_000.0
        );
        // The buckets are the service's, cumulative: 3 ms falls in le=0.005, 40 ms in le=0.05.
        let bucket = |le: &str| {
            get(&format!(
                "alistach_http_request_duration_seconds_bucket{{route=\"/api/products/search\",method=\"POST\",le=\"{le}\"}}"
            ))
        };
        assert_eq!(bucket("0.001"), 0.0);
        assert_eq!(bucket("0.005"), 1.0);
        assert_eq!(bucket("0.025"), 1.0);
        assert_eq!(bucket("0.05"), 4.0);
        assert_eq!(bucket("10"), 4.0);
        assert_eq!(bucket("+Inf"), 4.0);
        let les = samples
            .keys()
            .filter(|k| {
                k.starts_with("alistach_http_request_duration_seconds_bucket{route=\"/health\",")
            })
            .count();
        assert_eq!(les, LATENCY_BUCKETS.len() + 1);
        assert!(
            (get(
                "alistach_http_request_duration_seconds_sum{route=\"/api/products/search\",method=\"POST\"}"
            ) - 0.123)
                .abs()
                < 1e-9
        );
        assert_eq!(get("alistach_http_connections_open"), 1.0);
        assert_eq!(get("alistach_http_connections_total"), 1.0);
        assert_eq!(
            get("alistach_http_connections_refused_total{reason=\"per_ip_cap\"}"),
            0.0
        );
        assert_eq!(get("alistach_http_timeouts_total{kind=\"request\"}"), 2.0);
        assert_eq!(get("alistach_auth_throttled_total"), 0.0);
        assert_eq!(
            get("alistach_cache_results_total{status=\"hit\",tier=\"memory\"}"),
            5.0
        );
        assert_eq!(
            get("alistach_cache_results_total{status=\"coalesced\",tier=\"layer\"}"),
            0.0
        );
        assert_eq!(get("alistach_cache_entries{tier=\"memory\"}"), 3.0);
        assert_eq!(get("alistach_cache_bytes{tier=\"memory\"}"), 4096.0);
        assert_eq!(get("alistach_cache_errors_total{tier=\"redis\"}"), 0.0);
        assert_eq!(get("alistach_upstream_fetches_total"), 0.0);
        assert_eq!(get("alistach_upstream_fetch_errors_total"), 0.0);
        assert_eq!(
            get("alistach_upstream_calls_total{method=\"categories\",outcome=\"ok\"}"),
            1.0
        );
        assert_eq!(
            get("alistach_upstream_duration_seconds_count{method=\"categories\"}"),
            1.0
        );
        assert_eq!(get("alistach_circuit_state{state=\"closed\"}"), 1.0);
        assert_eq!(get("alistach_circuit_state{state=\"open\"}"), 0.0);
        assert_eq!(get("alistach_circuit_opens_total"), 0.0);
        assert_eq!(
            get("alistach_ratelimit_decisions_total{decision=\"rejected\"}"),
            2.0
        );
        assert_eq!(get("alistach_ratelimit_degraded"), 0.0);
        assert_eq!(get("alistach_redis_up"), 0.0);
        assert_eq!(get("alistach_mock_mode"), 0.0);
        assert_eq!(
            get("alistach_build_info{version=\"1.2.3\",mode=\"real\"}"),
            1.0
        );
        assert_eq!(get("alistach_uptime_seconds"), 5.0);
        assert!(text.ends_with('\n'));
        for series in samples.keys() {
            assert!(series.starts_with("alistach_"), "{series} lacks the prefix");
            // The route label is always a template, never a raw path.
            if let Some(i) = series.find("route=\"") {
                let route = series[i + 7..].split('"').next().unwrap();
                assert!(
                    route == "unmatched" || ROUTES.iter().any(|r| r.path == route),
                    "{route}"
                );
            }
        }
    }

    #[test]
    fn label_values_are_escaped() {
        let m = Metrics::default();
        let text = render(&m, "1.0 \"quoted\" back\\slash\nnewline");
        promtool_check_or_skip("label_values_are_escaped", &text);
        assert!(
            text.contains(
                "alistach_build_info{version=\"1.0 \\\"quoted\\\" back\\\\slash\\nnewline\",mode=\"mock\"} 1\n"
            ),
            "{text}"
        );
        assert_eq!(samples(&text)["alistach_mock_mode"], 1.0);
    }
}
