//! The in-process backend: everything in one mutex, gone at exit. For tests, and the reference
//! the conformance suite was written against.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use alistach_domain::{Cents, platform_time};
use async_trait::async_trait;

use crate::types::NO_KEY;
use crate::{
    AnalyticsBatch, AnalyticsStore, ClickBucket, KeywordCounts, KeywordOrder, OrderBucket,
    Resolution, UsageCounts, UsageKey, UsageRow, bucket_of, sum_usage,
};
use crate::{
    Attempt, AttemptOutcome, Delivery, DeliveryState, Endpoint, EndpointUpdate, Event, NewEndpoint,
    WebhookStore, order_events,
};
use crate::{
    AuditEntry, AuditQuery, NewAuditEntry, TenantKeyRecord, TenantRecord, TenantSource, TenantStore,
};
use crate::{
    Click, ClickStore, ClickSummary, CursorStore, GroupBy, LeaseInfo, LeaseStore, OrderFilter,
    OrderPageRequest, OrderRecord, OrderRows, OrderStore, RevenueGroup, StatusChange, Store,
    StoreError, StoredOrder, UpsertSummary,
};
use crate::{Experiment, ExperimentStore, NewExperiment, Variant, VariantOutcome};
use crate::{NewWatch, Watch, WatchState, WatchStore};
use alistach_domain::TenantId;

/// Orders, cursors, leases and clicks in memory.
#[derive(Debug)]
pub struct MemoryStore {
    state: Mutex<State>,
    /// The lease clock's origin: leases expire on a monotonic clock.
    epoch: Instant,
}

#[derive(Debug, Default)]
struct State {
    orders: BTreeMap<u64, StoredOrder>,
    history: HashMap<u64, Vec<StatusChange>>,
    cursors: HashMap<String, String>,
    leases: HashMap<String, LeaseInfo>,
    clicks: Vec<Click>,
    experiments: Vec<Experiment>,
    links: HashMap<u32, u64>,
    next_variant: u32,
    endpoints: BTreeMap<u64, Endpoint>,
    next_endpoint: u64,
    events: HashMap<String, Event>,
    deliveries: BTreeMap<u64, Delivery>,
    attempts: HashMap<u64, Vec<Attempt>>,
    next_delivery: u64,
    watches: BTreeMap<u64, Watch>,
    next_watch: u64,
    cache_learning: HashMap<String, Vec<u8>>,
    usage: BTreeMap<(Resolution, i64, UsageKey), UsageCounts>,
    keywords: BTreeMap<(Resolution, i64, String, String), KeywordCounts>,
    flushes: BTreeMap<String, i64>,
    tenants: BTreeMap<TenantId, TenantRecord>,
    tenant_keys: Vec<TenantKeyRecord>,
    audit: Vec<AuditEntry>,
    /// The last audit id handed out (ids are never reused, even once purged).
    last_audit: u64,
}

impl State {
    /// Keeps `event` (once per id) with a pending delivery per enabled endpoint subscribed.
    fn publish(&mut self, event: &Event, now_ms: i64) {
        if self.events.contains_key(&event.id) {
            return;
        }
        self.events.insert(event.id.clone(), event.clone());
        let targets: Vec<u64> = self
            .endpoints
            .values()
            .filter(|e| {
                e.enabled && e.tenant == event.tenant && e.events.contains(&event.event_type)
            })
            .map(|e| e.id)
            .collect();
        for endpoint_id in targets {
            self.new_delivery(endpoint_id, event, now_ms);
        }
    }

    /// The tenant whose tracking id `tracking_id` is (the default tenant when none is).
    fn tenant_of_tracking_id(&self, tracking_id: Option<&str>) -> TenantId {
        tracking_id
            .and_then(|t| self.tenants.values().find(|r| r.tracking_id == t))
            .map_or_else(TenantId::default_tenant, |r| r.id.clone())
    }

