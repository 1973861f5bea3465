//! Request and response bodies of the public HTTP API, with the exact v1.1.0 field names.
//!
//! Money is always a JSON string (`"12.34"`): a float would round, and v1.1.0 clients read strings.
//! Conversion to and from domain types lives in `alistach-http`, not here.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// Base of every problem `type` URI.
pub const PROBLEM_TYPE_BASE: &str = "https://alistach.dev/problems/";

/// The success envelope v1.1.0 wraps most answers in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "Envelope_{D}_{M}")]
pub struct Envelope<D, M> {
    /// Always `true` for a success body (errors are problem+json).
    pub success: bool,
    /// The answer.
    pub data: D,
    /// How the answer was produced.
    pub metadata: M,
}

impl<D, M> Envelope<D, M> {
    /// A success envelope.
    pub fn ok(data: D, metadata: M) -> Self {
        Envelope {
            success: true,
            data,
            metadata,
        }
    }
}

/// `POST /api/products/search` and friends.
pub type SearchResponse = Envelope<SearchData, SearchMetadata>;
/// `GET /api/products/hot`.
pub type HotProductsResponse = Envelope<SearchData, SearchMetadata>;
/// `GET /api/products/details`.
pub type ProductDetailsResponse = Envelope<ProductDetailsData, ProductDetailsMetadata>;
/// `GET /api/categories`.
pub type CategoriesResponse = Envelope<CategoriesData, CategoriesMetadata>;
/// `POST /api/affiliate/links` and `GET /api/affiliate/link`.
pub type AffiliateLinksResponse = Envelope<AffiliateLinksData, AffiliateLinksMetadata>;
/// `GET /api/products/similar`.
pub type SimilarProductsResponse = Envelope<SimilarProductsData, ListingMetadata>;
/// `GET /api/promotions`.
pub type PromotionsResponse = Envelope<PromotionsData, ListingMetadata>;
/// `GET /api/promotions/products`.
pub type PromotionProductsResponse = Envelope<SearchData, PromotionProductsMetadata>;
/// `GET /api/status`.
pub type StatusResponse = Envelope<StatusData, StatusMetadata>;
/// `GET /api/cache/stats`.
pub type CacheStatsResponse = Envelope<CacheStatsData, CacheStatsMetadata>;
/// `POST /api/cache/clear`.
pub type CacheClearResponse = Envelope<CacheClearData, CacheClearMetadata>;
/// `GET /api/admin/clicks`.
pub type ClickSummaryResponse = Envelope<ClickSummaryData, ClickSummaryMetadata>;
/// `GET /api/admin/alerts`.
pub type AlertsResponse = Envelope<AlertsData, AlertsMetadata>;

// ---------------------------------------------------------------------------------------------
// Closed value sets

/// Every `target_currency` the platform converts prices into (the domain's `Currency::ALL`;
/// a test in `alistach-http` holds the two equal).
pub const CURRENCIES: [&str; 19] = [
    "USD", "GBP", "CAD", "EUR", "UAH", "MXN", "TRY", "RUB", "BRL", "AUD", "INR", "JPY", "IDR",
    "SEK", "KRW", "ILS", "THB", "CLP", "VND",
];

/// Every `target_language` the platform localises titles into (the domain's `Language::ALL`).
pub const LANGUAGES: [&str; 21] = [
    "EN", "RU", "PT", "ES", "FR", "ID", "IT", "TH", "JA", "AR", "VI", "TR", "DE", "HE", "KO", "NL",
    "PL", "MX", "CL", "IW", "IN",
];

/// The orders of a promotion's products (the domain's `PromotionSort::ALL`).
pub const PROMOTION_SORTS: [&str; 12] = [
    "commissionAsc",
    "commissionDesc",
    "priceAsc",
    "priceDesc",
    "volumeAsc",
    "volumeDesc",
    "discountAsc",
    "discountDesc",
    "ratingAsc",
    "ratingDesc",
    "promotionTimeAsc",
    "promotionTimeDesc",
];

// ---------------------------------------------------------------------------------------------
// Search

/// A price bound as the client sent it: a JSON number or a decimal string, kept as decimal text so
/// no float ever touches money. Parsing into an exact decimal happens in the adapter.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PriceInput(String);

impl PriceInput {
    /// Wraps decimal text as given (trimmed).
    pub fn new(text: impl Into<String>) -> Self {
        PriceInput(text.into().trim().to_owned())
    }

    /// The decimal text, e.g. `"10.5"`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PriceInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for PriceInput {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for PriceInput {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PriceVisitor;

        impl Visitor<'_> for PriceVisitor {
            type Value = PriceInput;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a price as a JSON number or a decimal string")
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<PriceInput, E> {
                Ok(PriceInput(v.to_string()))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<PriceInput, E> {
                Ok(PriceInput(v.to_string()))
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<PriceInput, E> {
                if !v.is_finite() {
                    return Err(E::custom("price must be a finite number"));
                }
                // Display of f64 prints the shortest text that reads back as the same value,
                // so 10.99 stays "10.99" rather than its binary expansion.
                Ok(PriceInput(v.to_string()))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<PriceInput, E> {
                Ok(PriceInput::new(v))
            }
        }

        deserializer.deserialize_any(PriceVisitor)
    }
}

impl JsonSchema for PriceInput {
    fn schema_name() -> Cow<'static, str> {
        "PriceInput".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A price as a decimal string (\"10.50\") or a JSON number, in target_currency.",
            "anyOf": [
                { "type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?$" },
                { "type": "number", "minimum": 0 }
            ]
        })
    }

    fn inline_schema() -> bool {
        true
    }
}

/// A product search: the JSON body of `POST /api/products/search` and, with the same names, the
/// query parameters of `GET /api/products/search`, `GET /api/products` and `GET /api/products/hot`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    /// Search words, e.g. "wireless earbuds". Required unless category_ids is given (optional for hot products).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 200), example = &"wireless earbuds")]
    pub keywords: Option<String>,
    /// Comma-separated AliExpress category ids to search in, e.g. "44,502" (ids from listCategories).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = &"44,502")]
    pub category_ids: Option<String>,
    /// Results per page, 1 to 50. Default 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 50), example = 10)]
    pub page_size: Option<u32>,
    /// Page number starting at 1, at most 100. Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100), example = 1)]
    pub page_no: Option<u32>,
    /// Result order: SALE_PRICE_ASC, SALE_PRICE_DESC, LAST_VOLUME_ASC or LAST_VOLUME_DESC. Default: AliExpress's relevance order (GET /api/products/search, hot products); SALE_PRICE_ASC on the v1.1.0 routes (POST search, GET /api/products).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        extend("enum" = ["SALE_PRICE_ASC", "SALE_PRICE_DESC", "LAST_VOLUME_ASC", "LAST_VOLUME_DESC"]),
        example = &"SALE_PRICE_ASC"
    )]
    pub sort: Option<String>,
    /// Lowest sale price, as a decimal in target_currency, e.g. "5.00".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_sale_price: Option<PriceInput>,
    /// Highest sale price, as a decimal in target_currency, e.g. "50.00".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_sale_price: Option<PriceInput>,
    /// ISO currency for prices and the price range, e.g. USD, EUR. Default from the server configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = CURRENCIES), example = &"USD")]
    pub target_currency: Option<String>,
    /// Language code for titles, e.g. EN, ES, FR. Default from the server configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = LANGUAGES), example = &"EN")]
    pub target_language: Option<String>,
    /// Two-letter country code; only products that ship there, e.g. US.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = &"US")]
    pub ship_to_country: Option<String>,
}

/// A promotion code attached to a product.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PromoCode {
    /// The code to enter at checkout.
    pub code: String,
    /// What the code is worth, as the platform describes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Minimum spend for the code to apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_spend: Option<String>,
    /// Start of validity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<String>,
    /// End of validity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
    /// Link to the promotion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promotion_url: Option<String>,
}

/// One AliExpress product. The first eleven fields are the v1.1.0 ones; the rest are additions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Product {
    /// AliExpress product id (digits, as a string).
    pub product_id: String,
    /// Product title in the requested language.
    pub product_title: String,
    /// Product page URL.
    pub product_url: String,
    /// Sale price in the app, decimal string in `currency`.
    pub app_sale_price: String,
    /// Price before discount, decimal string in `original_price_currency` (or `currency`).
    pub original_price: String,
    /// Discount, e.g. "50%".
    pub discount: String,
    /// Positive feedback rate, e.g. "98.5%".
    pub evaluate_rate: String,
    /// Affiliate commission rate, e.g. "7.0%".
    pub commission_rate: String,
    /// Main image URL.
    pub product_main_image_url: String,
    /// Seller's shop id (digits, as a string).
    pub shop_id: String,
    /// Seller's shop URL.
    pub shop_url: String,
    /// Sale price, decimal string in `currency`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sale_price: Option<String>,
    /// Currency of the prices, e.g. "USD".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Currency of `original_price` when it differs from `currency`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_price_currency: Option<String>,
    /// Affiliate link to the product; share this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promotion_link: Option<String>,
    /// More image URLs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub product_small_image_urls: Vec<String>,
    /// Product video URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_video_url: Option<String>,
    /// Top-level category id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_level_category_id: Option<String>,
    /// Top-level category name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_level_category_name: Option<String>,
    /// Second-level category id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub second_level_category_id: Option<String>,
    /// Second-level category name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub second_level_category_name: Option<String>,
    /// Units sold recently (the platform's spelling).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lastest_volume: Option<u64>,
    /// Same as `lastest_volume`, spelled correctly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sales_volume: Option<u64>,
    /// Commission rate for hot products, e.g. "9.0%".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hot_product_commission_rate: Option<String>,
    /// Platform product type, e.g. "TMALL".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_product_type: Option<String>,
    /// Estimated days to ship.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ship_to_days: Option<String>,
    /// A promotion code for this product.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promo_code: Option<PromoCode>,
    /// Seller's shop name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shop_name: Option<String>,
}

/// A page of products.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SearchData {
    /// The products on this page.
    pub products: Vec<Product>,
    /// Matching products in total (the platform caps paging depth).
    pub total_results: u64,
    /// This page's number, from 1.
    pub current_page: u32,
    /// Requested results per page.
    pub page_size: u32,
    /// Number of pages.
    pub total_pages: u32,
    /// Served from the cache.
    pub cache_hit: bool,
}

/// The search as the service understood it, defaults applied.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SearchParams {
    /// Search words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keywords: Option<String>,
    /// Results per page.
    pub page_size: u32,
    /// Page number.
    pub page_no: u32,
    /// Result order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort: Option<String>,
    /// Lowest sale price, decimal string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_sale_price: Option<String>,
    /// Highest sale price, decimal string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_sale_price: Option<String>,
    /// Currency of prices.
    pub target_currency: String,
    /// Language of titles.
    pub target_language: String,
    /// Ship-to country filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ship_to_country: Option<String>,
    /// Category filter, comma-separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category_ids: Option<String>,
}

/// How a search answer was produced.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SearchMetadata {
    /// Data comes from the labelled mock catalog, not AliExpress.
    pub mock_mode: bool,
    /// Time spent answering, in milliseconds.
    pub processing_time_ms: f64,
    /// AliStach version.
    pub api_version: String,
    /// "mock" or "real".
    pub api_integration: String,
    /// Served from the cache.
    pub cache_hit: bool,
    /// Caching is on.
    pub cache_enabled: bool,
    /// HIT, MISS, STALE or BYPASS.
    pub cache_status: String,
    /// Served stale because the upstream was slow or failing.
    pub stale: bool,
    /// The search as understood.
    pub search_params: SearchParams,
    /// Set on `/no-cache` answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_bypassed: Option<bool>,
    /// Set on `/no-cache` answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fresh_data: Option<bool>,
}

// ---------------------------------------------------------------------------------------------
// Product details

/// Query of `GET /api/products/details`: product ids or product URLs (at least one of them).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductDetailsQuery {
    /// Comma-separated AliExpress product ids, e.g. "1005004043442825,1005006140413430". Give this or urls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = &"1005004043442825")]
    pub product_ids: Option<String>,
    /// Comma-separated AliExpress product URLs; the ids are read from them. Give this or product_ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = &"https://www.aliexpress.com/item/1005004043442825.html")]
    pub urls: Option<String>,
    /// ISO currency for prices, e.g. USD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = CURRENCIES), example = &"USD")]
    pub target_currency: Option<String>,
    /// Language code for titles, e.g. EN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = LANGUAGES), example = &"EN")]
    pub target_language: Option<String>,
    /// Two-letter country code the products must ship to, e.g. US.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = &"US")]
    pub ship_to_country: Option<String>,
}

/// Products found by id.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProductDetailsData {
    /// Found products, in request order; the ids not found are listed in `missing`.
    pub products: Vec<Product>,
    /// Number of products found.
    pub total_results: u64,
    /// The requested ids without details, each with the reason.
    #[serde(default)]
    pub missing: Vec<MissingProduct>,
}

