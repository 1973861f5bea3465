//! The quick reading of a query string into a request type: the pairs decoded as
//! `application/x-www-form-urlencoded` (what `form_urlencoded::parse` gives, a test holds the
//! two to the same pairs), then handed to `T`'s `Deserialize` as the JSON object
//! `convert::query_params` would build (the quick path's tests, beside it in `convert.rs`, hold the two to the same results), without building it. Every cached GET search
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
