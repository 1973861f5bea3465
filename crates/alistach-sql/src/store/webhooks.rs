//! [`WebhookStore`] on SQL: endpoints, the outbox of events, deliveries and their attempts
//! (migration 4), and the statements [`publish_in!`] runs inside a caller's transaction (so
//! `upsert_orders` publishes its order events with the change that caused them).

use alistach_domain::{Secret, TenantId};
use alistach_store::{
    Attempt, AttemptOutcome, Delivery, DeliveryState, Endpoint, EndpointUpdate, Event, NewEndpoint,
    StoreError, WebhookStore,
};
use async_trait::async_trait;

use super::{Pool, SqlStore, fits, id_from_sql, id_to_sql, tenant_from_sql, unavailable};
use crate::migrate::Dialect;

/// Keeps an event once per id (`rows_affected` is 0 for an id seen before).
pub(super) const INSERT_EVENT: &str = "INSERT INTO webhook_events \
    (id, event_type, timestamp_ms, payload, tenant_id) VALUES ($1, $2, $3, $4, $5) \
    ON CONFLICT (id) DO NOTHING";

/// A pending delivery of event `$2` to endpoint `$1`, due at `$3` (and made then).
pub(super) const INSERT_DELIVERY: &str = "INSERT INTO webhook_deliveries \
    (endpoint_id, event_id, state, attempts, next_attempt_at_ms, created_at_ms) \
    VALUES ($1, $2, 'pending', 0, $3, $3) RETURNING id";

/// The enabled endpoints (id, tenant id, event types) a transaction publishes to, read once
/// (`None` until then).
pub(super) type Subscribers = Option<Vec<(i64, String, String)>>;

/// The enabled endpoints with their tenants and event types. On PostgreSQL their rows are key-share
/// locked until the transaction ends: an endpoint being deleted is waited for (and then left
/// out), and a delete waits for the deliveries made to it (so it deletes them too).
pub(super) const fn subscribers_sql(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => {
            "SELECT id, tenant_id, events FROM webhook_endpoints WHERE enabled = TRUE ORDER BY id"
        }
        Dialect::Postgres => {
            "SELECT id, tenant_id, events FROM webhook_endpoints WHERE enabled = TRUE \
             ORDER BY id FOR KEY SHARE"
        }
    }
}

/// Publishes `$events` (a slice of [`Event`]) at `$now_ms` inside the transaction `$tx` of
/// `$store`: each event is kept once per id, with one pending delivery per enabled endpoint
/// of the event's tenant subscribed to its type. `$subscribers` (a [`Subscribers`] starting
/// as `None`) caches the enabled endpoints for the rest of the transaction. Used inside
/// [`with_pool!`].
macro_rules! publish_in {
    ($store:expr, $tx:expr, $events:expr, $now_ms:expr, $subscribers:expr) => {{
        for event in $events {
            let fresh = sqlx::query(crate::store::webhooks::INSERT_EVENT)
                .bind(event.id.clone())
                .bind(event.event_type.clone())
                .bind(event.timestamp_ms)
                .bind(event.payload.clone())
                .bind(event.tenant.as_str())
                .execute(&mut *$tx)
                .await
                .map_err(unavailable)?
                .rows_affected()
                == 1;
            if !fresh {
                continue;
            }
            if $subscribers.is_none() {
                let rows: Vec<(i64, String, String)> =
                    sqlx::query_as(crate::store::webhooks::subscribers_sql($store.dialect()))
                        .fetch_all(&mut *$tx)
                        .await
                        .map_err(unavailable)?;
                $subscribers = Some(rows);
            }
            for (endpoint_id, tenant, types) in $subscribers.iter().flatten() {
                if tenant == event.tenant.as_str()
                    && crate::store::webhooks::subscribed(types, &event.event_type)
                {
                    let _: i64 = sqlx::query_scalar(crate::store::webhooks::INSERT_DELIVERY)
                        .bind(*endpoint_id)
                        .bind(event.id.clone())
                        .bind($now_ms)
                        .fetch_one(&mut *$tx)
                        .await
                        .map_err(unavailable)?;
                }
            }
        }
    }};
}

/// True when the stored event types `types` hold `event_type`.
pub(super) fn subscribed(types: &str, event_type: &str) -> bool {
    types.split(',').any(|t| t == event_type)
}