/// A requested product the answer has no details for.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MissingProduct {
    /// The product id asked for.
    pub product_id: String,
    /// `not_found`: unknown, or not in the affiliate programme; `not_sold_to_country`: the
    /// product exists but does not ship to `ship_to_country`.
    #[schemars(extend("enum" = ["not_found", "not_sold_to_country"]))]
    pub reason: String,
}

/// How a details answer was produced.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProductDetailsMetadata {
    /// Data comes from the labelled mock catalog.
    pub mock_mode: bool,
    /// "mock" or "real".
    pub api_integration: String,
    /// Served from the cache.
    pub cache_hit: bool,
    /// Caching is on.
    pub cache_enabled: bool,
    /// HIT, MISS, STALE or BYPASS.
    pub cache_status: String,
    /// Served stale because the upstream was slow or failing.
    pub stale: bool,
    /// Time spent answering, in milliseconds.
    pub processing_time_ms: f64,
    /// Number of product ids asked for.
    pub requested_ids: u64,
}

// ---------------------------------------------------------------------------------------------
// Categories

/// A product category.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Category {
    /// Category id (digits, as a string).
    pub category_id: String,
    /// Category name.
    pub category_name: String,
    /// Parent id for a subcategory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_category_id: Option<String>,
    /// Subcategories (top-level categories only; left out when there are none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Category>,
}

/// Query of `GET /api/categories`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoriesQuery {
    /// A category id: list only its subcategories (empty for a category without any). Without
    /// it, every top-level category with its subcategories. An unknown id is a 404.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = &"44")]
    pub parent_id: Option<String>,
}

/// The category tree.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CategoriesData {
    /// Top-level categories, each with its children.
    pub categories: Vec<Category>,
}

/// How a categories answer was produced.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CategoriesMetadata {
    /// Data comes from the labelled mock catalog.
    pub mock_mode: bool,
    /// "mock" or "real".
    pub api_integration: String,
    /// Served from the cache.
    pub cache_hit: bool,
    /// Caching is on.
    pub cache_enabled: bool,
    /// Number of categories, children included.
    pub total_categories: u64,
    /// Served stale because the upstream was slow or failing.
    pub stale: bool,
}

// ---------------------------------------------------------------------------------------------
// Similar products and promotions

/// Query of `GET /api/products/similar`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SimilarProductsQuery {
    /// The product to find similar products for: its id (digits) or its AliExpress URL.
    #[schemars(example = &"1005004043442825")]
    pub product_id: String,
    /// Page number starting at 1, at most 100. Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100), example = 1)]
    pub page_no: Option<u32>,
    /// ISO currency for prices, e.g. USD. Default from the server configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = CURRENCIES), example = &"USD")]
    pub target_currency: Option<String>,
    /// Language code for titles, e.g. EN. Default from the server configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = LANGUAGES), example = &"EN")]
    pub target_language: Option<String>,
    /// Two-letter country code; only products that ship there, e.g. US.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = &"US")]
    pub ship_to_country: Option<String>,
}

/// Products similar to a seed product.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SimilarProductsData {
    /// The similar products (the platform sizes the page); empty for an unknown product.
    pub products: Vec<Product>,
    /// Products on this page (the platform gives no total).
    pub total_results: u64,
    /// This page's number, from 1.
    pub current_page: u32,
    /// The seed product's id.
    pub product_id: String,
    /// Served from the cache.
    pub cache_hit: bool,
}

/// How a similar-products, promotions or promotion-products answer was produced.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ListingMetadata {
    /// Data comes from the labelled mock catalog, not AliExpress: say so to the user.
    pub mock_mode: bool,
    /// AliStach version.
    pub api_version: String,
    /// "mock" or "real".
    pub api_integration: String,
    /// Served from the cache.
    pub cache_hit: bool,
    /// Caching is on.
    pub cache_enabled: bool,
    /// HIT, MISS, STALE or BYPASS.
    pub cache_status: String,
    /// Served stale because the upstream was slow or failing.
    pub stale: bool,
    /// Time spent answering, in milliseconds.
    pub processing_time_ms: f64,
}

/// A featured promotion: a pool of products AliExpress promotes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PromotionInfo {
    /// The name to pass as promotion_name, e.g. "Hot Product".
    pub promotion_name: String,
    /// What the promotion is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Products in it, when the platform says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_count: Option<u64>,
}

/// The featured promotions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PromotionsData {
    /// The promotions, in platform order.
    pub promotions: Vec<PromotionInfo>,
    /// Number of promotions.
    pub total_results: u64,
}

/// Query of `GET /api/promotions/products`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PromotionProductsQuery {
    /// The promotion, as listPromotions names it, e.g. "Hot Product", "Best Seller", "New Arrival" or "weeklydeals".
    #[schemars(length(min = 1, max = 100), example = &"Hot Product")]
    pub promotion_name: String,
    /// An AliExpress category id (from listCategories); only products in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = &"44")]
    pub category_id: Option<String>,
    /// Result order; the platform's own order when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = PROMOTION_SORTS), example = &"commissionDesc")]
    pub sort: Option<String>,
    /// Page number starting at 1, at most 100. Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100), example = 1)]
    pub page_no: Option<u32>,
    /// Results per page, 1 to 50. Default 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 50), example = 10)]
    pub page_size: Option<u32>,
    /// ISO currency for prices, e.g. USD. Default from the server configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = CURRENCIES), example = &"USD")]
    pub target_currency: Option<String>,
    /// Language code for titles, e.g. EN. Default from the server configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = LANGUAGES), example = &"EN")]
    pub target_language: Option<String>,
    /// Two-letter country code; only products that ship there, e.g. US.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = &"US")]
    pub ship_to_country: Option<String>,
}

/// A promotion-products query as the service understood it, defaults applied.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PromotionParams {
    /// The promotion.
    pub promotion_name: String,
    /// Category filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category_id: Option<String>,
    /// Result order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort: Option<String>,
    /// Page number.
    pub page_no: u32,
    /// Results per page.
    pub page_size: u32,
    /// Currency of prices.
    pub target_currency: String,
    /// Language of titles.
    pub target_language: String,
    /// Ship-to country filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ship_to_country: Option<String>,
}

/// How a promotion-products answer was produced.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PromotionProductsMetadata {
    /// Data comes from the labelled mock catalog, not AliExpress: say so to the user.
    pub mock_mode: bool,
    /// AliStach version.
    pub api_version: String,
    /// "mock" or "real".
    pub api_integration: String,
    /// Served from the cache.
    pub cache_hit: bool,
    /// Caching is on.
    pub cache_enabled: bool,
    /// HIT, MISS, STALE or BYPASS.
    pub cache_status: String,
    /// Served stale because the upstream was slow or failing.
    pub stale: bool,
    /// Time spent answering, in milliseconds.
    pub processing_time_ms: f64,
    /// The query as understood.
    pub promotion_params: PromotionParams,
}

// ---------------------------------------------------------------------------------------------
// Affiliate links

/// The example of `urls`, so a generated request can reach a successful answer.
const EXAMPLE_PRODUCT_URLS: [&str; 1] = ["https://www.aliexpress.com/item/1005004043442825.html"];

/// Body of `POST /api/affiliate/links`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AffiliateLinksRequest {
    /// AliExpress URLs, 1 to 50: product pages (any AliExpress site or app form, or bare product ids), store pages, campaign pages and share links (s.click.aliexpress.com, a.aliexpress.com). Each gets its own result.
    #[schemars(
        length(min = 1, max = 50),
        example = EXAMPLE_PRODUCT_URLS
    )]
    pub urls: Vec<String>,
    /// "normal" (default) or "hot" (hot-product commission).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["normal", "hot"]), example = &"normal")]
    pub link_type: Option<String>,
}

/// Query of `GET /api/affiliate/link`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AffiliateLinkQuery {
    /// An AliExpress URL: a product page (any AliExpress site or app form, or a bare product id), a store or campaign page, or a share link, e.g. `https://www.aliexpress.com/item/1005004043442825.html`
    #[schemars(example = &"https://www.aliexpress.com/item/1005004043442825.html")]
    pub url: String,
    /// "normal" (default) or "hot" (hot-product commission).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["normal", "hot"]), example = &"normal")]
    pub link_type: Option<String>,
}

/// One affiliate link.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AffiliateLink {
    /// The URL as given.
    pub original_url: String,
    /// The tracked link to share.
    pub affiliate_url: String,
    /// Commission rate when known, e.g. "7.0%".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commission_rate: Option<String>,
    /// The product id read from the URL (product pages only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<String>,
}

/// The result for one input URL: its link, or why there is none.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LinkResult {
    /// The URL as given.
    pub original_url: String,
    /// "converted" (affiliate_url is set) or "not_converted" (reason says why).
    #[schemars(extend("enum" = ["converted", "not_converted"]))]
    pub status: String,
    /// What kind of AliExpress page it is: "product", "store", "share_link" or "campaign".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["product", "store", "share_link", "campaign"]))]
    pub page_type: Option<String>,
    /// The tracked link to share.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affiliate_url: Option<String>,
    /// The product id (product pages only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<String>,
    /// Commission rate when known, e.g. "7.0%".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commission_rate: Option<String>,
    /// Why it was not converted: "invalid_url", "not_aliexpress", "unknown_product" or "not_eligible" (no commission).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["invalid_url", "not_aliexpress", "unknown_product", "not_eligible"]))]
    pub reason: Option<String>,
    /// The reason in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Generated links.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AffiliateLinksData {
    /// One link per URL the platform converted (the v1.1.0 list).
    pub affiliate_links: Vec<AffiliateLink>,
    /// One result per input URL, in request order: the link or the reason there is none.
    #[serde(default)]
    pub results: Vec<LinkResult>,
}

/// How a links answer was produced.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AffiliateLinksMetadata {
    /// Links are mock links, not tracked.
    pub mock_mode: bool,
    /// "mock" or "real".
    pub api_integration: String,
    /// Served from the cache.
    pub cache_hit: bool,
    /// Caching is on.
    pub cache_enabled: bool,
    /// URLs received.
    pub processed_urls: u64,
    /// Links returned.
    pub generated_links: u64,
    /// Served stale because the upstream was slow or failing.
    pub stale: bool,
}

// ---------------------------------------------------------------------------------------------
// Service documents

/// `GET /`: the banner.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RootInfo {
    /// Greeting.
    pub message: String,
    /// AliStach version.
    pub version: String,
    /// "operational".
    pub status: String,
    /// "mock" or "real".
    pub integration: String,
    /// "enabled" or "disabled".
    pub caching: String,
    /// Path of the API page.
    pub docs: String,
    /// Path of the GPT Actions document.
    pub openapi: String,
    /// Path of the health document.
    pub health: String,
    /// Endpoints by operation id, as "METHOD /path".
    pub endpoints: BTreeMap<String, String>,
}

/// Configuration facts inside [`Health`]; never a secret, only whether one is set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ServiceInfo {
    /// An app key is set.
    pub app_key_configured: bool,
    /// An app secret is set.
    pub app_secret_configured: bool,
    /// Affiliate tracking id.
    pub tracking_id: String,
    /// Default language.
    pub language: String,
    /// Default currency.
    pub currency: String,
    /// Deployment environment name.
    pub environment: String,
    /// Debug mode.
    pub debug: bool,
    /// Serving mock data.
    pub mock_mode: bool,
    /// Real credentials are configured.
    pub has_real_credentials: bool,
    /// Kept for v1.1.0 clients: the upstream client is available.
    pub sdk_available: bool,
    /// "mock" or "real".
    pub api_integration: String,
}

/// `GET /health`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Health {
    /// "healthy" or "degraded".
    pub status: String,
    /// Deployment environment name.
    pub environment: String,
    /// Serving mock data.
    pub mock_mode: bool,
    /// Configuration facts.
    pub service_info: ServiceInfo,
    /// AliStach version.
    pub version: String,
    /// "mock" or "real".
    pub api_integration: String,
    /// "memory", "redis" or "redis+memory".
    pub cache_backend: String,
    /// Redis answered the last check (false without Redis).
    pub redis_connected: bool,
}

/// One readiness check.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProbeCheck {
    /// What was checked, e.g. "redis".
    pub name: String,
    /// The check passed.
    pub ok: bool,
    /// Why it failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// `GET /livez` and `GET /readyz`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Probe {
    /// "ok" or "unavailable".
    pub status: String,
    /// Individual checks (readiness only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<ProbeCheck>,
}

