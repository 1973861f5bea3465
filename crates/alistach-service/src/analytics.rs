//! Usage analytics: every API and MCP call counted per minute in memory, flushed to the
//! store's [`AnalyticsStore`] every minute (and at shutdown), and read back as an overview,
//! time series and keyword lists.
//!
//! Recording ([`Analytics::record`], [`Analytics::search`]) costs a lock on one of a few
//! shards (picked per thread, so requests on different threads never contend), a hash lookup
//! of the tenant, of the client and of the call's dimensions, and a few integer additions; a
//! dimension tuple seen before in the minute allocates nothing. What is kept per minute is
//! bounded by the dimensions seen (tenants × routes × clients × cache statuses × status
//! classes) and, for keywords, by a space-saving top list of [`TOP_KEYWORDS`] per tenant and
//! shard: the cost of a flush depends on what was seen, not on how often.
//!
//! Each instance flushes its own counts with additive upserts under a flush id of its own (no
//! lease): a flush that fails is kept and retried with the same id, so nothing is added twice
//! and nothing accepted is lost while the process lives. Readers see the store plus what this
//! instance has not flushed yet, under the flush lock, so nothing is counted twice or missed.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use alistach_cache::{CacheStatus, FastHash};
use alistach_domain::{Clock, HistogramSnapshot};
use alistach_store::{
    ALL_SEARCHES, AnalyticsBatch, KeywordCounts, KeywordOrder, KeywordRow, Resolution, Store,
    StoreError, UsageCounts, UsageKey, UsageRow, bucket_of,
};

/// Keywords kept per minute and shard (space-saving: exact while a minute sees at most this
/// many distinct keywords, and never under-counting a kept one).
pub const TOP_KEYWORDS: usize = 200;
/// The longest normalised keyword, in characters.
pub const MAX_KEYWORD_CHARS: usize = 100;
/// How often each instance writes its counts.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(60);
/// How long minute rows are kept (hour and day rows: the retention setting).
pub const MINUTE_RETENTION: Duration = Duration::from_secs(2 * 86_400);
/// Flushes kept in memory while the store fails (two hours of minutes); older ones are
/// dropped and counted.
const MAX_UNFLUSHED: usize = 120;
const SHARDS: usize = 16;
const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;

/// How a call's answer came out of the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CacheMark {
    /// Not through the cache (admin, links without cache, errors before it ...).
    None,
    /// A fresh entry.
    Hit,
    /// A stale entry.
    Stale,
    /// Fetched upstream.
    Miss,
    /// Fetched upstream, the cache read skipped on request.
    Bypass,
    /// Another request's fetch of the same question.
    Coalesced,
}

impl CacheMark {
    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            CacheMark::None => "none",
            CacheMark::Hit => "hit",
            CacheMark::Stale => "stale",
            CacheMark::Miss => "miss",
            CacheMark::Bypass => "bypass",
            CacheMark::Coalesced => "coalesced",
        }
    }
}

impl From<CacheStatus> for CacheMark {
    fn from(s: CacheStatus) -> Self {
        match s {
            CacheStatus::Hit => CacheMark::Hit,
            CacheStatus::Stale => CacheMark::Stale,
            CacheStatus::Miss => CacheMark::Miss,
            CacheStatus::Bypass => CacheMark::Bypass,
            CacheStatus::Coalesced => CacheMark::Coalesced,
        }
    }
}

/// One answered call, as the transport saw it.
#[derive(Clone, Copy, Debug)]
pub struct Call<'a> {
    /// The tenant whose call it was (a [`alistach_domain::TenantId`]'s text).
    pub tenant: &'a str,
    /// The route's operation id (`callMcp:<tool>` for an MCP tool call, `callMcp` for other
    /// MCP messages).
    pub route: &'static str,
    /// The client: the key's name or the address key, as the rate limits name it.
    pub client: &'a str,
    /// How the cache answered.
    pub cache: CacheMark,
    /// The HTTP status.
    pub status: u16,
    /// From the request's arrival to its answer.
    pub latency: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Dim {
    route: &'static str,
    cache: CacheMark,
    class: u8,
}

/// A bounded top list of keywords (the space-saving algorithm of Metwally, Agrawal and El
/// Abbadi): a keyword not yet listed, when the list is full, takes the place of the least
/// counted one and inherits its count, so a listed keyword's count is at most over-estimated
/// by the count it inherited ([`TopKeywords::error`]) and a keyword searched more often than
/// `searches / capacity` times is always listed.
#[derive(Debug)]
pub struct TopKeywords {
    capacity: usize,
    index: HashMap<Box<str>, usize, FastHash>,
    entries: Vec<TopEntry>,
}

#[derive(Clone, Debug)]
struct TopEntry {
    keyword: Box<str>,
    counts: KeywordCounts,
    error: u64,
}

impl TopKeywords {
    /// An empty list of at most `capacity` (at least 1) keywords.
    pub fn new(capacity: usize) -> TopKeywords {
        TopKeywords {
            capacity: capacity.max(1),
            index: HashMap::default(),
            entries: Vec::new(),
        }
    }

    /// Counts `counts` for `keyword`; allocates only for a keyword not listed.
    pub fn add(&mut self, keyword: &str, counts: KeywordCounts) {
        if let Some(&i) = self.index.get(keyword) {
            self.entries[i].counts.merge(&counts);
            return;
        }
        if self.entries.len() < self.capacity {
            self.index.insert(keyword.into(), self.entries.len());
            self.entries.push(TopEntry {
                keyword: keyword.into(),
                counts,
                error: 0,
            });
            return;
        }
        // Full: the least counted keyword gives its place (and its count) to this one.
        let Some((i, min)) = self
            .entries
            .iter()
            .enumerate()
            .min_by_key(|(_, e)| e.counts.searches)
            .map(|(i, e)| (i, e.counts.searches))
        else {
            return;
        };
        let evicted = std::mem::replace(&mut self.entries[i].keyword, keyword.into());
        self.index.remove(&evicted);
        self.index.insert(keyword.into(), i);
        self.entries[i].error = min;
        self.entries[i].counts = KeywordCounts {
            searches: min.saturating_add(counts.searches),
            zero_results: counts.zero_results,
            results: counts.results,
        };
    }

    /// Adds every keyword of `other`.
    pub fn merge(&mut self, other: &TopKeywords) {
        for e in &other.entries {
            self.add(&e.keyword, e.counts);
        }
    }

    /// The counts kept for `keyword`, if listed.
    pub fn get(&self, keyword: &str) -> Option<KeywordCounts> {
        self.index.get(keyword).map(|&i| self.entries[i].counts)
    }

    /// How much `keyword`'s count may be over-estimated (0 when it was listed from its first
    /// search).
    pub fn error(&self, keyword: &str) -> Option<u64> {
        self.index.get(keyword).map(|&i| self.entries[i].error)
    }

