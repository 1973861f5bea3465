//! Admin endpoints and the API key: who may call what.

use alistach_http::{ApiKey, HttpConfig};

use crate::support::{Answer, TestServer, admin_config};

#[tokio::test]
async fn admin_endpoints_are_disabled_without_a_configured_key() {
    let s = TestServer::start(HttpConfig::default()).await;
    for path in ["/api/cache/stats", "/metrics"] {
        let a = Answer::of(
            s.client
                .get(s.url(path))
                .header("x-admin-key", "anything")
                .send()
                .await
                .unwrap(),
        )
        .await;
        a.assert_problem(403, None);
        assert!(a.json["detail"].as_str().unwrap().contains("ADMIN_API_KEY"));
    }
    let a = Answer::of(
        s.client
            .post(s.url("/api/cache/clear"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    a.assert_problem(403, None);
}

#[tokio::test]
async fn admin_key_matrix() {
    let s = TestServer::start(admin_config()).await;
    let missing = Answer::of(s.get("/api/cache/stats").await).await;
    missing.assert_problem(401, None);
    assert!(
        missing
            .header("www-authenticate")
            .unwrap()
            .starts_with("Bearer")
    );

    let wrong = Answer::of(
        s.client
            .get(s.url("/api/cache/stats"))
            .header("x-admin-key", "admin-secreT")
            .send()
            .await
            .unwrap(),
    )
    .await;
    wrong.assert_problem(401, None);
    let wrong_bearer = Answer::of(
        s.client
            .get(s.url("/api/cache/stats"))
            .bearer_auth("nope")
            .send()
            .await
            .unwrap(),
    )
    .await;
    wrong_bearer.assert_problem(401, None);

    // Fill the cache a little so the counters move.
    s.post_json("/api/products/search", r#"{"keywords":"earbuds"}"#)
        .await;
    s.post_json("/api/products/search", r#"{"keywords":"earbuds"}"#)
        .await;
    s.get("/api/categories").await;

    let by_header = Answer::of(
        s.client
            .get(s.url("/api/cache/stats"))
            .header("x-admin-key", "admin-secret")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(by_header.status, 200, "{}", by_header.json);
    let stats = &by_header.json["data"]["cache_stats"];
    assert_eq!(stats["hits"], 1);
    assert_eq!(stats["misses"], 2);
    assert_eq!(stats["total_requests"], 3);
    assert_eq!(stats["hit_rate_percent"], 33.33);
    let config = &by_header.json["data"]["cache_config"];
    for field in [
        "redis_available",
        "redis_connected",
        "redis_url_configured",
        "default_ttl",
        "memory_cache_size",
        "max_memory_items",
    ] {
        assert!(config.get(field).is_some(), "cache_config lacks {field}");
    }
    assert_eq!(config["default_ttl"], 3600);
    assert_eq!(config["memory_cache_size"], 2);
    assert_eq!(
        by_header.json["data"]["performance_impact"]["estimated_api_calls_saved"],
        1
    );
    assert_eq!(by_header.json["data"]["tiers"][0]["name"], "memory");
    assert!(by_header.json["metadata"].get("description").is_some());

    let metrics = s
        .client
        .get(s.url("/metrics"))
        .bearer_auth("admin-secret")
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.unwrap();
    assert!(
        text.contains(
            "alistach_http_requests_total{route=\"/api/products/search\",method=\"POST\",status=\"200\"} 2"
        ),
        "{text}"
    );

    let bad_pattern = Answer::of(
        s.client
            .post(s.url("/api/cache/clear?pattern=everything"))
            .bearer_auth("admin-secret")
            .send()
            .await
            .unwrap(),
    )
    .await;
    bad_pattern.assert_problem(422, Some("pattern"));

    let cleared = Answer::of(
        s.client
            .post(s.url("/api/cache/clear?pattern=products"))
            .bearer_auth("admin-secret")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(cleared.status, 200, "{}", cleared.json);
    assert_eq!(
        cleared.json["data"],
        serde_json::json!({"cleared_entries": 1, "pattern": "products"})
    );
    assert_eq!(cleared.json["metadata"]["operation"], "cache_clear");
    let again = Answer::of(s.get("/api/categories").await).await;
    assert_eq!(
        again.header("x-cache"),
        Some("HIT"),
        "categories survive clearing products"
    );
    let searched = Answer::of(
        s.post_json("/api/products/search", r#"{"keywords":"earbuds"}"#)
            .await,
    )
    .await;
    assert_eq!(searched.header("x-cache"), Some("MISS"));

    let all = Answer::of(
        s.client
            .post(s.url("/api/cache/clear"))
            .bearer_auth("admin-secret")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        all.json["data"],
        serde_json::json!({"cleared_entries": 2, "pattern": "all"})
    );
}

#[tokio::test]
async fn the_internal_key_guards_the_api_when_configured() {
    let config = HttpConfig {
        api_keys: vec![ApiKey::new("internal-key")],
        ..admin_config()
    };
    let s = TestServer::start(config).await;
    let body = r#"{"keywords":"earbuds"}"#;
    let none = Answer::of(s.post_json("/api/products/search", body).await).await;
    none.assert_problem(401, None);
    assert!(none.header("www-authenticate").is_some());
    let wrong = Answer::of(
        s.client
            .post(s.url("/api/products/search"))
            .header("x-internal-key", "guess")
            .body(body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    wrong.assert_problem(401, None);
    let header = s
        .client
        .post(s.url("/api/products/search"))
        .header("x-internal-key", "internal-key")
        .body(body);
    assert_eq!(header.send().await.unwrap().status(), 200);
    let bearer = s
        .client
        .get(s.url("/api/categories"))
        .bearer_auth("internal-key");
    assert_eq!(bearer.send().await.unwrap().status(), 200);
    let status = s.client.get(s.url("/system/info"));
    assert_eq!(status.send().await.unwrap().status(), 401);
    // Public endpoints stay open; the admin key is not an internal key substitute for admin routes.
    assert_eq!(s.get("/health").await.status(), 200);
    assert_eq!(s.get("/openapi-gpt.json").await.status(), 200);
    let admin_with_internal = s
        .client
        .get(s.url("/api/cache/stats"))
        .bearer_auth("internal-key");
    // A valid API key that lacks the admin right is refused as forbidden, not unknown.
    assert_eq!(admin_with_internal.send().await.unwrap().status(), 403);
}
