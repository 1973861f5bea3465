//! The webhook dispatcher against the memory store, a scripted sender and a manual clock:
//! growing retry delays with the same id, giving up after 3 days, disabling after 5 days of
//! failures, a success clearing the failing streak, the lease, the test event.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alistach_cache::ManualClock;
use alistach_domain::{Secret, TenantId, WebhookError, WebhookMessage, WebhookSender};
use alistach_service::{TEST_EVENT_TYPE, WebhookConfig, WebhookDispatcher};
use alistach_store::{
    Delivery, DeliveryState, MemoryStore, NewEndpoint, Store, WebhookStore, event,
};
use async_trait::async_trait;

const T0: u64 = 1_800_000_000_000;
const SECOND: i64 = 1_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 86_400_000;

/// One call the sender saw.
#[derive(Clone, Debug)]
struct Call {
    url: String,
    id: String,
    timestamp_s: i64,
    body: String,
}

/// Answers from a script, then a default; records every call; optionally slow.
struct Scripted {
    script: Mutex<VecDeque<Result<u16, WebhookError>>>,
    default: Mutex<Result<u16, WebhookError>>,
    calls: Mutex<Vec<Call>>,
    delay: Duration,
}

impl Scripted {
    fn answering(default: Result<u16, WebhookError>) -> Arc<Scripted> {
        Arc::new(Scripted {
            script: Mutex::new(VecDeque::new()),
            default: Mutex::new(default),
            calls: Mutex::new(Vec::new()),
            delay: Duration::ZERO,
        })
    }
    fn set_default(&self, answer: Result<u16, WebhookError>) {
        *self.default.lock().unwrap() = answer;
    }
    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }
}

#[async_trait]
impl WebhookSender for Scripted {
    async fn send(&self, m: &WebhookMessage<'_>) -> Result<u16, WebhookError> {
        assert!(m.secret.expose().starts_with("whsec_"));
        self.calls.lock().unwrap().push(Call {
            url: m.url.to_owned(),
            id: m.id.to_owned(),
            timestamp_s: m.timestamp_s,
            body: String::from_utf8(m.body.to_vec()).unwrap(),
        });
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        let next = self.script.lock().unwrap().pop_front();
        next.unwrap_or_else(|| self.default.lock().unwrap().clone())
    }
}

struct Fixture {
    store: Arc<MemoryStore>,
    clock: Arc<ManualClock>,
    sender: Arc<Scripted>,
    dispatcher: WebhookDispatcher,
    endpoint: u64,
    disabled_seen: Arc<AtomicUsize>,
}

fn config(instance: &str) -> WebhookConfig {
    WebhookConfig {
        instance: instance.to_owned(),
        jitter: false,
        ..WebhookConfig::default()
    }
}

async fn fixture(answer: Result<u16, WebhookError>) -> Fixture {
    let store = Arc::new(MemoryStore::new());
    let clock = Arc::new(ManualClock::new(T0));
    let sender = Scripted::answering(answer);
    let endpoint = store
        .create_endpoint(
            &NewEndpoint {
                tenant: TenantId::default_tenant(),
                url: "https://hooks.example.com/alistach".into(),
                events: vec!["order.created".into()],
                description: None,
                secret: Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            },
            T0 as i64,
        )
        .await
        .unwrap()
        .id;
    let disabled_seen = Arc::new(AtomicUsize::new(0));
    let seen = disabled_seen.clone();
    let dispatcher = WebhookDispatcher::new(
        store.clone() as Arc<dyn Store>,
        sender.clone(),
        clock.clone(),
        config("a"),
    )
    .with_endpoint_disabled_hook(Arc::new(move |_| {
        seen.fetch_add(1, Ordering::SeqCst);
    }));
    Fixture {
        store,
        clock,
        sender,
        dispatcher,
        endpoint,
        disabled_seen,
    }
}

impl Fixture {
    fn now(&self) -> i64 {
        alistach_domain::Clock::now_ms(&*self.clock) as i64
    }

    async fn publish(&self, id: &str) {
        let e = event(
            id.to_owned(),
            TenantId::default_tenant(),
            "order.created",
            self.now(),
            serde_json::json!({"sub_order_id": id}),
        );
        self.store.publish(&[e], self.now()).await.unwrap();
    }

    async fn deliveries(&self) -> Vec<Delivery> {
        self.store
            .deliveries(self.endpoint, 1_000)
            .await
            .unwrap()
            .into_iter()
            .map(|(d, _)| d)
            .collect()
    }

