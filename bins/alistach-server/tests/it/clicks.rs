//! Click tracking through the real binary: with `LINK_TRACKING=redirect` every affiliate link
//! handed out (searches, details, hot, similar and promotion products, both link endpoints;
//! mock and real mode) is a
//! signed `/r/{token}` link on `PUBLIC_BASE_URL`; following it answers 302 to the real affiliate
//! link and records the click off the request path (seen in `/api/admin/clicks` and
//! `/metrics`); HEAD, link previews, bots and scripts are redirected but not counted; an altered
//! token is 404; a generated key survives a restart, and so do the clicks (SQLite under
//! `DATA_DIR`); `direct` mode is unchanged.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use alistach_testkit::gateway::{FakeConfig, FakeGateway};
use alistach_testkit::prometheus;
use serde_json::{Value, json};

use crate::support::{Server, client, no_follow, run_to_exit};

const ADMIN: &str = "admin-key-for-clicks-abcdefghij";
const BASE: &str = "https://go.example.test";
const KEY: &str = "link-signing-key-for-tests-0123456789";
const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
const MOCK_PREFIX: &str = "https://mock.alistach.invalid/";

/// A fresh `DATA_DIR` under the system's temporary directory, removed on drop.
struct DataDir(String);

impl DataDir {
    fn new(name: &str) -> DataDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "alistach-clicks-{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        DataDir(dir.to_str().unwrap().to_owned())
    }

    fn path(&self) -> &std::path::Path {
        std::path::Path::new(&self.0)
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn redirect_env<'a>(
    data: &'a DataDir,
    extra: &[(&'static str, &'a str)],
) -> Vec<(&'static str, &'a str)> {
    let mut env = vec![
        ("LINK_TRACKING", "redirect"),
        ("PUBLIC_BASE_URL", BASE),
        ("LINK_SIGNING_KEY", KEY),
        ("ADMIN_API_KEY", ADMIN),
        ("DATA_DIR", data.0.as_str()),
    ];
    env.extend_from_slice(extra);
    env
}

/// The path of a tracked link on `BASE` (the test server listens elsewhere).
fn tracked_path(link: &str) -> String {
    let path = link
        .strip_prefix(BASE)
        .unwrap_or_else(|| panic!("not a tracked link on {BASE}: {link}"));
    assert!(path.starts_with("/r/"), "{link}");
    let token = &path[3..];
    assert!(
        !token.is_empty()
            && token.len() <= 200
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{link}"
    );
    path.to_owned()
}

