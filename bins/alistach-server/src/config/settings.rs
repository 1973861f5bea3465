//! The table of server settings: each declared once, with its flag, environment variable, TOML
//! key, default, parser, redaction and documentation line; `--help`, the file reader,
//! `--check-config` and README's configuration table are all generated from it.

use std::sync::LazyLock;
use std::time::Duration;

use alistach_domain::{Currency, Language};
use alistach_policy::{MockModeSetting, TrustedProxies};
use alistach_service::AlertRule;

/// The one redacting secret type: its `Debug` and `Display` print `***`.
pub use alistach_domain::Secret;

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// One setting's declaration, as `--help`, the file reader and README see it.
#[derive(Debug)]
pub struct Setting {
    /// The TOML key and the clap argument id, lowercase snake (`cache_ttl`).
    pub key: &'static str,
    /// The long flag without its dashes (`cache-ttl`).
    pub flag: String,
    /// The environment variable (v1.1.0's names).
    pub env: &'static str,
    /// The placeholder `--help` shows for the value.
    pub value_name: String,
    /// The default as text, or `None` when the setting is off or absent by default.
    pub default: Option<String>,
    /// The accepted values in a few words, when the parser states them.
    pub rule: Option<String>,
    /// Whether the value is a secret: never shown, not even by `--help`.
    pub secret: bool,
    /// The documentation line (`--help` and README).
    pub doc: String,
}

/// How a parsed value is shown by `--check-config`; secrets say only whether they are set.
pub trait Show {
    /// The value is a secret.
    const SECRET: bool = false;
    /// Appended to the key in `--check-config` (the unit).
    const SUFFIX: &'static str = "";
    /// The value as `--check-config` prints it.
    fn show(&self) -> String;
}

macro_rules! show_by_display {
    ($($t:ty),*) => {$(
        impl Show for $t {
            fn show(&self) -> String {
                self.to_string()
            }
        }
    )*};
}
show_by_display!(
    u8,
    u32,
    u64,
    usize,
    bool,
    String,
    Language,
    Currency,
    TrustedProxies
);

impl Show for Duration {
    const SUFFIX: &'static str = "_s";
    fn show(&self) -> String {
        self.as_secs().to_string()
    }
}

impl Show for Secret {
    const SECRET: bool = true;
    fn show(&self) -> String {
        "*** (set)".to_owned()
    }
}

impl<T: Show> Show for Option<T> {
    const SECRET: bool = T::SECRET;
    const SUFFIX: &'static str = T::SUFFIX;
    fn show(&self) -> String {
        self.as_ref()
            .map_or_else(|| "(not set)".to_owned(), T::show)
    }
}

impl Show for MockModeSetting {
    fn show(&self) -> String {
        match self {
            MockModeSetting::Auto => "auto",
            MockModeSetting::Force => "true",
            MockModeSetting::Off => "false",
        }
        .to_owned()
    }
}

/// How cache lifetimes are chosen (`CACHE_POLICY`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CachePolicyMode {
    /// Each kind's fixed TTL.
    Static,
    /// TTLs learned per key within `CACHE_TTL_MIN`..`CACHE_TTL_MAX`, with refresh-ahead.
    Adaptive,
}

impl CachePolicyMode {
    /// `static` or `adaptive`.
    pub const fn as_str(self) -> &'static str {
        match self {
            CachePolicyMode::Static => "static",
            CachePolicyMode::Adaptive => "adaptive",
        }
    }
}

impl Show for CachePolicyMode {
    fn show(&self) -> String {
        self.as_str().to_owned()
    }
}

/// `static` or `adaptive`.
pub struct CachePolicyModeSetting;

impl Parse<CachePolicyMode> for CachePolicyModeSetting {
    fn parse(&self, env: &'static str, raw: &str) -> Parsed<CachePolicyMode> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "static" => Ok(CachePolicyMode::Static),
            "adaptive" => Ok(CachePolicyMode::Adaptive),
            other => Err(vec![format!(
                "{env} must be static or adaptive, not {other:?}"
            )]),
        }
    }

    fn rule(&self) -> Option<String> {
        Some("static or adaptive".to_owned())
    }
}

/// Where the affiliate links the gateway hands out lead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkTracking {
    /// Straight to AliExpress (v1.1.0's behaviour); no click is seen.
    Direct,
    /// Through `{PUBLIC_BASE_URL}/r/{token}`, which counts the click and redirects.
    Redirect,
}

impl Show for LinkTracking {
    fn show(&self) -> String {
        match self {
            LinkTracking::Direct => "direct",
            LinkTracking::Redirect => "redirect",
        }
        .to_owned()
    }
}

impl Show for LogFormat {
    fn show(&self) -> String {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
        .to_owned()
    }
}

impl Show for Vec<String> {
    fn show(&self) -> String {
        self.join(",")
    }
}

impl Show for Vec<(String, Secret)> {
    const SECRET: bool = true;
    fn show(&self) -> String {
        let names: Vec<String> = self.iter().map(|(n, _)| format!("{n}:***")).collect();
        names.join(",")
    }
}

