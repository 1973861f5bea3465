//! Everything that speaks Redis: the shared [`RedisCache`] backend (namespaced, versioned keys,
//! `SET .. PX` writes, `SCAN`-based clearing, short timeouts and a circuit that stops trying a
//! Redis that does not answer), and the shared rate-limit store ([`RedisRateLimitStore`], one
//! Lua script on the server's clock).

mod cache;
mod circuit;
mod codec;
mod config;
mod error;
mod ratelimit;
mod shared;

pub use cache::RedisCache;
pub use config::RedisCacheConfig;
pub use error::Error;
pub use ratelimit::{RedisRateLimitConfig, RedisRateLimitStore};
