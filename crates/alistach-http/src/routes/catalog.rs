//! The catalog endpoints: searches, hot products, details, categories and affiliate links,
//! with the headers and metadata that say how the cache served them.

use alistach_api::types as api;
use alistach_domain::{LinkRequest, Listing, SortOrder};
use std::sync::Arc;

use alistach_service::{CacheStatus, Catalog, ReadMode, Served};
use hyper::StatusCode;
use hyper::header::{self, HeaderName, HeaderValue};

use super::ctx::Ctx;
use crate::app::App;
use crate::convert;
use crate::error::HttpError;
use crate::render::{
    CATEGORIES_FORMAT, PAGE_FORMAT, SIMILAR_FORMAT, SearchMeta, envelope, render_categories,
    render_page, render_similar, search_metadata, serde_metadata,
};
use crate::respond::{CACHE_STATUS, HeaderText, HttpResponse, body_response, decimal, json};

const X_CACHE: HeaderName = HeaderName::from_static("x-cache");

/// How an answer was served, for headers and metadata.
#[derive(Clone, Copy)]
struct Facts {
    status: CacheStatus,
    age_secs: u64,
    ttl_secs: u64,
    stale: bool,
}

impl Facts {
    fn of<T>(s: &Served<T>) -> Self {
        Facts {
            status: s.status,
            age_secs: s.age.as_secs(),
            ttl_secs: s.ttl_remaining.as_secs(),
            stale: s.stale,
        }
    }

