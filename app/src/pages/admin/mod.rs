//! The admin console's pages, and what they share.

mod accounts;
mod approval_policy;
mod audit;
mod authorized_apps;
mod clients;
mod scopes;

pub use accounts::AdminAccountsPage;
pub use audit::AdminAuditPage;
pub use authorized_apps::AdminAppsPage;
pub use clients::AdminClientsPage;
pub use scopes::AdminScopesPage;

use crate::navigation;
use leptos::prelude::*;

/// The admin pages, as links; the current one is marked for screen readers.
#[component]
pub fn AdminNav(current: &'static str) -> impl IntoView {
    const PAGES: [(&str, &str); 5] = [
        (navigation::ADMIN_APPS_PATH, "Authorized apps"),
        (navigation::ADMIN_CLIENTS_PATH, "Clients"),
        (navigation::ADMIN_SCOPES_PATH, "Scopes"),
        (navigation::ADMIN_ACCOUNTS_PATH, "Accounts"),
        (navigation::ADMIN_AUDIT_PATH, "Audit log"),
    ];
    view! {
        <nav class="admin-nav" aria-label="Admin">
            {PAGES.into_iter().map(|(href, label)| {
                let here = (href == current).then_some("page");
                view! { <a href=href aria-current=here>{label}</a> }
            }).collect_view()}
        </nav>
    }
}

/// The links between the pages of a keyset-paginated listing.
#[component]
pub fn Pager(
    /// The first page, shown when this is a later one.
    first: Option<String>,
    next: Option<String>,
    #[prop(default = "First page")] first_label: &'static str,
    #[prop(default = "Next page")] next_label: &'static str,
) -> impl IntoView {
    view! {
        <nav class="pager" aria-label="Pages">
            {first.map(|url| view! { <a href=url>{first_label}</a> })}
            {next.map(|url| view! { <a href=url rel="next">{next_label}</a> })}
        </nav>
    }
}

/// `/admin` goes to the first admin page.
#[component]
pub fn AdminHome() -> impl IntoView {
    #[cfg(feature = "ssr")]
    leptos_axum::redirect(navigation::ADMIN_APPS_PATH);
    view! { <p><a href=navigation::ADMIN_APPS_PATH>"Authorized apps"</a></p> }
}
