//! Clicks on tracked links (`LINK_TRACKING=redirect`): appended in batches by the click drain,
//! summed for the admin API (and, later, per experiment variant).

use alistach_domain::ProductId;
use async_trait::async_trait;

use crate::StoreError;

/// One counted click on a tracked link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Click {
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// The product the link is for (none for a store, campaign or share page).
    pub product_id: Option<ProductId>,
    /// The tracking id of the affiliate link.
    pub tracking_id: String,
    /// The experiment variant that made the link, if any.
    pub variant: Option<u32>,
}

/// Clicks counted for one product.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProductClicks {
    /// The product.
    pub product_id: ProductId,
    /// Its clicks.
    pub clicks: u64,
}

/// What the store holds, summed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClickSummary {
    /// Every stored click (those of links to no product included).
    pub total: u64,
    /// The most clicked products, most clicks first (then by product id), at most
    /// [`MAX_SUMMARY_PRODUCTS`].
    pub products: Vec<ProductClicks>,
}

/// How many products a [`ClickSummary`] lists.
pub const MAX_SUMMARY_PRODUCTS: usize = 100;

impl ClickSummary {
    /// A summary from per-product counts: the top [`MAX_SUMMARY_PRODUCTS`], most clicked
    /// first (then by product id).
    pub fn from_counts(
        total: u64,
        per_product: impl IntoIterator<Item = (ProductId, u64)>,
    ) -> ClickSummary {
        let mut products: Vec<ProductClicks> = per_product
            .into_iter()
            .map(|(product_id, clicks)| ProductClicks { product_id, clicks })
            .collect();
        products.sort_by(|a, b| {
            b.clicks
                .cmp(&a.clicks)
                .then(a.product_id.cmp(&b.product_id))
        });
        products.truncate(MAX_SUMMARY_PRODUCTS);
        ClickSummary { total, products }
    }
}

/// Clicks on tracked links.
#[async_trait]
pub trait ClickStore: Send + Sync + 'static {
    /// Appends `clicks`, all or none (one transaction).
    async fn record_clicks(&self, clicks: &[Click]) -> Result<(), StoreError>;

    /// The stored clicks whose tracking id is one of `tracking_ids` (every click when
    /// `None`), summed.
    async fn click_summary(
        &self,
        tracking_ids: Option<&[String]>,
    ) -> Result<ClickSummary, StoreError>;
}
