//! Statistics of A/B experiments of affiliate-link strategies: each variant's conversion rate
//! and earnings per click with 95% intervals, significance tests against the control (the
//! first variant), and the traffic shares of a fixed or a Thompson-sampling (bandit)
//! allocation, with the pick of a variant for one link.
//!
//! Pure and dependency-free on purpose. Every server instance must compute the same bandit
//! shares from the same counts and seed, and a crate's generator may change its stream
//! between versions (`rand` documents `StdRng` as not reproducible across releases), so the
//! random stream is ours: a xoshiro256**
//! generator seeded through SplitMix64, normal deviates by Marsaglia's polar method, Gamma
//! deviates by Marsaglia–Tsang (with the `U^(1/a)` boost for shapes below 1) and Beta
//! deviates as `X / (X + Y)` of two Gammas. The logarithm and exponential they need are ours
//! too (module `det`), built from IEEE-754 `+ - * / sqrt` only, which every platform rounds
//! the same, so the shares are bit-identical everywhere (the platform's `ln`/`exp` may
//! differ in the last bit between platforms, and one bit can flip a draw). None of it may
//! change between versions without changing the shares running experiments see;
//! `the_random_stream_is_pinned` fails when it does. (The intervals and p-values use the
//! platform's `exp` and `sqrt`: reports need not be bit-identical.)
//!
//! Counts come from the store as they are: a variant may have more orders than clicks
//! (orders of clicks before the experiment's window, or clicks the listener did not see).
//! Where a rate needs `orders <= clicks` (conversion, its test, the bandit's Beta
//! posterior) orders are clamped to clicks; earnings per click use the commission as it is.

/// What one variant of an experiment counted. The first variant of a list is the control.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VariantCounts {
    /// Links the variant handed out.
    pub links: u64,
    /// Clicks on its links.
    pub clicks: u64,
    /// Orders (conversions) attributed to it; may exceed `clicks` in real data.
    pub orders: u64,
    /// Sum of the orders' paid amounts, in cents.
    pub paid_cents: i64,
    /// Sum of the orders' commissions, in cents.
    pub commission_cents: i64,
    /// Sum of the squares of the per-order commissions (cents²).
    pub commission_sq_cents: i128,
}

impl VariantCounts {
    /// Orders, clamped to clicks (at most one conversion per click).
    pub fn converted_clicks(&self) -> u64 {
        self.orders.min(self.clicks)
    }
}

/// A point estimate with a two-sided 95% interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    /// The estimate.
    pub value: f64,
    /// The interval's lower end.
    pub low: f64,
    /// The interval's upper end.
    pub high: f64,
}

/// The outcome of a two-sided test of a variant against the control.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TestResult {
    /// The variant's estimate minus the control's (a rate, or cents per click).
    pub difference: f64,
    /// The two-sided p-value, in `[0, 1]`.
    pub p_value: f64,
    /// `p_value < 0.05`.
    pub significant: bool,
}

/// A variant's tests against the control; each `None` when either side lacks the data.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VersusControl {
    /// Two-proportion z-test (pooled) of the conversion rates.
    pub conversion: Option<TestResult>,
    /// Welch's z-test of the earnings per click.
    pub epc: Option<TestResult>,
}

/// The statistics of one variant.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VariantStats {
    /// Conversion rate with its Wilson interval; `None` without clicks.
    pub conversion: Option<Estimate>,
    /// Earnings per click in cents with its normal interval; `None` with fewer than 2 clicks.
    pub epc: Option<Estimate>,
    /// The tests against the control; `None` for the control itself.
    pub vs_control: Option<VersusControl>,
}

/// The significance level of [`TestResult::significant`].
pub const SIGNIFICANCE_LEVEL: f64 = 0.05;

/// The standard normal quantile of 0.975 (the half-width of a 95% interval, in standard
/// errors).
pub const Z_95: f64 = 1.959_963_984_540_054;

/// The statistics of every variant, in order; the first is the control the others are tested
/// against.
pub fn compare_variants(variants: &[VariantCounts]) -> Vec<VariantStats> {
    let control = variants.first();
    variants
        .iter()
        .enumerate()
        .map(|(i, v)| VariantStats {
            conversion: conversion(v),
            epc: earnings_per_click(v),
            vs_control: control.filter(|_| i > 0).map(|c| VersusControl {
                conversion: conversion_test(c, v),
                epc: epc_test(c, v),
            }),
        })
        .collect()
}

/// Conversion rate (orders per click, orders clamped to clicks) with its 95% Wilson score
/// interval; `None` without clicks.
pub fn conversion(v: &VariantCounts) -> Option<Estimate> {
    wilson_interval(v.converted_clicks(), v.clicks, Z_95)
}

/// The Wilson score interval of `successes` in `trials` (successes clamped to trials) for
/// the normal quantile `z`; `None` when `trials` is 0.
pub fn wilson_interval(successes: u64, trials: u64, z: f64) -> Option<Estimate> {
    if trials == 0 {
        return None;
    }
    let n = trials as f64;
    let p = successes.min(trials) as f64 / n;
    let z2 = z * z;
    let denominator = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denominator;
    let half = z / denominator * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).max(0.0).sqrt();
    Some(Estimate {
        value: p,
        // The interval always holds p; the clamps keep rounding from saying otherwise.
        low: (center - half).clamp(0.0, 1.0).min(p),
        high: (center + half).clamp(0.0, 1.0).max(p),
    })
}

