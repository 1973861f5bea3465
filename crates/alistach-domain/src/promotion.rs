//! Featured promotions (the platform's product pools such as `Hot Product`) and similar
//! products: the questions, checked against the platform's limits, and the answers.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{
    CategoryId, CountryCode, Currency, Language, MAX_PAGE_NO, MAX_PAGE_SIZE, ProductId,
    ValidationError,
};

/// The longest promotion name accepted (the platform's names are a few words).
pub const MAX_PROMOTION_NAME_CHARS: usize = 100;

/// A featured promotion (`aliexpress.affiliate.featuredpromo.get`): a pool of products.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Promotion {
    /// Its name, e.g. `Hot Product`; the key to its products.
    pub name: String,
    /// What it is, as the platform describes it.
    pub description: Option<String>,
    /// How many products it holds, when the platform says.
    pub product_count: Option<u64>,
}

/// The orders `aliexpress.affiliate.featuredpromo.products.get` accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum PromotionSort {
    CommissionAsc,
    CommissionDesc,
    PriceAsc,
    PriceDesc,
    VolumeAsc,
    VolumeDesc,
    DiscountAsc,
    DiscountDesc,
    RatingAsc,
    RatingDesc,
    PromotionTimeAsc,
    PromotionTimeDesc,
}

impl PromotionSort {
    /// Every order, as the platform spells it.
    pub const ALL: [PromotionSort; 12] = [
        PromotionSort::CommissionAsc,
        PromotionSort::CommissionDesc,
        PromotionSort::PriceAsc,
        PromotionSort::PriceDesc,
        PromotionSort::VolumeAsc,
        PromotionSort::VolumeDesc,
        PromotionSort::DiscountAsc,
        PromotionSort::DiscountDesc,
        PromotionSort::RatingAsc,
        PromotionSort::RatingDesc,
        PromotionSort::PromotionTimeAsc,
        PromotionSort::PromotionTimeDesc,
    ];

    /// The platform's spelling (`priceAsc` ...).
    pub const fn code(self) -> &'static str {
        match self {
            PromotionSort::CommissionAsc => "commissionAsc",
            PromotionSort::CommissionDesc => "commissionDesc",
            PromotionSort::PriceAsc => "priceAsc",
            PromotionSort::PriceDesc => "priceDesc",
            PromotionSort::VolumeAsc => "volumeAsc",
            PromotionSort::VolumeDesc => "volumeDesc",
            PromotionSort::DiscountAsc => "discountAsc",
            PromotionSort::DiscountDesc => "discountDesc",
            PromotionSort::RatingAsc => "ratingAsc",
            PromotionSort::RatingDesc => "ratingDesc",
            PromotionSort::PromotionTimeAsc => "promotionTimeAsc",
            PromotionSort::PromotionTimeDesc => "promotionTimeDesc",
        }
    }
}

impl fmt::Display for PromotionSort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for PromotionSort {
    type Err = ValidationError;
    /// The platform's spelling, case-insensitively (`priceAsc`, `PRICEASC`).
    fn from_str(s: &str) -> Result<Self, ValidationError> {
        let s = s.trim();
        PromotionSort::ALL
            .into_iter()
            .find(|o| o.code().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                ValidationError::new(
                    "sort",
                    "must be one of commissionAsc, commissionDesc, priceAsc, priceDesc, \
                     volumeAsc, volumeDesc, discountAsc, discountDesc, ratingAsc, ratingDesc, \
                     promotionTimeAsc, promotionTimeDesc",
                )
            })
    }
}

/// A page of a promotion's products
/// (`aliexpress.affiliate.featuredpromo.products.get`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PromotionQuery {
    /// The promotion, by name (from the promotions list, e.g. `Hot Product`).
    pub promotion_name: String,
    /// Only products in this category (top level or second level).
    pub category_id: Option<CategoryId>,
    /// Result order; the platform's own order when absent.
    pub sort: Option<PromotionSort>,
    /// 1-based page number, at most [`MAX_PAGE_NO`].
    pub page_no: u32,
    /// Results per page, 1 to [`MAX_PAGE_SIZE`].
    pub page_size: u32,
    /// Currency for prices.
    pub currency: Currency,
    /// Language for titles.
    pub language: Language,
    /// Only products that ship to this country.
    pub country: Option<CountryCode>,
}

