//! Affiliate links, and the parser that finds the product id in any AliExpress URL shape.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{ProductId, ValidationError};

/// The platform converts at most this many URLs per call, and AliStach accepts at most this
/// many per request.
pub const MAX_LINKS_PER_REQUEST: usize = 50;

/// The longest URL we accept.
const MAX_URL_LEN: usize = 2048;

/// `promotion_link_type`: which commission the link earns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LinkType {
    /// `0`: a normal link, standard commission.
    #[default]
    Normal,
    /// `2`: a hot link, hot-product commission.
    Hot,
}

impl LinkType {
    /// The platform's number for it.
    pub const fn code(self) -> u8 {
        match self {
            LinkType::Normal => 0,
            LinkType::Hot => 2,
        }
    }
}

/// A request to turn product pages into affiliate links.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LinkRequest {
    /// The product pages, parsed.
    pub urls: Vec<ProductUrl>,
    /// Which commission the links earn.
    pub link_type: LinkType,
}

impl LinkRequest {
    /// Checks the count: 1 to 50 URLs.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.urls.is_empty() {
            return Err(ValidationError::new(
                "urls",
                "must list at least one AliExpress product URL",
            ));
        }
        if self.urls.len() > MAX_LINKS_PER_REQUEST {
            return Err(ValidationError::new(
                "urls",
                format!("must list at most {MAX_LINKS_PER_REQUEST} URLs"),
            ));
        }
        Ok(())
    }
}

/// One generated affiliate link.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AffiliateLink {
    /// The URL as the caller gave it.
    pub source_url: String,
    /// The product it points at.
    pub product_id: ProductId,
    /// The tracked `https://s.click.aliexpress.com/e/_...` link.
    pub promotion_link: String,
}

/// An AliExpress product URL with its product id found.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ProductUrl {
    /// The URL (or bare id) as given, trimmed.
    pub original: String,
    /// The product id found in it.
    pub id: ProductId,
}

/// Why a text is not an AliExpress product link.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProductUrlError {
    /// Nothing given.
    #[error("is empty")]
    Empty,
    /// Longer than 2048 characters.
    #[error("is longer than 2048 characters")]
    TooLong,
    /// Not an http(s) URL.
    #[error("is not an http(s) URL or a numeric product id")]
    NotAUrl,
    /// A URL on some other site.
    #[error("is not an AliExpress URL (host {0})")]
    NotAliExpress(String),
    /// A short link, which needs a redirect to resolve.
    #[error("is an AliExpress short link; open it and use the product page URL it leads to")]
    ShortLink,
    /// An AliExpress page that names no product.
    #[error(
        "is an AliExpress URL but names no product (expected /item/<id>.html or a productId parameter)"
    )]
    NoProductId,
}

impl ProductUrl {
    /// Parses any URL shape of the protocol reference's section 6: `/item/<id>.html` on every
    /// AliExpress host, legacy `/i/`, slugged and store paths, `productId`, `productIds`,
    /// `itemId`, `objectId` and `redirectUrl` query parameters, or a bare numeric id.
    pub fn parse(input: &str) -> Result<ProductUrl, ProductUrlError> {
        let original = input.trim();
        if original.is_empty() {
            return Err(ProductUrlError::Empty);
        }
        if original.len() > MAX_URL_LEN {
            return Err(ProductUrlError::TooLong);
        }
        let id = if original.bytes().all(|b| b.is_ascii_digit()) {
            original.parse().map_err(|_| ProductUrlError::NotAUrl)?
        } else {
            find_id(original, 0)?
        };
        Ok(ProductUrl {
            original: original.to_owned(),
            id,
        })
    }

    /// The canonical product page for the id.
    pub fn canonical_url(&self) -> String {
        self.id.canonical_url()
    }
}

impl fmt::Display for ProductUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

const SHORT_HOSTS: &[&str] = &[
    "s.click.aliexpress.com",
    "a.aliexpress.com",
    "click.aliexpress.com",
];

fn find_id(url: &str, depth: u8) -> Result<ProductId, ProductUrlError> {
    let rest = if let Some(r) = strip_prefix_ci(url, "https://") {
        r
    } else if let Some(r) = strip_prefix_ci(url, "http://") {
        r
    } else if url.contains("://") {
        return Err(ProductUrlError::NotAUrl);
    } else if let Some(r) = url.strip_prefix("//") {
        r
    } else {
        url
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if authority.contains('@') || authority.is_empty() || authority.chars().any(char::is_whitespace)
    {
        return Err(ProductUrlError::NotAUrl);
    }
    let host = authority
        .split(':')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    let host = host.trim_end_matches('.');
    if !is_aliexpress_host(host) {
        return Err(ProductUrlError::NotAliExpress(host.to_owned()));
    }
    if SHORT_HOSTS.contains(&host) {
        return Err(ProductUrlError::ShortLink);
    }
    let tail = tail.split('#').next().unwrap_or("");
    let (path, query) = tail.split_once('?').unwrap_or((tail, ""));

    if let Some(id) = id_from_path(path) {
        return Ok(id);
    }
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(value);
        match key {
            "productId" | "productIds" | "itemId" | "item_id" | "objectId" | "product_id" => {
                let first = value.split(',').next().unwrap_or("").trim();
                if let Ok(id) = first.parse::<ProductId>() {
                    return Ok(id);
                }
            }
            "redirectUrl" if depth < 3 => {
                if let Ok(id) = find_id(&value, depth + 1) {
                    return Ok(id);
                }
            }
            _ => {}
        }
    }
    Err(ProductUrlError::NoProductId)
}

/// `s` without `prefix`, compared ASCII case-insensitively. `get` rather than indexing: the
/// prefix length may fall inside a multi-byte character of client text.
fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    s.get(..prefix.len())
        .filter(|head| head.eq_ignore_ascii_case(prefix))
        .and_then(|_| s.get(prefix.len()..))
}

