//! `/admin/scopes`: the scope registry, in the words the approval page
//! shows, and who may hold each scope.

use super::AdminNav;
use crate::components::Notice;
use crate::server_fns::admin_scopes::{
    ADMIN_SCOPES_PATH, AdminCreateScope, AdminDeleteScope, AdminScopesPage as PageData, AdminUpdateScope, ScopeRow,
    done_message, holders_label, load_admin_scopes,
};
use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// `/admin/scopes`: the scopes clients may be allowed, in the words the
/// approval page shows, and who may hold each.
#[component]
pub fn AdminScopesPage() -> impl IntoView {
    let query = use_query_map();
    let data = Resource::new_blocking(
        move || {
            let q = query.read();
            (q.get("edit"), q.get("confirm"), q.get("error"), q.get("done"))
        },
        |(edit, confirm, error, done)| load_admin_scopes(edit, confirm, error, done),
    );
    view! {
        <Title text="Scopes · Admin · Gatehouse"/>
        {crate::components::loaded(data, scopes_view)}
    }
}

fn scopes_view(page: PageData) -> impl IntoView {
    let create = ServerAction::<AdminCreateScope>::new();
    let update = ServerAction::<AdminUpdateScope>::new();
    let delete = ServerAction::<AdminDeleteScope>::new();
    let done = page.done.as_deref().and_then(done_message);
    let csrf = page.csrf_token.clone();
    view! {
        <section class="card wide" aria-labelledby="scopes-title">
            <AdminNav current=ADMIN_SCOPES_PATH/>
            <h1 id="scopes-title">"Scopes"</h1>
            <p class="muted">
                "What a client may be allowed to ask for. The person approving a device reads each scope's description, so write it in plain words."
            </p>
            {page.notice.map(|code| view! { <Notice code=code/> })}
            {done.map(|text| view! { <p class="notice notice-ok" role="status">{text}</p> })}
            {page.confirm_delete.map(|scope| view! { <ConfirmDelete scope=scope csrf=csrf.clone() delete=delete/> })}
            {page.editing.map(|scope| view! { <EditScope scope=scope csrf=csrf.clone() update=update/> })}
            <ul class="app-list">
                {page.scopes.into_iter().map(|scope| view! { <ScopeItem scope=scope/> }).collect_view()}
            </ul>
            <CreateScope csrf=csrf create=create/>
        </section>
    }
}

#[component]
fn ScopeItem(scope: ScopeRow) -> impl IntoView {
    let enc = crate::navigation::encode_query_value(&scope.name);
    let edit = format!("{ADMIN_SCOPES_PATH}?edit={enc}");
    let delete = (!scope.built_in).then(|| format!("{ADMIN_SCOPES_PATH}?confirm={enc}"));
    let facts = format!(
        "Held by {}{} · {}",
        holders_label(&scope.holders),
        if scope.built_in { " · built in" } else { "" },
        if scope.clients.is_empty() {
            "no client allows it".to_owned()
        } else {
            format!("allowed to {}", scope.clients.join(", "))
        }
    );
    let edit_label = format!("Edit {}", scope.name);
    let delete_label = format!("Delete {}…", scope.name);
    view! {
        <li class="app">
            <h2 class="app-title"><code>{scope.name}</code></h2>
            <p>{scope.description}</p>
            <p class="muted">{facts}</p>
            <div class="row-actions">
                <a href=edit aria-label=edit_label>"Edit"</a>
                {delete.map(|href| view! { <a href=href aria-label=delete_label>"Delete…"</a> })}
            </div>
        </li>
    }
}

