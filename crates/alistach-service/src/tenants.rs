//! Tenants: many GPTs or teams on one gateway, each with its own keys, tracking id, limits,
//! cache lifetimes, origins, locale and (optionally) AliExpress credentials.
//!
//! A tenant is a [`TenantDoc`]: the document `[[tenants]]` of the TOML config declares and the
//! admin API reads and writes, kept whole in the store (`TenantStore`). [`Tenants`] holds, per
//! instance, a snapshot of every tenant with what serving it needs ([`Tenant`]: its catalog,
//! made by the deployment's [`TenantCatalogs`] in the deployment's cache under keys scoped by
//! its app key and tracking id, so links stay each tenant's own)
//! and of every live key by digest. The snapshot is reloaded from the store every few seconds,
//! and at once after a change made here, so keys revoked on one instance stop working on every
//! instance within a reload.
//!
//! Without any tenant, the deployment is the implicit tenant `default` built from the
//! environment, and everything behaves as before tenants existed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use alistach_domain::{Clock, CountryCode, Currency, Language, Role, TenantId, ValidationError};
use alistach_policy::Quota;
use alistach_store::{
    AuditEntry, AuditQuery, NewAuditEntry, Store, StoreError, TenantKeyRecord, TenantRecord,
    TenantSource,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use alistach_domain::OrderSource;

use crate::{Catalog, Experiments, OrderSync};

/// The longest tenant name, in characters.
pub const MAX_TENANT_NAME_CHARS: usize = 200;
/// The longest key name, in characters.
pub const MAX_KEY_NAME_CHARS: usize = 100;
/// The most origins one tenant may allow.
pub const MAX_TENANT_ORIGINS: usize = 50;
/// The longest cache lifetime a tenant may set (a week), in seconds.
pub const MAX_TENANT_TTL_SECS: u64 = 7 * 24 * 3600;
/// The most live keys a tenant may hold (revoked and expired ones do not count).
pub const MAX_KEYS_PER_TENANT: usize = 100;
/// What a tenant key starts with (so a leaked one is recognisable by secret scanners).
pub const TENANT_KEY_PREFIX: &str = "ask_";

/// A tenant's request limits, over all its keys.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantLimits {
    /// Requests per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_second: Option<u32>,
    /// Requests per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_minute: Option<u32>,
}

/// A tenant's cache lifetimes, in seconds, each replacing the deployment's for its answers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantTtls {
    /// Searches (`CACHE_TTL`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<u64>,
    /// Product details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<u64>,
    /// Affiliate links.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<u64>,
    /// Hot products.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hot: Option<u64>,
    /// Categories.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<u64>,
}

impl TenantTtls {
    /// `base` with this tenant's lifetimes in place of the deployment's.
    pub fn apply(&self, base: &crate::CacheTtls) -> crate::CacheTtls {
        let or = |mine: Option<u64>, theirs: Duration| mine.map_or(theirs, Duration::from_secs);
        crate::CacheTtls {
            search: or(self.search, base.search),
            details: or(self.details, base.details),
            links: or(self.links, base.links),
            hot: or(self.hot, base.hot),
            categories: or(self.categories, base.categories),
            ..*base
        }
    }
}

/// A tenant's own AliExpress app: its own upstream client, pacing, circuit and quota. The
/// secret is named, never given: `app_secret_env` is the environment variable holding it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantCredentials {
    /// The app key (not a secret: it names the app).
    pub app_key: String,
    /// The environment variable that holds the app secret.
    pub app_secret_env: String,
    /// Calls per second this app may make (default: `ALIEXPRESS_MAX_QPS`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_qps: Option<u32>,
}

/// A tenant, as declared (TOML) and as the admin API reads and writes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantDoc {
    /// Its id (see [`TenantId`]).
    pub id: TenantId,
    /// For people.
    pub name: String,
    /// The AliExpress tracking id of its links and commission; no two tenants share one.
    pub tracking_id: String,
    /// Its request limits, over all its keys (else only each key's own limits apply).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limits: Option<TenantLimits>,
    /// Requests allowed per rolling day, over all its keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_quota: Option<u64>,
    /// Its cache lifetimes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_ttl: Option<TenantTtls>,
    /// Browser origins allowed to call with its keys (besides `ALLOWED_ORIGINS`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_origins: Vec<String>,
    /// Its default `target_language`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<Language>,
    /// Its default `target_currency`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<Currency>,
    /// Its default `ship_to_country`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ship_to_country: Option<CountryCode>,
    /// Its own AliExpress app, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<TenantCredentials>,
}

