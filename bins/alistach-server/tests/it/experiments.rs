//! A/B experiments of link strategies, the whole revenue loop through the binary against the
//! fake gateway, on SQLite and PostgreSQL: links handed out under an experiment (searches,
//! details, link conversion), clicks through `/r/`, purchases made at the fake gateway through
//! the links the clicks land on, orders synced, and every order, click, link and commission
//! attributed to the right variant; all unchanged after a restart. And the same loop in mock
//! mode, where a click becomes a labelled mock order.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use alistach_domain::SubIds;
use alistach_testkit::gateway::{FakeConfig, FakeGateway, Purchase};
use alistach_testkit::postgres_server::PostgresServer;
use serde_json::{Value, json};

use crate::support::{Server, admin_call, client, follow, get_json, temp_dir};

const KEY: &str = "34567890";
const SECRET: &str = "fake-gateway-app-secret-9f3a";
const ADMIN: &str = "admin-key-for-experiments-0123";
const SIGNING_KEY: &str = "link-signing-key-for-experiment-tests-0123456789";
use crate::support::TRACKED_BASE as BASE;
const HOT_TID: &str = "hot_tid";

fn start(fake: Option<&FakeGateway>, db: &[(&'static str, String)]) -> Server {
    let mut env: Vec<(&str, String)> = vec![
        ("ADMIN_API_KEY", ADMIN.to_owned()),
        ("LINK_TRACKING", "redirect".to_owned()),
        ("PUBLIC_BASE_URL", BASE.to_owned()),
        ("LINK_SIGNING_KEY", SIGNING_KEY.to_owned()),
    ];
    if let Some(fake) = fake {
        env.extend([
            ("ALIEXPRESS_APP_KEY", KEY.to_owned()),
            ("ALIEXPRESS_APP_SECRET", SECRET.to_owned()),
            ("ALIEXPRESS_API_URL", fake.url()),
            ("ALIEXPRESS_TIMEOUT", "5".to_owned()),
            ("ALIEXPRESS_TRACKING_ID", "main_tid".to_owned()),
        ]);
    }
    env.extend(db.iter().cloned());
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Server::start(&env)
}

async fn admin(server: &Server, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    admin_call(server, ADMIN, method, path, body).await
}

/// The links of an answer: every product's promotion link, or every converted link.
fn links_of(answer: &Value) -> Vec<String> {
    let data = &answer["data"];
    let products = data["products"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["promotion_link"].as_str());
    let converted = data["affiliate_links"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["affiliate_url"].as_str());
    products.chain(converted).map(str::to_owned).collect()
}

/// What the test expects of one variant.
#[derive(Debug, Default, Clone, PartialEq)]
struct Expected {
    links: u64,
    clicks: u64,
    orders: u64,
    paid: i64,
    commission: i64,
}

fn cents(text: &str) -> i64 {
    let (units, frac) = text.split_once('.').unwrap_or((text, "0"));
    units.parse::<i64>().unwrap() * 100 + format!("{frac:0<2}")[..2].parse::<i64>().unwrap()
}

/// The report's row of each variant, by name.
fn rows(report: &Value) -> HashMap<String, Value> {
    report["data"]["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["name"].as_str().unwrap().to_owned(), v.clone()))
        .collect()
}

fn check_report(report: &Value, expected: &HashMap<&str, Expected>) {
    let rows = rows(report);
    for (name, e) in expected {
        let r = &rows[*name];
        assert_eq!(r["links"], e.links, "{name} links: {report}");
        assert_eq!(r["clicks"], e.clicks, "{name} clicks: {report}");
        assert_eq!(r["orders"], e.orders, "{name} orders: {report}");
        assert_eq!(cents(r["paid_amount"].as_str().unwrap()), e.paid, "{name}");
        assert_eq!(
            cents(r["commission"].as_str().unwrap()),
            e.commission,
            "{name}"
        );
        assert_eq!(r["currency"], "USD");
        let conversion = r["conversion"].as_f64().unwrap();
        assert!((conversion - e.orders as f64 / e.clicks as f64).abs() < 1e-9);
        let interval = &r["conversion_interval"];
        assert!(interval["low"].as_f64().unwrap() <= conversion);
        assert!(interval["high"].as_f64().unwrap() >= conversion);
    }
    assert!(rows["control"]["versus_control"].is_null());
    assert!(rows["hot"]["versus_control"]["conversion"]["p_value"].is_f64());
}

async fn wait_for_clicks(server: &Server, id: u64, expected: &HashMap<&str, Expected>) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, report) =
            admin(server, "GET", &format!("/api/admin/experiments/{id}"), None).await;
        assert_eq!(status, 200, "{report}");
        let rows = rows(&report);
        if expected.iter().all(|(n, e)| rows[*n]["clicks"] == e.clicks) || Instant::now() > deadline
        {
            return report;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The whole loop on one database (`db`: DATA_DIR or DATABASE_URL).
async fn the_experiment_loop(db: Vec<(&'static str, String)>, backend: &str) {
    let fake = FakeGateway::start(FakeConfig::new(KEY, SECRET)).await;
    let server = start(Some(&fake), &db);

    // Bad experiments are 422s naming the field; a good one is 201; a second one is 409.
    for (body, field) in [
        (
            json!({"name": "x", "variants": [{"name": "a"}]}),
            "variants",
        ),
        (
            json!({"name": "x", "variants": [{"name": "a"}, {"name": "a"}]}),
            "variants.name",
        ),
        (
            json!({"name": "x", "variants": [{"name": "a b"}, {"name": "c"}]}),
            "variants.name",
        ),
        (
            json!({"name": "x", "variants": [{"name": "a", "link_type": "warm"}, {"name": "c"}]}),
            "variants.link_type",
        ),
        (
            json!({"name": "", "variants": [{"name": "a"}, {"name": "c"}]}),
            "name",
        ),
        (
            json!({"name": "x", "allocation": "greedy", "variants": [{"name": "a"}, {"name": "c"}]}),
            "allocation",
        ),
    ] {
        let (status, problem) = admin(
            &server,
            "POST",
            "/api/admin/experiments",
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, 422, "{body}: {problem}");
        assert!(problem.to_string().contains(field), "{body}: {problem}");
    }
    let (status, created) = admin(
        &server,
        "POST",
        "/api/admin/experiments",
        Some(json!({
            "name": "link-type",
            "variants": [
                {"name": "control", "weight": 1, "link_type": "normal"},
                {"name": "hot", "weight": 1, "link_type": "hot", "tracking_id": HOT_TID}
            ],
            "allocation": "fixed"
        })),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["data"]["status"], "running");
    assert_eq!(created["metadata"]["store"], backend);
    let id = created["data"]["id"].as_u64().unwrap();
    let (status, again) = admin(
        &server,
        "POST",
        "/api/admin/experiments",
        Some(json!({"name": "second", "variants": [{"name": "a"}, {"name": "b"}]})),
    )
    .await;
    assert_eq!(status, 409, "{again}");

    // Links handed out: searches (3 products each), details and link conversions, each a
    // different question, so the client's answers spread over both variants.
    let c = client();
    let mut answers: Vec<Value> = Vec::new();
    for kw in [
        "dress",
        "hoodie",
        "smart watch",
        "tripod",
        "lipstick",
        "serum",
        "jacket",
        "mascara",
        "ring light",
        "jeans",
        "sunscreen",
        "skirt",
    ] {
        let a: Value = get_json(
            &c,
            server.url(&format!("/api/products/search?keywords={kw}&page_size=3")),
        )
        .await;
        answers.push(a);
    }
    for n in 0..6u64 {
        let id = 1_005_006_000_000_100 + n;
        let a: Value = c
            .post(server.url("/api/affiliate/links"))
            .json(&json!({ "urls": [format!("https://www.aliexpress.com/item/{id}.html")] }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answers.push(a);
    }
    // The same question again: the same links (a stable link per client and question).
    let repeat: Value = get_json(
        &c,
        server.url("/api/products/search?keywords=dress&page_size=3"),
    )
    .await;
    assert_eq!(links_of(&repeat), links_of(&answers[0]));

    let mut expected: HashMap<&str, Expected> = HashMap::new();
    expected.insert("control", Expected::default());
    expected.insert("hot", Expected::default());
    for (i, answer) in answers.iter().chain([&repeat]).enumerate() {
        let links = links_of(answer);
        assert!(!links.is_empty(), "an answer without links: {answer}");
        // Every link of one answer is one variant's: follow the first to learn which.
        let landing = follow(&server, &links[0]).await;
        let tags = SubIds::from_url(&landing);
        assert_eq!(tags.experiment().map(|(e, _)| e), Some(id), "{landing}");
        let variant = tags.cv.clone().unwrap();
        let e = expected.get_mut(variant.as_str()).unwrap();
        e.links += links.len() as u64;
        e.clicks += 1;
        // Every other answer leads to a purchase through the landing link.
        if i % 2 == 0 {
            let paid = 1_000 + 37 * i as i64;
            fake.purchase(&landing, Purchase::new(paid)).unwrap();
            e.orders += 1;
            e.paid += paid;
            e.commission += paid * if variant == "hot" { 900 } else { 700 } / 10_000;
        }
    }
    for (name, e) in &expected {
        assert!(
            e.clicks > 2,
            "variant {name} got too few answers: {expected:?}"
        );
    }

    let (status, synced) = admin(&server, "POST", "/api/admin/orders/sync", None).await;
    assert_eq!(status, 200, "{synced}");
    let report = wait_for_clicks(&server, id, &expected).await;
    check_report(&report, &expected);
    // Hot links earn for the hot variant's tracking id.
    let (_, orders) = admin(
        &server,
        "GET",
        &format!("/api/admin/orders?tracking_id={HOT_TID}"),
        None,
    )
    .await;
    assert_eq!(orders["data"]["total"], expected["hot"].orders, "{orders}");

    let revenue_path = format!("/api/admin/revenue?group_by=variant&experiment={id}");
    let (status, revenue) = admin(&server, "GET", &revenue_path, None).await;
    assert_eq!(status, 200, "{revenue}");
    for (name, e) in &expected {
        let g = revenue["data"]["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["key"] == *name)
            .unwrap_or_else(|| panic!("no group {name}: {revenue}"));
        assert_eq!(g["orders"], e.orders);
        assert_eq!(cents(g["paid_amount"].as_str().unwrap()), e.paid);
        assert_eq!(
            cents(g["estimated_commission"].as_str().unwrap()),
            e.commission
        );
    }

    // Stopped: links go back to the deployment's strategy, untagged.
    let (status, stopped) = admin(
        &server,
        "POST",
        &format!("/api/admin/experiments/{id}/stop"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{stopped}");
    assert_eq!(stopped["data"]["status"], "stopped");
    let after: Value = get_json(
        &c,
        server.url("/api/products/search?keywords=dress&page_size=3"),
    )
    .await;
    let landing = follow(&server, &links_of(&after)[0]).await;
    assert_eq!(SubIds::from_url(&landing).experiment(), None, "{landing}");
    let (status, missing) = admin(&server, "GET", "/api/admin/experiments/999", None).await;
    assert_eq!(status, 404, "{missing}");

    // After a restart on the same database, everything is as it was.
    let (_, before) = admin(
        &server,
        "GET",
        &format!("/api/admin/experiments/{id}"),
        None,
    )
    .await;
    let mut server = server;
    server.terminate();
    assert!(server.wait_exit(Duration::from_secs(20)).is_some());
    let server = start(Some(&fake), &db);
    let (status, after) = admin(
        &server,
        "GET",
        &format!("/api/admin/experiments/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(after["data"], before["data"]);
    check_report(&after, &expected);
    let (_, revenue_after) = admin(&server, "GET", &revenue_path, None).await;
    assert_eq!(revenue_after["data"], revenue["data"]);
    let (_, list) = admin(&server, "GET", "/api/admin/experiments", None).await;
    assert_eq!(list["data"]["experiments"][0]["id"], id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_experiment_loop_on_sqlite_attributes_every_order_and_survives_a_restart() {
    let dir = temp_dir("experiments-sqlite");
    the_experiment_loop(vec![("DATA_DIR", dir.display().to_string())], "sqlite").await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_experiment_loop_on_postgres_attributes_every_order_and_survives_a_restart() {
    let Some(pg) = PostgresServer::start_or_skip("experiments on postgres") else {
        return;
    };
    let url = pg.create_database("experiments");
    the_experiment_loop(vec![("DATABASE_URL", url)], "postgres").await;
}

/// In mock mode the loop can be seen without the platform: a click on a tracked mock link of
/// a variant becomes a labelled mock order a few seconds later, attributed to the variant.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_mock_mode_a_click_becomes_a_labelled_mock_order_of_its_variant() {
    let dir = temp_dir("experiments-mock");
    let db = vec![("DATA_DIR", dir.display().to_string())];
    let server = start(None, &db);
    let (status, created) = admin(
        &server,
        "POST",
        "/api/admin/experiments",
        Some(json!({
            "name": "mock demo",
            "variants": [{"name": "control"}, {"name": "hot", "link_type": "hot"}],
            "allocation": "bandit"
        })),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["metadata"]["mock_mode"], true);
    let id = created["data"]["id"].as_u64().unwrap();
    let answer: Value = get_json(
        &client(),
        server.url("/api/products/search?keywords=phone&page_size=2"),
    )
    .await;
    let landing = follow(&server, &links_of(&answer)[0]).await;
    let variant = SubIds::from_url(&landing).cv.unwrap();
    // The mock order is paid a few seconds after the click; sync until it is there.
    let deadline = Instant::now() + Duration::from_secs(30);
    let order = loop {
        let (status, synced) = admin(&server, "POST", "/api/admin/orders/sync", None).await;
        assert_eq!(status, 200, "{synced}");
        let (_, revenue) = admin(
            &server,
            "GET",
            &format!("/api/admin/revenue?group_by=variant&experiment={id}"),
            None,
        )
        .await;
        if let Some(g) = revenue["data"]["groups"].as_array().and_then(|g| g.first()) {
            break g.clone();
        }
        assert!(Instant::now() < deadline, "no mock order for the click");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(order["key"], variant.as_str());
    assert_eq!(order["orders"], 1);
    let (_, orders) = admin(&server, "GET", "/api/admin/orders", None).await;
    let clicked = orders["data"]["orders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| {
            o["custom_parameters"]
                .as_str()
                .is_some_and(|p| p.contains(&format!("ab{id}")))
        })
        .unwrap_or_else(|| panic!("{orders}"));
    assert!(
        clicked["product_title"]
            .as_str()
            .unwrap()
            .starts_with("[MOCK]")
    );
    assert_eq!(orders["metadata"]["mock_mode"], true);
    let (_, report) = admin(
        &server,
        "GET",
        &format!("/api/admin/experiments/{id}"),
        None,
    )
    .await;
    let rows = rows(&report);
    assert_eq!(rows[variant.as_str()]["clicks"], 1, "{report}");
    assert_eq!(rows[variant.as_str()]["orders"], 1, "{report}");
    let shares: f64 = rows.values().map(|r| r["share"].as_f64().unwrap()).sum();
    assert!((shares - 1.0).abs() < 1e-9, "{report}");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
