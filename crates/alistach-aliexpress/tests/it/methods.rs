//! Every typed method and the AffiliateApi port against the fake's catalog.

use std::collections::HashSet;

use alistach_aliexpress::methods::*;
use alistach_aliexpress::{
    FeaturedPromoProductsRequest, LinkGenerateRequest, OrderListRequest, OrderStatus,
    ProductDetailRequest, ProductQueryRequest, SignMethod, SmartMatchRequest,
};
use alistach_domain::{
    AffiliateApi, ApiMode, CategoryId, CategoryTree, CountryCode, Currency, Decimal, DetailsQuery,
    Language, LinkInput, LinkRequest, LinkType, Listing, ProductId, SearchDraft, SortOrder,
};
use alistach_testkit::gateway::SignatureCheck;

use crate::{TRACKING, client, config, fake};

fn has_word(title: &str, word: &str) -> bool {
    title
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .any(|w| w == word || w.strip_suffix('s') == Some(word))
}

#[tokio::test]
async fn product_query_sends_a_signed_form_post_and_parses_the_page() {
    let fake = fake().await;
    let client = client(&fake);
    let page = client
        .product_query(&ProductQueryRequest::keywords("wireless earbuds"))
        .await
        .unwrap();
    assert!(!page.products.is_empty());
    assert_eq!(page.current_page_no, 1);
    assert_eq!(page.current_record_count, page.products.len() as u64);
    assert!(page.total_record_count >= page.products.len() as u64);
    for p in &page.products {
        assert!(
            has_word(&p.title, "wireless") && has_word(&p.title, "earbud"),
            "{}",
            p.title
        );
        assert_eq!(p.sale_price.unwrap().currency, Currency::USD);
        assert!(
            p.promotion_link
                .as_deref()
                .unwrap()
                .starts_with("https://s.click.aliexpress.com/e/_")
        );
        assert!(p.commission_rate_percent.is_some() && p.first_level_category.is_some());
        assert_eq!(p.detail_url, p.id.canonical_url());
    }

    let sent = fake.last_request(PRODUCT_QUERY).unwrap();
    assert_eq!(sent.http_method, "POST");
    assert_eq!(sent.path, "/sync");
    assert_eq!(
        sent.content_type.as_deref(),
        Some("application/x-www-form-urlencoded;charset=UTF-8")
    );
    assert_eq!(sent.signature, SignatureCheck::Valid);
    let p = &sent.params;
    assert_eq!(p["format"], "json");
    assert_eq!(p["v"], "2.0");
    assert_eq!(p["sign_method"], "sha256");
    assert_eq!(p["keywords"], "wireless earbuds");
    assert_eq!(p["tracking_id"], TRACKING);
    assert_eq!(p["target_currency"], "USD");
    assert_eq!(p["target_language"], "EN");
    assert_eq!(p["sign"].len(), 64);
    assert!(p["timestamp"].len() == 13 && p["timestamp"].bytes().all(|b| b.is_ascii_digit()));
    assert!(!p.contains_key("page_no"), "unset options are not sent");
    assert_eq!(fake.requests(PRODUCT_QUERY), 1);
    assert_eq!(fake.verified_signatures(), 1);
}

#[tokio::test]
async fn product_query_filters_sorts_converts_and_pages() {
    let fake = fake().await;
    let client = client(&fake);
    let mut r = ProductQueryRequest {
        category_ids: vec![CategoryId(44)],
        sort: Some(SortOrder::SalePriceAsc),
        target_currency: Some(Currency::EUR),
        min_sale_price: Some(1_000),
        max_sale_price: Some(5_000),
        page_size: Some(10),
        ..Default::default()
    };
    let page = client.product_query(&r).await.unwrap();
    assert_eq!(page.products.len(), 10);
    let prices: Vec<Decimal> = page
        .products
        .iter()
        .map(|p| p.sale_price.unwrap().amount)
        .collect();
    assert!(prices.windows(2).all(|w| w[0] <= w[1]), "{prices:?}");
    for p in &page.products {
        let price = p.sale_price.unwrap();
        assert_eq!(price.currency, Currency::EUR);
        assert!(
            price.amount >= Decimal::new(10, 0) && price.amount <= Decimal::new(50, 0),
            "{price:?}"
        );
        assert_eq!(p.first_level_category.as_ref().unwrap().id, CategoryId(44));
    }
    r.page_no = Some(2);
    let second = client.product_query(&r).await.unwrap();
    assert_eq!(second.current_page_no, 2);
    let first_ids: HashSet<ProductId> = page.products.iter().map(|p| p.id).collect();
    assert!(second.products.iter().all(|p| !first_ids.contains(&p.id)));
    // Past the last page the platform answers 405: an empty page, not an error.
    r.page_no = Some(page.total_page_no + 1);
    let past = client.product_query(&r).await.unwrap();
    assert!(past.products.is_empty());
    assert_eq!(past.total_record_count, 0);
    // Nothing matches: empty as well.
    let none = client
        .product_query(&ProductQueryRequest::keywords("zeppelin"))
        .await
        .unwrap();
    assert!(none.products.is_empty());
}

