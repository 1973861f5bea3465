//! The service layer's error: what went wrong, classified so the edge can pick a status code.

use alistach_cache::CacheError;
use alistach_domain::{UpstreamError, ValidationError};

/// Why a use case could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    /// The caller's input breaks a rule (names the field).
    #[error("invalid input: {0}")]
    Invalid(#[from] ValidationError),
    /// The caller named something that does not exist (an unknown category id); says what.
    #[error("{0}")]
    NotFound(String),
    /// The catalog upstream failed and no usable stale entry was cached.
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// The cache store failed on an operation that cannot fall back (clearing).
    #[error(transparent)]
    Cache(#[from] CacheError),
    /// A cached value could not be encoded or decoded; a bug or a store shared with another version.
    #[error("cached value codec failed: {0}")]
    Codec(String),
}

impl ServiceError {
    /// True when the caller may retry the same request later.
    pub fn is_retryable(&self) -> bool {
        match self {
            ServiceError::Upstream(e) => e.is_retryable(),
            ServiceError::Cache(_) => true,
            ServiceError::Invalid(_) | ServiceError::NotFound(_) | ServiceError::Codec(_) => false,
        }
    }
}

impl alistach_cache::Transient for ServiceError {
    /// Only upstream trouble that may pass lets a stale entry stand in; a rejected request or
    /// bad credentials must surface.
    fn is_transient(&self) -> bool {
        match self {
            ServiceError::Upstream(e) => e.is_transient(),
            ServiceError::Invalid(_)
            | ServiceError::NotFound(_)
            | ServiceError::Cache(_)
            | ServiceError::Codec(_) => false,
        }
    }
}
