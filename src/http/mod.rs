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
pub mod site;
pub mod sso;
pub mod token_management;
pub mod wire;

use axum::Router;
use axum::extract::FromRef;
use axum::routing::{get, post};
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

/// The machine routes (SPEC §3): JSON, called by devices, CLIs and resource
/// servers without cookies, so no session and no cross-site check.
pub fn machine_routes() -> Router<AppState> {
    Router::new()
        .route("/.well-known/oauth-authorization-server", get(discovery::metadata))
        .route("/v1/oauth/device/code", post(device_flow::device_authorization))
        .route(device_flow::TOKEN_PATH, post(device_flow::token))
        .route("/v1/oauth/device/lookup", get(device_flow::lookup))
        .route("/v1/oauth/revoke", post(token_management::revoke))
        .route("/v1/oauth/introspect", post(token_management::introspect))
        .route("/v1/me", get(bearer::me))
        .route("/v1/oauth/authorizations", get(bearer::list_authorizations))
        .route("/v1/oauth/authorizations/self", axum::routing::delete(bearer::revoke_self))
        .route("/healthz", get(health::live))
        .route("/readyz", get(health::ready))
        .merge(admin_api::routes())
}