async fn json_ok(r: reqwest::RequestBuilder) -> Value {
    let r = r.send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// Every affiliate link of one kind of answer: the products' promotion links, or the link
/// endpoints' affiliate URLs.
fn links(v: &Value) -> Vec<String> {
    let data = &v["data"];
    let mut out: Vec<String> = data["products"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["promotion_link"].as_str().map(str::to_owned))
        .collect();
    out.extend(
        data["affiliate_links"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|l| l["affiliate_url"].as_str().unwrap().to_owned()),
    );
    // The per-input results repeat each converted input's link.
    let results: Vec<String> = data["results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["affiliate_url"].as_str().map(str::to_owned))
        .collect();
    assert!(results.iter().all(|r| out.contains(r)), "{v}");
    out.extend(results);
    out
}

/// A product the catalog knows (the second of a search), as its id and its page URL.
async fn item(c: &reqwest::Client, server: &Server) -> (String, String) {
    let search =
        json_ok(c.get(server.url("/api/products/search?keywords=earbuds&page_size=5"))).await;
    let id = search["data"]["products"][1]["product_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let url = format!("https://www.aliexpress.com/item/{id}.html");
    (id, url)
}

/// The links of every kind of answer that hands them out, labelled.
async fn links_everywhere(
    c: &reqwest::Client,
    server: &Server,
) -> Vec<(&'static str, Vec<String>)> {
    let search =
        json_ok(c.get(server.url("/api/products/search?keywords=earbuds&page_size=5"))).await;
    let posted = json_ok(
        c.post(server.url("/api/products/search"))
            .json(&json!({"keywords": "earbuds", "page_size": 3})),
    )
    .await;
    let hot = json_ok(c.get(server.url("/api/products/hot?keywords=earbuds&page_size=3"))).await;
    let id = search["data"]["products"][0]["product_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let details = json_ok(
        c.get(server.url("/api/products/details"))
            .query(&[("product_ids", id.as_str())]),
    )
    .await;
    let (_, item_url) = item(c, server).await;
    let one = json_ok(
        c.get(server.url("/api/affiliate/link"))
            .query(&[("url", item_url.as_str())]),
    )
    .await;
    let many =
        json_ok(c.post(server.url("/api/affiliate/links")).json(
            &json!({"urls": [item_url, format!("https://www.aliexpress.com/item/{id}.html")]}),
        ))
        .await;
    let similar =
        json_ok(c.get(server.url(&format!("/api/products/similar?product_id={id}")))).await;
    let promoted = json_ok(
        c.get(server.url("/api/promotions/products?promotion_name=Hot%20Product&page_size=3")),
    )
    .await;
    vec![
        ("search", links(&search)),
        ("search (POST)", links(&posted)),
        ("hot", links(&hot)),
        ("details", links(&details)),
        ("link", links(&one)),
        ("links", links(&many)),
        ("similar", links(&similar)),
        ("promotion products", links(&promoted)),
    ]
}

async fn follow(
    c: &reqwest::Client,
    server: &Server,
    path: &str,
    agent: Option<&str>,
) -> reqwest::Response {
    let mut req = c.get(server.url(path));
    if let Some(agent) = agent {
        req = req.header("user-agent", agent);
    }
    req.send().await.unwrap()
}

async fn click_summary(c: &reqwest::Client, server: &Server) -> Value {
    let r = c
        .get(server.url("/api/admin/clicks"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["data"].clone()
}

/// The summary once `recorded` reaches `n` (clicks are written off the request path).
async fn summary_when_recorded(c: &reqwest::Client, server: &Server, n: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = click_summary(c, server).await;
        if s["since_start"]["recorded"] == n || Instant::now() > deadline {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn scrape(c: &reqwest::Client, server: &Server) -> HashMap<String, f64> {
    let r = c
        .get(server.url("/metrics"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    prometheus::promtool_check_or_skip("clicks::scrape", &text);
    prometheus::samples(&text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_mode_tracks_every_link_and_counts_only_people() {
    let data = DataDir::new("people");
    let server = Server::start(&redirect_env(&data, &[]));
    let c = client();
    let nf = no_follow();

    let mut first_of_each = Vec::new();
    for (kind, links) in links_everywhere(&c, &server).await {
        assert!(!links.is_empty(), "{kind} handed out no links");
        for link in &links {
            tracked_path(link);
        }
        first_of_each.push((kind, links[0].clone()));
    }

    // Each kind's link redirects to the mock affiliate link of its product.
    for (kind, link) in &first_of_each {
        let r = follow(&nf, &server, &tracked_path(link), Some(BROWSER)).await;
        assert_eq!(r.status(), 302, "{kind}");
        let to = r.headers()["location"].to_str().unwrap();
        assert!(to.starts_with(MOCK_PREFIX), "{kind}: {to}");
        assert!(to.contains("tracking=gpt_chat"), "{kind}: {to}");
        assert_eq!(r.headers()["cache-control"], "no-store");
    }
    let counted = first_of_each.len() as u64;
    let (item_id, _) = item(&c, &server).await;
    // The single-link endpoint's product, counted once more.
    let link_path = tracked_path(&first_of_each[4].1);
    let r = follow(&nf, &server, &link_path, Some(BROWSER)).await;
    assert_eq!(r.status(), 302);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with(&format!("{MOCK_PREFIX}aff/{item_id}?"))
    );
    let counted = counted + 1;

    // Redirected, but not counted: HEAD, previews, crawlers, scripts, no agent, prefetch.
    let head = nf
        .head(server.url(&link_path))
        .header("user-agent", BROWSER)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 302);
    let mut not_counted = 1;
    for agent in [
        Some("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"),
        Some("facebookexternalhit/1.1"),
        Some("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"),
        Some("curl/8.5.0"),
        None,
    ] {
        let r = follow(&nf, &server, &link_path, agent).await;
        assert_eq!(r.status(), 302, "{agent:?}");
        not_counted += 1;
    }
    let prefetch = nf
        .get(server.url(&link_path))
        .header("user-agent", BROWSER)
        .header("sec-purpose", "prefetch")
        .send()
        .await
        .unwrap();
    assert_eq!(prefetch.status(), 302);
    not_counted += 1;

    // Altered or foreign tokens: 404 problem+json, nothing counted.
    let token = &link_path[3..];
    let flipped: String = token
        .chars()
        .enumerate()
        .map(|(i, ch)| {
            if i == token.len() / 2 {
                if ch == 'A' { 'B' } else { 'A' }
            } else {
                ch
            }
        })
        .collect();
    for bad in [
        format!("/r/{flipped}"),
        format!("/r/{}", &token[..token.len() - 1]),
        "/r/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned(),
        "/r/not%20a%20token".to_owned(),
    ] {
        let r = follow(&nf, &server, &bad, Some(BROWSER)).await;
        assert_eq!(r.status(), 404, "{bad}");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        let v: Value = r.json().await.unwrap();
        assert!(
            v["detail"].as_str().unwrap().contains("not a tracked link"),
            "{v}"
        );
    }

    let s = summary_when_recorded(&c, &server, counted).await;
    assert_eq!(s["link_tracking"], "redirect");
    assert_eq!(s["store"], "sqlite");
    assert_eq!(s["since_start"]["recorded"], counted, "{s}");
    assert_eq!(s["since_start"]["not_counted"], not_counted, "{s}");
    assert_eq!(s["since_start"]["dropped"], 0, "{s}");
    assert_eq!(s["total_clicks"], counted, "{s}");
    let products = s["products"].as_array().unwrap();
    let sum: u64 = products.iter().map(|p| p["clicks"].as_u64().unwrap()).sum();
    assert_eq!(sum, counted, "{s}");
    // The linked item: once from each link endpoint and once more (and maybe as a hot product).
    assert!(
        products
            .iter()
            .any(|p| p["product_id"] == item_id.as_str() && p["clicks"].as_u64() >= Some(3)),
        "{s}"
    );

    let m = scrape(&c, &server).await;
    let v = |series: &str| m.get(series).copied().unwrap_or(-1.0);
    assert_eq!(
        v(r#"alistach_clicks_total{outcome="recorded"}"#),
        counted as f64
    );
    assert_eq!(
        v(r#"alistach_clicks_total{outcome="not_counted"}"#),
        not_counted as f64
    );
    assert_eq!(v(r#"alistach_clicks_total{outcome="dropped"}"#), 0.0);
    assert_eq!(v("alistach_click_queue_depth"), 0.0);

    // The summary is an admin route.
    let r = c.get(server.url("/api/admin/clicks")).send().await.unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_answers_hold_the_same_tracked_links_for_every_client() {
    let data = DataDir::new("cached");
    let server = Server::start(&redirect_env(&data, &[]));
    let c = client();
    let url = server.url("/api/products/search?keywords=desk+lamp&page_size=4");
    let first = c.get(&url).send().await.unwrap();
    assert_eq!(first.headers()["x-cache"], "MISS");
    let first: Value = first.json().await.unwrap();
    let again = c
        .get(&url)
        .header("user-agent", BROWSER)
        .send()
        .await
        .unwrap();
    assert_eq!(again.headers()["x-cache"], "HIT");
    let again: Value = again.json().await.unwrap();
    assert_eq!(links(&first), links(&again));
    assert!(!links(&first).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_mode_links_redirect_to_the_platforms_links() {
    const APP_KEY: &str = "34567890";
    const SECRET: &str = "fake-gateway-app-secret-9f3a";
    let fake = FakeGateway::start(FakeConfig::new(APP_KEY, SECRET)).await;
    let url = fake.url();
    let data = DataDir::new("real");
    let server = Server::start(&redirect_env(
        &data,
        &[
            ("ALIEXPRESS_APP_KEY", APP_KEY),
            ("ALIEXPRESS_APP_SECRET", SECRET),
            ("ALIEXPRESS_TRACKING_ID", "e2e_tracking"),
            ("ALIEXPRESS_API_URL", url.as_str()),
            ("ALIEXPRESS_TIMEOUT", "2"),
        ],
    ));
    let c = client();
    let nf = no_follow();
    for (kind, links) in links_everywhere(&c, &server).await {
        assert!(!links.is_empty(), "{kind} handed out no links");
        let r = follow(&nf, &server, &tracked_path(&links[0]), Some(BROWSER)).await;
        assert_eq!(r.status(), 302, "{kind}");
        let to = r.headers()["location"].to_str().unwrap();
        assert!(
            to.starts_with("https://s.click.aliexpress.com/e/_"),
            "{kind}: {to}"
        );
        // The platform's links are carried compactly.
        assert!(tracked_path(&links[0]).len() < 80, "{kind}: {}", links[0]);
    }
    let s = summary_when_recorded(&c, &server, 8).await;
    assert_eq!(s["since_start"]["recorded"], 8, "{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_mode_is_unchanged() {
    let server = Server::start(&[("ADMIN_API_KEY", ADMIN)]);
    let c = client();
    for (kind, links) in links_everywhere(&c, &server).await {
        assert!(!links.is_empty(), "{kind}");
        for link in links {
            assert!(link.starts_with(MOCK_PREFIX), "{kind}: {link}");
        }
    }
    let r = follow(
        &no_follow(),
        &server,
        "/r/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        Some(BROWSER),
    )
    .await;
    assert_eq!(r.status(), 404);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["detail"]
            .as_str()
            .unwrap()
            .contains("LINK_TRACKING=direct"),
        "{v}"
    );
    let s = click_summary(&c, &server).await;
    assert_eq!(s["link_tracking"], "direct");
    assert_eq!(s["total_clicks"], 0);
}

#[test]
fn redirect_mode_needs_a_public_base_url_and_a_long_key() {
    let (code, _, err) = run_to_exit(&[("LINK_TRACKING", "redirect")], &["--check-config"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("PUBLIC_BASE_URL must be set"), "{err}");
    let (code, _, err) = run_to_exit(
        &[
            ("LINK_TRACKING", "redirect"),
            ("PUBLIC_BASE_URL", BASE),
            ("LINK_SIGNING_KEY", "too-short-a-key-for-links"),
        ],
        &["--check-config"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("LINK_SIGNING_KEY must be at least 32"),
        "{err}"
    );
    assert!(
        !err.contains("too-short-a-key"),
        "a secret never shows: {err}"
    );
    let (code, out, err) = run_to_exit(
        &[
            ("LINK_TRACKING", "redirect"),
            ("PUBLIC_BASE_URL", BASE),
            ("LINK_SIGNING_KEY", KEY),
        ],
        &["--check-config"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("link_tracking = redirect"), "{out}");
    assert!(out.contains("link_signing_key = *** (set)"), "{out}");
    assert!(!out.contains(KEY));
    let (code, _, err) = run_to_exit(&[("LINK_TRACKING", "sometimes")], &["--check-config"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("LINK_TRACKING must be direct or redirect"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_key_survives_a_restart_and_another_key_refuses_its_links() {
    let data = DataDir::new("key");
    let env = [
        ("LINK_TRACKING", "redirect"),
        ("PUBLIC_BASE_URL", BASE),
        ("DATA_DIR", data.0.as_str()),
    ];
    let c = client();
    let nf = no_follow();
    let mut server = Server::start(&env);
    let (_, item_url) = item(&c, &server).await;
    let v = json_ok(
        c.get(server.url("/api/affiliate/link"))
            .query(&[("url", item_url.as_str())]),
    )
    .await;
    let path = tracked_path(&links(&v)[0]);
    assert_eq!(
        follow(&nf, &server, &path, Some(BROWSER)).await.status(),
        302
    );
    let key = std::fs::read_to_string(data.path().join("link-signing-key")).unwrap();
    assert_eq!(key.trim().len(), 64);
    assert!(
        !server.logs().contains(key.trim()),
        "the key never reaches the logs"
    );
    server.terminate();
    assert!(server.wait_exit(Duration::from_secs(10)).is_some());

    let server = Server::start(&env);
    let r = follow(&nf, &server, &path, Some(BROWSER)).await;
    assert_eq!(
        r.status(),
        302,
        "a link handed out before the restart still works"
    );
    // The same deployment hands out the same link again.
    let v = json_ok(
        c.get(server.url("/api/affiliate/link"))
            .query(&[("url", item_url.as_str())]),
    )
    .await;
    assert_eq!(tracked_path(&links(&v)[0]), path);
    drop(server);

    let other_data = DataDir::new("other-key");
    let other = Server::start(&redirect_env(&other_data, &[]));
    assert_eq!(
        follow(&nf, &other, &path, Some(BROWSER)).await.status(),
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clicks_survive_a_restart_in_the_sqlite_file_under_data_dir() {
    let data = DataDir::new("restart");
    let env = redirect_env(&data, &[]);
    let c = client();
    let nf = no_follow();
    let mut server = Server::start(&env);
    let (item_id, item_url) = item(&c, &server).await;
    let v = json_ok(
        c.get(server.url("/api/affiliate/link"))
            .query(&[("url", item_url.as_str())]),
    )
    .await;
    let path = tracked_path(&links(&v)[0]);
    const N: u64 = 5;
    for _ in 0..N {
        assert_eq!(
            follow(&nf, &server, &path, Some(BROWSER)).await.status(),
            302
        );
    }
    // Stopped at once (the drain writes what is still queued before the process exits).
    server.terminate();
    let status = server
        .wait_exit(Duration::from_secs(15))
        .expect("the server stops");
    assert!(status.success(), "{status:?}\n{}", server.logs());
    assert!(data.path().join("alistach.db").exists());

    let server = Server::start(&env);
    let s = click_summary(&c, &server).await;
    assert_eq!(s["store"], "sqlite");
    assert_eq!(s["total_clicks"], N, "{s}");
    assert_eq!(s["products"][0]["product_id"], item_id.as_str(), "{s}");
    assert_eq!(s["products"][0]["clicks"], N, "{s}");
    assert_eq!(
        s["since_start"]["recorded"], 0,
        "counters are per process: {s}"
    );
    assert_eq!(
        follow(&nf, &server, &path, Some(BROWSER)).await.status(),
        302
    );
    let s = summary_when_recorded(&c, &server, 1).await;
    assert_eq!(s["total_clicks"], N + 1, "{s}");
}
