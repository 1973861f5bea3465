//! Keeps what the adaptive cache policy learned in the durable store: restored at start, saved
//! every interval and at shutdown, merged with what other instances on the same database saved
//! (see [`alistach_cache::Learner::import`]), so learned TTLs survive restarts and are shared.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use alistach_cache::Learner;
use alistach_cache::adaptive::LearnedSnapshot;
use alistach_store::{CacheLearningStore, StoreError};

/// The most keys one snapshot holds (the most requested).
pub const SNAPSHOT_KEYS: usize = 50_000;

/// The job that saves and restores one learner's state.
pub struct CacheLearningSync {
    learner: Arc<Learner>,
    store: Arc<dyn CacheLearningStore>,
    name: String,
    interval: Duration,
}

impl std::fmt::Debug for CacheLearningSync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheLearningSync")
            .field("name", &self.name)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

impl CacheLearningSync {
    /// Saves `learner` under `name` (one per cache key scope) every `interval`.
    pub fn new(
        learner: Arc<Learner>,
        store: Arc<dyn CacheLearningStore>,
        name: impl Into<String>,
        interval: Duration,
    ) -> Self {
        CacheLearningSync {
            learner,
            store,
            name: name.into(),
            interval,
        }
    }

    /// Merges the saved snapshot into the learner; returns how many keys it held (0 when none
    /// was saved, or it was unreadable: learning starts afresh).
    pub async fn restore(&self) -> Result<usize, StoreError> {
        let Some(bytes) = self.store.load_cache_learning(&self.name).await? else {
            return Ok(0);
        };
        match LearnedSnapshot::decode(&bytes) {
            Some(snapshot) => {
                self.learner.import(&snapshot);
                Ok(snapshot.keys.len())
            }
            None => {
                tracing::warn!(name = %self.name, "the saved cache learning is unreadable; starting afresh");
                Ok(0)
            }
        }
    }

    /// Merges what others saved, then saves the merged state (the most requested keys).
    pub async fn save(&self) -> Result<usize, StoreError> {
        self.restore().await?;
        let snapshot = self.learner.export(SNAPSHOT_KEYS);
        self.store
            .save_cache_learning(&self.name, &snapshot.encode())
            .await?;
        Ok(snapshot.keys.len())
    }

    /// Saves every interval until `shutdown`, then once more.
    pub async fn run(self: Arc<Self>, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut ticks = tokio::time::interval(self.interval);
        ticks.tick().await;
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                _ = ticks.tick() => {
                    if let Err(e) = self.save().await {
                        tracing::warn!(error = %e, "the cache learning was not saved; retrying next interval");
                    }
                }
            }
        }
        match self.save().await {
            Ok(keys) => tracing::info!(keys, "cache learning saved"),
            Err(e) => tracing::warn!(error = %e, "the cache learning was not saved at shutdown"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alistach_cache::{
        AdaptiveConfig, CacheLayer, CachePolicy, Fetched, ManualClock, MemoryCache,
        MemoryCacheConfig, ReadMode, TtlBounds,
    };
    use alistach_store::MemoryStore;

    async fn fetch(layer: &CacheLayer, value: &'static str) {
        let policy = CachePolicy {
            adaptive: Some(TtlBounds::new(
                Duration::from_secs(60),
                Duration::from_secs(86_400),
            )),
            ..CachePolicy::with_ttl(Duration::from_secs(3600))
        };
        layer
            .get_or_fetch_with(
                "products:real:x:k",
                &policy,
                ReadMode::Bypass,
                |_: &std::convert::Infallible| false,
                move || async move { Ok(Fetched::cacheable(value)) },
            )
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn state_saved_by_one_learner_is_restored_by_another() {
        let store: Arc<dyn CacheLearningStore> = Arc::new(MemoryStore::new());
        let clock = Arc::new(ManualClock::new(1_000_000));
        let first = Arc::new(Learner::new(AdaptiveConfig::default(), clock.clone(), None));
        let cache =
            Arc::new(MemoryCache::new(MemoryCacheConfig::default(), clock.clone()).unwrap());
        let layer = CacheLayer::with_learner(cache, clock.clone(), first.clone());
        let sync = CacheLearningSync::new(
            first.clone(),
            store.clone(),
            "cache:x",
            Duration::from_secs(60),
        );
        assert_eq!(sync.restore().await.unwrap(), 0);
        fetch(&layer, "v1").await;
        clock.advance(Duration::from_secs(7200));
        fetch(&layer, "v2").await;
        assert_eq!(first.stats().changes_observed, 1);
        assert_eq!(sync.save().await.unwrap(), 1);

        let second = Arc::new(Learner::new(AdaptiveConfig::default(), clock.clone(), None));
        let restored =
            CacheLearningSync::new(second.clone(), store, "cache:x", Duration::from_secs(60));
        assert_eq!(restored.restore().await.unwrap(), 1);
        assert_eq!(second.export(10), first.export(10));
        // The restored fingerprint is what the next fetch is compared with.
        let cache =
            Arc::new(MemoryCache::new(MemoryCacheConfig::default(), clock.clone()).unwrap());
        let layer = CacheLayer::with_learner(cache, clock.clone(), second.clone());
        clock.advance(Duration::from_secs(7200));
        fetch(&layer, "v2").await;
        assert_eq!(
            (second.stats().observations, second.stats().changes_observed),
            (1, 0)
        );
    }
}
