//! The mock catalog through its public API: determinism, every search filter, currencies,
//! languages, details, categories and links; and clicks becoming mock orders (`clicks`).

mod clicks;

use std::collections::HashSet;
use std::future::Future;
use std::task::{Context, Poll, Waker};

use alistach_domain::{
    AffiliateApi, ApiMode, Category, CategoryId, CategoryTree, CountryCode, Currency, Decimal,
    DetailsQuery, Language, LinkSource, LinkType, Listing, Product, ProductId, ProductPage,
    SearchDraft, SortOrder, UpstreamError,
};
use alistach_mock::{DEFAULT_SEED, MockCatalog, exchange_rate, is_mock_link, usd_to};

/// Drives a mock future: the catalog never waits, so one poll must finish it.
fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the mock catalog must never wait"),
    }
}

fn api() -> MockCatalog {
    MockCatalog::new()
}

fn search(api: &dyn AffiliateApi, q: &SearchDraft) -> ProductPage {
    let query = q.parse(Listing::Search).unwrap();
    block_on(api.search_products(&query)).unwrap_or_else(|e| panic!("{q:?}: {e}"))
}

fn hot_page(api: &dyn AffiliateApi, q: &SearchDraft) -> ProductPage {
    block_on(api.hot_products(&q.parse(Listing::Hot).unwrap())).unwrap()
}

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn top_ids(api: &dyn AffiliateApi) -> Vec<CategoryId> {
    block_on(api.categories())
        .unwrap()
        .into_iter()
        .filter(|c| c.parent_id.is_none())
        .map(|c| c.id)
        .collect()
}

/// A query matching the whole catalog: every top-level category, no keywords.
fn everything(api: &dyn AffiliateApi) -> SearchDraft {
    let mut q = SearchDraft::new("");
    q.keywords = None;
    q.category_ids = top_ids(api);
    q.page_size = 50;
    q
}

/// Every product of a query, page by page, checking the paging totals on the way.
fn all_pages(api: &dyn AffiliateApi, q: &SearchDraft, hot: bool) -> Vec<Product> {
    let mut q = q.clone();
    q.page_no = 1;
    let mut out = Vec::new();
    loop {
        let page = if hot {
            hot_page(api, &q)
        } else {
            search(api, &q)
        };
        assert_eq!(page.page_no, q.page_no);
        assert_eq!(page.page_size, q.page_size);
        let expected_pages = page.total_records.div_ceil(u64::from(q.page_size)).min(100);
        assert_eq!(u64::from(page.total_pages), expected_pages, "{q:?}");
        if q.page_no > page.total_pages {
            assert!(page.products.is_empty());
            assert_eq!(
                out.len() as u64,
                page.total_records,
                "pages add up to the total"
            );
            return out;
        }
        let full = q.page_no < page.total_pages;
        if full {
            assert_eq!(page.products.len(), q.page_size as usize);
        } else {
            assert!(!page.products.is_empty() && page.products.len() <= q.page_size as usize);
        }
        out.extend(page.products);
        q.page_no += 1;
    }
}

fn ids(products: &[Product]) -> Vec<ProductId> {
    products.iter().map(|p| p.id).collect()
}

fn sale(p: &Product) -> Decimal {
    p.sale_price.unwrap().amount
}

#[test]
fn holds_hundreds_of_products_and_says_it_is_mock() {
    let api = api();
    assert_eq!(api.mode(), ApiMode::Mock);
    assert!(api.len() >= 500, "{}", api.len());
    let all = all_pages(&api, &everything(&api), false);
    assert_eq!(all.len(), api.len());
    let unique: HashSet<ProductId> = all.iter().map(|p| p.id).collect();
    assert_eq!(
        unique.len(),
        api.len(),
        "pages are disjoint and cover the catalog"
    );
}

#[test]
fn the_same_seed_gives_the_same_catalog() {
    let a = MockCatalog::with_seed(DEFAULT_SEED);
    let b = MockCatalog::with_seed(DEFAULT_SEED);
    for (currency, language) in [
        (Currency::USD, Language::EN),
        (Currency::JPY, Language::FR),
        (Currency::EUR, Language::RU),
    ] {
        let pa = a.products(currency, language);
        assert_eq!(pa, b.products(currency, language));
        assert_eq!(
            pa,
            MockCatalog::new().products(currency, language),
            "the shared default is the same catalog"
        );
    }
    let q = SearchDraft::new("wireless");
    assert_eq!(search(&a, &q), search(&b, &q));
    let other = MockCatalog::with_seed(DEFAULT_SEED + 1);
    assert_ne!(
        ids(&a.products(Currency::USD, Language::EN)),
        ids(&other.products(Currency::USD, Language::EN))
    );
}

