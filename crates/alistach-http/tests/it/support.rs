//! The test server and the scriptable catalog behind it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alistach_cache::{Cache, ManualClock, MemoryCache, MemoryCacheConfig};
use alistach_domain::{
    AffiliateApi, AffiliateLink, ApiMode, Category, CategoryId, CategoryRef, Currency,
    DetailsQuery, LinkSource, LinkType, Money, Product, ProductId, ProductPage, Promotion,
    PromotionQuery, SearchQuery, Shop, SimilarQuery, UpstreamError,
};
use alistach_http::{App, HttpConfig, serve};
use alistach_service::{CacheTtls, Catalog};
use async_trait::async_trait;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

/// A catalog that answers from a small fixed set, fails with a scripted error, holds
/// requests for the keyword `slow` until released, and panics for the keyword `panic`.
pub struct TestApi {
    pub mode: ApiMode,
    pub calls: AtomicUsize,
    pub fail: Mutex<Option<UpstreamError>>,
    pub entered_slow: Notify,
    pub release_slow: Notify,
}

impl TestApi {
    pub fn new(mode: ApiMode) -> Arc<Self> {
        Arc::new(TestApi {
            mode,
            calls: AtomicUsize::new(0),
            fail: Mutex::new(None),
            entered_slow: Notify::new(),
            release_slow: Notify::new(),
        })
    }

