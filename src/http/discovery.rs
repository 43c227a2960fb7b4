//! RFC 8414 authorization server metadata.

use super::AppState;
use super::router::paths;
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// `GET /.well-known/oauth-authorization-server`. `scopes_supported` is the
/// operator's scope registry.
pub async fn metadata(State(state): State<AppState>) -> Response {
    let scopes = match state.services.scopes.catalog().await {
        Ok(catalog) => catalog.names(),
        Err(err) => return super::responses::unavailable(&err),
    };
    let base = &state.edge.public_url;
    Json(json!({
        "issuer": base,
        "device_authorization_endpoint": format!("{base}{}", paths::DEVICE_AUTHORIZATION),
        "token_endpoint": format!("{base}{}", paths::TOKEN),
        "revocation_endpoint": format!("{base}{}", paths::REVOKE),
        "introspection_endpoint": format!("{base}{}", paths::INTROSPECT),
        "grant_types_supported": [
            super::device_flow::DEVICE_CODE_GRANT_TYPE,
            super::device_flow::REFRESH_TOKEN_GRANT_TYPE,
            super::device_flow::CLIENT_CREDENTIALS_GRANT_TYPE,
        ],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "scopes_supported": scopes,
        "response_types_supported": [],
        "dpop_signing_alg_values_supported": gatehouse_core::services::dpop::ALGORITHMS,
        "service_documentation": format!("{base}/"),
    }))
    .into_response()
}
