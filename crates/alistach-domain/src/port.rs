//! The port the application calls for catalog data, and the classified upstream error.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;

use crate::{
    AffiliateLink, Category, DetailsQuery, LinkSource, LinkType, Product, ProductPage, Promotion,
    PromotionQuery, SearchQuery, SimilarQuery,
};

/// Where data comes from: the real AliExpress gateway, or the labelled mock catalog.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ApiMode {
    /// Signed calls to the AliExpress gateway.
    Real,
    /// The deterministic mock catalog; never presented as real data.
    Mock,
}

impl ApiMode {
    /// `"real"` or `"mock"`, as the v1.1.0 contract's `api_integration` field spells it.
    pub const fn as_str(self) -> &'static str {
        match self {
            ApiMode::Real => "real",
            ApiMode::Mock => "mock",
        }
    }

    /// True for mock mode.
    pub const fn is_mock(self) -> bool {
        matches!(self, ApiMode::Mock)
    }
}

impl fmt::Display for ApiMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The catalog as the application sees it. Implemented by the AliExpress client (real mode)
/// and the mock catalog (mock mode). Queries arrive validated.
#[async_trait]
pub trait AffiliateApi: Send + Sync + 'static {
    /// Which kind of source this is.
    fn mode(&self) -> ApiMode;

    /// What shapes this source's answers besides the question, as `(name, value)` pairs: the
    /// account, the tracking id written into links, the endpoint. The cache hashes them into
    /// every key, so deployments sharing a cache (two affiliate accounts, staging and
    /// production) never serve each other's answers. Never include a secret: the values are
    /// only hashed, but a secret has no business here. The default, nothing, suits a source
    /// whose answers depend on the question alone.
    fn answer_scope(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }

    /// Keyword/category search (`aliexpress.affiliate.product.query`).
    async fn search_products(&self, query: &SearchQuery) -> Result<ProductPage, UpstreamError>;

    /// High-commission products (`aliexpress.affiliate.hotproduct.query`).
    async fn hot_products(&self, query: &SearchQuery) -> Result<ProductPage, UpstreamError>;

    /// Details of known products (`aliexpress.affiliate.productdetail.get`); products the
    /// platform does not know are absent from the result.
    async fn product_details(&self, query: &DetailsQuery) -> Result<Vec<Product>, UpstreamError>;

    /// Every category, flat (`aliexpress.affiliate.category.get`).
    async fn categories(&self) -> Result<Vec<Category>, UpstreamError>;

    /// Products similar to a seed product (`aliexpress.affiliate.product.smartmatch`), one
    /// page as the platform sizes it; an unknown seed finds nothing.
    async fn similar_products(&self, query: &SimilarQuery) -> Result<Vec<Product>, UpstreamError>;

    /// The featured promotions (`aliexpress.affiliate.featuredpromo.get`).
    async fn promotions(&self) -> Result<Vec<Promotion>, UpstreamError>;

    /// A page of one promotion's products (`aliexpress.affiliate.featuredpromo.products.get`);
    /// an unknown promotion finds nothing.
    async fn promotion_products(
        &self,
        query: &PromotionQuery,
    ) -> Result<ProductPage, UpstreamError>;

    /// Affiliate links for AliExpress pages (`aliexpress.affiliate.link.generate`), at most
    /// [`crate::MAX_LINKS_PER_REQUEST`] sources: one link per page the platform converted,
    /// its `source_url` the source's [`LinkSource::source_value`]; pages it could not convert
    /// are absent. The links earn for `tracking_id`, or the deployment's tracking id when
    /// `None` (an experiment's variant may name another).
    async fn generate_links(
        &self,
        sources: &[LinkSource],
        link_type: LinkType,
        tracking_id: Option<&str>,
    ) -> Result<Vec<AffiliateLink>, UpstreamError>;
}

/// Why the upstream could not answer, classified by cause.
///
/// Carries the platform's error code and message where there was one, never the request
/// (which holds the signature) and never the app secret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// The app key is unknown, or the app is not (yet) a registered affiliate publisher.
    #[error("the AliExpress gateway rejected the app credentials ({code}: {message})")]
    BadCredentials {
        /// Platform code, e.g. `InvalidAppKey`.
        code: String,
        /// Platform message.
        message: String,
    },
    /// The signature did not verify: wrong secret or wrong signing.
    #[error("the AliExpress gateway rejected the request signature ({code}: {message})")]
    SignatureRejected {
        /// Platform code, e.g. `IncompleteSignature`.
        code: String,
        /// Platform message.
        message: String,
    },
    /// The app lacks the permission for this method, or the caller IP is not allowed.
    #[error("the app is not permitted to call this AliExpress method ({code}: {message})")]
    PermissionDenied {
        /// Platform code, e.g. `InsufficientPermission`.
        code: String,
        /// Platform message.
        message: String,
    },
    /// Flow control: the platform banned calls for a while.
    #[error("the AliExpress gateway is rate limiting this app ({code}: {message})")]
    RateLimited {
        /// How long the platform said the ban lasts, when it said.
        retry_after: Option<Duration>,
        /// Platform code, e.g. `ApiCallLimit`.
        code: String,
        /// Platform message.
        message: String,
    },
    /// The platform refused the parameters.
    #[error("the AliExpress gateway refused the request parameters ({code}: {message})")]
    InvalidRequest {
        /// Platform code.
        code: String,
        /// Platform message.
        message: String,
    },
    /// No answer in time.
    #[error("the AliExpress gateway did not answer in time")]
    Timeout,
    /// Connection failure, an HTTP error status, or a platform-side failure.
    #[error("the AliExpress gateway is unavailable: {reason}")]
    Unavailable {
        /// What happened, without URLs or parameters.
        reason: String,
    },
    /// The gateway answered with something that is not a valid response.
    #[error("the AliExpress gateway sent a malformed response: {reason}")]
    Malformed {
        /// What was wrong with it.
        reason: String,
    },
}

