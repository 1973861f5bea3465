//! Checks that what serde writes matches what the published schemas say, with a small JSON Schema checker.

use alistach_api::types::*;
use alistach_api::{Profile, openapi};
use serde_json::{Value, json};

use crate::opts;

/// A deliberately small JSON Schema checker covering the keywords schemars emits for our types:
/// `$ref`, `type`, `properties`, `required`, `additionalProperties`, `items`, `anyOf`, `enum`,
/// `minimum`, `maximum`. Returns every violation with its JSON pointer.
pub(crate) fn check(
    doc: &Value,
    schema: &Value,
    value: &Value,
    at: &str,
    errors: &mut Vec<String>,
) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let target = doc
            .pointer(r.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("dangling {r}"));
        check(doc, target, value, at, errors);
    }
    if let Some(t) = schema.get("type") {
        let allowed: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => panic!("bad type {t}"),
        };
        let ok = allowed.iter().any(|t| match *t {
            "null" => value.is_null(),
            "boolean" => value.is_boolean(),
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "array" => value.is_array(),
            "object" => value.is_object(),
            other => panic!("unknown type {other}"),
        });
        if !ok {
            errors.push(format!("{at}: {value} is not {allowed:?}"));
        }
    }
    if let Some(alternatives) = schema.get("anyOf").and_then(Value::as_array) {
        let any = alternatives.iter().any(|alt| {
            let mut e = Vec::new();
            check(doc, alt, value, at, &mut e);
            e.is_empty()
        });
        if !any {
            errors.push(format!("{at}: {value} matches no anyOf alternative"));
        }
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && !value.is_null()
        && !options.contains(value)
    {
        errors.push(format!("{at}: {value} not in {options:?}"));
    }
    if let (Some(min), Some(v)) = (
        schema.get("minimum").and_then(Value::as_f64),
        value.as_f64(),
    ) && v < min
    {
        errors.push(format!("{at}: {v} < minimum {min}"));
    }
    if let (Some(max), Some(v)) = (
        schema.get("maximum").and_then(Value::as_f64),
        value.as_f64(),
    ) && v > max
    {
        errors.push(format!("{at}: {v} > maximum {max}"));
    }
    if let Some(object) = value.as_object() {
        let properties = schema.get("properties").and_then(Value::as_object);
        for name in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = name.as_str().unwrap();
            if !object.contains_key(name) {
                errors.push(format!("{at}: required {name} missing"));
            }
        }
        for (key, v) in object {
            match properties.and_then(|p| p.get(key)) {
                Some(s) => check(doc, s, v, &format!("{at}/{key}"), errors),
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => {
                        errors.push(format!("{at}: unexpected field {key}"))
                    }
                    Some(s @ Value::Object(_)) => check(doc, s, v, &format!("{at}/{key}"), errors),
                    _ if properties.is_some() => {
                        errors.push(format!("{at}: field {key} is not in the schema"))
                    }
                    _ => {}
                },
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, v) in array.iter().enumerate() {
            check(doc, items, v, &format!("{at}/{i}"), errors);
        }
    }
}

fn conforms(profile: Profile, schema_name: &str, value: &Value) -> Vec<String> {
    let doc = openapi(profile, &opts());
    let schema = json!({ "$ref": format!("#/components/schemas/{schema_name}") });
    let mut errors = Vec::new();
    check(&doc, &schema, value, schema_name, &mut errors);
    errors
}

fn full_product() -> Product {
    Product {
        product_id: "1005004043442825".into(),
        product_title: "Wireless earbuds".into(),
        product_url: "https://www.aliexpress.com/item/1005004043442825.html".into(),
        app_sale_price: "12.34".into(),
        original_price: "24.68".into(),
        discount: "50%".into(),
        evaluate_rate: "98.5%".into(),
        commission_rate: "7.0%".into(),
        product_main_image_url: "https://ae01.alicdn.com/kf/a.jpg".into(),
        shop_id: "912345".into(),
        shop_url: "https://www.aliexpress.com/store/912345".into(),
        sale_price: Some("12.34".into()),
        currency: Some("USD".into()),
        original_price_currency: Some("USD".into()),
        promotion_link: Some("https://s.click.aliexpress.com/e/_abc".into()),
        product_small_image_urls: vec!["https://ae01.alicdn.com/kf/b.jpg".into()],
        product_video_url: Some("https://video.aliexpress.com/v.mp4".into()),
        first_level_category_id: Some("44".into()),
        first_level_category_name: Some("Consumer Electronics".into()),
        second_level_category_id: Some("502".into()),
        second_level_category_name: Some("Earphones".into()),
        lastest_volume: Some(1200),
        sales_volume: Some(1200),
        hot_product_commission_rate: Some("9.0%".into()),
        platform_product_type: Some("ALL".into()),
        ship_to_days: Some("7".into()),
        promo_code: Some(PromoCode {
            code: "SAVE5".into(),
            value: Some("5.00".into()),
            minimum_spend: Some("30.00".into()),
            valid_from: Some("2026-01-01".into()),
            valid_until: Some("2026-02-01".into()),
            promotion_url: Some("https://s.click.aliexpress.com/e/_p".into()),
        }),
        shop_name: Some("Sound Store".into()),
    }
}

