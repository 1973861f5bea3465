//! The cached renderings: a product page and the category tree as the JSON objects that
//! `data` holds, and the envelope that splices a stored rendering into an answer as it is.

use alistach_api::types as api;
use alistach_domain::{Category, ProductPage};
use bytes::Bytes;
use serde::Serialize;

use crate::body::Body;
use crate::convert;
use crate::respond::to_json;

/// Names the rendering of a product page that the cache stores; change it whenever
/// [`render_page`]'s output changes.
pub(crate) const PAGE_FORMAT: &str = "page1";
/// Names the rendering of the category list; change it whenever [`render_categories`] changes.
pub(crate) const CATEGORIES_FORMAT: &str = "cats1";

/// `SearchData` without `cache_hit`, in the same field order: the cached part of a search answer.
#[derive(Serialize)]
struct PageData {
    products: Vec<api::Product>,
    total_results: u64,
    current_page: u32,
    page_size: u32,
    total_pages: u32,
}

/// A product page as the JSON object that `data` holds, minus `cache_hit` (added per answer).
pub(crate) fn render_page(page: ProductPage) -> Bytes {
    let data = PageData {
        total_results: page.total_records,
        current_page: page.page_no,
        page_size: page.page_size,
        total_pages: page.total_pages,
        products: page.products.into_iter().map(convert::product).collect(),
    };
    Bytes::from(to_json(&data))
}

/// The category tree as the JSON object that `data` holds (the service keeps the count).
pub(crate) fn render_categories(flat: Vec<Category>) -> Bytes {
    Bytes::from(to_json(&api::CategoriesData {
        categories: convert::categories(&flat),
    }))
}

/// `{"success":true,"data":<data>,"metadata":<metadata>}`, splicing the stored `data` object as
/// it is; with `cache_hit`, that flag is appended as the object's last field.
pub(crate) fn envelope(data: &Bytes, cache_hit: Option<bool>, metadata: &impl Serialize) -> Body {
    let mut tail = Vec::with_capacity(512);
    let data = match (cache_hit, data.last()) {
        (Some(hit), Some(b'}')) => {
            // An object with no fields would need no comma; ours always has fields.
            tail.extend_from_slice(if hit {
                br#","cache_hit":true}"#
            } else {
                br#","cache_hit":false}"#
            });
            data.slice(..data.len() - 1)
        }
        _ => data.clone(),
    };
    tail.extend_from_slice(br#","metadata":"#);
    if serde_json::to_writer(&mut tail, metadata).is_err() {
        tail.extend_from_slice(b"{}");
    }
    tail.push(b'}');
    Body::chunks(
        Bytes::from_static(br#"{"success":true,"data":"#),
        data,
        Bytes::from(tail),
    )
}

#[cfg(test)]
mod tests {
    use alistach_domain::{CategoryId, Currency, Decimal, Money, Product, ProductId};

    use super::*;

    fn page() -> ProductPage {
        let mut p = Product::new(ProductId(1005006123456789), "Wireless Earbuds \"Pro\" é");
        p.sale_price = Some(Money::new(
            "17.99".parse::<Decimal>().unwrap(),
            Currency::EUR,
        ));
        p.commission_rate_percent = Some("7.0".parse().unwrap());
        ProductPage {
            products: vec![p.clone(), p],
            page_no: 2,
            page_size: 2,
            total_records: 40,
            total_pages: 20,
        }
    }

    fn metadata() -> api::CategoriesMetadata {
        api::CategoriesMetadata {
            mock_mode: true,
            api_integration: "mock".into(),
            cache_hit: true,
            cache_enabled: true,
            total_categories: 2,
            stale: false,
        }
    }

    #[test]
    fn spliced_search_answers_equal_the_serialised_contract_type() {
        for hit in [true, false] {
            let spliced = envelope(&render_page(page()), Some(hit), &metadata()).to_vec();
            let page = page();
            let expected = serde_json::json!({
                "success": true,
                "data": api::SearchData {
                    total_results: page.total_records,
                    current_page: page.page_no,
                    page_size: page.page_size,
                    total_pages: page.total_pages,
                    products: page.products.into_iter().map(convert::product).collect(),
                    cache_hit: hit,
                },
                "metadata": metadata(),
            });
            let got: serde_json::Value = serde_json::from_slice(&spliced).unwrap();
            assert_eq!(got, expected);
            // And it parses as the contract type itself.
            let _: api::Envelope<api::SearchData, api::CategoriesMetadata> =
                serde_json::from_slice(&spliced).unwrap();
        }
    }

    #[test]
    fn spliced_category_answers_carry_the_tree() {
        let flat = vec![
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
        ];
        let data = render_categories(flat.clone());
        let got: serde_json::Value =
            serde_json::from_slice(&envelope(&data, None, &metadata()).to_vec()).unwrap();
        assert_eq!(
            got["data"],
            serde_json::to_value(api::CategoriesData {
                categories: convert::categories(&flat)
            })
            .unwrap()
        );
        assert_eq!(got["success"], true);
    }
}
