//! The behaviour every [`Store`] backend must show, as async checks a backend's tests call.
//!
//! Each check works on its own sub-order ids and tracking ids, so the checks share one
//! database without seeing each other's rows; `other` is a second handle on the same database
//! (another pool, as another instance would have), for the checks of what instances share.

use std::sync::Arc;
use std::time::Duration;

use alistach_domain::{AffiliateOrder, Cents, TenantId};

mod analytics;
mod scope;
mod tenants;
mod watches;
mod webhooks;

pub use analytics::{
    analytics_flushes_add_up_once, analytics_retention_purges_by_age,
    clicks_and_orders_are_counted_per_bucket,
};

pub use scope::{
    analytics_are_kept_per_tenant, events_reach_only_their_tenants_endpoints,
    experiments_run_one_per_tenant, orders_and_clicks_are_selected_by_tracking_ids,
    watches_stay_in_their_tenant,
};

pub use tenants::{
    audit_entries_are_appended_queried_and_purged, deleting_a_tenant_revokes_its_keys,
    file_tenants_are_synced, keys_are_created_listed_revoked_and_touched,
    tenants_are_created_changed_and_listed,
};

pub use watches::{
    watch_checks_are_recorded_with_their_events, watches_are_created_listed_and_deleted,
};

pub use webhooks::{
    attempts_are_recorded_with_what_follows, deliveries_are_retried_and_test_events_sent,
    due_deliveries_are_pending_due_and_enabled_oldest_first, publishing_fans_out_once_per_event,
    upserts_publish_order_events_once_per_change,
    webhook_endpoints_are_created_changed_and_deleted,
};

use crate::{
    Allocation, Experiment, GroupBy, NewExperiment, NewVariant, OrderFilter, OrderPageRequest,
    OrderRecord, RevenueGroup, RevenueReport, Store, StoreError, VariantOutcome,
};

