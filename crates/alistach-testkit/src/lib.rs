//! Test support: the fake AliExpress gateway (signature-checking, scripted faults, request
//! counting), `redis-server` and PostgreSQL launchers, and reading a Prometheus exposition (promtool).

pub mod gateway;
pub mod postgres_server;
pub mod prometheus;
pub mod redis_server;
