//! The application handle and the request pipeline: request id, routing, access control, CORS,
//! panic isolation, error mapping, common headers and the request log line.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use alistach_api::types::{FieldError, Problem, UpstreamCause};
use alistach_api::{Access, OpenApiOptions, Profile, Route, RouteId, RouteMiss};
use alistach_domain::ApiMode;
use alistach_policy::{AuthThrottle, Decision, Quota, client_key};
use alistach_service::Catalog;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Body as HttpBody;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde::Serialize;
use tracing::Instrument;

use crate::body::Body;
use crate::config::{MAX_PRESENTED_KEY_BYTES, digest};
use crate::metrics::Metrics;
use crate::server::PeerAddr;
use crate::{HttpConfig, HttpError};

/// The most header bytes (names and values) accepted on one request.
const MAX_HEADER_BYTES: usize = 16 * 1024;

/// The longest request target (path and query) accepted.
const MAX_URI_BYTES: usize = 8 * 1024;

/// The response type of every handler.
pub type HttpResponse = Response<Body>;

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const X_MODE: HeaderName = HeaderName::from_static("x-alistach-mode");
const X_ADMIN_KEY: &str = "x-admin-key";
const X_INTERNAL_KEY: &str = "x-internal-key";
const ALLOWED_HEADERS: &str =
    "authorization, content-type, x-internal-key, x-admin-key, x-request-id";
const EXPOSED_HEADERS: &str = "x-request-id, x-cache, cache-status, age, retry-after, x-alistach-mode, ratelimit, ratelimit-policy";
const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// The service as the HTTP adapter serves it: the catalog, the configuration, the documents
/// built once at start-up, and the counters.
pub struct App {
    pub(crate) catalog: Catalog,
    pub(crate) config: HttpConfig,
    pub(crate) mode: ApiMode,
    pub(crate) openapi_full: Bytes,
    pub(crate) openapi_gpt: Bytes,
    pub(crate) metrics: Metrics,
    pub(crate) started: Instant,
    /// `RateLimit-Policy` for clients on the default quotas, rendered once.
    default_policy: Option<HeaderValue>,
    /// Every configured key by its SHA-256 digest: a presented key is hashed once and looked up.
    keys: HashMap<[u8; 32], KeyGrant>,
    /// Failed authentications per client address.
    auth_throttle: AuthThrottle,
}

