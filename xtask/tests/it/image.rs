//! `cargo xtask image`: builds the image with podman from the release binary, then proves it
//! from its own files: the image's settings (user, port, volume, health check, labels), exactly
//! the files it should hold, and the binary started from the exported file system (chroot'ed
//! into it as the image's user when the tests run as root, as in CI) answering `/health`, with
//! the HEALTHCHECK's own command passing. Containers are never run: this machine refuses them.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{get, installed, require, root};

const TEST: &str = "the_image_holds_the_binary_and_its_libraries_and_serves_health";

/// Removes the test's image (and its container, if one was made) however the test ends.
struct Cleanup {
    tag: String,
    container: Option<String>,
    dir: PathBuf,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(id) = &self.container {
            let _ = podman(&["rm", "--force", id]);
        }
        let _ = podman(&["rmi", "--force", &self.tag]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn podman(args: &[&str]) -> String {
    let out = Command::new("podman").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "podman {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// Every file and directory under `dir`, relative, directories with a trailing slash.
fn listing(dir: &Path, base: &Path, out: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let relative = path.strip_prefix(base).unwrap().display().to_string();
        if path.is_dir() && !path.is_symlink() {
            out.insert(format!("{relative}/"));
            listing(&path, base, out);
        } else {
            out.insert(relative);
        }
    }
}

#[test]
fn the_image_holds_the_binary_and_its_libraries_and_serves_health() {
    let root = root();
    let binary = root.join("target/release/alistach-server");
    if !require(TEST, installed("podman"), "podman (apt-get install podman)")
        || !require(
            TEST,
            binary.is_file(),
            "the release binary (cargo build --release -p alistach-server)",
        )
    {
        return;
    }
    let dir = std::env::temp_dir().join(format!("xtask-image-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let tag = format!("localhost/alistach-test:{}", std::process::id());
    let mut cleanup = Cleanup {
        tag: tag.clone(),
        container: None,
        dir: dir.clone(),
    };

    // README's command, through the real xtask binary.
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["image", "--no-build", "--tag", &tag])
        .current_dir(&root)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "cargo xtask image failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let built = stdout
        .lines()
        .find(|l| l.starts_with(&format!("built {tag}: ")))
        .unwrap_or_else(|| panic!("no size reported:\n{stdout}"));
    println!("{built}");

    // The image's settings.
    let inspect: Value = serde_json::from_str(&podman(&["image", "inspect", &tag])).unwrap();
    let image = &inspect[0];
    let config = &image["Config"];
    assert_eq!(config["User"], "10001:10001", "{config}");
    assert!(config["ExposedPorts"].get("8000/tcp").is_some(), "{config}");
    assert!(config["Volumes"].get("/data").is_some(), "{config}");
    assert_eq!(
        config["Entrypoint"],
        serde_json::json!(["/usr/local/bin/alistach-server"])
    );
    let labels = &image["Labels"];
    assert_eq!(
        labels["org.opencontainers.image.version"],
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(labels["org.opencontainers.image.licenses"], "MIT");
    assert!(
        labels["org.opencontainers.image.source"].is_string(),
        "{labels}"
    );
    let health = &image["Healthcheck"];
    let test: Vec<&str> = health["Test"]
        .as_array()
        .unwrap_or_else(|| panic!("no HEALTHCHECK in {image}"))
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        test,
        ["CMD", "/usr/local/bin/alistach-server", "healthcheck"]
    );
    let env: Vec<(String, String)> = config["Env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str()?.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    assert!(
        env.contains(&("DATA_DIR".into(), "/data".into())),
        "{env:?}"
    );

    // Its files, exported without running anything (`podman create` only makes the container).
    let container = podman(&["create", &tag]);
    cleanup.container = Some(container.clone());
    let tar = dir.join("rootfs.tar");
    podman(&["export", "--output", tar.to_str().unwrap(), &container]);
    let rootfs = dir.join("rootfs");
    std::fs::create_dir_all(&rootfs).unwrap();
    let untar = Command::new("tar")
        .args(["-xf", tar.to_str().unwrap(), "-C", rootfs.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(untar.success());

    // Exactly the binary, the libraries ldd names, the user's files and /data (podman adds
    // the mount points it manages: /etc/hosts, /etc/resolv.conf, /dev, /proc, /sys, /run).
    let mut files = BTreeSet::new();
    listing(&rootfs, &rootfs, &mut files);
    let ldd = String::from_utf8(Command::new("ldd").arg(&binary).output().unwrap().stdout).unwrap();
    let mut expected: BTreeSet<String> = [
        "usr/local/bin/alistach-server",
        "etc/passwd",
        "etc/group",
        "etc/nsswitch.conf",
        "data/",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    for library in ldd.split_whitespace().filter(|w| w.starts_with('/')) {
        expected.insert(library.trim_start_matches('/').to_owned());
    }
    let managed = [
        "dev",
        "proc",
        "sys",
        "run",
        "etc/hosts",
        "etc/resolv.conf",
        "etc/hostname",
    ];
    let regular: BTreeSet<String> = files
        .iter()
        .filter(|f| !f.ends_with('/') || f.as_str() == "data/")
        .filter(|f| {
            !managed
                .iter()
                .any(|m| f.trim_end_matches('/') == *m || f.starts_with(&format!("{m}/")))
        })
        .cloned()
        .collect();
    assert_eq!(regular, expected, "the image's files");
    assert_eq!(std::fs::metadata(rootfs.join("data")).unwrap().uid(), 10001);

    // The binary from the image answers /health. As root: chroot into the image's files as its
    // user, so nothing of this machine's is loaded; otherwise through the image's loader.
    let as_root = is_root();
    let server_cmd = |args: &[&str]| {
        let mut cmd = if as_root {
            let mut cmd = Command::new("chroot");
            cmd.arg("--userspec=10001:10001")
                .arg(&rootfs)
                .arg("/usr/local/bin/alistach-server");
            cmd
        } else {
            let mut cmd = Command::new(rootfs.join("lib64/ld-linux-x86-64.so.2"));
            cmd.arg("--library-path")
                .arg(rootfs.join("lib/x86_64-linux-gnu"))
                .arg(rootfs.join("usr/local/bin/alistach-server"));
            cmd
        };
        cmd.env_clear().envs(env.iter().map(|(k, v)| (k, v)));
        if !as_root {
            cmd.env("DATA_DIR", rootfs.join("data"))
                .env("TMPDIR", rootfs.join("data"));
        }
        cmd.args(args);
        cmd
    };
    let mut server = server_cmd(&[])
        .env("ALISTACH_LISTEN", "127.0.0.1:0")
        .env("LOG_FORMAT", "text")
        .env("ORDER_SYNC_INTERVAL", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = server.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut logs = Vec::new();
    let addr = loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| {
                let _ = server.kill();
                panic!("the image's binary did not start:\n{}", logs.join("\n"))
            });
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
        logs.push(line);
    };
    let (status, body) = get(&addr, "/health").unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"status\""), "{body}");

    // The HEALTHCHECK's command, from the same files, passes against it.
    let probe = server_cmd(&test[2..])
        .env("ALISTACH_LISTEN", &addr)
        .output()
        .unwrap();
    assert!(
        probe.status.success(),
        "{}",
        String::from_utf8_lossy(&probe.stderr)
    );

    // The state went to the volume, owned by the image's user.
    let db = rootfs.join("data/alistach.db");
    assert!(db.is_file(), "no database in /data");
    if as_root {
        assert_eq!(std::fs::metadata(&db).unwrap().uid(), 10001);
    }

    // SIGTERM stops it cleanly.
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = server.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = server.kill();
            panic!("the server did not stop within 20 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
}
