//! `/error`: where a plain form post (JavaScript off) lands when it failed
//! with nowhere better to go; says what went wrong from `?error=`.

use crate::components::Notice;
use crate::error::AppErrorCode;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// `/error?error=CODE`: where a form post that could not be understood (and
/// has no page of its own to go back to) lands with JavaScript off.
#[component]
pub fn ErrorPage() -> impl IntoView {
    let query = use_query_map();
    let code =
        move || query.read().get("error").as_deref().and_then(AppErrorCode::parse).unwrap_or(AppErrorCode::ServerError);
    view! {
        <Title text="Something went wrong · Gatehouse"/>
        <section class="card" aria-labelledby="error-title">
            <h1 id="error-title">"Nothing was changed"</h1>
            {move || view! { <Notice code=code()/> }}
            <p>"Go back and try again, or go to the "<a href=crate::navigation::HOME_PATH>"start page"</a>"."</p>
        </section>
    }
}
