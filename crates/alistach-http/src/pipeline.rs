//! The request pipeline: limits on the request head, routing by the contract's route table,
//! authentication and rate limits, the body read under its deadlines, dispatch to the routes,
//! panics and errors turned into problem documents, and the headers every answer gets.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use alistach_api::{Access, Route, RouteId, RouteMiss};
use alistach_policy::Decision;
use alistach_service::{CacheMark, Call};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Body as HttpBody;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request};
use tracing::Instrument;

use crate::app::App;
use crate::auth::Principal;
use crate::error::HttpError;
use crate::mcp::McpEndpoint;
use crate::respond::{CACHE_STATUS, HttpResponse, policy_header, problem, put, rate_limit_headers};
use crate::routes::Ctx;
use crate::server::PeerAddr;

/// The most header bytes (names and values) accepted on one request.
const MAX_HEADER_BYTES: usize = 16 * 1024;
/// The longest request target (path and query) accepted.
const MAX_URI_BYTES: usize = 8 * 1024;

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const X_MODE: HeaderName = HeaderName::from_static("x-alistach-mode");
const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

impl App {
    /// Answers one request. Never fails and never panics outward: errors become problem
    /// documents, and a panic in a handler becomes a logged 500.
    pub async fn handle<B>(&self, req: Request<B>) -> HttpResponse
    where
        B: HttpBody<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let peer = req.extensions().get::<PeerAddr>().map(|p| p.0);
        self.handle_from(req, peer).await
    }

    /// [`App::handle`] for a request from `peer` (the accept loop passes it here rather than
    /// through the request's extensions, which would allocate a map per request).
    pub async fn handle_from<B>(&self, req: Request<B>, peer: Option<SocketAddr>) -> HttpResponse
    where
        B: HttpBody<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let peer = peer.map(|p| p.ip());
        let started = Instant::now();
        let request_id_value = request_id(req.headers());
        // Always ASCII: a kept id was checked, a new one is hex.
        let request_id = request_id_value.to_str().unwrap_or_default();
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
        let mut limit: Option<(Decision, String)> = None;
        // The client as analytics names it, when the rate limits did not name it already, and
        // the MCP tool called.
        let mut seen = Seen::default();

        let target_len = req.uri().path().len() + req.uri().query().map_or(0, str::len);
        // Admin calls are audited: their path is kept (only theirs: the hot path copies nothing).
        let admin_path = route
            .filter(|r| r.access == Access::Admin && self.tenants.is_some())
            .map(|_| {
                (
                    req.uri().path().to_owned(),
                    self.client_ip_key(peer, req.headers()),
                )
            });
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
                // Boxed: inline, the whole dispatch state machine would make this future (which
                // hyper moves once per request) several kilobytes larger.
                // Boxed before it is instrumented, so the large state machine is moved once
                // (into the box), not again into the wrapper.
                let mut dispatch = Box::pin(self.dispatch(
                    route, req, started, deadline, peer, request_id, &mut limit, &mut seen,
                ))
                .instrument(span.clone());
                let guarded = std::pin::pin!(Deadline {
                    inner: Pin::new(&mut dispatch),
                    at: deadline,
                    timer: None,
                });
                match CatchUnwind(guarded).await {
                    Ok(Some(result)) => result,
                    Ok(None) => Err(HttpError::RequestTimeout {
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
                request_id,
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
                problem(&e, request_id, route.map(|r| r.path))
            }
        };
        self.finish(
            &mut resp,
            request_id_value,
            origin.as_deref(),
            route,
            seen.tenant.as_deref(),
        );
        if let (Some((decision, client)), Some(limiter)) = (&limit, &self.config.rate_limiter) {
            let quotas = match &seen.tenant {
                Some(tenant) if seen.tenant_limited => tenant.quotas.as_slice(),
                _ => limiter.quotas_for(client),
            };
            let policy = if std::ptr::eq(quotas, limiter.quotas()) {
                self.default_policy.clone()
            } else {
                policy_header(quotas)
            };
            rate_limit_headers(resp.headers_mut(), policy, decision);
        }
        if let (Some((path, from)), Some(route), Some(actor)) =
            (admin_path, route, seen.audit.take())
        {
            let entry = crate::routes::AuditCall {
                tenant: resp
                    .extensions()
                    .get::<crate::routes::AuditTenant>()
                    .map(|t| t.0.clone()),
                route,
                method: &method,
                path,
                actor,
                actor_tenant: seen.actor_tenant.take(),
                from,
                status: resp.status().as_u16(),
            };
            // Boxed: admin calls only; inline it would grow every request's future.
            Box::pin(self.audit(entry)).await;
        }
        let latency = started.elapsed();
        self.metrics
            .record(route.map(|r| r.id), resp.status().as_u16(), latency);
        if let (Some(analytics), Some(route)) = (&self.analytics, route)
            && analytics.is_recording()
            && counted(route.id)
        {
            let client = limit
                .as_ref()
                .map(|(_, c)| c.as_str())
                .or(seen.client.as_deref())
                .unwrap_or("unknown");
            let tool = seen.tool.as_ref().and_then(|t| t.0.get().copied());
            analytics.record(&Call {
                tenant: seen
                    .tenant
                    .as_ref()
                    .map_or(alistach_domain::TenantId::DEFAULT, |t| t.id().as_str()),
                route: tool.unwrap_or(route.operation_id),
                client,
                cache: cache_mark(resp.headers()),
                status: resp.status().as_u16(),
                latency,
            });
        }
        span.in_scope(|| {
            tracing::debug!(
                status = resp.status().as_u16(),
                latency_ms = latency.as_secs_f64() * 1e3,
                "answered"
            );
        });
        resp
    }

    // The request's facts, each computed once by `handle_from`; a struct would only rename them.
    #[allow(clippy::too_many_arguments)]
    async fn dispatch<B>(
        &self,
        route: &'static Route,
        req: Request<B>,
        started: Instant,
        deadline: tokio::time::Instant,
        peer: Option<IpAddr>,
        request_id: &str,
        limit: &mut Option<(Decision, String)>,
        seen: &mut Seen,
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
        if route.id == RouteId::Mcp {
            McpEndpoint::check(req.headers(), |o| self.allowed_origin(Some(o)).is_some())?;
        }
        let analytics = self.analytics.as_ref().is_some_and(|a| a.is_recording());
        let mut refused = None;
        let who = match self.authorize(access, req.headers(), peer, &mut refused) {
            Ok(who) => who,
            Err(e) => {
                if analytics {
                    seen.client = Some(self.client_ip_key(peer, req.headers()));
                }
                if route.access == Access::Admin {
                    // Who was refused, when the key was valid (else `anonymous`).
                    let who = refused.unwrap_or(Principal::Anonymous);
                    seen.audit = Some(who.actor());
                    seen.actor_tenant = who.tenant().map(|t| t.id().clone());
                }
                return Err(e);
            }
        };
        if route.access == Access::Admin {
            seen.audit = Some(who.actor());
            seen.actor_tenant = who.tenant().map(|t| t.id().clone());
        }
        if let Some(tenant) = who.tenant() {
            seen.tenant = Some(tenant.clone());
        }
        let limited = route.access == Access::Api && self.config.rate_limiter.is_some();
        if analytics && !limited {
            seen.client = Some(self.client_identity(&who, peer, req.headers()));
        }
        if let (Access::Api, Some(limiter)) = (route.access, &self.config.rate_limiter) {
            let client = self.client_identity(&who, peer, req.headers());
            let mut decision = limiter.check(&client).await;
            // A tenant's own limits, over all its keys, after the key's: one tenant spending
            // its quota never touches another's.
            if let Some(tenant) = who.tenant().filter(|t| !t.quotas.is_empty())
                && decision.allowed
            {
                let whole = limiter.check_with(&tenant.limit_key, &tenant.quotas).await;
                if !whole.allowed || whole.remaining < decision.remaining {
                    decision = whole;
                    seen.tenant_limited = true;
                }
            }
            *limit = Some((decision, client));
            if !decision.allowed {
                return Err(HttpError::RateLimited {
                    limit: decision.limit,
                    window_secs: decision.window_secs,
                    retry_after: decision.retry_after.unwrap_or(Duration::from_secs(1)),
                });
            }
        }
        let (mut parts, body) = req.into_parts();
        let ctx = Ctx {
            started,
            query: parts.uri.query(),
            path: parts.uri.path(),
            head: parts.method == Method::HEAD,
            headers: &parts.headers,
            who: &who,
            peer,
            tenants: self.tenants.as_deref(),
        };
        let body = if parts.method == Method::POST || parts.method == Method::PATCH {
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
        if route.id == RouteId::Mcp {
            // MCP reads the request head too: its headers select the protocol revision. The
            // client's identity goes with it, for the experiment's variant choice.
            let tenant = ctx.who.tenant().cloned();
            let running = match &tenant {
                Some(t) => t.experiments.as_ref().is_some_and(|e| e.is_running()),
                None => self.experiments.as_ref().is_some_and(|e| e.is_running()),
            };
            let client = running.then(|| self.client_identity(&who, peer, &parts.headers));
            let mut parts = parts;
            if let Some(client) = client {
                parts.extensions.insert(crate::mcp::ClientId(client));
            }
            if let Some(tenant) = tenant {
                parts.extensions.insert(crate::mcp::TenantCtx(tenant));
            }
            if analytics {
                let note = crate::mcp::ToolNote::default();
                parts.extensions.insert(note.clone());
                seen.tool = Some(note);
            }
            return self.mcp.answer(parts, body, request_id).await;
        }
        let answer = self.route(route.id, &ctx, &body).await;
        crate::respond::recycle_headers(std::mem::take(&mut parts.headers));
        answer
    }

    /// Headers every answer gets: request id, mode, security headers, privacy of keyed
    /// answers, and CORS.
    fn finish(
        &self,
        resp: &mut HttpResponse,
        request_id: HeaderValue,
        origin: Option<&str>,
        route: Option<&Route>,
        tenant: Option<&alistach_service::Tenant>,
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
        h.insert(X_REQUEST_ID, request_id);
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
        self.cors_headers(h, origin, tenant);
    }
}

