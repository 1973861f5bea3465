//! [`TenantStore`] on SQL: tenants, their keys (SHA-256 digests, never the keys) and the audit
//! log (migration 8). Lists are ordered here rather than by `ORDER BY` on text, so the order
//! is the same byte order on every backend whatever the database's collation.

use std::collections::{BTreeMap, HashMap, HashSet};

use alistach_domain::{Role, TenantId};
use alistach_store::{
    AuditEntry, AuditQuery, NewAuditEntry, StoreError, TenantKeyRecord, TenantRecord, TenantSource,
    TenantStore,
};
use async_trait::async_trait;

use super::{Arg, Pool, SqlStore, fits, id_from_sql, unavailable};
use crate::migrate::Dialect;

/// The columns of `tenants`, in [`TenantRow`]'s order.
const TENANT_COLUMNS: &str = "id, name, tracking_id, settings, source, created_ms, updated_ms";

/// A row of `tenants`.
type TenantRow = (String, String, String, String, String, i64, i64);

/// Stores a tenant unless its id or tracking id is taken (then nothing, 0 rows).
const INSERT_TENANT: &str = "INSERT INTO tenants \
    (id, name, tracking_id, settings, source, created_ms, updated_ms) \
    VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING";

const DELETE_TENANT: &str = "DELETE FROM tenants WHERE id = $1";

/// Revokes the keys of tenant `$1` at `$2` (a revoked key keeps its time).
const REVOKE_TENANT_KEYS: &str =
    "UPDATE tenant_keys SET revoked_ms = $2 WHERE tenant_id = $1 AND revoked_ms IS NULL";

/// The columns of `tenant_keys`, in [`KeyRow`]'s order.
const KEY_COLUMNS: &str = "id, tenant_id, name, role, digest, created_ms, expires_ms, \
    last_used_ms, revoked_ms";

