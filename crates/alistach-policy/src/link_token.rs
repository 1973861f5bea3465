//! Signed click-tracking link tokens: what `GET /r/{token}` needs to redirect (the affiliate
//! URL, the product, the tracking id, an experiment variant), carried in the token itself and
//! signed with the deployment's key, so a redirect needs no database read and a forged or
//! altered token is refused.
//!
//! A token is the URL-safe base64 (no padding) of a compact binary payload followed by the first
//! 16 bytes (128 bits) of HMAC-SHA256 over a version label and the payload:
//!
//! ```text
//! 0x01                      format version
//! varint                    product id (LEB128)
//! varint                    variant: 0 = none, n + 1 = variant n
//! u8, bytes                 tracking id (at most 255 bytes of UTF-8)
//! u8                        URL form: 0 = the URL verbatim, 1 = after "https://s.click.aliexpress.com/e/"
//! bytes                     the URL (or its tail), to the end of the payload
//! 16 bytes                  the tag
//! ```
//!
//! A platform link (`https://s.click.aliexpress.com/e/_DmAbCd1`) with a product id and a short
//! tracking id makes a token of about 60 characters. Sealing is deterministic: the same claim
//! under the same key is the same token, so a rendering holding tokens is the same for every
//! client and may be cached. Pure: no I/O, no clock, no randomness.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use alistach_domain::ProductId;

/// The format version, the payload's first byte.
const VERSION: u8 = 1;
/// Bytes of the HMAC-SHA256 tag kept (128 bits).
pub const TAG_BYTES: usize = 16;
/// The longest URL a token carries.
pub const MAX_TOKEN_URL_BYTES: usize = 2048;
/// The longest token [`LinkSigner::open`] reads; anything longer is refused unread.
pub const MAX_TOKEN_CHARS: usize = 4096;
/// Domain separation: a tag for this format can never be a tag for anything else keyed alike.
const LABEL: &[u8] = b"alistach/link-token/v1\0";
/// The prefix of the platform's tracked short links, carried as one byte.
const SHORT_LINK_PREFIX: &str = "https://s.click.aliexpress.com/e/";

/// What a token says: where the redirect goes and what the click is attributed to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkClaim {
    /// The product the link is for.
    pub product_id: ProductId,
    /// The tracking id the affiliate link was made with.
    pub tracking_id: String,
    /// The experiment variant that made the link, if any.
    pub variant: Option<u32>,
    /// The affiliate link the redirect answers with (an http or https URL).
    pub url: String,
}

/// Why a claim cannot be sealed or a token cannot be opened.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The URL is longer than [`MAX_TOKEN_URL_BYTES`] or not an http(s) URL.
    #[error("the link is not an http(s) URL of at most 2048 bytes")]
    BadUrl,
    /// The tracking id is longer than 255 bytes.
    #[error("the tracking id is longer than 255 bytes")]
    TrackingIdTooLong,
    /// The token is not one this key signed (malformed, altered, forged, or another key's).
    #[error("the link token is not valid")]
    Invalid,
}

/// Seals claims into tokens and opens tokens back into claims, with one key.
#[derive(Clone)]
pub struct LinkSigner {
    /// The keyed MAC (HMAC's inner and outer pads computed once), cloned per token.
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for LinkSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkSigner(***)")
    }
}

impl LinkSigner {
    /// A signer keyed with `key` (any length; 32 random bytes or more is right).
    pub fn new(key: &[u8]) -> Self {
        LinkSigner {
            // HMAC accepts keys of any length: this cannot fail.
            mac: Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length"),
        }
    }

    /// 16 hex digits naming the key without revealing it (a MAC of a fixed label): changes
    /// when the key does, so cached renderings holding tokens can be scoped to it.
    pub fn key_id(&self) -> String {
        let mut mac = self.mac.clone();
        mac.update(b"alistach/link-key-id");
        let digest = mac.finalize().into_bytes();
        let mut out = String::with_capacity(16);
        for b in &digest[..8] {
            out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
            out.push(char::from(b"0123456789abcdef"[usize::from(b & 0xf)]));
        }
        out
    }

