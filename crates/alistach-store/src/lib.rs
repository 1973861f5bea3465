//! AliStach's durable state, as traits: what must survive a restart and be shared by every
//! instance of a deployment.
//!
//! - [`OrderStore`]: affiliate orders keyed by sub-order id, exact money in cents, and every
//!   status change an order went through ([`StatusChange`]), with the queries the admin API
//!   answers (a filtered, paged list; revenue grouped by day, tracking id, product or category).
//! - [`CursorStore`]: named positions of incremental jobs (the order sync's watermarks).
//! - [`LeaseStore`]: named leases, so work that must run once across instances (the order
//!   sync; later webhook delivery and watches) runs on one instance at a time.
//! - [`ClickStore`]: clicks on tracked links (`LINK_TRACKING=redirect`), appended in batches by
//!   the click drain and summed per product.
//! - [`ExperimentStore`]: each tenant's A/B experiments of link strategies (at most one
//!   running per tenant), the links each variant handed out and what each earned (orders are attributed to a variant by the sub-ids the platform
//!   returns with them, stored with each order).
//! - [`WebhookStore`]: webhook endpoints, the outbox of events (order events are published by
//!   `upsert_orders` in the transaction that stores the change) and every delivery attempt.
//!   Endpoints and events are a tenant's; an event reaches only its tenant's endpoints, and an
//!   order event is the tenant's whose tracking id is the order's.
//!
//! - [`WatchStore`]: product watches, what their checks last saw and whether it was notified;
//!   a check's events are published in the transaction that records it.
//!
//! - [`AnalyticsStore`]: usage analytics, per-minute aggregates of the API and MCP calls and
//!   of the searched keywords, added by each instance's flushes (idempotent per flush id) to
//!   minute, hour and day rows, purged by age.
//!
//! - [`TenantStore`]: tenants (those of the config file and those made through the API), their
//!   API keys as SHA-256 digests with roles, expiry, last use and revocation, and the audit log
//!   of admin actions.
//!
//! [`Store`] is all of them behind one `Arc<dyn Store>`; later concerns are added as further
//! traits in the same way. Backends: the
//! in-process [`MemoryStore`] (tests, and the reference for the conformance suite) and the SQL
//! backends of `alistach-sql` (SQLite, PostgreSQL). Every backend runs the `conformance` checks (feature
//! `conformance`). This crate knows no database library.

mod analytics;
mod clicks;
mod experiments;
mod memory;
mod tenants;
mod types;
mod watches;
mod webhooks;

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;

use std::time::Duration;

use async_trait::async_trait;

pub use analytics::{
    ALL_SEARCHES, AnalyticsBatch, AnalyticsStore, ClickBucket, KeywordCounts, KeywordOrder,
    KeywordRow, OrderBucket, Resolution, UsageCounts, UsageKey, UsageRow, bucket_of, sum_usage,
};
pub use clicks::{Click, ClickStore, ClickSummary, MAX_SUMMARY_PRODUCTS, ProductClicks};
pub use experiments::{
    Allocation, Experiment, ExperimentStore, NewExperiment, NewVariant, Variant, VariantOutcome,
};
pub use memory::MemoryStore;
pub use tenants::{
    AuditEntry, AuditQuery, NewAuditEntry, TenantKeyRecord, TenantRecord, TenantSource, TenantStore,
};
pub use types::{
    GroupBy, LeaseInfo, MAX_PAGE_SIZE, NO_KEY, OrderFilter, OrderPageRequest, OrderRecord,
    OrderRows, RevenueGroup, RevenueReport, StatusChange, StoredOrder, UpsertSummary,
};
pub use watches::{NewWatch, Watch, WatchState, WatchStore};
pub use webhooks::{
    Attempt, AttemptOutcome, Delivery, DeliveryState, EVENT_TYPES, Endpoint, EndpointUpdate, Event,
    NewEndpoint, WebhookStore, event, order_events,
};

/// Why the store could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or failed the statement (connection refused, disk
    /// full, locked past the timeout ...). The text never carries credentials.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// The database was migrated by a newer AliStach than this one: refusing to touch it.
    #[error(
        "the database schema is at version {found}, newer than the {known} this AliStach knows; \
         run a release at least as new as the one that migrated it (or point DATABASE_URL / \
         DATA_DIR elsewhere)"
    )]
    SchemaTooNew {
        /// The newest migration applied to the database.
        found: i64,
        /// The newest migration this binary carries.
        known: i64,
    },
    /// The migrations could not be applied.
    #[error("the database schema could not be migrated: {0}")]
    Migration(String),
    /// The configuration does not name a usable database.
    #[error("the database setting is invalid: {0}")]
    Config(String),
    /// The change conflicts with what is stored (another experiment is running, say).
    #[error("{0}")]
    Conflict(String),
    /// A stored row breaks an invariant (written by hand, or by a buggy build).
    #[error("the database holds an unreadable value: {0}")]
    Corrupt(String),
}

