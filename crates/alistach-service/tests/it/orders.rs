//! The order sync against a scripted order source and the memory store: idempotent upserts,
//! status history, windows that move forward with an overlap, paging, the lease, the interval.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use alistach_cache::ManualClock;
use alistach_domain::{
    AffiliateOrder, ApiMode, Cents, Clock, OrderPage, OrderQuery, OrderSource, OrderStatus,
    UpstreamError,
};
use alistach_service::{OrderSync, OrderSyncConfig, SYNC_LEASE, SyncError, SyncOutcome};
use alistach_store::{LeaseStore, MemoryStore, OrderStore, Store};
use async_trait::async_trait;

const HOUR: i64 = 3_600_000;
const T0: u64 = 1_700_000_000_000;

/// Orders with their status times, answered by status and the status's time, a page at a time.
#[derive(Default)]
struct Script {
    orders: Mutex<Vec<AffiliateOrder>>,
    queries: Mutex<Vec<(OrderQuery, Option<String>)>>,
    fail: Mutex<bool>,
}

impl Script {
    fn add(&self, id: u64, paid_ms: i64, cents: i64) {
        self.orders.lock().unwrap().push(AffiliateOrder {
            sub_order_id: id,
            status: OrderStatus::PaymentCompleted.as_str().to_owned(),
            tracking_id: Some("t".into()),
            paid_amount: Cents(cents),
            estimated_paid_commission: Cents(cents / 10),
            currency: "USD".into(),
            paid_at_ms: Some(paid_ms),
            ..AffiliateOrder::default()
        });
    }

    fn advance(&self, id: u64, status: OrderStatus, at_ms: i64) {
        let mut orders = self.orders.lock().unwrap();
        let o = orders.iter_mut().find(|o| o.sub_order_id == id).unwrap();
        o.status = status.as_str().to_owned();
        if status != OrderStatus::Invalid {
            o.finished_at_ms = Some(at_ms);
            o.estimated_finished_commission = Some(o.estimated_paid_commission);
        }
    }

    fn queries(&self) -> Vec<(OrderQuery, Option<String>)> {
        self.queries.lock().unwrap().clone()
    }
}

#[async_trait]
impl OrderSource for Script {
    fn mode(&self) -> ApiMode {
        ApiMode::Real
    }

    async fn list_orders(
        &self,
        query: &OrderQuery,
        cursor: Option<&str>,
    ) -> Result<OrderPage, UpstreamError> {
        self.queries
            .lock()
            .unwrap()
            .push((*query, cursor.map(str::to_owned)));
        if *self.fail.lock().unwrap() {
            return Err(UpstreamError::Timeout);
        }
        let skip: usize = cursor.map_or(0, |c| c.parse().unwrap());
        let selected: Vec<AffiliateOrder> = self
            .orders
            .lock()
            .unwrap()
            .iter()
            .filter(|o| {
                let time = match query.status {
                    OrderStatus::PaymentCompleted | OrderStatus::Invalid => o.paid_at_ms,
                    _ => o.finished_at_ms,
                };
                o.status == query.status.as_str()
                    && time.is_some_and(|t| t >= query.start_ms && t <= query.end_ms)
            })
            .cloned()
            .collect();
        let end = (skip + query.page_size as usize).min(selected.len());
        Ok(OrderPage {
            orders: selected[skip..end].to_vec(),
            next_cursor: (end < selected.len()).then(|| end.to_string()),
        })
    }

    async fn get_orders(&self, _: &[u64]) -> Result<Vec<AffiliateOrder>, UpstreamError> {
        Ok(Vec::new())
    }
}

fn setup(instance: &str) -> (Arc<Script>, Arc<MemoryStore>, Arc<ManualClock>, OrderSync) {
    let script = Arc::new(Script::default());
    let store = Arc::new(MemoryStore::new());
    let clock = Arc::new(ManualClock::new(T0));
    let mut config = OrderSyncConfig::new(instance, Duration::from_secs(600));
    config.page_size = 2;
    let sync = OrderSync::new(
        script.clone(),
        store.clone() as Arc<dyn Store>,
        clock.clone(),
        config,
    );
    (script, store, clock, sync)
}

fn ran(outcome: Result<SyncOutcome, SyncError>) -> alistach_service::SyncReport {
    match outcome {
        Ok(SyncOutcome::Ran(report)) => report,
        other => panic!("expected a run, got {other:?}"),
    }
}

