//! `/admin/audit`: the audit log, filtered and paged, in words.

use super::{AdminNav, Pager};
use crate::components::Notice;
use crate::server_fns::admin_audit::{
    ADMIN_AUDIT_PATH, AuditFilter, AuditPage as PageData, AuditRow, load_admin_audit,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// `/admin/audit`: who did what, newest first.
#[component]
pub fn AdminAuditPage() -> impl IntoView {
    let query = use_query_map();
    let data = Resource::new_blocking(
        move || {
            let q = query.read();
            let field = |name: &str| q.get(name).unwrap_or_default();
            let filter = AuditFilter {
                kind: field("kind"),
                actor: field("actor"),
                subject: field("subject"),
                client: field("client"),
                from: field("from"),
                until: field("until"),
            };
            (filter, q.get("before"))
        },
        |(filter, before)| load_admin_audit(filter, before),
    );
    view! {
        <Title text="Audit log · Admin · Gatehouse"/>
        {crate::components::loaded(data, audit_view)}
    }
}

fn audit_view(page: PageData) -> impl IntoView {
    let f = page.filter.clone();
    view! {
        <section class="card wide" aria-labelledby="audit-title">
            <AdminNav current=ADMIN_AUDIT_PATH/>
            <h1 id="audit-title">"Audit log"</h1>
            {page.notice.map(|code| view! { <Notice code=code/> })}
            <form class="filters" method="get" action=ADMIN_AUDIT_PATH role="search" aria-label="Filter events">
                <div class="field">
                    <label for="audit-kind">"Event"</label>
                    <select id="audit-kind" name="kind">
                        <option value="" selected=f.kind.is_empty()>"Any"</option>
                        {page.kinds.into_iter().map(|kind| {
                            let selected = kind == f.kind;
                            let label = kind.clone();
                            view! { <option value=kind selected=selected>{label}</option> }
                        }).collect_view()}
                    </select>
                </div>
                <div class="field">
                    <label for="audit-actor">"Actor"</label>
                    <input id="audit-actor" name="actor" type="text" value=f.actor.clone() autocomplete="off"/>
                </div>
                <div class="field">
                    <label for="audit-subject">"Subject"</label>
                    <input id="audit-subject" name="subject" type="text" value=f.subject.clone() autocomplete="off"/>
                </div>
                <div class="field">
                    <label for="audit-client">"Client id"</label>
                    <input id="audit-client" name="client" type="text" value=f.client.clone() autocomplete="off"/>
                </div>
                <div class="field">
                    <label for="audit-from">"From (UTC)"</label>
                    <input id="audit-from" name="from" type="date" value=f.from.clone()/>
                </div>
                <div class="field">
                    <label for="audit-until">"Until (UTC)"</label>
                    <input id="audit-until" name="until" type="date" value=f.until.clone()/>
                </div>
                <button type="submit" class="button">"Filter"</button>
            </form>
            {if page.events.is_empty() {
                view! { <p class="empty">"No events match."</p> }.into_any()
            } else {
                view! {
                    <ol class="audit-list">
                        {page.events.into_iter().map(|event| view! { <AuditItem event=event/> }).collect_view()}
                    </ol>
                }.into_any()
            }}
            <Pager
                first=page.is_later_page.then(|| page.filter.url(&[]))
                next=page.next_page
                first_label="Newest"
                next_label="Older"
            />
        </section>
    }
}

#[component]
fn AuditItem(event: AuditRow) -> impl IntoView {
    let mut facts = Vec::new();
    if !event.actor.is_empty() {
        facts.push(format!("by {}", event.actor));
    }
    if let Some(subject) = &event.subject {
        facts.push(format!("concerning {subject}"));
    }
    if let Some(client) = &event.client_id {
        facts.push(format!("client {client}"));
    }
    if let Some(ip) = &event.ip {
        facts.push(format!("from {ip}"));
    }
    let details = (!event.details.is_empty()).then_some(event.details);
    view! {
        <li>
            <p><span class="audit-kind">{event.kind}</span>" · "<span class="muted">{event.at}</span></p>
            <p>{facts.join(", ")}</p>
            {details.map(|d| view! { <p class="audit-details">{d}</p> })}
        </li>
    }
}
