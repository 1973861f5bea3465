//! Builds the OpenAPI 3.1 documents (full and GPT Actions) from the route table and the schemars schemas.

use std::collections::BTreeSet;
use std::fmt;

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{Map, Value, json};

use crate::routes::{Access, ROUTES, Route, RouteId};
use crate::types::{
    AffiliateLinkQuery, AffiliateLinksRequest, AffiliateLinksResponse, AlertEventData,
    AlertsResponse, CacheClearQuery, CacheClearResponse, CacheStatsResponse, CategoriesQuery,
    CategoriesResponse, ClickSummaryResponse, DeliveriesQuery, DeliveriesResponse,
    DeliveryResponse, ExperimentReportResponse, ExperimentResponse, ExperimentsResponse, Health,
    HotProductsResponse, NewExperimentRequest, NewWebhookRequest, OrderEventData,
    OrderSyncResponse, OrdersQuery, OrdersResponse, Probe, Problem, ProductDetailsQuery,
    ProductDetailsResponse, PromotionProductsQuery, PromotionProductsResponse, PromotionsResponse,
    RevenueQuery, RevenueResponse, RootInfo, SearchRequest, SearchResponse, SimilarProductsQuery,
    SimilarProductsResponse, StatusResponse, SystemInfo, TestEventData, WebhookDeletedResponse,
    WebhookEvent, WebhookResponse, WebhookUpdateRequest, WebhooksResponse,
};
use crate::types::{
    AnalyticsKeywordsQuery, AnalyticsKeywordsResponse, AnalyticsOverviewQuery,
    AnalyticsOverviewResponse, AnalyticsTimeseriesQuery, AnalyticsTimeseriesResponse,
};
use crate::types::{
    AuditListQuery, AuditResponse, NewTenantKeyRequest, TENANT_ID_PATTERN, TENANT_KEY_ID_PATTERN,
    TenantDeletedResponse, TenantKeyCreatedResponse, TenantKeyResponse, TenantKeysResponse,
    TenantPatch, TenantRequest, TenantResponse, TenantUsageQuery, TenantUsageResponse,
    TenantsResponse,
};
use crate::types::{
    NewWatchRequest, ProductEventData, WatchDeletedResponse, WatchResponse, WatchesResponse,
};

/// Which document to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Profile {
    /// Every documented route, admin ones included.
    Full,
    /// Only the operations a ChatGPT GPT Action should call, shaped so the GPT editor imports it unedited.
    Gpt,
}

/// What the documents say about the deployment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenApiOptions {
    /// The public https URL clients reach the service at, e.g. `https://alistach.example.com`.
    pub public_base_url: String,
    /// Declare the bearer API key (`INTERNAL_API_KEY`) on the `/api/*` operations.
    pub api_key_security: bool,
    /// The `info.version` of the document (the AliStach version).
    pub version: String,
}

impl OpenApiOptions {
    /// Options for `public_base_url` with the API key declared and this crate's version.
    pub fn new(public_base_url: impl Into<String>) -> Self {
        OpenApiOptions {
            public_base_url: public_base_url.into(),
            api_key_security: true,
            version: crate::VERSION.to_owned(),
        }
    }

    /// Checks what GPT Actions require of the server URL: absolute `https://` with a host, no query
    /// or fragment. [`openapi`] itself never fails; call this where the options are configured.
    pub fn validate(&self) -> Result<(), OpenApiOptionsError> {
        let url = self.public_base_url.trim();
        let Some(rest) = url.strip_prefix("https://") else {
            return Err(OpenApiOptionsError::NotHttps(url.to_owned()));
        };
        let host = rest.split('/').next().unwrap_or_default();
        if host.is_empty() || host.contains(char::is_whitespace) {
            return Err(OpenApiOptionsError::NoHost(url.to_owned()));
        }
        if url.contains(['?', '#']) {
            return Err(OpenApiOptionsError::QueryOrFragment(url.to_owned()));
        }
        if self.version.trim().is_empty() {
            return Err(OpenApiOptionsError::EmptyVersion);
        }
        Ok(())
    }

    fn server_url(&self) -> &str {
        self.public_base_url.trim().trim_end_matches('/')
    }
}

/// Why [`OpenApiOptions::validate`] rejected the options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpenApiOptionsError {
    /// GPT Actions only call https servers.
    NotHttps(String),
    /// The URL has no host.
    NoHost(String),
    /// A server URL is a base; a query or fragment would be glued to every path.
    QueryOrFragment(String),
    /// `info.version` is required.
    EmptyVersion,
}

impl fmt::Display for OpenApiOptionsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenApiOptionsError::NotHttps(url) => {
                write!(
                    f,
                    "public base URL {url:?} must start with https:// (GPT Actions only call https servers)"
                )
            }
            OpenApiOptionsError::NoHost(url) => write!(f, "public base URL {url:?} has no host"),
            OpenApiOptionsError::QueryOrFragment(url) => {
                write!(
                    f,
                    "public base URL {url:?} must not contain a query or fragment"
                )
            }
            OpenApiOptionsError::EmptyVersion => {
                f.write_str("the document version must not be empty")
            }
        }
    }
}

impl std::error::Error for OpenApiOptionsError {}

const API_KEY_SCHEME: &str = "ApiKeyAuth";
const ADMIN_KEY_SCHEME: &str = "AdminKeyAuth";

type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

/// What a successful answer carries.
enum Content {
    Json(SchemaFn),
    /// JSON, or CSV when the query asks for it.
    JsonOrCsv(SchemaFn),
    Html,
    JavaScript,
    Prometheus,
    OpenApiDocument,
    /// A 302 to the URL in `Location`, no body.
    Redirect,
}

/// Everything about an operation the route table does not say.
struct OpSpec {
    /// Longer text for the model and the reader; at most 300 characters.
    description: &'static str,
    /// The query parameters, as the object schema of a struct.
    query: Option<SchemaFn>,
    /// The JSON request body.
    body: Option<SchemaFn>,
    ok: Content,
    /// The operation calls AliExpress, so it can fail with 502/503/504.
    upstream: bool,
}

fn json_of<T: JsonSchema>(g: &mut SchemaGenerator) -> Schema {
    g.subschema_for::<T>()
}

fn object_of<T: JsonSchema>(g: &mut SchemaGenerator) -> Schema {
    T::json_schema(g)
}

