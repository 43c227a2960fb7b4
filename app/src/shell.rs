//! The HTML document and the router.

use crate::components::SiteHeader;
use crate::pages::{
    AdminAccountsPage, AdminAppsPage, AdminAuditPage, AdminClientsPage, AdminHome, AdminScopesPage, AuthorizeSsoPage,
    ChangePasswordPage, DevicePage, ErrorPage, ForgotPasswordPage, HomePage, MyAppsPage, NotFound, ResetPasswordPage,
    SecurityPage, SignInPage,
};
use leptos::prelude::*;
use leptos_meta::{Link, MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{SsrMode, StaticSegment, path};

/// The server-rendered document around the app.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    // Hydration needs one inline script; it runs under a per-response nonce
    // so the CSP can forbid every other inline script.
    #[cfg(feature = "ssr")]
    set_document_csp();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <HydrationScripts options islands=true/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[cfg(feature = "ssr")]
fn set_document_csp() {
    leptos::nonce::provide_nonce();
    let nonce = leptos::nonce::use_nonce().map(|n| n.to_string()).unwrap_or_default();
    let policy = format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src 'self'; \
         img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
         base-uri 'none'; object-src 'none'"
    );
    let Ok(value) = http::HeaderValue::from_str(&policy) else {
        return;
    };
    if let Some(slot) =
        use_context::<http::request::Parts>().and_then(|p| p.extensions.get::<crate::DocumentCsp>().cloned())
    {
        *slot.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(value.clone());
    }
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.insert_header(http::header::CONTENT_SECURITY_POLICY, value);
    }
}

/// The application: header, routes, footer.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="leptos" href="/pkg/gatehouse.css"/>
        <Link rel="icon" type_="image/svg+xml" href="/favicon.svg"/>
        <Title text="Gatehouse"/>
        <Router>
            <a class="skip-link" href="#main">"Skip to content"</a>
            <SiteHeader/>
            <main id="main" tabindex="-1">
                <Routes fallback=|| view! { <NotFound/> }>
                    <Route path=StaticSegment("") view=HomePage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("device") view=DevicePage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("signin") view=SignInPage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("error") view=ErrorPage/>
                    <Route path=path!("/settings/authorized-apps") view=MyAppsPage ssr=SsrMode::Async/>
                    <Route path=path!("/settings/password") view=ChangePasswordPage ssr=SsrMode::Async/>
                    <Route path=path!("/settings/security") view=SecurityPage ssr=SsrMode::Async/>
                    <Route path=path!("/signin/forgot") view=ForgotPasswordPage ssr=SsrMode::Async/>
                    <Route path=path!("/signin/reset") view=ResetPasswordPage ssr=SsrMode::Async/>
                    <Route path=path!("/admin/authorized-apps") view=AdminAppsPage ssr=SsrMode::Async/>
                    <Route path=path!("/admin/accounts") view=AdminAccountsPage ssr=SsrMode::Async/>
                    <Route path=path!("/admin/audit") view=AdminAuditPage ssr=SsrMode::Async/>
                    <Route path=path!("/admin/clients") view=AdminClientsPage ssr=SsrMode::Async/>
                    <Route path=path!("/admin/scopes") view=AdminScopesPage ssr=SsrMode::Async/>
                    <Route path=path!("/admin") view=AdminHome/>
                    <Route path=path!("/v1/oauth/device/authorize-sso") view=AuthorizeSsoPage ssr=SsrMode::Async/>
                </Routes>
            </main>
        </Router>
    }
}
