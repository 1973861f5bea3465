//! Tenants, their API keys (stored only as SHA-256 digests) and the audit log of admin actions.

use alistach_domain::{Role, TenantId};
use async_trait::async_trait;

use crate::StoreError;

/// Where a tenant is defined. The config file wins for what it defines: a tenant of the file
/// cannot be changed or deleted through the API, and is rewritten from the file at every start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TenantSource {
    /// `[[tenants]]` of the TOML config.
    File,
    /// `POST /api/admin/tenants`.
    Api,
}

impl TenantSource {
    /// `file` or `api`.
    pub const fn as_str(self) -> &'static str {
        match self {
            TenantSource::File => "file",
            TenantSource::Api => "api",
        }
    }

    /// Reads [`TenantSource::as_str`] back.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "file" => Some(TenantSource::File),
            "api" => Some(TenantSource::Api),
            _ => None,
        }
    }
}

/// A stored tenant. The store knows its id, name and tracking id (orders and clicks are the
/// tenant's by their tracking id, so no two tenants share one); everything else the service
/// reads from `settings`, a JSON document the store keeps as it is given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantRecord {
    /// Unique.
    pub id: TenantId,
    /// For people.
    pub name: String,
    /// The AliExpress tracking id of its links; unique among tenants.
    pub tracking_id: String,
    /// The service's settings document (JSON text: limits, quota, TTLs, origins, locale,
    /// credentials by environment-variable name, never a secret).
    pub settings: String,
    /// Who defined it.
    pub source: TenantSource,
    /// Unix ms.
    pub created_ms: i64,
    /// Unix ms of the last change.
    pub updated_ms: i64,
}

/// A tenant's API key. The key itself is never stored: only its SHA-256 digest.
#[derive(Clone, PartialEq, Eq)]
pub struct TenantKeyRecord {
    /// Unique, public (`key_…`): how the key is named in the API, the audit log and limits.
    pub id: String,
    /// Whose.
    pub tenant: TenantId,
    /// For people.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// SHA-256 of the key; unique.
    pub digest: [u8; 32],
    /// Unix ms.
    pub created_ms: i64,
    /// Refused from this time on, when set.
    pub expires_ms: Option<i64>,
    /// When it was last presented (kept to the minute or so: recorded in batches).
    pub last_used_ms: Option<i64>,
    /// When it was revoked; a revoked key is refused for good.
    pub revoked_ms: Option<i64>,
}

impl std::fmt::Debug for TenantKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantKeyRecord")
            .field("id", &self.id)
            .field("tenant", &self.tenant)
            .field("name", &self.name)
            .field("role", &self.role)
            .field("expires_ms", &self.expires_ms)
            .field("revoked_ms", &self.revoked_ms)
            .finish_non_exhaustive()
    }
}

impl TenantKeyRecord {
    /// Neither revoked nor expired at `now_ms`.
    pub fn is_live(&self, now_ms: i64) -> bool {
        self.revoked_ms.is_none() && self.expires_ms.is_none_or(|e| now_ms < e)
    }
}

/// One admin action, as it is recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAuditEntry {
    /// Unix ms.
    pub at_ms: i64,
    /// Who: `super-admin`, or `key:{key id}` of a tenant-admin key.
    pub actor: String,
    /// The actor's tenant (`None` for the super-admin).
    pub actor_tenant: Option<TenantId>,
    /// Whose data the action read or changed (`None` when it concerns no one tenant).
    pub tenant: Option<TenantId>,
    /// The route's operation id (`createTenant`, `revokeTenantKey` …).
    pub action: String,
    /// Method and path (`POST /api/admin/tenants/acme/keys`).
    pub target: String,
    /// The client address, as the rate limits see it.
    pub from: String,
    /// The HTTP status answered.
    pub status: u16,
}

/// A recorded admin action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    /// Increasing in recording order.
    pub id: u64,
    /// What was recorded.
    pub entry: NewAuditEntry,
}