// An exhaustive match, so adding a RouteId without describing it does not compile.
fn spec(id: RouteId) -> OpSpec {
    let plain = |description, ok| OpSpec {
        description,
        query: None,
        body: None,
        ok,
        upstream: false,
    };
    match id {
        RouteId::Root => plain(
            "Names the service, its mode and where the documentation is.",
            Content::Json(json_of::<RootInfo>),
        ),
        RouteId::Health => plain(
            "The v1.1.0 health document: mode, configuration flags (never secrets) and cache backend.",
            Content::Json(json_of::<Health>),
        ),
        RouteId::Livez => plain(
            "Answers 200 while the process serves requests.",
            Content::Json(json_of::<Probe>),
        ),
        RouteId::Readyz => plain(
            "Answers 200 when the service can answer requests (cache reachable), 503 otherwise.",
            Content::Json(json_of::<Probe>),
        ),
        RouteId::SearchPost => OpSpec {
            description: "Searches AliExpress products. Identical searches are served from the cache; \
                          metadata.cache_status says HIT, MISS, STALE or BYPASS.",
            query: None,
            body: Some(json_of::<SearchRequest>),
            ok: Content::Json(json_of::<SearchResponse>),
            upstream: true,
        },
        RouteId::SearchNoCache => OpSpec {
            description: "Searches AliExpress products without reading the cache (the fresh answer is stored).",
            query: None,
            body: Some(json_of::<SearchRequest>),
            ok: Content::Json(json_of::<SearchResponse>),
            upstream: true,
        },
        RouteId::SearchGet => OpSpec {
            description: "Use first when the user looks for a kind of product: give keywords (or category_ids). \
                          Products carry prices, rating, sales and promotion_link, the affiliate link to share (no \
                          need to create links for them). Default order: relevance.",
            query: Some(object_of::<SearchRequest>),
            body: None,
            ok: Content::Json(json_of::<SearchResponse>),
            upstream: true,
        },
        RouteId::ProductsGet => OpSpec {
            description: "The v1.1.0 search with query parameters; same parameters and answer as searchProducts.",
            query: Some(object_of::<SearchRequest>),
            body: None,
            ok: Content::Json(json_of::<SearchResponse>),
            upstream: true,
        },
        RouteId::ProductDetails => OpSpec {
            description: "Use when the user names specific products (ids or AliExpress URLs): full details with \
                          promotion_link. data.missing lists the ids not found or not sold to ship_to_country.",
            query: Some(object_of::<ProductDetailsQuery>),
            body: None,
            ok: Content::Json(json_of::<ProductDetailsResponse>),
            upstream: true,
        },
        RouteId::HotProducts => OpSpec {
            description: "Use for popular picks that earn a higher commission (trending, best deals to recommend), \
                          optionally by keywords, category and price; use searchProducts for a specific need. \
                          Products carry promotion_link.",
            query: Some(object_of::<SearchRequest>),
            body: None,
            ok: Content::Json(json_of::<HotProductsResponse>),
            upstream: true,
        },
        RouteId::SimilarProducts => OpSpec {
            description: "Use for alternatives to a product the user already has in mind (give its id or URL); \
                          searchProducts for a new need, getHotProducts for high-commission picks. Results carry \
                          promotion_link.",
            query: Some(object_of::<SimilarProductsQuery>),
            body: None,
            ok: Content::Json(json_of::<SimilarProductsResponse>),
            upstream: true,
        },
        RouteId::Promotions => OpSpec {
            description: "Use when the user asks for deals or promotions: lists the featured promotions (product \
                          pools such as Hot Product, Best Seller, weeklydeals); then call getPromotionProducts with a \
                          promotion_name.",
            query: None,
            body: None,
            ok: Content::Json(json_of::<PromotionsResponse>),
            upstream: true,
        },
        RouteId::PromotionProducts => OpSpec {
            description: "Use for deals: the products of one featured promotion (promotion_name from \
                          listPromotions), optionally by category and sort order; searchProducts for a specific \
                          need. Results carry promotion_link.",
            query: Some(object_of::<PromotionProductsQuery>),
            body: None,
            ok: Content::Json(json_of::<PromotionProductsResponse>),
            upstream: true,
        },
        RouteId::Categories => OpSpec {
            description: "Use to find category ids that narrow searchProducts, getHotProducts or \
                          getPromotionProducts: every category with its subcategories, or with parent_id only that \
                          category's subcategories.",
            query: Some(object_of::<CategoriesQuery>),
            body: None,
            ok: Content::Json(json_of::<CategoriesResponse>),
            upstream: true,
        },
        RouteId::AffiliateLinks => OpSpec {
            description: "Use for several URLs the user brings (2 to 50): product pages, store, campaign or share \
                          links. Each input gets a result: affiliate_url to share, or the reason it was not \
                          converted. Search results already carry promotion_link.",
            query: None,
            body: Some(json_of::<AffiliateLinksRequest>),
            ok: Content::Json(json_of::<AffiliateLinksResponse>),
            upstream: true,
        },
        RouteId::AffiliateLink => OpSpec {
            description: "Use for one URL the user brings (product, store, campaign or share link); for several use \
                          createAffiliateLinks. Share affiliate_url. Search results already carry promotion_link.",
            query: Some(object_of::<AffiliateLinkQuery>),
            body: None,
            ok: Content::Json(json_of::<AffiliateLinksResponse>),
            upstream: true,
        },
        RouteId::Status => plain(
            "Mode, capabilities, counters and the cache statistics, in the v1.1.0 shape.",
            Content::Json(json_of::<StatusResponse>),
        ),
        RouteId::CacheStats => plain(
            "Cache hits, misses, sets and errors, in total and per tier. Needs the admin key.",
            Content::Json(json_of::<CacheStatsResponse>),
        ),
        RouteId::CacheClear => OpSpec {
            description: "Removes cached entries of one kind (pattern) or all of them. Needs the admin key.",
            query: Some(object_of::<CacheClearQuery>),
            body: None,
            ok: Content::Json(json_of::<CacheClearResponse>),
            upstream: false,
        },
        RouteId::AdminOrders => OpSpec {
            description: "Lists synced orders newest first, filtered by time, status and tracking id, with each \
                          order's status history; money as exact decimal strings. Needs the admin key.",
            query: Some(object_of::<OrdersQuery>),
            body: None,
            ok: Content::Json(json_of::<OrdersResponse>),
            upstream: false,
        },
        RouteId::AdminOrdersSync => plain(
            "Runs the order sync now (incremental, idempotent) and says what it stored. Needs the admin key.",
            Content::Json(json_of::<OrderSyncResponse>),
        ),
        RouteId::AdminRevenue => OpSpec {
            description: "Per group the orders, paid amount, estimated and finished commission, with totals per \
                          currency, as JSON or CSV; money as exact decimal strings. Needs the admin key.",
            query: Some(object_of::<RevenueQuery>),
            body: None,
            ok: Content::JsonOrCsv(json_of::<RevenueResponse>),
            upstream: false,
        },
        RouteId::SystemInfo => plain(
            "Version, mode and default language, currency and tracking id. Never shows secrets.",
            Content::Json(json_of::<SystemInfo>),
        ),
        RouteId::OpenApi => plain(
            "This document, with every operation.",
            Content::OpenApiDocument,
        ),
        RouteId::OpenApiGpt => plain(
            "The document to import into a GPT Action: only the product and link operations.",
            Content::OpenApiDocument,
        ),
        RouteId::Docs => plain(
            "An interactive page that reads /openapi.json; works offline.",
            Content::Html,
        ),
        RouteId::DocsAsset => plain(
            "The RapiDoc script the documentation page loads.",
            Content::JavaScript,
        ),
        RouteId::Metrics => plain(
            "Request and cache metrics in the Prometheus text format. Needs the admin key.",
            Content::Prometheus,
        ),
        // Not in either document (`in_openapi` is false): described here only because every
        // route has a spec.
        RouteId::Mcp => plain(
            "JSON-RPC messages of the Model Context Protocol; the tools are listed by tools/list.",
            Content::Json(json_of::<serde_json::Value>),
        ),
        RouteId::TrackedLink => plain(
            "The links handed out with LINK_TRACKING=redirect. Answers 302 to the affiliate link the \
             signed token carries and counts the click (not for HEAD, link previews or bots); an \
             altered or unknown token is 404.",
            Content::Redirect,
        ),
        RouteId::AnalyticsOverview => OpSpec {
            description: "Totals of the API and MCP calls in the range (counted per minute; by default the \
                          24 hours up to and including the current minute): calls, errors, latency \
                          percentiles, cache statuses, upstream calls and the calls the cache saved, per \
                          route and per client; with the tracked-link clicks, the orders placed and their \
                          estimated commission per currency (exact decimal text). Needs the admin key.",
            query: Some(object_of::<AnalyticsOverviewQuery>),
            body: None,
            ok: Content::Json(json_of::<AnalyticsOverviewResponse>),
            upstream: false,
        },
        RouteId::AnalyticsTimeseries => OpSpec {
            description: "One metric per minute, hour or day over the range, empty steps included. \
                          Needs the admin key.",
            query: Some(object_of::<AnalyticsTimeseriesQuery>),
            body: None,
            ok: Content::Json(json_of::<AnalyticsTimeseriesResponse>),
            upstream: false,
        },
        RouteId::AnalyticsKeywords => OpSpec {
            description: "The most searched keywords (normalised: lower case, whitespace collapsed) with \
                          their counts and mean result counts, and the keywords that most often found \
                          nothing. Needs the admin key.",
            query: Some(object_of::<AnalyticsKeywordsQuery>),
            body: None,
            ok: Content::Json(json_of::<AnalyticsKeywordsResponse>),
            upstream: false,
        },
        RouteId::ClickSummary => plain(
            "Clicks stored in all and per product (most clicked first), and the redirect's counters \
             since start-up (recorded, dropped on a full queue, not counted). Needs the admin key.",
            Content::Json(json_of::<ClickSummaryResponse>),
        ),
        RouteId::Alerts => plain(
            "Each built-in alert rule as this instance evaluates it every ALERT_EVAL_INTERVAL seconds: \
             its state (inactive, pending, firing once its condition held for ALERT_FOR seconds, \
             resolved), since when, its threshold, the last value and its recent transitions. The \
             thresholds are those of docs/alerts/prometheus-rules.yml. Needs the admin key.",
            Content::Json(json_of::<AlertsResponse>),
        ),
        RouteId::Experiments => plain(
            "Every experiment, newest first, with its variants. Needs the admin key.",
            Content::Json(json_of::<ExperimentsResponse>),
        ),
        RouteId::ExperimentCreate => OpSpec {
            description: "Starts an experiment (201): while it runs, each answer that hands out links is \
                          served by one variant, chosen by a hash of the client and the question (the same \
                          client asking the same thing gets the same links) in proportion to the weights \
                          (fixed) or by Thompson sampling on earnings per click with a floor (bandit). A \
                          variant's links are made with its link type and tracking id and carry the sub-ids \
                          cn=ab<id>, cv=<variant>, dp=alistach, so orders come back attributed to it. One \
                          experiment runs at a time (409 otherwise). Needs the admin key.",
            query: None,
            body: Some(object_of::<NewExperimentRequest>),
            ok: Content::Json(json_of::<ExperimentResponse>),
            upstream: false,
        },
        RouteId::ExperimentReport => plain(
            "Per variant: links handed out, clicks, orders, conversion with its 95% Wilson interval, \
             paid amount, commission, earnings per click with its 95% interval, the current share, \
             and two-sided tests against the first variant (conversion: two-proportion z-test; \
             earnings per click: Welch's z-test). Needs the admin key.",
            Content::Json(json_of::<ExperimentReportResponse>),
        ),
        RouteId::Webhooks => plain(
            "Every webhook endpoint, oldest first, with its state (enabled, failing since, why AliStach \
             disabled it). Secrets are never shown again. Needs the admin key.",
            Content::Json(json_of::<WebhooksResponse>),
        ),
        RouteId::WebhookCreate => OpSpec {
            description: "Adds an endpoint (201) and answers its signing secret (`whsec_…`), shown this once. \
                          Events are POSTed as Standard Webhooks: headers webhook-id (the same on every retry: \
                          deduplicate on it), webhook-timestamp and webhook-signature (v1, HMAC-SHA256); the \
                          body is {\"type\", \"timestamp\", \"data\"} (see `webhooks` in this document). Delivery \
                          is at least once: retried with backoff for 3 days, then failed (retry by hand). \
                          Private, loopback and link-local targets need WEBHOOK_ALLOW_PRIVATE=true. Needs the admin key.",
            query: None,
            body: Some(object_of::<NewWebhookRequest>),
            ok: Content::Json(json_of::<WebhookResponse>),
            upstream: false,
        },
        RouteId::Webhook => plain(
            "One endpoint. Needs the admin key.",
            Content::Json(json_of::<WebhookResponse>),
        ),
        RouteId::WebhookUpdate => OpSpec {
            description: "Changes the URL, events or description, or disables (`enabled: false`: no new \
                          deliveries, pending ones wait) or enables the endpoint again. Needs the admin key.",
            query: None,
            body: Some(object_of::<WebhookUpdateRequest>),
            ok: Content::Json(json_of::<WebhookResponse>),
            upstream: false,
        },
        RouteId::WebhookDelete => plain(
            "Removes the endpoint and its deliveries. Needs the admin key.",
            Content::Json(json_of::<WebhookDeletedResponse>),
        ),
        RouteId::WebhookTest => plain(
            "Queues a signed `webhook.test` event to the endpoint (whatever its events), sent within a \
             second; its delivery shows under deliveries. Needs the admin key.",
            Content::Json(json_of::<DeliveryResponse>),
        ),
        RouteId::WebhookDeliveries => OpSpec {
            description: "The endpoint's deliveries, newest first, each with every attempt: time, HTTP status, \
                          latency and error. Needs the admin key.",
            query: Some(object_of::<DeliveriesQuery>),
            body: None,
            ok: Content::Json(json_of::<DeliveriesResponse>),
            upstream: false,
        },
        RouteId::WebhookRetry => plain(
            "Makes a failed delivery pending again (or a pending one due now); a delivered one stays \
             delivered. Needs the admin key.",
            Content::Json(json_of::<DeliveryResponse>),
        ),
        RouteId::Watches => plain(
            "Every product watch, oldest first, with what its checks last saw (baseline and last \
             price, availability, when). Needs the admin key.",
            Content::Json(json_of::<WatchesResponse>),
        ),
        RouteId::WatchCreate => OpSpec {
            description: "Watches a product (201): every WATCH_INTERVAL seconds AliStach asks its details \
                          (productdetail.get, batched, within WATCH_QPS_SHARE of ALIEXPRESS_MAX_QPS) and \
                          publishes `product.price_changed` when the price changed and is at or below \
                          `target_price` or at least `price_drop_percent` below the baseline (the first \
                          price seen, then the last notified; with neither, any change), and \
                          `product.unavailable` when the product is no longer returned: once per change, \
                          not once per check. Give `product_id` or `url`. Needs the admin key.",
            query: None,
            body: Some(object_of::<NewWatchRequest>),
            ok: Content::Json(json_of::<WatchResponse>),
            upstream: false,
        },
        RouteId::WatchDelete => plain(
            "Stops watching the product. Needs the admin key.",
            Content::Json(json_of::<WatchDeletedResponse>),
        ),
        RouteId::Tenants => plain(
            "Every tenant by id with its settings (a null setting is the deployment's). The \
             super-admin key (ADMIN_API_KEY) sees every tenant, a tenant-admin key only its own; \
             client keys get 403.",
            Content::Json(json_of::<TenantsResponse>),
        ),
        RouteId::TenantCreate => OpSpec {
            description: "Creates a tenant (201, source `api`); settings left out are the deployment's. \
                          Secrets are never accepted inline: `credentials.app_secret_env` names the \
                          environment variable of the server that holds the app secret (422 when it is \
                          not set). 409 when the id or the tracking id is taken, by a tenant of the \
                          config file too. Only the super-admin key (ADMIN_API_KEY).",
            query: None,
            body: Some(object_of::<TenantRequest>),
            ok: Content::Json(json_of::<TenantResponse>),
            upstream: false,
        },
        RouteId::Tenant => plain(
            "One tenant and its settings (a null setting is the deployment's). The super-admin key \
             sees any tenant, a tenant-admin key only its own; client keys get 403.",
            Content::Json(json_of::<TenantResponse>),
        ),
        RouteId::TenantUpdate => OpSpec {
            description: "Applies a JSON merge patch (RFC 7396; application/merge-patch+json or \
                          application/json) and answers the tenant: a field present replaces the stored \
                          one, null clears an optional setting (the deployment's applies again), \
                          `rate_limits`, `cache_ttl` and `credentials` merge field by field, a field left \
                          out stays. The result must keep every rule of createTenant (422); the id cannot \
                          change. A tenant of the config file cannot be changed here (409), nor can a \
                          tracking id another tenant has be taken (409). Only the super-admin key.",
            query: None,
            body: Some(object_of::<TenantPatch>),
            ok: Content::Json(json_of::<TenantResponse>),
            upstream: false,
        },
        RouteId::TenantDelete => plain(
            "Deletes a tenant created through the API and revokes its keys for good (they are kept, \
             revoked, so audit entries naming them stay readable). A tenant of the config file cannot \
             be deleted here (409): remove it from the file. Only the super-admin key.",
            Content::Json(json_of::<TenantDeletedResponse>),
        ),
        RouteId::TenantKeys => plain(
            "The tenant's API keys, oldest first, revoked and expired ones included, each with when it \
             was last used. The keys themselves are never shown again (only their SHA-256 digests are \
             kept). The super-admin key for any tenant, a tenant-admin key for its own.",
            Content::Json(json_of::<TenantKeysResponse>),
        ),
        RouteId::TenantKeyCreate => OpSpec {
            description: "Makes an API key for the tenant (201) and answers it in `key`, shown this once; \
                          it is sent as Authorization: Bearer <key>. A `client` key calls the product \
                          routes and MCP as the tenant; a `tenant-admin` key also the admin routes, for \
                          its tenant only. The super-admin key for any tenant, a tenant-admin key for its own.",
            query: None,
            body: Some(object_of::<NewTenantKeyRequest>),
            ok: Content::Json(json_of::<TenantKeyCreatedResponse>),
            upstream: false,
        },
        RouteId::TenantKeyRevoke => plain(
            "Revokes the key for good and answers it (revoking a revoked key changes nothing); every \
             instance refuses it within seconds. The super-admin key for any tenant, a tenant-admin \
             key for its own.",
            Content::Json(json_of::<TenantKeyResponse>),
        ),
        RouteId::TenantUsage => OpSpec {
            description: "The tenant's usage per UTC day from `from` to `to`, both included (by default the \
                          30 days up to today), at most 366 days: API and MCP requests made with its keys (not \
                          admin calls), those the \
                          cache answered, upstream calls, clicks, orders and their estimated commission per \
                          currency (exact decimal text), with totals; JSON, or CSV with format=csv. The \
                          super-admin key for any tenant, a tenant-admin key for its own.",
            query: Some(object_of::<TenantUsageQuery>),
            body: None,
            ok: Content::JsonOrCsv(json_of::<TenantUsageResponse>),
            upstream: false,
        },
        RouteId::Audit => OpSpec {
            description: "Recorded admin actions (every change, POST, PATCH or DELETE, on an admin endpoint, \
                          and every refused call of one; successful reads are not recorded), newest first, `limit` per page (pass `next_before` as \
                          `before` for the next): when, who (`super-admin` or `key:<key id>`), which \
                          operation on which path, on which tenant, from which address, with which status. \
                          The super-admin key sees every entry (one tenant's with `tenant`), a \
                          tenant-admin key only its own tenant's; client keys get 403.",
            query: Some(object_of::<AuditListQuery>),
            body: None,
            ok: Content::Json(json_of::<AuditResponse>),
            upstream: false,
        },
        // Not in either document (`in_openapi` is false): the page and its files.
        RouteId::Dashboard => plain(
            "The operator dashboard; it reads the admin API with the key typed into it.",
            Content::Html,
        ),
        RouteId::DashboardAsset => plain(
            "A script, style sheet or icon of the dashboard page.",
            Content::JavaScript,
        ),
        RouteId::ExperimentStop => plain(
            "Stops the experiment (stopping a stopped one changes nothing): links go back to the \
             deployment's strategy on every instance within a refresh; the results stay. Needs the admin key.",
            Content::Json(json_of::<ExperimentResponse>),
        ),
    }
}