/// What a parser returns: the value, or every problem with it (full messages, one line each).
type Parsed<T> = Result<T, Vec<String>>;

/// A setting's parser: from its variable name (for messages) and raw text to a `T`, and the rule
/// it enforces, when a short one says it (`--help` and README show it).
pub trait Parse<T> {
    /// Parses `raw`, naming the setting by `env` in every message.
    fn parse(&self, env: &'static str, raw: &str) -> Parsed<T>;
    /// The accepted values in a few words, e.g. `1–120`.
    fn rule(&self) -> Option<String> {
        None
    }
}

impl<T, F: Fn(&'static str, &str) -> Parsed<T>> Parse<T> for F {
    fn parse(&self, env: &'static str, raw: &str) -> Parsed<T> {
        self(env, raw)
    }
}

/// Names the parsed type of an optional setting (`Option<T>` has parser output `T`).
pub trait Optional {
    /// The type inside the option.
    type Inner;
}

impl<T> Optional for Option<T> {
    type Inner = T;
}

/// The value of a setting with a default: the given text parsed, else the default parsed by the
/// same parser (so a default obeys the rules too; `every_default_parses` checks them).
fn with_default<T>(
    env: &'static str,
    given: Option<&str>,
    default: &str,
    parser: &impl Parse<T>,
    errors: &mut Vec<String>,
) -> T {
    if let Some(text) = given {
        match parser.parse(env, text) {
            Ok(value) => return value,
            Err(problems) => errors.extend(problems),
        }
    }
    parser
        .parse(env, default)
        .unwrap_or_else(|e| panic!("the default of {env} is invalid: {e:?}"))
}

/// The value of a setting without a default: `None` when unset (or invalid, after reporting).
fn optional<T>(
    env: &'static str,
    given: Option<&str>,
    parser: &impl Parse<T>,
    errors: &mut Vec<String>,
) -> Option<T> {
    parser.parse(env, given?).map_err(|e| errors.extend(e)).ok()
}

/// Declares every setting once and generates [`Values`] (the parsed settings), [`Values::parse`],
/// [`Values::shown`] and [`all`] (the declarations).
macro_rules! declare_settings {
    (@value $given:ident, $errors:ident, $env:literal, $parse:expr, $default:expr) => {
        with_default($env, $given, &($default).to_string(), &$parse, $errors)
    };
    (@value $given:ident, $errors:ident, $env:literal, $parse:expr) => {
        optional($env, $given, &$parse, $errors)
    };
    (@rule $ty:ty, $parse:expr, $default:expr) => { Parse::<$ty>::rule(&$parse) };
    (@rule $ty:ty, $parse:expr) => { Parse::<<$ty as Optional>::Inner>::rule(&$parse) };
    (@flag $key:ident, $flag:literal) => { $flag.to_owned() };
    (@flag $key:ident) => { stringify!($key).replace('_', "-") };
    ($(
        $(#[doc = $doc:literal])+
        $key:ident: $ty:ty = $parse:expr, env $env:literal
            $(, flag $flag:literal)? $(, default $default:expr)?;
    )*) => {
        /// Every setting parsed to its type: what flags, environment, file and defaults gave.
        #[derive(Debug, Clone)]
        pub struct Values {
            $(
                $(#[doc = $doc])+
                pub $key: $ty,
            )*
        }

        impl Values {
            /// Parses what `given` returns for each key (already resolved by precedence, empty
            /// counting as unset), pushing one message per mistake onto `errors`.
            pub fn parse<'a>(given: impl Fn(&str) -> Option<&'a str>, errors: &mut Vec<String>) -> Values {
                Values {
                    $($key: {
                        let given = given(stringify!($key));
                        declare_settings!(@value given, errors, $env, $parse $(, $default)?)
                    },)*
                }
            }

            /// One `key = value` line per setting, secrets redacted.
            pub fn shown(&self) -> Vec<String> {
                vec![$(format!(
                    "{}{} = {}",
                    stringify!($key),
                    <$ty as Show>::SUFFIX,
                    Show::show(&self.$key)
                )),*]
            }
        }

        fn declarations() -> Vec<Setting> {
            vec![$(Setting {
                key: stringify!($key),
                flag: declare_settings!(@flag $key $(, $flag)?),
                env: $env,
                value_name: stringify!($key).to_ascii_uppercase(),
                default: None$(.or(Some(($default).to_string())))?,
                rule: declare_settings!(@rule $ty, $parse $(, $default)?),
                secret: <$ty as Show>::SECRET,
                doc: [$($doc.trim()),+].join(" "),
            }),*]
        }
    };
}

/// Every setting's declaration, in table order.
pub fn all() -> &'static [Setting] {
    static ALL: LazyLock<Vec<Setting>> = LazyLock::new(declarations);
    &ALL
}

/// The declaration with TOML key `key`.
pub fn find(key: &str) -> Option<&'static Setting> {
    all().iter().find(|s| s.key == key)
}

const WEEK: u64 = 7 * 86_400;
const MONTH: u64 = 30 * 86_400;

