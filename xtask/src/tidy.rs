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
            ("reqwest", &["alistach-aliexpress", "alistach-webhooks"][..]),
            ("redis", &["alistach-redis"][..]),
            ("deadpool-redis", &["alistach-redis"][..]),
            ("prometheus-client", &["alistach-http"][..]),
            ("sqlx", &["alistach-sql"][..]),
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
        for io in [
            "tokio",
            "reqwest",
            "hyper",
            "redis",
            "deadpool-redis",
            "sqlx",
        ] {
            check(
                !uses(krate, io),
                format!("{krate} does no I/O, so it must not use {io}"),
            );
        }
    }
    for krate in ["alistach-service", "alistach-policy", "alistach-store"] {
        for transport in [
            "hyper",
            "reqwest",
            "redis",
            "deadpool-redis",
            "sqlx",
            "alistach-http",
            "alistach-redis",
            "alistach-aliexpress",
            "alistach-sql",
            "alistach-webhooks",
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

/// Every Rust source file of the workspace (crates, binaries, xtask), test assets aside.
fn rust_sources() -> Vec<PathBuf> {
    let mut files = Vec::new();
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
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_source_file_says_what_it_is_for() {
    let missing: Vec<String> = rust_sources()
        .into_iter()
        .filter(|path| {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            !text.trim_start().starts_with("//!")
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "files without a `//!` line: {missing:?}"
    );
}

/// The workspace denies `unsafe_code`; the one exception is the server's call into its
/// allocator (`mi_collect`), and a new one must be added here on purpose.
#[test]
fn unsafe_code_is_allowed_in_one_file_only() {
    let allowed: Vec<String> = rust_sources()
        .into_iter()
        .filter(|path| {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            text.contains(concat!("allow(", "unsafe_code)"))
        })
        .map(|path| {
            path.strip_prefix(root())
                .unwrap_or(&path)
                .display()
                .to_string()
        })
        .collect();
    assert_eq!(allowed, ["bins/alistach-server/src/memory.rs"]);
}

/// The modules of a crate's `src/`, by module path (`routes::catalog`), each with its file.
fn modules(src: &Path) -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    let mut stack = vec![(src.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let join = |n: &str| {
                if prefix.is_empty() {
                    n.to_owned()
                } else {
                    format!("{prefix}::{n}")
                }
            };
            if path.is_dir() {
                stack.push((path, join(&name)));
            } else if let Some(stem) = name.strip_suffix(".rs") {
                let module = match stem {
                    "lib" | "main" if prefix.is_empty() => String::new(),
                    "mod" => prefix.clone(),
                    _ => join(stem),
                };
                out.insert(module, path);
            }
        }
    }
    out
}

/// The identifiers that follow each `marker` in code (comments left out).
fn paths_after<'a>(text: &'a str, marker: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or_default();
        let mut rest = code;
        while let Some(i) = rest.find(marker) {
            let after = &rest[i + marker.len()..];
            let end = after
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            out.push(&after[..end]);
            rest = &after[end..];
        }
    }
    out
}

/// No file of the HTTP adapter imports a file that imports it, directly or through others;
/// files name the module they use (`crate::respond::put`), never a re-export of `lib.rs`, which
/// declares every module.
#[test]
fn the_http_adapter_has_no_import_cycles_between_files() {
    let src = root().join("crates/alistach-http/src");
    let modules = modules(&src);
    let mut edges: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut broken = Vec::new();
    for (module, path) in &modules {
        if module.is_empty() {
            continue;
        }
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let parent = module.rsplit_once("::").map_or("", |(p, _)| p);
        let is_dir_module = path.ends_with("mod.rs");
        let mut targets = Vec::new();
        for name in paths_after(&text, "crate::") {
            if modules.contains_key(name) {
                targets.push(name.to_owned());
            } else {
                broken.push(format!("{module} uses crate::{name} through lib.rs"));
            }
        }
        // `super::x` in a nested file: a sibling module, or the parent module itself.
        if !parent.is_empty() && !is_dir_module {
            for name in paths_after(&text, "super::") {
                let sibling = format!("{parent}::{name}");
                if modules.contains_key(&sibling) {
                    targets.push(sibling);
                } else if !name.is_empty() {
                    targets.push(parent.to_owned());
                }
            }
        }
        // A directory module uses its children by their relative paths.
        if is_dir_module {
            for child in modules.keys() {
                if let Some(name) = child.strip_prefix(&format!("{module}::"))
                    && !name.contains("::")
                    && text.contains(&format!("{name}::"))
                {
                    targets.push(child.clone());
                }
            }
        }
        targets.retain(|t| t != module);
        targets.sort();
        targets.dedup();
        edges.insert(module.clone(), targets);
    }
    // Depth-first search for a path that comes back to where it started.
    fn visit(
        node: &str,
        edges: &BTreeMap<String, Vec<String>>,
        path: &mut Vec<String>,
        done: &mut std::collections::BTreeSet<String>,
        cycles: &mut Vec<String>,
    ) {
        if let Some(at) = path.iter().position(|p| p == node) {
            cycles.push(format!("{} -> {node}", path[at..].join(" -> ")));
            return;
        }
        if !done.insert(node.to_owned()) {
            return;
        }
        path.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            visit(next, edges, path, done, cycles);
        }
        path.pop();
    }
    let mut done = std::collections::BTreeSet::new();
    for node in edges.keys() {
        visit(node, &edges, &mut Vec::new(), &mut done, &mut broken);
    }
    assert!(
        edges.contains_key("pipeline") && edges["pipeline"].contains(&"routes".to_owned()),
        "the scan must see the pipeline's imports: {edges:?}"
    );
    assert!(
        broken.is_empty(),
        "import cycles or lib.rs imports: {broken:#?}"
    );
}

