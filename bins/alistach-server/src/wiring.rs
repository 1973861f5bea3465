//! Builds the parts the configuration asks for and serves them until SIGTERM or Ctrl-C.

use std::sync::Arc;

use alistach_aliexpress::{AliExpressClient, ClientConfig};
use alistach_cache::{
    Cache, MemoryCache, MemoryCacheConfig, SharedClock, SystemClock, TieredCache,
};
use alistach_domain::TenantId;
use alistach_domain::{AffiliateApi, ApiMode, ClickListener, OrderSource};
use alistach_http::{App, HttpConfig, Orders};
use alistach_mock::MockCatalog;
use alistach_policy::{Quota, RateLimitStore, RateLimiter};
use alistach_redis::{RedisCache, RedisCacheConfig, RedisRateLimitConfig, RedisRateLimitStore};
use alistach_service::{
    AdaptiveConfig, CacheLearningSync, CacheTierLearning, CacheTtls, Catalog, ClickDrain,
    ClickTracking, DEFAULT_CLICK_QUEUE, Experiments, GuardConfig, GuardedApi, Learner, LinkTracker,
    OrderSync, OrderSyncConfig, RateBudget, WebhookConfig, WebhookDispatcher, WebhookEndpoints,
};
use alistach_service::{
    Analytics, CircuitState, TenantDoc, Tenants, WatchConfig, WatchJob, Watches,
};
use alistach_sql::SqlStore;
use alistach_store::Store;
use anyhow::Context;

use crate::config::{CachePolicyMode, Config, LinkTracking};
use crate::tenancy::{ServerTenantCatalogs, TENANT_RELOAD, Upstream};

/// How often each instance saves (and merges) what the adaptive cache policy learned.
const LEARNING_SAVE: std::time::Duration = std::time::Duration::from_secs(60);

/// How often each instance reloads the running experiment and writes its link counts.
const EXPERIMENT_REFRESH: std::time::Duration = std::time::Duration::from_secs(5);

/// Wires everything and serves until a shutdown signal.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    run(config, Front::Http).await
}

/// Wires everything and serves the MCP tools over stdin/stdout until the client closes stdin.
pub async fn serve_mcp(config: Config) -> anyhow::Result<()> {
    run(config, Front::McpStdio).await
}

/// What the process serves: HTTP (the REST routes and `/mcp`), or the MCP tools over stdio.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Front {
    Http,
    McpStdio,
}

