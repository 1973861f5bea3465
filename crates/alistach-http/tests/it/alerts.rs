//! The Prometheus alerting rules shipped in `docs/alerts/`: `promtool check rules` accepts
//! them, their unit tests (`promtool test rules`) pass, and every `alistach_*` name they (and
//! their tests) use is one a real `/metrics` scrape of this server reports, so the rules cannot
//! drift from the code.
//!
//! Without `promtool` (Debian package `prometheus`) the promtool tests are skipped with a
//! message, except under CI (the `CI` variable set), where they fail, as the scrape checks in
//! `alistach_testkit::prometheus` do.

use std::collections::BTreeSet;
use std::io;
use std::path::PathBuf;
use std::process::Command;

use alistach_http::HttpConfig;

use crate::support::TestServer;

const RULES: &str = "prometheus-rules.yml";
const RULE_TESTS: &str = "prometheus-rules.test.yml";

/// `docs/alerts` of the workspace.
fn alerts_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/alerts")
}

/// Runs `promtool args` in `docs/alerts` and panics with its report on a non-zero exit. Without
/// promtool it prints a note and returns `false`, or panics under CI.
fn promtool_or_skip(test: &str, args: &[&str]) -> bool {
    match Command::new("promtool")
        .args(args)
        .current_dir(alerts_dir())
        .output()
    {
        Ok(out) => {
            assert!(
                out.status.success(),
                "{test}: `promtool {}` failed ({}):\n{}{}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            true
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound && std::env::var_os("CI").is_none() => {
            eprintln!(
                "skipping {test}: promtool not found (install the Debian package `prometheus` \
                 to run it; under CI this fails)"
            );
            false
        }
        Err(e) => panic!("{test} needs promtool: {e}"),
    }
}

#[test]
fn the_rules_pass_promtool_check() {
    promtool_or_skip("the_rules_pass_promtool_check", &["check", "rules", RULES]);
}

#[test]
fn the_rules_pass_their_promtool_unit_tests() {
    promtool_or_skip(
        "the_rules_pass_their_promtool_unit_tests",
        &["test", "rules", RULE_TESTS],
    );
}

/// Every `alistach_[a-z0-9_]+` word of `text` (expressions, annotations, test series).
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("alistach_") {
        // A name starts the word: skip `x_alistach_...` and the like.
        let starts_word = !rest[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        let tail = &rest[at..];
        let len = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        if starts_word {
            names.insert(tail[..len].to_owned());
        }
        rest = &tail[len..];
    }
    names
}

/// Every series name an exposition can hold: the names of its samples, and for each family
/// (`# TYPE`, also written for families without samples in this configuration, such as
/// `alistach_redis_up` without Redis) the names its samples take.
fn exposed_names(exposition: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in exposition.lines() {
        if let Some(decl) = line.strip_prefix("# TYPE ") {
            let mut parts = decl.split_whitespace();
            let (Some(name), Some(kind)) = (parts.next(), parts.next()) else {
                panic!("a TYPE line without a name and a type: {line:?}");
            };
            names.insert(name.to_owned());
            match kind {
                "counter" if !name.ends_with("_total") => {
                    names.insert(format!("{name}_total"));
                }
                "histogram" => {
                    for suffix in ["_bucket", "_sum", "_count"] {
                        names.insert(format!("{name}{suffix}"));
                    }
                }
                _ => {}
            }
        } else if !line.is_empty() && !line.starts_with('#') {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            names.insert(line[..end].to_owned());
        }
    }
    names
}

#[test]
fn names_are_read_from_rules_and_expositions() {
    assert_eq!(
        metric_names("rate(alistach_a_total{x=\"y\"}[5m]) / xalistach_b + alistach_c9 AliStachX"),
        BTreeSet::from(["alistach_a_total".to_owned(), "alistach_c9".to_owned()])
    );
    let exposed = exposed_names(
        "# HELP alistach_h A.\n# TYPE alistach_h histogram\n# TYPE alistach_c counter\n\
         # TYPE alistach_g gauge\nalistach_s{a=\"b c\"} 1\nalistach_t 2\n",
    );
    for name in [
        "alistach_h_bucket",
        "alistach_h_count",
        "alistach_c_total",
        "alistach_g",
        "alistach_s",
        "alistach_t",
    ] {
        assert!(exposed.contains(name), "{name} not in {exposed:?}");
    }
    assert!(!exposed.contains("alistach_g_total"));
}

#[tokio::test]
async fn every_name_the_rules_use_is_in_a_real_scrape() {
    let s = TestServer::start(HttpConfig {
        metrics_public: true,
        ..HttpConfig::default()
    })
    .await;
    // One answered request, so the request families hold samples too.
    assert_eq!(s.get("/health").await.status(), 200);
    let r = s.get("/metrics").await;
    assert_eq!(r.status(), 200);
    let exposed = exposed_names(&r.text().await.unwrap());

    for file in [RULES, RULE_TESTS] {
        let path = alerts_dir().join(file);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let used = metric_names(&text);
        // The rules use at least one name of each concern they alert on; an empty set would
        // mean the parser, not the rules, is wrong.
        assert!(used.len() >= 8, "{file}: only {used:?} found");
        let missing: Vec<_> = used.difference(&exposed).collect();
        assert!(
            missing.is_empty(),
            "{file} uses names /metrics does not report: {missing:?}\nreported: {exposed:?}"
        );
    }
}
