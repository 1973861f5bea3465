//! Buying through the links the fake hands out: the order carries the link's tracking id,
//! its sub-ids and the commission of its link type, and the order methods return it.

use alistach_domain::platform_time;
use alistach_testkit::gateway::{
    FakeGateway, HOT_LINK_COMMISSION_BPS, NORMAL_LINK_COMMISSION_BPS, Purchase, PurchaseError,
};
use serde_json::Value;

use crate::{fake, now_ms, result};

/// A product of the fake's catalog (the first hot product).
async fn catalog_product(fake: &FakeGateway) -> u64 {
    let r = result(fake, "aliexpress.affiliate.hotproduct.query", &[]).await;
    r["products"]["product"][0]["product_id"].as_u64().unwrap()
}

/// The link link.generate makes for a product page with `tracking_id` and `link_type`.
async fn generate(fake: &FakeGateway, source: &str, tracking_id: &str, link_type: &str) -> String {
    let r = result(
        fake,
        "aliexpress.affiliate.link.generate",
        &[
            ("promotion_link_type", link_type),
            ("source_values", source),
            ("tracking_id", tracking_id),
        ],
    )
    .await;
    let links = r["promotion_links"]["promotion_link"].as_array().unwrap();
    assert_eq!(links.len(), 1, "{r}");
    assert_eq!(links[0]["source_value"], source);
    links[0]["promotion_link"].as_str().unwrap().to_owned()
}

