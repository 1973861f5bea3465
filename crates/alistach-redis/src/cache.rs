//! The Redis cache backend: entries under `{namespace}:{schema_version}:{key}`, written with
//! `SET .. PX` so Redis drops them when their stale window ends, cleared with `SCAN` + `UNLINK`
//! (never `KEYS`, which blocks Redis), every command under a short timeout and behind a circuit.
//! Redis keeps an entry at most `stale_max` past its freshness, whatever its stale window. A
//! Redis that answers with an error (`OOM` when full) is still up: reads go on, writes are lost.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alistach_cache::{Cache, CacheError, Entry, SharedClock, SystemClock, TierHealth, TierStats};
use async_trait::async_trait;
use deadpool_redis::{Manager, Pool, Runtime};
use redis::AsyncConnectionConfig;
use redis::aio::MultiplexedConnection;
use tokio::time::Instant;

use crate::shared::SharedConnection;

use crate::circuit::Circuit;
use crate::codec::{decode, encode, escape_glob};
use crate::{Error, RedisCacheConfig};

const BACKEND: &str = "redis";
/// Keys asked for per `SCAN` step and removed per `UNLINK`.
const SCAN_COUNT: usize = 500;
/// How often [`Cache::health`] may ask Redis; callers in between (every `/health`, `/readyz`
/// probe) get the state the last command left, so probes cost Redis at most one command a
/// second however often they come.
pub const HEALTH_REFRESH: Duration = Duration::from_secs(1);

/// How one command went wrong.
enum Failure {
    /// Redis answered with an error (`OOM` under `maxmemory` with `noeviction`, `READONLY` on a
    /// replica ...): it is reachable, only this command was refused.
    Refused(String),
    /// No answer: connection refused or dropped, timeout. The circuit opens.
    Unreachable(String),
}

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    sets: AtomicU64,
    errors: AtomicU64,
}

/// A [`Cache`] in Redis, shared by every instance pointed at the same server and namespace.
pub struct RedisCache {
    conn: SharedConnection,
    prefix: String,
    op_timeout: Duration,
    clock: SharedClock,
    circuit: Circuit,
    counters: Counters,
    /// When [`Cache::health`] last asked Redis.
    health_checked: Mutex<Option<Instant>>,
    /// Set from a refused command until a write succeeds, so a full Redis is logged once, not
    /// on every write (reads keep succeeding meanwhile).
    refusing: AtomicBool,
    config: RedisCacheConfig,
}

impl std::fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCache")
            .field("config", &self.config)
            .field("connected", &self.circuit.connected())
            .finish_non_exhaustive()
    }
}

impl RedisCache {
    /// A cache on the wall clock. No connection is made yet, so start-up succeeds while Redis
    /// is down; only a malformed setting fails.
    pub fn connect(config: RedisCacheConfig) -> Result<Self, Error> {
        RedisCache::connect_with_clock(config, Arc::new(SystemClock))
    }

