//! Test support: the fake AliExpress gateway (signature-checking, scripted faults, request
//! counting), a `redis-server` launcher, and reading a Prometheus exposition (promtool).

pub mod gateway;
pub mod prometheus;
pub mod redis_server;
