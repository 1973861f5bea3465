//! The usage-analytics admin endpoints: `GET /api/admin/analytics/{overview,timeseries,keywords}`.

use std::sync::Arc;

use alistach_api::types as api;
use alistach_domain::platform_time;
use alistach_service::{Analytics, Metric, TimeRange};
use alistach_store::StoreError;

use super::Ctx;
use crate::app::App;
use crate::convert;
use crate::error::HttpError;
use crate::respond::{HttpResponse, json};

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;
/// The most points one time series answer holds.
const MAX_POINTS: i64 = 1500;

/// A resolved range: `[from_ms, to_ms)`, `from_ms` a minute's start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Range {
    from_ms: i64,
    to_ms: i64,
}

/// `from` and `to` as the admin endpoints read them, with the analytics defaults: `to` the end
/// of the current minute, `from` 24 hours before `to`.
fn range(from: Option<&str>, to: Option<&str>, now_ms: i64) -> Result<Range, HttpError> {
    let (from_ms, to_ms) = super::admin::time_range(from, to)?;
    let to_ms = to_ms.unwrap_or_else(|| now_ms.div_euclid(MINUTE_MS) * MINUTE_MS + MINUTE_MS);
    let from_ms = from_ms.unwrap_or(to_ms - DAY_MS).div_euclid(MINUTE_MS) * MINUTE_MS;
    if from_ms >= to_ms {
        return Err(HttpError::field("to", "must be after from"));
    }
    Ok(Range { from_ms, to_ms })
}

fn step_of(step: Option<&str>, range: Range) -> Result<i64, HttpError> {
    let step = match step.map(str::trim) {
        Some("minute") => MINUTE_MS,
        Some("hour") => HOUR_MS,
        Some("day") => DAY_MS,
        Some(_) => return Err(HttpError::field("step", "must be minute, hour or day")),
        None => {
            let span = range.to_ms - range.from_ms;
            if span <= 6 * HOUR_MS {
                MINUTE_MS
            } else if span <= 14 * DAY_MS {
                HOUR_MS
            } else {
                DAY_MS
            }
        }
    };
    let from = range.from_ms.div_euclid(step) * step;
    let points = (range.to_ms - from + step - 1).div_euclid(step);
    if points > MAX_POINTS {
        return Err(HttpError::field(
            "step",
            "the range holds more than 1500 steps of this width; choose a wider step or a shorter range",
        ));
    }
    Ok(step)
}

fn metric_of(metric: Option<&str>) -> Result<&'static str, HttpError> {
    match metric.map(str::trim) {
        None => Ok("requests"),
        Some(m) => api::ANALYTICS_METRICS
            .iter()
            .copied()
            .find(|known| *known == m)
            .ok_or_else(|| {
                HttpError::field(
                    "metric",
                    "must be requests, errors, p50_ms, p99_ms, cache_hit_ratio, upstream_calls, \
                     upstream_calls_saved, zero_result_searches, clicks, orders or commission",
                )
            }),
    }
}

fn store_error(e: StoreError) -> HttpError {
    // The text can name the database's host or file: the log gets it, the client does not.
    tracing::warn!(error = %e, "the analytics store failed");
    HttpError::StoreUnavailable
}

fn currency_of(currency: Option<&str>) -> Result<String, HttpError> {
    match currency.map(str::trim) {
        None => Ok("USD".to_owned()),
        Some(c) if c.len() == 3 && c.bytes().all(|b| b.is_ascii_alphabetic()) => {
            Ok(c.to_ascii_uppercase())
        }
        Some(_) => Err(HttpError::field(
            "currency",
            "must be a three-letter ISO 4217 code",
        )),
    }
}

fn limit_of(limit: Option<u32>) -> Result<u32, HttpError> {
    match limit {
        None => Ok(20),
        Some(n @ 1..=200) => Ok(n),
        Some(_) => Err(HttpError::field("limit", "must be 1 to 200")),
    }
}

impl App {
    fn analytics_or_unavailable(&self) -> Result<&Arc<Analytics>, HttpError> {
        self.analytics.as_ref().ok_or(HttpError::StoreUnavailable)
    }

