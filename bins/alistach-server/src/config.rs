//! Raw settings (flags, environment, TOML file) validated into one typed [`Config`].
//!
//! Precedence: command-line flags > environment variables > the `--config` TOML file > defaults.
//! Every mistake is reported, one line each, before anything starts.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use alistach_domain::{ApiMode, Currency, Language};
use alistach_policy::{Credentials, MockModeSetting, TrustedProxies, detect_mode};
use clap::Parser;
use serde::Deserialize;

/// The AliStach gateway: AliExpress affiliate search, details and links for LLM agents.
#[derive(Parser, Debug, Default)]
#[command(name = "alistach-server", version, about, long_about = None)]
pub struct Args {
    /// TOML configuration file (keys are the lowercase option names, e.g. `app_key`, `cache_ttl`).
    #[arg(long, env = "ALISTACH_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Validate the configuration, print it with secrets redacted, and exit.
    #[arg(long)]
    pub check_config: bool,
    /// Address to listen on (overrides API_HOST and API_PORT), e.g. 127.0.0.1:0.
    #[arg(long, env = "ALISTACH_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,
    /// Host to bind.
    #[arg(long = "host", env = "API_HOST")]
    pub api_host: Option<String>,
    /// Port to bind.
    #[arg(long = "port", env = "API_PORT")]
    pub api_port: Option<String>,
    /// AliExpress app key.
    #[arg(long, env = "ALIEXPRESS_APP_KEY", hide_env_values = true)]
    pub app_key: Option<String>,
    /// AliExpress app secret.
    #[arg(long, env = "ALIEXPRESS_APP_SECRET", hide_env_values = true)]
    pub app_secret: Option<String>,
    /// Portals tracking id put into affiliate links.
    #[arg(long, env = "ALIEXPRESS_TRACKING_ID")]
    pub tracking_id: Option<String>,
    /// Default target language (EN, FR, ...).
    #[arg(long, env = "ALIEXPRESS_LANGUAGE")]
    pub language: Option<String>,
    /// Default target currency (USD, EUR, ...).
    #[arg(long, env = "ALIEXPRESS_CURRENCY")]
    pub currency: Option<String>,
    /// The AliExpress gateway URL.
    #[arg(long, env = "ALIEXPRESS_API_URL")]
    pub api_url: Option<String>,
    /// Upstream request timeout in seconds.
    #[arg(long, env = "ALIEXPRESS_TIMEOUT")]
    pub upstream_timeout: Option<String>,
    /// Most AliExpress calls per second across the process (1-1000), to protect the app key's quota.
    #[arg(long, env = "ALIEXPRESS_MAX_QPS")]
    pub max_qps: Option<String>,
    /// Seconds a client may take to send a request head; idle keep-alive connections close after it too.
    #[arg(long, env = "HEADER_READ_TIMEOUT")]
    pub header_read_timeout: Option<String>,
    /// Seconds a request body may go without data arriving (408 after it).
    #[arg(long, env = "BODY_READ_TIMEOUT")]
    pub body_read_timeout: Option<String>,
    /// Seconds a response write may make no progress before the connection is closed.
    #[arg(long, env = "RESPONSE_WRITE_TIMEOUT")]
    pub response_write_timeout: Option<String>,
    /// Seconds from request head to answer, body included (408 while reading it, 504 after).
    #[arg(long, env = "REQUEST_TIMEOUT")]
    pub request_timeout: Option<String>,
    /// Most client connections open at once.
    #[arg(long, env = "MAX_CONNECTIONS")]
    pub max_connections: Option<String>,
    /// Most connections open at once from one client address (trusted proxies are exempt).
    #[arg(long, env = "MAX_CONNECTIONS_PER_IP")]
    pub max_connections_per_ip: Option<String>,
    /// IPv6 clients count as one client per network of this prefix length.
    #[arg(long, env = "IPV6_CLIENT_PREFIX")]
    pub ipv6_client_prefix: Option<String>,
    /// Failed key attempts allowed per client address and minute (429 after).
    #[arg(long, env = "AUTH_FAILURES_PER_MINUTE")]
    pub auth_failures_per_minute: Option<String>,
    /// auto (real when credentials are set), true (always mock) or false (credentials required).
    #[arg(long, env = "MOCK_MODE")]
    pub mock_mode: Option<String>,
    /// Redis URL for the shared cache tier (memory only when unset).
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// First segment of every Redis key: deployments sharing a Redis each take their own.
    #[arg(long, env = "REDIS_NAMESPACE")]
    pub redis_namespace: Option<String>,
    /// Longest (seconds) a Redis entry is kept past its freshness for stale serving.
    #[arg(long, env = "REDIS_STALE_MAX")]
    pub redis_stale_max: Option<String>,
    /// Redis URL for the shared rate limits (default: REDIS_URL).
    #[arg(long, env = "RATE_LIMIT_REDIS_URL", hide_env_values = true)]
    pub rate_limit_redis_url: Option<String>,
    /// Search cache time-to-live in seconds.
    #[arg(long, env = "CACHE_TTL")]
    pub cache_ttl: Option<String>,
    /// Category list time-to-live in seconds.
    #[arg(long, env = "CACHE_TTL_CATEGORIES")]
    pub cache_ttl_categories: Option<String>,
    /// Affiliate link time-to-live in seconds.
    #[arg(long, env = "CACHE_TTL_LINKS")]
    pub cache_ttl_links: Option<String>,
    /// Product details time-to-live in seconds.
    #[arg(long, env = "CACHE_TTL_DETAILS")]
    pub cache_ttl_details: Option<String>,
    /// Hot products time-to-live in seconds.
    #[arg(long, env = "CACHE_TTL_HOT")]
    pub cache_ttl_hot: Option<String>,
    /// Stale-while-revalidate window in percent of each time-to-live (0 turns it off).
    #[arg(long, env = "CACHE_STALE_WHILE_REVALIDATE_PERCENT")]
    pub cache_swr_percent: Option<String>,
    /// How long (seconds) an expired answer may stand in for a failing upstream.
    #[arg(long, env = "CACHE_STALE_IF_ERROR")]
    pub cache_stale_if_error: Option<String>,
    /// v1.1.0's DEBUG flag (reported by /health; logging follows LOG_LEVEL).
    #[arg(long, env = "DEBUG")]
    pub debug: Option<String>,
    /// Item cap of the memory cache.
    #[arg(long, env = "MAX_MEMORY_CACHE_ITEMS")]
    pub max_memory_cache_items: Option<String>,
    /// Byte budget of the memory cache in MiB.
    #[arg(long, env = "MEMORY_CACHE_MB")]
    pub memory_cache_mb: Option<String>,
    /// Admin key for /api/cache/* (admin endpoints are disabled without it).
    #[arg(long, env = "ADMIN_API_KEY", hide_env_values = true)]
    pub admin_api_key: Option<String>,
    /// API key required on /api/* (open when unset).
    #[arg(long, env = "INTERNAL_API_KEY", hide_env_values = true)]
    pub internal_api_key: Option<String>,
    /// Named API keys, `name:key,name2:key2`, or the path of a file with one `name:key` per line.
    #[arg(long, env = "API_KEYS", hide_env_values = true)]
    pub api_keys: Option<String>,
    /// Enforce per-client rate limits (true by default).
    #[arg(long, env = "RATE_LIMIT_ENABLED")]
    pub rate_limit_enabled: Option<String>,
    /// Comma-separated proxy addresses whose X-Forwarded-For is trusted.
    #[arg(long, env = "TRUSTED_PROXIES")]
    pub trusted_proxies: Option<String>,
    /// Comma-separated CORS origins.
    #[arg(long, env = "ALLOWED_ORIGINS")]
    pub allowed_origins: Option<String>,
    /// Requests per minute per client.
    #[arg(long, env = "MAX_REQUESTS_PER_MINUTE")]
    pub max_requests_per_minute: Option<String>,
    /// Requests per second per client.
    #[arg(long, env = "MAX_REQUESTS_PER_SECOND")]
    pub max_requests_per_second: Option<String>,
    /// Log filter (error, warn, info, debug, trace, or a tracing filter).
    #[arg(long, env = "LOG_LEVEL")]
    pub log_level: Option<String>,
    /// Log format: text or json.
    #[arg(long, env = "LOG_FORMAT")]
    pub log_format: Option<String>,
    /// Environment name reported by /health.
    #[arg(long, env = "ENVIRONMENT")]
    pub environment: Option<String>,
    /// The https origin the OpenAPI documents advertise.
    #[arg(long, env = "PUBLIC_BASE_URL")]
    pub public_base_url: Option<String>,
    /// Serve /metrics and /api/status without a key (false by default: admin key and API key).
    #[arg(long, env = "METRICS_PUBLIC")]
    pub metrics_public: Option<String>,
}