/// An order of this check: `base + n` as sub-order id, paid at `paid_at_ms`.
pub fn sample_order(sub_order_id: u64, tracking_id: &str, paid_at_ms: i64) -> OrderRecord {
    OrderRecord {
        order: AffiliateOrder {
            sub_order_id,
            order_id: Some(sub_order_id.wrapping_sub(1)),
            status: "Payment Completed".to_owned(),
            tracking_id: Some(tracking_id.to_owned()),
            product_id: Some(1_005_006_000_000_001),
            product_title: Some("Wireless Earbuds — «Pro» 耳机".to_owned()),
            category_id: Some(44),
            product_count: Some(2),
            paid_amount: Cents(1113),
            finished_amount: None,
            estimated_paid_commission: Cents(77),
            estimated_finished_commission: None,
            commission_rate: Some("7.00%".to_owned()),
            currency: "USD".to_owned(),
            created_at_ms: Some(paid_at_ms - 120_000),
            paid_at_ms: Some(paid_at_ms),
            finished_at_ms: None,
            custom_parameters: Some(r#"{"af":"x","cv":"1"}"#.to_owned()),
            ship_to_country: Some("FR".to_owned()),
        },
        mock: false,
    }
}

/// 2023-11-01 00:00:00 UTC.
const T0: i64 = 1_698_796_800_000;
const DAY: i64 = 86_400_000;

/// Runs every check in turn on `store`, with `other` a second handle on the same database
/// (the same store, for a backend without one).
pub async fn run_all(store: &Arc<dyn Store>, other: &Arc<dyn Store>) {
    store.ping().await.expect("ping");
    a_stored_order_comes_back_with_every_field(store, other).await;
    storing_the_same_order_twice_changes_nothing(store).await;
    every_status_change_is_kept_in_order(store).await;
    other_changes_update_without_history(store).await;
    concurrent_upserts_store_one_order_and_one_history(store, other).await;
    lists_filter_order_and_page(store).await;
    mock_and_real_orders_never_mix(store).await;
    revenue_groups_sum_exactly(store).await;
    cursors_persist_and_overwrite(store, other).await;
    leases_have_one_holder_across_handles(store, other).await;
    leases_expire(store, other).await;
    clicks_are_appended_and_summed(store, other).await;
    experiments_are_created_listed_and_stopped(store, other).await;
    racing_instances_create_one_experiment(store, other).await;
    variants_earn_their_links_clicks_and_orders(store, other).await;
    webhook_endpoints_are_created_changed_and_deleted(store, other).await;
    publishing_fans_out_once_per_event(store, other).await;
    upserts_publish_order_events_once_per_change(store, other).await;
    due_deliveries_are_pending_due_and_enabled_oldest_first(store, other).await;
    attempts_are_recorded_with_what_follows(store, other).await;
    deliveries_are_retried_and_test_events_sent(store, other).await;
    watches_are_created_listed_and_deleted(store, other).await;
    watch_checks_are_recorded_with_their_events(store, other).await;
    analytics_retention_purges_by_age(store).await;
    analytics_flushes_add_up_once(store, other).await;
    clicks_and_orders_are_counted_per_bucket(store).await;
    cache_learning_snapshots_are_saved_replaced_and_shared(store, other).await;
    experiments_run_one_per_tenant(store, other).await;
    events_reach_only_their_tenants_endpoints(store, other).await;
    watches_stay_in_their_tenant(store, other).await;
    analytics_are_kept_per_tenant(store, other).await;
    orders_and_clicks_are_selected_by_tracking_ids(store).await;
    tenants_are_created_changed_and_listed(store, other).await;
    deleting_a_tenant_revokes_its_keys(store, other).await;
    keys_are_created_listed_revoked_and_touched(store, other).await;
    file_tenants_are_synced(store, other).await;
    audit_entries_are_appended_queried_and_purged(store, other).await;
}

/// A learned-cache snapshot is absent until saved, replaced by the next save, shared by every
/// handle, kept per name, and refused above the size limit.
pub async fn cache_learning_snapshots_are_saved_replaced_and_shared(
    store: &Arc<dyn Store>,
    other: &Arc<dyn Store>,
) {
    assert_eq!(store.load_cache_learning("conf:learn").await.unwrap(), None);
    store
        .save_cache_learning("conf:learn", b"first")
        .await
        .unwrap();
    let bytes: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    store
        .save_cache_learning("conf:learn", &bytes)
        .await
        .unwrap();
    assert_eq!(
        other.load_cache_learning("conf:learn").await.unwrap(),
        Some(bytes)
    );
    assert_eq!(
        other.load_cache_learning("conf:learn:other").await.unwrap(),
        None
    );
    let too_big = vec![0u8; crate::MAX_CACHE_LEARNING_BYTES + 1];
    assert!(
        store
            .save_cache_learning("conf:learn", &too_big)
            .await
            .is_err()
    );
}

/// Every field, `None`s and non-ASCII text included, and ids beyond `i64::MAX`, round-trips;
/// another handle sees the order too.
pub async fn a_stored_order_comes_back_with_every_field(
    store: &Arc<dyn Store>,
    other: &Arc<dyn Store>,
) {
    let full = sample_order(u64::MAX - 7, "conf-fields", T0);
    let mut sparse = sample_order(9_000_000_000_000_001, "conf-fields", T0 + 1);
    sparse.order.order_id = None;
    sparse.order.tracking_id = None;
    sparse.order.product_id = None;
    sparse.order.product_title = None;
    sparse.order.category_id = None;
    sparse.order.product_count = None;
    sparse.order.commission_rate = None;
    sparse.order.created_at_ms = None;
    sparse.order.paid_at_ms = None;
    sparse.order.custom_parameters = None;
    sparse.order.ship_to_country = None;
    let mut finished = sample_order(9_000_000_000_000_002, "conf-fields", T0 + 2);
    finished.order.status = "Completed Settlement".to_owned();
    finished.order.finished_amount = Some(Cents(1000));
    finished.order.estimated_finished_commission = Some(Cents(70));
    finished.order.finished_at_ms = Some(T0 + 5 * DAY);
    let summary = store
        .upsert_orders(&[full.clone(), sparse.clone(), finished.clone()], T0 + 10)
        .await
        .unwrap();
    assert_eq!(summary.inserted, 3, "{summary:?}");
    for (record, time) in [(&full, T0), (&sparse, T0 + 10), (&finished, T0 + 2)] {
        for handle in [store, other] {
            let got = handle
                .order(record.order.sub_order_id)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("order {} is stored", record.order.sub_order_id));
            assert_eq!(got.record, *record);
            assert_eq!(
                got.order_time_ms, time,
                "filed under paid, created, first seen"
            );
            assert_eq!(got.first_seen_ms, T0 + 10);
            assert_eq!(got.updated_ms, T0 + 10);
        }
    }
    assert_eq!(store.order(12345).await.unwrap(), None);
    assert_eq!(store.status_history(12345).await.unwrap(), vec![]);
}

/// Upserting an order as stored records nothing new.
pub async fn storing_the_same_order_twice_changes_nothing(store: &Arc<dyn Store>) {
    let order = sample_order(9_000_000_000_000_101, "conf-idem", T0);
    let first = store
        .upsert_orders(std::slice::from_ref(&order), T0)
        .await
        .unwrap();
    assert_eq!((first.inserted, first.status_changes), (1, 0));
    let again = store
        .upsert_orders(&[order.clone(), order.clone()], T0 + 1000)
        .await
        .unwrap();
    assert_eq!(again.unchanged, 2, "{again:?}");
    assert_eq!(
        (again.inserted, again.updated, again.status_changes),
        (0, 0, 0)
    );
    let history = store
        .status_history(order.order.sub_order_id)
        .await
        .unwrap();
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(history[0].status, "Payment Completed");
    assert_eq!(history[0].previous, None);
    assert_eq!(history[0].observed_at_ms, T0);
    let stored = store
        .order(order.order.sub_order_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.updated_ms, T0, "an unchanged order is not touched");
}

