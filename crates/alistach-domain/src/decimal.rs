//! An exact decimal number for prices and rates: money is never a float.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The largest number of fractional digits we keep.
const MAX_SCALE: u32 = 8;

/// An exact, non-negative-or-negative decimal: `mantissa / 10^scale`.
///
/// Parsed from and printed as plain decimal text (`"17.99"`), serialised as a JSON string so no
/// client ever rounds it through a binary float.
#[derive(Clone, Copy, Debug)]
pub struct Decimal {
    mantissa: i64,
    scale: u32,
}

/// Why a text is not a decimal number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecimalError {
    /// Not plain decimal digits with an optional fraction.
    #[error("is not a decimal number")]
    Invalid,
    /// Too many digits to keep exactly.
    #[error("has too many digits")]
    TooLarge,
}

impl Decimal {
    /// Zero.
    pub const ZERO: Decimal = Decimal {
        mantissa: 0,
        scale: 0,
    };

    /// `mantissa / 10^scale`. Panics if `scale` exceeds 8 (a programming error).
    pub const fn new(mantissa: i64, scale: u32) -> Self {
        assert!(scale <= MAX_SCALE);
        Decimal { mantissa, scale }
    }

    /// An amount given in minor units (cents for `digits = 2`).
    pub const fn from_minor_units(units: i64, digits: u32) -> Self {
        Decimal::new(units, digits)
    }

    /// The number of whole minor units (`digits` fractional digits), truncating extra digits
    /// toward zero. `None` when it would not fit.
    pub fn to_minor_units(self, digits: u32) -> Option<i64> {
        if digits >= self.scale {
            self.mantissa
                .checked_mul(10i64.checked_pow(digits - self.scale)?)
        } else {
            Some(self.mantissa / 10i64.pow(self.scale - digits))
        }
    }

    /// True when below zero.
    pub fn is_negative(self) -> bool {
        self.mantissa < 0
    }

    /// The value with trailing fractional zeros removed (`12.50` becomes `12.5`).
    pub fn normalized(self) -> Self {
        let mut d = self;
        while d.scale > 0 && d.mantissa % 10 == 0 {
            d.mantissa /= 10;
            d.scale -= 1;
        }
        d
    }

    /// Rounds half away from zero to `scale` fractional digits.
    pub fn round_to(self, scale: u32) -> Self {
        if scale >= self.scale {
            return self;
        }
        let div = 10i64.pow(self.scale - scale);
        let q = self.mantissa / div;
        let r = self.mantissa % div;
        let q = if r.abs() * 2 >= div {
            q + self.mantissa.signum()
        } else {
            q
        };
        Decimal { mantissa: q, scale }
    }

    /// Multiplies by an integer ratio `num/den` (used by the mock catalog's exchange rates),
    /// rounding half away from zero to `scale` digits. `None` on overflow or `den == 0`.
    pub fn mul_ratio(self, num: i64, den: i64, scale: u32) -> Option<Self> {
        if den == 0 || scale > MAX_SCALE {
            return None;
        }
        let up = 10i128.pow(scale) * i128::from(num);
        let value = i128::from(self.mantissa) * up;
        let den = i128::from(den) * 10i128.pow(self.scale);
        let q = value / den;
        let r = value % den;
        let q = if r.abs() * 2 >= den.abs() {
            q + value.signum() * den.signum()
        } else {
            q
        };
        Some(Decimal {
            mantissa: i64::try_from(q).ok()?,
            scale,
        })
    }

    fn cmp_key(self, other: Self) -> (i128, i128) {
        let scale = self.scale.max(other.scale);
        let a = i128::from(self.mantissa) * 10i128.pow(scale - self.scale);
        let b = i128::from(other.mantissa) * 10i128.pow(scale - other.scale);
        (a, b)
    }
}

impl PartialEq for Decimal {
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = self.cmp_key(*other);
        a == b
    }
}
impl Eq for Decimal {}
impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Decimal {
    fn cmp(&self, other: &Self) -> Ordering {
        let (a, b) = self.cmp_key(*other);
        a.cmp(&b)
    }
}
impl std::hash::Hash for Decimal {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let n = self.normalized();
        n.mantissa.hash(state);
        n.scale.hash(state);
    }
}