// Envelope names come from the generic parameters; these read better in the documents.
const RENAMES: &[(&str, &str)] = &[
    ("Envelope_SearchData_SearchMetadata", "SearchResponse"),
    (
        "Envelope_ProductDetailsData_ProductDetailsMetadata",
        "ProductDetailsResponse",
    ),
    (
        "Envelope_CategoriesData_CategoriesMetadata",
        "CategoriesResponse",
    ),
    (
        "Envelope_AffiliateLinksData_AffiliateLinksMetadata",
        "AffiliateLinksResponse",
    ),
    (
        "Envelope_SimilarProductsData_ListingMetadata",
        "SimilarProductsResponse",
    ),
    (
        "Envelope_PromotionsData_ListingMetadata",
        "PromotionsResponse",
    ),
    (
        "Envelope_SearchData_PromotionProductsMetadata",
        "PromotionProductsResponse",
    ),
    ("Envelope_StatusData_StatusMetadata", "StatusResponse"),
    (
        "Envelope_CacheStatsData_CacheStatsMetadata",
        "CacheStatsResponse",
    ),
    (
        "Envelope_CacheClearData_CacheClearMetadata",
        "CacheClearResponse",
    ),
    ("Envelope_OrdersData_AdminMetadata", "OrdersResponse"),
    ("Envelope_OrderSyncData_AdminMetadata", "OrderSyncResponse"),
    ("Envelope_RevenueData_AdminMetadata", "RevenueResponse"),
    (
        "Envelope_AnalyticsOverviewData_AdminMetadata",
        "AnalyticsOverviewResponse",
    ),
    (
        "Envelope_AnalyticsTimeseriesData_AdminMetadata",
        "AnalyticsTimeseriesResponse",
    ),
    (
        "Envelope_AnalyticsKeywordsData_AdminMetadata",
        "AnalyticsKeywordsResponse",
    ),
    ("Envelope_AlertsData_AlertsMetadata", "AlertsResponse"),
    (
        "Envelope_ClickSummaryData_ClickSummaryMetadata",
        "ClickSummaryResponse",
    ),
    (
        "Envelope_ExperimentInfo_AdminMetadata",
        "ExperimentResponse",
    ),
    (
        "Envelope_ExperimentList_AdminMetadata",
        "ExperimentsResponse",
    ),
    (
        "Envelope_ExperimentReportData_AdminMetadata",
        "ExperimentReportResponse",
    ),
    ("Envelope_WebhookInfo_AdminMetadata", "WebhookResponse"),
    ("Envelope_WebhookList_AdminMetadata", "WebhooksResponse"),
    (
        "Envelope_WebhookDeleted_AdminMetadata",
        "WebhookDeletedResponse",
    ),
    ("Envelope_DeliveryInfo_AdminMetadata", "DeliveryResponse"),
    ("Envelope_DeliveryList_AdminMetadata", "DeliveriesResponse"),
    ("Envelope_WatchInfo_AdminMetadata", "WatchResponse"),
    ("Envelope_WatchList_AdminMetadata", "WatchesResponse"),
    (
        "Envelope_WatchDeleted_AdminMetadata",
        "WatchDeletedResponse",
    ),
    ("Envelope_TenantInfo_AdminMetadata", "TenantResponse"),
    ("Envelope_TenantList_AdminMetadata", "TenantsResponse"),
    (
        "Envelope_TenantDeleted_AdminMetadata",
        "TenantDeletedResponse",
    ),
    ("Envelope_TenantKeyList_AdminMetadata", "TenantKeysResponse"),
    (
        "Envelope_TenantKeyCreated_AdminMetadata",
        "TenantKeyCreatedResponse",
    ),
    ("Envelope_TenantKeyInfo_AdminMetadata", "TenantKeyResponse"),
    ("Envelope_TenantUsage_AdminMetadata", "TenantUsageResponse"),
    ("Envelope_AuditList_AdminMetadata", "AuditResponse"),
    ("WebhookEvent_OrderEventData", "OrderEvent"),
    ("WebhookEvent_TestEventData", "TestEvent"),
    ("WebhookEvent_ProductEventData", "ProductEvent"),
];

