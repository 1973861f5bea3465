//! A counted click on a tracked link, and the port that hears of it.

use crate::ProductId;

/// A click a person made on a tracked link (`GET /r/{token}`; bots and previews excluded).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClickEvent {
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// The product the link is for (none for a store, campaign or share page).
    pub product_id: Option<ProductId>,
    /// The tracking id of the affiliate link.
    pub tracking_id: String,
    /// The experiment variant (its store id) that made the link, if any.
    pub variant: Option<u32>,
    /// The affiliate link the click was sent to (with its sub-ids, if any).
    pub url: String,
}

/// Hears of every counted click, after it is queued, off the request path. The mock catalog
/// is one: in mock mode a click on a mock link becomes a labelled mock order a little later,
/// so the revenue loop can be seen without the platform.
pub trait ClickListener: Send + Sync + 'static {
    /// One click. Must not block.
    fn clicked(&self, click: &ClickEvent);
}
