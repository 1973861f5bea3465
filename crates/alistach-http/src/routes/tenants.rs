//! Tenants on the admin side: who may reach which admin route and whose data it shows
//! ([`Scope`]), the audit log of admin calls, and the tenant, key, usage and audit endpoints.

use std::sync::Arc;

use alistach_api::types as api;
use alistach_api::{Route, RouteId, path_parameters, route_of};
use alistach_domain::{Role, TenantId, platform_time};
use alistach_service::{
    ServiceError, Tenant, TenantCredentials, TenantDoc, TenantError, TenantLimits, TenantTtls,
    Tenants, UsageScope,
};
use alistach_store::{AuditQuery, NewAuditEntry, TenantKeyRecord};
use hyper::{Method, StatusCode};

use super::ctx::Ctx;
use crate::app::App;
use crate::convert;
use crate::error::HttpError;
use crate::respond::{HttpResponse, json};

/// Whose data an admin call reads or changes.
pub(crate) enum Scope {
    /// The super-admin (`ADMIN_API_KEY`): every tenant's.
    All,
    /// A tenant-admin key: its tenant's only.
    Tenant(Arc<Tenant>),
}

impl Scope {
    /// The tenant a created thing belongs to: the key's tenant, or the deployment's implicit
    /// tenant for the super-admin.
    pub(crate) fn owner(&self) -> TenantId {
        match self {
            Scope::All => TenantId::default_tenant(),
            Scope::Tenant(t) => t.id().clone(),
        }
    }

    /// The tenant reads are limited to (`None`: every tenant).
    pub(crate) fn filter(&self) -> Option<&TenantId> {
        match self {
            Scope::All => None,
            Scope::Tenant(t) => Some(t.id()),
        }
    }

    /// True when this caller may see or change something of `owner`.
    pub(crate) fn covers(&self, owner: &TenantId) -> bool {
        match self {
            Scope::All => true,
            Scope::Tenant(t) => t.id() == owner,
        }
    }

    /// Whose usage analytics reads.
    pub(crate) fn usage(&self) -> UsageScope {
        match self {
            Scope::All => UsageScope::all(),
            Scope::Tenant(t) => UsageScope::tenant(t.id().as_str(), &t.doc.tracking_id),
        }
    }

    /// The tracking id orders and clicks are limited to (`None`: every one).
    pub(crate) fn tracking_id(&self) -> Option<&str> {
        match self {
            Scope::All => None,
            Scope::Tenant(t) => Some(t.doc.tracking_id.as_str()),
        }
    }
}

/// The admin routes only the operator (`ADMIN_API_KEY`) may call: they concern the whole
/// deployment (its cache, its metrics, its order sync, its alerts).
pub(crate) fn operator_only(id: RouteId) -> bool {
    matches!(
        id,
        RouteId::CacheStats
            | RouteId::CacheClear
            | RouteId::AdminOrdersSync
            | RouteId::Metrics
            | RouteId::Alerts
            | RouteId::TenantCreate
            | RouteId::TenantUpdate
            | RouteId::TenantDelete
    )
}

/// Set on an answer whose call concerns a tenant its path does not name (a tenant just
/// created): the audit log records it.
#[derive(Clone, Debug)]
pub(crate) struct AuditTenant(pub(crate) TenantId);

/// What the pipeline knows of an admin call once it is answered.
pub(crate) struct AuditCall<'a> {
    /// The tenant the answer says the call concerned.
    pub tenant: Option<TenantId>,
    pub route: &'static Route,
    pub method: &'a Method,
    pub path: String,
    pub actor: String,
    pub actor_tenant: Option<TenantId>,
    pub from: String,
    pub status: u16,
}

impl Ctx<'_> {
    /// Whose data this admin call may reach.
    pub(crate) fn scope(&self) -> Scope {
        match self.who.tenant() {
            Some(t) => Scope::Tenant(t.clone()),
            None => Scope::All,
        }
    }
}

