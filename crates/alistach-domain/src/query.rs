//! Search and detail queries, validated against the platform's limits.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{CategoryId, CountryCode, Currency, Decimal, Language, ProductId, ValidationError};

/// The platform's page size limit.
pub const MAX_PAGE_SIZE: u32 = 50;
/// The platform pages at most this deep.
pub const MAX_PAGE_NO: u32 = 100;
/// The longest keyword text we forward, in characters.
pub const MAX_KEYWORDS_CHARS: usize = 200;
/// At most this many ids in one `productdetail.get` call; larger requests are split.
pub const MAX_DETAIL_IDS: usize = 50;
/// At most this many ids in one details request to AliStach.
const MAX_DETAIL_IDS_PER_REQUEST: usize = 200;
/// At most this many categories in one search.
const MAX_CATEGORY_IDS: usize = 20;

/// How results are ordered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SortOrder {
    /// Cheapest first.
    SalePriceAsc,
    /// Most expensive first.
    SalePriceDesc,
    /// Least sold first.
    LastVolumeAsc,
    /// Best sellers first.
    LastVolumeDesc,
}

impl SortOrder {
    /// Every order, as the platform spells it.
    pub const ALL: [SortOrder; 4] = [
        SortOrder::SalePriceAsc,
        SortOrder::SalePriceDesc,
        SortOrder::LastVolumeAsc,
        SortOrder::LastVolumeDesc,
    ];

    /// The platform's spelling.
    pub const fn code(self) -> &'static str {
        match self {
            SortOrder::SalePriceAsc => "SALE_PRICE_ASC",
            SortOrder::SalePriceDesc => "SALE_PRICE_DESC",
            SortOrder::LastVolumeAsc => "LAST_VOLUME_ASC",
            SortOrder::LastVolumeDesc => "LAST_VOLUME_DESC",
        }
    }
}

impl fmt::Display for SortOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for SortOrder {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, ValidationError> {
        let upper = s.trim().to_ascii_uppercase();
        SortOrder::ALL.into_iter().find(|o| o.code() == upper).ok_or_else(|| {
            ValidationError::new(
                "sort",
                "must be one of SALE_PRICE_ASC, SALE_PRICE_DESC, LAST_VOLUME_ASC, LAST_VOLUME_DESC",
            )
        })
    }
}

/// A product search (also used for hot products). Build it with [`SearchQuery::new`], set
/// fields, then call [`SearchQuery::validate`]; [`SearchQuery::normalized`] gives the form that
/// equal questions share (for cache keys).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SearchQuery {
    /// Free-text keywords.
    pub keywords: Option<String>,
    /// Category filter.
    pub category_ids: Vec<CategoryId>,
    /// 1-based page number.
    pub page_no: u32,
    /// Results per page.
    pub page_size: u32,
    /// Result order; the platform's relevance order when absent.
    pub sort: Option<SortOrder>,
    /// Lowest sale price, in `currency`.
    pub min_price: Option<Decimal>,
    /// Highest sale price, in `currency`.
    pub max_price: Option<Decimal>,
    /// Currency for prices and the price range.
    pub currency: Currency,
    /// Language for titles.
    pub language: Language,
    /// Only products that ship to this country.
    pub ship_to_country: Option<CountryCode>,
}

impl SearchQuery {
    /// A keyword search with defaults: page 1 of 10, USD, English.
    pub fn new(keywords: impl Into<String>) -> Self {
        SearchQuery {
            keywords: Some(keywords.into()),
            category_ids: Vec::new(),
            page_no: 1,
            page_size: 10,
            sort: None,
            min_price: None,
            max_price: None,
            currency: Currency::USD,
            language: Language::EN,
            ship_to_country: None,
        }
    }