/// Mean and unbiased variance of one click's earnings (cents): every click earns 0 but the
/// converting ones, so the mean is commission / clicks and the variance comes from the sum
/// of squares. `None` with fewer than 2 clicks. A variance below 0 (rounding, or a sum of
/// squares inconsistent with the sum) counts as 0.
fn click_earnings(v: &VariantCounts) -> Option<(f64, f64, f64)> {
    if v.clicks < 2 {
        return None;
    }
    let n = v.clicks as f64;
    let sum = v.commission_cents as f64;
    let mean = sum / n;
    // (sumsq/n - mean²) · n/(n-1), written as (sumsq - sum·mean)/(n-1) to lose less to
    // cancellation.
    let var = ((v.commission_sq_cents as f64 - sum * mean) / (n - 1.0)).max(0.0);
    Some((n, mean, var))
}

/// Earnings per click in cents with a 95% interval (normal approximation of the mean of the
/// clicks' earnings); `None` with fewer than 2 clicks.
pub fn earnings_per_click(v: &VariantCounts) -> Option<Estimate> {
    let (n, mean, var) = click_earnings(v)?;
    let half = Z_95 * (var / n).sqrt();
    Some(Estimate {
        value: mean,
        low: mean - half,
        high: mean + half,
    })
}

/// Two-proportion z-test (pooled variance) of the variant's conversion rate against the
/// control's, orders clamped to clicks; `None` when either has no clicks.
pub fn conversion_test(control: &VariantCounts, variant: &VariantCounts) -> Option<TestResult> {
    if control.clicks == 0 || variant.clicks == 0 {
        return None;
    }
    let (x1, n1) = (control.converted_clicks() as f64, control.clicks as f64);
    let (x2, n2) = (variant.converted_clicks() as f64, variant.clicks as f64);
    let difference = x2 / n2 - x1 / n1;
    let pooled = (x1 + x2) / (n1 + n2);
    let se = (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2))
        .max(0.0)
        .sqrt();
    Some(test_result(difference, se))
}

/// Welch's z-test (unpooled variances, normal approximation) of the variant's earnings per
/// click against the control's; `None` when either has fewer than 2 clicks.
pub fn epc_test(control: &VariantCounts, variant: &VariantCounts) -> Option<TestResult> {
    let (n1, m1, v1) = click_earnings(control)?;
    let (n2, m2, v2) = click_earnings(variant)?;
    let se = (v1 / n1 + v2 / n2).sqrt();
    Some(test_result(m2 - m1, se))
}

/// The two-sided test of `difference` with standard error `se`. With no spread at all
/// (`se` 0), a difference of 0 is no evidence (p = 1) and any other is certain (p = 0).
fn test_result(difference: f64, se: f64) -> TestResult {
    let p_value = if !difference.is_finite() || !se.is_finite() {
        1.0
    } else if se > 0.0 {
        two_sided_p(difference / se)
    } else if difference == 0.0 {
        1.0
    } else {
        0.0
    };
    TestResult {
        difference,
        p_value,
        significant: p_value < SIGNIFICANCE_LEVEL,
    }
}

/// The two-sided p-value of a standard normal statistic `z`: `P(|Z| >= |z|)`. NaN gives 1.
pub fn two_sided_p(z: f64) -> f64 {
    if z.is_nan() {
        return 1.0;
    }
    erfc(z.abs() / std::f64::consts::SQRT_2).clamp(0.0, 1.0)
}

/// The standard normal distribution function `Φ(x)`, accurate to about 1e-7 (relative, in
/// both tails).
pub fn normal_cdf(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    (0.5 * erfc(-x / std::f64::consts::SQRT_2)).clamp(0.0, 1.0)
}

/// The complementary error function, by the Chebyshev fit of Numerical Recipes (`erfcc`):
/// fractional error below 1.2e-7 everywhere.
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let ans = t * poly.exp();
    if x >= 0.0 { ans } else { 2.0 - ans }
}

/// Shares in proportion to `weights`; equal shares when they sum to 0. Empty for no weights.
pub fn fixed_shares(weights: &[u32]) -> Vec<f64> {
    let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
    if total == 0 {
        let n = weights.len() as f64;
        return weights.iter().map(|_| 1.0 / n).collect();
    }
    weights
        .iter()
        .map(|&w| f64::from(w) / total as f64)
        .collect()
}

/// Thompson-sampling shares of traffic for a bandit over `variants`.
///
/// Each of `draws` draws samples, for every variant, a conversion rate from its posterior
/// `Beta(1 + orders', 1 + clicks - orders')` (orders' = orders clamped to clicks) and
/// multiplies it by the variant's value per order: its mean commission per order, or for a
/// variant without orders the pooled mean over all variants (1 cent when there are no
/// orders or that mean is not positive). The highest sample wins the draw (a tie splits it).
/// With `P(best)` = wins / draws and `floor = min(min_share_permille / 1000, 1 / n)`, a
/// variant's share is `floor + (1 - n·floor) · P(best)`; the shares sum to 1 (up to
/// rounding). Without draws every `P(best)` is `1 / n`.
///
/// Deterministic: the same counts, `min_share_permille`, `seed` and `draws` give the same
/// shares on every instance (see the module docs), so instances agree when they derive the
/// seed from what they share (the experiment's id, say). Costs `O(draws · n)` Gamma samples;
/// `P(best)` is within `0.5 / √draws` (one standard error) of its limit, so a few thousand
/// draws are plenty.
pub fn bandit_shares(
    variants: &[VariantCounts],
    min_share_permille: u32,
    seed: u64,
    draws: u32,
) -> Vec<f64> {
    let n = variants.len();
    if n == 0 {
        return Vec::new();
    }
    let p_best = if draws == 0 {
        vec![1.0 / n as f64; n]
    } else {
        let wins = thompson_wins(variants, seed, draws);
        wins.iter().map(|w| w / f64::from(draws)).collect()
    };
    let floor = (f64::from(min_share_permille) / 1000.0).min(1.0 / n as f64);
    let rest = (1.0 - n as f64 * floor).max(0.0);
    p_best.iter().map(|p| floor + rest * p).collect()
}

