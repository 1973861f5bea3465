//! alistach-aliexpress.
