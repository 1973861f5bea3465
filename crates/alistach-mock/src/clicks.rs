//! Clicks become mock orders: the mock catalog is a [`ClickListener`], and in mock mode a
//! click on a link to a product it holds turns, [`MOCK_CLICK_ORDER_DELAY_MS`] later, into one
//! labelled mock order, so an A/B experiment of link strategies shows revenue by variant
//! without the platform.
//!
//! The order is a function of the click alone (its URL, product and time), so the same click
//! heard twice is one order:
//! - paid [`MOCK_CLICK_ORDER_DELAY_MS`] after the click, status `Payment Completed` (it stays
//!   so: click orders do not progress), one unit at the product's USD sale price;
//! - tracking id: the click's; title `[MOCK] <English title>`; category: the product's leaf;
//! - commission: the product's rate for a normal link; for a hot link (`link_type=2` in the
//!   URL's query, as [`crate::mock_link`] writes it) the product's hot rate when it is above
//!   the normal one, else the normal rate plus two points, so hot links always earn more;
//! - `custom_parameters`: the sub-ids of the URL ([`SubIds::from_url`]), none without;
//! - sub-order ids from `9_200_000_000_000_001` up, above every hourly mock order's.
//!
//! The product is the click's, or else the one a mock link's path names
//! (`.../aff/<id>?...`); a click on anything else is ignored. At most
//! [`MAX_CLICK_ORDERS`] click orders are kept, the oldest heard forgotten first.

use std::collections::{HashMap, VecDeque};
use std::sync::MutexGuard;

use alistach_domain::{
    AffiliateOrder, Cents, ClickEvent, ClickListener, OrderStatus, ProductId, SubIds,
};

use crate::catalog::Item;
use crate::rng::fnv1a;
use crate::vocab::TOPS;
use crate::{MOCK_LINK_PREFIX, MockCatalog};

/// How long after a click its mock order is paid.
pub const MOCK_CLICK_ORDER_DELAY_MS: i64 = 5_000;

/// Click orders kept at most (the oldest heard is forgotten first).
pub const MAX_CLICK_ORDERS: usize = 10_000;

/// The first click order's parent order id; sub-order ids are this plus `10k + 1`.
const CLICK_ORDER_BASE: u64 = 9_200_000_000_000_000;
/// Distinct click order numbers (`k` above).
const CLICK_ORDER_SPAN: u64 = 10_000_000_000_000_000;
/// What a hot link earns above a normal one when the product has no higher hot rate, in
/// tenths of a percent.
const HOT_BONUS_TENTHS: i64 = 20;

/// The click orders heard so far, bounded.
#[derive(Debug, Default)]
pub(crate) struct ClickBook {
    orders: HashMap<u64, AffiliateOrder>,
    /// Sub-order ids in the order heard, for forgetting the oldest.
    heard: VecDeque<u64>,
}

impl ClickBook {
    fn insert(&mut self, order: AffiliateOrder) {
        if self.orders.contains_key(&order.sub_order_id) {
            return;
        }
        while self.orders.len() >= MAX_CLICK_ORDERS {
            let Some(oldest) = self.heard.pop_front() else {
                break;
            };
            self.orders.remove(&oldest);
        }
        self.heard.push_back(order.sub_order_id);
        self.orders.insert(order.sub_order_id, order);
    }

    /// Every click order, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &AffiliateOrder> {
        self.orders.values()
    }

    /// The click order with this sub-order id.
    pub(crate) fn get(&self, sub_order_id: u64) -> Option<&AffiliateOrder> {
        self.orders.get(&sub_order_id)
    }
}

/// The value of query parameter `name` in `url` (before any fragment).
fn query_param<'a>(url: &'a str, name: &str) -> Option<&'a str> {
    let (_, query) = url.split('#').next()?.split_once('?')?;
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The product a mock product link names (`<prefix>aff/<id>?...`).
fn mock_link_product(url: &str) -> Option<ProductId> {
    let rest = url.strip_prefix(MOCK_LINK_PREFIX)?.strip_prefix("aff/")?;
    let id = rest.split(['?', '#', '/']).next()?;
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    id.parse().ok().map(ProductId)
}

