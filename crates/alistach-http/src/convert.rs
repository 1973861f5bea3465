//! Conversion between the public contract (`alistach-api`) and the domain: requests are parsed
//! and checked field by field, naming the field that is wrong; results keep the v1.1.0 strings.

use alistach_api::types as api;
use alistach_domain::{
    AffiliateLink, CategoryId, CategoryTree, CountryCode, Currency, DEFAULT_PAGE_SIZE, Decimal,
    DetailsQuery, Language, LinkInput, LinkRequest, LinkType, Listing, MAX_LINKS_PER_REQUEST,
    Money, Product, ProductId, ProductUrl, Promotion, PromotionQuery, PromotionSort, SearchDraft,
    SearchQuery, SimilarQuery, SortOrder, ValidationError,
};
use alistach_service::{LinkResult, MissingReason, ServiceError};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::config::HttpConfig;
use crate::error::HttpError;

/// The query parameters that are numbers in a paged listing (searches, promotion products).
pub const PAGED_NUMERIC: &[&str] = &["page_size", "page_no"];

/// Parses a JSON request body into `T`: bad JSON is a 400 naming the syntax problem; a body of the
/// wrong shape (wrong type, unknown field, explicit `null` where a value is required) is a 422
/// naming the field.
pub fn json_body<T: DeserializeOwned>(body: &[u8], non_null: &[&str]) -> Result<T, HttpError> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_none() {
        return Err(HttpError::MalformedJson(
            "the body is empty; send a JSON object".into(),
        ));
    }
    // The common case, an object with no `null` in it, is parsed straight into `T` in one pass;
    // anything else takes the careful path through a `Value`.
    let may_hold_null = !non_null.is_empty() && body.windows(4).any(|w| w == b"null");
    if first == Some(&b'{') && !may_hold_null {
        let mut de = serde_json::Deserializer::from_slice(body);
        let parsed: Result<T, _> = serde_path_to_error::deserialize(&mut de);
        match parsed {
            Ok(value) => {
                return de
                    .end()
                    .map(|()| value)
                    .map_err(|e| HttpError::MalformedJson(e.to_string()));
            }
            // serde_json reports a number or an array where an enum's name belongs as a
            // syntax error ("expected value"): a body that is JSON takes the careful path
            // below, which names the field with a 422.
            Err(e)
                if e.inner().classify() != serde_json::error::Category::Data
                    && serde_json::from_slice::<serde::de::IgnoredAny>(body).is_err() =>
            {
                return Err(HttpError::MalformedJson(e.inner().to_string()));
            }
            Err(e) if e.inner().classify() != serde_json::error::Category::Data => {}
            Err(e) => {
                let message = e.inner().to_string();
                // Drop serde_json's position suffix: the field path says where.
                let message = message
                    .split(" at line ")
                    .next()
                    .unwrap_or(&message)
                    .to_owned();
                return Err(field_error(e.path().to_string(), message));
            }
        }
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|e| HttpError::MalformedJson(e.to_string()))?;
    let Value::Object(map) = &value else {
        return Err(HttpError::field("body", "must be a JSON object"));
    };
    for field in non_null {
        if map.get(*field).is_some_and(Value::is_null) {
            return Err(HttpError::field(
                *field,
                "must not be null; omit it to use the default",
            ));
        }
    }
    from_value(value)
}

/// Parses query parameters into `T` as if they were a JSON object of strings; the parameters
/// named in `numeric` are passed as numbers when they look like integers, so the type check
/// (and its error, naming the parameter) is the same as for a JSON body.
pub fn query_params<T: DeserializeOwned>(
    query: Option<&str>,
    numeric: &[&str],
) -> Result<T, HttpError> {
    match crate::query::quick(query.unwrap_or(""), numeric) {
        Some(value) => Ok(value),
        None => query_params_carefully(query, numeric),
    }
}

/// [`query_params`] through a JSON object, naming the field that is wrong: the path of every
/// query the quick path ([`crate::query::quick`]) does not read.
pub(crate) fn query_params_carefully<T: DeserializeOwned>(
    query: Option<&str>,
    numeric: &[&str],
) -> Result<T, HttpError> {
    let mut map = serde_json::Map::new();
    for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let v = if numeric.contains(&key.as_ref()) {
            match (value.trim().parse::<u64>(), value.trim().parse::<i64>()) {
                (Ok(n), _) => Value::from(n),
                (_, Ok(n)) => Value::from(n),
                _ => Value::String(value.into_owned()),
            }
        } else {
            Value::String(value.into_owned())
        };
        if map.insert(key.to_string(), v).is_some() {
            return Err(HttpError::field(
                shown_name(&key),
                "is given more than once",
            ));
        }
    }
    from_value(Value::Object(map))
}

