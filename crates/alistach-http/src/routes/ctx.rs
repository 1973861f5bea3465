//! What a handler knows about its request besides the body.

use std::net::IpAddr;
use std::time::Instant;

use alistach_service::Tenants;
use hyper::HeaderMap;

use crate::auth::Principal;

/// What a handler knows about its request besides the body.
pub(crate) struct Ctx<'a> {
    pub started: Instant,
    pub query: Option<&'a str>,
    /// The request path (for routes with a path parameter).
    pub path: &'a str,
    /// The request is a HEAD (answered as its GET, without the body).
    pub head: bool,
    pub headers: &'a HeaderMap,
    /// Who presented which key.
    pub who: &'a Principal<'a>,
    /// The TCP peer.
    pub peer: Option<IpAddr>,
    /// The deployment's tenants, when it keeps any.
    pub tenants: Option<&'a Tenants>,
}

impl Ctx<'_> {
    pub(crate) fn elapsed_ms(&self) -> f64 {
        (self.started.elapsed().as_secs_f64() * 1e3 * 1000.0).round() / 1000.0
    }
}