    fn new_delivery(&mut self, endpoint_id: u64, event: &Event, now_ms: i64) -> Delivery {
        self.next_delivery += 1;
        let delivery = Delivery {
            id: self.next_delivery,
            endpoint_id,
            event: event.clone(),
            state: DeliveryState::Pending,
            attempts: 0,
            next_attempt_at_ms: Some(now_ms),
            created_at_ms: now_ms,
            delivered_at_ms: None,
        };
        self.deliveries.insert(delivery.id, delivery.clone());
        delivery
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new()
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore {
            state: Mutex::new(State::default()),
            epoch: Instant::now(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now_ms(&self) -> i64 {
        i64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(i64::MAX)
    }
}

/// True when `filter` selects `order`.
pub(crate) fn selects(filter: &OrderFilter, order: &StoredOrder) -> bool {
    let r = &order.record;
    r.mock == filter.mock
        && filter
            .from_ms
            .is_none_or(|from| order.order_time_ms >= from)
        && filter.to_ms.is_none_or(|to| order.order_time_ms < to)
        && filter.status.as_deref().is_none_or(|s| r.order.status == s)
        && filter
            .exclude_status
            .as_deref()
            .is_none_or(|s| r.order.status != s)
        && filter
            .tracking_id
            .as_deref()
            .is_none_or(|t| r.order.tracking_id.as_deref() == Some(t))
        && tracked_by(
            filter.tracking_ids.as_deref(),
            r.order.tracking_id.as_deref(),
        )
        && filter
            .experiment_id
            .is_none_or(|e| r.order.experiment_variant().is_some_and(|(id, _)| id == e))
}

/// True when `tracking_ids` is `None` or holds `tracking_id`.
fn tracked_by(tracking_ids: Option<&[String]>, tracking_id: Option<&str>) -> bool {
    tracking_ids.is_none_or(|ids| tracking_id.is_some_and(|t| ids.iter().any(|i| i == t)))
}

/// The group key of an order.
fn key(order: &StoredOrder, group_by: GroupBy) -> String {
    let o = &order.record.order;
    let text = match group_by {
        GroupBy::Day => Some(platform_time::utc_day(order.order_time_ms)),
        GroupBy::TrackingId => o.tracking_id.clone(),
        GroupBy::Product => o.product_id.map(|id| id.to_string()),
        GroupBy::Category => o.category_id.map(|id| id.to_string()),
        GroupBy::Variant => o.experiment_variant().map(|(_, variant)| variant),
    };
    text.unwrap_or_else(|| NO_KEY.to_owned())
}

#[async_trait]
impl OrderStore for MemoryStore {
    async fn upsert_orders(
        &self,
        orders: &[OrderRecord],
        observed_at_ms: i64,
    ) -> Result<UpsertSummary, StoreError> {
        let mut state = self.state();
        let mut summary = UpsertSummary::default();
        for record in orders {
            let id = record.order.sub_order_id;
            let order_time_ms = record.order_time_ms(observed_at_ms);
            let previous = state.orders.get(&id).cloned();
            match previous {
                None => {
                    state.orders.insert(
                        id,
                        StoredOrder {
                            record: record.clone(),
                            order_time_ms,
                            first_seen_ms: observed_at_ms,
                            updated_ms: observed_at_ms,
                        },
                    );
                    state.history.entry(id).or_default().push(StatusChange {
                        status: record.order.status.clone(),
                        previous: None,
                        observed_at_ms,
                    });
                    let tenant = state.tenant_of_tracking_id(record.order.tracking_id.as_deref());
                    for event in order_events(record, &tenant, None, observed_at_ms) {
                        state.publish(&event, observed_at_ms);
                    }
                    summary.inserted += 1;
                }
                Some(old) if old.record == *record => summary.unchanged += 1,
                Some(old) => {
                    if old.record.order.status != record.order.status {
                        state.history.entry(id).or_default().push(StatusChange {
                            status: record.order.status.clone(),
                            previous: Some(old.record.order.status.clone()),
                            observed_at_ms,
                        });
                        let tenant =
                            state.tenant_of_tracking_id(record.order.tracking_id.as_deref());
                        for event in order_events(
                            record,
                            &tenant,
                            Some(&old.record.order.status),
                            observed_at_ms,
                        ) {
                            state.publish(&event, observed_at_ms);
                        }
                        summary.status_changes += 1;
                    }
                    state.orders.insert(
                        id,
                        StoredOrder {
                            record: record.clone(),
                            order_time_ms: record.order_time_ms(old.first_seen_ms),
                            first_seen_ms: old.first_seen_ms,
                            updated_ms: observed_at_ms,
                        },
                    );
                    summary.updated += 1;
                }
            }
        }
        Ok(summary)
    }

    async fn order(&self, sub_order_id: u64) -> Result<Option<StoredOrder>, StoreError> {
        Ok(self.state().orders.get(&sub_order_id).cloned())
    }

    async fn status_history(&self, sub_order_id: u64) -> Result<Vec<StatusChange>, StoreError> {
        Ok(self
            .state()
            .history
            .get(&sub_order_id)
            .cloned()
            .unwrap_or_default())
    }

    async fn list_orders(
        &self,
        filter: &OrderFilter,
        page: OrderPageRequest,
    ) -> Result<OrderRows, StoreError> {
        let state = self.state();
        let mut selected: Vec<&StoredOrder> = state
            .orders
            .values()
            .filter(|o| selects(filter, o))
            .collect();
        selected.sort_by(|a, b| {
            (b.order_time_ms, b.record.order.sub_order_id)
                .cmp(&(a.order_time_ms, a.record.order.sub_order_id))
        });
        let total = selected.len() as u64;
        let orders = selected
            .into_iter()
            .skip(usize::try_from(page.offset()).unwrap_or(usize::MAX))
            .take(page.limit() as usize)
            .cloned()
            .collect();
        Ok(OrderRows { orders, total })
    }

    async fn revenue(
        &self,
        filter: &OrderFilter,
        group_by: GroupBy,
    ) -> Result<Vec<RevenueGroup>, StoreError> {
        let state = self.state();
        let mut groups: BTreeMap<(String, String), RevenueGroup> = BTreeMap::new();
        for order in state.orders.values().filter(|o| selects(filter, o)) {
            let o = &order.record.order;
            let k = key(order, group_by);
            let g = groups
                .entry((k.clone(), o.currency.clone()))
                .or_insert_with(|| RevenueGroup {
                    key: k,
                    currency: o.currency.clone(),
                    orders: 0,
                    paid_amount: Cents::ZERO,
                    estimated_commission: Cents::ZERO,
                    finished_commission: Cents::ZERO,
                });
            let overflow = || StoreError::Corrupt("a revenue sum overflows".to_owned());
            g.orders += 1;
            g.paid_amount = g
                .paid_amount
                .checked_add(o.paid_amount)
                .ok_or_else(overflow)?;
            g.estimated_commission = g
                .estimated_commission
                .checked_add(o.estimated_paid_commission)
                .ok_or_else(overflow)?;
            g.finished_commission = g
                .finished_commission
                .checked_add(o.estimated_finished_commission.unwrap_or(Cents::ZERO))
                .ok_or_else(overflow)?;
        }
        Ok(groups.into_values().collect())
    }
}

#[async_trait]
impl CursorStore for MemoryStore {
    async fn cursor(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(self.state().cursors.get(name).cloned())
    }

    async fn set_cursor(&self, name: &str, value: &str) -> Result<(), StoreError> {
        self.state()
            .cursors
            .insert(name.to_owned(), value.to_owned());
        Ok(())
    }
}

#[async_trait]
impl crate::CacheLearningStore for MemoryStore {
    async fn load_cache_learning(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.state().cache_learning.get(name).cloned())
    }

    async fn save_cache_learning(&self, name: &str, snapshot: &[u8]) -> Result<(), StoreError> {
        crate::check_cache_learning_size(snapshot)?;
        self.state()
            .cache_learning
            .insert(name.to_owned(), snapshot.to_vec());
        Ok(())
    }
}

#[async_trait]
impl LeaseStore for MemoryStore {
    async fn try_acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let now = self.now_ms();
        let mut state = self.state();
        let free = state
            .leases
            .get(name)
            .is_none_or(|l| l.expires_at_ms <= now || l.holder == holder);
        if free {
            state.leases.insert(
                name.to_owned(),
                LeaseInfo {
                    holder: holder.to_owned(),
                    expires_at_ms: now.saturating_add(ttl_ms(ttl)),
                },
            );
        }
        Ok(free)
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        let mut state = self.state();
        if state.leases.get(name).is_some_and(|l| l.holder == holder) {
            state.leases.remove(name);
        }
        Ok(())
    }

    async fn lease(&self, name: &str) -> Result<Option<LeaseInfo>, StoreError> {
        let now = self.now_ms();
        Ok(self
            .state()
            .leases
            .get(name)
            .filter(|l| l.expires_at_ms > now)
            .cloned())
    }
}

/// A lease's length in whole milliseconds (at least 1).
pub(crate) fn ttl_ms(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX).max(1)
}