/// What the service can do, as v1.1.0 listed it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Capabilities {
    /// Product search.
    pub product_search: bool,
    /// Category listing.
    pub categories: bool,
    /// Affiliate links.
    pub affiliate_links: bool,
    /// Talking to the real AliExpress API.
    pub real_api_integration: bool,
    /// Kept for v1.1.0 clients; AliStach never falls back to mock data silently, so false.
    pub mock_fallback: bool,
    /// Caching is on.
    pub intelligent_caching: bool,
    /// A Redis tier is configured.
    pub redis_caching: bool,
    /// The in-memory tier is on.
    pub memory_fallback: bool,
}

/// Request and cache counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StatusPerformance {
    /// Cache hit rate, e.g. "85.0%".
    pub cache_hit_rate: String,
    /// Cache lookups that hit.
    pub cache_hits: u64,
    /// Cache lookups that missed.
    pub cache_misses: u64,
    /// Seconds since start.
    pub uptime_seconds: u64,
}

/// `GET /api/status` data.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct StatusData {
    /// "operational" or "degraded".
    pub api_status: String,
    /// "mock" or "real".
    pub integration_mode: String,
    /// What the service can do.
    pub capabilities: Capabilities,
    /// Counters.
    pub performance: StatusPerformance,
    /// The same document as `GET /api/cache/stats`.
    pub cache_performance: CacheStatsData,
    /// "mock" or "real" (the same as `integration_mode`).
    #[serde(default)]
    pub mode: String,
    /// Seconds since start.
    #[serde(default)]
    pub uptime_seconds: u64,
    /// Requests answered since start, overall and per route.
    #[serde(default)]
    pub requests: RequestStats,
    /// Hit rate of each cache tier.
    #[serde(default)]
    pub cache_tiers: Vec<TierHitRate>,
    /// Calls to the catalog upstream and the circuit breaker that guards it.
    #[serde(default)]
    pub upstream: UpstreamStatus,
    /// Decisions of the per-client rate limiter.
    #[serde(default)]
    pub rate_limits: RateLimitStatus,
    /// Redis answered the last check (false without Redis).
    #[serde(default)]
    pub redis_connected: bool,
    /// How cache lifetimes are chosen (`CACHE_POLICY`) and, when learned, what was learned.
    #[serde(default)]
    pub cache_policy: CachePolicyStatus,
}

/// `CACHE_POLICY` and what the adaptive policy learned (zeros with `static`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CachePolicyStatus {
    /// "static" (each kind's fixed TTL) or "adaptive" (TTLs learned per key).
    pub policy: String,
    /// Keys remembered now.
    pub keys_tracked: u64,
    /// The most keys remembered (`CACHE_LEARN_MAX_KEYS`).
    pub max_keys: u64,
    /// Refetches compared with the answer stored before.
    pub refetches_compared: u64,
    /// Of those, refetches whose answer had changed.
    pub changes_observed: u64,
    /// Hot entries refreshed ahead of expiry.
    pub refresh_ahead_calls: u64,
    /// Refreshes ahead of expiry the budget refused.
    pub refresh_ahead_denied: u64,
    /// The target share of stale answers (`CACHE_STALE_TARGET`).
    pub stale_target: f64,
    /// Expected share of answers served after their data changed, weighted by request rate.
    pub estimated_stale: f64,
    /// Upstream calls made lately as a share of what fixed TTLs would have made for the same
    /// requests (0 before any).
    pub call_share: f64,
    /// The cap on that share (`CACHE_CALL_BUDGET`; 0 for none).
    pub call_budget: f64,
    /// Mean TTL given when storing, in seconds (null before the first).
    pub mean_ttl_seconds: Option<f64>,
    /// How many stored entries got a TTL in each range.
    pub ttl_distribution: Vec<TtlBucket>,
}

/// TTLs given up to a bound.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TtlBucket {
    /// Upper bound in seconds (inclusive); null for the last, open bucket.
    pub le_seconds: Option<u64>,
    /// Entries stored with a TTL in this bucket (above the previous bound).
    pub count: u64,
}

/// Latency percentiles in milliseconds, estimated from a bucketed histogram; `null` before the
/// first observation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LatencyPercentiles {
    /// Median.
    pub p50: Option<f64>,
    /// 90th percentile.
    pub p90: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
}

/// Requests answered since start.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RequestStats {
    /// Every answered request, routed or not.
    pub total: u64,
    /// 4xx answers.
    pub client_errors: u64,
    /// 5xx answers.
    pub server_errors: u64,
    /// Latency over every request.
    pub latency_ms: LatencyPercentiles,
    /// Per route template (plus `unmatched`), in route-table order.
    pub routes: Vec<RouteStats>,
}

/// One route's requests.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RouteStats {
    /// The route template, e.g. `/api/products/search`, or `unmatched`.
    pub route: String,
    /// HTTP method of the route.
    pub method: String,
    /// Requests answered.
    pub requests: u64,
    /// 4xx answers.
    pub client_errors: u64,
    /// 5xx answers.
    pub server_errors: u64,
    /// Latency of this route.
    pub latency_ms: LatencyPercentiles,
}

/// One cache tier's hit rate.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TierHitRate {
    /// Tier name ("memory", "redis").
    pub tier: String,
    /// Lookups that hit.
    pub hits: u64,
    /// Lookups that missed.
    pub misses: u64,
    /// hits / (hits + misses) * 100, 0 without lookups.
    pub hit_rate_percent: f64,
}

/// The catalog upstream as the gateway sees it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UpstreamStatus {
    /// True when the outbound limiter and circuit breaker guard the upstream (real mode).
    pub guarded: bool,
    /// The outbound limit in calls per second, when guarded.
    pub max_qps: Option<u32>,
    /// Calls that reached the upstream.
    pub calls: u64,
    /// Calls that reached the upstream and failed.
    pub failures: u64,
    /// Calls refused without reaching the upstream because the circuit was open.
    pub short_circuited: u64,
    /// Calls refused by the outbound limiter.
    pub local_quota_rejections: u64,
    /// "closed", "open", "half_open", or "none" when not guarded.
    pub circuit_state: String,
    /// Times the circuit opened.
    pub circuit_opens: u64,
    /// Latency of upstream calls.
    pub latency_ms: LatencyPercentiles,
    /// Per catalog method.
    pub methods: Vec<UpstreamMethodStats>,
}

/// One catalog method's upstream calls.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UpstreamMethodStats {
    /// Method name, e.g. `search_products`.
    pub method: String,
    /// Calls that reached the upstream.
    pub calls: u64,
    /// Of which failed.
    pub failures: u64,
    /// Calls refused because the circuit was open.
    pub short_circuited: u64,
    /// Latency of the calls.
    pub latency_ms: LatencyPercentiles,
}

/// The per-client rate limiter's decisions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RateLimitStatus {
    /// Rate limits are enforced.
    pub enabled: bool,
    /// Requests admitted.
    pub allowed: u64,
    /// Requests refused with 429.
    pub rejected: u64,
    /// Checks answered locally because the shared store failed.
    pub fallbacks: u64,
    /// The shared store is failing and local limits apply.
    pub degraded: bool,
    /// Limits are shared through Redis.
    pub shared: bool,
}

/// `GET /api/status` metadata.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StatusMetadata {
    /// Unix time, seconds.
    pub timestamp: u64,
    /// AliStach version.
    pub version: String,
    /// Deployment environment name.
    pub environment: String,
}

/// Cache counters summed over tiers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CacheCounters {
    /// Lookups that hit.
    pub hits: u64,
    /// Lookups that missed.
    pub misses: u64,
    /// Stores.
    pub sets: u64,
    /// Backend errors.
    pub errors: u64,
    /// hits / (hits + misses) * 100.
    pub hit_rate_percent: f64,
    /// hits + misses.
    pub total_requests: u64,
}

/// Cache configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CacheConfig {
    /// A Redis tier is configured.
    pub redis_available: bool,
    /// Redis answered the last check.
    pub redis_connected: bool,
    /// A Redis URL is set.
    pub redis_url_configured: bool,
    /// Search time-to-live, seconds.
    pub default_ttl: u64,
    /// Entries in the memory tier now.
    pub memory_cache_size: u64,
    /// Capacity of the memory tier.
    pub max_memory_items: u64,
}

/// What the cache saves.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PerformanceImpact {
    /// Upstream calls avoided (cache hits).
    pub estimated_api_calls_saved: u64,
    /// "high" (hit rate 80% or more), "medium" (50% or more) or "low".
    pub cache_efficiency: String,
}

/// Counters of one cache tier.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TierStats {
    /// Tier name, e.g. "memory" or "redis".
    pub name: String,
    /// Lookups that hit.
    pub hits: u64,
    /// Lookups that missed.
    pub misses: u64,
    /// Stores.
    pub sets: u64,
    /// Backend errors.
    pub errors: u64,
    /// Entries evicted for space.
    pub evictions: u64,
    /// Entries held now.
    pub entries: u64,
    /// Approximate bytes held.
    pub bytes: u64,
    /// The backend is reachable.
    pub connected: bool,
}

/// `GET /api/cache/stats` data.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CacheStatsData {
    /// Totals.
    pub cache_stats: CacheCounters,
    /// Configuration.
    pub cache_config: CacheConfig,
    /// Savings.
    pub performance_impact: PerformanceImpact,
    /// Per-tier counters.
    pub tiers: Vec<TierStats>,
}

/// `GET /api/cache/stats` metadata.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CacheStatsMetadata {
    /// Unix time, seconds.
    pub timestamp: u64,
    /// What the numbers mean.
    pub description: String,
}

/// Query of `POST /api/cache/clear`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CacheClearQuery {
    /// Which entries: "products", "categories", "affiliate", "details", "hot", "similar" or "promotions"; all when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["products", "categories", "affiliate", "details", "hot", "similar", "promotions"]))]
    pub pattern: Option<String>,
}

/// `POST /api/cache/clear` data.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CacheClearData {
    /// Entries removed.
    pub cleared_entries: u64,
    /// The pattern, or "all".
    pub pattern: String,
}

/// `POST /api/cache/clear` metadata.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CacheClearMetadata {
    /// Unix time, seconds.
    pub timestamp: u64,
    /// "cache_clear".
    pub operation: String,
}

// ---------------------------------------------------------------------------------------------
// Click tracking
// ---------------------------------------------------------------------------------------------

/// `GET /api/admin/clicks` data: what the click store holds and the counters since start-up.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ClickSummaryData {
    /// `direct` (links go straight to AliExpress; nothing is counted) or `redirect` (links go
    /// through `/r/{token}`).
    pub link_tracking: String,
    /// Where clicks are kept (`memory`: lost on restart).
    pub store: String,
    /// Clicks stored, in all.
    pub total_clicks: u64,
    /// The most clicked products (at most 100), most clicks first.
    pub products: Vec<ProductClickCount>,
    /// What the redirect did since the process started.
    pub since_start: ClickCounters,
}

/// Clicks stored for one product.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProductClickCount {
    /// The AliExpress product id.
    pub product_id: String,
    /// Its clicks.
    pub clicks: u64,
}

/// Click counters since start-up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ClickCounters {
    /// Clicks written to the store.
    pub recorded: u64,
    /// Clicks dropped because the queue was full.
    pub dropped: u64,
    /// Redirects not counted: HEAD requests, link previews, bots, prefetches.
    pub not_counted: u64,
    /// Clicks lost because the store kept failing.
    pub failed: u64,
    /// Clicks waiting to be written.
    pub queued: u64,
    /// How many clicks the queue holds at most.
    pub queue_capacity: u64,
}

/// `GET /api/admin/clicks` metadata.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ClickSummaryMetadata {
    /// Unix time, seconds.
    pub timestamp: u64,
}

// ---------------------------------------------------------------------------------------------
// Alerts
// ---------------------------------------------------------------------------------------------

/// `GET /api/admin/alerts` data: every built-in rule as this instance evaluates it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AlertsData {
    /// The rules, in a fixed order.
    pub rules: Vec<AlertRuleInfo>,
}

/// One alert rule's state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AlertRuleInfo {
    /// The rule (the Prometheus alert's name in snake case, e.g. `upstream_error_ratio_high`
    /// for `AliStachUpstreamErrorRatioHigh`).
    pub rule: String,
    /// `inactive`, `pending`, `firing` or `resolved`.
    #[schemars(extend("enum" = ["inactive", "pending", "firing", "resolved"]))]
    pub state: String,
    /// Since when (RFC 3339); absent when inactive since start-up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// The rule holds while the value is above this.
    pub threshold: f64,
    /// Seconds the condition must hold before the rule fires (`ALERT_FOR`, or the rule's
    /// entry in `ALERT_FOR_OVERRIDES`).
    pub for_seconds: u64,
    /// `ratio`, `boolean` (1 holds), `count` (in the last interval) or `seconds`.
    #[schemars(extend("enum" = ["ratio", "boolean", "count", "seconds"]))]
    pub unit: String,
    /// The value at the last evaluation; absent without data (no calls, no Redis, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// The last transitions, oldest first (at most 20).
    pub history: Vec<AlertHistoryEntry>,
}

