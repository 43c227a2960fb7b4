//! Middleware every request passes through.

pub mod access_log;
pub mod client_ip;
pub mod document_csp;
pub mod header_limit;
pub mod origin_check;
pub mod security_headers;