    /// The token for `claim`.
    pub fn seal(&self, claim: &LinkClaim) -> Result<String, TokenError> {
        if !is_http_url(&claim.url) || claim.url.len() > MAX_TOKEN_URL_BYTES {
            return Err(TokenError::BadUrl);
        }
        let tracking = claim.tracking_id.as_bytes();
        let tracking_len =
            u8::try_from(tracking.len()).map_err(|_| TokenError::TrackingIdTooLong)?;
        let mut buf = Vec::with_capacity(32 + tracking.len() + claim.url.len());
        buf.push(VERSION);
        put_varint(&mut buf, claim.product_id.0);
        put_varint(&mut buf, claim.variant.map_or(0, |v| u64::from(v) + 1));
        buf.push(tracking_len);
        buf.extend_from_slice(tracking);
        match claim.url.strip_prefix(SHORT_LINK_PREFIX) {
            Some(tail) => {
                buf.push(1);
                buf.extend_from_slice(tail.as_bytes());
            }
            None => {
                buf.push(0);
                buf.extend_from_slice(claim.url.as_bytes());
            }
        }
        let tag = self.tag(&buf);
        buf.extend_from_slice(&tag[..TAG_BYTES]);
        Ok(URL_SAFE_NO_PAD.encode(&buf))
    }

    /// The claim inside `token`, if this key signed it. The tag is checked (in constant time)
    /// before any of the payload is read; any other text is [`TokenError::Invalid`], never a
    /// panic.
    pub fn open(&self, token: &str) -> Result<LinkClaim, TokenError> {
        if token.len() > MAX_TOKEN_CHARS {
            return Err(TokenError::Invalid);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| TokenError::Invalid)?;
        let body_len = bytes
            .len()
            .checked_sub(TAG_BYTES)
            .ok_or(TokenError::Invalid)?;
        let (payload, tag) = bytes.split_at(body_len);
        let mut mac = self.mac.clone();
        mac.update(LABEL);
        mac.update(payload);
        mac.verify_truncated_left(tag)
            .map_err(|_| TokenError::Invalid)?;
        parse(payload).ok_or(TokenError::Invalid)
    }

    fn tag(&self, payload: &[u8]) -> [u8; 32] {
        let mut mac = self.mac.clone();
        mac.update(LABEL);
        mac.update(payload);
        mac.finalize().into_bytes().into()
    }
}

/// Reads a signed payload; `None` for anything that is not exactly the format (a tag over a
/// malformed payload could only come from a key holder, but it is still refused, not trusted).
fn parse(payload: &[u8]) -> Option<LinkClaim> {
    let (&version, mut rest) = payload.split_first()?;
    if version != VERSION {
        return None;
    }
    let product_id = ProductId(take_varint(&mut rest)?);
    let variant = match take_varint(&mut rest)? {
        0 => None,
        n => Some(u32::try_from(n - 1).ok()?),
    };
    let (&tracking_len, tail) = rest.split_first()?;
    let (tracking, tail) = tail.split_at_checked(usize::from(tracking_len))?;
    let tracking_id = std::str::from_utf8(tracking).ok()?.to_owned();
    let (&form, url) = tail.split_first()?;
    let url = std::str::from_utf8(url).ok()?;
    let url = match form {
        0 => url.to_owned(),
        1 => format!("{SHORT_LINK_PREFIX}{url}"),
        _ => return None,
    };
    if !is_http_url(&url) || url.len() > MAX_TOKEN_URL_BYTES {
        return None;
    }
    Some(LinkClaim {
        product_id,
        tracking_id,
        variant,
        url,
    })
}

