//! Helpers of the deployment tests: the workspace root, the skip-or-fail rule for missing tools,
//! and a plain HTTP GET.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

pub fn under_ci() -> bool {
    std::env::var_os("CI").is_some()
}

/// Returns false (after printing why) when `test` cannot run here; panics instead under CI.
pub fn require(test: &str, available: bool, what: &str) -> bool {
    if available {
        return true;
    }
    assert!(
        !under_ci(),
        "{test}: {what} is missing, and CI must run this test"
    );
    eprintln!("skipping {test}: {what} is missing (under CI this fails)");
    false
}

/// Whether `program` runs at all (`program --version`).
pub fn installed(program: &str) -> bool {
    std::process::Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success())
}

/// `GET path` on `addr` over HTTP/1.1: the status code and the body.
pub fn get(addr: &str, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}
