//! Access policy through the real binary: exact per-client limits, one global limit across two
//! processes sharing a real redis-server, fall-back when Redis dies, honest headers, forged
//! X-Forwarded-For ignored, and a slow-header client cut off.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use alistach_testkit::redis_server::RedisServer;
use serde_json::Value;

use crate::support::{Server, client};

const KEYS: &str = "alice:alice-key-0123456789abcdef,bob:bob-key-0123456789abcdef0";

async fn categories(
    c: &reqwest::Client,
    s: &Server,
    key: &str,
    forwarded: Option<&str>,
) -> reqwest::Response {
    let mut r = c.get(s.url("/api/categories")).bearer_auth(key);
    if let Some(f) = forwarded {
        r = r.header("x-forwarded-for", f);
    }
    r.send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_the_limit_passes_with_honest_headers_and_other_clients_are_unaffected() {
    let server = Server::start(&[
        ("API_KEYS", KEYS),
        ("MAX_REQUESTS_PER_MINUTE", "7"),
        ("MAX_REQUESTS_PER_SECOND", "1000"),
    ]);
    let c = client();
    let mut admitted = 0;
    for i in 0..12 {
        let r = categories(&c, &server, "alice-key-0123456789abcdef", None).await;
        let h = r.headers().clone();
        assert!(h.contains_key("ratelimit-policy"), "no RateLimit-Policy");
        assert_eq!(h["x-ratelimit-limit"], "7");
        if r.status() == 200 {
            admitted += 1;
            assert_eq!(
                h["x-ratelimit-remaining"].to_str().unwrap(),
                (7 - admitted).to_string(),
                "request {i}"
            );
            assert!(
                h["ratelimit"]
                    .to_str()
                    .unwrap()
                    .contains(&format!("r={}", 7 - admitted))
            );
        } else {
            assert_eq!(r.status(), 429);
            assert!(
                r.headers()["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("application/problem+json")
            );
            let retry: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
            // 7 per minute: the next slot opens 60/7 ≈ 8.6 s after the burst began (less the
            // time the burst took).
            assert!((6..=9).contains(&retry), "Retry-After {retry}");
            let v: Value = r.json().await.unwrap();
            assert!(v["detail"].as_str().unwrap().contains("rate limit"), "{v}");
        }
    }
    assert_eq!(admitted, 7);
    // Bob has his own budget.
    assert_eq!(
        categories(&c, &server, "bob-key-0123456789abcdef0", None)
            .await
            .status(),
        200
    );
    // Public endpoints are not limited.
    assert_eq!(
        c.get(server.url("/health")).send().await.unwrap().status(),
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_x_forwarded_for_from_an_untrusted_peer_changes_nothing() {
    let server = Server::start(&[
        ("MAX_REQUESTS_PER_MINUTE", "3"),
        ("MAX_REQUESTS_PER_SECOND", "1000"),
    ]);
    let c = client();
    let mut ok = 0;
    for i in 0..8 {
        let forged = format!("203.0.113.{i}");
        let r = c
            .get(server.url("/api/categories"))
            .header("x-forwarded-for", forged)
            .send()
            .await
            .unwrap();
        if r.status() == 200 {
            ok += 1;
        } else {
            assert_eq!(r.status(), 429);
        }
    }
    assert_eq!(ok, 3, "a forged header must not buy a fresh budget");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x_forwarded_for_counts_when_the_peer_is_a_trusted_proxy() {
    let server = Server::start(&[
        ("MAX_REQUESTS_PER_MINUTE", "2"),
        ("MAX_REQUESTS_PER_SECOND", "1000"),
        ("TRUSTED_PROXIES", "127.0.0.1"),
    ]);
    let c = client();
    for ip in ["198.51.100.1", "198.51.100.2"] {
        for _ in 0..2 {
            let r = c
                .get(server.url("/api/categories"))
                .header("x-forwarded-for", ip)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{ip}");
        }
        let r = c
            .get(server.url("/api/categories"))
            .header("x-forwarded-for", ip)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 429, "{ip}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_sharing_redis_admit_the_limit_once_and_survive_its_death() {
    let Some(mut redis) = RedisServer::start_or_skip("two_processes_sharing_redis") else {
        return;
    };
    let url = redis.url();
    let env = [
        ("REDIS_URL", url.as_str()),
        ("MAX_REQUESTS_PER_MINUTE", "10"),
        ("MAX_REQUESTS_PER_SECOND", "1000"),
        ("API_KEYS", KEYS),
    ];
    let one = Server::start(&env);
    let two = Server::start(&env);
    let c = client();
    let mut admitted = 0;
    for i in 0..30 {
        let s = if i % 2 == 0 { &one } else { &two };
        let r = categories(&c, s, "alice-key-0123456789abcdef", None).await;
        match r.status().as_u16() {
            200 => admitted += 1,
            429 => {}
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(
        admitted, 10,
        "two instances must enforce one global limit, not twice it"
    );

    // Redis dies: every request still gets an answer (local limits), never a 5xx.
    redis.kill();
    let t = Instant::now();
    let mut statuses = Vec::new();
    for i in 0..20 {
        let s = if i % 2 == 0 { &one } else { &two };
        statuses.push(
            categories(&c, s, "bob-key-0123456789abcdef0", None)
                .await
                .status()
                .as_u16(),
        );
    }
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 429),
        "{statuses:?}"
    );
    assert!(statuses.contains(&200), "{statuses:?}");
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "a dead Redis made requests slow: {:?}",
        t.elapsed()
    );
}

#[test]
fn a_slow_header_client_is_cut_off_while_others_are_served() {
    let server = Server::start(&[]);
    let addr = server.base.trim_start_matches("http://").to_owned();
    let mut slow = TcpStream::connect(&addr).unwrap();
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    // A normal client is served meanwhile.
    let mut fast = TcpStream::connect(&addr).unwrap();
    fast.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    fast.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // The slow one never finishes its head and is disconnected by the header-read timeout.
    let t = Instant::now();
    let mut rest = Vec::new();
    let _ = slow.read_to_end(&mut rest);
    let waited = t.elapsed();
    assert!(
        waited < Duration::from_secs(25),
        "slow client held the connection for {waited:?}"
    );
    assert!(!String::from_utf8_lossy(&rest).contains("200 OK"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_can_have_its_own_limits_in_the_config_file() {
    let dir = std::env::temp_dir().join(format!("alistach-rl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("limits.toml");
    std::fs::write(&path, "max_requests_per_minute = 3\nmax_requests_per_second = 1000\n[rate_limits.bob]\nper_minute = 6\n").unwrap();
    let server = Server::start_with_args(
        &[
            ("API_KEYS", KEYS),
            ("MAX_REQUESTS_PER_MINUTE", ""),
            ("MAX_REQUESTS_PER_SECOND", ""),
        ],
        &["--config", path.to_str().unwrap()],
    );
    let c = client();
    let mut admitted = (0, 0);
    for _ in 0..10 {
        admitted.0 += u32::from(
            categories(&c, &server, "alice-key-0123456789abcdef", None)
                .await
                .status()
                == 200,
        );
        let r = categories(&c, &server, "bob-key-0123456789abcdef0", None).await;
        if r.status() == 200 {
            admitted.1 += 1;
            assert!(
                r.headers()["ratelimit-policy"]
                    .to_str()
                    .unwrap()
                    .contains("q=6"),
                "{:?}",
                r.headers()
            );
        }
    }
    assert_eq!(admitted, (3, 6));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn oversized_urls_and_headers_are_refused_and_idle_connections_closed() {
    let server = Server::start(&[("HEADER_READ_TIMEOUT", "1")]);
    let addr = server.base.trim_start_matches("http://").to_owned();
    let exchange = |request: &[u8]| {
        let mut s = TcpStream::connect(&addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(request).unwrap();
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    };
    let long_url = format!(
        "GET /api/products/search?keywords={} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "a".repeat(10_000)
    );
    let answer = exchange(long_url.as_bytes());
    assert!(
        answer.starts_with("HTTP/1.1 414"),
        "{}",
        &answer[..answer.len().min(200)]
    );
    assert!(answer.contains("application/problem+json"));

    let huge_header = format!(
        "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "b".repeat(40_000)
    );
    let answer = exchange(huge_header.as_bytes());
    assert!(
        answer.starts_with("HTTP/1.1 431"),
        "{}",
        &answer[..answer.len().min(200)]
    );

    // A keep-alive connection left idle is closed by the header-read timeout.
    let mut idle = TcpStream::connect(&addr).unwrap();
    idle.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = idle.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let t = Instant::now();
    let mut rest = Vec::new();
    let _ = idle.read_to_end(&mut rest);
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "idle connection kept open for {:?}",
        t.elapsed()
    );
}
