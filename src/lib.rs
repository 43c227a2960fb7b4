//! The `gatehouse` server binary's library: configuration, startup, the REST
//! edge and the command-line interface. `main.rs` only parses and dispatches.

pub mod cli;
pub mod config;
pub mod http;
pub mod jobs;
pub mod logging;
pub mod mail;
pub mod metrics;
pub mod startup;
pub mod telemetry;

/// Private (0600) files: the secret, saved logins, the flow snapshot.
pub use gatehouse_store::files;
