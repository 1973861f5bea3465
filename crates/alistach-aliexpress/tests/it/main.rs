//! Integration tests: the client against the fake gateway over real HTTP on 127.0.0.1.

mod fake;
mod faults;
mod fixtures;
mod methods;
mod orders;

use std::time::Duration;

use alistach_aliexpress::{AliExpressClient, ClientConfig, RetryPolicy};
use alistach_testkit::gateway::{FakeConfig, FakeGateway};

pub const APP_KEY: &str = "34567890";
pub const APP_SECRET: &str = "it-secret-9f3c1a";
pub const TRACKING: &str = "it_tracking";

pub async fn fake() -> FakeGateway {
    FakeGateway::start(FakeConfig::new(APP_KEY, APP_SECRET)).await
}

/// Short timeouts and backoffs so the whole run stays fast.
pub fn config(fake: &FakeGateway) -> ClientConfig {
    let mut c = ClientConfig::new(APP_KEY, APP_SECRET);
    c.gateway_url = fake.url();
    c.tracking_id = Some(TRACKING.to_owned());
    c.connect_timeout = Duration::from_secs(1);
    c.request_timeout = Duration::from_secs(2);
    c.retry = RetryPolicy {
        max_attempts: 3,
        base_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(40),
        total_deadline: Duration::from_secs(5),
    };
    c
}

pub fn client(fake: &FakeGateway) -> AliExpressClient {
    AliExpressClient::new(config(fake)).expect("valid test config")
}
