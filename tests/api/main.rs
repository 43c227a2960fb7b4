//! API integration tests: the real server on port 0, spoken to over HTTP,
//! on SQLite + in-process state and on PostgreSQL + Redis.

// A failed expectation is how a test reports; panicking is the point. The
// wall clock gives the tests their starting instant and measures real
// deadlines (faults, restarts); the server under test takes time from the
// injected clock.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::disallowed_methods)]

mod helpers;

mod admin_api;
mod admin_clients;
mod admin_console;
mod audit;
mod audit_webhooks;
mod client_address;
mod command_line;
mod conformance;
mod console;
mod console_safety;

mod device_flow;
mod email;
mod faults;
mod instances;
mod metrics;
mod observability;
mod operations;
mod pages;
mod passkeys;
mod races;
mod rate_limits;
mod restarts;
mod retention;
mod scopes;
mod security;
mod sso;
mod sso_console;
mod sso_keys;
mod sso_leavers;
mod sso_provider;
mod stock_client;
mod tls;
mod token_management;
