//! Settings of the Redis cache, with defaults suited to a cache that must never slow requests.

use std::time::Duration;

use crate::Error;

/// The default of [`RedisCacheConfig::stale_max`].
pub const DEFAULT_STALE_MAX: Duration = Duration::from_secs(3600);

/// The default of [`RedisCacheConfig::namespace`].
pub const DEFAULT_NAMESPACE: &str = "alistach";

/// Whether `namespace` can be a key segment: non-empty, at most 64 characters of
/// `[A-Za-z0-9_.-]` (no `:`, which separates segments, and no glob characters).
pub fn valid_namespace(namespace: &str) -> bool {
    !namespace.is_empty()
        && namespace.len() <= 64
        && namespace
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// How to reach Redis and how to lay out keys in it.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisCacheConfig {
    /// `redis://[user:password@]host:port[/db]` (`REDIS_URL`).
    pub url: String,
    /// First key segment, so several applications can share one Redis (default `alistach`).
    pub namespace: String,
    /// Second key segment: bumped when the stored format changes, so an upgrade never reads
    /// entries written by an older version (default `v2`).
    pub schema_version: String,
    /// Limit for each Redis command, connecting included (default 250 ms).
    pub op_timeout: Duration,
    /// Most connections held (default 16).
    pub pool_size: usize,
    /// After a failure, how long Redis is not tried at all (default 2 s).
    pub circuit_cooldown: Duration,
    /// Longest an entry stays in Redis past its freshness (`REDIS_STALE_MAX`, default 1 h), so
    /// a long stale-if-error window does not fill Redis; the memory tier may keep it longer.
    pub stale_max: Duration,
}

impl RedisCacheConfig {
    /// The defaults for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        RedisCacheConfig {
            url: url.into(),
            namespace: DEFAULT_NAMESPACE.into(),
            schema_version: "v2".into(),
            op_timeout: Duration::from_millis(250),
            pool_size: 16,
            circuit_cooldown: Duration::from_secs(2),
            stale_max: DEFAULT_STALE_MAX,
        }
    }

    /// The key prefix every entry gets: `{namespace}:{schema_version}:`.
    pub fn key_prefix(&self) -> String {
        format!("{}:{}:", self.namespace, self.schema_version)
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        let invalid = |field, reason: &str| {
            Err(Error::InvalidConfig {
                field,
                reason: reason.into(),
            })
        };
        if !valid_namespace(&self.namespace) {
            return invalid(
                "namespace",
                "must be 1 to 64 characters of letters, digits, '_', '-' and '.'",
            );
        }
        if self.schema_version.is_empty() || self.schema_version.contains(':') {
            return invalid("schema_version", "must be non-empty and contain no ':'");
        }
        if self.op_timeout.is_zero() {
            return invalid("op_timeout", "must be more than zero");
        }
        if self.pool_size == 0 {
            return invalid("pool_size", "must be at least 1");
        }
        Ok(())
    }
}

impl std::fmt::Debug for RedisCacheConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCacheConfig")
            .field("url", &redact_url(&self.url))
            .field("namespace", &self.namespace)
            .field("schema_version", &self.schema_version)
            .field("op_timeout", &self.op_timeout)
            .field("pool_size", &self.pool_size)
            .field("circuit_cooldown", &self.circuit_cooldown)
            .field("stale_max", &self.stale_max)
            .finish()
    }
}

/// The URL with any credentials replaced by `***`, fit for logs and Debug output.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "***".into();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_credentials() {
        let config = RedisCacheConfig::new("redis://user:s3cr3t-pw@cache.internal:6380/2");
        let shown = format!("{config:?}");
        assert!(!shown.contains("s3cr3t-pw"), "{shown}");
        assert!(!shown.contains("user"), "{shown}");
        assert!(
            shown.contains("redis://***@cache.internal:6380/2"),
            "{shown}"
        );
        assert_eq!(redact_url("redis://:pw@h:1"), "redis://***@h:1");
        assert_eq!(redact_url("redis://h:1/0"), "redis://h:1/0");
        assert_eq!(redact_url("not a url with pw"), "***");
    }

    #[test]
    fn settings_are_checked_by_name() {
        let bad = |f: fn(&mut RedisCacheConfig)| {
            let mut c = RedisCacheConfig::new("redis://127.0.0.1:1/");
            f(&mut c);
            c.validate().unwrap_err().to_string()
        };
        assert!(bad(|c| c.namespace = "a:b".into()).contains("namespace"));
        assert!(bad(|c| c.namespace = "a*".into()).contains("namespace"));
        assert!(valid_namespace("staging-eu_1.v2"));
        assert!(bad(|c| c.schema_version = String::new()).contains("schema_version"));
        assert!(bad(|c| c.op_timeout = Duration::ZERO).contains("op_timeout"));
        assert!(bad(|c| c.pool_size = 0).contains("pool_size"));
        assert_eq!(
            RedisCacheConfig::new("redis://h/").key_prefix(),
            "alistach:v2:"
        );
    }
}
