//! The webhook dispatcher: attempts every pending delivery of the store's outbox through the
//! [`WebhookSender`] port, records each attempt, retries with exponential backoff and full
//! jitter, gives up on a delivery after days, and disables an endpoint that has failed for
//! longer still.
//!
//! One instance delivers at a time: a pass holds the `webhooks:deliver` lease (renewed while it
//! works), so two instances never attempt the same delivery in one pass. An attempt that was
//! made but not recorded (a crash between the two) is made again: delivery is at least once,
//! and every attempt of an event carries the same `webhook-id`, so receivers deduplicate.
//!
//! The test event ([`test_event`], queued by `WebhookEndpoints::test`) has the type [`TEST_EVENT_TYPE`]
//! (`webhook.test`), outside the subscribable [`alistach_store::EVENT_TYPES`]: it is only ever
//! sent to the one endpoint asked for, and a receiver must never mistake it for a real order
//! (an `order.created` with made-up data could be booked as one).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use alistach_domain::{Clock, TenantId, WebhookMessage, WebhookSender};
use alistach_store::{
    Attempt, AttemptOutcome, Delivery, Endpoint, Event, Store, StoreError, event,
};

/// The lease every instance's dispatcher takes for a pass.
pub const DELIVER_LEASE: &str = "webhooks:deliver";

/// The type of the test event an endpoint can be sent by hand.
pub const TEST_EVENT_TYPE: &str = "webhook.test";

/// How the dispatcher runs.
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    /// This instance's name in the lease (unique per process).
    pub instance: String,
    /// The time between passes.
    pub poll_interval: Duration,
    /// How long a pass holds the lease without renewing it (renewed as it goes).
    pub lease_ttl: Duration,
    /// Deliveries fetched per pass.
    pub batch: u32,
    /// Attempts in flight at once.
    pub concurrency: usize,
    /// The first retry's longest wait; each further retry's doubles.
    pub backoff_base: Duration,
    /// The longest wait between two attempts.
    pub backoff_cap: Duration,
    /// Full jitter: each wait is uniform between zero and its ceiling (off: the ceiling; tests).
    pub jitter: bool,
    /// A delivery still failing this long after it was made is failed for good.
    pub give_up_after: Duration,
    /// An endpoint whose every attempt has failed for this long is disabled.
    pub disable_after: Duration,
}

impl Default for WebhookConfig {
    /// A pass a second, batches of 100, 8 attempts at once, waits from 5 s doubling up to an
    /// hour with full jitter, giving up after 3 days, disabling after 5 days of failures, a
    /// lease of a minute; the instance is named by the process id and a random suffix.
    fn default() -> Self {
        WebhookConfig {
            instance: format!("pid{}-{:08x}", std::process::id(), fastrand::u32(..)),
            poll_interval: Duration::from_secs(1),
            lease_ttl: Duration::from_secs(60),
            batch: 100,
            concurrency: 8,
            backoff_base: Duration::from_secs(5),
            backoff_cap: Duration::from_secs(3_600),
            jitter: true,
            give_up_after: Duration::from_secs(3 * 86_400),
            disable_after: Duration::from_secs(5 * 86_400),
        }
    }
}

impl WebhookConfig {
    /// The longest wait after the `attempts`-th failed attempt (1 for the first):
    /// `backoff_base` doubled `attempts - 1` times, at most `backoff_cap`.
    pub fn backoff_ceiling(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(32);
        self.backoff_base
            .checked_mul(1u32 << doublings.min(31))
            .unwrap_or(self.backoff_cap)
            .min(self.backoff_cap)
    }

    /// The wait after the `attempts`-th failed attempt: uniform in `[0, ceiling]` with full
    /// jitter, else the ceiling.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let ceiling = self.backoff_ceiling(attempts);
        if self.jitter {
            Duration::from_millis(fastrand::u64(..=ms_u64(ceiling)))
        } else {
            ceiling
        }
    }
}

/// What one pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TickReport {
    /// Another instance held the lease: nothing was attempted.
    pub leased_by: Option<String>,
    /// Deliveries due when the pass began (at most the batch).
    pub due: usize,
    /// Attempts made.
    pub attempted: usize,
    /// Deliveries delivered.
    pub delivered: usize,
    /// Deliveries to be retried later.
    pub retrying: usize,
    /// Deliveries given up on.
    pub failed: usize,
    /// Endpoints disabled after failing for too long.
    pub disabled: Vec<u64>,
    /// The pass stopped early: the lease passed to another instance.
    pub lease_lost: bool,
}

