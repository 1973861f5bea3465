//! The upstream guard in paused tokio time against a scripted catalog that paces each of its
//! attempts with the guard's limiter, as the real client does: the limiter never exceeds its
//! rate, the circuit opens, fails fast, probes once and closes, and bans hold calls.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use alistach_domain::{
    AffiliateApi, AffiliateLink, ApiMode, Category, CategoryId, DetailsQuery, Pacer, Product,
    ProductPage, SearchQuery, UpstreamError,
};
use alistach_service::{CircuitState, GuardConfig, GuardedApi};
use async_trait::async_trait;
use tokio::time::Instant;

/// Answers each call with the next scripted result (a one-product page when the script is
/// empty), after `delay`, and records when each call arrived.
struct Fake {
    script: Mutex<VecDeque<Result<(), UpstreamError>>>,
    calls: Mutex<Vec<Instant>>,
    delay: Mutex<Duration>,
    pacer: OnceLock<Arc<dyn Pacer>>,
}

impl Fake {
    fn new() -> Arc<Self> {
        Arc::new(Fake {
            script: Mutex::new(VecDeque::new()),
            calls: Mutex::new(Vec::new()),
            delay: Mutex::new(Duration::ZERO),
            pacer: OnceLock::new(),
        })
    }
    fn then(&self, n: usize, r: Result<(), UpstreamError>) {
        let mut s = self.script.lock().unwrap();
        for _ in 0..n {
            s.push_back(r.clone());
        }
    }
    fn calls(&self) -> usize {
        self.calls.lock().unwrap().len()
    }
    fn times(&self) -> Vec<Instant> {
        self.calls.lock().unwrap().clone()
    }
    async fn next(&self) -> Result<(), UpstreamError> {
        if let Some(pacer) = self.pacer.get() {
            pacer.pace(Duration::from_secs(20)).await?;
        }
        self.calls.lock().unwrap().push(Instant::now());
        let delay = *self.delay.lock().unwrap();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        self.script.lock().unwrap().pop_front().unwrap_or(Ok(()))
    }
}

#[async_trait]
impl AffiliateApi for Fake {
    fn mode(&self) -> ApiMode {
        ApiMode::Real
    }
    async fn search_products(&self, q: &SearchQuery) -> Result<ProductPage, UpstreamError> {
        self.next().await?;
        let mut page = ProductPage::empty(q.page_no(), q.page_size());
        page.products.push(Product::new(
            alistach_domain::ProductId(1005006123456789),
            "lamp",
        ));
        Ok(page)
    }
    async fn hot_products(&self, q: &SearchQuery) -> Result<ProductPage, UpstreamError> {
        self.next().await?;
        Ok(ProductPage::empty(q.page_no(), q.page_size()))
    }
    async fn product_details(&self, _: &DetailsQuery) -> Result<Vec<Product>, UpstreamError> {
        self.next().await?;
        Ok(Vec::new())
    }
    async fn categories(&self) -> Result<Vec<Category>, UpstreamError> {
        self.next().await?;
        Ok(vec![Category {
            id: CategoryId(3),
            name: "Apparel".into(),
            parent_id: None,
        }])
    }
    async fn generate_links(
        &self,
        _: &[alistach_domain::LinkSource],
        _: alistach_domain::LinkType,
        _: Option<&str>,
    ) -> Result<Vec<AffiliateLink>, UpstreamError> {
        self.next().await?;
        Ok(Vec::new())
    }
    async fn similar_products(
        &self,
        _: &alistach_domain::SimilarQuery,
    ) -> Result<Vec<Product>, UpstreamError> {
        self.next().await?;
        Ok(Vec::new())
    }
    async fn promotions(&self) -> Result<Vec<alistach_domain::Promotion>, UpstreamError> {
        self.next().await?;
        Ok(Vec::new())
    }
    async fn promotion_products(
        &self,
        q: &alistach_domain::PromotionQuery,
    ) -> Result<ProductPage, UpstreamError> {
        self.next().await?;
        Ok(ProductPage::empty(q.page_no, q.page_size))
    }
}

fn unavailable() -> Result<(), UpstreamError> {
    Err(UpstreamError::Unavailable {
        reason: "HTTP 503".into(),
    })
}

fn guard(fake: &Arc<Fake>, config: GuardConfig) -> Arc<GuardedApi> {
    Arc::new(GuardedApi::paced(config, |pacer| {
        assert!(fake.pacer.set(pacer).is_ok());
        fake.clone()
    }))
}

