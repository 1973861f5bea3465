//! The shared rate-limit store: GCRA state in Redis, updated atomically by one Lua script that
//! reads the Redis server's own clock (`TIME`), so every instance enforces one global limit
//! regardless of clock skew between hosts.

use std::time::Duration;

use alistach_policy::{Decision, Quota, RateLimitError, RateLimitStore, gcra_lease};
use async_trait::async_trait;
use deadpool_redis::{Config as PoolConfig, Runtime};

use crate::shared::SharedConnection;

/// Admits up to `ARGV[1]` requests of one key at once: the largest `k` every quota allows
/// (request `j` fits when `max(tat, now) + j × interval − period ≤ now`) and, when `k > 0`,
/// advances every quota by `k` intervals. Returns `{k, now_us, old_tat_1, ..., old_tat_n}`
/// (arrival times are hash fields `1..=n`; the quotas follow as `interval, period` pairs;
/// numbers go in and out as Lua numbers, exact below 2^53 microseconds); the caller recomputes
/// the same decision with [`gcra_lease`] from those numbers, so Rust and Lua can never disagree
/// on the headers.
const GCRA_LUA: &str = r#"
local t = redis.call('TIME')
local now = t[1] * 1000000 + t[2]
local k = tonumber(ARGV[1])
local n = (#ARGV - 1) / 2
local fields = {}
for i = 1, n do fields[i] = i end
local old = redis.call('HMGET', KEYS[1], unpack(fields))
local out = {0, now}
local maxp = 0
for i = 1, n do
  local interval = tonumber(ARGV[2 * i])
  local period = tonumber(ARGV[2 * i + 1])
  if period > maxp then maxp = period end
  local o = tonumber(old[i]) or 0
  out[i + 2] = o
  local fit = math.floor((now + period - math.max(o, now)) / interval)
  if fit < k then k = fit end
end
if k > 0 then
  out[1] = k
  local writes = {}
  for i = 1, n do
    writes[2 * i - 1] = i
    writes[2 * i] = math.max(out[i + 2], now) + k * tonumber(ARGV[2 * i])
  end
  redis.call('HSET', KEYS[1], unpack(writes))
  redis.call('PEXPIRE', KEYS[1], math.floor(maxp / 1000) + 1000)
end
return out
"#;

/// Settings for [`RedisRateLimitStore`].
#[derive(Clone, Debug)]
pub struct RedisRateLimitConfig {
    /// Key namespace (keys are `{namespace}:rl:{client}`).
    pub namespace: String,
    /// Per-operation timeout; past it the caller falls back to local limits.
    pub op_timeout: Duration,
    /// Pool size.
    pub pool_size: usize,
}

impl Default for RedisRateLimitConfig {
    fn default() -> Self {
        RedisRateLimitConfig {
            namespace: crate::DEFAULT_NAMESPACE.into(),
            op_timeout: Duration::from_millis(250),
            pool_size: 8,
        }
    }
}

/// GCRA limits shared through Redis.
pub struct RedisRateLimitStore {
    conn: SharedConnection,
    script: redis::Script,
    config: RedisRateLimitConfig,
}

impl std::fmt::Debug for RedisRateLimitStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password: never print it.
        f.debug_struct("RedisRateLimitStore")
            .field("namespace", &self.config.namespace)
            .finish_non_exhaustive()
    }
}

impl RedisRateLimitStore {
    /// A store on `url`. The pool connects lazily: a Redis that is down at start-up only makes
    /// checks fail (and the caller fall back) until it answers.
    pub fn new(url: &str, config: RedisRateLimitConfig) -> Result<Self, RateLimitError> {
        let mut pool_config = PoolConfig::from_url(url);
        pool_config.pool = Some(deadpool_redis::PoolConfig {
            max_size: config.pool_size.max(1),
            timeouts: deadpool_redis::Timeouts {
                wait: Some(config.op_timeout),
                create: Some(config.op_timeout),
                recycle: Some(config.op_timeout),
            },
            ..Default::default()
        });
        let pool = pool_config
            .create_pool(Some(Runtime::Tokio1))
            .map_err(|e| {
                RateLimitError(format!(
                    "invalid Redis configuration: {}",
                    redact(&e.to_string())
                ))
            })?;
        Ok(RedisRateLimitStore {
            conn: SharedConnection::new(pool),
            script: redis::Script::new(GCRA_LUA),
            config,
        })
    }

    async fn lease_inner(
        &self,
        key: &str,
        quotas: &[Quota],
        want: u32,
    ) -> Result<(u32, Decision), RateLimitError> {
        let mut conn = self.conn.get().await.map_err(|e| {
            RateLimitError(format!("redis unavailable: {}", redact(&e.to_string())))
        })?;
        let mut invocation = self
            .script
            .key(format!("{}:rl:{}", self.config.namespace, key));
        invocation.arg(want.max(1));
        for q in quotas {
            invocation.arg(q.emission_interval_us()).arg(q.period_us());
        }
        let reply: Vec<redis::Value> = invocation.invoke_async(&mut conn).await.map_err(|e| {
            // An error reply (`OOM` ...) came over a healthy connection: keep it.
            if e.code().is_none() {
                self.conn.discard();
            }
            RateLimitError(format!("redis script failed: {}", redact(&e.to_string())))
        })?;
        let number = |v: &redis::Value| -> Option<u64> {
            match v {
                redis::Value::Int(i) => u64::try_from(*i).ok(),
                redis::Value::BulkString(b) => std::str::from_utf8(b).ok()?.parse().ok(),
                redis::Value::SimpleString(s) => s.parse().ok(),
                _ => None,
            }
        };
        let numbers: Option<Vec<u64>> = reply.iter().map(number).collect();
        let numbers = numbers
            .filter(|n| n.len() == quotas.len() + 2)
            .ok_or_else(|| RateLimitError("unexpected script reply".into()))?;
        let mut tats = numbers[2..].to_vec();
        let (k, decision) = gcra_lease(quotas, &mut tats, numbers[1], want);
        // The script is the authority on admission; the numbers are recomputed from its inputs.
        debug_assert_eq!(u64::from(k), numbers[0]);
        let granted = u32::try_from(numbers[0]).unwrap_or(0).min(want.max(1));
        Ok((
            granted,
            Decision {
                allowed: granted > 0,
                ..decision
            },
        ))
    }
}

/// Drops anything that looks like a URL with credentials from an error text.
fn redact(text: &str) -> String {
    text.split_whitespace()
        .map(|w| {
            if w.contains("redis://") || w.contains("rediss://") || w.contains('@') {
                "<redacted>"
            } else {
                w
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[async_trait]
impl RateLimitStore for RedisRateLimitStore {
    async fn check_many(
        &self,
        key: &str,
        quotas: &[Quota],
        want: u32,
    ) -> Result<(u32, Decision), RateLimitError> {
        let inner = self.lease_inner(key, quotas, want);
        match tokio::time::timeout(self.config.op_timeout, inner).await {
            Ok(result) => result,
            Err(_) => {
                self.conn.discard();
                Err(RateLimitError("redis timed out".into()))
            }
        }
    }

    fn name(&self) -> &'static str {
        "redis"
    }
}