/// Reads a JSON value (an MCP tool's arguments) into `T`, naming the field that is wrong.
pub(crate) fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, HttpError> {
    // The usual, valid request takes the plain path; only a failure pays for path tracking,
    // which names the field (this runs on every request, cached answers included).
    if let Ok(v) = T::deserialize(&value) {
        return Ok(v);
    }
    serde_path_to_error::deserialize(value)
        .map_err(|e| field_error(e.path().to_string(), e.inner().to_string()))
}

/// Names the field a deserialisation error is about.
fn field_error(path: String, message: String) -> HttpError {
    // serde reports an unknown field at its parent; name the field itself.
    let named = |name: &str| {
        let field = match path.as_str() {
            "." => name.to_owned(),
            p if p == name || p.ends_with(&format!(".{name}")) => p.to_owned(),
            p => format!("{p}.{name}"),
        };
        // A client can send any name, the empty one included; the answer must still name it.
        if name.is_empty() {
            format!("{field}{}", shown_name(name))
        } else {
            field
        }
    };
    if let Some(name) = message.strip_prefix("unknown field `").map(quoted_name) {
        let rule = if name.is_empty() {
            "is not a known field (a field with an empty name)"
        } else {
            "is not a known field"
        };
        return HttpError::field(named(name), rule);
    }
    if let Some(name) = message.strip_prefix("missing field `").map(quoted_name) {
        return HttpError::field(named(name), "is required");
    }
    let field = if path == "." { "body".to_owned() } else { path };
    HttpError::field(field, format!("has the wrong type or value: {message}"))
}

/// A field name as an error shows it: the empty name as `""`, so the answer still names it.
fn shown_name(name: &str) -> &str {
    if name.is_empty() { "\"\"" } else { name }
}

/// The name serde quoted at the start of `rest` (``name`, expected ...`); the name itself may
/// hold backticks.
fn quoted_name(rest: &str) -> &str {
    ["`, expected", "`, there are no fields"]
        .iter()
        .find_map(|end| rest.find(end).map(|i| &rest[..i]))
        .or_else(|| rest.strip_suffix('`'))
        .unwrap_or(rest)
}

fn rename(field: &'static str) -> impl Fn(ValidationError) -> HttpError {
    move |e| HttpError::field(field, e.rule)
}

fn price(
    field: &'static str,
    input: Option<&api::PriceInput>,
) -> Result<Option<Decimal>, HttpError> {
    input
        .map(|p| {
            p.as_str()
                .parse::<Decimal>()
                .map_err(|e| HttpError::field(field, format!("must be a decimal number ({e})")))
        })
        .transpose()
}

fn blank_to_none(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// Cents as exact decimal money text (`1234` → `"12.34"`): how every answer writes money.
pub(crate) fn money(cents: i64) -> String {
    alistach_domain::Cents(cents).to_decimal().to_string()
}

/// What a request leaves out is filled with: the deployment's defaults (`HttpConfig`), or
/// its tenant's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Defaults {
    /// `target_currency`.
    pub currency: Currency,
    /// `target_language`.
    pub language: Language,
    /// `ship_to_country` (none: not sent).
    pub ship_to_country: Option<CountryCode>,
}

impl Defaults {
    /// The deployment's defaults.
    pub fn of(cfg: &HttpConfig) -> Self {
        Defaults {
            currency: cfg.currency,
            language: cfg.language,
            ship_to_country: None,
        }
    }

    /// A tenant's defaults: what it sets, else these.
    pub fn for_tenant(self, doc: &alistach_service::TenantDoc) -> Self {
        Defaults {
            currency: doc.currency.unwrap_or(self.currency),
            language: doc.language.unwrap_or(self.language),
            ship_to_country: doc.ship_to_country.or(self.ship_to_country),
        }
    }
}

/// The currency, language and country of a request, with the defaults.
pub fn locale(
    cfg: Defaults,
    currency: Option<&str>,
    language: Option<&str>,
    country: Option<&str>,
) -> Result<(Currency, Language, Option<CountryCode>), HttpError> {
    let currency = match blank_to_none(currency) {
        Some(c) => c.parse().map_err(rename("target_currency"))?,
        None => cfg.currency,
    };
    let language = match blank_to_none(language) {
        Some(l) => l.parse().map_err(rename("target_language"))?,
        None => cfg.language,
    };
    let country = blank_to_none(country)
        .map(str::parse)
        .transpose()
        .map_err(rename("ship_to_country"))?
        .or(cfg.ship_to_country);
    Ok((currency, language, country))
}

