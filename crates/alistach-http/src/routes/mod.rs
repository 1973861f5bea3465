//! The endpoints: `route` sends each route of the contract's table to its handler; catalog
//! endpoints are in `catalog.rs`, operations endpoints (health, status, cache admin, metrics,
//! documents) in `ops.rs`, the order and revenue admin endpoints in `admin.rs`, click tracking's
//! in `clicks.rs`, the A/B experiments' in `experiments.rs`, the
//! webhooks' in `webhooks.rs`, the alerts' in `alerts.rs`, the
//! dashboard page and its files in `dashboard.rs`.

mod admin;
mod alerts;
mod analytics;
mod catalog;
mod clicks;
mod ctx;
mod dashboard;
mod experiments;
mod ops;
mod tenants;
mod watches;
mod webhooks;

use alistach_api::types as api;
use alistach_api::{Profile, RouteId};
use hyper::StatusCode;
use hyper::header::{self, HeaderValue};

use crate::app::App;
use crate::convert;
use crate::error::HttpError;
use crate::respond::{HttpResponse, body_response, json, unix_now};

pub(crate) use ctx::Ctx;
pub(crate) use tenants::{AuditCall, AuditTenant};

/// The query parameters that are numbers in a search.
const SEARCH_NUMERIC: &[&str] = convert::PAGED_NUMERIC;

impl App {
    /// Answers a routed request.
    pub(crate) async fn route(
        &self,
        id: RouteId,
        ctx: &Ctx<'_>,
        body: &[u8],
    ) -> Result<HttpResponse, HttpError> {
        self.check_operator(id, ctx)?;
        match id {
            RouteId::Root => Ok(self.root()),
            RouteId::Health => Ok(self.health().await),
            RouteId::Livez => Ok(json(&api::Probe {
                status: "ok".into(),
                checks: Vec::new(),
            })),
            RouteId::Readyz => Ok(self.readyz().await),
            RouteId::SearchPost => {
                let req = convert::json_body(body, SEARCH_NUMERIC)?;
                self.search(ctx, &req, catalog::Search::Post).await
            }
            RouteId::SearchNoCache => {
                let req = convert::json_body(body, SEARCH_NUMERIC)?;
                self.search(ctx, &req, catalog::Search::NoCache).await
            }
            RouteId::SearchGet => {
                let req = convert::query_params(ctx.query, SEARCH_NUMERIC)?;
                self.search(ctx, &req, catalog::Search::Get).await
            }
            RouteId::ProductsGet => {
                let req = convert::query_params(ctx.query, SEARCH_NUMERIC)?;
                self.search(ctx, &req, catalog::Search::V1Get).await
            }
            RouteId::HotProducts => {
                let req = convert::query_params(ctx.query, SEARCH_NUMERIC)?;
                self.search(ctx, &req, catalog::Search::Hot).await
            }
            RouteId::ProductDetails => self.details(ctx).await,
            RouteId::SimilarProducts => self.similar(ctx).await,
            RouteId::Promotions => self.promotions(ctx).await,
            RouteId::PromotionProducts => self.promotion_products(ctx).await,
            RouteId::Categories => self.categories(ctx).await,
            RouteId::AffiliateLinks => {
                let req: api::AffiliateLinksRequest = convert::json_body(body, &["urls"])?;
                let request = convert::link_request(&req.urls, req.link_type.as_deref())?;
                self.links(ctx, request, false).await
            }
            RouteId::AffiliateLink => {
                let req: api::AffiliateLinkQuery = convert::query_params(ctx.query, &[])?;
                let request = convert::link_request_one(&req.url, req.link_type.as_deref())?;
                self.links(ctx, request, true).await
            }
            RouteId::Status => Ok(self.status().await),
            RouteId::CacheStats => {
                let data = self.cache_stats().await;
                let meta = api::CacheStatsMetadata {
                    timestamp: unix_now(),
                    description: "cache counters since start-up, per tier and overall".into(),
                };
                Ok(json(&api::CacheStatsResponse::ok(data, meta)))
            }
            RouteId::CacheClear => self.cache_clear(ctx).await,
            RouteId::AdminOrders => self.admin_orders(ctx).await,
            RouteId::AdminOrdersSync => self.admin_orders_sync().await,
            RouteId::AdminRevenue => self.admin_revenue(ctx).await,
            RouteId::SystemInfo => Ok(self.system_info()),
            RouteId::OpenApi => Ok(body_response(
                StatusCode::OK,
                "application/json",
                self.openapi.get(Profile::Full),
            )),
            RouteId::OpenApiGpt => Ok(body_response(
                StatusCode::OK,
                "application/json",
                self.openapi.get(Profile::Gpt),
            )),
            RouteId::Docs => Ok(body_response(
                StatusCode::OK,
                "text/html; charset=utf-8",
                alistach_api::DOCS_HTML,
            )),
            RouteId::DocsAsset => {
                let mut resp = body_response(
                    StatusCode::OK,
                    "text/javascript; charset=utf-8",
                    alistach_api::RAPIDOC_JS,
                );
                resp.headers_mut().insert(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=86400"),
                );
                Ok(resp)
            }
            RouteId::Metrics => Ok(self.metrics_text().await),
            // The pipeline hands `/mcp` to the MCP endpoint with the request head (its headers
            // select the protocol revision); it never reaches this table.
            RouteId::Mcp => Err(HttpError::Internal),
            RouteId::TrackedLink => self.follow_link(ctx),
            RouteId::ClickSummary => self.click_summary(ctx).await,
            RouteId::Alerts => self.alerts_report(),
            RouteId::Experiments => self.experiments_list(ctx).await,
            RouteId::ExperimentCreate => self.experiment_create(ctx, body).await,
            RouteId::ExperimentReport => self.experiment_report(ctx).await,
            RouteId::ExperimentStop => self.experiment_stop(ctx).await,
            RouteId::Webhooks
            | RouteId::WebhookCreate
            | RouteId::Webhook
            | RouteId::WebhookUpdate
            | RouteId::WebhookDelete
            | RouteId::WebhookTest
            | RouteId::WebhookDeliveries
            | RouteId::WebhookRetry => self.webhook_route(id, ctx, body).await,
            RouteId::Watches | RouteId::WatchCreate | RouteId::WatchDelete => {
                self.watch_route(id, ctx, body).await
            }
            RouteId::AnalyticsOverview => self.analytics_overview(ctx).await,
            RouteId::AnalyticsTimeseries => self.analytics_timeseries(ctx).await,
            RouteId::AnalyticsKeywords => self.analytics_keywords(ctx).await,
            RouteId::TenantUsage => self.tenant_usage(ctx).await,
            RouteId::Tenants
            | RouteId::TenantCreate
            | RouteId::Tenant
            | RouteId::TenantUpdate
            | RouteId::TenantDelete
            | RouteId::TenantKeys
            | RouteId::TenantKeyCreate
            | RouteId::TenantKeyRevoke
            | RouteId::Audit => self.tenant_route(id, ctx, body).await,
            RouteId::Dashboard => Ok(self.dashboard_page(ctx)),
            RouteId::DashboardAsset => self.dashboard_asset(ctx),
        }
    }
}
