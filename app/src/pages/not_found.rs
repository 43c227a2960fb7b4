//! The 404 page of every unknown page path.

use leptos::prelude::*;
use leptos_meta::Title;

/// The 404 page.
#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Page not found · Gatehouse"/>
        <section class="card">
            <h1>"Page not found"</h1>
            <p>"There is nothing at this address."</p>
            <p><a href=crate::navigation::DEVICE_PATH>"Enter a device code"</a>" or go to the "<a href=crate::navigation::HOME_PATH>"start page"</a>"."</p>
        </section>
    }
}
