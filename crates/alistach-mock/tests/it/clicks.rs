//! Clicks become mock orders: a click on a mock link is one labelled order, paid a little
//! later, listed with the hourly mock orders once its time has come.

use std::collections::HashSet;
use std::time::{SystemTime, UNIX_EPOCH};

use alistach_domain::{
    AffiliateOrder, ClickEvent, ClickListener, Currency, Language, LinkSource, LinkType,
    OrderQuery, OrderSource, OrderStatus, OrderTimeType, Product, ProductId, SubIds,
};
use alistach_mock::{MOCK_CLICK_ORDER_DELAY_MS, MockCatalog, mock_link};

use crate::block_on;

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A product with a hot-product commission.
fn hot_product(mock: &MockCatalog) -> Product {
    mock.products(Currency::USD, Language::EN)
        .into_iter()
        .find(|p| p.hot_commission_rate_percent.is_some())
        .unwrap()
}

/// The mock link for `product` of `link_type`, tagged as variant `variant` of experiment 7.
fn tagged_link(
    mock: &MockCatalog,
    product: ProductId,
    link_type: LinkType,
    variant: &str,
) -> String {
    let source = LinkSource::parse(&product.canonical_url()).unwrap();
    let links = mock.links(&[source], link_type, Some("ab_site")).unwrap();
    SubIds::for_variant(7, variant).append_to(&links[0].promotion_link)
}

fn click(at_ms: i64, product: Option<ProductId>, url: &str) -> ClickEvent {
    ClickEvent {
        at_ms,
        product_id: product,
        tracking_id: "ab_site".to_owned(),
        variant: Some(1),
        url: url.to_owned(),
    }
}

/// Every order of a window, page by page, checking that no order comes twice.
fn list_all(mock: &MockCatalog, start_ms: i64, end_ms: i64, page_size: u32) -> Vec<AffiliateOrder> {
    let query = OrderQuery {
        start_ms,
        end_ms,
        status: OrderStatus::PaymentCompleted,
        time_type: OrderTimeType::PaymentCompleted,
        page_size,
    };
    let mut cursor: Option<String> = None;
    let mut all = Vec::new();
    for _ in 0..10_000 {
        let page = block_on(mock.list_orders(&query, cursor.as_deref())).unwrap();
        assert!(page.orders.len() <= page_size as usize);
        all.extend(page.orders);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => {
                let ids: HashSet<u64> = all.iter().map(|o| o.sub_order_id).collect();
                assert_eq!(ids.len(), all.len(), "no order is listed twice");
                return all;
            }
        }
    }
    panic!("the paging did not end");
}

/// The orders clicks made (the hourly ones carry tracking id `mock`).
fn click_orders(orders: Vec<AffiliateOrder>) -> Vec<AffiliateOrder> {
    orders
        .into_iter()
        .filter(|o| o.tracking_id.as_deref() != Some("mock"))
        .collect()
}

fn tenths(d: alistach_domain::Decimal) -> i64 {
    d.to_minor_units(1).unwrap()
}

