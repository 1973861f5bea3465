//! The rest of the affiliate surface through the real binary, in mock mode and in real mode
//! against the fake gateway: similar products, featured promotions and their products, a
//! category's children, details that name the ids they lack, and the GET search's default
//! order. Bad input is a 422 naming the field; upstream trouble a 502/503/504.

use std::time::Duration;

use alistach_testkit::gateway::{FakeConfig, FakeGateway, Fault};
use serde_json::{Value, json};

use crate::support::{Server, client, get_json};

const KEY: &str = "34567890";
const SECRET: &str = "fake-gateway-app-secret-9f3a";
const SMART_MATCH: &str = "aliexpress.affiliate.product.smartmatch";
const PROMO_GET: &str = "aliexpress.affiliate.featuredpromo.get";
const PROMO_PRODUCTS: &str = "aliexpress.affiliate.featuredpromo.products.get";
const CATEGORY_GET: &str = "aliexpress.affiliate.category.get";
const DETAIL_GET: &str = "aliexpress.affiliate.productdetail.get";

async fn answer(c: &reqwest::Client, url: String) -> (u16, Value) {
    let r = c.get(url).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

/// Asserts a 422 problem that names `field`.
async fn invalid(c: &reqwest::Client, url: String, field: &str) {
    let (status, v) = answer(c, url.clone()).await;
    assert_eq!(status, 422, "{url}: {v}");
    assert_eq!(v["errors"][0]["field"], field, "{url}: {v}");
    assert!(v["detail"].as_str().unwrap().contains(field), "{v}");
}

fn ids_of(v: &Value) -> Vec<String> {
    v["data"]["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["product_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mock_mode_serves_the_whole_surface_labelled_and_checked() {
    let server = Server::start(&[]);
    let c = client();

    // The GET search leaves the order to the platform; the v1.1.0 POST keeps SALE_PRICE_ASC.
    let get = get_json(&c, server.url("/api/products/search?keywords=earbuds")).await;
    assert!(
        get["metadata"]["search_params"].get("sort").is_none(),
        "{get}"
    );
    let post: Value = c
        .post(server.url("/api/products/search"))
        .json(&json!({"keywords": "earbuds"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(post["metadata"]["search_params"]["sort"], "SALE_PRICE_ASC");
    let seed = ids_of(&get)[0].clone();
    let seed_category = get["data"]["products"][0]["second_level_category_id"].clone();

    // Similar products: the seed's category, labelled mock, cached.
    let url = server.url(&format!(
        "/api/products/similar?product_id={seed}&target_currency=EUR"
    ));
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-cache"], "MISS");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["metadata"]["mock_mode"], true);
    assert_eq!(v["data"]["product_id"], seed.as_str());
    assert_eq!(v["data"]["cache_hit"], false);
    let similar = v["data"]["products"].as_array().unwrap();
    assert!(!similar.is_empty(), "{v}");
    assert_eq!(v["data"]["total_results"], similar.len());
    for p in similar {
        assert_ne!(p["product_id"], seed.as_str());
        assert_eq!(p["second_level_category_id"], seed_category);
        assert_eq!(p["currency"], "EUR");
        assert!(
            p["promotion_link"]
                .as_str()
                .unwrap()
                .starts_with(alistach_mock::MOCK_LINK_PREFIX)
        );
    }
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.headers()["x-cache"], "HIT");
    // A product URL names the seed as well as its id.
    let by_url = get_json(
        &c,
        server.url(&format!(
            "/api/products/similar?product_id=https://m.aliexpress.com/item/{seed}.html&target_currency=EUR"
        )),
    )
    .await;
    assert_eq!(by_url["data"]["products"], v["data"]["products"]);
    let unknown = get_json(
        &c,
        server.url("/api/products/similar?product_id=1005009999999999"),
    )
    .await;
    assert_eq!(unknown["data"]["products"], json!([]));
    invalid(&c, server.url("/api/products/similar"), "product_id").await;
    invalid(
        &c,
        server.url("/api/products/similar?product_id=https://amazon.com/x"),
        "product_id",
    )
    .await;
    invalid(
        &c,
        server.url(&format!(
            "/api/products/similar?product_id={seed}&page_no=0"
        )),
        "page_no",
    )
    .await;
    invalid(
        &c,
        server.url(&format!("/api/products/similar?product_id={seed}&sort=x")),
        "sort",
    )
    .await;

    // Promotions and their products.
    let promos = get_json(&c, server.url("/api/promotions")).await;
    assert_eq!(promos["metadata"]["mock_mode"], true);
    let names: Vec<&str> = promos["data"]["promotions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["promotion_name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["Hot Product", "New Arrival", "Best Seller", "weeklydeals"]
    );
    let url = server.url(
        "/api/promotions/products?promotion_name=Hot%20Product&sort=commissionDesc&page_size=50",
    );
    let v = get_json(&c, url).await;
    let products = v["data"]["products"].as_array().unwrap();
    assert_eq!(products.len(), 50);
    assert_eq!(v["data"]["page_size"], 50);
    assert!(v["data"]["total_results"].as_u64().unwrap() > 50);
    let rates: Vec<f64> = products
        .iter()
        .map(|p| {
            p["commission_rate"]
                .as_str()
                .unwrap()
                .trim_end_matches('%')
                .parse()
                .unwrap()
        })
        .collect();
    assert!(rates.windows(2).all(|w| w[0] >= w[1]), "{rates:?}");
    assert!(
        products
            .iter()
            .all(|p| p.get("hot_product_commission_rate").is_some())
    );
    assert_eq!(v["metadata"]["promotion_params"]["sort"], "commissionDesc");
    assert_eq!(v["metadata"]["mock_mode"], true);
    let top = products[0]["first_level_category_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let v = get_json(
        &c,
        server.url(&format!(
            "/api/promotions/products?promotion_name=Hot+Product&category_id={top}"
        )),
    )
    .await;
    assert!(
        v["data"]["products"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["first_level_category_id"] == top.as_str())
    );
    invalid(&c, server.url("/api/promotions/products"), "promotion_name").await;
    invalid(
        &c,
        server.url("/api/promotions/products?promotion_name=%20"),
        "promotion_name",
    )
    .await;
    invalid(
        &c,
        server.url("/api/promotions/products?promotion_name=Hot+Product&sort=cheapest"),
        "sort",
    )
    .await;
    invalid(
        &c,
        server.url("/api/promotions/products?promotion_name=Hot+Product&page_size=51"),
        "page_size",
    )
    .await;
    invalid(
        &c,
        server.url("/api/promotions/products?promotion_name=Hot+Product&category_id=x"),
        "category_id",
    )
    .await;

    // Categories: the v1.1.0 tree unchanged, a parent's children, 404 for an unknown parent.
    let tree = get_json(&c, server.url("/api/categories")).await;
    let first = &tree["data"]["categories"][0];
    assert!(first["children"].as_array().is_some_and(|c| !c.is_empty()));
    let parent = first["category_id"].as_str().unwrap();
    let children = get_json(
        &c,
        server.url(&format!("/api/categories?parent_id={parent}")),
    )
    .await;
    assert_eq!(
        children["data"]["categories"].as_array().unwrap().len(),
        first["children"].as_array().unwrap().len()
    );
    assert_eq!(
        children["metadata"]["total_categories"],
        first["children"].as_array().unwrap().len()
    );
    for child in children["data"]["categories"].as_array().unwrap() {
        assert_eq!(child["parent_category_id"], parent);
    }
    let leaf = first["children"][0]["category_id"].as_str().unwrap();
    let none = get_json(&c, server.url(&format!("/api/categories?parent_id={leaf}"))).await;
    assert_eq!(none["data"]["categories"], json!([]));
    let (status, v) = answer(&c, server.url("/api/categories?parent_id=999999")).await;
    assert_eq!(status, 404, "{v}");
    assert!(
        v["detail"].as_str().unwrap().contains("parent_id 999999"),
        "{v}"
    );
    invalid(&c, server.url("/api/categories?parent_id=abc"), "parent_id").await;
    invalid(&c, server.url("/api/categories?parent=44"), "parent").await;

    // Details name what they lack, and why.
    let many = get_json(&c, server.url("/api/products/hot?page_size=50")).await;
    let ids = ids_of(&many);
    let url = server.url(&format!(
        "/api/products/details?product_ids={},1005009999999999&ship_to_country=DE",
        ids.join(",")
    ));
    let v = get_json(&c, url).await;
    let missing = v["data"]["missing"].as_array().unwrap();
    assert!(
        missing.contains(&json!({"product_id": "1005009999999999", "reason": "not_found"})),
        "{missing:?}"
    );
    let elsewhere: Vec<&Value> = missing
        .iter()
        .filter(|m| m["reason"] == "not_sold_to_country")
        .collect();
    assert!(
        !elsewhere.is_empty(),
        "some of 50 products do not ship to DE"
    );
    assert_eq!(
        v["data"]["total_results"].as_u64().unwrap() as usize + missing.len(),
        ids.len() + 1
    );

    // Links: every URL shape, each input with its own result.
    let urls = json!({"urls": [
        format!("https://fr.aliexpress.com/item/{seed}.html?spm=x"),
        format!("https://m.aliexpress.us/item/{seed}.html"),
        format!("https://m.aliexpress.com/p/coin-index/index.html?productIds={seed}"),
        "https://www.aliexpress.com/store/1102345678",
        "https://sale.aliexpress.com/__pc/venue.htm?ids=1,2",
        "https://s.click.aliexpress.com/e/_DmAbCd1",
        "https://a.aliexpress.com/_mKz1x2",
        "https://www.amazon.com/dp/B0",
        "https://www.aliexpress.com/item/1005009999999999.html",
        "",
    ], "link_type": "hot"});
    let v: Value = c
        .post(server.url("/api/affiliate/links"))
        .json(&urls)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let results = v["data"]["results"].as_array().unwrap();
    assert_eq!(results.len(), 10, "{v}");
    let summary: Vec<(&str, &str)> = results
        .iter()
        .map(|r| {
            (
                r["page_type"].as_str().unwrap_or("-"),
                r["reason"].as_str().unwrap_or("converted"),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("product", "converted"),
            ("product", "converted"),
            ("product", "converted"),
            ("store", "converted"),
            ("campaign", "converted"),
            ("share_link", "converted"),
            ("share_link", "converted"),
            ("-", "not_aliexpress"),
            ("product", "unknown_product"),
            ("-", "invalid_url"),
        ]
    );
    for r in &results[..7] {
        let link = r["affiliate_url"].as_str().unwrap();
        assert!(link.starts_with(alistach_mock::MOCK_LINK_PREFIX), "{link}");
        assert!(link.ends_with("link_type=2"), "{link}");
    }
    assert_eq!(results[0]["product_id"], seed.as_str());
    assert!(results[0]["commission_rate"].is_string(), "{}", results[0]);
    assert_eq!(results[0]["affiliate_url"], results[1]["affiliate_url"]);
    assert!(
        results[8]["detail"]
            .as_str()
            .unwrap()
            .contains("does not know")
    );
    // The v1.1.0 fields stay: the converted links, and the counts.
    assert_eq!(v["data"]["affiliate_links"].as_array().unwrap().len(), 7);
    assert_eq!(v["metadata"]["processed_urls"], 10);
    assert_eq!(v["metadata"]["generated_links"], 7);
    assert!(v["data"]["affiliate_links"][3].get("product_id").is_none());
    // One URL: a share link converts; a foreign URL is a 422 naming `url`.
    let one = get_json(
        &c,
        server.url("/api/affiliate/link?url=https://s.click.aliexpress.com/e/_DmAbCd1"),
    )
    .await;
    assert_eq!(one["data"]["results"][0]["status"], "converted", "{one}");
    invalid(
        &c,
        server.url("/api/affiliate/link?url=https://amazon.com/x"),
        "url",
    )
    .await;
}

async fn gateway() -> FakeGateway {
    FakeGateway::start(FakeConfig::new(KEY, SECRET)).await
}

fn start(fake: &FakeGateway) -> Server {
    let url = fake.url();
    Server::start(&[
        ("ALIEXPRESS_APP_KEY", KEY),
        ("ALIEXPRESS_APP_SECRET", SECRET),
        ("ALIEXPRESS_TRACKING_ID", "e2e_tracking"),
        ("ALIEXPRESS_API_URL", url.as_str()),
        ("ALIEXPRESS_TIMEOUT", "1"),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_mode_calls_the_documented_methods_signed() {
    let fake = gateway().await;
    let server = start(&fake);
    let c = client();

    let hot = get_json(&c, server.url("/api/products/hot?page_size=50")).await;
    assert_eq!(hot["metadata"]["mock_mode"], false);
    let ids = ids_of(&hot);
    let seed = ids[0].clone();

    let v = get_json(
        &c,
        server.url(&format!("/api/products/similar?product_id={seed}")),
    )
    .await;
    assert_eq!(v["metadata"]["mock_mode"], false);
    assert_eq!(v["metadata"]["api_integration"], "real");
    let similar = v["data"]["products"].as_array().unwrap();
    assert!(!similar.is_empty(), "{v}");
    for p in similar {
        assert_eq!(
            p["second_level_category_id"],
            hot["data"]["products"][0]["second_level_category_id"]
        );
        assert!(
            p["promotion_link"]
                .as_str()
                .unwrap()
                .starts_with("https://s.click.aliexpress.com/e/_")
        );
    }
    let sent = fake.last_request(SMART_MATCH).unwrap();
    assert_eq!(sent.params["product_id"], seed);
    assert!(sent.params.contains_key("device_id"));
    assert_eq!(sent.params["tracking_id"], "e2e_tracking");
    get_json(
        &c,
        server.url(&format!("/api/products/similar?product_id={seed}")),
    )
    .await;
    assert_eq!(fake.requests(SMART_MATCH), 1, "the second ask is a hit");

    let promos = get_json(&c, server.url("/api/promotions")).await;
    assert_eq!(
        promos["data"]["promotions"][0]["promotion_name"],
        "Hot Product"
    );
    assert!(
        promos["data"]["promotions"][0]["product_count"]
            .as_u64()
            .unwrap()
            > 0
    );
    let v = get_json(
        &c,
        server.url("/api/promotions/products?promotion_name=Best+Seller&sort=volumeDesc&page_size=20&page_no=1"),
    )
    .await;
    let products = v["data"]["products"].as_array().unwrap();
    assert!(!products.is_empty(), "{v}");
    let volumes: Vec<u64> = products
        .iter()
        .map(|p| p["sales_volume"].as_u64().unwrap())
        .collect();
    assert!(volumes.windows(2).all(|w| w[0] >= w[1]), "{volumes:?}");
    let sent = fake.last_request(PROMO_PRODUCTS).unwrap();
    assert_eq!(sent.params["promotion_name"], "Best Seller");
    assert_eq!(sent.params["sort"], "volumeDesc");
    assert_eq!(sent.params["page_size"], "20");
    let empty = get_json(
        &c,
        server.url("/api/promotions/products?promotion_name=No+Such+Promo"),
    )
    .await;
    assert_eq!(empty["data"]["products"], json!([]));
    assert_eq!(empty["data"]["total_results"], 0);

    // Children come from one cached list; the whole tree is its own entry.
    let tree = get_json(&c, server.url("/api/categories")).await;
    let parent = tree["data"]["categories"][0]["category_id"]
        .as_str()
        .unwrap();
    let children = get_json(
        &c,
        server.url(&format!("/api/categories?parent_id={parent}")),
    )
    .await;
    assert!(
        !children["data"]["categories"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let (status, _) = answer(&c, server.url("/api/categories?parent_id=123456789")).await;
    assert_eq!(status, 404);
    assert_eq!(fake.requests(CATEGORY_GET), 2);

    // Details: unknown ids and ids not sold to the country, told apart by asking again.
    let mut found_elsewhere = false;
    for country in ["RU", "BR", "IL", "UA", "IN"] {
        let url = server.url(&format!(
            "/api/products/details?product_ids={},1005009999999999&ship_to_country={country}",
            ids.join(",")
        ));
        let v = get_json(&c, url).await;
        let missing = v["data"]["missing"].as_array().unwrap();
        assert!(
            missing.contains(&json!({"product_id": "1005009999999999", "reason": "not_found"}))
        );
        found_elsewhere |= missing.iter().any(|m| m["reason"] == "not_sold_to_country");
    }
    assert!(
        found_elsewhere,
        "the fake excludes some products per country"
    );
    assert!(fake.requests(DETAIL_GET) >= 6);

    // Bad input is a 422 naming the field, and never reaches the platform.
    let before = fake.total_requests();
    for (url, field) in [
        ("/api/products/similar?product_id=abc", "product_id"),
        (
            "/api/products/similar?product_id=1005006000000001&page_no=101",
            "page_no",
        ),
        (
            "/api/promotions/products?promotion_name=Hot+Product&sort=up",
            "sort",
        ),
        (
            "/api/promotions/products?promotion_name=Hot+Product&page_no=0",
            "page_no",
        ),
        (
            "/api/promotions/products?promotion_name=Hot+Product&target_currency=XXX",
            "target_currency",
        ),
        ("/api/categories?parent_id=-1", "parent_id"),
    ] {
        invalid(&c, server.url(url), field).await;
    }
    assert_eq!(fake.total_requests(), before);
    assert_eq!(fake.rejected_signatures(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_faults_on_the_new_routes_are_502_503_504() {
    let c = client();
    let routes = [
        (
            SMART_MATCH,
            "/api/products/similar?product_id=1005006000000001",
        ),
        (PROMO_GET, "/api/promotions"),
        (
            PROMO_PRODUCTS,
            "/api/promotions/products?promotion_name=Hot+Product",
        ),
        (CATEGORY_GET, "/api/categories?parent_id=44"),
    ];
    for (fault, status) in [
        (Fault::Status(503), 503),
        (Fault::Delay(Duration::from_secs(3)), 504),
        (Fault::NonJson, 502),
    ] {
        // A server per fault: four failures stay under the circuit breaker's threshold, so
        // each answer shows the fault's own status.
        let fake = gateway().await;
        let server = start(&fake);
        for (method, path) in routes {
            fake.fail_always_for(method, fault.clone());
            let r = c.get(server.url(path)).send().await.unwrap();
            assert_eq!(r.status().as_u16(), status, "{method} {fault:?}");
            let v: Value = r.json().await.unwrap();
            assert!(v["upstream"]["kind"].is_string(), "{v}");
            fake.clear_faults();
        }
    }
}

/// The GPT document the binary serves keeps its promises, and the largest page it offers,
/// asked of the binary for real, is far under the 100,000 characters a GPT Action may read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gpt_profile_is_small_enough_for_the_model_at_its_largest_page() {
    let server = Server::start(&[]);
    let c = client();
    let doc = get_json(&c, server.url("/openapi-gpt.json")).await;
    let mut operations = 0;
    let mut largest = 0u64;
    for item in doc["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            operations += 1;
            for p in op["parameters"].as_array().into_iter().flatten() {
                assert!(p.get("example").is_some(), "{p}");
                if p["name"] == "page_size" {
                    largest = largest.max(p["schema"]["maximum"].as_u64().unwrap());
                }
            }
        }
    }
    assert!(operations <= 30);
    assert_eq!(largest, u64::from(alistach_api::GPT_MAX_PAGE_SIZE));
    assert!(
        doc["info"]["description"]
            .as_str()
            .unwrap()
            .contains("metadata.mock_mode")
    );

    let seed = ids_of(
        &get_json(
            &c,
            server.url("/api/products/search?keywords=phone&page_size=1"),
        )
        .await,
    )[0]
    .clone();
    let pages = [
        format!("/api/products/search?keywords=phone&page_size={largest}"),
        format!("/api/products/search?category_ids=44&page_size={largest}"),
        format!("/api/products/hot?page_size={largest}"),
        format!("/api/promotions/products?promotion_name=Hot+Product&page_size={largest}"),
        format!("/api/products/similar?product_id={seed}"),
        "/api/categories".to_owned(),
    ];
    let mut report = Vec::new();
    for path in pages {
        let r = c.get(server.url(&path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let text = r.text().await.unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        if let Some(products) = v["data"]["products"].as_array() {
            assert!(
                products.len() as u64 >= largest.min(20) || path.contains("similar"),
                "{path}"
            );
        }
        let chars = text.chars().count();
        report.push(format!("{path}: {chars}"));
        assert!(chars < 50_000, "{path} answers {chars} characters");
    }
    // Even the full profile's largest page stays under the limit.
    let full = c
        .get(server.url("/api/products/search?category_ids=44&page_size=50"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(full.chars().count() < 100_000, "{}", full.chars().count());
    eprintln!(
        "GPT-profile answer sizes (characters): {report:?}; page_size=50: {}",
        full.chars().count()
    );
}
