//! Rejects cross-site state-changing requests (SPEC §7). Browsers say where a
//! request comes from in `Sec-Fetch-Site` and `Origin`; a form or fetch from
//! another site is refused before any handler runs. It guards the browser
//! routes only: machine routes carry no cookies, so there is nothing to forge.

use super::super::responses::json_error;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use std::sync::Arc;

/// The origin pages are served from, e.g. `https://auth.example.com`.
#[derive(Debug, Clone)]
pub struct PublicOrigin(pub String);

/// Whether a request with these headers comes from another site.
///
/// `Sec-Fetch-Site` is set by the browser and cannot be forged by a page, so
/// when present it decides alone. (`Origin` cannot: under
/// `Referrer-Policy: no-referrer` Chromium sends `Origin: null` even for a
/// same-origin form post.) Browsers too old to send it are judged by `Origin`;
/// requests with neither header do not come from a browser page.
pub fn is_cross_site(
    sec_fetch_site: Option<&str>,
    origin: Option<&str>,
    host: Option<&str>,
    public_origin: &str,
) -> bool {
    if let Some(site) = sec_fetch_site {
        return !matches!(site, "same-origin" | "none");
    }
    match origin {
        None => false,
        Some(origin) => {
            let matches_host = host.is_some_and(|host| {
                origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")) == Some(host)
            });
            origin != public_origin && !matches_host
        }
    }
}

/// The middleware.
pub async fn layer(State(public): State<Arc<PublicOrigin>>, request: Request, next: Next) -> Response {
    let safe = matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if safe {
        return next.run(request).await;
    }
    let headers = request.headers();
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    if is_cross_site(
        text(header::HeaderName::from_static("sec-fetch-site")),
        text(header::ORIGIN),
        text(header::HOST),
        &public.0,
    ) {
        tracing::warn!(path = request.uri().path(), "refused a cross-site state-changing request");
        return json_error(StatusCode::FORBIDDEN, "cross_site_request", "cross-site requests may not change state");
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    const PUBLIC: &str = "https://auth.example.com";

    #[test]
    fn same_origin_and_non_browser_requests_pass() {
        assert!(!is_cross_site(Some("same-origin"), Some(PUBLIC), Some("auth.example.com"), PUBLIC));
        assert!(!is_cross_site(None, None, None, PUBLIC));
        assert!(!is_cross_site(None, Some("http://127.0.0.1:3000"), Some("127.0.0.1:3000"), PUBLIC));
        // A same-origin form post with no-referrer: Chromium says `Origin: null`.
        assert!(!is_cross_site(Some("same-origin"), Some("null"), Some("auth.example.com"), PUBLIC));
    }

    #[test]
    fn cross_site_requests_are_refused() {
        assert!(is_cross_site(Some("cross-site"), None, None, PUBLIC));
        assert!(is_cross_site(Some("same-site"), None, None, PUBLIC));
        assert!(is_cross_site(Some("cross-site"), Some(PUBLIC), Some("auth.example.com"), PUBLIC));
        assert!(is_cross_site(None, Some("https://evil.example"), Some("auth.example.com"), PUBLIC));
        assert!(is_cross_site(None, Some("null"), Some("auth.example.com"), PUBLIC));
    }
}