/// What a configured key gives access to.
#[derive(Clone, Debug)]
struct KeyGrant {
    name: String,
    admin: bool,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("mode", &self.mode)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl App {
    /// Builds the application; the OpenAPI documents are rendered here, once.
    pub fn new(catalog: Catalog, config: HttpConfig) -> Self {
        let opts = OpenApiOptions {
            public_base_url: config.public_base_url.clone(),
            api_key_security: !config.api_keys.is_empty(),
            version: config.version.clone(),
        };
        if let Err(e) = opts.validate() {
            // Fine for local runs; a GPT Action cannot import the document like this.
            tracing::warn!(error = %e, "the OpenAPI documents name an unusable server");
        }
        let render = |profile| {
            Bytes::from(
                serde_json::to_vec(&alistach_api::openapi(profile, &opts)).unwrap_or_default(),
            )
        };
        let default_policy = config
            .rate_limiter
            .as_ref()
            .and_then(|l| policy_header(l.quotas()));
        let mut keys = HashMap::new();
        for k in &config.api_keys {
            keys.insert(
                k.digest(),
                KeyGrant {
                    name: k.name().to_owned(),
                    admin: false,
                },
            );
        }
        if let Some(admin) = &config.admin_key {
            // The admin key also opens the API routes, as the client "admin".
            keys.insert(
                admin.digest(),
                KeyGrant {
                    name: "admin".to_owned(),
                    admin: true,
                },
            );
        }
        let auth_throttle = AuthThrottle::per_minute(config.auth_failures_per_minute);
        App {
            keys,
            auth_throttle,
            mode: catalog.mode(),
            openapi_full: render(Profile::Full),
            openapi_gpt: render(Profile::Gpt),
            catalog,
            config,
            metrics: Metrics::default(),
            started: Instant::now(),
            default_policy,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &HttpConfig {
        &self.config
    }

    /// Where the data comes from.
    pub fn mode(&self) -> ApiMode {
        self.mode
    }

    /// The catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The per-route counters.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Answers one request. Never fails and never panics outward: errors become problem
    /// documents, and a panic in a handler becomes a logged 500.
    pub async fn handle<B>(&self, req: Request<B>) -> HttpResponse
    where
        B: HttpBody<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let started = Instant::now();
        let request_id = request_id(req.headers());
        let origin = req
            .headers()
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let method = req.method().clone();
        // HEAD is answered as GET; hyper sends the headers and leaves the body out.
        let lookup = if method == Method::HEAD {
            "GET"
        } else {
            method.as_str()
        };
        let found = alistach_api::find(lookup, req.uri().path());
        let route = found.as_ref().ok().copied();
        let template = route.map_or("unmatched", |r| r.path);
        // Per-request logging is at debug level: at the default level the hot path formats and
        // writes nothing. Warnings and errors carry the request id themselves.
        let span = tracing::debug_span!("request", request_id = %request_id, method = %method, route = template);
        let peer = req.extensions().get::<PeerAddr>().map(|p| p.0.ip());
        let mut limit: Option<(Decision, String)> = None;

        let target_len = req.uri().path().len() + req.uri().query().map_or(0, str::len);
        let result = match found {
            Ok(_) if target_len > MAX_URI_BYTES => Err(HttpError::UriTooLong {
                limit: MAX_URI_BYTES,
            }),
            Ok(_) if headers_len(req.headers()) > MAX_HEADER_BYTES => {
                Err(HttpError::HeadersTooLarge {
                    limit: MAX_HEADER_BYTES,
                })
            }
            Ok(route) => {
                let deadline =
                    tokio::time::Instant::from_std(started) + self.config.request_timeout;
                let fut = tokio::time::timeout_at(
                    deadline,
                    self.dispatch(route, req, started, deadline, peer, &mut limit),
                )
                .instrument(span.clone());
                match CatchUnwind(Box::pin(fut)).await {
                    Ok(Ok(result)) => result,
                    Ok(Err(_elapsed)) => Err(HttpError::RequestTimeout {
                        limit: self.config.request_timeout,
                    }),
                    Err(panic) => {
                        let what = panic
                            .downcast_ref::<&str>()
                            .map(|s| (*s).to_owned())
                            .or_else(|| panic.downcast_ref::<String>().cloned())
                            .unwrap_or_default();
                        tracing::error!(request_id = %request_id, method = %method, route = template, panic = %what, "handler panicked");
                        Err(HttpError::Internal)
                    }
                }
            }
            Err(_) if method == Method::OPTIONS => Ok(self.preflight(
                req.uri().path(),
                req.headers(),
                origin.as_deref(),
                &request_id,
            )),
            Err(RouteMiss::NotFound) => Err(HttpError::NotFound),
            Err(RouteMiss::MethodNotAllowed { allow }) => Err(HttpError::MethodNotAllowed {
                method: method.to_string(),
                allow,
            }),
        };
        let mut resp = match result {
            Ok(resp) => resp,
            Err(e) => {
                let c = &self.metrics.connections;
                match e {
                    HttpError::BodyTimeout { .. } => c.body_timeouts.fetch_add(1, Relaxed),
                    HttpError::RequestTimeout { .. } => c.request_timeouts.fetch_add(1, Relaxed),
                    HttpError::AuthThrottled { .. } => c.auth_throttled.fetch_add(1, Relaxed),
                    _ => 0,
                };
                if e.status().is_server_error() {
                    tracing::warn!(request_id = %request_id, method = %method, route = template, status = e.status().as_u16(), error = %e, "request failed");
                }
                self.problem(&e, &request_id, route.map(|r| r.path))
            }
        };
        self.finish(&mut resp, &request_id, origin.as_deref(), route);
        if let (Some((decision, client)), Some(limiter)) = (limit, &self.config.rate_limiter) {
            let quotas = limiter.quotas_for(&client);
            let policy = if std::ptr::eq(quotas, limiter.quotas()) {
                self.default_policy.clone()
            } else {
                policy_header(quotas)
            };
            rate_limit_headers(resp.headers_mut(), policy, &decision);
        }
        let latency = started.elapsed();
        self.metrics
            .record(route.map(|r| r.id), resp.status().as_u16(), latency);
        span.in_scope(|| {
            tracing::debug!(
                status = resp.status().as_u16(),
                latency_ms = latency.as_secs_f64() * 1e3,
                "answered"
            );
        });
        resp
    }

    async fn dispatch<B>(
        &self,
        route: &'static Route,
        req: Request<B>,
        started: Instant,
        deadline: tokio::time::Instant,
        peer: Option<IpAddr>,
        limit: &mut Option<(Decision, String)>,
    ) -> Result<HttpResponse, HttpError>
    where
        B: HttpBody<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        // The route table says who may read metrics and status; METRICS_PUBLIC opens both
        // (for a scraper inside a private network) without changing the published contract.
        let access = match route.id {
            RouteId::Metrics | RouteId::Status if self.config.metrics_public => Access::Public,
            _ => route.access,
        };
        let key_name = self.authorize(access, req.headers(), peer)?;
        if let (Access::Api, Some(limiter)) = (route.access, &self.config.rate_limiter) {
            let client = match key_name {
                Some(name) => format!("key:{name}"),
                None => self.client_ip_key(peer, req.headers()),
            };
            let decision = limiter.check(&client).await;
            *limit = Some((decision, client));
            if !decision.allowed {
                return Err(HttpError::RateLimited {
                    limit: decision.limit,
                    window_secs: decision.window_secs,
                    retry_after: decision.retry_after.unwrap_or(Duration::from_secs(1)),
                });
            }
        }
        let (parts, body) = req.into_parts();
        let ctx = crate::handlers::Ctx {
            started,
            query: parts.uri.query(),
        };
        let body = if parts.method == Method::POST {
            read_body(
                body,
                parts.headers.get(header::CONTENT_LENGTH),
                self.config.body_limit,
                self.config.body_read_timeout,
                deadline,
            )
            .await?
        } else {
            Bytes::new()
        };
        self.route(route.id, &ctx, &body).await
    }

    /// Checks the key the route needs; returns the name of the API key presented, if any.
    ///
    /// A presented key is refused unhashed when it is too long, hashed once and looked up by
    /// digest otherwise; an address that keeps presenting wrong keys is refused (429) without
    /// its keys being checked until its budget refills.
    fn authorize(
        &self,
        access: Access,
        headers: &HeaderMap,
        peer: Option<IpAddr>,
    ) -> Result<Option<&str>, HttpError> {
        let admin_route = match access {
            Access::Public => return Ok(None),
            Access::Api if self.config.api_keys.is_empty() => return Ok(None),
            Access::Api => false,
            Access::Admin if self.config.admin_key.is_none() => {
                return Err(HttpError::Forbidden(
                    "admin endpoints are disabled: set ADMIN_API_KEY",
                ));
            }
            Access::Admin => true,
        };
        let presented = presented_key(
            headers,
            if admin_route {
                X_ADMIN_KEY
            } else {
                X_INTERNAL_KEY
            },
        );
        let Some(presented) = presented else {
            return Err(HttpError::Unauthorized(if admin_route {
                "this endpoint needs the admin key (x-admin-key or Bearer)"
            } else {
                "this endpoint needs an API key (Bearer or x-internal-key)"
            }));
        };
        let client = self.client_ip_key(peer, headers);
        if let Some(retry_after) = self.auth_throttle.blocked(&client) {
            return Err(HttpError::AuthThrottled { retry_after });
        }
        if presented.len() > MAX_PRESENTED_KEY_BYTES {
            self.auth_throttle.failed(&client);
            return Err(HttpError::Unauthorized(
                "the presented key is longer than 256 bytes; no key is that long",
            ));
        }
        match self.keys.get(&digest(presented)) {
            Some(grant) if grant.admin || !admin_route => Ok(Some(grant.name.as_str())),
            Some(_) => Err(HttpError::Forbidden(
                "this API key does not give access to admin endpoints",
            )),
            None => {
                self.auth_throttle.failed(&client);
                Err(HttpError::Unauthorized(if admin_route {
                    "the admin key is not valid"
                } else {
                    "the API key is not valid"
                }))
            }
        }
    }

    /// The client address: the TCP peer, unless the peer is a trusted proxy, in which case
    /// what the proxy chain reports in `X-Forwarded-For` (see `TrustedProxies::client_ip`).
    fn client_ip(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = peer?;
        if self.config.trusted_proxies.is_empty() {
            return Some(peer.to_canonical());
        }
        // A value that is not text cannot be parsed, so it ends the walk like any bad entry.
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .map(|v| v.to_str().unwrap_or("\u{fffd}"));
        Some(self.config.trusted_proxies.client_ip(peer, forwarded))
    }

    /// The rate-limit identity of the client address (IPv6 by network prefix).
    fn client_ip_key(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> String {
        match self.client_ip(peer, headers) {
            Some(ip) => client_key(ip, self.config.ipv6_client_prefix),
            None => "ip:unknown".to_owned(),
        }
    }

    fn allowed_origin<'a>(&self, origin: Option<&'a str>) -> Option<&'a str> {
        origin.filter(|o| self.config.allowed_origins.iter().any(|a| a == o))
    }