fn is_aliexpress_host(host: &str) -> bool {
    ["aliexpress.com", "aliexpress.us", "aliexpress.ru"]
        .iter()
        .any(|domain| {
            host == *domain
                || host
                    .strip_suffix(domain)
                    .is_some_and(|sub| sub.ends_with('.') && sub.len() > 1)
        })
}

/// `/item/<id>.html`, `/i/<id>.html`, `/item/<slug>/<id>.html`, `/store/product/<slug>/<store>_<id>.html`.
fn id_from_path(path: &str) -> Option<ProductId> {
    let last = path.rsplit('/').next()?;
    let stem = last
        .strip_suffix(".html")
        .or_else(|| last.strip_suffix(".htm"))?;
    let digits = stem.rsplit('_').next()?;
    let in_product_path = path.starts_with("/item/")
        || path.starts_with("/i/")
        || path.starts_with("/store/product/");
    if !in_product_path && digits.len() < 10 {
        return None;
    }
    digits.parse().ok()
}

pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_documented_shape() {
        let good = [
            (
                "https://www.aliexpress.com/item/1005006123456789.html",
                1005006123456789,
            ),
            (
                "http://www.aliexpress.com/item/32759108484.html",
                32759108484,
            ),
            (
                "https://aliexpress.com/item/4000669887458.html?spm=a2g0o.home&gatewayAdapt=glo2usa",
                4000669887458,
            ),
            (
                "https://m.aliexpress.com/item/1005001234567890.html",
                1005001234567890,
            ),
            (
                "https://pt.aliexpress.com/item/1005001234567890.html",
                1005001234567890,
            ),
            (
                "https://fr.aliexpress.com/item/1005001234567890.html#reviews",
                1005001234567890,
            ),
            (
                "https://he.aliexpress.com/item/1005001234567890.html",
                1005001234567890,
            ),
            (
                "https://www.aliexpress.us/item/3256805123456789.html",
                3256805123456789,
            ),
            (
                "https://m.aliexpress.us/item/3256805123456789.html",
                3256805123456789,
            ),
            (
                "https://aliexpress.ru/item/1005001234567890.html",
                1005001234567890,
            ),
            (
                "HTTPS://WWW.ALIEXPRESS.COM/item/1005001234567890.html",
                1005001234567890,
            ),
            (
                "www.aliexpress.com/item/1005001234567890.html",
                1005001234567890,
            ),
            ("https://www.aliexpress.com/i/32759108484.html", 32759108484),
            (
                "https://www.aliexpress.com/item/wireless-earbuds/32759108484.html",
                32759108484,
            ),
            (
                "https://www.aliexpress.com/store/product/cool-earbuds/1234567_32759108484.html",
                32759108484,
            ),
            (
                "https://m.aliexpress.com/p/coin-index/index.html?productIds=1005006123456789",
                1005006123456789,
            ),
            (
                "https://m.aliexpress.com/ssr/300000512/deals?productIds=1005006123456789,1005001234567890",
                1005006123456789,
            ),
            (
                "https://www.aliexpress.com/gcp/detail?productId=1005006123456789",
                1005006123456789,
            ),
            (
                "https://sale.aliexpress.com/page?itemId=1005006123456789",
                1005006123456789,
            ),
            (
                "https://www.aliexpress.com/x?objectId=1005006123456789",
                1005006123456789,
            ),
            (
                "https://star.aliexpress.com/share/share.htm?platform=AE&redirectUrl=https%3A%2F%2Fwww.aliexpress.com%2Fitem%2F1005006123456789.html%3Fsrc%3Dapp",
                1005006123456789,
            ),
            (
                "https://www.aliexpress.com:443/item/1005006123456789.html",
                1005006123456789,
            ),
            ("1005006123456789", 1005006123456789),
            ("  32759108484 ", 32759108484),
        ];
        for (url, id) in good {
            assert_eq!(ProductUrl::parse(url).map(|p| p.id.0), Ok(id), "{url}");
        }
    }

    #[test]
    fn rejects_everything_else_with_a_reason() {
        use ProductUrlError::*;
        let bad: [(&str, ProductUrlError); 14] = [
            ("", Empty),
            ("   ", Empty),
            (
                "https://www.amazon.com/item/1005006123456789.html",
                NotAliExpress("www.amazon.com".into()),
            ),
            (
                "https://aliexpress.com.evil.example/item/1005006123456789.html",
                NotAliExpress("aliexpress.com.evil.example".into()),
            ),
            (
                "https://fakealiexpress.com/item/1005006123456789.html",
                NotAliExpress("fakealiexpress.com".into()),
            ),
            (
                "https://www.aliexpress.com@evil.example/item/1.html",
                NotAUrl,
            ),
            (
                "ftp://www.aliexpress.com/item/1005006123456789.html",
                NotAUrl,
            ),
            ("javascript:alert(1)", NotAliExpress("javascript".into())),
            ("https://s.click.aliexpress.com/e/_DmAbCd1", ShortLink),
            ("https://a.aliexpress.com/_mKz1x2", ShortLink),
            ("https://best.aliexpress.com/", NoProductId),
            ("https://www.aliexpress.com/store/1102345678", NoProductId),
            ("https://www.aliexpress.com/item/.html", NoProductId),
            ("12345", NotAUrl),
        ];
        for (url, why) in bad {
            assert_eq!(ProductUrl::parse(url), Err(why), "{url}");
        }
        assert_eq!(
            ProductUrl::parse(&format!(
                "https://www.aliexpress.com/item/1.html?{}",
                "a".repeat(3000)
            )),
            Err(TooLong)
        );
    }
}
