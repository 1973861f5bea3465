//! A small Chrome DevTools Protocol client for the dashboard test: starts Debian's headless
//! Chromium on a private profile and a free port, attaches to one page over the protocol's
//! WebSocket, and drives it as a person would (typing, clicking, pressing Enter), keeping every
//! console message, exception and request the page made.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::support::temp_dir;

/// How long one protocol call or one wait may take.
const PATIENCE: Duration = Duration::from_secs(30);

/// The Chromium to run: `$CHROMIUM`, else the first of Debian's names on `PATH`.
pub fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| {
            ["chromium", "chromium-browser", "google-chrome"]
                .into_iter()
                .map(move |name| dir.join(name))
        })
        .find(|p| p.is_file())
}

/// A headless Chromium with one page, killed (and its profile removed) on drop.
pub struct Browser {
    child: Child,
    profile: PathBuf,
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    session: String,
    next_id: u64,
    /// Every protocol event received so far, in order.
    pub events: Vec<Value>,
}

impl Browser {
    /// Starts `binary` headless and attaches to a new blank page.
    pub async fn launch(binary: &std::path::Path) -> Browser {
        let profile = temp_dir("chromium");
        std::fs::create_dir_all(&profile).unwrap();
        let mut child = Command::new(binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--hide-scrollbars",
                "--lang=en-US",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                "--window-size=1280,900",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .env("LANG", "en_US.UTF-8")
            .env("TZ", "UTC")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
        // Chromium prints its DevTools address on stderr; the rest of stderr is read (and
        // dropped) so the pipe never fills.
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut told = false;
            let mut seen = Vec::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !told && let Some(at) = line.find("ws://") {
                    let _ = tx.send(line[at..].trim().to_owned());
                    told = true;
                } else if !told {
                    seen.push(line);
                }
            }
            if !told {
                let _ = tx.send(format!("no DevTools address; stderr:\n{}", seen.join("\n")));
            }
        });
        let url = rx
            .recv_timeout(PATIENCE)
            .expect("Chromium did not print its DevTools address");
        assert!(url.starts_with("ws://"), "{url}");
        let (ws, _) = tokio_tungstenite::connect_async(url.as_str())
            .await
            .unwrap_or_else(|e| panic!("connect to {url}: {e}"));
        let mut browser = Browser {
            child,
            profile,
            ws,
            session: String::new(),
            next_id: 0,
            events: Vec::new(),
        };
        let target = browser
            .send(None, "Target.createTarget", json!({"url": "about:blank"}))
            .await;
        let attached = browser
            .send(
                None,
                "Target.attachToTarget",
                json!({"targetId": target["targetId"], "flatten": true}),
            )
            .await;
        browser.session = attached["sessionId"].as_str().unwrap().to_owned();
        for domain in ["Runtime", "Log", "Network", "Page"] {
            browser.call(&format!("{domain}.enable"), json!({})).await;
        }
        browser
    }

    /// A protocol call on the page.
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        self.send(Some(&session), method, params).await
    }

    async fn send(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        self.ws
            .send(Message::text(msg.to_string()))
            .await
            .unwrap_or_else(|e| panic!("{method}: {e}"));
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let next = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("{method}: no answer within {PATIENCE:?}"));
            let Some(Ok(Message::Text(text))) = next else {
                match next {
                    Some(Ok(_)) => continue,
                    other => panic!("{method}: the DevTools connection ended: {other:?}"),
                }
            };
            let value: Value = serde_json::from_str(text.as_str()).unwrap();
            if value["id"] == id {
                if let Some(err) = value.get("error") {
                    panic!("{method}: {err}");
                }
                return value["result"].clone();
            }
            if value.get("method").is_some() {
                self.events.push(value);
            }
        }
    }

    /// Evaluates `expression` in the page (awaiting a promise) and answers its JSON value;
    /// an exception fails the test.
    pub async fn eval(&mut self, expression: &str) -> Value {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
            )
            .await;
        if let Some(e) = r.get("exceptionDetails") {
            panic!("{expression}: {e}");
        }
        r["result"]["value"].clone()
    }

    /// Evaluates `expression` until it is truthy; answers its value.
    pub async fn wait_for(&mut self, expression: &str, what: &str) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let v = self.eval(expression).await;
            let truthy = !(v.is_null() || v == json!(false) || v == json!("") || v == json!(0));
            if truthy {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "waited {PATIENCE:?} for {what} ({expression})"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Opens `url` and waits for the document (and its deferred scripts) to load.
    pub async fn navigate(&mut self, url: &str) {
        self.call("Page.navigate", json!({"url": url})).await;
        self.wait_for(
            &format!(
                "document.readyState === 'complete' && location.href.startsWith({})",
                json!(url.split('#').next().unwrap())
            ),
            "the page to load",
        )
        .await;
    }

    /// Clicks the middle of the element `selector` with the mouse, as a person would.
    pub async fn click(&mut self, selector: &str) {
        let at = self
            .wait_for(
                &format!(
                    "(() => {{ const e = document.querySelector({sel}); if (!e || e.offsetParent === null) return null; \
                     e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect(); \
                     return [r.left + r.width / 2, r.top + r.height / 2]; }})()",
                    sel = json!(selector)
                ),
                &format!("{selector} to be visible"),
            )
            .await;
        let (x, y) = (at[0].as_f64().unwrap(), at[1].as_f64().unwrap());
        for kind in ["mouseMoved", "mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
            )
            .await;
        }
    }

    /// Types `text` into the focused element.
    pub async fn type_text(&mut self, text: &str) {
        self.call("Input.insertText", json!({"text": text})).await;
    }

    /// Presses and releases Enter.
    pub async fn press_enter(&mut self) {
        for kind in ["keyDown", "keyUp"] {
            self.call(
                "Input.dispatchKeyEvent",
                json!({"type": kind, "key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13,
                       "nativeVirtualKeyCode": 13, "text": if kind == "keyDown" { "\r" } else { "" }}),
            )
            .await;
        }
    }

    /// The page's viewport: `width` CSS pixels wide, a phone's when `mobile`.
    pub async fn viewport(&mut self, width: u32, height: u32, mobile: bool) {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile}),
        )
        .await;
    }

    /// Emulates the system's colour scheme preference.
    pub async fn color_scheme(&mut self, scheme: &str) {
        self.call(
            "Emulation.setEmulatedMedia",
            json!({"features": [{"name": "prefers-color-scheme", "value": scheme}]}),
        )
        .await;
    }

    /// A PNG of the whole page (beyond the viewport).
    pub async fn screenshot(&mut self) -> Vec<u8> {
        let metrics = self.call("Page.getLayoutMetrics", json!({})).await;
        let size = &metrics["cssContentSize"];
        let shot = self
            .call(
                "Page.captureScreenshot",
                json!({"format": "png", "captureBeyondViewport": true,
                       "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}}),
            )
            .await;
        base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap()
    }

    /// Reads the events that arrived since the last call.
    pub async fn drain(&mut self) {
        // A cheap round trip: every event sent before its answer is read on the way.
        self.eval("1").await;
    }

    /// Errors the page reported: uncaught exceptions, `console.error`, and the browser's own
    /// error entries (failed loads, Content-Security-Policy violations), each once.
    pub fn errors(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| {
                let p = &e["params"];
                match e["method"].as_str()? {
                    "Runtime.exceptionThrown" => Some(format!(
                        "exception: {} {}",
                        p["exceptionDetails"]["text"],
                        p["exceptionDetails"]["exception"]["description"]
                    )),
                    "Runtime.consoleAPICalled"
                        if matches!(p["type"].as_str(), Some("error" | "assert")) =>
                    {
                        Some(format!("console.{}: {}", p["type"], p["args"]))
                    }
                    "Log.entryAdded" if p["entry"]["level"] == "error" => Some(format!(
                        "log ({}): {} {}",
                        p["entry"]["source"], p["entry"]["text"], p["entry"]["url"]
                    )),
                    _ => None,
                }
            })
            .collect()
    }

    /// Forgets the events so far (after a step whose errors the test has checked).
    pub fn forget_events(&mut self) {
        self.events.clear();
    }

    /// Every URL the page requested, in order.
    pub fn request_urls(&self) -> Vec<String> {
        self.events
            .iter()
            .filter(|e| e["method"] == "Network.requestWillBeSent")
            .filter_map(|e| e["params"]["request"]["url"].as_str().map(str::to_owned))
            .collect()
    }

    /// The request headers of every request the page made to a URL starting with `prefix`.
    pub fn request_headers(&self, prefix: &str) -> Vec<Value> {
        self.events
            .iter()
            .filter(|e| e["method"] == "Network.requestWillBeSent")
            .filter(|e| {
                e["params"]["request"]["url"]
                    .as_str()
                    .is_some_and(|u| u.starts_with(prefix))
            })
            .map(|e| e["params"]["request"]["headers"].clone())
            .collect()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