fn search_response() -> SearchResponse {
    Envelope::ok(
        SearchData {
            products: vec![full_product(), Product::default()],
            total_results: 2,
            current_page: 1,
            page_size: 10,
            total_pages: 1,
            cache_hit: false,
        },
        SearchMetadata {
            mock_mode: true,
            processing_time_ms: 1.5,
            api_version: "2.0.0".into(),
            api_integration: "mock".into(),
            cache_hit: false,
            cache_enabled: true,
            cache_status: "BYPASS".into(),
            stale: false,
            search_params: SearchParams {
                keywords: Some("earbuds".into()),
                page_size: 10,
                page_no: 1,
                sort: None,
                min_sale_price: Some("5".into()),
                max_sale_price: None,
                target_currency: "USD".into(),
                target_language: "EN".into(),
                ship_to_country: None,
                category_ids: None,
            },
            cache_bypassed: Some(true),
            fresh_data: Some(true),
        },
    )
}

#[test]
fn serialized_responses_match_their_schemas_in_both_profiles() {
    let search = serde_json::to_value(search_response()).unwrap();
    for profile in [Profile::Full, Profile::Gpt] {
        assert_eq!(
            conforms(profile, "SearchResponse", &search),
            Vec::<String>::new(),
            "{profile:?}"
        );
    }
    let links = serde_json::to_value(AffiliateLinksResponse::ok(
        AffiliateLinksData {
            affiliate_links: vec![AffiliateLink {
                original_url: "https://www.aliexpress.com/item/1.html".into(),
                affiliate_url: "https://s.click.aliexpress.com/e/_x".into(),
                commission_rate: Some("7.0%".into()),
                product_id: Some("1".into()),
            }],
            results: vec![
                LinkResult {
                    original_url: "https://www.aliexpress.com/item/1.html".into(),
                    status: "converted".into(),
                    page_type: Some("product".into()),
                    affiliate_url: Some("https://s.click.aliexpress.com/e/_x".into()),
                    product_id: Some("1".into()),
                    commission_rate: Some("7.0%".into()),
                    reason: None,
                    detail: None,
                },
                LinkResult {
                    original_url: "https://www.amazon.com/x".into(),
                    status: "not_converted".into(),
                    reason: Some("not_aliexpress".into()),
                    detail: Some("the URL is not an AliExpress URL".into()),
                    ..Default::default()
                },
            ],
        },
        AffiliateLinksMetadata {
            processed_urls: 1,
            generated_links: 1,
            ..Default::default()
        },
    ))
    .unwrap();
    assert_eq!(
        conforms(Profile::Gpt, "AffiliateLinksResponse", &links),
        Vec::<String>::new()
    );
    let categories = serde_json::to_value(CategoriesResponse::ok(
        CategoriesData {
            categories: vec![Category {
                category_id: "2".into(),
                category_name: "Food".into(),
                parent_category_id: None,
                children: vec![Category {
                    category_id: "289".into(),
                    category_name: "Coffee".into(),
                    parent_category_id: Some("2".into()),
                    children: vec![],
                }],
            }],
        },
        CategoriesMetadata::default(),
    ))
    .unwrap();
    assert_eq!(
        conforms(Profile::Gpt, "CategoriesResponse", &categories),
        Vec::<String>::new()
    );
    let mut problem = Problem::new(
        "upstream-timeout",
        "Upstream timeout",
        504,
        "AliExpress did not answer in 10 s",
    );
    problem.upstream = Some(UpstreamCause {
        kind: "timeout".into(),
        code: None,
        retryable: true,
    });
    problem.errors = Some(vec![FieldError::new(
        "page_size",
        "must be between 1 and 50",
    )]);
    problem.retry_after_seconds = Some(5);
    assert_eq!(
        conforms(
            Profile::Gpt,
            "Problem",
            &serde_json::to_value(problem).unwrap()
        ),
        Vec::<String>::new()
    );
}

