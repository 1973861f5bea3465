//! The webhook checks: endpoints, the outbox, deliveries and their attempts.
//!
//! Every check deletes the endpoints it made before it returns, so the next one starts with no
//! endpoint, and no delivery is due (`due_deliveries` and publishing see every endpoint).

use std::sync::Arc;

use alistach_domain::{Cents, Secret, TenantId};

use super::{DAY, T0, sample_order};
use crate::{
    Attempt, AttemptOutcome, Delivery, DeliveryState, Endpoint, EndpointUpdate, Event, NewEndpoint,
    Store, event,
};

/// A secret as the service makes them.
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// An id no check's endpoint or delivery has.
const UNKNOWN: u64 = 9_999_999_999;

fn new_endpoint(url: &str, events: &[&str]) -> NewEndpoint {
    NewEndpoint {
        tenant: TenantId::default_tenant(),
        url: url.to_owned(),
        events: events.iter().map(|e| (*e).to_owned()).collect(),
        description: None,
        secret: Secret::new(SECRET),
    }
}

/// An event of this check.
fn test_event(id: &str, event_type: &str, timestamp_ms: i64) -> Event {
    event(
        id.to_owned(),
        TenantId::default_tenant(),
        event_type,
        timestamp_ms,
        serde_json::json!({ "check": id, "text": "«ü» 耳机" }),
    )
}

async fn create(store: &Arc<dyn Store>, url: &str, events: &[&str], now_ms: i64) -> Endpoint {
    store
        .create_endpoint(&new_endpoint(url, events), now_ms)
        .await
        .unwrap()
}

/// An endpoint's deliveries, newest first, without their attempts.
async fn deliveries_of(store: &Arc<dyn Store>, endpoint_id: u64) -> Vec<Delivery> {
    store
        .deliveries(endpoint_id, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|(d, _)| d)
        .collect()
}

/// The event ids of an endpoint's deliveries, oldest first.
async fn delivered_ids(store: &Arc<dyn Store>, endpoint_id: u64) -> Vec<String> {
    let mut ids: Vec<String> = deliveries_of(store, endpoint_id)
        .await
        .into_iter()
        .map(|d| d.event.id)
        .collect();
    ids.reverse();
    ids
}

async fn delete_all(store: &Arc<dyn Store>, endpoints: &[&Endpoint]) {
    for e in endpoints {
        assert!(store.delete_endpoint(e.id).await.unwrap(), "{}", e.id);
    }
}

fn attempt(at_ms: i64, status: Option<u16>, error: Option<&str>) -> Attempt {
    Attempt {
        at_ms,
        status,
        latency_ms: 120,
        error: error.map(str::to_owned),
    }
}

