//! alistach-http.
