//! Usage analytics: additive, idempotent flushes into minute, hour and day rows; range
//! queries; retention; clicks and orders per bucket.

use std::sync::Arc;
use std::time::Duration;

use alistach_domain::{HistogramSnapshot, TenantId};

use crate::{
    ALL_SEARCHES, AnalyticsBatch, Click, KeywordCounts, KeywordOrder, KeywordRow, Resolution,
    Store, UsageCounts, UsageKey, UsageRow,
};

/// 2030-01-01 00:00:00 UTC: these checks' time, far from the other checks' rows.
const A0: i64 = 1_893_456_000_000;
const MINUTE: i64 = 60_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 86_400_000;

fn key(route: &str, client: &str, cache: &str, class: u8) -> UsageKey {
    UsageKey {
        tenant: TenantId::DEFAULT.to_owned(),
        route: route.to_owned(),
        client: client.to_owned(),
        cache: cache.to_owned(),
        mode: "mock".to_owned(),
        status_class: class,
    }
}

fn counts(requests: u64, latency_ms: u64) -> UsageCounts {
    let mut latency = HistogramSnapshot::default();
    for _ in 0..requests {
        latency.observe(Duration::from_millis(latency_ms));
    }
    UsageCounts { requests, latency }
}

fn row(bucket_ms: i64, key: UsageKey, counts: UsageCounts) -> UsageRow {
    UsageRow {
        bucket_ms,
        key,
        counts,
    }
}

fn kw(bucket_ms: i64, keyword: &str, searches: u64, zero: u64, results: u64) -> KeywordRow {
    KeywordRow {
        bucket_ms,
        tenant: TenantId::DEFAULT.to_owned(),
        keyword: keyword.to_owned(),
        counts: KeywordCounts {
            searches,
            zero_results: zero,
            results,
        },
    }
}