/// The event types as stored: joined by commas (each must be non-empty and comma-free, as
/// every one of [`alistach_store::EVENT_TYPES`] is).
fn types_to_sql(events: &[String]) -> Result<String, StoreError> {
    if let Some(bad) = events.iter().find(|t| t.is_empty() || t.contains(',')) {
        return Err(StoreError::Conflict(format!(
            "the event type {bad:?} cannot be stored"
        )));
    }
    Ok(events.join(","))
}

fn types_from_sql(text: &str) -> Vec<String> {
    if text.is_empty() {
        return Vec::new();
    }
    text.split(',').map(str::to_owned).collect()
}

fn state_from_sql(text: &str) -> Result<DeliveryState, StoreError> {
    match text {
        "pending" => Ok(DeliveryState::Pending),
        "delivered" => Ok(DeliveryState::Delivered),
        "failed" => Ok(DeliveryState::Failed),
        other => Err(StoreError::Corrupt(format!("a delivery's state {other:?}"))),
    }
}

/// The columns of `webhook_endpoints`, in [`EndpointRow`]'s order.
const ENDPOINT_COLUMNS: &str = "id, tenant_id, url, events, description, secret, enabled, \
    disabled_reason, failing_since_ms, created_at_ms, updated_at_ms";

/// A row of `webhook_endpoints`.
type EndpointRow = (
    i64,
    String,
    String,
    String,
    Option<String>,
    String,
    bool,
    Option<String>,
    Option<i64>,
    i64,
    i64,
);

fn endpoint_from_row(row: EndpointRow) -> Result<Endpoint, StoreError> {
    let (
        id,
        tenant,
        url,
        events,
        description,
        secret,
        enabled,
        disabled_reason,
        failing_since_ms,
        created_at_ms,
        updated_at_ms,
    ) = row;
    Ok(Endpoint {
        id: id_from_sql(id),
        tenant: tenant_from_sql(&tenant)?,
        url,
        events: types_from_sql(&events),
        description,
        secret: Secret::new(secret),
        enabled,
        disabled_reason,
        failing_since_ms,
        created_at_ms,
        updated_at_ms,
    })
}

/// A delivery with its event, in [`DeliveryRow`]'s order (`d` the delivery, `e` the event).
const DELIVERY_COLUMNS: &str = "d.id, d.endpoint_id, d.state, d.attempts, \
    d.next_attempt_at_ms, d.created_at_ms, d.delivered_at_ms, \
    e.id, e.tenant_id, e.event_type, e.timestamp_ms, e.payload";

/// The deliveries joined with their events.
const DELIVERIES_FROM: &str = "webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id";

/// A row of [`DELIVERY_COLUMNS`].
type DeliveryRow = (
    i64,
    i64,
    String,
    i64,
    Option<i64>,
    i64,
    Option<i64>,
    String,
    String,
    String,
    i64,
    String,
);

fn delivery_from_row(row: DeliveryRow) -> Result<Delivery, StoreError> {
    let (
        id,
        endpoint_id,
        state,
        attempts,
        next_attempt_at_ms,
        created_at_ms,
        delivered_at_ms,
        event_id,
        event_tenant,
        event_type,
        timestamp_ms,
        payload,
    ) = row;
    Ok(Delivery {
        id: id_from_sql(id),
        endpoint_id: id_from_sql(endpoint_id),
        event: Event {
            id: event_id,
            tenant: tenant_from_sql(&event_tenant)?,
            event_type,
            timestamp_ms,
            payload,
        },
        state: state_from_sql(&state)?,
        attempts: fits(attempts, "a delivery's attempt count")?,
        next_attempt_at_ms,
        created_at_ms,
        delivered_at_ms,
    })
}

/// A row of `webhook_attempts`: delivery id, then the attempt.
type AttemptRow = (i64, i64, Option<i64>, i64, Option<String>);

fn attempt_from_row(row: AttemptRow) -> Result<(i64, Attempt), StoreError> {
    let (delivery_id, at_ms, status, latency_ms, error) = row;
    Ok((
        delivery_id,
        Attempt {
            at_ms,
            status: status
                .map(|s| fits(s, "an attempt's HTTP status"))
                .transpose()?,
            latency_ms: fits(latency_ms, "an attempt's latency")?,
            error,
        },
    ))
}

