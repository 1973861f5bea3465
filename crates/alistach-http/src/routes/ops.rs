//! The operations endpoints: root and system info, health and readiness probes, status, cache
//! statistics and clearing, and the Prometheus metrics.

use std::collections::BTreeMap;

use alistach_api::types as api;
use alistach_api::{Access, ROUTES};
use alistach_domain::ApiMode;
use alistach_service::{CacheKind, CacheReport, CircuitState, HistogramSnapshot};
use hyper::StatusCode;

use super::ctx::Ctx;
use crate::app::App;
use crate::convert;
use crate::error::HttpError;
use crate::metrics::Exposition;
use crate::respond::{HttpResponse, body_response, json, unix_now};

impl App {
    pub(super) async fn cache_clear(&self, ctx: &Ctx<'_>) -> Result<HttpResponse, HttpError> {
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

    pub(super) async fn status(&self) -> HttpResponse {
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
            cache_policy: cache_policy_status(report.learner.as_ref()),
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
    pub(super) async fn health(&self) -> HttpResponse {
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

    pub(super) async fn readyz(&self) -> HttpResponse {
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

    pub(super) fn root(&self) -> HttpResponse {
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

    pub(super) fn system_info(&self) -> HttpResponse {
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

    pub(super) async fn metrics_text(&self) -> HttpResponse {
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
            clicks: self.clicks.as_ref().map(|c| c.stats()),
            orders: self.orders.as_ref().map(|o| o.sync.stats()),
            webhooks: self.webhook_dispatcher.as_ref().map(|d| d.stats()),
        }
        .render();
        body_response(StatusCode::OK, Exposition::CONTENT_TYPE, text)
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

/// `CACHE_POLICY` and what the adaptive policy learned, for `/api/status`.
fn cache_policy_status(learner: Option<&alistach_service::LearnerStats>) -> api::CachePolicyStatus {
    let Some(l) = learner else {
        return api::CachePolicyStatus {
            policy: "static".into(),
            ..Default::default()
        };
    };
    let stored: u64 = l.ttl_histogram.iter().sum();
    let bounds = alistach_service::TTL_BUCKETS_S
        .iter()
        .map(|b| Some(*b))
        .chain([None]);
    api::CachePolicyStatus {
        policy: "adaptive".into(),
        keys_tracked: l.keys,
        max_keys: l.max_keys,
        refetches_compared: l.observations,
        changes_observed: l.changes_observed,
        refresh_ahead_calls: l.refresh_ahead,
        refresh_ahead_denied: l.refresh_ahead_denied,
        stale_target: l.target_stale,
        estimated_stale: l.estimated_stale,
        call_share: l.call_share,
        call_budget: l.call_budget,
        #[allow(clippy::cast_precision_loss)]
        mean_ttl_seconds: (stored > 0).then(|| l.ttl_sum_s / stored as f64),
        ttl_distribution: bounds
            .zip(l.ttl_histogram.iter().copied())
            .map(|(le_seconds, count)| api::TtlBucket { le_seconds, count })
            .collect(),
    }
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
