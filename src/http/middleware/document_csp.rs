//! Makes sure a page goes out with its own CSP. The page decides it while it
//! renders (its nonce is made then); Leptos copies the page's headers when
//! the first chunk is ready, and a header decided after that would be lost,
//! leaving the strict default CSP on an HTML page (no styles, no islands).
//! The page also leaves its CSP in a request extension, and this layer sets
//! it on the response when the header is missing.

use axum::extract::Request;
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use gatehouse_app::DocumentCsp;

/// The middleware, on the browser routes.
pub async fn layer(mut request: Request, next: Next) -> Response {
    let slot = DocumentCsp::default();
    request.extensions_mut().insert(slot.clone());
    let mut response = next.run(request).await;
    if !response.headers().contains_key(header::CONTENT_SECURITY_POLICY) {
        let decided = slot.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        if let Some(value) = decided {
            response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, value);
        }
    }
    response
}
