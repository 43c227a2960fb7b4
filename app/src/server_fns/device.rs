//! The `/device` page's data and the approve/deny server functions.

use super::session::Viewer;
use crate::error::{AppError, AppErrorCode};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// One requested scope, in plain words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeView {
    pub name: String,
    pub description: String,
}

impl ScopeView {
    /// The scope with its plain words.
    #[cfg(feature = "ssr")]
    pub fn of(scope: &str) -> Self {
        Self { name: scope.to_owned(), description: gatehouse_core::scope::describe(scope).to_owned() }
    }
}

/// Everything the authorize view shows about a pending request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizeView {
    pub viewer: Viewer,
    pub csrf_token: String,
    /// `XXXX-XXXX`, to compare with the terminal.
    pub user_code: String,
    pub client_name: String,
    pub client_id: String,
    /// As reported by the device; never verified.
    pub device_label: Option<String>,
    pub requester_ip: Option<String>,
    /// The request came from another address than this browser's.
    pub requested_from_elsewhere: bool,
    pub requester_user_agent: Option<String>,
    /// "3 minutes ago".
    pub requested_ago: String,
    pub expires_in_minutes: i64,
    pub scopes: Vec<ScopeView>,
    /// Creation date of the token approving would replace.
    pub replaces_created_on: Option<String>,
    pub notice: Option<AppErrorCode>,
}

/// The state of the `/device` page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DevicePageData {
    /// Ask for a code.
    EnterCode {
        viewer: Option<Viewer>,
        notice: Option<AppErrorCode>,
    },
    /// The code is valid but nobody is signed in.
    SignInRequired {
        signin_url: String,
    },
    /// The code is valid, nobody is signed in, and SSO is on: account or SSO?
    Choose {
        user_code: String,
        client_name: String,
        signin_url: String,
        sso_url: String,
        sso_name: String,
    },
    Authorize(Box<AuthorizeView>),
    /// The signed-in person already decided this request.
    Decided {
        approved: bool,
        client_name: String,
        user_code: String,
        viewer: Viewer,
    },
    /// Unknown, expired, denied by someone else or used: one generic answer.
    Invalid {
        viewer: Option<Viewer>,
    },
    /// Too many codes that named nothing from this network or browser: no
    /// code is looked at until the wait is over (status 429).
    TooManyAttempts {
        viewer: Option<Viewer>,
        /// "in about 6 minutes".
        wait: String,
    },
}

/// What approve and deny answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionOutcome {
    /// `approved` or `denied`.
    pub status: String,
}

/// Loads the `/device` page for an optional code. Reading never changes a flow.
#[server(prefix = "/console/api", endpoint = "device/page")]
pub async fn load_device_page(
    user_code: Option<String>,
    error: Option<String>,
    sso_verified: Option<String>,
) -> Result<DevicePageData, AppError> {
    use super::context::*;
    let ctx = app_context()?;
    let session = session()?;
    if sso_verified.is_some() && ctx.services.sso.is_some() {
        // The approval-grant cookie is sent only under its own path, so the
        // authorize-sso view lives there.
        redirect_page(super::sso::AUTHORIZE_SSO_PAGE);
        return Ok(DevicePageData::EnterCode { viewer: None, notice: None });
    }
    let notice = error.as_deref().and_then(AppErrorCode::parse);
    let principal = signed_in(&ctx, &session).await?;
    let viewer = principal.as_ref().map(Viewer::from);
    let Some(raw) = user_code.filter(|c| !c.trim().is_empty()) else {
        if let Some(outcome) = super::sso::take_outcome(&session).await? {
            let viewer = Viewer { name: outcome.email.clone(), email: outcome.email };
            let (approved, client_name, user_code) = (outcome.approved, outcome.client_name, outcome.user_code);
            return Ok(DevicePageData::Decided { approved, client_name, user_code, viewer });
        }
        return Ok(DevicePageData::EnterCode { viewer, notice });
    };
    use gatehouse_core::services::device_flow::ApprovalView;
    let visitor = visitor(&session);
    let view = match ctx.services.device_flows.approval_view(&raw, principal.as_ref(), &visitor).await {
        Ok(view) => view,
        Err(err) => {
            let err = AppError::from(err);
            let Some(wait_ms) = err.retry_after_ms else {
                return Err(err);
            };
            let wait = crate::error::wait_in_words(wait_ms.div_ceil(1000));
            return Ok(DevicePageData::TooManyAttempts { viewer, wait });
        }
    };
    let request = match view {
        ApprovalView::Invalid => return Ok(DevicePageData::Invalid { viewer }),
        ApprovalView::SignInRequired { user_code, client_name } => {
            let shown = user_code.display();
            let signin_url = crate::navigation::signin_url(&format!("/device?user_code={shown}"));
            if let Some(sso) = &ctx.services.sso {
                return Ok(DevicePageData::Choose {
                    sso_url: format!("/v1/oauth/device/sso-initiate?user_code={shown}"),
                    sso_name: sso.settings().display_name.clone(),
                    user_code: shown,
                    client_name,
                    signin_url,
                });
            }
            leptos_axum::redirect(&signin_url);
            return Ok(DevicePageData::SignInRequired { signin_url });
        }
        ApprovalView::Decided { approved, flow } => {
            let Some(viewer) = viewer else {
                return Ok(DevicePageData::Invalid { viewer: None });
            };
            let (client_name, user_code) = (flow.client_name.clone(), flow.user_code.display());
            return Ok(DevicePageData::Decided { approved, client_name, user_code, viewer });
        }
        ApprovalView::Authorize(request) => request,
    };
    let Some(viewer) = viewer else {
        return Ok(DevicePageData::Invalid { viewer: None });
    };
    let (flow, replaces) = (request.flow, request.replaces);
    Ok(DevicePageData::Authorize(Box::new(AuthorizeView {
        viewer,
        csrf_token: session_csrf_token(&ctx, &session).await?,
        user_code: flow.user_code.display(),
        client_name: flow.client_name,
        client_id: flow.client_id,
        device_label: flow.device_label,
        requested_from_elsewhere: from_elsewhere(flow.requester_ip.as_deref()),
        requester_ip: flow.requester_ip,
        requester_user_agent: flow.requester_user_agent,
        requested_ago: ago(request.requested_ago),
        expires_in_minutes: (request.expires_in.num_seconds() + 59) / 60,
        scopes: flow.scopes.iter().map(|s| ScopeView::of(s)).collect(),
        replaces_created_on: replaces.map(|t| t.created_at.format("%-d %B %Y").to_string()),
        notice,
    })))
}