fn query() -> SearchQuery {
    alistach_domain::SearchDraft::new("lamp")
        .parse(alistach_domain::Listing::Search)
        .unwrap()
}

fn outcome(g: &GuardedApi, method: &str, label: &str) -> u64 {
    let stats = g.stats();
    let m = stats.methods.iter().find(|m| m.method == method).unwrap();
    m.outcomes.iter().find(|(l, _)| *l == label).unwrap().1
}

#[tokio::test(start_paused = true)]
async fn the_limiter_spaces_calls_and_never_exceeds_the_rate() {
    let fake = Fake::new();
    let g = guard(
        &fake,
        GuardConfig {
            max_qps: 5,
            max_wait: Duration::from_secs(10),
            ..GuardConfig::default()
        },
    );
    let start = Instant::now();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let g = g.clone();
            tokio::spawn(async move { g.search_products(&query()).await })
        })
        .collect();
    for t in tasks {
        assert!(t.await.unwrap().is_ok());
    }
    assert!(
        start.elapsed() >= Duration::from_millis(3800),
        "20 calls at 5/s took {:?}",
        start.elapsed()
    );
    let mut times = fake.times();
    times.sort();
    assert_eq!(times.len(), 20);
    for pair in times.windows(2) {
        assert!(
            pair[1] - pair[0] >= Duration::from_millis(200),
            "calls {:?} apart",
            pair[1] - pair[0]
        );
    }
    // In any one-second window there are at most 5 calls.
    for (i, t) in times.iter().enumerate() {
        let within = times[i..]
            .iter()
            .filter(|u| **u - *t < Duration::from_secs(1))
            .count();
        assert!(within <= 5, "{within} calls within a second");
    }
    assert_eq!(outcome(&g, "search_products", "ok"), 20);
    assert_eq!(g.stats().calls(), 20);
    assert_eq!(g.stats().methods[0].latency.count(), 20);
}

#[tokio::test(start_paused = true)]
async fn calls_that_would_wait_past_max_wait_fail_fast_with_local_quota() {
    let fake = Fake::new();
    let g = guard(
        &fake,
        GuardConfig {
            max_qps: 2,
            max_wait: Duration::from_secs(1),
            ..GuardConfig::default()
        },
    );
    let start = Instant::now();
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let g = g.clone();
            tokio::spawn(async move { g.categories().await })
        })
        .collect();
    let mut ok = 0;
    let mut refused = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(UpstreamError::RateLimited {
                retry_after, code, ..
            }) => {
                assert_eq!(code, "LocalQuota");
                assert!(retry_after.unwrap() > Duration::from_secs(1));
                refused += 1;
            }
            Err(e) => panic!("unexpected {e}"),
        }
    }
    // Slots at 0, 0.5 s and 1 s fit in a one-second wait; the rest fail at once.
    assert_eq!((ok, refused), (3, 3));
    assert_eq!(fake.calls(), 3);
    assert!(start.elapsed() <= Duration::from_millis(1001));
    assert_eq!(outcome(&g, "categories", "local_quota"), 3);
    assert_eq!(g.stats().local_quota(), 3);
    assert_eq!(
        g.circuit_state(),
        CircuitState::Closed,
        "quota is no failure"
    );
}