impl UpstreamError {
    /// True when the same request may succeed later: timeouts, unavailability and flow control.
    /// Credential, signature, permission, parameter and malformed-response errors never are.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            UpstreamError::Timeout
                | UpstreamError::Unavailable { .. }
                | UpstreamError::RateLimited { .. }
        )
    }

    /// True for transient trouble that may be papered over with stale cached data.
    pub fn is_transient(&self) -> bool {
        self.is_retryable() || matches!(self, UpstreamError::Malformed { .. })
    }

    /// A stable machine-readable name for the cause, e.g. `rate_limited`.
    pub fn kind(&self) -> &'static str {
        match self {
            UpstreamError::BadCredentials { .. } => "bad_credentials",
            UpstreamError::SignatureRejected { .. } => "signature_rejected",
            UpstreamError::PermissionDenied { .. } => "permission_denied",
            UpstreamError::RateLimited { .. } => "rate_limited",
            UpstreamError::InvalidRequest { .. } => "invalid_request",
            UpstreamError::Timeout => "timeout",
            UpstreamError::Unavailable { .. } => "unavailable",
            UpstreamError::Malformed { .. } => "malformed_response",
        }
    }

    /// The platform's error code, when it gave one.
    pub fn code(&self) -> Option<&str> {
        match self {
            UpstreamError::BadCredentials { code, .. }
            | UpstreamError::SignatureRejected { code, .. }
            | UpstreamError::PermissionDenied { code, .. }
            | UpstreamError::RateLimited { code, .. }
            | UpstreamError::InvalidRequest { code, .. } => Some(code),
            _ => None,
        }
    }

    /// How long to wait before retrying, when the platform said, never more than
    /// [`MAX_RETRY_AFTER`] (whoever built the error).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            UpstreamError::RateLimited { retry_after, .. } => {
                retry_after.map(|d| d.min(MAX_RETRY_AFTER))
            }
            _ => None,
        }
    }
}

/// The code of the [`UpstreamError::RateLimited`] a [`Pacer`] answers when an attempt's turn
/// would come too late: the refusal is ours, not the platform's, so it is never taken for a ban.
pub const LOCAL_QUOTA_CODE: &str = "LocalQuota";

/// Paces outbound attempts: the one limiter of the app key's budget. A client asks it before
/// every HTTP attempt, retries included, so retries spend the same budget as first attempts.
#[async_trait]
pub trait Pacer: Send + Sync + 'static {
    /// Waits for this attempt's turn if it comes within `within`; otherwise reserves nothing
    /// and answers a [`UpstreamError::RateLimited`] with code [`LOCAL_QUOTA_CODE`].
    async fn pace(&self, within: Duration) -> Result<(), UpstreamError>;
}

impl UpstreamError {
    /// True for a refusal of our own outbound limiter (see [`Pacer`]), which never reached
    /// the platform.
    pub fn is_local_quota(&self) -> bool {
        matches!(self, UpstreamError::RateLimited { code, .. } if code == LOCAL_QUOTA_CODE)
    }
}

/// The longest retry hint (`Retry-After`, a ban's length) the gateway is believed: a larger
/// number is a mistake or an attack, and taken at face value it would stop every call until a
/// restart (or overflow a clock).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transient_causes_are_retryable() {
        let e = |code: &str| (code.to_owned(), String::new());
        let (c, m) = e("IncompleteSignature");
        assert!(
            !UpstreamError::SignatureRejected {
                code: c,
                message: m
            }
            .is_retryable()
        );
        let (c, m) = e("InsufficientPermission");
        assert!(
            !UpstreamError::PermissionDenied {
                code: c,
                message: m
            }
            .is_retryable()
        );
        let (c, m) = e("InvalidAppKey");
        assert!(
            !UpstreamError::BadCredentials {
                code: c,
                message: m
            }
            .is_retryable()
        );
        let (c, m) = e("ApiCallLimit");
        let limited = UpstreamError::RateLimited {
            retry_after: Some(Duration::from_secs(1)),
            code: c,
            message: m,
        };
        assert!(limited.is_retryable());
        assert_eq!(limited.retry_after(), Some(Duration::from_secs(1)));
        assert!(UpstreamError::Timeout.is_retryable());
        assert!(
            UpstreamError::Unavailable {
                reason: "502".into()
            }
            .is_retryable()
        );
        assert!(!UpstreamError::Malformed { reason: "x".into() }.is_retryable());
        assert_eq!(UpstreamError::Timeout.kind(), "timeout");
    }
}