#[tokio::test]
async fn product_query_localises_titles() {
    let fake = fake().await;
    let client = client(&fake);
    let mut r = ProductQueryRequest::keywords("wireless earbuds");
    r.target_language = Some(Language::FR);
    let page = client.product_query(&r).await.unwrap();
    assert!(!page.products.is_empty());
    assert!(
        page.products
            .iter()
            .all(|p| p.title.contains("Écouteurs sans fil")),
        "{:?}",
        page.products[0].title
    );
}

#[tokio::test]
async fn product_query_fields_limit_what_comes_back() {
    let fake = fake().await;
    let client = client(&fake);
    let mut r = ProductQueryRequest::keywords("yoga mat");
    r.fields = vec![
        "product_title".into(),
        "sale_price".into(),
        "sale_price_currency".into(),
    ];
    let page = client.product_query(&r).await.unwrap();
    assert!(!page.products.is_empty());
    let p = &page.products[0];
    assert!(p.sale_price.is_some() && !p.title.is_empty());
    assert!(
        p.commission_rate_percent.is_none()
            && p.first_level_category.is_none()
            && p.promotion_link.is_none()
    );
    assert_eq!(
        fake.last_request(PRODUCT_QUERY).unwrap().params["fields"],
        "product_id,product_title,sale_price,sale_price_currency"
    );
}

#[tokio::test]
async fn hot_product_query_returns_hot_products_only() {
    let fake = fake().await;
    let client = client(&fake);
    let r = ProductQueryRequest {
        page_size: Some(50),
        ..Default::default()
    };
    let page = client.hot_product_query(&r).await.unwrap();
    assert!(!page.products.is_empty());
    assert!(
        page.products
            .iter()
            .all(|p| p.hot_commission_rate_percent.unwrap() > Decimal::ZERO)
    );
    assert_eq!(fake.requests(HOT_PRODUCT_QUERY), 1);
}

async fn catalog_ids(client: &alistach_aliexpress::AliExpressClient, n: usize) -> Vec<ProductId> {
    let mut ids = Vec::new();
    for category in [44, 3, 66, 15, 18] {
        let r = ProductQueryRequest {
            category_ids: vec![CategoryId(category)],
            page_size: Some(50),
            ..Default::default()
        };
        ids.extend(
            client
                .product_query(&r)
                .await
                .unwrap()
                .products
                .iter()
                .map(|p| p.id),
        );
        if ids.len() >= n {
            break;
        }
    }
    ids.truncate(n);
    assert_eq!(ids.len(), n, "the fake catalog has enough products");
    ids
}

