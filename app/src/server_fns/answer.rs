//! How a server function answers, in one place: the status, `Retry-After`,
//! and for a plain HTML form post (JavaScript off) the redirect a browser
//! follows instead of reading JSON. A leaf: it knows HTTP and the route
//! paths, nothing of the core or of the error type, so everything else may
//! use it.

use crate::navigation::{APPROVAL_GRANT_PATH, ERROR_PAGE, SERVER_FN_PREFIX, append_query};
use leptos::prelude::use_context;

/// Sets the response status (page renders and server functions alike).
pub fn set_status(status: u16) {
    if let (Some(response), Ok(status)) =
        (use_context::<leptos_axum::ResponseOptions>(), http::StatusCode::from_u16(status))
    {
        response.set_status(status);
    }
}

/// Sets `Retry-After`, in whole seconds.
pub fn set_retry_after(secs: u64) {
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.insert_header(http::header::RETRY_AFTER, http::HeaderValue::from(secs));
    }
}

/// Whether this request is a plain HTML form post (JavaScript off), which
/// must be answered with a redirect rather than JSON.
pub fn is_plain_form_post() -> bool {
    use_context::<http::request::Parts>().is_some_and(|p| {
        p.method == http::Method::POST
            && p.headers
                .get(http::header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("text/html"))
    })
}

/// Whether this request is a server-function call (rather than a page render).
pub fn is_server_fn_call() -> bool {
    use_context::<http::request::Parts>().is_some_and(|p| {
        let path = p.uri.path();
        [SERVER_FN_PREFIX, APPROVAL_GRANT_PATH]
            .iter()
            .any(|prefix| path.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('/')))
    })
}

/// Answers a page render with a redirect to `to`.
pub fn redirect_page(to: &str) {
    leptos_axum::redirect(to);
    // leptos sets 302 only when the request said it accepts HTML.
    if !is_server_fn_call() {
        set_status(302);
    }
}

/// Finishes a successful server call: plain form posts go to `next`.
pub fn succeed_to(next: &str) {
    if is_plain_form_post() {
        leptos_axum::redirect(next);
    }
}

/// Finishes a refused call: sets `status` and, when given, `Retry-After`.
/// A plain form post is sent to `back` with `?error=code`, so its page says
/// what happened; a fault (5xx), or a refusal with nowhere to go back to,
/// goes to the friendly error page instead, since `back` would likely fail
/// the same way.
pub fn refuse(status: u16, retry_after_secs: Option<u64>, code: &str, back: Option<&str>) {
    set_status(status);
    if let Some(secs) = retry_after_secs {
        set_retry_after(secs);
    }
    if is_plain_form_post() {
        let to = back.filter(|_| status < 500).unwrap_or(ERROR_PAGE);
        leptos_axum::redirect(&append_query(to, "error", code));
    }
}
