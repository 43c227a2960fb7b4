//! Sign-in and sign-out.

use crate::error::{AppError, AppErrorCode};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::views::{Redirect, Viewer};

/// What the sign-in page needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInPageData {
    pub csrf_token: String,
    /// Where to go after signing in (already checked same-origin).
    pub next: String,
    pub viewer: Option<Viewer>,
    pub notice: Option<AppErrorCode>,
    /// The SSO provider's button text, when people may sign in through it.
    pub sso_name: Option<String>,
    /// A password flow that just ended well (`?done=`).
    pub done: Option<super::views::PasswordDone>,
    /// Whether "Forgot your password?" can send a link.
    pub reset_available: bool,
    /// Passkeys are offered (the public URL allows them).
    pub passkeys: bool,
}

/// Loads the sign-in page, creating the session's CSRF token.
#[server(prefix = "/console/api", endpoint = "signin/page")]
pub async fn load_signin_page(
    next: Option<String>,
    error: Option<String>,
    done: Option<String>,
) -> Result<SignInPageData, AppError> {
    use super::context::*;
    let ctx = app_context()?;
    let session = session()?;
    let viewer = signed_in(&ctx, &session).await?.as_ref().map(Viewer::from);
    Ok(SignInPageData {
        csrf_token: session_csrf_token(&ctx, &session).await?,
        next: crate::navigation::safe_next(next.as_deref()),
        viewer,
        notice: error.as_deref().and_then(AppErrorCode::parse),
        sso_name: ctx.services.sso.as_ref().map(|sso| sso.settings().display_name.clone()),
        done: done.as_deref().and_then(super::views::PasswordDone::parse),
        reset_available: ctx.services.accounts.password_reset_available(),
        passkeys: ctx.services.passkeys.off_because().is_none(),
    })
}

/// Signs in with email and password; a new session id is issued on success.
#[server(prefix = "/console/api", endpoint = "signin")]
pub async fn sign_in(
    email: String,
    password: String,
    csrf_token: String,
    next: Option<String>,
) -> Result<Redirect, AppError> {
    use super::context::*;
    use gatehouse_core::services::accounts::SignInError;
    let next = crate::navigation::safe_next(next.as_deref());
    let back = crate::navigation::signin_url(&next);
    let (ctx, session) = guard_anonymous_action(&csrf_token, &back).await?;
    let password = gatehouse_core::SecretString::new(password);
    let signed_in = match ctx.services.accounts.sign_in(&email, &password, client_ip()).await {
        Ok(signed_in) => signed_in,
        Err(SignInError::InvalidCredentials) => {
            return Err(fail(AppError::new(AppErrorCode::InvalidCredentials), &back));
        }
        Err(SignInError::RateLimited(limited)) => return Err(fail(rate_limited(limited), &back)),
        Err(SignInError::Busy) => return Err(fail(busy(), &back)),
        Err(SignInError::Unavailable(err)) => return Err(fail(AppError::from(err), &back)),
    };
    sign_in_session(&ctx, &session, &signed_in).await.map_err(|e| fail(e, &back))?;
    succeed_to(&next);
    Ok(Redirect { redirect_to: next })
}

/// Signs out (POST only, CSRF-checked so other sites cannot sign you out).
#[server(prefix = "/console/api", endpoint = "signout")]
pub async fn sign_out(csrf_token: String) -> Result<Redirect, AppError> {
    use super::context::*;
    let signin = crate::navigation::SIGNIN_PATH;
    let (_, session) = guard_anonymous_action(&csrf_token, signin).await?;
    sign_out_session(&session).await?;
    succeed_to(signin);
    Ok(Redirect { redirect_to: signin.to_owned() })
}
