//! Click recording off the request path: `GET /r/{token}` opens the token, answers its redirect
//! and hands the click to a bounded queue ([`ClickTracking::follow`] never waits: a full queue
//! drops the click and counts it); a background [`ClickDrain`], started and stopped by the
//! binary with the server, writes batches to the [`ClickStore`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use alistach_domain::{Clock, ProductId};
use alistach_policy::TokenError;
use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::tracking::LinkTracker;

/// One counted click on a tracked link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Click {
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// The product the link is for.
    pub product_id: ProductId,
    /// The tracking id of the affiliate link.
    pub tracking_id: String,
    /// The experiment variant that made the link, if any.
    pub variant: Option<u32>,
}

/// Clicks counted for one product.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProductClicks {
    /// The product.
    pub product_id: ProductId,
    /// Its clicks.
    pub clicks: u64,
}

/// What the store holds, summed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClickSummary {
    /// Every stored click.
    pub total: u64,
    /// The most clicked products, most clicks first (then by product id), at most
    /// [`MAX_SUMMARY_PRODUCTS`].
    pub products: Vec<ProductClicks>,
}

/// How many products a [`ClickSummary`] lists.
pub const MAX_SUMMARY_PRODUCTS: usize = 100;

/// Why the click store failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the click store is unavailable: {0}")]
pub struct ClickStoreError(pub String);

/// Where clicks are kept. The port until the durable store crate carries it.
#[async_trait]
pub trait ClickStore: Send + Sync + 'static {
    /// Appends `clicks`, all or none.
    async fn record_clicks(&self, clicks: &[Click]) -> Result<(), ClickStoreError>;

    /// Every stored click, summed.
    async fn click_summary(&self) -> Result<ClickSummary, ClickStoreError>;
}

/// Clicks in memory: for tests, and the store of a deployment without a database (lost on
/// restart).
#[derive(Debug, Default)]
pub struct MemoryClickStore {
    clicks: std::sync::Mutex<Vec<Click>>,
}

impl MemoryClickStore {
    /// Every click, in the order recorded.
    pub fn clicks(&self) -> Vec<Click> {
        self.clicks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

#[async_trait]
impl ClickStore for MemoryClickStore {
    async fn record_clicks(&self, clicks: &[Click]) -> Result<(), ClickStoreError> {
        self.clicks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(clicks);
        Ok(())
    }

    async fn click_summary(&self) -> Result<ClickSummary, ClickStoreError> {
        let clicks = self.clicks.lock().unwrap_or_else(|p| p.into_inner());
        let mut per: std::collections::HashMap<ProductId, u64> = Default::default();
        for c in clicks.iter() {
            *per.entry(c.product_id).or_default() += 1;
        }
        Ok(ClickSummary::from_counts(clicks.len() as u64, per))
    }
}

impl ClickSummary {
    /// A summary from per-product counts: the top [`MAX_SUMMARY_PRODUCTS`], most clicked
    /// first (then by product id).
    pub fn from_counts(
        total: u64,
        per_product: impl IntoIterator<Item = (ProductId, u64)>,
    ) -> ClickSummary {
        let mut products: Vec<ProductClicks> = per_product
            .into_iter()
            .map(|(product_id, clicks)| ProductClicks { product_id, clicks })
            .collect();
        products.sort_by(|a, b| {
            b.clicks
                .cmp(&a.clicks)
                .then(a.product_id.cmp(&b.product_id))
        });
        products.truncate(MAX_SUMMARY_PRODUCTS);
        ClickSummary { total, products }
    }
}

/// Click counters since start-up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClickStats {
    /// Clicks written to the store.
    pub recorded: u64,
    /// Clicks dropped because the queue was full (or closing).
    pub dropped: u64,
    /// Redirects not counted: HEAD requests, link previews, bots, prefetches.
    pub not_counted: u64,
    /// Clicks lost because the store kept failing.
    pub failed: u64,
    /// Clicks waiting in the queue now.
    pub queued: u64,
    /// The queue's capacity.
    pub capacity: u64,
}

#[derive(Debug, Default)]
struct Counters {
    recorded: AtomicU64,
    dropped: AtomicU64,
    not_counted: AtomicU64,
    failed: AtomicU64,
}

/// The redirect use case: opens tokens, answers where they lead, and queues the clicks.
pub struct ClickTracking {
    tracker: Arc<LinkTracker>,
    queue: mpsc::Sender<Click>,
    capacity: usize,
    counters: Arc<Counters>,
    store: Arc<dyn ClickStore>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for ClickTracking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClickTracking")
            .field("capacity", &self.capacity)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// The default queue capacity: a burst of this many clicks waits for the store.
pub const DEFAULT_CLICK_QUEUE: usize = 10_000;
/// Clicks written per store call at most.
const BATCH: usize = 256;
/// Attempts per batch before its clicks count as failed.
const ATTEMPTS: u32 = 5;

impl ClickTracking {
    /// Click tracking over `tracker`'s links, keeping clicks in `store` through a queue of
    /// `capacity` (at least 1); the returned [`ClickDrain`] must run for clicks to be stored.
    pub fn new(
        tracker: Arc<LinkTracker>,
        store: Arc<dyn ClickStore>,
        capacity: usize,
        clock: Arc<dyn Clock>,
    ) -> (ClickTracking, ClickDrain) {
        let capacity = capacity.max(1);
        let (tx, rx) = mpsc::channel(capacity);
        let counters = Arc::new(Counters::default());
        let drain = ClickDrain {
            queue: rx,
            store: store.clone(),
            counters: counters.clone(),
        };
        let tracking = ClickTracking {
            tracker,
            queue: tx,
            capacity,
            counters,
            store,
            clock,
        };
        (tracking, drain)
    }

