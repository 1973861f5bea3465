//! Per-route request counters, kept in atomics and printed in the Prometheus text format.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use alistach_api::{ROUTES, RouteId};

#[derive(Default)]
struct RouteCounters {
    requests: AtomicU64,
    client_errors: AtomicU64,
    server_errors: AtomicU64,
    latency_micros: AtomicU64,
}

/// Counters for every route, plus requests that matched none.
pub struct Metrics {
    routes: HashMap<RouteId, RouteCounters>,
    unmatched: RouteCounters,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            routes: ROUTES
                .iter()
                .map(|r| (r.id, RouteCounters::default()))
                .collect(),
            unmatched: Default::default(),
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

impl Metrics {
    /// Counts one answered request.
    pub fn record(&self, route: Option<RouteId>, status: u16, latency: Duration) {
        let c = route
            .and_then(|id| self.routes.get(&id))
            .unwrap_or(&self.unmatched);
        c.requests.fetch_add(1, Ordering::Relaxed);
        if (400..500).contains(&status) {
            c.client_errors.fetch_add(1, Ordering::Relaxed);
        } else if status >= 500 {
            c.server_errors.fetch_add(1, Ordering::Relaxed);
        }
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        c.latency_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// One route's counters.
    pub fn route(&self, id: RouteId) -> RouteSnapshot {
        self.routes.get(&id).map(snapshot).unwrap_or_default()
    }

    /// Requests over all routes.
    pub fn total_requests(&self) -> u64 {
        self.routes
            .values()
            .chain(std::iter::once(&self.unmatched))
            .map(|c| c.requests.load(Ordering::Relaxed))
            .sum()
    }

    /// The Prometheus text exposition of the counters.
    pub fn render(&self, out: &mut String) {
        out.push_str("# HELP alistach_http_requests_total Requests answered, by route.\n");
        out.push_str("# TYPE alistach_http_requests_total counter\n");
        self.each(out, "alistach_http_requests_total", |c| {
            c.requests.load(Ordering::Relaxed).to_string()
        });
        out.push_str("# HELP alistach_http_errors_total Error answers, by route and class.\n");
        out.push_str("# TYPE alistach_http_errors_total counter\n");
        for (class, pick) in [("4xx", 0usize), ("5xx", 1)] {
            for (method, path, c) in self.rows() {
                let v = if pick == 0 {
                    &c.client_errors
                } else {
                    &c.server_errors
                }
                .load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "alistach_http_errors_total{{method=\"{method}\",route=\"{path}\",class=\"{class}\"}} {v}"
                );
            }
        }
        out.push_str(
            "# HELP alistach_http_request_duration_seconds_sum Time spent answering, by route.\n",
        );
        out.push_str("# TYPE alistach_http_request_duration_seconds_sum counter\n");
        self.each(out, "alistach_http_request_duration_seconds_sum", |c| {
            format!(
                "{:.6}",
                c.latency_micros.load(Ordering::Relaxed) as f64 / 1e6
            )
        });
    }

    fn rows(&self) -> impl Iterator<Item = (&'static str, &'static str, &RouteCounters)> {
        ROUTES
            .iter()
            .filter_map(|r| self.routes.get(&r.id).map(|c| (r.method, r.path, c)))
            .chain(std::iter::once(("", "unmatched", &self.unmatched)))
    }

    fn each(&self, out: &mut String, name: &str, value: impl Fn(&RouteCounters) -> String) {
        for (method, path, c) in self.rows() {
            let _ = writeln!(
                out,
                "{name}{{method=\"{method}\",route=\"{path}\"}} {}",
                value(c)
            );
        }
    }
}

fn snapshot(c: &RouteCounters) -> RouteSnapshot {
    RouteSnapshot {
        requests: c.requests.load(Ordering::Relaxed),
        client_errors: c.client_errors.load(Ordering::Relaxed),
        server_errors: c.server_errors.load(Ordering::Relaxed),
    }
}

#[cfg(test)]
mod tests {
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
            text.contains("alistach_http_requests_total{method=\"GET\",route=\"/health\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("alistach_http_errors_total{method=\"POST\",route=\"/api/products/search\",class=\"5xx\"} 1"));
        assert!(text.contains("route=\"unmatched\"} 1"));
    }
}