#[test]
fn admin_and_service_documents_match_their_schemas() {
    let stats = CacheStatsResponse::ok(
        CacheStatsData {
            cache_stats: CacheCounters {
                hits: 3,
                misses: 1,
                sets: 1,
                errors: 0,
                hit_rate_percent: 75.0,
                total_requests: 4,
            },
            cache_config: CacheConfig {
                redis_available: true,
                default_ttl: 3600,
                max_memory_items: 10_000,
                ..Default::default()
            },
            performance_impact: PerformanceImpact {
                estimated_api_calls_saved: 3,
                cache_efficiency: "medium".into(),
            },
            tiers: vec![TierStats {
                name: "memory".into(),
                hits: 3,
                connected: true,
                ..Default::default()
            }],
        },
        CacheStatsMetadata {
            timestamp: 1_800_000_000,
            description: "counters since start".into(),
        },
    );
    let cases = [
        ("CacheStatsResponse", serde_json::to_value(&stats).unwrap()),
        (
            "StatusResponse",
            serde_json::to_value(StatusResponse::ok(
                StatusData::default(),
                StatusMetadata::default(),
            ))
            .unwrap(),
        ),
        (
            "CacheClearResponse",
            serde_json::to_value(CacheClearResponse::ok(
                CacheClearData {
                    cleared_entries: 4,
                    pattern: "all".into(),
                },
                CacheClearMetadata {
                    timestamp: 1,
                    operation: "cache_clear".into(),
                },
            ))
            .unwrap(),
        ),
        ("Health", serde_json::to_value(Health::default()).unwrap()),
        (
            "RootInfo",
            serde_json::to_value(RootInfo {
                endpoints: alistach_api::routes::endpoints(),
                ..Default::default()
            })
            .unwrap(),
        ),
        (
            "SystemInfo",
            serde_json::to_value(SystemInfo::default()).unwrap(),
        ),
        (
            "Probe",
            serde_json::to_value(Probe {
                status: "unavailable".into(),
                checks: vec![ProbeCheck {
                    name: "redis".into(),
                    ok: false,
                    detail: Some("refused".into()),
                }],
            })
            .unwrap(),
        ),
        (
            "ProductDetailsResponse",
            serde_json::to_value(ProductDetailsResponse::ok(
                Default::default(),
                Default::default(),
            ))
            .unwrap(),
        ),
    ];
    for (name, value) in cases {
        assert_eq!(
            conforms(Profile::Full, name, &value),
            Vec::<String>::new(),
            "{name}"
        );
    }
}