#[test]
fn a_click_on_a_hot_link_becomes_one_labelled_order_after_the_delay() {
    let mock = MockCatalog::new();
    let p = hot_product(&mock);
    let hot_url = tagged_link(&mock, p.id, LinkType::Hot, "hot");
    let normal_url = tagged_link(&mock, p.id, LinkType::Normal, "control");
    assert!(hot_url.contains("link_type=2") && hot_url.contains("cn=ab7"));
    let at = now_ms() - 10 * MINUTE_MS;
    mock.clicked(&click(at, Some(p.id), &hot_url));
    mock.clicked(&click(at + 1, Some(p.id), &normal_url));

    let orders = click_orders(list_all(&mock, at - HOUR_MS, now_ms(), 50));
    assert_eq!(orders.len(), 2, "{orders:?}");
    let hot = orders
        .iter()
        .find(|o| o.paid_at_ms == Some(at + MOCK_CLICK_ORDER_DELAY_MS))
        .unwrap();
    let normal = orders
        .iter()
        .find(|o| o.paid_at_ms == Some(at + 1 + MOCK_CLICK_ORDER_DELAY_MS))
        .unwrap();

    assert_eq!(hot.status, "Payment Completed");
    assert_eq!(hot.tracking_id.as_deref(), Some("ab_site"));
    assert_eq!(hot.product_id, Some(p.id.0));
    assert_eq!(
        hot.product_title.as_deref(),
        Some(format!("[MOCK] {}", p.title).as_str())
    );
    assert_eq!(
        hot.category_id,
        p.second_level_category.as_ref().map(|c| c.id.0)
    );
    let paid = p.sale_price.unwrap().amount.to_minor_units(2).unwrap();
    assert_eq!(hot.paid_amount.0, paid);
    assert_eq!(
        hot.custom_parameters,
        SubIds::for_variant(7, "hot").to_custom_parameters()
    );
    assert_eq!(hot.experiment_variant(), Some((7, "hot".to_owned())));
    assert_eq!(normal.experiment_variant(), Some((7, "control".to_owned())));

    // Hot: the product's hot rate when above its normal one, else two points more.
    let normal_rate = tenths(p.commission_rate_percent.unwrap());
    let hot_rate = tenths(p.hot_commission_rate_percent.unwrap()).max(normal_rate + 20);
    assert_eq!(hot.estimated_paid_commission.0, paid * hot_rate / 1000);
    assert_eq!(
        normal.estimated_paid_commission.0,
        paid * normal_rate / 1000
    );
    assert!(hot.estimated_paid_commission > normal.estimated_paid_commission);
    assert_eq!(
        hot.commission_rate.as_deref(),
        Some(format!("{}.{}%", hot_rate / 10, hot_rate % 10).as_str())
    );

    // order.get finds it; hourly mock orders keep their own ids.
    let got = block_on(mock.get_orders(&[hot.sub_order_id, normal.sub_order_id + 10])).unwrap();
    assert_eq!(got, vec![hot.clone()]);
    // A clone shares the clicks; a new catalog has none.
    assert_eq!(
        click_orders(list_all(&mock.clone(), at - HOUR_MS, now_ms(), 50)).len(),
        2
    );
    assert!(click_orders(list_all(&MockCatalog::new(), at - HOUR_MS, now_ms(), 50)).is_empty());
}

#[test]
fn the_same_click_twice_is_one_order_and_unknown_products_are_nothing() {
    let mock = MockCatalog::new();
    let p = hot_product(&mock);
    let url = tagged_link(&mock, p.id, LinkType::Normal, "a");
    let at = now_ms() - 5 * MINUTE_MS;
    mock.clicked(&click(at, Some(p.id), &url));
    mock.clicked(&click(at, Some(p.id), &url));
    let once = click_orders(list_all(&mock, at - HOUR_MS, now_ms(), 50));
    assert_eq!(once.len(), 1);
    // The id is a function of the click: another catalog hearing it makes the same order.
    let other = MockCatalog::new();
    other.clicked(&click(at, Some(p.id), &url));
    assert_eq!(
        click_orders(list_all(&other, at - HOUR_MS, now_ms(), 50)),
        once
    );
    assert!(once[0].sub_order_id > 9_200_000_000_000_000);

    // Unknown products are nothing, whether named by the click or by the link.
    let unknown = ProductId(1_005_000_000_000_001);
    assert!(mock.product(unknown, Currency::USD, Language::EN).is_none());
    mock.clicked(&click(
        at,
        Some(unknown),
        &mock_link(unknown, "t", Some(LinkType::Hot)),
    ));
    mock.clicked(&click(at, None, &mock_link(unknown, "t", None)));
    mock.clicked(&click(at, None, "https://www.aliexpress.com/store/1234"));
    assert_eq!(
        click_orders(list_all(&mock, at - HOUR_MS, now_ms(), 50)).len(),
        1
    );

    // A mock link names its product when the click does not; another time is another order.
    mock.clicked(&click(at, None, &mock_link(p.id, "t", None)));
    mock.clicked(&click(at + 1, Some(p.id), &url));
    let three = click_orders(list_all(&mock, at - HOUR_MS, now_ms(), 50));
    assert_eq!(three.len(), 3);
    assert!(three.iter().all(|o| o.product_id == Some(p.id.0)));
}