/// The same keys, from the TOML file.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    listen: Option<String>,
    api_host: Option<String>,
    api_port: Option<toml::Value>,
    app_key: Option<String>,
    app_secret: Option<String>,
    tracking_id: Option<String>,
    language: Option<String>,
    currency: Option<String>,
    api_url: Option<String>,
    upstream_timeout: Option<toml::Value>,
    header_read_timeout: Option<toml::Value>,
    body_read_timeout: Option<toml::Value>,
    response_write_timeout: Option<toml::Value>,
    request_timeout: Option<toml::Value>,
    max_connections: Option<toml::Value>,
    max_connections_per_ip: Option<toml::Value>,
    ipv6_client_prefix: Option<toml::Value>,
    auth_failures_per_minute: Option<toml::Value>,
    max_qps: Option<toml::Value>,
    mock_mode: Option<toml::Value>,
    redis_url: Option<String>,
    redis_namespace: Option<String>,
    redis_stale_max: Option<toml::Value>,
    rate_limit_redis_url: Option<String>,
    cache_ttl: Option<toml::Value>,
    cache_ttl_categories: Option<toml::Value>,
    cache_ttl_links: Option<toml::Value>,
    cache_ttl_details: Option<toml::Value>,
    cache_ttl_hot: Option<toml::Value>,
    cache_swr_percent: Option<toml::Value>,
    cache_stale_if_error: Option<toml::Value>,
    debug: Option<toml::Value>,
    max_memory_cache_items: Option<toml::Value>,
    memory_cache_mb: Option<toml::Value>,
    admin_api_key: Option<String>,
    internal_api_key: Option<String>,
    allowed_origins: Option<String>,
    api_keys: Option<String>,
    rate_limit_enabled: Option<toml::Value>,
    trusted_proxies: Option<String>,
    rate_limits: Option<std::collections::BTreeMap<String, KeyLimits>>,
    max_requests_per_minute: Option<toml::Value>,
    max_requests_per_second: Option<toml::Value>,
    log_level: Option<String>,
    log_format: Option<String>,
    environment: Option<String>,
    public_base_url: Option<String>,
    metrics_public: Option<toml::Value>,
}

/// Per-key limits in the TOML file: `[rate_limits.<key name>]`.
#[derive(Deserialize, Debug, Default, Clone, Copy)]
#[serde(deny_unknown_fields)]
pub struct KeyLimits {
    per_minute: Option<u32>,
    per_second: Option<u32>,
}