/// One transition of an alert rule.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AlertHistoryEntry {
    /// The state entered.
    #[schemars(extend("enum" = ["inactive", "pending", "firing", "resolved"]))]
    pub state: String,
    /// When (RFC 3339).
    pub at: String,
    /// The value then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
}

/// `GET /api/admin/alerts` metadata.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AlertsMetadata {
    /// Unix time, seconds.
    pub timestamp: u64,
    /// Seconds between evaluations (`ALERT_EVAL_INTERVAL`).
    pub eval_interval_seconds: u64,
    /// Seconds a condition must hold before its rule fires (`ALERT_FOR`).
    pub for_seconds: u64,
}

/// Defaults the service applies.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SystemConfiguration {
    /// Default language.
    pub language: String,
    /// Default currency.
    pub currency: String,
    /// Affiliate tracking id.
    pub tracking_id: String,
}

/// `GET /system/info`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SystemInfo {
    /// "AliStach".
    pub service: String,
    /// AliStach version.
    pub version: String,
    /// Deployment environment name.
    pub environment: String,
    /// Serving mock data.
    pub mock_mode: bool,
    /// "mock" or "real".
    pub api_integration: String,
    /// Real credentials are configured.
    pub has_real_credentials: bool,
    /// Kept for v1.1.0 clients: the upstream client is available.
    pub sdk_available: bool,
    /// Defaults.
    pub configuration: SystemConfiguration,
    /// Endpoints by operation id, as "METHOD /path".
    pub endpoints: BTreeMap<String, String>,
}

// ---------------------------------------------------------------------------------------------
// Errors

/// One invalid input field.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FieldError {
    /// The field name, e.g. "page_size".
    pub field: String,
    /// The rule it broke, e.g. "must be between 1 and 50".
    pub rule: String,
}

impl FieldError {
    /// A field error.
    pub fn new(field: impl Into<String>, rule: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            rule: rule.into(),
        }
    }
}

/// Why an upstream call failed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UpstreamCause {
    /// Failure class, e.g. "timeout", "rate_limited", "auth", "unavailable".
    pub kind: String,
    /// The platform's error code when it sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Retrying later may succeed.
    pub retryable: bool,
}

/// An RFC 9457 problem+json error body.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Problem {
    /// Problem type URI, e.g. `https://alistach.dev/problems/validation`
    #[serde(rename = "type")]
    pub type_: String,
    /// Short, stable title of the problem type.
    pub title: String,
    /// HTTP status code.
    pub status: u16,
    /// What went wrong in this request.
    pub detail: String,
    /// The request path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Request id, also sent as x-request-id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Invalid fields (validation problems).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
    /// Upstream failure (upstream problems).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<UpstreamCause>,
    /// Seconds to wait before retrying, also sent as Retry-After.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u64>,
}

impl Problem {
    /// A problem whose type is `PROBLEM_TYPE_BASE` + `slug` (e.g. "validation").
    pub fn new(
        slug: &str,
        title: impl Into<String>,
        status: u16,
        detail: impl Into<String>,
    ) -> Self {
        Problem {
            type_: format!("{PROBLEM_TYPE_BASE}{slug}"),
            title: title.into(),
            status,
            detail: detail.into(),
            ..Problem::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn search_request_accepts_number_or_string_prices() {
        let r: SearchRequest = serde_json::from_value(json!({
            "keywords": "phone", "min_sale_price": 10.99, "max_sale_price": "25.50", "page_size": 20
        }))
        .unwrap();
        assert_eq!(
            r.min_sale_price.as_ref().map(PriceInput::as_str),
            Some("10.99")
        );
        assert_eq!(
            r.max_sale_price.as_ref().map(PriceInput::as_str),
            Some("25.50")
        );
        assert_eq!(r.page_size, Some(20));
        let r: SearchRequest = serde_json::from_value(json!({"min_sale_price": 7})).unwrap();
        assert_eq!(r.min_sale_price.unwrap().as_str(), "7");
        let back = serde_json::to_value(SearchRequest {
            max_sale_price: Some(PriceInput::new(" 3.5 ")),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(back, json!({"max_sale_price": "3.5"}));
    }

    #[test]
    fn search_request_rejects_unknown_fields_and_bad_types() {
        let err = serde_json::from_value::<SearchRequest>(json!({"keywords": "x", "pagesize": 5}))
            .unwrap_err();
        assert!(err.to_string().contains("pagesize"), "{err}");
        assert!(serde_json::from_value::<SearchRequest>(json!({"min_sale_price": true})).is_err());
        assert!(serde_json::from_value::<SearchRequest>(json!({"page_size": -5})).is_err());
        assert!(serde_json::from_value::<SearchRequest>(json!({"page_size": "ten"})).is_err());
    }

    #[test]
    fn product_keeps_v1_fields_and_skips_absent_additions() {
        let p = Product {
            product_id: "1".into(),
            discount: "50%".into(),
            ..Product::default()
        };
        let v = serde_json::to_value(&p).unwrap();
        let obj = v.as_object().unwrap();
        for field in [
            "product_id",
            "product_title",
            "product_url",
            "app_sale_price",
            "original_price",
            "discount",
            "evaluate_rate",
            "commission_rate",
            "product_main_image_url",
            "shop_id",
            "shop_url",
        ] {
            assert!(obj.contains_key(field), "{field}");
        }
        assert_eq!(
            obj.len(),
            11,
            "optional additions must be skipped when absent: {v}"
        );
        assert_eq!(v["discount"], "50%");
    }

    #[test]
    fn problem_serializes_type_and_skips_empty_parts() {
        let mut p = Problem::new(
            "validation",
            "Invalid request",
            400,
            "page_size must be between 1 and 50",
        );
        p.errors = Some(vec![FieldError::new(
            "page_size",
            "must be between 1 and 50",
        )]);
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["type"], "https://alistach.dev/problems/validation");
        assert_eq!(v["status"], 400);
        assert_eq!(v["errors"][0]["field"], "page_size");
        assert!(v.get("upstream").is_none() && v.get("instance").is_none());
        let back: Problem = serde_json::from_value(v).unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn envelope_has_the_v1_shape() {
        let e = CategoriesResponse::ok(
            CategoriesData {
                categories: vec![Category {
                    category_id: "2".into(),
                    category_name: "Food".into(),
                    ..Default::default()
                }],
            },
            CategoriesMetadata {
                total_categories: 1,
                api_integration: "mock".into(),
                mock_mode: true,
                ..Default::default()
            },
        );
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["success"], true);
        assert_eq!(v["data"]["categories"][0]["category_id"], "2");
        assert!(
            v["data"]["categories"][0].get("children").is_none(),
            "empty children are left out"
        );
        assert_eq!(v["metadata"]["total_categories"], 1);
    }
}

// ---------------------------------------------------------------------------------------------
// Orders and revenue (admin)

/// `GET /api/admin/orders`.
pub type OrdersResponse = Envelope<OrdersData, AdminMetadata>;
/// `POST /api/admin/orders/sync`.
pub type OrderSyncResponse = Envelope<OrderSyncData, AdminMetadata>;
/// `GET /api/admin/revenue` (JSON).
pub type RevenueResponse = Envelope<RevenueData, AdminMetadata>;
/// `POST /api/admin/experiments` and `POST /api/admin/experiments/{id}/stop`.
pub type ExperimentResponse = Envelope<ExperimentInfo, AdminMetadata>;
/// `GET /api/admin/experiments`.
pub type ExperimentsResponse = Envelope<ExperimentList, AdminMetadata>;
/// `GET /api/admin/experiments/{id}`.
pub type ExperimentReportResponse = Envelope<ExperimentReportData, AdminMetadata>;

/// The order statuses the platform reports.
pub const ORDER_STATUSES: [&str; 4] = [
    "Payment Completed",
    "Buyer Confirmed Receipt",
    "Completed Settlement",
    "Invalid",
];

/// Query of `GET /api/admin/orders`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrdersQuery {
    /// Orders paid (else created) at or after this time: `YYYY-MM-DD` (UTC midnight) or
    /// `YYYY-MM-DDTHH:MM:SSZ`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Orders paid (else created) before this time: `YYYY-MM-DDTHH:MM:SSZ`, or `YYYY-MM-DD`
    /// for up to the end of that day (UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Only orders with this status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ORDER_STATUSES))]
    pub status: Option<String>,
    /// Only orders earned by this tracking id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub tracking_id: Option<String>,
    /// 1-based page number (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1_000_000))]
    pub page: Option<u32>,
    /// Orders per page, 1 to 200 (default 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 200))]
    pub page_size: Option<u32>,
}

/// One status an order reached.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrderStatusChange {
    /// The status.
    pub status: String,
    /// The status before, absent for the first one seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    /// When the sync saw it (UTC, `YYYY-MM-DDTHH:MM:SSZ`).
    pub observed_at: String,
}

/// One sub-order. Ids are strings: they exceed what a JSON number holds exactly in most
/// clients. Money is exact decimal text in `currency`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrderItem {
    /// The sub-order (one product line): the key.
    pub sub_order_id: String,
    /// The buyer's order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    /// The status now.
    pub status: String,
    /// The tracking id that earned it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_id: Option<String>,
    /// The product.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<String>,
    /// Its title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_title: Option<String>,
    /// Its category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category_id: Option<String>,
    /// Units bought.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_count: Option<u64>,
    /// Amount paid.
    pub paid_amount: String,
    /// Amount after completion, once finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_amount: Option<String>,
    /// Estimated commission on payment.
    pub estimated_commission: String,
    /// Estimated commission on completion, once finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_commission: Option<String>,
    /// The commission rate as the platform wrote it, e.g. `7.00%`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commission_rate: Option<String>,
    /// The currency of the amounts.
    pub currency: String,
    /// The time the order is filed under: paid, else created, else first seen (UTC).
    pub order_time: String,
    /// When it was paid (UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paid_at: Option<String>,
    /// When it finished (UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// The sub-id parameters the link carried (JSON text, as the platform sent it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_parameters: Option<String>,
    /// Destination country.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ship_to_country: Option<String>,
    /// True for an order of the labelled mock order book (mock mode).
    pub mock: bool,
    /// When the sync first stored it (UTC).
    pub first_seen_at: String,
    /// When a sync last changed it (UTC).
    pub updated_at: String,
    /// Every status it went through, oldest first.
    pub status_history: Vec<OrderStatusChange>,
}

/// `GET /api/admin/orders` data.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrdersData {
    /// The page, newest first.
    pub orders: Vec<OrderItem>,
    /// This page's number.
    pub page: u32,
    /// Orders per page.
    pub page_size: u32,
    /// Orders the filters select, over all pages.
    pub total: u64,
}

/// Metadata of the admin answers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AdminMetadata {
    /// Unix time, seconds.
    pub timestamp: u64,
    /// True in mock mode: the orders are the labelled mock order book's, not AliExpress's.
    pub mock_mode: bool,
    /// Where the orders are kept: `sqlite` or `postgres`.
    pub store: String,
}

/// `POST /api/admin/orders/sync` data.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrderSyncData {
    /// Orders the platform listed.
    pub fetched: u64,
    /// Orders stored for the first time.
    pub inserted: u64,
    /// Stored orders that changed.
    pub updated: u64,
    /// Status changes recorded.
    pub status_changes: u64,
    /// Orders already stored as listed.
    pub unchanged: u64,
    /// Pages fetched.
    pub pages: u64,
    /// When the run started (UTC).
    pub started_at: String,
    /// When it finished (UTC).
    pub finished_at: String,
}

/// How `GET /api/admin/revenue` groups orders.
pub const REVENUE_GROUPS: [&str; 5] = ["day", "tracking_id", "product", "category", "variant"];

/// Query of `GET /api/admin/revenue`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RevenueQuery {
    /// Orders at or after: `YYYY-MM-DD` (UTC midnight) or `YYYY-MM-DDTHH:MM:SSZ`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Orders before: `YYYY-MM-DDTHH:MM:SSZ`, or `YYYY-MM-DD` for up to the end of that day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Grouping: `day` (UTC day of the order time, the default), `tracking_id`, `product`
    /// (product id), `category` (category id) or `variant` (the A/B experiment variant's
    /// name the order's sub-ids name; `(none)` for orders of no experiment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = REVENUE_GROUPS))]
    pub group_by: Option<String>,
    /// Only orders attributed to this experiment (its id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub experiment: Option<u64>,
    /// Only orders with this status; without it, every status but `Invalid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ORDER_STATUSES))]
    pub status: Option<String>,
    /// Only orders earned by this tracking id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub tracking_id: Option<String>,
    /// `json` (the default) or `csv` (`text/csv`: a header row, the groups, then one `total`
    /// row per currency).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["json", "csv"]))]
    pub format: Option<String>,
}

