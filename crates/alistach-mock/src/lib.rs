//! The labelled mock catalog: a deterministic, realistic data set behind the same
//! [`AffiliateApi`] port as the real AliExpress client, for running without credentials.
//!
//! About 800 products across the platform's real top-level categories, generated once from a
//! fixed seed (the same on every machine), priced exactly in all 19 platform currencies, titled
//! in English with common words translated for French, Spanish, German, Portuguese, Italian
//! and Russian. Nothing here can be mistaken for real data: [`MockCatalog::mode`] is
//! [`ApiMode::Mock`] and every affiliate link points at the reserved `mock.alistach.invalid` host.
//!
//! How the mock answers a search:
//! - keywords: case-insensitive; every word except a few stop words ("for", "with" ...) must
//!   match a title word (in any of the title languages) or a category name word, singular and
//!   plural alike; text with no searchable word finds nothing;
//! - `category_ids`: a top-level id matches its children too; an unknown id matches nothing;
//! - `min_price`/`max_price`: bounds on the sale price in the query's currency;
//! - `ship_to_country`: a fixed ~12 % of products do not ship to a given country (a different
//!   subset per country); results then carry `ship to <CC> in <n> days`;
//! - `sort`: the four platform orders, ties broken by product id; without one, a stable
//!   relevance score (sales, rating);
//! - paging: `total_pages` capped at 100 as the platform does; a page past the end is empty.
//!
//! It is also a labelled mock order source (hourly orders, see the `orders` module) and a
//! [`alistach_domain::ClickListener`]: a click on a mock product link becomes one labelled
//! mock order [`MOCK_CLICK_ORDER_DELAY_MS`] later, with the click's tracking id and sub-ids
//! (see the `clicks` module).

mod catalog;
mod clicks;
mod fx;
mod i18n;
mod orders;
mod promo;
mod rng;
mod search;
mod text;
mod vocab;

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use alistach_domain::{
    AffiliateApi, AffiliateLink, ApiMode, Category, CategoryId, CategoryRef, CountryCode, Currency,
    Decimal, DetailsQuery, Language, LinkSource, LinkType, Money, Product, ProductId, ProductPage,
    PromoCode, Promotion, PromotionQuery, SearchQuery, Shop, SimilarQuery, UpstreamError,
    ValidationError,
};
use async_trait::async_trait;

use crate::catalog::{CatalogData, Promo};
use crate::clicks::ClickBook;
use crate::vocab::TOPS;

pub use clicks::{MAX_CLICK_ORDERS, MOCK_CLICK_ORDER_DELAY_MS};
pub use fx::{exchange_rate, usd_to};
pub use orders::MOCK_ORDER_INTERVAL_MS;
pub use promo::SIMILAR_PAGE_SIZE;

/// The seed of the default catalog. Changing it changes every mock product id.
pub const DEFAULT_SEED: u64 = 0xA115_7AC4_2026_0001;

/// The tracking id mock links carry unless told otherwise (v1.1.0's default).
pub const DEFAULT_TRACKING_ID: &str = "gpt_chat";

/// Every mock link starts with this: a host under the reserved `.invalid` top-level domain,
/// so a mock link can never be opened or mistaken for a real affiliate link.
pub const MOCK_LINK_PREFIX: &str = "https://mock.alistach.invalid/";

/// The longest tracking id accepted.
const MAX_TRACKING_ID_LEN: usize = 64;

/// Why a mock catalog could not be configured.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MockError {
    /// The tracking id would not fit in a link unescaped.
    #[error(
        "tracking id {0:?} is invalid: it must be 1 to {MAX_TRACKING_ID_LEN} characters of ASCII letters, digits, '_' or '-'"
    )]
    InvalidTrackingId(String),
}

