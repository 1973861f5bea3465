//! Public request and response types of the typed client methods.
//!
//! Requests hold what a caller may choose; fields left `None` fall back to the client
//! configuration (currency, language, tracking id) or are not sent. Responses carry domain
//! types ([`Product`], [`Category`]) so callers never see the wire format.

use alistach_domain::{
    CategoryId, CountryCode, Currency, Decimal, Language, LinkType, MAX_PAGE_SIZE, Product,
    ProductId, PromotionSort, SortOrder, ValidationError,
};

/// `platform_product_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PlatformProductType {
    /// Every product.
    All,
    /// Marketplace sellers.
    Plaza,
    /// Tmall stores.
    Tmall,
}

impl PlatformProductType {
    /// The platform's spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            PlatformProductType::All => "ALL",
            PlatformProductType::Plaza => "PLAZA",
            PlatformProductType::Tmall => "TMALL",
        }
    }
}

/// Parameters of `aliexpress.affiliate.product.query` and `aliexpress.affiliate.hotproduct.query`
/// (the two take the same parameters; `promotion_name` is only meaningful for the latter).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProductQueryRequest {
    /// Free-text keywords.
    pub keywords: Option<String>,
    /// Category filter.
    pub category_ids: Vec<CategoryId>,
    /// Lowest sale price, in the smallest unit of the target currency (cents for USD).
    pub min_sale_price: Option<u64>,
    /// Highest sale price, in the smallest unit of the target currency.
    pub max_sale_price: Option<u64>,
    /// 1-based page number (platform default 1).
    pub page_no: Option<u32>,
    /// Results per page, 1 to 50.
    pub page_size: Option<u32>,
    /// Result order.
    pub sort: Option<SortOrder>,
    /// `ALL`, `PLAZA` or `TMALL`.
    pub platform_product_type: Option<PlatformProductType>,
    /// Only products delivered within 3, 5, 7 or 10 days.
    pub delivery_days: Option<u8>,
    /// Only products that ship to this country; prices follow its tax rules.
    pub ship_to_country: Option<CountryCode>,
    /// Price currency; the client default when `None`.
    pub target_currency: Option<Currency>,
    /// Title language; the client default when `None`.
    pub target_language: Option<Language>,
    /// Product fields to return; all when empty (`product_id` is always added).
    pub fields: Vec<String>,
    /// Tracking id for the promotion links; the client default when `None`.
    pub tracking_id: Option<String>,
    /// hotproduct.query only: a promotion name.
    pub promotion_name: Option<String>,
}

impl ProductQueryRequest {
    /// A keyword search with every other parameter left to defaults.
    pub fn keywords(keywords: impl Into<String>) -> Self {
        ProductQueryRequest {
            keywords: Some(keywords.into()),
            ..Default::default()
        }
    }

    pub(crate) fn validate(&self) -> Result<(), ValidationError> {
        check_page(self.page_no, self.page_size)?;
        if let (Some(min), Some(max)) = (self.min_sale_price, self.max_sale_price)
            && min > max
        {
            return Err(ValidationError::new(
                "min_sale_price",
                "must not exceed max_sale_price",
            ));
        }
        if self
            .delivery_days
            .is_some_and(|d| ![3, 5, 7, 10].contains(&d))
        {
            return Err(ValidationError::new(
                "delivery_days",
                "must be 3, 5, 7 or 10",
            ));
        }
        check_fields(&self.fields)
    }
}

/// A page of products (product.query, hotproduct.query).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProductQueryResponse {
    /// The page the platform returned (1-based; 0 for an empty result).
    pub current_page_no: u32,
    /// Products on this page as the platform counts them.
    pub current_record_count: u64,
    /// Pages in all.
    pub total_page_no: u32,
    /// Matching products in all (the platform caps this at 5,000).
    pub total_record_count: u64,
    /// The products.
    pub products: Vec<Product>,
}

/// Parameters of `aliexpress.affiliate.productdetail.get`. Any number of ids: the client
/// sends them in batches of 50 and merges the answers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProductDetailRequest {
    /// The products.
    pub product_ids: Vec<ProductId>,
    /// Ship-to country (the parameter is called `country` on this method).
    pub country: Option<CountryCode>,
    /// Price currency; the client default when `None`.
    pub target_currency: Option<Currency>,
    /// Title language; the client default when `None`.
    pub target_language: Option<Language>,
    /// Product fields to return; all when empty.
    pub fields: Vec<String>,
    /// Tracking id for promotion links; the client default when `None`.
    pub tracking_id: Option<String>,
}

