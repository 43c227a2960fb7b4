//! `/admin/clients`: register, edit, disable and enable clients, and
//! rotate a confidential client's secret.

use super::AdminNav;
use super::approval_policy::ApprovalPolicyEditor;
use crate::components::Notice;
use crate::server_fns::admin_clients::{
    ADMIN_CLIENTS_PATH, AdminClientAction, AdminClientsPage as PageData, AdminRegisterClient, AdminUpdateClient,
    ClientConfirm, ClientRow, done_message, load_admin_clients,
};
use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// `/admin/clients`: the OAuth clients, and registering and changing them.
#[component]
pub fn AdminClientsPage() -> impl IntoView {
    let query = use_query_map();
    let data = Resource::new_blocking(
        move || {
            let q = query.read();
            (q.get("edit"), q.get("confirm"), q.get("error"), q.get("done"))
        },
        |(edit, confirm, error, done)| load_admin_clients(edit, confirm, error, done),
    );
    view! {
        <Title text="Clients · Admin · Gatehouse"/>
        {crate::components::loaded(data, clients_view)}
    }
}

fn clients_view(page: PageData) -> impl IntoView {
    let action = ServerAction::<AdminClientAction>::new();
    let register = ServerAction::<AdminRegisterClient>::new();
    let update = ServerAction::<AdminUpdateClient>::new();
    let done = page.done.as_deref().and_then(done_message);
    let csrf = page.csrf_token.clone();
    let known = page.known_scopes.clone();
    view! {
        <section class="card wide" aria-labelledby="clients-title">
            <AdminNav current=ADMIN_CLIENTS_PATH/>
            <h1 id="clients-title">"Clients"</h1>
            {page.notice.map(|code| view! { <Notice code=code/> })}
            {done.map(|text| view! { <p class="notice notice-ok" role="status">{text}</p> })}
            {page.secret_once.map(|once| view! {
                <div class="secret-once" role="status">
                    <h2>"The secret of "{once.client_id}</h2>
                    <p>"Copy it now and store it safely. It is shown only this once; Gatehouse keeps only its hash."</p>
                    <p><code class="secret">{once.secret}</code></p>
                </div>
            })}
            {page.confirm.map(|confirm| view! { <ConfirmClient confirm=confirm csrf=csrf.clone() action=action/> })}
            {page.editing.map(|client| view! {
                <EditClient client=client.clone() csrf=csrf.clone() known=known.clone() update=update/>
                <ApprovalPolicyEditor client=client csrf=csrf.clone()/>
            })}
            <ul class="app-list">
                {page.clients.into_iter().map(|client| view! { <ClientItem client=client csrf=csrf.clone() action=action/> }).collect_view()}
            </ul>
            <RegisterClient csrf=csrf.clone() known=known register=register/>
        </section>
    }
}

#[component]
fn ClientItem(client: ClientRow, csrf: String, action: ServerAction<AdminClientAction>) -> impl IntoView {
    let title = format!("{} ({})", client.name, client.client_id);
    let facts = format!(
        "{} · {} · scopes: {} · device sign-in {} · refresh tokens {} · DPoP {} · registered {}",
        client.client_type,
        if client.disabled { "disabled" } else { "enabled" },
        client.scopes,
        if client.device_grant { "allowed" } else { "not allowed" },
        if client.refresh { "issued" } else { "not issued" },
        client.dpop,
        client.created
    );
    let id = client.client_id.clone();
    let enc = crate::navigation::encode_query_value(&client.client_id);
    let edit = format!("{ADMIN_CLIENTS_PATH}?edit={enc}");
    let tokens = format!("{}?client={enc}", crate::navigation::ADMIN_APPS_PATH);
    let disable = format!("{ADMIN_CLIENTS_PATH}?confirm=disable%3A{enc}");
    let rotate = (client.client_type == "confidential").then(|| format!("{ADMIN_CLIENTS_PATH}?confirm=rotate%3A{enc}"));
    let enable_label = format!("Enable {}", client.client_id);
    view! {
        <li class="app">
            <h2 class="app-title">{title}</h2>
            <p class="muted">{facts}</p>
            <div class="row-actions">
                <a href=edit>"Edit"</a>
                <a href=tokens>"Tokens"</a>
                {rotate.map(|href| view! { <a href=href>"New secret…"</a> })}
                {if client.disabled {
                    view! {
                        <ActionForm action=action attr:class="inline">
                            <input type="hidden" name="client_id" value=id/>
                            <input type="hidden" name="action" value="enable"/>
                            <input type="hidden" name="csrf_token" value=csrf/>
                            <button type="submit" class="button link" aria-label=enable_label>"Enable"</button>
                        </ActionForm>
                    }.into_any()
                } else {
                    view! { <a href=disable>"Disable…"</a> }.into_any()
                }}
            </div>
        </li>
    }
}