#[test]
fn categories_form_a_valid_two_level_tree() {
    let api = api();
    let flat: Vec<Category> = block_on(api.categories()).unwrap();
    let ids: HashSet<CategoryId> = flat.iter().map(|c| c.id).collect();
    assert_eq!(ids.len(), flat.len(), "ids are unique");
    for top in [
        3, 44, 66, 15, 18, 26, 34, 1420, 36, 1501, 7, 509, 13, 30, 322, 1524,
    ] {
        let c = flat
            .iter()
            .find(|c| c.id == CategoryId(top))
            .unwrap_or_else(|| panic!("top-level {top} missing"));
        assert_eq!(c.parent_id, None);
    }
    let tops: HashSet<CategoryId> = flat
        .iter()
        .filter(|c| c.parent_id.is_none())
        .map(|c| c.id)
        .collect();
    for child in flat.iter().filter(|c| c.parent_id.is_some()) {
        assert!(
            tops.contains(&child.parent_id.unwrap()),
            "{child:?} has no top-level parent"
        );
    }
    let earphones = flat.iter().find(|c| c.id == CategoryId(63705)).unwrap();
    assert_eq!(earphones.parent_id, Some(CategoryId(44)));
    let tree = CategoryTree::from_flat(&flat);
    assert!(tree.orphans.is_empty());
    assert!(tree.roots.iter().all(|r| r.children.len() >= 2));

    // Every product sits in a listed second-level category under its listed top level.
    for p in api.products(Currency::USD, Language::EN) {
        let first = p.first_level_category.as_ref().unwrap();
        let second = p.second_level_category.as_ref().unwrap();
        let listed = flat.iter().find(|c| c.id == second.id).unwrap();
        assert_eq!(listed.parent_id, Some(first.id));
        assert_eq!(second.name.as_deref(), Some(listed.name.as_str()));
    }
}

#[test]
fn common_keyword_searches_find_plausible_products() {
    let api = api();
    for (keywords, stems) in [
        ("wireless earbuds", &["wireless", "earbud"][..]),
        ("phone case", &["phone", "case"]),
        ("yoga mat", &["yoga", "mat"]),
        ("led strip", &["led", "strip"]),
        ("smart watch", &["smart", "watch"]),
        ("drone", &["drone"]),
    ] {
        let mut q = SearchDraft::new(keywords);
        q.page_size = 50;
        let found = all_pages(&api, &q, false);
        assert!(!found.is_empty(), "{keywords} found nothing");
        for p in &found {
            let text = format!(
                "{} {} {}",
                p.title,
                p.first_level_category
                    .as_ref()
                    .unwrap()
                    .name
                    .as_deref()
                    .unwrap(),
                p.second_level_category
                    .as_ref()
                    .unwrap()
                    .name
                    .as_deref()
                    .unwrap()
            )
            .to_lowercase();
            for stem in stems {
                assert!(
                    text.contains(stem),
                    "{keywords}: {:?} lacks {stem}",
                    p.title
                );
            }
        }
    }
}

#[test]
fn keywords_ignore_case_tolerate_plurals_and_match_category_names() {
    let api = api();
    let total = |k: &str| search(&api, &SearchDraft::new(k)).total_records;
    assert_eq!(total("WIRELESS EarBuds"), total("wireless earbuds"));
    assert_eq!(total("wireless earbud"), total("wireless earbuds"));
    assert_eq!(total("phone cases"), total("phone case"));
    assert_eq!(total("  phone   case "), total("phone case"));
    // "case for iphone": the stop word "for" is not required.
    assert!(total("case for iphone") > 0);
    // A category name alone finds the whole category.
    let apparel = search(&api, &SearchDraft::new("apparel"));
    assert!(apparel.total_records >= 20);
    let narrower = total("wireless earbuds bluetooth");
    assert!(
        narrower <= total("wireless earbuds"),
        "every word must match"
    );
}

