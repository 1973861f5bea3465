//! `alistach-server mcp`: the same MCP server over standard input and output, for desktop
//! clients that start it as a child process. Standard output carries only protocol messages;
//! the binary logs to standard error.

use std::sync::Arc;

use alistach_service::Catalog;
use rmcp::ServiceExt;

use super::handler::McpServer;
use super::tools::ToolCtx;
use crate::config::HttpConfig;

/// Serves the MCP tools over `catalog` on stdin/stdout until the client closes stdin.
pub async fn serve_stdio(catalog: Arc<Catalog>, config: HttpConfig) -> std::io::Result<()> {
    let server = McpServer::new(Arc::new(ToolCtx::new(catalog, config)));
    let running = server
        .serve(rmcp::transport::stdio())
        .await
        .map_err(std::io::Error::other)?;
    let reason = running.waiting().await.map_err(std::io::Error::other)?;
    tracing::info!(?reason, "the MCP client went away");
    Ok(())
}