impl FromStr for Decimal {
    type Err = DecimalError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (negative, digits) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        let (int, frac) = match digits.split_once('.') {
            Some((i, f)) => (i, f),
            None => (digits, ""),
        };
        if int.is_empty() && frac.is_empty() {
            return Err(DecimalError::Invalid);
        }
        if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DecimalError::Invalid);
        }
        let frac = frac.trim_end_matches('0');
        if frac.len() > MAX_SCALE as usize {
            return Err(DecimalError::TooLarge);
        }
        let mut mantissa: i64 = 0;
        for b in int.bytes().chain(frac.bytes()) {
            mantissa = mantissa
                .checked_mul(10)
                .and_then(|m| m.checked_add(i64::from(b - b'0')))
                .ok_or(DecimalError::TooLarge)?;
        }
        Ok(Decimal {
            mantissa: if negative { -mantissa } else { mantissa },
            scale: frac.len() as u32,
        })
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.mantissa < 0 { "-" } else { "" };
        let abs = self.mantissa.unsigned_abs();
        if self.scale == 0 {
            return write!(f, "{sign}{abs}");
        }
        let div = 10u64.pow(self.scale);
        write!(
            f,
            "{sign}{}.{:0width$}",
            abs / div,
            abs % div,
            width = self.scale as usize
        )
    }
}

impl From<u32> for Decimal {
    fn from(v: u32) -> Self {
        Decimal::new(i64::from(v), 0)
    }
}

impl Serialize for Decimal {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Decimal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Decimal;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a decimal number as a string or a number")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Decimal, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Decimal, E> {
                i64::try_from(v)
                    .map(|m| Decimal::new(m, 0))
                    .map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Decimal, E> {
                Ok(Decimal::new(v, 0))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Decimal, E> {
                // JSON numbers with a fraction: go through their shortest decimal text, which is exact
                // for every value a client typed.
                format!("{v}").parse().map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_exactly() {
        for (text, shown) in [
            ("17.99", "17.99"),
            ("0.1", "0.1"),
            ("12.50", "12.5"),
            ("7", "7"),
            ("-3.05", "-3.05"),
            (".5", "0.5"),
        ] {
            assert_eq!(
                text.parse::<Decimal>().unwrap().to_string(),
                shown,
                "{text}"
            );
        }
        for bad in ["", "abc", "1.2.3", "1e5", "--1", "1,5", "."] {
            assert!(bad.parse::<Decimal>().is_err(), "{bad}");
        }
        assert_eq!(
            "99999999999999999999".parse::<Decimal>(),
            Err(DecimalError::TooLarge)
        );
    }

    #[test]
    fn compares_across_scales() {
        let a: Decimal = "12.5".parse().unwrap();
        let b: Decimal = "12.50".parse().unwrap();
        assert_eq!(a, b);
        assert!("9.99".parse::<Decimal>().unwrap() < "10".parse().unwrap());
    }

    #[test]
    fn minor_units_and_ratios() {
        let d: Decimal = "31.41".parse().unwrap();
        assert_eq!(d.to_minor_units(2), Some(3141));
        assert_eq!(d.to_minor_units(0), Some(31));
        assert_eq!(Decimal::from_minor_units(3141, 2), d);
        // 10.00 USD at 0.92 EUR/USD
        let eur = "10"
            .parse::<Decimal>()
            .unwrap()
            .mul_ratio(92, 100, 2)
            .unwrap();
        assert_eq!(eur.to_string(), "9.20");
        assert_eq!(
            "2.345".parse::<Decimal>().unwrap().round_to(2).to_string(),
            "2.35"
        );
    }

    #[test]
    fn serde_round_trip_as_string() {
        let d: Decimal = serde_json::from_str("\"17.99\"").unwrap();
        assert_eq!(serde_json::to_string(&d).unwrap(), "\"17.99\"");
        let n: Decimal = serde_json::from_str("17.99").unwrap();
        assert_eq!(n, d);
        let i: Decimal = serde_json::from_str("5").unwrap();
        assert_eq!(i.to_string(), "5");
    }
}