    async fn only_delivery(&self) -> Delivery {
        let all = self.deliveries().await;
        assert_eq!(all.len(), 1, "{all:?}");
        all[0].clone()
    }
}

#[tokio::test]
async fn failed_attempts_are_retried_with_doubling_delays_and_the_same_id() {
    let f = fixture(Ok(500)).await;
    f.sender.script.lock().unwrap().extend([
        Ok(503),
        Ok(307), // a redirect is a failure
        Err(WebhookError::Timeout(10)),
        Err(WebhookError::Connect("connection refused".into())),
    ]);
    f.publish("msg_order_1_created").await;
    let mut expected_wait = 5 * SECOND;
    for attempt in 1..=6u32 {
        let report = f.dispatcher.tick().await.unwrap();
        assert_eq!((report.attempted, report.retrying), (1, 1), "{report:?}");
        let d = f.only_delivery().await;
        assert_eq!(d.state, DeliveryState::Pending);
        assert_eq!(d.attempts, attempt);
        let next = d.next_attempt_at_ms.unwrap();
        assert_eq!(next - f.now(), expected_wait, "attempt {attempt}");
        // Not due a millisecond early.
        f.clock.set((next - 1) as u64);
        assert_eq!(f.dispatcher.tick().await.unwrap().attempted, 0);
        f.clock.set(next as u64);
        expected_wait *= 2;
    }
    let calls = f.sender.calls();
    assert_eq!(calls.len(), 6);
    assert!(calls.iter().all(|c| c.id == "msg_order_1_created"));
    assert!(
        calls
            .iter()
            .all(|c| c.url == "https://hooks.example.com/alistach")
    );
    // Each attempt is stamped with its own time, in seconds.
    assert_eq!(calls[0].timestamp_s, T0 as i64 / 1_000);
    assert_eq!(calls[1].timestamp_s, (T0 as i64 + 5 * SECOND) / 1_000);
    let body: serde_json::Value = serde_json::from_str(&calls[0].body).unwrap();
    assert_eq!(body["type"], "order.created");
    // Every attempt is recorded with what went wrong.
    let (_, attempts) = f.store.deliveries(f.endpoint, 1).await.unwrap().remove(0);
    let errors: Vec<Option<String>> = attempts.iter().map(|a| a.error.clone()).collect();
    assert_eq!(errors[0].as_deref(), Some("HTTP 503"));
    assert_eq!(attempts[1].status, Some(307));
    assert_eq!(attempts[2].status, None);
    assert!(errors[2].as_deref().unwrap().contains("10 s"), "{errors:?}");
    assert_eq!(errors[4].as_deref(), Some("HTTP 500"));

    // Then it succeeds: delivered, and never attempted again.
    f.sender.set_default(Ok(204));
    let report = f.dispatcher.tick().await.unwrap();
    assert_eq!(report.delivered, 1);
    let d = f.only_delivery().await;
    assert_eq!(d.state, DeliveryState::Delivered);
    assert_eq!(d.next_attempt_at_ms, None);
    f.clock.advance(Duration::from_secs(86_400));
    assert_eq!(f.dispatcher.tick().await.unwrap().attempted, 0);
    let stats = f.dispatcher.stats();
    assert_eq!((stats.attempts_failed, stats.attempts_ok), (6, 1));
    assert_eq!(stats.delivered, 1);
}

#[tokio::test]
async fn waits_are_capped_at_an_hour_and_jittered_below_their_ceiling() {
    let plain = config("a");
    let ceilings: Vec<u64> = (1..=14)
        .map(|n| plain.backoff_ceiling(n).as_secs())
        .collect();
    assert_eq!(
        ceilings,
        [
            5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600, 3600, 3600
        ]
    );
    assert_eq!(plain.backoff_ceiling(u32::MAX), Duration::from_secs(3_600));
    let jittered = WebhookConfig {
        jitter: true,
        ..config("a")
    };
    for n in [1, 4, 12] {
        let waits: Vec<Duration> = (0..200).map(|_| jittered.backoff(n)).collect();
        assert!(waits.iter().all(|w| *w <= jittered.backoff_ceiling(n)));
        let distinct: std::collections::HashSet<_> = waits.iter().collect();
        assert!(distinct.len() > 50, "full jitter spreads the waits: {n}");
        let below_half = waits
            .iter()
            .filter(|w| **w < jittered.backoff_ceiling(n) / 2)
            .count();
        assert!((40..160).contains(&below_half), "uniform-ish: {below_half}");
    }
}

