//! The behaviour every [`Store`] backend must show, as async checks a backend's tests call.
//!
//! Each check works on its own sub-order ids and tracking ids, so the checks share one
//! database without seeing each other's rows; `other` is a second handle on the same database
//! (another pool, as another instance would have), for the checks of what instances share.

use std::sync::Arc;
use std::time::Duration;

use alistach_domain::{AffiliateOrder, Cents};

use crate::{
    GroupBy, OrderFilter, OrderPageRequest, OrderRecord, RevenueGroup, RevenueReport, Store,
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

    let before = store.click_summary().await.expect("click summary");
    let click = |id: u64, variant: Option<u32>| Click {
        at_ms: T0 + id as i64 % 1000,
        product_id: ProductId(id),
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
    let after = other.click_summary().await.expect("click summary");
    assert_eq!(after.total, before.total + 4);
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