const SCHEMA_REF_PREFIX: &str = "#/components/schemas/";

/// Builds the OpenAPI 3.1.0 document for `profile`.
///
/// The result depends only on the arguments, so the checked-in `docs/openapi*.json` and what the
/// server serves are byte-identical for the same options.
pub fn openapi(profile: Profile, opts: &OpenApiOptions) -> Value {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|s| {
            s.definitions_path = "/components/schemas".into();
            s.meta_schema = None;
        })
        .into_generator();

    let routes: Vec<&Route> = ROUTES
        .iter()
        .filter(|r| match profile {
            Profile::Full => r.in_openapi,
            Profile::Gpt => r.in_gpt && r.in_openapi,
        })
        .collect();

    let problem_ref = Value::from(generator.subschema_for::<Problem>());
    let mut paths = Map::new();
    for route in &routes {
        let op = operation(
            route,
            &spec(route.id),
            profile,
            opts,
            &mut generator,
            &problem_ref,
        );
        let item = paths
            .entry(route.path)
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(item) = item {
            item.insert(route.method.to_ascii_lowercase(), op);
        }
    }

    let mut webhooks = (profile == Profile::Full).then(|| webhook_docs(&mut generator));
    let mut schemas = generator.take_definitions(true);
    let mut paths = Value::Object(paths);
    for (from, to) in RENAMES {
        if let Some(schema) = schemas.remove(*from) {
            schemas.insert((*to).to_owned(), schema);
        }
    }
    let mut schemas = Value::Object(schemas);
    rename_refs(&mut schemas);
    rename_refs(&mut paths);
    if let Some(w) = &mut webhooks {
        rename_refs(w);
    }

    let mut security_schemes = Map::new();
    if opts.api_key_security {
        security_schemes.insert(
            API_KEY_SCHEME.to_owned(),
            json!({
                "type": "http",
                "scheme": "bearer",
                "description": "The API key (INTERNAL_API_KEY of the server), sent as Authorization: Bearer <key>."
            }),
        );
    }
    if profile == Profile::Full {
        security_schemes.insert(
            ADMIN_KEY_SCHEME.to_owned(),
            json!({
                "type": "apiKey",
                "in": "header",
                "name": "x-admin-key",
                "description": "The admin key (ADMIN_API_KEY of the server); Authorization: Bearer <admin key> works too."
            }),
        );
    }

    let (title, description) = match profile {
        Profile::Full => (
            "AliStach API",
            "A self-hosted gateway to the AliExpress Affiliate API: product search, details, hot products, \
             categories and affiliate links, with caching. Compatible with the v1.1.0 paths and field names.",
        ),
        Profile::Gpt => ("AliStach AliExpress Search", GPT_INSTRUCTIONS),
    };

    let mut components = Map::new();
    components.insert("schemas".to_owned(), schemas);
    if !security_schemes.is_empty() {
        components.insert(
            "securitySchemes".to_owned(),
            Value::Object(security_schemes),
        );
    }

    let mut doc = json!({
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "description": description,
            "version": opts.version,
            "license": { "name": "MIT", "identifier": "MIT" }
        },
        "servers": servers(profile, opts),
        "paths": paths,
        "components": components,
    });
    if let (Some(w), Value::Object(d)) = (webhooks, &mut doc) {
        d.insert("webhooks".to_owned(), w);
    }

    if profile == Profile::Gpt {
        single_typed(&mut doc);
        unroll_category_tree(&mut doc);
        prune_unreferenced_schemas(&mut doc);
        cap_page_size(&mut doc);
        add_schema_examples(&mut doc);
    }
    doc
}

