//! RFC 8414 authorization server metadata.

use crate::helpers::{Backend, spawn_app};
use crate::on_every_backend;
use serde_json::{Value, json};

async fn metadata_names_every_endpoint_and_capability(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app.device.get(app.url("/.well-known/oauth-authorization-server")).send().await.expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let metadata: Value = response.json().await.expect("json");
    // §3.3: the issuer is exactly the URL the metadata was fetched under.
    assert_eq!(metadata["issuer"], app.address);
    assert_eq!(metadata["device_authorization_endpoint"], app.url("/v1/oauth/device/code"));
    assert_eq!(metadata["token_endpoint"], app.url("/v1/oauth/device/token"));
    assert_eq!(metadata["revocation_endpoint"], app.url("/v1/oauth/revoke"));
    assert_eq!(metadata["introspection_endpoint"], app.url("/v1/oauth/introspect"));
    assert_eq!(
        metadata["grant_types_supported"],
        json!(["urn:ietf:params:oauth:grant-type:device_code", "refresh_token", "client_credentials"])
    );
    assert_eq!(
        metadata["token_endpoint_auth_methods_supported"],
        json!(["none", "client_secret_basic", "client_secret_post"])
    );
    assert_eq!(metadata["scopes_supported"], json!(["full", "apps:run", "apps:read:permitted-external", "admin"]));
}

on_every_backend!(metadata_names_every_endpoint_and_capability);
