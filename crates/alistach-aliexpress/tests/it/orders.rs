//! The order methods against the fake's order book: order.list with time types,
//! order.listbyindex's cursor paging, order.get's parameter spelling, and the OrderSource
//! port (exact cents, PST to UTC).

use alistach_aliexpress::methods::{ORDER_GET, ORDER_LIST, ORDER_LIST_BY_INDEX};
use alistach_aliexpress::{OrderListByIndexRequest, OrderListRequest, OrderStatus, OrderTimeType};
use alistach_domain::{
    ApiMode, Cents, OrderQuery, OrderSource, OrderTimeType as TimeType, platform_time,
};
use alistach_testkit::gateway::{NewOrder, SignatureCheck};

use crate::{client, fake};

const PRODUCT: u64 = 1_005_006_000_000_001;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn window() -> (String, String) {
    let now = now_ms();
    (
        platform_time::format(now - 3_600_000),
        platform_time::format(now + 60_000),
    )
}

#[tokio::test]
async fn listbyindex_pages_by_cursor_until_a_short_page() {
    let fake = fake().await;
    let client = client(&fake);
    let mut placed = Vec::new();
    for i in 0..7 {
        placed.push(fake.place_order(NewOrder::new(PRODUCT, 1000 + i, 70 + i)));
    }
    let (start, end) = window();
    let mut request = OrderListByIndexRequest::new(&start, &end, OrderStatus::PaymentCompleted);
    request.page_size = Some(3);
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = client.order_list_by_index(&request).await.unwrap();
        pages += 1;
        seen.extend(page.orders.iter().map(|o| o.sub_order_id.unwrap()));
        if page.orders.len() < 3 {
            break;
        }
        request.start_query_index_id = page.max_query_index_id.clone();
        assert!(pages < 10, "the cursor moves forward");
    }
    assert_eq!(seen, placed, "every order once, in index order");
    assert_eq!(pages, 3);
    let sent = fake.last_request(ORDER_LIST_BY_INDEX).unwrap();
    assert_eq!(sent.signature, SignatureCheck::Valid);
    assert_eq!(sent.params["status"], "Payment Completed");
    assert_eq!(sent.params["page_size"], "3");
    assert!(sent.params.contains_key("start_query_index_id"));
    assert!(!sent.params.contains_key("page_no"));

    let mut bad = OrderListByIndexRequest::new(&start, &end, OrderStatus::Invalid);
    bad.start_query_index_id = Some("1,2".into());
    let err = client.order_list_by_index(&bad).await.unwrap_err();
    assert!(err.to_string().contains("start_query_index_id"), "{err}");
}

#[tokio::test]
async fn time_types_select_orders_by_the_time_of_their_status() {
    let fake = fake().await;
    let client = client(&fake);
    let a = fake.place_order(NewOrder::new(PRODUCT, 500, 35));
    let b = fake.place_order(NewOrder::new(PRODUCT, 600, 42));
    assert!(fake.set_order_status(b, "Buyer Confirmed Receipt"));
    assert!(!fake.set_order_status(b, "Shipped"));
    let (start, end) = window();
    let mut r = OrderListRequest::new(&start, &end, OrderStatus::BuyerConfirmedReceipt);
    r.time_type = Some(OrderTimeType::BuyerConfirmedReceipt);
    let page = client.order_list(&r).await.unwrap();
    let ids: Vec<u64> = page.orders.iter().filter_map(|o| o.sub_order_id).collect();
    assert_eq!(ids, vec![b]);
    assert_eq!(page.orders[0].finished_amount, Some("600".parse().unwrap()));
    let sent = fake.last_request(ORDER_LIST).unwrap();
    assert_eq!(sent.params["time_type"], "Buyer Confirmed Receipt Time");
    let paid = client
        .order_list(&OrderListRequest::new(
            &start,
            &end,
            OrderStatus::PaymentCompleted,
        ))
        .await
        .unwrap();
    let ids: Vec<u64> = paid.orders.iter().filter_map(|o| o.sub_order_id).collect();
    assert_eq!(ids, vec![a], "b is no longer Payment Completed");
}

#[tokio::test]
async fn order_get_reads_customer_parameters() {
    let fake = fake().await;
    let client = client(&fake);
    let mut order = NewOrder::new(PRODUCT, 1113, 77);
    order.custom_parameters = Some(r#"{"cv":"hot"}"#.into());
    let id = fake.place_order(order);
    let got = client.order_get(&[id, id, 42]).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].custom_parameters.as_deref(), Some(r#"{"cv":"hot"}"#));
    let sent = fake.last_request(ORDER_GET).unwrap();
    assert_eq!(sent.params["order_ids"], format!("{id},42"), "deduplicated");
    assert_eq!(sent.signature, SignatureCheck::Valid);
    assert!(client.order_get(&[]).await.is_err());
    assert!(client.order_get(&[42]).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_order_source_port_answers_exact_cents_and_utc_times() {
    let fake = fake().await;
    let client = client(&fake);
    let source: &dyn OrderSource = &client;
    assert_eq!(source.mode(), ApiMode::Real);
    let mut first = None;
    for i in 0..5 {
        let mut o = NewOrder::new(PRODUCT, 1113 + i, 77);
        o.tracking_id = "port".into();
        let id = fake.place_order(o);
        first.get_or_insert(id);
    }
    let now = now_ms();
    let query = OrderQuery {
        start_ms: now - 3_600_000,
        end_ms: now + 60_000,
        status: OrderStatus::PaymentCompleted,
        time_type: TimeType::PaymentCompleted,
        page_size: 2,
    };
    let mut cursor: Option<String> = None;
    let mut all = Vec::new();
    loop {
        let page = source.list_orders(&query, cursor.as_deref()).await.unwrap();
        all.extend(page.orders);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(all.len(), 5);
    let o = &all[0];
    assert_eq!(Some(o.sub_order_id), first);
    assert_eq!(o.paid_amount, Cents(1113));
    assert_eq!(o.paid_amount.to_decimal().to_string(), "11.13");
    assert_eq!(o.estimated_paid_commission, Cents(77));
    assert_eq!(o.tracking_id.as_deref(), Some("port"));
    let paid = o.paid_at_ms.unwrap();
    assert!(
        (now - paid).abs() < 120_000,
        "PST text read back as UTC: {paid} vs {now}"
    );
    let got = source.get_orders(&[o.sub_order_id]).await.unwrap();
    assert_eq!(got, vec![o.clone()], "order.get agrees with the list");
    let bad = OrderQuery {
        page_size: 0,
        ..query
    };
    assert!(source.list_orders(&bad, None).await.is_err());
}