#[test]
fn an_order_paid_in_the_future_is_not_listed_yet() {
    let mock = MockCatalog::new();
    let p = hot_product(&mock);
    let url = tagged_link(&mock, p.id, LinkType::Hot, "late");
    // Paid MOCK_CLICK_ORDER_DELAY_MS from now: not yet.
    let at = now_ms();
    mock.clicked(&click(at, Some(p.id), &url));
    let window_end = at + HOUR_MS;
    assert!(click_orders(list_all(&mock, at - HOUR_MS, window_end, 50)).is_empty());
    // A click paid long ago, outside the window, is not listed either.
    let long_ago = at - 30 * HOUR_MS;
    mock.clicked(&click(long_ago, Some(p.id), &url));
    assert!(click_orders(list_all(&mock, at - HOUR_MS, window_end, 50)).is_empty());
    let old = click_orders(list_all(&mock, long_ago - HOUR_MS, long_ago + HOUR_MS, 50));
    assert_eq!(old.len(), 1);
    // The past one is found by id too.
    let ids: Vec<u64> = old.iter().map(|o| o.sub_order_id).collect();
    assert_eq!(block_on(mock.get_orders(&ids)).unwrap(), old);
    // Still nothing for the future click in a window that holds every time of it.
    assert!(click_orders(list_all(&mock, at - 2 * HOUR_MS, window_end, 50)).is_empty());
}

#[test]
fn paging_serves_click_orders_and_hourly_orders_each_once() {
    let mock = MockCatalog::new();
    let p = hot_product(&mock);
    let now = now_ms();
    let (start, end) = (now - 20 * HOUR_MS, now - HOUR_MS);
    for i in 0..23 {
        let url = tagged_link(&mock, p.id, LinkType::Hot, &format!("v{i}"));
        mock.clicked(&click(now - 2 * HOUR_MS - i * MINUTE_MS, Some(p.id), &url));
    }
    let hourly_only = list_all(&MockCatalog::new(), start, end, 5);
    assert!(hourly_only.len() >= 15, "{}", hourly_only.len());
    for page_size in [1, 5, 23, 50] {
        let all = list_all(&mock, start, end, page_size);
        assert_eq!(all.len(), hourly_only.len() + 23, "page size {page_size}");
        let clicks = click_orders(all.clone());
        assert_eq!(clicks.len(), 23);
        let variants: HashSet<String> = clicks
            .iter()
            .map(|o| o.experiment_variant().unwrap().1)
            .collect();
        assert_eq!(variants.len(), 23);
        // Click orders come first, by payment time.
        assert!(
            all[..23]
                .iter()
                .all(|o| o.tracking_id.as_deref() == Some("ab_site"))
        );
        assert!(
            all[..23]
                .windows(2)
                .all(|w| w[0].paid_at_ms <= w[1].paid_at_ms)
        );
    }
    // Other statuses list no click order: they stay Payment Completed.
    let settled = OrderQuery {
        start_ms: start,
        end_ms: end,
        status: OrderStatus::CompletedSettlement,
        time_type: OrderTimeType::PaymentCompleted,
        page_size: 50,
    };
    assert!(
        block_on(mock.list_orders(&settled, None))
            .unwrap()
            .orders
            .is_empty()
    );
    // A broken cursor is refused.
    assert!(block_on(mock.list_orders(&settled, Some("cx.1"))).is_err());
}
