//! The route table shared by the HTTP router and the OpenAPI builder, so neither can drift from the other.

use std::collections::BTreeMap;
use std::fmt;

/// Every endpoint AliStach answers. The router matches on this and the OpenAPI builder describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RouteId {
    /// `GET /`: service banner.
    Root,
    /// `GET /health`: the v1.1.0 health document.
    Health,
    /// `GET /livez`: liveness probe.
    Livez,
    /// `GET /readyz`: readiness probe.
    Readyz,
    /// `POST /api/products/search`: cached product search, JSON body.
    SearchPost,
    /// `POST /api/products/search/no-cache`: product search bypassing the cache.
    SearchNoCache,
    /// `GET /api/products/search`: product search from query parameters.
    SearchGet,
    /// `GET /api/products`: the v1.1.0 query-parameter search.
    ProductsGet,
    /// `GET /api/products/details`: details for product ids or URLs.
    ProductDetails,
    /// `GET /api/products/hot`: hot (high-commission) products.
    HotProducts,
    /// `GET /api/products/similar`: products similar to a seed product.
    SimilarProducts,
    /// `GET /api/promotions`: the featured promotions.
    Promotions,
    /// `GET /api/promotions/products`: a promotion's products.
    PromotionProducts,
    /// `GET /api/categories`: the category tree, or one category's children.
    Categories,
    /// `POST /api/affiliate/links`: affiliate links for many URLs.
    AffiliateLinks,
    /// `GET /api/affiliate/link`: the affiliate link for one URL.
    AffiliateLink,
    /// `GET /api/status`: service status and capabilities.
    Status,
    /// `GET /api/cache/stats`: cache statistics (admin).
    CacheStats,
    /// `POST /api/cache/clear`: cache invalidation (admin).
    CacheClear,
    /// `GET /api/admin/orders`: synced affiliate orders (admin).
    AdminOrders,
    /// `POST /api/admin/orders/sync`: sync orders from the platform now (admin).
    AdminOrdersSync,
    /// `GET /api/admin/revenue`: orders and commissions grouped (admin).
    AdminRevenue,
    /// `GET /system/info`: configuration summary.
    SystemInfo,
    /// `GET /openapi.json`: the full OpenAPI document.
    OpenApi,
    /// `GET /openapi-gpt.json`: the OpenAPI document for GPT Actions.
    OpenApiGpt,
    /// `GET /docs`: the interactive API page.
    Docs,
    /// `GET /docs/rapidoc-min.js`: the script the API page loads.
    DocsAsset,
    /// `GET /metrics`: Prometheus metrics (admin).
    Metrics,
    /// `POST /mcp`: the Model Context Protocol endpoint (stateless Streamable HTTP).
    Mcp,
    /// `GET /r/{token}`: a tracked affiliate link; redirects to AliExpress and counts the click.
    TrackedLink,
    /// `GET /api/admin/clicks`: clicks on tracked links (admin).
    ClickSummary,
    /// `GET /api/admin/experiments`: every A/B experiment (admin).
    Experiments,
    /// `POST /api/admin/experiments`: start an A/B experiment of link strategies (admin).
    ExperimentCreate,
    /// `GET /api/admin/experiments/{id}`: an experiment's results per variant (admin).
    ExperimentReport,
    /// `POST /api/admin/experiments/{id}/stop`: stop an experiment (admin).
    ExperimentStop,
    /// `GET /api/admin/webhooks`: every webhook endpoint (admin).
    Webhooks,
    /// `POST /api/admin/webhooks`: add a webhook endpoint (admin).
    WebhookCreate,
    /// `GET /api/admin/webhooks/{id}`: one webhook endpoint (admin).
    Webhook,
    /// `PATCH /api/admin/webhooks/{id}`: change, disable or enable an endpoint (admin).
    WebhookUpdate,
    /// `DELETE /api/admin/webhooks/{id}`: remove an endpoint and its deliveries (admin).
    WebhookDelete,
    /// `POST /api/admin/webhooks/{id}/test`: send a test event (admin).
    WebhookTest,
    /// `GET /api/admin/webhooks/{id}/deliveries`: an endpoint's deliveries and attempts (admin).
    WebhookDeliveries,
    /// `POST /api/admin/webhooks/{id}/deliveries/{delivery}/retry`: retry a delivery (admin).
    WebhookRetry,
    /// `GET /api/admin/alerts`: the built-in alert rules' states (admin).
    Alerts,
    /// `GET /api/admin/watches`: every product watch (admin).
    Watches,
    /// `POST /api/admin/watches`: watch a product's price and availability (admin).
    WatchCreate,
    /// `DELETE /api/admin/watches/{id}`: stop watching (admin).
    WatchDelete,
    /// `GET /api/admin/analytics/overview`: usage totals over a range (admin).
    AnalyticsOverview,
    /// `GET /api/admin/analytics/timeseries`: one usage metric per step (admin).
    AnalyticsTimeseries,
    /// `GET /api/admin/analytics/keywords`: the top and the zero-result search keywords (admin).
    AnalyticsKeywords,
    /// `GET /api/admin/tenants`: the tenants (admin; a tenant-admin key sees its own).
    Tenants,
    /// `POST /api/admin/tenants`: create a tenant (super-admin).
    TenantCreate,
    /// `GET /api/admin/tenants/{id}`: one tenant (admin; a tenant-admin key only its own).
    Tenant,
    /// `PATCH /api/admin/tenants/{id}`: change a tenant with a JSON merge patch (super-admin).
    TenantUpdate,
    /// `DELETE /api/admin/tenants/{id}`: delete a tenant and revoke its keys (super-admin).
    TenantDelete,
    /// `GET /api/admin/tenants/{id}/keys`: a tenant's API keys (admin).
    TenantKeys,
    /// `POST /api/admin/tenants/{id}/keys`: make a key for a tenant; the answer shows it once (admin).
    TenantKeyCreate,
    /// `DELETE /api/admin/tenants/{id}/keys/{key_id}`: revoke a tenant's key (admin).
    TenantKeyRevoke,
    /// `GET /api/admin/tenants/{id}/usage`: a tenant's usage per day, JSON or CSV (admin).
    TenantUsage,
    /// `GET /api/admin/audit`: the audit log of admin actions, newest first (admin).
    Audit,
    /// `GET /dashboard`: the operator's web page (its data comes from the admin API, with the key).
    Dashboard,
    /// `GET /dashboard/{asset}`: a script, style sheet or icon of the dashboard page.
    DashboardAsset,
}

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone, no key.
    Public,
    /// Callers with an API key (or any key when keys are not configured).
    Api,
    /// Callers with the admin key.
    Admin,
}

