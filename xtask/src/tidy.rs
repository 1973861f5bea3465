//! Tidy checks run as tests: the architecture invariants of docs/ARCHITECTURE.md, checked
//! against every crate's manifest, so a dependency that breaks the layering fails `cargo test`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Normal (non-dev) dependencies of every workspace package, by package directory name.
fn normal_dependencies(root: &Path) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for group in ["crates", "bins"] {
        let Ok(entries) = std::fs::read_dir(root.join(group)) else {
            continue;
        };
        for entry in entries.flatten() {
            let manifest = entry.path().join("Cargo.toml");
            if let Ok(text) = std::fs::read_to_string(&manifest) {
                out.insert(
                    entry.file_name().to_string_lossy().into_owned(),
                    section(&text, "[dependencies]"),
                );
            }
        }
    }
    if let Ok(text) = std::fs::read_to_string(root.join("xtask/Cargo.toml")) {
        out.insert("xtask".into(), section(&text, "[dependencies]"));
    }
    out
}

/// The dependency names listed in one manifest section.
fn section(manifest: &str, header: &str) -> Vec<String> {
    let mut inside = false;
    let mut names = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            inside = line == header;
            continue;
        }
        if inside && !line.is_empty() && !line.starts_with('#') {
            let name = line.split(['=', '.', ' ']).next().unwrap_or("").trim();
            if !name.is_empty() {
                names.push(name.to_owned());
            }
        }
    }
    names
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

#[test]
fn the_section_parser_reads_names() {
    let text = "[package]\nname = \"x\"\n[dependencies]\nserde.workspace = true\ntokio = { workspace = true }\n# c\n[dev-dependencies]\nreqwest.workspace = true\n";
    assert_eq!(section(text, "[dependencies]"), ["serde", "tokio"]);
    assert_eq!(section(text, "[dev-dependencies]"), ["reqwest"]);
}

#[test]
fn architecture_invariants_hold() {
    let deps = normal_dependencies(&root());
    assert!(
        deps.len() >= 12,
        "found only {:?}",
        deps.keys().collect::<Vec<_>>()
    );
    let uses = |krate: &str, dep: &str| deps.get(krate).is_some_and(|d| d.iter().any(|n| n == dep));
    let mut broken = Vec::new();
    let mut check = |ok: bool, rule: String| {
        if !ok {
            broken.push(rule);
        }
    };
    for (krate, list) in &deps {
        let workspace_deps: Vec<&String> =
            list.iter().filter(|d| d.starts_with("alistach-")).collect();
        if krate == "alistach-domain" || krate == "alistach-api" {
            check(
                workspace_deps.is_empty(),
                format!("{krate} depends on no workspace crate, not {workspace_deps:?}"),
            );
        }
        for (dep, allowed) in [
            ("reqwest", &["alistach-aliexpress"][..]),
            ("redis", &["alistach-redis"][..]),
            ("deadpool-redis", &["alistach-redis"][..]),
            ("prometheus-client", &["alistach-http"][..]),
            (
                "hyper",
                &["alistach-http", "alistach-testkit", "alistach-ceiling"][..],
            ),
            (
                "anyhow",
                &[
                    "alistach-server",
                    "aliexpress-fake",
                    "alistach-ceiling",
                    "xtask",
                ][..],
            ),
        ] {
            if list.iter().any(|d| d == dep) {
                check(
                    allowed.contains(&krate.as_str()),
                    format!("only {allowed:?} may use {dep}, not {krate}"),
                );
            }
        }
    }
    for krate in ["alistach-domain"] {
        for io in ["tokio", "reqwest", "hyper", "redis", "deadpool-redis"] {
            check(
                !uses(krate, io),
                format!("{krate} does no I/O, so it must not use {io}"),
            );
        }
    }
    for krate in ["alistach-service", "alistach-policy"] {
        for transport in [
            "hyper",
            "reqwest",
            "redis",
            "deadpool-redis",
            "alistach-http",
            "alistach-redis",
            "alistach-aliexpress",
        ] {
            check(
                !uses(krate, transport),
                format!("{krate} sees only traits, so it must not use {transport}"),
            );
        }
    }
    assert!(
        broken.is_empty(),
        "architecture invariants broken:\n{}",
        broken.join("\n")
    );
}

#[test]
fn every_source_file_says_what_it_is_for() {
    let mut missing = Vec::new();
    let mut stack = vec![
        root().join("crates"),
        root().join("bins"),
        root().join("xtask/src"),
    ];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                if path
                    .file_name()
                    .is_some_and(|n| n != "target" && n != "assets")
                {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                if !text.trim_start().starts_with("//!") {
                    missing.push(path.display().to_string());
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "files without a `//!` line: {missing:?}"
    );
}