/// One group's sums, in one currency; money as exact decimal text.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RevenueGroupItem {
    /// The group (a `YYYY-MM-DD` day, tracking id, product id, category id or variant name),
    /// `(none)` for orders without it, or `total`.
    pub key: String,
    /// Orders in the group.
    pub orders: u64,
    /// Sum of paid amounts.
    pub paid_amount: String,
    /// Sum of estimated commissions on payment.
    pub estimated_commission: String,
    /// Sum of estimated commissions on completion (finished orders).
    pub finished_commission: String,
    /// The currency of the sums.
    pub currency: String,
}

/// `GET /api/admin/revenue` data.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RevenueData {
    /// The grouping.
    pub group_by: String,
    /// The groups in key order (a group per currency when orders settled in several).
    pub groups: Vec<RevenueGroupItem>,
    /// One total per currency.
    pub totals: Vec<RevenueGroupItem>,
}

/// The link types a variant may hand out.
pub const VARIANT_LINK_TYPES: [&str; 2] = ["normal", "hot"];
/// How an experiment splits traffic.
pub const ALLOCATIONS: [&str; 2] = ["fixed", "bandit"];

/// One variant of `POST /api/admin/experiments`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewVariantRequest {
    /// Unique within the experiment: letters, digits, `-` and `_` (its links carry it as the
    /// `cv` sub-id).
    #[schemars(length(min = 1, max = 32), regex(pattern = r"^[A-Za-z0-9_-]+$"))]
    pub name: String,
    /// Its share of traffic relative to the other variants' (fixed allocation); default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub weight: Option<u32>,
    /// `normal` (promotion_link_type 0, the default) or `hot` (2, hot-product commission).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = VARIANT_LINK_TYPES))]
    pub link_type: Option<String>,
    /// The tracking id its links earn for; the deployment's when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9_-]+$"))]
    pub tracking_id: Option<String>,
}

/// Body of `POST /api/admin/experiments`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewExperimentRequest {
    /// A name for people.
    #[schemars(length(min = 1, max = 100))]
    pub name: String,
    /// Two to eight variants; the first is the control the others are tested against.
    #[schemars(length(min = 2, max = 8))]
    pub variants: Vec<NewVariantRequest>,
    /// `fixed` (by weight, the default) or `bandit` (Thompson sampling on earnings per
    /// click, with a floor for every variant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ALLOCATIONS))]
    pub allocation: Option<String>,
    /// Bandit allocation: the least share of traffic each variant keeps, from 0 to an equal
    /// share; default 0.1 (or an equal share, if smaller).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 0.5))]
    pub min_share: Option<f64>,
}

/// A variant as stored.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct VariantInfo {
    /// Its name (the `cv` sub-id of its links).
    pub name: String,
    /// Its weight.
    pub weight: u32,
    /// `normal` or `hot`.
    pub link_type: String,
    /// The tracking id its links earn for (the deployment's when null).
    pub tracking_id: Option<String>,
}

/// An experiment.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ExperimentInfo {
    /// Its id (its links carry `cn=ab<id>`).
    pub id: u64,
    /// Its name.
    pub name: String,
    /// `running` or `stopped`.
    pub status: String,
    /// `fixed` or `bandit`.
    pub allocation: String,
    /// Bandit allocation: the least share each variant keeps.
    pub min_share: f64,
    /// When it was created (UTC, `YYYY-MM-DDTHH:MM:SSZ`).
    pub created_at: String,
    /// When it was stopped (UTC), null while it runs.
    pub stopped_at: Option<String>,
    /// The variants; the first is the control.
    pub variants: Vec<VariantInfo>,
}

/// `GET /api/admin/experiments` data.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ExperimentList {
    /// Every experiment, newest first.
    pub experiments: Vec<ExperimentInfo>,
}

/// A 95% interval.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Interval {
    /// Lower bound.
    pub low: f64,
    /// Upper bound.
    pub high: f64,
}

/// A test of a variant against the control.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SignificanceTest {
    /// Two-sided p-value.
    pub p_value: f64,
    /// True when `p_value` is below 0.05.
    pub significant: bool,
}

/// A variant's results against the control (null for the control itself).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct VersusControl {
    /// Conversion (orders per click): a two-proportion z-test; null without clicks on
    /// either side.
    pub conversion: Option<SignificanceTest>,
    /// Earnings per click: Welch's z-test; null with fewer than two clicks on either side.
    pub epc: Option<SignificanceTest>,
}

/// One variant's results.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct VariantReport {
    /// The variant's name.
    pub name: String,
    /// `normal` or `hot`.
    pub link_type: String,
    /// The tracking id its links earn for (the deployment's when null).
    pub tracking_id: Option<String>,
    /// Its share of traffic now (0 once the experiment is stopped).
    pub share: f64,
    /// Links it handed out (each product of an answer, each converted link).
    pub links: u64,
    /// Clicks on its tracked links (LINK_TRACKING=redirect; 0 otherwise).
    pub clicks: u64,
    /// Orders attributed to it by their sub-ids (`Invalid` ones left out).
    pub orders: u64,
    /// Orders per click; null without clicks.
    pub conversion: Option<f64>,
    /// 95% Wilson interval of the conversion; null without clicks.
    pub conversion_interval: Option<Interval>,
    /// Sum of the orders' paid amounts, exact decimal text.
    pub paid_amount: String,
    /// Sum of their commissions (finished where known, else estimated), exact decimal text.
    pub commission: String,
    /// Earnings per click, decimal text rounded to 4 places; null without clicks.
    pub epc: Option<String>,
    /// 95% interval of the earnings per click; null with fewer than two clicks.
    pub epc_interval: Option<Interval>,
    /// The currency of the money fields; null without orders.
    pub currency: Option<String>,
    /// Currencies of orders left out of the sums (settled in another currency).
    pub other_currencies: Vec<String>,
    /// Against the first variant (the control); null for the control.
    pub versus_control: Option<VersusControl>,
}

/// `GET /api/admin/experiments/{id}` data.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ExperimentReportData {
    /// The experiment.
    pub experiment: ExperimentInfo,
    /// One row per variant, in the experiment's order.
    pub variants: Vec<VariantReport>,
}

/// `POST /api/admin/webhooks`, `GET|PATCH /api/admin/webhooks/{id}`.
pub type WebhookResponse = Envelope<WebhookInfo, AdminMetadata>;
/// `GET /api/admin/webhooks`.
pub type WebhooksResponse = Envelope<WebhookList, AdminMetadata>;
/// `DELETE /api/admin/webhooks/{id}`.
pub type WebhookDeletedResponse = Envelope<WebhookDeleted, AdminMetadata>;
/// `POST /api/admin/webhooks/{id}/test` and `…/deliveries/{delivery}/retry`.
pub type DeliveryResponse = Envelope<DeliveryInfo, AdminMetadata>;
/// `GET /api/admin/webhooks/{id}/deliveries`.
pub type DeliveriesResponse = Envelope<DeliveryList, AdminMetadata>;

/// The event types a webhook endpoint can receive.
pub const WEBHOOK_EVENTS: [&str; 7] = [
    "order.created",
    "order.status_changed",
    "order.settled",
    "product.price_changed",
    "product.unavailable",
    "alert.firing",
    "alert.resolved",
];

/// An event type an endpoint can subscribe to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum WebhookEventType {
    /// An order was seen for the first time.
    #[serde(rename = "order.created")]
    OrderCreated,
    /// A stored order's status changed.
    #[serde(rename = "order.status_changed")]
    OrderStatusChanged,
    /// An order reached Completed Settlement.
    #[serde(rename = "order.settled")]
    OrderSettled,
    /// A watched product's price met the watch's condition.
    #[serde(rename = "product.price_changed")]
    ProductPriceChanged,
    /// A watched product is no longer available.
    #[serde(rename = "product.unavailable")]
    ProductUnavailable,
    /// An alert started firing.
    #[serde(rename = "alert.firing")]
    AlertFiring,
    /// An alert resolved.
    #[serde(rename = "alert.resolved")]
    AlertResolved,
}

impl WebhookEventType {
    /// The name receivers see in `type`.
    pub const fn as_str(self) -> &'static str {
        WEBHOOK_EVENTS[self as usize]
    }
}

/// Body of `POST /api/admin/webhooks`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhookRequest {
    /// Where events are POSTed: an http(s) URL (private, loopback and link-local addresses
    /// only with `WEBHOOK_ALLOW_PRIVATE=true`).
    #[schemars(
        length(min = 1, max = 2048),
        regex(pattern = r"^https?://[^\s/?#]+([/?#]\S*)?$")
    )]
    pub url: String,
    /// The event types it receives.
    #[schemars(length(min = 1, max = 7))]
    pub events: Vec<WebhookEventType>,
    /// A note for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 500))]
    pub description: Option<String>,
}

/// Body of `PATCH /api/admin/webhooks/{id}`: each field present replaces the stored one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookUpdateRequest {
    /// A new URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 2048),
        regex(pattern = r"^https?://[^\s/?#]+([/?#]\S*)?$")
    )]
    pub url: Option<String>,
    /// New event types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 7))]
    pub events: Option<Vec<WebhookEventType>>,
    /// A new description; empty clears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 500))]
    pub description: Option<String>,
    /// `false` disables the endpoint (no new deliveries; pending ones wait), `true` enables
    /// it again (and forgets its failures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// A webhook endpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WebhookInfo {
    /// Its id.
    pub id: u64,
    /// Where events are POSTed.
    pub url: String,
    /// The event types it receives.
    pub events: Vec<String>,
    /// A note for people.
    pub description: Option<String>,
    /// False when disabled.
    pub enabled: bool,
    /// Why AliStach disabled it (it kept failing), if it did.
    pub disabled_reason: Option<String>,
    /// Since when every attempt to it has failed (UTC), if it is failing.
    pub failing_since: Option<String>,
    /// When it was added (UTC).
    pub created_at: String,
    /// When it was last changed (UTC).
    pub updated_at: String,
    /// The signing secret (`whsec_…`): only in the answer that created the endpoint. Verify
    /// `webhook-signature` with it (Standard Webhooks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// `GET /api/admin/webhooks` data.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WebhookList {
    /// Every endpoint, oldest first.
    pub webhooks: Vec<WebhookInfo>,
}

/// `DELETE /api/admin/webhooks/{id}` data.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WebhookDeleted {
    /// The endpoint removed.
    pub id: u64,
    /// Always true.
    pub deleted: bool,
}

/// Query of `GET /api/admin/webhooks/{id}/deliveries`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveriesQuery {
    /// At most this many deliveries (default 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 500))]
    pub limit: Option<u32>,
}

/// One attempt to deliver.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AttemptInfo {
    /// When (UTC).
    pub at: String,
    /// The receiver's HTTP status, if it answered.
    pub status: Option<u16>,
    /// How long it took, ms.
    pub latency_ms: u64,
    /// What went wrong, if anything.
    pub error: Option<String>,
}

/// One event to one endpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DeliveryInfo {
    /// The delivery's id (for the retry endpoint).
    pub id: u64,
    /// The event's id: the `webhook-id` header of every attempt.
    pub event_id: String,
    /// The event's type.
    pub event_type: String,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    /// Attempts made.
    pub attempts: u32,
    /// When the next attempt is due (UTC), while pending.
    pub next_attempt_at: Option<String>,
    /// When the delivery was made (UTC).
    pub created_at: String,
    /// When an attempt succeeded (UTC).
    pub delivered_at: Option<String>,
    /// Every attempt, oldest first (empty in the test and retry answers).
    pub attempt_log: Vec<AttemptInfo>,
}

/// `GET /api/admin/webhooks/{id}/deliveries` data.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DeliveryList {
    /// The deliveries, newest first.
    pub deliveries: Vec<DeliveryInfo>,
}

/// The body of every webhook POST (Standard Webhooks): signed with the endpoint's secret in
/// `webhook-signature` over `webhook-id`, `webhook-timestamp` and this body.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WebhookEvent<D> {
    /// The event type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// When it happened (UTC, RFC 3339).
    pub timestamp: String,
    /// What happened.
    pub data: D,
}

/// The experiment variant an order is attributed to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrderEventExperiment {
    /// The experiment's id.
    pub id: u64,
    /// The variant's name.
    pub variant: String,
}

/// `data` of `order.created`, `order.status_changed` and `order.settled`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrderEventData {
    /// The sub-order (decimal text).
    pub sub_order_id: String,
    /// The parent order.
    pub order_id: Option<String>,
    /// The status now.
    pub status: String,
    /// The status before (null for `order.created`).
    pub previous_status: Option<String>,
    /// The tracking id that earned it.
    pub tracking_id: Option<String>,
    /// The product.
    pub product_id: Option<String>,
    /// Its title.
    pub product_title: Option<String>,
    /// Amount paid, exact decimal text.
    pub paid_amount: String,
    /// Estimated commission on payment, exact decimal text.
    pub estimated_commission: String,
    /// Commission on completion, once finished.
    pub finished_commission: Option<String>,
    /// Settlement currency.
    pub currency: String,
    /// True for the labelled mock order book's orders.
    pub mock: bool,
    /// The experiment variant its sub-ids name, if any.
    pub experiment: Option<OrderEventExperiment>,
}

