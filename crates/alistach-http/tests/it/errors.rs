//! Bad input answers 4xx naming the problem; upstream failures map to 502/503/504; a stale
//! entry stands in for a failing upstream; panics become a 500 and the server keeps serving.

use std::time::Duration;

use alistach_domain::UpstreamError;
use alistach_http::HttpConfig;
use serde_json::json;

use crate::support::{Answer, TestServer};

#[tokio::test]
async fn malformed_json_is_a_400_naming_the_problem() {
    let s = TestServer::start(HttpConfig::default()).await;
    let a = Answer::of(
        s.post_json("/api/products/search", r#"{"keywords": "x""#)
            .await,
    )
    .await;
    a.assert_problem(400, None);
    assert!(
        a.json["detail"]
            .as_str()
            .unwrap()
            .contains("not valid JSON"),
        "{}",
        a.json
    );
    assert!(a.json["type"].as_str().unwrap().ends_with("malformed-json"));
    let empty = Answer::of(s.post_json("/api/products/search", "").await).await;
    empty.assert_problem(400, None);
}

#[tokio::test]
async fn wrong_shapes_and_rule_breaks_are_422_naming_the_field() {
    let s = TestServer::start(HttpConfig::default()).await;
    let cases = [
        (r#"{"keywords":"x","page_size":"ten"}"#, "page_size"),
        (r#"{"keywords":"x","page_size":0}"#, "page_size"),
        (r#"{"keywords":"x","page_size":51}"#, "page_size"),
        (r#"{"keywords":"x","page_size":1000}"#, "page_size"),
        (r#"{"keywords":"x","page_size":-5}"#, "page_size"),
        (r#"{"keywords":"x","page_size":null}"#, "page_size"),
        (r#"{"keywords":"x","page_no":0}"#, "page_no"),
        (r#"{"keywords":"x","sort":"cheapest"}"#, "sort"),
        (r#"{"keywords":"x","colour":"red"}"#, "colour"),
        (
            r#"{"keywords":"x","min_sale_price":true}"#,
            "min_sale_price",
        ),
        (
            r#"{"keywords":"x","min_sale_price":"20","max_sale_price":"10"}"#,
            "min_sale_price",
        ),
        (
            r#"{"keywords":"x","target_language":"xx"}"#,
            "target_language",
        ),
        (
            r#"{"keywords":"x","ship_to_country":"USA"}"#,
            "ship_to_country",
        ),
        (r#"{"keywords":""}"#, "keywords"),
        (r#"{}"#, "keywords"),
    ];
    for (body, field) in cases {
        let a = Answer::of(s.post_json("/api/products/search", body).await).await;
        assert_eq!(a.status, 422, "{body}: {}", a.json);
        a.assert_problem(422, Some(field));
    }
    let q = Answer::of(s.get("/api/products/search?keywords=x&page_size=abc").await).await;
    q.assert_problem(422, Some("page_size"));
    let q = Answer::of(s.get("/api/products/search?keywords=x&page_no=0").await).await;
    q.assert_problem(422, Some("page_no"));
    let q = Answer::of(s.get("/api/products/search?keywords=x&foo=1").await).await;
    q.assert_problem(422, Some("foo"));
    assert_eq!(
        s.api.calls(),
        0,
        "invalid requests must never reach the upstream"
    );
}

#[tokio::test]
async fn link_requests_name_the_bad_url() {
    let s = TestServer::start(HttpConfig::default()).await;
    // In a list each URL gets its own result: a foreign URL is answered as such, not refused.
    let body = json!({"urls": ["https://www.aliexpress.com/item/1005006123456789.html", "https://www.amazon.com/dp/B0"]});
    let a = Answer::of(s.post_json("/api/affiliate/links", &body.to_string()).await).await;
    assert_eq!(a.status, 200, "{}", a.json);
    assert_eq!(a.json["data"]["results"][0]["status"], "converted");
    assert_eq!(a.json["data"]["results"][1]["reason"], "not_aliexpress");
    assert!(
        a.json["data"]["results"][1]["detail"]
            .as_str()
            .unwrap()
            .contains("not an AliExpress URL"),
        "{}",
        a.json
    );
    assert_eq!(
        a.json["data"]["affiliate_links"].as_array().unwrap().len(),
        1
    );
    // The one-URL form is that URL: a foreign one is a 422 naming it.
    let a = Answer::of(
        s.get("/api/affiliate/link?url=https%3A%2F%2Fwww.amazon.com%2Fdp%2FB0")
            .await,
    )
    .await;
    a.assert_problem(422, Some("url"));

    let many: Vec<String> = (0..51)
        .map(|i| format!("https://www.aliexpress.com/item/10050061234{i:05}.html"))
        .collect();
    let a = Answer::of(
        s.post_json("/api/affiliate/links", &json!({ "urls": many }).to_string())
            .await,
    )
    .await;
    a.assert_problem(422, Some("urls"));
    assert!(a.json["detail"].as_str().unwrap().contains("at most 50"));

    let a = Answer::of(s.post_json("/api/affiliate/links", r#"{"urls":[]}"#).await).await;
    a.assert_problem(422, Some("urls"));
    let a = Answer::of(
        s.post_json("/api/affiliate/links", r#"{"links":["x"]}"#)
            .await,
    )
    .await;
    a.assert_problem(422, Some("links"));
    let a = Answer::of(
        s.post_json(
            "/api/affiliate/links",
            r#"{"urls":"https://www.aliexpress.com/item/1.html"}"#,
        )
        .await,
    )
    .await;
    a.assert_problem(422, Some("urls"));
    let a = Answer::of(
        s.post_json("/api/affiliate/links", r#"{"urls":["32759108484", 7]}"#)
            .await,
    )
    .await;
    a.assert_problem(422, Some("urls[1]"));
    let a = Answer::of(
        s.post_json(
            "/api/affiliate/links",
            r#"{"urls":["32759108484"],"link_type":"fast"}"#,
        )
        .await,
    )
    .await;
    a.assert_problem(422, Some("link_type"));
}

#[tokio::test]
async fn unknown_paths_and_wrong_methods() {
    let s = TestServer::start(HttpConfig::default()).await;
    let a = Answer::of(s.get("/api/nope").await).await;
    a.assert_problem(404, None);
    let a = Answer::of(
        s.client
            .delete(s.url("/api/products/search"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    a.assert_problem(405, None);
    assert_eq!(a.header("allow"), Some("GET, POST"));
    let head = s.client.head(s.url("/health")).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.text().await.unwrap(), "");
    let a = Answer::of(s.client.put(s.url("/health")).send().await.unwrap()).await;
    assert_eq!(a.status, 405);
    assert_eq!(a.header("allow"), Some("GET"));
}

async fn failing(e: UpstreamError) -> Answer {
    let s = TestServer::start_with(HttpConfig::default(), alistach_domain::ApiMode::Real).await;
    s.api.fail_with(Some(e));
    Answer::of(
        s.post_json("/api/products/search", r#"{"keywords":"earbuds"}"#)
            .await,
    )
    .await
}

#[tokio::test]
async fn upstream_errors_map_to_gateway_statuses() {
    let bad_sig = failing(UpstreamError::SignatureRejected {
        code: "IncompleteSignature".into(),
        message: "bad".into(),
    })
    .await;
    bad_sig.assert_problem(502, None);
    assert_eq!(
        bad_sig.json["upstream"],
        json!({"kind": "signature_rejected", "code": "IncompleteSignature", "retryable": false})
    );

    let creds = failing(UpstreamError::BadCredentials {
        code: "InvalidAppKey".into(),
        message: "no".into(),
    })
    .await;
    creds.assert_problem(502, None);
    assert_eq!(creds.json["upstream"]["kind"], "bad_credentials");

    let limited = failing(UpstreamError::RateLimited {
        retry_after: Some(Duration::from_secs(30)),
        code: "ApiCallLimit".into(),
        message: "banned".into(),
    })
    .await;
    limited.assert_problem(503, None);
    assert_eq!(limited.header("retry-after"), Some("30"));
    assert_eq!(limited.json["retry_after_seconds"], 30);
    assert_eq!(limited.json["upstream"]["retryable"], true);

    let down = failing(UpstreamError::Unavailable {
        reason: "HTTP 502".into(),
    })
    .await;
    down.assert_problem(503, None);
    assert!(down.header("retry-after").is_none());

    let slow = failing(UpstreamError::Timeout).await;
    slow.assert_problem(504, None);
    assert_eq!(
        slow.json["upstream"],
        json!({"kind": "timeout", "retryable": true})
    );

    let junk = failing(UpstreamError::Malformed {
        reason: "not JSON".into(),
    })
    .await;
    junk.assert_problem(502, None);
}

#[tokio::test]
async fn a_stale_entry_stands_in_for_a_failing_upstream() {
    let s = TestServer::start_with(HttpConfig::default(), alistach_domain::ApiMode::Real).await;
    let fresh = Answer::of(
        s.post_json("/api/products/search", r#"{"keywords":"earbuds"}"#)
            .await,
    )
    .await;
    assert_eq!(fresh.status, 200);
    // Past the hour and its revalidation window, within the day of stale-if-error.
    s.clock.advance(Duration::from_secs(3600 + 360 + 5));
    s.api.fail_with(Some(UpstreamError::Unavailable {
        reason: "HTTP 503".into(),
    }));
    let stale = Answer::of(
        s.post_json("/api/products/search", r#"{"keywords":"earbuds"}"#)
            .await,
    )
    .await;
    assert_eq!(stale.status, 200, "{}", stale.json);
    assert_eq!(stale.header("x-cache"), Some("STALE"));
    assert_eq!(stale.json["metadata"]["stale"], true);
    assert_eq!(stale.json["metadata"]["cache_status"], "STALE");
    assert_eq!(
        stale.json["data"]["products"],
        fresh.json["data"]["products"]
    );
    assert_eq!(stale.header("age"), Some("3965"));

    // A rejected credential is not papered over.
    s.api.fail_with(Some(UpstreamError::PermissionDenied {
        code: "InsufficientPermission".into(),
        message: "".into(),
    }));
    let denied = Answer::of(
        s.post_json("/api/products/search", r#"{"keywords":"earbuds"}"#)
            .await,
    )
    .await;
    denied.assert_problem(502, None);
}

#[tokio::test]
async fn a_panicking_handler_is_a_500_and_the_server_lives_on() {
    let s = TestServer::start(HttpConfig::default()).await;
    let a = Answer::of(
        s.post_json("/api/products/search", r#"{"keywords":"panic"}"#)
            .await,
    )
    .await;
    a.assert_problem(500, None);
    assert!(
        !a.json["detail"].as_str().unwrap().contains("scripted"),
        "panic text must not leak"
    );
    let ok = Answer::of(
        s.post_json("/api/products/search", r#"{"keywords":"fine"}"#)
            .await,
    )
    .await;
    assert_eq!(ok.status, 200);
}

#[tokio::test]
async fn oversize_bodies_are_413() {
    let s = TestServer::start(HttpConfig {
        body_limit: 1024,
        ..HttpConfig::default()
    })
    .await;
    let big = format!(r#"{{"keywords":"{}"}}"#, "a".repeat(4096));
    let a = Answer::of(s.post_json("/api/products/search", &big).await).await;
    a.assert_problem(413, None);

    // Without a Content-Length the limit still holds while reading.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(s.base.trim_start_matches("http://"))
        .await
        .unwrap();
    let chunk = "a".repeat(3000);
    let req = format!(
        "POST /api/products/search HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n",
        chunk.len()
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
}

#[tokio::test]
async fn non_ascii_urls_are_422_naming_the_field_not_a_panic() {
    let s = TestServer::start(HttpConfig::default()).await;
    // Each text puts a multi-byte character across the byte where a scheme prefix would end.
    for text in [
        "中文中文",
        "http:中文中文",
        "httpé://x",
        "ht\u{1F600}tps://x",
    ] {
        let encoded: String = form_urlencoded::byte_serialize(text.as_bytes()).collect();
        let a = Answer::of(
            s.get(&format!("/api/products/details?urls={encoded}"))
                .await,
        )
        .await;
        a.assert_problem(422, Some("urls[0]"));
        let a = Answer::of(s.get(&format!("/api/affiliate/link?url={encoded}")).await).await;
        a.assert_problem(422, Some("url"));
        let body = json!({ "urls": [text] }).to_string();
        let a = Answer::of(s.post_json("/api/affiliate/links", &body).await).await;
        assert_eq!(a.status, 200, "{}", a.json);
        assert_eq!(a.json["data"]["results"][0]["status"], "not_converted");
        assert_eq!(a.json["data"]["results"][0]["original_url"], text);
    }
    let a = Answer::of(
        s.get("/api/affiliate/link?url=32759108484&link_type=null")
            .await,
    )
    .await;
    a.assert_problem(422, Some("link_type"));
    assert_eq!(
        s.api.calls(),
        0,
        "invalid requests must never reach the upstream"
    );
}

/// The limits apply to every route before it runs, so every operation of the served document
/// must list them.
#[tokio::test]
async fn limit_answers_are_documented_on_every_operation() {
    let s = TestServer::start(crate::support::admin_config()).await;
    let doc = Answer::of(s.get("/openapi.json").await).await.json;
    let ops = doc["paths"].as_object().unwrap();
    let long_query = format!("?x={}", "a".repeat(9 * 1024));
    let mut checked = 0;
    for (path, methods) in ops {
        for (method, op) in methods.as_object().unwrap() {
            let method =
                reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
            let long = s
                .client
                .request(method.clone(), s.url(&format!("{path}{long_query}")))
                .send()
                .await
                .unwrap();
            Answer::of(long).await.assert_problem(414, None);
            let big = s
                .client
                .request(method, s.url(path))
                .header("x-padding", "a".repeat(17 * 1024))
                .send()
                .await
                .unwrap();
            Answer::of(big).await.assert_problem(431, None);
            for code in ["414", "431"] {
                assert!(op["responses"].get(code).is_some(), "{path} lacks {code}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 15, "only {checked} operations");
}
