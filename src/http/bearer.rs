//! Bearer-authenticated routes (RFC 6750).

use super::AppState;
use super::device_flow::add_subject;
use super::middleware::client_ip::ClientAddr;
use super::responses::{bearer_error, bearer_missing, no_store, unavailable};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gatehouse_core::services::bearer::AuthenticatedToken;
use serde_json::json;

/// The token in `Authorization: Bearer …`, if any (scheme case-insensitive).
fn presented_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

async fn authenticate(state: &AppState, headers: &HeaderMap, ip: Option<&str>) -> Result<AuthenticatedToken, Response> {
    if !state.services.bearer.enabled() {
        return Err(bearer_error(gatehouse_core::services::bearer::BearerError::Disabled));
    }
    let token = presented_token(headers).ok_or_else(bearer_missing)?;
    state.services.bearer.authenticate(token, ip).await.map_err(bearer_error)
}

/// `GET /v1/me`: the token's subject.
pub async fn me(State(state): State<AppState>, ClientAddr(ip): ClientAddr, headers: HeaderMap) -> Response {
    let token = match authenticate(&state, &headers, ip.as_deref()).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    let subject = match state.services.bearer.subject(token).await {
        Ok(subject) => subject,
        Err(err) => return bearer_error(err),
    };
    let record = &subject.token.record;
    let mut body = json!({
        "subject_type": subject.token.kind.subject_type(),
        "scopes": subject.token.scopes,
        "client_id": record.client_id,
        "token_id": record.id,
        "expires_at": record.expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    });
    add_subject(
        &mut body,
        subject.account.as_ref(),
        &subject.workspaces,
        &record.subject_email,
        &record.subject_issuer,
    );
    no_store(Json(body).into_response())
}

/// `DELETE /v1/oauth/authorizations/self`: revokes the presenting token.
pub async fn revoke_self(State(state): State<AppState>, ClientAddr(ip): ClientAddr, headers: HeaderMap) -> Response {
    let token = match authenticate(&state, &headers, ip.as_deref()).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    match state.services.bearer.revoke_self(&token, ip.as_deref()).await {
        Ok(()) => no_store(StatusCode::NO_CONTENT.into_response()),
        Err(err) => unavailable(&err),
    }
}
