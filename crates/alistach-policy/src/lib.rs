//! Access and operating policy: which mode the service runs in, and how often each client may
//! call, which links are genuine (signed link tokens) and which fetches of them are a person's
//! click, and the statistics and traffic shares of A/B experiments. Decisions only; no
//! transport.

mod bots;
mod experiment_stats;
mod identity;
mod limiter;
mod link_token;
mod mode;
mod ratelimit;
mod targets;
mod throttle;

pub use bots::{is_automated_agent, is_prefetch};
pub use experiment_stats::{
    Estimate, SIGNIFICANCE_LEVEL, TestResult, VariantCounts, VariantStats, VersusControl, Z_95,
    bandit_shares, compare_variants, conversion, conversion_test, earnings_per_click, epc_test,
    fixed_shares, normal_cdf, pick, two_sided_p, unit_from_hash, unit_from_key, wilson_interval,
};
pub use identity::{ProxyParseError, TrustedProxies, client_key, parse_forwarded_entry};
pub use limiter::{LEASE_LIFE, LEASE_SHARE, LimiterStats, MAX_LEASE, RateLimiter};
pub use link_token::{
    LinkClaim, LinkSigner, MAX_TOKEN_CHARS, MAX_TOKEN_URL_BYTES, TAG_BYTES, TokenError,
};
pub use mode::{Credentials, MockModeSetting, ModeError, detect_mode};
pub use ratelimit::{
    Decision, MemoryRateLimitStore, MicrosClock, MonotonicClock, Quota, RateLimitError,
    RateLimitStore, gcra_apply, gcra_lease,
};
pub use targets::{forbidden_target, is_origin};
pub use throttle::AuthThrottle;
