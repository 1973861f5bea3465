//! Integration tests of the contract crate: the OpenAPI documents against the route table and the GPT Actions rules.

mod gpt;
mod schemas;

use std::collections::BTreeSet;

use alistach_api::{OpenApiOptions, Profile, ROUTES, openapi};
use serde_json::Value;

pub const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

pub fn opts() -> OpenApiOptions {
    OpenApiOptions {
        public_base_url: "https://alistach.example.com".into(),
        api_key_security: true,
        version: "2.0.0".into(),
    }
}

/// Every (METHOD, path, operationId) in a document.
pub fn operations(doc: &Value) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths is an object") {
        for (method, op) in item.as_object().expect("path item is an object") {
            assert!(
                METHODS.contains(&method.as_str()),
                "unexpected key {method} under {path}"
            );
            let id = op["operationId"].as_str().expect("operationId is a string");
            out.insert((method.to_ascii_uppercase(), path.clone(), id.to_owned()));
        }
    }
    out
}

/// Calls `f` on every JSON object in `value`, with its JSON pointer.
pub fn walk_objects(
    value: &Value,
    pointer: &str,
    f: &mut dyn FnMut(&str, &serde_json::Map<String, Value>),
) {
    match value {
        Value::Object(map) => {
            f(pointer, map);
            for (k, v) in map {
                walk_objects(
                    v,
                    &format!("{pointer}/{}", k.replace('~', "~0").replace('/', "~1")),
                    f,
                );
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                walk_objects(v, &format!("{pointer}/{i}"), f);
            }
        }
        _ => {}
    }
}

/// Every schema object of a document: component schemas, parameter schemas and media-type schemas,
/// with all their subschemas.
pub fn schema_roots(doc: &Value) -> Vec<(String, Value)> {
    let mut roots = Vec::new();
    if let Some(schemas) = doc["components"]["schemas"].as_object() {
        for (name, s) in schemas {
            roots.push((format!("#/components/schemas/{name}"), s.clone()));
        }
    }
    walk_objects(&doc["paths"], "#/paths", &mut |pointer, map| {
        if let Some(s) = map.get("schema") {
            roots.push((format!("{pointer}/schema"), s.clone()));
        }
    });
    roots
}

#[test]
fn documents_are_openapi_3_1_json_that_round_trips() {
    for profile in [Profile::Full, Profile::Gpt] {
        let doc = openapi(profile, &opts());
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["info"]["version"], "2.0.0");
        assert!(doc["info"]["title"].as_str().is_some_and(|t| !t.is_empty()));
        let text = serde_json::to_string_pretty(&doc).unwrap();
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, doc);
    }
}

#[test]
fn documents_are_deterministic() {
    for profile in [Profile::Full, Profile::Gpt] {
        let a = serde_json::to_string(&openapi(profile, &opts())).unwrap();
        let b = serde_json::to_string(&openapi(profile, &opts())).unwrap();
        assert_eq!(a, b);
    }
}

#[test]
fn full_document_has_exactly_the_documented_routes() {
    let doc = openapi(Profile::Full, &opts());
    let expected: BTreeSet<_> = ROUTES
        .iter()
        .filter(|r| r.in_openapi)
        .map(|r| {
            (
                r.method.to_owned(),
                r.path.to_owned(),
                r.operation_id.to_owned(),
            )
        })
        .collect();
    assert_eq!(operations(&doc), expected);
    // The undocumented asset route really is left out.
    assert!(ROUTES.iter().any(|r| !r.in_openapi));
    assert!(doc["paths"].get("/docs/rapidoc-min.js").is_none());
}

#[test]
fn every_routed_path_and_operation_correspond_both_ways() {
    let doc = openapi(Profile::Full, &opts());
    for (method, path, id) in operations(&doc) {
        let route = alistach_api::find(&method, &path)
            .unwrap_or_else(|miss| panic!("{method} {path}: {miss}"));
        assert_eq!(route.operation_id, id);
        assert!(route.in_openapi);
    }
    for route in ROUTES.iter().filter(|r| r.in_openapi) {
        let op = &doc["paths"][route.path][route.method.to_ascii_lowercase()];
        assert_eq!(
            op["operationId"], route.operation_id,
            "{} {}",
            route.method, route.path
        );
        assert_eq!(op["summary"], route.summary);
    }
}

