//! Runs the real `alistach-server` binary on 127.0.0.1:0 with a clean environment and captures
//! its logs, so tests can drive it over HTTP and search what it printed.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running server process, killed on drop.
pub struct Server {
    child: Option<Child>,
    pub base: String,
    logs: Arc<Mutex<Vec<String>>>,
    /// The private DATA_DIR given when the test named none, removed on drop.
    own_data_dir: Option<PathBuf>,
}

/// A fresh directory under the system's temporary directory (not created).
pub fn temp_dir(name: &str) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    std::env::temp_dir().join(format!(
        "alistach-it-{name}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

impl Server {
    /// Starts the binary with exactly `env` (plus PATH/HOME) and `--listen 127.0.0.1:0`.
    pub fn start(env: &[(&str, &str)]) -> Server {
        Self::start_with_args(env, &[])
    }

    pub fn start_with_args(env: &[(&str, &str)], args: &[&str]) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_alistach-server"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("LOG_LEVEL", "info")
            // Tests send many requests from one address; the rate-limit tests set their own.
            .env("MAX_REQUESTS_PER_SECOND", "100000")
            .env("MAX_REQUESTS_PER_MINUTE", "1000000")
            // Each server its own database, and no scheduled order sync (its calls would show in
            // the fake gateway's counts); the order tests set both.
            .env("ORDER_SYNC_INTERVAL", "0")
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let own_data_dir = (!env
            .iter()
            .any(|(k, _)| *k == "DATA_DIR" || *k == "DATABASE_URL"))
        .then(|| temp_dir("data"));
        if let Some(dir) = &own_data_dir {
            cmd.env("DATA_DIR", dir);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn alistach-server");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        for stream in [
            Box::new(child.stderr.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stdout.take().unwrap()),
        ] {
            let logs = logs.clone();
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if let Some(rest) = line.split("listening on http://").nth(1) {
                        let addr: String = rest
                            .chars()
                            .take_while(|c| !c.is_whitespace() && *c != '"')
                            .collect();
                        let _ = tx.send(addr);
                    }
                    logs.lock().unwrap().push(line);
                }
            });
        }
        let addr = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "server did not report its address; logs:\n{}",
                    logs.lock().unwrap().join("\n")
                );
            }
        };
        Server {
            child: Some(child),
            base: format!("http://{addr}"),
            logs,
            own_data_dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Everything the process printed so far.
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let pid = self.child.as_ref().unwrap().id();
        let status = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Kills the process at once (SIGKILL): no shutdown, no flushing.
    pub fn kill_hard(&mut self) {
        let child = self.child.as_mut().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// Waits for the process to exit, at most `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        let child = self.child.as_mut().unwrap();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(dir) = &self.own_data_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Runs the binary to completion with `args` and a clean environment plus `env`.
pub fn run_to_exit(env: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_alistach-server"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A client that never uses a proxy.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// GETs `url` and decodes its JSON body (panicking on any failure: tests only).
pub async fn get_json(c: &reqwest::Client, url: String) -> serde_json::Value {
    c.get(url).send().await.unwrap().json().await.unwrap()
}

/// A client that shows redirects instead of following them.
pub fn no_follow() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// An admin call (`x-admin-key: key`) with an optional JSON body: the status and the JSON
/// answer (`{"text": …}` when the answer is not JSON).
pub async fn admin_call(
    server: &Server,
    key: &str,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let c = client();
    let req = match method {
        "POST" => c.post(server.url(path)),
        "PATCH" => c.patch(server.url(path)),
        "DELETE" => c.delete(server.url(path)),
        _ => c.get(server.url(path)),
    }
    .header("x-admin-key", key);
    let req = match body {
        Some(b) => req.json(&b),
        None => req,
    };
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|_| serde_json::json!({ "text": text })),
    )
}

/// The public base URL the tests that track links give the server (`PUBLIC_BASE_URL`).
pub const TRACKED_BASE: &str = "https://go.example.test";

/// Follows a tracked link (handed out on [`TRACKED_BASE`]) on the test server as a browser
/// would: where the redirect leads.
pub async fn follow(server: &Server, link: &str) -> String {
    let path = link
        .strip_prefix(TRACKED_BASE)
        .unwrap_or_else(|| panic!("not a tracked link: {link}"));
    let r = no_follow()
        .get(server.url(path))
        .header(
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302, "{link}");
    r.headers()["location"].to_str().unwrap().to_owned()
}

/// A value from the Prometheus exposition (`/metrics`, public in the tests that call this).
pub async fn metric(c: &reqwest::Client, server: &Server, series: &str) -> f64 {
    let text = c
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    alistach_testkit::prometheus::samples(&text)
        .get(series)
        .copied()
        .unwrap_or_else(|| panic!("{series} missing from /metrics:\n{text}"))
}