/// `data` of the alert events (`alert.firing`, `alert.resolved`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AlertEventData {
    /// The rule (as `GET /api/admin/alerts` names it).
    pub rule: String,
    /// `firing` or `resolved`.
    #[schemars(extend("enum" = ["firing", "resolved"]))]
    pub state: String,
    /// One line for people: the value and the threshold.
    pub summary: String,
    /// When the rule entered this state (RFC 3339).
    pub since: String,
}

/// `data` of the test event (`webhook.test`) `POST /api/admin/webhooks/{id}/test` sends.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TestEventData {
    /// The endpoint it was sent to.
    pub endpoint_id: String,
    /// A sentence.
    pub message: String,
}

/// `POST /api/admin/watches`.
pub type WatchResponse = Envelope<WatchInfo, AdminMetadata>;
/// `GET /api/admin/watches`.
pub type WatchesResponse = Envelope<WatchList, AdminMetadata>;
/// `DELETE /api/admin/watches/{id}`.
pub type WatchDeletedResponse = Envelope<WatchDeleted, AdminMetadata>;

/// Body of `POST /api/admin/watches`: the product (`product_id` or `url`, exactly one) and
/// the condition of `product.price_changed` (`target_price`, `price_drop_percent`, either
/// suffices; with neither, any price change).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWatchRequest {
    /// The product's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]{1,20}$"), example = &"1005006123456789")]
    pub product_id: Option<String>,
    /// An AliExpress product page URL (instead of `product_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    pub url: Option<String>,
    /// Notify when the price falls at least this percentage below the first price seen (or
    /// the last one notified).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 99))]
    pub price_drop_percent: Option<u32>,
    /// Notify when the price is at or below this (a decimal above zero).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]{1,12}(\.[0-9]{1,8})?$"), example = &"19.99")]
    pub target_price: Option<String>,
    /// ISO currency prices are watched in (default USD).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = CURRENCIES), example = &"USD")]
    pub currency: Option<String>,
    /// Two-letter country code the product must ship to, e.g. US.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Za-z]{2}$"), example = &"US")]
    pub ship_to_country: Option<String>,
}

/// A product watch and what its checks last saw.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WatchInfo {
    /// Its id.
    pub id: u64,
    /// The watched product (as text: ids exceed JSON's exact integers).
    pub product_id: String,
    /// The drop that is notified, in percent.
    pub price_drop_percent: Option<u32>,
    /// The price at or below which a change is notified (exact decimal).
    pub target_price: Option<String>,
    /// The currency of the prices.
    pub currency: String,
    /// The country the product must ship to.
    pub ship_to_country: Option<String>,
    /// When it was added (UTC).
    pub created_at: String,
    /// The price drops are measured from (exact decimal), once checked.
    pub baseline_price: Option<String>,
    /// The price last seen (exact decimal), once checked.
    pub last_price: Option<String>,
    /// Whether the product was available at the last check (absent before the first).
    pub available: Option<bool>,
    /// When it was last checked (UTC).
    pub checked_at: Option<String>,
}

/// `GET /api/admin/watches` data.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WatchList {
    /// Every watch, oldest first.
    pub watches: Vec<WatchInfo>,
}

/// `DELETE /api/admin/watches/{id}` data.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WatchDeleted {
    /// The watch removed.
    pub id: u64,
    /// Always true.
    pub deleted: bool,
}

/// `data` of `product.price_changed` and `product.unavailable`, the watch job's events.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProductEventData {
    /// The watch that saw the change.
    pub watch_id: String,
    /// The product.
    pub product_id: String,
    /// The price seen before (exact decimal), if one was.
    pub previous_price: Option<String>,
    /// The price now (exact decimal); null when the product is unavailable.
    pub price: Option<String>,
    /// The currency of both prices.
    pub currency: String,
    /// The product's page.
    pub product_url: String,
}

/// The metrics `GET /api/admin/analytics/timeseries` plots.
pub const ANALYTICS_METRICS: [&str; 11] = [
    "requests",
    "errors",
    "p50_ms",
    "p99_ms",
    "cache_hit_ratio",
    "upstream_calls",
    "upstream_calls_saved",
    "zero_result_searches",
    "clicks",
    "orders",
    "commission",
];
/// The steps of `GET /api/admin/analytics/timeseries`.
pub const ANALYTICS_STEPS: [&str; 3] = ["minute", "hour", "day"];

/// `GET /api/admin/analytics/overview`.
pub type AnalyticsOverviewResponse = Envelope<AnalyticsOverviewData, AdminMetadata>;
/// `GET /api/admin/analytics/timeseries`.
pub type AnalyticsTimeseriesResponse = Envelope<AnalyticsTimeseriesData, AdminMetadata>;
/// `GET /api/admin/analytics/keywords`.
pub type AnalyticsKeywordsResponse = Envelope<AnalyticsKeywordsData, AdminMetadata>;

/// Query of `GET /api/admin/analytics/overview`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnalyticsOverviewQuery {
    /// Calls at or after: `YYYY-MM-DD` (UTC midnight) or `YYYY-MM-DDTHH:MM:SSZ`; by default
    /// 24 hours before `to`. Counted per minute: a minute belongs to the range when it starts in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Calls before: `YYYY-MM-DDTHH:MM:SSZ`, or `YYYY-MM-DD` for up to the end of that day; by
    /// default the end of the current minute, so the range includes the current minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// Query of `GET /api/admin/analytics/timeseries`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnalyticsTimeseriesQuery {
    /// What to plot (`requests` by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ANALYTICS_METRICS))]
    pub metric: Option<String>,
    /// As in the overview: `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SSZ`; by default 24 hours before `to`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// As in the overview; by default the end of the current minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// The width of a point: `minute`, `hour` or `day`. By default `minute` for ranges up to
    /// 6 hours, `hour` up to 14 days, `day` beyond. At most 1500 points per answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ANALYTICS_STEPS))]
    pub step: Option<String>,
    /// For `commission`: the currency summed (ISO 4217; `USD` by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 3, max = 3))]
    pub currency: Option<String>,
}

/// Query of `GET /api/admin/analytics/keywords`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnalyticsKeywordsQuery {
    /// As in the overview: `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SSZ`; by default 24 hours before `to`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// As in the overview; by default the end of the current minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Keywords per list (20 by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 200))]
    pub limit: Option<u32>,
}

/// Latency percentiles over a range, in milliseconds, from a histogram with fixed buckets (1 ms
/// to 10 s), interpolated within the bucket holding the percentile; `null` when the range holds
/// no call.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AnalyticsLatency {
    /// Median.
    pub p50: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
}

/// How cacheable calls were answered.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AnalyticsCache {
    /// Answered from a fresh cache entry.
    pub hits: u64,
    /// Answered from a stale entry (while refreshing, or after an upstream error).
    pub stale: u64,
    /// Fetched upstream (`MISS`, `BYPASS` and `EXPIRED`).
    pub misses: u64,
    /// Waited for another request's fetch of the same question (coalesced).
    pub coalesced: u64,
    /// `(hits + stale + coalesced) / (hits + stale + coalesced + misses)`; `null` without
    /// cacheable calls.
    pub hit_ratio: Option<f64>,
}

/// An amount of money in one currency, as exact decimal text.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AnalyticsAmount {
    /// ISO 4217 code.
    pub currency: String,
    /// Exact decimal text, e.g. `"12.34"`.
    pub amount: String,
}

/// One route's calls in the overview.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AnalyticsRouteItem {
    /// The route's operation id; `callMcp:<tool>` for an MCP tool call (`callMcp` for other
    /// MCP messages).
    pub route: String,
    /// Calls.
    pub requests: u64,
    /// Calls answered 4xx or 5xx.
    pub errors: u64,
}

/// One client's calls in the overview.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AnalyticsClientItem {
    /// The API key's name, else `addr:<address or /64 prefix>` (as the rate limits name it).
    pub client: String,
    /// Calls.
    pub requests: u64,
}

/// `GET /api/admin/analytics/overview` data.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AnalyticsOverviewData {
    /// The range's start (RFC 3339, UTC, a minute's start).
    pub from: String,
    /// The range's end, exclusive (RFC 3339, UTC).
    pub to: String,
    /// API and MCP calls in the range: every route but `/`, `/r/{token}`, the probes
    /// (`/health`, `/livez`, `/readyz`), `/metrics`, the OpenAPI documents and the API page.
    pub requests: u64,
    /// Calls answered 4xx or 5xx.
    pub errors: u64,
    /// Calls answered 4xx.
    pub client_errors: u64,
    /// Calls answered 5xx.
    pub server_errors: u64,
    /// Latency percentiles.
    pub latency_ms: AnalyticsLatency,
    /// Cache statuses of the cacheable calls.
    pub cache: AnalyticsCache,
    /// Calls that went to the upstream (AliExpress, or the mock catalog in mock mode).
    pub upstream_calls: u64,
    /// Calls that would have gone upstream without the cache: hits, stale answers and
    /// coalesced waits.
    pub upstream_calls_saved: u64,
    /// Searches that found nothing.
    pub zero_result_searches: u64,
    /// Tracked-link clicks stored in the range.
    pub clicks: u64,
    /// Orders placed in the range (every status but `Invalid`).
    pub orders: u64,
    /// Their estimated commission, one item per currency.
    pub commission: Vec<AnalyticsAmount>,
    /// Calls per route, most called first.
    pub routes: Vec<AnalyticsRouteItem>,
    /// Calls per client, most calling first (at most 20).
    pub clients: Vec<AnalyticsClientItem>,
}

/// One point of a time series.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AnalyticsPoint {
    /// The start of the step (RFC 3339, UTC).
    pub t: String,
    /// The value; `null` where it is undefined (a percentile or ratio without calls).
    /// `commission` is the sum in `currency` as a number (see `amount` for the exact text).
    pub value: Option<f64>,
    /// For `commission`: the exact decimal text of the sum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
}

/// `GET /api/admin/analytics/timeseries` data.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AnalyticsTimeseriesData {
    /// The metric.
    pub metric: String,
    /// The step.
    pub step: String,
    /// For `commission`: the currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// The range's start (RFC 3339, UTC, aligned to the step).
    pub from: String,
    /// The range's end, exclusive (RFC 3339, UTC).
    pub to: String,
    /// One point per step from `from` to `to`, oldest first, empty steps included.
    pub points: Vec<AnalyticsPoint>,
}

/// A searched keyword.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AnalyticsKeywordItem {
    /// The keywords, normalised: lower case, trimmed, inner whitespace collapsed, at most 100
    /// characters.
    pub keyword: String,
    /// Searches for it (counts of rare keywords are estimates from a bounded top list per
    /// minute: at most over-counted by the minute's error bound).
    pub count: u64,
    /// Of them, searches that found nothing.
    pub zero_results: u64,
    /// Mean number of results (the platform's total) per search.
    pub results_avg: f64,
}

/// A keyword that found nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AnalyticsZeroResultItem {
    /// The normalised keywords.
    pub keyword: String,
    /// Searches for it that found nothing.
    pub count: u64,
}

/// `GET /api/admin/analytics/keywords` data.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AnalyticsKeywordsData {
    /// The range's start (RFC 3339, UTC).
    pub from: String,
    /// The range's end, exclusive (RFC 3339, UTC).
    pub to: String,
    /// Searches with keywords in the range.
    pub searches: u64,
    /// Of them, searches that found nothing.
    pub zero_result_searches: u64,
    /// The most searched keywords, most first.
    pub top: Vec<AnalyticsKeywordItem>,
    /// The keywords that most often found nothing, most first.
    pub zero_results: Vec<AnalyticsZeroResultItem>,
}

// ---------------------------------------------------------------------------------------------
// Tenants, their keys and the audit log (admin)

/// `POST /api/admin/tenants`, `GET|PATCH /api/admin/tenants/{id}`.
pub type TenantResponse = Envelope<TenantInfo, AdminMetadata>;
/// `GET /api/admin/tenants`.
pub type TenantsResponse = Envelope<TenantList, AdminMetadata>;
/// `DELETE /api/admin/tenants/{id}`.
pub type TenantDeletedResponse = Envelope<TenantDeleted, AdminMetadata>;
/// `GET /api/admin/tenants/{id}/keys`.
pub type TenantKeysResponse = Envelope<TenantKeyList, AdminMetadata>;
/// `POST /api/admin/tenants/{id}/keys`: the only answer that shows the key.
pub type TenantKeyCreatedResponse = Envelope<TenantKeyCreated, AdminMetadata>;
/// `DELETE /api/admin/tenants/{id}/keys/{key_id}`: the revoked key.
pub type TenantKeyResponse = Envelope<TenantKeyInfo, AdminMetadata>;
/// `GET /api/admin/tenants/{id}/usage` (JSON).
pub type TenantUsageResponse = Envelope<TenantUsage, AdminMetadata>;
/// `GET /api/admin/audit`.
pub type AuditResponse = Envelope<AuditList, AdminMetadata>;

