//! A fixed-bucket latency histogram kept in atomics: cheap enough for every request, read as a
//! snapshot for Prometheus buckets and status percentiles. The snapshot is also the usage
//! analytics' histogram: plain counts per fixed bucket, merged by addition, so a minute's
//! histograms from any number of instances add up to the minute's histogram.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the finite buckets, in seconds (the `le` labels); a last `+Inf` bucket
/// catches the rest. From 1 ms (a cache hit) to 10 s (an upstream call at its deadline).
pub const LATENCY_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Buckets per histogram: the finite ones and `+Inf`.
pub const LATENCY_SLOTS: usize = 14;

const BOUNDS_MICROS: [u64; 13] = [
    1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
    5_000_000, 10_000_000,
];

/// The bucket an observation falls in, and the observation in microseconds.
fn slot(d: Duration) -> (usize, u64) {
    let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
    let i = BOUNDS_MICROS
        .iter()
        .position(|&b| micros <= b)
        .unwrap_or(BOUNDS_MICROS.len());
    (i, micros)
}

/// Observations counted per bucket, with their sum.
#[derive(Debug, Default)]
pub struct Histogram {
    // Per bucket, not cumulative: one increment per observation; the snapshot sums them.
    buckets: [AtomicU64; LATENCY_SLOTS],
    sum_micros: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        let (i, micros) = slot(d);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// The counters as they are now.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut counts = [0u64; LATENCY_SLOTS];
        for (c, b) in counts.iter_mut().zip(&self.buckets) {
            *c = b.load(Ordering::Relaxed);
        }
        HistogramSnapshot {
            counts,
            sum_micros: self.sum_micros.load(Ordering::Relaxed),
        }
    }
}

/// A copy of a [`Histogram`]'s counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HistogramSnapshot {
    /// Observations per bucket (not cumulative); the last is the `+Inf` bucket.
    pub counts: [u64; LATENCY_SLOTS],
    /// Sum of all observations, in microseconds.
    pub sum_micros: u64,
}

impl HistogramSnapshot {
    /// Observations in total.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Sum of all observations, in seconds.
    pub fn sum_seconds(&self) -> f64 {
        self.sum_micros as f64 / 1e6
    }

    /// `(le, cumulative count)` per bucket, the last with `le = +Inf`, as Prometheus expects.
    pub fn cumulative(&self) -> impl Iterator<Item = (f64, u64)> + '_ {
        let bounds = LATENCY_BUCKETS.iter().copied().chain([f64::INFINITY]);
        bounds.zip(self.counts.iter()).scan(0u64, |acc, (le, c)| {
            *acc += c;
            Some((le, *acc))
        })
    }

    /// Adds another snapshot's counts (to total several routes, minutes or instances).
    pub fn merge(&mut self, other: &HistogramSnapshot) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a = a.saturating_add(*b);
        }
        self.sum_micros = self.sum_micros.saturating_add(other.sum_micros);
    }

    /// Records one observation in this copy (no atomics: for a histogram behind a lock).
    pub fn observe(&mut self, d: Duration) {
        let (i, micros) = slot(d);
        self.counts[i] += 1;
        self.sum_micros = self.sum_micros.saturating_add(micros);
    }

    /// The `q` quantile (0..=1) in seconds, interpolated within its bucket the way
    /// Prometheus' `histogram_quantile` does; `None` without observations. Observations
    /// beyond the last finite bound report that bound.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = q.clamp(0.0, 1.0) * total as f64;
        let mut below = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            if c > 0 && (below + c) as f64 >= rank {
                let Some(&upper) = LATENCY_BUCKETS.get(i) else {
                    return Some(LATENCY_BUCKETS[LATENCY_BUCKETS.len() - 1]);
                };
                let lower = if i == 0 { 0.0 } else { LATENCY_BUCKETS[i - 1] };
                let within = (rank - below as f64).max(0.0) / c as f64;
                return Some(lower + (upper - lower) * within);
            }
            below += c;
        }
        Some(LATENCY_BUCKETS[LATENCY_BUCKETS.len() - 1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_end_with_the_count() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(500));
        h.observe(Duration::from_millis(1));
        h.observe(Duration::from_millis(30));
        h.observe(Duration::from_secs(60));
        let s = h.snapshot();
        assert_eq!(s.count(), 4);
        let cum: Vec<_> = s.cumulative().collect();
        assert_eq!(cum.len(), 14);
        assert_eq!(cum[0], (0.001, 2), "le is inclusive");
        assert_eq!(cum[5], (0.05, 3));
        assert_eq!(cum[12], (10.0, 3));
        assert!(cum[13].0.is_infinite());
        assert_eq!(cum[13].1, 4);
        assert!(cum.windows(2).all(|w| w[0].1 <= w[1].1));
        assert!((s.sum_seconds() - 60.0315).abs() < 1e-9);
    }

    #[test]
    fn quantiles_interpolate_within_buckets() {
        let h = Histogram::default();
        assert_eq!(h.snapshot().quantile(0.5), None);
        // 100 observations of 20 ms fall in the (10 ms, 25 ms] bucket.
        for _ in 0..100 {
            h.observe(Duration::from_millis(20));
        }
        let s = h.snapshot();
        let p50 = s.quantile(0.5).unwrap();
        assert!((p50 - 0.0175).abs() < 1e-9, "{p50}");
        let p99 = s.quantile(0.99).unwrap();
        assert!(p99 > 0.01 && p99 <= 0.025, "{p99}");
        h.observe(Duration::from_secs(100));
        assert_eq!(h.snapshot().quantile(1.0), Some(10.0));
        let mut merged = s;
        merged.merge(&h.snapshot());
        assert_eq!(merged.count(), 201);
    }

    #[test]
    fn merging_is_addition_and_matches_observing_everything_in_one() {
        let durations = [
            0.3, 1.0, 2.0, 7.0, 40.0, 90.0, 300.0, 800.0, 4000.0, 20_000.0,
        ];
        let mut one = HistogramSnapshot::default();
        let mut a = HistogramSnapshot::default();
        let mut b = HistogramSnapshot::default();
        for (i, ms) in durations.iter().enumerate() {
            let d = Duration::from_secs_f64(ms / 1e3);
            one.observe(d);
            if i % 3 == 0 {
                a.observe(d)
            } else {
                b.observe(d)
            }
        }
        let mut ab = a;
        ab.merge(&b);
        let mut ba = b;
        ba.merge(&a);
        assert_eq!(ab, one);
        assert_eq!(ba, one, "merge is commutative");
        assert_eq!(one.count(), 10);
        assert_eq!(one.counts[0], 2, "0.3 ms and 1 ms fall in the first bucket");
        assert_eq!(
            one.counts[LATENCY_SLOTS - 1],
            1,
            "20 s is beyond the last bound"
        );
        // The atomic histogram and the plain one agree.
        let h = Histogram::default();
        for ms in durations {
            h.observe(Duration::from_secs_f64(ms / 1e3));
        }
        assert_eq!(h.snapshot(), one);
    }
}
