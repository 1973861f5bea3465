//! The cached renderings: a product page and the category tree as the JSON objects that
//! `data` holds, and the envelope that splices a stored rendering into an answer as it is.

use alistach_api::types as api;
use alistach_domain::{Category, Product, ProductId, ProductPage, SearchQuery};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::body::Body;
use crate::convert;
use crate::respond::to_json;

/// Names the rendering of a product page that the cache stores; change it whenever
/// [`render_page`]'s output changes.
pub(crate) const PAGE_FORMAT: &str = "page1";
/// Names the rendering of the category list; change it whenever [`render_categories`] changes.
pub(crate) const CATEGORIES_FORMAT: &str = "cats1";
/// Names the rendering of similar products; change it whenever [`render_similar`] changes.
pub(crate) const SIMILAR_FORMAT: &str = "sim1";

/// `SimilarProductsData` without `cache_hit`, in the same field order (read back by the MCP
/// tools, which share the cached renderings with REST).
#[derive(Serialize, Deserialize)]
pub(crate) struct SimilarData {
    pub(crate) products: Vec<api::Product>,
    pub(crate) total_results: u64,
    pub(crate) current_page: u32,
    pub(crate) product_id: String,
}

/// Similar products of `seed` on `page_no` as the JSON object that `data` holds, minus
/// `cache_hit`.
pub(crate) fn render_similar(
    seed: ProductId,
    page_no: u32,
) -> impl FnOnce(Vec<Product>) -> Bytes + Send + 'static {
    move |products| {
        let data = SimilarData {
            total_results: products.len() as u64,
            current_page: page_no,
            product_id: seed.to_string(),
            products: products.into_iter().map(convert::product).collect(),
        };
        Bytes::from(to_json(&data))
    }
}

/// `SearchData` without `cache_hit`, in the same field order: the cached part of a search answer
/// (read back by the MCP tools, which share the cached renderings with REST).
#[derive(Serialize, Deserialize)]
pub(crate) struct PageData {
    pub(crate) products: Vec<api::Product>,
    pub(crate) total_results: u64,
    pub(crate) current_page: u32,
    pub(crate) page_size: u32,
    pub(crate) total_pages: u32,
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
/// it is; with `cache_hit`, that flag is appended as the object's last field. `metadata` writes
/// the metadata object (see [`serde_metadata`] and [`search_metadata`]).
pub(crate) fn envelope(
    data: &Bytes,
    cache_hit: Option<bool>,
    metadata: impl FnOnce(&mut Vec<u8>),
) -> Body {
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
    metadata(&mut tail);
    tail.push(b'}');
    Body::chunks(
        Bytes::from_static(br#"{"success":true,"data":"#),
        data,
        Bytes::from(tail),
    )
}

/// Writes any metadata through serde.
pub(crate) fn serde_metadata(value: &impl Serialize) -> impl FnOnce(&mut Vec<u8>) + '_ {
    move |out| {
        if serde_json::to_writer(&mut *out, value).is_err() {
            out.extend_from_slice(b"{}");
        }
    }
}

/// What a search's metadata says, borrowed: [`api::SearchMetadata`] without its copies, the
/// search parameters read from the query itself (as [`convert::search_params`] echoes them).
pub(crate) struct SearchMeta<'a> {
    pub(crate) mock_mode: bool,
    pub(crate) processing_time_ms: f64,
    pub(crate) api_version: &'a str,
    pub(crate) api_integration: &'a str,
    pub(crate) cache_hit: bool,
    pub(crate) cache_enabled: bool,
    pub(crate) cache_status: &'a str,
    pub(crate) stale: bool,
    pub(crate) query: &'a SearchQuery,
    pub(crate) cache_bypassed: Option<bool>,
    pub(crate) fresh_data: Option<bool>,
}

impl SearchMeta<'_> {
    /// The contract's value of the same metadata.
    #[cfg(test)]
    pub(crate) fn to_api(&self) -> api::SearchMetadata {
        api::SearchMetadata {
            mock_mode: self.mock_mode,
            processing_time_ms: self.processing_time_ms,
            api_version: self.api_version.to_owned(),
            api_integration: self.api_integration.to_owned(),
            cache_hit: self.cache_hit,
            cache_enabled: self.cache_enabled,
            cache_status: self.cache_status.to_owned(),
            stale: self.stale,
            search_params: convert::search_params(self.query),
            cache_bypassed: self.cache_bypassed,
            fresh_data: self.fresh_data,
        }
    }
}

