//! The GPT Actions rules, each checked by walking the generated JSON.

use std::collections::BTreeSet;

use alistach_api::{Profile, ROUTES, openapi};
use serde_json::{Value, json};

use crate::{operations, opts, schema_roots, walk_objects};

fn gpt() -> Value {
    openapi(Profile::Gpt, &opts())
}

fn each_operation(doc: &Value, mut f: impl FnMut(&str, &str, &Value)) {
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            f(path, method, op);
        }
    }
}

#[test]
fn exactly_one_https_server() {
    let doc = gpt();
    let servers = doc["servers"].as_array().expect("servers is an array");
    assert_eq!(servers.len(), 1);
    assert_eq!(servers[0]["url"], "https://alistach.example.com");
    assert!(servers[0]["url"].as_str().unwrap().starts_with("https://"));
}

#[test]
fn exactly_one_bearer_security_scheme_used_by_every_operation() {
    let doc = gpt();
    let schemes = doc["components"]["securitySchemes"]
        .as_object()
        .expect("securitySchemes");
    assert_eq!(schemes.len(), 1, "{schemes:?}");
    let (name, scheme) = schemes.iter().next().unwrap();
    assert_eq!(scheme["type"], "http");
    assert_eq!(scheme["scheme"], "bearer");
    each_operation(&doc, |path, method, op| {
        assert_eq!(
            op["security"],
            json!([{ name.as_str(): [] }]),
            "{method} {path}"
        );
    });
}

#[test]
fn without_api_key_security_there_is_no_scheme_and_no_401() {
    let mut o = opts();
    o.api_key_security = false;
    let doc = openapi(Profile::Gpt, &o);
    assert!(doc["components"].get("securitySchemes").is_none());
    each_operation(&doc, |path, method, op| {
        assert!(op.get("security").is_none(), "{method} {path}");
        assert!(op["responses"].get("401").is_none(), "{method} {path}");
    });
}

