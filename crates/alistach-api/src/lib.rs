//! alistach-api.
