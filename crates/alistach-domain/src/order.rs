//! Affiliate orders as the platform reports them, the platform's order times (PST) and the
//! [`OrderSource`] port the order sync reads.

use std::fmt;

use async_trait::async_trait;

use crate::{ApiMode, UpstreamError, ValidationError};

/// The platform's order statuses, as `order.list`'s `status` filter spells them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OrderStatus {
    /// `Payment Completed`.
    PaymentCompleted,
    /// `Buyer Confirmed Receipt`.
    BuyerConfirmedReceipt,
    /// `Completed Settlement`.
    CompletedSettlement,
    /// `Invalid` (refunded, fraudulent ...).
    Invalid,
}

impl OrderStatus {
    /// Every status, in the order an order normally goes through them (`Invalid` last).
    pub const ALL: [OrderStatus; 4] = [
        OrderStatus::PaymentCompleted,
        OrderStatus::BuyerConfirmedReceipt,
        OrderStatus::CompletedSettlement,
        OrderStatus::Invalid,
    ];

    /// The platform's spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            OrderStatus::PaymentCompleted => "Payment Completed",
            OrderStatus::BuyerConfirmedReceipt => "Buyer Confirmed Receipt",
            OrderStatus::CompletedSettlement => "Completed Settlement",
            OrderStatus::Invalid => "Invalid",
        }
    }

    /// The status of the platform's spelling, exactly.
    pub fn from_platform(text: &str) -> Option<OrderStatus> {
        OrderStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// The time an order reaches this status, as `time_type` names it: what an incremental
    /// sync of this status filters on. `Invalid` has no time of its own: its orders are found
    /// by payment time.
    pub const fn time_type(self) -> OrderTimeType {
        match self {
            OrderStatus::PaymentCompleted | OrderStatus::Invalid => OrderTimeType::PaymentCompleted,
            OrderStatus::BuyerConfirmedReceipt => OrderTimeType::BuyerConfirmedReceipt,
            OrderStatus::CompletedSettlement => OrderTimeType::CompletedSettlement,
        }
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which time of an order `order.list`'s window applies to (`time_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OrderTimeType {
    /// `Payment Completed Time`.
    PaymentCompleted,
    /// `Buyer Confirmed Receipt Time`.
    BuyerConfirmedReceipt,
    /// `Completed Settlement Time`.
    CompletedSettlement,
}

impl OrderTimeType {
    /// The platform's spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            OrderTimeType::PaymentCompleted => "Payment Completed Time",
            OrderTimeType::BuyerConfirmedReceipt => "Buyer Confirmed Receipt Time",
            OrderTimeType::CompletedSettlement => "Completed Settlement Time",
        }
    }

    /// The time type of the platform's spelling, exactly.
    pub fn from_platform(text: &str) -> Option<OrderTimeType> {
        [
            OrderTimeType::PaymentCompleted,
            OrderTimeType::BuyerConfirmedReceipt,
            OrderTimeType::CompletedSettlement,
        ]
        .into_iter()
        .find(|t| t.as_str() == text)
    }
}

impl fmt::Display for OrderTimeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The platform's order times are wall-clock text in Pacific Standard Time, `yyyy-MM-dd
/// HH:mm:ss`. Taken as a fixed UTC−8 (the documents say PST, not Pacific time with daylight
/// saving; the sync's window overlap absorbs the hour if they meant the latter).
pub mod platform_time {
    /// PST's offset from UTC in milliseconds.
    pub const PST_OFFSET_MS: i64 = -8 * 3_600_000;