/// Endpoints are created enabled with every field kept (the secret as given, never in
/// `Debug`), listed oldest first, changed field by field, disabled with a reason, enabled
/// again (which clears the reason and the failing time) and deleted with their deliveries and
/// attempts; unknown ids are `None` or false.
pub async fn webhook_endpoints_are_created_changed_and_deleted(
    store: &Arc<dyn Store>,
    other: &Arc<dyn Store>,
) {
    let mut first = new_endpoint("https://hooks.example.com/a?x=«ü»", &["order.created"]);
    first.description = Some("first — «ü»".to_owned());
    let a = store.create_endpoint(&first, T0).await.unwrap();
    assert_eq!(
        (a.url.as_str(), a.events.clone(), a.description.as_deref()),
        (
            first.url.as_str(),
            vec!["order.created".to_owned()],
            Some("first — «ü»")
        )
    );
    assert_eq!(a.secret.expose(), SECRET);
    assert!(a.enabled);
    assert_eq!(
        (a.disabled_reason.as_deref(), a.failing_since_ms),
        (None, None)
    );
    assert_eq!((a.created_at_ms, a.updated_at_ms), (T0, T0));
    assert!(!format!("{a:?}").contains(SECRET), "the secret is redacted");
    let b = create(
        other,
        "http://127.0.0.1:9/b",
        &["order.created", "order.settled", "alert.firing"],
        T0 + 1,
    )
    .await;
    assert_ne!(a.id, b.id);
    for handle in [store, other] {
        let listed: Vec<Endpoint> = handle
            .endpoints(None)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.id == a.id || e.id == b.id)
            .collect();
        assert_eq!(listed, vec![a.clone(), b.clone()], "oldest first");
        assert_eq!(handle.endpoint(a.id).await.unwrap(), Some(a.clone()));
        assert_eq!(handle.endpoint(b.id).await.unwrap(), Some(b.clone()));
        assert_eq!(handle.endpoint(UNKNOWN).await.unwrap(), None);
    }

    // Each field alone.
    let mut expected = a.clone();
    let update = |f: fn(&mut EndpointUpdate)| {
        let mut u = EndpointUpdate::default();
        f(&mut u);
        u
    };
    type Step = (EndpointUpdate, fn(&mut Endpoint));
    let steps: Vec<Step> = vec![
        (
            update(|u| u.url = Some("https://hooks.example.com/new".to_owned())),
            |e| e.url = "https://hooks.example.com/new".to_owned(),
        ),
        (
            update(|u| {
                u.events = Some(vec![
                    "order.settled".to_owned(),
                    "alert.resolved".to_owned(),
                ])
            }),
            |e| e.events = vec!["order.settled".to_owned(), "alert.resolved".to_owned()],
        ),
        (update(|u| u.description = Some(None)), |e| {
            e.description = None
        }),
        (
            update(|u| u.description = Some(Some("second".to_owned()))),
            |e| e.description = Some("second".to_owned()),
        ),
        (update(|u| u.enabled = Some(false)), |e| e.enabled = false),
        (update(|u| u.enabled = Some(true)), |e| e.enabled = true),
        (EndpointUpdate::default(), |_| {}),
    ];
    for (i, (change, apply)) in steps.into_iter().enumerate() {
        let now = T0 + 10 + i as i64;
        apply(&mut expected);
        expected.updated_at_ms = now;
        let got = store.update_endpoint(a.id, &change, now).await.unwrap();
        assert_eq!(got, Some(expected.clone()), "step {i}: {change:?}");
        assert_eq!(other.endpoint(a.id).await.unwrap(), Some(expected.clone()));
    }
    assert_eq!(
        other.endpoint(b.id).await.unwrap(),
        Some(b.clone()),
        "the other endpoint is untouched"
    );
    assert_eq!(
        store
            .update_endpoint(UNKNOWN, &EndpointUpdate::default(), T0)
            .await
            .unwrap(),
        None
    );

    // Failing, disabled by the dispatcher, enabled by hand.
    let test = test_event("msg_conf_wh_crud_1", "order.settled", T0);
    let d = store
        .deliver_to(a.id, &test, T0 + 100)
        .await
        .unwrap()
        .expect("a delivery to a known endpoint");
    store
        .record_attempt(
            d.id,
            &attempt(T0 + 101, Some(503), Some("HTTP 503")),
            AttemptOutcome::RetryAt(T0 + 200),
        )
        .await
        .unwrap();
    assert_eq!(
        other
            .endpoint(a.id)
            .await
            .unwrap()
            .unwrap()
            .failing_since_ms,
        Some(T0 + 101)
    );
    let disabled = other
        .disable_endpoint(a.id, "failing for 5 days", T0 + 300)
        .await
        .unwrap()
        .unwrap();
    assert!(!disabled.enabled);
    assert_eq!(
        disabled.disabled_reason.as_deref(),
        Some("failing for 5 days")
    );
    assert_eq!(disabled.failing_since_ms, Some(T0 + 101));
    assert_eq!(disabled.updated_at_ms, T0 + 300);
    assert_eq!(store.endpoint(a.id).await.unwrap(), Some(disabled.clone()));
    assert_eq!(
        store.disable_endpoint(UNKNOWN, "x", T0).await.unwrap(),
        None
    );
    let enabled = store
        .update_endpoint(
            a.id,
            &EndpointUpdate {
                enabled: Some(true),
                ..EndpointUpdate::default()
            },
            T0 + 400,
        )
        .await
        .unwrap()
        .unwrap();
    assert!(enabled.enabled);
    assert_eq!(
        (enabled.disabled_reason.as_deref(), enabled.failing_since_ms),
        (None, None),
        "enabling clears why it was disabled and since when it fails"
    );
    assert_eq!(other.endpoint(a.id).await.unwrap(), Some(enabled));

    // Deleting takes the deliveries and their attempts along.
    assert_eq!(store.deliveries(a.id, 10).await.unwrap().len(), 1);
    assert!(other.delete_endpoint(a.id).await.unwrap());
    assert_eq!(store.endpoint(a.id).await.unwrap(), None);
    assert_eq!(store.deliveries(a.id, 10).await.unwrap(), vec![]);
    assert_eq!(store.due_deliveries(i64::MAX, 1000).await.unwrap(), vec![]);
    assert_eq!(
        store.retry_delivery(a.id, d.id, T0 + 500).await.unwrap(),
        None
    );
    assert!(!store.delete_endpoint(a.id).await.unwrap(), "gone already");
    assert!(
        !store
            .endpoints(None)
            .await
            .unwrap()
            .iter()
            .any(|e| e.id == a.id)
    );
    assert_eq!(store.endpoint(b.id).await.unwrap(), Some(b.clone()));
    delete_all(store, &[&b]).await;
}

