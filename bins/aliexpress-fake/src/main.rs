//! aliexpress-fake.
fn main() {}
