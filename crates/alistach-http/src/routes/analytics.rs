//! The usage-analytics admin endpoints: `GET /api/admin/analytics/{overview,timeseries,keywords}`.

use alistach_api::types as api;
use alistach_domain::platform_time;

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

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl App {
    pub(super) async fn analytics_overview(
        &self,
        ctx: &Ctx<'_>,
    ) -> Result<HttpResponse, HttpError> {
        let req: api::AnalyticsOverviewQuery = convert::query_params(ctx.query, &[])?;
        let range = range(req.from.as_deref(), req.to.as_deref(), now_ms())?;
        let data = api::AnalyticsOverviewData {
            from: platform_time::rfc3339(range.from_ms),
            to: platform_time::rfc3339(range.to_ms),
            ..Default::default()
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
        let metric = metric_of(req.metric.as_deref())?;
        let range = range(req.from.as_deref(), req.to.as_deref(), now_ms())?;
        let step = step_of(req.step.as_deref(), range)?;
        let from = range.from_ms.div_euclid(step) * step;
        let points = (0..)
            .map(|i| from + i * step)
            .take_while(|t| *t < range.to_ms)
            .map(|t| api::AnalyticsPoint {
                t: platform_time::rfc3339(t),
                value: Some(0.0),
                amount: None,
            })
            .collect();
        let data = api::AnalyticsTimeseriesData {
            metric: metric.to_owned(),
            step: match step {
                MINUTE_MS => "minute",
                HOUR_MS => "hour",
                _ => "day",
            }
            .to_owned(),
            currency: None,
            from: platform_time::rfc3339(from),
            to: platform_time::rfc3339(range.to_ms),
            points,
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
        let range = range(req.from.as_deref(), req.to.as_deref(), now_ms())?;
        let data = api::AnalyticsKeywordsData {
            from: platform_time::rfc3339(range.from_ms),
            to: platform_time::rfc3339(range.to_ms),
            ..Default::default()
        };
        Ok(json(&api::AnalyticsKeywordsResponse::ok(
            data,
            self.admin_metadata(),
        )))
    }
}