/// The mock catalog. Cheap to clone and share: the data is generated once per seed and held
/// behind an `Arc`; clones (and [`MockCatalog::with_tracking_id`]) share the orders clicks
/// made, while each [`MockCatalog::new`] or [`MockCatalog::with_seed`] starts with none.
#[derive(Clone)]
pub struct MockCatalog {
    data: Arc<CatalogData>,
    tracking_id: Arc<str>,
    /// The mock orders clicks made.
    clicks: Arc<Mutex<ClickBook>>,
}

impl fmt::Debug for MockCatalog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockCatalog")
            .field("products", &self.data.items.len())
            .field("categories", &self.data.categories.len())
            .field("tracking_id", &self.tracking_id)
            .field("click_orders", &self.click_book().iter().count())
            .finish()
    }
}

impl Default for MockCatalog {
    fn default() -> Self {
        MockCatalog::new()
    }
}

impl MockCatalog {
    /// The default catalog ([`DEFAULT_SEED`]), generated on first use and shared by every
    /// instance in the process, with [`DEFAULT_TRACKING_ID`].
    pub fn new() -> Self {
        static DEFAULT: OnceLock<Arc<CatalogData>> = OnceLock::new();
        let data = DEFAULT
            .get_or_init(|| Arc::new(CatalogData::generate(DEFAULT_SEED)))
            .clone();
        MockCatalog {
            data,
            tracking_id: Arc::from(DEFAULT_TRACKING_ID),
            clicks: Arc::default(),
        }
    }

    /// A freshly generated catalog for `seed` (the same seed always gives the same catalog).
    pub fn with_seed(seed: u64) -> Self {
        MockCatalog {
            data: Arc::new(CatalogData::generate(seed)),
            tracking_id: Arc::from(DEFAULT_TRACKING_ID),
            clicks: Arc::default(),
        }
    }

    /// The same catalog, with links carrying `tracking_id`.
    pub fn with_tracking_id(self, tracking_id: &str) -> Result<Self, MockError> {
        let ok = (1..=MAX_TRACKING_ID_LEN).contains(&tracking_id.len())
            && tracking_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !ok {
            return Err(MockError::InvalidTrackingId(
                tracking_id.chars().take(80).collect(),
            ));
        }
        Ok(MockCatalog {
            tracking_id: Arc::from(tracking_id),
            ..self
        })
    }

    /// The tracking id mock links carry.
    pub fn tracking_id(&self) -> &str {
        &self.tracking_id
    }

    /// How many products the catalog holds.
    pub fn len(&self) -> usize {
        self.data.items.len()
    }

    /// True when the catalog holds no products (never, for a generated catalog).
    pub fn is_empty(&self) -> bool {
        self.data.items.is_empty()
    }