/// Parameters of `aliexpress.affiliate.link.generate`. Any number of source values: the client
/// sends them in batches of 50.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkGenerateRequest {
    /// Normal (0) or hot (2) link.
    pub link_type: LinkType,
    /// The pages to convert (product, store or campaign URLs).
    pub source_values: Vec<String>,
    /// Tracking id; the client default when `None` (one of the two is required).
    pub tracking_id: Option<String>,
    /// Ship-to country.
    pub ship_to_country: Option<CountryCode>,
}

impl LinkGenerateRequest {
    /// Normal links for these pages, with the client's tracking id.
    pub fn new(source_values: Vec<String>) -> Self {
        LinkGenerateRequest {
            link_type: LinkType::Normal,
            source_values,
            tracking_id: None,
            ship_to_country: None,
        }
    }
}

/// One converted page.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PromotionLink {
    /// The page as sent.
    pub source_value: String,
    /// The tracked link.
    pub promotion_link: String,
    /// A note the platform attached, if any.
    pub message: Option<String>,
}

/// Parameters of `aliexpress.affiliate.product.smartmatch`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SmartMatchRequest {
    /// A product to find related products for.
    pub product_id: Option<ProductId>,
    /// Keywords.
    pub keywords: Option<String>,
    /// Device id (adid/idfa). The platform rejects calls without one, so the client sends a
    /// fixed placeholder when `None`.
    pub device_id: Option<String>,
    /// 1-based page number.
    pub page_no: Option<u32>,
    /// Ship-to country.
    pub country: Option<CountryCode>,
    /// Price currency; the client default when `None`.
    pub target_currency: Option<Currency>,
    /// Title language; the client default when `None`.
    pub target_language: Option<Language>,
    /// Product fields to return; all when empty.
    pub fields: Vec<String>,
    /// Tracking id; the client default when `None`.
    pub tracking_id: Option<String>,
}

/// A page of matched products.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SmartMatchResponse {
    /// The page returned.
    pub current_page_no: u32,
    /// Products on it.
    pub current_record_count: u64,
    /// The products.
    pub products: Vec<Product>,
}

/// A featured promotion (`aliexpress.affiliate.featuredpromo.get`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Promo {
    /// Its name, e.g. `Hot Product`; pass it to `featured_promo_products_get`.
    pub name: String,
    /// Its description.
    pub description: Option<String>,
    /// Products in it.
    pub product_count: Option<u64>,
}

/// Parameters of `aliexpress.affiliate.featuredpromo.products.get`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FeaturedPromoProductsRequest {
    /// The promotion, e.g. `Hot Product` (see `featured_promo_get`).
    pub promotion_name: Option<String>,
    /// Category filter.
    pub category_id: Option<CategoryId>,
    /// 1-based page number.
    pub page_no: Option<u32>,
    /// Results per page, 1 to 50.
    pub page_size: Option<u32>,
    /// Result order.
    pub sort: Option<PromotionSort>,
    /// Promotion start, `yyyy-MM-dd HH:mm:ss` (PST).
    pub promotion_start_time: Option<String>,
    /// Promotion end, `yyyy-MM-dd HH:mm:ss` (PST).
    pub promotion_end_time: Option<String>,
    /// Ship-to country.
    pub country: Option<CountryCode>,
    /// Price currency; the client default when `None`.
    pub target_currency: Option<Currency>,
    /// Title language; the client default when `None`.
    pub target_language: Option<Language>,
    /// Product fields to return; all when empty.
    pub fields: Vec<String>,
    /// Tracking id; the client default when `None`.
    pub tracking_id: Option<String>,
}

/// A page of a promotion's products.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FeaturedPromoProductsResponse {
    /// The page returned.
    pub current_page_no: u32,
    /// Products on it.
    pub current_record_count: u64,
    /// Pages in all.
    pub total_page_no: u32,
    /// Products in all.
    pub total_record_count: u64,
    /// True on the last page.
    pub is_finished: bool,
    /// The products.
    pub products: Vec<Product>,
}

/// `status` of the order methods (the domain's: one definition of the platform's statuses).
pub use alistach_domain::{OrderStatus, OrderTimeType};

/// Parameters of `aliexpress.affiliate.order.list`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderListRequest {
    /// Window start, `yyyy-MM-dd HH:mm:ss`.
    pub start_time: String,
    /// Window end, `yyyy-MM-dd HH:mm:ss`.
    pub end_time: String,
    /// Which orders.
    pub status: OrderStatus,
    /// Which time the window applies to (the platform's default: payment time).
    pub time_type: Option<OrderTimeType>,
    /// `global`, `ru_site`, `es_site` or `it_site`.
    pub locale_site: Option<String>,
    /// 1-based page number.
    pub page_no: Option<u32>,
    /// Results per page, 1 to 50.
    pub page_size: Option<u32>,
    /// Order fields to return; all when empty.
    pub fields: Vec<String>,
}

