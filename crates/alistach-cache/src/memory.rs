//! The in-process backend: a quick_cache store bounded by bytes and by item count, with each
//! entry's expiry kept beside its value so no background sweeper is needed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use quick_cache::sync::Cache as QuickCache;
use quick_cache::{DefaultHashBuilder, Lifecycle, OptionsBuilder, Weighter};

use crate::{Cache, CacheError, Entry, SharedClock, TierStats};

/// Charged per entry on top of key and value bytes, so a flood of tiny entries still counts
/// against the budget (the entry struct, the key's heap header, the map slot).
const PER_ENTRY_OVERHEAD: u64 = 64;

/// The smallest shard worth having: below this one large response would not fit in a shard.
const MIN_SHARD_BYTES: u64 = 256 * 1024;

/// quick_cache halves its shard count below this many items per shard; we pick the count
/// ourselves so the per-shard byte budgets add up to no more than the configured total.
const MIN_SHARD_ITEMS: usize = 32;

const MAX_SHARDS: usize = 16;

/// Limits of a [`MemoryCache`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryCacheConfig {
    /// Budget for keys, values and per-entry overhead, in bytes (default 64 MiB).
    pub max_bytes: u64,
    /// Most entries held at once (`MAX_MEMORY_CACHE_ITEMS`; default 10 000).
    pub max_items: usize,
}

impl Default for MemoryCacheConfig {
    fn default() -> Self {
        MemoryCacheConfig {
            max_bytes: 64 * 1024 * 1024,
            max_items: 10_000,
        }
    }
}

impl MemoryCacheConfig {
    fn validate(&self) -> Result<(), CacheError> {
        let fail = |reason: String| {
            Err(CacheError {
                backend: "memory",
                reason,
            })
        };
        if self.max_items == 0 {
            return fail("max_items must be at least 1".into());
        }
        if self.max_bytes < PER_ENTRY_OVERHEAD * 2 {
            return fail(format!(
                "max_bytes must be at least {} bytes, got {}",
                PER_ENTRY_OVERHEAD * 2,
                self.max_bytes
            ));
        }
        Ok(())
    }
}

/// One stored entry; dropping it (eviction, removal, replacement) gives its bytes back to the
/// gauge, which keeps the `bytes` figure exact without hooking every quick_cache path.
struct Stored {
    entry: Entry,
    bytes: u64,
    gauge: Arc<AtomicU64>,
}

impl Stored {
    fn new(key: &str, entry: Entry, gauge: &Arc<AtomicU64>) -> Arc<Stored> {
        let bytes = key.len() as u64 + entry.value.len() as u64 + PER_ENTRY_OVERHEAD;
        gauge.fetch_add(bytes, Ordering::Relaxed);
        Arc::new(Stored {
            entry,
            bytes,
            gauge: Arc::clone(gauge),
        })
    }
}

