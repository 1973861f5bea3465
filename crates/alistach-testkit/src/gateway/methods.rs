//! The business methods the fake gateway answers, in the documented shapes (protocol
//! reference §4.0–4.10): wrapped lists unless `simplify=true`, `fields` honoured, 405 for
//! empty results. Every promotion link an answer carries is reported to the caller, so the
//! fake can register it for purchases.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::str::FromStr;

use alistach_domain::{Currency, Decimal, Language, LinkSource, LinkType};
use serde_json::{Map, Value, json};

use super::catalog::{
    CATEGORIES, Catalog, CatalogProduct, PROMOS, convert, fnv1a, localise, matches_keywords,
    promotion_link, words,
};
use super::links::IssuedLink;

/// The methods the fake knows; anything else is `InvalidApiPath`.
pub(crate) const METHODS: &[&str] = &[
    "aliexpress.affiliate.product.query",
    "aliexpress.affiliate.productdetail.get",
    "aliexpress.affiliate.hotproduct.query",
    "aliexpress.affiliate.category.get",
    "aliexpress.affiliate.link.generate",
    "aliexpress.affiliate.product.smartmatch",
    "aliexpress.affiliate.featuredpromo.get",
    "aliexpress.affiliate.featuredpromo.products.get",
    "aliexpress.affiliate.order.list",
    "aliexpress.affiliate.order.listbyindex",
    "aliexpress.affiliate.order.get",
];

const MAX_PAGE_SIZE: usize = 50;
const MAX_PAGES: usize = 100;
const MAX_RESULTS: usize = 5_000;
const MAX_LIST: usize = 50;

/// What a method answers.
pub(crate) enum Outcome {
    /// `resp_code` 200 with this `result`.
    Result(Value),
    /// `resp_code` 405, "The result is empty".
    Empty,
    /// Another `resp_code` (e.g. 402) with its message.
    Business(i64, String),
    /// An `error_response` of type ISV.
    Error(&'static str, String),
}

type Parsed<T> = Result<T, Outcome>;

pub(crate) fn invalid(name: &str) -> Outcome {
    Outcome::Error(
        "InvalidParameter",
        format!("The specified parameter \"{name}\" is not valid"),
    )
}

pub(crate) fn missing(name: &str) -> Outcome {
    Outcome::Error(
        "MissingParameter",
        format!(
            "The input parameter \"{name}\" that is mandatory for processing this request is not supplied."
        ),
    )
}

/// Changes a test made to what `productdetail.get` answers.
#[derive(Clone, Debug, Default)]
pub(crate) struct DetailOverrides {
    /// Sale prices (USD cents) replacing the catalog's.
    pub(crate) prices: HashMap<u64, i64>,
    /// Products the details leave out, as if no longer sold.
    pub(crate) unavailable: HashSet<u64>,
}

struct Req<'a> {
    params: &'a BTreeMap<String, String>,
    catalog: &'a Catalog,
    overrides: &'a DetailOverrides,
    /// The promotion links the answer hands out.
    issued: RefCell<Vec<(String, IssuedLink)>>,
}