impl OrderListRequest {
    /// Orders with `status` in the window.
    pub fn new(
        start_time: impl Into<String>,
        end_time: impl Into<String>,
        status: OrderStatus,
    ) -> Self {
        OrderListRequest {
            start_time: start_time.into(),
            end_time: end_time.into(),
            status,
            time_type: None,
            locale_site: None,
            page_no: None,
            page_size: None,
            fields: Vec::new(),
        }
    }

    pub(crate) fn validate(&self) -> Result<(), ValidationError> {
        if !is_platform_time(&self.start_time) {
            return Err(ValidationError::new(
                "start_time",
                "must be yyyy-MM-dd HH:mm:ss",
            ));
        }
        if !is_platform_time(&self.end_time) {
            return Err(ValidationError::new(
                "end_time",
                "must be yyyy-MM-dd HH:mm:ss",
            ));
        }
        // The fixed-width format orders like the instants it names.
        if self.start_time > self.end_time {
            return Err(ValidationError::new(
                "start_time",
                "must not be after end_time",
            ));
        }
        if self
            .locale_site
            .as_deref()
            .is_some_and(|site| !["global", "ru_site", "es_site", "it_site"].contains(&site))
        {
            return Err(ValidationError::new(
                "locale_site",
                "must be global, ru_site, es_site or it_site",
            ));
        }
        check_page(self.page_no, self.page_size)?;
        check_fields(&self.fields)
    }
}

/// An affiliate order. Money fields are kept as the platform sent them (the platform has sent
/// both decimal amounts and integer minor units; see `settled_currency`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Order {
    /// The parent order.
    pub order_id: Option<u64>,
    /// The sub-order (one product line).
    pub sub_order_id: Option<u64>,
    /// Status text, e.g. `Payment Completed`.
    pub order_status: Option<String>,
    /// The tracking id that earned it.
    pub tracking_id: Option<String>,
    /// The product's category.
    pub category_id: Option<u64>,
    /// The product.
    pub product_id: Option<ProductId>,
    /// Its title.
    pub product_title: Option<String>,
    /// Its page.
    pub product_detail_url: Option<String>,
    /// Its image.
    pub product_main_image_url: Option<String>,
    /// Units bought.
    pub product_count: Option<u64>,
    /// Amount paid.
    pub paid_amount: Option<Decimal>,
    /// When it was paid.
    pub paid_time: Option<String>,
    /// Amount after completion.
    pub finished_amount: Option<Decimal>,
    /// When it completed.
    pub finished_time: Option<String>,
    /// When it was created.
    pub created_time: Option<String>,
    /// Commission in percent.
    pub commission_rate_percent: Option<Decimal>,
    /// Estimated commission on payment.
    pub estimated_paid_commission: Option<Decimal>,
    /// Estimated commission on completion.
    pub estimated_finished_commission: Option<Decimal>,
    /// A first-time buyer.
    pub is_new_buyer: Option<bool>,
    /// A hot product.
    pub is_hot_product: Option<bool>,
    /// An affiliate product.
    pub is_affiliate_product: Option<bool>,
    /// `FullRefund`, `Antispam` ...
    pub effect_detail_status: Option<String>,
    /// `global`, `ru_site` ...
    pub order_type: Option<String>,
    /// Settlement currency code.
    pub settled_currency: Option<String>,
    /// Destination country.
    pub ship_to_country: Option<String>,
    /// When it was settled (newer documents).
    pub completed_settlement_time: Option<String>,
    /// Sub-ids passed through the link (JSON text; `custom_parameters` in the lists,
    /// `customer_parameters` in order.get: both are read).
    pub custom_parameters: Option<String>,
}

/// A page of orders.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrderListResponse {
    /// The page returned.
    pub current_page_no: u32,
    /// Orders on it.
    pub current_record_count: u64,
    /// Pages in all.
    pub total_page_no: u32,
    /// Orders in all.
    pub total_record_count: u64,
    /// The orders.
    pub orders: Vec<Order>,
}

