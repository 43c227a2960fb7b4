//! Passkeys. The ceremonies are two calls each, made by the page's script
//! (`public/passkeys.js`, since WebAuthn needs JavaScript): a start, which
//! answers the options for `navigator.credentials` and a ceremony id, and a
//! finish with the browser's answer (as JSON text in a form field, beside
//! the CSRF token). `/settings/security` lists a person's passkeys, with
//! plain forms (no script needed) to rename or remove one and to turn the
//! password off or on.

use super::views::Redirect;
use crate::error::{AppError, AppErrorCode};
#[cfg(feature = "ssr")]
use crate::navigation::SECURITY_PATH;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// A started ceremony, for the page's script.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ceremony {
    pub ceremony_id: String,
    /// The options for `navigator.credentials.create` or `.get`, as JSON
    /// (binary values in base64url).
    pub options: String,
}

/// One passkey as `/settings/security` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasskeyRow {
    pub id: String,
    pub name: String,
    pub added: String,
    pub last_used: Option<String>,
    /// The authenticator said it is backed up (synced to other devices).
    pub synced: bool,
}

/// The data of `/settings/security`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityPage {
    pub csrf_token: String,
    pub email: String,
    /// The person signs in through the SSO provider (its name): passkeys
    /// are theirs to set up there.
    pub managed_elsewhere: Option<String>,
    pub passkeys: Vec<PasskeyRow>,
    /// The password is off.
    pub passwordless: bool,
    /// Why passkeys are off on this server, if they are.
    pub off_because: Option<String>,
    /// This session signed in (or stepped up) with a passkey.
    pub signed_in_with_passkey: bool,
    pub notice: Option<AppErrorCode>,
    /// What a form just did (`?done=`): `added`, `renamed`, `removed`,
    /// `password_off`, `password_on`.
    pub done: Option<String>,
}

#[cfg(feature = "ssr")]
fn ceremony(started: gatehouse_core::services::passkeys::Started) -> Ceremony {
    Ceremony { ceremony_id: started.ceremony_id, options: started.options.to_string() }
}

/// The browser's answer, as the script sent it; unreadable JSON is a
/// failed ceremony, said plainly.
#[cfg(feature = "ssr")]
fn answer_of(answer: &str) -> Result<serde_json::Value, AppError> {
    serde_json::from_str(answer).map_err(|_| AppError::new(AppErrorCode::PasskeyFailed).answered(None))
}

/// The signed-in local account, or the refusal for an SSO person (whose
/// sign-in, passkeys included, is the provider's).
#[cfg(feature = "ssr")]
fn own_account(guarded: &super::context::Guarded) -> Result<&gatehouse_core::model::Account, AppError> {
    guarded
        .principal
        .account()
        .ok_or_else(|| super::context::fail(AppError::new(AppErrorCode::PasswordElsewhere), SECURITY_PATH))
}

/// The passkey id a settings form names (one that does not parse names
/// none of the person's passkeys).
#[cfg(feature = "ssr")]
fn passkey_id(id: &str) -> Result<uuid::Uuid, AppError> {
    uuid::Uuid::parse_str(id.trim())
        .map_err(|_| super::context::fail(AppError::new(AppErrorCode::NotFound), SECURITY_PATH))
}

/// A settings form's outcome: a refusal goes back to the page with its
/// notice, a success to the page saying what it did (`?done=`).
#[cfg(feature = "ssr")]
fn settings_answer(
    done: &str,
    result: Result<(), gatehouse_core::services::passkeys::PasskeyError>,
) -> Result<(), AppError> {
    result.map_err(|e| super::context::fail(e.into(), SECURITY_PATH))?;
    super::context::succeed_to(&format!("{SECURITY_PATH}?done={done}"));
    Ok(())
}

/// Loads `/settings/security`.
#[server(prefix = "/console/api", endpoint = "settings/security/page")]
pub async fn load_security_page(error: Option<String>, done: Option<String>) -> Result<SecurityPage, AppError> {
    use super::context::*;
    let guarded = guard(Need::SignedIn, SECURITY_PATH).await?;
    let services = &guarded.ctx.services;
    let (passkeys, passwordless, managed_elsewhere) = match &guarded.principal {
        gatehouse_core::Principal::Account(account) => {
            let rows = services.passkeys.list(account).await?.into_iter().map(|p| PasskeyRow {
                id: p.id.to_string(),
                name: p.name,
                added: super::views::moment(p.created_at),
                last_used: p.last_used_at.map(super::views::moment),
                synced: p.backed_up,
            });
            (rows.collect(), account.passwordless, None)
        }
        gatehouse_core::Principal::Sso(_) => {
            (Vec::new(), false, services.sso.as_ref().map(|sso| sso.settings().display_name.clone()))
        }
    };
    Ok(SecurityPage {
        csrf_token: session_csrf_token(&guarded.ctx, &guarded.session).await?,
        email: guarded.principal.email().to_owned(),
        managed_elsewhere,
        passkeys,
        passwordless,
        off_because: services.passkeys.off_because(),
        signed_in_with_passkey: visitor(&guarded.session).await?.passkey,
        notice: error.as_deref().and_then(AppErrorCode::parse),
        done: done.filter(|d| ["added", "renamed", "removed", "password_off", "password_on"].contains(&d.as_str())),
    })
}

/// Starts adding a passkey to the signed-in account.
#[server(prefix = "/console/api", endpoint = "passkeys/register/start")]
pub async fn start_passkey_registration(csrf_token: String) -> Result<Ceremony, AppError> {
    use super::context::*;
    let guarded = guard_action(Need::SignedIn, &csrf_token, SECURITY_PATH).await?;
    let visitor = visitor(&guarded.session).await?;
    let started = guarded.ctx.services.passkeys.start_registration(own_account(&guarded)?, &visitor).await?;
    Ok(ceremony(started))
}

