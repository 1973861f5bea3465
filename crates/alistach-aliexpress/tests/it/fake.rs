//! The fake gateway itself, driven with hand-built requests: routes, parameter merging,
//! validation order, list shapes, `fields`, and link rules.

use std::collections::BTreeMap;

use alistach_aliexpress::signing::{SignMethod, sign};
use alistach_aliexpress::{Clock, SystemClock};
use serde_json::Value;

use crate::{APP_KEY, APP_SECRET, fake};

fn signed(method: &str, business: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut p: BTreeMap<String, String> = [
        ("app_key", APP_KEY.to_owned()),
        ("method", method.to_owned()),
        ("timestamp", SystemClock.now_ms().to_string()),
        ("sign_method", "sha256".to_owned()),
        ("format", "json".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (k, v) in business {
        p.insert((*k).to_owned(), (*v).to_owned());
    }
    let s = sign(
        SignMethod::Sha256,
        APP_SECRET,
        p.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    );
    p.insert("sign".into(), s);
    p
}

fn encode(p: &BTreeMap<String, String>) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(p.iter())
        .finish()
}

async fn post(url: &str, body: String) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(url)
        .header(
            "content-type",
            "application/x-www-form-urlencoded;charset=UTF-8",
        )
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
    let v = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(ct, "application/json;charset=UTF-8");
    (status, v)
}

fn error_code(v: &Value) -> &str {
    v["error_response"]["code"].as_str().unwrap_or("")
}

#[tokio::test]
async fn get_with_everything_in_the_query_string_works() {
    let fake = fake().await;
    let p = signed("aliexpress.affiliate.category.get", &[]);
    let r = reqwest::get(format!("{}?{}", fake.url(), encode(&p)))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let v: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    let root = &v["aliexpress_affiliate_category_get_response"];
    assert_eq!(root["resp_result"]["resp_code"], 200);
    assert!(root["request_id"].as_str().is_some_and(|s| s.len() == 25));
    assert!(
        root["resp_result"]["result"]["categories"]["category"]
            .as_array()
            .is_some_and(|a| a.len() > 20)
    );
}

