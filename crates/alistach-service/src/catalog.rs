//! The catalog use cases, each answered cache-aside through the coalescing cache layer.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use alistach_cache::{
    Cache, CacheLayer, CachePolicy, CacheStatus, Fetched, LayerStats, Learner, LearnerStats,
    ReadMode, SharedClock, TierHealth, TierStats,
};
use alistach_domain::{
    AffiliateApi, AffiliateLink, ApiMode, Category, CategoryId, Currency, Decimal, DetailsQuery,
    Language, LinkInput, LinkPage, LinkRequest, LinkSource, Listing, Product, ProductId,
    ProductPage, ProductUrlError, Promotion, PromotionQuery, SearchQuery, SimilarQuery,
    UpstreamError,
};
use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::keys::{self, CacheKind, KeyScope};
use crate::{CacheTtls, GuardStats, GuardedApi, ServiceError};

/// An answer with how the cache supplied it.
#[derive(Clone, Debug, PartialEq)]
pub struct Served<T> {
    /// The answer.
    pub value: T,
    /// Hit, miss, stale, bypass or coalesced.
    pub status: CacheStatus,
    /// How old the answer is (zero when just fetched).
    pub age: Duration,
    /// How long it stays fresh (zero when stale).
    pub ttl_remaining: Duration,
    /// True when an expired entry was served.
    pub stale: bool,
}

impl<T> Served<T> {
    /// The same serving facts around another value.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Served<U> {
        Served {
            value: f(self.value),
            status: self.status,
            age: self.age,
            ttl_remaining: self.ttl_remaining,
            stale: self.stale,
        }
    }
}

/// An answer rendered by the edge, as the cache stores it: the bytes are served as they are,
/// never decoded; `items` is how many things (products, categories) they hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    /// How many items the rendering holds.
    pub items: u64,
    /// The rendering itself.
    pub bytes: Bytes,
}

impl Rendered {
    /// The stored form: the item count as 8 big-endian bytes, then the rendering.
    fn encode(items: u64, bytes: &[u8]) -> Bytes {
        let mut out = Vec::with_capacity(8 + bytes.len());
        out.extend_from_slice(&items.to_be_bytes());
        out.extend_from_slice(bytes);
        Bytes::from(out)
    }

    /// The stored form read back without copying the rendering.
    fn decode(stored: &Bytes) -> Result<Rendered, ServiceError> {
        let head: [u8; 8] = stored
            .get(..8)
            .and_then(|h| h.try_into().ok())
            .ok_or_else(|| ServiceError::Codec("a cached rendering is truncated".into()))?;
        Ok(Rendered {
            items: u64::from_be_bytes(head),
            bytes: stored.slice(8..),
        })
    }
}

/// An affiliate link with the product's commission rate, when the product's details have one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RatedLink {
    /// The link, carrying the URL exactly as the caller gave it.
    pub link: AffiliateLink,
    /// The commission rate in percent (from the cached product details, best effort).
    pub commission_rate_percent: Option<Decimal>,
}

/// Why a requested product has no details.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MissingReason {
    /// Unknown, or not in the affiliate programme.
    NotFound,
    /// The product exists but does not ship to the requested country.
    NotSoldToCountry,
}

impl MissingReason {
    /// `not_found` or `not_sold_to_country`.
    pub const fn as_str(self) -> &'static str {
        match self {
            MissingReason::NotFound => "not_found",
            MissingReason::NotSoldToCountry => "not_sold_to_country",
        }
    }
}

/// Details with the requested ids that have none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DetailsReport {
    /// The products found.
    pub products: Vec<Product>,
    /// Each requested id without details (in request order, once), with the reason.
    pub missing: Vec<(ProductId, MissingReason)>,
}

/// Why an input of a link request was not converted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkFailure {
    /// Not a URL at all (or empty, or too long); says why.
    InvalidUrl(String),
    /// A URL of another site; says which.
    NotAliExpress(String),
    /// A product page of a product the platform does not know (or does not offer to affiliates).
    UnknownProduct,
    /// The platform did not convert the page: it earns no commission.
    NotEligible,
}