declare_settings! {
    /// Address to listen on, e.g. `127.0.0.1:0`; overrides API_HOST and API_PORT.
    listen: Option<String> = text, env "ALISTACH_LISTEN";
    /// Host to bind (an IP address).
    api_host: String = text, env "API_HOST", flag "host", default "0.0.0.0";
    /// Port to bind (0 picks a free one).
    api_port: String = text, env "API_PORT", flag "port", default 8000;
    /// AliExpress app key (real mode).
    app_key: Option<Secret> = secret(0), env "ALIEXPRESS_APP_KEY";
    /// AliExpress app secret (real mode).
    app_secret: Option<Secret> = secret(0), env "ALIEXPRESS_APP_SECRET";
    /// Portals tracking id put into affiliate links.
    tracking_id: String = text, env "ALIEXPRESS_TRACKING_ID", default "gpt_chat";
    /// Default target language of queries (EN, FR, ...).
    language: Language = code, env "ALIEXPRESS_LANGUAGE", default Language::default();
    /// Default target currency of queries (USD, EUR, ...).
    currency: Currency = code, env "ALIEXPRESS_CURRENCY", default Currency::default();
    /// The AliExpress gateway; must be https (plain http only to a loopback address, for a local fake).
    api_url: String = api_url, env "ALIEXPRESS_API_URL", default DEFAULT_API_URL;
    /// Seconds per upstream attempt.
    upstream_timeout: Duration = seconds(1, 120), env "ALIEXPRESS_TIMEOUT", default 10;
    /// Outbound calls per second to AliExpress, retries included; protects the app key's quota.
    max_qps: u32 = whole(1, 1000), env "ALIEXPRESS_MAX_QPS", default 5;
    /// auto (real mode exactly when credentials are set), true (always mock) or false (credentials required).
    mock_mode: MockModeSetting = mock_mode, env "MOCK_MODE", default "auto";
    /// Seconds a client may take to send a request head; idle keep-alive connections close after it too.
    header_read_timeout: Duration = seconds(1, 300), env "HEADER_READ_TIMEOUT", default 10;
    /// Seconds a request body may go without data arriving; then 408 and the connection closes.
    body_read_timeout: Duration = seconds(1, 300), env "BODY_READ_TIMEOUT", default 10;
    /// Seconds a response write may make no progress (a client that stopped reading); then the connection closes.
    response_write_timeout: Duration = seconds(1, 3600), env "RESPONSE_WRITE_TIMEOUT", default 30;
    /// Seconds from request head to answer, body included: 408 while the body is still arriving, 504 after.
    request_timeout: Duration = seconds(1, 3600), env "REQUEST_TIMEOUT", default 30;
    /// Client connections served at once; more wait in the kernel's accept queue.
    max_connections: usize = whole(1, 1_000_000), env "MAX_CONNECTIONS", default 10_000;
    /// Connections open at once from one client address (IPv6: one network); more get a 503. Trusted proxies are exempt.
    max_connections_per_ip: usize = whole(1, 1_000_000), env "MAX_CONNECTIONS_PER_IP", default 1_000;
    /// IPv6 clients count as one client per network of this prefix length (rate limits, key throttling, connection cap).
    ipv6_client_prefix: u8 = whole(16, 128), env "IPV6_CLIENT_PREFIX", default 64;
    /// Wrong keys accepted per client address and minute; past it, key attempts from that address get 429 unchecked.
    auth_failures_per_minute: u32 = whole(1, 100_000), env "AUTH_FAILURES_PER_MINUTE", default 10;
    /// Redis URL of the shared cache tier (memory only when unset); see docs/redis.md.
    redis_url: Option<Secret> = redis_url, env "REDIS_URL";
    /// First segment of every Redis key (cache and limits): give each deployment sharing a Redis its own.
    redis_namespace: String = redis_namespace, env "REDIS_NAMESPACE", default alistach_redis::DEFAULT_NAMESPACE;
    /// Longest (seconds) Redis keeps an entry past its TTL for stale serving; the memory tier keeps the full CACHE_STALE_IF_ERROR.
    redis_stale_max: Duration = seconds(0, MONTH), env "REDIS_STALE_MAX", default alistach_redis::DEFAULT_STALE_MAX.as_secs();
    /// Redis URL of the shared rate limits (when unset: REDIS_URL); a separate one keeps limits exact when the cache Redis is full.
    rate_limit_redis_url: Option<Secret> = redis_url, env "RATE_LIMIT_REDIS_URL";
    /// Search cache time-to-live (s).
    cache_ttl: Duration = seconds(1, WEEK), env "CACHE_TTL", default 3600;
    /// Category list time-to-live (s).
    cache_ttl_categories: Duration = seconds(1, WEEK), env "CACHE_TTL_CATEGORIES", default 7200;
    /// Affiliate link time-to-live (s).
    cache_ttl_links: Duration = seconds(1, WEEK), env "CACHE_TTL_LINKS", default 1800;
    /// Product details time-to-live (s).
    cache_ttl_details: Duration = seconds(1, WEEK), env "CACHE_TTL_DETAILS", default 3600;
    /// Hot products time-to-live (s).
    cache_ttl_hot: Duration = seconds(1, WEEK), env "CACHE_TTL_HOT", default 1800;
    /// An expired answer is served while one refresh runs for this share (percent) of its TTL (0 turns it off).
    cache_swr_percent: u32 = whole(0, 100), env "CACHE_STALE_WHILE_REVALIDATE_PERCENT", default 10;
    /// How long (s) an expired answer may stand in for a failing upstream.
    cache_stale_if_error: Duration = seconds(0, MONTH), env "CACHE_STALE_IF_ERROR", default 86_400;
    /// static: each kind's fixed TTL; adaptive: TTLs learned per key from how often its answer changes, hot keys refreshed ahead of expiry (docs/ARCHITECTURE.md).
    cache_policy: CachePolicyMode = CachePolicyModeSetting, env "CACHE_POLICY", default "static";
    /// Shortest TTL (s) the adaptive policy may give (a kind whose own TTL is shorter keeps that as its floor).
    cache_ttl_min: Duration = seconds(1, WEEK), env "CACHE_TTL_MIN", default 60;
    /// Longest TTL (s) the adaptive policy may give (a kind whose own TTL is longer keeps that as its ceiling).
    cache_ttl_max: Duration = seconds(1, MONTH), env "CACHE_TTL_MAX", default 86_400;
    /// Share of answers the adaptive policy may serve after their data changed (it trades upstream calls against it, within CACHE_CALL_BUDGET).
    cache_stale_target: Share = Fraction, env "CACHE_STALE_TARGET", default "0.003";
    /// The adaptive policy's upstream calls at most this share of what the kinds' fixed TTLs would make for the same requests: 1 spends no more than static, and the stale target is met as far as that allows.
    cache_call_budget: Share = Fraction, env "CACHE_CALL_BUDGET", default "1";
    /// The share of ALIEXPRESS_MAX_QPS refresh-ahead may use (only when the limiter has a free turn; users' misses come first).
    cache_refresh_qps_share: Share = Fraction, env "CACHE_REFRESH_QPS_SHARE", default "0.2";
    /// Most keys the adaptive policy remembers (about 200 bytes each); the least requested are forgotten first.
    cache_learn_max_keys: u64 = whole(100, 10_000_000), env "CACHE_LEARN_MAX_KEYS", default 100_000;
    /// Half-life (s) of the adaptive policy's per-key request counts: how fast popularity is forgotten.
    cache_popularity_half_life: Duration = seconds(1, WEEK), env "CACHE_POPULARITY_HALF_LIFE", default 21_600;
    /// v1.1.0's DEBUG flag, reported by /health (logging follows LOG_LEVEL).
    debug: bool = Switch, env "DEBUG", default false;
    /// Item cap of the memory cache.
    max_memory_cache_items: u64 = whole(1, 10_000_000), env "MAX_MEMORY_CACHE_ITEMS", default 10_000;
    /// Byte budget of the memory cache in MiB.
    memory_cache_mb: u64 = whole(1, 65_536), env "MEMORY_CACHE_MB", default 64;
    /// Enables /api/cache/* (header x-admin-key or Authorization: Bearer).
    admin_api_key: Option<Secret> = secret(16), env "ADMIN_API_KEY";
    /// When set, /api/* needs it (Authorization: Bearer or x-internal-key).
    internal_api_key: Option<Secret> = secret(16), env "INTERNAL_API_KEY";
    /// Named keys `name:key,name2:key2`, or the path of a file of `name:key` lines; each name is a client for rate limits.
    api_keys: Option<Vec<(String, Secret)>> = api_keys, env "API_KEYS";
    /// Exact CORS origins, comma-separated.
    allowed_origins: Vec<String> = origins, env "ALLOWED_ORIGINS", default "https://chat.openai.com,https://chatgpt.com";
    /// Requests per minute per client (GCRA); shared through Redis when RATE_LIMIT_REDIS_URL (or REDIS_URL) is set.
    max_requests_per_minute: u32 = whole(1, 100_000_000), env "MAX_REQUESTS_PER_MINUTE", default 60;
    /// Requests per second per client, enforced alongside the per-minute limit.
    max_requests_per_second: u32 = whole(1, 10_000_000), env "MAX_REQUESTS_PER_SECOND", default 5;
    /// Enforce per-client rate limits (false for benchmarks).
    rate_limit_enabled: bool = Switch, env "RATE_LIMIT_ENABLED", default true;
    /// Proxy addresses and CIDR ranges (`10.0.0.0/8,fd00::/8`) whose X-Forwarded-For is believed; from anyone else it is ignored.
    trusted_proxies: Option<TrustedProxies> = trusted_proxies, env "TRUSTED_PROXIES";
    /// Serve /metrics and /api/status without a key, for a scraper inside a private network (otherwise they need the keys the route table names).
    metrics_public: bool = Switch, env "METRICS_PUBLIC", default false;
    /// Log filter: error, warn, info, debug, trace, or a tracing filter.
    log_level: String = log_level, env "LOG_LEVEL", default "info";
    /// Log format: text, or json for one object per line.
    log_format: LogFormat = log_format, env "LOG_FORMAT", default "text";
    /// Environment name reported by /health (v1.1.0).
    environment: String = text, env "ENVIRONMENT", default "production";
    /// The https origin the OpenAPI documents advertise (the server warns at start-up while it is the example), and of tracked links; required with LINK_TRACKING=redirect.
    public_base_url: String = public_base_url, env "PUBLIC_BASE_URL", default EXAMPLE_PUBLIC_BASE_URL;
    /// Directory of the state the server keeps, created on first start: the embedded SQLite database (alistach.db; unused when DATABASE_URL is set) and the generated link-signing key.
    data_dir: String = data_dir, env "DATA_DIR", default "./data";
    /// Database of orders and sync state: postgres://user:password@host/db (several instances share it) or sqlite://PATH; when unset, the SQLite file under DATA_DIR. Its password is never shown.
    database_url: Option<DatabaseUrl> = database_url, env "DATABASE_URL";
    /// Seconds between order syncs from AliExpress, across all instances (0 turns the schedule off; POST /api/admin/orders/sync still syncs).
    order_sync_interval: Duration = seconds(0, WEEK), env "ORDER_SYNC_INTERVAL", default 600;
    /// direct: affiliate links lead straight to AliExpress (v1.1.0). redirect: every link handed out is {PUBLIC_BASE_URL}/r/{token}, which counts the click and redirects.
    link_tracking: LinkTracking = LinkTrackingMode, env "LINK_TRACKING", default "direct";
    /// Key that signs tracked links (at least 32 characters); when unset, one is generated and kept in DATA_DIR/link-signing-key. Several instances must share one.
    link_signing_key: Option<Secret> = secret(32), env "LINK_SIGNING_KEY";
    /// Let webhooks reach private, loopback and link-local addresses (a receiver inside your network; tests).
    webhook_allow_private: bool = Switch, env "WEBHOOK_ALLOW_PRIVATE", default false;
    /// Seconds a webhook receiver has to answer one attempt.
    webhook_timeout: Duration = seconds(1, 60), env "WEBHOOK_TIMEOUT", default 10;
    /// Seconds between evaluations of the built-in alert rules (GET /api/admin/alerts; 0 turns them off).
    alert_eval_interval: Duration = seconds(0, 3600), env "ALERT_EVAL_INTERVAL", default 15;
    /// Seconds an alert rule's condition must hold before it fires (rules without their own wait in ALERT_FOR_OVERRIDES).
    alert_for: Duration = seconds(0, WEEK), env "ALERT_FOR", default 120;
    /// Per-rule waits before firing, `rule=seconds,rule2=seconds` (names as GET /api/admin/alerts shows them, e.g. `redis_down=600`); other rules wait ALERT_FOR.
    alert_for_overrides: Vec<(AlertRule, Duration)> = AlertForOverrides, env "ALERT_FOR_OVERRIDES", default "";
    /// Slack-compatible incoming-webhook URL that gets a {"text": ...} message when an alert fires or resolves; never shown or logged.
    alert_slack_webhook_url: Option<Secret> = secret(8), env "ALERT_SLACK_WEBHOOK_URL";
    /// Seconds between checks of the watched products' prices and availability, across all instances (0 turns watches' checks off).
    watch_interval: Duration = seconds(0, WEEK), env "WATCH_INTERVAL", default 3600;
    /// The share of ALIEXPRESS_MAX_QPS the watch checks may use (they pace themselves; the rest stays for users' requests).
    watch_qps_share: Share = Fraction, env "WATCH_QPS_SHARE", default "0.2";
    /// Count every API and MCP call (route, client, cache status, status class, latency, search keywords) per minute for /api/admin/analytics/*; false records nothing.
    analytics: bool = Switch, env "ANALYTICS", default true;
    /// Days the hour and day analytics rows are kept (minute rows: 2 days, or this if shorter).
    analytics_retention_days: u32 = whole(1, 3650), env "ANALYTICS_RETENTION_DAYS", default 90;
}

