//! Searches the AliExpress catalog and prints the results.
//!
//! ```text
//! ALIEXPRESS_API_URL=http://127.0.0.1:PORT/sync ALIEXPRESS_APP_KEY=... ALIEXPRESS_APP_SECRET=... \
//!     cargo run -p alistach-aliexpress --example search -- wireless earbuds
//! ```
//!
//! Without `ALIEXPRESS_API_URL` it calls the production gateway. Pair it with the
//! `aliexpress-fake` binary to try it offline.

use std::process::ExitCode;

use alistach_aliexpress::{AliExpressClient, ClientConfig, ProductQueryRequest};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let (Some(app_key), Some(app_secret)) =
        (var("ALIEXPRESS_APP_KEY"), var("ALIEXPRESS_APP_SECRET"))
    else {
        eprintln!(
            "set ALIEXPRESS_APP_KEY and ALIEXPRESS_APP_SECRET (and ALIEXPRESS_API_URL for a fake gateway)"
        );
        return ExitCode::from(2);
    };
    let mut config = ClientConfig::new(app_key, app_secret);
    if let Some(url) = var("ALIEXPRESS_API_URL") {
        config.gateway_url = url;
    }
    config.tracking_id = var("ALIEXPRESS_TRACKING_ID");
    let keywords = std::env::args().skip(1).collect::<Vec<_>>().join(" ");
    let keywords = if keywords.trim().is_empty() {
        "wireless earbuds".to_owned()
    } else {
        keywords
    };

    let client = match AliExpressClient::new(config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut request = ProductQueryRequest::keywords(keywords);
    request.page_size = Some(10);
    match client.product_query(&request).await {
        Ok(page) => {
            println!(
                "{} products match (page {} of {})",
                page.total_record_count, page.current_page_no, page.total_page_no
            );
            for p in page.products {
                let price = p
                    .sale_price
                    .map(|m| format!("{} {}", m.amount, m.currency))
                    .unwrap_or_else(|| "-".into());
                println!("{:>20}  {:>12}  {}", p.id, price, p.title);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
