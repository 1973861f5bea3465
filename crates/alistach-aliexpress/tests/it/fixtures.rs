//! Recorded-style fixtures (tests/fixtures) served through the fake and parsed by the client.

use alistach_aliexpress::{
    LinkGenerateRequest, OrderListRequest, OrderStatus, ProductDetailRequest, ProductQueryRequest,
};
use alistach_domain::{CategoryId, Currency, Decimal, Money, ProductId};
use alistach_testkit::gateway::Fault;

use crate::{client, fake};

fn fixture(name: &str) -> String {
    let path = format!("{}/../../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

#[tokio::test]
async fn both_list_forms_parse_to_the_same_products() {
    let fake = fake().await;
    let client = client(&fake);
    fake.fail_next(1, Fault::Body(fixture("product_query_wrapped.json")));
    let wrapped = client
        .product_query(&ProductQueryRequest::keywords("earbuds"))
        .await
        .unwrap();
    fake.fail_next(1, Fault::Body(fixture("product_query_simplified.json")));
    let flat = client
        .product_query(&ProductQueryRequest::keywords("earbuds"))
        .await
        .unwrap();
    assert_eq!(wrapped, flat);
    assert_eq!(wrapped.total_record_count, 5000);
    assert_eq!(wrapped.total_page_no, 100);
    assert_eq!(wrapped.products.len(), 2);
    let first = &wrapped.products[0];
    assert_eq!(first.id, ProductId(1005006123456789));
    assert_eq!(first.image_urls.len(), 2);
    assert_eq!(
        first.sale_price,
        Some(Money::new("17.99".parse().unwrap(), Currency::USD))
    );
    assert_eq!(
        first.app_sale_price,
        Some(Money::new("17.99".parse().unwrap(), Currency::USD))
    );
    assert_eq!(first.discount_percent, Some(Decimal::new(55, 0)));
    assert_eq!(first.rating_percent, Some("96.1".parse().unwrap()));
    assert_eq!(first.sales_volume, Some(5231));
    assert_eq!(first.video_url, None);
    let second = &wrapped.products[1];
    assert_eq!(second.id, ProductId(1005001234567890), "string ids parse");
    assert_eq!(second.sales_volume, Some(812), "string numbers parse");
    assert_eq!(
        second.first_level_category.as_ref().unwrap().id,
        CategoryId(44)
    );
    assert_eq!(second.app_sale_price, None);
}

#[tokio::test]
async fn detail_hot_category_link_promo_and_order_fixtures() {
    let fake = fake().await;
    let client = client(&fake);

    fake.fail_next(1, Fault::Body(fixture("productdetail_get.json")));
    let details = client
        .product_detail(&ProductDetailRequest {
            product_ids: vec![ProductId(1005006123456789)],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(details.len(), 1);
    assert_eq!(
        details[0].sale_price,
        Some(Money::new("15.49".parse().unwrap(), Currency::EUR))
    );
    assert_eq!(details[0].promo_code.as_ref().unwrap().code, "AFFEU3");
    assert_eq!(
        details[0].title,
        "Écouteurs sans fil Bluetooth 5.3 avec réduction de bruit"
    );
    assert!(details[0].video_url.is_some());

    fake.fail_next(1, Fault::Body(fixture("hotproduct_query.json")));
    let hot = client
        .hot_product_query(&ProductQueryRequest::default())
        .await
        .unwrap();
    assert_eq!(
        hot.products[0].hot_commission_rate_percent,
        Some(Decimal::new(20, 0))
    );
    assert_eq!(
        hot.products[0].ship_to_days.as_deref(),
        Some("ship to US in 8 days")
    );

    fake.fail_next(1, Fault::Body(fixture("category_get.json")));
    let categories = client.category_get().await.unwrap();
    assert_eq!(categories.len(), 6);
    assert_eq!(
        categories.iter().filter(|c| c.parent_id.is_none()).count(),
        4
    );

    fake.fail_next(1, Fault::Body(fixture("link_generate.json")));
    let sources = vec![
        "https://www.aliexpress.com/item/1005006123456789.html".to_owned(),
        "https://www.aliexpress.com/item/1005001234567890.html".to_owned(),
    ];
    let links = client
        .link_generate(&LinkGenerateRequest::new(sources.clone()))
        .await
        .unwrap();
    assert_eq!(
        links
            .iter()
            .map(|l| l.source_value.clone())
            .collect::<Vec<_>>(),
        sources,
        "matched by source_value"
    );
    assert_eq!(
        links[0].promotion_link,
        "https://s.click.aliexpress.com/e/_DdWxyz1"
    );

    fake.fail_next(1, Fault::Body(fixture("featuredpromo_get.json")));
    let promos = client.featured_promo_get().await.unwrap();
    assert_eq!(promos[1].product_count, Some(845));

    fake.fail_next(1, Fault::Body(fixture("order_list.json")));
    let orders = client
        .order_list(&OrderListRequest::new(
            "2023-11-01 00:00:00",
            "2023-11-30 23:59:59",
            OrderStatus::PaymentCompleted,
        ))
        .await
        .unwrap();
    let o = &orders.orders[0];
    assert_eq!(o.paid_amount, Some(Decimal::new(1113, 0)));
    assert_eq!(o.estimated_paid_commission, Some(Decimal::new(77, 0)));
    assert_eq!(o.is_affiliate_product, Some(true));
}

#[tokio::test]
async fn empty_and_error_fixtures_classify() {
    let fake = fake().await;
    let client = client(&fake);
    fake.fail_next(1, Fault::Body(fixture("empty_405.json")));
    assert!(
        client
            .product_query(&ProductQueryRequest::keywords("x"))
            .await
            .unwrap()
            .products
            .is_empty()
    );
    let cases = [
        ("publisher_not_registered_401.json", "bad_credentials"),
        ("incomplete_signature.json", "signature_rejected"),
        ("invalid_app_key.json", "bad_credentials"),
        ("app_white_ip_limit.json", "permission_denied"),
        ("insufficient_permission.json", "permission_denied"),
    ];
    for (name, kind) in cases {
        fake.fail_next(1, Fault::Body(fixture(name)));
        let err = client
            .product_query(&ProductQueryRequest::keywords("x"))
            .await
            .unwrap_err();
        assert_eq!(err.upstream().map(|e| e.kind()), Some(kind), "{name}");
    }
    // The ban fixture: rate limited, then (after the 1 s ban) the real answer.
    fake.reset_counts();
    fake.fail_next(1, Fault::Body(fixture("api_call_limit.json")));
    assert!(
        client
            .product_query(&ProductQueryRequest::keywords("earbuds"))
            .await
            .is_ok()
    );
    assert_eq!(fake.total_requests(), 2);
}
