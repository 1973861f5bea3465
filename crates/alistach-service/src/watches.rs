//! Product watches: the admin use cases behind `/api/admin/watches` ([`Watches`]) and the job
//! that re-checks watched products ([`WatchJob`]).
//!
//! A run takes the `watches:check` lease, groups the watches by currency and ship-to country
//! and asks `productdetail.get` for up to [`WATCH_BATCH`] products a call, pacing its calls at
//! its share of the outbound quota (so the users' requests are never starved), and skips when
//! the guard's circuit is open. Each watch's check is recorded with the events it causes in
//! one store transaction, once per change, not once per check:
//!
//! - `product.price_changed` when the price differs from the last one seen and meets the
//!   condition: at or below `target_price`, or at least `price_drop_percent` below the baseline
//!   (the first price seen, then the last price notified); with neither, any change. With both,
//!   either suffices. A price that changes without meeting it is remembered, not notified.
//! - `product.unavailable` when the details no longer return a product that was available;
//!   its reappearing resets the watch (the price seen then is the new baseline).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use alistach_domain::{
    AffiliateApi, Clock, CountryCode, Currency, Decimal, DetailsQuery, Language, MAX_DETAIL_IDS,
    Product, ProductId, ProductUrl, TenantId, ValidationError,
};
use alistach_store::{Event, NewWatch, Store, StoreError, Watch, WatchState, event};

/// The lease every instance's job takes for a run.
pub const WATCH_LEASE: &str = "watches:check";

/// Products asked per `productdetail.get` call.
pub const WATCH_BATCH: usize = if MAX_DETAIL_IDS < 20 {
    MAX_DETAIL_IDS
} else {
    20
};

/// The longest product URL accepted.
const MAX_PRODUCT_CHARS: usize = 2048;

