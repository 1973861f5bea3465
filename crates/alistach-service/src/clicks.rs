//! Click recording off the request path: `GET /r/{token}` opens the token, answers its redirect
//! and hands the click to a bounded queue ([`ClickTracking::follow`] never waits: a full queue
//! drops the click and counts it); a background [`ClickDrain`], started and stopped by the
//! binary with the server, writes batches to the store's [`ClickStore`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use alistach_domain::{ClickEvent, ClickListener, Clock};
use alistach_policy::TokenError;
use alistach_store::{Click, ClickStore, ClickSummary, StoreError};
use tokio::sync::mpsc;

use crate::tracking::LinkTracker;

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
    /// Hears of every queued click (in mock mode, the mock order book).
    listener: Option<Arc<dyn ClickListener>>,
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
            listener: None,
        };
        (tracking, drain)
    }

    /// The same tracking telling `listener` of every click it queues (after queueing it).
    pub fn with_listener(mut self, listener: Arc<dyn ClickListener>) -> Self {
        self.listener = Some(listener);
        self
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
            let event = self.listener.as_ref().map(|l| {
                (
                    l,
                    ClickEvent {
                        at_ms: click.at_ms,
                        product_id: click.product_id,
                        tracking_id: click.tracking_id.clone(),
                        variant: click.variant,
                        url: claim.url.clone(),
                    },
                )
            });
            if self.queue.try_send(click).is_err() {
                self.counters.dropped.fetch_add(1, Relaxed);
            } else if let Some((listener, event)) = event {
                listener.clicked(&event);
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

    /// What the store holds: the clicks whose tracking id is one of `tracking_ids` (a
    /// tenant's), every click when `None`.
    pub async fn summary(
        &self,
        tracking_ids: Option<&[String]>,
    ) -> Result<ClickSummary, StoreError> {
        self.store.click_summary(tracking_ids).await
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

    use alistach_domain::{ProductId, SystemClock};
    use alistach_policy::{LinkSigner, TokenError};
    use alistach_store::ProductClicks;
    use async_trait::async_trait;

    use super::*;

    fn tracker() -> Arc<LinkTracker> {
        Arc::new(LinkTracker::new(
            LinkSigner::new(b"test-key-0123456789abcdef0123456"),
            "https://go.example.com/",
            "gpt_chat",
        ))
    }

    fn token(tracker: &LinkTracker, id: u64) -> String {
        let url = tracker.track(
            Some(ProductId(id)),
            "https://s.click.aliexpress.com/e/_DabcdE1",
        );
        url.strip_prefix("https://go.example.com/r/")
            .expect("a tracked link")
            .to_owned()
    }

    /// A store that blocks every write until released, then fails a given number of times,
    /// then keeps the clicks.
    #[derive(Default)]
    struct Gate {
        open: AtomicBool,
        failures: AtomicU64,
        kept: std::sync::Mutex<Vec<Click>>,
    }

    impl Gate {
        fn open() -> Arc<Gate> {
            let gate = Arc::new(Gate::default());
            gate.open.store(true, Relaxed);
            gate
        }
        fn kept(&self) -> Vec<Click> {
            self.kept.lock().unwrap().clone()
        }
    }

    #[async_trait]
    impl ClickStore for Gate {
        async fn record_clicks(&self, clicks: &[Click]) -> Result<(), StoreError> {
            while !self.open.load(Relaxed) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            if self
                .failures
                .fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1))
                .is_ok()
            {
                return Err(StoreError::Unavailable("down".into()));
            }
            self.kept.lock().unwrap().extend_from_slice(clicks);
            Ok(())
        }
        async fn click_summary(
            &self,
            tracking_ids: Option<&[String]>,
        ) -> Result<ClickSummary, StoreError> {
            let kept: Vec<Click> = self
                .kept()
                .into_iter()
                .filter(|c| tracking_ids.is_none_or(|ids| ids.contains(&c.tracking_id)))
                .collect();
            let mut per = std::collections::HashMap::new();
            for id in kept.iter().filter_map(|c| c.product_id) {
                *per.entry(id).or_insert(0) += 1;
            }
            Ok(ClickSummary::from_counts(kept.len() as u64, per))
        }
    }

    #[tokio::test]
    async fn clicks_are_stored_and_previews_are_not_counted() {
        let tracker = tracker();
        let store = Gate::open();
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
        let summary = tracking.summary(None).await.unwrap();
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
        let stored = store.kept();
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
        assert_eq!(store.kept().len() as u64, stats.recorded);
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