/// Each status an order reaches is a history row, oldest first, naming the one before.
pub async fn every_status_change_is_kept_in_order(store: &Arc<dyn Store>) {
    let id = 9_000_000_000_000_201;
    let mut order = sample_order(id, "conf-history", T0);
    store
        .upsert_orders(std::slice::from_ref(&order), T0)
        .await
        .unwrap();
    order.order.status = "Buyer Confirmed Receipt".to_owned();
    let s = store
        .upsert_orders(&[order.clone()], T0 + DAY)
        .await
        .unwrap();
    assert_eq!((s.updated, s.status_changes), (1, 1), "{s:?}");
    order.order.status = "Completed Settlement".to_owned();
    order.order.finished_amount = Some(Cents(1113));
    order.order.estimated_finished_commission = Some(Cents(77));
    store
        .upsert_orders(&[order.clone()], T0 + 2 * DAY)
        .await
        .unwrap();
    // Seen again: no new row.
    store
        .upsert_orders(&[order.clone()], T0 + 3 * DAY)
        .await
        .unwrap();
    let history = store.status_history(id).await.unwrap();
    let seen: Vec<(&str, Option<&str>, i64)> = history
        .iter()
        .map(|c| (c.status.as_str(), c.previous.as_deref(), c.observed_at_ms))
        .collect();
    assert_eq!(
        seen,
        vec![
            ("Payment Completed", None, T0),
            (
                "Buyer Confirmed Receipt",
                Some("Payment Completed"),
                T0 + DAY
            ),
            (
                "Completed Settlement",
                Some("Buyer Confirmed Receipt"),
                T0 + 2 * DAY
            ),
        ]
    );
    let stored = store.order(id).await.unwrap().unwrap();
    assert_eq!(stored.record, order);
    assert_eq!(stored.first_seen_ms, T0);
    assert_eq!(stored.updated_ms, T0 + 2 * DAY);
}

/// A change of other fields updates the order without a history row.
pub async fn other_changes_update_without_history(store: &Arc<dyn Store>) {
    let id = 9_000_000_000_000_301;
    let mut order = sample_order(id, "conf-update", T0);
    store
        .upsert_orders(std::slice::from_ref(&order), T0)
        .await
        .unwrap();
    order.order.estimated_paid_commission = Cents(80);
    order.order.custom_parameters = None;
    let s = store.upsert_orders(&[order.clone()], T0 + 5).await.unwrap();
    assert_eq!((s.updated, s.status_changes), (1, 0), "{s:?}");
    assert_eq!(
        store.order(id).await.unwrap().unwrap().record,
        order,
        "the new values are stored"
    );
    assert_eq!(store.status_history(id).await.unwrap().len(), 1);
}

/// Two instances storing the same new order, and then the same status change, at once: one
/// order, one history row per status.
pub async fn concurrent_upserts_store_one_order_and_one_history(
    store: &Arc<dyn Store>,
    other: &Arc<dyn Store>,
) {
    for round in 0..5u64 {
        let id = 9_000_000_000_000_401 + round;
        let mut order = sample_order(id, "conf-race", T0);
        let batch = vec![order.clone()];
        let (a, b) = tokio::join!(
            store.upsert_orders(&batch, T0),
            other.upsert_orders(&batch, T0)
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.inserted + b.inserted, 1, "{a:?} {b:?}");
        order.order.status = "Invalid".to_owned();
        let batch = vec![order.clone()];
        let (a, b) = tokio::join!(
            store.upsert_orders(&batch, T0 + 1),
            other.upsert_orders(&batch, T0 + 1)
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.status_changes + b.status_changes, 1, "{a:?} {b:?}");
        let history = store.status_history(id).await.unwrap();
        assert_eq!(history.len(), 2, "{history:?}");
    }
}

/// Filters by time (from inclusive, to exclusive), status and tracking id; newest first;
/// pages with a total.
pub async fn lists_filter_order_and_page(store: &Arc<dyn Store>) {
    let tracking = "conf-list";
    let base = 9_000_000_000_000_501;
    let mut orders = Vec::new();
    for i in 0..7u64 {
        let mut o = sample_order(base + i, tracking, T0 + i as i64 * DAY);
        if i % 3 == 0 {
            o.order.status = "Invalid".to_owned();
        }
        orders.push(o);
    }
    store.upsert_orders(&orders, T0).await.unwrap();
    let all = OrderFilter {
        tracking_id: Some(tracking.to_owned()),
        ..OrderFilter::default()
    };
    let page = |page, page_size| OrderPageRequest { page, page_size };
    let rows = store.list_orders(&all, page(1, 3)).await.unwrap();
    assert_eq!(rows.total, 7);
    let ids: Vec<u64> = rows
        .orders
        .iter()
        .map(|o| o.record.order.sub_order_id)
        .collect();
    assert_eq!(ids, vec![base + 6, base + 5, base + 4], "newest first");
    let last = store.list_orders(&all, page(3, 3)).await.unwrap();
    assert_eq!(last.orders.len(), 1);
    assert_eq!(last.orders[0].record.order.sub_order_id, base);
    let beyond = store.list_orders(&all, page(9, 3)).await.unwrap();
    assert_eq!((beyond.orders.len(), beyond.total), (0, 7));

    let window = OrderFilter {
        from_ms: Some(T0 + DAY),
        to_ms: Some(T0 + 3 * DAY),
        ..all.clone()
    };
    let rows = store.list_orders(&window, page(1, 50)).await.unwrap();
    let ids: Vec<u64> = rows
        .orders
        .iter()
        .map(|o| o.record.order.sub_order_id)
        .collect();
    assert_eq!(
        ids,
        vec![base + 2, base + 1],
        "from inclusive, to exclusive"
    );

    let invalid = OrderFilter {
        status: Some("Invalid".to_owned()),
        ..all.clone()
    };
    assert_eq!(
        store
            .list_orders(&invalid, page(1, 50))
            .await
            .unwrap()
            .total,
        3
    );
    let valid = OrderFilter {
        exclude_status: Some("Invalid".to_owned()),
        ..all.clone()
    };
    assert_eq!(
        store.list_orders(&valid, page(1, 50)).await.unwrap().total,
        4
    );
    let nobody = OrderFilter {
        tracking_id: Some("conf-list-nobody".to_owned()),
        ..OrderFilter::default()
    };
    assert_eq!(
        store.list_orders(&nobody, page(1, 50)).await.unwrap().total,
        0
    );
}

