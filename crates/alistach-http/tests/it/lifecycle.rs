//! Graceful shutdown: in-flight requests finish, new connections are refused.

use std::time::Duration;

use alistach_http::HttpConfig;

use crate::support::{Answer, TestServer};

#[tokio::test]
async fn shutdown_lets_an_in_flight_request_finish() {
    let mut s = TestServer::start(HttpConfig::default()).await;
    let client = s.client.clone();
    let url = s.url("/api/products/search");
    let in_flight = tokio::spawn(async move {
        client
            .post(url)
            .header("content-type", "application/json")
            .body(r#"{"keywords":"slow"}"#)
            .send()
            .await
    });
    tokio::time::timeout(Duration::from_secs(10), s.api.entered_slow.notified())
        .await
        .expect("request reached the catalog");

    let mut server = s.begin_shutdown();
    let early = tokio::time::timeout(Duration::from_millis(150), &mut server).await;
    assert!(
        early.is_err(),
        "the server must wait for the in-flight request"
    );

    s.api.release_slow.notify_one();
    let resp = tokio::time::timeout(Duration::from_secs(10), in_flight)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let a = Answer::of(resp).await;
    assert_eq!(a.status, 200, "{}", a.json);
    assert_eq!(a.json["data"]["products"][0]["product_title"], "slow 1");

    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("serve returned")
        .unwrap()
        .unwrap();
    let fresh = reqwest::Client::builder().no_proxy().build().unwrap();
    assert!(
        fresh.get(s.url("/health")).send().await.is_err(),
        "no new connections after shutdown"
    );
}

#[tokio::test]
async fn shutdown_closes_idle_keep_alive_connections_at_once() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // A grace period far longer than the test may take: only closing the idle connections
    // lets the server return in time.
    let mut s = TestServer::start(HttpConfig {
        shutdown_grace: Duration::from_secs(60),
        ..HttpConfig::default()
    })
    .await;
    let addr = s.base.trim_start_matches("http://").to_owned();
    let mut idle = Vec::new();
    for _ in 0..5 {
        let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
        tcp.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let mut head = [0u8; 12];
        tcp.read_exact(&mut head).await.unwrap();
        assert_eq!(&head, b"HTTP/1.1 200");
        idle.push(tcp);
    }
    let server = s.begin_shutdown();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("serve returned without waiting out the grace period")
        .unwrap()
        .unwrap();
    for mut tcp in idle {
        let mut rest = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut rest)).await;
        assert!(read.is_ok(), "each idle connection is closed");
    }
}

#[tokio::test]
async fn shutdown_gives_up_after_the_grace_period() {
    let mut s = TestServer::start(HttpConfig {
        shutdown_grace: Duration::from_millis(200),
        ..HttpConfig::default()
    })
    .await;
    let client = s.client.clone();
    let url = s.url("/api/products/search");
    let in_flight = tokio::spawn(async move {
        client
            .post(url)
            .header("content-type", "application/json")
            .body(r#"{"keywords":"slow"}"#)
            .send()
            .await
    });
    tokio::time::timeout(Duration::from_secs(10), s.api.entered_slow.notified())
        .await
        .unwrap();
    let server = s.begin_shutdown();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("serve returned after the grace period")
        .unwrap()
        .unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(10), in_flight)
        .await
        .unwrap()
        .unwrap();
    assert!(
        outcome.is_err(),
        "the abandoned request's connection is closed"
    );
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let config = HttpConfig {
        header_read_timeout: Duration::from_millis(300),
        metrics_public: true,
        ..HttpConfig::default()
    };
    let s = TestServer::start(config).await;
    let addr = s.base.trim_start_matches("http://").to_owned();
    let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let started = std::time::Instant::now();
    tcp.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut out)).await;
    assert!(
        read.is_ok(),
        "the server must close a connection whose headers never complete"
    );
    // Not before the timeout, and within a sweep (a quarter of it) and some scheduling after.
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 408"),
        "{text}"
    );

    // A keep-alive connection is left alone while its request is answered, and closed once it
    // sits idle for the timeout after its answer.
    let mut idle = tokio::net::TcpStream::connect(&addr).await.unwrap();
    idle.write_all(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), idle.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "an idle keep-alive connection must be closed");
    assert!(
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"),
        "the answer comes first"
    );

    // Both are counted, and the server itself is unaffected.
    let metrics = s.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l == "alistach_http_timeouts_total{kind=\"header_read\"} 2"),
        "{metrics}"
    );
    assert_eq!(s.get("/health").await.status(), 200);
}

/// A burst of new clients larger than `TcpListener::bind`'s backlog of 128, all connecting
/// before the server accepts one: every handshake completes and waits in the backlog. With a
/// backlog of 128 the kernel drops the handshakes beyond it, and keeps dropping their retries
/// (TCP's timer: one second, then three) while nothing is accepted, so they never complete
/// within the generous wait below; the wait only has to outlast a slow, shared CI machine.
#[tokio::test]
async fn a_burst_of_new_connections_waits_in_the_backlog() {
    // 400 clients and 400 accepted sockets stay under a 1,024 open-files limit.
    const BURST: usize = 400;
    const WAIT: Duration = Duration::from_secs(4);
    let somaxconn = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .unwrap_or(4096);
    assert!(
        somaxconn > BURST,
        "net.core.somaxconn is {somaxconn}; this test needs more than {BURST}"
    );
    assert!(alistach_http::LISTEN_BACKLOG as usize > BURST);
    let listener = alistach_http::listen(([127, 0, 0, 1], 0).into()).unwrap();
    let addr = listener.local_addr().unwrap();
    // Connect all at once, and wait for every connect; nothing is accepted meanwhile.
    let mut connects = tokio::task::JoinSet::new();
    for _ in 0..BURST {
        connects.spawn(tokio::time::timeout(
            WAIT,
            tokio::net::TcpStream::connect(addr),
        ));
    }
    let mut clients = Vec::new();
    while let Some(done) = connects.join_next().await {
        match done.unwrap() {
            Ok(Ok(stream)) => clients.push(stream),
            Ok(Err(e)) => panic!("connect failed: {e}"),
            Err(_) => {}
        }
    }
    assert_eq!(
        clients.len(),
        BURST,
        "connects not completed within {WAIT:?}: the backlog dropped their handshakes"
    );
    // Every one is queued for the accept loop, its handshake done.
    let mut accepted = Vec::new();
    let all = async {
        while accepted.len() < BURST {
            accepted.push(listener.accept().await.unwrap());
        }
    };
    let in_time = tokio::time::timeout(WAIT, all).await;
    assert!(
        in_time.is_ok(),
        "accepted {} of {BURST} queued connections",
        accepted.len()
    );
}