async fn run(config: Config, front: Front) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let clock: SharedClock = Arc::new(SystemClock);

    // Only the real client spends the app key's quota; it alone is guarded.
    let mut guarded: Option<Arc<GuardedApi>> = None;
    // Orders come from the same paced client (one budget for the app key) or the mock book.
    let mut order_source: Option<Arc<dyn OrderSource>> = None;
    let mut click_listener: Option<Arc<dyn ClickListener>> = None;
    // What tenants' catalogs are made from.
    let tenant_upstream: Upstream;
    let api: Arc<dyn AffiliateApi> = match config.mode {
        ApiMode::Real => {
            let mut client = ClientConfig::new(
                config
                    .app_key
                    .as_ref()
                    .map(|k| k.expose().to_owned())
                    .unwrap_or_default(),
                config
                    .app_secret
                    .as_ref()
                    .map(|s| s.expose().to_owned())
                    .unwrap_or_default(),
            );
            client.gateway_url = config.api_url.clone();
            client.tracking_id = Some(config.tracking_id.clone());
            client.currency = config.currency;
            client.language = config.language;
            client.request_timeout = config.upstream_timeout;
            let client =
                AliExpressClient::new(client).context("cannot build the AliExpress client")?;
            let unpaced = client.clone();
            // The guard's limiter paces every HTTP attempt of the client, retries included.
            let guard = Arc::new(GuardedApi::paced(
                GuardConfig {
                    max_qps: config.max_qps,
                    ..GuardConfig::default()
                },
                |pacer| {
                    let paced = client.with_pacer(pacer);
                    order_source = Some(Arc::new(paced.clone()));
                    Arc::new(paced)
                },
            ));
            guarded = Some(guard.clone());
            tenant_upstream = Upstream::Real {
                client: unpaced,
                guard: guard.clone(),
                max_qps: config.max_qps,
            };
            guard
        }
        ApiMode::Mock => {
            let mock = MockCatalog::new()
                .with_tracking_id(&config.tracking_id)
                .context("ALIEXPRESS_TRACKING_ID is not usable")?;
            order_source = Some(Arc::new(mock.clone()));
            // A click on a mock link becomes a labelled mock order a little later.
            click_listener = Some(Arc::new(mock.clone()));
            tenant_upstream = Upstream::Mock(mock.clone());
            Arc::new(mock)
        }
    };

    // The durable store: created and migrated before anything is served, so a database this
    // binary cannot use stops the start with its reason.
    let database = Arc::new(
        SqlStore::open(config.database.clone())
            .await
            .with_context(|| format!("cannot use the database ({})", config.database))?,
    );
    let order_store: Arc<dyn Store> = database.clone();
    let instance = format!(
        "{}-{}-{}",
        std::env::var("HOSTNAME").unwrap_or_else(|_| "alistach".to_owned()),
        std::process::id(),
        clock.now_ms()
    );
    let order_sync = Arc::new(OrderSync::new(
        order_source.context("no order source was built")?,
        order_store.clone(),
        clock.clone(),
        OrderSyncConfig::new(instance.clone(), config.order_sync_interval),
    ));
    // Webhooks: delivered from the store's outbox by one instance at a time (its lease).
    let webhook_sender =
        alistach_webhooks::HttpWebhookSender::new(alistach_webhooks::SenderConfig {
            timeout: config.webhook_timeout,
            allow_private: config.webhook_allow_private,
        })
        .context("cannot build the webhook sender")?;
    let dispatcher = Arc::new(WebhookDispatcher::new(
        order_store.clone(),
        Arc::new(webhook_sender),
        clock.clone(),
        WebhookConfig {
            instance: instance.clone(),
            ..WebhookConfig::default()
        },
    ));
    // Watches: checked by one instance at a time (its lease), at a share of the outbound
    // quota, and not while the guard's circuit is open.
    let mut watch_config = WatchConfig::new(
        config.watch_interval,
        f64::from(config.max_qps) * config.watch_qps_share,
    );
    watch_config.instance = instance.clone();
    let mut watch_job = WatchJob::new(
        order_store.clone(),
        api.clone(),
        clock.clone(),
        watch_config,
    );
    if let Some(guard) = &guarded {
        let guard = guard.clone();
        watch_job = watch_job.with_circuit_probe(Arc::new(move || {
            guard.circuit_state() == CircuitState::Open
        }));
    }
    let watch_job = Arc::new(watch_job);

    let memory: Arc<dyn Cache> = Arc::new(
        MemoryCache::new(
            MemoryCacheConfig {
                max_bytes: config.memory_cache_bytes,
                max_items: config.max_memory_cache_items as usize,
            },
            clock.clone(),
        )
        .context("invalid memory cache settings")?,
    );
    let mut redis_tier: Option<Arc<dyn Cache>> = None;
    let (store, backend): (Arc<dyn Cache>, &str) = match &config.redis_url {
        Some(url) => {
            let redis = RedisCache::connect_with_clock(
                RedisCacheConfig {
                    namespace: config.redis_namespace.clone(),
                    stale_max: config.redis_stale_max,
                    ..RedisCacheConfig::new(url.expose())
                },
                clock.clone(),
            )
            .context("invalid REDIS_URL")?;
            let redis: Arc<dyn Cache> = Arc::new(redis);
            redis_tier = Some(redis.clone());
            (
                Arc::new(TieredCache::new(memory, redis, clock.clone())),
                "memory+redis",
            )
        }
        None => (memory, "memory"),
    };

    let ttls = CacheTtls {
        search: config.cache_ttl,
        categories: config.cache_ttl_categories,
        links: config.cache_ttl_links,
        details: config.cache_ttl_details,
        hot: config.cache_ttl_hot,
        swr_percent: config.cache_swr_percent,
        stale_if_error: config.cache_stale_if_error,
        adaptive: (config.cache_policy == CachePolicyMode::Adaptive)
            .then_some(config.cache_ttl_bounds),
    };
    // CACHE_POLICY=adaptive: TTLs learned per key; refresh-ahead spends at most
    // CACHE_REFRESH_QPS_SHARE of ALIEXPRESS_MAX_QPS, and only a turn the outbound limiter has
    // free now (the watch job's approach), so users' misses never wait behind it.
    let learner = (config.cache_policy == CachePolicyMode::Adaptive).then(|| {
        let spare: Box<dyn Fn() -> bool + Send + Sync> = match &guarded {
            Some(guard) => {
                let guard = guard.clone();
                Box::new(move || guard.has_spare_turn())
            }
            None => Box::new(|| true),
        };
        let budget = RateBudget::new(
            clock.clone(),
            f64::from(config.max_qps) * config.cache_refresh_qps_share,
            spare,
        );
        Arc::new(Learner::new(
            AdaptiveConfig {
                target_stale: config.cache_stale_target,
                call_budget: config.cache_call_budget,
                max_keys: config.cache_learn_max_keys,
                popularity_half_life: config.cache_popularity_half_life,
                ..AdaptiveConfig::default()
            },
            clock.clone(),
            Some(Arc::new(budget)),
        ))
    });
    let mut catalog = match guarded {
        Some(guard) => Catalog::guarded(guard, store, clock.clone(), ttls),
        None => Catalog::new(api, store, clock.clone(), ttls),
    }
    .with_locale(config.currency, config.language);
    if let Some(learner) = &learner {
        catalog = catalog.with_learner(clock.clone(), learner.clone());
    }
    // What it learned survives restarts and is shared by instances on one database: restored
    // now, saved every LEARNING_SAVE and at shutdown.
    // With Redis, also in the shared tier: instances on one Redis share it without a common
    // database.
    let learning_sync = learner.as_ref().map(|learner| {
        let sync = CacheLearningSync::new(
            learner.clone(),
            database.clone(),
            format!("cache-learning:{}", catalog.key_scope().as_str()),
            LEARNING_SAVE,
        );
        Arc::new(match &redis_tier {
            Some(redis) => sync.with_shared(Arc::new(CacheTierLearning::new(
                redis.clone(),
                clock.clone(),
            ))),
            None => sync,
        })
    });
    if let Some(sync) = &learning_sync {
        match sync.restore().await {
            Ok(keys) => tracing::info!(keys, "cache policy: adaptive; learned state restored"),
            Err(e) => {
                tracing::warn!(error = %e, "cache policy: adaptive; learned state not restored, learning afresh")
            }
        }
    }
    let mut clicks: Option<(Arc<ClickTracking>, ClickDrain, &'static str)> = None;
    if config.link_tracking == LinkTracking::Redirect {
        if config.link_signing_key.is_none() && config.database.backend() == "postgres" {
            tracing::warn!(
                "LINK_SIGNING_KEY is unset: this instance signs links with its own key from DATA_DIR; instances sharing this PostgreSQL database must share one LINK_SIGNING_KEY, or each refuses the others' links"
            );
        }
        let key =
            crate::link_key::load_or_create(config.link_signing_key.as_ref(), &config.data_dir)?;
        let tracker = Arc::new(LinkTracker::new(
            alistach_policy::LinkSigner::new(key.expose().as_bytes()),
            &config.public_base_url,
            &config.tracking_id,
        ));
        catalog = catalog.with_link_tracking(tracker.clone());
        // Clicks survive restarts: they go to the durable store (DATABASE_URL or DATA_DIR).
        let (mut tracking, drain) = ClickTracking::new(
            tracker,
            order_store.clone(),
            DEFAULT_CLICK_QUEUE,
            clock.clone(),
        );
        if let Some(listener) = click_listener {
            tracking = tracking.with_listener(listener);
        }
        clicks = Some((Arc::new(tracking), drain, order_store.backend()));
        tracing::info!(
            links = %format!("{}/r/{{token}}", config.public_base_url),
            "link tracking: affiliate links lead through this server, which counts clicks"
        );
    }
    // Only a fingerprint: it tells deployments apart without showing what they are.
    tracing::info!(
        scope = catalog.key_scope().as_str(),
        "cache keys are scoped to this deployment's account, tracking id and gateway"
    );

    let rate_limiter = if config.rate_limit_enabled {
        let quotas = vec![
            Quota::per_second(config.max_requests_per_second),
            Quota::per_minute(config.max_requests_per_minute),
        ];
        // Its own connection (and, with RATE_LIMIT_REDIS_URL, its own Redis): a cache Redis
        // that is full or slow never takes the shared limits down with it.
        let shared: Option<Arc<dyn RateLimitStore>> = match &config.rate_limit_redis_url {
            Some(url) => Some(Arc::new(
                RedisRateLimitStore::new(
                    url.expose(),
                    RedisRateLimitConfig {
                        namespace: config.redis_namespace.clone(),
                        ..RedisRateLimitConfig::default()
                    },
                )
                .map_err(|e| anyhow::anyhow!("{e}"))
                .context("invalid RATE_LIMIT_REDIS_URL (or REDIS_URL) for rate limits")?,
            )),
            None => None,
        };
        let mut limiter = RateLimiter::new(quotas, shared);
        for (name, per_second, per_minute) in &config.rate_limit_overrides {
            limiter = limiter.with_override(
                format!("key:{name}"),
                vec![
                    Quota::per_second(*per_second),
                    Quota::per_minute(*per_minute),
                ],
            );
        }
        Some(Arc::new(limiter))
    } else {
        tracing::warn!("rate limits are disabled (RATE_LIMIT_ENABLED=false)");
        None
    };

    let http = HttpConfig {
        public_base_url: config.public_base_url.clone(),
        allowed_origins: config.allowed_origins.clone(),
        admin_key: config
            .admin_api_key
            .as_ref()
            .map(|s| alistach_http::ApiKey::new(s.expose())),
        api_keys: config
            .internal_api_key
            .iter()
            .map(|s| alistach_http::ApiKey::named("internal", s.expose()))
            .chain(
                config
                    .api_keys
                    .iter()
                    .map(|(name, s)| alistach_http::ApiKey::named(name, s.expose())),
            )
            .collect(),
        rate_limiter,
        trusted_proxies: config.trusted_proxies.clone(),
        header_read_timeout: config.header_read_timeout,
        body_read_timeout: config.body_read_timeout,
        response_write_timeout: config.response_write_timeout,
        request_timeout: config.request_timeout,
        max_connections: config.max_connections,
        max_connections_per_ip: config.max_connections_per_ip,
        ipv6_client_prefix: config.ipv6_client_prefix,
        auth_failures_per_minute: config.auth_failures_per_minute,
        version: env!("CARGO_PKG_VERSION").to_owned(),
        environment: config.environment.clone(),
        debug: config.debug,
        tracking_id: config.tracking_id.clone(),
        language: config.language,
        currency: config.currency,
        redis_url_configured: config.redis_url.is_some(),
        app_key_configured: config.app_key.is_some(),
        app_secret_configured: config.app_secret.is_some(),
        cache_backend: backend.to_owned(),
        max_memory_items: config.max_memory_cache_items,
        metrics_public: config.metrics_public,
        ..HttpConfig::default()
    };
    if front == Front::McpStdio {
        // The same catalog and settings, no listener: stdout carries only the protocol.
        tracing::info!(mode = %config.mode, "serving the MCP tools over stdio");
        if config.mode == ApiMode::Mock {
            tracing::info!("mock mode: tool results are labelled sample data, not AliExpress");
        }
        let served = alistach_http::serve_mcp_stdio(Arc::new(catalog), http)
            .await
            .context("the MCP stdio server failed");
        database.close().await;
        return served;
    }
    let mut app = App::new(catalog, http).with_orders(Orders {
        store: order_store.clone(),
        sync: order_sync.clone(),
    });
    // A/B experiments of link strategies: the running one is loaded now and every
    // EXPERIMENT_REFRESH after, so one created or stopped on another instance takes effect.
    let experiments = Arc::new(Experiments::new(
        order_store.clone(),
        app.catalog_handle(),
        clock.clone(),
    ));
    if let Err(e) = experiments.refresh().await {
        tracing::warn!(error = %e, "experiments not loaded; retrying in the background");
    }
    app = app
        .with_experiments(experiments.clone())
        .with_webhooks(Arc::new(WebhookEndpoints::new(
            order_store.clone(),
            clock.clone(),
            config.webhook_allow_private,
        )))
        .with_webhook_dispatcher(dispatcher.clone())
        .with_watches(Arc::new(Watches::new(order_store.clone(), clock.clone())));
    // Tenants: the config file's (written to the store at every start: the file wins) and
    // those made through the admin API, reloaded every TENANT_RELOAD on every instance.
    let tenants = Arc::new(
        Tenants::new(
            order_store.clone(),
            clock.clone(),
            Arc::new(ServerTenantCatalogs::new(
                app.catalog_handle(),
                tenant_upstream,
            )),
            TenantDoc::new(
                TenantId::default_tenant(),
                "the deployment",
                &config.tracking_id,
            ),
            app.catalog_handle(),
            config.tenants.clone(),
        )
        .with_order_syncs(!config.order_sync_interval.is_zero(), {
            let store = order_store.clone();
            let clock = clock.clone();
            let instance = instance.clone();
            let interval = config.order_sync_interval;
            move |source, doc| {
                let app = doc
                    .credentials
                    .as_ref()
                    .map_or("own", |c| c.app_key.as_str());
                Arc::new(OrderSync::new(
                    source,
                    store.clone(),
                    clock.clone(),
                    OrderSyncConfig::new(instance.clone(), interval).for_app(app),
                ))
            }
        })
        .with_tenant_experiments({
            let store = order_store.clone();
            let clock = clock.clone();
            move |catalog, tenant| {
                Arc::new(
                    Experiments::new(store.clone(), catalog, clock.clone())
                        .for_tenant(tenant.clone()),
                )
            }
        }),
    );
    tenants
        .start()
        .await
        .context("the tenants of the config file cannot be served")?;
    if tenants.any() {
        tracing::info!(
            tenants = tenants.list().len(),
            "tenants: their keys select their catalog, limits and data"
        );
    }
    app = app.with_tenants(tenants.clone());
    let (stop_tenants, tenants_stopped) = tokio::sync::oneshot::channel::<()>();
    let tenants_task = tokio::spawn(tenants.run(TENANT_RELOAD, async {
        let _ = tenants_stopped.await;
    }));
    let (stop_experiments, experiments_stopped) = tokio::sync::oneshot::channel::<()>();
    let experiments_task = tokio::spawn(experiments.run(EXPERIMENT_REFRESH, async {
        let _ = experiments_stopped.await;
    }));
    let (stop_webhooks, webhooks_stopped) = tokio::sync::oneshot::channel::<()>();
    let webhooks_task = tokio::spawn(dispatcher.run(async {
        let _ = webhooks_stopped.await;
    }));
    let (stop_watches, watches_stopped) = tokio::sync::oneshot::channel::<()>();
    let watches_task = (!config.watch_interval.is_zero()).then(|| {
        tokio::spawn(watch_job.run(async {
            let _ = watches_stopped.await;
        }))
    });
    // The click drain runs beside the server and stops after it, writing what is queued.
    let mut drain_task = None;
    if let Some((tracking, drain, backend)) = clicks {
        app = app.with_click_tracking(tracking, backend);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(drain.run(async {
            let _ = stopped.await;
        }));
        drain_task = Some((stop, task));
    }
    // The built-in alerts: evaluated on every instance, notified by the lease holder.
    let mut alert_task = None;
    let alerts = (!config.alert_eval_interval.is_zero()).then(|| {
        Arc::new(alistach_http::Alerts::new(
            alistach_service::AlertConfig {
                for_duration: config.alert_for,
                for_overrides: config.alert_for_overrides.clone(),
            },
            config.alert_eval_interval,
        ))
    });
    if let Some(alerts) = &alerts {
        app = app.with_alerts(alerts.clone());
    }
    // Usage analytics: counted in memory per minute, flushed beside the server by every
    // instance (additive upserts, no lease), and once more after it stops.
    let analytics = Arc::new(Analytics::new(
        order_store.clone(),
        clock.clone(),
        config.mode.as_str(),
        &instance,
        config.analytics,
        config.analytics_retention,
    ));
    app = app.with_analytics(analytics.clone());
    let (stop_analytics, analytics_stopped) = tokio::sync::oneshot::channel::<()>();
    let analytics_task = tokio::spawn(analytics.run(async {
        let _ = analytics_stopped.await;
    }));
    let app = Arc::new(app);
    if let Some(alerts) = alerts {
        let slack = match &config.alert_slack_webhook_url {
            Some(url) => Some(crate::alerting::Slack {
                sender: alistach_webhooks::HttpWebhookSender::new(
                    alistach_webhooks::SenderConfig {
                        timeout: config.webhook_timeout,
                        allow_private: config.webhook_allow_private,
                    },
                )
                .context("cannot build the Slack sender")?,
                url: url.clone(),
            }),
            None => None,
        };
        let task = crate::alerting::AlertTask {
            app: app.clone(),
            alerts,
            store: order_store.clone(),
            instance: instance.clone(),
            slack,
            unpublished: Default::default(),
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(task.run(async {
            let _ = stopped.await;
        }));
        alert_task = Some((stop, handle));
    }

    let (stop_learning, learning_stopped) = tokio::sync::oneshot::channel::<()>();
    let learning_task = learning_sync.map(|sync| {
        tokio::spawn(sync.run(async {
            let _ = learning_stopped.await;
        }))
    });

    // The scheduled sync runs beside the server and stops with it (a run in progress first
    // finishes); every instance ticks, the store's lease and last-run time make one sync.
    let (stop_sync, mut sync_stopped) = tokio::sync::watch::channel(false);
    let sync_task = (!config.order_sync_interval.is_zero()).then(|| {
        tokio::spawn(order_sync.clone().run_periodically(async move {
            let _ = sync_stopped.changed().await;
        }))
    });

    let listener = alistach_http::listen(config.listen)
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(
        mode = %config.mode,
        cache = backend,
        api_keys = if config.internal_api_key.is_some() || !config.api_keys.is_empty() { "required" } else { "none (the public API is open)" },
        rate_limits = %if config.rate_limit_enabled { format!("{}/s, {}/min per client{}", config.max_requests_per_second, config.max_requests_per_minute, if config.rate_limit_redis_url.is_some() { ", shared through Redis" } else { "" }) } else { "off".to_owned() },
        admin = if config.admin_api_key.is_some() { "enabled" } else { "disabled (no ADMIN_API_KEY)" },
        database = %config.database,
        order_sync = %if config.order_sync_interval.is_zero() { "on demand only (ORDER_SYNC_INTERVAL=0)".to_owned() } else { format!("every {} s", config.order_sync_interval.as_secs()) },
        upstream_max_qps = %if config.mode == ApiMode::Real { config.max_qps.to_string() } else { "n/a (mock mode)".to_owned() },
        metrics = if config.metrics_public { "public" } else { "admin key (/metrics), API key (/api/status)" },
        startup_ms = started.elapsed().as_millis() as u64,
        "listening on http://{addr}"
    );
    if config.mode == ApiMode::Mock {
        tracing::info!("mock mode: responses come from the labelled mock catalog, not AliExpress");
    }
    if config.public_base_url == crate::config::EXAMPLE_PUBLIC_BASE_URL {
        tracing::warn!(
            public_base_url = %config.public_base_url,
            "PUBLIC_BASE_URL is the example default: the OpenAPI documents advertise a host that is not yours, so a GPT Action imported from them will not reach this server; set PUBLIC_BASE_URL to your https origin"
        );
    }
    let shutdown = async {
        if let Err(e) = alistach_http::shutdown_signal().await {
            // Nothing can ask us to stop gracefully: serve until the process is killed.
            tracing::warn!(error = %e, "cannot listen for SIGTERM or Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    // Start-up's scratch memory goes back now (this thread's) and after the jobs' first runs.
    crate::memory::give_back();
    let trim = tokio::spawn(crate::memory::give_back_periodically());
    let served = alistach_http::serve(listener, app, shutdown).await;
    trim.abort();
    // The last requests' counts go to the store before it closes.
    let _ = stop_analytics.send(());
    finish(
        Some(analytics_task),
        10,
        "the analytics counts were not written",
    )
    .await;
    if let Some((stop, task)) = drain_task {
        let _ = stop.send(());
        finish(
            Some(task),
            10,
            "the click store did not take the queued clicks",
        )
        .await;
    }
    // The keys' last use goes to the store before it closes.
    let _ = stop_tenants.send(());
    finish(
        Some(tenants_task),
        10,
        "the tenant keys' last use was not recorded",
    )
    .await;
    // A watch run in progress finishes its batch before the store closes.
    let _ = stop_watches.send(());
    finish(watches_task, 15, "the watch job did not stop").await;
    // An attempt in progress finishes (and is recorded) before the store closes.
    let _ = stop_webhooks.send(());
    finish(
        Some(webhooks_task),
        15,
        "the webhook dispatcher did not stop (pending deliveries wait in the database)",
    )
    .await;
    if let Some((stop, task)) = alert_task {
        let _ = stop.send(());
        finish(Some(task), 10, "the alert evaluation did not stop").await;
    }
    // The links counted since the last write go to the store before it closes.
    let _ = stop_experiments.send(());
    finish(
        Some(experiments_task),
        10,
        "the experiments' link counts were not written",
    )
    .await;
    // What the cache learned is saved before the store closes.
    let _ = stop_learning.send(());
    finish(learning_task, 10, "the cache learning was not saved").await;
    let _ = stop_sync.send(true);
    finish(sync_task, 30, "the order sync did not stop").await;
    database.close().await;
    served?;
    tracing::info!("stopped");
    Ok(())
}

/// Waits up to `seconds` for a background task told to stop; a late one is left behind with a
/// warning (`what` says what it had not done), so shutdown never hangs on it.
async fn finish<T>(task: Option<tokio::task::JoinHandle<T>>, seconds: u64, what: &str) {
    if let Some(task) = task
        && tokio::time::timeout(std::time::Duration::from_secs(seconds), task)
            .await
            .is_err()
    {
        tracing::warn!("{what} within {seconds} s");
    }
}
