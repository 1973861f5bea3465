//! [`AnalyticsStore`] on SQL (migration 6): additive upserts of the minute rows into the
//! minute, hour and day rows, in one write transaction that records the flush id. Rows are
//! per tenant (migration 9); reading without a tenant sums over every tenant.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use alistach_domain::{HistogramSnapshot, LATENCY_SLOTS, OrderStatus};
use alistach_store::{
    AnalyticsBatch, AnalyticsStore, ClickBucket, KeywordCounts, KeywordOrder, OrderBucket,
    Resolution, StoreError, UsageCounts, UsageKey, UsageRow,
};
use async_trait::async_trait;
use sqlx::Row;

use super::{Arg, Pool, SqlStore, fits, in_list, unavailable};

/// A count as the databases keep it (signed 64 bits; a count never gets near the limit).
fn to_sql(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A keyword row's sums (searches, zero-result searches, results) as counts.
fn keyword_counts(searches: i64, zero: i64, results: i64) -> Result<KeywordCounts, StoreError> {
    Ok(KeywordCounts {
        searches: from_sql(searches, "search")?,
        zero_results: from_sql(zero, "zero-result")?,
        results: from_sql(results, "result")?,
    })
}

fn from_sql(n: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("a negative {what} count {n}")))
}

/// `l0, l1, …, l13`.
fn latency_columns() -> String {
    (0..LATENCY_SLOTS)
        .map(|i| format!("l{i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn upsert_usage_sql() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| {
        let params: Vec<String> = (11..11 + LATENCY_SLOTS).map(|i| format!("${i}")).collect();
        let adds: Vec<String> = (0..LATENCY_SLOTS)
            .map(|i| format!("l{i} = analytics_usage.l{i} + excluded.l{i}"))
            .collect();
        format!(
            "INSERT INTO analytics_usage (res, bucket_ms, route, client, cache, mode, \
             status_class, requests, latency_sum_us, tenant_id, {}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, {}) \
             ON CONFLICT (res, bucket_ms, tenant_id, route, client, cache, mode, status_class) \
             DO UPDATE SET \
             requests = analytics_usage.requests + excluded.requests, \
             latency_sum_us = analytics_usage.latency_sum_us + excluded.latency_sum_us, {}",
            latency_columns(),
            params.join(", "),
            adds.join(", ")
        )
    })
}

/// The usage query: of the tenant `$5` when `of_tenant`, else summed over every tenant (the
/// tenant column then empty). The tenant is the last column.
fn usage_query_sql(of_tenant: bool) -> &'static str {
    static OF_TENANT: OnceLock<String> = OnceLock::new();
    static ALL: OnceLock<String> = OnceLock::new();
    let make = || {
        let sums: Vec<String> = (0..LATENCY_SLOTS)
            .map(|i| format!("CAST(SUM(l{i}) AS BIGINT)"))
            .collect();
        let (tenant, filter, group) = if of_tenant {
            ("tenant_id", " AND tenant_id = $5", ", tenant_id")
        } else {
            ("CAST('' AS TEXT)", "", "")
        };
        format!(
            "SELECT $2 + ((bucket_ms - $2) / $4) * $4 AS step_ms, route, client, cache, mode, \
             status_class, CAST(SUM(requests) AS BIGINT), CAST(SUM(latency_sum_us) AS BIGINT), {}, \
             {tenant} FROM analytics_usage \
             WHERE res = $1 AND bucket_ms >= $2 AND bucket_ms < $3{filter} \
             GROUP BY step_ms, route, client, cache, mode, status_class{group}",
            sums.join(", ")
        )
    };
    if of_tenant {
        OF_TENANT.get_or_init(make)
    } else {
        ALL.get_or_init(make)
    }
}

const UPSERT_KEYWORD: &str = "INSERT INTO analytics_keywords \
    (res, bucket_ms, keyword, searches, zero_results, results, tenant_id) \
    VALUES ($1, $2, $3, $4, $5, $6, $7) \
    ON CONFLICT (res, bucket_ms, tenant_id, keyword) DO UPDATE SET \
    searches = analytics_keywords.searches + excluded.searches, \
    zero_results = analytics_keywords.zero_results + excluded.zero_results, \
    results = analytics_keywords.results + excluded.results";

