//! Error → response mapping, decided once, here. Internal detail is logged;
//! clients get a stable code and a generic description.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gatehouse_core::rate_limit::LimitError;
use gatehouse_core::rate_limit::RateLimited;
use gatehouse_core::services::bearer::BearerError;
use gatehouse_core::services::clients::ClientAuthError;
use gatehouse_core::services::device_flow::FlowError;
use gatehouse_core::{OAuthError, OAuthErrorCode, StoreError};
use serde_json::json;

/// Every way a REST handler can fail; the status and body are decided here,
/// once. Handlers return `Result<_, ApiError>` and use `?`.
#[derive(Debug)]
pub enum ApiError {
    /// An OAuth error answer (RFC 6749 §5.2).
    OAuth(OAuthError),
    /// A bearer refusal (RFC 6750 §3).
    Bearer(BearerError),
    /// No bearer token at all (RFC 6750 §3.1).
    BearerMissing,
    /// A rate limit refused the request: 429.
    RateLimited(RateLimited),
    /// A storage fault: 503, fail closed.
    Unavailable(StoreError),
}

impl From<OAuthError> for ApiError {
    fn from(err: OAuthError) -> Self {
        ApiError::OAuth(err)
    }
}

impl From<BearerError> for ApiError {
    fn from(err: BearerError) -> Self {
        ApiError::Bearer(err)
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        ApiError::Unavailable(err)
    }
}

impl From<FlowError> for ApiError {
    fn from(err: FlowError) -> Self {
        match err {
            FlowError::OAuth(e) => ApiError::OAuth(e),
            FlowError::RateLimited(e) => ApiError::RateLimited(e),
            FlowError::Unavailable(e) => ApiError::Unavailable(e),
        }
    }
}

impl From<LimitError> for ApiError {
    fn from(err: LimitError) -> Self {
        match err {
            LimitError::RateLimited(e) => ApiError::RateLimited(e),
            LimitError::Unavailable(e) => ApiError::Unavailable(e),
        }
    }
}

impl From<ClientAuthError> for ApiError {
    fn from(err: ClientAuthError) -> Self {
        match err {
            ClientAuthError::OAuth(e) => ApiError::OAuth(e),
            ClientAuthError::Unavailable(e) => ApiError::Unavailable(e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::OAuth(err) => oauth_error(&err),
            ApiError::Bearer(err) => bearer_error(err),
            ApiError::BearerMissing => bearer_missing(),
            ApiError::RateLimited(limited) => rate_limited(&limited),
            ApiError::Unavailable(err) => unavailable(&err),
        }
    }
}

/// A JSON body with `Cache-Control: no-store` (every REST answer carries it).
pub fn json_no_store(body: impl serde::Serialize) -> Response {
    no_store(Json(body).into_response())
}

/// Seconds a client is told to wait after a storage fault.
const RETRY_AFTER_SECS: &str = "2";

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
    tracing::error!(error = %err.report(), "storage fault");
    let mut response = json_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        "the service is temporarily unavailable; retry shortly",
    );
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECS));
    response
}

/// 429 with `Retry-After` (whole seconds) and
/// `{"error": "rate_limited", "retry_after_ms": N}`.
pub fn rate_limited(limited: &RateLimited) -> Response {
    let secs = limited.retry_after_secs();
    let body = json!({
        "error": "rate_limited",
        "error_description": format!("too many requests; retry in {secs} seconds"),
        "retry_after_ms": limited.retry_after_ms(),
    });
    let mut response = no_store((StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response());
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
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

/// RFC 6750 §3 answers for bearer routes. Every 401 and 403 carries both
/// challenges (see [`with_challenges`]).
pub fn bearer_error(err: BearerError) -> Response {
    match err {
        BearerError::Disabled => json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "bearer_auth_disabled",
            "bearer authentication is disabled on this server",
        ),
        BearerError::InvalidToken(why) => with_challenges(
            json_error(StatusCode::UNAUTHORIZED, "invalid_token", why),
            Some(&format!(r#"error="invalid_token", error_description="{why}""#)),
            Scheme::Both,
        ),
        BearerError::InsufficientScope(scope) => with_challenges(
            json_error(
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                &format!("this request requires the {scope} scope"),
            ),
            Some(&format!(r#"error="insufficient_scope", scope="{scope}""#)),
            Scheme::Both,
        ),
        BearerError::NoLongerAdmin => with_challenges(
            json_error(StatusCode::FORBIDDEN, "insufficient_scope", &err.to_string()),
            Some(r#"error="insufficient_scope", scope="admin""#),
            Scheme::Both,
        ),
        BearerError::InvalidDpopProof(why) => with_challenges(
            json_error(StatusCode::UNAUTHORIZED, "invalid_dpop_proof", &why),
            Some(&format!(r#"error="invalid_dpop_proof", error_description="{why}""#)),
            Scheme::Dpop,
        ),
        BearerError::UseDpopNonce { nonce } => {
            let why = BearerError::UseDpopNonce { nonce: String::new() }.to_string();
            let mut response = with_challenges(
                json_error(StatusCode::UNAUTHORIZED, "use_dpop_nonce", &why),
                Some(&format!(r#"error="use_dpop_nonce", error_description="{why}""#)),
                Scheme::Dpop,
            );
            if let Ok(nonce) = HeaderValue::from_str(&nonce) {
                response.headers_mut().insert("dpop-nonce", nonce);
            }
            response
        }
        BearerError::RateLimited(limited) => rate_limited(&limited),
        BearerError::Unavailable(e) => unavailable(&e),
    }
}

/// The scheme a refusal's error speaks of.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scheme {
    /// The token itself (`invalid_token`, `insufficient_scope`): whichever
    /// scheme presented it.
    Both,
    /// The DPoP proof (`invalid_dpop_proof`, `use_dpop_nonce`).
    Dpop,
}

/// Adds both `WWW-Authenticate` challenges, `Bearer` (RFC 6750 §3) and
/// `DPoP` with its `algs` (RFC 9449 §7.1), so a client learns how a token
/// may be presented whichever scheme it used, including a DPoP-bound token
/// sent as a bearer token. `error` (an error and its parameters) goes on
/// each challenge it applies to; `None` is a request without a token, which
/// gets no error code (RFC 6750 §3.1).
fn with_challenges(mut response: Response, error: Option<&str>, scheme: Scheme) -> Response {
    let bearer = match (error, scheme) {
        (Some(error), Scheme::Both) => format!(r#"Bearer realm="gatehouse", {error}"#),
        _ => r#"Bearer realm="gatehouse""#.to_owned(),
    };
    let dpop = match error {
        None => format!(r#"DPoP algs="{}""#, dpop_algs()),
        Some(error) => format!(r#"DPoP {error}, algs="{}""#, dpop_algs()),
    };
    let headers = response.headers_mut();
    for challenge in [bearer, dpop] {
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            headers.append(header::WWW_AUTHENTICATE, value);
        }
    }
    response
}

/// The proof algorithms, as a challenge's `algs` names them (RFC 9449 §7.1).
fn dpop_algs() -> String {
    gatehouse_core::services::dpop::ALGORITHMS.join(" ")
}

/// 401 for a request that carried no access token at all. RFC 6750 §3.1:
/// such a request gets no error code, in the challenge or the body.
pub fn bearer_missing() -> Response {
    let body = json!({ "error_description": "a bearer token is required" });
    with_challenges(no_store((StatusCode::UNAUTHORIZED, Json(body)).into_response()), None, Scheme::Both)
}