impl LinkFailure {
    /// `invalid_url`, `not_aliexpress`, `unknown_product` or `not_eligible`.
    pub const fn as_str(&self) -> &'static str {
        match self {
            LinkFailure::InvalidUrl(_) => "invalid_url",
            LinkFailure::NotAliExpress(_) => "not_aliexpress",
            LinkFailure::UnknownProduct => "unknown_product",
            LinkFailure::NotEligible => "not_eligible",
        }
    }

    /// A sentence a user (or a model) can act on.
    pub fn detail(&self) -> String {
        match self {
            LinkFailure::InvalidUrl(why) => format!("the input {why}"),
            LinkFailure::NotAliExpress(why) => format!("the URL {why}"),
            LinkFailure::UnknownProduct => "AliExpress does not know this product, or it is \
                not in the affiliate programme"
                .to_owned(),
            LinkFailure::NotEligible => {
                "AliExpress did not convert this page: it is not eligible for commission".to_owned()
            }
        }
    }
}

/// The result for one input of a link request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkResult {
    /// The input as given (trimmed).
    pub input: String,
    /// What kind of page it is, when it is an AliExpress URL.
    pub page: Option<LinkPage>,
    /// The link, or why there is none.
    pub outcome: Result<RatedLink, LinkFailure>,
}

/// The result for `input` given the platform's `links` and the products the details know.
fn link_result(
    input: &LinkInput,
    links: &[AffiliateLink],
    known: Option<&std::collections::HashMap<ProductId, Option<Decimal>>>,
) -> LinkResult {
    let source = match &input.source {
        Ok(source) => source,
        Err(e) => {
            let failure = match e {
                ProductUrlError::NotAliExpress(_) => LinkFailure::NotAliExpress(e.to_string()),
                _ => LinkFailure::InvalidUrl(e.to_string()),
            };
            return LinkResult {
                input: input.original.clone(),
                page: None,
                outcome: Err(failure),
            };
        }
    };
    let product = source.product_id();
    let outcome = match links.iter().find(|l| l.source_url == source.source_value()) {
        Some(link) => Ok(RatedLink {
            link: AffiliateLink {
                source_url: input.original.clone(),
                product_id: product,
                promotion_link: link.promotion_link.clone(),
            },
            commission_rate_percent: product
                .and_then(|id| known.and_then(|k| k.get(&id).copied().flatten())),
        }),
        None => match (product, known) {
            (Some(id), Some(known)) if !known.contains_key(&id) => Err(LinkFailure::UnknownProduct),
            _ => Err(LinkFailure::NotEligible),
        },
    };
    LinkResult {
        input: input.original.clone(),
        page: Some(source.page),
        outcome,
    }
}

/// Cache counters for the status endpoints: one element per storage tier.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CacheReport {
    /// Per-tier counters from the store.
    pub tiers: Vec<TierStats>,
    /// The coalescing layer's counters (hits, stale serves, coalesced waits ...).
    pub layer: LayerStats,
    /// What the adaptive policy learned (`None` with `CACHE_POLICY=static`).
    pub learner: Option<LearnerStats>,
}

impl CacheReport {
    /// Hits summed over tiers.
    pub fn hits(&self) -> u64 {
        self.tiers.iter().map(|t| t.hits).sum()
    }
    /// Misses of the last tier (a miss in memory that Redis answers is not a miss of the cache).
    pub fn misses(&self) -> u64 {
        self.tiers.last().map_or(0, |t| t.misses)
    }
    /// Entries written, summed over tiers.
    pub fn sets(&self) -> u64 {
        self.tiers.iter().map(|t| t.sets).sum()
    }
    /// Backend errors, summed over tiers.
    pub fn errors(&self) -> u64 {
        self.tiers.iter().map(|t| t.errors).sum()
    }
}

