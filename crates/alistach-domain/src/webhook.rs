//! The port that sends webhook messages (Standard Webhooks): the service decides what to send
//! and when; an adapter signs and POSTs.

use async_trait::async_trait;

use crate::Secret;

/// One attempt to deliver one event to one endpoint.
#[derive(Clone, Copy, Debug)]
pub struct WebhookMessage<'a> {
    /// The endpoint's URL.
    pub url: &'a str,
    /// The endpoint's signing secret (`whsec_…`).
    pub secret: &'a Secret,
    /// The event id: the `webhook-id` header, the same on every attempt.
    pub id: &'a str,
    /// The attempt's time, Unix seconds: the `webhook-timestamp` header.
    pub timestamp_s: i64,
    /// The JSON body.
    pub body: &'a [u8],
}

/// Why an attempt failed before the receiver answered with a status.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// The target may not be called (a private, loopback or link-local address without
    /// `WEBHOOK_ALLOW_PRIVATE`, or not http(s)); says why.
    #[error("the target is not allowed: {0}")]
    Refused(String),
    /// No answer within the attempt's timeout.
    #[error("no answer within {0} s")]
    Timeout(u64),
    /// The connection failed (refused, reset, DNS, TLS); says how, never with a secret.
    #[error("the connection failed: {0}")]
    Connect(String),
    /// The secret is not a usable `whsec_` secret.
    #[error("the signing secret is unusable")]
    BadSecret,
}

/// Sends webhook messages: signs each (`webhook-id`, `webhook-timestamp`,
/// `webhook-signature`) and POSTs it, without following redirects; answers the receiver's
/// HTTP status.
#[async_trait]
pub trait WebhookSender: Send + Sync + 'static {
    /// One attempt.
    async fn send(&self, message: &WebhookMessage<'_>) -> Result<u16, WebhookError>;
}
