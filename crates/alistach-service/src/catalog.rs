//! The catalog use cases, each answered cache-aside through the coalescing cache layer.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use alistach_cache::{
    Cache, CacheLayer, CachePolicy, CacheStatus, Fetched, LayerStats, ReadMode, SharedClock,
    TierHealth, TierStats,
};
use alistach_domain::{
    AffiliateApi, AffiliateLink, ApiMode, Category, Currency, Decimal, DetailsQuery, Language,
    LinkRequest, Listing, Product, ProductPage, SearchQuery, UpstreamError,
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
            api,
            store,
            layer,
            ttls,
            mode,
            scope,
            guard: None,
            locale: (Currency::USD, Language::EN),
        }
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
        self.api = Arc::new(crate::TrackedApi::new(self.api, tracker));
        self.scope = KeyScope::new(self.mode, &self.api.answer_scope());
        self
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
        self.rendered(kind, key, read, move || async move {
            let page = match listing {
                Listing::Search => api.search_products(&q).await?,
                Listing::Hot => api.hot_products(&q).await?,
            };
            Ok((page.products.len() as u64, render(page)))
        })
        .await
    }

    /// Every category, flat in platform order, rendered and cached as its rendering with the
    /// count (see [`Catalog::products`]).
    pub async fn categories<R>(
        &self,
        read: ReadMode,
        format: &'static str,
        render: R,
    ) -> Result<Served<Rendered>, ServiceError>
    where
        R: FnOnce(Vec<Category>) -> Bytes + Send + 'static,
    {
        let key = keys::rendered_categories_key(&self.scope, format);
        let api = self.api.clone();
        self.rendered(CacheKind::Categories, key, read, move || async move {
            let flat = api.categories().await?;
            Ok((flat.len() as u64, render(flat)))
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

    /// Affiliate links, one per requested URL the platform could convert, in request order and
    /// carrying the URL exactly as the caller gave it, each with its product's commission rate
    /// when the (cached) details know it.
    pub async fn affiliate_links(
        &self,
        request: &LinkRequest,
        read: ReadMode,
    ) -> Result<Served<Vec<RatedLink>>, ServiceError> {
        request.validate()?;
        let key = keys::links_key(&self.scope, request);
        // Ask for each product once, so decorated URLs of one product share the entry; the
        // client sends each URL's canonical form.
        let mut unique = request.clone();
        let mut seen = std::collections::HashSet::new();
        unique.urls.retain(|u| seen.insert(u.id));
        let api = self.api.clone();
        let served: Served<Vec<AffiliateLink>> = self
            .cached(CacheKind::Affiliate, key, read, move || async move {
                api.generate_links(&unique).await
            })
            .await?;
        let rates = self.commission_rates(&served.value).await;
        Ok(served.map(|links| {
            request
                .urls
                .iter()
                .filter_map(|url| {
                    links
                        .iter()
                        .find(|l| l.product_id == url.id)
                        .map(|l| RatedLink {
                            link: AffiliateLink {
                                source_url: url.original.clone(),
                                product_id: url.id,
                                promotion_link: l.promotion_link.clone(),
                            },
                            commission_rate_percent: rates.get(&url.id).copied(),
                        })
                })
                .collect()
        }))
    }

    /// The commission rates of the linked products, from their details in the deployment's
    /// locale; link.generate does not carry them. Best effort: none when details fail.
    async fn commission_rates(
        &self,
        links: &[AffiliateLink],
    ) -> std::collections::HashMap<alistach_domain::ProductId, Decimal> {
        if links.is_empty() {
            return Default::default();
        }
        let query = DetailsQuery {
            ids: links.iter().map(|l| l.product_id).collect(),
            currency: self.locale.0,
            language: self.locale.1,
            country: None,
        };
        match self.details(&query, ReadMode::Normal).await {
            Ok(details) => details
                .value
                .into_iter()
                .filter_map(|p| p.commission_rate_percent.map(|r| (p.id, r)))
                .collect(),
            Err(e) => {
                tracing::debug!(error = %e, "commission rates unavailable for links");
                Default::default()
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
        }
    }

    fn policy(&self, kind: CacheKind) -> CachePolicy {
        CachePolicy {
            ttl: self.ttls.ttl(kind),
            stale_while_revalidate: self.ttls.stale_while_revalidate(kind),
            stale_if_error: self.ttls.stale_if_error,
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