/// One row of the route table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    /// Stable identity the router dispatches on.
    pub id: RouteId,
    /// HTTP method, upper case.
    pub method: &'static str,
    /// The path; a segment `{name}` is a parameter matching one non-empty segment (see
    /// [`path_parameter`]).
    pub path: &'static str,
    /// camelCase OpenAPI `operationId`; GPT Actions key on it, so it never changes.
    pub operation_id: &'static str,
    /// One-line summary, at most 300 characters (a GPT Actions limit).
    pub summary: &'static str,
    /// Who may call it.
    pub access: Access,
    /// Listed in the GPT Actions document.
    pub in_gpt: bool,
    /// Listed in the full OpenAPI document.
    pub in_openapi: bool,
}

// Positional on purpose: one row per line keeps the table readable.
#[allow(clippy::too_many_arguments)]
const fn route(
    id: RouteId,
    method: &'static str,
    path: &'static str,
    operation_id: &'static str,
    summary: &'static str,
    access: Access,
    in_gpt: bool,
    in_openapi: bool,
) -> Route {
    Route {
        id,
        method,
        path,
        operation_id,
        summary,
        access,
        in_gpt,
        in_openapi,
    }
}

use Access::{Admin, Api, Public};

/// The whole table, in the order the documents list it.
pub const ROUTES: &[Route] = &[
    route(
        RouteId::Root,
        "GET",
        "/",
        "getServiceInfo",
        "Service banner with links to the documentation",
        Public,
        false,
        true,
    ),
    route(
        RouteId::Health,
        "GET",
        "/health",
        "getHealth",
        "Health summary (v1.1.0 compatible)",
        Public,
        false,
        true,
    ),
    route(
        RouteId::Livez,
        "GET",
        "/livez",
        "getLiveness",
        "Liveness probe: the process is serving",
        Public,
        false,
        true,
    ),
    route(
        RouteId::Readyz,
        "GET",
        "/readyz",
        "getReadiness",
        "Readiness probe: the service can answer requests",
        Public,
        false,
        true,
    ),
    route(
        RouteId::SearchPost,
        "POST",
        "/api/products/search",
        "searchProductsPost",
        "Search AliExpress products (JSON body, cached)",
        Api,
        false,
        true,
    ),
    route(
        RouteId::SearchNoCache,
        "POST",
        "/api/products/search/no-cache",
        "searchProductsNoCache",
        "Search AliExpress products, bypassing the cache",
        Api,
        false,
        true,
    ),
    route(
        RouteId::SearchGet,
        "GET",
        "/api/products/search",
        "searchProducts",
        "Search AliExpress products by keywords, category, price range and sort order",
        Api,
        true,
        true,
    ),
    route(
        RouteId::ProductsGet,
        "GET",
        "/api/products",
        "listProducts",
        "Search AliExpress products with query parameters (v1.1.0 compatible)",
        Api,
        false,
        true,
    ),
    route(
        RouteId::ProductDetails,
        "GET",
        "/api/products/details",
        "getProductDetails",
        "Get full details for AliExpress products by id or product URL",
        Api,
        true,
        true,
    ),
    route(
        RouteId::HotProducts,
        "GET",
        "/api/products/hot",
        "getHotProducts",
        "Get hot AliExpress products with high affiliate commission",
        Api,
        true,
        true,
    ),
    route(
        RouteId::SimilarProducts,
        "GET",
        "/api/products/similar",
        "getSimilarProducts",
        "Find AliExpress products similar to a given product",
        Api,
        true,
        true,
    ),
    route(
        RouteId::Promotions,
        "GET",
        "/api/promotions",
        "listPromotions",
        "List AliExpress featured promotions (product pools such as Hot Product)",
        Api,
        true,
        true,
    ),
    route(
        RouteId::PromotionProducts,
        "GET",
        "/api/promotions/products",
        "getPromotionProducts",
        "Get the products of one AliExpress featured promotion",
        Api,
        true,
        true,
    ),
    route(
        RouteId::Categories,
        "GET",
        "/api/categories",
        "listCategories",
        "List AliExpress product categories with their subcategories, or one category's subcategories",
        Api,
        true,
        true,
    ),
    route(
        RouteId::AffiliateLinks,
        "POST",
        "/api/affiliate/links",
        "createAffiliateLinks",
        "Create affiliate links for up to 50 AliExpress product URLs",
        Api,
        true,
        true,
    ),
    route(
        RouteId::AffiliateLink,
        "GET",
        "/api/affiliate/link",
        "getAffiliateLink",
        "Create the affiliate link for one AliExpress product URL",
        Api,
        true,
        true,
    ),
    route(
        RouteId::Status,
        "GET",
        "/api/status",
        "getStatus",
        "Service status, capabilities and cache performance",
        Api,
        false,
        true,
    ),
    route(
        RouteId::CacheStats,
        "GET",
        "/api/cache/stats",
        "getCacheStats",
        "Cache statistics per tier",
        Admin,
        false,
        true,
    ),
    route(
        RouteId::CacheClear,
        "POST",
        "/api/cache/clear",
        "clearCache",
        "Clear cached entries, all or one kind",
        Admin,
        false,
        true,
    ),
    route(
        RouteId::AdminOrders,
        "GET",
        "/api/admin/orders",
        "listOrders",
        "Affiliate orders synced from AliExpress, with their status history",
        Admin,
        false,
        true,
    ),
    route(
        RouteId::AdminOrdersSync,
        "POST",
        "/api/admin/orders/sync",
        "syncOrders",
        "Sync affiliate orders from AliExpress now",
        Admin,
        false,
        true,
    ),
    route(
        RouteId::AdminRevenue,
        "GET",
        "/api/admin/revenue",
        "getRevenue",
        "Orders, paid amounts and commissions grouped by day, tracking id, product or category",
        Admin,
        false,
        true,
    ),
    route(
        RouteId::SystemInfo,
        "GET",
        "/system/info",
        "getSystemInfo",
        "Configuration summary without secrets",
        Api,
        false,
        true,
    ),
    route(
        RouteId::OpenApi,
        "GET",
        "/openapi.json",
        "getOpenApi",
        "This OpenAPI document",
        Public,
        false,
        true,
    ),
    route(
        RouteId::OpenApiGpt,
        "GET",
        "/openapi-gpt.json",
        "getOpenApiGpt",
        "The OpenAPI document for GPT Actions",
        Public,
        false,
        true,
    ),
    route(
        RouteId::Docs,
        "GET",
        "/docs",
        "getDocs",
        "Interactive API documentation page",
        Public,
        false,
        true,
    ),
    // A static script for /docs, not part of the API anyone calls.
    route(
        RouteId::DocsAsset,
        "GET",
        "/docs/rapidoc-min.js",
        "getDocsAsset",
        "Script used by the documentation page",
        Public,
        false,
        false,
    ),
    route(
        RouteId::Metrics,
        "GET",
        "/metrics",
        "getMetrics",
        "Prometheus metrics",
        Admin,
        false,
        true,
    ),
    // JSON-RPC under the MCP specification, not a REST operation: its contract is the protocol
    // and the tool list it serves (`tools/list`), so neither OpenAPI document lists it.
    route(
        RouteId::Mcp,
        "POST",
        "/mcp",
        "callMcp",
        "Model Context Protocol endpoint (Streamable HTTP, stateless): the catalog as MCP tools",
        Api,
        false,
        false,
    ),
    route(
        RouteId::TrackedLink,
        "GET",
        "/r/{token}",
        "followTrackedLink",
        "Follow a tracked affiliate link: redirects to AliExpress and counts the click",
        Public,
        false,
        true,
    ),
    route(
        RouteId::ClickSummary,
        "GET",
        "/api/admin/clicks",
        "getClickSummary",
        "Clicks on tracked links: stored totals per product and counters since start-up",
        Admin,
        false,
        true,
    ),
    route(
        RouteId::Experiments,
        "GET",
        "/api/admin/experiments",
        "listExperiments",
        "A/B experiments of link strategies, newest first",
        Admin,
        false,
        true,
    ),
    route(
        RouteId::ExperimentCreate,
        "POST",
        "/api/admin/experiments",
        "createExperiment",
        "Start an A/B experiment of link strategies (link type, tracking id) across the links handed out",
        Admin,
        false,
        true,
    ),
    route(
        RouteId::ExperimentReport,
        "GET",
        "/api/admin/experiments/{id}",
        "getExperiment",
        "An experiment's links, clicks, orders, conversion, commission and earnings per click per variant, with 95% intervals and tests against the control",
        Admin,
        false,
        true,
    ),
    route(
        RouteId::ExperimentStop,
        "POST",
        "/api/admin/experiments/{id}/stop",
        "stopExperiment",
        "Stop an experiment: links go back to the deployment's strategy; its results stay",
        Admin,
        false,
        true,
    ),
    route(
        RouteId::Webhooks,
        "GET",
        "/api/admin/webhooks",
        "listWebhooks",
        "Webhook endpoints, oldest first (secrets are never shown again)",
        Admin,
        false,
        true,
    ),
    route(
        RouteId::WebhookCreate,
        "POST",
        "/api/admin/webhooks",
        "createWebhook",
        "Add a webhook endpoint; the answer shows its signing secret once",
        Admin,
        false,
        true,
    ),
    route(
        RouteId::Webhook,
        "GET",
        "/api/admin/webhooks/{id}",
        "getWebhook",
        "One webhook endpoint",
        Admin,
        false,
        true,
    ),
    route(
        RouteId::WebhookUpdate,
        "PATCH",
        "/api/admin/webhooks/{id}",
        "updateWebhook",
        "Change a webhook endpoint's URL, events or description, or disable or enable it",
        Admin,
        false,
        true,
    ),
    route(
        RouteId::WebhookDelete,
        "DELETE",
        "/api/admin/webhooks/{id}",
        "deleteWebhook",
        "Remove a webhook endpoint and its deliveries",
        Admin,
        false,
        true,
    ),
    route(
        RouteId::WebhookTest,
        "POST",
        "/api/admin/webhooks/{id}/test",
        "testWebhook",
        "Send a signed test event to a webhook endpoint",
        Admin,
        false,
        true,
    ),
    route(
        RouteId::WebhookDeliveries,
        "GET",
        "/api/admin/webhooks/{id}/deliveries",
        "listWebhookDeliveries",
        "A webhook endpoint's deliveries, newest first, each with every attempt (time, status, latency, error)",
        Admin,
        false,
        true,
    ),
    route(
        RouteId::WebhookRetry,
        "POST",
        "/api/admin/webhooks/{id}/deliveries/{delivery}/retry",
        "retryWebhookDelivery",
        "Retry a delivery now (a failed one, or a pending one sooner)",
        Admin,
        false,
        true,
    ),
    route(
        RouteId::Alerts,
        "GET",
        "/api/admin/alerts",
        "listAlerts",
        "The built-in alert rules: state, since when, threshold, last value and recent transitions",
        Admin,
        false,
        true,
    ),
    route(
        RouteId::Watches,
        "GET",
        "/api/admin/watches",
        "listWatches",
        "Product watches, oldest first, each with what its checks last saw",
        Admin,
        false,
        true,
    ),
    route(
        RouteId::WatchCreate,
        "POST",
        "/api/admin/watches",
        "createWatch",
        "Watch a product: product.price_changed and product.unavailable webhook events, once per change",
        Admin,
        false,
        true,
    ),
    route(
        RouteId::WatchDelete,
        "DELETE",
        "/api/admin/watches/{id}",
        "deleteWatch",
        "Stop watching a product",
        Admin,
        false,
        true,
    ),
    route(
        RouteId::AnalyticsOverview,
        "GET",
        "/api/admin/analytics/overview",
        "getAnalyticsOverview",
        "API and MCP usage over a range: calls, errors, latency, cache hits, upstream calls saved, clicks, orders, commission",
        Admin,
        false,
        true,
    ),
    route(
        RouteId::AnalyticsTimeseries,
        "GET",
        "/api/admin/analytics/timeseries",
        "getAnalyticsTimeseries",
        "One usage metric per minute, hour or day over a range",
        Admin,
        false,
        true,
    ),
    route(
        RouteId::AnalyticsKeywords,
        "GET",
        "/api/admin/analytics/keywords",
        "getAnalyticsKeywords",
        "The most searched keywords and the keywords that found nothing",
        Admin,
        false,
        true,
    ),
    route(
        RouteId::Tenants,
        "GET",
        "/api/admin/tenants",
        "listTenants",
        "Tenants by id with their settings (a tenant-admin key sees only its own)",
        Admin,
        false,
        true,
    ),
    route(
        RouteId::TenantCreate,
        "POST",
        "/api/admin/tenants",
        "createTenant",
        "Create a tenant: its tracking id, limits, quota, cache TTLs, CORS origins, defaults and AliExpress app",
        Admin,
        false,
        true,
    ),
    route(
        RouteId::Tenant,
        "GET",
        "/api/admin/tenants/{id}",
        "getTenant",
        "One tenant and its settings",
        Admin,
        false,
        true,
    ),
    route(
        RouteId::TenantUpdate,
        "PATCH",
        "/api/admin/tenants/{id}",
        "updateTenant",
        "Change a tenant with a JSON merge patch (RFC 7396): present fields replace, null clears a setting",
        Admin,
        false,
        true,
    ),
    route(
        RouteId::TenantDelete,
        "DELETE",
        "/api/admin/tenants/{id}",
        "deleteTenant",
        "Delete a tenant created through the API and revoke its keys",
        Admin,
        false,
        true,
    ),
    route(
        RouteId::TenantKeys,
        "GET",
        "/api/admin/tenants/{id}/keys",
        "listTenantKeys",
        "A tenant's API keys, oldest first, revoked and expired ones included (never the keys themselves)",
        Admin,
        false,
        true,
    ),
    route(
        RouteId::TenantKeyCreate,
        "POST",
        "/api/admin/tenants/{id}/keys",
        "createTenantKey",
        "Make an API key for a tenant (client or tenant-admin); the answer shows the key once",
        Admin,
        false,
        true,
    ),
    route(
        RouteId::TenantKeyRevoke,
        "DELETE",
        "/api/admin/tenants/{id}/keys/{key_id}",
        "revokeTenantKey",
        "Revoke a tenant's API key for good",
        Admin,
        false,
        true,
    ),
    route(
        RouteId::TenantUsage,
        "GET",
        "/api/admin/tenants/{id}/usage",
        "getTenantUsage",
        "A tenant's requests, cache hits, upstream calls, clicks, orders and commission per UTC day, as JSON or CSV",
        Admin,
        false,
        true,
    ),
    route(
        RouteId::Audit,
        "GET",
        "/api/admin/audit",
        "listAudit",
        "The audit log of admin actions, newest first: who, when, what, on which tenant, from where, with what status",
        Admin,
        false,
        true,
    ),
    // The operator's page and its files: the page holds no data (every number comes from the
    // admin API, called with the key the operator types in), so it is public; not an API
    // operation, so neither OpenAPI document lists it.
    route(
        RouteId::Dashboard,
        "GET",
        "/dashboard",
        "getDashboard",
        "The operator dashboard (a single-page app over the admin API)",
        Public,
        false,
        false,
    ),
    route(
        RouteId::DashboardAsset,
        "GET",
        "/dashboard/{asset}",
        "getDashboardAsset",
        "A script, style sheet or icon of the dashboard",
        Public,
        false,
        false,
    ),
];

