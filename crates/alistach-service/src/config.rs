//! Per-kind cache lifetimes and stale windows.

use std::time::Duration;

use alistach_cache::TtlBounds;

use crate::CacheKind;

/// How long each kind of answer stays fresh, and how long it may be served stale.
///
/// The stale-while-revalidate window is `swr_percent` of the TTL (10 by default: an hour-long entry may
/// be served for six more minutes while one caller refreshes it); `stale_if_error` is how long an
/// expired entry may still stand in for a failing upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheTtls {
    /// Product searches (`CACHE_TTL`, v1.1.0: 3600 s).
    pub search: Duration,
    /// The category list (v1.1.0: 7200 s).
    pub categories: Duration,
    /// Affiliate links (v1.1.0: 1800 s).
    pub links: Duration,
    /// Product details.
    pub details: Duration,
    /// Hot products.
    pub hot: Duration,
    /// The stale-while-revalidate window, in percent of the TTL (0 disables it).
    pub swr_percent: u32,
    /// How long past expiry an entry may replace a failing upstream.
    pub stale_if_error: Duration,
    /// With `CACHE_POLICY=adaptive`, the range learned TTLs stay in (`CACHE_TTL_MIN`,
    /// `CACHE_TTL_MAX`), widened per kind to hold the kind's own TTL.
    pub adaptive: Option<TtlBounds>,
}

impl Default for CacheTtls {
    fn default() -> Self {
        CacheTtls {
            search: Duration::from_secs(3600),
            categories: Duration::from_secs(7200),
            links: Duration::from_secs(1800),
            details: Duration::from_secs(3600),
            hot: Duration::from_secs(1800),
            swr_percent: 10,
            stale_if_error: Duration::from_secs(24 * 3600),
            adaptive: None,
        }
    }
}

impl CacheTtls {
    /// The defaults with the search TTL set from `CACHE_TTL`.
    pub fn with_search_ttl(search: Duration) -> Self {
        CacheTtls {
            search,
            ..CacheTtls::default()
        }
    }

    /// The fresh lifetime of one kind.
    pub fn ttl(&self, kind: CacheKind) -> Duration {
        match kind {
            CacheKind::Products => self.search,
            CacheKind::Categories => self.categories,
            CacheKind::Affiliate => self.links,
            CacheKind::Details => self.details,
            CacheKind::Hot => self.hot,
            // Similar products are a search by example; promotions refresh daily, like hot
            // products (no settings of their own).
            CacheKind::Similar => self.search,
            CacheKind::Promotions => self.hot,
        }
    }

    /// The range a learned TTL of one kind stays in: the adaptive bounds widened to hold the
    /// kind's static TTL (`None` in static mode).
    pub fn bounds(&self, kind: CacheKind) -> Option<TtlBounds> {
        let ttl = self.ttl(kind);
        self.adaptive
            .map(|b| TtlBounds::new(b.min.min(ttl), b.max.max(ttl)))
    }

    /// The stale-while-revalidate window of one kind.
    pub fn stale_while_revalidate(&self, kind: CacheKind) -> Duration {
        self.ttl(kind) * self.swr_percent / 100
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_v1_contract() {
        let t = CacheTtls::default();
        assert_eq!(t.ttl(CacheKind::Products), Duration::from_secs(3600));
        assert_eq!(t.ttl(CacheKind::Categories), Duration::from_secs(7200));
        assert_eq!(t.ttl(CacheKind::Affiliate), Duration::from_secs(1800));
        assert_eq!(
            t.stale_while_revalidate(CacheKind::Products),
            Duration::from_secs(360)
        );
        let custom = CacheTtls {
            swr_percent: 0,
            ..CacheTtls::with_search_ttl(Duration::from_secs(60))
        };
        assert_eq!(custom.ttl(CacheKind::Products), Duration::from_secs(60));
        assert_eq!(
            custom.stale_while_revalidate(CacheKind::Products),
            Duration::ZERO
        );
    }
}
