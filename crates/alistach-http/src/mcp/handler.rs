//! The MCP server as rmcp sees it: who we are, which protocol revisions we speak, the tool list,
//! and tool calls handed to the tool table. The same handler serves Streamable HTTP and stdio.

use std::borrow::Cow;
use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, Implementation, ListToolsResult,
    PaginatedRequestParams, ProtocolVersion, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};

use super::tools::{ClientId, TenantCtx, ToolCtx, ToolNote, analytics_route};

/// The protocol revisions served, oldest first: the two that clients speak with an
/// `initialize` handshake today, and the stateless revision (`server/discover`, per-request
/// metadata, `Mcp-Method`/`Mcp-Name` headers).
pub(crate) const SUPPORTED_VERSIONS: [ProtocolVersion; 3] = [
    ProtocolVersion::V_2025_06_18,
    ProtocolVersion::V_2025_11_25,
    ProtocolVersion::V_2026_07_28,
];

const INSTRUCTIONS: &str = "AliStach finds AliExpress products and affiliate links. Search with search_products (or get_hot_products for trending high-commission items), read a product the user links with get_product_details, and share each product's promotion_link: it is already an affiliate link. When a result has mock_mode true, say that the data is sample data.";

/// The request id the HTTP pipeline gave a request, carried to the tools for their logs.
#[derive(Clone, Debug)]
pub(crate) struct RequestId(pub(crate) String);

/// The MCP server: cheap to clone (the stateless transport makes one per request).
#[derive(Clone)]
pub(crate) struct McpServer {
    tools: Arc<ToolCtx>,
}

impl McpServer {
    pub(crate) fn new(tools: Arc<ToolCtx>) -> Self {
        McpServer { tools }
    }
}

impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(
                Implementation::new("alistach", self.tools.version())
                    .with_title("AliStach")
                    .with_description(
                        "AliExpress affiliate products, details and links for agents",
                    ),
            )
            // What an `initialize` answers when the client asks for a revision we lack.
            .with_protocol_version(ProtocolVersion::LATEST_WITH_INITIALIZE)
            .with_instructions(INSTRUCTIONS)
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        Cow::Borrowed(&SUPPORTED_VERSIONS)
    }

    async fn list_tools(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools.list().to_vec()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.tools.list().iter().find(|t| t.name == name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let parts = context.extensions.get::<hyper::http::request::Parts>();
        let request_id = parts
            .and_then(|p| p.extensions.get::<RequestId>())
            .map(|r| r.0.as_str());
        let client = parts
            .and_then(|p| p.extensions.get::<ClientId>())
            .map(|c| c.0.as_str());
        let tenant = parts
            .and_then(|p| p.extensions.get::<TenantCtx>())
            .map(|t| &*t.0);
        if let (Some(note), Some(route)) = (
            parts.and_then(|p| p.extensions.get::<ToolNote>()),
            analytics_route(&request.name),
        ) {
            let _ = note.0.set(route);
        }
        match self
            .tools
            .call(&request.name, request.arguments, request_id, client, tenant)
            .await
        {
            Some(result) => Ok(result.into()),
            // An unknown tool is a protocol error (the model cannot fix it by other arguments).
            None => Err(ErrorData::invalid_params(
                format!(
                    "unknown tool `{}`; tools/list names the tools",
                    request.name
                ),
                None,
            )),
        }
    }
}
