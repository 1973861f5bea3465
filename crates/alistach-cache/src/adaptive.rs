//! The adaptive cache policy (`CACHE_POLICY=adaptive`): time-to-live learned per key from how
//! often its answer changes, and refresh-ahead for the most requested keys.
//!
//! # Model
//!
//! A key's answer changes as a Poisson process of unknown rate `λ`. A change is only seen when
//! the key is fetched again: each fetch compares the new answer's [`fingerprint`] with the one
//! stored at the previous fetch, adding one observation of `exposure` (the time between the two
//! fetches) and `changed` (whether the fingerprints differ). The estimate is gamma-Poisson:
//!
//! `λ̂ = (α + changes) / (α / λ_class + exposure)`
//!
//! with `α` pseudo-observations of the key's class rate `λ_class` (pooled over every key of the
//! class, itself starting from the class's static TTL), so a key seen once gets its class's
//! rate and a key seen often gets its own. Observations fade with a half-life of
//! [`AdaptiveConfig::memory`] of observed time, so a key whose behaviour changes is followed
//! (and a key never seen changing can earn a TTL up to about `x*(s) × memory / ln 2`).
//!
//! `α` ([`AdaptiveConfig::prior_weight`], 0.5) is a gamma prior's shape: change rates spread
//! over decades (a log-normal population), and a shape below 1 lets a key with a quiet week of
//! observations move well below its class's mean, where a shape of 1 held hot, slow keys at
//! about twice their rate.
//!
//! The request rate of a key is its requests after the first over the time since it was first
//! seen, both faded with the same half-life, from half a request a day
//! ([`Learner::request_rate`]): unlike the popularity count below, it does not count the
//! request being served and tells a key asked for every few days from one asked for twice a
//! day.
//!
//! The TTL is the `T` within the kind's [`TtlBounds`] (no learned value can leave them) that
//! minimises upstream calls plus `μ` × stale answers per unit of time ([`cost_rate`]), where
//! `μ`, the worth of a stale answer in calls, is one number for all keys: calibrated
//! ([`Learner::recalibrate`], in small steps, because what it steers follows only as entries
//! expire) so that the request-weighted expected stale share ([`answer_stale_share`] at each
//! key's TTL) meets the target, but lowered whenever the upstream calls exceed
//! [`AdaptiveConfig::call_budget`] × what the static policy would have made for the same
//! requests (counted by following, per key, when the static policy's entry would expire).
//!
//! Popularity is an exponentially decayed request count per key (half-life
//! [`AdaptiveConfig::popularity_half_life`]). A hit on a key whose entry is in the last
//! [`AdaptiveConfig::refresh_ahead_share`] of its life starts one background refresh when the
//! key is expected to be requested [`AdaptiveConfig::refresh_ahead_min_requests`] times within
//! its next life and the [`RefreshBudget`] grants a turn, so hot answers stay fresh and stay
//! hits. (Refreshing ahead shortens hot entries' lives; the window is kept small for that.)
//!
//! State is bounded: at most [`AdaptiveConfig::max_keys`] keys, in shards (no global lock on
//! the hit path); a full shard drops its least popular eighth.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::{SharedClock, duration_ms};

/// The range a learned TTL must stay in, per kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TtlBounds {
    /// The shortest TTL a key may get.
    pub min: Duration,
    /// The longest TTL a key may get.
    pub max: Duration,
}

impl TtlBounds {
    /// Bounds `[min, max]`, swapped into order if given the wrong way round.
    pub fn new(min: Duration, max: Duration) -> Self {
        TtlBounds {
            min: min.min(max),
            max: max.max(min),
        }
    }

    /// `ttl` moved into the bounds.
    pub fn clamp(&self, ttl: Duration) -> Duration {
        ttl.clamp(self.min, self.max)
    }
}

/// How the adaptive policy learns.
#[derive(Clone, Debug, PartialEq)]
pub struct AdaptiveConfig {
    /// The target share of answers served after their data changed (`CACHE_STALE_TARGET`), in
    /// `(0, 1)`.
    pub target_stale: f64,
    /// The most keys remembered (about 130 bytes each plus the key).
    pub max_keys: usize,
    /// Half-life of the decayed request count.
    pub popularity_half_life: Duration,
    /// The last share of an entry's life in which a hit may refresh it ahead of expiry.
    pub refresh_ahead_share: f64,
    /// The requests a key must be expected to get in one life of its entry to be refreshed
    /// ahead of expiry (so only the hot keys, for which a miss right after expiry is all but
    /// certain, spend a call early).
    pub refresh_ahead_min_requests: f64,
    /// Weight of the class rate in a key's estimate, in pseudo-observations (`α`).
    pub prior_weight: f64,
    /// Half-life of observations, in observed time: a key's sums are halved for each such span
    /// of new exposure, a class's for each such span of wall time; also of the requests the
    /// long-run request rate counts.
    pub memory: Duration,
    /// The most upstream calls the policy may make, as a share of what the static policy (each
    /// kind's fixed TTL) would make for the same requests (`CACHE_CALL_BUDGET`); at or below
    /// 0, no cap. The learner counts both (the static policy's by following, per key, when its
    /// entry would expire) and lowers the worth of a stale answer while over the cap: the
    /// stale target is then met only as far as the budget allows.
    pub call_budget: f64,
}

impl Default for AdaptiveConfig {
    fn default() -> Self {
        AdaptiveConfig {
            target_stale: 0.003,
            max_keys: 100_000,
            popularity_half_life: Duration::from_secs(6 * 3600),
            refresh_ahead_share: 0.05,
            refresh_ahead_min_requests: 4.0,
            prior_weight: 0.5,
            memory: Duration::from_secs(7 * 24 * 3600),
            call_budget: 1.0,
        }
    }
}

/// Grants refresh-ahead calls: a share of the outbound quota, never a turn a user's miss needs.
pub trait RefreshBudget: Send + Sync + 'static {
    /// True (and the turn is taken) when a refresh-ahead call may start now.
    fn try_acquire(&self) -> bool;
}

/// A budget of `per_second` calls (burst of one), on the cache's clock, gated by `idle` (true
/// when the upstream has a spare turn now).
pub struct RateBudget {
    clock: SharedClock,
    interval_ms: f64,
    /// Theoretical arrival time in ms (GCRA), as f64 bits.
    tat: Mutex<f64>,
    idle: Box<dyn Fn() -> bool + Send + Sync>,
}

impl std::fmt::Debug for RateBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateBudget")
            .field("interval_ms", &self.interval_ms)
            .finish_non_exhaustive()
    }
}

