//! The generated catalog: products built once from a seed, with everything a search needs
//! precomputed (prices in every currency, titles in every language, a word index).

use std::collections::HashMap;

use alistach_domain::{Category, CategoryId, CountryCode, Decimal, ProductId};

use crate::fx::{self, CURRENCIES};
use crate::i18n::{self, SLOTS};
use crate::rng::{Rng, mix};
use crate::text;
use crate::vocab::{SHOP_MIDDLES, SHOP_PREFIXES, SHOP_SUFFIXES, Sub, TOPS};

/// How many products the catalog holds.
pub(crate) const PRODUCT_COUNT: usize = 800;

/// Shops per top-level category: sellers stay in their trade.
const SHOPS_PER_TOP: usize = 7;

/// One product, stored once and rendered per query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Item {
    pub id: ProductId,
    pub top: usize,
    pub sub: usize,
    /// Titles per language slot, English first.
    pub titles: [String; SLOTS],
    pub sale_usd_cents: i64,
    pub original_usd_cents: i64,
    pub app_usd_cents: i64,
    /// Prices per currency slot (see `fx::slot`).
    pub sale: [Decimal; CURRENCIES],
    pub original: [Decimal; CURRENCIES],
    pub app: [Decimal; CURRENCIES],
    pub discount_percent: u32,
    pub rating_tenths: i64,
    pub volume: u64,
    pub commission_tenths: i64,
    pub hot_commission_tenths: Option<i64>,
    pub shop: usize,
    pub detail_url: String,
    /// Image URLs, main image first (kept whole: rendering a page then only copies).
    pub images: Vec<String>,
    pub video_id: Option<u64>,
    pub platform_type: &'static str,
    pub base_days: u32,
    pub promo: Option<Promo>,
    /// The stable relevance score of the default order (higher first).
    pub score: u64,
}

/// A promo code in whole US dollars, rendered into the query's currency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Promo {
    pub code: String,
    pub min_spend_usd: i64,
    pub off_usd: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ShopRecord {
    pub id: u64,
    pub name: String,
    pub url: String,
}

/// The whole data set plus its indexes.
#[derive(Debug)]
pub(crate) struct CatalogData {
    pub items: Vec<Item>,
    pub shops: Vec<ShopRecord>,
    /// Flat, top-level categories first, as the platform lists them.
    pub categories: Vec<Category>,
    by_id: HashMap<ProductId, u32>,
    /// Word form → id into `postings`.
    forms: HashMap<String, u32>,
    /// Per word form, the items whose title or category names contain it.
    postings: Vec<Bits>,
    /// Items with a hot-product commission.
    pub hot: Bits,
}

/// A fixed-size set of item indexes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Bits(Vec<u64>);

impl Bits {
    pub(crate) fn empty(len: usize) -> Self {
        Bits(vec![0; len.div_ceil(64)])
    }

    pub(crate) fn full(len: usize) -> Self {
        let mut b = Bits::empty(len);
        for i in 0..len {
            b.insert(i);
        }
        b
    }

    pub(crate) fn insert(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }

    pub(crate) fn union_with(&mut self, other: &Bits) {
        self.0.iter_mut().zip(&other.0).for_each(|(a, b)| *a |= b);
    }

    pub(crate) fn intersect_with(&mut self, other: &Bits) {
        self.0.iter_mut().zip(&other.0).for_each(|(a, b)| *a &= b);
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().enumerate().flat_map(|(w, &word)| {
            let mut rest = word;
            std::iter::from_fn(move || {
                if rest == 0 {
                    return None;
                }
                let bit = rest.trailing_zeros() as usize;
                rest &= rest - 1;
                Some(w * 64 + bit)
            })
        })
    }
}

