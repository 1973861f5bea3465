//! The values the store keeps and answers.

use alistach_domain::{AffiliateOrder, Cents};

/// The most orders one page of [`crate::OrderStore::list_orders`] answers.
pub const MAX_PAGE_SIZE: u32 = 200;

/// An order as stored: the platform's order and whether it came from the mock order book.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderRecord {
    /// The order.
    pub order: AffiliateOrder,
    /// True for orders of the labelled mock order book (mock mode); never mixed with real
    /// orders in lists and sums.
    pub mock: bool,
}

impl OrderRecord {
    /// The time the order is filed under: paid, else created, else `fallback_ms`.
    pub fn order_time_ms(&self, fallback_ms: i64) -> i64 {
        self.order
            .paid_at_ms
            .or(self.order.created_at_ms)
            .unwrap_or(fallback_ms)
    }
}

/// An order as the store answers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredOrder {
    /// The order and its label.
    pub record: OrderRecord,
    /// The time it is filed under (paid, else created, else first seen; Unix ms).
    pub order_time_ms: i64,
    /// When the sync first stored it.
    pub first_seen_ms: i64,
    /// When a sync last changed it.
    pub updated_ms: i64,
}

/// One status an order reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusChange {
    /// The new status (platform text).
    pub status: String,
    /// The status before (`None` for the first one seen).
    pub previous: Option<String>,
    /// When the sync saw it (Unix ms).
    pub observed_at_ms: i64,
}

/// What one [`crate::OrderStore::upsert_orders`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UpsertSummary {
    /// Orders not stored before.
    pub inserted: u64,
    /// Stored orders whose fields changed (status changes included).
    pub updated: u64,
    /// Stored orders whose status changed (a history row each).
    pub status_changes: u64,
    /// Orders stored exactly as given already.
    pub unchanged: u64,
}

impl UpsertSummary {
    /// Adds another summary's counts.
    pub fn add(&mut self, other: UpsertSummary) {
        self.inserted += other.inserted;
        self.updated += other.updated;
        self.status_changes += other.status_changes;
        self.unchanged += other.unchanged;
    }
}

/// Which orders a list or a revenue report covers. Times are Unix ms on the order time
/// (`from_ms` inclusive, `to_ms` exclusive).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrderFilter {
    /// Mock orders (mock mode) or real ones: never both.
    pub mock: bool,
    /// Order time at or after.
    pub from_ms: Option<i64>,
    /// Order time before.
    pub to_ms: Option<i64>,
    /// Exactly this status (platform text).
    pub status: Option<String>,
    /// Leave out orders with this status (a revenue report leaves out `Invalid`).
    pub exclude_status: Option<String>,
    /// Exactly this tracking id.
    pub tracking_id: Option<String>,
    /// Only orders whose tracking id is one of these (a tenant's books: its tracking ids);
    /// an empty list selects nothing.
    pub tracking_ids: Option<Vec<String>>,
    /// Only orders attributed to this experiment (their sub-ids name it).
    pub experiment_id: Option<u64>,
}

/// Which page of a list: 1-based page number and its size (1 to [`MAX_PAGE_SIZE`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderPageRequest {
    /// 1-based.
    pub page: u32,
    /// Orders per page.
    pub page_size: u32,
}

impl OrderPageRequest {
    /// Rows to skip.
    pub fn offset(self) -> u64 {
        u64::from(self.page.max(1) - 1) * u64::from(self.page_size)
    }

    /// Rows to answer, at most [`MAX_PAGE_SIZE`].
    pub fn limit(self) -> u32 {
        self.page_size.clamp(1, MAX_PAGE_SIZE)
    }
}

/// A page of orders and the number selected in all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrderRows {
    /// The page.
    pub orders: Vec<StoredOrder>,
    /// Orders the filter selects, over all pages.
    pub total: u64,
}

/// How a revenue report groups orders.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GroupBy {
    /// The UTC day of the order time, `yyyy-MM-dd`.
    Day,
    /// The tracking id.
    TrackingId,
    /// The product id.
    Product,
    /// The category id.
    Category,
    /// The experiment variant's name the order's sub-ids name (`(none)` for orders of no
    /// experiment); with [`OrderFilter::experiment_id`], one experiment's variants.
    Variant,
}

impl GroupBy {
    /// Every grouping.
    pub const ALL: [GroupBy; 5] = [
        GroupBy::Day,
        GroupBy::TrackingId,
        GroupBy::Product,
        GroupBy::Category,
        GroupBy::Variant,
    ];

    /// The name in the API (`day`, `tracking_id`, `product`, `category`, `variant`).
    pub const fn as_str(self) -> &'static str {
        match self {
            GroupBy::Day => "day",
            GroupBy::TrackingId => "tracking_id",
            GroupBy::Product => "product",
            GroupBy::Category => "category",
            GroupBy::Variant => "variant",
        }
    }
}

/// The key of a group whose orders lack the grouped field (no tracking id, say).
pub const NO_KEY: &str = "(none)";

/// One group's sums, in one currency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevenueGroup {
    /// The group: a day, tracking id, product id or category id (see [`GroupBy`]), or
    /// `(none)`.
    pub key: String,
    /// The currency of the sums.
    pub currency: String,
    /// Orders in the group.
    pub orders: u64,
    /// Sum of paid amounts.
    pub paid_amount: Cents,
    /// Sum of estimated commissions on payment.
    pub estimated_commission: Cents,
    /// Sum of estimated commissions on completion (finished orders only).
    pub finished_commission: Cents,
}

/// Groups and their totals per currency.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RevenueReport {
    /// The groups, in key order.
    pub groups: Vec<RevenueGroup>,
    /// One total per currency (key `total`).
    pub totals: Vec<RevenueGroup>,
}

impl RevenueReport {
    /// The report of `groups`, with totals per currency summed exactly.
    pub fn from_groups(groups: Vec<RevenueGroup>) -> RevenueReport {
        let mut totals: Vec<RevenueGroup> = Vec::new();
        for g in &groups {
            let total = match totals.iter_mut().find(|t| t.currency == g.currency) {
                Some(t) => t,
                None => {
                    totals.push(RevenueGroup {
                        key: "total".to_owned(),
                        currency: g.currency.clone(),
                        orders: 0,
                        paid_amount: Cents::ZERO,
                        estimated_commission: Cents::ZERO,
                        finished_commission: Cents::ZERO,
                    });
                    totals.last_mut().expect("just pushed")
                }
            };
            total.orders += g.orders;
            total.paid_amount = Cents(total.paid_amount.0.saturating_add(g.paid_amount.0));
            total.estimated_commission = Cents(
                total
                    .estimated_commission
                    .0
                    .saturating_add(g.estimated_commission.0),
            );
            total.finished_commission = Cents(
                total
                    .finished_commission
                    .0
                    .saturating_add(g.finished_commission.0),
            );
        }
        totals.sort_by(|a, b| a.currency.cmp(&b.currency));
        RevenueReport { groups, totals }
    }
}

/// Who holds a lease and until when (database clock, Unix ms).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseInfo {
    /// The holder's name (an instance id).
    pub holder: String,
    /// When it expires unless renewed.
    pub expires_at_ms: i64,
}
