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

/// What kind of AliExpress page a link source is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LinkPage {
    /// A product page (any host, mobile form or legacy path), by its product id.
    Product(ProductId),
    /// A store page (`/store/<id>`), by the store id when the path names one.
    Store(Option<u64>),
    /// A share or affiliate short link (`s.click.aliexpress.com`, `a.aliexpress.com`,
    /// `click.aliexpress.com`), which only the platform can resolve.
    ShareLink,
    /// Any other AliExpress page: a campaign ("venue") page, a category, the home page.
    Campaign,
}

impl LinkPage {
    /// `product`, `store`, `share_link` or `campaign`.
    pub const fn as_str(self) -> &'static str {
        match self {
            LinkPage::Product(_) => "product",
            LinkPage::Store(_) => "store",
            LinkPage::ShareLink => "share_link",
            LinkPage::Campaign => "campaign",
        }
    }
}

/// An AliExpress page to turn into an affiliate link: every shape `link.generate` converts
/// (protocol reference §4.5 and §6.3), parsed once.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LinkSource {
    /// The URL (or bare product id) as given, trimmed.
    pub original: String,
    /// What kind of page it is.
    pub page: LinkPage,
    /// What the platform is sent: the canonical product page for products (the one
    /// canonicalisation, [`ProductId::canonical_url`]), the canonical store page for stores,
    /// otherwise the URL without its fragment, commas escaped (`source_values` is a comma
    /// list).
    source_value: String,
}

impl LinkSource {
    /// Parses any AliExpress URL: product pages as [`ProductUrl::parse`] reads them, share
    /// links, store pages and any other page on an AliExpress host. Fails only for text that is
    /// not an AliExpress URL (or is empty, or too long).
    pub fn parse(input: &str) -> Result<LinkSource, ProductUrlError> {
        match ProductUrl::parse(input) {
            Ok(product) => Ok(LinkSource::from(product)),
            Err(ProductUrlError::ShortLink) => Ok(LinkSource::page(input, LinkPage::ShareLink)),
            Err(ProductUrlError::NoProductId) => {
                let original = input.trim();
                let page = match store_id(original) {
                    Some(id) => LinkPage::Store(id),
                    None => LinkPage::Campaign,
                };
                Ok(LinkSource::page(original, page))
            }
            Err(e) => Err(e),
        }
    }

    /// The product page of `id`, in its canonical form.
    pub fn product(id: ProductId) -> LinkSource {
        LinkSource::page(&id.canonical_url(), LinkPage::Product(id))
    }

    fn page(input: &str, page: LinkPage) -> LinkSource {
        let original = input.trim().to_owned();
        let source_value = match page {
            LinkPage::Product(id) => id.canonical_url(),
            LinkPage::Store(Some(id)) => format!("https://www.aliexpress.com/store/{id}"),
            LinkPage::Store(None) | LinkPage::ShareLink | LinkPage::Campaign => {
                let bare = original.split('#').next().unwrap_or_default();
                let bare = if bare.contains("://") {
                    bare.to_owned()
                } else {
                    format!("https://{}", bare.trim_start_matches('/'))
                };
                bare.replace(',', "%2C")
            }
        };
        LinkSource {
            original,
            page,
            source_value,
        }
    }

    /// The product, for a product page.
    pub fn product_id(&self) -> Option<ProductId> {
        match self.page {
            LinkPage::Product(id) => Some(id),
            _ => None,
        }
    }

    /// What `link.generate` is sent for this page (see the field's documentation).
    pub fn source_value(&self) -> &str {
        &self.source_value
    }
}

impl From<ProductUrl> for LinkSource {
    fn from(url: ProductUrl) -> Self {
        LinkSource {
            source_value: url.id.canonical_url(),
            page: LinkPage::Product(url.id),
            original: url.original,
        }
    }
}

/// The store id of a store page URL (`/store/<id>`, `/store/<id>/...`), `Some(None)` for a
/// store page whose path names none; `None` for a page that is not a store page.
fn store_id(url: &str) -> Option<Option<u64>> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let path = rest.find('/').map_or("", |i| &rest[i..]);
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let tail = path.strip_prefix("/store/")?;
    let first = tail.split('/').next().unwrap_or_default();
    Some(
        (!first.is_empty() && first.len() <= 20 && first.bytes().all(|b| b.is_ascii_digit()))
            .then(|| first.parse().ok())
            .flatten(),
    )
}

