//! An experiment variant's links: [`VariantApi`], a decorator of the catalog port that makes
//! every affiliate link the way a variant says (its link type and tracking id, through
//! `link.generate`) and tags it with the variant's sub-ids (`cn` = `ab<experiment>`, `cv` =
//! the variant's name; reference §4.5), so the orders it earns come back attributed to it.
//!
//! It sits below the cache and below click tracking, like [`crate::TrackedApi`]: a variant's
//! answers are fetched, made and cached under their own keys (its answer scope names the
//! experiment and the variant), so a cache hit costs what it costs without experiments.

use std::collections::HashMap;
use std::sync::Arc;

use alistach_domain::{
    AffiliateApi, AffiliateLink, ApiMode, Category, DetailsQuery, LinkSource, LinkType, Product,
    ProductId, ProductPage, Promotion, PromotionQuery, SearchQuery, SimilarQuery, SubIds,
    UpstreamError,
};
use alistach_store::Variant;
use async_trait::async_trait;

/// The catalog port with every affiliate link made the way one variant says.
pub struct VariantApi {
    inner: Arc<dyn AffiliateApi>,
    experiment_id: u64,
    variant: Variant,
    sub_ids: SubIds,
}

impl VariantApi {
    /// `inner`, its links made for `variant` of experiment `experiment_id`.
    pub fn new(inner: Arc<dyn AffiliateApi>, experiment_id: u64, variant: Variant) -> Self {
        let sub_ids = SubIds::for_variant(experiment_id, &variant.name);
        VariantApi {
            inner,
            experiment_id,
            variant,
            sub_ids,
        }
    }

    /// True when the variant's links differ from the deployment's default ones (normal links
    /// for the deployment's tracking id), so they must be made anew.
    fn remakes_links(&self) -> bool {
        self.variant.link_type != LinkType::Normal || self.variant.tracking_id.is_some()
    }

    /// The products' links made for the variant and tagged. A product the platform did not
    /// convert loses its link (handing out the default link would credit the wrong variant).
    async fn products(&self, products: &mut [Product]) -> Result<(), UpstreamError> {
        if products.is_empty() {
            return Ok(());
        }
        if self.remakes_links() {
            let mut made: HashMap<ProductId, String> = HashMap::new();
            for chunk in products.chunks(alistach_domain::MAX_LINKS_PER_REQUEST) {
                let sources: Vec<LinkSource> =
                    chunk.iter().map(|p| LinkSource::product(p.id)).collect();
                let links = self
                    .inner
                    .generate_links(
                        &sources,
                        self.variant.link_type,
                        self.variant.tracking_id.as_deref(),
                    )
                    .await?;
                made.extend(
                    links
                        .into_iter()
                        .filter_map(|l| Some((l.product_id?, l.promotion_link))),
                );
            }
            for p in products.iter_mut() {
                p.promotion_link = made.remove(&p.id);
            }
        }
        for p in products.iter_mut() {
            if let Some(link) = &mut p.promotion_link {
                *link = self.sub_ids.append_to(link);
            }
            if let Some(url) = p.promo_code.as_mut().and_then(|c| c.promotion_url.as_mut()) {
                *url = self.sub_ids.append_to(url);
            }
        }
        Ok(())
    }

    async fn page(&self, mut page: ProductPage) -> Result<ProductPage, UpstreamError> {
        self.products(&mut page.products).await?;
        Ok(page)
    }
}

#[async_trait]
impl AffiliateApi for VariantApi {
    fn mode(&self) -> ApiMode {
        self.inner.mode()
    }

    fn answer_scope(&self) -> Vec<(&'static str, String)> {
        let mut scope = self.inner.answer_scope();
        scope.push(("experiment", self.experiment_id.to_string()));
        scope.push(("variant", self.variant.id.to_string()));
        scope
    }

    async fn search_products(&self, query: &SearchQuery) -> Result<ProductPage, UpstreamError> {
        self.page(self.inner.search_products(query).await?).await
    }

    async fn hot_products(&self, query: &SearchQuery) -> Result<ProductPage, UpstreamError> {
        self.page(self.inner.hot_products(query).await?).await
    }

    async fn product_details(&self, query: &DetailsQuery) -> Result<Vec<Product>, UpstreamError> {
        let mut products = self.inner.product_details(query).await?;
        self.products(&mut products).await?;
        Ok(products)
    }

    async fn categories(&self) -> Result<Vec<Category>, UpstreamError> {
        self.inner.categories().await
    }

    async fn similar_products(&self, query: &SimilarQuery) -> Result<Vec<Product>, UpstreamError> {
        let mut products = self.inner.similar_products(query).await?;
        self.products(&mut products).await?;
        Ok(products)
    }

    async fn promotions(&self) -> Result<Vec<Promotion>, UpstreamError> {
        self.inner.promotions().await
    }

    async fn promotion_products(
        &self,
        query: &PromotionQuery,
    ) -> Result<ProductPage, UpstreamError> {
        self.page(self.inner.promotion_products(query).await?).await
    }

    /// Links of the variant's type and tracking id, whatever the caller asked for: the
    /// experiment decides the link strategy while it runs.
    async fn generate_links(
        &self,
        sources: &[LinkSource],
        _link_type: LinkType,
        _tracking_id: Option<&str>,
    ) -> Result<Vec<AffiliateLink>, UpstreamError> {
        let mut links = self
            .inner
            .generate_links(
                sources,
                self.variant.link_type,
                self.variant.tracking_id.as_deref(),
            )
            .await?;
        for l in &mut links {
            l.promotion_link = self.sub_ids.append_to(&l.promotion_link);
        }
        Ok(links)
    }
}
