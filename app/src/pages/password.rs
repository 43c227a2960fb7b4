//! The password pages: change it (signed in), ask for a reset link, and
//! choose a new one through the link. Plain forms, so they work without
//! JavaScript.

use crate::components::{Notice, loaded};
use crate::navigation::{FORGOT_PASSWORD_PATH, MY_APPS_PATH, SIGNIN_PATH};
use crate::server_fns::password::{
    ChangePassword, ForgotPage, PasswordPage, RequestPasswordReset, ResetPage, ResetPassword, load_forgot_page,
    load_password_page, load_reset_page,
};
use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// The two new-password fields, with the rule said before typing.
#[component]
fn NewPasswordFields() -> impl IntoView {
    view! {
        <div class="field">
            <label for="new_password">"New password"</label>
            <p class="hint" id="new_password_hint">"At least 8 characters. A long phrase is easier to remember and harder to guess."</p>
            <input id="new_password" name="new_password" type="password" autocomplete="new-password"
                minlength="8" aria-describedby="new_password_hint" required/>
        </div>
        <div class="field">
            <label for="confirm_password">"New password, again"</label>
            <input id="confirm_password" name="confirm_password" type="password" autocomplete="new-password" minlength="8" required/>
        </div>
    }
}

/// `/settings/password`: change your own password.
#[component]
pub fn ChangePasswordPage() -> impl IntoView {
    let query = use_query_map();
    let change = ServerAction::<ChangePassword>::new();
    let data = Resource::new_blocking(move || query.read().get("error"), load_password_page);
    view! {
        <Title text="Change your password · Gatehouse"/>
        {loaded(data, move |page: PasswordPage| view! {
            <section class="card" aria-labelledby="password-title">
                <h1 id="password-title">"Change your password"</h1>
                {match page.managed_elsewhere {
                    Some(provider) => view! {
                        <p>"You sign in with "<strong>{provider}</strong>" as "{page.email}", so your password is changed there, not here."</p>
                        <p><a href=MY_APPS_PATH>"Your devices and apps"</a></p>
                    }.into_any(),
                    None => view! {
                        <p>"For "<strong>{page.email}</strong>". Changing it signs out every browser signed in as you, this one too."</p>
                        {page.notice.map(|code| view! { <Notice code=code/> })}
                        <ActionForm action=change>
                            <input type="hidden" name="csrf_token" value=page.csrf_token/>
                            <div class="field">
                                <label for="current_password">"Current password"</label>
                                <input id="current_password" name="current_password" type="password" autocomplete="current-password" required/>
                            </div>
                            <NewPasswordFields/>
                            <div class="field checkbox">
                                <input id="sign_out_devices" name="sign_out_devices" type="checkbox" value="on" checked
                                    aria-describedby="sign_out_devices_hint"/>
                                <label for="sign_out_devices">"Also sign out my devices and apps"</label>
                            </div>
                            <p class="hint" id="sign_out_devices_hint">
                                "Every command-line tool and app you approved stops working until you approve it again. Keep this ticked if someone else may have known your password. "
                                <a href=MY_APPS_PATH>"See your devices and apps"</a>
                            </p>
                            <button type="submit" class="button primary">"Change password"</button>
                        </ActionForm>
                    }.into_any(),
                }}
            </section>
        })}
    }
}

/// `/signin/forgot`: ask for a reset link by email.
#[component]
pub fn ForgotPasswordPage() -> impl IntoView {
    let query = use_query_map();
    let request = ServerAction::<RequestPasswordReset>::new();
    let data = Resource::new_blocking(
        move || (query.read().get("sent"), query.read().get("error")),
        |(sent, error)| load_forgot_page(sent, error),
    );
    view! {
        <Title text="Forgot your password · Gatehouse"/>
        {loaded(data, move |page: ForgotPage| view! {
            <section class="card" aria-labelledby="forgot-title">
                <h1 id="forgot-title">"Forgot your password"</h1>
                {if !page.available {
                    view! { <Notice code=crate::error::AppErrorCode::PasswordResetOff/> }.into_any()
                } else if page.sent {
                    view! {
                        <p class="notice notice-ok" role="status">
                            "If that address belongs to a Gatehouse account, a link to choose a new password is on its way. It works once, for "
                            {page.link_minutes}" minutes. Check your spam folder if it does not arrive."
                        </p>
                        <p><a href=SIGNIN_PATH>"Back to sign in"</a></p>
                    }.into_any()
                } else {
                    view! {
                        <p>"Type the email address you sign in with. We will send a link to choose a new password."</p>
                        {page.notice.map(|code| view! { <Notice code=code/> })}
                        <ActionForm action=request>
                            <input type="hidden" name="csrf_token" value=page.csrf_token/>
                            <div class="field">
                                <label for="email">"Email"</label>
                                <input id="email" name="email" type="email" autocomplete="username" required/>
                            </div>
                            <button type="submit" class="button primary">"Send the link"</button>
                        </ActionForm>
                        <p><a href=SIGNIN_PATH>"Back to sign in"</a></p>
                    }.into_any()
                }}
            </section>
        })}
    }
}

/// `/signin/reset?token=`: choose a new password through an emailed link.
#[component]
pub fn ResetPasswordPage() -> impl IntoView {
    let query = use_query_map();
    let reset = ServerAction::<ResetPassword>::new();
    let data = Resource::new_blocking(
        move || (query.read().get("token"), query.read().get("error")),
        |(token, error)| load_reset_page(token, error),
    );
    view! {
        <Title text="Choose a new password · Gatehouse"/>
        {loaded(data, move |page: ResetPage| view! {
            <section class="card" aria-labelledby="reset-title">
                <h1 id="reset-title">"Choose a new password"</h1>
                {page.notice.map(|code| view! { <Notice code=code/> })}
                {match page.token {
                    None => view! {
                        <p><a class="button primary" href=FORGOT_PASSWORD_PATH>"Ask for a new link"</a></p>
                    }.into_any(),
                    Some(token) => view! {
                        <p>"Setting it signs out every browser signed in as you."</p>
                        <ActionForm action=reset>
                            <input type="hidden" name="csrf_token" value=page.csrf_token/>
                            <input type="hidden" name="token" value=token/>
                            <NewPasswordFields/>
                            <button type="submit" class="button primary">"Set the new password"</button>
                        </ActionForm>
                    }.into_any(),
                }}
            </section>
        })}
    }
}