/// Why [`find`] matched no route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteMiss {
    /// No route has this path.
    NotFound,
    /// The path exists, but not for this method; `allow` lists the methods it has (for `Allow`).
    MethodNotAllowed {
        /// Methods the path answers, sorted.
        allow: Vec<&'static str>,
    },
}

impl fmt::Display for RouteMiss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteMiss::NotFound => f.write_str("no route for this path"),
            RouteMiss::MethodNotAllowed { allow } => {
                write!(
                    f,
                    "method not allowed; this path allows {}",
                    allow.join(", ")
                )
            }
        }
    }
}

impl std::error::Error for RouteMiss {}

/// Finds the route for a method and path (no query string): an exact path first, then a path
/// with a parameter (so the usual lookup stays one comparison per route).
///
/// `HEAD` is not folded into `GET` here: whether to answer it is the adapter's choice.
pub fn find(method: &str, path: &str) -> Result<&'static Route, RouteMiss> {
    let mut allow: Vec<&'static str> = Vec::new();
    for route in ROUTES.iter().filter(|r| r.path == path) {
        if route.method == method {
            return Ok(route);
        }
        allow.push(route.method);
    }
    if allow.is_empty() {
        for route in ROUTES
            .iter()
            .filter(|r| path_parameter(r.path, path).is_some())
        {
            if route.method == method {
                return Ok(route);
            }
            allow.push(route.method);
        }
    }
    if allow.is_empty() {
        return Err(RouteMiss::NotFound);
    }
    allow.sort_unstable();
    allow.dedup();
    Err(RouteMiss::MethodNotAllowed { allow })
}

