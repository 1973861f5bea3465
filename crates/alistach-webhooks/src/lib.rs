//! The webhook sender: implements [`alistach_domain::WebhookSender`] with one reused
//! `reqwest::Client`, signing every message with the Standard Webhooks specification's own
//! Rust library (`standardwebhooks`: `webhook-signature` = `v1,` + base64 of HMAC-SHA256 over
//! `{id}.{timestamp}.{body}` with the key of the `whsec_` secret).
//!
//! Each attempt is one POST (`content-type: application/json`, `webhook-id`,
//! `webhook-timestamp`, `webhook-signature`) with its own timeout; redirects are not followed
//! (a 3xx is the answer, which the dispatcher counts as a failure); at most 64 KiB of the
//! answer's body is read, then the connection is dropped.
//!
//! The SSRF guard: only `http` and `https`; an IP literal, and every address a name resolves
//! to, must be a public unicast address (see [`forbidden`]) unless `allow_private` is set.
//! Names are resolved once, by the client's own resolver, and the checked addresses are the
//! ones connected to, so DNS rebinding cannot slip past the check. No proxy is used (one read
//! from the environment would resolve the target itself, past the guard).

mod guard;

use std::error::Error as StdError;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use alistach_domain::{Secret, WebhookError, WebhookMessage, WebhookSender};
use async_trait::async_trait;
use reqwest::Url;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use standardwebhooks::Webhook;

pub use guard::forbidden;
use guard::{GuardedResolver, RefusedAddress};

/// The most of an answer's body read before the connection is dropped.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// How the sender sends.
#[derive(Clone, Debug)]
pub struct SenderConfig {
    /// The most one attempt may take, connecting and reading the answer's status included.
    pub timeout: Duration,
    /// Allow private, loopback and link-local targets (`WEBHOOK_ALLOW_PRIVATE=true`; tests).
    pub allow_private: bool,
}

impl Default for SenderConfig {
    /// Ten seconds per attempt; private targets refused.
    fn default() -> Self {
        SenderConfig {
            timeout: Duration::from_secs(10),
            allow_private: false,
        }
    }
}

/// Why the sender could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A zero timeout.
    #[error("the webhook timeout must be positive")]
    ZeroTimeout,
}

/// Sends signed webhook messages over HTTP(S).
#[derive(Clone, Debug)]
pub struct HttpWebhookSender {
    /// Built at the first attempt: its TLS roots cost about 2 MiB of memory, which a
    /// deployment without webhooks never needs (the idle footprint is a target).
    http: Arc<std::sync::OnceLock<reqwest::Client>>,
    config: SenderConfig,
}

impl HttpWebhookSender {
    /// A sender with its own client (built at the first attempt).
    pub fn new(config: SenderConfig) -> Result<HttpWebhookSender, BuildError> {
        if config.timeout.is_zero() {
            return Err(BuildError::ZeroTimeout);
        }
        Ok(HttpWebhookSender {
            http: Arc::new(std::sync::OnceLock::new()),
            config,
        })
    }

