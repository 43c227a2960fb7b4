//! `/settings/security`: a person's passkeys (add, rename, remove) and
//! "passkeys only" (the password off). Adding needs JavaScript (WebAuthn);
//! everything else is a plain form.

use crate::components::{PasskeyRegister, loaded};
use crate::error::AppErrorCode;
use crate::server_fns::passkeys::{
    PasskeyRow, RemovePasskey, RenamePasskey, SecurityPage as Page, SetPasswordless, load_security_page,
};
use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

fn done_words(done: &str) -> &'static str {
    match done {
        "added" => "Your passkey was added. You can sign in with it from now on.",
        "renamed" => "The passkey was renamed.",
        "removed" => "The passkey was removed. It no longer signs you in here.",
        "password_off" => "Your password is off: you sign in with a passkey only.",
        _ => "Your password is on again: you can sign in with it or with a passkey.",
    }
}

/// `/settings/security`.
#[component]
pub fn SecurityPage() -> impl IntoView {
    let query = use_query_map();
    let data = Resource::new_blocking(
        move || {
            let q = query.read();
            (q.get("error"), q.get("done"))
        },
        |(error, done)| load_security_page(error, done),
    );
    view! {
        <Title text="Security · Gatehouse"/>
        {loaded(data, move |page: Page| view! {
            <section class="card" aria-labelledby="security-title">
                <h1 id="security-title">"Security"</h1>
                {match page.managed_elsewhere.clone() {
                    Some(provider) => view! {
                        <p>"You sign in with "<strong>{provider}</strong>" as "{page.email.clone()}
                        ", so your passkeys and password are set up there, not here."</p>
                    }.into_any(),
                    None => own_security(page).into_any(),
                }}
            </section>
        })}
    }
}

fn own_security(page: Page) -> impl IntoView {
    let rename = ServerAction::<RenamePasskey>::new();
    let remove = ServerAction::<RemovePasskey>::new();
    let password = ServerAction::<SetPasswordless>::new();
    let csrf = page.csrf_token.clone();
    let count = page.passkeys.len();
    view! {
        <p>
            "A passkey signs you in with your device's screen lock (a fingerprint, face or PIN) instead of a password. "
            "It only works on this site, so a look-alike page cannot trick you into giving it away."
        </p>
        {page.done.as_deref().map(|done| view! { <p class="notice notice-ok" role="status">{done_words(done)}</p> })}
        {page.notice.map(|code| view! { <p class="notice notice-error" role="alert">{code.message()}</p> })}
        <h2 id="passkeys-title">"Your passkeys"</h2>
        {if page.passkeys.is_empty() {
            view! { <p>"You have no passkeys yet."</p> }.into_any()
        } else {
            view! {
                <ul class="passkey-list" aria-labelledby="passkeys-title">
                    {page.passkeys.into_iter().map(|row| passkey_item(row, &csrf, rename, remove)).collect_view()}
                </ul>
            }.into_any()
        }}
        {match page.off_because.clone() {
            Some(why) => view! {
                <p class="notice notice-info">{format!("{} ({why})", AppErrorCode::PasskeysOff.message())}</p>
            }.into_any(),
            None => view! { <PasskeyRegister csrf_token=page.csrf_token.clone()/> }.into_any(),
        }}
        <h2>"Password"</h2>
        {if page.passwordless {
            view! {
                <p>"Your password is off: you sign in with a passkey only, and nobody can sign in as you with a password or ask for a password reset."</p>
                <ActionForm action=password>
                    <input type="hidden" name="csrf_token" value=page.csrf_token.clone()/>
                    <input type="hidden" name="passwordless" value="off"/>
                    <button type="submit" class="button">"Turn my password back on"</button>
                </ActionForm>
            }.into_any()
        } else {
            view! {
                <p>
                    "With a passkey, you can turn your password off, so a stolen or guessed password cannot sign in as you. "
                    {(count == 0).then_some("Add a passkey first.")}
                </p>
                <ActionForm action=password>
                    <input type="hidden" name="csrf_token" value=page.csrf_token.clone()/>
                    <input type="hidden" name="passwordless" value="on"/>
                    <button type="submit" class="button" disabled=count == 0>"Use passkeys only"</button>
                </ActionForm>
            }.into_any()
        }}
    }
}

fn passkey_item(
    row: PasskeyRow,
    csrf: &str,
    rename: ServerAction<RenamePasskey>,
    remove: ServerAction<RemovePasskey>,
) -> impl IntoView {
    let name_id = format!("passkey-{}-name", row.id);
    let used = row.last_used.clone().map_or_else(|| "never used yet".to_owned(), |at| format!("last used {at}"));
    let synced = if row.synced { ", synced to your other devices" } else { "" };
    let facts = format!(" — added {}, {used}{synced}.", row.added);
    let (rename_csrf, remove_csrf) = (csrf.to_owned(), csrf.to_owned());
    let (rename_id, remove_id) = (row.id.clone(), row.id);
    let rename_label = format!("New name for {}", row.name);
    let remove_label = format!("Remove {}", row.name);
    let current = row.name.clone();
    view! {
        <li class="passkey">
            <p><strong>{row.name}</strong>{facts}</p>
            <ActionForm action=rename attr:class="inline">
                <input type="hidden" name="csrf_token" value=rename_csrf/>
                <input type="hidden" name="id" value=rename_id/>
                <label for=name_id.clone()>{rename_label}</label>
                <input id=name_id name="name" type="text" maxlength="60" required value=current/>
                <button type="submit" class="button">"Rename"</button>
            </ActionForm>
            <ActionForm action=remove attr:class="inline">
                <input type="hidden" name="csrf_token" value=remove_csrf/>
                <input type="hidden" name="id" value=remove_id/>
                <button type="submit" class="button danger" aria-label=remove_label>"Remove"</button>
            </ActionForm>
        </li>
    }
}