impl TenantDoc {
    /// A tenant with only the required fields.
    pub fn new(id: TenantId, name: &str, tracking_id: &str) -> Self {
        TenantDoc {
            id,
            name: name.to_owned(),
            tracking_id: tracking_id.to_owned(),
            rate_limits: None,
            daily_quota: None,
            cache_ttl: None,
            allowed_origins: Vec::new(),
            language: None,
            currency: None,
            ship_to_country: None,
            credentials: None,
        }
    }

    /// Checks every rule a field must meet.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let name_chars = self.name.chars().count();
        if self.name.trim().is_empty()
            || name_chars > MAX_TENANT_NAME_CHARS
            || self.name.chars().any(char::is_control)
        {
            return Err(ValidationError::new(
                "name",
                "must be 1 to 200 characters of text, not only spaces",
            ));
        }
        validate_tracking_id(&self.tracking_id)?;
        if let Some(l) = &self.rate_limits
            && (l.per_second.is_some_and(|n| !(1..=10_000_000).contains(&n))
                || l.per_minute
                    .is_some_and(|n| !(1..=100_000_000).contains(&n)))
        {
            return Err(ValidationError::new(
                "rate_limits",
                "per_second must be 1 to 10000000 and per_minute 1 to 100000000 when given",
            ));
        }
        if self.daily_quota == Some(0) || self.daily_quota.is_some_and(|q| q > u64::from(u32::MAX))
        {
            return Err(ValidationError::new(
                "daily_quota",
                "must be between 1 and 4294967295",
            ));
        }
        if let Some(t) = &self.cache_ttl {
            let all = [t.search, t.details, t.links, t.hot, t.categories];
            if all
                .into_iter()
                .flatten()
                .any(|s| s == 0 || s > MAX_TENANT_TTL_SECS)
            {
                return Err(ValidationError::new(
                    "cache_ttl",
                    "every lifetime must be between 1 and 604800 seconds",
                ));
            }
        }
        if self.allowed_origins.len() > MAX_TENANT_ORIGINS {
            return Err(ValidationError::new(
                "allowed_origins",
                "must name at most 50 origins",
            ));
        }
        for origin in &self.allowed_origins {
            if !alistach_policy::is_origin(origin) {
                return Err(ValidationError::new(
                    "allowed_origins",
                    format!(
                        "{:?} is not an origin: scheme://host[:port], http or https, no path",
                        origin.chars().take(100).collect::<String>()
                    ),
                ));
            }
        }
        if let Some(c) = &self.credentials {
            let key_ok = (1..=64).contains(&c.app_key.len())
                && c.app_key.bytes().all(|b| b.is_ascii_alphanumeric());
            if !key_ok {
                return Err(ValidationError::new(
                    "credentials",
                    "app_key must be 1 to 64 letters or digits",
                ));
            }
            let env_ok = (1..=128).contains(&c.app_secret_env.len())
                && c.app_secret_env
                    .bytes()
                    .next()
                    .is_some_and(|b| b.is_ascii_uppercase() || b == b'_')
                && c.app_secret_env
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
            if !env_ok {
                return Err(ValidationError::new(
                    "credentials",
                    "app_secret_env must name an environment variable (A-Z, 0-9, _); the \
                     secret itself is never accepted",
                ));
            }
            if c.max_qps.is_some_and(|n| !(1..=10_000).contains(&n)) {
                return Err(ValidationError::new(
                    "credentials",
                    "max_qps must be 1 to 10000 when given",
                ));
            }
        }
        Ok(())
    }

    /// The tenant's own limits over all its keys: per second, per minute, per rolling day.
    pub fn quotas(&self) -> Vec<Quota> {
        let mut quotas = Vec::new();
        if let Some(l) = &self.rate_limits {
            quotas.extend(l.per_second.map(Quota::per_second));
            quotas.extend(l.per_minute.map(Quota::per_minute));
        }
        if let Some(q) = self.daily_quota {
            quotas.push(Quota {
                count: u32::try_from(q).unwrap_or(u32::MAX),
                period: Duration::from_secs(24 * 3600),
            });
        }
        quotas
    }
}

