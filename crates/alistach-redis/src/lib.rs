//! Everything that speaks Redis: the shared [`RedisCache`] backend (namespaced, versioned keys,
//! `SET .. PX` writes, `SCAN`-based clearing, short timeouts and a circuit that stops trying a
//! Redis that does not answer, a bounded stale window), and the shared rate-limit store
//! ([`RedisRateLimitStore`], one Lua script on the server's clock). Each has its own
//! connection, so the limits may live in another Redis than the cache.

mod cache;
mod circuit;
mod codec;
mod config;
mod error;
mod ratelimit;
mod shared;

pub use cache::{HEALTH_REFRESH, RedisCache};
pub use config::{DEFAULT_NAMESPACE, DEFAULT_STALE_MAX, RedisCacheConfig, valid_namespace};
pub use error::Error;
pub use ratelimit::{RedisRateLimitConfig, RedisRateLimitStore};