    /// `yyyy-MM-dd HH:mm:ss` (PST) of a Unix time in milliseconds (UTC), seconds truncated.
    pub fn format(unix_ms: i64) -> String {
        let local_s = (unix_ms + PST_OFFSET_MS).div_euclid(1000);
        let days = local_s.div_euclid(86_400);
        let secs = local_s.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
            secs / 3600,
            secs % 3600 / 60,
            secs % 60
        )
    }

    /// The Unix time in milliseconds (UTC) of a PST `yyyy-MM-dd HH:mm:ss`; `None` unless the
    /// text is exactly that shape with a real date and time.
    pub fn parse(text: &str) -> Option<i64> {
        let b = text.as_bytes();
        let shape = b.len() == 19
            && b.iter().enumerate().all(|(i, c)| match i {
                4 | 7 => *c == b'-',
                10 => *c == b' ',
                13 | 16 => *c == b':',
                _ => c.is_ascii_digit(),
            });
        if !shape {
            return None;
        }
        let n = |r: std::ops::Range<usize>| text[r].parse::<i64>().ok();
        let (y, m, d) = (n(0..4)?, n(5..7)?, n(8..10)?);
        let (hh, mm, ss) = (n(11..13)?, n(14..16)?, n(17..19)?);
        if !(1..=12).contains(&m)
            || d < 1
            || d > days_in_month(y, m)
            || hh > 23
            || mm > 59
            || ss > 59
        {
            return None;
        }
        let days = days_from_civil(y, m, d);
        let local_s = days * 86_400 + hh * 3600 + mm * 60 + ss;
        Some(local_s * 1000 - PST_OFFSET_MS)
    }

    /// `yyyy-MM-dd` (UTC) of a Unix time in milliseconds: the key of a day's revenue group.
    pub fn utc_day(unix_ms: i64) -> String {
        let (y, m, d) = civil_from_days(unix_ms.div_euclid(86_400_000));
        format!("{y:04}-{m:02}-{d:02}")
    }

    /// `YYYY-MM-DDTHH:MM:SSZ` (UTC) of a Unix time in milliseconds.
    pub fn rfc3339(unix_ms: i64) -> String {
        let s = unix_ms.div_euclid(1000);
        let (y, m, d) = civil_from_days(s.div_euclid(86_400));
        let secs = s.rem_euclid(86_400);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            secs / 3600,
            secs % 3600 / 60,
            secs % 60
        )
    }

    /// A UTC date (`YYYY-MM-DD`, midnight) or time (`YYYY-MM-DDTHH:MM:SSZ`) as Unix ms, and
    /// whether it was a date alone.
    pub fn parse_utc(text: &str) -> Option<(i64, bool)> {
        let b = text.as_bytes();
        let date_ok = b.len() >= 10
            && b[..10].iter().enumerate().all(|(i, c)| match i {
                4 | 7 => *c == b'-',
                _ => c.is_ascii_digit(),
            });
        if !date_ok {
            return None;
        }
        let n = |r: std::ops::Range<usize>| text.get(r)?.parse::<i64>().ok();
        let (y, m, d) = (n(0..4)?, n(5..7)?, n(8..10)?);
        if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
            return None;
        }
        let day_ms = days_from_civil(y, m, d) * 86_400_000;
        if b.len() == 10 {
            return Some((day_ms, true));
        }
        let time_ok = b.len() == 20
            && b[10] == b'T'
            && b[19] == b'Z'
            && b[11..19].iter().enumerate().all(|(i, c)| match i {
                2 | 5 => *c == b':',
                _ => c.is_ascii_digit(),
            });
        if !time_ok {
            return None;
        }
        let (hh, mm, ss) = (n(11..13)?, n(14..16)?, n(17..19)?);
        if hh > 23 || mm > 59 || ss > 59 {
            return None;
        }
        Some((day_ms + (hh * 3600 + mm * 60 + ss) * 1000, false))
    }

    fn days_in_month(y: i64, m: i64) -> i64 {
        match m {
            2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
    pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
        let y = if m <= 2 { y - 1 } else { y };
        let era = if y >= 0 { y } else { y - 399 } / 400;
        let yoe = y - era * 400;
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    fn civil_from_days(z: i64) -> (i64, i64, i64) {
        let z = z + 719_468;
        let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let y = yoe + era * 400;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        (if m <= 2 { y + 1 } else { y }, m, d)
    }
}

/// An amount of money in hundredths of its currency (cents), exactly: what the platform's
/// order amounts are (integers in minor units). Every settlement currency the platform uses
/// has at most two decimals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cents(pub i64);

impl Cents {
    /// Zero.
    pub const ZERO: Cents = Cents(0);

    /// As an exact decimal (`1113` → `11.13`).
    pub fn to_decimal(self) -> crate::Decimal {
        crate::Decimal::from_minor_units(self.0, 2)
    }

    /// The sum, `None` on overflow.
    pub fn checked_add(self, other: Cents) -> Option<Cents> {
        self.0.checked_add(other.0).map(Cents)
    }
}

impl fmt::Display for Cents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.to_decimal().fmt(f)
    }
}

