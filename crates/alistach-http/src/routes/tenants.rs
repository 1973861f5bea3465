//! Tenants on the admin side: who may reach which admin route and whose data it shows
//! ([`Scope`]), the audit log of admin calls, and the tenant, key, usage and audit endpoints.

use std::sync::Arc;

use alistach_api::{Route, RouteId};
use alistach_domain::TenantId;
use alistach_service::{ServiceError, Tenant, TenantError};
use alistach_store::NewAuditEntry;
use hyper::Method;

use super::ctx::Ctx;
use crate::app::App;
use crate::error::HttpError;

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
    )
}

/// What the pipeline knows of an admin call once it is answered.
pub(crate) struct AuditCall<'a> {
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
        let tenant = path_tenant(&call.path)
            .and_then(|id| TenantId::parse(id).ok())
            .or_else(|| call.actor_tenant.clone());
        let entry = NewAuditEntry {
            at_ms: i64::try_from(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_millis(),
            )
            .unwrap_or(i64::MAX),
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
        // Only tenant keys are limited here; the deployment's keys pass as before.
        if ctx.who.tenant().is_none()
            || alistach_api::route_of(id).access != alistach_api::Access::Admin
        {
            return Ok(());
        }
        if operator_only(id) {
            return Err(HttpError::Forbidden(
                "this endpoint concerns the whole deployment: only the operator's ADMIN_API_KEY \
                 may call it, not a tenant-admin key",
            ));
        }
        if !tenant_scoped(id) {
            return Err(HttpError::Forbidden(
                "this endpoint does not yet answer per tenant: only the operator's \
                 ADMIN_API_KEY may call it",
            ));
        }
        Ok(())
    }
}

/// The admin routes that answer a tenant-admin key with its own tenant's data only.
fn tenant_scoped(id: RouteId) -> bool {
    matches!(id, RouteId::AdminOrders | RouteId::AdminRevenue)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_paths_name_their_tenant() {
        assert_eq!(path_tenant("/api/admin/tenants/acme"), Some("acme"));
        assert_eq!(path_tenant("/api/admin/tenants/acme/keys/k1"), Some("acme"));
        assert_eq!(path_tenant("/api/admin/tenants"), None);
        assert_eq!(path_tenant("/api/admin/orders"), None);
    }
}
