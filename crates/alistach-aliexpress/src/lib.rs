//! A client for the AliExpress Open Platform affiliate API: request signing, a reused HTTP
//! connection pool, classified errors, retries within a deadline, and typed methods.
//!
//! It is usable on its own by any Rust program, and it implements the AliStach
//! [`AffiliateApi`](alistach_domain::AffiliateApi) port (real mode).
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use alistach_aliexpress::{AliExpressClient, ClientConfig, ProductQueryRequest};
//! use alistach_domain::{Currency, SortOrder};
//!
//! # async fn run() -> Result<(), alistach_aliexpress::Error> {
//! let mut config = ClientConfig::new("12345678", std::env::var("ALIEXPRESS_APP_SECRET").unwrap_or_default());
//! config.tracking_id = Some("default".to_owned());
//! config.request_timeout = Duration::from_secs(5);
//! let client = AliExpressClient::new(config)?;
//!
//! let mut request = ProductQueryRequest::keywords("wireless earbuds");
//! request.sort = Some(SortOrder::LastVolumeDesc);
//! request.target_currency = Some(Currency::EUR);
//! request.max_sale_price = Some(3000); // EUR 30.00, in the smallest currency unit
//! let page = client.product_query(&request).await?;
//! for product in &page.products {
//!     println!("{} {:?}", product.title, product.sale_price);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Errors are [`Error`]: a bad configuration, a request refused before it was sent, or an
//! [`UpstreamError`](alistach_domain::UpstreamError) classified by cause (credentials,
//! signature, permission, rate limit, invalid request, timeout, unavailable, malformed). An
//! empty result (`resp_code` 405) is an empty response, never an error. No error, log line or
//! `Debug` output contains the app secret, the signature or the request parameters.
//!
//! The gateway URL is part of [`ClientConfig`], so tests point the client at a local fake.

mod api;
mod client;
mod config;
mod convert;
mod error;
mod model;
pub mod signing;
mod wire;

pub use alistach_domain::{Clock, SystemClock};
pub use client::{AliExpressClient, methods};
pub use config::{ClientConfig, DEFAULT_GATEWAY_URL, RetryPolicy, Secret};
pub use error::Error;
pub use model::{
    FeaturedPromoProductsRequest, FeaturedPromoProductsResponse, LinkGenerateRequest,
    MAX_ORDER_IDS, Order, OrderListByIndexRequest, OrderListByIndexResponse, OrderListRequest,
    OrderListResponse, OrderStatus, OrderTimeType, PlatformProductType, ProductDetailRequest,
    ProductQueryRequest, ProductQueryResponse, Promo, PromotionLink, SmartMatchRequest,
    SmartMatchResponse,
};
pub use signing::SignMethod;
