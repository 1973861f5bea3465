//! Built-in alert rules, evaluated in process: a pure engine with no I/O and no clock of its
//! own. The caller gathers an [`AlertSnapshot`] (counters and gauges at an instant, from the
//! same sources `/metrics` reads) every evaluation interval and feeds it to
//! [`AlertEngine::evaluate`], which answers the transitions to notify.
//!
//! The rules are those of `docs/alerts/prometheus-rules.yml`, with the same thresholds and
//! alike names (`AliStachUpstreamErrorRatioHigh` is `upstream_error_ratio_high`). Rates and
//! ratios are computed from the difference between two consecutive snapshots, so the rate
//! window is the evaluation interval, not Prometheus' 5 to 30 minutes. Two rules differ for
//! that reason: `order_sync_failing` holds from a failed run until a run succeeds (the last
//! run failed), and `webhook_deliveries_failing` counts its minimum of 5 failures over the
//! current pending or firing episode, not over one window.
//!
//! States: `inactive` → `pending` (the condition holds) → `firing` (it held for `for`) →
//! `resolved` (it cleared) → `pending` again. A pending rule whose condition clears goes back
//! to `inactive` without a notification, so flapping faster than `for` notifies nothing. One
//! [`AlertTransition`] is answered when a rule starts firing and one when it resolves.

use std::collections::VecDeque;
use std::time::Duration;

use alistach_domain::HistogramSnapshot;

/// Transitions kept per rule in [`RuleReport::history`].
pub const ALERT_HISTORY: usize = 20;

/// The order sync is late when its last success is older than this (2 × an interval of up to
/// 1800 s), as `AliStachOrderSyncLate`.
pub const ORDER_SYNC_LATE: Duration = Duration::from_secs(3600);

/// Counters and gauges at one instant. Counters only grow (a restart starts a new engine).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AlertSnapshot {
    /// When it was taken (Unix ms).
    pub at_ms: i64,
    /// Upstream calls that reached AliExpress (not refused by the guard).
    pub upstream_calls: u64,
    /// Of those, the failures other than `invalid_request`.
    pub upstream_errors: u64,
    /// Calls refused at the local outbound quota.
    pub upstream_local_quota: u64,
    /// The circuit is open (after failures or during a platform ban).
    pub circuit_open: bool,
    /// A platform ban is in force.
    pub banned: bool,
    /// Redis answers: `None` when no Redis is configured.
    pub redis_up: Option<bool>,
    /// HTTP answers, all routes.
    pub http_requests: u64,
    /// Of those, the 5xx.
    pub http_5xx: u64,
    /// Answer times of the `/api/...` routes, merged.
    pub api_latency: HistogramSnapshot,
    /// The order sync, when it is scheduled.
    pub order_sync: Option<OrderSyncCounters>,
    /// Webhook attempts answered with a 2xx.
    pub webhook_attempts_ok: u64,
    /// Webhook attempts that failed.
    pub webhook_attempts_failed: u64,
    /// Endpoints disabled by the dispatcher.
    pub webhook_endpoints_disabled: u64,
}

/// The order sync's counters in an [`AlertSnapshot`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OrderSyncCounters {
    /// Runs that succeeded.
    pub runs: u64,
    /// Runs that failed.
    pub failures: u64,
    /// Last success (Unix ms; 0: never).
    pub last_success_ms: i64,
}

/// One built-in rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AlertRule {
    /// Upstream failures among the calls that reached it > 10 %.
    UpstreamErrorRatioHigh,
    /// The circuit is open or a platform ban is in force.
    UpstreamCircuitOpen,
    /// Calls refused at the local outbound quota (any).
    UpstreamLocalQuotaRefusals,
    /// Redis does not answer.
    RedisDown,
    /// p99 answer time of the API routes > 1 s.
    ApiLatencyP99High,
    /// 5xx among all answers > 5 %.
    Http5xxRatioHigh,
    /// The last order sync run failed.
    OrderSyncFailing,
    /// No successful order sync for an hour.
    OrderSyncLate,
    /// More than half of the webhook attempts fail (and at least 5 in the episode).
    WebhookDeliveriesFailing,
    /// The dispatcher disabled a webhook endpoint.
    WebhookEndpointDisabled,
}

