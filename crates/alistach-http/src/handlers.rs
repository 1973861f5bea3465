//! The endpoints: each turns a request into a domain call and the answer into its v1.1.0 shape.

use std::collections::BTreeMap;
use std::time::Instant;

use alistach_api::types as api;
use alistach_api::{Access, ROUTES, RouteId};
use alistach_domain::{ApiMode, Category, LinkRequest, Listing, ProductPage};
use alistach_service::{
    CacheKind, CacheReport, CacheStatus, CircuitState, HistogramSnapshot, ReadMode, Served,
};
use bytes::Bytes;
use hyper::StatusCode;
use hyper::header::{self, HeaderName, HeaderValue};
use serde::Serialize;

use crate::app::{HttpResponse, body_response, json, put, to_json, unix_now};
use crate::body::Body;
use crate::convert;
use crate::metrics::Exposition;
use crate::{App, HttpError};

/// What a handler knows about its request besides the body.
pub(crate) struct Ctx<'a> {
    pub started: Instant,
    pub query: Option<&'a str>,
}

impl Ctx<'_> {
    fn elapsed_ms(&self) -> f64 {
        (self.started.elapsed().as_secs_f64() * 1e3 * 1000.0).round() / 1000.0
    }
}

/// The query parameters that are numbers in a search.
const SEARCH_NUMERIC: &[&str] = &["page_size", "page_no"];

/// How an answer was served, for headers and metadata.
#[derive(Clone, Copy)]
struct Facts {
    status: CacheStatus,
    age_secs: u64,
    ttl_secs: u64,
    stale: bool,
}

impl Facts {
    fn of<T>(s: &Served<T>) -> Self {
        Facts {
            status: s.status,
            age_secs: s.age.as_secs(),
            ttl_secs: s.ttl_remaining.as_secs(),
            stale: s.stale,
        }
    }