/// `rule=seconds,...`: see `alert_for_overrides`.
pub struct AlertForOverrides;

impl Show for Vec<(AlertRule, Duration)> {
    fn show(&self) -> String {
        self.iter()
            .map(|(r, d)| format!("{}={}", r.name(), d.as_secs()))
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl Parse<Vec<(AlertRule, Duration)>> for AlertForOverrides {
    fn parse(&self, env: &'static str, raw: &str) -> Parsed<Vec<(AlertRule, Duration)>> {
        let mut out: Vec<(AlertRule, Duration)> = Vec::new();
        let mut errors = Vec::new();
        for item in raw.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let Some((name, secs)) = item.split_once('=') else {
                errors.push(format!("{env}: {item:?} is not rule=seconds"));
                continue;
            };
            let Some(rule) = AlertRule::from_name(name.trim()) else {
                errors.push(format!(
                    "{env}: {:?} is not a rule; the rules are {}",
                    name.trim(),
                    AlertRule::ALL.map(AlertRule::name).join(", ")
                ));
                continue;
            };
            match secs.trim().parse::<u64>() {
                Ok(s) if s <= WEEK => {
                    if out.iter().any(|(r, _)| *r == rule) {
                        errors.push(format!("{env}: {} is given twice", rule.name()));
                    } else {
                        out.push((rule, Duration::from_secs(s)));
                    }
                }
                _ => errors.push(format!(
                    "{env}: the wait of {} must be 0 to {WEEK} seconds, not {:?}",
                    rule.name(),
                    secs.trim()
                )),
            }
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(errors)
        }
    }

    fn rule(&self) -> Option<String> {
        Some("rule=seconds, comma-separated".to_owned())
    }
}

/// A share of a whole, in `(0, 1]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Share(pub f64);

impl Show for Share {
    fn show(&self) -> String {
        self.0.to_string()
    }
}

/// A decimal in `(0, 1]`: see [`Share`].
pub struct Fraction;

impl Parse<Share> for Fraction {
    fn parse(&self, env: &'static str, raw: &str) -> Parsed<Share> {
        match raw.trim().parse::<f64>() {
            Ok(x) if x.is_finite() && x > 0.0 && x <= 1.0 => Ok(Share(x)),
            _ => Err(vec![format!(
                "{env} must be a decimal above 0 and at most 1, not {raw:?}"
            )]),
        }
    }

