//! The fake gateway's deterministic catalog: categories, products, promotions and orders,
//! generated from a seed, plus fixed exchange rates and a little localisation.

use alistach_domain::{Currency, Decimal, Language};

/// A tiny xorshift64* generator: deterministic, dependency-free, good enough for test data.
#[derive(Clone, Debug)]
pub(crate) struct XorShift(u64);

impl XorShift {
    pub(crate) fn new(seed: u64) -> Self {
        XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `lo..=hi`.
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next_u64() % items.len() as u64) as usize]
    }

    pub(crate) fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }
}

/// FNV-1a, for stable keys (promotion links, request ids).
pub(crate) fn fnv1a(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.bytes().chain(std::iter::once(0xff)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// Base62 text of a number, fixed width.
pub(crate) fn base62(mut n: u64, width: usize) -> String {
    const DIGITS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::with_capacity(width);
    for _ in 0..width {
        out.push(DIGITS[(n % 62) as usize]);
        n /= 62;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// The tracked short link for a source, deterministic per (source, tracking id, link type).
pub(crate) fn promotion_link(source: &str, tracking_id: &str, link_type: &str) -> String {
    format!(
        "https://s.click.aliexpress.com/e/_D{}",
        base62(fnv1a(&[source, tracking_id, link_type]), 6)
    )
}

#[derive(Debug)]
pub(crate) struct Child {
    pub(crate) id: u64,
    pub(crate) name: &'static str,
    nouns: &'static [&'static str],
}

#[derive(Debug)]
pub(crate) struct TopCategory {
    pub(crate) id: u64,
    pub(crate) name: &'static str,
    adjectives: &'static [&'static str],
    pub(crate) children: &'static [Child],
}

/// Real top-level AliExpress categories with a few real-looking children.
pub(crate) const CATEGORIES: &[TopCategory] = &[
    TopCategory {
        id: 3,
        name: "Apparel & Accessories",
        adjectives: &[
            "Casual",
            "Oversized",
            "Vintage",
            "Summer",
            "Cotton",
            "Slim Fit",
        ],
        children: &[
            Child {
                id: 200000345,
                name: "Women's Clothing",
                nouns: &["Dress", "Blouse", "Cardigan", "Skirt"],
            },
            Child {
                id: 200000343,
                name: "Men's Clothing",
                nouns: &["T-Shirt", "Hoodie", "Jacket", "Jeans"],
            },
        ],
    },
    TopCategory {
        id: 44,
        name: "Consumer Electronics",
        adjectives: &[
            "Wireless",
            "Bluetooth 5.3",
            "Portable",
            "Waterproof",
            "Mini",
            "Smart",
        ],
        children: &[
            Child {
                id: 63705,
                name: "Earphones & Headphones",
                nouns: &[
                    "Wireless Earbuds",
                    "Headphones",
                    "Earphones",
                    "Gaming Headset",
                ],
            },
            Child {
                id: 100000305,
                name: "Smart Electronics",
                nouns: &["Smart Watch", "Fitness Tracker", "Smart Ring"],
            },
            Child {
                id: 200003803,
                name: "Camera & Photo",
                nouns: &["Action Camera", "Tripod", "Ring Light"],
            },
        ],
    },
    TopCategory {
        id: 66,
        name: "Beauty & Health",
        adjectives: &[
            "Waterproof",
            "Long Lasting",
            "Natural",
            "Vegan",
            "Matte",
            "Hydrating",
        ],
        children: &[
            Child {
                id: 660103,
                name: "Makeup",
                nouns: &["Lipstick", "Eyeshadow Palette", "Mascara"],
            },
            Child {
                id: 3306,
                name: "Skin Care",
                nouns: &["Face Serum", "Moisturizer", "Sunscreen"],
            },
        ],
    },
    TopCategory {
        id: 15,
        name: "Home & Garden",
        adjectives: &[
            "Stainless Steel",
            "Nordic",
            "Rechargeable",
            "Foldable",
            "Bamboo",
            "LED",
        ],
        children: &[
            Child {
                id: 1541,
                name: "Kitchen, Dining & Bar",
                nouns: &["Knife Set", "Coffee Grinder", "Spatula Set"],
            },
            Child {
                id: 125,
                name: "Home Decor",
                nouns: &["Strip Lights", "Wall Clock", "Pillow Cover"],
            },
        ],
    },
    TopCategory {
        id: 18,
        name: "Sports & Entertainment",
        adjectives: &[
            "Non-Slip",
            "Adjustable",
            "Lightweight",
            "Professional",
            "Breathable",
            "Portable",
        ],
        children: &[
            Child {
                id: 100005433,
                name: "Fitness & Body Building",
                nouns: &["Yoga Mat", "Resistance Bands", "Jump Rope"],
            },
            Child {
                id: 100005371,
                name: "Cycling",
                nouns: &["Bike Light", "Cycling Gloves", "Bike Phone Holder"],
            },
        ],
    },
    TopCategory {
        id: 26,
        name: "Toys & Hobbies",
        adjectives: &[
            "Educational",
            "Magnetic",
            "Remote Control",
            "Creative",
            "Classic",
            "Mini",
        ],
        children: &[
            Child {
                id: 100001622,
                name: "Building & Construction Toys",
                nouns: &["Building Blocks", "Magnetic Tiles"],
            },
            Child {
                id: 1503,
                name: "Remote Control Toys",
                nouns: &["RC Car", "Drone", "RC Boat"],
            },
        ],
    },
    TopCategory {
        id: 34,
        name: "Automobiles & Motorcycles",
        adjectives: &[
            "Universal",
            "Wireless",
            "Magnetic",
            "Leather",
            "HD",
            "Fast Charging",
        ],
        children: &[
            Child {
                id: 200000408,
                name: "Car Electronics",
                nouns: &["Dash Cam", "Car Charger", "Phone Mount"],
            },
            Child {
                id: 200002984,
                name: "Interior Accessories",
                nouns: &["Seat Cover", "Steering Wheel Cover"],
            },
        ],
    },
    TopCategory {
        id: 1420,
        name: "Tools",
        adjectives: &[
            "Cordless",
            "Brushless",
            "Professional",
            "Heavy Duty",
            "Precision",
            "Rechargeable",
        ],
        children: &[
            Child {
                id: 1417,
                name: "Power Tools",
                nouns: &["Drill", "Angle Grinder", "Electric Screwdriver"],
            },
            Child {
                id: 1428,
                name: "Hand Tools",
                nouns: &["Screwdriver Set", "Wrench Set", "Pliers"],
            },
        ],
    },
    TopCategory {
        id: 36,
        name: "Jewelry & Accessories",
        adjectives: &[
            "Sterling Silver",
            "Gold Plated",
            "Minimalist",
            "Vintage",
            "Crystal",
            "Stainless Steel",
        ],
        children: &[
            Child {
                id: 200000147,
                name: "Necklaces & Pendants",
                nouns: &["Necklace", "Pendant", "Choker"],
            },
            Child {
                id: 100006749,
                name: "Rings",
                nouns: &["Ring", "Band Ring", "Stacking Ring"],
            },
        ],
    },
    TopCategory {
        id: 1501,
        name: "Mother & Kids",
        adjectives: &[
            "Soft",
            "Organic Cotton",
            "BPA Free",
            "Cute",
            "Newborn",
            "Anti-Colic",
        ],
        children: &[
            Child {
                id: 100001118,
                name: "Baby Clothing",
                nouns: &["Romper", "Baby Socks", "Sleepsuit"],
            },
            Child {
                id: 200002101,
                name: "Feeding",
                nouns: &["Baby Bottle", "Silicone Bib", "Sippy Cup"],
            },
        ],
    },
];

const SUFFIXES: &[&str] = &[
    "",
    "2024 New",
    "with Case",
    "for Women",
    "for Men",
    "Gift",
    "Set",
    "Original",
];
const COUNTRIES_EXCLUDED: &[&str] = &["RU", "BR", "IL", "UA", "IN"];

/// The fixed featured promotions (the platform documents these four as permanent pools).
pub(crate) const PROMOS: &[(&str, &str)] = &[
    ("Hot Product", "Products with high commission rates"),
    ("New Arrival", "Products recently listed"),
    ("Best Seller", "Products with the most sales"),
    ("weeklydeals", "This week's deals"),
];

#[derive(Clone, Debug)]
pub(crate) struct PromoCodeSpec {
    pub(crate) code: String,
    pub(crate) off_cents: i64,
    pub(crate) min_spend_cents: i64,
}

#[derive(Clone, Debug)]
pub(crate) struct CatalogProduct {
    pub(crate) id: u64,
    pub(crate) title: String,
    pub(crate) top: &'static TopCategory,
    pub(crate) child: &'static Child,
    /// USD cents.
    pub(crate) sale_cents: i64,
    pub(crate) original_cents: i64,
    pub(crate) app_cents: Option<i64>,
    pub(crate) discount: u32,
    /// Tenths of a percent.
    pub(crate) rating_tenths: u32,
    pub(crate) volume: u64,
    pub(crate) commission_tenths: u32,
    pub(crate) hot_commission_tenths: u32,
    pub(crate) shop_id: u64,
    pub(crate) images: Vec<String>,
    pub(crate) video: Option<String>,
    pub(crate) platform_type: &'static str,
    pub(crate) excluded_country: Option<&'static str>,
    pub(crate) ship_days: u32,
    pub(crate) promo_code: Option<PromoCodeSpec>,
    pub(crate) promos: Vec<&'static str>,
}

impl CatalogProduct {
    pub(crate) fn detail_url(&self) -> String {
        format!("https://www.aliexpress.com/item/{}.html", self.id)
    }

    pub(crate) fn ships_to(&self, country: &str) -> bool {
        self.excluded_country != Some(country)
    }

    pub(crate) fn in_category(&self, id: u64) -> bool {
        self.top.id == id || self.child.id == id
    }
}

#[derive(Clone, Debug)]
pub(crate) struct CatalogOrder {
    pub(crate) order_id: u64,
    pub(crate) sub_order_id: u64,
    pub(crate) status: &'static str,
    pub(crate) product: usize,
    pub(crate) count: u64,
    /// USD cents.
    pub(crate) paid_cents: i64,
    pub(crate) commission_cents: i64,
    pub(crate) created_time: String,
    pub(crate) paid_time: String,
    pub(crate) is_new_buyer: bool,
    pub(crate) ship_to_country: &'static str,
}

pub(crate) const ORDER_STATUSES: &[&str] = &[
    "Payment Completed",
    "Buyer Confirmed Receipt",
    "Completed Settlement",
    "Invalid",
];

/// The whole deterministic data set.
pub(crate) struct Catalog {
    pub(crate) products: Vec<CatalogProduct>,
    pub(crate) orders: Vec<CatalogOrder>,
}

impl Catalog {
    pub(crate) fn generate(seed: u64, count: usize) -> Catalog {
        let mut rng = XorShift::new(seed);
        let children: Vec<(&'static TopCategory, &'static Child)> = CATEGORIES
            .iter()
            .flat_map(|t| t.children.iter().map(move |c| (t, c)))
            .collect();
        let mut products = Vec::with_capacity(count);
        for i in 0..count {
            let (top, child) = children[i % children.len()];
            let adjective = rng.pick(top.adjectives);
            let noun = rng.pick(child.nouns);
            let suffix = rng.pick(SUFFIXES);
            let title = [*adjective, *noun, *suffix]
                .iter()
                .filter(|s| !s.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(" ");
            let sale_cents = rng.range(199, 8999) as i64;
            let discount = rng.range(5, 70) as u32;
            let original_cents = sale_cents * 100 / (100 - i64::from(discount));
            let app_cents = rng.chance(30).then(|| sale_cents * 97 / 100);
            let hot = rng.chance(25);
            let image_count = rng.range(1, 4);
            let images = (0..image_count)
                .map(|k| format!("https://ae01.alicdn.com/kf/S{:016x}{k}.jpg", rng.next_u64()))
                .collect::<Vec<_>>();
            let promo_code = rng.chance(15).then(|| PromoCodeSpec {
                code: format!("AFF{}", base62(rng.next_u64(), 4).to_uppercase()),
                off_cents: rng.range(1, 5) as i64 * 100,
                min_spend_cents: rng.range(10, 40) as i64 * 100,
            });
            let mut promos = Vec::new();
            if hot {
                promos.push(PROMOS[0].0);
            }
            if i % 7 == 0 {
                promos.push(PROMOS[1].0);
            }
            let volume = rng.range(0, 20_000);
            if volume > 12_000 {
                promos.push(PROMOS[2].0);
            }
            if discount >= 50 {
                promos.push(PROMOS[3].0);
            }
            products.push(CatalogProduct {
                id: 1_005_006_000_000_000 + (i as u64) * 7_919 + rng.range(0, 7_000),
                title,
                top,
                child,
                sale_cents,
                original_cents,
                app_cents,
                discount,
                rating_tenths: rng.range(880, 999) as u32,
                volume,
                commission_tenths: [30, 50, 70, 80, 90, 100][rng.range(0, 5) as usize],
                hot_commission_tenths: if hot {
                    [150, 200, 250][rng.range(0, 2) as usize]
                } else {
                    0
                },
                shop_id: 1_100_000_000 + rng.range(0, 9_999_999),
                images,
                video: rng.chance(20).then(|| {
                    format!(
                        "https://video.aliexpress-media.com/play/u/ae_sg_item/{}.mp4",
                        rng.range(1, 1 << 40)
                    )
                }),
                platform_type: if rng.chance(10) { "TMALL" } else { "PLAZA" },
                excluded_country: rng.chance(10).then(|| *rng.pick(COUNTRIES_EXCLUDED)),
                ship_days: [3, 5, 7, 10, 15, 20][rng.range(0, 5) as usize],
                promo_code,
                promos,
            });
        }
        let orders = (0..60u64)
            .map(|i| {
                let product = (rng.next_u64() % products.len().max(1) as u64) as usize;
                let count = rng.range(1, 3);
                let paid_cents = products.get(product).map_or(999, |p| p.sale_cents) * count as i64;
                let commission = products
                    .get(product)
                    .map_or(70, |p| i64::from(p.commission_tenths));
                // Spread over November 2023: every 12 hours.
                let minutes = i * 12 * 60 + rng.range(0, 59);
                let created = platform_time(1_698_796_800 + minutes * 60);
                let paid = platform_time(1_698_796_800 + minutes * 60 + 120);
                CatalogOrder {
                    order_id: 8_100_000_000_000_000 + i * 1_013,
                    sub_order_id: 8_100_000_000_000_000 + i * 1_013 + 1,
                    status: ORDER_STATUSES[(i % 4) as usize],
                    product,
                    count,
                    paid_cents,
                    commission_cents: paid_cents * commission / 1000,
                    created_time: created,
                    paid_time: paid,
                    is_new_buyer: rng.chance(30),
                    ship_to_country: ["US", "FR", "DE", "ES", "IL", "BR"][rng.range(0, 5) as usize],
                }
            })
            .collect();
        Catalog { products, orders }
    }

    pub(crate) fn product(&self, id: u64) -> Option<&CatalogProduct> {
        self.products.iter().find(|p| p.id == id)
    }
}

/// `yyyy-MM-dd HH:mm:ss` of a Unix time (UTC wall clock; the platform's order times are
/// documented as PST, which does not matter for a fake).
pub(crate) fn platform_time(unix_seconds: u64) -> String {
    let days = (unix_seconds / 86_400) as i64;
    let secs = unix_seconds % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Units of `currency` per US dollar, as a ratio (fixed, so tests can compute expectations).
pub(crate) fn usd_rate(currency: Currency) -> (i64, i64) {
    match currency {
        Currency::USD => (1, 1),
        Currency::GBP => (79, 100),
        Currency::CAD => (136, 100),
        Currency::EUR => (92, 100),
        Currency::UAH => (41, 1),
        Currency::MXN => (171, 10),
        Currency::TRY => (32, 1),
        Currency::RUB => (92, 1),
        Currency::BRL => (5, 1),
        Currency::AUD => (152, 100),
        Currency::INR => (83, 1),
        Currency::JPY => (150, 1),
        Currency::IDR => (15_600, 1),
        Currency::SEK => (105, 10),
        Currency::KRW => (1_330, 1),
        Currency::ILS => (37, 10),
        Currency::THB => (355, 10),
        Currency::CLP => (930, 1),
        Currency::VND => (24_500, 1),
    }
}

/// USD cents converted into `currency`, rounded to its minor digits.
pub(crate) fn convert(usd_cents: i64, currency: Currency) -> Decimal {
    let (num, den) = usd_rate(currency);
    Decimal::from_minor_units(usd_cents, 2)
        .mul_ratio(num, den, currency.minor_digits())
        .unwrap_or(Decimal::ZERO)
}

/// A title in `language`: a few common words are translated, the rest stays English (as
/// machine-translated listings often do).
pub(crate) fn localise(title: &str, language: Language) -> String {
    let table: &[(&str, &str)] = match language {
        Language::FR => &[
            ("Wireless Earbuds", "Écouteurs sans fil"),
            ("Wireless", "sans fil"),
            ("Headphones", "Casque"),
            ("Earphones", "Écouteurs"),
            ("Smart Watch", "Montre connectée"),
            ("Dress", "Robe"),
            ("Yoga Mat", "Tapis de yoga"),
            ("Portable", "Portable"),
            ("Waterproof", "Étanche"),
        ],
        Language::ES | Language::MX | Language::CL => &[
            ("Wireless Earbuds", "Auriculares inalámbricos"),
            ("Wireless", "Inalámbrico"),
            ("Headphones", "Auriculares"),
            ("Smart Watch", "Reloj inteligente"),
            ("Dress", "Vestido"),
            ("Yoga Mat", "Esterilla de yoga"),
            ("Waterproof", "Impermeable"),
        ],
        Language::DE => &[
            ("Wireless Earbuds", "Kabellose Ohrhörer"),
            ("Wireless", "Kabellos"),
            ("Headphones", "Kopfhörer"),
            ("Smart Watch", "Smartwatch"),
            ("Dress", "Kleid"),
            ("Yoga Mat", "Yogamatte"),
            ("Waterproof", "Wasserdicht"),
        ],
        Language::PT => &[
            ("Wireless Earbuds", "Fones de ouvido sem fio"),
            ("Wireless", "Sem fio"),
            ("Headphones", "Fones de ouvido"),
            ("Smart Watch", "Relógio inteligente"),
            ("Dress", "Vestido"),
        ],
        Language::IT => &[
            ("Wireless Earbuds", "Auricolari wireless"),
            ("Headphones", "Cuffie"),
            ("Smart Watch", "Orologio intelligente"),
            ("Dress", "Vestito"),
        ],
        _ => &[],
    };
    let mut out = title.to_owned();
    for (en, local) in table {
        if out.contains(en) {
            out = out.replace(en, local);
        }
    }
    out
}

/// Lowercase words of a text (letters and digits).
pub(crate) fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// True when every keyword word is a word of `title` (singular and plural match).
pub(crate) fn matches_keywords(keywords: &[String], titles: &[&str]) -> bool {
    let title_words: Vec<String> = titles.iter().flat_map(|t| words(t)).collect();
    let stem = |w: &str| {
        w.strip_suffix('s')
            .filter(|s| s.len() > 2)
            .unwrap_or(w)
            .to_owned()
    };
    keywords.iter().all(|k| {
        let k = stem(k);
        title_words.iter().any(|t| stem(t) == k)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic_and_varied() {
        let a = Catalog::generate(7, 300);
        let b = Catalog::generate(7, 300);
        assert_eq!(
            a.products
                .iter()
                .map(|p| (p.id, p.title.clone()))
                .collect::<Vec<_>>(),
            b.products
                .iter()
                .map(|p| (p.id, p.title.clone()))
                .collect::<Vec<_>>()
        );
        let mut ids: Vec<u64> = a.products.iter().map(|p| p.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 300, "ids are unique");
        assert!(a.products.iter().any(|p| p.hot_commission_tenths > 0));
        assert!(a.products.iter().any(|p| p.hot_commission_tenths == 0));
        let c = Catalog::generate(8, 300);
        assert_ne!(
            a.products[0].title.clone() + &a.products[1].title,
            c.products[0].title.clone() + &c.products[1].title
        );
    }

    #[test]
    fn dates_and_money() {
        assert_eq!(platform_time(1_700_000_000), "2023-11-14 22:13:20");
        assert_eq!(days_from_civil(2023, 11, 14), 19_675);
        assert_eq!(convert(1000, Currency::EUR).to_string(), "9.20");
        assert_eq!(convert(1999, Currency::JPY).to_string(), "2999");
    }

    #[test]
    fn keyword_matching_is_by_word() {
        let kw = words("wireless EARBUD");
        assert!(matches_keywords(
            &kw,
            &["Bluetooth Wireless Earbuds with Case"]
        ));
        assert!(!matches_keywords(&kw, &["Wireless Headphones"]));
        assert!(matches_keywords(&words("ring"), &["Ring Light"]));
        assert!(!matches_keywords(&words("ear"), &["Earphones"]));
        assert_eq!(
            localise("Wireless Earbuds Set", Language::FR),
            "Écouteurs sans fil Set"
        );
    }
}