#[test]
fn unknown_keywords_find_nothing() {
    let api = api();
    for k in ["zzqxv", "wireless zzqxv", "for the", "!!!"] {
        let page = search(&api, &SearchDraft::new(k));
        assert!(page.products.is_empty(), "{k}");
        assert_eq!((page.total_records, page.total_pages), (0, 0), "{k}");
    }
}

#[test]
fn category_filter_honours_both_levels() {
    let api = api();
    let mut q = everything(&api);
    q.category_ids = vec![CategoryId(44)];
    let electronics = all_pages(&api, &q, false);
    assert!(!electronics.is_empty());
    assert!(
        electronics
            .iter()
            .all(|p| p.first_level_category.as_ref().unwrap().id == CategoryId(44))
    );

    let children: Vec<CategoryId> = block_on(api.categories())
        .unwrap()
        .into_iter()
        .filter(|c| c.parent_id == Some(CategoryId(44)))
        .map(|c| c.id)
        .collect();
    let mut by_children = 0;
    for child in &children {
        q.category_ids = vec![*child];
        let found = all_pages(&api, &q, false);
        assert!(
            found
                .iter()
                .all(|p| p.second_level_category.as_ref().unwrap().id == *child)
        );
        by_children += found.len();
    }
    assert_eq!(
        by_children,
        electronics.len(),
        "a top level is exactly the union of its children"
    );

    q.category_ids = vec![CategoryId(63705), CategoryId(322)];
    let both = all_pages(&api, &q, false);
    assert!(
        both.iter()
            .any(|p| p.first_level_category.as_ref().unwrap().id == CategoryId(322))
    );
    assert!(
        both.iter()
            .any(|p| p.second_level_category.as_ref().unwrap().id == CategoryId(63705))
    );

    q.category_ids = vec![CategoryId(999_999)];
    assert_eq!(search(&api, &q).total_records, 0);

    let mut kq = SearchDraft::new("wireless");
    kq.category_ids = vec![CategoryId(7)];
    let page = search(&api, &kq);
    assert!(page.total_records > 0);
    assert!(
        page.products
            .iter()
            .all(|p| p.first_level_category.as_ref().unwrap().id == CategoryId(7))
    );
}

#[test]
fn price_bounds_hold_in_every_currency() {
    let api = api();
    for &currency in Currency::ALL {
        let min = usd_to(d("10"), currency).unwrap();
        let max = usd_to(d("40"), currency).unwrap();
        let mut q = everything(&api);
        q.currency = currency;
        q.min_price = Some(min);
        q.max_price = Some(max);
        let found = all_pages(&api, &q, false);
        assert!(!found.is_empty(), "{currency}");
        for p in &found {
            let price = p.sale_price.unwrap();
            assert_eq!(price.currency, currency);
            assert!(
                min <= price.amount && price.amount <= max,
                "{currency}: {} outside {min}..{max}",
                price.amount
            );
        }
        // Nothing in range was dropped.
        let expected = api
            .products(currency, Language::EN)
            .into_iter()
            .filter(|p| (min..=max).contains(&sale(p)))
            .count();
        assert_eq!(found.len(), expected, "{currency}");
    }
    // One bound alone, and a band nothing costs.
    let mut q = everything(&api);
    q.max_price = Some(d("5"));
    assert!(all_pages(&api, &q, false).iter().all(|p| sale(p) <= d("5")));
    q.max_price = None;
    q.min_price = Some(d("100000"));
    assert_eq!(search(&api, &q).total_records, 0);
}

#[test]
fn every_sort_order_is_actually_sorted() {
    let api = api();
    for currency in [Currency::USD, Currency::JPY, Currency::EUR] {
        for order in SortOrder::ALL {
            let mut q = everything(&api);
            q.currency = currency;
            q.sort = Some(order);
            let all = all_pages(&api, &q, false);
            assert_eq!(all.len(), api.len());
            let ok = all.windows(2).all(|w| match order {
                SortOrder::SalePriceAsc => sale(&w[0]) <= sale(&w[1]),
                SortOrder::SalePriceDesc => sale(&w[0]) >= sale(&w[1]),
                SortOrder::LastVolumeAsc => w[0].sales_volume <= w[1].sales_volume,
                SortOrder::LastVolumeDesc => w[0].sales_volume >= w[1].sales_volume,
            });
            assert!(ok, "{order} in {currency}");
            assert!(
                all.first().map(sale) != all.last().map(sale) || order.code().contains("VOLUME")
            );
        }
    }
    // The default (relevance) order is stable and differs from the price orders.
    let q = everything(&api);
    let relevance = ids(&all_pages(&api, &q, false));
    assert_eq!(relevance, ids(&all_pages(&api, &q, false)));
    let mut by_price = q.clone();
    by_price.sort = Some(SortOrder::SalePriceAsc);
    assert_ne!(relevance, ids(&all_pages(&api, &by_price, false)));
}

