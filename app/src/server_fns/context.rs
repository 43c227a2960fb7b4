//! What server functions read from the request: services, session, client IP.

pub use super::answer::{is_plain_form_post, redirect_page, set_status, succeed_to};
pub use super::core_errors::{busy, fail, rate_limited, unavailable};
use crate::error::{AppError, AppErrorCode};
use gatehouse_core::services::Services;
use gatehouse_core::{Admin, Principal};
use http::request::Parts;
use leptos::prelude::*;
use tower_sessions::Session;

/// Everything the binary provides to the pages through the Leptos context.
#[derive(Clone)]
pub struct AppContext {
    /// Shared with the REST edge's state; cloned per page request.
    pub services: std::sync::Arc<Services>,
    /// The public URL is https: cookies are `Secure` (and prefixed).
    pub secure_cookies: bool,
}

/// Where the page's own CSP (with its per-response nonce) is left for the
/// edge, a request extension. Leptos copies response headers only when the
/// first chunk of the page is ready, so the edge sets the header from here
/// if the page's arrived too late for that.
#[derive(Debug, Clone, Default)]
pub struct DocumentCsp(pub std::sync::Arc<std::sync::Mutex<Option<http::HeaderValue>>>);

/// The client's address as the edge determined it (trusting
/// `X-Forwarded-For` only from configured proxies); a request extension.
/// `proven`: the address is the client's own, not a trusted proxy's the
/// edge fell back to (no header, or one it could not read).
#[derive(Debug, Clone)]
pub struct ClientIp {
    pub ip: Option<String>,
    pub proven: bool,
}

use crate::session_keys::{
    ACCOUNT as ACCOUNT_KEY, CSRF as CSRF_KEY, PASSKEY_AT, SIGNED_IN_AT as SIGNED_IN_AT_KEY,
    SSO_SUBJECT as SSO_SUBJECT_KEY,
};
use gatehouse_core::services::passkeys::SignInMethod;

/// The services, provided by the binary for every render and server call.
pub fn app_context() -> Result<AppContext, AppError> {
    use_context::<AppContext>().ok_or_else(|| {
        tracing::error!("AppContext missing from the Leptos context");
        AppError::new(AppErrorCode::ServerError)
    })
}

fn parts() -> Result<Parts, AppError> {
    use_context::<Parts>().ok_or_else(|| AppError::new(AppErrorCode::ServerError))
}

/// The browser session (tower-sessions puts it in the request extensions).
pub fn session() -> Result<Session, AppError> {
    parts()?.extensions.get::<Session>().cloned().ok_or_else(|| {
        tracing::error!("session layer missing");
        AppError::new(AppErrorCode::ServerError)
    })
}

/// The client's IP address, if known.
pub fn client_ip() -> Option<String> {
    client_address().ip
}

/// The client's address and whether it is proven, as the edge left it.
pub fn client_address() -> ClientIp {
    use_context::<Parts>()
        .and_then(|p| p.extensions.get::<ClientIp>().cloned())
        .unwrap_or(ClientIp { ip: None, proven: false })
}

/// Where this browser request comes from, as the rate limits key it, and
/// the browser's own id as one person per code tells people apart by it.
pub async fn visitor(session: &Session) -> Result<gatehouse_core::rate_limit::Visitor, AppError> {
    visitor_of(client_address(), session).await
}

/// The visitor at `address` with this browser session (the edge's
/// handlers, which have the address from their own extractor, use this too).
pub async fn visitor_of(address: ClientIp, session: &Session) -> Result<gatehouse_core::rate_limit::Visitor, AppError> {
    Ok(gatehouse_core::rate_limit::Visitor {
        ip: address.ip,
        ip_proven: address.proven,
        session_id: session.id().map(|id| id.to_string()),
        browser: browser_id(session).await?,
        passkey: session.get::<i64>(crate::session_keys::PASSKEY_AT).await?.is_some(),
    })
}

/// The browser's id as the session holds it (hashed before it leaves), if
/// it has one yet; `browser_id_or_new` gives it one.
async fn browser_id(session: &Session) -> Result<Option<String>, AppError> {
    let id = session.get::<String>(crate::session_keys::BROWSER).await?;
    Ok(id.map(|id| gatehouse_core::secret::sha256_hex(&format!("browser:{id}"))))
}

/// The visitor, with a browser id set in the session first if it had none:
/// for the requests that make someone a code's holder.
pub async fn visitor_with_browser_id(
    ctx: &AppContext,
    session: &Session,
) -> Result<gatehouse_core::rate_limit::Visitor, AppError> {
    if session.get::<String>(crate::session_keys::BROWSER).await?.is_none() {
        session.insert(crate::session_keys::BROWSER, ctx.services.random_base62(32)).await?;
    }
    visitor(session).await
}

