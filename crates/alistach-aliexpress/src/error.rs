//! The crate's error: a bad configuration, a request refused before sending, or a classified
//! upstream failure.

use alistach_domain::{UpstreamError, ValidationError};

/// What went wrong with a client call.
///
/// Never carries the request URL, its parameters, the signature or the app secret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The client configuration is unusable.
    #[error("invalid AliExpress client configuration: {field} {rule}")]
    Config {
        /// The offending field, e.g. `gateway_url`.
        field: &'static str,
        /// What it must satisfy.
        rule: String,
    },
    /// The request breaks a platform rule and was not sent.
    #[error("invalid AliExpress request: {0}")]
    InvalidRequest(#[from] ValidationError),
    /// The gateway failed or refused the call.
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
}

impl Error {
    /// True when the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Upstream(e) if e.is_retryable())
    }

    /// The upstream classification, when the failure came from the gateway.
    pub fn upstream(&self) -> Option<&UpstreamError> {
        match self {
            Error::Upstream(e) => Some(e),
            _ => None,
        }
    }
}

impl From<Error> for UpstreamError {
    /// Local refusals become `InvalidRequest` with the code `ClientValidation`, so callers that
    /// only know the domain error still see which field was wrong.
    fn from(e: Error) -> Self {
        match e {
            Error::Upstream(u) => u,
            Error::InvalidRequest(v) => UpstreamError::InvalidRequest {
                code: "ClientValidation".to_owned(),
                message: v.to_string(),
            },
            Error::Config { field, rule } => UpstreamError::InvalidRequest {
                code: "ClientConfiguration".to_owned(),
                message: format!("{field} {rule}"),
            },
        }
    }
}
