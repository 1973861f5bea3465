//! Reading a Prometheus text exposition in tests: sample values by series text, and
//! `promtool check metrics` as the independent judge of the format.
//!
//! On a machine without `promtool` (Debian package `prometheus`), [`promtool_check_or_skip`]
//! skips the check with a message, except under CI (the `CI` variable set), where it fails: CI
//! must run the check.

use std::collections::HashMap;
use std::io::{self, Write};
use std::process::{Command, Stdio};

const BINARY: &str = "promtool";

/// Every sample of `text` by its series text as written (`name{label="value",...}`), so a test
/// can look up exactly the series it expects; comments and blank lines are skipped.
///
/// Panics, naming the line, on a sample that is not `series value` with a float value, and on
/// a series written twice (which promtool lets pass but a Prometheus server refuses).
pub fn samples(text: &str) -> HashMap<String, f64> {
    let mut samples = HashMap::new();
    for l in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (series, value) = l
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("not a sample: {l:?}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("not a float: {l:?}"));
        let earlier = samples.insert(series.to_owned(), value);
        assert!(earlier.is_none(), "series written twice: {l:?}");
    }
    samples
}

/// Runs `promtool check metrics` on `text`: `Ok` when it accepts the exposition (format and
/// lint), `Err` with promtool's report when it does not.
pub fn promtool_check(text: &str) -> io::Result<Result<(), String>> {
    let mut child = Command::new(BINARY)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    // promtool reads all of its input before it writes anything, so this cannot deadlock.
    let mut stdin = child.stdin.take().expect("stdin is piped");
    stdin.write_all(text.as_bytes())?;
    drop(stdin);
    let out = child.wait_with_output()?;
    if out.status.success() {
        Ok(Ok(()))
    } else {
        Ok(Err(format!(
            "{}{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )))
    }
}

/// Checks `text` with `promtool check metrics` and panics with promtool's report (and the
/// exposition) when it is rejected. Without promtool the check is skipped with a message
/// naming `test`, and `false` returned; under CI that is a failure instead.
pub fn promtool_check_or_skip(test: &str, text: &str) -> bool {
    match promtool_check(text) {
        Ok(Ok(())) => true,
        Ok(Err(report)) => panic!("{test}: promtool rejects the exposition: {report}\n{text}"),
        Err(e) if e.kind() == io::ErrorKind::NotFound && std::env::var_os("CI").is_none() => {
            eprintln!(
                "skipping the promtool check in {test}: {e} (install the Debian package \
                 `prometheus` to run it; under CI this fails)"
            );
            false
        }
        Err(e) => panic!("{test} needs {BINARY}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_found_by_series_text() {
        let s = samples(
            "# HELP a_total A.\n# TYPE a_total counter\na_total{k=\"v w\"} 3\nb +Inf\n\nc 0.5\n",
        );
        assert_eq!(s["a_total{k=\"v w\"}"], 3.0);
        assert!(s["b"].is_infinite());
        assert_eq!(s["c"], 0.5);
        assert_eq!(s.len(), 3);
        let twice = std::panic::catch_unwind(|| samples("a 1\na 2\n"));
        assert!(twice.is_err(), "a series written twice passed");
    }

    #[test]
    fn promtool_rejects_what_is_broken() {
        let good = "# HELP x_total A counter.\n# TYPE x_total counter\nx_total 1\n";
        let Ok(verdict) = promtool_check(good) else {
            promtool_check_or_skip("promtool_rejects_what_is_broken", good);
            return;
        };
        assert_eq!(verdict, Ok(()));
        for bad in [
            // not a number
            "# HELP x_total A.\n# TYPE x_total counter\nx_total one\n",
            // a counter without `_total` (lint)
            "# HELP x A.\n# TYPE x counter\nx 1\n",
            // no HELP (lint)
            "# TYPE x_total counter\nx_total 1\n",
        ] {
            assert!(
                promtool_check(bad).unwrap().is_err(),
                "promtool accepted {bad:?}"
            );
        }
    }
}
