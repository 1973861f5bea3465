//! AliStach's SQL store: the [`alistach_store::Store`] traits on SQLite (the embedded default:
//! one file under `DATA_DIR`, created on first start, in WAL mode) and on PostgreSQL (for
//! several instances sharing one database), through sqlx.
//!
//! [`SqlStore::open`] connects, refuses a database whose schema is newer than this binary
//! knows ([`alistach_store::StoreError::SchemaTooNew`]), and applies the embedded migrations
//! (`migrations/sqlite`, `migrations/postgres`: one directory per backend). Leases are rows
//! with a holder and an expiry on the database's clock. Each order is stored with the
//! experiment and variant its sub-ids name (read at every upsert with the domain's parsing;
//! orders stored before migration 3 are attributed once, at the first start after it); a
//! partial unique index lets at most one experiment of a tenant run, whichever instance creates
//! it (migration 9 gave experiments, webhook endpoints and events, watches and the analytics
//! rows their tenant, `'default'` for rows stored before).
//! Webhooks (migration 4) keep endpoints, the outbox of events (once per id), deliveries and
//! attempts; `upsert_orders` publishes the order events in the transaction that stores the
//! change, so an event is never lost and never published twice. Tenants (migration 8) keep
//! their keys as SHA-256 digests (a deleted tenant's keys stay, revoked) and the audit log of
//! admin actions; the config file's tenants are synced in one transaction. This is the only
//! crate that uses sqlx.

mod migrate;
mod store;
mod target;

pub use migrate::KNOWN_SCHEMA_VERSION;
pub use store::SqlStore;
pub use target::{DEFAULT_SQLITE_FILE, Target, redact_url};
