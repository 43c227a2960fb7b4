//! The SSO branch's server functions (SPEC §3): `approval-context` reads the
//! approval-grant cookie, `approve-external` and `deny-external` spend it.
//! The cookie's path keeps it to `/v1/oauth/device`, so these functions and
//! the authorize-sso page live under that path too.

use super::views::RequestView;
use crate::error::AppError;
#[cfg(feature = "ssr")]
use crate::error::AppErrorCode;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

pub use crate::cookies::APPROVAL_GRANT_COOKIE;
#[cfg(feature = "ssr")]
use crate::cookies::{cookie_name, cookie_value, set_cookie_line};
pub use crate::navigation::{APPROVAL_GRANT_PATH, AUTHORIZE_SSO_PAGE};

/// Everything the authorize-sso view shows, all read from the approval grant
/// and the flow it names, never from the URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalContextView {
    pub subject_email: String,
    pub subject_issuer: String,
    pub subject_name: Option<String>,
    #[serde(flatten)]
    pub request: RequestView,
    pub csrf_token: String,
    /// When the grant (and so this page's approve button) expires, RFC 3339.
    pub expires_at: String,
    /// The client's approval policy turns this person away: why (the page
    /// then offers only Deny).
    pub refusal: Option<super::refusals::RefusalView>,
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
    let visitor = visitor(&session()?).await?;
    let context = sso.approval_context(grant.as_deref(), session_binding().await?.as_deref(), &visitor).await?;
    Ok(ApprovalContextView {
        subject_email: context.subject.email,
        subject_issuer: context.subject.issuer,
        subject_name: context.subject.name,
        request: RequestView::of(&context.request, &context.scopes, &ctx.services.scopes.catalog().await?),
        csrf_token: context.csrf_token,
        expires_at: context.expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        refusal: context.refused.as_deref().map(super::refusals::RefusalView::of),
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
    /// For an app that requires it: the code to type on the device.
    #[serde(default)]
    pub confirmation_code: Option<String>,
}

#[cfg(feature = "ssr")]
use crate::session_keys::{GRANT_BINDING as GRANT_BINDING_KEY, SSO_OUTCOME as OUTCOME_KEY};

/// The session binding the browser's session holds, if any.
#[cfg(feature = "ssr")]
async fn session_binding() -> Result<Option<String>, AppError> {
    Ok(super::context::session()?.get::<String>(GRANT_BINDING_KEY).await?)
}

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
    let binding = session_binding().await.map_err(|err| fail(err, AUTHORIZE_SSO_PAGE))?;
    let visitor = visitor_with_browser_id(&ctx, &session()?).await?;
    let decided = sso.decide(grant.as_deref(), binding.as_deref(), &csrf_token, &user_code, kind, &visitor).await;
    let (flow, subject) = match decided {
        Ok(decided) => decided,
        Err(err) => {
            let err = AppError::from(err);
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
    let confirmation_code =
        (approved && flow.needs_confirmation()).then(|| ctx.services.device_flows.confirmation_code(&flow));
    let outcome = SsoOutcome {
        approved,
        client_name: flow.client_name,
        user_code: flow.user_code.display(),
        email: subject.email,
        confirmation_code,
    };
    session()?.insert(OUTCOME_KEY, outcome).await?;
    succeed_to("/device");
    Ok(ExternalDecision { status: if approved { "approved" } else { "denied" }.to_owned() })
}

/// The SSO outcome left in the session, removed as it is read.
#[cfg(feature = "ssr")]
pub async fn take_outcome(session: &tower_sessions::Session) -> Result<Option<SsoOutcome>, AppError> {
    Ok(session.remove::<SsoOutcome>(OUTCOME_KEY).await?)
}

#[cfg(feature = "ssr")]
fn sso_branch(ctx: &super::context::AppContext) -> Result<gatehouse_core::services::sso::SsoService, AppError> {
    ctx.services.sso.clone().ok_or_else(|| AppError::new(AppErrorCode::NotFound).answered(None))
}

/// The grant's answers name a person and carry a CSRF token: never stored.
#[cfg(feature = "ssr")]
fn no_store() {
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.insert_header(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
        response.insert_header(http::header::PRAGMA, http::HeaderValue::from_static("no-cache"));
    }
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