/// Mock orders are listed and summed only when asked for, real ones only otherwise.
pub async fn mock_and_real_orders_never_mix(store: &Arc<dyn Store>) {
    let tracking = "conf-mock";
    let real = sample_order(9_000_000_000_000_601, tracking, T0);
    let mut mock = sample_order(9_000_000_000_000_602, tracking, T0);
    mock.mock = true;
    store.upsert_orders(&[real, mock], T0).await.unwrap();
    for is_mock in [false, true] {
        let filter = OrderFilter {
            mock: is_mock,
            tracking_id: Some(tracking.to_owned()),
            ..OrderFilter::default()
        };
        let rows = store
            .list_orders(
                &filter,
                OrderPageRequest {
                    page: 1,
                    page_size: 10,
                },
            )
            .await
            .unwrap();
        assert_eq!(rows.total, 1);
        assert_eq!(rows.orders[0].record.mock, is_mock);
        let groups = store.revenue(&filter, GroupBy::TrackingId).await.unwrap();
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].orders, 1);
    }
}

/// Sums per group and currency are exact (a thousand cents are ten units, not 9.99999),
/// finished commission counts finished orders only, groups come in key order.
pub async fn revenue_groups_sum_exactly(store: &Arc<dyn Store>) {
    let tracking = "conf-revenue";
    let base = 9_000_000_000_000_701;
    let mut orders = Vec::new();
    for i in 0..1000u64 {
        let mut o = sample_order(base + i, tracking, T0 + (i % 3) as i64 * DAY + 1000);
        o.order.paid_amount = Cents(1);
        o.order.estimated_paid_commission = Cents(if i % 2 == 0 { 3 } else { 0 });
        o.order.product_id = Some(100 + i % 2);
        o.order.category_id = if i % 5 == 0 { None } else { Some(7) };
        if i % 4 == 0 {
            o.order.status = "Completed Settlement".to_owned();
            o.order.estimated_finished_commission = Some(Cents(2));
        }
        orders.push(o);
    }
    let mut euro = sample_order(base + 5000, tracking, T0 + 1000);
    euro.order.currency = "EUR".to_owned();
    euro.order.paid_amount = Cents(i64::from(i32::MAX) * 4);
    euro.order.product_id = Some(100);
    orders.push(euro);
    for chunk in orders.chunks(250) {
        store.upsert_orders(chunk, T0).await.unwrap();
    }
    let filter = OrderFilter {
        tracking_id: Some(tracking.to_owned()),
        ..OrderFilter::default()
    };
    let group = |key: &str, currency: &str, orders, paid, est, fin| RevenueGroup {
        key: key.to_owned(),
        currency: currency.to_owned(),
        orders,
        paid_amount: Cents(paid),
        estimated_commission: Cents(est),
        finished_commission: Cents(fin),
    };
    let big = i64::from(i32::MAX) * 4;
    let by_tracking = store.revenue(&filter, GroupBy::TrackingId).await.unwrap();
    assert_eq!(
        by_tracking,
        vec![
            group(tracking, "EUR", 1, big, 77, 0),
            group(tracking, "USD", 1000, 1000, 1500, 500),
        ]
    );
    let report = RevenueReport::from_groups(by_tracking);
    assert_eq!(report.totals[1].paid_amount.to_string(), "10.00");

    let by_day = store.revenue(&filter, GroupBy::Day).await.unwrap();
    let days: Vec<(&str, &str, u64)> = by_day
        .iter()
        .map(|g| (g.key.as_str(), g.currency.as_str(), g.orders))
        .collect();
    assert_eq!(
        days,
        vec![
            ("2023-11-01", "EUR", 1),
            ("2023-11-01", "USD", 334),
            ("2023-11-02", "USD", 333),
            ("2023-11-03", "USD", 333),
        ]
    );
    let by_product = store.revenue(&filter, GroupBy::Product).await.unwrap();
    let products: Vec<(&str, &str, u64, i64)> = by_product
        .iter()
        .map(|g| {
            (
                g.key.as_str(),
                g.currency.as_str(),
                g.orders,
                g.paid_amount.0,
            )
        })
        .collect();
    assert_eq!(
        products,
        vec![
            ("100", "EUR", 1, big),
            ("100", "USD", 500, 500),
            ("101", "USD", 500, 500)
        ]
    );
    let by_category = store.revenue(&filter, GroupBy::Category).await.unwrap();
    let categories: Vec<(&str, &str, u64)> = by_category
        .iter()
        .map(|g| (g.key.as_str(), g.currency.as_str(), g.orders))
        .collect();
    assert_eq!(
        categories,
        vec![("(none)", "USD", 200), ("44", "EUR", 1), ("7", "USD", 800)],
        "keys sort as text"
    );
    let settled = OrderFilter {
        status: Some("Completed Settlement".to_owned()),
        ..filter.clone()
    };
    let s = store.revenue(&settled, GroupBy::TrackingId).await.unwrap();
    assert_eq!(s, vec![group(tracking, "USD", 250, 250, 750, 500)]);
}

