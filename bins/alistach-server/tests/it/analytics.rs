//! Usage analytics through the binary, in mock mode, on SQLite (under DATA_DIR) and on
//! PostgreSQL: searches (some finding nothing), other calls, an MCP tool call and a few 4xx are
//! counted exactly and at once (the current minute is read from memory); keywords are listed
//! with exact counts; the time series sums to the overview; orders and commission agree with
//! the revenue endpoint; a restart on the same database shows the same figures (the counts are
//! flushed at shutdown); `ANALYTICS=false` counts nothing.

use std::time::Duration;

use alistach_testkit::postgres_server::PostgresServer;
use serde_json::{Value, json};

use crate::support::{Server, admin_call, client, temp_dir};

const ADMIN: &str = "admin-key-for-analytics-0123";

async fn admin(server: &Server, path: &str) -> Value {
    let (status, v) = admin_call(server, ADMIN, "GET", path, None).await;
    assert_eq!(status, 200, "{path}: {v}");
    assert_eq!(v["success"], true, "{v}");
    v["data"].clone()
}

async fn get(server: &Server, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
    let r = client()
        .get(server.url(path))
        .query(query)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The calls the test makes, and what it expects them to count.
struct Made {
    /// Counted calls so far.
    calls: u64,
    /// Of them, 4xx.
    errors: u64,
}

async fn search(server: &Server, made: &mut Made, keywords: &str) -> u64 {
    let (status, v) = get(server, "/api/products/search", &[("keywords", keywords)]).await;
    assert_eq!(status, 200, "{v}");
    made.calls += 1;
    v["data"]["products"].as_array().unwrap().len() as u64
}

/// Makes the calls, checks the figures, and returns the number of counted calls made.
async fn the_analytics_loop(env: &[(&str, &str)], backend: &str) {
    let mut env: Vec<(&str, &str)> = env.to_vec();
    env.push(("ADMIN_API_KEY", ADMIN));
    let mut server = Server::start(&env);
    let mut made = Made {
        calls: 0,
        errors: 0,
    };

    // Searches: one question three times (a miss, then hits), another spelling of it (its own
    // cache entry, the same normalised keyword), a nonsense keyword twice (found nothing).
    for _ in 0..3 {
        assert!(search(&server, &mut made, "Wireless Earbuds").await > 0);
    }
    assert!(search(&server, &mut made, "  wireless   EARBUDS ").await > 0);
    for _ in 0..2 {
        assert_eq!(
            search(&server, &mut made, "qzxvbnonsense").await,
            0,
            "the mock catalog finds nothing for nonsense"
        );
    }
    // Other calls.
    assert_eq!(get(&server, "/api/categories", &[]).await.0, 200);
    assert_eq!(get(&server, "/api/products/hot", &[]).await.0, 200);
    made.calls += 2;
    // An MCP tool call (one HTTP call to /mcp, whose search counts its keywords).
    let r = client()
        .post(server.url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("mcp-protocol-version", "2025-06-18")
        .body(
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                   "params": {"name": "search_products", "arguments": {"keywords": "USB Cable"}}})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let body = r.text().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("total_results"), "{body}");
    made.calls += 1;
    // 4xx: two invalid searches and an admin call without the key.
    for _ in 0..2 {
        let (status, _) = get(&server, "/api/products/search", &[("page_size", "abc")]).await;
        assert_eq!(status, 422);
    }
    let (status, _) = get(&server, "/api/admin/analytics/overview", &[]).await;
    assert_eq!(status, 401);
    made.calls += 3;
    made.errors += 3;
    // Not counted: probes, documents.
    assert_eq!(get(&server, "/health", &[]).await.0, 200);
    assert_eq!(get(&server, "/openapi.json", &[]).await.0, 200);

    // Read at once: the current minute is in the default range.
    let o = admin(&server, "/api/admin/analytics/overview").await;
    assert_eq!(o["requests"], made.calls, "{o}");
    made.calls += 1;
    assert_eq!(o["errors"], made.errors, "{o}");
    assert_eq!(o["client_errors"], 3, "{o}");
    assert_eq!(o["server_errors"], 0, "{o}");
    assert_eq!(o["zero_result_searches"], 2, "{o}");
    // Cache: searches miss, hit, hit; miss; miss, hit; categories and hot products miss.
    assert_eq!(o["cache"]["hits"], 3, "{o}");
    assert_eq!(o["cache"]["misses"], 5, "{o}");
    assert_eq!(o["upstream_calls"], 5, "{o}");
    assert_eq!(o["upstream_calls_saved"], 3, "{o}");
    assert_eq!(o["cache"]["hit_ratio"], 3.0 / 8.0, "{o}");
    assert!(o["latency_ms"]["p50"].as_f64().unwrap() > 0.0, "{o}");
    assert!(
        o["latency_ms"]["p99"].as_f64().unwrap() >= o["latency_ms"]["p50"].as_f64().unwrap(),
        "{o}"
    );
    let route = |name: &str| {
        o["routes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["route"] == name)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(route("searchProducts")["requests"], 8, "{o}");
    assert_eq!(route("searchProducts")["errors"], 2, "{o}");
    assert_eq!(route("callMcp")["requests"], 1, "{o}");
    assert_eq!(route("getAnalyticsOverview")["errors"], 1, "{o}");
    assert_eq!(route("getHealth"), Value::Null, "probes are not counted");
    assert_eq!(
        o["clients"][0]["requests"],
        made.calls - 1,
        "one local client: {o}"
    );

    let k = admin(&server, "/api/admin/analytics/keywords").await;
    made.calls += 1;
    assert_eq!(k["searches"], 7, "{k}");
    assert_eq!(k["zero_result_searches"], 2, "{k}");
    assert_eq!(k["top"][0]["keyword"], "wireless earbuds", "{k}");
    assert_eq!(k["top"][0]["count"], 4, "{k}");
    assert_eq!(k["top"][0]["zero_results"], 0, "{k}");
    assert!(k["top"][0]["results_avg"].as_f64().unwrap() > 0.0, "{k}");
    let top: Vec<&str> = k["top"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["keyword"].as_str().unwrap())
        .collect();
    assert_eq!(
        top,
        ["wireless earbuds", "qzxvbnonsense", "usb cable"],
        "{k}"
    );
    assert_eq!(
        k["zero_results"],
        json!([{"keyword": "qzxvbnonsense", "count": 2}]),
        "{k}"
    );

    // Orders and commission come from the store: sync the mock order book, then compare with
    // the revenue endpoint over the same range.
    let (status, v) = admin_call(&server, ADMIN, "POST", "/api/admin/orders/sync", None).await;
    assert_eq!(status, 200, "{v}");
    made.calls += 1;
    let from = "2020-01-01";
    let to = "2099-01-01";
    let o = admin(
        &server,
        &format!("/api/admin/analytics/overview?from={from}&to={to}"),
    )
    .await;
    made.calls += 1;
    let revenue = admin(&server, &format!("/api/admin/revenue?from={from}&to={to}")).await;
    made.calls += 1;
    let orders: u64 = revenue["totals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["orders"].as_u64().unwrap())
        .sum();
    assert!(orders > 0, "the mock book has orders: {revenue}");
    assert_eq!(o["orders"], orders, "{o} {revenue}");
    let commission: Vec<Value> = revenue["totals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| json!({"currency": t["currency"], "amount": t["estimated_commission"]}))
        .collect();
    assert_eq!(
        o["commission"],
        json!(commission),
        "exact decimal text: {o}"
    );

    // The series sums to the overview (minute steps over the last hour).
    let series = admin(
        &server,
        "/api/admin/analytics/timeseries?metric=requests&step=minute",
    )
    .await;
    made.calls += 1;
    let sum: f64 = series["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["value"].as_f64().unwrap())
        .sum();
    let o = admin(&server, "/api/admin/analytics/overview").await;
    assert_eq!(sum as u64 + 1, o["requests"].as_u64().unwrap(), "{series}");
    assert_eq!(o["requests"], made.calls, "{o}");
    made.calls += 1;
    let errors = admin(
        &server,
        "/api/admin/analytics/timeseries?metric=errors&step=hour",
    )
    .await;
    made.calls += 1;
    let errors: f64 = errors["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["value"].as_f64().unwrap())
        .sum();
    assert_eq!(errors as u64, made.errors);
    // Bad parameters are 422 problems naming the field (and count as errors).
    for (query, field) in [
        ("metric=bogus", "metric"),
        ("step=week", "step"),
        ("from=yesterday", "from"),
        ("from=2026-01-02&to=2026-01-01", "to"),
    ] {
        let (status, v) = admin_call(
            &server,
            ADMIN,
            "GET",
            &format!("/api/admin/analytics/timeseries?{query}"),
            None,
        )
        .await;
        assert_eq!(status, 422, "{query}: {v}");
        assert!(v.to_string().contains(field), "{query}: {v}");
        made.calls += 1;
        made.errors += 1;
    }

    // Stopped: the counts are flushed; the next process on the same database shows them.
    server.terminate();
    let status = server
        .wait_exit(Duration::from_secs(20))
        .expect("the server stops");
    assert!(status.success(), "{status:?}\n{}", server.logs());
    let server = Server::start(&env);
    let o = admin(&server, "/api/admin/analytics/overview").await;
    assert_eq!(
        o["requests"], made.calls,
        "after a restart ({backend}): {o}"
    );
    assert_eq!(o["errors"], made.errors, "{o}");
    assert_eq!(o["zero_result_searches"], 2, "{o}");
    let k = admin(&server, "/api/admin/analytics/keywords").await;
    assert_eq!(k["top"][0]["count"], 4, "{k}");
    assert_eq!(k["zero_results"][0]["count"], 2, "{k}");
    let (_, meta) = admin_call(&server, ADMIN, "GET", "/api/admin/analytics/keywords", None).await;
    assert_eq!(meta["metadata"]["store"], backend, "{meta}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_are_counted_exactly_and_survive_a_restart_on_sqlite() {
    let data = temp_dir("analytics");
    let dir = data.to_str().unwrap().to_owned();
    the_analytics_loop(&[("DATA_DIR", &dir)], "sqlite").await;
    let _ = std::fs::remove_dir_all(&data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_are_counted_exactly_and_survive_a_restart_on_postgres() {
    let Some(pg) = PostgresServer::start_or_skip("analytics on postgres") else {
        return;
    };
    let url = pg.create_database("analytics");
    the_analytics_loop(&[("DATABASE_URL", &url)], "postgres").await;
    assert_ne!(
        pg.psql("analytics", "SELECT COUNT(*) FROM analytics_usage")
            .unwrap(),
        "0"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analytics_off_counts_nothing() {
    let server = Server::start(&[("ADMIN_API_KEY", ADMIN), ("ANALYTICS", "false")]);
    assert_eq!(
        get(&server, "/api/products/search", &[("keywords", "lamp")])
            .await
            .0,
        200
    );
    let o = admin(&server, "/api/admin/analytics/overview").await;
    assert_eq!(o["requests"], 0, "{o}");
    let k = admin(&server, "/api/admin/analytics/keywords").await;
    assert_eq!(k["searches"], 0, "{k}");
}
