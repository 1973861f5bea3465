//! The webhook endpoints' use cases behind `/api/admin/webhooks`: add (with a new signing
//! secret, shown once), list, change, disable, delete, send a test event, and read or retry
//! deliveries. Delivery itself is the webhook dispatcher's.

use std::net::IpAddr;
use std::sync::Arc;

use alistach_domain::{Clock, Secret, TenantId, ValidationError};
use alistach_store::{
    Attempt, Delivery, EVENT_TYPES, Endpoint, EndpointUpdate, NewEndpoint, Store, StoreError,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// The longest endpoint URL.
pub const MAX_WEBHOOK_URL_BYTES: usize = 2048;
/// The longest endpoint description, in characters.
pub const MAX_WEBHOOK_DESCRIPTION_CHARS: usize = 500;
/// Random bytes in a signing secret.
const SECRET_BYTES: usize = 32;

/// Why a webhook use case failed.
#[derive(Debug, thiserror::Error)]
pub enum WebhookAdminError {
    /// The input breaks a rule (names the field).
    #[error("invalid input: {0}")]
    Invalid(#[from] ValidationError),
    /// No such endpoint (or delivery).
    #[error("{0}")]
    NotFound(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No random source for a secret.
    #[error("no random source for a signing secret")]
    Random,
}

/// The host of an http(s) URL, if it has one.
fn url_host(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit('@').next()?;
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next()?
    } else {
        host_port.split(':').next()?
    };
    (!host.is_empty()).then_some(host)
}

/// Checks an endpoint URL: absolute http(s) with a host, at most
/// [`MAX_WEBHOOK_URL_BYTES`], printable ASCII, and (unless `allow_private`) not a private
/// address literal or `localhost` (hosts named otherwise are checked when resolved, at
/// every attempt).
pub fn validate_url(url: &str, allow_private: bool) -> Result<(), ValidationError> {
    if url.len() > MAX_WEBHOOK_URL_BYTES || !url.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ValidationError::new(
            "url",
            format!(
                "must be an http(s) URL of at most {MAX_WEBHOOK_URL_BYTES} printable ASCII bytes"
            ),
        ));
    }
    let Some(host) = url_host(url) else {
        return Err(ValidationError::new(
            "url",
            "must be an absolute http:// or https:// URL with a host",
        ));
    };
    if !allow_private {
        let private = match host.parse::<IpAddr>() {
            Ok(ip) => alistach_policy::forbidden_target(ip).is_some(),
            Err(_) => {
                let h = host.trim_end_matches('.').to_ascii_lowercase();
                h == "localhost" || h.ends_with(".localhost")
            }
        };
        if private {
            return Err(ValidationError::new(
                "url",
                "names a private, loopback or link-local address; set WEBHOOK_ALLOW_PRIVATE=true \
                 to deliver inside your network",
            ));
        }
    }
    Ok(())
}

/// Checks event types: one to all of [`EVENT_TYPES`]; answers them deduplicated, in the
/// list's order.
pub fn validate_events(events: &[String]) -> Result<Vec<String>, ValidationError> {
    if events.is_empty() {
        return Err(ValidationError::new(
            "events",
            format!("must name at least one of {}", EVENT_TYPES.join(", ")),
        ));
    }
    if let Some(bad) = events.iter().find(|e| !EVENT_TYPES.contains(&e.as_str())) {
        return Err(ValidationError::new(
            "events",
            format!(
                "names {bad:?}, which is not an event; the events are {}",
                EVENT_TYPES.join(", ")
            ),
        ));
    }
    Ok(EVENT_TYPES
        .iter()
        .filter(|t| events.iter().any(|e| e == *t))
        .map(|t| (*t).to_owned())
        .collect())
}

fn validate_description(d: Option<&str>) -> Result<(), ValidationError> {
    if d.is_some_and(|d| d.chars().count() > MAX_WEBHOOK_DESCRIPTION_CHARS) {
        return Err(ValidationError::new(
            "description",
            format!("must be at most {MAX_WEBHOOK_DESCRIPTION_CHARS} characters"),
        ));
    }
    Ok(())
}

/// A new signing secret: `whsec_` and the base64 of 32 random bytes.
fn new_secret() -> Result<Secret, WebhookAdminError> {
    let mut bytes = [0u8; SECRET_BYTES];
    getrandom::fill(&mut bytes).map_err(|_| WebhookAdminError::Random)?;
    Ok(Secret::new(format!("whsec_{}", STANDARD.encode(bytes))))
}

/// A change asked for (each field optional; an empty description clears it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EndpointChange {
    /// A new URL.
    pub url: Option<String>,
    /// New event types.
    pub events: Option<Vec<String>>,
    /// A new description (empty clears).
    pub description: Option<String>,
    /// Enable or disable.
    pub enabled: Option<bool>,
}

/// The webhook endpoints' use cases.
pub struct WebhookEndpoints {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    allow_private: bool,
}

impl std::fmt::Debug for WebhookEndpoints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookEndpoints")
            .field("allow_private", &self.allow_private)
            .finish_non_exhaustive()
    }
}