/// A tracking id: 1 to 64 of letters, digits, `-` and `_`.
pub fn validate_tracking_id(t: &str) -> Result<(), ValidationError> {
    let ok = (1..=64).contains(&t.len())
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new(
            "tracking_id",
            "must be 1 to 64 of letters, digits, '-' and '_'",
        ))
    }
}

/// Builds what serves a tenant: its catalog over the deployment's cache, with its tracking
/// id, lifetimes and (when it has them) its own credentials. The server implements it: it
/// knows the mode and the upstream.
pub trait TenantCatalogs: Send + Sync + 'static {
    /// What serves `doc`; an error text (a missing credential, say) when it cannot be made.
    fn build(&self, doc: &TenantDoc) -> Result<TenantParts, String>;
}

/// What serves a tenant, as the deployment makes it.
pub struct TenantParts {
    /// Its catalog.
    pub catalog: Arc<Catalog>,
    /// Where its orders come from when it has its own app (the same paced client as its
    /// catalog's); `None`: the deployment's order sync brings them.
    pub orders: Option<Arc<dyn OrderSource>>,
}

/// A tenant, ready to serve.
pub struct Tenant {
    /// What it is.
    pub doc: TenantDoc,
    /// Who defined it (the implicit tenant: the environment, reported as `file`).
    pub source: TenantSource,
    /// Unix ms.
    pub created_ms: i64,
    /// Unix ms.
    pub updated_ms: i64,
    /// The catalog that answers its requests.
    pub catalog: Arc<Catalog>,
    /// Its A/B experiments of link strategies, when the deployment runs them.
    pub experiments: Option<Arc<Experiments>>,
    /// The sync of its own app's orders, when it has its own app.
    pub order_sync: Option<Arc<OrderSync>>,
    /// Its limits over all its keys (empty: none).
    pub quotas: Vec<Quota>,
    /// The rate-limit identity of the whole tenant (`tenant:{id}`).
    pub limit_key: String,
}

impl std::fmt::Debug for Tenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tenant")
            .field("id", &self.doc.id)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl Tenant {
    /// The tenant's id.
    pub fn id(&self) -> &TenantId {
        &self.doc.id
    }

    /// The catalog answering `client`'s question `subject`: the variant's while one of its
    /// experiments runs, else its own.
    pub fn catalog_for(&self, client: &str, subject: &[u8]) -> Arc<Catalog> {
        match &self.experiments {
            Some(e) if e.is_running() => e.catalog_for(client, subject),
            _ => self.catalog.clone(),
        }
    }
}

/// What a presented tenant key grants.
#[derive(Clone, Debug)]
pub struct Grant {
    /// The key's id.
    pub key_id: Arc<str>,
    /// The key's name.
    pub key_name: Arc<str>,
    /// What it may do.
    pub role: Role,
    /// Its tenant.
    pub tenant: Arc<Tenant>,
    /// The key's rate-limit identity (`key:{tenant}/{key id}`).
    pub limit_key: Arc<str>,
    expires_ms: Option<i64>,
    /// When it was last presented and not yet written to the store (0: not since): a
    /// relaxed store per request, no lock.
    used_ms: Arc<AtomicI64>,
}

/// Why a tenant use case failed.
#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    /// The input breaks a rule (names the field).
    #[error("invalid input: {0}")]
    Invalid(#[from] ValidationError),
    /// No such tenant or key.
    #[error("{0}")]
    NotFound(String),
    /// The change conflicts with what exists (an id or tracking id taken, a tenant of the
    /// config file).
    #[error("{0}")]
    Conflict(String),
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
    /// The tenant's catalog cannot be made (its credentials' secret is not set, say).
    #[error("{0}")]
    Unusable(String),
    /// No random source for a key.
    #[error("no random source for a key")]
    Random,
}

impl From<StoreError> for TenantError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(text) => TenantError::Conflict(text),
            other => TenantError::Store(other),
        }
    }
}

struct Snapshot {
    tenants: BTreeMap<TenantId, Arc<Tenant>>,
    keys: HashMap<[u8; 32], Grant>,
    origins: HashSet<String>,
}