impl Drop for Stored {
    fn drop(&mut self) {
        self.gauge.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

/// Weighs an entry by its bytes, but never below `floor`: with `floor = shard budget / shard
/// item cap`, a full shard holds at most its share of `max_items`, so one weight enforces both
/// limits (small entries are then bounded by count, large ones by bytes).
#[derive(Clone)]
struct ByteWeighter {
    floor: u64,
}

impl Weighter<String, Arc<Stored>> for ByteWeighter {
    fn weight(&self, _key: &String, val: &Arc<Stored>) -> u64 {
        val.bytes.max(self.floor)
    }
}

/// Counts entries pushed out for space (and oversized entries refused).
#[derive(Clone, Default)]
struct CountEvictions(Arc<AtomicU64>);

impl Lifecycle<String, Arc<Stored>> for CountEvictions {
    type RequestState = ();

    fn begin_request(&self) -> Self::RequestState {}

    fn on_evict(&self, _state: &mut (), _key: String, _val: Arc<Stored>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

type Store = QuickCache<String, Arc<Stored>, ByteWeighter, DefaultHashBuilder, CountEvictions>;

/// The in-process cache: values are the ready-to-send bytes, so a hit is a reference-count bump.
pub struct MemoryCache {
    store: Store,
    clock: SharedClock,
    config: MemoryCacheConfig,
    gauge: Arc<AtomicU64>,
    evictions: Arc<AtomicU64>,
    hits: AtomicU64,
    misses: AtomicU64,
    sets: AtomicU64,
}

impl std::fmt::Debug for MemoryCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryCache")
            .field("config", &self.config)
            .field("entries", &self.store.len())
            .field("bytes", &self.gauge.load(Ordering::Relaxed))
            .finish()
    }
}

impl MemoryCache {
    /// A cache within `config`'s limits; expiry is judged by `clock`.
    pub fn new(config: MemoryCacheConfig, clock: SharedClock) -> Result<Self, CacheError> {
        config.validate()?;
        let mut shards = MAX_SHARDS;
        while shards > 1
            && (config.max_items / shards < MIN_SHARD_ITEMS
                || config.max_bytes / (shards as u64) < MIN_SHARD_BYTES)
        {
            shards /= 2;
        }
        let shard_bytes = config.max_bytes / shards as u64;
        let shard_items = (config.max_items / shards).max(1) as u64;
        let floor = shard_bytes.div_ceil(shard_items).max(1);
        let options = OptionsBuilder::new()
            .shards(shards)
            .estimated_items_capacity(config.max_items)
            .weight_capacity(shard_bytes * shards as u64)
            .build()
            .map_err(|e| CacheError {
                backend: "memory",
                reason: format!("invalid limits: {e}"),
            })?;
        let evictions = CountEvictions::default();
        let counter = Arc::clone(&evictions.0);
        let store = QuickCache::with_options(
            options,
            ByteWeighter { floor },
            DefaultHashBuilder::default(),
            evictions,
        );
        Ok(MemoryCache {
            store,
            clock,
            config,
            gauge: Arc::new(AtomicU64::new(0)),
            evictions: counter,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            sets: AtomicU64::new(0),
        })
    }

    /// The limits this cache was built with.
    pub fn config(&self) -> MemoryCacheConfig {
        self.config
    }

    /// Entries held now (including expired ones not yet read or evicted).
    pub fn len(&self) -> usize {
        self.store.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.store.is_empty()
    }

    /// Bytes held now: keys, values and the per-entry overhead.
    pub fn bytes(&self) -> u64 {
        self.gauge.load(Ordering::Relaxed)
    }
}

#[async_trait]
impl Cache for MemoryCache {
    async fn get(&self, key: &str) -> Result<Option<Entry>, CacheError> {
        let now = self.clock.now_ms();
        match self.store.get(key) {
            Some(stored) if now < stored.entry.stale_until_ms => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                Ok(Some(stored.entry.clone()))
            }
            Some(dead) => {
                // Only this exact value: a fresh put may have replaced it since the read.
                self.store
                    .remove_if(key, |current| Arc::ptr_eq(current, &dead));
                self.misses.fetch_add(1, Ordering::Relaxed);
                Ok(None)
            }
            None => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                Ok(None)
            }
        }
    }

