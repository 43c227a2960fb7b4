//! `/`: the start page, pointing to the code entry and sign-in.

use leptos::prelude::*;
use leptos_meta::Title;

/// The landing page: what Gatehouse is and where to go.
#[component]
pub fn HomePage() -> impl IntoView {
    view! {
        <Title text="Gatehouse"/>
        <section class="card">
            <h1>"Gatehouse"</h1>
            <p>"Gatehouse lets command-line tools sign in to your account without passwords or API keys being copied around."</p>
            <p>"Did a terminal show you a code?"</p>
            <p><a class="button primary" href=crate::navigation::DEVICE_PATH>"Enter a code"</a></p>
            <p><a href=crate::navigation::SIGNIN_PATH>"Sign in"</a></p>
        </section>
    }
}
