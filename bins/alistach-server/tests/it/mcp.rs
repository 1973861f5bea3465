//! The MCP endpoint through the real binary: every tool driven by rmcp's client over Streamable
//! HTTP at each protocol revision (2025-06-18 and 2025-11-25 with `initialize`, 2026-07-28 with
//! `server/discover`), in mock mode and in real mode against the fake gateway; the same tools
//! over stdio (`alistach-server mcp`); the HTTP rules around the endpoint (keys, 405, 400, 403,
//! rate limits, request ids); arbitrary bodies; the token budget of a 10-product answer; and the
//! Python SDK when it is installed (always under CI).

use std::process::Stdio;
use std::time::Duration;

use alistach_testkit::gateway::{FakeConfig, FakeGateway, Fault};
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, Implementation,
    JsonObject, ProtocolVersion,
};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};

use crate::support::{Server, client};

const KEY: &str = "mcp-it-key-5d1e9b";
const APP_KEY: &str = "34567890";
const APP_SECRET: &str = "fake-gateway-app-secret-9f3a";

const TOOLS: [&str; 8] = [
    "search_products",
    "get_product_details",
    "get_hot_products",
    "list_categories",
    "create_affiliate_links",
    "find_similar_products",
    "list_promotions",
    "get_promotion_products",
];

type Client = RunningService<RoleClient, ClientConfig>;

fn client_info(version: &ProtocolVersion) -> ClientConfig {
    ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("alistach-it", "1.0"),
    )
    .with_protocol_version(version.clone())
}

/// rmcp's client on `/mcp` with the Bearer key: `initialize` for the revisions that have it,
/// `server/discover` for the stateless one.
async fn connect(server: &Server, version: ProtocolVersion) -> Client {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(server.url("/mcp")).auth_header(KEY),
    );
    let info = client_info(&version);
    let client = if version.has_initialize() {
        info.serve(transport).await.expect("initialize")
    } else {
        info.serve_with_lifecycle(
            transport,
            ClientLifecycleMode::Discover {
                preferred_versions: vec![version.clone()],
            },
        )
        .await
        .expect("server/discover")
    };
    let negotiated = client
        .peer_info()
        .expect("server info")
        .protocol_version
        .clone();
    assert_eq!(
        negotiated, version,
        "the server speaks the revision asked for"
    );
    client
}

fn object(v: Value) -> JsonObject {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

async fn call(client: &Client, tool: &str, args: Value) -> CallToolResult {
    client
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(object(args)))
        .await
        .unwrap_or_else(|e| panic!("{tool}: {e}"))
}

/// The text of a result (the one text block).
fn text(r: &CallToolResult) -> String {
    let v = serde_json::to_value(&r.content).unwrap();
    v[0]["text"].as_str().expect("a text block").to_owned()
}

/// A successful result: structured content, the same JSON as text, the mode said plainly.
fn ok(tool: &str, r: &CallToolResult, mock: bool) -> Value {
    assert_ne!(r.is_error, Some(true), "{tool} failed: {}", text(r));
    let structured = r.structured_content.clone().expect("structuredContent");
    let text = text(r);
    let parsed: Value = serde_json::from_str(&text).expect("the text is JSON");
    assert_eq!(
        parsed, structured,
        "{tool}: the text is the structured JSON"
    );
    assert_eq!(structured["mock_mode"], mock, "{tool}");
    assert_eq!(structured["stale"], false, "{tool}");
    assert_eq!(text.contains("SAMPLE DATA"), mock, "{tool}: {text}");
    assert_eq!(structured.get("notice").is_some(), mock, "{tool}");
    structured
}

/// A tool error: `isError`, and the problem document naming what to fix.
fn tool_error(tool: &str, r: &CallToolResult) -> Value {
    assert_eq!(r.is_error, Some(true), "{tool} should fail: {}", text(r));
    serde_json::from_str(&text(r)).expect("the problem is JSON")
}

