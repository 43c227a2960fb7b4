//! Server functions behind the pages. They stay thin: take the services from
//! context, check session and CSRF, call the core, map to a view type.

pub mod admin;
pub mod admin_accounts;
pub mod admin_audit;
pub mod admin_clients;
pub mod admin_scopes;
#[cfg(feature = "ssr")]
pub mod answer;
pub mod console;
#[cfg(feature = "ssr")]
pub mod context;
#[cfg(feature = "ssr")]
pub mod core_errors;
pub mod device;
pub mod passkeys;
pub mod password;
pub mod refusals;
pub mod session;
pub mod sso;
pub mod views;
