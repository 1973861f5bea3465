//! The application state: the catalog, the configuration, the key table, the documents built
//! once at start-up and the counters. The request pipeline is in `pipeline.rs`, the endpoints
//! in `routes/`.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use alistach_api::{OpenApiOptions, Profile};
use alistach_domain::ApiMode;
use alistach_policy::AuthThrottle;
use alistach_service::{
    Analytics, Catalog, ClickTracking, Experiments, OrderSync, Tenants, WebhookDispatcher,
    WebhookEndpoints,
};
use alistach_store::Store;
use bytes::Bytes;
use hyper::header::HeaderValue;

use crate::alerts::Alerts;
use crate::config::HttpConfig;
use crate::mcp::{McpEndpoint, ToolCtx};
use crate::metrics::Metrics;
use crate::respond::policy_header;

/// The service as the HTTP adapter serves it: the catalog, the configuration, the documents
/// (rendered once, when first asked for), and the counters.
pub struct App {
    pub(crate) catalog: Arc<Catalog>,
    pub(crate) config: HttpConfig,
    pub(crate) mode: ApiMode,
    pub(crate) openapi: OpenApiDocuments,
    pub(crate) metrics: Metrics,
    pub(crate) started: Instant,
    /// `RateLimit-Policy` for clients on the default quotas, rendered once.
    pub(crate) default_policy: Option<HeaderValue>,
    /// Every configured key by its SHA-256 digest: a presented key is hashed once and looked up.
    pub(crate) keys: HashMap<[u8; 32], KeyGrant>,
    /// Failed authentications per client address.
    pub(crate) auth_throttle: AuthThrottle,
    /// `POST /mcp`: the same catalog as MCP tools.
    pub(crate) mcp: McpEndpoint,
    /// The tracked-link redirect and its click queue (`LINK_TRACKING=redirect`).
    pub(crate) clicks: Option<std::sync::Arc<ClickTracking>>,
    /// Where clicks are kept, as `/api/admin/clicks` names it.
    pub(crate) click_store: &'static str,
    /// The order store and sync, when the deployment keeps orders.
    pub(crate) orders: Option<Orders>,
    /// A/B experiments of link strategies, when the deployment has a store.
    pub(crate) experiments: Option<Arc<Experiments>>,
    /// Webhook endpoints and deliveries, when the deployment has a store.
    pub(crate) webhooks: Option<Arc<WebhookEndpoints>>,
    /// Product watches, when the deployment has a store.
    pub(crate) watches: Option<Arc<alistach_service::Watches>>,
    /// The webhook dispatcher, for its counters in `/metrics`.
    pub(crate) webhook_dispatcher: Option<Arc<WebhookDispatcher>>,
    /// The alert rules' states, when this instance evaluates them.
    pub(crate) alerts: Option<Arc<Alerts>>,
    /// Usage analytics: the calls counted, and the admin answers' use cases.
    pub(crate) analytics: Option<Arc<Analytics>>,
    /// The tenants, when the deployment has a store.
    pub(crate) tenants: Option<Arc<Tenants>>,
}

/// What the admin order endpoints need: the durable store and the order sync.
#[derive(Clone)]
pub struct Orders {
    /// Where orders are kept.
    pub store: Arc<dyn Store>,
    /// The sync the `POST /api/admin/orders/sync` endpoint runs.
    pub sync: Arc<OrderSync>,
}

impl std::fmt::Debug for Orders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Orders")
            .field("store", &self.store.backend())
            .finish_non_exhaustive()
    }
}

