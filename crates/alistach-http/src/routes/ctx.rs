//! What a handler knows about its request besides the body.

use std::time::Instant;

/// What a handler knows about its request besides the body.
pub(crate) struct Ctx<'a> {
    pub started: Instant,
    pub query: Option<&'a str>,
}

impl Ctx<'_> {
    pub(crate) fn elapsed_ms(&self) -> f64 {
        (self.started.elapsed().as_secs_f64() * 1e3 * 1000.0).round() / 1000.0
    }
}
