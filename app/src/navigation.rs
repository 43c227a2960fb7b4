//! Where pages and server functions live, and safe return paths after
//! sign-in. Route paths are named here once; the router in `shell.rs` must
//! spell the same paths (its `path!` macro takes literals), and a test of
//! the binary's router (`http::router`) checks that it does: every page
//! route is in [`PAGE_PATHS`] and every entry there is routed.

/// The home page.
pub const HOME_PATH: &str = "/";
/// The admin pages' landing page.
pub const ADMIN_PATH: &str = "/admin";

/// The device page: enter, check and decide a code.
pub const DEVICE_PATH: &str = "/device";
/// The sign-in page.
pub const SIGNIN_PATH: &str = "/signin";
/// A signed-in person's own devices.
pub const MY_APPS_PATH: &str = "/settings/authorized-apps";
/// A signed-in person changes their password.
pub const PASSWORD_PATH: &str = "/settings/password";
/// A signed-in person's passkeys and password switch.
pub const SECURITY_PATH: &str = "/settings/security";
/// Asks for a password reset link by email.
pub const FORGOT_PASSWORD_PATH: &str = "/signin/forgot";
/// A reset link's page (`?token=`): choose a new password.
pub const RESET_PASSWORD_PATH: &str = "/signin/reset";
/// Every token of every person (admins).
pub const ADMIN_APPS_PATH: &str = "/admin/authorized-apps";
/// OAuth clients (admins).
pub const ADMIN_CLIENTS_PATH: &str = "/admin/clients";
/// The scope registry (admins).
pub const ADMIN_SCOPES_PATH: &str = "/admin/scopes";
/// Accounts (admins).
pub const ADMIN_ACCOUNTS_PATH: &str = "/admin/accounts";
/// The audit log (admins).
pub const ADMIN_AUDIT_PATH: &str = "/admin/audit";
/// Where the console's server functions are mounted.
pub const SERVER_FN_PREFIX: &str = "/console/api";
/// The SSO branch's path: the approval-grant cookie is sent only under it,
/// so its server functions and the authorize-sso page live there (SPEC §7).
pub const APPROVAL_GRANT_PATH: &str = "/v1/oauth/device";
/// The authorize-sso page, where `/device?sso_verified=1` sends the browser.
pub const AUTHORIZE_SSO_PAGE: &str = "/v1/oauth/device/authorize-sso";

/// Every page the Leptos router serves.
pub const PAGE_PATHS: &[&str] = &[
    HOME_PATH,
    DEVICE_PATH,
    SIGNIN_PATH,
    ERROR_PAGE,
    MY_APPS_PATH,
    PASSWORD_PATH,
    SECURITY_PATH,
    FORGOT_PASSWORD_PATH,
    RESET_PASSWORD_PATH,
    ADMIN_PATH,
    ADMIN_APPS_PATH,
    ADMIN_ACCOUNTS_PATH,
    ADMIN_AUDIT_PATH,
    ADMIN_CLIENTS_PATH,
    ADMIN_SCOPES_PATH,
    AUTHORIZE_SSO_PAGE,
];

/// `next` if it is a same-origin path (`/…`, not `//…` or `/\…`, no control
/// characters), else `/`. Keeps sign-in from becoming an open redirect.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.starts_with("/\\")
                && !path.chars().any(|c| c.is_control() || c == '\\')
                && path.len() <= 2048 =>
        {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// Where the browser starts signing in to the console through the SSO
/// provider (`?next=` as for `/signin`).
pub const SSO_SIGNIN_PATH: &str = "/signin/sso";

/// The friendly page a failed plain form post lands on when it has no page
/// of its own to return to (or that page would fail too); it reads `?error=`.
pub const ERROR_PAGE: &str = "/error";

/// Percent-encodes a query-string value.
pub fn encode_query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(char::from(byte)),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// `path` with a query of the non-empty `pairs`, percent-encoded.
pub fn with_query(path: &str, pairs: &[(&str, &str)]) -> String {
    let query: Vec<String> =
        pairs.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| format!("{k}={}", encode_query_value(v))).collect();
    if query.is_empty() { path.to_owned() } else { format!("{path}?{}", query.join("&")) }
}

/// `url` with one more query pair, percent-encoded.
pub fn append_query(url: &str, key: &str, value: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{key}={}", encode_query_value(value))
}

/// The `/signin` URL that returns to `next` afterwards.
pub fn signin_url(next: &str) -> String {
    format!("{SIGNIN_PATH}?next={}", encode_query_value(next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_same_origin_paths_survive() {
        assert_eq!(safe_next(Some("/device?user_code=BCDF-GHJK")), "/device?user_code=BCDF-GHJK");
        for bad in ["https://evil.example", "//evil.example", "/\\evil.example", "javascript:alert(1)", "/a\nb", ""] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn encodes_query_values() {
        assert_eq!(encode_query_value("/device?user_code=A B"), "%2Fdevice%3Fuser_code%3DA%20B");
    }
}

/// The core names the pages its emails link to, and cannot see these (the
/// hydrated bundle has no core): the two lists must agree.
#[cfg(all(test, feature = "ssr"))]
mod email_links {
    use gatehouse_core::services::notifications as emails;

    #[test]
    fn emails_link_to_the_pages_the_router_serves() {
        assert_eq!(emails::MY_APPS_PATH, super::MY_APPS_PATH);
        assert_eq!(emails::SECURITY_PATH, super::SECURITY_PATH);
        assert_eq!(emails::FORGOT_PASSWORD_PATH, super::FORGOT_PASSWORD_PATH);
        assert_eq!(emails::RESET_PASSWORD_PATH, super::RESET_PASSWORD_PATH);
    }
}
