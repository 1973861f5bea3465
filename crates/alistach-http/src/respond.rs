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

/// RFC 9211 `Cache-Status`, set by the catalog routes and read back for analytics.
pub(crate) const CACHE_STATUS: HeaderName = HeaderName::from_static("cache-status");

/// The numbers below this are header values without an allocation (see [`decimal`]).
const SMALL_NUMBERS: usize = 10_000;

/// Each number below [`SMALL_NUMBERS`] as four zero-padded digits.
static SMALL_DIGITS: [[u8; 4]; SMALL_NUMBERS] = {
    let mut table = [[b'0'; 4]; SMALL_NUMBERS];
    let mut n = 0;
    while n < SMALL_NUMBERS {
        let (mut rest, mut i) = (n, 4);
        while i > 0 {
            i -= 1;
            table[n][i] = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        n += 1;
    }
    table
};

/// `n` in decimal as a header value. Below [`SMALL_NUMBERS`] (ages, remaining requests,
/// reset times, limits of most deployments) the value borrows a static table, so it costs
/// no allocation and no reference count; larger numbers are formatted.
pub(crate) fn decimal(n: u64) -> HeaderValue {
    if let Some(padded) = usize::try_from(n).ok().and_then(|i| SMALL_DIGITS.get(i)) {
        let digits = match n {
            0..=9 => 1,
            10..=99 => 2,
            100..=999 => 3,
            _ => 4,
        };
        let text: &'static [u8] = &padded[4 - digits..];
        if let Ok(v) = HeaderValue::from_maybe_shared(bytes::Bytes::from_static(text)) {
            return v;
        }
    }
    let text = itoa::Buffer::new().format(n).as_bytes().to_vec();
    HeaderValue::from_maybe_shared(bytes::Bytes::from(text))
        .unwrap_or_else(|_| HeaderValue::from(n))
}

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
    *resp.headers_mut() = answer_headers();
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// Room for every header an answer gets, so the map never grows and rehashes.
const ANSWER_HEADERS: usize = 32;

thread_local! {
    /// Header maps of requests answered on this thread, emptied, for the next answers: a map
    /// with room for [`ANSWER_HEADERS`] is a few kilobytes to allocate and fill. (hyper hands
    /// each request the map of the connection's previous answer, so they go round.)
    static SPARE_HEADERS: std::cell::RefCell<Vec<HeaderMap>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// An empty map with room for every header an answer gets.
fn answer_headers() -> HeaderMap {
    SPARE_HEADERS
        .with(|spare| spare.borrow_mut().pop())
        .unwrap_or_else(|| HeaderMap::with_capacity(ANSWER_HEADERS))
}

/// Keeps a request's header map, emptied, for a later answer on this thread (when it has room
/// for an answer's headers, and a few are not kept already).
pub(crate) fn recycle_headers(mut headers: HeaderMap) {
    if headers.capacity() < ANSWER_HEADERS {
        return;
    }
    headers.clear();
    SPARE_HEADERS.with(|spare| {
        let mut spare = spare.borrow_mut();
        if spare.len() < 4 {
            spare.push(headers);
        }
    });
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

const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
const X_RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const X_RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const X_RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// `RateLimit-Policy` and `RateLimit` plus the legacy `X-RateLimit-*` trio, all from the
/// limiter's decision.
pub(crate) fn rate_limit_headers(h: &mut HeaderMap, policy: Option<HeaderValue>, d: &Decision) {
    if let Some(policy) = policy {
        h.insert(RATELIMIT_POLICY, policy);
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
        h.insert(RATELIMIT, v);
    }
    h.insert(X_RATELIMIT_LIMIT, decimal(u64::from(d.limit)));
    h.insert(X_RATELIMIT_REMAINING, decimal(u64::from(d.remaining)));
    h.insert(X_RATELIMIT_RESET, decimal(d.reset_secs));
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
    fn decimal_values_are_the_numbers_in_decimal() {
        for n in [
            0,
            1,
            9,
            10,
            99,
            100,
            999,
            1000,
            9999,
            10_000,
            123_456,
            u64::MAX,
        ] {
            assert_eq!(decimal(n), HeaderValue::from(n), "{n}");
        }
    }

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