impl CatalogData {
    /// Generates the catalog for `seed`; the same seed always gives the same catalog.
    pub(crate) fn generate(seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let shops = generate_shops(&mut rng);
        let subs: Vec<(usize, usize)> = TOPS
            .iter()
            .enumerate()
            .flat_map(|(t, top)| (0..top.subs.len()).map(move |s| (t, s)))
            .collect();

        let mut items = Vec::with_capacity(PRODUCT_COUNT);
        let mut by_id = HashMap::with_capacity(PRODUCT_COUNT);
        for i in 0..PRODUCT_COUNT {
            // Round-robin over categories, and over each category's nouns on the first rounds,
            // so every kind of product exists; later rounds favour the best-selling first noun.
            let (top, sub) = subs[i % subs.len()];
            let round = i / subs.len();
            let nouns = TOPS[top].subs[sub].nouns.len();
            let noun_turn = if round < nouns || rng.chance(40) {
                round
            } else {
                0
            };
            let id = loop {
                let id = ProductId(1_005_000_000_000_000 + rng.range(1_000_000_000, 7_999_999_999));
                if !by_id.contains_key(&id) {
                    break id;
                }
            };
            by_id.insert(id, i as u32);
            items.push(generate_item(&mut rng, id, top, sub, noun_turn));
        }

        let mut categories = Vec::new();
        for top in TOPS {
            categories.push(Category {
                id: CategoryId(top.id),
                name: top.name.to_owned(),
                parent_id: None,
            });
        }
        for top in TOPS {
            for sub in top.subs {
                categories.push(Category {
                    id: CategoryId(sub.id),
                    name: sub.name.to_owned(),
                    parent_id: Some(CategoryId(top.id)),
                });
            }
        }

        let mut forms: HashMap<String, u32> = HashMap::new();
        let mut postings: Vec<Bits> = Vec::new();
        let mut hot = Bits::empty(items.len());
        for (i, item) in items.iter().enumerate() {
            if item.hot_commission_tenths.is_some() {
                hot.insert(i);
            }
            let top = &TOPS[item.top];
            let sub = &top.subs[item.sub];
            let texts = item
                .titles
                .iter()
                .map(String::as_str)
                .chain([top.name, sub.name]);
            for word in texts.flat_map(text::words) {
                for form in text::forms(&word) {
                    let next = postings.len() as u32;
                    let slot = *forms.entry(form).or_insert(next);
                    if slot == next {
                        postings.push(Bits::empty(items.len()));
                    }
                    postings[slot as usize].insert(i);
                }
            }
        }

        CatalogData {
            items,
            shops,
            categories,
            by_id,
            forms,
            postings,
            hot,
        }
    }

    /// The index of a product.
    pub(crate) fn position(&self, id: ProductId) -> Option<usize> {
        self.by_id.get(&id).map(|i| *i as usize)
    }

    /// Items whose words (any language, or category names) include every query word; `None`
    /// when the text has no searchable words at all.
    pub(crate) fn keyword_matches(&self, keywords: &str) -> Option<Bits> {
        let words = text::query_words(keywords);
        if words.is_empty() {
            return None;
        }
        let mut result = Bits::full(self.items.len());
        for word in &words {
            let mut any = Bits::empty(self.items.len());
            for form in text::forms(word) {
                if let Some(slot) = self.forms.get(&form) {
                    any.union_with(&self.postings[*slot as usize]);
                }
            }
            result.intersect_with(&any);
        }
        Some(result)
    }
}

/// Whether a product ships to a country: a fixed ~12 % of (product, country) pairs do not.
pub(crate) fn ships_to(id: ProductId, country: CountryCode) -> bool {
    mix(id.0 ^ country_key(country)) % 100 >= 12
}

/// Delivery days to a country: the product's base time plus a per-country distance.
pub(crate) fn delivery_days(item: &Item, country: CountryCode) -> u32 {
    item.base_days + (mix(country_key(country)) % 6) as u32
}