/// What usage analytics learns during dispatch: the client (when the rate limits did not
/// name it) and, for `/mcp`, the tool called.
#[derive(Default)]
struct Seen {
    client: Option<String>,
    tool: Option<crate::mcp::ToolNote>,
    /// The caller's tenant, when its key is a tenant's.
    tenant: Option<std::sync::Arc<alistach_service::Tenant>>,
    /// The rate-limit decision reported is the tenant's (its policy, not the key's).
    tenant_limited: bool,
    /// On an admin route: who called, for the audit log.
    audit: Option<String>,
    /// On an admin route: the caller's tenant (a tenant-admin key).
    actor_tenant: Option<alistach_domain::TenantId>,
}

/// True for the calls usage analytics counts: the API and MCP calls, not the banner, the
/// probes, the metrics scrape, the documents, the dashboard's page and files, or the
/// tracked-link redirects.
fn counted(id: RouteId) -> bool {
    !matches!(
        id,
        RouteId::Root
            | RouteId::Health
            | RouteId::Livez
            | RouteId::Readyz
            | RouteId::Metrics
            | RouteId::OpenApi
            | RouteId::OpenApiGpt
            | RouteId::Docs
            | RouteId::DocsAsset
            | RouteId::Dashboard
            | RouteId::DashboardAsset
            | RouteId::TrackedLink
    )
}