/// The `webhooks` of the full document: the POST AliStach sends for each event emitted today,
/// its signed headers and its body.
fn webhook_docs(generator: &mut schemars::SchemaGenerator) -> Value {
    let order = Value::from(generator.subschema_for::<WebhookEvent<OrderEventData>>());
    let test = Value::from(generator.subschema_for::<WebhookEvent<TestEventData>>());
    let alert = Value::from(generator.subschema_for::<WebhookEvent<AlertEventData>>());
    let product = Value::from(generator.subschema_for::<WebhookEvent<ProductEventData>>());
    let header = |name: &str, description: &str| {
        json!({ "name": name, "in": "header", "required": true, "description": description,
                "schema": { "type": "string" } })
    };
    let parameters = json!([
        header(
            "webhook-id",
            "The event's id, the same on every retry: deduplicate on it."
        ),
        header(
            "webhook-timestamp",
            "The attempt's time, Unix seconds; reject old ones to stop replays."
        ),
        header(
            "webhook-signature",
            "`v1,` and the base64 HMAC-SHA256, keyed with the secret's base64-decoded part after \
             `whsec_`, of `{webhook-id}.{webhook-timestamp}.{body}` (Standard Webhooks)."
        ),
    ]);
    let mut out = Map::new();
    for (name, summary, schema) in [
        (
            "order.created",
            "An order was seen for the first time by the order sync.",
            &order,
        ),
        (
            "order.status_changed",
            "A stored order's status changed (`previous_status` says from what).",
            &order,
        ),
        (
            "order.settled",
            "An order reached Completed Settlement: its commission is final.",
            &order,
        ),
        (
            "product.price_changed",
            "A watched product's price changed and meets its watch's condition (once per change).",
            &product,
        ),
        (
            "product.unavailable",
            "A watched product is no longer returned by AliExpress (once, until it reappears).",
            &product,
        ),
        (
            "webhook.test",
            "The test event of POST /api/admin/webhooks/{id}/test.",
            &test,
        ),
        (
            "alert.firing",
            "A built-in alert rule started firing (once per episode; sent by one instance).",
            &alert,
        ),
        (
            "alert.resolved",
            "A firing built-in alert rule cleared (once per episode).",
            &alert,
        ),
    ] {
        out.insert(
            name.to_owned(),
            json!({ "post": {
                "summary": summary,
                "description": "Sent by AliStach to each enabled endpoint subscribed to the event (the test event \
                                to the endpoint it was asked for). Answer any 2xx within the timeout to \
                                acknowledge; anything else (or a redirect) is retried with backoff for 3 days.",
                "parameters": parameters.clone(),
                "requestBody": { "required": true,
                                 "content": { "application/json": { "schema": schema.clone() } } },
                "responses": { "2XX": { "description": "Acknowledged." } }
            }}),
        );
    }
    Value::Object(out)
}

/// What the GPT document tells the model about the whole API (`info.description`, at most
/// 300 characters): which operation answers what, and that sample data must be called so.
const GPT_INSTRUCTIONS: &str = "Find AliExpress products and share affiliate links. Products already carry \
     promotion_link, the link to share. When metadata.mock_mode is true the data is sample data, not real \
     AliExpress products: tell the user so.";

/// The largest page the GPT profile offers: a page of 20 products stays far under the 100,000
/// characters a GPT Action may receive (a test measures a real answer through the binary),
/// where 50 would come close with long real titles.
pub const GPT_MAX_PAGE_SIZE: u32 = 20;

/// Caps `page_size` in the GPT document at [`GPT_MAX_PAGE_SIZE`], saying so in its description.
fn cap_page_size(doc: &mut Value) {
    let Some(Value::Object(paths)) = doc.get_mut("paths") else {
        return;
    };
    for item in paths.values_mut() {
        let Value::Object(item) = item else { continue };
        for op in item.values_mut() {
            let Some(Value::Array(parameters)) = op.get_mut("parameters") else {
                continue;
            };
            for p in parameters.iter_mut() {
                if p["name"] != "page_size" {
                    continue;
                }
                p["schema"]["maximum"] = GPT_MAX_PAGE_SIZE.into();
                if let Some(d) = p["description"].as_str() {
                    p["description"] = d
                        .replace("1 to 50", &format!("1 to {GPT_MAX_PAGE_SIZE}"))
                        .into();
                }
            }
        }
    }
}

/// Gives every component schema of the GPT document an example, built from the schema itself
/// (its properties' own examples, else a plausible value for the property's name), so the
/// model sees what an answer looks like. A test checks each example against its schema.
fn add_schema_examples(doc: &mut Value) {
    let Some(Value::Object(schemas)) = doc.pointer("/components/schemas").cloned() else {
        return;
    };
    let Some(Value::Object(target)) = doc.pointer_mut("/components/schemas") else {
        return;
    };
    for (name, schema) in target.iter_mut() {
        if schema.get("examples").is_some() {
            continue;
        }
        let example = example_of(schema, &schemas, name, 0);
        if let Value::Object(schema) = schema {
            schema.insert("examples".into(), json!([example]));
        }
    }
}

fn example_of(schema: &Value, schemas: &Map<String, Value>, name: &str, depth: u8) -> Value {
    if let Some(first) = schema
        .get("examples")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    if let Some(target) = schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix(SCHEMA_REF_PREFIX))
        .and_then(|n| schemas.get(n))
        && depth < 8
    {
        return example_of(target, schemas, name, depth + 1);
    }
    if let Some(first) = schema
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(first) = schema
            .get(key)
            .and_then(Value::as_array)
            .and_then(|a| a.first())
        {
            return example_of(first, schemas, name, depth + 1);
        }
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("object") => {
            let mut out = Map::new();
            for (prop, s) in schema
                .get("properties")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                out.insert(prop.clone(), example_of(s, schemas, prop, depth + 1));
            }
            Value::Object(out)
        }
        Some("array") => match schema.get("items") {
            Some(items) if depth < 8 => json!([example_of(items, schemas, name, depth + 1)]),
            _ => json!([]),
        },
        Some("integer") => {
            let n: i64 = match name {
                "status" => 422,
                "page_size" => 10,
                "total_results" | "total_categories" | "lastest_volume" | "sales_volume" => 120,
                _ => 1,
            };
            let min = schema.get("minimum").and_then(Value::as_i64).unwrap_or(0);
            let max = schema
                .get("maximum")
                .and_then(Value::as_i64)
                .unwrap_or(i64::MAX);
            n.clamp(min, max).into()
        }
        Some("number") => json!(12.5),
        Some("boolean") => (name == "success").into(),
        _ => string_example(name).into(),
    }
}

/// A plausible value for a string property, by its name.
fn string_example(name: &str) -> &'static str {
    match name {
        "product_id" => "1005004043442825",
        "shop_id" => "912345",
        "request_id" => "7f3a9c2e1b4d5a60",
        "type" => "https://alistach.dev/problems/validation",
        "title" => "Invalid Request",
        "instance" => "/api/products/search",
        "field" => "page_size",
        "rule" => "must be between 1 and 50",
        "detail" => "page_size must be between 1 and 50",
        "kind" => "timeout",
        "code" => "ApiCallLimit",
        "api_integration" => "mock",
        "api_version" => "2.0.0",
        "cache_status" => "MISS",
        "keywords" => "wireless earbuds",
        "currency" | "original_price_currency" | "target_currency" => "USD",
        "target_language" => "EN",
        "ship_to_country" => "US",
        "ship_to_days" => "ship to US in 7 days",
        "platform_product_type" => "ALL",
        "promotion_name" => "Hot Product",
        "description" => "Products with high commission rates",
        "discount" => "50%",
        "shop_name" => "Sound Store",
        "shop_url" => "https://www.aliexpress.com/store/912345",
        "promotion_link" | "affiliate_url" => "https://s.click.aliexpress.com/e/_DdWxyz1",
        "code_or_value" | "value" => "On order over USD 30, get USD 5 off",
        _ if name.ends_with("category_id") || name == "category_ids" => "44",
        _ if name.ends_with("category_name") => "Consumer Electronics",
        _ if name.contains("image") => "https://ae01.alicdn.com/kf/S1a2b3c4d5e6f.jpg",
        _ if name.contains("video") => "https://video.aliexpress-media.com/play/u/v.mp4",
        _ if name.contains("url") => "https://www.aliexpress.com/item/1005004043442825.html",
        _ if name.contains("price") || name.contains("spend") => "17.99",
        _ if name.contains("rate") => "7.0%",
        _ if name.contains("title") || name.ends_with("name") => "Wireless Earbuds Bluetooth 5.3",
        _ if name.starts_with("valid") => "2026-01-01 00:00:00",
        _ => "SAVE5",
    }
}

