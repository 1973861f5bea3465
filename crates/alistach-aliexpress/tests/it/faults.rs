//! Faults, error classification, retries, deadlines and secrecy.

use std::sync::Arc;
use std::time::{Duration, Instant};

use alistach_aliexpress::methods::*;
use alistach_aliexpress::{
    AliExpressClient, Clock, Error, ProductQueryRequest, RetryPolicy, SystemClock,
};
use alistach_domain::UpstreamError;
use alistach_testkit::gateway::{Fault, SignatureCheck};

use crate::{APP_SECRET, client, config, fake};

fn upstream(e: Error) -> UpstreamError {
    match e {
        Error::Upstream(u) => u,
        other => panic!("expected an upstream error, got {other:?}"),
    }
}

fn query() -> ProductQueryRequest {
    ProductQueryRequest::keywords("wireless earbuds")
}

#[tokio::test]
async fn two_503s_then_success_takes_three_requests() {
    let fake = fake().await;
    let client = client(&fake);
    fake.fail_next(2, Fault::Status(503));
    let page = client.product_query(&query()).await.unwrap();
    assert!(!page.products.is_empty());
    assert_eq!(fake.requests(PRODUCT_QUERY), 3);
}

#[tokio::test]
async fn non_retryable_errors_are_classified_and_sent_once() {
    let cases: Vec<(Fault, &str, Option<&str>)> = vec![
        (
            Fault::error(
                "IncompleteSignature",
                "The request signature does not conform to platform standards",
            ),
            "signature_rejected",
            Some("IncompleteSignature"),
        ),
        (
            Fault::error("InvalidAppKey", "The specified App Key is invalid"),
            "bad_credentials",
            Some("InvalidAppKey"),
        ),
        (
            Fault::error(
                "InsufficientPermission",
                "App does not have permission to access this api",
            ),
            "permission_denied",
            Some("InsufficientPermission"),
        ),
        (
            Fault::error("AppWhiteIpLimit", "ip not allowed"),
            "permission_denied",
            Some("AppWhiteIpLimit"),
        ),
        (
            Fault::error(
                "MissingParameter",
                "The input parameter \"x\" is not supplied.",
            ),
            "invalid_request",
            Some("MissingParameter"),
        ),
        (
            Fault::error("InvalidParameter", "bad"),
            "invalid_request",
            Some("InvalidParameter"),
        ),
        (
            Fault::error("InvalidApiPath", "no such api"),
            "invalid_request",
            Some("InvalidApiPath"),
        ),
        (
            Fault::error("SomethingUnheardOf", "?"),
            "invalid_request",
            Some("SomethingUnheardOf"),
        ),
        (
            Fault::resp_code(401),
            "bad_credentials",
            Some("resp_code 401"),
        ),
        (
            Fault::resp_code(402),
            "invalid_request",
            Some("resp_code 402"),
        ),
        (Fault::Status(400), "invalid_request", Some("HTTP 400")),
        (Fault::Status(404), "invalid_request", Some("HTTP 404")),
        (Fault::NonJson, "malformed_response", None),
        (Fault::TruncatedJson, "malformed_response", None),
    ];
    let fake = fake().await;
    let client = client(&fake);
    for (fault, kind, code) in cases {
        fake.reset_counts();
        fake.fail_next(1, fault.clone());
        let err = upstream(client.product_query(&query()).await.unwrap_err());
        assert_eq!(err.kind(), kind, "{fault:?} gave {err:?}");
        assert_eq!(err.code(), code, "{fault:?}");
        assert!(!err.is_retryable());
        assert_eq!(
            fake.requests(PRODUCT_QUERY),
            1,
            "{fault:?} must not be retried"
        );
    }
    let malformed = {
        fake.fail_next(1, Fault::TruncatedJson);
        upstream(client.product_query(&query()).await.unwrap_err())
    };
    assert_eq!(
        malformed,
        UpstreamError::Malformed {
            reason: "the response body is truncated JSON".into()
        }
    );
}

