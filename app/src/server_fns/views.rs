//! What the pages show, shared by more than one server function: the
//! signed-in person, where a finished form sends the browser, what
//! `/signin` says after a password flow, one request summary for both
//! approval views (account and SSO), scopes in plain words, audit events in
//! words, and one way to write an instant.

use serde::{Deserialize, Serialize};

/// The signed-in person, as pages show them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Viewer {
    pub email: String,
    pub name: String,
}

#[cfg(feature = "ssr")]
impl From<&gatehouse_core::Principal> for Viewer {
    fn from(principal: &gatehouse_core::Principal) -> Self {
        Self { email: principal.email().to_owned(), name: principal.display_name().to_owned() }
    }
}

/// Where the browser goes after a form that ends elsewhere (signing in or
/// out, a password flow).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redirect {
    pub redirect_to: String,
}

/// What `/signin` says after a password flow ended well (`?done=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PasswordDone {
    /// Changed, and devices and apps signed out too (the form's default).
    Changed,
    /// Changed, keeping devices and apps signed in.
    ChangedKeptDevices,
    Reset,
}

impl PasswordDone {
    pub fn as_str(self) -> &'static str {
        match self {
            PasswordDone::Changed => "password_changed",
            PasswordDone::ChangedKeptDevices => "password_changed_kept_devices",
            PasswordDone::Reset => "password_reset",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [PasswordDone::Changed, PasswordDone::ChangedKeptDevices, PasswordDone::Reset]
            .into_iter()
            .find(|done| done.as_str() == value)
    }

    /// What the person reads.
    pub fn message(self) -> &'static str {
        match self {
            PasswordDone::Changed => {
                "Your password was changed, and every browser, device and app signed in as you was signed out. Sign in with the new password."
            }
            PasswordDone::ChangedKeptDevices => {
                "Your password was changed, and every browser signed in as you was signed out. Your devices and apps stay signed in. Sign in with the new password."
            }
            PasswordDone::Reset => {
                "Your new password is set, and every browser, device and app signed in as you was signed out. Sign in with it."
            }
        }
    }
}

/// One requested scope, in plain words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeView {
    pub name: String,
    pub description: String,
}

impl ScopeView {
    /// The scope with its plain words from the operator's registry.
    #[cfg(feature = "ssr")]
    pub fn of(scope: &str, registry: &gatehouse_core::services::scopes::ScopeCatalog) -> Self {
        Self { name: scope.to_owned(), description: registry.describe(scope) }
    }
}

/// What a person checks before approving or denying a device: the code,
/// who is asking, from where, and what it could do. Both approval views
/// carry it (flattened, so their JSON keeps its flat fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestView {
    /// `XXXX-XXXX`, to compare with the terminal.
    pub user_code: String,
    pub client_name: String,
    pub client_id: String,
    /// As reported by the device; never verified.
    pub device_label: Option<String>,
    pub requester_ip: Option<String>,
    /// The request came from another address than this browser's.
    pub requested_from_elsewhere: bool,
    pub requester_user_agent: Option<String>,
    /// "3 minutes ago".
    pub requested_ago: String,
    /// What the token would carry, in plain words.
    pub scopes: Vec<ScopeView>,
    /// When the token approving would replace was created.
    pub replaces_created_on: Option<String>,
    /// Someone else already entered or decided this code (one person per
    /// code): deciding it now ends it.
    pub opened_by_someone_else: bool,
}

#[cfg(feature = "ssr")]
impl RequestView {
    /// The summary of a pending request whose token would carry `scopes`.
    pub fn of(
        request: &gatehouse_core::services::device_flow::AuthorizeRequest,
        scopes: &[String],
        registry: &gatehouse_core::services::scopes::ScopeCatalog,
    ) -> Self {
        let flow = &request.flow;
        Self {
            user_code: flow.user_code.display(),
            client_name: flow.client_name.clone(),
            client_id: flow.client_id.clone(),
            device_label: flow.device_label.clone(),
            requested_from_elsewhere: from_elsewhere(flow.requester_ip.as_deref()),
            requester_ip: flow.requester_ip.clone(),
            requester_user_agent: flow.requester_user_agent.clone(),
            requested_ago: ago(request.requested_ago),
            scopes: scopes.iter().map(|s| ScopeView::of(s, registry)).collect(),
            replaces_created_on: request.replaces.as_ref().map(|t| moment(t.created_at)),
            opened_by_someone_else: request.opened_by_someone_else,
        }
    }
}

