//! INTERIM, for branch `scope` only: the tenants of migration 9's `tenants` table, so the
//! tenant-scope checks can make tenants on SQL. The real [`TenantStore`] on SQL (tenants, keys,
//! audit; migration 8) comes from branch `tstore`; at the merge this file and its `mod` line
//! are deleted in favour of `store/tenants.rs`. Keys and the audit log are refused here.

use alistach_domain::TenantId;
use alistach_store::{
    AuditEntry, AuditQuery, NewAuditEntry, StoreError, TenantKeyRecord, TenantRecord, TenantSource,
    TenantStore,
};
use async_trait::async_trait;

use super::{Pool, SqlStore, tenant_from_sql, unavailable};

fn not_here() -> StoreError {
    StoreError::Unavailable("tenant keys and the audit log come with migration 8".to_owned())
}

type TenantRow = (String, String, String, String, String, i64, i64);

fn tenant_from_row(row: TenantRow) -> Result<TenantRecord, StoreError> {
    let (id, name, tracking_id, settings, source, created_ms, updated_ms) = row;
    Ok(TenantRecord {
        id: tenant_from_sql(&id)?,
        name,
        tracking_id,
        settings,
        source: TenantSource::parse(&source)
            .ok_or_else(|| StoreError::Corrupt(format!("a tenant's source {source:?}")))?,
        created_ms,
        updated_ms,
    })
}

const COLUMNS: &str = "id, name, tracking_id, settings, source, created_ms, updated_ms";

#[async_trait]
impl TenantStore for SqlStore {
    async fn create_tenant(&self, t: &TenantRecord) -> Result<(), StoreError> {
        let sql = format!("INSERT INTO tenants ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)");
        with_pool!(self, p => sqlx::query(&sql)
        .bind(t.id.as_str())
        .bind(t.name.clone())
        .bind(t.tracking_id.clone())
        .bind(t.settings.clone())
        .bind(t.source.as_str())
        .bind(t.created_ms)
        .bind(t.updated_ms)
        .execute(p)
        .await
        .map(|r| r.rows_affected())
        .map_err(|e| match e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                StoreError::Conflict(format!("the tenant {} or its tracking id exists", t.id))
            }
            other => unavailable(other),
        }))?;
        Ok(())
    }

    async fn update_tenant(&self, t: &TenantRecord) -> Result<bool, StoreError> {
        let n = with_pool!(self, p => sqlx::query(
            "UPDATE tenants SET name = $2, tracking_id = $3, settings = $4, source = $5, \
             updated_ms = $6 WHERE id = $1",
        )
        .bind(t.id.as_str())
        .bind(t.name.clone())
        .bind(t.tracking_id.clone())
        .bind(t.settings.clone())
        .bind(t.source.as_str())
        .bind(t.updated_ms)
        .execute(p)
        .await
        .map_err(unavailable)?
        .rows_affected());
        Ok(n == 1)
    }

    async fn tenant(&self, id: &TenantId) -> Result<Option<TenantRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM tenants WHERE id = $1");
        let row: Option<TenantRow> = with_pool!(self, p => sqlx::query_as(&sql)
            .bind(id.as_str())
            .fetch_optional(p)
            .await
            .map_err(unavailable))?;
        row.map(tenant_from_row).transpose()
    }

    async fn tenants(&self) -> Result<Vec<TenantRecord>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM tenants");
        let rows: Vec<TenantRow> = with_pool!(self, p => sqlx::query_as(&sql)
            .fetch_all(p)
            .await
            .map_err(unavailable))?;
        let mut all = rows
            .into_iter()
            .map(tenant_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        all.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(all)
    }

    async fn delete_tenant(&self, id: &TenantId, _now_ms: i64) -> Result<bool, StoreError> {
        let n = with_pool!(self, p => sqlx::query("DELETE FROM tenants WHERE id = $1")
            .bind(id.as_str())
            .execute(p)
            .await
            .map_err(unavailable)?
            .rows_affected());
        Ok(n == 1)
    }

    async fn sync_file_tenants(&self, _: &[TenantRecord], _: i64) -> Result<(), StoreError> {
        Err(not_here())
    }

    async fn create_key(&self, _: &TenantKeyRecord) -> Result<(), StoreError> {
        Err(not_here())
    }

    async fn tenant_keys(&self, _: &TenantId) -> Result<Vec<TenantKeyRecord>, StoreError> {
        Err(not_here())
    }

    async fn live_keys(&self, _: i64) -> Result<Vec<TenantKeyRecord>, StoreError> {
        Err(not_here())
    }

    async fn revoke_key(
        &self,
        _: &TenantId,
        _: &str,
        _: i64,
    ) -> Result<Option<TenantKeyRecord>, StoreError> {
        Err(not_here())
    }

    async fn touch_keys(&self, _: &[(String, i64)]) -> Result<(), StoreError> {
        Err(not_here())
    }

    async fn append_audit(&self, _: &NewAuditEntry) -> Result<u64, StoreError> {
        Err(not_here())
    }

    async fn audit(&self, _: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
        Err(not_here())
    }

    async fn purge_audit(&self, _: i64) -> Result<u64, StoreError> {
        Err(not_here())
    }
}
