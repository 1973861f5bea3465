//! `alistach-server`: flags, environment and file → a validated `Config` → the wired service →
//! `serve` (HTTP), or `alistach-server mcp`: the same service's MCP tools over stdio.

mod alerting;
mod config;
mod healthcheck;
mod link_key;
mod memory;
mod tenancy;
mod wiring;

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use crate::config::{Args, Command, Config, LogFormat};

/// See the workspace manifest: glibc's malloc and free were about a tenth of the CPU of a cached
/// answer.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = Args::parse();
    let file = match config::read_file(args.config.as_ref()) {
        Ok(file) => file,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let config = match Config::from_sources(&args, &file) {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("invalid configuration:");
            for e in errors {
                eprintln!("  - {e}");
            }
            return ExitCode::from(2);
        }
    };
    if args.check_config {
        println!("configuration is valid\n{}", config.redacted());
        return ExitCode::SUCCESS;
    }
    if args.command == Some(Command::Healthcheck) {
        // A probe, not a server: no logging set up, one line on stdout or stderr.
        return match healthcheck::probe(config.listen, healthcheck::TIMEOUT) {
            Ok(url) => {
                println!("healthy: {url} answered 200");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("unhealthy: {e}");
                ExitCode::FAILURE
            }
        };
    }
    init_logging(&config);
    match run(config, args.command == Some(Command::Mcp)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("fatal: {e:#}");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// How many tasks a worker runs from its own queue before it takes one from the shared
/// queue. With many connections (1,024 in the benchmark's sweep) more connections are ready
/// than the workers' own queues hold (256 each); the rest wait in the shared queue, which by
/// default a worker looks at about once per 31 tasks, so they waited many rounds: p99 44 to
/// 84 ms at 1,024 connections. Looking every second task serves ready connections nearly in
/// the order they became ready, as an event loop does: p99 28 to 31 ms, for about 3% fewer
/// requests a second there and no difference measured at 32 or 128 connections.
const GLOBAL_QUEUE_INTERVAL: u32 = 2;

/// Serves HTTP, or with `mcp` the MCP tools over stdio (`healthcheck` never gets here).
fn run(config: Config, mcp: bool) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .global_queue_interval(GLOBAL_QUEUE_INTERVAL)
        .build()?;
    let result = if mcp {
        runtime.block_on(wiring::serve_mcp(config))
    } else {
        runtime.block_on(wiring::serve(config))
    };
    // A blocking read of stdin (the stdio transport) must not keep the process alive.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    result
}

fn init_logging(config: &Config) {
    let filter = EnvFilter::try_new(&config.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    match config.log_format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.with_ansi(false).init(),
    }
}
