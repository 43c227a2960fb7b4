//! Error → response mapping, decided once, here. Internal detail is logged;
//! clients get a stable code and a generic description.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gatehouse_core::services::bearer::BearerError;
use gatehouse_core::services::device_flow::FlowError;
use gatehouse_core::{OAuthError, OAuthErrorCode, StoreError};
use serde_json::json;

/// Seconds a client is told to wait after a storage fault.
const RETRY_AFTER_SECS: &str = "5";

/// Adds `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1).
pub fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// A JSON error body `{"error": code, "error_description": description}`.
pub fn json_error(status: StatusCode, code: &str, description: &str) -> Response {
    no_store((status, Json(json!({ "error": code, "error_description": description }))).into_response())
}

/// Fail closed: storage faults are 503 with `Retry-After`, never 401 or 200.
pub fn unavailable(err: &StoreError) -> Response {
    tracing::error!(error = %err, "storage fault");
    let mut response = json_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        "the service is temporarily unavailable; retry shortly",
    );
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECS));
    response
}

/// An OAuth error answer with the RFC 6749 §5.2 status.
pub fn oauth_error(err: &OAuthError) -> Response {
    let status = match err.code {
        OAuthErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
        _ => StatusCode::BAD_REQUEST,
    };
    let mut body = json!({ "error": err.code.to_string(), "error_description": err.description });
    if let Some(interval) = err.interval {
        body["interval"] = json!(interval);
    }
    let mut response = no_store((status, Json(body)).into_response());
    if err.code == OAuthErrorCode::InvalidClient {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(r#"Basic realm="gatehouse""#));
    }
    response
}

impl IntoResponse for super::params::ParamsRejection {
    fn into_response(self) -> Response {
        match self {
            Self::TooLarge => json_error(StatusCode::PAYLOAD_TOO_LARGE, "invalid_request", "request body too large"),
            Self::Invalid(err) => oauth_error(&err),
        }
    }
}

/// Maps a device-grant failure.
pub fn flow_error(err: FlowError) -> Response {
    match err {
        FlowError::OAuth(e) => oauth_error(&e),
        FlowError::Unavailable(e) => unavailable(&e),
    }
}

/// RFC 6750 §3 answers for bearer routes.
pub fn bearer_error(err: BearerError) -> Response {
    match err {
        BearerError::Disabled => json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "bearer_auth_disabled",
            "bearer authentication is disabled on this server",
        ),
        BearerError::InvalidToken(why) => with_challenge(
            json_error(StatusCode::UNAUTHORIZED, "invalid_token", why),
            &format!(r#"Bearer realm="gatehouse", error="invalid_token", error_description="{why}""#),
        ),
        BearerError::InsufficientScope(scope) => with_challenge(
            json_error(
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                &format!("this request requires the {scope} scope"),
            ),
            &format!(r#"Bearer realm="gatehouse", error="insufficient_scope", scope="{scope}""#),
        ),
        BearerError::Unavailable(e) => unavailable(&e),
    }
}

/// Adds the RFC 6750 `WWW-Authenticate` challenge to an error answer.
fn with_challenge(mut response: Response, challenge: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(challenge) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// An instant as the JSON answers write it: RFC 3339 in UTC, whole seconds.
pub fn rfc3339(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// 401 for a request that carried no bearer token at all (RFC 6750 §3.1:
/// the challenge then names no error).
pub fn bearer_missing() -> Response {
    let mut response = json_error(StatusCode::UNAUTHORIZED, "invalid_token", "a bearer token is required");
    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(r#"Bearer realm="gatehouse""#));
    response
}
