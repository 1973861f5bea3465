//! Raw settings (flags, environment, TOML file) validated into one typed [`Config`].
//!
//! Precedence: command-line flags > environment variables > the `--config` TOML file > defaults.
//! Each setting is declared once, in [`settings`]; this module adds what spans several of them
//! (the listen address, the mode, per-key limits). Every mistake is reported, one line each,
//! before anything starts.

mod settings;
mod sources;

use std::net::SocketAddr;
use std::time::Duration;

use alistach_domain::{ApiMode, Currency, Language};
use alistach_policy::{Credentials, TrustedProxies, detect_mode};

use settings::Values;
pub use settings::{CachePolicyMode, EXAMPLE_PUBLIC_BASE_URL, LinkTracking, LogFormat, Secret};
pub use sources::{Args, Command, FileConfig, read_file};

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub mode: ApiMode,
    pub app_key: Option<Secret>,
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
    /// `CACHE_POLICY`: static TTLs or learned ones.
    pub cache_policy: CachePolicyMode,
    /// `CACHE_TTL_MIN`..`CACHE_TTL_MAX`: where learned TTLs stay.
    pub cache_ttl_bounds: alistach_service::TtlBounds,
    /// The adaptive policy's target share of stale answers, in `(0, 1]`.
    pub cache_stale_target: f64,
    /// The adaptive policy's most upstream calls as a share of the static policy's, in `(0, 1]`.
    pub cache_call_budget: f64,
    /// The share of `max_qps` refresh-ahead may use, in `(0, 1]`.
    pub cache_refresh_qps_share: f64,
    /// Most keys the adaptive policy remembers.
    pub cache_learn_max_keys: usize,
    /// Half-life of the adaptive policy's request counts.
    pub cache_popularity_half_life: Duration,
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
    /// `[[tenants]]` of the config file.
    pub tenants: Vec<alistach_service::TenantDoc>,
    pub max_requests_per_minute: u32,
    pub max_requests_per_second: u32,
    pub log_level: String,
    pub log_format: LogFormat,
    pub environment: String,
    pub public_base_url: String,
    pub metrics_public: bool,
    /// Where orders and sync state are kept (its Debug and Display hide a password).
    pub database: alistach_sql::Target,
    /// Time between scheduled order syncs; zero: no schedule.
    pub order_sync_interval: Duration,
    pub link_tracking: LinkTracking,
    pub link_signing_key: Option<Secret>,
    /// Webhooks may reach private, loopback and link-local addresses.
    pub webhook_allow_private: bool,
    /// Time a webhook receiver has per attempt.
    pub webhook_timeout: Duration,
    /// Time between alert evaluations; zero: alerts off.
    pub alert_eval_interval: Duration,
    /// Time an alert condition must hold before it fires.
    pub alert_for: Duration,
    /// Rules that wait another time before firing.
    pub alert_for_overrides: Vec<(alistach_service::AlertRule, Duration)>,
    /// Where alert notifications go as Slack messages (never logged).
    pub alert_slack_webhook_url: Option<Secret>,
    /// Time between watch checks; zero: no checks.
    pub watch_interval: Duration,
    /// The share of `max_qps` the watch checks use, in `(0, 1]`.
    pub watch_qps_share: f64,
    /// Count API and MCP calls for the analytics endpoints.
    pub analytics: bool,
    /// How long hour and day analytics rows are kept.
    pub analytics_retention: Duration,
    pub data_dir: std::path::PathBuf,
    /// `--check-config`'s lines for the individual settings, made from the parsed values.
    shown: Vec<String>,
}