#[async_trait]
impl ClickStore for MemoryStore {
    async fn record_clicks(&self, clicks: &[Click]) -> Result<(), StoreError> {
        self.state().clicks.extend_from_slice(clicks);
        Ok(())
    }

    async fn click_summary(
        &self,
        tracking_ids: Option<&[String]>,
    ) -> Result<ClickSummary, StoreError> {
        let state = self.state();
        let mut per: HashMap<alistach_domain::ProductId, u64> = HashMap::new();
        let mut total = 0;
        for c in state
            .clicks
            .iter()
            .filter(|c| tracked_by(tracking_ids, Some(&c.tracking_id)))
        {
            total += 1;
            if let Some(id) = c.product_id {
                *per.entry(id).or_default() += 1;
            }
        }
        Ok(ClickSummary::from_counts(total, per))
    }
}

#[async_trait]
impl Store for MemoryStore {
    fn backend(&self) -> &'static str {
        "memory"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[async_trait]
impl ExperimentStore for MemoryStore {
    async fn create_experiment(
        &self,
        new: &NewExperiment,
        now_ms: i64,
    ) -> Result<Experiment, StoreError> {
        let mut state = self.state();
        if let Some(running) = state
            .experiments
            .iter()
            .find(|e| e.running() && e.tenant == new.tenant)
        {
            return Err(StoreError::Conflict(format!(
                "experiment {} ({}) is running; stop it first",
                running.id, running.name
            )));
        }
        let id = state.experiments.len() as u64 + 1;
        let mut variants = Vec::with_capacity(new.variants.len());
        for v in &new.variants {
            state.next_variant += 1;
            variants.push(Variant {
                id: state.next_variant,
                name: v.name.clone(),
                weight: v.weight,
                link_type: v.link_type,
                tracking_id: v.tracking_id.clone(),
            });
        }
        let experiment = Experiment {
            id,
            tenant: new.tenant.clone(),
            name: new.name.clone(),
            allocation: new.allocation,
            min_share_permille: new.min_share_permille,
            variants,
            created_at_ms: now_ms,
            stopped_at_ms: None,
        };
        state.experiments.push(experiment.clone());
        Ok(experiment)
    }

    async fn experiment(&self, id: u64) -> Result<Option<Experiment>, StoreError> {
        Ok(self
            .state()
            .experiments
            .iter()
            .find(|e| e.id == id)
            .cloned())
    }

