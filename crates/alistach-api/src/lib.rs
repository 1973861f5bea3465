//! The public HTTP contract of AliStach: the route table, request/response types and the OpenAPI documents.
//!
//! This crate depends on no other workspace crate; conversion to and from domain types lives in
//! `alistach-http`, so the contract can be read (and generated) on its own.

pub mod docs;
pub mod openapi;
pub mod routes;
pub mod types;

pub use docs::{DOCS_HTML, RAPIDOC_JS};
pub use openapi::{GPT_MAX_PAGE_SIZE, OpenApiOptions, OpenApiOptionsError, Profile, openapi};
pub use routes::{
    Access, ROUTES, Route, RouteId, RouteMiss, find, path_parameter, path_parameters, route_of,
};

/// The version of this contract (the AliStach version), used as `info.version` by default.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
