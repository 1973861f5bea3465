//! The cache abstraction: a small async [`Cache`] trait over bytes whose entries carry their own
//! expiry, the [`CacheStatus`] reported to callers, and (in submodules) the memory backend,
//! tiering and the coalescing loader.
//!
//! Times are unix milliseconds taken from an injected [`Clock`], so expiry and stale windows are
//! tested without sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

pub mod adaptive;
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
mod layer;
mod memory;
mod tiered;

pub use adaptive::{AdaptiveConfig, Learner, LearnerStats, RateBudget, RefreshBudget, TtlBounds};
pub use layer::{CacheLayer, CachePolicy, Fetched, LayerStats, Lookup, ReadMode, Transient};
pub use memory::{MemoryCache, MemoryCacheConfig};
pub use tiered::TieredCache;

/// The memory tier's hasher (quick_cache's default: seeded per map, a few instructions for a
/// short key where std's SipHash takes a few hundred). Other per-request maps that hash short
/// keys (the service's usage counters) use it too.
pub type FastHash = quick_cache::DefaultHashBuilder;

/// One cached value with its timing, stored together so every backend agrees on freshness.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The ready-to-send bytes.
    pub value: Bytes,
    /// When it was stored (unix ms).
    pub stored_at_ms: u64,
    /// Fresh until then (unix ms).
    pub fresh_until_ms: u64,
    /// May be served stale until then (unix ms); backends may drop it afterwards.
    pub stale_until_ms: u64,
}

impl Entry {
    /// True while fresh at `now_ms`.
    pub fn is_fresh(&self, now_ms: u64) -> bool {
        now_ms < self.fresh_until_ms
    }

    /// Age at `now_ms` (the `Age` header shows its whole seconds).
    pub fn age(&self, now_ms: u64) -> Duration {
        Duration::from_millis(now_ms.saturating_sub(self.stored_at_ms))
    }
}

/// How a value was obtained, reported to the caller (and in `X-Cache` / `Cache-Status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CacheStatus {
    /// A fresh entry was served.
    Hit,
    /// Nothing usable was cached; the upstream was called.
    Miss,
    /// An expired entry was served (while revalidating, or because the upstream failed).
    Stale,
    /// The read was skipped on request; the upstream was called and the entry refreshed.
    Bypass,
    /// Another caller's identical in-flight fetch supplied the value.
    Coalesced,
}

impl CacheStatus {
    /// `HIT`, `MISS`, `STALE`, `BYPASS` (coalesced waits count as `MISS` for `X-Cache`).
    pub const fn x_cache(self) -> &'static str {
        match self {
            CacheStatus::Hit => "HIT",
            CacheStatus::Miss | CacheStatus::Coalesced => "MISS",
            CacheStatus::Stale => "STALE",
            CacheStatus::Bypass => "BYPASS",
        }
    }

    /// True when the value came from the cache rather than a fresh upstream call.
    pub const fn is_hit(self) -> bool {
        matches!(self, CacheStatus::Hit | CacheStatus::Stale)
    }
}

/// A cache backend failure (Redis unreachable, timeout ...). Callers treat it as a miss.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cache backend {backend} failed: {reason}")]
pub struct CacheError {
    /// Which backend.
    pub backend: &'static str,
    /// What happened.
    pub reason: String,
}

/// Counters one backend keeps about itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TierStats {
    /// Backend name (`memory`, `redis`).
    pub name: &'static str,
    /// Lookups that found an entry.
    pub hits: u64,
    /// Lookups that found none.
    pub misses: u64,
    /// Entries written.
    pub sets: u64,
    /// Backend errors.
    pub errors: u64,
    /// Entries evicted for space.
    pub evictions: u64,
    /// Entries held now (if known).
    pub entries: u64,
    /// Bytes held now (if known).
    pub bytes: u64,
    /// Whether the backend answers now (always true for memory).
    pub connected: bool,
}

/// Whether one tier answers, as a probe (`/health`, `/readyz`) reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TierHealth {
    /// Backend name (`memory`, `redis`).
    pub name: &'static str,
    /// Whether it answers (always true for memory).
    pub connected: bool,
}

/// A store of [`Entry`] values by string key.
#[async_trait]
pub trait Cache: Send + Sync + 'static {
    /// The entry under `key`, if any (expired-but-stale entries included).
    async fn get(&self, key: &str) -> Result<Option<Entry>, CacheError>;
    /// Stores `entry` under `key`; the backend may drop it after `stale_until_ms`.
    async fn put(&self, key: &str, entry: Entry) -> Result<(), CacheError>;
    /// Removes every key starting with `prefix` (all keys for `""`), returning how many.
    async fn clear_prefix(&self, prefix: &str) -> Result<u64, CacheError>;
    /// Counters for each tier of this cache (one element for a single backend).
    async fn stats(&self) -> Vec<TierStats>;
    /// Whether each tier answers, cheaply enough for a probe on every request: a backend
    /// behind a network asks its server at most once a second and otherwise reports the last
    /// state it saw. The default reads [`Cache::stats`], fit only for local backends.
    async fn health(&self) -> Vec<TierHealth> {
        self.stats()
            .await
            .into_iter()
            .map(|t| TierHealth {
                name: t.name,
                connected: t.connected,
            })
            .collect()
    }
}

pub use alistach_domain::{Clock, SystemClock};

/// A shared clock handle.
pub type SharedClock = Arc<dyn Clock>;

/// A clock that moves only when told to: for tests of expiry and stale windows.
#[derive(Debug, Default)]
pub struct ManualClock {
    now_ms: AtomicU64,
}

impl ManualClock {
    /// A clock standing at `start_ms` (unix ms).
    pub fn new(start_ms: u64) -> Self {
        ManualClock {
            now_ms: AtomicU64::new(start_ms),
        }
    }

    /// Sets the time to `now_ms`.
    pub fn set(&self, now_ms: u64) {
        self.now_ms.store(now_ms, Ordering::SeqCst);
    }

    /// Moves the time forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.now_ms.fetch_add(duration_ms(by), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.now_ms.load(Ordering::SeqCst)
    }
}

/// A duration in whole milliseconds, saturating instead of wrapping for absurd values.
pub(crate) fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
