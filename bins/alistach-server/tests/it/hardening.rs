//! Hardening through the real binary: slow clients cannot hold it, one address cannot take every
//! connection, client identity cannot be forged through X-Forwarded-For, keys are bounded and
//! guessing them is throttled, keyed answers stay out of shared caches, the gateway's own words
//! never reach clients, and unsafe settings are refused or warned about.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use alistach_testkit::gateway::{FakeConfig, FakeGateway, Fault};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::support::{Server, client, metric, run_to_exit};

const ADMIN: &str = "admin-key-0123456789abcdef";
const KEYS: &str = "alice:alice-key-0123456789abcdef";

fn addr(server: &Server) -> SocketAddr {
    server.base.trim_start_matches("http://").parse().unwrap()
}

/// A connection that asks for the 863 KB docs script `pipelined` times through a tiny receive
/// window and never reads: past what the kernel buffers, the server's writes make no progress.
async fn stalled_reader(addr: SocketAddr, pipelined: usize) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(2048).unwrap();
    let mut s = socket.connect(addr).await.unwrap();
    let request = b"GET /docs/rapidoc-min.js HTTP/1.1\r\nhost: x\r\n\r\n".repeat(pipelined);
    s.write_all(&request).await.unwrap();
    s
}

/// A connection that declares a 60 KB body and then sends one byte every half second (inside the
/// body inactivity timeout, so only the request deadline can end it), or nothing at all.
async fn trickler(addr: SocketAddr, trickle: bool) -> Option<u16> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(
        b"POST /api/products/search HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 60000\r\n\r\n{",
    )
    .await
    .ok()?;
    let mut buf = vec![0u8; 4096];
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        if trickle && s.write_all(b" ").await.is_err() {
            break;
        }
        match tokio::time::timeout(Duration::from_millis(500), s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => {
                let head = String::from_utf8_lossy(&buf[..n]).into_owned();
                return head.get(9..12).and_then(|c| c.parse().ok());
            }
            Ok(_) => return None,
            Err(_) => {}
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stalled_readers_and_trickling_writers_are_cut_off_while_others_are_served() {
    let server = Server::start(&[
        ("METRICS_PUBLIC", "true"),
        ("HEADER_READ_TIMEOUT", "2"),
        ("BODY_READ_TIMEOUT", "1"),
        ("RESPONSE_WRITE_TIMEOUT", "2"),
        ("REQUEST_TIMEOUT", "3"),
        ("MAX_CONNECTIONS_PER_IP", "100000"),
    ]);
    let addr = addr(&server);
    let c = client();

    // 130 readers of one answer (the kernel may take it all; the idle timeout closes those)
    // and 20 of eight pipelined answers (7 MB: more than any socket buffer holds).
    let mut readers = Vec::new();
    for i in 0..150 {
        readers.push(stalled_reader(addr, if i < 20 { 8 } else { 1 }).await);
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    while metric(&c, &server, "alistach_http_connections_open").await < 150.0 {
        assert!(
            Instant::now() < deadline,
            "the stalled readers never all connected"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut writers = Vec::new();
    for i in 0..200 {
        writers.push(tokio::spawn(trickler(addr, i % 2 == 0)));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    // A normal client is served promptly while all of them hang on.
    for _ in 0..5 {
        let t = Instant::now();
        let r = c.get(server.url("/health")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    }

    // Every trickler is answered 408 (the silent ones after the body inactivity timeout, the
    // trickling ones at the request deadline) and closed.
    let t = Instant::now();
    let mut statuses = Vec::new();
    for w in writers {
        statuses.push(w.await.unwrap());
    }
    assert!(
        statuses.iter().all(|s| *s == Some(408)),
        "tricklers got {:?}",
        statuses
            .iter()
            .filter(|s| **s != Some(408))
            .collect::<Vec<_>>()
    );
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());

    // The stalled readers are closed by the write timeout (or, once the kernel took the whole
    // answer, by the idle timeout): the server's own count of open connections falls back.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let open = metric(&c, &server, "alistach_http_connections_open").await;
        if open <= 2.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{open} connections still open after the timeouts"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        metric(
            &c,
            &server,
            "alistach_http_timeouts_total{kind=\"response_write\"}"
        )
        .await
            >= 1.0
    );
    assert_eq!(
        metric(
            &c,
            &server,
            "alistach_http_timeouts_total{kind=\"body_read\"}"
        )
        .await,
        200.0
    );
    // A pipelining reader whose connection was cut gets less than it asked for, then the end.
    let mut got = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    let mut r = readers.swap_remove(0);
    while let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(5), r.read(&mut buf)).await {
        if n == 0 {
            break;
        }
        got += n;
    }
    assert!(
        got < 8 * 863_000,
        "read {got} bytes of a connection that was cut"
    );
    drop(readers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_take_every_connection() {
    let server = Server::start(&[("MAX_CONNECTIONS_PER_IP", "5"), ("METRICS_PUBLIC", "true")]);
    let addr = addr(&server);
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(TcpStream::connect(addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The sixth is told why and closed.
    let mut sixth = TcpStream::connect(addr).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), sixth.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 503") && answer.contains("too many open connections"),
        "{answer}"
    );
    // Freeing one lets the next in.
    held.pop();
    let deadline = Instant::now() + Duration::from_secs(5);
    let c = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    loop {
        match c.get(server.url("/health")).send().await {
            Ok(r) if r.status() == 200 => break,
            _ => {
                assert!(Instant::now() < deadline, "no slot came free");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        metric(
            &c,
            &server,
            "alistach_http_connections_refused_total{reason=\"per_ip_cap\"}"
        )
        .await
            >= 1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_identity_is_walked_from_the_right_and_cannot_be_forged() {
    let server = Server::start(&[
        ("MAX_REQUESTS_PER_MINUTE", "2"),
        ("MAX_REQUESTS_PER_SECOND", "1000"),
        ("TRUSTED_PROXIES", "127.0.0.0/8, 10.0.0.0/8"),
    ]);
    let c = client();
    let status = |xff: &'static str| {
        let c = c.clone();
        let url = server.url("/api/categories");
        async move {
            c.get(url)
                .header("x-forwarded-for", xff)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // Different forged prefixes, ports and a trusted hop: all one client, 203.0.113.7.
    assert_eq!(status("6.6.6.6, 203.0.113.7").await, 200);
    assert_eq!(status("7.7.7.7, 203.0.113.7:5555, 10.1.2.3").await, 200);
    assert_eq!(status("203.0.113.7").await, 429);
    // IPv6 clients are one client per /64, bracketed or not, with or without a port.
    assert_eq!(status("2001:db8:1:2::1").await, 200);
    assert_eq!(status("[2001:db8:1:2:ffff::9]:443").await, 200);
    assert_eq!(status("2001:db8:1:2::77").await, 429);
    assert_eq!(status("2001:db8:1:3::1").await, 200);
    // An unreadable right-most entry ends the walk at the proxy: the forged address to its left
    // (which has budget) is not believed, and the proxy's own budget is spent instead.
    assert_eq!(status("198.51.100.9, unknown").await, 200);
    assert_eq!(status("198.51.100.9, not-an-ip").await, 200);
    assert_eq!(status("198.51.100.9, _obfuscated").await, 429);
    assert_eq!(
        status("198.51.100.9").await,
        200,
        "198.51.100.9 itself was never charged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_bounded_and_guessing_them_is_throttled() {
    let server = Server::start(&[
        ("API_KEYS", KEYS),
        ("ADMIN_API_KEY", ADMIN),
        ("AUTH_FAILURES_PER_MINUTE", "3"),
    ]);
    let c = client();
    let get = |key: String| {
        let c = c.clone();
        let url = server.url("/api/categories");
        async move { c.get(url).bearer_auth(key).send().await.unwrap() }
    };
    // No key at all is a plain 401 and spends nothing.
    for _ in 0..5 {
        let r = c.get(server.url("/api/categories")).send().await.unwrap();
        assert_eq!(r.status(), 401);
    }
    // A key longer than any key is refused before it is hashed.
    let r = get("k".repeat(300)).await;
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert!(v["detail"].as_str().unwrap().contains("256 bytes"), "{v}");
    // Two more wrong keys use up the budget of three failures.
    for guess in ["guess-1-0123456789abcdef", "guess-2-0123456789abcdef"] {
        assert_eq!(get(guess.to_owned()).await.status(), 401);
    }
    // Now even the right key is not checked: 429 with a Retry-After, on admin routes too.
    let r = get("alice-key-0123456789abcdef".to_owned()).await;
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let v: Value = r.json().await.unwrap();
    assert!(
        v["detail"]
            .as_str()
            .unwrap()
            .contains("failed authentication"),
        "{v}"
    );
    let r = c
        .get(server.url("/api/cache/stats"))
        .header("x-admin-key", ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    // Public routes are untouched.
    assert_eq!(
        c.get(server.url("/health")).send().await.unwrap().status(),
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_that_needed_a_key_are_private() {
    let keyed = Server::start(&[("API_KEYS", KEYS), ("ADMIN_API_KEY", ADMIN)]);
    let open = Server::start(&[]);
    let c = client();
    let path = "/api/products/search?keywords=lamp&page_size=3";
    let r = c
        .get(keyed.url(path))
        .bearer_auth("alice-key-0123456789abcdef")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cc = r.headers()["cache-control"].to_str().unwrap().to_owned();
    assert!(cc.starts_with("private, max-age="), "{cc}");
    // The 401 for a missing key is private too, and admin answers always are.
    let r = c.get(keyed.url(path)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .starts_with("private")
    );
    let r = c
        .get(keyed.url("/api/cache/stats"))
        .header("x-admin-key", ADMIN)
        .send()
        .await
        .unwrap();
    assert!(
        r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("private"),
        "{:?}",
        r.headers()
    );
    // Public answers, and every answer of an open deployment, may be shared.
    let r = c.get(keyed.url("/health")).send().await.unwrap();
    assert!(
        !r.headers()
            .get("cache-control")
            .is_some_and(|v| v.to_str().unwrap().contains("private"))
    );
    let r = c.get(open.url(path)).send().await.unwrap();
    let cc = r.headers()["cache-control"].to_str().unwrap();
    assert!(cc.starts_with("max-age="), "{cc}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateways_own_words_never_reach_clients() {
    let fake = FakeGateway::start(FakeConfig::new(
        "fake-key-1",
        "fake-gateway-app-secret-9f3a",
    ))
    .await;
    let server = Server::start(&[
        ("ALIEXPRESS_APP_KEY", "fake-key-1"),
        ("ALIEXPRESS_APP_SECRET", "fake-gateway-app-secret-9f3a"),
        ("ALIEXPRESS_API_URL", &fake.url()),
        ("ALIEXPRESS_TIMEOUT", "2"),
    ]);
    fake.fail_always(Fault::error(
        "InsufficientPermission",
        "The caller ip 203.0.113.250 is not in the whitelist of app fake-key-1",
    ));
    let r = client()
        .post(server.url("/api/products/search"))
        .json(&json!({"keywords": "lamp"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    let text = r.text().await.unwrap();
    assert!(!text.contains("203.0.113.250"), "{text}");
    assert!(!text.contains("whitelist"), "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["upstream"]["kind"], "permission_denied", "{v}");
    assert_eq!(v["upstream"]["code"], "InsufficientPermission", "{v}");
    assert!(
        v["detail"].as_str().unwrap().contains("not permitted"),
        "{v}"
    );
}

#[test]
fn unsafe_settings_are_refused_or_warned_about() {
    // A plain-http gateway that is not this machine would carry signed calls in the clear.
    let (code, _, err) = run_to_exit(
        &[
            ("ALIEXPRESS_API_URL", "http://api-sg.aliexpress.com/sync"),
            ("TRUSTED_PROXIES", "10.0.0.0/8, proxy.internal"),
        ],
        &["--check-config"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("ALIEXPRESS_API_URL must be an https URL"),
        "{err}"
    );
    assert!(err.contains("proxy.internal"), "{err}");
    let (code, out, err) = run_to_exit(
        &[
            ("ALIEXPRESS_API_URL", "http://127.0.0.1:9/sync"),
            ("TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.1"),
        ],
        &["--check-config"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("trusted_proxies = 10.0.0.0/8,192.168.1.1"),
        "{out}"
    );

    // The example PUBLIC_BASE_URL starts, with a warning that says what to do.
    let server = Server::start(&[]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !server
        .logs()
        .contains("PUBLIC_BASE_URL is the example default")
    {
        assert!(
            Instant::now() < deadline,
            "no warning in:\n{}",
            server.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let quiet = Server::start(&[("PUBLIC_BASE_URL", "https://gw.example.org")]);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !quiet
            .logs()
            .contains("PUBLIC_BASE_URL is the example default")
    );
}