/// A secret value: its `Debug` and `Display` print `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The value, for the component that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub mode: ApiMode,
    pub app_key: Option<String>,
    pub app_secret: Option<Secret>,
    pub tracking_id: String,
    pub language: Language,
    pub currency: Currency,
    pub api_url: String,
    pub upstream_timeout: Duration,
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    pub response_write_timeout: Duration,
    pub request_timeout: Duration,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub ipv6_client_prefix: u8,
    pub auth_failures_per_minute: u32,
    pub max_qps: u32,
    pub redis_url: Option<Secret>,
    /// First segment of every Redis key (cache and rate limits).
    pub redis_namespace: String,
    /// Longest a Redis entry outlives its freshness.
    pub redis_stale_max: Duration,
    /// Where the shared rate limits live: `RATE_LIMIT_REDIS_URL`, else `REDIS_URL`.
    pub rate_limit_redis_url: Option<Secret>,
    pub cache_ttl: Duration,
    pub cache_ttl_categories: Duration,
    pub cache_ttl_links: Duration,
    pub cache_ttl_details: Duration,
    pub cache_ttl_hot: Duration,
    pub cache_swr_percent: u32,
    pub cache_stale_if_error: Duration,
    pub debug: bool,
    pub max_memory_cache_items: u64,
    pub memory_cache_bytes: u64,
    pub admin_api_key: Option<Secret>,
    pub internal_api_key: Option<Secret>,
    pub allowed_origins: Vec<String>,
    pub api_keys: Vec<(String, Secret)>,
    pub rate_limit_enabled: bool,
    pub trusted_proxies: TrustedProxies,
    /// Per-key limits: (key name, per second, per minute).
    pub rate_limit_overrides: Vec<(String, u32, u32)>,
    pub max_requests_per_minute: u32,
    pub max_requests_per_second: u32,
    pub log_level: String,
    pub log_format: LogFormat,
    pub environment: String,
    pub public_base_url: String,
    pub metrics_public: bool,
}

/// The default gateway.
pub const DEFAULT_API_URL: &str = "https://api-sg.aliexpress.com/sync";

impl Config {
    /// Validates `args` (with the file already read into `file`), returning every mistake.
    pub fn from_sources(args: &Args, file: &FileConfig) -> Result<Config, Vec<String>> {
        let mut errors = Vec::new();
        let text = |a: &Option<String>, f: &Option<String>| {
            a.clone()
                .or_else(|| f.clone())
                .filter(|s| !s.trim().is_empty())
        };
        // An empty variable counts as unset, like an absent one.
        let value = |a: &Option<String>, f: &Option<toml::Value>| {
            a.clone().filter(|s| !s.trim().is_empty()).or_else(|| {
                f.as_ref().map(|v| match v {
                    toml::Value::String(s) => s.clone(),
                    toml::Value::Integer(i) => i.to_string(),
                    toml::Value::Boolean(b) => b.to_string(),
                    toml::Value::Float(x) => x.to_string(),
                    _ => "<not a scalar>".to_owned(),
                })
            })
        };

        let host = text(&args.api_host, &file.api_host).unwrap_or_else(|| "0.0.0.0".to_owned());
        let port = value(&args.api_port, &file.api_port).unwrap_or_else(|| "8000".to_owned());
        let listen_text = text(&args.listen, &file.listen).unwrap_or_else(|| {
            if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            }
        });
        let listen = listen_text.parse::<SocketAddr>().unwrap_or_else(|_| {
            errors.push(format!(
                "listen address {listen_text:?} is not an IP:port (set --listen, or API_HOST to an IP address and API_PORT to 0..=65535)"
            ));
            SocketAddr::from(([127, 0, 0, 1], 0))
        });

        let app_key = text(&args.app_key, &file.app_key);
        let app_secret = text(&args.app_secret, &file.app_secret);
        let setting = value(&args.mock_mode, &file.mock_mode)
            .map(|s| s.parse::<MockModeSetting>())
            .transpose()
            .unwrap_or_else(|e| {
                errors.push(e);
                Some(MockModeSetting::Auto)
            })
            .unwrap_or_default();
        let credentials = Credentials::from_values(app_key.as_deref(), app_secret.as_deref());
        let mode = detect_mode(setting, credentials).unwrap_or_else(|e| {
            errors.push(e.to_string());
            ApiMode::Mock
        });

        let language = text(&args.language, &file.language)
            .map(|s| s.parse::<Language>())
            .transpose()
            .unwrap_or_else(|e| {
                errors.push(format!("ALIEXPRESS_LANGUAGE {}", e.rule));
                None
            })
            .unwrap_or_default();
        let currency = text(&args.currency, &file.currency)
            .map(|s| s.parse::<Currency>())
            .transpose()
            .unwrap_or_else(|e| {
                errors.push(format!("ALIEXPRESS_CURRENCY {}", e.rule));
                None
            })
            .unwrap_or_default();

        let api_url =
            text(&args.api_url, &file.api_url).unwrap_or_else(|| DEFAULT_API_URL.to_owned());
        if let Err(e) = check_api_url(&api_url) {
            errors.push(e);
        }

