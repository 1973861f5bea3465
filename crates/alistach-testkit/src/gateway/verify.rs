//! The fake gateway's own signature check and timestamp parsing, written independently of the
//! client crate so that a shared mistake cannot make both sides agree.

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use md5::Md5;
use sha2::Sha256;

use super::catalog::days_from_civil;

/// The sign the gateway expects for `params` under `sign_method`, or `None` for a sign method
/// it does not know. `BTreeMap` iterates in byte order, which is the platform's order.
pub(crate) fn expected_sign(
    sign_method: &str,
    secret: &str,
    params: &BTreeMap<String, String>,
) -> Option<String> {
    let mut pre_image = Vec::new();
    for (name, value) in params {
        if name != "sign" && !value.is_empty() {
            pre_image.extend_from_slice(name.as_bytes());
            pre_image.extend_from_slice(value.as_bytes());
        }
    }
    let digest: Vec<u8> = match sign_method {
        "sha256" | "hmac-sha256" => {
            let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).ok()?;
            mac.update(&pre_image);
            mac.finalize().into_bytes().to_vec()
        }
        "hmac" => {
            let mut mac = Hmac::<Md5>::new_from_slice(secret.as_bytes()).ok()?;
            mac.update(&pre_image);
            mac.finalize().into_bytes().to_vec()
        }
        "md5" => {
            use md5::Digest;
            let mut h = Md5::new();
            h.update(secret.as_bytes());
            h.update(&pre_image);
            h.update(secret.as_bytes());
            h.finalize().to_vec()
        }
        _ => return None,
    };
    Some(digest.iter().map(|b| format!("{b:02X}")).collect())
}

/// Parses a request timestamp into Unix milliseconds: epoch milliseconds (13 digits), epoch
/// seconds (10 digits), TOP's `yyyy-MM-dd HH:mm:ss` in GMT+8, or ISO-8601 `yyyy-MM-ddTHH:mm:ssZ`.
pub(crate) fn parse_timestamp(text: &str) -> Option<i64> {
    let t = text.trim();
    if t.bytes().all(|b| b.is_ascii_digit()) {
        return match t.len() {
            13 => t.parse().ok(),
            10 => t.parse::<i64>().ok().map(|s| s * 1000),
            _ => None,
        };
    }
    let b = t.as_bytes();
    let (offset_hours, body) = if b.len() == 20 && b[10] == b'T' && b[19] == b'Z' {
        (0, &t[..19])
    } else if b.len() == 19 && b[10] == b' ' {
        (8, t)
    } else {
        return None;
    };
    let num = |r: std::ops::Range<usize>| {
        body.get(r)
            .filter(|s| s.bytes().all(|c| c.is_ascii_digit()))?
            .parse::<u32>()
            .ok()
    };
    let bb = body.as_bytes();
    if bb[4] != b'-' || bb[7] != b'-' || bb[13] != b':' || bb[16] != b':' {
        return None;
    }
    let (y, mo, d, h, mi, s) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let days = days_from_civil(i64::from(y), mo, d);
    let secs = days * 86_400 + i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(s)
        - offset_hours * 3600;
    Some(secs * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn reproduces_the_reference_vectors() {
        let a = params(&[
            ("app_key", "12345678"),
            ("method", "aliexpress.affiliate.product.query"),
            ("timestamp", "1700000000000"),
            ("format", "json"),
            ("v", "2.0"),
            ("sign_method", "sha256"),
            ("keywords", "wireless earbuds"),
            ("page_no", "1"),
            ("page_size", "20"),
            ("sort", "LAST_VOLUME_DESC"),
            ("target_currency", "USD"),
            ("target_language", "EN"),
            ("tracking_id", "mytrackingid"),
            ("ship_to_country", "US"),
            ("sign", "ignored"),
        ]);
        assert_eq!(
            expected_sign("sha256", "helloworld", &a).unwrap(),
            "ECB677F163D8F34F7E6414268D374BF8B32BDC76684B073C6F5324871D2C4756"
        );
        let mut md5 = a.clone();
        md5.insert("sign_method".into(), "md5".into());
        assert_eq!(
            expected_sign("md5", "helloworld", &md5).unwrap(),
            "9AA31D3CB405163A4A56458CD8AF8FA7"
        );
        let mut top = a.clone();
        top.insert("timestamp".into(), "2023-11-15 06:13:20".into());
        top.insert("sign_method".into(), "hmac".into());
        assert_eq!(
            expected_sign("hmac", "helloworld", &top).unwrap(),
            "F97DB235F0E2D31B81FE0181A4444F81"
        );
        top.insert("sign_method".into(), "hmac-sha256".into());
        assert_eq!(
            expected_sign("hmac-sha256", "helloworld", &top).unwrap(),
            "F86D0F91E06F41F3DF9DBE36982E5F61B38142772D4755409E7BF0B9DE08A43D"
        );
        assert_eq!(expected_sign("sha1", "helloworld", &a), None);
    }

    #[test]
    fn timestamps_in_every_documented_form() {
        assert_eq!(parse_timestamp("1700000000000"), Some(1_700_000_000_000));
        assert_eq!(parse_timestamp("1700000000"), Some(1_700_000_000_000));
        assert_eq!(
            parse_timestamp("2023-11-15 06:13:20"),
            Some(1_700_000_000_000)
        );
        assert_eq!(
            parse_timestamp("2023-11-14T22:13:20Z"),
            Some(1_700_000_000_000)
        );
        for bad in [
            "",
            "17000",
            "2023-13-01 00:00:00",
            "yesterday",
            "2023-11-14T22:13:20+01:00",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }
}