impl AlertRule {
    /// Every rule, in report order.
    pub const ALL: [AlertRule; 10] = [
        AlertRule::UpstreamErrorRatioHigh,
        AlertRule::UpstreamCircuitOpen,
        AlertRule::UpstreamLocalQuotaRefusals,
        AlertRule::RedisDown,
        AlertRule::ApiLatencyP99High,
        AlertRule::Http5xxRatioHigh,
        AlertRule::OrderSyncFailing,
        AlertRule::OrderSyncLate,
        AlertRule::WebhookDeliveriesFailing,
        AlertRule::WebhookEndpointDisabled,
    ];

    /// The rule named `name` (see [`AlertRule::name`]).
    pub fn from_name(name: &str) -> Option<AlertRule> {
        AlertRule::ALL.iter().copied().find(|r| r.name() == name)
    }

    /// The rule's name (the Prometheus alert's name in snake case, without `AliStach`).
    pub const fn name(self) -> &'static str {
        match self {
            AlertRule::UpstreamErrorRatioHigh => "upstream_error_ratio_high",
            AlertRule::UpstreamCircuitOpen => "upstream_circuit_open",
            AlertRule::UpstreamLocalQuotaRefusals => "upstream_local_quota_refusals",
            AlertRule::RedisDown => "redis_down",
            AlertRule::ApiLatencyP99High => "api_latency_p99_high",
            AlertRule::Http5xxRatioHigh => "http_5xx_ratio_high",
            AlertRule::OrderSyncFailing => "order_sync_failing",
            AlertRule::OrderSyncLate => "order_sync_late",
            AlertRule::WebhookDeliveriesFailing => "webhook_deliveries_failing",
            AlertRule::WebhookEndpointDisabled => "webhook_endpoint_disabled",
        }
    }

    /// The threshold the last value is compared with (`value > threshold` holds).
    pub const fn threshold(self) -> f64 {
        match self {
            AlertRule::UpstreamErrorRatioHigh => 0.10,
            AlertRule::ApiLatencyP99High => 1.0,
            AlertRule::Http5xxRatioHigh => 0.05,
            AlertRule::OrderSyncLate => 3600.0,
            AlertRule::WebhookDeliveriesFailing => 0.5,
            // Booleans (1 holds) and counts (any).
            _ => 0.0,
        }
    }

    /// What the value is, for reports.
    pub const fn unit(self) -> &'static str {
        match self {
            AlertRule::UpstreamErrorRatioHigh
            | AlertRule::Http5xxRatioHigh
            | AlertRule::WebhookDeliveriesFailing => "ratio",
            AlertRule::UpstreamCircuitOpen | AlertRule::RedisDown | AlertRule::OrderSyncFailing => {
                "boolean"
            }
            AlertRule::UpstreamLocalQuotaRefusals | AlertRule::WebhookEndpointDisabled => "count",
            AlertRule::ApiLatencyP99High | AlertRule::OrderSyncLate => "seconds",
        }
    }
}

/// Where a rule stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertState {
    /// The condition does not hold.
    Inactive,
    /// The condition holds, not yet for `for`.
    Pending,
    /// The condition has held for `for`.
    Firing,
    /// It fired, then cleared.
    Resolved,
}

impl AlertState {
    /// `inactive`, `pending`, `firing` or `resolved`.
    pub const fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
            AlertState::Resolved => "resolved",
        }
    }
}

/// A change of state, kept in a rule's history.
#[derive(Clone, Debug, PartialEq)]
pub struct HistoryEntry {
    /// The new state.
    pub state: AlertState,
    /// When (Unix ms).
    pub at_ms: i64,
    /// The value then.
    pub value: Option<f64>,
}

/// A notification to send: a rule started firing or resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertTransition {
    /// The rule.
    pub rule: AlertRule,
    /// [`AlertState::Firing`] or [`AlertState::Resolved`].
    pub state: AlertState,
    /// When the episode began: the condition first held (Unix ms). Rule + episode identify a
    /// notification.
    pub episode_ms: i64,
    /// When the new state began (Unix ms).
    pub since_ms: i64,
    /// One line for people.
    pub summary: String,
}