    /// A cache judging expiry by `clock` (which must agree with the clock of the entries' writer).
    pub fn connect_with_clock(config: RedisCacheConfig, clock: SharedClock) -> Result<Self, Error> {
        config.validate()?;
        let connection = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(config.op_timeout))
            .set_response_timeout(Some(config.op_timeout));
        // The redis crate's own parse error may quote the URL, which may hold a password.
        let manager = Manager::new_with_config(config.url.as_str(), connection).map_err(|e| {
            Error::InvalidUrl {
                reason: format!("{:?}", e.kind()),
            }
        })?;
        let pool = Pool::builder(manager)
            .max_size(config.pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(config.op_timeout))
            .create_timeout(Some(config.op_timeout))
            .recycle_timeout(Some(config.op_timeout))
            .build()
            .map_err(|e| Error::InvalidConfig {
                field: "pool_size",
                reason: e.to_string(),
            })?;
        Ok(RedisCache {
            conn: SharedConnection::new(pool),
            prefix: config.key_prefix(),
            op_timeout: config.op_timeout,
            clock,
            // A probe is one command: allow it a few timeouts before assuming it was abandoned.
            circuit: Circuit::new(config.circuit_cooldown, config.op_timeout * 4),
            counters: Counters::default(),
            health_checked: Mutex::new(None),
            refusing: AtomicBool::new(false),
            config,
        })
    }

    /// The settings in use.
    pub fn config(&self) -> &RedisCacheConfig {
        &self.config
    }

    /// Whether the last call reached Redis (a refused write, e.g. `OOM`, still did).
    pub fn is_connected(&self) -> bool {
        self.circuit.connected()
    }

    /// How long Redis keeps `entry`, from now: to the end of its stale window, but never more
    /// than `stale_max` past its freshness (the memory tier may keep it longer). Zero when it
    /// is already past either.
    fn keep_ms(&self, entry: &Entry) -> u64 {
        let stale_max = u64::try_from(self.config.stale_max.as_millis()).unwrap_or(u64::MAX);
        entry
            .stale_until_ms
            .min(entry.fresh_until_ms.saturating_add(stale_max))
            .saturating_sub(self.clock.now_ms())
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// Runs `op` on a pooled connection under the timeout, unless the circuit is open.
    async fn run<T, F, Fut>(&self, what: &'static str, op: F) -> Result<T, CacheError>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        if self.circuit.permit().is_none() {
            self.counters.errors.fetch_add(1, Ordering::Relaxed);
            return Err(CacheError {
                backend: BACKEND,
                reason: "not tried: Redis failed recently".into(),
            });
        }
        let attempt = tokio::time::timeout(self.op_timeout, async {
            let conn = self
                .conn
                .get()
                .await
                .map_err(|e| Failure::Unreachable(format!("no connection: {e}")))?;
            op(conn).await.map_err(|e| {
                // An error reply has a code (`OOM`, `READONLY` ...); a broken link has none.
                if e.code().is_some() {
                    Failure::Refused(format!("{what} refused: {e}"))
                } else {
                    Failure::Unreachable(format!("{what} failed: {e}"))
                }
            })
        })
        .await;
        let failure = match attempt {
            Ok(Ok(value)) => {
                if self.circuit.succeeded() {
                    tracing::info!(cache = BACKEND, "Redis answers again; using it");
                }
                return Ok(value);
            }
            Ok(Err(Failure::Refused(reason))) => {
                // Reachable and answering: reads may still hit, so no circuit and no new
                // connection; only this command is lost (a write not cached in Redis).
                self.counters.errors.fetch_add(1, Ordering::Relaxed);
                self.circuit.succeeded();
                if !self.refusing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        cache = BACKEND,
                        error = %reason,
                        "Redis refuses writes (maxmemory with noeviction?); caching in memory only until it accepts them"
                    );
                }
                return Err(CacheError {
                    backend: BACKEND,
                    reason,
                });
            }
            Ok(Err(Failure::Unreachable(reason))) => reason,
            Err(_elapsed) => format!("{what} timed out after {:?}", self.op_timeout),
        };
        self.counters.errors.fetch_add(1, Ordering::Relaxed);
        self.conn.discard();
        if self.circuit.failed() {
            tracing::warn!(
                cache = BACKEND,
                error = %failure,
                cooldown = ?self.config.circuit_cooldown,
                "Redis failed; serving without it and retrying after the cool-down"
            );
        }
        Err(CacheError {
            backend: BACKEND,
            reason: failure,
        })
    }
}