#[test]
fn paging_is_consistent_and_out_of_range_pages_are_empty() {
    let api = api();
    let mut q = SearchDraft::new("wireless");
    q.page_size = 7;
    let first = search(&api, &q);
    assert!(
        first.total_records > 7,
        "need several pages: {}",
        first.total_records
    );
    let all = all_pages(&api, &q, false);
    let unique: HashSet<ProductId> = all.iter().map(|p| p.id).collect();
    assert_eq!(unique.len(), all.len(), "pages are disjoint");

    q.page_no = first.total_pages + 1;
    let beyond = search(&api, &q);
    assert!(beyond.products.is_empty());
    assert_eq!(beyond.total_records, first.total_records);
    q.page_no = 100;
    assert!(search(&api, &q).products.is_empty());

    // The platform caps paging at 100 pages.
    let mut one = everything(&api);
    one.page_size = 1;
    let page = search(&api, &one);
    assert_eq!(page.total_records, api.len() as u64);
    assert_eq!(page.total_pages, 100);
}

#[test]
fn ship_to_country_filters_and_reports_delivery() {
    let api = api();
    let q = everything(&api);
    let anywhere = all_pages(&api, &q, false);
    let mut to_us = q.clone();
    to_us.ship_to_country = Some("US".parse().unwrap());
    let us = all_pages(&api, &to_us, false);
    assert!(!us.is_empty() && us.len() < anywhere.len());
    assert!(us.iter().all(|p| {
        p.ship_to_days
            .as_deref()
            .is_some_and(|s| s.starts_with("ship to US in "))
    }));
    let mut to_fr = q.clone();
    to_fr.ship_to_country = Some("FR".parse().unwrap());
    let fr = all_pages(&api, &to_fr, false);
    assert_ne!(ids(&us), ids(&fr), "each country has its own subset");
    // Deterministic.
    assert_eq!(ids(&us), ids(&all_pages(&api, &to_us, false)));
    assert!(anywhere.iter().all(|p| p.ship_to_days.is_none()));
}

#[test]
fn prices_convert_exactly_into_every_currency() {
    let api = api();
    let usd = api.products(Currency::USD, Language::EN);
    for &currency in Currency::ALL {
        let (num, den) = exchange_rate(currency);
        let converted = api.products(currency, Language::EN);
        for (u, c) in usd.iter().zip(&converted) {
            assert_eq!(u.id, c.id);
            for (from, to) in [
                (u.sale_price, c.sale_price),
                (u.original_price, c.original_price),
                (u.app_sale_price, c.app_sale_price),
            ] {
                let (from, to) = (from.unwrap(), to.unwrap());
                assert_eq!(from.currency, Currency::USD);
                assert_eq!(to.currency, currency);
                let exact = from
                    .amount
                    .mul_ratio(num, den, currency.minor_digits())
                    .unwrap();
                assert_eq!(to.amount, exact, "{currency} {}", u.id);
                assert!(to.amount > Decimal::ZERO);
                // No more fractional digits than the currency has.
                let units = to.amount.to_minor_units(currency.minor_digits()).unwrap();
                assert_eq!(
                    Decimal::from_minor_units(units, currency.minor_digits()),
                    to.amount
                );
            }
            assert!(c.original_price.unwrap().amount >= c.sale_price.unwrap().amount);
        }
    }
}

