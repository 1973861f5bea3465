//! The adapter over the labelled mock catalog: realistic data through every conversion.

use std::sync::Arc;

use alistach_domain::ApiMode;
use alistach_http::HttpConfig;
use alistach_mock::MockCatalog;
use serde_json::json;

use crate::support::{Answer, TestApi, TestServer};

async fn server() -> TestServer {
    TestServer::start_over(
        HttpConfig::default(),
        Arc::new(MockCatalog::new()),
        TestApi::new(ApiMode::Mock),
    )
    .await
}

#[tokio::test]
async fn mock_search_honours_filters_and_keeps_v1_strings() {
    let s = server().await;
    let body = json!({"keywords": "earbuds", "page_size": 3, "max_sale_price": "40", "sort": "SALE_PRICE_DESC"});
    let a = Answer::of(s.post_json("/api/products/search", &body.to_string()).await).await;
    assert_eq!(a.status, 200, "{}", a.json);
    assert_eq!(a.header("x-alistach-mode"), Some("mock"));
    assert_eq!(a.json["metadata"]["mock_mode"], true);
    let products = a.json["data"]["products"].as_array().unwrap();
    assert!(!products.is_empty() && products.len() <= 3, "{}", a.json);
    let mut last = f64::MAX;
    for p in products {
        assert!(
            p["product_id"]
                .as_str()
                .unwrap()
                .bytes()
                .all(|b| b.is_ascii_digit())
        );
        let price: f64 = p["sale_price"].as_str().unwrap().parse().unwrap();
        assert!(price <= 40.0, "{p}");
        assert!(price <= last, "sorted by price descending");
        last = price;
        assert!(p["discount"].as_str().unwrap().ends_with('%'), "{p}");
    }
}

#[tokio::test]
async fn mock_categories_details_and_links_agree() {
    let s = server().await;
    let c = Answer::of(s.get("/api/categories").await).await;
    assert_eq!(c.status, 200);
    assert!(c.json["metadata"]["total_categories"].as_u64().unwrap() > 5);

    let found = Answer::of(
        s.get("/api/products/search?keywords=phone&page_size=1")
            .await,
    )
    .await;
    let id = found.json["data"]["products"][0]["product_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let d = Answer::of(
        s.get(&format!("/api/products/details?product_ids={id}"))
            .await,
    )
    .await;
    assert_eq!(d.status, 200, "{}", d.json);
    assert_eq!(d.json["data"]["products"][0]["product_id"], id.as_str());

    let url = format!("https://www.aliexpress.com/item/{id}.html");
    let l = Answer::of(
        s.post_json(
            "/api/affiliate/links",
            &json!({ "urls": [url] }).to_string(),
        )
        .await,
    )
    .await;
    assert_eq!(l.status, 200, "{}", l.json);
    assert_eq!(
        l.json["data"]["affiliate_links"][0]["original_url"],
        url.as_str()
    );
    assert_eq!(
        l.json["data"]["affiliate_links"][0]["product_id"],
        id.as_str()
    );
    assert_eq!(l.json["metadata"]["generated_links"], 1);
}