/// The tenant id a path of `/api/admin/tenants/{id}…` names.
pub(crate) fn path_tenant(path: &str) -> Option<&str> {
    path.strip_prefix("/api/admin/tenants/")
        .map(|rest| rest.split('/').next().unwrap_or_default())
        .filter(|id| !id.is_empty())
}

impl App {
    /// Records an admin call in the audit log: every change, and every refused attempt
    /// (reads that succeed are not actions; the dashboard reads every few seconds). Awaited,
    /// so an answered change is recorded; a store failure is logged.
    pub(crate) async fn audit(&self, call: AuditCall<'_>) {
        let Some(tenants) = &self.tenants else {
            return;
        };
        let refused = matches!(call.status, 401 | 403);
        if *call.method == Method::GET && !refused {
            return;
        }
        let tenant = call
            .tenant
            .clone()
            .or_else(|| path_tenant(&call.path).and_then(|id| TenantId::parse(id).ok()))
            .or_else(|| call.actor_tenant.clone());
        let entry = NewAuditEntry {
            at_ms: tenants.now_ms(),
            actor: call.actor,
            actor_tenant: call.actor_tenant,
            tenant,
            action: call.route.operation_id.to_owned(),
            target: format!("{} {}", call.method, call.path),
            from: call.from,
            status: call.status,
        };
        if let Err(e) = tenants.audit_record(&entry).await {
            tracing::warn!(error = %e, action = %entry.action, "an admin action was not recorded in the audit log");
        }
    }

    /// Refuses a tenant-admin key on a route only the operator may call.
    pub(crate) fn check_operator(&self, id: RouteId, ctx: &Ctx<'_>) -> Result<(), HttpError> {
        // Only tenant keys are limited here (every route in `operator_only` is an admin
        // route); the deployment's keys pass as before. Two cheap checks: this runs on every
        // request.
        if ctx.who.tenant().is_some() && operator_only(id) {
            return Err(HttpError::Forbidden(
                "this endpoint concerns the whole deployment: only the operator's ADMIN_API_KEY \
                 may call it, not a tenant-admin key",
            ));
        }
        Ok(())
    }
}

/// A tenant use case's failure as an answer.
pub(crate) fn tenant_error(e: TenantError) -> HttpError {
    match e {
        TenantError::Invalid(v) => HttpError::Service(ServiceError::Invalid(v)),
        TenantError::NotFound(why) => HttpError::Service(ServiceError::NotFound(why)),
        TenantError::Conflict(why) => HttpError::Conflict(why),
        TenantError::Unusable(why) => HttpError::field("credentials", why),
        TenantError::Store(e) => {
            // The text can name the database's host or file: only the log gets it.
            tracing::warn!(error = %e, "the tenant store failed");
            HttpError::StoreUnavailable
        }
        TenantError::Random => HttpError::Internal,
    }
}

// ------------------------------------------------------------------------------------------
// The endpoints

/// A tenant as the API shows it.
fn tenant_info(t: &Tenant) -> api::TenantInfo {
    doc_info(&t.doc, t.source.as_str(), t.created_ms, t.updated_ms)
}