#[tokio::test(start_paused = true)]
async fn the_circuit_opens_fails_fast_probes_once_and_closes() {
    let fake = Fake::new();
    let config = GuardConfig {
        max_qps: 1000,
        failure_threshold: 3,
        open_for: Duration::from_secs(15),
        ..GuardConfig::default()
    };
    let g = guard(&fake, config);
    fake.then(3, unavailable());
    for _ in 0..3 {
        assert!(matches!(
            g.search_products(&query()).await,
            Err(UpstreamError::Unavailable { .. })
        ));
    }
    assert_eq!(g.circuit_state(), CircuitState::Open);
    assert_eq!(g.stats().opens, 1);
    assert_eq!(g.stats().consecutive_failures, 3);

    // Open: fail fast, the upstream sees nothing.
    for _ in 0..5 {
        match g.categories().await {
            Err(UpstreamError::Unavailable { reason }) => {
                assert!(reason.starts_with("circuit open:"), "{reason}")
            }
            other => panic!("expected a short circuit, got {other:?}"),
        }
    }
    assert_eq!(fake.calls(), 3);
    assert_eq!(outcome(&g, "categories", "short_circuited"), 5);
    assert_eq!(outcome(&g, "search_products", "unavailable"), 3);

    // After the cool-down: exactly one probe goes through while the others fail fast.
    tokio::time::advance(Duration::from_secs(15)).await;
    assert_eq!(g.circuit_state(), CircuitState::HalfOpen);
    *fake.delay.lock().unwrap() = Duration::from_millis(500);
    let tasks: Vec<_> = (0..5)
        .map(|_| {
            let g = g.clone();
            tokio::spawn(async move { g.search_products(&query()).await })
        })
        .collect();
    let results: Vec<_> = futures_join(tasks).await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(ok, 1, "exactly one probe: {results:?}");
    assert_eq!(fake.calls(), 4);
    assert!(results.iter().filter(|r| r.is_err()).all(|r| matches!(
        r,
        Err(UpstreamError::Unavailable { reason }) if reason.starts_with("circuit open:")
    )));
    // The probe succeeded: closed, calls flow again.
    assert_eq!(g.circuit_state(), CircuitState::Closed);
    assert_eq!(g.stats().consecutive_failures, 0);
    *fake.delay.lock().unwrap() = Duration::ZERO;
    assert!(g.categories().await.is_ok());
    assert_eq!(fake.calls(), 5);
}

