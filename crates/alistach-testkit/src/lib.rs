//! Test support: the fake AliExpress gateway (signature-checking, scripted faults, request
//! counting) and a `redis-server` launcher for tests.

pub mod gateway;
pub mod redis_server;
