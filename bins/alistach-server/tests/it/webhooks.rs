//! Webhooks through the binary: endpoints managed by the admin API, order events from orders
//! placed and moved at the fake gateway, signed per Standard Webhooks (checked here with an
//! independent HMAC), retried while the receiver fails, and never lost: the server is killed
//! (SIGKILL) while the receiver is down, restarted, and every event still arrives, once per id.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alistach_testkit::gateway::{FakeConfig, FakeGateway, NewOrder};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::support::{Server, admin_call, temp_dir};

const KEY: &str = "34567890";
const SECRET: &str = "fake-gateway-app-secret-9f3a";
const ADMIN: &str = "admin-key-for-webhooks-0123456";

/// One request the receiver got.
#[derive(Clone, Debug)]
pub(crate) struct Received {
    pub(crate) id: String,
    pub(crate) timestamp: String,
    pub(crate) signature: String,
    pub(crate) body: Vec<u8>,
    /// The status the receiver answered.
    pub(crate) answered: u16,
}

/// A webhook receiver on 127.0.0.1 answering every POST with the status it is set to.
pub(crate) struct Receiver {
    addr: SocketAddr,
    status: Arc<AtomicU16>,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    pub(crate) async fn start(status: u16) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let status = Arc::new(AtomicU16::new(status));
        let got = Arc::new(Mutex::new(Vec::new()));
        let (s, g) = (status.clone(), got.clone());
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let (s, g) = (s.clone(), g.clone());
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    let (head_end, length) = loop {
                        let Ok(n) = sock.read(&mut chunk).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                            let length = head
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length:"))
                                .and_then(|v| v.trim().parse::<usize>().ok())
                                .unwrap_or(0);
                            break (end + 4, length);
                        }
                    };
                    while buf.len() < head_end + length {
                        let Ok(n) = sock.read(&mut chunk).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                    }
                    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
                    let header = |name: &str| {
                        head.lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.trim()
                                    .eq_ignore_ascii_case(name)
                                    .then(|| v.trim().to_owned())
                            })
                            .unwrap_or_default()
                    };
                    let answered = s.load(Ordering::SeqCst);
                    g.lock().unwrap().push(Received {
                        id: header("webhook-id"),
                        timestamp: header("webhook-timestamp"),
                        signature: header("webhook-signature"),
                        body: buf[head_end..head_end + length].to_vec(),
                        answered,
                    });
                    let reply = format!(
                        "HTTP/1.1 {answered} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                    );
                    let _ = sock.write_all(reply.as_bytes()).await;
                });
            }
        });
        Receiver { addr, status, got }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}/hooks", self.addr)
    }

    pub(crate) fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until `done` holds for what was received, at most 30 s.
    pub(crate) async fn wait(
        &self,
        what: &str,
        done: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let got = self.received();
            if done(&got) {
                return got;
            }
            assert!(Instant::now() < deadline, "{what}: {got:#?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The Standard Webhooks signature check, written here from the specification (independent
/// of the server's signing library).
pub(crate) fn verify(secret: &str, r: &Received) {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{}.", r.id, r.timestamp).as_bytes());
    mac.update(&r.body);
    let expected = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    assert!(
        r.signature.split(' ').any(|s| s == expected),
        "bad signature {} for {}",
        r.signature,
        r.id
    );
    let ts: i64 = r.timestamp.parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now - ts).abs() < 300, "timestamp {ts} is not now");
}

fn start(fake: &FakeGateway, data: &str, allow_private: bool) -> Server {
    let url = fake.url();
    let env = [
        ("ALIEXPRESS_APP_KEY", KEY),
        ("ALIEXPRESS_APP_SECRET", SECRET),
        ("ALIEXPRESS_API_URL", url.as_str()),
        ("ALIEXPRESS_TIMEOUT", "5"),
        ("ADMIN_API_KEY", ADMIN),
        ("DATA_DIR", data),
        ("WEBHOOK_TIMEOUT", "2"),
        (
            "WEBHOOK_ALLOW_PRIVATE",
            if allow_private { "true" } else { "false" },
        ),
    ];
    Server::start(&env)
}

async fn admin(server: &Server, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    admin_call(server, ADMIN, method, path, body).await
}