    fn rule(&self) -> Option<String> {
        Some("above 0, at most 1".to_owned())
    }
}

/// A `DATABASE_URL`: shown and logged with its password replaced by `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(Secret);

impl DatabaseUrl {
    /// The URL itself, password included: only for connecting.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&alistach_sql::redact_url(self.0.expose()))
    }
}

impl Show for DatabaseUrl {
    fn show(&self) -> String {
        alistach_sql::redact_url(self.0.expose())
    }
}

/// A database URL; the message never repeats it (it may hold a password).
fn database_url(env: &'static str, raw: &str) -> Parsed<DatabaseUrl> {
    match alistach_sql::Target::parse(raw.trim()) {
        Ok(_) => Ok(DatabaseUrl(Secret::new(raw.trim()))),
        Err(_) => Err(vec![format!(
            "{env} must start with postgres://, postgresql:// or sqlite:// (sqlite:// needs a file path)"
        )]),
    }
}

fn data_dir(env: &'static str, raw: &str) -> Parsed<String> {
    let dir = raw.trim();
    if dir.is_empty() || dir.contains('\0') {
        return Err(vec![format!("{env} must name a directory")]);
    }
    Ok(dir.to_owned())
}

/// The default gateway.
pub const DEFAULT_API_URL: &str = "https://api-sg.aliexpress.com/sync";