impl WebhookEndpoints {
    /// Endpoints kept in `store`; private targets allowed when `allow_private`.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, allow_private: bool) -> Self {
        WebhookEndpoints {
            store,
            clock,
            allow_private,
        }
    }

    fn now_ms(&self) -> i64 {
        i64::try_from(self.clock.now_ms()).unwrap_or(i64::MAX)
    }

    fn not_found(id: u64) -> WebhookAdminError {
        WebhookAdminError::NotFound(format!(
            "no webhook endpoint has the id {id}; GET /api/admin/webhooks lists them"
        ))
    }

    /// Adds an enabled endpoint of `tenant` (it receives that tenant's events) with a new
    /// signing secret (in the answer, shown once).
    pub async fn create(
        &self,
        tenant: &TenantId,
        url: &str,
        events: &[String],
        description: Option<&str>,
    ) -> Result<Endpoint, WebhookAdminError> {
        let url = url.trim();
        validate_url(url, self.allow_private)?;
        let events = validate_events(events)?;
        let description = description.map(str::trim).filter(|d| !d.is_empty());
        validate_description(description)?;
        let new = NewEndpoint {
            tenant: tenant.clone(),
            url: url.to_owned(),
            events,
            description: description.map(str::to_owned),
            secret: new_secret()?,
        };
        Ok(self.store.create_endpoint(&new, self.now_ms()).await?)
    }

    /// Every endpoint of `tenant` (of every tenant when `None`), oldest first.
    pub async fn list(
        &self,
        tenant: Option<&TenantId>,
    ) -> Result<Vec<Endpoint>, WebhookAdminError> {
        Ok(self.store.endpoints(tenant).await?)
    }

    /// One endpoint.
    pub async fn get(&self, id: u64) -> Result<Endpoint, WebhookAdminError> {
        self.store
            .endpoint(id)
            .await?
            .ok_or_else(|| Self::not_found(id))
    }

    /// Changes an endpoint.
    pub async fn update(
        &self,
        id: u64,
        change: EndpointChange,
    ) -> Result<Endpoint, WebhookAdminError> {
        let url = change.url.as_deref().map(str::trim);
        if let Some(url) = url {
            validate_url(url, self.allow_private)?;
        }
        let events = change.events.as_deref().map(validate_events).transpose()?;
        let description = change.description.as_deref().map(str::trim);
        validate_description(description)?;
        let update = EndpointUpdate {
            url: url.map(str::to_owned),
            events,
            description: description.map(|d| (!d.is_empty()).then(|| d.to_owned())),
            enabled: change.enabled,
        };
        self.store
            .update_endpoint(id, &update, self.now_ms())
            .await?
            .ok_or_else(|| Self::not_found(id))
    }

    /// Deletes an endpoint and its deliveries.
    pub async fn delete(&self, id: u64) -> Result<(), WebhookAdminError> {
        if self.store.delete_endpoint(id).await? {
            Ok(())
        } else {
            Err(Self::not_found(id))
        }
    }

    /// Queues a signed test event (type [`crate::TEST_EVENT_TYPE`]) to the endpoint,
    /// whatever its subscriptions; the dispatcher sends it within a second.
    pub async fn test(&self, id: u64) -> Result<Delivery, WebhookAdminError> {
        let endpoint = self.get(id).await?;
        let now = self.now_ms();
        let event = crate::test_event(id, endpoint.tenant, now);
        self.store
            .deliver_to(id, &event, now)
            .await?
            .ok_or_else(|| Self::not_found(id))
    }

    /// An endpoint's deliveries, newest first, at most `limit`, with their attempts.
    pub async fn deliveries(
        &self,
        id: u64,
        limit: u32,
    ) -> Result<Vec<(Delivery, Vec<Attempt>)>, WebhookAdminError> {
        self.get(id).await?;
        Ok(self.store.deliveries(id, limit).await?)
    }

    /// Retries a delivery now.
    pub async fn retry(&self, id: u64, delivery: u64) -> Result<Delivery, WebhookAdminError> {
        self.get(id).await?;
        self.store
            .retry_delivery(id, delivery, self.now_ms())
            .await?
            .ok_or_else(|| {
                WebhookAdminError::NotFound(format!(
                    "webhook endpoint {id} has no delivery {delivery}; GET \
                     /api/admin/webhooks/{id}/deliveries lists them"
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_targets_are_refused_unless_allowed() {
        for url in [
            "http://127.0.0.1:9/hook",
            "http://10.1.2.3/",
            "http://[::1]:80/",
            "http://169.254.169.254/latest/meta-data",
            "http://100.64.0.1/",
            "http://[fd00::1]/",
            "http://[::ffff:192.168.1.1]/",
            "http://localhost:8080/x",
            "https://user@192.168.0.1/",
        ] {
            assert!(validate_url(url, false).is_err(), "{url}");
            assert_eq!(validate_url(url, true), Ok(()), "{url}");
        }
        assert_eq!(validate_url("https://hooks.example.com/in", false), Ok(()));
        assert_eq!(validate_url("https://8.8.8.8/in", false), Ok(()));
        for bad in [
            "ftp://x.example/",
            "hooks.example.com",
            "https:///x",
            "https://a b/",
        ] {
            assert!(validate_url(bad, true).is_err(), "{bad}");
        }
    }

    #[test]
    fn events_are_known_and_deduplicated() {
        let e = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            validate_events(&e(&["order.settled", "order.created", "order.settled"])),
            Ok(e(&["order.created", "order.settled"]))
        );
        assert!(validate_events(&[]).is_err());
        assert!(validate_events(&e(&["order.deleted"])).is_err());
    }

    #[test]
    fn secrets_are_whsec_base64_of_32_bytes() {
        let s = new_secret().unwrap();
        assert!(s.expose().starts_with("whsec_"));
        assert_eq!(s.expose().len(), 6 + 44);
        let key = STANDARD.decode(&s.expose()[6..]).unwrap();
        assert_eq!(key.len(), SECRET_BYTES);
        assert_eq!(format!("{s:?}"), "***");
    }
}
