//! Experiments in the service: the rules of a new experiment, the variant choice (stable per
//! client and question, in proportion to the weights), each variant's links made its way and
//! tagged, cached under its own keys, tracked with its id, and counted.

use std::sync::Arc;

use alistach_cache::{ManualClock, MemoryCache, MemoryCacheConfig};
use alistach_domain::{LinkType, Listing, SearchDraft, SubIds};
use alistach_mock::MockCatalog;
use alistach_policy::LinkSigner;
use alistach_service::{
    Catalog, ExperimentError, Experiments, LinkTracker, ReadMode, validate_experiment,
};
use alistach_store::{Allocation, MemoryStore, NewExperiment, NewVariant};
use bytes::Bytes;

fn variant(name: &str, weight: u32, link_type: LinkType, tracking: Option<&str>) -> NewVariant {
    NewVariant {
        name: name.to_owned(),
        weight,
        link_type,
        tracking_id: tracking.map(str::to_owned),
    }
}

fn experiment(variants: Vec<NewVariant>) -> NewExperiment {
    NewExperiment {
        tenant: alistach_domain::TenantId::default_tenant(),
        name: "link type".to_owned(),
        allocation: Allocation::Fixed,
        min_share_permille: 100,
        variants,
    }
}

fn setup(tracked: bool) -> (Arc<Catalog>, Experiments, Arc<MemoryStore>) {
    let clock = Arc::new(ManualClock::new(1_780_000_000_000));
    let cache = Arc::new(MemoryCache::new(MemoryCacheConfig::default(), clock.clone()).unwrap());
    let mock = MockCatalog::new().with_tracking_id("main_tid").unwrap();
    let mut catalog = Catalog::new(Arc::new(mock), cache, clock.clone(), Default::default());
    if tracked {
        catalog = catalog.with_link_tracking(Arc::new(LinkTracker::new(
            LinkSigner::new(b"experiment-test-key-0123456789abcdef"),
            "https://go.example.test",
            "main_tid",
        )));
    }
    let catalog = Arc::new(catalog);
    let store = Arc::new(MemoryStore::new());
    let experiments = Experiments::new(store.clone(), catalog.clone(), clock);
    (catalog, experiments, store)
}

async fn links(catalog: &Catalog, keywords: &str) -> Vec<String> {
    let query = SearchDraft {
        page_size: 5,
        ..SearchDraft::new(keywords)
    }
    .parse(Listing::Search)
    .unwrap();
    let served = catalog
        .products(&query, ReadMode::Normal, "test", |page| {
            Bytes::from(serde_json::to_vec(&page).unwrap())
        })
        .await
        .unwrap();
    let page: alistach_domain::ProductPage = serde_json::from_slice(&served.value.bytes).unwrap();
    page.products
        .into_iter()
        .filter_map(|p| p.promotion_link)
        .collect()
}

#[test]
fn a_new_experiment_must_make_sense() {
    let ok = experiment(vec![
        variant("a", 1, LinkType::Normal, None),
        variant("b", 1, LinkType::Hot, Some("hot_tid")),
    ]);
    assert_eq!(validate_experiment(&ok), Ok(()));
    let field = |e: NewExperiment| validate_experiment(&e).unwrap_err().field;
    assert_eq!(
        field(experiment(vec![variant("a", 1, LinkType::Normal, None)])),
        "variants"
    );
    assert_eq!(
        field(experiment(vec![
            variant("a", 1, LinkType::Normal, None),
            variant("a", 1, LinkType::Hot, None)
        ])),
        "variants.name"
    );
    assert_eq!(
        field(experiment(vec![
            variant("a&cv=x", 1, LinkType::Normal, None),
            variant("b", 1, LinkType::Hot, None)
        ])),
        "variants.name"
    );
    assert_eq!(
        field(experiment(vec![
            variant("a", 0, LinkType::Normal, None),
            variant("b", 1, LinkType::Hot, None)
        ])),
        "variants.weight"
    );
    assert_eq!(
        field(experiment(vec![
            variant("a", 1, LinkType::Normal, Some("x y")),
            variant("b", 1, LinkType::Hot, None)
        ])),
        "variants.tracking_id"
    );
    let mut greedy = ok.clone();
    greedy.allocation = Allocation::Bandit;
    greedy.min_share_permille = 600;
    assert_eq!(field(greedy), "min_share");
    let mut unnamed = ok;
    unnamed.name = "  ".to_owned();
    assert_eq!(field(unnamed), "name");
}

