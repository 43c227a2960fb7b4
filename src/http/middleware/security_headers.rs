//! SPEC §7 headers on every response — pages, JSON, errors and static files —
//! as tower-http layers: a header insert each, no per-request allocation.

use axum::http::{HeaderValue, header};
use tower::ServiceBuilder;
use tower::layer::util::{Identity, Stack};
use tower::util::Either;
use tower_http::set_header::SetResponseHeaderLayer;

/// The CSP for everything but HTML documents, which set a nonce-based one.
const DEFAULT_CSP: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
/// Sent when the public URL is https.
const HSTS: &str = "max-age=63072000; includeSubDomains";
/// Versioned build output (`/pkg/…`) may be cached but must be revalidated;
/// the static-file fallback sets this, and everything else is `no-store`.
pub const ASSET_CACHE_CONTROL: HeaderValue = HeaderValue::from_static("no-cache");

type Header = SetResponseHeaderLayer<HeaderValue>;
/// The layer stack `layers` returns.
pub type SecurityHeaders = Stack<
    Either<Header, Identity>,
    Stack<Header, Stack<Header, Stack<Header, Stack<Header, Stack<Header, Identity>>>>>,
>;

/// Anti-framing, sniffing, referrer and caching headers, plus HSTS when `https`.
pub fn layers(https: bool) -> ServiceBuilder<SecurityHeaders> {
    ServiceBuilder::new()
        .layer(SetResponseHeaderLayer::overriding(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::overriding(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
        // Pages set their own nonce-based CSP; it keeps `frame-ancestors 'none'`.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(DEFAULT_CSP),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .option_layer(https.then(|| {
            SetResponseHeaderLayer::overriding(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS))
        }))
}
