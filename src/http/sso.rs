//! The SSO branch's browser redirects (SPEC §2.2): `sso-initiate` sends the
//! browser to the identity provider, `sso-complete` is where it comes back.
//! Both are plain GET navigations; a person who meets a refusal sees a page
//! saying what happened (with the error's status), and a client that asks
//! for JSON gets the JSON error. With no issuer configured both answer 404.

use super::AppState;
use super::middleware::client_ip::{ClientAddr, ClientAddress};
use super::responses::json_error;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gatehouse_app::cookies::{APPROVAL_GRANT_COOKIE, SSO_BINDING_COOKIE, cookie_name, cookie_value, set_cookie_line};
use gatehouse_app::error::{AppError, AppErrorCode};
use gatehouse_app::navigation::APPROVAL_GRANT_PATH;
use gatehouse_app::server_fns::context::{sign_in_sso_session, visitor_of};
use gatehouse_app::session_keys::GRANT_BINDING as GRANT_BINDING_KEY;
use gatehouse_core::services::sso::{Callback, Completed, SsoError, SsoRedirect, SsoService};
use tower_sessions::Session;

/// Where the browser starts an SSO sign-in.
pub const INITIATE_PATH: &str = "/v1/oauth/device/sso-initiate";
/// The redirect URI registered at the provider (after the public URL).
pub const CALLBACK_PATH: &str = "/v1/device/sso-complete";
/// Where the browser starts signing in to the console through the provider.
pub const CONSOLE_INITIATE_PATH: &str = gatehouse_app::navigation::SSO_SIGNIN_PATH;

/// `GET /v1/oauth/device/sso-initiate?user_code=`: 302 to the provider.
pub async fn initiate(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    ClientAddress(address): ClientAddress,
    session: Session,
) -> Response {
    let Some(sso) = branch(&state) else {
        return not_found();
    };
    let user_code = query_value(query.as_deref(), "user_code").unwrap_or_default();
    let visitor = match visitor_of(address, &session).await {
        Ok(visitor) => visitor,
        Err(_) => return refusal(session_failed(), &headers),
    };
    to_provider(&state, sso.initiate(&user_code, &visitor).await, &headers)
}

/// `GET /signin/sso?next=`: 302 to the provider, to come back signed in to
/// the console and go on to `next` (a local path; anything else goes to `/`).
pub async fn initiate_console(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    ClientAddress(address): ClientAddress,
    session: Session,
) -> Response {
    let Some(sso) = branch(&state) else {
        return not_found();
    };
    let next = gatehouse_app::navigation::safe_next(query_value(query.as_deref(), "next").as_deref());
    let visitor = match visitor_of(address, &session).await {
        Ok(visitor) => visitor,
        Err(_) => return refusal(session_failed(), &headers),
    };
    to_provider(&state, sso.initiate_console(&next, &visitor).await, &headers)
}

/// The answer when the browser session could not be read.
fn session_failed() -> SsoError {
    SsoError::Unavailable(gatehouse_core::StoreError::new("the browser session could not be read"))
}

/// A started sign-in's answer: 302 to the provider, binding this browser
/// by a cookie only the callback receives; or the refusal.
fn to_provider(state: &AppState, started: Result<SsoRedirect, SsoError>, headers: &HeaderMap) -> Response {
    match started {
        Ok(redirect) => {
            let binding = cookie(
                state,
                SSO_BINDING_COOKIE,
                redirect.browser_binding.expose(),
                CALLBACK_PATH,
                gatehouse_core::services::sso::SIGN_IN_LIFETIME.num_seconds(),
            );
            found(&redirect.location, [binding])
        }
        Err(err) => refusal(err, headers),
    }
}