/// The commission rate (tenths of a percent) a click order earns through a normal or hot link.
fn rate_tenths(item: &Item, hot: bool) -> i64 {
    if !hot {
        return item.commission_tenths;
    }
    item.hot_commission_tenths
        .filter(|h| *h > item.commission_tenths)
        .unwrap_or(item.commission_tenths + HOT_BONUS_TENTHS)
}

impl MockCatalog {
    /// The click orders, locked.
    pub(crate) fn click_book(&self) -> MutexGuard<'_, ClickBook> {
        // A panic elsewhere must not stop mock orders for good.
        self.clicks.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The mock order `click` makes, `None` for a click on no product the catalog holds.
    fn click_order(&self, click: &ClickEvent) -> Option<AffiliateOrder> {
        let id = click.product_id.or_else(|| mock_link_product(&click.url))?;
        let item = &self.data.items[self.data.position(id)?];
        let hot = query_param(&click.url, "link_type") == Some("2");
        let rate = rate_tenths(item, hot);
        let paid = click.at_ms.checked_add(MOCK_CLICK_ORDER_DELAY_MS)?;
        let key = fnv1a(format!("{}\u{0}{}\u{0}{}", click.url, id.0, click.at_ms).as_bytes());
        let order_id = CLICK_ORDER_BASE + (key % CLICK_ORDER_SPAN) * 10;
        let paid_cents = item.sale_usd_cents;
        let sub = &TOPS[item.top].subs[item.sub];
        Some(AffiliateOrder {
            sub_order_id: order_id + 1,
            order_id: Some(order_id),
            status: OrderStatus::PaymentCompleted.as_str().to_owned(),
            tracking_id: Some(click.tracking_id.clone()),
            product_id: Some(item.id.0),
            product_title: Some(format!("[MOCK] {}", item.titles[0])),
            category_id: Some(sub.id),
            product_count: Some(1),
            paid_amount: Cents(paid_cents),
            finished_amount: None,
            estimated_paid_commission: Cents(paid_cents * rate / 1000),
            estimated_finished_commission: None,
            commission_rate: Some(format!("{}.{}%", rate / 10, rate % 10)),
            currency: "USD".to_owned(),
            created_at_ms: Some(paid - 20_000),
            paid_at_ms: Some(paid),
            finished_at_ms: None,
            custom_parameters: SubIds::from_url(&click.url).to_custom_parameters(),
            ship_to_country: Some("US".to_owned()),
        })
    }
}

impl ClickListener for MockCatalog {
    /// Records the click's mock order (see the module documentation); never blocks for long.
    fn clicked(&self, click: &ClickEvent) {
        if let Some(order) = self.click_order(click) {
            self.click_book().insert(order);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(id: u64) -> AffiliateOrder {
        AffiliateOrder {
            sub_order_id: id,
            ..AffiliateOrder::default()
        }
    }

    #[test]
    fn the_click_book_is_bounded_and_forgets_the_oldest() {
        let mut book = ClickBook::default();
        for id in 0..(MAX_CLICK_ORDERS as u64 + 3) {
            book.insert(order(id));
        }
        book.insert(order(5));
        assert_eq!(book.iter().count(), MAX_CLICK_ORDERS);
        assert!(book.get(2).is_none() && book.get(3).is_some());
    }

    #[test]
    fn urls_are_read_for_the_product_and_link_type() {
        let url = format!("{MOCK_LINK_PREFIX}aff/1005001?tracking=t&link_type=2&cn=ab1");
        assert_eq!(mock_link_product(&url), Some(ProductId(1_005_001)));
        assert_eq!(query_param(&url, "link_type"), Some("2"));
        assert_eq!(query_param(&url, "type"), None);
        assert_eq!(
            mock_link_product(&format!("{MOCK_LINK_PREFIX}aff/page/1f?x")),
            None
        );
        assert_eq!(mock_link_product("https://x.invalid/aff/1"), None);
        assert_eq!(
            query_param("https://x.invalid/a#?link_type=2", "link_type"),
            None
        );
    }

    #[test]
    fn hot_links_always_earn_more() {
        let mock = MockCatalog::new();
        for item in &mock.data.items {
            assert!(rate_tenths(item, true) > rate_tenths(item, false));
        }
    }
}