fn operation(
    route: &Route,
    spec: &OpSpec,
    profile: Profile,
    opts: &OpenApiOptions,
    generator: &mut SchemaGenerator,
    problem_ref: &Value,
) -> Value {
    let mut op = Map::new();
    op.insert("operationId".into(), route.operation_id.into());
    op.insert("summary".into(), route.summary.into());
    op.insert("description".into(), spec.description.into());
    op.insert("tags".into(), json!([tag(route)]));

    let mut parameters: Vec<Value> = route
        .path
        .split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| match name {
            "id" if route.path.starts_with("/api/admin/tenants/") => json!({
                "name": name,
                "in": "path",
                "required": true,
                "description": "The tenant's id.",
                "schema": { "type": "string", "pattern": TENANT_ID_PATTERN, "examples": ["acme"] }
            }),
            "key_id" => json!({
                "name": name,
                "in": "path",
                "required": true,
                "description": "The key's id (`key_…`), as listTenantKeys names it.",
                "schema": { "type": "string", "pattern": TENANT_KEY_ID_PATTERN }
            }),
            "id" | "delivery" => json!({
                "name": name,
                "in": "path",
                "required": true,
                "description": if name == "id" {
                    if route.path.starts_with("/api/admin/webhooks") {
                        "The webhook endpoint's id."
                    } else if route.path.starts_with("/api/admin/watches") {
                        "The watch's id."
                    } else {
                        "The experiment's id."
                    }
                } else {
                    "The delivery's id."
                },
                "schema": { "type": "integer", "minimum": 1, "maximum": 9007199254740991_u64 }
            }),
            _ => json!({
                "name": name,
                "in": "path",
                "required": true,
                "description": "The signed token of a tracked link, as handed out (URL-safe base64).",
                "schema": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 4096,
                    "pattern": "^[A-Za-z0-9_-]+$"
                }
            }),
        })
        .collect();
    if let Some(query) = spec.query {
        parameters.extend(query_parameters(query(generator)));
    }
    if !parameters.is_empty() {
        op.insert("parameters".into(), Value::Array(parameters));
    }
    if let Some(body) = spec.body {
        let schema = Value::from(body(generator));
        let content = if route.id == RouteId::TenantUpdate {
            // A JSON merge patch (RFC 7396) has its own media type; plain JSON is read the same.
            json!({
                "application/merge-patch+json": { "schema": schema.clone() },
                "application/json": { "schema": schema }
            })
        } else {
            json!({ "application/json": { "schema": schema } })
        };
        op.insert(
            "requestBody".into(),
            json!({ "required": true, "content": content }),
        );
    }

    let mut responses = Map::new();
    let ok_status = if matches!(spec.ok, Content::Redirect) {
        "302"
    } else if matches!(
        route.id,
        RouteId::ExperimentCreate
            | RouteId::WebhookCreate
            | RouteId::WatchCreate
            | RouteId::TenantCreate
            | RouteId::TenantKeyCreate
    ) {
        "201"
    } else {
        "200"
    };
    responses.insert(ok_status.into(), ok_response(&spec.ok, generator));
    let problem = |description: &str| {
        json!({
            "description": description,
            "content": { "application/problem+json": { "schema": problem_ref.clone() } }
        })
    };
    // Every status the adapter can answer on this operation (crates/alistach-http: pipeline.rs,
    // auth.rs, routes/, error.rs), each with the problem document.
    let reads_body = matches!(route.method, "POST" | "PATCH");
    if spec.body.is_some() {
        responses.insert(
            "400".into(),
            problem("Malformed JSON: the body is not JSON at all, or could not be read."),
        );
    } else if reads_body {
        responses.insert("400".into(), problem("The request body could not be read."));
    }
    match route.access {
        Access::Public => {}
        Access::Api => {
            if opts.api_key_security {
                responses.insert("401".into(), problem("Missing or wrong API key."));
            }
        }
        Access::Admin => {
            responses.insert("401".into(), problem("Missing or wrong admin key."));
            responses.insert(
                "403".into(),
                problem(
                    "Admin endpoints are disabled (no ADMIN_API_KEY configured and no tenants), an \
                     API key or a tenant's client key was presented instead of an admin key, or a \
                     tenant-admin key called an endpoint that concerns the whole deployment \
                     (only ADMIN_API_KEY may).",
                ),
            );
        }
    }
    if reads_body {
        responses.insert(
            "408".into(),
            problem("The request body was not received within BODY_READ_TIMEOUT."),
        );
        responses.insert("413".into(), problem("Request body too large."));
    }
    responses.insert(
        "414".into(),
        problem("The request URL (path and query) is longer than the limit."),
    );
    if spec.query.is_some() || spec.body.is_some() {
        responses.insert(
            "422".into(),
            problem("Invalid input; `errors` names each field and the rule it broke."),
        );
    }
    match route.access {
        Access::Public => {}
        Access::Api => {
            responses.insert(
                "429".into(),
                problem(
                    "Too many requests (the rate limit, or too many failed authentications); \
                     retry after `Retry-After` seconds.",
                ),
            );
        }
        Access::Admin => {
            responses.insert(
                "429".into(),
                problem("Too many failed authentications; retry after `Retry-After` seconds."),
            );
        }
    }
    responses.insert(
        "431".into(),
        problem("The request headers are larger than the limit."),
    );
    responses.insert(
        "500".into(),
        problem("A bug in the server; it has been logged under the answer's `request_id`."),
    );
    if spec.upstream {
        responses.insert(
            "502".into(),
            problem("AliExpress rejected the call or answered something unreadable."),
        );
        responses.insert(
            "503".into(),
            problem(
                "AliExpress is unavailable or rate limited; retry after `Retry-After` seconds.",
            ),
        );
        responses.insert(
            "504".into(),
            problem(
                "AliExpress did not answer in time, or the request did not complete within \
                 REQUEST_TIMEOUT.",
            ),
        );
    } else {
        responses.insert(
            "504".into(),
            problem("The request did not complete within REQUEST_TIMEOUT."),
        );
    }
    if route.id == RouteId::Categories {
        responses.insert(
            "404".into(),
            problem("parent_id names no known category; `detail` says so."),
        );
    }
    if route.id == RouteId::CacheClear {
        responses.insert(
            "503".into(),
            problem("The cache backend (Redis) could not be cleared."),
        );
    }
    if matches!(
        route.id,
        RouteId::AdminOrders
            | RouteId::AdminOrdersSync
            | RouteId::AdminRevenue
            | RouteId::Experiments
            | RouteId::ExperimentCreate
            | RouteId::ExperimentReport
            | RouteId::ExperimentStop
            | RouteId::Webhooks
            | RouteId::WebhookCreate
            | RouteId::Webhook
            | RouteId::WebhookUpdate
            | RouteId::WebhookDelete
            | RouteId::WebhookTest
            | RouteId::WebhookDeliveries
            | RouteId::WebhookRetry
            | RouteId::Watches
            | RouteId::WatchCreate
            | RouteId::WatchDelete
            | RouteId::AnalyticsOverview
            | RouteId::AnalyticsTimeseries
            | RouteId::AnalyticsKeywords
            | RouteId::Tenants
            | RouteId::TenantCreate
            | RouteId::Tenant
            | RouteId::TenantUpdate
            | RouteId::TenantDelete
            | RouteId::TenantKeys
            | RouteId::TenantKeyCreate
            | RouteId::TenantKeyRevoke
            | RouteId::TenantUsage
            | RouteId::Audit
    ) {
        responses.insert(
            "503".into(),
            problem("The database (SQLite or PostgreSQL) is unavailable."),
        );
    }
    if route.id == RouteId::AdminOrdersSync {
        responses.insert(
            "409".into(),
            problem("Another instance is syncing orders (it holds the sync lease); retry later."),
        );
        responses.insert(
            "502".into(),
            problem("AliExpress rejected the call or answered something unreadable."),
        );
        responses.insert(
            "503".into(),
            problem(
                "The database is unavailable, or AliExpress is unavailable or rate limited; retry \
                 after `Retry-After` seconds when given.",
            ),
        );
        responses.insert(
            "504".into(),
            problem(
                "AliExpress did not answer in time, or the request did not complete within \
                 REQUEST_TIMEOUT.",
            ),
        );
    }
    if matches!(
        route.id,
        RouteId::ExperimentReport | RouteId::ExperimentStop
    ) {
        responses.insert("404".into(), problem("No experiment has this id."));
    }
    if matches!(
        route.id,
        RouteId::Webhook
            | RouteId::WebhookUpdate
            | RouteId::WebhookDelete
            | RouteId::WebhookTest
            | RouteId::WebhookDeliveries
            | RouteId::WebhookRetry
    ) {
        responses.insert(
            "404".into(),
            problem("No webhook endpoint (or no delivery of it) has this id."),
        );
    }
    if route.id == RouteId::WatchDelete {
        responses.insert("404".into(), problem("No watch has this id."));
    }
    tenant_responses(route.id, &mut responses, &problem);
    if route.id == RouteId::ExperimentCreate {
        responses.insert(
            "409".into(),
            problem("Another experiment is running; stop it first (`detail` names it)."),
        );
    }
    if route.id == RouteId::Alerts {
        responses.insert(
            "503".into(),
            problem("Alerts are not evaluated by this instance (ALERT_EVAL_INTERVAL=0)."),
        );
    }
    if route.id == RouteId::ClickSummary {
        responses.insert(
            "503".into(),
            problem("The click store (the database) is unavailable."),
        );
    }
    if route.id == RouteId::TrackedLink {
        responses.insert(
            "404".into(),
            problem(
                "Not a tracked link this server issued: the token is malformed, altered or signed \
                 with another key, or link tracking is off (LINK_TRACKING=direct).",
            ),
        );
    }
    if route.id == RouteId::Readyz {
        responses.insert(
            "503".into(),
            json!({
                "description": "Not ready; `checks` says which dependency failed.",
                "content": { "application/json": { "schema": Value::from(generator.subschema_for::<Probe>()) } }
            }),
        );
    }
    op.insert("responses".into(), Value::Object(responses));

    let security = match route.access {
        Access::Public => None,
        Access::Api => opts
            .api_key_security
            .then(|| json!([{ API_KEY_SCHEME: [] }])),
        Access::Admin => (profile == Profile::Full).then(|| json!([{ ADMIN_KEY_SCHEME: [] }])),
    };
    if let Some(security) = security {
        op.insert("security".into(), security);
    }
    if profile == Profile::Gpt && route.method != "GET" {
        // Creating links changes nothing the user would need to confirm; without this ChatGPT asks
        // for approval on every call.
        op.insert("x-openai-isConsequential".into(), false.into());
    }
    Value::Object(op)
}

