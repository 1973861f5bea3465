//! Search over the catalog: every filter of a `SearchQuery` honoured, the four sort orders
//! plus a stable relevance order, and paging with the platform's totals.

use std::cmp::Reverse;

use alistach_domain::{MAX_PAGE_NO, SearchQuery, SortOrder};

use crate::catalog::{self, CatalogData};
use crate::fx;

/// The items on the requested page (indexes in display order) and how many matched in all.
pub(crate) struct Hits {
    pub page: Vec<usize>,
    pub total: usize,
    pub total_pages: u32,
}

/// Runs a query. `hot_only` keeps products with a hot-product commission. Expects a query whose
/// `page_no` and `page_size` are at least 1 (the caller validates).
pub(crate) fn run(data: &CatalogData, query: &SearchQuery, hot_only: bool) -> Hits {
    let keyword_set = match query.keywords().map(str::trim) {
        Some(k) if !k.is_empty() => match data.keyword_matches(k) {
            Some(set) => Some(set),
            // Only stop words or punctuation: nothing to match a title against.
            None => {
                return Hits {
                    page: Vec::new(),
                    total: 0,
                    total_pages: 0,
                };
            }
        },
        _ => None,
    };
    let set = match (keyword_set, hot_only) {
        (Some(mut set), true) => {
            set.intersect_with(&data.hot);
            Some(set)
        }
        (None, true) => Some(data.hot.clone()),
        (set, false) => set,
    };
    let matches = match &set {
        Some(set) => set.iter().filter(|i| keep(data, query, *i)).collect(),
        None => (0..data.items.len())
            .filter(|i| keep(data, query, *i))
            .collect(),
    };
    finish(data, query, matches)
}

/// The filters other than keywords and hotness.
fn keep(data: &CatalogData, query: &SearchQuery, index: usize) -> bool {
    let item = &data.items[index];
    if !query.category_ids().is_empty() {
        let top = crate::vocab::TOPS[item.top].id;
        let sub = crate::vocab::TOPS[item.top].subs[item.sub].id;
        if !query
            .category_ids()
            .iter()
            .any(|c| c.0 == top || c.0 == sub)
        {
            return false;
        }
    }
    if query
        .ship_to_country()
        .is_some_and(|country| !catalog::ships_to(item.id, country))
    {
        return false;
    }
    let price = item.sale[fx::slot(query.currency())];
    if query.min_price().is_some_and(|min| price < min)
        || query.max_price().is_some_and(|max| price > max)
    {
        return false;
    }
    true
}

fn finish(data: &CatalogData, query: &SearchQuery, mut matches: Vec<usize>) -> Hits {
    let items = &data.items;
    // Sorting on US cents is exact for every currency: conversion is monotone, so a US order is
    // never out of order after conversion (at worst two prices round to the same amount).
    match query.sort() {
        None => matches.sort_unstable_by_key(|i| (Reverse(items[*i].score), items[*i].id)),
        Some(SortOrder::SalePriceAsc) => {
            matches.sort_unstable_by_key(|i| (items[*i].sale_usd_cents, items[*i].id))
        }
        Some(SortOrder::SalePriceDesc) => {
            matches.sort_unstable_by_key(|i| (Reverse(items[*i].sale_usd_cents), items[*i].id));
        }
        Some(SortOrder::LastVolumeAsc) => {
            matches.sort_unstable_by_key(|i| (items[*i].volume, items[*i].id))
        }
        Some(SortOrder::LastVolumeDesc) => {
            matches.sort_unstable_by_key(|i| (Reverse(items[*i].volume), items[*i].id))
        }
    }
    let total = matches.len();
    let size = query.page_size().max(1) as usize;
    let total_pages = u32::try_from(total.div_ceil(size))
        .unwrap_or(u32::MAX)
        .min(MAX_PAGE_NO);
    let start = (query.page_no().max(1) as usize - 1).saturating_mul(size);
    let page = matches
        .get(start..)
        .map(|rest| rest.iter().take(size).copied().collect())
        .unwrap_or_default();
    Hits {
        page,
        total,
        total_pages,
    }
}