/// The tenants of a deployment, as every request sees them.
pub struct Tenants {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    catalogs: Arc<dyn TenantCatalogs>,
    default: Arc<Tenant>,
    file: Vec<TenantDoc>,
    experiments: Option<ExperimentsFactory>,
    order_syncs: Option<OrderSyncFactory>,
    /// Whether the tenants' own order syncs run on schedule (`ORDER_SYNC_INTERVAL` above 0).
    scheduled_syncs: bool,
    snapshot: RwLock<Arc<Snapshot>>,
    reloading: tokio::sync::Mutex<()>,
    /// Whether the snapshot holds any tenant.
    some: AtomicBool,
}

type ExperimentsFactory = Box<dyn Fn(Arc<Catalog>, &TenantId) -> Arc<Experiments> + Send + Sync>;
type OrderSyncFactory =
    Box<dyn Fn(Arc<dyn OrderSource>, &TenantDoc) -> Arc<OrderSync> + Send + Sync>;

impl std::fmt::Debug for Tenants {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tenants")
            .field("tenants", &self.current().tenants.len())
            .finish_non_exhaustive()
    }
}

fn now_i64(clock: &dyn Clock) -> i64 {
    i64::try_from(clock.now_ms()).unwrap_or(i64::MAX)
}

/// SHA-256 of a presented key: how tenant keys are stored and looked up.
pub fn key_digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