impl RateBudget {
    /// `per_second` calls a second (at least one an hour), when `idle` says the upstream has
    /// room.
    pub fn new(
        clock: SharedClock,
        per_second: f64,
        idle: impl Fn() -> bool + Send + Sync + 'static,
    ) -> Self {
        let per_second = if per_second.is_finite() {
            per_second.max(1.0 / 3600.0)
        } else {
            1.0
        };
        RateBudget {
            clock,
            interval_ms: 1000.0 / per_second,
            tat: Mutex::new(0.0),
            idle: Box::new(idle),
        }
    }
}

impl RefreshBudget for RateBudget {
    fn try_acquire(&self) -> bool {
        #[allow(clippy::cast_precision_loss)]
        let now = self.clock.now_ms() as f64;
        let mut tat = self.tat.lock().unwrap_or_else(|e| e.into_inner());
        if *tat > now || !(self.idle)() {
            return false;
        }
        *tat = now + self.interval_ms;
        true
    }
}

/// A 64-bit FNV-1a hash of an answer's bytes: stable across processes and releases, so
/// instances sharing learned state agree on it.
pub fn fingerprint(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The `x = λT` at which the expected stale share `1 − (1 − e^{−x})/x` equals `s`.
pub fn stale_budget_x(s: f64) -> f64 {
    let s = if s.is_finite() {
        s.clamp(1e-6, 0.99)
    } else {
        0.02
    };
    let (mut lo, mut hi) = (0.0_f64, 1000.0_f64);
    for _ in 0..100 {
        let mid = (lo + hi) / 2.0;
        if stale_share(mid) < s {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Expected share of answers served after a change, for requests spread evenly over an entry
/// life with `x = λT` expected changes.
pub fn stale_share(x: f64) -> f64 {
    if x <= 1e-9 {
        return x / 2.0;
    }
    1.0 - (-x).exp_m1() / -x
}

/// The expected share of a key's answers served after a change, for a TTL of `ttl_s` seconds,
/// a change rate `λ` and a request rate `r` (a second): each life of an entry is one miss
/// (fresh) and about `rT` hits spread over `[0, T]`, of which [`stale_share`]`(λT)` are stale,
/// so `stale_share(λT) × rT / (1 + rT)`. A request rate of 0 (unknown) counts as very hot.
pub fn answer_stale_share(change_rate: f64, requests_per_s: f64, ttl_s: f64) -> f64 {
    let hits = if requests_per_s > 0.0 {
        let rt = requests_per_s * ttl_s;
        rt / (1.0 + rt)
    } else {
        1.0
    };
    stale_share(change_rate.max(0.0) * ttl_s) * hits
}

/// Upstream calls plus `mu` × stale answers, per second, for a key whose answer changes at
/// `change_rate` and which is requested `requests_per_s` times a second, cached for `ttl_s`:
/// each life is one miss (a call) and the requests of `[0, T]`, of which
/// `r (T − (1 − e^{−λT}) / λ)` are expected stale; a life lasts `T + 1/r`.
pub fn cost_rate(change_rate: f64, requests_per_s: f64, ttl_s: f64, mu: f64) -> f64 {
    let (l, r, t) = (
        change_rate.max(0.0),
        requests_per_s.max(1e-12),
        ttl_s.max(0.0),
    );
    let stale = if l * t < 1e-9 {
        r * l * t * t / 2.0
    } else {
        r * (t + (-l * t).exp_m1() / l)
    };
    (1.0 + mu * stale) / (t + 1.0 / r)
}

/// The expected number of Poisson events, given at least one, for `x` expected events:
/// `x / (1 − e^{−x})` (1 for small `x`).
pub fn changes_given_some(x: f64) -> f64 {
    if !x.is_finite() || x <= 1e-9 {
        return 1.0;
    }
    x / -(-x).exp_m1()
}

/// What the layer remembers of one key.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KeyRecord {
    /// Discounted count of fetches whose answer had changed.
    pub changes: f64,
    /// Discounted time observed between fetches, in seconds.
    pub exposure_s: f64,
    /// Fingerprint of the last answer fetched.
    pub fingerprint: u64,
    /// When it was fetched (unix ms).
    pub fetched_at_ms: u64,
    /// Decayed request count, as of `popularity_at_ms`.
    pub popularity: f64,
    /// When the count was last decayed (unix ms).
    pub popularity_at_ms: u64,
    /// Requests after the first, faded with a half-life of [`AdaptiveConfig::memory`], as of
    /// `popularity_at_ms`: with `first_seen_ms`, the long-run request rate.
    pub requests: f64,
    /// When the key was first requested (unix ms).
    pub first_seen_ms: u64,
    /// When the static policy's entry for this key would expire (unix ms): a request at or
    /// after it would have cost the static policy an upstream call.
    pub static_until_ms: u64,
    /// The TTL last chosen, in ms.
    pub ttl_ms: u64,
    /// The change rate estimated then, per second.
    pub rate_per_s: f64,
}

/// What the layer knows of one class (kind) of keys: sums over its keys' observations.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ClassRecord {
    /// Fetches whose answer had changed.
    pub changes: f64,
    /// Time observed between fetches, in seconds.
    pub exposure_s: f64,
    /// When the sums were last faded (unix ms).
    pub updated_ms: u64,
}

/// A bounded copy of learned state, for persisting and sharing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LearnedSnapshot {
    /// Keys, most popular first.
    pub keys: Vec<(String, KeyRecord)>,
    /// Classes by name.
    pub classes: Vec<(String, ClassRecord)>,
}

const SNAPSHOT_MAGIC: &[u8; 4] = b"ALL2";
/// The form before keys carried their long-run request counts (still read).
const SNAPSHOT_MAGIC_V1: &[u8; 4] = b"ALL1";

impl LearnedSnapshot {
    /// A compact binary form (versioned): for a cache entry, a Redis value or a store row.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.keys.len() * 96);
        out.extend_from_slice(SNAPSHOT_MAGIC);
        put_u32(&mut out, self.classes.len());
        for (name, c) in &self.classes {
            put_str(&mut out, name);
            out.extend_from_slice(&c.changes.to_be_bytes());
            out.extend_from_slice(&c.exposure_s.to_be_bytes());
            out.extend_from_slice(&c.updated_ms.to_be_bytes());
        }
        put_u32(&mut out, self.keys.len());
        for (key, r) in &self.keys {
            put_str(&mut out, key);
            for v in [
                r.changes,
                r.exposure_s,
                r.popularity,
                r.rate_per_s,
                r.requests,
            ] {
                out.extend_from_slice(&v.to_be_bytes());
            }
            for v in [
                r.fingerprint,
                r.fetched_at_ms,
                r.popularity_at_ms,
                r.ttl_ms,
                r.first_seen_ms,
                r.static_until_ms,
            ] {
                out.extend_from_slice(&v.to_be_bytes());
            }
        }
        out
    }

    /// Reads [`LearnedSnapshot::encode`]'s form; `None` when it is not one.
    pub fn decode(mut bytes: &[u8]) -> Option<LearnedSnapshot> {
        let v1 = match bytes.get(..4)? {
            m if m == SNAPSHOT_MAGIC => false,
            m if m == SNAPSHOT_MAGIC_V1 => true,
            _ => return None,
        };
        bytes = &bytes[4..];
        let mut snap = LearnedSnapshot::default();
        for _ in 0..take_u32(&mut bytes)? {
            let name = take_str(&mut bytes)?;
            let changes = take_f64(&mut bytes)?;
            let exposure_s = take_f64(&mut bytes)?;
            let updated_ms = take_u64(&mut bytes)?;
            snap.classes.push((
                name,
                ClassRecord {
                    changes,
                    exposure_s,
                    updated_ms,
                },
            ));
        }
        for _ in 0..take_u32(&mut bytes)? {
            let key = take_str(&mut bytes)?;
            let (changes, exposure_s, popularity, rate_per_s) = (
                take_f64(&mut bytes)?,
                take_f64(&mut bytes)?,
                take_f64(&mut bytes)?,
                take_f64(&mut bytes)?,
            );
            let requests = if v1 { 0.0 } else { take_f64(&mut bytes)? };
            let (fingerprint, fetched_at_ms, popularity_at_ms, ttl_ms) = (
                take_u64(&mut bytes)?,
                take_u64(&mut bytes)?,
                take_u64(&mut bytes)?,
                take_u64(&mut bytes)?,
            );
            // An old record's keys count from when they were saved.
            let (first_seen_ms, static_until_ms) = if v1 {
                (popularity_at_ms, 0)
            } else {
                (take_u64(&mut bytes)?, take_u64(&mut bytes)?)
            };
            snap.keys.push((
                key,
                KeyRecord {
                    changes,
                    exposure_s,
                    fingerprint,
                    fetched_at_ms,
                    popularity,
                    popularity_at_ms,
                    requests,
                    first_seen_ms,
                    static_until_ms,
                    ttl_ms,
                    rate_per_s,
                },
            ));
        }
        bytes.is_empty().then_some(snap)
    }
}