#[tokio::test]
async fn product_detail_splits_into_batches_of_fifty_and_merges() {
    let fake = fake().await;
    let client = client(&fake);
    let ids = catalog_ids(&client, 120).await;
    let mut request = ProductDetailRequest {
        product_ids: ids.clone(),
        ..Default::default()
    };
    request.product_ids.push(ProductId(1_005_000_000_000_001)); // unknown: silently absent
    request.product_ids.push(ids[0]); // duplicate: asked once
    let products = client.product_detail(&request).await.unwrap();
    assert_eq!(fake.requests(PRODUCT_DETAIL), 3);
    let got: HashSet<ProductId> = products.iter().map(|p| p.id).collect();
    assert_eq!(got, ids.iter().copied().collect::<HashSet<_>>());
    assert_eq!(products.len(), 120);
    let batches: Vec<usize> = fake
        .recorded()
        .iter()
        .filter(|r| r.api_method() == Some(PRODUCT_DETAIL))
        .map(|r| r.params["product_ids"].split(',').count())
        .collect();
    assert_eq!(batches, vec![50, 50, 21]);

    let missing = client
        .product_detail(&ProductDetailRequest {
            product_ids: vec![ProductId(1_005_000_000_000_001)],
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(missing.is_empty());
    let err = client
        .product_detail(&ProductDetailRequest::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("product_ids"), "{err}");
}

#[tokio::test]
async fn category_get_lists_both_levels() {
    let fake = fake().await;
    let client = client(&fake);
    let categories = client.category_get().await.unwrap();
    let electronics = categories.iter().find(|c| c.id == CategoryId(44)).unwrap();
    assert_eq!(electronics.name, "Consumer Electronics");
    assert_eq!(electronics.parent_id, None);
    let earphones = categories
        .iter()
        .find(|c| c.id == CategoryId(63705))
        .unwrap();
    assert_eq!(earphones.parent_id, Some(CategoryId(44)));
    let tree = CategoryTree::from_flat(&categories);
    assert_eq!(tree.roots.len(), 10);
    assert!(tree.orphans.is_empty());
    for id in [3, 44, 66, 15, 18, 26, 34, 1420, 36, 1501] {
        assert!(
            tree.roots
                .iter()
                .any(|r| r.category.id == CategoryId(id) && !r.children.is_empty()),
            "{id}"
        );
    }
}

#[tokio::test]
async fn link_generate_matches_results_by_source_and_batches() {
    let fake = fake().await;
    let client = client(&fake);
    let sources: Vec<String> = (0..120u64)
        .map(|i| {
            format!(
                "https://www.aliexpress.com/item/{}.html",
                1_005_006_100_000_000 + i
            )
        })
        .collect();
    let mut request = LinkGenerateRequest::new(sources.clone());
    request.link_type = LinkType::Hot;
    let links = client.link_generate(&request).await.unwrap();
    assert_eq!(fake.requests(LINK_GENERATE), 3);
    assert_eq!(
        links
            .iter()
            .map(|l| l.source_value.clone())
            .collect::<Vec<_>>(),
        sources,
        "request order restored"
    );
    let unique: HashSet<&str> = links.iter().map(|l| l.promotion_link.as_str()).collect();
    assert_eq!(unique.len(), 120);
    let sent = fake.last_request(LINK_GENERATE).unwrap();
    assert_eq!(sent.params["promotion_link_type"], "2");
    assert_eq!(sent.params["tracking_id"], TRACKING);

    // Deterministic per (source, tracking id, type): the same call gives the same links...
    let again = client.link_generate(&request).await.unwrap();
    assert_eq!(again, links);
    // ... and a normal link differs from a hot one.
    let normal = client
        .link_generate(&LinkGenerateRequest::new(vec![sources[0].clone()]))
        .await
        .unwrap();
    assert_ne!(normal[0].promotion_link, links[0].promotion_link);

    // Pages the platform cannot convert are absent, the rest still come back.
    let mixed = client
        .link_generate(&LinkGenerateRequest::new(vec![
            "https://example.com/x".into(),
            sources[1].clone(),
        ]))
        .await
        .unwrap();
    assert_eq!(mixed.len(), 1);
    assert_eq!(mixed[0].source_value, sources[1]);
}

#[tokio::test]
async fn link_generate_refuses_bad_requests_before_sending() {
    let fake = fake().await;
    let mut c = config(&fake);
    c.tracking_id = None;
    let client = alistach_aliexpress::AliExpressClient::new(c).unwrap();
    let err = client
        .link_generate(&LinkGenerateRequest::new(vec![
            "https://www.aliexpress.com/item/1005006123456789.html".into(),
        ]))
        .await;
    assert!(err.unwrap_err().to_string().contains("tracking_id"));
    let mut with_tracking = LinkGenerateRequest::new(vec!["https://a.aliexpress.com/x,y".into()]);
    with_tracking.tracking_id = Some("t".into());
    assert!(
        client
            .link_generate(&with_tracking)
            .await
            .unwrap_err()
            .to_string()
            .contains("commas")
    );
    with_tracking.source_values = vec![];
    assert!(client.link_generate(&with_tracking).await.is_err());
    assert_eq!(fake.total_requests(), 0);
}

#[tokio::test]
async fn smart_match_always_sends_a_device_id() {
    let fake = fake().await;
    let client = client(&fake);
    let seed = catalog_ids(&client, 1).await[0];
    let detail = client
        .product_detail(&ProductDetailRequest {
            product_ids: vec![seed],
            ..Default::default()
        })
        .await
        .unwrap();
    let seed_category = detail[0].second_level_category.as_ref().unwrap().id;
    let matched = client
        .smart_match(&SmartMatchRequest {
            product_id: Some(seed),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(!matched.products.is_empty());
    assert!(matched.products.iter().all(|p| p.id != seed));
    assert!(
        matched
            .products
            .iter()
            .all(|p| p.second_level_category.as_ref().unwrap().id == seed_category)
    );
    let sent = fake.last_request(SMART_MATCH).unwrap();
    assert!(!sent.params["device_id"].is_empty());
    assert_eq!(sent.params["product_id"], seed.to_string());

    let custom = SmartMatchRequest {
        keywords: Some("yoga mat".into()),
        device_id: Some("adid-1".into()),
        ..Default::default()
    };
    let by_keyword = client.smart_match(&custom).await.unwrap();
    assert!(
        by_keyword
            .products
            .iter()
            .all(|p| has_word(&p.title, "yoga"))
    );
    assert_eq!(
        fake.last_request(SMART_MATCH).unwrap().params["device_id"],
        "adid-1"
    );
}

#[tokio::test]
async fn featured_promotions_and_their_products() {
    let fake = fake().await;
    let client = client(&fake);
    let promos = client.featured_promo_get().await.unwrap();
    let names: Vec<&str> = promos.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        ["Hot Product", "New Arrival", "Best Seller", "weeklydeals"]
    );
    let hot_count = promos[0].product_count.unwrap();
    assert!(hot_count > 0);

    let mut r = FeaturedPromoProductsRequest {
        promotion_name: Some("Hot Product".into()),
        page_size: Some(50),
        sort: Some(alistach_domain::PromotionSort::CommissionDesc),
        ..Default::default()
    };
    let mut seen = 0;
    let mut page_no = 1;
    loop {
        r.page_no = Some(page_no);
        let page = client.featured_promo_products_get(&r).await.unwrap();
        assert_eq!(page.total_record_count, hot_count);
        assert!(
            page.products
                .iter()
                .all(|p| p.hot_commission_rate_percent.unwrap() > Decimal::ZERO)
        );
        let rates: Vec<Decimal> = page
            .products
            .iter()
            .map(|p| p.commission_rate_percent.unwrap())
            .collect();
        assert!(rates.windows(2).all(|w| w[0] >= w[1]));
        seen += page.products.len() as u64;
        if page.is_finished {
            break;
        }
        page_no += 1;
        assert!(page_no < 10, "paging terminates");
    }
    assert_eq!(seen, hot_count);
    let unknown = FeaturedPromoProductsRequest {
        promotion_name: Some("No Such Promo".into()),
        ..Default::default()
    };
    let empty = client.featured_promo_products_get(&unknown).await.unwrap();
    assert!(empty.products.is_empty() && empty.is_finished);
}

#[tokio::test]
async fn order_list_reads_orders_in_the_window() {
    let fake = fake().await;
    let client = client(&fake);
    let r = OrderListRequest::new(
        "2023-11-01 00:00:00",
        "2023-11-30 23:59:59",
        OrderStatus::PaymentCompleted,
    );
    let page = client.order_list(&r).await.unwrap();
    assert!(!page.orders.is_empty());
    for o in &page.orders {
        assert_eq!(o.order_status.as_deref(), Some("Payment Completed"));
        let paid = o.paid_time.as_deref().unwrap();
        assert!(
            ("2023-11-01 00:00:00"..="2023-11-30 23:59:59").contains(&paid),
            "{paid}"
        );
        assert!(o.paid_amount.unwrap() > Decimal::ZERO);
        assert!(o.product_id.is_some() && o.commission_rate_percent.is_some());
    }
    let sent = fake.last_request(ORDER_LIST).unwrap();
    assert_eq!(sent.params["status"], "Payment Completed");
    let none = client
        .order_list(&OrderListRequest::new(
            "2020-01-01 00:00:00",
            "2020-01-31 23:59:59",
            OrderStatus::Invalid,
        ))
        .await
        .unwrap();
    assert!(none.orders.is_empty());
    let bad = client
        .order_list(&OrderListRequest::new(
            "yesterday",
            "today",
            OrderStatus::Invalid,
        ))
        .await;
    assert!(bad.unwrap_err().to_string().contains("start_time"));
}

#[tokio::test]
async fn md5_signing_is_accepted_too() {
    let fake = fake().await;
    let mut c = config(&fake);
    c.sign_method = SignMethod::Md5;
    let client = alistach_aliexpress::AliExpressClient::new(c).unwrap();
    assert!(!client.category_get().await.unwrap().is_empty());
    let sent = fake.last_request(CATEGORY_GET).unwrap();
    assert_eq!(sent.params["sign_method"], "md5");
    assert_eq!(sent.params["sign"].len(), 32);
    assert_eq!(sent.signature, SignatureCheck::Valid);
}

#[tokio::test]
async fn affiliate_api_port_search_and_details() {
    let fake = fake().await;
    let client = client(&fake);
    let api: &dyn AffiliateApi = &client;
    assert_eq!(api.mode(), ApiMode::Real);
    let mut q = SearchDraft::new("wireless earbuds");
    q.page_size = 5;
    q.min_price = Some("10.50".parse().unwrap());
    q.max_price = Some("900".parse().unwrap());
    q.sort = Some(SortOrder::LastVolumeDesc);
    q.ship_to_country = Some("US".parse::<CountryCode>().unwrap());
    let page = api
        .search_products(&q.parse(Listing::Search).unwrap())
        .await
        .unwrap();
    assert_eq!(page.page_no, 1);
    assert_eq!(page.page_size, 5);
    assert!(!page.products.is_empty() && page.products.len() <= 5);
    assert!(page.total_records >= page.products.len() as u64);
    let sent = fake.last_request(PRODUCT_QUERY).unwrap();
    assert_eq!(
        sent.params["min_sale_price"], "1050",
        "smallest currency unit"
    );
    assert_eq!(sent.params["max_sale_price"], "90000");
    assert_eq!(sent.params["sort"], "LAST_VOLUME_DESC");
    assert_eq!(sent.params["ship_to_country"], "US");
    assert_eq!(sent.params["page_size"], "5");

    let mut yen = q.clone();
    yen.currency = Currency::JPY;
    yen.min_price = Some("1500".parse().unwrap());
    yen.max_price = None;
    api.search_products(&yen.parse(Listing::Search).unwrap())
        .await
        .unwrap();
    assert_eq!(
        fake.last_request(PRODUCT_QUERY).unwrap().params["min_sale_price"],
        "1500",
        "JPY has no minor unit"
    );

    let hot = api
        .hot_products(&SearchDraft::new("wireless").parse(Listing::Hot).unwrap())
        .await;
    assert!(hot.is_ok());

    let ids: Vec<ProductId> = page.products.iter().map(|p| p.id).collect();
    let details = api
        .product_details(&DetailsQuery {
            ids: ids.clone(),
            currency: Currency::GBP,
            language: Language::EN,
            country: None,
        })
        .await
        .unwrap();
    assert_eq!(details.len(), ids.len());
    assert!(
        details
            .iter()
            .all(|p| p.sale_price.unwrap().currency == Currency::GBP)
    );
    assert!(!api.categories().await.unwrap().is_empty());
}

#[tokio::test]
async fn affiliate_api_port_links_map_back_to_the_callers_urls() {
    let fake = fake().await;
    let client = client(&fake);
    let hot = client
        .hot_product_query(&ProductQueryRequest::default())
        .await
        .unwrap();
    let (a, b) = (hot.products[0].id, hot.products[1].id);
    let urls = [
        format!("https://fr.aliexpress.com/item/{a}.html?spm=a2g0o.home&gatewayAdapt=glo2fra"),
        format!("https://m.aliexpress.com/p/coin-index/index.html?productIds={b}"),
        format!("https://www.aliexpress.com/item/{a}.html"),
        "https://www.aliexpress.com/store/1102345678?spm=z".to_owned(),
        "https://s.click.aliexpress.com/e/_DmAbCd1".to_owned(),
    ];
    let request = LinkRequest {
        inputs: urls.iter().map(|u| LinkInput::parse(u)).collect(),
        link_type: LinkType::Normal,
    };
    let sources = request.sources();
    assert_eq!(sources.len(), 4, "one source per product");
    let links = client
        .generate_links(&sources, LinkType::Normal, None)
        .await
        .unwrap();
    assert_eq!(
        links
            .iter()
            .map(|l| l.source_url.as_str())
            .collect::<Vec<_>>(),
        [
            format!("https://www.aliexpress.com/item/{a}.html"),
            format!("https://www.aliexpress.com/item/{b}.html"),
            "https://www.aliexpress.com/store/1102345678".to_owned(),
            "https://s.click.aliexpress.com/e/_DmAbCd1".to_owned(),
        ],
        "each converted source, in order, by its source value"
    );
    assert_eq!(links[0].product_id, Some(a));
    assert_eq!(links[2].product_id, None);
    assert_ne!(links[0].promotion_link, links[1].promotion_link);
    let sent = fake.last_request(LINK_GENERATE).unwrap();
    assert_eq!(
        sent.params["source_values"],
        format!(
            "https://www.aliexpress.com/item/{a}.html,https://www.aliexpress.com/item/{b}.html,\
             https://www.aliexpress.com/store/1102345678,https://s.click.aliexpress.com/e/_DmAbCd1"
        ),
        "canonical URLs, deduplicated"
    );
    assert_eq!(sent.params["promotion_link_type"], "0");
}
