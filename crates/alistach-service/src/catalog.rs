//! The catalog use cases, each answered cache-aside through the coalescing cache layer.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use alistach_cache::{
    Cache, CacheLayer, CachePolicy, CacheStatus, Fetched, LayerStats, ReadMode, SharedClock,
    TierHealth, TierStats,
};
use alistach_domain::{
    AffiliateApi, AffiliateLink, ApiMode, Category, DetailsQuery, LinkRequest, Product,
    ProductPage, ProductUrl, SearchQuery, UpstreamError,
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

/// Cache counters for the status endpoints: one element per storage tier.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CacheReport {
    /// Per-tier counters from the store.
    pub tiers: Vec<TierStats>,
    /// The coalescing layer's counters (hits, stale serves, coalesced waits ...).
    pub layer: LayerStats,
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
    store: Arc<dyn Cache>,
    layer: CacheLayer,
    ttls: CacheTtls,
    mode: ApiMode,
    scope: KeyScope,
    guard: Option<Arc<GuardedApi>>,
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
            api,
            store,
            layer,
            ttls,
            mode,
            scope,
            guard: None,
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

    /// A keyword/category search.
    pub async fn search(
        &self,
        query: &SearchQuery,
        read: ReadMode,
    ) -> Result<Served<ProductPage>, ServiceError> {
        query.validate()?;
        let key = keys::search_key(CacheKind::Products, &self.scope, query)?;
        let (api, q) = (self.api.clone(), query.normalized());
        self.cached(CacheKind::Products, key, read, move || async move {
            api.search_products(&q).await
        })
        .await
    }

    /// High-commission products; keywords and categories are optional filters here.
    pub async fn hot_products(
        &self,
        query: &SearchQuery,
        read: ReadMode,
    ) -> Result<Served<ProductPage>, ServiceError> {
        validate_hot(query)?;
        let key = keys::search_key(CacheKind::Hot, &self.scope, query)?;
        let (api, q) = (self.api.clone(), query.normalized());
        self.cached(CacheKind::Hot, key, read, move || async move {
            api.hot_products(&q).await
        })
        .await
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

    /// Every category, flat in platform order.
    pub async fn categories(&self, read: ReadMode) -> Result<Served<Vec<Category>>, ServiceError> {
        let key = keys::categories_key(&self.scope);
        let api = self.api.clone();
        self.cached(CacheKind::Categories, key, read, move || async move {
            api.categories().await
        })
        .await
    }

    /// Affiliate links, one per requested URL the platform could convert, in request order and
    /// carrying the URL exactly as the caller gave it.
    pub async fn affiliate_links(
        &self,
        request: &LinkRequest,
        read: ReadMode,
    ) -> Result<Served<Vec<AffiliateLink>>, ServiceError> {
        request.validate()?;
        let key = keys::links_key(&self.scope, request);
        // Ask for each product once, by its canonical page, so decorated URLs share the entry.
        let canonical = LinkRequest {
            urls: keys::link_ids(request)
                .into_iter()
                .map(|id| ProductUrl {
                    original: id.canonical_url(),
                    id,
                })
                .collect(),
            link_type: request.link_type,
        };
        let api = self.api.clone();
        let served: Served<Vec<AffiliateLink>> = self
            .cached(CacheKind::Affiliate, key, read, move || async move {
                api.generate_links(&canonical).await
            })
            .await?;
        Ok(served.map(|links| {
            request
                .urls
                .iter()
                .filter_map(|url| {
                    links
                        .iter()
                        .find(|l| l.product_id == url.id)
                        .map(|l| AffiliateLink {
                            source_url: url.original.clone(),
                            product_id: url.id,
                            promotion_link: l.promotion_link.clone(),
                        })
                })
                .collect()
        }))
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
        }
    }

    fn policy(&self, kind: CacheKind) -> CachePolicy {
        CachePolicy {
            ttl: self.ttls.ttl(kind),
            stale_while_revalidate: self.ttls.stale_while_revalidate(kind),
            stale_if_error: self.ttls.stale_if_error,
        }
    }

    /// [`Catalog::search`] for an edge that serves bytes: what `render` makes of the page is
    /// what the cache stores, so a hit is answered as stored, with no decoding or re-encoding.
    /// `format` names the rendering (it is part of the key), so a changed renderer never reads
    /// entries written by an older one.
    pub async fn search_rendered<R>(
        &self,
        query: &SearchQuery,
        read: ReadMode,
        format: &'static str,
        render: R,
    ) -> Result<Served<Bytes>, ServiceError>
    where
        R: FnOnce(ProductPage) -> Bytes + Send + 'static,
    {
        query.validate()?;
        let q = query.normalized();
        let key = keys::rendered_search_key(CacheKind::Products, &self.scope, format, &q)?;
        let api = self.api.clone();
        self.cached_bytes(CacheKind::Products, key, read, move || async move {
            api.search_products(&q)
                .await
                .map(render)
                .map_err(ServiceError::from)
        })
        .await
    }

    /// [`Catalog::hot_products`], rendered and cached as bytes (see [`Catalog::search_rendered`]).
    pub async fn hot_products_rendered<R>(
        &self,
        query: &SearchQuery,
        read: ReadMode,
        format: &'static str,
        render: R,
    ) -> Result<Served<Bytes>, ServiceError>
    where
        R: FnOnce(ProductPage) -> Bytes + Send + 'static,
    {
        validate_hot(query)?;
        let q = query.normalized();
        let key = keys::rendered_search_key(CacheKind::Hot, &self.scope, format, &q)?;
        let api = self.api.clone();
        self.cached_bytes(CacheKind::Hot, key, read, move || async move {
            api.hot_products(&q)
                .await
                .map(render)
                .map_err(ServiceError::from)
        })
        .await
    }

    /// [`Catalog::categories`], rendered and cached as bytes (see [`Catalog::search_rendered`]).
    pub async fn categories_rendered<R>(
        &self,
        read: ReadMode,
        format: &'static str,
        render: R,
    ) -> Result<Served<Bytes>, ServiceError>
    where
        R: FnOnce(Vec<Category>) -> Bytes + Send + 'static,
    {
        let key = keys::rendered_categories_key(&self.scope, format);
        let api = self.api.clone();
        self.cached_bytes(CacheKind::Categories, key, read, move || async move {
            api.categories()
                .await
                .map(render)
                .map_err(ServiceError::from)
        })
        .await
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

/// The keywords-or-category rule is for searches; every other platform limit applies to hot
/// products too.
fn validate_hot(query: &SearchQuery) -> Result<(), ServiceError> {
    let mut probe = query.clone();
    if probe.category_ids.is_empty()
        && probe
            .keywords
            .as_deref()
            .is_none_or(|k| k.trim().is_empty())
    {
        probe.keywords = Some("hot".into());
    }
    probe.validate()?;
    Ok(())
}
