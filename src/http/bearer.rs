//! Bearer-authenticated routes (RFC 6750).

use super::AppState;
use super::device_flow::add_subject;
use super::middleware::client_ip::ClientAddr;
use super::responses::{bearer_error, bearer_missing, no_store, rfc3339, unavailable};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gatehouse_core::services::bearer::{AuthenticatedToken, BearerError};
use gatehouse_core::{TokenKind, scope};
use serde_json::json;

/// The token in `Authorization: Bearer …`, if any (scheme case-insensitive).
fn presented_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// Authenticates the request's bearer token; with `required`, also checks
/// the token's scopes cover it (403 `insufficient_scope` otherwise).
async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    ip: Option<&str>,
    required: Option<&'static str>,
) -> Result<AuthenticatedToken, Response> {
    if !state.services.bearer.enabled() {
        return Err(bearer_error(BearerError::Disabled));
    }
    let token = presented_token(headers).ok_or_else(bearer_missing)?;
    let token = state.services.bearer.authenticate(token, ip).await.map_err(bearer_error)?;
    if let Some(scope) = required {
        token.require(scope).map_err(bearer_error)?;
    }
    Ok(token)
}

/// `GET /v1/me`: the token's subject.
pub async fn me(State(state): State<AppState>, ClientAddr(ip): ClientAddr, headers: HeaderMap) -> Response {
    let token = match authenticate(&state, &headers, ip.as_deref(), None).await {
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
        "expires_at": rfc3339(record.expires_at),
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
    let token = match authenticate(&state, &headers, ip.as_deref(), None).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    match state.services.bearer.revoke_self(&token, ip.as_deref()).await {
        Ok(()) => no_store(StatusCode::NO_CONTENT.into_response()),
        Err(err) => unavailable(&err),
    }
}

/// `GET /v1/oauth/authorizations`: the subject's active tokens (every device
/// it has approved), newest first. Managing authorizations needs `full`.
pub async fn list_authorizations(
    State(state): State<AppState>,
    ClientAddr(ip): ClientAddr,
    headers: HeaderMap,
) -> Response {
    let token = match authenticate(&state, &headers, ip.as_deref(), Some(scope::FULL)).await {
        Ok(token) => token,
        Err(response) => return response,
    };
    let records = match state.services.bearer.authorizations(&token).await {
        Ok(records) => records,
        Err(err) => return unavailable(&err),
    };
    let authorizations: Vec<_> = records
        .iter()
        .map(|r| {
            json!({
                "token_id": r.id,
                "client_id": r.client_id,
                "device_label": (!r.device_label.is_empty()).then_some(&r.device_label),
                "scopes": TokenKind::from_token(&r.prefix).map(|kind| kind.narrow(&r.scopes)).unwrap_or_default(),
                "created_at": rfc3339(r.created_at),
                "last_used_at": r.last_used_at.map(rfc3339),
                "last_used_ip": r.last_used_ip,
                "expires_at": rfc3339(r.expires_at),
                "current": r.id == token.record.id,
            })
        })
        .collect();
    no_store(Json(json!({ "authorizations": authorizations })).into_response())
}
