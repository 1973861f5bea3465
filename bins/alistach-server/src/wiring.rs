//! Builds the parts the configuration asks for and serves them until SIGTERM or Ctrl-C.

use std::sync::Arc;

use alistach_aliexpress::{AliExpressClient, ClientConfig};
use alistach_cache::{
    Cache, MemoryCache, MemoryCacheConfig, SharedClock, SystemClock, TieredCache,
};
use alistach_domain::{AffiliateApi, ApiMode};
use alistach_http::{App, HttpConfig};
use alistach_mock::MockCatalog;
use alistach_policy::{Quota, RateLimitStore, RateLimiter};
use alistach_redis::{RedisCache, RedisCacheConfig, RedisRateLimitConfig, RedisRateLimitStore};
use alistach_service::{CacheTtls, Catalog, GuardConfig, GuardedApi};
use anyhow::Context;
use tokio::net::TcpListener;

use crate::config::Config;

/// What both front doors serve: the catalog, the adapter's configuration, and the name of the
/// cache backend.
struct Parts {
    catalog: Catalog,
    http: HttpConfig,
    backend: &'static str,
}

/// Wires everything and serves HTTP until a shutdown signal.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let Parts {
        catalog,
        http,
        backend,
    } = build(&config)?;
    let app = Arc::new(App::new(catalog, http));

    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(
        mode = %config.mode,
        cache = backend,
        api_keys = if config.internal_api_key.is_some() || !config.api_keys.is_empty() { "required" } else { "none (the public API is open)" },
        rate_limits = %if config.rate_limit_enabled { format!("{}/s, {}/min per client{}", config.max_requests_per_second, config.max_requests_per_minute, if config.rate_limit_redis_url.is_some() { ", shared through Redis" } else { "" }) } else { "off".to_owned() },
        admin = if config.admin_api_key.is_some() { "enabled" } else { "disabled (no ADMIN_API_KEY)" },
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
    alistach_http::serve(listener, app, shutdown).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Wires everything and serves the MCP tools over stdin/stdout until the client closes stdin.
pub async fn serve_mcp(config: Config) -> anyhow::Result<()> {
    let Parts { catalog, http, .. } = build(&config)?;
    tracing::info!(mode = %config.mode, "serving the MCP tools over stdio");
    if config.mode == ApiMode::Mock {
        tracing::info!("mock mode: tool results are labelled sample data, not AliExpress");
    }
    alistach_http::serve_mcp_stdio(Arc::new(catalog), http)
        .await
        .context("the MCP stdio server failed")
}

/// Builds the catalog (the real client or the mock, and the cache tiers) and the adapter's
/// configuration.
fn build(config: &Config) -> anyhow::Result<Parts> {
    let clock: SharedClock = Arc::new(SystemClock);

    // Only the real client spends the app key's quota; it alone is guarded.
    let mut guarded: Option<Arc<GuardedApi>> = None;
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
            // The guard's limiter paces every HTTP attempt of the client, retries included.
            let guard = Arc::new(GuardedApi::paced(
                GuardConfig {
                    max_qps: config.max_qps,
                    ..GuardConfig::default()
                },
                |pacer| Arc::new(client.with_pacer(pacer)),
            ));
            guarded = Some(guard.clone());
            guard
        }
        ApiMode::Mock => Arc::new(
            MockCatalog::new()
                .with_tracking_id(&config.tracking_id)
                .context("ALIEXPRESS_TRACKING_ID is not usable")?,
        ),
    };

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
            (
                Arc::new(TieredCache::new(memory, Arc::new(redis), clock.clone())),
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
    };
    let catalog = match guarded {
        Some(guard) => Catalog::guarded(guard, store, clock, ttls),
        None => Catalog::new(api, store, clock, ttls),
    }
    .with_locale(config.currency, config.language);
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
    Ok(Parts {
        catalog,
        http,
        backend,
    })
}
