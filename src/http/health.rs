//! Liveness and readiness.

use super::AppState;
use super::responses::ApiError;
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// `GET /healthz`: the process answers.
pub async fn live() -> Response {
    Json(json!({ "status": "ok" })).into_response()
}

/// `GET /readyz`: the database and the state store both answer.
pub async fn ready(State(state): State<AppState>) -> Result<Response, ApiError> {
    state.services.ready().await?;
    Ok(Json(json!({ "status": "ready" })).into_response())
}