/// The example origin `PUBLIC_BASE_URL` defaults to; a deployment should set its own.
pub const EXAMPLE_PUBLIC_BASE_URL: &str = "https://alistach.example.com";

// The parsers. Each takes the setting's variable name (for its messages) and the raw text.

fn text(_: &'static str, raw: &str) -> Parsed<String> {
    Ok(raw.to_owned())
}

/// A secret of at least so many characters; its messages never repeat the value.
fn secret(min_chars: usize) -> MinChars {
    MinChars(min_chars)
}

/// See [`secret`].
pub struct MinChars(usize);

impl Parse<Secret> for MinChars {
    fn parse(&self, env: &'static str, raw: &str) -> Parsed<Secret> {
        let min = self.0;
        if raw.chars().count() < min {
            return Err(vec![format!(
                "{env} must be at least {min} characters long"
            )]);
        }
        Ok(Secret::new(raw))
    }

    fn rule(&self) -> Option<String> {
        (self.0 > 0).then(|| format!("at least {} characters", self.0))
    }
}

/// A whole number in `min..=max`.
fn whole(min: u64, max: u64) -> Whole {
    Whole { min, max }
}

/// See [`whole`].
pub struct Whole {
    min: u64,
    max: u64,
}

impl<T: TryFrom<u64>> Parse<T> for Whole {
    fn parse(&self, env: &'static str, raw: &str) -> Parsed<T> {
        let Whole { min, max } = *self;
        let out_of_range = |n| vec![format!("{env} must be between {min} and {max}, not {n}")];
        match raw.trim().parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => T::try_from(n).map_err(|_| out_of_range(n)),
            Ok(n) => Err(out_of_range(n)),
            Err(_) => Err(vec![format!("{env} must be a whole number, not {raw:?}")]),
        }
    }

    fn rule(&self) -> Option<String> {
        Some(format!("{}–{}", self.min, self.max))
    }
}

/// A duration in whole seconds, `min..=max`.
fn seconds(min: u64, max: u64) -> Seconds {
    Seconds(whole(min, max))
}

/// See [`seconds`].
pub struct Seconds(Whole);

impl Parse<Duration> for Seconds {
    fn parse(&self, env: &'static str, raw: &str) -> Parsed<Duration> {
        Parse::<u64>::parse(&self.0, env, raw).map(Duration::from_secs)
    }

    fn rule(&self) -> Option<String> {
        Some(format!("{}–{} s", self.0.min, self.0.max))
    }
}

/// A boolean: true, 1, yes, on or false, 0, no, off.
pub struct Switch;

