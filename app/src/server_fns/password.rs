//! A local account's password: `/settings/password` (change it, signed in,
//! with the current one), `/signin/forgot` (ask for a reset link by email)
//! and `/signin/reset?token=` (choose a new one through the link). Each
//! ends signed out with a message on `/signin`, since changing a password
//! signs out every browser session of the account.

use super::views::{PasswordDone, Redirect};
use crate::error::{AppError, AppErrorCode};
#[cfg(feature = "ssr")]
use crate::navigation::{FORGOT_PASSWORD_PATH, PASSWORD_PATH, RESET_PASSWORD_PATH};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// Where a finished password flow sends the browser.
pub fn signin_after(done: PasswordDone) -> String {
    crate::navigation::with_query(crate::navigation::SIGNIN_PATH, &[("done", done.as_str())])
}

/// The data of `/settings/password`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordPage {
    pub csrf_token: String,
    pub email: String,
    /// The person signs in through the SSO provider: no password here.
    pub managed_elsewhere: Option<String>,
    pub notice: Option<AppErrorCode>,
}

/// The data of `/signin/forgot`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForgotPage {
    pub csrf_token: String,
    /// Whether reset links can be sent (a mail server is configured).
    pub available: bool,
    /// A link was asked for (the answer says nothing about the address).
    pub sent: bool,
    /// How long a link works, in minutes.
    pub link_minutes: i64,
    pub notice: Option<AppErrorCode>,
}

/// The data of `/signin/reset`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResetPage {
    pub csrf_token: String,
    /// The link's token, when it works now.
    pub token: Option<String>,
    pub notice: Option<AppErrorCode>,
}

/// Loads `/settings/password`.
#[server(prefix = "/console/api", endpoint = "settings/password/page")]
pub async fn load_password_page(error: Option<String>) -> Result<PasswordPage, AppError> {
    use super::context::*;
    let guarded = guard(Need::SignedIn, PASSWORD_PATH).await?;
    let managed_elsewhere = match &guarded.principal {
        gatehouse_core::Principal::Account(_) => None,
        gatehouse_core::Principal::Sso(_) => {
            guarded.ctx.services.sso.as_ref().map(|sso| sso.settings().display_name.clone())
        }
    };
    Ok(PasswordPage {
        csrf_token: session_csrf_token(&guarded.ctx, &guarded.session).await?,
        email: guarded.principal.email().to_owned(),
        managed_elsewhere,
        notice: error.as_deref().and_then(AppErrorCode::parse),
    })
}

/// Changes the signed-in account's password and signs this browser out
/// (every other one already is). `sign_out_devices` is the form's checkbox,
/// sent only when ticked (as it is by default).
#[server(prefix = "/console/api", endpoint = "settings/password")]
pub async fn change_password(
    current_password: String,
    new_password: String,
    confirm_password: String,
    #[server(default)] sign_out_devices: Option<String>,
    csrf_token: String,
) -> Result<Redirect, AppError> {
    use super::context::*;
    let guarded = guard_action(Need::SignedIn, &csrf_token, PASSWORD_PATH).await?;
    let gatehouse_core::Principal::Account(account) = &guarded.principal else {
        return Err(fail(AppError::new(AppErrorCode::PasswordElsewhere), PASSWORD_PATH));
    };
    if new_password != confirm_password {
        return Err(fail(AppError::new(AppErrorCode::PasswordMismatch), PASSWORD_PATH));
    }
    guarded
        .ctx
        .services
        .accounts
        .change_password(
            account,
            &gatehouse_core::SecretString::new(current_password),
            &gatehouse_core::SecretString::new(new_password),
            sign_out_devices.is_some(),
            client_ip(),
        )
        .await
        .map_err(|e| fail(AppError::from(e), PASSWORD_PATH))?;
    sign_out_session(&guarded.session).await?;
    let next = signin_after(match sign_out_devices {
        Some(_) => PasswordDone::Changed,
        None => PasswordDone::ChangedKeptDevices,
    });
    succeed_to(&next);
    Ok(Redirect { redirect_to: next })
}

/// Loads `/signin/forgot`.
#[server(prefix = "/console/api", endpoint = "signin/forgot/page")]
pub async fn load_forgot_page(sent: Option<String>, error: Option<String>) -> Result<ForgotPage, AppError> {
    use super::context::*;
    let ctx = app_context()?;
    let session = session()?;
    Ok(ForgotPage {
        csrf_token: session_csrf_token(&ctx, &session).await?,
        available: ctx.services.accounts.password_reset_available(),
        sent: sent.is_some(),
        link_minutes: gatehouse_core::services::accounts::PASSWORD_RESET_MINUTES,
        notice: error.as_deref().and_then(AppErrorCode::parse),
    })
}

/// Emails a reset link to the address, if it is an account's. The answer
/// is the same either way.
#[server(prefix = "/console/api", endpoint = "signin/forgot")]
pub async fn request_password_reset(email: String, csrf_token: String) -> Result<Redirect, AppError> {
    use super::context::*;
    let (ctx, _) = guard_anonymous_action(&csrf_token, FORGOT_PASSWORD_PATH).await?;
    ctx.services
        .accounts
        .request_password_reset(&email, client_ip())
        .await
        .map_err(|e| fail(AppError::from(e), FORGOT_PASSWORD_PATH))?;
    let next = crate::navigation::with_query(FORGOT_PASSWORD_PATH, &[("sent", "1")]);
    succeed_to(&next);
    Ok(Redirect { redirect_to: next })
}

/// Loads `/signin/reset?token=`: the form when the link works, else why not.
#[server(prefix = "/console/api", endpoint = "signin/reset/page")]
pub async fn load_reset_page(token: Option<String>, error: Option<String>) -> Result<ResetPage, AppError> {
    use super::context::*;
    let ctx = app_context()?;
    let session = session()?;
    let token = match token.filter(|t| !t.is_empty() && t.len() <= 128) {
        Some(token) if ctx.services.accounts.reset_link_works(&token).await? => Some(token),
        _ => None,
    };
    let notice = match (&token, error.as_deref().and_then(AppErrorCode::parse)) {
        (None, _) => Some(AppErrorCode::InvalidResetLink),
        (Some(_), notice) => notice,
    };
    Ok(ResetPage { csrf_token: session_csrf_token(&ctx, &session).await?, token, notice })
}

/// Sets a new password through a reset link.
#[server(prefix = "/console/api", endpoint = "signin/reset")]
pub async fn reset_password(
    token: String,
    new_password: String,
    confirm_password: String,
    csrf_token: String,
) -> Result<Redirect, AppError> {
    use super::context::*;
    let back = crate::navigation::with_query(RESET_PASSWORD_PATH, &[("token", &token)]);
    let (ctx, session) = guard_anonymous_action(&csrf_token, &back).await?;
    if new_password != confirm_password {
        return Err(fail(AppError::new(AppErrorCode::PasswordMismatch), &back));
    }
    ctx.services
        .accounts
        .reset_password(&token, &gatehouse_core::SecretString::new(new_password), client_ip())
        .await
        .map_err(|e| fail(AppError::from(e), &back))?;
    // Whoever this browser was signed in as, it starts again from sign-in.
    sign_out_session(&session).await?;
    let next = signin_after(PasswordDone::Reset);
    succeed_to(&next);
    Ok(Redirect { redirect_to: next })
}