/// Publishing keeps each event once per id, with one pending delivery, due now, per enabled
/// endpoint subscribed to its type; an id seen before is ignored, in the batch with new ones
/// too.
pub async fn publishing_fans_out_once_per_event(store: &Arc<dyn Store>, other: &Arc<dyn Store>) {
    let both = create(
        store,
        "https://a.example/1",
        &["order.created", "alert.firing"],
        T0,
    )
    .await;
    let alerts = create(other, "https://a.example/2", &["alert.firing"], T0).await;
    let settled = create(store, "https://a.example/3", &["order.settled"], T0).await;
    let off = create(store, "https://a.example/4", &["alert.firing"], T0).await;
    store
        .update_endpoint(
            off.id,
            &EndpointUpdate {
                enabled: Some(false),
                ..EndpointUpdate::default()
            },
            T0,
        )
        .await
        .unwrap();
    let fired = test_event("msg_conf_wh_pub_1", "alert.firing", T0 + 50);
    let created = test_event("msg_conf_wh_pub_2", "order.created", T0 + 60);
    store
        .publish(&[fired.clone(), created.clone()], T0 + 100)
        .await
        .unwrap();
    let got = deliveries_of(other, both.id).await;
    assert_eq!(got.len(), 2, "{got:?}");
    for (d, e) in got.iter().zip([&created, &fired]) {
        assert_eq!(d.endpoint_id, both.id);
        assert_eq!(&d.event, e, "newest first, the event as published");
        assert_eq!(d.state, DeliveryState::Pending);
        assert_eq!(d.attempts, 0);
        assert_eq!(d.next_attempt_at_ms, Some(T0 + 100), "due now");
        assert_eq!(d.created_at_ms, T0 + 100);
        assert_eq!(d.delivered_at_ms, None);
    }
    assert_eq!(
        delivered_ids(store, alerts.id).await,
        vec![fired.id.clone()]
    );
    assert_eq!(delivered_ids(store, settled.id).await, Vec::<String>::new());
    assert_eq!(
        delivered_ids(store, off.id).await,
        Vec::<String>::new(),
        "a disabled endpoint gets no delivery"
    );

    // Again, from another instance, with another payload: ignored.
    let mut again = fired.clone();
    again.payload = r#"{"type":"alert.firing","timestamp":"x","data":{}}"#.to_owned();
    other.publish(&[again], T0 + 200).await.unwrap();
    let third = test_event("msg_conf_wh_pub_3", "alert.firing", T0 + 300);
    other
        .publish(&[created.clone(), third.clone()], T0 + 300)
        .await
        .unwrap();
    other.publish(&[], T0 + 400).await.unwrap();
    assert_eq!(
        delivered_ids(store, both.id).await,
        vec![fired.id.clone(), created.id.clone(), third.id.clone()]
    );
    assert_eq!(
        delivered_ids(store, alerts.id).await,
        vec![fired.id.clone(), third.id.clone()]
    );
    let kept = deliveries_of(store, alerts.id).await;
    assert_eq!(kept[1].event, fired, "the event first published is kept");
    assert_eq!(kept[0].next_attempt_at_ms, Some(T0 + 300));
    assert_eq!(delivered_ids(store, off.id).await, Vec::<String>::new());
    delete_all(store, &[&both, &alerts, &settled, &off]).await;
}