    /// Keywords listed.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn iter(&self) -> impl Iterator<Item = (&str, KeywordCounts)> {
        self.entries.iter().map(|e| (&*e.keyword, e.counts))
    }
}

/// Normalises search keywords for counting: trimmed, lower case, inner whitespace collapsed to
/// one space, at most [`MAX_KEYWORD_CHARS`] characters; written into `buf` (no allocation).
pub fn normalise_keywords<'b>(text: &str, buf: &'b mut KeywordBuf) -> &'b str {
    if text.is_ascii() {
        normalise_ascii(text.as_bytes(), buf)
    } else {
        normalise_chars(text, buf)
    }
}

/// [`normalise_keywords`] of ASCII text, byte by byte (the usual keywords): an ASCII
/// character is one byte and lower-cases to one byte, and its white space is the six bytes
/// `char::is_whitespace` names. The same steps as [`normalise_chars`], whose result a test
/// holds this to.
fn normalise_ascii<'b>(text: &[u8], buf: &'b mut KeywordBuf) -> &'b str {
    buf.len = 0;
    let mut pending_space = false;
    for &b in text {
        if matches!(b, b' ' | b'\t' | b'\n' | b'\x0B' | b'\x0C' | b'\r') {
            pending_space = buf.len > 0;
            continue;
        }
        if pending_space {
            if buf.len >= MAX_KEYWORD_CHARS {
                break;
            }
            buf.push_ascii(b' ');
            pending_space = false;
        }
        if buf.len >= MAX_KEYWORD_CHARS {
            break;
        }
        buf.push_ascii(b.to_ascii_lowercase());
    }
    buf.as_str()
}

/// [`normalise_keywords`] character by character.
fn normalise_chars<'b>(text: &str, buf: &'b mut KeywordBuf) -> &'b str {
    buf.len = 0;
    let mut chars = 0;
    let mut pending_space = false;
    'outer: for c in text.chars() {
        if c.is_whitespace() {
            pending_space = chars > 0;
            continue;
        }
        if pending_space {
            if chars >= MAX_KEYWORD_CHARS {
                break;
            }
            buf.push(' ');
            chars += 1;
            pending_space = false;
        }
        for l in c.to_lowercase() {
            if chars >= MAX_KEYWORD_CHARS {
                break 'outer;
            }
            buf.push(l);
            chars += 1;
        }
    }
    buf.as_str()
}

/// Room for one normalised keyword on the stack.
#[derive(Debug)]
pub struct KeywordBuf {
    bytes: [u8; MAX_KEYWORD_CHARS * 4],
    len: usize,
}

impl Default for KeywordBuf {
    fn default() -> Self {
        KeywordBuf {
            bytes: [0; MAX_KEYWORD_CHARS * 4],
            len: 0,
        }
    }
}

impl KeywordBuf {
    /// Appends one ASCII byte (the ASCII path stops at [`MAX_KEYWORD_CHARS`], well within).
    fn push_ascii(&mut self, b: u8) {
        if let Some(slot) = self.bytes.get_mut(self.len) {
            *slot = b;
            self.len += 1;
        }
    }

    fn push(&mut self, c: char) {
        let n = c.len_utf8();
        if self.len + n <= self.bytes.len() {
            c.encode_utf8(&mut self.bytes[self.len..self.len + n]);
            self.len += n;
        }
    }

    fn as_str(&self) -> &str {
        // Only whole characters are ever written.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

/// Calls counted per client and dimensions.
type PerClient = HashMap<Box<str>, Dims, FastHash>;
/// Calls counted per dimensions.
type Dims = HashMap<Dim, UsageCounts, FastHash>;

/// One tenant's keyword searches of a minute: their totals and the top list.
#[derive(Debug)]
struct Searches {
    totals: KeywordCounts,
    top: TopKeywords,
}

/// One minute of one shard's counts, per tenant.
#[derive(Debug)]
struct Window {
    minute: i64,
    usage: HashMap<Box<str>, PerClient, FastHash>,
    searches: HashMap<Box<str>, Searches, FastHash>,
}

impl Window {
    fn new(minute: i64) -> Window {
        Window {
            minute,
            usage: HashMap::default(),
            searches: HashMap::default(),
        }
    }

    fn is_empty(&self) -> bool {
        self.usage.is_empty() && self.searches.is_empty()
    }
}

#[derive(Debug)]
struct Shard {
    current: Window,
    /// Earlier minutes not yet taken by a flush.
    sealed: Vec<Window>,
}

impl Shard {
    /// The window of `minute` (a minute later than the current one seals it).
    fn window(&mut self, minute: i64) -> &mut Window {
        if minute > self.current.minute {
            let old = std::mem::replace(&mut self.current, Window::new(minute));
            if !old.is_empty() {
                self.sealed.push(old);
            }
        }
        // A clock stepping back counts into the current minute.
        &mut self.current
    }

    fn take(&mut self) -> Vec<Window> {
        let mut taken = std::mem::take(&mut self.sealed);
        let minute = self.current.minute;
        let current = std::mem::replace(&mut self.current, Window::new(minute));
        if !current.is_empty() {
            taken.push(current);
        }
        taken
    }
}

thread_local! {
    static SHARD: Cell<usize> = const { Cell::new(usize::MAX) };
}
static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

fn shard_index() -> usize {
    SHARD.with(|s| {
        let mut i = s.get();
        if i == usize::MAX {
            i = NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % SHARDS;
            s.set(i);
        }
        i
    })
}

/// The analytics counters of this instance and the use cases that read them with the store.
pub struct Analytics {
    shards: Box<[Mutex<Shard>]>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    mode: &'static str,
    recording: bool,
    retention: Duration,
    instance: String,
    sequence: AtomicU64,
    unflushed: Mutex<VecDeque<AnalyticsBatch>>,
    dropped: AtomicU64,
    flush_lock: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Analytics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analytics")
            .field("mode", &self.mode)
            .field("recording", &self.recording)
            .field("retention", &self.retention)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Counting never panics while holding a shard; recover the data if something did.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Analytics {
    /// Counters for this instance (`instance` names its flushes), over `store`. `mode` is
    /// `mock` or `real`; `recording` false counts nothing (the admin answers still read the
    /// store); hour and day rows are kept for `retention`.
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        mode: &'static str,
        instance: &str,
        recording: bool,
        retention: Duration,
    ) -> Analytics {
        let minute = Resolution::Minute.floor(now_ms(&*clock));
        Analytics {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        current: Window::new(minute),
                        sealed: Vec::new(),
                    })
                })
                .collect(),
            store,
            clock,
            mode,
            recording,
            retention,
            instance: instance.to_owned(),
            sequence: AtomicU64::new(0),
            unflushed: Mutex::new(VecDeque::new()),
            dropped: AtomicU64::new(0),
            flush_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// Now, unix milliseconds, on the clock the minutes are counted by: the admin answers'
    /// default ranges end at this minute.
    pub fn now_ms(&self) -> i64 {
        now_ms(&*self.clock)
    }