    /// Where `token` leads. When `count` (a person's GET, not a preview or a bot), the click is
    /// queued without waiting: a full queue drops it and counts the drop. Otherwise it is
    /// counted as not counted. An invalid token is an error and counts nothing.
    pub fn follow(&self, token: &str, count: bool) -> Result<String, TokenError> {
        let claim = self.tracker.open(token)?;
        if count {
            let click = Click {
                at_ms: i64::try_from(self.clock.now_ms()).unwrap_or(i64::MAX),
                product_id: claim.product_id,
                tracking_id: claim.tracking_id,
                variant: claim.variant,
            };
            if self.queue.try_send(click).is_err() {
                self.counters.dropped.fetch_add(1, Relaxed);
            }
        } else {
            self.counters.not_counted.fetch_add(1, Relaxed);
        }
        Ok(claim.url)
    }

    /// The counters since start-up.
    pub fn stats(&self) -> ClickStats {
        let c = &self.counters;
        let free = self.queue.capacity();
        ClickStats {
            recorded: c.recorded.load(Relaxed),
            dropped: c.dropped.load(Relaxed),
            not_counted: c.not_counted.load(Relaxed),
            failed: c.failed.load(Relaxed),
            queued: self.capacity.saturating_sub(free) as u64,
            capacity: self.capacity as u64,
        }
    }

    /// What the store holds.
    pub async fn summary(&self) -> Result<ClickSummary, ClickStoreError> {
        self.store.click_summary().await
    }
}

/// Writes queued clicks to the store, in batches, until stopped.
pub struct ClickDrain {
    queue: mpsc::Receiver<Click>,
    store: Arc<dyn ClickStore>,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for ClickDrain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClickDrain").finish_non_exhaustive()
    }
}

impl ClickDrain {
    /// Writes clicks as they come until `stop` completes (or every [`ClickTracking`] is
    /// gone); then closes the queue (later clicks are dropped and counted) and writes what is
    /// left before returning. A failing store is retried with backoff; a batch that still
    /// fails after a few attempts is counted as failed and logged.
    pub async fn run(mut self, stop: impl std::future::Future<Output = ()>) {
        let mut stop = std::pin::pin!(stop);
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            tokio::select! {
                biased;
                () = &mut stop => break,
                n = self.queue.recv_many(&mut batch, BATCH) => {
                    if n == 0 {
                        return; // every sender is gone and the queue is empty
                    }
                    self.write(&mut batch).await;
                }
            }
        }
        self.queue.close();
        while self.queue.recv_many(&mut batch, BATCH).await > 0 {
            self.write(&mut batch).await;
        }
    }

