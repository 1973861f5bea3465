//! Click tracking's endpoints: `GET /r/{token}` (the tracked link: a 302 to the affiliate link,
//! the click queued unless the fetch is a HEAD, a preview, a bot or a prefetch) and
//! `GET /api/admin/clicks` (what the click store holds, and the counters).

use alistach_api::types as api;
use alistach_api::{RouteId, path_parameter, routes::route_of};
use hyper::StatusCode;
use hyper::header::{self, HeaderValue};

use super::ctx::Ctx;
use crate::app::App;
use crate::error::HttpError;
use crate::respond::{HttpResponse, body_response, json, unix_now};

const NOT_OURS: &str = "this is not a tracked link issued by this server (the token is malformed, \
                        altered or signed with another key)";
const TRACKING_OFF: &str = "link tracking is off on this server (LINK_TRACKING=direct)";

impl App {
    pub(super) fn follow_link(&self, ctx: &Ctx<'_>) -> Result<HttpResponse, HttpError> {
        let Some(clicks) = &self.clicks else {
            return Err(HttpError::LinkNotFound(TRACKING_OFF));
        };
        let token = path_parameter(route_of(RouteId::TrackedLink).path, ctx.path)
            .ok_or(HttpError::LinkNotFound(NOT_OURS))?;
        let text = |name: &str| ctx.headers.get(name).and_then(|v| v.to_str().ok());
        let person = !ctx.head
            && !alistach_policy::is_automated_agent(text(header::USER_AGENT.as_str()))
            && !alistach_policy::is_prefetch(text("sec-purpose").or_else(|| text("purpose")));
        let to = clicks
            .follow(token, person)
            .map_err(|_| HttpError::LinkNotFound(NOT_OURS))?;
        // A signed URL is printable ASCII (checked when sealed and opened).
        let location = HeaderValue::from_str(&to).map_err(|_| HttpError::Internal)?;
        let mut resp = body_response(StatusCode::FOUND, "text/plain; charset=utf-8", "");
        let h = resp.headers_mut();
        h.insert(header::LOCATION, location);
        // Every click must reach us to be counted; nothing may keep the redirect.
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        Ok(resp)
    }

    pub(super) async fn click_summary(&self, ctx: &Ctx<'_>) -> Result<HttpResponse, HttpError> {
        let scope = ctx.scope();
        let own: Option<Vec<String>> = scope.tracking_id().map(|t| vec![t.to_owned()]);
        let (link_tracking, summary, stats) = match &self.clicks {
            Some(clicks) => {
                // The counters first: every click they count as recorded is in the summary.
                // They are the instance's, over every tenant: a tenant-admin key gets none.
                let stats = if own.is_some() {
                    Default::default()
                } else {
                    clicks.stats()
                };
                let summary = clicks.summary(own.as_deref()).await.map_err(|e| {
                    // The text can name the database's host or file: only the log gets it.
                    tracing::warn!(error = %e, "the click store failed");
                    HttpError::StoreUnavailable
                })?;
                ("redirect", summary, stats)
            }
            None => ("direct", Default::default(), Default::default()),
        };
        let data = api::ClickSummaryData {
            link_tracking: link_tracking.to_owned(),
            store: self.click_store.to_owned(),
            total_clicks: summary.total,
            products: summary
                .products
                .iter()
                .map(|p| api::ProductClickCount {
                    product_id: p.product_id.0.to_string(),
                    clicks: p.clicks,
                })
                .collect(),
            since_start: api::ClickCounters {
                recorded: stats.recorded,
                dropped: stats.dropped,
                not_counted: stats.not_counted,
                failed: stats.failed,
                queued: stats.queued,
                queue_capacity: stats.capacity,
            },
        };
        let metadata = api::ClickSummaryMetadata {
            timestamp: unix_now(),
        };
        Ok(json(&api::ClickSummaryResponse::ok(data, metadata)))
    }
}
