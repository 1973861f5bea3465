//! Usage analytics: per-minute aggregates of the API and MCP calls (counters and a latency
//! histogram per route, client, cache status, mode and status class) and of the searched
//! keywords (a bounded top list per minute), flushed by each instance with additive upserts.
//!
//! Each flush adds its minute rows to the minute, hour and day rows at once (the rollups are
//! kept up to date by the flush itself, so they never lag or miss a late flush), in one
//! transaction that also records the flush id: a flush retried after an unknown outcome adds
//! nothing twice. Retention removes old rows per resolution.

use std::collections::BTreeMap;

use alistach_domain::HistogramSnapshot;
use async_trait::async_trait;

use crate::StoreError;

/// The keyword under which a minute's totals of all keyword searches are kept (no search has
/// an empty normalised keyword: searches without keywords are not tracked).
pub const ALL_SEARCHES: &str = "";

/// The width of a stored aggregate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resolution {
    /// One minute.
    Minute,
    /// One hour (UTC).
    Hour,
    /// One day (UTC).
    Day,
}

impl Resolution {
    /// Every resolution, finest first.
    pub const ALL: [Resolution; 3] = [Resolution::Minute, Resolution::Hour, Resolution::Day];

    /// The width in milliseconds.
    pub const fn ms(self) -> i64 {
        match self {
            Resolution::Minute => 60_000,
            Resolution::Hour => 3_600_000,
            Resolution::Day => 86_400_000,
        }
    }

    /// The one-letter code the SQL backends store (`m`, `h`, `d`).
    pub const fn code(self) -> &'static str {
        match self {
            Resolution::Minute => "m",
            Resolution::Hour => "h",
            Resolution::Day => "d",
        }
    }

    /// The start of the bucket holding `at_ms`.
    pub const fn floor(self, at_ms: i64) -> i64 {
        at_ms.div_euclid(self.ms()) * self.ms()
    }
}

/// The dimensions of a usage aggregate.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UsageKey {
    /// The tenant whose call it was (a [`alistach_domain::TenantId`]'s text).
    pub tenant: String,
    /// The route's operation id (`callMcp:<tool>` for an MCP tool call).
    pub route: String,
    /// The API key's name, or the client's address key.
    pub client: String,
    /// How the cache answered: `hit`, `stale`, `miss`, `bypass`, `coalesced`, or `none` for
    /// answers that did not go through the cache.
    pub cache: String,
    /// `mock` or `real`.
    pub mode: String,
    /// The status class: 1 to 5 (2 for 2xx ...).
    pub status_class: u8,
}

/// What a usage aggregate counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UsageCounts {
    /// Calls.
    pub requests: u64,
    /// Their latency.
    pub latency: HistogramSnapshot,
}

impl UsageCounts {
    /// Adds `other`.
    pub fn merge(&mut self, other: &UsageCounts) {
        self.requests = self.requests.saturating_add(other.requests);
        self.latency.merge(&other.latency);
    }
}

/// One usage aggregate: a bucket's counts for one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageRow {
    /// The bucket's start (Unix ms).
    pub bucket_ms: i64,
    /// The dimensions.
    pub key: UsageKey,
    /// The counts.
    pub counts: UsageCounts,
}

/// What a keyword aggregate counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeywordCounts {
    /// Searches.
    pub searches: u64,
    /// Searches that found nothing.
    pub zero_results: u64,
    /// Results found, summed over the searches.
    pub results: u64,
}

impl KeywordCounts {
    /// Adds `other`.
    pub fn merge(&mut self, other: &KeywordCounts) {
        self.searches = self.searches.saturating_add(other.searches);
        self.zero_results = self.zero_results.saturating_add(other.zero_results);
        self.results = self.results.saturating_add(other.results);
    }
}

/// One keyword aggregate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeywordRow {
    /// The bucket's start (Unix ms).
    pub bucket_ms: i64,
    /// The tenant whose searches they were (a [`alistach_domain::TenantId`]'s text).
    pub tenant: String,
    /// The normalised keyword ([`ALL_SEARCHES`] for the bucket's totals).
    pub keyword: String,
    /// The counts.
    pub counts: KeywordCounts,
}

/// What one instance flushes at once: minute rows, added to what is stored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AnalyticsBatch {
    /// Unique per flush (an instance id and a sequence number): a batch stored once is never
    /// added again.
    pub flush_id: String,
    /// Minute usage rows (`bucket_ms` a minute's start).
    pub usage: Vec<UsageRow>,
    /// Minute keyword rows.
    pub keywords: Vec<KeywordRow>,
}

/// How keywords are ranked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeywordOrder {
    /// By searches, most first.
    Searches,
    /// By searches that found nothing, most first (keywords that always found something are
    /// left out).
    ZeroResults,
}

/// Tracked-link clicks in one bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClickBucket {
    /// The bucket's start.
    pub bucket_ms: i64,
    /// Clicks.
    pub clicks: u64,
}