/// Ticks at each next due time until the only delivery is no longer pending; answers the
/// attempt times.
async fn until_settled(f: &Fixture) -> Vec<i64> {
    let mut times = Vec::new();
    for _ in 0..1_000 {
        let before = f.now();
        let report = f.dispatcher.tick().await.unwrap();
        if report.attempted > 0 {
            times.push(before);
        }
        let d = f.only_delivery().await;
        match d.next_attempt_at_ms {
            Some(next) if d.state == DeliveryState::Pending => f.clock.set(next as u64),
            _ => return times,
        }
    }
    panic!("never settled");
}

#[tokio::test]
async fn a_delivery_is_given_up_after_three_days() {
    let f = fixture(Err(WebhookError::Timeout(10))).await;
    f.publish("msg_order_2_created").await;
    let created = f.now();
    let times = until_settled(&f).await;
    let d = f.only_delivery().await;
    assert_eq!(d.state, DeliveryState::Failed);
    let last = *times.last().unwrap();
    let before_last = times[times.len() - 2];
    assert!(last - created >= 3 * DAY, "gave up too early");
    assert!(before_last - created < 3 * DAY, "kept trying too long");
    // Never more than an hour between attempts once at the cap.
    assert!(times.windows(2).all(|w| w[1] - w[0] <= HOUR));
    assert!(times.len() > 72 && times.len() < 90, "{}", times.len());
    assert_eq!(d.attempts as usize, times.len());
    assert_eq!(f.dispatcher.stats().failed, 1);
    // Not attempted again; the endpoint is failing but not yet disabled.
    f.clock.advance(Duration::from_secs(7 * 86_400));
    assert_eq!(f.dispatcher.tick().await.unwrap().attempted, 0);
    let e = f.store.endpoint(f.endpoint).await.unwrap().unwrap();
    assert!(e.enabled);
    assert_eq!(e.failing_since_ms, Some(created));
    assert!(
        f.sender
            .calls()
            .iter()
            .all(|c| c.id == "msg_order_2_created")
    );
}

/// Steps the clock an hour at a time for `hours`, publishing an event every 12 hours and
/// ticking each step; answers the hour (from the start) at which the endpoint was disabled.
async fn hourly(f: &Fixture, hours: i64, tag: &str) -> Option<i64> {
    let mut disabled_at = None;
    for h in 0..hours {
        if h % 12 == 0 {
            f.publish(&format!("msg_{tag}_{h}")).await;
        }
        let report = f.dispatcher.tick().await.unwrap();
        if !report.disabled.is_empty() {
            assert_eq!(report.disabled, [f.endpoint]);
            assert!(disabled_at.is_none(), "disabled twice");
            disabled_at = Some(h);
        }
        f.clock.advance(Duration::from_secs(3_600));
    }
    disabled_at
}

#[tokio::test]
async fn an_endpoint_failing_for_five_days_is_disabled() {
    let f = fixture(Ok(500)).await;
    let start = f.now();
    let disabled_at = hourly(&f, 6 * 24, "a").await.expect("disabled");
    assert_eq!(disabled_at, 5 * 24, "disabled at the first pass 5 days in");
    let e = f.store.endpoint(f.endpoint).await.unwrap().unwrap();
    assert!(!e.enabled);
    assert_eq!(e.failing_since_ms, Some(start));
    let reason = e.disabled_reason.unwrap();
    assert!(reason.contains("5 days"), "{reason}");
    assert_eq!(
        f.disabled_seen.load(Ordering::SeqCst),
        1,
        "the hook was told"
    );
    assert_eq!(f.dispatcher.stats().endpoints_disabled, 1);
    // A disabled endpoint gets no attempts.
    let calls = f.sender.calls().len();
    f.publish("msg_after").await;
    f.clock.advance(Duration::from_secs(86_400));
    assert_eq!(f.dispatcher.tick().await.unwrap().attempted, 0);
    assert_eq!(f.sender.calls().len(), calls);
}

