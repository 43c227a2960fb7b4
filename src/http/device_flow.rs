//! RFC 8628 endpoints: device authorization, token polling, code lookup.

use super::AppState;
use super::client_auth::client_credentials;
use super::middleware::client_ip::ClientAddr;
use super::params::OAuthParams;
use super::responses::{flow_error, no_store, oauth_error, rfc3339, unavailable};
use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use gatehouse_core::services::accounts::default_workspace;
use gatehouse_core::services::device_flow::{PollRequest, StartRequest, TokenGrant};
use gatehouse_core::{OAuthError, OAuthErrorCode};
use serde_json::json;

/// The device grant's `grant_type` (RFC 8628 §3.4).
pub const DEVICE_CODE_GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// `POST /v1/oauth/device/code` (RFC 8628 §3.1–3.2).
pub async fn device_authorization(
    State(state): State<AppState>,
    ClientAddr(ip): ClientAddr,
    headers: HeaderMap,
    params: OAuthParams,
) -> Response {
    let (client_id, client_secret) = match client_credentials(&headers, &params) {
        Ok(credentials) => credentials,
        Err(err) => return oauth_error(&err),
    };
    let user_agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let request = StartRequest {
        client_id,
        client_secret,
        scope: params.get("scope").map(str::to_owned),
        device_label: params.owned("device_label"),
        ip,
        user_agent,
    };
    match state.services.device_flows.start(request).await {
        Ok(started) => {
            let user_code = started.user_code.display();
            let verification_uri = state.edge.verification_uri();
            no_store(
                Json(json!({
                    "device_code": started.device_code.expose(),
                    "user_code": user_code,
                    "verification_uri": verification_uri,
                    "verification_uri_complete": format!("{verification_uri}?user_code={user_code}"),
                    "expires_in": started.expires_in,
                    "interval": started.interval,
                }))
                .into_response(),
            )
        }
        Err(err) => flow_error(err),
    }
}

/// `POST /v1/oauth/device/token` (RFC 8628 §3.4–3.5).
pub async fn token(
    State(state): State<AppState>,
    ClientAddr(ip): ClientAddr,
    headers: HeaderMap,
    params: OAuthParams,
) -> Response {
    match params.get("grant_type") {
        None => {
            return oauth_error(&OAuthError::new(OAuthErrorCode::InvalidRequest, "grant_type is required"));
        }
        Some(DEVICE_CODE_GRANT_TYPE) => {}
        Some(_) => {
            return oauth_error(&OAuthError::new(
                OAuthErrorCode::UnsupportedGrantType,
                "only urn:ietf:params:oauth:grant-type:device_code is supported",
            ));
        }
    }
    let (client_id, client_secret) = match client_credentials(&headers, &params) {
        Ok(credentials) => credentials,
        Err(err) => return oauth_error(&err),
    };
    let request = PollRequest { client_id, client_secret, device_code: params.owned("device_code"), ip };
    match state.services.device_flows.poll(request).await {
        Ok(grant) => no_store(Json(token_response(&grant)).into_response()),
        Err(err) => flow_error(err),
    }
}

/// The body of a successful redemption (SPEC §3).
fn token_response(grant: &TokenGrant) -> serde_json::Value {
    let mut body = json!({
        "access_token": grant.token.expose(),
        "token_type": "Bearer",
        "expires_in": grant.expires_in,
        "scope": grant.scopes.join(" "),
        "expires_at": rfc3339(grant.expires_at),
        "token_id": grant.token_id,
        "subject_type": grant.token.kind().subject_type(),
    });
    add_subject(&mut body, grant.account.as_ref(), &grant.workspaces, &grant.subject.email, &grant.subject.issuer);
    body
}

/// Writes the subject fields shared by the token response and `/v1/me` into `body`.
pub fn add_subject(
    body: &mut serde_json::Value,
    account: Option<&gatehouse_core::model::Account>,
    workspaces: &[gatehouse_core::model::WorkspaceMembership],
    subject_email: &str,
    subject_issuer: &str,
) {
    match account {
        Some(account) => {
            body["account"] = json!({ "id": account.id, "email": account.email, "name": account.name });
            body["workspaces"] =
                workspaces.iter().map(|w| json!({ "id": w.id, "name": w.name, "role": w.role })).collect();
            body["default_workspace_id"] = json!(default_workspace(workspaces).map(|w| w.id));
        }
        None => {
            body["subject_email"] = json!(subject_email);
            body["subject_issuer"] = json!(subject_issuer);
            body["account"] = serde_json::Value::Null;
            body["workspaces"] = json!([]);
            body["default_workspace_id"] = serde_json::Value::Null;
        }
    }
}

/// `GET /v1/oauth/device/lookup?user_code=` — pre-validates a code for the page.
pub async fn lookup(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let query = query.unwrap_or_default();
    let user_code = form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "user_code").map(|(_, v)| v);
    let Some(user_code) = user_code else {
        return oauth_error(&OAuthError::new(OAuthErrorCode::InvalidRequest, "user_code is required"));
    };
    match state.services.device_flows.find_pending(&user_code).await {
        Ok(Some(flow)) => {
            // Whole seconds, rounded up: a flow with 0.4 s left is not expired.
            let remaining_ms = (flow.expires_at - state.services.ports.clock.now()).num_milliseconds().max(0);
            let remaining = (remaining_ms + 999) / 1000;
            no_store(
                Json(json!({
                    "valid": true,
                    "expires_in_remaining": remaining,
                    "client_id": flow.client_id,
                    "client_name": flow.client_name,
                }))
                .into_response(),
            )
        }
        Ok(None) => no_store(Json(json!({ "valid": false })).into_response()),
        Err(err) => unavailable(&err),
    }
}