    /// True when calls are counted (`ANALYTICS` on).
    pub fn is_recording(&self) -> bool {
        self.recording
    }

    /// Flushes dropped because the store failed for too long.
    pub fn dropped_flushes(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn shard(&self) -> MutexGuard<'_, Shard> {
        lock(&self.shards[shard_index()])
    }

    /// Counts one answered call.
    pub fn record(&self, call: &Call<'_>) {
        if !self.recording {
            return;
        }
        let minute = Resolution::Minute.floor(now_ms(&*self.clock));
        let dim = Dim {
            route: call.route,
            cache: call.cache,
            class: (call.status / 100).clamp(1, 5) as u8,
        };
        let count = |per_client: &mut Dims| {
            let c = per_client.entry(dim).or_default();
            c.requests += 1;
            c.latency.observe(call.latency);
        };
        let mut shard = self.shard();
        let w = shard.window(minute);
        // Two lookups by `&str` when the tenant and the client were seen in this minute (the
        // common case): nothing is allocated, and no map is made (a new map's hasher takes
        // its seed from a counter all threads share).
        if let Some(per_tenant) = w.usage.get_mut(call.tenant) {
            if let Some(seen) = per_tenant.get_mut(call.client) {
                count(seen);
                return;
            }
            let mut per_client = Dims::default();
            count(&mut per_client);
            per_tenant.insert(call.client.into(), per_client);
            return;
        }
        let mut per_client = Dims::default();
        count(&mut per_client);
        let mut per_tenant = PerClient::default();
        per_tenant.insert(call.client.into(), per_client);
        w.usage.insert(call.tenant.into(), per_tenant);
    }

    /// Counts one search of `tenant` (a [`alistach_domain::TenantId`]'s text) for `keywords`
    /// (as the client typed them) that found `results` products. Searches without keywords
    /// are not counted here.
    pub fn search(&self, tenant: &str, keywords: &str, results: u64) {
        if !self.recording {
            return;
        }
        let mut buf = KeywordBuf::default();
        let keyword = normalise_keywords(keywords, &mut buf);
        if keyword.is_empty() {
            return;
        }
        let one = KeywordCounts {
            searches: 1,
            zero_results: u64::from(results == 0),
            results,
        };
        let minute = Resolution::Minute.floor(now_ms(&*self.clock));
        let mut shard = self.shard();
        let w = shard.window(minute);
        if let Some(searches) = w.searches.get_mut(tenant) {
            searches.totals.merge(&one);
            searches.top.add(keyword, one);
            return;
        }
        let mut searches = Searches {
            totals: one,
            top: TopKeywords::new(TOP_KEYWORDS),
        };
        searches.top.add(keyword, one);
        w.searches.insert(tenant.into(), searches);
    }

    /// Writes what was counted since the last flush (and what earlier flushes could not
    /// write) to the store; returns the flushes written. On failure what was taken stays
    /// in memory, to be written under the same flush id next time.
    pub async fn flush(&self) -> Result<usize, StoreError> {
        let _guard = self.flush_lock.lock().await;
        let mut windows: BTreeMap<i64, Vec<Window>> = BTreeMap::new();
        for shard in self.shards.iter() {
            for w in lock(shard).take() {
                windows.entry(w.minute).or_default().push(w);
            }
        }
        if !windows.is_empty() {
            let seq = self.sequence.fetch_add(1, Ordering::Relaxed);
            let batch = self.batch(format!("{}:{seq}", self.instance), windows);
            let mut unflushed = lock(&self.unflushed);
            unflushed.push_back(batch);
            while unflushed.len() > MAX_UNFLUSHED {
                unflushed.pop_front();
                self.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    "analytics: the store failed for too long; the oldest counts were dropped"
                );
            }
        }
        let mut written = 0;
        loop {
            let Some(batch) = lock(&self.unflushed).front().cloned() else {
                return Ok(written);
            };
            self.store.flush_analytics(&batch).await?;
            lock(&self.unflushed).pop_front();
            written += 1;
        }
    }

    fn batch(&self, flush_id: String, windows: BTreeMap<i64, Vec<Window>>) -> AnalyticsBatch {
        let mut batch = AnalyticsBatch {
            flush_id,
            ..AnalyticsBatch::default()
        };
        for (minute, windows) in windows {
            let (usage, keywords) = self.minute_rows(minute, windows.iter());
            batch.usage.extend(usage);
            batch.keywords.extend(keywords);
        }
        batch
    }

    /// One minute's rows from the windows of that minute (one per shard at most).
    fn minute_rows<'w>(
        &self,
        minute: i64,
        windows: impl Iterator<Item = &'w Window>,
    ) -> (Vec<UsageRow>, Vec<KeywordRow>) {
        let mut usage: BTreeMap<UsageKey, UsageCounts> = BTreeMap::new();
        let mut searches: BTreeMap<&str, (KeywordCounts, TopKeywords)> = BTreeMap::new();
        for w in windows {
            for (tenant, clients) in &w.usage {
                for (client, dims) in clients {
                    for (dim, counts) in dims {
                        usage
                            .entry(UsageKey {
                                tenant: tenant.to_string(),
                                route: dim.route.to_owned(),
                                client: client.to_string(),
                                cache: dim.cache.as_str().to_owned(),
                                mode: self.mode.to_owned(),
                                status_class: dim.class,
                            })
                            .or_default()
                            .merge(counts);
                    }
                }
            }
            for (tenant, s) in &w.searches {
                let (totals, top) = searches
                    .entry(tenant)
                    .or_insert_with(|| (KeywordCounts::default(), TopKeywords::new(TOP_KEYWORDS)));
                totals.merge(&s.totals);
                top.merge(&s.top);
            }
        }
        let usage = usage
            .into_iter()
            .map(|(key, counts)| UsageRow {
                bucket_ms: minute,
                key,
                counts,
            })
            .collect();
        let mut keywords: Vec<KeywordRow> = Vec::new();
        for (tenant, (totals, top)) in searches {
            keywords.extend(top.iter().map(|(k, counts)| KeywordRow {
                bucket_ms: minute,
                tenant: tenant.to_owned(),
                keyword: k.to_owned(),
                counts,
            }));
            if totals.searches > 0 {
                keywords.push(KeywordRow {
                    bucket_ms: minute,
                    tenant: tenant.to_owned(),
                    keyword: ALL_SEARCHES.to_owned(),
                    counts: totals,
                });
            }
        }
        (usage, keywords)
    }

    /// What this instance counted and has not written yet, as minute rows. Call it under the
    /// flush lock, so that a flush in progress is neither missed nor counted twice.
    fn memory_rows(&self) -> (Vec<UsageRow>, Vec<KeywordRow>) {
        let mut usage = Vec::new();
        let mut keywords = Vec::new();
        for batch in lock(&self.unflushed).iter() {
            usage.extend(batch.usage.iter().cloned());
            keywords.extend(batch.keywords.iter().cloned());
        }
        for shard in self.shards.iter() {
            let shard = lock(shard);
            for w in shard.sealed.iter().chain([&shard.current]) {
                if w.is_empty() {
                    continue;
                }
                let (u, k) = self.minute_rows(w.minute, std::iter::once(w));
                usage.extend(u);
                keywords.extend(k);
            }
        }
        (usage, keywords)
    }

    /// Removes rows past their retention: minutes after [`MINUTE_RETENTION`] (or the
    /// retention, if shorter), hours and days after the retention.
    pub async fn purge(&self) -> Result<u64, StoreError> {
        let now = now_ms(&*self.clock);
        let retention = duration_ms(self.retention);
        let minutes = duration_ms(MINUTE_RETENTION).min(retention);
        let mut removed = self
            .store
            .purge_analytics(Resolution::Minute, now - minutes)
            .await?;
        for res in [Resolution::Hour, Resolution::Day] {
            removed += self.store.purge_analytics(res, now - retention).await?;
        }
        Ok(removed)
    }

    /// Flushes every [`FLUSH_INTERVAL`] and purges every hour until `stop` completes, then
    /// flushes what is left (the counts of the last requests served).
    pub async fn run(self: Arc<Self>, stop: impl std::future::Future<Output = ()>) {
        let mut stop = std::pin::pin!(stop);
        let mut ticks = tokio::time::interval(FLUSH_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_purge: Option<i64> = None;
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = ticks.tick() => {}
            }
            if let Err(e) = self.flush().await {
                tracing::warn!(error = %e, "analytics: flush failed; retrying at the next one");
            }
            let now = now_ms(&*self.clock);
            if last_purge.is_none_or(|at| now - at >= HOUR_MS) {
                last_purge = Some(now);
                match self.purge().await {
                    Ok(n) if n > 0 => tracing::debug!(rows = n, "analytics: old rows removed"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "analytics: purge failed"),
                }
            }
        }
        if let Err(e) = self.flush().await {
            tracing::warn!(error = %e, "analytics: the last counts could not be written");
        }
    }
}

