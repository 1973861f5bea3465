//! The watch checks: watches are created, listed, read and deleted, and a check's state and
//! events are recorded together.

use std::sync::Arc;

use alistach_domain::{Secret, TenantId};

use super::T0;
use crate::{NewEndpoint, NewWatch, Store, WatchState, event};

/// Watches are stored with every field, listed oldest first, read by id from another handle
/// and deleted; an unknown id is `None` / false.
pub async fn watches_are_created_listed_and_deleted(
    store: &Arc<dyn Store>,
    other: &Arc<dyn Store>,
) {
    let full = NewWatch {
        tenant: TenantId::default_tenant(),
        product_id: u64::MAX - 3,
        price_drop_percent: Some(15),
        target_price: Some("19.99".to_owned()),
        currency: "EUR".to_owned(),
        ship_to_country: Some("DE".to_owned()),
    };
    let sparse = NewWatch {
        tenant: TenantId::default_tenant(),
        product_id: 1_005_006_000_000_001,
        price_drop_percent: None,
        target_price: None,
        currency: "USD".to_owned(),
        ship_to_country: None,
    };
    let a = store.create_watch(&full, T0).await.unwrap();
    let b = store.create_watch(&sparse, T0 + 1).await.unwrap();
    assert!(b.id > a.id, "ids grow");
    assert_eq!(
        (
            a.product_id,
            a.price_drop_percent,
            a.target_price.as_deref()
        ),
        (u64::MAX - 3, Some(15), Some("19.99"))
    );
    assert_eq!(a.currency, "EUR");
    assert_eq!(a.ship_to_country.as_deref(), Some("DE"));
    assert_eq!(a.created_at_ms, T0);
    assert_eq!(a.state, WatchState::default(), "not yet checked");
    assert_eq!(other.watch(a.id).await.unwrap(), Some(a.clone()));
    assert_eq!(other.watch(b.id).await.unwrap(), Some(b.clone()));
    let listed: Vec<u64> = other
        .watches(None)
        .await
        .unwrap()
        .into_iter()
        .map(|w| w.id)
        .filter(|id| *id == a.id || *id == b.id)
        .collect();
    assert_eq!(listed, vec![a.id, b.id], "oldest first");
    assert!(store.delete_watch(a.id).await.unwrap());
    assert!(!other.delete_watch(a.id).await.unwrap(), "already gone");
    assert_eq!(store.watch(a.id).await.unwrap(), None);
    assert!(store.delete_watch(b.id).await.unwrap());
    assert_eq!(store.watch(9_999_999_999).await.unwrap(), None);
}

/// A check's state is stored and its events published in one go (to the endpoints
/// subscribed, once per event id); a check of a deleted watch records and publishes nothing.
pub async fn watch_checks_are_recorded_with_their_events(
    store: &Arc<dyn Store>,
    other: &Arc<dyn Store>,
) {
    let endpoint = store
        .create_endpoint(
            &NewEndpoint {
                tenant: TenantId::default_tenant(),
                url: "https://hooks.example/watches".to_owned(),
                events: vec!["product.price_changed".to_owned()],
                description: None,
                secret: Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            },
            T0,
        )
        .await
        .unwrap();
    let watch = store
        .create_watch(
            &NewWatch {
                tenant: TenantId::default_tenant(),
                product_id: 1_005_006_000_000_002,
                price_drop_percent: None,
                target_price: Some("10".to_owned()),
                currency: "USD".to_owned(),
                ship_to_country: None,
            },
            T0,
        )
        .await
        .unwrap();
    let state = WatchState {
        baseline_price: Some("12.50".to_owned()),
        last_price: Some("9.99".to_owned()),
        available: Some(true),
        notified: true,
        checked_at_ms: Some(T0 + 5),
    };
    let changed = event(
        format!("msg_watch_{}_conf", watch.id),
        watch.tenant.clone(),
        "product.price_changed",
        T0 + 5,
        serde_json::json!({ "watch_id": watch.id.to_string(), "price": "9.99" }),
    );
    assert!(
        store
            .record_watch_check(watch.id, &state, std::slice::from_ref(&changed), T0 + 5)
            .await
            .unwrap()
    );
    assert_eq!(other.watch(watch.id).await.unwrap().unwrap().state, state);
    // The same event again (a retried check) is not a second delivery.
    assert!(
        other
            .record_watch_check(watch.id, &state, std::slice::from_ref(&changed), T0 + 6)
            .await
            .unwrap()
    );
    let deliveries = store.deliveries(endpoint.id, 100).await.unwrap();
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    assert_eq!(deliveries[0].0.event, changed);

    assert!(store.delete_watch(watch.id).await.unwrap());
    let late = event(
        format!("msg_watch_{}_late", watch.id),
        watch.tenant.clone(),
        "product.price_changed",
        T0 + 7,
        serde_json::json!({}),
    );
    assert!(
        !store
            .record_watch_check(watch.id, &state, &[late], T0 + 7)
            .await
            .unwrap(),
        "the watch is gone"
    );
    assert_eq!(store.watch(watch.id).await.unwrap(), None);
    assert_eq!(
        store.deliveries(endpoint.id, 100).await.unwrap().len(),
        1,
        "nothing published for a deleted watch"
    );
    assert!(store.delete_endpoint(endpoint.id).await.unwrap());
}
