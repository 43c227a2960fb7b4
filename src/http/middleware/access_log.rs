//! Request-level observability: every request runs in a `request` span
//! carrying its id, so every log line it causes names it, and ends with one
//! access-log line at INFO (target `gatehouse::access`) giving the method,
//! the route template, the status, the duration and the client's address.
//! Never the path itself, a query string, a code or a token: the route
//! template (`/v1/oauth/device/lookup`) is all that is logged of the URL.
//!
//! The id is the `X-Request-Id` a trusted proxy sent (`client_ip` drops one
//! from anyone else, or one that is not a short printable token), else a
//! new one from [`RequestIds`] (through tower-http's `SetRequestId`); it is
//! returned on the response.

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use gatehouse_app::ClientIp;
use std::time::Instant;
use tracing::Span;

/// The header a request's id travels in.
pub const REQUEST_ID: &str = "x-request-id";

/// Whether a proxy's request id may be adopted: 1 to 128 characters that
/// cannot break a log line or smuggle anything (letters, digits and
/// `-_.:/+=@`).
pub fn acceptable_request_id(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    (1..=128).contains(&bytes.len()) && bytes.iter().all(|b| b.is_ascii_alphanumeric() || b"-_.:/+=@".contains(b))
}

/// New request ids: a random prefix drawn once per process, then a counter
/// (`3f9c0a7d5e21b6c4-1f`). Unique across instances and restarts like a
/// UUID, without asking the kernel for randomness on every request (a
/// random UUID per request was a visible share of the poll's profile).
#[derive(Clone)]
pub struct RequestIds {
    prefix: std::sync::Arc<str>,
    next: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl RequestIds {
    pub fn new() -> Self {
        let prefix = uuid::Uuid::new_v4().simple().to_string()[..16].to_owned();
        Self { prefix: prefix.into(), next: std::sync::Arc::new(std::sync::atomic::AtomicU64::new(1)) }
    }
}

impl Default for RequestIds {
    fn default() -> Self {
        Self::new()
    }
}

impl tower_http::request_id::MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<tower_http::request_id::RequestId> {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        HeaderValue::from_str(&format!("{}-{n:x}", self.prefix)).ok().map(tower_http::request_id::RequestId::new)
    }
}

/// The span every request runs in (tower-http's `TraceLayer` makes it).
pub fn request_span(request: &axum::http::Request<axum::body::Body>) -> Span {
    let id = request.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
    tracing::info_span!("request", request_id = %id)
}

/// The route template of a request as metrics and the access log name it.
fn route_of(request: &Request) -> String {
    match request.extensions().get::<MatchedPath>() {
        Some(path) => path.as_str().to_owned(),
        None if request.uri().path().starts_with("/pkg/") => "/pkg/*".to_owned(),
        None => "unmatched".to_owned(),
    }
}

/// Times the request inside the routes (where its template is known),
/// records the request metrics and writes the access-log line.
#[allow(clippy::disallowed_methods)] // a request's real duration, not domain time
pub async fn record(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = route_of(&request);
    let method = request.method().clone();
    let client = request.extensions().get::<ClientIp>().and_then(|ip| ip.ip.clone());
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    crate::metrics::request_served(&route, method.as_str(), status, elapsed);
    tracing::info!(
        target: "gatehouse::access",
        method = %method,
        route = %route,
        status,
        duration_ms = elapsed.as_secs_f64() * 1000.0,
        client = client.as_deref().unwrap_or("-"),
        "request"
    );
    response
}

#[cfg(test)]
mod tests {
    use super::{RequestIds, acceptable_request_id};
    use axum::http::HeaderValue;
    use tower_http::request_id::MakeRequestId;

    #[test]
    fn made_ids_are_unique_and_adoptable() {
        let request = axum::http::Request::new(());
        let (mut a, mut b) = (RequestIds::new(), RequestIds::new());
        let ids: Vec<HeaderValue> = (0..3)
            .flat_map(|_| [a.make_request_id(&request), b.make_request_id(&request)])
            .map(|id| id.expect("an id").header_value().clone())
            .collect();
        let mut unique = ids.clone();
        unique.sort_by(|x, y| x.as_bytes().cmp(y.as_bytes()));
        unique.dedup();
        assert_eq!(unique.len(), 6, "{ids:?}");
        assert!(ids.iter().all(acceptable_request_id), "{ids:?}");
    }

    #[test]
    fn only_short_printable_ids_are_adopted() {
        for good in ["abc", "5f0c8f1e-2f2a-4a8e-9a36-3e1b0b7c9d10", "Root=1-67891233-abcdef012345678912345678"] {
            assert!(acceptable_request_id(&HeaderValue::from_static(good)), "{good}");
        }
        let long = "a".repeat(129);
        for bad in ["", "has space", "new\tline", "quote\"", long.as_str()] {
            let value = HeaderValue::from_str(bad).expect("header value");
            assert!(!acceptable_request_id(&value), "{bad:?}");
        }
    }
}
