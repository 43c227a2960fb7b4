//! The one route table: machine routes (the REST API: JSON, no session,
//! no cross-site check, since devices and resource servers send no
//! cookies) and browser routes (pages, server functions, the SSO redirects
//! and the 404 page: a session and the `Origin`/`Sec-Fetch-Site` check),
//! each with its own layers, then the layers every request passes through.
//! The machine paths are named once in [`paths`], which discovery and
//! `gatehouse login` use too; the pages' paths are `gatehouse_app::navigation`'s.

use super::middleware::client_ip::TrustedProxies;
use super::middleware::origin_check::{self, PublicOrigin};
use super::middleware::security_headers;
use super::middleware::{access_log, client_ip};
use super::responses::json_error;
use super::{AppState, EdgeConfig};
use super::{admin_api, bearer, device_flow, discovery, health, token_management};
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use gatehouse_app::{App, AppContext, shell};
use gatehouse_core::services::Services;
use gatehouse_store::SqlSessionStore;
use leptos::config::LeptosOptions;
use leptos::prelude::provide_context;
use leptos_axum::{LeptosRoutes, generate_route_list};
use std::net::SocketAddr;
use std::sync::Arc;
use tower::ServiceBuilder;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

/// The machine paths (SPEC §3).
pub mod paths {
    pub const METADATA: &str = "/.well-known/oauth-authorization-server";
    pub const DEVICE_AUTHORIZATION: &str = "/v1/oauth/device/code";
    pub const TOKEN: &str = "/v1/oauth/device/token";
    pub const LOOKUP: &str = "/v1/oauth/device/lookup";
    pub const REVOKE: &str = "/v1/oauth/revoke";
    pub const INTROSPECT: &str = "/v1/oauth/introspect";
    pub const ME: &str = "/v1/me";
    pub const AUTHORIZATIONS: &str = "/v1/oauth/authorizations";
    pub const AUTHORIZATIONS_SELF: &str = "/v1/oauth/authorizations/self";
    pub const HEALTHZ: &str = "/healthz";
    pub const READYZ: &str = "/readyz";
    /// Where every path that answers JSON starts (an unknown one is a JSON 404).
    pub const API_PREFIXES: [&str; 3] = ["/v1/", "/console/api/", "/.well-known/"];
}

/// Largest request body any route accepts.
const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// The machine routes (SPEC §3): JSON, called by devices, CLIs and resource
/// servers without cookies, so no session and no cross-site check.
pub fn machine_routes() -> Router<AppState> {
    Router::new()
        .route(paths::METADATA, get(discovery::metadata))
        .route(paths::DEVICE_AUTHORIZATION, post(device_flow::device_authorization))
        .route(paths::TOKEN, post(device_flow::token))
        .route(paths::LOOKUP, get(device_flow::lookup))
        .route(paths::REVOKE, post(token_management::revoke))
        .route(paths::INTROSPECT, post(token_management::introspect))
        .route(paths::ME, get(bearer::me))
        .route(paths::AUTHORIZATIONS, get(bearer::list_authorizations))
        .route(paths::AUTHORIZATIONS_SELF, axum::routing::delete(bearer::revoke_self))
        .route(paths::HEALTHZ, get(health::live))
        .route(paths::READYZ, get(health::ready))
        .merge(admin_api::routes())
}

fn is_api_path(path: &str) -> bool {
    paths::API_PREFIXES.iter().any(|prefix| path.starts_with(prefix))
}

