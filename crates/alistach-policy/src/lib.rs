//! Access and operating policy: which mode the service runs in, and how often each client may
//! call. Decisions only; no transport.

mod identity;
mod limiter;
mod mode;
mod ratelimit;
mod throttle;

pub use identity::{ProxyParseError, TrustedProxies, client_key, parse_forwarded_entry};
pub use limiter::{LimiterStats, RateLimiter};
pub use mode::{Credentials, MockModeSetting, ModeError, detect_mode};
pub use ratelimit::{
    Decision, MemoryRateLimitStore, MicrosClock, MonotonicClock, Quota, RateLimitError,
    RateLimitStore, gcra_apply, gcra_step,
};
pub use throttle::AuthThrottle;
