//! The store's conformance suites, one test binary (one link of the store and
//! its drivers instead of one per suite): the same cases against every
//! backend of each port.

// A failed expectation is how a test reports; panicking is the point. The
// wall clock gives each case its starting instant, which the stores take
// as given.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::disallowed_methods)]

mod common;
mod flow_store;
mod migrations;
mod postgres_state;
mod rate_limiter;
mod single_use;
mod sql;
mod token_cache;