/// The catalog as callers use it: every read goes through the cache, keyed by mode.
pub struct Catalog {
    api: Arc<dyn AffiliateApi>,
    /// The port below click tracking (the same as `api` without tracking): an experiment's
    /// variants are made from it.
    untracked: Arc<dyn AffiliateApi>,
    tracker: Option<Arc<crate::LinkTracker>>,
    /// Links handed out, counted for an experiment's variant (see [`Catalog::for_variant`]).
    handed_out: Option<Arc<AtomicU64>>,
    store: Arc<dyn Cache>,
    layer: CacheLayer,
    ttls: CacheTtls,
    mode: ApiMode,
    scope: KeyScope,
    guard: Option<Arc<GuardedApi>>,
    /// The locale of the details that carry commission rates for links.
    locale: (Currency, Language),
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog")
            .field("mode", &self.mode)
            .field("scope", &self.scope)
            .field("ttls", &self.ttls)
            .finish_non_exhaustive()
    }
}

impl Catalog {
    /// A catalog over `api`, caching in `store` with expiry judged by `clock`.
    pub fn new(
        api: Arc<dyn AffiliateApi>,
        store: Arc<dyn Cache>,
        clock: SharedClock,
        ttls: CacheTtls,
    ) -> Self {
        let mode = api.mode();
        let scope = KeyScope::new(mode, &api.answer_scope());
        let layer = CacheLayer::new(store.clone(), clock);
        Catalog {
            untracked: api.clone(),
            api,
            tracker: None,
            handed_out: None,
            store,
            layer,
            ttls,
            mode,
            scope,
            guard: None,
            locale: (Currency::USD, Language::EN),
        }
    }

    /// The same catalog with `CACHE_POLICY=adaptive`: TTLs learned by `learner` within the
    /// bounds of [`CacheTtls::adaptive`], hot keys refreshed ahead of expiry. Without bounds
    /// the learner is not attached.
    pub fn with_learner(mut self, clock: SharedClock, learner: Arc<Learner>) -> Self {
        if self.ttls.adaptive.is_some() {
            self.layer = CacheLayer::with_learner(self.store.clone(), clock, learner);
        }
        self
    }

    /// The learner, with `CACHE_POLICY=adaptive`.
    pub fn learner(&self) -> Option<&Arc<Learner>> {
        self.layer.learner()
    }

    /// The same catalog reading links' commission rates from details in this locale (the
    /// deployment's default, so they share entries with default details requests).
    pub fn with_locale(mut self, currency: Currency, language: Language) -> Self {
        self.locale = (currency, language);
        self
    }

    /// The same catalog handing out tracked links: every affiliate link it returns is
    /// rewritten by `tracker` when fetched (see [`crate::TrackedApi`]), and its cache keys are
    /// scoped to the tracking settings.
    pub fn with_link_tracking(mut self, tracker: Arc<crate::LinkTracker>) -> Self {
        self.api = Arc::new(crate::TrackedApi::new(
            self.untracked.clone(),
            tracker.clone(),
        ));
        self.tracker = Some(tracker);
        self.scope = KeyScope::new(self.mode, &self.api.answer_scope());
        self
    }

    /// The same catalog handing out `variant`'s links (experiment `experiment_id`): made by
    /// a [`crate::VariantApi`] below click tracking (whose tokens then name the variant), cached
    /// under the variant's own keys in the same cache, and counted in `handed_out` (every
    /// product of a listing or details answer, every converted link).
    pub fn for_variant(
        &self,
        experiment_id: u64,
        variant: &alistach_store::Variant,
        handed_out: Arc<AtomicU64>,
    ) -> Catalog {
        let made: Arc<dyn AffiliateApi> = Arc::new(crate::VariantApi::new(
            self.untracked.clone(),
            experiment_id,
            variant.clone(),
        ));
        let api: Arc<dyn AffiliateApi> = match &self.tracker {
            Some(tracker) => Arc::new(crate::TrackedApi::new(
                made,
                Arc::new(tracker.for_variant(variant.id, variant.tracking_id.as_deref())),
            )),
            None => made,
        };
        Catalog {
            scope: KeyScope::new(self.mode, &api.answer_scope()),
            untracked: self.untracked.clone(),
            api,
            tracker: self.tracker.clone(),
            handed_out: Some(handed_out),
            store: self.store.clone(),
            layer: self.layer.clone(),
            ttls: self.ttls,
            mode: self.mode,
            guard: self.guard.clone(),
            locale: self.locale,
        }
    }