/// ` AND tracking_id IN (…)` with its parameters numbered from `$first`, or nothing when
/// `tracking_ids` is `None`.
fn tracked_by(tracking_ids: Option<&[String]>, first: usize) -> (String, Vec<Arg>) {
    match tracking_ids {
        Some(ids) => {
            let (cond, args) = in_list("tracking_id", ids, first);
            (format!(" AND {cond}"), args)
        }
        None => (String::new(), Vec::new()),
    }
}

#[async_trait]
impl AnalyticsStore for SqlStore {
    async fn flush_analytics(&self, batch: &AnalyticsBatch) -> Result<bool, StoreError> {
        // The minute rows and their hour and day sums, merged here: one statement per row.
        let mut usage: BTreeMap<(Resolution, i64, &UsageKey), UsageCounts> = BTreeMap::new();
        for row in &batch.usage {
            for res in Resolution::ALL {
                usage
                    .entry((res, res.floor(row.bucket_ms), &row.key))
                    .or_default()
                    .merge(&row.counts);
            }
        }
        let mut keywords: BTreeMap<(Resolution, i64, &str, &str), KeywordCounts> = BTreeMap::new();
        for row in &batch.keywords {
            for res in Resolution::ALL {
                keywords
                    .entry((
                        res,
                        res.floor(row.bucket_ms),
                        row.tenant.as_str(),
                        row.keyword.as_str(),
                    ))
                    .or_default()
                    .merge(&row.counts);
            }
        }
        let last_minute = batch
            .usage
            .iter()
            .map(|r| r.bucket_ms)
            .chain(batch.keywords.iter().map(|r| r.bucket_ms))
            .max()
            .unwrap_or(0);
        with_pool!(self, p => {
            let mut tx = begin_write!(self, p)?;
            let claimed = sqlx::query(
                "INSERT INTO analytics_flushes (flush_id, last_minute_ms) VALUES ($1, $2) \
                 ON CONFLICT (flush_id) DO NOTHING",
            )
            .bind(batch.flush_id.clone())
            .bind(last_minute)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?
            .rows_affected();
            if claimed == 0 {
                tx.rollback().await.map_err(unavailable)?;
                return Ok(false);
            }
            for ((res, bucket_ms, key), c) in &usage {
                let mut q = sqlx::query(upsert_usage_sql())
                    .bind(res.code())
                    .bind(*bucket_ms)
                    .bind(key.route.clone())
                    .bind(key.client.clone())
                    .bind(key.cache.clone())
                    .bind(key.mode.clone())
                    .bind(i64::from(key.status_class))
                    .bind(to_sql(c.requests))
                    .bind(to_sql(c.latency.sum_micros))
                    .bind(key.tenant.clone());
                for n in c.latency.counts {
                    q = q.bind(to_sql(n));
                }
                q.execute(&mut *tx).await.map_err(unavailable)?;
            }
            for ((res, bucket_ms, tenant, keyword), c) in &keywords {
                sqlx::query(UPSERT_KEYWORD)
                    .bind(res.code())
                    .bind(*bucket_ms)
                    .bind((*keyword).to_owned())
                    .bind(to_sql(c.searches))
                    .bind(to_sql(c.zero_results))
                    .bind(to_sql(c.results))
                    .bind((*tenant).to_owned())
                    .execute(&mut *tx)
                    .await
                    .map_err(unavailable)?;
            }
            tx.commit().await.map_err(unavailable)?;
            Ok(true)
        })
    }