/// `upsert_orders` publishes `order.created` for a new order, `order.status_changed` for a
/// new status and `order.settled` besides for `Completed Settlement`, exactly once per change:
/// seeing an order again, or a change of other fields, publishes nothing, and two instances
/// storing the same change at once publish it once.
pub async fn upserts_publish_order_events_once_per_change(
    store: &Arc<dyn Store>,
    other: &Arc<dyn Store>,
) {
    let all = create(
        store,
        "https://o.example/all",
        &["order.created", "order.status_changed", "order.settled"],
        T0,
    )
    .await;
    let settled = create(store, "https://o.example/settled", &["order.settled"], T0).await;
    let id = 9_000_000_000_900_001u64;
    let mut order = sample_order(id, "conf-wh-orders", T0);
    let t = T0 + DAY;
    store
        .upsert_orders(std::slice::from_ref(&order), t)
        .await
        .unwrap();
    let got = deliveries_of(other, all.id).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let e = &got[0].event;
    assert_eq!(e.id, format!("msg_order_{id}_created"));
    assert_eq!(e.event_type, "order.created");
    assert_eq!(e.timestamp_ms, t);
    assert_eq!(got[0].next_attempt_at_ms, Some(t), "due at once");
    let body: serde_json::Value = serde_json::from_str(&e.payload).expect("the payload is JSON");
    assert_eq!(body["type"], "order.created");
    assert_eq!(body["data"]["sub_order_id"], id.to_string());
    assert_eq!(body["data"]["status"], "Payment Completed");
    assert_eq!(body["data"]["previous_status"], serde_json::Value::Null);

    // Seen again, and a change of other fields: nothing.
    store
        .upsert_orders(&[order.clone(), order.clone()], t + 1)
        .await
        .unwrap();
    order.order.estimated_paid_commission = Cents(81);
    other
        .upsert_orders(std::slice::from_ref(&order), t + 2)
        .await
        .unwrap();
    assert_eq!(deliveries_of(store, all.id).await.len(), 1);

    order.order.status = "Buyer Confirmed Receipt".to_owned();
    other
        .upsert_orders(std::slice::from_ref(&order), t + 3)
        .await
        .unwrap();
    order.order.status = "Completed Settlement".to_owned();
    order.order.estimated_finished_commission = Some(Cents(80));
    store
        .upsert_orders(std::slice::from_ref(&order), t + 4)
        .await
        .unwrap();
    store
        .upsert_orders(std::slice::from_ref(&order), t + 5)
        .await
        .unwrap();
    let got = deliveries_of(store, all.id).await;
    let seen: Vec<(&str, &str, i64)> = got
        .iter()
        .rev()
        .map(|d| {
            (
                d.event.id.as_str(),
                d.event.event_type.as_str(),
                d.event.timestamp_ms,
            )
        })
        .collect();
    let created = format!("msg_order_{id}_created");
    let confirmed = format!("msg_order_{id}_buyer_confirmed_receipt");
    let settlement = format!("msg_order_{id}_completed_settlement");
    let settled_id = format!("msg_order_{id}_settled");
    assert_eq!(
        seen,
        vec![
            (created.as_str(), "order.created", t),
            (confirmed.as_str(), "order.status_changed", t + 3),
            (settlement.as_str(), "order.status_changed", t + 4),
            (settled_id.as_str(), "order.settled", t + 4),
        ]
    );
    let body: serde_json::Value = serde_json::from_str(&got[1].event.payload).unwrap();
    assert_eq!(body["data"]["status"], "Completed Settlement");
    assert_eq!(body["data"]["previous_status"], "Buyer Confirmed Receipt");
    assert_eq!(
        delivered_ids(store, settled.id).await,
        vec![settled_id.clone()]
    );

    // First seen settled: created and settled.
    let mut late = sample_order(id + 1, "conf-wh-orders", T0);
    late.order.status = "Completed Settlement".to_owned();
    store.upsert_orders(&[late], t + 6).await.unwrap();
    assert_eq!(
        delivered_ids(store, settled.id).await,
        vec![settled_id, format!("msg_order_{}_settled", id + 1)]
    );

    // Two instances at once.
    for round in 0..5u64 {
        let id = 9_000_000_000_900_101 + round;
        let mut order = sample_order(id, "conf-wh-race", T0);
        let batch = vec![order.clone()];
        let (a, b) = tokio::join!(
            store.upsert_orders(&batch, t),
            other.upsert_orders(&batch, t)
        );
        assert_eq!(a.unwrap().inserted + b.unwrap().inserted, 1);
        order.order.status = "Completed Settlement".to_owned();
        let batch = vec![order.clone()];
        let (a, b) = tokio::join!(
            store.upsert_orders(&batch, t + 1),
            other.upsert_orders(&batch, t + 1)
        );
        assert_eq!(a.unwrap().status_changes + b.unwrap().status_changes, 1);
        let mine: Vec<String> = delivered_ids(store, all.id)
            .await
            .into_iter()
            .filter(|e| e.starts_with(&format!("msg_order_{id}_")))
            .collect();
        assert_eq!(
            mine,
            vec![
                format!("msg_order_{id}_created"),
                format!("msg_order_{id}_completed_settlement"),
                format!("msg_order_{id}_settled"),
            ],
            "round {round}: each event once"
        );
    }
    delete_all(store, &[&all, &settled]).await;
}

