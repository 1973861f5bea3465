//! Cache keys: `{kind}:{mode}:{scope fingerprint}:{sha256 of the normalised question}`, so equal
//! questions share an entry, a prefix clears one kind of this deployment's entries, mock answers
//! are never served in real mode, and deployments whose answers differ (another account or
//! tracking id, another gateway) never read each other's entries in a shared cache.

use std::fmt::Write as _;
use std::str::FromStr;

use alistach_domain::{
    ApiMode, DetailsQuery, LinkSource, LinkType, PromotionQuery, SearchQuery, SimilarQuery,
    ValidationError,
};
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
    /// Products similar to a seed product (`similar:`).
    Similar,
    /// Featured promotions and their products (`promotions:`).
    Promotions,
}

impl CacheKind {
    /// Every kind.
    pub const ALL: [CacheKind; 7] = [
        CacheKind::Products,
        CacheKind::Categories,
        CacheKind::Affiliate,
        CacheKind::Details,
        CacheKind::Hot,
        CacheKind::Similar,
        CacheKind::Promotions,
    ];

    /// The key prefix word, also the `pattern` accepted by cache clearing.
    pub const fn name(self) -> &'static str {
        match self {
            CacheKind::Products => "products",
            CacheKind::Categories => "categories",
            CacheKind::Affiliate => "affiliate",
            CacheKind::Details => "details",
            CacheKind::Hot => "hot",
            CacheKind::Similar => "similar",
            CacheKind::Promotions => "promotions",
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
                    "must be one of products, categories, affiliate, details, hot, similar, \
                     promotions or all",
                )
            })
    }
}

/// Whose answers a key holds: the mode and a fingerprint of the settings that shape answers
/// (see [`alistach_domain::AffiliateApi::answer_scope`]), rendered `{mode}:{16 hex digits}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyScope(String);

