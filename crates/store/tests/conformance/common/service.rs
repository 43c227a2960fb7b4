//! The rule every conformance test follows for a backend that runs beside
//! it (PostgreSQL, Redis): shared by the state-store tests (through
//! `common`) and by the SQL suite.

/// The URL in `var`, or `None` with the `backend` case of `test` reported as
/// skipped by name; under `CI=true` an unset variable fails the test.
pub fn backend_url(var: &str, backend: &str, test: &str) -> Option<String> {
    let url = std::env::var(var).ok();
    if url.is_none() {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{test}: {var} must be set under CI=true");
        gatehouse_store::testing::report_skipped(&format!("{test}::{backend}"), &format!("{var} not set"));
    }
    url
}