/// Two instances' flushes add up in minute, hour and day rows; a batch flushed again adds
/// nothing; ranges and steps select and sum exactly; non-ASCII text round-trips.
pub async fn analytics_flushes_add_up_once(store: &Arc<dyn Store>, other: &Arc<dyn Store>) {
    let search = key("searchProducts", "key «ü» 名", "hit", 2);
    let bad = key("searchProducts", "addr:10.0.0.1", "none", 4);
    let first = AnalyticsBatch {
        flush_id: "conf-analytics-a:1".to_owned(),
        usage: vec![
            row(A0, search.clone(), counts(3, 2)),
            row(A0 + MINUTE, search.clone(), counts(2, 30)),
            row(A0 + HOUR + 5 * MINUTE, bad.clone(), counts(1, 1)),
        ],
        keywords: vec![
            kw(A0, ALL_SEARCHES, 3, 1, 40),
            kw(A0, "wireless earbuds", 2, 0, 40),
            kw(A0, "ß 耳机", 1, 1, 0),
        ],
    };
    assert!(store.flush_analytics(&first).await.expect("flush"));
    assert!(
        !other.flush_analytics(&first).await.expect("flush again"),
        "a batch is stored once, whichever instance retries it"
    );
    let second = AnalyticsBatch {
        flush_id: "conf-analytics-b:1".to_owned(),
        usage: vec![row(A0, search.clone(), counts(4, 2))],
        keywords: vec![
            kw(A0 + MINUTE, ALL_SEARCHES, 2, 2, 0),
            kw(A0 + MINUTE, "ß 耳机", 2, 2, 0),
        ],
    };
    assert!(
        other
            .flush_analytics(&second)
            .await
            .expect("second instance")
    );
    assert!(
        store
            .flush_analytics(&AnalyticsBatch {
                flush_id: "conf-analytics-empty".to_owned(),
                ..AnalyticsBatch::default()
            })
            .await
            .expect("an empty batch")
    );

    // Minutes, one step each.
    let minutes = store
        .usage(
            Some(TenantId::DEFAULT),
            Resolution::Minute,
            A0,
            A0 + DAY,
            MINUTE,
        )
        .await
        .expect("minute rows");
    assert_eq!(minutes.len(), 3, "{minutes:?}");
    assert_eq!(minutes[0].bucket_ms, A0);
    assert_eq!(minutes[0].key, search, "text round-trips");
    assert_eq!(
        minutes[0].counts.requests, 7,
        "two instances' minute adds up"
    );
    assert_eq!(minutes[0].counts.latency.count(), 7);
    assert_eq!(minutes[0].counts.latency, counts(7, 2).latency);
    assert_eq!(minutes[1].counts.requests, 2);
    assert_eq!(minutes[2].key, bad);
    assert_eq!(minutes[2].bucket_ms, A0 + HOUR + 5 * MINUTE);

    // The same from the hour and day rollups.
    let hours = other
        .usage(
            Some(TenantId::DEFAULT),
            Resolution::Hour,
            A0,
            A0 + DAY,
            HOUR,
        )
        .await
        .expect("hour rows");
    assert_eq!(hours.len(), 2, "{hours:?}");
    assert_eq!((hours[0].bucket_ms, hours[0].counts.requests), (A0, 9));
    assert_eq!(hours[0].counts.latency.count(), 9);
    assert_eq!(
        (hours[1].bucket_ms, hours[1].counts.requests),
        (A0 + HOUR, 1)
    );
    let days = store
        .usage(Some(TenantId::DEFAULT), Resolution::Day, A0, A0 + DAY, DAY)
        .await
        .expect("day rows");
    assert_eq!(days.len(), 2, "one per key");
    let total: u64 = days.iter().map(|r| r.counts.requests).sum();
    assert_eq!(total, 10);

    // Steps wider than the resolution sum per key; the range's end is exclusive.
    let whole = store
        .usage(
            Some(TenantId::DEFAULT),
            Resolution::Minute,
            A0,
            A0 + HOUR + 5 * MINUTE,
            10 * DAY,
        )
        .await
        .expect("one step");
    assert_eq!(whole.len(), 1, "the 01:05 row is past the end: {whole:?}");
    assert_eq!(whole[0].counts.requests, 9);
    let later = store
        .usage(
            Some(TenantId::DEFAULT),
            Resolution::Minute,
            A0 + MINUTE,
            A0 + 2 * HOUR,
            MINUTE,
        )
        .await
        .expect("later");
    assert_eq!(later.len(), 2);

    // Keywords: ranked, the totals row never listed.
    let top = other
        .top_keywords(
            Some(TenantId::DEFAULT),
            Resolution::Minute,
            A0,
            A0 + DAY,
            KeywordOrder::Searches,
            10,
        )
        .await
        .expect("top");
    assert_eq!(
        top,
        vec![
            (
                "ß 耳机".to_owned(),
                KeywordCounts {
                    searches: 3,
                    zero_results: 3,
                    results: 0
                }
            ),
            (
                "wireless earbuds".to_owned(),
                KeywordCounts {
                    searches: 2,
                    zero_results: 0,
                    results: 40
                }
            ),
        ]
    );
    let zero = store
        .top_keywords(
            Some(TenantId::DEFAULT),
            Resolution::Day,
            A0,
            A0 + DAY,
            KeywordOrder::ZeroResults,
            10,
        )
        .await
        .expect("zero-result keywords");
    assert_eq!(
        zero.len(),
        1,
        "keywords that always found something are left out"
    );
    assert_eq!(zero[0].0, "ß 耳机");
    let limited = store
        .top_keywords(
            Some(TenantId::DEFAULT),
            Resolution::Hour,
            A0,
            A0 + DAY,
            KeywordOrder::Searches,
            1,
        )
        .await
        .expect("limit");
    assert_eq!(limited.len(), 1);
    let series = store
        .keyword_series(
            Some(TenantId::DEFAULT),
            Resolution::Minute,
            ALL_SEARCHES,
            A0,
            A0 + HOUR,
            MINUTE,
        )
        .await
        .expect("series");
    assert_eq!(
        series,
        vec![
            (
                A0,
                KeywordCounts {
                    searches: 3,
                    zero_results: 1,
                    results: 40
                }
            ),
            (
                A0 + MINUTE,
                KeywordCounts {
                    searches: 2,
                    zero_results: 2,
                    results: 0
                }
            ),
        ]
    );
}

