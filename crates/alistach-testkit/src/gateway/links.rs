//! The promotion links the fake has handed out (link.generate answers, and the
//! `promotion_link` of products and promo codes in product answers), so that a test can buy
//! through one: [`super::FakeGateway::purchase`] looks the link up here.

use std::collections::{HashMap, VecDeque};

use alistach_domain::LinkType;

/// Links remembered at most; the oldest is forgotten first.
pub(crate) const MAX_ISSUED_LINKS: usize = 100_000;

/// What an issued promotion link tracks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedLink {
    /// The product, when the source was a product page (or a product in a product answer).
    pub product_id: Option<u64>,
    /// The tracking id the link earns for.
    pub tracking_id: String,
    /// Normal (`0`) or hot (`2`).
    pub link_type: LinkType,
}

/// Every issued link (without query or fragment), bounded.
#[derive(Debug, Default)]
pub(crate) struct LinkRegistry {
    links: HashMap<String, IssuedLink>,
    /// Insertion order, for forgetting the oldest.
    order: VecDeque<String>,
}

impl LinkRegistry {
    /// Remembers `link`; links are deterministic per (source, tracking id, link type), so a
    /// link issued again keeps its place.
    pub(crate) fn insert(&mut self, link: String, issued: IssuedLink) {
        if let Some(existing) = self.links.get_mut(&link) {
            *existing = issued;
            return;
        }
        while self.links.len() >= MAX_ISSUED_LINKS {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            self.links.remove(&oldest);
        }
        self.order.push_back(link.clone());
        self.links.insert(link, issued);
    }

    /// What `link` (without query or fragment) tracks.
    pub(crate) fn get(&self, link: &str) -> Option<&IssuedLink> {
        self.links.get(link)
    }

    /// How many links are remembered.
    pub(crate) fn len(&self) -> usize {
        self.links.len()
    }
}

/// `link` without its query and fragment: the link as issued.
pub(crate) fn issued_form(link: &str) -> &str {
    link.trim().split(['?', '#']).next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issued(n: u64) -> IssuedLink {
        IssuedLink {
            product_id: Some(n),
            tracking_id: "t".to_owned(),
            link_type: LinkType::Normal,
        }
    }

    #[test]
    fn the_registry_is_bounded_and_forgets_the_oldest() {
        let mut r = LinkRegistry::default();
        for n in 0..(MAX_ISSUED_LINKS as u64 + 5) {
            r.insert(format!("l{n}"), issued(n));
        }
        assert_eq!(r.len(), MAX_ISSUED_LINKS);
        assert!(r.get("l0").is_none() && r.get("l4").is_none());
        assert_eq!(r.get("l5"), Some(&issued(5)));
        r.insert("l5".to_owned(), issued(5));
        assert_eq!(r.len(), MAX_ISSUED_LINKS);
    }

    #[test]
    fn the_issued_form_drops_query_and_fragment() {
        assert_eq!(
            issued_form(" https://s.click.aliexpress.com/e/_DAbc?cn=ab1&cv=x#f "),
            "https://s.click.aliexpress.com/e/_DAbc"
        );
        assert_eq!(
            issued_form("https://x.invalid/a#f?x"),
            "https://x.invalid/a"
        );
    }
}