/// The files `vendor/hyper.patch` changes, and the lines it adds to each (its `+` lines).
fn patch_additions(patch: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut file = None;
    for line in patch.lines() {
        if let Some(path) = line.strip_prefix("+++ b/") {
            file = Some(path.to_owned());
            out.entry(path.to_owned()).or_default();
        } else if let (Some(added), Some(f)) = (line.strip_prefix('+'), &file) {
            out.entry(f.clone()).or_default().push(added.to_owned());
        }
    }
    out
}

#[test]
fn the_patch_parser_reads_files_and_added_lines() {
    let patch =
        "diff -ru a/x.rs b/x.rs\n--- a/x.rs\n+++ b/x.rs\n@@ -1,2 +1,2 @@\n keep\n-old\n+new\n";
    assert_eq!(patch_additions(patch)["x.rs"], ["new"]);
}

/// vendor/README.md: the vendored hyper is upstream plus `hyper.patch`, and nothing else is
/// marked as ours. (Upstream's pristine source is not at hand offline; the patch's added lines
/// and the markers are what can drift.)
#[test]
fn the_vendored_hyper_is_upstream_plus_the_patch() {
    const MARKER: &str = "ALISTACH PATCH";
    let vendor = root().join("vendor");
    let patch = std::fs::read_to_string(vendor.join("hyper.patch")).unwrap();
    let additions = patch_additions(&patch);
    assert!(!additions.is_empty(), "hyper.patch changes no file");
    for (file, added) in &additions {
        let text = std::fs::read_to_string(vendor.join("hyper").join(file))
            .unwrap_or_else(|e| panic!("vendor/hyper/{file}: {e}"));
        let lines: Vec<&str> = text.lines().collect();
        for line in added {
            assert!(
                lines.contains(&line.as_str()),
                "vendor/hyper/{file} lacks the patch's line {line:?}"
            );
        }
        assert!(
            added.iter().any(|l| l.contains(MARKER)),
            "hyper.patch's change to {file} is not marked {MARKER}"
        );
    }
    // Every marked file is one the patch changes.
    let mut stack = vec![vendor.join("hyper/src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if std::fs::read_to_string(&path).is_ok_and(|t| t.contains(MARKER)) {
                let rel = path.strip_prefix(vendor.join("hyper")).unwrap();
                let rel = rel.to_string_lossy().into_owned();
                assert!(
                    additions.contains_key(&rel),
                    "vendor/hyper/{rel} is marked {MARKER} but hyper.patch does not change it"
                );
            }
        }
    }
    // The workspace uses it.
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    assert!(manifest.contains("[patch.crates-io]\nhyper = { path = \"vendor/hyper\" }"));
}