#[test]
fn every_ref_resolves() {
    for profile in [Profile::Full, Profile::Gpt] {
        let doc = openapi(profile, &opts());
        let mut refs = Vec::new();
        walk_objects(&doc, "#", &mut |pointer, map| {
            if let Some(r) = map.get("$ref") {
                refs.push((
                    pointer.to_owned(),
                    r.as_str().expect("$ref is a string").to_owned(),
                ));
            }
        });
        assert!(!refs.is_empty());
        for (at, r) in refs {
            let target = r
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("{at}: non-local ref {r}"));
            assert!(
                doc.pointer(target).is_some(),
                "{profile:?} {at}: dangling ref {r}"
            );
            assert!(
                !r.contains("Envelope_"),
                "{at}: envelope schema not renamed: {r}"
            );
        }
    }
}

#[test]
fn get_query_routes_have_parameters_and_post_routes_bodies() {
    let doc = openapi(Profile::Full, &opts());
    let params = |path: &str, method: &str| -> BTreeSet<String> {
        doc["paths"][path][method]["parameters"]
            .as_array()
            .map(|ps| {
                ps.iter()
                    .map(|p| p["name"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let search = params("/api/products/search", "get");
    for name in [
        "keywords",
        "page_size",
        "page_no",
        "sort",
        "min_sale_price",
        "max_sale_price",
        "category_ids",
    ] {
        assert!(
            search.contains(name),
            "{name} missing from GET search parameters"
        );
    }
    assert_eq!(search, params("/api/products", "get"));
    assert!(params("/api/products/details", "get").contains("product_ids"));
    assert!(params("/api/products/details", "get").contains("urls"));
    assert!(params("/api/cache/clear", "post").contains("pattern"));
    let link = &doc["paths"]["/api/affiliate/link"]["get"]["parameters"];
    let url = link
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "url")
        .unwrap();
    assert_eq!(url["required"], true);
    assert_eq!(url["in"], "query");
    for (path, schema) in [
        ("/api/products/search", "SearchRequest"),
        ("/api/products/search/no-cache", "SearchRequest"),
        ("/api/affiliate/links", "AffiliateLinksRequest"),
    ] {
        let body = &doc["paths"][path]["post"]["requestBody"];
        assert_eq!(body["required"], true);
        assert_eq!(
            body["content"]["application/json"]["schema"]["$ref"],
            format!("#/components/schemas/{schema}")
        );
    }
}

#[test]
fn errors_are_problem_json_and_admin_routes_use_the_admin_scheme() {
    let doc = openapi(Profile::Full, &opts());
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    assert_eq!(schemes["AdminKeyAuth"]["name"], "x-admin-key");
    assert_eq!(schemes["ApiKeyAuth"]["scheme"], "bearer");
    for route in ROUTES.iter().filter(|r| r.in_openapi) {
        let op = &doc["paths"][route.path][route.method.to_ascii_lowercase()];
        for (status, response) in op["responses"].as_object().unwrap() {
            let code: u16 = status.parse().unwrap();
            assert!(
                response["description"]
                    .as_str()
                    .is_some_and(|d| !d.is_empty())
            );
            if code >= 400 && route.path != "/readyz" {
                assert_eq!(
                    response["content"]["application/problem+json"]["schema"]["$ref"],
                    "#/components/schemas/Problem",
                    "{} {} {status}",
                    route.method,
                    route.path
                );
            }
        }
        let security = &op["security"];
        match route.access {
            alistach_api::Access::Public => assert!(security.is_null(), "{}", route.path),
            alistach_api::Access::Api => {
                assert_eq!(security, &serde_json::json!([{"ApiKeyAuth": []}]))
            }
            alistach_api::Access::Admin => {
                assert_eq!(security, &serde_json::json!([{"AdminKeyAuth": []}]));
                assert!(
                    op["responses"].get("401").is_some() && op["responses"].get("403").is_some()
                );
            }
        }
    }
    let search = &doc["paths"]["/api/products/search"]["get"]["responses"];
    for code in ["422", "429", "502", "503", "504"] {
        assert!(search.get(code).is_some(), "search lacks {code}");
    }
}

#[test]
fn every_operation_lists_every_status_the_adapter_can_answer() {
    let doc = openapi(Profile::Full, &opts());
    for route in ROUTES.iter().filter(|r| r.in_openapi) {
        let op = &doc["paths"][route.path][route.method.to_ascii_lowercase()];
        let mut expected = vec!["414", "431", "500", "504"];
        if route.id == alistach_api::RouteId::TrackedLink {
            // A redirect; a token that is not ours is not found, never invalid input.
            expected.extend(["302", "404"]);
        } else if route.id == alistach_api::RouteId::ExperimentCreate {
            // Created; or refused while another experiment runs.
            expected.extend(["201", "409"]);
        } else if matches!(
            route.id,
            alistach_api::RouteId::WebhookCreate
                | alistach_api::RouteId::WatchCreate
                | alistach_api::RouteId::TenantKeyCreate
        ) {
            expected.push("201");
        } else if route.id == alistach_api::RouteId::TenantCreate {
            // Created; or the id or tracking id is taken.
            expected.extend(["201", "409"]);
        } else {
            expected.push("200");
        }
        if route.path.contains('{') && route.id != alistach_api::RouteId::TrackedLink {
            // Something named by id in the path: unknown ids are not found.
            expected.push("404");
        }
        if matches!(
            route.id,
            alistach_api::RouteId::TenantUpdate | alistach_api::RouteId::TenantDelete
        ) {
            // A tenant of the config file cannot be changed or deleted through the API.
            expected.push("409");
        }
        if route.path.starts_with("/api/admin/tenants") || route.path == "/api/admin/audit" {
            // Tenants, keys and the audit log are in the database.
            expected.push("503");
        }
        if matches!(route.method, "POST" | "PATCH") {
            // Every POST reads its body.
            expected.extend(["400", "408", "413"]);
        }
        let query = op["parameters"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["in"] == "query"));
        if query || op.get("requestBody").is_some() {
            expected.push("422");
        }
        match route.access {
            alistach_api::Access::Public => {}
            alistach_api::Access::Api => expected.extend(["401", "429"]),
            alistach_api::Access::Admin => expected.extend(["401", "403", "429"]),
        }
        for code in expected {
            assert!(
                op["responses"].get(code).is_some(),
                "{} {} lacks {code}",
                route.method,
                route.path
            );
        }
    }
}

#[test]
fn tenant_routes_name_tenants_and_keys_by_text_and_document_their_bodies() {
    let doc = openapi(Profile::Full, &opts());
    let params = |path: &str, method: &str| doc["paths"][path][method]["parameters"].clone();
    let revoke = params("/api/admin/tenants/{id}/keys/{key_id}", "delete");
    assert_eq!(revoke[0]["name"], "id");
    assert_eq!(revoke[0]["schema"]["type"], "string");
    assert_eq!(
        revoke[0]["schema"]["pattern"],
        alistach_api::types::TENANT_ID_PATTERN
    );
    assert_eq!(revoke[1]["name"], "key_id");
    assert_eq!(revoke[1]["schema"]["type"], "string");
    // Other routes' ids stay integers.
    assert_eq!(
        params("/api/admin/watches/{id}", "delete")[0]["schema"]["type"],
        "integer"
    );

    let patch = &doc["paths"]["/api/admin/tenants/{id}"]["patch"]["requestBody"]["content"];
    assert!(patch["application/merge-patch+json"]["schema"].is_object());
    assert_eq!(
        patch["application/merge-patch+json"],
        patch["application/json"]
    );
    let properties = patch["application/json"]["schema"]["properties"]
        .as_object()
        .unwrap();
    assert!(!properties.contains_key("id"), "the id cannot be patched");
    assert!(properties.contains_key("tracking_id"));

    let create = &doc["paths"]["/api/admin/tenants"]["post"];
    assert_eq!(
        create["requestBody"]["content"]["application/json"]["schema"]["additionalProperties"],
        false
    );
    assert!(create["responses"].get("201").is_some());
    assert!(create["responses"].get("200").is_none());

    let usage = &doc["paths"]["/api/admin/tenants/{id}/usage"]["get"];
    let ok = &usage["responses"]["200"]["content"];
    assert_eq!(
        ok["application/json"]["schema"]["$ref"],
        "#/components/schemas/TenantUsageResponse"
    );
    assert_eq!(ok["text/csv"]["schema"]["type"], "string");
    let names: BTreeSet<_> = usage["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, BTreeSet::from(["id", "from", "to", "format"]));
    let longest = format!("{} days", alistach_api::types::MAX_USAGE_DAYS);
    assert!(usage["description"].as_str().unwrap().contains(&longest));
    assert!(
        usage["responses"]["422"]["description"]
            .as_str()
            .unwrap()
            .contains(&longest)
    );

    let audit = &doc["paths"]["/api/admin/audit"]["get"]["parameters"];
    let names: BTreeSet<_> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from(["tenant", "from", "to", "before", "limit"])
    );
    let limit = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit")
        .unwrap();
    assert_eq!(limit["schema"]["minimum"], 1);
    assert_eq!(limit["schema"]["maximum"], 1000);

    // Who may call is said on every tenant route, and none of them is in the GPT document.
    for route in ROUTES
        .iter()
        .filter(|r| r.path.starts_with("/api/admin/tenants") || r.path == "/api/admin/audit")
    {
        assert_eq!(route.access, alistach_api::Access::Admin);
        assert!(route.in_openapi && !route.in_gpt, "{}", route.operation_id);
        let op = &doc["paths"][route.path][route.method.to_ascii_lowercase()];
        let description = op["description"].as_str().unwrap();
        assert!(
            description.contains("super-admin"),
            "{}: {description}",
            route.operation_id
        );
        assert_eq!(op["tags"][0], "tenants");
    }
    let gpt = openapi(Profile::Gpt, &opts());
    assert!(
        gpt["components"]["schemas"]
            .as_object()
            .unwrap()
            .keys()
            .all(|k| !k.starts_with("Tenant") && !k.starts_with("Audit"))
    );
}

#[test]
fn server_url_is_the_public_base_without_trailing_slash() {
    let mut o = opts();
    o.public_base_url = "https://gw.example.org/".into();
    assert_eq!(
        openapi(Profile::Gpt, &o)["servers"],
        serde_json::json!([{"url": "https://gw.example.org"}])
    );
    // The full document also offers the origin it is served from, for "try it" on /docs.
    let full = openapi(Profile::Full, &o);
    assert_eq!(full["servers"][0]["url"], "https://gw.example.org");
    assert_eq!(full["servers"][1]["url"], "/");
}

#[test]
fn options_validation_names_the_problem() {
    assert_eq!(opts().validate(), Ok(()));
    let check = |url: &str| {
        let mut o = opts();
        o.public_base_url = url.into();
        o.validate().map_err(|e| e.to_string())
    };
    assert!(
        check("http://alistach.example.com")
            .unwrap_err()
            .contains("https://")
    );
    assert!(check("https://").unwrap_err().contains("no host"));
    assert!(
        check("https://a.example?x=1")
            .unwrap_err()
            .contains("query")
    );
    assert!(check("alistach.example.com").is_err());
    let mut o = opts();
    o.version = " ".into();
    assert!(o.validate().unwrap_err().to_string().contains("version"));
    let o = OpenApiOptions::new("https://x.example");
    assert!(o.api_key_security);
    assert_eq!(o.version, env!("CARGO_PKG_VERSION"));
}
