//! `/settings/authorized-apps`: a person's own devices and apps, what each
//! may do, and revoking one or all; `AppDetails` is shared with the admin
//! listing.

use crate::components::{Notice, RevokedNotice};
use crate::server_fns::console::{AuthorizedApp, MY_APPS_PATH, MyAppsPage, RevokeAllMyApps, RevokeMyApp, load_my_apps};
use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// `/settings/authorized-apps`: the devices and apps signed in as you.
#[component]
pub fn MyAppsPage() -> impl IntoView {
    let query = use_query_map();
    let revoke = ServerAction::<RevokeMyApp>::new();
    let revoke_all = ServerAction::<RevokeAllMyApps>::new();
    let data = Resource::new_blocking(
        move || {
            let q = query.read();
            (q.get("confirm"), q.get("error"), q.get("revoked"))
        },
        |(confirm, error, revoked)| load_my_apps(confirm, error, revoked),
    );
    view! {
        <Title text="Your devices · Gatehouse"/>
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(page) => my_apps_view(page, revoke, revoke_all).into_any(),
                    Err(err) => view! { <Notice code=err.error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

fn my_apps_view(
    page: MyAppsPage,
    revoke: ServerAction<RevokeMyApp>,
    revoke_all: ServerAction<RevokeAllMyApps>,
) -> impl IntoView {
    let count = page.apps.len();
    let csrf = page.csrf_token.clone();
    view! {
        <section class="card wide" aria-labelledby="apps-title">
            <h1 id="apps-title">"Your devices and apps"</h1>
            <p>"These can act as you until they expire or you revoke their access. Revoking takes effect at once."</p>
            {page.notice.map(|code| view! { <Notice code=code/> })}
            {page.revoked.map(|count| view! { <RevokedNotice count=count/> })}
            {if page.apps.is_empty() {
                view! { <p class="empty">"Nothing is signed in as you."</p> }.into_any()
            } else {
                view! {
                    <ul class="app-list">
                        {page.apps.into_iter().map(|app| {
                            let csrf = csrf.clone();
                            view! { <MyAppItem app=app csrf=csrf revoke=revoke/> }
                        }).collect_view()}
                    </ul>
                    {if page.confirm_revoke_all {
                        view! {
                            <div class="confirm" role="alertdialog" aria-labelledby="confirm-title" aria-describedby="confirm-text">
                                <h2 id="confirm-title">"Revoke every device’s access?"</h2>
                                <p id="confirm-text">
                                    {format!("All {count} devices and apps above will stop working at once. You will need to sign in on each of them again.")}
                                </p>
                                <ActionForm action=revoke_all>
                                    <input type="hidden" name="csrf_token" value=page.csrf_token.clone()/>
                                    <button type="submit" class="button danger">"Yes, revoke all"</button>
                                    " "
                                    <a class="button secondary" href=MY_APPS_PATH>"Cancel"</a>
                                </ActionForm>
                            </div>
                        }.into_any()
                    } else {
                        view! {
                            <p><a class="button secondary" href=format!("{MY_APPS_PATH}?confirm=revoke-all")>"Revoke all access…"</a></p>
                        }.into_any()
                    }}
                }.into_any()
            }}
        </section>
    }
}

/// One device or app, with its sign-out button.
#[component]
fn MyAppItem(app: AuthorizedApp, csrf: String, revoke: ServerAction<RevokeMyApp>) -> impl IntoView {
    let label = app.device_label.clone().unwrap_or_else(|| "Unnamed device".to_owned());
    // Not "Sign out": that is the header's button, for this browser.
    let button_label = format!("Revoke access of {} on {label}", app.client_name);
    let title = format!("{} · {label}", app.client_name);
    let (client_id, token_id) = (app.client_id.clone(), app.token_id.clone());
    view! {
        <li class="app">
            <h2 class="app-title">{title}</h2>
            <p class="muted">"Device name as reported by the device. Application id "<code>{client_id}</code>"."</p>
            <AppDetails app=app/>
            <ActionForm action=revoke>
                <input type="hidden" name="token_id" value=token_id/>
                <input type="hidden" name="csrf_token" value=csrf/>
                <button type="submit" class="button secondary" aria-label=button_label>"Revoke access"</button>
            </ActionForm>
        </li>
    }
}

/// The facts about a grant: what it may do, when it was made, last used and
/// refreshed, whether its tokens are bound to the device's key, and when it
/// ends. `of_someone_else` (an admin's view): the scopes' words speak to
/// the person who approved them ("act as you"), so they are quoted as the
/// holder's, not said to the admin.
#[component]
pub fn AppDetails(app: AuthorizedApp, #[prop(optional)] of_someone_else: bool) -> impl IntoView {
    let last_used = match (app.last_used, app.last_used_ip) {
        (Some(at), Some(ip)) => format!("{at} from {ip}"),
        (Some(at), None) => at,
        (None, _) => "Not used yet".to_owned(),
    };
    let refreshed = app.refreshable.then(|| {
        let at = app.last_refreshed.unwrap_or_else(|| "Not yet".to_owned());
        view! {
            <dt>"Last refreshed"</dt>
            <dd>{at}</dd>
        }
    });
    let expires =
        if app.refreshable { format!("{} unless the device refreshes before then", app.expires) } else { app.expires };
    let approval = app.approval.map(|words| {
        view! {
            <dt>"Approval"</dt>
            <dd>{words}</dd>
        }
    });
    view! {
        <dl class="facts">
            {if of_someone_else {
                let quoted = app.scopes.iter().map(|s| format!("“{}”", s.description)).collect::<Vec<_>>();
                view! {
                    <dt>"Can, in the words its holder approved"</dt>
                    <dd>{quoted.join("; ")}</dd>
                }.into_any()
            } else {
                view! {
                    <dt>"Can"</dt>
                    <dd>{app.scopes.iter().map(|s| s.description.clone()).collect::<Vec<_>>().join("; ")}</dd>
                }.into_any()
            }}
            <dt>"Signed in"</dt>
            <dd>{app.created}</dd>
            {approval}
            <dt>"Last used"</dt>
            <dd>{last_used}</dd>
            {refreshed}
            <dt>"Protection"</dt>
            <dd>
                {if app.key_bound {
                    "Bound to a key on the device: a copy of its token is useless elsewhere"
                } else {
                    "Bearer token: whoever holds a copy can use it"
                }}
            </dd>
            <dt>"Expires"</dt>
            <dd>{expires}</dd>
        </dl>
    }
}