    async fn experiments(&self, tenant: Option<&TenantId>) -> Result<Vec<Experiment>, StoreError> {
        Ok(self
            .state()
            .experiments
            .iter()
            .rev()
            .filter(|e| tenant.is_none_or(|t| &e.tenant == t))
            .cloned()
            .collect())
    }

    async fn running_experiment(
        &self,
        tenant: &TenantId,
    ) -> Result<Option<Experiment>, StoreError> {
        Ok(self
            .state()
            .experiments
            .iter()
            .find(|e| e.running() && &e.tenant == tenant)
            .cloned())
    }

    async fn running_experiments(&self) -> Result<Vec<Experiment>, StoreError> {
        let mut running: Vec<Experiment> = self
            .state()
            .experiments
            .iter()
            .filter(|e| e.running())
            .cloned()
            .collect();
        running.sort_by(|a, b| a.tenant.cmp(&b.tenant));
        Ok(running)
    }

    async fn stop_experiment(
        &self,
        id: u64,
        now_ms: i64,
    ) -> Result<Option<Experiment>, StoreError> {
        let mut state = self.state();
        let Some(e) = state.experiments.iter_mut().find(|e| e.id == id) else {
            return Ok(None);
        };
        e.stopped_at_ms.get_or_insert(now_ms);
        Ok(Some(e.clone()))
    }

    async fn add_links(&self, counts: &[(u32, u64)]) -> Result<(), StoreError> {
        let mut state = self.state();
        let known: std::collections::HashSet<u32> = state
            .experiments
            .iter()
            .flat_map(|e| e.variants.iter().map(|v| v.id))
            .collect();
        for &(variant, n) in counts {
            if known.contains(&variant) {
                *state.links.entry(variant).or_default() += n;
            }
        }
        Ok(())
    }

    async fn variant_outcomes(
        &self,
        experiment: &Experiment,
        mock: bool,
    ) -> Result<Vec<VariantOutcome>, StoreError> {
        let state = self.state();
        let mut out = Vec::new();
        for v in &experiment.variants {
            let links = state.links.get(&v.id).copied().unwrap_or(0);
            let clicks = state
                .clicks
                .iter()
                .filter(|c| c.variant == Some(v.id))
                .count() as u64;
            let mut rows: Vec<VariantOutcome> = Vec::new();
            for stored in state.orders.values() {
                let o = &stored.record.order;
                if stored.record.mock != mock
                    || o.status == alistach_domain::OrderStatus::Invalid.as_str()
                    || o.experiment_variant() != Some((experiment.id, v.name.clone()))
                {
                    continue;
                }
                let row = match rows
                    .iter_mut()
                    .find(|r| r.currency.as_deref() == Some(o.currency.as_str()))
                {
                    Some(row) => row,
                    None => {
                        rows.push(VariantOutcome {
                            variant_id: v.id,
                            links,
                            clicks,
                            currency: Some(o.currency.clone()),
                            ..VariantOutcome::default()
                        });
                        rows.last_mut().expect("just pushed")
                    }
                };
                let commission = o
                    .estimated_finished_commission
                    .unwrap_or(o.estimated_paid_commission)
                    .0;
                let overflow = || StoreError::Corrupt("a variant's sum overflows".to_owned());
                row.orders += 1;
                row.paid_cents = row
                    .paid_cents
                    .checked_add(o.paid_amount.0)
                    .ok_or_else(overflow)?;
                row.commission_cents = row
                    .commission_cents
                    .checked_add(commission)
                    .ok_or_else(overflow)?;
                row.commission_sq_cents = row
                    .commission_sq_cents
                    .checked_add(i128::from(commission) * i128::from(commission))
                    .ok_or_else(overflow)?;
            }
            if rows.is_empty() {
                rows.push(VariantOutcome {
                    variant_id: v.id,
                    links,
                    clicks,
                    ..VariantOutcome::default()
                });
            }
            rows.sort_by(|a, b| a.currency.cmp(&b.currency));
            out.extend(rows);
        }
        Ok(out)
    }
}

#[async_trait]
impl WebhookStore for MemoryStore {
    async fn create_endpoint(
        &self,
        new: &NewEndpoint,
        now_ms: i64,
    ) -> Result<Endpoint, StoreError> {
        let mut state = self.state();
        state.next_endpoint += 1;
        let endpoint = Endpoint {
            id: state.next_endpoint,
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
        };
        state.endpoints.insert(endpoint.id, endpoint.clone());
        Ok(endpoint)
    }

    async fn endpoints(&self, tenant: Option<&TenantId>) -> Result<Vec<Endpoint>, StoreError> {
        Ok(self
            .state()
            .endpoints
            .values()
            .filter(|e| tenant.is_none_or(|t| &e.tenant == t))
            .cloned()
            .collect())
    }

    async fn endpoint(&self, id: u64) -> Result<Option<Endpoint>, StoreError> {
        Ok(self.state().endpoints.get(&id).cloned())
    }

    async fn update_endpoint(
        &self,
        id: u64,
        update: &EndpointUpdate,
        now_ms: i64,
    ) -> Result<Option<Endpoint>, StoreError> {
        let mut state = self.state();
        let Some(e) = state.endpoints.get_mut(&id) else {
            return Ok(None);
        };
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
        Ok(Some(e.clone()))
    }

