//! The adapter's configuration, and the [`Secret`] newtype that keeps keys out of logs.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use alistach_policy::RateLimiter;

use alistach_domain::{Currency, Language};
use sha2::{Digest, Sha256};

/// A secret value (an API key): `Debug` prints `***`, and comparisons run in constant time.
#[derive(Clone)]
pub struct Secret {
    digest: [u8; 32],
    name: String,
}

impl Secret {
    /// Wraps a configured key. Only its SHA-256 digest is kept.
    pub fn new(value: &str) -> Self {
        Self::named("default", value)
    }

    /// A key with a client name (from `API_KEYS=name:key,...`); the name identifies the client
    /// for rate limiting and logs.
    pub fn named(name: &str, value: &str) -> Self {
        Secret {
            digest: Sha256::digest(value.as_bytes()).into(),
            name: name.to_owned(),
        }
    }

    /// The client name this key stands for.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// True when `candidate` is this secret. Compares equal-length digests with an xor-fold,
    /// so the time taken does not reveal how much of a guess was right.
    pub fn matches(&self, candidate: &str) -> bool {
        let other: [u8; 32] = Sha256::digest(candidate.as_bytes()).into();
        self.digest
            .iter()
            .zip(other.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
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
    pub admin_key: Option<Secret>,
    /// `INTERNAL_API_KEY` and friends; `/api/*` is open when empty.
    pub api_keys: Vec<Secret>,
    /// Per-client limits on the API routes; none when `None`.
    pub rate_limiter: Option<Arc<RateLimiter>>,
    /// Peers whose `X-Forwarded-For` is believed (`TRUSTED_PROXIES`); from anyone else the
    /// header is ignored, so it cannot be forged to dodge limits.
    pub trusted_proxies: Vec<IpAddr>,
    /// Most connections served at once; further ones wait in the kernel's accept queue.
    pub max_connections: usize,
    /// Most requests served on one keep-alive connection before it is closed.
    pub max_requests_per_connection: u32,
    /// The largest request body accepted, in bytes.
    pub body_limit: usize,
    /// How long a client may take to send the request head.
    pub header_read_timeout: Duration,
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
            trusted_proxies: Vec::new(),
            max_connections: 10_000,
            max_requests_per_connection: 10_000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_match_exactly_and_never_print() {
        let s = Secret::new("s3cret-key");
        assert!(s.matches("s3cret-key"));
        assert!(!s.matches("s3cret-kez"));
        assert!(!s.matches(""));
        assert_eq!(format!("{s:?}"), "***");
        let cfg = HttpConfig {
            admin_key: Some(s),
            ..HttpConfig::default()
        };
        assert!(!format!("{cfg:?}").contains("s3cret"));
    }
}
