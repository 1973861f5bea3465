//! Keeps what the adaptive cache policy learned in the durable store and, with Redis, in the
//! shared cache tier: restored at start, saved every interval and at shutdown, merged with what
//! other instances saved (see [`alistach_cache::Learner::import`]), so learned TTLs survive
//! restarts and are shared by every instance on the same database or Redis.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use alistach_cache::adaptive::LearnedSnapshot;
use alistach_cache::{Cache, Entry, Learner, SharedClock};
use alistach_store::{CacheLearningStore, StoreError};
use async_trait::async_trait;

/// The most keys one snapshot holds (the most requested).
pub const SNAPSHOT_KEYS: usize = 50_000;

/// How long a snapshot kept in a cache tier lives without being saved again.
const SHARED_SNAPSHOT_LIFE: Duration = Duration::from_secs(30 * 24 * 3600);

/// Snapshots kept as entries of a [`Cache`] (the Redis tier, shared by every instance on it),
/// under `learning:{name}`, so no cache kind's clearing touches them.
pub struct CacheTierLearning {
    cache: Arc<dyn Cache>,
    clock: SharedClock,
}

impl CacheTierLearning {
    /// Snapshots in `cache`, timed by `clock`.
    pub fn new(cache: Arc<dyn Cache>, clock: SharedClock) -> Self {
        CacheTierLearning { cache, clock }
    }
}

#[async_trait]
impl CacheLearningStore for CacheTierLearning {
    async fn load_cache_learning(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let entry = self
            .cache
            .get(&format!("learning:{name}"))
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(entry.map(|e| e.value.to_vec()))
    }

    async fn save_cache_learning(&self, name: &str, snapshot: &[u8]) -> Result<(), StoreError> {
        alistach_store::check_cache_learning_size(snapshot)?;
        let now = self.clock.now_ms();
        let until =
            now.saturating_add(u64::try_from(SHARED_SNAPSHOT_LIFE.as_millis()).unwrap_or(u64::MAX));
        let entry = Entry {
            value: snapshot.to_vec().into(),
            stored_at_ms: now,
            fresh_until_ms: until,
            stale_until_ms: until,
        };
        self.cache
            .put(&format!("learning:{name}"), entry)
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }
}

/// The job that saves and restores one learner's state.
pub struct CacheLearningSync {
    learner: Arc<Learner>,
    store: Arc<dyn CacheLearningStore>,
    shared: Option<Arc<dyn CacheLearningStore>>,
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
            shared: None,
            name: name.into(),
            interval,
        }
    }

    /// Also restores from and saves to `shared` (the Redis tier), so instances that share
    /// Redis but not a database share what they learn.
    pub fn with_shared(mut self, shared: Arc<dyn CacheLearningStore>) -> Self {
        self.shared = Some(shared);
        self
    }

    fn stores(&self) -> impl Iterator<Item = &Arc<dyn CacheLearningStore>> {
        std::iter::once(&self.store).chain(self.shared.as_ref())
    }

    /// Merges the saved snapshots into the learner; returns the most keys one held (0 when
    /// none was saved, or it was unreadable: learning starts afresh). Fails only when no store
    /// answered.
    pub async fn restore(&self) -> Result<usize, StoreError> {
        let (mut most, mut failure, mut answered) = (0, None, false);
        for store in self.stores() {
            match store.load_cache_learning(&self.name).await {
                Ok(Some(bytes)) => {
                    answered = true;
                    match LearnedSnapshot::decode(&bytes) {
                        Some(snapshot) => {
                            self.learner.import(&snapshot);
                            most = most.max(snapshot.keys.len());
                        }
                        None => {
                            tracing::warn!(name = %self.name, "a saved cache learning is unreadable; ignoring it")
                        }
                    }
                }
                Ok(None) => answered = true,
                Err(e) => failure = Some(e),
            }
        }
        match failure {
            Some(e) if !answered => Err(e),
            _ => Ok(most),
        }
    }

    /// Merges what others saved, then saves the merged state (the most requested keys) to
    /// every store; fails only when none took it.
    pub async fn save(&self) -> Result<usize, StoreError> {
        self.restore().await?;
        let snapshot = self.learner.export(SNAPSHOT_KEYS);
        let bytes = snapshot.encode();
        let (mut saved, mut failure) = (false, None);
        for store in self.stores() {
            match store.save_cache_learning(&self.name, &bytes).await {
                Ok(()) => saved = true,
                Err(e) => failure = Some(e),
            }
        }
        match failure {
            Some(e) if !saved => Err(e),
            Some(e) => {
                tracing::warn!(error = %e, "the cache learning was saved, but not to every store");
                Ok(snapshot.keys.len())
            }
            None => Ok(snapshot.keys.len()),
        }
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

    #[tokio::test]
    async fn a_shared_cache_tier_carries_state_between_instances_without_a_common_database() {
        let clock = Arc::new(ManualClock::new(1_000_000));
        let shared_cache: Arc<dyn Cache> =
            Arc::new(MemoryCache::new(MemoryCacheConfig::default(), clock.clone()).unwrap());
        let shared: Arc<dyn CacheLearningStore> =
            Arc::new(CacheTierLearning::new(shared_cache.clone(), clock.clone()));
        let learner = |store: Arc<dyn CacheLearningStore>| {
            let l = Arc::new(Learner::new(AdaptiveConfig::default(), clock.clone(), None));
            let sync = CacheLearningSync::new(l.clone(), store, "cache:x", Duration::from_secs(60))
                .with_shared(shared.clone());
            (l, sync)
        };
        let (first, sync) = learner(Arc::new(MemoryStore::new()));
        let cache =
            Arc::new(MemoryCache::new(MemoryCacheConfig::default(), clock.clone()).unwrap());
        let layer = CacheLayer::with_learner(cache, clock.clone(), first.clone());
        fetch(&layer, "v1").await;
        assert_eq!(sync.save().await.unwrap(), 1);
        assert!(
            shared_cache
                .get("learning:cache:x")
                .await
                .unwrap()
                .is_some()
        );
        let (second, sync) = learner(Arc::new(MemoryStore::new()));
        assert_eq!(sync.restore().await.unwrap(), 1);
        assert_eq!(second.export(10), first.export(10));
    }
}
