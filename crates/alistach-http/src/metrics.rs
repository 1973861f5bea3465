//! Per-route request counters and latency histograms kept in atomics, and the Prometheus text
//! exposition of everything the gateway counts: requests, cache, upstream, rate limits, Redis.

use std::collections::HashMap;
use std::fmt::{Display, Write as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use alistach_api::{ROUTES, RouteId};
use alistach_domain::ApiMode;
use alistach_policy::LimiterStats;
use alistach_service::{CacheReport, CircuitState, GuardStats, Histogram, HistogramSnapshot};

/// Status codes are counted exactly, one slot per code in 100..=599.
const STATUS_SLOTS: usize = 500;

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

    fn render(&self, out: &mut String) {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        family(
            out,
            "alistach_http_connections_open",
            "gauge",
            "Client connections open now.",
        );
        sample(out, "alistach_http_connections_open", &[], self.open());
        family(
            out,
            "alistach_http_connections_total",
            "counter",
            "Client connections accepted and served.",
        );
        sample(
            out,
            "alistach_http_connections_total",
            &[],
            load(&self.accepted),
        );
        family(
            out,
            "alistach_http_connections_refused_total",
            "counter",
            "Client connections refused at once, by reason.",
        );
        sample(
            out,
            "alistach_http_connections_refused_total",
            &[("reason", "per_ip_cap")],
            load(&self.refused_per_ip),
        );
        family(
            out,
            "alistach_http_timeouts_total",
            "counter",
            "Requests or connections cut off by a timeout, by kind.",
        );
        for (kind, n) in [
            ("response_write", &self.write_timeouts),
            ("body_read", &self.body_timeouts),
            ("request", &self.request_timeouts),
        ] {
            sample(
                out,
                "alistach_http_timeouts_total",
                &[("kind", kind)],
                load(n),
            );
        }
        family(
            out,
            "alistach_auth_throttled_total",
            "counter",
            "Key attempts refused with 429 because the address failed too many times.",
        );
        sample(
            out,
            "alistach_auth_throttled_total",
            &[],
            load(&self.auth_throttled),
        );
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

    /// The HTTP families of the Prometheus exposition.
    pub fn render(&self, out: &mut String) {
        family(
            out,
            "http_requests_total",
            "counter",
            "Requests answered, by route template, method and status code.",
        );
        for (method, route, c) in self.rows() {
            for (status, n) in c.statuses() {
                sample(
                    out,
                    "http_requests_total",
                    &[
                        ("route", route),
                        ("method", method),
                        ("status", &status.to_string()),
                    ],
                    n,
                );
            }
        }
        family(
            out,
            "http_request_duration_seconds",
            "histogram",
            "Time to answer, by route template.",
        );
        for (method, route, c) in self.rows() {
            histogram(
                out,
                "http_request_duration_seconds",
                &[("route", route), ("method", method)],
                &c.latency.snapshot(),
            );
        }
        self.connections.render(out);
    }

    fn rows(&self) -> impl Iterator<Item = (&'static str, &'static str, &RouteCounters)> {
        ROUTES
            .iter()
            .filter_map(|r| self.routes.get(&r.id).map(|c| (r.method, r.path, c)))
            .chain(std::iter::once(("*", "unmatched", &self.unmatched)))
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
}

impl Exposition<'_> {
    /// The whole exposition in the Prometheus text format (version 0.0.4).
    pub(crate) fn render(&self) -> String {
        let mut out = String::with_capacity(32 * 1024);
        let o = &mut out;
        self.metrics.render(o);

        let l = &self.cache.layer;
        family(
            o,
            "alistach_cache_results_total",
            "counter",
            "Cache lookups by result: tier=\"layer\" is what callers got (hit, miss, stale, coalesced, bypass); each storage tier reports its own hits and misses.",
        );
        for (status, n) in [
            ("hit", l.hits),
            ("miss", l.misses),
            ("stale", l.stale_served),
            ("coalesced", l.coalesced_waits),
            ("bypass", l.bypasses),
        ] {
            sample(
                o,
                "alistach_cache_results_total",
                &[("status", status), ("tier", "layer")],
                n,
            );
        }
        for t in &self.cache.tiers {
            for (status, n) in [("hit", t.hits), ("miss", t.misses)] {
                sample(
                    o,
                    "alistach_cache_results_total",
                    &[("status", status), ("tier", t.name)],
                    n,
                );
            }
        }
        family(
            o,
            "alistach_cache_entries",
            "gauge",
            "Entries held, by storage tier.",
        );
        for t in &self.cache.tiers {
            sample(o, "alistach_cache_entries", &[("tier", t.name)], t.entries);
        }
        family(
            o,
            "alistach_cache_bytes",
            "gauge",
            "Bytes held, by storage tier.",
        );
        for t in &self.cache.tiers {
            sample(o, "alistach_cache_bytes", &[("tier", t.name)], t.bytes);
        }
        family(
            o,
            "alistach_cache_errors_total",
            "counter",
            "Storage errors, by tier.",
        );
        for t in &self.cache.tiers {
            sample(
                o,
                "alistach_cache_errors_total",
                &[("tier", t.name)],
                t.errors,
            );
        }
        family(
            o,
            "alistach_upstream_fetches_total",
            "counter",
            "Fetches the cache layer started (one per miss after coalescing), mock or real.",
        );
        sample(
            o,
            "alistach_upstream_fetches_total",
            &[],
            l.upstream_fetches,
        );
        family(
            o,
            "alistach_upstream_fetch_errors_total",
            "counter",
            "Fetches that failed.",
        );
        sample(
            o,
            "alistach_upstream_fetch_errors_total",
            &[],
            l.fetch_errors,
        );

        family(
            o,
            "alistach_upstream_calls_total",
            "counter",
            "Guarded upstream calls by method and outcome (ok, empty, an error kind, short_circuited, local_quota); real mode only.",
        );
        if let Some(g) = self.upstream {
            for m in &g.methods {
                for (outcome, n) in &m.outcomes {
                    sample(
                        o,
                        "alistach_upstream_calls_total",
                        &[("method", m.method), ("outcome", outcome)],
                        *n,
                    );
                }
            }
        }
        family(
            o,
            "alistach_upstream_duration_seconds",
            "histogram",
            "Latency of upstream calls (retries included), by method.",
        );
        if let Some(g) = self.upstream {
            for m in &g.methods {
                histogram(
                    o,
                    "alistach_upstream_duration_seconds",
                    &[("method", m.method)],
                    &m.latency,
                );
            }
        }
        family(
            o,
            "alistach_circuit_state",
            "gauge",
            "1 for the upstream circuit breaker's current state (closed, open, half_open).",
        );
        if let Some(g) = self.upstream {
            for s in CircuitState::ALL {
                sample(
                    o,
                    "alistach_circuit_state",
                    &[("state", s.as_str())],
                    u8::from(g.circuit == s),
                );
            }
        }
        family(
            o,
            "alistach_circuit_opens_total",
            "counter",
            "Times the upstream circuit opened (failures, failed probes, platform bans).",
        );
        if let Some(g) = self.upstream {
            sample(o, "alistach_circuit_opens_total", &[], g.opens);
        }

        family(
            o,
            "alistach_ratelimit_decisions_total",
            "counter",
            "Per-client rate-limit decisions (allowed, rejected, fallback = answered locally while the shared store failed).",
        );
        if let Some(r) = self.limiter {
            for (decision, n) in [
                ("allowed", r.allowed),
                ("rejected", r.rejected),
                ("fallback", r.fallbacks),
            ] {
                sample(
                    o,
                    "alistach_ratelimit_decisions_total",
                    &[("decision", decision)],
                    n,
                );
            }
        }
        family(
            o,
            "alistach_ratelimit_degraded",
            "gauge",
            "1 while the shared rate-limit store fails and local limits apply.",
        );
        if let Some(r) = self.limiter {
            sample(o, "alistach_ratelimit_degraded", &[], u8::from(r.degraded));
        }

        family(
            o,
            "alistach_redis_up",
            "gauge",
            "1 when the Redis cache tier answers, 0 when it does not; absent without Redis.",
        );
        if let Some(redis) = self.cache.tiers.iter().find(|t| t.name == "redis") {
            sample(o, "alistach_redis_up", &[], u8::from(redis.connected));
        }
        family(
            o,
            "alistach_mock_mode",
            "gauge",
            "1 when answers come from the labelled mock catalog.",
        );
        sample(o, "alistach_mock_mode", &[], u8::from(self.mode.is_mock()));
        family(
            o,
            "alistach_build_info",
            "gauge",
            "Always 1; the labels name the build.",
        );
        sample(
            o,
            "alistach_build_info",
            &[("version", self.version), ("mode", self.mode.as_str())],
            1,
        );
        family(
            o,
            "alistach_uptime_seconds",
            "gauge",
            "Seconds since the process started serving.",
        );
        sample(
            o,
            "alistach_uptime_seconds",
            &[],
            format_args!("{:.3}", self.uptime.as_secs_f64()),
        );
        out
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {}", help.replace('\\', "\\\\"));
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: impl Display) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{k}=\"");
            for ch in v.chars() {
                match ch {
                    '\\' => out.push_str("\\\\"),
                    '"' => out.push_str("\\\""),
                    '\n' => out.push_str("\\n"),
                    c => out.push(c),
                }
            }
            out.push('"');
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

fn histogram(out: &mut String, name: &str, labels: &[(&str, &str)], h: &HistogramSnapshot) {
    let bucket = format!("{name}_bucket");
    for (le, n) in h.cumulative() {
        let le = if le.is_infinite() {
            "+Inf".to_owned()
        } else {
            le.to_string()
        };
        let mut with_le = labels.to_vec();
        with_le.push(("le", &le));
        sample(out, &bucket, &with_le, n);
    }
    sample(
        out,
        &format!("{name}_sum"),
        labels,
        format_args!("{:.6}", h.sum_seconds()),
    );
    sample(out, &format!("{name}_count"), labels, h.count());
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use alistach_cache::TierStats;
    use alistach_domain::AffiliateApi;
    use alistach_service::{GuardConfig, GuardedApi};

    use super::*;

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
        let mut text = String::new();
        m.render(&mut text);
        assert!(
            text.contains(
                "http_requests_total{route=\"/health\",method=\"GET\",status=\"200\"} 1\n"
            ),
            "{text}"
        );
        assert!(text.contains(
            "http_requests_total{route=\"/api/products/search\",method=\"POST\",status=\"503\"} 1\n"
        ));
        assert!(text.contains("route=\"unmatched\",method=\"*\",status=\"404\"} 1\n"));
        let report = m.report();
        let search = report
            .iter()
            .find(|r| r.route == "/api/products/search" && r.method == "POST")
            .unwrap();
        assert_eq!(search.latency.count(), 2);
    }

    /// A parsed exposition: samples by full series text, and the families in order.
    struct Parsed {
        samples: BTreeMap<String, f64>,
    }

    /// Checks the text format line by line and panics, naming the line, on any violation.
    fn parse(text: &str) -> Parsed {
        let mut helped: Vec<String> = Vec::new();
        let mut typed: HashMap<String, String> = HashMap::new();
        let mut samples = BTreeMap::new();
        let mut current: Option<String> = None;
        let mut finished: Vec<String> = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let at = format!("line {}: {line:?}", n + 1);
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').expect(&at);
                assert!(!help.is_empty(), "{at}");
                assert!(!helped.contains(&name.to_owned()), "HELP twice: {at}");
                if let Some(prev) = current.replace(name.to_owned()) {
                    finished.push(prev);
                }
                helped.push(name.to_owned());
                continue;
            }
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect(&at);
                assert_eq!(current.as_deref(), Some(name), "TYPE without HELP: {at}");
                assert!(["counter", "gauge", "histogram"].contains(&kind), "{at}");
                assert!(
                    typed.insert(name.to_owned(), kind.to_owned()).is_none(),
                    "{at}"
                );
                continue;
            }
            assert!(!line.starts_with('#'), "unknown comment {at}");
            let (series, value) = line.rsplit_once(' ').expect(&at);
            let value: f64 = value
                .parse()
                .unwrap_or_else(|_| panic!("value is not a float: {at}"));
            let name = series.split('{').next().unwrap();
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
                "{at}"
            );
            let labels = &series[name.len()..];
            if !labels.is_empty() {
                assert!(labels.starts_with('{') && labels.ends_with('}'), "{at}");
                for pair in split_labels(&labels[1..labels.len() - 1]) {
                    let (k, v) = pair.split_once('=').expect(&at);
                    assert!(
                        k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                        "{at}"
                    );
                    assert!(
                        v.starts_with('"') && v.ends_with('"') && v.len() >= 2,
                        "{at}"
                    );
                }
            }
            let family = current.as_deref().expect("sample before any HELP");
            let kind = &typed[family];
            let base = if kind == "histogram" {
                ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s))
                    .unwrap_or_else(|| panic!("histogram sample without suffix: {at}"))
            } else {
                name
            };
            assert_eq!(base, family, "sample outside its family: {at}");
            assert!(!finished.contains(&base.to_owned()), "{at}");
            assert!(
                samples.insert(series.to_owned(), value).is_none(),
                "duplicate series: {at}"
            );
        }
        // Histograms: cumulative buckets ending with +Inf equal to _count.
        for (family, kind) in &typed {
            if kind != "histogram" {
                continue;
            }
            let mut groups: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
            for (series, v) in &samples {
                if let Some(labels) = series.strip_prefix(&format!("{family}_bucket{{")) {
                    let pairs = split_labels(labels.trim_end_matches('}'));
                    let le = pairs
                        .iter()
                        .find_map(|p| p.strip_prefix("le=\""))
                        .expect("bucket without le")
                        .trim_end_matches('"');
                    let le: f64 = if le == "+Inf" {
                        f64::INFINITY
                    } else {
                        le.parse().unwrap()
                    };
                    let rest: Vec<&str> = pairs
                        .iter()
                        .copied()
                        .filter(|p| !p.starts_with("le="))
                        .collect();
                    groups.entry(rest.join(",")).or_default().push((le, *v));
                }
            }
            for (labels, mut buckets) in groups {
                buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
                assert!(
                    buckets.windows(2).all(|w| w[0].1 <= w[1].1),
                    "{family}{{{labels}}} buckets are not cumulative"
                );
                let last = buckets.last().unwrap();
                assert!(last.0.is_infinite(), "{family}{{{labels}}} lacks +Inf");
                let count_key = if labels.is_empty() {
                    format!("{family}_count")
                } else {
                    format!("{family}_count{{{labels}}}")
                };
                assert_eq!(
                    samples.get(&count_key),
                    Some(&last.1),
                    "{family}{{{labels}}}: +Inf differs from _count"
                );
                let sum_key = count_key.replacen("_count", "_sum", 1);
                assert!(samples.contains_key(&sum_key), "{sum_key} missing");
            }
        }
        Parsed { samples }
    }

    fn split_labels(s: &str) -> Vec<&str> {
        // Label values here never contain commas or escaped quotes.
        s.split(',').filter(|p| !p.is_empty()).collect()
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_exposition_parses_and_reports_every_part() {
        let m = Metrics::default();
        for _ in 0..3 {
            m.record(Some(RouteId::SearchPost), 200, Duration::from_millis(40));
        }
        m.record(Some(RouteId::SearchPost), 503, Duration::from_millis(3));
        m.record(None, 404, Duration::from_micros(80));
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
        }
        .render();
        let p = parse(&text);
        let get = |k: &str| {
            *p.samples
                .get(k)
                .unwrap_or_else(|| panic!("{k} missing:\n{text}"))
        };
        assert_eq!(
            get(
                "http_requests_total{route=\"/api/products/search\",method=\"POST\",status=\"200\"}"
            ),
            3.0
        );
        assert_eq!(
            get(
                "http_request_duration_seconds_count{route=\"/api/products/search\",method=\"POST\"}"
            ),
            4.0
        );
        assert_eq!(
            get(
                "http_request_duration_seconds_bucket{route=\"/api/products/search\",method=\"POST\",le=\"0.025\"}"
            ),
            1.0
        );
        assert_eq!(
            get("alistach_cache_results_total{status=\"hit\",tier=\"memory\"}"),
            5.0
        );
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
        assert_eq!(
            get("alistach_ratelimit_decisions_total{decision=\"rejected\"}"),
            2.0
        );
        assert_eq!(get("alistach_redis_up"), 0.0);
        assert_eq!(get("alistach_mock_mode"), 0.0);
        assert_eq!(
            get("alistach_build_info{version=\"1.2.3\",mode=\"real\"}"),
            1.0
        );
        assert!(text.ends_with('\n'));
        // The route label is always a template, never a raw path.
        for series in p.samples.keys() {
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
    fn the_checker_rejects_broken_expositions() {
        let bad = [
            "http_requests_total 1\n",
            "# HELP x A.\n# TYPE x counter\nx one\n",
            "# HELP h A.\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
            "# HELP h A.\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",
            "# HELP h A.\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n",
        ];
        for text in bad {
            let caught = std::panic::catch_unwind(|| parse(text));
            assert!(caught.is_err(), "accepted {text:?}");
        }
    }
}