/// Why a watch use case failed.
#[derive(Debug, thiserror::Error)]
pub enum WatchAdminError {
    /// The input breaks a rule (names the field).
    #[error("invalid input: {0}")]
    Invalid(#[from] ValidationError),
    /// No such watch.
    #[error("{0}")]
    NotFound(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A watch as asked for, before validation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WatchRequest {
    /// A product id or an AliExpress product URL.
    pub product: String,
    /// 1..=99.
    pub price_drop_percent: Option<u32>,
    /// A decimal above zero.
    pub target_price: Option<String>,
    /// ISO 4217 (the default currency when absent).
    pub currency: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub ship_to_country: Option<String>,
}

impl WatchRequest {
    /// Checks every field and returns the watch to store.
    pub fn validate(&self) -> Result<NewWatch, ValidationError> {
        if self.product.chars().count() > MAX_PRODUCT_CHARS {
            return Err(ValidationError::new(
                "product_id",
                format!("must be at most {MAX_PRODUCT_CHARS} characters"),
            ));
        }
        let product = ProductUrl::parse(&self.product)
            .map_err(|e| ValidationError::new("product_id", e.to_string()))?;
        if let Some(p) = self.price_drop_percent
            && !(1..=99).contains(&p)
        {
            return Err(ValidationError::new(
                "price_drop_percent",
                "must be between 1 and 99",
            ));
        }
        let target_price = match &self.target_price {
            None => None,
            Some(text) => {
                let price: Decimal = text.trim().parse().map_err(|_| {
                    ValidationError::new("target_price", "must be a decimal number such as 19.99")
                })?;
                if price <= Decimal::new(0, 0) {
                    return Err(ValidationError::new(
                        "target_price",
                        "must be greater than zero",
                    ));
                }
                Some(price.normalized().to_string())
            }
        };
        let currency = match &self.currency {
            None => Currency::default(),
            Some(c) => c.parse::<Currency>().map_err(|e| {
                ValidationError::new("currency", e.to_string().replace("currency: ", ""))
            })?,
        };
        let ship_to_country = self
            .ship_to_country
            .as_deref()
            .map(str::parse::<CountryCode>)
            .transpose()?;
        Ok(NewWatch {
            // `Watches::create` sets the caller's.
            tenant: TenantId::default_tenant(),
            product_id: product.id.0,
            price_drop_percent: self.price_drop_percent,
            target_price,
            currency: currency.code().to_owned(),
            ship_to_country: ship_to_country.map(|c| c.as_str().to_owned()),
        })
    }
}

/// The watch use cases.
#[derive(Clone)]
pub struct Watches {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

impl Watches {
    /// The use cases over `store`.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Watches { store, clock }
    }

    /// Validates and stores a new watch of `tenant` (checked at the job's next run; its
    /// events go to that tenant's webhooks).
    pub async fn create(
        &self,
        tenant: &TenantId,
        request: &WatchRequest,
    ) -> Result<Watch, WatchAdminError> {
        let mut new = request.validate()?;
        new.tenant = tenant.clone();
        let now = i64::try_from(self.clock.now_ms()).unwrap_or(i64::MAX);
        Ok(self.store.create_watch(&new, now).await?)
    }

    /// Every watch of `tenant` (of every tenant when `None`), oldest first.
    pub async fn list(&self, tenant: Option<&TenantId>) -> Result<Vec<Watch>, WatchAdminError> {
        Ok(self.store.watches(tenant).await?)
    }

    /// One watch.
    pub async fn get(&self, id: u64) -> Result<Watch, WatchAdminError> {
        self.store
            .watch(id)
            .await?
            .ok_or_else(|| WatchAdminError::NotFound(format!("no watch {id}")))
    }

    /// Deletes a watch.
    pub async fn delete(&self, id: u64) -> Result<(), WatchAdminError> {
        if self.store.delete_watch(id).await? {
            Ok(())
        } else {
            Err(WatchAdminError::NotFound(format!("no watch {id}")))
        }
    }
}

/// How the job runs.
#[derive(Clone, Debug)]
pub struct WatchConfig {
    /// Time between runs.
    pub interval: Duration,
    /// The job's own pace: `productdetail.get` calls per second (`WATCH_QPS_SHARE` ×
    /// `ALIEXPRESS_MAX_QPS`); above zero.
    pub calls_per_second: f64,
    /// This instance's name in the lease.
    pub instance: String,
    /// How long a run holds the lease without renewing it (renewed per batch).
    pub lease_ttl: Duration,
}

impl WatchConfig {
    /// Runs every `interval` at `calls_per_second`, a lease of a minute, the instance named
    /// by the process id and a random suffix.
    pub fn new(interval: Duration, calls_per_second: f64) -> Self {
        WatchConfig {
            interval,
            calls_per_second,
            instance: format!("pid{}-{:08x}", std::process::id(), fastrand::u32(..)),
            lease_ttl: Duration::from_secs(60),
        }
    }

    /// The pause between two calls.
    pub fn spacing(&self) -> Duration {
        if self.calls_per_second.is_finite() && self.calls_per_second > 0.0 {
            Duration::from_secs_f64((1.0 / self.calls_per_second).min(3600.0))
        } else {
            Duration::from_secs(1)
        }
    }
}

/// What one run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WatchRunReport {
    /// Skipped: the guard's circuit was open.
    pub circuit_open: bool,
    /// Skipped: another instance held the lease (its name).
    pub leased_by: Option<String>,
    /// `productdetail.get` calls made.
    pub calls: u64,
    /// Watches whose check was recorded.
    pub checked: u64,
    /// Events published.
    pub events: u64,
    /// Batches whose call failed (their watches wait for the next run).
    pub failed_batches: u64,
}

/// Is the upstream's circuit open (then a run is skipped)?
pub type CircuitProbe = Arc<dyn Fn() -> bool + Send + Sync>;

/// The job that re-checks watched products.
pub struct WatchJob {
    store: Arc<dyn Store>,
    api: Arc<dyn AffiliateApi>,
    clock: Arc<dyn Clock>,
    config: WatchConfig,
    circuit_open: Option<CircuitProbe>,
    run_lock: tokio::sync::Mutex<()>,
    events: AtomicU64,
}

impl WatchJob {
    /// The job over `store` asking `api`.
    pub fn new(
        store: Arc<dyn Store>,
        api: Arc<dyn AffiliateApi>,
        clock: Arc<dyn Clock>,
        config: WatchConfig,
    ) -> Self {
        WatchJob {
            store,
            api,
            clock,
            config,
            circuit_open: None,
            run_lock: tokio::sync::Mutex::new(()),
            events: AtomicU64::new(0),
        }
    }

    /// Skips runs while `probe` says the circuit is open.
    pub fn with_circuit_probe(mut self, probe: CircuitProbe) -> Self {
        self.circuit_open = Some(probe);
        self
    }

    /// The configuration in force.
    pub fn config(&self) -> &WatchConfig {
        &self.config
    }

    /// Events published since start.
    pub fn events_published(&self) -> u64 {
        self.events.load(Ordering::Relaxed)
    }

    fn now_ms(&self) -> i64 {
        i64::try_from(self.clock.now_ms()).unwrap_or(i64::MAX)
    }

    /// One run: under the lease, checks every watch in paced batches.
    pub async fn tick(&self) -> Result<WatchRunReport, StoreError> {
        let _one = self.run_lock.lock().await;
        if self.circuit_open.as_ref().is_some_and(|open| open()) {
            return Ok(WatchRunReport {
                circuit_open: true,
                ..WatchRunReport::default()
            });
        }
        let me = &self.config.instance;
        if !self
            .store
            .try_acquire_lease(WATCH_LEASE, me, self.config.lease_ttl)
            .await?
        {
            let holder = self
                .store
                .lease(WATCH_LEASE)
                .await?
                .map_or_else(|| "another instance".to_owned(), |l| l.holder);
            return Ok(WatchRunReport {
                leased_by: Some(holder),
                ..WatchRunReport::default()
            });
        }
        let result = self.run_leased().await;
        if let Err(e) = self.store.release_lease(WATCH_LEASE, me).await {
            tracing::warn!(error = %e, "releasing the watch lease failed; it expires");
        }
        result
    }

    async fn run_leased(&self) -> Result<WatchRunReport, StoreError> {
        let mut report = WatchRunReport::default();
        let mut watches = self.store.watches(None).await?;
        watches.sort_by(|a, b| {
            (&a.currency, &a.ship_to_country, a.id).cmp(&(&b.currency, &b.ship_to_country, b.id))
        });
        let mut batches: Vec<Vec<Watch>> = Vec::new();
        for watch in watches {
            let mut distinct: usize = 0;
            if let Some(last) = batches.last() {
                let same = last[0].currency == watch.currency
                    && last[0].ship_to_country == watch.ship_to_country;
                if same {
                    let mut ids: Vec<u64> = last.iter().map(|w| w.product_id).collect();
                    ids.push(watch.product_id);
                    ids.sort_unstable();
                    ids.dedup();
                    distinct = ids.len();
                }
            }
            if distinct == 0 || distinct > WATCH_BATCH {
                batches.push(vec![watch]);
            } else if let Some(last) = batches.last_mut() {
                last.push(watch);
            }
        }
        for (n, batch) in batches.iter().enumerate() {
            if n > 0 {
                tokio::time::sleep(self.config.spacing()).await;
                if self.circuit_open.as_ref().is_some_and(|open| open()) {
                    tracing::info!("the upstream circuit opened: the watch run stops");
                    break;
                }
                let me = &self.config.instance;
                if !self
                    .store
                    .try_acquire_lease(WATCH_LEASE, me, self.config.lease_ttl)
                    .await?
                {
                    tracing::warn!("the watch lease passed to another instance: the run stops");
                    break;
                }
            }
            self.check_batch(batch, &mut report).await?;
        }
        Ok(report)
    }

    async fn check_batch(
        &self,
        batch: &[Watch],
        report: &mut WatchRunReport,
    ) -> Result<(), StoreError> {
        let Some(first) = batch.first() else {
            return Ok(());
        };
        let Ok(currency) = first.currency.parse::<Currency>() else {
            tracing::warn!(currency = %first.currency, "a watch has an unknown currency");
            return Ok(());
        };
        let country = first
            .ship_to_country
            .as_deref()
            .and_then(|c| c.parse::<CountryCode>().ok());
        let mut ids: Vec<ProductId> = batch.iter().map(|w| ProductId(w.product_id)).collect();
        ids.sort_unstable();
        ids.dedup();
        let query = DetailsQuery {
            ids,
            currency,
            language: Language::default(),
            country,
        };
        report.calls += 1;
        let products = match self.api.product_details(&query).await {
            Ok(products) => products,
            Err(e) => {
                report.failed_batches += 1;
                tracing::warn!(error = %e, "a watch batch's details failed");
                return Ok(());
            }
        };
        let now = self.now_ms();
        for watch in batch {
            let product = products.iter().find(|p| p.id.0 == watch.product_id);
            let (state, events) = evaluate(watch, product, now);
            if self
                .store
                .record_watch_check(watch.id, &state, &events, now)
                .await?
            {
                report.checked += 1;
                report.events += events.len() as u64;
                self.events
                    .fetch_add(events.len() as u64, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    /// Runs every `interval` until `stop` completes (a run in progress finishes first).
    pub async fn run(self: Arc<Self>, stop: impl Future) {
        let mut ticker = tokio::time::interval(self.config.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => return,
                _ = ticker.tick() => {
                    match self.tick().await {
                        Ok(report) if report.events > 0 || report.failed_batches > 0 => {
                            tracing::info!(
                                calls = report.calls,
                                checked = report.checked,
                                events = report.events,
                                failed_batches = report.failed_batches,
                                "watch run"
                            );
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "watch run failed"),
                    }
                }
            }
        }
    }
}

/// The price a watch compares: the sale price, else the original one.
fn price_of(product: &Product) -> Option<Decimal> {
    product
        .sale_price
        .as_ref()
        .or(product.original_price.as_ref())
        .map(|m| m.amount.normalized())
}

fn parse_price(text: Option<&str>) -> Option<Decimal> {
    text.and_then(|t| t.parse::<Decimal>().ok())
}

/// True when a new price meets the watch's condition.
fn meets(watch: &Watch, baseline: Option<Decimal>, price: Decimal) -> bool {
    let target = parse_price(watch.target_price.as_deref());
    if target.is_none() && watch.price_drop_percent.is_none() {
        return true;
    }
    let under_target = target.is_some_and(|t| price <= t);
    let dropped = match (watch.price_drop_percent, baseline) {
        (Some(pct), Some(base)) => {
            // price ≤ base × (100 − pct) / 100, compared as price × 100 ≤ base × (100 − pct).
            let lhs = price.mul_ratio(100, 1, 8);
            let rhs = base.mul_ratio(100 - i64::from(pct.min(99)), 1, 8);
            matches!((lhs, rhs), (Some(l), Some(r)) if l <= r)
        }
        _ => false,
    };
    under_target || dropped
}

/// The state a check leaves and the events it causes: `product` is what the details returned
/// for the watch (`None`: absent).
pub fn evaluate(watch: &Watch, product: Option<&Product>, now_ms: i64) -> (WatchState, Vec<Event>) {
    let old = &watch.state;
    let mut state = old.clone();
    state.checked_at_ms = Some(now_ms);
    let mut events = Vec::new();
    let url = |p: Option<&Product>| {
        p.map(|p| p.detail_url.clone())
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| ProductId(watch.product_id).canonical_url())
    };
    let data = |previous: Option<&str>, price: Option<&str>, product: Option<&Product>| {
        serde_json::json!({
            "watch_id": watch.id.to_string(),
            "product_id": watch.product_id.to_string(),
            "previous_price": previous,
            "price": price,
            "currency": watch.currency,
            "product_url": url(product),
        })
    };
    let price = product.and_then(price_of);
    match (product, price) {
        (None, _) | (Some(_), None) => {
            if old.available == Some(true) {
                events.push(event(
                    format!("msg_watch_{}_{now_ms}_unavailable", watch.id),
                    watch.tenant.clone(),
                    "product.unavailable",
                    now_ms,
                    data(old.last_price.as_deref(), None, product),
                ));
            }
            state.available = Some(false);
        }
        (Some(p), Some(price)) => {
            let text = price.to_string();
            let reset = old.available != Some(true);
            state.available = Some(true);
            if reset {
                state.baseline_price = Some(text.clone());
                state.last_price = Some(text);
                state.notified = true;
            } else if parse_price(old.last_price.as_deref()) != Some(price) {
                let baseline = parse_price(old.baseline_price.as_deref());
                if meets(watch, baseline, price) {
                    events.push(event(
                        format!("msg_watch_{}_{now_ms}_price", watch.id),
                        watch.tenant.clone(),
                        "product.price_changed",
                        now_ms,
                        data(old.last_price.as_deref(), Some(&text), Some(p)),
                    ));
                    state.baseline_price = Some(text.clone());
                    state.notified = true;
                } else {
                    state.notified = false;
                }
                state.last_price = Some(text);
            }
        }
    }
    (state, events)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::sync::atomic::AtomicBool;

    use alistach_domain::{
        AffiliateLink, ApiMode, Category, LinkSource, LinkType, Money, ProductPage, Promotion,
        PromotionQuery, SearchQuery, SimilarQuery, UpstreamError,
    };
    use alistach_mock::MockCatalog;
    use alistach_store::MemoryStore;
    use async_trait::async_trait;

    use super::*;

    struct TestClock(AtomicU64);
    impl Clock for TestClock {
        fn now_ms(&self) -> u64 {
            self.0.fetch_add(1000, Ordering::SeqCst)
        }
    }

    /// Details from a price table (`None`: the product is absent); the rest from the mock.
    struct Prices {
        prices: Mutex<HashMap<u64, Option<&'static str>>>,
        calls: Mutex<Vec<DetailsQuery>>,
        fail: AtomicBool,
        mock: MockCatalog,
    }

    impl Prices {
        fn new() -> Arc<Prices> {
            Arc::new(Prices {
                prices: Mutex::new(HashMap::new()),
                calls: Mutex::new(Vec::new()),
                fail: AtomicBool::new(false),
                mock: MockCatalog::new(),
            })
        }
        fn set(&self, id: u64, price: Option<&'static str>) {
            self.prices.lock().unwrap().insert(id, price);
        }
    }

    #[async_trait]
    impl AffiliateApi for Prices {
        fn mode(&self) -> ApiMode {
            ApiMode::Real
        }
        async fn search_products(&self, q: &SearchQuery) -> Result<ProductPage, UpstreamError> {
            self.mock.search_products(q).await
        }
        async fn hot_products(&self, q: &SearchQuery) -> Result<ProductPage, UpstreamError> {
            self.mock.hot_products(q).await
        }
        async fn product_details(&self, q: &DetailsQuery) -> Result<Vec<Product>, UpstreamError> {
            self.calls.lock().unwrap().push(q.clone());
            if self.fail.load(Ordering::SeqCst) {
                return Err(UpstreamError::Timeout);
            }
            let prices = self.prices.lock().unwrap();
            Ok(q.ids
                .iter()
                .filter_map(|id| {
                    let price = (*prices.get(&id.0)?)?;
                    let mut p = Product::new(*id, "watched");
                    p.sale_price = Some(Money::new(price.parse().unwrap(), q.currency));
                    Some(p)
                })
                .collect())
        }
        async fn categories(&self) -> Result<Vec<Category>, UpstreamError> {
            self.mock.categories().await
        }
        async fn similar_products(&self, q: &SimilarQuery) -> Result<Vec<Product>, UpstreamError> {
            self.mock.similar_products(q).await
        }
        async fn promotions(&self) -> Result<Vec<Promotion>, UpstreamError> {
            self.mock.promotions().await
        }
        async fn promotion_products(
            &self,
            q: &PromotionQuery,
        ) -> Result<ProductPage, UpstreamError> {
            self.mock.promotion_products(q).await
        }
        async fn generate_links(
            &self,
            sources: &[LinkSource],
            link_type: LinkType,
            tracking_id: Option<&str>,
        ) -> Result<Vec<AffiliateLink>, UpstreamError> {
            self.mock
                .generate_links(sources, link_type, tracking_id)
                .await
        }
    }

    struct Fixture {
        store: Arc<MemoryStore>,
        prices: Arc<Prices>,
        watches: Watches,
        job: WatchJob,
    }

    fn fixture() -> Fixture {
        let store = Arc::new(MemoryStore::new());
        let prices = Prices::new();
        let clock: Arc<dyn Clock> = Arc::new(TestClock(AtomicU64::new(1_700_000_000_000)));
        let watches = Watches::new(store.clone(), clock.clone());
        let mut config = WatchConfig::new(Duration::from_secs(3600), 1000.0);
        config.instance = "me".to_owned();
        let job = WatchJob::new(store.clone(), prices.clone(), clock, config);
        Fixture {
            store,
            prices,
            watches,
            job,
        }
    }

    fn request(product: &str) -> WatchRequest {
        WatchRequest {
            product: product.to_owned(),
            ..WatchRequest::default()
        }
    }

    /// The type and `data` of every event delivered to the one endpoint, in order.
    async fn published(store: &MemoryStore) -> Vec<(String, serde_json::Value)> {
        use alistach_store::WebhookStore;
        let endpoint = store.endpoints(None).await.unwrap()[0].id;
        let mut out: Vec<(u64, String, serde_json::Value)> = store
            .deliveries(endpoint, 1000)
            .await
            .unwrap()
            .into_iter()
            .map(|(d, _)| {
                let payload: serde_json::Value = serde_json::from_str(&d.event.payload).unwrap();
                (d.id, d.event.event_type, payload["data"].clone())
            })
            .collect();
        out.sort_by_key(|(id, _, _)| *id);
        out.into_iter().map(|(_, t, d)| (t, d)).collect()
    }

    async fn subscribe(store: &MemoryStore) {
        use alistach_store::{NewEndpoint, WebhookStore};
        store
            .create_endpoint(
                &NewEndpoint {
                    tenant: TenantId::default_tenant(),
                    url: "https://hooks.example/w".to_owned(),
                    events: vec![
                        "product.price_changed".to_owned(),
                        "product.unavailable".to_owned(),
                    ],
                    description: None,
                    secret: alistach_domain::Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
                },
                0,
            )
            .await
            .unwrap();
    }

    #[test]
    fn requests_are_validated_field_by_field() {
        let field = |r: WatchRequest| r.validate().unwrap_err().field;
        assert_eq!(field(request("")), "product_id");
        assert_eq!(
            field(request("https://example.com/item/1.html")),
            "product_id"
        );
        let ok = request("https://www.aliexpress.com/item/1005006123456789.html")
            .validate()
            .unwrap();
        assert_eq!(ok.product_id, 1005006123456789);
        assert_eq!(
            request("1005006123456789").validate().unwrap().product_id,
            1005006123456789
        );
        for bad in [0, 100] {
            let mut r = request("1005006123456789");
            r.price_drop_percent = Some(bad);
            assert_eq!(field(r), "price_drop_percent");
        }
        for bad in ["0", "-1", "abc", ""] {
            let mut r = request("1005006123456789");
            r.target_price = Some(bad.to_owned());
            assert_eq!(field(r), "target_price", "{bad}");
        }
        let mut r = request("1005006123456789");
        r.currency = Some("XXX".to_owned());
        assert_eq!(field(r), "currency");
        let mut r = request("1005006123456789");
        r.ship_to_country = Some("Germany".to_owned());
        assert!(r.validate().is_err());
        let mut r = request("1005006123456789");
        r.target_price = Some("19.990".to_owned());
        r.currency = Some("eur".to_owned());
        r.ship_to_country = Some("de".to_owned());
        r.price_drop_percent = Some(10);
        let ok = r.validate().unwrap();
        assert_eq!(ok.target_price.as_deref(), Some("19.99"));
        assert_eq!(ok.currency, "EUR");
        assert_eq!(ok.ship_to_country.as_deref(), Some("DE"));
    }

    #[tokio::test]
    async fn watches_are_created_listed_and_deleted() {
        let f = fixture();
        let w = f
            .watches
            .create(&TenantId::default_tenant(), &request("1005006123456789"))
            .await
            .unwrap();
        assert_eq!(f.watches.list(None).await.unwrap(), vec![w.clone()]);
        assert_eq!(f.watches.get(w.id).await.unwrap(), w);
        f.watches.delete(w.id).await.unwrap();
        assert!(matches!(
            f.watches.delete(w.id).await,
            Err(WatchAdminError::NotFound(_))
        ));
        assert!(matches!(
            f.watches.get(w.id).await,
            Err(WatchAdminError::NotFound(_))
        ));
        assert!(matches!(
            f.watches
                .create(&TenantId::default_tenant(), &request("nope"))
                .await,
            Err(WatchAdminError::Invalid(_))
        ));
    }

    #[tokio::test]
    async fn a_target_price_is_notified_once_per_change() {
        let f = fixture();
        subscribe(&f.store).await;
        let mut r = request("1005006000000001");
        r.target_price = Some("10".to_owned());
        let w = f
            .watches
            .create(&TenantId::default_tenant(), &r)
            .await
            .unwrap();
        f.prices.set(1005006000000001, Some("12.50"));
        f.job.tick().await.unwrap();
        f.job.tick().await.unwrap();
        assert!(published(&f.store).await.is_empty(), "no change yet");
        f.prices.set(1005006000000001, Some("11.00"));
        f.job.tick().await.unwrap();
        assert!(published(&f.store).await.is_empty(), "above the target");
        f.prices.set(1005006000000001, Some("9.99"));
        for _ in 0..3 {
            f.job.tick().await.unwrap();
        }
        let events = published(&f.store).await;
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].0, "product.price_changed");
        assert_eq!(
            events[0].1,
            serde_json::json!({
                "watch_id": w.id.to_string(),
                "product_id": "1005006000000001",
                "previous_price": "11",
                "price": "9.99",
                "currency": "USD",
                "product_url": "https://www.aliexpress.com/item/1005006000000001.html",
            })
        );
        f.prices.set(1005006000000001, Some("9.50"));
        f.job.tick().await.unwrap();
        f.job.tick().await.unwrap();
        let events = published(&f.store).await;
        assert_eq!(events.len(), 2, "a new change still under the target");
        assert_eq!(events[1].1["previous_price"], "9.99");
        f.prices.set(1005006000000001, None);
        f.job.tick().await.unwrap();
        f.job.tick().await.unwrap();
        let events = published(&f.store).await;
        assert_eq!(events.len(), 3);
        assert_eq!(events[2].0, "product.unavailable");
        assert_eq!(events[2].1["previous_price"], "9.5");
        assert_eq!(events[2].1["price"], serde_json::Value::Null);
        // Back at the same price: a reset, not a change; then a change is notified again.
        f.prices.set(1005006000000001, Some("9.50"));
        f.job.tick().await.unwrap();
        assert_eq!(published(&f.store).await.len(), 3);
        f.prices.set(1005006000000001, Some("9.00"));
        f.job.tick().await.unwrap();
        assert_eq!(published(&f.store).await.len(), 4);
    }

    #[tokio::test]
    async fn a_drop_is_measured_from_the_last_notified_price() {
        let f = fixture();
        subscribe(&f.store).await;
        let mut r = request("1005006000000002");
        r.price_drop_percent = Some(10);
        f.watches
            .create(&TenantId::default_tenant(), &r)
            .await
            .unwrap();
        f.prices.set(1005006000000002, Some("100"));
        f.job.tick().await.unwrap();
        f.prices.set(1005006000000002, Some("90.01"));
        f.job.tick().await.unwrap();
        assert!(published(&f.store).await.is_empty(), "9.99 % is not 10 %");
        f.prices.set(1005006000000002, Some("90"));
        f.job.tick().await.unwrap();
        assert_eq!(published(&f.store).await.len(), 1, "exactly 10 %");
        f.prices.set(1005006000000002, Some("85"));
        f.job.tick().await.unwrap();
        assert_eq!(
            published(&f.store).await.len(),
            1,
            "5.6 % below 90, the new baseline"
        );
        f.prices.set(1005006000000002, Some("81"));
        f.job.tick().await.unwrap();
        assert_eq!(published(&f.store).await.len(), 2, "10 % below 90");
    }

    #[tokio::test]
    async fn without_a_condition_every_change_is_notified() {
        let f = fixture();
        subscribe(&f.store).await;
        f.watches
            .create(&TenantId::default_tenant(), &request("1005006000000003"))
            .await
            .unwrap();
        f.prices.set(1005006000000003, Some("5"));
        f.job.tick().await.unwrap();
        f.prices.set(1005006000000003, Some("6"));
        f.job.tick().await.unwrap();
        f.job.tick().await.unwrap();
        let events = published(&f.store).await;
        assert_eq!(events.len(), 1, "a rise is a change too");
        assert_eq!(
            (
                events[0].1["previous_price"].as_str(),
                events[0].1["price"].as_str()
            ),
            (Some("5"), Some("6"))
        );
    }

    #[tokio::test]
    async fn runs_batch_by_currency_and_country_within_the_batch_size() {
        let f = fixture();
        for n in 0..45u64 {
            f.watches
                .create(
                    &TenantId::default_tenant(),
                    &request(&(1005006000001000 + n).to_string()),
                )
                .await
                .unwrap();
        }
        let mut eur = request("1005006000001000");
        eur.currency = Some("EUR".to_owned());
        f.watches
            .create(&TenantId::default_tenant(), &eur)
            .await
            .unwrap();
        let report = f.job.tick().await.unwrap();
        let calls = f.prices.calls.lock().unwrap().clone();
        assert_eq!(report.calls, 4, "{report:?}");
        assert_eq!(
            calls.iter().map(|q| q.ids.len()).collect::<Vec<_>>(),
            vec![1, 20, 20, 5],
            "EUR sorts first"
        );
        assert_eq!(calls[0].currency, Currency::EUR);
        assert!(calls.iter().all(|q| q.ids.len() <= WATCH_BATCH));
        assert_eq!(report.checked, 46);
    }

    #[tokio::test]
    async fn runs_skip_while_the_circuit_is_open_or_another_instance_holds_the_lease() {
        let open = Arc::new(AtomicBool::new(true));
        let probe = open.clone();
        let mut f = fixture();
        f.job = f
            .job
            .with_circuit_probe(Arc::new(move || probe.load(Ordering::SeqCst)));
        f.watches
            .create(&TenantId::default_tenant(), &request("1005006000000004"))
            .await
            .unwrap();
        let report = f.job.tick().await.unwrap();
        assert!(report.circuit_open);
        assert!(f.prices.calls.lock().unwrap().is_empty());
        open.store(false, Ordering::SeqCst);
        use alistach_store::LeaseStore;
        assert!(
            f.store
                .try_acquire_lease(WATCH_LEASE, "other", Duration::from_secs(60))
                .await
                .unwrap()
        );
        let report = f.job.tick().await.unwrap();
        assert_eq!(report.leased_by.as_deref(), Some("other"));
        assert!(f.prices.calls.lock().unwrap().is_empty());
        f.store.release_lease(WATCH_LEASE, "other").await.unwrap();
        assert_eq!(f.job.tick().await.unwrap().calls, 1);
        assert_eq!(f.store.lease(WATCH_LEASE).await.unwrap(), None, "released");
    }

    #[tokio::test]
    async fn a_failed_call_changes_nothing() {
        let f = fixture();
        subscribe(&f.store).await;
        let w = f
            .watches
            .create(&TenantId::default_tenant(), &request("1005006000000005"))
            .await
            .unwrap();
        f.prices.set(1005006000000005, Some("5"));
        f.job.tick().await.unwrap();
        f.prices.fail.store(true, Ordering::SeqCst);
        let before = f.watches.get(w.id).await.unwrap();
        let report = f.job.tick().await.unwrap();
        assert_eq!(report.failed_batches, 1);
        assert_eq!(f.watches.get(w.id).await.unwrap(), before);
        assert!(
            published(&f.store).await.is_empty(),
            "a failure is not unavailability"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn batches_are_paced_at_the_configured_rate() {
        let store = Arc::new(MemoryStore::new());
        let prices = Prices::new();
        let clock: Arc<dyn Clock> = Arc::new(TestClock(AtomicU64::new(0)));
        let watches = Watches::new(store.clone(), clock.clone());
        for n in 0..60u64 {
            watches
                .create(
                    &TenantId::default_tenant(),
                    &request(&(1005006000002000 + n).to_string()),
                )
                .await
                .unwrap();
        }
        let job = WatchJob::new(
            store,
            prices,
            clock,
            WatchConfig::new(Duration::from_secs(60), 0.5),
        );
        let start = tokio::time::Instant::now();
        assert_eq!(job.tick().await.unwrap().calls, 3);
        assert_eq!(start.elapsed(), Duration::from_secs(4), "two pauses of 2 s");
    }
}
