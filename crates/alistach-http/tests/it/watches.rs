//! The product watch admin endpoints: add, list, delete, and their problem documents.

use crate::support::{Answer, TestServer, admin_config};

async fn send(s: &TestServer, method: reqwest::Method, path: &str, body: Option<&str>) -> Answer {
    let mut req = s
        .client
        .request(method, s.url(path))
        .bearer_auth("admin-secret");
    if let Some(body) = body {
        req = req
            .header("content-type", "application/json")
            .body(body.to_owned());
    }
    Answer::of(req.send().await.unwrap()).await
}

#[tokio::test]
async fn watches_are_added_listed_and_deleted_by_the_admin() {
    let s = TestServer::start(admin_config()).await;
    let by_url = send(
        &s,
        reqwest::Method::POST,
        "/api/admin/watches",
        Some(
            r#"{"url":"https://www.aliexpress.com/item/1005006123456789.html",
                "target_price":"19.990","currency":"eur","ship_to_country":"de"}"#,
        ),
    )
    .await;
    assert_eq!(by_url.status, 201, "{}", by_url.json);
    let data = &by_url.json["data"];
    assert_eq!(data["product_id"], "1005006123456789");
    assert_eq!(data["target_price"], "19.99");
    assert_eq!(data["currency"], "EUR");
    assert_eq!(data["ship_to_country"], "DE");
    assert_eq!(data["available"], serde_json::Value::Null);
    let by_id = send(
        &s,
        reqwest::Method::POST,
        "/api/admin/watches",
        Some(r#"{"product_id":"1005006000000001","price_drop_percent":10}"#),
    )
    .await;
    assert_eq!(by_id.status, 201, "{}", by_id.json);
    assert_eq!(by_id.json["data"]["currency"], "USD");

    let list = send(&s, reqwest::Method::GET, "/api/admin/watches", None).await;
    assert_eq!(list.status, 200);
    let ids: Vec<u64> = list.json["data"]["watches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_u64().unwrap())
        .collect();
    let first = data["id"].as_u64().unwrap();
    let second = by_id.json["data"]["id"].as_u64().unwrap();
    assert_eq!(ids, vec![first, second]);

    let gone = send(
        &s,
        reqwest::Method::DELETE,
        &format!("/api/admin/watches/{first}"),
        None,
    )
    .await;
    assert_eq!(gone.status, 200, "{}", gone.json);
    assert_eq!(gone.json["data"]["deleted"], true);
    send(
        &s,
        reqwest::Method::DELETE,
        &format!("/api/admin/watches/{first}"),
        None,
    )
    .await
    .assert_problem(404, None);
    send(&s, reqwest::Method::DELETE, "/api/admin/watches/abc", None)
        .await
        .assert_problem(404, None);
    let list = send(&s, reqwest::Method::GET, "/api/admin/watches", None).await;
    assert_eq!(list.json["data"]["watches"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn invalid_watches_are_422_naming_the_field_and_the_key_is_needed() {
    let s = TestServer::start(admin_config()).await;
    for (body, field) in [
        (r#"{}"#, "product_id"),
        (
            r#"{"product_id":"1","url":"https://www.aliexpress.com/item/1.html"}"#,
            "product_id",
        ),
        (r#"{"url":"https://example.com/item/1.html"}"#, "product_id"),
        (
            r#"{"product_id":"1005006000000001","price_drop_percent":100}"#,
            "price_drop_percent",
        ),
        (
            r#"{"product_id":"1005006000000001","target_price":"0"}"#,
            "target_price",
        ),
        (
            r#"{"product_id":"1005006000000001","currency":"XXX"}"#,
            "currency",
        ),
    ] {
        send(&s, reqwest::Method::POST, "/api/admin/watches", Some(body))
            .await
            .assert_problem(422, Some(field));
    }
    let anonymous = Answer::of(s.get("/api/admin/watches").await).await;
    anonymous.assert_problem(401, None);
}
