//! Webhooks: the endpoints events go to, the outbox of events, and each delivery of an event
//! to an endpoint with every attempt made (Standard Webhooks: the event's id is the
//! `webhook-id` of every attempt, so receivers can deduplicate).
//!
//! Never lost: an event is published in the same transaction as the change that caused it
//! (order events by [`crate::OrderStore::upsert_orders`]; others by
//! [`WebhookStore::publish`]), and publishing makes one pending delivery per enabled endpoint
//! subscribed to its type, in that same transaction. A delivery is pending until an attempt
//! succeeds (delivered) or the dispatcher gives up (failed; retryable by hand).

use alistach_domain::{Secret, TenantId};
use async_trait::async_trait;

use crate::StoreError;

/// Every event type, as receivers see it in `type`.
pub const EVENT_TYPES: [&str; 7] = [
    "order.created",
    "order.status_changed",
    "order.settled",
    "product.price_changed",
    "product.unavailable",
    "alert.firing",
    "alert.resolved",
];

/// An endpoint as asked for (validated by the service).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEndpoint {
    /// Whose endpoint it is: it receives only that tenant's events.
    pub tenant: TenantId,
    /// Where events are POSTed (http or https).
    pub url: String,
    /// The event types it receives (from [`EVENT_TYPES`]), at least one.
    pub events: Vec<String>,
    /// A note for people.
    pub description: Option<String>,
    /// Its signing secret, `whsec_` + base64 of 24 to 64 random bytes (made by the service).
    pub secret: Secret,
}

/// A stored endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// The store's id for it.
    pub id: u64,
    /// Whose endpoint it is.
    pub tenant: TenantId,
    /// Where events are POSTed.
    pub url: String,
    /// The event types it receives.
    pub events: Vec<String>,
    /// A note for people.
    pub description: Option<String>,
    /// Its signing secret (never shown after creation).
    pub secret: Secret,
    /// False when disabled (by hand, or by the dispatcher after failing for days): no new
    /// deliveries are made for it and pending ones wait.
    pub enabled: bool,
    /// Why it was disabled, when the dispatcher did it.
    pub disabled_reason: Option<String>,
    /// Since when every attempt to it has failed (Unix ms); `None` after a success.
    pub failing_since_ms: Option<i64>,
    /// When it was created (Unix ms).
    pub created_at_ms: i64,
    /// When it was last changed (Unix ms).
    pub updated_at_ms: i64,
}

/// A change to an endpoint: each `Some` field replaces the stored one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EndpointUpdate {
    /// A new URL.
    pub url: Option<String>,
    /// New event types.
    pub events: Option<Vec<String>>,
    /// A new note (`Some(None)` clears it).
    pub description: Option<Option<String>>,
    /// Enable (clears `disabled_reason` and `failing_since_ms`) or disable.
    pub enabled: Option<bool>,
}

/// An event in the outbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Unique and stable (`msg_…`): the `webhook-id` of every attempt of every delivery.
    pub id: String,
    /// Whose event it is: only that tenant's endpoints receive it.
    pub tenant: TenantId,
    /// One of [`EVENT_TYPES`].
    pub event_type: String,
    /// When it happened (Unix ms).
    pub timestamp_ms: i64,
    /// The body POSTed: the JSON text of `{"type", "timestamp", "data"}`.
    pub payload: String,
}

/// Where a delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeliveryState {
    /// Waiting for its next attempt.
    Pending,
    /// An attempt succeeded (a 2xx answer).
    Delivered,
    /// The dispatcher gave up; a retry by hand makes it pending again.
    Failed,
}

impl DeliveryState {
    /// `pending`, `delivered` or `failed`.
    pub const fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }
}

/// One event to one endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The store's id for it.
    pub id: u64,
    /// The endpoint.
    pub endpoint_id: u64,
    /// The event.
    pub event: Event,
    /// Where it stands.
    pub state: DeliveryState,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the next attempt is due (Unix ms), while pending.
    pub next_attempt_at_ms: Option<i64>,
    /// When it was made (Unix ms).
    pub created_at_ms: i64,
    /// When an attempt succeeded (Unix ms).
    pub delivered_at_ms: Option<i64>,
}

/// One attempt to deliver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// When it was made (Unix ms).
    pub at_ms: i64,
    /// The receiver's HTTP status, if it answered.
    pub status: Option<u16>,
    /// How long it took (ms).
    pub latency_ms: u64,
    /// What went wrong (timeout, refused, non-2xx ...), if anything; never a secret.
    pub error: Option<String>,
}

/// What follows an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// It succeeded: the delivery is delivered, the endpoint's `failing_since_ms` cleared.
    Delivered,
    /// It failed: try again at this time (Unix ms); the endpoint's `failing_since_ms` is set
    /// if unset.
    RetryAt(i64),
    /// It failed for the last time: the delivery is failed (the endpoint's
    /// `failing_since_ms` is set if unset).
    Failed,
}

