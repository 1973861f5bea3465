//! CORS: which origins may read answers, preflight answers, and the headers an allowed
//! origin gets (`ALLOWED_ORIGINS`).

use alistach_service::Tenant;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Response, StatusCode};

use crate::app::App;
use crate::body::Body;
use crate::error::HttpError;
use crate::respond::{HttpResponse, problem, put};

const ALLOWED_HEADERS: &str = "authorization, content-type, x-internal-key, x-admin-key, x-request-id, mcp-protocol-version, mcp-method, mcp-name";
const EXPOSED_HEADERS: &str = "x-request-id, x-cache, cache-status, age, retry-after, x-alistach-mode, ratelimit, ratelimit-policy";

impl App {
    /// The request's origin, when CORS allows it for some caller: `ALLOWED_ORIGINS`, or a
    /// tenant's `allowed_origins` (a preflight carries no key, so it cannot say whose).
    pub(crate) fn allowed_origin<'a>(&self, origin: Option<&'a str>) -> Option<&'a str> {
        origin.filter(|o| {
            self.config.allowed_origins.iter().any(|a| a == o)
                || self.tenants.as_ref().is_some_and(|t| t.origin_allowed(o))
        })
    }

    /// The request's origin, when CORS allows it for this caller: `ALLOWED_ORIGINS`, or the
    /// `allowed_origins` of the tenant whose key it presented.
    pub(crate) fn allowed_origin_for<'a>(
        &self,
        origin: Option<&'a str>,
        tenant: Option<&Tenant>,
    ) -> Option<&'a str> {
        origin.filter(|o| {
            self.config.allowed_origins.iter().any(|a| a == o)
                || tenant.is_some_and(|t| t.doc.allowed_origins.iter().any(|a| a == o))
        })
    }

    /// The answer to `OPTIONS`: the allowed methods, and for an allowed origin's preflight the
    /// CORS grant.
    pub(crate) fn preflight(
        &self,
        path: &str,
        headers: &HeaderMap,
        origin: Option<&str>,
        request_id: &str,
    ) -> HttpResponse {
        let mut allow: Vec<&str> = alistach_api::ROUTES
            .iter()
            .filter(|r| r.path == path)
            .map(|r| r.method)
            .collect();
        if allow.is_empty() {
            return problem(&HttpError::NotFound, request_id, None);
        }
        allow.sort_unstable();
        allow.dedup();
        allow.push("OPTIONS");
        let allow = allow.join(", ");
        let mut resp = Response::new(Body::default());
        *resp.status_mut() = StatusCode::NO_CONTENT;
        let h = resp.headers_mut();
        put(h, header::ALLOW, &allow);
        let is_preflight = headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        if is_preflight && self.allowed_origin(origin).is_some() {
            put(h, header::ACCESS_CONTROL_ALLOW_METHODS, &allow);
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static(ALLOWED_HEADERS),
            );
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
        } else if is_preflight && origin.is_some() {
            let e = HttpError::Forbidden("this origin is not allowed by CORS (ALLOWED_ORIGINS)");
            return problem(&e, request_id, Some(path));
        }
        resp
    }

    /// The CORS headers of an answer to `origin`, when it is allowed.
    pub(crate) fn cors_headers(
        &self,
        h: &mut HeaderMap,
        origin: Option<&str>,
        tenant: Option<&Tenant>,
    ) {
        if let Some(origin) = self.allowed_origin_for(origin, tenant) {
            put(h, header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            h.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static(EXPOSED_HEADERS),
            );
        }
    }
}