/// One sub-order (one product line of a buyer's order) as the platform reports it. The
/// sub-order id is the key: a parent order with three products is three of these.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AffiliateOrder {
    /// The sub-order: the key.
    pub sub_order_id: u64,
    /// The parent order.
    pub order_id: Option<u64>,
    /// The platform's status text, kept as sent (`Payment Completed`, ...; see
    /// [`OrderStatus::from_platform`]).
    pub status: String,
    /// The tracking id that earned it.
    pub tracking_id: Option<String>,
    /// The product.
    pub product_id: Option<u64>,
    /// Its title.
    pub product_title: Option<String>,
    /// Its category (the platform's leaf category).
    pub category_id: Option<u64>,
    /// Units bought.
    pub product_count: Option<u64>,
    /// Amount paid.
    pub paid_amount: Cents,
    /// Amount after completion (refunds deducted), once finished.
    pub finished_amount: Option<Cents>,
    /// Estimated commission on payment.
    pub estimated_paid_commission: Cents,
    /// Estimated commission on completion, once finished.
    pub estimated_finished_commission: Option<Cents>,
    /// Commission rate as the platform wrote it, e.g. `7.00%`.
    pub commission_rate: Option<String>,
    /// Settlement currency code (`USD`), as sent.
    pub currency: String,
    /// When the order was created (Unix ms).
    pub created_at_ms: Option<i64>,
    /// When it was paid (Unix ms).
    pub paid_at_ms: Option<i64>,
    /// When it finished (Unix ms).
    pub finished_at_ms: Option<i64>,
    /// The sub-id parameters the link carried (JSON text; `custom_parameters` in
    /// order.list and listbyindex, `customer_parameters` in order.get).
    pub custom_parameters: Option<String>,
    /// Destination country.
    pub ship_to_country: Option<String>,
}

impl AffiliateOrder {
    /// The experiment id and variant name the order's sub-ids name (see [`crate::SubIds`]),
    /// if it was earned by a link of an experiment's variant.
    pub fn experiment_variant(&self) -> Option<(u64, String)> {
        let ids = crate::SubIds::from_custom_parameters(self.custom_parameters.as_deref()?);
        ids.experiment()
            .map(|(id, variant)| (id, variant.to_owned()))
    }
}

/// Which orders an [`OrderSource`] lists: those with `status` whose `time_type` time falls in
/// `[start_ms, end_ms]` (Unix ms; sent to the platform as PST text, to the second).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderQuery {
    /// Window start (inclusive).
    pub start_ms: i64,
    /// Window end (inclusive).
    pub end_ms: i64,
    /// Which status.
    pub status: OrderStatus,
    /// Which time the window applies to.
    pub time_type: OrderTimeType,
    /// Orders per page, 1 to 50.
    pub page_size: u32,
}

impl OrderQuery {
    /// The largest page the platform serves.
    pub const MAX_PAGE_SIZE: u32 = 50;

    /// Checks the window and page size.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.start_ms > self.end_ms {
            return Err(ValidationError::new(
                "start_time",
                "must not be after end_time",
            ));
        }
        if !(1..=Self::MAX_PAGE_SIZE).contains(&self.page_size) {
            return Err(ValidationError::new(
                "page_size",
                format!("must be between 1 and {}", Self::MAX_PAGE_SIZE),
            ));
        }
        Ok(())
    }
}

