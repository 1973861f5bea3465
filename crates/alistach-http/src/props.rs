//! Property tests: every parser of client input in the adapter (JSON bodies, query strings, the
//! api → domain conversion, the request-id header) takes arbitrary bytes and Unicode without
//! panicking, and refuses what it cannot use with a 400 or a 422 that names the field.

use alistach_api::types as api;
use alistach_domain::Listing;
use alistach_service::CacheKind;
use hyper::header::{HeaderMap, HeaderValue};
use proptest::prelude::*;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::config::HttpConfig;
use crate::convert::{self, json_body, query_params};
use crate::error::HttpError;
use crate::pipeline::request_id;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Every field name of every request type, so arbitrary values land on real fields.
const FIELDS: &[&str] = &[
    "keywords",
    "category_ids",
    "page_size",
    "page_no",
    "sort",
    "min_sale_price",
    "max_sale_price",
    "target_currency",
    "target_language",
    "ship_to_country",
    "product_ids",
    "urls",
    "url",
    "link_type",
    "pattern",
    "product_id",
    "promotion_name",
    "category_id",
    "parent_id",
];

/// Text that mixes the characters parsers cut at with multi-byte ones.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9a-zA-Z:/.?&=%,+ _é中\u{1F600}-]{0,40}",
        "(https?://)?(www\\.)?aliexpress\\.(com|ru)/item/[0-9é]{0,20}\\.html[?&=,é中]{0,6}",
        Just("null".to_owned()),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        text().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((field_name(), inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(FIELDS).prop_map(str::to_owned),
        1 => any::<String>(),
    ]
}

/// A JSON object whose keys are mostly real fields.
fn json_object() -> impl Strategy<Value = Value> {
    proptest::collection::vec((field_name(), json_value()), 0..8)
        .prop_map(|pairs| Value::Object(pairs.into_iter().collect()))
}

/// A query string built from real and arbitrary names and values, raw or percent-encoded.
fn query_string() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        proptest::collection::vec((field_name(), text(), any::<bool>()), 0..8).prop_map(|pairs| {
            pairs
                .into_iter()
                .map(|(k, v, encode)| {
                    if encode {
                        form_urlencoded::Serializer::new(String::new())
                            .append_pair(&k, &v)
                            .finish()
                    } else {
                        format!("{k}={v}")
                    }
                })
                .collect::<Vec<_>>()
                .join("&")
        }),
    ]
}

/// An error for bad client input: 400 for a body that is not JSON, else a 422 naming a field.
fn is_client_error(e: &HttpError) -> Result<(), TestCaseError> {
    match e {
        HttpError::MalformedJson(detail) => {
            prop_assert!(!detail.is_empty());
            prop_assert_eq!(e.status().as_u16(), 400);
        }
        _ => {
            let (field, rule) = e
                .field_error()
                .ok_or_else(|| TestCaseError::fail(format!("{e:?} names no field")))?;
            prop_assert!(!field.is_empty() && !rule.is_empty(), "{:?}", e);
            prop_assert_eq!(e.status().as_u16(), 422, "{:?}", e);
            prop_assert!(e.detail().contains(&field), "{:?}", e);
        }
    }
    Ok(())
}

fn check<T>(r: Result<T, HttpError>) -> Result<Option<T>, TestCaseError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) => is_client_error(&e).map(|()| None),
    }
}

/// Every request type from one body, and each accepted one through its conversion.
fn every_body(body: &[u8]) -> Result<(), TestCaseError> {
    let cfg = HttpConfig::default();
    if let Some(req) = check(json_body::<api::SearchRequest>(
        body,
        &["page_size", "page_no"],
    ))? {
        search(&req, &cfg)?;
    }
    if let Some(req) = check(json_body::<api::AffiliateLinksRequest>(body, &["urls"]))? {
        check(convert::link_request(&req.urls, req.link_type.as_deref()))?;
    }
    // The query types deserialise the same way (query strings become JSON objects of strings).
    check(json_body::<api::ProductDetailsQuery>(body, &[]))?;
    check(json_body::<api::AffiliateLinkQuery>(body, &[]))?;
    check(json_body::<api::CacheClearQuery>(body, &[]))?;
    Ok(())
}