/// A cursor is absent until set, keeps the last value, and is shared by every handle.
pub async fn cursors_persist_and_overwrite(store: &Arc<dyn Store>, other: &Arc<dyn Store>) {
    assert_eq!(store.cursor("conf:cursor").await.unwrap(), None);
    store.set_cursor("conf:cursor", "first").await.unwrap();
    store
        .set_cursor("conf:cursor", "1698796800000 ünïcode")
        .await
        .unwrap();
    assert_eq!(
        other.cursor("conf:cursor").await.unwrap().as_deref(),
        Some("1698796800000 ünïcode")
    );
    assert_eq!(store.cursor("conf:cursor:other").await.unwrap(), None);
}

/// One holder at a time, across handles; the holder renews; only the holder releases.
pub async fn leases_have_one_holder_across_handles(store: &Arc<dyn Store>, other: &Arc<dyn Store>) {
    let name = "conf:lease";
    let ttl = Duration::from_secs(60);
    assert_eq!(store.lease(name).await.unwrap(), None);
    assert!(store.try_acquire_lease(name, "a", ttl).await.unwrap());
    assert!(!other.try_acquire_lease(name, "b", ttl).await.unwrap());
    let held = other.lease(name).await.unwrap().expect("held");
    assert_eq!(held.holder, "a");
    assert!(
        store.try_acquire_lease(name, "a", ttl).await.unwrap(),
        "the holder renews"
    );
    other.release_lease(name, "b").await.unwrap();
    assert_eq!(
        store
            .lease(name)
            .await
            .unwrap()
            .map(|l| l.holder)
            .as_deref(),
        Some("a"),
        "only the holder releases"
    );
    store.release_lease(name, "a").await.unwrap();
    assert_eq!(other.lease(name).await.unwrap(), None);
    assert!(other.try_acquire_lease(name, "b", ttl).await.unwrap());
    other.release_lease(name, "b").await.unwrap();

    // Many contenders at once: exactly one wins.
    let contenders: Vec<_> = (0..8)
        .map(|i| {
            let handle = if i % 2 == 0 { store } else { other };
            let handle = Arc::clone(handle);
            async move {
                handle
                    .try_acquire_lease("conf:lease:race", &format!("c{i}"), ttl)
                    .await
                    .unwrap()
            }
        })
        .collect();
    let mut winners = 0;
    for won in join_all(contenders).await {
        winners += usize::from(won);
    }
    assert_eq!(winners, 1);
}

/// An expired lease is free for anyone.
pub async fn leases_expire(store: &Arc<dyn Store>, other: &Arc<dyn Store>) {
    let name = "conf:lease:expiry";
    assert!(
        store
            .try_acquire_lease(name, "a", Duration::from_millis(300))
            .await
            .unwrap()
    );
    assert!(
        !other
            .try_acquire_lease(name, "b", Duration::from_secs(60))
            .await
            .unwrap()
    );
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(store.lease(name).await.unwrap(), None, "expired");
    assert!(
        other
            .try_acquire_lease(name, "b", Duration::from_secs(60))
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .lease(name)
            .await
            .unwrap()
            .map(|l| l.holder)
            .as_deref(),
        Some("b")
    );
}

/// Polls every future concurrently (no extra dependency for one helper).
async fn join_all<F: std::future::Future<Output = bool> + Send + 'static>(
    futures: Vec<F>,
) -> Vec<bool> {
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.expect("a contender panicked"));
    }
    out
}