#[test]
fn only_gpt_operations_with_the_agreed_ids() {
    let doc = gpt();
    let expected: BTreeSet<_> = ROUTES
        .iter()
        .filter(|r| r.in_gpt)
        .map(|r| {
            (
                r.method.to_owned(),
                r.path.to_owned(),
                r.operation_id.to_owned(),
            )
        })
        .collect();
    assert_eq!(operations(&doc), expected);
    let ids: BTreeSet<_> = operations(&doc).into_iter().map(|(_, _, id)| id).collect();
    let agreed: BTreeSet<String> = [
        "searchProducts",
        "getProductDetails",
        "getHotProducts",
        "listCategories",
        "createAffiliateLinks",
        "getAffiliateLink",
        "getSimilarProducts",
        "listPromotions",
        "getPromotionProducts",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(ids, agreed);
    for admin in [
        "/api/cache/stats",
        "/api/cache/clear",
        "/api/status",
        "/metrics",
        "/system/info",
    ] {
        assert!(
            doc["paths"].get(admin).is_none(),
            "{admin} leaked into the GPT document"
        );
    }
}

#[test]
fn operation_ids_are_camel_case() {
    each_operation(&gpt(), |path, _, op| {
        let id = op["operationId"].as_str().unwrap();
        assert!(
            id.starts_with(|c: char| c.is_ascii_lowercase()),
            "{path}: {id}"
        );
        assert!(
            id.chars().all(|c| c.is_ascii_alphanumeric()),
            "{path}: {id}"
        );
    });
}

#[test]
fn summaries_and_descriptions_fit_300_chars() {
    let doc = gpt();
    let mut checked = 0;
    each_operation(&doc, |path, method, op| {
        for key in ["summary", "description"] {
            let text = op[key]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no {key}"));
            assert!(!text.trim().is_empty());
            assert!(
                text.chars().count() <= 300,
                "{method} {path} {key} is {} chars",
                text.chars().count()
            );
            checked += 1;
        }
    });
    assert_eq!(checked, 2 * ROUTES.iter().filter(|r| r.in_gpt).count());
    assert!(doc["info"]["description"].as_str().unwrap().chars().count() <= 300);
}

#[test]
fn parameter_descriptions_fit_700_chars() {
    let doc = gpt();
    let mut checked = 0;
    each_operation(&doc, |path, method, op| {
        for p in op["parameters"].as_array().into_iter().flatten() {
            let d = p["description"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} {} has no description", p["name"]));
            assert!(d.chars().count() <= 700, "{method} {path} {}", p["name"]);
            assert_eq!(p["in"], "query");
            checked += 1;
        }
    });
    assert!(checked >= 10, "only {checked} parameters");
}

#[test]
fn read_only_operations_are_get() {
    each_operation(&gpt(), |path, method, op| {
        let id = op["operationId"].as_str().unwrap();
        let reads = ["get", "list", "search"].iter().any(|p| id.starts_with(p));
        assert_eq!(reads, method == "get", "{method} {path} {id}");
        if method != "get" {
            assert_eq!(op["x-openai-isConsequential"], false, "{path}");
            assert!(op["requestBody"].is_object(), "{path}");
        }
    });
}

#[test]
fn no_type_arrays_and_no_null_types() {
    let doc = gpt();
    walk_objects(&doc, "#", &mut |pointer, map| {
        if let Some(t) = map.get("type") {
            if t.is_object() {
                return; // a property named "type"
            }
            let t = t
                .as_str()
                .unwrap_or_else(|| panic!("{pointer}: type {t} is not a single string"));
            assert_ne!(t, "null", "{pointer}");
        }
    });
}

#[test]
fn no_bare_or_map_only_objects() {
    let doc = gpt();
    for (root, schema) in schema_roots(&doc) {
        walk_objects(&schema, &root, &mut |pointer, map| {
            if pointer.ends_with("/properties") {
                return; // the properties map itself, not a schema
            }
            if map.get("type").and_then(Value::as_str) == Some("object") {
                let props = map.get("properties").and_then(Value::as_object);
                assert!(
                    props.is_some_and(|p| !p.is_empty()),
                    "{pointer}: object schema without properties"
                );
                assert!(
                    map.get("additionalProperties")
                        .is_none_or(|a| a == &Value::Bool(false)),
                    "{pointer}: map-like object"
                );
            }
        });
    }
}

#[test]
fn only_schemas_the_operations_reach_are_included() {
    let doc = gpt();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in [
        "CacheStatsData",
        "Health",
        "RootInfo",
        "SystemInfo",
        "StatusData",
        "SearchRequest",
    ] {
        assert!(
            !schemas.contains_key(name),
            "{name} should not be in the GPT document"
        );
    }
    for name in [
        "SearchResponse",
        "Product",
        "AffiliateLinksRequest",
        "Problem",
        "CategoriesResponse",
    ] {
        assert!(
            schemas.contains_key(name),
            "{name} missing from the GPT document"
        );
    }
}

#[test]
fn the_full_profile_keeps_nullable_types() {
    // The GPT rewriting must not leak into the full document, which stays exact JSON Schema 2020-12.
    let doc = openapi(Profile::Full, &opts());
    let keywords = &doc["components"]["schemas"]["SearchRequest"]["properties"]["keywords"]["type"];
    assert_eq!(keywords, &json!(["string", "null"]));
}

#[test]
fn no_schema_reaches_itself() {
    // GPT Actions cope poorly with recursive schemas (the category tree is unrolled to two levels).
    let doc = gpt();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let refs_of = |schema: &Value| {
        let mut out = Vec::new();
        walk_objects(schema, "#", &mut |_, map| {
            if let Some(r) = map.get("$ref").and_then(Value::as_str) {
                out.push(r.trim_start_matches("#/components/schemas/").to_owned());
            }
        });
        out
    };
    for start in schemas.keys() {
        let mut seen = BTreeSet::new();
        let mut pending = refs_of(&schemas[start]);
        while let Some(name) = pending.pop() {
            assert_ne!(&name, start, "{start} refers back to itself");
            if seen.insert(name.clone()) {
                pending.extend(refs_of(&schemas[&name]));
            }
        }
    }
    let children = &schemas["Category"]["properties"]["children"]["items"]["$ref"];
    assert_eq!(children, "#/components/schemas/Subcategory");
    assert!(
        schemas["Subcategory"]["properties"]
            .get("children")
            .is_none()
    );
    assert!(
        schemas["Subcategory"]["properties"]
            .get("parent_category_id")
            .is_some()
    );
}

#[test]
fn the_gpt_profile_stays_importable_and_cheap_for_the_model() {
    let doc = gpt();
    let mut operations = 0;
    each_operation(&doc, |path, method, op| {
        operations += 1;
        let description = op["description"].as_str().unwrap();
        assert!(
            description.contains("Use "),
            "{method} {path} does not say when to use it: {description}"
        );
        for p in op["parameters"].as_array().into_iter().flatten() {
            let name = p["name"].as_str().unwrap();
            assert!(
                p.get("example").is_some(),
                "{method} {path} parameter {name} has no example"
            );
            if ["target_currency", "target_language", "sort", "link_type"].contains(&name) {
                let values = p["schema"]["enum"].as_array();
                assert!(
                    values.is_some_and(|v| v.len() >= 2),
                    "{method} {path} {name} is not an enum"
                );
                assert!(
                    values.unwrap().contains(&p["example"]),
                    "{method} {path} {name}: the example is not one of the values"
                );
            }
            if name == "page_size" {
                assert_eq!(
                    p["schema"]["maximum"],
                    alistach_api::GPT_MAX_PAGE_SIZE,
                    "{method} {path}"
                );
                assert!(
                    p["description"].as_str().unwrap().contains("1 to 20"),
                    "{method} {path}"
                );
            }
        }
    });
    assert!(
        operations <= 30,
        "{operations} operations; GPT Actions take at most 30"
    );
    assert_eq!(operations, ROUTES.iter().filter(|r| r.in_gpt).count());
    let body = &doc["components"]["schemas"]["AffiliateLinksRequest"]["properties"]["link_type"];
    assert_eq!(body["enum"], json!(["normal", "hot"]));
    let info = doc["info"]["description"].as_str().unwrap();
    assert!(info.contains("metadata.mock_mode") && info.contains("tell the user"));
    assert!(info.contains("promotion_link"));
}

#[test]
fn every_gpt_schema_has_an_example_that_matches_it() {
    let doc = gpt();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    assert!(schemas.len() >= 10);
    for (name, schema) in schemas {
        let examples = schema["examples"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} has no examples"));
        assert!(!examples.is_empty(), "{name}");
        for example in examples {
            let mut errors = Vec::new();
            crate::schemas::check(&doc, schema, example, name, &mut errors);
            assert_eq!(errors, Vec::<String>::new(), "{name}: {example}");
        }
    }
    let search = &schemas["SearchResponse"]["examples"][0];
    assert_eq!(search["success"], true);
    assert!(search["data"]["products"][0]["promotion_link"].is_string());
}
