//! RFC 8628 endpoints: device authorization, token polling, code lookup.

use super::AppState;
use super::client_auth::client_credentials;
use super::middleware::client_ip::{ClientAddr, ClientAddress};
use super::params::OAuthParams;
use super::params::single_dpop_proof;
use super::responses::{ApiError, json_no_store};
use super::wire::{DeviceAuthorizationResponse, SubjectBody, TokenResponse, rfc3339};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use gatehouse_core::rate_limit::Visitor;
use gatehouse_core::services::device_flow::{
    ClientCredentialsRequest, PollRequest, RefreshRequest, StartRequest, TokenGrant,
};
use gatehouse_core::services::dpop::PresentedProof;
use gatehouse_core::{OAuthError, OAuthErrorCode};
use serde_json::json;

/// The device grant's `grant_type` (RFC 8628 §3.4).
pub const DEVICE_CODE_GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// `POST /v1/oauth/device/code` (RFC 8628 §3.1–3.2).
pub async fn device_authorization(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
    params: OAuthParams,
) -> Result<Response, ApiError> {
    let (client_id, client_secret) = client_credentials(&headers, &params)?;
    let user_agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let request = StartRequest {
        client_id,
        client_secret,
        scope: params.get("scope").map(str::to_owned),
        device_label: params.owned("device_label"),
        ip: address.ip,
        ip_proven: address.proven,
        user_agent,
        dpop_jkt: params.owned("dpop_jkt"),
    };
    let started = state.services.device_flows.start(request).await?;
    let user_code = started.user_code.display();
    let verification_uri = state.edge.verification_uri();
    Ok(json_no_store(DeviceAuthorizationResponse {
        device_code: started.device_code.expose().to_owned(),
        verification_uri_complete: Some(format!("{verification_uri}?user_code={user_code}")),
        user_code,
        verification_uri,
        expires_in: u64::from(started.expires_in),
        interval: Some(u64::from(started.interval)),
        confirmation_required: started.confirmation_required.then_some(true),
    }))
}

/// The refresh grant's `grant_type` (RFC 6749 §6).
pub const REFRESH_TOKEN_GRANT_TYPE: &str = "refresh_token";
/// A confidential client's own token (RFC 6749 §4.4).
pub const CLIENT_CREDENTIALS_GRANT_TYPE: &str = "client_credentials";

/// The path of the token endpoint, which its DPoP proofs name (`htu`).
pub const TOKEN_PATH: &str = super::router::paths::TOKEN;

/// `POST /v1/oauth/device/token`: the device grant's polls (RFC 8628
/// §3.4–3.5) and refreshes of the grants it created (RFC 6749 §6). Every
/// answer to a request with a DPoP proof carries the current server nonce
/// (`DPoP-Nonce`, RFC 9449 §8), so a client always has a fresh one.
pub async fn token(
    State(state): State<AppState>,
    ClientAddr(ip): ClientAddr,
    headers: HeaderMap,
    params: OAuthParams,
) -> Response {
    let answer = token_answer(&state, ip, &headers, params).await;
    let mut response = answer.unwrap_or_else(IntoResponse::into_response);
    if headers.contains_key("dpop")
        && let Ok(nonce) = HeaderValue::from_str(&state.services.dpop.nonce())
    {
        response.headers_mut().insert("dpop-nonce", nonce);
    }
    response
}

async fn token_answer(
    state: &AppState,
    ip: Option<String>,
    headers: &HeaderMap,
    params: OAuthParams,
) -> Result<Response, ApiError> {
    let grant_type = params.get("grant_type");
    if grant_type.is_none() {
        return Err(OAuthError::new(OAuthErrorCode::InvalidRequest, "grant_type is required").into());
    }
    let (client_id, client_secret) = client_credentials(headers, &params)?;
    let dpop = single_dpop_proof(headers)
        .map_err(|why| OAuthError::new(OAuthErrorCode::InvalidDpopProof, why))?
        .map(|proof| PresentedProof { proof: proof.to_owned(), uri: format!("{}{TOKEN_PATH}", state.edge.public_url) });
    let grant = match grant_type {
        Some(DEVICE_CODE_GRANT_TYPE) => {
            let request = PollRequest {
                client_id,
                client_secret,
                device_code: params.owned("device_code"),
                ip,
                dpop,
                confirmation_code: params.owned("confirmation_code"),
            };
            state.services.device_flows.poll(request).await?
        }
        Some(REFRESH_TOKEN_GRANT_TYPE) => {
            let request = RefreshRequest {
                client_id,
                client_secret,
                refresh_token: params.owned("refresh_token"),
                scope: params.owned("scope"),
                ip,
                dpop,
            };
            state.services.device_flows.refresh(request).await?
        }
        Some(CLIENT_CREDENTIALS_GRANT_TYPE) => {
            let request = ClientCredentialsRequest { client_id, client_secret, scope: params.owned("scope"), ip, dpop };
            state.services.device_flows.client_credentials(request).await?
        }
        _ => {
            return Err(OAuthError::new(
                OAuthErrorCode::UnsupportedGrantType,
                "the grant types are urn:ietf:params:oauth:grant-type:device_code, refresh_token and client_credentials",
            )
            .into());
        }
    };
    Ok(json_no_store(token_response(&grant)))
}

/// The body of a successful redemption (SPEC §3).
fn token_response(grant: &TokenGrant) -> TokenResponse {
    TokenResponse {
        access_token: grant.token.expose().to_owned(),
        token_type: if grant.dpop_bound { "DPoP" } else { "Bearer" }.to_owned(),
        expires_in: u64::from(grant.expires_in),
        refresh_token: grant.refresh_token.as_ref().map(|t| t.expose().to_owned()),
        scope: grant.scopes.join(" "),
        expires_at: rfc3339(grant.expires_at),
        grant_expires_at: grant.refresh_token.as_ref().map(|_| rfc3339(grant.grant_expires_at)),
        token_id: grant.token_id,
        subject_type: grant.token.kind().subject_type().to_owned(),
        subject: SubjectBody::new(
            grant.account.as_ref(),
            &grant.workspaces,
            &grant.subject.email,
            &grant.subject.issuer,
        ),
    }
}

/// `GET /v1/oauth/device/lookup?user_code=` — pre-validates a code for the page.
pub async fn lookup(
    State(state): State<AppState>,
    ClientAddr(ip): ClientAddr,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let query = query.unwrap_or_default();
    let user_code = form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "user_code").map(|(_, v)| v);
    let Some(user_code) = user_code else {
        return Err(OAuthError::new(OAuthErrorCode::InvalidRequest, "user_code is required").into());
    };
    let visitor = Visitor::from_ip(ip);
    Ok(match state.services.device_flows.lookup(&user_code, &visitor).await? {
        Some(found) => json_no_store(json!({
            "valid": true,
            "expires_in_remaining": found.expires_in_remaining,
            "client_id": found.client_id,
            "client_name": found.client_name,
        })),
        None => json_no_store(json!({ "valid": false })),
    })
}