#[test]
fn product_attributes_are_plausible() {
    let api = api();
    let products = api.products(Currency::USD, Language::EN);
    for p in &products {
        let (s, o) = (sale(p), p.original_price.unwrap().amount);
        assert!(o >= s);
        // discount% == round((o - s) / o * 100), checked in whole cents
        let (s, o) = (s.to_minor_units(2).unwrap(), o.to_minor_units(2).unwrap());
        let discount = p.discount_percent.unwrap().to_minor_units(0).unwrap();
        assert!(
            ((o - s) * 100 - discount * o).abs() * 2 <= o,
            "{}: {s} {o} {discount}",
            p.id
        );
        let rating = p.rating_percent.unwrap();
        assert!(d("85") <= rating && rating <= d("99.9"));
        let commission = p.commission_rate_percent.unwrap();
        assert!(d("3") <= commission && commission <= d("12"));
        assert_eq!(
            p.detail_url,
            format!("https://www.aliexpress.com/item/{}.html", p.id)
        );
        assert!(p.promotion_link.as_deref().is_some_and(is_mock_link));
        let main = p.main_image_url.as_deref().unwrap();
        assert!(main.starts_with("https://ae01.alicdn.com/kf/") && main.ends_with(".jpg"));
        assert!((2..=5).contains(&p.image_urls.len()));
        assert!(
            p.shop
                .url
                .as_deref()
                .unwrap()
                .starts_with("https://www.aliexpress.com/store/")
        );
    }
    let volumes: HashSet<u64> = products.iter().map(|p| p.sales_volume.unwrap()).collect();
    assert!(volumes.len() > products.len() / 2, "sales volumes vary");
    assert!(products.iter().filter(|p| p.promo_code.is_some()).count() >= 10);
}

#[test]
fn titles_are_localised_deterministically() {
    let api = api();
    let en = api.products(Currency::USD, Language::EN);
    for language in [
        Language::FR,
        Language::ES,
        Language::DE,
        Language::PT,
        Language::IT,
        Language::RU,
    ] {
        let local = api.products(Currency::USD, language);
        let changed = en
            .iter()
            .zip(&local)
            .filter(|(a, b)| a.title != b.title)
            .count();
        assert!(
            changed > en.len() / 4,
            "{language}: only {changed} titles translated"
        );
        assert_eq!(local, api.products(Currency::USD, language));
    }
    assert_eq!(ids(&en), ids(&api.products(Currency::USD, Language::JA)));
    assert!(
        en.iter()
            .zip(api.products(Currency::USD, Language::JA))
            .all(|(a, b)| a.title == b.title)
    );

    let mut q = SearchDraft::new("wireless earbuds");
    q.language = Language::FR;
    let fr = search(&api, &q);
    assert!(fr.total_records > 0);
    assert!(
        fr.products.iter().all(|p| p.title.contains("Écouteurs")),
        "{:?}",
        fr.products[0].title
    );
    // Shoppers may type in their own language.
    assert!(search(&api, &SearchDraft::new("écouteurs")).total_records > 0);
}

#[test]
fn hot_products_are_the_hot_commission_ones_with_the_same_filters() {
    let api = api();
    let mut q = SearchDraft::new("");
    q.keywords = None;
    q.page_size = 50;
    let hot = all_pages(&api, &q, true);
    let expected = api
        .products(Currency::USD, Language::EN)
        .into_iter()
        .filter(|p| p.hot_commission_rate_percent.is_some())
        .count();
    assert_eq!(hot.len(), expected);
    assert!(!hot.is_empty());
    assert!(hot.iter().all(|p| {
        p.hot_commission_rate_percent
            .is_some_and(|r| r > Decimal::ZERO)
    }));

    q.category_ids = vec![CategoryId(44)];
    q.currency = Currency::EUR;
    q.sort = Some(SortOrder::SalePriceDesc);
    q.max_price = Some(d("60"));
    let filtered = all_pages(&api, &q, true);
    assert!(filtered.len() < hot.len());
    assert!(filtered.iter().all(
        |p| p.first_level_category.as_ref().unwrap().id == CategoryId(44) && sale(p) <= d("60")
    ));
    assert!(filtered.windows(2).all(|w| sale(&w[0]) >= sale(&w[1])));

    q.keywords = Some("zzqxv".into());
    let api: &dyn AffiliateApi = &api;
    assert_eq!(hot_page(api, &q).total_records, 0);
}

