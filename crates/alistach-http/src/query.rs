//! The quick reading of a query string into a request type: the pairs decoded as
//! `application/x-www-form-urlencoded` (what `form_urlencoded::parse` gives, a test holds the
//! two to the same pairs), then handed to `T`'s `Deserialize` as the JSON object
//! [`crate::convert::query_params`] would build, without building it. Every cached GET search
//! starts here, and the object (a map, a `String` per name and value, then a copy of each into
//! `T`) was a tenth of a cached answer's instructions.
//!
//! Only the common case is read here: anything this path refuses (a name given twice, a value
//! of the wrong type, an unknown name, more than [`MAX_PAIRS`] pairs) is read again by the
//! careful path, which names the field that is wrong. So errors, and their wording, come from
//! one place.

use std::borrow::Cow;

use serde::de::value::{Error, MapDeserializer};
use serde::de::{DeserializeOwned, IntoDeserializer, Visitor};
use serde::forward_to_deserialize_any;

/// The most pairs read on the quick path (a search has at most twelve names).
pub(crate) const MAX_PAIRS: usize = 16;

/// `T` from `query`, or `None` when the careful path must read it (see the module docs).
pub(crate) fn quick<T: DeserializeOwned>(query: &str, numeric: &[&str]) -> Option<T> {
    let mut pairs: Vec<(Cow<'_, str>, Param<'_>)> = Vec::with_capacity(4);
    for (name, value) in pairs_of(query) {
        if pairs.len() == MAX_PAIRS || pairs.iter().any(|(n, _)| *n == name) {
            return None;
        }
        let value = if numeric.contains(&name.as_ref()) {
            Param::number(value)
        } else {
            Param::Text(value)
        };
        pairs.push((name, value));
    }
    // The careful path's object is a `serde_json::Map`, which keeps its names sorted: `T`
    // sees them in the same order.
    pairs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let map = MapDeserializer::<_, Error>::new(pairs.into_iter());
    T::deserialize(map).ok()
}

/// The name-value pairs of a query string, decoded as `form_urlencoded::parse` decodes them:
/// empty pieces skipped, a piece without `=` has an empty value, `+` is a space, `%XX` a byte
/// (a `%` not followed by two hex digits stays as it is), and bytes that are not UTF-8 are
/// replaced. A name or value with nothing to decode is borrowed.
pub(crate) fn pairs_of(query: &str) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
    // Split at ASCII bytes with plain loops (the pieces are short; `str::split` with a `char`
    // pattern costs more than the decoding): every split point is a character boundary.
    let mut rest = query;
    std::iter::from_fn(move || {
        loop {
            if rest.is_empty() {
                return None;
            }
            let end = rest.bytes().position(|b| b == b'&').unwrap_or(rest.len());
            let piece = &rest[..end];
            rest = rest.get(end + 1..).unwrap_or("");
            if piece.is_empty() {
                continue;
            }
            let (name, value) = match piece.bytes().position(|b| b == b'=') {
                Some(eq) => (&piece[..eq], &piece[eq + 1..]),
                None => (piece, ""),
            };
            return Some((decode(name), decode(value)));
        }
    })
}