/// The whole application: both route groups with their layers.
/// The site's files come from `site_root` when given, else the binary.
pub fn router(
    site_root: Option<&std::path::Path>,
    trusted_proxies: &TrustedProxies,
    services: &Services,
    sessions: SqlSessionStore,
    public_url: &str,
    bound: SocketAddr,
) -> Router {
    // The embedded site unless GATEHOUSE_SITE_ROOT names a folder; the
    // folder also serves a binary built without the site.
    let embedded = site_root.is_none() && super::site::is_embedded();
    let site_root = site_root.unwrap_or(std::path::Path::new("target/site")).display().to_string();
    let leptos_options = LeptosOptions::builder()
        .output_name("gatehouse")
        .site_root(site_root)
        .site_pkg_dir("pkg")
        .site_addr(bound)
        .env(leptos::config::Env::PROD)
        .build();
    let services = Arc::new(services.clone());
    let state = AppState {
        services: services.clone(),
        leptos_options: Arc::new(leptos_options.clone()),
        edge: Arc::new(EdgeConfig { public_url: public_url.to_owned() }),
    };
    let https = public_url.starts_with("https://");
    let context = AppContext { services, secure_cookies: https };
    let provide = move || provide_context(context.clone());
    let render_shell = move |options: LeptosOptions| shell(options);
    let files = leptos_axum::file_and_error_handler_with_context::<AppState, _>(provide.clone(), render_shell);
    // Unknown API paths answer JSON; everything else is a static file or the 404 page.
    let fallback = move |uri: Uri, state: State<AppState>, request: Request<Body>| {
        let files = files.clone();
        async move {
            if is_api_path(uri.path()) {
                json_error(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
            } else {
                let is_asset = uri.path().starts_with("/pkg/");
                let embedded_file = if embedded { super::site::file(uri.path()) } else { None };
                let mut response = match embedded_file {
                    Some(response) => response,
                    None => files(uri, state, request).await,
                };
                if is_asset && response.status().is_success() {
                    response.headers_mut().insert(header::CACHE_CONTROL, security_headers::ASSET_CACHE_CONTROL);
                }
                response
            }
        }
    };

    let public_origin = Arc::new(PublicOrigin(origin_of(public_url)));
    let sessions = SessionManagerLayer::new(sessions)
        .with_name(gatehouse_app::cookies::session_cookie_name(https))
        .with_secure(https)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(time::Duration::hours(gatehouse_app::cookies::SESSION_IDLE_HOURS)));
    // Two groups, each with its own policy. Browser routes (pages, server
    // functions, the 404 page) have a session and refuse cross-site
    // state-changing requests. Machine routes (the REST API, which devices
    // and resource servers call without cookies) pay for neither.
    let routes = generate_route_list(App);
    let browser = Router::new()
        // The SSO redirects are browser navigations: the callback issues a
        // new session id.
        .route(super::sso::INITIATE_PATH, axum::routing::get(super::sso::initiate))
        .route(super::sso::CALLBACK_PATH, axum::routing::get(super::sso::complete))
        .route(super::sso::CONSOLE_INITIATE_PATH, axum::routing::get(super::sso::initiate_console))
        .leptos_routes_with_context(&state, routes, provide, {
            let options = leptos_options.clone();
            move || shell(options.clone())
        })
        .fallback(fallback)
        .layer(axum::middleware::from_fn_with_state(public_origin, origin_check::layer))
        .layer(axum::middleware::from_fn(super::middleware::document_csp::layer))
        .layer(sessions);
    let app = machine_routes()
        .merge(browser)
        .method_not_allowed_fallback(|| async {
            json_error(StatusCode::METHOD_NOT_ALLOWED, "invalid_request", "method not allowed")
        })
        .with_state(state);

    let trusted = Arc::new(trusted_proxies.clone());

    // Router::layer keeps each layer's body types inside the router; the
    // last added is the outermost.
    // Timed inside the routes, where the matched route template is known.
    let app = app.layer(axum::middleware::from_fn(access_log::record));
    let request_id = axum::http::HeaderName::from_static(access_log::REQUEST_ID);
    app.layer(tower_http::limit::RequestBodyLimitLayer::new(MAX_REQUEST_BYTES)).layer(
        ServiceBuilder::new()
            .layer(axum::middleware::from_fn_with_state(trusted, client_ip::layer))
            .layer(SetRequestIdLayer::new(request_id.clone(), access_log::RequestIds::new()))
            .layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(access_log::request_span))
            .layer(PropagateRequestIdLayer::new(request_id))
            .layer(security_headers::layers(https))
            .layer(axum::middleware::map_response(json_payload_too_large))
            .layer(axum::middleware::from_fn(super::middleware::header_limit::layer)),
    )
}

/// tower-http answers oversized bodies in plain text; Gatehouse answers JSON.
async fn json_payload_too_large(response: Response) -> Response {
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE && !is_json {
        return json_error(StatusCode::PAYLOAD_TOO_LARGE, "invalid_request", "request body too large").into_response();
    }
    response
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> String {
    url::Url::parse(url).map(|u| u.origin().ascii_serialization()).unwrap_or_else(|_| url.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The page routes `shell.rs` spells out are the paths `navigation`
    /// names, no more and no fewer: renaming a page in one place only fails here.
    #[tokio::test]
    async fn the_page_routes_are_the_paths_navigation_names() {
        let mut routed: Vec<String> = generate_route_list(App).iter().map(|route| route.path().to_owned()).collect();
        routed.sort_unstable();
        routed.dedup();
        let mut named: Vec<String> = gatehouse_app::navigation::PAGE_PATHS.iter().map(|&p| p.to_owned()).collect();
        named.sort_unstable();
        assert_eq!(routed, named);
    }

    #[test]
    fn unknown_paths_answer_json_under_the_api_prefixes_only() {
        assert!(is_api_path(paths::TOKEN) && is_api_path("/console/api/signin") && is_api_path(paths::METADATA));
        assert!(
            !gatehouse_app::navigation::PAGE_PATHS
                .iter()
                .any(|page| is_api_path(page) && !page.starts_with("/v1/oauth/device/"))
        );
    }
}