impl Tenants {
    /// The tenants of a deployment whose implicit tenant is `default` (built from the
    /// environment, answered by `default_catalog`), with the config file's `file` tenants,
    /// the others in `store`, and their catalogs made by `catalogs`.
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        catalogs: Arc<dyn TenantCatalogs>,
        default: TenantDoc,
        default_catalog: Arc<Catalog>,
        file: Vec<TenantDoc>,
    ) -> Self {
        let quotas = Vec::new();
        let default = Arc::new(Tenant {
            limit_key: format!("tenant:{}", default.id),
            doc: default,
            source: TenantSource::File,
            created_ms: 0,
            updated_ms: 0,
            catalog: default_catalog,
            experiments: None,
            order_sync: None,
            quotas,
        });
        let snapshot = Snapshot {
            tenants: BTreeMap::new(),
            keys: HashMap::new(),
            origins: HashSet::new(),
        };
        Tenants {
            store,
            clock,
            catalogs,
            default,
            file,
            experiments: None,
            order_syncs: None,
            scheduled_syncs: false,
            snapshot: RwLock::new(Arc::new(snapshot)),
            reloading: tokio::sync::Mutex::new(()),
            some: AtomicBool::new(false),
        }
    }

    /// The same tenants with every tenant but the implicit one running the experiments
    /// `make` builds over its catalog (the implicit tenant runs the deployment's own).
    pub fn with_tenant_experiments(
        mut self,
        make: impl Fn(Arc<Catalog>, &TenantId) -> Arc<Experiments> + Send + Sync + 'static,
    ) -> Self {
        self.experiments = Some(Box::new(make));
        self
    }

    /// The same tenants with the orders of a tenant's own app synced by the sync `make`
    /// builds over its order source (on schedule when `scheduled`, each tick of
    /// [`Tenants::run`] asking whether one is due; and with the deployment's sync on demand).
    pub fn with_order_syncs(
        mut self,
        scheduled: bool,
        make: impl Fn(Arc<dyn OrderSource>, &TenantDoc) -> Arc<OrderSync> + Send + Sync + 'static,
    ) -> Self {
        self.order_syncs = Some(Box::new(make));
        self.scheduled_syncs = scheduled;
        self
    }

    /// The order syncs of the tenants' own apps.
    pub fn own_order_syncs(&self) -> Vec<Arc<OrderSync>> {
        self.current()
            .tenants
            .values()
            .filter_map(|t| t.order_sync.clone())
            .collect()
    }

    fn current(&self) -> Arc<Snapshot> {
        self.snapshot
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Checks the config file's tenants, writes them to the store (the file wins for what it
    /// defines) and loads every tenant. Fails when a file tenant is invalid or unusable.
    pub async fn start(&self) -> Result<(), TenantError> {
        let now = now_i64(&*self.clock);
        let mut seen = HashSet::new();
        let mut records = Vec::with_capacity(self.file.len());
        for doc in &self.file {
            self.check_new(doc)?;
            if !seen.insert(doc.tracking_id.clone()) {
                return Err(TenantError::Conflict(format!(
                    "two tenants of the config file share the tracking id {:?}",
                    doc.tracking_id
                )));
            }
            self.catalogs
                .build(doc)
                .map_err(|e| TenantError::Unusable(format!("tenant {:?}: {e}", doc.id.as_str())))?;
            records.push(record_of(doc, TenantSource::File, now, now)?);
        }
        self.store.sync_file_tenants(&records, now).await?;
        self.reload().await?;
        Ok(())
    }

    /// Reads every tenant and live key from the store into the snapshot requests use; a
    /// tenant whose stored document did not change keeps its catalog (and its cache).
    pub async fn reload(&self) -> Result<(), StoreError> {
        let _turn = self.reloading.lock().await;
        let records = self.store.tenants().await?;
        let keys = self.store.live_keys(now_i64(&*self.clock)).await?;
        let previous = self.current();
        let mut tenants = BTreeMap::new();
        for record in records {
            let reuse = previous
                .tenants
                .get(&record.id)
                .filter(|t| t.updated_ms == record.updated_ms && t.source == record.source);
            let tenant = match reuse {
                Some(t) => t.clone(),
                None => match self.build(&record) {
                    Ok(t) => Arc::new(t),
                    Err(e) => {
                        tracing::warn!(tenant = %record.id, error = %e, "a tenant cannot be served; its keys are refused until it is fixed");
                        continue;
                    }
                },
            };
            tenants.insert(record.id.clone(), tenant);
        }
        let mut grants = HashMap::with_capacity(keys.len());
        for key in keys {
            let Some(tenant) = tenants.get(&key.tenant) else {
                continue;
            };
            // A use not yet written stays with the key across reloads.
            let used_ms = previous
                .keys
                .get(&key.digest)
                .map_or_else(|| Arc::new(AtomicI64::new(0)), |g| g.used_ms.clone());
            grants.insert(
                key.digest,
                Grant {
                    used_ms,
                    limit_key: Arc::from(format!("key:{}/{}", key.tenant, key.id)),
                    key_id: Arc::from(key.id.as_str()),
                    key_name: Arc::from(key.name.as_str()),
                    role: key.role,
                    tenant: tenant.clone(),
                    expires_ms: key.expires_ms,
                },
            );
        }
        // A tenant built now loads its running experiment before it serves.
        for (id, t) in &tenants {
            let fresh = previous
                .tenants
                .get(id)
                .is_none_or(|old| !Arc::ptr_eq(old, t));
            if let (true, Some(e)) = (fresh, &t.experiments)
                && let Err(e) = e.refresh().await
            {
                tracing::warn!(tenant = %id, error = %e, "a tenant's experiments not loaded; retrying at the next reload");
            }
        }
        let origins = tenants
            .values()
            .flat_map(|t| t.doc.allowed_origins.iter().cloned())
            .collect();
        self.some.store(!tenants.is_empty(), Ordering::Relaxed);
        *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(Snapshot {
            tenants,
            keys: grants,
            origins,
        });
        Ok(())
    }

    fn build(&self, record: &TenantRecord) -> Result<Tenant, String> {
        let doc: TenantDoc = serde_json::from_str(&record.settings)
            .map_err(|e| format!("its stored settings cannot be read: {e}"))?;
        let TenantParts { catalog, orders } = self.catalogs.build(&doc)?;
        let experiments = self
            .experiments
            .as_ref()
            .map(|make| make(catalog.clone(), &doc.id));
        let order_sync = match (orders, &self.order_syncs) {
            (Some(source), Some(make)) => Some(make(source, &doc)),
            _ => None,
        };
        Ok(Tenant {
            limit_key: format!("tenant:{}", doc.id),
            quotas: doc.quotas(),
            doc,
            source: record.source,
            created_ms: record.created_ms,
            updated_ms: record.updated_ms,
            catalog,
            experiments,
            order_sync,
        })
    }

    /// The implicit tenant.
    pub fn default_tenant(&self) -> &Arc<Tenant> {
        &self.default
    }

    /// A tenant by id (the implicit one included).
    pub fn get(&self, id: &TenantId) -> Option<Arc<Tenant>> {
        if id.is_default() {
            return Some(self.default.clone());
        }
        self.current().tenants.get(id).cloned()
    }

    /// Every tenant but the implicit one, by id.
    pub fn list(&self) -> Vec<Arc<Tenant>> {
        self.current().tenants.values().cloned().collect()
    }

    /// True when any tenant besides the implicit one exists (one relaxed load: every request
    /// asks it).
    pub fn any(&self) -> bool {
        self.some.load(Ordering::Relaxed)
    }

    /// Now, on the tenants' clock (Unix ms): the time of audit entries and key expiry.
    pub fn now_ms(&self) -> i64 {
        now_i64(&*self.clock)
    }

    /// The grant of a presented key (by its digest) when it is a live tenant key; notes its
    /// use (written to the store at the next flush).
    pub fn authenticate(&self, digest: &[u8; 32]) -> Option<Grant> {
        let snapshot = self.current();
        let grant = snapshot.keys.get(digest)?;
        let now = now_i64(&*self.clock);
        if grant.expires_ms.is_some_and(|e| now >= e) {
            return None;
        }
        grant.used_ms.store(now, Ordering::Relaxed);
        Some(grant.clone())
    }

    /// True when some tenant allows `origin`.
    pub fn origin_allowed(&self, origin: &str) -> bool {
        self.current().origins.contains(origin)
    }

    /// The experiments of every tenant but the implicit one (whose run their owner starts).
    fn tenant_experiments(&self) -> Vec<Arc<Experiments>> {
        self.current()
            .tenants
            .values()
            .filter_map(|t| t.experiments.clone())
            .collect()
    }

    fn check_new(&self, doc: &TenantDoc) -> Result<(), TenantError> {
        doc.validate()?;
        if doc.id.is_default() {
            return Err(TenantError::Conflict(
                "the id \"default\" is the deployment's own tenant; choose another".into(),
            ));
        }
        if doc.tracking_id == self.default.doc.tracking_id {
            return Err(TenantError::Conflict(format!(
                "the tracking id {:?} is the deployment's own (ALIEXPRESS_TRACKING_ID): orders \
                 are a tenant's by their tracking id, so each tenant needs its own",
                doc.tracking_id
            )));
        }
        Ok(())
    }

    /// Creates a tenant through the API.
    pub async fn create(&self, doc: TenantDoc) -> Result<Arc<Tenant>, TenantError> {
        self.check_new(&doc)?;
        self.catalogs.build(&doc).map_err(TenantError::Unusable)?;
        let now = now_i64(&*self.clock);
        self.store
            .create_tenant(&record_of(&doc, TenantSource::Api, now, now)?)
            .await?;
        self.reload().await?;
        self.get(&doc.id)
            .ok_or_else(|| TenantError::NotFound(format!("tenant {:?} vanished", doc.id.as_str())))
    }

    fn editable(&self, id: &TenantId) -> Result<Arc<Tenant>, TenantError> {
        if id.is_default() {
            return Err(TenantError::Conflict(
                "the deployment's own tenant is defined by its environment; change it there".into(),
            ));
        }
        let tenant = self.get(id).ok_or_else(|| unknown_tenant(id))?;
        if tenant.source == TenantSource::File {
            return Err(TenantError::Conflict(format!(
                "tenant {:?} is defined in the config file, which wins: change it there",
                id.as_str()
            )));
        }
        Ok(tenant)
    }

    /// Changes a tenant made through the API: `change` makes its new document from the
    /// current one (the id cannot change).
    pub async fn update<E: From<TenantError>>(
        &self,
        id: &TenantId,
        change: impl FnOnce(&TenantDoc) -> Result<TenantDoc, E>,
    ) -> Result<Arc<Tenant>, E> {
        let tenant = self.editable(id)?;
        let doc = change(&tenant.doc)?;
        if &doc.id != id {
            return Err(TenantError::from(ValidationError::new("id", "cannot be changed")).into());
        }
        Ok(self.replace(&tenant, doc).await?)
    }

    async fn replace(&self, tenant: &Tenant, doc: TenantDoc) -> Result<Arc<Tenant>, TenantError> {
        let id = &tenant.doc.id;
        self.check_new(&doc)?;
        self.catalogs.build(&doc).map_err(TenantError::Unusable)?;
        // Strictly later than the stored change, so every instance rebuilds the tenant.
        let now = now_i64(&*self.clock).max(tenant.updated_ms + 1);
        let record = record_of(&doc, TenantSource::Api, tenant.created_ms, now)?;
        if !self.store.update_tenant(&record).await? {
            return Err(unknown_tenant(id));
        }
        self.reload().await?;
        self.get(id).ok_or_else(|| unknown_tenant(id))
    }

    /// Deletes a tenant made through the API; its keys are revoked with it.
    pub async fn delete(&self, id: &TenantId) -> Result<(), TenantError> {
        self.editable(id)?;
        if !self.store.delete_tenant(id, now_i64(&*self.clock)).await? {
            return Err(unknown_tenant(id));
        }
        self.reload().await?;
        Ok(())
    }

    /// A tenant's keys, revoked ones included, oldest first.
    pub async fn keys(&self, id: &TenantId) -> Result<Vec<TenantKeyRecord>, TenantError> {
        self.known(id)?;
        Ok(self.store.tenant_keys(id).await?)
    }

    fn known(&self, id: &TenantId) -> Result<Arc<Tenant>, TenantError> {
        if id.is_default() {
            return Err(TenantError::NotFound(
                "the deployment's own tenant has no keys here: its keys are API_KEYS and \
                 ADMIN_API_KEY"
                    .into(),
            ));
        }
        self.get(id).ok_or_else(|| unknown_tenant(id))
    }

    /// Makes a key for tenant `id`; returns it with the key itself, which is not kept and
    /// cannot be shown again.
    pub async fn create_key(
        &self,
        id: &TenantId,
        name: &str,
        role: Role,
        expires_ms: Option<i64>,
    ) -> Result<(TenantKeyRecord, String), TenantError> {
        self.known(id)?;
        let chars = name.chars().count();
        if name.trim().is_empty()
            || chars > MAX_KEY_NAME_CHARS
            || name.chars().any(char::is_control)
        {
            return Err(ValidationError::new("name", "must be 1 to 100 characters of text").into());
        }
        let now = now_i64(&*self.clock);
        if expires_ms.is_some_and(|e| e <= now) {
            return Err(ValidationError::new("expires_at", "must be in the future").into());
        }
        let live = self
            .store
            .tenant_keys(id)
            .await?
            .iter()
            .filter(|k| k.is_live(now))
            .count();
        if live >= MAX_KEYS_PER_TENANT {
            return Err(TenantError::Conflict(format!(
                "tenant {:?} holds {MAX_KEYS_PER_TENANT} live keys, the most allowed: revoke one first",
                id.as_str()
            )));
        }
        let mut secret = [0u8; 32];
        let mut kid = [0u8; 8];
        getrandom::fill(&mut secret).map_err(|_| TenantError::Random)?;
        getrandom::fill(&mut kid).map_err(|_| TenantError::Random)?;
        use base64::Engine as _;
        let key = format!(
            "{TENANT_KEY_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
        );
        let record = TenantKeyRecord {
            id: {
                let mut id = String::from("key_");
                crate::keys::push_hex(&mut id, &kid);
                id
            },
            tenant: id.clone(),
            name: name.to_owned(),
            role,
            digest: key_digest(&key),
            created_ms: now,
            expires_ms,
            last_used_ms: None,
            revoked_ms: None,
        };
        self.store.create_key(&record).await?;
        self.reload().await?;
        Ok((record, key))
    }

    /// Revokes key `key_id` of tenant `id`: refused from now on, on every instance within a
    /// reload.
    pub async fn revoke_key(
        &self,
        id: &TenantId,
        key_id: &str,
    ) -> Result<TenantKeyRecord, TenantError> {
        self.known(id)?;
        let revoked = self
            .store
            .revoke_key(id, key_id, now_i64(&*self.clock))
            .await?
            .ok_or_else(|| {
                TenantError::NotFound(format!(
                    "tenant {:?} has no key {:?}",
                    id.as_str(),
                    key_id.chars().take(40).collect::<String>()
                ))
            })?;
        self.reload().await?;
        Ok(revoked)
    }

    /// Records an admin action.
    pub async fn audit_record(&self, entry: &NewAuditEntry) -> Result<u64, StoreError> {
        self.store.append_audit(entry).await
    }

    /// Reads the audit log.
    pub async fn audit(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
        self.store.audit(query).await
    }

    /// Writes the keys' last use to the store (kept for the next try when it fails).
    pub async fn flush_usage(&self) -> Result<(), StoreError> {
        let snapshot = self.current();
        let mut used = Vec::new();
        for grant in snapshot.keys.values() {
            let at = grant.used_ms.swap(0, Ordering::Relaxed);
            if at > 0 {
                used.push((grant, at));
            }
        }
        if used.is_empty() {
            return Ok(());
        }
        let rows: Vec<(String, i64)> = used
            .iter()
            .map(|(g, at)| (g.key_id.to_string(), *at))
            .collect();
        let written = self.store.touch_keys(&rows).await;
        if written.is_err() {
            for (g, at) in used {
                g.used_ms.fetch_max(at, Ordering::Relaxed);
            }
        }
        written
    }

    /// Reloads the tenants and keys, refreshes every tenant's experiments and writes the keys'
    /// last use every `every` until `stop`; once more at the end.
    pub async fn run(
        self: Arc<Self>,
        every: Duration,
        stop: impl std::future::Future<Output = ()>,
    ) {
        let mut stop = std::pin::pin!(stop);
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = tick.tick() => {}
            }
            if let Err(e) = self.reload().await {
                tracing::warn!(error = %e, "tenants not reloaded; serving the last known ones");
            }
            if let Err(e) = self.flush_usage().await {
                tracing::warn!(error = %e, "keys' last use not recorded");
            }
            // The tenants' experiments, as the deployment's own run: counts out, state in.
            for e in self.tenant_experiments() {
                e.tick().await;
            }
            // A run can take minutes: beside this loop (a sync already running skips).
            if self.scheduled_syncs {
                for sync in self.own_order_syncs() {
                    tokio::spawn(async move {
                        let _ = sync.tick().await;
                    });
                }
            }
        }
        if let Err(e) = self.flush_usage().await {
            tracing::warn!(error = %e, "keys' last use not recorded at shutdown");
        }
        for e in self.tenant_experiments() {
            e.finish().await;
        }
    }
}

