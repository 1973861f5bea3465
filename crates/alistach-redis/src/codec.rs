//! How an entry is laid out in a Redis value: a fixed 26-byte header (magic, format, the three
//! times) and then the value bytes untouched, so a read does no parsing of the payload.

use alistach_cache::Entry;
use bytes::{BufMut, Bytes, BytesMut};

const MAGIC: u8 = b'A';
const FORMAT: u8 = 1;
const HEADER: usize = 2 + 3 * 8;

pub(crate) fn encode(entry: &Entry) -> Vec<u8> {
    let mut out = BytesMut::with_capacity(HEADER + entry.value.len());
    out.put_u8(MAGIC);
    out.put_u8(FORMAT);
    out.put_u64(entry.stored_at_ms);
    out.put_u64(entry.fresh_until_ms);
    out.put_u64(entry.stale_until_ms);
    out.put_slice(&entry.value);
    out.to_vec()
}

/// `None` for anything this version did not write (a foreign or damaged value).
pub(crate) fn decode(raw: Vec<u8>) -> Option<Entry> {
    if raw.len() < HEADER || raw[0] != MAGIC || raw[1] != FORMAT {
        return None;
    }
    let time = |at: usize| u64::from_be_bytes(raw[at..at + 8].try_into().expect("eight bytes"));
    let (stored_at_ms, fresh_until_ms, stale_until_ms) = (time(2), time(10), time(18));
    let value = Bytes::from(raw).slice(HEADER..);
    Some(Entry {
        value,
        stored_at_ms,
        fresh_until_ms,
        stale_until_ms,
    })
}

/// `text` as a `SCAN MATCH` pattern matching only itself.
pub(crate) fn escape_glob(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\' | '^' | '-') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip() {
        let entry = Entry {
            value: Bytes::from_static(b"\0\xffpayload"),
            stored_at_ms: 1,
            fresh_until_ms: u64::MAX - 1,
            stale_until_ms: u64::MAX,
        };
        assert_eq!(decode(encode(&entry)), Some(entry));
        let empty = Entry {
            value: Bytes::new(),
            stored_at_ms: 5,
            fresh_until_ms: 6,
            stale_until_ms: 7,
        };
        assert_eq!(decode(encode(&empty)), Some(empty));
    }

    #[test]
    fn foreign_values_are_refused() {
        assert_eq!(decode(b"{\"json\":true}".to_vec()), None);
        assert_eq!(decode(Vec::new()), None);
        let mut other_format = encode(&Entry {
            value: Bytes::new(),
            stored_at_ms: 0,
            fresh_until_ms: 0,
            stale_until_ms: 0,
        });
        other_format[1] = 9;
        assert_eq!(decode(other_format), None);
    }

    #[test]
    fn glob_characters_are_escaped() {
        assert_eq!(escape_glob("a*b?c[d]e\\f"), "a\\*b\\?c\\[d\\]e\\\\f");
        assert_eq!(escape_glob("products:mock:"), "products:mock:");
    }
}
