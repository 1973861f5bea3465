//! The platform's sub-id parameters (reference §4.5): `af`, `cn`, `cv` and `dp`, appended to
//! an affiliate link as query parameters and returned with each order the link earned, as the
//! JSON text of the order's `custom_parameters` (`customer_parameters` in `order.get`).
//!
//! AliStach tags the links of an experiment's variant with `cn` = `ab<experiment id>` and
//! `cv` = the variant's name (and `dp` = `alistach`, the source); `af` is left alone (only
//! network accounts may set it). [`SubIds::experiment`] reads the tag back from an order, so
//! orders are attributed to a variant by what the platform returns, not by a guess.

use serde::{Deserialize, Serialize};

/// The `dp` value AliStach's links carry.
pub const SUB_ID_SOURCE: &str = "alistach";
/// The prefix of an experiment's `cn` value (`ab17` for experiment 17).
pub const EXPERIMENT_CAMPAIGN_PREFIX: &str = "ab";
/// The longest sub-id value AliStach writes or reads (longer values are ignored when read).
pub const MAX_SUB_ID_CHARS: usize = 64;

/// The four sub-id parameters; absent ones are `None`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubIds {
    /// Affiliate (network accounts only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub af: Option<String>,
    /// Campaign name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cn: Option<String>,
    /// Campaign value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cv: Option<String>,
    /// Source (data point).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dp: Option<String>,
}

impl SubIds {
    /// The tag of `variant` of experiment `experiment_id`.
    pub fn for_variant(experiment_id: u64, variant: &str) -> SubIds {
        SubIds {
            af: None,
            cn: Some(format!("{EXPERIMENT_CAMPAIGN_PREFIX}{experiment_id}")),
            cv: Some(variant.to_owned()),
            dp: Some(SUB_ID_SOURCE.to_owned()),
        }
    }

    fn pairs(&self) -> [(&'static str, Option<&str>); 4] {
        [
            ("af", self.af.as_deref()),
            ("cn", self.cn.as_deref()),
            ("cv", self.cv.as_deref()),
            ("dp", self.dp.as_deref()),
        ]
    }

    /// `link` with the present sub-ids appended as query parameters (percent-encoded), before
    /// any fragment; sub-ids the link already carries are replaced.
    pub fn append_to(&self, link: &str) -> String {
        let (base, fragment) = match link.split_once('#') {
            Some((b, f)) => (b, Some(f)),
            None => (link, None),
        };
        let (path, query) = match base.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (base, None),
        };
        let mut out = String::with_capacity(link.len() + 48);
        out.push_str(path);
        let mut sep = '?';
        for part in query.into_iter().flat_map(|q| q.split('&')) {
            let name = part.split('=').next().unwrap_or("");
            if part.is_empty() || matches!(name, "af" | "cn" | "cv" | "dp") {
                continue;
            }
            out.push(sep);
            out.push_str(part);
            sep = '&';
        }
        for (name, value) in self.pairs() {
            if let Some(v) = value {
                out.push(sep);
                out.push_str(name);
                out.push('=');
                encode_into(&mut out, v);
                sep = '&';
            }
        }
        if let Some(f) = fragment {
            out.push('#');
            out.push_str(f);
        }
        out
    }

    /// The sub-ids a link carries in its query (the last of each name wins).
    pub fn from_url(link: &str) -> SubIds {
        let base = link.split('#').next().unwrap_or("");
        let mut ids = SubIds::default();
        let Some((_, query)) = base.split_once('?') else {
            return ids;
        };
        for part in query.split('&') {
            let (name, value) = part.split_once('=').unwrap_or((part, ""));
            let Some(value) = decode(value) else { continue };
            if value.is_empty() || value.chars().count() > MAX_SUB_ID_CHARS {
                continue;
            }
            match name {
                "af" => ids.af = Some(value),
                "cn" => ids.cn = Some(value),
                "cv" => ids.cv = Some(value),
                "dp" => ids.dp = Some(value),
                _ => {}
            }
        }
        ids
    }

    /// The sub-ids of an order's `custom_parameters` (a JSON object of strings; anything
    /// else, or a value longer than [`MAX_SUB_ID_CHARS`], reads as absent).
    pub fn from_custom_parameters(text: &str) -> SubIds {
        let mut ids: SubIds = serde_json::from_str(text).unwrap_or_default();
        for v in [&mut ids.af, &mut ids.cn, &mut ids.cv, &mut ids.dp] {
            if v.as_ref()
                .is_some_and(|s| s.is_empty() || s.chars().count() > MAX_SUB_ID_CHARS)
            {
                *v = None;
            }
        }
        ids
    }

    /// The JSON text the platform returns as `custom_parameters` for a link with these
    /// sub-ids (absent ones left out); `None` when there are none.
    pub fn to_custom_parameters(&self) -> Option<String> {
        if self.pairs().iter().all(|(_, v)| v.is_none()) {
            return None;
        }
        serde_json::to_string(self).ok()
    }

    /// The experiment and variant name an AliStach tag names (`cn` = `ab<id>`, `cv` = the
    /// variant), if these sub-ids are one.
    pub fn experiment(&self) -> Option<(u64, &str)> {
        let id = self
            .cn
            .as_deref()?
            .strip_prefix(EXPERIMENT_CAMPAIGN_PREFIX)?;
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some((id.parse().ok()?, self.cv.as_deref()?))
    }
}

fn encode_into(out: &mut String, value: &str) {
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b >> 4)]));
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b & 0xf)]));
        }
    }
}

fn decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = value.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_variant_tag_round_trips_through_a_link_and_an_order() {
        let ids = SubIds::for_variant(17, "hot links");
        let link = ids.append_to("https://s.click.aliexpress.com/e/_DdWxyz1");
        assert_eq!(
            link,
            "https://s.click.aliexpress.com/e/_DdWxyz1?cn=ab17&cv=hot%20links&dp=alistach"
        );
        let back = SubIds::from_url(&link);
        assert_eq!(back, ids);
        let text = back.to_custom_parameters().unwrap();
        assert_eq!(
            SubIds::from_custom_parameters(&text).experiment(),
            Some((17, "hot links"))
        );
    }

    #[test]
    fn appending_keeps_other_parameters_and_the_fragment_and_replaces_old_tags() {
        let ids = SubIds::for_variant(2, "b");
        assert_eq!(
            ids.append_to("https://x.invalid/aff/1?tracking=t&cv=old&link_type=2#top"),
            "https://x.invalid/aff/1?tracking=t&link_type=2&cn=ab2&cv=b&dp=alistach#top"
        );
    }

    #[test]
    fn foreign_or_broken_parameters_are_no_experiment() {
        for text in [
            "",
            "not json",
            "[]",
            r#"{"cn":"ab","cv":"x"}"#,
            r#"{"cn":"abx1","cv":"x"}"#,
            r#"{"cn":"ab1"}"#,
            r#"{"cn":"campaign","cv":"x"}"#,
            r#"{"cn":1,"cv":"x"}"#,
        ] {
            assert_eq!(
                SubIds::from_custom_parameters(text).experiment(),
                None,
                "{text}"
            );
        }
        assert_eq!(
            SubIds::from_custom_parameters(r#"{"cn":"ab3","cv":"hot","other":1}"#).experiment(),
            Some((3, "hot"))
        );
        assert_eq!(SubIds::default().to_custom_parameters(), None);
        assert_eq!(SubIds::from_url("https://x.invalid/?cn=%zz&cv=").cn, None);
    }
}