#[tokio::test(start_paused = true)]
async fn a_failed_probe_reopens_the_circuit() {
    let fake = Fake::new();
    let g = guard(
        &fake,
        GuardConfig {
            max_qps: 1000,
            failure_threshold: 2,
            open_for: Duration::from_secs(10),
            ..GuardConfig::default()
        },
    );
    fake.then(2, Err(UpstreamError::Timeout));
    let _ = g.categories().await;
    assert_eq!(
        g.circuit_state(),
        CircuitState::Closed,
        "one failure is not enough"
    );
    let _ = g.categories().await;
    assert_eq!(g.circuit_state(), CircuitState::Open);
    tokio::time::advance(Duration::from_secs(10)).await;
    fake.then(
        1,
        Err(UpstreamError::Malformed {
            reason: "not JSON".into(),
        }),
    );
    assert!(g.categories().await.is_err());
    assert_eq!(fake.calls(), 3, "the probe reached the upstream");
    assert_eq!(g.circuit_state(), CircuitState::Open);
    assert_eq!(g.stats().opens, 2);
    assert!(g.categories().await.is_err());
    assert_eq!(fake.calls(), 3, "open again: no call");
    tokio::time::advance(Duration::from_secs(10)).await;
    assert!(g.categories().await.is_ok());
    assert_eq!(g.circuit_state(), CircuitState::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_probe_hands_the_probe_back() {
    let fake = Fake::new();
    let g = guard(
        &fake,
        GuardConfig {
            max_qps: 1000,
            failure_threshold: 1,
            open_for: Duration::from_secs(5),
            ..GuardConfig::default()
        },
    );
    fake.then(1, unavailable());
    let _ = g.categories().await;
    tokio::time::advance(Duration::from_secs(5)).await;
    *fake.delay.lock().unwrap() = Duration::from_secs(60);
    // The probe's caller gives up mid-call.
    let abandoned = tokio::time::timeout(Duration::from_secs(1), g.categories()).await;
    assert!(abandoned.is_err());
    *fake.delay.lock().unwrap() = Duration::ZERO;
    assert!(g.categories().await.is_ok(), "a new probe may go");
    assert_eq!(g.circuit_state(), CircuitState::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_flow_control_ban_opens_the_circuit_for_the_announced_time() {
    let fake = Fake::new();
    let g = guard(
        &fake,
        GuardConfig {
            max_qps: 1000,
            max_wait: Duration::from_secs(2),
            ..GuardConfig::default()
        },
    );
    fake.then(
        1,
        Err(UpstreamError::RateLimited {
            retry_after: Some(Duration::from_secs(10)),
            code: "ApiCallLimit".into(),
            message: "this ban will last 10 seconds".into(),
        }),
    );
    let banned_at = Instant::now();
    assert!(g.search_products(&query()).await.is_err());
    assert_eq!(g.circuit_state(), CircuitState::Open);
    assert_eq!(g.stats().opens, 1);
    match g.categories().await {
        Err(UpstreamError::RateLimited {
            retry_after, code, ..
        }) => {
            assert_eq!(code, "ApiCallLimit");
            assert_eq!(retry_after, Some(Duration::from_secs(10)));
        }
        other => panic!("expected the ban, got {other:?}"),
    }
    tokio::time::advance(Duration::from_secs(7)).await;
    assert!(g.categories().await.is_err());
    assert_eq!(fake.calls(), 1, "nothing reaches a banned upstream");
    assert_eq!(outcome(&g, "categories", "short_circuited"), 2);
    assert_eq!(outcome(&g, "search_products", "rate_limited"), 1);

    // Within max_wait of the end, a call waits the ban out instead of failing.
    tokio::time::advance(Duration::from_millis(1500)).await;
    assert!(g.categories().await.is_ok());
    assert_eq!(fake.calls(), 2);
    assert!(
        fake.times()[1] - banned_at >= Duration::from_secs(10),
        "called {:?} into a 10 s ban",
        fake.times()[1] - banned_at
    );
    assert_eq!(g.circuit_state(), CircuitState::Closed);
    assert_eq!(g.stats().ban_remaining, None);
}

#[tokio::test(start_paused = true)]
async fn an_absurd_ban_is_capped_at_an_hour_and_never_overflows() {
    for hint in [
        Duration::from_secs(86_400),
        Duration::from_secs(u64::MAX),
        Duration::MAX,
    ] {
        let fake = Fake::new();
        let g = guard(
            &fake,
            GuardConfig {
                max_qps: 1000,
                ..GuardConfig::default()
            },
        );
        fake.then(
            1,
            Err(UpstreamError::RateLimited {
                retry_after: Some(hint),
                code: "ApiCallLimit".into(),
                message: "this ban will last forever".into(),
            }),
        );
        assert!(g.search_products(&query()).await.is_err());
        let remaining = g.stats().ban_remaining.expect("a ban is in force");
        assert!(
            remaining <= alistach_domain::MAX_RETRY_AFTER && remaining > Duration::from_secs(3590),
            "{hint:?} gave a ban of {remaining:?}"
        );
        match g.categories().await {
            Err(e) => assert!(e.retry_after().unwrap() <= alistach_domain::MAX_RETRY_AFTER),
            Ok(_) => panic!("a banned upstream was called"),
        }
        tokio::time::advance(alistach_domain::MAX_RETRY_AFTER).await;
        assert!(g.categories().await.is_ok(), "the capped ban ends");
        assert_eq!(fake.calls(), 2);
    }
}

#[tokio::test(start_paused = true)]
async fn non_transient_errors_do_not_open_the_circuit_but_are_counted() {
    let fake = Fake::new();
    let g = guard(
        &fake,
        GuardConfig {
            max_qps: 1000,
            failure_threshold: 2,
            ..GuardConfig::default()
        },
    );
    let rejected = |code: &str| UpstreamError::InvalidRequest {
        code: code.into(),
        message: String::new(),
    };
    fake.then(1, Err(UpstreamError::Timeout));
    fake.then(
        3,
        Err(UpstreamError::BadCredentials {
            code: "InvalidAppKey".into(),
            message: String::new(),
        }),
    );
    fake.then(
        3,
        Err(UpstreamError::SignatureRejected {
            code: "IncompleteSignature".into(),
            message: String::new(),
        }),
    );
    fake.then(
        3,
        Err(UpstreamError::PermissionDenied {
            code: "InsufficientPermission".into(),
            message: String::new(),
        }),
    );
    fake.then(3, Err(rejected("isv.invalid-parameter")));
    for _ in 0..13 {
        assert!(g.search_products(&query()).await.is_err());
    }
    assert_eq!(g.circuit_state(), CircuitState::Closed);
    assert_eq!(g.stats().opens, 0);
    assert_eq!(fake.calls(), 13);
    for (label, n) in [
        ("timeout", 1),
        ("bad_credentials", 3),
        ("signature_rejected", 3),
        ("permission_denied", 3),
        ("invalid_request", 3),
    ] {
        assert_eq!(outcome(&g, "search_products", label), n, "{label}");
    }
    assert_eq!(g.stats().failures(), 13);
    // An empty answer is an answer, counted apart.
    assert!(g.hot_products(&query()).await.is_ok());
    assert_eq!(outcome(&g, "hot_products", "empty"), 1);
}

async fn futures_join<T: Send + 'static>(tasks: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}
