//! Client configuration: gateway, credentials, defaults for queries, timeouts and retries.

use std::time::Duration;

use alistach_domain::{Currency, Language};

use crate::{Error, SignMethod};

/// The production IOP gateway for business methods.
pub const DEFAULT_GATEWAY_URL: &str = "https://api-sg.aliexpress.com/sync";

pub use alistach_domain::Secret;

/// When and how often a failed call is tried again. Only retryable failures (timeouts,
/// unavailability, flow control) are retried; the whole call, waits included, never runs past
/// `total_deadline`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = never retry).
    pub max_attempts: u32,
    /// The first backoff; each further one doubles, with jitter.
    pub base_backoff: Duration,
    /// The longest backoff between two attempts (a platform ban may still ask for longer, as
    /// long as the deadline allows).
    pub max_backoff: Duration,
    /// The budget for the whole call, waits and retries included.
    pub total_deadline: Duration,
}

impl RetryPolicy {
    /// One attempt, no retries.
    pub const fn no_retries(total_deadline: Duration) -> Self {
        RetryPolicy {
            max_attempts: 1,
            base_backoff: Duration::ZERO,
            max_backoff: Duration::ZERO,
            total_deadline,
        }
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            base_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(4),
            total_deadline: Duration::from_secs(20),
        }
    }
}

/// Everything the client needs. Build with [`ClientConfig::new`] and adjust fields.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// The `/sync` endpoint; injectable so tests can point at a fake.
    pub gateway_url: String,
    /// The app key (not secret: it travels in every request).
    pub app_key: String,
    /// The app secret that signs requests.
    pub app_secret: Secret,
    /// The Portals tracking id; required for links, and it makes query results carry tracked
    /// promotion links.
    pub tracking_id: Option<String>,
    /// `target_currency` when a request names none.
    pub currency: Currency,
    /// `target_language` when a request names none.
    pub language: Language,
    /// How long to wait for a TCP/TLS connection.
    pub connect_timeout: Duration,
    /// How long one attempt may take, answer included.
    pub request_timeout: Duration,
    /// Retries and the total deadline.
    pub retry: RetryPolicy,
    /// How requests are signed.
    pub sign_method: SignMethod,
}

impl ClientConfig {
    /// A configuration for the production gateway with sensible defaults: USD, English,
    /// 5 s connect, 10 s per attempt, 3 attempts within 20 s, `sha256` signing.
    pub fn new(app_key: impl Into<String>, app_secret: impl Into<Secret>) -> Self {
        ClientConfig {
            gateway_url: DEFAULT_GATEWAY_URL.to_owned(),
            app_key: app_key.into(),
            app_secret: app_secret.into(),
            tracking_id: None,
            currency: Currency::USD,
            language: Language::EN,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            sign_method: SignMethod::Sha256,
        }
    }

    /// Checks every field, naming the first that is wrong.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |field: &'static str, rule: &str| {
            Err(Error::Config {
                field,
                rule: rule.to_owned(),
            })
        };
        let url = self.gateway_url.trim();
        match reqwest::Url::parse(url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {
                if !u.username().is_empty() || u.password().is_some() {
                    return bad("gateway_url", "must not carry credentials");
                }
            }
            _ => {
                return bad(
                    "gateway_url",
                    "must be an absolute http(s) URL such as https://api-sg.aliexpress.com/sync",
                );
            }
        }
        if self.app_key.trim().is_empty() {
            return bad("app_key", "must not be empty");
        }
        if self
            .app_key
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            return bad("app_key", "must not contain whitespace");
        }
        if self.app_secret.expose().trim().is_empty() {
            return bad("app_secret", "must not be empty");
        }
        if self
            .tracking_id
            .as_deref()
            .is_some_and(|t| t.trim().is_empty() || t.chars().any(char::is_control))
        {
            return bad("tracking_id", "must be a non-empty tracking id when set");
        }
        if self.connect_timeout.is_zero() {
            return bad("connect_timeout", "must be greater than zero");
        }
        if self.request_timeout.is_zero() {
            return bad("request_timeout", "must be greater than zero");
        }
        if self.retry.max_attempts == 0 {
            return bad("retry.max_attempts", "must be at least 1");
        }
        if self.retry.total_deadline.is_zero() {
            return bad("retry.total_deadline", "must be greater than zero");
        }
        if self.retry.max_backoff < self.retry.base_backoff {
            return bad(
                "retry.max_backoff",
                "must not be shorter than retry.base_backoff",
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_shows_in_debug() {
        let config = ClientConfig::new("12345678", "super-secret-value");
        let debug = format!("{config:?}");
        assert!(!debug.contains("super-secret-value"), "{debug}");
        assert!(debug.contains("***"));
        assert_eq!(config.app_secret.expose(), "super-secret-value");
    }

    #[test]
    fn validation_names_the_field() {
        let field = |c: &ClientConfig| match c.validate() {
            Err(Error::Config { field, .. }) => field,
            other => panic!("expected a config error, got {other:?}"),
        };
        assert!(ClientConfig::new("123", "s").validate().is_ok());
        let mut c = ClientConfig::new("123", "s");
        c.gateway_url = "ftp://x/sync".into();
        assert_eq!(field(&c), "gateway_url");
        c.gateway_url = "not a url".into();
        assert_eq!(field(&c), "gateway_url");
        c.gateway_url = "https://user:pw@example.com/sync".into();
        assert_eq!(field(&c), "gateway_url");
        assert_eq!(field(&ClientConfig::new(" ", "s")), "app_key");
        assert_eq!(field(&ClientConfig::new("1 2", "s")), "app_key");
        assert_eq!(field(&ClientConfig::new("1", "")), "app_secret");
        let mut c = ClientConfig::new("1", "s");
        c.tracking_id = Some(String::new());
        assert_eq!(field(&c), "tracking_id");
        let mut c = ClientConfig::new("1", "s");
        c.request_timeout = Duration::ZERO;
        assert_eq!(field(&c), "request_timeout");
        let mut c = ClientConfig::new("1", "s");
        c.retry.max_attempts = 0;
        assert_eq!(field(&c), "retry.max_attempts");
    }
}