    async fn put(&self, key: &str, entry: Entry) -> Result<(), CacheError> {
        if self.clock.now_ms() >= entry.stale_until_ms {
            // Already unusable: storing it would only waste budget, but the old value must go.
            self.store.remove(key);
            return Ok(());
        }
        let stored = Stored::new(key, entry, &self.gauge);
        self.store.insert(key.to_owned(), stored);
        self.sets.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    async fn clear_prefix(&self, prefix: &str) -> Result<u64, CacheError> {
        let now = self.clock.now_ms();
        let removed = AtomicU64::new(0);
        self.store.retain(|key, stored| {
            if !key.starts_with(prefix) {
                return true;
            }
            // Dead entries are dropped too but not counted: no other backend would still hold them.
            if now < stored.entry.stale_until_ms {
                removed.fetch_add(1, Ordering::Relaxed);
            }
            false
        });
        Ok(removed.into_inner())
    }

    async fn stats(&self) -> Vec<TierStats> {
        vec![TierStats {
            name: "memory",
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            sets: self.sets.load(Ordering::Relaxed),
            errors: 0,
            evictions: self.evictions.load(Ordering::Relaxed),
            entries: self.store.len() as u64,
            bytes: self.bytes(),
            connected: true,
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;
    use bytes::Bytes;

    const START: u64 = 1_700_000_000_000;

    fn cache(config: MemoryCacheConfig) -> (Arc<MemoryCache>, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(START));
        (
            Arc::new(MemoryCache::new(config, clock.clone()).unwrap()),
            clock,
        )
    }

    fn entry(value: impl Into<Bytes>, now: u64) -> Entry {
        Entry {
            value: value.into(),
            stored_at_ms: now,
            fresh_until_ms: now + 60_000,
            stale_until_ms: now + 120_000,
        }
    }

    #[tokio::test]
    async fn passes_the_conformance_suite() {
        let (cache, clock) = cache(MemoryCacheConfig::default());
        crate::conformance::run_all(cache, clock).await;
    }

    #[tokio::test]
    async fn total_bytes_stay_within_the_budget() {
        let budget = 64 * 1024;
        let (cache, _clock) = cache(MemoryCacheConfig {
            max_bytes: budget,
            max_items: 100_000,
        });
        for i in 0..2_000 {
            cache
                .put(&format!("k{i}"), entry(vec![b'x'; 1024], START))
                .await
                .unwrap();
            assert!(
                cache.bytes() <= budget,
                "{} bytes held after {i} inserts, budget {budget}",
                cache.bytes()
            );
        }
        let stats = cache.stats().await.remove(0);
        assert!(stats.bytes <= budget);
        assert!(
            stats.entries >= 10,
            "the cache should still hold a working set, holds {}",
            stats.entries
        );
        assert!(stats.evictions >= 1_000, "{} evictions", stats.evictions);
        assert_eq!(
            stats.bytes,
            stats.entries * (1024 + PER_ENTRY_OVERHEAD) + digits_bytes(&cache)
        );
    }

    /// Key bytes of what is held now, to check the gauge against the contents.
    fn digits_bytes(cache: &MemoryCache) -> u64 {
        cache.store.iter().map(|(k, _)| k.len() as u64).sum()
    }

    #[tokio::test]
    async fn item_cap_is_honoured() {
        let (cache, _clock) = cache(MemoryCacheConfig {
            max_bytes: 64 * 1024 * 1024,
            max_items: 100,
        });
        for i in 0..1_000 {
            cache
                .put(&format!("k{i}"), entry("v", START))
                .await
                .unwrap();
        }
        assert!(cache.len() <= 100, "{} items held, cap 100", cache.len());
        assert!(cache.len() >= 50, "only {} items held", cache.len());
        let stats = cache.stats().await.remove(0);
        assert!(stats.evictions >= 900);
    }

    #[tokio::test]
    async fn replacing_and_expiring_give_bytes_back() {
        let (cache, clock) = cache(MemoryCacheConfig::default());
        cache.put("a", entry(vec![0u8; 1000], START)).await.unwrap();
        cache.put("a", entry(vec![0u8; 10], START)).await.unwrap();
        assert_eq!(cache.bytes(), 1 + 10 + PER_ENTRY_OVERHEAD);
        clock.advance(std::time::Duration::from_secs(121));
        assert_eq!(cache.get("a").await.unwrap(), None);
        assert_eq!(cache.bytes(), 0);
        assert!(cache.is_empty());
    }

    #[tokio::test]
    async fn an_entry_larger_than_the_budget_is_refused_not_stored() {
        let (cache, _clock) = cache(MemoryCacheConfig {
            max_bytes: 4096,
            max_items: 10,
        });
        cache
            .put("big", entry(vec![0u8; 10_000], START))
            .await
            .unwrap();
        assert_eq!(cache.get("big").await.unwrap(), None);
        assert_eq!(cache.bytes(), 0);
    }

    #[test]
    fn bad_limits_are_named() {
        let clock: SharedClock = Arc::new(ManualClock::new(START));
        let err = MemoryCache::new(
            MemoryCacheConfig {
                max_bytes: 1,
                max_items: 10,
            },
            clock.clone(),
        )
        .unwrap_err();
        assert!(err.reason.contains("max_bytes"), "{err}");
        let err = MemoryCache::new(
            MemoryCacheConfig {
                max_bytes: 1 << 20,
                max_items: 0,
            },
            clock,
        )
        .unwrap_err();
        assert!(err.reason.contains("max_items"), "{err}");
    }
}
