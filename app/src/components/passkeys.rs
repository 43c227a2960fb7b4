//! The passkey parts of pages. WebAuthn needs JavaScript, so each part is a
//! block the page's script (`/passkeys.js`) shows and runs; with JavaScript
//! off it stays hidden and a line says so and points to the other ways in
//! (a plain paragraph the script hides, not `<noscript>`, which a browser
//! whose scripts are off by policy may not show), and a browser without
//! WebAuthn is told the same.

use crate::error::AppErrorCode;
use leptos::prelude::*;

/// The script that runs every passkey block on the page (loaded once).
#[component]
fn PasskeyScript() -> impl IntoView {
    view! { <script src="/passkeys.js" defer></script> }
}

/// What a browser that cannot use passkeys is told, with JavaScript off or on.
#[component]
fn Unavailable(#[prop(into)] otherwise: String) -> impl IntoView {
    let without_script = format!("Passkeys need JavaScript, which is off in this browser. {otherwise}");
    let unsupported = format!("This browser cannot use passkeys. {otherwise}");
    view! {
        <p class="notice notice-info" data-passkey-needs-script="">{without_script}</p>
        <p class="notice notice-info" data-passkey-unsupported="" hidden=true>{unsupported}</p>
    }
}

/// The status line a ceremony speaks through (announced politely).
#[component]
fn Status() -> impl IntoView {
    view! { <p class="hint" data-passkey-status="" role="status" aria-live="polite"></p> }
}

/// "Sign in with a passkey" on `/signin`, with the browser's passkey
/// autofill on the email field where it is offered.
#[component]
pub fn PasskeySignIn(csrf_token: String, next: String) -> impl IntoView {
    view! {
        <div class="passkeys" data-passkeys="" data-passkey-autofill="" data-csrf=csrf_token data-next=next>
            <div data-passkey-on="" hidden=true>
                <button type="button" class="button" data-passkey="signin">"Sign in with a passkey"</button>
                <Status/>
            </div>
            <Unavailable otherwise="Sign in with your email and password instead."/>
            <PasskeyScript/>
        </div>
    }
}

/// "Use my passkey" for a signed-in person whose password session is not
/// enough (a client that needs a passkey, admin rights), returning to `next`.
#[component]
pub fn PasskeyStepUp(csrf_token: String, next: String) -> impl IntoView {
    view! {
        <div class="passkeys" data-passkeys="" data-csrf=csrf_token data-next=next>
            <div data-passkey-on="" hidden=true>
                <button type="button" class="button primary" data-passkey="step-up">"Use my passkey"</button>
                <Status/>
            </div>
            <Unavailable otherwise="Sign in through your organisation's sign-in service, if it offers one, or ask an administrator."/>
            <p class="hint">
                "No passkey yet? "<a href=crate::navigation::SECURITY_PATH>"Add one under Security"</a>
                " (you can come back here afterwards)."
            </p>
            <PasskeyScript/>
        </div>
    }
}

/// Adding a passkey: its name, then the browser's prompt.
#[component]
pub fn PasskeyRegister(csrf_token: String) -> impl IntoView {
    view! {
        <div class="passkeys" data-passkeys="" data-csrf=csrf_token>
            <form data-passkey-on="" data-passkey-register="" hidden=true>
                <div class="field">
                    <label for="passkey-name">"Name for the new passkey"</label>
                    <p class="hint" id="passkey-name-hint">"So you can tell your passkeys apart, for example \"work laptop\" or \"phone\"."</p>
                    <input id="passkey-name" name="name" type="text" maxlength="60" required
                        aria-describedby="passkey-name-hint"/>
                </div>
                <button type="submit" class="button primary">"Add a passkey"</button>
                <Status/>
            </form>
            <Unavailable otherwise="Open this page in a browser with JavaScript on to add a passkey."/>
            <PasskeyScript/>
        </div>
    }
}

/// What a console page shows when its admin actions need a passkey
/// (`GATEHOUSE_ADMINS_REQUIRE_PASSKEY`) and this session signed in with a
/// password: why, and the step-up back to the page.
#[component]
pub fn PasskeyRequired() -> impl IntoView {
    use crate::server_fns::console::load_header;
    let header = Resource::new_blocking(|| (), |_| load_header());
    let here = leptos_router::hooks::use_location();
    let query = here.search.get_untracked().trim_start_matches('?').to_owned();
    let path = here.pathname.get_untracked();
    let next = if query.is_empty() { path } else { format!("{path}?{query}") };
    view! {
        <section class="card" aria-labelledby="passkey-required-title">
            <h1 id="passkey-required-title">"Use your passkey to continue"</h1>
            <p role="alert">{AppErrorCode::PasskeyRequired.message()}</p>
            <Suspense fallback=|| ()>
                {move || {
                    let next = next.clone();
                    Suspend::new(async move {
                        header.await.ok().flatten().map(|me| view! { <PasskeyStepUp csrf_token=me.csrf_token next=next/> })
                    })
                }}
            </Suspense>
        </section>
    }
}