/// A row of `tenant_keys`.
type KeyRow = (
    String,
    String,
    String,
    String,
    Vec<u8>,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

/// The columns of `audit_log`, in [`AuditRow`]'s order.
const AUDIT_COLUMNS: &str =
    "id, at_ms, actor, actor_tenant, tenant, action, target, from_addr, status";

/// A row of `audit_log`.
type AuditRow = (
    i64,
    i64,
    String,
    Option<String>,
    Option<String>,
    String,
    String,
    String,
    i64,
);

fn tenant_id_from_sql(text: &str) -> Result<TenantId, StoreError> {
    TenantId::parse(text).map_err(|_| StoreError::Corrupt(format!("a tenant id {text:?}")))
}

fn tenant_from_row(row: TenantRow) -> Result<TenantRecord, StoreError> {
    let (id, name, tracking_id, settings, source, created_ms, updated_ms) = row;
    Ok(TenantRecord {
        id: tenant_id_from_sql(&id)?,
        name,
        tracking_id,
        settings,
        source: TenantSource::parse(&source)
            .ok_or_else(|| StoreError::Corrupt(format!("a tenant's source {source:?}")))?,
        created_ms,
        updated_ms,
    })
}

fn key_from_row(row: KeyRow) -> Result<TenantKeyRecord, StoreError> {
    let (id, tenant, name, role, digest, created_ms, expires_ms, last_used_ms, revoked_ms) = row;
    let role: Role = role
        .parse()
        .map_err(|_| StoreError::Corrupt(format!("a key's role {role:?}")))?;
    let digest: [u8; 32] = digest.try_into().map_err(|d: Vec<u8>| {
        StoreError::Corrupt(format!("a key digest of {} bytes, not 32", d.len()))
    })?;
    Ok(TenantKeyRecord {
        id,
        tenant: tenant_id_from_sql(&tenant)?,
        name,
        role,
        digest,
        created_ms,
        expires_ms,
        last_used_ms,
        revoked_ms,
    })
}

/// Keys oldest first (creation time, then id).
fn keys_from_rows(rows: Vec<KeyRow>) -> Result<Vec<TenantKeyRecord>, StoreError> {
    let mut keys = rows
        .into_iter()
        .map(key_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    keys.sort_by(|a, b| (a.created_ms, &a.id).cmp(&(b.created_ms, &b.id)));
    Ok(keys)
}

fn audit_from_row(row: AuditRow) -> Result<AuditEntry, StoreError> {
    let (id, at_ms, actor, actor_tenant, tenant, action, target, from, status) = row;
    Ok(AuditEntry {
        id: id_from_sql(id),
        entry: NewAuditEntry {
            at_ms,
            actor,
            actor_tenant: actor_tenant
                .as_deref()
                .map(tenant_id_from_sql)
                .transpose()?,
            tenant: tenant.as_deref().map(tenant_id_from_sql).transpose()?,
            action,
            target,
            from,
            status: fits(status, "an audit entry's status")?,
        },
    })
}

fn tracking_conflict(tracking_id: &str) -> StoreError {
    StoreError::Conflict(format!(
        "the tracking id {tracking_id:?} is another tenant's"
    ))
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

/// What a sync of the file's tenants does, decided from the stored tenants before it writes.
#[derive(Debug, PartialEq, Eq)]
struct SyncPlan {
    /// File tenants no longer in the file: deleted, their keys revoked.
    gone: Vec<String>,
    /// Stored tenants the file redefines: deleted, then written again (so tracking ids may
    /// move between them without a transient unique violation).
    replaced: Vec<String>,
    /// The `created_ms` each listed tenant is written with (a replaced one keeps its own).
    created_ms: Vec<i64>,
}

/// Plans a sync of `tenants` over the stored `(id, tracking id, source, created_ms)` rows, or
/// refuses it: an id or a tracking id listed twice, or a tracking id of an API tenant the file
/// does not redefine.
fn plan_sync(
    stored: &[(String, String, String, i64)],
    tenants: &[TenantRecord],
) -> Result<SyncPlan, StoreError> {
    let mut ids = HashSet::new();
    let mut tracking_ids = HashSet::new();
    for t in tenants {
        if !ids.insert(t.id.as_str()) {
            return Err(StoreError::Conflict(format!(
                "the tenant id {:?} is listed twice",
                t.id.as_str()
            )));
        }
        if !tracking_ids.insert(t.tracking_id.as_str()) {
            return Err(StoreError::Conflict(format!(
                "the tracking id {:?} is listed twice",
                t.tracking_id
            )));
        }
    }
    let api = TenantSource::Api.as_str();
    if let Some((_, tracking_id, _, _)) = stored.iter().find(|(id, tracking_id, source, _)| {
        source == api && !ids.contains(id.as_str()) && tracking_ids.contains(tracking_id.as_str())
    }) {
        return Err(tracking_conflict(tracking_id));
    }
    let created: HashMap<&str, i64> = stored
        .iter()
        .map(|(id, _, _, created_ms)| (id.as_str(), *created_ms))
        .collect();
    let file = TenantSource::File.as_str();
    Ok(SyncPlan {
        gone: stored
            .iter()
            .filter(|(id, _, source, _)| source == file && !ids.contains(id.as_str()))
            .map(|(id, ..)| id.clone())
            .collect(),
        replaced: tenants
            .iter()
            .filter(|t| created.contains_key(t.id.as_str()))
            .map(|t| t.id.as_str().to_owned())
            .collect(),
        created_ms: tenants
            .iter()
            .map(|t| created.get(t.id.as_str()).copied().unwrap_or(t.created_ms))
            .collect(),
    })
}

/// Binds a tenant to [`INSERT_TENANT`] as source `$source`, created at `$created_ms`.
macro_rules! bind_tenant {
    ($q:expr, $t:expr, $source:expr, $created_ms:expr) => {
        $q.bind($t.id.as_str().to_owned())
            .bind($t.name.clone())
            .bind($t.tracking_id.clone())
            .bind($t.settings.clone())
            .bind($source.as_str())
            .bind($created_ms)
            .bind($t.updated_ms)
    };
}

impl SqlStore {
    /// Why [`INSERT_TENANT`] stored nothing: the id, or else the tracking id, is taken.
    async fn tenant_conflict(&self, tenant: &TenantRecord) -> StoreError {
        match self.tenant(&tenant.id).await {
            Ok(Some(_)) => StoreError::Conflict(format!(
                "a tenant with the id {:?} exists",
                tenant.id.as_str()
            )),
            _ => tracking_conflict(&tenant.tracking_id),
        }
    }
}

#[async_trait]
impl TenantStore for SqlStore {
    async fn create_tenant(&self, tenant: &TenantRecord) -> Result<(), StoreError> {
        let inserted = with_pool!(self, p => bind_tenant!(
            sqlx::query(INSERT_TENANT),
            tenant,
            tenant.source,
            tenant.created_ms
        )
        .execute(p)
        .await
        .map_err(unavailable)?
        .rows_affected());
        if inserted == 0 {
            return Err(self.tenant_conflict(tenant).await);
        }
        Ok(())
    }

    async fn update_tenant(&self, tenant: &TenantRecord) -> Result<bool, StoreError> {
        const UPDATE: &str = "UPDATE tenants SET name = $2, tracking_id = $3, settings = $4, \
            source = $5, updated_ms = $6 WHERE id = $1";
        let updated = with_pool!(self, p => sqlx::query(UPDATE)
            .bind(tenant.id.as_str().to_owned())
            .bind(tenant.name.clone())
            .bind(tenant.tracking_id.clone())
            .bind(tenant.settings.clone())
            .bind(tenant.source.as_str())
            .bind(tenant.updated_ms)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))
        .map_err(|e| {
            // The id is the key and stays: only the tracking id can be taken.
            if is_unique_violation(&e) {
                tracking_conflict(&tenant.tracking_id)
            } else {
                unavailable(e)
            }
        })?;
        Ok(updated == 1)
    }

    async fn tenant(&self, id: &TenantId) -> Result<Option<TenantRecord>, StoreError> {
        let sql = format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = $1");
        let row: Option<TenantRow> = with_pool!(self, p => sqlx::query_as(&sql)
            .bind(id.as_str().to_owned())
            .fetch_optional(p)
            .await
            .map_err(unavailable))?;
        row.map(tenant_from_row).transpose()
    }

    async fn tenants(&self) -> Result<Vec<TenantRecord>, StoreError> {
        let sql = format!("SELECT {TENANT_COLUMNS} FROM tenants");
        let rows: Vec<TenantRow> = with_pool!(self, p => sqlx::query_as(&sql)
            .fetch_all(p)
            .await
            .map_err(unavailable))?;
        let mut tenants = rows
            .into_iter()
            .map(tenant_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        tenants.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(tenants)
    }

    async fn delete_tenant(&self, id: &TenantId, now_ms: i64) -> Result<bool, StoreError> {
        with_pool!(self, p => {
            let mut tx = begin_write!(self, p)?;
            let deleted = sqlx::query(DELETE_TENANT)
                .bind(id.as_str().to_owned())
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?
                .rows_affected();
            if deleted == 0 {
                tx.rollback().await.map_err(unavailable)?;
                return Ok(false);
            }
            sqlx::query(REVOKE_TENANT_KEYS)
                .bind(id.as_str().to_owned())
                .bind(now_ms)
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
            tx.commit().await.map_err(unavailable)?;
            Ok(true)
        })
    }

    async fn sync_file_tenants(
        &self,
        tenants: &[TenantRecord],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        const STORED: &str = "SELECT id, tracking_id, source, created_ms FROM tenants";
        // Instances starting at once sync one after the other (each reads what it replaces);
        // readers are not held up. SQLite's write transaction already excludes other writers.
        const LOCK: &str = "LOCK TABLE tenants IN SHARE ROW EXCLUSIVE MODE";
        let file = TenantSource::File;
        with_pool!(self, p => {
            let mut tx = begin_write!(self, p)?;
            if matches!(self.dialect(), Dialect::Postgres) {
                sqlx::query(LOCK)
                    .execute(&mut *tx)
                    .await
                    .map_err(unavailable)?;
            }
            let stored: Vec<(String, String, String, i64)> = sqlx::query_as(STORED)
                .fetch_all(&mut *tx)
                .await
                .map_err(unavailable)?;
            let plan = match plan_sync(&stored, tenants) {
                Ok(plan) => plan,
                Err(e) => {
                    tx.rollback().await.map_err(unavailable)?;
                    return Err(e);
                }
            };
            for id in &plan.gone {
                sqlx::query(DELETE_TENANT)
                    .bind(id.clone())
                    .execute(&mut *tx)
                    .await
                    .map_err(unavailable)?;
                sqlx::query(REVOKE_TENANT_KEYS)
                    .bind(id.clone())
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await
                    .map_err(unavailable)?;
            }
            for id in &plan.replaced {
                sqlx::query(DELETE_TENANT)
                    .bind(id.clone())
                    .execute(&mut *tx)
                    .await
                    .map_err(unavailable)?;
            }
            for (t, created_ms) in tenants.iter().zip(&plan.created_ms) {
                let inserted = bind_tenant!(sqlx::query(INSERT_TENANT), t, file, *created_ms)
                    .execute(&mut *tx)
                    .await
                    .map_err(unavailable)?
                    .rows_affected();
                if inserted == 0 {
                    // The plan rules this out; should a row slip past it, nothing is changed.
                    tx.rollback().await.map_err(unavailable)?;
                    return Err(tracking_conflict(&t.tracking_id));
                }
            }
            tx.commit().await.map_err(unavailable)
        })
    }

    async fn create_key(&self, key: &TenantKeyRecord) -> Result<(), StoreError> {
        // On PostgreSQL the tenant's row is share-locked: a delete meanwhile waits, and then
        // revokes this key too.
        let tenant_sql = match self.dialect() {
            Dialect::Sqlite => "SELECT id FROM tenants WHERE id = $1",
            Dialect::Postgres => "SELECT id FROM tenants WHERE id = $1 FOR SHARE",
        };
        let insert = format!(
            "INSERT INTO tenant_keys ({KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT DO NOTHING"
        );
        let taken_sql = "SELECT COUNT(*) FROM tenant_keys WHERE id = $1";
        with_pool!(self, p => {
            let mut tx = begin_write!(self, p)?;
            let tenant: Option<String> = sqlx::query_scalar(tenant_sql)
                .bind(key.tenant.as_str().to_owned())
                .fetch_optional(&mut *tx)
                .await
                .map_err(unavailable)?;
            if tenant.is_none() {
                tx.rollback().await.map_err(unavailable)?;
                return Err(StoreError::Conflict(format!(
                    "no tenant has the id {:?}",
                    key.tenant.as_str()
                )));
            }
            let inserted = sqlx::query(&insert)
                .bind(key.id.clone())
                .bind(key.tenant.as_str().to_owned())
                .bind(key.name.clone())
                .bind(key.role.as_str())
                .bind(key.digest.to_vec())
                .bind(key.created_ms)
                .bind(key.expires_ms)
                .bind(key.last_used_ms)
                .bind(key.revoked_ms)
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?
                .rows_affected();
            if inserted == 0 {
                let same_id: i64 = sqlx::query_scalar(taken_sql)
                    .bind(key.id.clone())
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(unavailable)?;
                tx.rollback().await.map_err(unavailable)?;
                return Err(StoreError::Conflict(if same_id > 0 {
                    format!("a key with the id {:?} exists", key.id)
                } else {
                    "another key has the same digest".to_owned()
                }));
            }
            tx.commit().await.map_err(unavailable)
        })
    }

    async fn tenant_keys(&self, tenant: &TenantId) -> Result<Vec<TenantKeyRecord>, StoreError> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM tenant_keys WHERE tenant_id = $1");
        let rows: Vec<KeyRow> = with_pool!(self, p => sqlx::query_as(&sql)
            .bind(tenant.as_str().to_owned())
            .fetch_all(p)
            .await
            .map_err(unavailable))?;
        keys_from_rows(rows)
    }

    async fn live_keys(&self, now_ms: i64) -> Result<Vec<TenantKeyRecord>, StoreError> {
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM tenant_keys \
             WHERE revoked_ms IS NULL AND (expires_ms IS NULL OR expires_ms > $1)"
        );
        let rows: Vec<KeyRow> = with_pool!(self, p => sqlx::query_as(&sql)
            .bind(now_ms)
            .fetch_all(p)
            .await
            .map_err(unavailable))?;
        keys_from_rows(rows)
    }

    async fn revoke_key(
        &self,
        tenant: &TenantId,
        key_id: &str,
        now_ms: i64,
    ) -> Result<Option<TenantKeyRecord>, StoreError> {
        let sql = format!(
            "UPDATE tenant_keys SET revoked_ms = COALESCE(revoked_ms, $3) \
             WHERE tenant_id = $1 AND id = $2 RETURNING {KEY_COLUMNS}"
        );
        let row: Option<KeyRow> = with_pool!(self, p => sqlx::query_as(&sql)
            .bind(tenant.as_str().to_owned())
            .bind(key_id.to_owned())
            .bind(now_ms)
            .fetch_optional(p)
            .await
            .map_err(unavailable))?;
        row.map(key_from_row).transpose()
    }

    async fn touch_keys(&self, used: &[(String, i64)]) -> Result<(), StoreError> {
        const TOUCH: &str = "UPDATE tenant_keys SET last_used_ms = $2 \
            WHERE id = $1 AND (last_used_ms IS NULL OR last_used_ms < $2)";
        // The latest use of each key, in key order (instances touching the same keys lock
        // them in the same order).
        let mut latest: BTreeMap<&str, i64> = BTreeMap::new();
        for (id, at) in used {
            let at_most = latest.entry(id.as_str()).or_insert(*at);
            *at_most = (*at_most).max(*at);
        }
        if latest.is_empty() {
            return Ok(());
        }
        with_pool!(self, p => {
            let mut tx = begin_write!(self, p)?;
            for (id, at) in &latest {
                sqlx::query(TOUCH)
                    .bind((*id).to_owned())
                    .bind(*at)
                    .execute(&mut *tx)
                    .await
                    .map_err(unavailable)?;
            }
            tx.commit().await.map_err(unavailable)
        })
    }

    async fn append_audit(&self, entry: &NewAuditEntry) -> Result<u64, StoreError> {
        const INSERT: &str = "INSERT INTO audit_log \
            (at_ms, actor, actor_tenant, tenant, action, target, from_addr, status) \
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id";
        let id: i64 = with_pool!(self, p => sqlx::query_scalar(INSERT)
            .bind(entry.at_ms)
            .bind(entry.actor.clone())
            .bind(entry.actor_tenant.as_ref().map(|t| t.as_str().to_owned()))
            .bind(entry.tenant.as_ref().map(|t| t.as_str().to_owned()))
            .bind(entry.action.clone())
            .bind(entry.target.clone())
            .bind(entry.from.clone())
            .bind(i64::from(entry.status))
            .fetch_one(p)
            .await
            .map_err(unavailable))?;
        Ok(id_from_sql(id))
    }

    async fn audit(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
        let mut args: Vec<Arg> = Vec::new();
        let mut conds: Vec<String> = Vec::new();
        if let Some(tenant) = &query.tenant {
            args.push(Arg::Text(tenant.as_str().to_owned()));
            let n = args.len();
            conds.push(format!("(tenant = ${n} OR actor_tenant = ${n})"));
        }
        let mut add = |cond: &str, arg: i64| {
            args.push(Arg::Int(arg));
            conds.push(format!("{cond} ${}", args.len()));
        };
        if let Some(from) = query.from_ms {
            add("at_ms >=", from);
        }
        if let Some(to) = query.to_ms {
            add("at_ms <", to);
        }
        if let Some(before) = query.before_id {
            // Ids beyond i64::MAX are never handed out: every stored id is below them.
            add("id <", i64::try_from(before).unwrap_or(i64::MAX));
        }
        let where_sql = if conds.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conds.join(" AND "))
        };
        let sql = format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_log {where_sql} ORDER BY id DESC LIMIT ${}",
            args.len() + 1
        );
        let rows: Vec<AuditRow> = with_pool!(self, p => {
            let mut q = sqlx::query_as(&sql);
            for a in &args {
                q = match a {
                    Arg::Int(v) => q.bind(*v),
                    Arg::Text(v) => q.bind(v.clone()),
                    Arg::Bool(v) => q.bind(*v),
                };
            }
            q.bind(i64::from(query.limit))
                .fetch_all(p)
                .await
                .map_err(unavailable)
        })?;
        rows.into_iter().map(audit_from_row).collect()
    }

    async fn purge_audit(&self, before_ms: i64) -> Result<u64, StoreError> {
        const PURGE: &str = "DELETE FROM audit_log WHERE at_ms < $1";
        with_pool!(self, p => sqlx::query(PURGE)
            .bind(before_ms)
            .execute(p)
            .await
            .map(|r| r.rows_affected())
            .map_err(unavailable))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(id: &str, tracking_id: &str, created_ms: i64) -> TenantRecord {
        TenantRecord {
            id: TenantId::parse(id).unwrap(),
            name: id.to_owned(),
            tracking_id: tracking_id.to_owned(),
            settings: "{}".to_owned(),
            source: TenantSource::File,
            created_ms,
            updated_ms: created_ms,
        }
    }

    fn row(
        id: &str,
        tracking_id: &str,
        source: &str,
        created_ms: i64,
    ) -> (String, String, String, i64) {
        (
            id.to_owned(),
            tracking_id.to_owned(),
            source.to_owned(),
            created_ms,
        )
    }

    #[test]
    fn a_sync_replaces_listed_tenants_and_deletes_file_tenants_gone_from_the_file() {
        let stored = [
            row("api", "t-api", "api", 1),
            row("adopted", "t-adopted", "api", 2),
            row("kept", "t-kept", "file", 3),
            row("gone", "t-gone", "file", 4),
        ];
        let plan = plan_sync(
            &stored,
            &[
                listed("kept", "t-gone", 30),
                listed("adopted", "t-kept", 30),
                listed("new", "t-adopted", 30),
            ],
        )
        .unwrap();
        assert_eq!(
            plan,
            SyncPlan {
                gone: vec!["gone".to_owned()],
                replaced: vec!["kept".to_owned(), "adopted".to_owned()],
                created_ms: vec![3, 2, 30],
            }
        );
    }

    #[test]
    fn a_sync_is_refused_for_an_api_tenants_tracking_id_or_a_duplicate() {
        let stored = [
            row("api", "t-api", "api", 1),
            row("file", "t-file", "file", 2),
        ];
        let refused = |tenants: &[TenantRecord]| match plan_sync(&stored, tenants) {
            Err(StoreError::Conflict(text)) => text,
            other => panic!("{other:?}"),
        };
        assert!(refused(&[listed("x", "t-api", 1)]).contains("\"t-api\""));
        assert!(refused(&[listed("x", "t", 1), listed("x", "u", 1)]).contains("listed twice"));
        assert!(refused(&[listed("x", "t", 1), listed("y", "t", 1)]).contains("listed twice"));
        // A file tenant's tracking id is free to take.
        assert!(plan_sync(&stored, &[listed("x", "t-file", 1)]).is_ok());
    }
}
