//! Private wire types: the gateway's JSON as it really arrives (numbers as strings or numbers,
//! lists wrapped or flat, fields missing), the envelope check and the error classification.

use std::time::Duration;

use alistach_domain::{MAX_RETRY_AFTER, UpstreamError};
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// Text that may arrive as a JSON string, number or boolean; empty strings count as absent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Text(pub(crate) Option<String>);

impl Text {
    pub(crate) fn get(&self) -> Option<&str> {
        self.0.as_deref()
    }

    pub(crate) fn owned(&self) -> Option<String> {
        self.0.clone()
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Text(match Value::deserialize(d)? {
            Value::String(s) if s.trim().is_empty() => None,
            Value::String(s) => Some(s),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Null => None,
            other => {
                return Err(D::Error::custom(format!(
                    "expected text, found {}",
                    kind(&other)
                )));
            }
        }))
    }
}

/// A non-negative integer that may arrive as a number or as digits in a string. Anything
/// unparsable counts as absent: these are optional fields and one odd value must not sink a
/// whole page of products.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Num(pub(crate) Option<u64>);

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Num(match Value::deserialize(d)? {
            Value::Number(n) => n.as_u64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                    .map(|f| f as u64)
            }),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }))
    }
}

/// A boolean that may arrive as `true`, `"true"`, `"Y"` or `1`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Flag(pub(crate) Option<bool>);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Flag(match Value::deserialize(d)? {
            Value::Bool(b) => Some(b),
            Value::Number(n) => n.as_u64().map(|n| n != 0),
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "y" | "yes" | "1" => Some(true),
                "false" | "n" | "no" | "0" => Some(false),
                _ => None,
            },
            _ => None,
        }))
    }
}

/// A list in either form the gateway uses: wrapped one level deep (`{"product": [...]}`,
/// the default) or flat (`[...]`, with `simplify=true`). A wrapper holding one object instead
/// of an array is a one-element list; `null` or an empty wrapper is an empty list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct List<T>(pub(crate) Vec<T>);

