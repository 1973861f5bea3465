//! Orders end to end through the binary against the fake gateway, on SQLite and PostgreSQL:
//! orders placed at the fake, synced by the endpoint and by the interval, status changes kept
//! as history, revenue grouped with exact money, all unchanged after a restart; two servers on
//! one PostgreSQL database sync each order once (the lease).

use std::time::{Duration, Instant};

use alistach_testkit::gateway::{FakeConfig, FakeGateway, Fault, NewOrder};
use alistach_testkit::postgres_server::PostgresServer;
use serde_json::Value;

use crate::support::{Server, client, temp_dir};

const KEY: &str = "34567890";
const SECRET: &str = "fake-gateway-app-secret-9f3a";
const ADMIN: &str = "admin-key-for-orders-0123";
const LIST_BY_INDEX: &str = "aliexpress.affiliate.order.listbyindex";
const P1: u64 = 1_005_006_000_000_001;
const P2: u64 = 1_005_006_000_000_002;

fn start(fake: &FakeGateway, db: &[(&'static str, String)], interval: &str) -> Server {
    let mut env: Vec<(&str, String)> = vec![
        ("ALIEXPRESS_APP_KEY", KEY.to_owned()),
        ("ALIEXPRESS_APP_SECRET", SECRET.to_owned()),
        ("ALIEXPRESS_API_URL", fake.url()),
        ("ALIEXPRESS_TIMEOUT", "5".to_owned()),
        ("ADMIN_API_KEY", ADMIN.to_owned()),
        ("ORDER_SYNC_INTERVAL", interval.to_owned()),
    ];
    env.extend(db.iter().cloned());
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Server::start(&env)
}

async fn admin_get(server: &Server, path: &str) -> (u16, String) {
    let r = client()
        .get(server.url(path))
        .header("x-admin-key", ADMIN)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn admin_json(server: &Server, path: &str) -> Value {
    let (status, body) = admin_get(server, path).await;
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

async fn sync(server: &Server) -> (u16, Value) {
    let r = client()
        .post(server.url("/api/admin/orders/sync"))
        .header("x-admin-key", ADMIN)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

fn order(product: u64, tracking: &str, paid: i64, commission: i64) -> NewOrder {
    let mut o = NewOrder::new(product, paid, commission);
    o.tracking_id = tracking.to_owned();
    o
}

/// The group of `key` in a revenue answer, as (orders, paid, estimated, finished, currency).
fn group(revenue: &Value, key: &str) -> (u64, String, String, String, String) {
    let g = revenue["data"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["key"] == key)
        .unwrap_or_else(|| panic!("no group {key}: {revenue}"));
    (
        g["orders"].as_u64().unwrap(),
        g["paid_amount"].as_str().unwrap().to_owned(),
        g["estimated_commission"].as_str().unwrap().to_owned(),
        g["finished_commission"].as_str().unwrap().to_owned(),
        g["currency"].as_str().unwrap().to_owned(),
    )
}

/// A sample of the server's `/metrics`.
async fn metric(server: &Server, series: &str) -> f64 {
    let (status, text) = admin_get(server, "/metrics").await;
    assert_eq!(status, 200);
    alistach_testkit::prometheus::samples(&text)
        .get(series)
        .copied()
        .unwrap_or_else(|| panic!("{series} missing:\n{text}"))
}

/// Polls until `total` orders are listed, at most `limit`.
async fn wait_for_orders(server: &Server, total: u64, limit: Duration) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let orders = admin_json(server, "/api/admin/orders").await;
        if orders["data"]["total"] == total || Instant::now() > deadline {
            return orders;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The whole loop on one database (`db`: DATA_DIR or DATABASE_URL).
async fn the_order_loop(db: Vec<(&'static str, String)>, backend: &str) {
    let fake = FakeGateway::start(FakeConfig::new(KEY, SECRET)).await;
    let a = fake.place_order(order(P1, "t1", 1113, 77));
    let b = fake.place_order(order(P2, "t1", 2000, 140));
    let c = fake.place_order(order(P1, "t2", 999, 50));
    let server = start(&fake, &db, "0");

    // Admin only, and the bad inputs are clear 4xx naming the field.
    let anonymous = client()
        .get(server.url("/api/admin/orders"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    for (path, field) in [
        ("/api/admin/revenue?group_by=week", "group_by"),
        ("/api/admin/revenue?from=yesterday", "from"),
        ("/api/admin/orders?status=Shipped", "status"),
        ("/api/admin/orders?page_size=0", "page_size"),
        ("/api/admin/revenue?format=xml", "format"),
    ] {
        let (status, body) = admin_get(&server, path).await;
        assert_eq!(status, 422, "{path}: {body}");
        assert!(body.contains(field), "{path}: {body}");
    }

    let (status, first) = sync(&server).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["data"]["inserted"], 3, "{first}");
    assert_eq!(first["metadata"]["store"], backend);
    assert_eq!(first["metadata"]["mock_mode"], false);
    assert!(fake.requests(LIST_BY_INDEX) >= 4, "one window per status");

    let listed = admin_json(&server, "/api/admin/orders?tracking_id=t1").await;
    assert_eq!(listed["data"]["total"], 2);
    let by_id = |list: &Value, id: u64| -> Value {
        let want = id.to_string();
        list["data"]["orders"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["sub_order_id"] == want.as_str())
            .cloned()
            .unwrap_or_else(|| panic!("order {id} not listed: {list}"))
    };
    let oa = by_id(&listed, a);
    assert_eq!(oa["paid_amount"], "11.13");
    assert_eq!(oa["estimated_commission"], "0.77");
    assert_eq!(oa["currency"], "USD");
    assert_eq!(oa["status"], "Payment Completed");
    assert_eq!(oa["product_id"], P1.to_string());
    assert_eq!(oa["status_history"].as_array().unwrap().len(), 1);

    // Status changes at the platform: each is recorded once.
    assert!(fake.set_order_status(b, "Buyer Confirmed Receipt"));
    assert!(fake.set_order_status(c, "Invalid"));
    let (status, second) = sync(&server).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["data"]["status_changes"], 2, "{second}");
    assert_eq!(second["data"]["inserted"], 0);
    let (_, again) = sync(&server).await;
    assert_eq!(again["data"]["status_changes"], 0, "idempotent: {again}");
    assert_eq!(again["data"]["inserted"], 0);

    let all = admin_json(&server, "/api/admin/orders").await;
    assert_eq!(all["data"]["total"], 3);
    let ob = by_id(&all, b);
    let history: Vec<&str> = ob["status_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["status"].as_str().unwrap())
        .collect();
    assert_eq!(history, ["Payment Completed", "Buyer Confirmed Receipt"]);
    assert_eq!(ob["status_history"][1]["previous"], "Payment Completed");
    assert_eq!(ob["finished_commission"], "1.40");
    let invalid = admin_json(&server, "/api/admin/orders?status=Invalid").await;
    assert_eq!(invalid["data"]["total"], 1);
    assert_eq!(
        metric(&server, "alistach_order_sync_runs_total{outcome=\"ran\"}").await,
        3.0
    );
    assert_eq!(
        metric(&server, "alistach_order_sync_status_changes_total").await,
        2.0
    );

    // Revenue: invalid orders earn nothing and are left out; sums are exact.
    let by_tracking = admin_json(&server, "/api/admin/revenue?group_by=tracking_id").await;
    assert_eq!(
        group(&by_tracking, "t1"),
        (
            2,
            "31.13".into(),
            "2.17".into(),
            "1.40".into(),
            "USD".into()
        )
    );
    assert_eq!(by_tracking["data"]["groups"].as_array().unwrap().len(), 1);
    assert_eq!(by_tracking["data"]["totals"][0]["paid_amount"], "31.13");
    assert_eq!(by_tracking["data"]["group_by"], "tracking_id");
    let by_product = admin_json(&server, "/api/admin/revenue?group_by=product").await;
    assert_eq!(group(&by_product, &P1.to_string()).1, "11.13");
    assert_eq!(group(&by_product, &P2.to_string()).1, "20.00");
    let invalid_only = admin_json(
        &server,
        "/api/admin/revenue?group_by=tracking_id&status=Invalid",
    )
    .await;
    assert_eq!(group(&invalid_only, "t2").1, "9.99");
    let by_day = admin_json(&server, "/api/admin/revenue").await;
    assert_eq!(by_day["data"]["group_by"], "day");
    assert_eq!(by_day["data"]["totals"][0]["orders"], 2);
    let future = admin_json(&server, "/api/admin/revenue?from=2999-01-01").await;
    assert_eq!(future["data"]["groups"].as_array().unwrap().len(), 0);
    let by_category = admin_json(&server, "/api/admin/revenue?group_by=category").await;
    assert_eq!(
        by_category["data"]["totals"][0]["estimated_commission"],
        "2.17"
    );
    let r = client()
        .get(server.url("/api/admin/revenue?group_by=tracking_id&format=csv"))
        .header("x-admin-key", ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert_eq!(
        r.text().await.unwrap(),
        "key,currency,orders,paid_amount,estimated_commission,finished_commission\r\n\
         t1,USD,2,31.13,2.17,1.40\r\ntotal,USD,2,31.13,2.17,1.40\r\n"
    );

    // A restart changes nothing; then the interval syncs a new order on its own.
    let before = (
        admin_json(&server, "/api/admin/revenue?group_by=tracking_id").await["data"].clone(),
        admin_json(&server, "/api/admin/orders").await["data"].clone(),
    );
    let mut server = server;
    server.terminate();
    assert!(server.wait_exit(Duration::from_secs(20)).is_some());
    drop(server);
    let server = start(&fake, &db, "1");
    let after = (
        admin_json(&server, "/api/admin/revenue?group_by=tracking_id").await["data"].clone(),
        admin_json(&server, "/api/admin/orders").await["data"].clone(),
    );
    assert_eq!(before, after, "unchanged after a restart");
    let d = fake.place_order(order(P2, "t2", 4321, 300));
    let orders = wait_for_orders(&server, 4, Duration::from_secs(15)).await;
    assert_eq!(
        orders["data"]["total"], 4,
        "the interval synced the new order"
    );
    assert_eq!(by_id(&orders, d)["paid_amount"], "43.21");
    assert!(fake.set_order_status(a, "Completed Settlement"));
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let list = admin_json(&server, "/api/admin/orders?tracking_id=t1").await;
        let oa = by_id(&list, a);
        if oa["status"] == "Completed Settlement" {
            assert_eq!(oa["status_history"].as_array().unwrap().len(), 2);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the interval did not sync the change"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn orders_sync_and_revenue_on_sqlite_survive_a_restart() {
    let dir = temp_dir("orders-sqlite");
    the_order_loop(vec![("DATA_DIR", dir.display().to_string())], "sqlite").await;
    assert!(
        dir.join("alistach.db").exists(),
        "the database is under DATA_DIR"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn orders_sync_and_revenue_on_postgres_survive_a_restart() {
    let Some(pg) = PostgresServer::start_or_skip("orders on postgres") else {
        return;
    };
    let url = pg.create_database("orders");
    the_order_loop(vec![("DATABASE_URL", url)], "postgres").await;
    assert_eq!(
        pg.psql("orders", "SELECT COUNT(*) FROM orders").unwrap(),
        "4"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_on_one_postgres_sync_each_order_once() {
    let Some(pg) = PostgresServer::start_or_skip("two servers on postgres") else {
        return;
    };
    let url = pg.create_database("shared");
    let fake = FakeGateway::start(FakeConfig::new(KEY, SECRET)).await;
    let ids: Vec<u64> = (0..5)
        .map(|i| fake.place_order(order(P1, "shared", 1000 + i, 70)))
        .collect();
    let db = vec![("DATABASE_URL", url)];
    let (one, two) = (start(&fake, &db, "0"), start(&fake, &db, "0"));

    // A slow platform: both syncs overlap; the lease lets exactly one run.
    fake.fail_always_for(LIST_BY_INDEX, Fault::Delay(Duration::from_millis(400)));
    let ((s1, b1), (s2, b2)) = tokio::join!(sync(&one), sync(&two));
    let mut statuses = [s1, s2];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409], "{b1} {b2}");
    let refused = if s1 == 409 { &b1 } else { &b2 };
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("another instance"),
        "{refused}"
    );
    let ran = if s1 == 200 { &b1 } else { &b2 };
    assert_eq!(ran["data"]["inserted"], 5);
    fake.clear_faults();

    // The other server then finds every order stored: nothing new, no history row.
    let (status, later) = sync(if s1 == 200 { &two } else { &one }).await;
    assert_eq!(status, 200);
    assert_eq!(later["data"]["inserted"], 0, "{later}");
    assert_eq!(later["data"]["unchanged"], 5, "{later}");
    drop((one, two));

    // On a schedule: both tick every second, the runs do not add up.
    let (one, two) = (start(&fake, &db, "1"), start(&fake, &db, "1"));
    assert!(fake.set_order_status(ids[0], "Buyer Confirmed Receipt"));
    fake.reset_counts();
    tokio::time::sleep(Duration::from_secs(6)).await;
    let runs = fake.requests(LIST_BY_INDEX) / 4;
    assert!(
        (2..=8).contains(&runs),
        "about one run per second across both servers, not two: {runs} runs in 6 s"
    );
    let skipped = metric(&one, "alistach_order_sync_runs_total{outcome=\"not_due\"}").await
        + metric(&two, "alistach_order_sync_runs_total{outcome=\"not_due\"}").await;
    assert!(
        skipped >= 1.0,
        "an instance skipped a turn another had taken"
    );
    let orders = admin_json(&one, "/api/admin/orders").await;
    assert_eq!(orders["data"]["total"], 5);
    let changed = ids[0].to_string();
    for o in orders["data"]["orders"].as_array().unwrap() {
        let expected = if o["sub_order_id"] == changed.as_str() {
            2
        } else {
            1
        };
        assert_eq!(
            o["status_history"].as_array().unwrap().len(),
            expected,
            "each status once: {o}"
        );
    }
    assert_eq!(
        pg.psql("shared", "SELECT COUNT(*) FROM order_status_history")
            .unwrap(),
        "6"
    );
    drop(two);
}
