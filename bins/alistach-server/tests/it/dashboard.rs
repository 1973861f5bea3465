//! The dashboard as a person uses it: the binary runs with known data (traffic through the
//! API, an A/B experiment, orders bought through its links and placed at the fake gateway and
//! synced, two webhook endpoints, one failing), headless Chromium opens `/dashboard`, a wrong key
//! is refused, the right one signs in through the form, every view renders, and the numbers on
//! the page equal what the API reports. The browser's console must stay free of errors
//! (exceptions, failed loads, Content-Security-Policy violations) and no request may carry the
//! key in its URL. Then the `#key=` sign-in, sign-out, the phone width, dark mode and mock mode.
//!
//! Needs Chromium (Debian's `chromium`): without it the test is skipped with a note, except
//! under CI (`CI=true`), where it fails. `UPDATE_SCREENSHOTS=1` writes the screenshots of each
//! view to `docs/dashboard/`.

use std::time::{Duration, Instant};

use alistach_testkit::gateway::{FakeConfig, FakeGateway, NewOrder, Purchase};
use serde_json::{Value, json};

use crate::browser::{Browser, chromium};
use crate::support::{Server, admin_call, client, follow, get_json};
use crate::webhooks::Receiver;

const KEY: &str = "34567890";
const SECRET: &str = "fake-gateway-app-secret-9f3a";
const ADMIN: &str = "admin-key-for-the-dashboard-0123";
const SIGNING_KEY: &str = "link-signing-key-for-dashboard-tests-0123456789";
use crate::support::TRACKED_BASE as BASE;
const VIEWS: &[&str] = &[
    "overview",
    "searches",
    "revenue",
    "experiments",
    "webhooks",
    "alerts",
    "health",
];

/// The Chromium to drive, or `None` (with a note) when it is missing outside CI.
fn chromium_or_skip() -> Option<std::path::PathBuf> {
    match chromium() {
        Some(path) => Some(path),
        None if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true but Chromium is missing: apt-get install chromium (see .ci/run)")
        }
        None => {
            eprintln!("note: skipping the dashboard browser test: no chromium on PATH");
            None
        }
    }
}

async fn admin(server: &Server, method: &str, path: &str, body: Option<Value>) -> Value {
    let (status, answer) = admin_call(server, ADMIN, method, path, body).await;
    assert!((200..300).contains(&status), "{method} {path}: {answer}");
    answer
}

/// Decimal text as cents ("12.3" and "12.30" are both 1230).
fn cents(text: &str) -> i64 {
    let (units, frac) = text.split_once('.').unwrap_or((text, ""));
    let frac = format!("{frac:0<2}");
    assert!(frac.len() == 2, "{text}");
    units.parse::<i64>().unwrap() * 100 + frac.parse::<i64>().unwrap()
}

/// The digits of a text ("$1,234.50" → "123450").
fn digits(text: &str) -> String {
    text.chars().filter(char::is_ascii_digit).collect()
}

/// The figure `testid` on the page: (its API value from `data-value`, the text a person reads).
async fn figure(b: &mut Browser, testid: &str) -> (String, String) {
    let v = b
        .eval(&format!(
            "(() => {{ const e = document.querySelector('[data-testid=\"{testid}\"]'); \
             return e ? [e.dataset.value ?? null, e.textContent.trim()] : null; }})()"
        ))
        .await;
    assert!(v.is_array(), "no figure {testid} on the page");
    (
        v[0].as_str().map(str::to_owned).unwrap_or_default(),
        v[1].as_str().unwrap().to_owned(),
    )
}

/// Asserts the page's integer `testid` is `expected`, as data and as the text shown.
async fn same_int(b: &mut Browser, testid: &str, expected: &Value) {
    let (value, text) = figure(b, testid).await;
    let expected = expected
        .as_u64()
        .unwrap_or_else(|| panic!("{testid}: {expected}"));
    assert_eq!(value, expected.to_string(), "{testid}");
    assert_eq!(
        digits(&text),
        expected.to_string(),
        "{testid} shows {text:?}"
    );
}

/// Asserts the page's money `testid` is the API's exact decimal text, and shows those cents.
async fn same_money(b: &mut Browser, testid: &str, expected: &Value) {
    let (value, text) = figure(b, testid).await;
    let expected = expected.as_str().unwrap();
    assert_eq!(value, expected, "{testid}");
    assert_eq!(
        digits(&text).parse::<i64>().unwrap(),
        cents(expected),
        "{testid} shows {text:?}"
    );
}