/// Webhook endpoints, the outbox and the deliveries.
#[async_trait]
pub trait WebhookStore: Send + Sync + 'static {
    /// Stores a new, enabled endpoint.
    async fn create_endpoint(&self, new: &NewEndpoint, now_ms: i64)
    -> Result<Endpoint, StoreError>;

    /// Every endpoint of `tenant` (of every tenant when `None`), oldest first.
    async fn endpoints(&self, tenant: Option<&TenantId>) -> Result<Vec<Endpoint>, StoreError>;

    /// One endpoint.
    async fn endpoint(&self, id: u64) -> Result<Option<Endpoint>, StoreError>;

    /// Changes an endpoint (`None` for an unknown id).
    async fn update_endpoint(
        &self,
        id: u64,
        update: &EndpointUpdate,
        now_ms: i64,
    ) -> Result<Option<Endpoint>, StoreError>;

    /// Disables an endpoint, saying why (the dispatcher, after it failed for days); `None`
    /// for an unknown id.
    async fn disable_endpoint(
        &self,
        id: u64,
        reason: &str,
        now_ms: i64,
    ) -> Result<Option<Endpoint>, StoreError>;

    /// Deletes an endpoint and its deliveries; false for an unknown id.
    async fn delete_endpoint(&self, id: u64) -> Result<bool, StoreError>;

    /// Publishes events: each is kept in the outbox (an event id seen before is ignored,
    /// so publishing is idempotent) with one pending delivery, due now, per enabled endpoint
    /// of the event's tenant subscribed to its type; all in one transaction.
    async fn publish(&self, events: &[Event], now_ms: i64) -> Result<(), StoreError>;

    /// Makes one pending delivery of `event_id` to endpoint `endpoint_id` whatever its
    /// subscriptions (the endpoint's test event); `None` when either is unknown.
    async fn deliver_to(
        &self,
        endpoint_id: u64,
        event: &Event,
        now_ms: i64,
    ) -> Result<Option<Delivery>, StoreError>;

    /// Pending deliveries due at `now_ms`, to enabled endpoints, oldest due first, at most
    /// `limit`.
    async fn due_deliveries(&self, now_ms: i64, limit: u32) -> Result<Vec<Delivery>, StoreError>;

    /// Records an attempt of a delivery and what follows it (see [`AttemptOutcome`]), in one
    /// transaction. A delivery that is not pending (delivered or failed meanwhile) only gets
    /// the attempt recorded.
    async fn record_attempt(
        &self,
        delivery_id: u64,
        attempt: &Attempt,
        outcome: AttemptOutcome,
    ) -> Result<(), StoreError>;

    /// An endpoint's deliveries, newest first, at most `limit`, each with its attempts
    /// (oldest first).
    async fn deliveries(
        &self,
        endpoint_id: u64,
        limit: u32,
    ) -> Result<Vec<(Delivery, Vec<Attempt>)>, StoreError>;

    /// Makes a delivery of this endpoint pending again, due now (a failed one, or a pending
    /// one sooner); a delivered one stays as it is. `None` when the endpoint has no such
    /// delivery.
    async fn retry_delivery(
        &self,
        endpoint_id: u64,
        delivery_id: u64,
        now_ms: i64,
    ) -> Result<Option<Delivery>, StoreError>;
}

/// The order events of one change an upsert stored: `order.created` for a new order,
/// `order.status_changed` for a new status of a stored one, and `order.settled` besides when
/// that status is `Completed Settlement` (also for an order first seen settled). Ids are
/// stable per order and status, so the same change is never two events. The events are
/// `tenant`'s: the backends pass the tenant whose tracking id is the order's (the default
/// tenant when none is).
pub fn order_events(
    record: &crate::OrderRecord,
    tenant: &TenantId,
    previous_status: Option<&str>,
    observed_at_ms: i64,
) -> Vec<Event> {
    let o = &record.order;
    let settled = o.status == alistach_domain::OrderStatus::CompletedSettlement.as_str();
    let slug: String = o
        .status
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    let mut out = Vec::new();
    let mut push = |event_type: &str, id: String| {
        out.push(order_event(
            record,
            tenant,
            previous_status,
            event_type,
            id,
            observed_at_ms,
        ));
    };
    match previous_status {
        None => push(
            "order.created",
            format!("msg_order_{}_created", o.sub_order_id),
        ),
        Some(_) => push(
            "order.status_changed",
            format!("msg_order_{}_{slug}", o.sub_order_id),
        ),
    }
    if settled {
        push(
            "order.settled",
            format!("msg_order_{}_settled", o.sub_order_id),
        );
    }
    out
}

fn order_event(
    record: &crate::OrderRecord,
    tenant: &TenantId,
    previous_status: Option<&str>,
    event_type: &str,
    id: String,
    observed_at_ms: i64,
) -> Event {
    let o = &record.order;
    let money = |c: alistach_domain::Cents| c.to_decimal().to_string();
    let data = serde_json::json!({
        "sub_order_id": o.sub_order_id.to_string(),
        "order_id": o.order_id.map(|id| id.to_string()),
        "status": o.status,
        "previous_status": previous_status,
        "tracking_id": o.tracking_id,
        "product_id": o.product_id.map(|id| id.to_string()),
        "product_title": o.product_title,
        "paid_amount": money(o.paid_amount),
        "estimated_commission": money(o.estimated_paid_commission),
        "finished_commission": o.estimated_finished_commission.map(money),
        "currency": o.currency,
        "mock": record.mock,
        "experiment": o.experiment_variant().map(|(id, variant)| serde_json::json!({
            "id": id, "variant": variant
        })),
    });
    event(id, tenant.clone(), event_type, observed_at_ms, data)
}

/// An event of `tenant` of `event_type` with `data`, happened at `timestamp_ms`: its payload
/// is the Standard Webhooks body `{"type", "timestamp" (RFC 3339, UTC), "data"}`.
pub fn event(
    id: String,
    tenant: TenantId,
    event_type: &str,
    timestamp_ms: i64,
    data: serde_json::Value,
) -> Event {
    let payload = serde_json::json!({
        "type": event_type,
        "timestamp": alistach_domain::platform_time::rfc3339(timestamp_ms),
        "data": data,
    });
    Event {
        id,
        tenant,
        event_type: event_type.to_owned(),
        timestamp_ms,
        payload: payload.to_string(),
    }
}