/// A tenant id: 1 to 64 of `a-z`, `0-9`, `-` and `_`, starting with a letter or a digit (the
/// domain's `TenantId`).
pub const TENANT_ID_PATTERN: &str = r"^[a-z0-9][a-z0-9_-]{0,63}$";
/// A tenant key's id as the API names it: `key_` and up to 64 URL-safe characters.
pub const TENANT_KEY_ID_PATTERN: &str = r"^key_[A-Za-z0-9_-]{1,64}$";
/// The name of an environment variable (upper case, digits and `_`).
pub const ENV_VAR_PATTERN: &str = r"^[A-Z_][A-Z0-9_]{0,127}$";
/// An exact CORS origin, as `ALLOWED_ORIGINS` takes it: scheme and host (and port), no path.
pub const ORIGIN_PATTERN: &str = r"^https?://[^\s/?#*]+$";
/// A UTC day, `YYYY-MM-DD`.
pub const DATE_PATTERN: &str = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$";
/// A UTC time, `YYYY-MM-DDTHH:MM:SSZ` (RFC 3339).
pub const UTC_TIME_PATTERN: &str = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$";
/// A UTC day (`YYYY-MM-DD`, its midnight) or time (`YYYY-MM-DDTHH:MM:SSZ`), as the other admin
/// ranges take them.
pub const DATE_OR_TIME_PATTERN: &str =
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}Z)?$";
/// Where a tenant is defined.
pub const TENANT_SOURCES: [&str; 2] = ["file", "api"];
/// What a tenant's key may do (the domain's `Role`).
pub const TENANT_KEY_ROLES: [&str; 2] = ["client", "tenant-admin"];
/// The longest cache time-to-live a tenant may set, seconds (a week, as the `CACHE_TTL_*`
/// settings).
pub const MAX_TENANT_CACHE_TTL: u32 = 604_800;
/// An example of `allowed_origins`.
const EXAMPLE_ORIGINS: [&str; 1] = ["https://chatgpt.com"];
/// The longest range `GET /api/admin/tenants/{id}/usage` answers, in days.
pub const MAX_USAGE_DAYS: u32 = 366;

/// A tenant's rate limits, in place of the deployment's `MAX_REQUESTS_PER_SECOND` and
/// `MAX_REQUESTS_PER_MINUTE` for its callers; a limit absent (or null) is the deployment's.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantRateLimits {
    /// Requests per second per client of the tenant, enforced alongside the per-minute limit.
    #[serde(default)]
    #[schemars(range(min = 1, max = 10_000_000), example = 5)]
    pub per_second: Option<u32>,
    /// Requests per minute per client of the tenant.
    #[serde(default)]
    #[schemars(range(min = 1, max = 100_000_000), example = 60)]
    pub per_minute: Option<u32>,
}

/// A tenant's cache times-to-live in seconds (1 to 604,800), in place of the deployment's
/// `CACHE_TTL_*` settings; one absent (or null) is the deployment's.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantCacheTtl {
    /// Searches, in place of `CACHE_TTL`.
    #[serde(default)]
    #[schemars(range(min = 1, max = MAX_TENANT_CACHE_TTL), example = 3600)]
    pub search: Option<u32>,
    /// Product details, in place of `CACHE_TTL_DETAILS`.
    #[serde(default)]
    #[schemars(range(min = 1, max = MAX_TENANT_CACHE_TTL), example = 3600)]
    pub details: Option<u32>,
    /// Affiliate links, in place of `CACHE_TTL_LINKS`.
    #[serde(default)]
    #[schemars(range(min = 1, max = MAX_TENANT_CACHE_TTL), example = 1800)]
    pub links: Option<u32>,
    /// Hot products, in place of `CACHE_TTL_HOT`.
    #[serde(default)]
    #[schemars(range(min = 1, max = MAX_TENANT_CACHE_TTL), example = 1800)]
    pub hot: Option<u32>,
    /// The category list, in place of `CACHE_TTL_CATEGORIES`.
    #[serde(default)]
    #[schemars(range(min = 1, max = MAX_TENANT_CACHE_TTL), example = 7200)]
    pub categories: Option<u32>,
}

/// A tenant's own AliExpress app, in place of the deployment's. The secret is never accepted
/// inline, stored or shown: `app_secret_env` names the environment variable of the server
/// that holds it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantCredentials {
    /// The AliExpress app key (public, not a secret).
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^\S+$"), example = &"503412")]
    pub app_key: String,
    /// The name of the environment variable holding the app secret, e.g.
    /// `ACME_ALIEXPRESS_APP_SECRET`; it must be set on every instance (422 otherwise).
    #[schemars(regex(pattern = ENV_VAR_PATTERN), example = &"ACME_ALIEXPRESS_APP_SECRET")]
    pub app_secret_env: String,
    /// Calls per second to AliExpress with this app, in place of `ALIEXPRESS_MAX_QPS`;
    /// absent (or null): the deployment's.
    #[serde(default)]
    #[schemars(range(min = 1, max = 10_000), example = 5)]
    pub max_qps: Option<u32>,
}

/// Body of `POST /api/admin/tenants`. Every setting left out (or null) is the deployment's.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantRequest {
    /// The tenant's id, for good (it is part of URLs and limits): 1 to 64 of `a-z`, `0-9`,
    /// `-` and `_`, starting with a letter or a digit.
    #[schemars(regex(pattern = TENANT_ID_PATTERN), example = &"acme")]
    pub id: String,
    /// A name for people.
    #[schemars(length(min = 1, max = 200), example = &"Acme shopping GPT")]
    pub name: String,
    /// The AliExpress tracking id of the tenant's links; its orders and clicks are the
    /// tenant's by it, so no two tenants share one.
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^\S+$"), example = &"acme_gpt")]
    pub tracking_id: String,
    /// Rate limits for the tenant's callers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limits: Option<TenantRateLimits>,
    /// Requests per UTC day the tenant's keys may make together; beyond it they are answered
    /// 429 until midnight UTC. Absent: no quota.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1), example = 100_000)]
    pub daily_quota: Option<u64>,
    /// Cache times-to-live of the tenant's answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_ttl: Option<TenantCacheTtl>,
    /// Exact CORS origins allowed to call with the tenant's keys (like `ALLOWED_ORIGINS`:
    /// `https://host[:port]`, no path, no `*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = 50),
        inner(length(min = 1, max = 255), regex(pattern = ORIGIN_PATTERN)),
        example = EXAMPLE_ORIGINS
    )]
    pub allowed_origins: Option<Vec<String>>,
    /// Default language of titles for the tenant's requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = LANGUAGES), example = &"EN")]
    pub language: Option<String>,
    /// Default currency of prices for the tenant's requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = CURRENCIES), example = &"USD")]
    pub currency: Option<String>,
    /// Default two-letter country products must ship to, e.g. US.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Za-z]{2}$"), example = &"US")]
    pub ship_to_country: Option<String>,
    /// The tenant's own AliExpress app (the secret by environment-variable name only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<TenantCredentials>,
}

/// `credentials` of a `PATCH /api/admin/tenants/{id}` body, merged into the stored ones; the
/// result must have both `app_key` and `app_secret_env`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantCredentialsPatch {
    /// A new app key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        with = "String",
        length(min = 1, max = 64),
        regex(pattern = r"^\S+$"),
        example = &"503412"
    )]
    pub app_key: Option<String>,
    /// A new environment-variable name of the app secret (never the secret itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        with = "String",
        regex(pattern = ENV_VAR_PATTERN),
        example = &"ACME_ALIEXPRESS_APP_SECRET"
    )]
    pub app_secret_env: Option<String>,
    /// A new call rate; null: the deployment's `ALIEXPRESS_MAX_QPS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10_000), example = 5)]
    pub max_qps: Option<u32>,
}

/// Body of `PATCH /api/admin/tenants/{id}`: a JSON merge patch (RFC 7396) of the tenant as
/// [`TenantRequest`] spells it, without `id`. A field present replaces the stored one, null
/// clears an optional setting (the deployment's value applies again), an object
/// (`rate_limits`, `cache_ttl`, `credentials`) is merged field by field, a field left out
/// stays. The merged tenant must satisfy every rule of [`TenantRequest`]. Apply it with
/// [`merge_patch`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantPatch {
    /// A new name (cannot be cleared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String", length(min = 1, max = 200), example = &"Acme shopping GPT")]
    pub name: Option<String>,
    /// A new tracking id (cannot be cleared; 409 when another tenant has it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        with = "String",
        length(min = 1, max = 64),
        regex(pattern = r"^\S+$"),
        example = &"acme_gpt"
    )]
    pub tracking_id: Option<String>,
    /// Limits merged into the stored ones (a limit null: the deployment's); null clears both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limits: Option<TenantRateLimits>,
    /// A new daily quota; null: no quota.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1), example = 100_000)]
    pub daily_quota: Option<u64>,
    /// TTLs merged into the stored ones (one null: the deployment's); null clears them all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_ttl: Option<TenantCacheTtl>,
    /// New CORS origins (the whole list is replaced); null: the deployment's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(max = 50),
        inner(length(min = 1, max = 255), regex(pattern = ORIGIN_PATTERN)),
        example = EXAMPLE_ORIGINS
    )]
    pub allowed_origins: Option<Vec<String>>,
    /// A new default language; null: the deployment's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = LANGUAGES), example = &"EN")]
    pub language: Option<String>,
    /// A new default currency; null: the deployment's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = CURRENCIES), example = &"USD")]
    pub currency: Option<String>,
    /// A new default ship-to country; null: the deployment's (none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Za-z]{2}$"), example = &"US")]
    pub ship_to_country: Option<String>,
    /// Credentials merged into the stored ones; null: the deployment's app again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<TenantCredentialsPatch>,
}

/// Applies a JSON merge patch (RFC 7396) to `target`: an object patch sets each member it
/// names (recursively for objects), null removes the member; any other patch replaces
/// `target` as a whole.
///
/// `PATCH /api/admin/tenants/{id}` applies its body to the stored tenant as a
/// [`TenantRequest`] and reads the result as one, so a patch obeys the same rules as a create.
pub fn merge_patch(target: &mut serde_json::Value, patch: &serde_json::Value) {
    use serde_json::Value;
    let Value::Object(members) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(target) = target {
        for (name, value) in members {
            if value.is_null() {
                target.remove(name);
            } else {
                merge_patch(target.entry(name.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

/// A tenant and its settings; a setting that is null is the deployment's.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TenantInfo {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The tracking id of its links.
    pub tracking_id: String,
    /// `file` (`[[tenants]]` of the config file: it cannot be changed or deleted through the
    /// API) or `api` (created through the API).
    #[schemars(extend("enum" = TENANT_SOURCES))]
    pub source: String,
    /// Its rate limits.
    pub rate_limits: Option<TenantRateLimits>,
    /// Requests per UTC day its keys may make together; null: no quota.
    pub daily_quota: Option<u64>,
    /// Its cache times-to-live.
    pub cache_ttl: Option<TenantCacheTtl>,
    /// The CORS origins allowed with its keys.
    pub allowed_origins: Option<Vec<String>>,
    /// Its default language.
    pub language: Option<String>,
    /// Its default currency.
    pub currency: Option<String>,
    /// Its default ship-to country.
    pub ship_to_country: Option<String>,
    /// Its own AliExpress app: the app key and the name of the variable holding the secret
    /// (never the secret).
    pub credentials: Option<TenantCredentials>,
    /// When it was created (UTC, `YYYY-MM-DDTHH:MM:SSZ`).
    pub created_at: String,
    /// When it was last changed (UTC, `YYYY-MM-DDTHH:MM:SSZ`).
    pub updated_at: String,
}

/// `GET /api/admin/tenants` data.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TenantList {
    /// The tenants the key may see, by id (a tenant-admin key: its own).
    pub tenants: Vec<TenantInfo>,
}

/// `DELETE /api/admin/tenants/{id}` data.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TenantDeleted {
    /// The tenant removed.
    pub id: String,
    /// Always true.
    pub deleted: bool,
}

/// Body of `POST /api/admin/tenants/{id}/keys`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTenantKeyRequest {
    /// A name for people (and the analytics' client name).
    #[schemars(length(min = 1, max = 100), example = &"chatgpt-action")]
    pub name: String,
    /// `client` (the product routes and MCP, for the tenant) or `tenant-admin` (also the
    /// admin routes, for the tenant only).
    #[schemars(extend("enum" = TENANT_KEY_ROLES), example = &"client")]
    pub role: String,
    /// When the key stops working (UTC, `YYYY-MM-DDTHH:MM:SSZ`, in the future); absent: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = UTC_TIME_PATTERN), example = &"2027-01-01T00:00:00Z")]
    pub expires_at: Option<String>,
}

/// A tenant's API key, without the key (only its digest is stored).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TenantKeyInfo {
    /// Its id (`key_…`), public: how the audit log, limits and analytics name it.
    pub id: String,
    /// Its name.
    pub name: String,
    /// `client` or `tenant-admin`.
    #[schemars(extend("enum" = TENANT_KEY_ROLES))]
    pub role: String,
    /// When it was made (UTC, `YYYY-MM-DDTHH:MM:SSZ`).
    pub created_at: String,
    /// When it stops working (UTC); null: never.
    pub expires_at: Option<String>,
    /// When it was last presented (UTC, to within about a minute); null: never.
    pub last_used_at: Option<String>,
    /// When it was revoked (UTC); null: not revoked.
    pub revoked_at: Option<String>,
    /// Neither revoked nor expired: it is accepted now.
    pub live: bool,
}

/// `POST /api/admin/tenants/{id}/keys` data: the new key's details and the key itself, shown
/// this once (only its SHA-256 digest is kept).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TenantKeyCreated {
    /// Its id (`key_…`).
    pub id: String,
    /// Its name.
    pub name: String,
    /// `client` or `tenant-admin`.
    #[schemars(extend("enum" = TENANT_KEY_ROLES))]
    pub role: String,
    /// When it was made (UTC, `YYYY-MM-DDTHH:MM:SSZ`).
    pub created_at: String,
    /// When it stops working (UTC); null: never.
    pub expires_at: Option<String>,
    /// Always null for a new key.
    pub last_used_at: Option<String>,
    /// Always null for a new key.
    pub revoked_at: Option<String>,
    /// True: it is accepted from now on.
    pub live: bool,
    /// The key: send it as `Authorization: Bearer <key>`. Shown only in this answer.
    pub key: String,
}