/// Opens a view from the navigation, waits until it has rendered, and fails on an error card.
async fn open_view(b: &mut Browser, view: &str) {
    b.click(&format!("#nav a[data-view=\"{view}\"]")).await;
    b.wait_for(
        &format!("document.querySelector('#view').dataset.ready === '{view}'"),
        &format!("the {view} view"),
    )
    .await;
    let failures = b
        .eval("[...document.querySelectorAll('[data-testid=\"view-error\"]')].map(e => e.textContent)")
        .await;
    assert_eq!(failures, json!([]), "{view} shows an error");
}

/// Writes `png` to `docs/dashboard/{name}.png` when `UPDATE_SCREENSHOTS=1`.
fn keep_screenshot(name: &str, png: &[u8]) {
    assert!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
    assert!(png.len() > 5_000, "{name}: a blank screenshot?");
    if std::env::var("UPDATE_SCREENSHOTS").is_ok_and(|v| v == "1") {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/dashboard");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }
}

/// The server with known data: what the test put in, for sanity checks of its own.
struct Seeded {
    experiment: u64,
    clicks: u64,
    webhooks: [u64; 2],
}

async fn seed(server: &Server, fake: &FakeGateway) -> Seeded {
    let created = admin(
        server,
        "POST",
        "/api/admin/experiments",
        Some(json!({
            "name": "link-type",
            "variants": [
                {"name": "control", "weight": 1, "link_type": "normal"},
                {"name": "hot", "weight": 1, "link_type": "hot", "tracking_id": "hot_tid"}
            ],
            "allocation": "fixed"
        })),
    )
    .await;
    let experiment = created["data"]["id"].as_u64().unwrap();
    let ok = Receiver::start(200).await;
    let down = Receiver::start(500).await;
    let mut webhooks = [0; 2];
    for (i, (receiver, what)) in [(&ok, "revenue feed"), (&down, "a receiver that is down")]
        .into_iter()
        .enumerate()
    {
        let hook = admin(
            server,
            "POST",
            "/api/admin/webhooks",
            Some(json!({"url": receiver.url(), "events": ["order.created"], "description": what})),
        )
        .await;
        webhooks[i] = hook["data"]["id"].as_u64().unwrap();
    }
    // Traffic: searches (some asked twice, so the cache answers), each answer's first link
    // followed, every other one bought.
    let c = client();
    let mut clicks = 0;
    for (i, kw) in [
        "dress", "hoodie", "tripod", "lipstick", "jacket", "jeans", "dress", "tripod",
    ]
    .into_iter()
    .enumerate()
    {
        let answer = get_json(
            &c,
            server.url(&format!("/api/products/search?keywords={kw}&page_size=3")),
        )
        .await;
        let link = answer["data"]["products"][0]["promotion_link"]
            .as_str()
            .unwrap_or_else(|| panic!("no link: {answer}"))
            .to_owned();
        let landing = follow(server, &link).await;
        clicks += 1;
        if i % 2 == 0 {
            fake.purchase(&landing, Purchase::new(1_000 + 137 * i as i64))
                .unwrap();
        }
    }
    // A search that finds nothing.
    let nothing = get_json(
        &c,
        server.url("/api/products/search?keywords=zzqxv%20nothing&page_size=3"),
    )
    .await;
    assert_eq!(nothing["data"]["products"], json!([]), "{nothing}");
    // Orders placed at the platform directly, in two categories.
    for (product, paid, commission, category) in [
        (1_005_006_000_000_001, 1_113, 77, 200_001),
        (1_005_006_000_000_002, 2_000, 140, 200_002),
        (1_005_006_000_000_001, 999, 50, 200_001),
    ] {
        let mut o = NewOrder::new(product, paid, commission);
        o.category_id = Some(category);
        fake.place_order(o);
    }
    let synced = admin(server, "POST", "/api/admin/orders/sync", None).await;
    assert!(synced["success"] == true, "{synced}");
    // Clicks are written in batches, deliveries attempted in the background: wait for both.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let report = admin(
            server,
            "GET",
            &format!("/api/admin/experiments/{experiment}"),
            None,
        )
        .await;
        let counted: u64 = report["data"]["variants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["clicks"].as_u64().unwrap())
            .sum();
        let failing = admin(
            server,
            "GET",
            &format!("/api/admin/webhooks/{}/deliveries", webhooks[1]),
            None,
        )
        .await;
        // Every delivery to the endpoint that is down attempted (and waiting for a retry), so
        // the figures hold still while the page and the test read them.
        let deliveries = failing["data"]["deliveries"].as_array().unwrap();
        let attempted =
            deliveries.len() == 7 && deliveries.iter().all(|d| d["attempts"].as_u64() > Some(0));
        if (counted == clicks && attempted && ok.received().len() >= 7) || Instant::now() > deadline
        {
            assert_eq!(counted, clicks, "clicks counted");
            assert!(attempted, "the failing endpoint was attempted: {failing}");
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Seeded {
        experiment,
        clicks,
        webhooks,
    }
}

/// Signs in through the form: a wrong key first (refused, with a message, still signed out),
/// then the right one.
async fn sign_in_through_the_form(b: &mut Browser, server: &Server) {
    b.navigate(&server.url("/dashboard")).await;
    b.wait_for(
        "document.querySelector('#signin').offsetParent !== null",
        "the sign-in form",
    )
    .await;
    keep_screenshot("signin", &b.screenshot().await);
    b.click("#key").await;
    b.type_text("not-the-admin-key").await;
    b.click("[data-testid=sign-in]").await;
    let message = b
        .wait_for(
            "(() => { const e = document.querySelector('#signin-error'); return e.hidden ? null : e.textContent; })()",
            "the refusal",
        )
        .await;
    assert!(message.as_str().unwrap().contains("refused"), "{message}");
    assert_eq!(
        b.eval("sessionStorage.getItem('alistach.adminKey')").await,
        Value::Null
    );
    // The refused call is the one error the browser logs in this step.
    b.drain().await;
    let errors = b.errors();
    assert!(
        errors.len() == 1 && errors[0].contains("401"),
        "{errors:#?}"
    );
    b.forget_events();
    b.click("#key").await;
    b.type_text(ADMIN).await;
    b.press_enter().await;
    b.wait_for(
        "document.querySelector('#view').dataset.ready === 'overview'",
        "the overview after signing in",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_shows_what_the_api_reports() {
    let Some(chromium) = chromium_or_skip() else {
        return;
    };
    let fake = FakeGateway::start(FakeConfig::new(KEY, SECRET)).await;
    let env = [
        ("ALIEXPRESS_APP_KEY", KEY.to_owned()),
        ("ALIEXPRESS_APP_SECRET", SECRET.to_owned()),
        ("ALIEXPRESS_API_URL", fake.url()),
        ("ALIEXPRESS_TIMEOUT", "5".to_owned()),
        ("ALIEXPRESS_TRACKING_ID", "main_tid".to_owned()),
        ("ADMIN_API_KEY", ADMIN.to_owned()),
        ("LINK_TRACKING", "redirect".to_owned()),
        ("PUBLIC_BASE_URL", BASE.to_owned()),
        ("LINK_SIGNING_KEY", SIGNING_KEY.to_owned()),
        ("WEBHOOK_ALLOW_PRIVATE", "true".to_owned()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = Server::start(&env);
    let seeded = seed(&server, &fake).await;
    let before = analytics_settled(&server, &seeded).await;

    let mut b = Browser::launch(&chromium).await;
    b.viewport(1280, 900, false).await;
    sign_in_through_the_form(&mut b, &server).await;
    // Real mode: no sample-data banner.
    assert_eq!(
        b.eval("document.querySelector('#mock-banner').offsetParent === null")
            .await,
        json!(true)
    );

    check_overview(&mut b, &server, &before).await;
    keep_screenshot("overview", &b.screenshot().await);

    for view in VIEWS {
        open_view(&mut b, view).await;
        match *view {
            "overview" => check_overview(&mut b, &server, &before).await,
            "searches" => check_searches(&mut b, &server).await,
            "revenue" => check_revenue(&mut b, &server).await,
            "experiments" => check_experiments(&mut b, &server, &seeded).await,
            "webhooks" => check_webhooks(&mut b, &server, &seeded).await,
            "alerts" => check_alerts(&mut b, &server).await,
            "health" => check_health(&mut b, &server).await,
            _ => {}
        }
        keep_screenshot(view, &b.screenshot().await);
    }

    // The time-range picker asks the API for another range.
    open_view(&mut b, "revenue").await;
    let (from_7d, _) = figure(&mut b, "range-from").await;
    b.eval("(() => { const s = document.querySelector('#range'); s.value = '30d'; s.dispatchEvent(new Event('change')); })()")
        .await;
    b.wait_for(
        &format!(
            "(() => {{ const e = document.querySelector('[data-testid=\"range-from\"]'); \
             return document.querySelector('#view').dataset.ready === 'revenue' && e && e.dataset.value !== {}; }})()",
            json!(from_7d)
        ),
        "the revenue of 30 days",
    )
    .await;
    check_revenue(&mut b, &server).await;

    // Dark, and a phone's width.
    b.color_scheme("dark").await;
    keep_screenshot("revenue-dark", &b.screenshot().await);
    b.viewport(375, 800, true).await;
    for view in VIEWS.iter().rev() {
        open_view(&mut b, view).await;
        // Wide tables scroll inside their cards; the page itself never scrolls sideways.
        let overflow = b
            .eval("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            .await;
        assert!(
            overflow.as_f64().unwrap() <= 1.0,
            "{view} is wider than a phone: {overflow}"
        );
    }
    keep_screenshot("overview-phone", &b.screenshot().await);
    b.color_scheme("light").await;
    b.viewport(1280, 900, false).await;

    // Sign-out forgets the key; `#key=` signs in again and leaves the address bar at once.
    b.click("[data-testid=sign-out]").await;
    b.wait_for(
        "document.querySelector('#signin').offsetParent !== null",
        "the form after signing out",
    )
    .await;
    assert_eq!(
        b.eval("sessionStorage.getItem('alistach.adminKey')").await,
        Value::Null
    );
    b.navigate(&format!("{}#key={ADMIN}", server.url("/dashboard")))
        .await;
    b.wait_for(
        "document.querySelector('#view').dataset.ready === 'overview'",
        "the overview after a #key= sign-in",
    )
    .await;
    let href = b.eval("location.href").await;
    assert!(
        !href.as_str().unwrap().contains(ADMIN),
        "the key stayed in the address bar: {href}"
    );
    assert_eq!(b.eval("location.hash").await, json!("#overview"));

    // The key went in headers only: never in a URL the browser requested, never in a log.
    b.drain().await;
    let urls = b.request_urls();
    assert!(
        urls.iter().any(|u| u.contains("/api/admin/revenue")),
        "{urls:#?}"
    );
    for url in &urls {
        assert!(!url.contains(ADMIN), "the key in a URL: {url}");
    }
    let api_calls = b.request_headers(&server.url("/api/admin/"));
    assert!(!api_calls.is_empty());
    for headers in &api_calls {
        assert_eq!(
            headers["Authorization"],
            json!(format!("Bearer {ADMIN}")),
            "{headers}"
        );
    }
    assert!(
        !server.logs().contains(ADMIN),
        "the key in the server's log"
    );
    let errors = b.errors();
    assert!(
        errors.is_empty(),
        "the browser reported errors: {errors:#?}"
    );
}

/// The searches the seed sent, as the API received them (two asked twice, one finding nothing).
const SEARCHES: u64 = 9;

/// Waits until the usage analytics count what the seed did (they are flushed to the store in
/// the background), then answers the overview of the last 7 days as it was before the browser
/// came.
async fn analytics_settled(server: &Server, seeded: &Seeded) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let overview = admin(
            server,
            "GET",
            "/api/admin/analytics/overview?from=2000-01-01",
            None,
        )
        .await;
        let keywords = admin(
            server,
            "GET",
            "/api/admin/analytics/keywords?from=2000-01-01",
            None,
        )
        .await;
        let d = &overview["data"];
        if (d["clicks"].as_u64() >= Some(seeded.clicks)
            && keywords["data"]["searches"].as_u64() >= Some(SEARCHES)
            && d["orders"].as_u64() >= Some(7))
            || Instant::now() > deadline
        {
            assert_eq!(d["clicks"], seeded.clicks, "analytics: clicks {overview}");
            assert_eq!(
                keywords["data"]["searches"], SEARCHES,
                "analytics: searches {keywords}"
            );
            assert!(
                d["orders"].as_u64() >= Some(7),
                "analytics: orders {overview}"
            );
            return overview;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Overview: the figures the page's own calls do not move are equal to the API's for the
/// page's range; its request count lies between the count before the browser came and now.
async fn check_overview(b: &mut Browser, server: &Server, before: &Value) {
    let (from, _) = figure(b, "range-from").await;
    let overview = admin(
        server,
        "GET",
        &format!("/api/admin/analytics/overview?from={from}"),
        None,
    )
    .await;
    let d = &overview["data"];
    let (shown, text) = figure(b, "overview-requests").await;
    let shown: u64 = shown.parse().unwrap();
    let (low, high) = (
        before["data"]["requests"].as_u64().unwrap(),
        d["requests"].as_u64().unwrap(),
    );
    assert!(low <= shown && shown <= high, "{low} <= {shown} <= {high}");
    assert_eq!(digits(&text), shown.to_string());
    assert!(low >= SEARCHES, "the searches were counted: {before}");
    for (testid, field) in [
        ("overview-calls-saved", "upstream_calls_saved"),
        ("overview-clicks", "clicks"),
        ("overview-orders", "orders"),
        ("overview-zero-results", "zero_result_searches"),
    ] {
        same_int(b, testid, &d[field]).await;
    }
    assert!(
        d["upstream_calls_saved"].as_u64() > Some(0),
        "searches asked twice were cache hits: {overview}"
    );
    let (ratio, ratio_text) = figure(b, "overview-hit-ratio").await;
    assert_eq!(
        ratio.parse::<f64>().ok(),
        d["cache"]["hit_ratio"].as_f64(),
        "{overview}"
    );
    assert!(ratio_text.ends_with('%'), "{ratio_text}");
    for c in d["commission"].as_array().unwrap() {
        let cur = c["currency"].as_str().unwrap();
        same_money(b, &format!("overview-commission-{cur}"), &c["amount"]).await;
    }
    assert!(
        !d["commission"].as_array().unwrap().is_empty(),
        "{overview}"
    );
}

/// Searches: the totals and the top keywords are the API's, in its order.
async fn check_searches(b: &mut Browser, server: &Server) {
    let (from, _) = figure(b, "range-from").await;
    let kw = admin(
        server,
        "GET",
        &format!("/api/admin/analytics/keywords?limit=20&from={from}"),
        None,
    )
    .await;
    let d = &kw["data"];
    same_int(b, "searches-total", &d["searches"]).await;
    same_int(b, "searches-zero", &d["zero_result_searches"]).await;
    let top = d["top"].as_array().unwrap();
    assert!(top.len() >= 6, "{kw}");
    for (i, k) in top.iter().enumerate() {
        let (keyword, _) = figure(b, &format!("top-keyword-{i}")).await;
        assert_eq!(keyword, k["keyword"].as_str().unwrap());
        same_int(b, &format!("top-keyword-{i}-count"), &k["count"]).await;
    }
    assert_eq!(
        top[0]["count"], 2,
        "dress and tripod were asked twice: {kw}"
    );
    let zero = d["zero_results"].as_array().unwrap();
    assert_eq!(zero.len(), 1, "{kw}");
    for (i, k) in zero.iter().enumerate() {
        let (keyword, _) = figure(b, &format!("zero-keyword-{i}")).await;
        assert_eq!(keyword, k["keyword"].as_str().unwrap());
        same_int(b, &format!("zero-keyword-{i}-count"), &k["count"]).await;
    }
}

async fn check_revenue(b: &mut Browser, server: &Server) {
    let (from, _) = figure(b, "range-from").await;
    assert!(from.ends_with('Z'), "{from}");
    let q = format!("from={from}");
    let days = admin(
        server,
        "GET",
        &format!("/api/admin/revenue?group_by=day&{q}"),
        None,
    )
    .await;
    let totals = days["data"]["totals"].as_array().unwrap();
    let orders: u64 = totals.iter().map(|t| t["orders"].as_u64().unwrap()).sum();
    assert!(orders >= 7, "orders bought and placed: {days}");
    same_int(b, "revenue-orders", &json!(orders)).await;
    for t in totals {
        let cur = t["currency"].as_str().unwrap();
        same_money(b, &format!("revenue-paid-{cur}"), &t["paid_amount"]).await;
        same_money(
            b,
            &format!("revenue-commission-{cur}"),
            &t["estimated_commission"],
        )
        .await;
        same_money(
            b,
            &format!("revenue-finished-{cur}"),
            &t["finished_commission"],
        )
        .await;
    }
    let listed = admin(
        server,
        "GET",
        &format!("/api/admin/orders?page_size=10&{q}"),
        None,
    )
    .await;
    same_int(b, "orders-total", &listed["data"]["total"]).await;
    for (by, testid) in [("product", "top-products"), ("category", "top-categories")] {
        let groups = admin(
            server,
            "GET",
            &format!("/api/admin/revenue?group_by={by}&{q}"),
            None,
        )
        .await;
        let groups = groups["data"]["groups"].as_array().unwrap().clone();
        assert!(groups.len() >= 2, "{by}: {groups:?}");
        let rows = b
            .eval(&format!(
                "document.querySelectorAll('[data-testid=\"{testid}\"] tbody tr').length"
            ))
            .await;
        assert_eq!(rows, json!(groups.len().min(10)), "{testid}");
        for g in groups.iter().take(10) {
            let id = format!(
                "{testid}-{}-{}",
                g["key"].as_str().unwrap(),
                g["currency"].as_str().unwrap()
            );
            same_money(b, &id, &g["estimated_commission"]).await;
        }
    }
}

async fn check_experiments(b: &mut Browser, server: &Server, seeded: &Seeded) {
    let id = seeded.experiment;
    let list = admin(server, "GET", "/api/admin/experiments", None).await;
    same_int(
        b,
        "experiments-count",
        &json!(list["data"]["experiments"].as_array().unwrap().len()),
    )
    .await;
    let report = admin(server, "GET", &format!("/api/admin/experiments/{id}"), None).await;
    let variants = report["data"]["variants"].as_array().unwrap();
    assert_eq!(variants.len(), 2);
    let mut clicks = 0;
    for v in variants {
        let name = v["name"].as_str().unwrap();
        for field in ["links", "clicks", "orders"] {
            same_int(b, &format!("exp-{id}-{name}-{field}"), &v[field]).await;
        }
        let (commission, _) = figure(b, &format!("exp-{id}-{name}-commission")).await;
        assert_eq!(commission, v["commission"].as_str().unwrap(), "{name}");
        clicks += v["clicks"].as_u64().unwrap();
    }
    assert_eq!(clicks, seeded.clicks);
    // The leader: the highest earnings per click among the variants with clicks.
    let leader = variants
        .iter()
        .filter(|v| v["clicks"].as_u64() > Some(0) && v["epc"].is_string())
        .max_by(|a, b| {
            let epc = |v: &Value| v["epc"].as_str().unwrap().parse::<f64>().unwrap();
            let conv = |v: &Value| v["conversion"].as_f64().unwrap_or(0.0);
            epc(a).total_cmp(&epc(b)).then(conv(a).total_cmp(&conv(b)))
        })
        .map(|v| v["name"].as_str().unwrap().to_owned())
        .expect("a variant with clicks");
    let (shown, _) = figure(b, &format!("exp-{id}-leader")).await;
    assert_eq!(shown, leader);
}

async fn check_webhooks(b: &mut Browser, server: &Server, seeded: &Seeded) {
    let list = admin(server, "GET", "/api/admin/webhooks", None).await;
    let hooks = list["data"]["webhooks"].as_array().unwrap();
    assert_eq!(hooks.len(), 2);
    same_int(b, "webhooks-count", &json!(hooks.len())).await;
    let mut failing_total = 0;
    for id in seeded.webhooks {
        let d = admin(
            server,
            "GET",
            &format!("/api/admin/webhooks/{id}/deliveries?limit=20"),
            None,
        )
        .await;
        let deliveries = d["data"]["deliveries"].as_array().unwrap();
        let failing = deliveries
            .iter()
            .filter(|d| {
                d["state"] == "failed"
                    || (d["state"] == "pending" && d["attempts"].as_u64() > Some(0))
            })
            .count();
        failing_total += failing;
        same_int(
            b,
            &format!("webhook-{id}-deliveries"),
            &json!(deliveries.len()),
        )
        .await;
        same_int(b, &format!("webhook-{id}-failed"), &json!(failing)).await;
    }
    assert!(
        failing_total > 0,
        "the endpoint that is down shows failures"
    );
    same_int(b, "webhooks-failed", &json!(failing_total)).await;
}

async fn check_alerts(b: &mut Browser, server: &Server) {
    // A rule may change state while the page renders: compare a rendering made while the
    // API's states held still (the same before and after it).
    let states = |a: &Value| {
        a["data"]["rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["rule"].clone(), r["state"].clone()))
            .collect::<Vec<_>>()
    };
    let mut alerts = Value::Null;
    for _ in 0..5 {
        let first = admin(server, "GET", "/api/admin/alerts", None).await;
        b.click("#refresh").await;
        b.wait_for(
            "document.querySelector('#view').dataset.ready === 'alerts'",
            "the alerts again",
        )
        .await;
        let then = admin(server, "GET", "/api/admin/alerts", None).await;
        if states(&first) == states(&then) {
            alerts = then;
            break;
        }
    }
    assert!(!alerts.is_null(), "the alerts never held still");
    let rules = alerts["data"]["rules"].as_array().unwrap();
    assert!(!rules.is_empty());
    same_int(b, "alerts-rules", &json!(rules.len())).await;
    let firing = rules.iter().filter(|r| r["state"] == "firing").count();
    same_int(b, "alerts-firing", &json!(firing)).await;
    for r in rules {
        let (state, _) = figure(b, &format!("alert-{}-state", r["rule"].as_str().unwrap())).await;
        assert_eq!(state, r["state"].as_str().unwrap());
    }
}

async fn check_health(b: &mut Browser, server: &Server) {
    let health = get_json(&client(), server.url("/health")).await;
    for (testid, field) in [("health-status", "status"), ("health-version", "version")] {
        let (value, text) = figure(b, testid).await;
        assert_eq!(value, health[field].as_str().unwrap(), "{testid}");
        assert_eq!(text, value, "{testid}");
    }
    let (mode, _) = figure(b, "health-mode").await;
    assert_eq!(mode, "real");
    let ready = get_json(&client(), server.url("/readyz")).await;
    let (status, _) = figure(b, "readiness").await;
    assert_eq!(status, ready["status"].as_str().unwrap());
    let good = b
        .eval(
            "document.querySelector('[data-testid=\"readiness\"] .badge').classList.contains('ok')",
        )
        .await;
    assert_eq!(
        good,
        json!(true),
        "a ready service shows a good badge: {ready}"
    );
}

/// Mock mode: the banner says the data is sample data, and empty views say what to do.
#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_labels_mock_data_and_explains_empty_views() {
    let Some(chromium) = chromium_or_skip() else {
        return;
    };
    let server = Server::start(&[("ADMIN_API_KEY", ADMIN)]);
    let mut b = Browser::launch(&chromium).await;
    b.viewport(1280, 900, false).await;
    b.navigate(&format!("{}#key={ADMIN}", server.url("/dashboard")))
        .await;
    b.wait_for(
        "document.querySelector('#view').dataset.ready === 'overview'",
        "the overview",
    )
    .await;
    let banner = b
        .wait_for(
            "(() => { const e = document.querySelector('[data-testid=\"mock-banner\"]'); return e.offsetParent !== null && e.textContent; })()",
            "the mock banner",
        )
        .await;
    assert!(banner.as_str().unwrap().contains("sample data"), "{banner}");
    for (view, testid, says) in [
        ("revenue", "revenue-empty", "POST /api/admin/orders/sync"),
        (
            "experiments",
            "experiments-empty",
            "POST /api/admin/experiments",
        ),
        ("webhooks", "webhooks-empty", "POST /api/admin/webhooks"),
    ] {
        open_view(&mut b, view).await;
        let (_, text) = figure(&mut b, testid).await;
        assert!(text.contains(says), "{view}: {text}");
        if view == "revenue" {
            same_int(&mut b, "revenue-orders", &json!(0)).await;
            assert!(text.contains("ALIEXPRESS_APP_KEY"), "{text}");
            keep_screenshot("mock-revenue", &b.screenshot().await);
        }
    }
    b.drain().await;
    let errors = b.errors();
    assert!(
        errors.is_empty(),
        "the browser reported errors: {errors:#?}"
    );
}