/// Every order listbyindex returns for `Payment Completed` within an hour of now.
async fn recent_orders(fake: &FakeGateway) -> Vec<Value> {
    let start = platform_time::format(now_ms() - 3_600_000);
    let end = platform_time::format(now_ms() + 3_600_000);
    let mut cursor: Option<String> = None;
    let mut out = Vec::new();
    loop {
        let mut params = vec![
            ("start_time", start.as_str()),
            ("end_time", end.as_str()),
            ("status", "Payment Completed"),
            ("page_size", "2"),
        ];
        if let Some(c) = &cursor {
            params.push(("start_query_index_id", c.as_str()));
        }
        let r = crate::call(fake, "aliexpress.affiliate.order.listbyindex", &params).await;
        if r["resp_code"] == 405 {
            return out;
        }
        assert_eq!(r["resp_code"], 200, "{r}");
        out.extend(r["result"]["orders"]["order"].as_array().unwrap().clone());
        cursor = Some(
            r["result"]["max_query_index_id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
}

fn find(orders: &[Value], sub_order_id: u64) -> &Value {
    orders
        .iter()
        .find(|o| o["sub_order_id"].as_u64() == Some(sub_order_id))
        .unwrap_or_else(|| panic!("order {sub_order_id} not listed: {orders:?}"))
}

fn commission(paid_cents: i64, bps: i64) -> i64 {
    // Rounded down: 12_345 cents at 9 % is 1_111.05.
    paid_cents * bps / 10_000
}

#[tokio::test]
async fn a_purchase_through_a_hot_link_with_sub_ids_comes_back_with_them() {
    let fake = fake().await;
    let product = catalog_product(&fake).await;
    let source = format!("https://www.aliexpress.com/item/{product}.html");
    let hot = generate(&fake, &source, "T_variant", "2").await;
    let normal = generate(&fake, &source, "T_variant", "0").await;
    assert_ne!(hot, normal, "the link type is part of the link");
    let issued = fake.issued_link(&hot).unwrap();
    assert_eq!(issued.product_id, Some(product));
    assert_eq!(issued.tracking_id, "T_variant");

    let hot_id = fake
        .purchase(
            &format!("{hot}?cn=ab1&cv=hot&dp=alistach"),
            Purchase::new(12_345),
        )
        .unwrap();
    let mut two = Purchase::new(12_345);
    two.product_count = 2;
    let normal_id = fake
        .purchase(&format!("{normal}?cn=ab1&cv=control&dp=alistach"), two)
        .unwrap();
    assert_ne!(hot_id, normal_id);

    let orders = recent_orders(&fake).await;
    assert_eq!(
        orders.len(),
        2,
        "only these two orders are recent: {orders:?}"
    );
    let o = find(&orders, hot_id);
    assert_eq!(o["tracking_id"], "T_variant");
    assert_eq!(o["product_id"].as_u64(), Some(product));
    assert_eq!(o["paid_amount"], 12_345);
    assert_eq!(o["commission_rate"], "9.00%");
    assert_eq!(
        o["estimated_paid_commission"].as_i64(),
        Some(commission(12_345, HOT_LINK_COMMISSION_BPS))
    );
    assert_eq!(o["estimated_paid_commission"], 1_111);
    assert_eq!(o["is_hot_product"], "Y");
    let params: Value = serde_json::from_str(o["custom_parameters"].as_str().unwrap()).unwrap();
    assert_eq!(params["cn"], "ab1");
    assert_eq!(params["cv"], "hot");
    assert_eq!(params["dp"], "alistach");
    assert!(params.get("af").is_none());

    let n = find(&orders, normal_id);
    assert_eq!(n["tracking_id"], "T_variant");
    assert_eq!(n["product_count"], 2);
    assert_eq!(n["commission_rate"], "7.00%");
    assert_eq!(
        n["estimated_paid_commission"].as_i64(),
        Some(commission(12_345, NORMAL_LINK_COMMISSION_BPS))
    );
    assert_eq!(n["estimated_paid_commission"], 864);
    assert_eq!(n["is_hot_product"], "N");
    let params: Value = serde_json::from_str(n["custom_parameters"].as_str().unwrap()).unwrap();
    assert_eq!(params["cv"], "control");

    // order.list (page numbers) spells it the same; order.get spells it customer_parameters.
    let start = platform_time::format(now_ms() - 3_600_000);
    let end = platform_time::format(now_ms() + 3_600_000);
    let list = result(
        &fake,
        "aliexpress.affiliate.order.list",
        &[
            ("start_time", &start),
            ("end_time", &end),
            ("status", "Payment Completed"),
        ],
    )
    .await;
    let listed = list["orders"]["order"].as_array().unwrap();
    assert_eq!(
        find(listed, hot_id)["custom_parameters"],
        o["custom_parameters"]
    );
    let got = result(
        &fake,
        "aliexpress.affiliate.order.get",
        &[("order_ids", &hot_id.to_string())],
    )
    .await;
    let got = &got["orders"]["order"][0];
    assert_eq!(got["sub_order_id"].as_u64(), Some(hot_id));
    assert_eq!(got["customer_parameters"], o["custom_parameters"]);
    assert!(got.get("custom_parameters").is_none());
    assert_eq!(got["is_hot_product"], "Y");
}

#[tokio::test]
async fn unknown_or_unusable_links_and_amounts_are_refused() {
    let fake = fake().await;
    let product = catalog_product(&fake).await;
    let source = format!("https://www.aliexpress.com/item/{product}.html");
    let link = generate(&fake, &source, "T", "0").await;

    // A link the fake never issued, with or without sub-ids, is refused.
    let unknown = "https://s.click.aliexpress.com/e/_DZZZZZZ?cn=ab1&cv=a";
    assert!(matches!(
        fake.purchase(unknown, Purchase::new(100)),
        Err(PurchaseError::UnknownLink(l)) if l == "https://s.click.aliexpress.com/e/_DZZZZZZ"
    ));
    // So is an issued link with a changed path.
    assert!(matches!(
        fake.purchase(&format!("{link}x"), Purchase::new(100)),
        Err(PurchaseError::UnknownLink(_))
    ));
    assert!(matches!(
        fake.purchase(&link, Purchase::new(0)),
        Err(PurchaseError::InvalidAmount)
    ));
    let mut bad_time = Purchase::new(100);
    bad_time.paid_time = Some("yesterday".to_owned());
    assert!(matches!(
        fake.purchase(&link, bad_time),
        Err(PurchaseError::InvalidPaidTime(_))
    ));
    assert!(recent_orders(&fake).await.is_empty(), "no order was placed");

    // A store link names no product: the purchase must say which.
    let store = generate(
        &fake,
        "https://www.aliexpress.com/store/1102345678",
        "T",
        "0",
    )
    .await;
    assert_eq!(fake.issued_link(&store).unwrap().product_id, None);
    assert!(matches!(
        fake.purchase(&store, Purchase::new(100)),
        Err(PurchaseError::NoProduct(_))
    ));
    let mut named = Purchase::new(2_000);
    named.product_id = Some(product);
    named.paid_time = Some(platform_time::format(now_ms() - 60_000));
    let id = fake.purchase(&format!("{store}#top"), named).unwrap();
    let orders = recent_orders(&fake).await;
    assert_eq!(orders.len(), 1);
    let o = find(&orders, id);
    assert_eq!(o["product_id"].as_u64(), Some(product));
    assert!(
        o.get("custom_parameters").is_none(),
        "no sub-ids, none: {o}"
    );
    assert_eq!(o["estimated_paid_commission"], 140);
}

#[tokio::test]
async fn a_link_from_a_product_query_can_be_bought_through() {
    let fake = fake().await;
    let r = result(
        &fake,
        "aliexpress.affiliate.product.query",
        &[("category_ids", "44"), ("tracking_id", "site_b")],
    )
    .await;
    let p = &r["products"]["product"][3];
    let product = p["product_id"].as_u64().unwrap();
    let link = p["promotion_link"].as_str().unwrap();
    let issued = fake.issued_link(link).unwrap();
    assert_eq!(issued.product_id, Some(product));
    assert_eq!(issued.tracking_id, "site_b");
    assert!(fake.issued_links() >= 20, "a page of product links");

    let id = fake
        .purchase(&format!("{link}?cv=b&dp=alistach"), Purchase::new(999))
        .unwrap();
    let orders = recent_orders(&fake).await;
    let o = find(&orders, id);
    assert_eq!(o["tracking_id"], "site_b");
    assert_eq!(o["product_id"].as_u64(), Some(product));
    assert_eq!(o["product_title"], p["product_title"]);
    assert_eq!(o["commission_rate"], "7.00%");
    assert_eq!(o["estimated_paid_commission"], 69);
    assert_eq!(o["custom_parameters"], r#"{"cv":"b","dp":"alistach"}"#);

    // A product answer filtered without promotion_link hands no link out.
    let fake = crate::fake().await;
    result(
        &fake,
        "aliexpress.affiliate.productdetail.get",
        &[
            ("product_ids", &product.to_string()),
            ("fields", "product_id"),
        ],
    )
    .await;
    assert_eq!(fake.issued_links(), 0);
    assert!(matches!(
        fake.purchase(link, Purchase::new(999)),
        Err(PurchaseError::UnknownLink(_))
    ));
}