impl AlertTransition {
    /// The event id: unique per rule, episode and state.
    pub fn event_id(&self) -> String {
        format!(
            "alert:{}:{}:{}",
            self.rule.name(),
            self.episode_ms,
            self.state.as_str()
        )
    }
}

/// A rule's state, for `GET /api/admin/alerts`.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleReport {
    /// The rule.
    pub rule: AlertRule,
    /// Its state.
    pub state: AlertState,
    /// Since when (Unix ms; `None`: inactive since the start).
    pub since_ms: Option<i64>,
    /// The last value computed (`None`: no data, e.g. no calls in the window).
    pub value: Option<f64>,
    /// The last transitions, oldest first, at most [`ALERT_HISTORY`].
    pub history: Vec<HistoryEntry>,
}

/// The engine's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertConfig {
    /// How long a condition must hold before a rule fires (`ALERT_FOR`).
    pub for_duration: Duration,
    /// Rules that wait another time before firing (`ALERT_FOR_OVERRIDES`).
    pub for_overrides: Vec<(AlertRule, Duration)>,
}

impl Default for AlertConfig {
    fn default() -> Self {
        AlertConfig {
            for_duration: Duration::from_secs(120),
            for_overrides: Vec::new(),
        }
    }
}

impl AlertConfig {
    /// How long `rule`'s condition must hold before it fires.
    pub fn for_rule(&self, rule: AlertRule) -> Duration {
        self.for_overrides
            .iter()
            .find(|(r, _)| *r == rule)
            .map_or(self.for_duration, |(_, d)| *d)
    }
}

#[derive(Clone, Debug)]
struct RuleState {
    state: AlertState,
    since_ms: Option<i64>,
    /// When the condition began to hold (pending or firing).
    episode_ms: i64,
    value: Option<f64>,
    history: VecDeque<HistoryEntry>,
    /// Order sync: the last run failed. Webhooks: failures counted in the episode.
    latch: u64,
}

impl RuleState {
    fn new() -> Self {
        RuleState {
            state: AlertState::Inactive,
            since_ms: None,
            episode_ms: 0,
            value: None,
            history: VecDeque::new(),
            latch: 0,
        }
    }

    fn go(&mut self, state: AlertState, at_ms: i64) {
        self.state = state;
        self.since_ms = Some(at_ms);
        if self.history.len() == ALERT_HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(HistoryEntry {
            state,
            at_ms,
            value: self.value,
        });
    }
}