impl Config {
    /// Validates `args` (with the file already read into `file`), returning every mistake.
    pub fn from_sources(args: &Args, file: &FileConfig) -> Result<Config, Vec<String>> {
        let mut errors = Vec::new();
        let given = |key: &str| args.given.get(key).or_else(|| file.get(key));
        let v = Values::parse(given, &mut errors);
        if v.cache_ttl_min > v.cache_ttl_max {
            errors.push(format!(
                "CACHE_TTL_MIN ({} s) must not exceed CACHE_TTL_MAX ({} s)",
                v.cache_ttl_min.as_secs(),
                v.cache_ttl_max.as_secs()
            ));
        }

        let listen_text = v.listen.clone().unwrap_or_else(|| {
            if v.api_host.contains(':') {
                format!("[{}]:{}", v.api_host, v.api_port)
            } else {
                format!("{}:{}", v.api_host, v.api_port)
            }
        });
        let listen = listen_text.parse::<SocketAddr>().unwrap_or_else(|_| {
            errors.push(format!(
                "listen address {listen_text:?} is not an IP:port (set --listen, or API_HOST to an IP address and API_PORT to 0..=65535)"
            ));
            SocketAddr::from(([127, 0, 0, 1], 0))
        });

        let credentials = Credentials::from_values(
            v.app_key.as_ref().map(Secret::expose),
            v.app_secret.as_ref().map(Secret::expose),
        );
        let mode = detect_mode(v.mock_mode, credentials).unwrap_or_else(|e| {
            errors.push(e.to_string());
            ApiMode::Mock
        });

        if let (Some(a), Some(i)) = (&v.admin_api_key, &v.internal_api_key)
            && a == i
        {
            errors.push("ADMIN_API_KEY and INTERNAL_API_KEY must differ".to_owned());
        }

        let api_keys = v.api_keys.clone().unwrap_or_default();
        // When API_KEYS itself is wrong, its message says so; the names it would have defined
        // are unknown, not missing.
        let keys_unreadable = given("api_keys").is_some() && v.api_keys.is_none();
        let mut tenant_ids = std::collections::HashSet::new();
        for t in &file.tenants {
            if let Err(e) = t.validate() {
                errors.push(format!("tenants.{}: {e}", t.id));
            }
            if !tenant_ids.insert(&t.id) {
                errors.push(format!("tenants.{}: defined twice", t.id));
            }
        }
        let mut rate_limit_overrides = Vec::new();
        for (name, limits) in &file.rate_limits {
            let known = name == "internal" || api_keys.iter().any(|(n, _)| n == name);
            if !known {
                if !keys_unreadable {
                    errors.push(format!(
                        "rate_limits.{name} names no API key (define it in API_KEYS, or use \"internal\")"
                    ));
                }
                continue;
            }
            let second = limits.per_second.unwrap_or(v.max_requests_per_second);
            let minute = limits.per_minute.unwrap_or(v.max_requests_per_minute);
            if !(1..=10_000_000).contains(&second) || !(1..=100_000_000).contains(&minute) {
                errors.push(format!(
                    "rate_limits.{name}: per_second must be 1..=10000000 and per_minute 1..=100000000"
                ));
                continue;
            }
            rate_limit_overrides.push((name.clone(), second, minute));
        }

        if v.link_tracking == LinkTracking::Redirect
            && (given("public_base_url").is_none() || v.public_base_url == EXAMPLE_PUBLIC_BASE_URL)
        {
            errors.push(
                "PUBLIC_BASE_URL must be set to this server's public https origin when \
                 LINK_TRACKING=redirect: tracked links are {PUBLIC_BASE_URL}/r/{token}"
                    .to_owned(),
            );
        }

        if !errors.is_empty() {
            return Err(errors);
        }
        let shown = v.shown();
        Ok(Config {
            listen,
            mode,
            app_key: v.app_key,
            app_secret: v.app_secret,
            tracking_id: v.tracking_id,
            language: v.language,
            currency: v.currency,
            api_url: v.api_url,
            upstream_timeout: v.upstream_timeout,
            header_read_timeout: v.header_read_timeout,
            body_read_timeout: v.body_read_timeout,
            response_write_timeout: v.response_write_timeout,
            request_timeout: v.request_timeout,
            max_connections: v.max_connections,
            max_connections_per_ip: v.max_connections_per_ip,
            ipv6_client_prefix: v.ipv6_client_prefix,
            auth_failures_per_minute: v.auth_failures_per_minute,
            max_qps: v.max_qps,
            rate_limit_redis_url: v.rate_limit_redis_url.or_else(|| v.redis_url.clone()),
            redis_url: v.redis_url,
            redis_namespace: v.redis_namespace,
            redis_stale_max: v.redis_stale_max,
            cache_ttl: v.cache_ttl,
            cache_ttl_categories: v.cache_ttl_categories,
            cache_ttl_links: v.cache_ttl_links,
            cache_ttl_details: v.cache_ttl_details,
            cache_ttl_hot: v.cache_ttl_hot,
            cache_swr_percent: v.cache_swr_percent,
            cache_stale_if_error: v.cache_stale_if_error,
            cache_policy: v.cache_policy,
            cache_ttl_bounds: alistach_service::TtlBounds::new(v.cache_ttl_min, v.cache_ttl_max),
            cache_stale_target: v.cache_stale_target.0,
            cache_call_budget: v.cache_call_budget.0,
            cache_refresh_qps_share: v.cache_refresh_qps_share.0,
            cache_learn_max_keys: usize::try_from(v.cache_learn_max_keys).unwrap_or(usize::MAX),
            cache_popularity_half_life: v.cache_popularity_half_life,
            debug: v.debug,
            max_memory_cache_items: v.max_memory_cache_items,
            memory_cache_bytes: v.memory_cache_mb * 1024 * 1024,
            admin_api_key: v.admin_api_key,
            internal_api_key: v.internal_api_key,
            allowed_origins: v.allowed_origins,
            api_keys,
            rate_limit_enabled: v.rate_limit_enabled,
            trusted_proxies: v.trusted_proxies.unwrap_or_else(TrustedProxies::none),
            rate_limit_overrides,
            tenants: file.tenants.clone(),
            max_requests_per_minute: v.max_requests_per_minute,
            max_requests_per_second: v.max_requests_per_second,
            log_level: v.log_level,
            log_format: v.log_format,
            environment: v.environment,
            public_base_url: v.public_base_url,
            metrics_public: v.metrics_public,
            database: alistach_sql::Target::from_settings(
                v.database_url.as_ref().map(|u| u.expose()),
                std::path::Path::new(&v.data_dir),
            )
            .map_err(|e| vec![format!("DATABASE_URL: {e}")])?,
            order_sync_interval: v.order_sync_interval,
            link_tracking: v.link_tracking,
            link_signing_key: v.link_signing_key,
            webhook_allow_private: v.webhook_allow_private,
            webhook_timeout: v.webhook_timeout,
            alert_eval_interval: v.alert_eval_interval,
            alert_for: v.alert_for,
            alert_for_overrides: v.alert_for_overrides,
            alert_slack_webhook_url: v.alert_slack_webhook_url,
            watch_interval: v.watch_interval,
            watch_qps_share: v.watch_qps_share.0,
            analytics: v.analytics,
            analytics_retention: Duration::from_secs(
                u64::from(v.analytics_retention_days) * 86_400,
            ),
            data_dir: v.data_dir.into(),
            shown,
        })
    }

