//! The keys of the browser session (tower-sessions), named once for both
//! edges that write it: the server functions here and the binary's SSO
//! callback. What each holds, and who voids it, is said beside it.

/// The signed-in local account's id.
pub const ACCOUNT: &str = "account_id";
/// The (issuer, sub) of a person signed in through the SSO provider.
pub const SSO_SUBJECT: &str = "sso_subject";
/// When the session signed in (Unix seconds); sessions from before the
/// account's `sessions_valid_after` are void.
pub const SIGNED_IN_AT: &str = "signed_in_at";
/// When the session last proved itself with a passkey (Unix seconds): at a
/// passkey sign-in or a step-up; gone at a password sign-in and sign-out.
/// A client's `approver_auth = phishing_resistant` and
/// `GATEHOUSE_ADMINS_REQUIRE_PASSKEY` ask for it.
pub const PASSKEY_AT: &str = "passkey_at";
/// The browser's own id, set when it first enters or decides a code and
/// kept across sign-out (`sign_out_session`): one person per code does not
/// count the same browser switching accounts as a second person.
pub const BROWSER: &str = "browser_id";
/// The session's CSRF token, renewed at every sign-in.
pub const CSRF: &str = "csrf_token";
/// The approval grant's session binding: set by `sso-complete`, gone at
/// sign-out, which so voids the grant.
pub const GRANT_BINDING: &str = "sso_grant_binding";
/// What the SSO branch last did, for the device page to say once.
pub const SSO_OUTCOME: &str = "sso_outcome";
/// A new client's secret, shown once on the page after registering it.
pub const CLIENT_SECRET_ONCE: &str = "client_secret_once";
