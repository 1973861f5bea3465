//! The SQL backends against the store's conformance suite, on a SQLite file and on a private
//! PostgreSQL, and what only SQL backends do: files created on first start, migrations, the
//! refusal of a newer schema, durability across reopening.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use alistach_domain::{Secret, TenantId};
use alistach_sql::{KNOWN_SCHEMA_VERSION, SqlStore, Target};
use alistach_store::conformance::{self, sample_order};
use alistach_store::{Attempt, AttemptOutcome, Event, NewEndpoint, OrderStore, Store, StoreError};
use alistach_testkit::postgres_server::PostgresServer;

/// A fresh directory under the system's temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "alistach-sql-{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn open(target: &Target) -> Arc<dyn Store> {
    Arc::new(
        SqlStore::open(target.clone())
            .await
            .expect("opening the store"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_passes_the_conformance_suite_with_two_pools_on_one_file() {
    let dir = TempDir::new("conformance");
    let target = Target::from_settings(None, &dir.0.join("nested")).unwrap();
    let (store, other) = (open(&target).await, open(&target).await);
    assert_eq!(store.backend(), "sqlite");
    conformance::run_all(&store, &other).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_passes_the_conformance_suite_with_two_pools_on_one_database() {
    let Some(pg) = PostgresServer::start_or_skip("postgres conformance") else {
        return;
    };
    let target = Target::parse(&pg.create_database("conformance")).unwrap();
    // Two instances starting at once both migrate: one applies, the other waits and finds
    // the schema current.
    let (a, b) = tokio::join!(
        SqlStore::open(target.clone()),
        SqlStore::open(target.clone())
    );
    let (store, other): (Arc<dyn Store>, Arc<dyn Store>) =
        (Arc::new(a.unwrap()), Arc::new(b.unwrap()));
    assert_eq!(store.backend(), "postgres");
    conformance::run_all(&store, &other).await;
}

#[tokio::test]
async fn sqlite_creates_its_directory_and_file_in_wal_mode_and_keeps_data_across_reopening() {
    let dir = TempDir::new("reopen");
    let data_dir = dir.0.join("data");
    let target = Target::from_settings(None, &data_dir).unwrap();
    let store = SqlStore::open(target.clone()).await.unwrap();
    let file = data_dir.join("alistach.db");
    assert!(
        file.exists(),
        "{} is created on first start",
        file.display()
    );
    let order = sample_order(42, "reopen", 1_700_000_000_000);
    store
        .upsert_orders(std::slice::from_ref(&order), 1)
        .await
        .unwrap();
    assert!(
        data_dir.join("alistach.db-wal").exists(),
        "the database is in WAL mode"
    );
    assert_eq!(
        store.schema_version().await.unwrap(),
        Some(KNOWN_SCHEMA_VERSION)
    );
    store.close().await;
    drop(store);
    let again = SqlStore::open(target).await.unwrap();
    assert_eq!(again.order(42).await.unwrap().unwrap().record, order);
    assert_eq!(again.status_history(42).await.unwrap().len(), 1);
}

#[tokio::test]
async fn sqlite_refuses_a_schema_newer_than_the_binary() {
    let dir = TempDir::new("newer");
    let target = Target::from_settings(None, &dir.0).unwrap();
    let store = SqlStore::open(target.clone()).await.unwrap();
    let pool =
        sqlx::SqlitePool::connect(&format!("sqlite://{}", dir.0.join("alistach.db").display()))
            .await
            .unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'from the future', TRUE, x'00', 0)",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    store.close().await;
    let err = SqlStore::open(target).await.unwrap_err();
    assert_eq!(
        err,
        StoreError::SchemaTooNew {
            found: 9999,
            known: KNOWN_SCHEMA_VERSION
        }
    );
    let text = err.to_string();
    assert!(text.contains("9999") && text.contains("newer"), "{text}");
}

#[tokio::test]
async fn postgres_refuses_a_schema_newer_than_the_binary_and_reopens_its_data() {
    let Some(pg) = PostgresServer::start_or_skip("postgres newer schema") else {
        return;
    };
    let target = Target::parse(&pg.create_database("newer")).unwrap();
    let store = SqlStore::open(target.clone()).await.unwrap();
    store
        .upsert_orders(&[sample_order(7, "pg", 1_700_000_000_000)], 1)
        .await
        .unwrap();
    store.close().await;
    let again = SqlStore::open(target.clone()).await.unwrap();
    assert!(
        again.order(7).await.unwrap().is_some(),
        "the data survives reopening"
    );
    again.close().await;
    pg.psql(
        "newer",
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'from the future', TRUE, '\\x00', 0)",
    )
    .unwrap();
    let err = SqlStore::open(target).await.unwrap_err();
    assert!(
        matches!(err, StoreError::SchemaTooNew { found: 9999, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_unreachable_postgres_is_a_clear_error_without_the_password() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let target = Target::parse(&format!("postgres://app:hunter2@127.0.0.1:{port}/x")).unwrap();
    let err = SqlStore::open(target).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(!text.contains("hunter2"), "{text}");
}

/// An endpoint deleted while another instance publishes to it and the dispatcher records an
/// attempt of its delivery: every call succeeds (no foreign-key failure, no deadlock) and
/// nothing of the endpoint is left.
async fn deleting_an_endpoint_races_publishing_and_attempts(
    store: &Arc<dyn Store>,
    other: &Arc<dyn Store>,
) {
    for round in 0..10u64 {
        let endpoint = store
            .create_endpoint(
                &NewEndpoint {
                    tenant: TenantId::default_tenant(),
                    url: "https://race.example/hook".to_owned(),
                    events: vec!["order.created".to_owned(), "alert.firing".to_owned()],
                    description: None,
                    secret: Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
                },
                1,
            )
            .await
            .unwrap();
        let ping = Event {
            id: format!("msg_race_{round}"),
            tenant: TenantId::default_tenant(),
            event_type: "alert.firing".to_owned(),
            timestamp_ms: 1,
            payload: "{}".to_owned(),
        };
        let delivery = store
            .deliver_to(endpoint.id, &ping, 1)
            .await
            .unwrap()
            .unwrap();
        let orders: Vec<_> = (0..20)
            .map(|i| sample_order(8_000_000_000_000_000 + round * 100 + i, "race", 1))
            .collect();
        let attempt = Attempt {
            at_ms: 2,
            status: Some(500),
            latency_ms: 5,
            error: None,
        };
        let (upserted, attempted, deleted) = tokio::join!(
            other.upsert_orders(&orders, 2),
            store.record_attempt(delivery.id, &attempt, AttemptOutcome::RetryAt(3)),
            store.delete_endpoint(endpoint.id),
        );
        assert_eq!(upserted.unwrap().inserted, 20, "round {round}");
        attempted.unwrap();
        assert!(deleted.unwrap(), "round {round}");
        assert_eq!(other.endpoint(endpoint.id).await.unwrap(), None);
        assert_eq!(
            other.deliveries(endpoint.id, 100).await.unwrap(),
            vec![],
            "round {round}: no delivery is left to a deleted endpoint"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_deletes_endpoints_while_others_publish() {
    let dir = TempDir::new("webhook-race");
    let target = Target::from_settings(None, &dir.0).unwrap();
    let (store, other) = (open(&target).await, open(&target).await);
    deleting_an_endpoint_races_publishing_and_attempts(&store, &other).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_deletes_endpoints_while_others_publish() {
    let Some(pg) = PostgresServer::start_or_skip("postgres webhook race") else {
        return;
    };
    let target = Target::parse(&pg.create_database("webhookrace")).unwrap();
    let (store, other) = (open(&target).await, open(&target).await);
    deleting_an_endpoint_races_publishing_and_attempts(&store, &other).await;
}
