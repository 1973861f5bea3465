//! What a handler knows about its request besides the body.

use std::net::IpAddr;
use std::time::Instant;

use hyper::HeaderMap;

/// What a handler knows about its request besides the body.
pub(crate) struct Ctx<'a> {
    pub started: Instant,
    pub query: Option<&'a str>,
    /// The request path (for routes with a path parameter).
    pub path: &'a str,
    /// The request is a HEAD (answered as its GET, without the body).
    pub head: bool,
    pub headers: &'a HeaderMap,
    /// The name of the key the caller presented, if any.
    pub key_name: Option<&'a str>,
    /// The TCP peer.
    pub peer: Option<IpAddr>,
}

impl Ctx<'_> {
    pub(crate) fn elapsed_ms(&self) -> f64 {
        (self.started.elapsed().as_secs_f64() * 1e3 * 1000.0).round() / 1000.0
    }
}
