//! The HTTP adapter end to end: `serve()` on 127.0.0.1:0 driven by a real HTTP client, over the
//! memory cache, a manual clock and a scriptable catalog.

mod support;

mod admin;
mod alerts;
mod alerts_admin;
mod cors_and_headers;
mod dashboard;
mod endpoints;
mod errors;
mod lifecycle;
mod mock_catalog;
mod observability;
mod props;
mod watches;