fn country_key(country: CountryCode) -> u64 {
    let b = country.as_str().as_bytes();
    let code = (u64::from(b[0]) << 8) | u64::from(*b.get(1).unwrap_or(&0));
    code.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

fn generate_shops(rng: &mut Rng) -> Vec<ShopRecord> {
    let mut shops: Vec<ShopRecord> = Vec::with_capacity(TOPS.len() * SHOPS_PER_TOP);
    while shops.len() < TOPS.len() * SHOPS_PER_TOP {
        let id = 1_100_000_000 + rng.below(4_000_000_000);
        let name = format!(
            "{} {} {}",
            rng.pick(SHOP_PREFIXES),
            rng.pick(SHOP_MIDDLES),
            rng.pick(SHOP_SUFFIXES)
        );
        if shops.iter().all(|s| s.id != id && s.name != name) {
            shops.push(ShopRecord {
                id,
                name,
                url: format!("https://www.aliexpress.com/store/{id}"),
            });
        }
    }
    shops
}

fn generate_item(
    rng: &mut Rng,
    id: ProductId,
    top: usize,
    sub_index: usize,
    noun_turn: usize,
) -> Item {
    let sub = &TOPS[top].subs[sub_index];
    let english = title(rng, sub, noun_turn);
    let titles = std::array::from_fn(|slot| i18n::localize(&english, slot));

    let (sale_usd_cents, original_usd_cents, discount_percent) = prices(rng, sub);
    let app_usd_cents = if rng.chance(30) {
        (sale_usd_cents * (100 - rng.range(1, 5) as i64) + 50) / 100
    } else {
        sale_usd_cents
    };
    let convert = |cents: i64| -> [Decimal; CURRENCIES] {
        std::array::from_fn(|slot| {
            let usd = Decimal::from_minor_units(cents, 2);
            // Catalog prices are at most a few thousand dollars; every rate keeps them in range.
            fx::usd_to(usd, alistach_domain::Currency::ALL[slot])
                .expect("catalog prices convert in range")
        })
    };

    let rating_tenths = 999 - (rng.below(150) * rng.below(150) / 150) as i64;
    let volume = match rng.below(100) {
        0..10 => rng.below(50),
        10..60 => rng.range(50, 2_000),
        60..90 => rng.range(2_000, 20_000),
        _ => rng.range(20_000, 150_000),
    };
    let commission_tenths = rng.range(6, 24) as i64 * 5;
    let hot_commission_tenths = rng.chance(20).then(|| rng.range(20, 50) as i64 * 5);
    let shop = top * SHOPS_PER_TOP + rng.below(SHOPS_PER_TOP as u64) as usize;
    let image_count = rng.range(2, 5) as usize;
    let images = (0..image_count).map(|_| image_url(rng)).collect();
    let video_id = rng
        .chance(10)
        .then(|| 1_100_000_000_000 + rng.below(99_999_999_999));
    let platform_type = match rng.below(10) {
        0 => "TMALL",
        1 | 2 => "PLAZA",
        _ => "ALL",
    };
    let base_days = rng.range(5, 20) as u32;
    let promo = rng.chance(15).then(|| {
        const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
        let code: String = (0..6).map(|_| char::from(*rng.pick(ALPHABET))).collect();
        let min_spend_usd = *rng.pick(&[10, 15, 20, 30, 50]);
        let off_usd = *rng.pick(&[2, 3, 5]);
        Promo {
            code: format!("AE{code}"),
            min_spend_usd,
            off_usd,
        }
    });
    let score = u64::from(volume.saturating_add(1).ilog2()) * 1_000
        + (rating_tenths as u64 - 850) * 5
        + rng.below(1_000);

    Item {
        id,
        top,
        sub: sub_index,
        titles,
        detail_url: id.canonical_url(),
        sale_usd_cents,
        original_usd_cents,
        app_usd_cents,
        sale: convert(sale_usd_cents),
        original: convert(original_usd_cents),
        app: convert(app_usd_cents),
        discount_percent,
        rating_tenths,
        volume,
        commission_tenths,
        hot_commission_tenths,
        shop,
        images,
        video_id,
        platform_type,
        base_days,
        promo,
        score,
    }
}

/// "Adjective [Adjective] Noun Feature [Feature]", no phrase repeated.
fn title(rng: &mut Rng, sub: &Sub, noun_turn: usize) -> String {
    let noun = sub.nouns[noun_turn % sub.nouns.len()];
    let mut before: Vec<&str> = Vec::new();
    let mut after: Vec<&str> = Vec::new();
    let fresh = |phrase: &str, parts: &[&str]| {
        let lower = phrase.to_lowercase();
        !noun.to_lowercase().contains(&lower)
            && parts.iter().all(|p| !p.to_lowercase().contains(&lower))
    };
    for _ in 0..rng.range(1, 2) {
        let adjective = *rng.pick(sub.adjectives);
        if fresh(adjective, &before) {
            before.push(adjective);
        }
    }
    for _ in 0..rng.range(1, 2) {
        let feature = *rng.pick(sub.features);
        let taken: Vec<&str> = before.iter().chain(&after).copied().collect();
        if fresh(feature, &taken) {
            after.push(feature);
        }
    }
    let mut parts = before;
    parts.push(noun);
    parts.extend(after);
    parts.join(" ")
}

/// Sale price, original price (both in US cents) and the discount percent they imply.
fn prices(rng: &mut Rng, sub: &Sub) -> (i64, i64, u32) {
    let (lo, hi) = sub.price;
    // Squaring a uniform draw skews towards the cheap end, as real listings do.
    let r = rng.below(10_000) as i64;
    let raw = lo + (hi - lo) * r * r / 100_000_000;
    let sale = ((raw / 100) * 100 + *rng.pick(&[99, 49, 89, 29, 69, 19])).max(19);
    let cut = if rng.chance(15) {
        0
    } else {
        rng.range(5, 70) as i64
    };
    let original = (sale * 100 + (100 - cut) / 2) / (100 - cut);
    let discount = ((original - sale) * 100 + original / 2) / original;
    (sale, original, discount as u32)
}

/// An AliExpress CDN image URL with a hash shaped like the platform's (`S` + 32 hex + a letter).
fn image_url(rng: &mut Rng) -> String {
    const CAPS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    format!(
        "https://ae01.alicdn.com/kf/S{:016x}{:016x}{}.jpg",
        rng.next_u64(),
        rng.next_u64(),
        char::from(*rng.pick(CAPS))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic_and_seed_dependent() {
        let a = CatalogData::generate(1);
        let b = CatalogData::generate(1);
        let c = CatalogData::generate(2);
        assert_eq!(a.items, b.items);
        assert_eq!(a.shops, b.shops);
        assert_ne!(a.items, c.items);
    }

    #[test]
    fn prices_are_consistent() {
        let data = CatalogData::generate(crate::DEFAULT_SEED);
        for item in &data.items {
            assert!(item.sale_usd_cents > 0);
            assert!(
                item.original_usd_cents >= item.sale_usd_cents,
                "{:?}",
                item.id
            );
            assert!(item.app_usd_cents <= item.sale_usd_cents);
            // The stated discount is the rounded true one.
            let exact = (item.original_usd_cents - item.sale_usd_cents) * 100;
            let stated = i64::from(item.discount_percent) * item.original_usd_cents;
            assert!(
                (exact - stated).abs() * 2 <= item.original_usd_cents,
                "{:?}",
                item.id
            );
            assert!((850..=999).contains(&item.rating_tenths));
            assert!((30..=120).contains(&item.commission_tenths));
            assert!((2..=5).contains(&item.images.len()));
        }
    }

    #[test]
    fn bits_iterate_what_was_inserted() {
        let mut b = Bits::empty(130);
        for i in [0, 63, 64, 129] {
            b.insert(i);
        }
        assert_eq!(b.iter().collect::<Vec<_>>(), [0, 63, 64, 129]);
        let mut f = Bits::full(130);
        assert_eq!(f.iter().count(), 130);
        f.intersect_with(&b);
        assert_eq!(f, b);
    }

    #[test]
    fn shipping_is_a_stable_partial_subset() {
        let data = CatalogData::generate(crate::DEFAULT_SEED);
        let us: CountryCode = "US".parse().unwrap();
        let blocked = data.items.iter().filter(|i| !ships_to(i.id, us)).count();
        assert!(blocked > 0 && blocked < data.items.len() / 4, "{blocked}");
        assert!(
            data.items
                .iter()
                .all(|i| ships_to(i.id, us) == ships_to(i.id, us))
        );
    }
}