/// One page of orders, and where the next one starts (`None`: this was the last).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrderPage {
    /// The orders.
    pub orders: Vec<AffiliateOrder>,
    /// The cursor of the next page (`start_query_index_id`).
    pub next_cursor: Option<String>,
}

/// Where affiliate orders come from: the AliExpress client (real mode) or the labelled mock
/// order book (mock mode).
#[async_trait]
pub trait OrderSource: Send + Sync + 'static {
    /// Which kind of source this is; mock orders are stored labelled as mock.
    fn mode(&self) -> ApiMode;

    /// One page of the orders `query` selects (`aliexpress.affiliate.order.listbyindex`),
    /// starting at `cursor` (`None` for the first page).
    async fn list_orders(
        &self,
        query: &OrderQuery,
        cursor: Option<&str>,
    ) -> Result<OrderPage, UpstreamError>;

    /// Orders by sub-order id (`aliexpress.affiliate.order.get`); unknown ids are absent.
    async fn get_orders(&self, sub_order_ids: &[u64])
    -> Result<Vec<AffiliateOrder>, UpstreamError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_times_are_pst_both_ways() {
        // 2023-11-01 00:00:00 PST is 08:00 UTC.
        let ms = platform_time::parse("2023-11-01 00:00:00").unwrap();
        assert_eq!(ms, 1_698_825_600_000);
        assert_eq!(platform_time::format(ms), "2023-11-01 00:00:00");
        assert_eq!(platform_time::format(ms + 999), "2023-11-01 00:00:00");
        assert_eq!(platform_time::utc_day(ms), "2023-11-01");
        assert_eq!(
            platform_time::format(0),
            "1969-12-31 16:00:00",
            "before the epoch in PST"
        );
        for bad in [
            "2023-11-01",
            "2023-13-01 00:00:00",
            "2023-02-29 00:00:00",
            "2023-11-01T00:00:00",
            "2023-11-01 24:00:00",
            "２０２３-11-01 00:00:00",
        ] {
            assert_eq!(platform_time::parse(bad), None, "{bad}");
        }
        assert!(platform_time::parse("2024-02-29 23:59:59").is_some());
        assert_eq!(
            platform_time::rfc3339(1_698_825_600_000),
            "2023-11-01T08:00:00Z"
        );
        assert_eq!(
            platform_time::parse_utc("2023-11-01"),
            Some((1_698_796_800_000, true))
        );
        assert_eq!(
            platform_time::parse_utc("2023-11-01T08:00:00Z"),
            Some((1_698_825_600_000, false))
        );
        for bad in [
            "2023-11-1",
            "2023-11-01T08:00:00",
            "2023-11-01 08:00:00Z",
            "x",
            "2023-02-30",
        ] {
            assert_eq!(platform_time::parse_utc(bad), None, "{bad}");
        }
    }

    #[test]
    fn statuses_and_time_types_round_trip() {
        for s in OrderStatus::ALL {
            assert_eq!(OrderStatus::from_platform(s.as_str()), Some(s));
            assert_eq!(
                OrderTimeType::from_platform(s.time_type().as_str()),
                Some(s.time_type())
            );
        }
        assert_eq!(OrderStatus::from_platform("payment completed"), None);
        assert_eq!(Cents(1113).to_string(), "11.13");
        assert_eq!(Cents(-5).to_string(), "-0.05");
    }

    #[test]
    fn queries_check_window_and_page() {
        let q = OrderQuery {
            start_ms: 0,
            end_ms: 1,
            status: OrderStatus::Invalid,
            time_type: OrderTimeType::PaymentCompleted,
            page_size: 50,
        };
        assert!(q.validate().is_ok());
        assert_eq!(
            OrderQuery { start_ms: 2, ..q }
                .validate()
                .unwrap_err()
                .field,
            "start_time"
        );
        assert_eq!(
            OrderQuery { page_size: 51, ..q }
                .validate()
                .unwrap_err()
                .field,
            "page_size"
        );
    }
}
