//! What a tool answers: the compact product form a model needs to recommend a product, the
//! envelope every result shares (mode, staleness, the sample-data notice), and the two shapes of
//! a tool result: `structuredContent` with the same JSON as text, or a tool error carrying the
//! problem document.

use alistach_api::types as api;
use alistach_domain::ApiMode;
use rmcp::model::{CallToolResult, ContentBlock};
use schemars::JsonSchema;
use serde::Serialize;

use crate::error::HttpError;
use crate::respond::problem_document;

/// What every mock-mode result says, in the JSON the model reads.
pub(crate) const SAMPLE_DATA_NOTICE: &str = "SAMPLE DATA: this server runs in mock mode (no AliExpress credentials), so these are not real products, prices or links. Tell the user before recommending anything.";

/// A product as a model needs it to recommend it; `detail: true` gives the full record instead.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub(crate) struct CompactProduct {
    /// Product id: pass it to get_product_details (or find_similar_products).
    pub id: String,
    /// Product title in the requested language.
    pub title: String,
    /// Price before discount, decimal in `currency`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<String>,
    /// What the buyer pays now, decimal in `currency`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sale_price: Option<String>,
    /// Currency of the prices, e.g. USD.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Discount, e.g. "50%".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discount: Option<String>,
    /// Positive feedback rate, e.g. "98.5%".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rating: Option<String>,
    /// Units sold recently.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub orders: Option<u64>,
    /// Main image URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The affiliate link to share with the user (already tracked; no link call needed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promotion_link: Option<String>,
    /// The seller's shop name (or id when the name is unknown).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shop: Option<String>,
}

fn some(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

impl From<api::Product> for CompactProduct {
    fn from(p: api::Product) -> Self {
        let sale = p.sale_price.or_else(|| some(p.app_sale_price));
        CompactProduct {
            id: p.product_id,
            title: p.product_title,
            price: some(p.original_price).filter(|o| sale.as_ref() != Some(o)),
            sale_price: sale,
            currency: p.currency,
            discount: some(p.discount).filter(|d| d != "0%"),
            rating: some(p.evaluate_rate),
            orders: p.sales_volume.or(p.lastest_volume),
            image: some(p.product_main_image_url),
            promotion_link: p.promotion_link,
            shop: p.shop_name.or_else(|| some(p.shop_id)),
        }
    }
}

/// A product in a result: compact unless the call asked for `detail`.
// Built once per product and serialised at once; boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, Serialize, JsonSchema)]
#[serde(untagged)]
pub(crate) enum ProductOut {
    /// The fields a recommendation needs.
    Compact(CompactProduct),
    /// The full product record (`detail: true`).
    Full(api::Product),
}

impl ProductOut {
    /// `p` in the form the call asked for.
    pub(crate) fn new(p: api::Product, detail: bool) -> Self {
        if detail {
            ProductOut::Full(p)
        } else {
            ProductOut::Compact(p.into())
        }
    }
}

/// The envelope of every tool result: the data, and what the model must know about it.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub(crate) struct Answer<T> {
    /// Present only for sample data (mock mode): say so to the user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notice: Option<&'static str>,
    /// True when the data is the labelled sample catalog, not AliExpress.
    pub mock_mode: bool,
    /// True when AliExpress was failing and a cached (older) answer was served.
    pub stale: bool,
    /// The answer itself.
    #[serde(flatten)]
    pub data: T,
}

impl<T> Answer<T> {
    /// `data` as answered in `mode`.
    pub(crate) fn new(mode: ApiMode, stale: bool, data: T) -> Self {
        Answer {
            notice: mode.is_mock().then_some(SAMPLE_DATA_NOTICE),
            mock_mode: mode.is_mock(),
            stale,
            data,
        }
    }
}

/// A successful call: `structuredContent`, and the same JSON as text for clients that read only
/// text.
pub(crate) fn success(value: serde_json::Value) -> CallToolResult {
    let text = value.to_string();
    let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
    result.structured_content = Some(value);
    result
}

/// A failed call the model can correct or retry: `isError: true` and the problem document
/// (detail, invalid field, retry hint) as text.
pub(crate) fn failure(e: &HttpError, request_id: Option<&str>) -> CallToolResult {
    let problem = problem_document(e, request_id.unwrap_or_default(), Some("/mcp"));
    let text = serde_json::to_string(&problem).unwrap_or_else(|_| e.detail());
    CallToolResult::error(vec![ContentBlock::text(text)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_products_keep_what_a_recommendation_needs() {
        let p = api::Product {
            product_id: "1005006123456789".into(),
            product_title: "Earbuds".into(),
            app_sale_price: "17.99".into(),
            original_price: "35.98".into(),
            discount: "50%".into(),
            evaluate_rate: "98.5%".into(),
            product_main_image_url: "https://img/x.jpg".into(),
            shop_id: "42".into(),
            sale_price: Some("17.99".into()),
            currency: Some("USD".into()),
            promotion_link: Some("https://s.click.aliexpress.com/e/_x".into()),
            sales_volume: Some(120),
            ..api::Product::default()
        };
        let v = serde_json::to_value(ProductOut::new(p.clone(), false)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "id": "1005006123456789", "title": "Earbuds", "price": "35.98",
                "sale_price": "17.99", "currency": "USD", "discount": "50%",
                "rating": "98.5%", "orders": 120, "image": "https://img/x.jpg",
                "promotion_link": "https://s.click.aliexpress.com/e/_x", "shop": "42"
            })
        );
        let full = serde_json::to_value(ProductOut::new(p, true)).unwrap();
        assert_eq!(full["product_id"], "1005006123456789");
        assert_eq!(full["shop_url"], "");
    }

    #[test]
    fn mock_answers_carry_the_notice_and_real_ones_do_not() {
        let mock = serde_json::to_value(Answer::new(
            ApiMode::Mock,
            false,
            serde_json::json!({"a": 1}),
        ))
        .unwrap();
        assert_eq!(mock["notice"], SAMPLE_DATA_NOTICE);
        assert_eq!(mock["mock_mode"], true);
        assert_eq!(mock["a"], 1);
        let real =
            serde_json::to_value(Answer::new(ApiMode::Real, true, serde_json::json!({}))).unwrap();
        assert!(real.get("notice").is_none());
        assert_eq!(real["stale"], true);
    }
}