/// Due deliveries are the pending ones whose time has come, of enabled endpoints, oldest due
/// first (then oldest made), at most `limit`.
pub async fn due_deliveries_are_pending_due_and_enabled_oldest_first(
    store: &Arc<dyn Store>,
    other: &Arc<dyn Store>,
) {
    let a = create(store, "https://d.example/a", &["alert.firing"], T0).await;
    let b = create(store, "https://d.example/b", &["alert.firing"], T0).await;
    let e1 = test_event("msg_conf_wh_due_1", "alert.firing", T0);
    let e2 = test_event("msg_conf_wh_due_2", "alert.firing", T0);
    let e3 = test_event("msg_conf_wh_due_3", "alert.firing", T0);
    store
        .publish(std::slice::from_ref(&e1), T0 + 10)
        .await
        .unwrap();
    other
        .publish(std::slice::from_ref(&e2), T0 + 5)
        .await
        .unwrap();
    store
        .publish(std::slice::from_ref(&e3), T0 + 20)
        .await
        .unwrap();
    let due = |now: i64, limit: u32| {
        let store = Arc::clone(store);
        async move {
            store
                .due_deliveries(now, limit)
                .await
                .unwrap()
                .into_iter()
                .map(|d| (d.event.id, d.endpoint_id, d.next_attempt_at_ms))
                .collect::<Vec<_>>()
        }
    };
    let row = |e: &Event, ep: &Endpoint, at: i64| (e.id.clone(), ep.id, Some(at));
    assert_eq!(
        due(T0 + 15, 100).await,
        vec![
            row(&e2, &a, T0 + 5),
            row(&e2, &b, T0 + 5),
            row(&e1, &a, T0 + 10),
            row(&e1, &b, T0 + 10),
        ]
    );
    assert_eq!(due(T0 + 15, 3).await.len(), 3);
    assert_eq!(due(T0 + 15, 0).await, vec![]);
    assert_eq!(due(T0 + 4, 100).await, vec![], "nothing is due yet");
    assert_eq!(due(T0 + 20, 100).await.len(), 6, "due at its time");

    // A disabled endpoint's deliveries wait.
    other
        .disable_endpoint(b.id, "failing", T0 + 30)
        .await
        .unwrap();
    assert_eq!(
        due(T0 + 30, 100).await,
        vec![
            row(&e2, &a, T0 + 5),
            row(&e1, &a, T0 + 10),
            row(&e3, &a, T0 + 20),
        ]
    );
    store
        .update_endpoint(
            b.id,
            &EndpointUpdate {
                enabled: Some(true),
                ..EndpointUpdate::default()
            },
            T0 + 31,
        )
        .await
        .unwrap();
    assert_eq!(due(T0 + 30, 100).await.len(), 6);

    // Delivered and failed ones are done; one retried later is due then.
    let of_a = deliveries_of(store, a.id).await;
    let [d3, d2, d1] = [&of_a[0], &of_a[1], &of_a[2]];
    assert_eq!((&d2.event, &d1.event, &d3.event), (&e2, &e1, &e3));
    store
        .record_attempt(
            d2.id,
            &attempt(T0 + 40, Some(200), None),
            AttemptOutcome::Delivered,
        )
        .await
        .unwrap();
    other
        .record_attempt(
            d1.id,
            &attempt(T0 + 40, None, Some("refused")),
            AttemptOutcome::Failed,
        )
        .await
        .unwrap();
    store
        .record_attempt(
            d3.id,
            &attempt(T0 + 40, Some(500), Some("HTTP 500")),
            AttemptOutcome::RetryAt(T0 + 50),
        )
        .await
        .unwrap();
    let of_a_due = |rows: Vec<(String, u64, Option<i64>)>| {
        rows.into_iter().filter(|r| r.1 == a.id).collect::<Vec<_>>()
    };
    assert_eq!(of_a_due(due(T0 + 49, 100).await), vec![]);
    assert_eq!(
        of_a_due(due(T0 + 50, 100).await),
        vec![row(&e3, &a, T0 + 50)]
    );
    assert_eq!(due(T0 + 50, 100).await.len(), 4, "b's three and a's one");
    delete_all(store, &[&a, &b]).await;
}

