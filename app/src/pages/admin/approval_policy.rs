//! The approval policy's part of the client editor (RFC 10027's
//! mitigations; docs/security.md, "Approval policies"): what is in force,
//! in plain words, and a form of its own to change it.

use crate::server_fns::admin_clients::{AdminUpdateApprovalPolicy, ClientRow};
use leptos::form::ActionForm;
use leptos::prelude::*;

/// The policy's sentences, then its form.
#[component]
pub fn ApprovalPolicyEditor(client: ClientRow, csrf: String) -> impl IntoView {
    let update = ServerAction::<AdminUpdateApprovalPolicy>::new();
    let policy = client.approval;
    let choice = |current: &str, options: &'static [(&'static str, &'static str)]| {
        let current = current.to_owned();
        options
            .iter()
            .map(move |(value, label)| view! { <option value=*value selected=current == *value>{*label}</option> })
            .collect_view()
    };
    view! {
        <div class="edit-panel" id="approval-policy">
            <h2 id="policy-title">"Approval policy"</h2>
            <p class="hint">
                "Defences against device-code phishing (RFC 10027). A change applies to sign-ins that start after it."
            </p>
            <ul class="policy-words" aria-label="In force now">
                {policy.words.into_iter().map(|sentence| view! { <li>{sentence}</li> }).collect_view()}
            </ul>
            <ActionForm action=update attr:aria-labelledby="policy-title">
                <input type="hidden" name="client_id" value=client.client_id/>
                <input type="hidden" name="csrf_token" value=csrf/>
                <TextField
                    id="policy-device-networks"
                    name="device_networks"
                    label="Devices may start sign-ins from"
                    hint="Network ranges such as 10.0.0.0/8 or 2001:db8::/32, separated by commas. Empty: anywhere."
                    value=policy.device_networks
                />
                <div class="field">
                    <label for="policy-approver-network">"Approvals accepted from"</label>
                    <p class="hint" id="policy-approver-network-hint">
                        "The same network means the device's IPv4 address or IPv6 prefix. A TV on Wi-Fi and a phone on mobile data share no network, and a VPN changes addresses."
                    </p>
                    <select id="policy-approver-network" name="approver_network" aria-describedby="policy-approver-network-hint">
                        {choice(&policy.approver_network, &[
                            ("any", "Any network (point out and audit a different one)"),
                            ("same_network", "The device's network only"),
                            ("listed", "Listed networks only"),
                        ])}
                    </select>
                </div>
                <TextField
                    id="policy-approver-networks"
                    name="approver_networks"
                    label="Listed networks"
                    hint="For example the office and VPN ranges, separated by commas."
                    value=policy.approver_networks
                />
                <TextField
                    id="policy-approvers"
                    name="approvers"
                    label="Who may approve"
                    hint="everyone, admins, or SSO groups as group:NAME, separated by commas."
                    value=policy.approvers
                />
                <div class="field">
                    <label for="policy-approver-auth">"How approvers must have signed in"</label>
                    <p class="hint" id="policy-approver-auth-hint">
                        "Passkey or SSO: a person who signed in with a password is asked for their passkey before approving."
                    </p>
                    <select id="policy-approver-auth" name="approver_auth" aria-describedby="policy-approver-auth-hint">
                        {choice(&policy.approver_auth, &[("any", "Any way"), ("phishing_resistant", "Passkey or SSO")])}
                    </select>
                </div>
                <fieldset class="field">
                    <legend>"Codes, in seconds (leave empty for the default)"</legend>
                    <div class="field">
                        <label for="policy-code-lifetime">"A code lives (60 to 1800)"</label>
                        <input id="policy-code-lifetime" name="code_lifetime" type="number" min="60" max="1800"
                            inputmode="numeric" value=policy.code_lifetime/>
                    </div>
                    <div class="field">
                        <label for="policy-max-code-age">"A code must be entered within (10 to 1800)"</label>
                        <input id="policy-max-code-age" name="max_code_age" type="number" min="10" max="1800"
                            inputmode="numeric" value=policy.max_code_age/>
                    </div>
                </fieldset>
                <div class="field checkbox">
                    <input id="policy-one-person" name="one_person_per_code" type="checkbox" value="on"
                        checked=policy.one_person_per_code/>
                    <label for="policy-one-person">
                        "One person per code: a second person entering a code ends its sign-in and revokes what it gave"
                    </label>
                </div>
                <div class="field">
                    <label for="policy-confirmation">"Confirm on the device"</label>
                    <p class="hint" id="policy-confirmation-hint">
                        "Required: the approving browser shows six digits that must be typed on the device before it gets a token. Needs a client that supports it, such as gatehouse login."
                    </p>
                    <select id="policy-confirmation" name="device_confirmation" aria-describedby="policy-confirmation-hint">
                        {choice(&policy.device_confirmation, &[("off", "Off"), ("required", "Required")])}
                    </select>
                </div>
                <button type="submit" class="button primary">"Save approval policy"</button>
            </ActionForm>
        </div>
    }
}

/// A text field with its label and a hint the field is described by.
#[component]
fn TextField(
    id: &'static str,
    name: &'static str,
    label: &'static str,
    hint: &'static str,
    value: String,
) -> impl IntoView {
    let hint_id = format!("{id}-hint");
    view! {
        <div class="field">
            <label for=id>{label}</label>
            <p class="hint" id=hint_id.clone()>{hint}</p>
            <input id=id name=name type="text" value=value aria-describedby=hint_id/>
        </div>
    }
}