    /// Every product id, in catalog order.
    pub fn product_ids(&self) -> impl Iterator<Item = ProductId> + '_ {
        self.data.items.iter().map(|i| i.id)
    }

    /// One product in a currency and language; `None` for an id the catalog does not hold.
    pub fn product(
        &self,
        id: ProductId,
        currency: Currency,
        language: Language,
    ) -> Option<Product> {
        self.data
            .position(id)
            .map(|i| self.render(i, currency, language, None))
    }

    /// Every product in a currency and language, in catalog order.
    pub fn products(&self, currency: Currency, language: Language) -> Vec<Product> {
        (0..self.data.items.len())
            .map(|i| self.render(i, currency, language, None))
            .collect()
    }

    /// Every category, flat: top-level categories (no parent) first, then their children.
    pub fn category_list(&self) -> &[Category] {
        &self.data.categories
    }

    /// [`AffiliateApi::search_products`] without the `async`.
    pub fn search(&self, query: &SearchQuery) -> Result<ProductPage, UpstreamError> {
        Ok(self.page(query, false))
    }

    /// [`AffiliateApi::hot_products`] without the `async`. Unlike a search, browsing hot
    /// products needs no keywords or categories (the platform allows it).
    pub fn hot(&self, query: &SearchQuery) -> Result<ProductPage, UpstreamError> {
        Ok(self.page(query, true))
    }

    /// [`AffiliateApi::product_details`] without the `async`: known ids in request order,
    /// each once; unknown ids absent, and, as on the platform, products that do not ship to
    /// the query's country.
    pub fn details(&self, query: &DetailsQuery) -> Result<Vec<Product>, UpstreamError> {
        query.validate().map_err(invalid)?;
        let mut seen = HashSet::with_capacity(query.ids.len());
        Ok(query
            .ids
            .iter()
            .filter(|id| seen.insert(**id))
            .filter(|id| query.country.is_none_or(|c| catalog::ships_to(**id, c)))
            .filter_map(|id| self.data.position(*id))
            .map(|i| self.render(i, query.currency, query.language, query.country))
            .collect())
    }

    /// [`AffiliateApi::generate_links`] without the `async`: one mock link per page, in
    /// order; product pages of products the catalog does not hold are not converted (as the
    /// platform converts only products in the affiliate programme). Store, campaign and share
    /// pages get a mock page link.
    pub fn links(
        &self,
        sources: &[LinkSource],
        link_type: LinkType,
        tracking_id: Option<&str>,
    ) -> Result<Vec<AffiliateLink>, UpstreamError> {
        let tracking: &str = tracking_id.unwrap_or(&self.tracking_id);
        if sources.is_empty() || sources.len() > alistach_domain::MAX_LINKS_PER_REQUEST {
            return Err(invalid(ValidationError::new(
                "source_values",
                "must list 1 to 50 pages",
            )));
        }
        Ok(sources
            .iter()
            .filter_map(|source| {
                let promotion_link = match source.product_id() {
                    Some(id) => {
                        self.data.position(id)?;
                        mock_link(id, tracking, Some(link_type))
                    }
                    None => format!(
                        "{MOCK_LINK_PREFIX}aff/page/{:016x}?tracking={}&link_type={}",
                        rng::fnv1a(source.source_value().as_bytes()),
                        tracking,
                        link_type.code()
                    ),
                };
                Some(AffiliateLink {
                    source_url: source.source_value().to_owned(),
                    product_id: source.product_id(),
                    promotion_link,
                })
            })
            .collect())
    }

    /// [`AffiliateApi::similar_products`] without the `async`: the other products of the
    /// seed's second-level category, best sellers first, [`SIMILAR_PAGE_SIZE`] a page; an
    /// unknown seed finds nothing.
    pub fn similar(&self, query: &SimilarQuery) -> Result<Vec<Product>, UpstreamError> {
        query.validate().map_err(invalid)?;
        Ok(promo::similar(&self.data, query)
            .into_iter()
            .map(|i| self.render(i, query.currency, query.language, query.country))
            .collect())
    }

    /// [`AffiliateApi::promotions`] without the `async`: the platform's four permanent pools.
    pub fn promotion_list(&self) -> Vec<Promotion> {
        let counts = promo::counts(&self.data);
        promo::PROMOTIONS
            .iter()
            .zip(counts)
            .map(|((name, description), count)| Promotion {
                name: (*name).to_owned(),
                description: Some((*description).to_owned()),
                product_count: Some(count),
            })
            .collect()
    }

    /// [`AffiliateApi::promotion_products`] without the `async`; an unknown promotion finds
    /// nothing.
    pub fn promotion_page(&self, query: &PromotionQuery) -> Result<ProductPage, UpstreamError> {
        query.validate().map_err(invalid)?;
        let (page, total) = promo::promotion_page(&self.data, query);
        Ok(ProductPage {
            products: page
                .into_iter()
                .map(|i| self.render(i, query.currency, query.language, query.country))
                .collect(),
            page_no: query.page_no,
            page_size: query.page_size,
            total_records: total as u64,
            total_pages: promo::total_pages(total, query.page_size),
        })
    }

    fn page(&self, query: &SearchQuery, hot_only: bool) -> ProductPage {
        let hits = search::run(&self.data, query, hot_only);
        ProductPage {
            products: hits
                .page
                .into_iter()
                .map(|i| {
                    self.render(
                        i,
                        query.currency(),
                        query.language(),
                        query.ship_to_country(),
                    )
                })
                .collect(),
            page_no: query.page_no(),
            page_size: query.page_size(),
            total_records: hits.total as u64,
            total_pages: hits.total_pages,
        }
    }

    fn render(
        &self,
        index: usize,
        currency: Currency,
        language: Language,
        country: Option<CountryCode>,
    ) -> Product {
        let item = &self.data.items[index];
        let top = &TOPS[item.top];
        let sub = &top.subs[item.sub];
        let shop = &self.data.shops[item.shop];
        let slot = fx::slot(currency);
        Product {
            id: item.id,
            title: item.titles[i18n::slot(language)].clone(),
            detail_url: item.detail_url.clone(),
            main_image_url: item.images.first().cloned(),
            image_urls: item.images.clone(),
            video_url: item.video_id.map(|v| {
                format!("https://video.aliexpress-media.com/play/u/ae_sg_item/{}/p/1/e/6/t/10301/{v}.mp4", shop.id)
            }),
            promotion_link: Some(mock_link(item.id, &self.tracking_id, None)),
            sale_price: Some(Money::new(item.sale[slot], currency)),
            original_price: Some(Money::new(item.original[slot], currency)),
            app_sale_price: Some(Money::new(item.app[slot], currency)),
            discount_percent: Some(Decimal::from(item.discount_percent)),
            rating_percent: Some(Decimal::new(item.rating_tenths, 1)),
            sales_volume: Some(item.volume),
            commission_rate_percent: Some(Decimal::new(item.commission_tenths, 1)),
            hot_commission_rate_percent: item.hot_commission_tenths.map(|t| Decimal::new(t, 1)),
            first_level_category: Some(CategoryRef { id: CategoryId(top.id), name: Some(top.name.to_owned()) }),
            second_level_category: Some(CategoryRef { id: CategoryId(sub.id), name: Some(sub.name.to_owned()) }),
            shop: Shop {
                id: Some(shop.id),
                url: Some(shop.url.clone()),
                name: Some(shop.name.clone()),
            },
            platform_product_type: Some(item.platform_type.to_owned()),
            ship_to_days: country
                .filter(|c| catalog::ships_to(item.id, *c))
                .map(|c| format!("ship to {c} in {} days", catalog::delivery_days(item, c))),
            promo_code: item.promo.as_ref().map(|p| self.promo(p, currency)),
        }
    }

    fn promo(&self, promo: &Promo, currency: Currency) -> PromoCode {
        let (num, den) = exchange_rate(currency);
        // Promo thresholds read as whole amounts in every currency, as the platform words them.
        let whole = |usd: i64| {
            Decimal::new(usd, 0)
                .mul_ratio(num, den, 0)
                .unwrap_or(Decimal::new(usd, 0))
        };
        let (min, off) = (whole(promo.min_spend_usd), whole(promo.off_usd));
        PromoCode {
            code: promo.code.clone(),
            value: Some(format!(
                "On order over {currency} {min}, get {currency} {off} off"
            )),
            minimum_spend: Some(min.to_string()),
            valid_from: Some("2026-01-01 00:00:00".to_owned()),
            valid_until: Some("2026-12-31 23:59:59".to_owned()),
            promotion_url: Some(format!(
                "{MOCK_LINK_PREFIX}promo/{}?tracking={}",
                promo.code, self.tracking_id
            )),
        }
    }
}

