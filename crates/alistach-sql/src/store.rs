//! The store on a sqlx pool: one SQL text for both backends (`$n` parameters work on both),
//! written once and run on the backend's own pool type by [`with_pool!`].

use std::str::FromStr;
use std::time::Duration;

use alistach_domain::{AffiliateOrder, Cents, platform_time};
use alistach_store::{
    Click, ClickStore, ClickSummary, CursorStore, GroupBy, LeaseInfo, LeaseStore,
    MAX_SUMMARY_PRODUCTS, NO_KEY, OrderFilter, OrderPageRequest, OrderRecord, OrderRows,
    OrderStore, RevenueGroup, StatusChange, Store, StoreError, StoredOrder, UpsertSummary,
};
use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::migrate::{self, Dialect, MIGRATIONS_TABLE};
use crate::target::Target;

/// How long a statement waits for a busy SQLite file, and for a pooled connection.
const WAIT: Duration = Duration::from_secs(10);

enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$p` bound to the backend's pool (the body is compiled once per backend).
macro_rules! with_pool {
    ($self:expr, $p:ident => $body:expr) => {
        match &$self.pool {
            Pool::Sqlite($p) => $body,
            Pool::Postgres($p) => $body,
        }
    };
}

/// The store on SQLite or PostgreSQL.
pub struct SqlStore {
    pool: Pool,
    target: Target,
}

impl std::fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The target's Debug redacts a password.
        f.debug_struct("SqlStore")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

fn unavailable(e: sqlx::Error) -> StoreError {
    // sqlx's texts name the failure and at most host and database, never the password.
    StoreError::Unavailable(e.to_string())
}

/// The current time on the database's clock, in Unix ms.
const fn now_sql(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)",
        Dialect::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
    }
}

/// Every column of `orders`, in [`bind_order!`]'s order.
const ORDER_COLUMNS: &str = "sub_order_id, order_id, status, tracking_id, product_id, \
    product_title, category_id, product_count, paid_amount, finished_amount, \
    estimated_paid_commission, estimated_finished_commission, commission_rate, currency, \
    created_at_ms, paid_at_ms, finished_at_ms, custom_parameters, ship_to_country, mock, \
    order_time_ms, first_seen_ms, updated_ms";

/// Ids are unsigned 64-bit: stored bit for bit in a signed column.
fn id_to_sql(id: u64) -> i64 {
    id as i64
}

fn id_from_sql(id: i64) -> u64 {
    id as u64
}

/// Binds the 19 order fields and `mock` ($1 to $20) to a query.
macro_rules! bind_order {
    ($q:expr, $r:expr) => {{
        let o = &$r.order;
        $q.bind(id_to_sql(o.sub_order_id))
            .bind(o.order_id.map(id_to_sql))
            .bind(o.status.clone())
            .bind(o.tracking_id.clone())
            .bind(o.product_id.map(id_to_sql))
            .bind(o.product_title.clone())
            .bind(o.category_id.map(id_to_sql))
            .bind(o.product_count.map(id_to_sql))
            .bind(o.paid_amount.0)
            .bind(o.finished_amount.map(|c| c.0))
            .bind(o.estimated_paid_commission.0)
            .bind(o.estimated_finished_commission.map(|c| c.0))
            .bind(o.commission_rate.clone())
            .bind(o.currency.clone())
            .bind(o.created_at_ms)
            .bind(o.paid_at_ms)
            .bind(o.finished_at_ms)
            .bind(o.custom_parameters.clone())
            .bind(o.ship_to_country.clone())
            .bind($r.mock)
    }};
}

/// Reads an order row (every column of [`ORDER_COLUMNS`]).
fn order_from_row<R>(row: &R) -> Result<StoredOrder, StoreError>
where
    R: Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> bool: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let corrupt = |e: sqlx::Error| StoreError::Corrupt(e.to_string());
    let i = |name: &str| row.try_get::<i64, _>(name).map_err(corrupt);
    let oi = |name: &str| row.try_get::<Option<i64>, _>(name).map_err(corrupt);
    let s = |name: &str| row.try_get::<String, _>(name).map_err(corrupt);
    let os = |name: &str| row.try_get::<Option<String>, _>(name).map_err(corrupt);
    let order = AffiliateOrder {
        sub_order_id: id_from_sql(i("sub_order_id")?),
        order_id: oi("order_id")?.map(id_from_sql),
        status: s("status")?,
        tracking_id: os("tracking_id")?,
        product_id: oi("product_id")?.map(id_from_sql),
        product_title: os("product_title")?,
        category_id: oi("category_id")?.map(id_from_sql),
        product_count: oi("product_count")?.map(id_from_sql),
        paid_amount: Cents(i("paid_amount")?),
        finished_amount: oi("finished_amount")?.map(Cents),
        estimated_paid_commission: Cents(i("estimated_paid_commission")?),
        estimated_finished_commission: oi("estimated_finished_commission")?.map(Cents),
        commission_rate: os("commission_rate")?,
        currency: s("currency")?,
        created_at_ms: oi("created_at_ms")?,
        paid_at_ms: oi("paid_at_ms")?,
        finished_at_ms: oi("finished_at_ms")?,
        custom_parameters: os("custom_parameters")?,
        ship_to_country: os("ship_to_country")?,
    };
    Ok(StoredOrder {
        record: OrderRecord {
            order,
            mock: row.try_get::<bool, _>("mock").map_err(corrupt)?,
        },
        order_time_ms: i("order_time_ms")?,
        first_seen_ms: i("first_seen_ms")?,
        updated_ms: i("updated_ms")?,
    })
}

/// A parameter of a query built at run time.
#[derive(Clone, Debug)]
enum Arg {
    Int(i64),
    Text(String),
    Bool(bool),
}

/// Binds `$args` in order.
macro_rules! bind_args {
    ($q:expr, $args:expr) => {{
        let mut q = $q;
        for a in $args {
            q = match a {
                Arg::Int(v) => q.bind(*v),
                Arg::Text(v) => q.bind(v.clone()),
                Arg::Bool(v) => q.bind(*v),
            };
        }
        q
    }};
}

/// `WHERE ...` of a filter, its parameters numbered from `$1`.
fn where_clause(filter: &OrderFilter) -> (String, Vec<Arg>) {
    let mut args = vec![Arg::Bool(filter.mock)];
    let mut sql = "WHERE mock = $1".to_owned();
    let mut add = |cond: &str, arg: Arg| {
        args.push(arg);
        sql.push_str(&format!(" AND {cond} ${}", args.len()));
    };
    if let Some(from) = filter.from_ms {
        add("order_time_ms >=", Arg::Int(from));
    }
    if let Some(to) = filter.to_ms {
        add("order_time_ms <", Arg::Int(to));
    }
    if let Some(status) = &filter.status {
        add("status =", Arg::Text(status.clone()));
    }
    if let Some(status) = &filter.exclude_status {
        add("status <>", Arg::Text(status.clone()));
    }
    if let Some(tracking) = &filter.tracking_id {
        add("tracking_id =", Arg::Text(tracking.clone()));
    }
    (sql, args)
}

impl SqlStore {
    /// Connects to `target` (creating a SQLite file and its directory when missing), refuses a
    /// schema newer than this binary's, and applies the embedded migrations.
    pub async fn open(target: Target) -> Result<SqlStore, StoreError> {
        let pool = match &target {
            Target::Sqlite(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    tokio::fs::create_dir_all(dir).await.map_err(|e| {
                        StoreError::Unavailable(format!(
                            "cannot create the data directory {}: {e}",
                            dir.display()
                        ))
                    })?;
                }
                let options = SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(WAIT)
                    .foreign_keys(true);
                let pool = SqlitePoolOptions::new()
                    .max_connections(4)
                    .acquire_timeout(WAIT)
                    .connect_with(options)
                    .await
                    .map_err(|e| {
                        StoreError::Unavailable(format!(
                            "cannot open the SQLite database {}: {e}",
                            path.display()
                        ))
                    })?;
                Pool::Sqlite(pool)
            }
            Target::Postgres(url) => {
                let options = PgConnectOptions::from_str(url)
                    .map_err(|e| StoreError::Config(format!("DATABASE_URL: {e}")))?
                    .application_name("alistach");
                let pool = PgPoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(WAIT)
                    .connect_with(options)
                    .await
                    .map_err(|e| {
                        StoreError::Unavailable(format!("cannot connect to PostgreSQL: {e}"))
                    })?;
                Pool::Postgres(pool)
            }
        };
        let store = SqlStore { pool, target };
        store.migrate().await?;
        Ok(store)
    }

    /// Where it is.
    pub fn target(&self) -> &Target {
        &self.target
    }

    fn dialect(&self) -> Dialect {
        match self.pool {
            Pool::Sqlite(_) => Dialect::Sqlite,
            Pool::Postgres(_) => Dialect::Postgres,
        }
    }

    /// The newest migration applied to the database, `None` on a fresh one.
    pub async fn schema_version(&self) -> Result<Option<i64>, StoreError> {
        let exists_sql = match self.dialect() {
            Dialect::Sqlite => {
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = $1"
            }
            Dialect::Postgres => {
                "SELECT COUNT(*) FROM pg_catalog.pg_tables \
                 WHERE schemaname = current_schema() AND tablename = $1"
            }
        };
        with_pool!(self, p => {
            let exists: i64 = sqlx::query_scalar(exists_sql)
                .bind(MIGRATIONS_TABLE)
                .fetch_one(p)
                .await
                .map_err(unavailable)?;
            if exists == 0 {
                return Ok(None);
            }
            sqlx::query_scalar::<_, Option<i64>>(
                "SELECT MAX(version) FROM _sqlx_migrations WHERE success",
            )
            .fetch_one(p)
            .await
            .map_err(unavailable)
        })
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        migrate::check_version(self.schema_version().await?)?;
        let migrator = migrate::migrator(self.dialect()).await?;
        let run = with_pool!(self, p => migrator.run(p).await);
        run.map_err(|e| match e {
            // Another instance may have migrated further between the check and the run.
            sqlx::migrate::MigrateError::VersionMissing(found) => StoreError::SchemaTooNew {
                found,
                known: crate::KNOWN_SCHEMA_VERSION,
            },
            other => StoreError::Migration(other.to_string()),
        })
    }

    /// Closes the pool (waits for connections in use to come back).
    pub async fn close(&self) {
        with_pool!(self, p => p.close().await);
    }
}

#[async_trait]
impl OrderStore for SqlStore {
    async fn upsert_orders(
        &self,
        orders: &[OrderRecord],
        observed_at_ms: i64,
    ) -> Result<UpsertSummary, StoreError> {
        let insert = format!(
            "INSERT INTO orders ({ORDER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, \
             $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $22) \
             ON CONFLICT (sub_order_id) DO NOTHING"
        );
        let select = format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE sub_order_id = $1{}",
            match self.dialect() {
                Dialect::Sqlite => "",
                // Serialises concurrent updates of one order, so each status change is
                // recorded once.
                Dialect::Postgres => " FOR UPDATE",
            }
        );
        let update = "UPDATE orders SET order_id = $2, status = $3, tracking_id = $4, \
            product_id = $5, product_title = $6, category_id = $7, product_count = $8, \
            paid_amount = $9, finished_amount = $10, estimated_paid_commission = $11, \
            estimated_finished_commission = $12, commission_rate = $13, currency = $14, \
            created_at_ms = $15, paid_at_ms = $16, finished_at_ms = $17, \
            custom_parameters = $18, ship_to_country = $19, mock = $20, order_time_ms = $21, \
            updated_ms = $22 WHERE sub_order_id = $1";
        let history = "INSERT INTO order_status_history \
            (sub_order_id, status, previous_status, observed_at_ms) VALUES ($1, $2, $3, $4)";
        let mut summary = UpsertSummary::default();
        with_pool!(self, p => {
            let mut tx = match &self.pool {
                // Take the write lock at once: a deferred transaction that read first could
                // not upgrade while another connection writes.
                Pool::Sqlite(_) => p.begin_with("BEGIN IMMEDIATE").await,
                Pool::Postgres(_) => p.begin().await,
            }
            .map_err(unavailable)?;
            for record in orders {
                let id = id_to_sql(record.order.sub_order_id);
                let inserted = bind_order!(sqlx::query(&insert), record)
                    .bind(record.order_time_ms(observed_at_ms))
                    .bind(observed_at_ms)
                    .execute(&mut *tx)
                    .await
                    .map_err(unavailable)?
                    .rows_affected();
                if inserted == 1 {
                    sqlx::query(history)
                        .bind(id)
                        .bind(record.order.status.clone())
                        .bind(None::<String>)
                        .bind(observed_at_ms)
                        .execute(&mut *tx)
                        .await
                        .map_err(unavailable)?;
                    summary.inserted += 1;
                    continue;
                }
                let row = sqlx::query(&select)
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(unavailable)?;
                let old = order_from_row(&row)?;
                if old.record == *record {
                    summary.unchanged += 1;
                    continue;
                }
                bind_order!(sqlx::query(update), record)
                    .bind(record.order_time_ms(old.first_seen_ms))
                    .bind(observed_at_ms)
                    .execute(&mut *tx)
                    .await
                    .map_err(unavailable)?;
                summary.updated += 1;
                if old.record.order.status != record.order.status {
                    sqlx::query(history)
                        .bind(id)
                        .bind(record.order.status.clone())
                        .bind(Some(old.record.order.status.clone()))
                        .bind(observed_at_ms)
                        .execute(&mut *tx)
                        .await
                        .map_err(unavailable)?;
                    summary.status_changes += 1;
                }
            }
            tx.commit().await.map_err(unavailable)?;
        });
        Ok(summary)
    }

    async fn order(&self, sub_order_id: u64) -> Result<Option<StoredOrder>, StoreError> {
        let sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE sub_order_id = $1");
        with_pool!(self, p => {
            let row = sqlx::query(&sql)
                .bind(id_to_sql(sub_order_id))
                .fetch_optional(p)
                .await
                .map_err(unavailable)?;
            row.as_ref().map(order_from_row).transpose()
        })
    }

    async fn status_history(&self, sub_order_id: u64) -> Result<Vec<StatusChange>, StoreError> {
        let sql = "SELECT status, previous_status, observed_at_ms FROM order_status_history \
                   WHERE sub_order_id = $1 ORDER BY id";
        with_pool!(self, p => {
            let rows = sqlx::query(sql)
                .bind(id_to_sql(sub_order_id))
                .fetch_all(p)
                .await
                .map_err(unavailable)?;
            rows.iter()
                .map(|row| {
                    Ok(StatusChange {
                        status: row.try_get("status").map_err(|e| StoreError::Corrupt(e.to_string()))?,
                        previous: row
                            .try_get("previous_status")
                            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                        observed_at_ms: row
                            .try_get("observed_at_ms")
                            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    })
                })
                .collect()
        })
    }

    async fn list_orders(
        &self,
        filter: &OrderFilter,
        page: OrderPageRequest,
    ) -> Result<OrderRows, StoreError> {
        let (where_sql, args) = where_clause(filter);
        let count_sql = format!("SELECT COUNT(*) FROM orders {where_sql}");
        let n = args.len();
        let page_sql = format!(
            "SELECT {ORDER_COLUMNS} FROM orders {where_sql} \
             ORDER BY order_time_ms DESC, sub_order_id DESC LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        );
        let limit = i64::from(page.limit());
        let offset = i64::try_from(page.offset()).unwrap_or(i64::MAX);
        with_pool!(self, p => {
            let total: i64 = bind_args!(sqlx::query_scalar(&count_sql), &args)
                .fetch_one(p)
                .await
                .map_err(unavailable)?;
            let rows = bind_args!(sqlx::query(&page_sql), &args)
                .bind(limit)
                .bind(offset)
                .fetch_all(p)
                .await
                .map_err(unavailable)?;
            let orders = rows.iter().map(order_from_row).collect::<Result<Vec<_>, _>>()?;
            Ok(OrderRows {
                orders,
                total: u64::try_from(total).unwrap_or(0),
            })
        })
    }

    async fn revenue(
        &self,
        filter: &OrderFilter,
        group_by: GroupBy,
    ) -> Result<Vec<RevenueGroup>, StoreError> {
        let (where_sql, args) = where_clause(filter);
        let key = match group_by {
            GroupBy::Day => "CAST(order_time_ms / 86400000 AS TEXT)",
            GroupBy::TrackingId => "tracking_id",
            GroupBy::Product => "CAST(product_id AS TEXT)",
            GroupBy::Category => "CAST(category_id AS TEXT)",
        };
        let sql = format!(
            "SELECT {key} AS k, currency, COUNT(*) AS n, \
             CAST(SUM(paid_amount) AS BIGINT) AS paid, \
             CAST(SUM(estimated_paid_commission) AS BIGINT) AS est, \
             CAST(COALESCE(SUM(estimated_finished_commission), 0) AS BIGINT) AS fin \
             FROM orders {where_sql} GROUP BY {key}, currency"
        );
        let mut groups = with_pool!(self, p => {
            let rows = bind_args!(sqlx::query(&sql), &args)
                .fetch_all(p)
                .await
                .map_err(unavailable)?;
            rows.iter()
                .map(|row| {
                    let corrupt = |e: sqlx::Error| StoreError::Corrupt(e.to_string());
                    let k: Option<String> = row.try_get("k").map_err(corrupt)?;
                    let key = match (group_by, k) {
                        (_, None) => NO_KEY.to_owned(),
                        (GroupBy::Day, Some(day)) => {
                            let day: i64 = day.parse().map_err(|_| {
                                StoreError::Corrupt(format!("day number {day:?}"))
                            })?;
                            platform_time::utc_day(day * 86_400_000)
                        }
                        // Ids are stored bit for bit: show them unsigned.
                        (GroupBy::Product | GroupBy::Category, Some(id)) => id
                            .parse::<i64>()
                            .map(|id| id_from_sql(id).to_string())
                            .unwrap_or(id),
                        (GroupBy::TrackingId, Some(t)) => t,
                    };
                    let n: i64 = row.try_get("n").map_err(corrupt)?;
                    Ok(RevenueGroup {
                        key,
                        currency: row.try_get("currency").map_err(corrupt)?,
                        orders: u64::try_from(n).unwrap_or(0),
                        paid_amount: Cents(row.try_get("paid").map_err(corrupt)?),
                        estimated_commission: Cents(row.try_get("est").map_err(corrupt)?),
                        finished_commission: Cents(row.try_get("fin").map_err(corrupt)?),
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()
        })?;
        // Sorted here, by bytes: a database collation could order `(none)` or digits
        // differently per locale.
        groups.sort_by(|a, b| (&a.key, &a.currency).cmp(&(&b.key, &b.currency)));
        Ok(groups)
    }
}

#[async_trait]
impl CursorStore for SqlStore {
    async fn cursor(&self, name: &str) -> Result<Option<String>, StoreError> {
        with_pool!(self, p => sqlx::query_scalar::<_, String>(
            "SELECT value FROM sync_cursors WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(p)
        .await
        .map_err(unavailable))
    }

    async fn set_cursor(&self, name: &str, value: &str) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO sync_cursors (name, value, updated_ms) VALUES ($1, $2, {now}) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value, \
             updated_ms = excluded.updated_ms",
            now = now_sql(self.dialect())
        );
        with_pool!(self, p => sqlx::query(&sql)
            .bind(name)
            .bind(value)
            .execute(p)
            .await
            .map(|r| r.rows_affected())
            .map_err(unavailable))?;
        Ok(())
    }
}

#[async_trait]
impl LeaseStore for SqlStore {
    async fn try_acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let now = now_sql(self.dialect());
        let sql = format!(
            "INSERT INTO leases (name, holder, expires_at_ms) VALUES ($1, $2, {now} + $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
             expires_at_ms = excluded.expires_at_ms \
             WHERE leases.expires_at_ms <= {now} OR leases.holder = excluded.holder"
        );
        let ttl_ms = i64::try_from(ttl.as_millis())
            .unwrap_or(i64::MAX / 2)
            .max(1);
        let changed = with_pool!(self, p => sqlx::query(&sql)
            .bind(name)
            .bind(holder)
            .bind(ttl_ms)
            .execute(p)
            .await
            .map(|r| r.rows_affected())
            .map_err(unavailable))?;
        Ok(changed == 1)
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        with_pool!(self, p => sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(p)
            .await
            .map(|r| r.rows_affected())
            .map_err(unavailable))?;
        Ok(())
    }

    async fn lease(&self, name: &str) -> Result<Option<LeaseInfo>, StoreError> {
        let sql = format!(
            "SELECT holder, expires_at_ms FROM leases WHERE name = $1 AND expires_at_ms > {}",
            now_sql(self.dialect())
        );
        with_pool!(self, p => {
            let row = sqlx::query(&sql)
                .bind(name)
                .fetch_optional(p)
                .await
                .map_err(unavailable)?;
            row.map(|row| {
                let corrupt = |e: sqlx::Error| StoreError::Corrupt(e.to_string());
                Ok(LeaseInfo {
                    holder: row.try_get("holder").map_err(corrupt)?,
                    expires_at_ms: row.try_get("expires_at_ms").map_err(corrupt)?,
                })
            })
            .transpose()
        })
    }
}

#[async_trait]
impl ClickStore for SqlStore {
    async fn record_clicks(&self, clicks: &[Click]) -> Result<(), StoreError> {
        if clicks.is_empty() {
            return Ok(());
        }
        const INSERT: &str =
            "INSERT INTO clicks (at_ms, product_id, tracking_id, variant) VALUES ($1, $2, $3, $4)";
        with_pool!(self, p => {
            let mut tx = p.begin().await.map_err(unavailable)?;
            for c in clicks {
                sqlx::query(INSERT)
                    .bind(c.at_ms)
                    .bind(id_to_sql(c.product_id.0))
                    .bind(c.tracking_id.clone())
                    .bind(c.variant.map(i64::from))
                    .execute(&mut *tx)
                    .await
                    .map_err(unavailable)?;
            }
            tx.commit().await.map_err(unavailable)
        })
    }

    async fn click_summary(&self) -> Result<ClickSummary, StoreError> {
        // One statement, so the total and the per-product counts are one snapshot (two
        // statements could see a click land between them).
        let top = format!(
            "SELECT product_id, COUNT(*) AS clicks, CAST(SUM(COUNT(*)) OVER () AS BIGINT) AS total \
             FROM clicks GROUP BY product_id ORDER BY clicks DESC, product_id \
             LIMIT {MAX_SUMMARY_PRODUCTS}"
        );
        let rows: Vec<(i64, i64, i64)> = with_pool!(self, p => {
            sqlx::query_as::<_, (i64, i64, i64)>(&top)
                .fetch_all(p)
                .await
                .map_err(unavailable)?
        });
        let total = rows.first().map_or(0, |r| r.2);
        let rows = rows.into_iter().map(|(id, n, _)| (id, n));
        let count = |n: i64| {
            u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("a negative count {n}")))
        };
        let per = rows
            .into_iter()
            .map(|(id, n)| Ok((alistach_domain::ProductId(id_from_sql(id)), count(n)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(ClickSummary::from_counts(count(total)?, per))
    }
}

#[async_trait]
impl Store for SqlStore {
    fn backend(&self) -> &'static str {
        self.target.backend()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        with_pool!(self, p => sqlx::query("SELECT 1").execute(p).await.map(|_| ()).map_err(unavailable))?;
        Ok(())
    }
}
