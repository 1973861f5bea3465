//! Walks the v1.1.0 contract table (seed-v1-api.md) through the real binary: every path answers
//! with the documented status and field names.

use serde_json::Value;

use crate::support::{Server, client};

const ADMIN: &str = "admin-key-for-compat-tests-0001";

fn has(v: &Value, path: &str) -> bool {
    path.split('.').try_fold(v, |v, k| v.get(k)).is_some()
}

fn assert_fields(v: &Value, paths: &[&str], what: &str) {
    for p in paths {
        assert!(has(v, p), "{what}: missing field {p} in {v:#}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_v1_path_keeps_its_status_and_field_names() {
    let server = Server::start(&[("ADMIN_API_KEY", ADMIN)]);
    let c = client();

    // GET /
    let v: Value = c
        .get(server.url("/"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_fields(
        &v,
        &[
            "message",
            "version",
            "status",
            "integration",
            "caching",
            "docs",
            "openapi",
            "health",
            "endpoints",
        ],
        "/",
    );
    assert_eq!(v["status"], "operational");
    assert_eq!(v["integration"], "mock");

    // GET /health
    let v: Value = c
        .get(server.url("/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_fields(
        &v,
        &[
            "status",
            "environment",
            "mock_mode",
            "service_info.app_key_configured",
            "service_info.app_secret_configured",
            "service_info.tracking_id",
            "service_info.language",
            "service_info.currency",
            "service_info.environment",
            "service_info.debug",
            "service_info.mock_mode",
            "service_info.has_real_credentials",
            "service_info.sdk_available",
            "service_info.api_integration",
        ],
        "/health",
    );
    assert_eq!(v["status"], "healthy");
    assert_eq!(v["mock_mode"], true);

    // POST /api/products/search with the v1.1.0 body.
    let body = serde_json::json!({"keywords": "phone case", "page_size": 10, "page_no": 1, "sort": "SALE_PRICE_ASC", "min_sale_price": 1, "max_sale_price": 500});
    let r = c
        .post(server.url("/api/products/search"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["success"], true);
    assert_fields(
        &v,
        &[
            "data.products",
            "data.total_results",
            "data.current_page",
            "data.page_size",
            "data.cache_hit",
        ],
        "search data",
    );
    assert_fields(
        &v,
        &[
            "metadata.mock_mode",
            "metadata.processing_time_ms",
            "metadata.api_version",
            "metadata.api_integration",
            "metadata.cache_hit",
            "metadata.cache_enabled",
            "metadata.search_params.keywords",
            "metadata.search_params.page_size",
            "metadata.search_params.sort",
            "metadata.search_params.min_sale_price",
            "metadata.search_params.max_sale_price",
        ],
        "search metadata",
    );
    let products = v["data"]["products"].as_array().unwrap().clone();
    assert!(
        !products.is_empty(),
        "mock search for phone case found nothing"
    );
    for p in &products {
        for f in [
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
            assert!(p.get(f).is_some(), "product lacks v1.1.0 field {f}: {p:#}");
        }
        assert!(
            p["product_id"].is_string()
                && p["app_sale_price"].is_string()
                && p["shop_id"].is_string()
        );
    }

    // POST /api/products/search/no-cache
    let v: Value = c
        .post(server.url("/api/products/search/no-cache"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["data"]["cache_hit"], false);
    assert_eq!(v["metadata"]["cache_bypassed"], true);
    assert_eq!(v["metadata"]["fresh_data"], true);

    // GET /api/products with query parameters, and GET /api/products/search (405 in v1.1.0).
    for path in ["/api/products", "/api/products/search"] {
        let r = c
            .get(server.url(path))
            .query(&[("keywords", "phone case"), ("page_size", "5")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["data"]["page_size"], 5, "{path}");
    }

    // GET /api/categories
    let v: Value = c
        .get(server.url("/api/categories"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_fields(
        &v,
        &[
            "data.categories",
            "metadata.mock_mode",
            "metadata.api_integration",
            "metadata.cache_hit",
            "metadata.cache_enabled",
            "metadata.total_categories",
        ],
        "categories",
    );
    let first = &v["data"]["categories"][0];
    assert!(
        first["category_id"].is_string() && first["category_name"].is_string(),
        "{first}"
    );

    // POST /api/affiliate/links and GET /api/affiliate/link
    let known = products[0]["product_url"].as_str().unwrap().to_owned();
    let urls = serde_json::json!({"urls": [known]});
    let v: Value = c
        .post(server.url("/api/affiliate/links"))
        .json(&urls)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_fields(
        &v,
        &[
            "data.affiliate_links",
            "metadata.processed_urls",
            "metadata.generated_links",
            "metadata.cache_hit",
            "metadata.cache_enabled",
            "metadata.mock_mode",
            "metadata.api_integration",
        ],
        "links",
    );
    let link = &v["data"]["affiliate_links"][0];
    assert_fields(
        link,
        &["original_url", "affiliate_url", "commission_rate"],
        "link",
    );
    // A product the catalog holds (the mock, like the platform, converts only those).
    let r = c
        .get(server.url("/api/affiliate/link"))
        .query(&[("url", known.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["data"]["affiliate_links"].as_array().unwrap().len(), 1);

    // GET /api/status
    let v: Value = c
        .get(server.url("/api/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_fields(
        &v,
        &[
            "data.api_status",
            "data.integration_mode",
            "data.capabilities.product_search",
            "data.capabilities.categories",
            "data.capabilities.affiliate_links",
            "data.capabilities.real_api_integration",
            "data.capabilities.intelligent_caching",
            "data.performance.cache_hit_rate",
            "data.cache_performance",
            "metadata.timestamp",
            "metadata.version",
            "metadata.environment",
        ],
        "status",
    );

    // GET /api/cache/stats and POST /api/cache/clear (admin only now).
    let r = c.get(server.url("/api/cache/stats")).send().await.unwrap();
    assert_eq!(r.status(), 401, "cache stats without the admin key");
    let v: Value = c
        .get(server.url("/api/cache/stats"))
        .header("x-admin-key", ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_fields(
        &v,
        &[
            "data.cache_stats.hits",
            "data.cache_stats.misses",
            "data.cache_stats.sets",
            "data.cache_stats.errors",
            "data.cache_stats.hit_rate_percent",
            "data.cache_stats.total_requests",
            "data.cache_config.redis_available",
            "data.cache_config.redis_connected",
            "data.cache_config.redis_url_configured",
            "data.cache_config.default_ttl",
            "data.cache_config.memory_cache_size",
            "data.cache_config.max_memory_items",
            "data.performance_impact.estimated_api_calls_saved",
            "data.performance_impact.cache_efficiency",
            "metadata.timestamp",
            "metadata.description",
        ],
        "cache stats",
    );
    let r = c
        .post(server.url("/api/cache/clear?pattern=products"))
        .header("x-admin-key", ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_fields(
        &v,
        &[
            "data.cleared_entries",
            "data.pattern",
            "metadata.timestamp",
            "metadata.operation",
        ],
        "cache clear",
    );
    assert_eq!(v["data"]["pattern"], "products");
    assert_eq!(v["metadata"]["operation"], "cache_clear");

    // GET /system/info
    let v: Value = c
        .get(server.url("/system/info"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_fields(
        &v,
        &[
            "service",
            "version",
            "environment",
            "mock_mode",
            "api_integration",
            "has_real_credentials",
            "sdk_available",
            "configuration.language",
            "configuration.currency",
            "configuration.tracking_id",
            "endpoints",
        ],
        "system info",
    );

    // The documents and the docs page.
    for path in ["/openapi.json", "/openapi-gpt.json"] {
        let v: Value = c
            .get(server.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["openapi"], "3.1.0", "{path}");
    }
    let r = c.get(server.url("/docs")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
}
