//! The behaviour every [`Cache`] backend must show, as async checks a backend's tests call with a
//! cache built on the given [`ManualClock`]. Each check clears the cache first, so give it a
//! cache (or a namespace) of its own.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::{Cache, Entry, ManualClock};

fn entry(clock: &ManualClock, value: impl Into<Bytes>) -> Entry {
    use crate::Clock;
    let now = clock.now_ms();
    Entry {
        value: value.into(),
        stored_at_ms: now,
        fresh_until_ms: now + 60_000,
        stale_until_ms: now + 120_000,
    }
}

async fn reset(cache: &Arc<dyn Cache>) {
    cache
        .clear_prefix("")
        .await
        .expect("clearing the cache before a conformance check");
}

/// Runs every check in turn.
pub async fn run_all(cache: Arc<dyn Cache>, clock: Arc<ManualClock>) {
    round_trip(&cache, &clock).await;
    overwrite(&cache, &clock).await;
    missing_key(&cache, &clock).await;
    expiry_follows_entry_times(&cache, &clock).await;
    clear_prefix_removes_only_matching_keys(&cache, &clock).await;
    clear_prefix_treats_glob_characters_literally(&cache, &clock).await;
    binary_safe(&cache, &clock).await;
    many_keys(&cache, &clock).await;
    stats_report_activity(&cache, &clock).await;
}

/// A stored entry comes back with every field intact.
pub async fn round_trip(cache: &Arc<dyn Cache>, clock: &ManualClock) {
    reset(cache).await;
    let stored = entry(clock, "hello");
    cache.put("rt:key", stored.clone()).await.unwrap();
    assert_eq!(cache.get("rt:key").await.unwrap(), Some(stored));
}

/// A second put replaces the first.
pub async fn overwrite(cache: &Arc<dyn Cache>, clock: &ManualClock) {
    reset(cache).await;
    cache.put("ow:key", entry(clock, "first")).await.unwrap();
    let second = entry(clock, "second, and longer than the first");
    cache.put("ow:key", second.clone()).await.unwrap();
    assert_eq!(cache.get("ow:key").await.unwrap(), Some(second));
}

/// An unknown key is a miss, not an error.
pub async fn missing_key(cache: &Arc<dyn Cache>, clock: &ManualClock) {
    reset(cache).await;
    cache.put("mk:present", entry(clock, "x")).await.unwrap();
    assert_eq!(cache.get("mk:absent").await.unwrap(), None);
    assert_eq!(
        cache.get("mk:presen").await.unwrap(),
        None,
        "no prefix matching on get"
    );
}

/// Entries past freshness are still returned until `stale_until_ms`, and never after it.
pub async fn expiry_follows_entry_times(cache: &Arc<dyn Cache>, clock: &ManualClock) {
    reset(cache).await;
    let stored = entry(clock, "ages");
    cache.put("ex:key", stored.clone()).await.unwrap();
    clock.advance(Duration::from_millis(60_001));
    assert_eq!(
        cache.get("ex:key").await.unwrap(),
        Some(stored),
        "expired but within the stale window"
    );
    clock.advance(Duration::from_millis(60_000));
    assert_eq!(
        cache.get("ex:key").await.unwrap(),
        None,
        "past stale_until_ms"
    );

    // Storing an entry that is already dead leaves nothing behind, not even the previous value.
    cache.put("ex:dead", entry(clock, "alive")).await.unwrap();
    let mut dead = entry(clock, "dead");
    dead.fresh_until_ms = dead.stored_at_ms;
    dead.stale_until_ms = dead.stored_at_ms;
    cache.put("ex:dead", dead).await.unwrap();
    assert_eq!(cache.get("ex:dead").await.unwrap(), None);
}

/// Clearing by prefix removes exactly the matching keys and says how many.
pub async fn clear_prefix_removes_only_matching_keys(cache: &Arc<dyn Cache>, clock: &ManualClock) {
    reset(cache).await;
    for key in [
        "products:mock:1",
        "products:mock:2",
        "products:real:1",
        "categories:mock:1",
        "productsX",
    ] {
        cache.put(key, entry(clock, key.to_owned())).await.unwrap();
    }
    assert_eq!(cache.clear_prefix("products:mock:").await.unwrap(), 2);
    assert_eq!(cache.get("products:mock:1").await.unwrap(), None);
    assert_eq!(cache.get("products:mock:2").await.unwrap(), None);
    for kept in ["products:real:1", "categories:mock:1", "productsX"] {
        assert!(
            cache.get(kept).await.unwrap().is_some(),
            "{kept} should have survived"
        );
    }
    assert_eq!(cache.clear_prefix("products:").await.unwrap(), 1);
    assert_eq!(cache.clear_prefix("nothing-here:").await.unwrap(), 0);
    assert_eq!(
        cache.clear_prefix("").await.unwrap(),
        2,
        "an empty prefix clears everything"
    );
    assert_eq!(cache.get("categories:mock:1").await.unwrap(), None);
}