/// Each variant's wins in `draws` Thompson draws (ties split).
fn thompson_wins(variants: &[VariantCounts], seed: u64, draws: u32) -> Vec<f64> {
    let (orders, commission) = variants.iter().fold((0.0, 0.0), |(o, c), v| {
        (o + v.orders as f64, c + v.commission_cents as f64)
    });
    let pooled = if orders > 0.0 && commission > 0.0 {
        commission / orders
    } else {
        1.0
    };
    let arms: Vec<(f64, f64, f64)> = variants
        .iter()
        .map(|v| {
            let converted = v.converted_clicks();
            let value = if v.orders > 0 {
                v.commission_cents as f64 / v.orders as f64
            } else {
                pooled
            };
            (
                1.0 + converted as f64,
                1.0 + (v.clicks - converted) as f64,
                value,
            )
        })
        .collect();
    let mut rng = Rng::seeded(seed);
    let mut wins = vec![0.0; arms.len()];
    let mut samples = vec![0.0; arms.len()];
    for _ in 0..draws {
        for (sample, &(a, b, value)) in samples.iter_mut().zip(&arms) {
            *sample = rng.beta(a, b) * value;
        }
        let best = samples.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let tied = samples.iter().filter(|&&s| s == best).count();
        if tied == 0 {
            continue;
        }
        let share = 1.0 / tied as f64;
        for (w, _) in wins.iter_mut().zip(&samples).filter(|(_, s)| **s == best) {
            *w += share;
        }
    }
    wins
}

/// The variant whose cumulative share covers `unit` (uniform in `[0, 1)`). Robust to shares
/// that do not sum to 1 (`unit` is scaled by their sum), to negative or NaN shares (count as
/// 0) and to `unit` outside `[0, 1)` (clamped): always an index of `shares`, except 0 for
/// no shares at all. All shares 0 picks uniformly.
pub fn pick(shares: &[f64], unit: f64) -> usize {
    let n = shares.len();
    if n == 0 {
        return 0;
    }
    let unit = if unit.is_nan() {
        0.0
    } else {
        unit.clamp(0.0, 1.0)
    };
    let valid = |s: f64| if s.is_finite() && s > 0.0 { s } else { 0.0 };
    let total: f64 = shares.iter().map(|&s| valid(s)).sum();
    if total <= 0.0 || !total.is_finite() {
        return ((unit * n as f64) as usize).min(n - 1);
    }
    let target = unit * total;
    let mut cumulative = 0.0;
    let mut last_positive = 0;
    for (i, &s) in shares.iter().enumerate() {
        let s = valid(s);
        if s > 0.0 {
            cumulative += s;
            last_positive = i;
            if target < cumulative {
                return i;
            }
        }
    }
    last_positive
}