/// The statuses of the tenant and audit routes that differ from the other admin routes': who
/// may call them (403), unknown tenants and keys (404), taken ids and file tenants (409), and
/// what breaks a rule (422).
fn tenant_responses(
    id: RouteId,
    responses: &mut Map<String, Value>,
    problem: &dyn Fn(&str) -> Value,
) {
    let forbidden = match id {
        RouteId::TenantCreate | RouteId::TenantUpdate | RouteId::TenantDelete => {
            "Only the super-admin key (ADMIN_API_KEY) may do this: a tenant-admin key, a client key \
             or an API key was presented, or admin endpoints are disabled (no ADMIN_API_KEY \
             configured)."
        }
        RouteId::Tenants => {
            "A client key or an API key was presented (tenant keys need the tenant-admin role), or \
             admin endpoints are disabled (no ADMIN_API_KEY configured)."
        }
        RouteId::Audit => {
            "A client key or an API key was presented, a tenant-admin key asked for another \
             tenant's entries, or admin endpoints are disabled (no ADMIN_API_KEY configured)."
        }
        RouteId::Tenant
        | RouteId::TenantKeys
        | RouteId::TenantKeyCreate
        | RouteId::TenantKeyRevoke
        | RouteId::TenantUsage => {
            "A client key or an API key was presented, or admin endpoints are disabled (no \
             ADMIN_API_KEY configured). (A tenant-admin key naming another tenant is answered \
             404, as for an unknown tenant: ids cannot be probed.)"
        }
        _ => return,
    };
    responses.insert("403".into(), problem(forbidden));
    match id {
        RouteId::TenantKeyRevoke => {
            responses.insert(
                "404".into(),
                problem(
                    "No tenant has this id (to a tenant-admin key, another tenant is unknown), or \
                     the tenant has no key with this id.",
                ),
            );
        }
        RouteId::Tenant
        | RouteId::TenantUpdate
        | RouteId::TenantDelete
        | RouteId::TenantKeys
        | RouteId::TenantKeyCreate
        | RouteId::TenantUsage => {
            responses.insert(
                "404".into(),
                problem(
                    "No tenant has this id (to a tenant-admin key, another tenant is unknown).",
                ),
            );
        }
        _ => {}
    }
    match id {
        RouteId::TenantCreate => {
            responses.insert(
                "409".into(),
                problem(
                    "The id or the tracking id is taken (by a tenant of the config file too); \
                     `detail` says which.",
                ),
            );
        }
        RouteId::TenantUpdate => {
            responses.insert(
                "409".into(),
                problem(
                    "The tenant is defined in the config file, so it cannot be changed through the \
                     API; or the tracking id is another tenant's. `detail` says which.",
                ),
            );
        }
        RouteId::TenantKeyCreate => {
            responses.insert(
                "409".into(),
                problem("The tenant holds 100 live keys, the most allowed: revoke one first."),
            );
        }
        RouteId::TenantDelete => {
            responses.insert(
                "409".into(),
                problem(
                    "The tenant is defined in the config file, so it cannot be deleted through the \
                     API (remove it from the file).",
                ),
            );
        }
        _ => {}
    }
    let invalid = match id {
        RouteId::TenantCreate | RouteId::TenantUpdate => {
            "A field breaks a rule (`detail` says which and `errors` names each field), e.g. an \
             unknown field, a malformed id or origin, or an app_secret_env that is not set on the \
             server."
        }
        RouteId::TenantKeyCreate => {
            "A field breaks a rule (`detail` says which and `errors` names each field), e.g. an \
             unknown role or an expires_at that is not in the future."
        }
        RouteId::TenantUsage => {
            "A query parameter breaks a rule (`detail` says which and `errors` names each), e.g. a \
             malformed date, `from` after `to`, or a range longer than 366 days."
        }
        RouteId::Audit => {
            "A query parameter breaks a rule (`detail` says which and `errors` names each), e.g. a \
             malformed time or tenant id, or a limit outside 1 to 1000."
        }
        _ => return,
    };
    responses.insert("422".into(), problem(invalid));
}

fn tag(route: &Route) -> &'static str {
    match route.id {
        RouteId::SearchPost
        | RouteId::SearchNoCache
        | RouteId::SearchGet
        | RouteId::ProductsGet
        | RouteId::ProductDetails
        | RouteId::HotProducts
        | RouteId::SimilarProducts
        | RouteId::Categories => "products",
        RouteId::Promotions | RouteId::PromotionProducts => "promotions",
        RouteId::AffiliateLinks | RouteId::AffiliateLink => "affiliate",
        RouteId::TrackedLink => "affiliate",
        RouteId::CacheStats
        | RouteId::CacheClear
        | RouteId::Metrics
        | RouteId::AdminOrders
        | RouteId::AdminOrdersSync
        | RouteId::AdminRevenue
        | RouteId::ClickSummary
        | RouteId::Alerts
        | RouteId::Experiments
        | RouteId::ExperimentCreate
        | RouteId::ExperimentReport
        | RouteId::ExperimentStop => "admin",
        RouteId::Webhooks
        | RouteId::WebhookCreate
        | RouteId::Webhook
        | RouteId::WebhookUpdate
        | RouteId::WebhookDelete
        | RouteId::WebhookTest
        | RouteId::WebhookDeliveries
        | RouteId::WebhookRetry => "webhooks",
        RouteId::Watches | RouteId::WatchCreate | RouteId::WatchDelete => "watches",
        RouteId::Tenants
        | RouteId::TenantCreate
        | RouteId::Tenant
        | RouteId::TenantUpdate
        | RouteId::TenantDelete
        | RouteId::TenantKeys
        | RouteId::TenantKeyCreate
        | RouteId::TenantKeyRevoke
        | RouteId::TenantUsage
        | RouteId::Audit => "tenants",
        RouteId::AnalyticsOverview | RouteId::AnalyticsTimeseries | RouteId::AnalyticsKeywords => {
            "analytics"
        }
        RouteId::Root
        | RouteId::Health
        | RouteId::Livez
        | RouteId::Readyz
        | RouteId::Status
        | RouteId::SystemInfo
        | RouteId::OpenApi
        | RouteId::OpenApiGpt
        | RouteId::Docs
        | RouteId::DocsAsset
        | RouteId::Dashboard
        | RouteId::DashboardAsset => "service",
        RouteId::Mcp => "mcp",
    }
}