fn now_ms(clock: &dyn Clock) -> i64 {
    i64::try_from(clock.now_ms()).unwrap_or(i64::MAX)
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

// ---------------------------------------------------------------------------------------------
// Reading: the use cases behind the admin endpoints.

/// A range of whole minutes: `[from_ms, to_ms)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeRange {
    /// Start, inclusive.
    pub from_ms: i64,
    /// End, exclusive.
    pub to_ms: i64,
}

/// Money per currency in cents.
pub type Commission = BTreeMap<String, i64>;

/// Totals of a range.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Overview {
    /// The range the figures cover (rounded to hours when it reaches past the minute rows).
    pub range: Option<TimeRange>,
    /// Calls.
    pub requests: u64,
    /// 4xx answers.
    pub client_errors: u64,
    /// 5xx answers.
    pub server_errors: u64,
    /// Latency of all calls.
    pub latency: HistogramSnapshot,
    /// Calls per cache status.
    pub cache: BTreeMap<CacheMarkName, u64>,
    /// Keyword searches, and those that found nothing.
    pub searches: KeywordCounts,
    /// Clicks stored.
    pub clicks: u64,
    /// Orders placed.
    pub orders: u64,
    /// Their commission per currency.
    pub commission: Commission,
    /// `(route, requests, errors)`, most called first.
    pub routes: Vec<(String, u64, u64)>,
    /// `(client, requests)`, most calling first, at most 20.
    pub clients: Vec<(String, u64)>,
}

/// Whose usage a reader sums: one tenant's calls and searches, and the clicks and orders of
/// its tracking ids; or (the default) every tenant's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UsageScope {
    /// The tenant whose calls and searches count (`None`: every tenant's).
    pub tenant: Option<String>,
    /// The tracking ids whose clicks and orders count (`None`: every one).
    pub tracking_ids: Option<Vec<String>>,
}

impl UsageScope {
    /// Every tenant's usage.
    pub fn all() -> Self {
        UsageScope::default()
    }

    /// One tenant's: its calls, and the clicks and orders of `tracking_id`.
    pub fn tenant(tenant: &str, tracking_id: &str) -> Self {
        UsageScope {
            tenant: Some(tenant.to_owned()),
            tracking_ids: Some(vec![tracking_id.to_owned()]),
        }
    }

    fn tenant_ref(&self) -> Option<&str> {
        self.tenant.as_deref()
    }

    fn tracking_ref(&self) -> Option<&[String]> {
        self.tracking_ids.as_deref()
    }

    fn keeps(&self, row_tenant: &str) -> bool {
        self.tenant.as_deref().is_none_or(|t| t == row_tenant)
    }
}

/// One day of a tenant's usage (see [`Analytics::usage_days`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DayUsage {
    /// The UTC day's start (Unix ms).
    pub day_ms: i64,
    /// Calls counted.
    pub requests: u64,
    /// Calls the cache answered (fresh, stale or by waiting for another's fetch).
    pub cached: u64,
    /// Calls that fetched from upstream (misses and bypasses).
    pub upstream_calls: u64,
    /// Clicks on its tracked links.
    pub clicks: u64,
    /// Orders placed (every status but `Invalid`).
    pub orders: u64,
    /// Their commission per currency, in cents.
    pub commission: BTreeMap<String, i64>,
}

/// A cache status as stored (`hit`, `miss` ...).
pub type CacheMarkName = String;

/// How the cache figures combine.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CacheFigures {
    /// Fresh hits.
    pub hits: u64,
    /// Stale answers.
    pub stale: u64,
    /// Upstream fetches (misses and bypasses).
    pub misses: u64,
    /// Coalesced waits.
    pub coalesced: u64,
}

impl CacheFigures {
    fn from_marks(marks: &BTreeMap<String, u64>) -> CacheFigures {
        let n = |k: &str| marks.get(k).copied().unwrap_or(0);
        CacheFigures {
            hits: n("hit"),
            stale: n("stale"),
            misses: n("miss") + n("bypass"),
            coalesced: n("coalesced"),
        }
    }

    /// Calls the cache saved an upstream call: hits, stale answers, coalesced waits.
    pub fn saved(&self) -> u64 {
        self.hits + self.stale + self.coalesced
    }

    /// `saved / (saved + misses)`, `None` without cacheable calls.
    pub fn hit_ratio(&self) -> Option<f64> {
        let all = self.saved() + self.misses;
        (all > 0).then(|| self.saved() as f64 / all as f64)
    }
}

