//! Currencies, languages and countries as the AliExpress platform lists them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ValidationError;

macro_rules! code_enum {
    ($(#[$meta:meta])* $name:ident, $field:literal { $($variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[allow(clippy::upper_case_acronyms)]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every value the platform accepts, in its documented order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The platform's code, e.g. `USD` or `EN`.
            pub const fn code(self) -> &'static str {
                match self { $($name::$variant => stringify!($variant)),+ }
            }
        }

        impl FromStr for $name {
            type Err = ValidationError;
            fn from_str(s: &str) -> Result<Self, ValidationError> {
                let upper = s.trim().to_ascii_uppercase();
                match upper.as_str() {
                    $(stringify!($variant) => Ok($name::$variant),)+
                    _ => Err(ValidationError::new(
                        $field,
                        format!("must be one of {}", [$(stringify!($variant)),+].join(", ")),
                    )),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.code())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.code())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

code_enum!(
    /// A `target_currency` the platform converts prices into (the 19 of the newer docs).
    Currency, "currency" {
        USD, GBP, CAD, EUR, UAH, MXN, TRY, RUB, BRL, AUD, INR, JPY, IDR, SEK, KRW, ILS, THB, CLP, VND
    }
);

code_enum!(
    /// A `target_language` the platform localises titles into.
    Language, "language" {
        EN, RU, PT, ES, FR, ID, IT, TH, JA, AR, VI, TR, DE, HE, KO, NL, PL, MX, CL, IW, IN
    }
);

impl Currency {
    /// ISO 4217 minor-unit digits: the platform's price filters are in the smallest unit.
    pub const fn minor_digits(self) -> u32 {
        match self {
            Currency::JPY | Currency::KRW | Currency::CLP | Currency::VND => 0,
            _ => 2,
        }
    }
}

#[allow(clippy::derivable_impls)] // the enum is macro-generated
impl Default for Currency {
    fn default() -> Self {
        Currency::USD
    }
}

#[allow(clippy::derivable_impls)] // the enum is macro-generated
impl Default for Language {
    fn default() -> Self {
        Language::EN
    }
}

/// A two-letter ISO 3166 country code (`US`, `FR`), stored uppercase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    /// The code as text.
    pub fn as_str(&self) -> &str {
        // Both bytes are ASCII uppercase letters by construction.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl FromStr for CountryCode {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, ValidationError> {
        let b = s.trim().as_bytes();
        if b.len() == 2 && b.iter().all(u8::is_ascii_alphabetic) {
            Ok(CountryCode([
                b[0].to_ascii_uppercase(),
                b[1].to_ascii_uppercase(),
            ]))
        } else {
            Err(ValidationError::new(
                "ship_to_country",
                "must be a two-letter country code such as US",
            ))
        }
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for CountryCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CountryCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_parse_case_insensitively_and_reject_unknowns() {
        assert_eq!("eur".parse::<Currency>().unwrap(), Currency::EUR);
        assert_eq!(Currency::ALL.len(), 19);
        assert_eq!(Language::ALL.len(), 21);
        let err = "XYZ".parse::<Currency>().unwrap_err();
        assert_eq!(err.field, "currency");
        assert!(err.rule.contains("USD"));
        assert_eq!("fr".parse::<CountryCode>().unwrap().as_str(), "FR");
        assert!("FRA".parse::<CountryCode>().is_err());
        assert!("1A".parse::<CountryCode>().is_err());
    }
}