#[tokio::test]
async fn query_and_body_parameters_merge_and_must_not_collide() {
    let fake = fake().await;
    let p = signed("aliexpress.affiliate.category.get", &[]);
    let system: BTreeMap<String, String> = p
        .iter()
        .filter(|(k, _)| {
            ["app_key", "method", "sign", "sign_method", "timestamp"].contains(&k.as_str())
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let rest: BTreeMap<String, String> = p
        .iter()
        .filter(|(k, _)| !system.contains_key(*k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let (_, v) = post(
        &format!("{}?{}", fake.url(), encode(&system)),
        encode(&rest),
    )
    .await;
    assert_eq!(
        v["aliexpress_affiliate_category_get_response"]["resp_result"]["resp_code"], 200,
        "{v}"
    );

    let mut clash = BTreeMap::new();
    clash.insert("format".to_owned(), "xml".to_owned());
    let (_, v) = post(&format!("{}?{}", fake.url(), encode(&clash)), encode(&p)).await;
    assert_eq!(error_code(&v), "InvalidParameter", "{v}");
}

#[tokio::test]
async fn validation_runs_in_the_platforms_order() {
    let fake = fake().await;
    let url = fake.url();
    // Nothing at all.
    let (status, v) = post(&url, String::new()).await;
    assert_eq!(status, 200);
    assert_eq!(error_code(&v), "MissingParameter");
    assert!(
        v["error_response"]["msg"]
            .as_str()
            .unwrap()
            .contains("\"sign\"")
    );
    // Unknown key beats a bad signature.
    let mut p = signed("aliexpress.affiliate.category.get", &[]);
    p.insert("app_key".into(), "1".into());
    assert_eq!(error_code(&post(&url, encode(&p)).await.1), "InvalidAppKey");
    // Unknown method beats the signature too.
    let p = signed("aliexpress.affiliate.no.such", &[]);
    assert_eq!(
        error_code(&post(&url, encode(&p)).await.1),
        "InvalidApiPath"
    );
    // Then the timestamp window.
    // (Correctly signed, so only the old timestamp is wrong.)
    let p = signed(
        "aliexpress.affiliate.category.get",
        &[("timestamp", "1700000000000")],
    );
    assert_eq!(
        error_code(&post(&url, encode(&p)).await.1),
        "InvalidTimestamp"
    );
    // Then the signature: lowercase hex of the right digest is still wrong.
    let mut p = signed("aliexpress.affiliate.category.get", &[]);
    let lower = p["sign"].to_lowercase();
    p.insert("sign".into(), lower);
    assert_eq!(
        error_code(&post(&url, encode(&p)).await.1),
        "IncompleteSignature"
    );
    // A tampered parameter after signing.
    let mut p = signed(
        "aliexpress.affiliate.product.query",
        &[("keywords", "yoga mat")],
    );
    p.insert("keywords".into(), "yoga mats".into());
    assert_eq!(
        error_code(&post(&url, encode(&p)).await.1),
        "IncompleteSignature"
    );
    assert_eq!(fake.rejected_signatures(), 2);
}

#[tokio::test]
async fn unknown_routes_fail_loudly_and_rest_is_not_for_business_methods() {
    let fake = fake().await;
    let r = reqwest::get(format!("{}/router/rest", fake.base_url()))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    assert_eq!(
        r.text().await.unwrap(),
        "unexpected request: GET /router/rest"
    );
    let (status, v) = post(
        &format!(
            "{}/rest/aliexpress.affiliate.product.query",
            fake.base_url()
        ),
        String::new(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(v["code"], "InvalidApiPath");
    assert!(v["message"].is_string());
}

#[tokio::test]
async fn simplify_flattens_lists_and_fields_drop_the_rest() {
    let fake = fake().await;
    let p = signed(
        "aliexpress.affiliate.product.query",
        &[
            ("keywords", "yoga mat"),
            ("simplify", "true"),
            ("fields", "product_id,product_small_image_urls"),
        ],
    );
    let (_, v) = post(&fake.url(), encode(&p)).await;
    let products =
        &v["aliexpress_affiliate_product_query_response"]["resp_result"]["result"]["products"];
    let first = products.as_array().expect("flat list")[0]
        .as_object()
        .unwrap();
    assert_eq!(
        first.keys().collect::<Vec<_>>(),
        ["product_id", "product_small_image_urls"]
    );
    assert!(first["product_small_image_urls"].is_array());

    let p = signed(
        "aliexpress.affiliate.product.query",
        &[("keywords", "yoga mat")],
    );
    let (_, v) = post(&fake.url(), encode(&p)).await;
    let products =
        &v["aliexpress_affiliate_product_query_response"]["resp_result"]["result"]["products"];
    assert!(
        products["product"][0]["product_small_image_urls"]["string"].is_array(),
        "wrapped by default"
    );
    assert!(
        products["product"][0]["promotion_link"]
            .as_str()
            .unwrap()
            .starts_with("https://s.click.aliexpress.com/e/_")
    );
}

#[tokio::test]
async fn business_rules_of_link_generate_and_product_query() {
    let fake = fake().await;
    let url = fake.url();
    let source = "https://www.aliexpress.com/item/1005006123456789.html";
    let p = signed(
        "aliexpress.affiliate.link.generate",
        &[
            ("promotion_link_type", "1"),
            ("source_values", source),
            ("tracking_id", "t"),
        ],
    );
    assert_eq!(
        error_code(&post(&url, encode(&p)).await.1),
        "InvalidParameter"
    );
    let p = signed(
        "aliexpress.affiliate.link.generate",
        &[("promotion_link_type", "0"), ("source_values", source)],
    );
    let (_, v) = post(&url, encode(&p)).await;
    assert_eq!(error_code(&v), "MissingParameter");
    assert!(
        v["error_response"]["msg"]
            .as_str()
            .unwrap()
            .contains("tracking_id")
    );
    let many = vec![source; 51].join(",");
    let p = signed(
        "aliexpress.affiliate.link.generate",
        &[
            ("promotion_link_type", "0"),
            ("source_values", &many),
            ("tracking_id", "t"),
        ],
    );
    assert_eq!(
        error_code(&post(&url, encode(&p)).await.1),
        "InvalidParameter"
    );
    let p = signed(
        "aliexpress.affiliate.link.generate",
        &[
            ("promotion_link_type", "0"),
            ("source_values", source),
            ("tracking_id", "t"),
        ],
    );
    let (_, v) = post(&url, encode(&p)).await;
    let result = &v["aliexpress_affiliate_link_generate_response"]["resp_result"]["result"];
    assert_eq!(result["tracking_id"], "t");
    assert_eq!(result["total_result_count"], 1);

    // No criterion at all: the 402 one project observed.
    let p = signed("aliexpress.affiliate.product.query", &[]);
    let (_, v) = post(&url, encode(&p)).await;
    assert_eq!(
        v["aliexpress_affiliate_product_query_response"]["resp_result"]["resp_code"],
        402
    );
    // Oversized pages are capped at 50.
    let p = signed(
        "aliexpress.affiliate.product.query",
        &[("category_ids", "44,3,66"), ("page_size", "500")],
    );
    let (_, v) = post(&url, encode(&p)).await;
    let result = &v["aliexpress_affiliate_product_query_response"]["resp_result"]["result"];
    assert_eq!(result["current_record_count"], 50);
    let p = signed(
        "aliexpress.affiliate.product.query",
        &[("keywords", "mat"), ("target_currency", "XYZ")],
    );
    assert_eq!(
        error_code(&post(&url, encode(&p)).await.1),
        "InvalidParameter"
    );
    let p = signed(
        "aliexpress.affiliate.product.smartmatch",
        &[("keywords", "mat")],
    );
    assert_eq!(
        error_code(&post(&url, encode(&p)).await.1),
        "MissingParameter"
    );
}
