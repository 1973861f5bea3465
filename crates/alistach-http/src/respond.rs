//! Response helpers: bodies with a content type, JSON, headers from text, the problem
//! document for an error, and the rate-limit headers.

use std::time::{SystemTime, UNIX_EPOCH};

use alistach_api::types::{FieldError, Problem, UpstreamCause};
use alistach_policy::{Decision, Quota};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Response, StatusCode};
use serde::Serialize;

use crate::body::Body;
use crate::error::HttpError;

/// The response type of every handler.
pub type HttpResponse = Response<Body>;

/// Sets a header from text that may not be a valid header value; invalid text is dropped.
pub(crate) fn put(h: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}

/// A response with a body and content type.
pub(crate) fn body_response(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Body>,
) -> HttpResponse {
    let mut resp = Response::new(body.into());
    // Room for every header an answer gets, so the map never grows and rehashes.
    *resp.headers_mut() = HeaderMap::with_capacity(32);
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// JSON bytes of a value. Our types always serialise; should one not, the client gets a
/// (logged) empty object rather than a panic.
pub(crate) fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_else(|e| {
        tracing::error!(error = %e, "response failed to serialise");
        b"{}".to_vec()
    })
}

/// A 200 JSON response.
pub(crate) fn json<T: Serialize>(value: &T) -> HttpResponse {
    body_response(StatusCode::OK, "application/json", to_json(value))
}

/// Unix seconds now.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The problem document of an error, as a response body states it (and an MCP tool error).
pub(crate) fn problem_document(e: &HttpError, request_id: &str, instance: Option<&str>) -> Problem {
    let (slug, title) = e.kind();
    let mut p = Problem::new(slug, title, e.status().as_u16(), e.detail());
    p.instance = instance.map(str::to_owned);
    p.request_id = (!request_id.is_empty()).then(|| request_id.to_owned());
    p.errors = e
        .field_error()
        .map(|(field, rule)| vec![FieldError::new(field, rule)]);
    p.upstream = e.upstream().map(|u| UpstreamCause {
        kind: u.kind().to_owned(),
        code: u
            .code()
            .filter(|c| crate::error::is_platform_code(c))
            .map(str::to_owned),
        retryable: u.is_retryable(),
    });
    p.retry_after_seconds = e
        .retry_after()
        .map(|d| (d.as_millis().div_ceil(1000) as u64).max(1));
    p
}

/// The problem response for an error.
pub(crate) fn problem(e: &HttpError, request_id: &str, instance: Option<&str>) -> HttpResponse {
    let status = e.status();
    let p = problem_document(e, request_id, instance);
    let retry_after = p.retry_after_seconds;
    let mut resp = body_response(status, "application/problem+json", to_json(&p));
    let h = resp.headers_mut();
    if let Some(secs) = retry_after {
        put(h, header::RETRY_AFTER, &secs.to_string());
    }
    match e {
        HttpError::MethodNotAllowed { allow, .. } => put(h, header::ALLOW, &allow.join(", ")),
        // The rest of the body was not read: the connection cannot carry another request.
        HttpError::PayloadTooLarge { .. }
        | HttpError::BodyRead(_)
        | HttpError::BodyTimeout { .. } => {
            h.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        HttpError::Unauthorized(_) => {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"alistach\""),
            );
        }
        _ => {}
    }
    resp
}

fn quota_name(window: u64) -> std::borrow::Cow<'static, str> {
    match window {
        1 => "per-second".into(),
        60 => "per-minute".into(),
        w => format!("per-{w}s").into(),
    }
}

/// `RateLimit-Policy` for `quotas` (draft-ietf-httpapi-ratelimit-headers, structured fields).
pub(crate) fn policy_header(quotas: &[Quota]) -> Option<HeaderValue> {
    let policy = quotas
        .iter()
        .map(|q| {
            let w = q.period.as_secs().max(1);
            format!("\"{}\";q={};w={}", quota_name(w), q.count, w)
        })
        .collect::<Vec<_>>()
        .join(", ");
    HeaderValue::from_str(&policy).ok()
}

/// `RateLimit-Policy` and `RateLimit` plus the legacy `X-RateLimit-*` trio, all from the
/// limiter's decision.
pub(crate) fn rate_limit_headers(h: &mut HeaderMap, policy: Option<HeaderValue>, d: &Decision) {
    if let Some(policy) = policy {
        h.insert(HeaderName::from_static("ratelimit-policy"), policy);
    }
    let value = HeaderText::new()
        .text("\"")
        .text(&quota_name(d.window_secs))
        .text("\";r=")
        .number(u64::from(d.remaining))
        .text(";t=")
        .number(d.reset_secs)
        .value();
    if let Some(v) = value {
        h.insert(HeaderName::from_static("ratelimit"), v);
    }
    h.insert(
        HeaderName::from_static("x-ratelimit-limit"),
        HeaderValue::from(d.limit),
    );
    h.insert(
        HeaderName::from_static("x-ratelimit-remaining"),
        HeaderValue::from(d.remaining),
    );
    h.insert(
        HeaderName::from_static("x-ratelimit-reset"),
        HeaderValue::from(d.reset_secs),
    );
}

/// A header value assembled on the stack from text and numbers: one allocation (the value's
/// own), no formatting machinery. Text past 96 bytes makes it invalid rather than truncated.
pub(crate) struct HeaderText {
    bytes: [u8; 96],
    len: usize,
    overflow: bool,
}

impl HeaderText {
    pub(crate) fn new() -> Self {
        HeaderText {
            bytes: [0; 96],
            len: 0,
            overflow: false,
        }
    }

    pub(crate) fn text(mut self, s: &str) -> Self {
        let end = self.len + s.len();
        match self.bytes.get_mut(self.len..end) {
            Some(slot) => {
                slot.copy_from_slice(s.as_bytes());
                self.len = end;
            }
            None => self.overflow = true,
        }
        self
    }

    pub(crate) fn number(self, n: u64) -> Self {
        self.text(itoa::Buffer::new().format(n))
    }

    pub(crate) fn value(&self) -> Option<HeaderValue> {
        if self.overflow {
            return None;
        }
        HeaderValue::from_bytes(&self.bytes[..self.len]).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_text_writes_text_and_numbers() {
        let v = HeaderText::new()
            .text("max-age=")
            .number(0)
            .text(", ")
            .number(u64::MAX)
            .value()
            .unwrap();
        assert_eq!(v, "max-age=0, 18446744073709551615");
        assert!(HeaderText::new().text(&"x".repeat(97)).value().is_none());
        assert!(HeaderText::new().text("bad\nvalue").value().is_none());
    }
}
