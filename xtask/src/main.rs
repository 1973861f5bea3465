//! Repository automation behind `cargo xtask`: generating and checking the checked-in OpenAPI
//! documents and README's configuration table, the container image, and the benchmark program.

mod bench;
mod image;
#[cfg(test)]
mod tidy;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use alistach_api::{OpenApiOptions, Profile, openapi};
use anyhow::{Context, Result, bail};

/// The server URL written into the checked-in documents; deployments serve their own.
const DOCS_BASE_URL: &str = "https://alistach.example.com";

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  openapi            write docs/openapi.json and docs/openapi-gpt.json
  openapi --check    fail if those files differ from what the code generates
  validate-openapi   validate both files with openapi-spec-validator (python3 xtask/validate_openapi.py)
  settings           rewrite README's configuration table from the server's settings table
  settings --check   fail if README's configuration table differs from it
";

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Vec<String>) -> Result<()> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let root = workspace_root();
    match args.as_slice() {
        ["openapi"] => {
            for path in write_documents(&root)? {
                println!("wrote {}", path.display());
            }
            Ok(())
        }
        ["openapi", "--check"] => {
            let drifted = drifted_documents(&root)?;
            if drifted.is_empty() {
                println!("OpenAPI documents are up to date");
                return Ok(());
            }
            let list: Vec<String> = drifted.iter().map(|p| p.display().to_string()).collect();
            bail!(
                "OpenAPI documents are out of date: {}; run `cargo xtask openapi` and commit the result",
                list.join(", ")
            )
        }
        ["validate-openapi"] => validate_with_python(&root),
        ["settings"] => settings_table(&root, true),
        ["settings", "--check"] => settings_table(&root, false),
        ["bench", "cache-policy", rest @ ..] => bench::cache_policy::run(&root, rest),
        ["bench", rest @ ..] => bench::run(&root, rest),
        ["image", rest @ ..] => image::run(&root, rest),
        ["help" | "--help" | "-h"] => {
            println!(
                "{USAGE}{}{}\n{}",
                image::USAGE,
                bench::USAGE,
                bench::cache_policy::USAGE
            );
            Ok(())
        }
        _ => bail!(
            "unknown arguments {args:?}\n{USAGE}{}{}",
            image::USAGE,
            bench::USAGE
        ),
    }
}

fn workspace_root() -> PathBuf {
    // xtask lives one level below the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn docs_options() -> OpenApiOptions {
    OpenApiOptions {
        public_base_url: DOCS_BASE_URL.to_owned(),
        api_key_security: true,
        version: alistach_api::VERSION.to_owned(),
    }
}

/// The checked-in documents: relative path and exact expected text.
fn documents() -> Result<Vec<(&'static str, String)>> {
    let opts = docs_options();
    let mut out = Vec::new();
    for (path, profile) in [
        ("docs/openapi.json", Profile::Full),
        ("docs/openapi-gpt.json", Profile::Gpt),
    ] {
        let mut text = serde_json::to_string_pretty(&openapi(profile, &opts))
            .with_context(|| format!("serializing the {profile:?} document"))?;
        text.push('\n');
        out.push((path, text));
    }
    Ok(out)
}

fn write_documents(root: &Path) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for (relative, text) in documents()? {
        let path = root.join(relative);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// Paths whose content differs from the generated text (missing files count as drifted).
fn drifted_documents(root: &Path) -> Result<Vec<PathBuf>> {
    let mut drifted = Vec::new();
    for (relative, expected) in documents()? {
        let path = root.join(relative);
        match fs::read_to_string(&path) {
            Ok(actual) if actual == expected => {}
            Ok(_) => drifted.push(path),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => drifted.push(path),
            Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
        }
    }
    Ok(drifted)
}

/// The table lives in the server binary, so its own drift test does the work (`UPDATE_README=1`
/// makes it rewrite README instead of failing).
fn settings_table(root: &Path, update: bool) -> Result<()> {
    let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cargo
        .args(["test", "--quiet", "--package", "alistach-server", "--bin"])
        .args([
            "alistach-server",
            "readme_configuration_table_is_up_to_date",
        ])
        .current_dir(root);
    if update {
        cargo.env("UPDATE_README", "1");
    } else {
        cargo.env_remove("UPDATE_README");
    }
    let status = cargo.status().context("running cargo test")?;
    if !status.success() {
        bail!(
            "README's configuration table is out of date; run `cargo xtask settings` and commit the result"
        );
    }
    Ok(())
}

fn validate_with_python(root: &Path) -> Result<()> {
    let script = root.join("xtask/validate_openapi.py");
    let status = Command::new("python3")
        .arg(&script)
        .current_dir(root)
        .status()
        .with_context(|| format!("running python3 {}", script.display()))?;
    if !status.success() {
        bail!("{} failed ({status})", script.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The checked-in documents match the code. On failure run `cargo xtask openapi`.
    #[test]
    fn openapi_documents_are_up_to_date() {
        let root = workspace_root();
        for (relative, expected) in documents().unwrap() {
            let path = root.join(relative);
            let actual = fs::read_to_string(&path).unwrap_or_else(|e| {
                panic!(
                    "cannot read {}: {e}; run `cargo xtask openapi`",
                    path.display()
                )
            });
            assert!(
                actual == expected,
                "{} is out of date; run `cargo xtask openapi`",
                path.display()
            );
        }
    }

    fn scratch_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn check_reports_missing_and_edited_files_and_passes_after_writing() {
        let dir = scratch_dir("drift");
        assert_eq!(
            drifted_documents(&dir).unwrap().len(),
            2,
            "missing files are drift"
        );
        let written = write_documents(&dir).unwrap();
        assert_eq!(written.len(), 2);
        assert!(drifted_documents(&dir).unwrap().is_empty());
        let gpt = dir.join("docs/openapi-gpt.json");
        let text = fs::read_to_string(&gpt).unwrap();
        assert!(text.ends_with("}\n") && !text.ends_with("\n\n"));
        fs::write(&gpt, text.replace("searchProducts", "searchProductz")).unwrap();
        assert_eq!(drifted_documents(&dir).unwrap(), vec![gpt]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn documents_use_the_example_host_and_the_crate_version() {
        for (relative, text) in documents().unwrap() {
            let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(doc["servers"][0]["url"], DOCS_BASE_URL, "{relative}");
            assert_eq!(doc["info"]["version"], alistach_api::VERSION, "{relative}");
        }
    }

    #[test]
    fn unknown_arguments_are_an_error_naming_them() {
        let err = run(vec!["opneapi".into()]).unwrap_err().to_string();
        assert!(err.contains("opneapi") && err.contains("usage"), "{err}");
        assert!(run(vec!["openapi".into(), "--chek".into()]).is_err());
    }

    #[test]
    fn bench_options_are_checked_before_anything_runs() {
        let err = run(vec!["bench".into(), "--duraton".into(), "5".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--duraton"), "{err}");
    }
}
