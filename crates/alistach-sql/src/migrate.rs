//! The embedded migrations, one list per backend, and the check that refuses a database a
//! newer AliStach migrated.

use std::borrow::Cow;

use alistach_store::StoreError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};

/// `(version, description, SQLite text, PostgreSQL text)`, oldest first. A new migration is a
/// new pair of files and a new line here; a released one is never edited (sqlx checks each
/// applied migration's checksum).
const MIGRATIONS: &[(i64, &str, &str, &str)] = &[
    (
        1,
        "orders",
        include_str!("../migrations/sqlite/0001_orders.sql"),
        include_str!("../migrations/postgres/0001_orders.sql"),
    ),
    (
        2,
        "clicks",
        include_str!("../migrations/sqlite/0002_clicks.sql"),
        include_str!("../migrations/postgres/0002_clicks.sql"),
    ),
    (
        3,
        "experiments",
        include_str!("../migrations/sqlite/0003_experiments.sql"),
        include_str!("../migrations/postgres/0003_experiments.sql"),
    ),
    (
        4,
        "webhooks",
        include_str!("../migrations/sqlite/0004_webhooks.sql"),
        include_str!("../migrations/postgres/0004_webhooks.sql"),
    ),
    (
        5,
        "watches",
        include_str!("../migrations/sqlite/0005_watches.sql"),
        include_str!("../migrations/postgres/0005_watches.sql"),
    ),
    (
        6,
        "analytics",
        include_str!("../migrations/sqlite/0006_analytics.sql"),
        include_str!("../migrations/postgres/0006_analytics.sql"),
    ),
    (
        7,
        "cache_learning",
        include_str!("../migrations/sqlite/0007_cache_learning.sql"),
        include_str!("../migrations/postgres/0007_cache_learning.sql"),
    ),
    (
        8,
        "tenants",
        include_str!("../migrations/sqlite/0008_tenants.sql"),
        include_str!("../migrations/postgres/0008_tenants.sql"),
    ),
    (
        9,
        "tenant_scope",
        include_str!("../migrations/sqlite/0009_tenant_scope.sql"),
        include_str!("../migrations/postgres/0009_tenant_scope.sql"),
    ),
];

/// The `sync_cursors` row migration 3 leaves for [`crate::SqlStore::open`]: orders stored
/// before it are still to be attributed to experiments (by the exact parsing every upsert
/// uses, which SQL's JSON functions only approximate).
pub(crate) const ATTRIBUTION_PENDING: &str = "migration:0003:attribute-orders";

/// The newest schema version this binary knows.
pub const KNOWN_SCHEMA_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// The table sqlx records applied migrations in.
pub(crate) const MIGRATIONS_TABLE: &str = "_sqlx_migrations";

#[derive(Clone, Copy, Debug)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

#[derive(Debug)]
struct Embedded(Dialect);

impl<'s> MigrationSource<'s> for Embedded {
    fn resolve(
        self,
    ) -> futures_core_box::BoxFuture<'s, Result<Vec<Migration>, sqlx::error::BoxDynError>> {
        Box::pin(async move {
            Ok(MIGRATIONS
                .iter()
                .map(|(version, description, sqlite, postgres)| {
                    let sql = match self.0 {
                        Dialect::Sqlite => sqlite,
                        Dialect::Postgres => postgres,
                    };
                    Migration::new(
                        *version,
                        Cow::Borrowed(*description),
                        MigrationType::Simple,
                        Cow::Borrowed(*sql),
                        false,
                    )
                })
                .collect())
        })
    }
}

/// The migrator of `dialect`'s embedded migrations.
pub(crate) async fn migrator(dialect: Dialect) -> Result<Migrator, StoreError> {
    Migrator::new(Embedded(dialect))
        .await
        .map_err(|e| StoreError::Migration(e.to_string()))
}

/// Refuses a database whose newest applied migration is newer than this binary's.
pub(crate) fn check_version(applied: Option<i64>) -> Result<(), StoreError> {
    match applied {
        Some(found) if found > KNOWN_SCHEMA_VERSION => Err(StoreError::SchemaTooNew {
            found,
            known: KNOWN_SCHEMA_VERSION,
        }),
        _ => Ok(()),
    }
}

/// sqlx's boxed future type, named without a direct futures dependency.
mod futures_core_box {
    use std::future::Future;
    use std::pin::Pin;

    pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
}