    async fn write(&self, batch: &mut Vec<Click>) {
        let mut delay = Duration::from_millis(100);
        for attempt in 1..=ATTEMPTS {
            match self.store.record_clicks(batch).await {
                Ok(()) => {
                    self.counters
                        .recorded
                        .fetch_add(batch.len() as u64, Relaxed);
                    batch.clear();
                    return;
                }
                Err(e) if attempt == ATTEMPTS => {
                    tracing::warn!(error = %e, clicks = batch.len(), "clicks lost: the click store kept failing");
                }
                Err(e) => {
                    tracing::debug!(error = %e, attempt, "click store failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
            }
        }
        self.counters.failed.fetch_add(batch.len() as u64, Relaxed);
        batch.clear();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use alistach_domain::SystemClock;
    use alistach_policy::{LinkSigner, TokenError};

    use super::*;

    fn tracker() -> Arc<LinkTracker> {
        Arc::new(LinkTracker::new(
            LinkSigner::new(b"test-key-0123456789abcdef0123456"),
            "https://go.example.com/",
            "gpt_chat",
        ))
    }

    fn token(tracker: &LinkTracker, id: u64) -> String {
        let url = tracker.track(ProductId(id), "https://s.click.aliexpress.com/e/_DabcdE1");
        url.strip_prefix("https://go.example.com/r/")
            .expect("a tracked link")
            .to_owned()
    }

    /// A store that blocks every write until released, then fails a given number of times.
    #[derive(Default)]
    struct Gate {
        open: AtomicBool,
        failures: AtomicU64,
        inner: MemoryClickStore,
    }

    #[async_trait]
    impl ClickStore for Gate {
        async fn record_clicks(&self, clicks: &[Click]) -> Result<(), ClickStoreError> {
            while !self.open.load(Relaxed) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            if self
                .failures
                .fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1))
                .is_ok()
            {
                return Err(ClickStoreError("down".into()));
            }
            self.inner.record_clicks(clicks).await
        }
        async fn click_summary(&self) -> Result<ClickSummary, ClickStoreError> {
            self.inner.click_summary().await
        }
    }

    #[tokio::test]
    async fn clicks_are_stored_and_previews_are_not_counted() {
        let tracker = tracker();
        let store = Arc::new(MemoryClickStore::default());
        let (tracking, drain) =
            ClickTracking::new(tracker.clone(), store.clone(), 16, Arc::new(SystemClock));
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(drain.run(async {
            let _ = stop_rx.await;
        }));
        let to = tracking.follow(&token(&tracker, 7), true).unwrap();
        assert_eq!(to, "https://s.click.aliexpress.com/e/_DabcdE1");
        tracking.follow(&token(&tracker, 7), true).unwrap();
        tracking.follow(&token(&tracker, 8), true).unwrap();
        tracking.follow(&token(&tracker, 8), false).unwrap();
        let mut bad = token(&tracker, 9);
        bad.replace_range(0..1, if bad.starts_with('A') { "B" } else { "A" });
        assert_eq!(tracking.follow(&bad, true), Err(TokenError::Invalid));
        let _ = stop_tx.send(());
        task.await.unwrap();
        let stats = tracking.stats();
        assert_eq!(
            (stats.recorded, stats.not_counted, stats.dropped),
            (3, 1, 0)
        );
        let summary = tracking.summary().await.unwrap();
        assert_eq!(summary.total, 3);
        assert_eq!(
            summary.products,
            vec![
                ProductClicks {
                    product_id: ProductId(7),
                    clicks: 2
                },
                ProductClicks {
                    product_id: ProductId(8),
                    clicks: 1
                },
            ]
        );
        let stored = store.clicks();
        assert_eq!(stored[0].tracking_id, "gpt_chat");
        assert_eq!(stored[0].variant, None);
        assert!(stored[0].at_ms > 1_700_000_000_000);
    }

    #[tokio::test]
    async fn a_full_queue_drops_and_counts_without_waiting() {
        let tracker = tracker();
        let store = Arc::new(Gate::default());
        let (tracking, drain) =
            ClickTracking::new(tracker.clone(), store.clone(), 4, Arc::new(SystemClock));
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(drain.run(async {
            let _ = stop_rx.await;
        }));
        let t = token(&tracker, 1);
        // The store is closed: the drain holds one batch, the queue fills, the rest drop.
        let started = std::time::Instant::now();
        for _ in 0..100 {
            tracking.follow(&t, true).unwrap();
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "follow never waits"
        );
        let stats = tracking.stats();
        assert!(stats.dropped >= 100 - 4 - 4, "{stats:?}");
        assert!(stats.queued <= 4);
        store.open.store(true, Relaxed);
        let _ = stop_tx.send(());
        task.await.unwrap();
        let stats = tracking.stats();
        assert_eq!(stats.recorded + stats.dropped, 100, "{stats:?}");
        assert_eq!(store.inner.clicks().len() as u64, stats.recorded);
        // After the drain stopped, the queue is closed: clicks drop and are counted.
        tracking.follow(&t, true).unwrap();
        assert_eq!(tracking.stats().dropped, stats.dropped + 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_store_is_retried_then_counted_as_failed() {
        let tracker = tracker();
        let store = Arc::new(Gate::default());
        store.open.store(true, Relaxed);
        store.failures.store(2, Relaxed);
        let (tracking, drain) =
            ClickTracking::new(tracker.clone(), store.clone(), 8, Arc::new(SystemClock));
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(drain.run(async {
            let _ = stop_rx.await;
        }));
        tracking.follow(&token(&tracker, 1), true).unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(tracking.stats().recorded, 1, "retried past two failures");
        store.failures.store(u64::MAX, Relaxed);
        tracking.follow(&token(&tracker, 2), true).unwrap();
        tokio::time::sleep(Duration::from_secs(10)).await;
        let _ = stop_tx.send(());
        task.await.unwrap();
        let stats = tracking.stats();
        assert_eq!((stats.recorded, stats.failed), (1, 1), "{stats:?}");
    }
}