    async fn disable_endpoint(
        &self,
        id: u64,
        reason: &str,
        now_ms: i64,
    ) -> Result<Option<Endpoint>, StoreError> {
        let mut state = self.state();
        let Some(e) = state.endpoints.get_mut(&id) else {
            return Ok(None);
        };
        e.enabled = false;
        e.disabled_reason = Some(reason.to_owned());
        e.updated_at_ms = now_ms;
        Ok(Some(e.clone()))
    }

    async fn delete_endpoint(&self, id: u64) -> Result<bool, StoreError> {
        let mut state = self.state();
        if state.endpoints.remove(&id).is_none() {
            return Ok(false);
        }
        let gone: Vec<u64> = state
            .deliveries
            .values()
            .filter(|d| d.endpoint_id == id)
            .map(|d| d.id)
            .collect();
        for d in gone {
            state.deliveries.remove(&d);
            state.attempts.remove(&d);
        }
        Ok(true)
    }

    async fn publish(&self, events: &[Event], now_ms: i64) -> Result<(), StoreError> {
        let mut state = self.state();
        for event in events {
            state.publish(event, now_ms);
        }
        Ok(())
    }

    async fn deliver_to(
        &self,
        endpoint_id: u64,
        event: &Event,
        now_ms: i64,
    ) -> Result<Option<Delivery>, StoreError> {
        let mut state = self.state();
        if !state.endpoints.contains_key(&endpoint_id) {
            return Ok(None);
        }
        let event = state
            .events
            .entry(event.id.clone())
            .or_insert_with(|| event.clone())
            .clone();
        Ok(Some(state.new_delivery(endpoint_id, &event, now_ms)))
    }

    async fn due_deliveries(&self, now_ms: i64, limit: u32) -> Result<Vec<Delivery>, StoreError> {
        let state = self.state();
        let mut due: Vec<Delivery> = state
            .deliveries
            .values()
            .filter(|d| {
                d.state == DeliveryState::Pending
                    && d.next_attempt_at_ms.is_some_and(|t| t <= now_ms)
                    && state
                        .endpoints
                        .get(&d.endpoint_id)
                        .is_some_and(|e| e.enabled)
            })
            .cloned()
            .collect();
        due.sort_by_key(|d| (d.next_attempt_at_ms, d.id));
        due.truncate(limit as usize);
        Ok(due)
    }

    async fn record_attempt(
        &self,
        delivery_id: u64,
        attempt: &Attempt,
        outcome: AttemptOutcome,
    ) -> Result<(), StoreError> {
        let mut state = self.state();
        let Some(d) = state.deliveries.get_mut(&delivery_id) else {
            return Ok(());
        };
        let endpoint_id = d.endpoint_id;
        let pending = d.state == DeliveryState::Pending;
        if pending {
            d.attempts += 1;
            match outcome {
                AttemptOutcome::Delivered => {
                    d.state = DeliveryState::Delivered;
                    d.next_attempt_at_ms = None;
                    d.delivered_at_ms = Some(attempt.at_ms);
                }
                AttemptOutcome::RetryAt(at) => d.next_attempt_at_ms = Some(at),
                AttemptOutcome::Failed => {
                    d.state = DeliveryState::Failed;
                    d.next_attempt_at_ms = None;
                }
            }
        }
        state
            .attempts
            .entry(delivery_id)
            .or_default()
            .push(attempt.clone());
        if pending && let Some(e) = state.endpoints.get_mut(&endpoint_id) {
            match outcome {
                AttemptOutcome::Delivered => e.failing_since_ms = None,
                _ => {
                    e.failing_since_ms.get_or_insert(attempt.at_ms);
                }
            }
        }
        Ok(())
    }

    async fn deliveries(
        &self,
        endpoint_id: u64,
        limit: u32,
    ) -> Result<Vec<(Delivery, Vec<Attempt>)>, StoreError> {
        let state = self.state();
        Ok(state
            .deliveries
            .values()
            .rev()
            .filter(|d| d.endpoint_id == endpoint_id)
            .take(limit as usize)
            .map(|d| {
                (
                    d.clone(),
                    state.attempts.get(&d.id).cloned().unwrap_or_default(),
                )
            })
            .collect())
    }

    async fn retry_delivery(
        &self,
        endpoint_id: u64,
        delivery_id: u64,
        now_ms: i64,
    ) -> Result<Option<Delivery>, StoreError> {
        let mut state = self.state();
        let Some(d) = state
            .deliveries
            .get_mut(&delivery_id)
            .filter(|d| d.endpoint_id == endpoint_id)
        else {
            return Ok(None);
        };
        if d.state != DeliveryState::Delivered {
            d.state = DeliveryState::Pending;
            d.next_attempt_at_ms = Some(now_ms);
        }
        Ok(Some(d.clone()))
    }
}

#[async_trait]
impl WatchStore for MemoryStore {
    async fn create_watch(&self, new: &NewWatch, now_ms: i64) -> Result<Watch, StoreError> {
        let mut state = self.state();
        state.next_watch += 1;
        let watch = Watch {
            id: state.next_watch,
            tenant: new.tenant.clone(),
            product_id: new.product_id,
            price_drop_percent: new.price_drop_percent,
            target_price: new.target_price.clone(),
            currency: new.currency.clone(),
            ship_to_country: new.ship_to_country.clone(),
            created_at_ms: now_ms,
            state: WatchState::default(),
        };
        state.watches.insert(watch.id, watch.clone());
        Ok(watch)
    }

