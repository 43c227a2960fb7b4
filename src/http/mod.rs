//! The REST edge: OAuth endpoints, bearer routes, health, and the middleware
//! every response passes through.

pub mod admin_api;
pub mod bearer;
pub mod client_auth;
pub mod device_flow;
pub mod discovery;
pub mod health;
pub mod middleware;
pub mod params;
pub mod responses;
pub mod router;
pub mod site;
pub mod sso;
pub mod token_management;
pub mod wire;

use axum::extract::FromRef;
use gatehouse_core::services::Services;
use leptos::config::LeptosOptions;
use std::sync::Arc;

/// Shared state of every handler. axum clones it for each request, so every
/// field is behind one `Arc`: cloning the services themselves would touch
/// dozens of reference counts per request.
#[derive(Clone)]
pub struct AppState {
    pub services: Arc<Services>,
    pub leptos_options: Arc<LeptosOptions>,
    pub edge: Arc<EdgeConfig>,
}

/// leptos_axum reads the options from the state (page requests only).
impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        (*state.leptos_options).clone()
    }
}

/// What the edge needs from the configuration.
#[derive(Debug, Clone)]
pub struct EdgeConfig {
    /// The public base URL without a trailing slash, e.g. `https://auth.example.com`.
    pub public_url: String,
}

impl EdgeConfig {
    /// `verification_uri`.
    pub fn verification_uri(&self) -> String {
        format!("{}/device", self.public_url)
    }
}
