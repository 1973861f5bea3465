//! The labelled mock order book: orders as a deterministic function of time, so a mock
//! deployment has revenue to show and the order sync has something to sync, and nothing can
//! pass for real: every order's title starts with `[MOCK]`, and the source says
//! [`ApiMode::Mock`] (the store labels them).
//!
//! Two kinds of orders, listed together:
//! - hourly orders: one every [`MOCK_ORDER_INTERVAL_MS`] of payment time, of a product of the
//!   mock catalog, tracking id `mock`; it is `Payment Completed` for two days, then `Buyer
//!   Confirmed Receipt`, and `Completed Settlement` ten days after payment; one order in ten
//!   turns `Invalid` after a day;
//! - click orders: one per click heard (see the `clicks` module), paid
//!   [`crate::MOCK_CLICK_ORDER_DELAY_MS`] after the click with the click's tracking id and
//!   sub-ids, `Payment Completed` for good.
//!
//! An order is listed once its payment time has come. [`OrderSource::list_orders`] serves the
//! click orders of the query first (by payment time, then sub-order id; a cursor `c<paid
//! ms>.<sub-order id>` resumes after one), then the hourly ones (a cursor `<slot>` resumes at
//! an hour): every order once, and the paging ends. A click heard while a listing is under
//! way may be missed by that listing if it sorts before the cursor; the next listing has it.

use alistach_domain::{
    AffiliateOrder, ApiMode, Cents, OrderPage, OrderQuery, OrderSource, OrderStatus, OrderTimeType,
    UpstreamError, ValidationError,
};
use async_trait::async_trait;

use crate::MockCatalog;
use crate::rng::mix;
use crate::vocab::TOPS;

/// Payment time between two mock orders.
pub const MOCK_ORDER_INTERVAL_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;
/// The first mock order's slot (2024-01-01 UTC): nothing is generated before it.
const FIRST_SLOT: i64 = 1_704_067_200_000 / MOCK_ORDER_INTERVAL_MS;

impl MockCatalog {
    /// The mock order paid in `slot` (hour number since the epoch), as it stands at `now_ms`;
    /// `None` before it is paid.
    fn mock_order(&self, slot: i64, now_ms: i64) -> Option<AffiliateOrder> {
        if slot < FIRST_SLOT {
            return None;
        }
        let paid = slot
            .checked_mul(MOCK_ORDER_INTERVAL_MS)?
            .checked_add((mix(slot as u64) % 3_000_000) as i64)?;
        if paid > now_ms {
            return None;
        }
        let h = mix(slot as u64 ^ 0x0dde_7b00c);
        let item = &self.data.items[(h % self.data.items.len() as u64) as usize];
        let count = 1 + (h >> 20) % 3;
        let paid_cents = item.sale_usd_cents * count as i64;
        let commission = paid_cents * item.commission_tenths / 1000;
        let invalid = (h >> 40).is_multiple_of(10);
        let age = now_ms - paid;
        let (status, finished_at) = if invalid && age >= DAY_MS {
            (OrderStatus::Invalid, None)
        } else if age >= 10 * DAY_MS {
            (OrderStatus::CompletedSettlement, Some(paid + 2 * DAY_MS))
        } else if age >= 2 * DAY_MS {
            (OrderStatus::BuyerConfirmedReceipt, Some(paid + 2 * DAY_MS))
        } else {
            (OrderStatus::PaymentCompleted, None)
        };
        let sub = &TOPS[item.top].subs[item.sub];
        Some(AffiliateOrder {
            sub_order_id: 9_100_000_000_000_000 + slot as u64 * 10 + 1,
            order_id: Some(9_100_000_000_000_000 + slot as u64 * 10),
            status: status.as_str().to_owned(),
            tracking_id: Some("mock".to_owned()),
            product_id: Some(item.id.0),
            product_title: Some(format!("[MOCK] {}", item.titles[0])),
            category_id: Some(sub.id),
            product_count: Some(count),
            paid_amount: Cents(paid_cents),
            finished_amount: finished_at.map(|_| Cents(paid_cents)),
            estimated_paid_commission: Cents(commission),
            estimated_finished_commission: finished_at.map(|_| Cents(commission)),
            commission_rate: Some(format!(
                "{}.{}%",
                item.commission_tenths / 10,
                item.commission_tenths % 10
            )),
            currency: "USD".to_owned(),
            created_at_ms: Some(paid - 60_000),
            paid_at_ms: Some(paid),
            finished_at_ms: finished_at,
            custom_parameters: None,
            ship_to_country: Some("US".to_owned()),
        })
    }

    /// The click orders `query` selects as they stand at `now_ms`, after the key `after`
    /// (payment time, sub-order id), in key order.
    fn click_orders(
        &self,
        query: &OrderQuery,
        now_ms: i64,
        after: Option<(i64, u64)>,
    ) -> Vec<AffiliateOrder> {
        let mut orders: Vec<AffiliateOrder> = self
            .click_book()
            .iter()
            .filter(|o| o.paid_at_ms.is_some_and(|p| p <= now_ms))
            .filter(|o| after.is_none_or(|a| click_key(o) > a))
            .filter(|o| Self::selects(query, o))
            .cloned()
            .collect();
        orders.sort_by_key(click_key);
        orders
    }

    /// Whether `query` selects `order` (status, and its `time_type` time in the window).
    fn selects(query: &OrderQuery, order: &AffiliateOrder) -> bool {
        order.status == query.status.as_str()
            && Self::order_time(order, query.time_type)
                .is_some_and(|t| t >= query.start_ms && t <= query.end_ms)
    }

