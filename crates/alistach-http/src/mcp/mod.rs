//! The MCP adapter: the catalog's use cases (the same `Catalog` calls as the REST routes) as
//! Model Context Protocol tools, built on rmcp. `tools.rs` is the tool table, `output.rs` the
//! shape of results, `handler.rs` the rmcp server handler, `endpoint.rs` `POST /mcp` (stateless
//! Streamable HTTP inside the pipeline) and `stdio.rs` the stdio server.

mod endpoint;
mod handler;
mod output;
mod stdio;
mod tools;

pub(crate) use endpoint::McpEndpoint;
pub use stdio::serve_stdio;
pub(crate) use tools::{ClientId, TenantCtx, ToolCtx, ToolNote};