/// Old rows go per resolution; newer rows and other resolutions stay.
pub async fn analytics_retention_purges_by_age(store: &Arc<dyn Store>) {
    // 2029-06-01: earlier than every other analytics row of these checks.
    const P0: i64 = 1_874_966_400_000;
    let k = key("listProducts", "conf-purge", "miss", 2);
    let batch = AnalyticsBatch {
        flush_id: "conf-analytics-purge".to_owned(),
        usage: vec![
            row(P0, k.clone(), counts(1, 5)),
            row(P0 + 2 * DAY, k.clone(), counts(1, 5)),
        ],
        keywords: vec![kw(P0, "purged", 1, 0, 3)],
    };
    assert!(store.flush_analytics(&batch).await.expect("flush"));
    let removed = store
        .purge_analytics(Resolution::Minute, P0 + DAY)
        .await
        .expect("purge minutes");
    assert_eq!(removed, 2, "the first minute's usage and keyword rows");
    let minutes = store
        .usage(
            Some(TenantId::DEFAULT),
            Resolution::Minute,
            P0,
            P0 + 3 * DAY,
            DAY,
        )
        .await
        .expect("minutes");
    assert_eq!(minutes.len(), 1);
    assert_eq!(minutes[0].bucket_ms, P0 + 2 * DAY);
    let days = store
        .usage(
            Some(TenantId::DEFAULT),
            Resolution::Day,
            P0,
            P0 + 3 * DAY,
            DAY,
        )
        .await
        .expect("days stay");
    assert_eq!(days.len(), 2);
    assert!(
        !store.flush_analytics(&batch).await.expect("flush again"),
        "a flush id is remembered while its minutes are kept"
    );
    assert_eq!(
        store
            .purge_analytics(Resolution::Day, P0 + DAY)
            .await
            .expect("purge days"),
        2
    );
}

/// Clicks and orders are counted per bucket from their own tables.
pub async fn clicks_and_orders_are_counted_per_bucket(store: &Arc<dyn Store>) {
    // 2031-01-01.
    const C0: i64 = 1_924_992_000_000;
    let click = |at_ms| Click {
        at_ms,
        product_id: None,
        tracking_id: "conf-analytics".to_owned(),
        variant: None,
    };
    store
        .record_clicks(&[
            click(C0),
            click(C0 + 1),
            click(C0 + HOUR + 7),
            click(C0 + DAY),
        ])
        .await
        .expect("clicks");
    let per_hour = store
        .clicks_per_bucket(None, C0, C0 + DAY, HOUR)
        .await
        .expect("clicks per hour");
    assert_eq!(
        per_hour
            .iter()
            .map(|b| (b.bucket_ms, b.clicks))
            .collect::<Vec<_>>(),
        vec![(C0, 2), (C0 + HOUR, 1)]
    );
    let mut a = super::sample_order(9_300_000_001, "conf-analytics", C0 + 5);
    let mut b = super::sample_order(9_300_000_002, "conf-analytics", C0 + 2 * HOUR);
    b.order.currency = "EUR".to_owned();
    b.order.estimated_paid_commission = alistach_domain::Cents(1_000_000_000_001);
    let mut invalid = super::sample_order(9_300_000_003, "conf-analytics", C0 + 6);
    invalid.order.status = "Invalid".to_owned();
    let mut mock = super::sample_order(9_300_000_004, "conf-analytics", C0 + 7);
    mock.mock = true;
    a.order.estimated_paid_commission = alistach_domain::Cents(77);
    store
        .upsert_orders(&[a, b, invalid, mock], C0 + DAY)
        .await
        .expect("orders");
    let orders = store
        .orders_per_bucket(None, false, C0, C0 + DAY, DAY)
        .await
        .expect("orders per day");
    let got: Vec<_> = orders
        .iter()
        .map(|o| {
            (
                o.bucket_ms,
                o.currency.as_str(),
                o.orders,
                o.commission_cents,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![(C0, "EUR", 1, 1_000_000_000_001), (C0, "USD", 1, 77)],
        "invalid and mock orders are left out; sums are exact"
    );
    let mock_orders = store
        .orders_per_bucket(None, true, C0, C0 + DAY, MINUTE)
        .await
        .expect("mock orders");
    assert_eq!(mock_orders.len(), 1);
    assert_eq!(mock_orders[0].bucket_ms, C0);
}