fn event_types(got: &[Received], answered: u16) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for r in got.iter().filter(|r| r.answered == answered) {
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        out.entry(body["type"].as_str().unwrap().to_owned())
            .or_default()
            .push(r.id.clone());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn order_events_are_signed_retried_and_never_lost_across_a_sigkill() {
    let fake = FakeGateway::start(FakeConfig::new(KEY, SECRET)).await;
    let dir = temp_dir("webhooks");
    let data = dir.display().to_string();
    // The receiver is "down": it answers 503 until told otherwise.
    let receiver = Receiver::start(503).await;
    let mut server = start(&fake, &data, true);

    // Bad endpoints are 422s naming the field.
    for (body, field) in [
        (
            json!({"url": "ftp://x.example/", "events": ["order.created"]}),
            "url",
        ),
        (json!({"url": receiver.url(), "events": []}), "events"),
        (
            json!({"url": receiver.url(), "events": ["order.deleted"]}),
            "events",
        ),
    ] {
        let (status, problem) = admin(&server, "POST", "/api/admin/webhooks", Some(body)).await;
        assert_eq!(status, 422, "{problem}");
        assert!(problem.to_string().contains(field), "{problem}");
    }
    let (status, created) = admin(
        &server,
        "POST",
        "/api/admin/webhooks",
        Some(json!({
            "url": receiver.url(),
            "events": ["order.created", "order.status_changed", "order.settled"],
            "description": "revenue feed"
        })),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["data"]["id"].as_u64().unwrap();
    let secret = created["data"]["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    // The secret is shown once, never again, and never logged.
    let (_, listed) = admin(&server, "GET", "/api/admin/webhooks", None).await;
    assert!(!listed.to_string().contains(&secret), "{listed}");
    assert!(listed["data"]["webhooks"][0]["secret"].is_null());

    // Two orders at the fake, synced: two order.created events, attempted and refused.
    let a = fake.place_order(NewOrder::new(1_005_006_000_000_001, 1113, 77));
    let b = fake.place_order(NewOrder::new(1_005_006_000_000_002, 2000, 140));
    let (status, synced) = admin(&server, "POST", "/api/admin/orders/sync", None).await;
    assert_eq!(status, 200, "{synced}");
    receiver
        .wait("both events attempted while the receiver is down", |got| {
            event_types(got, 503)
                .get("order.created")
                .map_or(0, Vec::len)
                >= 2
        })
        .await;
    let (_, deliveries) = admin(
        &server,
        "GET",
        &format!("/api/admin/webhooks/{id}/deliveries"),
        None,
    )
    .await;
    let list = deliveries["data"]["deliveries"].as_array().unwrap().clone();
    assert_eq!(list.len(), 2, "{deliveries}");
    for d in &list {
        assert_eq!(d["state"], "pending", "{d}");
        assert_eq!(d["attempt_log"][0]["status"], 503, "{d}");
    }

    // Killed without a chance to flush anything; the receiver comes back; a new process
    // delivers what is pending (made due now by the retry endpoint rather than waiting out
    // the backoff).
    server.kill_hard();
    receiver.status.store(200, Ordering::SeqCst);
    let server = start(&fake, &data, true);
    for d in &list {
        let (status, retried) = admin(
            &server,
            "POST",
            &format!("/api/admin/webhooks/{id}/deliveries/{}/retry", d["id"]),
            None,
        )
        .await;
        assert_eq!(status, 200, "{retried}");
    }
    let got = receiver
        .wait("both events delivered after the restart", |got| {
            event_types(got, 200)
                .get("order.created")
                .map_or(0, Vec::len)
                >= 2
        })
        .await;
    for r in &got {
        verify(&secret, r);
    }
    // Every attempt of one event carried the same id, and each id was acknowledged once.
    let ok = event_types(&got, 200);
    let mut ids = ok["order.created"].clone();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 2, "{ok:?}");
    let refused = event_types(&got, 503);
    for i in &ids {
        assert!(
            refused["order.created"].contains(i),
            "retried under the same id: {i}"
        );
    }
    let bodies: Vec<Value> = got
        .iter()
        .filter(|r| r.answered == 200)
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    let subs: Vec<String> = bodies
        .iter()
        .map(|b| b["data"]["sub_order_id"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        subs.contains(&a.to_string()) && subs.contains(&b.to_string()),
        "{bodies:?}"
    );
    assert!(bodies.iter().all(|b| b["data"]["paid_amount"].is_string()));

    // A status change and a settlement, synced: their events arrive, once each.
    assert!(fake.set_order_status(a, "Completed Settlement"));
    let (status, _) = admin(&server, "POST", "/api/admin/orders/sync", None).await;
    assert_eq!(status, 200);
    let got = receiver
        .wait("the status change and the settlement", |got| {
            let ok = event_types(got, 200);
            ok.contains_key("order.status_changed") && ok.contains_key("order.settled")
        })
        .await;
    let ok = event_types(&got, 200);
    assert_eq!(ok["order.status_changed"].len(), 1, "{ok:?}");
    assert_eq!(ok["order.settled"].len(), 1, "{ok:?}");
    // Syncing again changes nothing and sends nothing.
    let before = receiver.received().len();
    admin(&server, "POST", "/api/admin/orders/sync", None).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.received().len(), before);

    // The test event; then disabled, nothing more goes out; deleted, it is gone.
    let (status, test) = admin(
        &server,
        "POST",
        &format!("/api/admin/webhooks/{id}/test"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{test}");
    receiver
        .wait("the test event", |got| {
            event_types(got, 200).contains_key("webhook.test")
        })
        .await;
    let (status, disabled) = admin(
        &server,
        "PATCH",
        &format!("/api/admin/webhooks/{id}"),
        Some(json!({"enabled": false})),
    )
    .await;
    assert_eq!(status, 200, "{disabled}");
    assert_eq!(disabled["data"]["enabled"], false);
    let (status, _) = admin(
        &server,
        "DELETE",
        &format!("/api/admin/webhooks/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = admin(&server, "GET", &format!("/api/admin/webhooks/{id}"), None).await;
    assert_eq!(status, 404);
    assert!(
        !server.logs().contains(&secret),
        "the secret reached the logs"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn private_targets_are_refused_without_webhook_allow_private() {
    let fake = FakeGateway::start(FakeConfig::new(KEY, SECRET)).await;
    let dir = temp_dir("webhooks-private");
    let server = start(&fake, &dir.display().to_string(), false);
    for url in [
        "http://127.0.0.1:9/x",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/x",
        "http://localhost/x",
        "http://10.0.0.8/x",
    ] {
        let (status, problem) = admin(
            &server,
            "POST",
            "/api/admin/webhooks",
            Some(json!({"url": url, "events": ["order.created"]})),
        )
        .await;
        assert_eq!(status, 422, "{url}: {problem}");
        assert!(
            problem.to_string().contains("WEBHOOK_ALLOW_PRIVATE"),
            "{problem}"
        );
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