    /// The time `time_type` names of a mock order.
    fn order_time(order: &AffiliateOrder, time_type: OrderTimeType) -> Option<i64> {
        let paid = order.paid_at_ms?;
        match time_type {
            OrderTimeType::PaymentCompleted => Some(paid),
            OrderTimeType::BuyerConfirmedReceipt => order.finished_at_ms,
            OrderTimeType::CompletedSettlement => (order.status
                == OrderStatus::CompletedSettlement.as_str())
            .then_some(paid + 10 * DAY_MS),
        }
    }
}

/// Where a click order sorts: payment time, then sub-order id.
fn click_key(order: &AffiliateOrder) -> (i64, u64) {
    (order.paid_at_ms.unwrap_or(i64::MIN), order.sub_order_id)
}

/// Where a listing resumes.
enum Resume {
    /// Among the click orders, after this key (from the start with `None`).
    Clicks(Option<(i64, u64)>),
    /// Among the hourly orders, at this slot.
    Slot(i64),
}

fn parse_cursor(cursor: &str) -> Option<Resume> {
    if let Some(key) = cursor.strip_prefix('c') {
        let (paid, id) = key.split_once('.')?;
        return Some(Resume::Clicks(Some((paid.parse().ok()?, id.parse().ok()?))));
    }
    cursor.parse().ok().map(Resume::Slot)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[async_trait]
impl OrderSource for MockCatalog {
    fn mode(&self) -> ApiMode {
        ApiMode::Mock
    }

    /// Orders of the window: the click orders first (the cursor is the last one's key), then
    /// the hourly ones by slot (the cursor is the next slot to look at).
    async fn list_orders(
        &self,
        query: &OrderQuery,
        cursor: Option<&str>,
    ) -> Result<OrderPage, UpstreamError> {
        query.validate().map_err(invalid)?;
        let now = now_ms();
        let page_size = query.page_size as usize;
        // A settlement or receipt time lies at most ten days after payment.
        let first = query
            .start_ms
            .saturating_sub(10 * DAY_MS)
            .div_euclid(MOCK_ORDER_INTERVAL_MS);
        let last = query.end_ms.min(now).div_euclid(MOCK_ORDER_INTERVAL_MS);
        let resume = match cursor {
            None => Resume::Clicks(None),
            Some(c) => parse_cursor(c).ok_or_else(|| {
                invalid(ValidationError::new(
                    "start_query_index_id",
                    "is not a mock cursor",
                ))
            })?,
        };
        let mut orders = Vec::new();
        let mut slot = first;
        match resume {
            Resume::Clicks(after) => {
                orders = self.click_orders(query, now, after);
                if orders.len() > page_size {
                    orders.truncate(page_size);
                    let (paid, id) = orders.last().map(click_key).unwrap_or_default();
                    return Ok(OrderPage {
                        orders,
                        next_cursor: Some(format!("c{paid}.{id}")),
                    });
                }
            }
            Resume::Slot(s) => slot = s,
        }
        while slot <= last && orders.len() < page_size {
            if let Some(o) = self.mock_order(slot, now)
                && Self::selects(query, &o)
            {
                orders.push(o);
            }
            slot += 1;
        }
        Ok(OrderPage {
            orders,
            next_cursor: (slot <= last).then(|| slot.to_string()),
        })
    }

    async fn get_orders(
        &self,
        sub_order_ids: &[u64],
    ) -> Result<Vec<AffiliateOrder>, UpstreamError> {
        let now = now_ms();
        let clicks = self.click_book();
        Ok(sub_order_ids
            .iter()
            .filter_map(|id| {
                if let Some(o) = clicks.get(*id) {
                    return o.paid_at_ms.is_some_and(|p| p <= now).then(|| o.clone());
                }
                let slot = id.checked_sub(9_100_000_000_000_001)? / 10;
                self.mock_order(i64::try_from(slot).ok()?, now)
                    .filter(|o| o.sub_order_id == *id)
            })
            .collect())
    }
}

fn invalid(e: ValidationError) -> UpstreamError {
    UpstreamError::InvalidRequest {
        code: e.field.to_owned(),
        message: e.rule,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn mock_orders_are_deterministic_labelled_and_page_by_cursor() {
        let mock = MockCatalog::new();
        let now = now_ms();
        let query = OrderQuery {
            start_ms: now - 30 * DAY_MS,
            end_ms: now,
            status: OrderStatus::CompletedSettlement,
            time_type: OrderTimeType::PaymentCompleted,
            page_size: 7,
        };
        let mut cursor = None;
        let mut all = Vec::new();
        loop {
            let page = mock.list_orders(&query, cursor.as_deref()).await.unwrap();
            all.extend(page.orders);
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        // 20 days old and more are settled: roughly 20 days of hourly orders, less invalid ones.
        assert!(all.len() > 300 && all.len() < 480, "{}", all.len());
        for o in &all {
            assert_eq!(o.status, "Completed Settlement");
            assert_eq!(o.tracking_id.as_deref(), Some("mock"));
            assert!(o.product_title.as_deref().unwrap().starts_with("[MOCK] "));
            assert!(o.paid_amount > Cents::ZERO);
            assert_eq!(
                o.estimated_finished_commission,
                Some(o.estimated_paid_commission)
            );
        }
        let again = mock.get_orders(&[all[0].sub_order_id, 1]).await.unwrap();
        assert_eq!(again, vec![all[0].clone()]);
        assert_eq!(OrderSource::mode(&mock), ApiMode::Mock);
    }
}