#[tokio::test]
async fn orders_are_stored_once_with_every_status_change_and_exact_money() {
    let (script, store, clock, sync) = setup("a");
    let now = clock.now_ms() as i64;
    for i in 0..5 {
        script.add(100 + i, now - HOUR - i as i64, 1000 + i as i64);
    }
    let first = ran(sync.run_now().await);
    assert_eq!((first.fetched, first.stored.inserted), (5, 5));
    assert!(first.pages >= 3, "pages of two: {}", first.pages);

    clock.advance(Duration::from_secs(60));
    let again = ran(sync.run_now().await);
    assert_eq!(
        again.stored.unchanged, 5,
        "the overlap sees them again, unchanged"
    );
    assert_eq!(again.stored.inserted + again.stored.updated, 0);

    let t = clock.now_ms() as i64;
    script.advance(100, OrderStatus::BuyerConfirmedReceipt, t - 1);
    script.advance(101, OrderStatus::Invalid, t - 1);
    clock.advance(Duration::from_secs(60));
    let changed = ran(sync.run_now().await);
    assert_eq!(changed.stored.status_changes, 2, "{changed:?}");
    let t = clock.now_ms() as i64;
    script.advance(100, OrderStatus::CompletedSettlement, t - 1);
    clock.advance(Duration::from_secs(60));
    ran(sync.run_now().await);

    let history: Vec<String> = store
        .status_history(100)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.status)
        .collect();
    assert_eq!(
        history,
        [
            "Payment Completed",
            "Buyer Confirmed Receipt",
            "Completed Settlement"
        ]
    );
    assert_eq!(store.status_history(101).await.unwrap().len(), 2);
    let stored = store.order(104).await.unwrap().unwrap();
    assert_eq!(stored.record.order.paid_amount, Cents(1004));
    assert!(!stored.record.mock);
    let stats = sync.stats();
    assert_eq!((stats.runs, stats.status_changes), (4, 3));
}

#[tokio::test]
async fn windows_start_at_the_cursor_less_the_overlap_and_end_now() {
    let (script, _store, clock, sync) = setup("a");
    let t0 = clock.now_ms() as i64;
    ran(sync.run_now().await);
    let first = script.queries();
    assert_eq!(first.len(), 4, "one query per status on an empty book");
    for (q, _) in &first {
        assert_eq!(q.end_ms, t0);
        assert_eq!(
            q.start_ms,
            t0 - 30 * 24 * HOUR,
            "the first run looks back 30 days"
        );
        assert_eq!(q.time_type, q.status.time_type());
    }
    clock.advance(Duration::from_secs(3 * 3600));
    let t1 = clock.now_ms() as i64;
    ran(sync.run_now().await);
    for (q, _) in &script.queries()[4..] {
        assert_eq!(q.end_ms, t1);
        let expected = if q.status == OrderStatus::Invalid {
            t1 - 30 * 24 * HOUR
        } else {
            t0 - 2 * HOUR
        };
        assert_eq!(q.start_ms, expected, "{:?}", q.status);
    }
}

#[tokio::test]
async fn a_failed_run_keeps_the_cursors_and_frees_the_lease() {
    let (script, store, clock, sync) = setup("a");
    ran(sync.run_now().await);
    let t0 = clock.now_ms() as i64;
    clock.advance(Duration::from_secs(3600));
    *script.fail.lock().unwrap() = true;
    assert_eq!(
        sync.run_now().await,
        Err(SyncError::Upstream(UpstreamError::Timeout))
    );
    assert_eq!(store.lease(SYNC_LEASE).await.unwrap(), None, "released");
    *script.fail.lock().unwrap() = false;
    ran(sync.run_now().await);
    let last = script.queries().last().unwrap().0;
    assert_eq!(last.status, OrderStatus::Invalid);
    let paid = script.queries()[script.queries().len() - 4].0;
    assert_eq!(
        paid.start_ms,
        t0 - 2 * HOUR,
        "the failed run did not move the cursor"
    );
    assert_eq!(sync.stats().failures, 1);
}

#[tokio::test]
async fn another_instances_lease_or_recent_run_skips_this_one() {
    let (_script, store, clock, sync) = setup("a");
    assert!(
        store
            .try_acquire_lease(SYNC_LEASE, "b", Duration::from_secs(60))
            .await
            .unwrap()
    );
    assert_eq!(
        sync.run_now().await.unwrap(),
        SyncOutcome::Leased { holder: "b".into() }
    );
    store.release_lease(SYNC_LEASE, "b").await.unwrap();
    // A second instance on the same store runs; this one's scheduled tick is then not due.
    let other = OrderSync::new(
        Arc::new(Script::default()),
        store.clone() as Arc<dyn Store>,
        clock.clone(),
        OrderSyncConfig::new("b", Duration::from_secs(600)),
    );
    ran(other.tick().await);
    clock.advance(Duration::from_secs(60));
    assert!(matches!(
        sync.tick().await.unwrap(),
        SyncOutcome::NotDue { .. }
    ));
    // A forced run is never "not due".
    ran(sync.run_now().await);
    clock.advance(Duration::from_secs(541));
    ran(sync.tick().await);
    let stats = sync.stats();
    assert_eq!((stats.leased, stats.not_due, stats.runs), (1, 1, 2));
}

#[tokio::test]
async fn mock_orders_are_stored_labelled() {
    let store = Arc::new(MemoryStore::new());
    let clock = Arc::new(alistach_domain::SystemClock);
    let mut config = OrderSyncConfig::new("m", Duration::from_secs(600));
    config.lookback = Duration::from_secs(3 * 86_400);
    let sync = OrderSync::new(
        Arc::new(alistach_mock::MockCatalog::new()),
        store.clone() as Arc<dyn Store>,
        clock,
        config,
    );
    let report = ran(sync.run_now().await);
    assert!(report.stored.inserted > 40, "{report:?}");
    let rows = store
        .list_orders(
            &alistach_store::OrderFilter {
                mock: true,
                ..Default::default()
            },
            alistach_store::OrderPageRequest {
                page: 1,
                page_size: 5,
            },
        )
        .await
        .unwrap();
    assert_eq!(rows.total, report.stored.inserted);
    assert!(rows.orders.iter().all(|o| o.record.mock));
}
