//! Real mode through the real binary against the fake AliExpress gateway, which verifies every
//! signature it receives: links, categories, error mapping, coalescing, stale serving, graceful
//! shutdown, keys, and logs that never contain a secret.

use std::time::{Duration, Instant};

use alistach_testkit::gateway::{FakeConfig, FakeGateway, Fault};
use serde_json::{Value, json};

use crate::support::{Server, client};

const KEY: &str = "34567890";
const SECRET: &str = "fake-gateway-app-secret-9f3a";
const QUERY: &str = "aliexpress.affiliate.product.query";

async fn gateway() -> FakeGateway {
    FakeGateway::start(FakeConfig::new(KEY, SECRET)).await
}

fn real_env(fake: &FakeGateway) -> Vec<(&'static str, String)> {
    vec![
        ("ALIEXPRESS_APP_KEY", KEY.to_owned()),
        ("ALIEXPRESS_APP_SECRET", SECRET.to_owned()),
        ("ALIEXPRESS_TRACKING_ID", "e2e_tracking".to_owned()),
        ("ALIEXPRESS_API_URL", fake.url()),
        ("ALIEXPRESS_TIMEOUT", "2".to_owned()),
    ]
}

fn start(env: &[(&'static str, String)], extra: &[(&'static str, &str)]) -> Server {
    let mut all: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    all.extend_from_slice(extra);
    Server::start(&all)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn real_mode_serves_signed_upstream_data_with_affiliate_links() {
    let fake = gateway().await;
    let server = start(&real_env(&fake), &[]);
    let c = client();

    let health: Value = c
        .get(server.url("/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["mock_mode"], false);
    assert_eq!(health["service_info"]["api_integration"], "real");

    let keyword = "wireless earbuds";
    let r = c
        .post(server.url("/api/products/search"))
        .json(&json!({"keywords": keyword, "page_size": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-alistach-mode"], "real");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["metadata"]["mock_mode"], false);
    assert_eq!(v["metadata"]["api_integration"], "real");
    let products = v["data"]["products"].as_array().unwrap();
    assert!(!products.is_empty(), "no products for {keyword}: {v}");
    for p in products {
        let link = p["promotion_link"]
            .as_str()
            .expect("real search results carry affiliate links");
        assert!(
            link.starts_with("https://s.click.aliexpress.com/e/_"),
            "{link}"
        );
    }
    let sent = fake.last_request(QUERY).expect("the fake saw the search");
    assert_eq!(
        sent.params.get("tracking_id").map(String::as_str),
        Some("e2e_tracking")
    );
    assert_eq!(
        sent.params.get("sign_method").map(String::as_str),
        Some("sha256")
    );

    // Links come from link.generate.
    let urls = json!({"urls": ["https://www.aliexpress.com/item/1005006123456789.html", "https://m.aliexpress.com/item/1005001234567890.html?spm=x"]});
    let v: Value = c
        .post(server.url("/api/affiliate/links"))
        .json(&urls)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let links = v["data"]["affiliate_links"].as_array().unwrap();
    assert_eq!(links.len(), 2, "{v}");
    for l in links {
        assert!(
            l["affiliate_url"]
                .as_str()
                .unwrap()
                .starts_with("https://s.click.aliexpress.com/e/_"),
            "{l}"
        );
    }
    assert_eq!(
        links[1]["original_url"],
        "https://m.aliexpress.com/item/1005001234567890.html?spm=x"
    );
    assert_eq!(fake.requests("aliexpress.affiliate.link.generate"), 1);

    let v: Value = c
        .get(server.url("/api/categories"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(v["metadata"]["total_categories"].as_u64().unwrap() > 5);
    assert_eq!(fake.requests("aliexpress.affiliate.category.get"), 1);

    // Every request the fake received carried a valid signature.
    assert!(
        fake.verified_signatures() >= 3,
        "{}",
        fake.verified_signatures()
    );
    assert_eq!(fake.rejected_signatures(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_is_a_clear_502_never_mock_data() {
    let fake = gateway().await;
    let mut env = real_env(&fake);
    env[1].1 = "not-the-right-secret".to_owned();
    let server = start(&env, &[]);
    let c = client();
    let r = c
        .post(server.url("/api/products/search"))
        .json(&json!({"keywords": "earbuds"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["upstream"]["kind"], "signature_rejected", "{v}");
    assert!(v.get("data").is_none(), "an error must not carry products");
    assert!(fake.rejected_signatures() >= 1);
    assert_eq!(
        fake.requests(QUERY),
        1,
        "signature errors are never retried"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_faults_map_to_503_and_504() {
    let fake = gateway().await;
    let server = start(&real_env(&fake), &[]);
    let c = client();

    fake.fail_always(Fault::Status(503));
    let r = c
        .post(server.url("/api/products/search"))
        .json(&json!({"keywords": "lamp"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["upstream"]["kind"], "unavailable", "{v}");
    assert_eq!(v["upstream"]["retryable"], true);

    fake.fail_always(Fault::api_call_limit(1));
    let r = c
        .post(server.url("/api/products/search"))
        .json(&json!({"keywords": "desk"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));

    fake.fail_always(Fault::Delay(Duration::from_secs(5)));
    let t = Instant::now();
    let r = c
        .post(server.url("/api/products/search"))
        .json(&json!({"keywords": "chair"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 504);
    assert!(
        t.elapsed() < Duration::from_secs(25),
        "took {:?}",
        t.elapsed()
    );

    fake.fail_always(Fault::NonJson);
    let r = c
        .post(server.url("/api/products/search"))
        .json(&json!({"keywords": "sofa"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    fake.clear_faults();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_identical_misses_make_one_upstream_call() {
    let fake = gateway().await;
    let server = start(&real_env(&fake), &[]);
    let c = client();
    fake.fail_next(1, Fault::Delay(Duration::from_millis(300)));
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let c = c.clone();
            let url = server.url("/api/products/search");
            tokio::spawn(async move {
                c.post(url)
                    .json(&json!({"keywords": "wireless", "page_size": 7}))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    assert_eq!(
        fake.requests(QUERY),
        1,
        "100 identical cold searches must make exactly one upstream call"
    );

    // With the gateway failing, 100 concurrent requests end quickly with a clear error and a
    // bounded number of upstream calls.
    fake.reset_counts();
    fake.fail_always(Fault::Status(502));
    let t = Instant::now();
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let c = c.clone();
            let url = server.url("/api/products/search");
            tokio::spawn(async move {
                c.post(url)
                    .json(&json!({"keywords": "uncached words", "page_size": 3}))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 503);
    }
    assert!(t.elapsed() < Duration::from_secs(25));
    assert!(
        fake.requests(QUERY) <= 10,
        "{} upstream calls for 100 failing requests",
        fake.requests(QUERY)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_data_is_served_marked_stale_when_the_upstream_fails() {
    let fake = gateway().await;
    let server = start(&real_env(&fake), &[("CACHE_TTL", "1")]);
    let c = client();
    let body = json!({"keywords": "wireless", "page_size": 4});
    let first: Value = c
        .post(server.url("/api/products/search"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(first["data"]["cache_hit"], false);
    // Let the one-second entry expire past its stale-while-revalidate window.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    fake.fail_always(Fault::Status(503));
    let r = c
        .post(server.url("/api/products/search"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-cache"], "STALE");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["metadata"]["stale"], true);
    assert_eq!(v["metadata"]["api_integration"], "real");
    assert_eq!(v["data"]["products"], first["data"]["products"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_in_flight_requests_finish() {
    let fake = gateway().await;
    let mut server = start(&real_env(&fake), &[]);
    let c = client();
    fake.fail_next(1, Fault::Delay(Duration::from_millis(1200)));
    let url = server.url("/api/products/search");
    let in_flight = tokio::spawn(async move {
        c.post(url)
            .json(&json!({"keywords": "slow"}))
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.terminate();
    assert_eq!(
        in_flight.await.unwrap().unwrap(),
        200,
        "the in-flight request was cut off"
    );
    let status = tokio::task::spawn_blocking(move || {
        let status = server.wait_exit(Duration::from_secs(15));
        (status, server.logs())
    })
    .await
    .unwrap();
    assert!(
        status.0.is_some_and(|s| s.success()),
        "exit {:?}; logs:\n{}",
        status.0,
        status.1
    );
    // New connections are refused after shutdown.
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_gate_the_api_and_no_secret_reaches_the_logs() {
    let fake = gateway().await;
    let internal = "internal-key-for-e2e-0123456789";
    let admin = "admin-key-for-e2e-abcdefghijkl";
    let server = start(
        &real_env(&fake),
        &[
            ("INTERNAL_API_KEY", internal),
            ("ADMIN_API_KEY", admin),
            ("LOG_LEVEL", "trace"),
        ],
    );
    let c = client();

    assert_eq!(
        c.get(server.url("/health")).send().await.unwrap().status(),
        200
    );
    let r = c.get(server.url("/api/categories")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("www-authenticate"));
    assert_eq!(
        c.get(server.url("/api/categories"))
            .bearer_auth("wrong-key-wrong-key")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        c.get(server.url("/api/categories"))
            .bearer_auth(internal)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        c.get(server.url("/api/categories"))
            .header("x-internal-key", internal)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // The public key does not open admin routes; the admin key does.
    let r = c
        .get(server.url("/api/cache/stats"))
        .bearer_auth(internal)
        .send()
        .await
        .unwrap();
    assert!(r.status() == 401 || r.status() == 403, "{}", r.status());
    assert_eq!(
        c.get(server.url("/api/cache/stats"))
            .header("x-admin-key", admin)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let _ = c
        .post(server.url("/api/products/search"))
        .bearer_auth(internal)
        .json(&json!({"keywords": "lamp"}))
        .send()
        .await
        .unwrap();

    let logs = server.logs();
    assert!(!logs.is_empty());
    for secret in [SECRET, internal, admin] {
        assert!(!logs.contains(secret), "a secret reached the logs");
    }
    // The signature must not be logged either.
    let sign = fake
        .last_request(QUERY)
        .and_then(|r| r.params.get("sign").cloned())
        .unwrap_or_default();
    assert!(
        sign.is_empty() || !logs.contains(&sign),
        "the request signature reached the logs"
    );
}
