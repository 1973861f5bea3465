//! The catalog use cases against a scripted catalog, the memory cache and a manual clock.

mod experiments;
mod guard;
mod orders;
mod tracking;
mod webhooks;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alistach_cache::{Cache, ManualClock, MemoryCache, MemoryCacheConfig};
use alistach_domain::{
    AffiliateApi, AffiliateLink, ApiMode, Category, CategoryId, DetailsQuery, LinkInput,
    LinkRequest, LinkSource, LinkType, Listing, Product, ProductId, ProductPage, ProductUrl,
    Promotion, PromotionQuery, SearchDraft, SearchQuery, SimilarQuery, UpstreamError,
};
use alistach_service::{
    CacheKind, CacheStatus, CacheTtls, Catalog, MissingReason, ReadMode, Served, ServiceError,
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
        .categories(None, read, "test", |flat| {
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
        ])
    }
    async fn similar_products(&self, q: &SimilarQuery) -> Result<Vec<Product>, UpstreamError> {
        let n = self.call()?;
        Ok(vec![Product::new(
            ProductId(q.product_id.0 + 1),
            format!("similar call {n}"),
        )])
    }
    async fn promotions(&self) -> Result<Vec<Promotion>, UpstreamError> {
        self.call()?;
        Ok(vec![Promotion {
            name: "Hot Product".into(),
            description: None,
            product_count: Some(1),
        }])
    }
    async fn promotion_products(&self, q: &PromotionQuery) -> Result<ProductPage, UpstreamError> {
        let n = self.call()?;
        let mut page = ProductPage::empty(q.page_no, q.page_size);
        page.products.push(Product::new(
            ProductId(1005006123456789),
            format!("{} call {n}", q.promotion_name),
        ));
        Ok(page)
    }
    async fn generate_links(
        &self,
        sources: &[LinkSource],
        _: LinkType,
        _: Option<&str>,
    ) -> Result<Vec<AffiliateLink>, UpstreamError> {
        self.call()?;
        // The platform converts every page except product 32759108484, and echoes the value
        // it was sent.
        Ok(sources
            .iter()
            .filter(|s| s.product_id() != Some(ProductId(32759108484)))
            .map(|s| AffiliateLink {
                source_url: s.source_value().to_owned(),
                product_id: s.product_id(),
                promotion_link: match s.product_id() {
                    Some(id) => format!("https://s.click.aliexpress.com/e/_{id}"),
                    None => "https://s.click.aliexpress.com/e/_page".to_owned(),
                },
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
        inputs: vec![],
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
        inputs: urls
            .iter()
            .map(|u| LinkInput::from(ProductUrl::parse(u).unwrap()))
            .collect(),
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
async fn every_link_input_gets_its_own_result() {
    let f = fixture(ApiMode::Real);
    let request = LinkRequest {
        inputs: [
            "https://www.aliexpress.com/item/1005006123456789.html",
            "https://www.amazon.com/dp/B0",
            "",
            "https://www.aliexpress.com/store/1102345678",
            "https://s.click.aliexpress.com/e/_DmAbCd1",
            "https://sale.aliexpress.com/__pc/sale.htm?x=1,2",
            "32759108484",
        ]
        .iter()
        .map(|u| LinkInput::parse(u))
        .collect(),
        link_type: LinkType::Hot,
    };
    let results = f
        .catalog
        .link_results(&request, ReadMode::Normal)
        .await
        .unwrap()
        .value;
    let summary: Vec<(&str, Option<&str>, &str)> = results
        .iter()
        .map(|r| {
            (
                r.input.as_str(),
                r.page.map(|p| p.as_str()),
                match &r.outcome {
                    Ok(_) => "converted",
                    Err(e) => e.as_str(),
                },
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "https://www.aliexpress.com/item/1005006123456789.html",
                Some("product"),
                "converted"
            ),
            ("https://www.amazon.com/dp/B0", None, "not_aliexpress"),
            ("", None, "invalid_url"),
            (
                "https://www.aliexpress.com/store/1102345678",
                Some("store"),
                "converted"
            ),
            (
                "https://s.click.aliexpress.com/e/_DmAbCd1",
                Some("share_link"),
                "converted"
            ),
            (
                "https://sale.aliexpress.com/__pc/sale.htm?x=1,2",
                Some("campaign"),
                "converted"
            ),
            // The details know it, the platform would not convert it.
            ("32759108484", Some("product"), "not_eligible"),
        ]
    );
    let store = results[3].outcome.as_ref().unwrap();
    assert_eq!(
        store.link.source_url,
        "https://www.aliexpress.com/store/1102345678"
    );
    assert_eq!(store.link.product_id, None);
    // Nothing to convert: no upstream call at all.
    let calls = f.api.calls();
    let nothing = LinkRequest {
        inputs: vec![LinkInput::parse("https://example.com/")],
        link_type: LinkType::Normal,
    };
    let served = f
        .catalog
        .link_results(&nothing, ReadMode::Normal)
        .await
        .unwrap();
    assert_eq!(served.status, CacheStatus::Bypass);
    assert_eq!(f.api.calls(), calls);
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

fn flat_json(flat: Vec<Category>) -> Bytes {
    Bytes::from(serde_json::to_vec(&flat).unwrap())
}

#[tokio::test]
async fn a_parents_children_come_from_one_cached_list_and_unknown_parents_are_named() {
    let f = fixture(ApiMode::Real);
    let children = |served: Served<alistach_service::Rendered>| {
        serde_json::from_slice::<Vec<Category>>(&served.value.bytes).unwrap()
    };
    let served = f
        .catalog
        .categories(Some(CategoryId(44)), ReadMode::Normal, "test", flat_json)
        .await
        .unwrap();
    assert_eq!(served.status, CacheStatus::Miss);
    assert_eq!(served.value.items, 1);
    let got = children(served);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].id, CategoryId(63705));
    // A category without children has none; both answers come from the one cached list.
    let served = f
        .catalog
        .categories(Some(CategoryId(63705)), ReadMode::Normal, "test", flat_json)
        .await
        .unwrap();
    assert_eq!(served.status, CacheStatus::Hit);
    assert!(children(served).is_empty());
    let err = f
        .catalog
        .categories(Some(CategoryId(999)), ReadMode::Normal, "test", flat_json)
        .await
        .unwrap_err();
    match err {
        ServiceError::NotFound(what) => assert!(what.contains("parent_id 999"), "{what}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(f.api.calls(), 1, "unknown parents cost no upstream call");
    // The whole tree is its own entry, unchanged.
    let all = categories(&f.catalog, ReadMode::Normal).await.unwrap();
    assert_eq!(all.value.len(), 2);
}

#[tokio::test]
async fn similar_products_and_promotions_are_cached_per_question() {
    let f = fixture(ApiMode::Real);
    let similar = |id: u64, page_no: u32| SimilarQuery {
        product_id: ProductId(id),
        page_no,
        currency: alistach_domain::Currency::USD,
        language: alistach_domain::Language::EN,
        country: None,
    };
    let render = |products: Vec<Product>| Bytes::from(serde_json::to_vec(&products).unwrap());
    let a = f
        .catalog
        .similar(&similar(1005006123456789, 1), ReadMode::Normal, "t", render)
        .await
        .unwrap();
    assert_eq!((a.status, a.value.items), (CacheStatus::Miss, 1));
    let b = f
        .catalog
        .similar(&similar(1005006123456789, 1), ReadMode::Normal, "t", render)
        .await
        .unwrap();
    assert_eq!(b.status, CacheStatus::Hit);
    assert_eq!(a.value, b.value);
    let c = f
        .catalog
        .similar(&similar(1005006123456789, 2), ReadMode::Normal, "t", render)
        .await
        .unwrap();
    assert_eq!(
        c.status,
        CacheStatus::Miss,
        "another page is another question"
    );
    assert_eq!(f.api.calls(), 2);
    let err = f
        .catalog
        .similar(&similar(1005006123456789, 0), ReadMode::Normal, "t", render)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ServiceError::Invalid(ref v) if v.field == "page_no"),
        "{err:?}"
    );

    let promos = f.catalog.promotions(ReadMode::Normal).await.unwrap();
    assert_eq!(promos.value[0].name, "Hot Product");
    assert_eq!(
        f.catalog.promotions(ReadMode::Normal).await.unwrap().status,
        CacheStatus::Hit
    );
    let query = |name: &str| PromotionQuery {
        promotion_name: name.into(),
        category_id: None,
        sort: None,
        page_no: 1,
        page_size: 10,
        currency: alistach_domain::Currency::USD,
        language: alistach_domain::Language::EN,
        country: None,
    };
    let page = |p: ProductPage| Bytes::from(serde_json::to_vec(&p).unwrap());
    let first = f
        .catalog
        .promotion_products(&query("Hot Product"), ReadMode::Normal, "t", page)
        .await
        .unwrap();
    let spaced = f
        .catalog
        .promotion_products(&query("  Hot Product "), ReadMode::Normal, "t", page)
        .await
        .unwrap();
    assert_eq!(
        spaced.status,
        CacheStatus::Hit,
        "names are compared trimmed"
    );
    assert_eq!(first.value, spaced.value);
    let calls = f.api.calls();
    let err = f
        .catalog
        .promotion_products(&query(" "), ReadMode::Normal, "t", page)
        .await
        .unwrap_err();
    assert!(matches!(err, ServiceError::Invalid(ref v) if v.field == "promotion_name"));
    assert_eq!(
        f.api.calls(),
        calls,
        "invalid questions never reach the upstream"
    );
    // Clearing one kind leaves the others.
    assert!(f.catalog.clear(Some(CacheKind::Similar)).await.unwrap() >= 2);
    assert_eq!(
        f.catalog.promotions(ReadMode::Normal).await.unwrap().status,
        CacheStatus::Hit
    );
}

#[tokio::test]
async fn details_name_the_ids_not_found_and_not_sold_to_the_country() {
    // Products ending in 7 exist but ship nowhere in particular; 1111111111 does not exist.
    struct Shipping;
    #[async_trait]
    impl AffiliateApi for Shipping {
        fn mode(&self) -> ApiMode {
            ApiMode::Real
        }
        async fn search_products(&self, _: &SearchQuery) -> Result<ProductPage, UpstreamError> {
            unreachable!()
        }
        async fn hot_products(&self, _: &SearchQuery) -> Result<ProductPage, UpstreamError> {
            unreachable!()
        }
        async fn product_details(&self, q: &DetailsQuery) -> Result<Vec<Product>, UpstreamError> {
            Ok(q.ids
                .iter()
                .filter(|id| id.0 != 1111111111)
                .filter(|id| q.country.is_none() || id.0 % 10 != 7)
                .map(|id| Product::new(*id, "p"))
                .collect())
        }
        async fn categories(&self) -> Result<Vec<Category>, UpstreamError> {
            unreachable!()
        }
        async fn similar_products(&self, _: &SimilarQuery) -> Result<Vec<Product>, UpstreamError> {
            unreachable!()
        }
        async fn promotions(&self) -> Result<Vec<Promotion>, UpstreamError> {
            unreachable!()
        }
        async fn promotion_products(
            &self,
            _: &PromotionQuery,
        ) -> Result<ProductPage, UpstreamError> {
            unreachable!()
        }
        async fn generate_links(
            &self,
            _: &[LinkSource],
            _: LinkType,
            _: Option<&str>,
        ) -> Result<Vec<AffiliateLink>, UpstreamError> {
            unreachable!()
        }
    }
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let store: Arc<dyn Cache> =
        Arc::new(MemoryCache::new(MemoryCacheConfig::default(), clock.clone()).unwrap());
    let catalog = Catalog::new(Arc::new(Shipping), store, clock, CacheTtls::default());
    let mut query = DetailsQuery {
        ids: vec![
            ProductId(1005006123456787),
            ProductId(1111111111),
            ProductId(1005006123456789),
            ProductId(1005006123456787),
        ],
        currency: alistach_domain::Currency::USD,
        language: alistach_domain::Language::EN,
        country: Some("US".parse().unwrap()),
    };
    let report = catalog
        .details_report(&query, ReadMode::Normal)
        .await
        .unwrap()
        .value;
    assert_eq!(report.products.len(), 1);
    assert_eq!(
        report.missing,
        vec![
            (ProductId(1005006123456787), MissingReason::NotSoldToCountry),
            (ProductId(1111111111), MissingReason::NotFound),
        ]
    );
    query.country = None;
    let report = catalog
        .details_report(&query, ReadMode::Normal)
        .await
        .unwrap()
        .value;
    assert_eq!(
        report.missing,
        vec![(ProductId(1111111111), MissingReason::NotFound)]
    );
}
