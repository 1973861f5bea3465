//! Product watches through the binary: a watch added by the admin API, its product's price
//! and availability changed at the fake gateway, and the watch job (WATCH_INTERVAL=1)
//! publishing one signed webhook per change, not one per check.

use std::time::{Duration, Instant};

use alistach_testkit::gateway::{FakeConfig, FakeGateway};
use serde_json::{Value, json};

use crate::support::{Server, client, temp_dir};
use crate::webhooks::{Received, Receiver, verify};

const KEY: &str = "34567890";
const SECRET: &str = "fake-gateway-app-secret-9f3a";
const ADMIN: &str = "admin-key-for-watches-01234567";
const DETAIL: &str = "aliexpress.affiliate.productdetail.get";

async fn admin(server: &Server, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let c = client();
    let req = match method {
        "POST" => c.post(server.url(path)),
        "DELETE" => c.delete(server.url(path)),
        _ => c.get(server.url(path)),
    }
    .header("x-admin-key", ADMIN);
    let req = match body {
        Some(b) => req.json(&b),
        None => req,
    };
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The events received, as (type, data).
fn events(got: &[Received]) -> Vec<(String, Value)> {
    got.iter()
        .map(|r| {
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            (
                body["type"].as_str().unwrap_or_default().to_owned(),
                body["data"].clone(),
            )
        })
        .collect()
}

/// Waits until the fake has answered `n` more detail calls than `from` (checks ran).
async fn checks(fake: &FakeGateway, from: usize, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while fake.requests(DETAIL) < from + n {
        assert!(Instant::now() < deadline, "the watch job stopped checking");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_watch_publishes_one_event_per_change_not_per_check() {
    let fake = FakeGateway::start(FakeConfig::new(KEY, SECRET)).await;
    let dir = temp_dir("watches");
    let data = dir.display().to_string();
    let receiver = Receiver::start(200).await;
    let url = fake.url();
    let server = Server::start(&[
        ("ALIEXPRESS_APP_KEY", KEY),
        ("ALIEXPRESS_APP_SECRET", SECRET),
        ("ALIEXPRESS_API_URL", url.as_str()),
        ("ALIEXPRESS_TIMEOUT", "5"),
        ("ADMIN_API_KEY", ADMIN),
        ("DATA_DIR", data.as_str()),
        ("WEBHOOK_TIMEOUT", "2"),
        ("WEBHOOK_ALLOW_PRIVATE", "true"),
        ("WATCH_INTERVAL", "1"),
        ("ALIEXPRESS_MAX_QPS", "10"),
    ]);
    let (status, created) = admin(
        &server,
        "POST",
        "/api/admin/webhooks",
        Some(json!({
            "url": receiver.url(),
            "events": ["product.price_changed", "product.unavailable"],
        })),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let secret = created["data"]["secret"].as_str().unwrap().to_owned();

    let product = fake.product_ids()[0];
    fake.set_price(product, 5000);
    let (status, watch) = admin(
        &server,
        "POST",
        "/api/admin/watches",
        Some(json!({"product_id": product.to_string(), "target_price": "40"})),
    )
    .await;
    assert_eq!(status, 201, "{watch}");
    let watch_id = watch["data"]["id"].as_u64().unwrap();
    let (status, problem) = admin(
        &server,
        "POST",
        "/api/admin/watches",
        Some(json!({"product_id": product.to_string(), "price_drop_percent": 0})),
    )
    .await;
    assert_eq!(status, 422, "{problem}");

    // The first check sees $50: the baseline, no event.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, list) = admin(&server, "GET", "/api/admin/watches", None).await;
        let w = &list["data"]["watches"][0];
        if w["available"] == true {
            assert_eq!(w["last_price"], "50", "{w}");
            assert_eq!(w["baseline_price"], "50", "{w}");
            break;
        }
        assert!(Instant::now() < deadline, "never checked: {list}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Above the target: a change, but no event.
    fake.set_price(product, 4500);
    checks(&fake, fake.requests(DETAIL), 2).await;
    // At or below it: exactly one event, however many checks follow.
    fake.set_price(product, 3999);
    let got = receiver
        .wait("the price change is delivered", |got| !got.is_empty())
        .await;
    let before = fake.requests(DETAIL);
    checks(&fake, before, 3).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got_after = receiver.received();
    assert_eq!(
        got_after.len(),
        1,
        "one event per change: {:#?}",
        events(&got_after)
    );
    verify(&secret, &got[0]);
    let (kind, data) = &events(&got)[0];
    assert_eq!(kind, "product.price_changed");
    assert_eq!(
        data,
        &json!({
            "watch_id": watch_id.to_string(),
            "product_id": product.to_string(),
            "previous_price": "45",
            "price": "39.99",
            "currency": "USD",
            "product_url": data["product_url"].clone(),
        })
    );
    assert!(
        data["product_url"]
            .as_str()
            .is_some_and(|u| u.contains(&product.to_string())),
        "{data}"
    );

    // Gone from the details: one product.unavailable, however many checks follow.
    fake.set_unavailable(product, true);
    receiver
        .wait("the unavailability is delivered", |got| got.len() >= 2)
        .await;
    checks(&fake, fake.requests(DETAIL), 3).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let all = events(&receiver.received());
    assert_eq!(all.len(), 2, "{all:#?}");
    assert_eq!(all[1].0, "product.unavailable");
    assert_eq!(all[1].1["previous_price"], "39.99");
    assert_eq!(all[1].1["price"], Value::Null);
    for r in receiver.received() {
        verify(&secret, &r);
    }

    // Deleted: no more checks of it.
    let (status, gone) = admin(
        &server,
        "DELETE",
        &format!("/api/admin/watches/{watch_id}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{gone}");
    let (status, _) = admin(
        &server,
        "DELETE",
        &format!("/api/admin/watches/{watch_id}"),
        None,
    )
    .await;
    assert_eq!(status, 404);
}