#[async_trait]
impl Cache for RedisCache {
    async fn get(&self, key: &str) -> Result<Option<Entry>, CacheError> {
        let key = self.key(key);
        let raw: Option<Vec<u8>> = self
            .run("GET", |mut conn| async move {
                redis::cmd("GET").arg(&key).query_async(&mut conn).await
            })
            .await?;
        let now = self.clock.now_ms();
        // A value this version cannot read (another schema, damage) is a miss, not an outage.
        let entry = raw
            .and_then(decode)
            .filter(|entry| now < entry.stale_until_ms);
        let counter = if entry.is_some() {
            &self.counters.hits
        } else {
            &self.counters.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        Ok(entry)
    }

    async fn put(&self, key: &str, entry: Entry) -> Result<(), CacheError> {
        let key = self.key(key);
        let keep_ms = self.keep_ms(&entry);
        if keep_ms == 0 {
            // Already past its stale window: only the previous value must go.
            return self
                .run("DEL", |mut conn| async move {
                    redis::cmd("DEL")
                        .arg(&key)
                        .query_async::<()>(&mut conn)
                        .await
                })
                .await;
        }
        let value = encode(&entry);
        self.run("SET", |mut conn| async move {
            redis::cmd("SET")
                .arg(&key)
                .arg(value)
                .arg("PX")
                .arg(keep_ms)
                .query_async::<()>(&mut conn)
                .await
        })
        .await?;
        self.counters.sets.fetch_add(1, Ordering::Relaxed);
        if self.refusing.swap(false, Ordering::Relaxed) {
            tracing::info!(cache = BACKEND, "Redis accepts writes again");
        }
        Ok(())
    }

    async fn clear_prefix(&self, prefix: &str) -> Result<u64, CacheError> {
        let pattern = format!("{}*", escape_glob(&self.key(prefix)));
        let mut cursor: u64 = 0;
        let mut removed = 0;
        // Each step is its own short command, so a large clear never blocks Redis for long.
        loop {
            let pattern = pattern.clone();
            let (next, keys): (u64, Vec<Vec<u8>>) = self
                .run("SCAN", |mut conn| async move {
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(SCAN_COUNT)
                        .query_async(&mut conn)
                        .await
                })
                .await?;
            if !keys.is_empty() {
                let count: u64 = self
                    .run("UNLINK", |mut conn| async move {
                        redis::cmd("UNLINK").arg(&keys).query_async(&mut conn).await
                    })
                    .await?;
                removed += count;
            }
            if next == 0 {
                return Ok(removed);
            }
            cursor = next;
        }
    }

    async fn stats(&self) -> Vec<TierStats> {
        // One round trip that doubles as a live connectivity check (and as the circuit's probe).
        let live = self
            .run("INFO", |mut conn| async move {
                redis::pipe()
                    .cmd("DBSIZE")
                    .cmd("INFO")
                    .arg("memory")
                    .query_async::<(u64, String)>(&mut conn)
                    .await
            })
            .await;
        let (entries, bytes) = match live {
            Ok((keys, info)) => (keys, used_memory(&info)),
            Err(_) => (0, 0),
        };
        vec![TierStats {
            name: BACKEND,
            hits: self.counters.hits.load(Ordering::Relaxed),
            misses: self.counters.misses.load(Ordering::Relaxed),
            sets: self.counters.sets.load(Ordering::Relaxed),
            errors: self.counters.errors.load(Ordering::Relaxed),
            // Redis evicts on its own policy and does not say whose keys it dropped.
            evictions: 0,
            // Whole-database figures: counting one namespace would mean scanning every key.
            entries,
            bytes,
            connected: self.circuit.connected(),
        }]
    }

    async fn health(&self) -> Vec<TierHealth> {
        // Probes call this on every request: Redis is asked (one PING, which doubles as the
        // circuit's probe) at most once per HEALTH_REFRESH, and callers in between read the
        // state the last command left. The first caller past the interval claims the check,
        // so a burst of probes sends one command, not one each.
        let due = {
            let mut checked = self
                .health_checked
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let due = checked.is_none_or(|at| now.duration_since(at) >= HEALTH_REFRESH);
            if due {
                *checked = Some(now);
            }
            due
        };
        if due {
            // The outcome lands in the circuit; `connected` below reads it.
            let _ = self
                .run("PING", |mut conn| async move {
                    redis::cmd("PING").query_async::<()>(&mut conn).await
                })
                .await;
        }
        vec![TierHealth {
            name: BACKEND,
            connected: self.circuit.connected(),
        }]
    }
}

fn used_memory(info: &str) -> u64 {
    info.lines()
        .find_map(|line| line.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_keeps_entries_at_most_stale_max_past_their_freshness() {
        let clock = Arc::new(alistach_cache::ManualClock::new(1_000_000));
        let mut config = RedisCacheConfig::new("redis://127.0.0.1:1/");
        config.stale_max = Duration::from_secs(60);
        let cache = RedisCache::connect_with_clock(config, clock.clone()).unwrap();
        let entry = |fresh_s: u64, stale_s: u64| Entry {
            value: bytes::Bytes::new(),
            stored_at_ms: 1_000_000,
            fresh_until_ms: 1_000_000 + fresh_s * 1000,
            stale_until_ms: 1_000_000 + stale_s * 1000,
        };
        // A day of stale-if-error is cut to the cap; a short window is kept whole.
        assert_eq!(cache.keep_ms(&entry(10, 86_400)), 70_000);
        assert_eq!(cache.keep_ms(&entry(10, 30)), 30_000);
        clock.advance(Duration::from_secs(70));
        assert_eq!(
            cache.keep_ms(&entry(10, 86_400)),
            0,
            "past the cap: not written"
        );
    }
}
