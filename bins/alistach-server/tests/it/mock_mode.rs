//! Mock mode through the real binary: labelling, filters, caching headers, and every class of
//! bad input answered with a problem+json that names the problem.

use serde_json::{Value, json};

use crate::support::{Server, client};

async fn problem(r: reqwest::Response, status: u16) -> Value {
    assert_eq!(r.status().as_u16(), status, "unexpected status");
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(
        ct.starts_with("application/problem+json"),
        "content type {ct}"
    );
    let v: Value = r.json().await.unwrap();
    for f in ["type", "title", "status", "detail"] {
        assert!(v.get(f).is_some(), "problem lacks {f}: {v}");
    }
    assert_eq!(v["status"], status);
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mock_data_is_labelled_filtered_and_cached() {
    let server = Server::start(&[]);
    let c = client();
    let body = json!({"keywords": "wireless earbuds", "page_size": 20, "sort": "SALE_PRICE_ASC", "min_sale_price": "5", "max_sale_price": 80, "target_currency": "EUR"});

    let r = c
        .post(server.url("/api/products/search"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-alistach-mode"], "mock");
    assert_eq!(r.headers()["x-cache"], "MISS");
    assert!(r.headers().contains_key("x-request-id"));
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["metadata"]["mock_mode"], true);
    assert_eq!(v["metadata"]["api_integration"], "mock");
    let products = v["data"]["products"].as_array().unwrap();
    assert!(
        products.len() > 1,
        "expected several earbuds, got {}",
        products.len()
    );
    let mut last = 0.0f64;
    for p in products {
        let price: f64 = p["app_sale_price"].as_str().unwrap().parse().unwrap();
        assert!(
            (5.0..=80.0).contains(&price),
            "price {price} outside the range"
        );
        assert!(price >= last, "not sorted by price ascending");
        last = price;
        assert_eq!(p["currency"], "EUR");
        let link = p["promotion_link"].as_str().unwrap_or("");
        assert!(
            !link.contains("s.click.aliexpress.com"),
            "mock link looks real: {link}"
        );
        let title = p["product_title"].as_str().unwrap().to_lowercase();
        assert!(
            title.contains("earbud") && title.contains("wireless"),
            "{title}"
        );
    }

    // The same question again, spelled differently, is a cache hit.
    let again = json!({"keywords": "  wireless   earbuds ", "page_size": 20, "sort": "sale_price_asc", "min_sale_price": 5, "max_sale_price": "80.00", "target_currency": "eur"});
    let r = c
        .post(server.url("/api/products/search"))
        .json(&again)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-cache"], "HIT");
    assert!(r.headers().contains_key("age"));
    assert!(
        r.headers()["cache-status"]
            .to_str()
            .unwrap()
            .contains("hit")
    );
    let v2: Value = r.json().await.unwrap();
    assert_eq!(v2["data"]["cache_hit"], true);
    assert_eq!(v2["metadata"]["cache_hit"], true);
    assert_eq!(v2["data"]["products"], v["data"]["products"]);

    // Pages are disjoint and totals agree.
    let p1: Value = c
        .get(server.url("/api/products/search"))
        .query(&[
            ("keywords", "phone case"),
            ("page_size", "5"),
            ("page_no", "1"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let p2: Value = c
        .get(server.url("/api/products/search"))
        .query(&[
            ("keywords", "phone case"),
            ("page_size", "5"),
            ("page_no", "2"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(p1["data"]["total_results"], p2["data"]["total_results"]);
    let ids = |v: &Value| {
        v["data"]["products"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["product_id"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let (a, b) = (ids(&p1), ids(&p2));
    assert!(!a.is_empty() && !b.is_empty());
    assert!(a.iter().all(|id| !b.contains(id)), "pages overlap");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_4xx_naming_the_problem() {
    let server = Server::start(&[]);
    let c = client();
    let search = server.url("/api/products/search");

    for (body, field) in [
        (json!({"keywords": "x", "page_size": 0}), "page_size"),
        (json!({"keywords": "x", "page_size": 51}), "page_size"),
        (json!({"keywords": "x", "page_size": 1000}), "page_size"),
        (json!({"keywords": "x", "page_size": -5}), "page_size"),
        (json!({"keywords": "x", "page_size": "ten"}), "page_size"),
        (json!({"keywords": "x", "page_no": 0}), "page_no"),
        (json!({"keywords": "x", "page_no": 101}), "page_no"),
        (json!({"keywords": "x", "sort": "CHEAPEST"}), "sort"),
        (
            json!({"keywords": "x", "min_sale_price": -1}),
            "min_sale_price",
        ),
        (
            json!({"keywords": "x", "min_sale_price": 50, "max_sale_price": 10}),
            "min_sale_price",
        ),
        (
            json!({"keywords": "x", "target_currency": "DOGE"}),
            "currency",
        ),
        (json!({"keywords": "x", "colour": "red"}), "colour"),
        (json!({"page_size": 10}), "keywords"),
    ] {
        let r = c.post(&search).json(&body).send().await.unwrap();
        let v = problem(r, 422).await;
        let detail = v["detail"].as_str().unwrap();
        assert!(
            detail.contains(field),
            "{body}: detail {detail:?} does not name {field}"
        );
    }

    let r = c
        .post(&search)
        .header("content-type", "application/json")
        .body("{\"keywords\": ")
        .send()
        .await
        .unwrap();
    let v = problem(r, 400).await;
    assert!(
        v["detail"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("json"),
        "{v}"
    );

    // A null page_size is refused, as v1.1.0 should have.
    let r = c
        .post(&search)
        .json(&json!({"keywords": "x", "page_size": null}))
        .send()
        .await
        .unwrap();
    problem(r, 422).await;

    // Links: too many, not AliExpress, a short link.
    let links = server.url("/api/affiliate/links");
    let many: Vec<String> = (0..51)
        .map(|i| format!("https://www.aliexpress.com/item/10050061234567{i:02}.html"))
        .collect();
    let r = c
        .post(&links)
        .json(&json!({"urls": many}))
        .send()
        .await
        .unwrap();
    let v = problem(r, 422).await;
    assert!(v["detail"].as_str().unwrap().contains("50"), "{v}");
    // In a list, a foreign URL gets its own result; alone, it is a 422 naming `url`.
    let r = c.post(&links).json(&json!({"urls": ["https://www.aliexpress.com/item/1005006123456789.html", "https://evil.example/item/1.html"]})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["data"]["results"][1]["reason"], "not_aliexpress", "{v}");
    let r = c
        .get(server.url("/api/affiliate/link"))
        .query(&[("url", "https://evil.example/item/1.html")])
        .send()
        .await
        .unwrap();
    let v = problem(r, 422).await;
    assert!(v["detail"].as_str().unwrap().contains("url"), "{v}");

    // Unknown path, wrong method.
    let r = c.get(server.url("/api/nothing-here")).send().await.unwrap();
    problem(r, 404).await;
    let r = c
        .delete(server.url("/api/categories"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert!(r.headers()["allow"].to_str().unwrap().contains("GET"));

    // A body over the limit.
    // Over the 64 KiB limit, yet small enough to sit in the socket buffers, so the client always
    // gets to read the answer.
    let huge = format!("{{\"keywords\": \"{}\"}}", "a".repeat(100 * 1024));
    let r = c
        .post(&search)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);

    // The server is still healthy after all that.
    assert_eq!(
        c.get(server.url("/health")).send().await.unwrap().status(),
        200
    );
    assert!(
        !server.logs().contains("panicked"),
        "a handler panicked:\n{}",
        server.logs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_and_request_ids() {
    let server = Server::start(&[]);
    let c = client();
    let r = c
        .request(reqwest::Method::OPTIONS, server.url("/api/products/search"))
        .header("origin", "https://chatgpt.com")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type, authorization",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://chatgpt.com"
    );
    assert!(
        r.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );

    let r = c
        .request(reqwest::Method::OPTIONS, server.url("/api/products/search"))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(
        r.headers().get("access-control-allow-origin").is_none(),
        "disallowed origin got CORS headers"
    );

    let r = c
        .get(server.url("/health"))
        .header("x-request-id", "trace-abc.123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "trace-abc.123");
    let r = c
        .get(server.url("/health"))
        .header("x-request-id", "bad id with spaces/and?marks")
        .send()
        .await
        .unwrap();
    let echoed = r.headers()["x-request-id"].to_str().unwrap();
    assert_ne!(echoed, "bad id with spaces/and?marks");
    assert_eq!(
        echoed.len(),
        16,
        "a fresh id replaces an insane one: {echoed}"
    );
}