/// An attempt is recorded with what follows it: delivered (the time kept, the endpoint no
/// longer failing), a retry later (the endpoint failing since its first failure) or failed;
/// a delivery no longer pending only gets the attempt. Deliveries list newest first, each
/// with its attempts oldest first.
pub async fn attempts_are_recorded_with_what_follows(
    store: &Arc<dyn Store>,
    other: &Arc<dyn Store>,
) {
    let a = create(store, "https://r.example/a", &["alert.resolved"], T0).await;
    let events: Vec<Event> = (1..=3)
        .map(|i| test_event(&format!("msg_conf_wh_att_{i}"), "alert.resolved", T0))
        .collect();
    for e in &events {
        store.publish(std::slice::from_ref(e), T0).await.unwrap();
    }
    let list = deliveries_of(store, a.id).await;
    let (d3, d2, d1) = (list[0].id, list[1].id, list[2].id);
    let failing = |handle: &Arc<dyn Store>| {
        let handle = Arc::clone(handle);
        let id = a.id;
        async move { handle.endpoint(id).await.unwrap().unwrap().failing_since_ms }
    };
    let first = Attempt {
        at_ms: T0 + 1,
        status: Some(599),
        latency_ms: 1 << 40,
        error: Some("HTTP 599 — «ü»".to_owned()),
    };
    store
        .record_attempt(d1, &first, AttemptOutcome::RetryAt(T0 + 60_000))
        .await
        .unwrap();
    assert_eq!(failing(other).await, Some(T0 + 1));
    other
        .record_attempt(
            d2,
            &attempt(T0 + 2, None, Some("timeout")),
            AttemptOutcome::RetryAt(T0 + 60_001),
        )
        .await
        .unwrap();
    assert_eq!(failing(store).await, Some(T0 + 1), "set once");
    let delivered = attempt(T0 + 60_000, Some(204), None);
    store
        .record_attempt(d1, &delivered, AttemptOutcome::Delivered)
        .await
        .unwrap();
    assert_eq!(failing(other).await, None, "a success clears it");
    let last = attempt(T0 + 60_001, Some(410), Some("HTTP 410"));
    other
        .record_attempt(d2, &last, AttemptOutcome::Failed)
        .await
        .unwrap();
    assert_eq!(failing(store).await, Some(T0 + 60_001));
    // Too late: only recorded.
    let late = attempt(T0 + 70_000, None, Some("refused"));
    store
        .record_attempt(d1, &late, AttemptOutcome::Failed)
        .await
        .unwrap();
    let late_ok = attempt(T0 + 70_001, Some(200), None);
    store
        .record_attempt(d2, &late_ok, AttemptOutcome::Delivered)
        .await
        .unwrap();
    assert_eq!(
        failing(store).await,
        Some(T0 + 60_001),
        "attempts of done deliveries leave the endpoint alone"
    );
    store
        .record_attempt(UNKNOWN, &late, AttemptOutcome::Delivered)
        .await
        .unwrap();

    let got = other.deliveries(a.id, 10).await.unwrap();
    let ids: Vec<u64> = got.iter().map(|(d, _)| d.id).collect();
    assert_eq!(ids, vec![d3, d2, d1], "newest first");
    let (one, one_attempts) = &got[2];
    assert_eq!(one.state, DeliveryState::Delivered);
    assert_eq!(one.attempts, 2);
    assert_eq!(one.next_attempt_at_ms, None);
    assert_eq!(one.delivered_at_ms, Some(T0 + 60_000));
    assert_eq!(one.event, events[0]);
    assert_eq!(
        one_attempts,
        &vec![first, delivered, late],
        "oldest first, every field"
    );
    let (two, two_attempts) = &got[1];
    assert_eq!(two.state, DeliveryState::Failed);
    assert_eq!(two.attempts, 2);
    assert_eq!((two.next_attempt_at_ms, two.delivered_at_ms), (None, None));
    assert_eq!(two_attempts.len(), 3);
    assert_eq!(two_attempts[1], last);
    assert_eq!(two_attempts[2], late_ok);
    let (three, three_attempts) = &got[0];
    assert_eq!(
        (three.state, three.attempts, three.next_attempt_at_ms),
        (DeliveryState::Pending, 0, Some(T0))
    );
    assert_eq!(three_attempts, &vec![]);
    let two_newest: Vec<u64> = store
        .deliveries(a.id, 2)
        .await
        .unwrap()
        .iter()
        .map(|(d, _)| d.id)
        .collect();
    assert_eq!(two_newest, vec![d3, d2], "at most `limit`");
    assert_eq!(store.deliveries(UNKNOWN, 10).await.unwrap(), vec![]);
    delete_all(store, &[&a]).await;
}