/// Who is signed in (an account that is still active, or a person of the
/// SSO provider configured now, with the rights of their last sign-in), if
/// anyone.
pub async fn signed_in(ctx: &AppContext, session: &Session) -> Result<Option<Principal>, AppError> {
    if let Some(subject) = session.get::<gatehouse_core::model::SubjectId>(SSO_SUBJECT_KEY).await? {
        let Some(sso) = &ctx.services.sso else {
            return Ok(None);
        };
        return Ok(sso.person(&subject).await?.map(Principal::Sso));
    }
    let Some(id) = session.get::<String>(ACCOUNT_KEY).await? else {
        return Ok(None);
    };
    let Ok(id) = uuid::Uuid::parse_str(&id) else {
        return Ok(None);
    };
    let Some(account) = ctx.services.accounts.find_active(id).await? else {
        return Ok(None);
    };
    let signed_in_at = session.get::<i64>(SIGNED_IN_AT_KEY).await?.unwrap_or(i64::MIN);
    if account.sessions_valid_after.is_some_and(|voided| signed_in_at <= voided.timestamp()) {
        return Ok(None);
    }
    Ok(Some(Principal::Account(account)))
}

/// What a console page or action requires of the visitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Anyone signed in.
    SignedIn,
    /// A signed-in admin.
    Admin,
}

/// A visitor who passed the guard.
pub struct Guarded {
    pub ctx: AppContext,
    pub session: Session,
    pub principal: Principal,
    /// Set when `Need::Admin` was asked for.
    pub admin: Option<Admin>,
}

impl Guarded {
    /// The admin proof (present whenever `Need::Admin` passed).
    pub fn admin(&self) -> Result<&Admin, AppError> {
        self.admin.as_ref().ok_or_else(|| AppError::new(AppErrorCode::Forbidden))
    }
}

/// The one check of who may see a console page or call its server
/// functions: someone signed in, and for `Need::Admin` an admin.
async fn identify(need: Need) -> Result<Guarded, AppError> {
    let ctx = app_context()?;
    let session = session()?;
    let principal = signed_in(&ctx, &session).await?.ok_or_else(|| AppError::new(AppErrorCode::NoSession))?;
    let admin = match need {
        Need::SignedIn => None,
        Need::Admin => {
            let Some(admin) = principal.as_admin().map(|admin| admin.acting_from(client_ip())) else {
                tracing::warn!(account = principal.email(), "a non-admin was refused an admin page or action");
                return Err(AppError::new(AppErrorCode::Forbidden));
            };
            // SSO people signed in at the provider; an account needs a
            // passkey in this session when the deployment says so.
            if ctx.services.passkeys.required_for_admins()
                && principal.account().is_some()
                && session.get::<i64>(crate::session_keys::PASSKEY_AT).await?.is_none()
            {
                return Err(AppError::new(AppErrorCode::PasskeyRequired));
            }
            Some(admin)
        }
    };
    Ok(Guarded { ctx, session, principal, admin })
}

/// `identify` for loading the console page at `here`: an anonymous visitor
/// is redirected to `/signin` and brought back (a script calling the page's
/// server function gets `401 no_session`); a non-admin gets a 403.
pub async fn guard(need: Need, here: &str) -> Result<Guarded, AppError> {
    identify(need).await.inspect_err(|err| match err.error {
        AppErrorCode::NoSession if !super::answer::is_server_fn_call() => {
            redirect_page(&crate::navigation::signin_url(here));
        }
        _ => set_status(err.status()),
    })
}

/// `identify` for a state-changing server function: also checks the form's
/// CSRF token. A plain form post that fails goes back to `back` (or to sign
/// in, returning to `back`) with the error; a script gets the JSON error.
pub async fn guard_action(need: Need, csrf_token: &str, back: &str) -> Result<Guarded, AppError> {
    let guarded = identify(need).await.map_err(|err| match err.error {
        AppErrorCode::NoSession => fail(err, &crate::navigation::signin_url(back)),
        _ => fail(err, back),
    })?;
    verify_csrf(&guarded.session, csrf_token).await.map_err(|e| fail(e, back))?;
    Ok(guarded)
}

/// The preamble of an anonymous form post (signing in or out, asking for
/// or using a reset link): the context and the session, once the form's
/// CSRF token checks out; otherwise the refusal, sent back to `back`. What
/// `guard_action` is for a signed-in person's actions.
pub async fn guard_anonymous_action(csrf_token: &str, back: &str) -> Result<(AppContext, Session), AppError> {
    let ctx = app_context()?;
    let session = session()?;
    verify_csrf(&session, csrf_token).await.map_err(|e| fail(e, back))?;
    Ok((ctx, session))
}