    fn preflight(
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
            return self.problem(&HttpError::NotFound, request_id, None);
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
            return self.problem(&e, request_id, Some(path));
        }
        resp
    }

    /// The problem document for an error.
    pub(crate) fn problem(
        &self,
        e: &HttpError,
        request_id: &str,
        instance: Option<&str>,
    ) -> HttpResponse {
        let status = e.status();
        let (slug, title) = e.kind();
        let mut p = Problem::new(slug, title, status.as_u16(), e.detail());
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
        let retry_after = e
            .retry_after()
            .map(|d| (d.as_millis().div_ceil(1000) as u64).max(1));
        p.retry_after_seconds = retry_after;
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

    fn finish(
        &self,
        resp: &mut HttpResponse,
        request_id: &str,
        origin: Option<&str>,
        route: Option<&Route>,
    ) {
        let keyed = route.is_some_and(|r| match r.access {
            Access::Public => false,
            Access::Api => !self.config.api_keys.is_empty(),
            Access::Admin => true,
        });
        let route = route.map(|r| r.id);
        let h = resp.headers_mut();
        // An answer that needed a key is for that client only: shared caches must not keep it.
        if keyed {
            match h.get(header::CACHE_CONTROL).map(HeaderValue::as_bytes) {
                Some(b"no-store") => {}
                Some(v) => {
                    let v = format!("private, {}", String::from_utf8_lossy(v));
                    put(h, header::CACHE_CONTROL, &v);
                }
                None => {
                    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private"));
                }
            }
        }
        put(h, X_REQUEST_ID, request_id);
        h.insert(X_MODE, HeaderValue::from_static(self.mode.as_str()));
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        if route == Some(RouteId::Docs) {
            h.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(alistach_api::docs::DOCS_CSP),
            );
        } else if route != Some(RouteId::DocsAsset) {
            h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
            h.entry(header::CONTENT_SECURITY_POLICY)
                .or_insert(HeaderValue::from_static(API_CSP));
        }
        // Every answer may differ by Origin (CORS headers), so shared caches must key on it.
        h.append(header::VARY, HeaderValue::from_static("Origin"));
        if let Some(origin) = self.allowed_origin(origin) {
            put(h, header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            h.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static(EXPOSED_HEADERS),
            );
        }
    }

    pub(crate) fn uptime(&self) -> Duration {
        self.started.elapsed()
    }
}

