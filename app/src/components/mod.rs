//! Small building blocks shared by pages.

mod passkeys;

use crate::error::AppErrorCode;
use leptos::prelude::*;
pub use passkeys::{PasskeyRegister, PasskeyRequired, PasskeySignIn, PasskeyStepUp};

/// A message about something that went wrong, announced to screen readers.
#[component]
pub fn Notice(code: AppErrorCode) -> impl IntoView {
    view! { <p class="notice notice-error" role="alert">{code.message()}</p> }
}

/// Shows `page` once `data` has loaded, or what stopped it: the 403 page
/// for a visitor who is not an admin, the passkey step-up for an admin
/// whose password session is not enough, else the error's notice. Every page
/// that loads its data through a server function shows it this way.
pub fn loaded<T, V>(
    data: Resource<Result<T, crate::error::AppError>>,
    page: impl Fn(T) -> V + Copy + Send + Sync + 'static,
) -> impl IntoView
where
    T: Clone + Send + Sync + serde::Serialize + serde::de::DeserializeOwned + 'static,
    V: IntoView + 'static,
{
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(loaded) => page(loaded).into_any(),
                    Err(err) if err.error == AppErrorCode::Forbidden => view! { <Forbidden/> }.into_any(),
                    Err(err) if err.error == AppErrorCode::PasskeyRequired => view! { <PasskeyRequired/> }.into_any(),
                    Err(err) => view! { <Notice code=err.error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// The 403 page of every admin page.
#[component]
pub fn Forbidden() -> impl IntoView {
    view! {
        <section class="card" aria-labelledby="forbidden-title">
            <h1 id="forbidden-title">"Administrators only"</h1>
            <p role="alert">{AppErrorCode::Forbidden.message()}</p>
            <p><a href=crate::navigation::MY_APPS_PATH>"See your own devices"</a></p>
        </section>
    }
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
pub fn CodeEntryForm(#[prop(optional, into)] value: String, #[prop(optional, into)] csrf: String) -> impl IntoView {
    // A post, not a get: a person typing a code takes it up (one person
    // per code), which following a link never does.
    let action = <crate::server_fns::device::EnterCode as leptos::server_fn::ServerFn>::url();
    view! {
        <form class="code-entry" method="post" action=action>
            <input type="hidden" name="csrf_token" value=csrf/>
            <label for="user_code">"Enter the code shown in your terminal"</label>
            <p class="hint" id="user_code_hint">"It looks like WDJB-MJHT. Spaces, dashes and lower case are fine."</p>
            <CodeInput value=value/>
            <button type="submit" class="button primary">"Continue"</button>
        </form>
    }
}

/// The code input, an island: with JavaScript it shows what is typed or
/// pasted the way the terminal shows it (`wdjb mjht` becomes `WDJB-MJHT`);
/// without, the server does the same normalization on submit.
#[island]
pub fn CodeInput(value: String) -> impl IntoView {
    let code = RwSignal::new(value);
    // Effects run only in the browser, once the island is live: the marker
    // lets browser tests wait for it before typing.
    let ready = RwSignal::new(false);
    Effect::new(move |_| ready.set(true));
    view! {
        <input
            id="user_code"
            name="user_code"
            type="text"
            prop:value=move || code.get()
            on:input=move |event| code.set(shape_code(&event_target_value(&event)))
            data-island-ready=move || ready.get().then_some("true")
            required
            maxlength="32"
            autocomplete="one-time-code"
            autocapitalize="characters"
            spellcheck="false"
            aria-describedby="user_code_hint"
        />
    }
}

/// Shapes typed input like the terminal's code: letters only, upper case,
/// a dash after the fourth. Anything longer than a code is left as typed, so
/// the server can say it is not valid rather than silently cutting it.
pub fn shape_code(input: &str) -> String {
    // Any letter counts (full-width ones too: the server applies NFKC).
    let letters: Vec<char> = input.chars().filter(|c| c.is_alphabetic()).flat_map(char::to_uppercase).collect();
    if letters.len() > 8 {
        return input.to_owned();
    }
    let mut out: String = letters.iter().take(4).collect();
    if letters.len() > 4 {
        out.push('-');
        out.extend(&letters[4..]);
    }
    out
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

    let sign_out = ServerAction::<SignOut>::new();
    let header = Resource::new_blocking(|| (), |_| load_header());
    view! {
        <header class="site-header">
            <a class="brand" href=crate::navigation::HOME_PATH>"Gatehouse"</a>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    header.await.ok().flatten().map(|me| {
                        let who = format!("{} ({})", me.name, me.email);
                        view! {
                        <nav class="site-nav" aria-label="Main">
                            <a href=crate::navigation::MY_APPS_PATH>"Devices"</a>
                            {me.has_password.then(|| view! {
                                <a href=crate::navigation::PASSWORD_PATH>"Password"</a>
                                <a href=crate::navigation::SECURITY_PATH>"Security"</a>
                            })}
                            {me.is_admin.then(|| view! { <a href=crate::navigation::ADMIN_APPS_PATH>"Admin"</a> })}
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

#[cfg(test)]
mod tests {
    use super::shape_code;

    #[test]
    fn typed_codes_take_the_terminal_shape() {
        assert_eq!(shape_code("wdjb mjht"), "WDJB-MJHT");
        assert_eq!(shape_code("WDJ"), "WDJ");
        assert_eq!(shape_code("wdjbm"), "WDJB-M");
        assert_eq!(shape_code("WDJB–MJHT"), "WDJB-MJHT");
        assert_eq!(shape_code("wdjb-mjht-extra"), "wdjb-mjht-extra");
        assert_eq!(shape_code("ｗｄｊｂｍｊｈｔ"), "ＷＤＪＢ-ＭＪＨＴ");
    }
}
