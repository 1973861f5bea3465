//! aliexpress-fake: the fake AliExpress gateway as a program, for local runs and benchmarks.
//!
//! Prints `listening on http://HOST:PORT/sync` once bound and runs until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::process::ExitCode;

use alistach_testkit::gateway::{FakeConfig, FakeGateway};
use anyhow::Context;
use clap::Parser;

/// A local stand-in for the AliExpress IOP gateway: checks signatures and answers the
/// affiliate methods from a deterministic catalog.
#[derive(Debug, Parser)]
#[command(name = "aliexpress-fake", version)]
struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// The app key the fake accepts.
    #[arg(long, env = "ALIEXPRESS_APP_KEY", default_value = "12345678")]
    app_key: String,
    /// The app secret requests must be signed with.
    #[arg(
        long,
        env = "ALIEXPRESS_APP_SECRET",
        default_value = "helloworld",
        hide_env_values = true
    )]
    app_secret: String,
    /// Seed of the generated catalog.
    #[arg(long, default_value_t = 20_231_114)]
    seed: u64,
    /// Products in the catalog.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    products: u32,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("aliexpress-fake: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    if args.app_key.trim().is_empty() {
        anyhow::bail!("--app-key must not be empty");
    }
    if args.app_secret.is_empty() {
        anyhow::bail!("--app-secret must not be empty");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    runtime.block_on(async {
        let mut config = FakeConfig::new(args.app_key, args.app_secret);
        config.listen = args.listen;
        config.seed = args.seed;
        config.products = args.products as usize;
        let fake = FakeGateway::try_start(config)
            .await
            .with_context(|| format!("could not listen on {}", args.listen))?;
        println!("listening on {}", fake.url());
        alistach_http::shutdown_signal()
            .await
            .context("could not listen for SIGTERM or Ctrl-C")?;
        drop(fake);
        Ok(())
    })
}