#[test]
fn details_return_known_products_in_the_asked_currency_and_language() {
    let api = api();
    let de = "DE".parse::<CountryCode>().unwrap();
    let ships = |id: ProductId, shipping: bool| {
        let q = DetailsQuery {
            ids: vec![id],
            currency: Currency::USD,
            language: Language::EN,
            country: Some(de),
        };
        block_on(api.product_details(&q)).unwrap().is_empty() != shipping
    };
    let known: Vec<ProductId> = api
        .product_ids()
        .filter(|id| ships(*id, true))
        .take(3)
        .collect();
    let elsewhere = api
        .product_ids()
        .find(|id| ships(*id, false))
        .expect("some products do not ship to DE");
    let query = DetailsQuery {
        ids: vec![
            known[2],
            ProductId(1005009999999999),
            known[0],
            elsewhere,
            known[2],
        ],
        currency: Currency::GBP,
        language: Language::DE,
        country: Some(de),
    };
    let found = block_on(api.product_details(&query)).unwrap();
    assert_eq!(
        ids(&found),
        [known[2], known[0]],
        "unknown ids and products not shipping to DE absent, duplicates once, request order"
    );
    let anywhere = DetailsQuery {
        country: None,
        ..query.clone()
    };
    assert!(ids(&block_on(api.product_details(&anywhere)).unwrap()).contains(&elsewhere));
    for p in &found {
        assert_eq!(p.sale_price.unwrap().currency, Currency::GBP);
        assert_eq!(
            *p,
            api.product(p.id, Currency::GBP, Language::DE)
                .map(|mut x| {
                    x.ship_to_days = p.ship_to_days.clone();
                    x
                })
                .unwrap()
        );
    }
    let empty = DetailsQuery {
        ids: vec![],
        currency: Currency::USD,
        language: Language::EN,
        country: None,
    };
    let err = block_on(api.product_details(&empty)).unwrap_err();
    assert!(matches!(err, UpstreamError::InvalidRequest { .. }), "{err}");
    assert!(err.to_string().contains("product_ids"));
}

#[test]
fn links_are_labelled_mock() {
    let api = api().with_tracking_id("site_42").unwrap();
    let known: Vec<ProductId> = api.product_ids().take(2).collect();
    let urls = [
        format!("https://www.aliexpress.com/item/{}.html?spm=x", known[0]),
        format!("https://m.aliexpress.com/item/{}.html", known[1]),
        "https://www.aliexpress.com/store/1102345678".to_owned(),
        "https://s.click.aliexpress.com/e/_DmAbCd1".to_owned(),
        // A product the catalog does not hold: not converted, as on the platform.
        "32759108484".to_owned(),
    ];
    let sources: Vec<LinkSource> = urls.iter().map(|u| LinkSource::parse(u).unwrap()).collect();
    for link_type in [LinkType::Normal, LinkType::Hot] {
        let links = block_on(api.generate_links(&sources, link_type, None)).unwrap();
        assert_eq!(links.len(), 4, "{links:?}");
        for (link, source) in links.iter().zip(&sources) {
            assert_eq!(link.source_url, source.source_value());
            assert_eq!(link.product_id, source.product_id());
            assert!(is_mock_link(&link.promotion_link));
            assert!(
                link.promotion_link
                    .starts_with("https://mock.alistach.invalid/aff/")
            );
            if let Some(id) = link.product_id {
                assert!(link.promotion_link.contains(&id.to_string()));
            }
            assert!(link.promotion_link.contains("tracking=site_42"));
            assert!(
                link.promotion_link
                    .ends_with(&format!("link_type={}", link_type.code()))
            );
        }
    }
    let err = block_on(api.generate_links(&[], LinkType::Normal, None)).unwrap_err();
    assert!(err.to_string().contains("source_values"));

    let products = api.products(Currency::USD, Language::EN);
    assert!(products.iter().all(|p| {
        p.promotion_link
            .as_deref()
            .is_some_and(|l| l.contains("tracking=site_42"))
    }));
    let everything = format!("{products:?}");
    assert!(
        !everything.contains("s.click.aliexpress.com"),
        "no mock data may look like a real affiliate link"
    );
}