#[async_trait]
impl AffiliateApi for MockCatalog {
    fn mode(&self) -> ApiMode {
        ApiMode::Mock
    }

    fn answer_scope(&self) -> Vec<(&'static str, String)> {
        vec![("tracking_id", self.tracking_id.to_string())]
    }

    async fn search_products(&self, query: &SearchQuery) -> Result<ProductPage, UpstreamError> {
        self.search(query)
    }

    async fn hot_products(&self, query: &SearchQuery) -> Result<ProductPage, UpstreamError> {
        self.hot(query)
    }

    async fn product_details(&self, query: &DetailsQuery) -> Result<Vec<Product>, UpstreamError> {
        self.details(query)
    }

    async fn categories(&self) -> Result<Vec<Category>, UpstreamError> {
        Ok(self.data.categories.clone())
    }

    async fn similar_products(&self, query: &SimilarQuery) -> Result<Vec<Product>, UpstreamError> {
        self.similar(query)
    }

    async fn promotions(&self) -> Result<Vec<Promotion>, UpstreamError> {
        Ok(self.promotion_list())
    }

    async fn promotion_products(
        &self,
        query: &PromotionQuery,
    ) -> Result<ProductPage, UpstreamError> {
        self.promotion_page(query)
    }

    async fn generate_links(
        &self,
        sources: &[LinkSource],
        link_type: LinkType,
        tracking_id: Option<&str>,
    ) -> Result<Vec<AffiliateLink>, UpstreamError> {
        self.links(sources, link_type, tracking_id)
    }
}