impl Overview {
    /// The cache figures.
    pub fn cache_figures(&self) -> CacheFigures {
        CacheFigures::from_marks(&self.cache)
    }
}

/// What a time series plots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// Calls.
    Requests,
    /// 4xx and 5xx answers.
    Errors,
    /// Median latency, ms.
    P50Ms,
    /// 99th percentile latency, ms.
    P99Ms,
    /// Cache hit ratio.
    CacheHitRatio,
    /// Upstream calls.
    UpstreamCalls,
    /// Calls the cache saved.
    UpstreamCallsSaved,
    /// Searches that found nothing.
    ZeroResultSearches,
    /// Clicks.
    Clicks,
    /// Orders.
    Orders,
    /// Commission in one currency (cents in `cents`).
    Commission,
}

impl Metric {
    /// The metric named `name` (the contract's names).
    pub fn parse(name: &str) -> Option<Metric> {
        Some(match name {
            "requests" => Metric::Requests,
            "errors" => Metric::Errors,
            "p50_ms" => Metric::P50Ms,
            "p99_ms" => Metric::P99Ms,
            "cache_hit_ratio" => Metric::CacheHitRatio,
            "upstream_calls" => Metric::UpstreamCalls,
            "upstream_calls_saved" => Metric::UpstreamCallsSaved,
            "zero_result_searches" => Metric::ZeroResultSearches,
            "clicks" => Metric::Clicks,
            "orders" => Metric::Orders,
            "commission" => Metric::Commission,
            _ => return None,
        })
    }

    fn reads_usage(self) -> bool {
        matches!(
            self,
            Metric::Requests
                | Metric::Errors
                | Metric::P50Ms
                | Metric::P99Ms
                | Metric::CacheHitRatio
                | Metric::UpstreamCalls
                | Metric::UpstreamCallsSaved
        )
    }
}

/// One point of a series.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// The step's start.
    pub t_ms: i64,
    /// The value (`None` for a percentile or ratio without calls).
    pub value: Option<f64>,
    /// For commission: the exact sum in cents.
    pub cents: Option<i64>,
}

/// The most searched keywords and those that found nothing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KeywordReport {
    /// The range covered.
    pub range: Option<TimeRange>,
    /// Keyword searches in the range (and those that found nothing).
    pub totals: KeywordCounts,
    /// The most searched, most first.
    pub top: Vec<(String, KeywordCounts)>,
    /// The most often fruitless, most first.
    pub zero_results: Vec<(String, KeywordCounts)>,
}

/// The resolution to read `[from, to)` in steps of `step`: the coarsest whose width divides
/// the step and both ends.
fn resolution_for(range: TimeRange, step_ms: i64) -> Resolution {
    for res in [Resolution::Day, Resolution::Hour] {
        let w = res.ms();
        if step_ms % w == 0 && range.from_ms % w == 0 && range.to_ms % w == 0 {
            return res;
        }
    }
    Resolution::Minute
}

impl Analytics {
    /// A range as it can be read: past the minute rows' retention it is widened to whole
    /// hours (then read from the hour rows).
    pub fn readable(&self, range: TimeRange) -> TimeRange {
        let horizon = now_ms(&*self.clock) - duration_ms(MINUTE_RETENTION) + HOUR_MS;
        if range.from_ms >= horizon || (range.from_ms % HOUR_MS == 0 && range.to_ms % HOUR_MS == 0)
        {
            return range;
        }
        TimeRange {
            from_ms: range.from_ms.div_euclid(HOUR_MS) * HOUR_MS,
            to_ms: (range.to_ms + HOUR_MS - 1).div_euclid(HOUR_MS) * HOUR_MS,
        }
    }

    /// Usage rows of the store and of memory, summed per key into steps of `step_ms`.
    async fn usage_rows(
        &self,
        range: TimeRange,
        step_ms: i64,
        scope: &UsageScope,
    ) -> Result<(Vec<UsageRow>, Vec<KeywordRow>), StoreError> {
        let res = resolution_for(range, step_ms);
        let stored = self
            .store
            .usage(scope.tenant_ref(), res, range.from_ms, range.to_ms, step_ms)
            .await?;
        let (memory, mut keywords) = self.memory_rows();
        keywords.retain(|k| scope.keeps(&k.tenant));
        let rows = alistach_store::sum_usage(
            stored.into_iter().chain(memory.into_iter().map(|mut r| {
                // A memory minute lies in its step; `sum_usage` maps it from the range's start.
                r.bucket_ms = bucket_of(r.bucket_ms, range.from_ms, step_ms);
                r
            })),
            scope.tenant_ref(),
            range.from_ms,
            range.to_ms,
            step_ms,
        );
        Ok((rows, keywords))
    }

    async fn keyword_totals(
        &self,
        range: TimeRange,
        step_ms: i64,
        memory: &[KeywordRow],
        scope: &UsageScope,
    ) -> Result<BTreeMap<i64, KeywordCounts>, StoreError> {
        let res = resolution_for(range, step_ms);
        let mut per: BTreeMap<i64, KeywordCounts> = self
            .store
            .keyword_series(
                scope.tenant_ref(),
                res,
                ALL_SEARCHES,
                range.from_ms,
                range.to_ms,
                step_ms,
            )
            .await?
            .into_iter()
            .collect();
        for row in memory {
            if row.keyword == ALL_SEARCHES
                && scope.keeps(&row.tenant)
                && (range.from_ms..range.to_ms).contains(&row.bucket_ms)
            {
                per.entry(bucket_of(row.bucket_ms, range.from_ms, step_ms))
                    .or_default()
                    .merge(&row.counts);
            }
        }
        Ok(per)
    }

    /// Totals of `range`; orders and commission of mock orders when `mock`.
    pub async fn overview(
        &self,
        range: TimeRange,
        mock: bool,
        scope: &UsageScope,
    ) -> Result<Overview, StoreError> {
        let _guard = self.flush_lock.lock().await;
        let range = self.readable(range);
        let step = (range.to_ms - range.from_ms).max(1);
        let (rows, keywords) = self.usage_rows(range, step, scope).await?;
        let mut o = Overview {
            range: Some(range),
            ..Overview::default()
        };
        let mut routes: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        let mut clients: BTreeMap<String, u64> = BTreeMap::new();
        for row in rows {
            let c = &row.counts;
            o.requests += c.requests;
            let errors = if row.key.status_class >= 4 {
                c.requests
            } else {
                0
            };
            if row.key.status_class == 4 {
                o.client_errors += c.requests;
            } else if row.key.status_class >= 5 {
                o.server_errors += c.requests;
            }
            o.latency.merge(&c.latency);
            *o.cache.entry(row.key.cache.clone()).or_default() += c.requests;
            let r = routes.entry(row.key.route).or_default();
            r.0 += c.requests;
            r.1 += errors;
            *clients.entry(row.key.client).or_default() += c.requests;
        }
        o.routes = routes.into_iter().map(|(k, (n, e))| (k, n, e)).collect();
        o.routes
            .sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        o.clients = clients.into_iter().collect();
        o.clients
            .sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        o.clients.truncate(20);
        for (_, c) in self.keyword_totals(range, step, &keywords, scope).await? {
            o.searches.merge(&c);
        }
        o.clicks = self
            .store
            .clicks_per_bucket(scope.tracking_ref(), range.from_ms, range.to_ms, step)
            .await?
            .iter()
            .map(|b| b.clicks)
            .sum();
        for b in self
            .store
            .orders_per_bucket(scope.tracking_ref(), mock, range.from_ms, range.to_ms, step)
            .await?
        {
            o.orders += b.orders;
            *o.commission.entry(b.currency).or_default() += b.commission_cents;
        }
        Ok(o)
    }

