//! SPEC §7 headers on every response — pages, JSON, errors and static files.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// The CSP for everything but HTML documents (which set a nonce-based one).
const DEFAULT_CSP: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// Whether HSTS is sent (the public URL is https).
#[derive(Debug, Clone, Copy)]
pub struct Hsts(pub bool);

/// Adds the anti-framing, sniffing, referrer and caching headers.
pub async fn layer(State(hsts): State<Hsts>, request: Request, next: Next) -> Response {
    // Versioned build output may be cached but revalidated; everything else
    // (HTML, JSON, errors) must never be stored.
    let is_asset = request.uri().path().starts_with("/pkg/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(DEFAULT_CSP));
    }
    let cache = if is_asset { "no-cache" } else { "no-store" };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if hsts.0 {
        headers
            .insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=63072000; includeSubDomains"));
    }
    response
}