#[component]
fn ConfirmClient(confirm: ClientConfirm, csrf: String, action: ServerAction<AdminClientAction>) -> impl IntoView {
    let (client, verb, question, button) = match confirm {
        ClientConfirm::Disable(client) => {
            let q = format!(
                "Disable {} ({})? It can no longer start sign-ins, poll, revoke or introspect. Tokens already issued keep working until revoked.",
                client.name, client.client_id
            );
            (client, "disable", q, "Yes, disable")
        }
        ClientConfirm::RotateSecret(client) => {
            let q = format!(
                "Issue a new secret for {} ({})? The current secret stops working at once, so update every place that uses it.",
                client.name, client.client_id
            );
            (client, "rotate_secret", q, "Yes, issue a new secret")
        }
    };
    view! {
        <div class="confirm" role="alertdialog" aria-labelledby="confirm-title" aria-describedby="confirm-text">
            <h2 id="confirm-title">"Please confirm"</h2>
            <p id="confirm-text">{question}</p>
            <ActionForm action=action>
                <input type="hidden" name="client_id" value=client.client_id/>
                <input type="hidden" name="action" value=verb/>
                <input type="hidden" name="csrf_token" value=csrf/>
                <button type="submit" class="button danger">{button}</button>
            </ActionForm>
            <p><a href=ADMIN_CLIENTS_PATH>"Cancel"</a></p>
        </div>
    }
}

#[component]
fn EditClient(
    client: ClientRow,
    csrf: String,
    known: Vec<(String, String)>,
    update: ServerAction<AdminUpdateClient>,
) -> impl IntoView {
    let allowed: Vec<String> = client.scopes.split(' ').map(str::to_owned).collect();
    let heading = format!("Edit {}", client.client_id);
    view! {
        <div class="edit-panel">
            <h2 id="edit-title">{heading}</h2>
            <ActionForm action=update attr:aria-labelledby="edit-title">
                <input type="hidden" name="client_id" value=client.client_id/>
                <input type="hidden" name="csrf_token" value=csrf/>
                <div class="field">
                    <label for="edit-name">"Name people see when approving"</label>
                    <input id="edit-name" name="name" type="text" value=client.name required maxlength="100"/>
                </div>
                <ScopeChoices prefix="edit" known=known allowed=allowed/>
                <div class="field checkbox">
                    <input id="edit-device" name="device_grant" type="checkbox" value="on" checked=client.device_grant/>
                    <label for="edit-device">"May use device sign-in"</label>
                </div>
                <div class="field checkbox">
                    <input id="edit-refresh" name="refresh" type="checkbox" value="on" checked=client.refresh/>
                    <label for="edit-refresh">"Gets refresh tokens (its devices stay signed in until the grant ends)"</label>
                </div>
                <div class="field">
                    <label for="edit-dpop">"Key-bound tokens (DPoP)"</label>
                    <p class="hint" id="edit-dpop-hint">
                        "Bound tokens work only with the key the device proved it holds, so a copied token is useless elsewhere. Allowed: bound when the device sends a proof. Required: every device must. Off: plain bearer tokens only."
                    </p>
                    <select id="edit-dpop" name="dpop" aria-describedby="edit-dpop-hint">
                        {[("allowed", "Allowed"), ("required", "Required"), ("off", "Off")]
                            .into_iter()
                            .map(|(value, label)| view! { <option value=value selected=client.dpop == value>{label}</option> })
                            .collect_view()}
                    </select>
                </div>
                <fieldset class="field">
                    <legend>"Lifetimes, in seconds (leave empty for the server's default)"</legend>
                    <SecondsField id="edit-access-ttl" name="access_token_ttl" label="Access token" value=client.access_token_ttl/>
                    <SecondsField id="edit-grant-ttl" name="grant_ttl" label="Grant, at most (with refresh tokens)" value=client.grant_ttl/>
                    <SecondsField id="edit-idle-ttl" name="grant_idle_ttl" label="Grant, unrefreshed (with refresh tokens)" value=client.grant_idle_ttl/>
                    <SecondsField id="edit-interval" name="poll_interval" label="Device polling interval" value=client.poll_interval/>
                </fieldset>
                <button type="submit" class="button primary">"Save"</button>
                " "
                <a href=ADMIN_CLIENTS_PATH>"Cancel"</a>
            </ActionForm>
        </div>
    }
}

