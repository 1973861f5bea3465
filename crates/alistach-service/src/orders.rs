//! The order sync: brings the platform's affiliate orders into the store, incrementally,
//! idempotently, and on one instance at a time.
//!
//! For each status, the orders that reached it since the last run are listed by the time of
//! that status (`time_type`; `Invalid` by payment time over the look-back window, since an old
//! order can turn invalid any day), page by page with the source's cursor, and upserted by
//! sub-order id: the store keeps each status change as history. Each status's window end is
//! its persisted cursor; the next run starts there, less an overlap that absorbs late reports
//! and clock skew (upserts make the overlap free). A run holds the `orders:sync` lease, renewed
//! page by page, so concurrent instances never sync at once; scheduled runs also skip when
//! another instance ran within the interval (the last run's time is shared in the store).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use alistach_domain::{Clock, OrderQuery, OrderSource, OrderStatus, UpstreamError};
use alistach_store::{OrderRecord, Store, StoreError, UpsertSummary};

/// The lease every instance's sync takes.
pub const SYNC_LEASE: &str = "orders:sync";
/// The cursor holding the last completed run's time (Unix ms).
/// The cursor (under [`OrderSyncConfig::cursor`]) of the last run's end.
const LAST_RUN_CURSOR: &str = "last_run";

/// How the sync runs.
#[derive(Clone, Debug)]
pub struct OrderSyncConfig {
    /// This instance's name in the lease (unique per process).
    pub instance: String,
    /// The time between scheduled runs across all instances.
    pub interval: Duration,
    /// How long a run holds the lease without renewing it (renewed every page).
    pub lease_ttl: Duration,
    /// How far back the first run looks, and how far back `Invalid` orders are looked for.
    pub lookback: Duration,
    /// How far before its cursor each window starts again.
    pub overlap: Duration,
    /// Orders per page (1 to 50).
    pub page_size: u32,
    /// Pages per status and run, a guard against a cursor that never ends.
    pub max_pages: u32,
    /// Whose orders, when not the deployment's app's: a tenant's own app (its app key). It
    /// names the sync's own lease and cursors, so each app's sync keeps its own place.
    pub app: Option<String>,
}

impl OrderSyncConfig {
    /// Defaults for `instance` running every `interval`: 30 days of look-back, two hours of
    /// overlap, pages of 50, a lease of two minutes.
    pub fn new(instance: impl Into<String>, interval: Duration) -> OrderSyncConfig {
        OrderSyncConfig {
            instance: instance.into(),
            interval,
            lease_ttl: Duration::from_secs(120),
            lookback: Duration::from_secs(30 * 86_400),
            overlap: Duration::from_secs(2 * 3_600),
            page_size: OrderQuery::MAX_PAGE_SIZE,
            max_pages: 1_000,
            app: None,
        }
    }

    /// The same for the orders of another app (a tenant's own), with its own lease and
    /// cursors.
    pub fn for_app(mut self, app_key: &str) -> OrderSyncConfig {
        self.app = Some(app_key.to_owned());
        self
    }

    /// The lease a run holds.
    fn lease(&self) -> String {
        match &self.app {
            None => SYNC_LEASE.to_owned(),
            Some(app) => format!("{SYNC_LEASE}:{app}"),
        }
    }

    /// The cursor named `name` of this sync.
    fn cursor(&self, name: &str) -> String {
        match &self.app {
            None => format!("orders:{name}"),
            Some(app) => format!("orders:{app}:{name}"),
        }
    }
}

/// Why a sync failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    /// The platform could not answer.
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// The store could not keep it.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Another instance took the lease over during the run (this one stalled past its
    /// lease); the orders stored so far are kept, the cursors were not moved.
    #[error("the order-sync lease passed to another instance during the run")]
    LeaseLost,
}

/// What one run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// When it started (Unix ms).
    pub started_ms: i64,
    /// When it ended.
    pub finished_ms: i64,
    /// Orders the platform listed.
    pub fetched: u64,
    /// Pages fetched.
    pub pages: u64,
    /// What the store did with them.
    pub stored: UpsertSummary,
}

