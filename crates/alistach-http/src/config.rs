//! The adapter's configuration, and the [`ApiKey`] type that keeps keys out of memory and logs.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use alistach_policy::{RateLimiter, TrustedProxies};

use alistach_domain::{Currency, Language};

/// The longest key a client may present; longer ones are refused before they are hashed.
pub const MAX_PRESENTED_KEY_BYTES: usize = 256;

/// A configured access key. Only its SHA-256 digest and its client name are kept; `Debug`
/// shows the name, never the key.
#[derive(Clone)]
pub struct ApiKey {
    digest: [u8; 32],
    name: String,
}

impl ApiKey {
    /// Wraps a configured key under the client name `default`.
    pub fn new(value: &str) -> Self {
        Self::named("default", value)
    }

    /// A key with a client name (from `API_KEYS=name:key,...`); the name identifies the client
    /// for rate limiting and logs.
    pub fn named(name: &str, value: &str) -> Self {
        ApiKey {
            digest: digest(value),
            name: name.to_owned(),
        }
    }

    /// The client name this key stands for.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The SHA-256 digest the key is looked up by.
    pub(crate) fn digest(&self) -> [u8; 32] {
        self.digest
    }
}

/// SHA-256 of a key: how keys are stored and looked up.
pub(crate) fn digest(value: &str) -> [u8; 32] {
    // The tenants' keys are stored and looked up by the same digest.
    alistach_service::key_digest(value)
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({}: ***)", self.name)
    }
}

/// Everything the HTTP adapter needs to know besides the catalog.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// The https URL the service is reached at (the OpenAPI `servers` entry).
    pub public_base_url: String,
    /// Origins allowed by CORS, compared exactly.
    pub allowed_origins: Vec<String>,
    /// `ADMIN_API_KEY`; admin endpoints answer 403 without one.
    pub admin_key: Option<ApiKey>,
    /// `INTERNAL_API_KEY` and friends; `/api/*` is open when empty.
    pub api_keys: Vec<ApiKey>,
    /// Per-client limits on the API routes; none when `None`.
    pub rate_limiter: Option<Arc<RateLimiter>>,
    /// Peers whose `X-Forwarded-For` is believed (`TRUSTED_PROXIES`); from anyone else the
    /// header is ignored, so it cannot be forged to dodge limits.
    pub trusted_proxies: TrustedProxies,
    /// IPv6 clients are one client per network of this prefix length (64 by default).
    pub ipv6_client_prefix: u8,
    /// Failed authentications allowed per client address and minute; past it, 429.
    pub auth_failures_per_minute: u32,
    /// Most connections served at once; further ones wait in the kernel's accept queue.
    pub max_connections: usize,
    /// Most connections open at once from one client address (IPv6: one network, see
    /// `ipv6_client_prefix`); further ones are answered 503 and closed.
    pub max_connections_per_ip: usize,
    /// Most requests served on one keep-alive connection before it is closed.
    pub max_requests_per_connection: u32,
    /// The largest request body accepted, in bytes.
    pub body_limit: usize,
    /// How long a client may take to send the request head.
    pub header_read_timeout: Duration,
    /// How long a request body may go without a byte arriving (408 after it).
    pub body_read_timeout: Duration,
    /// How long a response write may make no progress (a client that stopped reading) before
    /// the connection is closed.
    pub response_write_timeout: Duration,
    /// The most time from the request head to the answer, body read included (408 while the
    /// body is still arriving, 504 after).
    pub request_timeout: Duration,
    /// How long in-flight requests may run after shutdown starts.
    pub shutdown_grace: Duration,
    /// The service version reported everywhere.
    pub version: String,
    /// `ENVIRONMENT` (development, production ...).
    pub environment: String,
    /// `DEBUG`.
    pub debug: bool,
    /// `ALIEXPRESS_TRACKING_ID`.
    pub tracking_id: String,
    /// Default `target_language`.
    pub language: Language,
    /// Default `target_currency`.
    pub currency: Currency,
    /// Whether `REDIS_URL` is set.
    pub redis_url_configured: bool,
    /// Whether an app key is configured.
    pub app_key_configured: bool,
    /// Whether an app secret is configured.
    pub app_secret_configured: bool,
    /// The cache backend in use (`memory`, `redis`, `memory+redis`).
    pub cache_backend: String,
    /// `MAX_MEMORY_CACHE_ITEMS`.
    pub max_memory_items: u64,
    /// `METRICS_PUBLIC`: `/metrics` (admin key) and `/api/status` (API key) answer anyone.
    pub metrics_public: bool,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            public_base_url: "http://127.0.0.1:8000".into(),
            allowed_origins: vec![
                "https://chat.openai.com".into(),
                "https://chatgpt.com".into(),
            ],
            admin_key: None,
            api_keys: Vec::new(),
            body_limit: 64 * 1024,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
            response_write_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(10),
            version: env!("CARGO_PKG_VERSION").into(),
            environment: "development".into(),
            debug: false,
            tracking_id: "gpt_chat".into(),
            language: Language::EN,
            currency: Currency::USD,
            redis_url_configured: false,
            app_key_configured: false,
            app_secret_configured: false,
            cache_backend: "memory".into(),
            max_memory_items: 1000,
            metrics_public: false,
            rate_limiter: None,
            trusted_proxies: TrustedProxies::none(),
            ipv6_client_prefix: 64,
            auth_failures_per_minute: 10,
            max_connections: 10_000,
            max_connections_per_ip: 1_000,
            max_requests_per_connection: 10_000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_only_a_digest_and_never_print() {
        let k = ApiKey::named("gpt", "s3cret-key");
        assert_eq!(k.digest(), digest("s3cret-key"));
        assert_ne!(k.digest(), digest("s3cret-kez"));
        assert_eq!(k.name(), "gpt");
        assert_eq!(format!("{k:?}"), "ApiKey(gpt: ***)");
        let cfg = HttpConfig {
            admin_key: Some(k),
            ..HttpConfig::default()
        };
        assert!(!format!("{cfg:?}").contains("s3cret"));
    }
}
