//! The tenant checks: every tenant's experiments, endpoints, events, watches and analytics are
//! its own; orders and clicks are selected by a tenant's tracking ids.
//!
//! The checks use tenants of their own (`conf-scope-*`) and delete the endpoints they made, so
//! the other checks never see their rows.

use std::sync::Arc;

use alistach_domain::{Secret, TenantId};

use super::{DAY, T0, join_all, sample_order};
use crate::{
    AnalyticsBatch, Click, Endpoint, Experiment, KeywordCounts, KeywordOrder, KeywordRow,
    NewEndpoint, NewExperiment, NewVariant, NewWatch, OrderFilter, OrderPageRequest, Resolution,
    Store, StoreError, TenantRecord, TenantSource, UsageCounts, UsageKey, UsageRow, WatchState,
    event,
};

fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).expect("a valid tenant id")
}

fn experiment_of(tenant: &TenantId, name: &str) -> NewExperiment {
    NewExperiment {
        tenant: tenant.clone(),
        name: name.to_owned(),
        allocation: crate::Allocation::Fixed,
        min_share_permille: 100,
        variants: ["control", "hot"]
            .iter()
            .map(|v| NewVariant {
                name: (*v).to_owned(),
                weight: 1,
                link_type: alistach_domain::LinkType::Normal,
                tracking_id: None,
            })
            .collect(),
    }
}

/// Stops `tenant`'s running experiment, if any (a check that failed half-way may leave one).
async fn stop_running_of(store: &Arc<dyn Store>, tenant: &TenantId) {
    if let Some(running) = store.running_experiment(tenant).await.unwrap() {
        store.stop_experiment(running.id, T0).await.unwrap();
    }
}