/// A search request parsed into a domain query for `listing`: the one place a search is
/// checked (the platform's limits live in `alistach_domain`). `default_sort` is the order
/// when the request names none (`None`: the platform's relevance order, no `sort` sent).
pub fn search_query(
    req: &api::SearchRequest,
    cfg: Defaults,
    listing: Listing,
    default_sort: Option<SortOrder>,
) -> Result<SearchQuery, HttpError> {
    let (currency, language, ship_to_country) = locale(
        cfg,
        req.target_currency.as_deref(),
        req.target_language.as_deref(),
        req.ship_to_country.as_deref(),
    )?;
    let category_ids = match blank_to_none(req.category_ids.as_deref()) {
        Some(list) => list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<CategoryId>()
                    .map_err(|e| HttpError::field("category_ids", e.rule))
            })
            .collect::<Result<Vec<_>, _>>()?,
        None => Vec::new(),
    };
    let sort = blank_to_none(req.sort.as_deref())
        .map(str::parse::<SortOrder>)
        .transpose()?
        .or(default_sort);
    let draft = SearchDraft {
        keywords: req.keywords.clone(),
        category_ids,
        page_no: req.page_no.unwrap_or(1),
        page_size: req.page_size.unwrap_or(DEFAULT_PAGE_SIZE),
        sort,
        min_price: price("min_sale_price", req.min_sale_price.as_ref())?,
        max_price: price("max_sale_price", req.max_sale_price.as_ref())?,
        currency,
        language,
        ship_to_country,
    };
    // A limit broken here is the same 422 the service would give.
    Ok(draft.parse(listing).map_err(ServiceError::from)?)
}

/// The `search_params` echo of a query, as the contract types it. Answers write it straight
/// from the query (`render::search_metadata`); tests hold that writing to this value.
#[cfg(test)]
pub fn search_params(q: &SearchQuery) -> api::SearchParams {
    let ids: Vec<String> = q.category_ids().iter().map(ToString::to_string).collect();
    api::SearchParams {
        keywords: q.keywords().map(str::to_owned),
        page_size: q.page_size(),
        page_no: q.page_no(),
        sort: q.sort().map(|s| s.code().to_owned()),
        min_sale_price: q.min_price().map(|d| d.to_string()),
        max_sale_price: q.max_price().map(|d| d.to_string()),
        target_currency: q.currency().code().to_owned(),
        target_language: q.language().code().to_owned(),
        ship_to_country: q.ship_to_country().map(|c| c.as_str().to_owned()),
        category_ids: (!ids.is_empty()).then(|| ids.join(",")),
    }
}

/// Splits a comma-separated list of URLs or ids; commas inside a URL (`productIds=1,2`) stay
/// with it, since a new item starts only with a scheme, `www.` or a bare id.
fn split_url_list(list: &str) -> Vec<String> {
    let mut items: Vec<String> = Vec::new();
    for piece in list.split(',') {
        let t = piece.trim();
        let starts_item = t.is_empty()
            || t.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("http"))
            || t.starts_with("www.")
            || t.starts_with("//")
            || (t.len() >= 6 && t.bytes().all(|b| b.is_ascii_digit()));
        match items.last_mut() {
            Some(last) if !starts_item => {
                last.push(',');
                last.push_str(piece);
            }
            _ => items.push(t.to_owned()),
        }
    }
    items.retain(|s| !s.trim().is_empty());
    items
}

/// A similar-products request as a domain query: the seed is a product id or any product URL.
pub fn similar_query(
    req: &api::SimilarProductsQuery,
    cfg: Defaults,
) -> Result<SimilarQuery, HttpError> {
    let (currency, language, country) = locale(
        cfg,
        req.target_currency.as_deref(),
        req.target_language.as_deref(),
        req.ship_to_country.as_deref(),
    )?;
    let seed = ProductUrl::parse(&req.product_id)
        .map_err(|e| HttpError::field("product_id", e.to_string()))?;
    let query = SimilarQuery {
        product_id: seed.id,
        page_no: req.page_no.unwrap_or(1),
        currency,
        language,
        country,
    };
    query.validate()?;
    Ok(query)
}