/// Parameters of `aliexpress.affiliate.order.listbyindex`: the window and filters of
/// order.list, paged by a cursor instead of page numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderListByIndexRequest {
    /// Window start, `yyyy-MM-dd HH:mm:ss` (PST).
    pub start_time: String,
    /// Window end, `yyyy-MM-dd HH:mm:ss` (PST).
    pub end_time: String,
    /// Which orders.
    pub status: OrderStatus,
    /// Which time the window applies to (the platform's default: payment time).
    pub time_type: Option<OrderTimeType>,
    /// Where the page starts: the previous page's `max_query_index_id` (none for the first).
    pub start_query_index_id: Option<String>,
    /// Results per page, 1 to 50.
    pub page_size: Option<u32>,
    /// Order fields to return; all when empty.
    pub fields: Vec<String>,
}

impl OrderListByIndexRequest {
    /// The first page of orders with `status` in the window.
    pub fn new(
        start_time: impl Into<String>,
        end_time: impl Into<String>,
        status: OrderStatus,
    ) -> Self {
        OrderListByIndexRequest {
            start_time: start_time.into(),
            end_time: end_time.into(),
            status,
            time_type: None,
            start_query_index_id: None,
            page_size: None,
            fields: Vec::new(),
        }
    }

    pub(crate) fn validate(&self) -> Result<(), ValidationError> {
        let mut as_list = OrderListRequest::new(&self.start_time, &self.end_time, self.status);
        as_list.page_size = self.page_size;
        as_list.fields = self.fields.clone();
        as_list.validate()?;
        if self
            .start_query_index_id
            .as_deref()
            .is_some_and(|c| c.is_empty() || !c.bytes().all(|b| b.is_ascii_alphanumeric()))
        {
            return Err(ValidationError::new(
                "start_query_index_id",
                "must be a query index id from a previous page",
            ));
        }
        Ok(())
    }
}

/// A page of orders by index.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OrderListByIndexResponse {
    /// Orders on it.
    pub current_record_count: u64,
    /// The first order's query index id.
    pub min_query_index_id: Option<String>,
    /// The last order's query index id: the next page's `start_query_index_id`.
    pub max_query_index_id: Option<String>,
    /// The orders.
    pub orders: Vec<Order>,
}

/// The most sub-order ids one `aliexpress.affiliate.order.get` takes.
pub const MAX_ORDER_IDS: usize = 50;

/// A request field that names something the platform limits.
pub(crate) fn check_page(
    page_no: Option<u32>,
    page_size: Option<u32>,
) -> Result<(), ValidationError> {
    if page_no == Some(0) {
        return Err(ValidationError::new("page_no", "must be at least 1"));
    }
    if page_size.is_some_and(|size| !(1..=MAX_PAGE_SIZE).contains(&size)) {
        return Err(ValidationError::new(
            "page_size",
            format!("must be between 1 and {MAX_PAGE_SIZE}"),
        ));
    }
    Ok(())
}

pub(crate) fn check_fields(fields: &[String]) -> Result<(), ValidationError> {
    if fields
        .iter()
        .any(|f| f.is_empty() || !f.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
    {
        return Err(ValidationError::new(
            "fields",
            "must be field names such as sale_price",
        ));
    }
    Ok(())
}

/// `yyyy-MM-dd HH:mm:ss`.
pub(crate) fn is_platform_time(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 19
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b' ',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_validate_before_sending() {
        let mut q = ProductQueryRequest::keywords("x");
        assert!(q.validate().is_ok());
        q.page_size = Some(51);
        assert_eq!(q.validate().unwrap_err().field, "page_size");
        let mut q = ProductQueryRequest::keywords("x");
        q.min_sale_price = Some(10);
        q.max_sale_price = Some(5);
        assert_eq!(q.validate().unwrap_err().field, "min_sale_price");
        let mut q = ProductQueryRequest::keywords("x");
        q.delivery_days = Some(4);
        assert_eq!(q.validate().unwrap_err().field, "delivery_days");
        let mut q = ProductQueryRequest::keywords("x");
        q.fields = vec!["sale_price,evil".into()];
        assert_eq!(q.validate().unwrap_err().field, "fields");

        let ok = OrderListRequest::new(
            "2023-11-01 00:00:00",
            "2023-11-30 23:59:59",
            OrderStatus::PaymentCompleted,
        );
        assert!(ok.validate().is_ok());
        let mut bad = ok.clone();
        bad.start_time = "2023-11-01".into();
        assert_eq!(bad.validate().unwrap_err().field, "start_time");
        let mut bad = ok.clone();
        bad.end_time = "2023-10-01 00:00:00".into();
        assert_eq!(bad.validate().unwrap_err().field, "start_time");
        let mut bad = ok;
        bad.locale_site = Some("mars".into());
        assert_eq!(bad.validate().unwrap_err().field, "locale_site");
    }
}