        let mut number = |name: &str,
                          raw: Option<String>,
                          default: u64,
                          range: std::ops::RangeInclusive<u64>|
         -> u64 {
            match raw.map(|s| s.trim().parse::<u64>().map_err(|_| s)) {
                None => default,
                Some(Ok(n)) if range.contains(&n) => n,
                Some(Ok(n)) => {
                    errors.push(format!(
                        "{name} must be between {} and {}, not {n}",
                        range.start(),
                        range.end()
                    ));
                    default
                }
                Some(Err(s)) => {
                    errors.push(format!("{name} must be a whole number, not {s:?}"));
                    default
                }
            }
        };
        let upstream_timeout = number(
            "ALIEXPRESS_TIMEOUT",
            value(&args.upstream_timeout, &file.upstream_timeout),
            10,
            1..=120,
        );
        let max_qps = number(
            "ALIEXPRESS_MAX_QPS",
            value(&args.max_qps, &file.max_qps),
            5,
            1..=1000,
        );
        let header_read_timeout = number(
            "HEADER_READ_TIMEOUT",
            value(&args.header_read_timeout, &file.header_read_timeout),
            10,
            1..=300,
        );
        let body_read_timeout = number(
            "BODY_READ_TIMEOUT",
            value(&args.body_read_timeout, &file.body_read_timeout),
            10,
            1..=300,
        );
        let response_write_timeout = number(
            "RESPONSE_WRITE_TIMEOUT",
            value(&args.response_write_timeout, &file.response_write_timeout),
            30,
            1..=3600,
        );
        let request_timeout = number(
            "REQUEST_TIMEOUT",
            value(&args.request_timeout, &file.request_timeout),
            30,
            1..=3600,
        );
        let max_connections = number(
            "MAX_CONNECTIONS",
            value(&args.max_connections, &file.max_connections),
            10_000,
            1..=1_000_000,
        );
        let max_connections_per_ip = number(
            "MAX_CONNECTIONS_PER_IP",
            value(&args.max_connections_per_ip, &file.max_connections_per_ip),
            1_000,
            1..=1_000_000,
        );
        let ipv6_client_prefix = number(
            "IPV6_CLIENT_PREFIX",
            value(&args.ipv6_client_prefix, &file.ipv6_client_prefix),
            64,
            16..=128,
        );
        let auth_failures_per_minute = number(
            "AUTH_FAILURES_PER_MINUTE",
            value(
                &args.auth_failures_per_minute,
                &file.auth_failures_per_minute,
            ),
            10,
            1..=100_000,
        );
        let cache_ttl = number(
            "CACHE_TTL",
            value(&args.cache_ttl, &file.cache_ttl),
            3600,
            1..=7 * 86_400,
        );
        let week = 7 * 86_400;
        let ttl_categories = number(
            "CACHE_TTL_CATEGORIES",
            value(&args.cache_ttl_categories, &file.cache_ttl_categories),
            7200,
            1..=week,
        );
        let ttl_links = number(
            "CACHE_TTL_LINKS",
            value(&args.cache_ttl_links, &file.cache_ttl_links),
            1800,
            1..=week,
        );
        let ttl_details = number(
            "CACHE_TTL_DETAILS",
            value(&args.cache_ttl_details, &file.cache_ttl_details),
            3600,
            1..=week,
        );
        let ttl_hot = number(
            "CACHE_TTL_HOT",
            value(&args.cache_ttl_hot, &file.cache_ttl_hot),
            1800,
            1..=week,
        );
        let swr_percent = number(
            "CACHE_STALE_WHILE_REVALIDATE_PERCENT",
            value(&args.cache_swr_percent, &file.cache_swr_percent),
            10,
            0..=100,
        );
        let stale_if_error = number(
            "CACHE_STALE_IF_ERROR",
            value(&args.cache_stale_if_error, &file.cache_stale_if_error),
            86_400,
            0..=30 * 86_400,
        );
        let max_items = number(
            "MAX_MEMORY_CACHE_ITEMS",
            value(&args.max_memory_cache_items, &file.max_memory_cache_items),
            10_000,
            1..=10_000_000,
        );
        let memory_mb = number(
            "MEMORY_CACHE_MB",
            value(&args.memory_cache_mb, &file.memory_cache_mb),
            64,
            1..=65_536,
        );
        let per_minute = number(
            "MAX_REQUESTS_PER_MINUTE",
            value(&args.max_requests_per_minute, &file.max_requests_per_minute),
            60,
            1..=1_000_000,
        );
        let per_second = number(
            "MAX_REQUESTS_PER_SECOND",
            value(&args.max_requests_per_second, &file.max_requests_per_second),
            5,
            1..=100_000,
        );

        let redis_stale_max = number(
            "REDIS_STALE_MAX",
            value(&args.redis_stale_max, &file.redis_stale_max),
            alistach_redis::DEFAULT_STALE_MAX.as_secs(),
            0..=30 * 86_400,
        );
        let redis_url = text(&args.redis_url, &file.redis_url);
        if let Some(url) = &redis_url
            && !(url.starts_with("redis://")
                || url.starts_with("rediss://")
                || url.starts_with("unix://"))
        {
            errors.push("REDIS_URL must start with redis://, rediss:// or unix://".to_owned());
        }
        let redis_namespace = text(&args.redis_namespace, &file.redis_namespace)
            .unwrap_or_else(|| alistach_redis::DEFAULT_NAMESPACE.to_owned());
        if !alistach_redis::valid_namespace(&redis_namespace) {
            errors.push(format!(
                "REDIS_NAMESPACE must be 1 to 64 letters, digits, '_', '-' or '.', not {redis_namespace:?}"
            ));
        }
        let rate_limit_redis_url = text(&args.rate_limit_redis_url, &file.rate_limit_redis_url);
        if let Some(url) = &rate_limit_redis_url
            && !(url.starts_with("redis://")
                || url.starts_with("rediss://")
                || url.starts_with("unix://"))
        {
            errors.push(
                "RATE_LIMIT_REDIS_URL must start with redis://, rediss:// or unix://".to_owned(),
            );
        }
        let rate_limit_redis_url = rate_limit_redis_url.or_else(|| redis_url.clone());

        let secret =
            |a: &Option<String>, f: &Option<String>, name: &str, errors: &mut Vec<String>| {
                let v = text(a, f)?;
                if v.chars().count() < 16 {
                    errors.push(format!("{name} must be at least 16 characters long"));
                }
                Some(Secret(v))
            };
        let admin_api_key = secret(
            &args.admin_api_key,
            &file.admin_api_key,
            "ADMIN_API_KEY",
            &mut errors,
        );
        let internal_api_key = secret(
            &args.internal_api_key,
            &file.internal_api_key,
            "INTERNAL_API_KEY",
            &mut errors,
        );
        if let (Some(a), Some(i)) = (&admin_api_key, &internal_api_key)
            && a == i
        {
            errors.push("ADMIN_API_KEY and INTERNAL_API_KEY must differ".to_owned());
        }