#[tokio::test]
async fn retryable_errors_are_retried_up_to_max_attempts() {
    let cases: Vec<(Fault, &str)> = vec![
        (Fault::Status(500), "unavailable"),
        (Fault::Status(502), "unavailable"),
        (Fault::Status(302), "unavailable"),
        (Fault::resp_code(404), "unavailable"),
        (
            Fault::ErrorResponse {
                error_type: "ISP".into(),
                code: "ServiceUnavailable".into(),
                msg: "busy".into(),
            },
            "unavailable",
        ),
        (Fault::error("AppCallLimit", "quota"), "rate_limited"),
    ];
    let fake = fake().await;
    let client = client(&fake);
    for (fault, kind) in cases {
        fake.reset_counts();
        fake.fail_always(fault.clone());
        let err = upstream(client.product_query(&query()).await.unwrap_err());
        assert_eq!(err.kind(), kind, "{fault:?}");
        assert_eq!(
            fake.requests(PRODUCT_QUERY),
            3,
            "{fault:?}: max_attempts is 3"
        );
        fake.clear_faults();
    }
    // Once the trouble clears, the same client works again.
    assert!(client.product_query(&query()).await.is_ok());
}

#[tokio::test]
async fn an_empty_result_is_not_an_error() {
    let fake = fake().await;
    let client = client(&fake);
    fake.fail_next(1, Fault::EmptyResult);
    let page = client.product_query(&query()).await.unwrap();
    assert!(page.products.is_empty());
    fake.fail_next(1, Fault::EmptyResult);
    assert!(client.category_get().await.unwrap().is_empty());
    fake.fail_next(1, Fault::EmptyResult);
    assert!(
        client
            .order_list(&alistach_aliexpress::OrderListRequest::new(
                "2023-11-01 00:00:00",
                "2023-11-02 00:00:00",
                alistach_aliexpress::OrderStatus::Invalid
            ))
            .await
            .unwrap()
            .orders
            .is_empty()
    );
    assert_eq!(fake.total_requests(), 3);
}

#[tokio::test]
async fn rate_limit_ban_is_honoured_then_retried() {
    let fake = fake().await;
    let client = client(&fake);
    fake.fail_next(1, Fault::api_call_limit(1));
    let started = Instant::now();
    let page = client.product_query(&query()).await.unwrap();
    assert!(!page.products.is_empty());
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited out the 1 s ban: {:?}",
        started.elapsed()
    );
    assert_eq!(fake.requests(PRODUCT_QUERY), 2);
}

#[tokio::test]
async fn a_ban_longer_than_the_deadline_fails_at_once() {
    let fake = fake().await;
    let client = client(&fake);
    fake.fail_next(1, Fault::api_call_limit(30));
    let started = Instant::now();
    let err = upstream(client.product_query(&query()).await.unwrap_err());
    assert_eq!(err.kind(), "rate_limited");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(30)));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(fake.requests(PRODUCT_QUERY), 1);
}

#[tokio::test]
async fn absurd_retry_hints_are_capped_at_an_hour() {
    let fake = fake().await;
    let client = client(&fake);
    let too_big_for_u64 = format!("{}0", u64::MAX);
    for hint in ["86400", &u64::MAX.to_string(), too_big_for_u64.as_str()] {
        fake.fail_next(
            1,
            Fault::TooManyRequests {
                retry_after: hint.to_owned(),
            },
        );
        let started = Instant::now();
        let err = upstream(client.product_query(&query()).await.unwrap_err());
        assert_eq!(err.kind(), "rate_limited", "Retry-After: {hint}");
        assert_eq!(
            err.retry_after(),
            Some(alistach_domain::MAX_RETRY_AFTER),
            "Retry-After: {hint}"
        );
        assert!(started.elapsed() < Duration::from_secs(2), "{hint}");
    }
    fake.fail_next(1, Fault::api_call_limit(u64::MAX));
    let err = upstream(client.product_query(&query()).await.unwrap_err());
    assert_eq!(err.retry_after(), Some(alistach_domain::MAX_RETRY_AFTER));
    assert_eq!(fake.requests(PRODUCT_QUERY), 4);
}

#[tokio::test]
async fn slow_answers_time_out_and_fast_enough_ones_succeed() {
    let fake = fake().await;
    let mut c = config(&fake);
    c.request_timeout = Duration::from_millis(300);
    c.retry.max_attempts = 1;
    let client = AliExpressClient::new(c).unwrap();
    fake.fail_next(1, Fault::Delay(Duration::from_secs(3)));
    let started = Instant::now();
    let err = upstream(client.product_query(&query()).await.unwrap_err());
    assert_eq!(err, UpstreamError::Timeout);
    assert!(started.elapsed() < Duration::from_secs(2));
    fake.fail_next(1, Fault::Delay(Duration::from_millis(50)));
    assert!(client.product_query(&query()).await.is_ok());
}