    pub(super) async fn analytics_overview(
        &self,
        ctx: &Ctx<'_>,
    ) -> Result<HttpResponse, HttpError> {
        let req: api::AnalyticsOverviewQuery = convert::query_params(ctx.query, &[])?;
        let analytics = self.analytics_or_unavailable()?;
        let range = range(req.from.as_deref(), req.to.as_deref(), analytics.now_ms())?;
        let o = analytics
            .overview(
                TimeRange {
                    from_ms: range.from_ms,
                    to_ms: range.to_ms,
                },
                self.mode.is_mock(),
                &ctx.scope().usage(),
            )
            .await
            .map_err(store_error)?;
        let covered = o.range.unwrap_or(TimeRange {
            from_ms: range.from_ms,
            to_ms: range.to_ms,
        });
        let cache = o.cache_figures();
        let ms = |q: f64| o.latency.quantile(q).map(|s| s * 1e3);
        let data = api::AnalyticsOverviewData {
            from: platform_time::rfc3339(covered.from_ms),
            to: platform_time::rfc3339(covered.to_ms),
            requests: o.requests,
            errors: o.client_errors + o.server_errors,
            client_errors: o.client_errors,
            server_errors: o.server_errors,
            latency_ms: api::AnalyticsLatency {
                p50: ms(0.5),
                p99: ms(0.99),
            },
            cache: api::AnalyticsCache {
                hits: cache.hits,
                stale: cache.stale,
                misses: cache.misses,
                coalesced: cache.coalesced,
                hit_ratio: cache.hit_ratio(),
            },
            upstream_calls: cache.misses,
            upstream_calls_saved: cache.saved(),
            zero_result_searches: o.searches.zero_results,
            clicks: o.clicks,
            orders: o.orders,
            commission: o
                .commission
                .iter()
                .map(|(currency, cents)| api::AnalyticsAmount {
                    currency: currency.clone(),
                    amount: convert::money(*cents),
                })
                .collect(),
            routes: o
                .routes
                .iter()
                .map(|(route, requests, errors)| api::AnalyticsRouteItem {
                    route: route.clone(),
                    requests: *requests,
                    errors: *errors,
                })
                .collect(),
            clients: o
                .clients
                .iter()
                .map(|(client, requests)| api::AnalyticsClientItem {
                    client: client.clone(),
                    requests: *requests,
                })
                .collect(),
        };
        Ok(json(&api::AnalyticsOverviewResponse::ok(
            data,
            self.admin_metadata(),
        )))
    }

    pub(super) async fn analytics_timeseries(
        &self,
        ctx: &Ctx<'_>,
    ) -> Result<HttpResponse, HttpError> {
        let req: api::AnalyticsTimeseriesQuery = convert::query_params(ctx.query, &[])?;
        let metric_name = metric_of(req.metric.as_deref())?;
        let metric = Metric::parse(metric_name)
            .ok_or_else(|| HttpError::field("metric", "is not a known metric"))?;
        let analytics = self.analytics_or_unavailable()?;
        let range = range(req.from.as_deref(), req.to.as_deref(), analytics.now_ms())?;
        let step = step_of(req.step.as_deref(), range)?;
        let currency = currency_of(req.currency.as_deref())?;
        // Whole steps: the first holds `from`, the last holds the end.
        let from = range.from_ms.div_euclid(step) * step;
        let to = (range.to_ms + step - 1).div_euclid(step) * step;
        let points = analytics
            .timeseries(
                metric,
                TimeRange {
                    from_ms: from,
                    to_ms: to,
                },
                step,
                &currency,
                self.mode.is_mock(),
                &ctx.scope().usage(),
            )
            .await
            .map_err(store_error)?;
        let commission = metric == Metric::Commission;
        let data = api::AnalyticsTimeseriesData {
            metric: metric_name.to_owned(),
            step: match step {
                MINUTE_MS => "minute",
                HOUR_MS => "hour",
                _ => "day",
            }
            .to_owned(),
            currency: commission.then(|| currency.clone()),
            from: platform_time::rfc3339(from),
            to: platform_time::rfc3339(to),
            points: points
                .into_iter()
                .map(|p| api::AnalyticsPoint {
                    t: platform_time::rfc3339(p.t_ms),
                    value: p.value,
                    amount: commission.then(|| convert::money(p.cents.unwrap_or(0))),
                })
                .collect(),
        };
        Ok(json(&api::AnalyticsTimeseriesResponse::ok(
            data,
            self.admin_metadata(),
        )))
    }

