//! The client: one reused HTTP connection pool, signed form posts to `/sync`, classified
//! errors, retries within a deadline, and one typed method per platform method.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use alistach_domain::{
    Category, Clock, Currency, Language, MAX_DETAIL_IDS, MAX_LINKS_PER_REQUEST, Pacer, Product,
    ProductId, SystemClock, UpstreamError, ValidationError,
};
use reqwest::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use serde_json::Value;
use tokio::time::Instant;

use crate::model::{
    FeaturedPromoProductsRequest, FeaturedPromoProductsResponse, LinkGenerateRequest,
    MAX_ORDER_IDS, Order, OrderListByIndexRequest, OrderListByIndexResponse, OrderListRequest,
    OrderListResponse, ProductDetailRequest, ProductQueryRequest, ProductQueryResponse, Promo,
    PromotionLink, SmartMatchRequest, SmartMatchResponse, check_fields, check_page,
};
use crate::wire::{
    self, WireCategoryResult, WireLinkResult, WireOrder, WireOrderResult, WireProductsResult,
    WirePromoResult,
};
use crate::{ClientConfig, Error, convert, signing};

const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded;charset=UTF-8";
/// smartmatch rejects calls without a device id although the docs call it optional; any fixed
/// value is accepted.
const DEFAULT_DEVICE_ID: &str = "alistach-server";
/// The largest response body read.
const MAX_RESPONSE_BYTES: usize = 16 << 20;

/// Method names, as the platform spells them.
pub mod methods {
    /// Keyword/category search.
    pub const PRODUCT_QUERY: &str = "aliexpress.affiliate.product.query";
    /// Details by id.
    pub const PRODUCT_DETAIL: &str = "aliexpress.affiliate.productdetail.get";
    /// High-commission products.
    pub const HOT_PRODUCT_QUERY: &str = "aliexpress.affiliate.hotproduct.query";
    /// Every category.
    pub const CATEGORY_GET: &str = "aliexpress.affiliate.category.get";
    /// Affiliate links.
    pub const LINK_GENERATE: &str = "aliexpress.affiliate.link.generate";
    /// Related products.
    pub const SMART_MATCH: &str = "aliexpress.affiliate.product.smartmatch";
    /// Featured promotions.
    pub const FEATURED_PROMO_GET: &str = "aliexpress.affiliate.featuredpromo.get";
    /// A promotion's products.
    pub const FEATURED_PROMO_PRODUCTS_GET: &str = "aliexpress.affiliate.featuredpromo.products.get";
    /// Affiliate orders, by page number.
    pub const ORDER_LIST: &str = "aliexpress.affiliate.order.list";
    /// Affiliate orders, by cursor.
    pub const ORDER_LIST_BY_INDEX: &str = "aliexpress.affiliate.order.listbyindex";
    /// Affiliate orders, by sub-order id.
    pub const ORDER_GET: &str = "aliexpress.affiliate.order.get";
}

/// The AliExpress affiliate client. Cheap to clone; clones share one connection pool.
#[derive(Clone)]
pub struct AliExpressClient {
    inner: Arc<Inner>,
}

struct Inner {
    config: ClientConfig,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    /// Asked before every HTTP attempt, retries included (none: unpaced).
    pacer: Option<Arc<dyn Pacer>>,
}

impl fmt::Debug for AliExpressClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The config's Debug masks the secret.
        f.debug_struct("AliExpressClient")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// Business parameters of one call; empty values are never sent (the platform would not