/// A snapshot of the dispatcher's counters since start (for metrics).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WebhookStats {
    /// Passes that ran.
    pub passes: u64,
    /// Passes skipped: another instance held the lease.
    pub leased: u64,
    /// Passes that failed on the store.
    pub store_failures: u64,
    /// Attempts answered with a 2xx.
    pub attempts_ok: u64,
    /// Attempts that failed (non-2xx, timeout, refused, connection).
    pub attempts_failed: u64,
    /// Deliveries delivered.
    pub delivered: u64,
    /// Deliveries failed for good.
    pub failed: u64,
    /// Endpoints disabled by the dispatcher (`webhook_endpoints_disabled_total`; the alert on
    /// it comes with the alert rules).
    pub endpoints_disabled: u64,
    /// Deliveries due at the last pass (at most a batch: a cheap lower bound of the queue).
    pub due_last_pass: u64,
}

#[derive(Debug, Default)]
struct Counters {
    passes: AtomicU64,
    leased: AtomicU64,
    store_failures: AtomicU64,
    attempts_ok: AtomicU64,
    attempts_failed: AtomicU64,
    delivered: AtomicU64,
    failed: AtomicU64,
    endpoints_disabled: AtomicU64,
    due_last_pass: AtomicU64,
}

/// Told of every endpoint the dispatcher disables (the alert hook).
pub type EndpointDisabledHook = Arc<dyn Fn(&Endpoint) + Send + Sync>;

/// The webhook delivery use case.
pub struct WebhookDispatcher {
    store: Arc<dyn Store>,
    sender: Arc<dyn WebhookSender>,
    clock: Arc<dyn Clock>,
    config: WebhookConfig,
    /// One pass at a time within this process (the lease is per instance, so it cannot tell).
    running: tokio::sync::Mutex<()>,
    counters: Counters,
    on_endpoint_disabled: Option<EndpointDisabledHook>,
}

impl std::fmt::Debug for WebhookDispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookDispatcher")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn ms_u64(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// What one attempt came to, for the pass's report.
struct Done {
    endpoint_id: u64,
    outcome: AttemptOutcome,
    ok: bool,
}

impl WebhookDispatcher {
    /// The dispatcher of `store`'s deliveries through `sender`.
    pub fn new(
        store: Arc<dyn Store>,
        sender: Arc<dyn WebhookSender>,
        clock: Arc<dyn Clock>,
        config: WebhookConfig,
    ) -> WebhookDispatcher {
        WebhookDispatcher {
            store,
            sender,
            clock,
            config,
            running: tokio::sync::Mutex::new(()),
            counters: Counters::default(),
            on_endpoint_disabled: None,
        }
    }

    /// Calls `hook` with every endpoint the dispatcher disables (where the alert plugs in).
    pub fn with_endpoint_disabled_hook(mut self, hook: EndpointDisabledHook) -> Self {
        self.on_endpoint_disabled = Some(hook);
        self
    }

    /// The configuration.
    pub fn config(&self) -> &WebhookConfig {
        &self.config
    }