/// Whether the device asked from another address than the one this browser
/// is approving from (both known): a phishing signal the page points out.
#[cfg(feature = "ssr")]
pub(crate) fn from_elsewhere(requester_ip: Option<&str>) -> bool {
    let approver_ip = super::context::client_ip();
    requester_ip.is_some() && approver_ip.is_some() && requester_ip != approver_ip.as_deref()
}

/// "3 minutes ago", for how long ago a device asked.
#[cfg(feature = "ssr")]
pub(crate) fn ago(elapsed: chrono::Duration) -> String {
    let secs = elapsed.num_seconds().max(0);
    match secs {
        0..=59 => "less than a minute ago".to_owned(),
        60..=119 => "1 minute ago".to_owned(),
        120..=3599 => format!("{} minutes ago", secs / 60),
        _ => format!("{} hours ago", secs / 3600),
    }
}

/// Approves the request with `user_code` for the signed-in account.
#[server(prefix = "/console/api", endpoint = "oauth/device/approve")]
pub async fn approve_device(user_code: String, csrf_token: String) -> Result<DecisionOutcome, AppError> {
    decide(user_code, csrf_token, gatehouse_core::services::device_flow::DecisionKind::Approve).await
}

/// Denies the request with `user_code` for the signed-in account.
#[server(prefix = "/console/api", endpoint = "oauth/device/deny")]
pub async fn deny_device(user_code: String, csrf_token: String) -> Result<DecisionOutcome, AppError> {
    decide(user_code, csrf_token, gatehouse_core::services::device_flow::DecisionKind::Deny).await
}

#[cfg(feature = "ssr")]
async fn decide(
    user_code: String,
    csrf_token: String,
    kind: gatehouse_core::services::device_flow::DecisionKind,
) -> Result<DecisionOutcome, AppError> {
    use super::context::*;
    use gatehouse_core::services::device_flow::{DecideError, DecisionKind};
    let shown = gatehouse_core::UserCode::normalize(&user_code).map(|c| c.display()).unwrap_or_default();
    let back = format!("/device?user_code={}", crate::navigation::encode_query_value(&shown));
    let ctx = app_context()?;
    let session = session()?;
    let principal = signed_in(&ctx, &session).await.map_err(|e| fail(e, &back))?;
    let Some(account) = principal.as_ref().and_then(|p| p.account()) else {
        return Err(fail(AppError::new(AppErrorCode::NoSession), &crate::navigation::signin_url(&back)));
    };
    verify_csrf(&session, &csrf_token).await.map_err(|e| fail(e, &back))?;
    match ctx.services.device_flows.decide_as_account(&user_code, account, kind, &visitor(&session)).await {
        Ok(_) => {
            succeed_to(&back);
            let status = if kind == DecisionKind::Approve { "approved" } else { "denied" };
            Ok(DecisionOutcome { status: status.to_owned() })
        }
        Err(err) => {
            let code = match err {
                DecideError::ExpiredOrUnknown => AppError::new(AppErrorCode::ExpiredOrUnknown),
                DecideError::AlreadyResolved => AppError::new(AppErrorCode::AlreadyResolved),
                DecideError::BearerAuthDisabled => AppError::new(AppErrorCode::BearerAuthDisabled),
                DecideError::RateLimited(limited) => rate_limited(limited),
                DecideError::Unavailable(e) => unavailable(e),
            };
            Err(fail(code, &back))
        }
    }
}