/// Clicks are appended in batches (all fields kept, ids beyond `i64::MAX` included), counted
/// per product, most clicked first, and seen through another handle.
pub async fn clicks_are_appended_and_summed(store: &Arc<dyn Store>, other: &Arc<dyn Store>) {
    use alistach_domain::ProductId;

    use crate::Click;

    let before = store.click_summary(None).await.expect("click summary");
    let click = |id: u64, variant: Option<u32>| Click {
        at_ms: T0 + id as i64 % 1000,
        product_id: Some(ProductId(id)),
        tracking_id: "conf-clicks «ü»".to_owned(),
        variant,
    };
    let (a, b) = (u64::MAX - 3, 4_000_000_000_000_017);
    store
        .record_clicks(&[click(a, Some(u32::MAX)), click(b, None), click(a, Some(0))])
        .await
        .expect("record clicks");
    other
        .record_clicks(&[click(a, None)])
        .await
        .expect("record clicks through another handle");
    store.record_clicks(&[]).await.expect("an empty batch");
    let no_product = Click {
        product_id: None,
        ..click(1, None)
    };
    store
        .record_clicks(&[no_product])
        .await
        .expect("a click on a link to no product");
    let after = other.click_summary(None).await.expect("click summary");
    assert_eq!(
        after.total,
        before.total + 5,
        "every click counts in the total"
    );
    let count = |s: &crate::ClickSummary, id: u64| {
        s.products
            .iter()
            .find(|p| p.product_id == ProductId(id))
            .map_or(0, |p| p.clicks)
    };
    assert_eq!(count(&after, a) - count(&before, a), 3);
    assert_eq!(count(&after, b) - count(&before, b), 1);
    let pos = |id: u64| {
        after
            .products
            .iter()
            .position(|p| p.product_id == ProductId(id))
    };
    assert!(pos(a) < pos(b), "most clicked first: {after:?}");
    assert!(
        after
            .products
            .windows(2)
            .all(|w| w[0].clicks >= w[1].clicks),
        "{after:?}"
    );
}

/// An experiment of this check: variants `names`, the first normal and the others hot, the
/// last with its own tracking id.
fn new_experiment(name: &str, names: &[&str]) -> NewExperiment {
    NewExperiment {
        tenant: TenantId::default_tenant(),
        name: name.to_owned(),
        allocation: Allocation::Bandit,
        min_share_permille: 150,
        variants: names
            .iter()
            .enumerate()
            .map(|(i, v)| NewVariant {
                name: (*v).to_owned(),
                weight: i as u32 + 1,
                link_type: if i == 0 {
                    alistach_domain::LinkType::Normal
                } else {
                    alistach_domain::LinkType::Hot
                },
                tracking_id: (i + 1 == names.len()).then(|| format!("{name}-tracking «ü»")),
            })
            .collect(),
    }
}

/// Stops the running experiment, if any (a check that failed half-way may have left one).
async fn stop_running(store: &Arc<dyn Store>) {
    if let Some(running) = store
        .running_experiment(&TenantId::default_tenant())
        .await
        .expect("running experiment")
    {
        store
            .stop_experiment(running.id, T0)
            .await
            .expect("stopping");
    }
}

/// An experiment is stored as asked for, its variants numbered by the store (unique across
/// experiments); another runs only once it is stopped (from any handle); stopping keeps the
/// first stop time; the list is newest first.
pub async fn experiments_are_created_listed_and_stopped(
    store: &Arc<dyn Store>,
    other: &Arc<dyn Store>,
) {
    stop_running(store).await;
    let before = store.experiments(None).await.unwrap().len();
    let new_a = new_experiment("conf-exp-a «ü»", &["control", "hot"]);
    let a = store.create_experiment(&new_a, T0).await.unwrap();
    assert_eq!(
        (a.name.as_str(), a.allocation, a.min_share_permille),
        ("conf-exp-a «ü»", Allocation::Bandit, 150)
    );
    assert_eq!((a.created_at_ms, a.stopped_at_ms), (T0, None));
    assert!(a.running());
    let asked: Vec<(&str, u32, alistach_domain::LinkType, Option<&str>)> = new_a
        .variants
        .iter()
        .map(|v| {
            (
                v.name.as_str(),
                v.weight,
                v.link_type,
                v.tracking_id.as_deref(),
            )
        })
        .collect();
    let stored: Vec<(&str, u32, alistach_domain::LinkType, Option<&str>)> = a
        .variants
        .iter()
        .map(|v| {
            (
                v.name.as_str(),
                v.weight,
                v.link_type,
                v.tracking_id.as_deref(),
            )
        })
        .collect();
    assert_eq!(stored, asked, "variants as asked for, in order");
    assert_ne!(a.variants[0].id, a.variants[1].id);
    for handle in [store, other] {
        assert_eq!(handle.experiment(a.id).await.unwrap().as_ref(), Some(&a));
        assert_eq!(
            handle
                .running_experiment(&TenantId::default_tenant())
                .await
                .unwrap()
                .as_ref(),
            Some(&a)
        );
    }

    let new_b = new_experiment("conf-exp-b", &["x", "y", "z"]);
    for handle in [store, other] {
        let err = handle.create_experiment(&new_b, T0 + 1).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    }
    assert_eq!(
        other.experiments(None).await.unwrap().len(),
        before + 1,
        "a refused experiment is not stored"
    );

    let stopped = other
        .stop_experiment(a.id, T0 + 10)
        .await
        .unwrap()
        .expect("a known experiment");
    assert_eq!(stopped.stopped_at_ms, Some(T0 + 10));
    assert!(!stopped.running());
    assert_eq!(
        Experiment {
            stopped_at_ms: None,
            ..stopped.clone()
        },
        a,
        "stopping changes nothing else"
    );
    let again = store.stop_experiment(a.id, T0 + 20).await.unwrap().unwrap();
    assert_eq!(
        again.stopped_at_ms,
        Some(T0 + 10),
        "the first stop time stays"
    );
    assert_eq!(
        store
            .running_experiment(&TenantId::default_tenant())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.stop_experiment(a.id + 1_000_000, T0).await.unwrap(),
        None
    );
    assert_eq!(store.experiment(a.id + 1_000_000).await.unwrap(), None);
    assert_eq!(store.experiment(u64::MAX).await.unwrap(), None);

    let b = other.create_experiment(&new_b, T0 + 30).await.unwrap();
    assert_ne!(b.id, a.id);
    assert_eq!(b.variants.len(), 3);
    let mut ids: Vec<u32> = a.variants.iter().chain(&b.variants).map(|v| v.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 5, "variant ids are unique across experiments");
    let list = store.experiments(None).await.unwrap();
    assert_eq!(list.len(), before + 2);
    assert_eq!(list[0], b, "newest first");
    assert_eq!(list[1], again);
    assert_eq!(
        store
            .running_experiment(&TenantId::default_tenant())
            .await
            .unwrap(),
        Some(b.clone())
    );
    store.stop_experiment(b.id, T0 + 40).await.unwrap();
    assert_eq!(
        other
            .running_experiment(&TenantId::default_tenant())
            .await
            .unwrap(),
        None
    );
}

