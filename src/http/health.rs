//! Liveness and readiness.

use super::AppState;
use super::responses::unavailable;
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// `GET /healthz`: the process answers.
pub async fn live() -> Response {
    Json(json!({ "status": "ok" })).into_response()
}

/// `GET /readyz`: the database and the state store both answer.
pub async fn ready(State(state): State<AppState>) -> Response {
    let ports = &state.services.ports;
    if let Err(err) = ports.database.ping().await {
        return unavailable(&err);
    }
    if let Err(err) = ports.flows.ping().await {
        return unavailable(&err);
    }
    Json(json!({ "status": "ready" })).into_response()
}