    /// `X-Cache`, `Age`, RFC 9211 `Cache-Status`, and `Cache-Control` for GETs.
    fn apply(self, resp: &mut HttpResponse, cacheable_get: bool) {
        let h = resp.headers_mut();
        h.insert(X_CACHE, HeaderValue::from_static(self.status.x_cache()));
        h.insert(header::AGE, decimal(self.age_secs));
        let cache_status = CACHE_STATUS;
        match self.status {
            CacheStatus::Hit => {
                let v = HeaderText::new()
                    .text("alistach; hit; ttl=")
                    .number(self.ttl_secs)
                    .value();
                if let Some(v) = v {
                    h.insert(cache_status, v);
                }
            }
            other => {
                let text = match other {
                    CacheStatus::Stale => "alistach; hit; ttl=0; detail=stale",
                    CacheStatus::Coalesced => "alistach; fwd=uri-miss; collapsed; stored",
                    CacheStatus::Bypass => "alistach; fwd=request; stored",
                    _ => "alistach; fwd=uri-miss; stored",
                };
                h.insert(cache_status, HeaderValue::from_static(text));
            }
        }
        if cacheable_get {
            let max_age = if self.stale { 0 } else { self.ttl_secs };
            if let Some(v) = HeaderText::new().text("max-age=").number(max_age).value() {
                h.insert(header::CACHE_CONTROL, v);
            }
        } else {
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Search {
    /// `POST /api/products/search` (v1.1.0).
    Post,
    /// `POST /api/products/search/no-cache` (v1.1.0).
    NoCache,
    /// `GET /api/products/search` (the GPT profile's search).
    Get,
    /// `GET /api/products` (v1.1.0).
    V1Get,
    /// `GET /api/products/hot`.
    Hot,
}

impl Search {
    /// The order when the request names none: v1.1.0's routes keep its `SALE_PRICE_ASC`; the
    /// others leave the order to the platform (its relevance order, no `sort` sent).
    fn default_sort(self) -> Option<SortOrder> {
        match self {
            Search::Post | Search::NoCache | Search::V1Get => Some(SortOrder::SalePriceAsc),
            Search::Get | Search::Hot => None,
        }
    }
}

/// The catalog a request is answered from: the deployment's, or an experiment variant's.
pub(super) enum CatalogRef<'a> {
    Base(&'a Catalog),
    Variant(Arc<Catalog>),
}

impl std::ops::Deref for CatalogRef<'_> {
    type Target = Catalog;

    fn deref(&self) -> &Catalog {
        match self {
            CatalogRef::Base(c) => c,
            CatalogRef::Variant(c) => c,
        }
    }
}

impl App {
    /// The catalog that answers this request for its client: while an A/B experiment runs,
    /// the catalog of the variant chosen for the client and the question (see
    /// [`alistach_service::Experiments::catalog_for`]). The question is the query string as
    /// sent (cheap: no copy), or, for a request without one (a POST), the parsed request.
    pub(super) fn catalog_for(
        &self,
        ctx: &Ctx<'_>,
        question: &dyn std::fmt::Debug,
    ) -> CatalogRef<'_> {
        if let Some(tenant) = ctx.who.tenant() {
            let running = tenant.experiments.as_ref().is_some_and(|e| e.is_running());
            if !running {
                return CatalogRef::Variant(tenant.catalog.clone());
            }
            let client = self.client_identity(ctx.who, ctx.peer, ctx.headers);
            return CatalogRef::Variant(match ctx.query.filter(|q| !q.is_empty()) {
                Some(query) => tenant.catalog_for(&client, query.as_bytes()),
                None => tenant.catalog_for(&client, format!("{question:?}").as_bytes()),
            });
        }
        match &self.experiments {
            Some(experiments) if experiments.is_running() => {
                let client = self.client_identity(ctx.who, ctx.peer, ctx.headers);
                let catalog = match ctx.query.filter(|q| !q.is_empty()) {
                    Some(query) => experiments.catalog_for(&client, query.as_bytes()),
                    None => experiments.catalog_for(&client, format!("{question:?}").as_bytes()),
                };
                CatalogRef::Variant(catalog)
            }
            _ => CatalogRef::Base(&self.catalog),
        }
    }

    /// What the request leaves out is filled with: its tenant's defaults, else the
    /// deployment's.
    pub(super) fn defaults(&self, ctx: &Ctx<'_>) -> convert::Defaults {
        let base = convert::Defaults::of(&self.config);
        match ctx.who.tenant() {
            Some(tenant) => base.for_tenant(&tenant.doc),
            None => base,
        }
    }

    pub(super) async fn search(
        &self,
        ctx: &Ctx<'_>,
        req: &api::SearchRequest,
        kind: Search,
    ) -> Result<HttpResponse, HttpError> {
        let listing = if kind == Search::Hot {
            Listing::Hot
        } else {
            Listing::Search
        };
        let query = convert::search_query(req, self.defaults(ctx), listing, kind.default_sort())?;
        let read = if kind == Search::NoCache {
            ReadMode::Bypass
        } else {
            ReadMode::Normal
        };
        let served = self
            .catalog_for(ctx, &query)
            .products(&query, read, PAGE_FORMAT, render_page)
            .await?;
        if let (Some(analytics), Some(keywords), Listing::Search) =
            (&self.analytics, query.keywords(), listing)
        {
            analytics.search(
                ctx.who
                    .tenant()
                    .map_or(alistach_domain::TenantId::DEFAULT, |t| t.id().as_str()),
                keywords,
                served.value.items,
            );
        }
        let facts = Facts::of(&served);
        let hit = facts.status.is_hit();
        let no_cache = kind == Search::NoCache;
        let metadata = SearchMeta {
            mock_mode: self.mode.is_mock(),
            processing_time_ms: ctx.elapsed_ms(),
            api_version: &self.config.version,
            api_integration: self.mode.as_str(),
            cache_hit: hit,
            cache_enabled: true,
            cache_status: facts.status.x_cache(),
            stale: facts.stale,
            query: &query,
            cache_bypassed: no_cache.then_some(true),
            fresh_data: no_cache.then_some(true),
        };
        let body = envelope(&served.value.bytes, Some(hit), search_metadata(&metadata));
        let mut resp = body_response(StatusCode::OK, "application/json", body);
        facts.apply(
            &mut resp,
            matches!(kind, Search::Get | Search::V1Get | Search::Hot),
        );
        Ok(resp)
    }

    pub(super) async fn details(&self, ctx: &Ctx<'_>) -> Result<HttpResponse, HttpError> {
        let req: api::ProductDetailsQuery = convert::query_params(ctx.query, &[])?;
        let query = convert::details_query(&req, self.defaults(ctx))?;
        let requested = query.normalized().ids.len() as u64;
        let served = self
            .catalog_for(ctx, &query)
            .details_report(&query, ReadMode::Normal)
            .await?;
        let facts = Facts::of(&served);
        let report = served.value;
        let products: Vec<api::Product> =
            report.products.into_iter().map(convert::product).collect();
        let data = api::ProductDetailsData {
            total_results: products.len() as u64,
            products,
            missing: report
                .missing
                .into_iter()
                .map(convert::missing_product)
                .collect(),
        };
        let metadata = api::ProductDetailsMetadata {
            mock_mode: self.mode.is_mock(),
            api_integration: self.mode.as_str().to_owned(),
            cache_hit: facts.status.is_hit(),
            cache_enabled: true,
            cache_status: facts.status.x_cache().to_owned(),
            stale: facts.stale,
            processing_time_ms: ctx.elapsed_ms(),
            requested_ids: requested,
        };
        let mut resp = json(&api::ProductDetailsResponse::ok(data, metadata));
        facts.apply(&mut resp, true);
        Ok(resp)
    }

    pub(super) async fn categories(&self, ctx: &Ctx<'_>) -> Result<HttpResponse, HttpError> {
        let req: api::CategoriesQuery = convert::query_params(ctx.query, &[])?;
        let parent = convert::parent_id(&req)?;
        let served = ctx
            .who
            .tenant()
            .map_or(&self.catalog, |t| &t.catalog)
            .categories(
                parent,
                ReadMode::Normal,
                CATEGORIES_FORMAT,
                render_categories,
            )
            .await?;
        let facts = Facts::of(&served);
        let metadata = api::CategoriesMetadata {
            mock_mode: self.mode.is_mock(),
            api_integration: self.mode.as_str().to_owned(),
            cache_hit: facts.status.is_hit(),
            cache_enabled: true,
            total_categories: served.value.items,
            stale: facts.stale,
        };
        let body = envelope(&served.value.bytes, None, serde_metadata(&metadata));
        let mut resp = body_response(StatusCode::OK, "application/json", body);
        facts.apply(&mut resp, true);
        Ok(resp)
    }

    fn listing_metadata(&self, ctx: &Ctx<'_>, facts: Facts) -> api::ListingMetadata {
        api::ListingMetadata {
            mock_mode: self.mode.is_mock(),
            api_version: self.config.version.clone(),
            api_integration: self.mode.as_str().to_owned(),
            cache_hit: facts.status.is_hit(),
            cache_enabled: true,
            cache_status: facts.status.x_cache().to_owned(),
            stale: facts.stale,
            processing_time_ms: ctx.elapsed_ms(),
        }
    }

    pub(super) async fn similar(&self, ctx: &Ctx<'_>) -> Result<HttpResponse, HttpError> {
        let req: api::SimilarProductsQuery = convert::query_params(ctx.query, &["page_no"])?;
        let query = convert::similar_query(&req, self.defaults(ctx))?;
        let render = render_similar(query.product_id, query.page_no);
        let served = self
            .catalog_for(ctx, &query)
            .similar(&query, ReadMode::Normal, SIMILAR_FORMAT, render)
            .await?;
        let facts = Facts::of(&served);
        let metadata = self.listing_metadata(ctx, facts);
        let body = envelope(
            &served.value.bytes,
            Some(facts.status.is_hit()),
            serde_metadata(&metadata),
        );
        let mut resp = body_response(StatusCode::OK, "application/json", body);
        facts.apply(&mut resp, true);
        Ok(resp)
    }

    pub(super) async fn promotions(&self, ctx: &Ctx<'_>) -> Result<HttpResponse, HttpError> {
        let catalog = ctx.who.tenant().map_or(&self.catalog, |t| &t.catalog);
        let served = catalog.promotions(ReadMode::Normal).await?;
        let facts = Facts::of(&served);
        let promotions: Vec<api::PromotionInfo> =
            served.value.into_iter().map(convert::promotion).collect();
        let data = api::PromotionsData {
            total_results: promotions.len() as u64,
            promotions,
        };
        let metadata = self.listing_metadata(ctx, facts);
        let mut resp = json(&api::PromotionsResponse::ok(data, metadata));
        facts.apply(&mut resp, true);
        Ok(resp)
    }

    pub(super) async fn promotion_products(
        &self,
        ctx: &Ctx<'_>,
    ) -> Result<HttpResponse, HttpError> {
        let req: api::PromotionProductsQuery =
            convert::query_params(ctx.query, convert::PAGED_NUMERIC)?;
        let query = convert::promotion_query(&req, self.defaults(ctx))?;
        let served = self
            .catalog_for(ctx, &query)
            .promotion_products(&query, ReadMode::Normal, PAGE_FORMAT, render_page)
            .await?;
        let facts = Facts::of(&served);
        let hit = facts.status.is_hit();
        let metadata = api::PromotionProductsMetadata {
            mock_mode: self.mode.is_mock(),
            api_version: self.config.version.clone(),
            api_integration: self.mode.as_str().to_owned(),
            cache_hit: hit,
            cache_enabled: true,
            cache_status: facts.status.x_cache().to_owned(),
            stale: facts.stale,
            processing_time_ms: ctx.elapsed_ms(),
            promotion_params: convert::promotion_params(&query),
        };
        let body = envelope(&served.value.bytes, Some(hit), serde_metadata(&metadata));
        let mut resp = body_response(StatusCode::OK, "application/json", body);
        facts.apply(&mut resp, true);
        Ok(resp)
    }

    pub(super) async fn links(
        &self,
        ctx: &Ctx<'_>,
        request: LinkRequest,
        get: bool,
    ) -> Result<HttpResponse, HttpError> {
        let processed = request.inputs.len() as u64;
        let served = self
            .catalog_for(ctx, &request)
            .link_results(&request, ReadMode::Normal)
            .await?;
        let facts = Facts::of(&served);
        let links: Vec<api::AffiliateLink> = served
            .value
            .iter()
            .filter_map(|r| r.outcome.as_ref().ok())
            .map(|rated| {
                let mut link = convert::affiliate_link(rated.link.clone());
                link.commission_rate = rated.commission_rate_percent.map(|r| format!("{r}%"));
                link
            })
            .collect();
        let results: Vec<api::LinkResult> =
            served.value.into_iter().map(convert::link_result).collect();
        let metadata = api::AffiliateLinksMetadata {
            mock_mode: self.mode.is_mock(),
            api_integration: self.mode.as_str().to_owned(),
            cache_hit: facts.status.is_hit(),
            cache_enabled: true,
            processed_urls: processed,
            generated_links: links.len() as u64,
            stale: facts.stale,
        };
        let data = api::AffiliateLinksData {
            affiliate_links: links,
            results,
        };
        let mut resp = json(&api::AffiliateLinksResponse::ok(data, metadata));
        facts.apply(&mut resp, get);
        Ok(resp)
    }
}