/// A uniform number in `[0, 1)` from a 64-bit hash (its top 53 bits).
pub fn unit_from_hash(h: u64) -> f64 {
    (h >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A uniform number in `[0, 1)` from any 64-bit key, mixed first (SplitMix64's finalizer):
/// for keys whose top bits are poorly spread, such as an FNV-1a hash of similar texts.
pub fn unit_from_key(key: u64) -> f64 {
    unit_from_hash(finalize(key))
}

/// SplitMix64's output function.
fn finalize(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// SplitMix64: one step of the seeding generator.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    finalize(*state)
}

/// xoshiro256** (Blackman and Vigna), seeded with four SplitMix64 outputs, and the
/// deviates the bandit needs. Its stream is part of the bandit's contract.
#[derive(Clone, Debug)]
struct Rng {
    s: [u64; 4],
}

impl Rng {
    fn seeded(seed: u64) -> Rng {
        let mut sm = seed;
        Rng {
            s: [
                splitmix64(&mut sm),
                splitmix64(&mut sm),
                splitmix64(&mut sm),
                splitmix64(&mut sm),
            ],
        }
    }

    fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in `(0, 1)`: never 0, so its logarithm is finite.
    fn open01(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64)
    }

    /// Standard normal, by Marsaglia's polar method (the second deviate is dropped).
    fn normal(&mut self) -> f64 {
        loop {
            let u = 2.0 * self.open01() - 1.0;
            let v = 2.0 * self.open01() - 1.0;
            let s = u * u + v * v;
            if s > 0.0 && s < 1.0 {
                return u * (-2.0 * det::ln(s) / s).sqrt();
            }
        }
    }

    /// Gamma(shape, 1) by Marsaglia and Tsang (2000); a shape below 1 samples `shape + 1`
    /// and multiplies by `U^(1/shape)`. The log test is written with `ln_1p` so huge shapes
    /// (billions of clicks) keep their precision. A shape that is not positive and finite
    /// gives 0.
    fn gamma(&mut self, shape: f64) -> f64 {
        if !(shape > 0.0 && shape.is_finite()) {
            return 0.0;
        }
        if shape < 1.0 {
            let boost = det::exp(det::ln(self.open01()) / shape);
            return self.gamma(shape + 1.0) * boost;
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let x = self.normal();
            let w = c * x;
            if w <= -1.0 {
                continue;
            }
            let v = (1.0 + w) * (1.0 + w) * (1.0 + w);
            let u = self.open01();
            let x2 = x * x;
            if u < 1.0 - 0.0331 * x2 * x2 {
                return d * v;
            }
            // 1 - v + ln v, with v = (1 + w)³.
            let excess = 3.0 * det::ln_1p(w) - w * (3.0 + w * (3.0 + w));
            if det::ln(u) < 0.5 * x2 + d * excess {
                return d * v;
            }
        }
    }

    /// Beta(a, b) as `X / (X + Y)` with `X ~ Gamma(a)`, `Y ~ Gamma(b)`.
    fn beta(&mut self, a: f64, b: f64) -> f64 {
        let x = self.gamma(a);
        let y = self.gamma(b);
        let sum = x + y;
        if sum > 0.0 && sum.is_finite() {
            x / sum
        } else {
            0.5
        }
    }
}

/// Natural logarithm and exponential from IEEE-754 basic operations only (no platform math
/// library), so the bandit's random stream is the same on every platform. Accurate to a few
/// units in the last place, which is all the samplers need.
mod det {
    /// ln 2 split so that `k * LN2_HI` is exact for |k| < 2^11 (fdlibm's constants).
    const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
    const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);

    /// `ln((1 + s) / (1 - s)) = 2·atanh(s)` for |s| <= 0.172 (to below 1e-17 relative).
    fn atanh2(s: f64) -> f64 {
        let s2 = s * s;
        let mut sum = 0.0;
        for k in (0..12).rev() {
            sum = sum * s2 + 2.0 / f64::from(2 * k + 1);
        }
        s * sum
    }

    /// The natural logarithm.
    pub(super) fn ln(x: f64) -> f64 {
        if x.is_nan() || x < 0.0 {
            return f64::NAN;
        }
        if x == 0.0 {
            return f64::NEG_INFINITY;
        }
        if x == f64::INFINITY {
            return f64::INFINITY;
        }
        // Subnormals: scale into the normal range first (exact).
        let (x, mut e) = if x < f64::MIN_POSITIVE {
            (x * (1u64 << 54) as f64, -54i64)
        } else {
            (x, 0)
        };
        let bits = x.to_bits();
        e += ((bits >> 52) & 0x7ff) as i64 - 1023;
        // The mantissa in [1, 2), then in (√½, √2] (halving is exact).
        let mut m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
        if m > std::f64::consts::SQRT_2 {
            m *= 0.5;
            e += 1;
        }
        let e = e as f64;
        e * LN2_HI + (e * LN2_LO + atanh2((m - 1.0) / (m + 1.0)))
    }

    /// `ln(1 + w)`, precise for tiny `w`.
    pub(super) fn ln_1p(w: f64) -> f64 {
        if w.abs() < 0.25 {
            atanh2(w / (2.0 + w))
        } else {
            ln(1.0 + w)
        }
    }

    /// The exponential.
    pub(super) fn exp(x: f64) -> f64 {
        if x.is_nan() {
            return f64::NAN;
        }
        if x > 709.8 {
            return f64::INFINITY;
        }
        if x < -745.2 {
            return 0.0;
        }
        // x = k·ln2 + r with |r| <= ln2/2; e^r by its Taylor series (18 terms, below 1e-19).
        let k = (x / std::f64::consts::LN_2).round();
        let r = (x - k * LN2_HI) - k * LN2_LO;
        let mut sum = 1.0;
        for j in (1..18).rev() {
            sum = 1.0 + sum * r / f64::from(j);
        }
        let mut k = k as i32;
        let mut y = sum;
        while k > 1000 {
            y *= pow2(1000);
            k -= 1000;
        }
        while k < -1000 {
            y *= pow2(-1000);
            k += 1000;
        }
        y * pow2(k)
    }

    /// 2^k for -1022 <= k <= 1023.
    fn pow2(k: i32) -> f64 {
        f64::from_bits(((i64::from(k) + 1023) as u64) << 52)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(clicks: u64, orders: u64, commission_per_order: i64) -> VariantCounts {
        VariantCounts {
            links: clicks * 3,
            clicks,
            orders,
            paid_cents: orders as i64 * commission_per_order * 20,
            commission_cents: orders as i64 * commission_per_order,
            commission_sq_cents: orders as i128
                * i128::from(commission_per_order)
                * i128::from(commission_per_order),
        }
    }

    fn close(a: f64, b: f64, tolerance: f64) -> bool {
        (a - b).abs() <= tolerance
    }

    #[test]
    fn normal_cdf_matches_known_values() {
        for (x, phi) in [
            (0.0, 0.5),
            (1.0, 0.841_344_746),
            (1.96, 0.975_002_105),
            (-1.96, 0.024_997_895),
            (2.575_829_3, 0.995),
            (-3.0, 0.001_349_898),
            (3.0, 0.998_650_102),
            (-5.0, 2.866_515_7e-7),
        ] {
            let got = normal_cdf(x);
            assert!(close(got, phi, 2e-7), "Phi({x}) = {got}, want {phi}");
        }
        // Relative accuracy holds in the far tail.
        let tail = normal_cdf(-8.0);
        assert!(close(tail / 6.220_960_574e-16, 1.0, 1e-6), "{tail}");
        assert_eq!(normal_cdf(f64::INFINITY), 1.0);
        assert_eq!(normal_cdf(f64::NEG_INFINITY), 0.0);
        assert!(normal_cdf(f64::NAN).is_nan());
    }

    #[test]
    fn two_sided_p_matches_known_values() {
        assert!(close(two_sided_p(1.959_964), 0.05, 1e-6));
        assert!(close(two_sided_p(-1.959_964), 0.05, 1e-6));
        assert!(close(two_sided_p(2.575_829), 0.01, 1e-6));
        assert!(close(two_sided_p(1.0), 0.317_310_508, 1e-6));
        assert_eq!(two_sided_p(0.0), 1.0);
        assert_eq!(two_sided_p(f64::NAN), 1.0);
        assert_eq!(two_sided_p(f64::INFINITY), 0.0);
    }

    #[test]
    fn wilson_interval_matches_known_values() {
        let e = wilson_interval(10, 100, Z_95).unwrap();
        assert!(close(e.value, 0.1, 1e-12));
        assert!(close(e.low, 0.055_229, 1e-5), "{e:?}");
        assert!(close(e.high, 0.174_367, 1e-5), "{e:?}");

        // No successes: the interval starts at 0 and still has width (3/n rule of thumb).
        let zero = wilson_interval(0, 50, Z_95).unwrap();
        assert_eq!(zero.low, 0.0);
        assert!(close(zero.high, 0.071_348, 1e-5), "{zero:?}");
        // All successes mirror it.
        let all = wilson_interval(50, 50, Z_95).unwrap();
        assert!(close(all.low, 1.0 - zero.high, 1e-12));
        assert_eq!(all.high, 1.0);

        assert_eq!(wilson_interval(0, 0, Z_95), None);
    }

    #[test]
    fn conversion_clamps_orders_to_clicks() {
        assert_eq!(conversion(&counts(0, 3, 100)), None);
        let over = conversion(&counts(10, 25, 100)).unwrap();
        assert_eq!(over.value, 1.0);
        assert!(over.low > 0.6 && over.high == 1.0, "{over:?}");
        let ten = conversion(&counts(100, 10, 100)).unwrap();
        assert!(close(ten.low, 0.055_229, 1e-5));
    }

    #[test]
    fn epc_interval_from_sum_of_squares() {
        // 10 clicks, 2 orders of 300 and 500 cents: per-click earnings 300, 500 and 8 zeros.
        let v = VariantCounts {
            clicks: 10,
            orders: 2,
            commission_cents: 800,
            commission_sq_cents: 300 * 300 + 500 * 500,
            ..VariantCounts::default()
        };
        let e = earnings_per_click(&v).unwrap();
        let xs = [300.0, 500.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        let mean = xs.iter().sum::<f64>() / 10.0;
        let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / 9.0;
        let half = 1.959_964 * (var / 10.0).sqrt();
        assert!(close(e.value, 80.0, 1e-9));
        assert!(close(e.low, mean - half, 1e-3), "{e:?}");
        assert!(close(e.high, mean + half, 1e-3), "{e:?}");

        assert_eq!(earnings_per_click(&counts(1, 1, 100)), None);
        assert_eq!(earnings_per_click(&counts(0, 0, 0)), None);
        let nothing = earnings_per_click(&counts(1000, 0, 0)).unwrap();
        assert_eq!((nothing.value, nothing.low, nothing.high), (0.0, 0.0, 0.0));
        // A sum of squares too small for the sum (inconsistent data) is no negative variance.
        let odd = VariantCounts {
            clicks: 10,
            orders: 1,
            commission_cents: 1000,
            commission_sq_cents: 0,
            ..VariantCounts::default()
        };
        let e = earnings_per_click(&odd).unwrap();
        assert_eq!((e.low, e.high), (100.0, 100.0));
    }

    #[test]
    fn conversion_test_matches_a_worked_example() {
        // 200/1000 vs 250/1000: pooled 0.225, se = sqrt(.225*.775*.002) = 0.018675,
        // z = 0.05 / 0.018675 = 2.6774, two-sided p = 0.00742.
        let t = conversion_test(&counts(1000, 200, 100), &counts(1000, 250, 100)).unwrap();
        assert!(close(t.difference, 0.05, 1e-12));
        assert!(close(t.p_value, 0.007_42, 5e-5), "{t:?}");
        assert!(t.significant);
        // The same difference on a tenth of the traffic is not significant.
        let small = conversion_test(&counts(100, 20, 100), &counts(100, 25, 100)).unwrap();
        assert!(close(small.p_value, 0.397_18, 5e-5), "{small:?}");
        assert!(!small.significant);
        // Symmetric in direction.
        let back = conversion_test(&counts(1000, 250, 100), &counts(1000, 200, 100)).unwrap();
        assert!(close(back.p_value, t.p_value, 1e-12));
        assert!(close(back.difference, -0.05, 1e-12));

        assert_eq!(conversion_test(&counts(0, 0, 0), &counts(10, 1, 1)), None);
        assert_eq!(conversion_test(&counts(10, 1, 1), &counts(0, 0, 0)), None);
        let none = conversion_test(&counts(10, 0, 0), &counts(20, 0, 0)).unwrap();
        assert_eq!((none.p_value, none.significant), (1.0, false));
    }

    #[test]
    fn epc_test_is_welch() {
        let a = counts(2000, 40, 500);
        let b = counts(2000, 80, 500);
        let (_, m1, v1) = click_earnings(&a).unwrap();
        let (_, m2, v2) = click_earnings(&b).unwrap();
        let z = (m2 - m1) / (v1 / 2000.0 + v2 / 2000.0).sqrt();
        let t = epc_test(&a, &b).unwrap();
        assert!(close(t.difference, 10.0, 1e-9));
        assert!(close(t.p_value, 2.0 * (1.0 - normal_cdf(z)), 1e-7));
        assert!(t.significant, "{t:?} z={z}");
        assert_eq!(epc_test(&counts(1, 0, 0), &b), None);
        let same = epc_test(&counts(100, 0, 0), &counts(300, 0, 0)).unwrap();
        assert_eq!(same.p_value, 1.0);
    }

    #[test]
    fn compare_variants_tests_against_the_control() {
        let stats = compare_variants(&[counts(1000, 200, 100), counts(1000, 250, 100)]);
        assert_eq!(stats.len(), 2);
        assert_eq!(stats[0].vs_control, None);
        let vs = stats[1].vs_control.unwrap();
        assert!(vs.conversion.unwrap().significant);
        assert!(vs.epc.is_some());
        assert!(close(stats[1].conversion.unwrap().value, 0.25, 1e-12));
        assert!(compare_variants(&[]).is_empty());
        let lone = compare_variants(&[VariantCounts::default(), counts(5, 1, 10)]);
        assert_eq!(lone[0].conversion, None);
        assert_eq!(lone[1].vs_control.unwrap().conversion, None);
    }

    #[test]
    fn the_random_stream_is_pinned() {
        // Reference outputs: SplitMix64 from 0, and xoshiro256** from the state [1, 2, 3, 4]
        // (Vigna's reference implementations).
        let mut sm = 0u64;
        assert_eq!(splitmix64(&mut sm), 0xe220_a839_7b1d_cdaf);
        assert_eq!(splitmix64(&mut sm), 0x6e78_9e6a_a1b9_65f4);
        let mut rng = Rng { s: [1, 2, 3, 4] };
        let first: Vec<u64> = (0..4).map(|_| rng.next_u64()).collect();
        assert_eq!(first, [11_520, 0, 1_509_978_240, 1_215_971_899_390_074_240]);
        // The deviates, to the bit (the boosted Gamma of a shape below 1 included).
        let mut rng = Rng::seeded(1);
        assert_eq!(rng.beta(3.0, 5.0).to_bits(), 0x3fe6_6290_5bec_ad15);
        assert_eq!(rng.gamma(0.5).to_bits(), 0x3f71_c6c5_6403_0841);
        assert_eq!(rng.gamma(1e15).to_bits(), 0x430c_6bf5_2dcf_9e18);
        // And the bandit built on them: changing any step changes running experiments'
        // shares, so this pins the wins of a fixed case.
        let wins = thompson_wins(&[counts(1000, 20, 100), counts(1000, 25, 100)], 7, 1000);
        assert_eq!(wins, PINNED_WINS);
    }

    /// The wins `the_random_stream_is_pinned` expects.
    const PINNED_WINS: [f64; 2] = [215.0, 785.0];

    #[test]
    fn deviates_have_the_right_moments() {
        let mut rng = Rng::seeded(42);
        let n = 40_000;
        let normals: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        let mean = normals.iter().sum::<f64>() / n as f64;
        let var = normals.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n as f64;
        assert!(
            mean.abs() < 0.02 && (var - 1.0).abs() < 0.03,
            "{mean} {var}"
        );
        for shape in [0.3, 1.0, 2.5, 40.0, 1e12] {
            let xs: Vec<f64> = (0..n).map(|_| rng.gamma(shape)).collect();
            let mean = xs.iter().sum::<f64>() / n as f64;
            let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n as f64;
            assert!(xs.iter().all(|x| x.is_finite() && *x >= 0.0));
            // Gamma(k, 1): mean k, variance k.
            assert!(
                close(mean / shape, 1.0, 4.0 / shape.sqrt() / 50.0),
                "{shape}: {mean}"
            );
            assert!(close(var / shape, 1.0, 0.1), "{shape}: {var}");
        }
        let (a, b) = (3.0, 7.0);
        let xs: Vec<f64> = (0..n).map(|_| rng.beta(a, b)).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        assert!(close(mean, 0.3, 0.005), "{mean}");
        assert!(xs.iter().all(|x| (0.0..=1.0).contains(x)));
    }

    #[test]
    fn our_ln_and_exp_match_the_platform() {
        let rel = |a: f64, b: f64| {
            if b == 0.0 {
                a.abs()
            } else {
                ((a - b) / b).abs()
            }
        };
        let mut rng = Rng::seeded(11);
        let mut xs = vec![
            1.0,
            2.0,
            0.5,
            std::f64::consts::E,
            1e-300,
            5e-324,
            f64::MIN_POSITIVE,
            f64::MAX,
            0.999_999_999_999,
            1.000_000_000_001,
            std::f64::consts::SQRT_2,
        ];
        xs.extend((0..2000).map(|_| rng.open01()));
        xs.extend((0..2000).map(|_| rng.open01() * 1e6));
        for x in xs {
            let (ours, std) = (det::ln(x), x.ln());
            assert!(
                (ours - std).abs() <= 4.0 * f64::EPSILON * std.abs().max(1e-300),
                "ln({x}) = {ours}, std {std}"
            );
        }
        for w in [1e-12, -1e-12, 1e-5, -0.2, 0.24, 0.3, 5.0, -0.999] {
            assert!(rel(det::ln_1p(w), w.ln_1p()) < 1e-15, "ln_1p({w})");
        }
        for x in [
            0.0, 1.0, -1.0, 0.5, 10.0, -10.0, 700.0, -700.0, -740.0, 1e-10, -0.3466,
        ] {
            let (ours, std) = (det::exp(x), x.exp());
            assert!(rel(ours, std) < 1e-14, "exp({x}) = {ours}, std {std}");
        }
        for _ in 0..2000 {
            let x = (rng.open01() - 0.5) * 1400.0;
            assert!(rel(det::exp(x), x.exp()) < 1e-13, "exp({x})");
        }
        assert_eq!(det::ln(0.0), f64::NEG_INFINITY);
        assert!(det::ln(-1.0).is_nan() && det::ln(f64::NAN).is_nan());
        assert_eq!(det::exp(800.0), f64::INFINITY);
        assert_eq!(det::exp(-800.0), 0.0);
    }

    fn assert_shares(shares: &[f64], n: usize, min_share_permille: u32) {
        assert_eq!(shares.len(), n);
        let sum: f64 = shares.iter().sum();
        assert!(close(sum, 1.0, 1e-9), "{shares:?}");
        let floor = (f64::from(min_share_permille) / 1000.0).min(1.0 / n as f64);
        assert!(
            shares.iter().all(|s| s.is_finite() && *s >= floor - 1e-12),
            "{shares:?}"
        );
    }

    #[test]
    fn a_clearly_better_variant_gets_most_traffic() {
        let v = [counts(1000, 5, 200), counts(1000, 50, 200)];
        let shares = bandit_shares(&v, 100, 1, 2000);
        assert_shares(&shares, 2, 100);
        assert!(shares[1] > 0.85, "{shares:?}");
        // The floor keeps the worse one alive.
        assert!(close(shares[0], 0.1, 0.01), "{shares:?}");
        // Value per order counts too: fewer but far richer orders win.
        let rich = [counts(1000, 50, 10), counts(1000, 40, 1000)];
        let shares = bandit_shares(&rich, 50, 1, 2000);
        assert!(shares[1] > 0.9, "{shares:?}");
    }

    #[test]
    fn equal_variants_get_about_equal_shares() {
        let v = [counts(500, 10, 300); 3];
        let shares = bandit_shares(&v, 0, 9, 6000);
        assert_shares(&shares, 3, 0);
        for s in &shares {
            assert!(close(*s, 1.0 / 3.0, 0.04), "{shares:?}");
        }
        // Without data, too (and ties of zero-valued samples are split, not won by the
        // control).
        let zeros = [VariantCounts::default(); 4];
        let shares = bandit_shares(&zeros, 100, 9, 4000);
        assert_shares(&shares, 4, 100);
        for s in &shares {
            assert!(close(*s, 0.25, 0.04), "{shares:?}");
        }
        let worthless = [counts(100, 5, 0), counts(100, 5, 0)];
        let shares = bandit_shares(&worthless, 0, 9, 100);
        assert_eq!(shares, [0.5, 0.5]);
    }

    #[test]
    fn bandit_is_deterministic_per_seed() {
        let v = [
            counts(800, 12, 150),
            counts(900, 15, 140),
            counts(700, 9, 200),
        ];
        let a = bandit_shares(&v, 100, 123, 3000);
        let b = bandit_shares(&v, 100, 123, 3000);
        assert_eq!(a, b);
        let other = bandit_shares(&v, 100, 124, 3000);
        assert_ne!(a, other);
    }

    #[test]
    fn bandit_survives_edge_cases() {
        assert!(bandit_shares(&[], 100, 0, 100).is_empty());
        assert_eq!(bandit_shares(&[counts(10, 1, 1)], 100, 0, 100), [1.0]);
        // No draws: equal chances, then the floor.
        assert_eq!(bandit_shares(&[counts(10, 1, 1); 2], 100, 0, 0), [0.5, 0.5]);
        // A floor above 1/n is capped at 1/n: equal shares.
        let capped = bandit_shares(&[counts(10, 1, 1), counts(10, 9, 1)], 900, 0, 100);
        assert_eq!(capped, [0.5, 0.5]);
        let huge = VariantCounts {
            links: u64::MAX,
            clicks: u64::MAX,
            orders: u64::MAX / 3,
            paid_cents: i64::MAX,
            commission_cents: i64::MAX,
            commission_sq_cents: i128::MAX,
        };
        let negative = VariantCounts {
            clicks: 10,
            orders: 2,
            commission_cents: -500,
            commission_sq_cents: 125_000,
            ..VariantCounts::default()
        };
        let over = counts(10, 1000, 50);
        let cases = [
            VariantCounts::default(),
            huge,
            negative,
            over,
            counts(1, 0, 0),
        ];
        let shares = bandit_shares(&cases, 100, 5, 500);
        assert_shares(&shares, cases.len(), 100);
        for stats in compare_variants(&cases) {
            for e in [stats.conversion, stats.epc].into_iter().flatten() {
                assert!(
                    !e.value.is_nan() && !e.low.is_nan() && !e.high.is_nan(),
                    "{e:?}"
                );
            }
            if let Some(vs) = stats.vs_control {
                for t in [vs.conversion, vs.epc].into_iter().flatten() {
                    assert!((0.0..=1.0).contains(&t.p_value), "{t:?}");
                }
            }
        }
        let tests = compare_variants(&[huge, over, negative]);
        for stats in &tests[1..] {
            let vs = stats.vs_control.unwrap();
            assert!(vs.conversion.is_some() && vs.epc.is_some());
        }
    }

    #[test]
    fn fixed_shares_follow_weights() {
        assert_eq!(fixed_shares(&[1, 3]), [0.25, 0.75]);
        assert_eq!(fixed_shares(&[0, 0]), [0.5, 0.5]);
        assert!(fixed_shares(&[]).is_empty());
        let big = fixed_shares(&[u32::MAX, u32::MAX, u32::MAX]);
        assert!(close(big.iter().sum::<f64>(), 1.0, 1e-12));
    }

    #[test]
    fn pick_follows_cumulative_shares() {
        let shares = [0.2, 0.5, 0.3];
        assert_eq!(pick(&shares, 0.0), 0);
        assert_eq!(pick(&shares, 0.199_999), 0);
        assert_eq!(pick(&shares, 0.2), 1);
        assert_eq!(pick(&shares, 0.699_999), 1);
        assert_eq!(pick(&shares, 0.7), 2);
        assert_eq!(pick(&shares, 0.999_999_999), 2);
        // Rounding, bad input.
        assert_eq!(pick(&[0.3, 0.3, 0.3], 0.95), 2);
        assert_eq!(pick(&[0.5, 0.5, 0.0], 1.0), 1);
        assert_eq!(pick(&shares, f64::NAN), 0);
        assert_eq!(pick(&shares, -3.0), 0);
        assert_eq!(pick(&shares, 7.0), 2);
        assert_eq!(pick(&[f64::NAN, -1.0, 0.4], 0.1), 2);
        assert_eq!(pick(&[0.0, 0.0], 0.75), 1);
        assert_eq!(pick(&[], 0.5), 0);
    }

    #[test]
    fn pick_matches_shares_empirically() {
        let shares = bandit_shares(
            &[
                counts(1000, 10, 100),
                counts(1000, 20, 100),
                counts(50, 1, 100),
            ],
            100,
            3,
            2000,
        );
        let n = 200_000u64;
        let mut seen = [0u64; 3];
        let mut h = 0u64;
        for _ in 0..n {
            seen[pick(&shares, unit_from_hash(splitmix64(&mut h)))] += 1;
        }
        for (count, share) in seen.iter().zip(&shares) {
            assert!(
                close(*count as f64 / n as f64, *share, 0.005),
                "{seen:?} {shares:?}"
            );
        }
    }

    #[test]
    fn unit_from_hash_spans_the_unit_interval() {
        assert_eq!(unit_from_hash(0), 0.0);
        assert!(unit_from_hash(u64::MAX) < 1.0);
        assert!(unit_from_hash(u64::MAX) > 0.999_999_999);
        assert_eq!(unit_from_hash(1 << 63), 0.5);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn any_counts() -> impl Strategy<Value = VariantCounts> {
            (
                any::<u64>(),
                prop_oneof![0u64..5_000, any::<u64>()],
                prop_oneof![0u64..200, any::<u64>()],
                any::<i64>(),
                prop_oneof![-10_000i64..1_000_000, any::<i64>()],
                any::<i128>(),
            )
                .prop_map(|(links, clicks, orders, paid, commission, sq)| {
                    VariantCounts {
                        links,
                        clicks,
                        orders,
                        paid_cents: paid,
                        commission_cents: commission,
                        commission_sq_cents: sq,
                    }
                })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(128))]

            #[test]
            fn shares_sum_to_one_and_respect_the_floor(
                variants in proptest::collection::vec(any_counts(), 1..6),
                permille in 0u32..1500,
                seed in any::<u64>(),
            ) {
                let shares = bandit_shares(&variants, permille, seed, 50);
                assert_shares(&shares, variants.len(), permille);
            }

            #[test]
            fn statistics_are_never_nan(variants in proptest::collection::vec(any_counts(), 1..4)) {
                for stats in compare_variants(&variants) {
                    if let Some(c) = stats.conversion {
                        prop_assert!(0.0 <= c.low && c.low <= c.value && c.value <= c.high && c.high <= 1.0);
                    }
                    if let Some(e) = stats.epc {
                        prop_assert!(!e.value.is_nan() && !e.low.is_nan() && !e.high.is_nan());
                    }
                    if let Some(vs) = stats.vs_control {
                        for t in [vs.conversion, vs.epc].into_iter().flatten() {
                            prop_assert!((0.0..=1.0).contains(&t.p_value));
                        }
                    }
                }
            }

            #[test]
            fn pick_is_always_in_bounds(
                shares in proptest::collection::vec(prop_oneof![any::<f64>(), 0.0f64..1.0], 1..8),
                unit in prop_oneof![any::<f64>(), 0.0f64..1.0],
            ) {
                prop_assert!(pick(&shares, unit) < shares.len());
            }

            #[test]
            fn pick_never_picks_a_zero_share(weights in proptest::collection::vec(0u32..4, 1..8), h in any::<u64>()) {
                let shares = fixed_shares(&weights);
                let i = pick(&shares, unit_from_hash(h));
                prop_assert!(weights.iter().all(|w| *w == 0) || weights[i] > 0);
            }

            #[test]
            fn normal_cdf_is_monotone(a in -40.0f64..40.0, b in -40.0f64..40.0) {
                let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
                prop_assert!(normal_cdf(lo) <= normal_cdf(hi));
            }
        }
    }
}
