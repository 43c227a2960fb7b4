//! The SSO branch's server functions (SPEC §3): `approval-context` reads the
//! approval-grant cookie, `approve-external` and `deny-external` spend it.
//! The cookie's path keeps it to `/v1/oauth/device`, so these functions and
//! the authorize-sso page live under that path too.

use super::device::ScopeView;
use crate::error::AppError;
#[cfg(feature = "ssr")]
use crate::error::AppErrorCode;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// The approval-grant cookie's name (`__Secure-` prefixed on https).
pub const APPROVAL_GRANT_COOKIE: &str = "gatehouse_approval_grant";
/// The approval-grant cookie's path (SPEC §7).
pub const APPROVAL_GRANT_PATH: &str = "/v1/oauth/device";
/// The authorize-sso page, where `/device?sso_verified=1` sends the browser.
pub const AUTHORIZE_SSO_PAGE: &str = "/v1/oauth/device/authorize-sso";

/// A cookie's name, `__Secure-` prefixed when cookies are secure.
pub fn cookie_name(name: &str, secure: bool) -> String {
    if secure { format!("__Secure-{name}") } else { name.to_owned() }
}

/// Everything the authorize-sso view shows, all read from the approval grant
/// and the flow it names, never from the URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalContextView {
    pub subject_email: String,
    pub subject_issuer: String,
    pub subject_name: Option<String>,
    /// `XXXX-XXXX`, to compare with the terminal.
    pub user_code: String,
    pub client_id: String,
    pub client_name: String,
    /// As reported by the device; never verified.
    pub device_label: Option<String>,
    pub requester_ip: Option<String>,
    /// The request came from another address than this browser's.
    pub requested_from_elsewhere: bool,
    pub requester_user_agent: Option<String>,
    pub requested_ago: String,
    /// The scopes the external token would carry, in plain words.
    pub scopes: Vec<ScopeView>,
    /// Creation date of the token approving would replace.
    pub replaces_created_on: Option<String>,
    pub csrf_token: String,
    /// When the grant (and so this page's approve button) expires, RFC 3339.
    pub expires_at: String,
}

/// `GET /v1/oauth/device/approval-context`: the approval grant's request.
/// `401 no_session` without a usable grant.
#[server(prefix = "/v1/oauth/device", endpoint = "approval-context", input = leptos::server_fn::codec::GetUrl)]
pub async fn approval_context() -> Result<ApprovalContextView, AppError> {
    use super::context::*;
    no_store();
    let ctx = app_context()?;
    let sso = sso_branch(&ctx)?;
    let grant = grant_cookie(&ctx);
    let context = sso.approval_context(grant.as_deref()).await.map_err(|e| answer(sso_error(e)))?;
    let request = context.request;
    let flow = request.flow;
    Ok(ApprovalContextView {
        subject_email: context.subject.email,
        subject_issuer: context.subject.issuer,
        subject_name: context.subject.name,
        user_code: flow.user_code.display(),
        client_id: flow.client_id,
        client_name: flow.client_name,
        device_label: flow.device_label,
        requested_from_elsewhere: super::device::from_elsewhere(flow.requester_ip.as_deref()),
        requester_ip: flow.requester_ip,
        requester_user_agent: flow.requester_user_agent,
        requested_ago: super::device::ago(request.requested_ago),
        scopes: context.scopes.iter().map(|s| ScopeView::of(s)).collect(),
        replaces_created_on: request.replaces.map(|t| t.created_at.format("%-d %B %Y").to_string()),
        csrf_token: context.csrf_token,
        expires_at: context.expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    })
}

/// What approve-external and deny-external answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalDecision {
    /// `approved` or `denied`.
    pub status: String,
}

/// `POST /v1/oauth/device/approve-external`: spends the approval grant and
/// approves as its external subject.
#[server(prefix = "/v1/oauth/device", endpoint = "approve-external")]
pub async fn approve_external(user_code: String, csrf_token: String) -> Result<ExternalDecision, AppError> {
    decide_external(user_code, csrf_token, gatehouse_core::services::device_flow::DecisionKind::Approve).await
}

/// `POST /v1/oauth/device/deny-external`: spends the approval grant and denies.
#[server(prefix = "/v1/oauth/device", endpoint = "deny-external")]
pub async fn deny_external(user_code: String, csrf_token: String) -> Result<ExternalDecision, AppError> {
    decide_external(user_code, csrf_token, gatehouse_core::services::device_flow::DecisionKind::Deny).await
}

/// The result an SSO decision leaves for `/device`, read once from the session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SsoOutcome {
    pub approved: bool,
    pub client_name: String,
    pub user_code: String,
    pub email: String,
}

#[cfg(feature = "ssr")]
const OUTCOME_KEY: &str = "sso_outcome";

