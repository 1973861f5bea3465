//! The catalog use cases against a scripted catalog, the memory cache and a manual clock.

mod guard;
mod tracking;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alistach_cache::{Cache, ManualClock, MemoryCache, MemoryCacheConfig};
use alistach_domain::{
    AffiliateApi, AffiliateLink, ApiMode, Category, CategoryId, DetailsQuery, LinkRequest,
    LinkType, Listing, Product, ProductId, ProductPage, ProductUrl, SearchDraft, SearchQuery,
    UpstreamError,
};
use alistach_service::{
    CacheKind, CacheStatus, CacheTtls, Catalog, ReadMode, Served, ServiceError,
};
use async_trait::async_trait;
use bytes::Bytes;

/// A listing through the production path, rendered as JSON and read back for assertions.
async fn listing(
    catalog: &Catalog,
    listing: Listing,
    draft: &SearchDraft,
    read: ReadMode,
) -> Result<Served<ProductPage>, ServiceError> {
    let query = draft.parse(listing).unwrap();
    let served = catalog
        .products(&query, read, "test", |page| {
            Bytes::from(serde_json::to_vec(&page).unwrap())
        })
        .await?;
    assert_eq!(
        served.value.items,
        serde_json::from_slice::<ProductPage>(&served.value.bytes)
            .unwrap()
            .products
            .len() as u64
    );
    Ok(served.map(|r| serde_json::from_slice(&r.bytes).unwrap()))
}

async fn search(
    catalog: &Catalog,
    query: &SearchDraft,
    read: ReadMode,
) -> Result<Served<ProductPage>, ServiceError> {
    listing(catalog, Listing::Search, query, read).await
}

async fn hot(
    catalog: &Catalog,
    query: &SearchDraft,
    read: ReadMode,
) -> Result<Served<ProductPage>, ServiceError> {
    listing(catalog, Listing::Hot, query, read).await
}

/// The category list through the production path, with its count.
async fn categories(
    catalog: &Catalog,
    read: ReadMode,
) -> Result<Served<Vec<Category>>, ServiceError> {
    let served = catalog
        .categories(read, "test", |flat| {
            Bytes::from(serde_json::to_vec(&flat).unwrap())
        })
        .await?;
    let flat: Vec<Category> = serde_json::from_slice(&served.value.bytes).unwrap();
    assert_eq!(served.value.items, flat.len() as u64);
    Ok(served.map(|_| flat))
}

/// A catalog that answers with one product per call (titled by call number), or with the
/// scripted error, and counts calls.
struct Scripted {
    mode: ApiMode,
    calls: AtomicUsize,
    fail: Mutex<Option<UpstreamError>>,
    empty: bool,
}

impl Scripted {
    fn new(mode: ApiMode) -> Arc<Self> {
        Arc::new(Scripted {
            mode,
            calls: AtomicUsize::new(0),
            fail: Mutex::new(None),
            empty: false,
        })
    }
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
    fn fail_with(&self, e: Option<UpstreamError>) {
        *self.fail.lock().unwrap() = e;
    }
    fn call(&self) -> Result<usize, UpstreamError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        match self.fail.lock().unwrap().clone() {
            Some(e) => Err(e),
            None => Ok(n),
        }
    }
}