    pub(super) async fn analytics_keywords(
        &self,
        ctx: &Ctx<'_>,
    ) -> Result<HttpResponse, HttpError> {
        let req: api::AnalyticsKeywordsQuery = convert::query_params(ctx.query, &["limit"])?;
        let analytics = self.analytics_or_unavailable()?;
        let range = range(req.from.as_deref(), req.to.as_deref(), analytics.now_ms())?;
        let limit = limit_of(req.limit)?;
        let report = analytics
            .keywords(
                TimeRange {
                    from_ms: range.from_ms,
                    to_ms: range.to_ms,
                },
                limit,
                &ctx.scope().usage(),
            )
            .await
            .map_err(store_error)?;
        let covered = report.range.unwrap_or(TimeRange {
            from_ms: range.from_ms,
            to_ms: range.to_ms,
        });
        let data = api::AnalyticsKeywordsData {
            from: platform_time::rfc3339(covered.from_ms),
            to: platform_time::rfc3339(covered.to_ms),
            searches: report.totals.searches,
            zero_result_searches: report.totals.zero_results,
            top: report
                .top
                .iter()
                .map(|(keyword, c)| api::AnalyticsKeywordItem {
                    keyword: keyword.clone(),
                    count: c.searches,
                    zero_results: c.zero_results,
                    results_avg: if c.searches == 0 {
                        0.0
                    } else {
                        c.results as f64 / c.searches as f64
                    },
                })
                .collect(),
            zero_results: report
                .zero_results
                .iter()
                .map(|(keyword, c)| api::AnalyticsZeroResultItem {
                    keyword: keyword.clone(),
                    count: c.zero_results,
                })
                .collect(),
        };
        Ok(json(&api::AnalyticsKeywordsResponse::ok(
            data,
            self.admin_metadata(),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_698_796_800_000; // 2023-11-01T00:00:00Z

    #[test]
    fn ranges_default_to_the_day_up_to_the_end_of_this_minute() {
        let r = range(None, None, T + 90_500).unwrap();
        assert_eq!(r.to_ms, T + 120_000, "the current minute is included");
        assert_eq!(r.from_ms, T + 120_000 - DAY_MS);
        let r = range(Some("2023-11-01T00:00:30Z"), Some("2023-11-01"), T).unwrap();
        assert_eq!(
            (r.from_ms, r.to_ms),
            (T, T + DAY_MS),
            "from floors to its minute"
        );
        assert_eq!(range(Some("soon"), None, T).unwrap_err().status(), 422);
        assert_eq!(
            range(Some("2023-11-02"), Some("2023-11-01T00:00:00Z"), T)
                .unwrap_err()
                .status(),
            422
        );
    }

    #[test]
    fn steps_default_by_span_and_are_bounded() {
        let r = |hours: i64| Range {
            from_ms: T,
            to_ms: T + hours * HOUR_MS,
        };
        assert_eq!(step_of(None, r(6)).unwrap(), MINUTE_MS);
        assert_eq!(step_of(None, r(7)).unwrap(), HOUR_MS);
        assert_eq!(step_of(None, r(24 * 15)).unwrap(), DAY_MS);
        assert_eq!(step_of(Some("week"), r(1)).unwrap_err().status(), 422);
        assert_eq!(step_of(Some("minute"), r(48)).unwrap_err().status(), 422);
        assert_eq!(metric_of(Some("bogus")).unwrap_err().status(), 422);
        assert_eq!(metric_of(None).unwrap(), "requests");
        assert_eq!(currency_of(Some("eur")).unwrap(), "EUR");
        assert_eq!(currency_of(Some("EURO")).unwrap_err().status(), 422);
        assert_eq!(limit_of(Some(0)).unwrap_err().status(), 422);
        assert_eq!(limit_of(Some(201)).unwrap_err().status(), 422);
    }
}
