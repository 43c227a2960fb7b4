//! Small building blocks shared by pages.

use crate::error::AppErrorCode;
use leptos::prelude::*;

/// A message about something that went wrong, announced to screen readers.
#[component]
pub fn Notice(code: AppErrorCode) -> impl IntoView {
    view! { <p class="notice notice-error" role="alert">{code.message()}</p> }
}

/// Says how many tokens a revoke signed out, announced politely.
#[component]
pub fn RevokedNotice(count: usize) -> impl IntoView {
    let text = match count {
        0 => "Nothing was signed out: it had already been signed out.".to_owned(),
        1 => "Signed out. It can no longer act as its owner.".to_owned(),
        n => format!("Signed out {n} devices and apps. None of them can act any more."),
    };
    view! { <p class="notice notice-ok" role="status">{text}</p> }
}

/// The code entry form: one labelled, paste-friendly input. Submits with GET,
/// so entering a code only ever shows a page and never approves anything.
#[component]
pub fn CodeEntryForm(#[prop(optional, into)] value: String) -> impl IntoView {
    view! {
        <form class="code-entry" method="get" action="/device">
            <label for="user_code">"Enter the code shown in your terminal"</label>
            <p class="hint" id="user_code_hint">"It looks like WDJB-MJHT. Spaces, dashes and lower case are fine."</p>
            <input
                id="user_code"
                name="user_code"
                type="text"
                value=value
                required
                maxlength="32"
                autocomplete="one-time-code"
                autocapitalize="characters"
                spellcheck="false"
                aria-describedby="user_code_hint"
            />
            <button type="submit" class="button primary">"Continue"</button>
        </form>
    }
}

/// Spells a code out for screen readers ("W D J B, M J H T").
pub fn spelled(code: &str) -> String {
    code.chars()
        .map(|c| if c == '-' { ",".to_owned() } else { c.to_string() })
        .collect::<Vec<_>>()
        .join(" ")
        .replace(" ,", ",")
}

/// The header on every page: who is signed in, where they can go, and a
/// sign-out button (a CSRF-checked POST, never a link).
#[component]
pub fn SiteHeader() -> impl IntoView {
    use crate::server_fns::console::load_header;
    use crate::server_fns::session::SignOut;
    use leptos::form::ActionForm;
    use leptos_router::hooks::{use_location, use_navigate};

    let location = use_location();
    let sign_out = ServerAction::<SignOut>::new();
    // Re-read on every navigation and after signing out.
    let header = Resource::new_blocking(move || (location.pathname.get(), sign_out.version().get()), |_| load_header());
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(done)) = sign_out.value().get() {
            navigate(&done.redirect_to, Default::default());
        }
    });
    view! {
        <header class="site-header">
            <a class="brand" href="/">"Gatehouse"</a>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    header.await.ok().flatten().map(|me| {
                        let who = format!("{} ({})", me.name, me.email);
                        view! {
                        <nav class="site-nav" aria-label="Main">
                            <a href="/settings/authorized-apps">"Devices"</a>
                            {me.is_admin.then(|| view! { <a href="/admin/authorized-apps">"Admin"</a> })}
                        </nav>
                        <div class="identity">
                            <span class="identity-name">{who}</span>
                            <ActionForm action=sign_out attr:class="inline">
                                <input type="hidden" name="csrf_token" value=me.csrf_token/>
                                <button type="submit" class="button link">"Sign out"</button>
                            </ActionForm>
                        </div>
                    }})
                })}
            </Suspense>
        </header>
    }
}