/// The three choices of who may hold a scope, as radio buttons.
#[component]
fn HoldersField(prefix: &'static str, current: String, #[prop(default = false)] fixed: bool) -> impl IntoView {
    let options = [
        ("everyone", "Everyone"),
        ("accounts", "Gatehouse accounts only"),
        ("external", "People signed in with SSO only"),
    ];
    let hint_id = format!("{prefix}-holders-hint");
    let described_by = hint_id.clone();
    view! {
        <fieldset class="field" aria-describedby=described_by>
            <legend>"Who may hold it"</legend>
            <p class="hint" id=hint_id>
                {if fixed {
                    "Fixed for a built-in scope."
                } else {
                    "A token only ever carries the scopes its person may hold, whatever the client asks for."
                }}
            </p>
            {options.into_iter().map(|(value, label)| {
                let id = format!("{prefix}-holders-{value}");
                view! {
                    <div class="checkbox">
                        <input id=id.clone() name="holders" type="radio" value=value checked=current == value disabled=fixed && current != value/>
                        <label for=id>{label}</label>
                    </div>
                }
            }).collect_view()}
        </fieldset>
    }
}

#[component]
fn EditScope(scope: ScopeRow, csrf: String, update: ServerAction<AdminUpdateScope>) -> impl IntoView {
    let heading = format!("Edit {}", scope.name);
    view! {
        <div class="edit-panel">
            <h2 id="edit-title">{heading}</h2>
            <ActionForm action=update attr:aria-labelledby="edit-title">
                <input type="hidden" name="name" value=scope.name/>
                <input type="hidden" name="csrf_token" value=csrf/>
                <div class="field">
                    <label for="edit-description">"What it lets a client do, in plain words"</label>
                    <input id="edit-description" name="description" type="text" value=scope.description required maxlength="200"/>
                </div>
                <HoldersField prefix="edit" current=scope.holders fixed=scope.built_in/>
                <button type="submit" class="button primary">"Save"</button>
                " "
                <a href=ADMIN_SCOPES_PATH>"Cancel"</a>
            </ActionForm>
        </div>
    }
}

#[component]
fn ConfirmDelete(scope: ScopeRow, csrf: String, delete: ServerAction<AdminDeleteScope>) -> impl IntoView {
    let question = format!(
        "Delete the scope {}? Clients can no longer be allowed it; tokens that already carry it keep the name until they end, and nothing honours it.",
        scope.name
    );
    view! {
        <div class="confirm" role="alertdialog" aria-labelledby="confirm-title" aria-describedby="confirm-text">
            <h2 id="confirm-title">"Please confirm"</h2>
            <p id="confirm-text">{question}</p>
            <ActionForm action=delete>
                <input type="hidden" name="name" value=scope.name/>
                <input type="hidden" name="csrf_token" value=csrf/>
                <button type="submit" class="button danger">"Yes, delete"</button>
            </ActionForm>
            <p><a href=ADMIN_SCOPES_PATH>"Cancel"</a></p>
        </div>
    }
}

#[component]
fn CreateScope(csrf: String, create: ServerAction<AdminCreateScope>) -> impl IntoView {
    view! {
        <h2 id="create-title">"Add a scope"</h2>
        <ActionForm action=create attr:aria-labelledby="create-title">
            <input type="hidden" name="csrf_token" value=csrf/>
            <div class="field">
                <label for="new-scope-name">"Name, as clients ask for it"</label>
                <p class="hint" id="new-scope-name-hint">"For example reports:read. Letters, digits, colons, dots, slashes, dashes and underscores."</p>
                <input id="new-scope-name" name="name" type="text" required maxlength="64" autocomplete="off" spellcheck="false" aria-describedby="new-scope-name-hint"/>
            </div>
            <div class="field">
                <label for="new-scope-description">"What it lets a client do, in plain words"</label>
                <p class="hint" id="new-scope-description-hint">"Shown to the person approving, for example: Read your team's reports."</p>
                <input id="new-scope-description" name="description" type="text" required maxlength="200" autocomplete="off" aria-describedby="new-scope-description-hint"/>
            </div>
            <HoldersField prefix="new" current="everyone".to_owned()/>
            <button type="submit" class="button primary">"Add scope"</button>
        </ActionForm>
    }
}
