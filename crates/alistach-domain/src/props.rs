//! Property tests: every parser of client text takes arbitrary Unicode without panicking,
//! rejects what it cannot use with an error naming the field, and round-trips what it accepts.

use proptest::prelude::*;

use crate::link::percent_decode;
use crate::{
    CategoryId, CountryCode, Currency, Decimal, Language, Listing, ProductId, ProductUrl,
    ProductUrlError, SearchDraft, SortOrder,
};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Text shaped like a product URL, so the cases reach the host, path and query code rather
/// than stopping at the scheme: multi-byte characters land on every boundary the parser cuts at.
fn url_like() -> impl Strategy<Value = String> {
    let scheme = prop_oneof![
        Just(""),
        Just("https://"),
        Just("http://"),
        Just("HTTPS://"),
        Just("//"),
        Just("htt"),
        Just("ftp://"),
    ];
    let host = prop_oneof![
        Just("www.aliexpress.com".to_owned()),
        Just("aliexpress.ru".to_owned()),
        Just("m.aliexpress.us".to_owned()),
        Just("s.click.aliexpress.com".to_owned()),
        "[a-z中é.@:0-9]{0,12}",
    ];
    let path = prop_oneof![
        Just("/item/".to_owned()),
        Just("/i/".to_owned()),
        Just("/store/product/x/1_".to_owned()),
        "[/a-zé中_]{0,10}",
    ];
    let id = "[0-9é中]{0,22}";
    let suffix = prop_oneof![Just(".html"), Just(".htm"), Just("")];
    let query = "(\\?[a-zA-Z_]{0,10}=[%0-9A-Fa-f+,é中&=]{0,30})?(#.{0,5})?";
    (scheme, host, path, id, suffix, query)
        .prop_map(|(s, h, p, i, x, q)| format!("{s}{h}{p}{i}{x}{q}"))
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn product_urls_never_panic(text in any::<String>()) {
        let _ = ProductUrl::parse(&text);
    }

    #[test]
    fn link_sources_never_panic_and_read_their_own_source_value(text in url_like()) {
        if let Ok(source) = crate::LinkSource::parse(&text) {
            // What the platform is sent is itself an AliExpress URL of the same kind of page.
            let again = crate::LinkSource::parse(source.source_value());
            prop_assert!(again.is_ok(), "{:?}", source);
            prop_assert_eq!(again.unwrap().product_id(), source.product_id());
            prop_assert!(!source.source_value().contains(','));
        }
    }

    #[test]
    fn url_shaped_text_never_panics_and_ids_are_numeric(text in url_like()) {
        match ProductUrl::parse(&text) {
            Ok(p) => {
                prop_assert_eq!(p.original.as_str(), text.trim());
                prop_assert_eq!(ProductUrl::parse(&p.canonical_url()).map(|c| c.id), Ok(p.id));
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    #[test]
    fn ids_and_their_pages_round_trip(id in 100_000u64..) {
        let id = ProductId(id);
        prop_assert_eq!(ProductUrl::parse(&id.to_string()).map(|p| p.id), Ok(id));
        prop_assert_eq!(ProductUrl::parse(&id.canonical_url()).map(|p| p.id), Ok(id));
        // The same page behind a share link's percent-encoded redirect.
        let share = format!(
            "https://star.aliexpress.com/share/share.htm?redirectUrl={}",
            encode(&id.canonical_url())
        );
        prop_assert_eq!(ProductUrl::parse(&share).map(|p| p.id), Ok(id));
        prop_assert_eq!(id.to_string().parse::<ProductId>(), Ok(id));
    }

    #[test]
    fn text_longer_than_the_limit_is_refused(text in "[a-z中]{2049,2100}") {
        prop_assert_eq!(ProductUrl::parse(&text), Err(ProductUrlError::TooLong));
    }

    #[test]
    fn percent_decoding_never_panics_and_inverts_encoding(text in any::<String>()) {
        let _ = percent_decode(&text);
        prop_assert_eq!(percent_decode(&encode(&text)), text);
    }

    #[test]
    fn percent_decoding_takes_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = percent_decode(&text);
    }

    #[test]
    fn scalar_parsers_never_panic_and_name_their_field(text in any::<String>()) {
        let named = |r: Result<(), crate::ValidationError>, field: &str| match r {
            Ok(()) => Ok(()),
            Err(e) if e.field == field && !e.rule.is_empty() => Ok(()),
            Err(e) => Err(TestCaseError::fail(format!("{e:?} does not name {field}"))),
        };
        named(text.parse::<ProductId>().map(drop), "product_id")?;
        named(text.parse::<CategoryId>().map(drop), "category_id")?;
        named(text.parse::<CountryCode>().map(drop), "ship_to_country")?;
        named(text.parse::<Currency>().map(drop), "currency")?;
        named(text.parse::<Language>().map(drop), "language")?;
        named(text.parse::<SortOrder>().map(drop), "sort")?;
        let _ = text.parse::<Decimal>();
    }

    #[test]
    fn decimals_round_trip(mantissa in -i64::MAX..=i64::MAX, scale in 0u32..=8) {
        let d = Decimal::new(mantissa, scale);
        prop_assert_eq!(d.to_string().parse::<Decimal>(), Ok(d));
    }

    #[test]
    fn decimal_shaped_text_never_panics(text in "[-+]?[0-9]{0,25}(\\.[0-9]{0,25})?") {
        if let Ok(d) = text.parse::<Decimal>() {
            prop_assert_eq!(d.to_string().parse::<Decimal>(), Ok(d));
        }
    }

    #[test]
    fn search_queries_with_any_keywords_validate_without_panicking(keywords in any::<String>()) {
        let draft = SearchDraft::new(keywords);
        match draft.parse(Listing::Search) {
            Err(e) => prop_assert!(!e.field.is_empty()),
            // Parsing is idempotent: the normal form parses to itself.
            Ok(q) => prop_assert_eq!(q.to_draft().parse(Listing::Search), Ok(q)),
        }
    }
}