    /// `metric` per step of `step_ms` over `range` (both ends multiples of the step), one
    /// point per step, empty steps included.
    pub async fn timeseries(
        &self,
        metric: Metric,
        range: TimeRange,
        step_ms: i64,
        currency: &str,
        mock: bool,
        scope: &UsageScope,
    ) -> Result<Vec<Point>, StoreError> {
        let _guard = self.flush_lock.lock().await;
        let steps = (range.from_ms..range.to_ms).step_by(usize::try_from(step_ms).unwrap_or(1));
        let mut values: BTreeMap<i64, (Option<f64>, Option<i64>)> = BTreeMap::new();
        if metric.reads_usage() {
            let (rows, _) = self.usage_rows(range, step_ms, scope).await?;
            let mut per: BTreeMap<i64, (u64, u64, HistogramSnapshot, BTreeMap<String, u64>)> =
                BTreeMap::new();
            for row in rows {
                let e = per.entry(row.bucket_ms).or_default();
                e.0 += row.counts.requests;
                if row.key.status_class >= 4 {
                    e.1 += row.counts.requests;
                }
                e.2.merge(&row.counts.latency);
                *e.3.entry(row.key.cache).or_default() += row.counts.requests;
            }
            for t in steps {
                let (n, errors, latency, marks) = per.remove(&t).unwrap_or_default();
                let cache = CacheFigures::from_marks(&marks);
                let v = match metric {
                    Metric::Requests => Some(n as f64),
                    Metric::Errors => Some(errors as f64),
                    Metric::P50Ms => latency.quantile(0.5).map(|s| s * 1e3),
                    Metric::P99Ms => latency.quantile(0.99).map(|s| s * 1e3),
                    Metric::CacheHitRatio => cache.hit_ratio(),
                    Metric::UpstreamCalls => Some(cache.misses as f64),
                    _ => Some(cache.saved() as f64),
                };
                values.insert(t, (v, None));
            }
        } else {
            for t in steps {
                values.insert(t, (Some(0.0), (metric == Metric::Commission).then_some(0)));
            }
            match metric {
                Metric::ZeroResultSearches => {
                    let (_, keywords) = self.memory_rows();
                    for (t, c) in self
                        .keyword_totals(range, step_ms, &keywords, scope)
                        .await?
                    {
                        values.insert(t, (Some(c.zero_results as f64), None));
                    }
                }
                Metric::Clicks => {
                    for b in self
                        .store
                        .clicks_per_bucket(
                            scope.tracking_ref(),
                            range.from_ms,
                            range.to_ms,
                            step_ms,
                        )
                        .await?
                    {
                        values.insert(b.bucket_ms, (Some(b.clicks as f64), None));
                    }
                }
                _ => {
                    for b in self
                        .store
                        .orders_per_bucket(
                            scope.tracking_ref(),
                            mock,
                            range.from_ms,
                            range.to_ms,
                            step_ms,
                        )
                        .await?
                    {
                        let e = values.entry(b.bucket_ms).or_insert((Some(0.0), None));
                        if metric == Metric::Orders {
                            e.0 = Some(e.0.unwrap_or(0.0) + b.orders as f64);
                        } else if b.currency.eq_ignore_ascii_case(currency) {
                            let cents = e.1.unwrap_or(0) + b.commission_cents;
                            *e = (Some(cents as f64 / 100.0), Some(cents));
                        }
                    }
                }
            }
        }
        Ok(values
            .into_iter()
            .map(|(t_ms, (value, cents))| Point { t_ms, value, cents })
            .collect())
    }

    /// The `limit` most searched keywords of `range` and the `limit` most often fruitless.
    pub async fn keywords(
        &self,
        range: TimeRange,
        limit: u32,
        scope: &UsageScope,
    ) -> Result<KeywordReport, StoreError> {
        let _guard = self.flush_lock.lock().await;
        let range = self.readable(range);
        let step = (range.to_ms - range.from_ms).max(1);
        let res = resolution_for(range, step);
        let (_, mut memory) = self.memory_rows();
        memory.retain(|k| scope.keeps(&k.tenant));
        let mut report = KeywordReport {
            range: Some(range),
            ..KeywordReport::default()
        };
        for (_, c) in self.keyword_totals(range, step, &memory, scope).await? {
            report.totals.merge(&c);
        }
        // The store's lists are ranked without this instance's unflushed counts: ask for
        // more than the limit, add memory, and rank again.
        let wide = limit.saturating_mul(4).max(limit + 50);
        let mut sums: BTreeMap<String, KeywordCounts> = BTreeMap::new();
        for order in [KeywordOrder::Searches, KeywordOrder::ZeroResults] {
            for (k, c) in self
                .store
                .top_keywords(
                    scope.tenant_ref(),
                    res,
                    range.from_ms,
                    range.to_ms,
                    order,
                    wide,
                )
                .await?
            {
                sums.insert(k, c);
            }
        }
        for row in &memory {
            if row.keyword != ALL_SEARCHES && (range.from_ms..range.to_ms).contains(&row.bucket_ms)
            {
                sums.entry(row.keyword.clone())
                    .or_default()
                    .merge(&row.counts);
            }
        }
        let mut top: Vec<(String, KeywordCounts)> = sums.into_iter().collect();
        top.sort_by(|a, b| b.1.searches.cmp(&a.1.searches).then_with(|| a.0.cmp(&b.0)));
        let mut zero: Vec<(String, KeywordCounts)> = top
            .iter()
            .filter(|(_, c)| c.zero_results > 0)
            .cloned()
            .collect();
        zero.sort_by(|a, b| {
            b.1.zero_results
                .cmp(&a.1.zero_results)
                .then_with(|| a.0.cmp(&b.0))
        });
        top.truncate(limit as usize);
        zero.truncate(limit as usize);
        report.top = top;
        report.zero_results = zero;
        Ok(report)
    }
}

