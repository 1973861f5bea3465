//! [`WatchStore`] on SQL: product watches and what their checks last saw (migration 5); a
//! check's events are published in the transaction that records it ([`publish_in!`]).

use alistach_domain::TenantId;
use alistach_store::{Event, NewWatch, StoreError, Watch, WatchState, WatchStore};
use async_trait::async_trait;

use super::{Pool, SqlStore, fits, id_from_sql, id_to_sql, tenant_from_sql, unavailable};

/// The columns of `watches`, in [`WatchRow`]'s order.
const WATCH_COLUMNS: &str = "id, tenant_id, product_id, price_drop_percent, target_price, currency, \
    ship_to_country, created_at_ms, baseline_price, last_price, available, notified, \
    checked_at_ms";

/// A row of `watches`.
type WatchRow = (
    i64,
    String,
    i64,
    Option<i64>,
    Option<String>,
    String,
    Option<String>,
    i64,
    Option<String>,
    Option<String>,
    Option<bool>,
    bool,
    Option<i64>,
);

fn watch_from_row(row: WatchRow) -> Result<Watch, StoreError> {
    let (
        id,
        tenant,
        product_id,
        price_drop_percent,
        target_price,
        currency,
        ship_to_country,
        created_at_ms,
        baseline_price,
        last_price,
        available,
        notified,
        checked_at_ms,
    ) = row;
    Ok(Watch {
        id: id_from_sql(id),
        tenant: tenant_from_sql(&tenant)?,
        product_id: id_from_sql(product_id),
        price_drop_percent: price_drop_percent
            .map(|p| fits(p, "a watch's price drop percentage"))
            .transpose()?,
        target_price,
        currency,
        ship_to_country,
        created_at_ms,
        state: WatchState {
            baseline_price,
            last_price,
            available,
            notified,
            checked_at_ms,
        },
    })
}

#[async_trait]
impl WatchStore for SqlStore {
    async fn create_watch(&self, new: &NewWatch, now_ms: i64) -> Result<Watch, StoreError> {
        const INSERT: &str = "INSERT INTO watches (product_id, price_drop_percent, \
            target_price, currency, ship_to_country, created_at_ms, notified, tenant_id) \
            VALUES ($1, $2, $3, $4, $5, $6, FALSE, $7) RETURNING id";
        let id: i64 = with_pool!(self, p => sqlx::query_scalar(INSERT)
            .bind(id_to_sql(new.product_id))
            .bind(new.price_drop_percent.map(i64::from))
            .bind(new.target_price.clone())
            .bind(new.currency.clone())
            .bind(new.ship_to_country.clone())
            .bind(now_ms)
            .bind(new.tenant.as_str())
            .fetch_one(p)
            .await
            .map_err(unavailable))?;
        Ok(Watch {
            id: id_from_sql(id),
            tenant: new.tenant.clone(),
            product_id: new.product_id,
            price_drop_percent: new.price_drop_percent,
            target_price: new.target_price.clone(),
            currency: new.currency.clone(),
            ship_to_country: new.ship_to_country.clone(),
            created_at_ms: now_ms,
            state: WatchState::default(),
        })
    }

    async fn watches(&self, tenant: Option<&TenantId>) -> Result<Vec<Watch>, StoreError> {
        let sql = format!(
            "SELECT {WATCH_COLUMNS} FROM watches {} ORDER BY id",
            if tenant.is_some() {
                "WHERE tenant_id = $1"
            } else {
                ""
            }
        );
        let rows: Vec<WatchRow> = with_pool!(self, p => {
            let mut q = sqlx::query_as(&sql);
            if let Some(t) = tenant {
                q = q.bind(t.as_str());
            }
            q.fetch_all(p).await.map_err(unavailable)
        })?;
        rows.into_iter().map(watch_from_row).collect()
    }

    async fn watch(&self, id: u64) -> Result<Option<Watch>, StoreError> {
        let sql = format!("SELECT {WATCH_COLUMNS} FROM watches WHERE id = $1");
        let row: Option<WatchRow> = with_pool!(self, p => sqlx::query_as(&sql)
            .bind(id_to_sql(id))
            .fetch_optional(p)
            .await
            .map_err(unavailable))?;
        row.map(watch_from_row).transpose()
    }

    async fn delete_watch(&self, id: u64) -> Result<bool, StoreError> {
        const DELETE: &str = "DELETE FROM watches WHERE id = $1";
        let deleted = with_pool!(self, p => sqlx::query(DELETE)
            .bind(id_to_sql(id))
            .execute(p)
            .await
            .map_err(unavailable)?
            .rows_affected());
        Ok(deleted == 1)
    }

    async fn record_watch_check(
        &self,
        id: u64,
        state: &WatchState,
        events: &[Event],
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        const UPDATE: &str = "UPDATE watches SET baseline_price = $2, last_price = $3, \
            available = $4, notified = $5, checked_at_ms = $6 WHERE id = $1";
        let mut subscribers: super::webhooks::Subscribers = None;
        with_pool!(self, p => {
            let mut tx = begin_write!(self, p)?;
            // The update locks the row: a delete meanwhile waits, or went first (0 rows).
            let updated = sqlx::query(UPDATE)
                .bind(id_to_sql(id))
                .bind(state.baseline_price.clone())
                .bind(state.last_price.clone())
                .bind(state.available)
                .bind(state.notified)
                .bind(state.checked_at_ms)
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?
                .rows_affected();
            if updated == 0 {
                tx.rollback().await.map_err(unavailable)?;
                return Ok(false);
            }
            publish_in!(self, tx, events, now_ms, subscribers);
            tx.commit().await.map_err(unavailable)?;
            Ok(true)
        })
    }
}
