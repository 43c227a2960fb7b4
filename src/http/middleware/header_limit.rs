//! Requests whose header section passes 16 KiB are answered 431 (RFC 6585
//! §5) before anything reads them: no real browser or client sends that
//! much, and every later layer (sessions, logging, the client address) would
//! otherwise spend work on it. hyper's own limit is far higher (about
//! 400 KiB), so it is set here.

use crate::http::responses::json_error;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;

/// Largest header section accepted: names, values and their separators.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// The size of the header section as sent: `name: value\r\n` per field.
fn header_bytes(request: &Request) -> usize {
    request.headers().iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum()
}

pub async fn layer(request: Request, next: Next) -> Response {
    if header_bytes(&request) > MAX_HEADER_BYTES {
        return json_error(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "invalid_request",
            "the request's headers are larger than 16 KiB",
        );
    }
    next.run(request).await
}
