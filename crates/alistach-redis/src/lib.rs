//! alistach-redis.