/// The alert engine: feed it a snapshot per evaluation.
#[derive(Debug)]
pub struct AlertEngine {
    config: AlertConfig,
    previous: Option<AlertSnapshot>,
    /// When the first snapshot was taken (the reference for "never synced").
    started_ms: Option<i64>,
    rules: Vec<RuleState>,
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

fn boolean(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

impl AlertEngine {
    /// An engine with every rule inactive.
    pub fn new(config: AlertConfig) -> Self {
        AlertEngine {
            config,
            previous: None,
            started_ms: None,
            rules: AlertRule::ALL.iter().map(|_| RuleState::new()).collect(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &AlertConfig {
        &self.config
    }

    /// Evaluates every rule on `now` (and the difference from the previous snapshot) and
    /// answers the notifications due: one per rule that started firing or resolved.
    pub fn evaluate(&mut self, now: AlertSnapshot) -> Vec<AlertTransition> {
        let started = *self.started_ms.get_or_insert(now.at_ms);
        let prev = self.previous.take();
        let mut out = Vec::new();
        for (rule, st) in AlertRule::ALL.iter().copied().zip(self.rules.iter_mut()) {
            let for_ms = i64::try_from(self.config.for_rule(rule).as_millis()).unwrap_or(i64::MAX);
            let value = Self::value(rule, prev.as_ref(), &now, started, st);
            st.value = value;
            let holds = value.is_some_and(|v| v > rule.threshold())
                && (rule != AlertRule::WebhookDeliveriesFailing || st.latch >= 5);
            let at = now.at_ms;
            match (st.state, holds) {
                (AlertState::Inactive | AlertState::Resolved, true) => {
                    st.episode_ms = at;
                    st.go(AlertState::Pending, at);
                    if for_ms == 0 {
                        st.go(AlertState::Firing, at);
                        out.push(transition(rule, st, at, value));
                    }
                }
                (AlertState::Pending, true) => {
                    if at.saturating_sub(st.episode_ms) >= for_ms {
                        st.go(AlertState::Firing, at);
                        out.push(transition(rule, st, at, value));
                    }
                }
                (AlertState::Pending, false) => st.go(AlertState::Inactive, at),
                (AlertState::Firing, false) => {
                    st.go(AlertState::Resolved, at);
                    out.push(transition(rule, st, at, value));
                }
                (AlertState::Firing, true)
                | (AlertState::Inactive | AlertState::Resolved, false) => {}
            }
            if rule == AlertRule::WebhookDeliveriesFailing
                && matches!(st.state, AlertState::Inactive | AlertState::Resolved)
                && !holds
                && value.is_none_or(|v| v <= rule.threshold())
            {
                st.latch = 0;
            }
        }
        self.previous = Some(now);
        out
    }

    fn value(
        rule: AlertRule,
        prev: Option<&AlertSnapshot>,
        now: &AlertSnapshot,
        started_ms: i64,
        st: &mut RuleState,
    ) -> Option<f64> {
        let d = |f: fn(&AlertSnapshot) -> u64| prev.map(|p| f(now).saturating_sub(f(p)));
        match rule {
            AlertRule::UpstreamErrorRatioHigh => {
                ratio(d(|s| s.upstream_errors)?, d(|s| s.upstream_calls)?)
            }
            AlertRule::UpstreamCircuitOpen => Some(boolean(now.circuit_open || now.banned)),
            AlertRule::UpstreamLocalQuotaRefusals => {
                d(|s| s.upstream_local_quota).map(|n| n as f64)
            }
            AlertRule::RedisDown => now.redis_up.map(|up| boolean(!up)),
            AlertRule::ApiLatencyP99High => {
                let p = prev?;
                let mut delta = now.api_latency;
                for (c, o) in delta.counts.iter_mut().zip(p.api_latency.counts.iter()) {
                    *c = c.saturating_sub(*o);
                }
                delta.sum_micros = delta.sum_micros.saturating_sub(p.api_latency.sum_micros);
                delta.quantile(0.99)
            }
            AlertRule::Http5xxRatioHigh => ratio(d(|s| s.http_5xx)?, d(|s| s.http_requests)?),
            AlertRule::OrderSyncFailing => {
                let now_sync = now.order_sync?;
                if let Some(p) = prev.and_then(|p| p.order_sync) {
                    if now_sync.runs > p.runs {
                        st.latch = 0;
                    }
                    if now_sync.failures > p.failures {
                        st.latch = 1;
                    }
                }
                Some(boolean(st.latch > 0))
            }
            AlertRule::OrderSyncLate => {
                let sync = now.order_sync?;
                let since = if sync.last_success_ms > 0 {
                    sync.last_success_ms
                } else {
                    started_ms
                };
                Some(now.at_ms.saturating_sub(since) as f64 / 1000.0)
            }
            AlertRule::WebhookDeliveriesFailing => {
                let failed = d(|s| s.webhook_attempts_failed)?;
                let ok = d(|s| s.webhook_attempts_ok)?;
                st.latch = st.latch.saturating_add(failed);
                ratio(failed, failed + ok)
            }
            AlertRule::WebhookEndpointDisabled => {
                d(|s| s.webhook_endpoints_disabled).map(|n| n as f64)
            }
        }
    }

    /// Every rule's state, in [`AlertRule::ALL`] order.
    pub fn report(&self) -> Vec<RuleReport> {
        AlertRule::ALL
            .iter()
            .copied()
            .zip(self.rules.iter())
            .map(|(rule, st)| RuleReport {
                rule,
                state: st.state,
                since_ms: st.since_ms,
                value: st.value,
                history: st.history.iter().cloned().collect(),
            })
            .collect()
    }
}

fn transition(rule: AlertRule, st: &RuleState, at_ms: i64, value: Option<f64>) -> AlertTransition {
    let shown = value.map_or_else(|| "no data".to_owned(), |v| format!("{v:.3}"));
    let summary = format!(
        "{} {}: {} {} (threshold {} {})",
        rule.name(),
        st.state.as_str(),
        rule.unit(),
        shown,
        rule.threshold(),
        rule.unit()
    );
    AlertTransition {
        rule,
        state: st.state,
        episode_ms: st.episode_ms,
        since_ms: at_ms,
        summary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000;

    fn engine(for_secs: u64) -> AlertEngine {
        AlertEngine::new(AlertConfig {
            for_duration: Duration::from_secs(for_secs),
            ..AlertConfig::default()
        })
    }

    fn state(e: &AlertEngine, rule: AlertRule) -> RuleReport {
        e.report().into_iter().find(|r| r.rule == rule).unwrap()
    }

    /// Upstream calls so far, `errors` of them failing, at `t` seconds.
    fn upstream(t: i64, calls: u64, errors: u64) -> AlertSnapshot {
        AlertSnapshot {
            at_ms: t * S,
            upstream_calls: calls,
            upstream_errors: errors,
            ..AlertSnapshot::default()
        }
    }

    #[test]
    fn a_rules_own_wait_overrides_alert_for() {
        let r = AlertRule::UpstreamErrorRatioHigh;
        let mut e = AlertEngine::new(AlertConfig {
            for_duration: Duration::from_secs(3600),
            for_overrides: vec![(r, Duration::from_secs(10))],
        });
        assert_eq!(AlertRule::from_name(r.name()), Some(r));
        assert_eq!(AlertRule::from_name("nope"), None);
        assert!(e.evaluate(upstream(0, 0, 0)).is_empty());
        assert!(e.evaluate(upstream(15, 10, 5)).is_empty(), "pending");
        let fired = e.evaluate(upstream(30, 20, 10));
        assert_eq!(
            fired.len(),
            1,
            "fires after its own 10 s, not ALERT_FOR's hour"
        );
        assert_eq!(
            e.config().for_rule(AlertRule::RedisDown),
            Duration::from_secs(3600)
        );
    }

    #[test]
    fn error_ratio_goes_pending_firing_resolved_once_each() {
        let mut e = engine(30);
        let r = AlertRule::UpstreamErrorRatioHigh;
        assert!(e.evaluate(upstream(0, 0, 0)).is_empty());
        assert_eq!(state(&e, r).state, AlertState::Inactive);
        assert_eq!(state(&e, r).value, None, "no previous snapshot, no rate");
        // 5 of 10 calls fail: 50 % > 10 %.
        assert!(e.evaluate(upstream(15, 10, 5)).is_empty());
        assert_eq!(state(&e, r).state, AlertState::Pending);
        assert_eq!(state(&e, r).value, Some(0.5));
        assert!(e.evaluate(upstream(30, 20, 10)).is_empty(), "15 s < for");
        let fired = e.evaluate(upstream(45, 30, 15));
        assert_eq!(fired.len(), 1);
        assert_eq!(fired[0].rule, r);
        assert_eq!(fired[0].state, AlertState::Firing);
        assert_eq!(fired[0].episode_ms, 15 * S);
        assert_eq!(
            fired[0].event_id(),
            "alert:upstream_error_ratio_high:15000:firing"
        );
        // Still failing: no new notification (deduplicated).
        assert!(e.evaluate(upstream(60, 40, 20)).is_empty());
        assert_eq!(state(&e, r).state, AlertState::Firing);
        assert_eq!(state(&e, r).since_ms, Some(45 * S));
        // 1 of 20 fails: 5 % <= 10 %.
        let resolved = e.evaluate(upstream(75, 60, 21));
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved[0].state, AlertState::Resolved);
        assert_eq!(resolved[0].episode_ms, 15 * S);
        assert!(e.evaluate(upstream(90, 80, 21)).is_empty());
        let history: Vec<_> = state(&e, r).history.iter().map(|h| h.state).collect();
        assert_eq!(
            history,
            [
                AlertState::Pending,
                AlertState::Firing,
                AlertState::Resolved
            ]
        );
    }

    #[test]
    fn flapping_faster_than_for_notifies_nothing_and_a_new_episode_has_a_new_id() {
        let mut e = engine(30);
        let mut t = 0;
        let (mut calls, mut errors) = (0, 0);
        e.evaluate(upstream(t, calls, errors));
        for i in 0..10 {
            t += 15;
            calls += 10;
            errors += if i % 2 == 0 { 10 } else { 0 };
            assert!(
                e.evaluate(upstream(t, calls, errors)).is_empty(),
                "step {i}"
            );
        }
        // Two episodes that fire, with distinct ids.
        let mut ids = Vec::new();
        for _ in 0..2 {
            for _ in 0..3 {
                t += 15;
                calls += 10;
                errors += 10;
                ids.extend(e.evaluate(upstream(t, calls, errors)));
            }
            t += 15;
            calls += 10;
            ids.extend(e.evaluate(upstream(t, calls, errors)));
        }
        let ids: Vec<_> = ids.iter().map(AlertTransition::event_id).collect();
        assert_eq!(ids.len(), 4, "{ids:?}");
        let unique: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(unique.len(), 4, "{ids:?}");
    }

    #[test]
    fn no_calls_means_no_data_and_no_alert() {
        let mut e = engine(0);
        e.evaluate(upstream(0, 10, 10));
        assert!(e.evaluate(upstream(15, 10, 10)).is_empty());
        assert_eq!(state(&e, AlertRule::UpstreamErrorRatioHigh).value, None);
    }

    #[test]
    fn ratio_at_the_threshold_does_not_fire() {
        let mut e = engine(0);
        e.evaluate(upstream(0, 0, 0));
        assert!(
            e.evaluate(upstream(15, 10, 1)).is_empty(),
            "10 % is not > 10 %"
        );
        let fired = e.evaluate(upstream(30, 20, 3));
        assert_eq!(fired.len(), 1, "for 0 fires at once");
    }

    fn fires(rule: AlertRule, before: AlertSnapshot, after: AlertSnapshot) {
        let mut e = engine(0);
        e.evaluate(before);
        let out = e.evaluate(after);
        assert!(
            out.iter()
                .any(|t| t.rule == rule && t.state == AlertState::Firing),
            "{rule:?} did not fire: {out:?} {:?}",
            state(&e, rule)
        );
    }

    fn quiet(rule: AlertRule, before: AlertSnapshot, after: AlertSnapshot) {
        let mut e = engine(0);
        e.evaluate(before);
        e.evaluate(after);
        assert_eq!(state(&e, rule).state, AlertState::Inactive, "{rule:?}");
    }

    fn at(t: i64) -> AlertSnapshot {
        AlertSnapshot {
            at_ms: t * S,
            ..AlertSnapshot::default()
        }
    }

    #[test]
    fn circuit_open_or_ban() {
        let r = AlertRule::UpstreamCircuitOpen;
        quiet(r, at(0), at(15));
        fires(
            r,
            at(0),
            AlertSnapshot {
                circuit_open: true,
                ..at(15)
            },
        );
        fires(
            r,
            at(0),
            AlertSnapshot {
                banned: true,
                ..at(15)
            },
        );
    }

    #[test]
    fn local_quota_refusals() {
        let r = AlertRule::UpstreamLocalQuotaRefusals;
        let before = AlertSnapshot {
            upstream_local_quota: 3,
            ..at(0)
        };
        quiet(
            r,
            before.clone(),
            AlertSnapshot {
                upstream_local_quota: 3,
                ..at(15)
            },
        );
        fires(
            r,
            before,
            AlertSnapshot {
                upstream_local_quota: 4,
                ..at(15)
            },
        );
    }

    #[test]
    fn redis_down_only_with_redis() {
        let r = AlertRule::RedisDown;
        quiet(r, at(0), at(15));
        quiet(
            r,
            at(0),
            AlertSnapshot {
                redis_up: Some(true),
                ..at(15)
            },
        );
        fires(
            r,
            at(0),
            AlertSnapshot {
                redis_up: Some(false),
                ..at(15)
            },
        );
    }

    #[test]
    fn p99_latency_over_the_window() {
        let r = AlertRule::ApiLatencyP99High;
        let slow = crate::Histogram::default();
        for _ in 0..100 {
            slow.observe(Duration::from_millis(20));
        }
        let before = AlertSnapshot {
            api_latency: slow.snapshot(),
            ..at(0)
        };
        // Slow answers before the window do not count.
        quiet(
            r,
            AlertSnapshot {
                api_latency: HistogramSnapshot::default(),
                ..at(0)
            },
            at(15),
        );
        let fast = AlertSnapshot {
            api_latency: slow.snapshot(),
            ..at(15)
        };
        quiet(r, before.clone(), fast);
        for _ in 0..10 {
            slow.observe(Duration::from_secs(3));
        }
        fires(
            r,
            before,
            AlertSnapshot {
                api_latency: slow.snapshot(),
                ..at(15)
            },
        );
    }

    #[test]
    fn http_5xx_ratio() {
        let r = AlertRule::Http5xxRatioHigh;
        let before = AlertSnapshot {
            http_requests: 100,
            http_5xx: 50,
            ..at(0)
        };
        quiet(
            r,
            before.clone(),
            AlertSnapshot {
                http_requests: 200,
                http_5xx: 55,
                ..at(15)
            },
        );
        fires(
            r,
            before,
            AlertSnapshot {
                http_requests: 200,
                http_5xx: 56,
                ..at(15)
            },
        );
    }

    fn sync(t: i64, runs: u64, failures: u64, last_success_ms: i64) -> AlertSnapshot {
        AlertSnapshot {
            order_sync: Some(OrderSyncCounters {
                runs,
                failures,
                last_success_ms,
            }),
            ..at(t)
        }
    }

    #[test]
    fn order_sync_failing_holds_until_a_run_succeeds() {
        let r = AlertRule::OrderSyncFailing;
        let mut e = engine(60);
        e.evaluate(sync(0, 1, 0, 0));
        e.evaluate(sync(15, 1, 1, 0));
        assert_eq!(state(&e, r).state, AlertState::Pending);
        let fired = e.evaluate(sync(90, 1, 1, 0));
        assert_eq!(fired.iter().filter(|t| t.rule == r).count(), 1);
        let resolved = e.evaluate(sync(600, 2, 1, 600 * S));
        assert!(
            resolved
                .iter()
                .any(|t| t.rule == r && t.state == AlertState::Resolved)
        );
        quiet(r, at(0), at(15));
    }

    #[test]
    fn order_sync_late_after_an_hour() {
        let r = AlertRule::OrderSyncLate;
        quiet(r, sync(0, 1, 0, 0), sync(3600, 1, 0, 1));
        fires(r, sync(0, 1, 0, 0), sync(3601, 1, 0, 0));
        quiet(r, sync(0, 1, 0, 0), sync(3599, 1, 0, 0));
    }

    fn hooks(t: i64, ok: u64, failed: u64) -> AlertSnapshot {
        AlertSnapshot {
            webhook_attempts_ok: ok,
            webhook_attempts_failed: failed,
            ..at(t)
        }
    }

    #[test]
    fn webhook_failures_need_half_and_five() {
        let r = AlertRule::WebhookDeliveriesFailing;
        quiet(r, hooks(0, 0, 0), hooks(15, 0, 4));
        quiet(r, hooks(0, 0, 0), hooks(15, 6, 6));
        fires(r, hooks(0, 0, 0), hooks(15, 0, 5));
        // Five failures over several windows count too.
        let mut e = engine(0);
        e.evaluate(hooks(0, 0, 0));
        e.evaluate(hooks(15, 0, 3));
        let out = e.evaluate(hooks(30, 0, 6));
        assert!(out.iter().any(|t| t.rule == r));
    }

    #[test]
    fn webhook_endpoint_disabled() {
        let r = AlertRule::WebhookEndpointDisabled;
        let before = AlertSnapshot {
            webhook_endpoints_disabled: 1,
            ..at(0)
        };
        quiet(
            r,
            before.clone(),
            AlertSnapshot {
                webhook_endpoints_disabled: 1,
                ..at(15)
            },
        );
        fires(
            r,
            before,
            AlertSnapshot {
                webhook_endpoints_disabled: 2,
                ..at(15)
            },
        );
    }

    #[test]
    fn history_is_bounded() {
        let mut e = engine(0);
        let mut t = 0;
        e.evaluate(at(t));
        for i in 0..50 {
            t += 15;
            e.evaluate(AlertSnapshot {
                circuit_open: i % 2 == 0,
                ..at(t)
            });
        }
        let h = state(&e, AlertRule::UpstreamCircuitOpen).history;
        assert_eq!(h.len(), ALERT_HISTORY);
        assert!(h.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
    }
}