/// An absolute http(s) URL with a host and nothing that could split a `Location` header.
fn is_http_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    rest.is_some_and(|r| {
        let host = r.split(['/', '?', '#']).next().unwrap_or_default();
        !host.is_empty()
    }) && url.bytes().all(|b| b.is_ascii_graphic())
}

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// A LEB128 number of at most 10 bytes that fits in a u64.
fn take_varint(input: &mut &[u8]) -> Option<u64> {
    let mut n: u64 = 0;
    for i in 0..10 {
        let (&b, rest) = input.split_first()?;
        *input = rest;
        let bits = u64::from(b & 0x7f);
        if i == 9 && bits > 1 {
            return None;
        }
        n |= bits << (7 * i);
        if b & 0x80 == 0 {
            return Some(n);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn claim() -> LinkClaim {
        LinkClaim {
            product_id: ProductId(1005006123456789),
            tracking_id: "gpt_chat".into(),
            variant: None,
            url: "https://s.click.aliexpress.com/e/_DmAbCd1".into(),
        }
    }

    #[test]
    fn a_sealed_claim_opens_to_itself_and_is_short() {
        let signer = LinkSigner::new(b"k".repeat(32).as_slice());
        let token = signer.seal(&claim()).unwrap();
        assert!(token.len() <= 64, "{} chars: {token}", token.len());
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(signer.open(&token), Ok(claim()));
        // Deterministic: a rendering holding it is the same for every client.
        assert_eq!(signer.seal(&claim()).unwrap(), token);
        let with_variant = LinkClaim {
            variant: Some(u32::MAX),
            url: "https://mock.alistach.invalid/aff/1?tracking=x&link_type=2".into(),
            ..claim()
        };
        let token = signer.seal(&with_variant).unwrap();
        assert_eq!(signer.open(&token), Ok(with_variant));
    }

    #[test]
    fn another_key_cannot_open_and_has_another_id() {
        let a = LinkSigner::new(b"key-a-0123456789abcdef0123456789");
        let b = LinkSigner::new(b"key-b-0123456789abcdef0123456789");
        let token = a.seal(&claim()).unwrap();
        assert_eq!(b.open(&token), Err(TokenError::Invalid));
        assert_ne!(a.key_id(), b.key_id());
        assert_eq!(a.key_id().len(), 16);
        assert_eq!(format!("{a:?}"), "LinkSigner(***)");
    }

    #[test]
    fn unusable_claims_are_refused() {
        let signer = LinkSigner::new(b"key");
        for url in [
            "javascript:alert(1)",
            "https://",
            "https://x/\r\nSet-Cookie: a=b",
            "ftp://example.com/",
        ] {
            let c = LinkClaim {
                url: url.into(),
                ..claim()
            };
            assert_eq!(signer.seal(&c), Err(TokenError::BadUrl), "{url}");
        }
        let long = LinkClaim {
            url: format!("https://example.com/{}", "a".repeat(MAX_TOKEN_URL_BYTES)),
            ..claim()
        };
        assert_eq!(signer.seal(&long), Err(TokenError::BadUrl));
        let tracking = LinkClaim {
            tracking_id: "t".repeat(256),
            ..claim()
        };
        assert_eq!(signer.seal(&tracking), Err(TokenError::TrackingIdTooLong));
    }

    #[test]
    fn malformed_tokens_are_invalid() {
        let signer = LinkSigner::new(b"key");
        for token in [
            "",
            "a",
            "!!!!",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            assert_eq!(signer.open(token), Err(TokenError::Invalid), "{token}");
        }
        assert_eq!(
            signer.open(&"A".repeat(MAX_TOKEN_CHARS + 1)),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn varints_round_trip_and_refuse_overflow() {
        for n in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut buf = Vec::new();
            put_varint(&mut buf, n);
            let mut slice = buf.as_slice();
            assert_eq!(take_varint(&mut slice), Some(n));
            assert!(slice.is_empty());
        }
        let mut too_big: &[u8] = &[0xff; 10];
        assert_eq!(take_varint(&mut too_big), None);
        let mut high: &[u8] = &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert_eq!(take_varint(&mut high), None);
    }

    fn cases() -> ProptestConfig {
        ProptestConfig {
            cases: 512,
            failure_persistence: None,
            ..ProptestConfig::default()
        }
    }

    fn any_claim() -> impl Strategy<Value = LinkClaim> {
        (
            any::<u64>(),
            "[a-zA-Z0-9_]{0,40}",
            proptest::option::of(any::<u32>()),
            prop_oneof![
                "[A-Za-z0-9_]{1,30}".prop_map(|t| format!("{SHORT_LINK_PREFIX}{t}")),
                "[a-z]{1,20}\\.[a-z]{2,5}/[!-~]{0,200}".prop_map(|r| format!("https://{r}")),
            ],
        )
            .prop_map(|(id, tracking_id, variant, url)| LinkClaim {
                product_id: ProductId(id),
                tracking_id,
                variant,
                url,
            })
    }

    proptest! {
        #![proptest_config(cases())]

        /// Every claim round-trips.
        #[test]
        fn claims_round_trip(c in any_claim(), key in proptest::collection::vec(any::<u8>(), 0..80)) {
            let signer = LinkSigner::new(&key);
            let token = signer.seal(&c).unwrap();
            prop_assert_eq!(signer.open(&token), Ok(c));
        }

        /// Changing any byte of a token's decoded form (payload or tag) makes it invalid.
        #[test]
        fn any_altered_byte_fails(c in any_claim(), pos in any::<prop::sample::Index>(), flip in 1u8..=255) {
            let signer = LinkSigner::new(b"0123456789abcdef0123456789abcdef");
            let mut bytes = URL_SAFE_NO_PAD.decode(signer.seal(&c).unwrap()).unwrap();
            let i = pos.index(bytes.len());
            bytes[i] ^= flip;
            prop_assert_eq!(signer.open(&URL_SAFE_NO_PAD.encode(&bytes)), Err(TokenError::Invalid));
        }

        /// Changing any character of the token text makes it invalid (or, for the final
        /// character's unused low bits, decodes to nothing new).
        #[test]
        fn any_altered_character_fails(c in any_claim(), pos in any::<prop::sample::Index>(), ch in "[A-Za-z0-9_=+/.~-]") {
            let signer = LinkSigner::new(b"0123456789abcdef0123456789abcdef");
            let token = signer.seal(&c).unwrap();
            let i = pos.index(token.len());
            let mut altered = token.clone();
            altered.replace_range(i..=i, &ch);
            prop_assume!(altered != token);
            prop_assert_eq!(signer.open(&altered), Err(TokenError::Invalid));
        }

        /// Truncated or extended tokens are invalid.
        #[test]
        fn truncation_and_extension_fail(c in any_claim(), cut in any::<prop::sample::Index>(), extra in "[A-Za-z0-9_-]{1,8}") {
            let signer = LinkSigner::new(b"key");
            let token = signer.seal(&c).unwrap();
            let at = cut.index(token.len());
            prop_assert_eq!(signer.open(&token[..at]), Err(TokenError::Invalid));
            prop_assert_eq!(signer.open(&format!("{token}{extra}")), Err(TokenError::Invalid));
        }

        /// Arbitrary text never panics and is never accepted.
        #[test]
        fn arbitrary_text_is_refused(s in "\\PC{0,300}") {
            let signer = LinkSigner::new(b"key");
            prop_assert_eq!(signer.open(&s), Err(TokenError::Invalid));
        }

        /// Arbitrary base64 of arbitrary bytes never panics and is never accepted.
        #[test]
        fn arbitrary_bytes_are_refused(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let signer = LinkSigner::new(b"key");
            prop_assert_eq!(signer.open(&URL_SAFE_NO_PAD.encode(&bytes)), Err(TokenError::Invalid));
        }

        /// A payload's parser never panics, whatever it is given (a key holder could sign any
        /// bytes).
        #[test]
        fn the_payload_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse(&bytes);
        }
    }
}