fn doc_info(d: &TenantDoc, source: &str, created_ms: i64, updated_ms: i64) -> api::TenantInfo {
    api::TenantInfo {
        id: d.id.to_string(),
        name: d.name.clone(),
        tracking_id: d.tracking_id.clone(),
        source: source.to_owned(),
        rate_limits: d.rate_limits.as_ref().map(|l| api::TenantRateLimits {
            per_second: l.per_second,
            per_minute: l.per_minute,
        }),
        daily_quota: d.daily_quota,
        cache_ttl: d.cache_ttl.as_ref().map(|c| {
            let secs = |v: Option<u64>| v.map(|s| u32::try_from(s).unwrap_or(u32::MAX));
            api::TenantCacheTtl {
                search: secs(c.search),
                details: secs(c.details),
                links: secs(c.links),
                hot: secs(c.hot),
                categories: secs(c.categories),
            }
        }),
        allowed_origins: (!d.allowed_origins.is_empty()).then(|| d.allowed_origins.clone()),
        language: d.language.map(|l| l.code().to_owned()),
        currency: d.currency.map(|c| c.code().to_owned()),
        ship_to_country: d.ship_to_country.map(|c| c.as_str().to_owned()),
        credentials: d.credentials.as_ref().map(|c| api::TenantCredentials {
            app_key: c.app_key.clone(),
            app_secret_env: c.app_secret_env.clone(),
            max_qps: c.max_qps,
        }),
        created_at: platform_time::rfc3339(created_ms),
        updated_at: platform_time::rfc3339(updated_ms),
    }
}

/// The API's tenant document as the service's, each field checked (a 422 names it).
fn tenant_doc(req: &api::TenantRequest) -> Result<TenantDoc, HttpError> {
    let id = TenantId::parse(req.id.trim())?;
    let parse = |field: &'static str, v: &Option<String>| -> Result<Option<String>, HttpError> {
        Ok(match v.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(s) if s.len() > 8 => return Err(HttpError::field(field, "is not a known code")),
            Some(s) => Some(s.to_owned()),
        })
    };
    let language = parse("language", &req.language)?
        .map(|s| s.parse())
        .transpose()
        .map_err(|e: alistach_domain::ValidationError| HttpError::field("language", e.rule))?;
    let currency = parse("currency", &req.currency)?
        .map(|s| s.parse())
        .transpose()
        .map_err(|e: alistach_domain::ValidationError| HttpError::field("currency", e.rule))?;
    let ship_to_country = parse("ship_to_country", &req.ship_to_country)?
        .map(|s| s.parse())
        .transpose()
        .map_err(|e: alistach_domain::ValidationError| {
            HttpError::field("ship_to_country", e.rule)
        })?;
    let doc = TenantDoc {
        id,
        name: req.name.clone(),
        tracking_id: req.tracking_id.trim().to_owned(),
        rate_limits: req.rate_limits.as_ref().map(|l| TenantLimits {
            per_second: l.per_second,
            per_minute: l.per_minute,
        }),
        daily_quota: req.daily_quota,
        cache_ttl: req.cache_ttl.as_ref().map(|c| TenantTtls {
            search: c.search.map(u64::from),
            details: c.details.map(u64::from),
            links: c.links.map(u64::from),
            hot: c.hot.map(u64::from),
            categories: c.categories.map(u64::from),
        }),
        allowed_origins: req.allowed_origins.clone().unwrap_or_default(),
        language,
        currency,
        ship_to_country,
        credentials: req.credentials.as_ref().map(|c| TenantCredentials {
            app_key: c.app_key.clone(),
            app_secret_env: c.app_secret_env.clone(),
            max_qps: c.max_qps,
        }),
    };
    doc.validate()?;
    Ok(doc)
}

/// The request a tenant's document answers to (for a merge patch over it).
fn tenant_request(d: &TenantDoc) -> api::TenantRequest {
    let info = doc_info(d, "api", 0, 0);
    api::TenantRequest {
        id: info.id,
        name: info.name,
        tracking_id: info.tracking_id,
        rate_limits: info.rate_limits,
        daily_quota: info.daily_quota,
        cache_ttl: info.cache_ttl,
        allowed_origins: info.allowed_origins,
        language: info.language,
        currency: info.currency,
        ship_to_country: info.ship_to_country,
        credentials: info.credentials,
    }
}

