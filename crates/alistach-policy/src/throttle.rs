//! Throttling of failed authentications per client address, so keys cannot be guessed at line
//! rate: once an address has spent its budget of failures, its key attempts are refused (429)
//! without being checked until the budget refills.

use std::time::Duration;

use crate::{MemoryRateLimitStore, Quota};

/// A GCRA budget of failed authentications per client, in process memory (bounded).
pub struct AuthThrottle {
    quotas: [Quota; 1],
    store: MemoryRateLimitStore,
}

impl std::fmt::Debug for AuthThrottle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthThrottle")
            .field("failures_per_minute", &self.quotas[0].count)
            .finish_non_exhaustive()
    }
}

impl AuthThrottle {
    /// Allows `per_minute` failed attempts per client and minute (a burst of as many).
    pub fn per_minute(per_minute: u32) -> Self {
        Self::with_store(per_minute, MemoryRateLimitStore::new(100_000))
    }

    /// With an explicit store (an injected clock, in tests).
    pub fn with_store(per_minute: u32, store: MemoryRateLimitStore) -> Self {
        AuthThrottle {
            quotas: [Quota::per_minute(per_minute.max(1))],
            store,
        }
    }

    /// When `client` has no failures left: how long until it may try again. Checking counts
    /// nothing.
    pub fn blocked(&self, client: &str) -> Option<Duration> {
        let d = self.store.peek_now(client, &self.quotas);
        (!d.allowed).then(|| d.retry_after.unwrap_or(Duration::from_secs(1)))
    }

    /// Counts one failed attempt by `client`.
    pub fn failed(&self, client: &str) {
        let _ = self.store.check_now(client, &self.quotas);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MicrosClock;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    struct Manual(Arc<AtomicU64>);
    impl MicrosClock for Manual {
        fn now_us(&self) -> u64 {
            self.0.load(Ordering::SeqCst)
        }
    }

    #[test]
    fn a_spent_budget_blocks_until_it_refills() {
        let now = Arc::new(AtomicU64::new(1_000_000_000));
        let t = AuthThrottle::with_store(
            3,
            MemoryRateLimitStore::with_clock(16, Box::new(Manual(now.clone()))),
        );
        for _ in 0..3 {
            assert_eq!(t.blocked("ip:1.1.1.1"), None);
            t.failed("ip:1.1.1.1");
        }
        let wait = t
            .blocked("ip:1.1.1.1")
            .expect("blocked after three failures");
        assert!(wait <= Duration::from_secs(20), "{wait:?}");
        // Peeking spends nothing, and other clients are unaffected.
        assert!(t.blocked("ip:1.1.1.1").is_some());
        assert_eq!(t.blocked("ip:2.2.2.2"), None);
        now.fetch_add(wait.as_micros() as u64, Ordering::SeqCst);
        assert_eq!(t.blocked("ip:1.1.1.1"), None);
    }
}