impl Req<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.params
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    fn require(&self, name: &str) -> Parsed<&str> {
        self.get(name).ok_or_else(|| missing(name))
    }

    fn number<T: FromStr>(&self, name: &str) -> Parsed<Option<T>> {
        self.get(name)
            .map(|v| v.parse::<T>().map_err(|_| invalid(name)))
            .transpose()
    }

    fn page(&self, default_size: usize) -> Parsed<(usize, usize)> {
        let page_no = self.number::<usize>("page_no")?.unwrap_or(1);
        if page_no == 0 {
            return Err(invalid("page_no"));
        }
        // The platform caps page_size rather than refusing larger values.
        let page_size = self
            .number::<usize>("page_size")?
            .unwrap_or(default_size)
            .clamp(1, MAX_PAGE_SIZE);
        Ok((page_no, page_size))
    }

    fn country(&self, name: &str) -> Parsed<Option<String>> {
        match self.get(name) {
            None => Ok(None),
            Some(c) if c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()) => {
                Ok(Some(c.to_ascii_uppercase()))
            }
            Some(_) => Err(invalid(name)),
        }
    }

    fn ids(&self, name: &str) -> Parsed<Vec<u64>> {
        match self.get(name) {
            None => Ok(Vec::new()),
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| s.parse::<u64>().map_err(|_| invalid(name)))
                .collect(),
        }
    }

    /// The tracked link for `source`, recorded as handed out.
    fn issue(
        &self,
        source: &str,
        product_id: Option<u64>,
        tracking_id: &str,
        link_type: LinkType,
    ) -> String {
        issue(&self.issued, source, product_id, tracking_id, link_type)
    }

    fn view(&self, country_param: &str) -> Parsed<View<'_>> {
        let currency = match self.get("target_currency") {
            None => Currency::USD,
            Some(c) => c.parse().map_err(|_| invalid("target_currency"))?,
        };
        let language = match self.get("target_language") {
            None => Language::EN,
            Some(l) => l.parse().map_err(|_| invalid("target_language"))?,
        };
        let fields = self.get("fields").map(|f| {
            f.split(',')
                .map(|s| s.trim().to_owned())
                .collect::<HashSet<_>>()
        });
        Ok(View {
            currency,
            language,
            tracking_id: self.get("tracking_id").unwrap_or("default").to_owned(),
            simplify: self.get("simplify") == Some("true"),
            fields,
            country: self.country(country_param)?,
            issued: &self.issued,
        })
    }
}

/// The tracked link for `source`, pushed onto `issued`.
fn issue(
    issued: &RefCell<Vec<(String, IssuedLink)>>,
    source: &str,
    product_id: Option<u64>,
    tracking_id: &str,
    link_type: LinkType,
) -> String {
    let link = promotion_link(source, tracking_id, &link_type.code().to_string());
    issued.borrow_mut().push((
        link.clone(),
        IssuedLink {
            product_id,
            tracking_id: tracking_id.to_owned(),
            link_type,
        },
    ));
    link
}

/// How products are rendered for one request.
struct View<'a> {
    currency: Currency,
    language: Language,
    tracking_id: String,
    simplify: bool,
    fields: Option<HashSet<String>>,
    country: Option<String>,
    issued: &'a RefCell<Vec<(String, IssuedLink)>>,
}