fn search(req: &api::SearchRequest, cfg: &HttpConfig) -> Result<(), TestCaseError> {
    for listing in [Listing::Search, Listing::Hot] {
        if let Some(q) = check(convert::search_query(
            req,
            convert::Defaults::of(cfg),
            listing,
            None,
        ))? {
            // Parsing is idempotent: the normal form parses to itself.
            prop_assert_eq!(q.to_draft().parse(listing), Ok(q.clone()));
            let _ = convert::search_params(&q);
        }
    }
    Ok(())
}

/// Every query type from one query string, and each accepted one through its conversion.
fn every_query(query: &str) -> Result<(), TestCaseError> {
    let cfg = HttpConfig::default();
    let parse = |numeric| query_params_any::<api::SearchRequest>(query, numeric);
    if let Some(req) = check(parse(&["page_size", "page_no"]))? {
        search(&req, &cfg)?;
    }
    if let Some(req) = check(query_params_any::<api::ProductDetailsQuery>(query, &[]))?
        && let Some(q) = check(convert::details_query(&req, convert::Defaults::of(&cfg)))?
    {
        check(q.validate().map_err(HttpError::from))?;
    }
    if let Some(req) = check(query_params_any::<api::AffiliateLinkQuery>(query, &[]))? {
        check(convert::link_request_one(
            &req.url,
            req.link_type.as_deref(),
        ))?;
    }
    if let Some(req) = check(query_params_any::<api::CacheClearQuery>(query, &[]))?
        && let Some(p) = req.pattern.as_deref()
    {
        check(p.parse::<CacheKind>().map_err(HttpError::from))?;
    }
    if let Some(req) = check(query_params_any::<api::SimilarProductsQuery>(
        query,
        &["page_no"],
    ))? && let Some(q) = check(convert::similar_query(&req, convert::Defaults::of(&cfg)))?
    {
        check(q.validate().map_err(HttpError::from))?;
    }
    if let Some(req) = check(query_params_any::<api::PromotionProductsQuery>(
        query,
        &["page_size", "page_no"],
    ))? && let Some(q) = check(convert::promotion_query(&req, convert::Defaults::of(&cfg)))?
    {
        // The normal form is a fixed point and valid.
        prop_assert_eq!(q.normalized(), q.clone());
        check(q.validate().map_err(HttpError::from))?;
        let _ = convert::promotion_params(&q);
    }
    if let Some(req) = check(query_params_any::<api::CategoriesQuery>(query, &[]))? {
        check(convert::parent_id(&req))?;
    }
    Ok(())
}

fn query_params_any<T: DeserializeOwned>(q: &str, numeric: &[&str]) -> Result<T, HttpError> {
    query_params(Some(q), numeric)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_as_a_body_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        every_body(&bytes)?;
    }

    #[test]
    fn arbitrary_json_values_as_a_body_never_panic(value in json_value()) {
        every_body(&serde_json::to_vec(&value).unwrap())?;
    }

    #[test]
    fn arbitrary_json_objects_as_a_body_never_panic(value in json_object()) {
        every_body(&serde_json::to_vec(&value).unwrap())?;
    }

    #[test]
    fn arbitrary_query_strings_never_panic(query in query_string()) {
        every_query(&query)?;
    }

    #[test]
    fn arbitrary_url_lists_never_panic(urls in proptest::collection::vec(text(), 0..60), link_type in proptest::option::of(text())) {
        check(convert::link_request(&urls, link_type.as_deref()))?;
        let list = urls.join(",");
        let req = api::ProductDetailsQuery { urls: Some(list), ..Default::default() };
        check(convert::details_query(&req, convert::Defaults::of(&HttpConfig::default())))?;
    }

    #[test]
    fn valid_searches_round_trip_through_a_query_string(
        keywords in "[a-zA-Z0-9 é中&=+%]{1,40}",
        page_size in 1u32..=50,
        page_no in 1u32..=100,
        min in 0u32..1000,
    ) {
        let req = api::SearchRequest {
            keywords: Some(keywords),
            page_size: Some(page_size),
            page_no: Some(page_no),
            min_sale_price: Some(api::PriceInput::new(format!("{min}.5"))),
            ..Default::default()
        };
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (k, v) in serde_json::to_value(&req).unwrap().as_object().unwrap() {
            query.append_pair(k, &v.as_str().map_or_else(|| v.to_string(), str::to_owned));
        }
        let back: api::SearchRequest = query_params(Some(&query.finish()), &["page_size", "page_no"]).unwrap();
        prop_assert_eq!(&back, &req);
        let body: api::SearchRequest = json_body(&serde_json::to_vec(&req).unwrap(), &["page_size", "page_no"]).unwrap();
        prop_assert_eq!(body, req);
    }

    #[test]
    fn request_ids_are_kept_when_sane_and_replaced_otherwise(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        let mut h = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_bytes(&bytes) {
            h.insert("x-request-id", v);
        }
        let id = request_id(&h);
        let sane = !bytes.is_empty()
            && bytes.len() <= 64
            && bytes.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if sane {
            prop_assert_eq!(id.as_bytes(), &bytes[..]);
        } else {
            prop_assert_eq!(id.len(), 16);
            prop_assert!(id.as_bytes().iter().all(|b| b.is_ascii_hexdigit()));
        }
    }
}