impl Analytics {
    /// A tenant's usage per UTC day of `[from_ms, to_ms)` (both whole days), every day
    /// listed, empty ones included: its calls on the routes `billed` accepts (by operation
    /// id: the API and MCP calls, not the admin ones), how the cache answered them, and the
    /// clicks and orders of its tracking ids (mock orders when `mock`).
    pub async fn usage_days(
        &self,
        scope: &UsageScope,
        from_ms: i64,
        to_ms: i64,
        mock: bool,
        billed: impl Fn(&str) -> bool,
    ) -> Result<Vec<DayUsage>, StoreError> {
        let _guard = self.flush_lock.lock().await;
        let range = TimeRange { from_ms, to_ms };
        let mut days: BTreeMap<i64, DayUsage> = (from_ms..to_ms)
            .step_by(usize::try_from(DAY_MS).unwrap_or(usize::MAX))
            .map(|d| {
                (
                    d,
                    DayUsage {
                        day_ms: d,
                        ..DayUsage::default()
                    },
                )
            })
            .collect();
        let (rows, _) = self.usage_rows(range, DAY_MS, scope).await?;
        for row in rows.into_iter().filter(|r| billed(&r.key.route)) {
            let Some(day) = days.get_mut(&row.bucket_ms) else {
                continue;
            };
            let n = row.counts.requests;
            day.requests += n;
            match row.key.cache.as_str() {
                "hit" | "stale" | "coalesced" => day.cached += n,
                "miss" | "bypass" => day.upstream_calls += n,
                _ => {}
            }
        }
        for b in self
            .store
            .clicks_per_bucket(scope.tracking_ref(), from_ms, to_ms, DAY_MS)
            .await?
        {
            if let Some(day) = days.get_mut(&b.bucket_ms) {
                day.clicks += b.clicks;
            }
        }
        for b in self
            .store
            .orders_per_bucket(scope.tracking_ref(), mock, from_ms, to_ms, DAY_MS)
            .await?
        {
            if let Some(day) = days.get_mut(&b.bucket_ms) {
                day.orders += b.orders;
                *day.commission.entry(b.currency).or_default() += b.commission_cents;
            }
        }
        Ok(days.into_values().collect())
    }
}

/// Widths of the time-series steps.
pub const STEP_MINUTE: i64 = MINUTE_MS;
/// An hour.
pub const STEP_HOUR: i64 = HOUR_MS;
/// A day.
pub const STEP_DAY: i64 = DAY_MS;

#[cfg(test)]
mod tests {
    use super::*;
    use alistach_store::MemoryStore;
    use std::sync::atomic::AtomicU64;

    struct TestClock(AtomicU64);
    impl Clock for TestClock {
        fn now_ms(&self) -> u64 {
            self.0.load(Ordering::Relaxed)
        }
    }

    const T0: u64 = 1_893_456_000_000; // 2030-01-01

    fn analytics(clock: Arc<TestClock>, store: Arc<dyn Store>) -> Analytics {
        Analytics::new(
            store,
            clock,
            "mock",
            "test",
            true,
            Duration::from_secs(90 * 86_400),
        )
    }

    fn call<'a>(route: &'static str, client: &'a str, cache: CacheMark, status: u16) -> Call<'a> {
        Call {
            tenant: "default",
            route,
            client,
            cache,
            status,
            latency: Duration::from_millis(3),
        }
    }

    #[test]
    fn keywords_are_normalised_without_allocating() {
        let mut buf = KeywordBuf::default();
        assert_eq!(
            normalise_keywords("  Wireless\t EARBUDS \n", &mut buf),
            "wireless earbuds"
        );
        assert_eq!(normalise_keywords("ÄÖÜ  Straße", &mut buf), "äöü straße");
        assert_eq!(normalise_keywords(" \t ", &mut buf), "");
        let long = "x".repeat(500);
        assert_eq!(
            normalise_keywords(&long, &mut buf).chars().count(),
            MAX_KEYWORD_CHARS
        );
        let wide = "İ".repeat(200); // lower-cases to two characters each
        let n = normalise_keywords(&wide, &mut buf);
        assert_eq!(n.chars().count(), MAX_KEYWORD_CHARS);
        assert!(std::str::from_utf8(n.as_bytes()).is_ok());
    }

    #[test]
    fn ascii_keywords_are_normalised_as_characters_are() {
        let (mut a, mut c) = (KeywordBuf::default(), KeywordBuf::default());
        let mut texts: Vec<String> = (0u8..128).map(|b| format!("a{}B", char::from(b))).collect();
        texts.extend((0u8..128).map(|b| format!("{0}x{0}", char::from(b))));
        for n in [98, 99, 100, 101] {
            texts.push(format!("{} y", "x".repeat(n)));
            texts.push(format!("{}  \x0B Y z", "X".repeat(n)));
            texts.push(format!(" {}\t", "ab ".repeat(n / 2)));
        }
        for t in &texts {
            assert!(t.is_ascii());
            assert_eq!(
                normalise_ascii(t.as_bytes(), &mut a),
                normalise_chars(t, &mut c),
                "{t:?}"
            );
        }
    }

    #[test]
    fn the_top_list_is_exact_under_capacity_and_keeps_heavy_keywords_beyond() {
        let one = |zero: bool| KeywordCounts {
            searches: 1,
            zero_results: u64::from(zero),
            results: if zero { 0 } else { 10 },
        };
        let mut top = TopKeywords::new(3);
        for _ in 0..5 {
            top.add("a", one(false));
        }
        top.add("b", one(true));
        top.add("b", one(true));
        top.add("c", one(false));
        assert_eq!(top.get("a").unwrap().searches, 5);
        assert_eq!(top.get("b").unwrap().zero_results, 2);
        assert_eq!(top.error("a"), Some(0));
        // Full: "d" replaces the least counted ("c", 1) and inherits its count.
        top.add("d", one(false));
        assert_eq!(top.len(), 3);
        assert_eq!(top.get("c"), None);
        assert_eq!(top.get("d").unwrap().searches, 2);
        assert_eq!(top.error("d"), Some(1));
        // A heavy keyword among many rare ones stays listed with at least its true count.
        let mut top = TopKeywords::new(10);
        for i in 0..1000 {
            top.add("heavy", one(false));
            top.add(&format!("rare{i}"), one(true));
        }
        assert!(top.get("heavy").unwrap().searches >= 1000);
        assert_eq!(top.len(), 10);
        // Merging two lists adds their counts.
        let mut a = TopKeywords::new(5);
        let mut b = TopKeywords::new(5);
        a.add("x", one(false));
        b.add("x", one(true));
        b.add("y", one(true));
        a.merge(&b);
        assert_eq!(
            a.get("x"),
            Some(KeywordCounts {
                searches: 2,
                zero_results: 1,
                results: 10
            })
        );
        assert_eq!(a.get("y").unwrap().searches, 1);
    }