/// Calls every tool and checks what it answers; returns the search answer.
async fn exercise(client: &Client, mock: bool) -> Value {
    let tools = client.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(names, TOOLS);
    for t in &tools {
        assert!(
            t.title.as_deref().is_some_and(|s| !s.is_empty()),
            "{}",
            t.name
        );
        let description = t.description.as_deref().unwrap_or_default();
        assert!(description.contains("Use it"), "{}: {description}", t.name);
        assert_eq!(t.input_schema["type"], "object", "{}", t.name);
        assert_eq!(
            t.output_schema.as_ref().unwrap()["type"],
            "object",
            "{}",
            t.name
        );
        let a = t.annotations.as_ref().unwrap();
        assert_eq!(a.read_only_hint, Some(true), "{}", t.name);
        assert_eq!(a.open_world_hint, Some(true), "{}", t.name);
    }
    // The contract's own schema: the REST search request's fields and bounds.
    let search_props = &tools[0].input_schema["properties"];
    assert_eq!(search_props["page_size"]["maximum"], 50);
    assert_eq!(search_props["detail"]["type"], "boolean");

    let search = ok(
        "search_products",
        &call(
            client,
            "search_products",
            json!({"keywords": "wireless earbuds", "page_size": 5}),
        )
        .await,
        mock,
    );
    let products = search["products"].as_array().unwrap();
    assert!(!products.is_empty(), "{search}");
    for p in products {
        assert!(
            p["id"]
                .as_str()
                .is_some_and(|id| id.bytes().all(|b| b.is_ascii_digit())),
            "{p}"
        );
        assert!(p["title"].as_str().is_some_and(|t| !t.is_empty()), "{p}");
        assert!(p["promotion_link"].as_str().is_some(), "{p}");
        assert!(p.get("product_id").is_none(), "compact by default: {p}");
    }
    let id = products[0]["id"].as_str().unwrap().to_owned();

    let full = ok(
        "search_products",
        &call(
            client,
            "search_products",
            json!({"keywords": "wireless earbuds", "page_size": 5, "detail": true}),
        )
        .await,
        mock,
    );
    assert_eq!(
        full["products"][0]["product_id"], id,
        "detail gives the full record"
    );
    assert!(full["products"][0]["product_url"].as_str().is_some());

    // Any product URL form names the product.
    let details = ok(
        "get_product_details",
        &call(
            client,
            "get_product_details",
            json!({"urls": format!("https://m.aliexpress.com/item/{id}.html")}),
        )
        .await,
        mock,
    );
    assert_eq!(details["products"][0]["id"], id, "{details}");
    let by_id = ok(
        "get_product_details",
        &call(
            client,
            "get_product_details",
            json!({"product_ids": id, "detail": true}),
        )
        .await,
        mock,
    );
    assert_eq!(by_id["products"][0]["product_id"], id);

    let hot = ok(
        "get_hot_products",
        &call(client, "get_hot_products", json!({"page_size": 3})).await,
        mock,
    );
    assert!(!hot["products"].as_array().unwrap().is_empty(), "{hot}");

    let cats = ok(
        "list_categories",
        &call(client, "list_categories", json!({})).await,
        mock,
    );
    let top = cats["categories"].as_array().unwrap();
    assert!(top.len() > 3, "{cats}");
    assert!(
        top.iter()
            .all(|c| c["id"].is_string() && c["name"].is_string())
    );
    assert!(
        top.iter()
            .any(|c| c["children"].as_array().is_some_and(|k| !k.is_empty()))
    );

    // With parent_id: only that category's subcategories.
    let parent = top
        .iter()
        .find(|c| c["children"].as_array().is_some_and(|k| !k.is_empty()))
        .unwrap();
    let children = ok(
        "list_categories",
        &call(
            client,
            "list_categories",
            json!({"parent_id": parent["id"]}),
        )
        .await,
        mock,
    );
    assert_eq!(children["parent_id"], parent["id"]);
    let ids = |v: &Value| -> Vec<Value> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].clone())
            .collect()
    };
    assert_eq!(
        ids(&children["categories"]),
        ids(&parent["children"]),
        "{children}"
    );

    // One result per URL: the link, or why not.
    let url = format!("https://www.aliexpress.com/item/{id}.html");
    let links = ok(
        "create_affiliate_links",
        &call(
            client,
            "create_affiliate_links",
            json!({"urls": [url, "https://evil.example/item/1.html"]}),
        )
        .await,
        mock,
    );
    let results = links["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "{links}");
    assert_eq!(results[0]["original_url"], url, "{links}");
    assert_eq!(results[0]["status"], "converted", "{links}");
    assert!(
        results[0]["affiliate_url"]
            .as_str()
            .unwrap()
            .starts_with("https://")
    );
    assert_eq!(results[1]["status"], "not_converted", "{links}");
    assert_eq!(results[1]["reason"], "not_aliexpress", "{links}");

    let similar = ok(
        "find_similar_products",
        &call(client, "find_similar_products", json!({"product_id": url})).await,
        mock,
    );
    assert_eq!(similar["product_id"], id, "{similar}");
    assert!(
        !similar["products"].as_array().unwrap().is_empty(),
        "{similar}"
    );
    assert!(
        similar["products"][0].get("product_id").is_none(),
        "compact"
    );

    let promotions = ok(
        "list_promotions",
        &call(client, "list_promotions", json!({})).await,
        mock,
    );
    let name = promotions["promotions"][0]["promotion_name"]
        .as_str()
        .unwrap_or_else(|| panic!("{promotions}"))
        .to_owned();
    let promoted = ok(
        "get_promotion_products",
        &call(
            client,
            "get_promotion_products",
            json!({"promotion_name": name, "page_size": 5}),
        )
        .await,
        mock,
    );
    assert!(
        !promoted["products"].as_array().unwrap().is_empty(),
        "{promoted}"
    );
    assert!(
        promoted["products"][0]["promotion_link"].is_string(),
        "{promoted}"
    );
    search
}

