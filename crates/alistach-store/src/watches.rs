//! Product watches: products whose price and availability a job re-checks, with what it last
//! saw and whether the change it saw was already notified, so each change is one event.
//!
//! Prices are exact decimal text (as the platform's details give them, e.g. `"12.50"`); the
//! store keeps them as text and never computes with them.

use alistach_domain::TenantId;
use async_trait::async_trait;

use crate::{Event, StoreError};

/// A watch as asked for (validated by the service).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewWatch {
    /// Whose watch it is: its events are that tenant's.
    pub tenant: TenantId,
    /// The watched product.
    pub product_id: u64,
    /// Notify when the price falls at least this percentage (1..=99) below the baseline.
    pub price_drop_percent: Option<u32>,
    /// Notify when the price is at or below this (exact decimal text).
    pub target_price: Option<String>,
    /// The currency prices are asked in (ISO 4217).
    pub currency: String,
    /// The country the product must ship to (ISO 3166-1 alpha-2), if any.
    pub ship_to_country: Option<String>,
}

/// A stored watch with what its checks saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Watch {
    /// The store's id for it.
    pub id: u64,
    /// Whose watch it is.
    pub tenant: TenantId,
    /// The watched product.
    pub product_id: u64,
    /// Notify when the price falls at least this percentage below [`WatchState::baseline_price`].
    pub price_drop_percent: Option<u32>,
    /// Notify when the price is at or below this.
    pub target_price: Option<String>,
    /// The currency prices are asked in.
    pub currency: String,
    /// The country the product must ship to, if any.
    pub ship_to_country: Option<String>,
    /// When it was created (Unix ms).
    pub created_at_ms: i64,
    /// The state its checks left.
    pub state: WatchState,
}

/// What the checks of a watch saw, and what was notified.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WatchState {
    /// The price drops are measured from: the first price seen, then the last notified.
    pub baseline_price: Option<String>,
    /// The price seen last (kept while the product is unavailable).
    pub last_price: Option<String>,
    /// Whether the product was available at the last check; `None` before the first.
    pub available: Option<bool>,
    /// True when the last price seen was already notified (or did not meet the condition
    /// and needs no notice until it changes).
    pub notified: bool,
    /// When it was last checked (Unix ms).
    pub checked_at_ms: Option<i64>,
}

/// Watches and the results of their checks.
#[async_trait]
pub trait WatchStore: Send + Sync + 'static {
    /// Stores a new watch, not yet checked.
    async fn create_watch(&self, new: &NewWatch, now_ms: i64) -> Result<Watch, StoreError>;

    /// Every watch of `tenant` (of every tenant when `None`: a check run goes through all of
    /// them), oldest first.
    async fn watches(&self, tenant: Option<&TenantId>) -> Result<Vec<Watch>, StoreError>;

    /// One watch.
    async fn watch(&self, id: u64) -> Result<Option<Watch>, StoreError>;

    /// Deletes a watch; false for an unknown id.
    async fn delete_watch(&self, id: u64) -> Result<bool, StoreError>;

    /// Records a check of watch `id`: its new state, and the events it caused published
    /// (as by [`crate::WebhookStore::publish`]) in the same transaction, so an event is
    /// neither lost nor published twice. The events carry their tenant (the watch's, set by
    /// the caller). False (and nothing published) when the watch was
    /// deleted meanwhile.
    async fn record_watch_check(
        &self,
        id: u64,
        state: &WatchState,
        events: &[Event],
        now_ms: i64,
    ) -> Result<bool, StoreError>;
}