fn key_info(k: &TenantKeyRecord, now_ms: i64) -> api::TenantKeyInfo {
    api::TenantKeyInfo {
        id: k.id.clone(),
        name: k.name.clone(),
        role: k.role.as_str().to_owned(),
        created_at: platform_time::rfc3339(k.created_ms),
        expires_at: k.expires_ms.map(platform_time::rfc3339),
        last_used_at: k.last_used_ms.map(platform_time::rfc3339),
        revoked_at: k.revoked_ms.map(platform_time::rfc3339),
        live: k.is_live(now_ms),
    }
}

impl App {
    fn tenants_or_unavailable(&self) -> Result<&Arc<Tenants>, HttpError> {
        self.tenants.as_ref().ok_or(HttpError::StoreUnavailable)
    }

    /// The tenant the path names, when the caller may reach it (a tenant-admin key only its
    /// own: another's is answered as unknown, so ids cannot be probed).
    fn path_tenant(&self, id: RouteId, ctx: &Ctx<'_>) -> Result<TenantId, HttpError> {
        let unknown = || {
            HttpError::Service(ServiceError::NotFound(
                "no tenant has this id; GET /api/admin/tenants lists them".into(),
            ))
        };
        let raw = path_parameters(route_of(id).path, ctx.path)
            .and_then(|v| v.first().copied())
            .ok_or_else(unknown)?;
        let tenant = TenantId::parse(raw).map_err(|_| unknown())?;
        if !ctx.scope().covers(&tenant) {
            return Err(unknown());
        }
        Ok(tenant)
    }