    /// The counters.
    pub fn stats(&self) -> WebhookStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        WebhookStats {
            passes: get(&c.passes),
            leased: get(&c.leased),
            store_failures: get(&c.store_failures),
            attempts_ok: get(&c.attempts_ok),
            attempts_failed: get(&c.attempts_failed),
            delivered: get(&c.delivered),
            failed: get(&c.failed),
            endpoints_disabled: get(&c.endpoints_disabled),
            due_last_pass: get(&c.due_last_pass),
        }
    }

    fn now_ms(&self) -> i64 {
        i64::try_from(self.clock.now_ms()).unwrap_or(i64::MAX)
    }

    /// One pass: under the lease, attempts the due deliveries (a batch) and records each.
    pub async fn tick(&self) -> Result<TickReport, StoreError> {
        let _one_at_a_time = self.running.lock().await;
        let me = &self.config.instance;
        if !self
            .store
            .try_acquire_lease(DELIVER_LEASE, me, self.config.lease_ttl)
            .await?
        {
            self.counters.leased.fetch_add(1, Ordering::Relaxed);
            let holder = self
                .store
                .lease(DELIVER_LEASE)
                .await?
                .map_or_else(|| "another instance".to_owned(), |l| l.holder);
            return Ok(TickReport {
                leased_by: Some(holder),
                ..TickReport::default()
            });
        }
        let result = self.pass().await;
        if let Err(e) = self.store.release_lease(DELIVER_LEASE, me).await {
            tracing::warn!(error = %e, "releasing the webhook lease failed; it expires");
        }
        match &result {
            Ok(_) => {
                self.counters.passes.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                self.counters.store_failures.fetch_add(1, Ordering::Relaxed);
            }
        }
        result
    }

    /// A pass holding the lease.
    async fn pass(&self) -> Result<TickReport, StoreError> {
        let mut report = TickReport::default();
        let due = self
            .store
            .due_deliveries(self.now_ms(), self.config.batch)
            .await?;
        report.due = due.len();
        self.counters
            .due_last_pass
            .store(due.len() as u64, Ordering::Relaxed);
        if due.is_empty() {
            return Ok(report);
        }
        let endpoints: HashMap<u64, Endpoint> = self
            .store
            .endpoints(None)
            .await?
            .into_iter()
            .map(|e| (e.id, e))
            .collect();
        let mut failing: HashSet<u64> = HashSet::new();
        let mut store_error: Option<StoreError> = None;
        let mut in_flight = tokio::task::JoinSet::new();
        let mut renewed = Instant::now();
        let renew_every = self.config.lease_ttl / 4;
        let mut queue = due.into_iter();
        let concurrency = self.config.concurrency.max(1);
        loop {
            while in_flight.len() < concurrency && !report.lease_lost {
                let Some(delivery) = queue.next() else {
                    break;
                };
                let Some(endpoint) = endpoints.get(&delivery.endpoint_id) else {
                    continue; // deleted since the deliveries were read
                };
                if renewed.elapsed() >= renew_every {
                    if !self
                        .store
                        .try_acquire_lease(
                            DELIVER_LEASE,
                            &self.config.instance,
                            self.config.lease_ttl,
                        )
                        .await?
                    {
                        tracing::warn!("the webhook lease passed to another instance mid-pass");
                        report.lease_lost = true;
                        break;
                    }
                    renewed = Instant::now();
                }
                let job = Job {
                    store: self.store.clone(),
                    sender: self.sender.clone(),
                    clock: self.clock.clone(),
                    config: self.config.clone(),
                    url: endpoint.url.clone(),
                    secret: endpoint.secret.clone(),
                    delivery,
                };
                in_flight.spawn(job.run());
            }
            let Some(joined) = in_flight.join_next().await else {
                break;
            };
            let done = match joined {
                Ok(Ok(done)) => done,
                // Keep recording the attempts in flight; the pass fails at the end.
                Ok(Err(e)) => {
                    store_error.get_or_insert(e);
                    continue;
                }
                Err(e) => {
                    tracing::error!(error = %e, "a webhook attempt's task failed");
                    continue;
                }
            };
            report.attempted += 1;
            let c = &self.counters;
            if done.ok {
                c.attempts_ok.fetch_add(1, Ordering::Relaxed);
            } else {
                c.attempts_failed.fetch_add(1, Ordering::Relaxed);
                failing.insert(done.endpoint_id);
            }
            match done.outcome {
                AttemptOutcome::Delivered => {
                    report.delivered += 1;
                    c.delivered.fetch_add(1, Ordering::Relaxed);
                }
                AttemptOutcome::RetryAt(_) => report.retrying += 1,
                AttemptOutcome::Failed => {
                    report.failed += 1;
                    c.failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        if let Some(e) = store_error {
            return Err(e);
        }
        let mut failing: Vec<u64> = failing.into_iter().collect();
        failing.sort_unstable();
        for endpoint_id in failing {
            if self.disable_if_failing_too_long(endpoint_id).await? {
                report.disabled.push(endpoint_id);
            }
        }
        Ok(report)
    }

    /// Disables the endpoint when every attempt to it has failed for `disable_after`.
    async fn disable_if_failing_too_long(&self, endpoint_id: u64) -> Result<bool, StoreError> {
        let Some(endpoint) = self.store.endpoint(endpoint_id).await? else {
            return Ok(false);
        };
        let now = self.now_ms();
        let Some(since) = endpoint.failing_since_ms else {
            return Ok(false);
        };
        if !endpoint.enabled || now.saturating_sub(since) < ms(self.config.disable_after) {
            return Ok(false);
        }
        let reason = format!(
            "every delivery attempt failed for {} days (since {})",
            (now - since) / 86_400_000,
            alistach_domain::platform_time::rfc3339(since)
        );
        let Some(disabled) = self
            .store
            .disable_endpoint(endpoint_id, &reason, now)
            .await?
        else {
            return Ok(false);
        };
        self.counters
            .endpoints_disabled
            .fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            endpoint_id,
            failing_since_ms = since,
            "webhook endpoint disabled: {reason}"
        );
        if let Some(hook) = &self.on_endpoint_disabled {
            hook(&disabled);
        }
        Ok(true)
    }

    /// Passes every `poll_interval` until `stop` completes (a pass in progress finishes
    /// first). Errors are counted and logged; the next pass tries again.
    pub async fn run(self: Arc<Self>, stop: impl Future) {
        let mut ticker = tokio::time::interval(self.config.poll_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => return,
                _ = ticker.tick() => {
                    match self.tick().await {
                        Ok(report) if report.attempted > 0 => tracing::debug!(
                            attempted = report.attempted,
                            delivered = report.delivered,
                            retrying = report.retrying,
                            failed = report.failed,
                            "webhook pass"
                        ),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "webhook pass failed"),
                    }
                }
            }
        }
    }
}