/// Characters that are special in glob patterns (`*`, `?`, `[`, `\`) match only themselves.
pub async fn clear_prefix_treats_glob_characters_literally(
    cache: &Arc<dyn Cache>,
    clock: &ManualClock,
) {
    reset(cache).await;
    for key in [
        "a*b:1", "a*b:2", "axb:1", "a?c:1", "abc:1", "[x]:1", "x:1", "\\y:1", "y:1",
    ] {
        cache.put(key, entry(clock, key.to_owned())).await.unwrap();
    }
    assert_eq!(cache.clear_prefix("a*b:").await.unwrap(), 2);
    assert_eq!(cache.clear_prefix("a?c").await.unwrap(), 1);
    assert_eq!(cache.clear_prefix("[x]").await.unwrap(), 1);
    assert_eq!(cache.clear_prefix("\\y").await.unwrap(), 1);
    for kept in ["axb:1", "abc:1", "x:1", "y:1"] {
        assert!(
            cache.get(kept).await.unwrap().is_some(),
            "{kept} should have survived"
        );
    }
}

/// Any bytes survive, including an empty value and every byte value; keys may hold any text.
pub async fn binary_safe(cache: &Arc<dyn Cache>, clock: &ManualClock) {
    reset(cache).await;
    let all_bytes: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
    let cases: [(&str, Bytes); 3] = [
        ("bin:all bytes", Bytes::from(all_bytes)),
        ("bin:empty", Bytes::new()),
        (
            "bin:ünïcödé key with spaces\r\n",
            Bytes::from_static(b"\0\r\n$-1\r\n*"),
        ),
    ];
    for (key, value) in &cases {
        cache.put(key, entry(clock, value.clone())).await.unwrap();
    }
    for (key, value) in &cases {
        assert_eq!(
            cache.get(key).await.unwrap().map(|e| e.value),
            Some(value.clone()),
            "{key:?}"
        );
    }
}

/// Many keys are kept apart and all cleared by prefix.
pub async fn many_keys(cache: &Arc<dyn Cache>, clock: &ManualClock) {
    reset(cache).await;
    const N: u64 = 1_200;
    for i in 0..N {
        cache
            .put(&format!("many:{i}"), entry(clock, i.to_string()))
            .await
            .unwrap();
    }
    for i in (0..N).step_by(97) {
        let got = cache
            .get(&format!("many:{i}"))
            .await
            .unwrap()
            .map(|e| e.value);
        assert_eq!(got, Some(Bytes::from(i.to_string())));
    }
    assert_eq!(cache.clear_prefix("many:").await.unwrap(), N);
    assert_eq!(cache.get("many:0").await.unwrap(), None);
}

/// Hits and writes show up in some tier's counters.
pub async fn stats_report_activity(cache: &Arc<dyn Cache>, clock: &ManualClock) {
    reset(cache).await;
    let before = cache.stats().await;
    assert!(!before.is_empty(), "every cache reports at least one tier");
    cache.put("st:key", entry(clock, "v")).await.unwrap();
    cache.get("st:key").await.unwrap();
    cache.get("st:absent").await.unwrap();
    let after = cache.stats().await;
    let sum =
        |s: &[crate::TierStats], f: fn(&crate::TierStats) -> u64| s.iter().map(f).sum::<u64>();
    assert!(
        sum(&after, |t| t.sets) > sum(&before, |t| t.sets),
        "{after:?}"
    );
    assert!(
        sum(&after, |t| t.hits) > sum(&before, |t| t.hits),
        "{after:?}"
    );
    assert!(
        sum(&after, |t| t.misses) > sum(&before, |t| t.misses),
        "{after:?}"
    );
    assert!(after.iter().all(|t| t.connected), "{after:?}");
    assert!(sum(&after, |t| t.entries) >= 1, "{after:?}");
    let health = cache.health().await;
    assert_eq!(
        health.iter().map(|h| h.name).collect::<Vec<_>>(),
        after.iter().map(|t| t.name).collect::<Vec<_>>(),
        "health names the same tiers as stats"
    );
    assert!(health.iter().all(|h| h.connected), "{health:?}");
}
