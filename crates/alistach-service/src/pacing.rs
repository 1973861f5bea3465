//! The one outbound limiter: the policy crate's GCRA with a single quota of one attempt per
//! `1 / max_qps` seconds, which spaces HTTP attempts to the upstream evenly.

use std::sync::Mutex;
use std::time::Duration;

use alistach_domain::{LOCAL_QUOTA_CODE, Pacer, UpstreamError};
use alistach_policy::{Quota, gcra_apply};
use async_trait::async_trait;
use tokio::time::Instant;

/// Paces outbound attempts at most `max_qps` a second, evenly spaced (no burst). An attempt
/// waits for its turn when the turn comes within both the call's remaining deadline and
/// `max_wait`; otherwise it is refused at once and reserves nothing. Time is tokio's, so tests
/// can pause it.
#[derive(Debug)]
pub struct OutboundLimiter {
    quota: [Quota; 1],
    max_qps: u32,
    max_wait: Duration,
    epoch: Instant,
    /// The GCRA's theoretical arrival time, in microseconds since `epoch`.
    tat: Mutex<[u64; 1]>,
}

impl OutboundLimiter {
    /// A limiter of `max_qps` attempts a second (0 counts as 1), waiting at most `max_wait`.
    pub fn new(max_qps: u32, max_wait: Duration) -> Self {
        let max_qps = max_qps.max(1);
        OutboundLimiter {
            quota: [Quota {
                count: 1,
                period: Duration::from_secs(1) / max_qps,
            }],
            max_qps,
            max_wait,
            epoch: Instant::now(),
            tat: Mutex::new([0]),
        }
    }

    fn now_us(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// True when an attempt made now would leave at once (no turn is reserved ahead of it):
    /// background work asks this before starting, so it never takes a turn a user's call
    /// would have to wait behind. Takes nothing.
    pub fn has_turn_now(&self) -> bool {
        let now = self.now_us();
        let tat = self.tat.lock().unwrap_or_else(|e| e.into_inner());
        tat[0] <= now
    }
}

#[async_trait]
impl Pacer for OutboundLimiter {
    async fn pace(&self, within: Duration) -> Result<(), UpstreamError> {
        let budget = within.min(self.max_wait);
        let now = self.now_us();
        let turn = {
            // The schedule stays consistent between statements, so a poisoned lock is usable.
            let mut tat = self.tat.lock().unwrap_or_else(|e| e.into_inner());
            let decision = gcra_apply(&self.quota, &mut *tat, now);
            if decision.allowed {
                return Ok(());
            }
            let wait = decision.retry_after.unwrap_or_default();
            if wait > budget {
                return Err(UpstreamError::RateLimited {
                    retry_after: Some(wait),
                    code: LOCAL_QUOTA_CODE.into(),
                    message: format!(
                        "the outbound limit of {} upstream calls per second is reached",
                        self.max_qps
                    ),
                });
            }
            // Reserve the turn: the same GCRA step, taken at the instant the attempt will leave.
            let at = now.saturating_add(u64::try_from(wait.as_micros()).unwrap_or(u64::MAX));
            gcra_apply(&self.quota, &mut *tat, at);
            at
        };
        tokio::time::sleep_until(self.epoch + Duration::from_micros(turn)).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn turns_are_evenly_spaced_and_late_turns_are_refused_without_reserving() {
        let limiter = OutboundLimiter::new(4, Duration::from_secs(1));
        let start = Instant::now();
        for i in 0..4u32 {
            limiter.pace(Duration::from_secs(5)).await.unwrap();
            assert_eq!(start.elapsed(), Duration::from_millis(250) * i);
        }
        // The next turn is 250 ms away: too late for a 100 ms budget, and nothing is reserved.
        let refused = limiter.pace(Duration::from_millis(100)).await.unwrap_err();
        assert!(refused.is_local_quota(), "{refused:?}");
        assert_eq!(refused.retry_after(), Some(Duration::from_millis(250)));
        let before = Instant::now();
        limiter.pace(Duration::from_secs(5)).await.unwrap();
        assert_eq!(before.elapsed(), Duration::from_millis(250));
    }

    #[tokio::test(start_paused = true)]
    async fn a_turn_is_free_only_when_nobody_waits() {
        let limiter = OutboundLimiter::new(2, Duration::from_secs(5));
        assert!(limiter.has_turn_now());
        limiter.pace(Duration::from_secs(5)).await.unwrap();
        assert!(!limiter.has_turn_now(), "the next turn is 500 ms away");
        tokio::time::advance(Duration::from_millis(500)).await;
        assert!(limiter.has_turn_now());
    }

    #[tokio::test(start_paused = true)]
    async fn max_wait_caps_the_wait_whatever_the_deadline() {
        let limiter = OutboundLimiter::new(1, Duration::from_millis(500));
        limiter.pace(Duration::from_secs(60)).await.unwrap();
        let refused = limiter.pace(Duration::from_secs(60)).await.unwrap_err();
        assert!(refused.is_local_quota());
    }
}