impl SqlStore {
    /// `clause` (a row lock) on PostgreSQL, nothing on SQLite (whose write transactions hold
    /// the whole file). Transactions lock an endpoint before its deliveries, so they never
    /// deadlock.
    fn lock(&self, clause: &'static str) -> &'static str {
        match self.dialect() {
            Dialect::Sqlite => "",
            Dialect::Postgres => clause,
        }
    }

    /// The delivery `id` of `endpoint_id` with its event.
    async fn load_delivery(
        &self,
        endpoint_id: u64,
        id: u64,
    ) -> Result<Option<Delivery>, StoreError> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM {DELIVERIES_FROM} \
             WHERE d.id = $1 AND d.endpoint_id = $2"
        );
        let row: Option<DeliveryRow> = with_pool!(self, p => sqlx::query_as(&sql)
            .bind(id_to_sql(id))
            .bind(id_to_sql(endpoint_id))
            .fetch_optional(p)
            .await
            .map_err(unavailable))?;
        row.map(delivery_from_row).transpose()
    }

    /// Applies `change` to endpoint `id` in one transaction; `None` for an unknown id.
    async fn change_endpoint(
        &self,
        id: u64,
        change: impl FnOnce(&mut Endpoint) + Send,
    ) -> Result<Option<Endpoint>, StoreError> {
        let select = format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1{}",
            // Not a key change: publishing (key-share locks) goes on meanwhile.
            self.lock(" FOR NO KEY UPDATE")
        );
        let update = "UPDATE webhook_endpoints SET url = $2, events = $3, description = $4, \
            enabled = $5, disabled_reason = $6, failing_since_ms = $7, updated_at_ms = $8 \
            WHERE id = $1";
        with_pool!(self, p => {
            let mut tx = begin_write!(self, p)?;
            let row: Option<EndpointRow> = sqlx::query_as(&select)
                .bind(id_to_sql(id))
                .fetch_optional(&mut *tx)
                .await
                .map_err(unavailable)?;
            let Some(row) = row else {
                tx.rollback().await.map_err(unavailable)?;
                return Ok(None);
            };
            let mut endpoint = endpoint_from_row(row)?;
            change(&mut endpoint);
            sqlx::query(update)
                .bind(id_to_sql(id))
                .bind(endpoint.url.clone())
                .bind(types_to_sql(&endpoint.events)?)
                .bind(endpoint.description.clone())
                .bind(endpoint.enabled)
                .bind(endpoint.disabled_reason.clone())
                .bind(endpoint.failing_since_ms)
                .bind(endpoint.updated_at_ms)
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
            tx.commit().await.map_err(unavailable)?;
            Ok(Some(endpoint))
        })
    }
}

#[async_trait]
impl WebhookStore for SqlStore {
    async fn create_endpoint(
        &self,
        new: &NewEndpoint,
        now_ms: i64,
    ) -> Result<Endpoint, StoreError> {
        const INSERT: &str = "INSERT INTO webhook_endpoints (url, events, description, secret, \
            enabled, created_at_ms, updated_at_ms, tenant_id) \
            VALUES ($1, $2, $3, $4, TRUE, $5, $5, $6) RETURNING id";
        let events = types_to_sql(&new.events)?;
        let id: i64 = with_pool!(self, p => sqlx::query_scalar(INSERT)
            .bind(new.url.clone())
            .bind(events.clone())
            .bind(new.description.clone())
            .bind(new.secret.expose().to_owned())
            .bind(now_ms)
            .bind(new.tenant.as_str())
            .fetch_one(p)
            .await
            .map_err(unavailable))?;
        Ok(Endpoint {
            id: id_from_sql(id),
            tenant: new.tenant.clone(),
            url: new.url.clone(),
            events: new.events.clone(),
            description: new.description.clone(),
            secret: new.secret.clone(),
            enabled: true,
            disabled_reason: None,
            failing_since_ms: None,
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
        })
    }

