//! Retry hints from the gateway through the real binary: a huge or `u64::MAX`-sized
//! `Retry-After` (or ban length) is capped at an hour, and never panics the server.

use alistach_testkit::gateway::{FakeConfig, FakeGateway, Fault};
use serde_json::{Value, json};

use crate::support::{Server, client};

const KEY: &str = "34567890";
const SECRET: &str = "fake-gateway-app-secret-9f3a";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absurd_retry_hints_are_capped_at_an_hour_without_a_panic() {
    let huge = u64::MAX.to_string();
    let faults = [
        Fault::TooManyRequests {
            retry_after: "864000".into(),
        },
        Fault::TooManyRequests {
            retry_after: huge.clone(),
        },
        Fault::TooManyRequests {
            retry_after: format!("{huge}{huge}"),
        },
        Fault::api_call_limit(u64::MAX),
    ];
    for (i, fault) in faults.into_iter().enumerate() {
        // A fresh server each time: a capped ban still lasts an hour.
        let fake = FakeGateway::start(FakeConfig::new(KEY, SECRET)).await;
        let fake_url = fake.url();
        let server = Server::start(&[
            ("ALIEXPRESS_APP_KEY", KEY),
            ("ALIEXPRESS_APP_SECRET", SECRET),
            ("ALIEXPRESS_API_URL", fake_url.as_str()),
            ("ALIEXPRESS_TIMEOUT", "2"),
        ]);
        let c = client();
        fake.fail_always(fault.clone());
        for attempt in 0..2 {
            let r = c
                .post(server.url("/api/products/search"))
                .json(&json!({"keywords": format!("lamp {attempt}")}))
                .send()
                .await
                .unwrap_or_else(|e| panic!("fault {i} ({fault:?}): no answer: {e}"));
            assert_eq!(r.status(), 503, "fault {i}");
            let retry: u64 = r.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!(
                (3000..=3600).contains(&retry),
                "fault {i}: Retry-After {retry}"
            );
            let v: Value = r.json().await.unwrap();
            assert_eq!(v["upstream"]["kind"], "rate_limited", "{v}");
        }
        // The ban holds the upstream off: the second call never reached the fake.
        assert_eq!(fake.requests("aliexpress.affiliate.product.query"), 1);
        assert!(
            !server.logs().contains("panicked"),
            "fault {i}: {}",
            server.logs()
        );
    }
}
