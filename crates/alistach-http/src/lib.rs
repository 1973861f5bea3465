//! The bare hyper 1.x adapter: the accept loop with graceful shutdown, routing by the contract's
//! route table, limits, access keys, CORS and security headers, conversion between the contract
//! and the domain, and error mapping to problem+json; the MCP endpoint (`POST /mcp`, and the
//! same tools over stdio) over the same use cases. No web framework.

mod alerts;
mod app;
mod auth;
mod body;
mod config;
mod convert;
mod cors;
mod error;
mod idle;
mod io;
mod mcp;
mod metrics;
mod pipeline;
mod query;
mod render;
mod respond;
mod routes;
mod server;
mod shutdown;

#[cfg(test)]
mod props;

pub use alerts::Alerts;
pub use app::{App, Orders};
pub use body::Body;
pub use config::{ApiKey, HttpConfig, MAX_PRESENTED_KEY_BYTES};
pub use error::HttpError;
pub use mcp::serve_stdio as serve_mcp_stdio;
pub use metrics::{ConnectionStats, Metrics, RouteReport, RouteSnapshot};
pub use respond::HttpResponse;
pub use server::{LISTEN_BACKLOG, listen, serve};
pub use shutdown::shutdown_signal;