impl Parse<bool> for Switch {
    fn parse(&self, env: &'static str, raw: &str) -> Parsed<bool> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            other => Err(vec![format!("{env} must be true or false, not {other:?}")]),
        }
    }

    fn rule(&self) -> Option<String> {
        Some("true or false".to_owned())
    }
}

fn code<T: std::str::FromStr<Err = alistach_domain::ValidationError>>(
    env: &'static str,
    raw: &str,
) -> Parsed<T> {
    raw.parse::<T>()
        .map_err(|e| vec![format!("{env} {}", e.rule)])
}

fn mock_mode(_: &'static str, raw: &str) -> Parsed<MockModeSetting> {
    raw.parse::<MockModeSetting>().map_err(|e| vec![e])
}

fn api_url(_: &'static str, raw: &str) -> Parsed<String> {
    check_api_url(raw).map_err(|e| vec![e])?;
    Ok(raw.to_owned())
}

/// The gateway URL must be https, so signed calls (and the app key in them) never cross a
/// network in the clear; plain http is allowed only to this machine (a local fake gateway).
pub fn check_api_url(url: &str) -> Result<(), String> {
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

/// A Redis URL; the message never repeats it (it may hold a password).
fn redis_url(env: &'static str, raw: &str) -> Parsed<Secret> {
    if ["redis://", "rediss://", "unix://"]
        .iter()
        .any(|scheme| raw.starts_with(scheme))
    {
        Ok(Secret::new(raw))
    } else {
        Err(vec![format!(
            "{env} must start with redis://, rediss:// or unix://"
        )])
    }
}

fn redis_namespace(env: &'static str, raw: &str) -> Parsed<String> {
    if alistach_redis::valid_namespace(raw) {
        Ok(raw.to_owned())
    } else {
        Err(vec![format!(
            "{env} must be 1 to 64 letters, digits, '_', '-' or '.', not {raw:?}"
        )])
    }
}

fn origins(env: &'static str, raw: &str) -> Parsed<Vec<String>> {
    let origins: Vec<String> = raw
        .split(',')
        .map(|s| s.trim().trim_end_matches('/').to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    let problems: Vec<String> = origins
        .iter()
        .filter_map(|origin| {
            if origin == "*" {
                Some(format!(
                    "{env} must list exact origins; \"*\" is not allowed"
                ))
            } else if !alistach_policy::is_origin(origin) {
                Some(format!(
                    "{env} entry {origin:?} is not an origin like https://chatgpt.com"
                ))
            } else {
                None
            }
        })
        .collect();
    if problems.is_empty() {
        Ok(origins)
    } else {
        Err(problems)
    }
}

fn trusted_proxies(env: &'static str, raw: &str) -> Parsed<TrustedProxies> {
    TrustedProxies::parse_list(raw)
        .map_err(|bad| bad.iter().map(|e| format!("{env} entry {e}")).collect())
}

/// Named keys inline (`name:key,...`) or in a file of `name:key` lines (`#` starts a comment).
fn api_keys(env: &'static str, raw: &str) -> Parsed<Vec<(String, Secret)>> {
    let path = std::path::Path::new(raw.trim());
    let listing = if path.is_file() {
        std::fs::read_to_string(path)
            .map_err(|e| vec![format!("{env} file cannot be read: {e}")])?
    } else {
        raw.to_owned()
    };
    let mut keys = Vec::new();
    let mut problems = Vec::new();
    for (i, item) in listing
        .split([',', '\n'])
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .enumerate()
    {
        let n = i + 1;
        match item.split_once(':') {
            Some((name, _)) if !is_client_name(name.trim()) => problems.push(format!(
                "{env} entry {n} has an invalid name (use 1-32 of A-Z a-z 0-9 _ -)"
            )),
            Some((_, key)) if key.trim().chars().count() < 16 => problems.push(format!(
                "{env} entry {n} has a key shorter than 16 characters"
            )),
            Some((name, key)) => {
                keys.push((name.trim().to_owned(), Secret::new(key.trim())));
            }
            None => problems.push(format!("{env} entry {n} is not name:key")),
        }
    }
    if problems.is_empty() {
        Ok(keys)
    } else {
        Err(problems)
    }
}

fn is_client_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn log_level(env: &'static str, raw: &str) -> Parsed<String> {
    // Trimmed first: tracing-subscriber 0.3 slices the untrimmed text at offsets of the trimmed
    // one, and panics on leading whitespace before a multi-byte character (" \u{a980}=", found
    // by the property test). A filter is ASCII anyway.
    let level = raw.trim().to_ascii_lowercase();
    if !level.is_ascii() {
        return Err(vec![format!(
            "{env} must be error, warn, info, debug, trace or a tracing filter (ASCII), not {level:?}"
        )]);
    }
    if tracing_subscriber::EnvFilter::try_new(&level).is_err() {
        return Err(vec![format!(
            "{env} must be error, warn, info, debug, trace or a tracing filter, not {level:?}"
        )]);
    }
    Ok(level)
}

fn log_format(env: &'static str, raw: &str) -> Parsed<LogFormat> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        other => Err(vec![format!("{env} must be text or json, not {other:?}")]),
    }
}

/// `direct` or `redirect`.
pub struct LinkTrackingMode;

impl Parse<LinkTracking> for LinkTrackingMode {
    fn parse(&self, env: &'static str, raw: &str) -> Parsed<LinkTracking> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "direct" => Ok(LinkTracking::Direct),
            "redirect" => Ok(LinkTracking::Redirect),
            other => Err(vec![format!(
                "{env} must be direct or redirect, not {other:?}"
            )]),
        }
    }

    fn rule(&self) -> Option<String> {
        Some("direct or redirect".to_owned())
    }
}