/// Finishes adding a passkey, named by the person.
#[server(prefix = "/console/api", endpoint = "passkeys/register/finish")]
pub async fn finish_passkey_registration(
    csrf_token: String,
    ceremony_id: String,
    name: String,
    answer: String,
) -> Result<Redirect, AppError> {
    use super::context::*;
    let guarded = guard_action(Need::SignedIn, &csrf_token, SECURITY_PATH).await?;
    let visitor = visitor(&guarded.session).await?;
    let answer = answer_of(&answer)?;
    let account = own_account(&guarded)?;
    guarded.ctx.services.passkeys.finish_registration(account, &ceremony_id, &name, &answer, &visitor).await?;
    Ok(Redirect { redirect_to: format!("{SECURITY_PATH}?done=added") })
}

/// Starts a sign-in with a passkey (anyone; the passkey says who).
#[server(prefix = "/console/api", endpoint = "passkeys/signin/start")]
pub async fn start_passkey_sign_in(csrf_token: String) -> Result<Ceremony, AppError> {
    use super::context::*;
    let (ctx, session) = guard_anonymous_action(&csrf_token, crate::navigation::SIGNIN_PATH).await?;
    let visitor = visitor(&session).await?;
    Ok(ceremony(ctx.services.passkeys.start_sign_in(&visitor).await?))
}

/// Finishes a passkey sign-in: a new session as the passkey's account,
/// going on to a same-origin `next`.
#[server(prefix = "/console/api", endpoint = "passkeys/signin/finish")]
pub async fn finish_passkey_sign_in(
    csrf_token: String,
    ceremony_id: String,
    answer: String,
    next: Option<String>,
) -> Result<Redirect, AppError> {
    use super::context::*;
    let next = crate::navigation::safe_next(next.as_deref());
    let (ctx, session) = guard_anonymous_action(&csrf_token, crate::navigation::SIGNIN_PATH).await?;
    let visitor = visitor(&session).await?;
    let answer = answer_of(&answer)?;
    let signed_in = ctx.services.passkeys.finish_sign_in(&ceremony_id, &answer, &visitor).await?;
    sign_in_session(&ctx, &session, &signed_in).await?;
    Ok(Redirect { redirect_to: next })
}

/// Starts a signed-in person's step-up with one of their passkeys.
#[server(prefix = "/console/api", endpoint = "passkeys/step-up/start")]
pub async fn start_passkey_step_up(csrf_token: String) -> Result<Ceremony, AppError> {
    use super::context::*;
    let guarded = guard_action(Need::SignedIn, &csrf_token, SECURITY_PATH).await?;
    let visitor = visitor(&guarded.session).await?;
    let account = own_account(&guarded)?;
    Ok(ceremony(guarded.ctx.services.passkeys.start_step_up(account, &visitor).await?))
}

/// Finishes a step-up: this session now counts as signed in with a passkey.
#[server(prefix = "/console/api", endpoint = "passkeys/step-up/finish")]
pub async fn finish_passkey_step_up(
    csrf_token: String,
    ceremony_id: String,
    answer: String,
    next: Option<String>,
) -> Result<Redirect, AppError> {
    use super::context::*;
    let next = crate::navigation::safe_next(next.as_deref());
    let guarded = guard_action(Need::SignedIn, &csrf_token, SECURITY_PATH).await?;
    let visitor = visitor(&guarded.session).await?;
    let answer = answer_of(&answer)?;
    let account = own_account(&guarded)?;
    guarded.ctx.services.passkeys.finish_step_up(account, &ceremony_id, &answer, &visitor).await?;
    stepped_up_session(&guarded.ctx, &guarded.session).await?;
    Ok(Redirect { redirect_to: next })
}

/// Renames one of the signed-in account's passkeys (a plain form).
#[server(prefix = "/console/api", endpoint = "passkeys/rename")]
pub async fn rename_passkey(csrf_token: String, id: String, name: String) -> Result<(), AppError> {
    use super::context::*;
    let guarded = guard_action(Need::SignedIn, &csrf_token, SECURITY_PATH).await?;
    let account = own_account(&guarded)?;
    settings_answer("renamed", guarded.ctx.services.passkeys.rename(account, passkey_id(&id)?, &name).await)
}

/// Removes one of the signed-in account's passkeys (a plain form).
#[server(prefix = "/console/api", endpoint = "passkeys/remove")]
pub async fn remove_passkey(csrf_token: String, id: String) -> Result<(), AppError> {
    use super::context::*;
    let guarded = guard_action(Need::SignedIn, &csrf_token, SECURITY_PATH).await?;
    let visitor = visitor(&guarded.session).await?;
    let account = own_account(&guarded)?;
    settings_answer("removed", guarded.ctx.services.passkeys.remove(account, passkey_id(&id)?, &visitor).await)
}

/// Turns the signed-in account's password off (`passwordless=on`, which
/// needs a passkey) or back on (a plain form).
#[server(prefix = "/console/api", endpoint = "passkeys/password")]
pub async fn set_passwordless(csrf_token: String, passwordless: String) -> Result<(), AppError> {
    use super::context::*;
    let guarded = guard_action(Need::SignedIn, &csrf_token, SECURITY_PATH).await?;
    let visitor = visitor(&guarded.session).await?;
    let account = own_account(&guarded)?;
    let off = match passwordless.as_str() {
        "on" => true,
        "off" => false,
        _ => return Err(fail(AppError::new(AppErrorCode::InvalidRequest), SECURITY_PATH)),
    };
    let done = if off { "password_off" } else { "password_on" };
    settings_answer(done, guarded.ctx.services.passkeys.set_passwordless(account, off, &visitor).await)
}
