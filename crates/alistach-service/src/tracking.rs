//! Click tracking's link rewrite: with `LINK_TRACKING=redirect`, every affiliate link the
//! catalog hands out becomes `{PUBLIC_BASE_URL}/r/{token}`, a signed token carrying what the
//! redirect needs (see [`alistach_policy::LinkSigner`]).
//!
//! The rewrite happens in one place, [`TrackedApi`], a decorator of the catalog port below the
//! cache: every use case that returns links (searches, hot products, details, link generation,
//! and any later one, since the decorator must implement every method of the port) gets them
//! rewritten once, when fetched. Tokens are deterministic and the same for every client, so the
//! cached renderings hold them and a cache hit costs nothing more than without tracking. The
//! decorator adds the tracking settings (mode, base URL, key id) to the port's answer scope, so
//! cache keys change with them and an entry written with another base URL or key is never
//! served.

use std::sync::Arc;

use alistach_domain::{
    AffiliateApi, AffiliateLink, ApiMode, Category, DetailsQuery, LinkSource, LinkType, Product,
    ProductId, ProductPage, Promotion, PromotionQuery, SearchQuery, SimilarQuery, UpstreamError,
};
use alistach_policy::{LinkClaim, LinkSigner, TokenError};
use async_trait::async_trait;

/// The path prefix of tracked links.
pub const REDIRECT_PATH: &str = "/r/";

/// Turns affiliate links into tracked links and back.
#[derive(Debug)]
pub struct LinkTracker {
    signer: LinkSigner,
    /// `{PUBLIC_BASE_URL}/r/`.
    prefix: String,
    tracking_id: String,
    /// The experiment variant (its store id) whose links this tracker wraps.
    variant: Option<u32>,
}

impl LinkTracker {
    /// Tracked links on `public_base_url` (an absolute http(s) URL, trailing `/` ignored),
    /// signed by `signer`, attributed to `tracking_id`.
    pub fn new(signer: LinkSigner, public_base_url: &str, tracking_id: &str) -> Self {
        LinkTracker {
            signer,
            prefix: format!("{}{REDIRECT_PATH}", public_base_url.trim_end_matches('/')),
            tracking_id: tracking_id.to_owned(),
            variant: None,
        }
    }

    /// The same tracker for a tenant's links, which earn for `tracking_id`.
    pub fn for_tracking_id(&self, tracking_id: &str) -> LinkTracker {
        LinkTracker {
            signer: self.signer.clone(),
            prefix: self.prefix.clone(),
            tracking_id: tracking_id.to_owned(),
            variant: None,
        }
    }

    /// The same tracker for the links of variant `variant` (its store id), which earn for
    /// `tracking_id` when it names one (else this tracker's): its tokens carry both.
    pub fn for_variant(&self, variant: u32, tracking_id: Option<&str>) -> LinkTracker {
        LinkTracker {
            signer: self.signer.clone(),
            prefix: self.prefix.clone(),
            tracking_id: tracking_id.map_or_else(|| self.tracking_id.clone(), str::to_owned),
            variant: Some(variant),
        }
    }

    /// The tracked link for `url`, an affiliate link to `product` (none for a store, campaign
    /// or share page). A URL no token can carry (not http(s), or longer than 2048 bytes) is
    /// handed out as it is.
    pub fn track(&self, product: Option<ProductId>, url: &str) -> String {
        let claim = LinkClaim {
            product_id: product,
            tracking_id: self.tracking_id.clone(),
            variant: self.variant,
            url: url.to_owned(),
        };
        match self.signer.seal(&claim) {
            Ok(token) => {
                let mut out = String::with_capacity(self.prefix.len() + token.len());
                out.push_str(&self.prefix);
                out.push_str(&token);
                out
            }
            Err(e) => {
                tracing::debug!(error = %e, product = ?product, "affiliate link handed out untracked");
                url.to_owned()
            }
        }
    }

    /// What a token from one of our links says, if we signed it.
    pub fn open(&self, token: &str) -> Result<LinkClaim, TokenError> {
        self.signer.open(token)
    }

    /// Rewrites every affiliate link of a product (its promotion link and its promo code's).
    pub fn track_product(&self, product: &mut Product) {
        if let Some(link) = &mut product.promotion_link {
            *link = self.track(Some(product.id), link);
        }
        if let Some(url) = product
            .promo_code
            .as_mut()
            .and_then(|c| c.promotion_url.as_mut())
        {
            *url = self.track(Some(product.id), url);
        }
    }

    /// What shapes tracked answers, for the cache scope: never the key, only its id.
    fn scope(&self) -> [(&'static str, String); 3] {
        [
            ("link_tracking", "redirect".to_owned()),
            ("link_prefix", self.prefix.clone()),
            ("link_key", self.signer.key_id()),
        ]
    }
}

/// The catalog port with every affiliate link it returns rewritten by a [`LinkTracker`].
pub struct TrackedApi {
    inner: Arc<dyn AffiliateApi>,
    tracker: Arc<LinkTracker>,
}

impl TrackedApi {
    /// `inner`, its links rewritten by `tracker`.
    pub fn new(inner: Arc<dyn AffiliateApi>, tracker: Arc<LinkTracker>) -> Self {
        TrackedApi { inner, tracker }
    }

    fn page(&self, mut page: ProductPage) -> ProductPage {
        self.products(&mut page.products);
        page
    }

    fn products(&self, products: &mut [Product]) {
        for p in products {
            self.tracker.track_product(p);
        }
    }
}

#[async_trait]
impl AffiliateApi for TrackedApi {
    fn mode(&self) -> ApiMode {
        self.inner.mode()
    }

    fn answer_scope(&self) -> Vec<(&'static str, String)> {
        let mut scope = self.inner.answer_scope();
        scope.extend(self.tracker.scope());
        scope
    }

    async fn search_products(&self, query: &SearchQuery) -> Result<ProductPage, UpstreamError> {
        Ok(self.page(self.inner.search_products(query).await?))
    }

    async fn hot_products(&self, query: &SearchQuery) -> Result<ProductPage, UpstreamError> {
        Ok(self.page(self.inner.hot_products(query).await?))
    }

    async fn product_details(&self, query: &DetailsQuery) -> Result<Vec<Product>, UpstreamError> {
        let mut products = self.inner.product_details(query).await?;
        self.products(&mut products);
        Ok(products)
    }

    async fn categories(&self) -> Result<Vec<Category>, UpstreamError> {
        self.inner.categories().await
    }

    async fn similar_products(&self, query: &SimilarQuery) -> Result<Vec<Product>, UpstreamError> {
        let mut products = self.inner.similar_products(query).await?;
        self.products(&mut products);
        Ok(products)
    }

    async fn promotions(&self) -> Result<Vec<Promotion>, UpstreamError> {
        // Promotions carry no links, only names and counts.
        self.inner.promotions().await
    }

    async fn promotion_products(
        &self,
        query: &PromotionQuery,
    ) -> Result<ProductPage, UpstreamError> {
        Ok(self.page(self.inner.promotion_products(query).await?))
    }

    async fn generate_links(
        &self,
        sources: &[LinkSource],
        link_type: LinkType,
        tracking_id: Option<&str>,
    ) -> Result<Vec<AffiliateLink>, UpstreamError> {
        let mut links = self
            .inner
            .generate_links(sources, link_type, tracking_id)
            .await?;
        for l in &mut links {
            l.promotion_link = self.tracker.track(l.product_id, &l.promotion_link);
        }
        Ok(links)
    }
}