/// A promotion-products request as a domain query (in normal form).
pub fn promotion_query(
    req: &api::PromotionProductsQuery,
    cfg: Defaults,
) -> Result<PromotionQuery, HttpError> {
    let (currency, language, country) = locale(
        cfg,
        req.target_currency.as_deref(),
        req.target_language.as_deref(),
        req.ship_to_country.as_deref(),
    )?;
    let category_id = blank_to_none(req.category_id.as_deref())
        .map(str::parse::<CategoryId>)
        .transpose()?;
    let sort = blank_to_none(req.sort.as_deref())
        .map(str::parse::<PromotionSort>)
        .transpose()?;
    let query = PromotionQuery {
        promotion_name: req.promotion_name.clone(),
        category_id,
        sort,
        page_no: req.page_no.unwrap_or(1),
        page_size: req.page_size.unwrap_or(DEFAULT_PAGE_SIZE),
        currency,
        language,
        country,
    }
    .normalized();
    query.validate()?;
    Ok(query)
}

/// The `promotion_params` echo of a query.
pub fn promotion_params(q: &PromotionQuery) -> api::PromotionParams {
    api::PromotionParams {
        promotion_name: q.promotion_name.clone(),
        category_id: q.category_id.map(|c| c.to_string()),
        sort: q.sort.map(|s| s.code().to_owned()),
        page_no: q.page_no,
        page_size: q.page_size,
        target_currency: q.currency.code().to_owned(),
        target_language: q.language.code().to_owned(),
        ship_to_country: q.country.map(|c| c.as_str().to_owned()),
    }
}

/// A promotion in the contract's shape.
pub fn promotion(p: Promotion) -> api::PromotionInfo {
    api::PromotionInfo {
        promotion_name: p.name,
        description: p.description,
        product_count: p.product_count,
    }
}

/// The `parent_id` filter of a categories request.
pub fn parent_id(req: &api::CategoriesQuery) -> Result<Option<CategoryId>, HttpError> {
    blank_to_none(req.parent_id.as_deref())
        .map(str::parse::<CategoryId>)
        .transpose()
        .map_err(rename("parent_id"))
}

/// A details request as a domain query.
pub fn details_query(
    req: &api::ProductDetailsQuery,
    cfg: Defaults,
) -> Result<DetailsQuery, HttpError> {
    let (currency, language, country) = locale(
        cfg,
        req.target_currency.as_deref(),
        req.target_language.as_deref(),
        req.ship_to_country.as_deref(),
    )?;
    let mut ids = Vec::new();
    if let Some(list) = blank_to_none(req.product_ids.as_deref()) {
        for (i, s) in list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .enumerate()
        {
            ids.push(
                s.parse::<ProductId>()
                    .map_err(|e| HttpError::field(format!("product_ids[{i}]"), e.rule))?,
            );
        }
    }
    if let Some(list) = blank_to_none(req.urls.as_deref()) {
        for (i, s) in split_url_list(list).iter().enumerate() {
            let parsed = ProductUrl::parse(s)
                .map_err(|e| HttpError::field(format!("urls[{i}]"), e.to_string()))?;
            ids.push(parsed.id);
        }
    }
    if ids.is_empty() {
        return Err(HttpError::field(
            "product_ids",
            "must list at least one product id (or give urls)",
        ));
    }
    Ok(DetailsQuery {
        ids,
        currency,
        language,
        country,
    })
}

/// The link type of a request (`normal` by default).
pub fn link_type(input: Option<&str>) -> Result<LinkType, HttpError> {
    match blank_to_none(input).map(str::to_ascii_lowercase).as_deref() {
        None | Some("normal") => Ok(LinkType::Normal),
        Some("hot") => Ok(LinkType::Hot),
        Some(_) => Err(HttpError::field("link_type", "must be normal or hot")),
    }
}

/// A links request as a domain request: each URL is parsed on its own and keeps its result
/// (a URL that is not AliExpress's is answered as such, not refused); only the list itself
/// (empty, more than 50) is a 422.
pub fn link_request(
    urls: &[String],
    link_type_input: Option<&str>,
) -> Result<LinkRequest, HttpError> {
    if urls.is_empty() {
        return Err(HttpError::field(
            "urls",
            "must list at least one AliExpress URL",
        ));
    }
    if urls.len() > MAX_LINKS_PER_REQUEST {
        return Err(HttpError::field(
            "urls",
            format!(
                "must list at most {MAX_LINKS_PER_REQUEST} URLs (got {})",
                urls.len()
            ),
        ));
    }
    Ok(LinkRequest {
        inputs: urls.iter().map(|u| LinkInput::parse(u)).collect(),
        link_type: link_type(link_type_input)?,
    })
}

/// The one-URL query form of a links request; a URL that is not an AliExpress URL is a 422
/// named `url`, as its parameter is (the whole request is that one input).
pub fn link_request_one(
    url: &str,
    link_type_input: Option<&str>,
) -> Result<LinkRequest, HttpError> {
    let input = LinkInput::parse(url);
    if let Err(e) = &input.source {
        return Err(HttpError::field("url", e.to_string()));
    }
    Ok(LinkRequest {
        inputs: vec![input],
        link_type: link_type(link_type_input)?,
    })
}