    /// Checks every platform rule, naming the first field that breaks one.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let has_keywords = self
            .keywords
            .as_deref()
            .is_some_and(|k| !k.trim().is_empty());
        if !has_keywords && self.category_ids.is_empty() {
            return Err(ValidationError::new(
                "keywords",
                "must not be empty unless category_ids is given",
            ));
        }
        if let Some(k) = &self.keywords {
            if k.chars().count() > MAX_KEYWORDS_CHARS {
                return Err(ValidationError::new(
                    "keywords",
                    format!("must be at most {MAX_KEYWORDS_CHARS} characters"),
                ));
            }
            if k.chars().any(char::is_control) {
                return Err(ValidationError::new(
                    "keywords",
                    "must not contain control characters",
                ));
            }
        }
        if self.category_ids.len() > MAX_CATEGORY_IDS {
            return Err(ValidationError::new(
                "category_ids",
                format!("must list at most {MAX_CATEGORY_IDS} ids"),
            ));
        }
        if !(1..=MAX_PAGE_SIZE).contains(&self.page_size) {
            return Err(ValidationError::new(
                "page_size",
                format!("must be between 1 and {MAX_PAGE_SIZE}"),
            ));
        }
        if !(1..=MAX_PAGE_NO).contains(&self.page_no) {
            return Err(ValidationError::new(
                "page_no",
                format!("must be between 1 and {MAX_PAGE_NO}"),
            ));
        }
        if self.page_no.saturating_mul(self.page_size) > 5_000 + MAX_PAGE_SIZE {
            return Err(ValidationError::new(
                "page_no",
                "must not page beyond the platform's 5000 results",
            ));
        }
        for (field, price) in [
            ("min_sale_price", self.min_price),
            ("max_sale_price", self.max_price),
        ] {
            if let Some(p) = price {
                if p.is_negative() {
                    return Err(ValidationError::new(field, "must not be negative"));
                }
                if p.to_minor_units(self.currency.minor_digits())
                    .is_none_or(|u| u > 1_000_000_000_000)
                {
                    return Err(ValidationError::new(field, "is too large"));
                }
            }
        }
        if let (Some(min), Some(max)) = (self.min_price, self.max_price)
            && min > max
        {
            return Err(ValidationError::new(
                "min_sale_price",
                "must not exceed max_sale_price",
            ));
        }
        Ok(())
    }

    /// The form equal questions share: keywords trimmed with inner whitespace collapsed,
    /// categories sorted and deduplicated, prices normalised.
    pub fn normalized(&self) -> SearchQuery {
        let mut q = self.clone();
        q.keywords = q
            .keywords
            .map(|k| k.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|k| !k.is_empty());
        q.category_ids.sort_unstable();
        q.category_ids.dedup();
        q.min_price = q.min_price.map(Decimal::normalized);
        q.max_price = q.max_price.map(Decimal::normalized);
        q
    }
}

/// A request for the details of known products.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DetailsQuery {
    /// The products, deduplicated.
    pub ids: Vec<ProductId>,
    /// Currency for prices.
    pub currency: Currency,
    /// Language for titles.
    pub language: Language,
    /// Ship-to country for prices and availability.
    pub country: Option<CountryCode>,
}

impl DetailsQuery {
    /// Checks the id list: at least one, at most 200 (the client splits into platform batches of 50).
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.ids.is_empty() {
            return Err(ValidationError::new(
                "product_ids",
                "must list at least one product id",
            ));
        }
        if self.ids.len() > MAX_DETAIL_IDS_PER_REQUEST {
            return Err(ValidationError::new(
                "product_ids",
                format!("must list at most {MAX_DETAIL_IDS_PER_REQUEST} product ids"),
            ));
        }
        Ok(())
    }

    /// Ids sorted and deduplicated.
    pub fn normalized(&self) -> DetailsQuery {
        let mut q = self.clone();
        q.ids.sort_unstable();
        q.ids.dedup();
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(q: &SearchQuery) -> &'static str {
        q.validate().unwrap_err().field
    }

    #[test]
    fn enforces_platform_limits() {
        let ok = SearchQuery::new("earbuds");
        assert!(ok.validate().is_ok());

        let mut q = ok.clone();
        q.page_size = 51;
        assert_eq!(field_of(&q), "page_size");
        q.page_size = 0;
        assert_eq!(field_of(&q), "page_size");

        let mut q = ok.clone();
        q.page_no = 0;
        assert_eq!(field_of(&q), "page_no");
        q.page_no = 101;
        assert_eq!(field_of(&q), "page_no");

        let mut q = ok.clone();
        q.min_price = Some("-1".parse().unwrap());
        assert_eq!(field_of(&q), "min_sale_price");

        let mut q = ok.clone();
        q.min_price = Some("20".parse().unwrap());
        q.max_price = Some("10".parse().unwrap());
        assert_eq!(field_of(&q), "min_sale_price");

        let mut q = ok.clone();
        q.keywords = Some("  ".into());
        assert_eq!(field_of(&q), "keywords");
        q.category_ids = vec![CategoryId(44)];
        assert!(q.validate().is_ok(), "a category alone is a criterion");

        let mut q = ok.clone();
        q.keywords = Some("x".repeat(MAX_KEYWORDS_CHARS + 1));
        assert_eq!(field_of(&q), "keywords");
    }

    #[test]
    fn normalisation_makes_equal_questions_equal() {
        let mut a = SearchQuery::new("  wireless   earbuds ");
        a.category_ids = vec![CategoryId(5), CategoryId(3), CategoryId(5)];
        a.min_price = Some("10.50".parse().unwrap());
        let mut b = SearchQuery::new("wireless earbuds");
        b.category_ids = vec![CategoryId(3), CategoryId(5)];
        b.min_price = Some("10.5".parse().unwrap());
        assert_eq!(a.normalized(), b.normalized());
    }

    #[test]
    fn sort_orders_parse_strictly() {
        assert_eq!(
            "sale_price_asc".parse::<SortOrder>().unwrap(),
            SortOrder::SalePriceAsc
        );
        assert_eq!("price".parse::<SortOrder>().unwrap_err().field, "sort");
    }
}
