//! Tracked links: the rewrite happens below the cache (a hit serves the stored tracked links),
//! once per fetch, and the tracking settings scope the cache keys.

use std::sync::Arc;

use alistach_domain::{LinkInput, LinkRequest, LinkType, ProductId};
use alistach_policy::LinkSigner;
use alistach_service::{CacheStatus, Catalog, LinkTracker, ReadMode};

use super::{Scripted, fixture};

fn tracker(key: &[u8], base: &str) -> Arc<LinkTracker> {
    Arc::new(LinkTracker::new(LinkSigner::new(key), base, "gpt_chat"))
}

fn request() -> LinkRequest {
    LinkRequest {
        inputs: vec![LinkInput::parse(
            "https://www.aliexpress.com/item/1005006123456789.html",
        )],
        link_type: LinkType::Normal,
    }
}

#[tokio::test]
async fn links_are_tracked_below_the_cache_and_keys_follow_the_settings() {
    let f = fixture(alistach_domain::ApiMode::Real);
    let scope_direct = f.catalog.key_scope().clone();
    let a = tracker(
        b"key-a-0123456789abcdef0123456789",
        "https://go.example.com/",
    );
    let catalog = Catalog::new(
        f.api.clone() as Arc<Scripted>,
        f.store.clone(),
        f.clock.clone(),
        Default::default(),
    )
    .with_link_tracking(a.clone());
    assert_ne!(
        catalog.key_scope(),
        &scope_direct,
        "tracked answers never mix with direct ones"
    );

    let first = catalog
        .affiliate_links(&request(), ReadMode::Normal)
        .await
        .unwrap();
    let link = &first.value[0].link.promotion_link;
    let token = link
        .strip_prefix("https://go.example.com/r/")
        .unwrap_or_else(|| panic!("tracked: {link}"));
    let claim = a.open(token).unwrap();
    assert_eq!(
        claim.url,
        "https://s.click.aliexpress.com/e/_1005006123456789"
    );
    assert_eq!(claim.product_id, ProductId(1005006123456789));
    assert_eq!(claim.tracking_id, "gpt_chat");

    // A hit serves the stored tracked link: no second rewrite, no upstream call.
    let calls = f.api.calls();
    let again = catalog
        .affiliate_links(&request(), ReadMode::Normal)
        .await
        .unwrap();
    assert_eq!(again.status, CacheStatus::Hit);
    assert_eq!(&again.value[0].link.promotion_link, link);
    assert_eq!(f.api.calls(), calls);

    // Another key or another base URL: other keys, so a stored token of the old key is never
    // handed out.
    for other in [
        tracker(
            b"key-b-0123456789abcdef0123456789",
            "https://go.example.com",
        ),
        tracker(
            b"key-a-0123456789abcdef0123456789",
            "https://other.example.com",
        ),
    ] {
        let catalog = Catalog::new(
            f.api.clone() as Arc<Scripted>,
            f.store.clone(),
            f.clock.clone(),
            Default::default(),
        )
        .with_link_tracking(other.clone());
        let served = catalog
            .affiliate_links(&request(), ReadMode::Normal)
            .await
            .unwrap();
        assert_eq!(served.status, CacheStatus::Miss);
        let link = &served.value[0].link.promotion_link;
        let token = link.rsplit('/').next().unwrap();
        assert!(other.open(token).is_ok(), "{link}");
    }
}