/// What a sync call came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyncOutcome {
    /// It ran.
    Ran(SyncReport),
    /// A scheduled run found that an instance ran within the interval.
    NotDue {
        /// When the last run finished (Unix ms).
        last_run_ms: i64,
    },
    /// Another instance holds the lease (is syncing).
    Leased {
        /// The holder.
        holder: String,
    },
}

/// Counters of the sync since start.
#[derive(Debug, Default)]
struct Counters {
    runs: AtomicU64,
    not_due: AtomicU64,
    leased: AtomicU64,
    failures: AtomicU64,
    fetched: AtomicU64,
    status_changes: AtomicU64,
    last_success_ms: AtomicI64,
}

/// A snapshot of the sync's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncStats {
    /// Runs that ran to the end.
    pub runs: u64,
    /// Scheduled runs skipped: another instance ran within the interval.
    pub not_due: u64,
    /// Runs skipped: another instance held the lease.
    pub leased: u64,
    /// Runs that failed.
    pub failures: u64,
    /// Orders fetched in all.
    pub fetched: u64,
    /// Status changes recorded in all.
    pub status_changes: u64,
    /// When a run last succeeded (Unix ms; 0: never).
    pub last_success_ms: i64,
}

/// The order sync use case.
pub struct OrderSync {
    source: Arc<dyn OrderSource>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    config: OrderSyncConfig,
    /// One run at a time within this process (the lease is per instance, so it cannot tell).
    running: tokio::sync::Mutex<()>,
    counters: Counters,
}

impl std::fmt::Debug for OrderSync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrderSync")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn cursor_name(config: &OrderSyncConfig, status: OrderStatus) -> String {
    config.cursor(&format!("until:{}", status.as_str()))
}