/// Affiliate orders and their history.
#[async_trait]
pub trait OrderStore: Send + Sync + 'static {
    /// Inserts or updates each order by sub-order id, in one transaction. A new order, and
    /// an order whose status differs from the stored one, get a [`StatusChange`] recorded at
    /// `observed_at_ms`; storing the same order twice changes nothing (idempotent).
    async fn upsert_orders(
        &self,
        orders: &[OrderRecord],
        observed_at_ms: i64,
    ) -> Result<UpsertSummary, StoreError>;

    /// One order by sub-order id.
    async fn order(&self, sub_order_id: u64) -> Result<Option<StoredOrder>, StoreError>;

    /// Every status an order went through, oldest first.
    async fn status_history(&self, sub_order_id: u64) -> Result<Vec<StatusChange>, StoreError>;

    /// The orders `filter` selects, newest first (order time, then sub-order id), one page,
    /// with the number selected in all.
    async fn list_orders(
        &self,
        filter: &OrderFilter,
        page: OrderPageRequest,
    ) -> Result<OrderRows, StoreError>;

    /// The orders `filter` selects, summed per group and currency, groups in key order.
    async fn revenue(
        &self,
        filter: &OrderFilter,
        group_by: GroupBy,
    ) -> Result<Vec<RevenueGroup>, StoreError>;
}

/// Named positions of incremental jobs.
#[async_trait]
pub trait CursorStore: Send + Sync + 'static {
    /// The cursor's value, `None` when never set.
    async fn cursor(&self, name: &str) -> Result<Option<String>, StoreError>;

    /// Sets the cursor.
    async fn set_cursor(&self, name: &str, value: &str) -> Result<(), StoreError>;
}

/// Named leases: at most one holder at a time, until the lease expires or is released.
/// Expiry is measured on the database's clock, so instances with skewed clocks agree.
#[async_trait]
pub trait LeaseStore: Send + Sync + 'static {
    /// Takes the lease for `ttl` if it is free, expired, or already `holder`'s (then it is
    /// renewed). True when `holder` holds it now.
    async fn try_acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError>;

    /// Gives the lease up if `holder` holds it (otherwise does nothing).
    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError>;

    /// Who holds the lease now, if anyone (expired leases are free).
    async fn lease(&self, name: &str) -> Result<Option<LeaseInfo>, StoreError>;
}

/// The most bytes one learned-cache snapshot may hold.
pub const MAX_CACHE_LEARNING_BYTES: usize = 16 * 1024 * 1024;

/// What the adaptive cache policy learned, as one bounded snapshot per name (opaque bytes the
/// cache crate encodes), so it survives a restart and is shared by instances on one database.
#[async_trait]
pub trait CacheLearningStore: Send + Sync + 'static {
    /// The snapshot saved under `name`, if any.
    async fn load_cache_learning(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Replaces the snapshot under `name`; refuses one above [`MAX_CACHE_LEARNING_BYTES`].
    async fn save_cache_learning(&self, name: &str, snapshot: &[u8]) -> Result<(), StoreError>;
}

/// Refuses a snapshot above [`MAX_CACHE_LEARNING_BYTES`] (every backend applies it).
pub fn check_cache_learning_size(snapshot: &[u8]) -> Result<(), StoreError> {
    if snapshot.len() > MAX_CACHE_LEARNING_BYTES {
        return Err(StoreError::Conflict(format!(
            "a cache learning snapshot of {} bytes is above the {MAX_CACHE_LEARNING_BYTES} allowed",
            snapshot.len()
        )));
    }
    Ok(())
}

/// The whole durable state of a deployment.
#[async_trait]
pub trait Store:
    OrderStore
    + CursorStore
    + LeaseStore
    + ClickStore
    + ExperimentStore
    + WebhookStore
    + WatchStore
    + CacheLearningStore
    + AnalyticsStore
    + TenantStore
{
    /// `memory`, `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    /// One cheap round trip: is the database answering?
    async fn ping(&self) -> Result<(), StoreError>;
}
