//! The fake gateway from outside, over HTTP: buying through the promotion links it hands out
//! and finding the orders in the order methods.

mod purchase;

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use alistach_testkit::gateway::{FakeConfig, FakeGateway};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const APP_KEY: &str = "12345678";
const APP_SECRET: &str = "helloworld";

async fn fake() -> FakeGateway {
    FakeGateway::start(FakeConfig::new(APP_KEY, APP_SECRET)).await
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// System parameters plus `business`, signed (HMAC-SHA256 over the sorted name+value pairs,
/// uppercase hex), written here rather than borrowed from the fake.
fn signed(method: &str, business: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut p: BTreeMap<String, String> = [
        ("app_key", APP_KEY.to_owned()),
        ("method", method.to_owned()),
        ("timestamp", now_ms().to_string()),
        ("sign_method", "sha256".to_owned()),
        ("format", "json".to_owned()),
        ("v", "2.0".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (k, v) in business {
        p.insert((*k).to_owned(), (*v).to_owned());
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(APP_SECRET.as_bytes()).unwrap();
    for (k, v) in &p {
        if !v.is_empty() {
            mac.update(k.as_bytes());
            mac.update(v.as_bytes());
        }
    }
    let sign: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    p.insert("sign".to_owned(), sign);
    p
}

/// One signed POST to `/sync` (HTTP/1.1, connection closed after), answering the method's
/// `resp_result`.
async fn call(fake: &FakeGateway, method: &str, business: &[(&str, &str)]) -> Value {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(signed(method, business).iter())
        .finish();
    let mut stream = TcpStream::connect(fake.addr()).await.unwrap();
    let request = format!(
        "POST /sync HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded;charset=UTF-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        fake.addr(),
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8(response).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let v: Value = serde_json::from_str(body).unwrap();
    let key = format!("{}_response", method.replace('.', "_"));
    assert!(v.get(&key).is_some(), "{v}");
    v[key]["resp_result"].clone()
}

/// The `result` of a call that must succeed.
async fn result(fake: &FakeGateway, method: &str, business: &[(&str, &str)]) -> Value {
    let r = call(fake, method, business).await;
    assert_eq!(r["resp_code"], 200, "{method}: {r}");
    r["result"].clone()
}

#[tokio::test]
async fn details_answer_the_prices_and_availability_a_test_sets() {
    let fake = fake().await;
    let ids = fake.product_ids();
    let (a, b) = (ids[0], ids[1]);
    let both = format!("{a},{b}");
    let method = "aliexpress.affiliate.productdetail.get";
    let business = [("product_ids", both.as_str()), ("target_currency", "USD")];
    let before = result(&fake, method, &business).await;
    assert_eq!(before["current_record_count"], 2, "{before}");
    fake.set_price(a, 1234);
    let priced = result(&fake, method, &business).await;
    let products = priced["products"]["product"].as_array().unwrap();
    let first = products
        .iter()
        .find(|p| p["product_id"].as_u64() == Some(a) || p["product_id"] == a)
        .unwrap();
    assert_eq!(first["target_sale_price"], "12.34", "{first}");
    fake.set_unavailable(a, true);
    let one = result(&fake, method, &business).await;
    assert_eq!(one["current_record_count"], 1, "{one}");
    fake.set_unavailable(b, true);
    let none = call(&fake, method, &business).await;
    assert_eq!(none["resp_code"], 405, "{none}");
    fake.set_unavailable(a, false);
    let back = result(&fake, method, &business).await;
    assert_eq!(back["current_record_count"], 1, "{back}");
}