/// The value of the first parameter of `template` (a path with segments `{name}`) in `path`
/// (see [`path_parameters`]). `None` when the template has no parameter or the path does not
/// match it.
pub fn path_parameter<'a>(template: &str, path: &'a str) -> Option<&'a str> {
    // Without allocating: the router asks this of every parameterised route.
    let mut first = None;
    let mut given = path.split('/');
    for expected in template.split('/') {
        let segment = given.next()?;
        if expected.starts_with('{') && expected.ends_with('}') {
            if segment.is_empty() {
                return None;
            }
            first.get_or_insert(segment);
        } else if expected != segment {
            return None;
        }
    }
    if given.next().is_some() {
        return None;
    }
    first
}

/// The values of the parameters of `template` in `path`, in order: each a whole, non-empty
/// segment where the template has `{name}`; every other segment must be equal. `None` when
/// the template has no parameter or the path does not match it.
pub fn path_parameters<'a>(template: &str, path: &'a str) -> Option<Vec<&'a str>> {
    if !template.contains('{') {
        return None;
    }
    let mut values = Vec::new();
    let mut given = path.split('/');
    for expected in template.split('/') {
        let segment = given.next()?;
        if expected.starts_with('{') && expected.ends_with('}') {
            if segment.is_empty() {
                return None;
            }
            values.push(segment);
        } else if expected != segment {
            return None;
        }
    }
    given.next().is_none().then_some(values)
}