fn decode(s: &str) -> Cow<'_, str> {
    let bytes = s.as_bytes();
    if !bytes.iter().any(|&b| b == b'%' || b == b'+') {
        return Cow::Borrowed(s);
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        i += 1;
        match b {
            b'+' => out.push(b' '),
            b'%' => match (bytes.get(i).and_then(hex), bytes.get(i + 1).and_then(hex)) {
                (Some(high), Some(low)) => {
                    out.push(high << 4 | low);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
    }
    match String::from_utf8(out) {
        Ok(text) => Cow::Owned(text),
        Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

fn hex(b: &u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// One value as the careful path's object holds it: a number for a numeric name that reads as
/// an integer, else text.
enum Param<'a> {
    Text(Cow<'a, str>),
    Unsigned(u64),
    Signed(i64),
}

impl<'a> Param<'a> {
    fn number(value: Cow<'a, str>) -> Self {
        let trimmed = value.trim();
        if let Ok(n) = trimmed.parse::<u64>() {
            return Param::Unsigned(n);
        }
        match trimmed.parse::<i64>() {
            Ok(n) => Param::Signed(n),
            Err(_) => Param::Text(value),
        }
    }
}

impl<'de, 'a> IntoDeserializer<'de, Error> for Param<'a> {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

/// As `&serde_json::Value` deserialises a string or a number: the value is what it is
/// (`deserialize_any`), an `Option` is `Some` (a query value is never `null`), a newtype
/// holds it, and text names an enum's unit variant. Every other request reads the value as
/// it is and fails where serde_json fails (a number asked for text, text asked for a
/// number ...), which sends the query to the careful path.
impl<'de> serde::Deserializer<'de> for Param<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Param::Text(text) => visitor.visit_str(&text),
            Param::Unsigned(n) => visitor.visit_u64(n),
            Param::Signed(n) => visitor.visit_i64(n),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self {
            Param::Text(text) => visitor.visit_enum(text.as_ref().into_deserializer()),
            _ => Err(serde::de::Error::custom("a number cannot name a variant")),
        }
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct
        identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use alistach_api::types as api;
    use proptest::prelude::*;

    use super::*;
    use crate::convert::{PAGED_NUMERIC, query_params_carefully};

    #[test]
    fn a_search_is_read_on_the_quick_path() {
        let q = "keywords=wireless%20earbuds+pro&page_size=10&page_no=2&sort=SALE_PRICE_ASC\
                 &min_sale_price=5.5&max_sale_price=50&target_currency=EUR";
        let quick: api::SearchRequest = quick(q, PAGED_NUMERIC).unwrap();
        let careful: api::SearchRequest = query_params_carefully(Some(q), PAGED_NUMERIC).unwrap();
        assert_eq!(quick, careful);
        assert_eq!(quick.keywords.as_deref(), Some("wireless earbuds pro"));
        assert_eq!(quick.page_size, Some(10));
    }

    #[test]
    fn what_the_careful_path_names_is_left_to_it() {
        for q in [
            "keywords=a&keywords=b",
            "keywords=a&colour=red",
            "page_size=ten",
            "page_size=-1",
            "keywords=a&page_size=99999999999999999999",
        ] {
            assert!(
                quick::<api::SearchRequest>(q, PAGED_NUMERIC).is_none(),
                "{q}"
            );
            assert!(
                query_params_carefully::<api::SearchRequest>(Some(q), PAGED_NUMERIC).is_err(),
                "{q}"
            );
        }
        let many = vec!["keywords=a"; MAX_PAIRS + 1].join("&");
        assert!(quick::<api::SearchRequest>(&many, PAGED_NUMERIC).is_none());
    }

    fn piece() -> impl Strategy<Value = String> {
        let name = prop_oneof![
            Just("keywords".to_owned()),
            Just("page_size".to_owned()),
            Just("page_no".to_owned()),
            Just("sort".to_owned()),
            Just("min_sale_price".to_owned()),
            Just("category_ids".to_owned()),
            Just("target_language".to_owned()),
            "[a-z_%+]{0,6}",
        ];
        let value = prop_oneof![
            "[0-9]{1,3}",
            "-?[0-9]{1,22}",
            " ?[0-9]{1,3}(\\.[0-9]{1,3})? ?",
            "(%[0-9a-fA-F]{0,2}|%[gz+]|\\+|[a-zA-Z ]|é|%C3%A9|%FF|%E4%B8)*",
            Just("SALE_PRICE_DESC".to_owned()),
        ];
        (name, proptest::option::of(value)).prop_map(|(n, v)| match v {
            Some(v) => format!("{n}={v}"),
            None => n,
        })
    }

    proptest! {
        #[test]
        fn pairs_are_decoded_as_form_urlencoded_decodes_them(
            q in "([a-z=&+% ]|%[0-9a-fA-F]{2}|%[0-9a-fA-F]|é|%FF|%C3|%A9){0,40}"
        ) {
            let ours: Vec<(String, String)> = pairs_of(&q)
                .map(|(n, v)| (n.into_owned(), v.into_owned()))
                .collect();
            let theirs: Vec<(String, String)> = form_urlencoded::parse(q.as_bytes())
                .map(|(n, v)| (n.into_owned(), v.into_owned()))
                .collect();
            prop_assert_eq!(ours, theirs);
        }

        #[test]
        fn the_quick_path_reads_what_the_careful_path_reads(
            pieces in proptest::collection::vec(piece(), 0..6)
        ) {
            let q = pieces.join("&");
            let careful = query_params_carefully::<api::SearchRequest>(Some(&q), PAGED_NUMERIC);
            match quick::<api::SearchRequest>(&q, PAGED_NUMERIC) {
                Some(quick) => prop_assert_eq!(Some(quick), careful.ok(), "{}", q),
                None => prop_assert!(careful.is_err(), "{} was refused on the quick path", q),
            }
        }
    }
}
