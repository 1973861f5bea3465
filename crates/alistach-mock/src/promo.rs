//! Similar products and featured promotions over the mock catalog: deterministic rules a
//! reader can predict, each answer in the platform's shape.
//!
//! - similar products: the other products of the seed's second-level category, best sellers
//!   first (ties by id), [`SIMILAR_PAGE_SIZE`] a page; an unknown seed finds nothing;
//! - promotions: the four permanent pools the platform documents, `Hot Product` (products
//!   with a hot-product commission), `New Arrival` (every seventh product), `Best Seller`
//!   (20,000 or more recent sales) and `weeklydeals` (discounts of 50 % or more); an unknown
//!   name finds nothing.

use std::cmp::Reverse;

use alistach_domain::{MAX_PAGE_NO, PromotionQuery, PromotionSort, SimilarQuery};

use crate::catalog::{self, CatalogData, Item};
use crate::vocab::TOPS;

/// Products per page of similar products (smartmatch has no page size parameter).
pub const SIMILAR_PAGE_SIZE: usize = 20;

/// The mock's promotions: name and description, in the order they are listed.
pub(crate) const PROMOTIONS: [(&str, &str); 4] = [
    ("Hot Product", "Products with a high hot-product commission"),
    ("New Arrival", "Products recently listed"),
    ("Best Seller", "Products with the most recent sales"),
    ("weeklydeals", "This week's deals: discounts of 50% or more"),
];

/// Whether product `index` belongs to the promotion named `name`; `None` for an unknown name.
pub(crate) fn in_promotion(name: &str, index: usize, item: &Item) -> Option<bool> {
    match name {
        "Hot Product" => Some(item.hot_commission_tenths.is_some()),
        "New Arrival" => Some(index.is_multiple_of(7)),
        "Best Seller" => Some(item.volume >= 20_000),
        "weeklydeals" => Some(item.discount_percent >= 50),
        _ => None,
    }
}

/// The indexes of the similar products on the requested page.
pub(crate) fn similar(data: &CatalogData, query: &SimilarQuery) -> Vec<usize> {
    let Some(seed) = data.position(query.product_id) else {
        return Vec::new();
    };
    let (top, sub) = (data.items[seed].top, data.items[seed].sub);
    let mut matches: Vec<usize> = (0..data.items.len())
        .filter(|i| *i != seed && data.items[*i].top == top && data.items[*i].sub == sub)
        .filter(|i| {
            query
                .country
                .is_none_or(|c| catalog::ships_to(data.items[*i].id, c))
        })
        .collect();
    matches.sort_unstable_by_key(|i| (Reverse(data.items[*i].volume), data.items[*i].id));
    let start = (query.page_no.max(1) as usize - 1).saturating_mul(SIMILAR_PAGE_SIZE);
    matches
        .get(start..)
        .map(|rest| rest.iter().take(SIMILAR_PAGE_SIZE).copied().collect())
        .unwrap_or_default()
}

/// How many products each promotion holds, in [`PROMOTIONS`] order.
pub(crate) fn counts(data: &CatalogData) -> [u64; 4] {
    let mut counts = [0u64; 4];
    for (i, item) in data.items.iter().enumerate() {
        for (slot, (name, _)) in PROMOTIONS.iter().enumerate() {
            if in_promotion(name, i, item) == Some(true) {
                counts[slot] += 1;
            }
        }
    }
    counts
}

/// The indexes on the requested page of a promotion, and how many matched in all.
pub(crate) fn promotion_page(data: &CatalogData, query: &PromotionQuery) -> (Vec<usize>, usize) {
    let name = query.promotion_name.trim();
    let mut matches: Vec<usize> = data
        .items
        .iter()
        .enumerate()
        .filter(|(i, item)| in_promotion(name, *i, item) == Some(true))
        .filter(|(_, item)| {
            query.category_id.is_none_or(|c| {
                let top = &TOPS[item.top];
                top.id == c.0 || top.subs[item.sub].id == c.0
            })
        })
        .filter(|(_, item)| query.country.is_none_or(|c| catalog::ships_to(item.id, c)))
        .map(|(i, _)| i)
        .collect();
    let items = &data.items;
    let key = |i: &usize| -> (i64, u64) {
        let item = &items[*i];
        match query.sort {
            Some(PromotionSort::CommissionAsc | PromotionSort::CommissionDesc) => {
                (item.commission_tenths, item.id.0)
            }
            Some(PromotionSort::PriceAsc | PromotionSort::PriceDesc) => {
                (item.sale_usd_cents, item.id.0)
            }
            Some(PromotionSort::VolumeAsc | PromotionSort::VolumeDesc) => {
                (item.volume as i64, item.id.0)
            }
            Some(PromotionSort::DiscountAsc | PromotionSort::DiscountDesc) => {
                (i64::from(item.discount_percent), item.id.0)
            }
            Some(PromotionSort::RatingAsc | PromotionSort::RatingDesc) => {
                (item.rating_tenths, item.id.0)
            }
            // Every mock promotion runs all year: promotion time orders like catalog order.
            Some(PromotionSort::PromotionTimeAsc | PromotionSort::PromotionTimeDesc) | None => {
                (0, *i as u64)
            }
        }
    };
    matches.sort_unstable_by_key(key);
    if matches!(
        query.sort,
        Some(
            PromotionSort::CommissionDesc
                | PromotionSort::PriceDesc
                | PromotionSort::VolumeDesc
                | PromotionSort::DiscountDesc
                | PromotionSort::RatingDesc
                | PromotionSort::PromotionTimeDesc
        )
    ) {
        matches.reverse();
    }
    let total = matches.len();
    let size = query.page_size.max(1) as usize;
    let start = (query.page_no.max(1) as usize - 1).saturating_mul(size);
    let page = matches
        .get(start..)
        .map(|rest| rest.iter().take(size).copied().collect())
        .unwrap_or_default();
    (page, total)
}

/// Pages in all for `total` products of `page_size`, capped as the platform caps them.
pub(crate) fn total_pages(total: usize, page_size: u32) -> u32 {
    u32::try_from(total.div_ceil(page_size.max(1) as usize))
        .unwrap_or(u32::MAX)
        .min(MAX_PAGE_NO)
}