    /// `/api/admin/tenants…` and `/api/admin/audit`.
    pub(super) async fn tenant_route(
        &self,
        id: RouteId,
        ctx: &Ctx<'_>,
        body: &[u8],
    ) -> Result<HttpResponse, HttpError> {
        let tenants = self.tenants_or_unavailable()?;
        let meta = || self.admin_metadata();
        match id {
            RouteId::Tenants => {
                let scope = ctx.scope();
                let list = tenants
                    .list()
                    .iter()
                    .filter(|t| scope.covers(t.id()))
                    .map(|t| tenant_info(t))
                    .collect();
                Ok(json(&api::TenantsResponse::ok(
                    api::TenantList { tenants: list },
                    meta(),
                )))
            }
            RouteId::TenantCreate => {
                let req: api::TenantRequest = convert::json_body(body, &[])?;
                let doc = tenant_doc(&req)?;
                let created = tenants.create(doc).await.map_err(tenant_error)?;
                let mut resp = json(&api::TenantResponse::ok(tenant_info(&created), meta()));
                *resp.status_mut() = StatusCode::CREATED;
                resp.extensions_mut()
                    .insert(AuditTenant(created.id().clone()));
                Ok(resp)
            }
            RouteId::Tenant => {
                let tid = self.path_tenant(id, ctx)?;
                let tenant = tenants
                    .get(&tid)
                    .filter(|t| !t.id().is_default())
                    .ok_or_else(|| {
                        tenant_error(TenantError::NotFound(format!(
                            "no tenant has the id {:?}; GET /api/admin/tenants lists them",
                            tid.as_str()
                        )))
                    })?;
                Ok(json(&api::TenantResponse::ok(tenant_info(&tenant), meta())))
            }
            RouteId::TenantUpdate => {
                let tid = self.path_tenant(id, ctx)?;
                let patch: serde_json::Value = convert::json_body(body, &[])?;
                // The patch's own shape first: its fields and types, as the contract says.
                let _: api::TenantPatch = serde_json::from_value(patch.clone())
                    .map_err(|e| HttpError::field("body", e.to_string()))?;
                let updated = tenants
                    .update(&tid, |current| {
                        let mut doc = serde_json::to_value(tenant_request(current))
                            .map_err(|e| HttpError::field("body", e.to_string()))?;
                        api::merge_patch(&mut doc, &patch);
                        let req: api::TenantRequest = serde_json::from_value(doc)
                            .map_err(|e| HttpError::field("body", e.to_string()))?;
                        tenant_doc(&req)
                    })
                    .await?;
                Ok(json(&api::TenantResponse::ok(
                    tenant_info(&updated),
                    meta(),
                )))
            }
            RouteId::TenantDelete => {
                let tid = self.path_tenant(id, ctx)?;
                tenants.delete(&tid).await.map_err(tenant_error)?;
                Ok(json(&api::TenantDeletedResponse::ok(
                    api::TenantDeleted {
                        id: tid.to_string(),
                        deleted: true,
                    },
                    meta(),
                )))
            }
            RouteId::TenantKeys => {
                let tid = self.path_tenant(id, ctx)?;
                let now = tenants.now_ms();
                let keys = tenants.keys(&tid).await.map_err(tenant_error)?;
                Ok(json(&api::TenantKeysResponse::ok(
                    api::TenantKeyList {
                        keys: keys.iter().map(|k| key_info(k, now)).collect(),
                    },
                    meta(),
                )))
            }
            RouteId::TenantKeyCreate => {
                let tid = self.path_tenant(id, ctx)?;
                let req: api::NewTenantKeyRequest = convert::json_body(body, &[])?;
                let role: Role = req.role.trim().parse()?;
                let expires_ms = req
                    .expires_at
                    .as_deref()
                    .map(|t| {
                        platform_time::parse_utc(t.trim())
                            .map(|(ms, _)| ms)
                            .ok_or_else(|| {
                                HttpError::field(
                                    "expires_at",
                                    "must be a UTC time YYYY-MM-DDTHH:MM:SSZ",
                                )
                            })
                    })
                    .transpose()?;
                let (record, key) = tenants
                    .create_key(&tid, &req.name, role, expires_ms)
                    .await
                    .map_err(tenant_error)?;
                let created = api::TenantKeyCreated::new(key_info(&record, tenants.now_ms()), key);
                let mut resp = json(&api::TenantKeyCreatedResponse::ok(created, meta()));
                *resp.status_mut() = StatusCode::CREATED;
                // The key is in this answer only: no cache may keep it.
                resp.headers_mut().insert(
                    hyper::header::CACHE_CONTROL,
                    hyper::header::HeaderValue::from_static("no-store"),
                );
                Ok(resp)
            }
            RouteId::TenantKeyRevoke => {
                let tid = self.path_tenant(id, ctx)?;
                let key_id = path_parameters(route_of(id).path, ctx.path)
                    .and_then(|v| v.get(1).copied())
                    .unwrap_or_default();
                let revoked = tenants
                    .revoke_key(&tid, key_id)
                    .await
                    .map_err(tenant_error)?;
                Ok(json(&api::TenantKeyResponse::ok(
                    key_info(&revoked, tenants.now_ms()),
                    meta(),
                )))
            }
            RouteId::Audit => self.audit_list(ctx, tenants).await,
            _ => Err(HttpError::NotFound),
        }
    }