fn put_u32(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_u32(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if bytes.len() < n {
        return None;
    }
    let (head, rest) = bytes.split_at(n);
    *bytes = rest;
    Some(head)
}

fn take_u32(bytes: &mut &[u8]) -> Option<usize> {
    Some(u32::from_be_bytes(take(bytes, 4)?.try_into().ok()?) as usize)
}

fn take_u64(bytes: &mut &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(take(bytes, 8)?.try_into().ok()?))
}

fn take_f64(bytes: &mut &[u8]) -> Option<f64> {
    let v = f64::from_be_bytes(take(bytes, 8)?.try_into().ok()?);
    (v.is_finite() && v >= 0.0).then_some(v)
}

fn take_str(bytes: &mut &[u8]) -> Option<String> {
    let n = take_u32(bytes)?;
    String::from_utf8(take(bytes, n)?.to_vec()).ok()
}

/// Upper edges of the TTL histogram buckets, in seconds (the last bucket is open).
pub const TTL_BUCKETS_S: [u64; 10] = [
    60, 300, 900, 1800, 3600, 7200, 21_600, 43_200, 86_400, 604_800,
];

/// What the learner reports about itself.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LearnerStats {
    /// Keys remembered now.
    pub keys: u64,
    /// The most keys remembered.
    pub max_keys: u64,
    /// Keys dropped for space.
    pub evictions: u64,
    /// Fetches compared with the previous answer.
    pub observations: u64,
    /// Of those, fetches whose answer had changed.
    pub changes_observed: u64,
    /// Refresh-ahead calls started.
    pub refresh_ahead: u64,
    /// Refresh-ahead calls the budget refused.
    pub refresh_ahead_denied: u64,
    /// TTLs chosen at store time, counted per [`TTL_BUCKETS_S`] bucket (one more for above).
    pub ttl_histogram: Vec<u64>,
    /// Sum of the TTLs chosen, in seconds.
    pub ttl_sum_s: f64,
    /// The target stale share.
    pub target_stale: f64,
    /// The expected stale share of answers over the remembered keys, weighted by popularity.
    pub estimated_stale: f64,
    /// The worth of a stale answer in upstream calls, as tuned to meet the target.
    pub stale_cost: f64,
    /// Upstream calls made lately as a share of what the static policy would have made for the
    /// same requests (0 before any).
    pub call_share: f64,
    /// The cap on that share (`CACHE_CALL_BUDGET`; 0 for none).
    pub call_budget: f64,
}

const SHARDS: usize = 32;
/// One shard of the per-key records.
type Shard = HashMap<Box<str>, KeyRecord>;
/// `μ` before any calibration: a stale answer is worth 100 upstream calls.
const INITIAL_STALE_COST: f64 = 100.0;
/// What a key's request rate starts from: this many requests over this many seconds (one a
/// day), so a key seen once is judged rare until it is asked for again.
pub const REQUEST_PRIOR: (f64, f64) = (0.5, 43_200.0);
/// Half-life of the call counts the budget compares.
const CALL_MEMORY: Duration = Duration::from_secs(24 * 3600);
/// The share of the call budget `μ` is steered to: the counts are noisy and lag the TTLs
/// chosen, so aiming at the cap itself would cross it about half the time.
const CALL_BUDGET_AIM: f64 = 0.99;
/// Static calls counted before the budget is applied (fewer say too little).
const CALL_BUDGET_MIN_CALLS: f64 = 100.0;
/// The most `μ` moves in one calibration, down and up: small steps, because what it steers
/// (stale answers, calls) follows a new `μ` only as entries expire, and larger ones swing it.
const STEP: (f64, f64) = (0.93, 1.075);
/// Fetches between two calibrations of `μ`.
const RECALIBRATE_EVERY: u64 = 512;

/// Learned per-key state and the decisions made from it. Attach to a layer with
/// [`crate::CacheLayer::with_learner`].
pub struct Learner {
    config: AdaptiveConfig,
    x_star: f64,
    /// `μ` of [`cost_rate`], as f64 bits.
    mu: AtomicU64,
    fetches: AtomicU64,
    clock: SharedClock,
    shards: Box<[Mutex<Shard>]>,
    classes: Mutex<HashMap<Box<str>, ClassRecord>>,
    budget: Option<Arc<dyn RefreshBudget>>,
    evictions: AtomicU64,
    observations: AtomicU64,
    changes_observed: AtomicU64,
    refresh_ahead: AtomicU64,
    refresh_ahead_denied: AtomicU64,
    ttl_histogram: [AtomicU64; TTL_BUCKETS_S.len() + 1],
    ttl_sum_s: AtomicU64,
    calls: Mutex<CallCounts>,
}

