//! `/admin/accounts`: find, create, disable and enable accounts, and who
//! is an administrator.

use super::{AdminNav, Pager};
use crate::components::Notice;
use crate::server_fns::admin_accounts::{
    ADMIN_ACCOUNTS_PATH, AccountRow, AdminAccountsPage as PageData, AdminChangeAccount, AdminCreateAccount,
    accounts_url, done_message, load_admin_accounts,
};
use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// `/admin/accounts`: find, create, disable and enable accounts, and manage
/// who is an administrator.
#[component]
pub fn AdminAccountsPage() -> impl IntoView {
    let query = use_query_map();
    let data = Resource::new_blocking(
        move || {
            let q = query.read();
            (q.get("q"), q.get("after"), q.get("confirm"), q.get("error"), q.get("done"))
        },
        |(q, after, confirm, error, done)| load_admin_accounts(q, after, confirm, error, done),
    );
    view! {
        <Title text="Accounts · Admin · Gatehouse"/>
        {crate::components::loaded(data, accounts_view)}
    }
}

fn accounts_view(page: PageData) -> impl IntoView {
    let change = ServerAction::<AdminChangeAccount>::new();
    let create = ServerAction::<AdminCreateAccount>::new();
    let done = page.done.as_deref().and_then(done_message);
    let q = page.q.clone();
    let confirm_csrf = page.csrf_token.clone();
    view! {
        <section class="card wide" aria-labelledby="accounts-title">
            <AdminNav current=ADMIN_ACCOUNTS_PATH/>
            <h1 id="accounts-title">"Accounts"</h1>
            {page.notice.map(|code| view! { <Notice code=code/> })}
            {done.map(|text| view! { <p class="notice notice-ok" role="status">{text}</p> })}
            {page.confirm_disable.clone().map(|account| {
                let cancel = accounts_url(&q, &[]);
                view! {
                    <div class="confirm" role="alertdialog" aria-labelledby="confirm-title" aria-describedby="confirm-text">
                        <h2 id="confirm-title">"Please confirm"</h2>
                        <p id="confirm-text">
                            {format!("Disable {} ({})? Every device and app signed in as them stops working at once, their browser sessions end, and they cannot sign in until the account is enabled again.", account.name, account.email)}
                        </p>
                        <ActionForm action=change>
                            <input type="hidden" name="account_id" value=account.id/>
                            <input type="hidden" name="change" value="disable"/>
                            <input type="hidden" name="csrf_token" value=confirm_csrf/>
                            <input type="hidden" name="q" value=q.clone()/>
                            <button type="submit" class="button danger">"Yes, disable"</button>
                        </ActionForm>
                        <p><a href=cancel>"Cancel"</a></p>
                    </div>
                }
            })}
            <form class="filters" method="get" action=ADMIN_ACCOUNTS_PATH role="search" aria-label="Find accounts">
                <div class="field">
                    <label for="account-q">"Email or name contains"</label>
                    <input id="account-q" name="q" type="text" value=page.q.clone() autocomplete="off"/>
                </div>
                <button type="submit" class="button">"Search"</button>
            </form>
            {if page.accounts.is_empty() {
                view! { <p class="empty">"No accounts match."</p> }.into_any()
            } else {
                let csrf = page.csrf_token.clone();
                let q = page.q.clone();
                view! {
                    <ul class="app-list">
                        {page.accounts.into_iter().map(|account| {
                            view! { <AccountItem account=account csrf=csrf.clone() q=q.clone() change=change/> }
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
            <Pager first=page.is_later_page.then(|| accounts_url(&page.q, &[])) next=page.next_page/>
            <CreateAccountForm csrf=page.csrf_token create=create/>
        </section>
    }
}

/// One account with its actions.
#[component]
fn AccountItem(
    account: AccountRow,
    csrf: String,
    q: String,
    change: ServerAction<AdminChangeAccount>,
) -> impl IntoView {
    let title = format!("{} ({})", account.name, account.email);
    let mut badges = Vec::new();
    if account.is_admin {
        badges.push("administrator");
    }
    badges.push(if account.disabled { "disabled" } else { "active" });
    let passkeys = match (account.passkeys, account.passwordless) {
        (0, _) => "no passkeys".to_owned(),
        (1, false) => "1 passkey".to_owned(),
        (n, false) => format!("{n} passkeys"),
        (n, true) => format!("{n} passkey{}, password off", if n == 1 { "" } else { "s" }),
    };
    let passkeys_label = format!("Remove all passkeys: {}", account.email);
    let has_passkeys = account.passkeys > 0;
    let (id3, csrf3, q3) = (account.id.clone(), csrf.clone(), q.clone());
    let devices = format!(
        "{}?email={}",
        crate::navigation::ADMIN_APPS_PATH,
        crate::navigation::encode_query_value(&account.email)
    );
    let confirm_disable = accounts_url(&q, &[("confirm", &format!("disable:{}", account.email))]);
    // Each accessible name starts with the visible text (WCAG 2.5.3).
    let admin_text = if account.is_admin { "Remove admin" } else { "Make admin" };
    let admin_change = if account.is_admin { "remove_admin" } else { "grant_admin" };
    let admin_label = format!("{admin_text}: {}", account.email);
    let enable_label = format!("Enable {}", account.email);
    let (id, id2) = (account.id.clone(), account.id.clone());
    let (csrf2, q2) = (csrf.clone(), q.clone());
    view! {
        <li class="app">
            <h2 class="app-title">{title}</h2>
            <p class="muted">{badges.join(" · ")}" · "{passkeys}" · created "{account.created}</p>
            <div class="row-actions">
                <a href=devices>"Devices and apps"</a>
                {if account.disabled {
                    view! {
                        <ActionForm action=change attr:class="inline">
                            <input type="hidden" name="account_id" value=id/>
                            <input type="hidden" name="change" value="enable"/>
                            <input type="hidden" name="csrf_token" value=csrf/>
                            <input type="hidden" name="q" value=q/>
                            <button type="submit" class="button link" aria-label=enable_label>"Enable"</button>
                        </ActionForm>
                    }.into_any()
                } else {
                    view! { <a href=confirm_disable>"Disable…"</a> }.into_any()
                }}
                <ActionForm action=change attr:class="inline">
                    <input type="hidden" name="account_id" value=id2/>
                    <input type="hidden" name="change" value=admin_change/>
                    <input type="hidden" name="csrf_token" value=csrf2/>
                    <input type="hidden" name="q" value=q2/>
                    <button type="submit" class="button link" aria-label=admin_label>{admin_text}</button>
                </ActionForm>
                {has_passkeys.then(|| view! {
                    // For a lost device: the person then resets their password.
                    <ActionForm action=change attr:class="inline">
                        <input type="hidden" name="account_id" value=id3/>
                        <input type="hidden" name="change" value="remove_passkeys"/>
                        <input type="hidden" name="csrf_token" value=csrf3/>
                        <input type="hidden" name="q" value=q3/>
                        <button type="submit" class="button link" aria-label=passkeys_label>"Remove all passkeys"</button>
                    </ActionForm>
                })}
            </div>
        </li>
    }
}

/// Creating an account: email, name, initial password, admin or not.
#[component]
fn CreateAccountForm(csrf: String, create: ServerAction<AdminCreateAccount>) -> impl IntoView {
    view! {
        <h2 id="create-title">"Create an account"</h2>
        <ActionForm action=create attr:aria-labelledby="create-title">
            <input type="hidden" name="csrf_token" value=csrf/>
            <div class="field">
                <label for="new-email">"Email"</label>
                <input id="new-email" name="email" type="email" autocomplete="off" required/>
            </div>
            <div class="field">
                <label for="new-name">"Name"</label>
                <input id="new-name" name="name" type="text" autocomplete="off" required/>
            </div>
            <div class="field">
                <label for="new-password">"Initial password"</label>
                <p class="hint" id="new-password-hint">"At least 8 characters. Give it to the person through a channel you trust."</p>
                <input id="new-password" name="password" type="password" autocomplete="new-password" minlength="8" required aria-describedby="new-password-hint"/>
            </div>
            <div class="field checkbox">
                <input id="new-admin" name="is_admin" type="checkbox" value="on"/>
                <label for="new-admin">"Administrator"</label>
            </div>
            <button type="submit" class="button primary">"Create account"</button>
        </ActionForm>
    }
}