impl View<'_> {
    /// Whether the answer keeps the field `name` (`fields` filters them).
    fn keeps(&self, name: &str) -> bool {
        self.fields.as_ref().is_none_or(|f| f.contains(name))
    }

    /// The tracked link for `source`, recorded as handed out when the answer shows `field`.
    fn link(&self, field: &str, source: &str, product_id: Option<u64>) -> String {
        if self.keeps(field) {
            issue(
                self.issued,
                source,
                product_id,
                &self.tracking_id,
                LinkType::Normal,
            )
        } else {
            promotion_link(source, &self.tracking_id, "0")
        }
    }

    fn list(&self, wrapper: &str, items: Vec<Value>) -> Value {
        if self.simplify {
            Value::Array(items)
        } else {
            json!({ wrapper: items })
        }
    }

    fn target(&self, usd_cents: i64) -> Decimal {
        convert(usd_cents, self.currency)
    }

    fn filter_fields(&self, mut object: Map<String, Value>) -> Value {
        if let Some(fields) = &self.fields {
            object.retain(|k, _| fields.contains(k));
        }
        Value::Object(object)
    }

    fn product(&self, p: &CatalogProduct) -> Value {
        let usd = |cents: i64| Decimal::from_minor_units(cents, 2).to_string();
        let percent = |tenths: u32| format!("{}.{}%", tenths / 10, tenths % 10);
        let currency = self.currency.code();
        let mut o = Map::new();
        let mut put = |k: &str, v: Value| {
            o.insert(k.to_owned(), v);
        };
        put("product_id", json!(p.id));
        put("product_title", json!(localise(&p.title, self.language)));
        put("product_detail_url", json!(p.detail_url()));
        put("product_main_image_url", json!(p.images[0]));
        put(
            "product_small_image_urls",
            self.list("string", p.images.iter().map(|i| json!(i)).collect()),
        );
        put(
            "product_video_url",
            json!(p.video.clone().unwrap_or_default()),
        );
        put(
            "promotion_link",
            json!(self.link("promotion_link", &p.detail_url(), Some(p.id))),
        );
        put("sale_price", json!(usd(p.sale_cents)));
        put("sale_price_currency", json!("USD"));
        put("original_price", json!(usd(p.original_cents)));
        put("original_price_currency", json!("USD"));
        put(
            "target_sale_price",
            json!(self.target(p.sale_cents).to_string()),
        );
        put("target_sale_price_currency", json!(currency));
        put(
            "target_original_price",
            json!(self.target(p.original_cents).to_string()),
        );
        put("target_original_price_currency", json!(currency));
        if let Some(app) = p.app_cents {
            put("app_sale_price", json!(usd(app)));
            put("app_sale_price_currency", json!("USD"));
            put("target_app_sale_price", json!(self.target(app).to_string()));
            put("target_app_sale_price_currency", json!(currency));
        }
        put("discount", json!(format!("{}%", p.discount)));
        put("evaluate_rate", json!(percent(p.rating_tenths)));
        put("lastest_volume", json!(p.volume));
        put("commission_rate", json!(percent(p.commission_tenths)));
        put(
            "relevant_market_commission_rate",
            json!(percent(p.commission_tenths)),
        );
        put(
            "hot_product_commission_rate",
            json!(percent(p.hot_commission_tenths)),
        );
        put("first_level_category_id", json!(p.top.id));
        put("first_level_category_name", json!(p.top.name));
        put("second_level_category_id", json!(p.child.id));
        put("second_level_category_name", json!(p.child.name));
        put("shop_id", json!(p.shop_id));
        put(
            "shop_url",
            json!(format!("https://www.aliexpress.com/store/{}", p.shop_id)),
        );
        put("platform_product_type", json!(p.platform_type));
        put(
            "ship_to_days",
            json!(format!(
                "ship to {} in {} days",
                self.country.as_deref().unwrap_or("US"),
                p.ship_days
            )),
        );
        if let Some(code) = &p.promo_code {
            put(
                "promo_code_info",
                json!({
                    "promo_code": code.code,
                    "code_campaigntype": "0",
                    "code_value": format!("On order over {} {}, get {} {} off", currency,
                        self.target(code.min_spend_cents), currency, self.target(code.off_cents)),
                    "code_availabletime_start": "2023-11-01 00:00:00",
                    "code_availabletime_end": "2023-11-30 23:59:59",
                    "code_mini_spend": self.target(code.min_spend_cents).to_string(),
                    "code_quantity": "1000",
                    "code_promotionurl": self.link("promo_code_info", &code.code, None),
                }),
            );
        }
        self.filter_fields(o)
    }

    fn products(&self, products: &[&CatalogProduct]) -> Value {
        self.list(
            "product",
            products.iter().map(|p| self.product(p)).collect(),
        )
    }
}

/// One page of `items`, or `None` past the end (the platform's 405).
fn paginate<T: Copy>(
    items: &[T],
    page_no: usize,
    page_size: usize,
) -> Option<(Vec<T>, usize, usize)> {
    let total = items.len().min(MAX_RESULTS);
    let total_pages = total.div_ceil(page_size).min(MAX_PAGES);
    if total == 0 || page_no > total_pages {
        return None;
    }
    let start = (page_no - 1) * page_size;
    let page = items[start..(start + page_size).min(total)].to_vec();
    Some((page, total, total_pages))
}

/// Answers one validated call, with the promotion links the answer hands out (link, what it
/// tracks); none unless the call succeeds.
pub(crate) fn answer(
    method: &str,
    params: &BTreeMap<String, String>,
    catalog: &Catalog,
    overrides: &DetailOverrides,
) -> (Outcome, Vec<(String, IssuedLink)>) {
    let req = Req {
        params,
        catalog,
        overrides,
        issued: RefCell::new(Vec::new()),
    };
    let outcome = match method {
        "aliexpress.affiliate.product.query" => product_query(&req, false),
        "aliexpress.affiliate.hotproduct.query" => product_query(&req, true),
        "aliexpress.affiliate.productdetail.get" => product_detail(&req),
        "aliexpress.affiliate.category.get" => Ok(category_get(&req)),
        "aliexpress.affiliate.link.generate" => link_generate(&req),
        "aliexpress.affiliate.product.smartmatch" => smart_match(&req),
        "aliexpress.affiliate.featuredpromo.get" => Ok(featured_promo_get(&req)),
        "aliexpress.affiliate.featuredpromo.products.get" => featured_promo_products(&req),
        _ => Err(Outcome::Error(
            "InvalidApiPath",
            format!("The specified API \"{method}\" does not exist"),
        )),
    };
    let outcome = outcome.unwrap_or_else(|o| o);
    let issued = match outcome {
        Outcome::Result(_) => req.issued.into_inner(),
        _ => Vec::new(),
    };
    (outcome, issued)
}