/// One input of a link request: the text as given and what it parsed as.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LinkInput {
    /// The text as given.
    pub original: String,
    /// The page, or why the text is not an AliExpress URL.
    pub source: Result<LinkSource, ProductUrlError>,
}

impl LinkInput {
    /// Parses one input; a bad one is kept with its reason, so it gets its own result.
    pub fn parse(input: &str) -> LinkInput {
        LinkInput {
            original: input.trim().to_owned(),
            source: LinkSource::parse(input),
        }
    }
}

impl From<ProductUrl> for LinkInput {
    fn from(url: ProductUrl) -> Self {
        LinkInput {
            original: url.original.clone(),
            source: Ok(LinkSource::from(url)),
        }
    }
}

/// A request to turn AliExpress pages into affiliate links: each input gets its own result.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LinkRequest {
    /// The inputs, in the caller's order, each parsed.
    pub inputs: Vec<LinkInput>,
    /// Which commission the links earn.
    pub link_type: LinkType,
}

impl LinkRequest {
    /// Checks the count: 1 to 50 inputs.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.inputs.is_empty() {
            return Err(ValidationError::new(
                "urls",
                "must list at least one AliExpress URL",
            ));
        }
        if self.inputs.len() > MAX_LINKS_PER_REQUEST {
            return Err(ValidationError::new(
                "urls",
                format!("must list at most {MAX_LINKS_PER_REQUEST} URLs"),
            ));
        }
        Ok(())
    }

    /// The pages to convert: every parsed input, once per source value, in order.
    pub fn sources(&self) -> Vec<LinkSource> {
        let mut seen = std::collections::HashSet::new();
        self.inputs
            .iter()
            .filter_map(|i| i.source.as_ref().ok())
            .filter(|s| seen.insert(s.source_value.clone()))
            .cloned()
            .collect()
    }
}

/// One generated affiliate link.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AffiliateLink {
    /// The URL as the caller gave it (the source value, as the platform answers).
    pub source_url: String,
    /// The product it points at, for a product page.
    pub product_id: Option<ProductId>,
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
#[derive(Clone, Debug, PartialEq, Eq, Hash, thiserror::Error)]
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

    #[test]
    fn link_sources_cover_every_page_the_platform_converts() {
        let page = |u: &str| LinkSource::parse(u).map(|s| (s.page, s.source_value().to_owned()));
        assert_eq!(
            page("https://fr.aliexpress.com/item/1005006123456789.html?spm=x"),
            Ok((
                LinkPage::Product(ProductId(1005006123456789)),
                "https://www.aliexpress.com/item/1005006123456789.html".to_owned()
            ))
        );
        assert_eq!(
            page("https://m.aliexpress.com/store/1102345678?spm=y#top"),
            Ok((
                LinkPage::Store(Some(1102345678)),
                "https://www.aliexpress.com/store/1102345678".to_owned()
            ))
        );
        assert_eq!(
            page("https://www.aliexpress.com/store/"),
            Ok((
                LinkPage::Store(None),
                "https://www.aliexpress.com/store/".to_owned()
            ))
        );
        for share in [
            "https://s.click.aliexpress.com/e/_DmAbCd1",
            "https://a.aliexpress.com/_mKz1x2",
            "http://click.aliexpress.com/e/abc",
        ] {
            assert_eq!(
                page(share),
                Ok((LinkPage::ShareLink, share.to_owned())),
                "{share}"
            );
        }
        assert_eq!(
            page("sale.aliexpress.com/__pc/venue.htm?ids=1,2#x"),
            Ok((
                LinkPage::Campaign,
                "https://sale.aliexpress.com/__pc/venue.htm?ids=1%2C2".to_owned()
            ))
        );
        assert_eq!(
            page("https://best.aliexpress.com/").map(|p| p.0),
            Ok(LinkPage::Campaign)
        );
        assert_eq!(
            LinkSource::parse("https://www.amazon.com/dp/B0"),
            Err(ProductUrlError::NotAliExpress("www.amazon.com".into()))
        );
        assert_eq!(LinkSource::parse("  "), Err(ProductUrlError::Empty));
        let request = LinkRequest {
            inputs: [
                "32759108484",
                "https://m.aliexpress.com/item/32759108484.html",
                "x://y",
            ]
            .iter()
            .map(|u| LinkInput::parse(u))
            .collect(),
            link_type: LinkType::Normal,
        };
        assert_eq!(request.sources().len(), 1, "one source per product");
        assert!(request.validate().is_ok());
    }
}
