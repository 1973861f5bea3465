//! Products as a shopper or an affiliate sees them, with prices kept exact and in their currency.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{CategoryId, Currency, Decimal, ValidationError};

/// An AliExpress product id (`1005006123456789`; older ids have 11 to 13 digits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProductId(pub u64);

impl ProductId {
    /// The canonical product page, `https://www.aliexpress.com/item/<id>.html`.
    pub fn canonical_url(self) -> String {
        format!("https://www.aliexpress.com/item/{}.html", self.0)
    }
}

impl fmt::Display for ProductId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for ProductId {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, ValidationError> {
        let s = s.trim();
        if (6..=20).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse()
                .map(ProductId)
                .map_err(|_| ValidationError::new("product_id", "is too large"))
        } else {
            Err(ValidationError::new("product_id", "must be 6 to 20 digits"))
        }
    }
}

/// An amount in a currency.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// The exact amount.
    pub amount: Decimal,
    /// Its currency.
    pub currency: Currency,
}

impl Money {
    /// `amount` in `currency`.
    pub fn new(amount: Decimal, currency: Currency) -> Self {
        Money { amount, currency }
    }
}

/// A category a product sits in (id and localised name).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CategoryRef {
    /// The category id.
    pub id: CategoryId,
    /// Its name as the platform returned it.
    pub name: Option<String>,
}

/// The shop selling a product.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Shop {
    /// The shop id.
    pub id: Option<u64>,
    /// Its store page.
    pub url: Option<String>,
    /// Its name, when the platform sends one.
    pub name: Option<String>,
}

/// A promo code attached to a product (all fields are free text on the platform).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PromoCode {
    /// The code a buyer types.
    pub code: String,
    /// What it gives, e.g. "On order over EUR 20, get EUR 3 off".
    pub value: Option<String>,
    /// Minimum spend.
    pub minimum_spend: Option<String>,
    /// Start of validity (platform time, PST).
    pub valid_from: Option<String>,
    /// End of validity.
    pub valid_until: Option<String>,
    /// Affiliate link to the promotion.
    pub promotion_url: Option<String>,
}

/// A product with everything a shopper or an affiliate cares about.
///
/// Prices are those converted to the query's target currency when the platform sent them,
/// otherwise the base prices; each carries its own currency.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Product {
    /// The product id.
    pub id: ProductId,
    /// Title, localised to the query's language.
    pub title: String,
    /// The product page.
    pub detail_url: String,
    /// The main image.
    pub main_image_url: Option<String>,
    /// Further images.
    pub image_urls: Vec<String>,
    /// A product video.
    pub video_url: Option<String>,
    /// The affiliate link for this product, tracking id included, when the platform made one.
    pub promotion_link: Option<String>,
    /// The price a buyer pays now.
    pub sale_price: Option<Money>,
    /// The price before discount.
    pub original_price: Option<Money>,
    /// The price in the AliExpress app.
    pub app_sale_price: Option<Money>,
    /// Discount in percent (`50` for "50%").
    pub discount_percent: Option<Decimal>,
    /// Positive feedback in percent.
    pub rating_percent: Option<Decimal>,
    /// Recent sales count.
    pub sales_volume: Option<u64>,
    /// Affiliate commission in percent.
    pub commission_rate_percent: Option<Decimal>,
    /// Hot-product commission in percent.
    pub hot_commission_rate_percent: Option<Decimal>,
    /// Top-level category.
    pub first_level_category: Option<CategoryRef>,
    /// Second-level category.
    pub second_level_category: Option<CategoryRef>,
    /// The seller.
    pub shop: Shop,
    /// `ALL`, `PLAZA` or `TMALL`.
    pub platform_product_type: Option<String>,
    /// Delivery estimate text.
    pub ship_to_days: Option<String>,
    /// A promo code, when there is one.
    pub promo_code: Option<PromoCode>,
}

impl Product {
    /// A product with only the required fields set.
    pub fn new(id: ProductId, title: impl Into<String>) -> Self {
        Product {
            id,
            title: title.into(),
            detail_url: id.canonical_url(),
            main_image_url: None,
            image_urls: Vec::new(),
            video_url: None,
            promotion_link: None,
            sale_price: None,
            original_price: None,
            app_sale_price: None,
            discount_percent: None,
            rating_percent: None,
            sales_volume: None,
            commission_rate_percent: None,
            hot_commission_rate_percent: None,
            first_level_category: None,
            second_level_category: None,
            shop: Shop::default(),
            platform_product_type: None,
            ship_to_days: None,
            promo_code: None,
        }
    }
}

/// One page of search results.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ProductPage {
    /// The products on this page.
    pub products: Vec<Product>,
    /// The page number (1-based).
    pub page_no: u32,
    /// The requested page size.
    pub page_size: u32,
    /// Total matching products the platform reports (it caps paging at 100 pages).
    pub total_records: u64,
    /// Total pages the platform reports.
    pub total_pages: u32,
}

impl ProductPage {
    /// An empty page: nothing matched (the platform's `resp_code` 405).
    pub fn empty(page_no: u32, page_size: u32) -> Self {
        ProductPage {
            products: Vec::new(),
            page_no,
            page_size,
            total_records: 0,
            total_pages: 0,
        }
    }
}