/// Writes a search's metadata exactly as serde writes [`SearchMeta::to_api`] (a test holds
/// the two to the same bytes), with the field names as constants and the values borrowed:
/// this runs on every cached search, and serde's generic path (escaping every key, one call
/// per field) was a tenth of a hit's instructions, the copies into the contract type (a
/// `String` per text field) a few percent more.
pub(crate) fn search_metadata<'m>(m: &'m SearchMeta<'_>) -> impl FnOnce(&mut Vec<u8>) + 'm {
    move |out| {
        fn text(out: &mut Vec<u8>, s: &str) {
            // Strings still go through serde_json's escaping.
            let _ = serde_json::to_writer(&mut *out, s);
        }
        fn flag(out: &mut Vec<u8>, b: bool) {
            out.extend_from_slice(if b { b"true" } else { b"false" });
        }
        fn number(out: &mut Vec<u8>, n: impl Serialize) {
            let _ = serde_json::to_writer(&mut *out, &n);
        }
        let q = m.query;
        out.extend_from_slice(br#"{"mock_mode":"#);
        flag(out, m.mock_mode);
        out.extend_from_slice(br#","processing_time_ms":"#);
        number(out, m.processing_time_ms);
        out.extend_from_slice(br#","api_version":"#);
        text(out, m.api_version);
        out.extend_from_slice(br#","api_integration":"#);
        text(out, m.api_integration);
        out.extend_from_slice(br#","cache_hit":"#);
        flag(out, m.cache_hit);
        out.extend_from_slice(br#","cache_enabled":"#);
        flag(out, m.cache_enabled);
        out.extend_from_slice(br#","cache_status":"#);
        text(out, m.cache_status);
        out.extend_from_slice(br#","stale":"#);
        flag(out, m.stale);
        out.extend_from_slice(br#","search_params":{"#);
        if let Some(k) = q.keywords() {
            out.extend_from_slice(br#""keywords":"#);
            text(out, k);
            out.push(b',');
        }
        out.extend_from_slice(br#""page_size":"#);
        number(out, q.page_size());
        out.extend_from_slice(br#","page_no":"#);
        number(out, q.page_no());
        if let Some(sort) = q.sort() {
            out.extend_from_slice(br#","sort":"#);
            text(out, sort.code());
        }
        for (name, price) in [
            (&br#","min_sale_price":"#[..], q.min_price()),
            (br#","max_sale_price":"#, q.max_price()),
        ] {
            if let Some(p) = price {
                out.extend_from_slice(name);
                text(out, &p.to_string());
            }
        }
        out.extend_from_slice(br#","target_currency":"#);
        text(out, q.currency().code());
        out.extend_from_slice(br#","target_language":"#);
        text(out, q.language().code());
        if let Some(c) = q.ship_to_country() {
            out.extend_from_slice(br#","ship_to_country":"#);
            text(out, c.as_str());
        }
        if let Some((first, rest)) = q.category_ids().split_first() {
            // Decimal ids joined by commas: nothing in them to escape.
            out.extend_from_slice(br#","category_ids":""#);
            out.extend_from_slice(itoa::Buffer::new().format(first.0).as_bytes());
            for id in rest {
                out.push(b',');
                out.extend_from_slice(itoa::Buffer::new().format(id.0).as_bytes());
            }
            out.push(b'"');
        }
        out.push(b'}');
        for (name, value) in [
            (&br#","cache_bypassed":"#[..], m.cache_bypassed),
            (br#","fresh_data":"#, m.fresh_data),
        ] {
            if let Some(v) = value {
                out.extend_from_slice(name);
                flag(out, v);
            }
        }
        out.push(b'}');
    }
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
            let spliced =
                envelope(&render_page(page()), Some(hit), serde_metadata(&metadata())).to_vec();
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
            serde_json::from_slice(&envelope(&data, None, serde_metadata(&metadata())).to_vec())
                .unwrap();
        assert_eq!(
            got["data"],
            serde_json::to_value(api::CategoriesData {
                categories: convert::categories(&flat)
            })
            .unwrap()
        );
        assert_eq!(got["success"], true);
    }

    #[test]
    fn search_metadata_is_written_exactly_as_serde_writes_it() {
        use alistach_domain::{CategoryId, CountryCode, Language, Listing, SearchDraft, SortOrder};
        let mut full = SearchDraft::new("  \"quoted\" \\ back ünï 中文 \u{2028}  twice ");
        full.page_size = 50;
        full.page_no = 7;
        full.sort = Some(SortOrder::SalePriceAsc);
        full.min_price = Some("1.50".parse().unwrap());
        full.max_price = Some("99.99".parse().unwrap());
        full.currency = Currency::EUR;
        full.language = Language::FR;
        full.ship_to_country = Some("DE".parse::<CountryCode>().unwrap());
        full.category_ids = vec![CategoryId(5), CategoryId(3), CategoryId(1234567890123)];
        let full = full.parse(Listing::Search).unwrap();
        let mut bare = SearchDraft::new("");
        bare.keywords = None;
        bare.page_size = 1;
        let bare = bare.parse(Listing::Hot).unwrap();
        let mut one = SearchDraft::new("x");
        one.category_ids = vec![CategoryId(44)];
        let one = one.parse(Listing::Search).unwrap();
        for (i, query) in [full, bare, one].iter().enumerate() {
            for t in [0.0, 0.1, 1e-7, 123456.789, f64::NAN] {
                let m = SearchMeta {
                    mock_mode: i == 1,
                    processing_time_ms: t,
                    api_version: "2.0.0",
                    api_integration: if i == 1 { "mock" } else { "real\u{1}" },
                    cache_hit: i != 1,
                    cache_enabled: i != 2,
                    cache_status: if i == 0 { "STALE" } else { "HIT" },
                    stale: i == 0,
                    query,
                    cache_bypassed: (i == 0).then_some(true),
                    fresh_data: (i == 0).then_some(false),
                };
                let mut ours = Vec::new();
                search_metadata(&m)(&mut ours);
                assert_eq!(
                    String::from_utf8(ours).unwrap(),
                    serde_json::to_string(&m.to_api()).unwrap()
                );
            }
        }
    }
}