/// Faded counts of upstream calls: the adaptive policy's and the static policy's.
#[derive(Clone, Copy, Debug, Default)]
struct CallCounts {
    adaptive: f64,
    fixed: f64,
    at_ms: u64,
}

impl CallCounts {
    fn fade_to(&mut self, now_ms: u64) {
        let dt = secs(now_ms.saturating_sub(self.at_ms));
        let m = (-dt / CALL_MEMORY.as_secs_f64()).exp2();
        self.adaptive *= m;
        self.fixed *= m;
        self.at_ms = self.at_ms.max(now_ms);
    }

    /// Adaptive calls over static ones, once there are enough of the latter.
    fn share(&self) -> Option<f64> {
        (self.fixed >= CALL_BUDGET_MIN_CALLS).then(|| self.adaptive / self.fixed)
    }
}

impl std::fmt::Debug for Learner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Learner")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Each section leaves the map consistent, so a poisoned lock is usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[allow(clippy::cast_precision_loss)]
fn secs(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

/// The class of a key: everything before its last `:` (`products:real:1a2b…`), so a kind's keys
/// of one mode and scope pool their estimates, and mock and real never do.
pub fn class_of(key: &str) -> &str {
    key.rfind(':').map_or("", |i| &key[..i])
}

impl Learner {
    /// A learner judging time by `clock`; refresh-ahead only with a `budget`.
    pub fn new(
        config: AdaptiveConfig,
        clock: SharedClock,
        budget: Option<Arc<dyn RefreshBudget>>,
    ) -> Self {
        Learner {
            x_star: stale_budget_x(config.target_stale),
            mu: AtomicU64::new(INITIAL_STALE_COST.to_bits()),
            fetches: AtomicU64::new(0),
            config,
            clock,
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            classes: Mutex::new(HashMap::new()),
            budget,
            evictions: AtomicU64::new(0),
            observations: AtomicU64::new(0),
            changes_observed: AtomicU64::new(0),
            refresh_ahead: AtomicU64::new(0),
            refresh_ahead_denied: AtomicU64::new(0),
            ttl_histogram: Default::default(),
            ttl_sum_s: AtomicU64::new(0),
            calls: Mutex::new(CallCounts::default()),
        }
    }

    fn count_call(&self, now_ms: u64, fixed: bool) {
        let mut calls = lock(&self.calls);
        calls.fade_to(now_ms);
        if fixed {
            calls.fixed += 1.0;
        } else {
            calls.adaptive += 1.0;
        }
    }

    /// The configuration.
    pub fn config(&self) -> &AdaptiveConfig {
        &self.config
    }

    fn shard(&self, key: &str) -> &Mutex<Shard> {
        let i = usize::try_from(fingerprint(key.as_bytes()) % SHARDS as u64).unwrap_or(0);
        &self.shards[i]
    }

    fn half_life_ms(&self) -> f64 {
        secs(duration_ms(self.config.popularity_half_life)).max(0.001) * 1000.0
    }

    fn decayed(&self, r: &KeyRecord, now_ms: u64) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let dt = now_ms.saturating_sub(r.popularity_at_ms) as f64;
        r.popularity * (-dt / self.half_life_ms()).exp2()
    }

    /// Requests a second the decayed count implies (count × ln 2 / half-life).
    fn rate_per_s(&self, popularity: f64) -> f64 {
        popularity * std::f64::consts::LN_2 / (self.half_life_ms() / 1000.0)
    }

    /// `r.requests` faded to `now_ms`.
    fn long_run_requests(&self, r: &KeyRecord, now_ms: u64) -> f64 {
        r.requests * self.fade(secs(now_ms.saturating_sub(r.popularity_at_ms)))
    }

    /// The long-run request rate of a key, per second: its requests after the first over the
    /// time since then, both faded with the observation half-life ([`AdaptiveConfig::memory`]),
    /// with [`REQUEST_PRIOR`]'s pseudo-requests. Unlike the popularity count (which includes the
    /// request being served and forgets within hours), it tells a key asked for every few days
    /// from one asked for twice a day.
    pub fn request_rate(&self, r: &KeyRecord, now_ms: u64) -> f64 {
        let half_life = self.config.memory.as_secs_f64().max(1.0);
        let age = secs(now_ms.saturating_sub(r.first_seen_ms));
        let span = half_life / std::f64::consts::LN_2
            * -(-age / half_life * std::f64::consts::LN_2).exp_m1();
        let (pseudo, over_s) = REQUEST_PRIOR;
        (self.long_run_requests(r, now_ms) + pseudo) / (span + over_s)
    }

    /// Counts one request for `key`, whose kind's fixed TTL is `static_ttl`; returns its
    /// requests a second. One shard lock, no allocation for a known key.
    pub(crate) fn touch(&self, key: &str, now_ms: u64, static_ttl: Duration) -> f64 {
        let mut shard = lock(self.shard(key));
        let static_until_ms = now_ms.saturating_add(duration_ms(static_ttl));
        if let Some(r) = shard.get_mut(key) {
            r.requests = self.long_run_requests(r, now_ms) + 1.0;
            r.popularity = self.decayed(r, now_ms) + 1.0;
            r.popularity_at_ms = now_ms;
            let static_call = now_ms >= r.static_until_ms;
            if static_call {
                r.static_until_ms = static_until_ms;
            }
            let rate = self.rate_per_s(r.popularity);
            drop(shard);
            if static_call {
                self.count_call(now_ms, true);
            }
            return rate;
        }
        self.insert(
            &mut shard,
            key,
            KeyRecord {
                changes: 0.0,
                exposure_s: 0.0,
                fingerprint: 0,
                fetched_at_ms: 0,
                popularity: 1.0,
                popularity_at_ms: now_ms,
                requests: 0.0,
                first_seen_ms: now_ms,
                static_until_ms,
                ttl_ms: 0,
                rate_per_s: 0.0,
            },
            now_ms,
        );
        drop(shard);
        self.count_call(now_ms, true);
        self.rate_per_s(1.0)
    }

    fn insert(&self, shard: &mut Shard, key: &str, record: KeyRecord, now_ms: u64) {
        let cap = (self.config.max_keys / SHARDS).max(1);
        if shard.len() >= cap {
            // Drop the least popular eighth (at least one) so eviction is amortised.
            let mut scores: Vec<(f64, Box<str>)> = shard
                .iter()
                .map(|(k, r)| (self.decayed(r, now_ms), k.clone()))
                .collect();
            let n = (cap / 8).max(1).min(scores.len());
            scores.select_nth_unstable_by(n - 1, |a, b| a.0.total_cmp(&b.0));
            for (_, k) in scores.into_iter().take(n) {
                shard.remove(&k);
            }
            self.evictions.fetch_add(n as u64, Ordering::Relaxed);
        }
        shard.insert(key.into(), record);
    }

    /// The factor that fades past observations after `elapsed_s` more seconds.
    fn fade(&self, elapsed_s: f64) -> f64 {
        let half_life = self.config.memory.as_secs_f64().max(1.0);
        (-elapsed_s / half_life).exp2()
    }

    fn class_rate(&self, class: &str, static_ttl: Duration) -> f64 {
        let prior = self.prior(static_ttl);
        let classes = lock(&self.classes);
        let c = classes.get(class).copied().unwrap_or_default();
        let alpha = self.config.prior_weight.max(1e-3);
        (alpha + c.changes) / (alpha / prior + c.exposure_s)
    }

    /// The rate at which the static TTL meets the target: the class's starting point.
    fn prior(&self, static_ttl: Duration) -> f64 {
        self.x_star / secs(duration_ms(static_ttl)).max(1.0)
    }

    /// Records a fetch of `key` that produced `value` at `now_ms` and returns the TTL to store
    /// it with: learned, within `bounds`.
    pub(crate) fn learn(
        &self,
        key: &str,
        value: &[u8],
        now_ms: u64,
        static_ttl: Duration,
        bounds: TtlBounds,
    ) -> Duration {
        self.count_call(now_ms, false);
        let fp = fingerprint(value);
        let class = class_of(key);
        let prior_class_rate = self.class_rate(class, static_ttl);
        let observation = {
            let mut shard = lock(self.shard(key));
            match shard.get_mut(key) {
                Some(r) if r.fetched_at_ms > 0 && now_ms > r.fetched_at_ms => {
                    let exposure = secs(now_ms - r.fetched_at_ms);
                    let changed = r.fingerprint != fp;
                    // A changed answer means at least one change: count the expected number
                    // given that, under the estimate so far (an online EM step), so long
                    // intervals do not understate fast keys.
                    let expected = if changed {
                        let before = self.rate_for(prior_class_rate, r.changes, r.exposure_s);
                        changes_given_some(before * exposure)
                    } else {
                        0.0
                    };
                    let m = self.fade(exposure);
                    r.changes = r.changes * m + expected;
                    r.exposure_s = r.exposure_s * m + exposure;
                    r.fingerprint = fp;
                    r.fetched_at_ms = now_ms;
                    Some((exposure, changed, expected, *r))
                }
                Some(r) => {
                    r.fingerprint = fp;
                    r.fetched_at_ms = now_ms;
                    None
                }
                None => {
                    let record = KeyRecord {
                        changes: 0.0,
                        exposure_s: 0.0,
                        fingerprint: fp,
                        fetched_at_ms: now_ms,
                        popularity: 0.0,
                        popularity_at_ms: now_ms,
                        requests: 0.0,
                        first_seen_ms: now_ms,
                        static_until_ms: 0,
                        ttl_ms: 0,
                        rate_per_s: 0.0,
                    };
                    self.insert(&mut shard, key, record, now_ms);
                    None
                }
            }
        };
        if let Some((exposure, changed, expected, _)) = observation {
            self.observations.fetch_add(1, Ordering::Relaxed);
            if changed {
                self.changes_observed.fetch_add(1, Ordering::Relaxed);
            }
            let mut classes = lock(&self.classes);
            let c = classes.entry(class.into()).or_default();
            let m = self.fade(secs(now_ms.saturating_sub(c.updated_ms)));
            c.changes = c.changes * m + expected;
            c.exposure_s = c.exposure_s * m + exposure;
            c.updated_ms = now_ms;
        }
        if self.fetches.fetch_add(1, Ordering::Relaxed) % RECALIBRATE_EVERY == RECALIBRATE_EVERY - 1
        {
            self.recalibrate();
        }
        let class_rate = self.class_rate(class, static_ttl);
        let (changes, exposure) =
            observation.map_or((0.0, 0.0), |(_, _, _, r)| (r.changes, r.exposure_s));
        let rate = self.rate_for(class_rate, changes, exposure);
        let requests = lock(self.shard(key))
            .get(key)
            .map_or(0.0, |r| self.request_rate(r, now_ms));
        let ttl = self.ttl_from_rates(rate, requests, bounds);
        if let Some(r) = lock(self.shard(key)).get_mut(key) {
            r.ttl_ms = duration_ms(ttl);
            r.rate_per_s = rate;
        }
        self.record_ttl(ttl);
        ttl
    }

    /// The TTL for a key with `changes` over `exposure_s` seconds in a class of `class_rate`,
    /// requested `requests_per_s` times a second (0 when unknown: judged as if very hot).
    pub fn ttl_for(
        &self,
        class_rate: f64,
        changes: f64,
        exposure_s: f64,
        requests_per_s: f64,
        bounds: TtlBounds,
    ) -> Duration {
        self.ttl_from_rates(
            self.rate_for(class_rate, changes, exposure_s),
            requests_per_s,
            bounds,
        )
    }

    /// The gamma-Poisson estimate: `(α + changes) / (α / class_rate + exposure)`, per second.
    fn rate_for(&self, class_rate: f64, changes: f64, exposure_s: f64) -> f64 {
        let alpha = self.config.prior_weight.max(1e-3);
        (alpha + changes.max(0.0)) / (alpha / class_rate.max(1e-12) + exposure_s.max(0.0))
    }

    /// The `T` within `bounds` that minimises upstream calls plus `μ` × stale answers per unit
    /// of time, [`cost_rate`]; `μ` (the worth of a stale answer in calls) is tuned by
    /// [`Learner::recalibrate`] so the expected stale share of all answers meets the target.
    fn ttl_from_rates(&self, change_rate: f64, requests_per_s: f64, bounds: TtlBounds) -> Duration {
        let mu = f64::from_bits(self.mu.load(Ordering::Relaxed));
        let r = if requests_per_s > 0.0 {
            requests_per_s
        } else {
            self.rate_per_s(1.0)
        };
        let cost = |log_t: f64| cost_rate(change_rate, r, log_t.exp(), mu);
        let (lo, hi) = (
            bounds.min.as_secs_f64().max(1e-3).ln(),
            bounds.max.as_secs_f64().max(1e-3).ln(),
        );
        // Golden-section search on log T (the cost falls, then rises).
        let g = (5f64.sqrt() - 1.0) / 2.0;
        let (mut a, mut b) = (lo, hi);
        for _ in 0..60 {
            let (c, d) = (b - g * (b - a), a + g * (b - a));
            if cost(c) <= cost(d) {
                b = d;
            } else {
                a = c;
            }
        }
        let best = [lo, (a + b) / 2.0, hi]
            .into_iter()
            .min_by(|x, y| cost(*x).total_cmp(&cost(*y)))
            .unwrap_or(lo);
        let ttl = if best.is_finite() {
            best.exp()
        } else {
            lo.exp()
        };
        bounds.clamp(Duration::try_from_secs_f64(ttl).unwrap_or(bounds.min))
    }

    /// Moves `μ` so the request-weighted expected stale share of answers approaches the
    /// target: multiplied by `(estimate / target)^½`, within `STEP` (×0.93 to ×1.075) a step;
    /// while the upstream calls exceed [`AdaptiveConfig::call_budget`] × the static policy's, by at most
    /// `(budget / share)^3` instead (calls grow about as `μ^¼`), so the cap wins over the
    /// target. Returns the estimate.
    pub fn recalibrate(&self) -> f64 {
        let estimate = self.estimated_stale();
        let target = self.config.target_stale.clamp(1e-6, 0.99);
        let mut step = if estimate > 0.0 {
            (estimate / target).sqrt().clamp(STEP.0, STEP.1)
        } else {
            1.0
        };
        let budget = self.config.call_budget;
        if budget > 0.0
            && let Some(share) = self.call_share()
            && share > 0.0
        {
            step = step.min(
                (CALL_BUDGET_AIM * budget / share)
                    .powi(3)
                    .clamp(STEP.0, STEP.1),
            );
        }
        let mu = (f64::from_bits(self.mu.load(Ordering::Relaxed)) * step).clamp(1e-3, 1e9);
        self.mu.store(mu.to_bits(), Ordering::Relaxed);
        estimate
    }

    /// Upstream calls made lately over what the static policy would have made, once there is
    /// enough to tell.
    fn call_share(&self) -> Option<f64> {
        let mut calls = lock(&self.calls);
        calls.fade_to(self.clock.now_ms());
        calls.share()
    }

    /// The worth of a stale answer, in upstream calls, as now tuned.
    pub fn stale_cost(&self) -> f64 {
        f64::from_bits(self.mu.load(Ordering::Relaxed))
    }

    fn record_ttl(&self, ttl: Duration) {
        let s = ttl.as_secs();
        let i = TTL_BUCKETS_S
            .iter()
            .position(|edge| s <= *edge)
            .unwrap_or(TTL_BUCKETS_S.len());
        self.ttl_histogram[i].fetch_add(1, Ordering::Relaxed);
        self.ttl_sum_s.fetch_add(s, Ordering::Relaxed);
    }

    /// Whether a hit at `now_ms` on an entry fresh from `stored_at_ms` to `fresh_until_ms`, of a
    /// key requested `rate` times a second, calls for a refresh ahead of expiry: in the last
    /// part of its life, and expected to be requested again within its next life. Always false
    /// without a budget.
    pub(crate) fn wants_refresh(
        &self,
        rate: f64,
        now_ms: u64,
        stored_at_ms: u64,
        fresh_until_ms: u64,
    ) -> bool {
        if self.budget.is_none() {
            return false;
        }
        let life = fresh_until_ms.saturating_sub(stored_at_ms);
        let left = fresh_until_ms.saturating_sub(now_ms);
        #[allow(clippy::cast_precision_loss)]
        let window = life as f64 * self.config.refresh_ahead_share;
        #[allow(clippy::cast_precision_loss)]
        let in_window = left as f64 <= window;
        in_window && rate * secs(life) >= self.config.refresh_ahead_min_requests
    }

    /// Takes a refresh-ahead turn from the budget, counting the outcome.
    pub(crate) fn take_budget(&self) -> bool {
        let granted = self.budget.as_ref().is_some_and(|b| b.try_acquire());
        let counter = if granted {
            &self.refresh_ahead
        } else {
            &self.refresh_ahead_denied
        };
        counter.fetch_add(1, Ordering::Relaxed);
        granted
    }

    /// The counters, the TTL histogram and the popularity-weighted expected stale share.
    pub fn stats(&self) -> LearnerStats {
        let keys = self.shards.iter().map(|s| lock(s).len() as u64).sum();
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        LearnerStats {
            keys,
            max_keys: self.config.max_keys as u64,
            evictions: load(&self.evictions),
            observations: load(&self.observations),
            changes_observed: load(&self.changes_observed),
            refresh_ahead: load(&self.refresh_ahead),
            refresh_ahead_denied: load(&self.refresh_ahead_denied),
            ttl_histogram: self.ttl_histogram.iter().map(load).collect(),
            #[allow(clippy::cast_precision_loss)]
            ttl_sum_s: load(&self.ttl_sum_s) as f64,
            target_stale: self.config.target_stale,
            estimated_stale: self.estimated_stale(),
            stale_cost: self.stale_cost(),
            call_share: self.call_share().unwrap_or(0.0),
            call_budget: self.config.call_budget.max(0.0),
        }
    }

    /// The expected stale share of answers over the remembered keys, weighted by their
    /// request rates ([`answer_stale_share`] at each key's last TTL).
    pub fn estimated_stale(&self) -> f64 {
        let now = self.clock.now_ms();
        let (mut weight, mut stale) = (0.0, 0.0);
        for shard in self.shards.iter() {
            let shard = lock(shard);
            for r in shard.values() {
                if r.ttl_ms == 0 {
                    continue;
                }
                let w = self.request_rate(r, now);
                weight += w;
                stale += w * answer_stale_share(r.rate_per_s, w, secs(r.ttl_ms));
            }
        }
        if weight > 0.0 { stale / weight } else { 0.0 }
    }

    /// At most `limit` keys (the most popular) and every class, for persisting or sharing.
    pub fn export(&self, limit: usize) -> LearnedSnapshot {
        let now = self.clock.now_ms();
        let mut keys: Vec<(f64, String, KeyRecord)> = Vec::new();
        for shard in self.shards.iter() {
            for (k, r) in lock(shard).iter() {
                if r.fetched_at_ms > 0 {
                    keys.push((self.decayed(r, now), k.to_string(), *r));
                }
            }
        }
        keys.sort_by(|a, b| b.0.total_cmp(&a.0));
        keys.truncate(limit);
        LearnedSnapshot {
            keys: keys.into_iter().map(|(_, k, r)| (k, r)).collect(),
            classes: lock(&self.classes)
                .iter()
                .map(|(k, c)| (k.to_string(), *c))
                .collect(),
        }
    }

    /// Merges a snapshot (from a restart or another instance): a key takes the record fetched
    /// last, its popularity the larger; a class takes the sums with more exposure.
    pub fn import(&self, snapshot: &LearnedSnapshot) {
        let now = self.clock.now_ms();
        for (key, theirs) in &snapshot.keys {
            let mut shard = lock(self.shard(key));
            match shard.get_mut(key.as_str()) {
                Some(ours) => {
                    let pop = self.decayed(ours, now).max(self.decayed(theirs, now));
                    let requests = self
                        .long_run_requests(ours, now)
                        .max(self.long_run_requests(theirs, now));
                    let first_seen_ms = ours.first_seen_ms.min(theirs.first_seen_ms);
                    let static_until_ms = ours.static_until_ms.max(theirs.static_until_ms);
                    if theirs.fetched_at_ms > ours.fetched_at_ms {
                        *ours = *theirs;
                    }
                    ours.popularity = pop;
                    ours.requests = requests;
                    ours.first_seen_ms = first_seen_ms;
                    ours.static_until_ms = static_until_ms;
                    ours.popularity_at_ms = now;
                }
                None => self.insert(&mut shard, key, *theirs, now),
            }
        }
        let mut classes = lock(&self.classes);
        for (name, theirs) in &snapshot.classes {
            let ours = classes.entry(name.as_str().into()).or_default();
            if theirs.exposure_s > ours.exposure_s {
                *ours = *theirs;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Clock, ManualClock};
    use proptest::prelude::*;

    fn learner(config: AdaptiveConfig) -> (Learner, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(1_000_000));
        (Learner::new(config, clock.clone(), None), clock)
    }

    const HOUR: Duration = Duration::from_secs(3600);

    fn bounds() -> TtlBounds {
        TtlBounds::new(Duration::from_secs(60), Duration::from_secs(86_400))
    }

    #[test]
    fn the_stale_share_inverts() {
        for s in [0.001, 0.02, 0.1, 0.5] {
            let x = stale_budget_x(s);
            assert!((stale_share(x) - s).abs() < 1e-9, "{s}: {x}");
        }
        // Small x: about x / 2.
        assert!((stale_budget_x(0.02) - 0.0408).abs() < 0.001);
    }

    #[test]
    fn ttls_fall_as_changes_or_requests_rise() {
        let (l, _) = learner(AdaptiveConfig::default());
        let class = 1.0 / 86_400.0;
        let ttl =
            |changes: f64, requests: f64| l.ttl_for(class, changes, 86_400.0, requests, bounds());
        assert!(ttl(0.0, 0.001) > ttl(5.0, 0.001));
        assert!(ttl(5.0, 0.001) > ttl(50.0, 0.001));
        assert!(ttl(5.0, 0.0001) > ttl(5.0, 0.01));
        // Fast changes on a hot key: the shortest TTL; nothing ever changing: the longest.
        assert_eq!(ttl(1e6, 10.0), bounds().min);
        assert_eq!(l.ttl_for(1e-12, 0.0, 1e9, 0.001, bounds()), bounds().max);
    }

    #[test]
    fn the_stale_cost_follows_the_estimate() {
        // Hot keys changing at every fetch, held a day by their bounds: far above the target.
        let day = Duration::from_secs(86_400);
        let fixed = TtlBounds::new(day, day);
        let (l, clock) = learner(AdaptiveConfig::default());
        let before = l.stale_cost();
        for round in 0..5u32 {
            clock.advance(day);
            for k in 0..20 {
                let key = format!("products:real:x:{k}");
                for _ in 0..10 {
                    l.touch(&key, clock.now_ms(), HOUR);
                }
                l.learn(&key, &round.to_be_bytes(), clock.now_ms(), HOUR, fixed);
            }
        }
        assert!(l.recalibrate() > 0.5);
        assert!(l.stale_cost() > before, "a stale answer is worth more now");
        // Keys that never change: far below it.
        let (l, clock) = learner(AdaptiveConfig::default());
        for _ in 0..5u32 {
            clock.advance(day);
            for k in 0..20 {
                let key = format!("products:real:x:{k}");
                l.touch(&key, clock.now_ms(), HOUR);
                l.learn(&key, b"same", clock.now_ms(), HOUR, fixed);
            }
        }
        assert!(l.recalibrate() < 0.01);
        assert!(l.stale_cost() < before, "a stale answer is worth less now");
    }

    #[test]
    fn the_call_budget_caps_the_stale_cost() {
        // Keys fetched every minute, always changed, while the static policy (an hour) would
        // call once an hour: far over the stale target and far over the budget.
        let run = |call_budget: f64| {
            let (l, clock) = learner(AdaptiveConfig {
                target_stale: 0.001,
                call_budget,
                ..AdaptiveConfig::default()
            });
            for minute in 0..30u32 {
                clock.advance(Duration::from_secs(60));
                for k in 0..200 {
                    let key = format!("products:real:x:{k}");
                    l.touch(&key, clock.now_ms(), HOUR);
                    l.learn(&key, &minute.to_be_bytes(), clock.now_ms(), HOUR, bounds());
                }
            }
            let stats = l.stats();
            let before = l.stale_cost();
            l.recalibrate();
            (stats, before, l.stale_cost())
        };
        let (capped, before, after) = run(1.0);
        assert!(capped.call_share > 20.0, "{capped:?}");
        assert!(after < before, "over budget: {before} -> {after}");
        let (free, before, after) = run(0.0);
        assert_eq!(free.call_budget, 0.0);
        assert!(
            after > before,
            "no cap, over the target: {before} -> {after}"
        );
    }

    #[test]
    fn request_rates_tell_rare_keys_from_daily_ones() {
        let (l, clock) = learner(AdaptiveConfig::default());
        let day = 86_400_000;
        // One key asked for every 3 days, one every 8 hours, for four weeks.
        for i in 0..84u64 {
            clock.set(1_000_000 + i * day / 3);
            l.touch("products:real:x:often", clock.now_ms(), HOUR);
            if i % 9 == 0 {
                l.touch("products:real:x:rare", clock.now_ms(), HOUR);
            }
        }
        let rate = |key: &str| {
            let r = *lock(l.shard(key)).get(key).unwrap();
            l.request_rate(&r, clock.now_ms()) * 86_400.0
        };
        let (often, rare) = (rate("products:real:x:often"), rate("products:real:x:rare"));
        assert!((2.0..4.0).contains(&often), "{often} a day, not 3");
        assert!((0.2..0.6).contains(&rare), "{rare} a day, not 1/3");
        // A key seen once is judged rare: about one request a day.
        l.touch("products:real:x:new", clock.now_ms(), HOUR);
        assert!(rate("products:real:x:new") <= 1.0);
    }

    #[test]
    fn stable_keys_lengthen_and_changing_keys_shorten() {
        let (l, _) = learner(AdaptiveConfig::default());
        // Each key is fetched again when its entry expires.
        let (mut stable_at, mut volatile_at) = (1_000_000, 1_000_000);
        let (mut stable, mut volatile) = (HOUR, HOUR);
        let first = l.learn("details:real:x:stable", b"same", stable_at, HOUR, bounds());
        for i in 0..60u32 {
            stable_at += duration_ms(stable);
            stable = l.learn("details:real:x:stable", b"same", stable_at, HOUR, bounds());
            volatile_at += duration_ms(volatile);
            volatile = l.learn(
                "products:real:x:volatile",
                &i.to_be_bytes(),
                volatile_at,
                HOUR,
                bounds(),
            );
        }
        assert!(stable > 2 * first, "{stable:?} from {first:?}");
        assert!(stable > 20 * volatile, "{stable:?} vs {volatile:?}");
        assert_eq!(volatile, bounds().min, "{volatile:?}");
        let stats = l.stats();
        assert_eq!(stats.observations, 119);
        assert_eq!(stats.changes_observed, 59);
    }

    #[test]
    fn a_new_key_takes_its_class_rate() {
        let (l, _) = learner(AdaptiveConfig::default());
        let mut now = 1_000_000;
        for round in 0..20u32 {
            now += 3_600_000;
            for k in 0..10 {
                l.learn(
                    &format!("products:real:x:{k}"),
                    &round.to_be_bytes(),
                    now,
                    HOUR,
                    bounds(),
                );
            }
        }
        // Every key changed every hour: a new key of the class starts short, another class not.
        let new = l.learn("products:real:x:new", b"v", now, HOUR, bounds());
        assert!(new < Duration::from_secs(600), "{new:?}");
        let other = l.learn("details:real:x:new", b"v", now, HOUR, bounds());
        assert!(other > 4 * new, "{other:?} vs {new:?}");
    }

    #[test]
    fn state_is_bounded_and_keeps_the_popular_keys() {
        let (l, clock) = learner(AdaptiveConfig {
            max_keys: 64,
            ..AdaptiveConfig::default()
        });
        for _ in 0..50 {
            l.touch("hot", clock.now_ms(), HOUR);
        }
        for i in 0..1000 {
            l.touch(&format!("cold{i}"), clock.now_ms(), HOUR);
        }
        let stats = l.stats();
        assert!(stats.keys <= 64, "{}", stats.keys);
        assert!(stats.evictions > 900);
        assert!(lock(l.shard("hot")).contains_key("hot"));
    }

    #[test]
    fn snapshots_round_trip_and_merge() {
        let (a, _) = learner(AdaptiveConfig::default());
        a.learn("products:real:x:k", b"v1", 2_000_000, HOUR, bounds());
        a.learn("products:real:x:k", b"v2", 5_600_000, HOUR, bounds());
        let snap = a.export(10);
        let bytes = snap.encode();
        assert_eq!(LearnedSnapshot::decode(&bytes), Some(snap.clone()));
        assert_eq!(LearnedSnapshot::decode(&bytes[..bytes.len() - 1]), None);
        assert_eq!(LearnedSnapshot::decode(b"nope"), None);
        // The form before request counts is still read: its keys count from when it was saved.
        let mut v1 = b"ALL1".to_vec();
        put_u32(&mut v1, 0);
        put_u32(&mut v1, 1);
        put_str(&mut v1, "products:real:x:k");
        for v in [1.0f64, 3600.0, 2.0, 0.001] {
            v1.extend_from_slice(&v.to_be_bytes());
        }
        for v in [7u64, 5_600_000, 5_600_000, 60_000] {
            v1.extend_from_slice(&v.to_be_bytes());
        }
        let old = LearnedSnapshot::decode(&v1).unwrap();
        let (_, r) = &old.keys[0];
        assert_eq!(
            (
                r.fingerprint,
                r.first_seen_ms,
                r.requests,
                r.static_until_ms
            ),
            (7, 5_600_000, 0.0, 0)
        );
        let (b, _) = learner(AdaptiveConfig::default());
        b.import(&snap);
        assert_eq!(b.export(10).keys, snap.keys);
        // The next fetch compares with the imported fingerprint.
        b.learn("products:real:x:k", b"v2", 9_200_000, HOUR, bounds());
        assert_eq!((b.stats().observations, b.stats().changes_observed), (1, 0));
    }

    #[test]
    fn the_budget_paces_refresh_ahead_and_respects_idle() {
        let clock = Arc::new(ManualClock::new(1_000_000));
        let busy = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let b2 = busy.clone();
        let budget = RateBudget::new(clock.clone(), 2.0, move || !b2.load(Ordering::SeqCst));
        assert!(budget.try_acquire());
        assert!(!budget.try_acquire());
        clock.advance(Duration::from_millis(500));
        busy.store(true, Ordering::SeqCst);
        assert!(!budget.try_acquire(), "a busy upstream refuses");
        busy.store(false, Ordering::SeqCst);
        assert!(budget.try_acquire());
    }

    #[test]
    fn only_hot_keys_near_expiry_refresh_ahead() {
        let clock = Arc::new(ManualClock::new(1_000_000));
        let budget = Arc::new(RateBudget::new(clock.clone(), 1000.0, || true));
        let l = Learner::new(AdaptiveConfig::default(), clock.clone(), Some(budget));
        // Life 1000 s, 50 s left: in the window. Rate 0.01/s × 1000 s = 10 expected requests
        // (at least the 4 required).
        assert!(l.wants_refresh(0.01, 950_000, 0, 1_000_000));
        // Too early in its life.
        assert!(!l.wants_refresh(0.01, 500_000, 0, 1_000_000));
        // Too cold: 0.0001/s × 1000 s < 1.
        assert!(!l.wants_refresh(0.0001, 950_000, 0, 1_000_000));
        assert!(l.take_budget());
        assert_eq!(l.stats().refresh_ahead, 1);
    }

    proptest! {
        #[test]
        fn no_learned_ttl_leaves_its_bounds(
            min in 0u64..100_000,
            span in 0u64..10_000_000,
            target in 0.0f64..1.5,
            prior in 0.0f64..10.0,
            class_rate in 0.0f64..1e6,
            changes in 0.0f64..1e9,
            exposure in 0.0f64..1e12,
            static_ttl in 0u64..10_000_000,
        ) {
            let b = TtlBounds::new(Duration::from_secs(min), Duration::from_secs(min + span));
            let (l, _) = learner(AdaptiveConfig { target_stale: target, prior_weight: prior, ..AdaptiveConfig::default() });
            let ttl = l.ttl_for(class_rate, changes, exposure, class_rate, b);
            prop_assert!(ttl >= b.min && ttl <= b.max);
            let learned = l.learn("k:a", &changes.to_be_bytes(), 5_000, Duration::from_secs(static_ttl), b);
            prop_assert!(learned >= b.min && learned <= b.max);
        }
    }
}
