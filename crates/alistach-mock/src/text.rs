//! Word handling for keyword search: tokenising titles and queries the same way, and the
//! simple plural tolerance that lets "earbud" find "Earbuds" and "cases" find "Case".

/// Query words that carry no meaning on their own; titles use them ("Case for iPhone"), shoppers
/// type them, and requiring them would only lose results.
const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "the", "for", "with", "of", "in", "on", "to", "by", "&",
];

/// Lowercase words of `text`: split on anything but letters, digits and apostrophes, with a
/// possessive `'s` dropped ("Women's" → "women").
pub(crate) fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '’'))
        .filter_map(|raw| {
            let raw = raw.trim_matches(['\'', '’']);
            let raw = raw
                .strip_suffix("'s")
                .or_else(|| raw.strip_suffix("’s"))
                .unwrap_or(raw);
            let word: String = raw
                .chars()
                .filter(|c| *c != '\'' && *c != '’')
                .flat_map(char::to_lowercase)
                .collect();
            (!word.is_empty()).then_some(word)
        })
}

/// The words of a search, without stop words.
pub(crate) fn query_words(text: &str) -> Vec<String> {
    words(text)
        .filter(|w| !STOP_WORDS.contains(&w.as_str()))
        .collect()
}

/// The forms a word may stand for: itself and its possible singulars. Two words match when
/// their form sets meet, so singular and plural find each other in either direction.
pub(crate) fn forms(word: &str) -> Vec<String> {
    let mut out = vec![word.to_owned()];
    let n = word.len();
    if n > 4 {
        if let Some(stem) = word.strip_suffix("ies") {
            out.push(format!("{stem}y"));
        }
        if let Some(stem) = word.strip_suffix("es") {
            out.push(stem.to_owned());
        }
    }
    if n > 3 && word.ends_with('s') && !word.ends_with("ss") {
        out.push(word[..n - 1].to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meet(a: &str, b: &str) -> bool {
        let fb = forms(b);
        forms(a).iter().any(|f| fb.contains(f))
    }

    #[test]
    fn tokenises_case_insensitively_without_possessives() {
        let w: Vec<String> = words("Women's Casual T-Shirt, Bluetooth 5.3 — ÉCOUTEURS").collect();
        assert_eq!(
            w,
            [
                "women",
                "casual",
                "t",
                "shirt",
                "bluetooth",
                "5",
                "3",
                "écouteurs"
            ]
        );
        assert_eq!(query_words("case for the iPhone"), ["case", "iphone"]);
        assert!(query_words("for the").is_empty());
    }

    #[test]
    fn singular_and_plural_meet() {
        for (a, b) in [
            ("earbuds", "earbud"),
            ("cases", "case"),
            ("watches", "watch"),
            ("glasses", "glass"),
            ("accessories", "accessory"),
            ("lights", "light"),
            ("mats", "mat"),
            ("lenses", "lens"),
        ] {
            assert!(meet(a, b), "{a} / {b}");
            assert!(meet(b, a), "{b} / {a}");
        }
        assert!(!meet("case", "cat"));
        assert!(!meet("glass", "gla"));
    }
}