/// Whether the device asked from another address than the one this browser
/// is approving from (both known): a phishing signal the page points out.
#[cfg(feature = "ssr")]
fn from_elsewhere(requester_ip: Option<&str>) -> bool {
    let (Some(requester), Some(approver)) = (requester_ip, super::context::client_ip()) else {
        return false;
    };
    // One IPv6 network is one place: a phone's or laptop's temporary
    // addresses change within its /64.
    match super::context::app_context() {
        Ok(ctx) => !ctx.services.limits.same_network(requester, &approver),
        Err(_) => requester != approver,
    }
}

/// "3 minutes ago", for how long ago a device asked.
#[cfg(feature = "ssr")]
fn ago(elapsed: chrono::Duration) -> String {
    let secs = elapsed.num_seconds().max(0);
    match secs {
        0..=59 => "less than a minute ago".to_owned(),
        60..=119 => "1 minute ago".to_owned(),
        120..=3599 => format!("{} minutes ago", secs / 60),
        _ => format!("{} hours ago", secs / 3600),
    }
}

/// An instant as every page shows it: "28 Nov 2026, 14:05 UTC".
#[cfg(feature = "ssr")]
pub fn moment(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%-d %b %Y, %H:%M UTC").to_string()
}

/// The same to the second, where order within a minute matters (the
/// audit log): "28 Nov 2026, 14:05:09 UTC".
#[cfg(feature = "ssr")]
pub fn moment_to_the_second(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%-d %b %Y, %H:%M:%S UTC").to_string()
}

/// Who did an audited thing, in words: "by Gatehouse itself", never the
/// stored "system system".
#[cfg(feature = "ssr")]
pub fn actor_words(actor: &gatehouse_core::Actor) -> String {
    use gatehouse_core::Actor;
    match actor {
        Actor::Account { email } => email.clone(),
        Actor::External { email } => format!("{email} (single sign-on)"),
        Actor::Admin { email } => format!("the admin {email}"),
        Actor::Client { client_id } => format!("the client {client_id}"),
        Actor::System => "Gatehouse itself".to_owned(),
        Actor::Cli => "the command line".to_owned(),
    }
}

/// An audit event's details as words: "by: admin · token id: 6f1…",
/// nested fields named by their path, lists joined, nothing left as JSON.
#[cfg(feature = "ssr")]
pub fn details_words(details: &serde_json::Value) -> String {
    fn walk(prefix: &str, value: &serde_json::Value, out: &mut Vec<String>) {
        use serde_json::Value;
        let text = match value {
            Value::Null => return,
            Value::Object(fields) => {
                for (name, value) in fields {
                    let name = name.replace('_', " ");
                    walk(&if prefix.is_empty() { name.clone() } else { format!("{prefix} {name}") }, value, out);
                }
                return;
            }
            Value::Bool(yes) => if *yes { "yes" } else { "no" }.to_owned(),
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.clone(),
            Value::Array(items) if items.is_empty() => "none".to_owned(),
            Value::Array(items) => items
                .iter()
                .map(|item| match item {
                    Value::String(s) => s.clone(),
                    other => details_words(other),
                })
                .collect::<Vec<_>>()
                .join(", "),
        };
        out.push(if prefix.is_empty() { text } else { format!("{prefix}: {text}") });
    }
    let mut out = Vec::new();
    walk("", details, &mut out);
    out.join(" · ")
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;

    #[test]
    fn audit_actors_and_details_read_as_words() {
        assert_eq!(actor_words(&gatehouse_core::Actor::System), "Gatehouse itself");
        assert_eq!(actor_words(&gatehouse_core::Actor::Cli), "the command line");
        let details = serde_json::json!({
            "by": "sso_groups", "admin_groups_held": ["ops", "root"], "rotated": false, "flow": null,
            "grants": { "with_email_updated": 2 }, "none_held": [],
        });
        let words = details_words(&details);
        let mut parts: Vec<&str> = words.split(" · ").collect();
        parts.sort_unstable();
        assert_eq!(
            parts,
            [
                "admin groups held: ops, root",
                "by: sso_groups",
                "grants with email updated: 2",
                "none held: none",
                "rotated: no"
            ]
        );
        assert_eq!(details_words(&serde_json::Value::Null), "");
    }
}
