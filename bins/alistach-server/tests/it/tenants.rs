//! Tenants through the binary, against the fake gateway, on SQLite and PostgreSQL: a tenant of
//! the config file and tenants made through the admin API; keys with roles, shown once, kept as
//! digests, revoked and expiring; each tenant's links, defaults, origins and cache entries; the
//! admin routes walked with every role and two tenants, proving no tenant reads or changes
//! another's data; the audit log; usage metering (JSON and CSV); and all of it after a restart.
//! Then tenants' limits shared by two instances through one redis-server (a greedy tenant and a
//! quiet one), and the config file's errors.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use alistach_api::{Access, ROUTES};
use alistach_testkit::gateway::{FakeConfig, FakeGateway, Purchase};
use alistach_testkit::postgres_server::PostgresServer;
use alistach_testkit::redis_server::RedisServer;
use serde_json::{Value, json};

use crate::support::{Server, client, follow, run_to_exit, temp_dir};
use crate::webhooks::Receiver;

const APP_KEY: &str = "45678901";
const APP_SECRET: &str = "fake-gateway-secret-for-tenants-77a1";
const ADMIN: &str = "super-admin-key-for-tenant-tests-0123";
const OPS: &str = "ops-client-key-for-tenant-tests-4567";
use crate::support::TRACKED_BASE as BASE;
const SIGNING_KEY: &str = "link-signing-key-for-tenant-tests-0123456789abc";

/// The config file: one tenant, `beta`, with its own currency and limits.
const FILE_TENANTS: &str = r#"
[[tenants]]
id = "beta"
name = "Beta GPT"
tracking_id = "beta_tid"
currency = "EUR"
allowed_origins = ["https://beta.example"]
rate_limits = { per_second = 500, per_minute = 10000 }
"#;

fn write_config(dir: &Path, text: &str) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("alistach.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn start(fake: &FakeGateway, config: &str, db: &[(&'static str, String)]) -> Server {
    let mut env: Vec<(&str, String)> = vec![
        ("ADMIN_API_KEY", ADMIN.to_owned()),
        ("API_KEYS", format!("ops:{OPS}")),
        ("ALIEXPRESS_APP_KEY", APP_KEY.to_owned()),
        ("ALIEXPRESS_APP_SECRET", APP_SECRET.to_owned()),
        ("ALIEXPRESS_API_URL", fake.url()),
        ("ALIEXPRESS_TIMEOUT", "5".to_owned()),
        ("ALIEXPRESS_TRACKING_ID", "main_tid".to_owned()),
        ("LINK_TRACKING", "redirect".to_owned()),
        ("PUBLIC_BASE_URL", BASE.to_owned()),
        ("LINK_SIGNING_KEY", SIGNING_KEY.to_owned()),
        ("ALLOWED_ORIGINS", "https://chatgpt.com".to_owned()),
        // The route walk presents many wrong keys on purpose.
        ("AUTH_FAILURES_PER_MINUTE", "100000".to_owned()),
        // Each tenant's webhook receiver is on 127.0.0.1.
        ("WEBHOOK_ALLOW_PRIVATE", "true".to_owned()),
    ];
    env.extend(db.iter().cloned());
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Server::start_with_args(&env, &["--config", config])
}

/// A call with `key` as Bearer (none: no key): the status, the JSON answer (`{"text": …}`
/// when it is not JSON) and the headers.
async fn call_full(
    server: &Server,
    key: Option<&str>,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let c = client();
    let mut req = match method {
        "POST" => c.post(server.url(path)),
        "PATCH" => c.patch(server.url(path)),
        "DELETE" => c.delete(server.url(path)),
        _ => c.get(server.url(path)),
    };
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    if let Some(b) = body {
        req = req.json(&b);
    } else if matches!(method, "POST" | "PATCH") {
        req = req.header("content-type", "application/json").body("{}");
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|_| json!({ "text": text })),
        headers,
    )
}

async fn call(
    server: &Server,
    key: Option<&str>,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let (s, v, _) = call_full(server, key, method, path, body).await;
    (s, v)
}