    async fn audit_list(
        &self,
        ctx: &Ctx<'_>,
        tenants: &Tenants,
    ) -> Result<HttpResponse, HttpError> {
        let req: api::AuditListQuery = convert::query_params(ctx.query, &["before", "limit"])?;
        let asked = req
            .tenant
            .as_deref()
            .map(|t| TenantId::parse(t.trim()).map_err(|e| HttpError::field("tenant", e.rule)))
            .transpose()?;
        let tenant = match (ctx.scope(), asked) {
            (Scope::All, asked) => asked,
            (Scope::Tenant(own), None) => Some(own.id().clone()),
            (Scope::Tenant(own), Some(asked)) if &asked == own.id() => Some(asked),
            (Scope::Tenant(_), Some(_)) => {
                return Err(HttpError::Forbidden(
                    "a tenant-admin key reads only its own tenant's audit log",
                ));
            }
        };
        let (from_ms, to_ms) = super::admin::time_range(req.from.as_deref(), req.to.as_deref())?;
        let limit = match req.limit {
            None => 100,
            Some(n @ 1..=1000) => n,
            Some(_) => return Err(HttpError::field("limit", "must be 1 to 1000")),
        };
        let entries = tenants
            .audit(&AuditQuery {
                tenant,
                from_ms,
                to_ms,
                before_id: req.before,
                limit,
            })
            .await
            .map_err(|e| tenant_error(TenantError::Store(e)))?;
        let next_before = (entries.len() == limit as usize)
            .then(|| entries.last().map(|e| e.id))
            .flatten();
        let entries = entries
            .into_iter()
            .map(|e| api::AuditEntryInfo {
                id: e.id,
                at: platform_time::rfc3339(e.entry.at_ms),
                actor: e.entry.actor,
                actor_tenant: e.entry.actor_tenant.map(String::from),
                tenant: e.entry.tenant.map(String::from),
                action: e.entry.action,
                target: e.entry.target,
                from: e.entry.from,
                status: e.entry.status,
            })
            .collect();
        Ok(json(&api::AuditResponse::ok(
            api::AuditList {
                entries,
                next_before,
            },
            self.admin_metadata(),
        )))
    }
}

impl From<TenantError> for HttpError {
    fn from(e: TenantError) -> Self {
        tenant_error(e)
    }
}

/// The longest usage range, in days.
const MAX_USAGE_DAYS: i64 = api::MAX_USAGE_DAYS as i64;
const DAY_MS: i64 = 86_400_000;

/// True for the calls usage metering bills: the API and MCP calls (not the admin ones).
fn billed(operation: &str) -> bool {
    operation.starts_with("callMcp:")
        || alistach_api::ROUTES
            .iter()
            .any(|r| r.operation_id == operation && r.access != alistach_api::Access::Admin)
}

fn day_of(field: &'static str, text: &str) -> Result<i64, HttpError> {
    let rule = "must be a UTC date YYYY-MM-DD";
    if text.len() != 10 {
        return Err(HttpError::field(field, rule));
    }
    platform_time::parse_utc(text)
        .map(|(ms, _)| ms)
        .ok_or_else(|| HttpError::field(field, rule))
}

