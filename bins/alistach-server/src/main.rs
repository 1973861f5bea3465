//! alistach-server.
fn main() {}
