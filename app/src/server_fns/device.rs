//! The `/device` page's data and the approve/deny server functions.

use super::views::RequestView;
use super::views::Viewer;
use crate::error::{AppError, AppErrorCode};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// Everything the authorize view shows about a pending request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizeView {
    pub viewer: Viewer,
    pub csrf_token: String,
    #[serde(flatten)]
    pub request: RequestView,
    pub expires_in_minutes: i64,
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
        redirect_page(crate::navigation::AUTHORIZE_SSO_PAGE);
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
    Ok(DevicePageData::Authorize(Box::new(AuthorizeView {
        viewer,
        csrf_token: session_csrf_token(&ctx, &session).await?,
        request: RequestView::of(&request, &request.flow.scopes, &ctx.services.scopes.catalog().await?),
        expires_in_minutes: (request.expires_in.num_seconds() + 59) / 60,
        notice,
    })))
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
    use gatehouse_core::services::device_flow::DecisionKind;
    let shown = gatehouse_core::UserCode::normalize(&user_code).map(|c| c.display()).unwrap_or_default();
    let back =
        format!("{}?user_code={}", crate::navigation::DEVICE_PATH, crate::navigation::encode_query_value(&shown));
    // The console's guard: signed in (else to sign-in and back), CSRF checked.
    let guarded = guard_action(Need::SignedIn, &csrf_token, &back).await?;
    let Some(account) = guarded.principal.account() else {
        return Err(fail(AppError::new(AppErrorCode::NoSession), &crate::navigation::signin_url(&back)));
    };
    let visitor = visitor(&guarded.session);
    let decided = guarded.ctx.services.device_flows.decide_as_account(&user_code, account, kind, &visitor).await;
    decided.map_err(|err| fail(err.into(), &back))?;
    succeed_to(&back);
    let status = if kind == DecisionKind::Approve { "approved" } else { "denied" };
    Ok(DecisionOutcome { status: status.to_owned() })
}
