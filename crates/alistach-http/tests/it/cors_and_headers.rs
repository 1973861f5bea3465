//! CORS, security headers and request ids.

use alistach_http::HttpConfig;

use crate::support::{Answer, TestServer};

#[tokio::test]
async fn preflight_from_an_allowed_origin() {
    let s = TestServer::start(HttpConfig::default()).await;
    let resp = s
        .client
        .request(reqwest::Method::OPTIONS, s.url("/api/products/search"))
        .header("origin", "https://chatgpt.com")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type, authorization",
        )
        .send()
        .await
        .unwrap();
    let a = Answer::of(resp).await;
    assert_eq!(a.status, 204);
    assert_eq!(
        a.header("access-control-allow-origin"),
        Some("https://chatgpt.com")
    );
    assert_eq!(a.header("access-control-max-age"), Some("600"));
    assert_eq!(a.header("vary"), Some("Origin"));
    let methods = a.header("access-control-allow-methods").unwrap();
    assert!(
        methods.contains("POST") && methods.contains("GET"),
        "{methods}"
    );
    let headers = a.header("access-control-allow-headers").unwrap();
    for h in [
        "authorization",
        "content-type",
        "x-internal-key",
        "x-admin-key",
        "x-request-id",
    ] {
        assert!(headers.contains(h), "{headers}");
    }
    assert!(a.header("access-control-allow-credentials").is_none());
}

#[tokio::test]
async fn preflight_and_requests_from_other_origins_get_no_cors_headers() {
    let s = TestServer::start(HttpConfig::default()).await;
    let resp = s
        .client
        .request(reqwest::Method::OPTIONS, s.url("/api/products/search"))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    let a = Answer::of(resp).await;
    assert_eq!(a.status, 403);
    assert!(
        a.headers
            .keys()
            .all(|k| !k.as_str().starts_with("access-control-")),
        "{:?}",
        a.headers
    );

    let get = Answer::of(
        s.client
            .get(s.url("/health"))
            .header("origin", "https://evil.example")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(get.status, 200);
    assert!(get.header("access-control-allow-origin").is_none());

    let ok = Answer::of(
        s.client
            .get(s.url("/health"))
            .header("origin", "https://chat.openai.com")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        ok.header("access-control-allow-origin"),
        Some("https://chat.openai.com")
    );
    assert_eq!(ok.header("vary"), Some("Origin"));

    let unknown = Answer::of(
        s.client
            .request(reqwest::Method::OPTIONS, s.url("/nowhere"))
            .header("origin", "https://chatgpt.com")
            .header("access-control-request-method", "GET")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(unknown.status, 404);
}

#[tokio::test]
async fn security_headers_on_every_response() {
    let s = TestServer::start(HttpConfig::default()).await;
    for path in ["/health", "/api/nope", "/api/products/search?page_size=0"] {
        let a = Answer::of(s.get(path).await).await;
        assert_eq!(
            a.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(a.header("referrer-policy"), Some("no-referrer"), "{path}");
        assert_eq!(a.header("x-frame-options"), Some("DENY"), "{path}");
        assert_eq!(a.header("x-alistach-mode"), Some("mock"), "{path}");
    }
    let docs = Answer::of(s.get("/docs").await).await;
    assert_eq!(docs.status, 200);
    assert!(
        docs.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(docs.header("x-frame-options").is_none());
    let csp = docs.header("content-security-policy").unwrap();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(!csp.contains("*"));
    let html = s.get("/docs").await.text().await.unwrap();
    assert!(html.contains("/docs/rapidoc-min.js") && html.contains("/openapi.json"));
    let js = Answer::of(s.get("/docs/rapidoc-min.js").await).await;
    assert_eq!(js.status, 200);
    assert!(
        js.header("content-type")
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(
        js.json.as_str().is_some_and(|t| t.len() > 10_000),
        "the vendored script is served"
    );
}

#[tokio::test]
async fn request_ids_are_echoed_or_made() {
    let s = TestServer::start(HttpConfig::default()).await;
    let a = Answer::of(
        s.client
            .get(s.url("/api/nope"))
            .header("x-request-id", "trace-42.a_b")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(a.header("x-request-id"), Some("trace-42.a_b"));
    assert_eq!(a.json["request_id"], "trace-42.a_b");

    let b = Answer::of(
        s.client
            .get(s.url("/health"))
            .header("x-request-id", "bad id <script>")
            .send()
            .await
            .unwrap(),
    )
    .await;
    let made = b.header("x-request-id").unwrap();
    assert_eq!(made.len(), 16);
    assert!(made.bytes().all(|c| c.is_ascii_hexdigit()));
    let c = Answer::of(s.get("/health").await).await;
    assert_ne!(c.header("x-request-id").unwrap(), made);
    let health = s.app.metrics().route(alistach_api::RouteId::Health);
    assert_eq!((health.requests, health.client_errors), (2, 0));
    assert_eq!(s.app.metrics().total_requests(), 3);
}
