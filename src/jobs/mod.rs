//! Background jobs each instance runs beside the server.

pub mod audit_webhook;
pub mod retention;
pub mod sso_refusals;