#[cfg(feature = "ssr")]
async fn decide_external(
    user_code: String,
    csrf_token: String,
    kind: gatehouse_core::services::device_flow::DecisionKind,
) -> Result<ExternalDecision, AppError> {
    use super::context::*;
    use gatehouse_core::services::device_flow::DecisionKind;
    no_store();
    let ctx = app_context()?;
    let sso = sso_branch(&ctx)?;
    let grant = grant_cookie(&ctx);
    let decided = sso.decide(grant.as_deref(), &csrf_token, &user_code, kind, client_ip()).await;
    let (flow, subject) = match decided {
        Ok(decided) => decided,
        Err(err) => {
            let err = sso_error(err);
            // A grant that can no longer be used goes: the page then says so.
            if matches!(
                err.error,
                AppErrorCode::SessionAlreadyConsumed | AppErrorCode::InvalidSession | AppErrorCode::UserCodeNotPending
            ) {
                clear_grant_cookie(&ctx);
            }
            return Err(fail(err, AUTHORIZE_SSO_PAGE));
        }
    };
    clear_grant_cookie(&ctx);
    let approved = kind == DecisionKind::Approve;
    let outcome = SsoOutcome {
        approved,
        client_name: flow.client_name,
        user_code: flow.user_code.display(),
        email: subject.email,
    };
    session()?.insert(OUTCOME_KEY, outcome).await.map_err(unavailable)?;
    succeed_to("/device");
    Ok(ExternalDecision { status: if approved { "approved" } else { "denied" }.to_owned() })
}

/// The SSO outcome left in the session, removed as it is read.
#[cfg(feature = "ssr")]
pub async fn take_outcome(session: &tower_sessions::Session) -> Result<Option<SsoOutcome>, AppError> {
    session.remove::<SsoOutcome>(OUTCOME_KEY).await.map_err(super::context::unavailable)
}

#[cfg(feature = "ssr")]
fn sso_branch(ctx: &super::context::AppContext) -> Result<gatehouse_core::services::sso::SsoService, AppError> {
    ctx.services.sso.clone().ok_or_else(|| answer(AppError::new(AppErrorCode::NotFound)))
}

/// The grant's answers name a person and carry a CSRF token: never stored.
#[cfg(feature = "ssr")]
fn no_store() {
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.insert_header(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
        response.insert_header(http::header::PRAGMA, http::HeaderValue::from_static("no-cache"));
    }
}

/// Sets the error's status on the response (for scripts and page renders).
#[cfg(feature = "ssr")]
fn answer(err: AppError) -> AppError {
    super::context::set_status(err.status());
    err
}

/// The core's refusal as the page-facing error.
#[cfg(feature = "ssr")]
pub fn sso_error(err: gatehouse_core::services::sso::SsoError) -> AppError {
    use gatehouse_core::services::sso::SsoError;
    let code = match err {
        SsoError::InvalidUserCode => AppErrorCode::InvalidUserCode,
        SsoError::ProviderUnreachable => AppErrorCode::SsoInitiateFailed,
        SsoError::InvalidState => AppErrorCode::InvalidSsoState,
        SsoError::InvalidAssertion(_) => AppErrorCode::InvalidSsoAssertion,
        SsoError::ProviderDenied => AppErrorCode::AccessDenied,
        SsoError::UserCodeNotPending => AppErrorCode::UserCodeNotPending,
        SsoError::NoSession => AppErrorCode::NoSession,
        SsoError::InvalidSession => AppErrorCode::InvalidSession,
        SsoError::SessionAlreadyConsumed => AppErrorCode::SessionAlreadyConsumed,
        SsoError::CsrfMismatch => AppErrorCode::CsrfMismatch,
        SsoError::UserCodeMismatch => AppErrorCode::UserCodeMismatch,
        SsoError::BearerAuthDisabled => AppErrorCode::BearerAuthDisabled,
        SsoError::RateLimited(limited) => return super::context::rate_limited(limited),
        SsoError::Unavailable(e) => return super::context::unavailable(e),
    };
    AppError::new(code)
}

/// The value of the cookie `name` in `headers`, if the browser sent it.
#[cfg(feature = "ssr")]
pub fn cookie_value(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// A `Set-Cookie` line for the SSO cookies: HttpOnly, SameSite=Lax, and
/// `Secure` with a `__Secure-` name when `secure`. `max_age` 0 clears it.
pub fn set_cookie_line(name: &str, value: &str, path: &str, max_age: i64, secure: bool) -> String {
    let secure_attribute = if secure { "; Secure" } else { "" };
    format!(
        "{}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure_attribute}",
        cookie_name(name, secure)
    )
}

/// The approval-grant cookie the browser sent, if any.
#[cfg(feature = "ssr")]
fn grant_cookie(ctx: &super::context::AppContext) -> Option<String> {
    let parts = use_context::<http::request::Parts>()?;
    cookie_value(&parts.headers, &cookie_name(APPROVAL_GRANT_COOKIE, ctx.secure_cookies))
}

/// Clears the approval-grant cookie (it is single use).
#[cfg(feature = "ssr")]
fn clear_grant_cookie(ctx: &super::context::AppContext) {
    let line = set_cookie_line(APPROVAL_GRANT_COOKIE, "", APPROVAL_GRANT_PATH, 0, ctx.secure_cookies);
    if let (Some(response), Ok(value)) =
        (use_context::<leptos_axum::ResponseOptions>(), http::HeaderValue::from_str(&line))
    {
        response.append_header(http::header::SET_COOKIE, value);
    }
}
