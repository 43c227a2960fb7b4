//! Token revocation (RFC 7009) and introspection (RFC 7662).

use super::AppState;
use super::client_auth::client_credentials;
use super::middleware::client_ip::ClientAddr;
use super::params::OAuthParams;
use super::responses::{ApiError, json_no_store, no_store};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use gatehouse_core::model::{ClientType, OAuthClient};
use gatehouse_core::services::bearer::RevokeError;
use gatehouse_core::{OAuthError, OAuthErrorCode};
use serde_json::json;

/// Authenticates the calling client.
async fn calling_client(state: &AppState, headers: &HeaderMap, params: &OAuthParams) -> Result<OAuthClient, ApiError> {
    let (client_id, secret) = client_credentials(headers, params)?;
    Ok(state.services.clients.authenticate(client_id.as_deref(), secret.as_ref()).await?)
}

fn token_param(params: &OAuthParams) -> Result<&str, OAuthError> {
    params.get("token").ok_or_else(|| OAuthError::new(OAuthErrorCode::InvalidRequest, "token is required"))
}

/// `POST /v1/oauth/revoke`: 200 whether or not the token existed (RFC 7009
/// §2.2); a token issued to another client is refused with
/// `unauthorized_client` (§2.1) — its presenter holds it already, so this
/// reveals nothing new.
/// An access or a refresh token ends its whole grant. `token_type_hint` is
/// accepted and needs no use: the two kinds have different prefixes.
pub async fn revoke(
    State(state): State<AppState>,
    ClientAddr(ip): ClientAddr,
    headers: HeaderMap,
    params: OAuthParams,
) -> Result<Response, ApiError> {
    let client = calling_client(&state, &headers, &params).await?;
    let token = token_param(&params)?;
    match state.services.bearer.revoke_for_client(&client, token, ip.as_deref()).await {
        Ok(()) => Ok(no_store(StatusCode::OK.into_response())),
        Err(RevokeError::NotIssuedToClient) => {
            Err(OAuthError::new(OAuthErrorCode::UnauthorizedClient, "the token was not issued to this client").into())
        }
        Err(RevokeError::Unavailable(err)) => Err(err.into()),
    }
}

/// `POST /v1/oauth/introspect`, for resource servers registered as
/// confidential clients.
pub async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: OAuthParams,
) -> Result<Response, ApiError> {
    let client = calling_client(&state, &headers, &params).await?;
    if client.client_type != ClientType::Confidential {
        return Err(
            OAuthError::new(OAuthErrorCode::InvalidClient, "introspection requires a confidential client").into()
        );
    }
    let token = token_param(&params)?;
    let body = match state.services.bearer.introspect(token).await? {
        None => json!({ "active": false }),
        Some(token) => {
            let record = &token.record;
            let mut body = json!({
                "active": true,
                "scope": token.scopes.join(" "),
                "client_id": record.client_id,
                "sub": record.public_sub(),
                "username": record.subject_email,
                "email": record.subject_email,
                "exp": token.expires_at().timestamp(),
                "iat": record.refreshed_at.unwrap_or(record.created_at).timestamp(),
                "subject_type": token.kind.subject_type(),
                "grant_id": record.id,
                "iss": state.edge.public_url,
            });
            // RFC 7662 §2.2: token_type is an RFC 6749 §7.1 access token type;
            // a refresh token has none.
            if !token.is_refresh_token {
                body["token_type"] = json!(if record.dpop_jkt.is_some() { "DPoP" } else { "Bearer" });
            }
            // RFC 9449 §6.2: the key a bound token must be presented with.
            if let Some(jkt) = &record.dpop_jkt {
                body["cnf"] = json!({ "jkt": jkt });
            }
            body
        }
    };
    Ok(json_no_store(body))
}