/// The scope registry as checkboxes (`scopes[]`), with each scope's words:
/// an admin picks what the client may ask for, never types a name.
#[component]
fn ScopeChoices(prefix: &'static str, known: Vec<(String, String)>, allowed: Vec<String>) -> impl IntoView {
    view! {
        <fieldset class="field">
            <legend>"Scopes it may ask for"</legend>
            <p class="hint">"Add scopes on the " <a href=crate::navigation::ADMIN_SCOPES_PATH>"Scopes"</a> " page."</p>
            {known.into_iter().enumerate().map(|(i, (name, description))| {
                let id = format!("{prefix}-scope-{i}");
                let checked = allowed.contains(&name);
                view! {
                    <div class="checkbox">
                        <input id=id.clone() name="scopes[]" type="checkbox" value=name.clone() checked=checked/>
                        <label for=id><code>{name}</code>": "{description}</label>
                    </div>
                }
            }).collect_view()}
        </fieldset>
    }
}

#[component]
fn SecondsField(id: &'static str, name: &'static str, label: &'static str, value: String) -> impl IntoView {
    view! {
        <div class="field">
            <label for=id>{label}</label>
            <input id=id name=name type="number" min="1" inputmode="numeric" value=value/>
        </div>
    }
}

#[component]
fn RegisterClient(
    csrf: String,
    known: Vec<(String, String)>,
    register: ServerAction<AdminRegisterClient>,
) -> impl IntoView {
    view! {
        <h2 id="register-title">"Register a client"</h2>
        <ActionForm action=register attr:aria-labelledby="register-title">
            <input type="hidden" name="csrf_token" value=csrf/>
            <div class="field">
                <label for="new-client-id">"Client id"</label>
                <input id="new-client-id" name="client_id" type="text" required maxlength="64" autocomplete="off" spellcheck="false"/>
            </div>
            <div class="field">
                <label for="new-client-name">"Name people see when approving"</label>
                <input id="new-client-name" name="name" type="text" required maxlength="100" autocomplete="off"/>
            </div>
            <fieldset class="field">
                <legend>"Type"</legend>
                <div class="checkbox">
                    <input id="type-public" name="client_type" type="radio" value="public" checked/>
                    <label for="type-public">"Public (a CLI or app that cannot keep a secret)"</label>
                </div>
                <div class="checkbox">
                    <input id="type-confidential" name="client_type" type="radio" value="confidential"/>
                    <label for="type-confidential">"Confidential (gets a secret, shown once)"</label>
                </div>
            </fieldset>
            <ScopeChoices prefix="new-client" known=known allowed=vec!["full".to_owned()]/>
            <div class="field checkbox">
                <input id="new-client-device" name="device_grant" type="checkbox" value="on" checked/>
                <label for="new-client-device">"May use device sign-in"</label>
            </div>
            <div class="field checkbox">
                <input id="new-client-refresh" name="refresh" type="checkbox" value="on"/>
                <label for="new-client-refresh">"Gets refresh tokens (its devices stay signed in until the grant ends)"</label>
            </div>
            <button type="submit" class="button primary">"Register client"</button>
        </ActionForm>
    }
}