/// sign them the same way).
#[derive(Default)]
struct Params(Vec<(&'static str, String)>);

impl Params {
    fn set(&mut self, name: &'static str, value: impl fmt::Display) {
        let value = value.to_string();
        if !value.is_empty() {
            self.0.push((name, value));
        }
    }

    fn opt(&mut self, name: &'static str, value: Option<impl fmt::Display>) {
        if let Some(v) = value {
            self.set(name, v);
        }
    }

    fn list<T: fmt::Display>(&mut self, name: &'static str, values: impl IntoIterator<Item = T>) {
        let joined = values
            .into_iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(",");
        self.set(name, joined);
    }

    /// What every product-returning method takes: the target currency and language (the
    /// client's defaults when not given), `fields`, and the tracking id (so returned promotion
    /// links earn for it).
    fn product_options(
        &mut self,
        c: &ClientConfig,
        currency: Option<Currency>,
        language: Option<Language>,
        fields: &[String],
        tracking_id: Option<&str>,
    ) {
        self.set("target_currency", currency.unwrap_or(c.currency));
        self.set("target_language", language.unwrap_or(c.language));
        self.product_fields(fields);
        self.opt("tracking_id", tracking_id.or(c.tracking_id.as_deref()));
    }

    /// `fields`, with `product_id` added so every returned product can be identified.
    fn product_fields(&mut self, fields: &[String]) {
        if fields.is_empty() {
            return;
        }
        let mut all: Vec<&str> = fields.iter().map(String::as_str).collect();
        if !all.contains(&"product_id") {
            all.insert(0, "product_id");
        }
        self.list("fields", all);
    }
}

impl AliExpressClient {
    /// A client for `config`, reading the system clock.
    pub fn new(config: ClientConfig) -> Result<Self, Error> {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    /// A client reading `clock` for request timestamps.
    pub fn with_clock(config: ClientConfig, clock: Arc<dyn Clock>) -> Result<Self, Error> {
        config.validate()?;
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .user_agent(concat!("alistach-aliexpress/", env!("CARGO_PKG_VERSION")))
            // A redirect would re-send the signed parameters somewhere else; the gateway
            // never redirects, so treat one as a failure instead.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Config {
                field: "http_client",
                rule: format!("could not be built: {}", e.without_url()),
            })?;
        Ok(AliExpressClient {
            inner: Arc::new(Inner {
                config,
                http,
                clock,
                pacer: None,
            }),
        })
    }

    /// The same client with every HTTP attempt, retries included, paced by `pacer` (in the
    /// server, the upstream guard's limiter), so retries spend the same budget as first
    /// attempts. An attempt whose turn would come after the call's deadline is not made.
    pub fn with_pacer(self, pacer: Arc<dyn Pacer>) -> Self {
        let inner = Arc::try_unwrap(self.inner).unwrap_or_else(|shared| Inner {
            config: shared.config.clone(),
            http: shared.http.clone(),
            clock: shared.clock.clone(),
            pacer: None,
        });
        AliExpressClient {
            inner: Arc::new(Inner {
                pacer: Some(pacer),
                ..inner
            }),
        }
    }

    /// The same client (its connections and pacer shared) with links made for `tracking_id`:
    /// a tenant's client on the deployment's app. An empty tracking id is refused.
    pub fn with_tracking_id(&self, tracking_id: &str) -> Result<Self, Error> {
        let mut config = self.inner.config.clone();
        config.tracking_id = Some(tracking_id.to_owned());
        config.validate()?;
        Ok(AliExpressClient {
            inner: Arc::new(Inner {
                config,
                http: self.inner.http.clone(),
                clock: self.inner.clock.clone(),
                pacer: self.inner.pacer.clone(),
            }),
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// Keyword/category search (`aliexpress.affiliate.product.query`). Nothing found is an
    /// empty page, not an error.
    pub async fn product_query(
        &self,
        request: &ProductQueryRequest,
    ) -> Result<ProductQueryResponse, Error> {
        self.query_products(methods::PRODUCT_QUERY, request).await
    }

    /// High-commission products (`aliexpress.affiliate.hotproduct.query`).
    pub async fn hot_product_query(
        &self,
        request: &ProductQueryRequest,
    ) -> Result<ProductQueryResponse, Error> {
        self.query_products(methods::HOT_PRODUCT_QUERY, request)
            .await
    }

    async fn query_products(
        &self,
        method: &'static str,
        r: &ProductQueryRequest,
    ) -> Result<ProductQueryResponse, Error> {
        r.validate()?;
        let c = &self.inner.config;
        let mut p = Params::default();
        p.opt("keywords", r.keywords.as_deref().map(str::trim));
        p.list("category_ids", &r.category_ids);
        p.opt("min_sale_price", r.min_sale_price);
        p.opt("max_sale_price", r.max_sale_price);
        p.opt("page_no", r.page_no);
        p.opt("page_size", r.page_size);
        p.opt("sort", r.sort);
        p.opt(
            "platform_product_type",
            r.platform_product_type.map(|t| t.as_str()),
        );
        p.opt("delivery_days", r.delivery_days);
        p.opt("ship_to_country", r.ship_to_country);
        p.product_options(
            c,
            r.target_currency,
            r.target_language,
            &r.fields,
            r.tracking_id.as_deref(),
        );
        if method == methods::HOT_PRODUCT_QUERY {
            p.opt("promotion_name", r.promotion_name.as_deref());
        }
        let Some(result) = self.call(method, p).await? else {
            return Ok(ProductQueryResponse::default());
        };
        let w: WireProductsResult = wire::decode(method, result)?;
        Ok(ProductQueryResponse {
            current_page_no: page_u32(w.current_page_no.0),
            current_record_count: w
                .current_record_count
                .0
                .unwrap_or(w.products.0.len() as u64),
            total_page_no: page_u32(w.total_page_no.0),
            total_record_count: w.total_record_count.0.unwrap_or(0),
            products: products(w.products.0),
        })
    }

    /// Details of known products (`aliexpress.affiliate.productdetail.get`). Ids are
    /// deduplicated and sent 50 per call; products the platform does not return (unknown, or
    /// not in the affiliate programme) are simply absent.
    pub async fn product_detail(&self, r: &ProductDetailRequest) -> Result<Vec<Product>, Error> {
        let mut seen = HashSet::new();
        let ids: Vec<ProductId> = r
            .product_ids
            .iter()
            .copied()
            .filter(|id| seen.insert(*id))
            .collect();
        if ids.is_empty() {
            return Err(
                ValidationError::new("product_ids", "must list at least one product id").into(),
            );
        }
        check_fields(&r.fields)?;
        let c = &self.inner.config;
        let mut out: Vec<Product> = Vec::with_capacity(ids.len());
        // Sequential batches: the platform bans bursts (ApiCallLimit), so parallel calls
        // would mostly buy rate-limit errors.
        for batch in ids.chunks(MAX_DETAIL_IDS) {
            let mut p = Params::default();
            p.list("product_ids", batch);
            p.opt("country", r.country);
            p.product_options(
                c,
                r.target_currency,
                r.target_language,
                &r.fields,
                r.tracking_id.as_deref(),
            );
            if let Some(result) = self.call(methods::PRODUCT_DETAIL, p).await? {
                let w: WireProductsResult = wire::decode(methods::PRODUCT_DETAIL, result)?;
                out.extend(products(w.products.0));
            }
        }
        let mut seen = HashSet::new();
        out.retain(|p| seen.insert(p.id));
        Ok(out)
    }

    /// Every category, flat, top-level ones without a parent (`aliexpress.affiliate.category.get`).
    pub async fn category_get(&self) -> Result<Vec<Category>, Error> {
        let Some(result) = self.call(methods::CATEGORY_GET, Params::default()).await? else {
            return Ok(Vec::new());
        };
        let w: WireCategoryResult = wire::decode(methods::CATEGORY_GET, result)?;
        Ok(w.categories
            .0
            .into_iter()
            .filter_map(convert::category)
            .collect())
    }

    /// Affiliate links (`aliexpress.affiliate.link.generate`), 50 sources per call. Results
    /// come back in request order, matched by `source_value` (the platform may reorder them);
    /// sources it could not convert are absent.
    pub async fn link_generate(
        &self,
        r: &LinkGenerateRequest,
    ) -> Result<Vec<PromotionLink>, Error> {
        let tracking_id = r
            .tracking_id
            .as_deref()
            .or(self.inner.config.tracking_id.as_deref())
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| {
                ValidationError::new(
                    "tracking_id",
                    "must be set in the request or the client configuration",
                )
            })?;
        let mut seen = HashSet::new();
        let mut sources = Vec::with_capacity(r.source_values.len());
        for s in &r.source_values {
            let s = s.trim();
            if s.is_empty() {
                return Err(
                    ValidationError::new("source_values", "must not contain empty values").into(),
                );
            }
            if s.contains(',') {
                // The platform splits source_values on commas.
                return Err(
                    ValidationError::new("source_values", "must not contain commas").into(),
                );
            }
            if seen.insert(s) {
                sources.push(s);
            }
        }
        if sources.is_empty() {
            return Err(
                ValidationError::new("source_values", "must list at least one page").into(),
            );
        }
        let mut found: HashMap<String, PromotionLink> = HashMap::new();
        let mut unmatched = Vec::new();
        for batch in sources.chunks(MAX_LINKS_PER_REQUEST) {
            let mut p = Params::default();
            p.set("promotion_link_type", r.link_type.code());
            p.list("source_values", batch);
            p.set("tracking_id", tracking_id);
            p.opt("ship_to_country", r.ship_to_country);
            if let Some(result) = self.call(methods::LINK_GENERATE, p).await? {
                let w: WireLinkResult = wire::decode(methods::LINK_GENERATE, result)?;
                for link in w.promotion_links.0.into_iter().filter_map(convert::link) {
                    if batch.contains(&link.source_value.as_str()) {
                        found.insert(link.source_value.clone(), link);
                    } else {
                        unmatched.push(link);
                    }
                }
            }
        }
        let mut out: Vec<PromotionLink> = sources.iter().filter_map(|s| found.remove(*s)).collect();
        out.extend(unmatched);
        Ok(out)
    }

    /// Related products (`aliexpress.affiliate.product.smartmatch`); a device id is always sent.
    pub async fn smart_match(&self, r: &SmartMatchRequest) -> Result<SmartMatchResponse, Error> {
        check_page(r.page_no, None)?;
        check_fields(&r.fields)?;
        let c = &self.inner.config;
        let mut p = Params::default();
        p.opt("product_id", r.product_id);
        p.opt("keywords", r.keywords.as_deref().map(str::trim));
        p.set(
            "device_id",
            r.device_id
                .as_deref()
                .filter(|d| !d.trim().is_empty())
                .unwrap_or(DEFAULT_DEVICE_ID),
        );
        p.opt("page_no", r.page_no);
        p.opt("country", r.country);
        p.product_options(
            c,
            r.target_currency,
            r.target_language,
            &r.fields,
            r.tracking_id.as_deref(),
        );
        let Some(result) = self.call(methods::SMART_MATCH, p).await? else {
            return Ok(SmartMatchResponse::default());
        };
        let w: WireProductsResult = wire::decode(methods::SMART_MATCH, result)?;
        Ok(SmartMatchResponse {
            current_page_no: page_u32(w.current_page_no.0),
            current_record_count: w
                .current_record_count
                .0
                .unwrap_or(w.products.0.len() as u64),
            products: products(w.products.0),
        })
    }

    /// Featured promotions (`aliexpress.affiliate.featuredpromo.get`).
    pub async fn featured_promo_get(&self) -> Result<Vec<Promo>, Error> {
        let Some(result) = self
            .call(methods::FEATURED_PROMO_GET, Params::default())
            .await?
        else {
            return Ok(Vec::new());
        };
        let w: WirePromoResult = wire::decode(methods::FEATURED_PROMO_GET, result)?;
        Ok(w.promos.0.into_iter().filter_map(convert::promo).collect())
    }

    /// A promotion's products (`aliexpress.affiliate.featuredpromo.products.get`).
    pub async fn featured_promo_products_get(
        &self,
        r: &FeaturedPromoProductsRequest,
    ) -> Result<FeaturedPromoProductsResponse, Error> {
        check_page(r.page_no, r.page_size)?;
        check_fields(&r.fields)?;
        for (field, value) in [
            ("promotion_start_time", &r.promotion_start_time),
            ("promotion_end_time", &r.promotion_end_time),
        ] {
            if value
                .as_deref()
                .is_some_and(|t| !crate::model::is_platform_time(t))
            {
                return Err(ValidationError::new(field, "must be yyyy-MM-dd HH:mm:ss").into());
            }
        }
        let c = &self.inner.config;
        let mut p = Params::default();
        p.opt("promotion_name", r.promotion_name.as_deref());
        p.opt("category_id", r.category_id);
        p.opt("page_no", r.page_no);
        p.opt("page_size", r.page_size);
        p.opt("sort", r.sort.map(|s| s.code()));
        p.opt("promotion_start_time", r.promotion_start_time.as_deref());
        p.opt("promotion_end_time", r.promotion_end_time.as_deref());
        p.opt("country", r.country);
        p.product_options(
            c,
            r.target_currency,
            r.target_language,
            &r.fields,
            r.tracking_id.as_deref(),
        );
        let Some(result) = self.call(methods::FEATURED_PROMO_PRODUCTS_GET, p).await? else {
            return Ok(FeaturedPromoProductsResponse {
                is_finished: true,
                ..Default::default()
            });
        };
        let w: WireProductsResult = wire::decode(methods::FEATURED_PROMO_PRODUCTS_GET, result)?;
        let current_page_no = page_u32(w.current_page_no.0);
        let total_page_no = page_u32(w.total_page_no.0);
        Ok(FeaturedPromoProductsResponse {
            current_page_no,
            current_record_count: w
                .current_record_count
                .0
                .unwrap_or(w.products.0.len() as u64),
            total_page_no,
            total_record_count: w.total_record_count.0.unwrap_or(0),
            is_finished: w.is_finished.0.unwrap_or(current_page_no >= total_page_no),
            products: products(w.products.0),
        })
    }

    /// Affiliate orders in a time window (`aliexpress.affiliate.order.list`).
    pub async fn order_list(&self, r: &OrderListRequest) -> Result<OrderListResponse, Error> {
        r.validate()?;
        let mut p = Params::default();
        p.set("start_time", &r.start_time);
        p.set("end_time", &r.end_time);
        p.set("status", r.status);
        p.opt("time_type", r.time_type);
        p.opt("locale_site", r.locale_site.as_deref());
        p.opt("page_no", r.page_no);
        p.opt("page_size", r.page_size);
        p.list("fields", &r.fields);
        let Some(result) = self.call(methods::ORDER_LIST, p).await? else {
            return Ok(OrderListResponse::default());
        };
        let w: WireOrderResult = wire::decode(methods::ORDER_LIST, result)?;
        Ok(OrderListResponse {
            current_page_no: page_u32(w.current_page_no.0),
            current_record_count: w.current_record_count.0.unwrap_or(w.orders.0.len() as u64),
            total_page_no: page_u32(w.total_page_no.0),
            total_record_count: w.total_record_count.0.unwrap_or(0),
            orders: w.orders.0.into_iter().map(convert::order).collect(),
        })
    }

    /// Affiliate orders in a time window, one page after a cursor
    /// (`aliexpress.affiliate.order.listbyindex`). Pass the answer's `max_query_index_id` as
    /// the next request's `start_query_index_id`; a page shorter than `page_size` is the last.
    pub async fn order_list_by_index(
        &self,
        r: &OrderListByIndexRequest,
    ) -> Result<OrderListByIndexResponse, Error> {
        let w = self.order_list_by_index_wire(r).await?;
        Ok(OrderListByIndexResponse {
            current_record_count: w.current_record_count.0.unwrap_or(w.orders.0.len() as u64),
            min_query_index_id: w.min_query_index_id.owned(),
            max_query_index_id: w.max_query_index_id.owned(),
            orders: w.orders.0.into_iter().map(convert::order).collect(),
        })
    }

    pub(crate) async fn order_list_by_index_wire(
        &self,
        r: &OrderListByIndexRequest,
    ) -> Result<WireOrderResult, Error> {
        r.validate()?;
        let mut p = Params::default();
        p.set("start_time", &r.start_time);
        p.set("end_time", &r.end_time);
        p.set("status", r.status);
        p.opt("time_type", r.time_type);
        p.opt("start_query_index_id", r.start_query_index_id.as_deref());
        p.opt("page_size", r.page_size);
        p.list("fields", &r.fields);
        let Some(result) = self.call(methods::ORDER_LIST_BY_INDEX, p).await? else {
            return Ok(WireOrderResult::default());
        };
        Ok(wire::decode(methods::ORDER_LIST_BY_INDEX, result)?)
    }

    /// Orders by sub-order id (`aliexpress.affiliate.order.get`), 50 ids per call; ids the
    /// platform does not know are absent.
    pub async fn order_get(&self, sub_order_ids: &[u64]) -> Result<Vec<Order>, Error> {
        Ok(self
            .order_get_wire(sub_order_ids)
            .await?
            .into_iter()
            .map(convert::order)
            .collect())
    }

    pub(crate) async fn order_get_wire(
        &self,
        sub_order_ids: &[u64],
    ) -> Result<Vec<WireOrder>, Error> {
        let mut seen = HashSet::new();
        let ids: Vec<u64> = sub_order_ids
            .iter()
            .copied()
            .filter(|id| seen.insert(*id))
            .collect();
        if ids.is_empty() {
            return Err(
                ValidationError::new("order_ids", "must list at least one sub-order id").into(),
            );
        }
        let mut out = Vec::with_capacity(ids.len());
        for batch in ids.chunks(MAX_ORDER_IDS) {
            let mut p = Params::default();
            p.list("order_ids", batch);
            if let Some(result) = self.call(methods::ORDER_GET, p).await? {
                let w: WireOrderResult = wire::decode(methods::ORDER_GET, result)?;
                out.extend(w.orders.0);
            }
        }
        Ok(out)
    }

    /// One platform call with retries: `Ok(None)` is the platform's empty result.
    async fn call(
        &self,
        method: &'static str,
        params: Params,
    ) -> Result<Option<Value>, UpstreamError> {
        let policy = self.inner.config.retry;
        let started = Instant::now();
        let deadline = started + policy.total_deadline;
        let mut attempt: u32 = 0;
        let mut previous: Option<UpstreamError> = None;
        loop {
            attempt += 1;
            let remaining = deadline.saturating_duration_since(Instant::now());
            let timeout = remaining.min(self.inner.config.request_timeout);
            let cut_by_deadline = timeout < self.inner.config.request_timeout;
            let attempt_started = Instant::now();
            let outcome = if timeout.is_zero() {
                Err(UpstreamError::Timeout)
            } else if let Err(refusal) = self.pace(deadline).await {
                // No turn before the deadline: the app key's budget is spent for now. Report
                // what the earlier attempts met, if any.
                return Err(previous.take().unwrap_or(refusal));
            } else {
                // Pacing may have waited: what is left of the deadline bounds the attempt.
                let left = deadline.saturating_duration_since(Instant::now());
                self.attempt(method, &params.0, timeout.min(left)).await
            };
            let latency_ms = attempt_started.elapsed().as_millis() as u64;
            let error = match outcome {
                Ok(result) => {
                    tracing::debug!(
                        method,
                        attempt,
                        latency_ms,
                        outcome = if result.is_some() { "ok" } else { "empty" },
                        "aliexpress call"
                    );
                    return Ok(result);
                }
                // An attempt the total deadline cut short says nothing new about the upstream:
                // report what the earlier attempts met.
                Err(UpstreamError::Timeout) if cut_by_deadline && previous.is_some() => {
                    let cause = previous.take().unwrap_or(UpstreamError::Timeout);
                    tracing::info!(
                        method,
                        attempts = attempt,
                        error = cause.kind(),
                        "aliexpress call ran out of time"
                    );
                    return Err(cause);
                }
                Err(e) => e,
            };
            tracing::debug!(
                method,
                attempt,
                latency_ms,
                outcome = error.kind(),
                "aliexpress call failed"
            );
            if !error.is_retryable() || attempt >= policy.max_attempts {
                tracing::info!(
                    method,
                    attempts = attempt,
                    error = error.kind(),
                    "aliexpress call gave up"
                );
                return Err(error);
            }
            let wait = backoff(&policy, attempt, &error);
            if Instant::now() + wait >= deadline {
                tracing::info!(
                    method,
                    attempts = attempt,
                    error = error.kind(),
                    "aliexpress retry would pass the deadline"
                );
                return Err(error);
            }
            tracing::info!(
                method,
                attempt,
                error = error.kind(),
                wait_ms = wait.as_millis() as u64,
                "aliexpress call will be retried"
            );
            tokio::time::sleep(wait).await;
            previous = Some(error);
        }
    }

    /// Waits for this attempt's turn with the pacer, if any, within `deadline`.
    async fn pace(&self, deadline: Instant) -> Result<(), UpstreamError> {
        match &self.inner.pacer {
            Some(pacer) => {
                pacer
                    .pace(deadline.saturating_duration_since(Instant::now()))
                    .await
            }
            None => Ok(()),
        }
    }

    async fn attempt(
        &self,
        method: &str,
        business: &[(&'static str, String)],
        timeout: Duration,
    ) -> Result<Option<Value>, UpstreamError> {
        let config = &self.inner.config;
        let timestamp = self.inner.clock.now_ms().to_string();
        let mut params: Vec<(&str, &str)> = vec![
            ("app_key", config.app_key.as_str()),
            ("method", method),
            ("timestamp", timestamp.as_str()),
            ("sign_method", config.sign_method.as_str()),
            ("format", "json"),
            ("v", "2.0"),
        ];
        params.extend(business.iter().map(|(k, v)| (*k, v.as_str())));
        let sign = signing::sign(
            config.sign_method,
            config.app_secret.expose(),
            params.iter().copied(),
        );
        // The serializer is not Send; finish it before the first await.
        let body = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.extend_pairs(params.iter().copied());
            form.append_pair("sign", &sign);
            form.finish()
        };

        let response = self
            .inner
            .http
            .post(&config.gateway_url)
            .header(CONTENT_TYPE, HeaderValue::from_static(FORM_CONTENT_TYPE))
            .timeout(timeout)
            .body(body)
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(wire::retry_seconds);
        if !status.is_success() {
            return Err(status_error(status, retry_after));
        }
        let body = read_body(response).await?;
        wire::open_envelope(method, &body)
    }
}

/// Reads the body, refusing more than [`MAX_RESPONSE_BYTES`] (a page of 50 products is far
/// below 1 MiB; anything near the cap is not a gateway answer).
async fn read_body(mut response: reqwest::Response) -> Result<Vec<u8>, UpstreamError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(UpstreamError::Malformed {
                reason: format!(
                    "the response is larger than {} MiB",
                    MAX_RESPONSE_BYTES >> 20
                ),
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn products(wire: Vec<wire::WireProduct>) -> Vec<Product> {
    wire.into_iter().filter_map(convert::product).collect()
}

fn page_u32(n: Option<u64>) -> u32 {
    n.map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX))
}

/// Maps a reqwest failure without ever formatting the request (its URL or body).
fn transport_error(e: reqwest::Error) -> UpstreamError {
    let e = e.without_url();
    tracing::debug!(error = %e, "aliexpress transport error");
    if e.is_timeout() {
        UpstreamError::Timeout
    } else if e.is_connect() {
        UpstreamError::Unavailable {
            reason: "could not connect to the gateway".to_owned(),
        }
    } else if e.is_body() || e.is_decode() {
        UpstreamError::Unavailable {
            reason: "the connection failed while reading the response".to_owned(),
        }
    } else {
        UpstreamError::Unavailable {
            reason: "the request could not be completed".to_owned(),
        }
    }
}

fn status_error(status: reqwest::StatusCode, retry_after: Option<Duration>) -> UpstreamError {
    let code = format!("HTTP {}", status.as_u16());
    let reason = status
        .canonical_reason()
        .unwrap_or("unexpected status")
        .to_owned();
    if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        UpstreamError::RateLimited {
            retry_after,
            code,
            message: reason,
        }
    } else if status.is_client_error() {
        UpstreamError::InvalidRequest {
            code,
            message: reason,
        }
    } else {
        UpstreamError::Unavailable {
            reason: format!("{code} {reason}"),
        }
    }
}

/// Exponential backoff with jitter; a platform ban is honoured (its length plus jitter).
fn backoff(policy: &crate::RetryPolicy, attempt: u32, error: &UpstreamError) -> Duration {
    let base = policy.base_backoff;
    if let Some(ban) = error.retry_after() {
        let jitter_ms = fastrand::u64(0..=base.as_millis().min(1_000) as u64);
        return ban + Duration::from_millis(jitter_ms);
    }
    let exp = base
        .saturating_mul(1u32 << (attempt - 1).min(16))
        .min(policy.max_backoff);
    // Half fixed, half random: spreads retries of many callers without collapsing to zero.
    let half = exp / 2;
    let jitter = Duration::from_micros(fastrand::u64(
        0..=half.as_micros().min(u128::from(u64::MAX)) as u64,
    ));
    half + jitter
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RetryPolicy;

    #[test]
    fn backoff_grows_stays_capped_and_honours_bans() {
        let policy = RetryPolicy {
            max_attempts: 5,
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(300),
            total_deadline: Duration::from_secs(10),
        };
        let unavailable = UpstreamError::Unavailable { reason: "x".into() };
        for _ in 0..50 {
            let first = backoff(&policy, 1, &unavailable);
            assert!(
                first >= Duration::from_millis(50) && first <= Duration::from_millis(100),
                "{first:?}"
            );
            let later = backoff(&policy, 6, &unavailable);
            assert!(
                later >= Duration::from_millis(150) && later <= Duration::from_millis(300),
                "{later:?}"
            );
        }
        let banned = UpstreamError::RateLimited {
            retry_after: Some(Duration::from_secs(2)),
            code: "ApiCallLimit".into(),
            message: String::new(),
        };
        let wait = backoff(&policy, 1, &banned);
        assert!(
            wait >= Duration::from_secs(2) && wait <= Duration::from_millis(2100),
            "{wait:?}"
        );
    }

    #[test]
    fn http_statuses_are_classified() {
        assert_eq!(
            status_error(reqwest::StatusCode::BAD_GATEWAY, None).kind(),
            "unavailable"
        );
        assert_eq!(
            status_error(reqwest::StatusCode::NOT_FOUND, None).kind(),
            "invalid_request"
        );
        let limited = status_error(
            reqwest::StatusCode::TOO_MANY_REQUESTS,
            Some(Duration::from_secs(3)),
        );
        assert_eq!(limited.retry_after(), Some(Duration::from_secs(3)));
    }

    #[test]
    fn params_drop_empty_values_and_always_list_product_id() {
        let mut p = Params::default();
        p.set("a", "");
        p.opt("b", None::<u32>);
        p.list("c", Vec::<u32>::new());
        p.product_fields(&["sale_price".to_owned()]);
        assert_eq!(p.0, vec![("fields", "product_id,sale_price".to_owned())]);
    }
}
