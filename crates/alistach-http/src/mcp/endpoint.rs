//! `POST /mcp`: rmcp's stateless Streamable HTTP service, run inside the pipeline after its
//! limits, keys, rate limits and request id. No sessions, so any instance behind any load
//! balancer answers any request; answers are single JSON documents (no open streams), so the
//! request deadline covers them. Before authentication, what the protocol forbids is refused:
//! a `MCP-Protocol-Version` we do not speak (400) and a browser origin not allowed (403).

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::HeaderMap;
use hyper::http::request::Parts;
use hyper::{Request, Response};
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};

use super::handler::{McpServer, RequestId, SUPPORTED_VERSIONS};
use super::tools::ToolCtx;
use crate::body::Body;
use crate::error::HttpError;
use crate::respond::HttpResponse;

const MCP_PROTOCOL_VERSION: &str = "mcp-protocol-version";

/// The MCP endpoint of the HTTP adapter.
pub(crate) struct McpEndpoint {
    service: StreamableHttpService<McpServer, NeverSessionManager>,
    tools: Arc<ToolCtx>,
}

impl McpEndpoint {
    /// The endpoint over `tools`, reading request bodies of at most `body_limit` bytes (the
    /// pipeline has already enforced the same limit).
    pub(crate) fn new(tools: Arc<ToolCtx>, body_limit: usize) -> Self {
        let config = StreamableHttpServerConfig::default()
            .with_legacy_session_mode(false)
            .with_json_response(true)
            .with_sse_keep_alive(None)
            .with_sse_retry(None)
            // A public service is reached under its own host name; browser origins are
            // checked by `check` against ALLOWED_ORIGINS, the same list CORS uses.
            .disable_allowed_hosts()
            .disable_allowed_origins()
            .with_max_request_body_bytes(body_limit);
        let server = McpServer::new(tools.clone());
        McpEndpoint {
            service: StreamableHttpService::new(
                move || Ok(server.clone()),
                Arc::new(NeverSessionManager::default()),
                config,
            ),
            tools,
        }
    }

    /// Counts the tools' searches in `analytics` from now on.
    pub(crate) fn set_analytics(&self, analytics: Arc<alistach_service::Analytics>) {
        self.tools.set_analytics(analytics);
    }

    /// Runs the tools' calls under `experiments` from now on.
    pub(crate) fn set_experiments(&self, experiments: Arc<alistach_service::Experiments>) {
        self.tools.set_experiments(experiments);
    }

    /// Refuses a request the protocol forbids: a `MCP-Protocol-Version` naming a revision this
    /// server does not speak (400), or an `Origin` that `origin_allowed` refuses (403; a
    /// request without `Origin`, from a program rather than a page, passes).
    pub(crate) fn check(
        headers: &HeaderMap,
        origin_allowed: impl FnOnce(&str) -> bool,
    ) -> Result<(), HttpError> {
        if let Some(origin) = headers.get(hyper::header::ORIGIN)
            && !origin.to_str().is_ok_and(origin_allowed)
        {
            return Err(HttpError::Forbidden(
                "this origin may not use the MCP endpoint (ALLOWED_ORIGINS)",
            ));
        }
        for given in headers.get_all(MCP_PROTOCOL_VERSION) {
            if !SUPPORTED_VERSIONS
                .iter()
                .any(|v| v.as_str().as_bytes() == given.as_bytes())
            {
                let given: String = String::from_utf8_lossy(given.as_bytes())
                    .chars()
                    .take(40)
                    .collect();
                return Err(HttpError::UnsupportedProtocolVersion {
                    given,
                    supported: SUPPORTED_VERSIONS.map(|v| v.as_str().to_owned()).join(", "),
                });
            }
        }
        Ok(())
    }

    /// Answers one MCP request whose head is `parts` and whose body (already read under the
    /// pipeline's limits) is `body`. JSON-RPC answers (errors included) pass as rmcp wrote them;
    /// a refusal of the transport's own (plain text: what the client must accept, the content
    /// type) becomes a problem document like every other refusal.
    pub(crate) async fn answer(
        &self,
        mut parts: Parts,
        body: Bytes,
        request_id: &str,
    ) -> Result<HttpResponse, HttpError> {
        parts.extensions.insert(RequestId(request_id.to_owned()));
        let resp = self
            .service
            .handle(Request::from_parts(parts, Full::new(body)))
            .await;
        let (head, body) = resp.into_parts();
        let bytes = match body.collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(never) => match never {},
        };
        let json_rpc = head
            .headers
            .get(hyper::header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
        if (head.status.is_client_error() || head.status.is_server_error()) && !json_rpc {
            let detail: String = String::from_utf8_lossy(&bytes).chars().take(300).collect();
            if head.status.is_server_error() {
                tracing::warn!(
                    request_id,
                    status = head.status.as_u16(),
                    detail,
                    "the MCP transport failed"
                );
                return Err(HttpError::Internal);
            }
            return Err(HttpError::McpRefused {
                status: head.status,
                detail,
            });
        }
        Ok(Response::from_parts(head, Body::from(bytes)))
    }
}

#[cfg(test)]
mod tests {
    use hyper::header::HeaderValue;

    use super::*;

    #[test]
    fn unsupported_revisions_and_foreign_origins_are_refused() {
        let mut h = HeaderMap::new();
        assert!(McpEndpoint::check(&h, |_| false).is_ok());
        for v in ["2025-06-18", "2025-11-25", "2026-07-28"] {
            h.insert(MCP_PROTOCOL_VERSION, HeaderValue::from_static(v));
            assert!(McpEndpoint::check(&h, |_| false).is_ok(), "{v}");
        }
        for v in ["2024-11-05", "2025-03-26", "1999-01-01", ""] {
            h.insert(MCP_PROTOCOL_VERSION, HeaderValue::from_static(v));
            let e = McpEndpoint::check(&h, |_| true).unwrap_err();
            assert_eq!(e.status(), 400, "{v}");
            assert!(
                e.detail().contains("2025-06-18, 2025-11-25, 2026-07-28"),
                "{}",
                e.detail()
            );
        }
        let mut h = HeaderMap::new();
        h.insert(
            hyper::header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert_eq!(
            McpEndpoint::check(&h, |o| o == "https://chatgpt.com")
                .unwrap_err()
                .status(),
            403
        );
        h.insert(
            hyper::header::ORIGIN,
            HeaderValue::from_static("https://chatgpt.com"),
        );
        assert!(McpEndpoint::check(&h, |o| o == "https://chatgpt.com").is_ok());
    }
}
