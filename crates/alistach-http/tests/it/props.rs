//! Property tests through the real server: any header value the adapter reads, on any route,
//! and any bytes as a request body or query string, get an answer below 500; errors are problem
//! documents.

use alistach_http::{ApiKey, HttpConfig};
use alistach_policy::TrustedProxies;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::support::TestServer;

/// The headers the adapter reads.
const HEADERS: &[&str] = &[
    "x-request-id",
    "origin",
    "access-control-request-method",
    "authorization",
    "x-internal-key",
    "x-admin-key",
    "x-forwarded-for",
    "content-length",
];

/// Every bytes a header value may hold: visible ASCII, space, tab and obs-text.
fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(
            prop_oneof![Just(b'\t'), 0x20u8..=0x7e, 0x80u8..=0xff],
            0..80
        ),
        "(Bearer |bearer )?[ -~]{0,40}".prop_map(String::into_bytes),
        "([0-9.:a-f]{0,20}, ?){0,3}".prop_map(String::into_bytes),
    ]
}

fn config() -> HttpConfig {
    HttpConfig {
        admin_key: Some(ApiKey::new("admin-secret-0123456789")),
        api_keys: vec![ApiKey::new("internal-secret-0123456789")],
        allowed_origins: vec!["https://chatgpt.com".into()],
        trusted_proxies: TrustedProxies::parse_list("127.0.0.1").unwrap(),
        ..HttpConfig::default()
    }
}

/// (method, path) of every route, and OPTIONS on one.
fn route() -> impl Strategy<Value = (&'static str, &'static str)> {
    let mut all: Vec<(&'static str, &'static str)> = alistach_api::ROUTES
        .iter()
        .map(|r| (r.method, r.path))
        .collect();
    all.push(("OPTIONS", "/api/products/search"));
    proptest::sample::select(all)
}

fn runner() -> (TestRunner, tokio::runtime::Runtime) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let runner = TestRunner::new(Config {
        cases: 256,
        failure_persistence: None,
        ..Config::default()
    });
    (runner, runtime)
}

async fn below_500(resp: reqwest::Response, what: &str) -> Result<(), TestCaseError> {
    below_500_from(resp, what, true).await
}

/// `ours`: the answer comes from the adapter (hyper itself answers a malformed head with a bare
/// 400 before any handler runs).
async fn below_500_from(
    resp: reqwest::Response,
    what: &str,
    ours: bool,
) -> Result<(), TestCaseError> {
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    prop_assert!(status < 500, "{what}: {status}");
    if status >= 400 && ours {
        prop_assert_eq!(
            content_type.as_str(),
            "application/problem+json",
            "{}",
            what
        );
        let body: serde_json::Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
        prop_assert_eq!(body["status"].as_u64(), Some(u64::from(status)), "{}", what);
    }
    Ok(())
}

/// The cases really reached the server.
fn assert_answered(server: &TestServer, at_least: u64) {
    let answered: u64 = server
        .app
        .metrics()
        .report()
        .iter()
        .map(|r| r.counts.requests)
        .sum();
    assert!(answered >= at_least, "only {answered} requests answered");
}

#[test]
fn any_header_value_on_any_route_is_answered_below_500() {
    let (mut runner, rt) = runner();
    let server = rt.block_on(TestServer::start(config()));
    let strategy = (route(), proptest::sample::select(HEADERS), header_value());
    runner
        .run(&strategy, |((method, path), name, value)| {
            let Ok(value) = reqwest::header::HeaderValue::from_bytes(&value) else {
                return Ok(());
            };
            // A Content-Length that does not match the body is refused by the client library.
            if name == "content-length" && method != "POST" {
                return Ok(());
            }
            let what = format!("{method} {path} {name}: {value:?}");
            rt.block_on(async {
                let req = server
                    .client
                    .request(method.parse().unwrap(), server.url(path))
                    .header(name, value.clone());
                match req.send().await {
                    Ok(resp) => below_500_from(resp, &what, name != "content-length").await,
                    // hyper refused the head itself (e.g. a bad Content-Length): a 400 from
                    // hyper, or the connection closed; no handler ran.
                    Err(_) => Ok(()),
                }
            })
        })
        .unwrap();
    assert_answered(&server, 200);
}

#[test]
fn any_bytes_as_body_or_query_on_any_route_are_answered_below_500() {
    let (mut runner, rt) = runner();
    let server = rt.block_on(TestServer::start(config()));
    let strategy = (
        route(),
        proptest::collection::vec(any::<u8>(), 0..200),
        any::<String>(),
        any::<bool>(),
    );
    runner
        .run(&strategy, |((method, path), body, query, authorized)| {
            let what = format!("{method} {path}?{query:?} body {body:?}");
            rt.block_on(async {
                let encoded: String = form_urlencoded::byte_serialize(query.as_bytes()).collect();
                // Raw text as the query: `=` and `&` stay, everything else is escaped.
                let raw = encoded.replace("%3D", "=").replace("%26", "&");
                let mut req = server
                    .client
                    .request(
                        method.parse().unwrap(),
                        server.url(&format!("{path}?{raw}")),
                    )
                    .header("content-type", "application/json")
                    .body(body);
                if authorized {
                    req = req
                        .header("x-internal-key", "internal-secret-0123456789")
                        .header("x-admin-key", "admin-secret-0123456789");
                }
                below_500(req.send().await.unwrap(), &what).await
            })
        })
        .unwrap();
    assert_answered(&server, 200);
}
