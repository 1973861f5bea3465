//! The alert task: every `ALERT_EVAL_INTERVAL` it gathers this instance's snapshot, evaluates
//! the built-in rules and sends the notifications due: an `alert.firing` / `alert.resolved`
//! webhook event through the durable outbox and, with `ALERT_SLACK_WEBHOOK_URL`, a Slack
//! message.
//!
//! Every instance evaluates (`GET /api/admin/alerts` shows each instance's own view), but only
//! the holder of the `alerts` lease notifies, so N instances do not send N copies. The lease
//! is renewed at each evaluation and lasts three intervals, so the holder stays the same while
//! it runs. Event ids are `alert:{rule}:{episode start ms}:{state}`: should the lease change
//! hands while an evaluation is publishing, the outbox ignores an id published before. Ids
//! alone could not deduplicate across instances: each instance sees its own counters and
//! starts its own episodes at its own evaluation times.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use alistach_domain::{Secret, platform_time};
use alistach_http::{Alerts, App};
use alistach_service::{AlertState, AlertTransition};
use alistach_store::Store;
use alistach_webhooks::HttpWebhookSender;

/// The lease that names the instance that notifies.
pub const ALERTS_LEASE: &str = "alerts";

/// Where notifications go besides the outbox.
pub struct Slack {
    /// The sender (its SSRF guard and timeout).
    pub sender: HttpWebhookSender,
    /// The incoming-webhook URL (a secret: it carries the token).
    pub url: Secret,
}

/// What the task needs.
pub struct AlertTask {
    /// The application the snapshot is read from.
    pub app: Arc<App>,
    /// The engine (shared with `GET /api/admin/alerts`).
    pub alerts: Arc<Alerts>,
    /// The outbox and the lease.
    pub store: Arc<dyn Store>,
    /// This instance's name, as lease holder.
    pub instance: String,
    /// Slack, when configured.
    pub slack: Option<Slack>,
    /// Events the outbox did not take (the database was down): published with the next
    /// evaluation's, so a transition is not lost to a passing database failure.
    pub unpublished: std::sync::Mutex<Vec<alistach_store::Event>>,
}

/// The most events kept for a later publication while the database fails.
const MAX_UNPUBLISHED: usize = 1_000;

impl AlertTask {
    /// Evaluates every interval until `stop` completes.
    pub async fn run(self, stop: impl Future<Output = ()>) {
        let interval = self.alerts.interval();
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => return,
                _ = ticks.tick() => {}
            }
            self.evaluate_once(interval).await;
        }
    }

    /// Keeps events for the next publication, the newest [`MAX_UNPUBLISHED`] at most.
    fn keep(&self, mut events: Vec<alistach_store::Event>) {
        if events.len() > MAX_UNPUBLISHED {
            let dropped = events.len() - MAX_UNPUBLISHED;
            tracing::warn!(
                dropped,
                "alerts: too many unpublished events; the oldest are dropped"
            );
            events.drain(..dropped);
        }
        *self
            .unpublished
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = events;
    }

    async fn evaluate_once(&self, interval: Duration) {
        let snapshot = self.app.alert_snapshot().await;
        let transitions = self.alerts.evaluate(snapshot);
        let holder = match self
            .store
            .try_acquire_lease(ALERTS_LEASE, &self.instance, interval * 3)
            .await
        {
            Ok(held) => held,
            Err(e) => {
                tracing::warn!(error = %e, "alerts: cannot take the notification lease");
                false
            }
        };
        for t in &transitions {
            tracing::warn!(
                rule = t.rule.name(),
                state = t.state.as_str(),
                notifies = holder,
                "{}",
                t.summary
            );
        }
        let mut events: Vec<_> = std::mem::take(
            &mut *self
                .unpublished
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        events.extend(transitions.iter().map(event));
        if !holder || events.is_empty() {
            // Another instance notifies (from its own evaluation).
            return;
        }
        if let Err(e) = self.store.publish(&events, now_ms()).await {
            tracing::warn!(
                error = %e,
                events = events.len(),
                "alerts: the webhook events were not published; retrying at the next evaluation"
            );
            self.keep(events);
        }
        if let Some(slack) = &self.slack {
            for t in &transitions {
                let body = serde_json::json!({ "text": slack_text(t) }).to_string();
                match slack
                    .sender
                    .post_json(slack.url.expose(), body.as_bytes())
                    .await
                {
                    Ok(status) if (200..300).contains(&status) => {}
                    // Neither the URL nor its token is logged.
                    Ok(status) => tracing::warn!(status, "alerts: Slack refused the message"),
                    Err(e) => tracing::warn!(error = %e, "alerts: Slack was not reached"),
                }
            }
        }
    }
}

/// The webhook event of a transition: `alert.firing` or `alert.resolved`, data
/// `{rule, state, summary, since}`.
pub fn event(t: &AlertTransition) -> alistach_store::Event {
    let event_type = if t.state == AlertState::Firing {
        "alert.firing"
    } else {
        "alert.resolved"
    };
    alistach_store::event(
        t.event_id(),
        // Alerts are the deployment's: the default tenant's endpoints receive them.
        alistach_domain::TenantId::default_tenant(),
        event_type,
        t.since_ms,
        serde_json::json!({
            "rule": t.rule.name(),
            "state": t.state.as_str(),
            "summary": t.summary,
            "since": platform_time::rfc3339(t.since_ms),
        }),
    )
}

fn slack_text(t: &AlertTransition) -> String {
    let head = if t.state == AlertState::Firing {
        ":rotating_light: AliStach alert FIRING"
    } else {
        ":white_check_mark: AliStach alert RESOLVED"
    };
    format!(
        "{head}: {} since {}\n{}",
        t.rule.name(),
        platform_time::rfc3339(t.since_ms),
        t.summary
    )
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alistach_service::AlertRule;

    #[test]
    fn events_carry_the_rule_and_a_per_episode_id() {
        let t = AlertTransition {
            rule: AlertRule::RedisDown,
            state: AlertState::Firing,
            episode_ms: 1_000,
            since_ms: 121_000,
            summary: "redis_down firing".to_owned(),
        };
        let e = event(&t);
        assert_eq!(e.event_type, "alert.firing");
        assert_eq!(e.id, "alert:redis_down:1000:firing");
        let payload: serde_json::Value = serde_json::from_str(&e.payload).unwrap();
        assert_eq!(payload["data"]["rule"], "redis_down");
        assert_eq!(payload["data"]["state"], "firing");
        assert!(payload["data"]["since"].is_string());
        let resolved = event(&AlertTransition {
            state: AlertState::Resolved,
            ..t.clone()
        });
        assert_eq!(resolved.event_type, "alert.resolved");
        assert_ne!(resolved.id, e.id);
        assert!(slack_text(&t).contains("FIRING"));
    }
}