/// What a configured key gives access to.
#[derive(Clone, Debug)]
pub(crate) struct KeyGrant {
    pub(crate) name: String,
    pub(crate) admin: bool,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("mode", &self.mode)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl App {
    /// Builds the application; the OpenAPI documents' server URL is checked here.
    pub fn new(catalog: Catalog, config: HttpConfig) -> Self {
        let opts = OpenApiOptions {
            public_base_url: config.public_base_url.clone(),
            api_key_security: !config.api_keys.is_empty(),
            version: config.version.clone(),
        };
        if let Err(e) = opts.validate() {
            // Fine for local runs; a GPT Action cannot import the document like this.
            tracing::warn!(error = %e, "the OpenAPI documents name an unusable server");
        }
        let default_policy = config
            .rate_limiter
            .as_ref()
            .and_then(|l| policy_header(l.quotas()));
        let mut keys = HashMap::new();
        for k in &config.api_keys {
            keys.insert(
                k.digest(),
                KeyGrant {
                    name: k.name().to_owned(),
                    admin: false,
                },
            );
        }
        if let Some(admin) = &config.admin_key {
            // The admin key also opens the API routes, as the client "admin".
            keys.insert(
                admin.digest(),
                KeyGrant {
                    name: "admin".to_owned(),
                    admin: true,
                },
            );
        }
        let auth_throttle = AuthThrottle::per_minute(config.auth_failures_per_minute);
        let catalog = Arc::new(catalog);
        let mcp = McpEndpoint::new(
            Arc::new(ToolCtx::new(catalog.clone(), config.clone())),
            config.body_limit,
        );
        App {
            mcp,
            keys,
            auth_throttle,
            mode: catalog.mode(),
            openapi: OpenApiDocuments::new(opts),
            catalog,
            config,
            metrics: Metrics::default(),
            started: Instant::now(),
            default_policy,
            orders: None,
            experiments: None,
            webhooks: None,
            watches: None,
            webhook_dispatcher: None,
            alerts: None,
            analytics: None,
            tenants: None,
            clicks: None,
            click_store: "none",
        }
    }

    /// The same application with the admin order endpoints served from `orders`.
    pub fn with_orders(mut self, orders: Orders) -> Self {
        self.orders = Some(orders);
        self
    }

    /// The same application running A/B experiments of link strategies: the catalog and MCP
    /// answers that hand out links are served by the variant `experiments` picks, and the
    /// `/api/admin/experiments` endpoints manage them. `experiments` must be made from this
    /// application's catalog (see [`App::catalog_handle`]).
    pub fn with_experiments(mut self, experiments: Arc<Experiments>) -> Self {
        self.mcp.set_experiments(experiments.clone());
        self.experiments = Some(experiments);
        self
    }

    /// The same application serving the webhook admin endpoints from `webhooks`.
    pub fn with_webhooks(mut self, webhooks: Arc<WebhookEndpoints>) -> Self {
        self.webhooks = Some(webhooks);
        self
    }

    /// The same application serving the product watch admin endpoints from `watches`.
    pub fn with_watches(mut self, watches: Arc<alistach_service::Watches>) -> Self {
        self.watches = Some(watches);
        self
    }

    /// The same application reporting `dispatcher`'s counters in `/metrics`.
    pub fn with_webhook_dispatcher(mut self, dispatcher: Arc<WebhookDispatcher>) -> Self {
        self.webhook_dispatcher = Some(dispatcher);
        self
    }

    /// The same application serving `GET /api/admin/alerts` from `alerts` (which the caller
    /// evaluates, see [`App::alert_snapshot`]).
    pub fn with_alerts(mut self, alerts: Arc<Alerts>) -> Self {
        self.alerts = Some(alerts);
        self
    }

    /// The same application counting every API and MCP call (and the searches' keywords) in
    /// `analytics` (whose flush task the caller runs) and serving
    /// `/api/admin/analytics/*` from it.
    pub fn with_analytics(mut self, analytics: Arc<Analytics>) -> Self {
        self.mcp.set_analytics(analytics.clone());
        self.analytics = Some(analytics);
        self
    }

    /// The same application serving `tenants`: their keys open the API (their catalog,
    /// limits and defaults) and, for tenant admins, the admin routes of their tenant only;
    /// `/api/admin/tenants` and `/api/admin/audit` manage them. `tenants` must be made from
    /// this application's catalog (see [`App::catalog_handle`]); the caller runs its reload
    /// task ([`Tenants::run`]).
    pub fn with_tenants(mut self, tenants: Arc<Tenants>) -> Self {
        self.tenants = Some(tenants);
        self
    }

    /// The shared catalog, to build [`Experiments`] on.
    pub fn catalog_handle(&self) -> Arc<Catalog> {
        self.catalog.clone()
    }

    /// The same application answering `/r/{token}` through `clicks` (whose drain the caller
    /// runs), keeping clicks in the store named `store` (for `/api/admin/clicks`).
    pub fn with_click_tracking(
        mut self,
        clicks: std::sync::Arc<ClickTracking>,
        store: &'static str,
    ) -> Self {
        self.clicks = Some(clicks);
        self.click_store = store;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &HttpConfig {
        &self.config
    }

    /// Where the data comes from.
    pub fn mode(&self) -> ApiMode {
        self.mode
    }

    /// The catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The per-route counters.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub(crate) fn uptime(&self) -> Duration {
        self.started.elapsed()
    }
}

/// The two OpenAPI documents, each rendered the first time it is asked for and then served as
/// stored: most instances are never asked, and rendering them at start-up cost memory and
/// start-up time for nothing.
pub(crate) struct OpenApiDocuments {
    opts: OpenApiOptions,
    full: OnceLock<Bytes>,
    gpt: OnceLock<Bytes>,
}

impl OpenApiDocuments {
    fn new(opts: OpenApiOptions) -> Self {
        OpenApiDocuments {
            opts,
            full: OnceLock::new(),
            gpt: OnceLock::new(),
        }
    }

    /// The document of `profile`, as JSON bytes.
    pub(crate) fn get(&self, profile: Profile) -> Bytes {
        let cell = match profile {
            Profile::Full => &self.full,
            Profile::Gpt => &self.gpt,
        };
        cell.get_or_init(|| {
            Bytes::from(
                serde_json::to_vec(&alistach_api::openapi(profile, &self.opts)).unwrap_or_default(),
            )
        })
        .clone()
    }
}
