//! Process-level end-to-end tests: the real `alistach-server` binary, driven over HTTP.

mod alerts;
mod analytics;
mod browser;
mod cache_policy;
mod clicks;
mod compat;
mod config;
mod dashboard;
mod deploy;
mod experiments;
mod hardening;
mod mcp;
mod mock_mode;
mod observability;
mod orders;
mod policy;
mod real_mode;
mod redis_ops;
mod shared_cache;
mod support;
mod surface;
mod tenants;
mod upstream_hints;
mod watches;
mod webhooks;