#[test]
fn similar_products_share_the_seed_category_and_page_deterministically() {
    use alistach_domain::SimilarQuery;
    let api = api();
    let all = api.products(Currency::USD, Language::EN);
    let seed = &all[0];
    let query = |page_no| SimilarQuery {
        product_id: seed.id,
        page_no,
        currency: Currency::EUR,
        language: Language::EN,
        country: None,
    };
    let first = block_on(api.similar_products(&query(1))).unwrap();
    assert!(!first.is_empty() && first.len() <= alistach_mock::SIMILAR_PAGE_SIZE);
    let sub = seed.second_level_category.as_ref().unwrap().id;
    for p in &first {
        assert_ne!(p.id, seed.id, "the seed is not similar to itself");
        assert_eq!(p.second_level_category.as_ref().unwrap().id, sub);
        assert_eq!(p.sale_price.unwrap().currency, Currency::EUR);
        assert!(is_mock_link(p.promotion_link.as_deref().unwrap()));
    }
    let volumes: Vec<u64> = first.iter().map(|p| p.sales_volume.unwrap()).collect();
    assert!(
        volumes.windows(2).all(|w| w[0] >= w[1]),
        "best sellers first"
    );
    assert_eq!(first, block_on(api.similar_products(&query(1))).unwrap());
    let siblings = all
        .iter()
        .filter(|p| p.id != seed.id && p.second_level_category.as_ref().unwrap().id == sub)
        .count();
    let mut seen = 0;
    for page in 1..=10 {
        let got = block_on(api.similar_products(&query(page))).unwrap();
        seen += got.len();
        if got.is_empty() {
            break;
        }
    }
    assert_eq!(seen, siblings, "paging walks every sibling once");
    let unknown = SimilarQuery {
        product_id: ProductId(1005009999999999),
        ..query(1)
    };
    assert!(block_on(api.similar_products(&unknown)).unwrap().is_empty());
    let bad = query(0);
    assert!(matches!(
        block_on(api.similar_products(&bad)),
        Err(UpstreamError::InvalidRequest { .. })
    ));
}

#[test]
fn promotions_are_the_four_permanent_pools_and_filter_like_the_platform() {
    use alistach_domain::{PromotionQuery, PromotionSort};
    let api = api();
    let promos = block_on(api.promotions()).unwrap();
    let names: Vec<&str> = promos.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        ["Hot Product", "New Arrival", "Best Seller", "weeklydeals"]
    );
    let query = |name: &str| PromotionQuery {
        promotion_name: name.into(),
        category_id: None,
        sort: Some(PromotionSort::PriceAsc),
        page_no: 1,
        page_size: 50,
        currency: Currency::USD,
        language: Language::EN,
        country: None,
    };
    for promo in &promos {
        let page = block_on(api.promotion_products(&query(&promo.name))).unwrap();
        assert_eq!(
            Some(page.total_records),
            promo.product_count,
            "{}",
            promo.name
        );
        assert!(!page.products.is_empty(), "{}", promo.name);
        let prices: Vec<Decimal> = page
            .products
            .iter()
            .map(|p| p.sale_price.unwrap().amount)
            .collect();
        assert!(prices.windows(2).all(|w| w[0] <= w[1]), "{}", promo.name);
    }
    let hot = block_on(api.promotion_products(&query("Hot Product"))).unwrap();
    assert!(
        hot.products
            .iter()
            .all(|p| p.hot_commission_rate_percent.is_some())
    );
    let deals = block_on(api.promotion_products(&query("weeklydeals"))).unwrap();
    assert!(
        deals
            .products
            .iter()
            .all(|p| p.discount_percent.unwrap() >= d("50"))
    );
    let top = top_ids(&api)[0];
    let mut in_top = query("Best Seller");
    in_top.category_id = Some(top);
    let page = block_on(api.promotion_products(&in_top)).unwrap();
    assert!(
        page.products
            .iter()
            .all(|p| p.first_level_category.as_ref().unwrap().id == top)
    );
    let mut desc = query("Best Seller");
    desc.sort = Some(PromotionSort::VolumeDesc);
    let page = block_on(api.promotion_products(&desc)).unwrap();
    let volumes: Vec<u64> = page
        .products
        .iter()
        .map(|p| p.sales_volume.unwrap())
        .collect();
    assert!(volumes.windows(2).all(|w| w[0] >= w[1]));
    let unknown = block_on(api.promotion_products(&query("No Such Promo"))).unwrap();
    assert_eq!((unknown.total_records, unknown.products.len()), (0, 0));
}
