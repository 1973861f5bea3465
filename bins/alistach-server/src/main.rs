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

/// Serves HTTP, or with `mcp` the MCP tools over stdio (`healthcheck` never gets here).
fn run(config: Config, mcp: bool) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
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