/// One attempt of one delivery, owned so it can run as its own task.
struct Job {
    store: Arc<dyn Store>,
    sender: Arc<dyn WebhookSender>,
    clock: Arc<dyn Clock>,
    config: WebhookConfig,
    url: String,
    secret: alistach_domain::Secret,
    delivery: Delivery,
}

impl Job {
    fn now_ms(&self) -> i64 {
        i64::try_from(self.clock.now_ms()).unwrap_or(i64::MAX)
    }

    async fn run(self) -> Result<Done, StoreError> {
        let at_ms = self.now_ms();
        let started = Instant::now();
        let sent = self
            .sender
            .send(&WebhookMessage {
                url: &self.url,
                secret: &self.secret,
                id: &self.delivery.event.id,
                timestamp_s: at_ms.div_euclid(1_000),
                body: self.delivery.event.payload.as_bytes(),
            })
            .await;
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let (status, error) = match &sent {
            Ok(s) if (200..300).contains(s) => (Some(*s), None),
            Ok(s) => (Some(*s), Some(format!("HTTP {s}"))),
            Err(e) => (None, Some(e.to_string())),
        };
        let ok = error.is_none();
        let done_ms = self.now_ms();
        let outcome = if ok {
            AttemptOutcome::Delivered
        } else if done_ms.saturating_sub(self.delivery.created_at_ms)
            >= ms(self.config.give_up_after)
        {
            AttemptOutcome::Failed
        } else {
            let wait = self
                .config
                .backoff(self.delivery.attempts.saturating_add(1));
            AttemptOutcome::RetryAt(done_ms.saturating_add(ms(wait)))
        };
        let attempt = Attempt {
            at_ms,
            status,
            latency_ms,
            error,
        };
        self.store
            .record_attempt(self.delivery.id, &attempt, outcome)
            .await?;
        if outcome == AttemptOutcome::Failed {
            tracing::warn!(
                delivery_id = self.delivery.id,
                endpoint_id = self.delivery.endpoint_id,
                event_id = %self.delivery.event.id,
                attempts = self.delivery.attempts.saturating_add(1),
                "webhook delivery given up"
            );
        }
        Ok(Done {
            endpoint_id: self.delivery.endpoint_id,
            outcome,
            ok,
        })
    }
}

/// The test event for an endpoint of `tenant`: type [`TEST_EVENT_TYPE`], a fresh id, `data`
/// saying it is a test.
pub fn test_event(endpoint_id: u64, tenant: TenantId, now_ms: i64) -> Event {
    event(
        format!("msg_test_{endpoint_id}_{now_ms}_{:08x}", fastrand::u32(..)),
        tenant,
        TEST_EVENT_TYPE,
        now_ms,
        serde_json::json!({
            "test": true,
            "endpoint_id": endpoint_id.to_string(),
            "message": "A test event from AliStach: this endpoint receives its webhooks.",
        }),
    )
}