/// A failed delivery retried by hand is pending again and due now (a pending one sooner); a
/// delivered one stays; another endpoint's is `None`. A test event goes to one endpoint
/// whatever it subscribes to, kept once per id like any event.
pub async fn deliveries_are_retried_and_test_events_sent(
    store: &Arc<dyn Store>,
    other: &Arc<dyn Store>,
) {
    let a = create(store, "https://t.example/a", &["order.created"], T0).await;
    let b = create(store, "https://t.example/b", &["alert.firing"], T0).await;
    let events: Vec<Event> = (1..=3)
        .map(|i| test_event(&format!("msg_conf_wh_retry_{i}"), "order.created", T0))
        .collect();
    store.publish(&events, T0).await.unwrap();
    let list = deliveries_of(store, a.id).await;
    let (d3, d2, d1) = (list[0].id, list[1].id, list[2].id);
    store
        .record_attempt(
            d1,
            &attempt(T0 + 1, Some(500), None),
            AttemptOutcome::Failed,
        )
        .await
        .unwrap();
    store
        .record_attempt(
            d2,
            &attempt(T0 + 1, Some(200), None),
            AttemptOutcome::Delivered,
        )
        .await
        .unwrap();
    store
        .record_attempt(
            d3,
            &attempt(T0 + 1, Some(500), None),
            AttemptOutcome::RetryAt(T0 + 10_000),
        )
        .await
        .unwrap();

    let retried = other
        .retry_delivery(a.id, d1, T0 + 500)
        .await
        .unwrap()
        .expect("a's delivery");
    assert_eq!(retried.id, d1);
    assert_eq!(retried.state, DeliveryState::Pending);
    assert_eq!(retried.next_attempt_at_ms, Some(T0 + 500));
    assert_eq!(retried.attempts, 1, "its attempts are kept");
    assert_eq!(retried.event, events[0]);
    assert_eq!(
        store.deliveries(a.id, 10).await.unwrap()[2].0,
        retried,
        "as stored"
    );
    let sooner = store
        .retry_delivery(a.id, d3, T0 + 600)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (sooner.state, sooner.next_attempt_at_ms),
        (DeliveryState::Pending, Some(T0 + 600))
    );
    let due: Vec<u64> = store
        .due_deliveries(T0 + 600, 100)
        .await
        .unwrap()
        .iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(due, vec![d1, d3]);
    let stays = store
        .retry_delivery(a.id, d2, T0 + 700)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (stays.state, stays.next_attempt_at_ms, stays.delivered_at_ms),
        (DeliveryState::Delivered, None, Some(T0 + 1))
    );
    assert_eq!(store.retry_delivery(b.id, d1, T0).await.unwrap(), None);
    assert_eq!(store.retry_delivery(a.id, UNKNOWN, T0).await.unwrap(), None);
    assert_eq!(store.retry_delivery(UNKNOWN, d1, T0).await.unwrap(), None);

    // The test event: to `a` only, though `b` subscribes to its type.
    let ping = test_event("msg_conf_wh_test_1", "alert.firing", T0 + 800);
    let sent = other
        .deliver_to(a.id, &ping, T0 + 800)
        .await
        .unwrap()
        .expect("a is known");
    assert_eq!(sent.endpoint_id, a.id);
    assert_eq!(sent.event, ping);
    assert_eq!(
        (
            sent.state,
            sent.attempts,
            sent.next_attempt_at_ms,
            sent.created_at_ms
        ),
        (DeliveryState::Pending, 0, Some(T0 + 800), T0 + 800)
    );
    assert_eq!(sent.delivered_at_ms, None);
    assert_eq!(store.deliveries(a.id, 1).await.unwrap()[0].0, sent);
    assert_eq!(delivered_ids(store, b.id).await, Vec::<String>::new());
    let mut changed = ping.clone();
    changed.payload = "{}".to_owned();
    let twice = store
        .deliver_to(a.id, &changed, T0 + 900)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(twice.id, sent.id, "another delivery");
    assert_eq!(twice.event, ping, "of the event as first kept");
    store
        .publish(std::slice::from_ref(&ping), T0 + 900)
        .await
        .unwrap();
    assert_eq!(
        delivered_ids(store, b.id).await,
        Vec::<String>::new(),
        "its id is seen already"
    );
    assert_eq!(store.deliver_to(UNKNOWN, &ping, T0).await.unwrap(), None);
    delete_all(store, &[&a, &b]).await;
}
