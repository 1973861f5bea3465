//! Every endpoint's status and v1.1.0 field names.

use alistach_http::HttpConfig;
use serde_json::json;

use crate::support::{Answer, TestServer};

#[tokio::test]
async fn service_documents_report_the_mode() {
    let s = TestServer::start(HttpConfig::default()).await;

    let root = Answer::of(s.get("/").await).await;
    assert_eq!(root.status, 200);
    for field in [
        "message",
        "version",
        "status",
        "integration",
        "caching",
        "docs",
        "openapi",
        "health",
        "endpoints",
    ] {
        assert!(
            root.json.get(field).is_some(),
            "root lacks {field}: {}",
            root.json
        );
    }
    assert_eq!(root.json["integration"], "mock");
    assert_eq!(root.header("x-alistach-mode"), Some("mock"));

    let health = Answer::of(s.get("/health").await).await;
    assert_eq!(health.status, 200);
    assert_eq!(health.json["status"], "healthy");
    assert_eq!(health.json["mock_mode"], true);
    assert_eq!(health.json["api_integration"], "mock");
    for field in [
        "app_key_configured",
        "app_secret_configured",
        "tracking_id",
        "has_real_credentials",
        "api_integration",
    ] {
        assert!(
            health.json["service_info"].get(field).is_some(),
            "service_info lacks {field}"
        );
    }

    assert_eq!(Answer::of(s.get("/livez").await).await.status, 200);
    let ready = Answer::of(s.get("/readyz").await).await;
    assert_eq!(ready.status, 200);
    assert_eq!(ready.json["status"], "ready");
    assert_eq!(ready.json["checks"][0]["name"], "cache:memory");

    let info = Answer::of(s.get("/system/info").await).await;
    assert_eq!(info.status, 200);
    assert_eq!(info.json["mock_mode"], true);
    assert_eq!(info.json["configuration"]["tracking_id"], "gpt_chat");
    assert!(
        info.json["endpoints"]["searchProducts"]
            .as_str()
            .unwrap()
            .contains("/api/products/search")
    );

    let status = Answer::of(s.get("/api/status").await).await;
    assert_eq!(status.status, 200);
    assert_eq!(status.json["success"], true);
    assert_eq!(status.json["data"]["integration_mode"], "mock");
    assert_eq!(status.json["data"]["capabilities"]["mock_fallback"], false);
    assert!(
        status.json["data"]["performance"]["cache_hit_rate"]
            .as_str()
            .unwrap()
            .ends_with('%')
    );
    assert!(
        status.json["data"]["cache_performance"]["cache_stats"]
            .get("hit_rate_percent")
            .is_some()
    );
    assert!(status.json["metadata"]["timestamp"].as_u64().unwrap() > 1_600_000_000);
}