    async fn endpoints(&self, tenant: Option<&TenantId>) -> Result<Vec<Endpoint>, StoreError> {
        let sql = format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints {} ORDER BY id",
            if tenant.is_some() {
                "WHERE tenant_id = $1"
            } else {
                ""
            }
        );
        let rows: Vec<EndpointRow> = with_pool!(self, p => {
            let mut q = sqlx::query_as(&sql);
            if let Some(t) = tenant {
                q = q.bind(t.as_str());
            }
            q.fetch_all(p).await.map_err(unavailable)
        })?;
        rows.into_iter().map(endpoint_from_row).collect()
    }

    async fn endpoint(&self, id: u64) -> Result<Option<Endpoint>, StoreError> {
        let sql = format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1");
        let row: Option<EndpointRow> = with_pool!(self, p => sqlx::query_as(&sql)
            .bind(id_to_sql(id))
            .fetch_optional(p)
            .await
            .map_err(unavailable))?;
        row.map(endpoint_from_row).transpose()
    }

    async fn update_endpoint(
        &self,
        id: u64,
        update: &EndpointUpdate,
        now_ms: i64,
    ) -> Result<Option<Endpoint>, StoreError> {
        if let Some(events) = &update.events {
            types_to_sql(events)?;
        }
        self.change_endpoint(id, |e| {
            if let Some(url) = &update.url {
                e.url = url.clone();
            }
            if let Some(events) = &update.events {
                e.events = events.clone();
            }
            if let Some(description) = &update.description {
                e.description = description.clone();
            }
            if let Some(enabled) = update.enabled {
                e.enabled = enabled;
                if enabled {
                    e.disabled_reason = None;
                    e.failing_since_ms = None;
                }
            }
            e.updated_at_ms = now_ms;
        })
        .await
    }

    async fn disable_endpoint(
        &self,
        id: u64,
        reason: &str,
        now_ms: i64,
    ) -> Result<Option<Endpoint>, StoreError> {
        self.change_endpoint(id, |e| {
            e.enabled = false;
            e.disabled_reason = Some(reason.to_owned());
            e.updated_at_ms = now_ms;
        })
        .await
    }

    async fn delete_endpoint(&self, id: u64) -> Result<bool, StoreError> {
        const ATTEMPTS: &str = "DELETE FROM webhook_attempts WHERE delivery_id IN \
            (SELECT id FROM webhook_deliveries WHERE endpoint_id = $1)";
        const DELIVERIES: &str = "DELETE FROM webhook_deliveries WHERE endpoint_id = $1";
        const ENDPOINT: &str = "DELETE FROM webhook_endpoints WHERE id = $1";
        let lock = format!(
            "SELECT id FROM webhook_endpoints WHERE id = $1{}",
            self.lock(" FOR UPDATE")
        );
        let id = id_to_sql(id);
        with_pool!(self, p => {
            let mut tx = begin_write!(self, p)?;
            // First the endpoint: publishing that made deliveries to it is waited for (and
            // its deliveries deleted below), later publishing leaves it out.
            let found: Option<i64> = sqlx::query_scalar(&lock)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(unavailable)?;
            if found.is_none() {
                tx.rollback().await.map_err(unavailable)?;
                return Ok(false);
            }
            for sql in [ATTEMPTS, DELIVERIES] {
                sqlx::query(sql)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(unavailable)?;
            }
            let deleted = sqlx::query(ENDPOINT)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?
                .rows_affected();
            tx.commit().await.map_err(unavailable)?;
            Ok(deleted == 1)
        })
    }

    async fn publish(&self, events: &[Event], now_ms: i64) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let mut subscribers: Subscribers = None;
        with_pool!(self, p => {
            let mut tx = begin_write!(self, p)?;
            publish_in!(self, tx, events, now_ms, subscribers);
            tx.commit().await.map_err(unavailable)
        })
    }

    async fn deliver_to(
        &self,
        endpoint_id: u64,
        event: &Event,
        now_ms: i64,
    ) -> Result<Option<Delivery>, StoreError> {
        let exists = format!(
            "SELECT id FROM webhook_endpoints WHERE id = $1{}",
            self.lock(" FOR KEY SHARE")
        );
        // The delivery carries the event as kept (the one published first under its id).
        let made = format!("SELECT {DELIVERY_COLUMNS} FROM {DELIVERIES_FROM} WHERE d.id = $1");
        let row: Option<DeliveryRow> = with_pool!(self, p => {
            let mut tx = begin_write!(self, p)?;
            let found: Option<i64> = sqlx::query_scalar(&exists)
                .bind(id_to_sql(endpoint_id))
                .fetch_optional(&mut *tx)
                .await
                .map_err(unavailable)?;
            match found {
                None => {
                    tx.rollback().await.map_err(unavailable)?;
                    None
                }
                Some(endpoint) => {
                    sqlx::query(INSERT_EVENT)
                        .bind(event.id.clone())
                        .bind(event.event_type.clone())
                        .bind(event.timestamp_ms)
                        .bind(event.payload.clone())
                        .bind(event.tenant.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(unavailable)?;
                    let id: i64 = sqlx::query_scalar(INSERT_DELIVERY)
                        .bind(endpoint)
                        .bind(event.id.clone())
                        .bind(now_ms)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(unavailable)?;
                    let row: DeliveryRow = sqlx::query_as(&made)
                        .bind(id)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(unavailable)?;
                    tx.commit().await.map_err(unavailable)?;
                    Some(row)
                }
            }
        });
        row.map(delivery_from_row).transpose()
    }

    async fn due_deliveries(&self, now_ms: i64, limit: u32) -> Result<Vec<Delivery>, StoreError> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM {DELIVERIES_FROM} \
             JOIN webhook_endpoints w ON w.id = d.endpoint_id \
             WHERE d.state = 'pending' AND d.next_attempt_at_ms <= $1 AND w.enabled = TRUE \
             ORDER BY d.next_attempt_at_ms, d.id LIMIT $2"
        );
        let rows: Vec<DeliveryRow> = with_pool!(self, p => sqlx::query_as(&sql)
            .bind(now_ms)
            .bind(i64::from(limit))
            .fetch_all(p)
            .await
            .map_err(unavailable))?;
        rows.into_iter().map(delivery_from_row).collect()
    }

    async fn record_attempt(
        &self,
        delivery_id: u64,
        attempt: &Attempt,
        outcome: AttemptOutcome,
    ) -> Result<(), StoreError> {
        const ENDPOINT_OF: &str = "SELECT endpoint_id FROM webhook_deliveries WHERE id = $1";
        let lock_endpoint = format!(
            "SELECT id FROM webhook_endpoints WHERE id = $1{}",
            self.lock(" FOR NO KEY UPDATE")
        );
        let select = format!(
            "SELECT endpoint_id, state FROM webhook_deliveries WHERE id = $1{}",
            self.lock(" FOR UPDATE")
        );
        const INSERT: &str = "INSERT INTO webhook_attempts \
            (delivery_id, at_ms, status, latency_ms, error) VALUES ($1, $2, $3, $4, $5)";
        const DELIVERED: &str = "UPDATE webhook_deliveries SET state = 'delivered', \
            attempts = attempts + 1, next_attempt_at_ms = NULL, delivered_at_ms = $2 \
            WHERE id = $1";
        const RETRY: &str = "UPDATE webhook_deliveries SET attempts = attempts + 1, \
            next_attempt_at_ms = $2 WHERE id = $1";
        const FAILED: &str = "UPDATE webhook_deliveries SET state = 'failed', \
            attempts = attempts + 1, next_attempt_at_ms = NULL WHERE id = $1";
        const SUCCEEDING: &str =
            "UPDATE webhook_endpoints SET failing_since_ms = NULL WHERE id = $1";
        const FAILING: &str = "UPDATE webhook_endpoints \
            SET failing_since_ms = COALESCE(failing_since_ms, $2) WHERE id = $1";
        let id = id_to_sql(delivery_id);
        let latency = i64::try_from(attempt.latency_ms).unwrap_or(i64::MAX);
        with_pool!(self, p => {
            let mut tx = begin_write!(self, p)?;
            // The endpoint is locked before the delivery, as `delete_endpoint` does.
            let endpoint: Option<i64> = sqlx::query_scalar(ENDPOINT_OF)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(unavailable)?;
            let locked: Option<i64> = match endpoint {
                Some(endpoint) => sqlx::query_scalar(&lock_endpoint)
                    .bind(endpoint)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(unavailable)?,
                None => None,
            };
            if locked.is_none() {
                tx.rollback().await.map_err(unavailable)?;
                return Ok(());
            }
            let found: Option<(i64, String)> = sqlx::query_as(&select)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(unavailable)?;
            let Some((endpoint_id, state)) = found else {
                tx.rollback().await.map_err(unavailable)?;
                return Ok(());
            };
            if state_from_sql(&state)? == DeliveryState::Pending {
                let (delivery, endpoint) = match outcome {
                    AttemptOutcome::Delivered => (
                        sqlx::query(DELIVERED).bind(id).bind(attempt.at_ms),
                        sqlx::query(SUCCEEDING).bind(endpoint_id),
                    ),
                    AttemptOutcome::RetryAt(at) => (
                        sqlx::query(RETRY).bind(id).bind(at),
                        sqlx::query(FAILING).bind(endpoint_id).bind(attempt.at_ms),
                    ),
                    AttemptOutcome::Failed => (
                        sqlx::query(FAILED).bind(id),
                        sqlx::query(FAILING).bind(endpoint_id).bind(attempt.at_ms),
                    ),
                };
                delivery.execute(&mut *tx).await.map_err(unavailable)?;
                endpoint.execute(&mut *tx).await.map_err(unavailable)?;
            }
            sqlx::query(INSERT)
                .bind(id)
                .bind(attempt.at_ms)
                .bind(attempt.status.map(i64::from))
                .bind(latency)
                .bind(attempt.error.clone())
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
            tx.commit().await.map_err(unavailable)
        })
    }

    async fn deliveries(
        &self,
        endpoint_id: u64,
        limit: u32,
    ) -> Result<Vec<(Delivery, Vec<Attempt>)>, StoreError> {
        let deliveries_sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM {DELIVERIES_FROM} \
             WHERE d.endpoint_id = $1 ORDER BY d.id DESC LIMIT $2"
        );
        // The attempts of the deliveries read (from the oldest one on: those of deliveries
        // made meanwhile are left out below).
        let attempts_sql = "SELECT delivery_id, at_ms, status, latency_ms, error \
            FROM webhook_attempts WHERE delivery_id IN \
            (SELECT id FROM webhook_deliveries WHERE endpoint_id = $1 AND id >= $2) \
            ORDER BY id";
        let endpoint = id_to_sql(endpoint_id);
        let (rows, attempts): (Vec<DeliveryRow>, Vec<AttemptRow>) = with_pool!(self, p => {
            let rows: Vec<DeliveryRow> = sqlx::query_as(&deliveries_sql)
                .bind(endpoint)
                .bind(i64::from(limit))
                .fetch_all(p)
                .await
                .map_err(unavailable)?;
            let attempts = match rows.last() {
                None => Vec::new(),
                Some(oldest) => sqlx::query_as(attempts_sql)
                    .bind(endpoint)
                    .bind(oldest.0)
                    .fetch_all(p)
                    .await
                    .map_err(unavailable)?,
            };
            (rows, attempts)
        });
        let mut per: std::collections::HashMap<i64, Vec<Attempt>> =
            std::collections::HashMap::new();
        for row in attempts {
            let (delivery_id, attempt) = attempt_from_row(row)?;
            per.entry(delivery_id).or_default().push(attempt);
        }
        rows.into_iter()
            .map(|row| {
                let attempts = per.remove(&row.0).unwrap_or_default();
                Ok((delivery_from_row(row)?, attempts))
            })
            .collect()
    }

    async fn retry_delivery(
        &self,
        endpoint_id: u64,
        delivery_id: u64,
        now_ms: i64,
    ) -> Result<Option<Delivery>, StoreError> {
        const RETRY: &str = "UPDATE webhook_deliveries \
            SET state = 'pending', next_attempt_at_ms = $3 \
            WHERE id = $1 AND endpoint_id = $2 AND state <> 'delivered'";
        with_pool!(self, p => sqlx::query(RETRY)
            .bind(id_to_sql(delivery_id))
            .bind(id_to_sql(endpoint_id))
            .bind(now_ms)
            .execute(p)
            .await
            .map(|r| r.rows_affected())
            .map_err(unavailable))?;
        self.load_delivery(endpoint_id, delivery_id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_round_trip_and_match_exactly() {
        let types = vec!["order.created".to_owned(), "order.settled".to_owned()];
        let text = types_to_sql(&types).unwrap();
        assert_eq!(types_from_sql(&text), types);
        assert!(subscribed(&text, "order.settled"));
        assert!(!subscribed(&text, "order"));
        assert!(!subscribed(&text, "order.created,order.settled"));
        assert!(types_to_sql(&["a,b".to_owned()]).is_err());
        assert!(types_to_sql(&[String::new()]).is_err());
    }
}