fn ok_response(content: &Content, generator: &mut SchemaGenerator) -> Value {
    match content {
        Content::Json(schema) => json!({
            "description": "Success.",
            "content": { "application/json": { "schema": Value::from(schema(generator)) } }
        }),
        Content::JsonOrCsv(schema) => json!({
            "description": "Success: JSON, or CSV with `format=csv`.",
            "content": {
                "application/json": { "schema": Value::from(schema(generator)) },
                "text/csv": { "schema": { "type": "string" } }
            }
        }),
        Content::Html => json!({
            "description": "The HTML page.",
            "content": { "text/html": { "schema": { "type": "string" } } }
        }),
        Content::JavaScript => json!({
            "description": "The script.",
            "content": { "text/javascript": { "schema": { "type": "string" } } }
        }),
        Content::Prometheus => json!({
            "description": "Metrics in the Prometheus text exposition format 0.0.4.",
            "content": { "text/plain": { "schema": { "type": "string" } } }
        }),
        Content::Redirect => json!({
            "description": "A redirect to the affiliate link.",
            "headers": {
                "Location": {
                    "description": "The AliExpress affiliate link.",
                    "schema": { "type": "string", "format": "uri" }
                }
            }
        }),
        Content::OpenApiDocument => json!({
            "description": "An OpenAPI 3.1.0 document.",
            "content": { "application/json": { "schema": {
                "type": "object",
                "required": ["openapi", "info", "paths"],
                "properties": {
                    "openapi": { "type": "string" },
                    "info": { "type": "object", "properties": { "title": { "type": "string" }, "version": { "type": "string" } } },
                    "paths": { "type": "object", "properties": {} }
                }
            } } }
        }),
    }
}

/// Turns the object schema of a query struct into one OpenAPI parameter per property.
fn query_parameters(schema: Schema) -> Vec<Value> {
    let schema = Value::from(schema);
    let required: BTreeSet<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    properties
        .iter()
        .map(|(name, property)| {
            let mut property = property.clone();
            let description = property
                .as_object_mut()
                .and_then(|p| p.remove("description"));
            let mut parameter = Map::new();
            parameter.insert("name".into(), name.as_str().into());
            parameter.insert("in".into(), "query".into());
            parameter.insert("required".into(), required.contains(name.as_str()).into());
            if let Some(description) = description {
                parameter.insert("description".into(), description);
            }
            // A query parameter is absent rather than null, so the Option's null alternative goes.
            single_typed(&mut property);
            // The parameter's own example, which importers (the GPT editor) read.
            if let Some(first) = property
                .get("examples")
                .and_then(Value::as_array)
                .and_then(|e| e.first())
            {
                parameter.insert("example".into(), first.clone());
            }
            // Query values arrive as text; a price is a decimal string here, never a JSON number.
            if property.get("anyOf").is_some() && name.ends_with("_price") {
                let example = if name.starts_with("min") {
                    "5.00"
                } else {
                    "50.00"
                };
                property = json!({
                    "type": "string",
                    "pattern": "^[0-9]+(\\.[0-9]+)?$",
                    "examples": [example]
                });
                parameter.insert("example".into(), example.into());
            }
            parameter.insert("schema".into(), property);
            Value::Object(parameter)
        })
        .collect()
}

fn rename_refs(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get_mut("$ref")
                && let Some(name) = reference.strip_prefix(SCHEMA_REF_PREFIX)
                && let Some((_, to)) = RENAMES.iter().find(|(from, _)| *from == name)
            {
                *reference = format!("{SCHEMA_REF_PREFIX}{to}");
            }
            map.values_mut().for_each(rename_refs);
        }
        Value::Array(items) => items.iter_mut().for_each(rename_refs),
        _ => {}
    }
}

/// Rewrites schemas into the subset GPT Actions import reliably: one `type` per schema (no
/// `["string", "null"]`), no `{"type": "null"}` alternatives, and only standard integer formats.
fn single_typed(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Array(types)) = map.get("type") {
                let kept: Vec<Value> = types
                    .iter()
                    .filter(|t| t.as_str() != Some("null"))
                    .cloned()
                    .collect();
                if kept.len() == 1 {
                    map.insert("type".into(), kept[0].clone());
                } else if kept.is_empty() {
                    map.remove("type");
                } else {
                    // Several real types: express them as alternatives so each has one type.
                    map.remove("type");
                    map.insert(
                        "anyOf".into(),
                        Value::Array(kept.into_iter().map(|t| json!({ "type": t })).collect()),
                    );
                }
            }
            for key in ["anyOf", "oneOf"] {
                let Some(Value::Array(alternatives)) = map.get_mut(key) else {
                    continue;
                };
                alternatives.retain(|a| a.get("type").and_then(Value::as_str) != Some("null"));
                if alternatives.len() == 1 {
                    let only = alternatives.remove(0);
                    map.remove(key);
                    if let Value::Object(only) = only {
                        for (k, v) in only {
                            map.entry(k).or_insert(v);
                        }
                    }
                }
            }
            if map.get("default") == Some(&Value::Null) {
                map.remove("default");
            }
            if let Some(Value::String(format)) = map.get("format") {
                match format.as_str() {
                    "uint8" | "uint16" | "int8" | "int16" | "uint32" | "int32" => {
                        map.insert("format".into(), "int32".into());
                    }
                    "uint64" | "int64" | "uint" | "int" => {
                        map.insert("format".into(), "int64".into());
                    }
                    _ => {}
                }
            }
            map.values_mut().for_each(single_typed);
        }
        Value::Array(items) => items.iter_mut().for_each(single_typed),
        _ => {}
    }
}

/// Replaces the self-reference `Category.children: [Category]` with a `Subcategory` schema that has
/// no `children`, since the tree is two levels deep and GPT Actions cope poorly with recursive schemas.
fn unroll_category_tree(doc: &mut Value) {
    let Some(Value::Object(schemas)) = doc.pointer_mut("/components/schemas") else {
        return;
    };
    let Some(category) = schemas.get("Category").cloned() else {
        return;
    };
    let mut subcategory = category;
    if let Some(Value::Object(properties)) = subcategory.get_mut("properties") {
        properties.remove("children");
    }
    subcategory["description"] = "A subcategory of a top-level category.".into();
    schemas.insert("Subcategory".to_owned(), subcategory);
    if let Some(Value::Object(items)) = schemas
        .get_mut("Category")
        .and_then(|c| c.pointer_mut("/properties/children/items"))
    {
        items.insert(
            "$ref".to_owned(),
            format!("{SCHEMA_REF_PREFIX}Subcategory").into(),
        );
    }
}

/// Drops component schemas no GPT operation reaches, so admin-only shapes stay out of the GPT document.
fn prune_unreferenced_schemas(doc: &mut Value) {
    let mut reachable = BTreeSet::new();
    let mut pending = Vec::new();
    collect_refs(&doc["paths"], &mut pending);
    while let Some(name) = pending.pop() {
        if reachable.insert(name.clone())
            && let Some(schema) = doc["components"]["schemas"].get(&name)
        {
            collect_refs(schema, &mut pending);
        }
    }
    if let Some(Value::Object(schemas)) =
        doc.get_mut("components").and_then(|c| c.get_mut("schemas"))
    {
        schemas.retain(|name, _| reachable.contains(name));
    }
}

fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(name) = map
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix(SCHEMA_REF_PREFIX))
            {
                out.push(name.to_owned());
            }
            map.values().for_each(|v| collect_refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// The GPT document names exactly one server, the public https origin (GPT Actions require
/// it). The full document also offers the origin it was fetched from, so "try it" on `/docs`
/// works against a local run too.
fn servers(profile: Profile, opts: &OpenApiOptions) -> Value {
    match profile {
        Profile::Gpt => json!([{ "url": opts.server_url() }]),
        Profile::Full => json!([
            { "url": opts.server_url(), "description": "public origin" },
            { "url": "/", "description": "the server this document came from" }
        ]),
    }
}