/// Instances creating an experiment at once: exactly one is created, the others are refused
/// with a conflict.
pub async fn racing_instances_create_one_experiment(
    store: &Arc<dyn Store>,
    other: &Arc<dyn Store>,
) {
    stop_running(store).await;
    for round in 0..3 {
        let before = store.experiments(None).await.unwrap().len();
        let contenders: Vec<_> = (0..6)
            .map(|i| {
                let handle = Arc::clone(if i % 2 == 0 { store } else { other });
                let new = new_experiment(&format!("conf-exp-race-{round}-{i}"), &["a", "b"]);
                async move {
                    match handle.create_experiment(&new, T0).await {
                        Ok(_) => true,
                        Err(StoreError::Conflict(_)) => false,
                        Err(e) => panic!("a contender failed: {e:?}"),
                    }
                }
            })
            .collect();
        let winners = join_all(contenders)
            .await
            .into_iter()
            .filter(|w| *w)
            .count();
        assert_eq!(winners, 1, "round {round}");
        assert_eq!(store.experiments(None).await.unwrap().len(), before + 1);
        let running = other
            .running_experiment(&TenantId::default_tenant())
            .await
            .unwrap()
            .expect("the winner runs");
        assert!(running.name.starts_with(&format!("conf-exp-race-{round}-")));
        store.stop_experiment(running.id, T0 + 1).await.unwrap();
    }
}