    /// The HTTP client: no redirects, no proxies, the attempt's timeout, and the resolver
    /// that refuses forbidden addresses.
    fn client(&self) -> Result<&reqwest::Client, WebhookError> {
        if let Some(c) = self.http.get() {
            return Ok(c);
        }
        let built = reqwest::Client::builder()
            .user_agent(concat!("alistach-webhooks/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .referer(false)
            .connect_timeout(self.config.timeout)
            .timeout(self.config.timeout)
            .pool_max_idle_per_host(2)
            .dns_resolver(Arc::new(GuardedResolver {
                allow_private: self.config.allow_private,
            }))
            .build()
            .map_err(|e| {
                WebhookError::Connect(format!(
                    "the webhook HTTP client could not be built: {}",
                    e.without_url()
                ))
            })?;
        Ok(self.http.get_or_init(|| built))
    }

    /// How it sends.
    pub fn config(&self) -> &SenderConfig {
        &self.config
    }

    /// The URL, when it may be called: http(s), with a host, not an IP literal that is
    /// forbidden. Names are checked when resolved.
    fn target(&self, url: &str) -> Result<Url, WebhookError> {
        let url = Url::parse(url).map_err(|_| WebhookError::Refused("not a URL".to_owned()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(WebhookError::Refused(format!(
                "the scheme {} is not http or https",
                url.scheme()
            )));
        }
        let Some(host) = url.host_str().filter(|h| !h.is_empty()) else {
            return Err(WebhookError::Refused("the URL has no host".to_owned()));
        };
        // An IP literal is connected to without resolution, so it is checked here.
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = literal.parse::<IpAddr>()
            && !self.config.allow_private
            && let Some(why) = forbidden(ip)
        {
            return Err(WebhookError::Refused(format!("{ip} is {why}")));
        }
        Ok(url)
    }

    async fn attempt(
        &self,
        url: Url,
        message: &WebhookMessage<'_>,
        signature: String,
    ) -> Result<u16, WebhookError> {
        let header = |v: &str| {
            HeaderValue::from_str(v)
                .map_err(|_| WebhookError::Refused("a header value is not visible ASCII".into()))
        };
        let request = self
            .client()?
            .post(url)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(standardwebhooks::HEADER_WEBHOOK_ID, header(message.id)?)
            .header(
                standardwebhooks::HEADER_WEBHOOK_TIMESTAMP,
                HeaderValue::from(message.timestamp_s),
            )
            .header(
                standardwebhooks::HEADER_WEBHOOK_SIGNATURE,
                header(&signature)?,
            )
            .body(message.body.to_vec());
        self.exchange(request).await
    }

    /// Sends `request` and answers its status. The client's timeout covers the exchange; this
    /// one bounds it up to the answer's status (resolution included) whatever the client
    /// does. A little of the body is read (so a short answer lets the connection be reused),
    /// within the timeout, at most [`MAX_RESPONSE_BYTES`]; the rest goes with the connection.
    async fn exchange(&self, request: reqwest::RequestBuilder) -> Result<u16, WebhookError> {
        let timeout = self.config.timeout;
        let mut response = match tokio::time::timeout(timeout, request.send()).await {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => return Err(self.classify(&e)),
            Err(_) => return Err(WebhookError::Timeout(timeout.as_secs().max(1))),
        };
        let status = response.status().as_u16();
        let _ = tokio::time::timeout(timeout, async {
            let mut read = 0usize;
            while read <= MAX_RESPONSE_BYTES {
                match response.chunk().await {
                    Ok(Some(chunk)) => read += chunk.len(),
                    Ok(None) | Err(_) => break,
                }
            }
        })
        .await;
        Ok(status)
    }

    /// POSTs `body` as JSON to `url`, unsigned (a Slack-compatible incoming webhook, say),
    /// with the same SSRF guard, timeout and answer handling as a signed attempt: the answer's
    /// status. The URL never reaches an error (it may carry a token).
    pub async fn post_json(&self, url: &str, body: &[u8]) -> Result<u16, WebhookError> {
        let url = self.target(url)?;
        let request = self
            .client()?
            .post(url)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(body.to_vec());
        self.exchange(request).await
    }

    fn classify(&self, e: &reqwest::Error) -> WebhookError {
        let mut source: Option<&(dyn StdError + 'static)> = Some(e);
        while let Some(s) = source {
            if let Some(refused) = s.downcast_ref::<RefusedAddress>() {
                return WebhookError::Refused(refused.reason.clone());
            }
            source = s.source();
        }
        if e.is_timeout() {
            return WebhookError::Timeout(self.config.timeout.as_secs().max(1));
        }
        WebhookError::Connect(describe(e))
    }
}

/// An error and its causes, without the URL (which may carry a receiver's token).
fn describe(e: &reqwest::Error) -> String {
    let mut out = String::new();
    let mut source = e.source();
    while let Some(s) = source {
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&s.to_string());
        source = s.source();
    }
    if out.is_empty() {
        out = if e.is_connect() {
            "connecting failed".to_owned()
        } else if e.is_body() || e.is_request() {
            "the request failed".to_owned()
        } else {
            "the exchange failed".to_owned()
        };
    }
    out
}

/// The signature of one message (`v1,<base64>`), with the standard library.
pub fn sign(
    secret: &Secret,
    id: &str,
    timestamp_s: i64,
    body: &[u8],
) -> Result<String, WebhookError> {
    let key = secret
        .expose()
        .strip_prefix("whsec_")
        .ok_or(WebhookError::BadSecret)?;
    if key.is_empty() {
        return Err(WebhookError::BadSecret);
    }
    let webhook = Webhook::new(key).map_err(|_| WebhookError::BadSecret)?;
    webhook
        .sign(id, timestamp_s, body)
        .map_err(|_| WebhookError::Refused("the body is not UTF-8 text".to_owned()))
}

#[async_trait]
impl WebhookSender for HttpWebhookSender {
    async fn send(&self, message: &WebhookMessage<'_>) -> Result<u16, WebhookError> {
        let url = self.target(message.url)?;
        let signature = sign(
            message.secret,
            message.id,
            message.timestamp_s,
            message.body,
        )?;
        self.attempt(url, message, signature).await
    }
}
