//! A circuit breaker for one Redis: after a failure, calls are refused without touching the
//! network for a cool-down; then a single probe call is let through, and its outcome closes the
//! circuit or opens it again. So an outage costs one short timeout per cool-down, not one per
//! request, and a Redis that comes back is used again without a restart.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Closed,
    Open {
        until: Instant,
    },
    /// One caller is probing; if it never reports (its future was dropped), another may probe
    /// after `stale_after`.
    Probing {
        stale_after: Instant,
    },
}

/// Whether a call may go to Redis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Permit {
    /// Go ahead.
    Pass,
    /// Go ahead: this call decides whether the circuit closes again.
    Probe,
}

pub(crate) struct Circuit {
    state: Mutex<State>,
    cooldown: Duration,
    probe_limit: Duration,
    connected: AtomicBool,
}

impl Circuit {
    /// `probe_limit` bounds how long one probe may take before another is allowed.
    pub(crate) fn new(cooldown: Duration, probe_limit: Duration) -> Self {
        Circuit {
            state: Mutex::new(State::Closed),
            cooldown,
            probe_limit,
            connected: AtomicBool::new(true),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// `None` while the circuit is open: do not call Redis.
    pub(crate) fn permit(&self) -> Option<Permit> {
        let now = Instant::now();
        let mut state = self.state();
        match *state {
            State::Closed => Some(Permit::Pass),
            State::Open { until } | State::Probing { stale_after: until } if now < until => None,
            State::Open { .. } | State::Probing { .. } => {
                *state = State::Probing {
                    stale_after: now + self.probe_limit,
                };
                Some(Permit::Probe)
            }
        }
    }

    /// Records a call that reached Redis; true when this closed an open circuit.
    pub(crate) fn succeeded(&self) -> bool {
        self.connected.store(true, Ordering::Relaxed);
        let mut state = self.state();
        let reopened = *state != State::Closed;
        *state = State::Closed;
        reopened
    }

    /// Records a failed call; true when this opened a closed circuit.
    pub(crate) fn failed(&self) -> bool {
        self.connected.store(false, Ordering::Relaxed);
        let mut state = self.state();
        let opened = *state == State::Closed;
        *state = State::Open {
            until: Instant::now() + self.cooldown,
        };
        opened
    }

    /// The last call's outcome.
    pub(crate) fn connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn opens_on_failure_probes_after_the_cooldown_and_closes_on_success() {
        let circuit = Circuit::new(Duration::from_secs(2), Duration::from_secs(1));
        assert_eq!(circuit.permit(), Some(Permit::Pass));
        assert!(circuit.failed(), "the first failure opens it");
        assert!(!circuit.connected());
        assert_eq!(circuit.permit(), None);
        tokio::time::advance(Duration::from_millis(1999)).await;
        assert_eq!(circuit.permit(), None);
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(circuit.permit(), Some(Permit::Probe));
        assert_eq!(circuit.permit(), None, "only one probe at a time");
        assert!(!circuit.failed(), "a failed probe keeps it open");
        assert_eq!(circuit.permit(), None);
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(circuit.permit(), Some(Permit::Probe));
        assert!(circuit.succeeded());
        assert!(circuit.connected());
        assert_eq!(circuit.permit(), Some(Permit::Pass));
        assert!(!circuit.succeeded());
    }

    #[tokio::test(start_paused = true)]
    async fn a_probe_that_never_reports_is_replaced() {
        let circuit = Circuit::new(Duration::from_secs(2), Duration::from_secs(1));
        circuit.failed();
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(circuit.permit(), Some(Permit::Probe));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(circuit.permit(), Some(Permit::Probe));
    }
}
