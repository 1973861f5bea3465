//! alistach-testkit.