fn public_base_url(env: &'static str, raw: &str) -> Parsed<String> {
    let url = raw.trim_end_matches('/').to_owned();
    // The rule GPT Actions impose, checked where the documents are built.
    alistach_api::OpenApiOptions::new(url.clone())
        .validate()
        .map_err(|e| {
            vec![format!(
                "{env} must be an https origin (GPT Actions require https): {e}"
            )]
        })?;
    Ok(url)
}

/// README's configuration table, generated from the declarations.
#[cfg(test)]
fn readme_table() -> String {
    let mut table = String::from(
        "| Variable | Flag | TOML key | Default | Values | Meaning |\n|---|---|---|---|---|---|\n",
    );
    for s in all() {
        let default = s
            .default
            .as_deref()
            .map_or_else(|| "–".to_owned(), |d| format!("`{d}`"));
        table.push_str(&format!(
            "| `{}` | `--{}` | `{}` | {} | {} | {} |\n",
            s.env,
            s.flag,
            s.key,
            default,
            s.rule.as_deref().unwrap_or(""),
            s.doc.replace('|', "\\|")
        ));
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_waits_are_named_rules_with_seconds() {
        let p = |raw: &str| AlertForOverrides.parse("ALERT_FOR_OVERRIDES", raw);
        assert_eq!(p(""), Ok(Vec::new()));
        assert_eq!(
            p(" redis_down=600, upstream_circuit_open=0 "),
            Ok(vec![
                (AlertRule::RedisDown, Duration::from_secs(600)),
                (AlertRule::UpstreamCircuitOpen, Duration::ZERO),
            ])
        );
        for bad in [
            "redis_down",
            "nope=5",
            "redis_down=x",
            "redis_down=1,redis_down=2",
        ] {
            let errors = p(bad).unwrap_err();
            assert!(
                errors[0].contains("ALERT_FOR_OVERRIDES"),
                "{bad}: {errors:?}"
            );
        }
        assert!(p("nope=5").unwrap_err()[0].contains("redis_down"));
    }

    #[test]
    fn log_filters_are_trimmed_ascii_and_never_panic_the_filter_parser() {
        assert_eq!(log_level("LOG_LEVEL", " Debug "), Ok("debug".to_owned()));
        assert_eq!(
            log_level("LOG_LEVEL", "alistach=trace,info"),
            Ok("alistach=trace,info".to_owned())
        );
        // tracing-subscriber 0.3 panics on this one untrimmed (the property test found it).
        let err = log_level("LOG_LEVEL", " \u{a980}=").unwrap_err();
        assert!(err[0].contains("LOG_LEVEL"), "{err:?}");
    }

    #[test]
    fn every_default_parses() {
        let mut errors = Vec::new();
        let values = Values::parse(|_| None, &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(values.shown().len(), all().len());
    }

    #[test]
    fn names_are_unique_and_keys_lowercase_snake() {
        let (mut keys, mut envs, mut flags) = (Vec::new(), Vec::new(), Vec::new());
        for s in all() {
            assert!(
                s.key
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{}",
                s.key
            );
            keys.push(s.key);
            envs.push(s.env);
            flags.push(s.flag.as_str());
        }
        for names in [keys, envs, flags] {
            let unique: std::collections::BTreeSet<_> = names.iter().collect();
            assert_eq!(
                unique.len(),
                names.len(),
                "a name is declared twice: {names:?}"
            );
        }
    }

    /// README's table is generated: this fails when it drifts, and `UPDATE_README=1` (what
    /// `cargo xtask settings` sets) rewrites it.
    #[test]
    fn readme_configuration_table_is_up_to_date() {
        const BEGIN: &str = "<!-- settings:begin -->\n";
        const END: &str = "<!-- settings:end -->";
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
        let readme = std::fs::read_to_string(&path).unwrap();
        let start = readme
            .find(BEGIN)
            .expect("README has <!-- settings:begin -->")
            + BEGIN.len();
        let end = start
            + readme[start..]
                .find(END)
                .expect("README has <!-- settings:end -->");
        let table = readme_table();
        if readme[start..end] == table {
            return;
        }
        if std::env::var_os("UPDATE_README").is_some() {
            let updated = format!("{}{table}{}", &readme[..start], &readme[end..]);
            std::fs::write(&path, updated).unwrap();
            return;
        }
        panic!(
            "README.md's configuration table is out of date; run `cargo xtask settings` and commit the result"
        );
    }
}