#[tokio::test]
async fn real_mode_is_reported_everywhere() {
    let s = TestServer::start_with(HttpConfig::default(), alistach_domain::ApiMode::Real).await;
    let health = Answer::of(s.get("/health").await).await;
    assert_eq!(health.json["mock_mode"], false);
    assert_eq!(health.header("x-alistach-mode"), Some("real"));
    let found = Answer::of(
        s.post_json("/api/products/search", r#"{"keywords":"earbuds"}"#)
            .await,
    )
    .await;
    assert_eq!(found.json["metadata"]["api_integration"], "real");
    assert_eq!(found.json["metadata"]["mock_mode"], false);
    assert_eq!(
        found.json["data"]["products"][0]["promotion_link"],
        "https://s.click.aliexpress.com/e/_p1005006123456789"
    );
}

#[tokio::test]
async fn search_has_the_v1_shape_and_the_second_identical_search_hits() {
    let s = TestServer::start(HttpConfig::default()).await;
    let body = r#"{"keywords":"wireless earbuds","page_size":5,"min_sale_price":10,"max_sale_price":"50.5","target_currency":"eur"}"#;
    let first = Answer::of(s.post_json("/api/products/search", body).await).await;
    assert_eq!(first.status, 200, "{}", first.json);
    assert_eq!(first.header("x-cache"), Some("MISS"));
    assert_eq!(
        first.header("cache-status"),
        Some("alistach; fwd=uri-miss; stored")
    );
    let data = &first.json["data"];
    for field in [
        "products",
        "total_results",
        "current_page",
        "page_size",
        "total_pages",
        "cache_hit",
    ] {
        assert!(data.get(field).is_some(), "data lacks {field}");
    }
    assert_eq!(data["cache_hit"], false);
    assert_eq!(data["page_size"], 5);
    let p = &data["products"][0];
    for field in [
        "product_id",
        "product_title",
        "product_url",
        "app_sale_price",
        "original_price",
        "discount",
        "evaluate_rate",
        "commission_rate",
        "product_main_image_url",
        "shop_id",
        "shop_url",
    ] {
        assert!(
            p[field].is_string(),
            "product field {field} must be a string: {p}"
        );
    }
    assert_eq!(p["discount"], "50%");
    assert_eq!(p["evaluate_rate"], "98.5%");
    assert_eq!(p["app_sale_price"], "17.99");
    assert_eq!(p["currency"], "EUR");
    assert_eq!(p["shop_id"], "912345");
    let meta = &first.json["metadata"];
    for field in [
        "mock_mode",
        "processing_time_ms",
        "api_version",
        "api_integration",
        "cache_hit",
        "cache_enabled",
    ] {
        assert!(meta.get(field).is_some(), "metadata lacks {field}");
    }
    assert_eq!(meta["search_params"]["keywords"], "wireless earbuds");
    assert_eq!(
        meta["search_params"]["sort"], "SALE_PRICE_ASC",
        "the documented default"
    );
    assert_eq!(meta["search_params"]["min_sale_price"], "10");
    assert_eq!(meta["search_params"]["max_sale_price"], "50.5");
    assert_eq!(meta["search_params"]["target_currency"], "EUR");
    assert!(meta.get("cache_bypassed").is_none());

    // The same question, differently spaced.
    let body2 = r#"{"keywords":"  wireless   earbuds","page_size":5,"min_sale_price":"10.00","max_sale_price":50.5,"target_currency":"EUR"}"#;
    let second = Answer::of(s.post_json("/api/products/search", body2).await).await;
    assert_eq!(second.status, 200);
    assert_eq!(second.header("x-cache"), Some("HIT"));
    assert_eq!(second.header("age"), Some("0"));
    assert_eq!(
        second.header("cache-status"),
        Some("alistach; hit; ttl=3600")
    );
    assert_eq!(second.json["data"]["cache_hit"], true);
    assert_eq!(second.json["metadata"]["cache_hit"], true);
    assert_eq!(second.json["metadata"]["cache_status"], "HIT");
    assert_eq!(
        second.json["data"]["products"],
        first.json["data"]["products"]
    );
    assert_eq!(s.api.calls(), 1);

    s.clock.advance(std::time::Duration::from_secs(100));
    // The v1.1.0 GET keeps the v1.1.0 default order, so it is the same question.
    let get = Answer::of(s.get("/api/products?keywords=wireless+earbuds&page_size=5&min_sale_price=10&max_sale_price=50.5&target_currency=EUR").await).await;
    assert_eq!(get.status, 200, "{}", get.json);
    assert_eq!(get.header("x-cache"), Some("HIT"));
    assert_eq!(get.header("age"), Some("100"));
    assert_eq!(get.header("cache-control"), Some("max-age=3500"));
    assert_eq!(s.api.calls(), 1);
    // The GPT profile's GET search names the order explicitly to share it...
    let get = Answer::of(s.get("/api/products/search?keywords=wireless+earbuds&page_size=5&min_sale_price=10&max_sale_price=50.5&target_currency=EUR&sort=SALE_PRICE_ASC").await).await;
    assert_eq!(get.header("x-cache"), Some("HIT"));
    assert_eq!(s.api.calls(), 1);
    // ...and otherwise leaves it to the platform (no sort sent): another question.
    let get = Answer::of(s.get("/api/products/search?keywords=wireless+earbuds&page_size=5&min_sale_price=10&max_sale_price=50.5&target_currency=EUR").await).await;
    assert_eq!(get.status, 200, "{}", get.json);
    assert_eq!(get.header("x-cache"), Some("MISS"));
    assert!(get.json["metadata"]["search_params"].get("sort").is_none());
    assert_eq!(s.api.calls(), 2);
}

#[tokio::test]
async fn v1_get_products_and_no_cache_search() {
    let s = TestServer::start(HttpConfig::default()).await;
    let a = Answer::of(s.get("/api/products?keywords=phone&page_no=2").await).await;
    assert_eq!(a.status, 200, "{}", a.json);
    assert_eq!(a.json["data"]["current_page"], 2);

    let fresh = Answer::of(
        s.post_json(
            "/api/products/search/no-cache",
            r#"{"keywords":"phone","page_no":2}"#,
        )
        .await,
    )
    .await;
    assert_eq!(fresh.status, 200);
    assert_eq!(fresh.header("x-cache"), Some("BYPASS"));
    assert_eq!(fresh.json["metadata"]["cache_bypassed"], true);
    assert_eq!(fresh.json["metadata"]["fresh_data"], true);
    assert_eq!(fresh.json["data"]["cache_hit"], false);
    assert_eq!(s.api.calls(), 2, "no-cache must call the upstream");
}

#[tokio::test]
async fn empty_results_are_an_answer() {
    let s = TestServer::start(HttpConfig::default()).await;
    let a = Answer::of(
        s.post_json("/api/products/search", r#"{"keywords":"nothing"}"#)
            .await,
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.json["data"]["products"], json!([]));
    assert_eq!(a.json["data"]["total_results"], 0);
}

#[tokio::test]
async fn hot_details_and_categories() {
    let s = TestServer::start(HttpConfig::default()).await;
    let hot = Answer::of(s.get("/api/products/hot?page_size=3").await).await;
    assert_eq!(hot.status, 200, "{}", hot.json);
    assert_eq!(hot.json["data"]["page_size"], 3);
    assert_eq!(hot.header("x-cache"), Some("MISS"));

    let d = Answer::of(
        s.get("/api/products/details?product_ids=1005006123456789,1111111111,1005006123456789")
            .await,
    )
    .await;
    assert_eq!(d.status, 200, "{}", d.json);
    assert_eq!(d.json["data"]["total_results"], 1);
    assert_eq!(d.json["metadata"]["requested_ids"], 2);
    let by_url = Answer::of(
        s.get("/api/products/details?urls=https%3A%2F%2Fwww.aliexpress.com%2Fitem%2F4000669887458.html").await,
    )
    .await;
    assert_eq!(
        by_url.json["data"]["products"][0]["product_id"],
        "4000669887458"
    );
    let none = Answer::of(s.get("/api/products/details").await).await;
    none.assert_problem(422, Some("product_ids"));

    let c = Answer::of(s.get("/api/categories").await).await;
    assert_eq!(c.status, 200);
    assert_eq!(c.json["metadata"]["total_categories"], 3);
    let cats = c.json["data"]["categories"].as_array().unwrap();
    assert_eq!(cats.len(), 2);
    assert_eq!(cats[0]["category_id"], "44");
    assert_eq!(cats[0]["category_name"], "Consumer Electronics");
    assert_eq!(cats[0]["children"][0]["category_id"], "63705");
    assert_eq!(cats[0]["children"][0]["parent_category_id"], "44");
    let again = Answer::of(s.get("/api/categories").await).await;
    assert_eq!(again.json["metadata"]["cache_hit"], true);
    assert_eq!(again.header("cache-control"), Some("max-age=7200"));
}

#[tokio::test]
async fn affiliate_links_in_bulk_and_single() {
    let s = TestServer::start(HttpConfig::default()).await;
    let body = json!({"urls": [
        "https://www.aliexpress.com/item/1005006123456789.html?spm=a2g0o",
        "32759108484"
    ]})
    .to_string();
    let a = Answer::of(s.post_json("/api/affiliate/links", &body).await).await;
    assert_eq!(a.status, 200, "{}", a.json);
    let links = a.json["data"]["affiliate_links"].as_array().unwrap();
    assert_eq!(links.len(), 2);
    assert_eq!(
        links[0]["original_url"],
        "https://www.aliexpress.com/item/1005006123456789.html?spm=a2g0o"
    );
    assert_eq!(
        links[0]["affiliate_url"],
        "https://s.click.aliexpress.com/e/_1005006123456789"
    );
    assert_eq!(links[0]["product_id"], "1005006123456789");
    assert_eq!(a.json["metadata"]["processed_urls"], 2);
    assert_eq!(a.json["metadata"]["generated_links"], 2);
    assert_eq!(a.json["metadata"]["cache_hit"], false);

    let one = Answer::of(
        s.get("/api/affiliate/link?url=https%3A%2F%2Fm.aliexpress.com%2Fitem%2F32759108484.html")
            .await,
    )
    .await;
    assert_eq!(one.status, 200, "{}", one.json);
    assert_eq!(
        one.json["data"]["affiliate_links"][0]["original_url"],
        "https://m.aliexpress.com/item/32759108484.html"
    );
    assert_eq!(
        one.json["data"]["affiliate_links"][0]["affiliate_url"],
        "https://s.click.aliexpress.com/e/_32759108484"
    );

    let missing = Answer::of(s.get("/api/affiliate/link").await).await;
    missing.assert_problem(422, Some("url"));
}

#[tokio::test]
async fn openapi_documents_are_served() {
    let config = HttpConfig {
        public_base_url: "https://alistach.example.com".into(),
        ..HttpConfig::default()
    };
    let s = TestServer::start(config).await;
    let full = Answer::of(s.get("/openapi.json").await).await;
    assert_eq!(full.status, 200);
    assert_eq!(full.header("content-type"), Some("application/json"));
    assert_eq!(full.json["openapi"], "3.1.0");
    let gpt = Answer::of(s.get("/openapi-gpt.json").await).await;
    assert_eq!(
        gpt.json["servers"][0]["url"],
        "https://alistach.example.com"
    );
    assert!(gpt.json["paths"].get("/api/cache/clear").is_none());
}