    async fn watches(&self, tenant: Option<&TenantId>) -> Result<Vec<Watch>, StoreError> {
        Ok(self
            .state()
            .watches
            .values()
            .filter(|w| tenant.is_none_or(|t| &w.tenant == t))
            .cloned()
            .collect())
    }

    async fn watch(&self, id: u64) -> Result<Option<Watch>, StoreError> {
        Ok(self.state().watches.get(&id).cloned())
    }

    async fn delete_watch(&self, id: u64) -> Result<bool, StoreError> {
        Ok(self.state().watches.remove(&id).is_some())
    }

    async fn record_watch_check(
        &self,
        id: u64,
        watch_state: &WatchState,
        events: &[Event],
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut state = self.state();
        let Some(w) = state.watches.get_mut(&id) else {
            return Ok(false);
        };
        w.state = watch_state.clone();
        for event in events {
            state.publish(event, now_ms);
        }
        Ok(true)
    }
}

#[async_trait]
impl AnalyticsStore for MemoryStore {
    async fn flush_analytics(&self, batch: &AnalyticsBatch) -> Result<bool, StoreError> {
        let mut state = self.state();
        if state.flushes.contains_key(&batch.flush_id) {
            return Ok(false);
        }
        let last_minute = batch
            .usage
            .iter()
            .map(|r| r.bucket_ms)
            .chain(batch.keywords.iter().map(|r| r.bucket_ms))
            .max()
            .unwrap_or(0);
        state.flushes.insert(batch.flush_id.clone(), last_minute);
        for row in &batch.usage {
            for res in Resolution::ALL {
                state
                    .usage
                    .entry((res, res.floor(row.bucket_ms), row.key.clone()))
                    .or_default()
                    .merge(&row.counts);
            }
        }
        for row in &batch.keywords {
            for res in Resolution::ALL {
                state
                    .keywords
                    .entry((
                        res,
                        res.floor(row.bucket_ms),
                        row.tenant.clone(),
                        row.keyword.clone(),
                    ))
                    .or_default()
                    .merge(&row.counts);
            }
        }
        Ok(true)
    }

    async fn usage(
        &self,
        tenant: Option<&str>,
        res: Resolution,
        from_ms: i64,
        to_ms: i64,
        step_ms: i64,
    ) -> Result<Vec<UsageRow>, StoreError> {
        let state = self.state();
        let rows = state.usage.iter().filter(|((r, _, _), _)| *r == res).map(
            |((_, bucket_ms, key), counts)| UsageRow {
                bucket_ms: *bucket_ms,
                key: key.clone(),
                counts: *counts,
            },
        );
        Ok(sum_usage(rows, tenant, from_ms, to_ms, step_ms))
    }

    async fn top_keywords(
        &self,
        tenant: Option<&str>,
        res: Resolution,
        from_ms: i64,
        to_ms: i64,
        order: KeywordOrder,
        limit: u32,
    ) -> Result<Vec<(String, KeywordCounts)>, StoreError> {
        let state = self.state();
        let mut sums: BTreeMap<&str, KeywordCounts> = BTreeMap::new();
        for ((r, bucket_ms, t, keyword), counts) in &state.keywords {
            if *r == res
                && (from_ms..to_ms).contains(bucket_ms)
                && !keyword.is_empty()
                && tenant.is_none_or(|tenant| tenant == t)
            {
                sums.entry(keyword).or_default().merge(counts);
            }
        }
        let mut ranked: Vec<(String, KeywordCounts)> = sums
            .into_iter()
            .map(|(k, c)| (k.to_owned(), c))
            .filter(|(_, c)| order == KeywordOrder::Searches || c.zero_results > 0)
            .collect();
        let rank = |c: &KeywordCounts| match order {
            KeywordOrder::Searches => c.searches,
            KeywordOrder::ZeroResults => c.zero_results,
        };
        ranked.sort_by(|a, b| rank(&b.1).cmp(&rank(&a.1)).then_with(|| a.0.cmp(&b.0)));
        ranked.truncate(limit as usize);
        Ok(ranked)
    }

    async fn keyword_series(
        &self,
        tenant: Option<&str>,
        res: Resolution,
        keyword: &str,
        from_ms: i64,
        to_ms: i64,
        step_ms: i64,
    ) -> Result<Vec<(i64, KeywordCounts)>, StoreError> {
        let state = self.state();
        let mut sums: BTreeMap<i64, KeywordCounts> = BTreeMap::new();
        for ((r, bucket_ms, t, k), counts) in &state.keywords {
            if *r == res
                && (from_ms..to_ms).contains(bucket_ms)
                && k == keyword
                && tenant.is_none_or(|tenant| tenant == t)
            {
                sums.entry(bucket_of(*bucket_ms, from_ms, step_ms))
                    .or_default()
                    .merge(counts);
            }
        }
        Ok(sums.into_iter().collect())
    }

