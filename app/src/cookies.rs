//! The cookies Gatehouse sets, named and shaped in one place (SPEC §7).

/// The browser session (tower-sessions). With an https public URL it is
/// `__Host-` prefixed: Secure, no Domain, Path `/`.
pub const SESSION_COOKIE: &str = "gatehouse_session";
/// The approval grant the SSO callback sets (`__Secure-` prefixed on https),
/// sent only under `navigation::APPROVAL_GRANT_PATH`.
pub const APPROVAL_GRANT_COOKIE: &str = "gatehouse_approval_grant";
/// Binds an SSO sign-in to the browser that started it, sent only to the
/// callback.
pub const SSO_BINDING_COOKIE: &str = "gatehouse_sso_binding";
/// How long a session lasts without use, in hours.
pub const SESSION_IDLE_HOURS: i64 = 12;

/// The session cookie's name: `__Host-` prefixed when cookies are secure.
pub fn session_cookie_name(secure: bool) -> String {
    if secure { format!("__Host-{SESSION_COOKIE}") } else { SESSION_COOKIE.to_owned() }
}

/// An SSO cookie's name, `__Secure-` prefixed when cookies are secure.
pub fn cookie_name(name: &str, secure: bool) -> String {
    if secure { format!("__Secure-{name}") } else { name.to_owned() }
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
