//! The store on a sqlx pool: one SQL text for both backends (`$n` parameters work on both),
//! written once and run on the backend's own pool type by [`with_pool!`].

use std::str::FromStr;
use std::time::Duration;

use std::collections::BTreeMap;

use alistach_domain::{
    AffiliateOrder, Cents, LinkType, OrderStatus, SubIds, TenantId, platform_time,
};
use alistach_store::{
    Allocation, Click, ClickStore, ClickSummary, CursorStore, Experiment, ExperimentStore, GroupBy,
    LeaseInfo, LeaseStore, MAX_SUMMARY_PRODUCTS, NO_KEY, NewExperiment, OrderFilter,
    OrderPageRequest, OrderRecord, OrderRows, OrderStore, RevenueGroup, StatusChange, Store,
    StoreError, StoredOrder, UpsertSummary, Variant, VariantOutcome, order_events,
};
use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::migrate::{self, ATTRIBUTION_PENDING, Dialect, MIGRATIONS_TABLE};
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

/// Begins a transaction that will write, on `$p` (inside [`with_pool!`]): on SQLite it takes
/// the write lock at once, since a deferred transaction that read first could not upgrade
/// while another connection writes.
macro_rules! begin_write {
    ($self:expr, $p:ident) => {
        match &$self.pool {
            Pool::Sqlite(_) => $p.begin_with("BEGIN IMMEDIATE").await,
            Pool::Postgres(_) => $p.begin().await,
        }
        .map_err(unavailable)
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

/// The experiment (id as stored) and variant an order's sub-ids name: the `experiment_id`
/// and `variant` columns.
fn attribution(order: &AffiliateOrder) -> (Option<i64>, Option<String>) {
    match order.experiment_variant() {
        Some((id, variant)) => (Some(id_to_sql(id)), Some(variant)),
        None => (None, None),
    }
}

fn corrupt(e: sqlx::Error) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn link_type_to_sql(link_type: LinkType) -> &'static str {
    match link_type {
        LinkType::Normal => "normal",
        LinkType::Hot => "hot",
    }
}

fn link_type_from_sql(text: &str) -> Result<LinkType, StoreError> {
    match text {
        "normal" => Ok(LinkType::Normal),
        "hot" => Ok(LinkType::Hot),
        other => Err(StoreError::Corrupt(format!(
            "a variant's link type {other:?}"
        ))),
    }
}

/// A stored count or setting that must fit `T`.
fn fits<T: TryFrom<i64>>(value: i64, what: &str) -> Result<T, StoreError> {
    T::try_from(value).map_err(|_| StoreError::Corrupt(format!("{what} {value} out of range")))
}

/// The columns of `experiments`, in [`ExperimentRow`]'s order.
const EXPERIMENT_COLUMNS: &str =
    "id, tenant_id, name, allocation, min_share_permille, created_at_ms, stopped_at_ms";

/// A row of `experiments`.
type ExperimentRow = (i64, String, String, String, i64, i64, Option<i64>);

/// A stored tenant id (written only from a [`TenantId`], or 'default' by migration 9).
fn tenant_from_sql(text: &str) -> Result<TenantId, StoreError> {
    TenantId::parse(text).map_err(|_| StoreError::Corrupt(format!("a tenant id {text:?}")))
}

/// `column IN ($first, $first + 1, …)` for `values` (a condition no row meets when empty),
/// with the values as text parameters.
fn in_list(column: &str, values: &[String], first: usize) -> (String, Vec<Arg>) {
    if values.is_empty() {
        return ("1 = 0".to_owned(), Vec::new());
    }
    let params: Vec<String> = (first..first + values.len())
        .map(|i| format!("${i}"))
        .collect();
    (
        format!("{column} IN ({})", params.join(", ")),
        values.iter().cloned().map(Arg::Text).collect(),
    )
}

/// The columns of `experiment_variants`, in [`VariantRow`]'s order.
const VARIANT_COLUMNS: &str = "id, experiment_id, name, weight, link_type, tracking_id";

/// A row of `experiment_variants`.
type VariantRow = (i64, i64, String, i64, String, Option<String>);

/// The experiments of `rows` with their variants (`variants` ordered by position; those of
/// other experiments are left out).
fn experiments_from_rows(
    rows: Vec<ExperimentRow>,
    variants: Vec<VariantRow>,
) -> Result<Vec<Experiment>, StoreError> {
    let mut per: BTreeMap<i64, Vec<Variant>> = BTreeMap::new();
    for (id, experiment_id, name, weight, link_type, tracking_id) in variants {
        per.entry(experiment_id).or_default().push(Variant {
            id: fits(id, "a variant id")?,
            name,
            weight: fits(weight, "a variant's weight")?,
            link_type: link_type_from_sql(&link_type)?,
            tracking_id,
        });
    }
    rows.into_iter()
        .map(
            |(id, tenant, name, allocation, min_share, created_at_ms, stopped_at_ms)| {
                Ok(Experiment {
                    id: id_from_sql(id),
                    tenant: tenant_from_sql(&tenant)?,
                    name,
                    allocation: Allocation::parse(&allocation).ok_or_else(|| {
                        StoreError::Corrupt(format!("an experiment's allocation {allocation:?}"))
                    })?,
                    min_share_permille: fits(min_share, "an experiment's least share")?,
                    variants: per.remove(&id).unwrap_or_default(),
                    created_at_ms,
                    stopped_at_ms,
                })
            },
        )
        .collect()
}

/// The tenant whose tracking id is `$record`'s order's (the default tenant when none is), read
/// in the transaction `$tx` and remembered in `$cache` (a `BTreeMap<Option<String>,
/// TenantId>`). Used inside [`with_pool!`].
macro_rules! tenant_of {
    ($tx:expr, $record:expr, $cache:expr) => {{
        let tracking = &$record.order.tracking_id;
        match $cache.get(tracking) {
            Some(tenant) => tenant.clone(),
            None => {
                let id: Option<String> = match tracking {
                    Some(t) => sqlx::query_scalar("SELECT id FROM tenants WHERE tracking_id = $1")
                        .bind(t.clone())
                        .fetch_optional(&mut *$tx)
                        .await
                        .map_err(unavailable)?,
                    None => None,
                };
                let tenant = match id {
                    Some(id) => tenant_from_sql(&id)?,
                    None => TenantId::default_tenant(),
                };
                $cache.insert(tracking.clone(), tenant.clone());
                tenant
            }
        }
    }};
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

// After the macros they use.
#[macro_use]
mod webhooks;
mod analytics;
mod tenants;
mod watches;

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
    if let Some(experiment) = filter.experiment_id {
        add("experiment_id =", Arg::Int(id_to_sql(experiment)));
    }
    if let Some(ids) = &filter.tracking_ids {
        let (cond, more) = in_list("tracking_id", ids, args.len() + 1);
        sql.push_str(&format!(" AND {cond}"));
        args.extend(more);
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
        store.attribute_old_orders().await?;
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

    /// Attributes the orders stored before migration 3 to the experiments their sub-ids name,
    /// once (while its marker is there); every upsert attributes the orders it stores.
    async fn attribute_old_orders(&self) -> Result<(), StoreError> {
        let marker = format!(
            "SELECT value FROM sync_cursors WHERE name = $1{}",
            match self.dialect() {
                Dialect::Sqlite => "",
                // A second instance starting at once waits here, then finds the work done.
                Dialect::Postgres => " FOR UPDATE",
            }
        );
        with_pool!(self, p => {
            let mut tx = begin_write!(self, p)?;
            let pending: Option<String> = sqlx::query_scalar(&marker)
                .bind(ATTRIBUTION_PENDING)
                .fetch_optional(&mut *tx)
                .await
                .map_err(unavailable)?;
            if pending.is_none() {
                return Ok(());
            }
            let rows: Vec<(i64, String)> = sqlx::query_as(
                "SELECT sub_order_id, custom_parameters FROM orders \
                 WHERE custom_parameters IS NOT NULL",
            )
            .fetch_all(&mut *tx)
            .await
            .map_err(unavailable)?;
            let mut attributed = 0u64;
            for (id, text) in rows {
                let Some((experiment, variant)) = SubIds::from_custom_parameters(&text)
                    .experiment()
                    .map(|(e, v)| (e, v.to_owned()))
                else {
                    continue;
                };
                sqlx::query("UPDATE orders SET experiment_id = $2, variant = $3 WHERE sub_order_id = $1")
                    .bind(id)
                    .bind(id_to_sql(experiment))
                    .bind(variant)
                    .execute(&mut *tx)
                    .await
                    .map_err(unavailable)?;
                attributed += 1;
            }
            sqlx::query("DELETE FROM sync_cursors WHERE name = $1")
                .bind(ATTRIBUTION_PENDING)
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
            tx.commit().await.map_err(unavailable)?;
            tracing::info!(attributed, "attributed stored orders to experiments");
            Ok(())
        })
    }

    /// The experiments `where_sql` selects (with `args` as `$1`, …), newest first.
    async fn load_experiments(
        &self,
        where_sql: &str,
        args: &[Arg],
    ) -> Result<Vec<Experiment>, StoreError> {
        let head_sql =
            format!("SELECT {EXPERIMENT_COLUMNS} FROM experiments {where_sql} ORDER BY id DESC");
        // Variants are stored with their experiment in one transaction and never change: read
        // after the experiments, every one read has all its variants.
        let one_sql = format!(
            "SELECT {VARIANT_COLUMNS} FROM experiment_variants WHERE experiment_id = $1 \
             ORDER BY position"
        );
        let all_sql = format!(
            "SELECT {VARIANT_COLUMNS} FROM experiment_variants ORDER BY experiment_id, position"
        );
        let (rows, variants) = with_pool!(self, p => {
            let rows = bind_args!(sqlx::query_as::<_, ExperimentRow>(&head_sql), args)
                .fetch_all(p)
                .await
                .map_err(unavailable)?;
            let variants = match rows.as_slice() {
                [] => Vec::new(),
                [one] => sqlx::query_as::<_, VariantRow>(&one_sql)
                    .bind(one.0)
                    .fetch_all(p)
                    .await
                    .map_err(unavailable)?,
                _ => sqlx::query_as::<_, VariantRow>(&all_sql)
                    .fetch_all(p)
                    .await
                    .map_err(unavailable)?,
            };
            (rows, variants)
        });
        experiments_from_rows(rows, variants)
    }

    /// The message of the conflict with `tenant`'s running experiment.
    async fn running_conflict(&self, tenant: &TenantId) -> StoreError {
        match self.running_experiment(tenant).await {
            Ok(Some(running)) => StoreError::Conflict(format!(
                "experiment {} ({}) is running; stop it first",
                running.id, running.name
            )),
            _ => StoreError::Conflict("another experiment is running; stop it first".to_owned()),
        }
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
            "INSERT INTO orders ({ORDER_COLUMNS}, experiment_id, variant) VALUES ($1, $2, $3, \
             $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, \
             $21, $22, $22, $23, $24) ON CONFLICT (sub_order_id) DO NOTHING"
        );
        let select = format!(
            "SELECT {ORDER_COLUMNS}, experiment_id, variant FROM orders \
             WHERE sub_order_id = $1{}",
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
            updated_ms = $22, experiment_id = $23, variant = $24 WHERE sub_order_id = $1";
        // An order stored unattributed (by a build before experiments, still running while
        // this one migrated) is attributed when seen again, without counting as a change.
        let attribute =
            "UPDATE orders SET experiment_id = $2, variant = $3 WHERE sub_order_id = $1";
        let history = "INSERT INTO order_status_history \
            (sub_order_id, status, previous_status, observed_at_ms) VALUES ($1, $2, $3, $4)";
        let mut summary = UpsertSummary::default();
        // The enabled endpoints, read once the first new event is kept.
        let mut subscribers: webhooks::Subscribers = None;
        // The tenant of each tracking id seen, read from `tenants` once per upsert.
        let mut tenants: BTreeMap<Option<String>, TenantId> = BTreeMap::new();
        with_pool!(self, p => {
            let mut tx = begin_write!(self, p)?;
            for record in orders {
                let id = id_to_sql(record.order.sub_order_id);
                let (experiment_id, variant) = attribution(&record.order);
                let inserted = bind_order!(sqlx::query(&insert), record)
                    .bind(record.order_time_ms(observed_at_ms))
                    .bind(observed_at_ms)
                    .bind(experiment_id)
                    .bind(variant.clone())
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
                    let tenant = tenant_of!(tx, record, tenants);
                    let events = order_events(record, &tenant, None, observed_at_ms);
                    publish_in!(self, tx, &events, observed_at_ms, subscribers);
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
                    let stored: (Option<i64>, Option<String>) = (
                        row.try_get("experiment_id").map_err(corrupt)?,
                        row.try_get("variant").map_err(corrupt)?,
                    );
                    if stored != (experiment_id, variant.clone()) {
                        sqlx::query(attribute)
                            .bind(id)
                            .bind(experiment_id)
                            .bind(variant)
                            .execute(&mut *tx)
                            .await
                            .map_err(unavailable)?;
                    }
                    summary.unchanged += 1;
                    continue;
                }
                bind_order!(sqlx::query(update), record)
                    .bind(record.order_time_ms(old.first_seen_ms))
                    .bind(observed_at_ms)
                    .bind(experiment_id)
                    .bind(variant)
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
                    // Only the transaction that records the change publishes it (on
                    // PostgreSQL the row lock above makes a second one see no change).
                    let tenant = tenant_of!(tx, record, tenants);
                    let events = order_events(
                        record,
                        &tenant,
                        Some(&old.record.order.status),
                        observed_at_ms,
                    );
                    publish_in!(self, tx, &events, observed_at_ms, subscribers);
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
            // One group for orders of no experiment and a variant named like their key, as
            // the groups are keyed by text.
            GroupBy::Variant => "COALESCE(variant, '(none)')",
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
                        (GroupBy::TrackingId | GroupBy::Variant, Some(t)) => t,
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
impl alistach_store::CacheLearningStore for SqlStore {
    async fn load_cache_learning(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        with_pool!(self, p => sqlx::query_scalar::<_, Vec<u8>>(
            "SELECT snapshot FROM cache_learning WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(p)
        .await
        .map_err(unavailable))
    }

    async fn save_cache_learning(&self, name: &str, snapshot: &[u8]) -> Result<(), StoreError> {
        alistach_store::check_cache_learning_size(snapshot)?;
        let sql = format!(
            "INSERT INTO cache_learning (name, snapshot, updated_ms) VALUES ($1, $2, {now}) \
             ON CONFLICT (name) DO UPDATE SET snapshot = excluded.snapshot, \
             updated_ms = excluded.updated_ms",
            now = now_sql(self.dialect())
        );
        with_pool!(self, p => sqlx::query(&sql)
            .bind(name)
            .bind(snapshot)
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
                    .bind(c.product_id.map(|p| id_to_sql(p.0)))
                    .bind(c.tracking_id.clone())
                    .bind(c.variant.map(i64::from))
                    .execute(&mut *tx)
                    .await
                    .map_err(unavailable)?;
            }
            tx.commit().await.map_err(unavailable)
        })
    }

    async fn click_summary(
        &self,
        tracking_ids: Option<&[String]>,
    ) -> Result<ClickSummary, StoreError> {
        let (where_sql, args) = match tracking_ids {
            Some(ids) => {
                let (cond, args) = in_list("tracking_id", ids, 1);
                (format!("WHERE {cond}"), args)
            }
            None => (String::new(), Vec::new()),
        };
        // One statement, so the total and the counts are one snapshot: the window sums every
        // group (clicks of links to no product included) before the limit applies.
        let top = format!(
            "SELECT product_id, COUNT(*) AS clicks, CAST(SUM(COUNT(*)) OVER () AS BIGINT) AS total \
             FROM clicks {where_sql} GROUP BY product_id ORDER BY clicks DESC, product_id LIMIT {}",
            MAX_SUMMARY_PRODUCTS + 1
        );
        let rows: Vec<(Option<i64>, i64, i64)> = with_pool!(self, p => {
            bind_args!(sqlx::query_as::<_, (Option<i64>, i64, i64)>(&top), &args)
                .fetch_all(p)
                .await
                .map_err(unavailable)?
        });
        let count = |n: i64| {
            u64::try_from(n).map_err(|_| StoreError::Corrupt(format!("a negative count {n}")))
        };
        let total = rows.first().map_or(Ok(0), |r| count(r.2))?;
        let per = rows
            .into_iter()
            .filter_map(|(id, n, _)| id.map(|id| (id, n)))
            .map(|(id, n)| Ok((alistach_domain::ProductId(id_from_sql(id)), count(n)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(ClickSummary::from_counts(total, per))
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

#[async_trait]
impl ExperimentStore for SqlStore {
    async fn create_experiment(
        &self,
        new: &NewExperiment,
        now_ms: i64,
    ) -> Result<Experiment, StoreError> {
        // The partial unique index on running experiments decides a race between instances:
        // the loser's insert does nothing (on PostgreSQL, once the winner commits).
        const INSERT: &str = "INSERT INTO experiments \
            (name, allocation, min_share_permille, created_at_ms, tenant_id) \
            VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING id";
        const VARIANT: &str = "INSERT INTO experiment_variants \
            (experiment_id, position, name, weight, link_type, tracking_id) \
            VALUES ($1, $2, $3, $4, $5, $6) RETURNING id";
        let created = with_pool!(self, p => {
            let mut tx = begin_write!(self, p)?;
            let running: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM experiments WHERE stopped_at_ms IS NULL AND tenant_id = $1",
            )
            .bind(new.tenant.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(unavailable)?;
            let id: Option<i64> = match running {
                Some(_) => None,
                None => sqlx::query_scalar(INSERT)
                    .bind(new.name.clone())
                    .bind(new.allocation.as_str())
                    .bind(i64::from(new.min_share_permille))
                    .bind(now_ms)
                    .bind(new.tenant.as_str())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(unavailable)?,
            };
            match id {
                None => {
                    tx.rollback().await.map_err(unavailable)?;
                    None
                }
                Some(id) => {
                    let mut variants = Vec::with_capacity(new.variants.len());
                    for (position, v) in new.variants.iter().enumerate() {
                        let variant_id: i64 = sqlx::query_scalar(VARIANT)
                            .bind(id)
                            .bind(i64::try_from(position).unwrap_or(i64::MAX))
                            .bind(v.name.clone())
                            .bind(i64::from(v.weight))
                            .bind(link_type_to_sql(v.link_type))
                            .bind(v.tracking_id.clone())
                            .fetch_one(&mut *tx)
                            .await
                            .map_err(unavailable)?;
                        variants.push(Variant {
                            id: fits(variant_id, "a variant id")?,
                            name: v.name.clone(),
                            weight: v.weight,
                            link_type: v.link_type,
                            tracking_id: v.tracking_id.clone(),
                        });
                    }
                    tx.commit().await.map_err(unavailable)?;
                    Some(Experiment {
                        id: id_from_sql(id),
                        tenant: new.tenant.clone(),
                        name: new.name.clone(),
                        allocation: new.allocation,
                        min_share_permille: new.min_share_permille,
                        variants,
                        created_at_ms: now_ms,
                        stopped_at_ms: None,
                    })
                }
            }
        });
        match created {
            Some(experiment) => Ok(experiment),
            None => Err(self.running_conflict(&new.tenant).await),
        }
    }

    async fn experiment(&self, id: u64) -> Result<Option<Experiment>, StoreError> {
        Ok(self
            .load_experiments("WHERE id = $1", &[Arg::Int(id_to_sql(id))])
            .await?
            .pop())
    }

    async fn experiments(&self, tenant: Option<&TenantId>) -> Result<Vec<Experiment>, StoreError> {
        match tenant {
            Some(t) => {
                self.load_experiments("WHERE tenant_id = $1", &[Arg::Text(t.to_string())])
                    .await
            }
            None => self.load_experiments("", &[]).await,
        }
    }

    async fn running_experiment(
        &self,
        tenant: &TenantId,
    ) -> Result<Option<Experiment>, StoreError> {
        Ok(self
            .load_experiments(
                "WHERE stopped_at_ms IS NULL AND tenant_id = $1",
                &[Arg::Text(tenant.to_string())],
            )
            .await?
            .pop())
    }

    async fn running_experiments(&self) -> Result<Vec<Experiment>, StoreError> {
        let mut running = self
            .load_experiments("WHERE stopped_at_ms IS NULL", &[])
            .await?;
        // Sorted here, by bytes: a database collation could order ids differently.
        running.sort_by(|a, b| a.tenant.cmp(&b.tenant));
        Ok(running)
    }

    async fn stop_experiment(
        &self,
        id: u64,
        now_ms: i64,
    ) -> Result<Option<Experiment>, StoreError> {
        with_pool!(self, p => sqlx::query(
            "UPDATE experiments SET stopped_at_ms = $2 WHERE id = $1 AND stopped_at_ms IS NULL",
        )
        .bind(id_to_sql(id))
        .bind(now_ms)
        .execute(p)
        .await
        .map(|r| r.rows_affected())
        .map_err(unavailable))?;
        self.experiment(id).await
    }

    async fn add_links(&self, counts: &[(u32, u64)]) -> Result<(), StoreError> {
        if counts.iter().all(|&(_, n)| n == 0) {
            return Ok(());
        }
        const ADD: &str = "UPDATE experiment_variants SET links = links + $2 WHERE id = $1";
        with_pool!(self, p => {
            let mut tx = begin_write!(self, p)?;
            for &(variant, n) in counts.iter().filter(|(_, n)| *n > 0) {
                sqlx::query(ADD)
                    .bind(i64::from(variant))
                    .bind(i64::try_from(n).unwrap_or(i64::MAX))
                    .execute(&mut *tx)
                    .await
                    .map_err(unavailable)?;
            }
            tx.commit().await.map_err(unavailable)
        })
    }

    async fn variant_outcomes(
        &self,
        experiment: &Experiment,
        mock: bool,
    ) -> Result<Vec<VariantOutcome>, StoreError> {
        const COUNTS: &str = "SELECT \
            (SELECT links FROM experiment_variants WHERE id = $1), \
            (SELECT COUNT(*) FROM clicks WHERE variant = $1)";
        // Summed here, exactly (the squares outgrow 64 bits).
        const ORDERS: &str = "SELECT variant, currency, paid_amount, \
            COALESCE(estimated_finished_commission, estimated_paid_commission) \
            FROM orders WHERE experiment_id = $1 AND mock = $2 AND status <> $3";
        let (counts, orders) = with_pool!(self, p => {
            let mut counts = Vec::with_capacity(experiment.variants.len());
            for v in &experiment.variants {
                let (links, clicks): (Option<i64>, i64) = sqlx::query_as(COUNTS)
                    .bind(i64::from(v.id))
                    .fetch_one(p)
                    .await
                    .map_err(unavailable)?;
                counts.push((links.unwrap_or(0), clicks));
            }
            let orders: Vec<(Option<String>, String, i64, i64)> = sqlx::query_as(ORDERS)
                .bind(id_to_sql(experiment.id))
                .bind(mock)
                .bind(OrderStatus::Invalid.as_str())
                .fetch_all(p)
                .await
                .map_err(unavailable)?;
            (counts, orders)
        });
        let overflow = || StoreError::Corrupt("a variant's sum overflows".to_owned());
        let mut out = Vec::new();
        for (v, (links, clicks)) in experiment.variants.iter().zip(counts) {
            let base = VariantOutcome {
                variant_id: v.id,
                links: fits(links, "a variant's link count")?,
                clicks: fits(clicks, "a click count")?,
                ..VariantOutcome::default()
            };
            let mut rows: BTreeMap<&str, VariantOutcome> = BTreeMap::new();
            for (_, currency, paid, commission) in orders
                .iter()
                .filter(|o| o.0.as_deref() == Some(v.name.as_str()))
            {
                let row = rows.entry(currency).or_insert_with(|| VariantOutcome {
                    currency: Some(currency.clone()),
                    ..base.clone()
                });
                row.orders += 1;
                row.paid_cents = row.paid_cents.checked_add(*paid).ok_or_else(overflow)?;
                row.commission_cents = row
                    .commission_cents
                    .checked_add(*commission)
                    .ok_or_else(overflow)?;
                row.commission_sq_cents = row
                    .commission_sq_cents
                    .checked_add(i128::from(*commission) * i128::from(*commission))
                    .ok_or_else(overflow)?;
            }
            if rows.is_empty() {
                out.push(base);
            } else {
                out.extend(rows.into_values());
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::path::PathBuf;

    use alistach_store::conformance::sample_order;
    use alistach_testkit::postgres_server::PostgresServer;

    use super::*;

    /// A database as the build before experiments left it: schema 2, with orders stored
    /// without their experiment.
    struct Old {
        pool: Pool,
    }

    impl Old {
        async fn migrate_to_2(&self) {
            self.migrate_to(2).await;
        }

        async fn migrate_to(&self, version: i64) {
            let dialect = match self.pool {
                Pool::Sqlite(_) => Dialect::Sqlite,
                Pool::Postgres(_) => Dialect::Postgres,
            };
            let mut migrator = migrate::migrator(dialect).await.unwrap();
            migrator.migrations = Cow::Owned(
                migrator
                    .migrations
                    .iter()
                    .filter(|m| m.version <= version)
                    .cloned()
                    .collect(),
            );
            with_pool!(self, p => migrator.run(p).await.unwrap());
        }

        /// Stores orders with the statement of the build before experiments.
        async fn store_orders(&self, orders: &[OrderRecord]) {
            let insert = format!(
                "INSERT INTO orders ({ORDER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, \
                 $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $22)"
            );
            with_pool!(self, p => {
                for record in orders {
                    bind_order!(sqlx::query(&insert), record)
                        .bind(record.order_time_ms(1))
                        .bind(1i64)
                        .execute(p)
                        .await
                        .unwrap();
                }
                p.close().await;
            });
        }
    }

    /// Orders of every kind of `custom_parameters`, and the experiment each names.
    fn old_orders() -> Vec<(OrderRecord, Option<(u64, &'static str)>)> {
        let cases: [(&str, Option<(u64, &str)>); 8] = [
            (
                r#"{"cn":"ab7","cv":"hot","dp":"alistach"}"#,
                Some((7, "hot")),
            ),
            (r#"{"cv":"ctl","cn":"ab7","other":[1]}"#, Some((7, "ctl"))),
            (r#"{"cn":"ab7","cv":"ctl","dp":5}"#, None),
            (r#"{"cn":"campaign","cv":"x"}"#, None),
            (r#"{"cn":"ab7"}"#, None),
            ("not json", None),
            (r#"{"cn":"ab99999999999999999999","cv":"x"}"#, None),
            (
                r#"{"cn":"ab18446744073709551615","cv":"«ü»"}"#,
                Some((u64::MAX, "«ü»")),
            ),
        ];
        let mut orders: Vec<_> = cases
            .iter()
            .enumerate()
            .map(|(i, (params, named))| {
                let mut o = sample_order(100 + i as u64, "old", 1_700_000_000_000);
                o.order.custom_parameters = Some((*params).to_owned());
                (o, *named)
            })
            .collect();
        let mut none = sample_order(99, "old", 1_700_000_000_000);
        none.order.custom_parameters = None;
        orders.push((none, None));
        orders
    }

    /// Opens the old database with this build and checks every order is attributed as an
    /// upsert would have, once.
    async fn check_attribution(target: Target) {
        let orders = old_orders();
        let store = SqlStore::open(target.clone()).await.unwrap();
        for (record, named) in &orders {
            let parsed = record.order.experiment_variant();
            assert_eq!(
                parsed.as_ref().map(|(e, v)| (*e, v.as_str())),
                *named,
                "the cases agree with the domain's parsing"
            );
        }
        let all = OrderFilter {
            tracking_id: Some("old".to_owned()),
            ..OrderFilter::default()
        };
        let groups: Vec<(String, u64)> = store
            .revenue(&all, GroupBy::Variant)
            .await
            .unwrap()
            .into_iter()
            .map(|g| (g.key, g.orders))
            .collect();
        assert_eq!(
            groups,
            vec![
                (NO_KEY.to_owned(), 6),
                ("ctl".to_owned(), 1),
                ("hot".to_owned(), 1),
                ("«ü»".to_owned(), 1),
            ]
        );
        let seven = OrderFilter {
            experiment_id: Some(7),
            ..all.clone()
        };
        let page = OrderPageRequest {
            page: 1,
            page_size: 50,
        };
        assert_eq!(store.list_orders(&seven, page).await.unwrap().total, 2);
        let max = OrderFilter {
            experiment_id: Some(u64::MAX),
            ..all.clone()
        };
        assert_eq!(store.list_orders(&max, page).await.unwrap().total, 1);
        assert_eq!(
            store.cursor(ATTRIBUTION_PENDING).await.unwrap(),
            None,
            "the work is done once"
        );
        // Orders an old build stored after the migration (during a rolling upgrade) are
        // attributed when the sync sees them again, as unchanged orders.
        with_pool!(store, p => sqlx::query("UPDATE orders SET experiment_id = NULL, variant = NULL")
            .execute(p)
            .await
            .map(|r| r.rows_affected())
            .unwrap());
        assert_eq!(store.list_orders(&seven, page).await.unwrap().total, 0);
        let records: Vec<OrderRecord> = orders.into_iter().map(|(r, _)| r).collect();
        let again = store.upsert_orders(&records, 2).await.unwrap();
        assert_eq!(again.unchanged, records.len() as u64, "{again:?}");
        assert_eq!(store.list_orders(&seven, page).await.unwrap().total, 2);
        assert_eq!(store.list_orders(&max, page).await.unwrap().total, 1);
        store.close().await;
    }

    /// A fresh SQLite file in its own directory, opened without migrations (a database an
    /// older AliStach left), for the upgrade tests: the directory, the file, the handle.
    async fn old_sqlite(tag: &str) -> (PathBuf, PathBuf, Old) {
        let dir: PathBuf =
            std::env::temp_dir().join(format!("alistach-sql-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("old.db");
        let pool = SqlitePool::connect_with(
            SqliteConnectOptions::new()
                .filename(&file)
                .create_if_missing(true),
        )
        .await
        .unwrap();
        let old = Old {
            pool: Pool::Sqlite(pool),
        };
        (dir, file, old)
    }

    #[tokio::test]
    async fn sqlite_attributes_orders_stored_before_experiments() {
        let (dir, file, old) = old_sqlite("attribution").await;
        old.migrate_to_2().await;
        let records: Vec<OrderRecord> = old_orders().into_iter().map(|(r, _)| r).collect();
        old.store_orders(&records).await;
        check_attribution(Target::Sqlite(file)).await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn postgres_attributes_orders_stored_before_experiments() {
        let Some(pg) = PostgresServer::start_or_skip("postgres attribution") else {
            return;
        };
        let url = pg.create_database("attribution");
        let old = Old {
            pool: Pool::Postgres(PgPool::connect(&url).await.unwrap()),
        };
        old.migrate_to_2().await;
        let records: Vec<OrderRecord> = old_orders().into_iter().map(|(r, _)| r).collect();
        old.store_orders(&records).await;
        check_attribution(Target::Postgres(url)).await;
    }

    /// Rows of every tenant-scoped kind, as a build before tenants (schema 7) stored them.
    async fn store_rows_before_tenants(old: &Old) {
        let statements = [
            "INSERT INTO experiments (id, name, allocation, min_share_permille, created_at_ms) \
             VALUES (41, 'before tenants', 'fixed', 100, 5)",
            "INSERT INTO experiment_variants (experiment_id, position, name, weight, link_type) \
             VALUES (41, 0, 'control', 1, 'normal')",
            "INSERT INTO webhook_endpoints (id, url, events, secret, enabled, created_at_ms, \
             updated_at_ms) VALUES (42, 'https://old.example/hook', 'order.created', \
             'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', TRUE, 5, 5)",
            "INSERT INTO webhook_events (id, event_type, timestamp_ms, payload) \
             VALUES ('msg_old', 'order.created', 5, '{}')",
            "INSERT INTO webhook_deliveries (endpoint_id, event_id, state, attempts, \
             next_attempt_at_ms, created_at_ms) VALUES (42, 'msg_old', 'pending', 0, 5, 5)",
            "INSERT INTO watches (id, product_id, currency, created_at_ms, notified) \
             VALUES (43, 1005006, 'USD', 5, FALSE)",
            "INSERT INTO analytics_usage (res, bucket_ms, route, client, cache, mode, \
             status_class, requests, latency_sum_us, l3) \
             VALUES ('m', 60000, 'searchProducts', 'key:a', 'hit', 'mock', 2, 7, 700, 7)",
            "INSERT INTO analytics_keywords (res, bucket_ms, keyword, searches, zero_results, \
             results) VALUES ('m', 60000, 'earbuds', 3, 1, 20)",
        ];
        with_pool!(old, p => {
            for sql in statements {
                sqlx::query(sql).execute(p).await.unwrap();
            }
            p.close().await;
        });
    }

    /// Opens the database of [`store_rows_before_tenants`] with this build: every row is the
    /// default tenant's, its running experiment runs for the default tenant only, and new
    /// analytics rows of the default tenant add to the old ones.
    async fn check_rows_are_the_default_tenants(target: Target) {
        use alistach_store::{
            AnalyticsBatch, AnalyticsStore, KeywordOrder, NewVariant, Resolution, UsageCounts,
            UsageKey, UsageRow, WatchStore, WebhookStore,
        };
        let store = SqlStore::open(target).await.unwrap();
        let dflt = TenantId::default_tenant();
        let other = TenantId::parse("other").unwrap();
        let old = store
            .running_experiment(&dflt)
            .await
            .unwrap()
            .expect("still runs");
        assert_eq!((old.id, old.tenant.clone()), (41, dflt.clone()));
        assert_eq!(store.experiments(Some(&other)).await.unwrap(), vec![]);
        let new = |tenant: &TenantId| NewExperiment {
            tenant: tenant.clone(),
            name: "after".to_owned(),
            allocation: Allocation::Fixed,
            min_share_permille: 100,
            variants: vec![NewVariant {
                name: "a".to_owned(),
                weight: 1,
                link_type: LinkType::Normal,
                tracking_id: None,
            }],
        };
        assert!(matches!(
            store.create_experiment(&new(&dflt), 6).await,
            Err(StoreError::Conflict(_))
        ));
        let theirs = store.create_experiment(&new(&other), 6).await.unwrap();
        assert_eq!(
            store.running_experiments().await.unwrap(),
            vec![old, theirs]
        );

        let endpoints = store.endpoints(Some(&dflt)).await.unwrap();
        assert_eq!(endpoints.iter().map(|e| e.id).collect::<Vec<_>>(), vec![42]);
        let deliveries = store.deliveries(42, 10).await.unwrap();
        assert_eq!(deliveries[0].0.event.tenant, dflt);
        let watches = store.watches(Some(&dflt)).await.unwrap();
        assert_eq!(watches.iter().map(|w| w.id).collect::<Vec<_>>(), vec![43]);
        assert_eq!(store.watches(Some(&other)).await.unwrap(), vec![]);

        let key = UsageKey {
            tenant: dflt.to_string(),
            route: "searchProducts".to_owned(),
            client: "key:a".to_owned(),
            cache: "hit".to_owned(),
            mode: "mock".to_owned(),
            status_class: 2,
        };
        let mut counts = UsageCounts {
            requests: 1,
            ..UsageCounts::default()
        };
        counts.latency.sum_micros = 100;
        counts.latency.counts[3] = 1;
        let batch = AnalyticsBatch {
            flush_id: "after:1".to_owned(),
            usage: vec![UsageRow {
                bucket_ms: 60_000,
                key: key.clone(),
                counts,
            }],
            keywords: vec![],
        };
        assert!(store.flush_analytics(&batch).await.unwrap());
        let rows = store
            .usage(Some("default"), Resolution::Minute, 0, 120_000, 60_000)
            .await
            .unwrap();
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0].key, key);
        assert_eq!(
            rows[0].counts.requests, 8,
            "the old row and the new one are one"
        );
        assert_eq!(rows[0].counts.latency.sum_micros, 800);
        let top = store
            .top_keywords(
                Some("default"),
                Resolution::Minute,
                0,
                120_000,
                KeywordOrder::Searches,
                5,
            )
            .await
            .unwrap();
        assert_eq!(top.len(), 1);
        assert_eq!((top[0].0.as_str(), top[0].1.searches), ("earbuds", 3));
        store.close().await;
    }

    #[tokio::test]
    async fn sqlite_makes_rows_stored_before_tenants_the_default_tenants() {
        let (dir, file, old) = old_sqlite("tenants").await;
        old.migrate_to(7).await;
        store_rows_before_tenants(&old).await;
        check_rows_are_the_default_tenants(Target::Sqlite(file)).await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn postgres_makes_rows_stored_before_tenants_the_default_tenants() {
        let Some(pg) = PostgresServer::start_or_skip("postgres tenant migration") else {
            return;
        };
        let url = pg.create_database("tenantscope");
        let old = Old {
            pool: Pool::Postgres(PgPool::connect(&url).await.unwrap()),
        };
        old.migrate_to(7).await;
        store_rows_before_tenants(&old).await;
        check_rows_are_the_default_tenants(Target::Postgres(url)).await;
    }
}