impl KeyScope {
    /// The scope of a source in `mode` whose answers are shaped by `shaping`. Only a
    /// truncated SHA-256 of the values is kept: they cannot be read back from a key.
    pub fn new(mode: ApiMode, shaping: &[(&'static str, String)]) -> Self {
        let mut hasher = Sha256::new();
        for (name, value) in shaping {
            // Lengths first, so no two different lists hash the same bytes.
            hasher.update((name.len() as u64).to_be_bytes());
            hasher.update(name.as_bytes());
            hasher.update((value.len() as u64).to_be_bytes());
            hasher.update(value.as_bytes());
        }
        let digest = hasher.finalize();
        let mut scope = String::with_capacity(5 + 16);
        scope.push_str(mode.as_str());
        scope.push(':');
        push_hex(&mut scope, &digest[..8]);
        KeyScope(scope)
    }

    /// `{mode}:{fingerprint}`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The fingerprint alone (16 hex digits), for logs.
    pub fn fingerprint(&self) -> &str {
        self.0.rsplit(':').next().unwrap_or_default()
    }

    /// The prefix of this scope's keys of `kind` (`products:real:1a2b...:`), for clearing.
    pub fn prefix(&self, kind: CacheKind) -> String {
        format!("{}:{}:", kind.name(), self.0)
    }
}

/// Appends `bytes` as lowercase hex.
pub(crate) fn push_hex(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
}

fn key_from(kind: CacheKind, scope: &KeyScope, canonical: &[u8]) -> String {
    key_with_format(kind, scope, None, canonical)
}

/// The service's layout of a stored rendering (see `Rendered`), named in every rendered key
/// after the edge's format name, so a changed layout never reads entries of an older one.
const RENDERED_LAYOUT: &str = ".n1";

/// `{kind}:{mode}:{fingerprint}:[{format}{layout}:]{sha256 hex}`.
fn key_with_format(
    kind: CacheKind,
    scope: &KeyScope,
    format: Option<&str>,
    canonical: &[u8],
) -> String {
    let digest = Sha256::digest(canonical);
    let mut key = String::with_capacity(kind.name().len() + scope.0.len() + 16 + 64);
    key.push_str(kind.name());
    key.push(':');
    key.push_str(&scope.0);
    key.push(':');
    if let Some(format) = format {
        key.push_str(format);
        key.push_str(RENDERED_LAYOUT);
        key.push(':');
    }
    push_hex(&mut key, &digest);
    key
}

fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, ServiceError> {
    serde_json::to_vec(value).map_err(|e| ServiceError::Codec(e.to_string()))
}

/// The key of a rendered answer to a search (in normal form, as every `SearchQuery` is): the
/// rendering's name sits
/// between the scope and the hash, still under the kind's prefix for clearing.
pub(crate) fn rendered_search_key(
    kind: CacheKind,
    scope: &KeyScope,
    format: &str,
    normalized: &SearchQuery,
) -> Result<String, ServiceError> {
    Ok(key_with_format(
        kind,
        scope,
        Some(format),
        &search_question(normalized),
    ))
}

/// The bytes a search's key hashes: every field of the normal form, each tagged and
/// length-prefixed so no two different searches give the same bytes. Written directly rather
/// than through JSON: this runs on every cached answer, and serialising the query was a tenth
/// of a hit's instructions.
fn search_question(q: &SearchQuery) -> Vec<u8> {
    fn field(out: &mut Vec<u8>, tag: u8, value: &[u8]) {
        out.push(tag);
        out.extend_from_slice(&(value.len() as u32).to_be_bytes());
        out.extend_from_slice(value);
    }
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(b"q2");
    let listing: &[u8] = match q.listing() {
        alistach_domain::Listing::Search => b"search",
        alistach_domain::Listing::Hot => b"hot",
    };
    field(&mut out, b'l', listing);
    if let Some(k) = q.keywords() {
        field(&mut out, b'k', k.as_bytes());
    }
    for id in q.category_ids() {
        field(&mut out, b'c', &id.0.to_be_bytes());
    }
    field(&mut out, b'n', &q.page_no().to_be_bytes());
    field(&mut out, b's', &q.page_size().to_be_bytes());
    if let Some(sort) = q.sort() {
        field(&mut out, b'o', sort.code().as_bytes());
    }
    if let Some(p) = q.min_price() {
        field(&mut out, b'<', p.to_string().as_bytes());
    }
    if let Some(p) = q.max_price() {
        field(&mut out, b'>', p.to_string().as_bytes());
    }
    field(&mut out, b'$', q.currency().code().as_bytes());
    field(&mut out, b'L', q.language().code().as_bytes());
    if let Some(c) = q.ship_to_country() {
        field(&mut out, b'C', c.as_str().as_bytes());
    }
    out
}

/// The key of a rendered category list.
pub(crate) fn rendered_categories_key(scope: &KeyScope, format: &str) -> String {
    key_with_format(CacheKind::Categories, scope, Some(format), b"all")
}

/// The key of the flat category list as domain values, which a parent's children are read
/// from (one upstream call for every parent).
pub(crate) fn categories_flat_key(scope: &KeyScope) -> String {
    key_from(CacheKind::Categories, scope, b"flat")
}

/// The key of a rendered page of similar products.
pub(crate) fn rendered_similar_key(
    scope: &KeyScope,
    format: &str,
    query: &SimilarQuery,
) -> Result<String, ServiceError> {
    Ok(key_with_format(
        CacheKind::Similar,
        scope,
        Some(format),
        &encode(query)?,
    ))
}

/// The key of the promotions list.
pub(crate) fn promotions_key(scope: &KeyScope) -> String {
    key_from(CacheKind::Promotions, scope, b"list")
}

/// The key of a rendered page of a promotion's products (the query in normal form).
pub(crate) fn rendered_promotion_key(
    scope: &KeyScope,
    format: &str,
    query: &PromotionQuery,
) -> Result<String, ServiceError> {
    Ok(key_with_format(
        CacheKind::Promotions,
        scope,
        Some(format),
        &encode(&query.normalized())?,
    ))
}

/// The key of a details query.
pub(crate) fn details_key(scope: &KeyScope, query: &DetailsQuery) -> Result<String, ServiceError> {
    Ok(key_from(
        CacheKind::Details,
        scope,
        &encode(&query.normalized())?,
    ))
}

/// The key of the pages of a link request: the link type and the sorted, deduplicated source
/// values (product pages in their canonical form), so the same products asked for through
/// differently decorated URLs, in any order, share an entry.
pub(crate) fn links_key(scope: &KeyScope, link_type: LinkType, sources: &[LinkSource]) -> String {
    let mut values: Vec<&str> = sources.iter().map(LinkSource::source_value).collect();
    values.sort_unstable();
    values.dedup();
    let mut canonical = format!("type={};src=", link_type.code());
    for value in values {
        // Source values never hold a newline (they are URLs of at most 2048 bytes, trimmed).
        let _ = writeln!(canonical, "{}", value.escape_debug());
    }
    key_from(CacheKind::Affiliate, scope, canonical.as_bytes())
}

#[cfg(test)]
mod tests {
    use alistach_domain::{CategoryId, Listing, SearchDraft};

    use super::*;

    fn search_key(
        kind: CacheKind,
        scope: &KeyScope,
        query: &SearchQuery,
    ) -> Result<String, ServiceError> {
        rendered_search_key(kind, scope, "page1", query)
    }

    fn mock() -> KeyScope {
        KeyScope::new(ApiMode::Mock, &[("tracking_id", "gpt_chat".into())])
    }

    fn real() -> KeyScope {
        KeyScope::new(ApiMode::Real, &[("tracking_id", "gpt_chat".into())])
    }

    #[test]
    fn scopes_part_deployments_whose_answers_differ() {
        let shaping = |app_key: &str, tracking_id: &str, url: &str| {
            vec![
                ("app_key", app_key.to_owned()),
                ("tracking_id", tracking_id.to_owned()),
                ("gateway_url", url.to_owned()),
            ]
        };
        let url = "https://api-sg.aliexpress.com/sync";
        let prod = KeyScope::new(ApiMode::Real, &shaping("12345", "prod_tid", url));
        assert_eq!(
            prod,
            KeyScope::new(ApiMode::Real, &shaping("12345", "prod_tid", url)),
            "the same settings share entries"
        );
        for other in [
            shaping("12345", "staging_tid", url),
            shaping("67890", "prod_tid", url),
            shaping("12345", "prod_tid", "https://gw.example/sync"),
            // The boundary between values counts: no two lists hash alike.
            shaping("12345prod", "_tid", url),
        ] {
            assert_ne!(prod, KeyScope::new(ApiMode::Real, &other), "{other:?}");
        }
        assert_ne!(
            prod.fingerprint(),
            KeyScope::new(ApiMode::Mock, &shaping("12345", "prod_tid", url)).as_str()
        );
        assert!(prod.as_str().starts_with("real:"));
        assert_eq!(prod.fingerprint().len(), 16);
        assert!(!prod.as_str().contains("prod_tid") && !prod.as_str().contains("12345"));
        let q = SearchDraft::new("lamp").parse(Listing::Search).unwrap();
        let a = search_key(CacheKind::Products, &prod, &q).unwrap();
        let b = search_key(
            CacheKind::Products,
            &KeyScope::new(ApiMode::Real, &shaping("12345", "staging_tid", url)),
            &q,
        )
        .unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with(&prod.prefix(CacheKind::Products)));
        assert!(!b.starts_with(&prod.prefix(CacheKind::Products)));
    }

    #[test]
    fn equal_questions_share_a_key_and_modes_never_do() {
        let mut a = SearchDraft::new("  wireless   earbuds ");
        a.category_ids = vec![CategoryId(5), CategoryId(3)];
        let mut b = SearchDraft::new("wireless earbuds");
        b.category_ids = vec![CategoryId(3), CategoryId(5), CategoryId(5)];
        let (a, mut b) = (
            a.parse(Listing::Search).unwrap(),
            b.parse(Listing::Search).unwrap(),
        );
        let ka = search_key(CacheKind::Products, &mock(), &a).unwrap();
        assert_eq!(ka, search_key(CacheKind::Products, &mock(), &b).unwrap());
        assert!(ka.starts_with(&mock().prefix(CacheKind::Products)));
        assert!(ka.starts_with("products:mock:"));
        assert_eq!(
            ka.len(),
            "products:mock:".len() + 16 + 1 + "page1.n1:".len() + 64
        );
        assert_ne!(ka, search_key(CacheKind::Products, &real(), &a).unwrap());
        assert_ne!(ka, search_key(CacheKind::Hot, &mock(), &a).unwrap());
        let mut next = b.to_draft();
        next.page_no = 2;
        b = next.parse(Listing::Search).unwrap();
        assert_ne!(ka, search_key(CacheKind::Products, &mock(), &b).unwrap());
    }

    #[test]
    fn every_field_of_a_search_changes_its_key() {
        use alistach_domain::{CountryCode, Currency, Decimal, Language, SortOrder};
        let base = SearchDraft::new("lamp");
        let key = |d: &SearchDraft, listing| {
            search_key(CacheKind::Products, &mock(), &d.parse(listing).unwrap()).unwrap()
        };
        let mut variants: Vec<SearchDraft> = Vec::new();
        let mut push = |f: &dyn Fn(&mut SearchDraft)| {
            let mut d = base.clone();
            f(&mut d);
            variants.push(d);
        };
        push(&|d| d.keywords = Some("lamps".into()));
        push(&|d| d.category_ids = vec![CategoryId(7)]);
        push(&|d| d.page_no = 2);
        push(&|d| d.page_size = 11);
        push(&|d| d.sort = Some(SortOrder::SalePriceAsc));
        push(&|d| d.min_price = Some("1.5".parse::<Decimal>().unwrap()));
        push(&|d| d.max_price = Some("1.5".parse::<Decimal>().unwrap()));
        push(&|d| d.currency = Currency::EUR);
        push(&|d| d.language = Language::FR);
        push(&|d| d.ship_to_country = Some("DE".parse::<CountryCode>().unwrap()));
        let mut keys = vec![key(&base, Listing::Search), key(&base, Listing::Hot)];
        keys.extend(variants.iter().map(|d| key(d, Listing::Search)));
        let distinct: std::collections::HashSet<_> = keys.iter().collect();
        assert_eq!(distinct.len(), keys.len(), "{keys:#?}");
    }

    #[test]
    fn link_keys_ignore_url_decoration_and_order() {
        let req = |urls: &[&str]| -> Vec<LinkSource> {
            urls.iter().map(|u| LinkSource::parse(u).unwrap()).collect()
        };
        let a = req(&[
            "https://www.aliexpress.com/item/1005006123456789.html?spm=x",
            "32759108484",
        ]);
        let b = req(&[
            "32759108484",
            "https://m.aliexpress.com/item/1005006123456789.html",
        ]);
        let key = |s: &[LinkSource], t| links_key(&real(), t, s);
        assert_eq!(key(&a, LinkType::Normal), key(&b, LinkType::Normal));
        assert!(key(&a, LinkType::Normal).starts_with(&real().prefix(CacheKind::Affiliate)));
        assert_ne!(key(&a, LinkType::Normal), key(&a, LinkType::Hot));
        let store = req(&["https://www.aliexpress.com/store/1102345678?spm=y"]);
        let store_plain = req(&["https://aliexpress.com/store/1102345678"]);
        assert_eq!(
            key(&store, LinkType::Normal),
            key(&store_plain, LinkType::Normal)
        );
        let share = req(&["https://s.click.aliexpress.com/e/_DmAbCd1"]);
        assert_ne!(key(&store, LinkType::Normal), key(&share, LinkType::Normal));
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