/// How the cache answered, read from the `Cache-Status` header the catalog routes set (one
/// header lookup; answers without it did not go through the cache).
fn cache_mark(h: &HeaderMap) -> CacheMark {
    let Some(v) = h.get(CACHE_STATUS).map(HeaderValue::as_bytes) else {
        return CacheMark::None;
    };
    // A fresh hit (`alistach; hit; ttl=N`, the common answer) without the search below.
    if v.strip_prefix(b"alistach; hit; ttl=")
        .is_some_and(|ttl| !ttl.is_empty() && ttl.iter().all(u8::is_ascii_digit))
    {
        return CacheMark::Hit;
    }
    let has = |needle: &[u8]| v.windows(needle.len()).any(|w| w == needle);
    if has(b"detail=stale") {
        CacheMark::Stale
    } else if has(b"; hit") {
        CacheMark::Hit
    } else if has(b"collapsed") {
        CacheMark::Coalesced
    } else if has(b"fwd=request") {
        CacheMark::Bypass
    } else {
        CacheMark::Miss
    }
}

/// 16 random hex digits.
fn new_request_id() -> HeaderValue {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut n = fastrand::u64(..);
    let mut id = [0u8; 16];
    for b in &mut id {
        *b = HEX[(n & 0xf) as usize];
        n >>= 4;
    }
    HeaderValue::from_bytes(&id).unwrap_or(HeaderValue::from_static("0000000000000000"))
}