    pub fn fail_with(&self, e: Option<UpstreamError>) {
        *self.fail.lock().unwrap() = e;
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn begin(&self) -> Result<(), UpstreamError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        match self.fail.lock().unwrap().clone() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

pub fn product(id: u64, title: &str, currency: Currency) -> Product {
    let mut p = Product::new(ProductId(id), title);
    p.sale_price = Some(Money::new("17.99".parse().unwrap(), currency));
    p.original_price = Some(Money::new("35.98".parse().unwrap(), currency));
    p.discount_percent = Some("50".parse().unwrap());
    p.rating_percent = Some("98.5".parse().unwrap());
    p.commission_rate_percent = Some("7.5".parse().unwrap());
    p.main_image_url = Some(format!("https://ae01.alicdn.com/kf/{id}.jpg"));
    p.sales_volume = Some(1234);
    p.first_level_category = Some(CategoryRef {
        id: CategoryId(44),
        name: Some("Consumer Electronics".into()),
    });
    p.shop = Shop {
        id: Some(912345),
        url: Some("https://www.aliexpress.com/store/912345".into()),
        name: None,
    };
    p.promotion_link = Some(format!("https://s.click.aliexpress.com/e/_p{id}"));
    p
}

#[async_trait]
impl AffiliateApi for TestApi {
    fn mode(&self) -> ApiMode {
        self.mode
    }

    async fn search_products(&self, q: &SearchQuery) -> Result<ProductPage, UpstreamError> {
        match q.keywords() {
            Some("slow") => {
                self.entered_slow.notify_one();
                self.release_slow.notified().await;
            }
            Some("panic") => panic!("scripted panic"),
            _ => {}
        }
        self.begin()?;
        let mut page = ProductPage::empty(q.page_no(), q.page_size());
        if q.keywords() != Some("nothing") {
            let title = format!("{} {}", q.keywords().unwrap_or("hot"), self.calls());
            page.products
                .push(product(1005006123456789, &title, q.currency()));
            page.total_records = 1;
            page.total_pages = 1;
        }
        Ok(page)
    }

    async fn hot_products(&self, q: &SearchQuery) -> Result<ProductPage, UpstreamError> {
        self.search_products(q).await
    }

    async fn product_details(&self, q: &DetailsQuery) -> Result<Vec<Product>, UpstreamError> {
        self.begin()?;
        Ok(q.ids
            .iter()
            .filter(|id| id.0 != 1111111111)
            .map(|id| product(id.0, "detail", q.currency))
            .collect())
    }

    async fn categories(&self) -> Result<Vec<Category>, UpstreamError> {
        self.begin()?;
        Ok(vec![
            Category {
                id: CategoryId(44),
                name: "Consumer Electronics".into(),
                parent_id: None,
            },
            Category {
                id: CategoryId(63705),
                name: "Earphones".into(),
                parent_id: Some(CategoryId(44)),
            },
            Category {
                id: CategoryId(3),
                name: "Apparel".into(),
                parent_id: None,
            },
        ])
    }

    async fn similar_products(&self, q: &SimilarQuery) -> Result<Vec<Product>, UpstreamError> {
        self.begin()?;
        Ok(vec![product(q.product_id.0 + 1, "similar", q.currency)])
    }

    async fn promotions(&self) -> Result<Vec<Promotion>, UpstreamError> {
        self.begin()?;
        Ok(vec![Promotion {
            name: "Hot Product".into(),
            description: Some("Products with high commission rates".into()),
            product_count: Some(1),
        }])
    }

    async fn promotion_products(&self, q: &PromotionQuery) -> Result<ProductPage, UpstreamError> {
        self.begin()?;
        let mut page = ProductPage::empty(q.page_no, q.page_size);
        if q.promotion_name == "Hot Product" {
            page.products
                .push(product(1005006123456789, "promoted", q.currency));
            page.total_records = 1;
            page.total_pages = 1;
        }
        Ok(page)
    }

    async fn generate_links(
        &self,
        sources: &[LinkSource],
        _: LinkType,
        _: Option<&str>,
    ) -> Result<Vec<AffiliateLink>, UpstreamError> {
        self.begin()?;
        Ok(sources
            .iter()
            .map(|s| AffiliateLink {
                source_url: s.source_value().to_owned(),
                product_id: s.product_id(),
                promotion_link: match s.product_id() {
                    Some(id) => format!("https://s.click.aliexpress.com/e/_{id}"),
                    None => format!(
                        "https://s.click.aliexpress.com/e/_page{}",
                        s.source_value().len()
                    ),
                },
            })
            .collect())
    }
}

pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    pub api: Arc<TestApi>,
    pub clock: Arc<ManualClock>,
    pub app: Arc<App>,
    pub alerts: Arc<alistach_http::Alerts>,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    pub async fn start(config: HttpConfig) -> TestServer {
        Self::start_with(config, ApiMode::Mock).await
    }

    pub async fn start_with(config: HttpConfig, mode: ApiMode) -> TestServer {
        let api = TestApi::new(mode);
        Self::start_over(config, api.clone(), api).await
    }

    /// A server over any catalog; `api` is the scriptable one the helpers report on.
    pub async fn start_over(
        config: HttpConfig,
        catalog_api: Arc<dyn AffiliateApi>,
        api: Arc<TestApi>,
    ) -> TestServer {
        let clock = Arc::new(ManualClock::new(1_700_000_000_000));
        let store: Arc<dyn Cache> =
            Arc::new(MemoryCache::new(MemoryCacheConfig::default(), clock.clone()).unwrap());
        let tenant_api = catalog_api.clone();
        let catalog = Catalog::new(catalog_api, store, clock.clone(), CacheTtls::default());
        // The admin order endpoints over the memory store and the mock order book.
        let order_store: Arc<dyn alistach_store::Store> =
            Arc::new(alistach_store::MemoryStore::new());
        let experiments_store = order_store.clone();
        let tenants_store = order_store.clone();
        let webhooks = Arc::new(alistach_service::WebhookEndpoints::new(
            order_store.clone(),
            clock.clone(),
            true,
        ));
        let watches = Arc::new(alistach_service::Watches::new(
            order_store.clone(),
            clock.clone(),
        ));
        let orders = alistach_http::Orders {
            store: order_store.clone(),
            sync: Arc::new(alistach_service::OrderSync::new(
                Arc::new(alistach_mock::MockCatalog::new()),
                order_store,
                Arc::new(alistach_domain::SystemClock),
                alistach_service::OrderSyncConfig::new("test", std::time::Duration::from_secs(600)),
            )),
        };
        let app = App::new(catalog, config).with_orders(orders);
        // A/B experiments over the same store (none runs until a test creates one).
        let experiments = Arc::new(alistach_service::Experiments::new(
            experiments_store,
            app.catalog_handle(),
            clock.clone(),
        ));
        let alerts = Arc::new(alistach_http::Alerts::new(
            alistach_service::AlertConfig {
                for_duration: Duration::ZERO,
                ..Default::default()
            },
            Duration::from_secs(15),
        ));
        // Tenants over the same store (none until a test makes one): their catalogs are the
        // deployment's port with their tracking id.
        struct SameApi(Arc<Catalog>, Arc<dyn alistach_domain::AffiliateApi>);
        impl alistach_service::TenantCatalogs for SameApi {
            fn build(
                &self,
                doc: &alistach_service::TenantDoc,
            ) -> Result<alistach_service::TenantParts, String> {
                let ttls = *self.0.ttls();
                Ok(alistach_service::TenantParts {
                    catalog: Arc::new(self.0.for_tenant(
                        self.1.clone(),
                        None,
                        &doc.tracking_id,
                        ttls,
                    )),
                    orders: None,
                })
            }
        }
        let tenants = Arc::new(alistach_service::Tenants::new(
            tenants_store.clone(),
            clock.clone(),
            Arc::new(SameApi(app.catalog_handle(), tenant_api)),
            alistach_service::TenantDoc::new(
                alistach_domain::TenantId::default_tenant(),
                "the deployment",
                "gpt_chat",
            ),
            app.catalog_handle(),
            Vec::new(),
        ));
        tenants.start().await.unwrap();
        let analytics = Arc::new(alistach_service::Analytics::new(
            tenants_store,
            clock.clone(),
            "mock",
            "test",
            true,
            Duration::from_secs(86_400),
        ));
        let app = Arc::new(
            app.with_experiments(experiments)
                .with_webhooks(webhooks)
                .with_alerts(alerts.clone())
                .with_watches(watches)
                .with_tenants(tenants)
                .with_analytics(analytics),
        );
        let listener = alistach_http::listen(([127, 0, 0, 1], 0).into()).unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(serve(listener, app.clone(), async {
            let _ = rx.await;
        }));
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        TestServer {
            base,
            client,
            api,
            alerts,
            clock,
            app,
            shutdown: Some(tx),
            handle: Some(handle),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn post_json(&self, path: &str, body: &str) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap()
    }

    /// Starts shutdown and returns the server task.
    pub fn begin_shutdown(&mut self) -> JoinHandle<std::io::Result<()>> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.handle.take().unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A response's status, headers and JSON body.
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub json: serde_json::Value,
}

impl Answer {
    pub async fn of(resp: reqwest::Response) -> Answer {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
        Answer {
            status,
            headers,
            json,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a problem document with `status` naming `field`.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, field: Option<&str>) {
        assert_eq!(self.status, status, "{}", self.json);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{}",
            self.json
        );
        assert_eq!(self.json["status"], status);
        assert!(
            self.json["type"]
                .as_str()
                .unwrap()
                .starts_with("https://alistach.dev/problems/")
        );
        assert!(!self.json["detail"].as_str().unwrap().is_empty());
        assert_eq!(
            self.json["request_id"].as_str(),
            self.header("x-request-id")
        );
        if let Some(field) = field {
            assert_eq!(self.json["errors"][0]["field"], field, "{}", self.json);
            assert!(
                self.json["detail"].as_str().unwrap().contains(field),
                "{}",
                self.json
            );
        }
    }
}

pub fn admin_config() -> HttpConfig {
    HttpConfig {
        admin_key: Some(alistach_http::ApiKey::new("admin-secret")),
        ..HttpConfig::default()
    }
}