#[async_trait]
impl AffiliateApi for Scripted {
    fn mode(&self) -> ApiMode {
        self.mode
    }
    async fn search_products(&self, q: &SearchQuery) -> Result<ProductPage, UpstreamError> {
        let n = self.call()?;
        let mut page = ProductPage::empty(q.page_no(), q.page_size());
        if !self.empty {
            page.products.push(Product::new(
                ProductId(1005006123456789),
                format!("{} call {n}", self.mode),
            ));
            page.total_records = 1;
            page.total_pages = 1;
        }
        Ok(page)
    }
    async fn hot_products(&self, q: &SearchQuery) -> Result<ProductPage, UpstreamError> {
        self.search_products(q).await
    }
    async fn product_details(&self, q: &DetailsQuery) -> Result<Vec<Product>, UpstreamError> {
        self.call()?;
        Ok(q.ids
            .iter()
            .map(|id| {
                let mut p = Product::new(*id, "detail");
                // Only this product's details know its commission rate.
                if *id == ProductId(1005006123456789) {
                    p.commission_rate_percent = Some("7.5".parse().unwrap());
                }
                p
            })
            .collect())
    }
    async fn categories(&self) -> Result<Vec<Category>, UpstreamError> {
        self.call()?;
        Ok(vec![Category {
            id: CategoryId(44),
            name: "Consumer Electronics".into(),
            parent_id: None,
        }])
    }
    async fn generate_links(&self, r: &LinkRequest) -> Result<Vec<AffiliateLink>, UpstreamError> {
        self.call()?;
        // The platform converts every product except 32759108484, and echoes the URL it was sent.
        Ok(r.urls
            .iter()
            .filter(|u| u.id != ProductId(32759108484))
            .map(|u| AffiliateLink {
                source_url: u.original.clone(),
                product_id: u.id,
                promotion_link: format!("https://s.click.aliexpress.com/e/_{}", u.id),
            })
            .collect())
    }
}

struct Fixture {
    api: Arc<Scripted>,
    clock: Arc<ManualClock>,
    store: Arc<dyn Cache>,
    catalog: Catalog,
}

fn fixture(mode: ApiMode) -> Fixture {
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let store: Arc<dyn Cache> =
        Arc::new(MemoryCache::new(MemoryCacheConfig::default(), clock.clone()).unwrap());
    let api = Scripted::new(mode);
    let catalog = Catalog::new(
        api.clone(),
        store.clone(),
        clock.clone(),
        CacheTtls::default(),
    );
    Fixture {
        api,
        clock,
        store,
        catalog,
    }
}

fn unavailable() -> UpstreamError {
    UpstreamError::Unavailable {
        reason: "HTTP 502 from the gateway".into(),
    }
}

#[tokio::test]
async fn second_identical_search_is_a_hit() {
    let f = fixture(ApiMode::Mock);
    let first = search(&f.catalog, &SearchDraft::new("earbuds"), ReadMode::Normal)
        .await
        .unwrap();
    assert_eq!(first.status, CacheStatus::Miss);
    assert!(!first.stale);
    // Different spacing, same question.
    let second = search(
        &f.catalog,
        &SearchDraft::new("  earbuds "),
        ReadMode::Normal,
    )
    .await
    .unwrap();
    assert_eq!(second.status, CacheStatus::Hit);
    assert_eq!(second.value, first.value);
    assert_eq!(second.ttl_remaining, Duration::from_secs(3600));
    assert_eq!(f.api.calls(), 1);

    f.clock.advance(Duration::from_secs(10));
    let third = search(&f.catalog, &SearchDraft::new("earbuds"), ReadMode::Normal)
        .await
        .unwrap();
    assert_eq!(third.age, Duration::from_secs(10));

    let bypass = search(&f.catalog, &SearchDraft::new("earbuds"), ReadMode::Bypass)
        .await
        .unwrap();
    assert_eq!(bypass.status, CacheStatus::Bypass);
    assert_eq!(f.api.calls(), 2);
    assert!(bypass.value.products[0].title.ends_with("call 2"));
}

#[tokio::test]
async fn empty_results_are_cached_answers() {
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let store: Arc<dyn Cache> =
        Arc::new(MemoryCache::new(MemoryCacheConfig::default(), clock.clone()).unwrap());
    let api = Arc::new(Scripted {
        mode: ApiMode::Real,
        calls: AtomicUsize::new(0),
        fail: Mutex::new(None),
        empty: true,
    });
    let catalog = Catalog::new(api.clone(), store, clock, CacheTtls::default());
    let a = search(
        &catalog,
        &SearchDraft::new("nothing matches"),
        ReadMode::Normal,
    )
    .await
    .unwrap();
    assert!(a.value.products.is_empty());
    let b = search(
        &catalog,
        &SearchDraft::new("nothing matches"),
        ReadMode::Normal,
    )
    .await
    .unwrap();
    assert_eq!(b.status, CacheStatus::Hit);
    assert_eq!(api.calls(), 1);
}