fn quota_name(window: u64) -> String {
    match window {
        1 => "per-second".to_owned(),
        60 => "per-minute".to_owned(),
        w => format!("per-{w}s"),
    }
}

/// `RateLimit-Policy` for `quotas` (draft-ietf-httpapi-ratelimit-headers, structured fields).
fn policy_header(quotas: &[Quota]) -> Option<HeaderValue> {
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
fn rate_limit_headers(h: &mut HeaderMap, policy: Option<HeaderValue>, d: &Decision) {
    if let Some(policy) = policy {
        h.insert(HeaderName::from_static("ratelimit-policy"), policy);
    }
    put(
        h,
        HeaderName::from_static("ratelimit"),
        &format!(
            "\"{}\";r={};t={}",
            quota_name(d.window_secs),
            d.remaining,
            d.reset_secs
        ),
    );
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

/// 16 random hex digits.
fn new_request_id() -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut n = fastrand::u64(..);
    let mut id = String::with_capacity(16);
    for _ in 0..16 {
        id.push(char::from(HEX[(n & 0xf) as usize]));
        n >>= 4;
    }
    id
}

fn headers_len(h: &HeaderMap) -> usize {
    h.iter().map(|(k, v)| k.as_str().len() + v.len()).sum()
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

fn presented_key<'a>(headers: &'a HeaderMap, header_name: &str) -> Option<&'a str> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    bearer
        .or_else(|| {
            headers
                .get(header_name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        })
        .filter(|k| !k.is_empty())
}

/// The caller's `X-Request-Id` when it is sane (at most 64 of `[A-Za-z0-9._-]`), else a new one.
pub(crate) fn request_id(headers: &HeaderMap) -> String {
    headers
        .get(X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| {
            !id.is_empty()
                && id.len() <= 64
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        })
        .map_or_else(new_request_id, str::to_owned)
}

/// Reads a request body of at most `limit` bytes. Each chunk must arrive within `idle` of the
/// previous one, and the whole body before `deadline` (the request's); otherwise 408.
async fn read_body<B>(
    body: B,
    length: Option<&HeaderValue>,
    limit: usize,
    idle: Duration,
    deadline: tokio::time::Instant,
) -> Result<Bytes, HttpError>
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let declared = length
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(HttpError::PayloadTooLarge { limit });
    }
    let mut body = std::pin::pin!(body);
    let mut first: Option<Bytes> = None;
    let mut rest: Vec<u8> = Vec::new();
    let mut total = 0usize;
    loop {
        let wait_until = deadline.min(tokio::time::Instant::now() + idle);
        let frame = match tokio::time::timeout_at(wait_until, body.frame()).await {
            Err(_) => return Err(HttpError::BodyTimeout { limit: idle }),
            Ok(None) => break,
            Ok(Some(Err(e))) => return Err(HttpError::BodyRead(e.into().to_string())),
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        total += data.len();
        if total > limit {
            return Err(HttpError::PayloadTooLarge { limit });
        }
        // The usual one-chunk body is kept as it is; only a split one is copied together.
        match &first {
            None if rest.is_empty() => first = Some(data),
            _ => {
                if let Some(f) = first.take() {
                    rest.extend_from_slice(&f);
                }
                rest.extend_from_slice(&data);
            }
        }
    }
    Ok(first.unwrap_or_else(|| Bytes::from(rest)))
}

