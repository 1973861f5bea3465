//! `GET /api/admin/alerts`, and the snapshot the alert rules read, gathered from the same
//! sources `/metrics` reads.

use alistach_api::types as api;
use alistach_domain::platform_time;
use alistach_service::{AlertSnapshot, CircuitState, HistogramSnapshot, OrderSyncCounters};

use crate::app::App;
use crate::error::HttpError;
use crate::respond::{HttpResponse, json, unix_now};

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl App {
    /// The counters and gauges the alert rules read, now: the same sources as `/metrics`.
    pub async fn alert_snapshot(&self) -> AlertSnapshot {
        let report = self.catalog.cache_report().await;
        let mut snap = AlertSnapshot {
            at_ms: now_ms(),
            redis_up: report
                .tiers
                .iter()
                .find(|t| t.name == "redis")
                .map(|t| t.connected),
            ..AlertSnapshot::default()
        };
        if let Some(g) = self.catalog.upstream_stats() {
            snap.upstream_calls = g.calls();
            let invalid: u64 = g
                .methods
                .iter()
                .flat_map(|m| m.outcomes.iter())
                .filter(|(label, _)| *label == "invalid_request")
                .map(|(_, n)| n)
                .sum();
            snap.upstream_errors = g.failures().saturating_sub(invalid);
            snap.upstream_local_quota = g.local_quota();
            snap.circuit_open = g.circuit == CircuitState::Open;
            snap.banned = g.ban_remaining.is_some();
        }
        let mut latency = HistogramSnapshot::default();
        for r in self.metrics.report() {
            snap.http_requests += r.counts.requests;
            snap.http_5xx += r.counts.server_errors;
            if r.route.starts_with("/api/") {
                latency.merge(&r.latency);
            }
        }
        snap.api_latency = latency;
        if let Some(o) = &self.orders {
            let s = o.sync.stats();
            snap.order_sync = Some(OrderSyncCounters {
                runs: s.runs,
                failures: s.failures,
                last_success_ms: s.last_success_ms,
            });
        }
        if let Some(d) = &self.webhook_dispatcher {
            let s = d.stats();
            snap.webhook_attempts_ok = s.attempts_ok;
            snap.webhook_attempts_failed = s.attempts_failed;
            snap.webhook_endpoints_disabled = s.endpoints_disabled;
        }
        snap
    }

    /// `GET /api/admin/alerts`.
    pub(crate) fn alerts_report(&self) -> Result<HttpResponse, HttpError> {
        let alerts = self.alerts.as_ref().ok_or(HttpError::AlertsOff)?;
        let config = alerts.config();
        let rules = alerts
            .report()
            .into_iter()
            .map(|r| api::AlertRuleInfo {
                rule: r.rule.name().to_owned(),
                state: r.state.as_str().to_owned(),
                since: r.since_ms.map(platform_time::rfc3339),
                threshold: r.rule.threshold(),
                for_seconds: config.for_rule(r.rule).as_secs(),
                unit: r.rule.unit().to_owned(),
                value: r.value,
                history: r
                    .history
                    .iter()
                    .map(|h| api::AlertHistoryEntry {
                        state: h.state.as_str().to_owned(),
                        at: platform_time::rfc3339(h.at_ms),
                        value: h.value,
                    })
                    .collect(),
            })
            .collect();
        let metadata = api::AlertsMetadata {
            timestamp: unix_now(),
            eval_interval_seconds: alerts.interval().as_secs(),
            for_seconds: config.for_duration.as_secs(),
        };
        Ok(json(&api::AlertsResponse::ok(
            api::AlertsData { rules },
            metadata,
        )))
    }
}
