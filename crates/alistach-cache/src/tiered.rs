//! Tiering: a fast local cache in front of a shared one (memory in front of Redis), so several
//! instances share one store while each keeps a hot local copy, and the shared tier's failures
//! degrade to misses instead of errors.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;

use crate::{Cache, CacheError, Entry, SharedClock, TierHealth, TierStats};

/// Two caches read front first; writes go to both.
pub struct TieredCache {
    front: Arc<dyn Cache>,
    back: Arc<dyn Cache>,
    clock: SharedClock,
    back_failures: AtomicU64,
}

impl std::fmt::Debug for TieredCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TieredCache")
            .field("back_failures", &self.back_failures())
            .finish_non_exhaustive()
    }
}

impl TieredCache {
    /// `front` (usually a [`crate::MemoryCache`]) in front of `back` (usually Redis); `clock`
    /// decides whether a front entry is fresh enough to skip the back tier.
    pub fn new(front: Arc<dyn Cache>, back: Arc<dyn Cache>, clock: SharedClock) -> Self {
        TieredCache {
            front,
            back,
            clock,
            back_failures: AtomicU64::new(0),
        }
    }

    /// Back-tier failures absorbed so far (reads and writes that fell back to the front only).
    pub fn back_failures(&self) -> u64 {
        self.back_failures.load(Ordering::Relaxed)
    }

    /// The back tier reports (and logs) its own failures; here they only count.
    fn absorb(&self, _err: &CacheError) {
        self.back_failures.fetch_add(1, Ordering::Relaxed);
    }
}

#[async_trait]
impl Cache for TieredCache {
    async fn get(&self, key: &str) -> Result<Option<Entry>, CacheError> {
        let now = self.clock.now_ms();
        // A front failure is as good as a miss: the back tier may still answer.
        let front = self.front.get(key).await.unwrap_or(None);
        if let Some(entry) = &front
            && entry.is_fresh(now)
        {
            return Ok(front);
        }
        // Missing or stale locally: another instance may have refreshed the shared copy.
        let back = match self.back.get(key).await {
            Ok(back) => back,
            Err(err) => {
                self.absorb(&err);
                return Ok(front);
            }
        };
        match (front, back) {
            (Some(local), Some(shared)) if local.fresh_until_ms >= shared.fresh_until_ms => {
                Ok(Some(local))
            }
            (_, Some(shared)) => {
                // Best effort: the value is served either way.
                let _ = self.front.put(key, shared.clone()).await;
                Ok(Some(shared))
            }
            (local, None) => Ok(local),
        }
    }

    async fn put(&self, key: &str, entry: Entry) -> Result<(), CacheError> {
        let front = self.front.put(key, entry.clone()).await;
        if let Err(err) = self.back.put(key, entry).await {
            self.absorb(&err);
        }
        front
    }

    async fn clear_prefix(&self, prefix: &str) -> Result<u64, CacheError> {
        let front = self.front.clear_prefix(prefix).await;
        // A clear that silently skipped the shared tier would leave other instances serving
        // what the operator meant to remove, so a back failure is reported.
        let back = self.back.clear_prefix(prefix).await?;
        // The tiers hold copies of the same entries: the larger count is the number of keys.
        Ok(back.max(front?))
    }

    async fn stats(&self) -> Vec<TierStats> {
        let mut stats = self.front.stats().await;
        stats.extend(self.back.stats().await);
        stats
    }

    async fn health(&self) -> Vec<TierHealth> {
        let mut health = self.front.health().await;
        health.extend(self.back.health().await);
        health
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ManualClock, MemoryCache, MemoryCacheConfig};
    use bytes::Bytes;
    use std::sync::atomic::AtomicBool;

    const START: u64 = 1_700_000_000_000;

    /// A back tier that can be switched off, standing in for an unreachable Redis.
    struct Flaky {
        inner: MemoryCache,
        down: AtomicBool,
    }

    impl Flaky {
        fn check(&self) -> Result<(), CacheError> {
            if self.down.load(Ordering::SeqCst) {
                Err(CacheError {
                    backend: "flaky",
                    reason: "down".into(),
                })
            } else {
                Ok(())
            }
        }
    }

