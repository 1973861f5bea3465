//! The built-in alerts as the HTTP adapter holds them: the engine behind a lock. The snapshot
//! (gathered from the same sources `/metrics` reads) and `GET /api/admin/alerts` are in
//! `routes/alerts.rs`.

use std::sync::Mutex;
use std::time::Duration;

use alistach_service::{AlertConfig, AlertEngine, AlertSnapshot, AlertTransition, RuleReport};

/// The alert engine of this instance and how often it is evaluated.
#[derive(Debug)]
pub struct Alerts {
    engine: Mutex<AlertEngine>,
    interval: Duration,
}

impl Alerts {
    /// Alerts evaluated every `interval` (by the caller) with `config`.
    pub fn new(config: AlertConfig, interval: Duration) -> Self {
        Alerts {
            engine: Mutex::new(AlertEngine::new(config)),
            interval,
        }
    }

    /// How often the caller evaluates.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Evaluates the rules on `snapshot`: the notifications due.
    pub fn evaluate(&self, snapshot: AlertSnapshot) -> Vec<AlertTransition> {
        self.lock().evaluate(snapshot)
    }

    /// Every rule's state.
    pub fn report(&self) -> Vec<RuleReport> {
        self.lock().report()
    }

    pub(crate) fn config(&self) -> AlertConfig {
        self.lock().config().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, AlertEngine> {
        // The engine holds no invariant a panic could break halfway: keep using it.
        self.engine
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