/// Each variant's links (added from any handle; unknown variants ignored), clicks (by variant
/// id) and orders (by the sub-ids naming the experiment and the variant; `Invalid` ones, other
/// experiments' and other campaigns' left out; mock ones only when asked for), per currency,
/// with exact sums of squares beyond 64 bits; revenue grouped by variant, of all orders or of
/// one experiment's; lists of one experiment's orders.
pub async fn variants_earn_their_links_clicks_and_orders(
    store: &Arc<dyn Store>,
    other: &Arc<dyn Store>,
) {
    use alistach_domain::SubIds;

    use crate::Click;

    stop_running(store).await;
    let e = store
        .create_experiment(
            &new_experiment("conf-exp-earn", &["ctl", "hot", "idle"]),
            T0,
        )
        .await
        .unwrap();
    let (ctl, hot, idle) = (e.variants[0].id, e.variants[1].id, e.variants[2].id);
    let unknown = u32::MAX - 1;
    store
        .add_links(&[(ctl, 3), (hot, 5), (unknown, 9), (ctl, 2)])
        .await
        .unwrap();
    other.add_links(&[(hot, 1), (idle, 0)]).await.unwrap();
    store.add_links(&[]).await.unwrap();
    let click = |variant| Click {
        at_ms: T0,
        product_id: None,
        tracking_id: "conf-exp".to_owned(),
        variant,
    };
    store
        .record_clicks(&[click(Some(ctl)), click(Some(hot)), click(None)])
        .await
        .unwrap();
    other.record_clicks(&[click(Some(ctl))]).await.unwrap();

    let tracking = "conf-exp";
    let base = 9_000_000_000_000_801;
    let tag = |variant: &str| SubIds::for_variant(e.id, variant).to_custom_parameters();
    let order = |n: u64, params: Option<String>, paid: i64, commission: i64| {
        let mut o = sample_order(base + n, tracking, T0 + n as i64 * 1000);
        o.order.custom_parameters = params;
        o.order.paid_amount = Cents(paid);
        o.order.estimated_paid_commission = Cents(commission);
        o
    };
    let big = 4_000_000_000; // its square outgrows i64
    let mut orders = vec![
        order(0, tag("ctl"), 1000, 50),
        order(1, tag("ctl"), 2000, 100),
        order(2, tag("ctl"), 500, 30),
        order(3, tag("hot"), 3000, 200),
        order(4, tag("hot"), 999, 99),
        order(5, tag("hot"), 700, 7),
        order(
            6,
            Some(r#"{"cn":"campaign","cv":"hot"}"#.to_owned()),
            111,
            11,
        ),
        order(
            7,
            SubIds::for_variant(e.id + 1000, "hot").to_custom_parameters(),
            222,
            22,
        ),
        order(
            8,
            Some(format!(r#"{{"cn":"ab{}","cv":"ctl","dp":5}}"#, e.id)),
            333,
            33,
        ),
        order(9, tag("hot"), 50_000_000_000, big),
    ];
    orders[1].order.status = "Completed Settlement".to_owned();
    orders[1].order.estimated_finished_commission = Some(Cents(80));
    orders[2].order.currency = "EUR".to_owned();
    orders[4].order.status = "Invalid".to_owned();
    orders[5].mock = true;
    store.upsert_orders(&orders, T0).await.unwrap();

    let row = |variant_id, links, clicks, sums: Option<(&str, u64, i64, i64, i128)>| {
        let mut r = VariantOutcome {
            variant_id,
            links,
            clicks,
            ..VariantOutcome::default()
        };
        if let Some((currency, orders, paid, commission, sq)) = sums {
            r.currency = Some(currency.to_owned());
            r.orders = orders;
            r.paid_cents = paid;
            r.commission_cents = commission;
            r.commission_sq_cents = sq;
        }
        r
    };
    let big_sq = i128::from(big) * i128::from(big);
    let real = vec![
        row(ctl, 5, 2, Some(("EUR", 1, 500, 30, 900))),
        row(ctl, 5, 2, Some(("USD", 2, 3000, 130, 50 * 50 + 80 * 80))),
        row(
            hot,
            6,
            1,
            Some(("USD", 2, 50_000_003_000, big + 200, big_sq + 200 * 200)),
        ),
        row(idle, 0, 0, None),
    ];
    let mock = vec![
        row(ctl, 5, 2, None),
        row(hot, 6, 1, Some(("USD", 1, 700, 7, 49))),
        row(idle, 0, 0, None),
    ];
    for handle in [store, other] {
        assert_eq!(handle.variant_outcomes(&e, false).await.unwrap(), real);
        assert_eq!(handle.variant_outcomes(&e, true).await.unwrap(), mock);
    }

    let group = |key: &str, currency: &str, orders, paid, est, fin| RevenueGroup {
        key: key.to_owned(),
        currency: currency.to_owned(),
        orders,
        paid_amount: Cents(paid),
        estimated_commission: Cents(est),
        finished_commission: Cents(fin),
    };
    let all = OrderFilter {
        tracking_id: Some(tracking.to_owned()),
        exclude_status: Some("Invalid".to_owned()),
        ..OrderFilter::default()
    };
    assert_eq!(
        store.revenue(&all, GroupBy::Variant).await.unwrap(),
        vec![
            group(crate::NO_KEY, "USD", 2, 444, 44, 0),
            group("ctl", "EUR", 1, 500, 30, 0),
            group("ctl", "USD", 2, 3000, 150, 80),
            group("hot", "USD", 3, 50_000_003_222, big + 222, 0),
        ],
        "variants by name, of every experiment"
    );
    let one = OrderFilter {
        experiment_id: Some(e.id),
        ..all.clone()
    };
    assert_eq!(
        other.revenue(&one, GroupBy::Variant).await.unwrap(),
        vec![
            group("ctl", "EUR", 1, 500, 30, 0),
            group("ctl", "USD", 2, 3000, 150, 80),
            group("hot", "USD", 2, 50_000_003_000, big + 200, 0),
        ],
        "one experiment's variants"
    );
    let by_tracking = store.revenue(&one, GroupBy::TrackingId).await.unwrap();
    assert_eq!(
        by_tracking.iter().map(|g| g.orders).sum::<u64>(),
        5,
        "the experiment filter applies to every grouping"
    );
    let listed = store
        .list_orders(
            &OrderFilter {
                tracking_id: Some(tracking.to_owned()),
                experiment_id: Some(e.id),
                ..OrderFilter::default()
            },
            OrderPageRequest {
                page: 1,
                page_size: 50,
            },
        )
        .await
        .unwrap();
    let ids: Vec<u64> = listed
        .orders
        .iter()
        .map(|o| o.record.order.sub_order_id - base)
        .collect();
    assert_eq!((ids, listed.total), (vec![9, 4, 3, 2, 1, 0], 6));
    let nobody = OrderFilter {
        experiment_id: Some(e.id + 1000),
        ..all.clone()
    };
    assert_eq!(
        store.revenue(&nobody, GroupBy::Variant).await.unwrap(),
        vec![group("hot", "USD", 1, 222, 22, 0)],
        "another experiment's orders"
    );

    // A changed tag moves the order (stored sub-ids are read again at every upsert).
    let mut moved = orders[2].clone();
    moved.order.custom_parameters = tag("hot");
    other.upsert_orders(&[moved], T0 + 1).await.unwrap();
    let outcomes = store.variant_outcomes(&e, false).await.unwrap();
    let rows: Vec<(u32, Option<&str>, u64)> = outcomes
        .iter()
        .map(|o| (o.variant_id, o.currency.as_deref(), o.orders))
        .collect();
    assert_eq!(
        rows,
        vec![
            (ctl, Some("USD"), 2),
            (hot, Some("EUR"), 1),
            (hot, Some("USD"), 2),
            (idle, None, 0),
        ]
    );
    store.stop_experiment(e.id, T0 + 2).await.unwrap();
}