    /// `X-Cache`, `Age`, RFC 9211 `Cache-Status`, and `Cache-Control` for GETs.
    fn apply(self, resp: &mut HttpResponse, cacheable_get: bool) {
        let h = resp.headers_mut();
        h.insert("x-cache", HeaderValue::from_static(self.status.x_cache()));
        h.insert(header::AGE, HeaderValue::from(self.age_secs));
        let cache_status = HeaderName::from_static("cache-status");
        match self.status {
            CacheStatus::Hit => put(
                h,
                cache_status,
                &format!("alistach; hit; ttl={}", self.ttl_secs),
            ),
            other => {
                let text = match other {
                    CacheStatus::Stale => "alistach; hit; ttl=0; detail=stale",
                    CacheStatus::Coalesced => "alistach; fwd=uri-miss; collapsed; stored",
                    CacheStatus::Bypass => "alistach; fwd=request; stored",
                    _ => "alistach; fwd=uri-miss; stored",
                };
                h.insert(cache_status, HeaderValue::from_static(text));
            }
        }
        if cacheable_get {
            let max_age = if self.stale { 0 } else { self.ttl_secs };
            put(h, header::CACHE_CONTROL, &format!("max-age={max_age}"));
        } else {
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
    }
}

/// Names the rendering of a product page that the cache stores; change it whenever
/// [`render_page`]'s output changes.
const PAGE_FORMAT: &str = "page1";
/// Names the rendering of the category list; change it whenever [`render_categories`] changes.
const CATEGORIES_FORMAT: &str = "cats1";

/// `SearchData` without `cache_hit`, in the same field order: the cached part of a search answer.
#[derive(Serialize)]
struct PageData {
    products: Vec<api::Product>,
    total_results: u64,
    current_page: u32,
    page_size: u32,
    total_pages: u32,
}

/// A product page as the JSON object that `data` holds, minus `cache_hit` (added per answer).
fn render_page(page: ProductPage) -> Bytes {
    let data = PageData {
        total_results: page.total_records,
        current_page: page.page_no,
        page_size: page.page_size,
        total_pages: page.total_pages,
        products: page.products.into_iter().map(convert::product).collect(),
    };
    Bytes::from(to_json(&data))
}

/// The category tree as the JSON object that `data` holds (the service keeps the count).
fn render_categories(flat: Vec<Category>) -> Bytes {
    Bytes::from(to_json(&api::CategoriesData {
        categories: convert::categories(&flat),
    }))
}

/// `{"success":true,"data":<data>,"metadata":<metadata>}`, splicing the stored `data` object as
/// it is; with `cache_hit`, that flag is appended as the object's last field.
fn envelope(data: &Bytes, cache_hit: Option<bool>, metadata: &impl Serialize) -> Body {
    let mut tail = Vec::with_capacity(512);
    let data = match (cache_hit, data.last()) {
        (Some(hit), Some(b'}')) => {
            // An object with no fields would need no comma; ours always has fields.
            tail.extend_from_slice(if hit {
                br#","cache_hit":true}"#
            } else {
                br#","cache_hit":false}"#
            });
            data.slice(..data.len() - 1)
        }
        _ => data.clone(),
    };
    tail.extend_from_slice(br#","metadata":"#);
    if serde_json::to_writer(&mut tail, metadata).is_err() {
        tail.extend_from_slice(b"{}");
    }
    tail.push(b'}');
    Body::chunks(
        Bytes::from_static(br#"{"success":true,"data":"#),
        data,
        Bytes::from(tail),
    )
}

impl App {
    pub(crate) async fn route(
        &self,
        id: RouteId,
        ctx: &Ctx<'_>,
        body: &[u8],
    ) -> Result<HttpResponse, HttpError> {
        match id {
            RouteId::Root => Ok(self.root()),
            RouteId::Health => Ok(self.health().await),
            RouteId::Livez => Ok(json(&api::Probe {
                status: "ok".into(),
                checks: Vec::new(),
            })),
            RouteId::Readyz => Ok(self.readyz().await),
            RouteId::SearchPost => {
                let req = convert::json_body(body, SEARCH_NUMERIC)?;
                self.search(ctx, &req, Search::Post).await
            }
            RouteId::SearchNoCache => {
                let req = convert::json_body(body, SEARCH_NUMERIC)?;
                self.search(ctx, &req, Search::NoCache).await
            }
            RouteId::SearchGet | RouteId::ProductsGet => {
                let req = convert::query_params(ctx.query, SEARCH_NUMERIC)?;
                self.search(ctx, &req, Search::Get).await
            }
            RouteId::HotProducts => {
                let req = convert::query_params(ctx.query, SEARCH_NUMERIC)?;
                self.search(ctx, &req, Search::Hot).await
            }
            RouteId::ProductDetails => self.details(ctx).await,
            RouteId::Categories => self.categories().await,
            RouteId::AffiliateLinks => {
                let req: api::AffiliateLinksRequest = convert::json_body(body, &["urls"])?;
                let request = convert::link_request(&req.urls, req.link_type.as_deref())?;
                self.links(request, false).await
            }
            RouteId::AffiliateLink => {
                let req: api::AffiliateLinkQuery = convert::query_params(ctx.query, &[])?;
                let request = convert::link_request_one(&req.url, req.link_type.as_deref())?;
                self.links(request, true).await
            }
            RouteId::Status => Ok(self.status().await),
            RouteId::CacheStats => {
                let data = self.cache_stats().await;
                let meta = api::CacheStatsMetadata {
                    timestamp: unix_now(),
                    description: "cache counters since start-up, per tier and overall".into(),
                };
                Ok(json(&api::CacheStatsResponse::ok(data, meta)))
            }
            RouteId::CacheClear => self.cache_clear(ctx).await,
            RouteId::SystemInfo => Ok(self.system_info()),
            RouteId::OpenApi => Ok(body_response(
                StatusCode::OK,
                "application/json",
                self.openapi_full.clone(),
            )),
            RouteId::OpenApiGpt => Ok(body_response(
                StatusCode::OK,
                "application/json",
                self.openapi_gpt.clone(),
            )),
            RouteId::Docs => Ok(body_response(
                StatusCode::OK,
                "text/html; charset=utf-8",
                alistach_api::DOCS_HTML,
            )),
            RouteId::DocsAsset => {
                let mut resp = body_response(
                    StatusCode::OK,
                    "text/javascript; charset=utf-8",
                    alistach_api::RAPIDOC_JS,
                );
                resp.headers_mut().insert(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=86400"),
                );
                Ok(resp)
            }
            RouteId::Metrics => Ok(self.metrics_text().await),
        }
    }

    async fn search(
        &self,
        ctx: &Ctx<'_>,
        req: &api::SearchRequest,
        kind: Search,
    ) -> Result<HttpResponse, HttpError> {
        let listing = if kind == Search::Hot {
            Listing::Hot
        } else {
            Listing::Search
        };
        let query = convert::search_query(req, &self.config, listing)?;
        let read = if kind == Search::NoCache {
            ReadMode::Bypass
        } else {
            ReadMode::Normal
        };
        let served = self
            .catalog
            .products(&query, read, PAGE_FORMAT, render_page)
            .await?;
        let facts = Facts::of(&served);
        let hit = facts.status.is_hit();
        let no_cache = kind == Search::NoCache;
        let metadata = api::SearchMetadata {
            mock_mode: self.mode.is_mock(),
            processing_time_ms: ctx.elapsed_ms(),
            api_version: self.config.version.clone(),
            api_integration: self.mode.as_str().to_owned(),
            cache_hit: hit,
            cache_enabled: true,
            cache_status: facts.status.x_cache().to_owned(),
            stale: facts.stale,
            search_params: convert::search_params(&query),
            cache_bypassed: no_cache.then_some(true),
            fresh_data: no_cache.then_some(true),
        };
        let body = envelope(&served.value.bytes, Some(hit), &metadata);
        let mut resp = body_response(StatusCode::OK, "application/json", body);
        facts.apply(&mut resp, matches!(kind, Search::Get | Search::Hot));
        Ok(resp)
    }

    async fn details(&self, ctx: &Ctx<'_>) -> Result<HttpResponse, HttpError> {
        let req: api::ProductDetailsQuery = convert::query_params(ctx.query, &[])?;
        let query = convert::details_query(&req, &self.config)?;
        let requested = query.normalized().ids.len() as u64;
        let served = self.catalog.details(&query, ReadMode::Normal).await?;
        let facts = Facts::of(&served);
        let products: Vec<api::Product> = served.value.into_iter().map(convert::product).collect();
        let data = api::ProductDetailsData {
            total_results: products.len() as u64,
            products,
        };
        let metadata = api::ProductDetailsMetadata {
            mock_mode: self.mode.is_mock(),
            api_integration: self.mode.as_str().to_owned(),
            cache_hit: facts.status.is_hit(),
            cache_enabled: true,
            cache_status: facts.status.x_cache().to_owned(),
            stale: facts.stale,
            processing_time_ms: ctx.elapsed_ms(),
            requested_ids: requested,
        };
        let mut resp = json(&api::ProductDetailsResponse::ok(data, metadata));
        facts.apply(&mut resp, true);
        Ok(resp)
    }

    async fn categories(&self) -> Result<HttpResponse, HttpError> {
        let served = self
            .catalog
            .categories(ReadMode::Normal, CATEGORIES_FORMAT, render_categories)
            .await?;
        let facts = Facts::of(&served);
        let metadata = api::CategoriesMetadata {
            mock_mode: self.mode.is_mock(),
            api_integration: self.mode.as_str().to_owned(),
            cache_hit: facts.status.is_hit(),
            cache_enabled: true,
            total_categories: served.value.items,
            stale: facts.stale,
        };
        let body = envelope(&served.value.bytes, None, &metadata);
        let mut resp = body_response(StatusCode::OK, "application/json", body);
        facts.apply(&mut resp, true);
        Ok(resp)
    }

    async fn links(&self, request: LinkRequest, get: bool) -> Result<HttpResponse, HttpError> {
        let processed = request.urls.len() as u64;
        let served = self
            .catalog
            .affiliate_links(&request, ReadMode::Normal)
            .await?;
        let facts = Facts::of(&served);
        let links: Vec<api::AffiliateLink> = served
            .value
            .into_iter()
            .map(|l| {
                let mut link = convert::affiliate_link(l.link);
                link.commission_rate = l.commission_rate_percent.map(|r| format!("{r}%"));
                link
            })
            .collect();
        let metadata = api::AffiliateLinksMetadata {
            mock_mode: self.mode.is_mock(),
            api_integration: self.mode.as_str().to_owned(),
            cache_hit: facts.status.is_hit(),
            cache_enabled: true,
            processed_urls: processed,
            generated_links: links.len() as u64,
            stale: facts.stale,
        };
        let data = api::AffiliateLinksData {
            affiliate_links: links,
        };
        let mut resp = json(&api::AffiliateLinksResponse::ok(data, metadata));
        facts.apply(&mut resp, get);
        Ok(resp)
    }

    async fn cache_clear(&self, ctx: &Ctx<'_>) -> Result<HttpResponse, HttpError> {
        let req: api::CacheClearQuery = convert::query_params(ctx.query, &[])?;
        let pattern = req
            .pattern
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty() && *p != "all");
        let kind = pattern.map(str::parse::<CacheKind>).transpose()?;
        let cleared = self.catalog.clear(kind).await?;
        tracing::info!(
            pattern = kind.map_or("all", CacheKind::name),
            cleared,
            "cache cleared"
        );
        let data = api::CacheClearData {
            cleared_entries: cleared,
            pattern: kind.map_or("all", CacheKind::name).to_owned(),
        };
        let meta = api::CacheClearMetadata {
            timestamp: unix_now(),
            operation: "cache_clear".into(),
        };
        Ok(json(&api::CacheClearResponse::ok(data, meta)))
    }

    pub(crate) async fn cache_stats(&self) -> api::CacheStatsData {
        let report = self.catalog.cache_report().await;
        cache_stats_data(&report, self)
    }

    async fn status(&self) -> HttpResponse {
        let report = self.catalog.cache_report().await;
        let stats = cache_stats_data(&report, self);
        let upstream = self.catalog.upstream_stats();
        let limiter = self.config.rate_limiter.as_ref().map(|l| l.stats());
        let redis = report.tiers.iter().find(|t| t.name == "redis");
        let redis_connected = redis.is_some_and(|t| t.connected);
        let circuit = upstream.as_ref().map(|g| g.circuit);
        // Serving, but not at full strength: the upstream is being shielded, the shared cache
        // is gone, or rate limits fell back to per-instance counting.
        let degraded = circuit.is_some_and(|c| c != CircuitState::Closed)
            || redis.is_some_and(|t| !t.connected)
            || limiter.is_some_and(|l| l.degraded);
        let uptime = self.uptime().as_secs();

        let routes = self.metrics.report();
        let mut all = HistogramSnapshot::default();
        for r in &routes {
            all.merge(&r.latency);
        }
        let requests = api::RequestStats {
            total: routes.iter().map(|r| r.counts.requests).sum(),
            client_errors: routes.iter().map(|r| r.counts.client_errors).sum(),
            server_errors: routes.iter().map(|r| r.counts.server_errors).sum(),
            latency_ms: percentiles(&all),
            routes: routes
                .iter()
                .map(|r| api::RouteStats {
                    route: r.route.to_owned(),
                    method: r.method.to_owned(),
                    requests: r.counts.requests,
                    client_errors: r.counts.client_errors,
                    server_errors: r.counts.server_errors,
                    latency_ms: percentiles(&r.latency),
                })
                .collect(),
        };
        let upstream = match &upstream {
            Some(g) => {
                let mut latency = HistogramSnapshot::default();
                for m in &g.methods {
                    latency.merge(&m.latency);
                }
                api::UpstreamStatus {
                    guarded: true,
                    max_qps: Some(g.config.max_qps),
                    calls: g.calls(),
                    failures: g.failures(),
                    short_circuited: g.short_circuited(),
                    local_quota_rejections: g.local_quota(),
                    circuit_state: g.circuit.as_str().into(),
                    circuit_opens: g.opens,
                    latency_ms: percentiles(&latency),
                    methods: g
                        .methods
                        .iter()
                        .map(|m| api::UpstreamMethodStats {
                            method: m.method.into(),
                            calls: m.calls(),
                            failures: m.failures(),
                            short_circuited: m.short_circuited(),
                            latency_ms: percentiles(&m.latency),
                        })
                        .collect(),
                }
            }
            // Unguarded (mock mode): the cache layer's fetches are the upstream calls.
            None => api::UpstreamStatus {
                guarded: false,
                max_qps: None,
                calls: report.layer.upstream_fetches,
                failures: report.layer.fetch_errors,
                circuit_state: "none".into(),
                ..Default::default()
            },
        };
        let data = api::StatusData {
            api_status: if degraded { "degraded" } else { "operational" }.into(),
            integration_mode: self.mode.as_str().into(),
            capabilities: api::Capabilities {
                product_search: true,
                categories: true,
                affiliate_links: true,
                real_api_integration: self.mode == ApiMode::Real,
                // Upstream failures are reported, never papered over with mock data.
                mock_fallback: false,
                intelligent_caching: true,
                redis_caching: redis.is_some(),
                memory_fallback: report.tiers.iter().any(|t| t.name == "memory"),
            },
            performance: api::StatusPerformance {
                cache_hit_rate: format!("{}%", stats.cache_stats.hit_rate_percent),
                cache_hits: stats.cache_stats.hits,
                cache_misses: stats.cache_stats.misses,
                uptime_seconds: uptime,
            },
            cache_performance: stats,
            mode: self.mode.as_str().into(),
            uptime_seconds: uptime,
            requests,
            cache_tiers: report
                .tiers
                .iter()
                .map(|t| api::TierHitRate {
                    tier: t.name.into(),
                    hits: t.hits,
                    misses: t.misses,
                    hit_rate_percent: percent(t.hits, t.hits + t.misses),
                })
                .collect(),
            upstream,
            rate_limits: match limiter {
                Some(l) => api::RateLimitStatus {
                    enabled: true,
                    allowed: l.allowed,
                    rejected: l.rejected,
                    fallbacks: l.fallbacks,
                    degraded: l.degraded,
                    shared: l.shared,
                },
                None => api::RateLimitStatus::default(),
            },
            redis_connected,
        };
        let meta = api::StatusMetadata {
            timestamp: unix_now(),
            version: self.config.version.clone(),
            environment: self.config.environment.clone(),
        };
        json(&api::StatusResponse::ok(data, meta))
    }

    fn service_info(&self) -> api::ServiceInfo {
        let c = &self.config;
        api::ServiceInfo {
            app_key_configured: c.app_key_configured,
            app_secret_configured: c.app_secret_configured,
            tracking_id: c.tracking_id.clone(),
            language: c.language.code().into(),
            currency: c.currency.code().into(),
            environment: c.environment.clone(),
            debug: c.debug,
            mock_mode: self.mode.is_mock(),
            has_real_credentials: c.app_key_configured && c.app_secret_configured,
            sdk_available: true,
            api_integration: self.mode.as_str().into(),
        }
    }

    // Probes read the tiers' health, never their counters: counting asks Redis, and a probe
    // may come many times a second.
    async fn health(&self) -> HttpResponse {
        let tiers = self.catalog.cache_health().await;
        json(&api::Health {
            status: "healthy".into(),
            environment: self.config.environment.clone(),
            mock_mode: self.mode.is_mock(),
            service_info: self.service_info(),
            version: self.config.version.clone(),
            api_integration: self.mode.as_str().into(),
            cache_backend: self.config.cache_backend.clone(),
            redis_connected: tiers.iter().any(|t| t.name == "redis" && t.connected),
        })
    }

    async fn readyz(&self) -> HttpResponse {
        let tiers = self.catalog.cache_health().await;
        let checks: Vec<api::ProbeCheck> = tiers
            .iter()
            .map(|t| api::ProbeCheck {
                name: format!("cache:{}", t.name),
                ok: t.connected,
                detail: (!t.connected).then(|| "not connected; other tiers serve".to_owned()),
            })
            .collect();
        // One reachable tier is enough to serve: a Redis outage degrades, it does not stop us.
        let ready = checks.is_empty() || checks.iter().any(|c| c.ok);
        let probe = api::Probe {
            status: if ready { "ready" } else { "not_ready" }.into(),
            checks,
        };
        let mut resp = json(&probe);
        if !ready {
            *resp.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        }
        resp
    }

    fn endpoints(&self) -> BTreeMap<String, String> {
        ROUTES
            .iter()
            .filter(|r| r.in_openapi && r.access != Access::Admin)
            .map(|r| {
                (
                    r.operation_id.to_owned(),
                    format!("{} {}", r.method, r.path),
                )
            })
            .collect()
    }

    fn root(&self) -> HttpResponse {
        json(&api::RootInfo {
            message: "AliStach: AliExpress affiliate gateway for GPT Actions".into(),
            version: self.config.version.clone(),
            status: "operational".into(),
            integration: self.mode.as_str().into(),
            caching: "enabled".into(),
            docs: "/docs".into(),
            openapi: "/openapi-gpt.json".into(),
            health: "/health".into(),
            endpoints: self.endpoints(),
        })
    }

    fn system_info(&self) -> HttpResponse {
        let info = self.service_info();
        json(&api::SystemInfo {
            service: "AliStach".into(),
            version: self.config.version.clone(),
            environment: self.config.environment.clone(),
            mock_mode: info.mock_mode,
            api_integration: info.api_integration,
            has_real_credentials: info.has_real_credentials,
            sdk_available: info.sdk_available,
            configuration: api::SystemConfiguration {
                language: info.language,
                currency: info.currency,
                tracking_id: info.tracking_id,
            },
            endpoints: self.endpoints(),
        })
    }

    async fn metrics_text(&self) -> HttpResponse {
        let report = self.catalog.cache_report().await;
        let upstream = self.catalog.upstream_stats();
        let text = Exposition {
            metrics: &self.metrics,
            cache: &report,
            upstream: upstream.as_ref(),
            limiter: self.config.rate_limiter.as_ref().map(|l| l.stats()),
            mode: self.mode,
            version: &self.config.version,
            uptime: self.uptime(),
        }
        .render();
        body_response(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            text,
        )
    }
}

/// p50/p90/p99 in milliseconds, rounded to microseconds.
fn percentiles(h: &HistogramSnapshot) -> api::LatencyPercentiles {
    let ms = |q: f64| h.quantile(q).map(|s| (s * 1e6).round() / 1e3);
    api::LatencyPercentiles {
        p50: ms(0.5),
        p90: ms(0.9),
        p99: ms(0.99),
    }
}

/// `part / whole` as a percentage with two decimals; 0 when `whole` is 0.
fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        (part as f64 * 10_000.0 / whole as f64).round() / 100.0
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Search {
    Post,
    NoCache,
    Get,
    Hot,
}

fn cache_stats_data(report: &CacheReport, app: &App) -> api::CacheStatsData {
    let l = report.layer;
    let hits = l.hits + l.stale_served;
    let misses = l.misses + l.bypasses;
    let total = hits + misses;
    let rate = percent(hits, total);
    let redis = report.tiers.iter().find(|t| t.name == "redis");
    let memory = report.tiers.iter().find(|t| t.name == "memory");
    api::CacheStatsData {
        cache_stats: api::CacheCounters {
            hits,
            misses,
            sets: report.sets(),
            errors: report.errors() + l.read_errors + l.store_errors,
            hit_rate_percent: rate,
            total_requests: total,
        },
        cache_config: api::CacheConfig {
            redis_available: redis.is_some(),
            redis_connected: redis.is_some_and(|r| r.connected),
            redis_url_configured: app.config.redis_url_configured,
            default_ttl: app.catalog.ttls().search.as_secs(),
            memory_cache_size: memory.map_or(0, |m| m.entries),
            max_memory_items: app.config.max_memory_items,
        },
        performance_impact: api::PerformanceImpact {
            estimated_api_calls_saved: l.upstream_calls_saved,
            cache_efficiency: match rate {
                r if r >= 70.0 => "high",
                r if r >= 40.0 => "medium",
                _ => "low",
            }
            .into(),
        },
        tiers: report
            .tiers
            .iter()
            .map(|t| api::TierStats {
                name: t.name.to_owned(),
                hits: t.hits,
                misses: t.misses,
                sets: t.sets,
                errors: t.errors,
                evictions: t.evictions,
                entries: t.entries,
                bytes: t.bytes,
                connected: t.connected,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use alistach_domain::{CategoryId, Currency, Decimal, Money, Product, ProductId};

    use super::*;

    fn page() -> ProductPage {
        let mut p = Product::new(ProductId(1005006123456789), "Wireless Earbuds \"Pro\" é");
        p.sale_price = Some(Money::new(
            "17.99".parse::<Decimal>().unwrap(),
            Currency::EUR,
        ));
        p.commission_rate_percent = Some("7.0".parse().unwrap());
        ProductPage {
            products: vec![p.clone(), p],
            page_no: 2,
            page_size: 2,
            total_records: 40,
            total_pages: 20,
        }
    }

    fn metadata() -> api::CategoriesMetadata {
        api::CategoriesMetadata {
            mock_mode: true,
            api_integration: "mock".into(),
            cache_hit: true,
            cache_enabled: true,
            total_categories: 2,
            stale: false,
        }
    }

    #[test]
    fn spliced_search_answers_equal_the_serialised_contract_type() {
        for hit in [true, false] {
            let spliced = envelope(&render_page(page()), Some(hit), &metadata()).to_vec();
            let page = page();
            let expected = serde_json::json!({
                "success": true,
                "data": api::SearchData {
                    total_results: page.total_records,
                    current_page: page.page_no,
                    page_size: page.page_size,
                    total_pages: page.total_pages,
                    products: page.products.into_iter().map(convert::product).collect(),
                    cache_hit: hit,
                },
                "metadata": metadata(),
            });
            let got: serde_json::Value = serde_json::from_slice(&spliced).unwrap();
            assert_eq!(got, expected);
            // And it parses as the contract type itself.
            let _: api::Envelope<api::SearchData, api::CategoriesMetadata> =
                serde_json::from_slice(&spliced).unwrap();
        }
    }

    #[test]
    fn spliced_category_answers_carry_the_tree() {
        let flat = vec![
            Category {
                id: CategoryId(44),
                name: "Consumer Electronics".into(),
                parent_id: None,
            },
            Category {
                id: CategoryId(63705),
                name: "Earphones".into(),
                parent_id: Some(CategoryId(44)),
            },
        ];
        let data = render_categories(flat.clone());
        let got: serde_json::Value =
            serde_json::from_slice(&envelope(&data, None, &metadata()).to_vec()).unwrap();
        assert_eq!(
            got["data"],
            serde_json::to_value(api::CategoriesData {
                categories: convert::categories(&flat)
            })
            .unwrap()
        );
        assert_eq!(got["success"], true);
    }
}