    async fn purge_analytics(&self, res: Resolution, before_ms: i64) -> Result<u64, StoreError> {
        let mut state = self.state();
        let before = state.usage.len() + state.keywords.len();
        state
            .usage
            .retain(|(r, bucket_ms, _), _| *r != res || *bucket_ms >= before_ms);
        state
            .keywords
            .retain(|(r, bucket_ms, _, _), _| *r != res || *bucket_ms >= before_ms);
        if res == Resolution::Minute {
            state.flushes.retain(|_, at| *at >= before_ms);
        }
        Ok((before - state.usage.len() - state.keywords.len()) as u64)
    }

    async fn clicks_per_bucket(
        &self,
        tracking_ids: Option<&[String]>,
        from_ms: i64,
        to_ms: i64,
        step_ms: i64,
    ) -> Result<Vec<ClickBucket>, StoreError> {
        let state = self.state();
        let mut sums: BTreeMap<i64, u64> = BTreeMap::new();
        for c in state.clicks.iter().filter(|c| {
            (from_ms..to_ms).contains(&c.at_ms) && tracked_by(tracking_ids, Some(&c.tracking_id))
        }) {
            *sums
                .entry(bucket_of(c.at_ms, from_ms, step_ms))
                .or_default() += 1;
        }
        Ok(sums
            .into_iter()
            .map(|(bucket_ms, clicks)| ClickBucket { bucket_ms, clicks })
            .collect())
    }

    async fn orders_per_bucket(
        &self,
        tracking_ids: Option<&[String]>,
        mock: bool,
        from_ms: i64,
        to_ms: i64,
        step_ms: i64,
    ) -> Result<Vec<OrderBucket>, StoreError> {
        let state = self.state();
        let mut sums: BTreeMap<(i64, String), (u64, i64)> = BTreeMap::new();
        for o in state.orders.values() {
            if o.record.mock != mock
                || !(from_ms..to_ms).contains(&o.order_time_ms)
                || o.record.order.status == alistach_domain::OrderStatus::Invalid.as_str()
                || !tracked_by(tracking_ids, o.record.order.tracking_id.as_deref())
            {
                continue;
            }
            let e = sums
                .entry((
                    bucket_of(o.order_time_ms, from_ms, step_ms),
                    o.record.order.currency.clone(),
                ))
                .or_default();
            e.0 += 1;
            e.1 =
                e.1.checked_add(o.record.order.estimated_paid_commission.0)
                    .ok_or_else(|| StoreError::Corrupt("a commission sum overflows".to_owned()))?;
        }
        Ok(sums
            .into_iter()
            .map(
                |((bucket_ms, currency), (orders, commission_cents))| OrderBucket {
                    bucket_ms,
                    currency,
                    orders,
                    commission_cents,
                },
            )
            .collect())
    }
}

impl State {
    fn tracking_id_taken(&self, tracking_id: &str, other_than: &TenantId) -> bool {
        self.tenants
            .values()
            .any(|t| t.tracking_id == tracking_id && &t.id != other_than)
    }

    fn revoke_tenant_keys(&mut self, id: &TenantId, now_ms: i64) {
        for k in self.tenant_keys.iter_mut().filter(|k| &k.tenant == id) {
            k.revoked_ms.get_or_insert(now_ms);
        }
    }
}

fn tracking_conflict(tracking_id: &str) -> StoreError {
    StoreError::Conflict(format!(
        "the tracking id {tracking_id:?} is another tenant's"
    ))
}

#[async_trait]
impl TenantStore for MemoryStore {
    async fn create_tenant(&self, tenant: &TenantRecord) -> Result<(), StoreError> {
        let mut s = self.state();
        if s.tenants.contains_key(&tenant.id) {
            return Err(StoreError::Conflict(format!(
                "a tenant with the id {:?} exists",
                tenant.id.as_str()
            )));
        }
        if s.tracking_id_taken(&tenant.tracking_id, &tenant.id) {
            return Err(tracking_conflict(&tenant.tracking_id));
        }
        s.tenants.insert(tenant.id.clone(), tenant.clone());
        Ok(())
    }

    async fn update_tenant(&self, tenant: &TenantRecord) -> Result<bool, StoreError> {
        let mut s = self.state();
        if !s.tenants.contains_key(&tenant.id) {
            return Ok(false);
        }
        if s.tracking_id_taken(&tenant.tracking_id, &tenant.id) {
            return Err(tracking_conflict(&tenant.tracking_id));
        }
        let stored = s.tenants.get_mut(&tenant.id).expect("checked above");
        let created_ms = stored.created_ms;
        *stored = TenantRecord {
            created_ms,
            ..tenant.clone()
        };
        Ok(true)
    }

    async fn tenant(&self, id: &TenantId) -> Result<Option<TenantRecord>, StoreError> {
        Ok(self.state().tenants.get(id).cloned())
    }

    async fn tenants(&self) -> Result<Vec<TenantRecord>, StoreError> {
        Ok(self.state().tenants.values().cloned().collect())
    }

    async fn delete_tenant(&self, id: &TenantId, now_ms: i64) -> Result<bool, StoreError> {
        let mut s = self.state();
        if s.tenants.remove(id).is_none() {
            return Ok(false);
        }
        s.revoke_tenant_keys(id, now_ms);
        Ok(true)
    }