impl OrderSync {
    /// The sync of `source`'s orders into `store`.
    pub fn new(
        source: Arc<dyn OrderSource>,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        config: OrderSyncConfig,
    ) -> OrderSync {
        OrderSync {
            source,
            store,
            clock,
            config,
            running: tokio::sync::Mutex::new(()),
            counters: Counters::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &OrderSyncConfig {
        &self.config
    }

    /// The counters.
    pub fn stats(&self) -> SyncStats {
        let c = &self.counters;
        SyncStats {
            runs: c.runs.load(Ordering::Relaxed),
            not_due: c.not_due.load(Ordering::Relaxed),
            leased: c.leased.load(Ordering::Relaxed),
            failures: c.failures.load(Ordering::Relaxed),
            fetched: c.fetched.load(Ordering::Relaxed),
            status_changes: c.status_changes.load(Ordering::Relaxed),
            last_success_ms: c.last_success_ms.load(Ordering::Relaxed),
        }
    }

    fn now_ms(&self) -> i64 {
        i64::try_from(self.clock.now_ms()).unwrap_or(i64::MAX)
    }

    /// Runs now, unless another instance is syncing (waits for a run of this instance).
    pub async fn run_now(&self) -> Result<SyncOutcome, SyncError> {
        let _one = self.running.lock().await;
        self.locked_run(false).await
    }

    /// A scheduled run: skipped when this instance is already syncing, when another holds the
    /// lease, or when any instance ran within (nine tenths of) the interval.
    pub async fn tick(&self) -> Result<SyncOutcome, SyncError> {
        let Ok(_one) = self.running.try_lock() else {
            return Ok(SyncOutcome::Leased {
                holder: self.config.instance.clone(),
            });
        };
        self.locked_run(true).await
    }

    async fn locked_run(&self, scheduled: bool) -> Result<SyncOutcome, SyncError> {
        let outcome = self.leased_run(scheduled).await;
        let c = &self.counters;
        match &outcome {
            Ok(SyncOutcome::Ran(report)) => {
                c.runs.fetch_add(1, Ordering::Relaxed);
                c.fetched.fetch_add(report.fetched, Ordering::Relaxed);
                c.status_changes
                    .fetch_add(report.stored.status_changes, Ordering::Relaxed);
                c.last_success_ms
                    .store(report.finished_ms, Ordering::Relaxed);
                tracing::info!(
                    fetched = report.fetched,
                    inserted = report.stored.inserted,
                    status_changes = report.stored.status_changes,
                    pages = report.pages,
                    "order sync ran"
                );
            }
            Ok(SyncOutcome::NotDue { .. }) => {
                c.not_due.fetch_add(1, Ordering::Relaxed);
            }
            Ok(SyncOutcome::Leased { holder }) => {
                c.leased.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(
                    holder,
                    "order sync skipped: another instance holds the lease"
                );
            }
            Err(e) => {
                c.failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "order sync failed");
            }
        }
        outcome
    }

    async fn leased_run(&self, scheduled: bool) -> Result<SyncOutcome, SyncError> {
        let me = &self.config.instance;
        let lease = self.config.lease();
        if !self
            .store
            .try_acquire_lease(&lease, me, self.config.lease_ttl)
            .await?
        {
            let holder = self
                .store
                .lease(&lease)
                .await?
                .map_or_else(|| "another instance".to_owned(), |l| l.holder);
            return Ok(SyncOutcome::Leased { holder });
        }
        let result = self.run_holding_lease(scheduled).await;
        // Released on failure too; a lost lease is not ours to release (the call is a no-op).
        if let Err(e) = self.store.release_lease(&lease, me).await {
            tracing::warn!(error = %e, "releasing the order-sync lease failed; it expires");
        }
        result
    }

    async fn run_holding_lease(&self, scheduled: bool) -> Result<SyncOutcome, SyncError> {
        let started_ms = self.now_ms();
        if scheduled
            && let Some(last) = self
                .store
                .cursor(&self.config.cursor(LAST_RUN_CURSOR))
                .await?
            && let Ok(last_run_ms) = last.parse::<i64>()
            && started_ms.saturating_sub(last_run_ms) < ms(self.config.interval) / 10 * 9
        {
            return Ok(SyncOutcome::NotDue { last_run_ms });
        }
        let mut report = SyncReport {
            started_ms,
            ..SyncReport::default()
        };
        let mock = self.source.mode().is_mock();
        let end_ms = started_ms;
        for status in OrderStatus::ALL {
            let name = cursor_name(&self.config, status);
            let since = self
                .store
                .cursor(&name)
                .await?
                .and_then(|c| c.parse::<i64>().ok());
            let lookback_start = end_ms.saturating_sub(ms(self.config.lookback));
            let start_ms = match (status, since) {
                (OrderStatus::Invalid, _) | (_, None) => lookback_start,
                (_, Some(since)) => since
                    .saturating_sub(ms(self.config.overlap))
                    .max(lookback_start),
            };
            let query = OrderQuery {
                start_ms,
                end_ms,
                status,
                time_type: status.time_type(),
                page_size: self.config.page_size,
            };
            let mut cursor: Option<String> = None;
            for _ in 0..self.config.max_pages {
                let page = self.source.list_orders(&query, cursor.as_deref()).await?;
                report.pages += 1;
                report.fetched += page.orders.len() as u64;
                let records: Vec<OrderRecord> = page
                    .orders
                    .into_iter()
                    .map(|order| OrderRecord { order, mock })
                    .collect();
                if !records.is_empty() {
                    let stored = self.store.upsert_orders(&records, self.now_ms()).await?;
                    report.stored.add(stored);
                }
                // Renew the lease page by page; losing it means another instance took over.
                if !self
                    .store
                    .try_acquire_lease(
                        &self.config.lease(),
                        &self.config.instance,
                        self.config.lease_ttl,
                    )
                    .await?
                {
                    return Err(SyncError::LeaseLost);
                }
                match page.next_cursor {
                    Some(next) if cursor.as_deref() != Some(next.as_str()) => cursor = Some(next),
                    _ => break,
                }
            }
            self.store.set_cursor(&name, &end_ms.to_string()).await?;
        }
        report.finished_ms = self.now_ms();
        self.store
            .set_cursor(
                &self.config.cursor(LAST_RUN_CURSOR),
                &report.finished_ms.to_string(),
            )
            .await?;
        Ok(SyncOutcome::Ran(report))
    }

    /// Ticks every interval until `shutdown` completes (a run in progress finishes first).
    /// The first tick comes at once, so a fresh deployment syncs on start.
    pub async fn run_periodically(self: Arc<Self>, shutdown: impl Future<Output = ()>) {
        let mut ticker = tokio::time::interval(self.config.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = ticker.tick() => {
                    // Errors are counted and logged by the run; the next tick tries again.
                    let _ = self.tick().await;
                }
            }
        }
    }
}
