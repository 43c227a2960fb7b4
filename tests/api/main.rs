//! API integration tests: the real server on port 0, spoken to over HTTP,
//! on SQLite + in-process state and on PostgreSQL + Redis.

// A failed expectation is how a test reports; panicking is the point.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod helpers;

mod admin_clients;
mod admin_console;
mod audit;
mod command_line;
mod conformance;
mod console;
mod console_safety;

mod device_flow;
mod faults;
mod metrics;
mod pages;
mod races;
mod rate_limits;
mod restarts;
mod retention;
mod security;
mod sso;
mod sso_keys;
mod sso_provider;
mod stock_client;
mod token_management;
