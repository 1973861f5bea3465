//! The adapter's error, and its mapping to an HTTP status and an RFC 9457 problem document.

use std::time::Duration;

use alistach_domain::{UpstreamError, ValidationError};
use alistach_service::ServiceError;
use hyper::StatusCode;

/// Why a request got an error response.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// No route has this path.
    #[error("no endpoint matches this path")]
    NotFound,
    /// A tracked link this server did not issue (or link tracking is off).
    #[error("{0}")]
    LinkNotFound(&'static str),
    /// The path exists for other methods.
    #[error("method {method} is not allowed on this path; it allows {}", allow.join(", "))]
    MethodNotAllowed {
        /// The method used.
        method: String,
        /// The methods the path answers.
        allow: Vec<&'static str>,
    },
    /// The body is not JSON at all.
    #[error("the request body is not valid JSON: {0}")]
    MalformedJson(String),
    /// A field has the wrong type, is unknown, or breaks a rule (a URL that is not a product
    /// page, too many URLs): 422, naming the field. 400 is only for a body that is not JSON.
    #[error("{field} {rule}")]
    Unprocessable {
        /// The field, as the contract names it (`urls[3]` for list items).
        field: String,
        /// What it must satisfy.
        rule: String,
    },
    /// The body exceeds the limit.
    #[error("the request body exceeds the limit of {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The body could not be read.
    #[error("the request body could not be read: {0}")]
    BodyRead(String),
    /// No key, or a wrong one.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// The caller may not use this at all.
    #[error("{0}")]
    Forbidden(&'static str),
    /// The application core failed.
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// The request target is longer than the limit.
    #[error("the request URL is longer than {limit} bytes")]
    UriTooLong {
        /// The limit in bytes.
        limit: usize,
    },
    /// The request headers are larger than the limit.
    #[error("the request headers exceed {limit} bytes")]
    HeadersTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The client exceeded its rate limit.
    #[error("rate limit exceeded: at most {limit} requests per {window_secs} s; retry in {} s", retry_after.as_secs().max(1))]
    RateLimited {
        /// The limit that was hit.
        limit: u32,
        /// Its window in seconds.
        window_secs: u64,
        /// When a request would be admitted again.
        retry_after: Duration,
    },
    /// Too many failed authentications from this client address.
    #[error("too many failed authentication attempts from this address; retry in {} s", retry_after.as_secs().max(1))]
    AuthThrottled {
        /// When a key will be checked again.
        retry_after: Duration,
    },
    /// The request body stopped arriving.
    #[error("the request body was not received in time (no data for {} s, or past the request deadline)", limit.as_secs())]
    BodyTimeout {
        /// The inactivity limit.
        limit: Duration,
    },
    /// The request did not complete within the total deadline.
    #[error("the request did not complete within {} s (REQUEST_TIMEOUT)", limit.as_secs())]
    RequestTimeout {
        /// The deadline.
        limit: Duration,
    },
    /// `MCP-Protocol-Version` names a revision the MCP endpoint does not speak.
    #[error("MCP-Protocol-Version {given:?} is not supported; this server speaks {supported}")]
    UnsupportedProtocolVersion {
        /// The revision asked for (shortened).
        given: String,
        /// The revisions served, comma-separated.
        supported: String,
    },
    /// The MCP transport refused the request before reading a message (what it accepts, its
    /// content type, its host): the transport's status and words.
    #[error("{detail}")]
    McpRefused {
        /// The status the transport chose (4xx).
        status: StatusCode,
        /// What it said.
        detail: String,
    },
    /// The database could not answer (details go to the log).
    #[error("the database is unavailable")]
    StoreUnavailable,
    /// Alerts are not evaluated by this instance (`ALERT_EVAL_INTERVAL=0`).
    #[error("alerts are not evaluated by this instance (ALERT_EVAL_INTERVAL=0)")]
    AlertsOff,
    /// The request conflicts with work in progress (another instance is syncing).
    #[error("{0}")]
    Conflict(String),
    /// A bug (a panic, an encoding failure); details go to the log, not the client.
    #[error("internal error")]
    Internal,
}

impl From<ValidationError> for HttpError {
    fn from(e: ValidationError) -> Self {
        HttpError::Unprocessable {
            field: e.field.to_owned(),
            rule: e.rule,
        }
    }
}

impl HttpError {
    /// A field error.
    pub fn field(field: impl Into<String>, rule: impl Into<String>) -> Self {
        HttpError::Unprocessable {
            field: field.into(),
            rule: rule.into(),
        }
    }

    /// The response status.
    pub fn status(&self) -> StatusCode {
        match self {
            HttpError::NotFound | HttpError::LinkNotFound(_) => StatusCode::NOT_FOUND,
            HttpError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            HttpError::MalformedJson(_)
            | HttpError::BodyRead(_)
            | HttpError::UnsupportedProtocolVersion { .. } => StatusCode::BAD_REQUEST,
            HttpError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            HttpError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            HttpError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            HttpError::Forbidden(_) => StatusCode::FORBIDDEN,
            HttpError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            HttpError::McpRefused { status, .. } => *status,
            HttpError::StoreUnavailable | HttpError::AlertsOff => StatusCode::SERVICE_UNAVAILABLE,
            HttpError::Conflict(_) => StatusCode::CONFLICT,
            HttpError::RateLimited { .. } | HttpError::AuthThrottled { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            HttpError::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            HttpError::RequestTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            HttpError::UriTooLong { .. } => StatusCode::URI_TOO_LONG,
            HttpError::HeadersTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            HttpError::Service(e) => match e {
                ServiceError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
                ServiceError::NotFound(_) => StatusCode::NOT_FOUND,
                ServiceError::Upstream(u) => upstream_status(u),
                ServiceError::Cache(_) => StatusCode::SERVICE_UNAVAILABLE,
                ServiceError::Codec(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
        }
    }

    /// The problem type slug (`https://alistach.dev/problems/<slug>`) and its title.
    pub fn kind(&self) -> (&'static str, &'static str) {
        match self {
            HttpError::NotFound
            | HttpError::LinkNotFound(_)
            | HttpError::Service(ServiceError::NotFound(_)) => ("not-found", "Not Found"),
            HttpError::MethodNotAllowed { .. } => ("method-not-allowed", "Method Not Allowed"),
            HttpError::MalformedJson(_) => ("malformed-json", "Malformed JSON"),
            HttpError::BodyRead(_) => ("bad-request", "Bad Request"),
            HttpError::UnsupportedProtocolVersion { .. } => (
                "unsupported-protocol-version",
                "Unsupported MCP Protocol Version",
            ),
            HttpError::McpRefused { status, .. } => match status.as_u16() {
                403 => ("forbidden", "Forbidden"),
                404 => ("not-found", "Not Found"),
                406 => ("not-acceptable", "Not Acceptable"),
                413 => ("payload-too-large", "Payload Too Large"),
                415 => ("unsupported-media-type", "Unsupported Media Type"),
                _ => ("bad-request", "Bad Request"),
            },
            HttpError::Unprocessable { .. } | HttpError::Service(ServiceError::Invalid(_)) => {
                ("validation", "Invalid Request")
            }
            HttpError::PayloadTooLarge { .. } => ("payload-too-large", "Payload Too Large"),
            HttpError::Unauthorized(_) => ("unauthorized", "Unauthorized"),
            HttpError::Forbidden(_) => ("forbidden", "Forbidden"),
            HttpError::StoreUnavailable => ("database-unavailable", "Database Unavailable"),
            HttpError::AlertsOff => ("alerts-off", "Alerts Not Evaluated"),
            HttpError::Conflict(_) => ("conflict", "Conflict"),
            HttpError::RateLimited { .. } => ("rate-limited", "Too Many Requests"),
            HttpError::AuthThrottled { .. } => ("auth-throttled", "Too Many Requests"),
            HttpError::BodyTimeout { .. } => ("body-timeout", "Request Timeout"),
            HttpError::RequestTimeout { .. } => ("request-timeout", "Gateway Timeout"),
            HttpError::UriTooLong { .. } => ("uri-too-long", "URI Too Long"),
            HttpError::HeadersTooLarge { .. } => {
                ("headers-too-large", "Request Header Fields Too Large")
            }
            HttpError::Service(ServiceError::Upstream(_)) => ("upstream", "Upstream Error"),
            HttpError::Service(ServiceError::Cache(_)) => {
                ("cache-unavailable", "Cache Unavailable")
            }
            HttpError::Service(_) | HttpError::Internal => ("internal", "Internal Server Error"),
        }
    }

    /// The field and rule, for validation errors.
    pub fn field_error(&self) -> Option<(String, String)> {
        match self {
            HttpError::Unprocessable { field, rule } => Some((field.clone(), rule.clone())),
            HttpError::Service(ServiceError::Invalid(v)) => {
                Some((v.field.to_owned(), v.rule.clone()))
            }
            _ => None,
        }
    }

    /// The upstream failure behind this error.
    pub fn upstream(&self) -> Option<&UpstreamError> {
        match self {
            HttpError::Service(ServiceError::Upstream(u)) => Some(u),
            _ => None,
        }
    }

    /// How long the client should wait, when known.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            HttpError::RateLimited { retry_after, .. }
            | HttpError::AuthThrottled { retry_after } => Some(*retry_after),
            _ => self.upstream().and_then(UpstreamError::retry_after),
        }
    }

    /// The text clients see; internal failures say nothing about internals.
    pub fn detail(&self) -> String {
        match self {
            HttpError::Internal | HttpError::Service(ServiceError::Codec(_)) => {
                "the server failed to handle this request; it has been logged".to_owned()
            }
            HttpError::Service(ServiceError::Cache(_)) => {
                "the cache backend is unavailable".to_owned()
            }
            HttpError::Service(ServiceError::Invalid(v)) => v.to_string(),
            HttpError::Service(ServiceError::NotFound(what)) => what.clone(),
            // The gateway's own words can name this server's outbound address, its app key or
            // internals; clients get the kind and the platform code, the log gets the rest.
            HttpError::Service(ServiceError::Upstream(u)) => upstream_detail(u),
            other => other.to_string(),
        }
    }
}

fn upstream_detail(e: &UpstreamError) -> String {
    let what = match e {
        UpstreamError::BadCredentials { .. } => {
            "the AliExpress gateway rejected this service's app credentials"
        }
        UpstreamError::SignatureRejected { .. } => {
            "the AliExpress gateway rejected this service's request signature"
        }
        UpstreamError::PermissionDenied { .. } => {
            "this service's AliExpress app is not permitted to call this method"
        }
        UpstreamError::RateLimited { .. } => "the AliExpress gateway is rate limiting this service",
        UpstreamError::InvalidRequest { .. } => "the AliExpress gateway refused the request",
        UpstreamError::Timeout => "the AliExpress gateway did not answer in time",
        UpstreamError::Unavailable { .. } => "the AliExpress gateway is unavailable",
        UpstreamError::Malformed { .. } => "the AliExpress gateway sent an unreadable answer",
    };
    match e.code() {
        Some(code) if is_platform_code(code) => format!("{what} ({code})"),
        _ => what.to_owned(),
    }
}

/// Platform codes are short identifiers (`ApiCallLimit`, `isp.temporary-unavailable`); anything
/// else is not passed on.
pub(crate) fn is_platform_code(code: &str) -> bool {
    (1..=64).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn upstream_status(e: &UpstreamError) -> StatusCode {
    match e {
        UpstreamError::Timeout => StatusCode::GATEWAY_TIMEOUT,
        UpstreamError::Unavailable { .. } | UpstreamError::RateLimited { .. } => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        _ => StatusCode::BAD_GATEWAY,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_causes_map_to_gateway_statuses() {
        let s = |u: UpstreamError| HttpError::from(ServiceError::from(u)).status().as_u16();
        assert_eq!(s(UpstreamError::Timeout), 504);
        assert_eq!(s(UpstreamError::Unavailable { reason: "x".into() }), 503);
        assert_eq!(
            s(UpstreamError::RateLimited {
                retry_after: None,
                code: "ApiCallLimit".into(),
                message: String::new()
            }),
            503
        );
        assert_eq!(
            s(UpstreamError::SignatureRejected {
                code: "c".into(),
                message: String::new()
            }),
            502
        );
        assert_eq!(s(UpstreamError::Malformed { reason: "x".into() }), 502);
        assert_eq!(
            HttpError::from(ValidationError::new(
                "page_size",
                "must be between 1 and 50"
            ))
            .status(),
            422
        );
        assert_eq!(
            HttpError::Internal.detail(),
            "the server failed to handle this request; it has been logged"
        );
    }
}
