//! alistach-policy.