    async fn sync_file_tenants(
        &self,
        tenants: &[TenantRecord],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut s = self.state();
        let mut file_ids = std::collections::HashSet::new();
        let mut tracking_ids = std::collections::HashSet::new();
        for t in tenants {
            if !file_ids.insert(&t.id) {
                return Err(StoreError::Conflict(format!(
                    "the tenant id {:?} is listed twice",
                    t.id.as_str()
                )));
            }
            if !tracking_ids.insert(t.tracking_id.as_str()) {
                return Err(StoreError::Conflict(format!(
                    "the tracking id {:?} is listed twice",
                    t.tracking_id
                )));
            }
        }
        for t in tenants {
            let taken = s.tenants.values().any(|o| {
                o.tracking_id == t.tracking_id
                    && o.id != t.id
                    && o.source == TenantSource::Api
                    && !file_ids.contains(&o.id)
            });
            if taken {
                return Err(tracking_conflict(&t.tracking_id));
            }
        }
        let gone: Vec<TenantId> = s
            .tenants
            .values()
            .filter(|t| t.source == TenantSource::File && !file_ids.contains(&t.id))
            .map(|t| t.id.clone())
            .collect();
        for id in gone {
            s.tenants.remove(&id);
            s.revoke_tenant_keys(&id, now_ms);
        }
        for t in tenants {
            let created_ms = s.tenants.get(&t.id).map_or(t.created_ms, |o| o.created_ms);
            s.tenants.insert(
                t.id.clone(),
                TenantRecord {
                    source: TenantSource::File,
                    created_ms,
                    ..t.clone()
                },
            );
        }
        Ok(())
    }

    async fn create_key(&self, key: &TenantKeyRecord) -> Result<(), StoreError> {
        let mut s = self.state();
        if !s.tenants.contains_key(&key.tenant) {
            return Err(StoreError::Conflict(format!(
                "no tenant has the id {:?}",
                key.tenant.as_str()
            )));
        }
        if s.tenant_keys
            .iter()
            .any(|k| k.id == key.id || k.digest == key.digest)
        {
            return Err(StoreError::Conflict(
                "the key id or the key is taken".into(),
            ));
        }
        s.tenant_keys.push(key.clone());
        Ok(())
    }

    async fn tenant_keys(&self, tenant: &TenantId) -> Result<Vec<TenantKeyRecord>, StoreError> {
        let mut keys: Vec<TenantKeyRecord> = self
            .state()
            .tenant_keys
            .iter()
            .filter(|k| &k.tenant == tenant)
            .cloned()
            .collect();
        keys.sort_by(|a, b| (a.created_ms, &a.id).cmp(&(b.created_ms, &b.id)));
        Ok(keys)
    }

    async fn live_keys(&self, now_ms: i64) -> Result<Vec<TenantKeyRecord>, StoreError> {
        Ok(self
            .state()
            .tenant_keys
            .iter()
            .filter(|k| k.is_live(now_ms))
            .cloned()
            .collect())
    }

    async fn revoke_key(
        &self,
        tenant: &TenantId,
        key_id: &str,
        now_ms: i64,
    ) -> Result<Option<TenantKeyRecord>, StoreError> {
        let mut s = self.state();
        Ok(s.tenant_keys
            .iter_mut()
            .find(|k| &k.tenant == tenant && k.id == key_id)
            .map(|k| {
                k.revoked_ms.get_or_insert(now_ms);
                k.clone()
            }))
    }

    async fn touch_keys(&self, used: &[(String, i64)]) -> Result<(), StoreError> {
        let mut s = self.state();
        for (id, at) in used {
            if let Some(k) = s.tenant_keys.iter_mut().find(|k| &k.id == id) {
                k.last_used_ms = Some(k.last_used_ms.map_or(*at, |l| l.max(*at)));
            }
        }
        Ok(())
    }

    async fn append_audit(&self, entry: &NewAuditEntry) -> Result<u64, StoreError> {
        let mut s = self.state();
        s.last_audit += 1;
        let id = s.last_audit;
        s.audit.push(AuditEntry {
            id,
            entry: entry.clone(),
        });
        Ok(id)
    }

    async fn audit(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
        let s = self.state();
        Ok(s.audit
            .iter()
            .rev()
            .filter(|e| {
                query.tenant.as_ref().is_none_or(|t| {
                    e.entry.tenant.as_ref() == Some(t) || e.entry.actor_tenant.as_ref() == Some(t)
                }) && query.from_ms.is_none_or(|f| e.entry.at_ms >= f)
                    && query.to_ms.is_none_or(|t| e.entry.at_ms < t)
                    && query.before_id.is_none_or(|b| e.id < b)
            })
            .take(query.limit as usize)
            .cloned()
            .collect())
    }

    async fn purge_audit(&self, before_ms: i64) -> Result<u64, StoreError> {
        let mut s = self.state();
        let before = s.audit.len();
        s.audit.retain(|e| e.entry.at_ms >= before_ms);
        Ok((before - s.audit.len()) as u64)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn the_memory_store_passes_the_conformance_suite() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        crate::conformance::run_all(&store, &store).await;
    }
}