fn product_query(req: &Req<'_>, hot: bool) -> Parsed<Outcome> {
    let keywords = req.get("keywords").map(words).unwrap_or_default();
    let categories = req.ids("category_ids")?;
    if !hot && keywords.is_empty() && categories.is_empty() {
        return Ok(Outcome::Business(
            402,
            "Parameter keywords is empty".to_owned(),
        ));
    }
    let view = req.view("ship_to_country")?;
    let min = req.number::<i64>("min_sale_price")?;
    let max = req.number::<i64>("max_sale_price")?;
    let platform = match req.get("platform_product_type") {
        None | Some("ALL") => None,
        Some(t @ ("PLAZA" | "TMALL")) => Some(t),
        Some(_) => return Err(invalid("platform_product_type")),
    };
    let delivery = match req.number::<u32>("delivery_days")? {
        Some(d) if ![3, 5, 7, 10].contains(&d) => return Err(invalid("delivery_days")),
        d => d,
    };
    let sort = req.get("sort");
    let allowed: &[&str] = if hot {
        &[
            "SALE_PRICE_ASC",
            "SALE_PRICE_DESC",
            "LAST_VOLUME_ASC",
            "LAST_VOLUME_DESC",
            "DISCOUNT_ASC",
            "DISCOUNT_DESC",
        ]
    } else {
        &[
            "SALE_PRICE_ASC",
            "SALE_PRICE_DESC",
            "LAST_VOLUME_ASC",
            "LAST_VOLUME_DESC",
        ]
    };
    if sort.is_some_and(|s| !allowed.contains(&s)) {
        return Err(invalid("sort"));
    }
    let (page_no, page_size) = req.page(20)?;
    let digits = view.currency.minor_digits();
    let mut matches: Vec<&CatalogProduct> = req
        .catalog
        .products
        .iter()
        .filter(|p| !hot || p.hot_commission_tenths > 0)
        .filter(|p| {
            keywords.is_empty()
                || matches_keywords(&keywords, &[&p.title, &localise(&p.title, view.language)])
        })
        .filter(|p| categories.is_empty() || categories.iter().any(|c| p.in_category(*c)))
        .filter(|p| {
            let price = view
                .target(p.sale_cents)
                .to_minor_units(digits)
                .unwrap_or(i64::MAX);
            min.is_none_or(|m| price >= m) && max.is_none_or(|m| price <= m)
        })
        .filter(|p| platform.is_none_or(|t| p.platform_type == t))
        .filter(|p| delivery.is_none_or(|d| p.ship_days <= d))
        .filter(|p| view.country.as_deref().is_none_or(|c| p.ships_to(c)))
        .collect();
    sort_products(&mut matches, sort);
    let Some((page, total, total_pages)) = paginate(&matches, page_no, page_size) else {
        return Ok(Outcome::Empty);
    };
    Ok(Outcome::Result(json!({
        "current_page_no": page_no,
        "current_record_count": page.len(),
        "total_page_no": total_pages,
        "total_record_count": total,
        "products": view.products(&page),
    })))
}