impl<T> Default for List<T> {
    fn default() -> Self {
        List(Vec::new())
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for List<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        fn items<T: DeserializeOwned, E: serde::de::Error>(v: Value) -> Result<Vec<T>, E> {
            match v {
                Value::Array(a) => a
                    .into_iter()
                    .map(|x| serde_json::from_value(x).map_err(E::custom))
                    .collect(),
                Value::Null => Ok(Vec::new()),
                single @ Value::Object(_) => {
                    Ok(vec![serde_json::from_value(single).map_err(E::custom)?])
                }
                other => Err(E::custom(format!(
                    "expected a list, found {}",
                    kind(&other)
                ))),
            }
        }
        match Value::deserialize(d)? {
            Value::Object(map) if map.is_empty() => Ok(List(Vec::new())),
            Value::Object(map)
                if map.len() == 1
                    && map
                        .values()
                        .all(|v| v.is_array() || v.is_object() || v.is_null()) =>
            {
                let inner = map
                    .into_iter()
                    .next()
                    .map(|(_, v)| v)
                    .unwrap_or(Value::Null);
                // `{"product": {...}}` (one item) versus a flat list of one object that happens
                // to have a single key: the wrapper's value is an array or an object of fields.
                items(inner).map(List)
            }
            Value::String(s) if s.is_empty() => Ok(List(Vec::new())),
            other => items(other).map(List),
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The product object shared by every product-returning method.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WireProduct {
    pub(crate) product_id: Num,
    pub(crate) product_title: Text,
    pub(crate) product_detail_url: Text,
    pub(crate) product_main_image_url: Text,
    pub(crate) product_small_image_urls: List<Text>,
    pub(crate) product_video_url: Text,
    pub(crate) promotion_link: Text,
    pub(crate) sale_price: Text,
    pub(crate) sale_price_currency: Text,
    pub(crate) original_price: Text,
    pub(crate) original_price_currency: Text,
    pub(crate) app_sale_price: Text,
    pub(crate) app_sale_price_currency: Text,
    pub(crate) target_sale_price: Text,
    pub(crate) target_sale_price_currency: Text,
    pub(crate) target_original_price: Text,
    pub(crate) target_original_price_currency: Text,
    pub(crate) target_app_sale_price: Text,
    pub(crate) target_app_sale_price_currency: Text,
    pub(crate) discount: Text,
    pub(crate) evaluate_rate: Text,
    #[serde(alias = "latest_volume")]
    pub(crate) lastest_volume: Num,
    #[serde(alias = "commision_rate")]
    pub(crate) commission_rate: Text,
    pub(crate) hot_product_commission_rate: Text,
    pub(crate) first_level_category_id: Num,
    pub(crate) first_level_category_name: Text,
    pub(crate) second_level_category_id: Num,
    pub(crate) second_level_category_name: Text,
    pub(crate) shop_id: Num,
    pub(crate) shop_url: Text,
    pub(crate) shop_name: Text,
    pub(crate) platform_product_type: Text,
    pub(crate) ship_to_days: Text,
    pub(crate) promo_code_info: Option<WirePromoCode>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WirePromoCode {
    pub(crate) promo_code: Text,
    pub(crate) code_value: Text,
    pub(crate) code_mini_spend: Text,
    pub(crate) code_availabletime_start: Text,
    pub(crate) code_availabletime_end: Text,
    pub(crate) code_promotionurl: Text,
}

/// `result` of product.query, hotproduct.query, productdetail.get, smartmatch and
/// featuredpromo.products.get (page fields absent where a method has none).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WireProductsResult {
    pub(crate) current_page_no: Num,
    pub(crate) current_record_count: Num,
    pub(crate) total_page_no: Num,
    pub(crate) total_record_count: Num,
    pub(crate) is_finished: Flag,
    pub(crate) products: List<WireProduct>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WireCategory {
    pub(crate) category_id: Num,
    pub(crate) category_name: Text,
    pub(crate) parent_category_id: Num,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WireCategoryResult {
    pub(crate) categories: List<WireCategory>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WireLink {
    pub(crate) promotion_link: Text,
    pub(crate) source_value: Text,
    pub(crate) message: Text,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WireLinkResult {
    pub(crate) promotion_links: List<WireLink>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WirePromo {
    pub(crate) promo_name: Text,
    pub(crate) promo_desc: Text,
    pub(crate) product_num: Num,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WirePromoResult {
    pub(crate) promos: List<WirePromo>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WireOrder {
    pub(crate) order_id: Num,
    pub(crate) sub_order_id: Num,
    pub(crate) order_status: Text,
    pub(crate) tracking_id: Text,
    pub(crate) category_id: Num,
    pub(crate) product_id: Num,
    pub(crate) product_title: Text,
    pub(crate) product_detail_url: Text,
    pub(crate) product_main_image_url: Text,
    pub(crate) product_count: Num,
    pub(crate) paid_amount: Text,
    pub(crate) paid_time: Text,
    pub(crate) finished_amount: Text,
    pub(crate) finished_time: Text,
    pub(crate) created_time: Text,
    pub(crate) commission_rate: Text,
    pub(crate) estimated_paid_commission: Text,
    pub(crate) estimated_finished_commission: Text,
    pub(crate) is_new_buyer: Flag,
    pub(crate) is_hot_product: Flag,
    pub(crate) is_affiliate_product: Flag,
    pub(crate) effect_detail_status: Text,
    pub(crate) order_type: Text,
    pub(crate) settled_currency: Text,
    pub(crate) ship_to_country: Text,
    pub(crate) completed_settlement_time: Text,
    #[serde(alias = "customer_parameters")]
    pub(crate) custom_parameters: Text,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WireOrderResult {
    pub(crate) current_page_no: Num,
    pub(crate) current_record_count: Num,
    pub(crate) total_page_no: Num,
    pub(crate) total_record_count: Num,
    pub(crate) min_query_index_id: Text,
    pub(crate) max_query_index_id: Text,
    pub(crate) orders: List<WireOrder>,
}

/// Decodes a `result` object into its wire type.
pub(crate) fn decode<T: DeserializeOwned>(method: &str, result: Value) -> Result<T, UpstreamError> {
    serde_json::from_value(result).map_err(|e| UpstreamError::Malformed {
        reason: format!("unexpected {method} result: {e}"),
    })
}

/// The JSON root key of a method's answer: `aliexpress.affiliate.product.query` →
/// `aliexpress_affiliate_product_query_response`.
pub(crate) fn response_key(method: &str) -> String {
    let mut key = String::with_capacity(method.len() + 9);
    for c in method.chars() {
        match c {
            '.' => key.push('_'),
            c if c.is_ascii_uppercase() => {
                key.push('_');
                key.push(c.to_ascii_lowercase());
            }
            c => key.push(c),
        }
    }
    key.push_str("_response");
    key
}

/// Checks the envelope of an HTTP 200 body. `Ok(Some(result))` for data, `Ok(None)` for the
/// platform's "the result is empty" (`resp_code` 405, or 200 without a result), `Err` for a
/// gateway or business error, classified.
pub(crate) fn open_envelope(method: &str, body: &[u8]) -> Result<Option<Value>, UpstreamError> {
    let root: Value = serde_json::from_slice(body).map_err(|e| UpstreamError::Malformed {
        reason: match e.classify() {
            serde_json::error::Category::Eof => "the response body is truncated JSON".to_owned(),
            _ => "the response body is not JSON".to_owned(),
        },
    })?;
    let Value::Object(mut root) = root else {
        return Err(UpstreamError::Malformed {
            reason: "the response body is not a JSON object".to_owned(),
        });
    };
    if let Some(err) = root.get("error_response") {
        return Err(classify_gateway_error(err));
    }
    let key = response_key(method);
    let Some(mut response) = root.remove(&key) else {
        return Err(UpstreamError::Malformed {
            reason: format!("the response has no {key} object"),
        });
    };
    let Some(resp_result) = response.get_mut("resp_result").map(Value::take) else {
        return Err(UpstreamError::Malformed {
            reason: format!("{key} has no resp_result"),
        });
    };
    let Value::Object(mut resp_result) = resp_result else {
        return Err(UpstreamError::Malformed {
            reason: "resp_result is not an object".to_owned(),
        });
    };
    let code = match resp_result.get("resp_code") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    let Some(code) = code else {
        return Err(UpstreamError::Malformed {
            reason: "resp_result has no numeric resp_code".to_owned(),
        });
    };
    let message = match resp_result.get("resp_msg") {
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    };
    match code {
        200 => Ok(resp_result.remove("result").filter(|r| !r.is_null())),
        405 => Ok(None),
        other => Err(classify_resp_code(other, message)),
    }
}

/// Business status codes of the affiliate envelope (protocol reference §5.3).
pub(crate) fn classify_resp_code(code: i64, message: String) -> UpstreamError {
    let code_text = format!("resp_code {code}");
    match code {
        401 => UpstreamError::BadCredentials {
            code: code_text,
            message,
        },
        402 => UpstreamError::InvalidRequest {
            code: code_text,
            message,
        },
        404 | 500..=599 => UpstreamError::Unavailable {
            reason: format!("{code_text}: {message}"),
        },
        _ => UpstreamError::InvalidRequest {
            code: code_text,
            message,
        },
    }
}

/// Gateway errors (`error_response`, protocol reference §5.1–5.2).
pub(crate) fn classify_gateway_error(err: &Value) -> UpstreamError {
    let text = |key: &str| match err.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let code = text("code");
    let sub_code = text("sub_code");
    let mut message = text("msg");
    if message.is_empty() {
        message = text("message");
    }
    let sub_msg = text("sub_msg");
    if !sub_msg.is_empty() {
        message = if message.is_empty() {
            sub_msg
        } else {
            format!("{message} ({sub_msg})")
        };
    }
    let error_type = text("type").to_ascii_uppercase();
    let code_name = if code.is_empty() {
        "unknown".to_owned()
    } else {
        code.clone()
    };
    match code.as_str() {
        "IncompleteSignature" | "25" => UpstreamError::SignatureRejected {
            code: code_name,
            message,
        },
        "InvalidAppKey" | "29" | "IllegalAccessToken" | "27" | "44" => {
            UpstreamError::BadCredentials {
                code: code_name,
                message,
            }
        }
        "InsufficientPermission" | "AppWhiteIpLimit" | "11" | "12" | "13" | "42" | "53" => {
            UpstreamError::PermissionDenied {
                code: code_name,
                message,
            }
        }
        "ApiCallLimit" | "AppCallLimit" | "7" => {
            let retry_after = ban_duration(&message);
            UpstreamError::RateLimited {
                retry_after,
                code: code_name,
                message,
            }
        }
        "MissingParameter" | "InvalidParameter" | "InvalidApiPath" | "InvalidTimestamp" | "21"
        | "22" | "23" | "24" | "28" | "30" | "31" | "32" | "33" | "34" | "40" | "41" | "43"
        | "47" => UpstreamError::InvalidRequest {
            code: code_name,
            message,
        },
        "10" | "15" | "50" => UpstreamError::Unavailable {
            reason: format!("{code_name}: {message}{}", sub_code_suffix(&sub_code)),
        },
        _ if error_type == "ISP" || error_type == "SYSTEM" => UpstreamError::Unavailable {
            reason: format!("{code_name}: {message}"),
        },
        _ => UpstreamError::InvalidRequest {
            code: code_name,
            message,
        },
    }
}

fn sub_code_suffix(sub_code: &str) -> String {
    if sub_code.is_empty() {
        String::new()
    } else {
        format!(" [{sub_code}]")
    }
}

/// A whole number of seconds (a `Retry-After` value, a ban's length) as a wait of at most
/// [`MAX_RETRY_AFTER`]: a number too large even for `u64` is capped too, not ignored.
pub(crate) fn retry_seconds(text: &str) -> Option<Duration> {
    let digits = text.trim();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let seconds = digits.parse::<u64>().unwrap_or(u64::MAX);
    Some(Duration::from_secs(seconds).min(MAX_RETRY_AFTER))
}

/// Reads N from "this ban will last N seconds" / "This ban will last for N more seconds".
pub(crate) fn ban_duration(message: &str) -> Option<Duration> {
    let lower = message.to_ascii_lowercase();
    let rest = &lower[lower.find("ban will last")? + "ban will last".len()..];
    let start = rest.find(|c: char| c.is_ascii_digit())?;
    let digits: String = rest[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let before = &rest[..start];
    // Only words like "for" may sit between the phrase and the number.
    if before
        .chars()
        .any(|c| !(c.is_ascii_alphabetic() || c == ' '))
    {
        return None;
    }
    let after = rest[start + digits.len()..].trim_start();
    if after.starts_with("more second") || after.starts_with("second") || after.starts_with('s') {
        retry_seconds(&digits)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_parse_in_both_forms() {
        #[derive(Deserialize)]
        struct R {
            #[serde(default)]
            products: List<WireProduct>,
        }
        let wrapped: R = serde_json::from_value(
            json!({"products": {"product": [{"product_id": 1}, {"product_id": "2"}]}}),
        )
        .unwrap();
        assert_eq!(
            wrapped
                .products
                .0
                .iter()
                .map(|p| p.product_id.0)
                .collect::<Vec<_>>(),
            vec![Some(1), Some(2)]
        );
        let flat: R = serde_json::from_value(json!({"products": [{"product_id": 3}]})).unwrap();
        assert_eq!(flat.products.0[0].product_id, Num(Some(3)));
        let single: R =
            serde_json::from_value(json!({"products": {"product": {"product_id": 4}}})).unwrap();
        assert_eq!(single.products.0[0].product_id, Num(Some(4)));
        let empty: R = serde_json::from_value(json!({"products": {}})).unwrap();
        assert!(empty.products.0.is_empty());
        let missing: R = serde_json::from_value(json!({})).unwrap();
        assert!(missing.products.0.is_empty());
        let strings: List<Text> = serde_json::from_value(json!({"string": ["a", "b"]})).unwrap();
        assert_eq!(
            strings.0,
            vec![Text(Some("a".into())), Text(Some("b".into()))]
        );
        let flat_strings: List<Text> = serde_json::from_value(json!(["a"])).unwrap();
        assert_eq!(flat_strings.0.len(), 1);
        assert!(serde_json::from_value::<List<Text>>(json!(5)).is_err());
    }

    #[test]
    fn scalars_are_lenient() {
        assert_eq!(
            serde_json::from_value::<Num>(json!("12")).unwrap(),
            Num(Some(12))
        );
        assert_eq!(
            serde_json::from_value::<Num>(json!(12.0)).unwrap(),
            Num(Some(12))
        );
        assert_eq!(
            serde_json::from_value::<Num>(json!("x")).unwrap(),
            Num(None)
        );
        assert_eq!(
            serde_json::from_value::<Text>(json!(7)).unwrap(),
            Text(Some("7".into()))
        );
        assert_eq!(
            serde_json::from_value::<Text>(json!("")).unwrap(),
            Text(None)
        );
        assert_eq!(
            serde_json::from_value::<Flag>(json!("Y")).unwrap(),
            Flag(Some(true))
        );
        assert_eq!(
            serde_json::from_value::<Flag>(json!("N")).unwrap(),
            Flag(Some(false))
        );
    }

    #[test]
    fn response_keys() {
        assert_eq!(
            response_key("aliexpress.affiliate.product.query"),
            "aliexpress_affiliate_product_query_response"
        );
        assert_eq!(
            response_key("aliexpress.ds.image.searchV2"),
            "aliexpress_ds_image_search_v2_response"
        );
    }

    #[test]
    fn envelope_codes() {
        let m = "aliexpress.affiliate.product.query";
        let body = |code: Value| {
            serde_json::to_vec(&json!({"aliexpress_affiliate_product_query_response": {
                "resp_result": {"resp_code": code, "resp_msg": "msg", "result": {"x": 1}}, "request_id": "r"}}))
            .unwrap()
        };
        assert_eq!(
            open_envelope(m, &body(json!(200))).unwrap(),
            Some(json!({"x": 1}))
        );
        assert_eq!(
            open_envelope(m, &body(json!("200"))).unwrap(),
            Some(json!({"x": 1}))
        );
        assert_eq!(open_envelope(m, &body(json!(405))).unwrap(), None);
        assert_eq!(open_envelope(m, &body(json!("405"))).unwrap(), None);
        assert_eq!(
            open_envelope(m, &body(json!(401))).unwrap_err().kind(),
            "bad_credentials"
        );
        assert_eq!(
            open_envelope(m, &body(json!(402))).unwrap_err().kind(),
            "invalid_request"
        );
        assert_eq!(
            open_envelope(m, &body(json!(404))).unwrap_err().kind(),
            "unavailable"
        );
        assert_eq!(
            open_envelope(m, &body(json!(503))).unwrap_err().kind(),
            "unavailable"
        );
        assert_eq!(
            open_envelope(m, &body(json!("abc"))).unwrap_err().kind(),
            "malformed_response"
        );
        assert_eq!(
            open_envelope(m, b"<html>").unwrap_err(),
            UpstreamError::Malformed {
                reason: "the response body is not JSON".into()
            }
        );
        assert_eq!(
            open_envelope(
                m,
                b"{\"aliexpress_affiliate_product_query_response\": {\"resp"
            )
            .unwrap_err(),
            UpstreamError::Malformed {
                reason: "the response body is truncated JSON".into()
            }
        );
        assert_eq!(
            open_envelope("aliexpress.affiliate.category.get", &body(json!(200)))
                .unwrap_err()
                .kind(),
            "malformed_response"
        );
    }

    #[test]
    fn gateway_errors_are_classified() {
        let kind = |v: Value| classify_gateway_error(&v).kind();
        assert_eq!(
            kind(json!({"type": "ISV", "code": "IncompleteSignature", "msg": "m"})),
            "signature_rejected"
        );
        assert_eq!(
            kind(json!({"type": "ISV", "code": "InvalidAppKey"})),
            "bad_credentials"
        );
        assert_eq!(
            kind(json!({"type": "ISV", "code": "InsufficientPermission"})),
            "permission_denied"
        );
        assert_eq!(
            kind(json!({"type": "ISV", "code": "AppWhiteIpLimit"})),
            "permission_denied"
        );
        assert_eq!(
            kind(json!({"type": "ISV", "code": "MissingParameter"})),
            "invalid_request"
        );
        assert_eq!(
            kind(json!({"type": "ISV", "code": "InvalidParameter"})),
            "invalid_request"
        );
        assert_eq!(
            kind(json!({"type": "ISV", "code": "InvalidApiPath"})),
            "invalid_request"
        );
        assert_eq!(
            kind(json!({"type": "ISP", "code": "ServiceUnavailable"})),
            "unavailable"
        );
        assert_eq!(
            kind(json!({"type": "SYSTEM", "code": "Whatever"})),
            "unavailable"
        );
        assert_eq!(
            kind(json!({"type": "ISV", "code": "SomethingNew"})),
            "invalid_request"
        );
        assert_eq!(
            kind(json!({"code": 25, "msg": "Invalid Signature"})),
            "signature_rejected"
        );
        let limited = classify_gateway_error(&json!({"type": "ISV", "code": "ApiCallLimit",
            "msg": "Api access frequency exceeds the limit. this ban will last 1 seconds"}));
        assert_eq!(limited.retry_after(), Some(Duration::from_secs(1)));
        let top = classify_gateway_error(&json!({"code": 7, "msg": "App Call Limited",
            "sub_code": "accesscontrol.limited-by-api-access-count", "sub_msg": "This ban will last for 12 more seconds"}));
        assert_eq!(top.kind(), "rate_limited");
        assert_eq!(top.retry_after(), Some(Duration::from_secs(12)));
    }

    #[test]
    fn ban_durations() {
        assert_eq!(
            ban_duration("this ban will last 3 seconds"),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            ban_duration("This ban will last for 2 more seconds"),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            ban_duration("Api access frequency exceeds the limit."),
            None
        );
        assert_eq!(ban_duration("this ban will last 5 minutes"), None);
        let capped = Some(MAX_RETRY_AFTER);
        assert_eq!(ban_duration("this ban will last 86400 seconds"), capped);
        assert_eq!(
            ban_duration(&format!("this ban will last {} seconds", u64::MAX)),
            capped
        );
        assert_eq!(
            ban_duration("this ban will last 99999999999999999999999999 seconds"),
            capped
        );
    }

    #[test]
    fn retry_hints_are_capped_never_overflowed() {
        assert_eq!(retry_seconds(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(retry_seconds("3600"), Some(MAX_RETRY_AFTER));
        assert_eq!(retry_seconds("3601"), Some(MAX_RETRY_AFTER));
        assert_eq!(retry_seconds(&u64::MAX.to_string()), Some(MAX_RETRY_AFTER));
        assert_eq!(retry_seconds("1e99"), None);
        assert_eq!(retry_seconds("-5"), None);
        assert_eq!(retry_seconds("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(retry_seconds(""), None);
    }
}
