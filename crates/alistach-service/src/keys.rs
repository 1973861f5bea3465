//! Cache keys: `{kind}:{mode}:{sha256 of the normalised question}`, so equal questions share an
//! entry, a prefix clears one kind, and mock answers can never be served in real mode.

use std::fmt::Write as _;
use std::str::FromStr;

use alistach_domain::{ApiMode, DetailsQuery, LinkRequest, SearchQuery, ValidationError};
use sha2::{Digest, Sha256};

use crate::ServiceError;

/// The kinds of cached answer, each its own key prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CacheKind {
    /// Product searches (`products:`).
    Products,
    /// The category list (`categories:`).
    Categories,
    /// Affiliate links (`affiliate:`).
    Affiliate,
    /// Product details (`details:`).
    Details,
    /// Hot products (`hot:`).
    Hot,
}

impl CacheKind {
    /// Every kind.
    pub const ALL: [CacheKind; 5] = [
        CacheKind::Products,
        CacheKind::Categories,
        CacheKind::Affiliate,
        CacheKind::Details,
        CacheKind::Hot,
    ];

    /// The key prefix word, also the `pattern` accepted by cache clearing.
    pub const fn name(self) -> &'static str {
        match self {
            CacheKind::Products => "products",
            CacheKind::Categories => "categories",
            CacheKind::Affiliate => "affiliate",
            CacheKind::Details => "details",
            CacheKind::Hot => "hot",
        }
    }

    /// The prefix every key of this kind starts with (`products:`).
    pub fn prefix(self) -> String {
        format!("{}:", self.name())
    }
}

impl FromStr for CacheKind {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, ValidationError> {
        let lower = s.trim().to_ascii_lowercase();
        CacheKind::ALL
            .into_iter()
            .find(|k| k.name() == lower)
            .ok_or_else(|| {
                ValidationError::new(
                    "pattern",
                    "must be one of products, categories, affiliate, details, hot or all",
                )
            })
    }
}

fn key_from(kind: CacheKind, mode: ApiMode, canonical: &[u8]) -> String {
    key_with_format(kind, mode, None, canonical)
}

/// `{kind}:{mode}:[{format}:]{sha256 hex}`.
fn key_with_format(
    kind: CacheKind,
    mode: ApiMode,
    format: Option<&str>,
    canonical: &[u8],
) -> String {
    let digest = Sha256::digest(canonical);
    let mut key = String::with_capacity(kind.name().len() + 16 + 64);
    key.push_str(kind.name());
    key.push(':');
    key.push_str(mode.as_str());
    key.push(':');
    if let Some(format) = format {
        key.push_str(format);
        key.push(':');
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in digest {
        key.push(char::from(HEX[usize::from(b >> 4)]));
        key.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    key
}

fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, ServiceError> {
    serde_json::to_vec(value).map_err(|e| ServiceError::Codec(e.to_string()))
}

/// The key of a product search or hot-product query (`kind` picks which).
pub(crate) fn search_key(
    kind: CacheKind,
    mode: ApiMode,
    query: &SearchQuery,
) -> Result<String, ServiceError> {
    Ok(key_from(kind, mode, &encode(&query.normalized())?))
}

/// The key of a rendered answer to an already normalised search: the rendering's name sits
/// between the mode and the hash, still under the kind's prefix for clearing.
pub(crate) fn rendered_search_key(
    kind: CacheKind,
    mode: ApiMode,
    format: &str,
    normalized: &SearchQuery,
) -> Result<String, ServiceError> {
    Ok(key_with_format(
        kind,
        mode,
        Some(format),
        &encode(normalized)?,
    ))
}

/// The key of a rendered category list.
pub(crate) fn rendered_categories_key(mode: ApiMode, format: &str) -> String {
    key_with_format(CacheKind::Categories, mode, Some(format), b"all")
}

/// The key of a details query.
pub(crate) fn details_key(mode: ApiMode, query: &DetailsQuery) -> Result<String, ServiceError> {
    Ok(key_from(
        CacheKind::Details,
        mode,
        &encode(&query.normalized())?,
    ))
}

/// The key of the category list.
pub(crate) fn categories_key(mode: ApiMode) -> String {
    key_from(CacheKind::Categories, mode, b"all")
}

/// The key of a link request: the sorted, deduplicated product ids and the link type, so the
/// same products asked for through differently decorated URLs share an entry.
pub(crate) fn links_key(mode: ApiMode, request: &LinkRequest) -> String {
    let mut canonical = format!("type={};ids=", request.link_type.code());
    for id in link_ids(request) {
        let _ = write!(canonical, "{id},");
    }
    key_from(CacheKind::Affiliate, mode, canonical.as_bytes())
}

/// The product ids of a link request, sorted and deduplicated.
pub(crate) fn link_ids(request: &LinkRequest) -> Vec<alistach_domain::ProductId> {
    let mut ids: Vec<_> = request.urls.iter().map(|u| u.id).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

#[cfg(test)]
mod tests {
    use alistach_domain::{CategoryId, LinkType, ProductUrl};

    use super::*;

    #[test]
    fn equal_questions_share_a_key_and_modes_never_do() {
        let mut a = SearchQuery::new("  wireless   earbuds ");
        a.category_ids = vec![CategoryId(5), CategoryId(3)];
        let mut b = SearchQuery::new("wireless earbuds");
        b.category_ids = vec![CategoryId(3), CategoryId(5), CategoryId(5)];
        let ka = search_key(CacheKind::Products, ApiMode::Mock, &a).unwrap();
        assert_eq!(
            ka,
            search_key(CacheKind::Products, ApiMode::Mock, &b).unwrap()
        );
        assert!(ka.starts_with("products:mock:"));
        assert_eq!(ka.len(), "products:mock:".len() + 64);
        assert_ne!(
            ka,
            search_key(CacheKind::Products, ApiMode::Real, &a).unwrap()
        );
        assert_ne!(ka, search_key(CacheKind::Hot, ApiMode::Mock, &a).unwrap());
        b.page_no = 2;
        assert_ne!(
            ka,
            search_key(CacheKind::Products, ApiMode::Mock, &b).unwrap()
        );
    }

    #[test]
    fn link_keys_ignore_url_decoration_and_order() {
        let req = |urls: &[&str], link_type| LinkRequest {
            urls: urls.iter().map(|u| ProductUrl::parse(u).unwrap()).collect(),
            link_type,
        };
        let a = req(
            &[
                "https://www.aliexpress.com/item/1005006123456789.html?spm=x",
                "32759108484",
            ],
            LinkType::Normal,
        );
        let b = req(
            &[
                "32759108484",
                "https://m.aliexpress.com/item/1005006123456789.html",
            ],
            LinkType::Normal,
        );
        assert_eq!(links_key(ApiMode::Real, &a), links_key(ApiMode::Real, &b));
        assert!(links_key(ApiMode::Real, &a).starts_with("affiliate:real:"));
        let hot = req(&["32759108484", "1005006123456789"], LinkType::Hot);
        assert_ne!(links_key(ApiMode::Real, &a), links_key(ApiMode::Real, &hot));
    }

    #[test]
    fn clear_patterns_parse_strictly() {
        assert_eq!(
            "Products".parse::<CacheKind>().unwrap(),
            CacheKind::Products
        );
        assert_eq!(
            "affiliate".parse::<CacheKind>().unwrap().prefix(),
            "affiliate:"
        );
        assert_eq!("*".parse::<CacheKind>().unwrap_err().field, "pattern");
    }
}