fn sort_products(products: &mut [&CatalogProduct], sort: Option<&str>) {
    match sort {
        Some("SALE_PRICE_ASC" | "priceAsc") => products.sort_by_key(|p| (p.sale_cents, p.id)),
        Some("SALE_PRICE_DESC" | "priceDesc") => {
            products.sort_by_key(|p| (std::cmp::Reverse(p.sale_cents), p.id))
        }
        Some("LAST_VOLUME_ASC" | "volumeAsc") => products.sort_by_key(|p| (p.volume, p.id)),
        Some("LAST_VOLUME_DESC" | "volumeDesc") => {
            products.sort_by_key(|p| (std::cmp::Reverse(p.volume), p.id))
        }
        Some("DISCOUNT_ASC" | "discountAsc") => products.sort_by_key(|p| (p.discount, p.id)),
        Some("DISCOUNT_DESC" | "discountDesc") => {
            products.sort_by_key(|p| (std::cmp::Reverse(p.discount), p.id))
        }
        Some("commissionAsc") => products.sort_by_key(|p| (p.commission_tenths, p.id)),
        Some("commissionDesc") => {
            products.sort_by_key(|p| (std::cmp::Reverse(p.commission_tenths), p.id))
        }
        Some("ratingAsc") => products.sort_by_key(|p| (p.rating_tenths, p.id)),
        Some("ratingDesc") => products.sort_by_key(|p| (std::cmp::Reverse(p.rating_tenths), p.id)),
        // Relevance and promotion time: catalog order.
        _ => {}
    }
}

fn product_detail(req: &Req<'_>) -> Parsed<Outcome> {
    req.require("product_ids")?;
    let ids = req.ids("product_ids")?;
    if ids.len() > MAX_LIST {
        return Err(invalid("product_ids"));
    }
    let view = req.view("country")?;
    let mut seen = HashSet::new();
    let owned: Vec<CatalogProduct> = ids
        .iter()
        .filter(|id| seen.insert(**id))
        .filter(|id| !req.overrides.unavailable.contains(id))
        .filter_map(|id| req.catalog.product(*id))
        .filter(|p| view.country.as_deref().is_none_or(|c| p.ships_to(c)))
        .map(|p| {
            let mut p = p.clone();
            if let Some(cents) = req.overrides.prices.get(&p.id) {
                p.sale_cents = *cents;
                p.app_cents = None;
                p.original_cents = p.original_cents.max(*cents);
            }
            p
        })
        .collect();
    let found: Vec<&CatalogProduct> = owned.iter().collect();
    if found.is_empty() {
        return Ok(Outcome::Empty);
    }
    Ok(Outcome::Result(json!({
        "current_record_count": found.len(),
        "products": view.products(&found),
    })))
}

fn category_get(req: &Req<'_>) -> Outcome {
    let simplify = req.get("simplify") == Some("true");
    let mut list = Vec::new();
    for top in CATEGORIES {
        list.push(json!({"category_id": top.id, "category_name": top.name}));
    }
    for top in CATEGORIES {
        for child in top.children {
            list.push(json!({"category_id": child.id, "category_name": child.name, "parent_category_id": top.id}));
        }
    }
    let total = list.len();
    let categories = if simplify {
        Value::Array(list)
    } else {
        json!({ "category": list })
    };
    Outcome::Result(json!({"categories": categories, "total_result_count": total}))
}