#[tokio::test]
async fn a_success_clears_the_failing_streak() {
    let f = fixture(Ok(500)).await;
    assert_eq!(hourly(&f, 4 * 24, "a").await, None);
    assert!(
        f.store
            .endpoint(f.endpoint)
            .await
            .unwrap()
            .unwrap()
            .failing_since_ms
            .is_some()
    );
    f.sender.set_default(Ok(200));
    f.publish("msg_ok").await;
    let report = f.dispatcher.tick().await.unwrap();
    assert!(report.delivered >= 1, "{report:?}");
    let e = f.store.endpoint(f.endpoint).await.unwrap().unwrap();
    assert_eq!(e.failing_since_ms, None);
    // Failing again: the streak starts over, so 2 more days (6 in all) do not disable it.
    f.sender.set_default(Ok(500));
    f.clock.advance(Duration::from_secs(3_600));
    let restart = f.now();
    assert_eq!(hourly(&f, 2 * 24, "b").await, None);
    let e = f.store.endpoint(f.endpoint).await.unwrap().unwrap();
    assert!(e.enabled);
    assert_eq!(e.failing_since_ms, Some(restart));
}

#[tokio::test]
async fn two_dispatchers_never_deliver_the_same_delivery() {
    let store = Arc::new(MemoryStore::new());
    let clock = Arc::new(ManualClock::new(T0));
    let sender = Arc::new(Scripted {
        script: Mutex::new(VecDeque::new()),
        default: Mutex::new(Ok(200)),
        calls: Mutex::new(Vec::new()),
        delay: Duration::from_millis(5),
    });
    for url in ["https://a.example.com/", "https://b.example.com/"] {
        store
            .create_endpoint(
                &NewEndpoint {
                    tenant: TenantId::default_tenant(),
                    url: url.into(),
                    events: vec!["order.created".into()],
                    description: None,
                    secret: Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
                },
                T0 as i64,
            )
            .await
            .unwrap();
    }
    let events: Vec<_> = (0..40)
        .map(|i| {
            event(
                format!("msg_{i}"),
                TenantId::default_tenant(),
                "order.created",
                T0 as i64,
                serde_json::json!({"i": i}),
            )
        })
        .collect();
    store.publish(&events, T0 as i64).await.unwrap();
    let dispatcher = |name: &str| {
        WebhookDispatcher::new(
            store.clone() as Arc<dyn Store>,
            sender.clone(),
            clock.clone(),
            WebhookConfig {
                batch: 30,
                ..config(name)
            },
        )
    };
    let (a, b) = (dispatcher("a"), dispatcher("b"));
    let mut leased = 0;
    let mut rounds_with_work = 0;
    for _ in 0..5 {
        let (ra, rb) = tokio::join!(a.tick(), b.tick());
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        leased += usize::from(ra.leased_by.is_some()) + usize::from(rb.leased_by.is_some());
        if ra.attempted + rb.attempted > 0 {
            rounds_with_work += 1;
            // The one at work held the lease across its attempts: the other was kept out.
            assert!(
                (ra.attempted == 0
                    && rb.leased_by.is_none()
                    && ra.leased_by.as_deref() == Some("b"))
                    || (rb.attempted == 0
                        && ra.leased_by.is_none()
                        && rb.leased_by.as_deref() == Some("a")),
                "{ra:?} {rb:?}"
            );
        }
    }
    assert_eq!(rounds_with_work, 3, "batches of 30 of 80 deliveries");
    assert_eq!(leased, 3);
    let mut sent: HashMap<(String, String), usize> = HashMap::new();
    for call in sender.calls() {
        *sent.entry((call.url, call.id)).or_default() += 1;
    }
    assert_eq!(sent.len(), 80, "every delivery was sent");
    assert!(sent.values().all(|n| *n == 1), "{sent:?}");
    assert_eq!(a.stats().leased + b.stats().leased, 3);
}

#[tokio::test]
async fn the_test_event_goes_to_one_endpoint_whatever_it_subscribes_to() {
    let f = fixture(Ok(200)).await;
    let admin = alistach_service::WebhookEndpoints::new(f.store.clone(), f.clock.clone(), false);
    assert!(matches!(
        admin.test(999).await,
        Err(alistach_service::WebhookAdminError::NotFound(_))
    ));
    let queued = admin.test(f.endpoint).await.unwrap();
    assert_eq!(queued.event.event_type, TEST_EVENT_TYPE);
    let report = f.dispatcher.tick().await.unwrap();
    assert_eq!(report.delivered, 1);
    let calls = f.sender.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].id, queued.event.id);
    let body: serde_json::Value = serde_json::from_str(&calls[0].body).unwrap();
    assert_eq!(body["type"], "webhook.test");
    assert_eq!(body["data"]["test"], true);
    assert_eq!(body["data"]["endpoint_id"], f.endpoint.to_string());
    // Two tests are two events.
    let again = admin.test(f.endpoint).await.unwrap();
    assert_ne!(again.event.id, queued.event.id);
}