/// A requested product without details, in the contract's shape.
pub fn missing_product((id, reason): (ProductId, MissingReason)) -> api::MissingProduct {
    api::MissingProduct {
        product_id: id.to_string(),
        reason: reason.as_str().to_owned(),
    }
}

/// One input's result in the contract's shape.
pub fn link_result(r: LinkResult) -> api::LinkResult {
    let page_type = r.page.map(|p| p.as_str().to_owned());
    match r.outcome {
        Ok(rated) => api::LinkResult {
            original_url: r.input,
            status: "converted".into(),
            page_type,
            affiliate_url: Some(rated.link.promotion_link),
            product_id: rated.link.product_id.map(|id| id.to_string()),
            commission_rate: percent(rated.commission_rate_percent),
            reason: None,
            detail: None,
        },
        Err(failure) => api::LinkResult {
            original_url: r.input,
            status: "not_converted".into(),
            page_type,
            affiliate_url: None,
            product_id: None,
            commission_rate: None,
            reason: Some(failure.as_str().to_owned()),
            detail: Some(failure.detail()),
        },
    }
}

fn percent(d: Option<Decimal>) -> Option<String> {
    d.map(|d| format!("{d}%"))
}

fn amount(m: Option<Money>) -> Option<String> {
    m.map(|m| m.amount.to_string())
}

/// A domain product in the v1.1.0 shape (money and rates as strings, `"50%"`).
pub fn product(p: Product) -> api::Product {
    let app_price = p.app_sale_price.or(p.sale_price);
    let (first_id, first_name) = split_category(p.first_level_category);
    let (second_id, second_name) = split_category(p.second_level_category);
    api::Product {
        product_id: p.id.to_string(),
        product_title: p.title,
        product_url: p.detail_url,
        app_sale_price: amount(app_price).unwrap_or_default(),
        original_price: amount(p.original_price).unwrap_or_default(),
        discount: percent(p.discount_percent).unwrap_or_default(),
        evaluate_rate: percent(p.rating_percent).unwrap_or_default(),
        commission_rate: percent(p.commission_rate_percent).unwrap_or_default(),
        product_main_image_url: p.main_image_url.unwrap_or_default(),
        shop_id: p.shop.id.map(|id| id.to_string()).unwrap_or_default(),
        shop_url: p.shop.url.unwrap_or_default(),
        sale_price: amount(p.sale_price),
        currency: p
            .sale_price
            .or(app_price)
            .map(|m| m.currency.code().to_owned()),
        original_price_currency: p.original_price.map(|m| m.currency.code().to_owned()),
        promotion_link: p.promotion_link,
        product_small_image_urls: p.image_urls,
        product_video_url: p.video_url,
        first_level_category_id: first_id,
        first_level_category_name: first_name,
        second_level_category_id: second_id,
        second_level_category_name: second_name,
        lastest_volume: p.sales_volume,
        sales_volume: p.sales_volume,
        hot_product_commission_rate: percent(p.hot_commission_rate_percent),
        platform_product_type: p.platform_product_type,
        ship_to_days: p.ship_to_days,
        promo_code: p.promo_code.map(|c| api::PromoCode {
            code: c.code,
            value: c.value,
            minimum_spend: c.minimum_spend,
            valid_from: c.valid_from,
            valid_until: c.valid_until,
            promotion_url: c.promotion_url,
        }),
        shop_name: p.shop.name,
    }
}

fn split_category(c: Option<alistach_domain::CategoryRef>) -> (Option<String>, Option<String>) {
    match c {
        Some(c) => (Some(c.id.to_string()), c.name),
        None => (None, None),
    }
}

/// The flat category list as a two-level tree; children whose parent is unknown are listed at
/// the top level with their `parent_category_id`, rather than dropped.
pub fn categories(flat: &[alistach_domain::Category]) -> Vec<api::Category> {
    let one = |c: &alistach_domain::Category| api::Category {
        category_id: c.id.to_string(),
        category_name: c.name.clone(),
        parent_category_id: c.parent_id.map(|p| p.to_string()),
        children: Vec::new(),
    };
    let tree = CategoryTree::from_flat(flat);
    let mut out: Vec<api::Category> = tree
        .roots
        .iter()
        .map(|node| api::Category {
            children: node.children.iter().map(one).collect(),
            ..one(&node.category)
        })
        .collect();
    out.extend(tree.orphans.iter().map(one));
    out
}