fn headers_len(h: &HeaderMap) -> usize {
    h.iter().map(|(k, v)| k.as_str().len() + v.len()).sum()
}

/// The caller's `X-Request-Id` when it is sane (at most 64 of `[A-Za-z0-9._-]`), else a new one.
pub(crate) fn request_id(headers: &HeaderMap) -> HeaderValue {
    headers
        .get(X_REQUEST_ID)
        .filter(|id| {
            let id = id.as_bytes();
            !id.is_empty()
                && id.len() <= 64
                && id
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        })
        .map_or_else(new_request_id, HeaderValue::clone)
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

/// Turns a panic inside the wrapped (pinned, not boxed) future into an `Err`, so one bad
/// request cannot take down its connection task.
struct CatchUnwind<'a, F>(Pin<&'a mut F>);

impl<F: Future> Future for CatchUnwind<'_, F> {
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

/// The request deadline around `inner`: `None` once `at` passes first. The timer is created
/// only if `inner` is still pending after its first poll, so an answer served at once (a
/// cache hit) never touches the timer wheel.
struct Deadline<'a, F> {
    inner: Pin<&'a mut F>,
    at: tokio::time::Instant,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<F: Future> Future for Deadline<'_, F> {
    type Output = Option<F::Output>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if let Poll::Ready(v) = this.inner.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        let at = this.at;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_status_header_names_the_cache_mark() {
        let mark = |v: Option<&'static str>| {
            let mut h = HeaderMap::new();
            if let Some(v) = v {
                h.insert("cache-status", HeaderValue::from_static(v));
            }
            cache_mark(&h)
        };
        // The values `routes/catalog.rs` writes.
        assert_eq!(mark(Some("alistach; hit; ttl=30")), CacheMark::Hit);
        assert_eq!(
            mark(Some("alistach; hit; ttl=0; detail=stale")),
            CacheMark::Stale
        );
        assert_eq!(
            mark(Some("alistach; fwd=uri-miss; collapsed; stored")),
            CacheMark::Coalesced
        );
        assert_eq!(
            mark(Some("alistach; fwd=request; stored")),
            CacheMark::Bypass
        );
        assert_eq!(
            mark(Some("alistach; fwd=uri-miss; stored")),
            CacheMark::Miss
        );
        assert_eq!(mark(None), CacheMark::None);
        assert!(!counted(RouteId::Health) && !counted(RouteId::TrackedLink));
        assert!(!counted(RouteId::Dashboard) && !counted(RouteId::DashboardAsset));
        assert!(counted(RouteId::Mcp) && counted(RouteId::AnalyticsOverview));
    }

    #[test]
    fn request_ids_are_kept_only_when_sane() {
        let mut h = HeaderMap::new();
        h.insert(X_REQUEST_ID, HeaderValue::from_static("abc-123_x.y"));
        assert_eq!(request_id(&h), "abc-123_x.y");
        h.insert(X_REQUEST_ID, HeaderValue::from_static("has space"));
        let generated = request_id(&h);
        assert_eq!(generated.len(), 16);
        assert!(generated.as_bytes().iter().all(|b| b.is_ascii_hexdigit()));
        h.insert(
            X_REQUEST_ID,
            HeaderValue::from_str(&"a".repeat(65)).unwrap(),
        );
        assert_eq!(request_id(&h).len(), 16);
    }
}
#[cfg(test)]
mod future_size {
    use std::sync::Arc;

    /// hyper moves the future of every request once; with the dispatch state machine inline it
    /// was 3.7 KB (debug build), boxed it is under 1 KB. This keeps it from growing back.
    #[test]
    fn the_per_request_future_stays_small() {
        let clock = Arc::new(alistach_cache::SystemClock);
        let cache = alistach_cache::MemoryCache::new(Default::default(), clock.clone()).unwrap();
        let catalog = alistach_service::Catalog::new(
            Arc::new(alistach_mock::MockCatalog::new()),
            Arc::new(cache),
            clock,
            Default::default(),
        );
        let app = crate::app::App::new(catalog, crate::config::HttpConfig::default());
        let req = hyper::Request::new(http_body_util::Empty::<bytes::Bytes>::new());
        let fut = app.handle(req);
        let size = std::mem::size_of_val(&fut);
        drop(fut);
        assert!(size <= 2048, "App::handle's future is {size} bytes");
    }
}
