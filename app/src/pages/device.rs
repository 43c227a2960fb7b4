//! `/device`: enter a code, then see who is asking for what (client,
//! device as reported, where and when it asked, the scopes in words) and
//! approve or deny it; signing in first when needed.

use crate::components::{CodeEntryForm, Notice, PasskeySignIn, PasskeyStepUp, spelled};
use crate::navigation::{DEVICE_PATH, signin_url};
use crate::server_fns::device::{ApproveDevice, AuthorizeView, DenyDevice, DevicePageData, load_device_page};
use crate::server_fns::refusals::RefusalView;
use crate::server_fns::views::RequestView;
use crate::server_fns::views::Viewer;
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// `/device`: code entry → (sign in) → authorize → result.
#[component]
pub fn DevicePage() -> impl IntoView {
    let query = use_query_map();
    let data = Resource::new_blocking(
        move || {
            let q = query.read();
            (q.get("user_code"), q.get("error"), q.get("sso_verified"))
        },
        |(code, error, sso_verified)| load_device_page(code, error, sso_verified),
    );
    view! {
        <Title text="Connect a device · Gatehouse"/>
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(page) => device_view(page).into_any(),
                    Err(err) => view! { <Notice code=err.error/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

fn device_view(page: DevicePageData) -> AnyView {
    match page {
        DevicePageData::EnterCode { viewer, notice, csrf_token } => view! {
            <section class="card" aria-labelledby="device-title">
                <h1 id="device-title">"Connect a device"</h1>
                <SignedInLine viewer=viewer/>
                {notice.map(|code| view! { <Notice code=code/> })}
                <CodeEntryForm csrf=csrf_token/>
            </section>
        }
        .into_any(),
        DevicePageData::SignInRequired { signin_url, passkey } => view! {
            <section class="card">
                <h1>"Sign in to continue"</h1>
                {passkey.map(|(csrf_token, next)| view! { <PasskeySignIn csrf_token=csrf_token next=next/> })}
                <p><a class="button primary" href=signin_url>"Sign in with email and password"</a></p>
            </section>
        }
        .into_any(),
        DevicePageData::Choose { user_code, client_name, signin_url, sso_url, sso_name } => view! {
            <section class="card" aria-labelledby="choose-title">
                <h1 id="choose-title">"Sign in to continue"</h1>
                <p>
                    <strong>{client_name}</strong>" is asking to sign in with the code "
                    <span class="user-code-inline">{user_code}</span>". Choose how you sign in:"
                </p>
                <div class="choices">
                    <a class="button primary" href=sso_url>"Continue with "{sso_name}</a>
                    <a class="button secondary" href=signin_url>"Continue with a Gatehouse account"</a>
                </div>
            </section>
        }
        .into_any(),
        DevicePageData::Invalid { viewer, csrf_token } => view! {
            <section class="card" aria-labelledby="invalid-title">
                <h1 id="invalid-title">"This code isn’t valid"</h1>
                <SignedInLine viewer=viewer/>
                <p role="alert">
                    "It may have expired, been used already, or been mistyped. Check your terminal for the current code, or start the sign-in again there."
                </p>
                <CodeEntryForm csrf=csrf_token/>
            </section>
        }
        .into_any(),
        DevicePageData::TooManyAttempts { viewer, wait } => view! {
            <section class="card" aria-labelledby="paused-title">
                <h1 id="paused-title">"Too many codes tried"</h1>
                <SignedInLine viewer=viewer/>
                <p role="alert">
                    "Several codes entered from your network or this browser did not match a request, so Gatehouse is not checking codes from here for a while. This protects everyone’s sign-ins from guessing. Nothing was approved."
                </p>
                <p>"Please try again "<strong>{wait}</strong>", with the code your terminal shows then."</p>
            </section>
        }
        .into_any(),
        DevicePageData::Decided { approved: true, client_name, user_code, viewer, confirmation_code: Some(confirm) } => {
            let spoken = format!("Confirmation code: {}", confirm.chars().map(String::from).collect::<Vec<_>>().join(" "));
            let shown = format!("{} {}", &confirm[..3.min(confirm.len())], &confirm[3.min(confirm.len())..]);
            view! {
                <section class="card result result-approved" aria-labelledby="result-title">
                    <h1 id="result-title">"Approved: now confirm on your device"</h1>
                    <SignedInLine viewer=Some(viewer)/>
                    <p role="status">
                        <strong>{client_name}</strong>" (code "{user_code}") asks you to confirm this approval on the device itself. Type this code where your terminal asks for it:"
                    </p>
                    <p class="user-code confirmation-code" aria-label=spoken>{shown}</p>
                    <p class="muted">
                        "Until it is typed there, the device gets no access. If you did not start this sign-in on a device in front of you, do not pass this code on to anyone."
                    </p>
                </section>
            }
        }
        .into_any(),
        DevicePageData::Decided { approved: true, client_name, user_code, viewer, confirmation_code: None } => view! {
            <section class="card result result-approved" aria-labelledby="result-title">
                <h1 id="result-title">"Approved"</h1>
                <SignedInLine viewer=Some(viewer)/>
                <p role="status">
                    <strong>{client_name}</strong>" (code "{user_code}") can now sign in as you. Return to your terminal; you can close this tab."
                </p>
            </section>
        }
        .into_any(),
        DevicePageData::Decided { approved: false, client_name, user_code, viewer, .. } => view! {
            <section class="card result result-denied" aria-labelledby="result-title">
                <h1 id="result-title">"Denied"</h1>
                <SignedInLine viewer=Some(viewer)/>
                <p role="status">
                    "The request from "<strong>{client_name}</strong>" (code "{user_code}") was denied. It was given no access. You can close this tab."
                </p>
            </section>
        }
        .into_any(),
        DevicePageData::Authorize(view) => authorize_view(*view).into_any(),
        DevicePageData::Refused { viewer, refusal, deny } => view! {
            <section class="card result result-denied" aria-labelledby="refused-title">
                <h1 id="refused-title">"Not approved from here"</h1>
                <SignedInLine viewer=viewer/>
                {
                    // A passkey would change the answer: offer it, coming back here.
                    let step_up = (refusal.code == crate::error::AppErrorCode::PasskeyRequired)
                        .then(|| deny.clone())
                        .flatten()
                        .map(|(user_code, csrf_token)| {
                            let next = format!("{DEVICE_PATH}?user_code={}", crate::navigation::encode_query_value(&user_code));
                            view! { <PasskeyStepUp csrf_token=csrf_token next=next/> }
                        });
                    view! { <RefusalExplained refusal=refusal/> {step_up} }
                }
                {deny.map(|(user_code, csrf_token)| view! {
                    <DenyOnly deny_url=DenyDevice::url() user_code=user_code csrf_token=csrf_token/>
                })}
            </section>
        }
        .into_any(),
        DevicePageData::Shared { viewer, client_name, you_were_first } => view! {
            <section class="card result result-denied" aria-labelledby="shared-title">
                <h1 id="shared-title">"This sign-in was stopped"</h1>
                <SignedInLine viewer=Some(viewer)/>
                <p role="alert">
                    {if you_were_first {
                        format!("After you, someone else entered the same code for {client_name}, so Gatehouse stopped the sign-in and signed its device out: a code shown on a device is for one person. If you started it yourself, start it again on your device; if you did not, tell your administrator.")
                    } else {
                        format!("Someone else had already entered this code for {client_name}, so Gatehouse stopped the sign-in: a code shown on a device is for one person. If someone sent you this code, it was probably an attempt to trick you into letting them in: nothing was approved for you. Tell your administrator.")
                    }}
                </p>
            </section>
        }
        .into_any(),
    }
}

/// The Deny left to a person the policy turned away. Shared by the account
/// and SSO views.
#[component]
pub fn DenyOnly(deny_url: &'static str, user_code: String, csrf_token: String) -> impl IntoView {
    view! {
        <p>"If you did not start this sign-in yourself, deny it so it stops now:"</p>
        <form action=deny_url method="post">
            <input type="hidden" name="user_code" value=user_code/>
            <input type="hidden" name="csrf_token" value=csrf_token/>
            <button type="submit" class="button secondary">"Deny"</button>
        </form>
    }
}

/// A policy refusal in plain words, with the two networks it compared.
#[component]
pub fn RefusalExplained(refusal: RefusalView) -> impl IntoView {
    view! {
        <p role="alert">{refusal.explanation}</p>
        {refusal.networks.map(|(device, yours)| view! {
            <dl class="request-details">
                <dt>"The device’s network"</dt>
                <dd>{device}</dd>
                <dt>"Your network"</dt>
                <dd>{yours}</dd>
            </dl>
        })}
    }
}

/// "Signed in as …", when someone is.
#[component]
fn SignedInLine(viewer: Option<Viewer>) -> impl IntoView {
    viewer.map(|v| {
        view! { <p class="signed-in">"Signed in as "<strong>{v.name}</strong>" ("{v.email}")"</p> }
    })
}

/// What a person checks before deciding: the code, who is asking, from
/// where, and what it could do. Shared by the account and SSO views.
#[component]
pub fn RequestSummary(request: RequestView) -> impl IntoView {
    let RequestView {
        user_code,
        client_name,
        client_id,
        device_label,
        requester_ip,
        requested_from_elsewhere,
        requester_user_agent,
        requested_ago,
        scopes,
        replaces_created_on,
        opened_by_someone_else,
    } = request;
    let code_label = format!("Code: {}", spelled(&user_code));
    view! {
        {opened_by_someone_else.then(|| view! {
            <p class="notice notice-error" role="alert">
                "Someone else already entered this code. A code shown on a device is for one person, so if you approve or deny it now, Gatehouse stops the sign-in for both of you. If someone sent you this code, it is probably an attempt to trick you."
            </p>
        })}
        <div class="code-compare">
            <p id="code-compare-label">"Check that this code matches the one in your terminal:"</p>
            <p class="user-code" aria-describedby="code-compare-label" aria-label=code_label>{user_code}</p>
        </div>

        <h2>"Who is asking"</h2>
        <dl class="request-details">
            <dt>"Application"</dt>
            <dd>{client_name} " " <span class="muted">"("{client_id}")"</span></dd>
            <dt>"Device"</dt>
            <dd>
                {device_label.unwrap_or_else(|| "No name given".to_owned())}
                " " <span class="muted">"(as reported by the device)"</span>
            </dd>
            <dt>"Requested from"</dt>
            <dd>
                {requester_ip.unwrap_or_else(|| "an unknown address".to_owned())}", "{requested_ago}
                {requested_from_elsewhere.then(|| view! {
                    <p class="network-note">
                        "That is a different network from yours. This is expected if you started the sign-in on a remote machine (a server, a VM or a container). If you did not start it, deny."
                    </p>
                })}
            </dd>
            <dt>"Software"</dt>
            <dd class="user-agent">{requester_user_agent.unwrap_or_else(|| "not reported".to_owned())}</dd>
        </dl>

        <h2>"It will be able to"</h2>
        <ul class="scopes">
            {scopes.into_iter().map(|s| view! {
                <li>{s.description}" "<code class="muted">{s.name}</code></li>
            }).collect_view()}
        </ul>
        {replaces_created_on.map(|date| view! {
            <p class="notice notice-info">
                "This replaces the token created on "{date}" for this device. That token will stop working."
            </p>
        })}
    }
}

/// Approve and Deny: each a form posting the code and the CSRF token to its
/// server function, plus the warning every approval page carries. Shared by
/// the account and SSO views.
#[component]
pub fn DecisionForms(
    approve_url: &'static str,
    deny_url: &'static str,
    user_code: String,
    csrf_token: String,
) -> impl IntoView {
    let (code_d, csrf_d) = (user_code.clone(), csrf_token.clone());
    view! {
        <div class="actions">
            <form action=approve_url method="post">
                <input type="hidden" name="user_code" value=user_code/>
                <input type="hidden" name="csrf_token" value=csrf_token/>
                <button type="submit" class="button primary">"Approve"</button>
            </form>
            <form action=deny_url method="post">
                <input type="hidden" name="user_code" value=code_d/>
                <input type="hidden" name="csrf_token" value=csrf_d/>
                <button type="submit" class="button secondary">"Deny"</button>
            </form>
        </div>
        <p class="warning">
            "Only approve if you started this sign-in yourself, just now. Never approve a code someone else sent you."
        </p>
    }
}

fn authorize_view(view: AuthorizeView) -> impl IntoView {
    let switch_url = signin_url(&format!("{DEVICE_PATH}?user_code={}", view.request.user_code));
    view! {
        <section class="card authorize" aria-labelledby="authorize-title">
            <h1 id="authorize-title">"Allow "<span class="client-name">{view.request.client_name.clone()}</span>" to sign in as you?"</h1>
            <p class="signed-in">
                "Signed in as "<strong>{view.viewer.name.clone()}</strong>" ("{view.viewer.email.clone()}"). "
                <a href=switch_url>"Not you? Switch account"</a>
            </p>
            {view.notice.map(|code| view! { <Notice code=code/> })}

            <RequestSummary request=view.request.clone()/>
            <p class="muted">"This request expires in "{view.expires_in_minutes}" minutes."</p>

            <DecisionForms
                approve_url=ApproveDevice::url()
                deny_url=DenyDevice::url()
                user_code=view.request.user_code.clone()
                csrf_token=view.csrf_token.clone()
            />
        </section>
    }
}