/// The application in mock mode, answering in process.
fn mock_app() -> &'static crate::app::App {
    static APP: std::sync::OnceLock<crate::app::App> = std::sync::OnceLock::new();
    APP.get_or_init(|| {
        let clock = std::sync::Arc::new(alistach_cache::SystemClock);
        let cache = alistach_cache::MemoryCache::new(Default::default(), clock.clone()).unwrap();
        let catalog = alistach_service::Catalog::new(
            std::sync::Arc::new(alistach_mock::MockCatalog::new()),
            std::sync::Arc::new(cache),
            clock,
            Default::default(),
        );
        crate::app::App::new(catalog, HttpConfig::default())
    })
}

/// POSTs `body` to `/mcp` in process and returns the status and the body.
fn post_mcp(body: Vec<u8>, version: &'static str) -> (u16, Vec<u8>) {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    let rt = RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    });
    rt.block_on(async {
        let req = hyper::Request::post("/mcp")
            .header("host", "127.0.0.1:8000")
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .header("mcp-protocol-version", version)
            .body(http_body_util::Full::new(bytes::Bytes::from(body)))
            .unwrap();
        let resp = mock_app().handle(req).await;
        let status = resp.status().as_u16();
        (status, resp.into_body().to_vec())
    })
}

const TOOL_NAMES: &[&str] = &[
    "find_similar_products",
    "list_promotions",
    "get_promotion_products",
    "search_products",
    "get_product_details",
    "get_hot_products",
    "list_categories",
    "create_affiliate_links",
    "no_such_tool",
];

const VERSIONS: &[&str] = &["2025-06-18", "2025-11-25", "2026-07-28"];

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..config() })]

    /// Any JSON body, and any arguments to any tool, get a 4xx or a JSON-RPC answer: never a
    /// 5xx, never a panic; a tool call with a well-formed envelope is always answered with a
    /// result (possibly `isError`) or a JSON-RPC error.
    #[test]
    fn arbitrary_mcp_bodies_and_tool_arguments_never_fail_the_endpoint(
        body in json_value(),
        args in json_object(),
        tool in proptest::sample::select(TOOL_NAMES),
        version in proptest::sample::select(VERSIONS),
        wrap in any::<bool>(),
    ) {
        let body = if wrap {
            serde_json::json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call",
                               "params": {"name": tool, "arguments": args}})
        } else {
            body
        };
        let (status, answer) = post_mcp(serde_json::to_vec(&body).unwrap(), version);
        prop_assert!(status < 500, "{status} for {body}: {}", String::from_utf8_lossy(&answer));
        if wrap && version != "2026-07-28" {
            prop_assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
            let v: Value = serde_json::from_slice(&answer).unwrap();
            prop_assert!(v.get("result").is_some() || v.get("error").is_some(), "{v}");
        }
    }
}