/// A domain link in the v1.1.0 shape.
pub fn affiliate_link(l: AffiliateLink) -> api::AffiliateLink {
    api::AffiliateLink {
        original_url: l.source_url,
        affiliate_url: l.promotion_link,
        commission_rate: None,
        product_id: l.product_id.map(|id| id.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The contract states the domain's limits, never a copy of them: the document's bounds
    /// and stated default are the constants `SearchDraft::parse` enforces.
    #[test]
    fn the_contract_bounds_are_the_domain_limits() {
        use alistach_domain::{MAX_KEYWORDS_CHARS, MAX_PAGE_NO, MAX_PAGE_SIZE};
        let doc = alistach_api::openapi(
            alistach_api::Profile::Full,
            &alistach_api::OpenApiOptions::new("https://example.com"),
        );
        let props = &doc["components"]["schemas"]["SearchRequest"]["properties"];
        assert_eq!(props["page_size"]["minimum"], 1);
        assert_eq!(props["page_size"]["maximum"], MAX_PAGE_SIZE);
        assert_eq!(props["page_no"]["minimum"], 1);
        assert_eq!(props["page_no"]["maximum"], MAX_PAGE_NO);
        assert_eq!(props["keywords"]["maxLength"], MAX_KEYWORDS_CHARS);
        let page_size = props["page_size"]["description"].as_str().unwrap();
        assert!(
            page_size.contains(&format!(
                "1 to {MAX_PAGE_SIZE}. Default {DEFAULT_PAGE_SIZE}."
            )),
            "{page_size}"
        );
        let page_no = props["page_no"]["description"].as_str().unwrap();
        assert!(
            page_no.contains(&format!("at most {MAX_PAGE_NO}")),
            "{page_no}"
        );
        // And the edge applies the stated default.
        let cfg = HttpConfig::default();
        let req = api::SearchRequest {
            keywords: Some("x".into()),
            ..Default::default()
        };
        let q = search_query(&req, Defaults::of(&cfg), Listing::Search, None).unwrap();
        assert_eq!(q.page_size(), DEFAULT_PAGE_SIZE);
    }

    /// The contract's closed value sets are the domain's, in the same order.
    #[test]
    fn the_contract_enums_are_the_domain_values() {
        let codes = |all: &[&str]| all.iter().map(|c| (*c).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            codes(&api::CURRENCIES),
            Currency::ALL
                .iter()
                .map(|c| c.code().to_owned())
                .collect::<Vec<_>>()
        );
        assert_eq!(
            codes(&api::LANGUAGES),
            Language::ALL
                .iter()
                .map(|l| l.code().to_owned())
                .collect::<Vec<_>>()
        );
        assert_eq!(
            codes(&api::PROMOTION_SORTS),
            PromotionSort::ALL
                .iter()
                .map(|s| s.code().to_owned())
                .collect::<Vec<_>>()
        );
        assert_eq!(
            alistach_api::GPT_MAX_PAGE_SIZE.min(alistach_domain::MAX_PAGE_SIZE),
            alistach_api::GPT_MAX_PAGE_SIZE,
            "the GPT profile offers no page the platform refuses"
        );
    }

    #[test]
    fn search_requests_name_the_bad_field() {
        let cfg = HttpConfig::default();
        let field = |body: &str| match json_body::<api::SearchRequest>(
            body.as_bytes(),
            &["page_size", "page_no"],
        ) {
            Ok(req) => match search_query(&req, Defaults::of(&cfg), Listing::Search, None) {
                Ok(_) => String::new(),
                Err(HttpError::Unprocessable { field, .. }) => field,
                Err(HttpError::Service(ServiceError::Invalid(v))) => v.field.to_owned(),
                Err(e) => panic!("{e:?}"),
            },
            Err(HttpError::Unprocessable { field, .. }) => field,
            Err(HttpError::MalformedJson(_)) => "<json>".to_owned(),
            Err(e) => panic!("{e:?}"),
        };
        assert_eq!(field(r#"{"keywords":"x"}"#), "");
        assert_eq!(field(r#"{"keywords":"x","page_size":"ten"}"#), "page_size");
        assert_eq!(field(r#"{"keywords":"x","page_size":-5}"#), "page_size");
        assert_eq!(field(r#"{"keywords":"x","page_size":null}"#), "page_size");
        assert_eq!(field(r#"{"keywords":"x","page_size":1000}"#), "page_size");
        assert_eq!(field(r#"{"keywords":"x","pagesize":5}"#), "pagesize");
        assert_eq!(field(r#"{"keywords":"x","sort":"cheap"}"#), "sort");
        assert_eq!(
            field(r#"{"keywords":"x","target_currency":"XXX"}"#),
            "target_currency"
        );
        assert_eq!(
            field(r#"{"keywords":"x","min_sale_price":"1e5"}"#),
            "min_sale_price"
        );
        assert_eq!(
            field(r#"{"keywords":"x","category_ids":"44,abc"}"#),
            "category_ids"
        );
        assert_eq!(field(r#"{"keywords": "x""#), "<json>");
        assert_eq!(field(r#"[1,2]"#), "body");
    }

    #[test]
    fn query_strings_parse_like_bodies() {
        let req: api::SearchRequest = query_params(
            Some("keywords=usb+hub&page_size=5&min_sale_price=2.50"),
            &["page_size", "page_no"],
        )
        .unwrap();
        assert_eq!(req.keywords.as_deref(), Some("usb hub"));
        assert_eq!(req.page_size, Some(5));
        assert_eq!(req.min_sale_price.unwrap().as_str(), "2.50");
        let err = query_params::<api::SearchRequest>(Some("keywords=a&page_no=x"), &["page_no"])
            .unwrap_err();
        assert!(
            matches!(err, HttpError::Unprocessable { ref field, .. } if field == "page_no"),
            "{err:?}"
        );
        let err =
            query_params::<api::SearchRequest>(Some("keywords=a&keywords=b"), &[]).unwrap_err();
        assert!(
            matches!(err, HttpError::Unprocessable { ref field, .. } if field == "keywords"),
            "{err:?}"
        );
    }

    #[test]
    fn empty_field_names_are_named() {
        let field = |r: Result<api::SearchRequest, HttpError>| match r {
            Err(HttpError::Unprocessable { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(query_params(Some("keywords=a&=1"), &[])), "\"\"");
        assert_eq!(field(query_params(Some("=&="), &[])), "\"\"");
        assert_eq!(field(json_body(br#"{"keywords":"a","":1}"#, &[])), "\"\"");
        assert_eq!(field(json_body(br#"{"a`b":1}"#, &[])), "a`b");
    }

    #[test]
    fn a_wrong_type_where_an_enum_belongs_is_a_422_naming_the_field_not_bad_json() {
        // serde_json calls a number in an enum's place a syntax error; the body is JSON.
        let r: Result<api::NewWebhookRequest, HttpError> =
            json_body(br#"{"url":"http://x.example/","events":[1381124]}"#, &[]);
        match r {
            Err(HttpError::Unprocessable { field, .. }) => assert_eq!(field, "events[0]"),
            other => panic!("{other:?}"),
        }
        let r: Result<api::NewWebhookRequest, HttpError> =
            json_body(br#"{"url":"http://x.example/","events":[1"#, &[]);
        assert!(matches!(r, Err(HttpError::MalformedJson(_))), "{r:?}");
    }

    #[test]
    fn url_lists_keep_commas_inside_urls() {
        let items = split_url_list(
            "https://www.aliexpress.com/item/1005006123456789.html, https://m.aliexpress.com/p/x?productIds=1,2 ,32759108484",
        );
        assert_eq!(items.len(), 3, "{items:?}");
        assert!(items[1].ends_with("productIds=1,2 "), "{items:?}");
    }

    #[test]
    fn link_requests_keep_each_input_and_refuse_only_the_list() {
        let urls = vec![
            "https://www.aliexpress.com/item/1005006123456789.html".to_owned(),
            "https://amazon.com/x".into(),
            "https://s.click.aliexpress.com/e/_DmAbCd1".into(),
        ];
        let request = link_request(&urls, None).unwrap();
        assert_eq!(request.inputs.len(), 3);
        assert!(request.inputs[0].source.is_ok() && request.inputs[2].source.is_ok());
        assert!(request.inputs[1].source.is_err());
        let many = vec!["32759108484".to_owned(); 51];
        assert!(
            matches!(link_request(&many, None), Err(HttpError::Unprocessable { field, .. }) if field == "urls")
        );
        assert!(
            matches!(link_request(&urls[..1], Some("fast")), Err(HttpError::Unprocessable { field, .. }) if field == "link_type")
        );
        match link_request_one("https://amazon.com/x", None) {
            Err(HttpError::Unprocessable { field, rule }) => {
                assert_eq!(field, "url");
                assert!(rule.contains("not an AliExpress URL"), "{rule}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn products_keep_v1_strings() {
        let mut p = Product::new(ProductId(1005006123456789), "Earbuds");
        p.sale_price = Some(Money::new("17.99".parse().unwrap(), Currency::EUR));
        p.original_price = Some(Money::new("35.98".parse().unwrap(), Currency::EUR));
        p.discount_percent = Some("50".parse().unwrap());
        p.rating_percent = Some("98.5".parse().unwrap());
        p.commission_rate_percent = Some("7.0".parse().unwrap());
        p.sales_volume = Some(120);
        let a = product(p);
        assert_eq!(a.product_id, "1005006123456789");
        assert_eq!(a.app_sale_price, "17.99");
        assert_eq!(a.discount, "50%");
        assert_eq!(a.evaluate_rate, "98.5%");
        assert_eq!(a.currency.as_deref(), Some("EUR"));
        assert_eq!((a.lastest_volume, a.sales_volume), (Some(120), Some(120)));
        assert_eq!(
            a.product_url,
            "https://www.aliexpress.com/item/1005006123456789.html"
        );
    }
}

/// The quick reading of query strings (`query.rs`) against the careful one here.
#[cfg(test)]
mod quick_query_tests {
    use alistach_api::types as api;
    use proptest::prelude::*;

    use super::{PAGED_NUMERIC, query_params_carefully};
    use crate::query::{MAX_PAIRS, pairs_of, quick};

    #[test]
    fn a_search_is_read_on_the_quick_path() {
        let q = "keywords=wireless%20earbuds+pro&page_size=10&page_no=2&sort=SALE_PRICE_ASC\
                 &min_sale_price=5.5&max_sale_price=50&target_currency=EUR";
        let quick: api::SearchRequest = quick(q, PAGED_NUMERIC).unwrap();
        let careful: api::SearchRequest = query_params_carefully(Some(q), PAGED_NUMERIC).unwrap();
        assert_eq!(quick, careful);
        assert_eq!(quick.keywords.as_deref(), Some("wireless earbuds pro"));
        assert_eq!(quick.page_size, Some(10));
    }

    #[test]
    fn what_the_careful_path_names_is_left_to_it() {
        for q in [
            "keywords=a&keywords=b",
            "keywords=a&colour=red",
            "page_size=ten",
            "page_size=-1",
            "keywords=a&page_size=99999999999999999999",
        ] {
            assert!(
                quick::<api::SearchRequest>(q, PAGED_NUMERIC).is_none(),
                "{q}"
            );
            assert!(
                query_params_carefully::<api::SearchRequest>(Some(q), PAGED_NUMERIC).is_err(),
                "{q}"
            );
        }
        let many = vec!["keywords=a"; MAX_PAIRS + 1].join("&");
        assert!(quick::<api::SearchRequest>(&many, PAGED_NUMERIC).is_none());
    }

    fn piece() -> impl Strategy<Value = String> {
        let name = prop_oneof![
            Just("keywords".to_owned()),
            Just("page_size".to_owned()),
            Just("page_no".to_owned()),
            Just("sort".to_owned()),
            Just("min_sale_price".to_owned()),
            Just("category_ids".to_owned()),
            Just("target_language".to_owned()),
            "[a-z_%+]{0,6}",
        ];
        let value = prop_oneof![
            "[0-9]{1,3}",
            "-?[0-9]{1,22}",
            " ?[0-9]{1,3}(\\.[0-9]{1,3})? ?",
            "(%[0-9a-fA-F]{0,2}|%[gz+]|\\+|[a-zA-Z ]|é|%C3%A9|%FF|%E4%B8)*",
            Just("SALE_PRICE_DESC".to_owned()),
        ];
        (name, proptest::option::of(value)).prop_map(|(n, v)| match v {
            Some(v) => format!("{n}={v}"),
            None => n,
        })
    }

    proptest! {
        #[test]
        fn pairs_are_decoded_as_form_urlencoded_decodes_them(
            q in "([a-z=&+% ]|%[0-9a-fA-F]{2}|%[0-9a-fA-F]|é|%FF|%C3|%A9){0,40}"
        ) {
            let ours: Vec<(String, String)> = pairs_of(&q)
                .map(|(n, v)| (n.into_owned(), v.into_owned()))
                .collect();
            let theirs: Vec<(String, String)> = form_urlencoded::parse(q.as_bytes())
                .map(|(n, v)| (n.into_owned(), v.into_owned()))
                .collect();
            prop_assert_eq!(ours, theirs);
        }

        #[test]
        fn the_quick_path_reads_what_the_careful_path_reads(
            pieces in proptest::collection::vec(piece(), 0..6)
        ) {
            let q = pieces.join("&");
            let careful = query_params_carefully::<api::SearchRequest>(Some(&q), PAGED_NUMERIC);
            match quick::<api::SearchRequest>(&q, PAGED_NUMERIC) {
                Some(quick) => prop_assert_eq!(Some(quick), careful.ok(), "{}", q),
                None => prop_assert!(careful.is_err(), "{} was refused on the quick path", q),
            }
        }
    }
}
