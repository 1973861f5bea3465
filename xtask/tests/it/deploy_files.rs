//! Every file under deploy/ validated by `xtask/validate_deploy.py`: the Compose
//! Specification's schema, `caddy validate`, `kubernetes-validate --strict`, `systemd-analyze
//! verify` and `security`, and the checks that hold them to each other and to the server.

use std::process::Command;

use crate::support::{installed, require, root, under_ci};

/// The server's drain of in-flight requests at shutdown, read from where it is set, so the
/// grace periods of compose.yaml and the Deployment are checked against the real figure.
fn drain_seconds() -> u64 {
    let source =
        std::fs::read_to_string(root().join("crates/alistach-http/src/config.rs")).unwrap();
    let line = source
        .lines()
        .find(|l| l.trim().starts_with("shutdown_grace: Duration::from_secs("))
        .expect("alistach-http's default shutdown_grace is set with Duration::from_secs");
    line.split(['(', ')']).nth(1).unwrap().parse().unwrap()
}

#[test]
fn every_deployment_file_validates() {
    if !require(
        "every_deployment_file_validates",
        installed("python3"),
        "python3",
    ) {
        return;
    }
    let mut cmd = Command::new("python3");
    cmd.arg(root().join("xtask/validate_deploy.py"))
        .args(["--drain-seconds", &drain_seconds().to_string()])
        .current_dir(root());
    if under_ci() {
        cmd.arg("--require-all");
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(out.status.success(), "{stdout}\n{stderr}");
    // Something was checked: the script prints one line per check.
    assert!(
        stdout.matches("\nok   ").count() >= 30 || stdout.contains("SKIP every check"),
        "{stdout}"
    );
}

#[test]
fn the_drain_is_read_from_the_server() {
    let seconds = drain_seconds();
    assert!((1..=60).contains(&seconds), "{seconds}");
}
