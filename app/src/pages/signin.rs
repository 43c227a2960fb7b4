//! `/signin`: a passkey, email and password, or "Continue with …" the SSO
//! provider; says what a finished password flow did.

use crate::components::{Notice, PasskeySignIn};
use crate::navigation::{FORGOT_PASSWORD_PATH, SSO_SIGNIN_PATH, encode_query_value};
use crate::server_fns::session::{SignIn, SignInPageData, SignOut, load_signin_page};
use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// `/signin`: email and password, returning to a same-origin `next`.
#[component]
pub fn SignInPage() -> impl IntoView {
    let query = use_query_map();
    let sign_in = ServerAction::<SignIn>::new();
    let sign_out = ServerAction::<SignOut>::new();
    let data = Resource::new_blocking(
        move || {
            let q = query.read();
            (q.get("next"), q.get("error"), q.get("done"))
        },
        |(next, error, done)| load_signin_page(next, error, done),
    );

    view! {
        <Title text="Sign in · Gatehouse"/>
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(page) => signin_view(page, sign_in, sign_out).into_any(),
                    Err(err) => view! { <Notice code=err.error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

fn signin_view(page: SignInPageData, sign_in: ServerAction<SignIn>, sign_out: ServerAction<SignOut>) -> impl IntoView {
    let csrf = page.csrf_token.clone();
    let passkeys = page.passkeys.then(|| {
        view! {
            <PasskeySignIn csrf_token=page.csrf_token.clone() next=page.next.clone()/>
            <p class="or">"or"</p>
        }
    });
    let sso_url = format!("{SSO_SIGNIN_PATH}?next={}", encode_query_value(&page.next));
    view! {
        <section class="card" aria-labelledby="signin-title">
            <h1 id="signin-title">"Sign in"</h1>
            {page.viewer.map(|viewer| {
                let csrf = csrf.clone();
                view! {
                    <div class="signed-in">
                        <p>"You are signed in as "<strong>{viewer.name}</strong>" ("{viewer.email}"). Sign in below to switch account."</p>
                        <ActionForm action=sign_out>
                            <input type="hidden" name="csrf_token" value=csrf/>
                            <button type="submit" class="button link">"Sign out"</button>
                        </ActionForm>
                    </div>
                }
            })}
            {page.done.map(|done| view! { <p class="notice notice-ok" role="status">{done.message()}</p> })}
            {page.notice.map(|code| view! { <Notice code=code/> })}
            {passkeys}
            <ActionForm action=sign_in>
                <input type="hidden" name="csrf_token" value=page.csrf_token/>
                <input type="hidden" name="next" value=page.next/>
                <div class="field">
                    <label for="email">"Email"</label>
                    <input id="email" name="email" type="email" autocomplete="username webauthn" required/>
                </div>
                <div class="field">
                    <label for="password">"Password"</label>
                    <input id="password" name="password" type="password" autocomplete="current-password" required/>
                </div>
                <button type="submit" class="button primary">"Sign in"</button>
            </ActionForm>
            {page.reset_available.then(|| view! {
                <p class="forgot"><a href=FORGOT_PASSWORD_PATH>"Forgot your password?"</a></p>
            })}
            {page.sso_name.map(|name| view! {
                <p class="or">"or"</p>
                <a class="button" href=sso_url>"Continue with "{name}</a>
            })}
        </section>
    }
}