    async fn usage(
        &self,
        tenant: Option<&str>,
        res: Resolution,
        from_ms: i64,
        to_ms: i64,
        step_ms: i64,
    ) -> Result<Vec<UsageRow>, StoreError> {
        type Raw = (i64, String, String, String, String, i64, Vec<i64>, String);
        let raw: Vec<Raw> = with_pool!(self, p => {
            let mut q = sqlx::query(usage_query_sql(tenant.is_some()))
                .bind(res.code())
                .bind(from_ms)
                .bind(to_ms)
                .bind(step_ms);
            if let Some(t) = tenant {
                q = q.bind(t.to_owned());
            }
            let rows = q
                .fetch_all(p)
                .await
                .map_err(unavailable)?;
            rows.iter()
                .map(|r| {
                    let counts = (6..8 + LATENCY_SLOTS)
                        .map(|i| r.try_get::<i64, _>(i))
                        .collect::<Result<Vec<i64>, _>>()?;
                    Ok((
                        r.try_get::<i64, _>(0)?,
                        r.try_get::<String, _>(1)?,
                        r.try_get::<String, _>(2)?,
                        r.try_get::<String, _>(3)?,
                        r.try_get::<String, _>(4)?,
                        r.try_get::<i64, _>(5)?,
                        counts,
                        r.try_get::<String, _>(8 + LATENCY_SLOTS)?,
                    ))
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(unavailable)?
        });
        let mut rows = raw
            .into_iter()
            .map(
                |(bucket_ms, route, client, cache, mode, class, n, tenant)| {
                    let mut latency = HistogramSnapshot {
                        sum_micros: from_sql(n[1], "latency")?,
                        ..HistogramSnapshot::default()
                    };
                    for (slot, v) in latency.counts.iter_mut().zip(&n[2..]) {
                        *slot = from_sql(*v, "latency bucket")?;
                    }
                    Ok(UsageRow {
                        bucket_ms,
                        key: UsageKey {
                            tenant,
                            route,
                            client,
                            cache,
                            mode,
                            status_class: fits(class, "a status class")?,
                        },
                        counts: UsageCounts {
                            requests: from_sql(n[0], "request")?,
                            latency,
                        },
                    })
                },
            )
            .collect::<Result<Vec<_>, StoreError>>()?;
        rows.sort_by(|a, b| {
            a.bucket_ms
                .cmp(&b.bucket_ms)
                .then_with(|| a.key.cmp(&b.key))
        });
        Ok(rows)
    }

    async fn top_keywords(
        &self,
        tenant: Option<&str>,
        res: Resolution,
        from_ms: i64,
        to_ms: i64,
        order: KeywordOrder,
        limit: u32,
    ) -> Result<Vec<(String, KeywordCounts)>, StoreError> {
        let (having, rank) = match order {
            KeywordOrder::Searches => ("", "s"),
            KeywordOrder::ZeroResults => ("HAVING SUM(zero_results) > 0", "z"),
        };
        let of_tenant = if tenant.is_some() {
            " AND tenant_id = $5"
        } else {
            ""
        };
        let sql = format!(
            "SELECT keyword, CAST(SUM(searches) AS BIGINT) AS s, \
             CAST(SUM(zero_results) AS BIGINT) AS z, CAST(SUM(results) AS BIGINT) AS r \
             FROM analytics_keywords \
             WHERE res = $1 AND bucket_ms >= $2 AND bucket_ms < $3 AND keyword <> ''{of_tenant} \
             GROUP BY keyword {having} ORDER BY {rank} DESC, keyword LIMIT $4"
        );
        let rows: Vec<(String, i64, i64, i64)> = with_pool!(self, p => {
            let mut q = sqlx::query_as::<_, (String, i64, i64, i64)>(&sql)
                .bind(res.code())
                .bind(from_ms)
                .bind(to_ms)
                .bind(i64::from(limit));
            if let Some(t) = tenant {
                q = q.bind(t.to_owned());
            }
            q.fetch_all(p).await.map_err(unavailable)?
        });
        rows.into_iter()
            .map(|(k, s, z, r)| Ok((k, keyword_counts(s, z, r)?)))
            .collect()
    }

    async fn keyword_series(
        &self,
        tenant: Option<&str>,
        res: Resolution,
        keyword: &str,
        from_ms: i64,
        to_ms: i64,
        step_ms: i64,
    ) -> Result<Vec<(i64, KeywordCounts)>, StoreError> {
        let sql = format!(
            "SELECT $2 + ((bucket_ms - $2) / $4) * $4 AS step_ms, \
             CAST(SUM(searches) AS BIGINT), CAST(SUM(zero_results) AS BIGINT), \
             CAST(SUM(results) AS BIGINT) FROM analytics_keywords \
             WHERE res = $1 AND bucket_ms >= $2 AND bucket_ms < $3 AND keyword = $5{} \
             GROUP BY step_ms ORDER BY step_ms",
            if tenant.is_some() {
                " AND tenant_id = $6"
            } else {
                ""
            }
        );
        let rows: Vec<(i64, i64, i64, i64)> = with_pool!(self, p => {
            let mut q = sqlx::query_as::<_, (i64, i64, i64, i64)>(&sql)
                .bind(res.code())
                .bind(from_ms)
                .bind(to_ms)
                .bind(step_ms)
                .bind(keyword.to_owned());
            if let Some(t) = tenant {
                q = q.bind(t.to_owned());
            }
            q.fetch_all(p).await.map_err(unavailable)?
        });
        rows.into_iter()
            .map(|(b, s, z, r)| Ok((b, keyword_counts(s, z, r)?)))
            .collect()
    }

    async fn purge_analytics(&self, res: Resolution, before_ms: i64) -> Result<u64, StoreError> {
        with_pool!(self, p => {
            let mut tx = begin_write!(self, p)?;
            let mut removed = 0;
            for table in ["analytics_usage", "analytics_keywords"] {
                removed += sqlx::query(&format!(
                    "DELETE FROM {table} WHERE res = $1 AND bucket_ms < $2"
                ))
                .bind(res.code())
                .bind(before_ms)
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?
                .rows_affected();
            }
            if res == Resolution::Minute {
                sqlx::query("DELETE FROM analytics_flushes WHERE last_minute_ms < $1")
                    .bind(before_ms)
                    .execute(&mut *tx)
                    .await
                    .map_err(unavailable)?;
            }
            tx.commit().await.map_err(unavailable)?;
            Ok(removed)
        })
    }

    async fn clicks_per_bucket(
        &self,
        tracking_ids: Option<&[String]>,
        from_ms: i64,
        to_ms: i64,
        step_ms: i64,
    ) -> Result<Vec<ClickBucket>, StoreError> {
        let (tracked, args) = tracked_by(tracking_ids, 4);
        let sql = format!(
            "SELECT $1 + ((at_ms - $1) / $3) * $3 AS step_ms, COUNT(*) \
             FROM clicks WHERE at_ms >= $1 AND at_ms < $2{tracked} \
             GROUP BY step_ms ORDER BY step_ms"
        );
        let rows: Vec<(i64, i64)> = with_pool!(self, p => {
            let q = sqlx::query_as::<_, (i64, i64)>(&sql)
                .bind(from_ms)
                .bind(to_ms)
                .bind(step_ms);
            bind_args!(q, &args).fetch_all(p).await.map_err(unavailable)?
        });
        rows.into_iter()
            .map(|(bucket_ms, n)| {
                Ok(ClickBucket {
                    bucket_ms,
                    clicks: from_sql(n, "click")?,
                })
            })
            .collect()
    }

    async fn orders_per_bucket(
        &self,
        tracking_ids: Option<&[String]>,
        mock: bool,
        from_ms: i64,
        to_ms: i64,
        step_ms: i64,
    ) -> Result<Vec<OrderBucket>, StoreError> {
        let (tracked, args) = tracked_by(tracking_ids, 6);
        let sql = format!(
            "SELECT $2 + ((order_time_ms - $2) / $4) * $4 AS step_ms, currency, \
             COUNT(*), CAST(SUM(estimated_paid_commission) AS BIGINT) FROM orders \
             WHERE mock = $1 AND order_time_ms >= $2 AND order_time_ms < $3 AND status <> $5\
             {tracked} GROUP BY step_ms, currency ORDER BY step_ms, currency"
        );
        let rows: Vec<(i64, String, i64, i64)> = with_pool!(self, p => {
            let q = sqlx::query_as::<_, (i64, String, i64, i64)>(&sql)
                .bind(mock)
                .bind(from_ms)
                .bind(to_ms)
                .bind(step_ms)
                .bind(OrderStatus::Invalid.as_str());
            bind_args!(q, &args).fetch_all(p).await.map_err(unavailable)?
        });
        let mut buckets = rows
            .into_iter()
            .map(|(bucket_ms, currency, n, cents)| {
                Ok(OrderBucket {
                    bucket_ms,
                    currency,
                    orders: from_sql(n, "order")?,
                    commission_cents: cents,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        buckets.sort_by(|a, b| {
            a.bucket_ms
                .cmp(&b.bucket_ms)
                .then_with(|| a.currency.cmp(&b.currency))
        });
        Ok(buckets)
    }
}
