//! `/admin/authorized-apps`: every token of every person, filtered and
//! paged, with revoking one, a person's or a client's after a confirmation.

use super::{AdminNav, Pager};
use crate::components::{Notice, RevokedNotice};
use crate::pages::my_apps::AppDetails;
use crate::server_fns::admin::{
    AdminAppsFilter, AdminAppsPage as PageData, AdminConfirm, AdminRevokeApp, AdminRevokeClient, AdminRevokeUser,
    load_admin_apps,
};
use crate::server_fns::console::AuthorizedApp;
use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// The admin's three revoke actions, shared by the rows and the confirmation.
#[derive(Clone, Copy)]
struct Actions {
    one: ServerAction<AdminRevokeApp>,
    user: ServerAction<AdminRevokeUser>,
    client: ServerAction<AdminRevokeClient>,
}

/// `/admin/authorized-apps`: every token of every user.
#[component]
pub fn AdminAppsPage() -> impl IntoView {
    let query = use_query_map();
    let actions = Actions {
        one: ServerAction::<AdminRevokeApp>::new(),
        user: ServerAction::<AdminRevokeUser>::new(),
        client: ServerAction::<AdminRevokeClient>::new(),
    };
    let data = Resource::new_blocking(
        move || {
            let q = query.read();
            let filter = AdminAppsFilter {
                email: q.get("email").unwrap_or_default(),
                client: q.get("client").unwrap_or_default(),
                status: q.get("status").unwrap_or_default(),
                crossed: q.get("crossed").unwrap_or_default(),
            };
            (filter, q.get("after"), q.get("confirm"), q.get("issuer"), q.get("error"), q.get("revoked"))
        },
        |(filter, after, confirm, issuer, error, revoked)| {
            load_admin_apps(filter, after, confirm, issuer, error, revoked)
        },
    );
    view! {
        <Title text="Authorized apps · Admin · Gatehouse"/>
        {crate::components::loaded(data, move |page| admin_apps_view(page, actions))}
    }
}

fn admin_apps_view(page: PageData, actions: Actions) -> impl IntoView {
    let here = page.filter.url(&[]);
    let filter = page.filter.clone();
    view! {
        <section class="card wide" aria-labelledby="admin-apps-title">
            <AdminNav current=crate::server_fns::admin::ADMIN_APPS_PATH/>
            <h1 id="admin-apps-title">"Authorized apps"</h1>
            <p>"Every token held for every user, most recently used first. Revoking takes effect at once."</p>
            {page.notice.map(|code| view! { <Notice code=code/> })}
            {page.revoked.map(|count| view! { <RevokedNotice count=count/> })}
            {page.confirm.clone().map(|confirm| view! {
                <ConfirmRevoke confirm=confirm csrf=page.csrf_token.clone() back=here.clone() actions=actions/>
            })}
            <FilterForm filter=page.filter.clone() clients=page.clients.clone()/>
            {if page.apps.is_empty() {
                view! { <p class="empty">"No tokens match."</p> }.into_any()
            } else {
                view! {
                    <ul class="app-list">
                        {page.apps.into_iter().map(|app| view! { <AdminAppItem app=app filter=filter.clone()/> }).collect_view()}
                    </ul>
                }.into_any()
            }}
            <Pager first=page.is_later_page.then(|| page.filter.url(&[])) next=page.next_page/>
        </section>
    }
}

/// Filter by user, client and status (a GET form: filtering changes nothing).
#[component]
fn FilterForm(filter: AdminAppsFilter, clients: Vec<crate::server_fns::admin::ClientChoice>) -> impl IntoView {
    view! {
        <form class="filters" method="get" action=crate::server_fns::admin::ADMIN_APPS_PATH role="search" aria-label="Filter tokens">
            <div class="field">
                <label for="filter-email">"User email"</label>
                <input id="filter-email" name="email" type="email" value=filter.email.clone() autocomplete="off"/>
            </div>
            <div class="field">
                <label for="filter-client">"Application"</label>
                <select id="filter-client" name="client">
                    <option value="" selected=filter.client.is_empty()>"Any"</option>
                    {clients.into_iter().map(|c| {
                        let selected = c.client_id == filter.client;
                        let text = format!("{} ({})", c.name, c.client_id);
                        view! { <option value=c.client_id selected=selected>{text}</option> }
                    }).collect_view()}
                </select>
            </div>
            <div class="field">
                <label for="filter-status">"Status"</label>
                <select id="filter-status" name="status">
                    {STATUSES.into_iter().map(|(value, label)| {
                        view! { <option value=value selected=filter.status == value>{label}</option> }
                    }).collect_view()}
                </select>
            </div>
            <div class="field checkbox">
                <input id="filter-crossed" name="crossed" type="checkbox" value="yes" checked=filter.crossed == "yes"/>
                <label for="filter-crossed">"Only approvals from another network than the device's"</label>
            </div>
            <button type="submit" class="button">"Filter"</button>
        </form>
    }
}