/// Which audit entries: newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only actions on this tenant's data, or by its keys.
    pub tenant: Option<TenantId>,
    /// At or after (Unix ms).
    pub from_ms: Option<i64>,
    /// Before (Unix ms).
    pub to_ms: Option<i64>,
    /// Only entries with a smaller id (the next page of a newest-first listing).
    pub before_id: Option<u64>,
    /// At most this many (1 to 1,000).
    pub limit: u32,
}

/// Tenants, their keys and the audit log.
#[async_trait]
pub trait TenantStore: Send + Sync + 'static {
    /// Stores a new tenant. [`StoreError::Conflict`] when the id or the tracking id is taken.
    async fn create_tenant(&self, tenant: &TenantRecord) -> Result<(), StoreError>;

    /// Replaces the stored tenant of `tenant.id` (its `created_ms` is kept); false for an
    /// unknown id. [`StoreError::Conflict`] when the tracking id is another tenant's.
    async fn update_tenant(&self, tenant: &TenantRecord) -> Result<bool, StoreError>;

    /// One tenant.
    async fn tenant(&self, id: &TenantId) -> Result<Option<TenantRecord>, StoreError>;

    /// Every tenant, by id.
    async fn tenants(&self) -> Result<Vec<TenantRecord>, StoreError>;

    /// Deletes a tenant and revokes its keys (at `now_ms`; the key rows stay, revoked, so an
    /// audit entry naming one can be read later); false for an unknown id.
    async fn delete_tenant(&self, id: &TenantId, now_ms: i64) -> Result<bool, StoreError>;

    /// Makes the file's tenants the stored tenants of source [`TenantSource::File`], in one
    /// transaction: each is created or replaced (an API tenant of the same id becomes the
    /// file's), and file tenants no longer in `tenants` are deleted as by `delete_tenant`.
    /// [`StoreError::Conflict`] (and nothing changed) when a tracking id is an API tenant's.
    async fn sync_file_tenants(
        &self,
        tenants: &[TenantRecord],
        now_ms: i64,
    ) -> Result<(), StoreError>;

    /// Stores a new key. [`StoreError::Conflict`] when its tenant is unknown, or its id or
    /// digest is taken.
    async fn create_key(&self, key: &TenantKeyRecord) -> Result<(), StoreError>;

    /// A tenant's keys, revoked ones included, oldest first.
    async fn tenant_keys(&self, tenant: &TenantId) -> Result<Vec<TenantKeyRecord>, StoreError>;

    /// Every key that is neither revoked nor expired at `now_ms`, of every tenant (what the
    /// edge authenticates against; instances reload it every few seconds).
    async fn live_keys(&self, now_ms: i64) -> Result<Vec<TenantKeyRecord>, StoreError>;

    /// Revokes key `key_id` of `tenant` at `now_ms` (a revoked key keeps its first
    /// revocation time); `None` when the tenant has no such key.
    async fn revoke_key(
        &self,
        tenant: &TenantId,
        key_id: &str,
        now_ms: i64,
    ) -> Result<Option<TenantKeyRecord>, StoreError>;

    /// Records when keys were last used: `(key id, Unix ms)`, each kept only when later than
    /// the stored one; unknown ids are ignored.
    async fn touch_keys(&self, used: &[(String, i64)]) -> Result<(), StoreError>;

    /// Appends an audit entry; returns its id.
    async fn append_audit(&self, entry: &NewAuditEntry) -> Result<u64, StoreError>;

    /// Audit entries, newest first: those whose `tenant` or `actor_tenant` is the query's
    /// tenant (every entry without one), in the time range, below `before_id`, at most `limit`.
    async fn audit(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError>;

    /// Removes audit entries recorded before `before_ms`; returns how many.
    async fn purge_audit(&self, before_ms: i64) -> Result<u64, StoreError>;
}