/// Marks the session signed in as the account that just signed in, under a
/// new session id and a new CSRF token (so nothing issued before sign-in
/// stays valid).
pub async fn sign_in_session(
    ctx: &AppContext,
    session: &Session,
    signed_in: &gatehouse_core::services::accounts::SignedIn,
) -> Result<(), AppError> {
    Ok(sign_in_as(&ctx.services, session, SignedInAs::Account(signed_in)).await?)
}

/// Marks the session signed in as the SSO person, the same way (the edge's
/// SSO callback calls this).
pub async fn sign_in_sso_session(
    services: &Services,
    session: &Session,
    person: &gatehouse_core::model::SsoPerson,
) -> Result<(), tower_sessions::session::Error> {
    sign_in_as(services, session, SignedInAs::Sso(&person.subject)).await
}

/// Who a session is signed in as.
enum SignedInAs<'a> {
    Account(&'a gatehouse_core::services::accounts::SignedIn),
    Sso(&'a gatehouse_core::model::SubjectId),
}

/// A new session id, the one identity (the other kind's key removed), the
/// time, and a new CSRF token.
async fn sign_in_as(
    services: &Services,
    session: &Session,
    who: SignedInAs<'_>,
) -> Result<(), tower_sessions::session::Error> {
    session.cycle_id().await?;
    match who {
        SignedInAs::Account(signed_in) => {
            session.remove::<gatehouse_core::model::SubjectId>(SSO_SUBJECT_KEY).await?;
            session.insert(ACCOUNT_KEY, signed_in.account.id.to_string()).await?;
            match signed_in.method {
                SignInMethod::Passkey => session.insert(PASSKEY_AT, services.now().timestamp()).await?,
                SignInMethod::Password => _ = session.remove::<i64>(PASSKEY_AT).await?,
            }
        }
        SignedInAs::Sso(subject) => {
            session.remove::<String>(ACCOUNT_KEY).await?;
            session.remove::<i64>(PASSKEY_AT).await?;
            session.insert(SSO_SUBJECT_KEY, subject).await?;
        }
    }
    session.insert(SIGNED_IN_AT_KEY, signed_in_at(services, &who)).await?;
    session.insert(CSRF_KEY, new_csrf_token(services)).await
}

/// The second a sign-in counts as made. For an account, the second its
/// password hash was read, not now: a reset or change that landed while the
/// (slow) check ran voids this session too. Sessions signed in at or before
/// the second of `sessions_valid_after` are void (the embedded database
/// keeps whole seconds), yet a sign-in that read the account after that
/// change was made counts as the second after, so signing in with a new
/// password in the second it was set holds.
fn signed_in_at(services: &Services, who: &SignedInAs<'_>) -> i64 {
    match who {
        SignedInAs::Account(signed_in) => {
            let read = signed_in.read_at.timestamp();
            signed_in.account.sessions_valid_after.map_or(read, |voided| read.max(voided.timestamp().saturating_add(1)))
        }
        SignedInAs::Sso(_) => services.now().timestamp(),
    }
}

/// Marks the signed-in session as having just proved itself with a
/// passkey (a step-up), under a new session id.
pub async fn stepped_up_session(ctx: &AppContext, session: &Session) -> Result<(), AppError> {
    session.cycle_id().await?;
    session.insert(PASSKEY_AT, ctx.services.now().timestamp()).await?;
    Ok(())
}

/// Ends the session. The browser's id outlives it (in a new, anonymous
/// session): signing out to switch accounts is still the same browser.
pub async fn sign_out_session(session: &Session) -> Result<(), AppError> {
    let browser = session.get::<String>(crate::session_keys::BROWSER).await?;
    session.flush().await?;
    if let Some(browser) = browser {
        session.insert(crate::session_keys::BROWSER, browser).await?;
    }
    Ok(())
}

fn new_csrf_token(services: &Services) -> String {
    services.random_base62(32)
}

/// The session's CSRF token, creating the session and token if needed.
pub async fn session_csrf_token(ctx: &AppContext, session: &Session) -> Result<String, AppError> {
    if let Some(token) = session.get::<String>(CSRF_KEY).await? {
        return Ok(token);
    }
    let token = new_csrf_token(&ctx.services);
    session.insert(CSRF_KEY, token.clone()).await?;
    Ok(token)
}

/// Checks a form's CSRF token against the session's, in constant time.
pub async fn verify_csrf(session: &Session, presented: &str) -> Result<(), AppError> {
    let expected = session.get::<String>(CSRF_KEY).await?.map(gatehouse_core::SecretString::new);
    match expected {
        Some(expected) if expected.constant_time_eq(presented) => Ok(()),
        _ => Err(AppError::new(AppErrorCode::CsrfMismatch)),
    }
}
