//! Bearer-authenticated routes (RFC 6750).

use super::AppState;
use super::middleware::client_ip::ClientAddr;
use super::params::single_dpop_proof;
use super::responses::{ApiError, json_no_store, no_store};
use super::wire::{MeResponse, SubjectBody, rfc3339};
use axum::extract::{FromRequestParts, OriginalUri, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use gatehouse_core::services::bearer::{AuthenticatedToken, BearerError, Presented};
use gatehouse_core::{TokenKind, scope};
use serde_json::json;

/// The scheme and token in `Authorization: Bearer …` or `Authorization: DPoP
/// …` (RFC 9449 §7.1), if any (scheme case-insensitive); two `Authorization`
/// headers are `invalid_request`.
fn presented_token(headers: &HeaderMap) -> Result<Option<(bool, &str)>, ApiError> {
    let Some(value) = super::params::single_authorization(headers)? else {
        return Ok(None);
    };
    let Some((scheme, token)) = value.to_str().ok().and_then(|v| v.split_once(' ')) else {
        return Ok(None);
    };
    let token = token.trim();
    let is_dpop = scheme.eq_ignore_ascii_case("dpop");
    Ok((is_dpop || scheme.eq_ignore_ascii_case("bearer")).then_some((is_dpop, token)).filter(|(_, t)| !t.is_empty()))
}

/// The request a resource route answers, as its DPoP proof must name it.
/// (A `Uri` clone shares its bytes, so bearer requests, which never look at
/// it, allocate nothing for it.)
pub struct RequestTarget {
    method: Method,
    uri: Uri,
}

impl<S: Send + Sync> FromRequestParts<S> for RequestTarget {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let uri =
            parts.extensions.get::<OriginalUri>().map_or_else(|| parts.uri.clone(), |original| original.0.clone());
        Ok(Self { method: parts.method.clone(), uri })
    }
}

/// Authenticates the request's access token, with its DPoP proof when it
/// is bound to a key; with `required`, also checks the token's scopes cover
/// it (403 `insufficient_scope` otherwise).
pub(super) async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    target: &RequestTarget,
    ip: Option<&str>,
    required: Option<&'static str>,
) -> Result<AuthenticatedToken, ApiError> {
    if !state.services.bearer.enabled() {
        return Err(BearerError::Disabled.into());
    }
    let (is_dpop, token) = presented_token(headers)?.ok_or(ApiError::BearerMissing)?;
    // The URI a proof must name, built only for DPoP requests.
    let uri;
    let presented = if is_dpop {
        let proof = single_dpop_proof(headers).map_err(|why| BearerError::InvalidDpopProof(why.into()))?;
        uri = format!("{}{}", state.edge.public_url, target.uri.path());
        Presented::Dpop { token, proof, method: target.method.as_str(), uri: &uri }
    } else {
        Presented::Bearer(token)
    };
    let token = state.services.bearer.authenticate(presented, ip).await?;
    if let Some(scope) = required {
        token.require(scope)?;
    }
    Ok(token)
}

/// `GET /v1/me`: the token's subject.
pub async fn me(
    State(state): State<AppState>,
    ClientAddr(ip): ClientAddr,
    target: RequestTarget,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let token = authenticate(&state, &headers, &target, ip.as_deref(), None).await?;
    let subject = state.services.bearer.subject(token).await?;
    let record = &subject.token.record;
    Ok(json_no_store(MeResponse {
        sub: record.public_sub(),
        subject_type: subject.token.kind.subject_type().to_owned(),
        scopes: subject.token.scopes.clone(),
        client_id: record.client_id.clone(),
        token_id: record.id,
        expires_at: rfc3339(subject.token.expires_at()),
        subject: SubjectBody::new(
            subject.account.as_ref(),
            &subject.workspaces,
            &record.subject_email,
            &record.subject_issuer,
        ),
    }))
}

/// `DELETE /v1/oauth/authorizations/self`: revokes the presenting token.
pub async fn revoke_self(
    State(state): State<AppState>,
    ClientAddr(ip): ClientAddr,
    target: RequestTarget,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let token = authenticate(&state, &headers, &target, ip.as_deref(), None).await?;
    state.services.bearer.revoke_self(&token, ip.as_deref()).await?;
    Ok(no_store(StatusCode::NO_CONTENT.into_response()))
}

/// `GET /v1/oauth/authorizations`: the subject's active tokens (every device
/// it has approved), newest first. Managing authorizations needs `full`.
pub async fn list_authorizations(
    State(state): State<AppState>,
    ClientAddr(ip): ClientAddr,
    target: RequestTarget,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let token = authenticate(&state, &headers, &target, ip.as_deref(), Some(scope::FULL)).await?;
    let records = state.services.bearer.authorizations(&token).await?;
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
                "refreshable": r.refreshable,
                "last_refreshed_at": r.refreshed_at.map(rfc3339),
                "dpop_bound": r.dpop_jkt.is_some(),
                "expires_at": rfc3339(r.expires_at),
                "current": r.id == token.record.id,
            })
        })
        .collect();
    Ok(json_no_store(json!({ "authorizations": authorizations })))
}