impl PromotionQuery {
    /// Checks the platform's limits, naming the first field that breaks one.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let name = self.promotion_name.trim();
        if name.is_empty() {
            return Err(ValidationError::new(
                "promotion_name",
                "must name a promotion (see the promotions list), e.g. Hot Product",
            ));
        }
        if name.chars().count() > MAX_PROMOTION_NAME_CHARS {
            return Err(ValidationError::new(
                "promotion_name",
                format!("must be at most {MAX_PROMOTION_NAME_CHARS} characters"),
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(ValidationError::new(
                "promotion_name",
                "must not contain control characters",
            ));
        }
        check_page(self.page_no)?;
        if !(1..=MAX_PAGE_SIZE).contains(&self.page_size) {
            return Err(ValidationError::new(
                "page_size",
                format!("must be between 1 and {MAX_PAGE_SIZE}"),
            ));
        }
        Ok(())
    }

    /// The same question in normal form (the name trimmed), so equal questions are equal.
    pub fn normalized(&self) -> PromotionQuery {
        PromotionQuery {
            promotion_name: self.promotion_name.trim().to_owned(),
            ..self.clone()
        }
    }
}

/// Products related to a seed product (`aliexpress.affiliate.product.smartmatch`, seeded by a
/// product id: the reference notes keyword-only matching returns mostly unrelated items).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SimilarQuery {
    /// The product to find similar products for.
    pub product_id: ProductId,
    /// 1-based page number, at most [`MAX_PAGE_NO`] (the platform chooses the page size).
    pub page_no: u32,
    /// Currency for prices.
    pub currency: Currency,
    /// Language for titles.
    pub language: Language,
    /// Only products that ship to this country.
    pub country: Option<CountryCode>,
}

impl SimilarQuery {
    /// Checks the page number.
    pub fn validate(&self) -> Result<(), ValidationError> {
        check_page(self.page_no)
    }
}

fn check_page(page_no: u32) -> Result<(), ValidationError> {
    if !(1..=MAX_PAGE_NO).contains(&page_no) {
        return Err(ValidationError::new(
            "page_no",
            format!("must be between 1 and {MAX_PAGE_NO}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query() -> PromotionQuery {
        PromotionQuery {
            promotion_name: " Hot Product ".into(),
            category_id: None,
            sort: None,
            page_no: 1,
            page_size: 10,
            currency: Currency::USD,
            language: Language::EN,
            country: None,
        }
    }

    #[test]
    fn promotion_queries_name_the_broken_limit() {
        assert!(query().validate().is_ok());
        assert_eq!(query().normalized().promotion_name, "Hot Product");
        let field = |f: &dyn Fn(&mut PromotionQuery)| {
            let mut q = query();
            f(&mut q);
            q.validate().unwrap_err().field
        };
        assert_eq!(field(&|q| q.promotion_name = "  ".into()), "promotion_name");
        assert_eq!(
            field(&|q| q.promotion_name = "x".repeat(101)),
            "promotion_name"
        );
        assert_eq!(
            field(&|q| q.promotion_name = "a\u{0}b".into()),
            "promotion_name"
        );
        assert_eq!(field(&|q| q.page_no = 0), "page_no");
        assert_eq!(field(&|q| q.page_no = 101), "page_no");
        assert_eq!(field(&|q| q.page_size = 0), "page_size");
        assert_eq!(field(&|q| q.page_size = 51), "page_size");
        let similar = SimilarQuery {
            product_id: ProductId(1005006123456789),
            page_no: 0,
            currency: Currency::USD,
            language: Language::EN,
            country: None,
        };
        assert_eq!(similar.validate().unwrap_err().field, "page_no");
    }

    #[test]
    fn promotion_sorts_parse_in_the_platform_spelling() {
        for s in PromotionSort::ALL {
            assert_eq!(s.code().parse::<PromotionSort>().unwrap(), s);
        }
        assert_eq!(
            "PRICEASC".parse::<PromotionSort>().unwrap(),
            PromotionSort::PriceAsc
        );
        assert_eq!("cheap".parse::<PromotionSort>().unwrap_err().field, "sort");
    }
}
