//! A bare axum server answering `POST /v1/oauth/device/token` the way
//! Gatehouse answers a pending poll (parse the form, answer 400
//! `authorization_pending` as JSON, `Cache-Control: no-store`), with no
//! state, no store and no middleware: the most this machine's HTTP stack can
//! do for that request. `bench/run.sh ceiling` puts Gatehouse's pending poll
//! beside it.

use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::{Form, Json, Router, routing::post};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[allow(dead_code)] // parsed as Gatehouse parses it; not otherwise used
struct TokenRequest {
    grant_type: String,
    client_id: String,
    device_code: String,
}

#[derive(Serialize)]
struct ErrorBody {
    error: &'static str,
    error_description: &'static str,
}

async fn token(Form(_request): Form<TokenRequest>) -> impl IntoResponse {
    (
        StatusCode::BAD_REQUEST,
        [(header::CACHE_CONTROL, "no-store")],
        Json(ErrorBody { error: "authorization_pending", error_description: "the user has not approved yet" }),
    )
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let address = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:3391".to_owned());
    let listener = tokio::net::TcpListener::bind(&address).await?;
    axum::serve(listener, Router::new().route("/v1/oauth/device/token", post(token))).await
}