/// Orders placed in one bucket, in one currency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderBucket {
    /// The bucket's start.
    pub bucket_ms: i64,
    /// The currency.
    pub currency: String,
    /// Orders.
    pub orders: u64,
    /// Their estimated commission on payment, in cents.
    pub commission_cents: i64,
}

/// Buckets of `step_ms` from `from_ms`: the start of the bucket holding `at_ms`.
pub const fn bucket_of(at_ms: i64, from_ms: i64, step_ms: i64) -> i64 {
    from_ms + (at_ms - from_ms).div_euclid(step_ms) * step_ms
}

/// Usage analytics' aggregates.
#[async_trait]
pub trait AnalyticsStore: Send + Sync + 'static {
    /// Adds the batch's minute rows to the stored minute, hour and day rows, in one
    /// transaction that records `flush_id`. False (and nothing added) when a batch with this
    /// id was already stored.
    async fn flush_analytics(&self, batch: &AnalyticsBatch) -> Result<bool, StoreError>;

    /// The usage rows of resolution `res` whose bucket starts in `[from_ms, to_ms)`, of
    /// `tenant` (of every tenant when `None`), summed per key into buckets of `step_ms`
    /// starting at `from_ms` (a multiple of `res`'s width), ordered by bucket, then key. With
    /// `None` the tenants are summed: every row's `key.tenant` is empty.
    async fn usage(
        &self,
        tenant: Option<&str>,
        res: Resolution,
        from_ms: i64,
        to_ms: i64,
        step_ms: i64,
    ) -> Result<Vec<UsageRow>, StoreError>;

    /// The keyword rows of resolution `res` in `[from_ms, to_ms)`, of `tenant` (of every
    /// tenant when `None`), summed per keyword, ranked by `order` (then keyword), at most
    /// `limit`; [`ALL_SEARCHES`] is never listed.
    async fn top_keywords(
        &self,
        tenant: Option<&str>,
        res: Resolution,
        from_ms: i64,
        to_ms: i64,
        order: KeywordOrder,
        limit: u32,
    ) -> Result<Vec<(String, KeywordCounts)>, StoreError>;

    /// Keyword counts of resolution `res` of `tenant` (of every tenant when `None`) summed
    /// per bucket of `step_ms` from `from_ms`, for one keyword (e.g. [`ALL_SEARCHES`]),
    /// ordered by bucket.
    async fn keyword_series(
        &self,
        tenant: Option<&str>,
        res: Resolution,
        keyword: &str,
        from_ms: i64,
        to_ms: i64,
        step_ms: i64,
    ) -> Result<Vec<(i64, KeywordCounts)>, StoreError>;

    /// Removes the rows of resolution `res` whose bucket starts before `before_ms` (and, with
    /// the minutes, the ids of flushes whose latest minute is before it); returns the rows
    /// removed.
    async fn purge_analytics(&self, res: Resolution, before_ms: i64) -> Result<u64, StoreError>;

    /// Stored clicks in `[from_ms, to_ms)` whose tracking id is one of `tracking_ids` (every
    /// click when `None`) per bucket of `step_ms` from `from_ms` (empty buckets left out),
    /// ordered by bucket.
    async fn clicks_per_bucket(
        &self,
        tracking_ids: Option<&[String]>,
        from_ms: i64,
        to_ms: i64,
        step_ms: i64,
    ) -> Result<Vec<ClickBucket>, StoreError>;

    /// Orders placed (order time) in `[from_ms, to_ms)`, mock or real ones, every status but
    /// `Invalid`, whose tracking id is one of `tracking_ids` (every order when `None`), per
    /// bucket of `step_ms` from `from_ms` and currency, ordered by bucket then currency.
    async fn orders_per_bucket(
        &self,
        tracking_ids: Option<&[String]>,
        mock: bool,
        from_ms: i64,
        to_ms: i64,
        step_ms: i64,
    ) -> Result<Vec<OrderBucket>, StoreError>;
}

/// Sums rows per `(bucket, key)` into buckets of `step_ms` from `from_ms`, keeping those in
/// `[from_ms, to_ms)` of `tenant` (with `None`, those of every tenant, summed over the
/// tenants: the keys' `tenant` is emptied): the reference the backends' `usage` answers like.
pub fn sum_usage(
    rows: impl IntoIterator<Item = UsageRow>,
    tenant: Option<&str>,
    from_ms: i64,
    to_ms: i64,
    step_ms: i64,
) -> Vec<UsageRow> {
    let mut sums: BTreeMap<(i64, UsageKey), UsageCounts> = BTreeMap::new();
    for mut row in rows {
        if row.bucket_ms < from_ms || row.bucket_ms >= to_ms {
            continue;
        }
        match tenant {
            Some(t) if row.key.tenant != t => continue,
            Some(_) => {}
            None => row.key.tenant.clear(),
        }
        sums.entry((bucket_of(row.bucket_ms, from_ms, step_ms), row.key))
            .or_default()
            .merge(&row.counts);
    }
    sums.into_iter()
        .map(|((bucket_ms, key), counts)| UsageRow {
            bucket_ms,
            key,
            counts,
        })
        .collect()
}