/// `GET /v1/device/sso-complete`: verifies the sign-in, sets the
/// approval-grant cookie under a new session id, 302 to `/device?sso_verified=1`.
pub async fn complete(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    ClientAddr(ip): ClientAddr,
    session: Session,
) -> Response {
    let Some(sso) = branch(&state) else {
        return not_found();
    };
    let query = query.as_deref();
    let callback = Callback {
        state: query_value(query, "state"),
        code: query_value(query, "code"),
        error: query_value(query, "error"),
        browser_binding: cookie_value(&headers, &cookie_name(SSO_BINDING_COOKIE, https(&state))),
        ip,
    };
    let spent_binding = cookie(&state, SSO_BINDING_COOKIE, "", CALLBACK_PATH, 0);
    let grant = match sso.complete(callback).await {
        Ok(Completed::Approval(grant)) => grant,
        Ok(Completed::Console(signed_in)) => {
            // A new identity entered this browser: a new session id (SPEC §7).
            if let Err(err) = sign_in_sso_session(&state.services, &session, &signed_in.person).await {
                return refusal(SsoError::Unavailable(gatehouse_core::StoreError::from_err(err)), &headers);
            }
            return found(&signed_in.next, [spent_binding]);
        }
        Err(err) => return refusal(err, &headers),
    };
    // A new identity entered this browser: a new session id (SPEC §7), which
    // alone holds what makes the grant usable.
    let bound = async {
        session.cycle_id().await?;
        session.insert(GRANT_BINDING_KEY, grant.session_binding.expose()).await
    };
    if let Err(err) = bound.await {
        return refusal(SsoError::Unavailable(gatehouse_core::StoreError::from_err(err)), &headers);
    }
    let grant_cookie = cookie(
        &state,
        APPROVAL_GRANT_COOKIE,
        grant.cookie_value.expose(),
        APPROVAL_GRANT_PATH,
        grant.max_age.num_seconds(),
    );
    let device =
        gatehouse_app::navigation::with_query(gatehouse_app::navigation::DEVICE_PATH, &[("sso_verified", "1")]);
    found(&device, [grant_cookie, spent_binding])
}

fn branch(state: &AppState) -> Option<&SsoService> {
    state.services.sso.as_ref()
}

fn https(state: &AppState) -> bool {
    state.edge.public_url.starts_with("https://")
}

fn not_found() -> Response {
    json_error(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// A `Set-Cookie` header for one of the SSO cookies.
fn cookie(state: &AppState, name: &str, value: &str, path: &str, max_age: i64) -> HeaderValue {
    HeaderValue::from_str(&set_cookie_line(name, value, path, max_age, https(state)))
        .unwrap_or_else(|_| HeaderValue::from_static("gatehouse_invalid=; Max-Age=0"))
}

fn found<const N: usize>(location: &str, cookies: [HeaderValue; N]) -> Response {
    let mut response = StatusCode::FOUND.into_response();
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(location) {
        headers.insert(header::LOCATION, location);
    }
    for cookie in cookies {
        headers.append(header::SET_COOKIE, cookie);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The refusal as the caller wants it: a page for a browser, else JSON.
fn refusal(err: SsoError, headers: &HeaderMap) -> Response {
    let wants_html =
        headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|accept| accept.contains("text/html"));
    match &err {
        SsoError::Unavailable(detail) => return super::responses::unavailable(detail),
        SsoError::RateLimited(limited) if !wants_html => return super::responses::rate_limited(limited),
        SsoError::RateLimited(limited) => {
            let message = AppError::rate_limited(limited.retry_after_ms()).error_description;
            let mut page = refusal_page(StatusCode::TOO_MANY_REQUESTS, "Too many attempts", &message);
            page.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(limited.retry_after_secs()));
            return page;
        }
        _ => {}
    }
    let err = AppError::from(err);
    let status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::BAD_REQUEST);
    if wants_html {
        let title = match err.error {
            AppErrorCode::AccessDenied => "Sign-in cancelled",
            AppErrorCode::SsoInitiateFailed => "The sign-in service is unreachable",
            _ => "Sign-in did not complete",
        };
        return refusal_page(status, title, err.error.message());
    }
    json_error(status, err.error.as_str(), err.error.message())
}

/// A small page in the site's style; it has no script, so its CSP allows
/// only the stylesheet.
fn refusal_page(status: StatusCode, title: &str, message: &str) -> Response {
    let html = format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark"><title>{title} · Gatehouse</title>
<link rel="stylesheet" href="/pkg/gatehouse.css"></head>
<body><header class="site-header"><a class="brand" href="/">Gatehouse</a></header>
<main id="main"><section class="card" aria-labelledby="error-title">
<h1 id="error-title">{title}</h1>
<p class="notice notice-error" role="alert">{message}</p>
<p><a class="button primary" href="/device">Back to the device page</a></p>
</section></main></body></html>"#,
    );
    let mut response = (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
    );
    response
}
