//! Fixed exchange rates from US dollars, so mock prices exist in every platform currency and
//! convert exactly (integer ratios on exact decimals, never floats).

use alistach_domain::{Currency, Decimal};

/// Units of `currency` per US dollar, as `num / RATE_DEN`. Fixed on purpose: mock prices must
/// not move between runs.
const RATE_DEN: i64 = 10_000;

const fn rate_num(currency: Currency) -> i64 {
    match currency {
        Currency::USD => 10_000,
        Currency::GBP => 7_890,
        Currency::CAD => 13_650,
        Currency::EUR => 9_215,
        Currency::UAH => 410_500,
        Currency::MXN => 171_200,
        Currency::TRY => 325_400,
        Currency::RUB => 920_000,
        Currency::BRL => 50_300,
        Currency::AUD => 15_240,
        Currency::INR => 833_100,
        Currency::JPY => 1_498_000,
        Currency::IDR => 156_250_000,
        Currency::SEK => 105_900,
        Currency::KRW => 13_320_000,
        Currency::ILS => 37_100,
        Currency::THB => 359_500,
        Currency::CLP => 9_210_000,
        Currency::VND => 245_000_000,
    }
}

/// The fixed rate as `(units of currency, per this many US dollars)`: `(9215, 10000)` for EUR.
pub fn exchange_rate(currency: Currency) -> (i64, i64) {
    (rate_num(currency), RATE_DEN)
}

/// Converts an exact US dollar amount into `currency`, rounded half away from zero to the
/// currency's minor digits. `None` only when the result would not fit (far beyond any price).
pub fn usd_to(amount: Decimal, currency: Currency) -> Option<Decimal> {
    let (num, den) = exchange_rate(currency);
    amount.mul_ratio(num, den, currency.minor_digits())
}

/// The position of `currency` in [`Currency::ALL`], for per-currency arrays.
pub(crate) fn slot(currency: Currency) -> usize {
    Currency::ALL
        .iter()
        .position(|c| *c == currency)
        .unwrap_or(0)
}

/// How many currencies the catalog prices in.
pub(crate) const CURRENCIES: usize = Currency::ALL.len();

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn converts_exactly_and_rounds_to_minor_digits() {
        assert_eq!(usd_to(d("17.99"), Currency::USD), Some(d("17.99")));
        // 17.99 * 0.9215 = 16.577785 -> 16.58
        assert_eq!(
            usd_to(d("17.99"), Currency::EUR).unwrap().to_string(),
            "16.58"
        );
        // 17.99 * 149.8 = 2694.902 -> 2695 (no minor unit)
        assert_eq!(
            usd_to(d("17.99"), Currency::JPY).unwrap().to_string(),
            "2695"
        );
        // 0.05 * 0.789 = 0.03945 -> 0.04 (half away from zero)
        assert_eq!(
            usd_to(d("0.05"), Currency::GBP).unwrap().to_string(),
            "0.04"
        );
        assert_eq!(
            usd_to(d("899.99"), Currency::VND).unwrap().to_string(),
            "22049755"
        );
    }

    #[test]
    fn every_currency_has_a_positive_rate_and_a_slot() {
        for (i, c) in Currency::ALL.iter().enumerate() {
            assert!(exchange_rate(*c).0 > 0);
            assert_eq!(slot(*c), i);
        }
    }
}