    #[tokio::test]
    async fn counts_are_read_before_and_after_a_flush_exactly_once() {
        let clock = Arc::new(TestClock(AtomicU64::new(T0 + 5_000)));
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let a = analytics(clock.clone(), store.clone());
        a.record(&call("searchProducts", "key:a", CacheMark::Hit, 200));
        a.record(&call("searchProducts", "key:a", CacheMark::Miss, 200));
        a.record(&call("searchProducts", "key:b", CacheMark::None, 422));
        a.search("default", "Wireless  Earbuds", 12);
        a.search("default", "qzxv", 0);
        let range = TimeRange {
            from_ms: T0 as i64,
            to_ms: T0 as i64 + DAY_MS,
        };
        let before = a.overview(range, true, &UsageScope::all()).await.unwrap();
        assert_eq!(before.requests, 3);
        assert_eq!(before.client_errors, 1);
        assert_eq!(before.searches.searches, 2);
        assert_eq!(before.searches.zero_results, 1);
        assert_eq!(before.cache_figures().hit_ratio(), Some(0.5));
        // The next minute; a flush writes both minutes.
        clock.0.store(T0 + 65_000, Ordering::Relaxed);
        a.record(&call("getHotProducts", "key:a", CacheMark::Coalesced, 200));
        assert_eq!(a.flush().await.unwrap(), 1);
        assert_eq!(a.flush().await.unwrap(), 0, "nothing new to write");
        let after = a.overview(range, true, &UsageScope::all()).await.unwrap();
        assert_eq!(after.requests, 4, "counted once, from the store");
        assert_eq!(after.cache_figures().saved(), 2);
        assert_eq!(after.routes[0], ("searchProducts".to_owned(), 3, 1));
        assert_eq!(after.clients[0], ("key:a".to_owned(), 3));
        // Minute and hour series agree with the overview.
        let minutes = a
            .timeseries(
                Metric::Requests,
                range,
                STEP_MINUTE,
                "USD",
                true,
                &UsageScope::all(),
            )
            .await
            .unwrap();
        assert_eq!(minutes.len(), 1440);
        assert_eq!(minutes[0].value, Some(3.0));
        assert_eq!(minutes[1].value, Some(1.0));
        let sum: f64 = minutes.iter().filter_map(|p| p.value).sum();
        assert_eq!(sum, 4.0);
        let days = a
            .timeseries(
                Metric::Errors,
                range,
                STEP_DAY,
                "USD",
                true,
                &UsageScope::all(),
            )
            .await
            .unwrap();
        assert_eq!(days.len(), 1);
        assert_eq!(days[0].value, Some(1.0));
        let zero = a
            .timeseries(
                Metric::ZeroResultSearches,
                range,
                STEP_HOUR,
                "USD",
                true,
                &UsageScope::all(),
            )
            .await
            .unwrap();
        assert_eq!(zero[0].value, Some(1.0));
        let keywords = a.keywords(range, 10, &UsageScope::all()).await.unwrap();
        assert_eq!(keywords.totals.searches, 2);
        assert_eq!(keywords.top.len(), 2);
        assert_eq!(keywords.zero_results.len(), 1);
        assert_eq!(keywords.zero_results[0].0, "qzxv");
        assert!(keywords.top.iter().any(|(k, _)| k == "wireless earbuds"));
    }

    #[tokio::test]
    async fn a_flush_already_stored_is_not_added_again() {
        // The memory store with a flush id already stored stands in for a retried write
        // whose first attempt succeeded without the caller knowing.
        let clock = Arc::new(TestClock(AtomicU64::new(T0)));
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let a = analytics(clock, store.clone());
        a.record(&call("searchProducts", "key:a", CacheMark::Hit, 200));
        let (usage, _) = a.memory_rows();
        let batch = AnalyticsBatch {
            flush_id: "test:0".to_owned(),
            usage,
            keywords: vec![],
        };
        assert!(store.flush_analytics(&batch).await.unwrap());
        assert_eq!(a.flush().await.unwrap(), 1);
        let rows = store
            .usage(
                None,
                Resolution::Minute,
                T0 as i64,
                T0 as i64 + MINUTE_MS,
                MINUTE_MS,
            )
            .await
            .unwrap();
        assert_eq!(
            rows[0].counts.requests, 1,
            "the same flush id is not added twice"
        );
    }

    #[tokio::test]
    async fn each_tenant_is_counted_and_flushed_on_its_own() {
        let clock = Arc::new(TestClock(AtomicU64::new(T0 + 5_000)));
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let a = analytics(clock, store.clone());
        for tenant in ["team-a", "team-b", "team-a"] {
            a.record(&Call {
                tenant,
                ..call("searchProducts", "key:x", CacheMark::Hit, 200)
            });
            a.search(tenant, "Earbuds", 3);
        }
        a.search("team-b", "lamp", 0);
        assert_eq!(a.flush().await.unwrap(), 1);
        let requests = |tenant: Option<&'static str>| {
            let store = store.clone();
            async move {
                store
                    .usage(tenant, Resolution::Day, 0, 2 * T0 as i64, 2 * T0 as i64)
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| (r.key.tenant.clone(), r.counts.requests))
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(
            requests(Some("team-a")).await,
            vec![("team-a".to_owned(), 2)]
        );
        assert_eq!(
            requests(Some("team-b")).await,
            vec![("team-b".to_owned(), 1)]
        );
        assert_eq!(requests(None).await, vec![(String::new(), 3)]);
        let top = |tenant: Option<&'static str>| {
            let store = store.clone();
            async move {
                store
                    .top_keywords(
                        tenant,
                        Resolution::Minute,
                        0,
                        2 * T0 as i64,
                        KeywordOrder::Searches,
                        10,
                    )
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|(k, c)| (k, c.searches))
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(top(Some("team-a")).await, vec![("earbuds".to_owned(), 2)]);
        assert_eq!(
            top(Some("team-b")).await,
            vec![("earbuds".to_owned(), 1), ("lamp".to_owned(), 1)]
        );
        assert_eq!(top(None).await[0], ("earbuds".to_owned(), 3));
    }

    #[test]
    fn recording_off_counts_nothing() {
        let clock = Arc::new(TestClock(AtomicU64::new(T0)));
        let a = Analytics::new(
            Arc::new(MemoryStore::new()),
            clock,
            "mock",
            "test",
            false,
            Duration::from_secs(86_400),
        );
        a.record(&call("searchProducts", "key:a", CacheMark::Hit, 200));
        a.search("default", "x", 1);
        let (usage, keywords) = a.memory_rows();
        assert!(usage.is_empty() && keywords.is_empty());
    }
}