    /// The same catalog for a tenant: answers from `port` (the tenant's upstream, without
    /// click tracking: the deployment's app with the tenant's tracking id, or the tenant's own
    /// app), reporting `guard` when it is the tenant's own, with the lifetimes `ttls`; links
    /// are tracked as this catalog's are, for `tracking_id`. It shares this catalog's cache
    /// and coalescing: its keys are scoped by what shapes its answers (app key, tracking id),
    /// so tenants never receive each other's links.
    pub fn for_tenant(
        &self,
        port: Arc<dyn AffiliateApi>,
        guard: Option<Arc<GuardedApi>>,
        tracking_id: &str,
        ttls: CacheTtls,
    ) -> Catalog {
        let (api, tracker): (Arc<dyn AffiliateApi>, _) = match &self.tracker {
            Some(tracker) => {
                let tracker = Arc::new(tracker.for_tracking_id(tracking_id));
                (
                    Arc::new(crate::TrackedApi::new(port.clone(), tracker.clone())),
                    Some(tracker),
                )
            }
            None => (port.clone(), None),
        };
        Catalog {
            scope: KeyScope::new(self.mode, &api.answer_scope()),
            untracked: port,
            api,
            tracker,
            handed_out: None,
            store: self.store.clone(),
            layer: self.layer.clone(),
            ttls,
            mode: self.mode,
            guard: guard.or_else(|| self.guard.clone()),
            locale: self.locale,
        }
    }