    #[async_trait]
    impl Cache for Flaky {
        async fn get(&self, key: &str) -> Result<Option<Entry>, CacheError> {
            self.check()?;
            self.inner.get(key).await
        }
        async fn put(&self, key: &str, entry: Entry) -> Result<(), CacheError> {
            self.check()?;
            self.inner.put(key, entry).await
        }
        async fn clear_prefix(&self, prefix: &str) -> Result<u64, CacheError> {
            self.check()?;
            self.inner.clear_prefix(prefix).await
        }
        async fn stats(&self) -> Vec<TierStats> {
            let mut s = self.inner.stats().await;
            s[0].name = "flaky";
            s[0].connected = !self.down.load(Ordering::SeqCst);
            s
        }
    }

    fn setup() -> (TieredCache, Arc<MemoryCache>, Arc<Flaky>, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(START));
        let front =
            Arc::new(MemoryCache::new(MemoryCacheConfig::default(), clock.clone()).unwrap());
        let back = Arc::new(Flaky {
            inner: MemoryCache::new(MemoryCacheConfig::default(), clock.clone()).unwrap(),
            down: AtomicBool::new(false),
        });
        (
            TieredCache::new(front.clone(), back.clone(), clock.clone()),
            front,
            back,
            clock,
        )
    }

    fn entry(value: &'static str, now: u64, fresh_ms: u64) -> Entry {
        Entry {
            value: Bytes::from_static(value.as_bytes()),
            stored_at_ms: now,
            fresh_until_ms: now + fresh_ms,
            stale_until_ms: now + fresh_ms * 10,
        }
    }

    #[tokio::test]
    async fn passes_the_conformance_suite() {
        let (tiered, _front, _back, clock) = setup();
        crate::conformance::run_all(Arc::new(tiered), clock).await;
    }

    #[tokio::test]
    async fn a_back_tier_hit_fills_the_front() {
        let (tiered, front, back, _clock) = setup();
        back.put("k", entry("shared", START, 1000)).await.unwrap();
        assert_eq!(front.get("k").await.unwrap(), None);
        assert_eq!(tiered.get("k").await.unwrap().unwrap().value, "shared");
        assert_eq!(front.get("k").await.unwrap().unwrap().value, "shared");
    }

    #[tokio::test]
    async fn a_fresher_shared_copy_replaces_a_stale_local_one() {
        let (tiered, front, back, clock) = setup();
        front.put("k", entry("old", START, 1000)).await.unwrap();
        clock.advance(std::time::Duration::from_secs(2));
        back.put("k", entry("new", START + 2000, 1000))
            .await
            .unwrap();
        assert_eq!(tiered.get("k").await.unwrap().unwrap().value, "new");
        assert_eq!(front.get("k").await.unwrap().unwrap().value, "new");
    }

    #[tokio::test]
    async fn a_failing_back_tier_degrades_to_the_front() {
        let (tiered, _front, back, _clock) = setup();
        tiered.put("k", entry("v", START, 1000)).await.unwrap();
        back.down.store(true, Ordering::SeqCst);
        assert_eq!(tiered.get("k").await.unwrap().unwrap().value, "v");
        assert_eq!(tiered.get("missing").await.unwrap(), None);
        tiered.put("k2", entry("v2", START, 1000)).await.unwrap();
        assert_eq!(tiered.get("k2").await.unwrap().unwrap().value, "v2");
        assert_eq!(
            tiered.back_failures(),
            2,
            "the fresh hit never touched the back tier; the miss and the put did"
        );
        let stats = tiered.stats().await;
        assert_eq!(
            stats.iter().map(|s| s.name).collect::<Vec<_>>(),
            ["memory", "flaky"]
        );
        assert!(!stats[1].connected);
        let health = tiered.health().await;
        assert_eq!(
            health,
            [
                TierHealth {
                    name: "memory",
                    connected: true
                },
                TierHealth {
                    name: "flaky",
                    connected: false
                }
            ]
        );
        // Clearing must not pretend it reached the shared tier.
        assert!(tiered.clear_prefix("").await.is_err());
    }
}