/// The mock affiliate link for a product:
/// `https://mock.alistach.invalid/aff/<id>?tracking=<tracking_id>`, with `&link_type=<0|2>`
/// when generated for a link request.
pub fn mock_link(id: ProductId, tracking_id: &str, link_type: Option<LinkType>) -> String {
    match link_type {
        Some(t) => format!(
            "{MOCK_LINK_PREFIX}aff/{id}?tracking={tracking_id}&link_type={}",
            t.code()
        ),
        None => format!("{MOCK_LINK_PREFIX}aff/{id}?tracking={tracking_id}"),
    }
}

/// True for a link made by the mock catalog.
pub fn is_mock_link(url: &str) -> bool {
    url.starts_with(MOCK_LINK_PREFIX)
}

/// A query the platform would refuse, reported as the platform would.
fn invalid(e: ValidationError) -> UpstreamError {
    UpstreamError::InvalidRequest {
        code: "InvalidParameter".to_owned(),
        message: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracking_ids_are_checked() {
        let c = MockCatalog::new().with_tracking_id("my-site_01").unwrap();
        assert_eq!(c.tracking_id(), "my-site_01");
        for bad in ["", "has space", "a&b=c", "ünï", &"x".repeat(65)] {
            let err = MockCatalog::new().with_tracking_id(bad).unwrap_err();
            assert!(err.to_string().contains("tracking id"), "{err}");
        }
    }

    #[test]
    fn default_catalog_is_shared_not_regenerated() {
        let a = MockCatalog::new();
        let b = MockCatalog::new();
        assert!(Arc::ptr_eq(&a.data, &b.data));
        assert!(format!("{a:?}").contains("products: 800"));
    }

    #[test]
    fn renders_every_field_plausibly() {
        let c = MockCatalog::new();
        let p = c.products(Currency::USD, Language::EN);
        for p in &p {
            let id = p.id.to_string();
            assert!(id.len() == 16 && id.starts_with("1005"), "{id}");
        }
        assert!(p.iter().all(|p| {
            p.main_image_url
                .as_deref()
                .is_some_and(|u| u.starts_with("https://ae01.alicdn.com/kf/S"))
        }));
        assert!(p.iter().all(|p| p.shop.url.as_deref()
            == Some(&format!(
                "https://www.aliexpress.com/store/{}",
                p.shop.id.unwrap()
            ))));
        assert!(p.iter().any(|p| p.promo_code.is_some()));
        assert!(p.iter().any(|p| p.video_url.is_some()));
        assert!(p.iter().any(|p| p.hot_commission_rate_percent.is_some()));
        assert!(p.iter().any(|p| p.hot_commission_rate_percent.is_none()));
        let promo = p.iter().find_map(|p| p.promo_code.clone()).unwrap();
        assert!(promo.promotion_url.as_deref().is_some_and(is_mock_link));
        let eur = c.product(p[0].id, Currency::EUR, Language::FR).unwrap();
        assert_eq!(eur.sale_price.unwrap().currency, Currency::EUR);
    }
}
