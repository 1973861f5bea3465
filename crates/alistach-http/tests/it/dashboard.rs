//! `GET /dashboard` and its files: content types, the page's Content-Security-Policy, the ETag
//! and 304, HEAD, 404 for unknown files, and a page that loads only its own files and never
//! puts the key in a URL.

use alistach_http::HttpConfig;

use crate::support::{Answer, TestServer};

/// The page's policy, every directive the brief asks for.
fn assert_strict_csp(csp: &str, path: &str) {
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    ] {
        assert!(
            csp.contains(directive),
            "{path}: {directive} missing: {csp}"
        );
    }
    assert!(!csp.contains("unsafe"), "{path}: {csp}");
    assert!(!csp.contains('*'), "{path}: {csp}");
    assert!(!csp.contains("http"), "{path}: another origin in {csp}");
}

#[tokio::test]
async fn the_page_and_its_files_are_served_with_types_policy_and_validators() {
    let s = TestServer::start(HttpConfig::default()).await;
    let page = Answer::of(s.get("/dashboard").await).await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_strict_csp(
        page.header("content-security-policy").unwrap(),
        "/dashboard",
    );
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(page.header("cache-control"), Some("no-cache"));
    let html = page.json.as_str().unwrap().to_owned();
    // Only the page's own files, by absolute path; no inline script or style.
    for file in [
        "/dashboard/app.js",
        "/dashboard/chart.js",
        "/dashboard/app.css",
        "/dashboard/icon.svg",
    ] {
        assert!(
            html.contains(&format!("\"{file}\"")),
            "{file} not loaded by the page"
        );
    }
    assert!(
        !html.contains("<script>") && !html.contains("style="),
        "inline code in the page"
    );
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "another origin in the page"
    );

    for (file, kind) in [
        ("app.js", "text/javascript; charset=utf-8"),
        ("chart.js", "text/javascript; charset=utf-8"),
        ("app.css", "text/css; charset=utf-8"),
        ("icon.svg", "image/svg+xml"),
    ] {
        let path = format!("/dashboard/{file}");
        let a = Answer::of(s.get(&path).await).await;
        assert_eq!(a.status, 200, "{path}");
        assert_eq!(a.header("content-type"), Some(kind), "{path}");
        assert_strict_csp(a.header("content-security-policy").unwrap(), &path);
        assert!(a.json.as_str().is_some_and(|t| t.len() > 100), "{path}");
        // The validator: the same file is 304 without a body, a changed one would not match.
        let etag = a.header("etag").unwrap().to_owned();
        assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
        let again = s
            .client
            .get(s.url(&path))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{path}");
        assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);
        assert!(again.bytes().await.unwrap().is_empty());
        let stale = s
            .client
            .get(s.url(&path))
            .header("if-none-match", "\"0000000000000000\"")
            .send()
            .await
            .unwrap();
        assert_eq!(stale.status(), 200, "{path}");
    }
    // Every file has its own validator.
    let mut tags = Vec::new();
    for path in ["/dashboard", "/dashboard/app.js", "/dashboard/app.css"] {
        let a = s.get(path).await;
        tags.push(a.headers()["etag"].to_str().unwrap().to_owned());
    }
    tags.dedup();
    assert_eq!(tags.len(), 3, "{tags:?}");

    // HEAD is the GET without the body.
    let head = s
        .client
        .head(s.url("/dashboard/app.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
}

#[tokio::test]
async fn unknown_files_are_404_and_other_methods_405() {
    let s = TestServer::start(HttpConfig::default()).await;
    for path in [
        "/dashboard/nope.js",
        "/dashboard/app.js.map",
        "/dashboard/APP.JS",
        "/dashboard/..%2Fapp.js",
        "/dashboard/",
        "/dashboard/app.js/x",
        "/dashboard/index.html",
    ] {
        let a = Answer::of(s.get(path).await).await;
        assert_eq!(a.status, 404, "{path}");
        assert_eq!(
            a.header("content-type"),
            Some("application/problem+json"),
            "{path}"
        );
    }
    let post = Answer::of(s.post_json("/dashboard", "{}").await).await;
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET"));
}

#[tokio::test]
async fn the_script_sends_the_key_in_a_header_only() {
    // A check of the shipped script's text (the browser test in alistach-server proves it in
    // Chromium): the key is read from sessionStorage and sent as a Bearer header; the `#key=`
    // fragment is taken out of the address bar with history.replaceState.
    let s = TestServer::start(HttpConfig::default()).await;
    let js = s.get("/dashboard/app.js").await.text().await.unwrap();
    assert!(js.contains("sessionStorage"));
    assert!(js.contains("Authorization: `Bearer ${key}`"));
    assert!(js.contains("history.replaceState"));
    assert!(
        !js.contains("localStorage.setItem(KEY"),
        "the key must not outlive the tab"
    );
    assert!(
        !js.contains("?key=") && !js.contains("&key="),
        "the key in a query string"
    );
}
