//! The crate's error: a Redis setting that cannot work, named so the operator can fix it.

/// Why a Redis store could not be set up.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// `REDIS_URL` does not parse; the message never repeats the URL (it may hold a password).
    #[error("REDIS_URL is not a usable redis:// or rediss:// URL: {reason}")]
    InvalidUrl {
        /// What is wrong with it.
        reason: String,
    },
    /// Another setting is out of range.
    #[error("invalid Redis setting {field}: {reason}")]
    InvalidConfig {
        /// The setting.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}