#[tokio::test]
async fn retries_never_run_past_the_total_deadline() {
    let fake = fake().await;
    let mut c = config(&fake);
    c.retry = RetryPolicy {
        max_attempts: 1_000,
        base_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(80),
        total_deadline: Duration::from_millis(500),
    };
    let client = AliExpressClient::new(c).unwrap();
    fake.fail_always(Fault::Status(503));
    let started = Instant::now();
    let err = upstream(client.product_query(&query()).await.unwrap_err());
    let elapsed = started.elapsed();
    assert_eq!(err.kind(), "unavailable");
    assert!(elapsed < Duration::from_millis(900), "{elapsed:?}");
    let attempts = fake.requests(PRODUCT_QUERY);
    assert!((2..1_000).contains(&attempts), "{attempts} attempts");

    // A slow gateway: the deadline also bounds the attempt in flight.
    fake.clear_faults();
    fake.fail_always(Fault::Delay(Duration::from_secs(5)));
    let started = Instant::now();
    let err = upstream(client.product_query(&query()).await.unwrap_err());
    assert_eq!(err, UpstreamError::Timeout);
    assert!(
        started.elapsed() < Duration::from_millis(1_500),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_wrong_secret_is_rejected_by_the_fakes_own_check() {
    let fake = fake().await;
    let mut c = config(&fake);
    c.app_secret = "not-the-secret".into();
    let client = AliExpressClient::new(c).unwrap();
    let err = upstream(client.product_query(&query()).await.unwrap_err());
    assert_eq!(err.kind(), "signature_rejected");
    assert_eq!(err.code(), Some("IncompleteSignature"));
    assert_eq!(fake.requests(PRODUCT_QUERY), 1, "never retried");
    assert_eq!(fake.rejected_signatures(), 1);
    assert_eq!(fake.verified_signatures(), 0);
    assert_eq!(fake.recorded()[0].signature, SignatureCheck::Invalid);
}

#[tokio::test]
async fn an_unknown_app_key_is_reported_before_the_signature() {
    let fake = fake().await;
    let mut c = config(&fake);
    c.app_key = "99999999".into();
    let client = AliExpressClient::new(c).unwrap();
    let err = upstream(client.category_get().await.unwrap_err());
    assert_eq!(err.kind(), "bad_credentials");
    assert_eq!(err.code(), Some("InvalidAppKey"));
    assert_eq!(fake.recorded()[0].signature, SignatureCheck::NotChecked);
}

struct SkewedClock(Duration);

impl Clock for SkewedClock {
    fn now_ms(&self) -> u64 {
        SystemClock.now_ms() - self.0.as_millis() as u64
    }
}

#[tokio::test]
async fn a_clock_off_by_more_than_two_hours_is_refused() {
    let fake = fake().await;
    let client = AliExpressClient::with_clock(
        config(&fake),
        Arc::new(SkewedClock(Duration::from_secs(3 * 3600))),
    )
    .unwrap();
    let err = upstream(client.category_get().await.unwrap_err());
    assert_eq!(err.kind(), "invalid_request");
    assert_eq!(err.code(), Some("InvalidTimestamp"));
    // Within the window is fine.
    let client = AliExpressClient::with_clock(
        config(&fake),
        Arc::new(SkewedClock(Duration::from_secs(3600))),
    )
    .unwrap();
    assert!(client.category_get().await.is_ok());
}

#[tokio::test]
async fn connection_refused_is_unavailable() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let fake = fake().await;
    let mut c = config(&fake);
    c.gateway_url = format!("http://127.0.0.1:{port}/sync");
    let client = AliExpressClient::new(c).unwrap();
    let err = upstream(client.category_get().await.unwrap_err());
    assert_eq!(err.kind(), "unavailable");
    assert_eq!(fake.total_requests(), 0);
}

#[tokio::test]
async fn per_method_faults_leave_other_methods_alone() {
    let fake = fake().await;
    let client = client(&fake);
    fake.fail_next_for(
        CATEGORY_GET,
        1,
        Fault::error("InsufficientPermission", "no"),
    );
    assert!(client.product_query(&query()).await.is_ok());
    assert_eq!(
        upstream(client.category_get().await.unwrap_err()).kind(),
        "permission_denied"
    );
    assert!(client.category_get().await.is_ok());
    fake.fail_always_for(
        HOT_PRODUCT_QUERY,
        Fault::error("InsufficientPermission", "advanced API"),
    );
    assert!(
        client
            .hot_product_query(&ProductQueryRequest::default())
            .await
            .is_err()
    );
    assert!(client.product_query(&query()).await.is_ok());
}

#[tokio::test]
async fn nothing_secret_reaches_debug_or_error_text() {
    let fake = fake().await;
    let client = client(&fake);
    let config_debug = format!("{:?}", config(&fake));
    let client_debug = format!("{client:?}");
    let mut texts = vec![config_debug, client_debug];
    let faults = [
        Fault::Status(503),
        Fault::NonJson,
        Fault::TruncatedJson,
        Fault::error("IncompleteSignature", "bad sign"),
        Fault::resp_code(401),
        Fault::Delay(Duration::from_secs(5)),
    ];
    let mut c = config(&fake);
    c.request_timeout = Duration::from_millis(200);
    c.retry.max_attempts = 1;
    let quick = AliExpressClient::new(c).unwrap();
    for f in faults {
        fake.fail_next(1, f);
        let err = quick.product_query(&query()).await.unwrap_err();
        texts.push(format!("{err:?}"));
        texts.push(err.to_string());
    }
    let mut wrong = config(&fake);
    wrong.app_secret = "another-secret-77".into();
    let err = AliExpressClient::new(wrong)
        .unwrap()
        .product_query(&query())
        .await
        .unwrap_err();
    texts.push(format!("{err:?} {err}"));
    let signs: Vec<String> = fake
        .recorded()
        .iter()
        .filter_map(|r| r.params.get("sign").cloned())
        .collect();
    assert!(!signs.is_empty());
    for text in &texts {
        assert!(!text.contains(APP_SECRET), "{text}");
        assert!(!text.contains("another-secret-77"), "{text}");
        assert!(
            !text.contains("127.0.0.1:") || text.contains("gateway_url"),
            "URL leaked into {text}"
        );
        assert!(!text.contains("wireless"), "parameters leaked into {text}");
        for sign in &signs {
            assert!(
                !text.contains(sign.as_str()),
                "signature leaked into {text}"
            );
        }
    }
    assert!(texts[0].contains("***") && texts[1].contains("***"));
}

/// The server's limiter (the upstream guard's), waiting as long as a call's deadline allows.
fn limiter(per_second: u32) -> std::sync::Arc<dyn alistach_domain::Pacer> {
    std::sync::Arc::new(alistach_service::OutboundLimiter::new(
        per_second,
        Duration::from_secs(60),
    ))
}

#[tokio::test]
async fn paced_attempts_retries_included_never_exceed_the_rate() {
    let fake = fake().await;
    let mut c = config(&fake);
    c.retry = RetryPolicy {
        max_attempts: 3,
        base_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(2),
        total_deadline: Duration::from_secs(5),
    };
    let client = AliExpressClient::new(c).unwrap().with_pacer(limiter(10));
    // Two failing calls: six attempts, which at 10 a second span at least half a second.
    fake.fail_always(Fault::Status(503));
    let started = Instant::now();
    for _ in 0..2 {
        assert_eq!(
            upstream(client.product_query(&query()).await.unwrap_err()).kind(),
            "unavailable"
        );
    }
    assert_eq!(fake.requests(PRODUCT_QUERY), 6);
    assert!(
        started.elapsed() >= Duration::from_millis(480),
        "{:?}",
        started.elapsed()
    );

    // A budget that cannot fit in the deadline fails fast with the cause met so far.
    fake.reset_counts();
    let mut tight = config(&fake);
    tight.retry = RetryPolicy {
        max_attempts: 5,
        base_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(2),
        total_deadline: Duration::from_millis(600),
    };
    let client = AliExpressClient::new(tight).unwrap().with_pacer(limiter(1));
    let started = Instant::now();
    let err = upstream(client.product_query(&query()).await.unwrap_err());
    assert_eq!(err.kind(), "unavailable");
    assert_eq!(
        fake.requests(PRODUCT_QUERY),
        1,
        "the second attempt has no slot before the deadline"
    );
    assert!(started.elapsed() < Duration::from_millis(600));
    fake.clear_faults();
}
