//! The authorize-sso view (SPEC §6).

use super::device::{DecisionForms, DenyOnly, RefusalExplained, RequestSummary};
use crate::components::Notice;
use crate::error::AppErrorCode;
use crate::server_fns::sso::{ApprovalContextView, ApproveExternal, DenyExternal, approval_context};
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// `/v1/oauth/device/authorize-sso`: the authorize view for a person who
/// signed in at the SSO provider. Everything on it comes from the
/// approval-grant cookie through `approval-context`, never from the URL.
#[component]
pub fn AuthorizeSsoPage() -> impl IntoView {
    let query = use_query_map();
    let notice = move || query.read().get("error").as_deref().and_then(AppErrorCode::parse);
    let context = Resource::new_blocking(|| (), |_| approval_context());
    view! {
        <Title text="Approve a device · Gatehouse"/>
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match context.await {
                    Ok(context) => authorize_sso_view(context, notice()).into_any(),
                    Err(err) => ended_view(notice().unwrap_or(err.error)).into_any(),
                }
            })}
        </Suspense>
    }
}

/// The grant is missing, used or expired: say so and where to go.
fn ended_view(code: AppErrorCode) -> impl IntoView {
    view! {
        <section class="card" aria-labelledby="ended-title">
            <h1 id="ended-title">"This approval is no longer open"</h1>
            <Notice code=code/>
            <p>"Nothing was approved from this page. To approve the device, enter its code again."</p>
            <p><a class="button primary" href=crate::navigation::DEVICE_PATH>"Enter a code"</a></p>
        </section>
    }
}

fn authorize_sso_view(context: ApprovalContextView, notice: Option<AppErrorCode>) -> impl IntoView {
    let (user_code, csrf_token) = (context.request.user_code.clone(), context.csrf_token.clone());
    let who = context.subject_name.clone().unwrap_or_else(|| context.subject_email.clone());
    view! {
        <section class="card authorize" aria-labelledby="authorize-title">
            <h1 id="authorize-title">"Allow "<span class="client-name">{context.request.client_name.clone()}</span>" to sign in as you?"</h1>
            <p class="signed-in">
                "Signed in as "<strong>{who}</strong>" ("{context.subject_email.clone()}") through "
                <span class="issuer">{context.subject_issuer.clone()}</span>". "
                <a href=crate::navigation::DEVICE_PATH>"Not you? Start again"</a>
            </p>
            {notice.map(|code| view! { <Notice code=code/> })}
            <RequestSummary request=context.request/>
            <p class="muted">"You have five minutes to decide; after that, sign in again."</p>
            {match context.refusal {
                Some(refusal) => view! {
                    <RefusalExplained refusal=refusal/>
                    <DenyOnly deny_url=DenyExternal::url() user_code=user_code csrf_token=csrf_token/>
                }.into_any(),
                None => view! {
                    <DecisionForms
                        approve_url=ApproveExternal::url()
                        deny_url=DenyExternal::url()
                        user_code=user_code
                        csrf_token=csrf_token
                    />
                }.into_any(),
            }}
        </section>
    }
}
