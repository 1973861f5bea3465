//! The AliStach vocabulary: products, prices, categories, queries, affiliate links, and the
//! [`AffiliateApi`] port that the rest of the system calls.
//!
//! This crate does no I/O and needs no async runtime. Everything that crosses a boundary
//! (HTTP requests, the AliExpress gateway, the cache) is converted into these types first.
//! Queries are parsed, not validated: a [`SearchDraft`] is what a caller states, and
//! [`SearchDraft::parse`] is the only way to a [`SearchQuery`], whose fields are private, so a
//! `SearchQuery` that exists is a query the platform accepts.

mod category;
mod click;
mod clock;
mod decimal;
mod error;
mod histogram;
mod link;
mod locale;
mod order;
mod port;
mod product;
mod promotion;
mod query;
mod secret;
mod subids;
mod tenant;
mod webhook;

#[cfg(test)]
mod props;

pub use category::{Category, CategoryId, CategoryNode, CategoryTree};
pub use click::{ClickEvent, ClickListener};
pub use clock::{Clock, SystemClock};
pub use decimal::{Decimal, DecimalError};
pub use error::ValidationError;
pub use histogram::{Histogram, HistogramSnapshot, LATENCY_BUCKETS, LATENCY_SLOTS};
pub use link::{
    AffiliateLink, LinkInput, LinkPage, LinkRequest, LinkSource, LinkType, MAX_LINKS_PER_REQUEST,
    ProductUrl, ProductUrlError,
};
pub use locale::{CountryCode, Currency, Language};
pub use order::{
    AffiliateOrder, Cents, OrderPage, OrderQuery, OrderSource, OrderStatus, OrderTimeType,
    platform_time,
};
pub use port::{AffiliateApi, ApiMode, LOCAL_QUOTA_CODE, MAX_RETRY_AFTER, Pacer, UpstreamError};
pub use product::{CategoryRef, Money, Product, ProductId, ProductPage, PromoCode, Shop};
pub use promotion::{
    MAX_PROMOTION_NAME_CHARS, Promotion, PromotionQuery, PromotionSort, SimilarQuery,
};
pub use query::{
    DEFAULT_PAGE_SIZE, DetailsQuery, Listing, MAX_DETAIL_IDS, MAX_KEYWORDS_CHARS, MAX_PAGE_NO,
    MAX_PAGE_SIZE, SearchDraft, SearchQuery, SortOrder,
};
pub use secret::Secret;
pub use subids::{EXPERIMENT_CAMPAIGN_PREFIX, MAX_SUB_ID_CHARS, SUB_ID_SOURCE, SubIds};
pub use tenant::{MAX_TENANT_ID_CHARS, Role, TenantId};
pub use webhook::{WebhookError, WebhookMessage, WebhookSender};