/// Turns a panic inside the wrapped future into an `Err`, so one bad request cannot take down
/// its connection task.
struct CatchUnwind<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Box<dyn std::any::Any + Send>>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.0.as_mut();
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_kept_only_when_sane() {
        let mut h = HeaderMap::new();
        h.insert(X_REQUEST_ID, HeaderValue::from_static("abc-123_x.y"));
        assert_eq!(request_id(&h), "abc-123_x.y");
        h.insert(X_REQUEST_ID, HeaderValue::from_static("has space"));
        let generated = request_id(&h);
        assert_eq!(generated.len(), 16);
        assert!(generated.bytes().all(|b| b.is_ascii_hexdigit()));
        h.insert(
            X_REQUEST_ID,
            HeaderValue::from_str(&"a".repeat(65)).unwrap(),
        );
        assert_eq!(request_id(&h).len(), 16);
    }

    #[test]
    fn keys_come_from_bearer_or_the_named_header() {
        let mut h = HeaderMap::new();
        assert_eq!(presented_key(&h, X_ADMIN_KEY), None);
        h.insert(X_ADMIN_KEY, HeaderValue::from_static("k1"));
        assert_eq!(presented_key(&h, X_ADMIN_KEY), Some("k1"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer k2"));
        assert_eq!(presented_key(&h, X_ADMIN_KEY), Some("k2"));
    }
}