/// Makes a key for `tenant` with `role` as `by`; the key itself.
async fn make_key(
    server: &Server,
    by: &str,
    tenant: &str,
    name: &str,
    role: &str,
) -> (String, String) {
    let (status, made) = call(
        server,
        Some(by),
        "POST",
        &format!("/api/admin/tenants/{tenant}/keys"),
        Some(json!({"name": name, "role": role})),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let key = made["data"]["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("ask_"), "{key}");
    assert_eq!(made["data"]["role"], role);
    assert_eq!(made["data"]["live"], true);
    (made["data"]["id"].as_str().unwrap().to_owned(), key)
}

/// The tracking id the last `method` call to the fake gateway was made for.
fn last_tracking(fake: &FakeGateway, method: &str) -> String {
    fake.last_request(method)
        .unwrap_or_else(|| panic!("no {method} call"))
        .params
        .get("tracking_id")
        .cloned()
        .unwrap_or_default()
}

fn last_param(fake: &FakeGateway, method: &str, name: &str) -> Option<String> {
    fake.last_request(method)?.params.get(name).cloned()
}

const SEARCH: &str = "aliexpress.affiliate.product.query";

fn first_link(answer: &Value) -> String {
    answer["data"]["products"][0]["promotion_link"]
        .as_str()
        .unwrap_or_else(|| panic!("no link in {answer}"))
        .to_owned()
}

/// The ids a walked path names: whose tenant, key, webhook endpoint, experiment and watch.
struct Ids<'a> {
    tenant: &'a str,
    key: &'a str,
    webhook: String,
    experiment: String,
    watch: String,
}

/// A concrete path for a route template, naming the things of `ids`.
fn fill(template: &str, ids: &Ids<'_>) -> String {
    let segments: Vec<&str> = template.split('/').collect();
    let mut out = Vec::new();
    for (i, s) in segments.iter().enumerate() {
        let before = if i > 0 { segments[i - 1] } else { "" };
        let value = match (*s, before) {
            ("{id}", "tenants") => ids.tenant.to_owned(),
            ("{id}", "webhooks") => ids.webhook.clone(),
            ("{id}", "experiments") => ids.experiment.clone(),
            ("{id}", "watches") => ids.watch.clone(),
            ("{key_id}", _) => ids.key.to_owned(),
            ("{asset}", _) => "app.js".to_owned(),
            (s, _) if s.starts_with('{') => "1".to_owned(),
            (s, _) => s.to_owned(),
        };
        out.push(value);
    }
    out.join("/")
}

/// Polls until `check` passes (a tenant reload, a flush), at most 20 s.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn the_tenant_loop(db: Vec<(&'static str, String)>, backend: &str) {
    let fake = FakeGateway::start(FakeConfig::new(APP_KEY, APP_SECRET)).await;
    let dir = temp_dir(&format!("tenants-{backend}"));
    let config = write_config(&dir, FILE_TENANTS);
    let mut db = db;
    if db.is_empty() {
        db.push(("DATA_DIR", dir.join("data").display().to_string()));
    }
    let server = start(&fake, &config, &db);

    // --- Tenants: the file's and the API's -------------------------------------------------
    let (status, created) = call(
        &server,
        Some(ADMIN),
        "POST",
        "/api/admin/tenants",
        Some(json!({
            "id": "acme", "name": "Acme", "tracking_id": "acme_tid", "language": "FR",
            "allowed_origins": ["https://acme.example"],
            "rate_limits": {"per_second": 1000}
        })),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["data"]["source"], "api");
    assert_eq!(created["data"]["language"], "FR");
    for (body, expected, says) in [
        (
            json!({"id": "acme", "name": "Again", "tracking_id": "other_tid"}),
            409,
            "acme",
        ),
        (
            json!({"id": "acme2", "name": "Dup", "tracking_id": "beta_tid"}),
            409,
            "beta_tid",
        ),
        (
            json!({"id": "acme3", "name": "Own", "tracking_id": "main_tid"}),
            409,
            "ALIEXPRESS_TRACKING_ID",
        ),
        (
            json!({"id": "default", "name": "D", "tracking_id": "d_tid"}),
            409,
            "default",
        ),
        (
            json!({"id": "Bad Id", "name": "B", "tracking_id": "b_tid"}),
            422,
            "id",
        ),
        (
            json!({"id": "ok", "name": "", "tracking_id": "b_tid"}),
            422,
            "name",
        ),
        (
            json!({"id": "ok", "name": "N", "tracking_id": "b_tid", "currency": "XYZ"}),
            422,
            "currency",
        ),
        (
            json!({"id": "ok", "name": "N", "tracking_id": "b_tid", "credentials": {"app_key": "1", "app_secret_env": "NOT_SET_ANYWHERE"}}),
            422,
            "NOT_SET_ANYWHERE",
        ),
        (
            json!({"id": "ok", "name": "N", "tracking_id": "b_tid", "secret": "x"}),
            422,
            "secret",
        ),
    ] {
        let (status, problem) = call(
            &server,
            Some(ADMIN),
            "POST",
            "/api/admin/tenants",
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, expected, "{body} → {problem}");
        let detail = problem["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(says), "{body}: {detail}");
    }
    let (status, list) = call(&server, Some(ADMIN), "GET", "/api/admin/tenants", None).await;
    assert_eq!(status, 200, "{list}");
    let ids: Vec<&str> = list["data"]["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["acme", "beta"]);
    assert_eq!(list["data"]["tenants"][1]["source"], "file");
    assert_eq!(list["data"]["tenants"][1]["currency"], "EUR");
    let (status, problem) = call(
        &server,
        Some(ADMIN),
        "PATCH",
        "/api/admin/tenants/beta",
        Some(json!({"name": "Changed"})),
    )
    .await;
    assert_eq!(status, 409, "the file wins: {problem}");
    let (status, patched) = call(
        &server,
        Some(ADMIN),
        "PATCH",
        "/api/admin/tenants/acme",
        Some(json!({"name": "Acme Shop", "language": null, "currency": "GBP"})),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["data"]["name"], "Acme Shop");
    assert!(patched["data"]["language"].is_null(), "{patched}");
    assert_eq!(patched["data"]["tracking_id"], "acme_tid");

    // --- Keys: made by the API, shown once -------------------------------------------------
    let (acme_admin_id, acme_admin) =
        make_key(&server, ADMIN, "acme", "acme ops", "tenant-admin").await;
    let (acme_client_id, acme_client) =
        make_key(&server, &acme_admin, "acme", "acme gpt", "client").await;
    let (_, beta_admin) = make_key(&server, ADMIN, "beta", "beta ops", "tenant-admin").await;
    let (beta_client_id, beta_client) =
        make_key(&server, &beta_admin, "beta", "beta gpt", "client").await;
    let (status, keys) = call(
        &server,
        Some(&acme_admin),
        "GET",
        "/api/admin/tenants/acme/keys",
        None,
    )
    .await;
    assert_eq!(status, 200, "{keys}");
    let text = keys.to_string();
    assert!(
        !text.contains(&acme_client) && !text.contains(&acme_admin),
        "keys are shown once"
    );
    assert_eq!(keys["data"]["keys"].as_array().unwrap().len(), 2);
    assert!(!server.logs().contains(&acme_client), "no key in the logs");

    // --- Each tenant's links, defaults and cache entries ------------------------------------
    let search = "/api/products/search?keywords=phone&page_size=3";
    let (status, acme_answer) = call(&server, Some(&acme_client), "GET", search, None).await;
    assert_eq!(status, 200, "{acme_answer}");
    assert_eq!(last_tracking(&fake, SEARCH), "acme_tid");
    assert_eq!(
        last_param(&fake, SEARCH, "target_currency").as_deref(),
        Some("GBP")
    );
    assert_eq!(fake.requests(SEARCH), 1);
    let (status, beta_answer) = call(&server, Some(&beta_client), "GET", search, None).await;
    assert_eq!(status, 200, "{beta_answer}");
    assert_eq!(
        fake.requests(SEARCH),
        2,
        "another tenant's links are never served"
    );
    assert_eq!(last_tracking(&fake, SEARCH), "beta_tid");
    assert_eq!(
        last_param(&fake, SEARCH, "target_currency").as_deref(),
        Some("EUR")
    );
    let (status, again) = call(&server, Some(&acme_client), "GET", search, None).await;
    assert_eq!(status, 200);
    assert_eq!(
        fake.requests(SEARCH),
        2,
        "the same tenant's question is a hit"
    );
    assert_eq!(again["data"]["products"], acme_answer["data"]["products"]);
    assert_eq!(again["data"]["cache_hit"], true);
    let (status, _) = call(&server, Some(OPS), "GET", search, None).await;
    assert_eq!(status, 200);
    assert_eq!(
        last_tracking(&fake, SEARCH),
        "main_tid",
        "the deployment's own key"
    );
    assert_eq!((call(&server, None, "GET", search, None).await).0, 401);
    assert_eq!(
        (call(&server, Some("ask_not-a-real-key"), "GET", search, None).await).0,
        401
    );
    // Links lead to each tenant's tracking id.
    let landing = follow(&server, &first_link(&acme_answer)).await;
    assert_eq!(fake.issued_link(&landing).unwrap().tracking_id, "acme_tid");
    let landing_beta = follow(&server, &first_link(&beta_answer)).await;
    assert_eq!(
        fake.issued_link(&landing_beta).unwrap().tracking_id,
        "beta_tid"
    );
    // The MCP tools answer for the key's tenant too.
    mcp_search(&server, &acme_client, "dress").await;
    assert_eq!(last_tracking(&fake, SEARCH), "acme_tid");
    // CORS: a tenant's origins for its own keys.
    let cors = |key: String, origin: &'static str| {
        let server = &server;
        async move {
            let r = client()
                .get(server.url(search))
                .bearer_auth(key)
                .header("origin", origin)
                .send()
                .await
                .unwrap();
            r.headers()
                .get("access-control-allow-origin")
                .map(|v| v.to_str().unwrap().to_owned())
        }
    };
    assert_eq!(
        cors(acme_client.clone(), "https://acme.example")
            .await
            .as_deref(),
        Some("https://acme.example")
    );
    assert_eq!(
        cors(beta_client.clone(), "https://acme.example").await,
        None
    );
    assert_eq!(
        cors(beta_client.clone(), "https://beta.example")
            .await
            .as_deref(),
        Some("https://beta.example")
    );

    // --- Webhooks and watches: each tenant's own ---------------------------------------------
    let acme_hook = Receiver::start(200).await;
    let beta_hook = Receiver::start(200).await;
    let mut endpoint_ids = Vec::new();
    for (key, receiver) in [(&acme_admin, &acme_hook), (&beta_admin, &beta_hook)] {
        let (status, made) = call(
            &server,
            Some(key),
            "POST",
            "/api/admin/webhooks",
            Some(json!({"url": receiver.url(), "events": ["order.created"]})),
        )
        .await;
        assert_eq!(status, 201, "{made}");
        endpoint_ids.push(made["data"]["id"].as_u64().unwrap());
    }
    let (_, acme_hooks) = call(
        &server,
        Some(&acme_admin),
        "GET",
        "/api/admin/webhooks",
        None,
    )
    .await;
    assert_eq!(
        acme_hooks["data"]["webhooks"].as_array().unwrap().len(),
        1,
        "{acme_hooks}"
    );
    assert_eq!(acme_hooks["data"]["webhooks"][0]["id"], endpoint_ids[0]);
    let (_, all_hooks) = call(&server, Some(ADMIN), "GET", "/api/admin/webhooks", None).await;
    assert_eq!(all_hooks["data"]["webhooks"].as_array().unwrap().len(), 2);
    let beta_hook_path = format!("/api/admin/webhooks/{}", endpoint_ids[1]);
    for method in ["GET", "DELETE"] {
        assert_eq!(
            call(&server, Some(&acme_admin), method, &beta_hook_path, None)
                .await
                .0,
            404,
            "{method} another tenant's endpoint"
        );
    }
    let (status, watch) = call(
        &server,
        Some(&acme_admin),
        "POST",
        "/api/admin/watches",
        Some(json!({"product_id": fake.product_ids()[0].to_string(), "price_drop_percent": 10})),
    )
    .await;
    assert_eq!(status, 201, "{watch}");
    let watch_path = format!("/api/admin/watches/{}", watch["data"]["id"]);
    let (_, beta_watches) = call(
        &server,
        Some(&beta_admin),
        "GET",
        "/api/admin/watches",
        None,
    )
    .await;
    assert_eq!(beta_watches["data"]["watches"].as_array().unwrap().len(), 0);
    assert_eq!(
        call(&server, Some(&beta_admin), "DELETE", &watch_path, None)
            .await
            .0,
        404
    );
    let (_, acme_watches) = call(
        &server,
        Some(&acme_admin),
        "GET",
        "/api/admin/watches",
        None,
    )
    .await;
    assert_eq!(acme_watches["data"]["watches"].as_array().unwrap().len(), 1);
    let (status, beta_watch) = call(
        &server,
        Some(&beta_admin),
        "POST",
        "/api/admin/watches",
        Some(json!({"product_id": fake.product_ids()[1].to_string()})),
    )
    .await;
    assert_eq!(status, 201, "{beta_watch}");

    // --- Orders: each tenant's books -----------------------------------------------------------
    fake.purchase(&landing, Purchase::new(10_000)).unwrap();
    fake.purchase(&landing_beta, Purchase::new(20_000)).unwrap();
    let (status, synced) = call(&server, Some(ADMIN), "POST", "/api/admin/orders/sync", None).await;
    assert_eq!(status, 200, "{synced}");
    let tids = |answer: &Value| -> Vec<String> {
        answer["data"]["orders"]
            .as_array()
            .unwrap_or_else(|| panic!("no orders in {answer}"))
            .iter()
            .map(|o| o["tracking_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (status, acme_orders) =
        call(&server, Some(&acme_admin), "GET", "/api/admin/orders", None).await;
    assert_eq!(status, 200, "{acme_orders}");
    assert_eq!(tids(&acme_orders), ["acme_tid"]);
    let (_, beta_orders) = call(&server, Some(&beta_admin), "GET", "/api/admin/orders", None).await;
    assert_eq!(tids(&beta_orders), ["beta_tid"]);
    let (_, all_orders) = call(&server, Some(ADMIN), "GET", "/api/admin/orders", None).await;
    let mut all = tids(&all_orders);
    all.sort();
    assert_eq!(all, ["acme_tid", "beta_tid"]);
    assert_eq!(
        call(
            &server,
            Some(&acme_admin),
            "GET",
            "/api/admin/orders?tracking_id=beta_tid",
            None
        )
        .await
        .0,
        403
    );

    // Each order's event reached only its tenant's endpoint.
    let bodies = |r: &Receiver| -> Vec<String> {
        r.received()
            .iter()
            .map(|r| String::from_utf8_lossy(&r.body).into_owned())
            .collect()
    };
    acme_hook
        .wait("acme's order event", |g| !g.is_empty())
        .await;
    beta_hook
        .wait("beta's order event", |g| !g.is_empty())
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (acme_bodies, beta_bodies) = (bodies(&acme_hook), bodies(&beta_hook));
    assert_eq!((acme_bodies.len(), beta_bodies.len()), (1, 1));
    assert!(acme_bodies[0].contains("acme_tid") && !acme_bodies[0].contains("beta_tid"));
    assert!(beta_bodies[0].contains("beta_tid") && !beta_bodies[0].contains("acme_tid"));

    // --- Experiments: each tenant's own ----------------------------------------------------------
    let experiment = |tid: Option<&str>| {
        let mut hot = json!({"name": "hot", "link_type": "hot"});
        if let Some(t) = tid {
            hot["tracking_id"] = json!(t);
        }
        json!({"name": "link types", "allocation": "fixed",
               "variants": [{"name": "control", "link_type": "normal"}, hot]})
    };
    let (status, problem) = call(
        &server,
        Some(&acme_admin),
        "POST",
        "/api/admin/experiments",
        Some(experiment(Some("beta_tid"))),
    )
    .await;
    assert_eq!(
        status, 422,
        "a variant earning for another tenant: {problem}"
    );
    let (status, acme_exp) = call(
        &server,
        Some(&acme_admin),
        "POST",
        "/api/admin/experiments",
        Some(experiment(None)),
    )
    .await;
    assert_eq!(status, 201, "{acme_exp}");
    let (status, beta_exp) = call(
        &server,
        Some(&beta_admin),
        "POST",
        "/api/admin/experiments",
        Some(experiment(Some("beta_tid"))),
    )
    .await;
    assert_eq!(status, 201, "two tenants run one each at once: {beta_exp}");
    let acme_exp_path = format!("/api/admin/experiments/{}", acme_exp["data"]["id"]);
    let (_, beta_list) = call(
        &server,
        Some(&beta_admin),
        "GET",
        "/api/admin/experiments",
        None,
    )
    .await;
    assert_eq!(
        beta_list["data"]["experiments"].as_array().unwrap().len(),
        1,
        "{beta_list}"
    );
    assert_eq!(
        call(&server, Some(&beta_admin), "GET", &acme_exp_path, None)
            .await
            .0,
        404
    );
    assert_eq!(
        call(
            &server,
            Some(&beta_admin),
            "POST",
            &format!("{acme_exp_path}/stop"),
            None
        )
        .await
        .0,
        404
    );
    let (_, all_exps) = call(&server, Some(ADMIN), "GET", "/api/admin/experiments", None).await;
    assert_eq!(all_exps["data"]["experiments"].as_array().unwrap().len(), 2);
    // Acme's searches are served by its variants (the hot one remakes links through
    // link.generate), made for its tracking id. Which variant a question gets is a hash: ask
    // until the hot one answered (each at 1/2; at most 40 questions).
    let generate = "aliexpress.affiliate.link.generate";
    for n in 0..40 {
        if fake.requests(generate) > 0 {
            break;
        }
        // Page one of every size: each a new question, and never an empty page.
        let q = format!("/api/products/search?keywords=phone&page_size={}", n + 4);
        assert_eq!(
            call(&server, Some(&acme_client), "GET", &q, None).await.0,
            200
        );
    }
    assert_eq!(last_tracking(&fake, generate), "acme_tid");
    for (key, path) in [
        (&acme_admin, acme_exp_path.clone()),
        (
            &beta_admin,
            format!("/api/admin/experiments/{}", beta_exp["data"]["id"]),
        ),
    ] {
        assert_eq!(
            call(&server, Some(key), "POST", &format!("{path}/stop"), None)
                .await
                .0,
            200
        );
    }

    // --- Analytics: each tenant's calls --------------------------------------------------------
    let (status, overview) = call(
        &server,
        Some(&acme_admin),
        "GET",
        "/api/admin/analytics/overview",
        None,
    )
    .await;
    assert_eq!(status, 200, "{overview}");
    let clients = overview["data"]["clients"].as_array().unwrap();
    assert!(!clients.is_empty(), "{overview}");
    for c in clients {
        assert!(
            c["client"].as_str().unwrap().starts_with("key:acme/"),
            "{overview}"
        );
    }
    assert_eq!(
        overview["data"]["orders"], 1,
        "only acme's order: {overview}"
    );

    // --- Every admin route, every role, two tenants ---------------------------------------------
    let beta_ids = Ids {
        tenant: "beta",
        key: &beta_client_id,
        webhook: endpoint_ids[1].to_string(),
        experiment: beta_exp["data"]["id"].to_string(),
        watch: beta_watch["data"]["id"].to_string(),
    };
    walk_admin_routes(&server, &acme_admin, &acme_client, &beta_ids).await;
    // Nothing of beta's changed.
    let (_, beta_keys) = call(
        &server,
        Some(&beta_admin),
        "GET",
        "/api/admin/tenants/beta/keys",
        None,
    )
    .await;
    for k in beta_keys["data"]["keys"].as_array().unwrap() {
        assert_eq!(k["live"], true, "{k}");
    }
    assert_eq!(
        call(&server, Some(&beta_client), "GET", search, None)
            .await
            .0,
        200
    );

    // --- Revocation, expiry, last use -------------------------------------------------------------
    let (status, revoked) = call(
        &server,
        Some(&acme_admin),
        "DELETE",
        &format!("/api/admin/tenants/acme/keys/{acme_client_id}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{revoked}");
    assert!(revoked["data"]["revoked_at"].is_string());
    assert_eq!(revoked["data"]["live"], false);
    assert_eq!(
        call(&server, Some(&acme_client), "GET", search, None)
            .await
            .0,
        401
    );
    let soon = alistach_domain::platform_time::rfc3339(
        i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis(),
        )
        .unwrap()
            + 3_000,
    );
    let (status, short) = call(
        &server,
        Some(&acme_admin),
        "POST",
        "/api/admin/tenants/acme/keys",
        Some(json!({"name": "short-lived", "role": "client", "expires_at": soon})),
    )
    .await;
    assert_eq!(status, 201, "{short}");
    let short_key = short["data"]["key"].as_str().unwrap().to_owned();
    assert_eq!(
        call(&server, Some(&short_key), "GET", search, None).await.0,
        200
    );
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    assert_eq!(
        call(&server, Some(&short_key), "GET", search, None).await.0,
        401,
        "expired"
    );
    eventually("the keys' last use", || async {
        let (_, keys) = call(
            &server,
            Some(&acme_admin),
            "GET",
            "/api/admin/tenants/acme/keys",
            None,
        )
        .await;
        keys["data"]["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["id"] == acme_admin_id.as_str() && k["last_used_at"].is_string())
    })
    .await;

    // --- The audit log ---------------------------------------------------------------------
    let (status, audit) = call(
        &server,
        Some(ADMIN),
        "GET",
        "/api/admin/audit?limit=1000",
        None,
    )
    .await;
    assert_eq!(status, 200, "{audit}");
    let entries = audit["data"]["entries"].as_array().unwrap();
    let find = |action: &str, status: u64| {
        entries
            .iter()
            .find(|e| e["action"] == action && e["status"] == status)
            .unwrap_or_else(|| panic!("no {action} {status} in {audit}"))
    };
    let create = find("createTenant", 201);
    assert_eq!(create["actor"], "super-admin");
    assert_eq!(create["tenant"], "acme");
    assert!(
        create["from"].as_str().unwrap().contains("127.0.0.1"),
        "{create}"
    );
    assert_eq!(create["target"], "POST /api/admin/tenants");
    let by_tenant_admin = find("createTenantKey", 201);
    assert!(entries.iter().any(|e| e["action"] == "createTenantKey"
        && e["actor"] == format!("key:{acme_admin_id}")
        && e["actor_tenant"] == "acme"));
    assert!(by_tenant_admin["at"].is_string());
    find("revokeTenantKey", 200);
    find("updateTenant", 409);
    assert!(
        entries.iter().any(|e| e["status"] == 403),
        "refusals are recorded"
    );
    // A valid key refused on an admin route is named, with its tenant.
    assert!(
        entries.iter().any(|e| e["status"] == 403
            && e["actor"] == format!("key:{acme_client_id}")
            && e["actor_tenant"] == "acme"),
        "the client key's refusals name it: {audit}"
    );
    assert!(
        entries
            .iter()
            .any(|e| e["status"] == 401 && e["actor"] == "anonymous"),
        "a wrong key is anonymous"
    );
    let (_, own) = call(
        &server,
        Some(&acme_admin),
        "GET",
        "/api/admin/audit?limit=1000",
        None,
    )
    .await;
    for e in own["data"]["entries"].as_array().unwrap() {
        assert!(e["tenant"] == "acme" || e["actor_tenant"] == "acme", "{e}");
    }
    assert_eq!(
        call(
            &server,
            Some(&acme_admin),
            "GET",
            "/api/admin/audit?tenant=beta",
            None
        )
        .await
        .0,
        403
    );

    // --- Usage metering ---------------------------------------------------------------------
    usage_is_metered(&server, &fake).await;

    // --- A restart keeps it all -------------------------------------------------------------
    server.terminate();
    drop(server);
    let server = start(&fake, &config, &db);
    let (status, list) = call(
        &server,
        Some(&acme_admin),
        "GET",
        "/api/admin/tenants",
        None,
    )
    .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["data"]["tenants"][0]["name"], "Acme Shop");
    assert_eq!(
        list["data"]["tenants"].as_array().unwrap().len(),
        1,
        "only its own"
    );
    assert_eq!(
        call(&server, Some(&acme_client), "GET", search, None)
            .await
            .0,
        401,
        "still revoked"
    );
    assert_eq!(
        call(&server, Some(&beta_client), "GET", search, None)
            .await
            .0,
        200
    );
    let (_, audit) = call(
        &server,
        Some(ADMIN),
        "GET",
        "/api/admin/audit?limit=1000",
        None,
    )
    .await;
    assert!(
        audit["data"]["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "createTenant")
    );
    // A tenant made through the API is deleted with its keys.
    let (status, _) = call(
        &server,
        Some(ADMIN),
        "DELETE",
        "/api/admin/tenants/acme",
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        call(
            &server,
            Some(&acme_admin),
            "GET",
            "/api/admin/tenants",
            None
        )
        .await
        .0,
        401
    );
    assert_eq!(
        call(
            &server,
            Some(ADMIN),
            "DELETE",
            "/api/admin/tenants/beta",
            None
        )
        .await
        .0,
        409
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// rmcp's client on `/mcp` with `key`: one `search_products` call.
async fn mcp_search(server: &Server, key: &str, keywords: &str) {
    use rmcp::ServiceExt;
    use rmcp::model::{CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation};
    use rmcp::transport::StreamableHttpClientTransport;
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(server.url("/mcp")).auth_header(key),
    );
    let info = ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("alistach-it", "1.0"),
    );
    let mcp = info.serve(transport).await.expect("initialize");
    let Value::Object(args) = json!({"keywords": keywords, "page_size": 2}) else {
        unreachable!()
    };
    let result = mcp
        .call_tool(CallToolRequestParams::new("search_products").with_arguments(args))
        .await
        .expect("search_products");
    assert_ne!(result.is_error, Some(true), "{result:?}");
    let _ = mcp.cancel().await;
}

/// Every admin route with: no key, a wrong key, tenant acme's client key, acme's tenant-admin
/// key (on beta's things), and the super-admin key. A tenant-admin never gets at another
/// tenant's data: every such call is refused or answered as unknown, and no answer it gets
/// names beta's tracking id or keys.
async fn walk_admin_routes(server: &Server, acme_admin: &str, acme_client: &str, beta: &Ids<'_>) {
    let operator_only: HashSet<&str> = [
        "getCacheStats",
        "clearCache",
        "syncOrders",
        "getMetrics",
        "getAlerts",
        "createTenant",
        "updateTenant",
        "deleteTenant",
    ]
    .into_iter()
    .collect();
    let mut seen = 0;
    for route in ROUTES.iter().filter(|r| r.access == Access::Admin) {
        seen += 1;
        let on_beta = fill(route.path, beta);
        let name = format!("{} {}", route.method, route.path);
        let (status, _) = call(server, None, route.method, &on_beta, None).await;
        assert_eq!(status, 401, "{name} without a key");
        let (status, _) = call(server, Some("ask_wrong"), route.method, &on_beta, None).await;
        assert_eq!(status, 401, "{name} with a wrong key");
        let (status, _) = call(server, Some(acme_client), route.method, &on_beta, None).await;
        assert_eq!(status, 403, "{name} with a client key");
        let (status, answer) = call(server, Some(acme_admin), route.method, &on_beta, None).await;
        // (Its own audit log names what it tried on beta's paths: its own actions.)
        let text = if route.operation_id == "listAudit" {
            String::new()
        } else {
            answer.to_string()
        };
        assert!(
            !text.contains("beta_tid") && !text.contains(beta.key) && !text.contains("Beta GPT"),
            "{name}: a tenant-admin read another tenant's data: {text}"
        );
        if operator_only.contains(route.operation_id) {
            assert_eq!(status, 403, "{name} is the operator's: {answer}");
        } else if route.path.contains("{id}") {
            assert_eq!(status, 404, "{name} on another tenant's: {answer}");
        } else if route.method != "GET" {
            assert!(
                !(200..300).contains(&status) || route.operation_id.starts_with("create"),
                "{name}: {status} {answer}"
            );
        }
        // The super-admin on the same routes (with a key id no key has: it may revoke keys).
        let as_super = fill(
            route.path,
            &Ids {
                tenant: "beta",
                key: "key_0000000000000000",
                webhook: "999999".into(),
                experiment: "999999".into(),
                watch: "999999".into(),
            },
        );
        let (status, answer) = call(server, Some(ADMIN), route.method, &as_super, None).await;
        assert!(
            status != 401 && status != 403 && status < 500,
            "{name} as the super-admin: {status} {answer}"
        );
    }
    assert!(seen >= 30, "{seen} admin routes walked");
}

/// Tenant `gamma`'s calls, cache answers, upstream calls, clicks, orders and commission, per
/// day, as JSON and CSV; exact counts.
async fn usage_is_metered(server: &Server, fake: &FakeGateway) {
    let (status, _) = call(
        server,
        Some(ADMIN),
        "POST",
        "/api/admin/tenants",
        Some(json!({"id": "gamma", "name": "Gamma", "tracking_id": "gamma_tid"})),
    )
    .await;
    assert_eq!(status, 201);
    let (_, gamma_admin) = make_key(server, ADMIN, "gamma", "gamma ops", "tenant-admin").await;
    let (_, gamma) = make_key(server, ADMIN, "gamma", "gamma gpt", "client").await;
    let search = "/api/products/search?keywords=dress&page_size=2";
    let (status, first) = call(server, Some(&gamma), "GET", search, None).await;
    assert_eq!(status, 200);
    for _ in 0..2 {
        assert_eq!(call(server, Some(&gamma), "GET", search, None).await.0, 200);
    }
    let landing = follow(server, &first_link(&first)).await;
    fake.purchase(&landing, Purchase::new(5_000)).unwrap();
    assert_eq!(
        call(server, Some(ADMIN), "POST", "/api/admin/orders/sync", None)
            .await
            .0,
        200
    );
    let expected = BTreeMap::from([
        ("requests", 3u64),
        ("cached", 2),
        ("upstream_calls", 1),
        ("clicks", 1),
        ("orders", 1),
    ]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let last = loop {
        let (status, usage) = call(
            server,
            Some(&gamma_admin),
            "GET",
            "/api/admin/tenants/gamma/usage",
            None,
        )
        .await;
        assert_eq!(status, 200, "{usage}");
        if expected
            .iter()
            .all(|(k, v)| usage["data"]["totals"][*k] == *v)
        {
            break usage;
        }
        assert!(
            Instant::now() < deadline,
            "gamma's usage never showed {expected:?}: {usage}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let totals = &last["data"]["totals"];
    assert_eq!(totals["commission"][0]["currency"], "USD", "{last}");
    assert_eq!(
        totals["commission"][0]["amount"], "3.50",
        "7% of 50.00: {last}"
    );
    let days = last["data"]["days"].as_array().unwrap();
    assert_eq!(
        days.iter()
            .map(|d| d["requests"].as_u64().unwrap())
            .sum::<u64>(),
        3
    );
    let csv = client()
        .get(server.url("/api/admin/tenants/gamma/usage?format=csv"))
        .bearer_auth(&gamma_admin)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = csv.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "date,requests,cached,upstream_calls,clicks,orders,commission_USD"
    );
    assert_eq!(lines.len(), 1 + 30 + 1, "30 days and the totals: {text}");
    assert!(lines[30].ends_with(",3,2,1,1,1,3.50"), "today: {text}");
    assert_eq!(lines[31], "total,3,2,1,1,1,3.50");
    assert_eq!(
        call(
            server,
            Some(&gamma_admin),
            "GET",
            "/api/admin/tenants/beta/usage",
            None
        )
        .await
        .0,
        404,
        "another tenant's usage"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tenants_on_sqlite_keep_their_keys_links_limits_and_books_apart() {
    the_tenant_loop(Vec::new(), "sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tenants_on_postgres_keep_their_keys_links_limits_and_books_apart() {
    let Some(pg) = PostgresServer::start_or_skip("tenants on postgres") else {
        return;
    };
    let url = pg.create_database("tenants");
    the_tenant_loop(vec![("DATABASE_URL", url)], "postgres").await;
}

/// Two instances share tenants' limits through one redis-server: a greedy tenant gets exactly
/// its daily quota across both, and a quiet tenant's requests all pass meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_greedy_tenant_never_slows_a_quiet_one_across_instances() {
    let Some(redis) = RedisServer::start_or_skip("tenant limits") else {
        return;
    };
    let dir = temp_dir("tenants-limits");
    let config = write_config(
        &dir,
        r#"
[[tenants]]
id = "greedy"
name = "Greedy"
tracking_id = "greedy_tid"
daily_quota = 30
rate_limits = { per_second = 1000 }

[[tenants]]
id = "quiet"
name = "Quiet"
tracking_id = "quiet_tid"
"#,
    );
    let data = dir.join("data").display().to_string();
    let env = [
        ("ADMIN_API_KEY", ADMIN),
        ("RATE_LIMIT_REDIS_URL", &redis.url()),
        ("DATA_DIR", &data),
    ];
    let a = Server::start_with_args(&env, &["--config", &config]);
    let b = Server::start_with_args(&env, &["--config", &config]);
    let (_, greedy) = make_key(&a, ADMIN, "greedy", "greedy gpt", "client").await;
    let (_, quiet) = make_key(&a, ADMIN, "quiet", "quiet gpt", "client").await;
    let path = "/api/products/search?keywords=phone&page_size=2";
    // The other instance learns the keys at its next reload.
    eventually("instance b to know the keys", || async {
        call(&b, Some(&greedy), "GET", path, None).await.0 == 200
    })
    .await;
    let mut greedy_ok = 1;
    let mut quiet_ok = 0;
    let mut retry_after = HashSet::new();
    for i in 0..80 {
        let server = if i % 2 == 0 { &a } else { &b };
        let (status, answer, headers) = call_full(server, Some(&greedy), "GET", path, None).await;
        match status {
            200 => greedy_ok += 1,
            429 => {
                assert!(answer["detail"].is_string(), "{answer}");
                retry_after.insert(headers.contains_key("retry-after"));
            }
            other => panic!("greedy got {other}: {answer}"),
        }
        if i % 4 == 0 {
            let started = Instant::now();
            let (status, answer) = call(server, Some(&quiet), "GET", path, None).await;
            assert_eq!(status, 200, "the quiet tenant is never limited: {answer}");
            assert!(started.elapsed() < Duration::from_secs(1));
            quiet_ok += 1;
        }
    }
    assert_eq!(greedy_ok, 30, "exactly its quota across both instances");
    assert_eq!(quiet_ok, 20);
    assert_eq!(retry_after, HashSet::from([true]));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The config file's tenants are checked before anything is served.
#[test]
fn bad_tenants_in_the_config_file_stop_the_start_with_their_reason() {
    let dir = temp_dir("tenants-config");
    let data = dir.join("data").display().to_string();
    for (text, says) in [
        (
            "[[tenants]]\nid = \"Bad Id\"\nname = \"B\"\ntracking_id = \"b\"\n",
            "id",
        ),
        (
            "[[tenants]]\nid = \"a\"\nname = \"A\"\ntracking_id = \"t\"\napp_secret = \"inline\"\n",
            "app_secret",
        ),
        (
            "[[tenants]]\nid = \"a\"\nname = \"A\"\ntracking_id = \"t\"\n[[tenants]]\nid = \"a\"\nname = \"A2\"\ntracking_id = \"t2\"\n",
            "twice",
        ),
        (
            "[[tenants]]\nid = \"a\"\nname = \"A\"\ntracking_id = \"t\"\n[[tenants]]\nid = \"b\"\nname = \"B\"\ntracking_id = \"t\"\n",
            "tracking id",
        ),
    ] {
        let config = write_config(&dir, text);
        let (code, _, stderr) = run_to_exit(
            &[("DATA_DIR", data.as_str())],
            &["--listen", "127.0.0.1:0", "--config", &config],
        );
        assert_ne!(code, 0, "{text}");
        assert!(stderr.contains(says), "{text}: {stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A tenant with its own AliExpress app: its calls are signed with its app's key and secret
/// (read from the environment variable the config names), with its tracking id; the other
/// tenants keep the deployment's app.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tenant_with_its_own_app_calls_upstream_with_it() {
    const DEALS_KEY: &str = "56789012";
    const DEALS_SECRET: &str = "deals-app-secret-for-tenant-tests-5a1c";
    let fake = FakeGateway::start(FakeConfig {
        other_apps: vec![(DEALS_KEY.to_owned(), DEALS_SECRET.to_owned())],
        ..FakeConfig::new(APP_KEY, APP_SECRET)
    })
    .await;
    let dir = temp_dir("tenants-own-app");
    let config = write_config(
        &dir,
        &format!(
            "[[tenants]]\nid = \"deals\"\nname = \"Deals team\"\ntracking_id = \"deals_tid\"\n\
             credentials = {{ app_key = \"{DEALS_KEY}\", app_secret_env = \"DEALS_APP_SECRET\", max_qps = 3 }}\n"
        ),
    );
    let data = dir.join("data").display().to_string();
    let env = [
        ("ADMIN_API_KEY", ADMIN),
        ("API_KEYS", &format!("ops:{OPS}")),
        ("ALIEXPRESS_APP_KEY", APP_KEY),
        ("ALIEXPRESS_APP_SECRET", APP_SECRET),
        ("ALIEXPRESS_API_URL", &fake.url()),
        ("ALIEXPRESS_TRACKING_ID", "main_tid"),
        ("DEALS_APP_SECRET", DEALS_SECRET),
        ("DATA_DIR", &data),
    ];
    let server = Server::start_with_args(&env, &["--config", &config]);
    let (_, deals) = make_key(&server, ADMIN, "deals", "deals gpt", "client").await;
    let search = "/api/products/search?keywords=phone&page_size=2";
    let (status, answer) = call(&server, Some(&deals), "GET", search, None).await;
    assert_eq!(status, 200, "{answer}");
    let last = fake.last_request(SEARCH).unwrap();
    assert_eq!(last.params["app_key"], DEALS_KEY, "the tenant's own app");
    assert_eq!(last.params["tracking_id"], "deals_tid");
    assert_eq!(
        fake.rejected_signatures(),
        0,
        "signed with the tenant's secret"
    );
    assert!(fake.verified_signatures() >= 1);
    let (status, _) = call(&server, Some(OPS), "GET", search, None).await;
    assert_eq!(status, 200);
    let last = fake.last_request(SEARCH).unwrap();
    assert_eq!(last.params["app_key"], APP_KEY, "the deployment's app");
    assert_eq!(fake.requests(SEARCH), 2, "two apps, two cache entries");
    assert_eq!(
        call(&server, Some(&deals), "GET", search, None).await.0,
        200
    );
    assert_eq!(fake.requests(SEARCH), 2, "the tenant's own entry is a hit");
    // Its orders come through its own app, into its own books.
    let link = answer["data"]["products"][0]["promotion_link"]
        .as_str()
        .unwrap()
        .to_owned();
    fake.purchase(&link, Purchase::new(8_000)).unwrap();
    let (status, synced) = call(&server, Some(ADMIN), "POST", "/api/admin/orders/sync", None).await;
    assert_eq!(status, 200, "{synced}");
    assert!(
        fake.recorded().iter().any(|r| {
            r.params.get("method").map(String::as_str)
                == Some("aliexpress.affiliate.order.listbyindex")
                && r.params.get("app_key").map(String::as_str) == Some(DEALS_KEY)
        }),
        "the tenant's orders are listed with its own app"
    );
    let (_, deals_admin) = make_key(&server, ADMIN, "deals", "deals ops", "tenant-admin").await;
    let (status, orders) = call(
        &server,
        Some(&deals_admin),
        "GET",
        "/api/admin/orders",
        None,
    )
    .await;
    assert_eq!(status, 200, "{orders}");
    assert_eq!(
        orders["data"]["orders"].as_array().unwrap().len(),
        1,
        "{orders}"
    );
    assert_eq!(orders["data"]["orders"][0]["tracking_id"], "deals_tid");
    assert!(
        !server.logs().contains(DEALS_SECRET),
        "the secret is never logged"
    );
    let (_, tenant) = call(
        &server,
        Some(ADMIN),
        "GET",
        "/api/admin/tenants/deals",
        None,
    )
    .await;
    assert!(!tenant.to_string().contains(DEALS_SECRET), "{tenant}");
    assert_eq!(
        tenant["data"]["credentials"]["app_secret_env"],
        "DEALS_APP_SECRET"
    );
    drop(server);
    // Without the secret in the environment the start is refused, naming the variable.
    let (code, _, stderr) = run_to_exit(
        &[
            ("ALIEXPRESS_APP_KEY", APP_KEY),
            ("ALIEXPRESS_APP_SECRET", APP_SECRET),
            ("ALIEXPRESS_API_URL", &fake.url()),
            ("DATA_DIR", &data),
        ],
        &["--listen", "127.0.0.1:0", "--config", &config],
    );
    assert_ne!(code, 0);
    assert!(stderr.contains("DEALS_APP_SECRET"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
