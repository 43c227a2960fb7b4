//! Small building blocks shared by pages.

use crate::error::AppErrorCode;
use leptos::prelude::*;

/// A message about something that went wrong, announced to screen readers.
#[component]
pub fn Notice(code: AppErrorCode) -> impl IntoView {
    view! { <p class="notice notice-error" role="alert">{code.message()}</p> }
}

/// The code entry form: one labelled, paste-friendly input. Submits with GET,
/// so entering a code only ever shows a page and never approves anything.
#[component]
pub fn CodeEntryForm(#[prop(optional, into)] value: String) -> impl IntoView {
    view! {
        <form class="code-entry" method="get" action="/device">
            <label for="user_code">"Enter the code shown in your terminal"</label>
            <p class="hint" id="user_code_hint">"It looks like WDJB-MJHT. Spaces, dashes and lower case are fine."</p>
            <input
                id="user_code"
                name="user_code"
                type="text"
                value=value
                required
                maxlength="32"
                autocomplete="one-time-code"
                autocapitalize="characters"
                spellcheck="false"
                aria-describedby="user_code_hint"
            />
            <button type="submit" class="button primary">"Continue"</button>
        </form>
    }
}

/// Spells a code out for screen readers ("W D J B, M J H T").
pub fn spelled(code: &str) -> String {
    code.chars()
        .map(|c| if c == '-' { ",".to_owned() } else { c.to_string() })
        .collect::<Vec<_>>()
        .join(" ")
        .replace(" ,", ",")
}