        let allowed_origins: Vec<String> = text(&args.allowed_origins, &file.allowed_origins)
            .unwrap_or_else(|| "https://chat.openai.com,https://chatgpt.com".to_owned())
            .split(',')
            .map(|s| s.trim().trim_end_matches('/').to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        for origin in &allowed_origins {
            if origin == "*" {
                errors.push(
                    "ALLOWED_ORIGINS must list exact origins; \"*\" is not allowed".to_owned(),
                );
            } else if !origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"))
                .is_some_and(|host| !host.is_empty() && !host.contains('/'))
            {
                errors.push(format!(
                    "ALLOWED_ORIGINS entry {origin:?} is not an origin like https://chatgpt.com"
                ));
            }
        }

        let mut api_keys = Vec::new();
        if let Some(raw) = text(&args.api_keys, &file.api_keys) {
            let listing = if std::path::Path::new(raw.trim()).is_file() {
                std::fs::read_to_string(raw.trim()).unwrap_or_else(|e| {
                    errors.push(format!("API_KEYS file cannot be read: {e}"));
                    String::new()
                })
            } else {
                raw.clone()
            };
            for (i, item) in listing
                .split([',', '\n'])
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .enumerate()
            {
                match item.split_once(':') {
                    Some((name, key))
                        if is_client_name(name.trim()) && key.trim().chars().count() >= 16 =>
                    {
                        api_keys.push((name.trim().to_owned(), Secret(key.trim().to_owned())));
                    }
                    Some((name, _)) if !is_client_name(name.trim()) => errors.push(format!(
                        "API_KEYS entry {} has an invalid name (use 1-32 of A-Z a-z 0-9 _ -)",
                        i + 1
                    )),
                    Some(_) => errors.push(format!(
                        "API_KEYS entry {} has a key shorter than 16 characters",
                        i + 1
                    )),
                    None => errors.push(format!("API_KEYS entry {} is not name:key", i + 1)),
                }
            }
        }
        let mut flag = |name: &str, raw: Option<String>, default: bool| -> bool {
            match raw.map(|v| v.trim().to_ascii_lowercase()) {
                None => default,
                Some(v) if ["true", "1", "yes", "on"].contains(&v.as_str()) => true,
                Some(v) if ["false", "0", "no", "off"].contains(&v.as_str()) => false,
                Some(v) => {
                    errors.push(format!("{name} must be true or false, not {v:?}"));
                    default
                }
            }
        };
        let debug = flag("DEBUG", value(&args.debug, &file.debug), false);
        let rate_limit_enabled = flag(
            "RATE_LIMIT_ENABLED",
            value(&args.rate_limit_enabled, &file.rate_limit_enabled),
            true,
        );
        let metrics_public = flag(
            "METRICS_PUBLIC",
            value(&args.metrics_public, &file.metrics_public),
            false,
        );
        let trusted_proxies = TrustedProxies::parse_list(
            &text(&args.trusted_proxies, &file.trusted_proxies).unwrap_or_default(),
        )
        .unwrap_or_else(|bad| {
            errors.extend(bad.iter().map(|e| format!("TRUSTED_PROXIES entry {e}")));
            TrustedProxies::none()
        });

        let mut rate_limit_overrides = Vec::new();
        for (name, limits) in file.rate_limits.iter().flatten() {
            let known = name == "internal" || api_keys.iter().any(|(n, _)| n == name);
            if !known {
                errors.push(format!(
                    "rate_limits.{name} names no API key (define it in API_KEYS, or use \"internal\")"
                ));
                continue;
            }
            let second = limits.per_second.unwrap_or(per_second as u32);
            let minute = limits.per_minute.unwrap_or(per_minute as u32);
            if !(1..=100_000).contains(&second) || !(1..=1_000_000).contains(&minute) {
                errors.push(format!(
                    "rate_limits.{name}: per_second must be 1..=100000 and per_minute 1..=1000000"
                ));
                continue;
            }
            rate_limit_overrides.push((name.clone(), second, minute));
        }

        let log_level = text(&args.log_level, &file.log_level)
            .unwrap_or_else(|| "info".to_owned())
            .to_ascii_lowercase();
        if tracing_subscriber::EnvFilter::try_new(&log_level).is_err() {
            errors.push(format!(
                "LOG_LEVEL must be error, warn, info, debug, trace or a tracing filter, not {log_level:?}"
            ));
        }
        let log_format = match text(&args.log_format, &file.log_format)
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                errors.push(format!("LOG_FORMAT must be text or json, not {other:?}"));
                LogFormat::Text
            }
        };
        let environment =
            text(&args.environment, &file.environment).unwrap_or_else(|| "production".to_owned());
        let public_base_url = text(&args.public_base_url, &file.public_base_url)
            .unwrap_or_else(|| EXAMPLE_PUBLIC_BASE_URL.to_owned())
            .trim_end_matches('/')
            .to_owned();
        // The rule GPT Actions impose, checked where the documents are built.
        if let Err(e) = alistach_api::OpenApiOptions::new(public_base_url.clone()).validate() {
            errors.push(format!(
                "PUBLIC_BASE_URL must be an https origin (GPT Actions require https): {e}"
            ));
        }
        let tracking_id =
            text(&args.tracking_id, &file.tracking_id).unwrap_or_else(|| "gpt_chat".to_owned());

        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Config {
            listen,
            mode,
            app_key,
            app_secret: app_secret.map(Secret),
            tracking_id,
            language,
            currency,
            api_url,
            upstream_timeout: Duration::from_secs(upstream_timeout),
            header_read_timeout: Duration::from_secs(header_read_timeout),
            body_read_timeout: Duration::from_secs(body_read_timeout),
            response_write_timeout: Duration::from_secs(response_write_timeout),
            request_timeout: Duration::from_secs(request_timeout),
            max_connections: max_connections as usize,
            max_connections_per_ip: max_connections_per_ip as usize,
            ipv6_client_prefix: ipv6_client_prefix as u8,
            auth_failures_per_minute: auth_failures_per_minute as u32,
            max_qps: max_qps as u32,
            redis_url: redis_url.map(Secret),
            redis_namespace,
            redis_stale_max: Duration::from_secs(redis_stale_max),
            rate_limit_redis_url: rate_limit_redis_url.map(Secret),
            cache_ttl: Duration::from_secs(cache_ttl),
            cache_ttl_categories: Duration::from_secs(ttl_categories),
            cache_ttl_links: Duration::from_secs(ttl_links),
            cache_ttl_details: Duration::from_secs(ttl_details),
            cache_ttl_hot: Duration::from_secs(ttl_hot),
            cache_swr_percent: swr_percent as u32,
            cache_stale_if_error: Duration::from_secs(stale_if_error),
            debug,
            max_memory_cache_items: max_items,
            memory_cache_bytes: memory_mb * 1024 * 1024,
            admin_api_key,
            internal_api_key,
            allowed_origins,
            api_keys,
            rate_limit_enabled,
            trusted_proxies,
            rate_limit_overrides,
            max_requests_per_minute: per_minute as u32,
            max_requests_per_second: per_second as u32,
            log_level,
            log_format,
            environment,
            public_base_url,
            metrics_public,
        })
    }

    /// The effective configuration with secrets redacted, one `key = value` per line.
    pub fn redacted(&self) -> String {
        let set = |s: &Option<Secret>| {
            if s.is_some() {
                "*** (set)"
            } else {
                "(not set)"
            }
        };
        let lines = [
            format!("listen = {}", self.listen),
            format!("mode = {}", self.mode),
            format!(
                "app_key = {}",
                if self.app_key.is_some() {
                    "*** (set)"
                } else {
                    "(not set)"
                }
            ),
            format!("app_secret = {}", set(&self.app_secret)),
            format!("tracking_id = {}", self.tracking_id),
            format!("language = {}", self.language),
            format!("currency = {}", self.currency),
            format!("api_url = {}", self.api_url),
            format!("upstream_timeout_s = {}", self.upstream_timeout.as_secs()),
            format!(
                "header_read_timeout_s = {}",
                self.header_read_timeout.as_secs()
            ),
            format!(
                "timeouts_s = body read {}, response write {}, request {}",
                self.body_read_timeout.as_secs(),
                self.response_write_timeout.as_secs(),
                self.request_timeout.as_secs()
            ),
            format!(
                "connections = at most {} in all, {} per client address (IPv6 per /{})",
                self.max_connections, self.max_connections_per_ip, self.ipv6_client_prefix
            ),
            format!(
                "auth_failures_per_minute = {}",
                self.auth_failures_per_minute
            ),
            format!("max_qps = {}", self.max_qps),
            format!("redis_url = {}", set(&self.redis_url)),
            format!("redis_namespace = {}", self.redis_namespace),
            format!("redis_stale_max_s = {}", self.redis_stale_max.as_secs()),
            format!("rate_limit_redis_url = {}", set(&self.rate_limit_redis_url)),
            format!("cache_ttl_s = {}", self.cache_ttl.as_secs()),
            format!(
                "cache_ttl_other_s = categories {}, links {}, details {}, hot {}",
                self.cache_ttl_categories.as_secs(),
                self.cache_ttl_links.as_secs(),
                self.cache_ttl_details.as_secs(),
                self.cache_ttl_hot.as_secs()
            ),
            format!(
                "cache_stale = while revalidating {}% of the TTL, if the upstream fails {} s",
                self.cache_swr_percent,
                self.cache_stale_if_error.as_secs()
            ),
            format!("debug = {}", self.debug),
            format!("max_memory_cache_items = {}", self.max_memory_cache_items),
            format!("memory_cache_bytes = {}", self.memory_cache_bytes),
            format!("admin_api_key = {}", set(&self.admin_api_key)),
            format!("internal_api_key = {}", set(&self.internal_api_key)),
            format!("allowed_origins = {}", self.allowed_origins.join(",")),
            format!(
                "api_keys = {}",
                if self.api_keys.is_empty() {
                    "(none)".to_owned()
                } else {
                    self.api_keys
                        .iter()
                        .map(|(n, _)| format!("{n}:***"))
                        .collect::<Vec<_>>()
                        .join(",")
                }
            ),
            format!("rate_limit_enabled = {}", self.rate_limit_enabled),
            format!(
                "rate_limit_overrides = {}",
                self.rate_limit_overrides
                    .iter()
                    .map(|(n, s, m)| format!("{n}:{s}/s,{m}/min"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            format!("trusted_proxies = {}", self.trusted_proxies),
            format!("max_requests_per_minute = {}", self.max_requests_per_minute),
            format!("max_requests_per_second = {}", self.max_requests_per_second),
            format!("log_level = {}", self.log_level),
            format!("log_format = {:?}", self.log_format),
            format!("environment = {}", self.environment),
            format!("public_base_url = {}", self.public_base_url),
            format!("metrics_public = {}", self.metrics_public),
        ];
        lines.join("\n")
    }
}

/// The example origin `PUBLIC_BASE_URL` defaults to; a deployment should set its own.
pub const EXAMPLE_PUBLIC_BASE_URL: &str = "https://alistach.example.com";

/// The gateway URL must be https, so signed calls (and the app key in them) never cross a
/// network in the clear; plain http is allowed only to this machine (a local fake gateway).
fn check_api_url(url: &str) -> Result<(), String> {
    let refuse = || {
        format!(
            "ALIEXPRESS_API_URL must be an https URL (plain http only to a loopback address such as http://127.0.0.1:9999), not {url:?}"
        )
    };
    if let Some(rest) = url.strip_prefix("https://") {
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let usable =
            !host.is_empty() && !host.contains(|c: char| c.is_whitespace() || c.is_control());
        return if usable { Ok(()) } else { Err(refuse()) };
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(refuse());
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.to_canonical().is_loopback());
    if loopback { Ok(()) } else { Err(refuse()) }
}

fn is_client_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Reads the TOML file named by `--config`, if any.
pub fn read_file(path: Option<&PathBuf>) -> Result<FileConfig, String> {
    let Some(path) = path else {
        return Ok(FileConfig::default());
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
    toml::from_str(&text).map_err(|e| format!("config file {}: {}", path.display(), e.message()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use proptest::prelude::*;

    /// Every setting that takes a value: its long flag and what its errors call it.
    fn settings() -> Vec<(String, String)> {
        Args::command()
            .get_arguments()
            .filter(|a| a.get_action().takes_values())
            .filter_map(|a| {
                let long = a.get_long()?.to_owned();
                let env = a
                    .get_env()
                    .map_or_else(|| long.clone(), |e| e.to_string_lossy().into_owned());
                Some((long, env))
            })
            .collect()
    }

    /// How the errors about one setting may name it.
    fn names_setting(line: &str, long: &str, env: &str) -> bool {
        let key = long.replace('-', "_");
        let also = match long {
            // Host, port and listen address combine into one address and one message.
            "listen" | "host" | "port" => "listen address",
            "mock-mode" | "app-key" | "app-secret" => "MOCK_MODE",
            _ => env,
        };
        line.contains(env) || line.contains(&key) || line.contains(also)
    }

    fn cases() -> ProptestConfig {
        ProptestConfig {
            cases: 256,
            failure_persistence: None,
            ..ProptestConfig::default()
        }
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "[0-9a-z:/.,_é中 -]{0,24}",
            "(https?|redis|unix)://[a-z0-9.:@é中/ -]{0,16}",
            "(https?://)?[é中]{0,3}",
            "-?[0-9]{1,25}",
        ]
    }

    proptest! {
        #![proptest_config(cases())]

        #[test]
        fn any_text_for_any_setting_is_accepted_or_named_in_an_error(value in text()) {
            for (long, env) in settings().iter().filter(|(long, _)| long != "config") {
                let argv = ["alistach-server".to_owned(), format!("--{long}={value}")];
                let Ok(args) = Args::try_parse_from(argv) else {
                    continue;
                };
                if let Err(errors) = Config::from_sources(&args, &FileConfig::default()) {
                    prop_assert!(
                        errors.iter().any(|e| names_setting(e, long, env)),
                        "--{}={:?}: {:?}", long, value, errors
                    );
                }
            }
        }

        #[test]
        fn any_config_file_is_read_or_refused_without_panicking(text in any::<String>()) {
            if let Ok(file) = toml::from_str::<FileConfig>(&text) {
                let _ = Config::from_sources(&Args::default(), &file);
            }
        }

        #[test]
        fn any_value_for_any_file_key_is_accepted_or_named_in_an_error(
            value in text(),
            as_number in any::<bool>(),
        ) {
            for (long, env) in settings().iter().filter(|(long, _)| long != "config") {
                let key = match long.as_str() {
                    "host" => "api_host".to_owned(),
                    "port" => "api_port".to_owned(),
                    other => other.replace('-', "_"),
                };
                let literal = match value.trim().parse::<i64>() {
                    Ok(n) if as_number => n.to_string(),
                    // A JSON string is a TOML basic string (bar a raw DEL, which TOML refuses).
                    _ => serde_json::to_string(&value).unwrap(),
                };
                let Ok(file) = toml::from_str::<FileConfig>(&format!("{key} = {literal}")) else {
                    continue;
                };
                if let Err(errors) = Config::from_sources(&Args::default(), &file) {
                    prop_assert!(
                        errors.iter().any(|e| names_setting(e, long, env)),
                        "{} = {}: {:?}", key, literal, errors
                    );
                }
            }
        }
    }

    fn args(pairs: &[(&str, &str)]) -> Args {
        let mut argv = vec!["alistach-server".to_owned()];
        for (k, v) in pairs {
            argv.push(format!("--{k}={v}"));
        }
        Args::try_parse_from(argv).unwrap()
    }

    #[test]
    fn defaults_are_mock_mode_on_port_8000() {
        let c = Config::from_sources(&Args::default(), &FileConfig::default()).unwrap();
        assert_eq!(c.mode, ApiMode::Mock);
        assert_eq!(c.listen.port(), 8000);
        assert_eq!(c.cache_ttl, Duration::from_secs(3600));
        assert_eq!(c.tracking_id, "gpt_chat");
        assert_eq!(c.max_qps, 5);
        assert!(!c.metrics_public);
    }

    #[test]
    fn upstream_rate_and_metrics_access_are_validated() {
        let c = Config::from_sources(
            &args(&[("max-qps", "20"), ("metrics-public", "true")]),
            &FileConfig::default(),
        )
        .unwrap();
        assert_eq!(c.max_qps, 20);
        assert!(c.metrics_public);
        let file: FileConfig = toml::from_str("max_qps = 7\nmetrics_public = false").unwrap();
        assert_eq!(
            Config::from_sources(&Args::default(), &file)
                .unwrap()
                .max_qps,
            7
        );
        for (flag, value, needle) in [
            (
                "max-qps",
                "0",
                "ALIEXPRESS_MAX_QPS must be between 1 and 1000, not 0",
            ),
            (
                "max-qps",
                "1001",
                "ALIEXPRESS_MAX_QPS must be between 1 and 1000",
            ),
            (
                "max-qps",
                "fast",
                "ALIEXPRESS_MAX_QPS must be a whole number",
            ),
            (
                "metrics-public",
                "maybe",
                "METRICS_PUBLIC must be true or false",
            ),
        ] {
            let errors = Config::from_sources(&args(&[(flag, value)]), &FileConfig::default())
                .unwrap_err()
                .join("\n");
            assert!(errors.contains(needle), "{flag}={value}: {errors}");
        }
    }

    #[test]
    fn every_mistake_is_reported() {
        let a = args(&[
            ("port", "99999"),
            ("currency", "DOGE"),
            ("mock-mode", "false"),
            ("cache-ttl", "soon"),
            ("allowed-origins", "*"),
            ("public-base-url", "http://insecure.example"),
            ("admin-api-key", "short"),
        ]);
        let errors = Config::from_sources(&a, &FileConfig::default()).unwrap_err();
        let all = errors.join("\n");
        for needle in [
            "listen address",
            "ALIEXPRESS_CURRENCY",
            "MOCK_MODE=false",
            "CACHE_TTL",
            "ALLOWED_ORIGINS",
            "PUBLIC_BASE_URL",
            "ADMIN_API_KEY",
        ] {
            assert!(all.contains(needle), "missing {needle} in {all}");
        }
        assert!(
            !all.contains("short"),
            "a secret leaked into an error: {all}"
        );
    }

    #[test]
    fn every_cache_lifetime_is_configurable_and_checked() {
        let file: FileConfig = toml::from_str(
            "cache_ttl_categories = 60\ncache_ttl_links = 61\ncache_ttl_details = 62\ncache_ttl_hot = 63\ncache_swr_percent = 25\ncache_stale_if_error = 0",
        )
        .unwrap();
        let c = Config::from_sources(&Args::default(), &file).unwrap();
        assert_eq!(
            (
                c.cache_ttl_categories,
                c.cache_ttl_links,
                c.cache_ttl_details,
                c.cache_ttl_hot
            ),
            (
                Duration::from_secs(60),
                Duration::from_secs(61),
                Duration::from_secs(62),
                Duration::from_secs(63)
            )
        );
        assert_eq!(
            (c.cache_swr_percent, c.cache_stale_if_error),
            (25, Duration::ZERO)
        );
        let errors = Config::from_sources(
            &args(&[("cache-swr-percent", "200"), ("cache-ttl-hot", "0")]),
            &FileConfig::default(),
        )
        .unwrap_err();
        let all = errors.join("\n");
        assert!(
            all.contains("CACHE_STALE_WHILE_REVALIDATE_PERCENT") && all.contains("CACHE_TTL_HOT"),
            "{all}"
        );
    }

    #[test]
    fn redis_settings_default_sensibly_and_are_checked() {
        let c = Config::from_sources(
            &args(&[("redis-url", "redis://:pw-for-cache@10.0.0.1:6379/0")]),
            &FileConfig::default(),
        )
        .unwrap();
        assert_eq!(c.redis_namespace, "alistach");
        assert_eq!(c.redis_stale_max, Duration::from_secs(3600));
        assert_eq!(
            c.rate_limit_redis_url.as_ref().map(Secret::expose),
            Some("redis://:pw-for-cache@10.0.0.1:6379/0"),
            "the limits default to the cache's Redis"
        );
        let file: FileConfig = toml::from_str(
            "redis_url = \"redis://cache:6379/\"\nredis_namespace = \"staging\"\nredis_stale_max = 0\nrate_limit_redis_url = \"redis://:pw-for-limits@limits:6379/\"",
        )
        .unwrap();
        let c = Config::from_sources(&Args::default(), &file).unwrap();
        assert_eq!(c.redis_namespace, "staging");
        assert_eq!(c.redis_stale_max, Duration::ZERO);
        assert_eq!(
            c.rate_limit_redis_url.as_ref().map(Secret::expose),
            Some("redis://:pw-for-limits@limits:6379/")
        );
        let shown = format!("{}\n{:?}", c.redacted(), c);
        assert!(!shown.contains("pw-for-limits"), "{shown}");
        assert!(shown.contains("redis_namespace = staging"), "{shown}");
        let c = Config::from_sources(&Args::default(), &FileConfig::default()).unwrap();
        assert!(
            c.rate_limit_redis_url.is_none(),
            "no Redis, no shared limits"
        );

        let errors = Config::from_sources(
            &args(&[
                ("redis-namespace", "a:b"),
                ("redis-stale-max", "-1"),
                ("rate-limit-redis-url", "http://limits:6379/"),
            ]),
            &FileConfig::default(),
        )
        .unwrap_err();
        let all = errors.join("\n");
        for name in ["REDIS_NAMESPACE", "REDIS_STALE_MAX", "RATE_LIMIT_REDIS_URL"] {
            assert!(all.contains(name), "{name} not reported: {all}");
        }
        assert_eq!(errors.len(), 3, "{all}");
    }

    #[test]
    fn flags_beat_the_file_and_secrets_are_redacted() {
        let file: FileConfig = toml::from_str("app_key = \"filekey\"\napp_secret = \"topsecretvalue\"\ncache_ttl = 60\napi_port = 9000").unwrap();
        let c = Config::from_sources(&args(&[("cache-ttl", "120")]), &file).unwrap();
        assert_eq!(c.cache_ttl, Duration::from_secs(120));
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.mode, ApiMode::Real);
        let shown = format!("{}\n{:?}", c.redacted(), c);
        assert!(!shown.contains("topsecretvalue"), "{shown}");
    }

    #[test]
    fn the_gateway_url_is_https_or_loopback() {
        for ok in [
            "https://api-sg.aliexpress.com/sync",
            "http://127.0.0.1:9999/sync",
            "http://localhost:8080",
            "http://[::1]:9999/sync",
            "http://127.1.2.3",
        ] {
            assert_eq!(check_api_url(ok), Ok(()), "{ok}");
        }
        for bad in [
            "http://api-sg.aliexpress.com/sync",
            "http://10.0.0.1:9999",
            "http://127.0.0.1.evil.example/sync",
            "http://localhost.evil.example",
            "ftp://x",
            "https://",
            "api-sg.aliexpress.com",
        ] {
            let e = check_api_url(bad).unwrap_err();
            assert!(e.contains("ALIEXPRESS_API_URL"), "{bad}: {e}");
        }
    }
}
