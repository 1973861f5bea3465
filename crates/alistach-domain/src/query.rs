//! Search and detail queries, validated against the platform's limits.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{CategoryId, CountryCode, Currency, Decimal, Language, ProductId, ValidationError};

/// Results per page when a search names no page size.
pub const DEFAULT_PAGE_SIZE: u32 = 10;
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

/// Which product listing a search asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Listing {
    /// A keyword/category search: keywords or categories are required.
    Search,
    /// High-commission products: keywords and categories are optional filters.
    Hot,
}

/// A product search as a caller states it, not yet checked. [`SearchDraft::parse`] turns it
/// into a [`SearchQuery`], the only form the rest of the system accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchDraft {
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

/// `text`'s words (split at any whitespace) joined by single spaces, in one allocation.
fn collapse_whitespace(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

impl SearchDraft {
    /// A keyword search with defaults: page 1 of [`DEFAULT_PAGE_SIZE`], USD, English.
    pub fn new(keywords: impl Into<String>) -> Self {
        SearchDraft {
            keywords: Some(keywords.into()),
            category_ids: Vec::new(),
            page_no: 1,
            page_size: DEFAULT_PAGE_SIZE,
            sort: None,
            min_price: None,
            max_price: None,
            currency: Currency::USD,
            language: Language::EN,
            ship_to_country: None,
        }
    }

    /// Checks every platform rule for `listing`, naming the first field that breaks one, and
    /// gives the normalised query: keywords trimmed with inner whitespace collapsed, categories
    /// sorted and deduplicated, prices normalised, so equal questions are equal values.
    pub fn parse(&self, listing: Listing) -> Result<SearchQuery, ValidationError> {
        self.validate(listing)?;
        Ok(SearchQuery {
            listing,
            keywords: self
                .keywords
                .as_deref()
                .map(collapse_whitespace)
                .filter(|k| !k.is_empty()),
            category_ids: {
                let mut ids = self.category_ids.clone();
                ids.sort_unstable();
                ids.dedup();
                ids
            },
            page_no: self.page_no,
            page_size: self.page_size,
            sort: self.sort,
            min_price: self.min_price.map(Decimal::normalized),
            max_price: self.max_price.map(Decimal::normalized),
            currency: self.currency,
            language: self.language,
            ship_to_country: self.ship_to_country,
        })
    }

    fn validate(&self, listing: Listing) -> Result<(), ValidationError> {
        let has_keywords = self
            .keywords
            .as_deref()
            .is_some_and(|k| !k.trim().is_empty());
        if listing == Listing::Search && !has_keywords && self.category_ids.is_empty() {
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
}

/// A product search the platform accepts, in normal form: only [`SearchDraft::parse`] makes
/// one, so a `SearchQuery` that exists is valid for its [`Listing`] and equal questions are
/// equal values (its JSON is the cache's question).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct SearchQuery {
    listing: Listing,
    keywords: Option<String>,
    category_ids: Vec<CategoryId>,
    page_no: u32,
    page_size: u32,
    sort: Option<SortOrder>,
    min_price: Option<Decimal>,
    max_price: Option<Decimal>,
    currency: Currency,
    language: Language,
    ship_to_country: Option<CountryCode>,
}

impl SearchQuery {
    /// Which listing it asks for.
    pub fn listing(&self) -> Listing {
        self.listing
    }
    /// Keywords, whitespace collapsed; none when blank.
    pub fn keywords(&self) -> Option<&str> {
        self.keywords.as_deref()
    }
    /// Category filter, sorted and deduplicated.
    pub fn category_ids(&self) -> &[CategoryId] {
        &self.category_ids
    }
    /// 1-based page number, at most [`MAX_PAGE_NO`].
    pub fn page_no(&self) -> u32 {
        self.page_no
    }
    /// Results per page, 1 to [`MAX_PAGE_SIZE`].
    pub fn page_size(&self) -> u32 {
        self.page_size
    }
    /// Result order; the platform's relevance order when absent.
    pub fn sort(&self) -> Option<SortOrder> {
        self.sort
    }
    /// Lowest sale price, in [`SearchQuery::currency`].
    pub fn min_price(&self) -> Option<Decimal> {
        self.min_price
    }
    /// Highest sale price, in [`SearchQuery::currency`].
    pub fn max_price(&self) -> Option<Decimal> {
        self.max_price
    }
    /// Currency for prices and the price range.
    pub fn currency(&self) -> Currency {
        self.currency
    }
    /// Language for titles.
    pub fn language(&self) -> Language {
        self.language
    }
    /// Only products that ship to this country.
    pub fn ship_to_country(&self) -> Option<CountryCode> {
        self.ship_to_country
    }
    /// The query as a draft, to state a variant of it (another page, say).
    pub fn to_draft(&self) -> SearchDraft {
        SearchDraft {
            keywords: self.keywords.clone(),
            category_ids: self.category_ids.clone(),
            page_no: self.page_no,
            page_size: self.page_size,
            sort: self.sort,
            min_price: self.min_price,
            max_price: self.max_price,
            currency: self.currency,
            language: self.language,
            ship_to_country: self.ship_to_country,
        }
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

    fn field_of(q: &SearchDraft) -> &'static str {
        q.parse(Listing::Search).unwrap_err().field
    }

    #[test]
    fn enforces_platform_limits() {
        let ok = SearchDraft::new("earbuds");
        assert!(ok.parse(Listing::Search).is_ok());

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
        assert!(
            q.parse(Listing::Search).is_ok(),
            "a category alone is a criterion"
        );
        q.category_ids.clear();
        q.keywords = None;
        assert!(
            q.parse(Listing::Hot).is_ok(),
            "hot products need no criterion"
        );
        q.page_no = 0;
        assert_eq!(q.parse(Listing::Hot).unwrap_err().field, "page_no");

        let mut q = ok.clone();
        q.keywords = Some("x".repeat(MAX_KEYWORDS_CHARS + 1));
        assert_eq!(field_of(&q), "keywords");
    }

    #[test]
    fn normalisation_makes_equal_questions_equal() {
        let mut a = SearchDraft::new("  wireless   earbuds ");
        a.category_ids = vec![CategoryId(5), CategoryId(3), CategoryId(5)];
        a.min_price = Some("10.50".parse().unwrap());
        let mut b = SearchDraft::new("wireless earbuds");
        b.category_ids = vec![CategoryId(3), CategoryId(5)];
        b.min_price = Some("10.5".parse().unwrap());
        assert_eq!(
            a.parse(Listing::Search).unwrap(),
            b.parse(Listing::Search).unwrap()
        );
        let q = b.parse(Listing::Search).unwrap();
        assert_eq!(q.to_draft().parse(Listing::Search).unwrap(), q);
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