/// Bad arguments come back as tool errors naming the field; an unknown tool is a protocol error.
async fn errors_are_correctable(client: &Client) {
    for (tool, args, field) in [
        (
            "search_products",
            json!({"keywords": "x", "page_size": 500}),
            "page_size",
        ),
        ("search_products", json!({"keyword": "x"}), "keyword"),
        (
            "search_products",
            json!({"keywords": "x", "sort": "cheapest"}),
            "sort",
        ),
        ("get_product_details", json!({}), "product_ids"),
        (
            "get_product_details",
            json!({"urls": "https://evil.example/item/1.html"}),
            "urls[0]",
        ),
        ("create_affiliate_links", json!({"urls": []}), "urls"),
        ("list_categories", json!({"detail": true}), "detail"),
        ("list_categories", json!({"parent_id": "abc"}), "parent_id"),
        ("find_similar_products", json!({}), "product_id"),
        ("list_promotions", json!({"page": 2}), "page"),
        (
            "get_promotion_products",
            json!({"promotion_name": "x", "page_size": 0}),
            "page_size",
        ),
    ] {
        let problem = tool_error(tool, &call(client, tool, args).await);
        assert_eq!(problem["status"], 422, "{tool}: {problem}");
        assert_eq!(problem["errors"][0]["field"], field, "{tool}: {problem}");
        assert!(
            problem["detail"]
                .as_str()
                .is_some_and(|d| d.contains(field)),
            "{problem}"
        );
    }
    let err = client
        .call_tool(CallToolRequestParams::new("buy_everything"))
        .await
        .expect_err("an unknown tool is a protocol error");
    assert!(err.to_string().contains("buy_everything"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_tool_answers_at_every_protocol_revision_in_mock_mode() {
    let server = Server::start(&[("INTERNAL_API_KEY", KEY)]);
    for version in [
        ProtocolVersion::V_2025_06_18,
        ProtocolVersion::V_2025_11_25,
        ProtocolVersion::V_2026_07_28,
    ] {
        let client = connect(&server, version.clone()).await;
        exercise(&client, true).await;
        errors_are_correctable(&client).await;
        client.cancel().await.unwrap();
    }
    assert!(
        !server.logs().contains(KEY),
        "the key never reaches the logs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_tool_answers_in_real_mode_against_the_fake_gateway() {
    let fake = FakeGateway::start(FakeConfig::new(APP_KEY, APP_SECRET)).await;
    let url = fake.url();
    let server = Server::start(&[
        ("ALIEXPRESS_APP_KEY", APP_KEY),
        ("ALIEXPRESS_APP_SECRET", APP_SECRET),
        ("ALIEXPRESS_TRACKING_ID", "mcp_tracking"),
        ("ALIEXPRESS_API_URL", &url),
        ("ALIEXPRESS_TIMEOUT", "2"),
        ("INTERNAL_API_KEY", KEY),
    ]);
    let client = connect(&server, ProtocolVersion::V_2025_11_25).await;
    let search = exercise(&client, false).await;
    for p in search["products"].as_array().unwrap() {
        assert!(
            p["promotion_link"]
                .as_str()
                .unwrap()
                .starts_with("https://s.click.aliexpress.com/e/_"),
            "{p}"
        );
    }
    let sent = fake
        .last_request("aliexpress.affiliate.product.query")
        .expect("the search reached the gateway");
    assert_eq!(
        sent.params.get("tracking_id").map(String::as_str),
        Some("mcp_tracking")
    );
    assert_eq!(fake.rejected_signatures(), 0);

    // Upstream trouble is a tool error the model can report or retry, not a protocol error.
    fake.fail_always(Fault::Status(503));
    let r = call(
        &client,
        "search_products",
        json!({"keywords": "never cached before"}),
    )
    .await;
    let problem = tool_error("search_products", &r);
    assert_eq!(problem["status"], 503, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("AliExpress"),
        "{problem}"
    );
    assert_eq!(problem["upstream"]["retryable"], true, "{problem}");
    assert!(!server.logs().contains(APP_SECRET));
    client.cancel().await.unwrap();
}

/// ~4 characters per token: ten compact products must stay well under 3,000 tokens.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_products_cost_well_under_three_thousand_tokens() {
    let fake = FakeGateway::start(FakeConfig::new(APP_KEY, APP_SECRET)).await;
    let url = fake.url();
    let real = Server::start(&[
        ("ALIEXPRESS_APP_KEY", APP_KEY),
        ("ALIEXPRESS_APP_SECRET", APP_SECRET),
        ("ALIEXPRESS_API_URL", &url),
    ]);
    let mock = Server::start(&[]);
    for (mode, server) in [("mock", &mock), ("real", &real)] {
        let transport = StreamableHttpClientTransport::from_uri(server.url("/mcp"));
        let client = client_info(&ProtocolVersion::V_2025_11_25)
            .serve(transport)
            .await
            .unwrap();
        // The fake gateway's catalog is small: its hot listing, not a keyword, fills a page.
        let mut calls = vec![("get_hot_products", json!({"page_size": 10}))];
        if mode == "mock" {
            calls.push((
                "search_products",
                json!({"keywords": "phone", "page_size": 10}),
            ));
        }
        for (tool, args) in calls {
            let r = call(&client, tool, args.clone()).await;
            let v = ok(tool, &r, mode == "mock");
            assert_eq!(v["products"].as_array().unwrap().len(), 10, "{mode} {tool}");
            let chars = text(&r).chars().count();
            let mut detailed = object(args);
            detailed.insert("detail".into(), true.into());
            let full = call(&client, tool, Value::Object(detailed)).await;
            let full_chars = text(&full).chars().count();
            eprintln!(
                "{mode} {tool}: 10 products = {chars} characters (~{} tokens) compact, {full_chars} (~{} tokens) with detail",
                chars / 4,
                full_chars / 4
            );
            assert!(chars / 4 < 2_000, "{mode} {tool}: {chars} characters");
            assert!(chars < full_chars, "compact is smaller than detail");
        }
        client.cancel().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_endpoint_keeps_the_http_rules() {
    let server = Server::start(&[
        ("INTERNAL_API_KEY", KEY),
        ("ALLOWED_ORIGINS", "https://chatgpt.com"),
    ]);
    let c = client();
    let mcp = server.url("/mcp");
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}});
    let post = |version: Option<&str>, origin: Option<&str>, key: Option<&str>| {
        let mut r = c
            .post(&mcp)
            .header("accept", "application/json, text/event-stream")
            .json(&list);
        if let Some(v) = version {
            r = r.header("mcp-protocol-version", v);
        }
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        if let Some(k) = key {
            r = r.bearer_auth(k);
        }
        r.send()
    };

    // A plain legacy POST (2025-06-18 style, after initialize): a JSON answer with the tools.
    let r = post(Some("2025-06-18"), None, Some(KEY)).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert!(r.headers().contains_key("x-request-id"));
    assert_eq!(r.headers()["x-alistach-mode"], "mock");
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["result"]["tools"].as_array().unwrap().len(),
        TOOLS.len(),
        "{v}"
    );

    // GET (no server-initiated streams in a stateless server) and DELETE: 405.
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let r = c
            .request(method.clone(), &mcp)
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 405, "{method}");
        assert_eq!(r.headers()["allow"], "POST");
    }
    // No key, a wrong key.
    assert_eq!(post(None, None, None).await.unwrap().status(), 401);
    assert_eq!(post(None, None, Some("wrong")).await.unwrap().status(), 401);
    // A revision the server does not speak: 400, naming the ones it does.
    for bad in ["2024-11-05", "2025-03-26", "2031-01-01", "garbage"] {
        let r = post(Some(bad), None, Some(KEY)).await.unwrap();
        assert_eq!(r.status(), 400, "{bad}");
        let p: Value = r.json().await.unwrap();
        assert!(
            p["detail"]
                .as_str()
                .unwrap()
                .contains("2025-06-18, 2025-11-25, 2026-07-28"),
            "{p}"
        );
    }
    // A browser page from another origin: 403, before the key is even looked at.
    let r = post(Some("2025-11-25"), Some("https://evil.example"), None)
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = post(Some("2025-11-25"), Some("https://chatgpt.com"), Some(KEY))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://chatgpt.com"
    );

    // The stateless revision: a request must carry its own metadata and the standard headers.
    let discover = json!({"jsonrpc": "2.0", "id": 7, "method": "server/discover", "params": {"_meta": {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {}
    }}});
    let r = c
        .post(&mcp)
        .bearer_auth(KEY)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "server/discover")
        .json(&discover)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let versions = v["result"]["supportedVersions"]
        .as_array()
        .expect("supported versions");
    assert_eq!(
        versions,
        &vec![
            json!("2025-06-18"),
            json!("2025-11-25"),
            json!("2026-07-28")
        ],
        "{v}"
    );
    // The Mcp-Method header must agree with the body.
    let r = c
        .post(&mcp)
        .bearer_auth(KEY)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/list")
        .json(&discover)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // What the transport refuses before reading a message is a problem document too.
    let r = c
        .post(&mcp)
        .bearer_auth(KEY)
        .json(&list)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 406, "no Accept of both JSON and SSE");
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let p: Value = r.json().await.unwrap();
    assert!(
        p["detail"].as_str().unwrap().contains("text/event-stream"),
        "{p}"
    );

    // A body that is not JSON-RPC is a JSON-RPC error, not a crash; the route is counted.
    let r = c
        .post(&mcp)
        .bearer_auth(KEY)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body("{\"hello\": ")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    let status: Value = c
        .get(server.url("/api/status"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let route = status["data"]["requests"]["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["route"] == "/mcp")
        .cloned()
        .expect("/mcp is counted");
    assert!(route["requests"].as_u64().unwrap() >= 10, "{route}");
    assert_eq!(route["server_errors"], 0, "{route}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mcp_requests_count_against_the_client_rate_limit() {
    let server = Server::start(&[
        ("API_KEYS", "agent:agent-key-0123456789abcdef"),
        ("MAX_REQUESTS_PER_MINUTE", "3"),
    ]);
    let c = client();
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let r = c
            .post(server.url("/mcp"))
            .bearer_auth("agent-key-0123456789abcdef")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-11-25")
            .json(&list)
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
        if r.status() == 429 {
            assert!(r.headers().contains_key("retry-after"));
        }
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
}

/// Arbitrary JSON bodies (and JSON-RPC envelopes around arbitrary params) never crash the
/// endpoint or make it answer 5xx, and it keeps answering afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn arbitrary_json_never_crashes_the_endpoint() {
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let server = Server::start(&[]);
    let c = client();
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        prop::sample::select(vec![
            "tools/call",
            "tools/list",
            "initialize",
            "server/discover",
            "ping",
            "search_products",
            "get_product_details",
            "2.0",
            "2025-11-25",
            "2026-07-28",
        ])
        .prop_map(Value::from),
    ];
    let value = leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "jsonrpc",
                    "id",
                    "method",
                    "params",
                    "name",
                    "arguments",
                    "keywords",
                    "page_size",
                    "urls",
                    "product_ids",
                    "detail",
                    "_meta",
                    "protocolVersion",
                ])
                .prop_map(str::to_owned),
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    // Half the bodies are JSON-RPC calls with arbitrary arguments, to reach the tools.
    let body = (value.clone(), any::<bool>(), value).prop_map(|(v, wrap, args)| {
        if wrap {
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                   "params": {"name": "search_products", "arguments": args}})
        } else {
            v
        }
    });
    let mut runner = TestRunner::deterministic();
    for i in 0..150 {
        let body = body.new_tree(&mut runner).unwrap().current();
        let version = ["2025-06-18", "2025-11-25", "2026-07-28"][i % 3];
        let r = c
            .post(server.url("/mcp"))
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .header("mcp-protocol-version", version)
            .body(body.to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{body}: {e}"));
        assert!(r.status().as_u16() < 500, "{} for {body}", r.status());
    }
    let r = c.get(server.url("/health")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(!server.logs().contains("panicked"), "{}", server.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_mcp_subcommand_serves_the_tools_over_stdio() {
    let data = crate::support::temp_dir("mcp-stdio");
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_alistach-server"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("LOG_LEVEL", "info")
        .env("DATA_DIR", &data)
        .arg("mcp");
    let transport = TokioChildProcess::new(cmd).unwrap();
    let client = client_info(&ProtocolVersion::V_2025_11_25)
        .serve(transport)
        .await
        .expect("initialize over stdio");
    exercise(&client, true).await;
    client.cancel().await.unwrap();
    let _ = std::fs::remove_dir_all(&data);
}

/// Standard output carries only protocol messages; logs go to standard error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_output_is_only_protocol() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let data = crate::support::temp_dir("mcp-stdio-raw");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_alistach-server"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("LOG_LEVEL", "debug")
        .env("DATA_DIR", &data)
        .arg("mcp")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Read stderr all along: debug logs would otherwise fill the pipe and stall the server.
    let mut stderr = child.stderr.take().unwrap();
    let logs = tokio::spawn(async move {
        let mut err = String::new();
        stderr.read_to_string(&mut err).await.unwrap();
        err
    });
    let mut stdin = child.stdin.take().unwrap();
    let messages = [
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "raw", "version": "1"}}}),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
            "name": "search_products", "arguments": {"keywords": "lamp", "page_size": 2}}}),
    ];
    for m in &messages {
        stdin.write_all(format!("{m}\n").as_bytes()).await.unwrap();
    }
    // Give the answers time to be written, then close stdin: the server exits.
    let mut stdout = child.stdout.take().unwrap();
    let mut out = String::new();
    let read = async {
        let mut buf = [0u8; 65536];
        while out.lines().filter(|l| l.contains("\"id\"")).count() < 3 {
            let n = stdout.read(&mut buf).await.unwrap();
            assert!(n > 0, "stdout closed early: {out}");
            out.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .expect("three answers");
    drop(stdin);
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("the server exits when stdin closes")
        .unwrap();
    assert!(status.success(), "{status}");
    let err = logs.await.unwrap();
    for line in out.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not protocol: {line}: {e}"));
        assert_eq!(v["jsonrpc"], "2.0", "{line}");
    }
    assert!(out.contains("\"protocolVersion\":\"2025-06-18\""), "{out}");
    assert!(out.contains("SAMPLE DATA"), "{out}");
    let _ = std::fs::remove_dir_all(&data);
    assert!(
        err.contains("serving the MCP tools over stdio"),
        "logs go to stderr: {err}"
    );
}

/// The official Python SDK (`pip install mcp`) drives every tool over Streamable HTTP and over
/// stdio. Skipped with a message when the SDK is missing, except under CI.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_sdk_drives_every_tool() {
    let has_sdk = std::process::Command::new("python3")
        .args(["-c", "import mcp"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_sdk {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have the Python MCP SDK (pip install mcp)"
        );
        eprintln!("skipped: python3 cannot import mcp (pip install mcp)");
        return;
    }
    let server = Server::start(&[("INTERNAL_API_KEY", KEY)]);
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../xtask/mcp_client_check.py"
    );
    let out = tokio::process::Command::new("python3")
        .arg(script)
        .args(["--url", &server.url("/mcp"), "--key", KEY])
        .args(["--stdio", env!("CARGO_BIN_EXE_alistach-server")])
        .env("NO_PROXY", "127.0.0.1,localhost")
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), out)
        .await
        .expect("the Python check finishes")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("http: 8 tools ok"), "{stdout}\n{stderr}");
    assert!(stdout.contains("stdio: 8 tools ok"), "{stdout}\n{stderr}");
}