fn unknown_tenant(id: &TenantId) -> TenantError {
    TenantError::NotFound(format!("no tenant has the id {:?}", id.as_str()))
}

fn record_of(
    doc: &TenantDoc,
    source: TenantSource,
    created_ms: i64,
    updated_ms: i64,
) -> Result<TenantRecord, TenantError> {
    Ok(TenantRecord {
        id: doc.id.clone(),
        name: doc.name.clone(),
        tracking_id: doc.tracking_id.clone(),
        settings: serde_json::to_string(doc)
            .map_err(|e| TenantError::Unusable(format!("cannot encode the tenant: {e}")))?,
        source,
        created_ms,
        updated_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> TenantDoc {
        TenantDoc::new(TenantId::parse("acme").unwrap(), "Acme", "acme_tid")
    }

    #[test]
    fn documents_are_checked_field_by_field() {
        assert!(doc().validate().is_ok());
        let field = |f: &dyn Fn(&mut TenantDoc)| {
            let mut d = doc();
            f(&mut d);
            d.validate().unwrap_err().field
        };
        assert_eq!(field(&|d| d.name = " ".into()), "name");
        assert_eq!(field(&|d| d.tracking_id = "a b".into()), "tracking_id");
        assert_eq!(
            field(&|d| d.rate_limits = Some(TenantLimits {
                per_second: Some(0),
                per_minute: None
            })),
            "rate_limits"
        );
        assert_eq!(field(&|d| d.daily_quota = Some(0)), "daily_quota");
        assert_eq!(
            field(&|d| d.rate_limits = Some(TenantLimits {
                per_second: Some(10_000_001),
                per_minute: None
            })),
            "rate_limits",
            "the contract's bounds"
        );
        assert_eq!(
            field(&|d| d.cache_ttl = Some(TenantTtls {
                search: Some(MAX_TENANT_TTL_SECS + 1),
                ..TenantTtls::default()
            })),
            "cache_ttl"
        );
        assert_eq!(
            field(&|d| d.allowed_origins = vec!["https://a.example/path".into()]),
            "allowed_origins"
        );
        assert_eq!(
            field(&|d| d.credentials = Some(TenantCredentials {
                app_key: "123".into(),
                app_secret_env: "lower".into(),
                max_qps: None
            })),
            "credentials"
        );
    }

    #[test]
    fn quotas_follow_the_limits() {
        let mut d = doc();
        assert!(d.quotas().is_empty());
        d.rate_limits = Some(TenantLimits {
            per_second: Some(2),
            per_minute: None,
        });
        d.daily_quota = Some(1000);
        let q = d.quotas();
        assert_eq!(q.len(), 2);
        assert_eq!(q[1].count, 1000);
        assert_eq!(q[1].period, Duration::from_secs(86_400));
    }
}