    /// Counts `n` links handed out, for a variant's catalog.
    fn hand_out(&self, n: u64) {
        if let Some(counter) = &self.handed_out {
            counter.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// A catalog over a guarded upstream, whose counters and circuit it reports.
    pub fn guarded(
        api: Arc<GuardedApi>,
        store: Arc<dyn Cache>,
        clock: SharedClock,
        ttls: CacheTtls,
    ) -> Self {
        let mut catalog = Catalog::new(api.clone(), store, clock, ttls);
        catalog.guard = Some(api);
        catalog
    }

    /// The upstream guard's counters and circuit, when the upstream is guarded.
    pub fn upstream_stats(&self) -> Option<GuardStats> {
        self.guard.as_ref().map(|g| g.stats())
    }

    /// Where the data comes from.
    pub fn mode(&self) -> ApiMode {
        self.mode
    }

    /// The configured lifetimes.
    pub fn ttls(&self) -> &CacheTtls {
        &self.ttls
    }

    /// A product listing (the query's [`Listing`]), rendered by `render` and cached as its rendering: a hit is answered
    /// as stored, with no decoding or re-encoding. `format` names the rendering (it is part of
    /// the key), so a changed renderer never reads entries written by an older one.
    pub async fn products<R>(
        &self,
        query: &SearchQuery,
        read: ReadMode,
        format: &'static str,
        render: R,
    ) -> Result<Served<Rendered>, ServiceError>
    where
        R: FnOnce(ProductPage) -> Bytes + Send + 'static,
    {
        // A SearchQuery is valid for its listing and in normal form: it is the key's question.
        let (listing, q) = (query.listing(), query.clone());
        let kind = match listing {
            Listing::Search => CacheKind::Products,
            Listing::Hot => CacheKind::Hot,
        };
        let key = keys::rendered_search_key(kind, &self.scope, format, &q)?;
        let api = self.api.clone();
        let served = self
            .rendered(kind, key, read, move || async move {
                let page = match listing {
                    Listing::Search => api.search_products(&q).await?,
                    Listing::Hot => api.hot_products(&q).await?,
                };
                Ok((page.products.len() as u64, render(page)))
            })
            .await?;
        self.hand_out(served.value.items);
        Ok(served)
    }

    /// Categories, rendered by `render` from a flat list in platform order. Without a parent,
    /// every category (both levels), cached as its rendering with the count (see
    /// [`Catalog::products`]). With a parent, that category's children (none for a category
    /// without children), read from the cached flat list (one upstream call serves every
    /// parent) and rendered per request; an unknown parent id is
    /// [`ServiceError::NotFound`], answered without an upstream call while the list is cached.
    pub async fn categories<R>(
        &self,
        parent: Option<CategoryId>,
        read: ReadMode,
        format: &'static str,
        render: R,
    ) -> Result<Served<Rendered>, ServiceError>
    where
        R: FnOnce(Vec<Category>) -> Bytes + Send + 'static,
    {
        let Some(parent) = parent else {
            let key = keys::rendered_categories_key(&self.scope, format);
            let api = self.api.clone();
            return self
                .rendered(CacheKind::Categories, key, read, move || async move {
                    let flat = api.categories().await?;
                    Ok((flat.len() as u64, render(flat)))
                })
                .await;
        };
        let key = keys::categories_flat_key(&self.scope);
        let api = self.api.clone();
        let served: Served<Vec<Category>> = self
            .cached(CacheKind::Categories, key, read, move || async move {
                api.categories().await
            })
            .await?;
        if !served.value.iter().any(|c| c.id == parent) {
            return Err(ServiceError::NotFound(format!(
                "parent_id {parent} is not a known category; list the top-level categories \
                 without parent_id to find the ids"
            )));
        }
        Ok(served.map(|flat| {
            let children: Vec<Category> = flat
                .into_iter()
                .filter(|c| c.parent_id == Some(parent))
                .collect();
            Rendered {
                items: children.len() as u64,
                bytes: render(children),
            }
        }))
    }

    /// One page of products similar to the query's seed product, rendered by `render` and
    /// cached as its rendering (see [`Catalog::products`]); an unknown seed is an empty page.
    pub async fn similar<R>(
        &self,
        query: &SimilarQuery,
        read: ReadMode,
        format: &'static str,
        render: R,
    ) -> Result<Served<Rendered>, ServiceError>
    where
        R: FnOnce(Vec<Product>) -> Bytes + Send + 'static,
    {
        query.validate()?;
        let key = keys::rendered_similar_key(&self.scope, format, query)?;
        let (api, q) = (self.api.clone(), query.clone());
        let served = self
            .rendered(CacheKind::Similar, key, read, move || async move {
                let products = api.similar_products(&q).await?;
                Ok((products.len() as u64, render(products)))
            })
            .await?;
        self.hand_out(served.value.items);
        Ok(served)
    }

    /// The featured promotions, cached as domain values.
    pub async fn promotions(&self, read: ReadMode) -> Result<Served<Vec<Promotion>>, ServiceError> {
        let key = keys::promotions_key(&self.scope);
        let api = self.api.clone();
        self.cached(CacheKind::Promotions, key, read, move || async move {
            api.promotions().await
        })
        .await
    }

    /// One page of a promotion's products, rendered by `render` and cached as its rendering
    /// (see [`Catalog::products`]); an unknown promotion is an empty page.
    pub async fn promotion_products<R>(
        &self,
        query: &PromotionQuery,
        read: ReadMode,
        format: &'static str,
        render: R,
    ) -> Result<Served<Rendered>, ServiceError>
    where
        R: FnOnce(ProductPage) -> Bytes + Send + 'static,
    {
        query.validate()?;
        let key = keys::rendered_promotion_key(&self.scope, format, query)?;
        let (api, q) = (self.api.clone(), query.normalized());
        let served = self
            .rendered(CacheKind::Promotions, key, read, move || async move {
                let page = api.promotion_products(&q).await?;
                Ok((page.products.len() as u64, render(page)))
            })
            .await?;
        self.hand_out(served.value.items);
        Ok(served)
    }

    /// Details of known products; unknown ids are absent from the answer.
    pub async fn details(
        &self,
        query: &DetailsQuery,
        read: ReadMode,
    ) -> Result<Served<Vec<Product>>, ServiceError> {
        query.validate()?;
        let key = keys::details_key(&self.scope, query)?;
        let (api, q) = (self.api.clone(), query.normalized());
        self.cached(CacheKind::Details, key, read, move || async move {
            api.product_details(&q).await
        })
        .await
    }

    /// Details of known products, and each requested id without details with the reason: with
    /// a ship-to country, the ids the platform left out are asked for again without it (one
    /// more cached call), so a product that exists but does not ship there is told apart from
    /// one that does not exist (or is not in the affiliate programme).
    pub async fn details_report(
        &self,
        query: &DetailsQuery,
        read: ReadMode,
    ) -> Result<Served<DetailsReport>, ServiceError> {
        let served = self.details(query, read).await?;
        let found: std::collections::HashSet<ProductId> =
            served.value.iter().map(|p| p.id).collect();
        let mut seen = std::collections::HashSet::new();
        let absent: Vec<ProductId> = query
            .ids
            .iter()
            .copied()
            .filter(|id| !found.contains(id) && seen.insert(*id))
            .collect();
        let mut elsewhere = std::collections::HashSet::new();
        if !absent.is_empty() && query.country.is_some() {
            let anywhere = DetailsQuery {
                ids: absent.clone(),
                country: None,
                ..query.clone()
            };
            elsewhere = self
                .details(&anywhere, read)
                .await?
                .value
                .into_iter()
                .map(|p| p.id)
                .collect();
        }
        let missing = absent
            .into_iter()
            .map(|id| {
                let reason = if elsewhere.contains(&id) {
                    MissingReason::NotSoldToCountry
                } else {
                    MissingReason::NotFound
                };
                (id, reason)
            })
            .collect();
        self.hand_out(served.value.len() as u64);
        Ok(served.map(|products| DetailsReport { products, missing }))
    }

    /// One result per input of a link request, in the caller's order: the link (carrying the
    /// input as given, with its product's commission rate when the cached details know it),
    /// or why it was not converted. Inputs that are not AliExpress URLs never reach the
    /// upstream; the rest are converted in one cached call, keyed by their source values (so
    /// decorated URLs of one product share the entry). A product page the platform did not
    /// convert is an unknown product when its details are unknown too, otherwise (and for
    /// other pages) not eligible.
    pub async fn link_results(
        &self,
        request: &LinkRequest,
        read: ReadMode,
    ) -> Result<Served<Vec<LinkResult>>, ServiceError> {
        request.validate()?;
        let sources = request.sources();
        let served: Served<Vec<AffiliateLink>> = if sources.is_empty() {
            // Nothing to ask: every input was refused at the edge.
            Served {
                value: Vec::new(),
                status: CacheStatus::Bypass,
                age: Duration::ZERO,
                ttl_remaining: Duration::ZERO,
                stale: false,
            }
        } else {
            let key = keys::links_key(&self.scope, request.link_type, &sources);
            let (api, link_type) = (self.api.clone(), request.link_type);
            self.cached(CacheKind::Affiliate, key, read, move || async move {
                api.generate_links(&sources, link_type, None).await
            })
            .await?
        };
        let mut products: Vec<ProductId> = request
            .inputs
            .iter()
            .filter_map(|i| i.source.as_ref().ok().and_then(LinkSource::product_id))
            .collect();
        products.sort_unstable();
        products.dedup();
        let known = self.product_facts(products).await;
        let served = served.map(|links| {
            request
                .inputs
                .iter()
                .map(|input| link_result(input, &links, known.as_ref()))
                .collect::<Vec<LinkResult>>()
        });
        self.hand_out(served.value.iter().filter(|r| r.outcome.is_ok()).count() as u64);
        Ok(served)
    }

    /// Affiliate links for the inputs the platform converted, in request order (see
    /// [`Catalog::link_results`], which also says why the others were not).
    pub async fn affiliate_links(
        &self,
        request: &LinkRequest,
        read: ReadMode,
    ) -> Result<Served<Vec<RatedLink>>, ServiceError> {
        Ok(self
            .link_results(request, read)
            .await?
            .map(|results| results.into_iter().filter_map(|r| r.outcome.ok()).collect()))
    }

    /// The products the details know, each with its commission rate (link.generate carries
    /// none), from the details in the deployment's locale. Best effort: `None` when the
    /// details could not be had.
    async fn product_facts(
        &self,
        ids: Vec<ProductId>,
    ) -> Option<std::collections::HashMap<ProductId, Option<Decimal>>> {
        if ids.is_empty() {
            return Some(Default::default());
        }
        let query = DetailsQuery {
            ids,
            currency: self.locale.0,
            language: self.locale.1,
            country: None,
        };
        match self.details(&query, ReadMode::Normal).await {
            Ok(details) => Some(
                details
                    .value
                    .into_iter()
                    .map(|p| (p.id, p.commission_rate_percent))
                    .collect(),
            ),
            Err(e) => {
                tracing::debug!(error = %e, "product details unavailable for links");
                None
            }
        }
    }

    /// Removes this deployment's entries of one kind (every kind for `None`), returning how
    /// many. Entries of other deployments sharing the cache (another scope) stay.
    pub async fn clear(&self, kind: Option<CacheKind>) -> Result<u64, ServiceError> {
        let kinds = match kind {
            Some(kind) => vec![kind],
            None => CacheKind::ALL.to_vec(),
        };
        let mut cleared = 0;
        for kind in kinds {
            cleared += self.store.clear_prefix(&self.scope.prefix(kind)).await?;
        }
        Ok(cleared)
    }

    /// Whose entries this catalog reads and writes (mode and fingerprint).
    pub fn key_scope(&self) -> &KeyScope {
        &self.scope
    }

    /// Whether each cache tier answers, cheap enough for a probe on every request (a shared
    /// tier is asked at most once a second; see [`alistach_cache::Cache::health`]).
    pub async fn cache_health(&self) -> Vec<TierHealth> {
        self.store.health().await
    }

    /// The store's counters (asks a shared tier live: not for probes).
    pub async fn cache_report(&self) -> CacheReport {
        CacheReport {
            tiers: self.store.stats().await,
            layer: self.layer.stats(),
            learner: self.layer.learner().map(|l| l.stats()),
        }
    }

    fn policy(&self, kind: CacheKind) -> CachePolicy {
        CachePolicy {
            ttl: self.ttls.ttl(kind),
            stale_while_revalidate: self.ttls.stale_while_revalidate(kind),
            stale_if_error: self.ttls.stale_if_error,
            adaptive: self.layer.learner().and_then(|_| self.ttls.bounds(kind)),
        }
    }

    /// Cache-aside for renderings: stored with their item count, spliced out on the way.
    async fn rendered<F, Fut>(
        &self,
        kind: CacheKind,
        key: String,
        read: ReadMode,
        fetch: F,
    ) -> Result<Served<Rendered>, ServiceError>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<(u64, Bytes), UpstreamError>> + Send + 'static,
    {
        let served = self
            .cached_bytes(kind, key, read, move || async move {
                let (items, bytes) = fetch().await?;
                Ok(Rendered::encode(items, &bytes))
            })
            .await?;
        let rendered = Rendered::decode(&served.value)?;
        Ok(served.map(|_| rendered))
    }

    async fn cached_bytes<F, Fut>(
        &self,
        kind: CacheKind,
        key: String,
        read: ReadMode,
        fetch: F,
    ) -> Result<Served<Bytes>, ServiceError>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<Bytes, ServiceError>> + Send + 'static,
    {
        let policy = self.policy(kind);
        let lookup = self
            .layer
            .get_or_fetch(&key, &policy, read, move || async move {
                // Empty answers are answers: caching them spares the upstream repeated misses.
                Ok::<_, ServiceError>(Fetched {
                    value: fetch().await?,
                    cacheable: true,
                })
            })
            .await?;
        Ok(Served {
            stale: lookup.status == CacheStatus::Stale,
            value: lookup.value,
            status: lookup.status,
            age: lookup.age,
            ttl_remaining: lookup.ttl_remaining,
        })
    }

    /// Cache-aside for domain values: stored as their JSON, decoded on the way out.
    async fn cached<T, F, Fut>(
        &self,
        kind: CacheKind,
        key: String,
        read: ReadMode,
        fetch: F,
    ) -> Result<Served<T>, ServiceError>
    where
        T: Serialize + DeserializeOwned + Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, UpstreamError>> + Send + 'static,
    {
        let codec = |e: serde_json::Error| ServiceError::Codec(e.to_string());
        let served = self
            .cached_bytes(kind, key, read, move || async move {
                let value = fetch().await?;
                serde_json::to_vec(&value).map(Bytes::from).map_err(codec)
            })
            .await?;
        let value = serde_json::from_slice(&served.value).map_err(codec)?;
        Ok(served.map(|_| value))
    }
}