impl TenantKeyCreated {
    /// The answer for a new key: its details and the key.
    pub fn new(info: TenantKeyInfo, key: String) -> Self {
        TenantKeyCreated {
            id: info.id,
            name: info.name,
            role: info.role,
            created_at: info.created_at,
            expires_at: info.expires_at,
            last_used_at: info.last_used_at,
            revoked_at: info.revoked_at,
            live: info.live,
            key,
        }
    }
}

// The key is a secret: never in Debug output.
impl fmt::Debug for TenantKeyCreated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantKeyCreated")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("role", &self.role)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("live", &self.live)
            .field("key", &"***")
            .finish_non_exhaustive()
    }
}

/// `GET /api/admin/tenants/{id}/keys` data.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TenantKeyList {
    /// The tenant's keys, revoked and expired ones included, oldest first.
    pub keys: Vec<TenantKeyInfo>,
}

/// Query of `GET /api/admin/tenants/{id}/usage`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantUsageQuery {
    /// The first day (UTC, `YYYY-MM-DD`, included); by default 29 days before `to`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DATE_PATTERN), example = &"2026-11-01")]
    pub from: Option<String>,
    /// The last day (UTC, `YYYY-MM-DD`, included); by default today. The range holds at most
    /// 366 days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DATE_PATTERN), example = &"2026-11-30")]
    pub to: Option<String>,
    /// `json` (the default) or `csv` (`text/csv`: a header row `date,requests,cached,
    /// upstream_calls,clicks,orders` and one `commission_<currency>` column per currency seen,
    /// one row per day, then a `total` row).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["json", "csv"]))]
    pub format: Option<String>,
}

/// One UTC day of a tenant's usage.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TenantUsageDay {
    /// The day (UTC, `YYYY-MM-DD`).
    pub date: String,
    /// API and MCP calls made with the tenant's keys (counted as the analytics count them).
    pub requests: u64,
    /// Of them, calls answered from the cache (fresh, stale or coalesced).
    pub cached: u64,
    /// Calls to AliExpress made for them (or to the mock catalog in mock mode).
    pub upstream_calls: u64,
    /// Clicks on the tenant's tracked links.
    pub clicks: u64,
    /// Orders placed through the tenant's tracking id (every status but `Invalid`).
    pub orders: u64,
    /// Their estimated commission, one item per currency (exact decimal text).
    pub commission: Vec<AnalyticsAmount>,
}

/// A tenant's usage summed over the range.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TenantUsageTotals {
    /// API and MCP calls.
    pub requests: u64,
    /// Of them, calls answered from the cache.
    pub cached: u64,
    /// Calls to AliExpress.
    pub upstream_calls: u64,
    /// Clicks on tracked links.
    pub clicks: u64,
    /// Orders placed.
    pub orders: u64,
    /// Their estimated commission, one item per currency (exact decimal text).
    pub commission: Vec<AnalyticsAmount>,
}

/// `GET /api/admin/tenants/{id}/usage` data.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TenantUsage {
    /// The tenant.
    pub tenant: String,
    /// The first day (UTC, `YYYY-MM-DD`).
    pub from: String,
    /// The last day, included (UTC, `YYYY-MM-DD`).
    pub to: String,
    /// One row per day from `from` to `to`, oldest first, days without usage included.
    pub days: Vec<TenantUsageDay>,
    /// The days summed.
    pub totals: TenantUsageTotals,
}

/// Query of `GET /api/admin/audit`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditListQuery {
    /// Only actions on this tenant's data or by its keys (a tenant-admin key: its own
    /// tenant, the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = TENANT_ID_PATTERN), example = &"acme")]
    pub tenant: Option<String>,
    /// Entries at or after: `YYYY-MM-DD` (UTC midnight) or `YYYY-MM-DDTHH:MM:SSZ`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DATE_OR_TIME_PATTERN), example = &"2026-11-01")]
    pub from: Option<String>,
    /// Entries before: `YYYY-MM-DDTHH:MM:SSZ`, or `YYYY-MM-DD` for up to the end of that day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DATE_OR_TIME_PATTERN), example = &"2026-11-30")]
    pub to: Option<String>,
    /// Only entries older than this entry id: the `next_before` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub before: Option<u64>,
    /// At most this many entries, 1 to 1000 (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000), example = 100)]
    pub limit: Option<u32>,
}

/// One recorded admin action.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AuditEntryInfo {
    /// Its id, increasing in recording order.
    pub id: u64,
    /// When (UTC, `YYYY-MM-DDTHH:MM:SSZ`).
    pub at: String,
    /// Who: `super-admin` (the ADMIN_API_KEY), or `key:<key id>` of a tenant-admin key.
    pub actor: String,
    /// The actor's tenant; null for the super-admin.
    pub actor_tenant: Option<String>,
    /// Whose data the action read or changed; null when it concerns no one tenant.
    pub tenant: Option<String>,
    /// The operation id of the route called, e.g. `createTenant`.
    pub action: String,
    /// Method and path, e.g. `POST /api/admin/tenants/acme/keys`.
    pub target: String,
    /// The client's address, as the rate limits see it.
    pub from: String,
    /// The HTTP status answered.
    pub status: u16,
}

/// `GET /api/admin/audit` data.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AuditList {
    /// The entries, newest first.
    pub entries: Vec<AuditEntryInfo>,
    /// When more entries may follow: pass it as `before` for the next page; null on the last.
    pub next_before: Option<u64>,
}

#[cfg(test)]
mod tenant_tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn merge_patch_follows_the_examples_of_rfc_7396() {
        let cases = [
            (json!({"a":"b"}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"b"}), json!({"b":"c"}), json!({"a":"b","b":"c"})),
            (json!({"a":"b"}), json!({"a":null}), json!({})),
            (
                json!({"a":"b","b":"c"}),
                json!({"a":null}),
                json!({"b":"c"}),
            ),
            (json!({"a":["b"]}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"c"}), json!({"a":["b"]}), json!({"a":["b"]})),
            (
                json!({"a":{"b":"c"}}),
                json!({"a":{"b":"d","c":null}}),
                json!({"a":{"b":"d"}}),
            ),
            (json!({"a":[{"b":"c"}]}), json!({"a":[1]}), json!({"a":[1]})),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a":"b"}), json!(["c"]), json!(["c"])),
            (json!({"a":"foo"}), Value::Null, Value::Null),
            (json!({"a":"foo"}), json!("bar"), json!("bar")),
            (json!({"e":null}), json!({"a":1}), json!({"e":null,"a":1})),
            (json!([1, 2]), json!({"a":"b","c":null}), json!({"a":"b"})),
            (
                json!({}),
                json!({"a":{"bb":{"ccc":null}}}),
                json!({"a":{"bb":{}}}),
            ),
        ];
        for (mut target, patch, expected) in cases {
            let before = target.clone();
            merge_patch(&mut target, &patch);
            assert_eq!(target, expected, "{before} + {patch}");
        }
    }

    #[test]
    fn a_patched_tenant_is_read_back_as_a_create_body() {
        let stored = TenantRequest {
            id: "acme".into(),
            name: "Acme".into(),
            tracking_id: "acme_gpt".into(),
            rate_limits: Some(TenantRateLimits {
                per_second: Some(5),
                per_minute: Some(60),
            }),
            daily_quota: Some(1000),
            credentials: Some(TenantCredentials {
                app_key: "503412".into(),
                app_secret_env: "ACME_SECRET".into(),
                max_qps: None,
            }),
            ..Default::default()
        };
        let patch = json!({
            "rate_limits": { "per_second": null },
            "daily_quota": null,
            "credentials": { "max_qps": 3 },
            "language": "FR"
        });
        // The body is checked as a TenantPatch first (unknown fields are refused there).
        let typed: TenantPatch = serde_json::from_value(patch.clone()).unwrap();
        assert_eq!(typed.language.as_deref(), Some("FR"));
        assert_eq!(typed.daily_quota, None);
        let mut merged = serde_json::to_value(&stored).unwrap();
        merge_patch(&mut merged, &patch);
        let merged: TenantRequest = serde_json::from_value(merged).unwrap();
        assert_eq!(
            merged.rate_limits,
            Some(TenantRateLimits {
                per_second: None,
                per_minute: Some(60),
            })
        );
        assert_eq!(merged.daily_quota, None);
        assert_eq!(merged.credentials.unwrap().max_qps, Some(3));
        assert_eq!(merged.language.as_deref(), Some("FR"));
        assert_eq!(merged.id, "acme");
    }

    #[test]
    fn tenant_bodies_refuse_unknown_fields_and_inline_secrets() {
        let ok = json!({ "id": "acme", "name": "Acme", "tracking_id": "acme_gpt" });
        let parsed: TenantRequest = serde_json::from_value(ok).unwrap();
        assert_eq!(parsed.credentials, None);
        for bad in [
            json!({ "id": "acme", "name": "Acme", "tracking_id": "t", "colour": "red" }),
            json!({ "id": "acme", "name": "Acme", "tracking_id": "t",
                    "credentials": { "app_key": "1", "app_secret_env": "S", "app_secret": "x" } }),
            json!({ "id": "acme", "name": "Acme", "tracking_id": "t",
                    "rate_limits": { "per_hour": 1 } }),
            json!({ "id": "acme", "name": "Acme" }),
        ] {
            assert!(
                serde_json::from_value::<TenantRequest>(bad.clone()).is_err(),
                "{bad}"
            );
        }
        assert!(serde_json::from_value::<TenantPatch>(json!({ "id": "other" })).is_err());
        assert!(
            serde_json::from_value::<TenantPatch>(json!({ "credentials": { "app_secret": "x" } }))
                .is_err()
        );
        assert!(
            serde_json::from_value::<NewTenantKeyRequest>(
                json!({ "name": "n", "role": "client", "key": "mine" })
            )
            .is_err()
        );
    }

    #[test]
    fn a_new_key_is_shown_in_its_answer_but_never_in_debug_output() {
        let info = TenantKeyInfo {
            id: "key_abc".into(),
            name: "gpt".into(),
            role: "client".into(),
            created_at: "2026-11-30T08:00:00Z".into(),
            live: true,
            ..Default::default()
        };
        let created = TenantKeyCreated::new(info.clone(), "ask_secret_value".into());
        let v = serde_json::to_value(&created).unwrap();
        assert_eq!(v["key"], "ask_secret_value");
        assert_eq!(v["id"], "key_abc");
        assert_eq!(v["expires_at"], Value::Null);
        assert!(!format!("{created:?}").contains("ask_secret_value"));
        // The answer has exactly the info's fields and the key.
        let mut fields: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        let info_v = serde_json::to_value(&info).unwrap();
        let mut expected: Vec<String> = info_v.as_object().unwrap().keys().cloned().collect();
        expected.push("key".into());
        fields.sort();
        expected.sort();
        assert_eq!(fields, expected);
    }
}