    /// The effective configuration with secrets redacted, one `key = value` per line: what the
    /// settings combine into (address, mode, where shared limits live, per-key limits), then
    /// every setting as parsed.
    pub fn redacted(&self) -> String {
        let shared_limits = match (&self.rate_limit_redis_url, &self.redis_url) {
            (None, _) => "off (memory only)",
            (Some(l), Some(c)) if l == c => "in the cache's Redis (REDIS_URL)",
            (Some(_), _) => "in RATE_LIMIT_REDIS_URL",
        };
        let mut lines = vec![
            format!("listen_address = {}", self.listen),
            format!("mode = {}", self.mode),
            format!("shared_rate_limits = {shared_limits}"),
            format!("database = {}", self.database),
        ];
        lines.extend(
            self.rate_limit_overrides
                .iter()
                .map(|(n, s, m)| format!("rate_limits.{n} = {s}/s, {m}/min")),
        );
        lines.extend(self.tenants.iter().map(|t| {
            format!(
                "tenants.{} = {:?} (tracking id {})",
                t.id, t.name, t.tracking_id
            )
        }));
        lines.extend(self.shown.iter().cloned());
        lines.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::settings::check_api_url;
    use super::*;
    use clap::{CommandFactory, Parser};
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
    fn the_database_defaults_to_sqlite_under_data_dir_and_its_password_never_shows() {
        let c = Config::from_sources(&Args::default(), &FileConfig::default()).unwrap();
        assert_eq!(
            c.database,
            alistach_sql::Target::Sqlite(std::path::PathBuf::from("./data/alistach.db"))
        );
        assert_eq!(c.order_sync_interval, Duration::from_secs(600));
        let file: FileConfig = toml::from_str(
            "database_url = \"postgres://app:pg-pass-1234@db:5432/alistach\"\norder_sync_interval = 0",
        )
        .unwrap();
        let c = Config::from_sources(&Args::default(), &file).unwrap();
        assert_eq!(c.database.backend(), "postgres");
        assert_eq!(c.order_sync_interval, Duration::ZERO);
        let shown = format!("{}\n{:?}", c.redacted(), c);
        assert!(!shown.contains("pg-pass-1234"), "{shown}");
        assert!(
            shown.contains("postgres://app:***@db:5432/alistach"),
            "{shown}"
        );
        let c = Config::from_sources(
            &args(&[("data-dir", "/var/lib/alistach")]),
            &FileConfig::default(),
        )
        .unwrap();
        assert_eq!(
            c.database,
            alistach_sql::Target::Sqlite(std::path::PathBuf::from("/var/lib/alistach/alistach.db"))
        );
        let errors = Config::from_sources(
            &args(&[
                ("database-url", "mysql://root:hunter2@db/x"),
                ("order-sync-interval", "-5"),
            ]),
            &FileConfig::default(),
        )
        .unwrap_err();
        let all = errors.join("\n");
        assert!(
            all.contains("DATABASE_URL") && all.contains("ORDER_SYNC_INTERVAL"),
            "{all}"
        );
        assert!(!all.contains("hunter2"), "{all}");
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
    fn per_key_limits_name_keys_and_a_bad_key_list_is_reported_once() {
        let file: FileConfig = toml::from_str(
            "api_keys = \"alice:0123456789abcdef0\"\n[rate_limits.alice]\nper_second = 2\n[rate_limits.internal]\nper_minute = 100",
        )
        .unwrap();
        let c = Config::from_sources(&Args::default(), &file).unwrap();
        assert_eq!(
            c.rate_limit_overrides,
            [("alice".to_owned(), 2, 60), ("internal".to_owned(), 5, 100)]
        );
        assert!(c.redacted().contains("rate_limits.alice = 2/s, 60/min"));

        let errors =
            Config::from_sources(&args(&[("api-keys", "alice:short")]), &file).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("API_KEYS entry 1"), "{errors:?}");
        let file: FileConfig = toml::from_str("[rate_limits.bob]\nper_second = 2").unwrap();
        let errors = Config::from_sources(&Args::default(), &file).unwrap_err();
        assert!(
            errors[0].contains("rate_limits.bob names no API key"),
            "{errors:?}"
        );
    }

    #[test]
    fn empty_values_count_as_unset_and_debug_shows_no_secret() {
        let file: FileConfig =
            toml::from_str("cache_ttl = \"\"\nadmin_api_key = \"admin-key-in-the-file\"").unwrap();
        let a = args(&[("cache-ttl", " "), ("app-key", "key-from-a-flag")]);
        let c = Config::from_sources(&a, &file).unwrap();
        assert_eq!(c.cache_ttl, Duration::from_secs(3600));
        let shown = format!("{a:?}\n{file:?}\n{c:?}\n{}", c.redacted());
        for secret in ["admin-key-in-the-file", "key-from-a-flag"] {
            assert!(!shown.contains(secret), "{secret} shown: {shown}");
        }
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