#[tokio::test]
async fn variants_are_chosen_stably_by_weight_and_make_their_own_tagged_links() {
    let (base, experiments, _store) = setup(false);
    // No experiment: the deployment's catalog, its links untagged.
    assert!(Arc::ptr_eq(&experiments.catalog_for("ip:1", b"q"), &base));
    let created = experiments
        .create(experiment(vec![
            variant("control", 3, LinkType::Normal, None),
            variant("hot", 1, LinkType::Hot, Some("hot_tid")),
        ]))
        .await
        .unwrap();
    // A second one is refused while it runs.
    let again = experiments
        .create(experiment(vec![
            variant("a", 1, LinkType::Normal, None),
            variant("b", 1, LinkType::Normal, None),
        ]))
        .await;
    assert!(
        matches!(again, Err(ExperimentError::Conflict(_))),
        "{again:?}"
    );

    // Stable per client and question; each variant's links tagged with its name.
    let mut hot_catalog = None;
    let mut control_catalog = None;
    for i in 0..100 {
        let subject = format!("question {i}");
        let c = experiments.catalog_for("key:gpt", subject.as_bytes());
        assert!(Arc::ptr_eq(
            &c,
            &experiments.catalog_for("key:gpt", subject.as_bytes())
        ));
        assert!(!Arc::ptr_eq(&c, &base));
        let first = links(&c, "phone").await;
        let tags = SubIds::from_url(&first[0]);
        assert_eq!(tags.experiment().map(|(e, _)| e), Some(created.id));
        match tags.cv.as_deref() {
            Some("hot") => hot_catalog = Some(c),
            Some("control") => control_catalog = Some(c),
            other => panic!("{other:?}"),
        }
    }
    let (hot_catalog, control_catalog) = (hot_catalog.unwrap(), control_catalog.unwrap());
    // In proportion to the weights over questions (and the same for another client's).
    for client in ["key:gpt", "ip:192.0.2.7"] {
        let hot = (0..4000)
            .filter(|i| {
                let c = experiments.catalog_for(client, format!("q{i}").as_bytes());
                Arc::ptr_eq(&c, &hot_catalog)
            })
            .count();
        assert!(
            (850..=1150).contains(&hot),
            "{client}: hot got {hot} of 4000 at 1:3"
        );
    }

    // Each variant's links are made its way: the hot variant's through link.generate with its
    // link type and tracking id; the control's are the deployment's; both tagged.
    let hot_links = links(&hot_catalog, "phone").await;
    let control_links = links(&control_catalog, "phone").await;
    assert!(!hot_links.is_empty());
    for l in &hot_links {
        assert!(
            l.contains("tracking=hot_tid") && l.contains("link_type=2"),
            "{l}"
        );
        assert!(
            l.ends_with(&format!("cn=ab{}&cv=hot&dp=alistach", created.id)),
            "{l}"
        );
    }
    for l in &control_links {
        assert!(
            l.contains("tracking=main_tid") && !l.contains("link_type=2"),
            "{l}"
        );
        assert!(l.contains("cv=control"), "{l}");
    }
    // Under their own cache keys: the variants never serve each other's answers.
    assert_ne!(hot_catalog.key_scope(), control_catalog.key_scope());
    assert_ne!(hot_catalog.key_scope(), base.key_scope());

    // The links handed out are counted per variant (every product of every answer).
    let report = experiments.report(created.id).await.unwrap().unwrap();
    let total: u64 = report.outcomes.iter().map(|o| o.counts.links).sum();
    assert!(total >= (hot_links.len() + control_links.len()) as u64);
    assert!(
        report.outcomes.iter().all(|o| o.counts.links > 0),
        "{report:?}"
    );
    let shares: f64 = report.shares.iter().sum();
    assert!((shares - 1.0).abs() < 1e-9);
    assert!(
        (report.shares[0] - 0.75).abs() < 1e-9,
        "{:?}",
        report.shares
    );

    // Stopped: the deployment's catalog again.
    let stopped = experiments.stop(created.id).await.unwrap().unwrap();
    assert!(!stopped.running());
    assert!(Arc::ptr_eq(
        &experiments.catalog_for("key:gpt", b"q1"),
        &base
    ));
    assert_eq!(experiments.stop(999).await.unwrap(), None);
}

#[tokio::test]
async fn a_variants_tracked_links_carry_its_id_and_tracking_id() {
    let (_base, experiments, _store) = setup(true);
    let created = experiments
        .create(experiment(vec![
            variant("control", 1, LinkType::Normal, None),
            variant("hot", 1, LinkType::Hot, Some("hot_tid")),
        ]))
        .await
        .unwrap();
    let signer = LinkSigner::new(b"experiment-test-key-0123456789abcdef");
    let mut seen = std::collections::HashSet::new();
    for i in 0..64 {
        let c = experiments.catalog_for("ip:10.0.0.1", format!("q{i}").as_bytes());
        let link = links(&c, "phone").await.remove(0);
        let token = link.strip_prefix("https://go.example.test/r/").unwrap();
        let claim = signer.open(token).unwrap();
        let v = created
            .variants
            .iter()
            .find(|v| Some(v.id) == claim.variant)
            .expect("the token names a variant");
        assert_eq!(
            claim.tracking_id,
            v.tracking_id
                .clone()
                .unwrap_or_else(|| "main_tid".to_owned())
        );
        assert_eq!(
            SubIds::from_url(&claim.url).cv.as_deref(),
            Some(v.name.as_str())
        );
        seen.insert(v.id);
    }
    assert_eq!(seen.len(), 2, "both variants hand out links");
}