#[tokio::test]
async fn errors_are_never_cached_nor_replaced_by_other_data() {
    let f = fixture(ApiMode::Real);
    f.api.fail_with(Some(UpstreamError::Timeout));
    let err = search(&f.catalog, &SearchDraft::new("earbuds"), ReadMode::Normal)
        .await
        .unwrap_err();
    assert_eq!(err, ServiceError::Upstream(UpstreamError::Timeout));
    f.api.fail_with(None);
    let ok = search(&f.catalog, &SearchDraft::new("earbuds"), ReadMode::Normal)
        .await
        .unwrap();
    assert_eq!(
        ok.status,
        CacheStatus::Miss,
        "the failure must not have been cached"
    );
    assert_eq!(f.api.calls(), 2);
}

#[tokio::test]
async fn stale_entry_stands_in_for_a_transient_failure_only() {
    let f = fixture(ApiMode::Real);
    let fresh = search(&f.catalog, &SearchDraft::new("earbuds"), ReadMode::Normal)
        .await
        .unwrap();
    // Past the TTL and the revalidation window, within stale-if-error.
    f.clock.advance(Duration::from_secs(3600 + 360 + 60));
    f.api.fail_with(Some(unavailable()));
    let stale = search(&f.catalog, &SearchDraft::new("earbuds"), ReadMode::Normal)
        .await
        .unwrap();
    assert_eq!(stale.status, CacheStatus::Stale);
    assert!(stale.stale);
    assert_eq!(stale.value, fresh.value);

    let bad_key = UpstreamError::BadCredentials {
        code: "InvalidAppKey".into(),
        message: "unknown app".into(),
    };
    f.api.fail_with(Some(bad_key.clone()));
    let err = search(&f.catalog, &SearchDraft::new("earbuds"), ReadMode::Normal)
        .await
        .unwrap_err();
    assert_eq!(err, ServiceError::Upstream(bad_key));

    f.api.fail_with(Some(unavailable()));
    f.clock.advance(Duration::from_secs(25 * 3600));
    let err = search(&f.catalog, &SearchDraft::new("earbuds"), ReadMode::Normal)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ServiceError::Upstream(UpstreamError::Unavailable { .. })
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn mock_entries_are_never_served_in_real_mode() {
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let store: Arc<dyn Cache> =
        Arc::new(MemoryCache::new(MemoryCacheConfig::default(), clock.clone()).unwrap());
    let mock = Catalog::new(
        Scripted::new(ApiMode::Mock),
        store.clone(),
        clock.clone(),
        CacheTtls::default(),
    );
    let real_api = Scripted::new(ApiMode::Real);
    let real = Catalog::new(real_api.clone(), store, clock, CacheTtls::default());
    search(&mock, &SearchDraft::new("earbuds"), ReadMode::Normal)
        .await
        .unwrap();
    let answer = search(&real, &SearchDraft::new("earbuds"), ReadMode::Normal)
        .await
        .unwrap();
    assert_eq!(answer.status, CacheStatus::Miss);
    assert!(answer.value.products[0].title.starts_with("real"));
    assert_eq!(real_api.calls(), 1);
}

#[tokio::test]
async fn invalid_queries_never_reach_the_upstream() {
    let f = fixture(ApiMode::Mock);
    // An invalid search cannot even be stated as a SearchQuery.
    let mut q = SearchDraft::new("earbuds");
    q.page_size = 51;
    assert_eq!(q.parse(Listing::Search).unwrap_err().field, "page_size");
    let empty = DetailsQuery {
        ids: vec![],
        currency: Default::default(),
        language: Default::default(),
        country: None,
    };
    assert!(matches!(
        f.catalog.details(&empty, ReadMode::Normal).await,
        Err(ServiceError::Invalid(_))
    ));
    let no_urls = LinkRequest {
        urls: vec![],
        link_type: LinkType::Normal,
    };
    assert!(matches!(
        f.catalog.affiliate_links(&no_urls, ReadMode::Normal).await,
        Err(ServiceError::Invalid(_))
    ));
    assert_eq!(f.api.calls(), 0);

    // Hot products need no keywords, but still obey the page limits.
    let mut hot_query = SearchDraft::new("");
    hot_query.keywords = None;
    assert!(hot(&f.catalog, &hot_query, ReadMode::Normal).await.is_ok());
    assert_eq!(
        hot_query.parse(Listing::Search).unwrap_err().field,
        "keywords"
    );
    hot_query.page_no = 0;
    assert_eq!(hot_query.parse(Listing::Hot).unwrap_err().field, "page_no");
}

#[tokio::test]
async fn links_keep_the_callers_urls_and_order_and_share_entries() {
    let f = fixture(ApiMode::Real);
    let req = |urls: &[&str]| LinkRequest {
        urls: urls.iter().map(|u| ProductUrl::parse(u).unwrap()).collect(),
        link_type: LinkType::Normal,
    };
    let a = req(&[
        "https://m.aliexpress.com/item/1005006123456789.html?spm=abc",
        "https://www.aliexpress.com/item/32759108484.html",
        "4000669887458",
    ]);
    let served = f
        .catalog
        .affiliate_links(&a, ReadMode::Normal)
        .await
        .unwrap();
    let links = served.value;
    assert_eq!(
        links.len(),
        2,
        "the unconvertible product is absent: {links:?}"
    );
    assert_eq!(
        links[0].link.source_url,
        "https://m.aliexpress.com/item/1005006123456789.html?spm=abc"
    );
    assert_eq!(
        links[0].link.promotion_link,
        "https://s.click.aliexpress.com/e/_1005006123456789"
    );
    assert_eq!(links[1].link.source_url, "4000669887458");

    let b = req(&[
        "4000669887458",
        "https://www.aliexpress.com/item/1005006123456789.html",
        "32759108484",
    ]);
    let again = f
        .catalog
        .affiliate_links(&b, ReadMode::Normal)
        .await
        .unwrap();
    assert_eq!(again.status, CacheStatus::Hit);
    assert_eq!(again.value[0].link.source_url, "4000669887458");
    assert_eq!(
        again.value[1].link.source_url,
        "https://www.aliexpress.com/item/1005006123456789.html"
    );
    // One link.generate and one productdetail.get (for the commission rates), both cached.
    assert_eq!(f.api.calls(), 2);
    assert_eq!(
        again.value[1].commission_rate_percent,
        Some("7.5".parse().unwrap()),
        "rates come from the product details"
    );
    assert_eq!(again.value[0].commission_rate_percent, None);
}

#[tokio::test]
async fn clearing_by_kind_removes_only_that_kind() {
    let f = fixture(ApiMode::Mock);
    search(&f.catalog, &SearchDraft::new("earbuds"), ReadMode::Normal)
        .await
        .unwrap();
    categories(&f.catalog, ReadMode::Normal).await.unwrap();
    let ids = DetailsQuery {
        ids: vec![ProductId(1005006123456789)],
        currency: Default::default(),
        language: Default::default(),
        country: None,
    };
    f.catalog.details(&ids, ReadMode::Normal).await.unwrap();
    assert_eq!(f.catalog.clear(Some(CacheKind::Products)).await.unwrap(), 1);
    assert_eq!(
        categories(&f.catalog, ReadMode::Normal)
            .await
            .unwrap()
            .status,
        CacheStatus::Hit
    );
    assert_eq!(
        search(&f.catalog, &SearchDraft::new("earbuds"), ReadMode::Normal)
            .await
            .unwrap()
            .status,
        CacheStatus::Miss
    );
    assert_eq!(f.catalog.clear(None).await.unwrap(), 3);
    let report = f.catalog.cache_report().await;
    assert_eq!(report.tiers.len(), 1);
    assert!(report.layer.hits >= 1);
    assert!(f.store.stats().await[0].sets >= 4);
}
