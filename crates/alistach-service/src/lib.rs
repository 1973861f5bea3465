//! alistach-service.
