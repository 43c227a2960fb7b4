//! The built site (CSS, JS, wasm and the public files) embedded in the
//! binary, so `gatehouse serve` needs nothing beside it and works from any
//! directory. `cargo leptos build --release --precompress` builds the site
//! first and the server after it (without `--precompress` cargo-leptos
//! builds them side by side), so the server embeds the finished
//! `target/site`; `GATEHOUSE_SITE_ROOT` serves a folder instead.
//! Debug builds read the same folder from disk at run time.

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use rust_embed::RustEmbed;
use std::borrow::Cow;

#[derive(RustEmbed)]
#[folder = "$CARGO_MANIFEST_DIR/target/site"]
#[allow_missing = true]
// cargo-leptos's precompressed copies: the binary carries each file once.
#[exclude = "*.gz"]
#[exclude = "*.br"]
struct EmbeddedSite;

/// Whether this binary carries a site (one built without cargo-leptos
/// does not, and then serves `target/site` from disk).
pub fn is_embedded() -> bool {
    EmbeddedSite::iter().next().is_some()
}

/// The embedded file at this URL path, if there is one.
pub fn file(path: &str) -> Option<Response> {
    let file = EmbeddedSite::get(path.trim_start_matches('/'))?;
    let content_type = HeaderValue::from_str(file.metadata.mimetype()).ok()?;
    let body = match file.data {
        Cow::Borrowed(bytes) => Bytes::from_static(bytes),
        Cow::Owned(bytes) => Bytes::from(bytes),
    };
    let mut response = Response::new(Body::from(body));
    response.headers_mut().insert(header::CONTENT_TYPE, content_type);
    Some(response)
}
