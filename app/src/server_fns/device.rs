//! The `/device` page's data and the approve/deny server functions.

use super::refusals::RefusalView;
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
        csrf_token: String,
    },
    /// The code is valid but nobody is signed in.
    SignInRequired {
        signin_url: String,
        /// The form token and the return path for "Sign in with a
        /// passkey", when passkeys are on.
        passkey: Option<(String, String)>,
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
        /// For an app that requires it: the code to type on the device.
        confirmation_code: Option<String>,
    },
    /// Unknown, expired, denied by someone else or used: one generic answer.
    Invalid {
        viewer: Option<Viewer>,
        csrf_token: String,
    },
    /// The app's approval policy turns this person away: why, and (the
    /// request staying pending) a Deny for them if they did not start it.
    Refused {
        viewer: Option<Viewer>,
        refusal: RefusalView,
        /// The code and the form token, when the person may still deny.
        deny: Option<(String, String)>,
    },
    /// A second person took this code up after a first, so the request
    /// ended; shown to either of the two.
    Shared {
        viewer: Viewer,
        client_name: String,
        you_were_first: bool,
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
        return Ok(DevicePageData::EnterCode { viewer: None, notice: None, csrf_token: String::new() });
    }
    let notice = error.as_deref().and_then(AppErrorCode::parse);
    let principal = signed_in(&ctx, &session).await?;
    let viewer = principal.as_ref().map(Viewer::from);
    let Some(raw) = user_code.filter(|c| !c.trim().is_empty()) else {
        if let Some(outcome) = super::sso::take_outcome(&session).await? {
            let viewer = Viewer { name: outcome.email.clone(), email: outcome.email };
            let (approved, client_name, user_code) = (outcome.approved, outcome.client_name, outcome.user_code);
            let confirmation_code = outcome.confirmation_code;
            return Ok(DevicePageData::Decided { approved, client_name, user_code, viewer, confirmation_code });
        }
        let csrf_token = session_csrf_token(&ctx, &session).await?;
        return Ok(DevicePageData::EnterCode { viewer, notice, csrf_token });
    };
    use gatehouse_core::services::device_flow::ApprovalView;
    let visitor = visitor(&session).await?;
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
        ApprovalView::Invalid => {
            return Ok(DevicePageData::Invalid { viewer, csrf_token: session_csrf_token(&ctx, &session).await? });
        }
        ApprovalView::Refused(refused) => {
            let refusal = super::refusals::RefusalView::of(&refused);
            // Too old is past deciding; otherwise the person may still deny.
            let deny = match (&viewer, refusal.code) {
                (Some(_), code) if code != AppErrorCode::CodeTooOld => Some((
                    gatehouse_core::UserCode::normalize(&raw).map(|c| c.display()).unwrap_or_default(),
                    session_csrf_token(&ctx, &session).await?,
                )),
                _ => None,
            };
            super::answer::set_status(refusal.code.status());
            return Ok(DevicePageData::Refused { viewer, refusal, deny });
        }
        ApprovalView::Shared { you_were_first, client_name } => {
            let Some(viewer) = viewer else {
                return Ok(DevicePageData::Invalid {
                    viewer: None,
                    csrf_token: session_csrf_token(&ctx, &session).await?,
                });
            };
            return Ok(DevicePageData::Shared { viewer, client_name, you_were_first });
        }
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
            let passkey = match ctx.services.passkeys.off_because() {
                Some(_) => None,
                None => Some((session_csrf_token(&ctx, &session).await?, format!("/device?user_code={shown}"))),
            };
            return Ok(DevicePageData::SignInRequired { signin_url, passkey });
        }
        ApprovalView::Decided { approved, flow, confirmation_code } => {
            let Some(viewer) = viewer else {
                return Ok(DevicePageData::Invalid {
                    viewer: None,
                    csrf_token: session_csrf_token(&ctx, &session).await?,
                });
            };
            let (client_name, user_code) = (flow.client_name.clone(), flow.user_code.display());
            return Ok(DevicePageData::Decided { approved, client_name, user_code, viewer, confirmation_code });
        }
        ApprovalView::Authorize(request) => request,
    };
    let Some(viewer) = viewer else {
        return Ok(DevicePageData::Invalid { viewer: None, csrf_token: session_csrf_token(&ctx, &session).await? });
    };
    Ok(DevicePageData::Authorize(Box::new(AuthorizeView {
        viewer,
        csrf_token: session_csrf_token(&ctx, &session).await?,
        request: RequestView::of(&request, &request.flow.scopes, &ctx.services.scopes.catalog().await?),
        expires_in_minutes: (request.expires_in.num_seconds() + 59) / 60,
        notice,
    })))
}

/// The code-entry form: a person typed a code (rather than following a
/// link). Signed in, they take the code up (one person per code: a second
/// person ends its request); either way the browser goes on to the request,
/// or back to the form when the code names none. Counted against the
/// code-entry limits once, here: a miss goes to a page that looks nothing up.
#[server(prefix = "/console/api", endpoint = "device/enter-code")]
pub async fn enter_code(user_code: String, #[server(default)] csrf_token: Option<String>) -> Result<(), AppError> {
    use super::context::*;
    use gatehouse_core::services::device_flow::ApprovalView;
    let ctx = app_context()?;
    let session = session()?;
    let back = crate::navigation::DEVICE_PATH;
    let mut principal = signed_in(&ctx, &session).await?;
    if principal.is_some() && verify_csrf(&session, csrf_token.as_deref().unwrap_or_default()).await.is_err() {
        // A cross-site post takes nothing up: it is looked up like a link.
        principal = None;
    }
    let visitor = visitor_with_browser_id(&ctx, &session).await?;
    let entered = ctx.services.device_flows.enter_code(&user_code, principal.as_ref(), &visitor).await;
    let to = match entered {
        Ok(ApprovalView::Invalid) => format!("{back}?error={}", AppErrorCode::ExpiredOrUnknown.as_str()),
        Ok(_) => {
            let shown = gatehouse_core::UserCode::normalize(&user_code).map(|c| c.display()).unwrap_or_default();
            format!("{back}?user_code={}", crate::navigation::encode_query_value(&shown))
        }
        Err(err) => return Err(fail(err.into(), back)),
    };
    succeed_to(&to);
    Ok(())
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
    let visitor = visitor_with_browser_id(&guarded.ctx, &guarded.session).await?;
    let decided = guarded.ctx.services.device_flows.decide_as_account(&user_code, account, kind, &visitor).await;
    decided.map_err(|err| fail(err.into(), &back))?;
    succeed_to(&back);
    let status = if kind == DecisionKind::Approve { "approved" } else { "denied" };
    Ok(DecisionOutcome { status: status.to_owned() })
}