#[test]
fn the_checker_catches_mismatches() {
    // Without this, a checker that accepts everything would make the tests above pass vacuously.
    let mut bad = serde_json::to_value(search_response()).unwrap();
    bad["data"]["products"][0]["unknown_field"] = json!(1);
    bad["data"]["total_results"] = json!("2");
    bad["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("cache_status");
    let errors = conforms(Profile::Full, "SearchResponse", &bad);
    assert!(
        errors.iter().any(|e| e.contains("unknown_field")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("total_results")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("cache_status")),
        "{errors:?}"
    );
}

#[test]
fn request_examples_are_accepted_by_schema_and_serde_alike() {
    let body = json!({ "keywords": "phone case", "page_size": 20, "sort": "LAST_VOLUME_DESC", "min_sale_price": 1.5, "max_sale_price": "20" });
    assert_eq!(
        conforms(Profile::Full, "SearchRequest", &body),
        Vec::<String>::new()
    );
    let parsed: SearchRequest = serde_json::from_value(body).unwrap();
    assert_eq!(parsed.sort.as_deref(), Some("LAST_VOLUME_DESC"));

    let rejected = json!({ "keywords": "x", "page_size": 0, "sort": "CHEAPEST", "colour": "red" });
    let errors = conforms(Profile::Full, "SearchRequest", &rejected);
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(serde_json::from_value::<SearchRequest>(rejected).is_err());

    let links = json!({ "urls": ["https://www.aliexpress.com/item/1.html"], "link_type": "hot" });
    assert_eq!(
        conforms(Profile::Gpt, "AffiliateLinksRequest", &links),
        Vec::<String>::new()
    );
    assert!(serde_json::from_value::<AffiliateLinksRequest>(links).is_ok());
}

fn tenant_info() -> TenantInfo {
    TenantInfo {
        id: "acme".into(),
        name: "Acme shopping GPT".into(),
        tracking_id: "acme_gpt".into(),
        source: "api".into(),
        rate_limits: Some(TenantRateLimits {
            per_second: Some(5),
            per_minute: None,
        }),
        daily_quota: Some(100_000),
        cache_ttl: Some(TenantCacheTtl {
            search: Some(600),
            ..Default::default()
        }),
        allowed_origins: Some(vec!["https://chatgpt.com".into()]),
        language: Some("EN".into()),
        currency: None,
        ship_to_country: None,
        credentials: Some(TenantCredentials {
            app_key: "503412".into(),
            app_secret_env: "ACME_ALIEXPRESS_APP_SECRET".into(),
            max_qps: Some(5),
        }),
        created_at: "2026-11-30T08:00:00Z".into(),
        updated_at: "2026-11-30T08:05:00Z".into(),
    }
}

#[test]
fn tenant_and_audit_answers_match_their_schemas() {
    let meta = || AdminMetadata {
        timestamp: 1_800_000_000,
        mock_mode: false,
        store: "sqlite".into(),
    };
    let key = TenantKeyInfo {
        id: "key_3f9a1c".into(),
        name: "chatgpt-action".into(),
        role: "tenant-admin".into(),
        created_at: "2026-11-30T08:00:00Z".into(),
        expires_at: Some("2027-01-01T00:00:00Z".into()),
        last_used_at: None,
        revoked_at: Some("2026-11-30T09:00:00Z".into()),
        live: false,
    };
    let day = TenantUsageDay {
        date: "2026-11-30".into(),
        requests: 12,
        cached: 7,
        upstream_calls: 5,
        clicks: 3,
        orders: 1,
        commission: vec![AnalyticsAmount {
            currency: "USD".into(),
            amount: "1.25".into(),
        }],
    };
    let cases = [
        (
            "TenantResponse",
            serde_json::to_value(TenantResponse::ok(tenant_info(), meta())).unwrap(),
        ),
        (
            "TenantResponse",
            serde_json::to_value(TenantResponse::ok(
                TenantInfo {
                    source: "file".into(),
                    ..Default::default()
                },
                meta(),
            ))
            .unwrap(),
        ),
        (
            "TenantsResponse",
            serde_json::to_value(TenantsResponse::ok(
                TenantList {
                    tenants: vec![tenant_info()],
                },
                meta(),
            ))
            .unwrap(),
        ),
        (
            "TenantDeletedResponse",
            serde_json::to_value(TenantDeletedResponse::ok(
                TenantDeleted {
                    id: "acme".into(),
                    deleted: true,
                },
                meta(),
            ))
            .unwrap(),
        ),
        (
            "TenantKeysResponse",
            serde_json::to_value(TenantKeysResponse::ok(
                TenantKeyList {
                    keys: vec![key.clone()],
                },
                meta(),
            ))
            .unwrap(),
        ),
        (
            "TenantKeyResponse",
            serde_json::to_value(TenantKeyResponse::ok(key.clone(), meta())).unwrap(),
        ),
        (
            "TenantKeyCreatedResponse",
            serde_json::to_value(TenantKeyCreatedResponse::ok(
                TenantKeyCreated::new(key, "ask_0123456789abcdef".into()),
                meta(),
            ))
            .unwrap(),
        ),
        (
            "TenantUsageResponse",
            serde_json::to_value(TenantUsageResponse::ok(
                TenantUsage {
                    tenant: "acme".into(),
                    from: "2026-11-30".into(),
                    to: "2026-11-30".into(),
                    days: vec![day.clone()],
                    totals: TenantUsageTotals {
                        requests: day.requests,
                        cached: day.cached,
                        upstream_calls: day.upstream_calls,
                        clicks: day.clicks,
                        orders: day.orders,
                        commission: day.commission.clone(),
                    },
                },
                meta(),
            ))
            .unwrap(),
        ),
        (
            "AuditResponse",
            serde_json::to_value(AuditResponse::ok(
                AuditList {
                    entries: vec![AuditEntryInfo {
                        id: 41,
                        at: "2026-11-30T08:00:00Z".into(),
                        actor: "key:key_3f9a1c".into(),
                        actor_tenant: Some("acme".into()),
                        tenant: Some("acme".into()),
                        action: "createTenantKey".into(),
                        target: "POST /api/admin/tenants/acme/keys".into(),
                        from: "203.0.113.7".into(),
                        status: 201,
                    }],
                    next_before: Some(41),
                },
                meta(),
            ))
            .unwrap(),
        ),
    ];
    for (name, value) in cases {
        assert_eq!(
            conforms(Profile::Full, name, &value),
            Vec::<String>::new(),
            "{name}"
        );
    }
    // A role the contract does not name is caught.
    let mut bad = serde_json::to_value(TenantKeyResponse::ok(
        TenantKeyInfo {
            role: "admin".into(),
            ..Default::default()
        },
        meta(),
    ))
    .unwrap();
    assert!(!conforms(Profile::Full, "TenantKeyResponse", &bad).is_empty());
    bad["data"]["role"] = json!("client");
    assert_eq!(
        conforms(Profile::Full, "TenantKeyResponse", &bad),
        Vec::<String>::new()
    );
}

/// Checks `value` against the JSON request body schema of an operation.
fn body_conforms(path: &str, method: &str, value: &Value) -> Vec<String> {
    let doc = openapi(Profile::Full, &opts());
    let schema =
        doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"].clone();
    assert!(schema.is_object(), "{method} {path} has no JSON body");
    let mut errors = Vec::new();
    check(&doc, &schema, value, path, &mut errors);
    errors
}

#[test]
fn tenant_request_examples_are_accepted_by_schema_and_serde_alike() {
    let create = json!({
        "id": "acme",
        "name": "Acme shopping GPT",
        "tracking_id": "acme_gpt",
        "rate_limits": { "per_second": 5, "per_minute": null },
        "daily_quota": 100000,
        "cache_ttl": { "search": 600, "categories": 86400 },
        "allowed_origins": ["https://chatgpt.com"],
        "language": "EN",
        "currency": "EUR",
        "ship_to_country": "DE",
        "credentials": { "app_key": "503412", "app_secret_env": "ACME_ALIEXPRESS_APP_SECRET" }
    });
    assert_eq!(
        body_conforms("/api/admin/tenants", "post", &create),
        Vec::<String>::new()
    );
    let parsed: TenantRequest = serde_json::from_value(create).unwrap();
    assert_eq!(parsed.rate_limits.unwrap().per_minute, None);

    let rejected = json!({
        "id": "acme", "name": "Acme", "tracking_id": "t",
        "daily_quota": 0, "currency": "XXX", "app_secret": "inline"
    });
    let errors = body_conforms("/api/admin/tenants", "post", &rejected);
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(serde_json::from_value::<TenantRequest>(rejected).is_err());

    let patch = json!({ "name": "Acme", "daily_quota": null, "rate_limits": { "per_second": null },
                        "credentials": { "max_qps": 2 } });
    assert_eq!(
        body_conforms("/api/admin/tenants/{id}", "patch", &patch),
        Vec::<String>::new()
    );
    assert!(serde_json::from_value::<TenantPatch>(patch).is_ok());
    // The name cannot be cleared, and the id cannot be patched.
    let errors = body_conforms(
        "/api/admin/tenants/{id}",
        "patch",
        &json!({ "name": null, "id": "x" }),
    );
    assert_eq!(errors.len(), 2, "{errors:?}");

    let key = json!({ "name": "chatgpt-action", "role": "tenant-admin", "expires_at": "2027-01-01T00:00:00Z" });
    assert_eq!(
        body_conforms("/api/admin/tenants/{id}/keys", "post", &key),
        Vec::<String>::new()
    );
    assert!(serde_json::from_value::<NewTenantKeyRequest>(key).is_ok());
    let errors = body_conforms(
        "/api/admin/tenants/{id}/keys",
        "post",
        &json!({ "name": "x", "role": "owner" }),
    );
    assert_eq!(errors.len(), 1, "{errors:?}");
}