fn is_aliexpress_url(source: &str) -> bool {
    let rest = source
        .strip_prefix("https://")
        .or_else(|| source.strip_prefix("http://"));
    let Some(rest) = rest else { return false };
    let host = rest
        .split(['/', '?', '#'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    ["aliexpress.com", "aliexpress.us", "aliexpress.ru"]
        .iter()
        .any(|d| host == *d || host.strip_suffix(d).is_some_and(|sub| sub.ends_with('.')))
}

/// The product a link source names, if it is a product page.
fn source_product(source: &str) -> Option<u64> {
    LinkSource::parse(source)
        .ok()
        .and_then(|s| s.product_id())
        .map(|id| id.0)
}

fn link_generate(req: &Req<'_>) -> Parsed<Outcome> {
    let link_type = match req.require("promotion_link_type")? {
        "0" => LinkType::Normal,
        "2" => LinkType::Hot,
        _ => return Err(invalid("promotion_link_type")),
    };
    let sources: Vec<&str> = req
        .require("source_values")?
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if sources.len() > MAX_LIST {
        return Err(invalid("source_values"));
    }
    let tracking_id = req.require("tracking_id")?;
    let simplify = req.get("simplify") == Some("true");
    let mut links: Vec<(u64, Value)> = sources
        .iter()
        .filter(|s| is_aliexpress_url(s))
        .map(|s| {
            (
                fnv1a(&[s, "order"]),
                json!({
                    "promotion_link": req.issue(s, source_product(s), tracking_id, link_type),
                    "source_value": s,
                }),
            )
        })
        .collect();
    if links.is_empty() {
        return Ok(Outcome::Empty);
    }
    // The platform does not keep request order; neither does the fake (deterministically).
    links.sort_by_key(|(k, _)| *k);
    let links: Vec<Value> = links.into_iter().map(|(_, v)| v).collect();
    let total = links.len();
    let links = if simplify {
        Value::Array(links)
    } else {
        json!({ "promotion_link": links })
    };
    Ok(Outcome::Result(json!({
        "promotion_links": links,
        "total_result_count": total,
        "tracking_id": tracking_id,
    })))
}

fn smart_match(req: &Req<'_>) -> Parsed<Outcome> {
    req.require("device_id")?;
    let view = req.view("country")?;
    let (page_no, _) = req.page(20)?;
    let keywords = req.get("keywords").map(words).unwrap_or_default();
    let seed = match req.number::<u64>("product_id")? {
        Some(id) => match req.catalog.product(id) {
            Some(p) => Some(p),
            None => return Ok(Outcome::Empty),
        },
        None => None,
    };
    let mut matches: Vec<&CatalogProduct> = req
        .catalog
        .products
        .iter()
        .filter(|p| seed.is_none_or(|s| s.child.id == p.child.id && s.id != p.id))
        .filter(|p| keywords.is_empty() || matches_keywords(&keywords, &[&p.title]))
        .filter(|p| view.country.as_deref().is_none_or(|c| p.ships_to(c)))
        .collect();
    sort_products(&mut matches, Some("LAST_VOLUME_DESC"));
    let Some((page, _, _)) = paginate(&matches, page_no, 20) else {
        return Ok(Outcome::Empty);
    };
    Ok(Outcome::Result(json!({
        "current_page_no": page_no,
        "current_record_count": page.len(),
        "products": view.products(&page),
    })))
}

fn featured_promo_get(req: &Req<'_>) -> Outcome {
    let simplify = req.get("simplify") == Some("true");
    let promos: Vec<Value> = PROMOS
        .iter()
        .map(|(name, desc)| {
            let count = req
                .catalog
                .products
                .iter()
                .filter(|p| p.promos.contains(name))
                .count();
            json!({"promo_name": name, "promo_desc": desc, "product_num": count})
        })
        .collect();
    let total = promos.len();
    let promos = if simplify {
        Value::Array(promos)
    } else {
        json!({ "promo": promos })
    };
    Outcome::Result(json!({"current_record_count": total, "promos": promos}))
}

fn featured_promo_products(req: &Req<'_>) -> Parsed<Outcome> {
    let view = req.view("country")?;
    let (page_no, page_size) = req.page(20)?;
    let name = req.get("promotion_name");
    let category = req.number::<u64>("category_id")?;
    let sort = req.get("sort");
    const SORTS: &[&str] = &[
        "commissionAsc",
        "commissionDesc",
        "priceAsc",
        "priceDesc",
        "volumeAsc",
        "volumeDesc",
        "discountAsc",
        "discountDesc",
        "ratingAsc",
        "ratingDesc",
        "promotionTimeAsc",
        "promotionTimeDesc",
    ];
    if sort.is_some_and(|s| !SORTS.contains(&s)) {
        return Err(invalid("sort"));
    }
    for field in ["promotion_start_time", "promotion_end_time"] {
        if req.get(field).is_some_and(|t| !is_platform_time(t)) {
            return Err(invalid(field));
        }
    }
    let mut matches: Vec<&CatalogProduct> = req
        .catalog
        .products
        .iter()
        .filter(|p| match name {
            Some(n) => p.promos.iter().any(|x| x == &n),
            None => !p.promos.is_empty(),
        })
        .filter(|p| category.is_none_or(|c| p.in_category(c)))
        .filter(|p| view.country.as_deref().is_none_or(|c| p.ships_to(c)))
        .collect();
    sort_products(&mut matches, sort);
    let Some((page, total, total_pages)) = paginate(&matches, page_no, page_size) else {
        return Ok(Outcome::Empty);
    };
    Ok(Outcome::Result(json!({
        "current_page_no": page_no,
        "current_record_count": page.len(),
        "total_page_no": total_pages,
        "total_record_count": total,
        "is_finished": page_no >= total_pages,
        "products": view.products(&page),
    })))
}

pub(crate) fn is_platform_time(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 19
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b' ',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        })
}