/// Each tenant runs at most one experiment, whatever the others run: two tenants run one each
/// at once, a second one of a tenant is refused (also when instances race to create it), and
/// lists and the running experiment are per tenant (all of them without a tenant).
pub async fn experiments_run_one_per_tenant(store: &Arc<dyn Store>, other: &Arc<dyn Store>) {
    let (ta, tb) = (tenant("conf-scope-exp-a"), tenant("conf-scope-exp-b"));
    stop_running_of(store, &ta).await;
    stop_running_of(store, &tb).await;
    stop_running_of(store, &TenantId::default_tenant()).await;
    let a = store
        .create_experiment(&experiment_of(&ta, "conf-scope-a1"), T0)
        .await
        .unwrap();
    let b = other
        .create_experiment(&experiment_of(&tb, "conf-scope-b1"), T0 + 1)
        .await
        .expect("another tenant runs its own experiment at once");
    assert_eq!(
        (a.tenant.clone(), b.tenant.clone()),
        (ta.clone(), tb.clone())
    );
    for handle in [store, other] {
        assert_eq!(handle.experiment(a.id).await.unwrap(), Some(a.clone()));
        assert_eq!(
            handle.running_experiment(&ta).await.unwrap(),
            Some(a.clone())
        );
        assert_eq!(
            handle.running_experiment(&tb).await.unwrap(),
            Some(b.clone())
        );
        assert_eq!(
            handle
                .running_experiment(&TenantId::default_tenant())
                .await
                .unwrap(),
            None,
            "the default tenant runs none"
        );
        assert_eq!(
            handle.experiments(Some(&ta)).await.unwrap(),
            vec![a.clone()]
        );
        assert_eq!(
            handle.experiments(Some(&tb)).await.unwrap(),
            vec![b.clone()]
        );
        let all = handle.experiments(None).await.unwrap();
        assert!(all.contains(&a) && all.contains(&b), "{all:?}");
        let running = handle.running_experiments().await.unwrap();
        assert_eq!(
            running,
            vec![a.clone(), b.clone()],
            "every tenant's running one"
        );
    }
    for (handle, t) in [(store, &ta), (other, &tb)] {
        let err = handle
            .create_experiment(&experiment_of(t, "conf-scope-second"), T0 + 2)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    }
    assert_eq!(store.experiments(Some(&ta)).await.unwrap().len(), 1);

    // Instances racing to create tenant a's next experiment while b's runs: one wins.
    store.stop_experiment(a.id, T0 + 3).await.unwrap();
    let contenders: Vec<_> = (0..6)
        .map(|i| {
            let handle = Arc::clone(if i % 2 == 0 { store } else { other });
            let new = experiment_of(&ta, &format!("conf-scope-race-{i}"));
            async move {
                match handle.create_experiment(&new, T0 + 4).await {
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
    assert_eq!(winners, 1);
    let winner = other.running_experiment(&ta).await.unwrap().expect("runs");
    assert!(winner.name.starts_with("conf-scope-race-"));
    assert_eq!(store.experiments(Some(&ta)).await.unwrap().len(), 2);
    assert_eq!(
        store.running_experiment(&tb).await.unwrap(),
        Some(b.clone())
    );
    let running: Vec<Experiment> = store.running_experiments().await.unwrap();
    assert_eq!(running, vec![winner.clone(), b.clone()]);
    store.stop_experiment(winner.id, T0 + 5).await.unwrap();
    store.stop_experiment(b.id, T0 + 5).await.unwrap();
    assert_eq!(other.running_experiments().await.unwrap(), vec![]);
}

fn endpoint_of(tenant: &TenantId, url: &str, events: &[&str]) -> NewEndpoint {
    NewEndpoint {
        tenant: tenant.clone(),
        url: url.to_owned(),
        events: events.iter().map(|e| (*e).to_owned()).collect(),
        description: None,
        secret: Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
    }
}

/// The event ids of an endpoint's deliveries, oldest first.
async fn delivered(store: &Arc<dyn Store>, endpoint: &Endpoint) -> Vec<(String, TenantId)> {
    let mut ids: Vec<(String, TenantId)> = store
        .deliveries(endpoint.id, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|(d, _)| (d.event.id, d.event.tenant))
        .collect();
    ids.reverse();
    ids
}

fn tenant_record(id: &TenantId, tracking_id: &str) -> TenantRecord {
    TenantRecord {
        id: id.clone(),
        name: format!("{id} «ü»"),
        tracking_id: tracking_id.to_owned(),
        settings: "{}".to_owned(),
        source: TenantSource::Api,
        created_ms: T0,
        updated_ms: T0,
    }
}

/// Endpoints are listed per tenant (all of them without a tenant); an event reaches only the
/// subscribed endpoints of its own tenant; an order event is the tenant's whose tracking id is
/// the order's (the default tenant's when no tenant has it), whichever handle stores it.
pub async fn events_reach_only_their_tenants_endpoints(
    store: &Arc<dyn Store>,
    other: &Arc<dyn Store>,
) {
    let (ta, tb) = (tenant("conf-scope-wh-a"), tenant("conf-scope-wh-b"));
    let dflt = TenantId::default_tenant();
    let (track_a, track_b) = ("conf-scope-track-a «ü»", "conf-scope-track-b");
    store
        .create_tenant(&tenant_record(&ta, track_a))
        .await
        .unwrap();
    store
        .create_tenant(&tenant_record(&tb, track_b))
        .await
        .unwrap();
    let types = ["order.created", "alert.firing"];
    let ea = store
        .create_endpoint(&endpoint_of(&ta, "https://a.example/hook", &types), T0)
        .await
        .unwrap();
    let eb = other
        .create_endpoint(&endpoint_of(&tb, "https://b.example/hook", &types), T0)
        .await
        .unwrap();
    let ed = store
        .create_endpoint(&endpoint_of(&dflt, "https://d.example/hook", &types), T0)
        .await
        .unwrap();
    assert_eq!(
        (ea.tenant.clone(), eb.tenant.clone()),
        (ta.clone(), tb.clone())
    );
    for handle in [store, other] {
        assert_eq!(handle.endpoint(ea.id).await.unwrap(), Some(ea.clone()));
        assert_eq!(handle.endpoints(Some(&ta)).await.unwrap(), vec![ea.clone()]);
        assert_eq!(handle.endpoints(Some(&tb)).await.unwrap(), vec![eb.clone()]);
        let all: Vec<u64> = handle
            .endpoints(None)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.id)
            .filter(|id| [ea.id, eb.id, ed.id].contains(id))
            .collect();
        assert_eq!(all, vec![ea.id, eb.id, ed.id]);
    }

    let fired = event(
        "msg_conf_scope_b".to_owned(),
        tb.clone(),
        "alert.firing",
        T0,
        serde_json::json!({}),
    );
    other
        .publish(std::slice::from_ref(&fired), T0)
        .await
        .unwrap();
    assert_eq!(
        delivered(store, &eb).await,
        vec![(fired.id.clone(), tb.clone())]
    );
    assert_eq!(delivered(store, &ea).await, vec![]);
    assert_eq!(delivered(store, &ed).await, vec![]);

    let of_a = sample_order(9_400_000_001, track_a, T0 + DAY);
    let of_nobody = sample_order(9_400_000_002, "conf-scope-track-nobody", T0 + DAY);
    store.upsert_orders(&[of_a], T0 + DAY).await.unwrap();
    other.upsert_orders(&[of_nobody], T0 + DAY).await.unwrap();
    assert_eq!(
        delivered(store, &ea).await,
        vec![("msg_order_9400000001_created".to_owned(), ta.clone())],
        "the order of a's tracking id is a's event"
    );
    assert_eq!(
        delivered(other, &ed).await,
        vec![("msg_order_9400000002_created".to_owned(), dflt.clone())],
        "an order of no tenant's tracking id is the default tenant's"
    );
    assert_eq!(delivered(store, &eb).await.len(), 1, "b got none of them");

    for e in [&ea, &eb, &ed] {
        assert!(store.delete_endpoint(e.id).await.unwrap());
    }
    for t in [&ta, &tb] {
        assert!(store.delete_tenant(t, T0 + DAY).await.unwrap());
    }
}

/// Watches are listed per tenant (all of them without a tenant), and a check's events reach
/// only the endpoints of the watch's tenant.
pub async fn watches_stay_in_their_tenant(store: &Arc<dyn Store>, other: &Arc<dyn Store>) {
    let (ta, tb) = (tenant("conf-scope-w-a"), tenant("conf-scope-w-b"));
    let new_watch = |t: &TenantId| NewWatch {
        tenant: t.clone(),
        product_id: 1_005_006_000_000_077,
        price_drop_percent: Some(10),
        target_price: None,
        currency: "USD".to_owned(),
        ship_to_country: None,
    };
    let wa = store.create_watch(&new_watch(&ta), T0).await.unwrap();
    let wb = other.create_watch(&new_watch(&tb), T0).await.unwrap();
    assert_eq!(
        (wa.tenant.clone(), wb.tenant.clone()),
        (ta.clone(), tb.clone())
    );
    for handle in [store, other] {
        assert_eq!(handle.watch(wb.id).await.unwrap(), Some(wb.clone()));
        assert_eq!(handle.watches(Some(&ta)).await.unwrap(), vec![wa.clone()]);
        assert_eq!(handle.watches(Some(&tb)).await.unwrap(), vec![wb.clone()]);
        let all: Vec<u64> = handle
            .watches(None)
            .await
            .unwrap()
            .into_iter()
            .map(|w| w.id)
            .filter(|id| *id == wa.id || *id == wb.id)
            .collect();
        assert_eq!(all, vec![wa.id, wb.id]);
    }
    let types = ["product.price_changed"];
    let ea = store
        .create_endpoint(&endpoint_of(&ta, "https://a.example/w", &types), T0)
        .await
        .unwrap();
    let eb = store
        .create_endpoint(&endpoint_of(&tb, "https://b.example/w", &types), T0)
        .await
        .unwrap();
    let changed = event(
        format!("msg_watch_{}_conf_scope", wa.id),
        wa.tenant.clone(),
        "product.price_changed",
        T0 + 5,
        serde_json::json!({ "watch_id": wa.id.to_string() }),
    );
    let state = WatchState {
        last_price: Some("9.99".to_owned()),
        checked_at_ms: Some(T0 + 5),
        ..WatchState::default()
    };
    assert!(
        other
            .record_watch_check(wa.id, &state, std::slice::from_ref(&changed), T0 + 5)
            .await
            .unwrap()
    );
    assert_eq!(
        delivered(store, &ea).await,
        vec![(changed.id.clone(), ta.clone())]
    );
    assert_eq!(delivered(store, &eb).await, vec![]);
    for e in [&ea, &eb] {
        assert!(store.delete_endpoint(e.id).await.unwrap());
    }
    for w in [&wa, &wb] {
        assert!(store.delete_watch(w.id).await.unwrap());
    }
}

/// Usage and keyword rows are kept per tenant (the same key of two tenants is two rows) and
/// read per tenant, or summed over every tenant.
pub async fn analytics_are_kept_per_tenant(store: &Arc<dyn Store>, other: &Arc<dyn Store>) {
    // 2032-01-01: after every other analytics row of the checks.
    const S0: i64 = 1_956_528_000_000;
    const MINUTE: i64 = 60_000;
    let key = |t: &str| UsageKey {
        tenant: t.to_owned(),
        route: "searchProducts".to_owned(),
        client: "conf-scope".to_owned(),
        cache: "hit".to_owned(),
        mode: "mock".to_owned(),
        status_class: 2,
    };
    let counts = |requests: u64| {
        let mut latency = alistach_domain::HistogramSnapshot::default();
        for _ in 0..requests {
            latency.observe(std::time::Duration::from_millis(3));
        }
        UsageCounts { requests, latency }
    };
    let kw = |t: &str, keyword: &str, searches: u64| KeywordRow {
        bucket_ms: S0,
        tenant: t.to_owned(),
        keyword: keyword.to_owned(),
        counts: KeywordCounts {
            searches,
            zero_results: 0,
            results: searches * 10,
        },
    };
    let (ta, tb) = ("conf-scope-an-a", "conf-scope-an-b «ü»");
    let batch = AnalyticsBatch {
        flush_id: "conf-scope-analytics:1".to_owned(),
        usage: vec![
            UsageRow {
                bucket_ms: S0,
                key: key(ta),
                counts: counts(3),
            },
            UsageRow {
                bucket_ms: S0,
                key: key(tb),
                counts: counts(4),
            },
        ],
        keywords: vec![
            kw(ta, "", 3),
            kw(ta, "earbuds", 3),
            kw(tb, "", 5),
            kw(tb, "earbuds", 1),
            kw(tb, "lamp", 4),
        ],
    };
    assert!(store.flush_analytics(&batch).await.unwrap());
    for handle in [store, other] {
        for res in Resolution::ALL {
            let of_a = handle
                .usage(Some(ta), res, S0, S0 + MINUTE, MINUTE)
                .await
                .unwrap();
            assert_eq!(
                of_a,
                vec![UsageRow {
                    bucket_ms: S0,
                    key: key(ta),
                    counts: counts(3)
                }],
                "{res:?}"
            );
            let all = handle
                .usage(None, res, S0, S0 + MINUTE, MINUTE)
                .await
                .unwrap();
            assert_eq!(
                all,
                vec![UsageRow {
                    bucket_ms: S0,
                    key: key(""),
                    counts: counts(7)
                }],
                "summed over the tenants ({res:?})"
            );
        }
        let top = |t: Option<&'static str>| {
            let handle = Arc::clone(handle);
            async move {
                handle
                    .top_keywords(
                        t,
                        Resolution::Hour,
                        S0,
                        S0 + MINUTE,
                        KeywordOrder::Searches,
                        10,
                    )
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|(k, c)| (k, c.searches))
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(top(Some(ta)).await, vec![("earbuds".to_owned(), 3)]);
        assert_eq!(
            top(Some(tb)).await,
            vec![("lamp".to_owned(), 4), ("earbuds".to_owned(), 1)]
        );
        assert_eq!(
            top(None).await,
            vec![("earbuds".to_owned(), 4), ("lamp".to_owned(), 4)]
        );
        assert_eq!(top(Some("conf-scope-an-none")).await, vec![]);
        let series = |t: Option<&'static str>| {
            let handle = Arc::clone(handle);
            async move {
                handle
                    .keyword_series(t, Resolution::Minute, "", S0, S0 + MINUTE, MINUTE)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|(b, c)| (b, c.searches))
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(series(Some(ta)).await, vec![(S0, 3)]);
        assert_eq!(series(Some(tb)).await, vec![(S0, 5)]);
        assert_eq!(series(None).await, vec![(S0, 8)]);
    }
    // A second flush adds per tenant.
    let again = AnalyticsBatch {
        flush_id: "conf-scope-analytics:2".to_owned(),
        usage: vec![UsageRow {
            bucket_ms: S0,
            key: key(tb),
            counts: counts(1),
        }],
        keywords: vec![kw(tb, "", 1)],
    };
    assert!(other.flush_analytics(&again).await.unwrap());
    let of_b = store
        .usage(Some(tb), Resolution::Day, S0, S0 + MINUTE, MINUTE)
        .await
        .unwrap();
    assert_eq!(of_b.len(), 1);
    assert_eq!(of_b[0].counts, counts(5));
    let of_a = store
        .usage(Some(ta), Resolution::Day, S0, S0 + MINUTE, MINUTE)
        .await
        .unwrap();
    assert_eq!(
        of_a[0].counts,
        counts(3),
        "another tenant's flush adds nothing"
    );
}

/// Lists, revenue, click summaries and the per-bucket counts select by a set of tracking ids
/// (an empty set selects nothing).
pub async fn orders_and_clicks_are_selected_by_tracking_ids(store: &Arc<dyn Store>) {
    // 2033-01-01: after every other row of the checks.
    const O0: i64 = 1_988_150_400_000;
    let (t1, t2, t3) = ("conf-scope-t1", "conf-scope-t2 «ü»", "conf-scope-t3");
    let orders = vec![
        sample_order(9_500_000_001, t1, O0 + 1),
        sample_order(9_500_000_002, t2, O0 + 2),
        sample_order(9_500_000_003, t3, O0 + 3),
        sample_order(9_500_000_004, t1, O0 + 4),
    ];
    store.upsert_orders(&orders, O0 + DAY).await.unwrap();
    let ids = |list: &[&str]| list.iter().map(|t| (*t).to_owned()).collect::<Vec<_>>();
    let filter = |list: &[&str]| OrderFilter {
        from_ms: Some(O0),
        tracking_ids: Some(ids(list)),
        ..OrderFilter::default()
    };
    let page = OrderPageRequest {
        page: 1,
        page_size: 50,
    };
    let listed = |rows: crate::OrderRows| {
        rows.orders
            .iter()
            .map(|o| o.record.order.sub_order_id)
            .collect::<Vec<_>>()
    };
    let rows = store.list_orders(&filter(&[t1, t2]), page).await.unwrap();
    assert_eq!(rows.total, 3);
    assert_eq!(
        listed(rows),
        vec![9_500_000_004, 9_500_000_002, 9_500_000_001]
    );
    let rows = store.list_orders(&filter(&[]), page).await.unwrap();
    assert_eq!(rows.total, 0, "an empty set selects nothing");
    let everything = OrderFilter {
        from_ms: Some(O0),
        ..OrderFilter::default()
    };
    assert_eq!(store.list_orders(&everything, page).await.unwrap().total, 4);
    let with_one = OrderFilter {
        tracking_id: Some(t1.to_owned()),
        ..filter(&[t2])
    };
    assert_eq!(
        store.list_orders(&with_one, page).await.unwrap().total,
        0,
        "both filters apply"
    );
    let groups = store
        .revenue(&filter(&[t2, t3]), crate::GroupBy::TrackingId)
        .await
        .unwrap();
    let keys: Vec<(&str, u64)> = groups.iter().map(|g| (g.key.as_str(), g.orders)).collect();
    assert_eq!(keys, vec![(t2, 1), (t3, 1)]);

    let per_day = |list: Option<&[&str]>| {
        let list = list.map(ids);
        let store = Arc::clone(store);
        async move {
            store
                .orders_per_bucket(list.as_deref(), false, O0, O0 + DAY, DAY)
                .await
                .unwrap()
                .iter()
                .map(|b| b.orders)
                .sum::<u64>()
        }
    };
    assert_eq!(per_day(Some(&[t1])).await, 2);
    assert_eq!(per_day(Some(&[t1, t3])).await, 3);
    assert_eq!(per_day(None).await, 4);
    assert_eq!(per_day(Some(&[])).await, 0);

    let click = |t: &str, id: u64| Click {
        at_ms: O0 + 10,
        product_id: Some(alistach_domain::ProductId(id)),
        tracking_id: t.to_owned(),
        variant: None,
    };
    store
        .record_clicks(&[
            click(t1, 9_500_000_101),
            click(t1, 9_500_000_101),
            click(t2, 9_500_000_102),
        ])
        .await
        .unwrap();
    let summary = store.click_summary(Some(&ids(&[t1]))).await.unwrap();
    assert_eq!(summary.total, 2);
    assert_eq!(
        summary
            .products
            .iter()
            .map(|p| (p.product_id.0, p.clicks))
            .collect::<Vec<_>>(),
        vec![(9_500_000_101, 2)]
    );
    let summary = store.click_summary(Some(&ids(&[t2, t3]))).await.unwrap();
    assert_eq!(summary.total, 1);
    assert_eq!(store.click_summary(Some(&[])).await.unwrap().total, 0);
    let all = store.click_summary(None).await.unwrap();
    assert!(all.total >= 3);
    let buckets = |list: Option<Vec<String>>| {
        let store = Arc::clone(store);
        async move {
            store
                .clicks_per_bucket(list.as_deref(), O0, O0 + DAY, DAY)
                .await
                .unwrap()
                .iter()
                .map(|b| (b.bucket_ms, b.clicks))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(buckets(Some(ids(&[t2]))).await, vec![(O0, 1)]);
    assert_eq!(buckets(Some(ids(&[t1, t2]))).await, vec![(O0, 3)]);
    assert_eq!(buckets(Some(vec![])).await, vec![]);
    assert_eq!(buckets(None).await, vec![(O0, 3)]);
}