/// The status filter's choices: URL value and label.
const STATUSES: [(&str, &str); 3] = [("active", "Active"), ("revoked", "Revoked"), ("expired", "Expired")];

/// One token, with links to the confirmation of each revoke.
#[component]
fn AdminAppItem(app: AuthorizedApp, filter: AdminAppsFilter) -> impl IntoView {
    let label = app.device_label.clone().unwrap_or_else(|| "Unnamed device".to_owned());
    let active = app.status == "active";
    let revoke_one = filter.url(&[("confirm", &format!("token:{}", app.token_id))]);
    let user = format!("user:{}", app.subject_email);
    let revoke_user = match &app.subject_issuer {
        Some(issuer) => filter.url(&[("confirm", &user), ("issuer", issuer)]),
        None => filter.url(&[("confirm", &user)]),
    };
    let revoke_client = filter.url(&[("confirm", &format!("client:{}", app.client_id))]);
    let user_filter = AdminAppsFilter { email: app.subject_email.clone(), ..filter.clone() }.url(&[]);
    let email = app.subject_email.clone();
    let rest = format!(" · {} · {label}", app.client_name);
    let status = app.status.clone();
    let revoke_user_text = format!("Revoke all of {}’s tokens", app.subject_email);
    let revoke_client_text = format!("Revoke all tokens of {}", app.client_name);
    // Tells an external subject apart from an account with the same email.
    let through = app
        .subject_issuer
        .as_ref()
        .map(|issuer| format!("Signed in through single sign-on ({issuer}), not a Gatehouse account."));
    view! {
        <li class="app">
            <h2 class="app-title"><a href=user_filter>{email}</a>{rest}</h2>
            {through.map(|through| view! { <p class="muted">{through}</p> })}
            <p class="muted">
                "Device name as reported by the device. Status: "<strong>{status}</strong>"."
            </p>
            <AppDetails app=app of_someone_else=true/>
            {active.then(|| view! {
                <p class="row-actions">
                    <a href=revoke_one>"Revoke this token"</a>
                    <a href=revoke_user>{revoke_user_text}</a>
                    <a href=revoke_client>{revoke_client_text}</a>
                </p>
            })}
        </li>
    }
}

/// The confirmation step before any admin revoke.
#[component]
fn ConfirmRevoke(confirm: AdminConfirm, csrf: String, back: String, actions: Actions) -> impl IntoView {
    let cancel = back.clone();
    let (question, form) = match confirm {
        AdminConfirm::Token { token_id, summary } => (
            format!("Revoke the token of {summary}?"),
            view! {
                <ActionForm action=actions.one>
                    <input type="hidden" name="token_id" value=token_id/>
                    <ConfirmFields csrf=csrf back=back.clone()/>
                </ActionForm>
            }
            .into_any(),
        ),
        AdminConfirm::User { email, issuer } => (
            match &issuer {
                Some(issuer) => format!(
                    "Revoke every token of {email} signed in through single sign-on ({issuer})? Every device and app signed in as them that way stops working at once."
                ),
                None => format!(
                    "Revoke every token of {email}? Every device and app signed in as them stops working at once."
                ),
            },
            view! {
                <ActionForm action=actions.user>
                    <input type="hidden" name="email" value=email/>
                    {issuer.map(|issuer| view! { <input type="hidden" name="issuer" value=issuer/> })}
                    <ConfirmFields csrf=csrf back=back.clone()/>
                </ActionForm>
            }
            .into_any(),
        ),
        AdminConfirm::Client { client_id, client_name } => (
            format!(
                "Revoke every token issued to {client_name} ({client_id})? Everyone signed in through it must sign in again."
            ),
            view! {
                <ActionForm action=actions.client>
                    <input type="hidden" name="client_id" value=client_id/>
                    <ConfirmFields csrf=csrf back=back.clone()/>
                </ActionForm>
            }
            .into_any(),
        ),
    };
    view! {
        <div class="confirm" role="alertdialog" aria-labelledby="confirm-title" aria-describedby="confirm-text">
            <h2 id="confirm-title">"Please confirm"</h2>
            <p id="confirm-text">{question}</p>
            {form}
            <p><a href=cancel>"Cancel"</a></p>
        </div>
    }
}

/// The CSRF token, the return path and the confirm button of a revoke form.
#[component]
fn ConfirmFields(csrf: String, back: String) -> impl IntoView {
    view! {
        <input type="hidden" name="csrf_token" value=csrf/>
        <input type="hidden" name="back" value=back/>
        <button type="submit" class="button danger">"Yes, revoke"</button>
    }
}
