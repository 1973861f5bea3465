//! alistach-cache.
