//! The application core: each catalog use case (search, hot products, details, categories,
//! affiliate links) answered cache-aside through the coalescing [`CacheLayer`], with stale
//! serving on transient upstream trouble. It sees only traits: the catalog port
//! ([`alistach_domain::AffiliateApi`]) and the cache store ([`alistach_cache::Cache`]); the
//! [`OrderSync`] sees the order port ([`alistach_domain::OrderSource`]) and the durable store
//! ([`alistach_store::Store`]).
//!
//! Invariants: upstream errors are never cached and never replaced by mock data; an empty result
//! is a valid answer and is cached; cache keys carry the mode, so mock entries are never served
//! in real mode.
//!
//! Click tracking (`LINK_TRACKING=redirect`): [`TrackedApi`] rewrites every affiliate link the
//! port returns into a signed `/r/{token}` link below the cache, and [`ClickTracking`] answers
//! the redirect and queues the click for a background [`ClickDrain`] writing to the store's
//! [`alistach_store::ClickStore`].
//!
//! A/B experiments of link strategies: [`Experiments`] picks a variant per client and
//! question and serves it from the variant's catalog, whose [`VariantApi`] makes the links the
//! variant's way and tags them with its sub-ids.
//!
//! Webhooks: the [`WebhookDispatcher`] delivers the store's outbox through the
//! [`alistach_domain::WebhookSender`] port, with retries, giving up, and disabling endpoints
//! that fail for days.
//!
//! Alerts: the pure [`AlertEngine`] evaluates the built-in rules over [`AlertSnapshot`]s.
//!
//! Usage analytics: [`Analytics`] counts every API and MCP call per minute in memory (sharded,
//! no allocation for a dimension tuple seen before in the minute), flushes to the store's
//! [`alistach_store::AnalyticsStore`] every minute and at shutdown, and answers the overview,
//! time series and keyword lists from the store plus what it has not flushed yet.

mod alerts;
mod analytics;
mod catalog;
mod clicks;
mod config;
mod error;
mod experiments;
mod guard;
mod keys;
mod learning;
mod orders;
mod pacing;
mod tenants;
mod tracking;
mod variant;
mod watches;
mod webhook_endpoints;
mod webhooks;

pub use alerts::{
    ALERT_HISTORY, AlertConfig, AlertEngine, AlertRule, AlertSnapshot, AlertState, AlertTransition,
    HistoryEntry, ORDER_SYNC_LATE, OrderSyncCounters, RuleReport,
};
pub use alistach_cache::{
    AdaptiveConfig, CacheLayer, CacheStatus, LayerStats, Learner, LearnerStats, RateBudget,
    ReadMode, TierHealth, TtlBounds, adaptive::TTL_BUCKETS_S,
};
pub use alistach_domain::{Histogram, HistogramSnapshot, LATENCY_BUCKETS};
pub use analytics::{
    Analytics, CacheFigures, CacheMark, Call, Commission, DayUsage, FLUSH_INTERVAL, KeywordBuf,
    KeywordReport, MAX_KEYWORD_CHARS, MINUTE_RETENTION, Metric, Overview, Point, STEP_DAY,
    STEP_HOUR, STEP_MINUTE, TOP_KEYWORDS, TimeRange, TopKeywords, UsageScope, normalise_keywords,
};
pub use catalog::{
    CacheReport, Catalog, DetailsReport, LinkFailure, LinkResult, MissingReason, RatedLink,
    Rendered, Served,
};
pub use clicks::{ClickDrain, ClickStats, ClickTracking, DEFAULT_CLICK_QUEUE};
pub use config::CacheTtls;
pub use error::ServiceError;
pub use experiments::{
    ExperimentError, ExperimentReport, Experiments, MAX_EXPERIMENT_NAME_CHARS,
    MAX_VARIANT_NAME_CHARS, MAX_VARIANTS, MAX_WEIGHT, VariantTotals,
    validate as validate_experiment,
};
pub use guard::{
    CircuitState, GuardConfig, GuardCore, GuardStats, GuardedApi, MethodStats, UPSTREAM_METHODS,
    UPSTREAM_OUTCOMES,
};
pub use keys::{CacheKind, KeyScope};
pub use learning::{CacheLearningSync, CacheTierLearning};
pub use orders::{
    OrderSync, OrderSyncConfig, SYNC_LEASE, SyncError, SyncOutcome, SyncReport, SyncStats,
};
pub use pacing::OutboundLimiter;
pub use tenants::{
    Grant, MAX_KEYS_PER_TENANT, TENANT_KEY_PREFIX, Tenant, TenantCatalogs, TenantCredentials,
    TenantDoc, TenantError, TenantLimits, TenantParts, TenantTtls, Tenants, key_digest,
    validate_tracking_id,
};
pub use tracking::{LinkTracker, REDIRECT_PATH, TrackedApi};
pub use variant::VariantApi;
pub use watches::{
    CircuitProbe, WATCH_BATCH, WATCH_LEASE, WatchAdminError, WatchConfig, WatchJob, WatchRequest,
    WatchRunReport, Watches, evaluate,
};
pub use webhook_endpoints::{
    EndpointChange, MAX_WEBHOOK_DESCRIPTION_CHARS, MAX_WEBHOOK_URL_BYTES, WebhookAdminError,
    WebhookEndpoints, validate_events, validate_url,
};
pub use webhooks::{
    DELIVER_LEASE, EndpointDisabledHook, TEST_EVENT_TYPE, TickReport, WebhookConfig,
    WebhookDispatcher, WebhookStats, test_event,
};