impl App {
    /// `GET /api/admin/tenants/{id}/usage`: a tenant's calls, cache answers, upstream calls,
    /// clicks, orders and commission per UTC day, as JSON or CSV.
    pub(super) async fn tenant_usage(&self, ctx: &Ctx<'_>) -> Result<HttpResponse, HttpError> {
        let tenants = self.tenants_or_unavailable()?;
        let tid = self.path_tenant(RouteId::TenantUsage, ctx)?;
        let tenant = tenants.get(&tid).ok_or_else(|| {
            tenant_error(TenantError::NotFound(format!(
                "no tenant has the id {:?}; GET /api/admin/tenants lists them",
                tid.as_str()
            )))
        })?;
        let req: api::TenantUsageQuery = convert::query_params(ctx.query, &[])?;
        let csv = match req.format.as_deref().map(str::trim) {
            None | Some("json") => false,
            Some("csv") => true,
            Some(_) => return Err(HttpError::field("format", "must be json or csv")),
        };
        let analytics = self.analytics.as_ref().ok_or(HttpError::StoreUnavailable)?;
        let today = analytics.now_ms().div_euclid(DAY_MS) * DAY_MS;
        let to = match req.to.as_deref().map(str::trim) {
            Some(t) => day_of("to", t)?,
            None => today,
        };
        let from = match req.from.as_deref().map(str::trim) {
            Some(f) => day_of("from", f)?,
            None => to - 29 * DAY_MS,
        };
        if from > to {
            return Err(HttpError::field("to", "must not be before from"));
        }
        if (to - from) / DAY_MS + 1 > MAX_USAGE_DAYS {
            return Err(HttpError::field(
                "from",
                format!("the range holds more than {MAX_USAGE_DAYS} days"),
            ));
        }
        let scope = UsageScope::tenant(tid.as_str(), &tenant.doc.tracking_id);
        let days = analytics
            .usage_days(&scope, from, to + DAY_MS, self.mode.is_mock(), billed)
            .await
            .map_err(|e| tenant_error(TenantError::Store(e)))?;
        let amounts = |c: &std::collections::BTreeMap<String, i64>| -> Vec<api::AnalyticsAmount> {
            c.iter()
                .map(|(currency, cents)| api::AnalyticsAmount {
                    currency: currency.clone(),
                    amount: convert::money(*cents),
                })
                .collect()
        };
        let mut totals = alistach_service::DayUsage::default();
        for d in &days {
            totals.requests += d.requests;
            totals.cached += d.cached;
            totals.upstream_calls += d.upstream_calls;
            totals.clicks += d.clicks;
            totals.orders += d.orders;
            for (c, cents) in &d.commission {
                *totals.commission.entry(c.clone()).or_default() += cents;
            }
        }
        let date = |ms: i64| platform_time::rfc3339(ms)[..10].to_owned();
        if csv {
            let currencies: Vec<&String> = totals.commission.keys().collect();
            let mut out = String::from("date,requests,cached,upstream_calls,clicks,orders");
            for c in &currencies {
                out.push_str(&format!(",commission_{c}"));
            }
            out.push('\n');
            let mut row = |label: String, d: &alistach_service::DayUsage| {
                out.push_str(&format!(
                    "{label},{},{},{},{},{}",
                    d.requests, d.cached, d.upstream_calls, d.clicks, d.orders
                ));
                for c in &currencies {
                    out.push(',');
                    out.push_str(&convert::money(d.commission.get(*c).copied().unwrap_or(0)));
                }
                out.push('\n');
            };
            for d in &days {
                row(date(d.day_ms), d);
            }
            row("total".to_owned(), &totals);
            let mut resp = crate::respond::body_response(
                StatusCode::OK,
                "text/csv; charset=utf-8",
                bytes::Bytes::from(out),
            );
            resp.headers_mut().insert(
                hyper::header::CONTENT_DISPOSITION,
                hyper::header::HeaderValue::from_str(&format!(
                    "attachment; filename=\"usage-{}-{}-{}.csv\"",
                    tid,
                    date(from),
                    date(to)
                ))
                .map_err(|_| HttpError::Internal)?,
            );
            return Ok(resp);
        }
        let data = api::TenantUsage {
            tenant: tid.to_string(),
            from: date(from),
            to: date(to),
            days: days
                .iter()
                .map(|d| api::TenantUsageDay {
                    date: date(d.day_ms),
                    requests: d.requests,
                    cached: d.cached,
                    upstream_calls: d.upstream_calls,
                    clicks: d.clicks,
                    orders: d.orders,
                    commission: amounts(&d.commission),
                })
                .collect(),
            totals: api::TenantUsageTotals {
                requests: totals.requests,
                cached: totals.cached,
                upstream_calls: totals.upstream_calls,
                clicks: totals.clicks,
                orders: totals.orders,
                commission: amounts(&totals.commission),
            },
        };
        Ok(json(&api::TenantUsageResponse::ok(
            data,
            self.admin_metadata(),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_only_routes_are_admin_routes() {
        for r in alistach_api::ROUTES.iter().filter(|r| operator_only(r.id)) {
            assert_eq!(r.access, alistach_api::Access::Admin, "{}", r.path);
        }
    }

    #[test]
    fn tenant_paths_name_their_tenant() {
        assert_eq!(path_tenant("/api/admin/tenants/acme"), Some("acme"));
        assert_eq!(path_tenant("/api/admin/tenants/acme/keys/k1"), Some("acme"));
        assert_eq!(path_tenant("/api/admin/tenants"), None);
        assert_eq!(path_tenant("/api/admin/orders"), None);
    }
}