/// The table row for an id. Every id has exactly one row (a test checks it).
pub fn route_of(id: RouteId) -> &'static Route {
    // The table is a constant and the test `every_id_has_one_route` covers every variant.
    ROUTES
        .iter()
        .find(|r| r.id == id)
        .expect("every RouteId has a row in ROUTES")
}

/// The documented endpoints as operation id → `"METHOD /path"`, for the `endpoints` maps of
/// [`RootInfo`](crate::types::RootInfo) and [`SystemInfo`](crate::types::SystemInfo).
pub fn endpoints() -> BTreeMap<String, String> {
    ROUTES
        .iter()
        .filter(|r| r.in_openapi)
        .map(|r| {
            (
                r.operation_id.to_owned(),
                format!("{} {}", r.method, r.path),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    const ALL_IDS: &[RouteId] = &[
        RouteId::Root,
        RouteId::Health,
        RouteId::Livez,
        RouteId::Readyz,
        RouteId::SearchPost,
        RouteId::SearchNoCache,
        RouteId::SearchGet,
        RouteId::ProductsGet,
        RouteId::ProductDetails,
        RouteId::HotProducts,
        RouteId::SimilarProducts,
        RouteId::Promotions,
        RouteId::PromotionProducts,
        RouteId::Categories,
        RouteId::AffiliateLinks,
        RouteId::AffiliateLink,
        RouteId::Status,
        RouteId::CacheStats,
        RouteId::CacheClear,
        RouteId::AdminOrders,
        RouteId::AdminOrdersSync,
        RouteId::AdminRevenue,
        RouteId::SystemInfo,
        RouteId::OpenApi,
        RouteId::OpenApiGpt,
        RouteId::Docs,
        RouteId::DocsAsset,
        RouteId::Metrics,
        RouteId::Mcp,
        RouteId::TrackedLink,
        RouteId::ClickSummary,
        RouteId::Experiments,
        RouteId::ExperimentCreate,
        RouteId::ExperimentReport,
        RouteId::ExperimentStop,
        RouteId::Webhooks,
        RouteId::WebhookCreate,
        RouteId::Webhook,
        RouteId::WebhookUpdate,
        RouteId::WebhookDelete,
        RouteId::WebhookTest,
        RouteId::WebhookDeliveries,
        RouteId::WebhookRetry,
        RouteId::Alerts,
        RouteId::Watches,
        RouteId::WatchCreate,
        RouteId::WatchDelete,
        RouteId::AnalyticsOverview,
        RouteId::AnalyticsTimeseries,
        RouteId::AnalyticsKeywords,
        RouteId::Tenants,
        RouteId::TenantCreate,
        RouteId::Tenant,
        RouteId::TenantUpdate,
        RouteId::TenantDelete,
        RouteId::TenantKeys,
        RouteId::TenantKeyCreate,
        RouteId::TenantKeyRevoke,
        RouteId::TenantUsage,
        RouteId::Audit,
        RouteId::Dashboard,
        RouteId::DashboardAsset,
    ];

    #[test]
    fn every_id_has_one_route() {
        for &id in ALL_IDS {
            assert_eq!(ROUTES.iter().filter(|r| r.id == id).count(), 1, "{id:?}");
            assert_eq!(route_of(id).id, id);
        }
        assert_eq!(ROUTES.len(), ALL_IDS.len());
    }

    #[test]
    fn method_path_and_operation_ids_are_unique() {
        let pairs: HashSet<_> = ROUTES.iter().map(|r| (r.method, r.path)).collect();
        assert_eq!(pairs.len(), ROUTES.len());
        let ops: HashSet<_> = ROUTES.iter().map(|r| r.operation_id).collect();
        assert_eq!(ops.len(), ROUTES.len());
    }

    #[test]
    fn operation_ids_are_camel_case_and_summaries_short() {
        for r in ROUTES {
            let mut chars = r.operation_id.chars();
            assert!(
                chars.next().is_some_and(|c| c.is_ascii_lowercase()),
                "{}",
                r.operation_id
            );
            assert!(
                chars.all(|c| c.is_ascii_alphanumeric()),
                "{}",
                r.operation_id
            );
            assert!(
                !r.summary.is_empty() && r.summary.chars().count() <= 300,
                "{}",
                r.operation_id
            );
            assert!(r.path.starts_with('/'), "{}", r.path);
            assert!(
                matches!(r.method, "GET" | "POST" | "PATCH" | "DELETE"),
                "{}",
                r.method
            );
        }
    }

    #[test]
    fn gpt_operations_are_exactly_the_agreed_nine() {
        let mut gpt: Vec<_> = ROUTES
            .iter()
            .filter(|r| r.in_gpt)
            .map(|r| r.operation_id)
            .collect();
        gpt.sort_unstable();
        assert_eq!(
            gpt,
            [
                "createAffiliateLinks",
                "getAffiliateLink",
                "getHotProducts",
                "getProductDetails",
                "getPromotionProducts",
                "getSimilarProducts",
                "listCategories",
                "listPromotions",
                "searchProducts"
            ]
        );
        assert!(
            ROUTES
                .iter()
                .filter(|r| r.in_gpt)
                .all(|r| r.in_openapi && r.access == Access::Api)
        );
    }

    #[test]
    fn access_follows_the_path_rules() {
        for r in ROUTES {
            let expected = if r.path.starts_with("/api/cache/")
                || r.path.starts_with("/api/admin/")
                || r.path == "/metrics"
            {
                Access::Admin
            } else if r.path.starts_with("/api/") || r.path == "/system/info" || r.path == "/mcp" {
                Access::Api
            } else {
                Access::Public
            };
            assert_eq!(r.access, expected, "{} {}", r.method, r.path);
        }
    }

    #[test]
    fn endpoints_lists_documented_routes() {
        let map = endpoints();
        assert_eq!(
            map.get("searchProducts").map(String::as_str),
            Some("GET /api/products/search")
        );
        assert_eq!(
            map.get("clearCache").map(String::as_str),
            Some("POST /api/cache/clear")
        );
        assert!(!map.contains_key("getDocsAsset"));
        assert_eq!(map.len(), ROUTES.iter().filter(|r| r.in_openapi).count());
    }

    #[test]
    fn find_matches_exact_method_and_path() {
        assert_eq!(
            find("GET", "/api/products/search").unwrap().id,
            RouteId::SearchGet
        );
        assert_eq!(
            find("POST", "/api/products/search").unwrap().id,
            RouteId::SearchPost
        );
        assert_eq!(find("GET", "/").unwrap().id, RouteId::Root);
        assert_eq!(
            find("GET", "/docs/rapidoc-min.js").unwrap().id,
            RouteId::DocsAsset
        );
    }

    #[test]
    fn find_matches_a_path_parameter_after_exact_paths() {
        assert_eq!(find("GET", "/r/abc_-9").unwrap().id, RouteId::TrackedLink);
        assert_eq!(path_parameter("/r/{token}", "/r/abc_-9"), Some("abc_-9"));
        assert_eq!(find("GET", "/r/"), Err(RouteMiss::NotFound));
        assert_eq!(find("GET", "/r/a/b"), Err(RouteMiss::NotFound));
        assert_eq!(find("GET", "/r"), Err(RouteMiss::NotFound));
        assert_eq!(
            find("POST", "/r/abc"),
            Err(RouteMiss::MethodNotAllowed { allow: vec!["GET"] })
        );
        assert_eq!(path_parameter("/health", "/health"), None);
        assert_eq!(path_parameter("/r/{token}", "/x/abc"), None);
        // A parameter in the middle of the path.
        assert_eq!(
            find("POST", "/api/admin/experiments/12/stop").unwrap().id,
            RouteId::ExperimentStop
        );
        assert_eq!(
            find("GET", "/api/admin/experiments/12").unwrap().id,
            RouteId::ExperimentReport
        );
        assert_eq!(
            path_parameter(
                "/api/admin/experiments/{id}/stop",
                "/api/admin/experiments/7/stop"
            ),
            Some("7")
        );
        assert_eq!(
            path_parameter(
                "/api/admin/experiments/{id}",
                "/api/admin/experiments/7/stop"
            ),
            None
        );
        assert_eq!(
            find("GET", "/api/admin/experiments//stop"),
            Err(RouteMiss::NotFound)
        );
        assert_eq!(
            path_parameters(
                "/api/admin/webhooks/{id}/deliveries/{delivery}/retry",
                "/api/admin/webhooks/3/deliveries/41/retry"
            ),
            Some(vec!["3", "41"])
        );
        assert_eq!(
            find("POST", "/api/admin/webhooks/3/deliveries/41/retry")
                .unwrap()
                .id,
            RouteId::WebhookRetry
        );
        assert_eq!(
            find("PATCH", "/api/admin/webhooks/3").unwrap().id,
            RouteId::WebhookUpdate
        );
        assert_eq!(
            find("GET", "/api/admin/experiments/7/stop"),
            Err(RouteMiss::MethodNotAllowed {
                allow: vec!["POST"]
            })
        );
    }

    #[test]
    fn tenant_routes_are_found_by_method_and_both_parameters() {
        assert_eq!(
            find("GET", "/api/admin/tenants").unwrap().id,
            RouteId::Tenants
        );
        assert_eq!(
            find("POST", "/api/admin/tenants").unwrap().id,
            RouteId::TenantCreate
        );
        for (method, id) in [
            ("GET", RouteId::Tenant),
            ("PATCH", RouteId::TenantUpdate),
            ("DELETE", RouteId::TenantDelete),
        ] {
            assert_eq!(find(method, "/api/admin/tenants/acme").unwrap().id, id);
        }
        assert_eq!(
            find("GET", "/api/admin/tenants/acme/keys").unwrap().id,
            RouteId::TenantKeys
        );
        assert_eq!(
            find("POST", "/api/admin/tenants/acme/keys").unwrap().id,
            RouteId::TenantKeyCreate
        );
        assert_eq!(
            find("GET", "/api/admin/tenants/acme/usage").unwrap().id,
            RouteId::TenantUsage
        );
        let revoke = find("DELETE", "/api/admin/tenants/acme/keys/key_x1").unwrap();
        assert_eq!(revoke.id, RouteId::TenantKeyRevoke);
        assert_eq!(
            path_parameters(revoke.path, "/api/admin/tenants/acme/keys/key_x1"),
            Some(vec!["acme", "key_x1"])
        );
        assert_eq!(find("GET", "/api/admin/audit").unwrap().id, RouteId::Audit);
        assert_eq!(
            find("GET", "/api/admin/tenants/acme/keys/key_x1"),
            Err(RouteMiss::MethodNotAllowed {
                allow: vec!["DELETE"]
            })
        );
        assert_eq!(
            find("PUT", "/api/admin/tenants/acme"),
            Err(RouteMiss::MethodNotAllowed {
                allow: vec!["DELETE", "GET", "PATCH"]
            })
        );
        assert_eq!(
            find("GET", "/api/admin/tenants//keys"),
            Err(RouteMiss::NotFound)
        );
        assert_eq!(
            find("GET", "/api/admin/tenants/acme/audit"),
            Err(RouteMiss::NotFound)
        );
    }

    #[test]
    fn find_reports_missing_paths_and_allowed_methods() {
        assert_eq!(find("GET", "/nope"), Err(RouteMiss::NotFound));
        assert_eq!(
            find("GET", "/api/products/search/"),
            Err(RouteMiss::NotFound)
        );
        assert_eq!(find("GET", "/health?x=1"), Err(RouteMiss::NotFound));
        assert_eq!(
            find("DELETE", "/api/products/search"),
            Err(RouteMiss::MethodNotAllowed {
                allow: vec!["GET", "POST"]
            })
        );
        assert_eq!(
            find("GET", "/api/cache/clear"),
            Err(RouteMiss::MethodNotAllowed {
                allow: vec!["POST"]
            })
        );
        assert_eq!(
            find("get", "/health"),
            Err(RouteMiss::MethodNotAllowed { allow: vec!["GET"] })
        );
        assert!(
            RouteMiss::MethodNotAllowed {
                allow: vec!["POST"]
            }
            .to_string()
            .contains("POST")
        );
    }
}
